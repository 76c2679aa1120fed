/*
 * tlsrpt_store.c - TLS-RPT results (RFC 8460 4) aggregated on write in
 * sqlite, spool/tlsrpt.db.
 *
 * Two layers, as in sts_cache.c:
 *   - tlsrpt_db_*: one sqlite connection with prepared statements, used
 *     by whoever owns it (the writer thread, the report builder, the
 *     admin command).  WAL, synchronous=NORMAL: a power cut may lose the
 *     last second of counters, never the file.
 *   - tlsrpt_store_*: the recording path.  Delivery threads call
 *     tlsrpt_store_add() (through tls_report_record()); it packs the
 *     result into one allocation, already sanitised and bounded, and
 *     appends it to a list under a mutex - no sqlite, no I/O, no
 *     waiting on the writer.  A dedicated writer thread takes the whole
 *     list every flush_ms or when flush_entries are waiting, sums equal
 *     keys in memory, and writes one UPSERT per distinct key in a single
 *     transaction ("count = count + excluded.count").  So the database
 *     holds counters keyed by (UTC day, policy domain, policy type,
 *     policy strings, mx-host patterns) and, for failures, also by
 *     (result type, sending IP, receiving MX, receiving IP, additional
 *     information); never a row per session.
 *
 * Keys: every text field is made printable (bytes outside 0x20-0x7e
 * become '?') and cut to its TLSRPT_*_MAX, so 0x1f (our field separator
 * inside a packed record) and '\n' (the separator of lists in a column)
 * can never come from the peer.  Names are lower-cased, a final dot
 * dropped.  Empty text means "unknown" ("" rather than NULL, so UNIQUE
 * constraints treat unknowns as equal).
 *
 * Retention: days before now - retention_days are deleted when the
 * store opens and then hourly by the writer thread.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "tlsrpt.h"
#include "util.h"

#define TLSRPT_DB_BUSY_MS	5000	/* wait for the other connection */
#define TLSRPT_DB_SCHEMA	1	/* PRAGMA user_version */
#define TLSRPT_EXPIRE_EVERY_MS	(3600 * 1000)
#define TLSRPT_DB_CACHE_KB	16384	/* page cache: a big batch of new
					 * keys must not spill mid-transaction */
#define SP_XSTR(x)		#x
#define SP_STR(x)		SP_XSTR(x)
#define TLSRPT_SEP		'\x1f'	/* between fields of a packed key */
#define TLSRPT_NFIELDS		9
#define TLSRPT_NPOLICY_FIELDS	4	/* domain type strings mx */
#define TLSRPT_LINES_MAX	64	/* policy-string lines, mx patterns
					 * kept from one result */
#define TLSRPT_REC_MAX		(TLSRPT_LINES_MAX * (TLSRPT_STRING_MAX + 1) + \
				 TLSRPT_LINES_MAX * (TLSRPT_NAME_MAX + 1) + 4096)

/* ---- days ----------------------------------------------------------------- */

void
tlsrpt_day(int64_t t, char out[TLSRPT_DAY_LEN])
{
	time_t tt = (time_t)t;
	struct tm tm;
	char buf[64];

	if (gmtime_r(&tt, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	snprintf(buf, sizeof(buf), "%04u-%02u-%02u",
	    (unsigned)(tm.tm_year + 1900) % 10000,
	    (unsigned)(tm.tm_mon + 1) % 100, (unsigned)tm.tm_mday % 100);
	memcpy(out, buf, TLSRPT_DAY_LEN - 1);
	out[TLSRPT_DAY_LEN - 1] = '\0';
}

int
tlsrpt_day_valid(const char *day)
{
	static const int mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30,
	    31, 30, 31 };
	uint64_t y, m, d;

	if (day == NULL || strlen(day) != 10 || day[4] != '-' ||
	    day[7] != '-' ||
	    util_parse_uint(day, 4, 9999, &y) < 0 || y < 1970 ||
	    util_parse_uint(day + 5, 2, 12, &m) < 0 || m < 1 ||
	    util_parse_uint(day + 8, 2, 31, &d) < 0 || d < 1 ||
	    d > (uint64_t)mdays[m - 1])
		return -1;
	if (m == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 ||
	    y % 400 == 0)))
		return -1;
	return 0;
}

/* ---- the synchronous layer -------------------------------------------------- */

enum {
	ST_UP_POLICY, ST_UP_FAILURE, ST_EXP_POLICY, ST_EXP_FAILURE,
	ST_POLICIES, ST_FAILURES, ST_DOMAINS, ST_COUNT
};

#define POLICY_KEY "day, domain, policy_type, policy_strings, mx_hosts"

static const char *const tlsrpt_sql[ST_COUNT] = {
	[ST_UP_POLICY] = "INSERT INTO tlsrpt_policy (" POLICY_KEY ", "
	    "success, failure) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
	    "ON CONFLICT (" POLICY_KEY ") DO UPDATE SET "
	    "success = success + excluded.success, "
	    "failure = failure + excluded.failure",
	[ST_UP_FAILURE] = "INSERT INTO tlsrpt_failure (" POLICY_KEY ", "
	    "result_type, sending_ip, mx_host, receiving_ip, info, count) "
	    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) "
	    "ON CONFLICT (" POLICY_KEY ", result_type, sending_ip, mx_host, "
	    "receiving_ip, info) DO UPDATE SET "
	    "count = count + excluded.count",
	[ST_EXP_POLICY] = "DELETE FROM tlsrpt_policy WHERE day < ?1",
	[ST_EXP_FAILURE] = "DELETE FROM tlsrpt_failure WHERE day < ?1",
	[ST_POLICIES] = "SELECT " POLICY_KEY ", success, failure "
	    "FROM tlsrpt_policy WHERE day = ?1 AND (?2 IS NULL OR "
	    "domain = ?2) ORDER BY domain, policy_type, policy_strings, "
	    "mx_hosts",
	[ST_FAILURES] = "SELECT result_type, sending_ip, mx_host, "
	    "receiving_ip, info, count FROM tlsrpt_failure WHERE day = ?1 "
	    "AND domain = ?2 AND policy_type = ?3 AND policy_strings = ?4 "
	    "AND mx_hosts = ?5 ORDER BY result_type, mx_host, receiving_ip, "
	    "sending_ip, info",
	[ST_DOMAINS] = "SELECT DISTINCT domain FROM tlsrpt_policy "
	    "WHERE day = ?1 ORDER BY domain",
};

static const char tlsrpt_schema[] =
    "CREATE TABLE IF NOT EXISTS tlsrpt_policy ("
    " day            TEXT NOT NULL,"	/* YYYY-MM-DD, UTC */
    " domain         TEXT NOT NULL,"	/* policy-domain */
    " policy_type    TEXT NOT NULL,"	/* tlsa | sts | no-policy-found */
    " policy_strings TEXT NOT NULL,"	/* one per line */
    " mx_hosts       TEXT NOT NULL,"	/* patterns, one per line */
    " success        INTEGER NOT NULL DEFAULT 0,"
    " failure        INTEGER NOT NULL DEFAULT 0,"
    " UNIQUE (" POLICY_KEY "));"
    "CREATE TABLE IF NOT EXISTS tlsrpt_failure ("
    " day            TEXT NOT NULL,"
    " domain         TEXT NOT NULL,"
    " policy_type    TEXT NOT NULL,"
    " policy_strings TEXT NOT NULL,"
    " mx_hosts       TEXT NOT NULL,"
    " result_type    TEXT NOT NULL,"
    " sending_ip     TEXT NOT NULL,"
    " mx_host        TEXT NOT NULL,"
    " receiving_ip   TEXT NOT NULL,"
    " info           TEXT NOT NULL,"
    " count          INTEGER NOT NULL DEFAULT 0,"
    " UNIQUE (" POLICY_KEY ", result_type, sending_ip, mx_host,"
    "  receiving_ip, info));"
    "PRAGMA user_version = 1;";

struct tlsrpt_db {
	sqlite3      *db;
	sqlite3_stmt *st[ST_COUNT];
};

void
tlsrpt_db_close(tlsrpt_db *d)
{
	size_t i;

	if (d == NULL)
		return;
	for (i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(d->st[i]);
	sqlite3_close(d->db);
	free(d);
}

tlsrpt_db *
tlsrpt_db_open(const char *path, int readonly, char *err, size_t errlen)
{
	tlsrpt_db *d = xcalloc(1, sizeof(*d));
	int flags = SQLITE_OPEN_NOMUTEX | (readonly ? SQLITE_OPEN_READONLY :
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
	sqlite3_stmt *v = NULL;
	char *msg = NULL;
	int version = -1;
	size_t i;

	if (sqlite3_open_v2(path, &d->db, flags, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, d->db ?
		    sqlite3_errmsg(d->db) : "cannot open");
		goto bad;
	}
	sqlite3_busy_timeout(d->db, TLSRPT_DB_BUSY_MS);
	if (!readonly && (sqlite3_exec(d->db, "PRAGMA journal_mode=WAL;"
	    "PRAGMA synchronous=NORMAL;"
	    "PRAGMA cache_size=-" SP_STR(TLSRPT_DB_CACHE_KB) ";", NULL, NULL,
	    &msg) != SQLITE_OK ||
	    sqlite3_exec(d->db, tlsrpt_schema, NULL, NULL, &msg) !=
	    SQLITE_OK)) {
		snprintf(err, errlen, "%s: %s", path, msg ? msg : "schema");
		sqlite3_free(msg);
		goto bad;
	}
	if (sqlite3_prepare_v2(d->db, "PRAGMA user_version", -1, &v, NULL) ==
	    SQLITE_OK && sqlite3_step(v) == SQLITE_ROW)
		version = sqlite3_column_int(v, 0);
	sqlite3_finalize(v);
	if (version != TLSRPT_DB_SCHEMA) {
		snprintf(err, errlen, "%s: not a TLS-RPT database (schema %d)",
		    path, version);
		goto bad;
	}
	for (i = 0; i < ST_COUNT; i++) {
		/* a read-only opener prepares only what it can run */
		if (readonly && i <= ST_EXP_FAILURE)
			continue;
		if (sqlite3_prepare_v2(d->db, tlsrpt_sql[i], -1, &d->st[i],
		    NULL) != SQLITE_OK) {
			snprintf(err, errlen, "%s: %s", path,
			    sqlite3_errmsg(d->db));
			goto bad;
		}
	}
	return d;
bad:
	tlsrpt_db_close(d);
	return NULL;
}

static void
db_error(tlsrpt_db *d, const char *what)
{
	log_error("tlsrpt: %s: %s", what, sqlite3_errmsg(d->db));
}

static const char *
col_text(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	return t ? (const char *)t : "";
}

static uint64_t
col_count(sqlite3_stmt *s, int i)
{
	sqlite3_int64 v = sqlite3_column_int64(s, i);

	return v > 0 ? (uint64_t)v : 0;
}

static int
db_run(tlsrpt_db *d, sqlite3_stmt *s, const char *what)
{
	int rc;

	if (s == NULL)
		return -1;		/* read-only connection */
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (rc != SQLITE_DONE) {
		db_error(d, what);
		return -1;
	}
	return 0;
}

int
tlsrpt_db_policies(tlsrpt_db *d, const char *day, const char *domain,
    void (*cb)(void *arg, const struct tlsrpt_policy_row *p), void *arg)
{
	sqlite3_stmt *s = d->st[ST_POLICIES];
	struct tlsrpt_policy_row p;
	int rc;

	sqlite3_bind_text(s, 1, day, -1, SQLITE_STATIC);
	if (domain != NULL)
		sqlite3_bind_text(s, 2, domain, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, 2);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		p.day = col_text(s, 0);
		p.domain = col_text(s, 1);
		p.type = col_text(s, 2);
		p.strings = col_text(s, 3);
		p.mx = col_text(s, 4);
		p.success = col_count(s, 5);
		p.failure = col_count(s, 6);
		cb(arg, &p);
	}
	if (rc != SQLITE_DONE)
		db_error(d, "policies");
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
tlsrpt_db_failures(tlsrpt_db *d, const struct tlsrpt_policy_row *p,
    void (*cb)(void *arg, const struct tlsrpt_failure_row *f), void *arg)
{
	sqlite3_stmt *s = d->st[ST_FAILURES];
	struct tlsrpt_failure_row f;
	int rc;

	sqlite3_bind_text(s, 1, p->day, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 2, p->domain, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 3, p->type, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 4, p->strings, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 5, p->mx, -1, SQLITE_TRANSIENT);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		f.result = col_text(s, 0);
		f.sending_ip = col_text(s, 1);
		f.mx_host = col_text(s, 2);
		f.receiving_ip = col_text(s, 3);
		f.info = col_text(s, 4);
		f.count = col_count(s, 5);
		cb(arg, &f);
	}
	if (rc != SQLITE_DONE)
		db_error(d, "failures");
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
tlsrpt_db_domains(tlsrpt_db *d, const char *day,
    void (*cb)(void *arg, const char *domain), void *arg)
{
	sqlite3_stmt *s = d->st[ST_DOMAINS];
	int rc;

	sqlite3_bind_text(s, 1, day, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		cb(arg, col_text(s, 0));
	if (rc != SQLITE_DONE)
		db_error(d, "domains");
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
tlsrpt_db_expire(tlsrpt_db *d, int64_t cutoff)
{
	char day[TLSRPT_DAY_LEN];
	int rc = 0;

	tlsrpt_day(cutoff, day);
	if (d->st[ST_EXP_POLICY] == NULL)
		return -1;
	sqlite3_bind_text(d->st[ST_EXP_POLICY], 1, day, -1, SQLITE_STATIC);
	sqlite3_bind_text(d->st[ST_EXP_FAILURE], 1, day, -1, SQLITE_STATIC);
	if (db_run(d, d->st[ST_EXP_POLICY], "expire") < 0 ||
	    db_run(d, d->st[ST_EXP_FAILURE], "expire") < 0)
		rc = -1;
	return rc;
}

/* ---- packing one result ------------------------------------------------------- */

/*
 * One recorded result: key is TLSRPT_NFIELDS fields joined by
 * TLSRPT_SEP, the first TLSRPT_NPOLICY_FIELDS of which (plen bytes) are
 * the policy's key.  Successes leave the failure fields empty.
 */
struct tlsrpt_rec {
	struct tlsrpt_rec *next;
	int64_t  day;			/* days since the epoch, UTC */
	size_t   plen;
	int      failure;
	char     key[];
};

/*
 * The packed key is written straight into the record's one allocation,
 * of exactly the size needed (the delivery path pays one small malloc,
 * which glibc serves from its per-thread cache): rec_make() runs the
 * same writer twice, first with p == NULL to count.
 */
struct kbuf {
	char  *p;		/* NULL: only count */
	size_t len, cap;
};

static void
put_raw(struct kbuf *b, const char *s, size_t n)
{
	if (b->p != NULL) {
		UTIL_ASSERT(n <= b->cap - b->len);
		memcpy(b->p + b->len, s, n);
	}
	b->len += n;
}

static void
put_sep(struct kbuf *b)
{
	char c = TLSRPT_SEP;

	put_raw(b, &c, 1);
}

/* Append s made printable and cut to max bytes ("..." marks a cut);
 * lower-cases and drops one final dot when name is set. */
static void
put_text(struct kbuf *b, const char *s, size_t len, size_t max, int name)
{
	size_t i, n = 0;
	char *o;

	if (s == NULL)
		return;
	if (name && len > 0 && s[len - 1] == '.')
		len--;
	if (b->p == NULL) {
		b->len += len < max ? len : max;
		return;
	}
	UTIL_ASSERT(max >= 3 && (len < max ? len : max) <= b->cap - b->len);
	o = b->p + b->len;
	for (i = 0; i < len && n < max; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c > 0x7e)
			c = '?';
		else if (name && c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		o[n++] = (char)c;
	}
	if (i < len) {
		n = max - 3;
		memcpy(o + n, "...", 3);
		n += 3;
	}
	b->len += n;
}

/* Calls fn(arg, line, len) for each non-empty line of the policy
 * strings (a string may be a whole STS body), at most TLSRPT_LINES_MAX. */
static void
policy_lines(const struct tls_report_result *r,
    void (*fn)(void *arg, const char *line, size_t len), void *arg)
{
	size_t i, n = 0;

	for (i = 0; i < r->npolicy_strings && i <
	    TLS_REPORT_POLICY_STRINGS_MAX && r->policy_strings; i++) {
		const char *p = r->policy_strings[i];

		while (p != NULL && *p != '\0' && n < TLSRPT_LINES_MAX) {
			const char *eol = strchr(p, '\n');
			size_t len = eol ? (size_t)(eol - p) : strlen(p);

			if (len > 0 && p[len - 1] == '\r')
				len--;
			if (len > 0) {
				fn(arg, p, len);
				n++;
			}
			p = eol ? eol + 1 : NULL;
		}
	}
}

struct lines_ctx {
	struct kbuf *b;
	size_t       n;
};

static void
line_put(void *arg, const char *line, size_t len)
{
	struct lines_ctx *c = arg;

	if (c->n++ > 0)
		put_raw(c->b, "\n", 1);
	put_text(c->b, line, len, TLSRPT_STRING_MAX, 0);
}

/* "mx:" lines of an STS policy: the value, trimmed, as a name. */
static int
mx_value(const char **line, size_t *len)
{
	const char *v = *line + 3;
	size_t n;

	if (*len <= 3 || util_strncasecmp(*line, "mx:", 3) != 0)
		return 0;
	n = *len - 3;
	while (n > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	*line = v;
	*len = n;
	return n > 0;
}

static void
mx_put(void *arg, const char *line, size_t len)
{
	struct lines_ctx *c = arg;

	if (!mx_value(&line, &len))
		return;
	if (c->n++ > 0)
		put_raw(c->b, "\n", 1);
	put_text(c->b, line, len, TLSRPT_NAME_MAX, 1);
}

/* The packed key of r into b; returns the policy part's length. */
static size_t
rec_write(struct kbuf *b, const struct tls_report_result *r,
    const char *sending_ip, enum tls_report_type t)
{
	struct lines_ctx lc = { b, 0 };
	size_t plen;

	put_text(b, r->policy_domain, r->policy_domain ?
	    strlen(r->policy_domain) : 0, TLSRPT_NAME_MAX, 1);
	put_sep(b);
	put_raw(b, tls_report_policy_name(r->policy_type),
	    strlen(tls_report_policy_name(r->policy_type)));
	put_sep(b);
	policy_lines(r, line_put, &lc);
	put_sep(b);
	if (r->policy_type == TLS_REPORT_POLICY_STS) {
		lc.n = 0;
		policy_lines(r, mx_put, &lc);
	}
	plen = b->len;
	put_sep(b);
	if (t == TLS_REPORT_SUCCESS) {
		put_raw(b, "\x1f\x1f\x1f\x1f", 4);
		return plen;
	}
	put_raw(b, tls_report_type_name(t), strlen(tls_report_type_name(t)));
	put_sep(b);
	put_text(b, sending_ip, sending_ip ? strlen(sending_ip) : 0,
	    TLSRPT_IP_MAX, 1);
	put_sep(b);
	put_text(b, r->mx_host, r->mx_host ? strlen(r->mx_host) : 0,
	    TLSRPT_NAME_MAX, 1);
	put_sep(b);
	put_text(b, r->receiving_ip, r->receiving_ip ?
	    strlen(r->receiving_ip) : 0, TLSRPT_IP_MAX, 1);
	put_sep(b);
	put_text(b, r->additional, r->additional ? strlen(r->additional) : 0,
	    TLSRPT_INFO_MAX, 0);
	return plen;
}

static struct tlsrpt_rec *
rec_make(const struct tls_report_result *r, const char *sending_ip,
    int64_t now)
{
	enum tls_report_type t = r->result;
	struct tlsrpt_rec *rec;
	struct kbuf b = { NULL, 0, 0 };

	if ((unsigned)t >= TLS_REPORT_NTYPES)
		t = TLS_REPORT_VALIDATION_FAILURE;
	rec_write(&b, r, sending_ip, t);		/* count */
	rec = xmalloc(sizeof(*rec) + b.len + 1);
	b.p = rec->key;
	b.cap = b.len;
	b.len = 0;
	rec->plen = rec_write(&b, r, sending_ip, t);
	UTIL_ASSERT(b.len == b.cap);
	rec->key[b.len] = '\0';
	rec->next = NULL;
	rec->day = now >= 0 ? now / 86400 : 0;
	rec->failure = t != TLS_REPORT_SUCCESS;
	return rec;
}

/* ---- the writer thread ---------------------------------------------------------- */

struct tlsrpt_store {
	tlsrpt_db         *db;
	unsigned           flush_ms, flush_entries, retention_days;
	uv_thread_t        thread;
	uv_mutex_t         lock;
	uv_cond_t          cond;	/* the writer waits for work */
	uv_cond_t          done;	/* flushers wait for the writer */
	struct tlsrpt_rec *head, *tail;	/* under lock */
	size_t             npending;	/* under lock */
	uint64_t           flush_req, flush_done;	/* under lock */
	int                stopping;	/* under lock */
	unsigned long      dropped;	/* under lock */
	uint64_t           last_expire_ms;	/* writer thread only */
};

static uv_once_t active_once = UV_ONCE_INIT;
static uv_mutex_t active_lock;
static tlsrpt_store *_Atomic active_store;

static void
active_init(void)
{
	if (uv_mutex_init(&active_lock) != 0)
		log_panic("tlsrpt: mutex");
}

/* Sum per key: policy counters, failure counts. */
struct agg {
	uint64_t success, failure;
};

static void
agg_add(util_htable *t, const char *key, int failure)
{
	struct agg *a = util_htable_get(t, key);

	if (a == NULL) {
		a = xcalloc(1, sizeof(*a));
		util_htable_put(t, key, a);
	}
	if (failure)
		a->failure++;
	else
		a->success++;
}

/* Split a copy of key at TLSRPT_SEP into at most n fields. */
static size_t
split_key(char *key, const char **f, size_t n)
{
	size_t i = 0;

	f[i++] = key;
	while (i < n && (key = strchr(key, TLSRPT_SEP)) != NULL) {
		*key++ = '\0';
		f[i++] = key;
	}
	return i;
}

struct flush_ctx {
	tlsrpt_db *db;
	int        failures;	/* which table */
	int        rc;
};

static void
flush_one(const char *key, void *value, void *arg)
{
	struct flush_ctx *fx = arg;
	struct agg *a = value;
	const char *f[1 + TLSRPT_NFIELDS];
	char *copy = xstrdup(key);
	size_t n = split_key(copy, f, 1 + TLSRPT_NFIELDS), i;
	sqlite3_stmt *s = fx->db->st[fx->failures ? ST_UP_FAILURE :
	    ST_UP_POLICY];

	UTIL_ASSERT(n == (fx->failures ? 1 + TLSRPT_NFIELDS :
	    1 + TLSRPT_NPOLICY_FIELDS));
	for (i = 0; i < n; i++)
		sqlite3_bind_text(s, (int)i + 1, f[i], -1, SQLITE_STATIC);
	if (fx->failures)
		sqlite3_bind_int64(s, (int)n + 1, (sqlite3_int64)a->failure);
	else {
		sqlite3_bind_int64(s, (int)n + 1, (sqlite3_int64)a->success);
		sqlite3_bind_int64(s, (int)n + 2, (sqlite3_int64)a->failure);
	}
	if (db_run(fx->db, s, "upsert") < 0)
		fx->rc = -1;
	free(copy);
}

static void
free_value(const char *key, void *value, void *arg)
{
	free(value);
}

/* Write a list of records in one transaction; frees the list. */
static int
flush_list(tlsrpt_db *db, struct tlsrpt_rec *list)
{
	util_htable *pol = util_htable_new(), *fail = util_htable_new();
	struct flush_ctx fx = { db, 0, 0 };
	struct dynbuf k;
	char day[TLSRPT_DAY_LEN];
	char *msg = NULL;

	dynbuf_init(&k, TLSRPT_REC_MAX + 64);
	while (list != NULL) {
		struct tlsrpt_rec *r = list;

		list = r->next;
		tlsrpt_day(r->day * 86400, day);
		dynbuf_reset(&k);
		dynbuf_addstr(&k, day);
		dynbuf_add(&k, "\x1f", 1);
		dynbuf_add(&k, r->key, r->plen);
		agg_add(pol, k.p, r->failure);
		if (r->failure) {
			dynbuf_addstr(&k, r->key + r->plen);
			agg_add(fail, k.p, 1);
		}
		free(r);
	}
	dynbuf_free(&k);
	if (sqlite3_exec(db->db, "BEGIN IMMEDIATE", NULL, NULL, &msg) !=
	    SQLITE_OK) {
		log_error("tlsrpt: begin: %s", msg ? msg : "?");
		sqlite3_free(msg);
		fx.rc = -1;
	} else {
		util_htable_walk(pol, flush_one, &fx);
		fx.failures = 1;
		util_htable_walk(fail, flush_one, &fx);
		if (sqlite3_exec(db->db, fx.rc == 0 ? "COMMIT" : "ROLLBACK",
		    NULL, NULL, &msg) != SQLITE_OK) {
			log_error("tlsrpt: commit: %s", msg ? msg : "?");
			sqlite3_free(msg);
			sqlite3_exec(db->db, "ROLLBACK", NULL, NULL, NULL);
			fx.rc = -1;
		}
	}
	if (fx.rc < 0)
		log_error("tlsrpt: %zu policy and %zu failure counters lost",
		    util_htable_count(pol), util_htable_count(fail));
	util_htable_walk(pol, free_value, NULL);
	util_htable_walk(fail, free_value, NULL);
	util_htable_free(pol);
	util_htable_free(fail);
	return fx.rc;
}

static void
maybe_expire(tlsrpt_store *s)
{
	uint64_t now = util_now_ms();

	if (s->retention_days == 0 || (s->last_expire_ms != 0 &&
	    now - s->last_expire_ms < TLSRPT_EXPIRE_EVERY_MS))
		return;
	s->last_expire_ms = now;
	tlsrpt_db_expire(s->db, util_wall_time() -
	    (int64_t)s->retention_days * 86400);
}

static void
writer_thread(void *arg)
{
	tlsrpt_store *s = arg;
	struct tlsrpt_rec *list;
	uint64_t gen;
	int stop;

	for (;;) {
		uv_mutex_lock(&s->lock);
		while (!s->stopping && s->npending < s->flush_entries &&
		    s->flush_req == s->flush_done)
			if (uv_cond_timedwait(&s->cond, &s->lock,
			    (uint64_t)s->flush_ms * 1000000) == UV_ETIMEDOUT)
				break;
		list = s->head;
		s->head = s->tail = NULL;
		s->npending = 0;
		gen = s->flush_req;
		stop = s->stopping;
		uv_mutex_unlock(&s->lock);
		if (list != NULL)
			flush_list(s->db, list);
		maybe_expire(s);
		uv_mutex_lock(&s->lock);
		s->flush_done = gen;
		uv_cond_broadcast(&s->done);
		uv_mutex_unlock(&s->lock);
		if (stop)
			break;
	}
}

tlsrpt_store *
tlsrpt_store_open(const char *path, unsigned flush_ms,
    unsigned flush_entries, unsigned retention_days, int activate,
    char *err, size_t errlen)
{
	tlsrpt_store *s = xcalloc(1, sizeof(*s));

	s->db = tlsrpt_db_open(path, 0, err, errlen);
	if (s->db == NULL) {
		free(s);
		return NULL;
	}
	s->flush_ms = flush_ms ? flush_ms : TLSRPT_FLUSH_MS;
	s->flush_entries = flush_entries ? flush_entries :
	    TLSRPT_FLUSH_ENTRIES;
	s->retention_days = retention_days;
	maybe_expire(s);
	uv_mutex_init(&s->lock);
	uv_cond_init(&s->cond);
	uv_cond_init(&s->done);
	if (uv_thread_create(&s->thread, writer_thread, s) != 0) {
		snprintf(err, errlen, "cannot start the tlsrpt writer thread");
		uv_cond_destroy(&s->done);
		uv_cond_destroy(&s->cond);
		uv_mutex_destroy(&s->lock);
		tlsrpt_db_close(s->db);
		free(s);
		return NULL;
	}
	if (activate) {
		uv_once(&active_once, active_init);
		uv_mutex_lock(&active_lock);
		if (atomic_load(&active_store) != NULL)
			log_warn("tlsrpt: a second store replaces the sink");
		atomic_store(&active_store, s);
		uv_mutex_unlock(&active_lock);
	}
	return s;
}

void
tlsrpt_store_close(tlsrpt_store *s)
{
	if (s == NULL)
		return;
	uv_once(&active_once, active_init);
	uv_mutex_lock(&active_lock);
	if (atomic_load(&active_store) == s)
		atomic_store(&active_store, NULL);
	uv_mutex_unlock(&active_lock);
	uv_mutex_lock(&s->lock);
	s->stopping = 1;
	uv_cond_signal(&s->cond);
	uv_mutex_unlock(&s->lock);
	uv_thread_join(&s->thread);
	UTIL_ASSERT(s->head == NULL);
	if (s->dropped)
		log_warn("tlsrpt: %lu results dropped (writer behind)",
		    s->dropped);
	uv_cond_destroy(&s->done);
	uv_cond_destroy(&s->cond);
	uv_mutex_destroy(&s->lock);
	tlsrpt_db_close(s->db);
	free(s);
}

static void
store_append(tlsrpt_store *s, struct tlsrpt_rec *rec)
{
	uv_mutex_lock(&s->lock);
	UTIL_ASSERT(!s->stopping);
	if (s->npending >= TLSRPT_PENDING_MAX) {
		s->dropped++;
		uv_mutex_unlock(&s->lock);
		free(rec);
		return;
	}
	if (s->tail)
		s->tail->next = rec;
	else
		s->head = rec;
	s->tail = rec;
	/* wake the writer only at the threshold: one signal per batch */
	if (++s->npending == s->flush_entries)
		uv_cond_signal(&s->cond);
	uv_mutex_unlock(&s->lock);
}

void
tlsrpt_store_add(tlsrpt_store *s, const struct tls_report_result *r,
    const char *sending_ip, int64_t now)
{
	store_append(s, rec_make(r, sending_ip ? sending_ip : r->sending_ip,
	    now));
}

int
tlsrpt_store_add_active(const struct tls_report_result *r)
{
	struct tlsrpt_rec *rec;
	tlsrpt_store *s;

	if (atomic_load(&active_store) == NULL)
		return 0;
	rec = rec_make(r, r->sending_ip, util_wall_time());
	uv_mutex_lock(&active_lock);
	s = atomic_load(&active_store);
	if (s != NULL)
		store_append(s, rec);
	uv_mutex_unlock(&active_lock);
	if (s == NULL)
		free(rec);
	return s != NULL;
}

void
tlsrpt_store_flush(tlsrpt_store *s)
{
	uint64_t gen;

	uv_mutex_lock(&s->lock);
	gen = ++s->flush_req;
	uv_cond_signal(&s->cond);
	while (s->flush_done < gen)
		uv_cond_wait(&s->done, &s->lock);
	uv_mutex_unlock(&s->lock);
}

unsigned long
tlsrpt_store_dropped(const tlsrpt_store *s)
{
	unsigned long n;

	uv_mutex_lock((uv_mutex_t *)&s->lock);
	n = s->dropped;
	uv_mutex_unlock((uv_mutex_t *)&s->lock);
	return n;
}
