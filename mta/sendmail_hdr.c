/*
 * sendmail_hdr.c - the header section of a locally submitted message.
 *
 * We index the header fields once (offsets into the message, no copies)
 * and then answer the few questions sendmail has: which recipients do
 * To/Cc/Bcc name (-t), which of From/Date/Message-ID are missing, and how
 * does the message look with Bcc gone and our fields added.
 *
 * Where does the header section end?  At the first empty line, or, for
 * messages that have none (scripts often print "Subject: x" and then the
 * text), at the first line that is neither "name:" nor a continuation;
 * that line starts the body and we put the missing empty line before it
 * when composing.  A message that is nothing but header fields is all
 * header.  A leading mbox "From " line is dropped, as Postfix does.
 *
 * Bounds: a field line (RFC 5322 2.1.1) may have SENDMAIL_LINE_MAX
 * characters, the whole header section SENDMAIL_HEADERS_MAX bytes; more
 * is refused (EX_DATAERR) rather than cut, since cutting a header
 * changes what the message means.  Body lines are not our business.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sendmail.h"

static int
hdr_fail(char *err, size_t errlen, const char *why)
{
	snprintf(err, errlen, "%s", why);
	return -1;
}

void
sendmail_hdrs_free(struct sendmail_hdrs *h)
{
	free(h->v);
	memset(h, 0, sizeof(*h));
}

static void
hdrs_add(struct sendmail_hdrs *h, size_t off, size_t len, size_t name_len)
{
	if (h->n == h->alloc) {
		h->alloc = h->alloc ? h->alloc * 2 : 32;
		h->v = xrealloc(h->v, h->alloc * sizeof(*h->v));
	}
	h->v[h->n].off = off;
	h->v[h->n].len = len;
	h->v[h->n].name_len = name_len;
	h->n++;
}

/* Length of a field name at p (before ':' and optional WSP), 0 if the
 * line is not a field. */
static size_t
hdr_name_len(const char *p, size_t n)
{
	size_t i = 0, name;

	while (i < n && (unsigned char)p[i] >= 33 && (unsigned char)p[i] <= 126
	    && p[i] != ':')
		i++;
	name = i;
	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;	/* obs-optional: "Subject :" */
	if (name == 0 || i >= n || p[i] != ':')
		return 0;
	return name;
}

int
sendmail_hdrs_split(const char *msg, size_t len, struct sendmail_hdrs *h,
    char *err, size_t errlen)
{
	size_t pos = 0;

	memset(h, 0, sizeof(*h));
	if (len >= 5 && memcmp(msg, "From ", 5) == 0) {
		const char *nl = memchr(msg, '\n', len);

		pos = nl != NULL ? (size_t)(nl - msg) + 1 : len;
	}
	h->head_off = pos;
	while (pos < len) {
		const char *p = msg + pos;
		const char *nl = memchr(p, '\n', len - pos);
		size_t full = nl != NULL ? (size_t)(nl - p) + 1 : len - pos;
		size_t text = full, name;

		if (text > 0 && p[text - 1] == '\n')
			text--;
		if (text > 0 && p[text - 1] == '\r')
			text--;
		if (text == 0) {
			h->separator = 1;
			h->body_off = pos + full;
			return 0;
		}
		if (p[0] == ' ' || p[0] == '\t') {
			if (h->n == 0)
				break;		/* indented text: body */
			name = 0;
		} else if ((name = hdr_name_len(p, text)) == 0) {
			break;			/* not a field: body */
		}
		if (text > SENDMAIL_LINE_MAX) {
			sendmail_hdrs_free(h);
			return hdr_fail(err, errlen, "header line longer than "
			    "998 characters");
		}
		if (pos + full - h->head_off > SENDMAIL_HEADERS_MAX) {
			sendmail_hdrs_free(h);
			return hdr_fail(err, errlen, "header section too large");
		}
		if (name == 0)
			h->v[h->n - 1].len += full;
		else
			hdrs_add(h, pos, full, name);
		pos += full;
	}
	h->body_off = pos;
	return 0;
}

int
sendmail_hdr_is(const char *msg, const struct sendmail_hdr *f,
    const char *name)
{
	size_t n = strlen(name);

	return f->name_len == n &&
	    util_strncasecmp(msg + f->off, name, n) == 0;
}

long
sendmail_hdrs_find(const char *msg, const struct sendmail_hdrs *h,
    const char *name)
{
	size_t i;

	for (i = 0; i < h->n; i++)
		if (sendmail_hdr_is(msg, &h->v[i], name))
			return (long)i;
	return -1;
}

static const char *const hdr_rcpt_plain[] = { "To", "Cc", "Bcc", NULL };
static const char *const hdr_rcpt_resent[] =
    { "Resent-To", "Resent-Cc", "Resent-Bcc", NULL };

static int
hdr_in(const char *msg, const struct sendmail_hdr *f,
    const char *const *names)
{
	for (; *names != NULL; names++)
		if (sendmail_hdr_is(msg, f, *names))
			return 1;
	return 0;
}

int
sendmail_hdrs_rcpts(const char *msg, const struct sendmail_hdrs *h,
    sendmail_addr_cb cb, void *arg, char *err, size_t errlen)
{
	const char *const *names = hdr_rcpt_plain;
	char why[256];
	size_t i;

	for (i = 0; i < h->n; i++)
		if (hdr_in(msg, &h->v[i], hdr_rcpt_resent))
			names = hdr_rcpt_resent;
	for (i = 0; i < h->n; i++) {
		const struct sendmail_hdr *f = &h->v[i];
		const char *colon;

		if (!hdr_in(msg, f, names))
			continue;
		colon = memchr(msg + f->off, ':', f->len);
		UTIL_ASSERT(colon != NULL);	/* split only keeps fields */
		colon++;
		if (sendmail_addr_list(colon, (size_t)(msg + f->off + f->len -
		    colon), cb, arg, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "%.*s: header: %s",
			    (int)f->name_len, msg + f->off, why);
			return -1;
		}
	}
	return 0;
}

int
sendmail_compose(const char *msg, size_t len, const struct sendmail_hdrs *h,
    const struct sendmail_added *a, size_t max, char **out, size_t *outlen,
    char *err, size_t errlen)
{
	struct dynbuf b;
	char date[64], stamp[32];
	struct tm tm;
	time_t t = (time_t)a->now;
	size_t i;
	int bad = 0;

	dynbuf_init(&b, max);
	util_rfc5322_date(a->now, date, sizeof(date));
	gmtime_r(&t, &tm);
	if (strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S", &tm) == 0)
		stamp[0] = '\0';

	/* Trace first (RFC 5321 4.4): who handed this to us, as which id. */
	bad |= dynbuf_addf(&b, "Received: by %s (sealpost, from userid %ld)"
	    "\r\n\tid %s; %s\r\n", a->myhostname, a->uid, a->qid, date);
	for (i = 0; i < h->n; i++) {
		const struct sendmail_hdr *f = &h->v[i];

		/* Blind copies stay blind: never pass Bcc on, -t or not. */
		if (sendmail_hdr_is(msg, f, "Bcc") ||
		    sendmail_hdr_is(msg, f, "Resent-Bcc"))
			continue;
		bad |= dynbuf_add(&b, msg + f->off, f->len);
		/* a field on the message's last line may lack CRLF */
		if (f->len < 2 || msg[f->off + f->len - 1] != '\n')
			bad |= dynbuf_add(&b, "\r\n", 2);
	}
	if (sendmail_hdrs_find(msg, h, "From") < 0) {
		const char *addr = a->from_addr[0] != '\0' ? a->from_addr :
		    NULL;

		if (addr == NULL)
			bad |= dynbuf_addf(&b, "From: MAILER-DAEMON@%s\r\n",
			    a->myhostname);
		else if (a->display_name != NULL && a->display_name[0] != '\0')
			bad |= dynbuf_addf(&b, "From: %s <%s>\r\n",
			    a->display_name, addr);
		else
			bad |= dynbuf_addf(&b, "From: %s\r\n", addr);
	}
	if (sendmail_hdrs_find(msg, h, "Date") < 0)
		bad |= dynbuf_addf(&b, "Date: %s\r\n", date);
	if (sendmail_hdrs_find(msg, h, "Message-ID") < 0)
		bad |= dynbuf_addf(&b, "Message-ID: <%s.%s@%s>\r\n", a->qid,
		    stamp, a->myhostname);
	bad |= dynbuf_add(&b, "\r\n", 2);
	if (h->body_off < len)
		bad |= dynbuf_add(&b, msg + h->body_off, len - h->body_off);
	if (bad) {
		dynbuf_free(&b);
		return hdr_fail(err, errlen, "message too large");
	}
	*out = dynbuf_take(&b, outlen);
	return 0;
}
