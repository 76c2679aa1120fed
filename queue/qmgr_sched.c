/*
 * qmgr_sched.c - which recipients go out now, grouped how, through which
 * delivery agent.
 *
 * A message's pending recipients that are due (next_try <= now) and not
 * already in flight are grouped by destination into work items of at most
 * destination_rcpt_limit recipients.  Destinations with waiting items sit
 * on a ready list that is served round robin, one item per destination
 * per round, so one busy domain cannot starve the others.  Bodies are
 * loaded from the store only when an item is about to go out and are
 * dropped as soon as the message has no item left.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qmgr_int.h"

struct qmgr_msg *
qmgr_msg_adopt(qmgr *q, struct queue_msg *m)
{
	struct qmgr_msg *qm = xcalloc(1, sizeof(*qm));

	qm->m = m;
	qm->busy = xcalloc(m->nrcpt ? m->nrcpt : 1, 1);
	if (util_htable_put(q->msgs, m->qid, qm) != NULL)
		log_panic("%s: queue ID adopted twice", m->qid);
	return qm;
}

void
qmgr_msg_drop(qmgr *q, struct qmgr_msg *qm)
{
	UTIL_ASSERT(qm->items == 0);
	util_htable_del(q->msgs, qm->m->qid);
	queue_msg_free(qm->m);
	free(qm->busy);
	free(qm);
}

void
qmgr_msg_activate(qmgr *q, struct queue_msg *m)
{
	if (q->stopping || util_htable_get(q->msgs, m->qid) != NULL) {
		queue_msg_free(m);
		return;
	}
	log_info("%s: from=<%s>, size=%zu, nrcpt=%zu (queue active)", m->qid,
	    m->sender, m->body_len, m->nrcpt);
	qmgr_schedule(q, qmgr_msg_adopt(q, m), util_wall_time());
}

void
qmgr_item_free(struct qmgr_item *it)
{
	if (it == NULL)
		return;
	free(it->domain);
	free(it->idx);
	free(it);
}

/* The domain part, or "" for a bare local part (rejected on the way in,
 * but a hand-edited queue must not crash us). */
const char *
qmgr_rcpt_domain(const char *addr)
{
	const char *at = strrchr(addr, '@');

	return at ? at + 1 : "";
}

static void
lower_copy(char *dst, const char *src, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < n && src[i]; i++)
		dst[i] = (src[i] >= 'A' && src[i] <= 'Z') ? src[i] + 32 : src[i];
	dst[i] = '\0';
}

static struct qmgr_dest *
dest_get(qmgr *q, const char *name)
{
	struct qmgr_dest *d = util_htable_get(q->dests, name);

	if (d == NULL) {
		d = xcalloc(1, sizeof(*d));
		d->name = xstrdup(name);
		util_htable_put(q->dests, name, d);
	}
	return d;
}

static void
dest_enqueue(qmgr *q, struct qmgr_dest *d, struct qmgr_item *it)
{
	it->next = NULL;
	if (d->tail)
		d->tail->next = it;
	else
		d->head = it;
	d->tail = it;
	if (!d->on_ready) {
		d->on_ready = 1;
		d->ready_next = q->ready;
		q->ready = d;
	}
}

/*
 * Group the due, idle, pending recipients of qm by domain and queue work
 * items for them.  Held messages and messages being finalised are left.
 */
void
qmgr_schedule(qmgr *q, struct qmgr_msg *qm, int64_t now)
{
	struct queue_msg *m = qm->m;
	size_t i, j;
	char dom[QMGR_DOMAIN_MAX], dom2[QMGR_DOMAIN_MAX];

	if (qm->removed || (m->flags & QUEUE_MSG_HOLD) || q->stopping)
		return;
	for (i = 0; i < m->nrcpt; i++) {
		struct qmgr_item *it;
		const char *dname;

		if (qm->busy[i] || m->rcpt[i].state != QUEUE_RCPT_PENDING ||
		    m->rcpt[i].next_try > now)
			continue;
		lower_copy(dom, qmgr_rcpt_domain(m->rcpt[i].addr), sizeof(dom));
		it = xcalloc(1, sizeof(*it));
		it->q = q;
		it->qm = qm;
		it->domain = xstrdup(dom);
		it->idx = xmalloc(sizeof(size_t) * q->rcpt_limit);
		/* this and every later recipient of the same domain */
		for (j = i; j < m->nrcpt && it->nrcpt < q->rcpt_limit; j++) {
			if (qm->busy[j] || m->rcpt[j].state != QUEUE_RCPT_PENDING ||
			    m->rcpt[j].next_try > now)
				continue;
			lower_copy(dom2, qmgr_rcpt_domain(m->rcpt[j].addr),
			    sizeof(dom2));
			if (strcmp(dom, dom2) != 0)
				continue;
			qm->busy[j] = 1;
			it->idx[it->nrcpt++] = j;
		}
		dname = q->cfg->relay.host ? "[relayhost]" : dom;
		it->dest = dest_get(q, dname);
		qm->items++;
		dest_enqueue(q, it->dest, it);
	}
}

static void
schedule_one(const char *key, void *value, void *arg)
{
	qmgr *q = arg;
	int64_t now = util_wall_time();

	(void)key;
	qmgr_schedule(q, value, now);
}

void
qmgr_schedule_all(qmgr *q)
{
	util_htable_walk(q->msgs, schedule_one, q);
	qmgr_dispatch(q);
}

static void
item_submit(qmgr *q, struct qmgr_item *it)
{
	struct mta_job *job = xcalloc(1, sizeof(*job));

	job->msg = it->qm->m;
	job->domain = it->domain;
	job->nrcpt = it->nrcpt;
	job->rcpt_idx = it->idx;
	job->result = xcalloc(it->nrcpt, sizeof(*job->result));
	job->queued_ms = util_now_ms();
	job->done = qmgr_job_done;
	job->arg = it;
	mta_pool_submit(q->pool, job);
}

struct body_load {
	qmgr *q;
	struct qmgr_msg *qm;
};

static void
body_loaded(void *arg, struct queue_msg *loaded)
{
	struct body_load *bl = arg;
	qmgr *q = bl->q;
	struct qmgr_msg *qm = bl->qm;
	struct qmgr_item *it, *next;

	free(bl);
	qm->loading = 0;
	if (loaded != NULL && loaded->body != NULL) {
		qm->m->body = loaded->body;
		qm->m->body_len = loaded->body_len;
		loaded->body = NULL;
	}
	queue_msg_free(loaded);
	it = qm->wait_body;
	qm->wait_body = NULL;
	for (; it; it = next) {
		next = it->next;
		if (q->stopping) {
			/* the pool is gone; the recipients stay pending on disk */
			qm->items--;
			qmgr_item_free(it);
			continue;
		}
		if (qm->m->body != NULL) {
			item_submit(q, it);
			continue;
		}
		/* The store lost the body: defer, the store logged why. */
		log_error("%s: cannot load message body; deferring", qm->m->qid);
		{
			struct mta_job *job = xcalloc(1, sizeof(*job));
			size_t i;

			job->msg = qm->m;
			job->domain = it->domain;
			job->nrcpt = it->nrcpt;
			job->rcpt_idx = it->idx;
			job->result = xcalloc(it->nrcpt, sizeof(*job->result));
			job->arg = it;
			for (i = 0; i < it->nrcpt; i++) {
				job->result[i].outcome = MTA_DEFER;
				snprintf(job->result[i].dsn,
				    sizeof(job->result[i].dsn), "4.3.0");
				snprintf(job->result[i].text,
				    sizeof(job->result[i].text),
				    "queue file read error");
				snprintf(job->result[i].relay,
				    sizeof(job->result[i].relay), "none");
			}
			qmgr_job_done(job);
		}
	}
}

static void
item_start(qmgr *q, struct qmgr_item *it)
{
	struct qmgr_msg *qm = it->qm;

	it->dest->active++;
	q->total_active++;
	if (qm->m->body != NULL) {
		item_submit(q, it);
		return;
	}
	it->next = qm->wait_body;
	qm->wait_body = it;
	if (!qm->loading) {
		struct body_load *bl = xmalloc(sizeof(*bl));

		bl->q = q;
		bl->qm = qm;
		qm->loading = 1;
		queue_store_load(q->store, qm->m->qid, q->chan, body_loaded, bl);
	}
}

/*
 * Serve ready destinations round robin within the concurrency limits.
 * A destination at its limit stays on the ready list; one with nothing
 * waiting leaves it.
 */
void
qmgr_dispatch(qmgr *q)
{
	int progress = 1;

	if (q->stopping)
		return;
	while (progress && q->total_active < q->total_limit) {
		struct qmgr_dest **pp = &q->ready, *d;

		progress = 0;
		while ((d = *pp) != NULL && q->total_active < q->total_limit) {
			struct qmgr_item *it;

			if (d->head == NULL) {
				*pp = d->ready_next;
				d->on_ready = 0;
				d->ready_next = NULL;
				continue;
			}
			if (d->active < q->dest_limit) {
				it = d->head;
				d->head = it->next;
				if (d->head == NULL)
					d->tail = NULL;
				item_start(q, it);
				progress = 1;
			}
			pp = &d->ready_next;
		}
	}
}
