/*
 * test_smtpd_policy.c - the relay decision (never an open relay: every
 * combination of role, mynetworks and AUTH is listed), the mechanism
 * rule, and the pure parsers for paths, xtext and UTF-8.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mta/smtpd.h"

static void
test_relay_decision_table(void **state)
{
	static const struct {
		enum cfg_smtpd_role role;
		int trusted, authed;
		enum smtpd_policy_rc mail, rcpt;
	} t[] = {
		{ CFG_ROLE_RELAY, 0, 0, SMTPD_POLICY_OK,
		  SMTPD_POLICY_RELAY_DENIED },
		{ CFG_ROLE_RELAY, 1, 0, SMTPD_POLICY_OK, SMTPD_POLICY_OK },
		{ CFG_ROLE_RELAY, 0, 1, SMTPD_POLICY_OK, SMTPD_POLICY_OK },
		{ CFG_ROLE_RELAY, 1, 1, SMTPD_POLICY_OK, SMTPD_POLICY_OK },
		{ CFG_ROLE_SUBMISSION, 0, 0, SMTPD_POLICY_AUTH_REQUIRED,
		  SMTPD_POLICY_AUTH_REQUIRED },
		{ CFG_ROLE_SUBMISSION, 1, 0, SMTPD_POLICY_AUTH_REQUIRED,
		  SMTPD_POLICY_AUTH_REQUIRED },
		{ CFG_ROLE_SUBMISSION, 0, 1, SMTPD_POLICY_OK, SMTPD_POLICY_OK },
		{ CFG_ROLE_SUBMISSION, 1, 1, SMTPD_POLICY_OK, SMTPD_POLICY_OK },
		{ CFG_ROLE_SMTPS, 0, 0, SMTPD_POLICY_AUTH_REQUIRED,
		  SMTPD_POLICY_AUTH_REQUIRED },
		{ CFG_ROLE_SMTPS, 1, 0, SMTPD_POLICY_AUTH_REQUIRED,
		  SMTPD_POLICY_AUTH_REQUIRED },
		{ CFG_ROLE_SMTPS, 0, 1, SMTPD_POLICY_OK, SMTPD_POLICY_OK },
		{ CFG_ROLE_SMTPS, 1, 1, SMTPD_POLICY_OK, SMTPD_POLICY_OK },
		/* an unknown role refuses */
		{ (enum cfg_smtpd_role)7, 1, 1, SMTPD_POLICY_RELAY_DENIED,
		  SMTPD_POLICY_RELAY_DENIED },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (smtpd_policy_mail(t[i].role, t[i].authed) != t[i].mail)
			fail_msg("row %zu: MAIL", i);
		if (smtpd_policy_rcpt(t[i].role, t[i].trusted, t[i].authed) !=
		    t[i].rcpt)
			fail_msg("row %zu: RCPT", i);
	}
	/* no combination without trust or AUTH ever relays */
	for (i = 0; i < 3; i++)
		assert_int_not_equal(smtpd_policy_rcpt((enum cfg_smtpd_role)i,
		    0, 0), SMTPD_POLICY_OK);
}

static void
test_mech_rule(void **state)
{
	(void)state;
	assert_int_equal(smtpd_policy_mech_ok("PLAIN", 0), 0);
	assert_int_equal(smtpd_policy_mech_ok("login", 0), 0);
	assert_int_equal(smtpd_policy_mech_ok("PLAIN", 1), 1);
	assert_int_equal(smtpd_policy_mech_ok("LOGIN", 1), 1);
	assert_int_equal(smtpd_policy_mech_ok("CRAM-MD5", 0), 1);
	assert_int_equal(smtpd_policy_mech_ok("SCRAM-SHA-256", 0), 1);
}

static void
test_path_parse(void **state)
{
	static const struct {
		const char *in;
		const char *out;	/* NULL: refused */
		const char *rest;	/* what follows the path */
		int utf8;
	} t[] = {
		{ "<a@b.c>", "a@b.c", "", 0 },
		{ "<>", "", "", 0 },
		{ " <a@b.c> SIZE=1", "a@b.c", " SIZE=1", 0 },
		{ "a@b.c SIZE=1", "a@b.c", " SIZE=1", 0 },
		{ "<@r1.x,@r2.y:a@b.c>", "a@b.c", "", 0 },
		{ "<\"a b\"@b.c>", "\"a b\"@b.c", "", 0 },
		{ "<\"a\\\"b\"@b.c>", "\"a\\\"b\"@b.c", "", 0 },
		{ "<a@[192.0.2.1]>", "a@[192.0.2.1]", "", 0 },
		{ "<a@[IPv6:2001:db8::1]>", "a@[IPv6:2001:db8::1]", "", 0 },
		{ "<j\xc3\xb6@b.c>", "j\xc3\xb6@b.c", "", 1 },
		{ "<a@b\xc3\xa5.c>", "a@b\xc3\xa5.c", "", 1 },
		{ "<postmaster>", "postmaster", "", 0 },
		{ "<a@b.c", NULL, NULL, 0 },
		{ "<a b@c.d>", NULL, NULL, 0 },
		{ "<a@b c>", NULL, NULL, 0 },
		{ "<a@>", NULL, NULL, 0 },
		{ "<@b.c>", NULL, NULL, 0 },
		{ "<.a@b.c>", NULL, NULL, 0 },
		{ "<a.@b.c>", NULL, NULL, 0 },
		{ "<a@b..c>", NULL, NULL, 0 },
		{ "<a@b@c>", NULL, NULL, 0 },
		{ "<a\x01@b.c>", NULL, NULL, 0 },
		{ "<a@b.c\x7f>", NULL, NULL, 0 },
		{ "<\"a@b.c>", NULL, NULL, 0 },
		{ "<a<b@c.d>", NULL, NULL, 0 },
		{ "<a@b,c>", NULL, NULL, 0 },
		{ "<\xc3@b.c>", NULL, NULL, 0 },	/* bad UTF-8 */
		{ "<\xc0\xaf@b.c>", NULL, NULL, 0 },	/* overlong */
		{ "<@r1:>", NULL, NULL, 0 },
		{ "", NULL, NULL, 0 },
	};
	char out[SMTPD_PATH_MAX + 1], longer[400];
	size_t i, end;
	int utf8;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const char *why = smtpd_path_parse(t[i].in, strlen(t[i].in),
		    out, sizeof(out), &end, &utf8);

		if (t[i].out == NULL) {
			if (why == NULL)
				fail_msg("accepted %s", t[i].in);
			assert_true(why[0] == '5');
			continue;
		}
		if (why != NULL)
			fail_msg("refused %s: %s", t[i].in, why);
		assert_string_equal(out, t[i].out);
		assert_string_equal(t[i].in + end, t[i].rest);
		assert_int_equal(utf8, t[i].utf8);
	}
	/* RFC 5321 4.5.3.1.3: 256 octets with brackets: "<a@" + labels of
	 * 63, 63, 63 and 60 (252 with dots) + ">" is exactly 256 */
	snprintf(longer, sizeof(longer), "<a@%063d.%063d.%063d.%060d>", 0, 0,
	    0, 0);
	assert_int_equal(strlen(longer), 256);
	assert_null(smtpd_path_parse(longer, strlen(longer), out, sizeof(out),
	    &end, &utf8));
	snprintf(longer, sizeof(longer), "<a@%063d.%063d.%063d.%061d>", 0, 0,
	    0, 0);
	assert_non_null(smtpd_path_parse(longer, strlen(longer), out,
	    sizeof(out), &end, &utf8));
	/* local part over 64 */
	snprintf(longer, sizeof(longer), "<%065d@b.c>", 0);
	assert_non_null(smtpd_path_parse(longer, strlen(longer), out,
	    sizeof(out), &end, &utf8));
}

static void
test_xtext_and_utf8(void **state)
{
	static const struct {
		const char *in;
		const char *out;
	} t[] = {
		{ "abc", "abc" },
		{ "a+2Bb", "a+b" },
		{ "a+3Db", "a=b" },
		{ "+40", "@" },
		{ "", "" },
		{ "a+2b", NULL },	/* hex is upper case */
		{ "a+2", NULL },
		{ "a+", NULL },
		{ "a=b", NULL },
		{ "a b", NULL },
		{ "a+0A", NULL },	/* control byte */
		{ "a+7F", NULL },
		{ "\xc3\xa5", NULL },
	};
	char out[16];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int rc = smtpd_xtext_decode(t[i].in, strlen(t[i].in), out,
		    sizeof(out));

		if (t[i].out == NULL) {
			if (rc != -1)
				fail_msg("accepted %s", t[i].in);
			continue;
		}
		if (rc != 0)
			fail_msg("refused %s", t[i].in);
		assert_string_equal(out, t[i].out);
	}
	/* output bound */
	assert_int_equal(smtpd_xtext_decode("0123456789abcdef", 16, out,
	    sizeof(out)), -1);

	assert_int_equal(smtpd_utf8_valid("plain", 5), 1);
	assert_int_equal(smtpd_utf8_valid("\xc3\xa5", 2), 1);
	assert_int_equal(smtpd_utf8_valid("\xe2\x82\xac", 3), 1);
	assert_int_equal(smtpd_utf8_valid("\xf0\x9f\x98\x80", 4), 1);
	assert_int_equal(smtpd_utf8_valid("\xc3", 1), 0);
	assert_int_equal(smtpd_utf8_valid("\xc0\x80", 2), 0);
	assert_int_equal(smtpd_utf8_valid("\xe0\x80\xaf", 3), 0);
	assert_int_equal(smtpd_utf8_valid("\xed\xa0\x80", 3), 0);
	assert_int_equal(smtpd_utf8_valid("\xf4\x90\x80\x80", 4), 0);
	assert_int_equal(smtpd_utf8_valid("\xff", 1), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_relay_decision_table),
		cmocka_unit_test(test_mech_rule),
		cmocka_unit_test(test_path_parse),
		cmocka_unit_test(test_xtext_and_utf8),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
