/*
 * test_mta_chat.c - the SMTP reply parser, enhanced status codes and
 * EHLO keyword parsing (mta_chat.c, mta_ehlo.c).
 *
 * Every case is fed three ways: in one piece, one byte at a time, and
 * split at every position, because the parser must not care how the
 * network cut the bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mta/mta_int.h"

struct chat_case {
	const char *in;
	enum mta_chat_rc rc;	/* of the first reply */
	int code;
	const char *text;	/* lines joined by '\n' */
	size_t nlines;
	size_t used;		/* bytes of the first reply; 0 = all */
};

static const struct chat_case chat_cases[] = {
	{ "250 ok\r\n", MTA_CHAT_DONE, 250, "ok", 1, 0 },
	{ "220 mx.example ESMTP\r\n", MTA_CHAT_DONE, 220, "mx.example ESMTP", 1, 0 },
	{ "250\r\n", MTA_CHAT_DONE, 250, "", 1, 0 },
	{ "250-a\r\n250-b\r\n250 c\r\n", MTA_CHAT_DONE, 250, "a\nb\nc", 3, 0 },
	/* bare LF ends a line too (Postfix accepts it) */
	{ "250-a\n250 b\n", MTA_CHAT_DONE, 250, "a\nb", 2, 0 },
	/* a pipelined second reply is left for the next call */
	{ "250 one\r\n550 two\r\n", MTA_CHAT_DONE, 250, "one", 1, 9 },
	{ "250-a\r\n", MTA_CHAT_NEED_MORE, 0, NULL, 0, 0 },
	{ "250 partial", MTA_CHAT_NEED_MORE, 0, NULL, 0, 0 },
	{ "", MTA_CHAT_NEED_MORE, 0, NULL, 0, 0 },
	/* bad codes */
	{ "150 x\r\n", MTA_CHAT_INVALID, 0, NULL, 0, 0 },
	{ "650 x\r\n", MTA_CHAT_INVALID, 0, NULL, 0, 0 },
	{ "25 x\r\n", MTA_CHAT_INVALID, 0, NULL, 0, 0 },
	{ "2a0 x\r\n", MTA_CHAT_INVALID, 0, NULL, 0, 0 },
	{ "250x\r\n", MTA_CHAT_INVALID, 0, NULL, 0, 0 },
	{ "\r\n", MTA_CHAT_INVALID, 0, NULL, 0, 0 },
	{ " 250 x\r\n", MTA_CHAT_INVALID, 0, NULL, 0, 0 },
	/* the code must not change within a reply */
	{ "250-a\r\n251 b\r\n", MTA_CHAT_INVALID, 0, NULL, 0, 0 },
	{ "250-a\r\n550 b\r\n", MTA_CHAT_INVALID, 0, NULL, 0, 0 },
};

static enum mta_chat_rc
feed_split(const char *in, size_t len, size_t chunk, struct mta_reply *r,
    size_t *total)
{
	size_t off = 0, used;
	enum mta_chat_rc rc = MTA_CHAT_NEED_MORE;

	*total = 0;
	while (off < len) {
		size_t n = chunk && len - off > chunk ? chunk : len - off;

		rc = mta_reply_feed(r, in + off, n, &used);
		*total += used;
		if (rc != MTA_CHAT_NEED_MORE)
			return rc;
		assert_int_equal(used, n);
		off += n;
	}
	return rc;
}

static void
check_case(const struct chat_case *c, size_t chunk)
{
	struct mta_reply r;
	size_t total, len = strlen(c->in);
	enum mta_chat_rc rc;

	mta_reply_init(&r);
	rc = feed_split(c->in, len, chunk, &r, &total);
	if (rc != c->rc)
		fail_msg("input \"%s\" chunk %zu: rc %d, want %d", c->in,
		    chunk, rc, c->rc);
	if (rc == MTA_CHAT_DONE) {
		assert_int_equal(r.code, c->code);
		assert_int_equal(r.nlines, c->nlines);
		assert_string_equal(r.text.p ? r.text.p : "", c->text);
		assert_int_equal(total, c->used ? c->used : len);
	}
	if (rc == MTA_CHAT_INVALID)
		assert_true(r.error[0] != '\0');
	mta_reply_free(&r);
}

static void
test_chat_table(void **state)
{
	size_t i, chunk;

	for (i = 0; i < sizeof(chat_cases) / sizeof(chat_cases[0]); i++)
		for (chunk = 0; chunk <= strlen(chat_cases[i].in) + 1; chunk++)
			check_case(&chat_cases[i], chunk);
}

static void
test_chat_two_replies(void **state)
{
	const char *in = "250-x\r\n250 y\r\n354 go\r\n";
	struct mta_reply r;
	size_t used;

	mta_reply_init(&r);
	assert_int_equal(mta_reply_feed(&r, in, strlen(in), &used),
	    MTA_CHAT_DONE);
	assert_int_equal(r.code, 250);
	/* done until reset */
	assert_int_equal(mta_reply_feed(&r, in + used, strlen(in) - used,
	    &used), MTA_CHAT_DONE);
	assert_int_equal(used, 0);
	mta_reply_reset(&r);
	in += 14;
	assert_int_equal(mta_reply_feed(&r, in, strlen(in), &used),
	    MTA_CHAT_DONE);
	assert_int_equal(r.code, 354);
	assert_string_equal(r.text.p, "go");
	mta_reply_free(&r);
}

static void
test_chat_overlong_line(void **state)
{
	struct mta_reply r;
	char *line = malloc(MTA_REPLY_LINE_MAX + 10);
	size_t used;

	memset(line, 'a', MTA_REPLY_LINE_MAX + 10);
	memcpy(line, "250 ", 4);
	mta_reply_init(&r);
	/* exactly the limit (without CRLF) is fine */
	assert_int_equal(mta_reply_feed(&r, line, MTA_REPLY_LINE_MAX, &used),
	    MTA_CHAT_NEED_MORE);
	assert_int_equal(mta_reply_feed(&r, "\r\n", 2, &used), MTA_CHAT_DONE);
	mta_reply_reset(&r);
	assert_int_equal(mta_reply_feed(&r, line, MTA_REPLY_LINE_MAX + 1,
	    &used), MTA_CHAT_INVALID);
	assert_string_equal(r.error, "reply line too long");
	mta_reply_reset(&r);
	/* a CR at the limit followed by more text is still too long */
	line[MTA_REPLY_LINE_MAX] = '\r';
	assert_int_equal(mta_reply_feed(&r, line, MTA_REPLY_LINE_MAX + 2,
	    &used), MTA_CHAT_INVALID);
	mta_reply_free(&r);
	free(line);
}

static void
test_chat_too_many_lines(void **state)
{
	struct mta_reply r;
	size_t i, used;
	enum mta_chat_rc rc = MTA_CHAT_NEED_MORE;

	mta_reply_init(&r);
	for (i = 0; i < MTA_REPLY_LINES_MAX - 1; i++) {
		rc = mta_reply_feed(&r, "250-x\r\n", 7, &used);
		assert_int_equal(rc, MTA_CHAT_NEED_MORE);
	}
	/* line 100 may end it ... */
	assert_int_equal(mta_reply_feed(&r, "250 x\r\n", 7, &used),
	    MTA_CHAT_DONE);
	mta_reply_reset(&r);
	/* ... but a 101st line is refused */
	for (i = 0; i < MTA_REPLY_LINES_MAX; i++)
		assert_int_equal(mta_reply_feed(&r, "250-x\r\n", 7, &used),
		    MTA_CHAT_NEED_MORE);
	assert_int_equal(mta_reply_feed(&r, "250 x\r\n", 7, &used),
	    MTA_CHAT_INVALID);
	mta_reply_free(&r);
}

static void
test_chat_text_cap(void **state)
{
	struct mta_reply r;
	char line[MTA_REPLY_LINE_MAX + 3];
	size_t i, used;

	/* 100 lines of 2 KB exceed the kept text; the reply still parses */
	memset(line, 'b', sizeof(line));
	memcpy(line, "250-", 4);
	memcpy(line + MTA_REPLY_LINE_MAX, "\r\n", 2);
	mta_reply_init(&r);
	for (i = 0; i < MTA_REPLY_LINES_MAX - 1; i++)
		assert_int_equal(mta_reply_feed(&r, line, MTA_REPLY_LINE_MAX + 2,
		    &used), MTA_CHAT_NEED_MORE);
	assert_int_equal(mta_reply_feed(&r, "250 end\r\n", 9, &used),
	    MTA_CHAT_DONE);
	assert_true(r.text.len <= MTA_REPLY_TEXT_MAX);
	mta_reply_free(&r);
}

struct status_case {
	const char *text;
	int code;
	const char *want;	/* NULL = none */
};

static const struct status_case status_cases[] = {
	{ "5.1.1 no such user", 550, "5.1.1" },
	{ "2.0.0 Ok: queued as X", 250, "2.0.0" },
	{ "4.7.1 try later", 451, "4.7.1" },
	{ "5.7.26 DMARC", 550, "5.7.26" },
	{ "5.123.456", 554, "5.123.456" },
	{ "5.1234.1 x", 550, NULL },
	{ "5.1.1234 x", 550, NULL },
	{ "5.1.1x", 550, NULL },
	{ "5.1. x", 550, NULL },
	{ "5..1 x", 550, NULL },
	{ "4.1.1 class differs", 550, NULL },
	{ "3.1.1 x", 354, NULL },
	{ "no status here", 250, NULL },
	{ "", 250, NULL },
};

static void
test_status_parse(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(status_cases) / sizeof(status_cases[0]); i++) {
		const struct status_case *c = &status_cases[i];
		char out[16] = "";
		int rc = mta_status_parse(c->text, strlen(c->text), c->code, out);

		if (c->want == NULL) {
			if (rc != -1)
				fail_msg("\"%s\": parsed as %s", c->text, out);
		} else {
			assert_int_equal(rc, 0);
			assert_string_equal(out, c->want);
		}
	}
}

static void
parse_reply(struct mta_reply *r, const char *in)
{
	size_t used;

	mta_reply_init(r);
	assert_int_equal(mta_reply_feed(r, in, strlen(in), &used),
	    MTA_CHAT_DONE);
}

static void
test_reply_dsn_and_oneline(void **state)
{
	struct mta_reply r;
	char dsn[16], line[MTA_TEXT_MAX];

	parse_reply(&r, "550-5.1.1 no such\r\n550 5.1.1 user here\r\n");
	mta_reply_dsn(&r, dsn);
	assert_string_equal(dsn, "5.1.1");
	mta_reply_oneline(&r, line, sizeof(line));
	assert_string_equal(line, "550 5.1.1 no such 5.1.1 user here");
	mta_reply_free(&r);

	parse_reply(&r, "452 too many\r\n");
	mta_reply_dsn(&r, dsn);
	assert_string_equal(dsn, "4.0.0");
	mta_reply_free(&r);

	/* control characters from the peer never reach a log line */
	parse_reply(&r, "250 a\x1b[31mb\x7f\r\n");
	mta_reply_oneline(&r, line, sizeof(line));
	assert_string_equal(line, "250 a?[31mb?");
	mta_reply_free(&r);
}

static void
test_ehlo_parse(void **state)
{
	struct mta_reply r;
	struct mta_ehlo e;

	parse_reply(&r, "250-mx.example.net hello\r\n"
	    "250-PIPELINING\r\n"
	    "250-SIZE 10240000\r\n"
	    "250-8bitmime\r\n"
	    "250-SMTPUTF8\r\n"
	    "250-STARTTLS\r\n"
	    "250-AUTH PLAIN LOGIN\r\n"
	    "250-AUTH=LOGIN CRAM-MD5\r\n"
	    "250-DSN\r\n"
	    "250-ENHANCEDSTATUSCODES\r\n"
	    "250-PIPELININGX\r\n"
	    "250 X-UNKNOWN foo\r\n");
	mta_ehlo_parse(&r, &e);
	assert_int_equal(e.flags, MTA_EXT_PIPELINING | MTA_EXT_SIZE |
	    MTA_EXT_8BITMIME | MTA_EXT_SMTPUTF8 | MTA_EXT_STARTTLS |
	    MTA_EXT_AUTH | MTA_EXT_DSN | MTA_EXT_ENHANCED);
	assert_int_equal(e.size_max, 10240000);
	assert_string_equal(e.auth, "PLAIN LOGIN LOGIN CRAM-MD5");
	mta_reply_free(&r);

	/* the greeting line is not a keyword; SIZE without a number; junk */
	parse_reply(&r, "250-STARTTLS\r\n250-SIZE\r\n250 SIZE -1\r\n");
	mta_ehlo_parse(&r, &e);
	assert_int_equal(e.flags, MTA_EXT_SIZE);
	assert_int_equal(e.size_max, 0);
	mta_reply_free(&r);

	/* a one-line EHLO reply offers nothing */
	parse_reply(&r, "250 mx.example.net\r\n");
	mta_ehlo_parse(&r, &e);
	assert_int_equal(e.flags, 0);
	mta_reply_free(&r);

	/* mechanisms that are not atoms are dropped */
	parse_reply(&r, "250-x\r\n250 AUTH PLAIN B@D LOGIN\r\n");
	mta_ehlo_parse(&r, &e);
	assert_string_equal(e.auth, "PLAIN LOGIN");
	mta_reply_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chat_table),
		cmocka_unit_test(test_chat_two_replies),
		cmocka_unit_test(test_chat_overlong_line),
		cmocka_unit_test(test_chat_too_many_lines),
		cmocka_unit_test(test_chat_text_cap),
		cmocka_unit_test(test_status_parse),
		cmocka_unit_test(test_reply_dsn_and_oneline),
		cmocka_unit_test(test_ehlo_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
