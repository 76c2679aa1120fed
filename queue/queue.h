/*
 * queue.h - messages, their durable store, and the hand-off to delivery.
 *
 * The queue lives in one sqlite database (spool/queue.db, WAL mode,
 * synchronous=FULL).  Only the store thread touches it; other threads send
 * it transactions and get called back on their own loop through a
 * util_chan when the transaction is durable.  Many transactions share one
 * commit (group commit), so many messages share one fsync.
 *
 * Local submission goes through spool/maildrop/: the sendmail command
 * writes one fsync'd file per message there (via sealpost-postdrop) and
 * the daemon imports it into the database, keyed by its queue ID so a
 * crash between commit and unlink cannot duplicate it.
 */
#ifndef SEALPOST_QUEUE_H
#define SEALPOST_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define QUEUE_ID_LEN		16	/* characters, [0-9A-Z] only */
#define QUEUE_ADDR_MAX		512	/* RFC 5321 4.5.3.1.3 path 256, + slack for ORCPT */
#define QUEUE_STATUS_TEXT_MAX	512	/* stored remote reply text */
#define QUEUE_RCPT_MAX		10000	/* recipients per message */

/* RFC 3461 NOTIFY bits; 0 means "not given" (= FAILURE,DELAY). */
#define QUEUE_NOTIFY_NEVER	0x01
#define QUEUE_NOTIFY_SUCCESS	0x02
#define QUEUE_NOTIFY_FAILURE	0x04
#define QUEUE_NOTIFY_DELAY	0x08

enum queue_ret {			/* RFC 3461 RET */
	QUEUE_RET_DEFAULT = 0,
	QUEUE_RET_FULL = 1,
	QUEUE_RET_HDRS = 2
};

/* message flags */
#define QUEUE_MSG_8BITMIME	0x01	/* body has 8-bit data */
#define QUEUE_MSG_SMTPUTF8	0x02	/* needs SMTPUTF8 (UTF-8 addresses/headers) */
#define QUEUE_MSG_HOLD		0x04	/* held by the administrator */
#define QUEUE_MSG_DSN		0x08	/* a bounce/delay notice we generated */
#define QUEUE_MSG_NO_TLS_REQ	0x10	/* TLS-Required: No (RFC 8689) */

enum queue_rcpt_state {
	QUEUE_RCPT_PENDING = 0,		/* not yet final (maybe deferred) */
	QUEUE_RCPT_DELIVERED = 1,
	QUEUE_RCPT_BOUNCED = 2		/* final failure, DSN already queued */
};

struct queue_rcpt {
	char     *addr;			/* envelope address, no <> */
	char     *orcpt;		/* RFC 3461 ORCPT "rfc822;x@y" or NULL */
	unsigned  notify;		/* QUEUE_NOTIFY_* */
	int       state;		/* enum queue_rcpt_state */
	unsigned  attempts;
	int64_t   next_try;		/* wall time; 0 = now */
	int64_t   last_try;		/* wall time of last attempt, 0 = none */
	char     *status;		/* last enhanced status "4.4.1" or NULL */
	char     *reply;		/* last diagnostic (remote reply or ours) */
	char     *relay;		/* last remote host "name[ip]:port" or NULL */
	char     *tls;			/* last TLS verdict, e.g. "tls=TLSv1.3 ..." */
	int       delay_warned;		/* delay warning already sent */
};

struct queue_msg {
	char     qid[QUEUE_ID_LEN + 1];
	char    *sender;		/* "" = null reverse path */
	int64_t  arrival;		/* wall time of acceptance */
	char    *envid;			/* RFC 3461 ENVID or NULL */
	int      ret;			/* enum queue_ret */
	unsigned flags;			/* QUEUE_MSG_* */
	size_t   size;			/* body_len, kept when body is unloaded */
	size_t   nrcpt;
	struct queue_rcpt *rcpt;
	size_t   rcpt_alloc;		/* slots allocated in rcpt (queue_msg.c
					 * bookkeeping; 0 is always safe) */
	char    *body;			/* header+body, CRLF lines, not dot-stuffed;
					 * NULL when not loaded */
	size_t   body_len;
};

/* Fresh unique queue ID (time ordered, unique across processes). */
void queue_id_new(char out[QUEUE_ID_LEN + 1]);
/* 0 if s is a syntactically valid queue ID, else -1. */
int queue_id_valid(const char *s);

/* Allocate an empty message / add a recipient (copies strings). */
struct queue_msg *queue_msg_new(void);
struct queue_rcpt *queue_msg_add_rcpt(struct queue_msg *m, const char *addr,
    const char *orcpt, unsigned notify);
/* Deep copy without the body (for listings/scheduling). */
struct queue_msg *queue_msg_dup_envelope(const struct queue_msg *m);
void queue_msg_free(struct queue_msg *m);	/* NULL ok */
/* Set a recipient's free-text fields (copies; NULL clears). */
void queue_rcpt_set_status(struct queue_rcpt *r, const char *status,
    const char *reply, const char *relay, const char *tls);

/* ---- the store ---------------------------------------------------------- */

typedef struct queue_store queue_store;
typedef struct queue_txn queue_txn;

/*
 * Open (creating if needed) spool_dir/queue.db and spool_dir/maildrop and
 * start the store thread.  batch_ms is the group commit window.  NULL on
 * error with a message in err.
 */
queue_store *queue_store_open(const char *spool_dir, unsigned batch_ms,
    char *err, size_t errlen);
/* Commit what is pending, stop the thread, close the database. */
void queue_store_close(queue_store *s);

/*
 * A transaction: a list of changes applied atomically, in order, in one
 * sqlite transaction (possibly together with other transactions).
 * Strings and messages are copied at call time; the caller keeps its own.
 */
queue_txn *queue_txn_new(void);
void queue_txn_insert(queue_txn *t, const struct queue_msg *m);	/* with body */
/* Persist rcpt fields (state, attempts, next_try, last_try, status,
 * reply, relay, tls, delay_warned) of recipient idx of message qid. */
void queue_txn_update_rcpt(queue_txn *t, const char *qid, size_t idx,
    const struct queue_rcpt *r);
void queue_txn_set_flags(queue_txn *t, const char *qid, unsigned flags);
void queue_txn_delete(queue_txn *t, const char *qid);
/* Discard a transaction that will not be committed (NULL ok). */
void queue_txn_free(queue_txn *t);
/*
 * Hand t to the store thread (it takes ownership).  When the commit is
 * durable (rc 0) or failed and rolled back (rc -1, e.g. disk full),
 * done(arg, rc) runs on chan's loop.  done may be NULL (fire and forget;
 * failures are logged).
 */
void queue_store_commit(queue_store *s, queue_txn *t, util_chan *chan,
    void (*done)(void *arg, int rc), void *arg);

/* Counters since open, for monitoring and tests: commits < txns means
 * group commit is sharing fsyncs. */
struct queue_store_stats {
	uint64_t commits;	/* successful COMMITs */
	uint64_t txns;		/* transactions processed */
	uint64_t failed_txns;	/* of which reported rc -1 */
};
void queue_store_get_stats(queue_store *s, struct queue_store_stats *out);

/* Load one message with its body; cb(arg, msg or NULL) on chan's loop,
 * cb owns msg. */
void queue_store_load(queue_store *s, const char *qid, util_chan *chan,
    void (*cb)(void *arg, struct queue_msg *m), void *arg);
/* Load every message's envelope (no body).  cb(arg, msg) once per message
 * (cb owns msg), then cb(arg, NULL) once at the end. */
void queue_store_scan(queue_store *s, util_chan *chan,
    void (*cb)(void *arg, struct queue_msg *m), void *arg);
/*
 * Import spool_dir/maildrop: each valid drop file is inserted (ignored if
 * its queue ID already exists), committed, then unlinked; invalid files
 * are moved to spool_dir/corrupt/ and logged.  cb(arg, envelope) for each
 * newly imported message (body included, cb owns it), then cb(arg, NULL).
 */
void queue_store_import_maildrop(queue_store *s, util_chan *chan,
    void (*cb)(void *arg, struct queue_msg *m), void *arg);

/*
 * For command-line tools (mailq): open spool_dir/queue.db read-only,
 * without the store thread, and call cb once per message envelope (no
 * body; m is only valid during the call).  A missing database is an
 * empty queue.  0, or -1 with err (cb may have run for part of the
 * queue).  Needs read access to the spool (the daemon's user or root).
 */
int queue_list_read(const char *spool_dir,
    void (*cb)(void *arg, const struct queue_msg *m), void *arg,
    char *err, size_t errlen);

/* ---- maildrop files (the sendmail -> daemon hand-off) ------------------- */

#define QUEUE_DROP_MAX	(64u * 1024 * 1024)	/* biggest drop file accepted */

/*
 * Parse a drop file image (buf, len) into a new message (body included).
 * Pure function; bounded; rejects anything malformed.  Returns NULL and a
 * reason in err on failure.
 */
struct queue_msg *queue_drop_parse(const char *buf, size_t len,
    char *err, size_t errlen);
/* Flags a drop file may carry; the rest (DSN in particular) are the
 * daemon's own, and a local user must not be able to forge them. */
#define QUEUE_DROP_FLAGS_OK	(QUEUE_MSG_8BITMIME | QUEUE_MSG_SMTPUTF8 | \
				 QUEUE_MSG_HOLD | QUEUE_MSG_NO_TLS_REQ)
/*
 * The rules queue_drop_parse applies to a decoded message: valid queue
 * ID, sender/recipients/ORCPT <= QUEUE_ADDR_MAX without control bytes,
 * 1..QUEUE_RCPT_MAX recipients, known NOTIFY/RET values, only
 * QUEUE_DROP_FLAGS_OK flags, body <= QUEUE_DROP_MAX.  0, or -1 with a
 * reason in err.  queue_drop_write runs it before writing.
 */
int queue_drop_check(const struct queue_msg *m, char *err, size_t errlen);
/* Serialise m (body included) into a drop file image; caller frees. */
char *queue_drop_format(const struct queue_msg *m, size_t *len);
/*
 * Durably write m into dir (the maildrop): temp file, fsync, rename to
 * its queue ID, fsync the directory.  0 on success, -1 with err.
 */
int queue_drop_write(const char *dir, const struct queue_msg *m,
    char *err, size_t errlen);

/* ---- delivery status notifications (RFC 3464) --------------------------- */

enum queue_dsn_kind {
	QUEUE_DSN_FAILED,
	QUEUE_DSN_DELAYED,
	QUEUE_DSN_DELIVERED,	/* final delivery (we never do it ourselves) */
	QUEUE_DSN_RELAYED	/* handed to a next hop without DSN (RFC 3461 5.2.2) */
};

/*
 * Build a DSN for orig about the recipients whose indexes are in idx[n]
 * (their status/reply/relay fields describe what happened).  Returns a
 * new message (null sender, flags QUEUE_MSG_DSN, fresh queue ID) addressed
 * to rcpt_to (normally orig->sender; the postmaster for double bounces),
 * or NULL when no DSN is due (e.g. every recipient had NOTIFY=NEVER).
 * reporting_mta is our host name.  Honours RET and ENVID/ORCPT.
 */
struct queue_msg *queue_dsn_build(const struct queue_msg *orig,
    const size_t *idx, size_t n, enum queue_dsn_kind kind,
    const char *rcpt_to, const char *reporting_mta, int64_t now);

/* Biggest original returned in full (RET=FULL); larger ones come back as
 * headers only, which keeps bounces of huge mail affordable. */
#define QUEUE_DSN_RETURN_MAX	(10u * 1024 * 1024)

struct queue_dsn_opts {
	int64_t retry_until;	/* Will-Retry-Until for delay notices; 0 = omit */
	size_t  return_max;	/* 0 = QUEUE_DSN_RETURN_MAX */
};
/* queue_dsn_build with options (opts NULL = defaults). */
struct queue_msg *queue_dsn_build_opts(const struct queue_msg *orig,
    const size_t *idx, size_t n, enum queue_dsn_kind kind,
    const char *rcpt_to, const char *reporting_mta, int64_t now,
    const struct queue_dsn_opts *opts);

/* ---- queue administration (queue_admin.c) ------------------------------- */

/*
 * What "sealpost queue delete|hold|release|requeue" does to a message.
 * The daemon applies these through its control socket (queue manager,
 * qmgr_admin.c); command-line tools apply them directly with
 * queue_admin_apply when the daemon is not running.
 */
enum queue_admin_op {
	QUEUE_ADMIN_DELETE,	/* remove the message, no notification */
	QUEUE_ADMIN_HOLD,	/* set QUEUE_MSG_HOLD: no new delivery attempts */
	QUEUE_ADMIN_RELEASE,	/* clear QUEUE_MSG_HOLD */
	QUEUE_ADMIN_REQUEUE	/* pending recipients due now, backoff reset */
};

/* "DELETE", "HOLD", ... (the control socket verbs); NULL if out of range. */
const char *queue_admin_op_name(enum queue_admin_op op);
/* The op for a verb (case-insensitive: "delete", "HOLD"); 0, or -1. */
int queue_admin_op_parse(const char *s, enum queue_admin_op *op);

/*
 * Apply op to the in-memory message m (not DELETE).  HOLD and RELEASE
 * change m->flags; REQUEUE sets next_try = 0 and attempts = 0 on every
 * pending recipient i with skip == NULL or skip[i] == 0 (the queue
 * manager passes its per-recipient "in flight" marks).  Pure function.
 * Returns the number of things changed (0 when m already was so), and
 * for REQUEUE sets changed[i] = 1 for each recipient it reset when
 * changed is not NULL (nrcpt entries).
 */
size_t queue_admin_change(struct queue_msg *m, enum queue_admin_op op,
    const unsigned char *skip, unsigned char *changed);

/* The daemon holds an exclusive flock(2) on spool_dir/QUEUE_ADMIN_LOCK_NAME
 * from before it reads the queue until its control socket is gone. */
#define QUEUE_ADMIN_LOCK_NAME	"sealpostd.lock"

/*
 * Open (creating, mode 0600, owned by the spool directory's owner)
 * spool_dir/QUEUE_ADMIN_LOCK_NAME and take an exclusive lock, retrying
 * for up to wait_ms.  Returns the descriptor
 * (close it to unlock), or -1: errno EWOULDBLOCK when another process
 * holds the lock, else err says why.
 */
int queue_admin_lock(const char *spool_dir, unsigned wait_ms, char *err,
    size_t errlen);

/* Per-ID outcome of queue_admin_apply. */
enum queue_admin_result {
	QUEUE_ADMIN_DONE = 0,	/* applied (or already so) */
	QUEUE_ADMIN_UNKNOWN = 1	/* no such message (also: invalid ID) */
};
#define QUEUE_ADMIN_BUSY	1	/* queue_admin_apply: daemon running */

/*
 * For command-line tools when the daemon is not running: take the lock
 * (never waiting), then apply op to the messages qids[0..n) - or to
 * every message when qids is NULL - in one short sqlite transaction on
 * spool_dir/queue.db (busy timeout, BEGIN IMMEDIATE).  Messages still in
 * the maildrop are included: DELETE unlinks the file; the other ops
 * import it into the database first (as the daemon would) and change it
 * there.  res[i] (n entries, may be NULL when qids is NULL) tells per ID
 * whether it existed; *count is the number of messages acted on.
 * Returns 0; QUEUE_ADMIN_BUSY when the daemon holds the lock (nothing
 * done: use its control socket); -1 with err when nothing could be done
 * (no permission, database error: the transaction is rolled back).
 */
int queue_admin_apply(const char *spool_dir, enum queue_admin_op op,
    const char *const *qids, size_t n, int *res, size_t *count,
    char *err, size_t errlen);

/*
 * Every valid message still waiting in spool_dir/maildrop (not imported
 * by the daemon yet): cb(arg, m) with the body loaded (m only valid during
 * the call).  Unreadable or invalid files are skipped.  A missing
 * maildrop is empty.  0, or -1 with err when the directory cannot be read.
 */
int queue_admin_list_maildrop(const char *spool_dir,
    void (*cb)(void *arg, const struct queue_msg *m), void *arg,
    char *err, size_t errlen);

/*
 * For "sealpost queue show": one message with its body, read-only, from
 * the database or else from the maildrop (*in_maildrop = 1).  0 with
 * *out set (caller frees), 1 when there is no such message, -1 with err.
 */
int queue_admin_load(const char *spool_dir, const char *qid,
    struct queue_msg **out, int *in_maildrop, char *err, size_t errlen);

#endif
