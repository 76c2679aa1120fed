/*
 * mta_sts_refresh.c - proactive MTA-STS policy refresh (RFC 8461 5.1),
 * off the delivery path.
 *
 * Why: a delivery looks at the TXT id and uses the cached policy while
 * the id is unchanged, so nothing on the delivery path extends a policy's
 * life.  Left alone, a policy of a domain we mail every day would expire
 * and be fetched again by the next delivery, on the path an attacker can
 * block.  RFC 8461 5.1 asks senders to refresh cached policies of domains
 * with mail flowing before they expire; Viktor Dukhovni on the uta list
 * put it as keeping the policy warm rather than letting it expire and
 * start cold.
 *
 * How: one delivery thread (thread 0 of the pool) owns a uv timer.  Every
 * sts_refresh_interval seconds it asks the cache thread for the domains
 * due (sts_db_due): used by a delivery within MTA_STS_REFRESH_USED_WITHIN
 * and either expiring soon - within two intervals, or in the second half
 * of the policy's max_age - or not checked for half an interval.  For
 * each, at most MTA_STS_REFRESH_MAX at once, on this thread's loop:
 *
 *   cache get (without touching last_used: a refresh is not mail)
 *   TXT _mta-sts.DOMAIN through the thread's resolver
 *     id changed                -> fetch, store under the new id
 *     id unchanged, expiring    -> fetch, store: the policy's max_age
 *                                  counts again from now (sts_db_put)
 *     id unchanged, not yet     -> note the check (checked_at)
 *     no record, DNS failure    -> note the failure, keep the policy
 *   a failed fetch notes the failure and keeps the cached policy: a
 *   refresh never removes or downgrades one (sts_cache_decide's rules).
 *
 * Domains no longer mailed are never listed, so they are never fetched
 * again; the ones the admin command cached and no delivery used neither.
 * The fetch is this thread's fetcher, so a delivery fetching the same
 * domain at the same moment shares the transfer.  A fetch failure here is
 * logged and noted but not recorded for TLS-RPT: no message was sent.
 *
 * Shutdown: mta_sts_refresh_stop() closes the timer and cancels TXT
 * lookups and fetches (no callbacks afterwards).  Cache answers cannot be
 * withdrawn; every request counts in th->sts_pending, so the thread keeps
 * its channel open until they came, and the refresher frees itself when
 * the timer is closed and nothing is owed to it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mta_int.h"

/* Refreshes running at once: a round must not flood the policy hosts or
 * the loop; four keeps a round of hundreds of domains short. */
#define MTA_STS_REFRESH_MAX		4
/* "Mailed recently": a delivery looked the domain up within a week.  Long
 * enough for weekly mail flows, short enough that a domain mailed once
 * is not fetched for the rest of a long max_age. */
#define MTA_STS_REFRESH_USED_WITHIN	(7 * 24 * 3600)
/* The first round after start-up: soon, so a daemon restarted more often
 * than the interval still refreshes. */
#define MTA_STS_REFRESH_FIRST_MAX_MS	(60u * 1000)

struct mta_sts_refresh_item;

struct mta_sts_refresh {
	struct mta_thread *th;
	uv_timer_t         timer;
	int                stopping;
	int                timer_closed;
	unsigned           owed;	/* cache answers still to come */
	int                due_asked;	/* a due list is on its way */
	char             **queue;	/* this round's domains */
	size_t             nqueue, qpos;
	struct mta_sts_refresh_item *items;	/* refreshes running */
	unsigned           nitems;
};

struct mta_sts_refresh_item {
	struct mta_sts_refresh_item *next, *prev;
	struct mta_sts_refresh *r;
	char               domain[STS_DOMAIN_MAX];
	int                getting;	/* cache get outstanding */
	struct sts_cache_entry *cached;	/* owned */
	sts_txt_query     *txt;
	sts_fetch         *fetch;
	char               id[STS_ID_MAX + 1];	/* TXT id now */
};

static void mta_sts_refresh_pump(struct mta_sts_refresh *r);

static int64_t
mta_sts_refresh_ahead(const struct mta_sts_refresh *r)
{
	return 2 * (int64_t)r->th->cfg->sts_refresh_interval;
}

static void
mta_sts_refresh_time(int64_t t, char *out, size_t outlen)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, outlen, "%lld", (long long)t);
}

/* Free r once its timer is closed and no cache answer is owed to it. */
static void
mta_sts_refresh_maybe_free(struct mta_sts_refresh *r)
{
	size_t i;

	if (!r->stopping || !r->timer_closed || r->owed != 0 ||
	    r->items != NULL)
		return;
	for (i = r->qpos; i < r->nqueue; i++)
		free(r->queue[i]);
	free(r->queue);
	free(r);
}

/* A cache request is sent: the thread and r wait for its answer. */
static void
mta_sts_refresh_owe(struct mta_sts_refresh *r)
{
	r->owed++;
	r->th->sts_pending++;
}

static void
mta_sts_refresh_paid(struct mta_sts_refresh *r)
{
	struct mta_thread *th = r->th;

	UTIL_ASSERT(r->owed > 0 && th->sts_pending > 0);
	r->owed--;
	th->sts_pending--;
	mta_sts_refresh_maybe_free(r);
	mta_thread_check_exit(th);
}

static void
mta_sts_refresh_written(void *arg, int rc)
{
	struct mta_sts_refresh *r = arg;

	if (rc < 0)
		log_warn("mta: MTA-STS cache write failed (see above)");
	mta_sts_refresh_paid(r);
}

static void
mta_sts_refresh_item_done(struct mta_sts_refresh_item *it)
{
	struct mta_sts_refresh *r = it->r;

	if (it->prev)
		it->prev->next = it->next;
	else
		r->items = it->next;
	if (it->next)
		it->next->prev = it->prev;
	r->nitems--;
	sts_cache_entry_free(it->cached);
	free(it);
	if (r->stopping)
		mta_sts_refresh_maybe_free(r);
	else
		mta_sts_refresh_pump(r);
}

static void
mta_sts_refresh_failed(struct mta_sts_refresh_item *it, const char *why)
{
	struct mta_sts_refresh *r = it->r;
	struct mta_thread *th = r->th;
	char until[32];

	mta_sts_refresh_time(it->cached->expires_at, until, sizeof(until));
	log_warn("sts refresh %s: failed (%s) keeping cached policy id %s, "
	    "%s %s", it->domain, why, it->cached->id,
	    sts_cache_entry_valid(it->cached, util_wall_time()) ?
	    "expires" : "expired", until);
	mta_sts_refresh_owe(r);
	sts_cache_note_failure(th->sts_cache, th->chan, it->domain,
	    util_wall_time(), why, mta_sts_refresh_written, r);
	mta_sts_refresh_item_done(it);
}

static void
mta_sts_refresh_on_fetch(void *arg, const struct sts_fetch_result *fr)
{
	struct mta_sts_refresh_item *it = arg;
	struct mta_sts_refresh *r = it->r;
	struct mta_thread *th = r->th;
	char why[STS_REASON_MAX + 32], until[32];
	int64_t now = util_wall_time();

	it->fetch = NULL;
	if (fr->failure != STS_FAIL_NONE || fr->policy == NULL) {
		mta_textf(why, sizeof(why), "%s: %s",
		    sts_failure_name(fr->failure), fr->reason);
		mta_sts_refresh_failed(it, why);
		return;
	}
	mta_sts_refresh_time(now + (int64_t)fr->policy->max_age, until,
	    sizeof(until));
	if (strcmp(it->id, it->cached->id) != 0)
		log_info("sts refresh %s: refetched, id %s -> %s, mode %s, "
		    "expires %s", it->domain, it->cached->id, it->id,
		    sts_mode_name(fr->policy->mode), until);
	else
		log_info("sts refresh %s: refetched, id %s unchanged, mode %s, "
		    "expires %s", it->domain, it->id,
		    sts_mode_name(fr->policy->mode), until);
	mta_sts_refresh_owe(r);
	sts_cache_put(th->sts_cache, th->chan, it->domain, it->id, fr->body,
	    fr->body_len, now, mta_sts_refresh_written, r);
	mta_sts_refresh_item_done(it);
}

static void
mta_sts_refresh_on_txt(void *arg, const struct sts_txt_result *t)
{
	struct mta_sts_refresh_item *it = arg;
	struct mta_sts_refresh *r = it->r;
	struct mta_thread *th = r->th;
	const struct sts_cache_entry *e = it->cached;
	int64_t now = util_wall_time();
	char why[STS_REASON_MAX + 32], until[32];

	it->txt = NULL;
	if (t->status != STS_TXT_FOUND) {
		/* 5.1: a missing record never deletes a policy */
		mta_textf(why, sizeof(why), "%s: %s", t->status ==
		    STS_TXT_RETRY ? "TXT lookup failed" : "no usable TXT "
		    "record", t->reason);
		mta_sts_refresh_failed(it, why);
		return;
	}
	snprintf(it->id, sizeof(it->id), "%s", t->id);
	if (strcmp(t->id, e->id) == 0 &&
	    !sts_cache_entry_expiring(e, now, mta_sts_refresh_ahead(r))) {
		mta_sts_refresh_time(e->expires_at, until, sizeof(until));
		log_info("sts refresh %s: id %s unchanged, expires %s",
		    it->domain, e->id, until);
		mta_sts_refresh_owe(r);
		sts_cache_note_checked(th->sts_cache, th->chan, it->domain, now,
		    mta_sts_refresh_written, r);
		mta_sts_refresh_item_done(it);
		return;
	}
	it->fetch = sts_fetch_start(th->sts_fetcher, it->domain,
	    mta_sts_refresh_on_fetch, it);
	if (it->fetch == NULL)
		mta_sts_refresh_failed(it, "cannot start the fetch");
}

static void
mta_sts_refresh_on_cache(void *arg, int rc, struct sts_cache_entry *e)
{
	struct mta_sts_refresh_item *it = arg;
	struct mta_sts_refresh *r = it->r;

	it->getting = 0;
	it->cached = e;
	if (r->stopping || rc < 0 || e == NULL) {
		if (!r->stopping)
			log_info("sts refresh %s: %s", it->domain, rc < 0 ?
			    "cache lookup failed" : "no longer cached");
		mta_sts_refresh_item_done(it);
	} else {
		it->txt = sts_txt_lookup(r->th->res, it->domain,
		    mta_sts_refresh_on_txt, it);
		if (it->txt == NULL)
			mta_sts_refresh_failed(it, "cannot look up TXT");
	}
	mta_sts_refresh_paid(r);
}

static void
mta_sts_refresh_begin(struct mta_sts_refresh *r, char *domain)
{
	struct mta_sts_refresh_item *it = xcalloc(1, sizeof(*it));
	struct mta_thread *th = r->th;

	it->r = r;
	snprintf(it->domain, sizeof(it->domain), "%s", domain);
	free(domain);
	it->next = r->items;
	if (r->items)
		r->items->prev = it;
	r->items = it;
	r->nitems++;
	it->getting = 1;
	mta_sts_refresh_owe(r);
	/* touch_now 0: a refresh does not count as mail */
	sts_cache_get(th->sts_cache, th->chan, it->domain, 0,
	    mta_sts_refresh_on_cache, it);
}

static void
mta_sts_refresh_pump(struct mta_sts_refresh *r)
{
	while (!r->stopping && r->nitems < MTA_STS_REFRESH_MAX &&
	    r->qpos < r->nqueue)
		mta_sts_refresh_begin(r, r->queue[r->qpos++]);
	if (r->qpos == r->nqueue && r->queue != NULL) {
		free(r->queue);
		r->queue = NULL;
		r->nqueue = r->qpos = 0;
	}
}

static void
mta_sts_refresh_on_due(void *arg, int rc, char **domains, size_t n)
{
	struct mta_sts_refresh *r = arg;
	size_t i;

	r->due_asked = 0;
	if (r->stopping || rc < 0 || n == 0) {
		for (i = 0; i < n; i++)
			free(domains[i]);
		free(domains);
	} else {
		r->queue = domains;
		r->nqueue = n;
		r->qpos = 0;
		mta_sts_refresh_pump(r);
	}
	mta_sts_refresh_paid(r);
}

static void
mta_sts_refresh_tick(uv_timer_t *t)
{
	struct mta_sts_refresh *r = t->data;
	struct mta_thread *th = r->th;
	int64_t iv = th->cfg->sts_refresh_interval;

	/* the last round is still going: it is the next round */
	if (r->stopping || r->due_asked || r->items != NULL ||
	    r->queue != NULL)
		return;
	r->due_asked = 1;
	mta_sts_refresh_owe(r);
	sts_cache_due(th->sts_cache, th->chan, util_wall_time(),
	    MTA_STS_REFRESH_USED_WITHIN, mta_sts_refresh_ahead(r), iv / 2,
	    mta_sts_refresh_on_due, r);
}

struct mta_sts_refresh *
mta_sts_refresh_start(struct mta_thread *th)
{
	struct mta_sts_refresh *r;
	uint64_t iv_ms, first;

	if (th->sts_cache == NULL || th->sts_fetcher == NULL ||
	    th->res == NULL || th->cfg->sts_refresh_interval == 0)
		return NULL;
	r = xcalloc(1, sizeof(*r));
	r->th = th;
	uv_timer_init(&th->loop, &r->timer);
	r->timer.data = r;
	iv_ms = 1000u * (uint64_t)th->cfg->sts_refresh_interval;
	first = iv_ms < MTA_STS_REFRESH_FIRST_MAX_MS ? iv_ms :
	    MTA_STS_REFRESH_FIRST_MAX_MS;
	uv_timer_start(&r->timer, mta_sts_refresh_tick, first, iv_ms);
	log_info("mta: MTA-STS proactive refresh every %us on delivery "
	    "thread %u", th->cfg->sts_refresh_interval, th->index);
	return r;
}

static void
mta_sts_refresh_closed(uv_handle_t *h)
{
	struct mta_sts_refresh *r = h->data;

	r->timer_closed = 1;
	mta_sts_refresh_maybe_free(r);
}

void
mta_sts_refresh_stop(struct mta_sts_refresh *r)
{
	struct mta_sts_refresh_item *it, *next;

	if (r == NULL || r->stopping)
		return;
	r->stopping = 1;
	uv_timer_stop(&r->timer);
	uv_close((uv_handle_t *)&r->timer, mta_sts_refresh_closed);
	/* What can be withdrawn is; items waiting for the cache end when
	 * its answer comes. */
	for (it = r->items; it != NULL; it = next) {
		next = it->next;
		if (it->getting)
			continue;
		sts_txt_cancel(it->txt);
		it->txt = NULL;
		if (it->fetch)
			sts_fetch_cancel(it->fetch);
		it->fetch = NULL;
		mta_sts_refresh_item_done(it);
	}
}
