/*
 * test_smtpd_proto.c - the SMTP server engine without sockets.
 *
 * Each case is a client script (all bytes at once, then again one byte
 * at a time: the engine must not care how input is split) and the reply
 * codes expected, as "220 250 250 354 250 221" (the final line of each
 * reply; "250 ... queued" counts as 250).  A fake owner answers events:
 * messages are "queued" (or fail when the case says so), STARTTLS
 * succeeds, AUTH accepts the base64 of "\0user\0secret" only.  Further
 * tests look at what was queued: envelope, DSN fields, flags, the
 * stored body (dot-unstuffing, CRLF, added headers), and at the exact
 * wording of a few replies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mta/smtpd.h"

/* base64("\0user\0secret") */
#define GOOD_PLAIN	"AHVzZXIAc2VjcmV0"

struct fake {
	int    queue_rc;		/* what the "store" answers */
	struct queue_msg *msgs[8];
	size_t nmsgs;
	char   out[65536];
	size_t outlen;
	char   codes[2048];
	int    closed;
	int    tls_started;
	int    aborts;
};

static void
params_default(struct smtpd_params *pr)
{
	memset(pr, 0, sizeof(*pr));
	pr->myhostname = "mx.example.org";
	pr->role = CFG_ROLE_RELAY;
	pr->client_addr = "192.0.2.7";
	pr->client_trusted = 1;
	pr->tls_offer = 1;
	pr->sasl_enable = 1;
	pr->sasl_mechs = "PLAIN LOGIN CRAM-MD5";
	pr->message_size_limit = 10000;
	pr->recipient_limit = 3;
	pr->header_size_limit = 2000;
	pr->error_limit = 20;
	pr->bare_lf = CFG_BARE_LF_REJECT;
}

static void test_received_ipv6_literal(void **state);
static void test_rcpt_postmaster(void **state);

static void
take_output(smtpd_proto *p, struct fake *f)
{
	size_t len;
	const char *o = smtpd_proto_output(p, &len);

	assert_true(f->outlen + len < sizeof(f->out));
	memcpy(f->out + f->outlen, o, len);
	f->outlen += len;
	f->out[f->outlen] = '\0';
	smtpd_proto_output_done(p);
}

/* Answer events until the engine needs input. */
static void
drive(smtpd_proto *p, struct fake *f)
{
	for (;;) {
		enum smtpd_ev ev = smtpd_proto_run(p);

		take_output(p, f);
		switch (ev) {
		case SMTPD_EV_NONE:
			return;
		case SMTPD_EV_FLUSH:
			break;
		case SMTPD_EV_MESSAGE: {
			struct queue_msg *m = smtpd_proto_take_msg(p);

			assert_true(f->nmsgs < 8);
			smtpd_proto_queued(p, f->queue_rc, m->qid);
			if (f->queue_rc == 0)
				f->msgs[f->nmsgs++] = m;
			else
				queue_msg_free(m);
			break;
		}
		case SMTPD_EV_STARTTLS:
			f->tls_started++;
			smtpd_proto_tls_started(p, 1,
			    "using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384");
			break;
		case SMTPD_EV_AUTH: {
			const char *d = smtpd_proto_auth_data(p);
			const char *mech = smtpd_proto_auth_mech(p);

			if (strcmp(mech, "PLAIN") == 0 && d == NULL)
				smtpd_proto_auth_reply(p, SMTPD_AUTH_CONTINUE, "");
			else if (d != NULL && strcmp(d, GOOD_PLAIN) == 0)
				smtpd_proto_auth_reply(p, SMTPD_AUTH_OK, "user");
			else
				smtpd_proto_auth_reply(p, SMTPD_AUTH_FAIL, NULL);
			break;
		}
		case SMTPD_EV_AUTH_ABORT:
			f->aborts++;
			break;
		case SMTPD_EV_CLOSE:
			f->closed = 1;
			return;
		}
	}
}

/* The code of every final reply line, space separated. */
static void
codes_of(struct fake *f)
{
	const char *l = f->out;
	size_t o = 0;

	f->codes[0] = '\0';
	while (*l != '\0') {
		const char *e = strstr(l, "\r\n");

		assert_non_null(e);
		if (e - l >= 4 && l[3] == ' ') {
			if (o > 0)
				f->codes[o++] = ' ';
			memcpy(f->codes + o, l, 3);
			o += 3;
			f->codes[o] = '\0';
		}
		l = e + 2;
	}
}

static void
fake_free(struct fake *f)
{
	size_t i;

	for (i = 0; i < f->nmsgs; i++)
		queue_msg_free(f->msgs[i]);
	memset(f, 0, sizeof(*f));
}

/* Run script through a fresh engine; split 0 = at once, 1 = bytewise. */
static void
run_script(const struct smtpd_params *pr, const char *script, size_t len,
    int split, struct fake *f)
{
	smtpd_proto *p = smtpd_proto_new(pr);
	size_t i;

	smtpd_proto_greet(p);
	take_output(p, f);
	if (split == 0) {
		/* "%%" marks where a real client would wait for a reply
		 * (after STARTTLS) */
		size_t start = 0;

		for (i = 0; i <= len && !f->closed; i++) {
			if (i < len && (i + 1 >= len || script[i] != '%' ||
			    script[i + 1] != '%'))
				continue;
			(void)smtpd_proto_feed(p, script + start, i - start);
			drive(p, f);
			start = i + 2;
			i++;
		}
	} else {
		for (i = 0; i < len && !f->closed; i++) {
			if (script[i] == '%' && i + 1 < len &&
			    script[i + 1] == '%') {
				i++;
				continue;
			}
			(void)smtpd_proto_feed(p, script + i, 1);
			drive(p, f);
		}
	}
	smtpd_proto_free(p);
	codes_of(f);
}

struct pcase {
	const char *name;
	const char *script;
	const char *codes;
	void (*tweak)(struct smtpd_params *);
};

static void tw_untrusted(struct smtpd_params *pr) { pr->client_trusted = 0; }
static void tw_submission(struct smtpd_params *pr)
{
	pr->role = CFG_ROLE_SUBMISSION;
	pr->client_trusted = 1;		/* must not matter */
}
static void tw_smtps(struct smtpd_params *pr)
{
	pr->role = CFG_ROLE_SMTPS;
	pr->tls_active = 1;
}
static void tw_normalize(struct smtpd_params *pr)
{
	pr->bare_lf = CFG_BARE_LF_NORMALIZE;
}
static void tw_errors3(struct smtpd_params *pr) { pr->error_limit = 3; }
static void tw_notls(struct smtpd_params *pr)
{
	pr->tls_offer = 0;
	pr->sasl_enable = 0;
}

#define MSG "Subject: t\r\n\r\nhello\r\n.\r\n"
#define TX "EHLO c.example\r\nMAIL FROM:<a@example.org>\r\n" \
	"RCPT TO:<b@example.net>\r\nDATA\r\n"

static const struct pcase cases[] = {
	{ "plain relay", TX MSG "QUIT\r\n", "220 250 250 250 354 250 221",
	  NULL },
	{ "helo", "HELO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\n"
	  "DATA\r\n" MSG, "220 250 250 250 354 250", NULL },
	{ "lowercase and LF-only commands", "ehlo c\nmail from:<a@b.c>\n"
	  "rcpt to:<d@e.f>\nquit\n", "220 250 250 250 221", NULL },
	{ "no helo", "MAIL FROM:<a@b.c>\r\n", "220 503", NULL },
	{ "rcpt before mail", "EHLO c\r\nRCPT TO:<a@b.c>\r\n",
	  "220 250 503", NULL },
	{ "data before mail", "EHLO c\r\nDATA\r\n", "220 250 503", NULL },
	{ "data without rcpt", "EHLO c\r\nMAIL FROM:<>\r\nDATA\r\n",
	  "220 250 250 554", NULL },
	{ "nested mail", "EHLO c\r\nMAIL FROM:<>\r\nMAIL FROM:<>\r\n",
	  "220 250 250 503", NULL },
	{ "rset clears", "EHLO c\r\nMAIL FROM:<>\r\nRSET\r\nMAIL FROM:<>\r\n",
	  "220 250 250 250 250", NULL },
	{ "unknown command", "EHLO c\r\nFOO\r\n\r\nBDAT 10 LAST\r\n",
	  "220 250 500 500 500", NULL },
	{ "noop vrfy expn help", "NOOP\r\nVRFY x\r\nEXPN x\r\nHELP\r\n",
	  "220 250 252 502 214", NULL },
	{ "bad helo", "EHLO\r\nEHLO a b\r\nHELO x(y)\r\n", "220 501 501 501",
	  NULL },
	{ "mail syntax", "EHLO c\r\nMAIL <a@b.c>\r\nMAIL FROM:<a@b.c\r\n"
	  "MAIL FROM:<a b@c.d>\r\nMAIL FROM:<a@b.c>x\r\n",
	  "220 250 501 501 501 501", NULL },
	{ "mail lenient forms", "EHLO c\r\nMAIL FROM: <a@b.c>\r\nRSET\r\n"
	  "MAIL FROM:a@b.c\r\nRSET\r\nMAIL FROM:<@r1,@r2:a@b.c>\r\n",
	  "220 250 250 250 250 250 250", NULL },
	{ "rcpt needs domain", "EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<>\r\n"
	  "RCPT TO:<postmaster>\r\nRCPT TO:<x@>\r\n",
	  "220 250 250 501 501 501", NULL },
	{ "recipient limit", "EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<1@x.y>\r\n"
	  "RCPT TO:<2@x.y>\r\nRCPT TO:<3@x.y>\r\nRCPT TO:<4@x.y>\r\n"
	  "RCPT TO:<2@x.y>\r\n",
	  "220 250 250 250 250 250 452 250", NULL },
	{ "params need ehlo", "HELO c\r\nMAIL FROM:<a@b.c> SIZE=10\r\n",
	  "220 250 555", NULL },
	{ "size", "EHLO c\r\nMAIL FROM:<a@b.c> SIZE=10001\r\n"
	  "MAIL FROM:<a@b.c> SIZE=x\r\nMAIL FROM:<a@b.c> SIZE=10000\r\n",
	  "220 250 552 501 250", NULL },
	{ "mail params", "EHLO c\r\nMAIL FROM:<a@b.c> BODY=BINARYMIME\r\n"
	  "MAIL FROM:<a@b.c> FOO=1\r\nMAIL FROM:<a@b.c> RET=NONE\r\n"
	  "MAIL FROM:<a@b.c> RET=FULL RET=HDRS\r\n"
	  "MAIL FROM:<a@b.c> ENVID=a+2\r\n"
	  "MAIL FROM:<a@b.c> SMTPUTF8=1\r\n"
	  "MAIL FROM:<a@b.c> BODY=8BITMIME RET=hdrs ENVID=x+2By SMTPUTF8 "
	  "AUTH=<> SIZE=1\r\n",
	  "220 250 555 555 501 501 501 501 250", NULL },
	{ "rcpt params", "EHLO c\r\nMAIL FROM:<>\r\n"
	  "RCPT TO:<a@b.c> NOTIFY=NEVER,SUCCESS\r\n"
	  "RCPT TO:<a@b.c> NOTIFY=\r\nRCPT TO:<a@b.c> NOTIFY=SUCCESS,\r\n"
	  "RCPT TO:<a@b.c> ORCPT=a@b.c\r\nRCPT TO:<a@b.c> ORCPT=rfc822;\r\n"
	  "RCPT TO:<a@b.c> XYZ\r\n"
	  "RCPT TO:<a@b.c> NOTIFY=success,delay ORCPT=rfc822;a+40b.c\r\n",
	  "220 250 250 501 501 501 501 501 555 250", NULL },
	{ "utf8 needs SMTPUTF8", "EHLO c\r\nMAIL FROM:<j\xc3\xb6@b.c>\r\n"
	  "MAIL FROM:<j\xc3\xb6@b.c> SMTPUTF8\r\n"
	  "RCPT TO:<\xc3\xa5@b.c>\r\nRCPT TO:<\xc3@b.c>\r\n",
	  "220 250 553 250 250 553", NULL },
	{ "relay denied", TX, "220 250 250 554 554", tw_untrusted },
	{ "relay after auth", "EHLO c\r\nSTARTTLS\r\n%%EHLO c\r\n"
	  "AUTH PLAIN " GOOD_PLAIN "\r\nMAIL FROM:<a@b.c>\r\n"
	  "RCPT TO:<d@e.f>\r\n", "220 250 220 250 235 250 250",
	  tw_untrusted },
	{ "submission needs auth", TX, "220 250 530 503 503", tw_submission },
	{ "submission: plain before tls", "EHLO c\r\nAUTH PLAIN "
	  GOOD_PLAIN "\r\nAUTH LOGIN\r\nAUTH FOO\r\n", "220 250 538 538 504",
	  tw_submission },
	{ "submission: cram-md5 before tls is allowed to start",
	  "EHLO c\r\nAUTH CRAM-MD5\r\n", "220 250 535", tw_submission },
	{ "submission after tls and auth", "EHLO c\r\nSTARTTLS\r\n%%"
	  "EHLO c\r\nAUTH PLAIN " GOOD_PLAIN "\r\nAUTH PLAIN x\r\n"
	  "MAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\n" MSG,
	  "220 250 220 250 235 503 250 250 354 250", tw_submission },
	{ "auth failures", "EHLO c\r\nSTARTTLS\r\n%%EHLO c\r\n"
	  "AUTH PLAIN Zm9v\r\nAUTH PLAIN\r\n*\r\nAUTH PLAIN\r\n"
	  GOOD_PLAIN "\r\nMAIL FROM:<>\r\nAUTH PLAIN\r\n",
	  "220 250 220 250 535 334 501 334 235 250 503", tw_submission },
	{ "auth needs ehlo", "HELO c\r\nAUTH PLAIN x\r\n", "220 250 503",
	  NULL },
	{ "auth disabled", "EHLO c\r\nAUTH PLAIN x\r\nSTARTTLS\r\n",
	  "220 250 503 502", tw_notls },
	{ "smtps: implicit tls", "EHLO c\r\nSTARTTLS\r\nAUTH PLAIN "
	  GOOD_PLAIN "\r\nMAIL FROM:<a@b.c>\r\n", "220 250 503 235 250",
	  tw_smtps },
	{ "starttls resets", "EHLO c\r\nMAIL FROM:<>\r\nSTARTTLS\r\n%%"
	  "MAIL FROM:<>\r\nEHLO c\r\nMAIL FROM:<>\r\n",
	  "220 250 250 220 503 250 250", NULL },
	{ "starttls syntax", "EHLO c\r\nSTARTTLS now\r\n", "220 250 501",
	  NULL },
	{ "error limit", "A\r\nB\r\nC\r\nNOOP\r\n", "220 500 500 500 421",
	  tw_errors3 },
	{ "command line limit", "NOOP", NULL, NULL },	/* filled below */
	{ "bare LF in data: reject", TX "Subject: t\r\n\r\nbad\nline\r\n"
	  ".\r\nNOOP\r\n", "220 250 250 250 354 550 250", NULL },
	{ "bare CR in data: reject", TX "a\rb\r\n.\r\n",
	  "220 250 250 250 354 550", NULL },
	{ "smuggling: LF.CRLF is data", TX "a\r\n\n.\r\nMAIL FROM:<x@y.z>"
	  "\r\n.\r\n", "220 250 250 250 354 550", NULL },
	{ "smuggling: CRLF.LF is data", TX "a\r\n.\nRCPT TO:<x@y.z>\r\n"
	  ".\r\n", "220 250 250 250 354 550", NULL },
	{ "smuggling: LF.LF is data", TX "a\n.\nQUIT\n.\r\n\r\n.\r\n",
	  "220 250 250 250 354 550", NULL },
	{ "smuggling normalized: still data", TX "a\r\n\n.\r\nMAIL FROM:"
	  "<x@y.z>\r\n.\r\n", "220 250 250 250 354 250", tw_normalize },
	{ "message too big", TX "Subject: x\r\n\r\n%BIG%.\r\nNOOP\r\n",
	  "220 250 250 250 354 552 250", NULL },
	{ "header too big", TX "%HDR%\r\nbody\r\n.\r\n",
	  "220 250 250 250 354 552", NULL },
	{ "long data line", TX "%LONG%\r\n.\r\n", "220 250 250 250 354 550",
	  NULL },
	{ "pipelined group", "EHLO c\r\nMAIL FROM:<a@b.c>\r\n"
	  "RCPT TO:<d@e.f>\r\nRCPT TO:<g@h.i>\r\nDATA\r\n" MSG
	  "MAIL FROM:<a@b.c>\r\nRCPT TO:<d@e.f>\r\nDATA\r\n" MSG "QUIT\r\n",
	  "220 250 250 250 250 354 250 250 250 354 250 221", NULL },
};

/* Expand %BIG%, %HDR%, %LONG% placeholders. */
static char *
expand(const char *s, size_t *len)
{
	struct dynbuf b;
	const char *p;

	dynbuf_init(&b, 1 << 20);
	for (p = s; *p != '\0'; p++) {
		size_t i;

		if (strncmp(p, "%BIG%", 5) == 0) {
			for (i = 0; i < 200; i++)
				assert_int_equal(dynbuf_addstr(&b, "0123456789"
				    "0123456789012345678901234567890123456789"
				    "0123456789\r\n"), 0);
			p += 4;
		} else if (strncmp(p, "%HDR%", 5) == 0) {
			for (i = 0; i < 100; i++)
				assert_int_equal(dynbuf_addf(&b, "X-H%zu: "
				    "abcdefghijklmnopqrstuvwxyz\r\n", i), 0);
			p += 4;
		} else if (strncmp(p, "%LONG%", 6) == 0) {
			for (i = 0; i < 999; i++)
				assert_int_equal(dynbuf_add(&b, "x", 1), 0);
			p += 5;
		} else {
			assert_int_equal(dynbuf_add(&b, p, 1), 0);
		}
	}
	return dynbuf_take(&b, len);
}

static void
test_script_table(void **state)
{
	size_t i;
	int split;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtpd_params pr;
		size_t len;
		char *script;

		if (cases[i].codes == NULL)
			continue;
		script = expand(cases[i].script, &len);
		for (split = 0; split < 2; split++) {
			struct fake f;

			memset(&f, 0, sizeof(f));
			params_default(&pr);
			if (cases[i].tweak != NULL)
				cases[i].tweak(&pr);
			run_script(&pr, script, len, split, &f);
			if (strcmp(f.codes, cases[i].codes) != 0)
				fail_msg("%s (split %d):\n got  %s\n want %s\n"
				    "%s", cases[i].name, split, f.codes,
				    cases[i].codes, f.out);
			fake_free(&f);
		}
		free(script);
	}
}

/* CVE-2011-0411: plaintext pipelined after STARTTLS is dropped, not
 * run inside the TLS session. */
static void
test_starttls_injection(void **state)
{
	static const char script[] = "EHLO c\r\nSTARTTLS\r\n"
	    "MAIL FROM:<evil@x.y>\r\n";
	struct smtpd_params pr;
	struct fake f;

	(void)state;
	params_default(&pr);
	memset(&f, 0, sizeof(f));
	run_script(&pr, script, sizeof(script) - 1, 0, &f);
	assert_string_equal(f.codes, "220 250 220");
	assert_int_equal(f.tls_started, 1);
	fake_free(&f);
}

static void
test_line_limits(void **state)
{
	struct smtpd_params pr;
	struct fake f;
	char line[20000];

	(void)state;
	params_default(&pr);
	/* 510 octets + CRLF = 512: fine; 511 + CRLF: too long */
	memset(&f, 0, sizeof(f));
	snprintf(line, sizeof(line), "NOOP %0505d\r\nNOOP %0506d\r\nNOOP\r\n",
	    0, 0);
	run_script(&pr, line, strlen(line), 0, &f);
	assert_string_equal(f.codes, "220 250 500 250");
	fake_free(&f);

	/* MAIL may be longer (ESMTP parameters), up to 2048 */
	memset(&f, 0, sizeof(f));
	snprintf(line, sizeof(line), "EHLO c\r\nMAIL FROM:<a@b.c> "
	    "ENVID=%090d%01400d\r\n", 0, 0);
	run_script(&pr, line, strlen(line), 0, &f);
	assert_string_equal(f.codes, "220 250 501");	/* ENVID > 100 */
	fake_free(&f);

	/* a line longer than any limit is swallowed whole, answered once */
	memset(&f, 0, sizeof(f));
	memset(line, 'A', 15000);
	memcpy(line + 15000, "\r\nNOOP\r\n", 9);
	run_script(&pr, line, strlen(line), 0, &f);
	assert_string_equal(f.codes, "220 500 250");
	fake_free(&f);
	memset(&f, 0, sizeof(f));
	run_script(&pr, line, strlen(line), 1, &f);
	assert_string_equal(f.codes, "220 500 250");
	fake_free(&f);

	/* NUL and CR inside a command */
	memset(&f, 0, sizeof(f));
	run_script(&pr, "NO\0OP\r\nNO\rOP\r\n", 15, 0, &f);
	assert_string_equal(f.codes, "220 500 500");
	fake_free(&f);
}

static void
test_queued_message(void **state)
{
	static const char script[] =
	    "EHLO client.example\r\n"
	    "MAIL FROM:<a@example.org> RET=HDRS ENVID=QQ+2B1 BODY=8BITMIME\r\n"
	    "RCPT TO:<b@example.net> NOTIFY=SUCCESS,FAILURE "
	    "ORCPT=rfc822;b+2Bx@example.net\r\n"
	    "RCPT TO:<c@example.net>\r\n"
	    "DATA\r\n"
	    "From: a@example.org\r\n"
	    "Subject: dots\r\n"
	    "\r\n"
	    "..leading dot\r\n"
	    ".\r\n";
	struct smtpd_params pr;
	struct fake f;
	struct queue_msg *m;
	const char *b, *sep;

	(void)state;
	params_default(&pr);
	memset(&f, 0, sizeof(f));
	run_script(&pr, script, sizeof(script) - 1, 0, &f);
	assert_string_equal(f.codes, "220 250 250 250 250 354 250");
	assert_int_equal(f.nmsgs, 1);
	m = f.msgs[0];
	assert_non_null(strstr(f.out, "250 2.0.0 Ok: queued as "));
	assert_non_null(strstr(f.out, m->qid));
	assert_string_equal(m->sender, "a@example.org");
	assert_string_equal(m->envid, "QQ+1");
	assert_int_equal(m->ret, QUEUE_RET_HDRS);
	assert_int_equal(m->flags & QUEUE_MSG_8BITMIME, QUEUE_MSG_8BITMIME);
	assert_int_equal(m->flags & QUEUE_MSG_SMTPUTF8, 0);
	assert_int_equal(m->nrcpt, 2);
	assert_string_equal(m->rcpt[0].addr, "b@example.net");
	assert_string_equal(m->rcpt[0].orcpt, "rfc822;b+x@example.net");
	assert_int_equal(m->rcpt[0].notify,
	    QUEUE_NOTIFY_SUCCESS | QUEUE_NOTIFY_FAILURE);
	assert_null(m->rcpt[1].orcpt);
	assert_int_equal(m->rcpt[1].notify, 0);
	b = m->body;
	assert_int_equal(m->size, m->body_len);
	assert_int_equal(strlen(b), m->body_len);
	assert_true(strncmp(b, "Received: from client.example ([192.0.2.7])"
	    "\r\n\tby mx.example.org (sealpost) with ESMTP id ", 85) == 0);
	/* two recipients: none named */
	assert_null(strstr(b, "for <"));
	sep = strstr(b, "\r\n\r\n");
	assert_non_null(sep);
	assert_non_null(strstr(b, "Subject: dots\r\nDate: "));
	assert_non_null(strstr(b, "\r\nMessage-ID: <"));
	assert_true(strstr(b, "Message-ID: <") < sep);
	assert_string_equal(sep, "\r\n\r\n.leading dot\r\n");
	fake_free(&f);
}

static void
test_trace_and_flags(void **state)
{
	static const char script[] =
	    "EHLO c\r\nSTARTTLS\r\n%%EHLO c\r\nAUTH PLAIN " GOOD_PLAIN "\r\n"
	    "MAIL FROM:<\xc3\xa5@example.org> SMTPUTF8\r\n"
	    "RCPT TO:<b@example.net>\r\nDATA\r\n"
	    "Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
	    "message-id: <x@y>\r\n"
	    "no colon here starts the body\r\n"
	    ".\r\n";
	struct smtpd_params pr;
	struct fake f;
	const char *b;

	(void)state;
	params_default(&pr);
	memset(&f, 0, sizeof(f));
	run_script(&pr, script, sizeof(script) - 1, 0, &f);
	assert_int_equal(f.nmsgs, 1);
	b = f.msgs[0]->body;
	assert_non_null(strstr(b, " with UTF8SMTPSA id "));
	assert_non_null(strstr(b, "\r\n\t(using TLSv1.3 with cipher "
	    "TLS_AES_256_GCM_SHA384)\r\n\tfor <b@example.net>; "));
	assert_null(strstr(b, "\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
	    "Date:"));
	assert_null(strstr(b, "Message-ID: <"));	/* had one */
	/* the header ended without an empty line: one is added */
	assert_non_null(strstr(b, "<x@y>\r\n\r\nno colon here starts"));
	assert_int_equal(f.msgs[0]->flags & QUEUE_MSG_SMTPUTF8,
	    QUEUE_MSG_SMTPUTF8);
	assert_int_equal(f.msgs[0]->flags & QUEUE_MSG_8BITMIME, 0);
	fake_free(&f);

	assert_string_equal(smtpd_protocol_name(0, 0, 0, 0), "SMTP");
	assert_string_equal(smtpd_protocol_name(1, 0, 0, 0), "ESMTP");
	assert_string_equal(smtpd_protocol_name(1, 0, 1, 0), "ESMTPS");
	assert_string_equal(smtpd_protocol_name(1, 0, 0, 1), "ESMTPA");
	assert_string_equal(smtpd_protocol_name(1, 0, 1, 1), "ESMTPSA");
	assert_string_equal(smtpd_protocol_name(1, 1, 1, 0), "UTF8SMTPS");
}

static void
test_commit_failure(void **state)
{
	struct smtpd_params pr;
	struct fake f;

	(void)state;
	params_default(&pr);
	memset(&f, 0, sizeof(f));
	f.queue_rc = -1;
	run_script(&pr, TX MSG "NOOP\r\n", strlen(TX MSG "NOOP\r\n"), 0, &f);
	assert_string_equal(f.codes, "220 250 250 250 354 452 250");
	assert_non_null(strstr(f.out, "452 4.3.1 "));
	fake_free(&f);
}

static void
test_ehlo_keywords(void **state)
{
	struct smtpd_params pr;
	struct fake f;

	(void)state;
	params_default(&pr);
	memset(&f, 0, sizeof(f));
	run_script(&pr, "EHLO c\r\n", 8, 0, &f);
	assert_string_equal(f.out, "220 mx.example.org ESMTP sealpost\r\n"
	    "250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 10000\r\n"
	    "250-8BITMIME\r\n250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n"
	    "250-DSN\r\n250-STARTTLS\r\n250 AUTH CRAM-MD5\r\n");
	fake_free(&f);

	memset(&f, 0, sizeof(f));
	run_script(&pr, "EHLO c\r\nSTARTTLS\r\n%%EHLO c\r\n", 28, 0, &f);
	assert_non_null(strstr(f.out, "250 AUTH PLAIN LOGIN CRAM-MD5\r\n"));
	assert_int_equal(f.tls_started, 1);
	/* after TLS no second STARTTLS */
	assert_null(strstr(strstr(f.out, "220 2.0.0"), "STARTTLS"));
	fake_free(&f);

	pr.tls_offer = 0;
	pr.sasl_enable = 0;
	memset(&f, 0, sizeof(f));
	run_script(&pr, "EHLO c\r\n", 8, 0, &f);
	assert_non_null(strstr(f.out, "250 DSN\r\n"));
	assert_null(strstr(f.out, "STARTTLS"));
	assert_null(strstr(f.out, "AUTH"));
	fake_free(&f);
}

static void
test_relay_reply_text(void **state)
{
	struct smtpd_params pr;
	struct fake f;

	(void)state;
	params_default(&pr);
	pr.client_trusted = 0;
	memset(&f, 0, sizeof(f));
	run_script(&pr, TX, strlen(TX), 0, &f);
	assert_non_null(strstr(f.out, "554 5.7.1 <b@example.net>: relaying "
	    "denied\r\n"));
	fake_free(&f);
}

static void
test_timeout_and_shutdown(void **state)
{
	struct smtpd_params pr;
	smtpd_proto *p;
	size_t len;
	const char *o;

	(void)state;
	params_default(&pr);
	p = smtpd_proto_new(&pr);
	smtpd_proto_timeout(p);
	o = smtpd_proto_output(p, &len);
	assert_int_equal(strncmp(o, "421 4.4.2 mx.example.org", 24), 0);
	assert_int_equal(smtpd_proto_run(p), SMTPD_EV_CLOSE);
	assert_int_equal(smtpd_proto_feed(p, "x", 1), -1);
	smtpd_proto_free(p);

	p = smtpd_proto_new(&pr);
	smtpd_proto_shutdown(p);
	o = smtpd_proto_output(p, &len);
	assert_int_equal(strncmp(o, "421 4.3.2 ", 10), 0);
	smtpd_proto_free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_script_table),
		cmocka_unit_test(test_received_ipv6_literal),
		cmocka_unit_test(test_rcpt_postmaster),
		cmocka_unit_test(test_starttls_injection),
		cmocka_unit_test(test_line_limits),
		cmocka_unit_test(test_queued_message),
		cmocka_unit_test(test_trace_and_flags),
		cmocka_unit_test(test_commit_failure),
		cmocka_unit_test(test_ehlo_keywords),
		cmocka_unit_test(test_relay_reply_text),
		cmocka_unit_test(test_timeout_and_shutdown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* RFC 5321 4.1.3: an IPv6 client appears as [IPv6:...] in Received. */
static void
test_received_ipv6_literal(void **state)
{
	static const char script[] =
	    "EHLO client.example\r\n"
	    "MAIL FROM:<a@example.org>\r\n"
	    "RCPT TO:<b@example.net>\r\n"
	    "DATA\r\n"
	    "Subject: v6\r\n"
	    "\r\n"
	    "hi\r\n"
	    ".\r\n";
	struct smtpd_params pr;
	struct fake f;

	(void)state;
	params_default(&pr);
	pr.client_addr = "2001:db8::7";
	memset(&f, 0, sizeof(f));
	run_script(&pr, script, sizeof(script) - 1, 0, &f);
	assert_int_equal(f.nmsgs, 1);
	assert_true(strncmp(f.msgs[0]->body,
	    "Received: from client.example ([IPv6:2001:db8::7])\r\n", 52) == 0);
	fake_free(&f);
}

/* RFC 5321 4.5.1: <postmaster> is accepted even from outsiders on the
 * relay role and goes to the configured address; other domainless
 * recipients are still refused. */
static void
test_rcpt_postmaster(void **state)
{
	static const char script[] =
	    "EHLO outsider.example\r\n"
	    "MAIL FROM:<a@example.org>\r\n"
	    "RCPT TO:<PostMaster>\r\n"
	    "RCPT TO:<someone>\r\n"
	    "RCPT TO:<b@example.net>\r\n"
	    "DATA\r\n"
	    "Subject: hi\r\n"
	    "\r\n"
	    "hi\r\n"
	    ".\r\n";
	struct smtpd_params pr;
	struct fake f;

	(void)state;
	params_default(&pr);
	pr.client_trusted = 0;
	pr.postmaster = "hostmaster@example.org";
	memset(&f, 0, sizeof(f));
	run_script(&pr, script, sizeof(script) - 1, 0, &f);
	assert_string_equal(f.codes, "220 250 250 250 501 554 354 250");
	assert_int_equal(f.nmsgs, 1);
	assert_int_equal(f.msgs[0]->nrcpt, 1);
	assert_string_equal(f.msgs[0]->rcpt[0].addr, "hostmaster@example.org");
	fake_free(&f);
}
