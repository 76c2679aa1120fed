/*
 * mta_int.h - shared inside the delivery agent (mta_*.c) only.
 *
 * Layout of the module, in the order a message meets it:
 *   mta_pool.c     threads, per-destination job queues and concurrency
 *   mta_route.c    MX/address walk order and the TLS policy per host
 *   mta_dane.c     DANE (RFC 7672): TLSA lookups and the policy per host
 *   mta_sts.c      MTA-STS (RFC 8461): the policy per domain, applied per
 *                  host where DANE does not decide
 *   mta_sts_refresh.c  MTA-STS policies of mailed domains refreshed before
 *                  they expire, off the delivery path (thread 0)
 *   mta_session.c  the SMTP client state machine (one enum, one setter)
 *   mta_conn.c     TCP + TLS byte moving on libuv, timers
 *   mta_chat.c     bounded, incremental SMTP reply parser
 *   mta_ehlo.c     EHLO keywords; MAIL/RCPT command building
 *   mta_body.c     dot-stuffing and long-line folding of the body
 *   mta_sasl.c     AUTH through libsasl2
 *   mta_result.c   per-recipient outcomes and the one log line each
 *
 * The pure parts (chat, ehlo, body, route) take no loop, no socket and
 * no clock, so the unit tests drive them with tables.
 */
#ifndef SEALPOST_MTA_INT_H
#define SEALPOST_MTA_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "mta.h"
#include "resolver/resolver.h"
#include "tls/tls.h"
#include "tls/tls_report.h"
#include "tls/sts.h"
#include "util.h"

/* ---- limits --------------------------------------------------------- */

/* RFC 5321 4.5.3.1.5 allows 512 octets per reply line; real servers send
 * longer EHLO lines, so we accept up to 2048 and refuse beyond. */
#define MTA_REPLY_LINE_MAX	2048
/* Lines per reply; EHLO replies are the longest legitimate ones. */
#define MTA_REPLY_LINES_MAX	100
/* Bytes of reply text kept (all lines). */
#define MTA_REPLY_TEXT_MAX	(MTA_REPLY_LINES_MAX * 128)
/* Addresses tried per delivery attempt (Postfix smtp_mx_address_limit). */
#define MTA_ADDRESS_LIMIT	5
/* Addresses a route keeps in walk order: the MTA_ADDRESS_LIMIT walked,
 * and behind them the ones that move up when MTA-STS (enforce) drops a
 * host outside the policy's mx patterns, which must not take a place. */
#define MTA_ROUTE_MAX		32
/* RFC 5321 4.5.3.1.6: 1000 octets per text line including CRLF. */
#define MTA_LINE_LIMIT		998
/* Body bytes encoded per write, and the write queue high-water mark. */
#define MTA_BODY_CHUNK		(64u * 1024)
#define MTA_WRITE_HIGH		(256u * 1024)
/* AUTH mechanism list kept from EHLO. */
#define MTA_AUTH_MECHS_MAX	256
/* How long running sessions get to finish at shutdown. */
#define MTA_SHUTDOWN_GRACE_MS	20000
/* Longest command line we build (RFC 5321 4.5.3.1.4 is 512; MAIL with
 * every RFC 3461/6531 parameter and a long ENVID needs more). */
#define MTA_CMD_MAX		2048

/* ---- replies (mta_chat.c) ------------------------------------------- */

enum mta_chat_rc {
	MTA_CHAT_NEED_MORE,	/* all input consumed, reply incomplete */
	MTA_CHAT_DONE,		/* a complete reply is in the parser */
	MTA_CHAT_INVALID	/* protocol violation; reason in ->error */
};

struct mta_reply {
	int    code;		/* 200..599 */
	size_t nlines;
	/* Text of every line after "NNN-"/"NNN ", joined with '\n'. */
	struct dynbuf text;
	char   error[96];	/* why it was invalid */
	/* parser state */
	char   line[MTA_REPLY_LINE_MAX + 1];
	size_t linelen;
	int    done;
};

void mta_reply_init(struct mta_reply *r);
/* Forget the last reply (keeps memory) to parse the next one. */
void mta_reply_reset(struct mta_reply *r);
void mta_reply_free(struct mta_reply *r);
/*
 * Consume bytes from buf until a reply is complete or the input ends;
 * *used tells how many were taken (the rest belongs to the next reply).
 * Lines end in LF; a CR right before it is dropped (bare LF is accepted,
 * as Postfix does).  Each line: three digits, 2xx..5xx, the same on every
 * line, then '-' (more follow), ' ' or end of line (last line).
 */
enum mta_chat_rc mta_reply_feed(struct mta_reply *r, const char *buf,
    size_t len, size_t *used);

/*
 * RFC 3463 enhanced status at the start of text: "c.sss.ddd" where c is
 * class (must equal the reply code's first digit), sss and ddd 1-3
 * digits, followed by a space or the end.  0 and out set, or -1.
 */
int mta_status_parse(const char *text, size_t len, int code,
    char out[16]);
/* Enhanced status of a reply, derived from the code if absent. */
void mta_reply_dsn(const struct mta_reply *r, char out[16]);
/* "550 5.1.1 text more text": one line, printable, bounded. */
void mta_reply_oneline(const struct mta_reply *r, char *out, size_t outlen);

/* ---- EHLO and commands (mta_ehlo.c) --------------------------------- */

#define MTA_EXT_PIPELINING	0x001
#define MTA_EXT_SIZE		0x002
#define MTA_EXT_8BITMIME	0x004
#define MTA_EXT_SMTPUTF8	0x008
#define MTA_EXT_STARTTLS	0x010
#define MTA_EXT_AUTH		0x020
#define MTA_EXT_DSN		0x040
#define MTA_EXT_ENHANCED	0x080

struct mta_ehlo {
	unsigned flags;			/* MTA_EXT_* */
	uint64_t size_max;		/* SIZE n; 0 = no limit given */
	char     auth[MTA_AUTH_MECHS_MAX];	/* "PLAIN LOGIN" */
};

/* Keywords of a 250 EHLO reply (first line is the greeting, skipped).
 * Unknown keywords are ignored; bad values too. */
void mta_ehlo_parse(const struct mta_reply *r, struct mta_ehlo *e);

/* 0 if addr can go inside <> on a command line (no controls, no <>,
 * no space outside quotes is not checked - the queue validated it). */
int mta_addr_ok(const char *addr);
/* RFC 3461 4 xtext encoding of s appended to b; 0 or -1 (too long). */
int mta_xtext(struct dynbuf *b, const char *s);
/*
 * Build "MAIL FROM:<sender> [SIZE=] [BODY=8BITMIME] [SMTPUTF8] [RET=]
 * [ENVID=]\r\n" for msg with what e offers.  0 or -1 (bad sender).
 */
int mta_cmd_mail(struct dynbuf *b, const struct queue_msg *msg,
    const struct mta_ehlo *e);
/* "RCPT TO:<addr> [NOTIFY=] [ORCPT=]\r\n"; 0 or -1 (bad address). */
int mta_cmd_rcpt(struct dynbuf *b, const struct queue_rcpt *r,
    const struct mta_ehlo *e);

/* ---- the body (mta_body.c) ------------------------------------------ */

/*
 * Turns the stored message (CRLF lines, not stuffed) into the DATA
 * stream: dot-stuffing (RFC 5321 4.5.2), bare CR or LF made CRLF,
 * lines over MTA_LINE_LIMIT broken with CRLF SPACE (as Postfix's
 * smtp_line_length_limit), a final CRLF if missing, then ".\r\n".
 */
struct mta_body_enc {
	const char *p;
	size_t      len, off;
	size_t      col;	/* bytes on the current output line */
	int         cr;		/* last input byte was a CR not yet written */
	int         finished;	/* terminator written */
};

void mta_body_init(struct mta_body_enc *e, const char *p, size_t len);
/* Encode into out (outlen >= 8); returns bytes written, 0 when done. */
size_t mta_body_encode(struct mta_body_enc *e, char *out, size_t outlen);

/* ---- routes and policy (mta_route.c) -------------------------------- */

struct mta_route_entry {
	char                    host[RES_NAME_MAX];
	struct sockaddr_storage addr;		/* port set */
	size_t                  hidx;		/* into mta_route.hosts */
};

/* What DANE needs to know of one MX host (RFC 7672 2.2). */
struct mta_route_host {
	char              name[RES_NAME_MAX];	/* as in the MX record */
	char              canonname[RES_NAME_MAX];	/* CNAME expansion */
	int               alias;		/* name is a CNAME */
	enum res_security addr_security;	/* of the whole expansion */
};

struct mta_route {
	size_t                 n;		/* walked: min(nall, limit) */
	struct mta_route_entry e[MTA_ROUTE_MAX];
	size_t                 nall;		/* e[n..nall): in reserve */
	size_t                 limit;		/* <= MTA_ADDRESS_LIMIT */
	/* hosts the entries belong to, in walk order */
	size_t                 nhosts;
	struct mta_route_host  hosts[MTA_ROUTE_MAX];
	/* of the MX RRset after the domain's own CNAMEs (implicit MX and
	 * relay hosts: of the name's address records) */
	enum res_security      mx_security;
	/* When n == 0: why (hosts without addresses). */
	int                    retry;		/* some lookup said RETRY */
	char                   error[RES_NAME_MAX + 64];
};

/* Hosts in order, each host's addresses in order: n = at most limit
 * (<= MTA_ADDRESS_LIMIT) entries to walk, up to MTA_ROUTE_MAX kept in
 * all.  Pure. */
void mta_route_build(const struct res_mx_result *res, size_t limit,
    struct mta_route *out);
/* Drop the host of e[pos] (its entries from pos on) from the walk: the
 * entries behind move up, and the reserve fills the walk up to the limit
 * again.  For hosts a policy excludes before any connection (MTA-STS
 * enforce, RFC 8461 4.1), which must not count against the limit.
 * Returns how many entries went.  Pure. */
size_t mta_route_drop_host(struct mta_route *rt, size_t pos);
/* "[192.0.2.1]" / "[2001:db8::1]" literal (brackets, "ipv6:" optional)
 * to an address with port; 0 or -1 when host is not a literal. */
int mta_route_literal(const char *host, uint16_t port,
    struct sockaddr_storage *out);
/* The TLS policy for host when delivering to relay (1) or by MX (0). */
void mta_policy_for(const struct sealpost_config *cfg, int relay,
    const char *host, struct tls_policy *pol);
/* ---- DANE and the configured TLS policy (mta_dane.c) ------------------ */

/*
 * The level configuration asks for a next hop: its tls_policy entry
 * (*entry set, else NULL), the relayhost-with-credentials rule (at least
 * verify), dane = yes (dane), else may or none by tls_opportunistic.
 */
enum cfg_tls_level mta_tls_level_for(const struct sealpost_config *cfg,
    int relay, const char *nexthop, const struct cfg_tls_policy **entry);
/*
 * The policy for host under a level that needs no TLSA data (none, may,
 * encrypt, verify, secure; dane and dane-only give their fallback, may or
 * none).  verify/secure take the entry's match list ("hostname",
 * "nexthop", "dot-nexthop", names, ".domain"), by default hostname
 * (verify) or nexthop and .nexthop (secure).  SNI is host.
 */
void mta_policy_static(const struct sealpost_config *cfg,
    enum cfg_tls_level level, const struct cfg_tls_policy *entry,
    const char *nexthop, const char *host, struct tls_policy *pol);

/* Where TLSA records of an MX host may be looked up (RFC 7672 2.2). */
enum mta_dane_start {
	MTA_DANE_INSECURE,	/* MX or address data insecure: no TLSA query */
	MTA_DANE_ASK,		/* query cand[0..n-1] in order */
	MTA_DANE_CHECK_CNAME	/* address via an insecure CNAME expansion:
				 * only the original name counts, if its own
				 * CNAME record is secure (cand[0]) */
};
#define MTA_DANE_CAND_MAX	2
enum mta_dane_start mta_dane_candidates(enum res_security mx_security,
    const struct mta_route_host *h, char cand[][RES_NAME_MAX], size_t *n);
/* A secure TLSA RRset as a tls_dane (caller frees); base is the name
 * whose RRset it is, mxhost the MX host name. */
tls_dane *mta_dane_rrset(const struct res_tlsa *t, size_t n,
    const char *base, const char *mxhost);
/* RFC 8460 result type for a failed verifying handshake. */
enum tls_report_type mta_report_type_for_verify(long verify_error);
/* Short phrase for a DANE verification failure: "no matching TLSA". */
const char *mta_dane_failure_phrase(long verify_error);

/* "ip" text of an address (no port). */
void mta_addr_string(const struct sockaddr_storage *ss, char *out,
    size_t outlen);
uint16_t mta_addr_port(const struct sockaddr_storage *ss);

/* ---- threads, destinations, jobs (mta_pool.c) ------------------------ */

struct mta_thread;
struct mta_session;
struct mta_conn;

/* A job while a delivery thread has it. */
struct mta_jobctx {
	struct mta_jobctx *next;	/* in its destination's FIFO */
	struct mta_job    *job;
	struct mta_thread *th;
	unsigned char     *set;		/* result[i] written */
	size_t             nleft;	/* results still to write */
	uint64_t           start_ms;	/* a session took it */
	uint64_t           xmit_ms;	/* MAIL FROM was sent; 0 = not yet */
};

struct mta_sts_dest;

struct mta_dest {
	char              *key;		/* domain, or "[relay]" */
	struct mta_sts_dest *sts;	/* MTA-STS state (mta_sts.c), NULL
					 * until a session asks */
	int                relay;
	struct mta_thread *th;
	struct mta_jobctx *head, *tail;	/* waiting jobs */
	unsigned           nsessions;	/* open sessions, idle included */
};

struct mta_thread {
	struct mta_pool   *pool;
	const struct sealpost_config *cfg;
	unsigned           index;
	uv_thread_t        tid;
	uv_loop_t          loop;
	util_chan         *chan;
	res_ctx           *res;
	SSL_CTX           *ssl_ctx;
	util_htable       *dests;
	struct mta_session *sessions;	/* all live sessions */
	unsigned long      next_session_id;
	int                stopping;
	uv_timer_t         grace;	/* shutdown deadline */
	int                grace_on;
	/* MTA-STS: this loop's fetcher, the pool's shared cache thread
	 * (NULL: none), and cache requests whose answers are still to come
	 * through chan (the thread must not close chan before). */
	sts_fetcher       *sts_fetcher;
	sts_cache         *sts_cache;
	unsigned           sts_pending;
	struct mta_sts_refresh *sts_refresh;	/* thread 0 only; NULL none */
};

/* Pool-wide read-only settings threads need. */
const char *mta_pool_sasl_password(const struct mta_pool *p);
int mta_pool_trace(const struct mta_pool *p);

/* Next waiting job of dest, or NULL. */
struct mta_jobctx *mta_dest_pop(struct mta_dest *d);
/* The thread may be able to exit now (something it waited for ended). */
void mta_thread_check_exit(struct mta_thread *th);
/* Put a job back at the head (a reused connection failed early). */
void mta_dest_push_front(struct mta_dest *d, struct mta_jobctx *jc);
/* A session of d ended: start more work or free d. */
void mta_dest_session_gone(struct mta_dest *d);

/* ---- results (mta_result.c) ----------------------------------------- */

/*
 * Write job result i once (a second write is a bug and panics) and log
 * the recipient line.  relay/tls may be NULL ("none").  text is ours or
 * already made printable.
 */
void mta_result_set(struct mta_jobctx *jc, size_t i, enum mta_outcome o,
    int code, const char *dsn, const char *text, const char *relay,
    const char *tls);
/* Same outcome for every recipient without a result yet. */
void mta_result_rest(struct mta_jobctx *jc, enum mta_outcome o, int code,
    const char *dsn, const char *text, const char *relay, const char *tls);
/* Hand a job with all results back to the queue manager; frees jc. */
void mta_job_finish(struct mta_jobctx *jc);
/* snprintf for diagnostic text where cutting long peer or DNS names
 * short is intended (keeps -Wformat-truncation for the real cases). */
void mta_textf(char *out, size_t outlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Derive the outcome from a reply code. */
enum mta_outcome mta_outcome_for_code(int code);

/* ---- sessions (mta_session.c, mta_connect.c, mta_trouble.c) ------------- */

enum mta_state {
	MTA_ST_RESOLVE,		/* MX / host lookup */
	MTA_ST_TLSA,		/* TLS policy of the next host (DANE lookups) */
	MTA_ST_STS,		/* MTA-STS policy of the domain, for a host
				 * DANE does not decide */
	MTA_ST_CONNECT,		/* TCP connect to route.e[route_pos] */
	MTA_ST_GREETING,
	MTA_ST_EHLO,
	MTA_ST_HELO,
	MTA_ST_STARTTLS,
	MTA_ST_TLS,		/* handshake in progress */
	MTA_ST_AUTH,
	MTA_ST_RSET,
	MTA_ST_MAIL,
	MTA_ST_RCPT,
	MTA_ST_DATA,
	MTA_ST_BODY,		/* writing the message */
	MTA_ST_DOT,		/* waiting for the final reply */
	MTA_ST_IDLE,		/* connection kept for reuse */
	MTA_ST_QUIT,
	MTA_ST_END
};

struct mta_session {
	struct mta_session *next, *prev;	/* th->sessions */
	struct mta_thread  *th;
	struct mta_dest    *dest;
	unsigned long       id;
	enum mta_state      state;
	int                 dead;		/* ended, free pending */

	/* where we are in the walk */
	res_query          *query;
	struct mta_route    route;
	size_t              route_pos;
	size_t              tried;		/* addresses tried so far */
	int                 plain_retry;	/* same address again, no TLS */
	struct tls_policy   policy;		/* for the current host */
	char                host[RES_NAME_MAX];	/* current host, no dot */
	char                relay_host[RES_NAME_MAX + 64];	/* host[ip] */
	char                relay[RES_NAME_MAX + 72];	/* host[ip]:port */
	char                tls[TLS_SUMMARY_MAX];	/* verdict, "none" */

	/* TLS policy per host (mta_dane.c) */
	char                nexthop[RES_NAME_MAX];	/* policy domain */
	enum cfg_tls_level  tls_want;		/* configured level */
	const struct cfg_tls_policy *tls_entry;	/* its table entry */
	size_t              policy_hidx;	/* host s->policy is for */
	tls_dane           *dane;		/* that host's TLSA RRset */
	char                dane_verdict[TLS_DANE_NOTE_MAX];	/* "" none */
	int                 dnssec_bogus;	/* show dnssec=bogus */
	size_t              dane_ncand, dane_icand;
	char                dane_cand[MTA_DANE_CAND_MAX][RES_NAME_MAX];
	int                 tls_reported;	/* TLS result recorded */
	/* RFC 8689 TLS-Required: No - the session carries only such
	 * messages (mta_trouble.c keeps them apart from others) */
	int                 no_tls_req;
	int                 tls_relaxed;	/* this host's DNS-derived TLS
						 * policy failed and was set
						 * aside (mta_tls_relax) */

	/* MTA-STS (mta_sts.c) */
	size_t              sts_hidx1;		/* 1 + host the MTA-STS step
						 * ran for; 0 = none */
	unsigned            sts_gen;		/* dest STS generation the
						 * session was opened under;
						 * 0 = no MTA-STS step */
	char                sts_verdict[64];	/* "enforce verified (policy
						 * id X)"; "" = none */

	/* the connection */
	struct mta_conn    *conn;
	int                 connected;		/* TCP up on this address */
	char                local_ip[64];	/* our end of it; "" unknown */
	struct mta_reply    reply;
	struct mta_ehlo     ehlo;
	int                 starttls_refused;
	int                 authed;
	struct mta_sasl    *sasl;

	/* the job and its current transaction */
	struct mta_jobctx  *job;
	int                 reused;		/* job came to an open session */
	int                 mail_ok;		/* a MAIL reply was read */
	int                 need_rset;
	size_t             *txn;		/* job result indexes */
	unsigned char      *txn_ok;		/* RCPT accepted, per txn slot */
	size_t              txn_n, rcpt_sent, rcpt_replied, naccepted;
	int                 data_sent;
	int                 txn_failed;		/* MAIL refused: drain replies */
	struct mta_body_enc body;
	char               *chunk;		/* MTA_BODY_CHUNK bytes */

	/* the last host-level failure, for "all addresses failed" */
	int                 last_code;
	char                last_dsn[16];
	char                last_text[MTA_TEXT_MAX];
	int                 last_connected;	/* relay= shown for it */
};

/* mta_session.c */
void mta_set_state(struct mta_session *s, enum mta_state st);
void mta_timer_restart(struct mta_session *s);
const char *mta_state_doing(enum mta_state st);
int mta_send(struct mta_session *s, const char *line, size_t len,
    int secret);
void mta_said(struct mta_session *s, const char *cmd, char *out,
    size_t outlen);
void mta_after_ehlo(struct mta_session *s);
void mta_begin_txn(struct mta_session *s);

/* mta_dane.c */
/* MTA_ST_TLSA: decide s->policy for the host of route.e[route_pos],
 * looking up TLSA records when DANE may apply; then CONNECT, or fail
 * the host. */
void mta_dane_policy(struct mta_session *s);
/* "none dane=none (no TLSA)" etc. into s->tls for the current attempt. */
void mta_tls_field_reset(struct mta_session *s);
/* Record the TLS outcome of this attempt once (tls_report.h). */
void mta_tls_report(struct mta_session *s, enum tls_report_type t,
    const char *why);
/* Forget the per-host policy state (new route, session end). */
void mta_dane_reset(struct mta_session *s);
/* RFC 8689: 1 when the session's messages say TLS-Required: No and the
 * current host's mandatory TLS comes from DNS (DANE, MTA-STS), not from
 * local configuration (tls_policy entries, relayhost credentials). */
int mta_tls_relaxable(const struct mta_session *s);
/* Set that policy aside for the current host: opportunistic TLS from
 * now on (the DANE and MTA-STS verdicts stay for the log). */
void mta_tls_relax(struct mta_session *s, const char *why);

/* mta_sts.c */
/* 1 when MTA-STS is to be consulted for the current host: mta_sts = yes,
 * not the relayhost, no tls_policy entry, and no usable TLSA (DANE did
 * not decide this host). */
int mta_sts_wanted(const struct mta_session *s);
/* MTA_ST_STS: the domain's policy (TXT, cache, fetch; shared per
 * destination), applied to the current host: CONNECT, or skip the host
 * (enforce, not in the mx patterns), or defer the job. */
void mta_sts_policy(struct mta_session *s);
/* A new attempt (address) starts: the verdict shown for it. */
void mta_sts_attempt_reset(struct mta_session *s);
/* Put " sts=VERDICT" into s->tls (before " sni=" when present). */
void mta_sts_field(struct mta_session *s);
/* Handshake done: record and show the MTA-STS verdict.  1 if the host's
 * policy came from MTA-STS (the result is recorded), else 0. */
int mta_sts_tls_ok(struct mta_session *s);
/* Handshake failed (ve = X509 verify error).  1 if handled: enforce -
 * text is the deferral reason, recorded; testing - recorded only, text
 * untouched.  0: no MTA-STS policy here. */
int mta_sts_tls_failed(struct mta_session *s, long ve, const char *why,
    char *text, size_t textlen);
/* No TLS on the connection (STARTTLS missing or refused).  Like
 * mta_sts_tls_failed. */
int mta_sts_no_starttls(struct mta_session *s, char *text, size_t textlen);
/* May this session (reused) carry a new job of its destination?  No
 * when the destination's MTA-STS outcome changed since the session was
 * opened, or is due for a fresh look. */
int mta_sts_session_current(const struct mta_session *s);
/* The destination goes away: cancel its lookups, free its state. */
void mta_sts_dest_free(struct mta_dest *d);
/* TLS-RPT (RFC 8460 4.3.2.3) type for a policy fetch failure class. */
enum tls_report_type mta_sts_fetch_report_type(enum sts_failure f);

/* mta_sts_refresh.c */
struct mta_sts_refresh;
/* Proactive policy refresh (RFC 8461 5.1) on th's loop, every
 * cfg->sts_refresh_interval; NULL when th has no cache or fetcher.  Call
 * before the thread runs. */
struct mta_sts_refresh *mta_sts_refresh_start(struct mta_thread *th);
/* The thread stops: close the timer, cancel lookups and fetches.  The
 * refresher frees itself once the cache answers owed to it came (they
 * count in th->sts_pending).  NULL ok. */
void mta_sts_refresh_stop(struct mta_sts_refresh *r);

/* mta_connect.c */
void mta_resolve(struct mta_session *s);
void mta_connect(struct mta_session *s);
void mta_tls_start(struct mta_session *s);
/* This address failed before MAIL: next address, or defer the job. */
void mta_fail_host(struct mta_session *s, int code, const char *dsn,
    const char *text);

/* mta_trouble.c */
/* The connection broke (EOF, timeout, protocol or write error). */
void mta_fail_conn(struct mta_session *s, const char *why);
/* Give every unresolved recipient this outcome, hand the job back and
 * end the session. */
void mta_job_fail(struct mta_session *s, enum mta_outcome o, int code,
    const char *dsn, const char *text);
/* Defer what is unresolved, finish the job, end the session. */
void mta_job_abandon(struct mta_session *s, const char *why);
/* Current job done: take the next one, idle, or quit. */
void mta_next_job(struct mta_session *s);
/* Close everything; the struct is freed later from the channel. */
void mta_session_end(struct mta_session *s);
struct mta_session *mta_session_new(struct mta_dest *d);

/* mta_sasl.c */
void mta_auth_start(struct mta_session *s);
void mta_auth_reply(struct mta_session *s);

/* ---- session entry points ------------------------------------------- */

/* A new session for dest carrying jc; it resolves, connects and runs. */
void mta_session_start(struct mta_dest *d, struct mta_jobctx *jc);
/* Give an idle session of d a job; 0 if taken, -1 if none idle. */
int mta_session_offer(struct mta_dest *d, struct mta_jobctx *jc);
/* Shutdown: idle sessions quit, busy ones finish (abort = defer now). */
void mta_session_shutdown_all(struct mta_thread *th, int abort);

/* Events from mta_conn.c into the session. */
void mta_session_on_connect(struct mta_session *s, int status);
void mta_session_on_input(struct mta_session *s, const char *buf,
    size_t len);
void mta_session_on_tls(struct mta_session *s, int ok, const char *why);
void mta_session_on_error(struct mta_session *s, const char *why);
void mta_session_on_drain(struct mta_session *s);
void mta_session_on_timeout(struct mta_session *s);

/* ---- connections (mta_conn.c) --------------------------------------- */

/* Start a TCP connection to sa for s.  NULL with err on failure. */
struct mta_conn *mta_conn_open(struct mta_session *s, uv_loop_t *loop,
    const struct sockaddr_storage *sa, char *err, size_t errlen);
/* Detach from the session and close; freed in the close callbacks. */
void mta_conn_close(struct mta_conn *c);
/* Send plaintext (through TLS when active).  0 or -1 (why in err). */
int mta_conn_write(struct mta_conn *c, const void *buf, size_t len);
/* Bytes handed to the kernel writer but not yet written. */
size_t mta_conn_queued(const struct mta_conn *c);
/* Start TLS on the connection (the STARTTLS reply was 220). */
int mta_conn_start_tls(struct mta_conn *c, SSL_CTX *ctx,
    const struct tls_policy *pol, char *err, size_t errlen);
/* TLS verdict of the connection ("none" without TLS). */
void mta_conn_tls_summary(const struct mta_conn *c, char *out,
    size_t outlen);
int mta_conn_tls_active(const struct mta_conn *c);
/* Our address on the connection, numeric ("" and -1 when unknown). */
int mta_conn_local_addr(const struct mta_conn *c, char *out, size_t outlen);
void mta_conn_peer_info(const struct mta_conn *c, struct tls_peer_info *info);
/* (Re)arm the session timer; 0 ms disarms. */
void mta_conn_timer(struct mta_conn *c, uint64_t ms);

/* ---- SASL (mta_sasl.c) ---------------------------------------------- */

struct mta_sasl;
/* Once per process. 0 or -1 with err. */
int mta_sasl_global_init(char *err, size_t errlen);
struct mta_sasl *mta_sasl_new(const char *server, const char *user,
    const char *pass, int encrypted, char *err, size_t errlen);
/* "AUTH MECH [initial response]\r\n" for the mechanisms the server
 * offers.  0 or -1 with err. */
int mta_sasl_start(struct mta_sasl *a, const char *mechs,
    struct dynbuf *cmd, char *err, size_t errlen);
/* Answer a 334 challenge (base64 text) with a base64 line + CRLF. */
int mta_sasl_step(struct mta_sasl *a, const char *chal, size_t len,
    struct dynbuf *out, char *err, size_t errlen);
const char *mta_sasl_mech(const struct mta_sasl *a);
void mta_sasl_free(struct mta_sasl *a);

#endif
