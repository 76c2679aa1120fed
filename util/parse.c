/*
 * parse.c - range-checked number and duration parsing, locale-free case
 * folding.  atoi() and friends are banned in sealpost: they accept junk.
 */
#include <string.h>

#include "util.h"

int
util_parse_uint(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (s == NULL || len == 0 || len > 20)
		return -1;
	for (i = 0; i < len; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return -1;
		d = (unsigned)(s[i] - '0');
		/* d > max first: max - d must not wrap for small limits */
		if (d > max || v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int
util_parse_duration(const char *s, uint64_t max, uint64_t *out)
{
	size_t len = strlen(s), digits = len;
	uint64_t unit = 1, v;

	if (len == 0)
		return -1;
	switch (s[len - 1]) {
	case 's': unit = 1; digits--; break;
	case 'm': unit = 60; digits--; break;
	case 'h': unit = 3600; digits--; break;
	case 'd': unit = 86400; digits--; break;
	case 'w': unit = 7 * 86400; digits--; break;
	default: break;
	}
	if (util_parse_uint(s, digits, max / unit, &v) < 0)
		return -1;
	*out = v * unit;
	return 0;
}

static int
fold(int c)
{
	return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

int
util_strncasecmp(const char *a, const char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		int ca = fold((unsigned char)a[i]), cb = fold((unsigned char)b[i]);

		if (ca != cb)
			return ca - cb;
		if (ca == 0)
			break;
	}
	return 0;
}

int
util_strcasecmp(const char *a, const char *b)
{
	return util_strncasecmp(a, b, (size_t)-1);
}
