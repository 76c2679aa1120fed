/*
 * tlsrpt.h - SMTP TLS Reporting (RFC 8460): the result store, the
 * _smtp._tls TXT parser and the JSON report builder.
 *
 *   tlsrpt_store.c  results aggregated on write into spool/tlsrpt.db by
 *                   a writer thread (delivery threads only append to an
 *                   in-memory batch); the synchronous tlsrpt_db layer
 *                   for readers (report builder, admin command)
 *   tlsrpt_txt.c    pure parser of the TXT record (RFC 8460 3)
 *   tlsrpt_json.c   the report for one policy domain and one UTC day
 *                   (RFC 8460 4), and its gzip form (5.1)
 *   tlsrpt_sent.c   sending state: each (day, domain, uri) at most once
 *   tlsrpt_send.c   the daily sender thread: schedule, TXT, per-URI work
 *   tlsrpt_send_mail.c, tlsrpt_send_post.c  mailto: and https: delivery
 *   tlsrpt_mail.c   the report as a mail message (RFC 8460 5.3)
 *   tlsrpt_dkim.c   its DKIM signature (RFC 6376, libopendkim)
 *
 * Threads: tlsrpt_store_add() and tls_report_record() are callable from
 * any thread; a tlsrpt_db belongs to one thread.  docs/tlsrpt.md.
 */
#ifndef SEALPOST_TLSRPT_H
#define SEALPOST_TLSRPT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "tls_report.h"

struct sealpost_config;

#define TLSRPT_DB_FILE		"tlsrpt.db"	/* in spool_directory */
#define TLSRPT_DAY_LEN		11		/* "YYYY-MM-DD" + NUL */
/* Bounds of what one record keeps; longer text is cut with "...". */
#define TLSRPT_NAME_MAX		255	/* DNS name (RFC 1035 2.3.4) */
#define TLSRPT_IP_MAX		64	/* IPv6 text with zone, generous */
#define TLSRPT_INFO_MAX		256	/* additional-information */
#define TLSRPT_STRING_MAX	4096	/* one policy-string (a TLSA 3 0 0
					 * record of a large certificate is
					 * cut: XXX, see docs/tlsrpt.md) */
/* Writer defaults: flush every TLSRPT_FLUSH_MS or TLSRPT_FLUSH_ENTRIES. */
#define TLSRPT_FLUSH_MS		1000
#define TLSRPT_FLUSH_ENTRIES	4096
/* Records waiting for the writer beyond this are dropped and counted
 * (sqlite stuck for minutes must not eat the daemon's memory). */
#define TLSRPT_PENDING_MAX	1000000

/* ---- the store (tlsrpt_store.c) ----------------------------------------- */

typedef struct tlsrpt_store tlsrpt_store;

/*
 * Open (creating) the database at path and start its writer thread,
 * which flushes every flush_ms milliseconds (0: TLSRPT_FLUSH_MS) or
 * every flush_entries records (0: TLSRPT_FLUSH_ENTRIES) in one
 * transaction, and deletes days older than retention_days (0: keep).
 * When activate is set the store becomes the process's sink: from then
 * on tls_report_record() feeds it.  NULL and a message on failure.
 */
tlsrpt_store *tlsrpt_store_open(const char *path, unsigned flush_ms,
    unsigned flush_entries, unsigned retention_days, int activate,
    char *err, size_t errlen);
/* Stop being the sink, flush everything pending, stop the thread and
 * close.  NULL is fine. */
void tlsrpt_store_close(tlsrpt_store *s);

/*
 * Append one result, observed at wall time now (seconds), to the batch.
 * sending_ip overrides r->sending_ip when not NULL.  Copies what it
 * keeps; never blocks on sqlite.
 */
void tlsrpt_store_add(tlsrpt_store *s, const struct tls_report_result *r,
    const char *sending_ip, int64_t now);
/* tlsrpt_store_add() on the active store, if any; 1 if recorded. */
int tlsrpt_store_add_active(const struct tls_report_result *r);
/* Block until everything added before the call is committed. */
void tlsrpt_store_flush(tlsrpt_store *s);
/* Records dropped because the batch was full (since open). */
unsigned long tlsrpt_store_dropped(const tlsrpt_store *s);

/* ---- the synchronous database layer ------------------------------------- */

typedef struct tlsrpt_db tlsrpt_db;

/* Open; readonly never creates.  NULL and a message on failure. */
tlsrpt_db *tlsrpt_db_open(const char *path, int readonly, char *err,
    size_t errlen);
void tlsrpt_db_close(tlsrpt_db *d);

/* Aggregated counters of one policy for one day and domain. */
struct tlsrpt_policy_row {
	const char *day, *domain, *type;	/* type: tlsa|sts|no-policy-found */
	const char *strings;	/* policy strings joined by '\n' ("" none) */
	const char *mx;		/* mx-host patterns joined by '\n' */
	uint64_t    success, failure;
};
struct tlsrpt_failure_row {
	const char *result;	/* RFC 8460 4.3 result-type */
	const char *sending_ip, *mx_host, *receiving_ip, *info;	/* "" none */
	uint64_t    count;
};

/* Every policy row of day (all domains when domain is NULL), ordered;
 * cb's pointers live until it returns.  0 or -1. */
int tlsrpt_db_policies(tlsrpt_db *d, const char *day, const char *domain,
    void (*cb)(void *arg, const struct tlsrpt_policy_row *p), void *arg);
/* The failure details of one policy row.  0 or -1. */
int tlsrpt_db_failures(tlsrpt_db *d, const struct tlsrpt_policy_row *p,
    void (*cb)(void *arg, const struct tlsrpt_failure_row *f), void *arg);
/* Distinct policy domains with data for day.  0 or -1. */
int tlsrpt_db_domains(tlsrpt_db *d, const char *day,
    void (*cb)(void *arg, const char *domain), void *arg);
/* Delete days before the UTC day of cutoff (seconds).  0 or -1. */
int tlsrpt_db_expire(tlsrpt_db *d, int64_t cutoff);

/* "YYYY-MM-DD" of the UTC day holding t. */
void tlsrpt_day(int64_t t, char out[TLSRPT_DAY_LEN]);
/* Check "YYYY-MM-DD" is a real date; 0 or -1. */
int tlsrpt_day_valid(const char *day);

/* ---- the TXT record (tlsrpt_txt.c, RFC 8460 3) --------------------------- */

#define TLSRPT_TXT_MAX		4096	/* one record, strings joined */
#define TLSRPT_RUA_MAX		8	/* URIs kept from one record */
#define TLSRPT_URI_MAX		512	/* one URI */

enum tlsrpt_uri_scheme { TLSRPT_URI_MAILTO, TLSRPT_URI_HTTPS };

struct tlsrpt_uri {
	enum tlsrpt_uri_scheme scheme;
	char     uri[TLSRPT_URI_MAX];	/* without any "!size" suffix */
	uint64_t size_limit;		/* bytes from "!size"; 0: none */
};

struct tlsrpt_txt {
	struct tlsrpt_uri rua[TLSRPT_RUA_MAX];
	size_t nrua;			/* >= 1 when parsed */
	size_t nskipped;		/* URIs of unknown scheme, or bad */
};

/*
 * Parse one TXT record (its strings already joined) of len bytes.
 * Returns 0 with *out filled (at least one mailto: or https: URI), or
 * -1 with a reason in why: not "v=TLSRPTv1", no rua, no usable URI,
 * too long, a NUL or control byte.  Pure.
 */
int tlsrpt_txt_parse(const char *rec, size_t len, struct tlsrpt_txt *out,
    char *why, size_t whylen);
/* Does this record claim to be TLS-RPT ("v=TLSRPTv1" then ';' or end)? */
int tlsrpt_txt_is_tlsrpt(const char *rec, size_t len);
/*
 * The RRset rule (RFC 8460 3): of n records, those not starting with
 * v=TLSRPTv1 are ignored; exactly one must remain and parse.  0 or -1.
 */
int tlsrpt_txt_select(const char *const *recs, const size_t *lens, size_t n,
    struct tlsrpt_txt *out, char *why, size_t whylen);

/* ---- the report (tlsrpt_json.c, RFC 8460 4) ------------------------------ */

struct tlsrpt_report_info {
	const char *organization;	/* organization-name */
	const char *contact;		/* contact-info */
	const char *submitter;		/* report-id domain part */
};

#define TLSRPT_REPORT_MAX	(16 * 1024 * 1024)	/* JSON bytes */

/*
 * The report for domain and day ("YYYY-MM-DD") from d.  Returns a new
 * JSON object the caller owns (json_decref), or NULL with a message
 * (no data for that domain and day is an error: nothing to report).
 */
json_t *tlsrpt_json_build(tlsrpt_db *d, const char *domain, const char *day,
    const struct tlsrpt_report_info *info, char *err, size_t errlen);
/*
 * Serialise and gzip (RFC 1952) a report: *out is malloc'ed, the
 * caller frees it.  0 or -1.
 */
int tlsrpt_json_gzip(const json_t *report, unsigned char **out,
    size_t *outlen);

/* ---- the report as mail (tlsrpt_mail.c, tlsrpt_dkim.c; RFC 8460 5.3) ---- */

/* Borrowed for the call.  Names in A-label form; addresses bare
 * addr-specs (no "mailto:", no angle brackets). */
struct tlsrpt_mail_info {
	const char *policy_domain;	/* TLS-Report-Domain */
	const char *submitter;		/* TLS-Report-Submitter; Message-ID
					 * and filename domain */
	const char *from;		/* header From address */
	const char *to;			/* the mailto: address */
	const char *report_id;		/* as in the JSON */
	const char *start, *end;	/* date-range, "YYYY-MM-DDTHH:MM:SSZ" */
	int64_t     now;		/* Date: header, seconds */
	/* DKIM (RFC 6376); NULL key: unsigned.  NULL domain: submitter. */
	const char *dkim_domain, *dkim_selector;
	EVP_PKEY   *dkim_key;		/* RSA (rsa-sha256); not taken
					 * over */
};

/*
 * The whole report message for the gzip'ed report gz (gzlen bytes, at
 * most TLSRPT_REPORT_MAX): CRLF line ends, 7bit, headers then body, a
 * DKIM-Signature field first when mi->dkim_key is set.  Refuses (-1 and
 * a message in err) names or addresses with characters that do not
 * belong in a header, dates not in the form above, an empty report, a
 * failed signature.  0 with *out malloc'ed (NUL-terminated; the caller
 * frees) and *outlen its length.
 */
int tlsrpt_mail_build(const struct tlsrpt_mail_info *mi,
    const unsigned char *gz, size_t gzlen, char **out, size_t *outlen,
    char *err, size_t errlen);
/* The attachment's name (RFC 8460 5.1):
 * "<submitter>!<policy-domain>!<begin>!<end>.json.gz".  0 or -1. */
int tlsrpt_mail_filename(const struct tlsrpt_mail_info *mi, char *out,
    size_t outlen);
/*
 * Read a PEM private key for DKIM: RSA of at least 1024 bits (Ed25519
 * is refused, see tlsrpt_dkim.c).  NULL and a message on failure; the
 * caller frees the key (EVP_PKEY_free).
 */
EVP_PKEY *tlsrpt_dkim_key_load(const char *path, char *err, size_t errlen);
/*
 * Sign the message msg (len bytes, CRLF, headers then body) for domain
 * and selector, relaxed/relaxed.  0 with *sig the malloc'ed
 * "DKIM-Signature: ..." field (folded, CRLF) to put in front of the
 * message; -1 and a message in err.
 */
int tlsrpt_dkim_sign(const char *msg, size_t len, const char *domain,
    const char *selector, EVP_PKEY *key, char **sig, size_t *siglen,
    char *err, size_t errlen);

/* ---- sending state (tlsrpt_sent.c, table tlsrpt_sent) -------------------- */

/*
 * One row per (day, domain, uri): the promise that a report goes to one
 * rua URI at most once (RFC 8460 4.1 says once per period).  The row is
 * written before the report leaves, so a crash cannot send it twice
 * (docs/tlsrpt.md "Sending" says what a crash in between costs).
 */
enum tlsrpt_sent_state {
	TLSRPT_SENT_DUE = 0,	/* not yet sent: first try, or retry at next_try */
	TLSRPT_SENT_DONE,	/* in our maildrop, or POSTed with a 2xx */
	TLSRPT_SENT_SKIPPED,	/* never: larger than the URI's !size limit */
	TLSRPT_SENT_FAILED	/* gave up after TLSRPT_RETRY_SECS */
};

#define TLSRPT_RETRY_SECS	(24 * 3600)	/* https: keep trying this long */
#define TLSRPT_RETRY_MIN	60		/* first https backoff, doubling */
#define TLSRPT_RETRY_MAX	3600		/* longest https backoff */
#define TLSRPT_QID_MAX		24		/* queue ID of a mailto report */
/* The uri of the row that stands for the _smtp._tls lookup itself while
 * it fails temporarily (due, retried like a POST; sent once it worked). */
#define TLSRPT_SENT_LOOKUP	"_smtp._tls"

struct tlsrpt_sent_entry {
	char     day[TLSRPT_DAY_LEN];
	char     domain[TLSRPT_NAME_MAX + 1];
	char     uri[TLSRPT_URI_MAX];
	enum tlsrpt_sent_state state;
	unsigned attempts;
	int64_t  first_try, next_try, updated;	/* wall seconds; 0: none */
	char     queue_id[TLSRPT_QID_MAX];	/* mailto: the maildrop file */
	char     last_error[TLSRPT_INFO_MAX];
};

typedef struct tlsrpt_sent tlsrpt_sent;

/* Open the table in the database at path (creating it unless readonly);
 * readonly on a database without the table is fine (empty).  NULL and a
 * message on failure.  One thread. */
tlsrpt_sent *tlsrpt_sent_open(const char *path, int readonly, char *err,
    size_t errlen);
void tlsrpt_sent_close(tlsrpt_sent *s);
/* The row of (day, domain, uri), created DUE (next_try now) when absent.
 * 0 with *e filled, or -1. */
int tlsrpt_sent_claim(tlsrpt_sent *s, const char *day, const char *domain,
    const char *uri, int64_t now, struct tlsrpt_sent_entry *e);
/* Write e's state, attempts, times, queue ID and error back.  0 or -1. */
int tlsrpt_sent_update(tlsrpt_sent *s, const struct tlsrpt_sent_entry *e);
/* Every row (of day, or all when NULL), ordered by day, domain, uri. */
int tlsrpt_sent_list(tlsrpt_sent *s, const char *day,
    void (*cb)(void *arg, const struct tlsrpt_sent_entry *e), void *arg);
/* Rows still DUE with next_try <= until (INT64_MAX: all).  0 or -1. */
int tlsrpt_sent_due(tlsrpt_sent *s, int64_t until,
    void (*cb)(void *arg, const struct tlsrpt_sent_entry *e), void *arg);
/* Forget rows of days before the UTC day of cutoff.  0 or -1. */
int tlsrpt_sent_expire(tlsrpt_sent *s, int64_t cutoff);
const char *tlsrpt_sent_state_name(enum tlsrpt_sent_state st);
/* Next https retry time after attempts failures at now (backoff doubling
 * from TLSRPT_RETRY_MIN to TLSRPT_RETRY_MAX), or 0 when the row has been
 * trying since first_try for TLSRPT_RETRY_SECS: give up.  Pure. */
int64_t tlsrpt_sent_next_try(unsigned attempts, int64_t first_try,
    int64_t now);

/* ---- the daily sender (tlsrpt_send*.c; docs/tlsrpt.md "Sending") ---------- */

/*
 * Its own thread with its own libuv loop, libunbound context (resolver/)
 * and libcurl multi (tls_http.c).  Once per UTC day, at 00:00 +
 * send_delay + random jitter below send_window, it reports the day
 * before for every policy domain with data: TXT _smtp._tls.<domain>,
 * the JSON, then per rua URI a message into the maildrop (mailto) or a
 * POST (https), remembered in tlsrpt_sent.
 */
typedef struct tlsrpt_sender tlsrpt_sender;

struct tlsrpt_sender_opts {
	const struct sealpost_config *cfg;	/* outlives the sender */
	tlsrpt_store *store;	/* the daemon's result store or NULL: flushed
				 * before a run reads the day */
	void       *dkim_key;	/* EVP_PKEY *, loaded before privileges
				 * dropped; the sender frees it; NULL:
				 * reports are not signed */
	/* called on the sender's thread after a report entered the
	 * maildrop: wake the queue manager (any thread) */
	void      (*wake)(void *arg);
	void       *wake_arg;
};

/* Start the thread; NULL and a message on failure. */
tlsrpt_sender *tlsrpt_sender_start(const struct tlsrpt_sender_opts *o,
    char *err, size_t errlen);
/* Stop (in-flight POSTs are abandoned, their rows stay DUE and are sent
 * after the next start), join and free.  NULL is fine. */
void tlsrpt_sender_stop(tlsrpt_sender *s);
/*
 * Any thread: report day ("YYYY-MM-DD"; NULL: yesterday UTC) now, every
 * DUE (day, domain, uri) at once, retries included.  Days after today
 * are refused.  0, or -1 with a message.
 */
int tlsrpt_sender_trigger(tlsrpt_sender *s, const char *day, char *err,
    size_t errlen);
/* When the daily run for the day before next happens: 00:00 UTC of the
 * day holding now + delay + jitter (jitter < window); the next day's if
 * that has passed.  Pure. */
int64_t tlsrpt_sender_next_run(int64_t now, unsigned delay, unsigned window,
    uint64_t jitter);

#endif
