/*
 * test_cfg_load.c - cfg_load() against real files in a temporary
 * directory: defaults, every key, relative paths, relayhost forms,
 * resolver lists, and a table of broken files whose "file:line:" prefix
 * and message are checked exactly.
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

static char test_dir[] = "/tmp/sp_cfg_test.XXXXXX";
static char test_file[sizeof(test_dir) + 32];

static void
write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
}

/* Load text written to test_file; err gets the message on failure. */
static struct sealpost_config *
load_text(const char *text, char *err, size_t errlen)
{
	write_file(test_file, text);
	return cfg_load(test_file, err, errlen);
}

static void
test_defaults(void **state)
{
	struct sealpost_config *cfg = cfg_defaults();
	char cwd[4096], want[4200];

	(void)state;
	assert_non_null(cfg);
	assert_null(cfg->path);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(want, sizeof(want), "%s/spool", cwd);
	assert_string_equal(cfg->spool_directory, want);
	assert_string_equal(cfg->run_user, "");
	assert_non_null(cfg->myhostname);
	assert_true(cfg->myhostname[0] != '\0');
	assert_string_equal(cfg->postmaster, "postmaster");
	assert_int_equal(cfg->log_syslog, 0);
	assert_int_equal(cfg->delivery_threads, 0);
	assert_int_equal(cfg->destination_concurrency, 20);
	assert_int_equal(cfg->total_concurrency, 200);
	assert_int_equal(cfg->destination_rcpt_limit, 50);
	assert_int_equal(cfg->connection_reuse_time, 5);
	assert_int_equal(cfg->smtp_port, 25);
	assert_int_equal(cfg->timeout.connect, 30);
	assert_int_equal(cfg->timeout.greeting, 300);
	assert_int_equal(cfg->timeout.ehlo, 300);
	assert_int_equal(cfg->timeout.starttls, 300);
	assert_int_equal(cfg->timeout.mail, 300);
	assert_int_equal(cfg->timeout.rcpt, 300);
	assert_int_equal(cfg->timeout.data_init, 120);
	assert_int_equal(cfg->timeout.data_block, 180);
	assert_int_equal(cfg->timeout.data_done, 600);
	assert_int_equal(cfg->timeout.quit, 60);
	assert_null(cfg->relay.host);
	assert_int_equal(cfg->relay.mx_lookup, 1);
	assert_null(cfg->relay.sasl_username);
	assert_null(cfg->relay.sasl_password_file);
	assert_int_equal(cfg->minimal_backoff, 300);
	assert_int_equal(cfg->maximal_backoff, 4000);
	assert_int_equal(cfg->queue_run_delay, 60);
	assert_int_equal(cfg->maximal_queue_lifetime, 5 * 86400);
	assert_int_equal(cfg->bounce_queue_lifetime, 5 * 86400);
	assert_int_equal(cfg->delay_warning_time, 0);
	assert_int_equal(cfg->message_size_limit, 50 * 1024 * 1024);
	assert_int_equal(cfg->commit_batch_ms, 0);
	assert_string_equal(cfg->tls_ca_file,
	    "/etc/ssl/certs/ca-certificates.crt");
	assert_int_equal(cfg->tls_opportunistic, 1);
	assert_int_equal(cfg->resolver.nforwarders, 0);
	assert_null(cfg->resolver.forwarders);
	assert_string_equal(cfg->resolver.trust_anchor_file,
	    "/usr/share/dns/root.key");
	assert_int_equal(cfg->resolver.trust_anchor_auto, 0);
	assert_null(cfg->resolver.unbound_config);
	assert_int_equal(cfg->resolver.nunbound_options, 0);
	cfg_free(cfg);
	cfg_free(NULL);
}

/* An empty file and a comments-only file are the defaults too. */
static void
test_empty_file(void **state)
{
	struct sealpost_config *cfg;
	char err[512], want[256];

	(void)state;
	cfg = load_text("", err, sizeof(err));
	assert_non_null(cfg);
	assert_string_equal(cfg->path, test_file);
	snprintf(want, sizeof(want), "%s/spool", test_dir);
	assert_string_equal(cfg->spool_directory, want);
	cfg_free(cfg);
	cfg = load_text("# only a comment\n\n   # another\n", err, sizeof(err));
	assert_non_null(cfg);
	assert_int_equal(cfg->total_concurrency, 200);
	cfg_free(cfg);
}

static const char all_keys[] =
    "# every key, in file order\n"
    "spool_directory = /var/spool/sealpost\n"
    "run_user = sealpost\n"
    "myhostname = mx1.example.org\n"
    "postmaster = \"hostmaster@example.org\"\n"
    "log = syslog\n"
    "delivery_threads = 4\n"
    "destination_concurrency = 10\n"
    "total_concurrency = 150\n"
    "destination_rcpt_limit = 100\n"
    "connection_reuse_time = 10s\n"
    "smtp_port = 2525\n"
    "minimal_backoff = 5m\n"
    "maximal_backoff = 2h\n"
    "queue_run_delay = 30\n"
    "maximal_queue_lifetime = 3d\n"
    "bounce_queue_lifetime = 1d\n"
    "delay_warning_time = 4h\n"
    "message_size_limit = 20M\n"
    "commit_batch_ms = 5\n"
    "tls_ca_file = \"/etc/ssl/my-ca.pem\"\n"
    "tls_opportunistic = no\n"
    "timeouts {\n"
    "  connect = 10s   greeting = 1m  ehlo = 2m  starttls = 3m\n"
    "  mail = 4m  rcpt = 5m  data_init = 6m  data_block = 7m\n"
    "  data_done = 8m  quit = 9s\n"
    "}\n"
    "relayhost {\n"
    "  host = \"[smtp.example.net]:587\"\n"
    "  sasl_username = relayuser\n"
    "  sasl_password_file = /etc/sealpost/relay.pw\n"
    "}\n"
    "resolver {\n"
    "  forwarders = { \"192.0.2.53\", \"2001:db8::53@5353\" }\n"
    "  trust_anchor_file = \"/var/lib/sealpost/root.key\"\n"
    "  trust_anchor_auto = yes\n"
    "  unbound_config = /etc/sealpost/unbound.conf\n"
    "  unbound_options = { \"do-not-query-localhost: no\",\n"
    "                      \"local-zone: \\\"test.\\\" nodefault\" }\n"
    "}\n";

static void
test_every_key(void **state)
{
	struct sealpost_config *cfg;
	char err[512];

	(void)state;
	cfg = load_text(all_keys, err, sizeof(err));
	if (cfg == NULL)
		fail_msg("%s", err);
	assert_string_equal(cfg->spool_directory, "/var/spool/sealpost");
	assert_string_equal(cfg->run_user, "sealpost");
	assert_string_equal(cfg->myhostname, "mx1.example.org");
	assert_string_equal(cfg->postmaster, "hostmaster@example.org");
	assert_int_equal(cfg->log_syslog, 1);
	assert_int_equal(cfg->delivery_threads, 4);
	assert_int_equal(cfg->destination_concurrency, 10);
	assert_int_equal(cfg->total_concurrency, 150);
	assert_int_equal(cfg->destination_rcpt_limit, 100);
	assert_int_equal(cfg->connection_reuse_time, 10);
	assert_int_equal(cfg->smtp_port, 2525);
	assert_int_equal(cfg->minimal_backoff, 300);
	assert_int_equal(cfg->maximal_backoff, 7200);
	assert_int_equal(cfg->queue_run_delay, 30);
	assert_int_equal(cfg->maximal_queue_lifetime, 3 * 86400);
	assert_int_equal(cfg->bounce_queue_lifetime, 86400);
	assert_int_equal(cfg->delay_warning_time, 4 * 3600);
	assert_int_equal(cfg->message_size_limit, 20 * 1024 * 1024);
	assert_int_equal(cfg->commit_batch_ms, 5);
	assert_string_equal(cfg->tls_ca_file, "/etc/ssl/my-ca.pem");
	assert_int_equal(cfg->tls_opportunistic, 0);
	assert_int_equal(cfg->timeout.connect, 10);
	assert_int_equal(cfg->timeout.greeting, 60);
	assert_int_equal(cfg->timeout.ehlo, 120);
	assert_int_equal(cfg->timeout.starttls, 180);
	assert_int_equal(cfg->timeout.mail, 240);
	assert_int_equal(cfg->timeout.rcpt, 300);
	assert_int_equal(cfg->timeout.data_init, 360);
	assert_int_equal(cfg->timeout.data_block, 420);
	assert_int_equal(cfg->timeout.data_done, 480);
	assert_int_equal(cfg->timeout.quit, 9);
	assert_string_equal(cfg->relay.host, "smtp.example.net");
	assert_int_equal(cfg->relay.port, 587);
	assert_int_equal(cfg->relay.mx_lookup, 0);
	assert_string_equal(cfg->relay.sasl_username, "relayuser");
	assert_string_equal(cfg->relay.sasl_password_file,
	    "/etc/sealpost/relay.pw");
	assert_int_equal(cfg->resolver.nforwarders, 2);
	assert_string_equal(cfg->resolver.forwarders[0], "192.0.2.53");
	assert_string_equal(cfg->resolver.forwarders[1], "2001:db8::53@5353");
	assert_string_equal(cfg->resolver.trust_anchor_file,
	    "/var/lib/sealpost/root.key");
	assert_int_equal(cfg->resolver.trust_anchor_auto, 1);
	assert_string_equal(cfg->resolver.unbound_config,
	    "/etc/sealpost/unbound.conf");
	assert_int_equal(cfg->resolver.nunbound_options, 2);
	assert_string_equal(cfg->resolver.unbound_options[0],
	    "do-not-query-localhost: no");
	assert_string_equal(cfg->resolver.unbound_options[1],
	    "local-zone: \"test.\" nodefault");
	cfg_free(cfg);
}

static void
test_message_size_forms(void **state)
{
	static const struct { const char *text; uint64_t want; } t[] = {
		{ "message_size_limit = 1000\n", 1000 },
		{ "message_size_limit = 64k\n", 64 * 1024 },
		{ "message_size_limit = 10M\n", 10 * 1024 * 1024 },
		{ "message_size_limit = 2G\n", 2ULL * 1024 * 1024 * 1024 },
	};
	char err[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct sealpost_config *cfg = load_text(t[i].text, err,
		    sizeof(err));

		if (cfg == NULL)
			fail_msg("%s: %s", t[i].text, err);
		assert_int_equal(cfg->message_size_limit, t[i].want);
		cfg_free(cfg);
	}
}

/* Relative names are taken from the config file's directory. */
static void
test_relative_paths(void **state)
{
	struct sealpost_config *cfg;
	char err[512], want[256], rel[128], cwd[4096];

	(void)state;
	cfg = load_text("spool_directory = myspool\n"
	    "tls_ca_file = ./certs/ca.pem\n"
	    "relayhost {\n host = relay.example.net\n"
	    " sasl_username = u\n sasl_password_file = \"pw\"\n}\n"
	    "resolver { trust_anchor_file = keys/root.key }\n",
	    err, sizeof(err));
	if (cfg == NULL)
		fail_msg("%s", err);
	snprintf(want, sizeof(want), "%s/myspool", test_dir);
	assert_string_equal(cfg->spool_directory, want);
	snprintf(want, sizeof(want), "%s/certs/ca.pem", test_dir);
	assert_string_equal(cfg->tls_ca_file, want);
	snprintf(want, sizeof(want), "%s/pw", test_dir);
	assert_string_equal(cfg->relay.sasl_password_file, want);
	snprintf(want, sizeof(want), "%s/keys/root.key", test_dir);
	assert_string_equal(cfg->resolver.trust_anchor_file, want);
	/* no port and SASL: submission port */
	assert_int_equal(cfg->relay.port, 587);
	assert_int_equal(cfg->relay.mx_lookup, 1);
	cfg_free(cfg);

	/* A relative config path: still anchored at its own directory. */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir("/tmp"), 0);
	snprintf(rel, sizeof(rel), "%s/sealpost.conf", test_dir + 5);
	write_file(test_file, "spool_directory = q\n");
	cfg = cfg_load(rel, err, sizeof(err));
	assert_int_equal(chdir(cwd), 0);
	if (cfg == NULL)
		fail_msg("%s", err);
	snprintf(want, sizeof(want), "%s/q", test_dir);
	assert_string_equal(cfg->spool_directory, want);
	assert_string_equal(cfg->path, test_file);
	cfg_free(cfg);
}

static void
test_relayhost_forms(void **state)
{
	static const struct {
		const char *value;
		const char *host;
		unsigned port;
		int mx;
	} t[] = {
		{ "\"[smtp.example.net]:587\"", "smtp.example.net", 587, 0 },
		{ "\"[smtp.example.net]\"", "smtp.example.net", 25, 0 },
		{ "smtp.example.net:2525", "smtp.example.net", 2525, 1 },
		{ "smtp.example.net", "smtp.example.net", 25, 1 },
		{ "\"[192.0.2.25]:26\"", "192.0.2.25", 26, 0 },
		{ "\"[2001:db8::25]:587\"", "2001:db8::25", 587, 0 },
	};
	char text[256], err[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct sealpost_config *cfg;

		snprintf(text, sizeof(text), "relayhost {\n  host = %s\n}\n",
		    t[i].value);
		cfg = load_text(text, err, sizeof(err));
		if (cfg == NULL)
			fail_msg("%s: %s", t[i].value, err);
		assert_string_equal(cfg->relay.host, t[i].host);
		assert_int_equal(cfg->relay.port, t[i].port);
		assert_int_equal(cfg->relay.mx_lookup, t[i].mx);
		cfg_free(cfg);
	}
}

static void
test_resolver_lists(void **state)
{
	struct sealpost_config *cfg;
	char err[512];

	(void)state;
	/* comments inside lists: libconfuse 3.3 alone would refuse this */
	cfg = load_text("resolver {\n"
	    "  forwarders = {\n"
	    "    \"127.0.0.1@5353\",   # the lab resolver\n"
	    "    \"::1\"               # and its v6 twin\n"
	    "  }\n"
	    "  forwarders += { 192.0.2.1 }\n"
	    "  unbound_options = { 'val-log-level: 2' }\n"
	    "}\n", err, sizeof(err));
	if (cfg == NULL)
		fail_msg("%s", err);
	assert_int_equal(cfg->resolver.nforwarders, 3);
	assert_string_equal(cfg->resolver.forwarders[0], "127.0.0.1@5353");
	assert_string_equal(cfg->resolver.forwarders[1], "::1");
	assert_string_equal(cfg->resolver.forwarders[2], "192.0.2.1");
	assert_int_equal(cfg->resolver.nunbound_options, 1);
	assert_string_equal(cfg->resolver.unbound_options[0],
	    "val-log-level: 2");
	cfg_free(cfg);

	/* "=" replaces an earlier list, as libconfuse defines it */
	cfg = load_text("resolver {\n forwarders = { 192.0.2.1 }\n"
	    " forwarders = { 192.0.2.2 }\n}\n", err, sizeof(err));
	if (cfg == NULL)
		fail_msg("%s", err);
	assert_int_equal(cfg->resolver.nforwarders, 1);
	assert_string_equal(cfg->resolver.forwarders[0], "192.0.2.2");
	cfg_free(cfg);
}

/*
 * Broken files.  want is the whole message after "file:"; the line
 * number is part of it, so a drifting line count fails here.
 */
static const struct bad_case {
	const char *text;
	const char *want;
} bad_cases[] = {
	{ "# comment\n\nfrobnicate = 1\n",
	  "3: unknown key 'frobnicate'" },
	{ "# a\n# b\n# c\n# d\nsmtp_port = 25\nqueue_run_dely = 5m\n",
	  "6: unknown key 'queue_run_dely'" },
	{ "resolvr {\n  forwarders = { \"192.0.2.1\" }\n}\n",
	  "1: unknown section 'resolvr'" },
	{ "resolver {\n  # forwarders\n  forwarder = 192.0.2.1\n}\n",
	  "3: unknown key 'forwarder' in section resolver" },
	{ "timeouts {\n  connect = 30s\n  nested { }\n}\n",
	  "3: unknown section 'nested' in section timeouts" },
	{ "\nminimal_backoff = \"5 minutes\"\n",
	  "2: minimal_backoff: invalid duration '5 minutes' (expected 1s to "
	  "8640000s, e.g. 30s, 5m, 4h, 5d)" },
	{ "timeouts {\n connect = 0\n}\n",
	  "2: connect: invalid duration '0' (expected 1s to 86400s, e.g. 30s, "
	  "5m, 4h, 5d)" },
	{ "queue_run_delay = 5x\n",
	  "1: queue_run_delay: invalid duration '5x' (expected 1s to 86400s, "
	  "e.g. 30s, 5m, 4h, 5d)" },
	{ "smtp_port = 70000\n",
	  "1: smtp_port: invalid port '70000' (expected 1-65535)" },
	{ "smtp_port = 0\n",
	  "1: smtp_port: invalid port '0' (expected 1-65535)" },
	{ "relayhost {\n host = \"[smtp.example.net]:99999\"\n}\n",
	  "2: host: invalid value '[smtp.example.net]:99999' (expected host, "
	  "host:port, [host] or [host]:port)" },
	{ "tls_opportunistic = maybe\n",
	  "1: tls_opportunistic: invalid boolean 'maybe' (expected yes or no)" },
	{ "total_concurrency = -1\n",
	  "1: total_concurrency: invalid number '-1' (expected 1-100000)" },
	{ "destination_concurrency = 0\n",
	  "1: destination_concurrency: invalid number '0' (expected 1-10000)" },
	{ "message_size_limit = 10T\n",
	  "1: message_size_limit: invalid size '10T' (expected bytes, or a "
	  "number with k, M or G, at least 1)" },
	{ "log = journal\n",
	  "1: log: invalid value 'journal' (expected stderr or syslog)" },
	{ "myhostname = \"bad host\"\n",
	  "1: myhostname: invalid value 'bad host' (expected a host name of "
	  "letters, digits, '-' and '.')" },
	{ "resolver {\n forwarders = { \"192.0.2.1\",\n \"not-an-ip\" }\n}\n",
	  "3: forwarders: invalid value 'not-an-ip' (expected an IP address, "
	  "optionally @port)" },
	{ "resolver {\n unbound_options = { \"no colon\" }\n}\n",
	  "2: unbound_options: invalid value 'no colon' (expected \"name: "
	  "value\")" },
	{ "postmaster = root\nmyhostname = \"abc\n\nsmtp_port = 25\n",
	  "2: unterminated quoted string" },
	{ "postmaster = 'root\n",
	  "1: unterminated quoted string" },
	{ "minimal_backoff = 1h\n# long ago\nmaximal_backoff = 10m\n",
	  "3: maximal_backoff (600s) must not be less than minimal_backoff "
	  "(3600s)" },
	{ "maximal_backoff = 100\n",
	  "1: maximal_backoff (100s) must not be less than minimal_backoff "
	  "(300s)" },
	{ "smtp_port = 25\nsmtp_port = 26\n",
	  "2: smtp_port is already set on line 1" },
	{ "relayhost {\n sasl_username = u\n sasl_password_file = /x\n}\n",
	  "2: relayhost: sasl_username needs host" },
	{ "spool_directory = \"${HOME}/spool\"\n",
	  "1: \"${\" is not allowed: sealpost does not expand environment "
	  "variables in its configuration" },
	{ "smtp_port = 25 /* old style */\n",
	  "1: only '#' comments are supported" },
	{ "timeouts {\n connect = 30s\n",
	  "1: '{' is never closed" },
	{ "smtp_port =\n",
	  "2: unexpected end of file (missing value or '}')" },
	{ "smtp_port = 25\n}\n",
	  "2: unexpected closing brace" },
	{ "resolver {\n forwarders = { 192.0.2.1,\n}\n",
	  "1: '{' is never closed" },
	{ "smtp_port 25\n",
	  "1: missing equal sign after option 'smtp_port'" },
};

static void
test_bad_configs(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		char err[512], want[512];
		struct sealpost_config *cfg;

		memset(err, 'x', sizeof(err));
		cfg = load_text(bad_cases[i].text, err, sizeof(err));
		if (cfg != NULL) {
			cfg_free(cfg);
			fail_msg("case %zu accepted: %s", i, bad_cases[i].text);
		}
		snprintf(want, sizeof(want), "%s:%s", test_file,
		    bad_cases[i].want);
		if (strcmp(err, want) != 0)
			fail_msg("case %zu\n got: %s\nwant: %s", i, err, want);
	}
}

static void
test_missing_files(void **state)
{
	char err[512], want[512], missing[256];
	struct sealpost_config *cfg;

	(void)state;
	snprintf(missing, sizeof(missing), "%s/nope.conf", test_dir);
	cfg = cfg_load(missing, err, sizeof(err));
	assert_null(cfg);
	snprintf(want, sizeof(want), "%s: No such file or directory", missing);
	assert_string_equal(err, want);

	/* $SEALPOST_CONFIG names the file for cfg_load(NULL) */
	write_file(test_file, "smtp_port = 2626\n");
	assert_int_equal(setenv(CFG_ENV_PATH, test_file, 1), 0);
	assert_string_equal(cfg_default_path(), test_file);
	cfg = cfg_load(NULL, err, sizeof(err));
	assert_non_null(cfg);
	assert_int_equal(cfg->smtp_port, 2626);
	cfg_free(cfg);

	/* ... and, being a deliberate choice, must exist */
	assert_int_equal(setenv(CFG_ENV_PATH, missing, 1), 0);
	assert_null(cfg_load(NULL, err, sizeof(err)));
	assert_string_equal(err, want);

	assert_int_equal(unsetenv(CFG_ENV_PATH), 0);
	assert_string_equal(cfg_default_path(), CFG_DEFAULT_PATH);

	/* a directory is not a config file */
	assert_null(cfg_load(test_dir, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: not a regular file", test_dir);
	assert_string_equal(err, want);

	/* a tiny error buffer truncates but stays terminated */
	assert_null(cfg_load(missing, err, 8));
	assert_int_equal(strlen(err), 7);
	assert_null(cfg_load(missing, NULL, 0));
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
	return rmdir(test_dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_empty_file),
		cmocka_unit_test(test_every_key),
		cmocka_unit_test(test_message_size_forms),
		cmocka_unit_test(test_relative_paths),
		cmocka_unit_test(test_relayhost_forms),
		cmocka_unit_test(test_resolver_lists),
		cmocka_unit_test(test_bad_configs),
		cmocka_unit_test(test_missing_files),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
