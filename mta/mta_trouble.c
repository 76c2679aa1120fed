/*
 * mta_trouble.c - session lifetime and what happens when things break.
 *
 * A broken connection means different things depending on how far the
 * job got (Postfix's smtp_trouble.c draws the same line):
 *  - before any MAIL reply: that host failed, try the next address
 *    (mta_fail_host);
 *  - after it: recipients with results keep them, the others are
 *    deferred with "lost connection with X while Y";
 *  - with no job (idle, quitting): just close.
 *
 * Sessions are never freed inside their own callbacks: mta_session_end
 * closes the connection, unlinks the session and posts the free to the
 * thread's channel, which runs it after the current callback returned.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mta_int.h"

struct mta_session *
mta_session_new(struct mta_dest *d)
{
	struct mta_thread *th = d->th;
	struct mta_session *s = xcalloc(1, sizeof(*s));

	s->th = th;
	s->dest = d;
	s->id = ++th->next_session_id;
	s->state = MTA_ST_RESOLVE;
	s->policy_hidx = (size_t)-1;
	mta_reply_init(&s->reply);
	snprintf(s->relay, sizeof(s->relay), "none");
	snprintf(s->tls, sizeof(s->tls), "none");
	s->next = th->sessions;
	if (th->sessions)
		th->sessions->prev = s;
	th->sessions = s;
	d->nsessions++;
	return s;
}

void
mta_session_start(struct mta_dest *d, struct mta_jobctx *jc)
{
	struct mta_session *s = mta_session_new(d);

	s->job = jc;
	s->no_tls_req = (jc->job->msg->flags & QUEUE_MSG_NO_TLS_REQ) != 0;
	jc->start_ms = util_now_ms();
	mta_set_state(s, MTA_ST_RESOLVE);
}

static void
mta_session_free(void *arg)
{
	struct mta_session *s = arg;

	mta_reply_free(&s->reply);
	tls_dane_free(s->dane);
	free(s->txn);
	free(s->txn_ok);
	free(s->chunk);
	free(s);
}

void
mta_session_end(struct mta_session *s)
{
	struct mta_thread *th = s->th;
	struct mta_dest *d = s->dest;

	if (s->dead)
		return;
	if (s->job) {
		/* Every path hands the job back first; never lose one. */
		log_error("mta session %lu ended holding a job", s->id);
		mta_result_rest(s->job, MTA_DEFER, 0, "4.3.0",
		    "delivery agent internal error", s->relay, s->tls);
		mta_job_finish(s->job);
		s->job = NULL;
	}
	s->dead = 1;
	if (s->query) {
		res_cancel(s->query);
		s->query = NULL;
	}
	mta_conn_close(s->conn);
	s->conn = NULL;
	mta_sasl_free(s->sasl);
	s->sasl = NULL;
	if (s->prev)
		s->prev->next = s->next;
	else
		th->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	util_chan_post(th->chan, mta_session_free, s);
	mta_dest_session_gone(d);
}

void
mta_job_fail(struct mta_session *s, enum mta_outcome o, int code,
    const char *dsn, const char *text)
{
	struct mta_jobctx *jc = s->job;

	if (jc) {
		mta_result_rest(jc, o, code, dsn, text, s->relay, s->tls);
		s->job = NULL;
		mta_job_finish(jc);
	}
	mta_set_state(s, MTA_ST_END);
}

void
mta_job_abandon(struct mta_session *s, const char *why)
{
	mta_job_fail(s, MTA_DEFER, 0, "4.4.2", why);
}

void
mta_fail_conn(struct mta_session *s, const char *why)
{
	char text[MTA_TEXT_MAX];

	if (s->dead)
		return;
	if (s->job == NULL || s->state == MTA_ST_IDLE ||
	    s->state == MTA_ST_QUIT || s->state == MTA_ST_END) {
		UTIL_ASSERT(s->job == NULL);
		mta_set_state(s, MTA_ST_END);
		return;
	}
	mta_textf(text, sizeof(text), "%s with %s while %s", why,
	    s->relay_host, mta_state_doing(s->state));
	if (!s->mail_ok) {
		mta_fail_host(s, 0, "4.4.2", text);
		return;
	}
	log_info("%s: %s", s->job->job->msg->qid, text);
	mta_job_abandon(s, text);
}

void
mta_session_on_error(struct mta_session *s, const char *why)
{
	mta_fail_conn(s, why);
}

void
mta_session_on_timeout(struct mta_session *s)
{
	switch (s->state) {
	case MTA_ST_IDLE:
		mta_set_state(s, MTA_ST_QUIT);
		return;
	case MTA_ST_QUIT:
		mta_set_state(s, MTA_ST_END);
		return;
	default:
		mta_fail_conn(s, "conversation timed out");
	}
}

/*
 * Would job jc want a different TLS policy toward our host?  The policy
 * is a function of the destination (its tls_policy entry) and the host's
 * DNS data, both fixed for the session; jobs of one destination share
 * them.
 */
static int
mta_session_fits(const struct mta_session *s, const struct mta_jobctx *jc)
{
	const struct cfg_tls_policy *entry;

	/* RFC 8689: TLS-Required: No mail is checked differently and kept
	 * out of TLS reports, so it never shares a session with other mail */
	if (((jc->job->msg->flags & QUEUE_MSG_NO_TLS_REQ) != 0) !=
	    s->no_tls_req)
		return 0;
	return mta_tls_level_for(s->th->cfg, s->dest->relay, s->nexthop,
	    &entry) == s->tls_want && entry == s->tls_entry;
}

static void
mta_session_take(struct mta_session *s, struct mta_jobctx *jc)
{
	s->job = jc;
	s->reused = 1;
	s->mail_ok = 0;
	jc->start_ms = util_now_ms();
	mta_begin_txn(s);
}

void
mta_next_job(struct mta_session *s)
{
	struct mta_jobctx *jc;

	if (s->conn == NULL) {
		mta_set_state(s, MTA_ST_END);
		return;
	}
	if (s->th->stopping) {
		mta_set_state(s, MTA_ST_QUIT);
		return;
	}
	if ((jc = mta_dest_pop(s->dest)) != NULL) {
		if (!mta_session_fits(s, jc)) {
			mta_dest_push_front(s->dest, jc);
			mta_set_state(s, MTA_ST_QUIT);
			return;
		}
		mta_session_take(s, jc);
		return;
	}
	if (s->th->cfg->connection_reuse_time == 0) {
		mta_set_state(s, MTA_ST_QUIT);
		return;
	}
	mta_set_state(s, MTA_ST_IDLE);
}

int
mta_session_offer(struct mta_dest *d, struct mta_jobctx *jc)
{
	struct mta_session *s;

	for (s = d->th->sessions; s; s = s->next) {
		if (s->dest != d || s->dead || s->state != MTA_ST_IDLE ||
		    !mta_session_fits(s, jc))
			continue;
		mta_session_take(s, jc);
		return 0;
	}
	return -1;
}

void
mta_session_shutdown_all(struct mta_thread *th, int abort)
{
	struct mta_session *s, *next;

	for (s = th->sessions; s; s = next) {
		next = s->next;
		if (s->dead)
			continue;
		if (s->state == MTA_ST_IDLE)
			mta_set_state(s, MTA_ST_QUIT);
		else if (abort && s->job)
			mta_job_fail(s, MTA_DEFER, 0, "4.3.0",
			    "delivery agent shutting down");
		else if (abort)
			mta_set_state(s, MTA_ST_END);
	}
}
