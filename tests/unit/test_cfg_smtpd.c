/*
 * test_cfg_smtpd.c - the SMTP listener's configuration keys
 * (docs/smtpd-contract.md): value parsers from tables (listen address,
 * role, bare LF, CIDR parse and match) and cfg_load() of whole files,
 * with the exact "file:line: message" of broken ones.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "config/cfg_int.h"
#include "config/config.h"

static char test_dir[] = "/tmp/sp_cfg_smtpd.XXXXXX";
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
test_listen_address(void **state)
{
	static const struct {
		const char *in;
		int ok;
		const char *host;	/* NULL: "*" */
		unsigned port;
	} t[] = {
		{ "127.0.0.1:25", 1, "127.0.0.1", 25 },
		{ "*:587", 1, NULL, 587 },
		{ "[::1]:465", 1, "::1", 465 },
		{ "[2001:db8::5]:2525", 1, "2001:db8::5", 2525 },
		{ "localhost:25", 1, "localhost", 25 },
		{ "mx.example.org:25", 1, "mx.example.org", 25 },
		{ "::1:25", 0, NULL, 0 },		/* v6 needs brackets */
		{ "[127.0.0.1]:25", 0, NULL, 0 },	/* brackets: v6 only */
		{ "[::1]25", 0, NULL, 0 },
		{ "[::1]", 0, NULL, 0 },
		{ "127.0.0.1", 0, NULL, 0 },
		{ "127.0.0.1:", 0, NULL, 0 },
		{ "127.0.0.1:0", 0, NULL, 0 },
		{ "127.0.0.1:65536", 0, NULL, 0 },
		{ "127.0.0.1:+25", 0, NULL, 0 },
		{ ":25", 0, NULL, 0 },
		{ "bad_host:25", 0, NULL, 0 },
		{ "-a.example:25", 0, NULL, 0 },
		{ "**:25", 0, NULL, 0 },
		{ "", 0, NULL, 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char *host = (char *)"untouched";
		uint16_t port = 0;
		int rc = cfg_val_listen_address(t[i].in, &host, &port);

		if (!t[i].ok) {
			if (rc != -1)
				fail_msg("accepted %s", t[i].in);
			continue;
		}
		if (rc != 0)
			fail_msg("refused %s", t[i].in);
		assert_int_equal(port, t[i].port);
		if (t[i].host == NULL)
			assert_null(host);
		else
			assert_string_equal(host, t[i].host);
		free(host);
	}
}

static void
test_role_and_bare_lf(void **state)
{
	int v = -1;

	(void)state;
	assert_int_equal(cfg_val_role("relay", &v), 0);
	assert_int_equal(v, CFG_ROLE_RELAY);
	assert_int_equal(cfg_val_role("submission", &v), 0);
	assert_int_equal(v, CFG_ROLE_SUBMISSION);
	assert_int_equal(cfg_val_role("smtps", &v), 0);
	assert_int_equal(v, CFG_ROLE_SMTPS);
	assert_int_equal(cfg_val_role("Relay", &v), -1);
	assert_int_equal(cfg_val_role("", &v), -1);
	assert_int_equal(cfg_val_bare_lf("reject", &v), 0);
	assert_int_equal(v, CFG_BARE_LF_REJECT);
	assert_int_equal(cfg_val_bare_lf("normalize", &v), 0);
	assert_int_equal(v, CFG_BARE_LF_NORMALIZE);
	assert_int_equal(cfg_val_bare_lf("normalise", &v), 0);
	assert_int_equal(cfg_val_bare_lf("accept", &v), -1);
	assert_int_equal(cfg_val_title("mx-25.a_b"), 0);
	assert_int_equal(cfg_val_title(""), -1);
	assert_int_equal(cfg_val_title("a b"), -1);
	assert_string_equal(cfg_role_name(CFG_ROLE_SMTPS), "smtps");
}

static void
test_cidr_parse(void **state)
{
	static const struct {
		const char *in;
		int ok, family;
		unsigned prefix;
		const char *net;	/* canonical network */
	} t[] = {
		{ "127.0.0.0/8", 1, AF_INET, 8, "127.0.0.0" },
		{ "10.1.2.3/8", 1, AF_INET, 8, "10.0.0.0" },
		{ "192.0.2.1", 1, AF_INET, 32, "192.0.2.1" },
		{ "0.0.0.0/0", 1, AF_INET, 0, "0.0.0.0" },
		{ "192.0.2.77/27", 1, AF_INET, 27, "192.0.2.64" },
		{ "::1/128", 1, AF_INET6, 128, "::1" },
		{ "::1", 1, AF_INET6, 128, "::1" },
		{ "2001:db8:ffff::1/33", 1, AF_INET6, 33, "2001:db8:8000::" },
		{ "::/0", 1, AF_INET6, 0, "::" },
		{ "10.0.0.0/33", 0, 0, 0, NULL },
		{ "::/129", 0, 0, 0, NULL },
		{ "10.0.0.0/", 0, 0, 0, NULL },
		{ "10.0.0.0/08", 0, 0, 0, NULL },
		{ "10.0.0.0/-1", 0, 0, 0, NULL },
		{ "10.0.0.0/ 8", 0, 0, 0, NULL },
		{ "10.0.0/8", 0, 0, 0, NULL },
		{ "10.0.0.256", 0, 0, 0, NULL },
		{ "localhost", 0, 0, 0, NULL },
		{ "/8", 0, 0, 0, NULL },
		{ "", 0, 0, 0, NULL },
		{ "1111:2222:3333:4444:5555:6666:7777:8888:9999/8", 0, 0, 0,
		  NULL },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct cfg_cidr c;
		char text[INET6_ADDRSTRLEN];
		int rc = cfg_cidr_parse(t[i].in, &c);

		if (!t[i].ok) {
			if (rc != -1)
				fail_msg("accepted %s", t[i].in);
			continue;
		}
		if (rc != 0)
			fail_msg("refused %s", t[i].in);
		assert_int_equal(c.family, t[i].family);
		assert_int_equal(c.prefix, t[i].prefix);
		assert_non_null(inet_ntop(c.family, c.addr, text, sizeof(text)));
		assert_string_equal(text, t[i].net);
	}
}

static void
test_cidr_match(void **state)
{
	static const char *const nets_text[] = { "127.0.0.0/8",
		"192.0.2.64/27", "2001:db8::/32", "::1/128" };
	static const struct {
		const char *addr;
		int match;
	} t[] = {
		{ "127.0.0.1", 1 },
		{ "127.255.255.255", 1 },
		{ "128.0.0.1", 0 },
		{ "126.255.255.255", 0 },
		{ "192.0.2.64", 1 },
		{ "192.0.2.95", 1 },
		{ "192.0.2.96", 0 },
		{ "192.0.2.63", 0 },
		{ "2001:db8::1", 1 },
		{ "2001:db8:ffff:ffff::1", 1 },
		{ "2001:db9::1", 0 },
		{ "::1", 1 },
		{ "::2", 0 },
		{ "::ffff:127.0.0.1", 1 },	/* v4-mapped: as IPv4 */
		{ "::ffff:10.0.0.1", 0 },
		{ "::127.0.0.1", 0 },		/* v4-compatible: not mapped */
	};
	struct cfg_cidr nets[4];
	size_t i;

	(void)state;
	for (i = 0; i < 4; i++)
		assert_int_equal(cfg_cidr_parse(nets_text[i], &nets[i]), 0);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		unsigned char bin[16];
		int fam = strchr(t[i].addr, ':') ? AF_INET6 : AF_INET;

		assert_int_equal(inet_pton(fam, t[i].addr, bin), 1);
		if (cfg_cidr_match(nets, 4, fam, bin) != t[i].match)
			fail_msg("%s: expected %d", t[i].addr, t[i].match);
	}
	/* no networks: nothing matches, not even loopback */
	{
		unsigned char lo[4] = { 127, 0, 0, 1 };

		assert_int_equal(cfg_cidr_match(nets, 0, AF_INET, lo), 0);
	}
	/* /0 matches everything of its family only */
	{
		struct cfg_cidr all;
		unsigned char v4[4] = { 8, 8, 8, 8 }, v6[16] = { 0x20, 1 };

		assert_int_equal(cfg_cidr_parse("0.0.0.0/0", &all), 0);
		assert_int_equal(cfg_cidr_match(&all, 1, AF_INET, v4), 1);
		assert_int_equal(cfg_cidr_match(&all, 1, AF_INET6, v6), 0);
	}
}

static void
test_load_defaults(void **state)
{
	char err[512];
	struct sealpost_config *cfg;

	(void)state;
	cfg = load_text("myhostname = \"mx.example.org\"\n", err, sizeof(err));
	assert_non_null(cfg);
	assert_int_equal(cfg->smtpd.nlisten, 0);
	assert_int_equal(cfg->smtpd.nmynetworks, 2);
	assert_string_equal(cfg->smtpd.mynetworks[0], "127.0.0.0/8");
	assert_string_equal(cfg->smtpd.mynetworks[1], "::1/128");
	assert_null(cfg->smtpd.tls_cert_file);
	assert_null(cfg->smtpd.sasl_path);
	assert_int_equal(cfg->smtpd.sasl_enable, 0);
	assert_int_equal(cfg->smtpd.recipient_limit, 1000);
	assert_int_equal(cfg->smtpd.header_size_limit, 1024 * 1024);
	assert_int_equal(cfg->smtpd.client_connection_limit, 50);
	assert_int_equal(cfg->smtpd.connection_limit, 1000);
	assert_int_equal(cfg->smtpd.timeout, 300);
	assert_int_equal(cfg->smtpd.data_timeout, 600);
	assert_int_equal(cfg->smtpd.error_limit, 20);
	assert_int_equal(cfg->smtpd.bare_lf, CFG_BARE_LF_REJECT);
	cfg_free(cfg);

	cfg = cfg_defaults();
	assert_int_equal(cfg->smtpd.nmynetworks, 2);
	cfg_free(cfg);
}

static void
test_load_every_key(void **state)
{
	char err[512];
	struct sealpost_config *cfg;

	(void)state;
	cfg = load_text(
	    "myhostname = \"mx.example.org\"\n"
	    "listen \"mx\" {\n"
	    "    address = \"127.0.0.1:25\"   # the relay\n"
	    "    role    = relay\n"
	    "}\n"
	    "listen \"sub\" {\n"
	    "    address = \"[::1]:587\"\n"
	    "    role    = submission\n"
	    "}\n"
	    "listen \"smtps\" { address = \"*:465\"\n role = smtps }\n"
	    "listen \"plain\" { address = \"localhost:2525\" }\n"
	    "mynetworks = { \"10.1.0.0/16\",   # office\n"
	    "               \"2001:db8::/32\" }\n"
	    "smtpd_tls_cert_file = \"cert.pem\"\n"
	    "smtpd_tls_key_file  = \"/etc/key.pem\"\n"
	    "smtpd_sasl_path     = \"/etc/sealpost/sasl\"\n"
	    "smtpd_recipient_limit = 3\n"
	    "smtpd_header_size_limit = 64k\n"
	    "smtpd_client_connection_limit = 5\n"
	    "smtpd_connection_limit = 10\n"
	    "smtpd_timeout = 30s\n"
	    "smtpd_data_timeout = 2m\n"
	    "smtpd_error_limit = 4\n"
	    "smtpd_bare_lf = normalize\n", err, sizeof(err));
	if (cfg == NULL)
		fail_msg("%s", err);
	assert_int_equal(cfg->smtpd.nlisten, 4);
	assert_string_equal(cfg->smtpd.listen[0].name, "mx");
	assert_string_equal(cfg->smtpd.listen[0].host, "127.0.0.1");
	assert_int_equal(cfg->smtpd.listen[0].port, 25);
	assert_int_equal(cfg->smtpd.listen[0].role, CFG_ROLE_RELAY);
	assert_string_equal(cfg->smtpd.listen[1].host, "::1");
	assert_int_equal(cfg->smtpd.listen[1].role, CFG_ROLE_SUBMISSION);
	assert_null(cfg->smtpd.listen[2].host);
	assert_int_equal(cfg->smtpd.listen[2].port, 465);
	assert_int_equal(cfg->smtpd.listen[2].role, CFG_ROLE_SMTPS);
	assert_int_equal(cfg->smtpd.listen[3].role, CFG_ROLE_RELAY);
	assert_int_equal(cfg->smtpd.nmynetworks, 2);
	assert_int_equal(cfg->smtpd.mynet[0].prefix, 16);
	assert_int_equal(cfg->smtpd.mynet[1].family, AF_INET6);
	assert_non_null(strstr(cfg->smtpd.tls_cert_file, "/cert.pem"));
	assert_true(cfg->smtpd.tls_cert_file[0] == '/');
	assert_string_equal(cfg->smtpd.tls_key_file, "/etc/key.pem");
	assert_string_equal(cfg->smtpd.sasl_path, "/etc/sealpost/sasl");
	assert_int_equal(cfg->smtpd.sasl_enable, 1);	/* path given */
	assert_int_equal(cfg->smtpd.recipient_limit, 3);
	assert_int_equal(cfg->smtpd.header_size_limit, 64 * 1024);
	assert_int_equal(cfg->smtpd.client_connection_limit, 5);
	assert_int_equal(cfg->smtpd.connection_limit, 10);
	assert_int_equal(cfg->smtpd.timeout, 30);
	assert_int_equal(cfg->smtpd.data_timeout, 120);
	assert_int_equal(cfg->smtpd.error_limit, 4);
	assert_int_equal(cfg->smtpd.bare_lf, CFG_BARE_LF_NORMALIZE);
	cfg_free(cfg);

	/* explicit "no" wins over the path; an empty list means nobody */
	cfg = load_text("myhostname = \"a.example\"\n"
	    "smtpd_sasl_path = \"/x\"\nsmtpd_sasl_enable = no\n"
	    "mynetworks = {}\n", err, sizeof(err));
	if (cfg == NULL)
		fail_msg("%s", err);
	assert_int_equal(cfg->smtpd.sasl_enable, 0);
	assert_int_equal(cfg->smtpd.nmynetworks, 0);
	cfg_free(cfg);
}

static void
test_load_errors(void **state)
{
	static const struct {
		const char *text;
		const char *msg;	/* after "file:" */
	} t[] = {
		{ "listen \"x\" {\n role = relay\n}\n",
		  "2: listen \"x\": address is missing" },
		{ "listen \"x\" { address = \"1.2.3.4:25\" }\n"
		  "listen \"x\" { address = \"1.2.3.4:26\" }\n",
		  "2: found duplicate title 'x'" },
		{ "listen \"x\" { address = \"1.2.3.4:25\"\n"
		  " address = \"1.2.3.4:26\" }\n",
		  "2: address is already set on line 2" },
		{ "listen \"x\" { address = \"1.2.3.4:25\" }\n"
		  "listen \"y\" { address = \"1.2.3.4:25\" }\n",
		  "2: listen \"y\": same address as listen \"x\"" },
		{ "listen \"x\" { address = \"::1:25\" }\n",
		  "1: address: invalid address '::1:25' (expected host:port, "
		  "[IPv6]:port or *:port)" },
		{ "listen \"x\" {\n address = \"1.2.3.4:25\"\n role = open\n}\n",
		  "3: role: invalid role 'open' (expected relay, submission "
		  "or smtps)" },
		{ "listen \"x\" {\n address = \"1.2.3.4:25\"\n role = smtps\n}\n",
		  "2: listen \"x\": role smtps needs smtpd_tls_cert_file and "
		  "smtpd_tls_key_file" },
		{ "listen \"x\" {\n address = \"1.2.3.4:25\"\n port = 1\n}\n",
		  "3: unknown key 'port' in section listen" },
		{ "\nmynetworks = { \"10.0.0.0/8\",\n \"10.0.0.0/33\" }\n",
		  "3: mynetworks: invalid network '10.0.0.0/33' (expected an IP "
		  "address or network, e.g. 192.0.2.0/24, 2001:db8::/32)" },
		{ "smtpd_tls_cert_file = \"/c.pem\"\n",
		  "1: smtpd_tls_cert_file needs smtpd_tls_key_file" },
		{ "\nsmtpd_tls_key_file = \"/k.pem\"\n",
		  "2: smtpd_tls_key_file needs smtpd_tls_cert_file" },
		{ "smtpd_bare_lf = accept\n",
		  "1: smtpd_bare_lf: invalid value 'accept' (expected reject or "
		  "normalize)" },
		{ "smtpd_recipient_limit = 0\n",
		  "1: smtpd_recipient_limit: invalid number '0' (expected "
		  "1-10000)" },
		{ "smtpd_timeout = 2d\n",
		  "1: smtpd_timeout: invalid duration '2d' (expected 1s to "
		  "86400s, e.g. 30s, 5m, 4h, 5d)" },
		{ "smtpd_sasl_enable = maybe\n",
		  "1: smtpd_sasl_enable: invalid boolean 'maybe' (expected yes "
		  "or no)" },
	};
	char err[512], want[700];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char text[1024];
		struct sealpost_config *cfg;

		snprintf(text, sizeof(text), "myhostname = \"a.example\"\n%s",
		    t[i].text);
		cfg = load_text(text, err, sizeof(err));
		if (cfg != NULL) {
			cfg_free(cfg);
			fail_msg("case %zu accepted", i);
		}
		/* line numbers count the myhostname line we put first;
		 * "on line N" in a message is absolute */
		{
			unsigned line = (unsigned)strtoul(t[i].msg, NULL, 10);
			const char *rest = strchr(t[i].msg, ':');

			snprintf(want, sizeof(want), "%s:%u%s", test_file,
			    line + 1, rest);
		}
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
		cmocka_unit_test(test_listen_address),
		cmocka_unit_test(test_role_and_bare_lf),
		cmocka_unit_test(test_cidr_parse),
		cmocka_unit_test(test_cidr_match),
		cmocka_unit_test(test_load_defaults),
		cmocka_unit_test(test_load_every_key),
		cmocka_unit_test(test_load_errors),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
