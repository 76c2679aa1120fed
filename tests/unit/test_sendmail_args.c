/*
 * test_sendmail_args.c - the sendmail command line, table driven.
 *
 * Each row is an argv, the exit code sendmail_args_parse must give, and
 * the fields it must set; rows that fail check only the code.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sysexits.h>
#include <cmocka.h>

#include "mta/sendmail.h"
#include "queue/queue.h"

#define X_ANY	(-2)		/* field not checked */

struct args_case {
	const char *argv[14];
	int rc;
	int mode, extract, dots, verbose;
	const char *sender;		/* NULL: must be NULL; "-": unchecked */
	unsigned notify;
	int ret, b8;
	const char *envid, *config, *site, *name;
	int nrcpt;
	const char *rcpt0;
};

static const struct args_case cases[] = {
	/* plain delivery */
	{ { "sendmail", "a@b", NULL }, 0, SENDMAIL_MODE_DELIVER, 0, 0, 0,
	  NULL, 0, QUEUE_RET_DEFAULT, -1, NULL, NULL, NULL, NULL, 1, "a@b" },
	{ { "sendmail", "-t", NULL }, 0, SENDMAIL_MODE_DELIVER, 1, 0, 0,
	  NULL, 0, 0, -1, NULL, NULL, NULL, NULL, 0, NULL },
	{ { "sendmail", "-ti", "x", "y", NULL }, 0, SENDMAIL_MODE_DELIVER, 1,
	  1, 0, NULL, 0, 0, -1, NULL, NULL, NULL, NULL, 2, "x" },
	{ { "sendmail", "-oi", "-v", "-v", "x", NULL }, 0, 0, 0, 1, 2,
	  NULL, 0, 0, -1, NULL, NULL, NULL, NULL, 1, "x" },
	{ { "sendmail", "-o", "i", "x", NULL }, 0, 0, 0, 1, 0,
	  NULL, 0, 0, -1, NULL, NULL, NULL, NULL, 1, "x" },
	{ { "sendmail", "-odb", "-oem", "-oQ/tmp", "-odq", "x", NULL }, 0, 0,
	  0, 0, 0, NULL, 0, 0, -1, NULL, NULL, NULL, NULL, 1, "x" },
	{ { "sendmail", "-bm", "-i", "x", NULL }, 0, 0, 0, 1, 0,
	  NULL, 0, 0, -1, NULL, NULL, NULL, NULL, 1, "x" },
	/* sender forms */
	{ { "sendmail", "-f", "me@x", "y", NULL }, 0, 0, 0, 0, 0,
	  "me@x", 0, 0, -1, NULL, NULL, NULL, NULL, 1, "y" },
	{ { "sendmail", "-fme@x", "y", NULL }, 0, 0, 0, 0, 0,
	  "me@x", 0, 0, -1, NULL, NULL, NULL, NULL, 1, "y" },
	{ { "sendmail", "-r", "", "y", NULL }, 0, 0, 0, 0, 0,
	  "", 0, 0, -1, NULL, NULL, NULL, NULL, 1, "y" },
	{ { "sendmail", "-f<>", "y", NULL }, 0, 0, 0, 0, 0,
	  "<>", 0, 0, -1, NULL, NULL, NULL, NULL, 1, "y" },
	{ { "sendmail", "-F", "Jo Doe", "-it", NULL }, 0, 0, 1, 1, 0,
	  NULL, 0, 0, -1, NULL, NULL, NULL, "Jo Doe", 0, NULL },
	/* DSN */
	{ { "sendmail", "-N", "never", "y", NULL }, 0, 0, 0, 0, 0, NULL,
	  QUEUE_NOTIFY_NEVER, 0, -1, NULL, NULL, NULL, NULL, 1, "y" },
	{ { "sendmail", "-NSuccess,delay", "y", NULL }, 0, 0, 0, 0, 0, NULL,
	  QUEUE_NOTIFY_SUCCESS | QUEUE_NOTIFY_DELAY, 0, -1, NULL, NULL, NULL,
	  NULL, 1, "y" },
	{ { "sendmail", "-N", "failure", "-R", "hdrs", "-V", "id.1+x", "y",
	    NULL }, 0, 0, 0, 0, 0, NULL, QUEUE_NOTIFY_FAILURE, QUEUE_RET_HDRS,
	  -1, "id.1+x", NULL, NULL, NULL, 1, "y" },
	{ { "sendmail", "-RFULL", "-B8bitmime", "y", NULL }, 0, 0, 0, 0, 0,
	  NULL, 0, QUEUE_RET_FULL, 1, NULL, NULL, NULL, NULL, 1, "y" },
	{ { "sendmail", "-B", "7BIT", "y", NULL }, 0, 0, 0, 0, 0,
	  NULL, 0, 0, 0, NULL, NULL, NULL, NULL, 1, "y" },
	{ { "sendmail", "-C", "/etc/x.conf", "y", NULL }, 0, 0, 0, 0, 0,
	  NULL, 0, 0, -1, NULL, "/etc/x.conf", NULL, NULL, 1, "y" },
	/* ignored sendmail options */
	{ { "sendmail", "-L", "tag", "-h", "5", "-Ooption=v", "-m", "-U",
	    "-G", "y", NULL }, 0, 0, 0, 0, 0, NULL, 0, 0, -1, NULL, NULL,
	  NULL, NULL, 1, "y" },
	/* "--" and recipients that look like options */
	{ { "sendmail", "--", "-odd@x", NULL }, 0, 0, 0, 0, 0, NULL, 0, 0,
	  -1, NULL, NULL, NULL, NULL, 1, "-odd@x" },
	{ { "sendmail", "-i", "--", NULL }, 0, 0, 0, 1, 0, NULL, 0, 0,
	  -1, NULL, NULL, NULL, NULL, 0, NULL },
	/* modes */
	{ { "sendmail", "-bp", NULL }, 0, SENDMAIL_MODE_LIST, 0, 0, 0,
	  NULL, 0, 0, -1, NULL, NULL, NULL, NULL, 0, NULL },
	{ { "/usr/bin/mailq", NULL }, 0, SENDMAIL_MODE_LIST, 0, 0, 0,
	  NULL, 0, 0, -1, NULL, NULL, NULL, NULL, 0, NULL },
	{ { "mailq", "-v", NULL }, 0, SENDMAIL_MODE_LIST, 0, 0, 1,
	  NULL, 0, 0, -1, NULL, NULL, NULL, NULL, 0, NULL },
	{ { "sendmail", "-bs", NULL }, 0, SENDMAIL_MODE_SMTP, 0, 0, 0,
	  NULL, 0, 0, -1, NULL, NULL, NULL, NULL, 0, NULL },
	{ { "sendmail", "-q", NULL }, 0, SENDMAIL_MODE_FLUSH, 0, 0, 0,
	  NULL, 0, 0, -1, NULL, NULL, NULL, NULL, 0, NULL },
	{ { "sendmail", "-qRexample.com", NULL }, 0, SENDMAIL_MODE_FLUSH,
	  0, 0, 0, NULL, 0, 0, -1, NULL, NULL, "example.com", NULL, 0, NULL },
	{ { "sendmail", "-qSmx.example", NULL }, 0, SENDMAIL_MODE_FLUSH,
	  0, 0, 0, NULL, 0, 0, -1, NULL, NULL, "mx.example", NULL, 0, NULL },
	{ { "sendmail", "-q30m", NULL }, 0, SENDMAIL_MODE_IGNORED, 0, 0, 0,
	  NULL, 0, 0, -1, NULL, NULL, NULL, NULL, 0, NULL },
	{ { "sendmail", "-bp", "-bm", "x", NULL }, 0, SENDMAIL_MODE_DELIVER,
	  0, 0, 0, NULL, 0, 0, -1, NULL, NULL, NULL, NULL, 1, "x" },

	/* errors */
	{ { "sendmail", "-k", "x", NULL }, .rc = EX_USAGE },
	{ { "sendmail", "-tk", NULL }, .rc = EX_USAGE },
	{ { "sendmail", "-f", NULL }, .rc = EX_USAGE },
	{ { "sendmail", "-t", "x", "-i", NULL }, .rc = EX_USAGE },
	{ { "sendmail", "-N", "never,success", "x", NULL }, .rc = EX_USAGE },
	{ { "sendmail", "-N", "", "x", NULL }, .rc = EX_USAGE },
	{ { "sendmail", "-N", "success,", "x", NULL }, .rc = EX_USAGE },
	{ { "sendmail", "-N", "sometimes", "x", NULL }, .rc = EX_USAGE },
	{ { "sendmail", "-R", "body", "x", NULL }, .rc = EX_USAGE },
	{ { "sendmail", "-V", "has space", "x", NULL }, .rc = EX_USAGE },
	{ { "sendmail", "-V", "", "x", NULL }, .rc = EX_USAGE },
	{ { "sendmail", "-V", "\xc3\xa9t\xc3\xa9", "x", NULL }, .rc = EX_USAGE },
	{ { "sendmail", "-B", "BINARYMIME", "x", NULL }, .rc = EX_USAGE },
	{ { "sendmail", "-C", "", "x", NULL }, .rc = EX_USAGE },
	{ { "sendmail", "-bx", NULL }, .rc = EX_USAGE },
	{ { "sendmail", "-qRbad/site", NULL }, .rc = EX_USAGE },
	{ { "sendmail", "-qR", NULL }, .rc = EX_USAGE },
	{ { "sendmail", "-qX", NULL }, .rc = EX_USAGE },
	{ { "sendmail", "-bd", NULL }, .rc = EX_UNAVAILABLE },
	{ { "sendmail", "-bD", NULL }, .rc = EX_UNAVAILABLE },
	{ { "sendmail", "-bi", NULL }, .rc = EX_UNAVAILABLE },
	{ { "sendmail", "-I", NULL }, .rc = EX_UNAVAILABLE },
	{ { "newaliases", NULL }, .rc = EX_UNAVAILABLE },
	{ { "sendmail", "-bv", "x", NULL }, .rc = EX_UNAVAILABLE },
	{ { "sendmail", "-bt", NULL }, .rc = EX_UNAVAILABLE },
};

static void
test_args_table(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct args_case *c = &cases[i];
		struct sendmail_opts o;
		char err[256] = "";
		int argc = 0, rc;

		while (c->argv[argc] != NULL)
			argc++;
		rc = sendmail_args_parse(argc, (char *const *)c->argv, &o, err,
		    sizeof(err));
		if (rc != c->rc)
			fail_msg("case %zu (%s %s): rc %d want %d (%s)", i,
			    c->argv[0], c->argv[1] ? c->argv[1] : "", rc,
			    c->rc, err);
		if (rc != 0) {
			assert_true(err[0] != '\0');
			continue;
		}
		assert_int_equal(o.mode, c->mode);
		assert_int_equal(o.extract_rcpt, c->extract);
		assert_int_equal(o.ignore_dots, c->dots);
		assert_int_equal(o.verbose, c->verbose);
		if (c->sender == NULL)
			assert_null(o.sender);
		else
			assert_string_equal(o.sender, c->sender);
		assert_int_equal(o.notify, c->notify);
		assert_int_equal(o.ret, c->ret);
		assert_int_equal(o.body_8bitmime, c->b8);
		if (c->envid == NULL)
			assert_null(o.envid);
		else
			assert_string_equal(o.envid, c->envid);
		if (c->config == NULL)
			assert_null(o.config_path);
		else
			assert_string_equal(o.config_path, c->config);
		if (c->site == NULL)
			assert_null(o.flush_site);
		else
			assert_string_equal(o.flush_site, c->site);
		if (c->name != NULL)
			assert_string_equal(o.full_name, c->name);
		assert_int_equal(o.nrcpt, c->nrcpt);
		if (c->rcpt0 != NULL)
			assert_string_equal(o.rcpt[0], c->rcpt0);
	}
}

static void
test_args_long_values(void **state)
{
	char longsender[QUEUE_ADDR_MAX + 10], longenvid[SENDMAIL_ENVID_MAX + 2];
	const char *argv[4];
	struct sendmail_opts o;
	char err[128];

	(void)state;
	memset(longsender, 'a', sizeof(longsender) - 1);
	longsender[sizeof(longsender) - 1] = '\0';
	argv[0] = "sendmail";
	argv[1] = "-f";
	argv[2] = longsender;
	argv[3] = NULL;
	assert_int_equal(sendmail_args_parse(3, (char *const *)argv, &o, err,
	    sizeof(err)), EX_USAGE);

	memset(longenvid, 'e', sizeof(longenvid) - 1);
	longenvid[sizeof(longenvid) - 1] = '\0';
	argv[1] = "-V";
	argv[2] = longenvid;
	assert_int_equal(sendmail_args_parse(3, (char *const *)argv, &o, err,
	    sizeof(err)), EX_USAGE);
	longenvid[SENDMAIL_ENVID_MAX] = '\0';
	assert_int_equal(sendmail_args_parse(3, (char *const *)argv, &o, err,
	    sizeof(err)), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_args_table),
		cmocka_unit_test(test_args_long_values),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
