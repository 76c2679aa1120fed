/*
 * test_sendmail_mailq.c - one mailq entry in Postfix's format: held
 * mark, MAILER-DAEMON, deferral reasons, finished recipients hidden.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "mta/sendmail.h"
#include "queue/queue.h"

static char *
entry(const struct queue_msg *m, int *shown)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	*shown = sendmail_mailq_entry(f, m);
	fclose(f);
	return buf;
}

static void
test_mailq_entry(void **state)
{
	struct queue_msg *m = queue_msg_new();
	struct queue_rcpt *r;
	char *out, want[512], when[32];
	time_t t = 1795448026;
	struct tm tm;
	int shown;

	(void)state;
	setenv("TZ", "UTC", 1);
	tzset();
	memcpy(m->qid, "1J0UE7LQI8N069SM", QUEUE_ID_LEN + 1);
	m->arrival = t;
	m->size = 2345;
	m->flags = QUEUE_MSG_HOLD;
	queue_msg_add_rcpt(m, "a@x.example", NULL, 0);
	r = queue_msg_add_rcpt(m, "b@y.example", NULL, 0);
	queue_rcpt_set_status(r, "4.4.1", "connect to y.example: timed out",
	    NULL, NULL);
	r = queue_msg_add_rcpt(m, "c@y.example", NULL, 0);
	queue_rcpt_set_status(r, "4.4.1", "connect to y.example: timed out",
	    NULL, NULL);
	r = queue_msg_add_rcpt(m, "done@z.example", NULL, 0);
	r->state = QUEUE_RCPT_DELIVERED;

	localtime_r(&t, &tm);
	strftime(when, sizeof(when), "%a %b %e %H:%M:%S", &tm);
	snprintf(want, sizeof(want),
	    "1J0UE7LQI8N069SM!     2345 %s  MAILER-DAEMON\n"
	    "%48sa@x.example\n"
	    "(connect to y.example: timed out)\n"
	    "%48sb@y.example\n"
	    "%48sc@y.example\n"
	    "\n", when, "", "", "");
	out = entry(m, &shown);
	assert_int_equal(shown, 1);
	assert_string_equal(out, want);
	free(out);

	/* nothing pending: not shown at all */
	m->rcpt[0].state = QUEUE_RCPT_BOUNCED;
	m->rcpt[1].state = QUEUE_RCPT_DELIVERED;
	m->rcpt[2].state = QUEUE_RCPT_DELIVERED;
	out = entry(m, &shown);
	assert_int_equal(shown, 0);
	assert_string_equal(out, "");
	free(out);
	queue_msg_free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mailq_entry),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
