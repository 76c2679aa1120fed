/*
 * sts_cache.c - MTA-STS policies in sqlite (RFC 8461 5.1), surviving
 * restarts.
 *
 * Where: its own database file, spool/sts.db (STS_CACHE_FILE), not a
 * table in queue.db.  The queue's store thread batches fsync-heavy group
 * commits; policy lookups and touches must never wait behind them, and
 * `sealpost sts ...` can open this file without going near the queue.
 *
 * How: two layers.
 *   - sts_db_*: one sqlite connection with prepared statements, used by
 *     whoever owns it (the cache thread, or the admin command directly).
 *     WAL, synchronous=NORMAL (a policy lost to a power cut is simply
 *     fetched again), busy timeout STS_DB_BUSY_MS so the admin command
 *     and the daemon can share the file.  Every write is one short
 *     autocommit statement.
 *   - sts_cache_*: a dedicated thread owns one sts_db, exactly like the
 *     queue's store thread (queue/queue_store.c): callers on any loop
 *     post requests under a mutex, the thread runs them in order, and the
 *     answer is posted to the caller's util_chan, so callbacks run on the
 *     caller's loop.  sqlite therefore never runs on an event loop: a
 *     checkpoint or a busy admin transaction stalls the cache thread, not
 *     deliveries.  A lookup round trip (post, SELECT by primary key,
 *     reparse of the stored body, answer) costs tens of microseconds; the
 *     unit test measures and prints it.
 *
 * The cache rules are the pure sts_cache_decide(); the stored body is
 * parsed again on every read, so the parser stays the only judge of
 * what a policy says.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "sts.h"

#define STS_DB_BUSY_MS	5000	/* wait for the other connection */
#define STS_DB_SCHEMA	1	/* PRAGMA user_version */

/* ---- entries and rules ------------------------------------------------------ */

void
sts_cache_entry_free(struct sts_cache_entry *e)
{
	if (e == NULL)
		return;
	sts_policy_free(e->policy);
	free(e->raw);
	free(e);
}

int
sts_cache_entry_valid(const struct sts_cache_entry *e, int64_t now)
{
	return e != NULL && e->policy != NULL && e->expires_at > now;
}

int
sts_cache_entry_expiring(const struct sts_cache_entry *e, int64_t now,
    int64_t ahead)
{
	int64_t half;

	if (e == NULL || e->policy == NULL)
		return 1;
	half = (int64_t)e->policy->max_age / 2;
	return e->expires_at <= now + (ahead > half ? ahead : half);
}

enum sts_cache_action
sts_cache_decide(const struct sts_cache_entry *cached,
    enum sts_txt_status txt, const char *txt_id, int64_t now)
{
	int valid = sts_cache_entry_valid(cached, now);

	if (txt == STS_TXT_FOUND) {
		if (valid && txt_id != NULL && strcmp(cached->id, txt_id) == 0)
			return STS_CACHE_USE_CACHED;
		return STS_CACHE_FETCH;
	}
	/* no record, or DNS trouble: never a reason to drop a policy */
	return valid ? STS_CACHE_USE_CACHED : STS_CACHE_NO_POLICY;
}

/* ---- the synchronous layer ------------------------------------------------- */

enum {
	ST_GET, ST_PUT, ST_FAIL, ST_CHECKED, ST_TOUCH, ST_FORGET, ST_LIST,
	ST_DUE, ST_COUNT
};

static const char *const sts_sql[ST_COUNT] = {
	[ST_GET] = "SELECT domain, policy_id, raw, fetched_at, expires_at, "
	    "last_used, checked_at, last_error FROM sts_policy "
	    "WHERE domain = ?1",
	[ST_PUT] = "INSERT INTO sts_policy (domain, policy_id, mode, max_age, "
	    "mx, raw, fetched_at, expires_at, last_used, checked_at, "
	    "last_error) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, ?7, '') "
	    "ON CONFLICT (domain) DO UPDATE SET policy_id = excluded.policy_id,"
	    " mode = excluded.mode, max_age = excluded.max_age, "
	    "mx = excluded.mx, raw = excluded.raw, "
	    "fetched_at = excluded.fetched_at, "
	    "expires_at = excluded.expires_at, "
	    "checked_at = excluded.checked_at, last_error = ''",
	[ST_FAIL] = "UPDATE sts_policy SET checked_at = ?2, last_error = ?3 "
	    "WHERE domain = ?1",
	[ST_CHECKED] = "UPDATE sts_policy SET checked_at = ?2, last_error = '' "
	    "WHERE domain = ?1",
	[ST_TOUCH] = "UPDATE sts_policy SET last_used = ?2 WHERE domain = ?1",
	[ST_FORGET] = "DELETE FROM sts_policy WHERE domain = ?1",
	[ST_LIST] = "SELECT domain, policy_id, raw, fetched_at, expires_at, "
	    "last_used, checked_at, last_error FROM sts_policy "
	    "ORDER BY domain",
	/* expiring: within ahead, or in the second half of its max_age */
	[ST_DUE] = "SELECT domain FROM sts_policy WHERE last_used > 0 AND "
	    "last_used >= ?1 - ?2 AND (expires_at <= ?1 + MAX(?3, max_age / 2) "
	    "OR checked_at <= ?1 - ?4) ORDER BY expires_at, domain",
};

static const char sts_schema[] =
    "CREATE TABLE IF NOT EXISTS sts_policy ("
    " domain     TEXT PRIMARY KEY NOT NULL,"	/* normalised */
    " policy_id  TEXT NOT NULL,"		/* TXT id at fetch time */
    " mode       TEXT NOT NULL,"		/* for people and queries */
    " max_age    INTEGER NOT NULL,"
    " mx         TEXT NOT NULL,"		/* patterns, one per line */
    " raw        BLOB NOT NULL,"		/* the body: the truth */
    " fetched_at INTEGER NOT NULL,"
    " expires_at INTEGER NOT NULL,"
    " last_used  INTEGER NOT NULL DEFAULT 0,"
    " checked_at INTEGER NOT NULL,"
    " last_error TEXT NOT NULL DEFAULT ''"
    ") WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS sts_policy_due ON sts_policy (last_used);"
    "PRAGMA user_version = 1;";

struct sts_db {
	sqlite3      *db;
	sqlite3_stmt *st[ST_COUNT];
};

void
sts_db_close(sts_db *d)
{
	size_t i;

	if (d == NULL)
		return;
	for (i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(d->st[i]);
	sqlite3_close(d->db);
	free(d);
}

sts_db *
sts_db_open(const char *path, int readonly, char *err, size_t errlen)
{
	sts_db *d = xcalloc(1, sizeof(*d));
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
	sqlite3_busy_timeout(d->db, STS_DB_BUSY_MS);
	if (!readonly && (sqlite3_exec(d->db, "PRAGMA journal_mode=WAL;"
	    "PRAGMA synchronous=NORMAL;", NULL, NULL, &msg) != SQLITE_OK ||
	    sqlite3_exec(d->db, sts_schema, NULL, NULL, &msg) != SQLITE_OK)) {
		snprintf(err, errlen, "%s: %s", path, msg ? msg : "schema");
		sqlite3_free(msg);
		goto bad;
	}
	if (sqlite3_prepare_v2(d->db, "PRAGMA user_version", -1, &v, NULL) ==
	    SQLITE_OK && sqlite3_step(v) == SQLITE_ROW)
		version = sqlite3_column_int(v, 0);
	sqlite3_finalize(v);
	if (version != STS_DB_SCHEMA) {
		snprintf(err, errlen, "%s: not an MTA-STS cache (schema %d)",
		    path, version);
		goto bad;
	}
	for (i = 0; i < ST_COUNT; i++)
		if (sqlite3_prepare_v2(d->db, sts_sql[i], -1, &d->st[i],
		    NULL) != SQLITE_OK) {
			snprintf(err, errlen, "%s: %s", path,
			    sqlite3_errmsg(d->db));
			goto bad;
		}
	return d;
bad:
	sts_db_close(d);
	return NULL;
}

static void
db_error(sts_db *d, const char *what)
{
	log_error("sts cache: %s: %s", what, sqlite3_errmsg(d->db));
}

/* Normalise domain into out; -1 (logged) when it is not a name. */
static int
db_domain(const char *domain, char out[STS_DOMAIN_MAX])
{
	if (domain == NULL ||
	    sts_domain_normalize(domain, strlen(domain), out,
	    STS_DOMAIN_MAX) < 0)
		return -1;
	return 0;
}

static const char *
col_text(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	return t ? (const char *)t : "";
}

/* The current row of GET/LIST as an entry; NULL if the body no longer
 * parses (the entry is then treated as absent). */
static struct sts_cache_entry *
row_entry(sqlite3_stmt *s)
{
	struct sts_cache_entry *e = xcalloc(1, sizeof(*e));
	const void *raw = sqlite3_column_blob(s, 2);
	int n = sqlite3_column_bytes(s, 2);
	char why[STS_REASON_MAX];

	snprintf(e->domain, sizeof(e->domain), "%s", col_text(s, 0));
	snprintf(e->id, sizeof(e->id), "%s", col_text(s, 1));
	e->raw_len = n > 0 ? (size_t)n : 0;
	e->raw = xmalloc(e->raw_len + 1);
	if (e->raw_len)
		memcpy(e->raw, raw, e->raw_len);
	e->raw[e->raw_len] = '\0';
	e->fetched_at = sqlite3_column_int64(s, 3);
	e->expires_at = sqlite3_column_int64(s, 4);
	e->last_used = sqlite3_column_int64(s, 5);
	e->checked_at = sqlite3_column_int64(s, 6);
	snprintf(e->last_error, sizeof(e->last_error), "%s", col_text(s, 7));
	if (sts_policy_parse(e->raw, e->raw_len, &e->policy, why,
	    sizeof(why)) < 0) {
		log_warn("sts cache: domain=%s stored policy unreadable (%s)",
		    e->domain, why);
		sts_cache_entry_free(e);
		return NULL;
	}
	return e;
}

int
sts_db_get(sts_db *d, const char *domain, struct sts_cache_entry **out)
{
	sqlite3_stmt *s = d->st[ST_GET];
	char dom[STS_DOMAIN_MAX];
	int rc;

	*out = NULL;
	if (db_domain(domain, dom) < 0)
		return 0;
	sqlite3_bind_text(s, 1, dom, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*out = row_entry(s);
	else if (rc != SQLITE_DONE)
		db_error(d, "get");
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return -1;
	return *out != NULL;
}

/* Run a bound write statement to its end; 0 or -1 (logged). */
static int
db_write(sts_db *d, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (rc != SQLITE_DONE) {
		db_error(d, what);
		return -1;
	}
	return 0;
}

int
sts_db_put(sts_db *d, const char *domain, const char *id, const char *raw,
    size_t raw_len, int64_t now)
{
	sqlite3_stmt *s = d->st[ST_PUT];
	struct sts_policy *p;
	char dom[STS_DOMAIN_MAX], why[STS_REASON_MAX], check[STS_ID_MAX + 1];
	struct dynbuf mx;
	size_t i;
	int rc;

	if (db_domain(domain, dom) < 0 || id == NULL || id[0] == '\0' ||
	    strlen(id) > STS_ID_MAX)
		return -1;
	/* the id must be one a TXT record could carry */
	{
		char rec[STS_ID_MAX + 16];

		snprintf(rec, sizeof(rec), "v=STSv1; id=%s", id);
		if (sts_txt_record_parse(rec, strlen(rec), check) < 0)
			return -1;
	}
	if (sts_policy_parse(raw, raw_len, &p, why, sizeof(why)) < 0) {
		log_warn("sts cache: domain=%s not storing an invalid policy "
		    "(%s)", dom, why);
		return -1;
	}
	dynbuf_init(&mx, STS_POLICY_MAX);
	for (i = 0; i < p->nmx; i++)
		dynbuf_addf(&mx, "%s%s", i ? "\n" : "", p->mx[i]);
	sqlite3_bind_text(s, 1, dom, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, sts_mode_name(p->mode), -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, p->max_age);
	sqlite3_bind_text(s, 5, mx.p ? mx.p : "", -1, SQLITE_STATIC);
	sqlite3_bind_blob(s, 6, raw_len ? raw : "", (int)raw_len,
	    SQLITE_STATIC);
	sqlite3_bind_int64(s, 7, now);
	sqlite3_bind_int64(s, 8, now + (int64_t)p->max_age);
	rc = db_write(d, s, "put");
	dynbuf_free(&mx);
	sts_policy_free(p);
	return rc;
}

int
sts_db_note_failure(sts_db *d, const char *domain, int64_t now,
    const char *reason)
{
	sqlite3_stmt *s = d->st[ST_FAIL];
	char dom[STS_DOMAIN_MAX], shown[STS_REASON_MAX];

	if (db_domain(domain, dom) < 0)
		return -1;
	util_printable(reason ? reason : "", strlen(reason ? reason : ""),
	    shown, sizeof(shown));
	sqlite3_bind_text(s, 1, dom, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, now);
	sqlite3_bind_text(s, 3, shown, -1, SQLITE_STATIC);
	return db_write(d, s, "note failure");
}

int
sts_db_note_checked(sts_db *d, const char *domain, int64_t now)
{
	sqlite3_stmt *s = d->st[ST_CHECKED];
	char dom[STS_DOMAIN_MAX];

	if (db_domain(domain, dom) < 0)
		return -1;
	sqlite3_bind_text(s, 1, dom, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, now);
	return db_write(d, s, "note checked");
}

int
sts_db_touch(sts_db *d, const char *domain, int64_t now)
{
	sqlite3_stmt *s = d->st[ST_TOUCH];
	char dom[STS_DOMAIN_MAX];

	if (db_domain(domain, dom) < 0)
		return -1;
	sqlite3_bind_text(s, 1, dom, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, now);
	return db_write(d, s, "touch");
}

int
sts_db_forget(sts_db *d, const char *domain)
{
	sqlite3_stmt *s = d->st[ST_FORGET];
	char dom[STS_DOMAIN_MAX];

	if (db_domain(domain, dom) < 0)
		return 0;
	sqlite3_bind_text(s, 1, dom, -1, SQLITE_STATIC);
	if (db_write(d, s, "forget") < 0)
		return -1;
	return sqlite3_changes(d->db) > 0;
}

int
sts_db_list(sts_db *d, void (*cb)(void *arg, const struct sts_cache_entry *e),
    void *arg)
{
	sqlite3_stmt *s = d->st[ST_LIST];
	int rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct sts_cache_entry *e = row_entry(s);

		if (e != NULL)
			cb(arg, e);
		sts_cache_entry_free(e);
	}
	if (rc != SQLITE_DONE)
		db_error(d, "list");
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
sts_db_due(sts_db *d, int64_t now, int64_t used_within, int64_t ahead,
    int64_t recheck, void (*cb)(void *arg, const char *domain), void *arg)
{
	sqlite3_stmt *s = d->st[ST_DUE];
	int rc;

	sqlite3_bind_int64(s, 1, now);
	sqlite3_bind_int64(s, 2, used_within);
	sqlite3_bind_int64(s, 3, ahead);
	sqlite3_bind_int64(s, 4, recheck);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		cb(arg, col_text(s, 0));
	if (rc != SQLITE_DONE)
		db_error(d, "due");
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* ---- the cache thread -------------------------------------------------------- */

enum req_kind {
	REQ_GET, REQ_PUT, REQ_FAIL, REQ_CHECKED, REQ_TOUCH, REQ_DUE
};

struct cache_req {
	struct cache_req *next;
	enum req_kind     kind;
	util_chan        *chan;
	void             *arg;
	sts_cache_get_cb  get_cb;
	sts_cache_done_cb done_cb;
	sts_cache_due_cb  due_cb;
	char              domain[STS_DOMAIN_MAX];
	char              id[STS_ID_MAX + 1];
	char             *raw;		/* PUT body; FAIL reason */
	size_t            raw_len;
	int64_t           now, used_within, ahead, recheck;
	int               rc;
	struct sts_cache_entry *entry;	/* GET result */
	char            **domains;	/* DUE result */
	size_t            ndomains, cap;
};

struct sts_cache {
	sts_db           *db;
	uv_thread_t       thread;
	uv_mutex_t        lock;
	uv_cond_t         cond;
	struct cache_req *head, *tail;	/* under lock */
	int               stopping;	/* under lock */
};

static void
req_reply(void *v)
{
	struct cache_req *r = v;

	switch (r->kind) {
	case REQ_GET:
		r->get_cb(r->arg, r->rc, r->entry);	/* callee owns entry */
		break;
	case REQ_PUT:
	case REQ_FAIL:
	case REQ_CHECKED:
	case REQ_TOUCH:
		if (r->done_cb)
			r->done_cb(r->arg, r->rc);
		break;
	case REQ_DUE:
		r->due_cb(r->arg, r->rc, r->domains, r->ndomains);
		break;
	}
	free(r->raw);
	free(r);
}

static void
due_collect(void *arg, const char *domain)
{
	struct cache_req *r = arg;

	if (r->ndomains == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 16;
		r->domains = xrealloc(r->domains, r->cap * sizeof(char *));
	}
	r->domains[r->ndomains++] = xstrdup(domain);
}

static void
req_run(sts_db *db, struct cache_req *r)
{
	switch (r->kind) {
	case REQ_GET:
		r->rc = sts_db_get(db, r->domain, &r->entry);
		if (r->rc == 1 && r->now > 0 &&
		    sts_db_touch(db, r->domain, r->now) == 0)
			r->entry->last_used = r->now;
		r->rc = r->rc < 0 ? -1 : 0;
		break;
	case REQ_PUT:
		r->rc = sts_db_put(db, r->domain, r->id, r->raw, r->raw_len,
		    r->now);
		break;
	case REQ_FAIL:
		r->rc = sts_db_note_failure(db, r->domain, r->now, r->raw);
		break;
	case REQ_CHECKED:
		r->rc = sts_db_note_checked(db, r->domain, r->now);
		break;
	case REQ_TOUCH:
		r->rc = sts_db_touch(db, r->domain, r->now);
		break;
	case REQ_DUE:
		r->rc = sts_db_due(db, r->now, r->used_within, r->ahead,
		    r->recheck, due_collect, r);
		break;
	}
}

static void
cache_thread(void *arg)
{
	sts_cache *c = arg;
	struct cache_req *r;

	for (;;) {
		uv_mutex_lock(&c->lock);
		while (c->head == NULL && !c->stopping)
			uv_cond_wait(&c->cond, &c->lock);
		r = c->head;
		if (r != NULL) {
			c->head = r->next;
			if (c->head == NULL)
				c->tail = NULL;
		}
		uv_mutex_unlock(&c->lock);
		if (r == NULL)
			break;		/* stopping and drained */
		req_run(c->db, r);
		util_chan_post(r->chan, req_reply, r);
	}
}

sts_cache *
sts_cache_open(const char *path, char *err, size_t errlen)
{
	sts_cache *c = xcalloc(1, sizeof(*c));

	c->db = sts_db_open(path, 0, err, errlen);
	if (c->db == NULL) {
		free(c);
		return NULL;
	}
	uv_mutex_init(&c->lock);
	uv_cond_init(&c->cond);
	if (uv_thread_create(&c->thread, cache_thread, c) != 0) {
		snprintf(err, errlen, "cannot start the sts cache thread");
		uv_cond_destroy(&c->cond);
		uv_mutex_destroy(&c->lock);
		sts_db_close(c->db);
		free(c);
		return NULL;
	}
	return c;
}

void
sts_cache_close(sts_cache *c)
{
	if (c == NULL)
		return;
	uv_mutex_lock(&c->lock);
	c->stopping = 1;
	uv_cond_signal(&c->cond);
	uv_mutex_unlock(&c->lock);
	uv_thread_join(&c->thread);
	uv_cond_destroy(&c->cond);
	uv_mutex_destroy(&c->lock);
	sts_db_close(c->db);
	free(c);
}

static struct cache_req *
req_new(enum req_kind kind, util_chan *chan, const char *domain, void *arg)
{
	struct cache_req *r = xcalloc(1, sizeof(*r));

	UTIL_ASSERT(chan != NULL);
	r->kind = kind;
	r->chan = chan;
	r->arg = arg;
	/* invalid names are kept out by the db layer: it answers "absent"
	 * or -1 for an empty domain */
	if (domain != NULL)
		snprintf(r->domain, sizeof(r->domain), "%s", domain);
	return r;
}

static void
req_post(sts_cache *c, struct cache_req *r)
{
	uv_mutex_lock(&c->lock);
	UTIL_ASSERT(!c->stopping);
	if (c->tail)
		c->tail->next = r;
	else
		c->head = r;
	c->tail = r;
	uv_cond_signal(&c->cond);
	uv_mutex_unlock(&c->lock);
}

void
sts_cache_get(sts_cache *c, util_chan *chan, const char *domain,
    int64_t touch_now, sts_cache_get_cb cb, void *arg)
{
	struct cache_req *r = req_new(REQ_GET, chan, domain, arg);

	r->get_cb = cb;
	r->now = touch_now;
	req_post(c, r);
}

void
sts_cache_put(sts_cache *c, util_chan *chan, const char *domain,
    const char *id, const char *raw, size_t raw_len, int64_t now,
    sts_cache_done_cb cb, void *arg)
{
	struct cache_req *r = req_new(REQ_PUT, chan, domain, arg);

	r->done_cb = cb;
	/* an over-long id stays empty and is refused by sts_db_put */
	if (id != NULL && strlen(id) <= STS_ID_MAX)
		snprintf(r->id, sizeof(r->id), "%s", id);
	r->raw = xmalloc(raw_len + 1);
	if (raw_len)
		memcpy(r->raw, raw, raw_len);
	r->raw[raw_len] = '\0';
	r->raw_len = raw_len;
	r->now = now;
	req_post(c, r);
}

void
sts_cache_note_failure(sts_cache *c, util_chan *chan, const char *domain,
    int64_t now, const char *reason, sts_cache_done_cb cb, void *arg)
{
	struct cache_req *r = req_new(REQ_FAIL, chan, domain, arg);

	r->done_cb = cb;
	r->raw = xstrdup(reason ? reason : "");
	r->now = now;
	req_post(c, r);
}

void
sts_cache_note_checked(sts_cache *c, util_chan *chan, const char *domain,
    int64_t now, sts_cache_done_cb cb, void *arg)
{
	struct cache_req *r = req_new(REQ_CHECKED, chan, domain, arg);

	r->done_cb = cb;
	r->now = now;
	req_post(c, r);
}

void
sts_cache_touch(sts_cache *c, util_chan *chan, const char *domain,
    int64_t now, sts_cache_done_cb cb, void *arg)
{
	struct cache_req *r = req_new(REQ_TOUCH, chan, domain, arg);

	r->done_cb = cb;
	r->now = now;
	req_post(c, r);
}

void
sts_cache_due(sts_cache *c, util_chan *chan, int64_t now,
    int64_t used_within, int64_t ahead, int64_t recheck, sts_cache_due_cb cb,
    void *arg)
{
	struct cache_req *r = req_new(REQ_DUE, chan, NULL, arg);

	r->due_cb = cb;
	r->now = now;
	r->used_within = used_within;
	r->ahead = ahead;
	r->recheck = recheck;
	req_post(c, r);
}
