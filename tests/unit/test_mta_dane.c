/*
 * test_mta_dane.c - the delivery agent's TLS policy rules, pure parts:
 * where TLSA records are looked up (RFC 7672 2.2, 2.2.3) for secure and
 * insecure MX/address data and CNAME expansions, which level the
 * configuration asks for (tls_policy table, dane, relay credentials),
 * the static policy of each level with match lists, TLSA RRset to
 * tls_dane, and verify errors to RFC 8460 result types.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mta/mta_int.h"

static void
test_candidates(void **state)
{
	static const struct {
		const char *what;
		enum res_security mx, addr;
		const char *name, *canon;
		int alias;
		enum mta_dane_start want;
		const char *c0, *c1;
	} t[] = {
		{ "secure MX and A", RES_SECURE, RES_SECURE, "mx.a.test",
		  "mx.a.test", 0, MTA_DANE_ASK, "mx.a.test", NULL },
		{ "insecure MX: no TLSA query", RES_INSECURE, RES_SECURE,
		  "mx.a.test", "mx.a.test", 0, MTA_DANE_INSECURE, NULL, NULL },
		{ "insecure A (seed 19): no TLSA query", RES_SECURE,
		  RES_INSECURE, "mx.plain.test", "mx.plain.test", 0,
		  MTA_DANE_INSECURE, NULL, NULL },
		{ "secure CNAME chain: expanded first (seeds 15-18, 21, 22)",
		  RES_SECURE, RES_SECURE, "aa.t.test", "aaaa.t.test", 1,
		  MTA_DANE_ASK, "aaaa.t.test", "aa.t.test" },
		{ "chain via insecure data (seeds 23, 24): original only",
		  RES_SECURE, RES_INSECURE, "aa.t.test", "aaaa.t.test", 1,
		  MTA_DANE_CHECK_CNAME, "aa.t.test", NULL },
		{ "insecure MX with secure CNAME chain", RES_INSECURE,
		  RES_SECURE, "aa.t.test", "aaaa.t.test", 1,
		  MTA_DANE_INSECURE, NULL, NULL },
		{ "bogus MX", RES_BOGUS, RES_SECURE, "mx.a.test", "mx.a.test",
		  0, MTA_DANE_INSECURE, NULL, NULL },
		{ "IP literal host", RES_SECURE, RES_SECURE, "192.0.2.1",
		  "192.0.2.1", 0, MTA_DANE_INSECURE, NULL, NULL },
	};
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct mta_route_host h;
		char cand[MTA_DANE_CAND_MAX][RES_NAME_MAX];
		enum mta_dane_start got;

		memset(&h, 0, sizeof(h));
		snprintf(h.name, sizeof(h.name), "%s", t[i].name);
		snprintf(h.canonname, sizeof(h.canonname), "%s", t[i].canon);
		h.alias = t[i].alias;
		h.addr_security = t[i].addr;
		got = mta_dane_candidates(t[i].mx, &h, cand, &n);
		if (got != t[i].want)
			fail_msg("%s: got %d want %d", t[i].what, got, t[i].want);
		assert_int_equal(n, t[i].c0 == NULL ? 0 : t[i].c1 == NULL ? 1 : 2);
		if (t[i].c0)
			assert_string_equal(cand[0], t[i].c0);
		if (t[i].c1)
			assert_string_equal(cand[1], t[i].c1);
	}
}

static void
test_level_selection(void **state)
{
	struct sealpost_config cfg;
	struct cfg_tls_policy p[2];
	const struct cfg_tls_policy *e;
	char *match[] = { (char *)"nexthop", (char *)"hostname",
	    (char *)".example.net" };

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	memset(p, 0, sizeof(p));
	cfg.tls_opportunistic = 1;
	cfg.dane = 1;
	assert_int_equal(mta_tls_level_for(&cfg, 0, "example.org", &e),
	    CFG_TLS_DANE);
	assert_null(e);
	cfg.dane = 0;
	assert_int_equal(mta_tls_level_for(&cfg, 0, "example.org", &e),
	    CFG_TLS_MAY);
	cfg.tls_opportunistic = 0;
	assert_int_equal(mta_tls_level_for(&cfg, 0, "example.org", &e),
	    CFG_TLS_NONE);

	p[0].domain = (char *)"example.net";
	p[0].level = CFG_TLS_DANE_ONLY;
	p[1].domain = (char *)".example.net";
	p[1].level = CFG_TLS_SECURE;
	p[1].match = match;
	p[1].nmatch = 3;
	cfg.tls_policies = p;
	cfg.ntls_policies = 2;
	cfg.dane = 1;
	assert_int_equal(mta_tls_level_for(&cfg, 0, "example.net", &e),
	    CFG_TLS_DANE_ONLY);
	assert_ptr_equal(e, &p[0]);
	assert_int_equal(mta_tls_level_for(&cfg, 0, "sub.example.net", &e),
	    CFG_TLS_SECURE);
	assert_ptr_equal(e, &p[1]);

	/* relay with credentials: never weaker than verify */
	cfg.relay.sasl_username = (char *)"user";
	p[0].level = CFG_TLS_NONE;
	assert_int_equal(mta_tls_level_for(&cfg, 1, "example.net", &e),
	    CFG_TLS_VERIFY);
	assert_null(e);
	p[0].level = CFG_TLS_DANE_ONLY;
	assert_int_equal(mta_tls_level_for(&cfg, 1, "example.net", &e),
	    CFG_TLS_DANE_ONLY);
	assert_int_equal(mta_tls_level_for(&cfg, 1, "relay.example.org", &e),
	    CFG_TLS_VERIFY);
}

static void
test_static_policy(void **state)
{
	struct sealpost_config cfg;
	struct cfg_tls_policy p;
	struct tls_policy pol;
	char *match[] = { (char *)"nexthop", (char *)"hostname",
	    (char *)"dot-nexthop", (char *)".other.net" };

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	memset(&p, 0, sizeof(p));
	cfg.tls_opportunistic = 1;
	mta_policy_static(&cfg, CFG_TLS_NONE, NULL, "example.net",
	    "mx.example.net", &pol);
	assert_int_equal(pol.level, TLS_LEVEL_NONE);
	mta_policy_static(&cfg, CFG_TLS_DANE, NULL, "example.net",
	    "mx.example.net", &pol);
	assert_int_equal(pol.level, TLS_LEVEL_MAY);	/* no usable TLSA */
	assert_string_equal(pol.sni, "mx.example.net");
	mta_policy_static(&cfg, CFG_TLS_ENCRYPT, NULL, "example.net",
	    "mx.example.net", &pol);
	assert_int_equal(pol.level, TLS_LEVEL_ENCRYPT);
	mta_policy_static(&cfg, CFG_TLS_VERIFY, NULL, "example.net",
	    "mx.example.net", &pol);
	assert_int_equal(pol.level, TLS_LEVEL_VERIFY);
	assert_int_equal(pol.nnames, 1);
	assert_string_equal(pol.names[0], "mx.example.net");
	mta_policy_static(&cfg, CFG_TLS_SECURE, NULL, "example.net",
	    "mx.example.net", &pol);
	assert_int_equal(pol.nnames, 2);
	assert_string_equal(pol.names[0], "example.net");
	assert_string_equal(pol.names[1], ".example.net");
	p.level = CFG_TLS_SECURE;
	p.match = match;
	p.nmatch = 4;
	mta_policy_static(&cfg, CFG_TLS_SECURE, &p, "example.net",
	    "mx.example.net", &pol);
	assert_int_equal(pol.nnames, 4);
	assert_string_equal(pol.names[0], "example.net");
	assert_string_equal(pol.names[1], "mx.example.net");
	assert_string_equal(pol.names[2], ".example.net");
	assert_string_equal(pol.names[3], ".other.net");
	/* IP literal relay: verified against its address, no SNI */
	mta_policy_static(&cfg, CFG_TLS_VERIFY, NULL, "192.0.2.9",
	    "192.0.2.9", &pol);
	assert_string_equal(pol.names[0], "192.0.2.9");
	assert_string_equal(pol.sni, "");
	cfg.tls_opportunistic = 0;
	mta_policy_static(&cfg, CFG_TLS_DANE, NULL, "example.net",
	    "mx.example.net", &pol);
	assert_int_equal(pol.level, TLS_LEVEL_NONE);
	mta_policy_static(&cfg, CFG_TLS_MAY, NULL, "example.net",
	    "mx.example.net", &pol);
	assert_int_equal(pol.level, TLS_LEVEL_MAY);
}

static void
test_rrset(void **state)
{
	unsigned char good[32], shortd[16];
	struct res_tlsa t[3];
	tls_dane *d;

	(void)state;
	memset(good, 0x30, sizeof(good));
	memset(shortd, 0x30, sizeof(shortd));
	t[0] = (struct res_tlsa){ 3, 0, 1, sizeof(good), good };
	t[1] = (struct res_tlsa){ 1, 0, 1, sizeof(good), good };
	t[2] = (struct res_tlsa){ 3, 0, 1, sizeof(shortd), shortd };
	d = mta_dane_rrset(t, 3, "aaaa.t.test", "aa.t.test");
	assert_int_equal(tls_dane_count(d), 3);
	assert_int_equal(tls_dane_usable_count(d), 1);
	assert_string_equal(tls_dane_base(d), "aaaa.t.test");
	assert_string_equal(tls_dane_mxhost(d), "aa.t.test");
	tls_dane_free(d);
	d = mta_dane_rrset(t + 1, 2, "mx.t.test", "mx.t.test");
	assert_int_equal(tls_dane_usable_count(d), 0);	/* unusable-tlsa */
	tls_dane_free(d);
}

static void
test_verify_mapping(void **state)
{
	(void)state;
	assert_int_equal(mta_report_type_for_verify(X509_V_ERR_DANE_NO_MATCH),
	    TLS_REPORT_CERT_NOT_TRUSTED);
	assert_int_equal(mta_report_type_for_verify(
	    X509_V_ERR_HOSTNAME_MISMATCH), TLS_REPORT_CERT_HOST_MISMATCH);
	assert_int_equal(mta_report_type_for_verify(
	    X509_V_ERR_CERT_HAS_EXPIRED), TLS_REPORT_CERT_EXPIRED);
	assert_int_equal(mta_report_type_for_verify(X509_V_OK),
	    TLS_REPORT_VALIDATION_FAILURE);
	assert_string_equal(mta_dane_failure_phrase(X509_V_ERR_DANE_NO_MATCH),
	    "no matching TLSA");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_candidates),
		cmocka_unit_test(test_level_selection),
		cmocka_unit_test(test_static_policy),
		cmocka_unit_test(test_rrset),
		cmocka_unit_test(test_verify_mapping),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
