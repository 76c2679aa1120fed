/*
 * test_tls_tlsrpt_send.c - the sender's pure parts and its memory:
 * the daily schedule (tlsrpt_sender_next_run), the https backoff
 * (tlsrpt_sent_next_try), and the tlsrpt_sent table (at most once per
 * (day, domain, uri), surviving a reopen, read-only use by the admin
 * command, expiry).
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

#include "tls/tlsrpt.h"

#define DAY 86400
/* 2026-11-23T00:00:00Z */
#define MIDNIGHT INT64_C(1795392000)

static char test_dir[] = "/tmp/sp_tlsrpt_send.XXXXXX";
static char db_path[sizeof(test_dir) + 32];

static void
test_next_run(void **state)
{
	static const struct {
		int64_t now;
		unsigned delay, window;
		uint64_t jitter;
		int64_t want;
	} cases[] = {
		/* 00:10, delay 1 h, window 4 h, jitter 90 min: today 02:30 */
		{ MIDNIGHT + 600, 3600, 4 * 3600, 5400, MIDNIGHT + 9000 },
		/* jitter is taken modulo the window */
		{ MIDNIGHT + 600, 3600, 4 * 3600, 4 * 3600 + 5, MIDNIGHT + 3605 },
		/* already past today's time: tomorrow's */
		{ MIDNIGHT + 10000, 3600, 4 * 3600, 5400, MIDNIGHT + DAY + 9000 },
		/* exactly at the time: tomorrow's (the run has happened) */
		{ MIDNIGHT + 9000, 3600, 4 * 3600, 5400, MIDNIGHT + DAY + 9000 },
		/* no window: no jitter */
		{ MIDNIGHT + 1, 0, 0, 12345, MIDNIGHT + DAY },
		{ MIDNIGHT - 1, 60, 0, 7, MIDNIGHT + 60 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (tlsrpt_sender_next_run(cases[i].now, cases[i].delay,
		    cases[i].window, cases[i].jitter) != cases[i].want)
			fail_msg("case %zu: %lld, want %lld", i, (long long)
			    tlsrpt_sender_next_run(cases[i].now,
			    cases[i].delay, cases[i].window, cases[i].jitter),
			    (long long)cases[i].want);
}

static void
test_backoff(void **state)
{
	int64_t t0 = MIDNIGHT;

	(void)state;
	assert_int_equal(tlsrpt_sent_next_try(1, t0, t0), t0 + 60);
	assert_int_equal(tlsrpt_sent_next_try(2, t0, t0 + 60), t0 + 180);
	assert_int_equal(tlsrpt_sent_next_try(3, t0, t0 + 180), t0 + 420);
	/* capped at TLSRPT_RETRY_MAX */
	assert_int_equal(tlsrpt_sent_next_try(20, t0, t0 + 7200),
	    t0 + 7200 + TLSRPT_RETRY_MAX);
	/* the last try lands on the deadline, then it is over */
	assert_int_equal(tlsrpt_sent_next_try(30, t0,
	    t0 + TLSRPT_RETRY_SECS - 100), t0 + TLSRPT_RETRY_SECS);
	assert_int_equal(tlsrpt_sent_next_try(31, t0, t0 + TLSRPT_RETRY_SECS),
	    0);
}

static size_t nrows;
static struct tlsrpt_sent_entry rows[8];

static void
collect(void *arg, const struct tlsrpt_sent_entry *e)
{
	(void)arg;
	if (nrows < 8)
		rows[nrows] = *e;
	nrows++;
}

static void
test_sent_table(void **state)
{
	struct tlsrpt_sent_entry e;
	char err[256];
	tlsrpt_sent *s, *ro;

	(void)state;
	/* the admin command before anybody created the table: empty */
	ro = tlsrpt_sent_open(db_path, 1, err, sizeof(err));
	assert_null(ro);	/* no file at all: read-only never creates */
	s = tlsrpt_sent_open(db_path, 0, err, sizeof(err));
	assert_non_null(s);

	assert_int_equal(tlsrpt_sent_claim(s, "2026-11-22", "a.test",
	    "mailto:r@a.test", MIDNIGHT, &e), 0);
	assert_int_equal(e.state, TLSRPT_SENT_DUE);
	assert_int_equal(e.attempts, 0);
	assert_int_equal(e.next_try, MIDNIGHT);
	e.attempts = 1;
	e.first_try = MIDNIGHT + 5;
	e.state = TLSRPT_SENT_DONE;
	snprintf(e.queue_id, sizeof(e.queue_id), "ABCDEF0123456789");
	assert_int_equal(tlsrpt_sent_update(s, &e), 0);
	/* a second claim finds it sent: nothing is sent twice */
	assert_int_equal(tlsrpt_sent_claim(s, "2026-11-22", "a.test",
	    "mailto:r@a.test", MIDNIGHT + 99, &e), 0);
	assert_int_equal(e.state, TLSRPT_SENT_DONE);
	assert_string_equal(e.queue_id, "ABCDEF0123456789");
	assert_int_equal(e.first_try, MIDNIGHT + 5);

	assert_int_equal(tlsrpt_sent_claim(s, "2026-11-22", "a.test",
	    "https://r.a.test/x", MIDNIGHT, &e), 0);
	e.attempts = 2;
	e.next_try = MIDNIGHT + 300;
	snprintf(e.last_error, sizeof(e.last_error), "HTTP status 503");
	assert_int_equal(tlsrpt_sent_update(s, &e), 0);
	assert_int_equal(tlsrpt_sent_claim(s, "2026-11-21", "b.test",
	    "https://r.b.test/", MIDNIGHT - DAY, &e), 0);
	tlsrpt_sent_close(s);

	/* reopened (a restart): the state is there */
	s = tlsrpt_sent_open(db_path, 0, err, sizeof(err));
	assert_non_null(s);
	nrows = 0;
	assert_int_equal(tlsrpt_sent_due(s, MIDNIGHT + 299, collect, NULL), 0);
	assert_int_equal(nrows, 1);
	assert_string_equal(rows[0].domain, "b.test");
	nrows = 0;
	assert_int_equal(tlsrpt_sent_due(s, INT64_MAX, collect, NULL), 0);
	assert_int_equal(nrows, 2);

	ro = tlsrpt_sent_open(db_path, 1, err, sizeof(err));
	assert_non_null(ro);
	nrows = 0;
	assert_int_equal(tlsrpt_sent_list(ro, NULL, collect, NULL), 0);
	assert_int_equal(nrows, 3);
	assert_string_equal(rows[0].day, "2026-11-21");
	assert_string_equal(rows[1].uri, "https://r.a.test/x");
	assert_int_equal(rows[1].attempts, 2);
	assert_string_equal(rows[1].last_error, "HTTP status 503");
	assert_string_equal(tlsrpt_sent_state_name(rows[2].state), "sent");
	nrows = 0;
	assert_int_equal(tlsrpt_sent_list(ro, "2026-11-22", collect, NULL), 0);
	assert_int_equal(nrows, 2);

	/* expiry drops days before the cutoff's day */
	assert_int_equal(tlsrpt_sent_expire(s, MIDNIGHT - DAY - 10), 0);
	nrows = 0;
	assert_int_equal(tlsrpt_sent_list(ro, NULL, collect, NULL), 0);
	assert_int_equal(nrows, 3);
	assert_int_equal(tlsrpt_sent_expire(s, MIDNIGHT - DAY + 10), 0);
	nrows = 0;
	assert_int_equal(tlsrpt_sent_list(ro, NULL, collect, NULL), 0);
	assert_int_equal(nrows, 2);
	tlsrpt_sent_close(ro);
	tlsrpt_sent_close(s);
}

static int
setup(void **state)
{
	(void)state;
	if (mkdtemp(test_dir) == NULL)
		return -1;
	snprintf(db_path, sizeof(db_path), "%s/tlsrpt.db", test_dir);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[sizeof(test_dir) + 16];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", test_dir);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_next_run),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_sent_table),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
