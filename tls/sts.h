/*
 * sts.h - MTA-STS (RFC 8461): the policy parser and matcher, the TXT
 * record parser, certificate name checks, the HTTPS policy fetcher and
 * the sqlite policy cache.  Module prefix sts_; files tls/sts_*.c.
 *
 *   sts_policy.c  pure parsers: policy body (3.2), TXT record (3.1),
 *                 mx pattern matching (4.1), Content-Type, domain names
 *   sts_cert.c    certificate names for an MX host (4.1, RFC 6125)
 *   sts_fetch.c   https://mta-sts.DOMAIN/.well-known/mta-sts.txt with
 *                 libcurl multi on a libuv loop; TXT discovery
 *   sts_cache.c   policies in sqlite (spool/sts.db) on a dedicated thread,
 *                 plus the synchronous layer the admin command uses
 *
 * Everything a policy host or DNS says is hostile: every parser here is a
 * bounded, pure function with a unit test table and a fuzz target.
 * Enforcement in the delivery agent (MX filtering, verify level with the
 * MX name) and the proactive refresh build on this module in mta/
 * (mta_sts.c, mta_sts_refresh.c); see docs/mta-sts.md.
 */
#ifndef SEALPOST_STS_H
#define SEALPOST_STS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>
#include <uv.h>

#include "resolver/resolver.h"
#include "util/util.h"

/* RFC 8461 3.3: senders SHOULD refuse bodies larger than 64 KiB. */
#define STS_POLICY_MAX		(64u * 1024)
/* RFC 8461 3.2: max_age is at most 31557600 seconds (about a year). */
#define STS_MAX_AGE_MAX		31557600u
/* RFC 8461 3.1: id = 1*32(ALPHA / DIGIT). */
#define STS_ID_MAX		32
/* A domain name in presentation form without the trailing dot: 253
 * characters (RFC 1035 2.3.4), plus NUL. */
#define STS_DOMAIN_MAX		254
/* An mx pattern: "*." plus a domain name, plus NUL. */
#define STS_PATTERN_MAX		(STS_DOMAIN_MAX + 2)
/* Human reason strings in results (always NUL terminated). */
#define STS_REASON_MAX		256
/* Default total time for one policy fetch (DNS + HTTPS), seconds.  RFC
 * 8461 3.3 asks for a bound on the fetch; one minute is our choice. */
#define STS_FETCH_TIMEOUT_DEFAULT 60

/* ---- the policy (RFC 8461 3.2) ---------------------------------------- */

enum sts_mode {
	STS_MODE_NONE = 0,	/* no policy in force */
	STS_MODE_TESTING,	/* report failures, deliver anyway */
	STS_MODE_ENFORCE	/* only matching MX hosts, verified TLS */
};

struct sts_policy {
	enum sts_mode mode;
	uint32_t      max_age;	/* seconds, 0..STS_MAX_AGE_MAX */
	size_t        nmx;	/* usable patterns, lower case, no trailing
				 * dot; "*.rest" or a plain domain name */
	char        **mx;
	size_t        nmx_ignored;	/* mx lines that were IP addresses
					 * or junk, skipped (not fatal) */
};

/*
 * Parse a policy body of len bytes (need not be NUL terminated).
 * Accepts LF or CRLF lines (mixed too), optional whitespace around ':'
 * and after the value, empty lines, and unknown keys (that are
 * syntactically keys).  Refuses: more than STS_POLICY_MAX bytes, version
 * not the first field or not "STSv1", a missing or duplicated version,
 * mode or max_age, a mode other than enforce/testing/none, max_age that
 * is not 1-10 digits or above STS_MAX_AGE_MAX, a line without ':', a key
 * or value with control bytes (NUL, bare CR, ...), and for enforce or
 * testing a policy without any usable mx pattern.  mx values that are IP
 * addresses or not domain names are counted in nmx_ignored.
 * Returns 0 and a policy the caller frees with sts_policy_free(), or -1
 * with a short reason in why (may be NULL).
 */
int sts_policy_parse(const char *body, size_t len, struct sts_policy **out,
    char *why, size_t whylen);
void sts_policy_free(struct sts_policy *p);		/* NULL ok */

/*
 * RFC 8461 4.1: does host (an MX host name, any case, trailing dot
 * ignored) match pattern?  A pattern "*.example.net" matches exactly one
 * leftmost label in front of example.net: "mx.example.net" yes,
 * "example.net" and "a.b.example.net" no.  Other patterns match the
 * whole name, case-insensitively.  1 match, 0 not (NULL/empty: 0).
 */
int sts_mx_match(const char *pattern, const char *host);
/* 1 if any of the policy's patterns matches host, else 0. */
int sts_policy_mx_match(const struct sts_policy *p, const char *host);

const char *sts_mode_name(enum sts_mode m);	/* "enforce", ... */
/* "enforce"/"testing"/"none" (exact) -> 0 and *out, else -1. */
int sts_mode_parse(const char *s, enum sts_mode *out);

/* ---- the TXT record (RFC 8461 3.1) ------------------------------------- */

enum sts_txt_status {
	STS_TXT_FOUND,		/* exactly one valid v=STSv1 record: id */
	STS_TXT_NONE,		/* no policy available (none, several,
				 * invalid, NXDOMAIN/NODATA) */
	STS_TXT_RETRY		/* DNS failed temporarily: unknown */
};

/*
 * One TXT record (its character-strings already concatenated): 0 and the
 * id (NUL terminated, STS_ID_MAX + 1 bytes) if it is a syntactically
 * valid STSv1 record, else -1.  Strict ABNF: "v=STSv1" first, fields
 * separated by *WSP ";" *WSP, an optional trailing ';', exactly one
 * id=1*32(ALPHA/DIGIT), extensions name=value (ignored, but must be
 * well formed).
 */
int sts_txt_record_parse(const char *rec, size_t len,
    char id[STS_ID_MAX + 1]);
/*
 * All n TXT records found at _mta-sts.DOMAIN: records that do not begin
 * with "v=STSv1" followed by the field separator are discarded; if
 * exactly one remains and it parses, STS_TXT_FOUND and id; otherwise
 * STS_TXT_NONE with a reason in why (may be NULL).
 */
enum sts_txt_status sts_txt_parse(const char *const *recs, size_t n,
    char id[STS_ID_MAX + 1], char *why, size_t whylen);

/* ---- small helpers -------------------------------------------------------- */

/*
 * Content-Type of a policy response: 1 if the media type is text/plain
 * (any case, parameters after ';' allowed, e.g. "; charset=utf-8"),
 * else 0 (NULL, empty, "text/html", "text/plainx", ...).
 */
int sts_media_type_ok(const char *content_type);
/*
 * Check and normalise a domain name: LDH labels of 1-63 characters, at
 * most 253 characters, one trailing dot allowed and removed, lower case,
 * not an IPv4 address (all-numeric last label).  0 and out, or -1.
 */
int sts_domain_normalize(const char *in, size_t len, char *out,
    size_t outlen);

/* ---- certificate names (RFC 8461 4.1, RFC 6125) ---------------------- */

/*
 * Does one certificate dNSName san match host?  Exact match ignoring
 * case and one trailing dot, or san "*.rest" where rest has at least two
 * labels and host is exactly one more label in front of rest.  Partial
 * wildcards ("mx*.example.net", "*mx.example.net"), a '*' elsewhere,
 * empty labels and embedded NULs never match.  1 or 0.
 */
int sts_cert_name_match(const char *san, const char *host);
/* 1 if any of the n names matches host (several wildcards are fine). */
int sts_cert_names_match(const char *const *sans, size_t n,
    const char *host);
/*
 * The certificate's subjectAltName dNSName entries only: the subject CN
 * is never consulted (RFC 8461 4.1 asks for a SAN dNSName), entries
 * with embedded NULs are skipped.  1 match, 0 none (or no SAN at all).
 */
int sts_cert_match_x509(X509 *cert, const char *host);
/* The same check through OpenSSL's X509_check_host() with
 * NO_PARTIAL_WILDCARDS and NEVER_CHECK_SUBJECT; kept for comparison. */
int sts_cert_match_x509_openssl(X509 *cert, const char *host);

/* ---- failure classes for TLS-RPT (RFC 8460 4.3.2.3) ------------------- */

enum sts_failure {
	STS_FAIL_NONE = 0,
	STS_FAIL_FETCH,		/* sts-policy-fetch-error: DNS, connect,
				 * HTTP status, redirect, timeout, size,
				 * media type */
	STS_FAIL_WEBPKI,	/* sts-webpki-invalid: certificate of the
				 * policy host */
	STS_FAIL_INVALID	/* sts-policy-invalid: the parser said no */
};

const char *sts_failure_name(enum sts_failure f);

/* ---- the HTTPS fetcher (sts_fetch.c) ----------------------------------- */

struct sts_fetch_opts {
	const char *ca_file;	/* PKIX trust anchors (cfg tls_ca_file) */
	unsigned    timeout_ms;	/* whole fetch, DNS included; 0 = default */
	/* Test seams, NULL in production.  resolve: a curl "HOST:PORT:ADDR"
	 * entry used instead of our resolver; connect_to: a curl
	 * "HOST:PORT:CHOST:CPORT" entry (the URL, SNI and the certificate
	 * check stay those of mta-sts.DOMAIN). */
	const char *resolve;
	const char *connect_to;
	/* Test seam: the policy host's port (0 = 443), e.g. for a lab
	 * server on a free loopback port resolved through our resolver. */
	uint16_t    port;
};

struct sts_fetch_result {
	const char        *domain;	/* normalised policy domain */
	enum sts_failure   failure;	/* STS_FAIL_NONE: policy is set */
	char               reason[STS_REASON_MAX];
	long               http_status;	/* 0 when no response */
	const struct sts_policy *policy;	/* parsed, on success */
	const char        *body;	/* raw body (also when invalid) */
	size_t             body_len;
};

typedef struct sts_fetcher sts_fetcher;
typedef struct sts_fetch sts_fetch;

/* Borrowed result: valid during the callback only. */
typedef void (*sts_fetch_cb)(void *arg, const struct sts_fetch_result *r);

/* Once per process before threads start (curl_global_init).  0 or -1. */
int sts_init(void);

/*
 * A fetcher on loop.  res resolves mta-sts.DOMAIN (A and AAAA); it may
 * be NULL only when opts->resolve is set.  The options' strings are
 * copied.  NULL with a message in err on failure.  One thread only.
 */
sts_fetcher *sts_fetcher_create(uv_loop_t *loop, res_ctx *res,
    const struct sts_fetch_opts *opts, char *err, size_t errlen);
/* Cancel every fetch (no callbacks); memory goes in close callbacks, so
 * run the loop once more afterwards.  NULL ok. */
void sts_fetcher_free(sts_fetcher *f);

/*
 * Fetch the policy of domain.  Requests for a domain whose fetch is
 * already running join it and get the same result.  cb runs later on
 * the loop, never from inside sts_fetch_start.  Returns a handle for
 * sts_fetch_cancel (valid until cb ran), or NULL when domain is not a
 * valid domain name (nothing is called back).
 */
sts_fetch *sts_fetch_start(sts_fetcher *f, const char *domain,
    sts_fetch_cb cb, void *arg);
/* Withdraw one request; the shared fetch stops when nobody waits. */
void sts_fetch_cancel(sts_fetch *w);
/* Distinct domains being fetched now (tests, metrics). */
size_t sts_fetcher_running(const sts_fetcher *f);

/* ---- TXT discovery through the resolver (sts_fetch.c) ---------------- */

struct sts_txt_result {
	enum sts_txt_status status;
	char                id[STS_ID_MAX + 1];	/* when FOUND */
	enum res_security   security;
	char                reason[STS_REASON_MAX];
};

typedef struct sts_txt_query sts_txt_query;
typedef void (*sts_txt_cb)(void *arg, const struct sts_txt_result *r);

/* Look up TXT _mta-sts.DOMAIN (CNAMEs followed by the resolver).  cb
 * runs once on the loop unless cancelled.  NULL for an invalid domain. */
sts_txt_query *sts_txt_lookup(res_ctx *res, const char *domain,
    sts_txt_cb cb, void *arg);
void sts_txt_cancel(sts_txt_query *q);

/* ---- the policy cache (sts_cache.c) --------------------------------------- */

#define STS_CACHE_FILE	"sts.db"	/* inside the spool directory */

/* One cached policy.  Owned by whoever received it: sts_cache_entry_free. */
struct sts_cache_entry {
	char     domain[STS_DOMAIN_MAX];
	char     id[STS_ID_MAX + 1];	/* from the TXT record at fetch time */
	struct sts_policy *policy;	/* parsed from raw */
	char    *raw;			/* the body as fetched, NUL terminated */
	size_t   raw_len;
	int64_t  fetched_at;		/* wall clock seconds */
	int64_t  expires_at;		/* fetched_at + max_age */
	int64_t  last_used;		/* last delivery lookup (0 = never) */
	int64_t  checked_at;		/* last refresh attempt */
	char     last_error[STS_REASON_MAX];	/* of the last failed
						 * refresh, "" if none */
};
void sts_cache_entry_free(struct sts_cache_entry *e);	/* NULL ok */
/* 1 if e is a policy still in force at now (expires_at > now). */
int sts_cache_entry_valid(const struct sts_cache_entry *e, int64_t now);
/*
 * 1 if a proactive refresh (RFC 8461 5.1) should fetch e again although
 * its TXT id is unchanged: it expires before now + ahead, or it is in the
 * second half of its max_age (so a host that cannot be reached has half
 * a max_age of tries before the policy lapses).  The same rule as
 * sts_db_due's.  NULL or no policy: 1.
 */
int sts_cache_entry_expiring(const struct sts_cache_entry *e, int64_t now,
    int64_t ahead);

/*
 * The cache rules of RFC 8461 5.1 and our issue, as a pure function of
 * what the cache holds (NULL = nothing) and what DNS said:
 *   TXT id equal to the valid cached one     -> USE_CACHED
 *   TXT id differs, or nothing valid cached  -> FETCH (on failure a
 *                                               valid cached policy
 *                                               still applies)
 *   no TXT record / DNS failure, valid cache -> USE_CACHED (a missing
 *                                               record never deletes)
 *   no TXT record / DNS failure, no cache    -> NO_POLICY
 */
enum sts_cache_action {
	STS_CACHE_USE_CACHED,
	STS_CACHE_FETCH,
	STS_CACHE_NO_POLICY
};
enum sts_cache_action sts_cache_decide(const struct sts_cache_entry *cached,
    enum sts_txt_status txt, const char *txt_id, int64_t now);

/* -- synchronous layer: one sqlite connection, the caller's thread -- */

typedef struct sts_db sts_db;

/*
 * Open (create unless readonly) the cache database at path: WAL,
 * synchronous=NORMAL, busy timeout 5 s, schema created or checked.
 * NULL with err on failure.
 */
sts_db *sts_db_open(const char *path, int readonly, char *err,
    size_t errlen);
void sts_db_close(sts_db *db);				/* NULL ok */
/* 1 and *out (caller frees), 0 when absent, -1 on error. */
int sts_db_get(sts_db *db, const char *domain, struct sts_cache_entry **out);
/*
 * Store a freshly fetched policy body for domain with the TXT id it was
 * fetched under: fetched_at = checked_at = now, expires_at = now +
 * max_age, last_error cleared, last_used kept.  Also when id and body
 * are the ones cached: a successful refetch extends the policy's life
 * (RFC 8461 5.1).  The body is parsed again
 * here; -1 if it does not parse, or on a database error.
 */
int sts_db_put(sts_db *db, const char *domain, const char *id,
    const char *raw, size_t raw_len, int64_t now);
/* A refresh failed: record reason and checked_at, keep the policy.
 * 0 (also when the domain is not cached) or -1. */
int sts_db_note_failure(sts_db *db, const char *domain, int64_t now,
    const char *reason);
/* A refresh found the TXT id unchanged and the policy not yet due for
 * a fetch: checked_at = now, last_error cleared.  0 (also when the
 * domain is not cached) or -1. */
int sts_db_note_checked(sts_db *db, const char *domain, int64_t now);
/* Mark domain used by a delivery at now.  0 or -1. */
int sts_db_touch(sts_db *db, const char *domain, int64_t now);
/* 1 deleted, 0 not cached, -1 error. */
int sts_db_forget(sts_db *db, const char *domain);
/* Every entry in domain order; cb borrows e.  0 or -1. */
int sts_db_list(sts_db *db,
    void (*cb)(void *arg, const struct sts_cache_entry *e), void *arg);
/*
 * Domains due for a proactive refresh (RFC 8461 5.1): used by a delivery
 * since now - used_within, and either expiring before now + ahead or in
 * the second half of their max_age, or not checked since now - recheck.
 * Domains never used by a delivery (last_used 0: cached by the admin
 * command only) or not used recently are never listed.  Soonest expiry
 * first; cb gets each domain name.  0 or -1.
 */
int sts_db_due(sts_db *db, int64_t now, int64_t used_within, int64_t ahead,
    int64_t recheck, void (*cb)(void *arg, const char *domain), void *arg);

/* -- asynchronous layer: a dedicated thread owns its own connection -- */

typedef struct sts_cache sts_cache;

/* Open path (see sts_db_open) and start the cache thread. */
sts_cache *sts_cache_open(const char *path, char *err, size_t errlen);
/* Finish what is queued (its callbacks are posted), stop, join.  NULL ok. */
void sts_cache_close(sts_cache *c);

/* Answers run on chan's loop.  e: NULL when absent; the callee owns it. */
typedef void (*sts_cache_get_cb)(void *arg, int rc,
    struct sts_cache_entry *e);
typedef void (*sts_cache_done_cb)(void *arg, int rc);
typedef void (*sts_cache_due_cb)(void *arg, int rc, char **domains,
    size_t n);	/* the callee owns domains (free each, then the array) */

/* Look domain up; touch_now > 0 also marks it used at that time. */
void sts_cache_get(sts_cache *c, util_chan *chan, const char *domain,
    int64_t touch_now, sts_cache_get_cb cb, void *arg);
void sts_cache_put(sts_cache *c, util_chan *chan, const char *domain,
    const char *id, const char *raw, size_t raw_len, int64_t now,
    sts_cache_done_cb cb, void *arg);
void sts_cache_note_failure(sts_cache *c, util_chan *chan,
    const char *domain, int64_t now, const char *reason,
    sts_cache_done_cb cb, void *arg);
void sts_cache_note_checked(sts_cache *c, util_chan *chan,
    const char *domain, int64_t now, sts_cache_done_cb cb, void *arg);
/* Mark domain used by a delivery at now (a policy a delivery fetched
 * and stored: the get before it found nothing to touch). */
void sts_cache_touch(sts_cache *c, util_chan *chan, const char *domain,
    int64_t now, sts_cache_done_cb cb, void *arg);
void sts_cache_due(sts_cache *c, util_chan *chan, int64_t now,
    int64_t used_within, int64_t ahead, int64_t recheck,
    sts_cache_due_cb cb, void *arg);

#endif
