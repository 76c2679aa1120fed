/*
 * mta_session.c - the SMTP client state machine.
 *
 * One session delivers jobs for one destination over a walk of
 * addresses, one connection at a time.  The rules (curl's smtp_state(),
 * Postfix's smtp_proto.c):
 *  - one enum of states; mta_set_state() is the only way to change it,
 *    it traces the change, arms the state's timeout from mta_states[]
 *    and calls mta_enter() which sends what the state needs;
 *  - mta_on_reply() acts on one complete reply, by state;
 *  - mta_conn.c only moves bytes; mta_chat.c assembles replies.
 * With PIPELINING the send side (rcpt_sent, data_sent) runs ahead of the
 * receive side (state, rcpt_replied): MAIL, every RCPT and DATA go out in
 * one write and the replies are matched in order (RFC 2920).
 *
 * Failures (mta_trouble.c) depend on how far we got: before the MAIL
 * reply another address is tried; after it, what is unresolved is
 * deferred.  The session is freed from the thread's channel, never from
 * inside one of its own callbacks.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mta_int.h"

#define MTA_TMO_NONE	((size_t)-1)
#define MTA_TMO_REUSE	((size_t)-2)

/* Per-state name, timeout (RFC 5321 4.5.3.2 via cfg->timeout) and the
 * phrase for "lost connection ... while <doing>". */
static const struct {
	const char *name;
	size_t      tmo;	/* offsetof in struct cfg_timeouts */
	const char *doing;
} mta_states[] = {
	[MTA_ST_RESOLVE] = { "RESOLVE", MTA_TMO_NONE, "looking up hosts" },
	/* the resolver's own timeouts bound TLSA lookups */
	[MTA_ST_TLSA] = { "TLSA", MTA_TMO_NONE, "looking up TLSA records" },
	/* the resolver, the cache thread and sts_fetch_timeout bound it */
	[MTA_ST_STS] = { "STS", MTA_TMO_NONE,
	    "looking up the MTA-STS policy" },
	[MTA_ST_CONNECT] = { "CONNECT", offsetof(struct cfg_timeouts, connect),
	    "connecting" },
	[MTA_ST_GREETING] = { "GREETING", offsetof(struct cfg_timeouts,
	    greeting), "receiving the initial server greeting" },
	[MTA_ST_EHLO] = { "EHLO", offsetof(struct cfg_timeouts, ehlo),
	    "performing the EHLO handshake" },
	[MTA_ST_HELO] = { "HELO", offsetof(struct cfg_timeouts, ehlo),
	    "performing the HELO handshake" },
	[MTA_ST_STARTTLS] = { "STARTTLS", offsetof(struct cfg_timeouts,
	    starttls), "sending STARTTLS" },
	[MTA_ST_TLS] = { "TLS", offsetof(struct cfg_timeouts, starttls),
	    "performing the TLS handshake" },
	[MTA_ST_AUTH] = { "AUTH", offsetof(struct cfg_timeouts, ehlo),
	    "performing SASL authentication" },
	[MTA_ST_RSET] = { "RSET", offsetof(struct cfg_timeouts, mail),
	    "sending RSET" },
	[MTA_ST_MAIL] = { "MAIL", offsetof(struct cfg_timeouts, mail),
	    "sending MAIL FROM" },
	[MTA_ST_RCPT] = { "RCPT", offsetof(struct cfg_timeouts, rcpt),
	    "sending RCPT TO" },
	[MTA_ST_DATA] = { "DATA", offsetof(struct cfg_timeouts, data_init),
	    "sending DATA command" },
	[MTA_ST_BODY] = { "BODY", offsetof(struct cfg_timeouts, data_block),
	    "sending message body" },
	[MTA_ST_DOT] = { "DOT", offsetof(struct cfg_timeouts, data_done),
	    "sending end of data -- message may be sent more than once" },
	[MTA_ST_IDLE] = { "IDLE", MTA_TMO_REUSE, "waiting for more mail" },
	[MTA_ST_QUIT] = { "QUIT", offsetof(struct cfg_timeouts, quit),
	    "sending QUIT" },
	[MTA_ST_END] = { "END", MTA_TMO_NONE, "closing" },
};

static void mta_enter(struct mta_session *s);
static void mta_body_pump(struct mta_session *s);

const char *
mta_state_doing(enum mta_state st)
{
	return mta_states[st].doing;
}

static uint64_t
mta_state_timeout_ms(const struct mta_session *s, enum mta_state st)
{
	const struct sealpost_config *cfg = s->th->cfg;
	size_t off = mta_states[st].tmo;

	if (off == MTA_TMO_NONE)
		return 0;
	if (off == MTA_TMO_REUSE)
		return (uint64_t)cfg->connection_reuse_time * 1000;
	return (uint64_t)*(const unsigned *)((const char *)&cfg->timeout +
	    off) * 1000;
}

void
mta_timer_restart(struct mta_session *s)
{
	if (s->conn)
		mta_conn_timer(s->conn, mta_state_timeout_ms(s, s->state));
}

/* The only place the state changes. */
void
mta_set_state(struct mta_session *s, enum mta_state st)
{
	if (mta_pool_trace(s->th->pool))
		log_info("mta session %lu: %s -> %s", s->id,
		    mta_states[s->state].name, mta_states[st].name);
	s->state = st;
	mta_timer_restart(s);
	mta_enter(s);
}

/* Write one command line; a failure is a connection failure. */
int
mta_send(struct mta_session *s, const char *line, size_t len, int secret)
{
	if (mta_pool_trace(s->th->pool)) {
		char shown[256];

		util_printable(line, len > 2 ? len - 2 : len, shown,
		    sizeof(shown));
		log_info("mta session %lu: > %s", s->id,
		    secret ? "(authentication data hidden)" : shown);
	}
	if (s->conn == NULL || mta_conn_write(s->conn, line, len) < 0) {
		mta_fail_conn(s, "write error");
		return -1;
	}
	return 0;
}

static int
mta_sendstr(struct mta_session *s, const char *line)
{
	return mta_send(s, line, strlen(line), 0);
}

/* "250 text" -> "host mx[ip] said: 250 text (in reply to X command)" */
void
mta_said(struct mta_session *s, const char *cmd, char *out, size_t outlen)
{
	char one[MTA_TEXT_MAX];
	int n;

	mta_reply_oneline(&s->reply, one, sizeof(one));
	/* A long reply is cut: the text is a diagnostic, its head matters. */
	n = snprintf(out, outlen, "host %s said: %s (in reply to %s)",
	    s->relay_host, one, cmd);
	if (n < 0 && outlen > 0)
		out[0] = '\0';
}

/* ---- transactions ---------------------------------------------------- */

static void
mta_txn_clear(struct mta_session *s)
{
	free(s->txn);
	free(s->txn_ok);
	s->txn = NULL;
	s->txn_ok = NULL;
	s->txn_n = s->rcpt_sent = s->rcpt_replied = s->naccepted = 0;
	s->data_sent = 0;
	s->txn_failed = 0;
}

/* The job has every result: hand it back and look for more work. */
static void
mta_job_done(struct mta_session *s)
{
	struct mta_jobctx *jc = s->job;
	struct mta_session *keep = s;

	s->job = NULL;
	mta_txn_clear(s);
	mta_job_finish(jc);
	mta_next_job(keep);
}

/* Start the next transaction of the current job (or finish the job). */
void
mta_begin_txn(struct mta_session *s)
{
	struct mta_jobctx *jc = s->job;
	const struct queue_msg *msg = jc->job->msg;
	unsigned limit = s->th->cfg->destination_rcpt_limit;
	char text[MTA_TEXT_MAX];
	size_t i;

	if (s->need_rset) {
		mta_set_state(s, MTA_ST_RSET);
		return;
	}
	if (s->reused && jc->xmit_ms == 0 && !mta_sts_session_current(s)) {
		/* RFC 8461: the policy is per recipient domain; a connection
		 * opened under an older MTA-STS outcome carries no new job.
		 * A fresh session looks the policy up again. */
		log_info("%s: not reusing the connection to %s: the MTA-STS "
		    "policy of %s changed or is due for a check", msg->qid,
		    s->relay_host, s->nexthop);
		s->job = NULL;
		mta_dest_push_front(s->dest, jc);
		mta_set_state(s, MTA_ST_QUIT);
		return;
	}
	mta_txn_clear(s);
	if ((msg->flags & QUEUE_MSG_SMTPUTF8) &&
	    !(s->ehlo.flags & MTA_EXT_SMTPUTF8)) {
		mta_textf(text, sizeof(text), "SMTPUTF8 is required, but was "
		    "not offered by host %s", s->relay_host);
		mta_result_rest(jc, MTA_BOUNCE, 0, "5.6.7", text,
		    s->relay, s->tls);
	} else if (s->ehlo.size_max && msg->size > s->ehlo.size_max) {
		mta_textf(text, sizeof(text), "message size %zu exceeds size "
		    "limit %llu of server %s", msg->size,
		    (unsigned long long)s->ehlo.size_max, s->relay_host);
		mta_result_rest(jc, MTA_BOUNCE, 0, "5.3.4", text,
		    s->relay, s->tls);
	} else if (mta_addr_ok(msg->sender ? msg->sender : "") < 0) {
		mta_result_rest(jc, MTA_BOUNCE, 0, "5.1.7",
		    "bad sender address syntax", s->relay, s->tls);
	} else if (msg->body == NULL) {
		mta_result_rest(jc, MTA_DEFER, 0, "4.3.0",
		    "message body not loaded", s->relay, s->tls);
	}
	if (limit == 0)
		limit = 50;
	s->txn = xcalloc(jc->job->nrcpt, sizeof(*s->txn));
	s->txn_ok = xcalloc(jc->job->nrcpt, 1);
	for (i = 0; i < jc->job->nrcpt && s->txn_n < limit; i++) {
		const struct queue_rcpt *r = &msg->rcpt[jc->job->rcpt_idx[i]];

		if (jc->set[i])
			continue;
		if (mta_addr_ok(r->addr) < 0 || r->addr[0] == '\0') {
			mta_result_set(jc, i, MTA_BOUNCE, 0, "5.1.3",
			    "bad recipient address syntax", s->relay, s->tls);
			continue;
		}
		s->txn[s->txn_n++] = i;
	}
	if (s->txn_n == 0) {
		mta_job_done(s);
		return;
	}
	if (jc->xmit_ms == 0)
		jc->xmit_ms = util_now_ms();
	mta_set_state(s, MTA_ST_MAIL);
}

/* A transaction ended (final reply, or nothing left to send). */
static void
mta_txn_done(struct mta_session *s)
{
	if (s->job->nleft == 0)
		mta_job_done(s);
	else
		mta_begin_txn(s);
}

/* MAIL, and with PIPELINING every RCPT and DATA, in one write. */
static void
mta_send_mail(struct mta_session *s)
{
	const struct mta_job *job = s->job->job;
	struct dynbuf out, line;
	size_t i;
	int rc = 0;

	dynbuf_init(&out, MTA_CMD_MAX * (s->txn_n + 2));
	dynbuf_init(&line, MTA_CMD_MAX);
	if (mta_cmd_mail(&line, job->msg, &s->ehlo) < 0 ||
	    dynbuf_add(&out, line.p, line.len) < 0)
		rc = -1;
	if (rc == 0 && (s->ehlo.flags & MTA_EXT_PIPELINING)) {
		for (i = 0; i < s->txn_n && rc == 0; i++) {
			const struct queue_rcpt *r =
			    &job->msg->rcpt[job->rcpt_idx[s->txn[i]]];

			if (mta_cmd_rcpt(&line, r, &s->ehlo) < 0 ||
			    dynbuf_add(&out, line.p, line.len) < 0)
				rc = -1;
		}
		if (rc == 0 && dynbuf_addstr(&out, "DATA\r\n") < 0)
			rc = -1;
		if (rc == 0) {
			s->rcpt_sent = s->txn_n;
			s->data_sent = 1;
		}
	}
	dynbuf_free(&line);
	if (rc < 0) {
		/* Both were checked by mta_begin_txn; a command too long
		 * for MTA_CMD_MAX is all that is left. */
		dynbuf_free(&out);
		mta_result_rest(s->job, MTA_BOUNCE, 0, "5.5.2",
		    "command line too long for SMTP", s->relay, s->tls);
		s->need_rset = 0;
		mta_job_done(s);
		return;
	}
	(void)mta_send(s, out.p, out.len, 0);
	dynbuf_free(&out);
}

static void
mta_send_rcpt(struct mta_session *s)
{
	const struct mta_job *job = s->job->job;
	struct dynbuf line;
	const struct queue_rcpt *r;

	/* Without PIPELINING one RCPT goes out per reply received. */
	if (s->rcpt_sent >= s->txn_n || s->rcpt_sent != s->rcpt_replied)
		return;
	r = &job->msg->rcpt[job->rcpt_idx[s->txn[s->rcpt_sent]]];
	dynbuf_init(&line, MTA_CMD_MAX);
	if (mta_cmd_rcpt(&line, r, &s->ehlo) < 0) {
		dynbuf_free(&line);
		mta_fail_conn(s, "cannot format RCPT TO");
		return;
	}
	s->rcpt_sent++;
	(void)mta_send(s, line.p, line.len, 0);
	dynbuf_free(&line);
}

/* ---- entering states ------------------------------------------------- */

static void
mta_enter(struct mta_session *s)
{
	char buf[RES_NAME_MAX + 16];
	const char *me = s->th->cfg->myhostname;

	if (me == NULL || me[0] == '\0')
		me = "localhost";
	switch (s->state) {
	case MTA_ST_RESOLVE:
		mta_resolve(s);
		break;
	case MTA_ST_TLSA:
		mta_dane_policy(s);
		break;
	case MTA_ST_STS:
		mta_sts_policy(s);
		break;
	case MTA_ST_CONNECT:
		mta_connect(s);
		break;
	case MTA_ST_GREETING:
	case MTA_ST_DOT:
	case MTA_ST_IDLE:
		break;
	case MTA_ST_EHLO:
	case MTA_ST_HELO:
		snprintf(buf, sizeof(buf), "%s %s\r\n",
		    s->state == MTA_ST_EHLO ? "EHLO" : "HELO", me);
		(void)mta_sendstr(s, buf);
		break;
	case MTA_ST_STARTTLS:
		(void)mta_sendstr(s, "STARTTLS\r\n");
		break;
	case MTA_ST_TLS:
		mta_tls_start(s);
		break;
	case MTA_ST_AUTH:
		mta_auth_start(s);
		break;
	case MTA_ST_RSET:
		(void)mta_sendstr(s, "RSET\r\n");
		break;
	case MTA_ST_MAIL:
		mta_send_mail(s);
		break;
	case MTA_ST_RCPT:
		mta_send_rcpt(s);
		break;
	case MTA_ST_DATA:
		if (!s->data_sent) {
			s->data_sent = 1;
			(void)mta_sendstr(s, "DATA\r\n");
		}
		break;
	case MTA_ST_BODY:
		mta_body_init(&s->body, s->job->job->msg->body,
		    s->job->job->msg->body_len);
		mta_body_pump(s);
		break;
	case MTA_ST_QUIT:
		(void)mta_sendstr(s, "QUIT\r\n");
		break;
	case MTA_ST_END:
		mta_session_end(s);
		break;
	}
}

/* Feed the body while the write queue is short. */
static void
mta_body_pump(struct mta_session *s)
{
	size_t n;

	if (s->chunk == NULL)
		s->chunk = xmalloc(MTA_BODY_CHUNK);
	while (s->state == MTA_ST_BODY && s->conn &&
	    mta_conn_queued(s->conn) < MTA_WRITE_HIGH) {
		n = mta_body_encode(&s->body, s->chunk, MTA_BODY_CHUNK);
		if (n == 0) {
			mta_set_state(s, MTA_ST_DOT);
			return;
		}
		if (s->conn == NULL || mta_conn_write(s->conn, s->chunk, n) < 0) {
			mta_fail_conn(s, "write error");
			return;
		}
	}
}

void
mta_session_on_drain(struct mta_session *s)
{
	if (s->state == MTA_ST_BODY) {
		mta_timer_restart(s);	/* data_block: per chunk progress */
		mta_body_pump(s);
	}
}

/* ---- replies --------------------------------------------------------- */

/* After EHLO/HELO (again after STARTTLS, after AUTH): what next. */
void
mta_after_ehlo(struct mta_session *s)
{
	const struct sealpost_config *cfg = s->th->cfg;
	int tls_on = s->conn && mta_conn_tls_active(s->conn);
	char text[MTA_TEXT_MAX];

	if (!tls_on && !s->plain_retry && !s->starttls_refused &&
	    s->policy.level >= TLS_LEVEL_MAY &&
	    (s->ehlo.flags & MTA_EXT_STARTTLS)) {
		mta_set_state(s, MTA_ST_STARTTLS);
		return;
	}
	if (!tls_on && tls_policy_required(&s->policy) &&
	    mta_tls_relaxable(s)) {
		/* RFC 8689: no STARTTLS, no policy: this message goes in
		 * clear on this connection */
		if (s->policy.sts == TLS_STS_ENFORCE)
			(void)mta_sts_no_starttls(s, text, sizeof(text));
		else if (s->policy.level == TLS_LEVEL_DANE)
			mta_textf(s->dane_verdict, sizeof(s->dane_verdict),
			    "failed (no STARTTLS)");
		mta_textf(text, sizeof(text), "TLS is required by policy, but "
		    "STARTTLS was %s by %s", s->starttls_refused ? "refused" :
		    "not offered", s->relay_host);
		mta_tls_relax(s, text);
	}
	if (!tls_on && tls_policy_required(&s->policy)) {
		const char *by = s->starttls_refused ?
		    "STARTTLS was refused by" : "STARTTLS was not offered by";

		if (s->policy.sts == TLS_STS_ENFORCE) {
			/* RFC 8461 4.2: the host fails, 4.7.5 */
			(void)mta_sts_no_starttls(s, text, sizeof(text));
			mta_tls_field_reset(s);
			mta_sts_field(s);
			mta_fail_host(s, 0, "4.7.5", text);
			return;
		}
		if (s->policy.level == TLS_LEVEL_DANE) {
			mta_textf(text, sizeof(text), "DANE authentication "
			    "failed for %s: TLS is required (RFC 7672), but %s "
			    "the host", s->relay_host, by);
			mta_textf(s->dane_verdict, sizeof(s->dane_verdict),
			    "failed (no STARTTLS)");
			mta_tls_field_reset(s);
		} else if (s->dane != NULL)
			mta_textf(text, sizeof(text), "TLS is required (secure "
			    "TLSA records, none usable), but %s host %s", by,
			    s->relay_host);
		else
			mta_textf(text, sizeof(text), "TLS is required, but %s "
			    "host %s", by, s->relay_host);
		mta_tls_report(s, TLS_REPORT_STARTTLS_NOT_SUPPORTED, text);
		mta_fail_host(s, 0, "4.7.4", text);
		return;
	}
	if (!tls_on && !s->plain_retry && s->policy.sts == TLS_STS_TESTING &&
	    mta_sts_no_starttls(s, text, sizeof(text))) {
		log_warn("%s: %s; policy mode testing, delivering anyway",
		    s->job ? s->job->job->msg->qid : "-", text);
		mta_tls_field_reset(s);
		mta_sts_field(s);
	}
	if (!tls_on && !s->plain_retry && s->policy.level == TLS_LEVEL_MAY)
		mta_tls_report(s, TLS_REPORT_STARTTLS_NOT_SUPPORTED,
		    s->starttls_refused ? "STARTTLS refused" :
		    "STARTTLS not offered");
	if (s->dest->relay && cfg->relay.sasl_username &&
	    cfg->relay.sasl_username[0] && !s->authed) {
		if (s->ehlo.flags & MTA_EXT_AUTH) {
			mta_set_state(s, MTA_ST_AUTH);
			return;
		}
		log_warn("mta: %s offered no AUTH; sending without "
		    "authentication", s->relay_host);
	}
	mta_begin_txn(s);
}

static void
mta_on_reply(struct mta_session *s)
{
	int code = s->reply.code;
	char text[MTA_TEXT_MAX], dsn[16];
	size_t i;

	mta_reply_dsn(&s->reply, dsn);
	switch (s->state) {
	case MTA_ST_GREETING:
		if (code / 100 == 2) {
			mta_set_state(s, MTA_ST_EHLO);
			return;
		}
		mta_said(s, "initial greeting", text, sizeof(text));
		mta_fail_host(s, code, dsn, text);
		return;
	case MTA_ST_EHLO:
	case MTA_ST_HELO:
		if (code / 100 == 2) {
			if (s->state == MTA_ST_EHLO)
				mta_ehlo_parse(&s->reply, &s->ehlo);
			else
				memset(&s->ehlo, 0, sizeof(s->ehlo));
			mta_after_ehlo(s);
			return;
		}
		if (s->state == MTA_ST_EHLO && code / 100 == 5 &&
		    !(s->conn && mta_conn_tls_active(s->conn))) {
			mta_set_state(s, MTA_ST_HELO);
			return;
		}
		mta_said(s, s->state == MTA_ST_EHLO ? "EHLO command" :
		    "HELO command", text, sizeof(text));
		mta_fail_host(s, code, dsn, text);
		return;
	case MTA_ST_STARTTLS:
		if (code == 220) {
			mta_set_state(s, MTA_ST_TLS);
			return;
		}
		mta_said(s, "STARTTLS command", text, sizeof(text));
		log_warn("mta: STARTTLS refused: %s", text);
		s->starttls_refused = 1;
		mta_after_ehlo(s);
		return;
	case MTA_ST_AUTH:
		mta_auth_reply(s);
		return;
	case MTA_ST_RSET:
		if (code / 100 != 2) {
			mta_said(s, "RSET command", text, sizeof(text));
			mta_fail_conn(s, text);
			return;
		}
		s->need_rset = 0;
		mta_begin_txn(s);
		return;
	case MTA_ST_MAIL:
		s->mail_ok = 1;	/* past here we no longer try other hosts */
		if (code / 100 == 2) {
			mta_set_state(s, MTA_ST_RCPT);
			return;
		}
		mta_said(s, "MAIL FROM command", text, sizeof(text));
		mta_result_rest(s->job, mta_outcome_for_code(code), code, dsn,
		    text, s->relay, s->tls);
		s->txn_failed = 1;
		s->need_rset = 1;
		if (s->rcpt_sent > 0)	/* pipelined: drain the replies */
			mta_set_state(s, MTA_ST_RCPT);
		else
			mta_txn_done(s);
		return;
	case MTA_ST_RCPT:
		i = s->rcpt_replied++;
		if (!s->txn_failed) {
			if (code / 100 == 2) {
				s->txn_ok[i] = 1;
				s->naccepted++;
			} else {
				mta_said(s, "RCPT TO command", text,
				    sizeof(text));
				mta_result_set(s->job, s->txn[i],
				    mta_outcome_for_code(code), code, dsn, text,
				    s->relay, s->tls);
			}
		}
		if (s->rcpt_replied < s->rcpt_sent ||
		    (s->rcpt_replied < s->txn_n && !s->txn_failed)) {
			mta_set_state(s, MTA_ST_RCPT);
			return;
		}
		if (!s->data_sent && (s->naccepted == 0 || s->txn_failed)) {
			s->need_rset = 1;
			mta_txn_done(s);
			return;
		}
		mta_set_state(s, MTA_ST_DATA);
		return;
	case MTA_ST_DATA:
		if (s->txn_failed || s->naccepted == 0) {
			/* RFC 2920 3.1: all RCPTs failed yet DATA was
			 * pipelined; if the server still says 354, an
			 * empty message ends it. */
			s->txn_failed = 1;
			s->need_rset = 1;
			if (code == 354) {
				if (mta_sendstr(s, ".\r\n") == 0)
					mta_set_state(s, MTA_ST_DOT);
				return;
			}
			mta_txn_done(s);
			return;
		}
		if (code == 354) {
			mta_set_state(s, MTA_ST_BODY);
			return;
		}
		mta_said(s, "DATA command", text, sizeof(text));
		for (i = 0; i < s->txn_n; i++)
			if (s->txn_ok[i])
				mta_result_set(s->job, s->txn[i],
				    mta_outcome_for_code(code), code, dsn, text,
				    s->relay, s->tls);
		s->need_rset = 1;
		mta_txn_done(s);
		return;
	case MTA_ST_BODY:
	case MTA_ST_DOT:
		if (!s->txn_failed) {
			if (code / 100 == 2)
				mta_reply_oneline(&s->reply, text, sizeof(text));
			else
				mta_said(s, "end of DATA command", text,
				    sizeof(text));
			for (i = 0; i < s->txn_n; i++) {
				if (!s->txn_ok[i])
					continue;
				mta_result_set(s->job, s->txn[i],
				    mta_outcome_for_code(code), code,
				    dsn, text, s->relay, s->tls);
				s->job->job->result[s->txn[i]].dsn_passed =
				    (s->ehlo.flags & MTA_EXT_DSN) != 0;
			}
		}
		if (s->state == MTA_ST_BODY) {
			/* The server answered before our dot: the
			 * connection is out of step, do not reuse it. */
			s->txn_failed = 1;
			mta_job_abandon(s, "reply before end of data");
			return;
		}
		mta_txn_done(s);
		return;
	case MTA_ST_QUIT:
		mta_set_state(s, MTA_ST_END);
		return;
	case MTA_ST_IDLE:
		/* Typically "421 idle timeout": the server is leaving. */
		mta_set_state(s, MTA_ST_END);
		return;
	default:
		mta_fail_conn(s, "unexpected reply");
		return;
	}
}

void
mta_session_on_input(struct mta_session *s, const char *buf, size_t len)
{
	struct mta_conn *conn = s->conn;

	while (len > 0 && s->conn == conn && !s->dead) {
		size_t used;
		enum mta_chat_rc rc;

		if (s->state == MTA_ST_TLS) {
			/* Bytes after the 220 to STARTTLS are an injection
			 * attempt (CVE-2011-0411 class): drop them. */
			log_warn("mta: %s sent %zu bytes after STARTTLS; "
			    "discarded", s->relay_host, len);
			return;
		}
		rc = mta_reply_feed(&s->reply, buf, len, &used);
		buf += used;
		len -= used;
		if (rc == MTA_CHAT_NEED_MORE)
			return;
		if (rc == MTA_CHAT_INVALID) {
			char why[160];

			snprintf(why, sizeof(why), "protocol error: %s",
			    s->reply.error);
			mta_fail_conn(s, why);
			return;
		}
		if (mta_pool_trace(s->th->pool)) {
			char shown[MTA_TEXT_MAX];

			mta_reply_oneline(&s->reply, shown, sizeof(shown));
			log_info("mta session %lu: < %s", s->id, shown);
		}
		mta_on_reply(s);
		mta_reply_reset(&s->reply);
	}
}
