/*
 * mta.h - delivery agents: the outbound SMTP client side of sealpost.
 *
 * The queue manager (main loop) hands an mta_job - one message, one
 * destination domain, some of its recipients - to an mta_pool.  The pool
 * runs N threads, each with its own libuv loop and resolver; a job goes to
 * the thread chosen by a hash of its domain, so connection reuse and the
 * DNS cache work per domain.  The thread resolves the MX hosts, decides
 * the TLS policy for the session, talks SMTP, fills job->result[] and
 * posts the job back to the queue manager's channel.
 */
#ifndef SEALPOST_MTA_H
#define SEALPOST_MTA_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "queue/queue.h"
#include "util.h"

#define MTA_TEXT_MAX	512	/* diagnostic text kept per recipient */

enum mta_outcome {
	MTA_DELIVERED,
	MTA_DEFER,		/* try again later */
	MTA_BOUNCE		/* permanent failure */
};

struct mta_status {
	enum mta_outcome outcome;
	int   code;			/* SMTP reply code, 0 if none */
	char  dsn[16];			/* enhanced status, e.g. "5.1.1" */
	char  text[MTA_TEXT_MAX];	/* "host said: 550 ..." or our reason */
	char  relay[300];		/* "mx.example.net[192.0.2.1]:25" or "none" */
	char  tls[200];			/* TLS verdict of the attempt */
	int   dsn_passed;		/* delivered to a next hop that offered
					 * DSN: NOTIFY/ORCPT went along with it
					 * (RFC 3461 5.2.2), so no success DSN
					 * is ours to send */
};

struct mta_job {
	struct queue_msg  *msg;		/* read-only here; body loaded */
	char              *domain;	/* recipient domain, lower case */
	size_t             nrcpt;
	size_t            *rcpt_idx;	/* indexes into msg->rcpt */
	struct mta_status *result;	/* nrcpt entries, filled by the agent */
	uint64_t           queued_ms;	/* util_now_ms() when handed over */
	void             (*done)(struct mta_job *job);	/* on qmgr loop */
	void              *arg;		/* for the queue manager */
};

typedef struct mta_pool mta_pool;

/*
 * Start nthreads delivery threads (0 = one per core).  done callbacks are
 * posted to qmgr_chan.  cfg must outlive the pool.
 */
mta_pool *mta_pool_create(const struct sealpost_config *cfg,
    unsigned nthreads, util_chan *qmgr_chan, char *err, size_t errlen);
/* Any thread.  The pool owns nothing of job; it calls job->done exactly
 * once (also on shutdown, with MTA_DEFER "shutting down"). */
void mta_pool_submit(mta_pool *p, struct mta_job *job);
/* Stop accepting, finish or defer running jobs, join threads. */
void mta_pool_free(mta_pool *p);

const char *mta_outcome_name(enum mta_outcome o);

#endif
