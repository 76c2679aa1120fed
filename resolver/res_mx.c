/*
 * res_mx.c - RFC 5321 section 5 destination resolution.
 *
 * res_mx_lookup(): MX query first; NXDOMAIN ends it, NODATA gives the
 * implicit MX (the domain itself, preference 0), a null MX (RFC 7505)
 * ends it with null_mx set, otherwise res_mxsort.c orders the hosts.
 * Then A and AAAA for every host are asked at once, and the result is
 * delivered when the last of them answers.  res_host_lookup() starts at
 * the address step; an IP literal is answered without DNS through the
 * context's defer timer.
 *
 * The composite query is a struct res_query of kind RES_Q_MX whose
 * sub-lookups are ordinary raw queries carrying a pointer into our state.
 * Cancelling the composite cancels every sub-lookup first, so none of
 * their callbacks can reach the freed state.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "res_int.h"
#include "util/util.h"

#define RES_FAMILY_V4	0
#define RES_FAMILY_V6	1

struct res_mx_sub {
	struct res_query  *owner;	/* the composite query */
	int                family;
	struct res_query  *q;		/* outstanding raw lookup, or NULL */
	enum res_rcode     rcode;
	enum res_security  security;
	size_t             naddr;
	struct sockaddr_storage addr[RES_ADDRS_MAX];
	char               canonname[RES_NAME_MAX];
};

struct res_mxq {
	struct res_mx_result res;
	uint16_t           port;
	res_mx_cb          cb;
	void              *arg;
	struct res_query  *mxq;		/* the MX lookup while outstanding */
	size_t             pending;	/* sub-lookups outstanding */
	int                host_only;	/* res_host_lookup: no MX step */
	struct res_mx_sub  sub[RES_MX_HOSTS_MAX][2];
};

static const char *const family_name[2] = { "A", "AAAA" };

void
res_mx_destroy(struct res_query *q)
{
	struct res_mxq *m = q->mx;

	if (m == NULL)
		return;
	/* While the context closes, its close callback frees the raw
	 * queries itself and libunbound calls nobody back. */
	if (!q->ctx->closing) {
		res_cancel(m->mxq);
		for (size_t h = 0; h < RES_MX_HOSTS_MAX; h++)
			for (int f = 0; f < 2; f++)
				res_cancel(m->sub[h][f].q);
	}
	free(m);
	q->mx = NULL;
}

void
res_mx_deliver(struct res_query *q)
{
	struct res_mxq *m = q->mx;

	if (!q->cancelled && !q->ctx->closing) {
		q->in_cb = 1;
		m->cb(m->arg, &m->res);
		q->in_cb = 0;
	}
	res_query_unlink(q);
	res_mx_destroy(q);
	free(q);
}

static enum res_security
weakest(enum res_security a, enum res_security b)
{
	if (a == RES_BOGUS || b == RES_BOGUS)
		return RES_BOGUS;
	if (a == RES_INSECURE || b == RES_INSECURE)
		return RES_INSECURE;
	return RES_SECURE;
}

static void
set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

static int
sub_answered(const struct res_mx_sub *s)
{
	return s->rcode == RES_OK || s->rcode == RES_NOTFOUND ||
	    s->security == RES_BOGUS;
}

static enum res_security
addr_answer_security(const struct res_mx_sub *v4, const struct res_mx_sub *v6)
{
	if (sub_answered(v4) && sub_answered(v6))
		return weakest(v4->security, v6->security);
	if (sub_answered(v4))
		return v4->security;
	if (sub_answered(v6))
		return v6->security;
	return RES_INSECURE;
}

/* Fold one host's two lookups into its res_mx_host. */
static void
host_finish(struct res_mxq *m, size_t h)
{
	struct res_mx_host *host = &m->res.hosts[h];
	struct res_mx_sub *v4 = &m->sub[h][RES_FAMILY_V4];
	struct res_mx_sub *v6 = &m->sub[h][RES_FAMILY_V6];
	size_t i4 = 0, i6 = 0;

	/* Only answers count: a lookup that failed (timeout, SERVFAIL) says
	 * nothing about DNSSEC, and calling it "insecure" would let anyone
	 * who can drop AAAA queries switch DANE off (RFC 7672 2.2.2).  A
	 * bogus answer always counts. */
	host->addr_security = addr_answer_security(v4, v6);
	/* Alternate families so neither crowds out the other. */
	while (host->naddr < RES_ADDRS_MAX && (i4 < v4->naddr || i6 < v6->naddr)) {
		if (i6 < v6->naddr)
			host->addr[host->naddr++] = v6->addr[i6++];
		if (host->naddr < RES_ADDRS_MAX && i4 < v4->naddr)
			host->addr[host->naddr++] = v4->addr[i4++];
	}
	for (size_t i = 0; i < host->naddr; i++)
		set_port(&host->addr[i], m->port);
	if (host->naddr > 0)
		host->rcode = RES_OK;
	else if (v4->rcode == RES_RETRY || v6->rcode == RES_RETRY)
		host->rcode = RES_RETRY;
	else if (v4->rcode == RES_FAIL || v6->rcode == RES_FAIL)
		host->rcode = RES_FAIL;
	else
		host->rcode = RES_NOTFOUND;
	memcpy(host->canonname, v4->canonname[0] ? v4->canonname :
	    v6->canonname[0] ? v6->canonname : host->name,
	    sizeof(host->canonname));
	host->alias = strcmp(host->canonname, host->name) != 0;
}

static void
result_finish(struct res_mxq *m)
{
	struct res_mx_result *res = &m->res;
	int any_ok = 0, any_retry = 0, any_fail = 0;

	for (size_t h = 0; h < res->nhosts; h++) {
		host_finish(m, h);
		any_ok |= res->hosts[h].rcode == RES_OK;
		any_retry |= res->hosts[h].rcode == RES_RETRY;
		any_fail |= res->hosts[h].rcode == RES_FAIL;
	}
	if (m->host_only && res->nhosts == 1) {
		/* no MX RRset: the name itself stands in for it */
		res->mx_security = res->hosts[0].addr_security;
		memcpy(res->canon_domain, res->hosts[0].canonname,
		    sizeof(res->canon_domain));
	}
	if (any_ok)
		res->rcode = RES_OK;
	else if (any_retry) {
		res->rcode = RES_RETRY;
		snprintf(res->error, sizeof(res->error), "temporary failure "
		    "looking up the address of every %s host",
		    res->implicit ? "implicit MX" : "MX");
	} else if (any_fail) {
		res->rcode = RES_FAIL;
		snprintf(res->error, sizeof(res->error), "address lookups "
		    "failed (DNSSEC bogus or unusable data)");
	} else {
		res->rcode = RES_NOTFOUND;
		snprintf(res->error, sizeof(res->error), "%s",
		    res->implicit ? "no MX and no address for the domain" :
		    "no MX host has an address");
	}
}

static void
on_addr_answer(void *arg, const struct res_answer *a)
{
	struct res_mx_sub *s = arg;
	struct res_query *q = s->owner;
	struct res_mxq *m = q->mx;

	s->q = NULL;
	s->rcode = a->rcode;
	s->security = a->security;
	memcpy(s->canonname, a->canonname, sizeof(s->canonname));
	if (a->rcode == RES_OK)
		for (size_t i = 0; i < a->n && s->naddr < RES_ADDRS_MAX; i++)
			s->addr[s->naddr++] = a->addr[i];
	if (a->security == RES_BOGUS)
		log_warn("resolver: name=%s type=%s: DNSSEC bogus: %s",
		    a->qname, family_name[s->family], a->why_bogus);
	UTIL_ASSERT(m->pending > 0);
	if (--m->pending == 0) {
		result_finish(m);
		res_mx_deliver(q);
	}
}

/* Ask A and AAAA for every host; a query that cannot start counts as a
 * temporary failure.  Returns how many lookups are outstanding. */
static size_t
start_addr_lookups(struct res_query *q)
{
	struct res_mxq *m = q->mx;

	for (size_t h = 0; h < m->res.nhosts; h++) {
		for (int f = 0; f < 2; f++) {
			struct res_mx_sub *s = &m->sub[h][f];

			s->owner = q;
			s->family = f;
			s->rcode = RES_RETRY;
			s->security = RES_INSECURE;
			s->q = res_lookup(q->ctx, m->res.hosts[h].name,
			    f == RES_FAMILY_V4 ? RES_TYPE_A : RES_TYPE_AAAA,
			    on_addr_answer, s);
			if (s->q != NULL)
				m->pending++;
		}
	}
	return m->pending;
}

static void
set_single_host(struct res_mxq *m, const char *name)
{
	memcpy(m->res.hosts[0].name, name, sizeof(m->res.hosts[0].name));
	m->res.hosts[0].pref = 0;
	m->res.nhosts = 1;
}

static void
on_mx_answer(void *arg, const struct res_answer *a)
{
	struct res_query *q = arg;
	struct res_mxq *m = q->mx;
	struct res_mx_result *res = &m->res;
	struct res_mx_rec *recs, *ordered;
	size_t nordered = 0;

	m->mxq = NULL;
	res->mx_security = a->security;
	memcpy(res->canon_domain, a->canonname, sizeof(res->canon_domain));
	res->rcode = a->rcode;
	switch (a->rcode) {
	case RES_RETRY:
		snprintf(res->error, sizeof(res->error),
		    "temporary failure looking up MX");
		res_mx_deliver(q);
		return;
	case RES_FAIL:
		if (a->security == RES_BOGUS)
			snprintf(res->error, sizeof(res->error),
			    "MX RRset DNSSEC bogus: %.200s", a->why_bogus);
		else
			snprintf(res->error, sizeof(res->error),
			    "MX lookup failed: unusable answer");
		res_mx_deliver(q);
		return;
	case RES_NOTFOUND:
		if (a->nxdomain) {
			snprintf(res->error, sizeof(res->error),
			    "domain not found");
			res_mx_deliver(q);
			return;
		}
		/* RFC 5321 5.1: no MX RRs, the domain is its own host */
		res->implicit = 1;
		set_single_host(m, res->domain);
		break;
	case RES_OK:
		recs = xcalloc(a->n, sizeof(*recs));
		ordered = xcalloc(RES_MX_HOSTS_MAX, sizeof(*ordered));
		for (size_t i = 0; i < a->n; i++) {
			recs[i].pref = a->mx[i].pref;
			memcpy(recs[i].host, a->mx[i].host, sizeof(recs[i].host));
		}
		switch (res_mx_order(recs, a->n, q->ctx->rnd, q->ctx->rndarg,
		    ordered, RES_MX_HOSTS_MAX, &nordered)) {
		case RES_MX_ORDER_NULL_MX:
			res->null_mx = 1;
			res->rcode = RES_FAIL;
			snprintf(res->error, sizeof(res->error),
			    "domain accepts no mail (null MX, RFC 7505)");
			break;
		case RES_MX_ORDER_NONE:
			res->rcode = RES_FAIL;
			snprintf(res->error, sizeof(res->error),
			    "no usable MX host");
			break;
		case RES_MX_ORDER_HOSTS:
			for (size_t i = 0; i < nordered; i++) {
				memcpy(res->hosts[i].name, ordered[i].host,
				    sizeof(res->hosts[i].name));
				res->hosts[i].pref = ordered[i].pref;
			}
			res->nhosts = nordered;
			break;
		}
		free(recs);
		free(ordered);
		if (res->nhosts == 0) {
			res_mx_deliver(q);
			return;
		}
		break;
	}
	/* We run on the loop here, so finishing at once is allowed. */
	if (start_addr_lookups(q) == 0) {
		result_finish(m);
		res_mx_deliver(q);
	}
}

static struct res_query *
mx_query_new(res_ctx *r, const char *name, uint16_t port, res_mx_cb cb,
    void *arg)
{
	struct res_query *q;
	struct res_mxq *m;
	char norm[RES_NAME_MAX];

	if (r == NULL || r->closing || cb == NULL)
		return NULL;
	if (res_name_normalize(name, norm, sizeof(norm)) < 0 ||
	    strcmp(norm, ".") == 0) {
		char pr[80];

		log_warn("resolver: bad destination \"%s\"", util_printable(
		    name, name ? strlen(name) : 0, pr, sizeof(pr)));
		return NULL;
	}
	q = xcalloc(1, sizeof(*q));
	m = xcalloc(1, sizeof(*m));
	q->kind = RES_Q_MX;
	q->mx = m;
	m->port = port;
	m->cb = cb;
	m->arg = arg;
	m->res.rcode = RES_RETRY;
	memcpy(m->res.domain, norm, sizeof(m->res.domain));
	memcpy(m->res.canon_domain, norm, sizeof(m->res.canon_domain));
	res_query_link(r, q);
	return q;
}

static void
mx_query_abort(struct res_query *q)
{
	res_query_unlink(q);
	res_mx_destroy(q);
	free(q);
}

res_query *
res_mx_lookup(res_ctx *r, const char *domain, uint16_t port, res_mx_cb cb,
    void *arg)
{
	struct res_query *q = mx_query_new(r, domain, port, cb, arg);

	if (q == NULL)
		return NULL;
	q->mx->mxq = res_lookup(r, q->mx->res.domain, RES_TYPE_MX,
	    on_mx_answer, q);
	if (q->mx->mxq == NULL) {
		mx_query_abort(q);
		return NULL;
	}
	return q;
}

/* An IP literal as host: one address, no DNS, delivered by the timer. */
static int
host_literal(struct res_mxq *m, const char *host)
{
	char buf[64];
	size_t len = strlen(host);
	struct res_mx_host *h = &m->res.hosts[0];

	if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
		host++;
		len -= 2;
		if (len > 5 && util_strncasecmp(host, "ipv6:", 5) == 0) {
			host += 5;
			len -= 5;
		}
	}
	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, host, len);
	buf[len] = '\0';
	memset(&h->addr[0], 0, sizeof(h->addr[0]));
	if (inet_pton(AF_INET, buf, &((struct sockaddr_in *)
	    &h->addr[0])->sin_addr) == 1)
		h->addr[0].ss_family = AF_INET;
	else if (inet_pton(AF_INET6, buf, &((struct sockaddr_in6 *)
	    &h->addr[0])->sin6_addr) == 1)
		h->addr[0].ss_family = AF_INET6;
	else
		return -1;
	set_port(&h->addr[0], m->port);
	h->naddr = 1;
	h->rcode = RES_OK;
	h->addr_security = RES_INSECURE;
	memcpy(h->canonname, h->name, sizeof(h->canonname));
	m->res.rcode = RES_OK;
	m->res.mx_security = RES_INSECURE;
	return 0;
}

res_query *
res_host_lookup(res_ctx *r, const char *host, uint16_t port, res_mx_cb cb,
    void *arg)
{
	struct res_query *q;

	if (host != NULL && res_is_ip_literal(host)) {
		if ((q = mx_query_new(r, host, port, cb, arg)) == NULL)
			return NULL;
		set_single_host(q->mx, q->mx->res.domain);
		if (host_literal(q->mx, host) < 0) {
			mx_query_abort(q);
			return NULL;
		}
		res_query_defer(q);
		return q;
	}
	if ((q = mx_query_new(r, host, port, cb, arg)) == NULL)
		return NULL;
	/* No MX step: the host is the only destination, security of the
	 * "MX" is that of the name itself, known after the lookups. */
	set_single_host(q->mx, q->mx->res.domain);
	q->mx->host_only = 1;
	if (start_addr_lookups(q) == 0) {
		mx_query_abort(q);
		return NULL;
	}
	return q;
}
