/*
 * mta_result.c - per-recipient outcomes, written once, logged once.
 *
 * Every recipient of a job gets exactly one mta_status per attempt and
 * one log line, Postfix-style, led by the queue ID:
 *
 *   QID: to=<rcpt>, relay=mx[ip]:25, delay=1.2, delays=a/b/c/d,
 *        dsn=2.0.0, status=sent (250 2.0.0 Ok), tls=TLSv1.3 ...
 *
 * delay is the time since the message arrived; delays splits it into
 * a: arrival until the queue manager handed the job over,
 * b: hand-over until a session took it (channel, per-destination wait),
 * c: connection setup (DNS, TCP, greeting, EHLO, TLS, AUTH),
 * d: transmission (MAIL FROM to the last reply).
 * Writing a result twice is a broken invariant: it would mean two
 * different answers to the queue manager about one recipient.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mta_int.h"

void
mta_textf(char *out, size_t outlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(out, outlen, fmt, ap);
	va_end(ap);
}

enum mta_outcome
mta_outcome_for_code(int code)
{
	if (code >= 200 && code < 300)
		return MTA_DELIVERED;
	if (code >= 500 && code < 600)
		return MTA_BOUNCE;
	return MTA_DEFER;
}

const char *
mta_outcome_name(enum mta_outcome o)
{
	switch (o) {
	case MTA_DELIVERED: return "sent";
	case MTA_DEFER: return "deferred";
	case MTA_BOUNCE: return "bounced";
	}
	return "?";
}

/* Postfix prints delays with two significant digits, "0" when tiny. */
static void
mta_fmt_delay(char *out, size_t outlen, double v)
{
	if (v < 0.01)
		snprintf(out, outlen, "0");
	else if (v < 10)
		snprintf(out, outlen, "%.2g", v);
	else
		snprintf(out, outlen, "%.0f", v);
}

static double
mta_wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
mta_result_log(const struct mta_jobctx *jc, size_t i)
{
	const struct mta_job *job = jc->job;
	const struct mta_status *st = &job->result[i];
	const struct queue_rcpt *r = &job->msg->rcpt[job->rcpt_idx[i]];
	uint64_t now = util_now_ms();
	double wall = mta_wall_now(), handoff, a, b, c, d;
	char da[16], db[16], dc[16], dd[16], addr[QUEUE_ADDR_MAX];
	uint64_t start = jc->start_ms ? jc->start_ms : now;
	uint64_t xmit = jc->xmit_ms ? jc->xmit_ms : now;

	handoff = wall - (double)(now - job->queued_ms) / 1000.0;
	a = handoff - (double)job->msg->arrival;
	b = (double)(start - job->queued_ms) / 1000.0;
	c = (double)(xmit - start) / 1000.0;
	d = (double)(now - xmit) / 1000.0;
	mta_fmt_delay(da, sizeof(da), a < 0 ? 0 : a);
	mta_fmt_delay(db, sizeof(db), b);
	mta_fmt_delay(dc, sizeof(dc), c);
	mta_fmt_delay(dd, sizeof(dd), d);
	util_printable(r->addr, strlen(r->addr), addr, sizeof(addr));
	log_info("%s: to=<%s>, relay=%s, delay=%.2g, delays=%s/%s/%s/%s, "
	    "dsn=%s, status=%s (%s), tls=%s", job->msg->qid, addr, st->relay,
	    wall - (double)job->msg->arrival, da, db, dc, dd, st->dsn,
	    mta_outcome_name(st->outcome), st->text, st->tls);
}

void
mta_result_set(struct mta_jobctx *jc, size_t i, enum mta_outcome o,
    int code, const char *dsn, const char *text, const char *relay,
    const char *tls)
{
	struct mta_status *st;

	UTIL_ASSERT(i < jc->job->nrcpt);
	UTIL_ASSERT(!jc->set[i]);
	st = &jc->job->result[i];
	memset(st, 0, sizeof(*st));
	st->outcome = o;
	st->code = code;
	snprintf(st->dsn, sizeof(st->dsn), "%s", dsn ? dsn :
	    (o == MTA_DELIVERED ? "2.0.0" : o == MTA_BOUNCE ? "5.0.0" :
	    "4.0.0"));
	snprintf(st->text, sizeof(st->text), "%s", text ? text : "");
	snprintf(st->relay, sizeof(st->relay), "%s", relay ? relay : "none");
	snprintf(st->tls, sizeof(st->tls), "%s", tls ? tls : "none");
	jc->set[i] = 1;
	jc->nleft--;
	mta_result_log(jc, i);
}

void
mta_result_rest(struct mta_jobctx *jc, enum mta_outcome o, int code,
    const char *dsn, const char *text, const char *relay, const char *tls)
{
	size_t i;

	for (i = 0; i < jc->job->nrcpt; i++)
		if (!jc->set[i])
			mta_result_set(jc, i, o, code, dsn, text, relay, tls);
}
