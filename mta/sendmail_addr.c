/*
 * sendmail_addr.c - RFC 5322 address lists and envelope address checks.
 *
 * The list parser is a single pass over the bytes with a little state
 * (inside <>, inside a group, last token a word) instead of a full
 * grammar: recipients must be found in what real mail programs write,
 * including obsolete forms (routes, CFWS around dots, groups), while
 * anything ambiguous is refused rather than guessed at.  Display names
 * and comments are thrown away; only the addr-spec is handed on.  Every
 * buffer is fixed size and every loop is bounded by the input length;
 * comment nesting is capped so hostile input cannot make us recurse.
 *
 * Addresses are then checked loosely (we relay; the next hop decides
 * what it delivers) but safely: no control bytes, no unquoted white
 * space, valid UTF-8, one unquoted '@', sane lengths.
 */
#include <string.h>

#include "queue.h"
#include "sendmail.h"

#define ADDR_COMMENT_DEPTH	32	/* nested comments are legal; cap them */
#define ADDR_LOCAL_MAX		64	/* RFC 5321 4.5.3.1.1 */
#define ADDR_DOMAIN_MAX		255	/* RFC 5321 4.5.3.1.2 */

struct addr_buf {
	char   s[QUEUE_ADDR_MAX + 1];
	size_t len;
	int    overflow;
};

struct addr_state {
	struct addr_buf cur;		/* text outside <> (addr-spec or phrase) */
	struct addr_buf angle;		/* text inside <> */
	int in_angle, have_angle, in_group;
	int last_word;			/* last token was an atom/quoted word */
	int gap;			/* CFWS since the last token */
	int phrase;			/* two words with only CFWS between */
	int cur_at;			/* an '@' outside <> */
};

static int
addr_fail(char *err, size_t errlen, const char *why)
{
	snprintf(err, errlen, "%s", why);
	return -1;
}

static void
buf_put(struct addr_buf *b, char c)
{
	if (b->len >= sizeof(b->s) - 1) {
		b->overflow = 1;
		return;
	}
	b->s[b->len++] = c;
	b->s[b->len] = '\0';
}

static void
addr_reset(struct addr_state *st)
{
	st->cur.len = st->angle.len = 0;
	st->cur.overflow = st->angle.overflow = 0;
	st->cur.s[0] = st->angle.s[0] = '\0';
	st->have_angle = st->last_word = st->gap = st->phrase = 0;
	st->cur_at = 0;
}

/* A word token (atom run or quoted string) starts: note phrases. */
static void
addr_word(struct addr_state *st)
{
	if (!st->in_angle && st->last_word && st->gap)
		st->phrase = 1;
	st->last_word = 1;
	st->gap = 0;
}

static int
addr_flush(struct addr_state *st, sendmail_addr_cb cb, void *arg,
    char *err, size_t errlen)
{
	const struct addr_buf *a = st->have_angle ? &st->angle : &st->cur;
	int rc = 0;

	if (!st->have_angle && st->phrase)
		rc = addr_fail(err, errlen,
		    "display name without <address>");
	else if (st->have_angle && st->cur_at)
		rc = addr_fail(err, errlen,
		    "address before <address> (missing comma?)");
	else if (a->overflow)
		rc = addr_fail(err, errlen, "address too long");
	else if (a->len > 0)
		rc = cb(arg, a->s, a->len, err, errlen);
	addr_reset(st);
	return rc;
}

static int
addr_special(unsigned char c)
{
	return strchr("()<>[]:;@\\,.\"", c) != NULL && c != '\0';
}

int
sendmail_addr_list(const char *s, size_t len, sendmail_addr_cb cb, void *arg,
    char *err, size_t errlen)
{
	struct addr_state st;
	size_t i = 0;

	memset(&st, 0, sizeof(st));
	addr_reset(&st);
	while (i < len) {
		unsigned char c = (unsigned char)s[i];
		struct addr_buf *b = st.in_angle ? &st.angle : &st.cur;

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			st.gap = 1;
			i++;
		} else if (c == '(') {
			int depth = 0;

			for (; i < len; i++) {
				if (s[i] == '\\' && i + 1 < len)
					i++;
				else if (s[i] == '(' &&
				    ++depth > ADDR_COMMENT_DEPTH)
					return addr_fail(err, errlen,
					    "comments nested too deeply");
				else if (s[i] == ')' && --depth == 0)
					break;
			}
			if (i >= len)
				return addr_fail(err, errlen,
				    "unterminated comment");
			st.gap = 1;
			i++;
		} else if (c == '"') {
			addr_word(&st);
			buf_put(b, '"');
			for (i++; i < len && s[i] != '"'; i++) {
				if (s[i] == '\r' || s[i] == '\n')
					continue;	/* folding inside quotes */
				if (s[i] == '\\' && i + 1 < len)
					buf_put(b, s[i++]);
				buf_put(b, s[i]);
			}
			if (i >= len)
				return addr_fail(err, errlen,
				    "unterminated quoted string");
			buf_put(b, '"');
			i++;
		} else if (c == '[') {
			/* domain-literal: only right after the '@' */
			if (b->len == 0 || b->s[b->len - 1] != '@')
				return addr_fail(err, errlen, "misplaced '['");
			addr_word(&st);
			buf_put(b, '[');
			for (i++; i < len && s[i] != ']'; i++) {
				if (s[i] == '[' || s[i] == '\\')
					return addr_fail(err, errlen,
					    "bad domain literal");
				if (s[i] != ' ' && s[i] != '\t' &&
				    s[i] != '\r' && s[i] != '\n')
					buf_put(b, s[i]);
			}
			if (i >= len)
				return addr_fail(err, errlen,
				    "unterminated domain literal");
			buf_put(b, ']');
			i++;
		} else if (c == '<') {
			if (st.in_angle || st.have_angle)
				return addr_fail(err, errlen, "misplaced '<'");
			st.in_angle = 1;
			st.last_word = st.gap = 0;
			i++;
			while (i < len && strchr(" \t\r\n", s[i]) != NULL)
				i++;
			if (i < len && s[i] == '@') {
				/* obs-route "<@a,@b:user@host>": drop it */
				while (i < len && s[i] != ':' && s[i] != '>')
					i++;
				if (i >= len || s[i] != ':')
					return addr_fail(err, errlen,
					    "bad source route");
				i++;
			}
		} else if (c == '>') {
			if (!st.in_angle)
				return addr_fail(err, errlen, "misplaced '>'");
			st.in_angle = 0;
			st.have_angle = 1;
			i++;
		} else if (c == ':' && !st.in_angle) {
			if (st.in_group)
				return addr_fail(err, errlen, "nested group");
			st.in_group = 1;	/* what came before was its name */
			addr_reset(&st);
			i++;
		} else if ((c == ',' || c == ';') && !st.in_angle) {
			if (addr_flush(&st, cb, arg, err, errlen) < 0)
				return -1;
			if (c == ';')
				st.in_group = 0;
			i++;
		} else if (c == '.' || c == '@') {
			if (c == '@' && !st.in_angle)
				st.cur_at = 1;
			buf_put(b, (char)c);
			st.last_word = st.gap = 0;
			i++;
		} else if (addr_special(c) || c < 0x20 || c == 0x7f) {
			return addr_fail(err, errlen,
			    "unexpected character in address");
		} else {
			addr_word(&st);
			while (i < len) {
				c = (unsigned char)s[i];
				if (c <= 0x20 || c == 0x7f || addr_special(c))
					break;
				buf_put(b, (char)c);
				i++;
			}
		}
	}
	if (st.in_angle)
		return addr_fail(err, errlen, "missing '>'");
	/* A group without its ';' is taken as if it had one. */
	return addr_flush(&st, cb, arg, err, errlen);
}

/* Length of a valid UTF-8 sequence at p (max n bytes), 0 if invalid. */
static size_t
addr_utf8_len(const unsigned char *p, size_t n)
{
	size_t need, k;
	uint32_t cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		need = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		need = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		need = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if (need > n)
		return 0;
	for (k = 1; k < need; k++) {
		if ((p[k] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[k] & 0x3f);
	}
	if ((need == 3 && cp < 0x800) || (need == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return need;
}

static int
addr_domain_ok(const char *d, size_t n)
{
	size_t i;

	if (n == 0 || n > ADDR_DOMAIN_MAX)
		return -1;
	if (d[0] == '[')
		return (n >= 3 && d[n - 1] == ']' &&
		    memchr(d + 1, '[', n - 2) == NULL &&
		    memchr(d + 1, ']', n - 2) == NULL) ? 0 : -1;
	if (d[0] == '.' || d[n - 1] == '.')
		return -1;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)d[i];

		if (c == '.' && d[i + 1] == '.')
			return -1;
		if (!(c >= 0x80 || (c >= 'a' && c <= 'z') ||
		    (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_'))
			return -1;
	}
	return 0;
}

int
sendmail_addr_qualify(const char *addr, size_t len, const char *myhostname,
    char *out, size_t outlen, int *utf8, char *err, size_t errlen)
{
	size_t i, at = (size_t)-1, dlen;
	int quoted = 0, escaped = 0;

	if (len == 0)
		return addr_fail(err, errlen, "empty address");
	if (len > QUEUE_ADDR_MAX)
		return addr_fail(err, errlen, "address too long");
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)addr[i];
		size_t n;

		if (c < 0x20 || c == 0x7f)
			return addr_fail(err, errlen,
			    "control character in address");
		if (c >= 0x80) {
			if ((n = addr_utf8_len((const unsigned char *)addr + i,
			    len - i)) == 0)
				return addr_fail(err, errlen,
				    "address is not valid UTF-8");
			*utf8 = 1;
			i += n - 1;
			escaped = 0;
			continue;
		}
		/* A quoted-pair escapes only quoting: the escaped byte has
		 * passed the control and UTF-8 checks above like any other. */
		if (escaped) {
			escaped = 0;
			continue;
		}
		if (quoted) {
			if (c == '\\')
				escaped = 1;
			else if (c == '"')
				quoted = 0;
			continue;
		}
		if (c == '"' && (i == 0 || addr[i - 1] == '.'))
			quoted = 1;
		else if (c == '@' && at == (size_t)-1)
			at = i;
		else if (at == (size_t)-1 && strchr("()<>[]:;@\\,\" \t", c))
			return addr_fail(err, errlen,
			    "bad character in local part");
	}
	if (quoted)
		return addr_fail(err, errlen, "unterminated quoted string");
	if (at == 0)
		return addr_fail(err, errlen, "empty local part");
	if ((at == (size_t)-1 ? len : at) > ADDR_LOCAL_MAX)
		return addr_fail(err, errlen, "local part too long");
	if (at == (size_t)-1) {
		dlen = strlen(myhostname);
		if (len + 1 + dlen > QUEUE_ADDR_MAX || len + 1 + dlen >= outlen)
			return addr_fail(err, errlen, "address too long");
		memcpy(out, addr, len);
		out[len] = '@';
		memcpy(out + len + 1, myhostname, dlen + 1);
		return 0;
	}
	if (addr_domain_ok(addr + at + 1, len - at - 1) < 0)
		return addr_fail(err, errlen, "bad domain");
	if (len >= outlen)
		return addr_fail(err, errlen, "address too long");
	memcpy(out, addr, len);
	out[len] = '\0';
	return 0;
}

struct addr_one {
	char   addr[QUEUE_ADDR_MAX + 1];
	size_t len;
	int    count;
};

static int
addr_take_one(void *arg, const char *addr, size_t len, char *err,
    size_t errlen)
{
	struct addr_one *one = arg;

	if (one->count++ > 0)
		return addr_fail(err, errlen, "more than one sender address");
	if (len >= sizeof(one->addr))
		return addr_fail(err, errlen, "address too long");
	memcpy(one->addr, addr, len);	/* addr lives in the parser state */
	one->len = len;
	return 0;
}

int
sendmail_sender_parse(const char *arg, const char *myhostname, char *out,
    size_t outlen, int *utf8, char *err, size_t errlen)
{
	struct addr_one one;
	size_t n = strlen(arg);

	/* "", "<>", "< >": the null reverse path (bounces, auto replies) */
	while (n > 0 && (arg[0] == ' ' || arg[0] == '\t')) {
		arg++;
		n--;
	}
	while (n > 0 && (arg[n - 1] == ' ' || arg[n - 1] == '\t'))
		n--;
	if (n == 0 || (n == 2 && memcmp(arg, "<>", 2) == 0)) {
		out[0] = '\0';
		return 0;
	}
	memset(&one, 0, sizeof(one));
	if (sendmail_addr_list(arg, n, addr_take_one, &one, err, errlen) < 0)
		return -1;
	if (one.count == 0) {
		out[0] = '\0';		/* "< >" and friends */
		return 0;
	}
	return sendmail_addr_qualify(one.addr, one.len, myhostname, out,
	    outlen, utf8, err, errlen);
}
