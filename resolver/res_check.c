/*
 * res_check.c - does DNSSEC validation actually work?
 *
 * DANE (RFC 7672) is only as good as the validator under it.  Two ways
 * it silently breaks in practice: a stale or wrong trust anchor (every
 * signed answer becomes bogus or insecure), and a path to the resolver
 * (a forwarder, a middlebox) that strips RRSIGs or drops DO-bit answers
 * (every signed zone then looks bogus, and mail to DANE domains waits
 * forever for no visible reason).  So at start-up, and in
 * `sealpostd --check-config`, we ask for the DNSKEY RRset of the trust
 * anchor's zone through a resolver built from the same configuration the
 * delivery agents use, and require a secure answer.
 *
 * The query runs on a private context, created and destroyed here,
 * before any agent thread exists; we wait for it with poll(2) on the
 * context's descriptor for at most RES_CHECK_WAIT_MS, because unbound's
 * own retries on an unreachable network take half a minute and a daemon
 * (or a trial on a laptop without network) should not hang that long.
 * A timeout or SERVFAIL proves nothing either way (the network may simply
 * not be up yet): the caller only warns about it.
 *
 * Trust anchor freshness: with resolver { trust_anchor_auto = yes }
 * res_ctx.c loads the file with ub_ctx_add_ta_autr(), so libunbound keeps
 * it current by RFC 5011 (the file must then be writable by run_user).
 * Debian's default /usr/share/dns/root.key is a static copy updated only
 * with the dns-root-data package; docs/dane.md recommends unbound-anchor
 * or the auto option.
 */
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unbound.h>

#include "res_int.h"
#include "util.h"

#define RES_TYPE_DNSKEY		48	/* RFC 4034 2 */
#define RES_CHECK_WAIT_MS 8000	/* a working resolver answers in far less */

struct check_wait {
	int done;
	int err;
	struct ub_result *u;
};

static void
check_answered(void *arg, int err, struct ub_result *u)
{
	struct check_wait *w = arg;

	w->done = 1;
	w->err = err;
	w->u = u;
}

/* ub_resolve with a deadline: 0 and *out, UB_* error, or 1 on timeout. */
static int
check_resolve(struct ub_ctx *ub, const char *zone, struct ub_result **out)
{
	struct check_wait w = { 0, 0, NULL };
	uint64_t deadline = util_now_ms() + RES_CHECK_WAIT_MS;
	int id, rc;

	rc = ub_resolve_async(ub, zone, RES_TYPE_DNSKEY, 1 /* IN */, &w,
	    check_answered, &id);
	if (rc != 0)
		return rc;
	while (!w.done) {
		struct pollfd pfd = { ub_fd(ub), POLLIN, 0 };
		uint64_t now = util_now_ms();

		if (now >= deadline) {
			(void)ub_cancel(ub, id);
			return 1;
		}
		if (poll(&pfd, 1, (int)(deadline - now)) > 0)
			(void)ub_process(ub);
	}
	*out = w.u;
	return w.err;
}
#include "util/util.h"

#define RES_CHECK_FILE_MAX	(64 * 1024)	/* anchor files are tiny */
#define RES_CHECK_LINE_MAX	4096

void
res_check_anchor_zone(const char *path, char *zone, size_t zonelen)
{
	char line[RES_CHECK_LINE_MAX], owner[RES_NAME_MAX];
	size_t total = 0;
	FILE *fp;

	snprintf(zone, zonelen, ".");
	if (path == NULL || path[0] == '\0' || (fp = fopen(path, "re")) == NULL)
		return;
	while (total < RES_CHECK_FILE_MAX && fgets(line, sizeof(line), fp)) {
		const char *p = line;
		size_t n = 0;

		total += strlen(line);
		if (line[0] == ' ' || line[0] == '\t')
			continue;	/* continuation or no owner */
		if (line[0] == ';' || line[0] == '$' || line[0] == '\n' ||
		    line[0] == '\r' || line[0] == '\0')
			continue;
		while (p[n] && p[n] != ' ' && p[n] != '\t' && p[n] != '\n' &&
		    p[n] != '\r' && n < sizeof(owner) - 1)
			n++;
		memcpy(owner, p, n);
		owner[n] = '\0';
		if (res_name_normalize(owner, zone, zonelen) < 0)
			snprintf(zone, zonelen, ".");
		break;
	}
	fclose(fp);
}

static const char *
res_check_zone_text(const char *zone, char *buf, size_t buflen)
{
	if (strcmp(zone, ".") == 0)
		return "root";
	snprintf(buf, buflen, "%s", zone);
	return buf;
}

enum res_check_result
res_check_dnssec(const struct cfg_resolver *cfg, char *msg, size_t msglen)
{
	uv_loop_t loop;
	res_ctx *r;
	struct ub_result *u = NULL;
	char err[512], zone[RES_NAME_MAX], ztext[RES_NAME_MAX];
	const char *zt;
	enum res_check_result rc;
	int ub;

	res_check_anchor_zone(cfg ? cfg->trust_anchor_file : NULL, zone,
	    sizeof(zone));
	zt = res_check_zone_text(zone, ztext, sizeof(ztext));
	if (uv_loop_init(&loop) != 0) {
		snprintf(msg, msglen, "DNSSEC check: cannot create a loop");
		return RES_CHECK_ERROR;
	}
	if ((r = res_create(&loop, cfg, err, sizeof(err))) == NULL) {
		snprintf(msg, msglen, "DNSSEC check: %s", err);
		(void)uv_loop_close(&loop);
		return RES_CHECK_ERROR;
	}
	ub = check_resolve(r->ub, zone, &u);
	if (ub == 1) {
		snprintf(msg, msglen, "DNSSEC validation could not be checked: "
		    "no answer for the %s DNSKEY within %d s (network down?)",
		    zt, RES_CHECK_WAIT_MS / 1000);
		rc = RES_CHECK_UNREACHABLE;
	} else if (ub != 0 || u == NULL) {
		snprintf(msg, msglen, "DNSSEC validation could not be checked: "
		    "%s DNSKEY lookup failed: %s", zt,
		    ub ? ub_strerror(ub) : "no result");
		rc = RES_CHECK_ERROR;
	} else if (u->bogus) {
		char why[256];

		util_printable(u->why_bogus ? u->why_bogus : "validation failed",
		    u->why_bogus ? strlen(u->why_bogus) : 17, why, sizeof(why));
		snprintf(msg, msglen, "DNSSEC validation is not working: %s "
		    "DNSKEY is bogus (%s) - check the trust anchor and that the "
		    "path to the resolver does not strip signatures", zt, why);
		rc = RES_CHECK_BOGUS;
	} else if (u->secure && u->havedata) {
		snprintf(msg, msglen, "DNSSEC validation works: %s DNSKEY is "
		    "secure", zt);
		rc = RES_CHECK_OK;
	} else if (u->rcode == 0 || u->rcode == 3) {
		snprintf(msg, msglen, "DNSSEC validation is not working: %s "
		    "DNSKEY is insecure (no trust anchor applies) - check "
		    "resolver trust_anchor_file", zt);
		rc = RES_CHECK_INSECURE;
	} else {
		snprintf(msg, msglen, "DNSSEC validation could not be checked: "
		    "%s DNSKEY lookup got rcode %d (server failure or timeout)",
		    zt, u->rcode);
		rc = RES_CHECK_UNREACHABLE;
	}
	if (u != NULL)
		ub_resolve_free(u);
	res_free(r);
	(void)uv_run(&loop, UV_RUN_DEFAULT);	/* close callbacks free r */
	(void)uv_loop_close(&loop);
	return rc;
}
