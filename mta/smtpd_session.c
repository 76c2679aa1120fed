/*
 * smtpd_session.c - one client connection of the listener, on libuv.
 *
 * This file moves bytes and answers the engine's events; it knows no
 * SMTP.  socket -> (TLS) -> smtpd_proto_feed; smtpd_proto_output ->
 * (TLS) -> socket.  Events: a finished message goes to the store
 * (queue_txn_insert + queue_store_commit, group-committed, never an
 * fsync here) and the engine hears the result only in the commit
 * callback, which is when the client gets its 250; then qmgr_submit.
 * AUTH steps run on libuv's thread pool (smtpd_sasl.c says why).
 *
 * Timers: smtpd_timeout from each completed command to the next, and
 * smtpd_data_timeout for the whole DATA phase (RFC 5321 4.5.3.2.7/8
 * give 5 and 10 minutes); stopped while we, not the client, are busy.
 *
 * Lifetime (STYLE: never free inside the struct's own callback): a
 * session embeds two handles and may have a commit, a SASL job or a
 * shutdown request outstanding.  smtpd_session_close() starts the
 * close; the struct is freed by whichever of the close callbacks and
 * async completions comes last (nopen == 0 && refs == 0).
 *
 * Privileges: sessions exist only after sealpostd dropped root.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include "queue/qmgr.h"
#include "smtpd.h"
#include "tls/tls.h"

#define SMTPD_READ_BUF		(16u * 1024)
/* Stop reading while this much output waits for a slow client. */
#define SMTPD_WRITE_HIGH	(256u * 1024)

struct smtpd_session {
	uv_tcp_t       tcp;
	uv_timer_t     timer;
	uv_shutdown_t  sreq;
	uv_work_t      work;
	struct smtpd_env *env;
	const struct cfg_listen *l;
	struct smtpd_session *next, *prev;
	smtpd_proto   *p;		/* NULL until the greeting */
	struct smtpd_params pr;
	char           ip[64];
	char           local[80], remote[80];	/* "ip;port" for SASL */
	tls_io *tls;
	int            handshaking;
	char           tls_text[SMTPD_TLS_TEXT_MAX];
	struct smtpd_sasl *sasl;
	struct smtpd_sasl_io *sio;	/* while a SASL job runs */
	struct queue_msg *msg;		/* while a commit runs */
	int            nopen;		/* handles not yet closed */
	int            refs;		/* commit / SASL job / shutdown */
	int            closing;
	int            counted;		/* in env's counts and list */
	int            reading;
	int            data_timer;	/* the DATA timer is running */
	uint64_t       cmds_seen;
	size_t         queued;		/* bytes in uv_write requests */
	unsigned       nmsgs;
	char           rbuf[SMTPD_READ_BUF];
	char           plain[SMTPD_READ_BUF];
};

struct smtpd_wreq {
	uv_write_t            req;
	struct smtpd_session *s;
	size_t                len;
	char                  data[];
};

static void smtpd_session_close(struct smtpd_session *s, const char *why);
static void smtpd_pump(struct smtpd_session *s);
static void smtpd_read_start(struct smtpd_session *s);
static void smtpd_timeout(uv_timer_t *t);

static void
smtpd_maybe_free(struct smtpd_session *s)
{
	if (s->nopen > 0 || s->refs > 0)
		return;
	smtpd_proto_free(s->p);
	tls_io_free(s->tls);
	smtpd_sasl_free(s->sasl);
	queue_msg_free(s->msg);
	free(s);
}

static void
smtpd_closed(uv_handle_t *h)
{
	struct smtpd_session *s = h->data;

	s->nopen--;
	smtpd_maybe_free(s);
}

/* ---- writing ------------------------------------------------------------ */

static void
smtpd_written(uv_write_t *req, int status)
{
	struct smtpd_wreq *w = (struct smtpd_wreq *)req;
	struct smtpd_session *s = w->s;

	s->queued -= w->len;
	free(w);
	if (s->closing)
		return;
	if (status < 0) {
		smtpd_session_close(s, "write error");
		return;
	}
	if (s->queued < SMTPD_WRITE_HIGH / 2 && !s->reading)
		smtpd_pump(s);		/* may resume reading */
}

static int
smtpd_write_raw(struct smtpd_session *s, const void *buf, size_t len)
{
	struct smtpd_wreq *w;
	uv_buf_t b;

	if (len == 0)
		return 0;
	w = xmalloc(sizeof(*w) + len);
	w->s = s;
	w->len = len;
	memcpy(w->data, buf, len);
	b = uv_buf_init(w->data, (unsigned)len);
	if (uv_write(&w->req, (uv_stream_t *)&s->tcp, &b, 1,
	    smtpd_written) < 0) {
		free(w);
		return -1;
	}
	s->queued += len;
	return 0;
}

static int
smtpd_flush_tls(struct smtpd_session *s)
{
	char buf[SMTPD_READ_BUF];
	size_t n;

	while (tls_io_pending(s->tls) > 0) {
		n = tls_io_take(s->tls, buf, sizeof(buf));
		if (n == 0 || smtpd_write_raw(s, buf, n) < 0)
			return -1;
	}
	return 0;
}

/* Send the engine's replies, encrypted when TLS is up. */
static int
smtpd_flush(struct smtpd_session *s)
{
	size_t len;
	const char *out;
	int rc = 0;

	if (s->p == NULL)
		return 0;
	out = smtpd_proto_output(s->p, &len);
	if (len > 0) {
		if (s->tls != NULL && !s->handshaking)
			rc = tls_io_write(s->tls, out, len) < 0 ||
			    smtpd_flush_tls(s) < 0 ? -1 : 0;
		else
			rc = smtpd_write_raw(s, out, len);
	}
	smtpd_proto_output_done(s->p);
	return rc;
}

/* ---- closing ------------------------------------------------------------ */

static void
smtpd_shut(uv_shutdown_t *req, int status)
{
	struct smtpd_session *s = req->data;

	(void)status;
	s->refs--;
	uv_close((uv_handle_t *)&s->tcp, smtpd_closed);
}

static void
smtpd_uncount(struct smtpd_session *s)
{
	struct smtpd_env *env = s->env;
	uintptr_t n;

	if (!s->counted)
		return;
	s->counted = 0;
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		env->sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	env->nsessions--;
	n = (uintptr_t)util_htable_get(env->per_ip, s->ip);
	if (n <= 1)
		util_htable_del(env->per_ip, s->ip);
	else
		util_htable_put(env->per_ip, s->ip, (void *)(n - 1));
}

/* Start closing: send what is queued (and a TLS close_notify), then
 * close.  Safe to call more than once and from any callback. */
static void
smtpd_session_close(struct smtpd_session *s, const char *why)
{
	if (s->closing)
		return;
	s->closing = 1;
	smtpd_uncount(s);
	log_info("smtpd: disconnect from [%s] listener=%s messages=%u%s%s",
	    s->ip, s->l->name, s->nmsgs, why != NULL ? " reason=" : "",
	    why != NULL ? why : "");
	if (s->reading)
		uv_read_stop((uv_stream_t *)&s->tcp);
	s->reading = 0;
	uv_timer_stop(&s->timer);
	uv_close((uv_handle_t *)&s->timer, smtpd_closed);
	if (s->tls != NULL && !s->handshaking) {
		tls_io_shutdown(s->tls);
		(void)smtpd_flush_tls(s);
	}
	s->sreq.data = s;
	if (uv_shutdown(&s->sreq, (uv_stream_t *)&s->tcp, smtpd_shut) == 0)
		s->refs++;
	else
		uv_close((uv_handle_t *)&s->tcp, smtpd_closed);
}

/* ---- events --------------------------------------------------------------- */

static void
smtpd_committed(void *arg, int rc)
{
	struct smtpd_session *s = arg;
	struct queue_msg *m = s->msg;
	char qid[QUEUE_ID_LEN + 1];

	s->refs--;
	s->msg = NULL;
	memcpy(qid, m->qid, sizeof(qid));
	if (rc == 0) {
		log_info("%s: client=[%s] listener=%s from=<%s> nrcpt=%zu "
		    "size=%zu%s%s", qid, s->ip, s->l->name, m->sender,
		    m->nrcpt, m->size, s->p != NULL &&
		    smtpd_proto_auth_user(s->p) != NULL ? " sasl=yes" : "",
		    s->tls != NULL ? " tls=yes" : "");
		s->nmsgs++;
		if (!s->env->stopping && s->env->q != NULL)
			qmgr_submit(s->env->q, m);	/* takes m */
		else
			queue_msg_free(m);	/* durable: found at restart */
	} else {
		log_error("%s: client=[%s] not queued: the store failed",
		    qid, s->ip);
		queue_msg_free(m);
	}
	if (!s->closing) {
		smtpd_proto_queued(s->p, rc, qid);
		smtpd_pump(s);
	}
	smtpd_maybe_free(s);
}

static void
smtpd_commit(struct smtpd_session *s)
{
	queue_txn *t = queue_txn_new();

	s->msg = smtpd_proto_take_msg(s->p);
	queue_txn_insert(t, s->msg);
	s->refs++;
	queue_store_commit(s->env->store, t, s->env->chan, smtpd_committed, s);
}

static void
smtpd_auth_work(uv_work_t *req)
{
	struct smtpd_session *s = req->data;

	smtpd_sasl_step(s->sasl, s->sio);
}

static void
smtpd_auth_after(uv_work_t *req, int status)
{
	struct smtpd_session *s = req->data;
	struct smtpd_sasl_io *sio = s->sio;
	char user[128];

	s->refs--;
	s->sio = NULL;
	if (status < 0)
		sio->rc = SMTPD_AUTH_TEMPFAIL;
	if (!s->closing) {
		if (sio->rc == SMTPD_AUTH_OK) {
			util_printable(sio->text, strlen(sio->text), user,
			    sizeof(user));
			log_info("smtpd: [%s] authenticated as %s (%s)", s->ip,
			    user, smtpd_proto_auth_mech(s->p));
		} else if (sio->rc == SMTPD_AUTH_FAIL) {
			log_warn("smtpd: [%s] authentication failed (%s)",
			    s->ip, smtpd_proto_auth_mech(s->p));
		}
		smtpd_proto_auth_reply(s->p, sio->rc, sio->text);
		smtpd_pump(s);
	}
	OPENSSL_cleanse(sio, sizeof(*sio));
	free(sio);
	smtpd_maybe_free(s);
}

/* 1: keep pumping, 0: wait for the job. */
static int
smtpd_auth(struct smtpd_session *s)
{
	if (s->sasl == NULL)
		s->sasl = smtpd_sasl_new(s->env->cfg->myhostname, s->local,
		    s->remote);
	if (s->sasl == NULL) {
		smtpd_proto_auth_reply(s->p, SMTPD_AUTH_TEMPFAIL, NULL);
		return 1;
	}
	s->sio = xcalloc(1, sizeof(*s->sio));
	s->sio->mech = smtpd_proto_auth_mech(s->p);
	s->sio->data = smtpd_proto_auth_data(s->p);
	s->sio->step = smtpd_proto_auth_step(s->p);
	s->work.data = s;
	if (uv_queue_work(s->env->loop, &s->work, smtpd_auth_work,
	    smtpd_auth_after) < 0) {
		free(s->sio);
		s->sio = NULL;
		smtpd_proto_auth_reply(s->p, SMTPD_AUTH_TEMPFAIL, NULL);
		return 1;
	}
	s->refs++;
	return 0;
}

static int
smtpd_starttls(struct smtpd_session *s)
{
	char err[256];

	s->tls = tls_io_server_new(s->env->tls_ctx, err, sizeof(err));
	if (s->tls == NULL) {
		log_error("smtpd: [%s] STARTTLS: %s", s->ip, err);
		smtpd_proto_tls_started(s->p, 0, NULL);
		smtpd_session_close(s, "TLS setup failed");
		return 0;
	}
	s->handshaking = 1;
	return 0;
}

/* Run the engine until it needs the client or the outside world. */
static void
smtpd_pump(struct smtpd_session *s)
{
	uint64_t cmds;

	while (!s->closing && s->p != NULL) {
		enum smtpd_ev ev = smtpd_proto_run(s->p);

		if (smtpd_flush(s) < 0) {
			smtpd_session_close(s, "write error");
			return;
		}
		switch (ev) {
		case SMTPD_EV_NONE:
			goto settle;
		case SMTPD_EV_FLUSH:
		case SMTPD_EV_AUTH_ABORT:
			continue;
		case SMTPD_EV_MESSAGE:
			smtpd_commit(s);
			goto settle;
		case SMTPD_EV_STARTTLS:
			(void)smtpd_starttls(s);
			goto settle;
		case SMTPD_EV_AUTH:
			if (smtpd_auth(s))
				continue;
			goto settle;
		case SMTPD_EV_CLOSE:
			smtpd_session_close(s, NULL);
			return;
		}
	}
settle:
	if (s->closing || s->p == NULL)
		return;
	/* timers: the client's turn only */
	cmds = smtpd_proto_commands(s->p);
	if (s->handshaking) {
		/* STARTTLS: the handshake is the client's turn */
		if (cmds != s->cmds_seen)
			uv_timer_start(&s->timer, smtpd_timeout,
			    (uint64_t)s->env->cfg->smtpd.timeout * 1000, 0);
	} else if (smtpd_proto_waiting(s->p)) {
		uv_timer_stop(&s->timer);
		s->data_timer = 0;
	} else if (smtpd_proto_in_data(s->p)) {
		if (!s->data_timer)
			uv_timer_start(&s->timer, smtpd_timeout,
			    (uint64_t)s->env->cfg->smtpd.data_timeout * 1000, 0);
		s->data_timer = 1;
	} else if (cmds != s->cmds_seen || s->data_timer ||
	    !uv_is_active((uv_handle_t *)&s->timer)) {
		s->data_timer = 0;
		uv_timer_start(&s->timer, smtpd_timeout,
		    (uint64_t)s->env->cfg->smtpd.timeout * 1000, 0);
	}
	s->cmds_seen = cmds;
	/* reading: not while we are busy or the client does not read */
	if ((smtpd_proto_waiting(s->p) && !s->handshaking) ||
	    s->queued > SMTPD_WRITE_HIGH) {
		if (s->reading)
			uv_read_stop((uv_stream_t *)&s->tcp);
		s->reading = 0;
	} else if (!s->reading) {
		smtpd_read_start(s);
	}
}

static void
smtpd_timeout(uv_timer_t *t)
{
	struct smtpd_session *s = t->data;

	if (s->closing)
		return;
	if (s->p != NULL) {
		smtpd_proto_timeout(s->p);
		(void)smtpd_flush(s);
	}
	smtpd_session_close(s, s->handshaking ? "timeout in TLS handshake" :
	    "timeout");
}

/* ---- reading ------------------------------------------------------------ */

static void
smtpd_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct smtpd_session *s = h->data;

	(void)hint;
	*buf = uv_buf_init(s->rbuf, sizeof(s->rbuf));
}

/* The handshake finished: greet (smtps) or tell the engine (STARTTLS). */
static void
smtpd_tls_up(struct smtpd_session *s)
{
	s->handshaking = 0;
	tls_io_received_text(s->tls, s->tls_text, sizeof(s->tls_text));
	log_info("smtpd: [%s] TLS %s", s->ip, s->tls_text);
	if (s->p == NULL) {
		s->pr.tls_active = 1;
		s->pr.tls_text = s->tls_text;
		s->p = smtpd_proto_new(&s->pr);
		smtpd_proto_greet(s->p);
	} else {
		smtpd_proto_tls_started(s->p, 1, s->tls_text);
	}
}

static void
smtpd_tls_input(struct smtpd_session *s, const char *buf, size_t len)
{
	ssize_t n;

	if (tls_io_feed(s->tls, buf, len) < 0) {
		smtpd_session_close(s, tls_io_reason(s->tls));
		return;
	}
	if (s->handshaking) {
		enum tls_hs hs = tls_io_handshake(s->tls);

		if (smtpd_flush_tls(s) < 0) {
			smtpd_session_close(s, "write error in TLS handshake");
			return;
		}
		if (hs == TLS_HS_WANT)
			return;
		if (hs == TLS_HS_ERROR) {
			char why[TLS_REASON_MAX];

			util_printable(tls_io_reason(s->tls),
			    strlen(tls_io_reason(s->tls)), why,
			    sizeof(why));
			smtpd_session_close(s, why);
			return;
		}
		smtpd_tls_up(s);
	}
	while ((n = tls_io_read(s->tls, s->plain, sizeof(s->plain))) > 0)
		(void)smtpd_proto_feed(s->p, s->plain, (size_t)n);
	if (n < 0) {
		smtpd_session_close(s, "TLS closed by the client");
		return;
	}
	if (smtpd_flush_tls(s) < 0)
		smtpd_session_close(s, "write error");
}

static void
smtpd_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct smtpd_session *s = st->data;

	if (s->closing || nread == 0)
		return;
	if (nread < 0) {
		smtpd_session_close(s, nread == UV_EOF ? "lost connection" :
		    uv_strerror((int)nread));
		return;
	}
	if (s->tls != NULL)
		smtpd_tls_input(s, buf->base, (size_t)nread);
	else
		(void)smtpd_proto_feed(s->p, buf->base, (size_t)nread);
	if (!s->closing)
		smtpd_pump(s);
}

static void
smtpd_read_start(struct smtpd_session *s)
{
	int rc = uv_read_start((uv_stream_t *)&s->tcp, smtpd_alloc, smtpd_read);

	if (rc < 0) {
		smtpd_session_close(s, uv_strerror(rc));
		return;
	}
	s->reading = 1;
}

/* ---- accepting ------------------------------------------------------------ */

/* "ip" and "ip;port" of a socket address. */
static void
smtpd_addr_text(const struct sockaddr_storage *ss, char *ip, size_t iplen,
    char *ipport, size_t ipportlen)
{
	int port = 0;

	ip[0] = '\0';
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;

		uv_ip4_name(a, ip, iplen);
		port = ntohs(a->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;

		uv_ip6_name(a, ip, iplen);
		port = ntohs(a->sin6_port);
	}
	snprintf(ipport, ipportlen, "%s;%d", ip, port);
}

static int
smtpd_trusted(const struct smtpd_env *env, const struct sockaddr_storage *ss)
{
	const struct cfg_smtpd *d = &env->cfg->smtpd;

	if (ss->ss_family == AF_INET)
		return cfg_cidr_match(d->mynet, d->nmynetworks, AF_INET,
		    (const unsigned char *)
		    &((const struct sockaddr_in *)ss)->sin_addr);
	if (ss->ss_family == AF_INET6)
		return cfg_cidr_match(d->mynet, d->nmynetworks, AF_INET6,
		    (const unsigned char *)
		    &((const struct sockaddr_in6 *)ss)->sin6_addr);
	return 0;
}

void
smtpd_session_accept(struct smtpd_env *env, const struct cfg_listen *l,
    uv_stream_t *server)
{
	const struct cfg_smtpd *d = &env->cfg->smtpd;
	struct smtpd_session *s = xcalloc(1, sizeof(*s));
	struct sockaddr_storage peer, me;
	int len, rc;
	uintptr_t per_ip;
	int ip_limited;
	char refuse[160];

	s->env = env;
	s->l = l;
	if ((rc = uv_tcp_init(env->loop, &s->tcp)) < 0) {
		log_error("smtpd: uv_tcp_init: %s", uv_strerror(rc));
		free(s);
		return;
	}
	s->tcp.data = s;
	s->nopen = 1;
	if ((rc = uv_accept(server, (uv_stream_t *)&s->tcp)) < 0) {
		log_warn("smtpd: accept: %s", uv_strerror(rc));
		uv_close((uv_handle_t *)&s->tcp, smtpd_closed);
		return;
	}
	uv_timer_init(env->loop, &s->timer);
	s->timer.data = s;
	s->nopen = 2;
	memset(&peer, 0, sizeof(peer));
	memset(&me, 0, sizeof(me));
	len = sizeof(peer);
	(void)uv_tcp_getpeername(&s->tcp, (struct sockaddr *)&peer, &len);
	len = sizeof(me);
	(void)uv_tcp_getsockname(&s->tcp, (struct sockaddr *)&me, &len);
	smtpd_addr_text(&peer, s->ip, sizeof(s->ip), s->remote,
	    sizeof(s->remote));
	{
		char myip[64];

		smtpd_addr_text(&me, myip, sizeof(myip), s->local,
		    sizeof(s->local));
	}
	(void)uv_tcp_nodelay(&s->tcp, 1);

	per_ip = (uintptr_t)util_htable_get(env->per_ip, s->ip);
	/* The per-client limit guards against one outsider taking every
	 * slot; like Postfix (smtpd_client_connection_limit_exceptions =
	 * $mynetworks) the organisation's own hosts are exempt: an
	 * application server may well open hundreds of sessions. */
	ip_limited = per_ip >= d->client_connection_limit &&
	    !smtpd_trusted(env, &peer);
	if (env->stopping || env->nsessions >= d->connection_limit ||
	    ip_limited) {
		/* RFC 5321 3.8: 421 and close; counted nowhere */
		snprintf(refuse, sizeof(refuse), "421 4.7.0 %s Error: too many "
		    "connections%s\r\n", env->cfg->myhostname,
		    ip_limited ? " from your address" : "");
		log_warn("smtpd: [%s] refused: too many connections (%zu in "
		    "total, %zu from this address)", s->ip, env->nsessions,
		    (size_t)per_ip);
		s->counted = 0;
		(void)smtpd_write_raw(s, refuse, strlen(refuse));
		s->closing = 1;
		uv_close((uv_handle_t *)&s->timer, smtpd_closed);
		s->sreq.data = s;
		if (uv_shutdown(&s->sreq, (uv_stream_t *)&s->tcp, smtpd_shut) == 0)
			s->refs++;
		else
			uv_close((uv_handle_t *)&s->tcp, smtpd_closed);
		return;
	}
	s->counted = 1;
	s->next = env->sessions;
	if (env->sessions != NULL)
		env->sessions->prev = s;
	env->sessions = s;
	env->nsessions++;
	util_htable_put(env->per_ip, s->ip, (void *)(per_ip + 1));

	s->pr.myhostname = env->cfg->myhostname;
	if (env->postmaster[0] == '\0')
		snprintf(env->postmaster, sizeof(env->postmaster), "%s%s%s",
		    env->cfg->postmaster,
		    strchr(env->cfg->postmaster, '@') ? "" : "@",
		    strchr(env->cfg->postmaster, '@') ? "" :
		    env->cfg->myhostname);
	s->pr.postmaster = env->postmaster;
	s->pr.role = l->role;
	s->pr.client_addr = s->ip;
	s->pr.client_trusted = smtpd_trusted(env, &peer);
	s->pr.tls_offer = env->tls_ctx != NULL;
	s->pr.sasl_enable = env->mechs[0] != '\0';
	s->pr.sasl_mechs = env->mechs;
	s->pr.message_size_limit = env->cfg->message_size_limit;
	s->pr.recipient_limit = d->recipient_limit;
	s->pr.header_size_limit = d->header_size_limit;
	s->pr.error_limit = d->error_limit;
	s->pr.bare_lf = d->bare_lf;
	log_info("smtpd: connect from [%s] listener=%s role=%s%s", s->ip,
	    l->name, cfg_role_name(l->role),
	    s->pr.client_trusted ? " mynetworks=yes" : "");

	if (l->role == CFG_ROLE_SMTPS) {
		char err[256];

		/* implicit TLS (RFC 8314): greet after the handshake */
		if ((s->tls = tls_io_server_new(env->tls_ctx, err,
		    sizeof(err))) == NULL) {
			log_error("smtpd: [%s] TLS: %s", s->ip, err);
			smtpd_session_close(s, "TLS setup failed");
			return;
		}
		s->handshaking = 1;
		uv_timer_start(&s->timer, smtpd_timeout,
		    (uint64_t)d->timeout * 1000, 0);
		smtpd_read_start(s);
		return;
	}
	s->p = smtpd_proto_new(&s->pr);
	smtpd_proto_greet(s->p);
	smtpd_pump(s);
}

void
smtpd_session_stop_all(struct smtpd_env *env)
{
	while (env->sessions != NULL) {
		struct smtpd_session *s = env->sessions;

		if (s->p != NULL && !s->handshaking) {
			smtpd_proto_shutdown(s->p);
			(void)smtpd_flush(s);
		}
		smtpd_session_close(s, "shutting down");	/* unlinks s */
	}
}
