/*
 * mta_sts.c - MTA-STS (RFC 8461) in the delivery agent: the policy of a
 * recipient domain, and what it means for each MX host.
 *
 * Where it sits: after the MX walk order is known and after DANE decided
 * the current host (mta_dane.c).  A host with usable TLSA records is
 * DANE's (RFC 8461 2); for any other host of a domain without a
 * tls_policy entry, mta_connect() sends the session through MTA_ST_STS
 * once per host, and mta_sts_policy() applies the domain's policy:
 *
 *  - enforce: a host not matching an mx pattern is skipped (when nothing
 *    else is left: defer 4.7.5 "no MX host matches the MTA-STS policy");
 *    a matching host gets level verify with the MX host name from the MX
 *    record as the only reference name, SAN dNSName only, one-label
 *    wildcards (tls_io.c), SNI = that name.  A failure defers that host
 *    with 4.7.5 and the walk goes on; never cleartext.
 *  - testing: the host's policy stays as it was (opportunistic), but the
 *    same checks run and failures are logged and recorded.
 *  - none, no TXT record, nothing valid cached: no policy.
 *
 * The domain's policy is looked up per destination (per domain and
 * delivery thread), so concurrent sessions of one domain share one
 * lookup: TXT _mta-sts.DOMAIN through our resolver, the cache on its own
 * thread (answers come back through the thread's util_chan), then the
 * fetch when the cache rules say so (sts_cache_decide: id changed or
 * nothing valid cached; a failed fetch keeps the cached policy; the
 * fetcher shares one transfer per domain).  Waiting sessions sit in
 * MTA_ST_STS and are found again through th->sessions, so a session that
 * ends while waiting leaves nothing dangling.
 *
 * Connection reuse: sessions are per destination, so two domains never
 * share one (their policies cannot leak).  Within a domain a session
 * remembers the generation of the outcome it was opened under; when the
 * outcome changes (another mode or id), or is older than
 * MTA_STS_REUSE_MS, the session takes no new job and a fresh session
 * looks the policy up again.
 *
 * Hosts outside an enforce policy's mx patterns leave the route before
 * the address limit applies (mta_route_drop_host), so many such hosts
 * ahead of a matching one do not keep mail from it.  Policies of mailed
 * domains are refreshed off the delivery path by mta_sts_refresh.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509_vfy.h>

#include "mta_int.h"

/* How long a destination's outcome may be reused by an open connection
 * before a new session must look again (TXT id, cache).  Short: a burst
 * shares connections, but a changed TXT id or MX set is seen within
 * seconds (the look itself is a cached TXT answer and one sqlite read). */
#define MTA_STS_REUSE_MS	(2u * 1000)
/* Policy lines handed to TLS-RPT (version, mode, max_age, mx ...). */
#define MTA_STS_LINES_MAX	TLS_REPORT_POLICY_STRINGS_MAX
#define MTA_STS_LINE_MAX	(STS_PATTERN_MAX + 16)

struct mta_sts_ticket;

struct mta_sts_dest {
	struct mta_dest   *d;
	char               domain[STS_DOMAIN_MAX];
	int                valid_domain;
	/* the outcome of the last lookup */
	unsigned           gen;		/* 0 = never looked up */
	uint64_t           looked_ms;
	enum tls_sts_mode  mode;
	char               id[STS_ID_MAX + 1];
	struct sts_policy *policy;	/* owned; NULL = no policy */
	/* the lookup in progress */
	int                busy;
	sts_txt_query     *txt;
	struct sts_txt_result txtres;
	struct mta_sts_ticket *ticket;	/* cache get outstanding */
	struct sts_cache_entry *cached;	/* owned, during the fetch */
	sts_fetch         *fetch;
};

/* Cache answers arrive on the channel even after the destination went
 * away: they find it through the ticket, which is orphaned then. */
struct mta_sts_ticket {
	struct mta_sts_dest *owner;
	struct mta_thread   *th;
};

static void mta_sts_apply(struct mta_session *s);

static const char *
mta_sts_qid(const struct mta_session *s)
{
	return s->job ? s->job->job->msg->qid : "-";
}

enum tls_report_type
mta_sts_fetch_report_type(enum sts_failure f)
{
	switch (f) {
	case STS_FAIL_WEBPKI:
		return TLS_REPORT_STS_WEBPKI_INVALID;
	case STS_FAIL_INVALID:
		return TLS_REPORT_STS_POLICY_INVALID;
	case STS_FAIL_FETCH:
	case STS_FAIL_NONE:
		break;
	}
	return TLS_REPORT_STS_POLICY_FETCH_ERROR;
}

/* ---- the policy as TLS-RPT policy strings (RFC 8460 4.4) ----------------- */

static size_t
mta_sts_lines(const struct sts_policy *p, char lines[][MTA_STS_LINE_MAX])
{
	size_t n = 0, i;

	if (p == NULL)
		return 0;
	snprintf(lines[n++], MTA_STS_LINE_MAX, "version: STSv1");
	snprintf(lines[n++], MTA_STS_LINE_MAX, "mode: %s",
	    sts_mode_name(p->mode));
	for (i = 0; i < p->nmx && n < MTA_STS_LINES_MAX - 1; i++)
		snprintf(lines[n++], MTA_STS_LINE_MAX, "mx: %s", p->mx[i]);
	snprintf(lines[n++], MTA_STS_LINE_MAX, "max_age: %u",
	    (unsigned)p->max_age);
	return n;
}

static void
mta_sts_record(const char *domain, const struct sts_policy *p,
    const char *mx, const char *ip, const char *local, enum tls_report_type t,
    const char *why)
{
	char lines[MTA_STS_LINES_MAX][MTA_STS_LINE_MAX];
	const char *strs[MTA_STS_LINES_MAX];
	struct tls_report_result r;
	size_t i, n = mta_sts_lines(p, lines);

	for (i = 0; i < n; i++)
		strs[i] = lines[i];
	memset(&r, 0, sizeof(r));
	r.policy_domain = domain;
	r.policy_type = TLS_REPORT_POLICY_STS;
	r.policy_strings = strs;
	r.npolicy_strings = n;
	r.mx_host = mx;
	r.receiving_ip = ip;
	r.sending_ip = local;
	r.result = t;
	r.additional = why;
	tls_report_record(&r);
}

/* Record this attempt's outcome once, with policy type sts. */
static void
mta_sts_report(struct mta_session *s, enum tls_report_type t, const char *why)
{
	const struct mta_sts_dest *ds = s->dest->sts;
	char ip[64];
	const char *ipp = NULL, *local = NULL;

	if (s->tls_reported || s->no_tls_req)	/* RFC 8689: not reported */
		return;
	s->tls_reported = 1;
	if (s->connected && s->route_pos < s->route.n) {
		mta_addr_string(&s->route.e[s->route_pos].addr, ip, sizeof(ip));
		ipp = ip;
		local = s->local_ip[0] ? s->local_ip : NULL;
	}
	mta_sts_record(s->nexthop, ds ? ds->policy : NULL, s->host, ipp, local,
	    t, why);
}

/* ---- the destination's lookup ------------------------------------------- */

static struct mta_sts_dest *
mta_sts_dest_get(struct mta_dest *d)
{
	struct mta_sts_dest *ds = d->sts;

	if (ds == NULL) {
		ds = xcalloc(1, sizeof(*ds));
		ds->d = d;
		ds->valid_domain = sts_domain_normalize(d->key, strlen(d->key),
		    ds->domain, sizeof(ds->domain)) == 0;
		d->sts = ds;
	}
	return ds;
}

static void
mta_sts_pending_done(struct mta_thread *th)
{
	UTIL_ASSERT(th->sts_pending > 0);
	th->sts_pending--;
	mta_thread_check_exit(th);
}

static void
mta_sts_cache_done(void *arg, int rc)
{
	struct mta_thread *th = arg;

	if (rc < 0)
		log_warn("mta: MTA-STS cache write failed (see above)");
	mta_sts_pending_done(th);
}

/* The outcome is known: keep it and let the waiting sessions go on.
 * policy is taken over (NULL = no policy). */
static void
mta_sts_finish(struct mta_sts_dest *ds, struct sts_policy *policy,
    const char *id, const char *how)
{
	struct mta_thread *th = ds->d->th;
	struct mta_session *s;
	enum tls_sts_mode mode = TLS_STS_NONE;
	unsigned long ids[64];
	size_t n, i;

	if (policy != NULL && policy->mode == STS_MODE_ENFORCE)
		mode = TLS_STS_ENFORCE;
	else if (policy != NULL && policy->mode == STS_MODE_TESTING)
		mode = TLS_STS_TESTING;
	if (ds->gen == 0 || mode != ds->mode ||
	    strcmp(id ? id : "", ds->id) != 0)
		ds->gen++;
	sts_policy_free(ds->policy);
	ds->policy = policy;
	ds->mode = mode;
	snprintf(ds->id, sizeof(ds->id), "%s", id ? id : "");
	ds->looked_ms = util_now_ms();
	ds->busy = 0;
	sts_cache_entry_free(ds->cached);
	ds->cached = NULL;
	log_info("mta: MTA-STS policy for %s: %s%s%s (%s)", ds->domain,
	    policy ? sts_mode_name(policy->mode) : "none",
	    ds->id[0] ? ", policy id " : "", ds->id, how);

	/* Resume the waiters.  Each may end or move on; look every one up
	 * again by id, since the list changes under us. */
	do {
		n = 0;
		for (s = th->sessions; s && n < sizeof(ids) / sizeof(ids[0]);
		    s = s->next)
			if (s->dest == ds->d && !s->dead &&
			    s->state == MTA_ST_STS)
				ids[n++] = s->id;
		for (i = 0; i < n; i++) {
			for (s = th->sessions; s; s = s->next)
				if (s->id == ids[i])
					break;
			if (s && !s->dead && s->state == MTA_ST_STS &&
			    !ds->busy)
				mta_sts_apply(s);
		}
	} while (n == sizeof(ids) / sizeof(ids[0]) && !ds->busy);
}

/* Fall back to the cached policy if it is still in force, else none. */
static void
mta_sts_use_cached_or_none(struct mta_sts_dest *ds, const char *how)
{
	struct sts_cache_entry *e = ds->cached;
	struct sts_policy *p;
	char id[STS_ID_MAX + 1];

	if (e != NULL && sts_cache_entry_valid(e, util_wall_time()) &&
	    e->policy != NULL) {
		p = e->policy;
		e->policy = NULL;
		snprintf(id, sizeof(id), "%s", e->id);
		mta_sts_finish(ds, p, id, how);
		return;
	}
	mta_sts_finish(ds, NULL, NULL, how);
}

static void
mta_sts_on_fetch(void *arg, const struct sts_fetch_result *r)
{
	struct mta_sts_dest *ds = arg;
	struct mta_thread *th = ds->d->th;
	struct sts_policy *p = NULL;
	char why[STS_REASON_MAX], how[STS_REASON_MAX + 32];

	ds->fetch = NULL;
	if (r->failure == STS_FAIL_NONE && sts_policy_parse(r->body,
	    r->body_len, &p, why, sizeof(why)) == 0) {
		if (th->sts_cache != NULL) {
			th->sts_pending++;
			sts_cache_put(th->sts_cache, th->chan, ds->domain,
			    ds->txtres.id, r->body, r->body_len,
			    util_wall_time(), mta_sts_cache_done, th);
			/* a delivery wants it: mailed, so refreshed (5.1) */
			th->sts_pending++;
			sts_cache_touch(th->sts_cache, th->chan, ds->domain,
			    util_wall_time(), mta_sts_cache_done, th);
		}
		mta_sts_finish(ds, p, ds->txtres.id, "fetched");
		return;
	}
	/* RFC 8460 4.3.2.3: the fetch failure is a reportable outcome. */
	log_warn("mta: MTA-STS policy fetch for %s failed (%s): %s",
	    ds->domain, sts_failure_name(r->failure), r->reason);
	mta_sts_record(ds->domain, ds->cached ? ds->cached->policy : NULL,
	    NULL, NULL, NULL, mta_sts_fetch_report_type(r->failure),
	    r->reason);
	if (ds->cached != NULL && th->sts_cache != NULL) {
		th->sts_pending++;
		sts_cache_note_failure(th->sts_cache, th->chan, ds->domain,
		    util_wall_time(), r->reason, mta_sts_cache_done, th);
	}
	mta_textf(how, sizeof(how), "fetch failed: %s", r->reason);
	mta_sts_use_cached_or_none(ds, how);
}

/* What the cache holds is known (e may be NULL): decide. */
static void
mta_sts_decide(struct mta_sts_dest *ds, struct sts_cache_entry *e)
{
	struct mta_thread *th = ds->d->th;

	ds->cached = e;
	switch (sts_cache_decide(e, ds->txtres.status, ds->txtres.id,
	    util_wall_time())) {
	case STS_CACHE_USE_CACHED:
		mta_sts_use_cached_or_none(ds, "cached");
		return;
	case STS_CACHE_NO_POLICY:
		mta_sts_finish(ds, NULL, NULL, ds->txtres.status ==
		    STS_TXT_RETRY ? "TXT lookup failed, nothing cached" :
		    "no TXT record");
		return;
	case STS_CACHE_FETCH:
		break;
	}
	if (th->sts_fetcher == NULL ||
	    (ds->fetch = sts_fetch_start(th->sts_fetcher, ds->domain,
	    mta_sts_on_fetch, ds)) == NULL)
		mta_sts_use_cached_or_none(ds, "cannot fetch");
}

static void
mta_sts_on_cache(void *arg, int rc, struct sts_cache_entry *e)
{
	struct mta_sts_ticket *t = arg;
	struct mta_sts_dest *ds = t->owner;
	struct mta_thread *th = t->th;

	free(t);
	if (ds == NULL) {
		sts_cache_entry_free(e);
	} else {
		ds->ticket = NULL;
		if (rc < 0)
			log_warn("mta: MTA-STS cache lookup for %s failed",
			    ds->domain);
		/* rc 0: e is the entry, or NULL when nothing is cached */
		if (rc < 0) {
			sts_cache_entry_free(e);
			e = NULL;
		}
		mta_sts_decide(ds, e);
	}
	mta_sts_pending_done(th);
}

static void
mta_sts_on_txt(void *arg, const struct sts_txt_result *r)
{
	struct mta_sts_dest *ds = arg;
	struct mta_thread *th = ds->d->th;
	struct mta_sts_ticket *t;

	ds->txt = NULL;
	ds->txtres = *r;
	if (th->sts_cache == NULL) {
		mta_sts_decide(ds, NULL);
		return;
	}
	t = xcalloc(1, sizeof(*t));
	t->owner = ds;
	t->th = th;
	ds->ticket = t;
	th->sts_pending++;
	/* touching marks the domain as mailed (proactive refresh, 5.1) */
	sts_cache_get(th->sts_cache, th->chan, ds->domain, util_wall_time(),
	    mta_sts_on_cache, t);
}

static void
mta_sts_lookup(struct mta_sts_dest *ds)
{
	struct mta_thread *th = ds->d->th;

	ds->busy = 1;
	if (!ds->valid_domain || th->res == NULL ||
	    (ds->txt = sts_txt_lookup(th->res, ds->domain, mta_sts_on_txt,
	    ds)) == NULL)
		mta_sts_finish(ds, NULL, NULL, "not a domain name");
}

void
mta_sts_dest_free(struct mta_dest *d)
{
	struct mta_sts_dest *ds = d->sts;

	if (ds == NULL)
		return;
	if (ds->txt)
		sts_txt_cancel(ds->txt);
	if (ds->fetch)
		sts_fetch_cancel(ds->fetch);
	if (ds->ticket)
		ds->ticket->owner = NULL;
	sts_cache_entry_free(ds->cached);
	sts_policy_free(ds->policy);
	free(ds);
	d->sts = NULL;
}

/* ---- the session side --------------------------------------------------- */

int
mta_sts_wanted(const struct mta_session *s)
{
	if (!s->th->cfg->mta_sts || s->dest->relay || s->tls_entry != NULL)
		return 0;
	if (s->tls_want != CFG_TLS_DANE && s->tls_want != CFG_TLS_MAY &&
	    s->tls_want != CFG_TLS_NONE)
		return 0;
	/* RFC 8461 2: usable TLSA records - DANE decides this host */
	return s->policy.level != TLS_LEVEL_DANE;
}

void
mta_sts_policy(struct mta_session *s)
{
	struct mta_sts_dest *ds = mta_sts_dest_get(s->dest);

	/* A session looks once; its later hosts use what it found. */
	if (s->sts_gen != 0 && ds->gen != 0 && !ds->busy) {
		mta_sts_apply(s);
		return;
	}
	if (ds->busy)
		return;		/* mta_sts_finish() resumes us */
	mta_sts_lookup(ds);	/* may finish (and resume us) at once */
}

/* Enforce: this host is not in the policy.  It is no candidate (RFC
 * 8461 4.1), so it leaves the walk without taking a place under
 * MTA_ADDRESS_LIMIT; the next host, or defer. */
static void
mta_sts_skip_host(struct mta_session *s)
{
	char text[MTA_TEXT_MAX];

	log_info("%s: MTA-STS policy for %s: skipping %s, it matches no mx "
	    "pattern", mta_sts_qid(s), s->nexthop, s->host);
	(void)mta_route_drop_host(&s->route, s->route_pos);
	s->policy_hidx = (size_t)-1;
	s->sts_hidx1 = 0;
	if (s->route_pos < s->route.n && !s->th->stopping) {
		mta_set_state(s, MTA_ST_CONNECT);
		return;
	}
	if (!s->last_connected)
		snprintf(s->relay, sizeof(s->relay), "none");
	if (s->last_text[0] != '\0') {
		/* matching hosts were tried and failed: their reason */
		s->last_dsn[0] = '4';
		mta_job_fail(s, MTA_DEFER, s->last_code, s->last_dsn,
		    s->last_text);
		return;
	}
	mta_textf(text, sizeof(text), "MTA-STS policy for %s: no MX host "
	    "matches the MTA-STS policy", s->nexthop);
	snprintf(s->sts_verdict, sizeof(s->sts_verdict),
	    "enforce failed (no matching MX)");
	mta_tls_field_reset(s);
	mta_sts_field(s);
	mta_sts_report(s, TLS_REPORT_VALIDATION_FAILURE, text);
	log_info("%s: %s", mta_sts_qid(s), text);
	mta_job_fail(s, MTA_DEFER, 0, "4.7.5", text);
}

static void
mta_sts_apply(struct mta_session *s)
{
	const struct mta_route_entry *e = &s->route.e[s->route_pos];
	struct mta_sts_dest *ds = s->dest->sts;
	struct tls_policy *pol = &s->policy;

	s->sts_hidx1 = e->hidx + 1;
	s->sts_gen = ds->gen;
	s->sts_verdict[0] = '\0';
	switch (ds->mode) {
	case TLS_STS_NONE:
		pol->sts = TLS_STS_NONE;
		snprintf(s->sts_verdict, sizeof(s->sts_verdict), "none");
		break;
	case TLS_STS_ENFORCE:
		if (!sts_policy_mx_match(ds->policy, s->host)) {
			if (mta_tls_relaxable(s)) {	/* RFC 8689 */
				snprintf(s->sts_verdict, sizeof(s->sts_verdict),
				    "enforce failed (no matching MX)");
				mta_tls_relax(s, "host matches no mx pattern of "
				    "the MTA-STS policy");
				mta_set_state(s, MTA_ST_CONNECT);
				return;
			}
			mta_sts_skip_host(s);
			return;
		}
		/* RFC 8461 4.1, 4.2: TLS mandatory, PKIX, the MX host
		 * name as in the MX record; SNI the same name.  The DANE
		 * verdict (none, unusable-tlsa) stays for the logs. */
		pol->level = TLS_LEVEL_VERIFY;
		pol->nnames = 0;
		(void)tls_policy_add_name(pol, s->host);
		(void)tls_policy_set_sni(pol, s->host);
		pol->sts = TLS_STS_ENFORCE;
		snprintf(pol->sts_id, sizeof(pol->sts_id), "%s", ds->id);
		break;
	case TLS_STS_TESTING:
		/* RFC 8461 5: deliver as without a policy, report */
		pol->sts = TLS_STS_TESTING;
		snprintf(pol->sts_id, sizeof(pol->sts_id), "%s", ds->id);
		if (pol->level >= TLS_LEVEL_MAY && pol->level !=
		    TLS_LEVEL_VERIFY) {
			pol->nnames = 0;
			(void)tls_policy_add_name(pol, s->host);
		}
		break;
	}
	mta_set_state(s, MTA_ST_CONNECT);
}

void
mta_sts_attempt_reset(struct mta_session *s)
{
	const struct mta_route_entry *e;

	if (s->plain_retry)
		return;		/* the verdict of the TLS attempt stays */
	s->sts_verdict[0] = '\0';
	if (s->route_pos >= s->route.n)
		return;
	e = &s->route.e[s->route_pos];
	if (s->sts_hidx1 == e->hidx + 1 && s->policy.sts == TLS_STS_NONE)
		snprintf(s->sts_verdict, sizeof(s->sts_verdict), "none");
}

void
mta_sts_field(struct mta_session *s)
{
	char rest[TLS_SUMMARY_MAX];
	char *sni;

	if (s->sts_verdict[0] == '\0')
		return;
	if ((sni = strstr(s->tls, " sni=")) != NULL) {
		snprintf(rest, sizeof(rest), "%s", sni);
		*sni = '\0';
		mta_textf(sni, sizeof(s->tls) - (size_t)(sni - s->tls),
		    " sts=%s%s", s->sts_verdict, rest);
		return;
	}
	mta_textf(s->tls + strlen(s->tls), sizeof(s->tls) - strlen(s->tls),
	    " sts=%s", s->sts_verdict);
}

static const char *
mta_sts_mode_word(const struct mta_session *s)
{
	return s->policy.sts == TLS_STS_ENFORCE ? "enforce" : "testing";
}

/* "certificate of mx1.example.net does not match" etc. */
static void
mta_sts_failure_text(const struct mta_session *s, enum tls_report_type t,
    const char *why, char *out, size_t outlen)
{
	const char *name = tls_report_type_name(t);

	switch (t) {
	case TLS_REPORT_CERT_HOST_MISMATCH:
		mta_textf(out, outlen, "MTA-STS policy for %s: certificate of "
		    "%s does not match (%s)", s->nexthop, s->host, name);
		break;
	case TLS_REPORT_CERT_EXPIRED:
		mta_textf(out, outlen, "MTA-STS policy for %s: certificate of "
		    "%s has expired or is not yet valid (%s)", s->nexthop,
		    s->host, name);
		break;
	case TLS_REPORT_CERT_NOT_TRUSTED:
		mta_textf(out, outlen, "MTA-STS policy for %s: certificate of "
		    "%s is not trusted (%s)", s->nexthop, s->host, name);
		break;
	case TLS_REPORT_STARTTLS_NOT_SUPPORTED:
		mta_textf(out, outlen, "MTA-STS policy for %s: %s does not "
		    "offer STARTTLS (%s)", s->nexthop, s->host, name);
		break;
	default:
		mta_textf(out, outlen, "MTA-STS policy for %s: TLS with %s "
		    "failed: %s (%s)", s->nexthop, s->host,
		    why && why[0] ? why : "handshake failed", name);
		break;
	}
}

int
mta_sts_tls_ok(struct mta_session *s)
{
	struct tls_peer_info info;
	enum tls_report_type t;
	char text[MTA_TEXT_MAX];

	if (s->policy.sts == TLS_STS_NONE) {
		mta_sts_field(s);	/* "sts=none" where consulted */
		return 0;
	}
	mta_conn_peer_info(s->conn, &info);
	if (s->policy.sts == TLS_STS_TESTING &&
	    info.verify_error != X509_V_OK) {
		t = mta_report_type_for_verify(info.verify_error);
		mta_textf(s->sts_verdict, sizeof(s->sts_verdict),
		    "testing failed (%s)", tls_report_type_name(t));
		mta_sts_failure_text(s, t, NULL, text, sizeof(text));
		log_warn("%s: %s; policy mode testing, delivering anyway",
		    mta_sts_qid(s), text);
		mta_sts_report(s, t, text);
	} else {
		mta_textf(s->sts_verdict, sizeof(s->sts_verdict),
		    "%s verified (policy id %s)", mta_sts_mode_word(s),
		    s->policy.sts_id);
		mta_sts_report(s, TLS_REPORT_SUCCESS, NULL);
	}
	mta_sts_field(s);
	return 1;
}

int
mta_sts_tls_failed(struct mta_session *s, long ve, const char *why,
    char *text, size_t textlen)
{
	enum tls_report_type t;
	char buf[MTA_TEXT_MAX];

	if (s->policy.sts == TLS_STS_NONE)
		return 0;
	t = ve != X509_V_OK ? mta_report_type_for_verify(ve) :
	    TLS_REPORT_VALIDATION_FAILURE;
	mta_textf(s->sts_verdict, sizeof(s->sts_verdict), "%s failed (%s)",
	    mta_sts_mode_word(s), tls_report_type_name(t));
	mta_sts_failure_text(s, t, why, buf, sizeof(buf));
	mta_sts_report(s, t, buf);
	if (s->policy.sts == TLS_STS_ENFORCE)
		snprintf(text, textlen, "%s", buf);
	return 1;
}

int
mta_sts_no_starttls(struct mta_session *s, char *text, size_t textlen)
{
	char buf[MTA_TEXT_MAX];

	if (s->policy.sts == TLS_STS_NONE)
		return 0;
	mta_textf(s->sts_verdict, sizeof(s->sts_verdict), "%s failed (%s)",
	    mta_sts_mode_word(s),
	    tls_report_type_name(TLS_REPORT_STARTTLS_NOT_SUPPORTED));
	mta_sts_failure_text(s, TLS_REPORT_STARTTLS_NOT_SUPPORTED, NULL, buf,
	    sizeof(buf));
	mta_sts_report(s, TLS_REPORT_STARTTLS_NOT_SUPPORTED, buf);
	if (s->policy.sts == TLS_STS_ENFORCE)
		snprintf(text, textlen, "%s", buf);
	return 1;
}

int
mta_sts_session_current(const struct mta_session *s)
{
	const struct mta_sts_dest *ds = s->dest->sts;

	if (s->sts_gen == 0)
		return 1;	/* no MTA-STS step: DANE or no policy asked */
	if (ds == NULL || ds->gen != s->sts_gen)
		return 0;
	return util_now_ms() - ds->looked_ms < MTA_STS_REUSE_MS;
}
