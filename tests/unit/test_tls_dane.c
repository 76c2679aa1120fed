/*
 * test_tls_dane.c - TLSA usability for SMTP (RFC 7672 3.1, RFC 7671 5)
 * from a table, the presentation form of records (RFC 6698 2.2), and a
 * tls_dane RRset's bookkeeping (usable count, strings, limits).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tls/tls.h"
#include "tls/tls_report.h"

static void
test_usability_table(void **state)
{
	static const struct {
		unsigned u, s, m;
		size_t len;
		enum tls_dane_usability want;
	} t[] = {
		{ 3, 1, 1, 32, TLS_DANE_USABLE },
		{ 3, 0, 1, 32, TLS_DANE_USABLE },
		{ 3, 1, 2, 64, TLS_DANE_USABLE },
		{ 2, 0, 1, 32, TLS_DANE_USABLE },
		{ 2, 1, 0, 91, TLS_DANE_USABLE },	/* full SPKI */
		{ 3, 0, 0, 500, TLS_DANE_USABLE },	/* full certificate */
		{ 0, 0, 1, 32, TLS_DANE_BAD_USAGE },	/* PKIX-TA */
		{ 1, 0, 2, 64, TLS_DANE_BAD_USAGE },	/* PKIX-EE (seed 5) */
		{ 4, 1, 1, 32, TLS_DANE_BAD_USAGE },
		{ 255, 1, 1, 32, TLS_DANE_BAD_USAGE },
		{ 3, 2, 1, 32, TLS_DANE_BAD_SELECTOR },	/* seed 7 */
		{ 3, 255, 1, 32, TLS_DANE_BAD_SELECTOR },
		{ 3, 0, 4, 32, TLS_DANE_BAD_MTYPE },	/* seed 9 */
		{ 3, 0, 3, 32, TLS_DANE_BAD_MTYPE },
		{ 3, 0, 1, 16, TLS_DANE_BAD_LENGTH },	/* seed 11 */
		{ 3, 0, 1, 33, TLS_DANE_BAD_LENGTH },
		{ 3, 1, 1, 64, TLS_DANE_BAD_LENGTH },
		{ 3, 1, 2, 32, TLS_DANE_BAD_LENGTH },
		{ 3, 1, 2, 63, TLS_DANE_BAD_LENGTH },
		{ 3, 1, 0, 0, TLS_DANE_BAD_LENGTH },	/* empty */
		{ 3, 1, 1, 0, TLS_DANE_BAD_LENGTH },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		enum tls_dane_usability got = tls_dane_usable(t[i].u, t[i].s,
		    t[i].m, t[i].len);

		if (got != t[i].want)
			fail_msg("%u %u %u len %zu: got %d (%s), want %d", t[i].u,
			    t[i].s, t[i].m, t[i].len, got,
			    tls_dane_usability_name(got), t[i].want);
	}
}

static void
test_presentation(void **state)
{
	static const unsigned char d[] = { 0x30, 0xc9, 0x00, 0xff, 0x0a };
	char out[64];

	(void)state;
	assert_int_equal(tls_dane_rr_text(3, 1, 1, d, sizeof(d), out,
	    sizeof(out)), 0);
	assert_string_equal(out, "3 1 1 30C900FF0A");
	assert_int_equal(tls_dane_rr_text(2, 0, 0, d, 0, out, sizeof(out)), 0);
	assert_string_equal(out, "2 0 0 ");
	/* exactly fits: "3 1 1 " (6) + 10 hex + NUL */
	assert_int_equal(tls_dane_rr_text(3, 1, 1, d, sizeof(d), out, 17), 0);
	assert_string_equal(out, "3 1 1 30C900FF0A");
	assert_int_equal(tls_dane_rr_text(3, 1, 1, d, sizeof(d), out, 16), -1);
	assert_string_equal(out, "");
}

static void
test_rrset(void **state)
{
	unsigned char sha256[32], sha512[64];
	tls_dane *d;
	size_t i;

	(void)state;
	memset(sha256, 0xab, sizeof(sha256));
	memset(sha512, 0x01, sizeof(sha512));
	d = tls_dane_new("mx.example.net.", "alias.example.net");
	assert_string_equal(tls_dane_base(d), "mx.example.net");
	assert_string_equal(tls_dane_mxhost(d), "alias.example.net");
	assert_int_equal(tls_dane_add(d, 3, 1, 1, sha256, 32), 1);
	assert_int_equal(tls_dane_add(d, 1, 0, 1, sha256, 32), 0);
	assert_int_equal(tls_dane_add(d, 3, 1, 2, sha512, 64), 1);
	assert_int_equal(tls_dane_add(d, 3, 1, 1, sha256, 16), 0);
	assert_int_equal(tls_dane_count(d), 4);
	assert_int_equal(tls_dane_usable_count(d), 2);
	assert_string_equal(tls_dane_rr_string(d, 3),
	    "3 1 1 ABABABABABABABABABABABABABABABAB");
	assert_string_equal(tls_dane_rr_string(d, 99), "");
	for (i = tls_dane_count(d); i < TLS_DANE_RR_MAX; i++)
		assert_int_equal(tls_dane_add(d, 2, 0, 1, sha256, 32), 1);
	assert_int_equal(tls_dane_add(d, 3, 1, 1, sha256, 32), -1);
	tls_dane_free(d);
	tls_dane_free(NULL);

	/* only unusable records: the RRset exists, none usable */
	d = tls_dane_new("mx.example.net", NULL);
	assert_string_equal(tls_dane_mxhost(d), "mx.example.net");
	assert_int_equal(tls_dane_add(d, 3, 2, 1, sha256, 32), 0);
	assert_int_equal(tls_dane_usable_count(d), 0);
	tls_dane_free(d);
}

static void
test_policy_level(void **state)
{
	struct tls_policy p;

	(void)state;
	tls_policy_init(&p, TLS_LEVEL_DANE);
	assert_true(tls_policy_required(&p));
	assert_string_equal(tls_level_name(TLS_LEVEL_DANE), "dane");
}

static void
test_report_names(void **state)
{
	unsigned long before;
	struct tls_report_result r;

	(void)state;
	assert_string_equal(tls_report_type_name(TLS_REPORT_SUCCESS), "success");
	assert_string_equal(tls_report_type_name(TLS_REPORT_DANE_REQUIRED),
	    "dane-required");
	assert_string_equal(tls_report_type_name(TLS_REPORT_TLSA_INVALID),
	    "tlsa-invalid");
	assert_string_equal(tls_report_policy_name(TLS_REPORT_POLICY_TLSA),
	    "tlsa");
	assert_string_equal(tls_report_policy_name(TLS_REPORT_POLICY_NONE),
	    "no-policy-found");
	memset(&r, 0, sizeof(r));
	r.result = TLS_REPORT_DNSSEC_INVALID;
	before = tls_report_count(TLS_REPORT_DNSSEC_INVALID);
	tls_report_record(&r);
	assert_int_equal(tls_report_count(TLS_REPORT_DNSSEC_INVALID),
	    before + 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_usability_table),
		cmocka_unit_test(test_presentation),
		cmocka_unit_test(test_rrset),
		cmocka_unit_test(test_policy_level),
		cmocka_unit_test(test_report_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
