/*
 * mta_chat.c - reading SMTP replies, bounded and incrementally.
 *
 * The parser is fed whatever bytes the connection produced and says
 * need-more, done or invalid; it keeps its partial line between calls, so
 * a reply split over many reads, or several pipelined replies in one
 * read, come out the same.  Everything the peer sends is bounded: line
 * length (MTA_REPLY_LINE_MAX), lines per reply (MTA_REPLY_LINES_MAX) and
 * kept text (MTA_REPLY_TEXT_MAX, further text is dropped, not refused).
 *
 * RFC 5321 4.2: a reply is one or more lines "NNN-text" ending with one
 * "NNN text" (or just "NNN"); the code is the same on every line and the
 * first digit is 2..5 (1yz is never used by SMTP).  Postfix's smtp_chat.c
 * treats a code change mid-reply as a protocol error; so do we.
 */
#include <stdio.h>
#include <string.h>

#include "mta_int.h"

void
mta_reply_init(struct mta_reply *r)
{
	memset(r, 0, sizeof(*r));
	dynbuf_init(&r->text, MTA_REPLY_TEXT_MAX);
}

void
mta_reply_reset(struct mta_reply *r)
{
	r->code = 0;
	r->nlines = 0;
	r->error[0] = '\0';
	r->linelen = 0;
	r->done = 0;
	dynbuf_reset(&r->text);
}

void
mta_reply_free(struct mta_reply *r)
{
	dynbuf_free(&r->text);
}

static enum mta_chat_rc
mta_reply_invalid(struct mta_reply *r, const char *why)
{
	snprintf(r->error, sizeof(r->error), "%s", why);
	return MTA_CHAT_INVALID;
}

/* One complete line (without CR LF) into the reply. */
static enum mta_chat_rc
mta_reply_line(struct mta_reply *r, const char *l, size_t len)
{
	int code;
	size_t tlen;

	if (len < 3 || l[0] < '2' || l[0] > '5' || l[1] < '0' || l[1] > '9' ||
	    l[2] < '0' || l[2] > '9')
		return mta_reply_invalid(r, "malformed reply code");
	if (len > 3 && l[3] != ' ' && l[3] != '-')
		return mta_reply_invalid(r, "malformed reply line");
	code = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
	if (r->nlines > 0 && code != r->code)
		return mta_reply_invalid(r, "reply code changed mid-reply");
	if (r->nlines >= MTA_REPLY_LINES_MAX)
		return mta_reply_invalid(r, "too many lines in reply");
	r->code = code;
	r->nlines++;
	tlen = len > 4 ? len - 4 : 0;
	/* Text beyond the cap is dropped: it only feeds logs and DSNs. */
	if (r->nlines > 1)
		(void)dynbuf_add(&r->text, "\n", 1);
	if (tlen > 0)
		(void)dynbuf_add(&r->text, l + 4, tlen);
	if (len == 3 || l[3] == ' ') {
		r->done = 1;
		return MTA_CHAT_DONE;
	}
	return MTA_CHAT_NEED_MORE;
}

enum mta_chat_rc
mta_reply_feed(struct mta_reply *r, const char *buf, size_t len,
    size_t *used)
{
	size_t i;

	*used = 0;
	if (r->done)
		return MTA_CHAT_DONE;
	for (i = 0; i < len; i++) {
		char c = buf[i];
		enum mta_chat_rc rc;

		if (c != '\n') {
			/* The limit counts text, not the CR of CRLF. */
			if (r->linelen >= MTA_REPLY_LINE_MAX + (c == '\r')) {
				*used = i + 1;
				return mta_reply_invalid(r,
				    "reply line too long");
			}
			r->line[r->linelen++] = c;
			continue;
		}
		if (r->linelen > 0 && r->line[r->linelen - 1] == '\r')
			r->linelen--;
		rc = mta_reply_line(r, r->line, r->linelen);
		r->linelen = 0;
		if (rc != MTA_CHAT_NEED_MORE) {
			*used = i + 1;
			return rc;
		}
	}
	*used = len;
	return MTA_CHAT_NEED_MORE;
}

/* 1..3 digits at s[*i], advancing *i; -1 if none or more than 3. */
static int
mta_status_digits(const char *s, size_t len, size_t *i)
{
	size_t start = *i;

	while (*i < len && s[*i] >= '0' && s[*i] <= '9')
		(*i)++;
	return (*i - start >= 1 && *i - start <= 3) ? 0 : -1;
}

int
mta_status_parse(const char *text, size_t len, int code, char out[16])
{
	size_t i = 0;

	/* RFC 3463 2: the class is 2, 4 or 5. */
	if (len < 5 || (text[0] != '2' && text[0] != '4' && text[0] != '5') ||
	    text[1] != '.')
		return -1;
	if (code / 100 != text[0] - '0')
		return -1;	/* "250 5.1.1" is lying about one of them */
	i = 2;
	if (mta_status_digits(text, len, &i) < 0 || i >= len || text[i] != '.')
		return -1;
	i++;
	if (mta_status_digits(text, len, &i) < 0)
		return -1;
	if (i < len && text[i] != ' ')
		return -1;
	memcpy(out, text, i);
	out[i] = '\0';
	return 0;
}

void
mta_reply_dsn(const struct mta_reply *r, char out[16])
{
	const char *t = r->text.p ? r->text.p : "";
	const char *nl = memchr(t, '\n', r->text.len);
	size_t first = nl ? (size_t)(nl - t) : r->text.len;

	if (mta_status_parse(t, first, r->code, out) == 0)
		return;
	snprintf(out, 16, "%d.0.0", r->code / 100);
}

void
mta_reply_oneline(const struct mta_reply *r, char *out, size_t outlen)
{
	char joined[MTA_TEXT_MAX];
	size_t i, n = 0;
	int k;

	k = snprintf(joined, sizeof(joined), "%03d", r->code);
	n = (k > 0) ? (size_t)k : 0;
	if (r->text.len > 0 && n + 1 < sizeof(joined))
		joined[n++] = ' ';
	for (i = 0; i < r->text.len && n < sizeof(joined); i++)
		joined[n++] = (r->text.p[i] == '\n') ? ' ' : r->text.p[i];
	/* util_printable marks truncation with "..." when it cuts. */
	util_printable(joined, n, out, outlen);
}
