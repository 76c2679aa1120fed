/*
 * queue_store.c - the store thread: the only code that touches queue.db
 * for writing, and the group commit that makes it fast.
 *
 * Other threads queue requests (transactions, loads, scans, maildrop
 * imports) under a mutex and signal a condition variable.  The store
 * thread wakes, optionally waits batch_ms for more company, takes every
 * pending request, and runs them in order.  Batching needs no window:
 * whatever arrives while one COMMIT's fsync runs is the next batch
 * ("natural" group commit), so commits grow with the load by
 * themselves.  A window (commit_batch_ms, default 0) only adds latency
 * when clients wait for their 250 before sending more - every SMTP
 * client does - and was measured to lower throughput too
 * (docs/PERFORMANCE.md); it may help where fsync is much cheaper than
 * the arrival gaps.  Counters of batch sizes and of where a
 * transaction's time goes are logged when the store closes.
 *
 * A run of consecutive transactions shares one sqlite transaction:
 * BEGIN, each request inside its own SAVEPOINT (so one failing request -
 * a duplicate queue ID, an update of a vanished message - is rolled back
 * alone and gets rc -1), then one COMMIT, i.e. one WAL fsync for the
 * whole run.  A read request
 * ends the run first, so it sees everything queued before it.
 *
 * Durability: done(arg, 0) is posted only after COMMIT returned, with
 * journal_mode=WAL and synchronous=FULL, so the WAL is fsync'd and the
 * change survives a crash or power loss.  If COMMIT fails (disk full, I/O
 * error) the whole run is rolled back and every request in it gets
 * rc -1; nothing is half-applied.  Completions are posted to each
 * caller's util_chan, so callbacks run on the caller's own loop.
 *
 * Directories (created by queue_store_open when missing):
 *   spool_dir           0711 as root, else 0700 - postdrop must traverse
 *   spool_dir/maildrop  0730 as root (owner rwx, drop group may create
 *                       but not list or read others' files), else 0700;
 *                       the installer sets the group to the one
 *                       sealpost-postdrop is setgid to
 *   spool_dir/corrupt   0700, refused drop files for the administrator
 *   spool_dir/queue.db  0600, with its -wal and -shm files
 * Existing directories keep whatever mode the administrator gave them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "queue.h"
#include "queue_int.h"

#define STORE_SCAN_CHUNK	512	/* envelopes per util_chan post */

enum store_op_kind { OP_INSERT, OP_UPDATE_RCPT, OP_SET_FLAGS, OP_DELETE };

struct store_op {
	struct store_op   *next;
	enum store_op_kind kind;
	char               qid[QUEUE_ID_LEN + 1];
	size_t             idx;
	unsigned           flags;
	struct queue_msg  *msg;		/* OP_INSERT: deep copy with body */
	struct queue_rcpt  rcpt;	/* OP_UPDATE_RCPT: deep copy */
};

struct queue_txn {
	struct store_op *head, *tail;
};

enum store_req_kind { REQ_TXN, REQ_LOAD, REQ_SCAN, REQ_IMPORT };

struct store_req {
	struct store_req   *next;
	enum store_req_kind kind;
	util_chan          *chan;
	queue_txn          *txn;
	void              (*done)(void *arg, int rc);
	void              (*cb)(void *arg, struct queue_msg *m);
	void               *arg;
	char                qid[QUEUE_ID_LEN + 1];
	int                 rc;
	struct queue_msg   *msg;	/* REQ_LOAD result */
	uint64_t            t_enq, t_done;	/* uv_hrtime() */
};

struct queue_store {
	struct queue_sql   sql;
	char              *spool_dir;
	unsigned           batch_ms;
	uv_thread_t        thread;
	uv_mutex_t         lock;
	uv_cond_t          cond;
	struct store_req  *head, *tail;	/* pending, under lock */
	int                stopping;	/* under lock */
	struct queue_store_stats stats;	/* under lock */
	/* store thread only; logged at close (docs/PERFORMANCE.md) */
	uint64_t           commit_ns;	/* BEGIN..COMMIT of batches, fsync included */
	uint64_t           window_ns;	/* spent waiting in the commit window */
	size_t             max_batch;
	/* per transaction with a callback, summed: enqueue to its batch's
	 * BEGIN, BEGIN to COMMIT done (the callback's hop: store_post_ns) */
	uint64_t           txn_wait_ns, txn_commit_ns, txn_timed;
};

/* ---- transactions (built on the caller's thread) ------------------------- */

queue_txn *
queue_txn_new(void)
{
	return xcalloc(1, sizeof(queue_txn));
}

static struct store_op *
txn_add(queue_txn *t, enum store_op_kind kind, const char *qid)
{
	struct store_op *op = xcalloc(1, sizeof(*op));

	UTIL_ASSERT(t != NULL && qid != NULL);
	op->kind = kind;
	/* an over-long or invalid qid is kept truncated and refused by the
	 * store thread, failing the transaction rather than the process */
	snprintf(op->qid, sizeof(op->qid), "%s", qid);
	if (strlen(qid) != QUEUE_ID_LEN)
		op->qid[0] = '\0';
	if (t->tail)
		t->tail->next = op;
	else
		t->head = op;
	t->tail = op;
	return op;
}

void
queue_txn_insert(queue_txn *t, const struct queue_msg *m)
{
	struct store_op *op = txn_add(t, OP_INSERT, m->qid);

	op->msg = queue_msg_dup_envelope(m);
	op->msg->body_len = m->body ? m->body_len : 0;
	op->msg->body = xmalloc(op->msg->body_len + 1);
	if (op->msg->body_len)
		memcpy(op->msg->body, m->body, op->msg->body_len);
	op->msg->body[op->msg->body_len] = '\0';
	op->msg->size = op->msg->body_len;
}

/* Stored text is capped at QUEUE_STATUS_TEXT_MAX: a remote server
 * chooses how long its reply is, we choose how much of it we keep. */
static char *
txn_text(const char *s)
{
	return s ? xstrndup(s, QUEUE_STATUS_TEXT_MAX) : NULL;
}

void
queue_txn_update_rcpt(queue_txn *t, const char *qid, size_t idx,
    const struct queue_rcpt *r)
{
	struct store_op *op = txn_add(t, OP_UPDATE_RCPT, qid);

	op->idx = idx;
	op->rcpt = *r;
	op->rcpt.addr = NULL;		/* not persisted by an update */
	op->rcpt.orcpt = NULL;
	op->rcpt.status = txn_text(r->status);
	op->rcpt.reply = txn_text(r->reply);
	op->rcpt.relay = txn_text(r->relay);
	op->rcpt.tls = txn_text(r->tls);
}

void
queue_txn_set_flags(queue_txn *t, const char *qid, unsigned flags)
{
	txn_add(t, OP_SET_FLAGS, qid)->flags = flags;
}

void
queue_txn_delete(queue_txn *t, const char *qid)
{
	txn_add(t, OP_DELETE, qid);
}

void
queue_txn_free(queue_txn *t)
{
	struct store_op *op, *next;

	if (t == NULL)
		return;
	for (op = t->head; op; op = next) {
		next = op->next;
		queue_msg_free(op->msg);
		free(op->rcpt.status);
		free(op->rcpt.reply);
		free(op->rcpt.relay);
		free(op->rcpt.tls);
		free(op);
	}
	free(t);
}

/* ---- posting results back ------------------------------------------------ */

/* COMMIT done to callback running, summed over every store of the
 * process: a callback may run after its store is closed, so this is
 * not kept in the store. */
static _Atomic uint64_t store_post_ns;

static void
store_done_cb(void *v)
{
	struct store_req *r = v;

	store_post_ns += uv_hrtime() - r->t_done;
	r->done(r->arg, r->rc);
	free(r);
}

static void
store_load_cb(void *v)
{
	struct store_req *r = v;

	r->cb(r->arg, r->msg);
	free(r);
}

struct store_msg_chunk {
	void (*cb)(void *arg, struct queue_msg *m);
	void *arg;
	size_t n;
	int last;		/* then call cb(arg, NULL) */
	struct queue_msg *v[STORE_SCAN_CHUNK];
};

static void
store_chunk_cb(void *v)
{
	struct store_msg_chunk *c = v;
	size_t i;

	for (i = 0; i < c->n; i++)
		c->cb(c->arg, c->v[i]);
	if (c->last)
		c->cb(c->arg, NULL);
	free(c);
}

void
queue_poster_add(struct queue_poster *p, struct queue_msg *m)
{
	if (p->cur == NULL) {
		p->cur = xmalloc(sizeof(*p->cur));
		p->cur->cb = p->cb;
		p->cur->arg = p->arg;
		p->cur->n = 0;
		p->cur->last = 0;
	}
	p->cur->v[p->cur->n++] = m;
	if (p->cur->n == STORE_SCAN_CHUNK) {
		util_chan_post(p->chan, store_chunk_cb, p->cur);
		p->cur = NULL;
	}
}

void
queue_poster_finish(struct queue_poster *p)
{
	if (p->cur == NULL) {
		p->cur = xmalloc(sizeof(*p->cur));
		p->cur->cb = p->cb;
		p->cur->arg = p->arg;
		p->cur->n = 0;
	}
	p->cur->last = 1;
	util_chan_post(p->chan, store_chunk_cb, p->cur);
	p->cur = NULL;
}

static void
store_scan_each(void *arg, struct queue_msg *m)
{
	queue_poster_add(arg, m);
}

/* ---- the store thread ----------------------------------------------------- */

static int
store_apply(struct queue_sql *q, queue_txn *t)
{
	struct store_op *op;
	int inserted;

	for (op = t->head; op; op = op->next) {
		if (queue_id_valid(op->qid) < 0) {
			log_error("queue store: invalid queue id in transaction");
			return -1;
		}
		switch (op->kind) {
		case OP_INSERT:
			if (queue_sql_insert(q, op->msg, 0, &inserted) < 0)
				goto fail;
			break;
		case OP_UPDATE_RCPT:
			if (queue_sql_update_rcpt(q, op->qid, op->idx,
			    &op->rcpt) < 0)
				goto fail;
			break;
		case OP_SET_FLAGS:
			if (queue_sql_set_flags(q, op->qid, op->flags) < 0)
				goto fail;
			break;
		case OP_DELETE:
			if (queue_sql_delete(q, op->qid) < 0)
				goto fail;
			break;
		}
	}
	return 0;
fail:
	log_error("%s: queue store: %s failed: %s", op->qid,
	    op->kind == OP_INSERT ? "insert" : op->kind == OP_UPDATE_RCPT ?
	    "recipient update" : op->kind == OP_SET_FLAGS ? "flag update" :
	    "delete", sqlite3_errcode(q->db) == SQLITE_OK ?
	    "no such message or recipient" : queue_sql_errmsg(q));
	return -1;
}

/* One group commit over reqs[0..n). */
static void
store_run_batch(queue_store *s, struct store_req **reqs, size_t n)
{
	struct queue_sql *q = &s->sql;
	size_t i, failed = 0;
	int aborted = 0;
	uint64_t t0 = uv_hrtime(), t1, wait_ns = 0, timed = 0;

	if (queue_sql_step(q, q->begin) < 0) {
		log_error("queue store: BEGIN failed: %s", queue_sql_errmsg(q));
		aborted = 1;
	}
	for (i = 0; i < n && !aborted; i++) {
		struct store_req *r = reqs[i];

		if (queue_sql_step(q, q->savepoint) < 0) {
			aborted = 1;
			break;
		}
		r->rc = store_apply(q, r->txn);
		if (r->rc < 0 && queue_sql_step(q, q->rollback_to) < 0)
			aborted = 1;
		if (queue_sql_step(q, q->release) < 0)
			aborted = 1;
		/* An I/O or full-disk error can make sqlite roll the whole
		 * transaction back on its own; then nothing of the batch
		 * survives and every request must hear so. */
		if (sqlite3_get_autocommit(q->db))
			aborted = 1;
	}
	if (!aborted && queue_sql_step(q, q->commit) < 0) {
		log_error("queue store: COMMIT of %zu transactions failed: %s",
		    n, queue_sql_errmsg(q));
		aborted = 1;
	}
	if (aborted) {
		if (!sqlite3_get_autocommit(q->db))
			(void)queue_sql_step(q, q->rollback);
		for (i = 0; i < n; i++)
			reqs[i]->rc = -1;
	}
	t1 = uv_hrtime();
	s->commit_ns += t1 - t0;
	if (n > s->max_batch)
		s->max_batch = n;
	for (i = 0; i < n; i++) {
		struct store_req *r = reqs[i];

		if (r->rc < 0)
			failed++;
		queue_txn_free(r->txn);
		r->txn = NULL;
		if (r->done) {
			wait_ns += t0 - r->t_enq;
			timed++;
			r->t_done = t1;
			util_chan_post(r->chan, store_done_cb, r);
		} else
			free(r);
	}
	uv_mutex_lock(&s->lock);
	s->txn_wait_ns += wait_ns;
	s->txn_commit_ns += (t1 - t0) * timed;
	s->txn_timed += timed;
	s->stats.commits += !aborted;
	s->stats.txns += n;
	s->stats.failed_txns += failed;
	uv_mutex_unlock(&s->lock);
}

static void
store_run_read(queue_store *s, struct store_req *r)
{
	struct queue_poster p = { r->chan, r->cb, r->arg, NULL };

	switch (r->kind) {
	case REQ_LOAD:
		r->msg = queue_sql_load(&s->sql, r->qid, 1);
		util_chan_post(r->chan, store_load_cb, r);
		return;
	case REQ_SCAN:
		(void)queue_sql_scan(&s->sql, store_scan_each, &p);
		queue_poster_finish(&p);
		break;
	case REQ_IMPORT:
		queue_import_run(&s->sql, s->spool_dir, &p);
		queue_poster_finish(&p);
		break;
	case REQ_TXN:
		log_panic("queue store: transaction in read path");
	}
	free(r);
}

/* Run a list taken from the queue, in order. */
static void
store_run(queue_store *s, struct store_req *list)
{
	struct store_req **batch = NULL, *r, *next;
	size_t n = 0, cap = 0;

	for (r = list; r; r = next) {
		next = r->next;
		if (r->kind == REQ_TXN) {
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				batch = xrealloc(batch, cap * sizeof(*batch));
			}
			batch[n++] = r;
			continue;
		}
		if (n) {
			store_run_batch(s, batch, n);
			n = 0;
		}
		store_run_read(s, r);
	}
	if (n)
		store_run_batch(s, batch, n);
	free(batch);
}

static void
store_thread(void *arg)
{
	queue_store *s = arg;
	struct store_req *list;

	uv_mutex_lock(&s->lock);
	for (;;) {
		while (s->head == NULL && !s->stopping)
			uv_cond_wait(&s->cond, &s->lock);
		if (s->head == NULL)
			break;		/* stopping and drained */
		if (s->batch_ms && !s->stopping) {
			uint64_t start = uv_hrtime();
			uint64_t deadline = start +
			    (uint64_t)s->batch_ms * 1000000u;

			/* posters only signal an empty queue, so this wait
			 * is not cut short by every new arrival */
			for (;;) {
				uint64_t now = uv_hrtime();

				if (now >= deadline || s->stopping)
					break;
				(void)uv_cond_timedwait(&s->cond, &s->lock,
				    deadline - now);
			}
			s->window_ns += uv_hrtime() - start;
		}
		list = s->head;
		s->head = s->tail = NULL;
		uv_mutex_unlock(&s->lock);
		store_run(s, list);
		uv_mutex_lock(&s->lock);
	}
	uv_mutex_unlock(&s->lock);
}

static void
store_enqueue(queue_store *s, struct store_req *r)
{
	UTIL_ASSERT(s != NULL);
	r->t_enq = uv_hrtime();
	uv_mutex_lock(&s->lock);
	UTIL_ASSERT(!s->stopping);
	if (s->tail)
		s->tail->next = r;
	else {
		s->head = r;
		uv_cond_signal(&s->cond);
	}
	s->tail = r;
	uv_mutex_unlock(&s->lock);
}

/* ---- public entry points ---------------------------------------------------- */

void
queue_store_commit(queue_store *s, queue_txn *t, util_chan *chan,
    void (*done)(void *arg, int rc), void *arg)
{
	struct store_req *r = xcalloc(1, sizeof(*r));

	UTIL_ASSERT(t != NULL && (done == NULL || chan != NULL));
	r->kind = REQ_TXN;
	r->txn = t;
	r->chan = chan;
	r->done = done;
	r->arg = arg;
	store_enqueue(s, r);
}

static void
store_read_req(queue_store *s, enum store_req_kind kind, const char *qid,
    util_chan *chan, void (*cb)(void *arg, struct queue_msg *m), void *arg)
{
	struct store_req *r = xcalloc(1, sizeof(*r));

	UTIL_ASSERT(chan != NULL && cb != NULL);
	r->kind = kind;
	if (qid)
		snprintf(r->qid, sizeof(r->qid), "%s", qid);
	r->chan = chan;
	r->cb = cb;
	r->arg = arg;
	store_enqueue(s, r);
}

void
queue_store_load(queue_store *s, const char *qid, util_chan *chan,
    void (*cb)(void *arg, struct queue_msg *m), void *arg)
{
	store_read_req(s, REQ_LOAD, qid, chan, cb, arg);
}

void
queue_store_scan(queue_store *s, util_chan *chan,
    void (*cb)(void *arg, struct queue_msg *m), void *arg)
{
	store_read_req(s, REQ_SCAN, NULL, chan, cb, arg);
}

void
queue_store_import_maildrop(queue_store *s, util_chan *chan,
    void (*cb)(void *arg, struct queue_msg *m), void *arg)
{
	store_read_req(s, REQ_IMPORT, NULL, chan, cb, arg);
}

void
queue_store_get_stats(queue_store *s, struct queue_store_stats *out)
{
	uv_mutex_lock(&s->lock);
	*out = s->stats;
	uv_mutex_unlock(&s->lock);
}

/* mkdir with an exact mode (umask ignored) if path is missing. */
static int
store_mkdir(const char *path, mode_t mode, char *err, size_t errlen)
{
	struct stat st;

	if (stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode))
			return 0;
		snprintf(err, errlen, "%s: not a directory", path);
		return -1;
	}
	if (errno != ENOENT || util_mkdir_p(path, mode) < 0 ||
	    chmod(path, mode) < 0) {
		snprintf(err, errlen, "create %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

queue_store *
queue_store_open(const char *spool_dir, unsigned batch_ms, char *err,
    size_t errlen)
{
	queue_store *s;
	char path[4096];
	int root = geteuid() == 0;

	if (snprintf(path, sizeof(path), "%s/maildrop", spool_dir) >=
	    (int)sizeof(path) - 16) {
		snprintf(err, errlen, "spool directory name too long");
		return NULL;
	}
	if (store_mkdir(spool_dir, root ? 0711 : 0700, err, errlen) < 0 ||
	    store_mkdir(path, root ? 0730 : 0700, err, errlen) < 0)
		return NULL;
	snprintf(path, sizeof(path), "%s/corrupt", spool_dir);
	if (store_mkdir(path, 0700, err, errlen) < 0)
		return NULL;
	snprintf(path, sizeof(path), "%s/queue.db", spool_dir);

	s = xcalloc(1, sizeof(*s));
	if (queue_sql_open(&s->sql, path, 0, err, errlen) < 0) {
		free(s);
		return NULL;
	}
	s->spool_dir = xstrdup(spool_dir);
	s->batch_ms = batch_ms;
	if (uv_mutex_init(&s->lock) != 0 || uv_cond_init(&s->cond) != 0)
		log_fatal("queue store: mutex/condvar init failed");
	if (uv_thread_create(&s->thread, store_thread, s) != 0) {
		snprintf(err, errlen, "cannot start the store thread");
		queue_sql_close(&s->sql);
		uv_cond_destroy(&s->cond);
		uv_mutex_destroy(&s->lock);
		free(s->spool_dir);
		free(s);
		return NULL;
	}
	return s;
}

void
queue_store_close(queue_store *s)
{
	if (s == NULL)
		return;
	uv_mutex_lock(&s->lock);
	s->stopping = 1;
	uv_cond_signal(&s->cond);
	uv_mutex_unlock(&s->lock);
	uv_thread_join(&s->thread);
	if (s->stats.commits > 0)
		log_info("queue store: %llu commits of %llu transactions "
		    "(%.1f per commit, at most %zu), %.2f ms per commit "
		    "(fsync included), %.1f s in commit windows",
		    (unsigned long long)s->stats.commits,
		    (unsigned long long)s->stats.txns,
		    (double)s->stats.txns / (double)s->stats.commits,
		    s->max_batch, (double)s->commit_ns / 1e6 /
		    (double)s->stats.commits, (double)s->window_ns / 1e9);
	if (s->txn_timed > 0)
		log_info("queue store: per transaction %.2f ms queued for the "
		    "store thread, %.2f ms in its commit, %.2f ms until the "
		    "caller's loop ran the callback",
		    (double)s->txn_wait_ns / 1e6 / (double)s->txn_timed,
		    (double)s->txn_commit_ns / 1e6 / (double)s->txn_timed,
		    (double)store_post_ns / 1e6 / (double)s->txn_timed);
	queue_sql_close(&s->sql);
	uv_cond_destroy(&s->cond);
	uv_mutex_destroy(&s->lock);
	free(s->spool_dir);
	free(s);
}
