/*
 * sendmail_bs.c - "sendmail -bs": SMTP on stdin/stdout.
 *
 * The listener's protocol engine (mta/smtpd.h, library sp_smtpd) driven
 * by blocking reads and writes instead of libuv: one client, one
 * process, so there is nothing else to serve while we wait.  The client
 * is the local user who could run "sendmail -f anyone rcpt" anyway, so
 * it is trusted the way Postfix trusts "sendmail -bs": it may relay, and
 * neither STARTTLS nor AUTH is offered (there is no network to protect
 * and no second party to authenticate to).  All other limits are the
 * listener's, from the same configuration keys.
 *
 * Each accepted message takes the same road as "sendmail -bm": one
 * sealpost-postdrop run, which first tells us the queue ID (it goes into
 * Received and Message-ID, so the engine composes the message only then:
 * local_submit, smtpd_proto_take_msg_as), then receives the drop image
 * and exits 0 only once the maildrop file is durable.  Only then does
 * the client get "250 2.0.0 Ok: queued as QUEUEID"; any other outcome is
 * "451 4.3.0" and the session goes on.  The daemon need not be running:
 * the maildrop is picked up when it starts.
 *
 * Exit status: EX_OK after QUIT, and at end of input (an unfinished
 * transaction is abandoned, as a dropped TCP connection would be);
 * EX_TEMPFAIL when the engine closed with a 421 (timeout, too many
 * errors, too much pipelined input); EX_IOERR when stdout or stdin
 * fails.  Diagnostics go to stderr as "sendmail: ...", never to stdout,
 * which carries only SMTP.
 *
 * Timeouts as in the listener (smtpd_session.c): smtpd_timeout from one
 * completed command to the next, smtpd_data_timeout for the whole DATA
 * phase; not counted while we, not the client, are busy.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "config.h"
#include "queue.h"
#include "sendmail.h"
#include "smtpd.h"

/* Bytes read from the client at a time.  The engine needs every byte
 * read to fit (SMTPD_INPUT_MAX); we read only once it consumed all. */
#define BS_READ_CHUNK		(16u * 1024)
/*
 * The drop image holds the envelope beside the message: up to
 * smtpd_recipient_limit recipients, each as xtext (3 octets per octet
 * at worst) with ORCPT.  The size limit we announce leaves this much of
 * QUEUE_DROP_MAX for them.
 */
#define BS_IMAGE_SLACK		(8u * 1024 * 1024)

struct bs_session {
	const struct sealpost_config *cfg;
	const char *config_path;	/* passed to sealpost-postdrop */
	int         in_fd, out_fd;
	smtpd_proto *p;
	uint64_t    cmds_seen;		/* smtpd_proto_commands at last look */
	uint64_t    cmd_deadline;	/* util_now_ms() based */
	uint64_t    data_deadline;	/* 0: not in DATA */
};

static void bs_warn(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static void
bs_warn(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "sendmail: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Send the engine's output; 0 or -1 (client gone). */
static int
bs_flush(struct bs_session *s)
{
	size_t len, off = 0;
	const char *out = smtpd_proto_output(s->p, &len);

	while (off < len) {
		ssize_t n = write(s->out_fd, out + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			bs_warn("writing SMTP replies: %s",
			    n < 0 ? strerror(errno) : "short write");
			return -1;
		}
		off += (size_t)n;
	}
	smtpd_proto_output_done(s->p);
	return 0;
}

/* 1 if the last reply queued is "221" (the client said QUIT). */
static int
bs_said_bye(const smtpd_proto *p)
{
	size_t len, i;
	const char *out = smtpd_proto_output(p, &len);

	if (len < 5)
		return 0;
	for (i = len - 2; i > 0 && out[i - 1] != '\n'; i--)
		;
	return len - i >= 4 && memcmp(out + i, "221 ", 4) == 0;
}

/*
 * SMTPD_EV_MESSAGE: one sealpost-postdrop run.  The engine hears 250
 * only when the helper exited 0, i.e. the maildrop file is durable.
 */
static void
bs_message(struct bs_session *s)
{
	struct sendmail_drop d;
	struct queue_msg *m;
	char err[512];
	int rc;

	if ((rc = sendmail_drop_start(&d, s->config_path, err, sizeof(err))) !=
	    EX_OK) {
		bs_warn("%s", err);
		smtpd_proto_queued(s->p, -1, NULL);
		return;
	}
	if ((m = smtpd_proto_take_msg_as(s->p, d.qid)) == NULL) {
		/* too large once composed: the engine answered 552 */
		sendmail_drop_abort(&d);
		return;
	}
	if (queue_drop_check(m, err, sizeof(err)) < 0) {
		/* XXX the engine only knows "durable or not": a message the
		 * drop format cannot carry gets 451, not a 5xx */
		bs_warn("%s: not queued: %s", d.qid, err);
		sendmail_drop_abort(&d);
		smtpd_proto_queued(s->p, -1, NULL);
	} else if ((rc = sendmail_drop_finish(&d, m, err, sizeof(err))) !=
	    EX_OK) {
		bs_warn("%s: %s", d.qid, err);
		smtpd_proto_queued(s->p, -1, NULL);
	} else
		smtpd_proto_queued(s->p, 0, m->qid);
	queue_msg_free(m);
}

/* Milliseconds the client may still take, or 0 when its time is up. */
static int
bs_wait_ms(struct bs_session *s)
{
	const struct cfg_smtpd *c = &s->cfg->smtpd;
	uint64_t now = util_now_ms(), cmds = smtpd_proto_commands(s->p);
	uint64_t deadline, left;

	if (cmds != s->cmds_seen || s->cmd_deadline == 0) {
		s->cmds_seen = cmds;
		s->cmd_deadline = now + (uint64_t)c->timeout * 1000;
	}
	if (smtpd_proto_in_data(s->p)) {
		if (s->data_deadline == 0)
			s->data_deadline = now + (uint64_t)c->data_timeout * 1000;
		deadline = s->data_deadline;
	} else {
		s->data_deadline = 0;
		deadline = s->cmd_deadline;
	}
	if (deadline <= now)
		return 0;
	left = deadline - now;
	return left > 3600000 ? 3600000 : (int)left;
}

/* Read more client input into the engine: 1 fed, 0 end of input or
 * timeout (*timed_out set), -1 read error. */
static int
bs_read(struct bs_session *s, char *buf, int *timed_out)
{
	struct pollfd pfd;
	ssize_t n;
	int ms, r;

	*timed_out = 0;
	for (;;) {
		if ((ms = bs_wait_ms(s)) == 0) {
			*timed_out = 1;
			return 0;
		}
		pfd.fd = s->in_fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		r = poll(&pfd, 1, ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			bs_warn("poll: %s", strerror(errno));
			return -1;
		}
		if (r == 0)
			continue;	/* bs_wait_ms decides */
		n = read(s->in_fd, buf, BS_READ_CHUNK);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			bs_warn("reading SMTP input: %s", strerror(errno));
			return -1;
		}
		if (n == 0)
			return 0;
		(void)smtpd_proto_feed(s->p, buf, (size_t)n);
		return 1;
	}
}

/* The session: run the engine, answer its events, read when it asks. */
static int
bs_loop(struct bs_session *s)
{
	char *buf = xmalloc(BS_READ_CHUNK);
	int rc = EX_OK, timed_out, r;

	smtpd_proto_greet(s->p);
	for (;;) {
		enum smtpd_ev ev = smtpd_proto_run(s->p);

		if (ev == SMTPD_EV_CLOSE) {
			rc = bs_said_bye(s->p) ? EX_OK : EX_TEMPFAIL;
			if (bs_flush(s) < 0)
				rc = EX_IOERR;
			break;
		}
		if (bs_flush(s) < 0) {
			rc = EX_IOERR;
			break;
		}
		switch (ev) {
		case SMTPD_EV_MESSAGE:
			bs_message(s);
			continue;
		case SMTPD_EV_STARTTLS:
			/* not offered (tls_offer 0): cannot happen */
			smtpd_proto_tls_started(s->p, 0, NULL);
			continue;
		case SMTPD_EV_AUTH:
			/* not offered (sasl_enable 0): cannot happen */
			smtpd_proto_auth_reply(s->p, SMTPD_AUTH_FAIL, NULL);
			continue;
		case SMTPD_EV_FLUSH:
		case SMTPD_EV_AUTH_ABORT:
		case SMTPD_EV_CLOSE:
			continue;
		case SMTPD_EV_NONE:
			break;
		}
		UTIL_ASSERT(!smtpd_proto_waiting(s->p));
		if ((r = bs_read(s, buf, &timed_out)) > 0)
			continue;
		if (r < 0) {
			rc = EX_IOERR;
			break;
		}
		if (timed_out) {
			smtpd_proto_timeout(s->p);
			rc = bs_flush(s) < 0 ? EX_IOERR : EX_TEMPFAIL;
			break;
		}
		/* end of input without QUIT: whatever was not yet a
		 * complete message is abandoned (smtpd_proto_free) */
		if (smtpd_proto_in_data(s->p))
			bs_warn("end of input inside DATA: message abandoned");
		break;
	}
	free(buf);
	return rc;
}

int
sendmail_bs(const struct sealpost_config *cfg, const char *config_path,
    int in_fd, int out_fd)
{
	struct smtpd_params pr;
	struct bs_session s;
	uint64_t limit = cfg->message_size_limit;
	int rc;

	if (limit == 0 || limit > QUEUE_DROP_MAX - BS_IMAGE_SLACK)
		limit = QUEUE_DROP_MAX - BS_IMAGE_SLACK;
	memset(&pr, 0, sizeof(pr));
	pr.myhostname = cfg->myhostname;
	pr.role = CFG_ROLE_RELAY;
	pr.client_addr = "";
	pr.client_trusted = 1;
	pr.tls_offer = 0;
	pr.sasl_enable = 0;
	pr.sasl_mechs = "";
	pr.message_size_limit = limit;
	pr.recipient_limit = cfg->smtpd.recipient_limit;
	pr.header_size_limit = cfg->smtpd.header_size_limit;
	pr.error_limit = cfg->smtpd.error_limit;
	pr.bare_lf = cfg->smtpd.bare_lf;
	pr.local_submit = 1;
	pr.local_uid = (long)getuid();

	memset(&s, 0, sizeof(s));
	s.cfg = cfg;
	s.config_path = config_path;
	s.in_fd = in_fd;
	s.out_fd = out_fd;
	s.p = smtpd_proto_new(&pr);
	/* a client that hangs up must not kill us with SIGPIPE, and
	 * neither must a helper that dies early */
	signal(SIGPIPE, SIG_IGN);
	rc = bs_loop(&s);
	smtpd_proto_free(s.p);
	return rc;
}
