/*
 * test_queue_dsn.c - structure of the DSNs we build: MIME skeleton,
 * per-recipient report fields, NOTIFY and RET handling, and the line
 * discipline (CRLF only, nothing over 998 octets, no injected headers).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "queue/queue.h"

#define NOW 1700003600

static struct queue_msg *
orig_msg(int ret)
{
	static const char body[] = "From: alice@example.org\r\n"
	    "Subject: original subject\r\n\r\nBODYMARKER line\r\n";
	struct queue_msg *m = queue_msg_new();
	struct queue_rcpt *r;
	char longtext[2100];

	queue_id_new(m->qid);
	free(m->sender);
	m->sender = strdup("alice@example.org");
	m->arrival = 1700000000;
	m->envid = strdup("ENV123");
	m->ret = ret;
	r = queue_msg_add_rcpt(m, "bob@example.net", "rfc822;Bob@example.net", 0);
	queue_rcpt_set_status(r, "5.1.1", "550 5.1.1 <bob@example.net>: no such "
	    "user\r\nBcc: injected@example.com", "mx.example.net[192.0.2.7]:25",
	    "tls=TLSv1.3 verified=dane");
	r->last_try = 1700003000;
	r = queue_msg_add_rcpt(m, "never@example.net", NULL, QUEUE_NOTIFY_NEVER);
	queue_rcpt_set_status(r, "5.1.1", "550 no", "mx.example.net[192.0.2.7]:25",
	    NULL);
	r = queue_msg_add_rcpt(m, "carol@example.com", NULL,
	    QUEUE_NOTIFY_FAILURE | QUEUE_NOTIFY_SUCCESS);
	memset(longtext, 'x', sizeof(longtext) - 1);
	longtext[sizeof(longtext) - 1] = '\0';
	memcpy(longtext, "lookup failed: ", 15);
	queue_rcpt_set_status(r, NULL, longtext, NULL, NULL);
	r = queue_msg_add_rcpt(m, "dave@example.net", NULL, 0);
	queue_rcpt_set_status(r, "5.2.2", "host mx.example.net[192.0.2.7] said: "
	    "552 5.2.2 mailbox full (in reply to RCPT TO command)",
	    "mx.example.net[192.0.2.7]:25", NULL);
	m->body = strdup(body);
	m->body_len = m->size = strlen(body);
	return m;
}

/* CRLF only, and no line longer than 998 octets (without the CRLF). */
static void
check_lines(const struct queue_msg *d)
{
	size_t i, col = 0;

	for (i = 0; i < d->body_len; i++) {
		if (d->body[i] == '\r') {
			assert_true(i + 1 < d->body_len && d->body[i + 1] == '\n');
			assert_true(col <= 998);
			col = 0;
			i++;
			continue;
		}
		assert_true(d->body[i] != '\n');	/* bare LF */
		col++;
	}
	assert_int_equal(col, 0);	/* ends with CRLF */
}

static size_t
count(const char *hay, const char *needle)
{
	size_t n = 0;
	const char *p = hay;

	while ((p = strstr(p, needle)) != NULL) {
		n++;
		p += strlen(needle);
	}
	return n;
}

static void
get_boundary(const struct queue_msg *d, char *out, size_t outlen)
{
	const char *p = strstr(d->body, "boundary=\"");
	size_t n;

	assert_non_null(p);
	p += 10;
	n = strcspn(p, "\"");
	assert_true(n > 0 && n < outlen);
	memcpy(out, p, n);
	out[n] = '\0';
}

static void
check_skeleton(const struct queue_msg *d, size_t parts)
{
	char b[512], line[600];

	assert_non_null(d);
	assert_int_equal(queue_id_valid(d->qid), 0);
	assert_string_equal(d->sender, "");
	assert_true(d->flags & QUEUE_MSG_DSN);
	assert_int_equal(d->arrival, NOW);
	assert_int_equal(d->nrcpt, 1);
	assert_int_equal(d->size, d->body_len);
	assert_int_equal(strlen(d->body), d->body_len);
	check_lines(d);
	assert_non_null(strstr(d->body,
	    "From: Mail Delivery System <MAILER-DAEMON@mta.example.org>\r\n"));
	assert_non_null(strstr(d->body, "\r\nMIME-Version: 1.0\r\n"));
	assert_non_null(strstr(d->body, "\r\nAuto-Submitted: auto-replied\r\n"));
	assert_non_null(strstr(d->body, "\r\nDate: "));
	assert_non_null(strstr(d->body, "\r\nMessage-ID: <"));
	assert_non_null(strstr(d->body, "Content-Type: multipart/report; "
	    "report-type=delivery-status;"));
	get_boundary(d, b, sizeof(b));
	snprintf(line, sizeof(line), "\r\n--%s\r\n", b);
	assert_int_equal(count(d->body, line), parts);
	snprintf(line, sizeof(line), "\r\n--%s--\r\n", b);
	assert_int_equal(count(d->body, line), 1);
	/* the closing delimiter ends the message */
	assert_int_equal(strcmp(d->body + d->body_len - strlen(line), line), 0);
	assert_non_null(strstr(d->body,
	    "Content-Type: text/plain; charset=us-ascii\r\n"));
	assert_non_null(strstr(d->body,
	    "Content-Type: message/delivery-status\r\n"));
	assert_non_null(strstr(d->body, "Reporting-MTA: dns; mta.example.org\r\n"));
}

static void
test_failed_default_ret(void **state)
{
	struct queue_msg *o = orig_msg(QUEUE_RET_DEFAULT), *d;
	size_t idx[] = { 0, 1, 2, 3 };

	(void)state;
	d = queue_dsn_build(o, idx, 4, QUEUE_DSN_FAILED, o->sender,
	    "mta.example.org", NOW);
	check_skeleton(d, 3);
	assert_string_equal(d->rcpt[0].addr, "alice@example.org");
	assert_non_null(strstr(d->body, "To: <alice@example.org>\r\n"));
	assert_non_null(strstr(d->body,
	    "Subject: Undelivered Mail Returned to Sender\r\n"));
	assert_non_null(strstr(d->body, "Original-Envelope-Id: ENV123\r\n"));
	assert_non_null(strstr(d->body, "Arrival-Date: "));
	/* recipient 0: remote rejection */
	assert_non_null(strstr(d->body,
	    "Original-Recipient: rfc822;Bob@example.net\r\n"
	    "Final-Recipient: rfc822; bob@example.net\r\n"
	    "Action: failed\r\nStatus: 5.1.1\r\n"
	    "Remote-MTA: dns; mx.example.net\r\n"
	    "Diagnostic-Code: smtp; 550 5.1.1 <bob@example.net>: no such user"));
	assert_non_null(strstr(d->body, "Last-Attempt-Date: "));
	assert_non_null(strstr(d->body, "TLS: tls=TLSv1.3 verified=dane"));
	assert_non_null(strstr(d->body, "remote server: mx.example.net[192.0.2.7]:25"));
	/* the CRLF in the remote reply did not start a header line */
	assert_null(strstr(d->body, "\r\nBcc:"));
	/* recipient 1: NOTIFY=NEVER is not mentioned at all */
	assert_null(strstr(d->body, "never@example.net"));
	/* recipient 2: local reason, default status, folded long text */
	assert_non_null(strstr(d->body,
	    "Final-Recipient: rfc822; carol@example.com\r\n"
	    "Action: failed\r\nStatus: 5.0.0\r\n"
	    "Diagnostic-Code: X-Sealpost; lookup failed:"));
	/* recipient 3: the agent's "host X said: ..." wording carries the
	 * remote reply, which is what the smtp diagnostic type holds */
	assert_non_null(strstr(d->body,
	    "Diagnostic-Code: smtp; 552 5.2.2 mailbox full\r\n"));
	assert_int_equal(count(d->body, "Final-Recipient:"), 3);
	/* the full original comes back */
	assert_non_null(strstr(d->body, "Content-Type: message/rfc822\r\n"));
	assert_non_null(strstr(d->body, "BODYMARKER"));
	assert_non_null(strstr(d->body, "Subject: original subject\r\n"));
	queue_msg_free(d);
	queue_msg_free(o);
}

static void
test_ret_hdrs(void **state)
{
	struct queue_msg *o = orig_msg(QUEUE_RET_HDRS), *d;
	size_t idx[] = { 0 };

	(void)state;
	d = queue_dsn_build(o, idx, 1, QUEUE_DSN_FAILED, o->sender,
	    "mta.example.org", NOW);
	check_skeleton(d, 3);
	assert_non_null(strstr(d->body, "Content-Type: text/rfc822-headers\r\n"));
	assert_null(strstr(d->body, "message/rfc822"));
	assert_non_null(strstr(d->body, "Subject: original subject\r\n"));
	assert_null(strstr(d->body, "BODYMARKER"));
	queue_msg_free(d);

	/* RET=FULL but over the size cap: headers only */
	o->ret = QUEUE_RET_FULL;
	{
		struct queue_dsn_opts opts = { 0, 10 };

		d = queue_dsn_build_opts(o, idx, 1, QUEUE_DSN_FAILED, o->sender,
		    "mta.example.org", NOW, &opts);
	}
	check_skeleton(d, 3);
	assert_null(strstr(d->body, "BODYMARKER"));
	assert_non_null(strstr(d->body, "text/rfc822-headers"));
	queue_msg_free(d);
	queue_msg_free(o);
}

static void
test_notify_selection(void **state)
{
	struct queue_msg *o = orig_msg(QUEUE_RET_FULL), *d;
	size_t never[] = { 1 }, all[] = { 0, 1, 2 }, bad[] = { 7 };

	(void)state;
	assert_null(queue_dsn_build(o, never, 1, QUEUE_DSN_FAILED, o->sender,
	    "mta.example.org", NOW));
	assert_null(queue_dsn_build(o, bad, 1, QUEUE_DSN_FAILED, o->sender,
	    "mta.example.org", NOW));
	assert_null(queue_dsn_build(o, all, 3, QUEUE_DSN_FAILED, "",
	    "mta.example.org", NOW));
	/* success: only carol asked for it (default NOTIFY excludes it) */
	d = queue_dsn_build(o, all, 3, QUEUE_DSN_DELIVERED, o->sender,
	    "mta.example.org", NOW);
	check_skeleton(d, 3);
	assert_non_null(strstr(d->body,
	    "Subject: Successful Mail Delivery Report\r\n"));
	assert_int_equal(count(d->body, "Final-Recipient:"), 1);
	assert_non_null(strstr(d->body, "Final-Recipient: rfc822; carol@example.com\r\n"
	    "Action: delivered\r\nStatus: 2.0.0\r\n"));
	assert_null(strstr(d->body, "BODYMARKER"));	/* headers only */
	queue_msg_free(d);
	/* relayed (RFC 3461 5.2.2): same selection, its own Action */
	d = queue_dsn_build(o, all, 3, QUEUE_DSN_RELAYED, o->sender,
	    "mta.example.org", NOW);
	check_skeleton(d, 3);
	assert_non_null(strstr(d->body,
	    "Subject: Relayed Mail Delivery Report\r\n"));
	assert_int_equal(count(d->body, "Final-Recipient:"), 1);
	assert_non_null(strstr(d->body, "Final-Recipient: rfc822; carol@example.com\r\n"
	    "Action: relayed\r\nStatus: 2.0.0\r\n"));
	queue_msg_free(d);
	/* delay: bob (default = FAILURE,DELAY) only */
	{
		struct queue_dsn_opts opts = { NOW + 86400, 0 };

		free(o->rcpt[0].status);
		o->rcpt[0].status = NULL;
		free(o->rcpt[0].reply);
		o->rcpt[0].reply = strdup("451 try later");
		d = queue_dsn_build_opts(o, all, 3, QUEUE_DSN_DELAYED,
		    "postmaster@example.org", "mta.example.org", NOW, &opts);
	}
	check_skeleton(d, 3);
	assert_non_null(strstr(d->body,
	    "Subject: Delayed Mail (still being retried)\r\n"));
	assert_non_null(strstr(d->body, "To: <postmaster@example.org>\r\n"));
	assert_int_equal(count(d->body, "Final-Recipient:"), 1);
	assert_non_null(strstr(d->body, "Action: delayed\r\nStatus: 4.0.0\r\n"));
	assert_non_null(strstr(d->body, "Diagnostic-Code: smtp; 451 try later\r\n"));
	assert_non_null(strstr(d->body, "Will-Retry-Until: "));
	assert_non_null(strstr(d->body, "text/rfc822-headers"));
	assert_null(strstr(d->body, "BODYMARKER"));
	queue_msg_free(d);
	queue_msg_free(o);
}

static void
test_no_body_and_utf8(void **state)
{
	struct queue_msg *o = orig_msg(QUEUE_RET_FULL), *d;
	size_t idx[] = { 0 };

	(void)state;
	/* envelope only: two parts, no original */
	free(o->body);
	o->body = NULL;
	o->body_len = 0;
	d = queue_dsn_build(o, idx, 1, QUEUE_DSN_FAILED, o->sender,
	    "mta.example.org", NOW);
	check_skeleton(d, 2);
	assert_non_null(strstr(d->body, "not available"));
	queue_msg_free(d);
	queue_msg_free(o);

	/* a UTF-8 recipient: global delivery status, SMTPUTF8 flag */
	o = orig_msg(QUEUE_RET_FULL);
	free(o->rcpt[0].addr);
	o->rcpt[0].addr = strdup("j\xc3\xb6rg@example.de");
	o->flags = QUEUE_MSG_SMTPUTF8;
	d = queue_dsn_build(o, idx, 1, QUEUE_DSN_FAILED, o->sender,
	    "mta.example.org", NOW);
	assert_non_null(d);
	check_lines(d);
	assert_true(d->flags & QUEUE_MSG_SMTPUTF8);
	assert_non_null(strstr(d->body,
	    "Content-Type: message/global-delivery-status\r\n"));
	assert_non_null(strstr(d->body,
	    "Final-Recipient: utf-8; j\xc3\xb6rg@example.de\r\n"));
	assert_non_null(strstr(d->body, "Content-Type: message/global\r\n"));
	queue_msg_free(d);
	queue_msg_free(o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_failed_default_ret),
		cmocka_unit_test(test_ret_hdrs),
		cmocka_unit_test(test_notify_selection),
		cmocka_unit_test(test_no_body_and_utf8),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
