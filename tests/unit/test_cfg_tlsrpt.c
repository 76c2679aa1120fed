/*
 * test_cfg_tlsrpt.c - the TLS-RPT sender's keys: defaults derived from
 * myhostname, explicit values, and the cross-key errors with their
 * file:line (config/cfg_tlsrpt.c).
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

#include "config/config.h"

static char test_dir[] = "/tmp/sp_cfg_tlsrpt.XXXXXX";
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
test_defaults_from_myhostname(void **state)
{
	char err[512];
	struct sealpost_config *cfg = load_text(
	    "myhostname = relay.sender.test\n", err, sizeof(err));

	(void)state;
	assert_non_null(cfg);
	assert_int_equal(cfg->tlsrpt_reports, 1);
	assert_string_equal(cfg->tlsrpt_submitter, "sender.test");
	assert_string_equal(cfg->tlsrpt_organization, "sender.test");
	assert_string_equal(cfg->tlsrpt_contact, "mailto:postmaster@sender.test");
	assert_string_equal(cfg->tlsrpt_sender, "tlsrpt-noreply@sender.test");
	assert_string_equal(cfg->tlsrpt_dkim_domain, "sender.test");
	assert_null(cfg->tlsrpt_dkim_key);
	assert_null(cfg->tlsrpt_dkim_selector);
	assert_int_equal(cfg->tlsrpt_send_delay, 3600);
	assert_int_equal(cfg->tlsrpt_send_window, 4 * 3600);
	cfg_free(cfg);
	/* a two-label host name is its own domain */
	cfg = load_text("myhostname = example.net\n", err, sizeof(err));
	assert_non_null(cfg);
	assert_string_equal(cfg->tlsrpt_submitter, "example.net");
	cfg_free(cfg);
}

static void
test_explicit(void **state)
{
	char err[512];
	struct sealpost_config *cfg = load_text(
	    "myhostname = relay.sender.test\n"
	    "tlsrpt_reports = no\n"
	    "tlsrpt_organization = \"Sender \\\"Org\\\"\"\n"
	    "tlsrpt_contact = \"mailto:tls@sender.test\"\n"
	    "tlsrpt_submitter = reports.sender.test\n"
	    "tlsrpt_sender = noreply@reports.sender.test\n"
	    "tlsrpt_dkim_key = keys/dkim.pem\n"
	    "tlsrpt_dkim_selector = tlsrpt2026\n"
	    "tlsrpt_dkim_domain = sender.test\n"
	    "tlsrpt_send_delay = 30m\n"
	    "tlsrpt_send_window = 2h\n", err, sizeof(err));
	char want[256];

	(void)state;
	assert_non_null(cfg);
	assert_int_equal(cfg->tlsrpt_reports, 0);
	assert_string_equal(cfg->tlsrpt_organization, "Sender \"Org\"");
	assert_string_equal(cfg->tlsrpt_contact, "mailto:tls@sender.test");
	assert_string_equal(cfg->tlsrpt_submitter, "reports.sender.test");
	assert_string_equal(cfg->tlsrpt_sender, "noreply@reports.sender.test");
	snprintf(want, sizeof(want), "%s/keys/dkim.pem", test_dir);
	assert_string_equal(cfg->tlsrpt_dkim_key, want);
	assert_string_equal(cfg->tlsrpt_dkim_selector, "tlsrpt2026");
	assert_string_equal(cfg->tlsrpt_dkim_domain, "sender.test");
	assert_int_equal(cfg->tlsrpt_send_delay, 1800);
	assert_int_equal(cfg->tlsrpt_send_window, 7200);
	cfg_free(cfg);
}

struct bad_case {
	const char *text;
	const char *msg;	/* substring, "file:line" included */
};

static void
test_errors(void **state)
{
	static const struct bad_case cases[] = {
		{ "myhostname = a.b.test\n\ntlsrpt_dkim_key = k.pem\n",
		  ":3: tlsrpt_dkim_key needs tlsrpt_dkim_selector" },
		{ "myhostname = a.b.test\ntlsrpt_dkim_selector = s1\n",
		  ":2: tlsrpt_dkim_selector needs tlsrpt_dkim_key" },
		{ "tlsrpt_send_delay = 20h\ntlsrpt_send_window = 4h\n",
		  ":2: tlsrpt_send_delay (72000s) plus tlsrpt_send_window" },
		{ "tlsrpt_send_delay = 1d\n", ":1: tlsrpt_send_delay: invalid" },
		{ "tlsrpt_reports = maybe\n", ":1: tlsrpt_reports: invalid" },
		{ "tlsrpt_sender = \"a b@c\"\n", ":1: tlsrpt_sender: invalid" },
		{ "tlsrpt_submitter = \"-bad.test\"\n",
		  ":1: tlsrpt_submitter: invalid" },
		{ "tlsrpt_dkim_selector = \"a_b\"\n",
		  ":1: tlsrpt_dkim_selector: invalid" },
	};
	char err[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sealpost_config *cfg = load_text(cases[i].text, err,
		    sizeof(err));

		if (cfg != NULL || strstr(err, cases[i].msg) == NULL ||
		    strstr(err, test_file) == NULL)
			fail_msg("case %zu: got '%s', want '%s'", i,
			    cfg ? "(accepted)" : err, cases[i].msg);
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
		cmocka_unit_test(test_defaults_from_myhostname),
		cmocka_unit_test(test_explicit),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
