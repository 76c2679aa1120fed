/*
 * test_tls_sts_cache.c - the MTA-STS policy cache (tls/sts_cache.c) in a
 * temporary directory: the decision table of RFC 8461 5.1 and the issue
 * (id change refetches, failed refetch keeps, missing TXT keeps), the
 * sqlite layer (store, reread, touch, failures, forget, list, restart,
 * refresh candidates), and the cache thread answering on a libuv loop,
 * with a measured lookup round trip.
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

#include "tls/sts.h"

#define DAY 86400

static const char pol_a[] = "version: STSv1\nmode: enforce\n"
    "mx: *.olc.protection.outlook.com\nmax_age: 604800\n";
static const char pol_b[] = "version: STSv1\r\nmode: testing\r\n"
    "mx: mx.b.test\r\nmx: *.b.test\r\nmax_age: 300\r\n";

struct tmp {
	char dir[64];
	char path[128];
};

static int
setup(void **state)
{
	struct tmp *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return -1;
	snprintf(t->dir, sizeof(t->dir), "/tmp/sts-cache-XXXXXX");
	if (mkdtemp(t->dir) == NULL) {
		free(t);
		return -1;
	}
	snprintf(t->path, sizeof(t->path), "%s/" STS_CACHE_FILE, t->dir);
	*state = t;
	return 0;
}

static int
teardown(void **state)
{
	struct tmp *t = *state;
	char p[160];

	unlink(t->path);
	snprintf(p, sizeof(p), "%s-wal", t->path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", t->path);
	unlink(p);
	rmdir(t->dir);
	free(t);
	return 0;
}

/* ---- the rules --------------------------------------------------------------- */

static void
test_decide(void **state)
{
	struct sts_cache_entry e;
	struct sts_policy *p;
	const int64_t now = 1000000;

	(void)state;
	memset(&e, 0, sizeof(e));
	assert_int_equal(sts_policy_parse(pol_a, sizeof(pol_a) - 1, &p, NULL,
	    0), 0);
	e.policy = p;
	snprintf(e.id, sizeof(e.id), "old1");
	e.fetched_at = now - 100;
	e.expires_at = now + 100;

	/* nothing cached */
	assert_int_equal(sts_cache_decide(NULL, STS_TXT_FOUND, "x", now),
	    STS_CACHE_FETCH);
	assert_int_equal(sts_cache_decide(NULL, STS_TXT_NONE, NULL, now),
	    STS_CACHE_NO_POLICY);
	assert_int_equal(sts_cache_decide(NULL, STS_TXT_RETRY, NULL, now),
	    STS_CACHE_NO_POLICY);
	/* valid cache, same id: use it; different id: refetch */
	assert_int_equal(sts_cache_decide(&e, STS_TXT_FOUND, "old1", now),
	    STS_CACHE_USE_CACHED);
	assert_int_equal(sts_cache_decide(&e, STS_TXT_FOUND, "new2", now),
	    STS_CACHE_FETCH);
	/* a missing record or DNS trouble never drops a valid policy */
	assert_int_equal(sts_cache_decide(&e, STS_TXT_NONE, NULL, now),
	    STS_CACHE_USE_CACHED);
	assert_int_equal(sts_cache_decide(&e, STS_TXT_RETRY, NULL, now),
	    STS_CACHE_USE_CACHED);
	/* expired: the same id still means a fetch; no record, no policy */
	e.expires_at = now;
	assert_int_equal(sts_cache_decide(&e, STS_TXT_FOUND, "old1", now),
	    STS_CACHE_FETCH);
	assert_int_equal(sts_cache_decide(&e, STS_TXT_NONE, NULL, now),
	    STS_CACHE_NO_POLICY);
	assert_false(sts_cache_entry_valid(&e, now));
	assert_true(sts_cache_entry_valid(&e, now - 1));
	assert_false(sts_cache_entry_valid(NULL, now));
	sts_policy_free(p);
}

/* ---- the sqlite layer ---------------------------------------------------- */

struct collected {
	char   names[16][STS_DOMAIN_MAX];
	size_t n;
};

static void
collect_entry(void *arg, const struct sts_cache_entry *e)
{
	struct collected *c = arg;

	if (c->n < 16)
		snprintf(c->names[c->n++], STS_DOMAIN_MAX, "%s", e->domain);
}

static void
collect_name(void *arg, const char *d)
{
	struct collected *c = arg;

	if (c->n < 16)
		snprintf(c->names[c->n++], STS_DOMAIN_MAX, "%s", d);
}

static void
test_db_roundtrip(void **state)
{
	struct tmp *t = *state;
	struct sts_cache_entry *e;
	struct collected col;
	char err[256];
	sts_db *db;
	const int64_t now = 1700000000;

	db = sts_db_open(t->path, 0, err, sizeof(err));
	assert_non_null(db);
	assert_int_equal(sts_db_get(db, "hotmail.com", &e), 0);
	assert_null(e);

	assert_int_equal(sts_db_put(db, "Hotmail.COM.", "20240101T1", pol_a,
	    sizeof(pol_a) - 1, now), 0);
	assert_int_equal(sts_db_get(db, "hotmail.com", &e), 1);
	assert_string_equal(e->domain, "hotmail.com");
	assert_string_equal(e->id, "20240101T1");
	assert_int_equal(e->policy->mode, STS_MODE_ENFORCE);
	assert_int_equal(e->fetched_at, now);
	assert_int_equal(e->expires_at, now + 604800);
	assert_int_equal(e->last_used, 0);
	assert_int_equal(e->raw_len, sizeof(pol_a) - 1);
	assert_memory_equal(e->raw, pol_a, sizeof(pol_a) - 1);
	assert_true(sts_policy_mx_match(e->policy,
	    "hotmail-com.olc.protection.outlook.com"));
	sts_cache_entry_free(e);

	/* invalid bodies and ids are never stored */
	assert_int_equal(sts_db_put(db, "bad.test", "x1", "junk", 4, now), -1);
	assert_int_equal(sts_db_put(db, "bad.test", "x-1", pol_b,
	    sizeof(pol_b) - 1, now), -1);
	assert_int_equal(sts_db_put(db, "bad.test", "", pol_b,
	    sizeof(pol_b) - 1, now), -1);
	assert_int_equal(sts_db_put(db, "192.0.2.1", "x1", pol_b,
	    sizeof(pol_b) - 1, now), -1);
	assert_int_equal(sts_db_get(db, "bad.test", &e), 0);

	/* touch, then a failed refresh: policy kept, error noted */
	assert_int_equal(sts_db_touch(db, "hotmail.com", now + 10), 0);
	assert_int_equal(sts_db_note_failure(db, "hotmail.com", now + 20,
	    "HTTP status 404\n"), 0);
	assert_int_equal(sts_db_get(db, "hotmail.com", &e), 1);
	assert_int_equal(e->last_used, now + 10);
	assert_int_equal(e->checked_at, now + 20);
	assert_string_equal(e->last_error, "HTTP status 404?");
	assert_string_equal(e->id, "20240101T1");
	sts_cache_entry_free(e);

	/* a new id replaces the policy, clears the error, keeps last_used */
	assert_int_equal(sts_db_put(db, "hotmail.com", "20240202T2", pol_b,
	    sizeof(pol_b) - 1, now + 30), 0);
	assert_int_equal(sts_db_get(db, "hotmail.com", &e), 1);
	assert_string_equal(e->id, "20240202T2");
	assert_int_equal(e->policy->mode, STS_MODE_TESTING);
	assert_int_equal(e->expires_at, now + 30 + 300);
	assert_int_equal(e->last_used, now + 10);
	assert_string_equal(e->last_error, "");
	sts_cache_entry_free(e);

	assert_int_equal(sts_db_put(db, "a.test", "1", pol_a,
	    sizeof(pol_a) - 1, now), 0);
	memset(&col, 0, sizeof(col));
	assert_int_equal(sts_db_list(db, collect_entry, &col), 0);
	assert_int_equal(col.n, 2);
	assert_string_equal(col.names[0], "a.test");
	assert_string_equal(col.names[1], "hotmail.com");

	assert_int_equal(sts_db_forget(db, "A.test"), 1);
	assert_int_equal(sts_db_forget(db, "a.test"), 0);
	assert_int_equal(sts_db_forget(db, "not a name"), 0);
	sts_db_close(db);

	/* a restart keeps the cache */
	db = sts_db_open(t->path, 1, err, sizeof(err));
	assert_non_null(db);
	assert_int_equal(sts_db_get(db, "hotmail.com", &e), 1);
	assert_string_equal(e->id, "20240202T2");
	sts_cache_entry_free(e);
	sts_db_close(db);
	sts_db_close(NULL);
}

static void
test_db_rules_flow(void **state)
{
	struct tmp *t = *state;
	struct sts_cache_entry *e;
	char err[256];
	sts_db *db;
	const int64_t now = 1700000000;

	db = sts_db_open(t->path, 0, err, sizeof(err));
	assert_non_null(db);
	assert_int_equal(sts_db_put(db, "b.test", "id1", pol_b,
	    sizeof(pol_b) - 1, now), 0);

	/* TXT id changes: refetch; the refetch fails: the cached policy
	 * still applies and stays stored */
	assert_int_equal(sts_db_get(db, "b.test", &e), 1);
	assert_int_equal(sts_cache_decide(e, STS_TXT_FOUND, "id2", now + 60),
	    STS_CACHE_FETCH);
	sts_cache_entry_free(e);
	assert_int_equal(sts_db_note_failure(db, "b.test", now + 60,
	    "timeout"), 0);
	assert_int_equal(sts_db_get(db, "b.test", &e), 1);
	assert_true(sts_cache_entry_valid(e, now + 60));
	assert_string_equal(e->id, "id1");
	sts_cache_entry_free(e);

	/* TXT record gone: the unexpired policy is kept and used */
	assert_int_equal(sts_db_get(db, "b.test", &e), 1);
	assert_int_equal(sts_cache_decide(e, STS_TXT_NONE, NULL, now + 200),
	    STS_CACHE_USE_CACHED);
	/* after max_age (300 s, honoured although below an hour): gone */
	assert_int_equal(sts_cache_decide(e, STS_TXT_NONE, NULL, now + 300),
	    STS_CACHE_NO_POLICY);
	sts_cache_entry_free(e);
	sts_db_close(db);
}

static void
test_db_due(void **state)
{
	struct tmp *t = *state;
	struct collected col;
	char err[256];
	sts_db *db;
	const int64_t now = 1700000000;

	db = sts_db_open(t->path, 0, err, sizeof(err));
	assert_non_null(db);
	/* a: used now, expires in a week (pol_a) - not due
	 * b: used now, expires in 300 s - due (expiring)
	 * c: used now, a week left, but not checked for 2 days - due
	 * d: never used - never due
	 * e: used 40 days ago - not due (no longer mailed) */
	assert_int_equal(sts_db_put(db, "a.test", "1", pol_a,
	    sizeof(pol_a) - 1, now), 0);
	assert_int_equal(sts_db_put(db, "b.test", "1", pol_b,
	    sizeof(pol_b) - 1, now), 0);
	assert_int_equal(sts_db_put(db, "c.test", "1", pol_a,
	    sizeof(pol_a) - 1, now - 2 * DAY), 0);
	assert_int_equal(sts_db_put(db, "d.test", "1", pol_b,
	    sizeof(pol_b) - 1, now), 0);
	assert_int_equal(sts_db_put(db, "e.test", "1", pol_b,
	    sizeof(pol_b) - 1, now), 0);
	assert_int_equal(sts_db_touch(db, "a.test", now), 0);
	assert_int_equal(sts_db_touch(db, "b.test", now), 0);
	assert_int_equal(sts_db_touch(db, "c.test", now), 0);
	assert_int_equal(sts_db_touch(db, "e.test", now - 40 * DAY), 0);

	memset(&col, 0, sizeof(col));
	assert_int_equal(sts_db_due(db, now, 30 * DAY, 3600, DAY,
	    collect_name, &col), 0);
	assert_int_equal(col.n, 2);
	assert_string_equal(col.names[0], "b.test");	/* expires first */
	assert_string_equal(col.names[1], "c.test");
	sts_db_close(db);
}

/* What a proactive refresh does to an entry (RFC 8461 5.1). */
static void
test_db_refresh(void **state)
{
	static const char pol_20[] = "version: STSv1\nmode: enforce\n"
	    "mx: mx.r.test\nmax_age: 20\n";
	struct tmp *t = *state;
	struct sts_cache_entry *e;
	struct collected col;
	char err[256];
	sts_db *db;
	const int64_t now = 1700000000;

	db = sts_db_open(t->path, 0, err, sizeof(err));
	assert_non_null(db);
	assert_int_equal(sts_db_put(db, "r.test", "A1", pol_20,
	    sizeof(pol_20) - 1, now), 0);
	assert_int_equal(sts_db_touch(db, "r.test", now), 0);

	/* expiring: within ahead, or in the second half of max_age */
	assert_int_equal(sts_db_get(db, "r.test", &e), 1);
	assert_false(sts_cache_entry_expiring(e, now + 5, 4));
	assert_true(sts_cache_entry_expiring(e, now + 10, 4));
	assert_true(sts_cache_entry_expiring(e, now + 5, 15));
	assert_true(sts_cache_entry_expiring(NULL, now, 0));
	sts_cache_entry_free(e);
	/* week-long policy, hour horizon: due after 3.5 days, not before */
	assert_int_equal(sts_db_put(db, "w.test", "W1", pol_a,
	    sizeof(pol_a) - 1, now), 0);
	assert_int_equal(sts_db_get(db, "w.test", &e), 1);
	assert_false(sts_cache_entry_expiring(e, now + 3 * DAY, 3600));
	assert_true(sts_cache_entry_expiring(e, now + 4 * DAY, 3600));
	sts_cache_entry_free(e);

	/* the due list uses the same rule: at now + 5 checked recently and
	 * not expiring - not due; at now + 10 due */
	memset(&col, 0, sizeof(col));
	assert_int_equal(sts_db_due(db, now + 5, DAY, 4, 60, collect_name,
	    &col), 0);
	assert_int_equal(col.n, 0);
	assert_int_equal(sts_db_due(db, now + 10, DAY, 4, 60, collect_name,
	    &col), 0);
	assert_int_equal(col.n, 1);
	assert_string_equal(col.names[0], "r.test");

	/* a failed refresh, then an unchanged id: the check clears the
	 * error and moves checked_at, the policy stays as it was */
	assert_int_equal(sts_db_note_failure(db, "r.test", now + 2, "404"), 0);
	assert_int_equal(sts_db_note_checked(db, "r.test", now + 3), 0);
	assert_int_equal(sts_db_note_checked(db, "none.test", now + 3), 0);
	assert_int_equal(sts_db_get(db, "r.test", &e), 1);
	assert_int_equal(e->checked_at, now + 3);
	assert_string_equal(e->last_error, "");
	assert_int_equal(e->fetched_at, now);
	assert_int_equal(e->expires_at, now + 20);
	sts_cache_entry_free(e);
	/* not checked within recheck: due for that reason alone */
	col.n = 0;
	assert_int_equal(sts_db_due(db, now + 5, DAY, 4, 2, collect_name,
	    &col), 0);
	assert_int_equal(col.n, 1);

	/* refetched under the same id: the life counts again from now,
	 * last_used is not touched by the refresh */
	assert_int_equal(sts_db_put(db, "r.test", "A1", pol_20,
	    sizeof(pol_20) - 1, now + 12), 0);
	assert_int_equal(sts_db_get(db, "r.test", &e), 1);
	assert_string_equal(e->id, "A1");
	assert_int_equal(e->fetched_at, now + 12);
	assert_int_equal(e->expires_at, now + 32);
	assert_int_equal(e->last_used, now);
	sts_cache_entry_free(e);
	sts_db_close(db);
}

static void
test_db_open_errors(void **state)
{
	struct tmp *t = *state;
	char err[256], p[160];
	FILE *fp;

	/* read-only open of a file that does not exist */
	snprintf(p, sizeof(p), "%s/none.db", t->dir);
	assert_null(sts_db_open(p, 1, err, sizeof(err)));
	/* a file that is not a cache */
	snprintf(p, sizeof(p), "%s/junk.db", t->dir);
	fp = fopen(p, "w");
	assert_non_null(fp);
	fputs("this is not sqlite, not at all, no.\n", fp);
	fclose(fp);
	assert_null(sts_db_open(p, 0, err, sizeof(err)));
	assert_true(strlen(err) > 0);
	unlink(p);
}

/* ---- the cache thread ---------------------------------------------------- */

struct async {
	uv_loop_t  loop;
	util_chan *chan;
	int        pending;
	int        got;
	int        rc;
	char       id[STS_ID_MAX + 1];
	int64_t    last_used;
	size_t     ndue;
};

static void
async_done(void *arg, int rc)
{
	struct async *a = arg;

	a->rc |= rc;
	a->pending--;
}

static void
async_get(void *arg, int rc, struct sts_cache_entry *e)
{
	struct async *a = arg;

	a->rc |= rc;
	if (e != NULL) {
		a->got++;
		snprintf(a->id, sizeof(a->id), "%s", e->id);
		a->last_used = e->last_used;
	}
	sts_cache_entry_free(e);
	a->pending--;
}

static void
async_due(void *arg, int rc, char **domains, size_t n)
{
	struct async *a = arg;
	size_t i;

	a->rc |= rc;
	a->ndue = n;
	for (i = 0; i < n; i++)
		free(domains[i]);
	free(domains);
	a->pending--;
}

static void
run_until_done(struct async *a)
{
	while (a->pending > 0)
		uv_run(&a->loop, UV_RUN_ONCE);
}

static void
test_thread(void **state)
{
	struct tmp *t = *state;
	struct async a;
	char err[256];
	sts_cache *c;
	uint64_t t0, t1;
	int i, n = 2000;
	const int64_t now = 1700000000;

	memset(&a, 0, sizeof(a));
	uv_loop_init(&a.loop);
	a.chan = util_chan_create(&a.loop);
	c = sts_cache_open(t->path, err, sizeof(err));
	assert_non_null(c);

	a.pending = 2;
	sts_cache_put(c, a.chan, "hotmail.com", "T1", pol_a, sizeof(pol_a) - 1,
	    now, async_done, &a);
	sts_cache_put(c, a.chan, "x.test", "T1", "junk", 4, now, NULL, NULL);
	sts_cache_get(c, a.chan, "hotmail.com", now + 5, async_get, &a);
	run_until_done(&a);
	assert_int_equal(a.rc, 0);
	assert_int_equal(a.got, 1);
	assert_string_equal(a.id, "T1");
	assert_int_equal(a.last_used, now + 5);

	a.pending = 2;
	sts_cache_note_failure(c, a.chan, "hotmail.com", now + 6, "refused",
	    async_done, &a);
	sts_cache_due(c, a.chan, now, DAY, 8 * DAY, DAY, async_due, &a);
	run_until_done(&a);
	assert_int_equal(a.ndue, 1);

	/* touch and check through the thread; a get without touch_now
	 * (the refresh's) leaves last_used alone */
	a.pending = 3;
	a.got = 0;
	sts_cache_touch(c, a.chan, "hotmail.com", now + 7, async_done, &a);
	sts_cache_note_checked(c, a.chan, "hotmail.com", now + 8, async_done,
	    &a);
	sts_cache_get(c, a.chan, "hotmail.com", 0, async_get, &a);
	run_until_done(&a);
	assert_int_equal(a.rc, 0);
	assert_int_equal(a.got, 1);
	assert_int_equal(a.last_used, now + 7);

	/* the measurement: n lookups, one at a time, round trip each */
	a.got = 0;
	t0 = uv_hrtime();
	for (i = 0; i < n; i++) {
		a.pending = 1;
		sts_cache_get(c, a.chan, "hotmail.com", 0, async_get, &a);
		run_until_done(&a);
	}
	t1 = uv_hrtime();
	assert_int_equal(a.got, n);
	print_message("sts cache: %d thread round-trip lookups, %.1f us "
	    "each\n", n, (double)(t1 - t0) / 1000.0 / n);
	/* and n lookups posted at once (a burst of deliveries) */
	a.got = 0;
	a.pending = n;
	t0 = uv_hrtime();
	for (i = 0; i < n; i++)
		sts_cache_get(c, a.chan, "hotmail.com", now + 7, async_get,
		    &a);
	run_until_done(&a);
	t1 = uv_hrtime();
	assert_int_equal(a.got, n);
	print_message("sts cache: %d lookups+touch in a burst, %.1f us "
	    "each\n", n, (double)(t1 - t0) / 1000.0 / n);

	sts_cache_close(c);
	util_chan_close(a.chan);
	uv_run(&a.loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&a.loop), 0);
	sts_cache_close(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decide),
		cmocka_unit_test_setup_teardown(test_db_roundtrip, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_db_rules_flow, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_db_due, setup, teardown),
		cmocka_unit_test_setup_teardown(test_db_refresh, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_db_open_errors, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_thread, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
