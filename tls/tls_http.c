/*
 * tls_http.c - HTTPS requests on a libuv loop with libcurl multi.
 *
 * The curl/libuv glue is tls_curlm.c (shared with the MTA-STS fetch);
 * this file adds the request: the host of a URL is looked up with our resolver (A and AAAA in
 * parallel) and handed to curl with CURLOPT_RESOLVE.  The URL is split
 * by curl's own parser (curl_url), so what we resolve is what curl will
 * connect to.
 *
 * Lifetimes, as in sts_fetch.c: a request embeds a uv_timer_t (its
 * deadline, then "finish now"), so it is freed in that timer's close
 * callback; completion is always delivered from a fresh timer tick, never
 * from inside curl or the resolver, so a callback may cancel or free
 * anything.  The tls_http itself is freed when its last handle closes.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "tls_http.h"
#include "util.h"

#define TLS_HTTP_RESOLVE_MAX	2048	/* "host:port:" + 2 x RES_ADDRS_MAX
					 * addresses */
#define TLS_HTTP_BODY_MAX	(64 * 1024)	/* reply body kept for the log */

struct tls_http {
	uv_loop_t   *loop;
	res_ctx     *res;
	tls_curlm   *curlm;
	char        *ca_file, *agent;
	unsigned     timeout_ms;
	struct tls_http_req *reqs;	/* every live request */
	unsigned     handles;		/* request timers, + 1 until freed */
	int          closing;
};

struct tls_http_req {
	struct tls_http_req *next, **prevp;
	tls_http     *h;
	tls_http_cb   cb;
	void         *arg;
	char         *url, *host, *ctype;
	unsigned      port;
	void         *body;
	size_t        len;
	res_query    *qa, *qaaaa;
	struct dynbuf addrs;		/* "a,[b],..." */
	enum res_rcode dns_rc;
	CURL         *easy;
	struct curl_slist *resolve, *headers;
	uv_timer_t    timer;
	int           done;		/* outcome known, finishing soon */
	int           finishing;	/* inside the user's callback */
	int           freed;
	struct tls_http_result res;
	char          errbuf[CURL_ERROR_SIZE];
};

static void req_finish(struct tls_http_req *r);

/* ---- bookkeeping -------------------------------------------------------- */

static void
http_release(tls_http *h)
{
	UTIL_ASSERT(h->handles > 0);
	if (--h->handles > 0)
		return;
	free(h->ca_file);
	free(h->agent);
	free(h);
}

static void
req_closed(uv_handle_t *hd)
{
	struct tls_http_req *r = hd->data;
	tls_http *h = r->h;

	free(r);
	http_release(h);
}

/* First reason wins: a later error we provoked must not hide the cause. */
static void req_fail(struct tls_http_req *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
req_fail(struct tls_http_req *r, const char *fmt, ...)
{
	char raw[TLS_HTTP_REASON_MAX];
	va_list ap;

	if (r->res.reason[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(raw, sizeof(raw), fmt, ap);
	va_end(ap);
	util_printable(raw, strlen(raw), r->res.reason, sizeof(r->res.reason));
}

static void
req_timer_cb(uv_timer_t *t)
{
	struct tls_http_req *r = t->data;

	if (!r->done)
		req_fail(r, "timeout after %u ms", r->h->timeout_ms);
	req_finish(r);
}

static void
req_done_soon(struct tls_http_req *r)
{
	if (r->done)
		return;
	r->done = 1;
	uv_timer_start(&r->timer, req_timer_cb, 0, 0);
}

/* Everything but the timer, which holds the memory. */
static void
req_release_io(struct tls_http_req *r)
{
	if (r->qa)
		res_cancel(r->qa);
	if (r->qaaaa)
		res_cancel(r->qaaaa);
	r->qa = r->qaaaa = NULL;
	if (r->easy) {
		tls_curlm_remove(r->h->curlm, r->easy);
		curl_easy_cleanup(r->easy);
		r->easy = NULL;
	}
	curl_slist_free_all(r->resolve);
	curl_slist_free_all(r->headers);
	r->resolve = r->headers = NULL;
}

static void
req_free(struct tls_http_req *r)
{
	if (r->freed)
		return;
	r->freed = 1;
	if (r->prevp) {
		*r->prevp = r->next;
		if (r->next)
			r->next->prevp = r->prevp;
		r->prevp = NULL;
	}
	req_release_io(r);
	uv_timer_stop(&r->timer);
	dynbuf_free(&r->addrs);
	free(r->url);
	free(r->host);
	free(r->ctype);
	free(r->body);
	uv_close((uv_handle_t *)&r->timer, req_closed);
}

static void
req_finish(struct tls_http_req *r)
{
	struct tls_http_result res = r->res;

	if (res.transport_ok && (res.status < 200 || res.status > 299))
		req_fail(r, "HTTP status %ld", res.status);
	res = r->res;
	req_release_io(r);
	r->finishing = 1;
	if (r->cb && !r->h->closing)
		r->cb(r->arg, &res);
	r->cb = NULL;
	req_free(r);
}

/* ---- curl callbacks ------------------------------------------------------ */

static size_t
discard_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	(void)data;
	(void)arg;
	return size * nmemb;	/* the reply body means nothing to us */
}

/* Inside curl's socket handling: note the outcome, finish from the loop. */
static void
req_curl_done(void *arg, CURLcode rc)
{
	struct tls_http_req *r = arg;
	long code = 0;

	if (rc == CURLE_OK) {
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
		r->res.status = code;
		r->res.transport_ok = 1;
	} else
		req_fail(r, "%s%s%s", curl_easy_strerror(rc),
		    r->errbuf[0] ? ": " : "", r->errbuf);
	req_done_soon(r);
}

/* ---- the transfer -------------------------------------------------------- */

static void
req_start_curl(struct tls_http_req *r)
{
	tls_http *h = r->h;
	char ct[128];
	CURL *e;

	if ((e = curl_easy_init()) == NULL) {
		req_fail(r, "curl_easy_init failed");
		req_done_soon(r);
		return;
	}
	r->easy = e;
	snprintf(ct, sizeof(ct), "Content-Type: %s", r->ctype);
	r->headers = curl_slist_append(NULL, ct);
	/* no "100-continue" round trip: the body is small and ready */
	r->headers = curl_slist_append(r->headers, "Expect:");
	tls_curlm_easy_https(e, r->url, h->ca_file, h->agent, r->errbuf);
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->len);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard_cb);
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)TLS_HTTP_BODY_MAX);
	if (r->resolve)
		curl_easy_setopt(e, CURLOPT_RESOLVE, r->resolve);
	if (tls_curlm_add(h->curlm, e, req_curl_done, r) < 0) {
		req_fail(r, "curl_multi_add_handle failed");
		req_done_soon(r);
	}
}

static void
req_dns_done(struct tls_http_req *r)
{
	char entry[TLS_HTTP_RESOLVE_MAX];

	if (r->qa || r->qaaaa)
		return;			/* the other lookup is still out */
	if (r->addrs.len == 0) {
		req_fail(r, "DNS: no address for %s (%s)", r->host,
		    res_rcode_name(r->dns_rc));
		req_done_soon(r);
		return;
	}
	snprintf(entry, sizeof(entry), "%s:%u:%s", r->host, r->port,
	    r->addrs.p);
	r->resolve = curl_slist_append(NULL, entry);
	req_start_curl(r);
}

static void
a_cb(void *arg, const struct res_answer *ans)
{
	struct tls_http_req *r = arg;

	r->qa = NULL;
	tls_curlm_addrs(&r->addrs, &r->dns_rc, ans);
	req_dns_done(r);
}

static void
aaaa_cb(void *arg, const struct res_answer *ans)
{
	struct tls_http_req *r = arg;

	r->qaaaa = NULL;
	tls_curlm_addrs(&r->addrs, &r->dns_rc, ans);
	req_dns_done(r);
}

/* https://host[:port]/...: host (brackets dropped) and port, or -1. */
static int
split_url(const char *url, char **host, unsigned *port, char *err,
    size_t errlen)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *h = NULL, *p = NULL;
	uint64_t v;
	int rc = -1;

	if (u == NULL || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
		snprintf(err, errlen, "not a URL");
	else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    util_strcasecmp(scheme, "https") != 0)
		snprintf(err, errlen, "not an https URL");
	else if (curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK ||
	    h[0] == '\0')
		snprintf(err, errlen, "no host in the URL");
	else if (curl_url_get(u, CURLUPART_PORT, &p, CURLU_DEFAULT_PORT) !=
	    CURLUE_OK || util_parse_uint(p, strlen(p), 65535, &v) < 0 || v == 0)
		snprintf(err, errlen, "bad port in the URL");
	else {
		size_t n = strlen(h);

		if (h[0] == '[' && n > 2 && h[n - 1] == ']')
			*host = xstrndup(h + 1, n - 2);
		else
			*host = xstrdup(h);
		*port = (unsigned)v;
		rc = 0;
	}
	curl_free(scheme);
	curl_free(h);
	curl_free(p);
	curl_url_cleanup(u);
	return rc;
}

/* ---- the interface ------------------------------------------------------- */

tls_http *
tls_http_create(uv_loop_t *loop, res_ctx *res, const struct tls_http_opts *o,
    char *err, size_t errlen)
{
	tls_http *h;

	if (o->ca_file == NULL) {
		snprintf(err, errlen, "https needs a CA file");
		return NULL;
	}
	h = xcalloc(1, sizeof(*h));
	if ((h->curlm = tls_curlm_create(loop)) == NULL) {
		snprintf(err, errlen, "curl_multi_init failed");
		free(h);
		return NULL;
	}
	h->loop = loop;
	h->res = res;
	h->ca_file = xstrdup(o->ca_file);
	h->agent = xstrdup(o->user_agent ? o->user_agent :
	    "sealpost/" SEALPOST_VERSION);
	h->timeout_ms = o->timeout_ms ? o->timeout_ms :
	    TLS_HTTP_TIMEOUT_DEFAULT * 1000u;
	h->handles = 1;
	return h;
}

void
tls_http_free(tls_http *h)
{
	if (h == NULL || h->closing)
		return;
	h->closing = 1;
	while (h->reqs != NULL) {
		h->reqs->cb = NULL;
		req_free(h->reqs);
	}
	tls_curlm_free(h->curlm);
	h->curlm = NULL;
	http_release(h);	/* the reference held until now */
}

tls_http_req *
tls_http_post(tls_http *h, const char *url, const char *ctype,
    const void *body, size_t len, tls_http_cb cb, void *arg, char *err,
    size_t errlen)
{
	struct tls_http_req *r;
	struct in6_addr a6;
	struct in_addr a4;
	char *host = NULL;
	unsigned port = 0;

	if (h->closing) {
		snprintf(err, errlen, "shutting down");
		return NULL;
	}
	if (strlen(url) >= TLS_HTTP_URL_MAX) {
		snprintf(err, errlen, "URL longer than %d bytes",
		    TLS_HTTP_URL_MAX);
		return NULL;
	}
	if (split_url(url, &host, &port, err, errlen) < 0)
		return NULL;
	if (strlen(host) >= RES_NAME_MAX) {
		snprintf(err, errlen, "host name too long");
		free(host);
		return NULL;
	}
	r = xcalloc(1, sizeof(*r));
	r->h = h;
	r->cb = cb;
	r->arg = arg;
	r->url = xstrdup(url);
	r->host = host;
	r->port = port;
	r->ctype = xstrdup(ctype);
	r->body = xmalloc(len ? len : 1);
	memcpy(r->body, body, len);
	r->len = len;
	r->dns_rc = RES_NOTFOUND;
	dynbuf_init(&r->addrs, TLS_HTTP_RESOLVE_MAX - RES_NAME_MAX - 16);
	uv_timer_init(h->loop, &r->timer);
	r->timer.data = r;
	h->handles++;
	r->next = h->reqs;
	if (h->reqs)
		h->reqs->prevp = &r->next;
	h->reqs = r;
	r->prevp = &h->reqs;
	uv_timer_start(&r->timer, req_timer_cb, h->timeout_ms, 0);

	if (inet_pton(AF_INET, host, &a4) == 1 ||
	    inet_pton(AF_INET6, host, &a6) == 1) {
		req_start_curl(r);	/* a literal: nothing to resolve */
	} else if (h->res == NULL) {
		req_fail(r, "no resolver for %s", host);
		req_done_soon(r);
	} else {
		r->qa = res_lookup(h->res, host, 1, a_cb, r);
		r->qaaaa = res_lookup(h->res, host, 28, aaaa_cb, r);
		if (r->qa == NULL && r->qaaaa == NULL) {
			req_fail(r, "DNS lookup of %s could not start", host);
			req_done_soon(r);
		}
	}
	return r;
}

void
tls_http_cancel(tls_http_req *r)
{
	if (r == NULL)
		return;
	r->cb = NULL;
	if (!r->finishing)
		req_free(r);	/* else req_finish frees it on return */
}
