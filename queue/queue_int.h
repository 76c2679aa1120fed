/*
 * queue_int.h - helpers shared inside the queue module only (queue_*.c).
 */
#ifndef SEALPOST_QUEUE_INT_H
#define SEALPOST_QUEUE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "queue.h"

/* FNV-1a 64-bit, the drop file checksum (damage detection, not security). */
uint64_t queue_drop_fnv64(const void *data, size_t len);

/*
 * Read a whole drop file into a new buffer (*len bytes, NUL added).
 * Refuses symlinks, non-regular files and files over QUEUE_DROP_MAX.
 * NULL with errno set on failure (EFBIG for too big, EINVAL for not a
 * regular file).
 */
char *queue_drop_read(int dirfd, const char *name, size_t *len);

/* Is name a temporary file of queue_drop_write (still being written)? */
int queue_drop_is_temp(const char *name);

/* ---- sqlite layer (queue_store_sql.c) ---------------------------------- */

typedef struct sqlite3 sqlite3;
typedef struct sqlite3_stmt sqlite3_stmt;

/* One connection and its prepared statements.  Owned by one thread. */
struct queue_sql {
	sqlite3      *db;
	int           empty;	/* read-only open of a not yet created db */
	sqlite3_stmt *begin, *commit, *rollback;
	sqlite3_stmt *savepoint, *release, *rollback_to;
	sqlite3_stmt *ins_msg, *ins_msg_ignore, *ins_body, *ins_rcpt;
	sqlite3_stmt *upd_rcpt, *upd_flags;
	sqlite3_stmt *del_msg, *del_body, *del_rcpt;
	sqlite3_stmt *sel_msg, *sel_body, *sel_rcpt;
	sqlite3_stmt *scan_msg, *scan_rcpt;
};

/* Open path (creating file and schema unless readonly).  On failure -1,
 * err set, nothing left open.  Read-only on a database the daemon has
 * not initialised yet sets q->empty and succeeds. */
int queue_sql_open(struct queue_sql *q, const char *path, int readonly,
    char *err, size_t errlen);
void queue_sql_close(struct queue_sql *q);
const char *queue_sql_errmsg(struct queue_sql *q);
/* Step a statement that returns no rows, then reset it; 0 or -1. */
int queue_sql_step(struct queue_sql *q, sqlite3_stmt *st);
/* Insert m with body and recipients.  ignore_dup: an existing qid is not
 * an error, *inserted tells whether anything was written. */
int queue_sql_insert(struct queue_sql *q, const struct queue_msg *m,
    int ignore_dup, int *inserted);
int queue_sql_update_rcpt(struct queue_sql *q, const char *qid, size_t idx,
    const struct queue_rcpt *r);
int queue_sql_set_flags(struct queue_sql *q, const char *qid, unsigned flags);
int queue_sql_delete(struct queue_sql *q, const char *qid);
/* New message or NULL (not found or read error, logged). */
struct queue_msg *queue_sql_load(struct queue_sql *q, const char *qid,
    int with_body);
int queue_sql_scan(struct queue_sql *q,
    void (*each)(void *arg, struct queue_msg *m), void *arg);

/* ---- store internals shared with queue_store_import.c ------------------- */

/* Hands messages to a callback on another loop in chunks, so a scan of
 * 100,000 messages costs a few hundred util_chan posts, not 100,000. */
struct store_msg_chunk;
struct queue_poster {
	util_chan *chan;
	void     (*cb)(void *arg, struct queue_msg *m);
	void      *arg;
	struct store_msg_chunk *cur;
};
void queue_poster_add(struct queue_poster *p, struct queue_msg *m);
/* Post what is left, then cb(arg, NULL). */
void queue_poster_finish(struct queue_poster *p);

/* The maildrop import, on the store thread (queue_store_import.c).
 * Posts each newly imported message through p; the caller finishes p. */
void queue_import_run(struct queue_sql *q, const char *spool_dir,
    struct queue_poster *p);

#endif
