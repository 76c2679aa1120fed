/*
 * test_mta_proto.c - the pure pieces around the SMTP session: the DATA
 * encoder (dot-stuffing, line ends, long lines), MAIL/RCPT command
 * building with extension parameters, and the MX/address walk order and
 * TLS policy (mta_body.c, mta_ehlo.c, mta_route.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cmocka.h>

#include "mta/mta_int.h"

/* Encode all of in with output buffers of outlen bytes. */
static char *
encode_all(const char *in, size_t inlen, size_t outlen, size_t *len)
{
	struct mta_body_enc e;
	struct dynbuf b;
	char *out = malloc(outlen);
	size_t n;

	dynbuf_init(&b, 1 << 24);
	mta_body_init(&e, in, inlen);
	while ((n = mta_body_encode(&e, out, outlen)) > 0)
		assert_int_equal(dynbuf_add(&b, out, n), 0);
	free(out);
	return dynbuf_take(&b, len);
}

struct body_case {
	const char *in;
	const char *out;
};

static const struct body_case body_cases[] = {
	{ "", ".\r\n" },
	{ "a\r\n", "a\r\n.\r\n" },
	{ "a", "a\r\n.\r\n" },
	{ ".\r\n", "..\r\n.\r\n" },
	{ "x\r\n.\r\ny\r\n", "x\r\n..\r\ny\r\n.\r\n" },
	{ "..two\r\n", "...two\r\n.\r\n" },
	{ "a.b\r\n .c\r\n", "a.b\r\n .c\r\n.\r\n" },
	/* bare LF and bare CR become CRLF; a dot after them is stuffed */
	{ "a\nb\n", "a\r\nb\r\n.\r\n" },
	{ "a\rb\r\n", "a\r\nb\r\n.\r\n" },
	{ "a\n.\n", "a\r\n..\r\n.\r\n" },
	{ "a\r", "a\r\n.\r\n" },
	{ "a\r\r\nb", "a\r\n\r\nb\r\n.\r\n" },
	/* the classic smuggling shape is neutralised */
	{ "x\n.\r\nMAIL FROM:<a>\r\n", "x\r\n..\r\nMAIL FROM:<a>\r\n.\r\n" },
};

static void
test_body_table(void **state)
{
	size_t i, outlen, len;

	for (i = 0; i < sizeof(body_cases) / sizeof(body_cases[0]); i++) {
		for (outlen = 8; outlen <= 24; outlen += 16) {
			char *got = encode_all(body_cases[i].in,
			    strlen(body_cases[i].in), outlen, &len);

			if (strcmp(got, body_cases[i].out) != 0)
				fail_msg("case %zu outlen %zu: got \"%s\"", i,
				    outlen, got);
			free(got);
		}
	}
}

/* Every output line is at most MTA_LINE_LIMIT octets before CRLF. */
static void
assert_lines_bounded(const char *p, size_t len)
{
	size_t col = 0, i;

	for (i = 0; i < len; i++) {
		if (p[i] == '\r') {
			assert_true(i + 1 < len && p[i + 1] == '\n');
			i++;
			col = 0;
			continue;
		}
		assert_true(p[i] != '\n');
		col++;
		assert_true(col <= MTA_LINE_LIMIT);
	}
}

static void
test_body_long_lines(void **state)
{
	size_t n = 3000, len, i, letters = 0;
	char *in = malloc(n + 3), *got;

	memset(in, 'x', n);
	in[0] = '.';
	memcpy(in + n, "\r\n", 3);
	got = encode_all(in, n + 2, 8, &len);
	assert_lines_bounded(got, len);
	/* folded with CRLF SP: no byte of the original is lost */
	for (i = 0; i < len; i++)
		letters += got[i] == 'x';
	assert_int_equal(letters, n - 1);
	assert_memory_equal(got, "..xx", 4);
	assert_memory_equal(got + MTA_LINE_LIMIT, "\r\n x", 4);
	assert_memory_equal(got + len - 5, "\r\n.\r\n", 5);
	free(got);

	/* exactly the limit is not folded */
	memset(in, 'y', MTA_LINE_LIMIT);
	got = encode_all(in, MTA_LINE_LIMIT, 64, &len);
	assert_int_equal(len, MTA_LINE_LIMIT + 5);
	free(got);
	free(in);
}

static void
test_body_random_roundtrip(void **state)
{
	/* Arbitrary bytes: output always well-formed, ends with the dot. */
	size_t round, len, i;

	srand(7);
	for (round = 0; round < 200; round++) {
		size_t n = (size_t)(rand() % 3000);
		char *in = malloc(n + 1), *got;

		for (i = 0; i < n; i++) {
			int r = rand() % 10;

			in[i] = r == 0 ? '\r' : r == 1 ? '\n' : r == 2 ? '.' :
			    (char)('a' + rand() % 26);
		}
		got = encode_all(in, n, 8 + (size_t)(rand() % 100), &len);
		assert_lines_bounded(got, len);
		assert_true(len >= 3);
		assert_memory_equal(got + len - 3, ".\r\n", 3);
		/* no line other than the last is a lone dot */
		for (i = 0; i + 5 < len; i++)
			if (got[i] == '\n' && got[i + 1] == '.')
				assert_true(got[i + 2] == '.' ||
				    i + 4 == len - 1);
		free(got);
		free(in);
	}
}

static struct queue_msg *
make_msg(const char *sender, unsigned flags)
{
	struct queue_msg *m = calloc(1, sizeof(*m));

	m->sender = strdup(sender);
	m->flags = flags;
	m->size = 1234;
	return m;
}

static void
free_msg(struct queue_msg *m)
{
	free(m->sender);
	free(m->envid);
	free(m);
}

static void
test_cmd_mail(void **state)
{
	struct mta_ehlo none = { 0 }, all = { 0 };
	struct queue_msg *m = make_msg("a@example.org",
	    QUEUE_MSG_8BITMIME | QUEUE_MSG_SMTPUTF8);
	struct dynbuf b;

	all.flags = MTA_EXT_SIZE | MTA_EXT_8BITMIME | MTA_EXT_SMTPUTF8 |
	    MTA_EXT_DSN;
	dynbuf_init(&b, MTA_CMD_MAX);
	assert_int_equal(mta_cmd_mail(&b, m, &none), 0);
	assert_string_equal(b.p, "MAIL FROM:<a@example.org>\r\n");
	m->ret = QUEUE_RET_HDRS;
	m->envid = strdup("id+1=2 x");
	assert_int_equal(mta_cmd_mail(&b, m, &all), 0);
	assert_string_equal(b.p, "MAIL FROM:<a@example.org> SIZE=1234 "
	    "BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=id+2B1+3D2+20x\r\n");
	free_msg(m);

	m = make_msg("", 0);
	assert_int_equal(mta_cmd_mail(&b, m, &all), 0);
	assert_string_equal(b.p, "MAIL FROM:<> SIZE=1234\r\n");
	free_msg(m);

	/* a CR/LF in an address would inject commands: refused */
	m = make_msg("a@b\r\nRCPT TO:<evil@x>", 0);
	assert_int_equal(mta_cmd_mail(&b, m, &none), -1);
	free_msg(m);
	m = make_msg("a>@b", 0);
	assert_int_equal(mta_cmd_mail(&b, m, &none), -1);
	free_msg(m);
	dynbuf_free(&b);
}

static void
test_cmd_rcpt(void **state)
{
	struct mta_ehlo none = { 0 }, dsn = { 0 };
	struct queue_rcpt r = { 0 };
	struct dynbuf b;

	dsn.flags = MTA_EXT_DSN;
	dynbuf_init(&b, MTA_CMD_MAX);
	r.addr = "u@example.net";
	r.orcpt = "rfc822;U+x@example.net";
	r.notify = QUEUE_NOTIFY_SUCCESS | QUEUE_NOTIFY_DELAY;
	assert_int_equal(mta_cmd_rcpt(&b, &r, &none), 0);
	assert_string_equal(b.p, "RCPT TO:<u@example.net>\r\n");
	assert_int_equal(mta_cmd_rcpt(&b, &r, &dsn), 0);
	assert_string_equal(b.p, "RCPT TO:<u@example.net> "
	    "NOTIFY=SUCCESS,DELAY ORCPT=rfc822;U+2Bx@example.net\r\n");
	r.notify = QUEUE_NOTIFY_NEVER;
	r.orcpt = "bad type;x";		/* malformed: left out */
	assert_int_equal(mta_cmd_rcpt(&b, &r, &dsn), 0);
	assert_string_equal(b.p, "RCPT TO:<u@example.net> NOTIFY=NEVER\r\n");
	r.addr = "";
	assert_int_equal(mta_cmd_rcpt(&b, &r, &none), -1);
	r.addr = "a\nb@c";
	assert_int_equal(mta_cmd_rcpt(&b, &r, &none), -1);
	dynbuf_free(&b);
}

static void
set_v4(struct sockaddr_storage *ss, const char *ip, uint16_t port)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	inet_pton(AF_INET, ip, &sin->sin_addr);
}

static void
test_route_order(void **state)
{
	struct res_mx_result *res = calloc(1, sizeof(*res));
	struct mta_route rt;
	char ip[64];

	res->rcode = RES_OK;
	res->nhosts = 3;
	snprintf(res->hosts[0].name, RES_NAME_MAX, "mx1.example.");
	res->hosts[0].rcode = RES_OK;
	res->hosts[0].naddr = 2;
	set_v4(&res->hosts[0].addr[0], "192.0.2.1", 25);
	set_v4(&res->hosts[0].addr[1], "192.0.2.2", 25);
	snprintf(res->hosts[1].name, RES_NAME_MAX, "dead.example.");
	res->hosts[1].rcode = RES_NOTFOUND;
	snprintf(res->hosts[2].name, RES_NAME_MAX, "mx2.example.");
	res->hosts[2].rcode = RES_OK;
	res->hosts[2].naddr = 4;
	set_v4(&res->hosts[2].addr[0], "198.51.100.1", 25);
	set_v4(&res->hosts[2].addr[1], "198.51.100.2", 25);
	set_v4(&res->hosts[2].addr[2], "198.51.100.3", 25);
	set_v4(&res->hosts[2].addr[3], "198.51.100.4", 25);

	mta_route_build(res, MTA_ADDRESS_LIMIT, &rt);
	assert_int_equal(rt.n, MTA_ADDRESS_LIMIT);
	assert_string_equal(rt.e[0].host, "mx1.example.");
	mta_addr_string(&rt.e[1].addr, ip, sizeof(ip));
	assert_string_equal(ip, "192.0.2.2");
	assert_string_equal(rt.e[2].host, "mx2.example.");
	mta_addr_string(&rt.e[4].addr, ip, sizeof(ip));
	assert_string_equal(ip, "198.51.100.3");
	assert_int_equal(mta_addr_port(&rt.e[4].addr), 25);

	mta_route_build(res, 2, &rt);
	assert_int_equal(rt.n, 2);

	/* no usable host: the reason is kept */
	res->nhosts = 2;
	res->hosts[0].rcode = RES_RETRY;
	res->hosts[0].naddr = 0;
	mta_route_build(res, MTA_ADDRESS_LIMIT, &rt);
	assert_int_equal(rt.n, 0);
	assert_int_equal(rt.retry, 1);
	assert_non_null(strstr(rt.error, "dead.example"));
	free(res);
}

static void
test_route_literal(void **state)
{
	struct sockaddr_storage ss;
	char ip[64];

	assert_int_equal(mta_route_literal("[127.0.0.1]", 2525, &ss), 0);
	mta_addr_string(&ss, ip, sizeof(ip));
	assert_string_equal(ip, "127.0.0.1");
	assert_int_equal(mta_addr_port(&ss), 2525);
	assert_int_equal(mta_route_literal("[ipv6:::1]", 25, &ss), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(mta_route_literal("2001:db8::1", 25, &ss), 0);
	assert_int_equal(mta_route_literal("mx.example.net", 25, &ss), -1);
	assert_int_equal(mta_route_literal("[mx.example.net]", 25, &ss), -1);
	assert_int_equal(mta_route_literal("[300.1.1.1]", 25, &ss), -1);
}

static void
test_policy(void **state)
{
	struct sealpost_config cfg;
	struct tls_policy a, b;

	memset(&cfg, 0, sizeof(cfg));
	cfg.tls_opportunistic = 1;
	mta_policy_for(&cfg, 0, "mx.example.net.", &a);
	assert_int_equal(a.level, TLS_LEVEL_MAY);
	assert_string_equal(a.sni, "mx.example.net");
	/* never an IP literal as SNI */
	mta_policy_for(&cfg, 1, "[192.0.2.7]", &b);
	assert_string_equal(b.sni, "");
	assert_int_equal(b.level, TLS_LEVEL_MAY);
	assert_false(tls_policy_equal(&a, &b));
	mta_policy_for(&cfg, 0, "MX.example.net", &b);
	assert_true(tls_policy_equal(&a, &b));

	/* credentials for the relay demand a verified peer */
	cfg.relay.sasl_username = "user";
	mta_policy_for(&cfg, 1, "[smtp.example.net]", &a);
	assert_int_equal(a.level, TLS_LEVEL_VERIFY);
	assert_int_equal(a.nnames, 1);
	assert_string_equal(a.names[0], "smtp.example.net");
	assert_string_equal(a.sni, "smtp.example.net");
	assert_true(tls_policy_required(&a));
	mta_policy_for(&cfg, 1, "192.0.2.9", &a);
	assert_string_equal(a.names[0], "192.0.2.9");
	assert_string_equal(a.sni, "");

	cfg.tls_opportunistic = 0;
	mta_policy_for(&cfg, 0, "mx.example.net", &a);
	assert_int_equal(a.level, TLS_LEVEL_NONE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_body_table),
		cmocka_unit_test(test_body_long_lines),
		cmocka_unit_test(test_body_random_roundtrip),
		cmocka_unit_test(test_cmd_mail),
		cmocka_unit_test(test_cmd_rcpt),
		cmocka_unit_test(test_route_order),
		cmocka_unit_test(test_route_literal),
		cmocka_unit_test(test_policy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
