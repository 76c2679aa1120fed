/*
 * test_sendmail_msg.c - reading the message (line endings, ".", size,
 * 8-bit), the header section (split, -t recipients), and the message as
 * queued (Bcc removal, added From/Date/Message-ID).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mta/sendmail.h"

/* ---- the reader ---------------------------------------------------------- */

struct input_case {
	const char *in;
	int ignore_dots;
	const char *want;
	int end;		/* a "." line ended it */
	int eightbit;
};

static const struct input_case input_cases[] = {
	{ "a\nb\n", 0, "a\r\nb\r\n", 0, 0 },
	{ "a\r\nb\r\n", 0, "a\r\nb\r\n", 0, 0 },
	{ "a\nb", 0, "a\r\nb\r\n", 0, 0 },		/* no final newline */
	{ "", 0, "", 0, 0 },
	{ "\n", 0, "\r\n", 0, 0 },
	{ "a\rb\n", 0, "a\r\nb\r\n", 0, 0 },		/* bare CR */
	{ "a\r", 0, "a\r\n", 0, 0 },
	{ "a\r\r\nb", 0, "a\r\n\r\nb\r\n", 0, 0 },
	/* "." handling without -i */
	{ "a\n.\nb\n", 0, "a\r\n", 1, 0 },
	{ "a\r\n.\r\nb\r\n", 0, "a\r\n", 1, 0 },
	{ "a\n.", 0, "a\r\n", 0, 0 },			/* "." then EOF */
	{ ".\n", 0, "", 1, 0 },
	{ "a\n..\n", 0, "a\r\n..\r\n", 0, 0 },		/* no unstuffing */
	{ "a\n.b\n", 0, "a\r\n.b\r\n", 0, 0 },
	{ "a\n. \n", 0, "a\r\n. \r\n", 0, 0 },
	{ "a\n.\rx\n", 0, "a\r\n.\r\nx\r\n", 0, 0 },	/* ".", bare CR */
	{ "a\rb\r.\r\n", 0, "a\r\nb\r\n.\r\n", 0, 0 },	/* not an LF line */
	/* with -i the dot is data */
	{ "a\n.\nb\n", 1, "a\r\n.\r\nb\r\n", 0, 0 },
	{ ".\n", 1, ".\r\n", 0, 0 },
	/* 8-bit */
	{ "caf\xc3\xa9\n", 0, "caf\xc3\xa9\r\n", 0, 1 },
	{ "a\n.\n\xff\n", 0, "a\r\n", 1, 0 },		/* after the end */
};

/* Feed whole, then in every split position, then byte by byte. */
static void
run_input(const struct input_case *c, size_t split, int bytewise)
{
	struct sendmail_input in;
	size_t len = strlen(c->in), i;
	enum sendmail_input_rc rc = SENDMAIL_INPUT_MORE;

	sendmail_input_init(&in, 1024, c->ignore_dots);
	if (bytewise) {
		for (i = 0; i < len && rc == SENDMAIL_INPUT_MORE; i++)
			rc = sendmail_input_feed(&in, c->in + i, 1);
	} else {
		rc = sendmail_input_feed(&in, c->in, split);
		if (rc == SENDMAIL_INPUT_MORE)
			rc = sendmail_input_feed(&in, c->in + split,
			    len - split);
	}
	if (rc == SENDMAIL_INPUT_MORE)
		assert_int_equal(sendmail_input_finish(&in),
		    SENDMAIL_INPUT_MORE);
	if ((rc == SENDMAIL_INPUT_END) != c->end)
		fail_msg("\"%s\" split %zu: end %d", c->in, split, rc);
	if (in.out.len != strlen(c->want) ||
	    memcmp(in.out.p ? in.out.p : "", c->want, in.out.len) != 0)
		fail_msg("\"%s\" split %zu bytewise %d: got \"%.*s\"", c->in,
		    split, bytewise, (int)in.out.len, in.out.p);
	assert_int_equal(in.eightbit, c->eightbit);
	sendmail_input_free(&in);
}

static void
test_input_table(void **state)
{
	size_t i, s;

	(void)state;
	for (i = 0; i < sizeof(input_cases) / sizeof(input_cases[0]); i++) {
		for (s = 0; s <= strlen(input_cases[i].in); s++)
			run_input(&input_cases[i], s, 0);
		run_input(&input_cases[i], 0, 1);
	}
}

static void
test_input_size_limit(void **state)
{
	struct sendmail_input in;

	(void)state;
	/* exactly at the limit is fine ("abc\r\n" is 5 bytes) */
	sendmail_input_init(&in, 5, 0);
	assert_int_equal(sendmail_input_feed(&in, "abc\n", 4),
	    SENDMAIL_INPUT_MORE);
	assert_int_equal(sendmail_input_finish(&in), SENDMAIL_INPUT_MORE);
	sendmail_input_free(&in);
	/* one over is refused, and stays refused */
	sendmail_input_init(&in, 5, 0);
	assert_int_equal(sendmail_input_feed(&in, "abcd\n", 5),
	    SENDMAIL_INPUT_TOOBIG);
	assert_int_equal(sendmail_input_feed(&in, "x", 1),
	    SENDMAIL_INPUT_TOOBIG);
	assert_int_equal(sendmail_input_finish(&in), SENDMAIL_INPUT_TOOBIG);
	sendmail_input_free(&in);
	/* the CRLF added at EOF counts too */
	sendmail_input_init(&in, 4, 0);
	assert_int_equal(sendmail_input_feed(&in, "abcd", 4),
	    SENDMAIL_INPUT_MORE);
	assert_int_equal(sendmail_input_finish(&in), SENDMAIL_INPUT_TOOBIG);
	sendmail_input_free(&in);
}

/* ---- the header section ------------------------------------------------ */

static void
test_hdrs_split(void **state)
{
	const char *m1 = "From: a@b\r\nSubject: hi\r\n there\r\n\r\nbody\r\n";
	const char *m2 = "From me Mon Nov 23 2026\r\nTo: x@y\r\n\r\nb\r\n";
	const char *m3 = "Subject: no separator\r\nplain text line\r\n";
	const char *m4 = "Subject: only headers\r\nX-A: 1\r\n";
	const char *m5 = "just a body\r\nSubject: not a header\r\n";
	const char *m6 = "Subject : obsolete\r\n\tcont\r\n\r\n";
	struct sendmail_hdrs h;
	char err[128];

	(void)state;
	assert_int_equal(sendmail_hdrs_split(m1, strlen(m1), &h, err,
	    sizeof(err)), 0);
	assert_int_equal(h.n, 2);
	assert_true(h.separator);
	assert_int_equal(h.v[1].len, strlen("Subject: hi\r\n there\r\n"));
	assert_string_equal(m1 + h.body_off, "body\r\n");
	assert_int_equal(sendmail_hdrs_find(m1, &h, "subject"), 1);
	assert_int_equal(sendmail_hdrs_find(m1, &h, "Date"), -1);
	sendmail_hdrs_free(&h);

	assert_int_equal(sendmail_hdrs_split(m2, strlen(m2), &h, err,
	    sizeof(err)), 0);
	assert_int_equal(h.n, 1);
	assert_true(sendmail_hdr_is(m2, &h.v[0], "to"));
	sendmail_hdrs_free(&h);

	assert_int_equal(sendmail_hdrs_split(m3, strlen(m3), &h, err,
	    sizeof(err)), 0);
	assert_int_equal(h.n, 1);
	assert_false(h.separator);
	assert_string_equal(m3 + h.body_off, "plain text line\r\n");
	sendmail_hdrs_free(&h);

	assert_int_equal(sendmail_hdrs_split(m4, strlen(m4), &h, err,
	    sizeof(err)), 0);
	assert_int_equal(h.n, 2);
	assert_int_equal(h.body_off, strlen(m4));
	sendmail_hdrs_free(&h);

	assert_int_equal(sendmail_hdrs_split(m5, strlen(m5), &h, err,
	    sizeof(err)), 0);
	assert_int_equal(h.n, 0);
	assert_int_equal(h.body_off, 0);
	sendmail_hdrs_free(&h);

	assert_int_equal(sendmail_hdrs_split(m6, strlen(m6), &h, err,
	    sizeof(err)), 0);
	assert_int_equal(h.n, 1);
	assert_true(sendmail_hdr_is(m6, &h.v[0], "Subject"));
	sendmail_hdrs_free(&h);
}

static void
test_hdrs_limits(void **state)
{
	struct sendmail_hdrs h;
	char err[128], *m;
	size_t n, i;

	(void)state;
	/* a 998 character field line is fine, 999 is not */
	m = malloc(2000);
	memcpy(m, "X-Long: ", 8);
	memset(m + 8, 'x', 990);
	memcpy(m + 998, "\r\n\r\n", 5);
	assert_int_equal(sendmail_hdrs_split(m, strlen(m), &h, err,
	    sizeof(err)), 0);
	sendmail_hdrs_free(&h);
	memset(m + 8, 'x', 991);
	memcpy(m + 999, "\r\n\r\n", 5);
	assert_int_equal(sendmail_hdrs_split(m, strlen(m), &h, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "998"));
	/* a long body line is not our business */
	memcpy(m, "\r\n", 2);
	assert_int_equal(sendmail_hdrs_split(m, strlen(m), &h, err,
	    sizeof(err)), 0);
	sendmail_hdrs_free(&h);
	free(m);

	/* the header section as a whole is capped */
	n = SENDMAIL_HEADERS_MAX / 10 + 10;
	m = malloc(n * 10 + 1);
	for (i = 0; i < n; i++)
		memcpy(m + i * 10, "X-A: 123\r\n", 10);
	m[n * 10] = '\0';
	assert_int_equal(sendmail_hdrs_split(m, n * 10, &h, err,
	    sizeof(err)), -1);
	free(m);
}

struct collect {
	char out[2048];
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

static void
rcpts_of(const char *m, const char *want, int rc_want)
{
	struct sendmail_hdrs h;
	struct collect c;
	char err[256];
	int rc;

	c.out[0] = '\0';
	assert_int_equal(sendmail_hdrs_split(m, strlen(m), &h, err,
	    sizeof(err)), 0);
	rc = sendmail_hdrs_rcpts(m, &h, collect_cb, &c, err, sizeof(err));
	if (rc != rc_want)
		fail_msg("rc %d (%s) for %s", rc, err, m);
	if (rc == 0)
		assert_string_equal(c.out, want);
	sendmail_hdrs_free(&h);
}

static void
test_hdrs_rcpts(void **state)
{
	(void)state;
	rcpts_of("To: a@b\r\nCc: c@d, \"E, F\" <e@f>\r\nBcc: g@h\r\n"
	    "Subject: To: not@me\r\n\r\nTo: body@x\r\n", "a@b|c@d|e@f|g@h", 0);
	rcpts_of("TO: a@b,\r\n c@d,\r\n\t(comment) <e@f>\r\n\r\n",
	    "a@b|c@d|e@f", 0);
	rcpts_of("To: undisclosed-recipients:;\r\nBcc: hidden@x\r\n\r\n",
	    "hidden@x", 0);
	rcpts_of("Resent-To: r@s\r\nTo: a@b\r\nResent-Bcc: t@u\r\n\r\n",
	    "r@s|t@u", 0);
	rcpts_of("Subject: nobody\r\n\r\n", "", 0);
	rcpts_of("To: Broken Name a@b\r\n\r\n", NULL, -1);
	rcpts_of("To: c@d\r\n <e@f>\r\n\r\n", NULL, -1);
}

/* ---- composing ------------------------------------------------------------- */

static char *
compose(const char *m, const char *from, const char *name, size_t max,
    int *rc)
{
	struct sendmail_hdrs h;
	struct sendmail_added a;
	char err[128], *out = NULL;
	size_t outlen;

	assert_int_equal(sendmail_hdrs_split(m, strlen(m), &h, err,
	    sizeof(err)), 0);
	memset(&a, 0, sizeof(a));
	a.qid = "0123456789ABCDEF";
	a.now = 1795448026;	/* 2026-11-23 15:33:46 UTC */
	a.myhostname = "host.example";
	a.from_addr = from;
	a.display_name = name;
	a.uid = 1000;
	*rc = sendmail_compose(m, strlen(m), &h, &a, max, &out, &outlen, err,
	    sizeof(err));
	sendmail_hdrs_free(&h);
	if (*rc == 0)
		assert_int_equal(strlen(out), outlen);
	return out;
}

static void
test_compose(void **state)
{
	char *out;
	int rc;

	(void)state;
	/* everything missing: Received first, From/Date/Message-ID added */
	out = compose("hello\r\n", "u@host.example", "Jo Doe", 4096, &rc);
	assert_int_equal(rc, 0);
	assert_true(strncmp(out, "Received: by host.example (sealpost, from "
	    "userid 1000)\r\n\tid 0123456789ABCDEF; ", 73) == 0);
	assert_non_null(strstr(out, "\r\nFrom: Jo Doe <u@host.example>\r\n"));
	assert_non_null(strstr(out, "\r\nDate: "));
	assert_non_null(strstr(out, "\r\nMessage-ID: <0123456789ABCDEF."
	    "20261123153346@host.example>\r\n\r\nhello\r\n"));
	free(out);

	/* present ones are kept, Bcc goes, the rest stays intact */
	out = compose("From: Me <me@x>\r\nBcc: secret@y,\r\n more@z\r\n"
	    "To: a@b\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
	    "Message-ID: <m@x>\r\nresent-bcc: r@s\r\n\r\nbody\r\n",
	    "u@h", NULL, 4096, &rc);
	assert_int_equal(rc, 0);
	assert_null(strstr(out, "secret"));
	assert_null(strstr(out, "more@z"));
	assert_null(strstr(out, "r@s"));
	assert_non_null(strstr(out, "\r\nFrom: Me <me@x>\r\nTo: a@b\r\n"
	    "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <m@x>\r\n"
	    "\r\nbody\r\n"));
	assert_null(strstr(out, "u@h"));
	free(out);

	/* no separator in the input: we add it before the body */
	out = compose("Subject: x\r\nbody line\r\n", "u@h", "", 4096, &rc);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(out, "Subject: x\r\nFrom: u@h\r\n"));
	assert_non_null(strstr(out, ">\r\n\r\nbody line\r\n"));
	free(out);

	/* null sender */
	out = compose("\r\nb\r\n", "", NULL, 4096, &rc);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(out, "\r\nFrom: MAILER-DAEMON@host.example\r\n"));
	free(out);

	/* the "From " line is dropped */
	out = compose("From x Mon Nov 23\r\nSubject: s\r\n\r\nb\r\n", "u@h",
	    NULL, 4096, &rc);
	assert_int_equal(rc, 0);
	assert_null(strstr(out, "From x"));
	free(out);

	/* a last field without CRLF gets one */
	out = compose("Subject: s", "u@h", NULL, 4096, &rc);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(out, "Subject: s\r\nFrom: u@h\r\n"));
	free(out);

	/* size cap applies to the result */
	out = compose("hello\r\n", "u@h", NULL, 100, &rc);
	assert_int_equal(rc, -1);
	assert_null(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_input_table),
		cmocka_unit_test(test_input_size_limit),
		cmocka_unit_test(test_hdrs_split),
		cmocka_unit_test(test_hdrs_limits),
		cmocka_unit_test(test_hdrs_rcpts),
		cmocka_unit_test(test_compose),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
