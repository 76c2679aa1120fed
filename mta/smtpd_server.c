/*
 * smtpd_server.c - the listening sockets of the SMTP listener.
 *
 * sealpostd calls smtpd_server_bind() while still root (ports below 1024,
 * a key file readable by root only, the SASL configuration), drops its
 * privileges, then smtpd_server_start() begins listen(2)/accepting on
 * the main loop.  Everything a session does happens after the drop.
 *
 * Addresses: "*" binds the IPv4 and the IPv6 wildcard (the latter
 * IPv6-only, so both can coexist; a host without IPv6 keeps IPv4 only);
 * an IP literal binds that address; a host name is resolved once, here,
 * at start-up (getaddrinfo blocks, which is fine before the loop runs)
 * and every address it has is bound.
 *
 * The main loop is cheap enough for the listener: sessions only parse
 * and copy; durability is the store thread's and AUTH runs on libuv's
 * thread pool.
 */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>

#include "smtpd.h"
#include "tls/tls.h"

#define SMTPD_BACKLOG		128
#define SMTPD_SOCKETS_MAX	(CFG_LISTEN_MAX * 4)	/* per name: v4+v6 */

struct smtpd_sock {
	uv_tcp_t                 tcp;
	struct smtpd_server     *srv;
	const struct cfg_listen *l;
	char                     text[80];	/* "[addr]:port" for logs */
};

struct smtpd_server {
	struct smtpd_env   env;
	struct smtpd_sock *socks[SMTPD_SOCKETS_MAX];
	size_t             nsocks;
	int                nopen;
	int                sasl_inited;
};

static void
smtpd_sock_closed(uv_handle_t *h)
{
	struct smtpd_sock *k = h->data;
	struct smtpd_server *srv = k->srv;

	free(k);
	srv->nopen--;
}

static int
smtpd_bind_one(struct smtpd_server *srv, const struct cfg_listen *l,
    const struct sockaddr *sa, int v6only, int optional, char *err,
    size_t errlen)
{
	struct smtpd_sock *k;
	char host[64];
	int rc;

	if (srv->nsocks == SMTPD_SOCKETS_MAX) {
		snprintf(err, errlen, "listen \"%s\": too many addresses",
		    l->name);
		return -1;
	}
	k = xcalloc(1, sizeof(*k));
	k->srv = srv;
	k->l = l;
	if (sa->sa_family == AF_INET6) {
		uv_ip6_name((const struct sockaddr_in6 *)sa, host, sizeof(host));
		snprintf(k->text, sizeof(k->text), "[%s]:%u", host, l->port);
	} else {
		uv_ip4_name((const struct sockaddr_in *)sa, host, sizeof(host));
		snprintf(k->text, sizeof(k->text), "%s:%u", host, l->port);
	}
	if ((rc = uv_tcp_init(srv->env.loop, &k->tcp)) < 0) {
		snprintf(err, errlen, "listen \"%s\": %s", l->name,
		    uv_strerror(rc));
		free(k);
		return -1;
	}
	k->tcp.data = k;
	srv->nopen++;
	rc = uv_tcp_bind(&k->tcp, sa, v6only ? UV_TCP_IPV6ONLY : 0);
	if (rc < 0) {
		uv_close((uv_handle_t *)&k->tcp, smtpd_sock_closed);
		if (optional) {
			log_warn("smtpd: listen \"%s\": cannot bind %s: %s "
			    "(skipped)", l->name, k->text, uv_strerror(rc));
			return 0;
		}
		snprintf(err, errlen, "listen \"%s\": cannot bind %s: %s",
		    l->name, k->text, uv_strerror(rc));
		return -1;
	}
	srv->socks[srv->nsocks++] = k;
	return 0;
}

static int
smtpd_bind_listen(struct smtpd_server *srv, const struct cfg_listen *l,
    char *err, size_t errlen)
{
	struct sockaddr_in a4;
	struct sockaddr_in6 a6;
	struct addrinfo hints, *res = NULL, *ai;
	char port[8];
	int rc;

	if (l->host == NULL) {
		uv_ip4_addr("0.0.0.0", l->port, &a4);
		uv_ip6_addr("::", l->port, &a6);
		if (smtpd_bind_one(srv, l, (struct sockaddr *)&a4, 0, 0, err,
		    errlen) < 0)
			return -1;
		return smtpd_bind_one(srv, l, (struct sockaddr *)&a6, 1, 1, err,
		    errlen);
	}
	if (uv_ip4_addr(l->host, l->port, &a4) == 0)
		return smtpd_bind_one(srv, l, (struct sockaddr *)&a4, 0, 0, err,
		    errlen);
	if (uv_ip6_addr(l->host, l->port, &a6) == 0)
		return smtpd_bind_one(srv, l, (struct sockaddr *)&a6, 1, 0, err,
		    errlen);
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%u", l->port);
	if ((rc = getaddrinfo(l->host, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "listen \"%s\": %s: %s", l->name, l->host,
		    gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		if (smtpd_bind_one(srv, l, ai->ai_addr,
		    ai->ai_family == AF_INET6, 0, err, errlen) < 0) {
			freeaddrinfo(res);
			return -1;
		}
	}
	freeaddrinfo(res);
	return 0;
}

smtpd_server *
smtpd_server_bind(uv_loop_t *loop, const struct sealpost_config *cfg,
    char *err, size_t errlen)
{
	const struct cfg_smtpd *d = &cfg->smtpd;
	struct smtpd_server *srv;
	size_t i;

	err[0] = '\0';
	if (d->nlisten == 0)
		return NULL;
	srv = xcalloc(1, sizeof(*srv));
	srv->env.loop = loop;
	srv->env.cfg = cfg;
	srv->env.per_ip = util_htable_new();
	if (d->tls_cert_file != NULL) {
		srv->env.tls_ctx = tls_server_ctx_create(d->tls_cert_file,
		    d->tls_key_file, err, errlen);
		if (srv->env.tls_ctx == NULL)
			goto fail;
	}
	if (d->sasl_enable) {
		if (smtpd_sasl_init(d->sasl_path, cfg->myhostname,
		    srv->env.mechs, sizeof(srv->env.mechs), err, errlen) < 0)
			goto fail;
		srv->sasl_inited = 1;
	}
	for (i = 0; i < d->nlisten; i++) {
		const struct cfg_listen *l = &d->listen[i];

		if (l->role != CFG_ROLE_RELAY && srv->env.mechs[0] == '\0')
			log_warn("smtpd: listen \"%s\": role %s without SASL: "
			    "every MAIL will get 530", l->name,
			    cfg_role_name(l->role));
		if (smtpd_bind_listen(srv, l, err, errlen) < 0)
			goto fail;
	}
	return srv;
fail:
	smtpd_server_stop(srv);
	return NULL;
}

static void
smtpd_on_connection(uv_stream_t *st, int status)
{
	struct smtpd_sock *k = st->data;

	if (status < 0) {
		log_warn("smtpd: %s: accept: %s", k->text, uv_strerror(status));
		return;
	}
	smtpd_session_accept(&k->srv->env, k->l, st);
}

int
smtpd_server_start(smtpd_server *srv, queue_store *store, util_chan *chan,
    struct qmgr *q, char *err, size_t errlen)
{
	size_t i;
	int rc;

	srv->env.store = store;
	srv->env.chan = chan;
	srv->env.q = q;
	for (i = 0; i < srv->nsocks; i++) {
		struct smtpd_sock *k = srv->socks[i];

		if ((rc = uv_listen((uv_stream_t *)&k->tcp, SMTPD_BACKLOG,
		    smtpd_on_connection)) < 0) {
			snprintf(err, errlen, "listen \"%s\": %s: %s", k->l->name,
			    k->text, uv_strerror(rc));
			return -1;
		}
		log_info("smtpd: listening on %s (listener %s, role %s%s%s)",
		    k->text, k->l->name, cfg_role_name(k->l->role),
		    srv->env.tls_ctx != NULL ? ", TLS" : "",
		    srv->env.mechs[0] != '\0' ? ", SASL" : "");
	}
	return 0;
}

void
smtpd_server_stop(smtpd_server *srv)
{
	size_t i;

	if (srv == NULL || srv->env.stopping)
		return;
	srv->env.stopping = 1;
	for (i = 0; i < srv->nsocks; i++)
		uv_close((uv_handle_t *)&srv->socks[i]->tcp, smtpd_sock_closed);
	srv->nsocks = 0;
	smtpd_session_stop_all(&srv->env);
	/* srv itself (env, TLS context, SASL) stays: closing sessions point
	 * at env until the loop has run their close callbacks. */
}

void
smtpd_server_free(smtpd_server *srv)
{
	if (srv == NULL)
		return;
	UTIL_ASSERT(srv->env.stopping && srv->env.nsessions == 0 &&
	    srv->nopen == 0);
	if (srv->env.tls_ctx != NULL)
		SSL_CTX_free(srv->env.tls_ctx);
	if (srv->sasl_inited)
		smtpd_sasl_done();
	util_htable_free(srv->env.per_ip);
	free(srv);
}
