/*
 * test_queue_store.c - the sqlite store driven the way the daemon drives
 * it: a uv loop on this thread, a util_chan for the completions, the
 * store thread doing the work.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "queue/queue.h"

struct fixture {
	char        dir[64];
	uv_loop_t   loop;
	util_chan  *chan;
	queue_store *store;
};

/* completion bookkeeping */
static int n_done, n_ok, n_fail;
static struct queue_msg *loaded;
static int load_done;
static struct queue_msg *got[4096];
static size_t n_got;
static int got_end;

static void
on_done(void *arg, int rc)
{
	int *slot = arg;

	n_done++;
	if (rc == 0)
		n_ok++;
	else
		n_fail++;
	if (slot)
		*slot = rc;
}

static void
on_load(void *arg, struct queue_msg *m)
{
	(void)arg;
	loaded = m;
	load_done = 1;
}

static void
on_many(void *arg, struct queue_msg *m)
{
	(void)arg;
	if (m == NULL) {
		got_end = 1;
		return;
	}
	if (n_got < sizeof(got) / sizeof(got[0]))
		got[n_got++] = m;
	else
		queue_msg_free(m);
}

static void
reset_many(void)
{
	size_t i;

	for (i = 0; i < n_got; i++)
		queue_msg_free(got[i]);
	n_got = 0;
	got_end = 0;
}

static void
run_until(struct fixture *f, int *flag)
{
	while (!*flag)
		uv_run(&f->loop, UV_RUN_ONCE);
}

static void
run_until_done(struct fixture *f, int want)
{
	while (n_done < want)
		uv_run(&f->loop, UV_RUN_ONCE);
}

static struct queue_msg *
make_msg(int i, size_t nrcpt)
{
	struct queue_msg *m = queue_msg_new();
	char buf[128];
	size_t k;

	queue_id_new(m->qid);
	free(m->sender);
	snprintf(buf, sizeof(buf), "sender%d@example.org", i);
	m->sender = strdup(buf);
	m->arrival = 1700000000 + i;
	m->ret = QUEUE_RET_FULL;
	m->envid = i % 2 ? strdup("ENVID") : NULL;
	m->flags = QUEUE_MSG_8BITMIME;
	for (k = 0; k < nrcpt; k++) {
		snprintf(buf, sizeof(buf), "r%zu-%d@example.net", k, i);
		queue_msg_add_rcpt(m, buf, k == 0 ? "rfc822;orig@example.net" : NULL,
		    QUEUE_NOTIFY_FAILURE);
	}
	/* a NUL inside the body must survive the round trip */
	snprintf(buf, sizeof(buf), "Subject: %d\r\n\r\nbody", i);
	m->body_len = m->size = strlen(buf) + 14;
	m->body = malloc(m->body_len);
	memcpy(m->body, buf, strlen(buf));
	memcpy(m->body + strlen(buf), "\0with nul\r\n..", 14);
	return m;
}

static void
open_store(struct fixture *f, unsigned batch_ms)
{
	char err[256];

	f->store = queue_store_open(f->dir, batch_ms, err, sizeof(err));
	if (f->store == NULL)
		fail_msg("open: %s", err);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char tmp[32] = "/tmp/sp_store_XXXXXX";

	assert_non_null(mkdtemp(tmp));
	/* a subdirectory: open must create it */
	snprintf(f->dir, sizeof(f->dir), "%s/spool", tmp);
	uv_loop_init(&f->loop);
	f->chan = util_chan_create(&f->loop);
	n_done = n_ok = n_fail = 0;
	*state = f;
	return 0;
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
teardown(void **state)
{
	struct fixture *f = *state;

	queue_store_close(f->store);
	util_chan_close(f->chan);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	uv_loop_close(&f->loop);
	reset_many();
	*strrchr(f->dir, '/') = '\0';
	rm_rf(f->dir);
	free(f);
	return 0;
}

static void
commit_one(struct fixture *f, queue_txn *t, int *rc)
{
	int want = n_done + 1;

	queue_store_commit(f->store, t, f->chan, on_done, rc);
	run_until_done(f, want);
}

static struct queue_msg *
load(struct fixture *f, const char *qid)
{
	load_done = 0;
	loaded = NULL;
	queue_store_load(f->store, qid, f->chan, on_load, NULL);
	run_until(f, &load_done);
	return loaded;
}

static void
test_crud(void **state)
{
	struct fixture *f = *state;
	struct queue_msg *m[3], *l;
	struct queue_rcpt r;
	struct stat st;
	char path[128];
	queue_txn *t;
	int rc = 99, i;

	open_store(f, 0);
	snprintf(path, sizeof(path), "%s/maildrop", f->dir);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	snprintf(path, sizeof(path), "%s/queue.db", f->dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 077, 0);

	t = queue_txn_new();
	for (i = 0; i < 3; i++) {
		m[i] = make_msg(i, 3);
		queue_txn_insert(t, m[i]);
	}
	commit_one(f, t, &rc);
	assert_int_equal(rc, 0);

	l = load(f, m[1]->qid);
	assert_non_null(l);
	assert_string_equal(l->qid, m[1]->qid);
	assert_string_equal(l->sender, m[1]->sender);
	assert_int_equal(l->arrival, m[1]->arrival);
	assert_string_equal(l->envid, "ENVID");
	assert_int_equal(l->ret, QUEUE_RET_FULL);
	assert_int_equal(l->flags, QUEUE_MSG_8BITMIME);
	assert_int_equal(l->nrcpt, 3);
	assert_string_equal(l->rcpt[0].orcpt, "rfc822;orig@example.net");
	assert_null(l->rcpt[1].orcpt);
	assert_string_equal(l->rcpt[2].addr, m[1]->rcpt[2].addr);
	assert_int_equal(l->body_len, m[1]->body_len);
	assert_int_equal(l->size, m[1]->body_len);
	assert_memory_equal(l->body, m[1]->body, l->body_len);
	queue_msg_free(l);

	/* update a recipient and the flags */
	memset(&r, 0, sizeof(r));
	r.state = QUEUE_RCPT_DELIVERED;
	r.attempts = 2;
	r.next_try = 123;
	r.last_try = 456;
	r.status = "2.0.0";
	r.reply = "250 ok";
	r.relay = "mx.example.net[192.0.2.1]:25";
	r.tls = "tls=TLSv1.3";
	r.delay_warned = 1;
	t = queue_txn_new();
	queue_txn_update_rcpt(t, m[1]->qid, 2, &r);
	queue_txn_set_flags(t, m[1]->qid, QUEUE_MSG_HOLD);
	commit_one(f, t, &rc);
	assert_int_equal(rc, 0);
	l = load(f, m[1]->qid);
	assert_int_equal(l->flags, QUEUE_MSG_HOLD);
	assert_int_equal(l->rcpt[2].state, QUEUE_RCPT_DELIVERED);
	assert_int_equal(l->rcpt[2].attempts, 2);
	assert_int_equal(l->rcpt[2].next_try, 123);
	assert_int_equal(l->rcpt[2].last_try, 456);
	assert_string_equal(l->rcpt[2].status, "2.0.0");
	assert_string_equal(l->rcpt[2].reply, "250 ok");
	assert_string_equal(l->rcpt[2].relay, "mx.example.net[192.0.2.1]:25");
	assert_string_equal(l->rcpt[2].tls, "tls=TLSv1.3");
	assert_int_equal(l->rcpt[2].delay_warned, 1);
	assert_string_equal(l->rcpt[2].addr, m[1]->rcpt[2].addr);
	assert_int_equal(l->rcpt[0].state, QUEUE_RCPT_PENDING);
	assert_null(l->rcpt[0].status);
	queue_msg_free(l);

	/* a failing transaction is rolled back as a whole: the delete in
	 * front of the bad update must not happen */
	t = queue_txn_new();
	queue_txn_delete(t, m[0]->qid);
	queue_txn_update_rcpt(t, m[0]->qid, 99, &r);
	commit_one(f, t, &rc);
	assert_int_equal(rc, -1);
	l = load(f, m[0]->qid);
	assert_non_null(l);
	queue_msg_free(l);

	/* invalid queue id, duplicate insert: refused */
	t = queue_txn_new();
	queue_txn_delete(t, "not-a-queue-id");
	commit_one(f, t, &rc);
	assert_int_equal(rc, -1);
	t = queue_txn_new();
	queue_txn_insert(t, m[2]);
	commit_one(f, t, &rc);
	assert_int_equal(rc, -1);

	/* delete */
	t = queue_txn_new();
	queue_txn_delete(t, m[0]->qid);
	commit_one(f, t, &rc);
	assert_int_equal(rc, 0);
	assert_null(load(f, m[0]->qid));
	assert_null(load(f, "0000000000000000"));

	/* scan: two left, envelopes only, in qid order */
	queue_store_scan(f->store, f->chan, on_many, NULL);
	run_until(f, &got_end);
	assert_int_equal(n_got, 2);
	assert_string_equal(got[0]->qid, m[1]->qid);
	assert_string_equal(got[1]->qid, m[2]->qid);
	assert_null(got[0]->body);
	assert_int_equal(got[0]->size, m[1]->body_len);
	assert_int_equal(got[0]->nrcpt, 3);
	assert_int_equal(got[0]->rcpt[2].state, QUEUE_RCPT_DELIVERED);
	reset_many();

	/* persisted across close/reopen */
	queue_store_close(f->store);
	open_store(f, 0);
	queue_store_scan(f->store, f->chan, on_many, NULL);
	run_until(f, &got_end);
	assert_int_equal(n_got, 2);
	assert_string_equal(got[0]->rcpt[2].status, "2.0.0");
	reset_many();
	l = load(f, m[2]->qid);
	assert_non_null(l);
	assert_memory_equal(l->body, m[2]->body, l->body_len);
	queue_msg_free(l);

	/* fire and forget */
	t = queue_txn_new();
	queue_txn_delete(t, m[2]->qid);
	queue_store_commit(f->store, t, NULL, NULL, NULL);
	assert_null(load(f, m[2]->qid));	/* reads come after writes */

	for (i = 0; i < 3; i++)
		queue_msg_free(m[i]);
	queue_txn_free(queue_txn_new());
	queue_txn_free(NULL);
}

static void
test_group_commit(void **state)
{
	struct fixture *f = *state;
	struct queue_store_stats st;
	struct queue_msg *dup = NULL;
	int i, rc[200];

	open_store(f, 10);
	for (i = 0; i < 200; i++) {
		struct queue_msg *m = make_msg(i, 2);
		queue_txn *t = queue_txn_new();

		/* #150 repeats #100's queue ID: only it may fail */
		if (i == 150)
			memcpy(m->qid, dup->qid, sizeof(m->qid));
		queue_txn_insert(t, m);
		if (i == 100)
			dup = m;
		else
			queue_msg_free(m);
		rc[i] = 99;
		queue_store_commit(f->store, t, f->chan, on_done, &rc[i]);
	}
	run_until_done(f, 200);
	queue_msg_free(dup);
	for (i = 0; i < 200; i++)
		assert_int_equal(rc[i], i == 150 ? -1 : 0);
	queue_store_get_stats(f->store, &st);
	assert_int_equal(st.txns, 200);
	assert_int_equal(st.failed_txns, 1);
	print_message("group commit: 200 transactions, %llu commits\n",
	    (unsigned long long)st.commits);
	assert_true(st.commits < 200);
	assert_true(st.commits >= 1);

	queue_store_scan(f->store, f->chan, on_many, NULL);
	run_until(f, &got_end);
	assert_int_equal(n_got, 199);
	reset_many();
}

static void
test_scan_many(void **state)
{
	struct fixture *f = *state;
	int i, j, ok = 1;
	size_t k;

	open_store(f, 0);
	for (j = 0; j < 4; j++) {
		queue_txn *t = queue_txn_new();

		for (i = 0; i < 1000; i++) {
			struct queue_msg *m = make_msg(j * 1000 + i, 1 + i % 4);

			queue_txn_insert(t, m);
			queue_msg_free(m);
		}
		queue_store_commit(f->store, t, f->chan, on_done, NULL);
	}
	run_until_done(f, 4);
	assert_int_equal(n_ok, 4);
	queue_store_scan(f->store, f->chan, on_many, NULL);
	run_until(f, &got_end);
	assert_int_equal(n_got, 4000);
	for (k = 0; k < n_got && ok; k++) {
		struct queue_msg *m = got[k];
		int num = (int)(m->arrival - 1700000000);
		size_t r;
		char want[64];

		if (k > 0 && strcmp(got[k - 1]->qid, m->qid) >= 0)
			ok = 0;
		if (m->nrcpt != (size_t)(1 + (num % 1000) % 4))
			ok = 0;
		for (r = 0; r < m->nrcpt; r++) {
			snprintf(want, sizeof(want), "r%zu-%d@example.net", r, num);
			if (strcmp(m->rcpt[r].addr, want) != 0)
				ok = 0;
		}
	}
	assert_true(ok);
	reset_many();
}

static void
write_file(const char *dir, const char *name, const char *data, size_t len)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static int
count_files(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static int n_listed;

static void
on_list(void *arg, const struct queue_msg *m)
{
	(void)arg;
	assert_int_equal(queue_id_valid(m->qid), 0);
	assert_true(m->nrcpt > 0);
	n_listed++;
}

static void
test_import_and_list(void **state)
{
	struct fixture *f = *state;
	struct queue_msg *a = make_msg(1, 2), *b = make_msg(2, 1);
	struct queue_msg *old = make_msg(3, 1);
	char drop[128], corrupt[128], err[256], junkqid[QUEUE_ID_LEN + 1];
	char *img;
	size_t len;
	queue_txn *t;
	int rc;

	/* nothing there yet: empty, not an error */
	n_listed = 0;
	assert_int_equal(queue_list_read(f->dir, on_list, NULL, err,
	    sizeof(err)), 0);
	assert_int_equal(n_listed, 0);

	open_store(f, 0);
	snprintf(drop, sizeof(drop), "%s/maildrop", f->dir);
	snprintf(corrupt, sizeof(corrupt), "%s/corrupt", f->dir);
	b->flags = 0;
	a->flags = QUEUE_MSG_SMTPUTF8;
	old->flags = 0;
	assert_int_equal(queue_drop_write(drop, a, err, sizeof(err)), 0);
	assert_int_equal(queue_drop_write(drop, b, err, sizeof(err)), 0);
	/* "old" is already in the queue: the crash-after-commit case */
	t = queue_txn_new();
	queue_txn_insert(t, old);
	commit_one(f, t, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(queue_drop_write(drop, old, err, sizeof(err)), 0);
	/* garbage under a valid name, a non-queue-id name, a file whose
	 * content names another queue id, a temp file in progress */
	queue_id_new(junkqid);
	write_file(drop, junkqid, "SEALPOST-DROP 1\nqid garbage\n", 28);
	write_file(drop, "evil\nname", "x", 1);
	img = queue_drop_format(a, &len);
	queue_id_new(junkqid);
	write_file(drop, junkqid, img, len);
	free(img);
	write_file(drop, "tmp.inprogress", "partial", 7);

	queue_store_import_maildrop(f->store, f->chan, on_many, NULL);
	run_until(f, &got_end);
	assert_int_equal(n_got, 2);
	assert_string_equal(got[0]->qid, a->qid);	/* queue id order */
	assert_string_equal(got[1]->qid, b->qid);
	assert_int_equal(got[0]->nrcpt, 2);
	assert_non_null(got[0]->body);
	assert_int_equal(got[0]->body_len, a->body_len);
	assert_memory_equal(got[0]->body, a->body, a->body_len);
	assert_int_equal(got[0]->flags, QUEUE_MSG_SMTPUTF8);
	reset_many();
	assert_int_equal(count_files(drop), 1);		/* only the temp file */
	assert_int_equal(count_files(corrupt), 3);

	/* a second run finds nothing new */
	queue_store_import_maildrop(f->store, f->chan, on_many, NULL);
	run_until(f, &got_end);
	assert_int_equal(n_got, 0);
	reset_many();

	/* all three are in the database, readable by the listing tool even
	 * while the daemon has it open */
	n_listed = 0;
	assert_int_equal(queue_list_read(f->dir, on_list, NULL, err,
	    sizeof(err)), 0);
	assert_int_equal(n_listed, 3);
	queue_store_close(f->store);
	n_listed = 0;
	assert_int_equal(queue_list_read(f->dir, on_list, NULL, err,
	    sizeof(err)), 0);
	assert_int_equal(n_listed, 3);
	f->store = NULL;
	queue_msg_free(a);
	queue_msg_free(b);
	queue_msg_free(old);
}

static void
test_open_errors(void **state)
{
	struct fixture *f = *state;
	char err[256], path[128];

	/* spool path is a regular file */
	assert_int_equal(util_mkdir_p(f->dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/file", f->dir);
	write_file(f->dir, "file", "x", 1);
	assert_null(queue_store_open(path, 0, err, sizeof(err)));
	assert_non_null(strstr(err, "not a directory"));
	/* database from a future version is refused, not "upgraded" */
	open_store(f, 0);
	queue_store_close(f->store);
	f->store = NULL;
	snprintf(path, sizeof(path), "%s/queue.db", f->dir);
	{
		sqlite3 *db;

		assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
		assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99",
		    NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(db);
	}
	assert_null(queue_store_open(f->dir, 0, err, sizeof(err)));
	assert_non_null(strstr(err, "schema version 99"));
	assert_int_equal(queue_list_read(f->dir, on_list, NULL, err,
	    sizeof(err)), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_crud, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan_many, setup, teardown),
		cmocka_unit_test_setup_teardown(test_import_and_list, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
