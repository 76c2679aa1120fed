/*
 * stsfetch.c - fetch one MTA-STS policy through tls/sts_fetch.c on a
 * libuv loop and print the result, for the lab and the smoke script.
 *
 *   stsfetch [-c sealpost.conf] [--resolve HOST:PORT:ADDR]
 *            [--connect-to HOST:PORT:CHOST:CPORT] [-t seconds]
 *            [-p port] [-n requests] [-x] [--txt] DOMAIN
 *
 * -c gives tls_ca_file, sts_fetch_timeout and the resolver; without
 * --resolve/--connect-to the policy host is resolved by our resolver
 * (A and AAAA).  -p fetches from that port instead of 443 (the URL
 * names it; resolution, SNI and the name check are unchanged).
 * -t overrides the timeout.  -n starts that many requests
 * for DOMAIN at once: they must share one fetch (running=1) and all get
 * the same answer.  -x cancels every request but the last one at once.
 * --txt looks up _mta-sts.DOMAIN first and prints what it says.
 *
 * Output, one key=value per line: txt=, txt_id=, running=, then per
 * callback result=ok|<failure class>, http_status=, reason=, mode=,
 * max_age=, mx=, mx_ignored=.  Exit: 0 policy fetched and valid,
 * 1 sts-policy-fetch-error, 2 sts-webpki-invalid, 3 sts-policy-invalid,
 * 4 usage or setup error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "resolver/resolver.h"
#include "tls/sts.h"
#include "util/util.h"

#define STSFETCH_REQ_MAX 16

struct tool {
	uv_loop_t   *loop;
	res_ctx     *res;
	sts_fetcher *f;
	const char  *domain;
	int          nreq, cancel_others, outstanding, status;
	size_t       running_max;
};

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: stsfetch [-c conf] [--resolve H:P:ADDR] "
	    "[--connect-to H:P:CH:CP] [-p port] [-t sec] [-n N] [-x] [--txt] "
	    "DOMAIN\n");
	exit(4);
}

static void
fetched(void *arg, const struct sts_fetch_result *r)
{
	struct tool *t = arg;
	char shown[STS_REASON_MAX];
	size_t i;

	util_printable(r->reason, strlen(r->reason), shown, sizeof(shown));
	printf("result=%s\n", r->failure == STS_FAIL_NONE ? "ok" :
	    sts_failure_name(r->failure));
	printf("http_status=%ld\n", r->http_status);
	if (r->failure != STS_FAIL_NONE)
		printf("reason=%s\n", shown);
	if (r->policy != NULL) {
		printf("mode=%s\n", sts_mode_name(r->policy->mode));
		printf("max_age=%u\n", r->policy->max_age);
		for (i = 0; i < r->policy->nmx; i++)
			printf("mx=%s\n", r->policy->mx[i]);
		printf("mx_ignored=%zu\n", r->policy->nmx_ignored);
	}
	printf("body_len=%zu\n", r->body_len);
	switch (r->failure) {
	case STS_FAIL_NONE:    t->status = 0; break;
	case STS_FAIL_FETCH:   t->status = 1; break;
	case STS_FAIL_WEBPKI:  t->status = 2; break;
	case STS_FAIL_INVALID: t->status = 3; break;
	}
	if (--t->outstanding == 0) {
		sts_fetcher_free(t->f);
		t->f = NULL;
		if (t->res) {
			res_free(t->res);
			t->res = NULL;
		}
	}
}

static void
start_fetches(struct tool *t)
{
	sts_fetch *h[STSFETCH_REQ_MAX];
	int i;

	for (i = 0; i < t->nreq; i++) {
		h[i] = sts_fetch_start(t->f, t->domain, fetched, t);
		if (h[i] == NULL) {
			fprintf(stderr, "stsfetch: invalid domain\n");
			exit(4);
		}
		t->outstanding++;
		if (sts_fetcher_running(t->f) > t->running_max)
			t->running_max = sts_fetcher_running(t->f);
	}
	printf("running=%zu\n", t->running_max);
	if (t->cancel_others)
		for (i = 0; i + 1 < t->nreq; i++) {
			sts_fetch_cancel(h[i]);
			t->outstanding--;
		}
	fflush(stdout);
}

static void
txt_done(void *arg, const struct sts_txt_result *r)
{
	struct tool *t = arg;

	printf("txt=%s\n", r->status == STS_TXT_FOUND ? "found" :
	    r->status == STS_TXT_NONE ? "none" : "retry");
	if (r->status == STS_TXT_FOUND)
		printf("txt_id=%s\n", r->id);
	else
		printf("txt_reason=%s\n", r->reason);
	start_fetches(t);
}

int
main(int argc, char **argv)
{
	struct sealpost_config *cfg;
	struct sts_fetch_opts opts;
	struct tool t;
	const char *conf = NULL;
	char err[512];
	unsigned timeout = 0;
	int i, txt = 0;
	uint64_t v;

	memset(&t, 0, sizeof(t));
	memset(&opts, 0, sizeof(opts));
	t.nreq = 1;
	t.status = 4;
	for (i = 1; i < argc - 1; i++) {
		if (strcmp(argv[i], "-c") == 0)
			conf = argv[++i];
		else if (strcmp(argv[i], "--resolve") == 0)
			opts.resolve = argv[++i];
		else if (strcmp(argv[i], "--connect-to") == 0)
			opts.connect_to = argv[++i];
		else if (strcmp(argv[i], "-t") == 0) {
			i++;
			if (util_parse_uint(argv[i], strlen(argv[i]), 3600,
			    &v) < 0 || v == 0)
				usage();
			timeout = (unsigned)v;
		} else if (strcmp(argv[i], "-n") == 0) {
			i++;
			if (util_parse_uint(argv[i], strlen(argv[i]),
			    STSFETCH_REQ_MAX, &v) < 0 || v == 0)
				usage();
			t.nreq = (int)v;
		} else if (strcmp(argv[i], "-p") == 0) {
			i++;
			if (util_parse_uint(argv[i], strlen(argv[i]), 65535,
			    &v) < 0 || v == 0)
				usage();
			opts.port = (uint16_t)v;
		} else if (strcmp(argv[i], "-x") == 0)
			t.cancel_others = 1;
		else if (strcmp(argv[i], "--txt") == 0)
			txt = 1;
		else
			usage();
	}
	if (i != argc - 1)
		usage();
	t.domain = argv[argc - 1];
	cfg = conf ? cfg_load(conf, err, sizeof(err)) : cfg_defaults();
	if (cfg == NULL) {
		fprintf(stderr, "stsfetch: %s\n", err);
		return 4;
	}
	if (sts_init() < 0) {
		fprintf(stderr, "stsfetch: curl_global_init failed\n");
		return 4;
	}
	t.loop = uv_default_loop();
	opts.ca_file = cfg->tls_ca_file;
	opts.timeout_ms = 1000u * (timeout ? timeout : cfg->sts_fetch_timeout);
	if (txt || (opts.resolve == NULL && opts.connect_to == NULL)) {
		t.res = res_create(t.loop, &cfg->resolver, err, sizeof(err));
		if (t.res == NULL) {
			fprintf(stderr, "stsfetch: resolver: %s\n", err);
			return 4;
		}
	}
	t.f = sts_fetcher_create(t.loop, t.res, &opts, err, sizeof(err));
	if (t.f == NULL) {
		fprintf(stderr, "stsfetch: %s\n", err);
		return 4;
	}
	if (txt) {
		if (sts_txt_lookup(t.res, t.domain, txt_done, &t) == NULL) {
			fprintf(stderr, "stsfetch: invalid domain\n");
			return 4;
		}
	} else {
		start_fetches(&t);
	}
	uv_run(t.loop, UV_RUN_DEFAULT);
	uv_loop_close(t.loop);
	cfg_free(cfg);
	return t.status;
}
