/*
 * res_ctx.c - one libunbound context driven by a libuv loop.
 *
 * libunbound runs its resolver work in a background thread
 * (ub_ctx_async(ctx, 1)) and signals finished answers through a pipe
 * whose read end is ub_fd(); a uv_poll_t on that fd calls ub_process(),
 * which runs our callbacks on the owner loop.  Answers that need no DNS
 * at all (an IP literal given as relay host) go through a zero timer so
 * that no callback ever runs inside the call that started the query.
 *
 * Lifetime: every outstanding query is on ctx->queries.  res_free()
 * cancels them all at libunbound, marks the context closing (no more user
 * callbacks) and closes both handles; the last close callback deletes the
 * ub_ctx (which drops anything still in flight without calling back) and
 * only then frees our query structs, so a late libunbound callback can
 * never see freed memory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <unbound.h>

#include "res_int.h"
#include "util/util.h"

void
res_query_link(struct res_ctx *r, struct res_query *q)
{
	q->ctx = r;
	q->prev = NULL;
	q->next = r->queries;
	if (r->queries != NULL)
		r->queries->prev = q;
	r->queries = q;
}

void
res_query_unlink(struct res_query *q)
{
	struct res_ctx *r = q->ctx;

	if (q->prev != NULL)
		q->prev->next = q->next;
	else if (r->queries == q)
		r->queries = q->next;
	if (q->next != NULL)
		q->next->prev = q->prev;
	q->prev = q->next = NULL;
	if (q->on_ready) {
		struct res_query **pp = &r->ready;

		while (*pp != NULL && *pp != q)
			pp = &(*pp)->ready_next;
		if (*pp == q)
			*pp = q->ready_next;
		q->on_ready = 0;
	}
}

uint32_t
res_rand_default(void *arg, uint32_t bound)
{
	(void)arg;
	return bound > 1 ? arc4random_uniform(bound) : 0;
}

static void
on_defer(uv_timer_t *t)
{
	struct res_ctx *r = t->data;

	/* Deliver one at a time: a callback may cancel or add others. */
	while (!r->closing && r->ready != NULL) {
		struct res_query *q = r->ready;

		r->ready = q->ready_next;
		q->on_ready = 0;
		res_mx_deliver(q);
	}
}

void
res_query_defer(struct res_query *q)
{
	struct res_ctx *r = q->ctx;
	struct res_query **pp = &r->ready;

	UTIL_ASSERT(!q->on_ready);
	while (*pp != NULL)		/* keep start order */
		pp = &(*pp)->ready_next;
	q->ready_next = NULL;
	*pp = q;
	q->on_ready = 1;
	uv_timer_start(&r->defer, on_defer, 0, 0);
}

static void
on_poll(uv_poll_t *p, int status, int events)
{
	struct res_ctx *r = p->data;
	int rc;

	if (r->closing)
		return;
	if (status < 0) {
		log_error("resolver: poll on libunbound fd: %s",
		    uv_strerror(status));
		return;
	}
	rc = ub_process(r->ub);
	if (rc != 0)
		log_error("resolver: ub_process: %s", ub_strerror(rc));
}

static void
on_close(uv_handle_t *h)
{
	struct res_ctx *r = h->data;
	struct res_query *q;

	if (--r->open_handles > 0)
		return;
	/* No thread of libunbound calls back after this. */
	ub_ctx_delete(r->ub);
	while ((q = r->queries) != NULL) {
		res_query_unlink(q);
		if (q->kind == RES_Q_MX)
			res_mx_destroy(q);
		free(q);
	}
	free(r);
}

static int
ctx_fail(char *err, size_t errlen, const char *what, const char *arg, int rc)
{
	snprintf(err, errlen, "resolver: %s%s%s: %s", what,
	    arg ? " " : "", arg ? arg : "", ub_strerror(rc));
	return -1;
}

/* Apply cfg to a fresh ub_ctx; 0 or -1 with err filled. */
static int
ctx_configure(struct ub_ctx *ub, const struct cfg_resolver *cfg, char *err,
    size_t errlen)
{
	int rc;

	if ((rc = ub_ctx_async(ub, 1)) != 0)
		return ctx_fail(err, errlen, "ub_ctx_async", NULL, rc);
	if (cfg == NULL)
		return 0;
	/* The file first, so options and forwarders given in sealpost's
	 * own configuration override what it says. */
	if (cfg->unbound_config != NULL && cfg->unbound_config[0] != '\0' &&
	    (rc = ub_ctx_config(ub, cfg->unbound_config)) != 0)
		return ctx_fail(err, errlen, "unbound config",
		    cfg->unbound_config, rc);
	for (size_t i = 0; i < cfg->nunbound_options; i++) {
		const char *opt = cfg->unbound_options[i];
		const char *colon = strchr(opt, ':');
		char name[128];
		size_t nl;

		if (colon == NULL || (nl = (size_t)(colon - opt) + 1) >=
		    sizeof(name) || nl < 2) {
			snprintf(err, errlen, "resolver: unbound option "
			    "\"%.80s\": expected \"name: value\"", opt);
			return -1;
		}
		memcpy(name, opt, nl);	/* the name includes the colon */
		name[nl] = '\0';
		colon++;
		while (*colon == ' ' || *colon == '\t')
			colon++;
		if ((rc = ub_ctx_set_option(ub, name, colon)) != 0)
			return ctx_fail(err, errlen, "unbound option", opt, rc);
	}
	for (size_t i = 0; i < cfg->nforwarders; i++)
		if ((rc = ub_ctx_set_fwd(ub, cfg->forwarders[i])) != 0)
			return ctx_fail(err, errlen, "forwarder",
			    cfg->forwarders[i], rc);
	if (cfg->trust_anchor_file != NULL &&
	    cfg->trust_anchor_file[0] != '\0') {
		const char *f = cfg->trust_anchor_file;

		/* libunbound reads the file only at the first query; a
		 * missing anchor would then fail every lookup, so say it
		 * now, when the operator is watching. */
		if (access(f, R_OK) != 0) {
			snprintf(err, errlen, "resolver: trust anchor file "
			    "%.200s: not readable", f);
			return -1;
		}
		rc = cfg->trust_anchor_auto ? ub_ctx_add_ta_autr(ub, f) :
		    ub_ctx_add_ta_file(ub, f);
		if (rc != 0)
			return ctx_fail(err, errlen, "trust anchor", f, rc);
	}
	return 0;
}

res_ctx *
res_create(uv_loop_t *loop, const struct cfg_resolver *cfg, char *err,
    size_t errlen)
{
	struct res_ctx *r;
	int rc;

	r = xcalloc(1, sizeof(*r));
	r->loop = loop;
	r->rnd = res_rand_default;
	if ((r->ub = ub_ctx_create()) == NULL) {
		snprintf(err, errlen, "resolver: ub_ctx_create failed");
		free(r);
		return NULL;
	}
	if (ctx_configure(r->ub, cfg, err, errlen) < 0) {
		ub_ctx_delete(r->ub);
		free(r);
		return NULL;
	}
	if ((rc = uv_poll_init(loop, &r->poll, ub_fd(r->ub))) < 0) {
		snprintf(err, errlen, "resolver: uv_poll_init: %s",
		    uv_strerror(rc));
		ub_ctx_delete(r->ub);
		free(r);
		return NULL;
	}
	r->poll.data = r;
	uv_timer_init(loop, &r->defer);
	r->defer.data = r;
	r->open_handles = 2;
	if ((rc = uv_poll_start(&r->poll, UV_READABLE, on_poll)) < 0) {
		snprintf(err, errlen, "resolver: uv_poll_start: %s",
		    uv_strerror(rc));
		r->closing = 1;
		uv_close((uv_handle_t *)&r->poll, on_close);
		uv_close((uv_handle_t *)&r->defer, on_close);
		return NULL;
	}
	return r;
}

void
res_free(res_ctx *r)
{
	if (r == NULL || r->closing)
		return;
	r->closing = 1;
	for (struct res_query *q = r->queries; q != NULL; q = q->next) {
		q->cancelled = 1;
		if (q->kind == RES_Q_RAW)
			res_raw_cancel(q);
	}
	uv_close((uv_handle_t *)&r->poll, on_close);
	uv_close((uv_handle_t *)&r->defer, on_close);
}

void
res_cancel(res_query *q)
{
	if (q == NULL || q->cancelled)
		return;
	q->cancelled = 1;
	/* Inside its own callback the query is freed on the way out. */
	if (q->in_cb || q->ctx->closing)
		return;
	if (q->kind == RES_Q_MX) {
		res_query_unlink(q);
		res_mx_destroy(q);
		free(q);
		return;
	}
	res_raw_cancel(q);
	if (!q->ub_pending) {
		res_query_unlink(q);
		free(q);
	}
	/* else: a tombstone; the libunbound callback frees it */
}
