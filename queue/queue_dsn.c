/*
 * queue_dsn.c - delivery status notifications (RFC 3464, RFC 3461).
 *
 * A DSN is a new message from the null sender with three MIME parts:
 * a text/plain explanation for people, a message/delivery-status report
 * for programs, and the original (message/rfc822 in full, or
 * text/rfc822-headers).  We decide which recipients are reported (their
 * NOTIFY), what of the original goes back (RET, and a size cap), and we
 * render text that came from remote servers safely: control and 8-bit
 * bytes become '?', long values are folded, so every line we write is
 * CRLF-terminated and at most DSN_LINE_MAX octets (RFC 5322 2.1.1 allows
 * 998).  The returned original is copied with bare CR/LF turned into CRLF
 * but otherwise as accepted.
 *
 * When any reported address is not ASCII (SMTPUTF8 mail) the report is
 * message/global-delivery-status with "utf-8" address types (RFC 6533)
 * and the DSN itself is flagged SMTPUTF8.
 *
 * Who gets the DSN and double bounces are the caller's business: we build
 * for rcpt_to, with NOTIFY unspecified.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue.h"

#define DSN_LINE_MAX	998	/* RFC 5322 2.1.1 */
#define DSN_FOLD_AT	76	/* preferred width, RFC 5322 2.1.1 "SHOULD 78" */
#define DSN_TEXT_MAX	1000	/* diagnostic text we quote per recipient */
#define DSN_BUF_MAX	((size_t)QUEUE_DROP_MAX + 1024 * 1024)

/* Render s as printable ASCII in out: controls, CR/LF and 8-bit become
 * '?' or ' ' so remote text cannot forge header lines or MIME parts. */
static void
dsn_clean(const char *s, char *out, size_t outlen, int keep_utf8)
{
	size_t i, o = 0;

	if (s == NULL)
		s = "";
	for (i = 0; s[i] != '\0' && o + 1 < outlen; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\r' || c == '\n' || c == '\t')
			c = ' ';
		else if (c < 0x20 || c == 0x7f || (c >= 0x80 && !keep_utf8))
			c = '?';
		/* collapse runs of blanks the CR/LF mapping may create */
		if (c == ' ' && o > 0 && out[o - 1] == ' ')
			continue;
		out[o++] = (char)c;
	}
	out[o] = '\0';
}

/*
 * Append lead + value, folded at spaces near DSN_FOLD_AT columns, each
 * continuation line starting with cont (" " for a header field, so the
 * fold is RFC 5322 folding white space).  A word too long for one line
 * is cut so no line exceeds DSN_LINE_MAX.
 */
static void
dsn_put_folded(struct dynbuf *b, const char *lead, const char *value,
    const char *cont)
{
	const char *p = value;
	size_t col = strlen(lead), ccol = strlen(cont);
	int first = 1;

	dynbuf_addstr(b, lead);
	for (;;) {
		size_t w;

		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		w = strcspn(p, " ");
		if (!first && col + 1 + w > DSN_FOLD_AT) {
			dynbuf_addf(b, "\r\n%s", cont);
			col = ccol;
			first = 1;
		}
		if (!first) {
			dynbuf_addstr(b, " ");
			col++;
		}
		while (w > 0) {
			size_t room = DSN_LINE_MAX - col;
			size_t take = w < room ? w : room;

			dynbuf_add(b, p, take);
			p += take;
			w -= take;
			col += take;
			first = 0;
			if (w > 0) {
				dynbuf_addf(b, "\r\n%s", cont);
				col = ccol;
			}
		}
	}
	dynbuf_addstr(b, "\r\n");
}

/* Copy s[0..n) with every line ending made CRLF. */
static void
dsn_put_crlf(struct dynbuf *b, const char *s, size_t n)
{
	size_t i, start = 0;

	for (i = 0; i < n; i++) {
		if (s[i] != '\r' && s[i] != '\n')
			continue;
		dynbuf_add(b, s + start, i - start);
		dynbuf_addstr(b, "\r\n");
		if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n')
			i++;
		start = i + 1;
	}
	if (start < n) {
		dynbuf_add(b, s + start, n - start);
		dynbuf_addstr(b, "\r\n");
	}
}

/* Length of the header block of body (up to, excluding, the empty line). */
static size_t
dsn_header_len(const char *body, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (body[i] != '\n')
			continue;
		if (i + 1 < len && body[i + 1] == '\n')
			return i + 1;
		if (i + 2 < len && body[i + 1] == '\r' && body[i + 2] == '\n')
			return i + 1;
	}
	return len;
}

static int
dsn_is_ascii(const char *s)
{
	for (; s && *s; s++)
		if ((unsigned char)*s >= 0x80)
			return 0;
	return 1;
}

/* "N.N.N" with a class digit 2, 4 or 5 and 1-3 digit fields (RFC 3463). */
static int
dsn_status_valid(const char *s)
{
	int field, digits;

	if (s == NULL || (s[0] != '2' && s[0] != '4' && s[0] != '5') ||
	    s[1] != '.')
		return 0;
	s += 2;
	for (field = 0; field < 2; field++) {
		for (digits = 0; *s >= '0' && *s <= '9'; s++)
			digits++;
		if (digits < 1 || digits > 3)
			return 0;
		if (field == 0 && *s++ != '.')
			return 0;
	}
	return *s == '\0';
}

/* A reply from a remote server starts with its 3-digit code. */
/*
 * The remote server's own reply inside r->reply, or NULL when the text is
 * our diagnosis.  The delivery agent writes either the bare reply
 * ("550 5.1.1 ...") or "host X[ip] said: 550 5.1.1 ... (in reply to RCPT
 * TO command)"; RFC 3464's smtp diagnostic type wants only the reply, so
 * *len (when not NULL) excludes the "(in reply to ...)" tail.
 */
static const char *
dsn_smtp_reply(const struct queue_rcpt *r, size_t *len)
{
	const char *s = r->reply, *said, *tail;

	if (r->relay == NULL || s == NULL)
		return NULL;
	said = strstr(s, " said: ");
	if (said != NULL)
		s = said + 7;
	if (!(s[0] >= '2' && s[0] <= '5' && s[1] >= '0' && s[1] <= '9' &&
	    s[2] >= '0' && s[2] <= '9' &&
	    (s[3] == ' ' || s[3] == '-' || s[3] == '\0')))
		return NULL;
	if (len != NULL) {
		tail = strstr(s, " (in reply to ");
		*len = tail ? (size_t)(tail - s) : strlen(s);
	}
	return s;
}

static int
dsn_is_smtp_reply(const struct queue_rcpt *r)
{
	return dsn_smtp_reply(r, NULL) != NULL;
}

static unsigned
dsn_wanted_bit(enum queue_dsn_kind kind)
{
	switch (kind) {
	case QUEUE_DSN_FAILED:
		return QUEUE_NOTIFY_FAILURE;
	case QUEUE_DSN_DELAYED:
		return QUEUE_NOTIFY_DELAY;
	case QUEUE_DSN_DELIVERED:
	case QUEUE_DSN_RELAYED:
		return QUEUE_NOTIFY_SUCCESS;
	}
	return 0;
}

/* Does recipient r ask for a DSN of this kind?  (RFC 3461 4.1) */
static int
dsn_due(const struct queue_rcpt *r, enum queue_dsn_kind kind)
{
	unsigned notify = r->notify;

	if (notify & QUEUE_NOTIFY_NEVER)
		return 0;
	if (notify == 0)
		notify = QUEUE_NOTIFY_FAILURE | QUEUE_NOTIFY_DELAY;
	return (notify & dsn_wanted_bit(kind)) != 0;
}

struct dsn_ctx {
	const struct queue_msg *orig;
	const struct queue_dsn_opts *o;
	enum queue_dsn_kind kind;
	const struct queue_rcpt **r;	/* reported recipients */
	size_t n;
	char host[256];			/* cleaned reporting MTA */
	int utf8;
	int full;			/* return the whole original */
	int64_t now;
};

static const char *
dsn_status(const struct dsn_ctx *c, const struct queue_rcpt *r)
{
	if (dsn_status_valid(r->status))
		return r->status;
	return c->kind == QUEUE_DSN_FAILED ? "5.0.0" :
	    c->kind == QUEUE_DSN_DELAYED ? "4.0.0" : "2.0.0";
}

static void
dsn_human(struct dynbuf *b, const struct dsn_ctx *c)
{
	char text[DSN_TEXT_MAX + 1], addr[QUEUE_ADDR_MAX + 1], date[64];
	size_t i;

	dynbuf_addf(b, "This is the mail delivery system at %s.\r\n\r\n",
	    c->host);
	switch (c->kind) {
	case QUEUE_DSN_FAILED:
		dsn_put_folded(b, "", "Your message could not be delivered "
		    "to the recipients listed below; delivery has been given "
		    "up.  The reasons are given for each recipient.", "");
		break;
	case QUEUE_DSN_DELAYED:
		dsn_put_folded(b, "", "Your message has not been delivered "
		    "yet to the recipients listed below.  The mail system will "
		    "keep trying; you do not need to send it again.", "");
		if (c->o->retry_until > 0) {
			util_rfc5322_date(c->o->retry_until, date, sizeof(date));
			dynbuf_addf(b, "Delivery will be attempted until %s.\r\n",
			    date);
		}
		break;
	case QUEUE_DSN_DELIVERED:
		dsn_put_folded(b, "", "Your message was delivered to the "
		    "recipients listed below.", "");
		break;
	case QUEUE_DSN_RELAYED:
		dsn_put_folded(b, "", "Your message was handed to the next mail "
		    "server for the recipients listed below.  That server does "
		    "not offer delivery status notifications, so this is the "
		    "last report you will get about them.", "");
		break;
	}
	dynbuf_addstr(b, "\r\n");
	for (i = 0; i < c->n; i++) {
		const struct queue_rcpt *r = c->r[i];

		dsn_clean(r->addr, addr, sizeof(addr), c->utf8);
		dynbuf_addf(b, "<%s>: status %s\r\n", addr, dsn_status(c, r));
		if (r->relay) {
			dsn_clean(r->relay, text, sizeof(text), 0);
			dsn_put_folded(b, "    remote server: ", text,
			    "        ");
		}
		if (r->reply) {
			dsn_clean(r->reply, text, sizeof(text), 0);
			dsn_put_folded(b, dsn_is_smtp_reply(r) ?
			    "    it said: " : "    reason: ", text, "        ");
		}
		if (r->tls) {
			dsn_clean(r->tls, text, sizeof(text), 0);
			dsn_put_folded(b, "    TLS: ", text, "        ");
		}
		dynbuf_addstr(b, "\r\n");
	}
	if (c->orig->body == NULL)
		dynbuf_addstr(b, "The original message is not available.\r\n");
	else if (c->full)
		dynbuf_addstr(b, "Your message is attached.\r\n");
	else
		dynbuf_addstr(b, "The headers of your message are attached.\r\n");
}

static void
dsn_report(struct dynbuf *b, const struct dsn_ctx *c)
{
	char text[DSN_TEXT_MAX + 1], date[64], field[DSN_TEXT_MAX + 32];
	const char *atype = c->utf8 ? "utf-8" : "rfc822";
	size_t i;

	dynbuf_addf(b, "Reporting-MTA: dns; %s\r\n", c->host);
	if (c->orig->envid) {
		dsn_clean(c->orig->envid, text, sizeof(text), 0);
		dsn_put_folded(b, "Original-Envelope-Id: ", text, " ");
	}
	util_rfc5322_date(c->orig->arrival, date, sizeof(date));
	dynbuf_addf(b, "Arrival-Date: %s\r\n", date);
	for (i = 0; i < c->n; i++) {
		const struct queue_rcpt *r = c->r[i];

		dynbuf_addstr(b, "\r\n");
		if (r->orcpt) {
			dsn_clean(r->orcpt, text, sizeof(text), c->utf8);
			dsn_put_folded(b, "Original-Recipient: ", text, " ");
		}
		dsn_clean(r->addr, text, sizeof(text), c->utf8);
		snprintf(field, sizeof(field), "%s; %s", atype, text);
		dsn_put_folded(b, "Final-Recipient: ", field, " ");
		dynbuf_addf(b, "Action: %s\r\nStatus: %s\r\n",
		    c->kind == QUEUE_DSN_FAILED ? "failed" :
		    c->kind == QUEUE_DSN_DELAYED ? "delayed" :
		    c->kind == QUEUE_DSN_RELAYED ? "relayed" : "delivered",
		    dsn_status(c, r));
		if (r->relay) {
			/* "name[ip]:port" -> the name is what dns; wants */
			dsn_clean(r->relay, text, sizeof(text), 0);
			text[strcspn(text, "[ ")] = '\0';
			if (text[0] != '\0')
				dynbuf_addf(b, "Remote-MTA: dns; %s\r\n", text);
		}
		if (r->reply) {
			size_t rlen = 0;
			const char *reply = dsn_smtp_reply(r, &rlen);
			char raw[DSN_TEXT_MAX + 1];

			if (reply != NULL) {
				if (rlen > DSN_TEXT_MAX)
					rlen = DSN_TEXT_MAX;
				memcpy(raw, reply, rlen);
				raw[rlen] = '\0';
			}
			dsn_clean(reply ? raw : r->reply, text, sizeof(text), 0);
			snprintf(field, sizeof(field), "%s; %s",
			    reply ? "smtp" : "X-Sealpost", text);
			dsn_put_folded(b, "Diagnostic-Code: ", field, " ");
		}
		if (r->last_try > 0) {
			util_rfc5322_date(r->last_try, date, sizeof(date));
			dynbuf_addf(b, "Last-Attempt-Date: %s\r\n", date);
		}
		if (c->kind == QUEUE_DSN_DELAYED && c->o->retry_until > 0) {
			util_rfc5322_date(c->o->retry_until, date, sizeof(date));
			dynbuf_addf(b, "Will-Retry-Until: %s\r\n", date);
		}
	}
}

static void
dsn_original(struct dynbuf *b, const struct dsn_ctx *c)
{
	const struct queue_msg *o = c->orig;
	int global = (o->flags & QUEUE_MSG_SMTPUTF8) != 0;

	if (c->full) {
		dynbuf_addf(b, "Content-Description: Undelivered Message\r\n"
		    "Content-Type: %s\r\n", global ? "message/global" :
		    "message/rfc822");
		if (o->flags & QUEUE_MSG_8BITMIME)
			dynbuf_addstr(b, "Content-Transfer-Encoding: 8bit\r\n");
		dynbuf_addstr(b, "\r\n");
		dsn_put_crlf(b, o->body, o->body_len);
	} else {
		dynbuf_addf(b, "Content-Description: Message Headers\r\n"
		    "Content-Type: %s\r\n", global ?
		    "message/global-headers" : "text/rfc822-headers");
		if (o->flags & (QUEUE_MSG_8BITMIME | QUEUE_MSG_SMTPUTF8))
			dynbuf_addstr(b, "Content-Transfer-Encoding: 8bit\r\n");
		dynbuf_addstr(b, "\r\n");
		dsn_put_crlf(b, o->body, dsn_header_len(o->body, o->body_len));
	}
}

static const char *
dsn_subject(enum queue_dsn_kind kind)
{
	return kind == QUEUE_DSN_FAILED ? "Undelivered Mail Returned to Sender" :
	    kind == QUEUE_DSN_DELAYED ? "Delayed Mail (still being retried)" :
	    kind == QUEUE_DSN_RELAYED ? "Relayed Mail Delivery Report" :
	    "Successful Mail Delivery Report";
}

/* A boundary that cannot occur in the returned original. */
static void
dsn_boundary(const struct dsn_ctx *c, const char *qid, char *out,
    size_t outlen)
{
	unsigned k = 0;

	snprintf(out, outlen, "%s/%s", qid, c->host);
	while (c->orig->body != NULL &&
	    memmem(c->orig->body, c->orig->body_len, out, strlen(out)) != NULL)
		snprintf(out, outlen, "%s/%s/%u", qid, c->host, ++k);
}

struct queue_msg *
queue_dsn_build_opts(const struct queue_msg *orig, const size_t *idx,
    size_t n, enum queue_dsn_kind kind, const char *rcpt_to,
    const char *reporting_mta, int64_t now, const struct queue_dsn_opts *opts)
{
	static const struct queue_dsn_opts defaults = { 0, 0 };
	struct dsn_ctx c;
	struct queue_msg *m;
	struct dynbuf b;
	char bound[400], date[64], to[QUEUE_ADDR_MAX + 1];
	size_t i, return_max;

	if (rcpt_to == NULL || rcpt_to[0] == '\0' || orig == NULL)
		return NULL;
	memset(&c, 0, sizeof(c));
	c.orig = orig;
	c.o = opts ? opts : &defaults;
	c.kind = kind;
	c.now = now;
	c.r = xcalloc(n ? n : 1, sizeof(*c.r));
	for (i = 0; i < n; i++) {
		const struct queue_rcpt *r;

		if (idx[i] >= orig->nrcpt)
			continue;
		r = &orig->rcpt[idx[i]];
		if (!dsn_due(r, kind))
			continue;
		c.r[c.n++] = r;
		if (!dsn_is_ascii(r->addr) || !dsn_is_ascii(r->orcpt))
			c.utf8 = 1;
	}
	if (c.n == 0) {
		free(c.r);
		return NULL;
	}
	dsn_clean(reporting_mta, c.host, sizeof(c.host), 0);
	return_max = c.o->return_max ? c.o->return_max : QUEUE_DSN_RETURN_MAX;
	c.full = orig->body != NULL && kind == QUEUE_DSN_FAILED &&
	    orig->ret != QUEUE_RET_HDRS && orig->body_len <= return_max;

	m = queue_msg_new();
	queue_id_new(m->qid);
	m->arrival = now;
	m->flags = QUEUE_MSG_DSN;
	if (c.utf8 || !dsn_is_ascii(rcpt_to))
		m->flags |= QUEUE_MSG_SMTPUTF8 | QUEUE_MSG_8BITMIME;
	if (orig->body != NULL)
		m->flags |= orig->flags & (QUEUE_MSG_8BITMIME | QUEUE_MSG_SMTPUTF8);
	queue_msg_add_rcpt(m, rcpt_to, NULL, 0);
	dsn_boundary(&c, m->qid, bound, sizeof(bound));

	dynbuf_init(&b, DSN_BUF_MAX);
	util_rfc5322_date(now, date, sizeof(date));
	dsn_clean(rcpt_to, to, sizeof(to), 1);
	dynbuf_addf(&b, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n",
	    c.host);
	dynbuf_addf(&b, "To: <%s>\r\n", to);
	dynbuf_addf(&b, "Subject: %s\r\nDate: %s\r\nMessage-ID: <%s@%s>\r\n"
	    "MIME-Version: 1.0\r\nContent-Type: multipart/report; "
	    "report-type=delivery-status;\r\n\tboundary=\"%s\"\r\n"
	    "Auto-Submitted: auto-replied\r\n\r\n"
	    "This is a MIME-encapsulated message.\r\n\r\n",
	    dsn_subject(kind), date, m->qid, c.host, bound);

	dynbuf_addf(&b, "--%s\r\nContent-Description: Notification\r\n"
	    "Content-Type: text/plain; charset=%s\r\n\r\n", bound,
	    c.utf8 ? "utf-8" : "us-ascii");
	dsn_human(&b, &c);
	dynbuf_addf(&b, "\r\n--%s\r\nContent-Description: Delivery report\r\n"
	    "Content-Type: %s\r\n\r\n", bound, c.utf8 ?
	    "message/global-delivery-status" : "message/delivery-status");
	dsn_report(&b, &c);
	if (orig->body != NULL) {
		dynbuf_addf(&b, "\r\n--%s\r\n", bound);
		dsn_original(&b, &c);
	}
	dynbuf_addf(&b, "\r\n--%s--\r\n", bound);
	/* the buffer limit is above QUEUE_DROP_MAX plus our text; a body
	 * past it was refused at the door, so this cannot trip */
	m->body = dynbuf_take(&b, &m->body_len);
	m->size = m->body_len;
	free(c.r);
	return m;
}

struct queue_msg *
queue_dsn_build(const struct queue_msg *orig, const size_t *idx, size_t n,
    enum queue_dsn_kind kind, const char *rcpt_to, const char *reporting_mta,
    int64_t now)
{
	return queue_dsn_build_opts(orig, idx, n, kind, rcpt_to, reporting_mta,
	    now, NULL);
}
