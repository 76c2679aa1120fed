/*
 * qmgr_admin.c - delete, hold, release and requeue inside the running
 * daemon, on the queue manager's loop.
 *
 * The control socket (qmgr_control.c) hands us "DELETE qid", "HOLD ALL"
 * and so on.  Memory changes first, then one store transaction makes the
 * change durable, and only then is the answer sent, so "OK" means "on
 * disk".  The store runs transactions in the order they were queued, so
 * a delivery result that comes back after our change is committed after
 * it too.
 *
 * Messages being delivered are the interesting case.  An agent reads the
 * message (its flags too) on its own thread until the job returns
 * (qmgr_job_done), so nothing it can see may change or go away before
 * that.  Work items still waiting for a destination slot are taken back
 * on hold and delete; for a message with items running, the change is
 * committed at once but applied to memory later, through a struct
 * qmgr_admin_wait:
 *   hold     on disk now; in memory its idle pending recipients are marked
 *            busy ("blocked") so qmgr_schedule makes no new work; when the
 *            running jobs are back (qm->items == 0) the flag is set and
 *            the blocks are lifted.  Running attempts finish and are
 *            recorded normally.
 *   release  likewise the other way (and lifts the blocks at once).
 *   requeue  resets only recipients that are not in flight (the agent
 *            reads only its own recipients).
 *   delete   with nothing in flight: the rows go, and the message leaves
 *            memory after the commit.  With work in flight: it is held
 *            (durably, so a crash cannot resume its delivery) and deleted
 *            once its jobs are back.  If that attempt finished the message
 *            anyway, qmgr_done.c has removed it and nothing is left to do.
 * A uv_check handle, active only while changes wait, looks at them after
 * every loop iteration's I/O, i.e. right after the commit callback that
 * brought qm->items to 0.
 * Callbacks never keep a struct qmgr_msg pointer across the store round
 * trip; they look the queue ID up again, since a message may be dropped
 * meanwhile.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qmgr_int.h"

#define ADMIN_REPLY_MAX	64

enum admin_act {
	ACT_NONE,		/* counted, nothing to do after the commit */
	ACT_FLAGS,		/* hold/release: undo on failure */
	ACT_REQUEUE,		/* schedule after the commit */
	ACT_DELETE_NOW,		/* drop from memory after the commit */
	ACT_DELETE_LATER	/* held; deleted when its jobs are back */
};

struct admin_item {
	char           qid[QUEUE_ID_LEN + 1];
	enum admin_act act;
	unsigned       old_flags, new_flags;
};

/* A change committed but not yet applied to memory (see above). */
struct qmgr_admin_wait {
	char           qid[QUEUE_ID_LEN + 1];
	unsigned       flags;		/* m->flags once idle */
	int            delete;		/* then delete it */
	unsigned char *blocked;		/* recipients we marked busy */
	size_t         nrcpt;
};

struct admin_req {
	qmgr              *q;
	enum queue_admin_op op;
	void             (*done)(void *arg, const char *reply);
	void              *arg;
	size_t             count;	/* messages acted on: "OK count" */
	struct admin_item *items;
	size_t             n, a;
};

static unsigned admin_flags(qmgr *q, const struct qmgr_msg *qm);

static void
admin_reply(struct admin_req *r, const char *reply)
{
	r->done(r->arg, reply);
	free(r->items);
	free(r);
}

static struct admin_item *
admin_item_add(struct admin_req *r, const struct qmgr_msg *qm,
    enum admin_act act)
{
	struct admin_item *it;

	if (r->n == r->a) {
		r->a = r->a ? r->a * 2 : 8;
		r->items = xrealloc(r->items, r->a * sizeof(*r->items));
	}
	it = &r->items[r->n++];
	memset(it, 0, sizeof(*it));
	memcpy(it->qid, qm->m->qid, sizeof(it->qid));
	it->act = act;
	return it;
}

/* Should a waiting work item of qm go back? */
static int
admin_stopped(qmgr *q, const struct qmgr_msg *qm)
{
	return qm->removed || qm->admin_deleting ||
	    (admin_flags(q, qm) & QUEUE_MSG_HOLD);
}

/*
 * Take back work items that wait for a destination slot and belong to
 * held or deleted messages.  Started items (counted in d->active, maybe
 * waiting for their body) are left to run.
 */
static void
admin_unqueue_dest(const char *key, void *value, void *arg)
{
	struct qmgr_dest *d = value;
	struct qmgr_item **pp = &d->head, *it;
	qmgr *q = arg;

	(void)key;
	d->tail = NULL;
	while ((it = *pp) != NULL) {
		struct qmgr_msg *qm = it->qm;
		size_t i;

		if (!admin_stopped(q, qm)) {
			d->tail = it;
			pp = &it->next;
			continue;
		}
		*pp = it->next;
		for (i = 0; i < it->nrcpt; i++)
			qm->busy[it->idx[i]] = 0;
		UTIL_ASSERT(qm->items > 0);
		qm->items--;
		qmgr_item_free(it);
	}
	/* an emptied destination leaves the ready list in qmgr_dispatch */
}

/* ---- changes waiting for running jobs ------------------------------------- */

static struct qmgr_admin_wait *
wait_find(qmgr *q, const char *qid)
{
	size_t i;

	for (i = 0; i < q->admin_nwait; i++)
		if (strcmp(q->admin_wait[i].qid, qid) == 0)
			return &q->admin_wait[i];
	return NULL;
}

/* The flags qm has or will have once its jobs are back. */
static unsigned
admin_flags(qmgr *q, const struct qmgr_msg *qm)
{
	struct qmgr_admin_wait *w = q->admin_nwait ?
	    wait_find(q, qm->m->qid) : NULL;

	return w ? w->flags : qm->m->flags;
}

/* Block or unblock scheduling of qm's idle pending recipients. */
static void
wait_block(struct qmgr_admin_wait *w, struct qmgr_msg *qm, int block)
{
	size_t i;

	for (i = 0; i < w->nrcpt; i++) {
		if (block && !qm->busy[i] &&
		    qm->m->rcpt[i].state == QUEUE_RCPT_PENDING) {
			qm->busy[i] = 1;
			w->blocked[i] = 1;
		} else if (!block && w->blocked[i]) {
			qm->busy[i] = 0;
			w->blocked[i] = 0;
		}
	}
}

static void
wait_free(struct qmgr_admin_wait *w)
{
	free(w->blocked);
}

static void
deleted(void *arg, int rc)
{
	struct admin_req *r = arg;
	qmgr *q = r->q;
	size_t i;

	for (i = 0; i < r->n; i++) {
		struct qmgr_msg *qm = util_htable_get(q->msgs, r->items[i].qid);

		if (qm == NULL)
			continue;
		if (rc != 0) {
			/* still on disk: back to what it was, held */
			log_error("%s: delete failed; the message stays in the "
			    "queue, held", qm->m->qid);
			qm->removed = 0;
			qm->admin_deleting = 0;
			continue;
		}
		if (qm->items == 0) {
			log_info("%s: removed (deleted by the administrator)",
			    qm->m->qid);
			qmgr_msg_drop(q, qm);
		}
	}
	free(r->items);
	free(r);
}

static void
admin_check_cb(uv_check_t *h)
{
	qmgr *q = h->data;
	struct admin_req *r = NULL;
	queue_txn *txn = NULL;
	size_t i, j;
	int sched = 0;

	for (i = 0, j = 0; i < q->admin_nwait; i++) {
		struct qmgr_admin_wait *w = &q->admin_wait[i];
		struct qmgr_msg *qm = util_htable_get(q->msgs, w->qid);

		if (qm != NULL && !qm->removed && qm->items > 0) {
			if (i != j)
				q->admin_wait[j] = *w;
			j++;
			continue;
		}
		if (qm == NULL || qm->removed) {
			wait_free(w);	/* the last attempt finished it */
			continue;
		}
		/* nothing in flight: memory may change now */
		wait_block(w, qm, 0);
		qm->m->flags = w->flags;
		if (w->delete) {
			qm->removed = 1;
			if (txn == NULL) {
				txn = queue_txn_new();
				r = xcalloc(1, sizeof(*r));
				r->q = q;
			}
			queue_txn_delete(txn, qm->m->qid);
			admin_item_add(r, qm, ACT_DELETE_NOW);
		} else if (!(qm->m->flags & QUEUE_MSG_HOLD)) {
			qmgr_schedule(q, qm, util_wall_time());
			sched = 1;
		}
		wait_free(w);
	}
	q->admin_nwait = j;
	if (j == 0)
		uv_check_stop(&q->admin_check);
	if (txn != NULL)
		queue_store_commit(q->store, txn, q->chan, deleted, r);
	if (sched)
		qmgr_dispatch(q);
}

/*
 * Give qm the flags `flags`: now when nothing of it is in flight, else
 * once its jobs are back, blocking new work meanwhile if it is to be held.
 */
static void
admin_set_flags(qmgr *q, struct qmgr_msg *qm, unsigned flags, int delete)
{
	struct qmgr_admin_wait *w = q->admin_nwait ?
	    wait_find(q, qm->m->qid) : NULL;

	if (w == NULL && qm->items == 0 && !delete) {
		qm->m->flags = flags;
		return;
	}
	if (w == NULL) {
		if (!q->admin_check_init) {
			uv_check_init(q->loop, &q->admin_check);
			q->admin_check.data = q;
			q->admin_check_init = 1;
		}
		if (q->admin_nwait == q->admin_await) {
			q->admin_await = q->admin_await ? q->admin_await * 2 : 8;
			q->admin_wait = xrealloc(q->admin_wait,
			    q->admin_await * sizeof(*q->admin_wait));
		}
		w = &q->admin_wait[q->admin_nwait++];
		memset(w, 0, sizeof(*w));
		memcpy(w->qid, qm->m->qid, sizeof(w->qid));
		w->nrcpt = qm->m->nrcpt;
		w->blocked = xcalloc(w->nrcpt ? w->nrcpt : 1, 1);
		uv_check_start(&q->admin_check, admin_check_cb);
	}
	w->flags = flags;
	w->delete |= delete;
	wait_block(w, qm, (flags & QUEUE_MSG_HOLD) || w->delete);
}

/* ---- one command ---------------------------------------------------------- */

static void
admin_committed(void *arg, int rc)
{
	struct admin_req *r = arg;
	qmgr *q = r->q;
	char reply[ADMIN_REPLY_MAX];
	size_t i;

	for (i = 0; i < r->n; i++) {
		struct admin_item *it = &r->items[i];
		struct qmgr_msg *qm = util_htable_get(q->msgs, it->qid);

		if (qm == NULL)
			continue;
		switch (it->act) {
		case ACT_NONE:
			break;
		case ACT_FLAGS:
			if (rc != 0 && admin_flags(q, qm) == it->new_flags &&
			    !qm->admin_deleting)
				admin_set_flags(q, qm, it->old_flags, 0);
			if (!(admin_flags(q, qm) & QUEUE_MSG_HOLD))
				qmgr_schedule(q, qm, util_wall_time());
			break;
		case ACT_REQUEUE:
			/* XXX a failed commit leaves the reset in memory only;
			 * the recipients are merely tried earlier than planned */
			qmgr_schedule(q, qm, util_wall_time());
			break;
		case ACT_DELETE_NOW:
			if (rc != 0) {
				qm->removed = 0;
				qm->admin_deleting = 0;
				qmgr_schedule(q, qm, util_wall_time());
			} else if (qm->items == 0) {
				log_info("%s: removed (deleted by the "
				    "administrator)", qm->m->qid);
				qmgr_msg_drop(q, qm);
			}
			break;
		case ACT_DELETE_LATER:
			/* memory holds it either way; it goes when idle */
			break;
		}
	}
	qmgr_dispatch(q);
	if (rc != 0) {
		log_error("queue administration: %s: queue update failed",
		    queue_admin_op_name(r->op));
		admin_reply(r, "ERR queue update failed (see the daemon's log)");
		return;
	}
	snprintf(reply, sizeof(reply), "OK %zu", r->count);
	admin_reply(r, reply);
}

/* Mark one message; the transaction is filled in admin_finish. */
static int
admin_mark(struct admin_req *r, struct qmgr_msg *qm, int named)
{
	unsigned old = admin_flags(r->q, qm), want;

	if (qm->removed) {
		/* finished or being deleted: gone as far as anyone can tell */
		if (r->op == QUEUE_ADMIN_DELETE) {
			r->count++;
			return 0;
		}
		return -1;
	}
	if (qm->admin_deleting) {
		if (r->op == QUEUE_ADMIN_DELETE) {
			r->count++;
			return 0;
		}
		return named ? -2 : 0;
	}
	r->count++;
	switch (r->op) {
	case QUEUE_ADMIN_DELETE:
		qm->admin_deleting = 1;
		admin_item_add(r, qm, ACT_DELETE_LATER);	/* decided later */
		break;
	case QUEUE_ADMIN_HOLD:
	case QUEUE_ADMIN_RELEASE:
		want = r->op == QUEUE_ADMIN_HOLD ? old | QUEUE_MSG_HOLD :
		    old & ~QUEUE_MSG_HOLD;
		if (want != old) {
			struct admin_item *it = admin_item_add(r, qm, ACT_FLAGS);

			it->old_flags = old;
			it->new_flags = want;
			if (want & QUEUE_MSG_HOLD)	/* before the unqueue */
				admin_set_flags(r->q, qm, want, 0);
		}
		break;
	case QUEUE_ADMIN_REQUEUE:
		admin_item_add(r, qm, ACT_REQUEUE);
		break;
	}
	return 0;
}

struct mark_all {
	struct admin_req *r;
};

static void
admin_mark_one(const char *key, void *value, void *arg)
{
	struct mark_all *ma = arg;

	(void)key;
	(void)admin_mark(ma->r, value, 0);
}

/* After every mark: take back waiting work, build and commit the txn. */
static void
admin_finish(struct admin_req *r)
{
	qmgr *q = r->q;
	queue_txn *txn = queue_txn_new();
	size_t i, k, nops = 0;

	if (r->op == QUEUE_ADMIN_DELETE || r->op == QUEUE_ADMIN_HOLD)
		util_htable_walk(q->dests, admin_unqueue_dest, q);
	for (i = 0; i < r->n; i++) {
		struct admin_item *it = &r->items[i];
		struct qmgr_msg *qm = util_htable_get(q->msgs, it->qid);
		struct queue_msg *m = qm->m;

		switch (it->act) {
		case ACT_NONE:
			break;
		case ACT_FLAGS:
			admin_set_flags(q, qm, it->new_flags, 0);
			queue_txn_set_flags(txn, m->qid, it->new_flags);
			log_info("%s: %s by the administrator%s", m->qid,
			    (it->new_flags & QUEUE_MSG_HOLD) ? "held" :
			    "released", qm->items ? " (an attempt is running)" :
			    "");
			nops++;
			break;
		case ACT_REQUEUE: {
			unsigned char *changed = xcalloc(m->nrcpt ? m->nrcpt : 1, 1);
			size_t nch = queue_admin_change(m, QUEUE_ADMIN_REQUEUE,
			    qm->busy, changed);

			for (k = 0; k < m->nrcpt; k++)
				if (changed[k])
					queue_txn_update_rcpt(txn, m->qid, k,
					    &m->rcpt[k]);
			free(changed);
			if (nch == 0)
				it->act = ACT_NONE;
			else {
				log_info("%s: requeued by the administrator "
				    "(%zu recipient%s)", m->qid, nch,
				    nch == 1 ? "" : "s");
				nops++;
			}
			break;
		}
		case ACT_DELETE_NOW:
			break;
		case ACT_DELETE_LATER:
			if (qm->items == 0) {
				it->act = ACT_DELETE_NOW;
				qm->removed = 1;
				queue_txn_delete(txn, m->qid);
				nops++;
				break;
			}
			/* in flight: hold it durably, delete when it is back */
			admin_set_flags(q, qm, admin_flags(q, qm) |
			    QUEUE_MSG_HOLD, 1);
			queue_txn_set_flags(txn, m->qid, admin_flags(q, qm));
			log_info("%s: delete requested during delivery; held, "
			    "removed when the attempt ends", m->qid);
			nops++;
			break;
		}
	}
	if (nops == 0) {
		char reply[ADMIN_REPLY_MAX];

		queue_txn_free(txn);
		snprintf(reply, sizeof(reply), "OK %zu", r->count);
		admin_reply(r, reply);
		return;
	}
	queue_store_commit(q->store, txn, q->chan, admin_committed, r);
}

void
qmgr_admin(qmgr *q, enum queue_admin_op op, const char *qid,
    void (*done)(void *arg, const char *reply), void *arg)
{
	struct admin_req *r;

	if (queue_admin_op_name(op) == NULL) {
		done(arg, "ERR unknown operation");
		return;
	}
	if (q->stopping) {
		done(arg, "ERR busy: the daemon is stopping");
		return;
	}
	if (!q->started) {
		done(arg, "ERR busy: the queue is still being loaded");
		return;
	}
	if (qid != NULL && queue_id_valid(qid) < 0) {
		done(arg, "ERR bad queue ID");
		return;
	}
	r = xcalloc(1, sizeof(*r));
	r->q = q;
	r->op = op;
	r->done = done;
	r->arg = arg;
	if (qid == NULL) {
		struct mark_all ma = { r };

		util_htable_walk(q->msgs, admin_mark_one, &ma);
	} else {
		struct qmgr_msg *qm = util_htable_get(q->msgs, qid);
		int rc = qm ? admin_mark(r, qm, 1) : -1;

		if (rc < 0) {
			admin_reply(r, rc == -1 ? "ERR no such message" :
			    "ERR message is being deleted");
			return;
		}
	}
	admin_finish(r);
}

void
qmgr_admin_stop(qmgr *q)
{
	size_t i;

	if (q->admin_check_init) {
		uv_check_stop(&q->admin_check);
		uv_close((uv_handle_t *)&q->admin_check, NULL);
		q->admin_check_init = 0;
	}
	if (q->admin_nwait > 0)
		log_info("queue manager: %zu administrative changes wait for "
		    "running deliveries; they are on disk already",
		    q->admin_nwait);
	for (i = 0; i < q->admin_nwait; i++)
		wait_free(&q->admin_wait[i]);
	free(q->admin_wait);
	q->admin_wait = NULL;
	q->admin_nwait = q->admin_await = 0;
}
