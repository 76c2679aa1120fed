/*
 * mta_connect.c - from a destination to a talking SMTP connection:
 * resolving, walking the addresses, STARTTLS, and what a failure of one
 * host means.
 *
 * RFC 5321 5.1 and Postfix's smtp_connect.c are the model.  DNS answers
 * decide first: no such domain bounces (5.1.2), a null MX bounces
 * (RFC 7505, 5.1.10), a temporary failure defers (4.4.3).  Then each
 * address in turn until one gets us as far as MAIL FROM; connection
 * failures, timeouts, 4xx or 5xx greetings (RFC 5321 3.1 lets a server
 * refuse with 554; we treat it as a failure of that host, like Postfix's
 * smtp_skip_5xx_greeting) and EHLO/STARTTLS/AUTH failures move on.  When
 * every address failed, the job is deferred with the last reason.
 *
 * Opportunistic TLS: if the handshake fails, the same address is tried
 * once more without STARTTLS (Postfix does the same); a policy that
 * requires TLS (encrypt, verify, DANE) instead counts it as a failure of
 * that host, and the walk goes on to the next one: never cleartext.
 *
 * Before the first connection to each host the session passes through
 * MTA_ST_TLSA, where mta_dane.c decides that host's TLS policy (and
 * looks up its TLSA records when DANE may apply), and then, for a host
 * DANE does not decide, through MTA_ST_STS, where mta_sts.c applies the
 * domain's MTA-STS policy (RFC 8461).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mta_int.h"

static const char *
mta_qid(const struct mta_session *s)
{
	return s->job ? s->job->job->msg->qid : "-";
}

static void
mta_resolved(void *arg, const struct res_mx_result *res)
{
	struct mta_session *s = arg;
	char text[MTA_TEXT_MAX];

	s->query = NULL;
	if (s->dead || s->job == NULL)
		return;
	/* Checked before the rcode: the resolver may flag a null MX with
	 * any rcode (it is "unusable data" to a generic caller). */
	if (res->null_mx) {
		mta_textf(text, sizeof(text), "Recipient address rejects mail "
		    "(null MX): domain %s does not accept mail", res->domain);
		mta_job_fail(s, MTA_BOUNCE, 0, "5.1.10", text);
		return;
	}
	switch (res->rcode) {
	case RES_OK:
		break;
	case RES_NOTFOUND:
		mta_textf(text, sizeof(text), "Host or domain name not found. "
		    "Name service error for name=%s type=%s: Host not found",
		    res->domain, s->dest->relay ? "A" : "MX");
		/* A relayhost that does not exist is our configuration
		 * problem, not the recipient's: defer. */
		mta_job_fail(s, s->dest->relay ? MTA_DEFER : MTA_BOUNCE, 0,
		    s->dest->relay ? "4.4.3" : "5.1.2", text);
		return;
	case RES_RETRY:
		mta_textf(text, sizeof(text), "Host or domain name not found. "
		    "Name service error for name=%s type=MX: Host not found, "
		    "try again", res->domain);
		mta_job_fail(s, MTA_DEFER, 0, "4.4.3", text);
		return;
	case RES_FAIL:
		mta_textf(text, sizeof(text), "DNS lookup of %s failed: %s",
		    res->domain, res->error[0] ? res->error : "unusable data");
		mta_job_fail(s, MTA_DEFER, 0, "4.4.3", text);
		return;
	}
	mta_route_build(res, MTA_ADDRESS_LIMIT, &s->route);
	if (s->route.n == 0) {
		mta_textf(text, sizeof(text), "no usable address for %s: %s",
		    res->domain, s->route.error[0] ? s->route.error :
		    "no hosts");
		mta_job_fail(s, MTA_DEFER, 0, "4.4.3", text);
		return;
	}
	mta_set_state(s, MTA_ST_CONNECT);
}

void
mta_resolve(struct mta_session *s)
{
	const struct sealpost_config *cfg = s->th->cfg;
	char name[RES_NAME_MAX];
	uint16_t port = cfg->smtp_port ? cfg->smtp_port : 25;
	int mx = 1;
	size_t len;

	memset(&s->route, 0, sizeof(s->route));
	s->route_pos = 0;
	s->tried = 0;
	mta_dane_reset(s);
	s->sts_hidx1 = 0;
	s->sts_verdict[0] = '\0';
	snprintf(name, sizeof(name), "%s", s->dest->key);
	if (s->dest->relay) {
		struct mta_route_entry *e = &s->route.e[0];

		port = cfg->relay.port ? cfg->relay.port : 25;
		mx = cfg->relay.mx_lookup;
		snprintf(name, sizeof(name), "%s", cfg->relay.host);
		len = strlen(name);
		if (len >= 2 && name[0] == '[' && name[len - 1] == ']') {
			memmove(name, name + 1, len - 2);
			name[len - 2] = '\0';
			mx = 0;
		}
		/* An address literal needs no DNS at all. */
		if (mta_route_literal(name, port, &e->addr) == 0) {
			mta_addr_string(&e->addr, e->host, sizeof(e->host));
			s->route.n = 1;
			s->route.nhosts = 1;
			snprintf(s->route.hosts[0].name,
			    sizeof(s->route.hosts[0].name), "%s", e->host);
			snprintf(s->nexthop, sizeof(s->nexthop), "%s", name);
			s->tls_want = mta_tls_level_for(cfg, 1, name,
			    &s->tls_entry);
			mta_set_state(s, MTA_ST_CONNECT);
			return;
		}
	}
	/* The policy domain: the recipient domain, or the relay host. */
	snprintf(s->nexthop, sizeof(s->nexthop), "%s", name);
	s->tls_want = mta_tls_level_for(cfg, s->dest->relay, name,
	    &s->tls_entry);
	if (s->th->res == NULL)
		s->query = NULL;
	else if (mx)
		s->query = res_mx_lookup(s->th->res, name, port, mta_resolved, s);
	else
		s->query = res_host_lookup(s->th->res, name, port, mta_resolved,
		    s);
	if (s->query == NULL)
		mta_job_fail(s, MTA_DEFER, 0, "4.3.0",
		    "cannot start a DNS lookup (resolver unavailable)");
}

void
mta_connect(struct mta_session *s)
{
	struct mta_route_entry *e = &s->route.e[s->route_pos];
	char ip[64], host[RES_NAME_MAX], err[128], text[MTA_TEXT_MAX];
	size_t len;

	snprintf(host, sizeof(host), "%s", e->host);
	len = strlen(host);
	if (len > 1 && host[len - 1] == '.')
		host[len - 1] = '\0';
	mta_addr_string(&e->addr, ip, sizeof(ip));
	snprintf(s->host, sizeof(s->host), "%s", host);
	mta_textf(s->relay_host, sizeof(s->relay_host), "%s[%s]", host, ip);
	snprintf(s->relay, sizeof(s->relay), "%s:%u", s->relay_host,
	    (unsigned)mta_addr_port(&e->addr));
	if (s->policy_hidx != e->hidx) {
		/* a new host: its TLS policy first (mta_dane.c) */
		mta_set_state(s, MTA_ST_TLSA);
		return;
	}
	if (s->sts_hidx1 != e->hidx + 1 && mta_sts_wanted(s)) {
		/* DANE does not decide this host: MTA-STS (mta_sts.c) */
		mta_set_state(s, MTA_ST_STS);
		return;
	}
	if (!s->tls_relaxed)	/* else the failed verdict stays shown */
		mta_sts_attempt_reset(s);
	mta_tls_field_reset(s);
	mta_sts_field(s);
	s->tls_reported = 0;
	memset(&s->ehlo, 0, sizeof(s->ehlo));
	mta_reply_reset(&s->reply);
	s->connected = 0;
	s->local_ip[0] = '\0';
	s->starttls_refused = 0;
	s->authed = 0;
	s->need_rset = 0;
	mta_sasl_free(s->sasl);
	s->sasl = NULL;
	if (!s->plain_retry)
		s->tried++;
	s->conn = mta_conn_open(s, &s->th->loop, &e->addr, err, sizeof(err));
	if (s->conn == NULL) {
		mta_textf(text, sizeof(text), "connect to %s: %s", s->relay, err);
		mta_fail_host(s, 0, "4.4.1", text);
		return;
	}
	mta_timer_restart(s);	/* the state's timer needs the connection */
}

void
mta_session_on_connect(struct mta_session *s, int status)
{
	char text[MTA_TEXT_MAX];

	if (status < 0) {
		mta_textf(text, sizeof(text), "connect to %s: %s", s->relay,
		    uv_strerror(status));
		mta_fail_host(s, 0, "4.4.1", text);
		return;
	}
	s->connected = 1;
	/* TLS-RPT sending-mta-ip (RFC 8460 4.4): known only once connected */
	(void)mta_conn_local_addr(s->conn, s->local_ip, sizeof(s->local_ip));
	mta_set_state(s, MTA_ST_GREETING);
}

static void
mta_tls_failed(struct mta_session *s, const char *why)
{
	char text[MTA_TEXT_MAX];
	struct tls_peer_info info;
	long ve;

	/* the engine survives a failed handshake until the host is let go */
	mta_conn_peer_info(s->conn, &info);
	ve = info.verify_error;
	if (s->policy.level == TLS_LEVEL_DANE) {
		/* RFC 7672 2.2: this host failed; the walk goes on */
		if (ve != X509_V_OK)
			mta_textf(text, sizeof(text), "DANE authentication "
			    "failed for %s: %s", s->relay_host,
			    ve == X509_V_ERR_DANE_NO_MATCH ?
			    "no TLSA record matched" :
			    X509_verify_cert_error_string(ve));
		else
			mta_textf(text, sizeof(text), "DANE authentication "
			    "failed for %s: TLS handshake failed: %s",
			    s->relay_host, why && why[0] ? why : "unknown error");
		mta_textf(s->dane_verdict, sizeof(s->dane_verdict),
		    "failed (%s)", mta_dane_failure_phrase(ve));
		mta_tls_field_reset(s);
	} else
		mta_textf(text, sizeof(text), "TLS handshake with %s failed: "
		    "%s", s->relay_host, why && why[0] ? why : "unknown error");
	/* MTA-STS: enforce replaces the reason, testing only records */
	if (mta_sts_tls_failed(s, ve, why, text, sizeof(text))) {
		mta_tls_field_reset(s);
		mta_sts_field(s);
	}
	mta_tls_report(s, ve != X509_V_OK ? mta_report_type_for_verify(ve) :
	    TLS_REPORT_VALIDATION_FAILURE, text);
	log_warn("%s: %s", mta_qid(s), text);
	if (tls_policy_required(&s->policy) && mta_tls_relaxable(s)) {
		/* RFC 8689: the same address again, TLS without the policy */
		mta_conn_close(s->conn);
		s->conn = NULL;
		mta_tls_relax(s, text);
		mta_set_state(s, MTA_ST_CONNECT);
		return;
	}
	if (s->policy.level == TLS_LEVEL_MAY && !s->plain_retry) {
		/* Opportunistic: the same address once more, in clear. */
		log_info("%s: retrying %s without TLS", mta_qid(s), s->relay);
		mta_conn_close(s->conn);
		s->conn = NULL;
		s->plain_retry = 1;
		mta_set_state(s, MTA_ST_CONNECT);
		return;
	}
	mta_fail_host(s, 0, "4.7.5", text);
}

void
mta_tls_start(struct mta_session *s)
{
	char err[TLS_REASON_MAX];

	if (mta_conn_start_tls(s->conn, s->th->ssl_ctx, &s->policy, err,
	    sizeof(err)) < 0)
		mta_tls_failed(s, err);
}

void
mta_session_on_tls(struct mta_session *s, int ok, const char *why)
{
	struct tls_peer_info info;

	if (!ok) {
		mta_tls_failed(s, why);
		return;
	}
	mta_conn_tls_summary(s->conn, s->tls, sizeof(s->tls));
	mta_conn_peer_info(s->conn, &info);
	if (s->dnssec_bogus)
		mta_textf(s->tls + strlen(s->tls), sizeof(s->tls) -
		    strlen(s->tls), " dnssec=bogus");
	if (s->no_tls_req)
		mta_textf(s->tls + strlen(s->tls), sizeof(s->tls) -
		    strlen(s->tls), " tls-required=no");
	/* A secure RRset of unusable records is a TLSA problem to report
	 * even though the session goes on encrypted (RFC 8460 4.3.3).
	 * MTA-STS records its own verdict first (mta_sts.c). */
	(void)mta_sts_tls_ok(s);
	mta_tls_report(s, s->dane != NULL && s->policy.level !=
	    TLS_LEVEL_DANE ? TLS_REPORT_TLSA_INVALID : TLS_REPORT_SUCCESS,
	    s->dane != NULL && s->policy.level != TLS_LEVEL_DANE ?
	    "no usable TLSA record" : NULL);
	log_info("%s: %s TLS connection established to %s: %s (%d bits) "
	    "subject=\"%s\" issuer=\"%s\"", mta_qid(s),
	    info.verified ? "Verified" : "Untrusted", s->relay, s->tls,
	    info.bits, info.subject, info.issuer);
	/* RFC 3207 4.2: forget what we knew, ask again. */
	memset(&s->ehlo, 0, sizeof(s->ehlo));
	mta_set_state(s, MTA_ST_EHLO);
}

void
mta_fail_host(struct mta_session *s, int code, const char *dsn,
    const char *text)
{
	struct mta_thread *th = s->th;

	s->last_code = code;
	snprintf(s->last_dsn, sizeof(s->last_dsn), "%s", dsn);
	snprintf(s->last_text, sizeof(s->last_text), "%s", text);
	s->last_connected = s->connected;
	log_info("%s: %s", mta_qid(s), text);
	mta_conn_close(s->conn);
	s->conn = NULL;
	s->connected = 0;
	mta_sasl_free(s->sasl);
	s->sasl = NULL;
	if (s->job == NULL) {
		mta_set_state(s, MTA_ST_END);
		return;
	}
	if (s->reused) {
		/* An old connection went bad before MAIL: give the job a
		 * fresh session rather than deferring it. */
		mta_dest_push_front(s->dest, s->job);
		s->job = NULL;
		mta_set_state(s, MTA_ST_END);
		return;
	}
	s->plain_retry = 0;
	s->route_pos++;
	if (s->route_pos < s->route.n && s->tried < MTA_ADDRESS_LIMIT &&
	    !th->stopping) {
		mta_set_state(s, MTA_ST_CONNECT);
		return;
	}
	/* Every address failed: defer with the last reason, as a
	 * temporary failure even if that host said 5xx. */
	s->last_dsn[0] = '4';
	if (!s->last_connected)
		snprintf(s->relay, sizeof(s->relay), "none");
	mta_job_fail(s, MTA_DEFER, s->last_code, s->last_dsn, s->last_text);
}
