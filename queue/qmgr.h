/*
 * qmgr.h - the queue manager: decides what is delivered when, and where.
 *
 * It runs on the daemon's main loop.  It keeps an in-memory index of every
 * queued message (envelopes only; bodies are loaded for the duration of a
 * delivery), groups pending recipients by destination, hands work to the
 * delivery agents within concurrency limits, and turns their results into
 * durable recipient state, retries with backoff, expiry and DSNs.
 */
#ifndef SEALPOST_QMGR_H
#define SEALPOST_QMGR_H

#include <uv.h>

#include "config/config.h"
#include "mta/mta.h"
#include "queue/queue.h"
#include "util.h"

typedef struct qmgr qmgr;

/*
 * Create the queue manager on loop.  cfg, store and pool must outlive it.
 * chan is the loop's channel on which the pool posts finished jobs.
 */
qmgr *qmgr_create(uv_loop_t *loop, const struct sealpost_config *cfg,
    queue_store *store, mta_pool *pool, util_chan *chan);
/* Load the queue from the store, import the maildrop, start timers and
 * the control socket.  0 or -1 (logged). */
int qmgr_start(qmgr *q);
/*
 * Hand over a message that is already durable in the store (e.g. the SMTP
 * listener after its commit callback).  Any thread; the queue manager
 * takes ownership of m (body included: first delivery needs no reload).
 */
void qmgr_submit(qmgr *q, struct queue_msg *m);
/* Ask every deferred recipient (of domain, or all if NULL) to be tried now. */
void qmgr_flush(qmgr *q, const char *domain);
/* Look for new files in the maildrop now. */
void qmgr_wakeup(qmgr *q);
/* Apply reloadable settings (limits, backoff, lifetimes) from cfg. */
void qmgr_reload(qmgr *q, const struct sealpost_config *cfg);
/* Stop dispatching, close timers and the control socket.  Results of
 * jobs still running are still recorded (fire and forget). */
void qmgr_stop(qmgr *q);
/*
 * Where the control socket's "TLSRPT-SEND [day]" goes (the TLS-RPT
 * sender, tls/tlsrpt.h); fn runs on the main loop, must not block, and
 * answers 0 or -1 with a short reason.  NULL: the command is refused.
 */
typedef int (*qmgr_tlsrpt_fn)(void *arg, const char *day, char *err,
    size_t errlen);
void qmgr_control_set_tlsrpt(qmgr_tlsrpt_fn fn, void *arg);
/* Free memory; after the pool and the store are gone. */
void qmgr_free(qmgr *q);

#endif
