/*
 * test_cfg_tlspolicy.c - dane = yes|no and the tls_policy sections
 * (docs/dane-contract.md): level and match parsers from tables, the
 * domain lookup (exact, then ".parent"), and cfg_load() of whole files
 * with the "file:line: message" of broken ones.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/cfg_int.h"
#include "config/config.h"

static char test_dir[] = "/tmp/sp_cfg_tlspol.XXXXXX";
static char test_file[sizeof(test_dir) + 32];

static struct sealpost_config *
load_text(const char *text, char *err, size_t errlen)
{
	FILE *fp = fopen(test_file, "w");

	assert_non_null(fp);
	assert_true(fputs(text, fp) >= 0);
	assert_int_equal(fclose(fp), 0);
	return cfg_load(test_file, err, errlen);
}

static void
test_level_parse(void **state)
{
	static const struct {
		const char *in;
		int want;	/* -1: refused */
	} t[] = {
		{ "none", CFG_TLS_NONE }, { "may", CFG_TLS_MAY },
		{ "encrypt", CFG_TLS_ENCRYPT }, { "dane", CFG_TLS_DANE },
		{ "dane-only", CFG_TLS_DANE_ONLY },
		{ "verify", CFG_TLS_VERIFY }, { "secure", CFG_TLS_SECURE },
		{ "DANE", CFG_TLS_DANE },
		{ "", -1 }, { "dane_only", -1 }, { "fingerprint", -1 },
		{ "may ", -1 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int out = 99, rc = cfg_val_tls_level(t[i].in, &out);

		if (t[i].want < 0) {
			assert_int_equal(rc, -1);
			assert_int_equal(out, 99);
		} else {
			assert_int_equal(rc, 0);
			assert_int_equal(out, t[i].want);
			assert_string_equal(cfg_tls_level_name(out),
			    i == 7 ? "dane" : t[i].in);
		}
	}
}

static void
test_match_and_domain(void **state)
{
	(void)state;
	assert_int_equal(cfg_val_tls_match("nexthop"), 0);
	assert_int_equal(cfg_val_tls_match("hostname"), 0);
	assert_int_equal(cfg_val_tls_match("dot-nexthop"), 0);
	assert_int_equal(cfg_val_tls_match(".example.net"), 0);
	assert_int_equal(cfg_val_tls_match("mx.example.net"), 0);
	assert_int_equal(cfg_val_tls_match(""), -1);
	assert_int_equal(cfg_val_tls_match("."), -1);
	assert_int_equal(cfg_val_tls_match("a b"), -1);
	assert_int_equal(cfg_val_tls_match("*.example.net"), -1);
	assert_int_equal(cfg_val_tls_domain("example.net"), 0);
	assert_int_equal(cfg_val_tls_domain(".example.net"), 0);
	assert_int_equal(cfg_val_tls_domain("..example.net"), -1);
	assert_int_equal(cfg_val_tls_domain("exa_mple.net"), -1);
}

static void
test_find(void **state)
{
	struct cfg_tls_policy p[3];
	struct sealpost_config cfg;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	memset(p, 0, sizeof(p));
	p[0].domain = (char *)"example.net";
	p[0].level = CFG_TLS_DANE_ONLY;
	p[1].domain = (char *)".example.net";
	p[1].level = CFG_TLS_ENCRYPT;
	p[2].domain = (char *)".net";
	p[2].level = CFG_TLS_MAY;
	cfg.tls_policies = p;
	cfg.ntls_policies = 3;
	assert_ptr_equal(cfg_tls_policy_find(&cfg, "example.net"), &p[0]);
	assert_ptr_equal(cfg_tls_policy_find(&cfg, "EXAMPLE.net."), &p[0]);
	assert_ptr_equal(cfg_tls_policy_find(&cfg, "a.example.net"), &p[1]);
	assert_ptr_equal(cfg_tls_policy_find(&cfg, "b.a.example.net"), &p[1]);
	assert_ptr_equal(cfg_tls_policy_find(&cfg, "other.net"), &p[2]);
	assert_null(cfg_tls_policy_find(&cfg, "example.org"));
	assert_null(cfg_tls_policy_find(&cfg, "net"));
	assert_null(cfg_tls_policy_find(&cfg, ""));
	cfg.ntls_policies = 0;
	assert_null(cfg_tls_policy_find(&cfg, "example.net"));
}

static void
test_load_defaults(void **state)
{
	char err[256];
	struct sealpost_config *cfg;

	(void)state;
	cfg = load_text("myhostname = \"relay.example.org\"\n", err,
	    sizeof(err));
	assert_non_null(cfg);
	assert_int_equal(cfg->dane, 1);
	assert_int_equal(cfg->ntls_policies, 0);
	cfg_free(cfg);
}

static void
test_load_policies(void **state)
{
	char err[256];
	struct sealpost_config *cfg;
	const struct cfg_tls_policy *p;

	(void)state;
	cfg = load_text(
	    "myhostname = \"relay.example.org\"\n"
	    "dane = no\n"
	    "tls_policy \"Example.net\" {\n"
	    "    level = dane-only\n"
	    "}\n"
	    "tls_policy \".example.net\" {\n"
	    "    level = secure\n"
	    "    match = { \"nexthop\", \"hostname\", \".example.net\" }\n"
	    "}\n"
	    "tls_policy \"plain.example\" { level = none }\n",
	    err, sizeof(err));
	if (cfg == NULL)
		fail_msg("%s", err);
	assert_int_equal(cfg->dane, 0);
	assert_int_equal(cfg->ntls_policies, 3);
	p = cfg_tls_policy_find(cfg, "example.net");
	assert_non_null(p);
	assert_string_equal(p->domain, "example.net");
	assert_int_equal(p->level, CFG_TLS_DANE_ONLY);
	assert_int_equal(p->nmatch, 0);
	assert_int_equal(p->line, 4);	/* its first key */
	p = cfg_tls_policy_find(cfg, "mx.example.net");
	assert_non_null(p);
	assert_int_equal(p->level, CFG_TLS_SECURE);
	assert_int_equal(p->nmatch, 3);
	assert_string_equal(p->match[0], "nexthop");
	assert_string_equal(p->match[2], ".example.net");
	p = cfg_tls_policy_find(cfg, "plain.example");
	assert_non_null(p);
	assert_int_equal(p->level, CFG_TLS_NONE);
	cfg_free(cfg);
}

static void
test_load_errors(void **state)
{
	static const struct {
		const char *text;
		const char *want;	/* after "<file>:" */
	} t[] = {
		{ "tls_policy \"example.net\" {\n  level = sometimes\n}\n",
		  "2: level: invalid value 'sometimes' (expected none, may, "
		  "encrypt, dane, dane-only, verify or secure)" },
		{ "tls_policy \"example.net\" {\n  match = { \"hostname\" }\n}\n",
		  "2: tls_policy \"example.net\": level is missing" },
		{ "tls_policy \"example.net\" {\n  level = dane\n"
		  "  match = { \"hostname\" }\n}\n",
		  "2: tls_policy \"example.net\": match applies only to level "
		  "verify or secure, not dane" },
		{ "tls_policy \"bad_name\" {\n  level = may\n}\n",
		  "2: tls_policy \"bad_name\": not a domain (\"example.net\" or "
		  "\".example.net\")" },
		{ "tls_policy \"a.example\" { level = may }\n"
		  "tls_policy \"A.example\" { level = none }\n",
		  "2: tls_policy \"A.example\": already given on line 1" },
		{ "tls_policy \"a.example\" {\n  level = verify\n"
		  "  match = { \"*.example\" }\n}\n",
		  "3: match: invalid value '*.example' (expected nexthop, "
		  "hostname, dot-nexthop, a host name or .domain)" },
		{ "dane = maybe\n",
		  "1: dane: invalid boolean 'maybe' (expected yes or no)" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char err[512], want[512];
		struct sealpost_config *cfg = load_text(t[i].text, err,
		    sizeof(err));

		if (cfg != NULL) {
			cfg_free(cfg);
			fail_msg("case %zu accepted", i);
		}
		snprintf(want, sizeof(want), "%s:%s", test_file, t[i].want);
		if (strcmp(err, want) != 0)
			fail_msg("case %zu:\n got  %s\n want %s", i, err, want);
	}
}

static int
setup(void **state)
{
	(void)state;
	if (mkdtemp(test_dir) == NULL)
		return -1;
	snprintf(test_file, sizeof(test_file), "%s/sealpost.conf", test_dir);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unlink(test_file);
	rmdir(test_dir);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_level_parse),
		cmocka_unit_test(test_match_and_domain),
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_load_defaults),
		cmocka_unit_test(test_load_policies),
		cmocka_unit_test(test_load_errors),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
