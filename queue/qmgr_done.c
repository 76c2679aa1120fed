/*
 * qmgr_done.c - what a finished delivery attempt means for the queue.
 *
 * Every recipient result becomes durable recipient state in one store
 * transaction, together with any DSN it triggers and, when nothing is
 * left to do, the removal of the message.  Because the DSN is inserted in
 * the same transaction that marks the recipients bounced, a crash can
 * neither lose a bounce nor send it twice.
 *
 * Trouble handling follows Postfix: temporary failures back off
 * exponentially between minimal_backoff and maximal_backoff; a recipient
 * still failing after maximal_queue_lifetime (bounce_queue_lifetime for
 * our own DSNs) bounces; a null-sender message is never bounced to its
 * sender - its failure goes to the postmaster once (a "double bounce"),
 * and a failed double bounce is only logged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qmgr_int.h"

#define QMGR_DSN_MAX 3		/* failed, delayed, delivered */

struct commit_ctx {
	qmgr             *q;
	struct qmgr_msg  *qm;
	size_t            ndsn;
	struct queue_msg *dsn[QMGR_DSN_MAX];
};

uint64_t
qmgr_backoff(const qmgr *q, unsigned attempts)
{
	uint64_t d = q->min_backoff;
	unsigned i;

	for (i = 1; i < attempts && d < q->max_backoff; i++)
		d *= 2;
	return d > q->max_backoff ? q->max_backoff : d;
}

static void
dest_release(qmgr *q, struct qmgr_dest *d)
{
	UTIL_ASSERT(d->active > 0 && q->total_active > 0);
	d->active--;
	q->total_active--;
	if (d->active == 0 && d->head == NULL && !d->on_ready) {
		util_htable_del(q->dests, d->name);
		free(d->name);
		free(d);
	}
}

static int
msg_is_final(const struct queue_msg *m)
{
	size_t i;

	for (i = 0; i < m->nrcpt; i++)
		if (m->rcpt[i].state == QUEUE_RCPT_PENDING)
			return 0;
	return 1;
}

/* A failure notice about a double bounce would loop: recognise ours. */
static int
is_double_bounce(const qmgr *q, const struct queue_msg *m)
{
	const char *pm = q->cfg->postmaster, *a;
	size_t n = strlen(pm);

	if (!(m->flags & QUEUE_MSG_DSN) || m->nrcpt != 1)
		return 0;
	a = m->rcpt[0].addr;
	/* "postmaster" matches "postmaster@<myhostname>" too */
	return util_strcasecmp(a, pm) == 0 ||
	    (strchr(pm, '@') == NULL && util_strncasecmp(a, pm, n) == 0 &&
	    a[n] == '@' && util_strcasecmp(a + n + 1, q->cfg->myhostname) == 0);
}

static struct queue_msg *
make_dsn(qmgr *q, const struct queue_msg *m, const size_t *idx, size_t n,
    enum queue_dsn_kind kind, int64_t now)
{
	const char *to = m->sender;
	char pm[QUEUE_ADDR_MAX + 1];
	struct queue_msg *dsn;

	if (n == 0)
		return NULL;
	if (m->sender[0] == '\0') {
		/* never bounce a bounce; tell the postmaster about failures */
		if (kind != QUEUE_DSN_FAILED || is_double_bounce(q, m)) {
			if (kind == QUEUE_DSN_FAILED)
				log_warn("%s: undeliverable postmaster notification discarded",
				    m->qid);
			return NULL;
		}
		/* a bare "postmaster" is qualified with our own name */
		if (strchr(q->cfg->postmaster, '@') == NULL)
			snprintf(pm, sizeof(pm), "%s@%s", q->cfg->postmaster,
			    q->cfg->myhostname);
		else
			snprintf(pm, sizeof(pm), "%s", q->cfg->postmaster);
		to = pm;
	}
	{
		struct queue_dsn_opts opts = { 0, 0 };
		uint64_t life = (m->flags & QUEUE_MSG_DSN) ? q->dsn_lifetime :
		    q->lifetime;

		if (kind == QUEUE_DSN_DELAYED)
			opts.retry_until = m->arrival + (int64_t)life;
		dsn = queue_dsn_build_opts(m, idx, n, kind, to,
		    q->cfg->myhostname, now, &opts);
	}
	if (dsn != NULL)
		log_info("%s: sender %s notification: %s", m->qid,
		    kind == QUEUE_DSN_FAILED ? "non-delivery" :
		    kind == QUEUE_DSN_DELAYED ? "delay" : "relay",
		    dsn->qid);
	return dsn;
}

static void
committed(void *arg, int rc)
{
	struct commit_ctx *c = arg;
	qmgr *q = c->q;
	size_t i;

	if (rc != 0)
		log_error("%s: queue update failed; the attempt will be repeated "
		    "after a restart", c->qm->m->qid);
	for (i = 0; i < c->ndsn; i++) {
		if (rc != 0)
			queue_msg_free(c->dsn[i]);
		else
			qmgr_msg_activate(q, c->dsn[i]);
	}
	c->qm->items--;
	if (c->qm->removed && c->qm->items == 0) {
		log_info("%s: removed", c->qm->m->qid);
		qmgr_msg_drop(q, c->qm);
	} else if (c->qm->items == 0 && c->qm->m->body != NULL) {
		/* nothing in flight: the body goes back to disk only */
		free(c->qm->m->body);
		c->qm->m->body = NULL;
	}
	free(c);
	qmgr_dispatch(q);
}

static void
expire_text(struct queue_rcpt *r, const struct mta_status *st, uint64_t life)
{
	char buf[MTA_TEXT_MAX + 80];

	snprintf(buf, sizeof(buf), "message expired after %llu days in queue; "
	    "last error: %s", (unsigned long long)(life / 86400), st->text);
	queue_rcpt_set_status(r, st->dsn[0] ? st->dsn : "4.4.7", buf,
	    st->relay[0] ? st->relay : NULL, st->tls[0] ? st->tls : NULL);
}

void
qmgr_job_done(struct mta_job *job)
{
	struct qmgr_item *it = job->arg;
	qmgr *q = it->q;
	struct qmgr_msg *qm = it->qm;
	struct queue_msg *m = qm->m;
	queue_txn *txn = queue_txn_new();
	struct commit_ctx *c = xcalloc(1, sizeof(*c));
	size_t *failed = xcalloc(job->nrcpt, sizeof(size_t));
	size_t *delayed = xcalloc(job->nrcpt, sizeof(size_t));
	size_t *success = xcalloc(job->nrcpt, sizeof(size_t));
	size_t nfailed = 0, ndelayed = 0, nsuccess = 0, i;
	int64_t now = util_wall_time();
	uint64_t life = (m->flags & QUEUE_MSG_DSN) ? q->dsn_lifetime : q->lifetime;

	for (i = 0; i < job->nrcpt; i++) {
		size_t idx = job->rcpt_idx[i];
		struct queue_rcpt *r = &m->rcpt[idx];
		const struct mta_status *st = &job->result[i];

		r->attempts++;
		r->last_try = now;
		queue_rcpt_set_status(r, st->dsn[0] ? st->dsn : NULL, st->text,
		    st->relay[0] ? st->relay : NULL, st->tls[0] ? st->tls : NULL);
		switch (st->outcome) {
		case MTA_DELIVERED:
			r->state = QUEUE_RCPT_DELIVERED;
			/* RFC 3461 5.2.2: a DSN-capable next hop got NOTIFY
			 * with the recipient and reports success itself; for
			 * one without DSN, we say "relayed". */
			if ((r->notify & QUEUE_NOTIFY_SUCCESS) && !st->dsn_passed)
				success[nsuccess++] = idx;
			break;
		case MTA_BOUNCE:
			r->state = QUEUE_RCPT_BOUNCED;
			failed[nfailed++] = idx;
			break;
		case MTA_DEFER:
			if (!q->stopping && now - m->arrival >= (int64_t)life) {
				expire_text(r, st, life);
				r->state = QUEUE_RCPT_BOUNCED;
				failed[nfailed++] = idx;
				log_info("%s: to=<%s>, status=expired, returned to sender",
				    m->qid, r->addr);
				break;
			}
			r->next_try = now + (int64_t)qmgr_backoff(q, r->attempts);
			if (q->delay_warning && !r->delay_warned &&
			    now - m->arrival >= (int64_t)q->delay_warning) {
				r->delay_warned = 1;
				delayed[ndelayed++] = idx;
			}
			break;
		}
		qm->busy[idx] = 0;
		queue_txn_update_rcpt(txn, m->qid, idx, r);
	}
	if (!q->stopping) {
		c->dsn[c->ndsn] = make_dsn(q, m, failed, nfailed, QUEUE_DSN_FAILED, now);
		c->ndsn += c->dsn[c->ndsn] != NULL;
		c->dsn[c->ndsn] = make_dsn(q, m, delayed, ndelayed, QUEUE_DSN_DELAYED, now);
		c->ndsn += c->dsn[c->ndsn] != NULL;
		c->dsn[c->ndsn] = make_dsn(q, m, success, nsuccess, QUEUE_DSN_RELAYED, now);
		c->ndsn += c->dsn[c->ndsn] != NULL;
		for (i = 0; i < c->ndsn; i++)
			queue_txn_insert(txn, c->dsn[i]);
	}
	if (msg_is_final(m)) {
		queue_txn_delete(txn, m->qid);
		qm->removed = 1;
	}
	free(failed);
	free(delayed);
	free(success);
	dest_release(q, it->dest);
	free(job->result);
	free(job);
	qmgr_item_free(it);

	c->q = q;
	c->qm = qm;
	if (q->stopping) {
		/* the loop is going away: record what happened, nothing more */
		queue_store_commit(q->store, txn, NULL, NULL, NULL);
		qm->items--;
		free(c);
		return;
	}
	queue_store_commit(q->store, txn, q->chan, committed, c);
}
