/*
 * mta_route.c - where to connect, in which order, and under which TLS
 * policy.
 *
 * RFC 5321 5.1: try the MX hosts by preference (the resolver already
 * sorted them and shuffled equal preferences), and each host's addresses
 * in turn.  Like Postfix's smtp_mx_address_limit we stop after
 * MTA_ADDRESS_LIMIT addresses in one attempt: a domain with dozens of
 * dead MX addresses must not hold a session for an hour.  Hosts a policy
 * rules out without connecting (MTA-STS enforce: not in the mx patterns)
 * do not count: mta_route_drop_host() takes them out of the walk and the
 * next addresses, kept in reserve up to MTA_ROUTE_MAX, move up.
 *
 * The TLS policy is decided here, before connecting, per host:
 *  - the relayhost with SASL credentials: verify (chain to the CA file
 *    and the relay's name), because a password must never go to a server
 *    we have not authenticated;
 *  - otherwise: may (opportunistic, RFC 7435) when tls_opportunistic is
 *    on, else none.
 * The SNI is always the MX or relay host name, never an IP literal.
 * mta_policy_for() is that baseline, without DNS and without the
 * tls_policy table; the policy actually used per MX host (the table,
 * DANE) is decided in mta_dane.c from what mta_route_build() records
 * here of each host: its CNAME expansion and DNSSEC status.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "mta_int.h"

void
mta_route_build(const struct res_mx_result *res, size_t limit,
    struct mta_route *out)
{
	size_t h, a;

	memset(out, 0, sizeof(*out));
	out->mx_security = res->mx_security;
	if (limit > MTA_ADDRESS_LIMIT)
		limit = MTA_ADDRESS_LIMIT;
	out->limit = limit;
	for (h = 0; h < res->nhosts && h < RES_MX_HOSTS_MAX; h++) {
		const struct res_mx_host *host = &res->hosts[h];

		if (host->rcode != RES_OK || host->naddr == 0) {
			/* Remember why, for when no host is usable at all. */
			if (host->rcode == RES_RETRY || host->rcode == RES_FAIL)
				out->retry = 1;
			snprintf(out->error, sizeof(out->error),
			    "%s: %s", host->name,
			    host->rcode == RES_NOTFOUND ?
			    "Host not found" : (host->rcode == RES_OK ?
			    "no address" : "address lookup failed, try again"));
			continue;
		}
		for (a = 0; a < host->naddr && a < RES_ADDRS_MAX; a++) {
			struct mta_route_host *rh;

			if (out->nall >= MTA_ROUTE_MAX)
				goto full;
			if (a == 0) {
				/* nhosts <= nall < MTA_ROUTE_MAX: room */
				rh = &out->hosts[out->nhosts++];
				snprintf(rh->name, sizeof(rh->name), "%s",
				    host->name);
				snprintf(rh->canonname, sizeof(rh->canonname),
				    "%s", host->canonname);
				rh->alias = host->alias;
				rh->addr_security = host->addr_security;
			}
			snprintf(out->e[out->nall].host, sizeof(out->e[0].host),
			    "%s", host->name);
			out->e[out->nall].addr = host->addr[a];
			out->e[out->nall].hidx = out->nhosts - 1;
			out->nall++;
		}
	}
full:
	out->n = out->nall < limit ? out->nall : limit;
}

size_t
mta_route_drop_host(struct mta_route *rt, size_t pos)
{
	size_t hidx, end;

	if (pos >= rt->nall)
		return 0;
	hidx = rt->e[pos].hidx;
	/* a host's entries are contiguous in walk order */
	for (end = pos; end < rt->nall && rt->e[end].hidx == hidx; end++)
		;
	memmove(&rt->e[pos], &rt->e[end], (rt->nall - end) * sizeof(rt->e[0]));
	rt->nall -= end - pos;
	rt->n = rt->nall < rt->limit ? rt->nall : rt->limit;
	return end - pos;
}

int
mta_route_literal(const char *host, uint16_t port,
    struct sockaddr_storage *out)
{
	char buf[RES_NAME_MAX];
	size_t len = strlen(host);
	const char *p = host;

	if (len >= sizeof(buf))
		return -1;
	if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
		p = host + 1;
		len -= 2;
	}
	if (len > 5 && util_strncasecmp(p, "ipv6:", 5) == 0) {
		p += 5;
		len -= 5;
	}
	memcpy(buf, p, len);
	buf[len] = '\0';
	memset(out, 0, sizeof(*out));
	{
		struct sockaddr_in *sin = (struct sockaddr_in *)out;
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;

		if (inet_pton(AF_INET, buf, &sin->sin_addr) == 1) {
			sin->sin_family = AF_INET;
			sin->sin_port = htons(port);
			return 0;
		}
		if (inet_pton(AF_INET6, buf, &sin6->sin6_addr) == 1) {
			sin6->sin6_family = AF_INET6;
			sin6->sin6_port = htons(port);
			return 0;
		}
	}
	return -1;
}

void
mta_policy_for(const struct sealpost_config *cfg, int relay,
    const char *host, struct tls_policy *pol)
{
	struct sockaddr_storage ss;
	char name[RES_NAME_MAX];
	size_t len = strlen(host);

	/* "[name]" means "no MX lookup", the name itself is what we check. */
	if (len >= 2 && len < sizeof(name) && host[0] == '[' &&
	    host[len - 1] == ']') {
		memcpy(name, host + 1, len - 2);
		name[len - 2] = '\0';
	} else
		snprintf(name, sizeof(name), "%s", host);

	if (relay && cfg->relay.sasl_username && cfg->relay.sasl_username[0]) {
		tls_policy_init(pol, TLS_LEVEL_VERIFY);
		if (mta_route_literal(name, 0, &ss) == 0) {
			/* An IP literal relay is checked against its IP. */
			mta_addr_string(&ss, name, sizeof(name));
		}
		(void)tls_policy_add_name(pol, name);
	} else
		tls_policy_init(pol, cfg->tls_opportunistic ? TLS_LEVEL_MAY :
		    TLS_LEVEL_NONE);
	(void)tls_policy_set_sni(pol, name);	/* refuses IP literals */
}

void
mta_addr_string(const struct sockaddr_storage *ss, char *out, size_t outlen)
{
	const void *a;

	if (ss->ss_family == AF_INET)
		a = &((const struct sockaddr_in *)ss)->sin_addr;
	else if (ss->ss_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
	else {
		snprintf(out, outlen, "?");
		return;
	}
	if (inet_ntop(ss->ss_family, a, out, (socklen_t)outlen) == NULL)
		snprintf(out, outlen, "?");
}

uint16_t
mta_addr_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return 0;
}
