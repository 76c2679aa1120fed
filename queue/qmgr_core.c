/*
 * qmgr_core.c - queue manager life cycle: start-up scan, the retry timer,
 * flush, reload and shutdown.
 *
 * Start-up order matters for the "nothing lost" promise: first every
 * message already in the store is indexed, then the maildrop is imported
 * (files that were committed but not yet unlinked before a crash are
 * ignored by queue ID), and only then is anything scheduled.
 */
#include <stdlib.h>
#include <string.h>

#include "qmgr_int.h"

#define QMGR_RETRY_TICK_MAX_MS 5000	/* deferred scans at least this often */

static void
settings_from(qmgr *q, const struct sealpost_config *cfg)
{
	q->dest_limit = cfg->destination_concurrency ? cfg->destination_concurrency : 1;
	q->total_limit = cfg->total_concurrency ? cfg->total_concurrency : 1;
	q->rcpt_limit = cfg->destination_rcpt_limit ? cfg->destination_rcpt_limit : 1;
	q->min_backoff = cfg->minimal_backoff ? cfg->minimal_backoff : 1;
	q->max_backoff = cfg->maximal_backoff < q->min_backoff ?
	    q->min_backoff : cfg->maximal_backoff;
	q->lifetime = cfg->maximal_queue_lifetime;
	q->dsn_lifetime = cfg->bounce_queue_lifetime;
	q->delay_warning = cfg->delay_warning_time;
	q->run_delay = cfg->queue_run_delay ? cfg->queue_run_delay : 1;
}

qmgr *
qmgr_create(uv_loop_t *loop, const struct sealpost_config *cfg,
    queue_store *store, mta_pool *pool, util_chan *chan)
{
	qmgr *q = xcalloc(1, sizeof(*q));

	q->loop = loop;
	q->cfg = cfg;
	q->store = store;
	q->pool = pool;
	q->chan = chan;
	q->msgs = util_htable_new();
	q->dests = util_htable_new();
	settings_from(q, cfg);
	uv_timer_init(loop, &q->retry_timer);
	q->retry_timer.data = q;
	return q;
}

static void
retry_tick(uv_timer_t *t)
{
	/* the periodic maildrop scan backs up lost WAKEUP triggers */
	qmgr_import(t->data);
	qmgr_schedule_all(t->data);
}

struct flush_arg {
	const char *domain;
};

static void
flush_one(const char *key, void *value, void *arg)
{
	struct qmgr_msg *qm = value;
	struct flush_arg *fa = arg;
	size_t i;

	(void)key;
	for (i = 0; i < qm->m->nrcpt; i++) {
		struct queue_rcpt *r = &qm->m->rcpt[i];

		if (r->state != QUEUE_RCPT_PENDING)
			continue;
		if (fa->domain && util_strcasecmp(
		    qmgr_rcpt_domain(r->addr), fa->domain) != 0)
			continue;
		r->next_try = 0;
	}
}

static void
scan_cb(void *arg, struct queue_msg *m)
{
	qmgr *q = arg;
	uint64_t ms;

	if (m != NULL) {
		if (util_htable_get(q->msgs, m->qid) != NULL) {
			queue_msg_free(m);
			return;
		}
		qmgr_msg_adopt(q, m);
		return;
	}
	if (q->stopping)
		return;
	log_info("queue manager: %zu messages in the queue",
	    util_htable_count(q->msgs));
	if (q->flush_pending) {
		struct flush_arg fa = { q->flush_domain };

		util_htable_walk(q->msgs, flush_one, &fa);
		free(q->flush_domain);
		q->flush_domain = NULL;
		q->flush_pending = 0;
	}
	q->started = 1;
	ms = q->run_delay * 1000;
	if (ms > QMGR_RETRY_TICK_MAX_MS)
		ms = QMGR_RETRY_TICK_MAX_MS;
	uv_timer_start(&q->retry_timer, retry_tick, ms, ms);
	qmgr_import(q);
	qmgr_schedule_all(q);
}

int
qmgr_start(qmgr *q)
{
	if (qmgr_control_start(q) < 0)
		return -1;
	queue_store_scan(q->store, q->chan, scan_cb, q);
	return 0;
}

void
qmgr_flush(qmgr *q, const char *domain)
{
	struct flush_arg fa = { domain };

	log_info("queue manager: flush %s", domain ? domain : "all");
	util_htable_walk(q->msgs, flush_one, &fa);
	if (q->started) {
		qmgr_schedule_all(q);
		return;
	}
	/* The start-up scan is still adopting messages: the ones it has not
	 * reached yet must be flushed too.  Two different domains before
	 * the scan ends make it a flush of everything. */
	if (!q->flush_pending) {
		q->flush_pending = 1;
		q->flush_domain = domain ? xstrdup(domain) : NULL;
	} else if (q->flush_domain != NULL && (domain == NULL ||
	    util_strcasecmp(q->flush_domain, domain) != 0)) {
		free(q->flush_domain);
		q->flush_domain = NULL;
	}
}

void
qmgr_wakeup(qmgr *q)
{
	if (q->started)
		qmgr_import(q);
}

void
qmgr_reload(qmgr *q, const struct sealpost_config *cfg)
{
	settings_from(q, cfg);
	if (q->started)
		qmgr_schedule_all(q);
}

void
qmgr_stop(qmgr *q)
{
	q->stopping = 1;
	uv_timer_stop(&q->retry_timer);
	uv_close((uv_handle_t *)&q->retry_timer, NULL);
	qmgr_control_stop(q);
}

static void
free_msg(const char *key, void *value, void *arg)
{
	struct qmgr_msg *qm = value;

	struct qmgr_item *it, *next;

	(void)key;
	(void)arg;
	for (it = qm->wait_body; it; it = next) {
		next = it->next;
		qmgr_item_free(it);
	}
	queue_msg_free(qm->m);
	free(qm->busy);
	free(qm);
}

static void
free_dest(const char *key, void *value, void *arg)
{
	struct qmgr_dest *d = value;
	struct qmgr_item *it, *next;

	(void)key;
	(void)arg;
	for (it = d->head; it; it = next) {
		next = it->next;
		qmgr_item_free(it);
	}
	free(d->name);
	free(d);
}

void
qmgr_free(qmgr *q)
{
	if (q == NULL)
		return;
	util_htable_walk(q->msgs, free_msg, NULL);
	util_htable_walk(q->dests, free_dest, NULL);
	util_htable_free(q->msgs);
	util_htable_free(q->dests);
	free(q->flush_domain);
	free(q);
}
