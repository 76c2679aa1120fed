/*
 * queue_store_sql.c - the queue's sqlite schema and every statement that
 * touches it.  Used by the store thread (queue_store.c) and, read-only,
 * by queue_list_read for command-line tools.
 *
 * Schema version 1 (PRAGMA user_version):
 *   msg   envelope, one row per message       WITHOUT ROWID, key qid
 *   body  the message bytes, one row each     rowid table (large blobs)
 *   rcpt  one row per recipient               WITHOUT ROWID, key (qid, idx)
 * The body has its own table so that scanning every envelope at startup
 * reads small, densely packed rows and never touches message bytes.
 * Both scans run in qid order, so a merge of two streams assembles the
 * envelopes: one query per table however many messages there are.
 *
 * Every value goes through a bound parameter of a statement prepared once
 * at open; the only SQL built at run time is the schema version pragma,
 * from a compile-time constant.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "queue.h"
#include "queue_int.h"

#define QUEUE_SCHEMA_VERSION	1
#define QUEUE_BUSY_TIMEOUT_MS	10000	/* readers (mailq) checkpoint races */
#define SQL_STR2(x)		#x
#define SQL_STR(x)		SQL_STR2(x)

static const char queue_schema[] =
	"CREATE TABLE msg("
	" qid TEXT PRIMARY KEY NOT NULL,"
	" sender TEXT NOT NULL,"
	" arrival INTEGER NOT NULL,"
	" envid TEXT,"
	" ret INTEGER NOT NULL,"
	" flags INTEGER NOT NULL,"
	" size INTEGER NOT NULL,"
	" nrcpt INTEGER NOT NULL"
	") WITHOUT ROWID;"
	"CREATE TABLE body("
	" qid TEXT PRIMARY KEY NOT NULL,"
	" data BLOB NOT NULL);"
	"CREATE TABLE rcpt("
	" qid TEXT NOT NULL,"
	" idx INTEGER NOT NULL,"
	" addr TEXT NOT NULL,"
	" orcpt TEXT,"
	" notify INTEGER NOT NULL,"
	" state INTEGER NOT NULL,"
	" attempts INTEGER NOT NULL,"
	" next_try INTEGER NOT NULL,"
	" last_try INTEGER NOT NULL,"
	" status TEXT,"
	" reply TEXT,"
	" relay TEXT,"
	" tls TEXT,"
	" delay_warned INTEGER NOT NULL,"
	" PRIMARY KEY(qid, idx)"
	") WITHOUT ROWID;"
	"PRAGMA user_version = " SQL_STR(QUEUE_SCHEMA_VERSION) ";";

#define MSG_COLS "qid, sender, arrival, envid, ret, flags, size, nrcpt"
#define RCPT_COLS "qid, idx, addr, orcpt, notify, state, attempts, next_try, " \
	"last_try, status, reply, relay, tls, delay_warned"

static const struct {
	size_t      off;	/* offsetof(struct queue_sql, stmt) */
	const char *sql;
	int         rw;		/* only prepared on a writable connection */
} queue_sql_stmts[] = {
#define STMT(f, rw, sql) { offsetof(struct queue_sql, f), sql, rw }
	STMT(begin, 1, "BEGIN IMMEDIATE"),
	STMT(commit, 1, "COMMIT"),
	STMT(rollback, 1, "ROLLBACK"),
	STMT(savepoint, 1, "SAVEPOINT txn"),
	STMT(release, 1, "RELEASE txn"),
	STMT(rollback_to, 1, "ROLLBACK TO txn"),
	STMT(ins_msg, 1, "INSERT INTO msg(" MSG_COLS ") VALUES(?,?,?,?,?,?,?,?)"),
	STMT(ins_msg_ignore, 1, "INSERT OR IGNORE INTO msg(" MSG_COLS
	    ") VALUES(?,?,?,?,?,?,?,?)"),
	STMT(ins_body, 1, "INSERT INTO body(qid, data) VALUES(?,?)"),
	STMT(ins_rcpt, 1, "INSERT INTO rcpt(" RCPT_COLS
	    ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)"),
	STMT(upd_rcpt, 1, "UPDATE rcpt SET state=?3, attempts=?4, next_try=?5,"
	    " last_try=?6, status=?7, reply=?8, relay=?9, tls=?10,"
	    " delay_warned=?11 WHERE qid=?1 AND idx=?2"),
	STMT(upd_flags, 1, "UPDATE msg SET flags=?2 WHERE qid=?1"),
	STMT(del_msg, 1, "DELETE FROM msg WHERE qid=?"),
	STMT(del_body, 1, "DELETE FROM body WHERE qid=?"),
	STMT(del_rcpt, 1, "DELETE FROM rcpt WHERE qid=?"),
	STMT(sel_msg, 0, "SELECT " MSG_COLS " FROM msg WHERE qid=?"),
	STMT(sel_body, 0, "SELECT data FROM body WHERE qid=?"),
	STMT(sel_rcpt, 0, "SELECT " RCPT_COLS " FROM rcpt WHERE qid=? ORDER BY idx"),
	STMT(scan_msg, 0, "SELECT " MSG_COLS " FROM msg ORDER BY qid"),
	STMT(scan_rcpt, 0, "SELECT " RCPT_COLS " FROM rcpt ORDER BY qid, idx"),
#undef STMT
};

#define STMT_SLOT(q, i) \
	((sqlite3_stmt **)(void *)((char *)(q) + queue_sql_stmts[i].off))

static int
sql_fail(struct queue_sql *q, char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "%s: %s", what,
	    q->db ? sqlite3_errmsg(q->db) : "out of memory");
	queue_sql_close(q);
	return -1;
}

static int
sql_user_version(sqlite3 *db, int *out)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

/* Create the schema on a fresh database, refuse one from the future. */
static int
sql_schema(struct queue_sql *q, int readonly, char *err, size_t errlen)
{
	int ver = -1;

	if (sql_user_version(q->db, &ver) < 0)
		return sql_fail(q, err, errlen, "read schema version");
	if (ver == QUEUE_SCHEMA_VERSION)
		return 0;
	if (ver != 0) {
		snprintf(err, errlen, "queue database schema version %d, this "
		    "sealpost knows %d", ver, QUEUE_SCHEMA_VERSION);
		queue_sql_close(q);
		return -1;
	}
	if (readonly) {
		q->empty = 1;	/* the daemon has not created it yet */
		return 0;
	}
	if (sqlite3_exec(q->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return sql_fail(q, err, errlen, "begin schema");
	if (sqlite3_exec(q->db, queue_schema, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(q->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "create schema: %s", sqlite3_errmsg(q->db));
		sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
		queue_sql_close(q);
		return -1;
	}
	return 0;
}

int
queue_sql_open(struct queue_sql *q, const char *path, int readonly,
    char *err, size_t errlen)
{
	int flags, fd;
	size_t i;

	memset(q, 0, sizeof(*q));
	if (!readonly) {
		/* Create the file ourselves so it is 0600 whatever the umask:
		 * it holds message bodies.  sqlite gives -wal and -shm the
		 * same mode. */
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0) {
			snprintf(err, errlen, "create %s: %s", path, strerror(errno));
			return -1;
		}
		close(fd);
	}
	flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
	if (sqlite3_open_v2(path, &q->db, flags | SQLITE_OPEN_NOMUTEX, NULL)
	    != SQLITE_OK)
		return sql_fail(q, err, errlen, path);
	sqlite3_extended_result_codes(q->db, 1);
	sqlite3_busy_timeout(q->db, QUEUE_BUSY_TIMEOUT_MS);
	if (!readonly) {
		sqlite3_stmt *st;
		int ok = 0;

		/* WAL: one fsync per commit and readers never block the
		 * writer; FULL: that fsync happens at every commit, which is
		 * what "durable when done(rc=0) runs" rests on. */
		if (sqlite3_prepare_v2(q->db, "PRAGMA journal_mode=WAL", -1,
		    &st, NULL) == SQLITE_OK) {
			if (sqlite3_step(st) == SQLITE_ROW) {
				const unsigned char *mode = sqlite3_column_text(st, 0);

				ok = mode && strcmp((const char *)mode, "wal") == 0;
			}
			sqlite3_finalize(st);
		}
		if (!ok)
			return sql_fail(q, err, errlen, "enable WAL");
		if (sqlite3_exec(q->db, "PRAGMA synchronous=FULL", NULL, NULL,
		    NULL) != SQLITE_OK)
			return sql_fail(q, err, errlen, "set synchronous");
	}
	if (sql_schema(q, readonly, err, errlen) < 0)
		return -1;
	if (q->empty)
		return 0;
	for (i = 0; i < sizeof(queue_sql_stmts) / sizeof(queue_sql_stmts[0]); i++) {
		if (readonly && queue_sql_stmts[i].rw)
			continue;
		if (sqlite3_prepare_v3(q->db, queue_sql_stmts[i].sql, -1,
		    SQLITE_PREPARE_PERSISTENT, STMT_SLOT(q, i), NULL) != SQLITE_OK)
			return sql_fail(q, err, errlen, queue_sql_stmts[i].sql);
	}
	return 0;
}

void
queue_sql_close(struct queue_sql *q)
{
	size_t i;

	for (i = 0; i < sizeof(queue_sql_stmts) / sizeof(queue_sql_stmts[0]); i++) {
		sqlite3_finalize(*STMT_SLOT(q, i));
		*STMT_SLOT(q, i) = NULL;
	}
	if (q->db)
		sqlite3_close(q->db);
	q->db = NULL;
}

const char *
queue_sql_errmsg(struct queue_sql *q)
{
	return sqlite3_errmsg(q->db);
}

/* Run a statement that returns no rows; 0 or -1. */
int
queue_sql_step(struct queue_sql *q, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static void
bind_str(sqlite3_stmt *st, int i, const char *s)
{
	if (s == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

static char *
col_str(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return s ? xstrdup((const char *)s) : NULL;
}

static void
bind_rcpt_state(sqlite3_stmt *st, const struct queue_rcpt *r)
{
	sqlite3_bind_int(st, 3, r->state);
	sqlite3_bind_int64(st, 4, r->attempts);
	sqlite3_bind_int64(st, 5, r->next_try);
	sqlite3_bind_int64(st, 6, r->last_try);
	bind_str(st, 7, r->status);
	bind_str(st, 8, r->reply);
	bind_str(st, 9, r->relay);
	bind_str(st, 10, r->tls);
	sqlite3_bind_int(st, 11, r->delay_warned != 0);
}

int
queue_sql_insert(struct queue_sql *q, const struct queue_msg *m,
    int ignore_dup, int *inserted)
{
	sqlite3_stmt *st = ignore_dup ? q->ins_msg_ignore : q->ins_msg;
	size_t i;

	*inserted = 0;
	if (queue_id_valid(m->qid) < 0 || m->sender == NULL)
		return -1;
	bind_str(st, 1, m->qid);
	bind_str(st, 2, m->sender);
	sqlite3_bind_int64(st, 3, m->arrival);
	bind_str(st, 4, m->envid);
	sqlite3_bind_int(st, 5, m->ret);
	sqlite3_bind_int64(st, 6, m->flags);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)m->body_len);
	sqlite3_bind_int64(st, 8, (sqlite3_int64)m->nrcpt);
	if (queue_sql_step(q, st) < 0)
		return -1;
	if (sqlite3_changes(q->db) == 0)
		return 0;	/* INSERT OR IGNORE found the qid: done */
	bind_str(q->ins_body, 1, m->qid);
	sqlite3_bind_blob64(q->ins_body, 2, m->body ? m->body : "",
	    m->body_len, SQLITE_STATIC);
	if (queue_sql_step(q, q->ins_body) < 0)
		return -1;
	for (i = 0; i < m->nrcpt; i++) {
		const struct queue_rcpt *r = &m->rcpt[i];

		st = q->ins_rcpt;
		bind_str(st, 1, m->qid);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
		bind_str(st, 3, r->addr);
		bind_str(st, 4, r->orcpt);
		sqlite3_bind_int64(st, 5, r->notify);
		sqlite3_bind_int(st, 6, r->state);
		sqlite3_bind_int64(st, 7, r->attempts);
		sqlite3_bind_int64(st, 8, r->next_try);
		sqlite3_bind_int64(st, 9, r->last_try);
		bind_str(st, 10, r->status);
		bind_str(st, 11, r->reply);
		bind_str(st, 12, r->relay);
		bind_str(st, 13, r->tls);
		sqlite3_bind_int(st, 14, r->delay_warned != 0);
		if (r->addr == NULL || queue_sql_step(q, st) < 0)
			return -1;
	}
	*inserted = 1;
	return 0;
}

/* Updating a recipient or message that does not exist is an error: the
 * caller's picture of the queue is wrong and it should hear about it. */
int
queue_sql_update_rcpt(struct queue_sql *q, const char *qid, size_t idx,
    const struct queue_rcpt *r)
{
	bind_str(q->upd_rcpt, 1, qid);
	sqlite3_bind_int64(q->upd_rcpt, 2, (sqlite3_int64)idx);
	bind_rcpt_state(q->upd_rcpt, r);
	if (queue_sql_step(q, q->upd_rcpt) < 0)
		return -1;
	return sqlite3_changes(q->db) == 1 ? 0 : -1;
}

int
queue_sql_set_flags(struct queue_sql *q, const char *qid, unsigned flags)
{
	bind_str(q->upd_flags, 1, qid);
	sqlite3_bind_int64(q->upd_flags, 2, flags);
	if (queue_sql_step(q, q->upd_flags) < 0)
		return -1;
	return sqlite3_changes(q->db) == 1 ? 0 : -1;
}

/* Deleting what is not there is fine: delete is idempotent. */
int
queue_sql_delete(struct queue_sql *q, const char *qid)
{
	sqlite3_stmt *st[3] = { q->del_rcpt, q->del_body, q->del_msg };
	int i;

	for (i = 0; i < 3; i++) {
		bind_str(st[i], 1, qid);
		if (queue_sql_step(q, st[i]) < 0)
			return -1;
	}
	return 0;
}

static struct queue_msg *
msg_from_row(sqlite3_stmt *st)
{
	struct queue_msg *m = xcalloc(1, sizeof(*m));
	const unsigned char *qid = sqlite3_column_text(st, 0);
	sqlite3_int64 nrcpt;

	if (qid)
		snprintf(m->qid, sizeof(m->qid), "%s", (const char *)qid);
	m->sender = col_str(st, 1);
	if (m->sender == NULL)
		m->sender = xstrdup("");
	m->arrival = sqlite3_column_int64(st, 2);
	m->envid = col_str(st, 3);
	m->ret = sqlite3_column_int(st, 4);
	m->flags = (unsigned)sqlite3_column_int64(st, 5);
	m->size = (size_t)sqlite3_column_int64(st, 6);
	nrcpt = sqlite3_column_int64(st, 7);
	/* presize the recipient array; the rcpt rows are the truth */
	if (nrcpt > 0 && nrcpt <= QUEUE_RCPT_MAX) {
		m->rcpt = xcalloc((size_t)nrcpt, sizeof(*m->rcpt));
		m->rcpt_alloc = (size_t)nrcpt;
	}
	return m;
}

/* Append the rcpt row under st (columns RCPT_COLS) to m. */
static void
rcpt_from_row(struct queue_msg *m, sqlite3_stmt *st)
{
	const unsigned char *addr = sqlite3_column_text(st, 2);
	const unsigned char *orcpt = sqlite3_column_text(st, 3);
	struct queue_rcpt *r;

	r = queue_msg_add_rcpt(m, addr ? (const char *)addr : "",
	    (const char *)orcpt, (unsigned)sqlite3_column_int64(st, 4));
	r->state = sqlite3_column_int(st, 5);
	r->attempts = (unsigned)sqlite3_column_int64(st, 6);
	r->next_try = sqlite3_column_int64(st, 7);
	r->last_try = sqlite3_column_int64(st, 8);
	r->status = col_str(st, 9);
	r->reply = col_str(st, 10);
	r->relay = col_str(st, 11);
	r->tls = col_str(st, 12);
	r->delay_warned = sqlite3_column_int(st, 13);
}

struct queue_msg *
queue_sql_load(struct queue_sql *q, const char *qid, int with_body)
{
	struct queue_msg *m = NULL;
	int rc;

	bind_str(q->sel_msg, 1, qid);
	if (sqlite3_step(q->sel_msg) == SQLITE_ROW)
		m = msg_from_row(q->sel_msg);
	sqlite3_reset(q->sel_msg);
	if (m == NULL)
		return NULL;
	bind_str(q->sel_rcpt, 1, qid);
	while ((rc = sqlite3_step(q->sel_rcpt)) == SQLITE_ROW)
		rcpt_from_row(m, q->sel_rcpt);
	sqlite3_reset(q->sel_rcpt);
	if (rc != SQLITE_DONE)
		goto fail;
	if (!with_body)
		return m;
	bind_str(q->sel_body, 1, qid);
	if (sqlite3_step(q->sel_body) != SQLITE_ROW) {
		sqlite3_reset(q->sel_body);
		goto fail;
	}
	m->body_len = (size_t)sqlite3_column_bytes(q->sel_body, 0);
	m->body = xmalloc(m->body_len + 1);
	if (m->body_len)
		memcpy(m->body, sqlite3_column_blob(q->sel_body, 0), m->body_len);
	m->body[m->body_len] = '\0';
	m->size = m->body_len;
	sqlite3_reset(q->sel_body);
	return m;
fail:
	log_error("%s: load failed: %s", qid, sqlite3_errmsg(q->db));
	queue_msg_free(m);
	return NULL;
}

/*
 * Every envelope, in qid order: two ordered streams merged.  A recipient
 * row whose message row is missing (cannot happen through this module)
 * is skipped.  each() owns the message.  0, or -1 on a read error after
 * which each() has seen only part of the queue.
 */
int
queue_sql_scan(struct queue_sql *q,
    void (*each)(void *arg, struct queue_msg *m), void *arg)
{
	sqlite3_stmt *ms = q->scan_msg, *rs = q->scan_rcpt;
	int mrc, rrc = SQLITE_ROW, ret = 0;

	if (q->empty)
		return 0;
	rrc = sqlite3_step(rs);
	while ((mrc = sqlite3_step(ms)) == SQLITE_ROW) {
		struct queue_msg *m = msg_from_row(ms);

		while (rrc == SQLITE_ROW) {
			const unsigned char *rq = sqlite3_column_text(rs, 0);
			int cmp = rq ? strcmp((const char *)rq, m->qid) : -1;

			if (cmp > 0)
				break;
			if (cmp == 0)
				rcpt_from_row(m, rs);
			rrc = sqlite3_step(rs);
		}
		each(arg, m);
	}
	if (mrc != SQLITE_DONE || (rrc != SQLITE_DONE && rrc != SQLITE_ROW)) {
		log_error("queue scan failed: %s", sqlite3_errmsg(q->db));
		ret = -1;
	}
	sqlite3_reset(ms);
	sqlite3_reset(rs);
	return ret;
}
