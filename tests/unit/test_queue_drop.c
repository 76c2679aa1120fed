/*
 * test_queue_drop.c - maildrop format: round trips, a table of malformed
 * images (each with a correct checksum so the specific rule is what
 * refuses it), every truncation and every single-byte flip of a valid
 * image, and the durable writer.
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

#include "queue/queue.h"
#include "queue/queue_int.h"

static struct queue_msg *
sample_msg(void)
{
	static const char body[] = "From: a@b\r\nSubject: hi\r\n\r\nline\r\n\0bin\xff\n";
	struct queue_msg *m = queue_msg_new();

	queue_id_new(m->qid);
	free(m->sender);
	m->sender = strdup("sender+tag=x@example.org");
	m->arrival = 1700000000;
	m->envid = strdup("ENV-42");
	m->ret = QUEUE_RET_HDRS;
	m->flags = QUEUE_MSG_8BITMIME | QUEUE_MSG_SMTPUTF8;
	queue_msg_add_rcpt(m, "\"john doe\"@example.net", "rfc822;\"john doe\"@example.net",
	    QUEUE_NOTIFY_FAILURE | QUEUE_NOTIFY_DELAY);
	queue_msg_add_rcpt(m, "j\xc3\xb6rg@example.de", NULL, QUEUE_NOTIFY_NEVER);
	queue_msg_add_rcpt(m, "c@example.com", NULL, 0);
	m->body = malloc(sizeof(body));
	memcpy(m->body, body, sizeof(body));
	m->body_len = m->size = sizeof(body) - 1;
	return m;
}

static void
assert_same_msg(const struct queue_msg *a, const struct queue_msg *b)
{
	size_t i;

	assert_string_equal(a->qid, b->qid);
	assert_string_equal(a->sender, b->sender);
	assert_int_equal(a->arrival, b->arrival);
	if (a->envid || b->envid)
		assert_string_equal(a->envid, b->envid);
	assert_int_equal(a->ret, b->ret);
	assert_int_equal(a->flags, b->flags);
	assert_int_equal(a->nrcpt, b->nrcpt);
	for (i = 0; i < a->nrcpt; i++) {
		assert_string_equal(a->rcpt[i].addr, b->rcpt[i].addr);
		if (a->rcpt[i].orcpt || b->rcpt[i].orcpt)
			assert_string_equal(a->rcpt[i].orcpt, b->rcpt[i].orcpt);
		assert_int_equal(a->rcpt[i].notify, b->rcpt[i].notify);
	}
	assert_int_equal(a->body_len, b->body_len);
	assert_int_equal(b->size, b->body_len);
	assert_memory_equal(a->body, b->body, a->body_len);
}

static void
test_round_trip(void **state)
{
	struct queue_msg *m = sample_msg(), *p;
	char err[256];
	char *img;
	size_t len;

	(void)state;
	img = queue_drop_format(m, &len);
	p = queue_drop_parse(img, len, err, sizeof(err));
	if (p == NULL)
		fail_msg("parse: %s", err);
	assert_same_msg(m, p);
	queue_msg_free(p);
	free(img);

	/* null sender, no envid, empty body */
	free(m->sender);
	m->sender = strdup("");
	free(m->envid);
	m->envid = NULL;
	m->body_len = 0;
	img = queue_drop_format(m, &len);
	p = queue_drop_parse(img, len, err, sizeof(err));
	if (p == NULL)
		fail_msg("parse: %s", err);
	assert_string_equal(p->sender, "");
	assert_null(p->envid);
	assert_int_equal(p->body_len, 0);
	queue_msg_free(p);
	free(img);
	queue_msg_free(m);
}

/* Build "<head>body <n>\n<body>\nend <sum>\n" with a correct checksum. */
static char *
image(const char *head, const char *body, size_t *len)
{
	char *buf;
	size_t hl = strlen(head), bl = strlen(body), n;
	int k;

	buf = malloc(hl + bl + 64);
	memcpy(buf, head, hl);
	k = snprintf(buf + hl, 32, "body %zu\n", bl);
	n = hl + (size_t)k;
	memcpy(buf + n, body, bl);
	n += bl;
	buf[n++] = '\n';
	k = snprintf(buf + n, 32, "end %016llx\n",
	    (unsigned long long)queue_drop_fnv64(buf, n));
	*len = n + (size_t)k;
	return buf;
}

#define HEAD_OK "SEALPOST-DROP 1\nqid 0123456789ABCDEF\narrival 1700000000\n" \
	"sender a@b\nret 0\nflags 0\n"
#define RCPT_OK "rcpt 0 c@d\n"

static void
test_malformed_table(void **state)
{
	static const struct {
		const char *head, *body, *why;
	} t[] = {
		{ HEAD_OK RCPT_OK, "x", NULL },		/* control: valid */
		{ "SEALPOST-DROP 2\nqid 0123456789ABCDEF\n", "x", "magic" },
		{ "sealpost-drop 1\n", "x", "magic" },
		{ "SEALPOST-DROP 1 \n", "x", "magic" },
		{ "SEALPOST-DROP 1\nqid 0123456789abcdef\n", "x", "queue id" },
		{ "SEALPOST-DROP 1\nqid ../../../etc/pw\n", "x", "queue id" },
		{ "SEALPOST-DROP 1\nqid 0123456789ABCDE\n", "x", "queue id" },
		{ "SEALPOST-DROP 1\nqid 0123456789ABCDEF\narrival -1\n", "x", "number" },
		{ "SEALPOST-DROP 1\nqid 0123456789ABCDEF\narrival 0017\n", "x", "number" },
		{ "SEALPOST-DROP 1\nqid 0123456789ABCDEF\narrival 99999999999999999999999\n", "x", "number" },
		{ "SEALPOST-DROP 1\nqid 0123456789ABCDEF\nsender a@b\n", "x", "unexpected" },
		{ "SEALPOST-DROP 1\nqid 0123456789ABCDEF\narrival 1\nsender a b\nret 0\nflags 0\n" RCPT_OK, "x", "xtext" },
		{ "SEALPOST-DROP 1\nqid 0123456789ABCDEF\narrival 1\nsender a+0Ab\nret 0\nflags 0\n" RCPT_OK, "x", "sender" },
		{ "SEALPOST-DROP 1\nqid 0123456789ABCDEF\narrival 1\nsender a+00b\nret 0\nflags 0\n" RCPT_OK, "x", "xtext" },
		{ "SEALPOST-DROP 1\nqid 0123456789ABCDEF\narrival 1\nsender a+7Fb\nret 0\nflags 0\n" RCPT_OK, "x", "sender" },
		{ "SEALPOST-DROP 1\nqid 0123456789ABCDEF\narrival 1\nsender a+4\nret 0\nflags 0\n" RCPT_OK, "x", "xtext" },
		{ "SEALPOST-DROP 1\nqid 0123456789ABCDEF\narrival 1\nsender a+4g\nret 0\nflags 0\n" RCPT_OK, "x", "xtext" },
		{ "SEALPOST-DROP 1\nqid 0123456789ABCDEF\narrival 1\nsender a=b\nret 0\nflags 0\n" RCPT_OK, "x", "xtext" },
		{ "SEALPOST-DROP 1\nqid 0123456789ABCDEF\narrival 1\nsender a@b\nenvid \nret 0\nflags 0\n" RCPT_OK, "x", "envid" },
		{ "SEALPOST-DROP 1\nqid 0123456789ABCDEF\narrival 1\nsender a@b\nret 3\nflags 0\n" RCPT_OK, "x", "number" },
		{ "SEALPOST-DROP 1\nqid 0123456789ABCDEF\narrival 1\nsender a@b\nret 0\nflags 8\n" RCPT_OK, "x", "flags" },
		{ "SEALPOST-DROP 1\nqid 0123456789ABCDEF\narrival 1\nsender a@b\nret 0\nflags 4096\n" RCPT_OK, "x", "flags" },
		{ HEAD_OK, "x", "recipient count" },
		{ HEAD_OK "rcpt 0\n", "x", "rcpt line" },
		{ HEAD_OK "rcpt 16 c@d\n", "x", "number" },
		{ HEAD_OK "rcpt 3 c@d\n", "x", "notify" },
		{ HEAD_OK "rcpt 0 \n", "x", "recipient" },
		{ HEAD_OK "rcpt 0 c@d \n", "x", "orcpt" },
		{ HEAD_OK "rcpt 0 c@d rfc822\n", "x", "orcpt" },
		{ HEAD_OK "rcpt 0 c@d rfc822;x y\n", "x", "xtext" },
		{ HEAD_OK "rcpt 0 c+0D+0A@d\n", "x", "recipient" },
		{ HEAD_OK "rcpt 0 c@d\nrcpt 0 e@f\nsender x@y\n", "x", "unexpected" },
		{ HEAD_OK "RCPT 0 c@d\n", "x", "unexpected" },
		{ "SEALPOST-DROP 1\r\nqid 0123456789ABCDEF\n", "x", "magic" },
	};
	char err[256];
	size_t i, len;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char *img = image(t[i].head, t[i].body, &len);
		struct queue_msg *m = queue_drop_parse(img, len, err,
		    sizeof(err));

		if (t[i].why == NULL) {
			if (m == NULL)
				fail_msg("case %zu: %s", i, err);
		} else {
			if (m != NULL)
				fail_msg("case %zu accepted", i);
			if (strstr(err, t[i].why) == NULL)
				fail_msg("case %zu: got \"%s\", want \"%s\"", i,
				    err, t[i].why);
		}
		queue_msg_free(m);
		free(img);
	}
}

static void
test_limits(void **state)
{
	struct queue_msg *m = sample_msg(), *p;
	char err[256], *img, big[QUEUE_ADDR_MAX + 2];
	size_t len, i;

	(void)state;
	/* address exactly at the limit passes, one more fails */
	memset(big, 'a', sizeof(big));
	big[QUEUE_ADDR_MAX] = '\0';
	free(m->rcpt[2].addr);
	m->rcpt[2].addr = strdup(big);
	assert_int_equal(queue_drop_check(m, err, sizeof(err)), 0);
	img = queue_drop_format(m, &len);
	p = queue_drop_parse(img, len, err, sizeof(err));
	assert_non_null(p);
	queue_msg_free(p);
	free(img);
	big[QUEUE_ADDR_MAX] = 'a';
	big[QUEUE_ADDR_MAX + 1] = '\0';
	free(m->rcpt[2].addr);
	m->rcpt[2].addr = strdup(big);
	assert_int_equal(queue_drop_check(m, err, sizeof(err)), -1);
	img = queue_drop_format(m, &len);
	assert_null(queue_drop_parse(img, len, err, sizeof(err)));
	free(img);
	queue_msg_free(m);

	/* QUEUE_RCPT_MAX recipients pass, one more fails */
	m = sample_msg();
	for (i = m->nrcpt; i < QUEUE_RCPT_MAX; i++)
		queue_msg_add_rcpt(m, "r@example.org", NULL, 0);
	img = queue_drop_format(m, &len);
	p = queue_drop_parse(img, len, err, sizeof(err));
	assert_non_null(p);
	assert_int_equal(p->nrcpt, QUEUE_RCPT_MAX);
	queue_msg_free(p);
	free(img);
	queue_msg_add_rcpt(m, "r@example.org", NULL, 0);
	img = queue_drop_format(m, &len);
	assert_null(queue_drop_parse(img, len, err, sizeof(err)));
	assert_non_null(strstr(err, "too many recipients"));
	free(img);
	queue_msg_free(m);

	/* size cap is checked before anything is read */
	assert_null(queue_drop_parse("", (size_t)QUEUE_DROP_MAX + 1, err,
	    sizeof(err)));
	assert_non_null(strstr(err, "larger"));
}

/* Every proper prefix and every single-byte change must be refused. */
static void
test_truncations_and_flips(void **state)
{
	struct queue_msg *m = sample_msg(), *p;
	char err[256], *img, *copy;
	size_t len, i;

	(void)state;
	img = queue_drop_format(m, &len);
	for (i = 0; i < len; i++) {
		copy = malloc(i ? i : 1);	/* exact size: ASan sees overreads */
		memcpy(copy, img, i);
		p = queue_drop_parse(copy, i, err, sizeof(err));
		if (p != NULL)
			fail_msg("prefix of %zu bytes accepted", i);
		free(copy);
	}
	copy = malloc(len + 1);
	for (i = 0; i < len; i++) {
		memcpy(copy, img, len);
		copy[i] ^= 0x20;
		p = queue_drop_parse(copy, len, err, sizeof(err));
		if (p != NULL)
			fail_msg("flip at %zu accepted", i);
	}
	/* trailing junk */
	memcpy(copy, img, len);
	copy[len] = '\n';
	assert_null(queue_drop_parse(copy, len + 1, err, sizeof(err)));
	free(copy);
	free(img);
	queue_msg_free(m);
}

static void
test_write(void **state)
{
	char dir[] = "/tmp/sp_drop_XXXXXX", path[512], err[256];
	struct queue_msg *m = sample_msg(), *p;
	struct dirent *de;
	struct stat st;
	DIR *d;
	char *buf;
	size_t len;
	int dfd, nfiles = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(queue_drop_write(dir, m, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/%s", dir, m->qid);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	/* a second write of the same queue ID must not replace the first */
	assert_int_equal(queue_drop_write(dir, m, err, sizeof(err)), -1);
	d = opendir(dir);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			nfiles++;
	closedir(d);
	assert_int_equal(nfiles, 1);	/* the temp file was cleaned up */

	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	buf = queue_drop_read(dfd, m->qid, &len);
	assert_non_null(buf);
	p = queue_drop_parse(buf, len, err, sizeof(err));
	assert_non_null(p);
	assert_same_msg(m, p);
	queue_msg_free(p);
	free(buf);
	/* symlinks are refused */
	assert_int_equal(symlinkat(m->qid, dfd, "link"), 0);
	assert_null(queue_drop_read(dfd, "link", &len));
	unlinkat(dfd, "link", 0);
	unlinkat(dfd, m->qid, 0);
	close(dfd);
	assert_int_equal(queue_drop_is_temp("tmp.abc123"), 1);
	assert_int_equal(queue_drop_is_temp(m->qid), 0);

	/* errors are reported, not fatal */
	assert_int_equal(queue_drop_write("/nonexistent/dir", m, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "No such file"));
	m->flags |= QUEUE_MSG_DSN;
	assert_int_equal(queue_drop_write(dir, m, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "flags"));
	queue_msg_free(m);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_malformed_table),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_truncations_and_flips),
		cmocka_unit_test(test_write),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
