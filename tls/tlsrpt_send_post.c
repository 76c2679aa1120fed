/*
 * tlsrpt_send_post.c - RFC 8460 5.2 https: reporting: POST the gzip'ed
 * report with Content-Type application/tlsrpt+gzip (5.1, 6.4).
 *
 * Any 2xx is success (5.2 only says "successful"); anything else, and
 * any transport or certificate failure, is retried with a doubling
 * backoff for TLSRPT_RETRY_SECS (the report is a day's, a day is a
 * sensible bound), then given up (tlsrpt_sent_next_try).  The row's
 * attempts count every POST.  The report is rebuilt from the database on
 * each retry, so nothing is kept in memory between tries.
 */
#include <stdio.h>
#include <string.h>

#include "tlsrpt_send_int.h"

#define TLSRPT_MEDIA_GZIP	"application/tlsrpt+gzip"	/* 6.4 */

static void
post_done(void *arg, const struct tls_http_result *r)
{
	struct send_post *p = arg;
	struct send_job *j = p->job;
	tlsrpt_sender *s = j->s;
	struct tlsrpt_sent_entry *e = &p->e;

	p->req = NULL;
	if (r->transport_ok && r->status >= 200 && r->status <= 299) {
		snprintf(e->last_error, sizeof(e->last_error), "HTTP %ld",
		    r->status);
		tlsrpt_send_mark(s, e, TLSRPT_SENT_DONE, NULL);
	} else {
		int64_t now = util_wall_time(), next;

		/* attempts was counted when the POST started */
		next = tlsrpt_sent_next_try(e->attempts, e->first_try, now);
		if (next == 0)
			tlsrpt_send_mark(s, e, TLSRPT_SENT_FAILED, r->reason);
		else {
			e->next_try = next;
			tlsrpt_send_mark(s, e, TLSRPT_SENT_DUE, r->reason);
		}
	}
	j->nposts--;
	tlsrpt_send_job_check(j);
}

void
tlsrpt_send_post(struct send_job *j, const struct tlsrpt_uri *u,
    struct tlsrpt_sent_entry *e)
{
	tlsrpt_sender *s = j->s;
	struct send_post *p;
	char err[TLS_HTTP_REASON_MAX];
	int64_t now = util_wall_time();

	if (u->size_limit != 0 && j->gzlen > u->size_limit) {
		char why[128];

		snprintf(why, sizeof(why), "report of %zu bytes is over the "
		    "!size limit of %llu", j->gzlen,
		    (unsigned long long)u->size_limit);
		tlsrpt_send_mark(s, e, TLSRPT_SENT_SKIPPED, why);
		return;
	}
	UTIL_ASSERT(j->nposts < TLSRPT_RUA_MAX);
	p = &j->posts[j->nstarted++];
	memset(p, 0, sizeof(*p));
	p->job = j;
	p->e = *e;
	if (p->e.first_try == 0)
		p->e.first_try = now;
	p->e.attempts++;
	/* written before the POST: a stop mid-way leaves the row DUE with
	 * the try counted, to be retried after the next start */
	p->e.next_try = now + TLSRPT_RETRY_MIN;
	p->e.updated = now;
	if (tlsrpt_sent_update(s->sent, &p->e) < 0)
		return;
	p->req = tls_http_post(s->http, u->uri, TLSRPT_MEDIA_GZIP, j->gz,
	    j->gzlen, post_done, p, err, sizeof(err));
	if (p->req == NULL) {
		/* the URI itself is unusable: retrying cannot help */
		tlsrpt_send_mark(s, &p->e, TLSRPT_SENT_FAILED, err);
		return;
	}
	j->nposts++;
	log_info("tlsrpt: day=%s domain=%s uri=%s attempt=%u: POST %zu bytes",
	    j->day, j->domain, u->uri, p->e.attempts, j->gzlen);
}
