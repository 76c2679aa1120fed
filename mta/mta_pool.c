/*
 * mta_pool.c - delivery threads, destinations and job hand-off.
 *
 * Each thread owns a libuv loop, a resolver, an SSL_CTX, an MTA-STS
 * policy fetcher (curl multi on its loop) and a util_chan through which
 * jobs and MTA-STS cache answers arrive.  Shared: the read-only
 * configuration and the MTA-STS cache thread (spool/sts.db, opened once
 * here; sqlite never runs on a delivery loop).  Thread 0 also runs the
 * proactive MTA-STS refresh (mta_sts_refresh.c).  A job goes to the thread chosen by a hash
 * of its destination - the recipient domain, or the single "[relay]"
 * destination with a relayhost - so connection reuse and the DNS cache
 * work per destination.
 *
 * Per thread, a destination keeps at most destination_concurrency
 * sessions; more jobs wait in its FIFO.  The queue manager limits too;
 * this is the safety net.  A job first goes to an idle session of its
 * destination (connection reuse), else to a new session if allowed, else
 * into the FIFO, where sessions that finish a job look first.
 *
 * Destinations are freed only from mta_dest_kick(), which runs from the
 * channel, so no session callback ever holds a freed destination.
 *
 * Shutdown: waiting jobs are deferred at once, idle sessions QUIT, busy
 * ones get MTA_SHUTDOWN_GRACE_MS to finish and are then deferred.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "mta_int.h"

#define MTA_THREADS_MAX		64
#define MTA_PASSWORD_MAX	1024	/* bytes read from sasl_password_file */
#define MTA_RELAY_KEY		"[relay]"
#define MTA_DEST_CONCURRENCY_DEFAULT	20

struct mta_pool {
	const struct sealpost_config *cfg;
	unsigned           n;
	struct mta_thread *th;
	util_chan         *qmgr_chan;
	char              *sasl_password;
	int                trace;
	sts_cache         *sts_cache;	/* spool/sts.db, shared; NULL none */
};

struct mta_submission {
	struct mta_thread *th;
	struct mta_job    *job;
};

struct mta_dest_ext {			/* struct mta_dest + bookkeeping */
	struct mta_dest d;
	int             kick_pending;
};

static void mta_thread_maybe_exit(struct mta_thread *th);

const char *
mta_pool_sasl_password(const struct mta_pool *p)
{
	return p->sasl_password;
}

int
mta_pool_trace(const struct mta_pool *p)
{
	return p->trace;
}

static unsigned
mta_dest_limit(const struct mta_thread *th)
{
	unsigned n = th->cfg->destination_concurrency;

	return n ? n : MTA_DEST_CONCURRENCY_DEFAULT;
}

/* ---- jobs ------------------------------------------------------------- */

static void
mta_job_call_done(void *arg)
{
	struct mta_job *job = arg;

	job->done(job);		/* on the queue manager's loop */
}

void
mta_job_finish(struct mta_jobctx *jc)
{
	struct mta_pool *p = jc->th->pool;
	struct mta_job *job = jc->job;

	UTIL_ASSERT(jc->nleft == 0);
	free(jc->set);
	free(jc);
	util_chan_post(p->qmgr_chan, mta_job_call_done, job);
}

/* ---- destinations ----------------------------------------------------- */

struct mta_jobctx *
mta_dest_pop(struct mta_dest *d)
{
	struct mta_jobctx *jc = d->head;

	if (jc) {
		d->head = jc->next;
		if (d->head == NULL)
			d->tail = NULL;
		jc->next = NULL;
	}
	return jc;
}

void
mta_dest_push_front(struct mta_dest *d, struct mta_jobctx *jc)
{
	jc->next = d->head;
	d->head = jc;
	if (d->tail == NULL)
		d->tail = jc;
}

static void
mta_dest_push_back(struct mta_dest *d, struct mta_jobctx *jc)
{
	jc->next = NULL;
	if (d->tail)
		d->tail->next = jc;
	else
		d->head = jc;
	d->tail = jc;
}

static void
mta_dest_defer_waiting(struct mta_dest *d, const char *why)
{
	struct mta_jobctx *jc;

	while ((jc = mta_dest_pop(d)) != NULL) {
		mta_result_rest(jc, MTA_DEFER, 0, "4.3.0", why, NULL, NULL);
		mta_job_finish(jc);
	}
}

/* Start sessions for waiting jobs; free the destination when unused. */
static void
mta_dest_kick(void *arg)
{
	struct mta_dest_ext *x = arg;
	struct mta_dest *d = &x->d;
	struct mta_thread *th = d->th;
	struct mta_jobctx *jc;

	x->kick_pending = 0;
	if (th->stopping)
		mta_dest_defer_waiting(d, "delivery agent shutting down");
	while (d->head && d->nsessions < mta_dest_limit(th) &&
	    (jc = mta_dest_pop(d)) != NULL)
		mta_session_start(d, jc);
	if (d->nsessions == 0 && d->head == NULL && !x->kick_pending) {
		mta_sts_dest_free(d);
		util_htable_del(th->dests, d->key);
		free(d->key);
		free(x);
		mta_thread_maybe_exit(th);
	}
}

void
mta_dest_session_gone(struct mta_dest *d)
{
	struct mta_dest_ext *x = (struct mta_dest_ext *)d;

	UTIL_ASSERT(d->nsessions > 0);
	d->nsessions--;
	if (!x->kick_pending) {
		x->kick_pending = 1;
		util_chan_post(d->th->chan, mta_dest_kick, x);
	}
}

static struct mta_dest *
mta_dest_get(struct mta_thread *th, const char *key, int relay)
{
	struct mta_dest_ext *x = util_htable_get(th->dests, key);

	if (x == NULL) {
		x = xcalloc(1, sizeof(*x));
		x->d.key = xstrdup(key);
		x->d.relay = relay;
		x->d.th = th;
		util_htable_put(th->dests, key, x);
	}
	return &x->d;
}

/* ---- the delivery thread ---------------------------------------------- */

static void
mta_thread_accept(void *arg)
{
	struct mta_submission *sub = arg;
	struct mta_thread *th = sub->th;
	struct mta_job *job = sub->job;
	const struct sealpost_config *cfg = th->cfg;
	struct mta_jobctx *jc;
	struct mta_dest *d;
	int relay = cfg->relay.host && cfg->relay.host[0];

	free(sub);
	jc = xcalloc(1, sizeof(*jc));
	jc->job = job;
	jc->th = th;
	jc->set = xcalloc(job->nrcpt ? job->nrcpt : 1, 1);
	jc->nleft = job->nrcpt;
	if (job->nrcpt == 0) {
		mta_job_finish(jc);
		return;
	}
	if (th->stopping) {
		mta_result_rest(jc, MTA_DEFER, 0, "4.3.0",
		    "delivery agent shutting down", NULL, NULL);
		mta_job_finish(jc);
		return;
	}
	d = mta_dest_get(th, relay ? MTA_RELAY_KEY : job->domain, relay);
	if (mta_session_offer(d, jc) == 0)
		return;
	if (d->nsessions < mta_dest_limit(th) && d->head == NULL)
		mta_session_start(d, jc);
	else
		mta_dest_push_back(d, jc);
}

static void
mta_thread_close(uv_timer_t *t)
{
	struct mta_thread *th = t->data;

	/* the fetcher's handles close on this loop, before the resolver */
	sts_fetcher_free(th->sts_fetcher);
	th->sts_fetcher = NULL;
	util_chan_close(th->chan);
	th->chan = NULL;
	if (th->res)
		res_free(th->res);
	th->res = NULL;
	uv_close((uv_handle_t *)&th->grace, NULL);
}

static void
mta_thread_maybe_exit(struct mta_thread *th)
{
	/* MTA-STS cache answers still to come need the channel open. */
	if (!th->stopping || th->sessions != NULL ||
	    util_htable_count(th->dests) != 0 || th->grace_on == 2 ||
	    th->sts_pending != 0)
		return;
	/* Close from a timer callback, not from inside the channel. */
	th->grace_on = 2;
	uv_timer_stop(&th->grace);
	uv_timer_start(&th->grace, mta_thread_close, 0, 0);
}

void
mta_thread_check_exit(struct mta_thread *th)
{
	mta_thread_maybe_exit(th);
}

static void
mta_thread_grace_over(uv_timer_t *t)
{
	struct mta_thread *th = t->data;

	log_warn("mta thread %u: shutdown grace time over, deferring "
	    "what is still running", th->index);
	mta_session_shutdown_all(th, 1);
	mta_thread_maybe_exit(th);
}

static void
mta_collect_dest(const char *key, void *value, void *arg)
{
	struct mta_dest_ext ***pp = arg;

	*(*pp)++ = value;
}

static void
mta_thread_stop(void *arg)
{
	struct mta_thread *th = arg;
	struct mta_dest_ext **all, **end;
	size_t i, n;

	th->stopping = 1;
	n = util_htable_count(th->dests);
	all = xcalloc(n ? n : 1, sizeof(*all));
	end = all;
	util_htable_walk(th->dests, mta_collect_dest, &end);
	for (i = 0; i < n; i++) {
		mta_dest_defer_waiting(&all[i]->d,
		    "delivery agent shutting down");
		if (!all[i]->kick_pending) {
			all[i]->kick_pending = 1;
			util_chan_post(th->chan, mta_dest_kick, all[i]);
		}
	}
	free(all);
	mta_sts_refresh_stop(th->sts_refresh);
	th->sts_refresh = NULL;
	mta_session_shutdown_all(th, 0);
	th->grace_on = 1;
	uv_timer_start(&th->grace, mta_thread_grace_over,
	    MTA_SHUTDOWN_GRACE_MS, 0);
	mta_thread_maybe_exit(th);
}

static void
mta_thread_main(void *arg)
{
	struct mta_thread *th = arg;
	int rc;

	uv_run(&th->loop, UV_RUN_DEFAULT);
	if ((rc = uv_loop_close(&th->loop)) != 0)
		log_error("mta thread %u: loop close: %s", th->index,
		    uv_strerror(rc));
}

/* ---- the pool --------------------------------------------------------- */

static char *
mta_read_password(const char *path, char *err, size_t errlen)
{
	char buf[MTA_PASSWORD_MAX + 1];
	ssize_t n;
	size_t len = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		snprintf(err, errlen, "cannot open sasl_password_file %s: %s",
		    path, strerror(errno));
		return NULL;
	}
	while (len < sizeof(buf) &&
	    (n = read(fd, buf + len, sizeof(buf) - len)) > 0)
		len += (size_t)n;
	close(fd);
	if (len > MTA_PASSWORD_MAX) {
		OPENSSL_cleanse(buf, sizeof(buf));
		snprintf(err, errlen, "sasl_password_file %s: longer than %u "
		    "bytes", path, MTA_PASSWORD_MAX);
		return NULL;
	}
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	buf[len] = '\0';
	{
		char *pw = xstrndup(buf, len);

		OPENSSL_cleanse(buf, sizeof(buf));
		return pw;
	}
}

/* Close what mta_thread_setup opened (threads not started). */
static void
mta_thread_teardown(struct mta_thread *th)
{
	sts_fetcher_free(th->sts_fetcher);
	th->sts_fetcher = NULL;
	if (th->chan)
		util_chan_close(th->chan);
	if (th->res)
		res_free(th->res);
	uv_close((uv_handle_t *)&th->grace, NULL);
	uv_run(&th->loop, UV_RUN_DEFAULT);
	(void)uv_loop_close(&th->loop);
	SSL_CTX_free(th->ssl_ctx);
	util_htable_free(th->dests);
}

static int
mta_thread_setup(struct mta_pool *p, unsigned i, char *err, size_t errlen)
{
	struct mta_thread *th = &p->th[i];
	char why[256] = "";
	int rc;

	th->pool = p;
	th->cfg = p->cfg;
	th->index = i;
	if ((rc = uv_loop_init(&th->loop)) != 0) {
		snprintf(err, errlen, "uv_loop_init: %s", uv_strerror(rc));
		return -1;
	}
	th->chan = util_chan_create(&th->loop);
	uv_timer_init(&th->loop, &th->grace);
	th->grace.data = th;
	th->dests = util_htable_new();
	th->ssl_ctx = tls_client_ctx_create(p->cfg, why, sizeof(why));
	if (th->ssl_ctx == NULL) {
		snprintf(err, errlen, "TLS: %s", why);
		mta_thread_teardown(th);
		return -1;
	}
	th->res = res_create(&th->loop, &p->cfg->resolver, why, sizeof(why));
	if (th->res == NULL) {
		snprintf(err, errlen, "resolver: %s", why);
		mta_thread_teardown(th);
		return -1;
	}
	th->sts_cache = p->sts_cache;
	if (p->cfg->mta_sts) {
		/* curl multi on this loop; the policy host resolved by
		 * this thread's resolver (docs/mta-sts.md) */
		struct sts_fetch_opts opts;

		memset(&opts, 0, sizeof(opts));
		opts.ca_file = p->cfg->tls_ca_file;
		opts.timeout_ms = 1000u * p->cfg->sts_fetch_timeout;
		th->sts_fetcher = sts_fetcher_create(&th->loop, th->res, &opts,
		    why, sizeof(why));
		if (th->sts_fetcher == NULL) {
			snprintf(err, errlen, "MTA-STS fetcher: %s", why);
			mta_thread_teardown(th);
			return -1;
		}
	}
	return 0;
}

/* The MTA-STS cache thread, once for all delivery threads.  Without it
 * policies are still fetched and enforced, just not remembered. */
static void
mta_pool_sts_open(struct mta_pool *p)
{
	const struct sealpost_config *cfg = p->cfg;
	char path[4096], why[256] = "";
	int n;

	if (!cfg->mta_sts)
		return;
	n = snprintf(path, sizeof(path), "%s/%s", cfg->spool_directory ?
	    cfg->spool_directory : "spool", STS_CACHE_FILE);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		log_error("mta: MTA-STS cache path too long; running without "
		    "a policy cache");
		return;
	}
	p->sts_cache = sts_cache_open(path, why, sizeof(why));
	if (p->sts_cache == NULL)
		log_error("mta: MTA-STS cache %s: %s; running without a "
		    "policy cache", path, why);
}

mta_pool *
mta_pool_create(const struct sealpost_config *cfg, unsigned nthreads,
    util_chan *qmgr_chan, char *err, size_t errlen)
{
	struct mta_pool *p = xcalloc(1, sizeof(*p));
	const char *tr = getenv("SEALPOST_MTA_TRACE");
	unsigned i;
	int rc;

	p->cfg = cfg;
	p->qmgr_chan = qmgr_chan;
	/* Protocol trace for debugging: every command and reply (AUTH
	 * data hidden).  Off unless the environment asks. */
	p->trace = tr && tr[0] && strcmp(tr, "0") != 0;
	if (nthreads == 0)
		nthreads = cfg->delivery_threads;
	if (nthreads == 0) {
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

		nthreads = ncpu > 0 ? (unsigned)ncpu : 1;
	}
	if (nthreads > MTA_THREADS_MAX)
		nthreads = MTA_THREADS_MAX;
	tls_init();
	if (cfg->mta_sts && sts_init() < 0) {
		snprintf(err, errlen, "MTA-STS: curl_global_init failed");
		free(p);
		return NULL;
	}
	if (cfg->relay.host && cfg->relay.sasl_username &&
	    cfg->relay.sasl_username[0]) {
		if (cfg->relay.sasl_password_file == NULL ||
		    (p->sasl_password = mta_read_password(
		    cfg->relay.sasl_password_file, err, errlen)) == NULL) {
			if (cfg->relay.sasl_password_file == NULL)
				snprintf(err, errlen, "relayhost "
				    "sasl_username needs sasl_password_file");
			free(p);
			return NULL;
		}
		if (mta_sasl_global_init(err, errlen) < 0)
			goto fail;
	}
	mta_pool_sts_open(p);
	p->th = xcalloc(nthreads, sizeof(*p->th));
	for (i = 0; i < nthreads; i++) {
		if (mta_thread_setup(p, i, err, errlen) < 0) {
			while (i-- > 0)
				mta_thread_teardown(&p->th[i]);
			goto fail;
		}
	}
	p->n = nthreads;
	/* RFC 8461 5.1: one thread keeps the policies of mailed domains
	 * fresh; its fetches share that thread's fetcher */
	p->th[0].sts_refresh = mta_sts_refresh_start(&p->th[0]);
	for (i = 0; i < nthreads; i++) {
		if ((rc = uv_thread_create(&p->th[i].tid, mta_thread_main,
		    &p->th[i])) != 0)
			log_fatal("mta: cannot start delivery thread: %s",
			    uv_strerror(rc));
	}
	return p;
fail:
	sts_cache_close(p->sts_cache);
	if (p->sasl_password) {
		OPENSSL_cleanse(p->sasl_password, strlen(p->sasl_password));
		free(p->sasl_password);
	}
	free(p->th);
	free(p);
	return NULL;
}

/* FNV-1a of the lower-cased key: stable and cheap. */
static uint32_t
mta_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++) {
		h ^= (uint32_t)tolower((unsigned char)*s);
		h *= 16777619u;
	}
	return h;
}

void
mta_pool_submit(mta_pool *p, struct mta_job *job)
{
	struct mta_submission *sub = xmalloc(sizeof(*sub));
	int relay = p->cfg->relay.host && p->cfg->relay.host[0];
	const char *key = relay ? MTA_RELAY_KEY :
	    (job->domain ? job->domain : "");

	UTIL_ASSERT(job->done != NULL);
	sub->job = job;
	sub->th = &p->th[mta_hash(key) % p->n];
	util_chan_post(sub->th->chan, mta_thread_accept, sub);
}

void
mta_pool_free(mta_pool *p)
{
	unsigned i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n; i++)
		util_chan_post(p->th[i].chan, mta_thread_stop, &p->th[i]);
	for (i = 0; i < p->n; i++) {
		uv_thread_join(&p->th[i].tid);
		SSL_CTX_free(p->th[i].ssl_ctx);
		util_htable_free(p->th[i].dests);
	}
	/* every thread waited for its cache answers before exiting */
	sts_cache_close(p->sts_cache);
	if (p->sasl_password) {
		OPENSSL_cleanse(p->sasl_password, strlen(p->sasl_password));
		free(p->sasl_password);
	}
	free(p->th);
	free(p);
}
