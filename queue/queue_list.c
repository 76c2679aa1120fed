/*
 * queue_list.c - read-only queue listing for command-line tools (mailq).
 *
 * Opens queue.db read-only with its own connection, outside the daemon's
 * store thread.  WAL mode lets this reader run while the daemon writes:
 * it sees the last committed state and never blocks a commit.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "queue.h"
#include "queue_int.h"

struct list_ctx {
	void (*cb)(void *arg, const struct queue_msg *m);
	void *arg;
};

static void
list_each(void *arg, struct queue_msg *m)
{
	struct list_ctx *c = arg;

	c->cb(c->arg, m);
	queue_msg_free(m);
}

int
queue_list_read(const char *spool_dir,
    void (*cb)(void *arg, const struct queue_msg *m), void *arg,
    char *err, size_t errlen)
{
	struct list_ctx c = { cb, arg };
	struct queue_sql q;
	struct stat st;
	char path[4096];
	int rc;

	if (snprintf(path, sizeof(path), "%s/queue.db", spool_dir) >=
	    (int)sizeof(path)) {
		snprintf(err, errlen, "spool directory name too long");
		return -1;
	}
	if (stat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;	/* the daemon never ran: empty queue */
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (queue_sql_open(&q, path, 1, err, errlen) < 0)
		return -1;
	rc = queue_sql_scan(&q, list_each, &c);
	if (rc < 0)
		snprintf(err, errlen, "read %s: %s", path, queue_sql_errmsg(&q));
	queue_sql_close(&q);
	return rc;
}
