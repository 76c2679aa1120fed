/*
 * qmgr_int.h - queue manager internals shared by qmgr_*.c only.
 */
#ifndef SEALPOST_QMGR_INT_H
#define SEALPOST_QMGR_INT_H

#include "qmgr.h"

#define QMGR_DOMAIN_MAX 256	/* RFC 5321 4.5.3.1.2: 255 octets + NUL */

struct qmgr_dest;
struct qmgr_admin_wait;		/* qmgr_admin.c */

/* One piece of work: some recipients of one message for one destination. */
struct qmgr_item {
	struct qmgr_item *next;
	struct qmgr      *q;
	struct qmgr_msg  *qm;
	struct qmgr_dest *dest;
	char             *domain;
	size_t            nrcpt;
	size_t           *idx;
};

/* A message the queue manager knows about. */
struct qmgr_msg {
	struct queue_msg *m;		/* envelope; body while delivering */
	unsigned char    *busy;		/* per recipient: in a work item */
	unsigned          items;	/* work items queued or running */
	int               loading;	/* body load in flight */
	struct qmgr_item *wait_body;	/* items waiting for the body */
	int               removed;	/* every recipient is final */
	int               admin_deleting; /* deleted by the administrator;
					 * removed once nothing runs
					 * (qmgr_admin.c) */
};

/* A destination: a domain, or the relayhost for all domains. */
struct qmgr_dest {
	char             *name;
	unsigned          active;	/* items handed to agents */
	struct qmgr_item *head, *tail;	/* waiting items */
	int               on_ready;	/* linked on q->ready */
	struct qmgr_dest *ready_next;
};

struct qmgr {
	uv_loop_t          *loop;
	const struct sealpost_config *cfg;
	queue_store        *store;
	mta_pool           *pool;
	util_chan          *chan;

	util_htable        *msgs;	/* qid -> struct qmgr_msg */
	util_htable        *dests;	/* name -> struct qmgr_dest */
	struct qmgr_dest   *ready;	/* dests with waiting items */
	unsigned            total_active;

	/* reloadable settings, copied from cfg */
	unsigned            dest_limit, total_limit, rcpt_limit;
	uint64_t            min_backoff, max_backoff, lifetime, dsn_lifetime;
	uint64_t            delay_warning, run_delay;

	uv_timer_t          retry_timer;
	uv_fs_event_t       drop_watch;
	int                 drop_watch_on;
	int                 importing, import_again;
	uv_pipe_t           control;
	int                 control_on;
	int                 started, stopping;
	/* a FLUSH that came before the start-up scan finished: applied to
	 * the whole queue once it is loaded (qmgr_core.c) */
	int                 flush_pending;
	char               *flush_domain;	/* NULL: every domain */

	/* queue administration (qmgr_admin.c, qmgr_control.c) */
	int                 admin_lock_fd;	/* flock on spool/sealpostd.lock */
	int                 admin_lock_on;
	uv_check_t          admin_check;	/* finishes admin_wait entries */
	int                 admin_check_init;
	struct qmgr_admin_wait *admin_wait;	/* changes waiting for jobs */
	size_t              admin_nwait, admin_await;
};

/* qmgr_sched.c */
struct qmgr_msg *qmgr_msg_adopt(qmgr *q, struct queue_msg *m);
void qmgr_msg_drop(qmgr *q, struct qmgr_msg *qm);
/* A durable message enters the active queue: logged, adopted, scheduled.
 * Duplicates (queue ID already known) and arrivals while stopping are
 * freed: the store has them, the next start picks them up. */
void qmgr_msg_activate(qmgr *q, struct queue_msg *m);
void qmgr_schedule(qmgr *q, struct qmgr_msg *qm, int64_t now);
void qmgr_schedule_all(qmgr *q);
void qmgr_dispatch(qmgr *q);
void qmgr_item_free(struct qmgr_item *it);
const char *qmgr_rcpt_domain(const char *addr);

/* qmgr_done.c */
void qmgr_job_done(struct mta_job *job);
uint64_t qmgr_backoff(const qmgr *q, unsigned attempts);

/* qmgr_admin.c */
/*
 * Apply an administrator's change to message qid (NULL: every message):
 * memory first, then one store transaction; done(arg, reply) runs once,
 * after the commit or at once when nothing needs committing, with the
 * control socket's answer: "OK n" (n messages acted on) or "ERR why".
 * "ERR busy ..." means try again later (still loading, stopping).
 */
void qmgr_admin(qmgr *q, enum queue_admin_op op, const char *qid,
    void (*done)(void *arg, const char *reply), void *arg);
/* Forget changes waiting for running jobs (on disk already: a pending
 * delete stays held), close the handle. */
void qmgr_admin_stop(qmgr *q);

/* qmgr_control.c */
int qmgr_control_start(qmgr *q);
void qmgr_control_stop(qmgr *q);
void qmgr_import(qmgr *q);

#endif
