/*
 * sts_fetch.c - fetch https://mta-sts.DOMAIN/.well-known/mta-sts.txt
 * (RFC 8461 3.3) with libcurl's multi interface driven by a libuv loop,
 * and look up the _mta-sts TXT record (3.1) through our resolver.
 *
 * Loop integration (curl's multi_socket API) is tls_curlm.c, shared with
 * the TLS-RPT sender's POSTs (tls_http.h).  Nothing here blocks:
 * the policy host's addresses come from our own resolver (A and AAAA in
 * parallel) and are handed to curl with CURLOPT_RESOLVE, so curl never
 * resolves a name itself and one resolver configuration serves SMTP,
 * DANE and MTA-STS alike.
 *
 * What a fetch insists on: https only (CURLOPT_PROTOCOLS_STR), PKIX
 * validation against the configured CA file only (no CA path), host name
 * check of mta-sts.DOMAIN (curl sends it as SNI too), no redirects
 * followed (a 3xx fails), HTTP 200 only, media type text/plain, at most
 * STS_POLICY_MAX bytes of body (the transfer is aborted at the first byte
 * beyond), no proxy from the environment, no connection reuse, and one
 * deadline for the whole fetch, DNS included.  Every failure is classed
 * for TLS-RPT (enum sts_failure).
 *
 * Sharing: one job per domain at a time (util_htable by domain); later
 * requests for that domain join it as extra waiters.  The job ends when
 * it completes (all waiters called back) or when its last waiter cancels.
 *
 * Callbacks and lifetimes: completion never calls user code from inside
 * a curl or resolver callback; it arms the job's timer with 0 ms and
 * finishes from that timer callback, so a user callback may start,
 * cancel, or free the whole fetcher.  A job embeds a uv_timer_t and is
 * freed in its close callback; the fetcher is freed when its last job
 * timer has closed after sts_fetcher_free().
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "sts.h"
#include "tls_http.h"

#define STS_WELL_KNOWN	"/.well-known/mta-sts.txt"
#define STS_HOST_PREFIX	"mta-sts."
#define STS_RESOLVE_MAX	2048	/* "host:443:" + up to 2 x RES_ADDRS_MAX
				 * addresses */

struct sts_fetcher {
	uv_loop_t   *loop;
	res_ctx     *res;
	tls_curlm   *curlm;		/* curl multi on our loop */
	char        *ca_file, *resolve, *connect_to;
	unsigned     timeout_ms;
	unsigned     port;		/* 443 but in tests */
	util_htable *running;		/* domain -> struct sts_job */
	unsigned     handles;		/* job timers, + 1 until freed */
	int          closing;
};

struct sts_job {
	sts_fetcher *f;
	char         domain[STS_DOMAIN_MAX];
	char         host[STS_DOMAIN_MAX + 8];
	struct sts_fetch *waiters;
	int          delivering;
	res_query   *qa, *qaaaa;
	struct dynbuf addrs;		/* "a,[b],..." from A/AAAA */
	enum res_rcode dns_rc;		/* best of the two lookups */
	CURL        *easy;
	struct curl_slist *resolve, *connect_to;
	struct dynbuf body;
	uv_timer_t   timer;		/* deadline, then "finish now" */
	int          done;		/* result set, finishing */
	enum sts_failure failure;
	char         reason[STS_REASON_MAX];
	long         http_status;
	char         errbuf[CURL_ERROR_SIZE];
};

struct sts_fetch {
	struct sts_fetch *next;
	struct sts_job   *job;
	sts_fetch_cb      cb;		/* NULL: cancelled while delivering */
	void             *arg;
};

static void job_finish(struct sts_job *j);

int
sts_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

/* ---- handle bookkeeping ------------------------------------------------- */

static void
fetcher_release(sts_fetcher *f)
{
	UTIL_ASSERT(f->handles > 0);
	if (--f->handles > 0)
		return;
	util_htable_free(f->running);
	free(f->ca_file);
	free(f->resolve);
	free(f->connect_to);
	free(f);
}

/* ---- results --------------------------------------------------------------- */

/* First failure wins: a later, less specific error (the write error we
 * provoked by aborting) must not overwrite why we aborted. */
static void
job_fail(struct sts_job *j, enum sts_failure why, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
job_fail(struct sts_job *j, enum sts_failure why, const char *fmt, ...)
{
	va_list ap;

	if (j->failure != STS_FAIL_NONE)
		return;
	j->failure = why;
	va_start(ap, fmt);
	vsnprintf(j->reason, sizeof(j->reason), fmt, ap);
	va_end(ap);
}

static void
job_timer_cb(uv_timer_t *t)
{
	struct sts_job *j = t->data;

	if (!j->done)
		job_fail(j, STS_FAIL_FETCH, "timeout after %u ms",
		    j->f->timeout_ms);
	job_finish(j);
}

/* Result known (or failure recorded): finish from a fresh timer tick. */
static void
job_done_soon(struct sts_job *j)
{
	if (j->done)
		return;
	j->done = 1;
	uv_timer_start(&j->timer, job_timer_cb, 0, 0);
}

static void
job_closed(uv_handle_t *h)
{
	struct sts_job *j = h->data;
	sts_fetcher *f = j->f;

	free(j);
	fetcher_release(f);
}

/* Tear down everything but the timer (the job's memory). */
static void
job_release_io(struct sts_job *j)
{
	sts_fetcher *f = j->f;

	if (util_htable_get(f->running, j->domain) == j)
		util_htable_del(f->running, j->domain);
	if (j->qa)
		res_cancel(j->qa);
	if (j->qaaaa)
		res_cancel(j->qaaaa);
	j->qa = j->qaaaa = NULL;
	if (j->easy) {
		tls_curlm_remove(f->curlm, j->easy);
		curl_easy_cleanup(j->easy);
		j->easy = NULL;
	}
	curl_slist_free_all(j->resolve);
	curl_slist_free_all(j->connect_to);
	j->resolve = j->connect_to = NULL;
}

static void
job_free(struct sts_job *j)
{
	uv_timer_stop(&j->timer);
	dynbuf_free(&j->body);
	dynbuf_free(&j->addrs);
	uv_close((uv_handle_t *)&j->timer, job_closed);
}

static void
job_finish(struct sts_job *j)
{
	struct sts_fetch_result r;
	struct sts_policy *policy = NULL;
	struct sts_fetch *w, *next;
	char why[STS_REASON_MAX];

	job_release_io(j);
	if (j->failure == STS_FAIL_NONE &&
	    sts_policy_parse(j->body.p ? j->body.p : "", j->body.len, &policy,
	    why, sizeof(why)) < 0)
		job_fail(j, STS_FAIL_INVALID, "policy invalid: %s", why);
	memset(&r, 0, sizeof(r));
	r.domain = j->domain;
	r.failure = j->failure;
	snprintf(r.reason, sizeof(r.reason), "%s", j->reason);
	r.http_status = j->http_status;
	r.policy = policy;
	r.body = j->body.p ? j->body.p : "";
	r.body_len = j->body.len;
	j->delivering = 1;
	for (w = j->waiters; w; w = next) {
		next = w->next;
		/* the fetcher may be freed by a callback: stop calling */
		if (w->cb && !j->f->closing)
			w->cb(w->arg, &r);
		free(w);
	}
	j->waiters = NULL;
	sts_policy_free(policy);
	job_free(j);
}

/* ---- curl callbacks ---------------------------------------------------------- */

static size_t
write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct sts_job *j = arg;
	size_t n = size * nmemb;
	const char *ct = NULL;
	long code = 0;

	if (j->body.len == 0) {
		/* decide on status and media type before keeping a byte */
		curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &code);
		j->http_status = code;
		if (code != 200) {
			job_fail(j, STS_FAIL_FETCH, "HTTP status %ld", code);
			return 0;
		}
		curl_easy_getinfo(j->easy, CURLINFO_CONTENT_TYPE, &ct);
		if (!sts_media_type_ok(ct)) {
			char shown[64];

			util_printable(ct ? ct : "(none)", strlen(ct ? ct :
			    "(none)"), shown, sizeof(shown));
			job_fail(j, STS_FAIL_FETCH, "media type %s, not "
			    "text/plain", shown);
			return 0;
		}
	}
	if (dynbuf_add(&j->body, data, n) < 0) {
		job_fail(j, STS_FAIL_FETCH, "policy larger than %u bytes",
		    STS_POLICY_MAX);
		return 0;		/* aborts with CURLE_WRITE_ERROR */
	}
	return n;
}

static void
classify_curl(struct sts_job *j, CURLcode rc)
{
	const char *ct = NULL;
	long code = 0;

	if (rc == CURLE_OK) {
		curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &code);
		j->http_status = code;
		if (code >= 300 && code < 400)
			job_fail(j, STS_FAIL_FETCH, "HTTP status %ld "
			    "(redirects are not followed)", code);
		else if (code != 200)
			job_fail(j, STS_FAIL_FETCH, "HTTP status %ld", code);
		curl_easy_getinfo(j->easy, CURLINFO_CONTENT_TYPE, &ct);
		if (!sts_media_type_ok(ct))
			job_fail(j, STS_FAIL_FETCH, "media type not "
			    "text/plain");
		return;
	}
	switch (rc) {
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		job_fail(j, STS_FAIL_WEBPKI, "certificate: %s",
		    j->errbuf[0] ? j->errbuf : curl_easy_strerror(rc));
		break;
	case CURLE_FILESIZE_EXCEEDED:
		job_fail(j, STS_FAIL_FETCH, "policy larger than %u bytes",
		    STS_POLICY_MAX);
		break;
	case CURLE_OPERATION_TIMEDOUT:
		job_fail(j, STS_FAIL_FETCH, "timeout: %s", j->errbuf);
		break;
	default:
		job_fail(j, STS_FAIL_FETCH, "%s%s%s", curl_easy_strerror(rc),
		    j->errbuf[0] ? ": " : "", j->errbuf);
		break;
	}
}

/* Inside curl's socket handling: class the outcome, finish from the loop. */
static void
job_curl_done(void *arg, CURLcode rc)
{
	struct sts_job *j = arg;

	classify_curl(j, rc);
	job_done_soon(j);
}

/* ---- starting the transfer ------------------------------------------------- */

static void
job_start_http(struct sts_job *j)
{
	sts_fetcher *f = j->f;
	char url[STS_DOMAIN_MAX + 64];
	CURL *e;

	e = curl_easy_init();
	if (e == NULL) {
		job_fail(j, STS_FAIL_FETCH, "curl_easy_init failed");
		job_done_soon(j);
		return;
	}
	j->easy = e;
	if (f->port == 443)
		snprintf(url, sizeof(url), "https://%s" STS_WELL_KNOWN,
		    j->host);
	else
		snprintf(url, sizeof(url), "https://%s:%u" STS_WELL_KNOWN,
		    j->host, f->port);
	tls_curlm_easy_https(e, url, f->ca_file, "sealpost/" SEALPOST_VERSION,
	    j->errbuf);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, j);
	/* libcurl checks the size too, when the server announces it */
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)STS_POLICY_MAX);
	if (j->resolve)
		curl_easy_setopt(e, CURLOPT_RESOLVE, j->resolve);
	if (j->connect_to)
		curl_easy_setopt(e, CURLOPT_CONNECT_TO, j->connect_to);
	if (tls_curlm_add(f->curlm, e, job_curl_done, j) < 0) {
		job_fail(j, STS_FAIL_FETCH, "curl_multi_add_handle failed");
		job_done_soon(j);
	}
}

static void
job_dns_done(struct sts_job *j)
{
	char entry[STS_RESOLVE_MAX];

	if (j->qa || j->qaaaa)
		return;			/* the other lookup is still out */
	if (j->addrs.len == 0) {
		job_fail(j, STS_FAIL_FETCH, "DNS: no address for %s (%s)",
		    j->host, res_rcode_name(j->dns_rc));
		job_done_soon(j);
		return;
	}
	snprintf(entry, sizeof(entry), "%s:%u:%s", j->host, j->f->port,
	    j->addrs.p);
	j->resolve = curl_slist_append(NULL, entry);
	job_start_http(j);
}

static void
a_cb(void *arg, const struct res_answer *ans)
{
	struct sts_job *j = arg;

	j->qa = NULL;
	tls_curlm_addrs(&j->addrs, &j->dns_rc, ans);
	job_dns_done(j);
}

static void
aaaa_cb(void *arg, const struct res_answer *ans)
{
	struct sts_job *j = arg;

	j->qaaaa = NULL;
	tls_curlm_addrs(&j->addrs, &j->dns_rc, ans);
	job_dns_done(j);
}

/* ---- the public interface ------------------------------------------------ */

sts_fetcher *
sts_fetcher_create(uv_loop_t *loop, res_ctx *res,
    const struct sts_fetch_opts *opts, char *err, size_t errlen)
{
	sts_fetcher *f;

	if (res == NULL && (opts->resolve == NULL && opts->connect_to == NULL)) {
		snprintf(err, errlen, "sts fetcher needs a resolver");
		return NULL;
	}
	f = xcalloc(1, sizeof(*f));
	f->curlm = tls_curlm_create(loop);
	if (f->curlm == NULL) {
		snprintf(err, errlen, "curl_multi_init failed");
		free(f);
		return NULL;
	}
	f->loop = loop;
	f->res = res;
	f->ca_file = xstrdup(opts->ca_file);
	f->resolve = xstrdup(opts->resolve);
	f->connect_to = xstrdup(opts->connect_to);
	f->timeout_ms = opts->timeout_ms ? opts->timeout_ms :
	    STS_FETCH_TIMEOUT_DEFAULT * 1000u;
	f->port = opts->port ? opts->port : 443;
	f->running = util_htable_new();
	f->handles = 1;
	return f;
}

static void
abort_job_cb(const char *key, void *value, void *arg)
{
	struct sts_job ***list = arg;

	*(*list)++ = value;
}

void
sts_fetcher_free(sts_fetcher *f)
{
	struct sts_job **jobs, **p;
	size_t i, n;

	if (f == NULL || f->closing)
		return;
	f->closing = 1;
	n = util_htable_count(f->running);
	jobs = p = xcalloc(n + 1, sizeof(*jobs));
	util_htable_walk(f->running, abort_job_cb, &p);
	for (i = 0; i < n; i++) {
		struct sts_fetch *w, *next;

		for (w = jobs[i]->waiters; w; w = next) {
			next = w->next;
			free(w);
		}
		jobs[i]->waiters = NULL;
		job_release_io(jobs[i]);
		job_free(jobs[i]);
	}
	free(jobs);
	tls_curlm_free(f->curlm);
	f->curlm = NULL;
	fetcher_release(f);	/* the reference held until now */
}

sts_fetch *
sts_fetch_start(sts_fetcher *f, const char *domain, sts_fetch_cb cb,
    void *arg)
{
	char dom[STS_DOMAIN_MAX];
	struct sts_job *j;
	struct sts_fetch *w;

	if (f->closing || domain == NULL ||
	    sts_domain_normalize(domain, strlen(domain), dom, sizeof(dom)) < 0)
		return NULL;
	w = xcalloc(1, sizeof(*w));
	w->cb = cb;
	w->arg = arg;
	j = util_htable_get(f->running, dom);
	if (j != NULL) {
		w->job = j;
		w->next = j->waiters;
		j->waiters = w;
		return w;
	}
	j = xcalloc(1, sizeof(*j));
	j->f = f;
	snprintf(j->domain, sizeof(j->domain), "%s", dom);
	snprintf(j->host, sizeof(j->host), STS_HOST_PREFIX "%s", dom);
	dynbuf_init(&j->body, STS_POLICY_MAX);
	dynbuf_init(&j->addrs, STS_RESOLVE_MAX - STS_DOMAIN_MAX - 16);
	j->dns_rc = RES_NOTFOUND;
	uv_timer_init(f->loop, &j->timer);
	j->timer.data = j;
	f->handles++;
	util_htable_put(f->running, dom, j);
	w->job = j;
	j->waiters = w;
	uv_timer_start(&j->timer, job_timer_cb, f->timeout_ms, 0);

	if (strlen(j->host) > STS_DOMAIN_MAX - 1) {
		job_fail(j, STS_FAIL_FETCH, "policy host name too long");
		job_done_soon(j);
	} else if (f->resolve || f->connect_to) {
		/* test seams: curl gets the address from us, still */
		if (f->resolve)
			j->resolve = curl_slist_append(NULL, f->resolve);
		if (f->connect_to)
			j->connect_to = curl_slist_append(NULL, f->connect_to);
		job_start_http(j);
	} else {
		j->qa = res_lookup(f->res, j->host, 1, a_cb, j);
		j->qaaaa = res_lookup(f->res, j->host, 28, aaaa_cb, j);
		if (j->qa == NULL && j->qaaaa == NULL) {
			job_fail(j, STS_FAIL_FETCH, "DNS lookup of %s could "
			    "not start", j->host);
			job_done_soon(j);
		}
	}
	return w;
}

void
sts_fetch_cancel(sts_fetch *w)
{
	struct sts_job *j;
	struct sts_fetch **pp;

	if (w == NULL)
		return;
	j = w->job;
	if (j->delivering) {
		w->cb = NULL;		/* job_finish frees it */
		return;
	}
	for (pp = &j->waiters; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	free(w);
	if (j->waiters == NULL) {
		/* nobody waits: stop the transfer, no callbacks */
		job_release_io(j);
		job_free(j);
	}
}

size_t
sts_fetcher_running(const sts_fetcher *f)
{
	return util_htable_count(f->running);
}

/* ---- TXT discovery ------------------------------------------------------------ */

struct sts_txt_query {
	res_query *q;
	sts_txt_cb cb;
	void      *arg;
};

static void
txt_cb(void *arg, const struct res_answer *ans)
{
	struct sts_txt_query *tq = arg;
	struct sts_txt_result r;

	memset(&r, 0, sizeof(r));
	r.security = ans->security;
	switch (ans->rcode) {
	case RES_OK:
		r.status = sts_txt_parse((const char *const *)ans->txt,
		    ans->n, r.id, r.reason, sizeof(r.reason));
		break;
	case RES_NOTFOUND:
		r.status = STS_TXT_NONE;
		snprintf(r.reason, sizeof(r.reason), "no TXT record");
		break;
	case RES_RETRY:
		r.status = STS_TXT_RETRY;
		snprintf(r.reason, sizeof(r.reason), "DNS lookup failed "
		    "temporarily");
		break;
	case RES_FAIL:
		/* a bogus answer may be an attack: unknown, not "none" */
		r.status = ans->security == RES_BOGUS ? STS_TXT_RETRY :
		    STS_TXT_NONE;
		snprintf(r.reason, sizeof(r.reason), "DNS lookup failed%s%.200s",
		    ans->security == RES_BOGUS ? ": bogus: " : "",
		    ans->security == RES_BOGUS ? ans->why_bogus : "");
		break;
	}
	tq->cb(tq->arg, &r);
	free(tq);
}

sts_txt_query *
sts_txt_lookup(res_ctx *res, const char *domain, sts_txt_cb cb, void *arg)
{
	char dom[STS_DOMAIN_MAX], name[STS_DOMAIN_MAX + 16];
	struct sts_txt_query *tq;

	if (domain == NULL ||
	    sts_domain_normalize(domain, strlen(domain), dom, sizeof(dom)) < 0)
		return NULL;
	snprintf(name, sizeof(name), "_mta-sts.%s", dom);
	tq = xcalloc(1, sizeof(*tq));
	tq->cb = cb;
	tq->arg = arg;
	tq->q = res_lookup(res, name, 16, txt_cb, tq);
	if (tq->q == NULL) {
		free(tq);
		return NULL;
	}
	return tq;
}

void
sts_txt_cancel(sts_txt_query *tq)
{
	if (tq == NULL)
		return;
	res_cancel(tq->q);
	free(tq);
}
