/*
 * test_queue_admin.c - queue administration without the daemon: messages
 * are put in a temporary spool with the store API (and as maildrop files
 * with queue_drop_write), then held, released, requeued and deleted with
 * queue_admin_apply and read back with queue_list_read/queue_admin_load.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "queue/queue.h"

struct fixture {
	char tmp[64];
	char dir[96];		/* tmp/spool */
};

/* ---- helpers ------------------------------------------------------------- */

static struct queue_msg *
make_msg(const char *tag, size_t nrcpt)
{
	struct queue_msg *m = queue_msg_new();
	char buf[128];
	size_t k;

	queue_id_new(m->qid);
	free(m->sender);
	m->sender = xasprintf("%s@example.org", tag);
	m->arrival = util_wall_time() - 100;
	for (k = 0; k < nrcpt; k++) {
		snprintf(buf, sizeof(buf), "r%zu-%s@example.net", k, tag);
		queue_msg_add_rcpt(m, buf, NULL, 0);
	}
	m->body = xasprintf("Subject: %s\r\nX-Tag: %s\r\n\r\nbody\r\n", tag, tag);
	m->body_len = m->size = strlen(m->body);
	return m;
}

/* Insert messages through the store thread, then close it (commits). */
static void
store_msgs(struct fixture *f, struct queue_msg **m, size_t n)
{
	char err[256];
	queue_store *s = queue_store_open(f->dir, 0, err, sizeof(err));
	size_t i;

	if (s == NULL)
		fail_msg("open: %s", err);
	for (i = 0; i < n; i++) {
		queue_txn *t = queue_txn_new();

		queue_txn_insert(t, m[i]);
		queue_store_commit(s, t, NULL, NULL, NULL);
	}
	queue_store_close(s);
}

/* What queue_list_read sees, copied out. */
struct seen {
	size_t n;
	struct queue_msg *m[16];
};

static void
seen_cb(void *arg, const struct queue_msg *m)
{
	struct seen *s = arg;

	if (s->n < 16)
		s->m[s->n++] = queue_msg_dup_envelope(m);
}

static void
seen_read(struct fixture *f, struct seen *s)
{
	char err[256];

	memset(s, 0, sizeof(*s));
	if (queue_list_read(f->dir, seen_cb, s, err, sizeof(err)) < 0)
		fail_msg("list: %s", err);
}

static void
seen_free(struct seen *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		queue_msg_free(s->m[i]);
	s->n = 0;
}

static const struct queue_msg *
seen_get(const struct seen *s, const char *qid)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->m[i]->qid, qid) == 0)
			return s->m[i];
	return NULL;
}

static int
drop_exists(struct fixture *f, const char *qid)
{
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), "%s/maildrop/%s", f->dir, qid);
	return stat(path, &st) == 0;
}

static void
rm_rf(const char *path)
{
	char sub[512];
	struct dirent *de;
	DIR *d = opendir(path);

	if (d == NULL) {
		unlink(path);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		rm_rf(sub);
	}
	closedir(d);
	rmdir(path);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->tmp, sizeof(f->tmp), "/tmp/sp_admin_XXXXXX");
	assert_non_null(mkdtemp(f->tmp));
	snprintf(f->dir, sizeof(f->dir), "%s/spool", f->tmp);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	rm_rf(f->tmp);
	free(f);
	return 0;
}

/* ---- the pure part -------------------------------------------------------- */

static void
test_change_table(void **state)
{
	static const struct {
		const char *word;
		int ok;
		enum queue_admin_op op;
	} words[] = {
		{ "DELETE", 1, QUEUE_ADMIN_DELETE }, { "hold", 1, QUEUE_ADMIN_HOLD },
		{ "Release", 1, QUEUE_ADMIN_RELEASE },
		{ "REQUEUE", 1, QUEUE_ADMIN_REQUEUE }, { "flush", 0, 0 },
		{ "", 0, 0 }, { "HOLDX", 0, 0 },
	};
	struct queue_msg *m = make_msg("pure", 3);
	unsigned char skip[3] = { 0, 1, 0 }, changed[3];
	enum queue_admin_op op;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		int rc = queue_admin_op_parse(words[i].word, &op);

		assert_int_equal(rc, words[i].ok ? 0 : -1);
		if (words[i].ok)
			assert_int_equal(op, words[i].op);
	}
	assert_string_equal(queue_admin_op_name(QUEUE_ADMIN_HOLD), "HOLD");
	assert_null(queue_admin_op_name((enum queue_admin_op)42));

	assert_int_equal(queue_admin_change(m, QUEUE_ADMIN_HOLD, NULL, NULL), 1);
	assert_true(m->flags & QUEUE_MSG_HOLD);
	assert_int_equal(queue_admin_change(m, QUEUE_ADMIN_HOLD, NULL, NULL), 0);
	assert_int_equal(queue_admin_change(m, QUEUE_ADMIN_RELEASE, NULL, NULL), 1);
	assert_false(m->flags & QUEUE_MSG_HOLD);
	assert_int_equal(queue_admin_change(m, QUEUE_ADMIN_RELEASE, NULL, NULL), 0);

	/* requeue: pending, not skipped, not already fresh */
	for (i = 0; i < 3; i++) {
		m->rcpt[i].attempts = 4;
		m->rcpt[i].next_try = util_wall_time() + 3600;
	}
	m->rcpt[2].state = QUEUE_RCPT_DELIVERED;
	assert_int_equal(queue_admin_change(m, QUEUE_ADMIN_REQUEUE, skip,
	    changed), 1);
	assert_int_equal(changed[0], 1);
	assert_int_equal(changed[1], 0);
	assert_int_equal(changed[2], 0);
	assert_int_equal(m->rcpt[0].attempts, 0);
	assert_int_equal(m->rcpt[0].next_try, 0);
	assert_int_equal(m->rcpt[1].attempts, 4);	/* in flight */
	assert_int_equal(m->rcpt[2].attempts, 4);	/* final */
	assert_int_equal(queue_admin_change(m, QUEUE_ADMIN_REQUEUE, skip,
	    changed), 0);
	assert_int_equal(queue_admin_change(m, QUEUE_ADMIN_DELETE, NULL, NULL), 0);
	queue_msg_free(m);
}

/* ---- the database ------------------------------------------------------------ */

static void
test_apply_db(void **state)
{
	struct fixture *f = *state;
	struct queue_msg *m[3] = { make_msg("a", 2), make_msg("b", 1),
	    make_msg("c", 1) };
	char unknown[QUEUE_ID_LEN + 1], err[256];
	const char *ids[4];
	const struct queue_msg *x;
	struct seen s;
	int res[4];
	size_t count, i;

	m[0]->rcpt[0].attempts = 3;
	m[0]->rcpt[0].next_try = util_wall_time() + 3600;
	queue_rcpt_set_status(&m[0]->rcpt[0], "4.3.0", "451 try later",
	    "mx.example.net[192.0.2.1]:25", NULL);
	m[0]->rcpt[1].state = QUEUE_RCPT_DELIVERED;
	m[0]->rcpt[1].attempts = 1;
	store_msgs(f, m, 3);
	queue_id_new(unknown);

	/* hold: two known, one unknown, one that is not even an ID */
	ids[0] = m[0]->qid;
	ids[1] = m[1]->qid;
	ids[2] = unknown;
	ids[3] = "../../etc/passwd";
	assert_int_equal(queue_admin_apply(f->dir, QUEUE_ADMIN_HOLD, ids, 4,
	    res, &count, err, sizeof(err)), 0);
	assert_int_equal(count, 2);
	assert_int_equal(res[0], QUEUE_ADMIN_DONE);
	assert_int_equal(res[1], QUEUE_ADMIN_DONE);
	assert_int_equal(res[2], QUEUE_ADMIN_UNKNOWN);
	assert_int_equal(res[3], QUEUE_ADMIN_UNKNOWN);
	seen_read(f, &s);
	assert_int_equal(s.n, 3);
	assert_true(seen_get(&s, m[0]->qid)->flags & QUEUE_MSG_HOLD);
	assert_true(seen_get(&s, m[1]->qid)->flags & QUEUE_MSG_HOLD);
	assert_false(seen_get(&s, m[2]->qid)->flags & QUEUE_MSG_HOLD);
	/* other flags survive */
	assert_int_equal(seen_get(&s, m[0]->qid)->flags, QUEUE_MSG_HOLD);
	seen_free(&s);

	/* holding again is fine, release one */
	assert_int_equal(queue_admin_apply(f->dir, QUEUE_ADMIN_HOLD, ids, 1,
	    res, &count, err, sizeof(err)), 0);
	assert_int_equal(res[0], QUEUE_ADMIN_DONE);
	assert_int_equal(queue_admin_apply(f->dir, QUEUE_ADMIN_RELEASE, ids, 1,
	    res, &count, err, sizeof(err)), 0);
	seen_read(f, &s);
	assert_false(seen_get(&s, m[0]->qid)->flags & QUEUE_MSG_HOLD);
	assert_true(seen_get(&s, m[1]->qid)->flags & QUEUE_MSG_HOLD);
	seen_free(&s);

	/* requeue: the deferred recipient is due now with its backoff
	 * reset; the delivered one and the last reply stay as they were */
	assert_int_equal(queue_admin_apply(f->dir, QUEUE_ADMIN_REQUEUE, ids, 1,
	    res, &count, err, sizeof(err)), 0);
	assert_int_equal(count, 1);
	seen_read(f, &s);
	x = seen_get(&s, m[0]->qid);
	assert_int_equal(x->rcpt[0].next_try, 0);
	assert_int_equal(x->rcpt[0].attempts, 0);
	assert_string_equal(x->rcpt[0].reply, "451 try later");
	assert_int_equal(x->rcpt[1].state, QUEUE_RCPT_DELIVERED);
	assert_int_equal(x->rcpt[1].attempts, 1);
	seen_free(&s);

	/* delete one, then everything */
	ids[0] = m[1]->qid;
	assert_int_equal(queue_admin_apply(f->dir, QUEUE_ADMIN_DELETE, ids, 1,
	    res, &count, err, sizeof(err)), 0);
	assert_int_equal(res[0], QUEUE_ADMIN_DONE);
	seen_read(f, &s);
	assert_int_equal(s.n, 2);
	assert_null(seen_get(&s, m[1]->qid));
	seen_free(&s);
	assert_int_equal(queue_admin_apply(f->dir, QUEUE_ADMIN_DELETE, ids, 1,
	    res, &count, err, sizeof(err)), 0);
	assert_int_equal(res[0], QUEUE_ADMIN_UNKNOWN);	/* gone already */
	assert_int_equal(count, 0);
	assert_int_equal(queue_admin_apply(f->dir, QUEUE_ADMIN_DELETE, NULL, 0,
	    NULL, &count, err, sizeof(err)), 0);
	assert_int_equal(count, 2);
	seen_read(f, &s);
	assert_int_equal(s.n, 0);
	for (i = 0; i < 3; i++)
		queue_msg_free(m[i]);
}

static void
test_apply_all(void **state)
{
	struct fixture *f = *state;
	struct queue_msg *m[3] = { make_msg("a", 1), make_msg("b", 1),
	    make_msg("c", 1) };
	char err[256];
	struct seen s;
	size_t count, i;

	store_msgs(f, m, 3);
	assert_int_equal(queue_admin_apply(f->dir, QUEUE_ADMIN_HOLD, NULL, 0,
	    NULL, &count, err, sizeof(err)), 0);
	assert_int_equal(count, 3);
	seen_read(f, &s);
	for (i = 0; i < s.n; i++)
		assert_true(s.m[i]->flags & QUEUE_MSG_HOLD);
	seen_free(&s);
	assert_int_equal(queue_admin_apply(f->dir, QUEUE_ADMIN_RELEASE, NULL, 0,
	    NULL, &count, err, sizeof(err)), 0);
	seen_read(f, &s);
	assert_int_equal(s.n, 3);
	for (i = 0; i < s.n; i++)
		assert_false(s.m[i]->flags & QUEUE_MSG_HOLD);
	seen_free(&s);
	for (i = 0; i < 3; i++)
		queue_msg_free(m[i]);
}

/* While the lock is held (the daemon runs) nothing is touched. */
static void
test_apply_busy(void **state)
{
	struct fixture *f = *state;
	struct queue_msg *m = make_msg("busy", 1);
	const char *ids[1] = { m->qid };
	char err[256];
	struct seen s;
	size_t count;
	int res[1], lock, lock2;

	store_msgs(f, &m, 1);
	lock = queue_admin_lock(f->dir, 0, err, sizeof(err));
	assert_true(lock >= 0);
	lock2 = queue_admin_lock(f->dir, 50, err, sizeof(err));
	assert_int_equal(lock2, -1);
	assert_int_equal(errno, EWOULDBLOCK);
	assert_int_equal(queue_admin_apply(f->dir, QUEUE_ADMIN_DELETE, ids, 1,
	    res, &count, err, sizeof(err)), QUEUE_ADMIN_BUSY);
	assert_int_equal(res[0], QUEUE_ADMIN_UNKNOWN);
	seen_read(f, &s);
	assert_int_equal(s.n, 1);
	seen_free(&s);
	close(lock);
	assert_int_equal(queue_admin_apply(f->dir, QUEUE_ADMIN_DELETE, ids, 1,
	    res, &count, err, sizeof(err)), 0);
	assert_int_equal(res[0], QUEUE_ADMIN_DONE);
	queue_msg_free(m);
}

/* Maildrop files: delete unlinks, the other operations import. */
static void
test_apply_maildrop(void **state)
{
	struct fixture *f = *state;
	struct queue_msg *db = make_msg("db", 1);
	struct queue_msg *d1 = make_msg("drop1", 2), *d2 = make_msg("drop2", 1);
	char drop[128], err[256];
	const char *ids[2];
	struct queue_msg *got;
	struct seen s;
	size_t count;
	int res[2], inmd;

	store_msgs(f, &db, 1);		/* creates spool, maildrop, queue.db */
	snprintf(drop, sizeof(drop), "%s/maildrop", f->dir);
	if (queue_drop_write(drop, d1, err, sizeof(err)) < 0 ||
	    queue_drop_write(drop, d2, err, sizeof(err)) < 0)
		fail_msg("drop: %s", err);

	/* show reads a maildrop file and a database message */
	assert_int_equal(queue_admin_load(f->dir, d1->qid, &got, &inmd, err,
	    sizeof(err)), 0);
	assert_int_equal(inmd, 1);
	assert_int_equal(got->nrcpt, 2);
	assert_non_null(strstr(got->body, "X-Tag: drop1"));
	queue_msg_free(got);
	assert_int_equal(queue_admin_load(f->dir, db->qid, &got, &inmd, err,
	    sizeof(err)), 0);
	assert_int_equal(inmd, 0);
	assert_non_null(strstr(got->body, "X-Tag: db"));
	queue_msg_free(got);
	assert_int_equal(queue_admin_load(f->dir, "0000000000000000", &got,
	    &inmd, err, sizeof(err)), 1);
	assert_int_equal(queue_admin_load(f->dir, "x/../y", &got, &inmd, err,
	    sizeof(err)), 1);

	/* hold imports d1 with the flag; delete just unlinks d2 */
	ids[0] = d1->qid;
	assert_int_equal(queue_admin_apply(f->dir, QUEUE_ADMIN_HOLD, ids, 1,
	    res, &count, err, sizeof(err)), 0);
	assert_int_equal(res[0], QUEUE_ADMIN_DONE);
	assert_false(drop_exists(f, d1->qid));
	ids[0] = d2->qid;
	assert_int_equal(queue_admin_apply(f->dir, QUEUE_ADMIN_DELETE, ids, 1,
	    res, &count, err, sizeof(err)), 0);
	assert_int_equal(res[0], QUEUE_ADMIN_DONE);
	assert_false(drop_exists(f, d2->qid));
	seen_read(f, &s);
	assert_int_equal(s.n, 2);
	assert_non_null(seen_get(&s, db->qid));
	assert_null(seen_get(&s, d2->qid));
	assert_true(seen_get(&s, d1->qid)->flags & QUEUE_MSG_HOLD);
	assert_int_equal(seen_get(&s, d1->qid)->nrcpt, 2);
	seen_free(&s);
	/* the imported body is complete */
	assert_int_equal(queue_admin_load(f->dir, d1->qid, &got, &inmd, err,
	    sizeof(err)), 0);
	assert_int_equal(inmd, 0);
	assert_int_equal(got->body_len, d1->body_len);
	queue_msg_free(got);

	/* ALL covers maildrop files too */
	if (queue_drop_write(drop, d2, err, sizeof(err)) < 0)
		fail_msg("drop: %s", err);
	assert_int_equal(queue_admin_apply(f->dir, QUEUE_ADMIN_DELETE, NULL, 0,
	    NULL, &count, err, sizeof(err)), 0);
	assert_int_equal(count, 3);
	assert_false(drop_exists(f, d2->qid));
	seen_read(f, &s);
	assert_int_equal(s.n, 0);
	queue_msg_free(db);
	queue_msg_free(d1);
	queue_msg_free(d2);
}

/* Before the daemon ever ran: only the maildrop exists. */
static void
test_apply_no_db(void **state)
{
	struct fixture *f = *state;
	struct queue_msg *d1 = make_msg("early", 1);
	char drop[128], err[256];
	const char *ids[1] = { d1->qid };
	size_t count;
	int res[1];

	snprintf(drop, sizeof(drop), "%s/maildrop", f->dir);
	assert_int_equal(util_mkdir_p(drop, 0700), 0);
	if (queue_drop_write(drop, d1, err, sizeof(err)) < 0)
		fail_msg("drop: %s", err);
	/* importing would create queue.db with our owner: refused */
	assert_int_equal(queue_admin_apply(f->dir, QUEUE_ADMIN_HOLD, ids, 1,
	    res, &count, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no queue database"));
	assert_true(drop_exists(f, d1->qid));
	assert_int_equal(queue_admin_apply(f->dir, QUEUE_ADMIN_DELETE, ids, 1,
	    res, &count, err, sizeof(err)), 0);
	assert_int_equal(res[0], QUEUE_ADMIN_DONE);
	assert_false(drop_exists(f, d1->qid));
	{
		char db[160];
		struct stat st;

		snprintf(db, sizeof(db), "%s/queue.db", f->dir);
		assert_int_equal(stat(db, &st), -1);
	}
	queue_msg_free(d1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_change_table),
		cmocka_unit_test_setup_teardown(test_apply_db, setup, teardown),
		cmocka_unit_test_setup_teardown(test_apply_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_apply_busy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_apply_maildrop, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_apply_no_db, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
