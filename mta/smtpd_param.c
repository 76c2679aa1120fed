/*
 * smtpd_param.c - the pieces of MAIL and RCPT a client controls: paths
 * (RFC 5321 4.1.2), RFC 3461 xtext, and UTF-8 checks for SMTPUTF8
 * (RFC 6531).  Pure functions over bounded input; the unit tests drive
 * them from tables (tests/unit/test_smtpd_param.c).
 *
 * How strict?  We accept what real MUAs and scripts send on a smarthost:
 * a space after the colon, a bare address without brackets, a source
 * route (dropped, RFC 5321 appendix C), quoted local parts.  We refuse
 * what could confuse the next hop or our own queue: control bytes,
 * unquoted white space, an address longer than RFC 5321 allows, invalid
 * UTF-8, and non-ASCII without SMTPUTF8 (checked by the caller, which
 * knows the parameters).
 */
#include <string.h>

#include "smtpd.h"

static int
smtpd_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;	/* RFC 3461 4: hexchar is upper case only */
}

int
smtpd_xtext_decode(const char *s, size_t n, char *out, size_t outlen)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '+') {
			int hi, lo;

			if (i + 2 >= n)
				return -1;
			hi = smtpd_hexval(s[i + 1]);
			lo = smtpd_hexval(s[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = (unsigned char)(hi * 16 + lo);
			i += 2;
			if (c < 0x20 || c == 0x7f)
				return -1;
		} else if (c < '!' || c > '~' || c == '=') {
			return -1;
		}
		if (o + 1 >= outlen)
			return -1;
		out[o++] = (char)c;
	}
	if (outlen == 0)
		return -1;
	out[o] = '\0';
	return 0;
}

int
smtpd_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		unsigned c = p[i], need, min, cp, k;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
			min = 0x80;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			min = 0x800;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			min = 0x10000;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (n - i <= need)
			return 0;
		for (k = 1; k <= need; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += need + 1;
	}
	return 1;
}

/* RFC 5321 4.1.2 atext, plus '.' for dot-strings; bytes >= 0x80 are
 * UTF-8 (RFC 6531 3.3) and checked as a whole later. */
static int
smtpd_is_atext(unsigned char c)
{
	if (c >= 0x80)
		return 1;
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return strchr("!#$%&'*+-/=?^_`{|}~.", c) != NULL && c != '\0';
}

/* Domain or address literal: LDH labels (UTF-8 allowed: U-labels) or
 * "[...]" of printable characters. */
static int
smtpd_domain_ok(const char *d, size_t n)
{
	size_t i, label = 0;

	if (n == 0 || n > SMTPD_DOMAIN_MAX)
		return 0;
	if (d[0] == '[') {
		if (n < 3 || d[n - 1] != ']')
			return 0;
		for (i = 1; i + 1 < n; i++)
			if (d[i] <= ' ' || d[i] > '~' || d[i] == '[' ||
			    d[i] == ']' || d[i] == '\\')
				return 0;
		return 1;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)d[i];

		if (c == '.') {
			if (label == 0)
				return 0;
			label = 0;
			continue;
		}
		if (!(c >= 0x80 || (c >= 'a' && c <= 'z') ||
		    (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_'))
			return 0;
		if (++label > 63)
			return 0;
	}
	return 1;	/* a trailing dot is tolerated */
}

static const char SMTPD_BAD_SYNTAX[] = "501 5.1.7 Bad address syntax";
static const char SMTPD_TOO_LONG[] = "501 5.1.7 Address too long";
static const char SMTPD_BAD_UTF8[] = "553 5.6.7 Malformed UTF-8 in address";

const char *
smtpd_path_parse(const char *s, size_t len, char *out, size_t outlen,
    size_t *end, int *utf8)
{
	size_t i = 0, start, stop, o = 0, at = 0, k;
	int bracket = 0, quoted = 0, seen_at = 0, route = 0;

	*utf8 = 0;
	while (i < len && s[i] == ' ')
		i++;
	if (i < len && s[i] == '<') {
		bracket = 1;
		i++;
		/* source route "@a,@b:" - obsolete, dropped */
		if (i < len && s[i] == '@') {
			while (i < len && s[i] != ':' && s[i] != '>')
				i++;
			if (i >= len || s[i] != ':')
				return SMTPD_BAD_SYNTAX;
			i++;
			route = 1;
		}
	}
	start = i;
	for (; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (quoted) {
			if (c == '\\' && i + 1 < len) {
				i++;
				if ((unsigned char)s[i] < 0x20 ||
				    s[i] == 0x7f)
					return SMTPD_BAD_SYNTAX;
			} else if (c == '"') {
				quoted = 0;
			} else if (c < 0x20 || c == 0x7f) {
				return SMTPD_BAD_SYNTAX;
			}
			continue;
		}
		if (c == '"' && (i == start || s[i - 1] == '.')) {
			quoted = 1;
			continue;
		}
		if (bracket && c == '>')
			break;
		if (!bracket && c == ' ')
			break;
		if (c == '@') {
			if (seen_at)
				return SMTPD_BAD_SYNTAX;
			seen_at = 1;
			at = i;
			continue;
		}
		if (c < 0x20 || c == 0x7f || c == ' ' || c == '<' || c == '>' ||
		    c == '(' || c == ')' || c == ',' || c == ';' || c == ':' ||
		    c == '\\' || c == '[' || c == ']') {
			/* address literals live after the last '@' */
			if (seen_at && (c == '[' || c == ']' || c == ':'))
				continue;
			return SMTPD_BAD_SYNTAX;
		}
		if (!seen_at && !smtpd_is_atext(c))
			return SMTPD_BAD_SYNTAX;
	}
	if (quoted)
		return SMTPD_BAD_SYNTAX;
	if (bracket && (i >= len || s[i] != '>'))
		return SMTPD_BAD_SYNTAX;
	stop = i;
	*end = bracket ? i + 1 : i;
	if (stop - start + 2 > SMTPD_PATH_MAX || stop - start + 1 > outlen)
		return SMTPD_TOO_LONG;
	if (stop == start) {
		if (!bracket || route)
			return SMTPD_BAD_SYNTAX;
		out[0] = '\0';		/* "<>" */
		return NULL;
	}
	if (seen_at) {
		if (at == start || at + 1 == stop ||
		    at - start > SMTPD_LOCAL_MAX ||
		    !smtpd_domain_ok(s + at + 1, stop - at - 1))
			return SMTPD_BAD_SYNTAX;
		/* the local part: no empty dot-atoms unless quoted */
		if (s[start] == '.' || s[at - 1] == '.')
			return SMTPD_BAD_SYNTAX;
	}
	for (k = start; k < stop; k++) {
		if ((unsigned char)s[k] >= 0x80)
			*utf8 = 1;
		out[o++] = s[k];
	}
	out[o] = '\0';
	if (*utf8 && !smtpd_utf8_valid(out, o))
		return SMTPD_BAD_UTF8;
	return NULL;
}
