/*
 * sendmail_name.c - a person's name as an RFC 5322 display-name.
 *
 * The name comes from -F or the passwd gecos field, i.e. from the user:
 * it may hold quotes, backslashes, control bytes or UTF-8.  We drop
 * control bytes, cut it short, and then pick the plainest safe form:
 * bare words, a quoted-string, or RFC 2047 encoded-words for non-ASCII
 * (RFC 6532 raw UTF-8 would need SMTPUTF8 from every hop).
 */
#include <stdlib.h>
#include <string.h>

#include "sendmail.h"

/* RFC 2047 2: an encoded-word is at most 75 characters; 45 input bytes
 * give 60 base64 characters plus "=?UTF-8?B?" and "?=". */
#define NAME_WORD_BYTES	45

static size_t
name_utf8_len(const unsigned char *p, size_t n)
{
	size_t need, k;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		need = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		need = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		need = 4;
	else
		return 0;
	if (need > n)
		return 0;
	for (k = 1; k < need; k++)
		if ((p[k] & 0xc0) != 0x80)
			return 0;
	return need;
}

static int
name_atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || strchr("!#$%&'*+-/=?^_`{|}~ ", c);
}

static void
name_base64(const unsigned char *p, size_t n, struct dynbuf *b)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i;

	for (i = 0; i < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16;
		char q[4];

		if (i + 1 < n)
			v |= (unsigned)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		q[0] = tab[(v >> 18) & 63];
		q[1] = tab[(v >> 12) & 63];
		q[2] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		q[3] = i + 2 < n ? tab[v & 63] : '=';
		dynbuf_add(b, q, 4);
	}
}

void
sendmail_display_name(const char *name, char *out, size_t outlen)
{
	unsigned char clean[SENDMAIL_NAME_MAX + 1];
	size_t n = 0, i, len = strlen(name);
	int eight = 0, plain = 1;
	struct dynbuf b;
	char *s;

	/* clean copy: no control bytes, whole UTF-8 characters only */
	for (i = 0; i < len;) {
		const unsigned char *p = (const unsigned char *)name + i;
		size_t k = name_utf8_len(p, len - i);

		if (k == 0 || p[0] < 0x20 || p[0] == 0x7f) {
			i++;		/* invalid or control: drop */
			continue;
		}
		if (n + k > SENDMAIL_NAME_MAX)
			break;
		memcpy(clean + n, p, k);
		n += k;
		i += k;
	}
	while (n > 0 && clean[n - 1] == ' ')
		n--;
	for (i = 0; i < n && clean[i] == ' '; i++)
		;
	memmove(clean, clean + i, n - i);
	n -= i;
	for (i = 0; i < n; i++) {
		if (clean[i] >= 0x80)
			eight = 1;
		else if (!name_atext(clean[i]))
			plain = 0;
	}

	dynbuf_init(&b, 4 * SENDMAIL_NAME_MAX);
	if (eight) {
		size_t start = 0;

		while (start < n) {
			size_t end = start;

			while (end < n) {
				size_t k = name_utf8_len(clean + end, n - end);

				if (end + k - start > NAME_WORD_BYTES)
					break;
				end += k;
			}
			if (start > 0)
				dynbuf_add(&b, " ", 1);
			dynbuf_addstr(&b, "=?UTF-8?B?");
			name_base64(clean + start, end - start, &b);
			dynbuf_addstr(&b, "?=");
			start = end;
		}
	} else if (plain) {
		dynbuf_add(&b, clean, n);
	} else {
		dynbuf_add(&b, "\"", 1);
		for (i = 0; i < n; i++) {
			if (clean[i] == '"' || clean[i] == '\\')
				dynbuf_add(&b, "\\", 1);
			dynbuf_add(&b, clean + i, 1);
		}
		dynbuf_add(&b, "\"", 1);
	}
	s = dynbuf_take(&b, &len);
	if (len >= outlen)
		len = 0;		/* caller's buffer too small: no name */
	memcpy(out, s, len);
	out[len] = '\0';
	free(s);
}
