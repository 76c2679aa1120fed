/*
 * test_tls_tlsrpt_store.c - TLS-RPT recording and reports
 * (tls/tlsrpt_store.c, tls/tlsrpt_json.c) in a temporary directory:
 * successes and failures under tlsa, sts and no-policy-found are
 * recorded, aggregated and flushed; the RFC 8460 4 report is built,
 * parsed back with jansson and every field, type and count checked; the
 * gzip form inflates back to the same JSON; tls_report_record() feeds an
 * active store from several threads; retention drops old days.  Also
 * measures the cost of tls_report_record() and of flushing 100k records
 * (printed; docs/tlsrpt.md has release-build numbers).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <zlib.h>

#include "tls/tlsrpt.h"
#include "util.h"

#define T0	1714564800	/* 2024-05-01T12:00:00Z */
#define DAY	86400

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
	snprintf(t->dir, sizeof(t->dir), "/tmp/tlsrpt-XXXXXX");
	if (mkdtemp(t->dir) == NULL) {
		free(t);
		return -1;
	}
	snprintf(t->path, sizeof(t->path), "%s/" TLSRPT_DB_FILE, t->dir);
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

static const char *const sts_lines[] = { "version: STSv1", "mode: enforce",
    "mx: mx1.example.net", "mx: *.example.net", "max_age: 86400" };
static const char *const tlsa_rrs[] = { "3 1 1 AAAA", "3 1 1 BBBB" };

static void
add_n(tlsrpt_store *s, int n, const char *domain,
    enum tls_report_policy pt, enum tls_report_type rt, const char *mx,
    const char *ip, const char *info, int64_t when)
{
	struct tls_report_result r;
	int i;

	memset(&r, 0, sizeof(r));
	r.policy_domain = domain;
	r.policy_type = pt;
	if (pt == TLS_REPORT_POLICY_STS) {
		r.policy_strings = sts_lines;
		r.npolicy_strings = 5;
	} else if (pt == TLS_REPORT_POLICY_TLSA) {
		r.policy_strings = tlsa_rrs;
		r.npolicy_strings = 2;
	}
	r.mx_host = mx;
	r.receiving_ip = ip;
	r.result = rt;
	r.additional = info;
	for (i = 0; i < n; i++)
		tlsrpt_store_add(s, &r, rt == TLS_REPORT_SUCCESS ? NULL :
		    "198.51.100.7", when);
}

/* The failure-details entry with this result type and mx. */
static json_t *
find_detail(json_t *details, const char *type, const char *mx)
{
	size_t i;
	json_t *d;

	json_array_foreach(details, i, d) {
		json_t *m = json_object_get(d, "receiving-mx-hostname");

		if (strcmp(json_string_value(json_object_get(d, "result-type")),
		    type) == 0 && (mx == NULL ||
		    (m && strcmp(json_string_value(m), mx) == 0)))
			return d;
	}
	return NULL;
}

static json_t *
find_policy(json_t *policies, const char *type)
{
	size_t i;
	json_t *p;

	json_array_foreach(policies, i, p) {
		json_t *pol = json_object_get(p, "policy");

		if (strcmp(json_string_value(json_object_get(pol,
		    "policy-type")), type) == 0)
			return p;
	}
	return NULL;
}

static void
check_count(json_t *o, const char *key, json_int_t want)
{
	json_t *v = json_object_get(o, key);

	assert_non_null(v);
	assert_true(json_is_integer(v));
	assert_int_equal(json_integer_value(v), want);
}

static void
check_string(json_t *o, const char *key, const char *want)
{
	json_t *v = json_object_get(o, key);

	assert_non_null(v);
	assert_true(json_is_string(v));
	assert_string_equal(json_string_value(v), want);
}

static void
test_report(void **state)
{
	struct tmp *t = *state;
	struct tlsrpt_report_info info = { "Sealpost \"Test\" Org",
	    "mailto:tlsrpt@sender.test", "sender.test" };
	char err[256], *text;
	tlsrpt_store *s = tlsrpt_store_open(t->path, 50, 0, 0, 0, err,
	    sizeof(err));
	tlsrpt_db *db;
	json_t *rep, *back, *pols, *p, *pol, *sum, *det, *d, *a;
	json_error_t jerr;
	unsigned char *gz;
	size_t gzlen;

	assert_non_null(s);
	add_n(s, 3, "Example.NET.", TLS_REPORT_POLICY_STS, TLS_REPORT_SUCCESS,
	    "mx1.example.net", "192.0.2.1", NULL, T0);
	add_n(s, 2, "example.net", TLS_REPORT_POLICY_STS,
	    TLS_REPORT_CERT_EXPIRED, "MX1.example.net.", "192.0.2.1",
	    "certificate expired \"2024\"\\\x01", T0 + 10);
	add_n(s, 1, "example.net", TLS_REPORT_POLICY_STS,
	    TLS_REPORT_STS_WEBPKI_INVALID, "mx9.example.net", "192.0.2.9",
	    NULL, T0 + 20);
	tlsrpt_store_flush(s);		/* a flush in the middle: counts add */
	add_n(s, 4, "example.net", TLS_REPORT_POLICY_TLSA, TLS_REPORT_SUCCESS,
	    "mx2.example.net", "192.0.2.2", NULL, T0 + 30);
	add_n(s, 2, "example.net", TLS_REPORT_POLICY_TLSA,
	    TLS_REPORT_TLSA_INVALID, "mx2.example.net", "192.0.2.2",
	    "no usable TLSA", T0 + 40);
	add_n(s, 1, "example.net", TLS_REPORT_POLICY_TLSA,
	    TLS_REPORT_DANE_REQUIRED, "mx2.example.net", NULL, NULL, T0 + 50);
	add_n(s, 5, "example.net", TLS_REPORT_POLICY_STS, TLS_REPORT_SUCCESS,
	    "mx1.example.net", "192.0.2.1", NULL, T0 + 60);
	/* other domain, other day: not in this report */
	add_n(s, 7, "other.test", TLS_REPORT_POLICY_NONE,
	    TLS_REPORT_STARTTLS_NOT_SUPPORTED, "mx.other.test", "192.0.2.77",
	    NULL, T0);
	add_n(s, 9, "example.net", TLS_REPORT_POLICY_STS, TLS_REPORT_SUCCESS,
	    "mx1.example.net", "192.0.2.1", NULL, T0 + DAY);
	tlsrpt_store_close(s);		/* close flushes the rest */

	db = tlsrpt_db_open(t->path, 1, err, sizeof(err));
	assert_non_null(db);
	assert_null(tlsrpt_json_build(db, "nothing.test", "2024-05-01", &info,
	    err, sizeof(err)));
	assert_null(tlsrpt_json_build(db, "example.net", "2024-02-30", &info,
	    err, sizeof(err)));
	rep = tlsrpt_json_build(db, "example.net", "2024-05-01", &info, err,
	    sizeof(err));
	assert_non_null(rep);
	tlsrpt_db_close(db);

	/* through text and back, as a receiver sees it */
	text = json_dumps(rep, JSON_INDENT(2));
	printf("%s\n", text);
	back = json_loads(text, 0, &jerr);
	assert_non_null(back);
	check_string(back, "organization-name", "Sealpost \"Test\" Org");
	check_string(back, "contact-info", "mailto:tlsrpt@sender.test");
	check_string(back, "report-id",
	    "2024-05-01T00:00:00Z_example.net@sender.test");
	check_string(json_object_get(back, "date-range"), "start-datetime",
	    "2024-05-01T00:00:00Z");
	check_string(json_object_get(back, "date-range"), "end-datetime",
	    "2024-05-01T23:59:59Z");
	pols = json_object_get(back, "policies");
	assert_true(json_is_array(pols));
	assert_int_equal(json_array_size(pols), 2);

	p = find_policy(pols, "sts");
	assert_non_null(p);
	pol = json_object_get(p, "policy");
	check_string(pol, "policy-domain", "example.net");
	a = json_object_get(pol, "policy-string");
	assert_true(json_is_array(a));
	assert_int_equal(json_array_size(a), 5);
	assert_string_equal(json_string_value(json_array_get(a, 2)),
	    "mx: mx1.example.net");
	a = json_object_get(pol, "mx-host");
	assert_int_equal(json_array_size(a), 2);
	assert_string_equal(json_string_value(json_array_get(a, 0)),
	    "mx1.example.net");
	assert_string_equal(json_string_value(json_array_get(a, 1)),
	    "*.example.net");
	sum = json_object_get(p, "summary");
	check_count(sum, "total-successful-session-count", 8);
	check_count(sum, "total-failure-session-count", 3);
	det = json_object_get(p, "failure-details");
	assert_int_equal(json_array_size(det), 2);
	d = find_detail(det, "certificate-expired", "mx1.example.net");
	assert_non_null(d);
	check_string(d, "sending-mta-ip", "198.51.100.7");
	check_string(d, "receiving-ip", "192.0.2.1");
	check_count(d, "failed-session-count", 2);
	/* peer text: control byte made '?', quotes and backslash escaped
	 * by jansson and read back intact */
	check_string(d, "additional-information",
	    "certificate expired \"2024\"\\?");
	d = find_detail(det, "sts-webpki-invalid", "mx9.example.net");
	assert_non_null(d);
	check_count(d, "failed-session-count", 1);
	assert_null(json_object_get(d, "additional-information"));

	p = find_policy(pols, "tlsa");
	assert_non_null(p);
	pol = json_object_get(p, "policy");
	check_string(pol, "policy-domain", "example.net");
	a = json_object_get(pol, "policy-string");
	assert_int_equal(json_array_size(a), 2);
	assert_string_equal(json_string_value(json_array_get(a, 0)),
	    "3 1 1 AAAA");
	assert_null(json_object_get(pol, "mx-host"));
	sum = json_object_get(p, "summary");
	check_count(sum, "total-successful-session-count", 4);
	check_count(sum, "total-failure-session-count", 3);
	det = json_object_get(p, "failure-details");
	assert_int_equal(json_array_size(det), 2);
	d = find_detail(det, "tlsa-invalid", NULL);
	check_count(d, "failed-session-count", 2);
	check_string(d, "additional-information", "no usable TLSA");
	d = find_detail(det, "dane-required", NULL);
	check_count(d, "failed-session-count", 1);
	assert_null(json_object_get(d, "receiving-ip"));

	/* gzip inflates back to the compact text */
	assert_int_equal(tlsrpt_json_gzip(rep, &gz, &gzlen), 0);
	assert_true(gzlen > 18 && gz[0] == 0x1f && gz[1] == 0x8b);
	{
		char *compact = json_dumps(rep, JSON_COMPACT |
		    JSON_ENSURE_ASCII);
		size_t clen = strlen(compact);
		unsigned char *plain = malloc(clen + 16);
		z_stream z;

		memset(&z, 0, sizeof(z));
		assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
		z.next_in = gz;
		z.avail_in = (uInt)gzlen;
		z.next_out = plain;
		z.avail_out = (uInt)(clen + 16);
		assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
		assert_int_equal(z.total_out, clen);
		assert_memory_equal(plain, compact, clen);
		inflateEnd(&z);
		free(plain);
		free(compact);
	}
	free(gz);
	free(text);
	json_decref(back);
	json_decref(rep);

	/* the other domain: no-policy-found, no policy-string */
	db = tlsrpt_db_open(t->path, 1, err, sizeof(err));
	rep = tlsrpt_json_build(db, "other.test", "2024-05-01", &info, err,
	    sizeof(err));
	assert_non_null(rep);
	p = json_array_get(json_object_get(rep, "policies"), 0);
	pol = json_object_get(p, "policy");
	check_string(pol, "policy-type", "no-policy-found");
	check_string(pol, "policy-domain", "other.test");
	assert_null(json_object_get(pol, "policy-string"));
	check_count(json_object_get(p, "summary"),
	    "total-failure-session-count", 7);
	d = json_array_get(json_object_get(p, "failure-details"), 0);
	check_string(d, "result-type", "starttls-not-supported");
	json_decref(rep);
	/* no contact: refused, never a null contact-info */
	info.contact = NULL;
	assert_null(tlsrpt_json_build(db, "other.test", "2024-05-01", &info,
	    err, sizeof(err)));
	tlsrpt_db_close(db);
}

struct sum_ctx {
	uint64_t success, failure;
	size_t rows;
};

static void
sum_cb(void *arg, const struct tlsrpt_policy_row *p)
{
	struct sum_ctx *c = arg;

	c->success += p->success;
	c->failure += p->failure;
	c->rows++;
}

#define THREADS		4
#define PER_THREAD	5000

static void
record_thread(void *arg)
{
	struct tls_report_result r;
	int i;

	memset(&r, 0, sizeof(r));
	r.policy_domain = "threads.test";
	r.policy_type = TLS_REPORT_POLICY_TLSA;
	r.policy_strings = tlsa_rrs;
	r.npolicy_strings = 2;
	r.mx_host = "mx.threads.test";
	r.receiving_ip = "192.0.2.3";
	for (i = 0; i < PER_THREAD; i++) {
		r.result = i % 5 == 0 ? TLS_REPORT_CERT_NOT_TRUSTED :
		    TLS_REPORT_SUCCESS;
		tls_report_record(&r);
	}
}

static void
test_active_threads(void **state)
{
	struct tmp *t = *state;
	char err[256], day[TLSRPT_DAY_LEN];
	uv_thread_t th[THREADS];
	struct sum_ctx c = { 0, 0, 0 };
	tlsrpt_store *s;
	tlsrpt_db *db;
	int64_t before = util_wall_time();
	int i;

	s = tlsrpt_store_open(t->path, 20, 1000, 30, 1, err, sizeof(err));
	assert_non_null(s);
	for (i = 0; i < THREADS; i++)
		assert_int_equal(uv_thread_create(&th[i], record_thread, NULL),
		    0);
	for (i = 0; i < THREADS; i++)
		uv_thread_join(&th[i]);
	tlsrpt_store_close(s);
	/* closed: records go nowhere, and nothing breaks */
	record_thread(NULL);

	db = tlsrpt_db_open(t->path, 1, err, sizeof(err));
	assert_non_null(db);
	tlsrpt_day(before, day);
	assert_int_equal(tlsrpt_db_policies(db, day, "threads.test", sum_cb,
	    &c), 0);
	if (c.rows == 0) {		/* crossed midnight UTC: next day */
		tlsrpt_day(util_wall_time(), day);
		tlsrpt_db_policies(db, day, "threads.test", sum_cb, &c);
	}
	assert_int_equal(c.success + c.failure, THREADS * PER_THREAD);
	assert_int_equal(c.failure, THREADS * PER_THREAD / 5);
	tlsrpt_db_close(db);
}

static void
test_retention(void **state)
{
	struct tmp *t = *state;
	int64_t now = util_wall_time();
	char err[256], day[TLSRPT_DAY_LEN];
	struct sum_ctx c = { 0, 0, 0 };
	tlsrpt_store *s;
	tlsrpt_db *db;

	s = tlsrpt_store_open(t->path, 0, 0, 0, 0, err, sizeof(err));
	assert_non_null(s);
	add_n(s, 3, "old.test", TLS_REPORT_POLICY_NONE, TLS_REPORT_SUCCESS,
	    "mx.old.test", NULL, NULL, now - 40 * DAY);
	add_n(s, 2, "old.test", TLS_REPORT_POLICY_NONE,
	    TLS_REPORT_STARTTLS_NOT_SUPPORTED, "mx.old.test", NULL, NULL,
	    now - 29 * DAY);
	tlsrpt_store_close(s);
	/* reopened with 30 days' retention: the 40-day-old day goes */
	s = tlsrpt_store_open(t->path, 0, 0, 30, 0, err, sizeof(err));
	assert_non_null(s);
	tlsrpt_store_close(s);
	db = tlsrpt_db_open(t->path, 1, err, sizeof(err));
	tlsrpt_day(now - 40 * DAY, day);
	tlsrpt_db_policies(db, day, NULL, sum_cb, &c);
	assert_int_equal(c.rows, 0);
	tlsrpt_day(now - 29 * DAY, day);
	tlsrpt_db_policies(db, day, NULL, sum_cb, &c);
	assert_int_equal(c.rows, 1);
	assert_int_equal(c.failure, 2);
	tlsrpt_db_close(db);
	/* dates */
	assert_int_equal(tlsrpt_day_valid("2024-02-29"), 0);
	assert_int_equal(tlsrpt_day_valid("2023-02-29"), -1);
	assert_int_equal(tlsrpt_day_valid("2024-13-01"), -1);
	assert_int_equal(tlsrpt_day_valid("2024-1-01"), -1);
	assert_int_equal(tlsrpt_day_valid("1900-01-01"), -1);
	tlsrpt_day(T0, day);
	assert_string_equal(day, "2024-05-01");
}

/* sending-mta-ip comes with the result (struct tls_report_result) on
 * the delivery path; an explicit tlsrpt_store_add() argument wins. */
static void
ip_cb(void *arg, const struct tlsrpt_failure_row *f)
{
	struct dynbuf *b = arg;

	assert_int_equal(dynbuf_addf(b, "%s|%s|%llu;", f->sending_ip,
	    f->receiving_ip, (unsigned long long)f->count), 0);
}

static void
ip_policy_cb(void *arg, const struct tlsrpt_policy_row *p)
{
	void **a = arg;

	assert_int_equal(tlsrpt_db_failures(a[0], p, ip_cb, a[1]), 0);
}

static void
test_sending_ip(void **state)
{
	struct tmp *t = *state;
	struct tls_report_result r;
	char err[256], day[TLSRPT_DAY_LEN];
	struct dynbuf b;
	tlsrpt_store *s;
	tlsrpt_db *db;
	void *a[2];
	int64_t before = util_wall_time();

	s = tlsrpt_store_open(t->path, 20, 1000, 0, 1, err, sizeof(err));
	assert_non_null(s);
	memset(&r, 0, sizeof(r));
	r.policy_domain = "ip.test";
	r.policy_type = TLS_REPORT_POLICY_NONE;
	r.mx_host = "mx.ip.test";
	r.result = TLS_REPORT_STARTTLS_NOT_SUPPORTED;
	r.receiving_ip = "192.0.2.5";
	r.sending_ip = "198.51.100.9";
	tls_report_record(&r);
	tls_report_record(&r);
	/* no connection, no addresses */
	r.receiving_ip = NULL;
	r.sending_ip = NULL;
	tls_report_record(&r);
	/* the explicit argument wins over the field */
	r.receiving_ip = "192.0.2.6";
	r.sending_ip = "198.51.100.9";
	tlsrpt_store_add(s, &r, "2001:db8::7", before);
	tlsrpt_store_close(s);

	db = tlsrpt_db_open(t->path, 1, err, sizeof(err));
	assert_non_null(db);
	dynbuf_init(&b, 4096);
	a[0] = db;
	a[1] = &b;
	tlsrpt_day(before, day);
	assert_int_equal(tlsrpt_db_policies(db, day, "ip.test", ip_policy_cb,
	    a), 0);
	if (b.len == 0) {		/* crossed midnight UTC */
		tlsrpt_day(util_wall_time(), day);
		tlsrpt_db_policies(db, day, "ip.test", ip_policy_cb, a);
	}
	assert_non_null(b.p);
	assert_non_null(strstr(b.p, "198.51.100.9|192.0.2.5|2;"));
	assert_non_null(strstr(b.p, "||1;"));
	assert_non_null(strstr(b.p, "2001:db8::7|192.0.2.6|1;"));
	dynbuf_free(&b);
	tlsrpt_db_close(db);
}

#define now_ns()	clock_ns(CLOCK_MONOTONIC)
#define cpu_ns()	clock_ns(CLOCK_THREAD_CPUTIME_ID)

static uint64_t
clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

#define BENCH_CALLS	100000

static void
test_bench(void **state)
{
	struct tmp *t = *state;
	struct tls_report_result r;
	char err[256], mx[64], ip[32];
	uint64_t t0, t1, c0, c1;
	tlsrpt_store *s;
	int i;

	/* the delivery path: tls_report_record() on an active store whose
	 * writer runs with the daemon's defaults */
	s = tlsrpt_store_open(t->path, 0, 0, 0, 1, err, sizeof(err));
	assert_non_null(s);
	memset(&r, 0, sizeof(r));
	r.policy_domain = "bench.test";
	r.policy_type = TLS_REPORT_POLICY_TLSA;
	r.policy_strings = tlsa_rrs;
	r.npolicy_strings = 2;
	r.mx_host = "mx.bench.test";
	r.receiving_ip = "192.0.2.4";
	/* thread CPU time is what the delivery thread pays; wall time also
	 * counts preemption on a busy machine */
	t0 = now_ns();
	c0 = cpu_ns();
	for (i = 0; i < BENCH_CALLS; i++) {
		r.result = i % 10 == 0 ? TLS_REPORT_CERT_EXPIRED :
		    TLS_REPORT_SUCCESS;
		tls_report_record(&r);
	}
	c1 = cpu_ns();
	t1 = now_ns();
	printf("bench: tls_report_record %.0f ns/call CPU, %.0f ns/call wall "
	    "(%d calls)\n", (double)(c1 - c0) / BENCH_CALLS,
	    (double)(t1 - t0) / BENCH_CALLS, BENCH_CALLS);
	tlsrpt_store_close(s);

	/* flushing 100k records held back: 1000 distinct keys, then 100k */
	s = tlsrpt_store_open(t->path, 600000, TLSRPT_PENDING_MAX, 0, 0, err,
	    sizeof(err));
	assert_non_null(s);
	for (i = 0; i < BENCH_CALLS; i++) {
		snprintf(mx, sizeof(mx), "mx%d.bench.test", i % 1000);
		r.mx_host = mx;
		r.result = i % 2 ? TLS_REPORT_CERT_EXPIRED : TLS_REPORT_SUCCESS;
		tlsrpt_store_add(s, &r, "198.51.100.1", T0);
	}
	t0 = now_ns();
	tlsrpt_store_flush(s);
	t1 = now_ns();
	printf("bench: flush of %d records, 1000 keys: %.1f ms\n",
	    BENCH_CALLS, (double)(t1 - t0) / 1e6);
	for (i = 0; i < BENCH_CALLS; i++) {
		snprintf(ip, sizeof(ip), "10.%d.%d.%d", (i >> 16) & 255,
		    (i >> 8) & 255, i & 255);
		r.receiving_ip = ip;
		r.result = TLS_REPORT_CERT_EXPIRED;
		tlsrpt_store_add(s, &r, "198.51.100.1", T0);
	}
	t0 = now_ns();
	tlsrpt_store_flush(s);
	t1 = now_ns();
	printf("bench: flush of %d records, %d keys: %.1f ms\n",
	    BENCH_CALLS, BENCH_CALLS, (double)(t1 - t0) / 1e6);
	assert_int_equal(tlsrpt_store_dropped(s), 0);
	tlsrpt_store_close(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_report, setup, teardown),
		cmocka_unit_test_setup_teardown(test_active_threads, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_retention, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_sending_ip, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bench, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
