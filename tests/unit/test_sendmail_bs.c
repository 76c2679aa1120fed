/*
 * test_sendmail_bs.c - "sendmail -bs": scripted SMTP dialogues through
 * sendmail_bs() with a fake sealpost-postdrop ($SEALPOST_POSTDROP, a
 * small shell script that announces a queue ID, stores the drop image
 * in a temporary directory and exits with $FAKE_RC).
 *
 * Each case is a client script (fed through a pipe, or a file for the
 * large ones), the final reply codes expected (as in
 * test_smtpd_proto.c: "220 250 ..."), the exit code and the number of
 * drop images the helper received and was told were durable.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <dirent.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"
#include "mta/sendmail.h"

#define FAKE_QID	"0123456789ABCDEF"

static char tmpdir[256];

static const char fake_postdrop[] =
    "#!/bin/sh\n"
    "echo " FAKE_QID "\n"
    "cat > \"$FAKE_DIR/image.$$\"\n"
    "exit ${FAKE_RC:-0}\n";

struct bs_case {
	const char *name;
	const char *script;
	const char *codes;	/* final reply codes */
	int rc;			/* exit code */
	int fake_rc;		/* the helper's exit status */
	size_t images;		/* drop images written */
	uint64_t size_limit;	/* 0: the default */
	unsigned error_limit;	/* 0: the default */
};

#define EHLO	"EHLO client.example\r\n"
#define MSG(f, t, body) "MAIL FROM:<" f ">\r\nRCPT TO:<" t ">\r\nDATA\r\n" \
	body "\r\n.\r\n"

static const struct bs_case cases[] = {
	{ "one message, QUIT", EHLO MSG("a@x.example", "b@y.example",
	    "Subject: one\r\n\r\nhello") "QUIT\r\n",
	  "220 250 250 250 354 250 221", EX_OK, 0, 1, 0, 0 },
	{ "two messages, RSET, a bad command",
	  EHLO MSG("a@x.example", "b@y.example", "Subject: 1\r\n\r\none")
	  "RSET\r\nFROB\r\n"
	  MSG("", "c@z.example", "Subject: 2\r\n\r\ntwo") "QUIT\r\n",
	  "220 250 250 250 354 250 250 500 250 250 354 250 221", EX_OK, 0, 2,
	  0, 0 },
	{ "HELO, SMTP", "HELO client.example\r\n" MSG("a@x.example",
	    "b@y.example", "x") "QUIT\r\n",
	  "220 250 250 250 354 250 221", EX_OK, 0, 1, 0, 0 },
	{ "helper fails: 451, the session goes on",
	  EHLO MSG("a@x.example", "b@y.example", "x") "NOOP\r\nQUIT\r\n",
	  "220 250 250 250 354 451 250 221", EX_OK, EX_TEMPFAIL, 1, 0, 0 },
	{ "no STARTTLS, no AUTH", EHLO "STARTTLS\r\nAUTH PLAIN AHVAcA==\r\n"
	  "QUIT\r\n", "220 250 502 503 221", EX_OK, 0, 0, 0, 0 },
	{ "relay to any domain, RSET drops the transaction",
	  EHLO "MAIL FROM:<a@x.example>\r\nRCPT TO:<r@far.example>\r\n"
	  "RCPT TO:<s@other.example>\r\nRSET\r\nDATA\r\nQUIT\r\n",
	  "220 250 250 250 250 250 503 221", EX_OK, 0, 0, 0, 0 },
	{ "EOF inside DATA abandons the message",
	  EHLO "MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nDATA\r\n"
	  "Subject: cut\r\n\r\nno end",
	  "220 250 250 250 354", EX_OK, 0, 0, 0, 0 },
	{ "EOF after a message, no QUIT",
	  EHLO MSG("a@x.example", "b@y.example", "x"),
	  "220 250 250 250 354 250", EX_OK, 0, 1, 0, 0 },
	{ "size limit: SIZE= and data",
	  EHLO "MAIL FROM:<a@x.example> SIZE=100000\r\n"
	  MSG("a@x.example", "b@y.example",
	  "0123456789012345678901234567890123456789012345678901234567890123"
	  "0123456789012345678901234567890123456789012345678901234567890123")
	  "QUIT\r\n",
	  "220 250 552 250 250 354 552 221", EX_OK, 0, 0, 100, 0 },
	{ "error limit: 421, EX_TEMPFAIL",
	  EHLO "X1\r\nX2\r\nX3\r\nNOOP\r\n",
	  "220 250 500 500 421", EX_TEMPFAIL, 0, 0, 0, 2 },
	{ "bare LF in data is refused (smuggling)",
	  EHLO "MAIL FROM:<a@x.example>\r\nRCPT TO:<b@y.example>\r\nDATA\r\n"
	  "a\n.\nMAIL FROM:<evil@x.example>\r\n.\r\nQUIT\r\n",
	  "220 250 250 250 354 550 221", EX_OK, 0, 0, 0, 0 },
	{ "commands before EHLO", "MAIL FROM:<a@x.example>\r\n"
	  "QUIT\r\n", "220 503 221", EX_OK, 0, 0, 0, 0 },
};

static int
setup(void **state)
{
	char path[512];
	FILE *f;

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_sendmail_bs.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	snprintf(path, sizeof(path), "%s/postdrop", tmpdir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(fake_postdrop, f);
	fclose(f);
	assert_int_equal(chmod(path, 0755), 0);
	assert_int_equal(setenv("SEALPOST_POSTDROP", path, 1), 0);
	assert_int_equal(setenv("FAKE_DIR", tmpdir, 1), 0);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[600];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Drop images in tmpdir; with remove set, delete them. */
static size_t
images(int remove, char *first, size_t firstlen)
{
	DIR *d = opendir(tmpdir);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(d);
	if (first != NULL)
		first[0] = '\0';
	while ((e = readdir(d)) != NULL) {
		char path[600];

		if (strncmp(e->d_name, "image.", 6) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", tmpdir, e->d_name);
		if (first != NULL && first[0] == '\0') {
			FILE *f = fopen(path, "r");
			size_t got;

			assert_non_null(f);
			got = fread(first, 1, firstlen - 1, f);
			first[got] = '\0';
			fclose(f);
		}
		if (remove)
			unlink(path);
		n++;
	}
	closedir(d);
	return n;
}

/* The final reply codes of out, space separated. */
static void
codes_of(const char *out, char *codes, size_t len)
{
	size_t o = 0;

	codes[0] = '\0';
	while (*out != '\0') {
		const char *e = strstr(out, "\r\n");

		assert_non_null(e);
		if (e - out >= 4 && out[3] == ' ' && o + 5 < len) {
			if (o > 0)
				codes[o++] = ' ';
			memcpy(codes + o, out, 3);
			o += 3;
			codes[o] = '\0';
		}
		out = e + 2;
	}
}

/*
 * Run one dialogue: script through a pipe (written by a child, so a
 * script larger than the pipe buffer cannot block us), replies into a
 * temporary file, returned in out.
 */
static int
run_dialogue(const struct sealpost_config *cfg, const char *script,
    char *out, size_t outlen)
{
	int in[2], status, rc;
	char opath[512];
	FILE *of;
	size_t got;
	pid_t pid;
	int ofd;

	snprintf(opath, sizeof(opath), "%s/out", tmpdir);
	ofd = open(opath, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(ofd >= 0);
	assert_int_equal(pipe(in), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		size_t len = strlen(script), off = 0;

		close(in[0]);
		while (off < len) {
			ssize_t n = write(in[1], script + off, len - off);

			if (n <= 0)
				_exit(1);
			off += (size_t)n;
		}
		_exit(0);
	}
	close(in[1]);
	rc = sendmail_bs(cfg, NULL, in[0], ofd);
	close(in[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	close(ofd);
	of = fopen(opath, "r");
	assert_non_null(of);
	got = fread(out, 1, outlen - 1, of);
	out[got] = '\0';
	fclose(of);
	return rc;
}

static struct sealpost_config *
test_cfg(void)
{
	struct sealpost_config *cfg = cfg_defaults();

	free(cfg->myhostname);
	cfg->myhostname = strdup("mx.example.org");
	return cfg;
}

static void
test_dialogues(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct bs_case *c = &cases[i];
		struct sealpost_config *cfg = test_cfg();
		static char out[65536];
		char codes[512], rcs[8];
		int rc;

		if (c->size_limit != 0)
			cfg->message_size_limit = c->size_limit;
		if (c->error_limit != 0)
			cfg->smtpd.error_limit = c->error_limit;
		snprintf(rcs, sizeof(rcs), "%d", c->fake_rc);
		setenv("FAKE_RC", rcs, 1);
		rc = run_dialogue(cfg, c->script, out, sizeof(out));
		codes_of(out, codes, sizeof(codes));
		if (strcmp(codes, c->codes) != 0 || rc != c->rc)
			fail_msg("case \"%s\": codes \"%s\" (want \"%s\"), "
			    "rc %d (want %d)\n%s", c->name, codes, c->codes,
			    rc, c->rc, out);
		if (images(1, NULL, 0) != c->images)
			fail_msg("case \"%s\": wrong number of drop images",
			    c->name);
		cfg_free(cfg);
	}
	unsetenv("FAKE_RC");
}

/* What the client sees and what the helper gets. */
static void
test_exact(void **state)
{
	struct sealpost_config *cfg = test_cfg();
	static char out[65536], image[65536];
	char want[128];
	int rc;

	(void)state;
	rc = run_dialogue(cfg, EHLO MSG("a@x.example", "b@y.example",
	    "Subject: hi\r\n\r\n..dot\r\nbody") "QUIT\r\n", out, sizeof(out));
	assert_int_equal(rc, EX_OK);
	assert_non_null(strstr(out, "220 mx.example.org ESMTP sealpost\r\n"));
	assert_non_null(strstr(out, "250 2.0.0 Ok: queued as " FAKE_QID
	    "\r\n"));
	assert_null(strstr(out, "STARTTLS"));
	assert_null(strstr(out, "AUTH"));
	assert_non_null(strstr(out, "250-PIPELINING\r\n"));
	assert_int_equal(images(1, image, sizeof(image)), 1);
	assert_non_null(strstr(image, "qid " FAKE_QID "\n"));
	assert_non_null(strstr(image, "sender a@x.example\n"));
	assert_non_null(strstr(image, "Received: from client.example\r\n"
	    "\tby mx.example.org (sealpost) with ESMTP (via sendmail -bs, "));
	snprintf(want, sizeof(want), "uid %ld) id " FAKE_QID "\r\n"
	    "\tfor <b@y.example>; ", (long)getuid());
	assert_non_null(strstr(image, want));
	assert_non_null(strstr(image, "Message-ID: <" FAKE_QID "."));
	assert_non_null(strstr(image, "\r\n.dot\r\nbody\r\n"));
	cfg_free(cfg);
}

/* A large message through the pipe: the engine never holds more than
 * it may, and the whole body arrives. */
static void
test_large(void **state)
{
	struct sealpost_config *cfg = test_cfg();
	static char out[65536];
	const char *head = EHLO "MAIL FROM:<a@x.example>\r\n"
	    "RCPT TO:<b@y.example>\r\nDATA\r\nSubject: big\r\n\r\n";
	const char *tail = ".\r\nQUIT\r\n";
	size_t lines = 20000, i, o, cap;
	char *script;
	char codes[512];

	(void)state;
	cap = strlen(head) + lines * 80 + strlen(tail) + 1;
	script = malloc(cap);
	assert_non_null(script);
	o = (size_t)snprintf(script, cap, "%s", head);
	for (i = 0; i < lines; i++)
		o += (size_t)snprintf(script + o, cap - o, "%077zu\r\n", i);
	snprintf(script + o, cap - o, "%s", tail);
	assert_int_equal(run_dialogue(cfg, script, out, sizeof(out)), EX_OK);
	codes_of(out, codes, sizeof(codes));
	assert_string_equal(codes, "220 250 250 250 354 250 221");
	assert_int_equal(images(1, NULL, 0), 1);
	free(script);
	cfg_free(cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dialogues),
		cmocka_unit_test(test_exact),
		cmocka_unit_test(test_large),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
