/*
 * tlsrpt_send_int.h - shared by the sender's files only:
 *   tlsrpt_send.c       thread, schedule, TXT lookup, per-URI dispatch
 *   tlsrpt_send_mail.c  mailto: the message into our maildrop
 *   tlsrpt_send_post.c  https: the POST and its retries
 * All of it runs on the sender's thread.
 */
#ifndef SEALPOST_TLSRPT_SEND_INT_H
#define SEALPOST_TLSRPT_SEND_INT_H

#include <uv.h>

#include "config/config.h"
#include "resolver/resolver.h"
#include "tls_http.h"
#include "tlsrpt.h"
#include "util.h"

#define TLSRPT_RFC3339_LEN	21	/* "YYYY-MM-DDTHH:MM:SSZ" + NUL */
#define TLSRPT_REPORT_ID_MAX	(TLSRPT_NAME_MAX * 2 + 32)

struct tlsrpt_sender {
	const struct sealpost_config *cfg;
	uv_thread_t  thread;
	uv_loop_t    loop;
	util_chan   *chan;		/* work posted to this thread */
	res_ctx     *res;
	tls_http    *http;
	uv_timer_t   daily;		/* the once-a-day run */
	uv_timer_t   retry;		/* the earliest DUE row's next_try */
	tlsrpt_sent *sent;
	tlsrpt_store *store;		/* flushed before a run; may be NULL */
	char        *db_path;		/* spool/tlsrpt.db */
	char        *maildrop;		/* spool/maildrop */
	void        *dkim_key;		/* EVP_PKEY * or NULL */
	void       (*wake)(void *arg);
	void        *wake_arg;
	struct send_job *jobs;		/* (day, domain) pairs in flight */
	int          stopping;
};

/* One https POST in flight for one row. */
struct send_post {
	struct send_job *job;
	tls_http_req    *req;
	struct tlsrpt_sent_entry e;
};

/* One (day, domain): TXT lookup, report built once, then every URI. */
struct send_job {
	struct send_job *next;
	tlsrpt_sender   *s;
	char             day[TLSRPT_DAY_LEN];
	char             domain[TLSRPT_NAME_MAX + 1];
	int              now_requested;	/* send-now: backoff ignored */
	res_query       *q;
	unsigned char   *gz;		/* the gzip'ed JSON, once built */
	size_t           gzlen;
	char             report_id[TLSRPT_REPORT_ID_MAX];
	char             start[TLSRPT_RFC3339_LEN], end[TLSRPT_RFC3339_LEN];
	struct send_post posts[TLSRPT_RUA_MAX];
	size_t           nposts;	/* in flight */
	size_t           nstarted;	/* slots of posts[] used */
};

/* mailto: build the message, write it into the maildrop, mark the row
 * (DONE, or SKIPPED over the size limit, or DUE with an error to retry
 * at the next run).  Synchronous. */
void tlsrpt_send_mail(struct send_job *j, const struct tlsrpt_uri *u,
    struct tlsrpt_sent_entry *e);
/* https: start the POST; the row is updated when it ends, and the job
 * finishes when its last POST has. */
void tlsrpt_send_post(struct send_job *j, const struct tlsrpt_uri *u,
    struct tlsrpt_sent_entry *e);
/* A POST ended (tlsrpt_send_post.c): maybe the job is done. */
void tlsrpt_send_job_check(struct send_job *j);
/* A try failed for a reason that may pass: count it and back off, or
 * give up after TLSRPT_RETRY_SECS. */
void tlsrpt_send_retry_later(tlsrpt_sender *s, struct tlsrpt_sent_entry *e,
    const char *why);
/* Row e changed: write it and log the outcome. */
void tlsrpt_send_mark(tlsrpt_sender *s, struct tlsrpt_sent_entry *e,
    enum tlsrpt_sent_state st, const char *error);

#endif
