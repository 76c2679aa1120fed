/*
 * smtpd_msg.c - what the listener adds to a message before queueing it.
 *
 * A Received field first (RFC 5321 4.4), with the protocol name of
 * RFC 3848/RFC 6531 ("with ESMTPSA" for TLS plus AUTH) and, inside TLS,
 * a comment naming protocol and cipher as Postfix does.  We do no
 * reverse DNS lookup (the loop must not block, and a smarthost's
 * clients are known): the client appears as "helo ([ip])".  The
 * recipient is named ("for <x>") only when there is exactly one, so a
 * message to many does not list them all to each.
 *
 * Date and Message-ID are added when missing, in the same form as the
 * sendmail path (mta/sendmail_hdr.c: util_rfc5322_date, and
 * "<QUEUEID.YYYYmmddHHMMSS@myhostname>"), at the end of the header
 * section.  A message whose header section was not ended by an empty
 * line gets one, so the added fields cannot run into the body.
 *
 * For "sendmail -bs" (local_submit) the field reads
 * "from HELO by HOST (sealpost) with ESMTP (via sendmail -bs, uid N)".
 */
#include <string.h>
#include <time.h>

#include "smtpd.h"

const char *
smtpd_protocol_name(int esmtp, int utf8, int tls, int auth)
{
	static const char *const esmtp_names[4] =
	    { "ESMTP", "ESMTPA", "ESMTPS", "ESMTPSA" };
	static const char *const utf8_names[4] =
	    { "UTF8SMTP", "UTF8SMTPA", "UTF8SMTPS", "UTF8SMTPSA" };
	int i = (tls ? 2 : 0) + (auth ? 1 : 0);

	if (!esmtp)
		return "SMTP";
	return utf8 ? utf8_names[i] : esmtp_names[i];
}

int
smtpd_msg_compose(const struct smtpd_trace *t, const struct smtpd_data *d,
    size_t max, char **out, size_t *outlen)
{
	struct dynbuf b;
	char date[64], stamp[32];
	struct tm tm;
	time_t now = (time_t)t->now;
	const char *body = d->body.p != NULL ? d->body.p : "";
	size_t hend = d->header_end;
	int bad = 0;

	if (hend > d->body.len)
		hend = d->body.len;
	dynbuf_init(&b, max);
	util_rfc5322_date(t->now, date, sizeof(date));
	gmtime_r(&now, &tm);
	if (strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S", &tm) == 0)
		stamp[0] = '\0';

	/* RFC 5321 4.1.3: an IPv6 address literal carries the "IPv6:" tag */
	/* sendmail -bs: no address to show; the HELO name is the user's
	 * claim, the uid is what we know (the "with" comment says so) */
	if (t->local_submit)
		bad |= dynbuf_addf(&b, "Received: from %s\r\n", t->helo);
	else if (t->client_addr[0] != '\0')
		bad |= dynbuf_addf(&b, "Received: from %s ([%s%s])\r\n",
		    t->helo, strchr(t->client_addr, ':') ? "IPv6:" : "",
		    t->client_addr);
	else
		bad |= dynbuf_addf(&b, "Received: from %s\r\n", t->helo);
	if (t->local_submit)
		bad |= dynbuf_addf(&b, "\tby %s (sealpost) with %s "
		    "(via sendmail -bs, uid %ld) id %s", t->myhostname,
		    t->protocol, t->local_uid, t->qid);
	else
		bad |= dynbuf_addf(&b, "\tby %s (sealpost) with %s id %s",
		    t->myhostname, t->protocol, t->qid);
	if (t->tls_text != NULL && t->tls_text[0] != '\0')
		bad |= dynbuf_addf(&b, "\r\n\t(%s)", t->tls_text);
	if (t->for_rcpt != NULL)
		bad |= dynbuf_addf(&b, "\r\n\tfor <%s>", t->for_rcpt);
	bad |= dynbuf_addf(&b, "; %s\r\n", date);

	bad |= dynbuf_add(&b, body, hend);
	if (!d->has_date)
		bad |= dynbuf_addf(&b, "Date: %s\r\n", date);
	if (!d->has_msgid)
		bad |= dynbuf_addf(&b, "Message-ID: <%s.%s@%s>\r\n", t->qid,
		    stamp, t->myhostname);
	if (!d->header_sep)
		bad |= dynbuf_add(&b, "\r\n", 2);
	bad |= dynbuf_add(&b, body + hend, d->body.len - hend);
	if (bad) {
		dynbuf_free(&b);
		return -1;
	}
	*out = dynbuf_take(&b, outlen);
	return 0;
}
