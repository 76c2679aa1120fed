/*
 * test_util_parse.c - range-checked number and duration parsing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "util/util.h"

struct uint_case {
	const char *in;
	uint64_t max;
	int rc;
	uint64_t want;
};

static void
test_parse_uint_table(void **state)
{
	static const struct uint_case cases[] = {
		{ "0", 10, 0, 0 },
		{ "10", 10, 0, 10 },
		{ "11", 10, -1, 0 },
		{ "9", 8, -1, 0 },		/* small max must not wrap */
		{ "8", 8, 0, 8 },
		{ "", 10, -1, 0 },
		{ "-1", 10, -1, 0 },
		{ " 1", 10, -1, 0 },
		{ "1a", 10, -1, 0 },
		{ "18446744073709551615", UINT64_MAX, 0, UINT64_MAX },
		{ "18446744073709551616", UINT64_MAX, -1, 0 },
		{ "000000000000000000001", UINT64_MAX, -1, 0 },	/* > 20 chars */
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t v = 12345;
		int rc = util_parse_uint(cases[i].in, strlen(cases[i].in),
		    cases[i].max, &v);

		assert_int_equal(rc, cases[i].rc);
		if (rc == 0)
			assert_true(v == cases[i].want);
	}
}

static void
test_parse_duration_table(void **state)
{
	uint64_t v;

	assert_int_equal(util_parse_duration("30", 1000, &v), 0);
	assert_true(v == 30);
	assert_int_equal(util_parse_duration("5m", 1000, &v), 0);
	assert_true(v == 300);
	assert_int_equal(util_parse_duration("5d", 10 * 86400, &v), 0);
	assert_true(v == 5 * 86400);
	assert_int_equal(util_parse_duration("2w", 86400, &v), -1);
	assert_int_equal(util_parse_duration("1w", 7 * 86400, &v), 0);
	assert_int_equal(util_parse_duration("h", 86400, &v), -1);
	assert_int_equal(util_parse_duration("", 86400, &v), -1);
	assert_int_equal(util_parse_duration("1x", 86400, &v), -1);
}

static void
test_dynbuf_limit(void **state)
{
	struct dynbuf b;

	dynbuf_init(&b, 8);
	assert_int_equal(dynbuf_addstr(&b, "12345678"), 0);
	assert_int_equal(dynbuf_addstr(&b, "9"), -1);
	assert_int_equal(b.len, 8);
	assert_string_equal(b.p, "12345678");
	dynbuf_free(&b);
}

static void
test_printable(void **state)
{
	char out[8];

	util_printable("a\r\nb", 4, out, sizeof(out));
	assert_string_equal(out, "a??b");
	util_printable("0123456789", 10, out, sizeof(out));
	assert_string_equal(out, "0123...");
}

static void
test_htable(void **state)
{
	util_htable *t = util_htable_new();
	char key[32];
	int vals[1000];
	int i;

	for (i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		vals[i] = i;
		assert_null(util_htable_put(t, key, &vals[i]));
	}
	assert_int_equal(util_htable_count(t), 1000);
	assert_ptr_equal(util_htable_get(t, "k500"), &vals[500]);
	assert_ptr_equal(util_htable_del(t, "k500"), &vals[500]);
	assert_null(util_htable_get(t, "k500"));
	assert_int_equal(util_htable_count(t), 999);
	util_htable_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_uint_table),
		cmocka_unit_test(test_parse_duration_table),
		cmocka_unit_test(test_dynbuf_limit),
		cmocka_unit_test(test_printable),
		cmocka_unit_test(test_htable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
