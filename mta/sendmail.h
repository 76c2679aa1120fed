/*
 * sendmail.h - the sendmail-compatible front end (library sp_sendmail).
 *
 * The sendmail command runs with the invoking user's privileges and does
 * all the parsing a local submission needs (command line, message
 * headers, addresses) so that the setgid helper sealpost-postdrop only
 * has to validate a finished drop image and write it.  Every parser in
 * here is a pure function over bounded input so the unit tests
 * (tests/unit/test_sendmail_*.c) can drive it with tables.
 *
 * Pieces, in the order a message meets them:
 *   sendmail_args.c    command line -> struct sendmail_opts
 *   sendmail_input.c   stdin bytes -> CRLF message ("." and size rules)
 *   sendmail_hdr.c     header section: split, -t recipients, Bcc removal,
 *                      missing From/Date/Message-ID
 *   sendmail_addr.c    RFC 5322 address lists, envelope address checks
 *   sendmail_submit.c  drop image -> sealpost-postdrop
 *   sendmail_mailq.c   sendmail -bp / mailq
 *   sendmail_ctl.c     sendmail -q (talks to the daemon's socket)
 *   sendmail_bs.c      sendmail -bs (the smtpd engine on stdin/stdout)
 *   sendmail_run.c     sendmail_main(): glue, exit codes
 * Exit codes are <sysexits.h> values throughout.
 */
#ifndef SEALPOST_SENDMAIL_H
#define SEALPOST_SENDMAIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "util.h"

/* RFC 5322 2.1.1: a line is at most 998 characters plus CRLF. */
#define SENDMAIL_LINE_MAX	998
/* All header fields together; a cap on parsing work, not an RFC limit. */
#define SENDMAIL_HEADERS_MAX	(1024u * 1024)
/* RFC 3461 4.4: ENVID is at most 100 characters. */
#define SENDMAIL_ENVID_MAX	100
/* -F and passwd gecos names are cut here before encoding. */
#define SENDMAIL_NAME_MAX	128
/* Longest -C path accepted. */
#define SENDMAIL_PATH_MAX	1024

/* ---- command line --------------------------------------------------------- */

enum sendmail_mode {
	SENDMAIL_MODE_DELIVER = 0,	/* -bm, the default */
	SENDMAIL_MODE_LIST,		/* -bp, or invoked as mailq */
	SENDMAIL_MODE_SMTP,		/* -bs: SMTP on stdin/stdout */
	SENDMAIL_MODE_FLUSH,		/* -q, -qRsite, -qSsite */
	SENDMAIL_MODE_IGNORED		/* -q<interval>: nothing to do */
};

struct sendmail_opts {
	enum sendmail_mode mode;
	int         extract_rcpt;	/* -t */
	int         ignore_dots;	/* -i, -oi */
	int         verbose;		/* -v */
	const char *sender;		/* -f/-r as given; NULL: the user */
	const char *full_name;		/* -F; NULL: passwd gecos */
	unsigned    notify;		/* -N: QUEUE_NOTIFY_* bits, 0 = default */
	int         ret;		/* -R: enum queue_ret */
	const char *envid;		/* -V */
	int         body_8bitmime;	/* -B: -1 not given, 0 7BIT, 1 8BITMIME */
	const char *config_path;	/* -C */
	const char *flush_site;		/* -qRsite / -qSsite; NULL: all */
	char *const *rcpt;		/* recipient arguments (point into argv) */
	size_t      nrcpt;
};

/*
 * Parse argv (argv[0] decides "mailq" / "newaliases" behaviour) into o.
 * Option bundling works as with getopt ("-ti", "-fuser"); options stop at
 * "--" or at the first non-option argument, and a later argument that
 * looks like an option is refused rather than taken as a recipient.
 * Returns 0, or EX_USAGE / EX_UNAVAILABLE with a one-line reason in err.
 * o points into argv afterwards; nothing is allocated.
 */
int sendmail_args_parse(int argc, char *const argv[], struct sendmail_opts *o,
    char *err, size_t errlen);
/* One line describing the accepted syntax, for usage errors. */
const char *sendmail_usage(void);

/* ---- addresses ---------------------------------------------------------- */

/*
 * Called once per addr-spec found in an address list: addr is not NUL
 * terminated, has display names, comments, angle brackets and source
 * routes removed, and is not yet qualified or checked.  Return 0 to go
 * on, -1 to stop (the list parse then fails with the reason in err).
 */
typedef int (*sendmail_addr_cb)(void *arg, const char *addr, size_t len,
    char *err, size_t errlen);

/*
 * Parse an RFC 5322 address-list: a header field body (folding allowed,
 * CR and LF are white space) or one command line argument.  Handles
 * display names (quoted, with commas), comments (nested, bounded), angle
 * addresses, obsolete routes and groups ("undisclosed-recipients:;").
 * Empty members are skipped.  0, or -1 with a reason in err.
 */
int sendmail_addr_list(const char *s, size_t len, sendmail_addr_cb cb,
    void *arg, char *err, size_t errlen);

/*
 * Check an envelope address and write its qualified form into out
 * (outlen >= QUEUE_ADDR_MAX + 1): "user" becomes "user@myhostname".
 * Refuses control bytes, unquoted white space, invalid UTF-8, an empty
 * local part or domain, and anything longer than QUEUE_ADDR_MAX.  Sets
 * *utf8 to 1 when the address has non-ASCII bytes (needs SMTPUTF8).
 */
int sendmail_addr_qualify(const char *addr, size_t len,
    const char *myhostname, char *out, size_t outlen, int *utf8,
    char *err, size_t errlen);

/*
 * The -f/-r argument: "" and "<>" are the null sender (out = ""); other
 * values are one address, optionally in angle brackets or with a
 * display name, qualified as above.
 */
int sendmail_sender_parse(const char *arg, const char *myhostname,
    char *out, size_t outlen, int *utf8, char *err, size_t errlen);

/*
 * Turn a human name into an RFC 5322 display-name: left as is when it is
 * all atext and spaces, a quoted-string when it has other printable
 * ASCII, RFC 2047 encoded-words (UTF-8, base64) when it has 8-bit bytes.
 * Control bytes are dropped; the name is cut at SENDMAIL_NAME_MAX bytes
 * on a character boundary.  Writes "" when nothing printable is left.
 */
void sendmail_display_name(const char *name, char *out, size_t outlen);

/* ---- reading the message -------------------------------------------------- */

enum sendmail_input_rc {
	SENDMAIL_INPUT_MORE = 0,	/* feed more */
	SENDMAIL_INPUT_END,		/* a lone "." line ended the message */
	SENDMAIL_INPUT_TOOBIG		/* over the limit; message refused */
};

/*
 * Incremental reader that turns stdin bytes into a CRLF message.
 * Input lines end in LF or CRLF; both become CRLF.  A CR that is not
 * followed by LF also becomes CRLF: a bare CR is not allowed in SMTP
 * (RFC 5321 2.3.8) and receivers disagree about it, which is what SMTP
 * smuggling feeds on, so we decide here once.  Without ignore_dots an
 * input line consisting of "." alone ends the message (classic
 * sendmail); with it the line is data.  NUL bytes are kept as data.
 */
struct sendmail_input {
	struct dynbuf out;	/* the message so far, max = the size limit */
	int  ignore_dots;
	int  eightbit;		/* saw a byte >= 0x80 */
	int  pending_cr;	/* last byte was CR, LF may follow */
	int  held_dot;		/* line so far is "." (not yet written) */
	int  line_start;	/* next byte starts an input (LF) line */
	int  done;		/* END or TOOBIG reported */
	int  toobig;		/* the size limit was hit */
};

void sendmail_input_init(struct sendmail_input *in, size_t max,
    int ignore_dots);
enum sendmail_input_rc sendmail_input_feed(struct sendmail_input *in,
    const char *buf, size_t len);
/* End of input: completes the last line.  MORE means fine. */
enum sendmail_input_rc sendmail_input_finish(struct sendmail_input *in);
void sendmail_input_free(struct sendmail_input *in);

/* ---- the header section --------------------------------------------------- */

struct sendmail_hdr {
	size_t off;		/* start of the field in the message */
	size_t len;		/* whole field, continuation lines and CRLF */
	size_t name_len;	/* field name, without the colon */
};

struct sendmail_hdrs {
	struct sendmail_hdr *v;
	size_t n, alloc;
	size_t head_off;	/* first header byte (after a "From " line) */
	size_t body_off;	/* first body byte */
	int    separator;	/* an empty line separated head and body */
};

/*
 * Find the header fields of a CRLF message (msg, len).  A leading mbox
 * "From " line is skipped.  The header section ends at an empty line
 * (consumed) or at the first line that is neither a field nor a
 * continuation (it starts the body).  Refuses a field line longer than
 * SENDMAIL_LINE_MAX and a header section over SENDMAIL_HEADERS_MAX.
 * 0, or -1 with a reason; h is reset first and freed with _free.
 */
int sendmail_hdrs_split(const char *msg, size_t len, struct sendmail_hdrs *h,
    char *err, size_t errlen);
void sendmail_hdrs_free(struct sendmail_hdrs *h);
/* 1 if field i is named name (ASCII case-insensitive), else 0. */
int sendmail_hdr_is(const char *msg, const struct sendmail_hdr *f,
    const char *name);
/* Index of the first field named name, or -1. */
long sendmail_hdrs_find(const char *msg, const struct sendmail_hdrs *h,
    const char *name);

/*
 * -t: run cb over the addresses of Resent-To/Resent-Cc/Resent-Bcc when
 * any Resent- recipient field exists (a resent message goes to the
 * resent-to people only), else over To/Cc/Bcc.  0 or -1 with reason.
 */
int sendmail_hdrs_rcpts(const char *msg, const struct sendmail_hdrs *h,
    sendmail_addr_cb cb, void *arg, char *err, size_t errlen);

/* What sendmail_compose adds. */
struct sendmail_added {
	const char *qid;		/* queue ID for Received and Message-ID */
	int64_t     now;		/* wall clock, for Date and Message-ID */
	const char *myhostname;
	const char *from_addr;		/* From: if missing; "" = null sender */
	const char *display_name;	/* already encoded; "" or NULL: none */
	long        uid;		/* invoking user, for Received */
};

/*
 * Build the message as queued: a Received line first, the original
 * fields minus Bcc and Resent-Bcc, then any of From, Date, Message-ID the
 * message lacks, the empty line, the body.  -1 (err) when the result
 * would exceed max bytes.  On success *out is the caller's (free()).
 */
int sendmail_compose(const char *msg, size_t len,
    const struct sendmail_hdrs *h, const struct sendmail_added *a,
    size_t max, char **out, size_t *outlen, char *err, size_t errlen);

/* ---- talking to the helper and the daemon ------------------------------- */

struct queue_msg;
struct sealpost_config;

/*
 * Start sealpost-postdrop ($SEALPOST_POSTDROP, else next to our own
 * executable) and read the queue ID it assigns.  The helper, not the
 * user, picks the queue ID, so a user cannot pre-empt someone else's.
 */
struct sendmail_drop {
	pid_t pid;
	int   to_fd;			/* its stdin */
	int   from_fd;			/* its stdout */
	char  qid[32];
};
int sendmail_drop_start(struct sendmail_drop *d, const char *config_path,
    char *err, size_t errlen);
/*
 * Write m's drop image to the helper, close, wait.  Returns the exit code
 * to use: EX_OK only when the helper reported a durable write.
 */
int sendmail_drop_finish(struct sendmail_drop *d, const struct queue_msg *m,
    char *err, size_t errlen);
/* Kill and reap a helper we decided not to use. */
void sendmail_drop_abort(struct sendmail_drop *d);

/*
 * Send one command line ("FLUSH\n", ...) to the daemon's control socket
 * spool/sealpostd.sock and read its one-line answer into reply.  0 when
 * the answer starts with "OK"; -1 with reason (daemon not running,
 * refused, timeout).
 */
int sendmail_ctl_request(const char *spool, const char *line, char *reply,
    size_t replylen, char *err, size_t errlen);

/* ---- listing ------------------------------------------------------------ */

/*
 * mailq line(s) for one message: ID ('!' when held), size, arrival,
 * sender (MAILER-DAEMON for <>), then for each pending recipient its
 * last reason in parentheses when it differs from the previous one, and
 * the recipient.  Delivered and bounced recipients are not shown.  Ends
 * with an empty line.  Returns 1 if the message was printed, 0 if it had
 * no pending recipient (not shown).
 */
int sendmail_mailq_entry(FILE *out, const struct queue_msg *m);
/* The queue listing (spool database and maildrop); exit code. */
int sendmail_mailq(const struct sealpost_config *cfg, FILE *out);

/* ---- sendmail -bs ------------------------------------------------------ */

/*
 * Speak SMTP on in_fd (client input) and out_fd (our replies) with the
 * listener's engine as a trusted local client (relay allowed, no AUTH,
 * no STARTTLS), limits from cfg.  Every accepted message is one
 * sealpost-postdrop run (config_path passed on; NULL: its default) and
 * is acknowledged only once the helper exited 0.  Returns the exit
 * code: EX_OK after QUIT or at end of input, EX_TEMPFAIL after a 421,
 * EX_IOERR when reading or writing fails.  Ignores SIGPIPE.
 */
int sendmail_bs(const struct sealpost_config *cfg, const char *config_path,
    int in_fd, int out_fd);

/* ---- the command ------------------------------------------------------ */

/* Everything main() does; returns the exit code. */
int sendmail_main(int argc, char *argv[]);

#endif
