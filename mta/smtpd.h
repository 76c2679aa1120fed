/*
 * smtpd.h - sealpost's SMTP server side: the listener for internal hosts
 * and applications (roles relay, submission, smtps; docs/smtpd.md).
 *
 * Two layers, so that the protocol can be tested without sockets and
 * reused by "sendmail -bs" on stdin/stdout:
 *
 *   smtpd_proto   a pure, incremental SMTP server state machine.  Bytes
 *                 go in (smtpd_proto_feed), replies come out
 *                 (smtpd_proto_output), and whatever needs the outside
 *                 world comes back from smtpd_proto_run() as an event:
 *                 a finished message to make durable, STARTTLS to
 *                 perform, an AUTH step for SASL, or "close".  It never
 *                 does I/O, never blocks and owns no timers.
 *   smtpd_server  libuv listeners and sessions (smtpd_server.c,
 *                 smtpd_session.c): accept, connection limits, timers,
 *                 TLS (tls_server_*), SASL (smtpd_sasl.c), the queue
 *                 commit and qmgr_submit.  They only move bytes and
 *                 answer events.
 *
 * Files: smtpd_proto.c (commands, states, replies), smtpd_data.c (the
 * DATA byte machine: dot-unstuffing, CRLF, bare CR/LF, line and size
 * limits, header scan), smtpd_msg.c (Received, Date, Message-ID, the
 * queue_msg), smtpd_param.c (paths, ESMTP parameters, xtext),
 * smtpd_policy.c (the relay decision), smtpd_sasl.c, smtpd_server.c,
 * smtpd_session.c.
 */
#ifndef SEALPOST_SMTPD_H
#define SEALPOST_SMTPD_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "queue/queue.h"
#include "util.h"

/* ---- limits (RFC 5321 section 4.5.3.1 unless said otherwise) ---------- */

/* 4.5.3.1.4: a command line is at most 512 octets including CRLF. */
#define SMTPD_CMD_LINE_MAX	512
/*
 * 4.5.3.1.4 lets each service extension raise that for MAIL and RCPT:
 * RFC 3461 section 5 adds room for ORCPT (up to 500 octets of xtext) and
 * ENVID (100 characters, 300 as xtext), RFC 1870 for SIZE, RFC 4954
 * section 5 for AUTH= (500).  2048 covers them all with margin.
 */
#define SMTPD_MAILRCPT_LINE_MAX	2048
/* RFC 4954 section 4: AUTH lines (and SASL responses) up to 12288. */
#define SMTPD_AUTH_LINE_MAX	12288
/* 4.5.3.1.6: a text line is at most 1000 octets including CRLF. */
#define SMTPD_TEXT_LINE_MAX	1000
/* 4.5.3.1.3: a path is at most 256 octets including the angle brackets. */
#define SMTPD_PATH_MAX		256
/* 4.5.3.1.1/2: local part 64, domain 255 octets. */
#define SMTPD_LOCAL_MAX		64
#define SMTPD_DOMAIN_MAX	255
/* RFC 3461 4.4: ENVID at most 100 characters (decoded). */
#define SMTPD_ENVID_MAX		100
/* RFC 3461 4.2: ORCPT at most 500 characters. */
#define SMTPD_ORCPT_MAX		500
/* Bytes of unprocessed input held (pipelined commands while we wait for
 * the queue); the session stops reading while the engine waits. */
#define SMTPD_INPUT_MAX		(64u * 1024)
/* Reply bytes held between two smtpd_proto_output() calls. */
#define SMTPD_OUTPUT_MAX	(64u * 1024)
/* SASL mechanism list we advertise. */
#define SMTPD_MECHS_MAX		256
/* Received header's TLS comment. */
#define SMTPD_TLS_TEXT_MAX	200

/* ---- the protocol engine (smtpd_proto.c) -------------------------------- */

typedef struct smtpd_proto smtpd_proto;

/* Everything the engine needs to know about its listener and client. */
struct smtpd_params {
	const char *myhostname;		/* greeting, Received, Message-ID */
	/* where "RCPT TO:<postmaster>" goes (RFC 5321 4.5.1: must be
	 * accepted); user@domain, or NULL to refuse domainless recipients */
	const char *postmaster;
	enum cfg_smtpd_role role;
	const char *client_addr;	/* "192.0.2.1", "::1"; "" for stdin */
	int    client_trusted;		/* in mynetworks (may relay) */
	int    tls_offer;		/* a certificate is configured */
	int    tls_active;		/* already inside TLS (smtps) */
	int    sasl_enable;
	const char *sasl_mechs;		/* "PLAIN LOGIN ..." from libsasl2 */
	uint64_t message_size_limit;	/* bytes; SIZE announced */
	unsigned recipient_limit;
	uint64_t header_size_limit;
	unsigned error_limit;
	int    bare_lf;			/* enum cfg_bare_lf */
	const char *tls_text;		/* with tls_active: Received comment */
	/*
	 * "sendmail -bs" (mta/sendmail_bs.c): the owner, not the engine,
	 * picks the queue ID (sealpost-postdrop assigns it), so after
	 * SMTPD_EV_MESSAGE the message is taken with
	 * smtpd_proto_take_msg_as(); Received names the local user
	 * (local_uid) instead of a client address; a failed hand-over is
	 * answered 451 4.3.0 (the maildrop said no) instead of 452 4.3.1.
	 */
	int    local_submit;
	long   local_uid;
};

enum smtpd_ev {
	SMTPD_EV_NONE = 0,	/* nothing to do: send output, feed more */
	SMTPD_EV_MESSAGE,	/* a message is ready: smtpd_proto_take_msg,
				 * make it durable, then smtpd_proto_queued */
	SMTPD_EV_STARTTLS,	/* 220 is in the output: send it, then start
				 * the TLS handshake, then
				 * smtpd_proto_tls_started */
	SMTPD_EV_AUTH,		/* AUTH step: smtpd_proto_auth_mech /
				 * _auth_data, answer smtpd_proto_auth_reply */
	SMTPD_EV_AUTH_ABORT,	/* the client cancelled AUTH ("*") or the
				 * engine gave up: drop the SASL state */
	SMTPD_EV_FLUSH,		/* output is filling up: send it, then call
				 * smtpd_proto_run again */
	SMTPD_EV_CLOSE		/* send the output, then close */
};

/*
 * A new engine for one connection; pr (and the strings it points to)
 * must outlive it.  Nothing is sent until smtpd_proto_greet().  Free
 * with smtpd_proto_free (NULL ok).
 */
smtpd_proto *smtpd_proto_new(const struct smtpd_params *pr);
void smtpd_proto_free(smtpd_proto *p);
/* Queue the 220 greeting. */
void smtpd_proto_greet(smtpd_proto *p);
/*
 * Append received plaintext.  0, or -1 when more than SMTPD_INPUT_MAX
 * bytes would be waiting (the caller should have stopped reading);
 * then a 421 is queued and the next run returns SMTPD_EV_CLOSE.
 */
int smtpd_proto_feed(smtpd_proto *p, const void *buf, size_t len);
/*
 * Process what was fed, as far as possible.  Returns an event, or NONE
 * when everything fed is consumed or the engine waits for an answer to
 * an earlier event (smtpd_proto_waiting).
 */
enum smtpd_ev smtpd_proto_run(smtpd_proto *p);
/* 1 while an event is unanswered (do not read from the peer). */
int smtpd_proto_waiting(const smtpd_proto *p);
/* Replies queued so far (not NUL terminated), and forgetting them. */
const char *smtpd_proto_output(const smtpd_proto *p, size_t *len);
void smtpd_proto_output_done(smtpd_proto *p);
/* The peer went quiet: queue 421 4.4.2; the caller then closes. */
void smtpd_proto_timeout(smtpd_proto *p);
/* Shutting down or refusing service: queue 421 4.3.2 with why. */
void smtpd_proto_shutdown(smtpd_proto *p);
/* 1 between 354 and the end of the message (the DATA timeout applies). */
int smtpd_proto_in_data(const smtpd_proto *p);
/* Commands completed so far (the session restarts its timer on change). */
uint64_t smtpd_proto_commands(const smtpd_proto *p);

/* SMTPD_EV_MESSAGE: take the message (caller owns it; body included,
 * queue ID set).  The engine waits until smtpd_proto_queued(). */
struct queue_msg *smtpd_proto_take_msg(smtpd_proto *p);
/*
 * SMTPD_EV_MESSAGE with local_submit: compose the message under the
 * queue ID qid (QUEUE_ID_LEN characters, chosen by the owner) and take
 * it (caller owns it).  NULL when the composed message would be too
 * large: then 552 is queued, the transaction is over and the engine
 * reads commands again (do not call smtpd_proto_queued).
 */
struct queue_msg *smtpd_proto_take_msg_as(smtpd_proto *p, const char *qid);
/* Durable (rc 0: "250 2.0.0 Ok: queued as QID") or not (452 4.3.1;
 * with local_submit 451 4.3.0). */
void smtpd_proto_queued(smtpd_proto *p, int rc, const char *qid);

/*
 * SMTPD_EV_STARTTLS answered: ok 1 after a complete handshake with the
 * TLS comment for Received (e.g. "using TLSv1.3 with cipher X (256
 * bits)"); the engine forgets HELO/EHLO and any transaction (RFC 3207
 * section 4.2).  ok 0: handshake failed; the caller closes.
 */
void smtpd_proto_tls_started(smtpd_proto *p, int ok, const char *tls_text);

/* SMTPD_EV_AUTH: the mechanism (upper case) and the client's base64
 * text; data is NULL when the AUTH command carried no initial response
 * and "" for "=" (empty response). */
const char *smtpd_proto_auth_mech(const smtpd_proto *p);
const char *smtpd_proto_auth_data(const smtpd_proto *p);
/* 0 for the AUTH command itself (start a SASL exchange), then 1, 2, ...
 * for each client response (step). */
unsigned smtpd_proto_auth_step(const smtpd_proto *p);
enum smtpd_auth_rc {
	SMTPD_AUTH_CONTINUE,	/* text: base64 challenge, "334 text" */
	SMTPD_AUTH_OK,		/* text: the authenticated user, 235 */
	SMTPD_AUTH_FAIL,	/* 535 5.7.8 */
	SMTPD_AUTH_BADMSG,	/* 501 5.5.2: undecodable response */
	SMTPD_AUTH_TEMPFAIL	/* 454 4.7.0 */
};
void smtpd_proto_auth_reply(smtpd_proto *p, enum smtpd_auth_rc rc,
    const char *text);
/* The authenticated user, or NULL. */
const char *smtpd_proto_auth_user(const smtpd_proto *p);

/* ---- pieces exported for the unit tests ------------------------------- */

/* The relay decision (smtpd_policy.c), RFC 5321 + docs/smtpd-contract.md. */
enum smtpd_policy_rc {
	SMTPD_POLICY_OK,
	SMTPD_POLICY_AUTH_REQUIRED,	/* 530 5.7.0 */
	SMTPD_POLICY_RELAY_DENIED	/* 554 5.7.1 */
};
enum smtpd_policy_rc smtpd_policy_mail(enum cfg_smtpd_role role,
    int authenticated);
enum smtpd_policy_rc smtpd_policy_rcpt(enum cfg_smtpd_role role,
    int client_trusted, int authenticated);
/* 1 if mechanism mech may be used now: PLAIN and LOGIN only inside TLS. */
int smtpd_policy_mech_ok(const char *mech, int tls_active);

/*
 * Parse a reverse-path or forward-path starting at s (after "FROM:" or
 * "TO:", leading spaces allowed): "<>", "<a@b>", "<@r1,@r2:a@b>" (the
 * route is dropped) or, leniently, a bare "a@b".  The address (no
 * brackets) goes to out (>= SMTPD_PATH_MAX + 1); *end points after the
 * path; *utf8 is set for non-ASCII bytes.  0, or an SMTP reply line
 * ("501 5.1.7 ..." style, static) describing the error.
 */
const char *smtpd_path_parse(const char *s, size_t len, char *out,
    size_t outlen, size_t *end, int *utf8);
/* Decode RFC 3461 xtext s[0..n) into out (outlen incl. NUL); bytes
 * below 0x20 and 0x7f are refused.  0 or -1. */
int smtpd_xtext_decode(const char *s, size_t n, char *out, size_t outlen);
/* 1 if s[0..n) is well-formed UTF-8 (no overlongs, no surrogates). */
int smtpd_utf8_valid(const char *s, size_t n);

/* Bytes of a TLS-Required value we look at ("No" plus spaces). */
#define SMTPD_TLSREQ_MAX	16

/*
 * The DATA byte machine (smtpd_data.c).  It turns the wire form into
 * the stored form: CRLF lines, dot-unstuffed, up to the terminating
 * CRLF "." CRLF - and nothing else ends it (RFC 5321 4.1.1.4; SMTP
 * smuggling: "\n.\n", "\n.\r\n" and "\r\n.\n" are data).
 */
enum smtpd_data_rc {
	SMTPD_DATA_MORE,	/* all input consumed */
	SMTPD_DATA_END		/* *used bytes consumed, message complete */
};
struct smtpd_data {
	struct dynbuf body;	/* stored form; max = the size limit */
	char   line[SMTPD_TEXT_LINE_MAX + 1];	/* current line's head */
	size_t linelen;		/* bytes of the current line (may exceed) */
	int    after_crlf;	/* current line began after a real CRLF */
	int    pending_cr;	/* last byte was a CR */
	int    bare_lf;		/* enum cfg_bare_lf */
	uint64_t header_max;
	/* results */
	int    in_header;	/* still inside the header section */
	size_t header_bytes;
	size_t header_end;	/* offset in body where the header ends */
	int    header_sep;	/* an empty line ended the header */
	int    has_date, has_msgid;
	/* RFC 8689 "TLS-Required: No" (the first such field, unfolded) */
	int    tls_required_no;
	int    tlsreq_state;	/* 0 none yet, 1 in the field, 2 done */
	char   tlsreq_val[SMTPD_TLSREQ_MAX + 1];
	size_t tlsreq_len;	/* > SMTPD_TLSREQ_MAX: not "No" */
	int    eightbit;	/* saw a byte >= 0x80 */
	int    bad_bare;	/* bare CR or LF seen (reject mode) */
	int    too_long_line;
	int    too_big;
	int    header_too_big;
};
void smtpd_data_init(struct smtpd_data *d, uint64_t size_max,
    uint64_t header_max, int bare_lf);
enum smtpd_data_rc smtpd_data_feed(struct smtpd_data *d, const char *buf,
    size_t len, size_t *used);
void smtpd_data_free(struct smtpd_data *d);

/*
 * The trace and the missing fields (smtpd_msg.c).  The stored message is
 * "Received: ..." + header section + Date/Message-ID when missing +
 * (empty line) + body.
 */
struct smtpd_trace {
	const char *helo;		/* HELO/EHLO argument as checked */
	const char *client_addr;	/* "" for a local (-bs) client */
	const char *myhostname;
	const char *protocol;		/* RFC 3848 name, smtpd_protocol_name */
	const char *tls_text;		/* NULL or "using TLSv1.3 with ..." */
	const char *qid;
	const char *for_rcpt;		/* the only recipient, or NULL */
	int64_t     now;
	int         local_submit;	/* sendmail -bs: name the user */
	long        local_uid;		/* with local_submit */
};
/* "SMTP", "ESMTP", "ESMTPSA", "UTF8SMTPS", ... (RFC 3848, RFC 6531 3.7.4). */
const char *smtpd_protocol_name(int esmtp, int utf8, int tls, int auth);
/* Compose the stored message from d's body; caller frees *out.  0, or
 * -1 when the result would exceed max. */
int smtpd_msg_compose(const struct smtpd_trace *t, const struct smtpd_data *d,
    size_t max, char **out, size_t *outlen);

/*
 * SASL through libsasl2 (smtpd_sasl.c).  smtpd_sasl_init once, before
 * privileges are dropped; path NULL means libsasl2's default search.
 * mechs receives the space-separated mechanism list.  Each session makes
 * one smtpd_sasl with smtpd_sasl_new (local/remote "ip;port"), and runs
 * smtpd_sasl_step (may block: thread pool) for each AUTH event.
 */
#define SMTPD_SASL_TEXT_MAX	(SMTPD_AUTH_LINE_MAX)
struct smtpd_sasl;
struct smtpd_sasl_io {
	const char *mech;	/* in: from smtpd_proto_auth_mech */
	const char *data;	/* in: base64 or NULL (copied by the caller) */
	unsigned    step;	/* in: smtpd_proto_auth_step */
	enum smtpd_auth_rc rc;	/* out */
	char        text[SMTPD_SASL_TEXT_MAX];	/* out: challenge or user */
};
int smtpd_sasl_init(const char *path, const char *myhostname, char *mechs,
    size_t mechslen, char *err, size_t errlen);
void smtpd_sasl_done(void);
struct smtpd_sasl *smtpd_sasl_new(const char *myhostname, const char *local,
    const char *remote);
void smtpd_sasl_free(struct smtpd_sasl *a);	/* NULL ok */
void smtpd_sasl_step(struct smtpd_sasl *a, struct smtpd_sasl_io *io);

/* ---- the listener (smtpd_server.c, smtpd_session.c) ------------------- */

typedef struct smtpd_server smtpd_server;
struct qmgr;
struct smtpd_session;

/* What sessions share; owned by the server, used on its loop only. */
struct smtpd_env {
	uv_loop_t   *loop;
	const struct sealpost_config *cfg;
	void        *tls_ctx;		/* SSL_CTX *, NULL: no TLS */
	char         mechs[SMTPD_MECHS_MAX];	/* "" if SASL is off */
	char         postmaster[QUEUE_ADDR_MAX + 1];	/* qualified */
	queue_store *store;
	util_chan   *chan;
	struct qmgr *q;
	int          stopping;
	struct smtpd_session *sessions;	/* all live sessions */
	size_t       nsessions;
	util_htable *per_ip;		/* ip text -> (uintptr_t) count */
};

/* A new connection on listener l (server is the listening stream). */
void smtpd_session_accept(struct smtpd_env *env, const struct cfg_listen *l,
    uv_stream_t *server);
/* Say 421 to every session and close them (server shutdown). */
void smtpd_session_stop_all(struct smtpd_env *env);

/*
 * Bind every listen section of cfg on loop (before privileges are
 * dropped); set up TLS and SASL.  No connection is accepted yet.  NULL
 * with err when a listener cannot be bound or TLS/SASL cannot be set
 * up.  With no listen section returns NULL and err "".
 */
smtpd_server *smtpd_server_bind(uv_loop_t *loop,
    const struct sealpost_config *cfg, char *err, size_t errlen);
/* Start accepting; messages go to store, then to q. */
int smtpd_server_start(smtpd_server *s, queue_store *store,
    util_chan *chan, struct qmgr *q, char *err, size_t errlen);
/* Close listeners and sessions (421 to each); they finish in close
 * callbacks once the loop runs again.  NULL ok. */
void smtpd_server_stop(smtpd_server *s);
/* After stop and a loop run that closed everything.  NULL ok. */
void smtpd_server_free(smtpd_server *s);

#endif
