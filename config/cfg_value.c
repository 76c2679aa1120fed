/*
 * cfg_value.c - one bounded parser per configuration value type.
 *
 * libconfuse hands every value over as a string; these functions decide
 * whether the string is acceptable and convert it.  They are pure (no
 * globals, no I/O) so the unit tests can drive them from tables.  All
 * numbers go through util_parse_uint, so signs, spaces, hex and overflow
 * are refused rather than wrapped.
 *
 * XXX util_parse_uint(s, len, max, ...) computes (max - digit) and so
 * wraps when max < 9: every call here passes a large max and applies
 * the real bound afterwards.  This is also why durations are not parsed
 * with util_parse_duration(), which passes max / unit (0 for "2w" with a
 * one-day limit).
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "cfg_int.h"
#include "util.h"

int
cfg_val_bool(const char *s, int *out)
{
	static const char *const yes[] = { "yes", "true", "on" };
	static const char *const no[] = { "no", "false", "off" };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (util_strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (util_strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

int
cfg_val_number(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v;

	if (util_parse_uint(s, strlen(s), UINT64_MAX, &v) < 0 || v < min ||
	    v > max)
		return -1;
	*out = v;
	return 0;
}

/* digits times unit, within [min, max] */
static int
cfg_val_scaled(const char *s, size_t digits, uint64_t unit, uint64_t min,
    uint64_t max, uint64_t *out)
{
	uint64_t v;

	if (util_parse_uint(s, digits, UINT64_MAX, &v) < 0 || v > max / unit ||
	    v * unit < min)
		return -1;
	*out = v * unit;
	return 0;
}

int
cfg_val_seconds(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	size_t len = strlen(s), digits = len;
	uint64_t unit = 1;

	if (len == 0)
		return -1;
	switch (s[len - 1]) {	/* the util_parse_duration units */
	case 's': unit = 1; digits--; break;
	case 'm': unit = 60; digits--; break;
	case 'h': unit = 3600; digits--; break;
	case 'd': unit = 86400; digits--; break;
	case 'w': unit = 7 * 86400; digits--; break;
	default: break;
	}
	return cfg_val_scaled(s, digits, unit, min, max, out);
}

int
cfg_val_size(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	size_t len = strlen(s), digits = len;
	uint64_t unit = 1;

	if (len == 0)
		return -1;
	switch (s[len - 1]) {
	case 'k': case 'K': unit = 1024; digits--; break;
	case 'm': case 'M': unit = 1024 * 1024; digits--; break;
	case 'g': case 'G': unit = 1024 * 1024 * 1024; digits--; break;
	default: break;
	}
	return cfg_val_scaled(s, digits, unit, min, max, out);
}

int
cfg_val_millis(const char *s, uint64_t max, uint64_t *out)
{
	size_t len = strlen(s);

	if (len > 2 && s[len - 2] == 'm' && s[len - 1] == 's')
		len -= 2;
	return cfg_val_scaled(s, len, 1, 0, max, out);
}

int
cfg_val_port(const char *s, uint16_t *out)
{
	uint64_t v;

	if (cfg_val_number(s, 1, 65535, &v) < 0)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

static int
cfg_is_ldh(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-';
}

int
cfg_val_hostname(const char *s)
{
	size_t len = strlen(s), label = 0, i;

	if (len == 0 || len > CFG_MAX_HOSTNAME_LEN)
		return -1;
	for (i = 0; i <= len; i++) {
		if (s[i] == '.' || s[i] == '\0') {
			/* empty label, or one that starts or ends with '-' */
			if (label == 0 || s[i - label] == '-' || s[i - 1] == '-')
				return -1;
			label = 0;
			continue;
		}
		if (!cfg_is_ldh(s[i]) || ++label > CFG_MAX_LABEL_LEN)
			return -1;
	}
	return 0;
}

int
cfg_val_text(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		unsigned char c = (unsigned char)s[i];

		if (i >= CFG_MAX_VALUE_LEN || c < 0x20 || c == 0x7f)
			return -1;
	}
	return 0;
}

int
cfg_val_address(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (i >= CFG_MAX_ADDRESS_LEN || s[i] <= ' ' || s[i] > '~')
			return -1;
	return i == 0 ? -1 : 0;
}

int
cfg_val_user(const char *s)
{
	size_t i;

	if (s[0] == '-')
		return -1;
	for (i = 0; s[i] != '\0'; i++) {
		char c = s[i];

		if (i >= CFG_MAX_USER_LEN)
			return -1;
		if (!cfg_is_ldh(c) && c != '.' && c != '_')
			return -1;
	}
	return 0;
}

/* An IPv4 or IPv6 address of exactly len bytes. */
static int
cfg_is_ip(const char *s, size_t len)
{
	char tmp[INET6_ADDRSTRLEN];
	unsigned char bin[sizeof(struct in6_addr)];

	if (len == 0 || len >= sizeof(tmp))
		return 0;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	return inet_pton(AF_INET, tmp, bin) == 1 ||
	    inet_pton(AF_INET6, tmp, bin) == 1;
}

int
cfg_val_forwarder(const char *s)
{
	const char *at = strchr(s, '@');
	uint16_t port;

	if (at == NULL)
		return cfg_is_ip(s, strlen(s)) ? 0 : -1;
	if (!cfg_is_ip(s, (size_t)(at - s)) || cfg_val_port(at + 1, &port) < 0)
		return -1;
	return 0;
}

int
cfg_val_unbound_option(const char *s)
{
	size_t i = 0;

	if (cfg_val_text(s) < 0)
		return -1;
	while (cfg_is_ldh(s[i]))
		i++;
	if (i == 0 || s[i] != ':')
		return -1;
	i++;
	while (s[i] == ' ' || s[i] == '\t')
		i++;
	return s[i] == '\0' ? -1 : 0;
}

int
cfg_val_relayhost(const char *s, char **host, uint16_t *port,
    int *mx_lookup)
{
	const char *name = s, *rest;
	size_t namelen;
	uint16_t p = 0;
	int mx = 1;
	char *h;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL)
			return -1;
		name = s + 1;
		namelen = (size_t)(close - name);
		rest = close + 1;
		mx = 0;
	} else {
		rest = strchr(s, ':');
		if (rest == NULL)
			rest = s + strlen(s);
		namelen = (size_t)(rest - s);
	}
	if (*rest == ':') {
		if (cfg_val_port(rest + 1, &p) < 0)
			return -1;
	} else if (*rest != '\0') {
		return -1;
	}
	if (namelen == 0 || namelen > CFG_MAX_HOSTNAME_LEN)
		return -1;
	h = xstrndup(name, namelen);
	/* An address literal only makes sense where MX lookup is off. */
	if (cfg_val_hostname(h) < 0 && (mx || !cfg_is_ip(h, namelen))) {
		free(h);
		return -1;
	}
	*host = h;
	*port = p;
	*mx_lookup = mx;
	return 0;
}

char *
cfg_path_join(const char *dir, const char *path)
{
	if (path[0] == '/')
		return xstrdup(path);
	while (path[0] == '.' && path[1] == '/') {
		path += 2;
		while (path[0] == '/')
			path++;
	}
	if (path[0] == '\0' || (path[0] == '.' && path[1] == '\0'))
		return xstrdup(dir);
	if (dir[0] == '/' && dir[1] == '\0')
		return xasprintf("/%s", path);
	return xasprintf("%s/%s", dir, path);
}
