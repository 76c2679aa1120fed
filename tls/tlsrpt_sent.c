/*
 * tlsrpt_sent.c - the sender's memory: which report went where
 * (table tlsrpt_sent in spool/tlsrpt.db).
 *
 * A (day, domain, uri) row is created DUE before anything leaves and is
 * the only thing that says whether a report may still be sent, so "at
 * most once" survives restarts and a second "send-now".  The sender
 * thread owns a read-write connection; "sealpost tlsrpt status" opens its
 * own read-only one.  The result store (tlsrpt_store.c) owns the other
 * tables of the file and its schema version; this table is created here
 * with IF NOT EXISTS and does not touch user_version, so either side may
 * be first.  Statements are prepared once and bound, never formatted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "tlsrpt.h"
#include "util.h"

#define SENT_BUSY_MS	5000	/* the result writer holds the lock briefly */

static const char sent_schema[] =
    "CREATE TABLE IF NOT EXISTS tlsrpt_sent ("
    " day TEXT NOT NULL, domain TEXT NOT NULL, uri TEXT NOT NULL,"
    " state INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0,"
    " first_try INTEGER NOT NULL DEFAULT 0,"
    " next_try INTEGER NOT NULL DEFAULT 0,"
    " updated INTEGER NOT NULL DEFAULT 0,"
    " queue_id TEXT NOT NULL DEFAULT '',"
    " last_error TEXT NOT NULL DEFAULT '',"
    " PRIMARY KEY (day, domain, uri));"
    "CREATE INDEX IF NOT EXISTS tlsrpt_sent_due ON tlsrpt_sent"
    " (state, next_try);";

#define SENT_COLS "day, domain, uri, state, attempts, first_try, next_try, " \
	"updated, queue_id, last_error"

enum {
	ST_INSERT, ST_GET, ST_UPDATE, ST_LIST_ALL, ST_LIST_DAY, ST_DUE,
	ST_EXPIRE, ST_COUNT
};

static const char *const sent_sql[ST_COUNT] = {
	"INSERT OR IGNORE INTO tlsrpt_sent (day, domain, uri, state, "
	    "next_try, updated) VALUES (?1, ?2, ?3, 0, ?4, ?4)",
	"SELECT " SENT_COLS " FROM tlsrpt_sent WHERE day = ?1 AND "
	    "domain = ?2 AND uri = ?3",
	"UPDATE tlsrpt_sent SET state = ?4, attempts = ?5, first_try = ?6, "
	    "next_try = ?7, updated = ?8, queue_id = ?9, last_error = ?10 "
	    "WHERE day = ?1 AND domain = ?2 AND uri = ?3",
	"SELECT " SENT_COLS " FROM tlsrpt_sent ORDER BY day, domain, uri",
	"SELECT " SENT_COLS " FROM tlsrpt_sent WHERE day = ?1 "
	    "ORDER BY domain, uri",
	"SELECT " SENT_COLS " FROM tlsrpt_sent WHERE state = 0 AND "
	    "next_try <= ?1 ORDER BY day, domain, uri",
	"DELETE FROM tlsrpt_sent WHERE day < ?1",
};

struct tlsrpt_sent {
	sqlite3      *db;
	sqlite3_stmt *st[ST_COUNT];	/* NULL: not prepared (no table) */
};

const char *
tlsrpt_sent_state_name(enum tlsrpt_sent_state st)
{
	switch (st) {
	case TLSRPT_SENT_DUE: return "due";
	case TLSRPT_SENT_DONE: return "sent";
	case TLSRPT_SENT_SKIPPED: return "skipped";
	case TLSRPT_SENT_FAILED: return "failed";
	}
	return "?";
}

int64_t
tlsrpt_sent_next_try(unsigned attempts, int64_t first_try, int64_t now)
{
	int64_t wait = TLSRPT_RETRY_MIN;
	unsigned i;

	if (now - first_try >= TLSRPT_RETRY_SECS)
		return 0;
	for (i = 1; i < attempts && wait < TLSRPT_RETRY_MAX; i++)
		wait *= 2;
	if (wait > TLSRPT_RETRY_MAX)
		wait = TLSRPT_RETRY_MAX;
	/* the last try falls on the deadline, not past it */
	if (now + wait > first_try + TLSRPT_RETRY_SECS)
		wait = first_try + TLSRPT_RETRY_SECS - now;
	return now + wait;
}

tlsrpt_sent *
tlsrpt_sent_open(const char *path, int readonly, char *err, size_t errlen)
{
	tlsrpt_sent *s = xcalloc(1, sizeof(*s));
	int flags = SQLITE_OPEN_NOMUTEX | (readonly ? SQLITE_OPEN_READONLY :
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
	char *msg = NULL;
	size_t i;

	if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, s->db ?
		    sqlite3_errmsg(s->db) : "cannot open");
		tlsrpt_sent_close(s);
		return NULL;
	}
	sqlite3_busy_timeout(s->db, SENT_BUSY_MS);
	if (!readonly && (sqlite3_exec(s->db, "PRAGMA journal_mode=WAL;",
	    NULL, NULL, &msg) != SQLITE_OK ||
	    sqlite3_exec(s->db, sent_schema, NULL, NULL, &msg) != SQLITE_OK)) {
		snprintf(err, errlen, "%s: %s", path, msg ? msg : "schema");
		sqlite3_free(msg);
		tlsrpt_sent_close(s);
		return NULL;
	}
	for (i = 0; i < ST_COUNT; i++) {
		if (readonly && (i == ST_INSERT || i == ST_UPDATE ||
		    i == ST_EXPIRE))
			continue;
		if (sqlite3_prepare_v2(s->db, sent_sql[i], -1, &s->st[i],
		    NULL) != SQLITE_OK) {
			/* read-only and nobody created the table yet */
			if (readonly && strstr(sqlite3_errmsg(s->db),
			    "no such table") != NULL)
				break;
			snprintf(err, errlen, "%s: %s", path,
			    sqlite3_errmsg(s->db));
			tlsrpt_sent_close(s);
			return NULL;
		}
	}
	return s;
}

void
tlsrpt_sent_close(tlsrpt_sent *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(s->st[i]);
	sqlite3_close(s->db);
	free(s);
}

static void
col_text(sqlite3_stmt *st, int col, char *out, size_t outlen)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	snprintf(out, outlen, "%s", t ? (const char *)t : "");
}

static void
row_read(sqlite3_stmt *st, struct tlsrpt_sent_entry *e)
{
	int state = sqlite3_column_int(st, 3);

	memset(e, 0, sizeof(*e));
	col_text(st, 0, e->day, sizeof(e->day));
	col_text(st, 1, e->domain, sizeof(e->domain));
	col_text(st, 2, e->uri, sizeof(e->uri));
	e->state = state >= TLSRPT_SENT_DUE && state <= TLSRPT_SENT_FAILED ?
	    (enum tlsrpt_sent_state)state : TLSRPT_SENT_FAILED;
	e->attempts = (unsigned)sqlite3_column_int(st, 4);
	e->first_try = sqlite3_column_int64(st, 5);
	e->next_try = sqlite3_column_int64(st, 6);
	e->updated = sqlite3_column_int64(st, 7);
	col_text(st, 8, e->queue_id, sizeof(e->queue_id));
	col_text(st, 9, e->last_error, sizeof(e->last_error));
}

static int
sent_fail(tlsrpt_sent *s, sqlite3_stmt *st, const char *what)
{
	log_error("tlsrpt: %s: %s", what, sqlite3_errmsg(s->db));
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return -1;
}

static void
bind_key(sqlite3_stmt *st, const char *day, const char *domain,
    const char *uri)
{
	sqlite3_bind_text(st, 1, day, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, domain, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 3, uri, -1, SQLITE_TRANSIENT);
}

int
tlsrpt_sent_claim(tlsrpt_sent *s, const char *day, const char *domain,
    const char *uri, int64_t now, struct tlsrpt_sent_entry *e)
{
	sqlite3_stmt *ins = s->st[ST_INSERT], *get = s->st[ST_GET];
	int rc;

	if (ins == NULL || get == NULL)
		return -1;
	bind_key(ins, day, domain, uri);
	sqlite3_bind_int64(ins, 4, now);
	if (sqlite3_step(ins) != SQLITE_DONE)
		return sent_fail(s, ins, "claim");
	sqlite3_reset(ins);
	sqlite3_clear_bindings(ins);
	bind_key(get, day, domain, uri);
	rc = sqlite3_step(get);
	if (rc != SQLITE_ROW)
		return sent_fail(s, get, "claim read");
	row_read(get, e);
	sqlite3_reset(get);
	sqlite3_clear_bindings(get);
	return 0;
}

int
tlsrpt_sent_update(tlsrpt_sent *s, const struct tlsrpt_sent_entry *e)
{
	sqlite3_stmt *st = s->st[ST_UPDATE];

	if (st == NULL)
		return -1;
	bind_key(st, e->day, e->domain, e->uri);
	sqlite3_bind_int(st, 4, (int)e->state);
	sqlite3_bind_int(st, 5, (int)e->attempts);
	sqlite3_bind_int64(st, 6, e->first_try);
	sqlite3_bind_int64(st, 7, e->next_try);
	sqlite3_bind_int64(st, 8, e->updated);
	sqlite3_bind_text(st, 9, e->queue_id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 10, e->last_error, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_DONE)
		return sent_fail(s, st, "update");
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return 0;
}

static int
sent_each(tlsrpt_sent *s, sqlite3_stmt *st,
    void (*cb)(void *arg, const struct tlsrpt_sent_entry *e), void *arg)
{
	struct tlsrpt_sent_entry e;
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		row_read(st, &e);
		cb(arg, &e);
	}
	if (rc != SQLITE_DONE)
		return sent_fail(s, st, "list");
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return 0;
}

int
tlsrpt_sent_list(tlsrpt_sent *s, const char *day,
    void (*cb)(void *arg, const struct tlsrpt_sent_entry *e), void *arg)
{
	sqlite3_stmt *st = s->st[day ? ST_LIST_DAY : ST_LIST_ALL];

	if (st == NULL)
		return 0;		/* no table yet: nothing sent */
	if (day)
		sqlite3_bind_text(st, 1, day, -1, SQLITE_TRANSIENT);
	return sent_each(s, st, cb, arg);
}

int
tlsrpt_sent_due(tlsrpt_sent *s, int64_t until,
    void (*cb)(void *arg, const struct tlsrpt_sent_entry *e), void *arg)
{
	sqlite3_stmt *st = s->st[ST_DUE];

	if (st == NULL)
		return 0;
	sqlite3_bind_int64(st, 1, until);
	return sent_each(s, st, cb, arg);
}

int
tlsrpt_sent_expire(tlsrpt_sent *s, int64_t cutoff)
{
	sqlite3_stmt *st = s->st[ST_EXPIRE];
	char day[TLSRPT_DAY_LEN];

	if (st == NULL)
		return -1;
	tlsrpt_day(cutoff, day);
	sqlite3_bind_text(st, 1, day, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_DONE)
		return sent_fail(s, st, "expire");
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return 0;
}
