/*
 * mta_dane.c - the TLS policy of each MX host, decided before connecting:
 * configuration (tls_policy table, dane = yes|no) and DANE (RFC 7672).
 *
 * Where it sits: after the MX walk order is known (mta_route.c) and
 * before each new host's first connection (mta_connect.c), the session
 * enters MTA_ST_TLSA and mta_dane_policy() fixes s->policy for that host.
 * Levels none/may/encrypt/verify/secure need no DNS.  Levels dane and
 * dane-only follow RFC 7672 2.2:
 *
 *  - DANE applies only when the MX RRset (after the domain's own CNAMEs)
 *    is DNSSEC-secure and so are the host's address records.  For any
 *    other host no TLSA query is sent at all: some providers' servers
 *    answer TLSA queries with SERVFAIL, and asking would defer all their
 *    mail for nothing.
 *  - TLSA base domain (RFC 7672 2.2.3): a host whose name is a CNAME with
 *    a fully secure expansion is tried at the expanded name first, then
 *    at the original name.  When the expansion passes through insecure
 *    data only the original name counts, and only if its own CNAME
 *    record is secure (an extra CNAME query, answered from the cache).
 *  - TLSA owner names that are CNAMEs are followed by libunbound; the
 *    answer's security covers the whole chain.
 *  - Secure RRset with a usable record: level dane (TLS mandatory,
 *    peer authenticated by OpenSSL's DANE code, tls_dane.c).  Secure
 *    RRset with only unusable records: level encrypt ("unusable-tlsa").
 *    No RRset (secure or insecure denial) or an insecure one: no DANE for
 *    this host, opportunistic TLS (dane-only: the host fails).  A bogus,
 *    SERVFAIL or timed-out TLSA lookup: the host fails (4.7.5) and the
 *    walk moves on to the next MX; never cleartext.
 *
 * Every attempt's TLS outcome goes to tls_report_record() exactly once
 * (mta_tls_report), and the verdict is kept in s->tls for the recipient
 * log line, mailq and delay notices.
 *
 * RFC 8689 TLS-Required: No: a session of such mail (mta_trouble.c keeps
 * it apart) sets a failed DANE or MTA-STS policy aside for the host
 * (mta_tls_relax: opportunistic TLS) instead of failing it, records
 * nothing for TLS-RPT, and shows tls-required=no.  Mandatory TLS from
 * local configuration stays mandatory (docs/tlsrpt.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509_vfy.h>

#include "mta_int.h"

#define MTA_RR_CNAME	5	/* RFC 1035 3.2.2 */
#define MTA_RR_TLSA	52	/* RFC 6698 7.1 */

/* ---- configuration ---------------------------------------------------- */

enum cfg_tls_level
mta_tls_level_for(const struct sealpost_config *cfg, int relay,
    const char *nexthop, const struct cfg_tls_policy **entry)
{
	const struct cfg_tls_policy *p = cfg_tls_policy_find(cfg, nexthop);
	int creds = relay && cfg->relay.sasl_username &&
	    cfg->relay.sasl_username[0];

	*entry = p;
	if (creds) {
		/* A password never goes to an unauthenticated server. */
		if (p != NULL && (p->level == CFG_TLS_VERIFY ||
		    p->level == CFG_TLS_SECURE || p->level == CFG_TLS_DANE_ONLY))
			return p->level;
		*entry = NULL;
		return CFG_TLS_VERIFY;
	}
	if (p != NULL)
		return p->level;
	if (cfg->dane)
		return CFG_TLS_DANE;
	return cfg->tls_opportunistic ? CFG_TLS_MAY : CFG_TLS_NONE;
}

static void
mta_policy_add_match(struct tls_policy *pol, const char *m,
    const char *nexthop, const char *host)
{
	char buf[RES_NAME_MAX + 1];

	if (strcmp(m, "hostname") == 0)
		(void)tls_policy_add_name(pol, host);
	else if (strcmp(m, "nexthop") == 0)
		(void)tls_policy_add_name(pol, nexthop);
	else if (strcmp(m, "dot-nexthop") == 0) {
		snprintf(buf, sizeof(buf), ".%s", nexthop);
		(void)tls_policy_add_name(pol, buf);
	} else
		(void)tls_policy_add_name(pol, m);
}

void
mta_policy_static(const struct sealpost_config *cfg, enum cfg_tls_level level,
    const struct cfg_tls_policy *entry, const char *nexthop, const char *host,
    struct tls_policy *pol)
{
	struct sockaddr_storage ss;
	char ip[64];
	size_t i;

	switch (level) {
	case CFG_TLS_NONE:
		tls_policy_init(pol, TLS_LEVEL_NONE);
		break;
	case CFG_TLS_ENCRYPT:
		tls_policy_init(pol, TLS_LEVEL_ENCRYPT);
		break;
	case CFG_TLS_VERIFY:
	case CFG_TLS_SECURE:
		tls_policy_init(pol, TLS_LEVEL_VERIFY);
		if (entry != NULL && entry->nmatch > 0) {
			for (i = 0; i < entry->nmatch; i++)
				mta_policy_add_match(pol, entry->match[i],
				    nexthop, host);
		} else if (level == CFG_TLS_SECURE) {
			mta_policy_add_match(pol, "nexthop", nexthop, host);
			mta_policy_add_match(pol, "dot-nexthop", nexthop, host);
		} else if (mta_route_literal(host, 0, &ss) == 0) {
			/* An IP literal relay is checked against its IP. */
			mta_addr_string(&ss, ip, sizeof(ip));
			(void)tls_policy_add_name(pol, ip);
		} else
			(void)tls_policy_add_name(pol, host);
		break;
	case CFG_TLS_MAY:
	case CFG_TLS_DANE:
	case CFG_TLS_DANE_ONLY:
	default:
		tls_policy_init(pol, cfg->tls_opportunistic ||
		    level == CFG_TLS_MAY ? TLS_LEVEL_MAY : TLS_LEVEL_NONE);
		break;
	}
	(void)tls_policy_set_sni(pol, host);	/* refuses IP literals */
}

/* ---- pure DANE rules ---------------------------------------------------- */

enum mta_dane_start
mta_dane_candidates(enum res_security mx_security,
    const struct mta_route_host *h, char cand[][RES_NAME_MAX], size_t *n)
{
	struct sockaddr_storage ss;

	*n = 0;
	if (mx_security != RES_SECURE || h->name[0] == '\0' ||
	    mta_route_literal(h->name, 0, &ss) == 0)
		return MTA_DANE_INSECURE;
	if (h->addr_security == RES_SECURE) {
		if (h->alias && h->canonname[0] != '\0' &&
		    util_strcasecmp(h->canonname, h->name) != 0)
			snprintf(cand[(*n)++], RES_NAME_MAX, "%s", h->canonname);
		snprintf(cand[(*n)++], RES_NAME_MAX, "%s", h->name);
		return MTA_DANE_ASK;
	}
	if (h->addr_security == RES_INSECURE && h->alias) {
		snprintf(cand[(*n)++], RES_NAME_MAX, "%s", h->name);
		return MTA_DANE_CHECK_CNAME;
	}
	return MTA_DANE_INSECURE;
}

tls_dane *
mta_dane_rrset(const struct res_tlsa *t, size_t n, const char *base,
    const char *mxhost)
{
	tls_dane *d = tls_dane_new(base, mxhost);
	size_t i;

	for (i = 0; i < n; i++)
		(void)tls_dane_add(d, t[i].usage, t[i].selector, t[i].mtype,
		    t[i].data, t[i].len);
	return d;
}

enum tls_report_type
mta_report_type_for_verify(long e)
{
	switch (e) {
	case X509_V_ERR_HOSTNAME_MISMATCH:
		return TLS_REPORT_CERT_HOST_MISMATCH;
	case X509_V_ERR_CERT_HAS_EXPIRED:
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return TLS_REPORT_CERT_EXPIRED;
	case X509_V_ERR_DANE_NO_MATCH:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_CERT_UNTRUSTED:
		return TLS_REPORT_CERT_NOT_TRUSTED;
	}
	return TLS_REPORT_VALIDATION_FAILURE;
}

const char *
mta_dane_failure_phrase(long e)
{
	switch (e) {
	case X509_V_ERR_DANE_NO_MATCH:
		return "no matching TLSA";
	case X509_V_ERR_HOSTNAME_MISMATCH:
		return "certificate name mismatch";
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return "certificate expired";
	case X509_V_OK:
		return "handshake failed";
	}
	return "certificate not trusted";
}

/* ---- the session side ---------------------------------------------------- */

static const char *
mta_dane_qid(const struct mta_session *s)
{
	return s->job ? s->job->job->msg->qid : "-";
}

void
mta_dane_reset(struct mta_session *s)
{
	tls_dane_free(s->dane);
	s->dane = NULL;
	s->policy_hidx = (size_t)-1;
	s->dane_verdict[0] = '\0';
	s->dnssec_bogus = 0;
	s->dane_ncand = s->dane_icand = 0;
	s->tls_relaxed = 0;
}

void
mta_tls_field_reset(struct mta_session *s)
{
	mta_textf(s->tls, sizeof(s->tls), "none%s%s%s%s",
	    s->dane_verdict[0] ? " dane=" : "", s->dane_verdict,
	    s->dnssec_bogus ? " dnssec=bogus" : "",
	    s->no_tls_req ? " tls-required=no" : "");
}

int
mta_tls_relaxable(const struct mta_session *s)
{
	if (!s->no_tls_req || s->tls_entry != NULL)
		return 0;
	/* the levels under which only DNS can make TLS mandatory */
	return s->tls_want == CFG_TLS_DANE || s->tls_want == CFG_TLS_MAY ||
	    s->tls_want == CFG_TLS_NONE;
}

void
mta_tls_relax(struct mta_session *s, const char *why)
{
	const struct mta_route_entry *e = &s->route.e[s->route_pos];

	log_info("%s: TLS-Required: No (RFC 8689): %s; delivering to %s with "
	    "opportunistic TLS", mta_dane_qid(s), why, s->host);
	/* RFC 8689 5: policy set aside, TLS still used when offered */
	tls_policy_init(&s->policy, TLS_LEVEL_MAY);
	(void)tls_policy_set_sni(&s->policy, s->host);	/* the server may
							 * choose its key by it */
	snprintf(s->policy.dane_note, sizeof(s->policy.dane_note), "%s",
	    s->dane_verdict);
	/* the decision holds for the host's other addresses: no new DANE
	 * or MTA-STS step for it */
	s->policy_hidx = e->hidx;
	s->sts_hidx1 = e->hidx + 1;
	s->tls_relaxed = 1;
	mta_tls_field_reset(s);
	mta_sts_field(s);
}

void
mta_tls_report(struct mta_session *s, enum tls_report_type t, const char *why)
{
	struct tls_report_result r;
	const char *strs[TLS_REPORT_POLICY_STRINGS_MAX];
	size_t i, n = tls_dane_count(s->dane);
	char ip[64] = "";
	const struct mta_route_entry *e;

	/* RFC 8460 5.3, RFC 8689: TLS-Required: No mail (reports among it)
	 * is left out of reports */
	if (s->tls_reported || s->no_tls_req)
		return;
	s->tls_reported = 1;
	memset(&r, 0, sizeof(r));
	if (n > TLS_REPORT_POLICY_STRINGS_MAX)
		n = TLS_REPORT_POLICY_STRINGS_MAX;
	for (i = 0; i < n; i++)
		strs[i] = tls_dane_rr_string(s->dane, i);
	r.policy_domain = s->nexthop;
	r.policy_type = s->dane != NULL || t == TLS_REPORT_DNSSEC_INVALID ?
	    TLS_REPORT_POLICY_TLSA : TLS_REPORT_POLICY_NONE;
	r.policy_strings = strs;
	r.npolicy_strings = n;
	r.mx_host = s->host;
	if (s->connected && s->route_pos < s->route.n) {
		e = &s->route.e[s->route_pos];
		mta_addr_string(&e->addr, ip, sizeof(ip));
		r.receiving_ip = ip;
		r.sending_ip = s->local_ip[0] ? s->local_ip : NULL;
	}
	r.result = t;
	r.additional = why;
	tls_report_record(&r);
}

/* The host cannot be used under its policy: skip its other addresses. */
static void
mta_dane_fail_host(struct mta_session *s, const char *verdict,
    enum tls_report_type rt, const char *text)
{
	size_t hidx = s->route.e[s->route_pos].hidx;

	snprintf(s->dane_verdict, sizeof(s->dane_verdict), "%s", verdict);
	if (mta_tls_relaxable(s)) {
		mta_tls_relax(s, text);
		mta_set_state(s, MTA_ST_CONNECT);
		return;
	}
	mta_tls_field_reset(s);
	mta_tls_report(s, rt, text);
	while (s->route_pos + 1 < s->route.n &&
	    s->route.e[s->route_pos + 1].hidx == hidx)
		s->route_pos++;
	/* the policy stays undecided: a later host starts afresh */
	s->policy_hidx = (size_t)-1;
	mta_fail_host(s, 0, "4.7.5", text);
}

/* No DANE for this host: the fallback level, or failure for dane-only. */
static void
mta_dane_without(struct mta_session *s, const char *verdict)
{
	const struct mta_route_entry *e = &s->route.e[s->route_pos];
	char text[MTA_TEXT_MAX];

	if (s->tls_want == CFG_TLS_DANE_ONLY) {
		mta_textf(text, sizeof(text), "DANE is required for %s "
		    "(tls_policy dane-only), but it has no usable DNSSEC-signed "
		    "TLSA records: %s", s->host, verdict);
		mta_dane_fail_host(s, verdict, TLS_REPORT_DANE_REQUIRED, text);
		return;
	}
	mta_policy_static(s->th->cfg, s->tls_want, s->tls_entry, s->nexthop,
	    s->host, &s->policy);
	snprintf(s->dane_verdict, sizeof(s->dane_verdict), "%s", verdict);
	snprintf(s->policy.dane_note, sizeof(s->policy.dane_note), "%s",
	    verdict);
	s->policy_hidx = e->hidx;
	mta_set_state(s, MTA_ST_CONNECT);
}

/* A secure TLSA RRset for base: DANE, or mandatory TLS if none usable. */
static void
mta_dane_with(struct mta_session *s, tls_dane *d)
{
	const struct mta_route_entry *e = &s->route.e[s->route_pos];
	char text[MTA_TEXT_MAX];

	tls_dane_free(s->dane);
	s->dane = d;
	if (tls_dane_usable_count(d) == 0) {
		if (s->tls_want == CFG_TLS_DANE_ONLY) {
			mta_textf(text, sizeof(text), "DANE is required for %s "
			    "(tls_policy dane-only), but no TLSA record at "
			    "_%u._tcp.%s is usable", s->host,
			    (unsigned)mta_addr_port(&e->addr), tls_dane_base(d));
			mta_dane_fail_host(s, "unusable-tlsa",
			    TLS_REPORT_TLSA_INVALID, text);
			return;
		}
		/* RFC 7672 2.2: encrypt, but do not authenticate */
		tls_policy_init(&s->policy, TLS_LEVEL_ENCRYPT);
		snprintf(s->dane_verdict, sizeof(s->dane_verdict),
		    "unusable-tlsa");
	} else {
		/* the verdict comes with the handshake */
		tls_policy_init(&s->policy, TLS_LEVEL_DANE);
		s->policy.dane = d;
	}
	snprintf(s->policy.dane_note, sizeof(s->policy.dane_note), "%s",
	    s->policy.level == TLS_LEVEL_DANE ? "" : "unusable-tlsa");
	/* RFC 7672 8.1: SNI is the TLSA base domain */
	(void)tls_policy_set_sni(&s->policy, tls_dane_base(d));
	s->policy_hidx = e->hidx;
	log_info("%s: DANE for %s: %zu TLSA record(s) at _%u._tcp.%s, %zu "
	    "usable", mta_dane_qid(s), s->host, tls_dane_count(d),
	    (unsigned)mta_addr_port(&e->addr), tls_dane_base(d),
	    tls_dane_usable_count(d));
	mta_set_state(s, MTA_ST_CONNECT);
}

static void mta_dane_ask(struct mta_session *s);

static void
mta_dane_on_tlsa(void *arg, const struct res_answer *a)
{
	struct mta_session *s = arg;
	char text[MTA_TEXT_MAX];

	s->query = NULL;
	if (s->dead || s->job == NULL)
		return;
	if (a->security == RES_BOGUS) {
		s->dnssec_bogus = 1;
		mta_textf(text, sizeof(text), "TLSA lookup error for %s: "
		    "DNSSEC validation of %s failed (%s)", s->host, a->qname,
		    a->why_bogus);
		mta_dane_fail_host(s, "tlsa-lookup-failed",
		    TLS_REPORT_DNSSEC_INVALID, text);
		return;
	}
	if (a->rcode == RES_RETRY) {
		mta_textf(text, sizeof(text), "TLSA lookup error for %s: no "
		    "answer for %s (server failure or timeout)", s->host,
		    a->qname);
		mta_dane_fail_host(s, "tlsa-lookup-failed",
		    TLS_REPORT_DNSSEC_INVALID, text);
		return;
	}
	if (a->security == RES_SECURE &&
	    (a->rcode == RES_OK || a->rcode == RES_FAIL)) {
		/* RES_FAIL here: records present, none parseable - they
		 * are unusable, but the RRset exists and is secure */
		mta_dane_with(s, mta_dane_rrset(a->tlsa, a->rcode == RES_OK ?
		    a->n : 0, s->dane_cand[s->dane_icand], s->host));
		return;
	}
	/* No RRset here (or an insecure one, which counts as none):
	 * the next candidate base domain, if any. */
	if (++s->dane_icand < s->dane_ncand) {
		mta_dane_ask(s);
		return;
	}
	mta_dane_without(s, a->rcode == RES_NOTFOUND ? "none (no TLSA)" :
	    "none (insecure)");
}

static void
mta_dane_ask(struct mta_session *s)
{
	const struct mta_route_entry *e = &s->route.e[s->route_pos];
	char qname[RES_NAME_MAX + 16], text[MTA_TEXT_MAX];

	mta_textf(qname, sizeof(qname), "_%u._tcp.%s",
	    (unsigned)mta_addr_port(&e->addr), s->dane_cand[s->dane_icand]);
	s->query = res_lookup(s->th->res, qname, MTA_RR_TLSA,
	    mta_dane_on_tlsa, s);
	if (s->query == NULL) {
		mta_textf(text, sizeof(text), "TLSA lookup error for %s: "
		    "cannot look up %s", s->host, qname);
		mta_dane_fail_host(s, "tlsa-lookup-failed",
		    TLS_REPORT_DNSSEC_INVALID, text);
	}
}

static void
mta_dane_on_cname(void *arg, const struct res_answer *a)
{
	struct mta_session *s = arg;
	char text[MTA_TEXT_MAX];

	s->query = NULL;
	if (s->dead || s->job == NULL)
		return;
	if (a->security == RES_BOGUS || a->rcode == RES_RETRY) {
		s->dnssec_bogus = a->security == RES_BOGUS;
		mta_textf(text, sizeof(text), "TLSA lookup error for %s: "
		    "cannot validate its CNAME record%s%s", s->host,
		    a->security == RES_BOGUS ? ": " : " (server failure or "
		    "timeout)", a->security == RES_BOGUS ? a->why_bogus : "");
		mta_dane_fail_host(s, "tlsa-lookup-failed",
		    TLS_REPORT_DNSSEC_INVALID, text);
		return;
	}
	if (a->security == RES_SECURE && a->rcode == RES_OK) {
		/* RFC 7672 2.2.3: only the original name counts */
		mta_dane_ask(s);
		return;
	}
	mta_dane_without(s, "none (insecure)");
}

void
mta_dane_policy(struct mta_session *s)
{
	const struct mta_route_entry *e = &s->route.e[s->route_pos];
	const struct mta_route_host *h = &s->route.hosts[e->hidx];
	enum mta_dane_start start;

	tls_dane_free(s->dane);
	s->dane = NULL;
	s->dane_verdict[0] = '\0';
	s->dnssec_bogus = 0;
	s->dane_icand = 0;
	s->tls_relaxed = 0;
	if (s->tls_want != CFG_TLS_DANE && s->tls_want != CFG_TLS_DANE_ONLY) {
		mta_policy_static(s->th->cfg, s->tls_want, s->tls_entry,
		    s->nexthop, s->host, &s->policy);
		s->policy_hidx = e->hidx;
		mta_set_state(s, MTA_ST_CONNECT);
		return;
	}
	start = mta_dane_candidates(s->route.mx_security, h, s->dane_cand,
	    &s->dane_ncand);
	if (start == MTA_DANE_INSECURE || s->th->res == NULL) {
		mta_dane_without(s, "none (insecure)");
		return;
	}
	if (start == MTA_DANE_CHECK_CNAME) {
		s->query = res_lookup(s->th->res, h->name, MTA_RR_CNAME,
		    mta_dane_on_cname, s);
		if (s->query == NULL)
			mta_dane_without(s, "none (insecure)");
		return;
	}
	mta_dane_ask(s);
}
