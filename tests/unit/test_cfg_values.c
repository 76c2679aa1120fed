/*
 * test_cfg_values.c - tables for the config module's pure parsers: the
 * pre-pass over raw text and the per-type value checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/cfg_int.h"

static void
test_prescan(void **state)
{
	static const struct {
		const char *in;
		const char *out;	/* NULL: refused */
		unsigned line;		/* line of the refusal */
	} t[] = {
		{ "a = 1 # c\nb = 2\n", "a = 1    \nb = 2\n", 0 },
		{ "a = \"x # y\"\n", "a = \"x # y\"\n", 0 },
		{ "a = 'x # y'\n", "a = 'x # y'\n", 0 },
		{ "a = \"q\\\"#\"\n", "a = \"q\\\"#\"\n", 0 },
		{ "p = /var/spool//x\n", "p = /var/spool//x\n", 0 },
		{ "# '${x}'\n", "        \n", 0 },
		{ "a = '${x}'\n", "a = '${x}'\n", 0 },
		{ "a = ${HOME}\n", NULL, 1 },
		{ "\na = \"${HOME}\"\n", NULL, 2 },
		{ "a = 1 // c\n", NULL, 1 },
		{ "a = 1\n/* c */\n", NULL, 2 },
		{ "a = \"x\n\ny\n", NULL, 1 },
		{ "s {\n t {\n }\n", NULL, 1 },
		{ "s {\n \"}\"\n", NULL, 1 },
		{ "{{{{{{{{{", NULL, 1 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char *buf = strdup(t[i].in);
		unsigned line = 0;
		const char *msg = NULL;
		int rc = cfg_prescan(buf, strlen(buf), &line, &msg);

		if (t[i].out != NULL) {
			if (rc != 0)
				fail_msg("case %zu refused: %s", i, msg);
			assert_string_equal(buf, t[i].out);
		} else {
			if (rc == 0)
				fail_msg("case %zu accepted", i);
			assert_int_equal(line, t[i].line);
		}
		free(buf);
	}
}

static void
test_prescan_nul(void **state)
{
	char buf[] = "a = 1\nb\0 = 2\n";
	unsigned line = 0;
	const char *msg;

	(void)state;
	assert_int_equal(cfg_prescan(buf, sizeof(buf) - 1, &line, &msg), -1);
	assert_int_equal(line, 2);
}

static void
test_numbers(void **state)
{
	uint64_t v;
	uint16_t p;
	int b;

	(void)state;
	assert_int_equal(cfg_val_seconds("5d", 1, 100 * 86400, &v), 0);
	assert_int_equal(v, 5 * 86400);
	assert_int_equal(cfg_val_seconds("0", 1, 10, &v), -1);
	assert_int_equal(cfg_val_seconds("-5", 0, 10, &v), -1);
	/* limits below one unit: util_parse_uint wraps there, we must not */
	assert_int_equal(cfg_val_seconds("2w", 0, 86400, &v), -1);
	assert_int_equal(cfg_val_seconds("1d", 0, 3600, &v), -1);
	assert_int_equal(cfg_val_seconds("99999999999999999999d", 0, 3600, &v),
	    -1);
	assert_int_equal(cfg_val_number("12", 0, 5, &v), -1);
	assert_int_equal(cfg_val_size("1k", 1, 1ULL << 40, &v), 0);
	assert_int_equal(v, 1024);
	assert_int_equal(cfg_val_size("1025G", 1, 1ULL << 40, &v), -1);
	assert_int_equal(cfg_val_size("k", 1, 100, &v), -1);
	assert_int_equal(cfg_val_millis("7ms", 1000, &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(cfg_val_millis("ms", 1000, &v), -1);
	assert_int_equal(cfg_val_number("18446744073709551616", 0, UINT64_MAX,
	    &v), -1);
	assert_int_equal(cfg_val_number(" 5", 0, 10, &v), -1);
	assert_int_equal(cfg_val_port("65535", &p), 0);
	assert_int_equal(cfg_val_port("65536", &p), -1);
	assert_int_equal(cfg_val_port("0x19", &p), -1);
	assert_int_equal(cfg_val_bool("YES", &b), 0);
	assert_int_equal(b, 1);
	assert_int_equal(cfg_val_bool("off", &b), 0);
	assert_int_equal(b, 0);
	assert_int_equal(cfg_val_bool("1", &b), -1);
}

static void
test_names(void **state)
{
	static const struct { const char *s; int host, fwd, ub, user; } t[] = {
		{ "mx.example.org", 0, -1, -1, 0 },
		{ "-bad.example", -1, -1, -1, -1 },
		{ "bad-.example", -1, -1, -1, 0 },
		{ "a..b", -1, -1, -1, 0 },
		{ "trailing.", -1, -1, -1, 0 },
		{ "192.0.2.1", 0, 0, -1, 0 },
		{ "192.0.2.1@53", -1, 0, -1, -1 },
		{ "2001:db8::1@5353", -1, 0, 0, -1 },
		{ "192.0.2.1@0", -1, -1, -1, -1 },
		{ "do-not-query-localhost: no", -1, -1, 0, -1 },
		{ "name:", -1, -1, -1, -1 },
		{ "sealpost", 0, -1, -1, 0 },
		{ "", -1, -1, -1, 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (cfg_val_hostname(t[i].s) != t[i].host ||
		    cfg_val_forwarder(t[i].s) != t[i].fwd ||
		    cfg_val_unbound_option(t[i].s) != t[i].ub ||
		    cfg_val_user(t[i].s) != t[i].user)
			fail_msg("case %zu: %s", i, t[i].s);
	}
}

static void
test_relayhost_and_paths(void **state)
{
	char *host = NULL, *p;
	uint16_t port;
	int mx;

	(void)state;
	assert_int_equal(cfg_val_relayhost("[h.example]:587", &host, &port,
	    &mx), 0);
	assert_string_equal(host, "h.example");
	assert_int_equal(port, 587);
	assert_int_equal(mx, 0);
	free(host);
	assert_int_equal(cfg_val_relayhost("h.example", &host, &port, &mx), 0);
	assert_int_equal(port, 0);
	assert_int_equal(mx, 1);
	free(host);
	assert_int_equal(cfg_val_relayhost("192.0.2.1:25", &host, &port, &mx),
	    0);
	free(host);
	assert_int_equal(cfg_val_relayhost("[h", &host, &port, &mx), -1);
	assert_int_equal(cfg_val_relayhost("[]:25", &host, &port, &mx), -1);
	assert_int_equal(cfg_val_relayhost("[h]x", &host, &port, &mx), -1);
	assert_int_equal(cfg_val_relayhost("h:", &host, &port, &mx), -1);
	assert_int_equal(cfg_val_relayhost("2001:db8::1", &host, &port, &mx),
	    -1);

	p = cfg_path_join("/etc/sp", "./././spool");
	assert_string_equal(p, "/etc/sp/spool");
	free(p);
	p = cfg_path_join("/etc/sp", "/abs");
	assert_string_equal(p, "/abs");
	free(p);
	p = cfg_path_join("/", "x");
	assert_string_equal(p, "/x");
	free(p);
	p = cfg_path_join("/etc/sp", ".");
	assert_string_equal(p, "/etc/sp");
	free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prescan),
		cmocka_unit_test(test_prescan_nul),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_relayhost_and_paths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
