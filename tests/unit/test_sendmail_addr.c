/*
 * test_sendmail_addr.c - address lists (-t headers, command line
 * arguments), envelope address checks, display names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "mta/sendmail.h"
#include "queue/queue.h"

/* Collects what the parser found as "a|b|c". */
struct collect {
	char out[4096];
};

static int
collect_cb(void *arg, const char *addr, size_t len, char *err, size_t errlen)
{
	struct collect *c = arg;
	size_t n = strlen(c->out);

	(void)err;
	(void)errlen;
	snprintf(c->out + n, sizeof(c->out) - n, "%s%.*s", n ? "|" : "",
	    (int)len, addr);
	return 0;
}

struct list_case {
	const char *in;
	int rc;
	const char *want;
};

static const struct list_case list_cases[] = {
	{ "a@b", 0, "a@b" },
	{ "user", 0, "user" },
	{ " a@b , c@d ", 0, "a@b|c@d" },
	{ "Joe <joe@example.com>", 0, "joe@example.com" },
	{ "\"Doe, John\" <jd@example.com>, x@y", 0, "jd@example.com|x@y" },
	{ "\"a \\\" quote, here\" <q@x>", 0, "q@x" },
	{ "joe@example.com (Joe, the man)", 0, "joe@example.com" },
	{ "joe(c1)@(c2 (nested))example.com", 0, "joe@example.com" },
	{ "undisclosed-recipients:;", 0, "" },
	{ "friends: a@b, \"C D\" <c@d>; e@f", 0, "a@b|c@d|e@f" },
	{ "Team:a@b,c@d", 0, "a@b|c@d" },	/* group without ';' */
	{ "a@b,\r\n c@d,\r\n\t<e@f>", 0, "a@b|c@d|e@f" },	/* folded */
	{ "\"Folded\r\n Name\" <f@x>", 0, "f@x" },
	{ "<@relay.example,@r2:user@host>", 0, "user@host" },
	{ "\"odd local\"@example.com", 0, "\"odd local\"@example.com" },
	{ "user@[192.0.2.1]", 0, "user@[192.0.2.1]" },
	{ "first . last @ example . com", 0, "first.last@example.com" },
	{ ",,a@b,,", 0, "a@b" },
	{ "", 0, "" },
	{ "<>", 0, "" },
	{ "J\xc3\xb6rg <j\xc3\xb6rg@example.de>", 0, "j\xc3\xb6rg@example.de" },
	/* refused */
	{ "John Doe joe@example.com", -1, NULL },
	{ "<a@b", -1, NULL },
	{ "a@b>", -1, NULL },
	{ "<a@b> <c@d>", -1, NULL },
	{ "a@b <c@d>", -1, NULL },
	{ "\"unterminated <a@b>", -1, NULL },
	{ "(unterminated a@b", -1, NULL },
	{ "a@[1.2.3.4", -1, NULL },
	{ "a[b]@c", -1, NULL },
	{ "g1: g2: a@b;;", -1, NULL },
	{ "a\\b@c", -1, NULL },
	{ "a\001@b", -1, NULL },
	{ "<@route-without-colon>", -1, NULL },
	{ "((((((((((((((((((((((((((((((((((x)))))))))))))))))))))))))))))))))) a@b",
	  -1, NULL },
};

static void
test_addr_list(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(list_cases) / sizeof(list_cases[0]); i++) {
		const struct list_case *c = &list_cases[i];
		struct collect col;
		char err[128] = "";
		int rc;

		col.out[0] = '\0';
		rc = sendmail_addr_list(c->in, strlen(c->in), collect_cb, &col,
		    err, sizeof(err));
		if (rc != c->rc)
			fail_msg("case %zu \"%s\": rc %d want %d (%s) got %s",
			    i, c->in, rc, c->rc, err, col.out);
		if (rc == 0)
			assert_string_equal(col.out, c->want);
		else
			assert_true(err[0] != '\0');
	}
}

/* The parser must stay inside len even when the string goes on. */
static void
test_addr_list_bounded(void **state)
{
	const char s[] = "a@b, c@d";
	struct collect col;
	char err[64];

	(void)state;
	col.out[0] = '\0';
	assert_int_equal(sendmail_addr_list(s, 3, collect_cb, &col, err,
	    sizeof(err)), 0);
	assert_string_equal(col.out, "a@b");
	/* a quote cut off by len is unterminated, whatever follows */
	assert_int_equal(sendmail_addr_list("\"ab\"@c", 3, collect_cb, &col,
	    err, sizeof(err)), -1);
}

struct qual_case {
	const char *in;
	int rc;
	const char *want;
	int utf8;
};

static const struct qual_case qual_cases[] = {
	{ "user", 0, "user@host.example", 0 },
	{ "u@d.example", 0, "u@d.example", 0 },
	{ "\"a b\"@d", 0, "\"a b\"@d", 0 },
	{ "u@[10.0.0.1]", 0, "u@[10.0.0.1]", 0 },
	{ "j\xc3\xb6rg@b\xc3\xbc.de", 0, "j\xc3\xb6rg@b\xc3\xbc.de", 1 },
	{ "", -1, NULL, 0 },
	{ "@d", -1, NULL, 0 },
	{ "u@", -1, NULL, 0 },
	{ "u@@d", -1, NULL, 0 },
	{ "a b@d", -1, NULL, 0 },
	{ "u@d..x", -1, NULL, 0 },
	{ "u@.d", -1, NULL, 0 },
	{ "u@d.", -1, NULL, 0 },
	{ "u@d\x7f", -1, NULL, 0 },
	{ "u\n@d", -1, NULL, 0 },
	{ "\"open@d", -1, NULL, 0 },
	{ "u@d\"x\"", -1, NULL, 0 },
	{ "u\xff@d", -1, NULL, 0 },			/* not UTF-8 */
	{ "u\xc0\xaf@d", -1, NULL, 0 },		/* overlong */
	{ "u@d,e", -1, NULL, 0 },
	/* quoted-pairs: the escaped byte is still checked (fuzzer finds) */
	{ "\"a\\\"b\"@d", 0, "\"a\\\"b\"@d", 0 },
	{ "\"a\\\\\"@d", 0, "\"a\\\\\"@d", 0 },
	{ "\"a\\\x01\"@example.org", -1, NULL, 0 },
	{ "\"a\\\xff\"@x", -1, NULL, 0 },
	{ "\"a\\\xc3\xb6\"@x", 0, "\"a\\\xc3\xb6\"@x", 1 },
	{ "\"a\\", -1, NULL, 0 },
};

static void
test_addr_qualify(void **state)
{
	char out[QUEUE_ADDR_MAX + 1], err[128], big[QUEUE_ADDR_MAX + 8];
	size_t i;
	int utf8;

	(void)state;
	for (i = 0; i < sizeof(qual_cases) / sizeof(qual_cases[0]); i++) {
		const struct qual_case *c = &qual_cases[i];
		int rc;

		utf8 = 0;
		rc = sendmail_addr_qualify(c->in, strlen(c->in),
		    "host.example", out, sizeof(out), &utf8, err, sizeof(err));
		if (rc != c->rc)
			fail_msg("case %zu \"%s\": rc %d want %d (%s)", i,
			    c->in, rc, c->rc, err);
		if (rc == 0) {
			assert_string_equal(out, c->want);
			assert_int_equal(utf8, c->utf8);
		}
	}
	/* an escaped NUL must not cut the address short */
	assert_int_equal(sendmail_addr_qualify("\"a\\\0b\"@example.org", 18,
	    "h", out, sizeof(out), &utf8, err, sizeof(err)), -1);
	/* length limits: local part 64, whole address QUEUE_ADDR_MAX */
	memset(big, 'a', 65);
	memcpy(big + 65, "@d", 3);
	assert_int_equal(sendmail_addr_qualify(big, strlen(big), "h", out,
	    sizeof(out), &utf8, err, sizeof(err)), -1);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[10] = '@';
	assert_int_equal(sendmail_addr_qualify(big, strlen(big), "h", out,
	    sizeof(out), &utf8, err, sizeof(err)), -1);
	/* qualification must not push past the limit either */
	memset(big, 'a', 60);
	big[60] = '\0';
	{
		char host[QUEUE_ADDR_MAX];

		memset(host, 'h', sizeof(host) - 1);
		host[sizeof(host) - 1] = '\0';
		assert_int_equal(sendmail_addr_qualify(big, 60, host, out,
		    sizeof(out), &utf8, err, sizeof(err)), -1);
	}
}

static void
test_sender_parse(void **state)
{
	char out[QUEUE_ADDR_MAX + 1], err[128];
	int utf8 = 0;

	(void)state;
	assert_int_equal(sendmail_sender_parse("", "h", out, sizeof(out),
	    &utf8, err, sizeof(err)), 0);
	assert_string_equal(out, "");
	assert_int_equal(sendmail_sender_parse("<>", "h", out, sizeof(out),
	    &utf8, err, sizeof(err)), 0);
	assert_string_equal(out, "");
	assert_int_equal(sendmail_sender_parse(" < > ", "h", out, sizeof(out),
	    &utf8, err, sizeof(err)), 0);
	assert_string_equal(out, "");
	assert_int_equal(sendmail_sender_parse("bob", "h.example", out,
	    sizeof(out), &utf8, err, sizeof(err)), 0);
	assert_string_equal(out, "bob@h.example");
	assert_int_equal(sendmail_sender_parse("<bob@x.example>", "h", out,
	    sizeof(out), &utf8, err, sizeof(err)), 0);
	assert_string_equal(out, "bob@x.example");
	assert_int_equal(sendmail_sender_parse("Bob <bob@x.example>", "h",
	    out, sizeof(out), &utf8, err, sizeof(err)), 0);
	assert_string_equal(out, "bob@x.example");
	assert_int_equal(sendmail_sender_parse("a@b, c@d", "h", out,
	    sizeof(out), &utf8, err, sizeof(err)), -1);
	assert_int_equal(sendmail_sender_parse("a b@c", "h", out,
	    sizeof(out), &utf8, err, sizeof(err)), -1);
}

struct name_case {
	const char *in;
	const char *want;
};

static const struct name_case name_cases[] = {
	{ "Jo Doe", "Jo Doe" },
	{ "  padded  ", "padded" },
	{ "Doe, Jo", "\"Doe, Jo\"" },
	{ "say \"hi\" \\o/", "\"say \\\"hi\\\" \\\\o/\"" },
	{ "ctl\001\nname", "ctlname" },
	{ "J\xc3\xb6rg", "=?UTF-8?B?SsO2cmc=?=" },
	{ "bad\xff", "bad" },
	{ "", "" },
	{ "\001\002", "" },
};

static void
test_display_name(void **state)
{
	char out[4 * SENDMAIL_NAME_MAX], in[3 * SENDMAIL_NAME_MAX];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(name_cases) / sizeof(name_cases[0]); i++) {
		sendmail_display_name(name_cases[i].in, out, sizeof(out));
		assert_string_equal(out, name_cases[i].want);
	}
	/* long UTF-8 names: several encoded-words, each <= 75 chars, cut
	 * on a character boundary at SENDMAIL_NAME_MAX bytes */
	for (i = 0; i < SENDMAIL_NAME_MAX; i++)
		memcpy(in + 2 * i, "\xc3\xa9", 2);
	in[2 * SENDMAIL_NAME_MAX] = '\0';
	sendmail_display_name(in, out, sizeof(out));
	{
		char *w = out, *sp;
		size_t words = 0;

		for (;;) {
			sp = strchr(w, ' ');
			assert_true((sp ? (size_t)(sp - w) : strlen(w)) <= 75);
			assert_memory_equal(w, "=?UTF-8?B?", 10);
			words++;
			if (sp == NULL)
				break;
			w = sp + 1;
		}
		assert_true(words >= 3);
	}
	/* tiny output buffer: no name rather than a cut one */
	sendmail_display_name("Jo Doe", out, 4);
	assert_string_equal(out, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addr_list),
		cmocka_unit_test(test_addr_list_bounded),
		cmocka_unit_test(test_addr_qualify),
		cmocka_unit_test(test_sender_parse),
		cmocka_unit_test(test_display_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
