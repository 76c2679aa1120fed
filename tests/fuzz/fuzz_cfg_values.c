/*
 * fuzz_cfg_values.c - the pure pieces of the config module
 * (config/cfg_int.h): the cfg_prescan pre-pass over the raw file, the
 * cfg_val_* value parsers and cfg_path_join, plus the util number
 * parsers they all stand on (util_parse_uint, util_parse_duration).
 *
 * The first input byte picks the function (and, for ranged parsers, one
 * of a few [min, max] pairs, including the small ones that once wrapped
 * in util_parse_uint); the rest is its argument.  Checked promises:
 * results lie in range, failures leave *out untouched, the pre-pass only
 * blanks comment bytes (length and newlines kept) and is idempotent.
 */
#include "fuzz_common.h"

#include "config/cfg_int.h"
#include "util.h"

#define UNTOUCHED	0x5a5a5a5a5a5a5a5aull

static const struct { uint64_t min, max; } ranges[] = {
	{ 0, UINT64_MAX }, { 1, 65535 }, { 0, 0 }, { 0, 1 }, { 0, 8 },
	{ 1, 9 }, { 30, 86400 }, { 0, 5 * 86400 }, { 1024, 1ull << 40 },
	{ 10, 10 }, { 7, 3 }		/* an empty range accepts nothing */
};
#define NRANGES (sizeof(ranges) / sizeof(ranges[0]))

static void
fuzz_prescan(const uint8_t *data, size_t size)
{
	char *buf = malloc(size ? size : 1), *again;
	unsigned line = 0, nl = 0;
	const char *msg = NULL;
	size_t i;

	if (buf == NULL)
		abort();
	memcpy(buf, data, size);
	for (i = 0; i < size; i++)
		nl += data[i] == '\n';
	if (cfg_prescan(buf, size, &line, &msg) < 0) {
		FUZZ_CHECK(msg != NULL && msg[0] != '\0');
		FUZZ_CHECK(line >= 1 && line <= nl + 1);
		free(buf);
		return;
	}
	for (i = 0; i < size; i++) {
		/* only '#' comments are blanked, and their newline stays */
		FUZZ_CHECK(buf[i] == (char)data[i] || buf[i] == ' ');
		FUZZ_CHECK((buf[i] == '\n') == (data[i] == '\n'));
	}
	again = malloc(size ? size : 1);
	if (again == NULL)
		abort();
	memcpy(again, buf, size);
	FUZZ_CHECK(cfg_prescan(again, size, &line, &msg) == 0);
	FUZZ_CHECK(size == 0 || memcmp(again, buf, size) == 0);
	free(again);
	free(buf);
}

static void
fuzz_ranged(unsigned which, uint64_t min, uint64_t max, const uint8_t *data,
    size_t size)
{
	char *s = fuzz_strndup(data, size);
	uint64_t v = UNTOUCHED;
	int rc;

	switch (which) {
	case 0:  rc = cfg_val_number(s, min, max, &v); break;
	case 1:  rc = cfg_val_seconds(s, min, max, &v); break;
	case 2:  rc = cfg_val_size(s, min, max, &v); break;
	case 3:  rc = cfg_val_millis(s, max, &v); min = 0; break;
	case 4:  rc = util_parse_uint(s, strlen(s), max, &v); min = 0; break;
	default: rc = util_parse_duration(s, max, &v); min = 0; break;
	}
	if (rc == 0)
		FUZZ_CHECK(v >= min && v <= max);
	else if (which != 4 && which != 5)	/* util_* make no promise */
		FUZZ_CHECK(v == UNTOUCHED);
	free(s);
}

static void
fuzz_relayhost(const char *s)
{
	char *host = NULL;
	uint16_t port = 0xdead;
	int mx = -1;

	if (cfg_val_relayhost(s, &host, &port, &mx) < 0)
		return;
	FUZZ_CHECK(host != NULL && host[0] != '\0');
	FUZZ_CHECK(strlen(host) <= strlen(s));
	FUZZ_CHECK(mx == 0 || mx == 1);
	/* a port was written, or 0 for none */
	FUZZ_CHECK(port != 0xdead);
	free(host);
}

static void
fuzz_path_join(const uint8_t *data, size_t size)
{
	/* dir and path separated by the first NUL, as two C strings */
	char *s = fuzz_strndup(data, size), *dir, *path, *joined;
	const char *nul = memchr(data, '\0', size);

	dir = s;
	path = nul != NULL ? s + (nul - (const char *)data) + 1 : s + size;
	if (dir[0] != '/') {	/* the caller always passes an absolute dir */
		free(s);
		return;
	}
	joined = cfg_path_join(dir, path);
	FUZZ_CHECK(joined != NULL);
	if (path[0] == '/')
		FUZZ_CHECK(strcmp(joined, path) == 0);
	else
		FUZZ_CHECK(joined[0] == '/');
	free(joined);
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned sel;
	char *s;

	if (size < 1)
		return 0;
	sel = data[0];
	data++;
	size--;
	if (sel < 0x20) {
		fuzz_prescan(data, size);
		return 0;
	}
	if (sel < 0x80) {	/* 6 ranged parsers x NRANGES ranges */
		unsigned k = (sel - 0x20) % (6 * NRANGES);

		fuzz_ranged(k % 6, ranges[k / 6].min, ranges[k / 6].max,
		    data, size);
		return 0;
	}
	if (sel >= 0xf0) {
		fuzz_path_join(data, size);
		return 0;
	}
	s = fuzz_strndup(data, size);
	switch (sel % 9) {
	case 0: {
		int b = 7;

		if (cfg_val_bool(s, &b) == 0)
			FUZZ_CHECK(b == 0 || b == 1);
		else
			FUZZ_CHECK(b == 7);
		break;
	}
	case 1: {
		uint16_t p = 0;

		if (cfg_val_port(s, &p) == 0)
			FUZZ_CHECK(p >= 1);
		break;
	}
	case 2:
		if (cfg_val_hostname(s) == 0)
			FUZZ_CHECK(strlen(s) >= 1 &&
			    strlen(s) <= CFG_MAX_HOSTNAME_LEN);
		break;
	case 3:
		if (cfg_val_address(s) == 0)
			FUZZ_CHECK(strlen(s) <= CFG_MAX_ADDRESS_LEN);
		break;
	case 4:
		if (cfg_val_user(s) == 0)
			FUZZ_CHECK(strlen(s) <= CFG_MAX_USER_LEN && s[0] != '-');
		break;
	case 5:
		if (cfg_val_text(s) == 0)
			FUZZ_CHECK(strlen(s) <= CFG_MAX_VALUE_LEN);
		break;
	case 6:
		(void)cfg_val_forwarder(s);
		break;
	case 7:
		(void)cfg_val_unbound_option(s);
		break;
	default:
		fuzz_relayhost(s);
		break;
	}
	free(s);
	return 0;
}
