/*
 * tlsrpt_send_mail.c - RFC 8460 5.3 mailto: reporting through our own
 * queue.
 *
 * The message comes from tlsrpt_mail_build() (tlsrpt_mail.c: the
 * multipart/report, DKIM-signed when a key is configured) and goes into
 * spool/maildrop like anything sendmail submits, so it is queued,
 * retried and delivered under DANE/MTA-STS like other mail.  It carries
 * QUEUE_MSG_NO_TLS_REQ (RFC 8689 TLS-Required: No, RFC 8460 5.3), so a
 * TLS failure at the very domain we report on cannot stop its report,
 * and its own sessions are not recorded into the next report.  Envelope
 * sender: tlsrpt_sender; NOTIFY=NEVER, as a report that cannot be
 * delivered is not worth a bounce to a no-reply address.
 *
 * At most once: the queue ID is stored in the row before the drop file
 * is written.  Should the daemon die between the two, the next run
 * writes the file again under the same queue ID, which the import treats
 * as the same message while it is still queued (XXX: if it was already
 * delivered and gone, the report goes out a second time).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "queue/queue.h"
#include "tlsrpt_send_int.h"

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The address of a mailto: URI (RFC 6068): up to '?', %XX decoded; it
 * must hold an '@' and only printable ASCII without spaces.  0 or -1. */
static int
mailto_address(const char *uri, char *out, size_t outlen)
{
	const char *p = uri + strlen("mailto:");
	size_t n = 0;
	int at = 0;

	for (; *p != '\0' && *p != '?'; p++) {
		int c = (unsigned char)*p;

		if (c == '%') {
			int hi = hexval(p[1]), lo = hi < 0 ? -1 : hexval(p[2]);

			if (lo < 0)
				return -1;
			c = hi * 16 + lo;
			p += 2;
		}
		if (c <= ' ' || c > '~' || c == '<' || c == '>' ||
		    n + 1 >= outlen)
			return -1;
		at |= c == '@';
		out[n++] = (char)c;
	}
	out[n] = '\0';
	return at && n < QUEUE_ADDR_MAX ? 0 : -1;
}

void
tlsrpt_send_mail(struct send_job *j, const struct tlsrpt_uri *u,
    struct tlsrpt_sent_entry *e)
{
	tlsrpt_sender *s = j->s;
	const struct sealpost_config *cfg = s->cfg;
	struct tlsrpt_mail_info mi;
	struct queue_msg *m;
	char to[QUEUE_ADDR_MAX], err[512], *msg = NULL;
	size_t msglen = 0;
	int64_t now = util_wall_time();

	if (mailto_address(u->uri, to, sizeof(to)) < 0) {
		tlsrpt_send_mark(s, e, TLSRPT_SENT_FAILED,
		    "unusable mailto: address");
		return;
	}
	memset(&mi, 0, sizeof(mi));
	mi.policy_domain = j->domain;
	mi.submitter = cfg->tlsrpt_submitter;
	mi.from = cfg->tlsrpt_sender;
	mi.to = to;
	mi.report_id = j->report_id;
	mi.start = j->start;
	mi.end = j->end;
	mi.now = now;
	mi.dkim_domain = cfg->tlsrpt_dkim_domain;
	mi.dkim_selector = cfg->tlsrpt_dkim_selector;
	mi.dkim_key = s->dkim_key;
	if (tlsrpt_mail_build(&mi, j->gz, j->gzlen, &msg, &msglen, err,
	    sizeof(err)) < 0) {
		tlsrpt_send_retry_later(s, e, err);
		return;
	}
	/* RFC 8460 3 allows DMARC's "!size"; a 552 later is the queue's */
	if (u->size_limit != 0 && msglen > u->size_limit) {
		snprintf(err, sizeof(err), "message of %zu bytes is over the "
		    "!size limit of %llu", msglen,
		    (unsigned long long)u->size_limit);
		free(msg);
		tlsrpt_send_mark(s, e, TLSRPT_SENT_SKIPPED, err);
		return;
	}
	m = queue_msg_new();
	if (strlen(e->queue_id) == QUEUE_ID_LEN &&
	    queue_id_valid(e->queue_id) == 0)
		memcpy(m->qid, e->queue_id, QUEUE_ID_LEN + 1);
	else
		queue_id_new(m->qid);
	free(m->sender);
	m->sender = xstrdup(cfg->tlsrpt_sender);
	m->arrival = now;
	m->flags = QUEUE_MSG_NO_TLS_REQ;
	m->body = msg;
	m->body_len = m->size = msglen;
	queue_msg_add_rcpt(m, to, NULL, QUEUE_NOTIFY_NEVER);
	/* the row names the file before the file exists */
	snprintf(e->queue_id, sizeof(e->queue_id), "%s", m->qid);
	if (e->first_try == 0)
		e->first_try = now;
	e->attempts++;
	e->updated = now;
	if (tlsrpt_sent_update(s->sent, e) < 0) {
		queue_msg_free(m);
		return;
	}
	if (queue_drop_write(s->maildrop, m, err, sizeof(err)) < 0) {
		queue_msg_free(m);
		e->attempts--;		/* retry_later counts it */
		tlsrpt_send_retry_later(s, e, err);
		return;
	}
	queue_msg_free(m);
	tlsrpt_send_mark(s, e, TLSRPT_SENT_DONE, NULL);
	if (s->wake != NULL)
		s->wake(s->wake_arg);
}
