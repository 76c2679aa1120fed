/*
 * resprobe.c - run one query through the resolver module and print it.
 *
 *   resprobe [-c sealpost.conf] [-o "unbound-option: value"]...
 *            [-f forwarder]... [-a trust-anchor-file] [-A] [-p port]
 *            [-t seconds] [-x] NAME TYPE
 *
 * TYPE is a record type (A, AAAA, MX, TXT, TLSA, CNAME, upper case: one
 * res_lookup) or lower case "mx" (res_mx_lookup: RFC 5321 destination
 * resolution) or "host" (res_host_lookup).  Without -c no trust anchor
 * is configured unless -a gives one; -o/-f/-a add to what -c says.
 * -x starts the query, cancels it at once and starts it again, which
 * exercises the cancel path under ASan; -t (default 30 s) frees the
 * context with the query still in flight, which exercises the other.
 *
 * Output is one "key=value" line per item so the integration lab can
 * grep it.  Exit status: 0 OK, 1 NOTFOUND, 2 RETRY, 3 FAIL, 4 usage,
 * configuration error or timeout.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "resolver/resolver.h"
#include "util/util.h"

#define PROBE_ARGS_MAX	64	/* -o and -f each */

struct probe {
	res_ctx    *r;
	res_query  *q;
	uv_timer_t  timer;
	int         status;
	int         done;
};

static const struct { const char *name; int type; } probe_types[] = {
	{ "A", 1 }, { "AAAA", 28 }, { "MX", 15 }, { "TXT", 16 },
	{ "TLSA", 52 }, { "CNAME", 5 },
};

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: resprobe [-c conf] [-o \"opt: value\"]... "
	    "[-f forwarder]... [-a ta-file] [-A] [-p port] [-t sec] [-x] "
	    "NAME A|AAAA|MX|TXT|TLSA|CNAME|mx|host\n");
	exit(4);
}

static int
exit_status(enum res_rcode rc)
{
	switch (rc) {
	case RES_OK:		return 0;
	case RES_NOTFOUND:	return 1;
	case RES_RETRY:		return 2;
	case RES_FAIL:		return 3;
	}
	return 4;
}

static void
print_addr(const char *key, const struct sockaddr_storage *ss, int port)
{
	char buf[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, buf, sizeof(buf));
		if (port)
			printf("%s=%s:%u\n", key, buf, ntohs(s4->sin_port));
		else
			printf("%s=%s\n", key, buf);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, buf, sizeof(buf));
		if (port)
			printf("%s=[%s]:%u\n", key, buf, ntohs(s6->sin6_port));
		else
			printf("%s=%s\n", key, buf);
	}
}

static void
finish(struct probe *p, int status)
{
	p->status = status;
	p->done = 1;
	p->q = NULL;
	uv_timer_stop(&p->timer);
	uv_close((uv_handle_t *)&p->timer, NULL);
	/* from inside the callback on purpose: that path must be safe */
	res_free(p->r);
}

static void
on_answer(void *arg, const struct res_answer *a)
{
	struct probe *p = arg;
	char pr[512];

	printf("qname=%s\nrrtype=%d\nrcode=%s\nsecurity=%s\nnxdomain=%d\n"
	    "canonname=%s\n", a->qname, a->rrtype, res_rcode_name(a->rcode),
	    res_security_name(a->security), a->nxdomain, a->canonname);
	for (size_t i = 0; i < a->ncname; i++)
		printf("cname=%s\n", a->cname[i]);
	if (a->security == RES_BOGUS)
		printf("why_bogus=%s\n", a->why_bogus);
	printf("n=%zu\n", a->n);
	for (size_t i = 0; i < a->n; i++) {
		if (a->addr != NULL)
			print_addr("addr", &a->addr[i], 0);
		else if (a->mx != NULL)
			printf("mx=%u %s\n", a->mx[i].pref, a->mx[i].host);
		else if (a->txt != NULL)
			printf("txt=%s\n", util_printable(a->txt[i],
			    strlen(a->txt[i]), pr, sizeof(pr)));
		else if (a->tlsa != NULL) {
			const struct res_tlsa *t = &a->tlsa[i];

			printf("tlsa=%u %u %u ", t->usage, t->selector, t->mtype);
			for (size_t k = 0; k < t->len; k++)
				printf("%02x", t->data[k]);
			printf("\n");
		}
	}
	finish(p, exit_status(a->rcode));
}

static void
on_mx(void *arg, const struct res_mx_result *m)
{
	struct probe *p = arg;

	printf("domain=%s\ncanon_domain=%s\nrcode=%s\nmx_security=%s\n"
	    "null_mx=%d\nimplicit=%d\nnhosts=%zu\n", m->domain,
	    m->canon_domain, res_rcode_name(m->rcode),
	    res_security_name(m->mx_security), m->null_mx, m->implicit,
	    m->nhosts);
	if (m->error[0] != '\0')
		printf("error=%s\n", m->error);
	for (size_t i = 0; i < m->nhosts; i++) {
		const struct res_mx_host *h = &m->hosts[i];

		printf("host=%s pref=%u rcode=%s security=%s canonname=%s "
		    "naddr=%zu\n", h->name, h->pref, res_rcode_name(h->rcode),
		    res_security_name(h->addr_security), h->canonname,
		    h->naddr);
		for (size_t k = 0; k < h->naddr; k++)
			print_addr("  addr", &h->addr[k], 1);
	}
	finish(p, exit_status(m->rcode));
}

static void
on_timeout(uv_timer_t *t)
{
	struct probe *p = t->data;

	printf("timeout=1\n");
	/* no res_cancel: res_free must cope with queries in flight */
	finish(p, 4);
}

static res_query *
start(struct probe *p, const char *name, const char *type, uint16_t port)
{
	if (strcmp(type, "mx") == 0)
		return res_mx_lookup(p->r, name, port, on_mx, p);
	if (strcmp(type, "host") == 0)
		return res_host_lookup(p->r, name, port, on_mx, p);
	for (size_t i = 0; i < sizeof(probe_types) / sizeof(probe_types[0]);
	    i++)
		if (strcmp(type, probe_types[i].name) == 0)
			return res_lookup(p->r, name, probe_types[i].type,
			    on_answer, p);
	usage();
}

int
main(int argc, char **argv)
{
	struct sealpost_config *cfg = NULL;
	struct cfg_resolver rc;
	char *opts[PROBE_ARGS_MAX * 2], *fwds[PROBE_ARGS_MAX * 2];
	size_t nopts = 0, nfwds = 0;
	const char *cfgpath = NULL, *ta = NULL;
	uint64_t port = 25, timeout = 30;
	int ta_auto = 0, cancel_first = 0, ch;
	char err[512];
	struct probe p = { .status = 4 };
	uv_loop_t *loop = uv_default_loop();

	while ((ch = getopt(argc, argv, "c:o:f:a:Ap:t:x")) != -1) {
		switch (ch) {
		case 'c': cfgpath = optarg; break;
		case 'o':
			if (nopts >= PROBE_ARGS_MAX)
				usage();
			opts[nopts++] = optarg;
			break;
		case 'f':
			if (nfwds >= PROBE_ARGS_MAX)
				usage();
			fwds[nfwds++] = optarg;
			break;
		case 'a': ta = optarg; break;
		case 'A': ta_auto = 1; break;
		case 'p':
			if (util_parse_uint(optarg, strlen(optarg), 65535,
			    &port) < 0)
				usage();
			break;
		case 't':
			if (util_parse_uint(optarg, strlen(optarg), 3600,
			    &timeout) < 0 || timeout == 0)
				usage();
			break;
		case 'x': cancel_first = 1; break;
		default: usage();
		}
	}
	if (argc - optind != 2)
		usage();

	memset(&rc, 0, sizeof(rc));
	if (cfgpath != NULL) {
		if ((cfg = cfg_load(cfgpath, err, sizeof(err))) == NULL) {
			fprintf(stderr, "resprobe: %s\n", err);
			return 4;
		}
		rc = cfg->resolver;
		/* configuration entries first, command line after */
		for (size_t i = 0; i < cfg->resolver.nunbound_options &&
		    nopts < PROBE_ARGS_MAX * 2; i++) {
			memmove(opts + 1, opts, nopts * sizeof(*opts));
			opts[0] = cfg->resolver.unbound_options[
			    cfg->resolver.nunbound_options - 1 - i];
			nopts++;
		}
		for (size_t i = 0; i < cfg->resolver.nforwarders &&
		    nfwds < PROBE_ARGS_MAX * 2; i++) {
			memmove(fwds + 1, fwds, nfwds * sizeof(*fwds));
			fwds[0] = cfg->resolver.forwarders[
			    cfg->resolver.nforwarders - 1 - i];
			nfwds++;
		}
	}
	rc.unbound_options = opts;
	rc.nunbound_options = nopts;
	rc.forwarders = fwds;
	rc.nforwarders = nfwds;
	if (ta != NULL)
		rc.trust_anchor_file = (char *)ta;
	if (ta_auto)
		rc.trust_anchor_auto = 1;

	if ((p.r = res_create(loop, &rc, err, sizeof(err))) == NULL) {
		fprintf(stderr, "resprobe: %s\n", err);
		uv_run(loop, UV_RUN_DEFAULT);	/* let handles close */
		cfg_free(cfg);
		return 4;
	}
	uv_timer_init(loop, &p.timer);
	p.timer.data = &p;
	if (cancel_first) {
		res_query *q = start(&p, argv[optind], argv[optind + 1],
		    (uint16_t)port);

		res_cancel(q);
	}
	if ((p.q = start(&p, argv[optind], argv[optind + 1],
	    (uint16_t)port)) == NULL) {
		fprintf(stderr, "resprobe: cannot start the query\n");
		uv_close((uv_handle_t *)&p.timer, NULL);
		res_free(p.r);
		uv_run(loop, UV_RUN_DEFAULT);
		cfg_free(cfg);
		return 4;
	}
	uv_timer_start(&p.timer, on_timeout, timeout * 1000, 0);
	uv_run(loop, UV_RUN_DEFAULT);
	uv_loop_close(loop);
	cfg_free(cfg);
	return p.status;
}
