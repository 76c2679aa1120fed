/*
 * mta_ehlo.c - what the server offers (EHLO keywords) and the MAIL/RCPT
 * command lines we send because of it.
 *
 * Parameters go out only when the server announced the extension:
 * SIZE (RFC 1870), BODY=8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531), and
 * RET/ENVID/NOTIFY/ORCPT (RFC 3461 DSN).  ENVID and the address part of
 * ORCPT are stored decoded in the queue and xtext-encoded here.
 *
 * Addresses come from our own queue, which validated them, but a CR or
 * LF reaching a command line would let a message inject SMTP commands,
 * so every address is checked again right before it is written.
 */
#include <string.h>

#include "mta_int.h"

#define MTA_SIZE_MAX_VALUE	((uint64_t)1 << 53)	/* sanity bound */

/* Keyword at the start of line l (len), case-insensitively, followed by
 * end, space or '='; returns the offset after it or 0. */
static size_t
mta_ehlo_keyword(const char *l, size_t len, const char *kw)
{
	size_t n = strlen(kw);

	if (len < n || util_strncasecmp(l, kw, n) != 0)
		return 0;
	if (len > n && l[n] != ' ' && l[n] != '=')
		return 0;
	return n;
}

static void
mta_ehlo_auth(struct mta_ehlo *e, const char *p, size_t len)
{
	size_t have = strlen(e->auth);

	/* Mechanisms are atoms; anything else is dropped.  The list is
	 * capped; a server offering more than fits loses the tail. */
	while (len > 0) {
		size_t w = 0, i;
		int ok = 1;

		while (len > 0 && (*p == ' ' || *p == '='))
			p++, len--;
		while (w < len && p[w] != ' ')
			w++;
		if (w == 0)
			break;
		for (i = 0; i < w; i++) {
			char c = p[i];

			if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			    (c >= '0' && c <= '9') || c == '-' || c == '_'))
				ok = 0;
		}
		if (ok && have + w + 2 < sizeof(e->auth)) {
			if (have)
				e->auth[have++] = ' ';
			memcpy(e->auth + have, p, w);
			have += w;
			e->auth[have] = '\0';
		}
		p += w;
		len -= w;
	}
}

void
mta_ehlo_parse(const struct mta_reply *r, struct mta_ehlo *e)
{
	const char *t = r->text.p ? r->text.p : "";
	size_t left = r->text.len, k;
	const char *nl;
	int first = 1;

	memset(e, 0, sizeof(*e));
	while (left > 0 || first) {
		size_t len;

		nl = memchr(t, '\n', left);
		len = nl ? (size_t)(nl - t) : left;
		if (!first) {
			if (mta_ehlo_keyword(t, len, "PIPELINING"))
				e->flags |= MTA_EXT_PIPELINING;
			else if (mta_ehlo_keyword(t, len, "8BITMIME"))
				e->flags |= MTA_EXT_8BITMIME;
			else if (mta_ehlo_keyword(t, len, "SMTPUTF8"))
				e->flags |= MTA_EXT_SMTPUTF8;
			else if (mta_ehlo_keyword(t, len, "STARTTLS"))
				e->flags |= MTA_EXT_STARTTLS;
			else if (mta_ehlo_keyword(t, len, "DSN"))
				e->flags |= MTA_EXT_DSN;
			else if (mta_ehlo_keyword(t, len, "ENHANCEDSTATUSCODES"))
				e->flags |= MTA_EXT_ENHANCED;
			else if ((k = mta_ehlo_keyword(t, len, "AUTH")) != 0) {
				e->flags |= MTA_EXT_AUTH;
				mta_ehlo_auth(e, t + k, len - k);
			} else if ((k = mta_ehlo_keyword(t, len, "SIZE")) != 0) {
				uint64_t v;

				e->flags |= MTA_EXT_SIZE;
				if (k < len && util_parse_uint(t + k + 1,
				    len - k - 1, MTA_SIZE_MAX_VALUE, &v) == 0)
					e->size_max = v;
			}
		}
		first = 0;
		if (nl == NULL)
			break;
		t = nl + 1;
		left -= len + 1;
	}
}

int
mta_addr_ok(const char *addr)
{
	const unsigned char *p;

	if (addr == NULL || strlen(addr) >= QUEUE_ADDR_MAX)
		return -1;
	for (p = (const unsigned char *)addr; *p; p++)
		if (*p < 0x20 || *p == 0x7f || *p == '<' || *p == '>')
			return -1;
	return 0;
}

int
mta_xtext(struct dynbuf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p; p++) {
		if (*p >= '!' && *p <= '~' && *p != '+' && *p != '=') {
			if (dynbuf_add(b, p, 1) < 0)
				return -1;
		} else {
			char enc[3] = { '+', hex[*p >> 4], hex[*p & 15] };

			if (dynbuf_add(b, enc, 3) < 0)
				return -1;
		}
	}
	return 0;
}

int
mta_cmd_mail(struct dynbuf *b, const struct queue_msg *msg,
    const struct mta_ehlo *e)
{
	const char *sender = msg->sender ? msg->sender : "";

	dynbuf_reset(b);
	if (mta_addr_ok(sender) < 0)
		return -1;
	if (dynbuf_addf(b, "MAIL FROM:<%s>", sender) < 0)
		return -1;
	if ((e->flags & MTA_EXT_SIZE) &&
	    dynbuf_addf(b, " SIZE=%zu", msg->size) < 0)
		return -1;
	if ((msg->flags & QUEUE_MSG_8BITMIME) && (e->flags & MTA_EXT_8BITMIME) &&
	    dynbuf_addstr(b, " BODY=8BITMIME") < 0)
		return -1;
	if ((msg->flags & QUEUE_MSG_SMTPUTF8) && (e->flags & MTA_EXT_SMTPUTF8) &&
	    dynbuf_addstr(b, " SMTPUTF8") < 0)
		return -1;
	if (e->flags & MTA_EXT_DSN) {
		if (msg->ret == QUEUE_RET_FULL &&
		    dynbuf_addstr(b, " RET=FULL") < 0)
			return -1;
		if (msg->ret == QUEUE_RET_HDRS &&
		    dynbuf_addstr(b, " RET=HDRS") < 0)
			return -1;
		if (msg->envid && msg->envid[0] &&
		    (dynbuf_addstr(b, " ENVID=") < 0 ||
		    mta_xtext(b, msg->envid) < 0))
			return -1;
	}
	return dynbuf_addstr(b, "\r\n");
}

/* "rfc822;addr" -> " ORCPT=rfc822;xtext(addr)"; a malformed value is
 * left out rather than failing the recipient. */
static int
mta_cmd_orcpt(struct dynbuf *b, const char *orcpt)
{
	const char *semi = strchr(orcpt, ';');
	size_t i, tlen;

	if (semi == NULL || semi == orcpt || semi[1] == '\0')
		return 0;
	tlen = (size_t)(semi - orcpt);
	for (i = 0; i < tlen; i++) {
		char c = orcpt[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-'))
			return 0;
	}
	if (dynbuf_addstr(b, " ORCPT=") < 0 || dynbuf_add(b, orcpt, tlen) < 0 ||
	    dynbuf_add(b, ";", 1) < 0)
		return -1;
	return mta_xtext(b, semi + 1);
}

int
mta_cmd_rcpt(struct dynbuf *b, const struct queue_rcpt *r,
    const struct mta_ehlo *e)
{
	dynbuf_reset(b);
	if (mta_addr_ok(r->addr) < 0 || r->addr[0] == '\0')
		return -1;
	if (dynbuf_addf(b, "RCPT TO:<%s>", r->addr) < 0)
		return -1;
	if (e->flags & MTA_EXT_DSN) {
		if (r->notify & QUEUE_NOTIFY_NEVER) {
			if (dynbuf_addstr(b, " NOTIFY=NEVER") < 0)
				return -1;
		} else if (r->notify != 0) {
			const char *sep = " NOTIFY=";

			if (r->notify & QUEUE_NOTIFY_SUCCESS) {
				if (dynbuf_addf(b, "%sSUCCESS", sep) < 0)
					return -1;
				sep = ",";
			}
			if (r->notify & QUEUE_NOTIFY_FAILURE) {
				if (dynbuf_addf(b, "%sFAILURE", sep) < 0)
					return -1;
				sep = ",";
			}
			if ((r->notify & QUEUE_NOTIFY_DELAY) &&
			    dynbuf_addf(b, "%sDELAY", sep) < 0)
				return -1;
		}
		if (r->orcpt && mta_cmd_orcpt(b, r->orcpt) < 0)
			return -1;
	}
	return dynbuf_addstr(b, "\r\n");
}
