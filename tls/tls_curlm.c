/*
 * tls_curlm.c - libcurl's multi interface driven by a libuv loop: the
 * glue every HTTPS user in sealpost shares (the MTA-STS policy fetch,
 * tls/sts_fetch.c; the TLS-RPT POST, tls/tls_http.c).
 *
 * curl's multi_socket API: CURLMOPT_SOCKETFUNCTION names the sockets to
 * watch (one uv_poll_t each), CURLMOPT_TIMERFUNCTION when to wake curl
 * (one uv_timer_t); readiness goes back through
 * curl_multi_socket_action(), finished transfers to the owner's done
 * callback.  Configuring the easy handle (URL, TLS, CURLOPT_RESOLVE) is
 * the owner's business.
 *
 * Lifetimes: each watched socket and the timer are handles; the driver is
 * freed when tls_curlm_free() has been called and the last of them has
 * closed.  A curl timeout of 0 is acted on from the loop, never from
 * inside curl.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>

#include "tls_http.h"
#include "util.h"

struct tls_curlm {
	uv_loop_t *loop;
	CURLM     *multi;
	uv_timer_t timer;
	unsigned   handles;		/* open uv handles, the timer included */
	int        closing;
};

struct curlm_sock {
	uv_poll_t     poll;
	tls_curlm    *m;
	curl_socket_t fd;
};

struct curlm_easy {
	tls_curlm_done_cb cb;
	void             *arg;
};

static void
curlm_release(tls_curlm *m)
{
	UTIL_ASSERT(m->handles > 0);
	if (--m->handles > 0)
		return;
	free(m);
}

static void
timer_closed(uv_handle_t *h)
{
	curlm_release(h->data);
}

static void
sock_closed(uv_handle_t *h)
{
	struct curlm_sock *sk = h->data;
	tls_curlm *m = sk->m;

	free(sk);
	curlm_release(m);
}

static void
check_multi_info(tls_curlm *m)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(m->multi, &left)) != NULL) {
		struct curlm_easy *ce = NULL;
		char *priv = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		ce = (struct curlm_easy *)(void *)priv;
		if (ce != NULL && ce->cb != NULL)
			ce->cb(ce->arg, msg->data.result);
	}
}

static void
poll_cb(uv_poll_t *p, int status, int events)
{
	struct curlm_sock *sk = p->data;
	tls_curlm *m = sk->m;
	int flags = 0, running;

	if (status < 0)
		flags = CURL_CSELECT_ERR;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(m->multi, sk->fd, flags, &running);
	check_multi_info(m);
}

static int
socket_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
	tls_curlm *m = userp;
	struct curlm_sock *sk = socketp;
	int events = 0;

	(void)e;
	if (what == CURL_POLL_REMOVE) {
		if (sk != NULL) {
			uv_poll_stop(&sk->poll);
			curl_multi_assign(m->multi, s, NULL);
			uv_close((uv_handle_t *)&sk->poll, sock_closed);
		}
		return 0;
	}
	if (sk == NULL) {
		sk = xcalloc(1, sizeof(*sk));
		sk->m = m;
		sk->fd = s;
		if (uv_poll_init_socket(m->loop, &sk->poll, s) < 0) {
			free(sk);
			return -1;
		}
		sk->poll.data = sk;
		m->handles++;
		curl_multi_assign(m->multi, s, sk);
	}
	if (what & CURL_POLL_IN)
		events |= UV_READABLE;
	if (what & CURL_POLL_OUT)
		events |= UV_WRITABLE;
	uv_poll_start(&sk->poll, events, poll_cb);
	return 0;
}

static void
curl_timer_fired(uv_timer_t *t)
{
	tls_curlm *m = t->data;
	int running;

	curl_multi_socket_action(m->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_multi_info(m);
}

static int
timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	tls_curlm *m = userp;

	(void)multi;
	if (m->closing)
		return 0;
	if (timeout_ms < 0)
		uv_timer_stop(&m->timer);
	else	/* 0 too: act from the loop, not from inside curl */
		uv_timer_start(&m->timer, curl_timer_fired,
		    (uint64_t)timeout_ms, 0);
	return 0;
}

tls_curlm *
tls_curlm_create(uv_loop_t *loop)
{
	tls_curlm *m = xcalloc(1, sizeof(*m));

	if ((m->multi = curl_multi_init()) == NULL) {
		free(m);
		return NULL;
	}
	m->loop = loop;
	uv_timer_init(loop, &m->timer);
	m->timer.data = m;
	m->handles = 1;
	curl_multi_setopt(m->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(m->multi, CURLMOPT_SOCKETDATA, m);
	curl_multi_setopt(m->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(m->multi, CURLMOPT_TIMERDATA, m);
	return m;
}

int
tls_curlm_add(tls_curlm *m, CURL *easy, tls_curlm_done_cb cb, void *arg)
{
	struct curlm_easy *ce;

	if (m->closing)
		return -1;
	ce = xcalloc(1, sizeof(*ce));
	ce->cb = cb;
	ce->arg = arg;
	curl_easy_setopt(easy, CURLOPT_PRIVATE, (char *)ce);
	if (curl_multi_add_handle(m->multi, easy) != CURLM_OK) {
		curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
		free(ce);
		return -1;
	}
	return 0;
}

void
tls_curlm_remove(tls_curlm *m, CURL *easy)
{
	char *priv = NULL;

	if (easy == NULL)
		return;
	curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
	curl_multi_remove_handle(m->multi, easy);
	curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
	free(priv);
}

void
tls_curlm_free(tls_curlm *m)
{
	if (m == NULL || m->closing)
		return;
	m->closing = 1;
	/* closes idle connections; may call socket_cb with REMOVE */
	curl_multi_cleanup(m->multi);
	m->multi = NULL;
	uv_timer_stop(&m->timer);
	uv_close((uv_handle_t *)&m->timer, timer_closed);
}

/* ---- what every sealpost HTTPS request shares ------------------------- */

void
tls_curlm_easy_https(CURL *e, const char *url, const char *ca_file,
    const char *agent, char *errbuf)
{
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(e, CURLOPT_CAINFO, ca_file);
	/* only the configured bundle, and no proxy from the environment */
	curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, agent);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
}

void
tls_curlm_addrs(struct dynbuf *list, enum res_rcode *rc,
    const struct res_answer *ans)
{
	char buf[INET6_ADDRSTRLEN];
	size_t i;

	/* an answer beats a temporary failure, which beats a hard one */
	if (ans->rcode == RES_OK ||
	    (*rc != RES_OK && ans->rcode == RES_RETRY))
		*rc = ans->rcode;
	if (ans->rcode != RES_OK)
		return;
	for (i = 0; i < ans->n; i++) {
		const struct sockaddr_storage *ss = &ans->addr[i];

		if (ss->ss_family == AF_INET && inet_ntop(AF_INET,
		    &((const struct sockaddr_in *)(const void *)ss)->sin_addr,
		    buf, sizeof(buf)) != NULL)
			dynbuf_addf(list, "%s%s", list->len ? "," : "", buf);
		else if (ss->ss_family == AF_INET6 && inet_ntop(AF_INET6,
		    &((const struct sockaddr_in6 *)(const void *)ss)->sin6_addr,
		    buf, sizeof(buf)) != NULL)
			dynbuf_addf(list, "%s[%s]", list->len ? "," : "", buf);
	}
}
