/*
 * test_queue_msg.c - the in-memory message helpers and queue IDs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "queue/queue.h"

static void
test_msg_rcpt_grow_and_dup(void **state)
{
	struct queue_msg *m = queue_msg_new(), *d;
	char addr[64];
	size_t i;

	(void)state;
	assert_string_equal(m->sender, "");
	for (i = 0; i < 1000; i++) {
		struct queue_rcpt *r;

		snprintf(addr, sizeof(addr), "u%zu@example.org", i);
		r = queue_msg_add_rcpt(m, addr, i % 2 ? "rfc822;x@y" : NULL,
		    QUEUE_NOTIFY_FAILURE);
		r->attempts = (unsigned)i;
	}
	queue_rcpt_set_status(&m->rcpt[3], "4.4.1", "no route", "mx[1.2.3.4]:25",
	    "tls=none");
	/* aliasing: set a field from its own current value */
	queue_rcpt_set_status(&m->rcpt[3], m->rcpt[3].status, m->rcpt[3].reply,
	    NULL, m->rcpt[3].tls);
	m->body = strdup("Subject: x\r\n\r\nhi\r\n");
	m->body_len = m->size = strlen(m->body);
	m->envid = strdup("ENV1");
	d = queue_msg_dup_envelope(m);
	assert_int_equal(d->nrcpt, 1000);
	assert_null(d->body);
	assert_int_equal(d->size, m->size);
	assert_string_equal(d->envid, "ENV1");
	assert_string_equal(d->rcpt[999].addr, "u999@example.org");
	assert_string_equal(d->rcpt[999].orcpt, "rfc822;x@y");
	assert_null(d->rcpt[998].orcpt);
	assert_int_equal(d->rcpt[500].attempts, 500);
	assert_string_equal(d->rcpt[3].status, "4.4.1");
	assert_string_equal(d->rcpt[3].reply, "no route");
	assert_null(d->rcpt[3].relay);
	assert_string_equal(d->rcpt[3].tls, "tls=none");
	/* the copy can grow too */
	queue_msg_add_rcpt(d, "extra@example.org", NULL, 0);
	assert_int_equal(d->nrcpt, 1001);
	queue_msg_free(m);
	queue_msg_free(d);
	queue_msg_free(NULL);
}

static void
test_id_format_and_order(void **state)
{
	char prev[QUEUE_ID_LEN + 1], cur[QUEUE_ID_LEN + 1];
	int i;

	(void)state;
	queue_id_new(prev);
	assert_int_equal(queue_id_valid(prev), 0);
	for (i = 0; i < 100000; i++) {
		queue_id_new(cur);
		assert_int_equal(queue_id_valid(cur), 0);
		/* same process: strictly increasing, hence unique */
		assert_true(strcmp(prev, cur) < 0);
		memcpy(prev, cur, sizeof(prev));
	}
}

static void
test_id_distinct_across_processes(void **state)
{
	int fds[2];
	char a[QUEUE_ID_LEN + 1], b[QUEUE_ID_LEN + 1];
	pid_t pid;
	int st;

	(void)state;
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* the child inherits the parent's "last" stamp */
		queue_id_new(b);
		if (write(fds[1], b, QUEUE_ID_LEN) != QUEUE_ID_LEN)
			_exit(1);
		_exit(0);
	}
	queue_id_new(a);
	assert_int_equal(read(fds[0], b, QUEUE_ID_LEN), QUEUE_ID_LEN);
	b[QUEUE_ID_LEN] = '\0';
	waitpid(pid, &st, 0);
	assert_string_not_equal(a, b);
	/* different pid part */
	assert_memory_not_equal(a + 11, b + 11, 5);
	close(fds[0]);
	close(fds[1]);
}

static void
test_id_valid_table(void **state)
{
	static const struct {
		const char *s;
		int rc;
	} t[] = {
		{ "0123456789ABCDEF", 0 },
		{ "ZZZZZZZZZZZZZZZZ", 0 },
		{ "0123456789ABCDE", -1 },
		{ "0123456789ABCDEFG", -1 },
		{ "0123456789abcdef", -1 },
		{ "0123456789ABCDE/", -1 },
		{ "../../etc/passwd", -1 },
		{ "", -1 },
		{ "0123456789ABCDE ", -1 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		assert_int_equal(queue_id_valid(t[i].s), t[i].rc);
	assert_int_equal(queue_id_valid(NULL), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_msg_rcpt_grow_and_dup),
		cmocka_unit_test(test_id_format_and_order),
		cmocka_unit_test(test_id_distinct_across_processes),
		cmocka_unit_test(test_id_valid_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
