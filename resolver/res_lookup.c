/*
 * res_lookup.c - single (name, type) queries and their answers.
 *
 * res_lookup() hands the question to libunbound with ub_resolve_async();
 * the answer arrives in on_ub_answer() from ub_process(), i.e. on the
 * owner loop, never inside res_lookup().  There the ub_result is turned
 * into a struct res_answer: outcome (OK / NOTFOUND / RETRY / FAIL),
 * DNSSEC status, canonical name and CNAME chain (read from the answer
 * packet, since ub_result only has the end of the chain) and the typed
 * records, each parsed by the bounded parsers in res_wire.c.
 *
 * A cancelled query is first withdrawn with ub_cancel(); when libunbound
 * could not withdraw it, the struct stays as a tombstone that the
 * callback recognises and frees, so no callback ever touches freed memory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unbound.h>

#include "res_int.h"
#include "util/util.h"

#define RES_RCODE_NOERROR	0	/* RFC 1035 4.1.1 */
#define RES_RCODE_NXDOMAIN	3

void
res_raw_cancel(struct res_query *q)
{
	if (!q->ub_pending)
		return;
	if (ub_cancel(q->ctx->ub, q->async_id) == 0)
		q->ub_pending = 0;
}

static int
type_supported(int rrtype)
{
	switch (rrtype) {
	case RES_TYPE_A: case RES_TYPE_AAAA: case RES_TYPE_MX:
	case RES_TYPE_TXT: case RES_TYPE_TLSA: case RES_TYPE_CNAME:
		return 1;
	}
	return 0;
}

/* Outcome and DNSSEC status of a finished lookup. */
static void
answer_status(int err, const struct ub_result *u, struct res_answer *a)
{
	a->security = RES_INSECURE;
	if (err != 0 || u == NULL) {
		/* UB_SYNTAX is our question's fault; anything else (memory,
		 * sockets, bad anchors) is local trouble to retry later */
		a->rcode = err == UB_SYNTAX ? RES_FAIL : RES_RETRY;
		log_warn("resolver: name=%s type=%d: %s", a->qname, a->rrtype,
		    err ? ub_strerror(err) : "no result");
		return;
	}
	if (u->bogus) {
		const char *why = u->why_bogus ? u->why_bogus :
		    "validation failed";

		/* the reason quotes DNS data: keep it printable */
		a->security = RES_BOGUS;
		a->rcode = RES_FAIL;
		util_printable(why, strlen(why), a->why_bogus,
		    sizeof(a->why_bogus));
		return;
	}
	if (u->secure)
		a->security = RES_SECURE;
	if (u->rcode == RES_RCODE_NOERROR)
		a->rcode = u->havedata ? RES_OK : RES_NOTFOUND;
	else if (u->rcode == RES_RCODE_NXDOMAIN || u->nxdomain) {
		a->rcode = RES_NOTFOUND;
		a->nxdomain = 1;
	} else
		a->rcode = RES_RETRY;	/* SERVFAIL, REFUSED, ...: not a "no" */
}

/* Parse u's records of a->rrtype into the matching array. */
static void
answer_records(const struct ub_result *u, struct res_answer *a)
{
	size_t cnt = 0, skipped = 0;

	while (u->data[cnt] != NULL)
		cnt++;
	if (cnt == 0)
		return;
	switch (a->rrtype) {
	case RES_TYPE_A: case RES_TYPE_AAAA:
		a->addr = xcalloc(cnt, sizeof(*a->addr));
		break;
	case RES_TYPE_MX:
		a->mx = xcalloc(cnt, sizeof(*a->mx));
		break;
	case RES_TYPE_TXT:
		a->txt = xcalloc(cnt + 1, sizeof(*a->txt));
		break;
	case RES_TYPE_TLSA:
		a->tlsa = xcalloc(cnt, sizeof(*a->tlsa));
		break;
	}
	for (size_t i = 0; i < cnt; i++) {
		const uint8_t *rd = (const uint8_t *)u->data[i];
		size_t len = u->len[i] < 0 ? 0 : (size_t)u->len[i];
		int ok = -1;

		switch (a->rrtype) {
		case RES_TYPE_A: case RES_TYPE_AAAA:
			ok = res_wire_addr(a->rrtype, rd, len, &a->addr[a->n]);
			break;
		case RES_TYPE_MX:
			ok = res_wire_mx(rd, len, &a->mx[a->n].pref,
			    a->mx[a->n].host, sizeof(a->mx[a->n].host));
			break;
		case RES_TYPE_TXT: {
			char *s = xmalloc(len + 1);

			if ((ok = res_wire_txt(rd, len, s, len + 1)) == 0)
				a->txt[a->n] = s;
			else
				free(s);
			break;
		}
		case RES_TYPE_TLSA:
			ok = res_wire_tlsa(rd, len, &a->tlsa[a->n]);
			break;
		case RES_TYPE_CNAME: {
			char tgt[RES_NAME_MAX];

			/* CNAME queries: the target is the chain's first link */
			if ((ok = res_wire_name(rd, len, tgt, sizeof(tgt))) == 0 &&
			    a->ncname == 0) {
				memcpy(a->cname[0], tgt, sizeof(tgt));
				a->ncname = 1;
			}
			break;
		}
		}
		if (ok == 0)
			a->n++;
		else
			skipped++;
	}
	if (skipped > 0)
		log_warn("resolver: name=%s type=%d: %zu malformed record(s) "
		    "ignored", a->qname, a->rrtype, skipped);
	if (a->n == 0 && a->rcode == RES_OK) {
		a->rcode = RES_FAIL;	/* data present, none of it usable */
		log_warn("resolver: name=%s type=%d: no usable record",
		    a->qname, a->rrtype);
	}
}

static void
answer_names(const struct ub_result *u, struct res_answer *a)
{
	char chain[RES_CNAME_MAX][RES_NAME_MAX];
	size_t n = 0;

	if (u->answer_packet != NULL && u->answer_len > 0 &&
	    res_wire_cname_chain(u->answer_packet, (size_t)u->answer_len,
	    NULL, 0, chain, RES_CNAME_MAX, &n) == 0 && n > 0 &&
	    a->rrtype != RES_TYPE_CNAME) {
		memcpy(a->cname, chain, n * sizeof(chain[0]));
		a->ncname = n;
	}
	if (u->canonname == NULL ||
	    res_name_normalize(u->canonname, a->canonname,
	    sizeof(a->canonname)) < 0) {
		const char *c = a->ncname > 0 ? a->cname[a->ncname - 1] :
		    a->qname;

		memcpy(a->canonname, c, strlen(c) + 1);
	}
}

static void
answer_free(struct res_answer *a)
{
	if (a->txt != NULL)
		for (size_t i = 0; i < a->n; i++)
			free(a->txt[i]);
	if (a->tlsa != NULL)
		for (size_t i = 0; i < a->n; i++)
			free(a->tlsa[i].data);
	free(a->txt);
	free(a->tlsa);
	free(a->mx);
	free(a->addr);
}

static void
on_ub_answer(void *arg, int err, struct ub_result *u)
{
	struct res_query *q = arg;
	struct res_answer *a;

	q->ub_pending = 0;
	if (q->cancelled || q->ctx->closing) {
		ub_resolve_free(u);
		/* while closing, the close callback frees every query */
		if (!q->ctx->closing) {
			res_query_unlink(q);
			free(q);
		}
		return;
	}
	a = xcalloc(1, sizeof(*a));
	memcpy(a->qname, q->qname, sizeof(a->qname));
	a->rrtype = q->rrtype;
	answer_status(err, u, a);
	if (err == 0 && u != NULL && !u->bogus) {
		if (a->rcode == RES_OK)
			answer_records(u, a);
		answer_names(u, a);
	} else
		memcpy(a->canonname, a->qname, sizeof(a->canonname));
	ub_resolve_free(u);

	q->in_cb = 1;
	q->cb(q->arg, a);
	q->in_cb = 0;
	answer_free(a);
	free(a);
	res_query_unlink(q);
	free(q);
}

res_query *
res_lookup(res_ctx *r, const char *name, int rrtype, res_answer_cb cb,
    void *arg)
{
	struct res_query *q;
	char norm[RES_NAME_MAX];
	int rc;

	if (r == NULL || r->closing || cb == NULL)
		return NULL;
	if (!type_supported(rrtype)) {
		log_error("resolver: type %d not supported", rrtype);
		return NULL;
	}
	if (res_name_normalize(name, norm, sizeof(norm)) < 0) {
		char pr[80];

		log_warn("resolver: bad name \"%s\"", util_printable(name,
		    name ? strlen(name) : 0, pr, sizeof(pr)));
		return NULL;
	}
	q = xcalloc(1, sizeof(*q));
	q->kind = RES_Q_RAW;
	q->rrtype = rrtype;
	q->cb = cb;
	q->arg = arg;
	memcpy(q->qname, norm, sizeof(q->qname));
	res_query_link(r, q);
	rc = ub_resolve_async(r->ub, norm, rrtype, 1 /* IN */, q,
	    on_ub_answer, &q->async_id);
	if (rc != 0) {
		log_error("resolver: name=%s type=%d: %s", norm, rrtype,
		    ub_strerror(rc));
		res_query_unlink(q);
		free(q);
		return NULL;
	}
	q->ub_pending = 1;
	return q;
}
