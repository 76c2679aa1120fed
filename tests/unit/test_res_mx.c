/*
 * test_res_mx.c - MX ordering per RFC 5321 5.1 and RFC 7505.
 *
 * res_mx_order() takes its random source as a parameter: the fixed
 * sources below make the shuffle of equal preferences predictable, and
 * one test uses the real source to check that every order can occur.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "resolver/res_int.h"

/* Always the last index: Fisher-Yates then keeps the input order. */
static uint32_t
rnd_keep(void *arg, uint32_t bound)
{
	(void)arg;
	return bound - 1;
}

/* Always 0: a fixed, known permutation. */
static uint32_t
rnd_zero(void *arg, uint32_t bound)
{
	(void)arg;
	(void)bound;
	return 0;
}

#define MAXIN 8

struct order_case {
	const char *what;
	size_t n;
	struct res_mx_rec in[MAXIN];
	res_rand_fn rnd;
	size_t outmax;
	enum res_mx_order_result want_rc;
	size_t want_n;
	const char *want[MAXIN];
	uint16_t want_pref[MAXIN];
};

static const struct order_case order_cases[] = {
	{ "sorted by preference", 3,
	  { { 20, "b.test" }, { 10, "a.test" }, { 30, "c.test" } },
	  rnd_keep, RES_MX_HOSTS_MAX, RES_MX_ORDER_HOSTS, 3,
	  { "a.test", "b.test", "c.test" }, { 10, 20, 30 } },
	{ "single", 1, { { 5, "mx.test" } },
	  rnd_keep, RES_MX_HOSTS_MAX, RES_MX_ORDER_HOSTS, 1,
	  { "mx.test" }, { 5 } },
	{ "null mx", 1, { { 0, "." } },
	  rnd_keep, RES_MX_HOSTS_MAX, RES_MX_ORDER_NULL_MX, 0, { NULL }, { 0 } },
	{ "root target with pref 10 is no null mx", 1, { { 10, "." } },
	  rnd_keep, RES_MX_HOSTS_MAX, RES_MX_ORDER_NONE, 0, { NULL }, { 0 } },
	{ "null mx beside a real one: root skipped", 2,
	  { { 0, "." }, { 10, "mx.test" } },
	  rnd_keep, RES_MX_HOSTS_MAX, RES_MX_ORDER_HOSTS, 1,
	  { "mx.test" }, { 10 } },
	{ "ip literals skipped", 3,
	  { { 10, "192.0.2.1" }, { 20, "mx.test" }, { 5, "2001:db8::1" } },
	  rnd_keep, RES_MX_HOSTS_MAX, RES_MX_ORDER_HOSTS, 1,
	  { "mx.test" }, { 20 } },
	{ "only unusable", 2, { { 10, "192.0.2.1" }, { 10, "" } },
	  rnd_keep, RES_MX_HOSTS_MAX, RES_MX_ORDER_NONE, 0, { NULL }, { 0 } },
	{ "empty set", 0, { { 0, "" } },
	  rnd_keep, RES_MX_HOSTS_MAX, RES_MX_ORDER_NONE, 0, { NULL }, { 0 } },
	{ "duplicates keep lowest", 3,
	  { { 30, "a.test" }, { 20, "b.test" }, { 10, "A.TEST" } },
	  rnd_keep, RES_MX_HOSTS_MAX, RES_MX_ORDER_HOSTS, 2,
	  { "a.test", "b.test" }, { 10, 20 } },
	{ "equal prefs, keep source", 4,
	  { { 10, "a" }, { 10, "b" }, { 10, "c" }, { 5, "first" } },
	  rnd_keep, RES_MX_HOSTS_MAX, RES_MX_ORDER_HOSTS, 4,
	  { "first", "a", "b", "c" }, { 5, 10, 10, 10 } },
	/* rnd 0 on [a,b,c]: swap(2,0) -> c b a, swap(1,0) -> b c a */
	{ "equal prefs, zero source", 4,
	  { { 10, "a" }, { 10, "b" }, { 10, "c" }, { 5, "first" } },
	  rnd_zero, RES_MX_HOSTS_MAX, RES_MX_ORDER_HOSTS, 4,
	  { "first", "b", "c", "a" }, { 5, 10, 10, 10 } },
	{ "shuffle stays inside its preference", 4,
	  { { 20, "y" }, { 10, "a" }, { 20, "x" }, { 10, "b" } },
	  rnd_zero, RES_MX_HOSTS_MAX, RES_MX_ORDER_HOSTS, 4,
	  { "b", "a", "x", "y" }, { 10, 10, 20, 20 } },
	{ "truncated to outmax", 4,
	  { { 40, "d" }, { 30, "c" }, { 20, "b" }, { 10, "a" } },
	  rnd_keep, 2, RES_MX_ORDER_HOSTS, 2, { "a", "b" }, { 10, 20 } },
	{ "pref 65535", 2, { { 65535, "last" }, { 0, "zero" } },
	  rnd_keep, RES_MX_HOSTS_MAX, RES_MX_ORDER_HOSTS, 2,
	  { "zero", "last" }, { 0, 65535 } },
};

static void
test_order_table(void **state)
{
	for (size_t i = 0; i < sizeof(order_cases) / sizeof(order_cases[0]);
	    i++) {
		const struct order_case *t = &order_cases[i];
		struct res_mx_rec out[RES_MX_HOSTS_MAX];
		size_t n = 99;
		enum res_mx_order_result rc;

		rc = res_mx_order(t->in, t->n, t->rnd, NULL, out, t->outmax, &n);
		if (rc != t->want_rc || n != t->want_n)
			fail_msg("case %s: rc %d n %zu", t->what, rc, n);
		for (size_t k = 0; k < n; k++) {
			if (strcmp(out[k].host, t->want[k]) != 0 ||
			    out[k].pref != t->want_pref[k])
				fail_msg("case %s: [%zu] %u %s", t->what, k,
				    out[k].pref, out[k].host);
		}
	}
}

static void
test_order_many(void **state)
{
	struct res_mx_rec *in = calloc(300, sizeof(*in));
	struct res_mx_rec out[RES_MX_HOSTS_MAX];
	size_t n;

	/* more records than RES_MX_HOSTS_MAX, descending preference */
	for (int i = 0; i < 300; i++) {
		in[i].pref = (uint16_t)(1000 - i);
		snprintf(in[i].host, sizeof(in[i].host), "mx%d.test", i);
	}
	assert_int_equal(res_mx_order(in, 300, rnd_keep, NULL, out,
	    RES_MX_HOSTS_MAX, &n), RES_MX_ORDER_HOSTS);
	assert_int_equal(n, RES_MX_HOSTS_MAX);
	for (size_t k = 1; k < n; k++)
		assert_true(out[k - 1].pref <= out[k].pref);
	free(in);
}

static void
test_shuffle_covers_all_orders(void **state)
{
	static const struct res_mx_rec in[3] = {
		{ 10, "a" }, { 10, "b" }, { 10, "c" }
	};
	int seen[6] = { 0 };

	/* 600 draws: missing one of 6 orders has probability < 1e-40 */
	for (int i = 0; i < 600; i++) {
		struct res_mx_rec out[3];
		size_t n;
		int idx;

		assert_int_equal(res_mx_order(in, 3, res_rand_default, NULL, out,
		    3, &n), RES_MX_ORDER_HOSTS);
		assert_int_equal(n, 3);
		idx = (out[0].host[0] - 'a') * 2 + (out[1].host[0] <
		    out[2].host[0] ? 0 : 1);
		seen[idx]++;
	}
	for (int k = 0; k < 6; k++)
		assert_true(seen[k] > 0);
}

static void
test_ip_literal(void **state)
{
	static const struct { const char *s; int lit; } t[] = {
		{ "192.0.2.1", 1 }, { "[192.0.2.1]", 1 }, { "2001:db8::1", 1 },
		{ "[IPv6:2001:db8::1]", 1 }, { "[ipv6:::1]", 1 },
		{ "mx.example", 0 }, { "1.2.3", 0 }, { "", 0 }, { "[]", 0 },
		{ "1.2.3.4.example", 0 }, { "[mx.example]", 0 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (res_is_ip_literal(t[i].s) != t[i].lit)
			fail_msg("case \"%s\"", t[i].s);
}

static void
test_names(void **state)
{
	assert_string_equal(res_rcode_name(RES_OK), "OK");
	assert_string_equal(res_rcode_name(RES_NOTFOUND), "NOTFOUND");
	assert_string_equal(res_rcode_name(RES_RETRY), "RETRY");
	assert_string_equal(res_rcode_name(RES_FAIL), "FAIL");
	assert_string_equal(res_security_name(RES_SECURE), "secure");
	assert_string_equal(res_security_name(RES_INSECURE), "insecure");
	assert_string_equal(res_security_name(RES_BOGUS), "bogus");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_table),
		cmocka_unit_test(test_order_many),
		cmocka_unit_test(test_shuffle_covers_all_orders),
		cmocka_unit_test(test_ip_literal),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
