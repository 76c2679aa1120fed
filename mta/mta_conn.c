/*
 * mta_conn.c - one TCP connection of an SMTP session, with optional TLS.
 *
 * This file only moves bytes: socket -> (TLS) -> session input, session
 * output -> (TLS) -> socket, plus the session's timer.  It understands
 * nothing of SMTP; every event becomes one mta_session_on_*() call.
 *
 * Lifetime: a connection embeds libuv handles, so it is freed only from
 * its last close callback.  The session may drop it at any time with
 * mta_conn_close(), even from inside one of these callbacks; c->s then
 * becomes NULL and later events (cancelled writes, the close itself) go
 * nowhere.  Callers re-check c->s after every call into the session.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mta_int.h"

#define MTA_READ_BUF	(16u * 1024)

struct mta_conn {
	uv_tcp_t            tcp;
	uv_timer_t          timer;
	uv_connect_t        creq;
	struct mta_session *s;		/* NULL once the session let go */
	int                 nopen;	/* handles still to close */
	int                 reading;
	size_t              queued;	/* bytes in uv_write requests */
	tls_io             *tls;
	int                 handshaking;
	char                rbuf[MTA_READ_BUF];
	char                plain[MTA_READ_BUF];
};

struct mta_wreq {
	uv_write_t       req;
	struct mta_conn *c;
	size_t           len;
	char             data[];
};

static int mta_conn_flush_tls(struct mta_conn *c);

static void
mta_conn_closed(uv_handle_t *h)
{
	struct mta_conn *c = h->data;

	if (--c->nopen == 0) {
		tls_io_free(c->tls);
		free(c);
	}
}

void
mta_conn_close(struct mta_conn *c)
{
	if (c == NULL)
		return;
	c->s = NULL;
	if (c->tls && !c->handshaking) {
		/* Best effort close_notify: libuv tries the write at once;
		 * if it cannot complete, uv_close cancels it. */
		tls_io_shutdown(c->tls);
		(void)mta_conn_flush_tls(c);
	}
	uv_close((uv_handle_t *)&c->timer, mta_conn_closed);
	uv_close((uv_handle_t *)&c->tcp, mta_conn_closed);
}

static void
mta_conn_timeout(uv_timer_t *t)
{
	struct mta_conn *c = t->data;

	if (c->s)
		mta_session_on_timeout(c->s);
}

void
mta_conn_timer(struct mta_conn *c, uint64_t ms)
{
	uv_timer_stop(&c->timer);
	if (ms > 0)
		uv_timer_start(&c->timer, mta_conn_timeout, ms, 0);
}

static void
mta_conn_written(uv_write_t *req, int status)
{
	struct mta_wreq *w = (struct mta_wreq *)req;
	struct mta_conn *c = w->c;

	c->queued -= w->len;
	free(w);
	if (c->s == NULL)
		return;
	if (status < 0) {
		char why[128];

		snprintf(why, sizeof(why), "write error: %s",
		    uv_strerror(status));
		mta_session_on_error(c->s, why);
		return;
	}
	if (c->queued < MTA_WRITE_HIGH / 2)
		mta_session_on_drain(c->s);
}

/* Hand bytes to libuv; the request owns a copy until it completes. */
static int
mta_conn_raw_write(struct mta_conn *c, const void *buf, size_t len)
{
	struct mta_wreq *w;
	uv_buf_t b;
	int rc;

	if (len == 0)
		return 0;
	w = xmalloc(sizeof(*w) + len);
	w->c = c;
	w->len = len;
	memcpy(w->data, buf, len);
	b = uv_buf_init(w->data, (unsigned)len);
	if ((rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1,
	    mta_conn_written)) < 0) {
		free(w);
		return -1;
	}
	c->queued += len;
	return 0;
}

/* Send whatever ciphertext the TLS engine produced. */
static int
mta_conn_flush_tls(struct mta_conn *c)
{
	size_t n;

	while ((n = tls_io_pending(c->tls)) > 0) {
		struct mta_wreq *w = xmalloc(sizeof(*w) + n);
		uv_buf_t b;

		w->c = c;
		w->len = tls_io_take(c->tls, w->data, n);
		b = uv_buf_init(w->data, (unsigned)w->len);
		if (w->len == 0 || uv_write(&w->req, (uv_stream_t *)&c->tcp,
		    &b, 1, mta_conn_written) < 0) {
			free(w);
			return -1;
		}
		c->queued += w->len;
	}
	return 0;
}

int
mta_conn_write(struct mta_conn *c, const void *buf, size_t len)
{
	if (c->tls == NULL)
		return mta_conn_raw_write(c, buf, len);
	if (c->handshaking || tls_io_write(c->tls, buf, len) < 0)
		return -1;
	return mta_conn_flush_tls(c);
}

size_t
mta_conn_queued(const struct mta_conn *c)
{
	return c->queued;
}

static void
mta_conn_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct mta_conn *c = h->data;

	*buf = uv_buf_init(c->rbuf, sizeof(c->rbuf));
}

/* Ciphertext arrived: advance the handshake or decrypt. */
static void
mta_conn_tls_input(struct mta_conn *c, const char *buf, size_t len)
{
	ssize_t n;

	if (tls_io_feed(c->tls, buf, len) < 0) {
		mta_session_on_error(c->s, tls_io_reason(c->tls));
		return;
	}
	if (c->handshaking) {
		enum tls_hs hs = tls_io_handshake(c->tls);

		if (mta_conn_flush_tls(c) < 0 && hs != TLS_HS_ERROR) {
			mta_session_on_error(c->s, "write error during TLS "
			    "handshake");
			return;
		}
		if (hs == TLS_HS_WANT)
			return;
		c->handshaking = 0;
		mta_session_on_tls(c->s, hs == TLS_HS_DONE,
		    tls_io_reason(c->tls));
		if (c->s == NULL || hs != TLS_HS_DONE)
			return;
	}
	while (c->s && (n = tls_io_read(c->tls, c->plain,
	    sizeof(c->plain))) > 0)
		mta_session_on_input(c->s, c->plain, (size_t)n);
	if (c->s == NULL)
		return;
	if (n < 0) {
		mta_session_on_error(c->s, tls_io_reason(c->tls));
		return;
	}
	/* TLS 1.3 may want to answer (key update); send it along. */
	if (mta_conn_flush_tls(c) < 0)
		mta_session_on_error(c->s, "write error");
}

static void
mta_conn_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct mta_conn *c = st->data;
	char why[128];

	if (c->s == NULL || nread == 0)
		return;
	if (nread < 0) {
		if (nread == UV_EOF)
			snprintf(why, sizeof(why), "lost connection%s",
			    c->handshaking ? " during TLS handshake" : "");
		else
			snprintf(why, sizeof(why), "read error%s: %s",
			    c->handshaking ? " during TLS handshake" : "",
			    uv_strerror((int)nread));
		uv_read_stop(st);
		c->reading = 0;
		if (c->handshaking) {
			c->handshaking = 0;
			mta_session_on_tls(c->s, 0, why);
		} else
			mta_session_on_error(c->s, why);
		return;
	}
	if (c->tls)
		mta_conn_tls_input(c, buf->base, (size_t)nread);
	else
		mta_session_on_input(c->s, buf->base, (size_t)nread);
}

static void
mta_conn_connected(uv_connect_t *req, int status)
{
	struct mta_conn *c = req->data;
	int rc;

	if (c->s == NULL)
		return;
	if (status == 0 && (rc = uv_read_start((uv_stream_t *)&c->tcp,
	    mta_conn_alloc, mta_conn_read)) < 0)
		status = rc;
	if (status == 0)
		c->reading = 1;
	mta_session_on_connect(c->s, status);
}

struct mta_conn *
mta_conn_open(struct mta_session *s, uv_loop_t *loop,
    const struct sockaddr_storage *sa, char *err, size_t errlen)
{
	struct mta_conn *c = xcalloc(1, sizeof(*c));
	int rc;

	c->s = s;
	if ((rc = uv_tcp_init(loop, &c->tcp)) < 0) {
		snprintf(err, errlen, "uv_tcp_init: %s", uv_strerror(rc));
		free(c);
		return NULL;
	}
	c->tcp.data = c;
	c->nopen = 1;
	if ((rc = uv_timer_init(loop, &c->timer)) < 0) {
		snprintf(err, errlen, "uv_timer_init: %s", uv_strerror(rc));
		c->s = NULL;
		uv_close((uv_handle_t *)&c->tcp, mta_conn_closed);
		return NULL;
	}
	c->timer.data = c;
	c->nopen = 2;
	c->creq.data = c;
	(void)uv_tcp_nodelay(&c->tcp, 1);
	if ((rc = uv_tcp_connect(&c->creq, &c->tcp,
	    (const struct sockaddr *)sa, mta_conn_connected)) < 0) {
		snprintf(err, errlen, "%s", uv_strerror(rc));
		mta_conn_close(c);
		return NULL;
	}
	return c;
}

int
mta_conn_start_tls(struct mta_conn *c, SSL_CTX *ctx,
    const struct tls_policy *pol, char *err, size_t errlen)
{
	enum tls_hs hs;

	UTIL_ASSERT(c->tls == NULL);
	if ((c->tls = tls_io_client_new(ctx, pol, err, errlen)) == NULL)
		return -1;
	c->handshaking = 1;
	hs = tls_io_handshake(c->tls);
	if (hs == TLS_HS_ERROR) {
		snprintf(err, errlen, "%s", tls_io_reason(c->tls));
		return -1;
	}
	if (mta_conn_flush_tls(c) < 0) {
		snprintf(err, errlen, "write error starting TLS");
		return -1;
	}
	return 0;
}

int
mta_conn_tls_active(const struct mta_conn *c)
{
	return c->tls != NULL && !c->handshaking;
}

void
mta_conn_tls_summary(const struct mta_conn *c, char *out, size_t outlen)
{
	if (c == NULL || c->tls == NULL || c->handshaking)
		snprintf(out, outlen, "none");
	else
		tls_io_summary(c->tls, out, outlen);
}

int
mta_conn_local_addr(const struct mta_conn *c, char *out, size_t outlen)
{
	struct sockaddr_storage ss;
	int len = (int)sizeof(ss);

	out[0] = '\0';
	if (c == NULL || uv_tcp_getsockname(&c->tcp, (struct sockaddr *)&ss,
	    &len) < 0)
		return -1;
	mta_addr_string(&ss, out, outlen);
	return out[0] != '\0' ? 0 : -1;
}

void
mta_conn_peer_info(const struct mta_conn *c, struct tls_peer_info *info)
{
	if (c == NULL || c->tls == NULL)
		memset(info, 0, sizeof(*info));
	else
		tls_io_peer_info(c->tls, info);
}
