/*
 * tls_http.h - HTTPS requests with libcurl's multi interface on a libuv
 * loop (tls_http.c).
 *
 * The loop integration every HTTPS user shares: curl's sockets watched
 * by uv_poll_t, curl's timer by a uv_timer_t, the server's addresses
 * looked up through our own resolver (libunbound) and handed to curl
 * with CURLOPT_RESOLVE, so curl never resolves names itself.  Every
 * request is https only, PKIX-verified against the configured CA file
 * (no CA path), host name checked, no redirects, no proxy from the
 * environment, no connection reuse, one deadline for DNS and transfer.
 *
 * Two layers: tls_curlm (tls_curlm.c) is the bare curl-multi-on-libuv
 * driver, shared with the MTA-STS policy fetch (sts_fetch.c), which
 * configures its own GETs; tls_http (tls_http.c) adds DNS through our
 * resolver and the POST the TLS-RPT sender needs (RFC 8460 5.2).
 *
 * Both belong to the thread that runs their loop.
 */
#ifndef SEALPOST_TLS_HTTP_H
#define SEALPOST_TLS_HTTP_H

#include <stddef.h>
#include <uv.h>

#include <curl/curl.h>

#include "resolver/resolver.h"

#define TLS_HTTP_REASON_MAX	256
#define TLS_HTTP_TIMEOUT_DEFAULT 60	/* seconds for one request, DNS included */
#define TLS_HTTP_URL_MAX	2048

/* ---- the driver (tls_curlm.c) ------------------------------------------ */

typedef struct tls_curlm tls_curlm;

/* A transfer ended (rc CURLE_OK or why not).  Runs inside curl's socket
 * handling: record the outcome and finish later from the loop; do not
 * remove handles or free the driver from here. */
typedef void (*tls_curlm_done_cb)(void *arg, CURLcode rc);

/* NULL if curl_multi_init fails. */
tls_curlm *tls_curlm_create(uv_loop_t *loop);
/* Start a configured easy handle; the driver owns CURLOPT_PRIVATE.
 * 0 or -1.  Every added handle must be given back with
 * tls_curlm_remove(), finished or not. */
int tls_curlm_add(tls_curlm *m, CURL *easy, tls_curlm_done_cb cb, void *arg);
/* Stop a transfer (no callback after this); the caller still cleans the
 * easy handle up.  NULL easy is fine. */
void tls_curlm_remove(tls_curlm *m, CURL *easy);
/* After every handle was removed: close; memory goes with the last
 * uv handle.  NULL is fine. */
void tls_curlm_free(tls_curlm *m);

/* The options every request shares: url, https only, no redirects, PKIX
 * against ca_file with the host name checked, TLS 1.2 or later, no proxy
 * from the environment, no connection reuse, curl's message in errbuf
 * (CURL_ERROR_SIZE bytes). */
void tls_curlm_easy_https(CURL *e, const char *url, const char *ca_file,
    const char *agent, char *errbuf);
struct dynbuf;
/* Append an A or AAAA answer to list in CURLOPT_RESOLVE's address form
 * ("192.0.2.1,[2001:db8::1]"), and fold its rcode into *rc (an answer
 * beats a temporary failure, which beats a hard one). */
void tls_curlm_addrs(struct dynbuf *list, enum res_rcode *rc,
    const struct res_answer *ans);

/* ---- requests (tls_http.c) ------------------------------------------------ */

typedef struct tls_http tls_http;
typedef struct tls_http_req tls_http_req;

struct tls_http_opts {
	const char *ca_file;	/* PEM bundle of trusted roots; required */
	unsigned    timeout_ms;	/* 0: TLS_HTTP_TIMEOUT_DEFAULT */
	const char *user_agent;	/* NULL: "sealpost/VERSION" */
};

struct tls_http_result {
	long status;		/* HTTP status; 0 when none was received */
	int  transport_ok;	/* a response arrived (any status) */
	char reason[TLS_HTTP_REASON_MAX];	/* why not 2xx; printable */
};

/* Called once per request on the loop, never from inside tls_http_post
 * or a curl/resolver callback; the request is gone afterwards. */
typedef void (*tls_http_cb)(void *arg, const struct tls_http_result *r);

/* NULL with a message on failure.  res may be NULL only if every URL
 * names an IP address literal. */
tls_http *tls_http_create(uv_loop_t *loop, res_ctx *res,
    const struct tls_http_opts *o, char *err, size_t errlen);
/* Cancel every request (no callbacks) and close; memory goes when the
 * last handle has closed.  NULL is fine. */
void tls_http_free(tls_http *h);

/*
 * POST len bytes of body (copied) with Content-Type ctype to url, which
 * must be https://host[:port]/... (anything else is refused: NULL and a
 * message).  cb gets the outcome; 2xx is success.
 */
tls_http_req *tls_http_post(tls_http *h, const char *url, const char *ctype,
    const void *body, size_t len, tls_http_cb cb, void *arg, char *err,
    size_t errlen);
/* Stop a request; its callback is not called.  NULL is fine. */
void tls_http_cancel(tls_http_req *r);

#endif
