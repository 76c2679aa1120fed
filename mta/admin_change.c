/*
 * admin_change.c - "sealpost queue delete|hold|release|requeue ID...|ALL".
 *
 * Two ways to change the queue, chosen per attempt:
 *   - the daemon runs (it holds spool/sealpostd.lock): one control socket
 *     request per ID ("HOLD <qid>", "DELETE ALL"), answered "OK n" once
 *     the queue manager has changed memory and committed;
 *   - it does not: queue_admin_apply changes queue.db (and the maildrop)
 *     itself, holding the lock so a daemon cannot start half-way.
 * Between the two a daemon may be starting (lock taken, socket not yet
 * there, or the queue still loading: "ERR busy") or stopping (socket gone,
 * lock not yet released); both are short, so we retry until
 * ADMIN_CHANGE_WAIT_MS.  A message that is still a maildrop file while
 * the daemon runs is unknown to the queue manager until it is imported:
 * we send WAKEUP and ask again.
 *
 * Unknown IDs are reported on stderr and make the exit status EX_NOINPUT,
 * but the other IDs are still acted on.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>

#include "admin.h"
#include "sendmail.h"

#define ADMIN_CHANGE_WAIT_MS	15000	/* daemon starting/stopping/importing */
#define ADMIN_RETRY_MS		100
#define ADMIN_ERR_MAX		1024
#define ADMIN_REPLY_MAX		128

enum target_state { T_PENDING, T_DONE, T_UNKNOWN, T_FAILED };

struct target {
	const char       *id;		/* a valid queue ID, or "ALL" */
	enum target_state state;
	size_t            count;	/* messages acted on */
	int               woke;		/* WAKEUP sent for its maildrop file */
};

static const char *const op_done_words[] = {
	[QUEUE_ADMIN_DELETE] = "deleted",
	[QUEUE_ADMIN_HOLD] = "held",
	[QUEUE_ADMIN_RELEASE] = "released",
	[QUEUE_ADMIN_REQUEUE] = "requeued",
};

static int
in_maildrop(const char *spool, const char *qid)
{
	char path[SENDMAIL_PATH_MAX + 64];
	struct stat st;

	if ((size_t)snprintf(path, sizeof(path), "%s/maildrop/%s", spool,
	    qid) >= sizeof(path))
		return 0;
	return lstat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static void
sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* "OK n" -> n; anything else after OK counts as one message. */
static size_t
ok_count(const char *reply)
{
	uint64_t n;
	const char *p = reply + 2;

	if (*p == ' ' && util_parse_uint(p + 1, strlen(p + 1), SIZE_MAX,
	    &n) == 0)
		return (size_t)n;
	return 1;
}

/*
 * Ask the daemon about one target.  Leaves it T_PENDING when the answer
 * means "again later"; *last gets the latest reason for the final error.
 */
static void
via_daemon(const struct sealpost_config *cfg, enum queue_admin_op op,
    struct target *t, char *last, size_t lastlen, int *fail_code)
{
	char line[64], reply[ADMIN_REPLY_MAX], err[ADMIN_ERR_MAX];

	snprintf(line, sizeof(line), "%s %s\n", queue_admin_op_name(op), t->id);
	if (sendmail_ctl_request(cfg->spool_directory, line, reply,
	    sizeof(reply), err, sizeof(err)) == 0) {
		t->state = T_DONE;
		t->count = ok_count(reply);
		return;
	}
	snprintf(last, lastlen, "%s", err);
	if (reply[0] == '\0')
		return;		/* no answer: starting or stopping */
	if (strncmp(reply, "ERR busy", 8) == 0)
		return;
	if (strcmp(reply, "ERR no such message") == 0) {
		if (strcmp(t->id, "ALL") != 0 &&
		    in_maildrop(cfg->spool_directory, t->id)) {
			/* not imported yet: make the daemon look now */
			if (!t->woke) {
				char r2[ADMIN_REPLY_MAX], e2[ADMIN_ERR_MAX];

				(void)sendmail_ctl_request(cfg->spool_directory,
				    "WAKEUP\n", r2, sizeof(r2), e2, sizeof(e2));
				t->woke = 1;
			}
			return;
		}
		t->state = T_UNKNOWN;
		return;
	}
	if (strcmp(reply, "ERR permission denied") == 0)
		*fail_code = EX_NOPERM;
	fprintf(stderr, "sealpost: %s: %s\n", t->id, err);
	t->state = T_FAILED;
}

/* Without a daemon: everything still pending in one transaction.
 * Returns 0 done, 1 daemon running, -1 failed (reported). */
static int
directly(const struct sealpost_config *cfg, enum queue_admin_op op,
    struct target *t, int n, int *fail_code)
{
	const char **ids = xcalloc((size_t)n, sizeof(*ids));
	int *res = xcalloc((size_t)n, sizeof(*res));
	int *map = xcalloc((size_t)n, sizeof(*map));
	char err[ADMIN_ERR_MAX];
	size_t count, k = 0;
	int i, all = 0, rc;

	for (i = 0; i < n; i++) {
		if (t[i].state != T_PENDING)
			continue;
		all |= strcmp(t[i].id, "ALL") == 0;
		map[k] = i;
		ids[k++] = t[i].id;
	}
	rc = queue_admin_apply(cfg->spool_directory, op, all ? NULL : ids, k,
	    all ? NULL : res, &count, err, sizeof(err));
	if (rc < 0) {
		int e = errno;

		fprintf(stderr, "sealpost: %s\n", err);
		if (e == EACCES || e == EPERM) {
			fprintf(stderr, "sealpost: run this as root or as the "
			    "daemon's user\n");
			*fail_code = EX_NOPERM;
		} else
			*fail_code = EX_IOERR;
		for (i = 0; i < n; i++)
			if (t[i].state == T_PENDING)
				t[i].state = T_FAILED;
	} else if (rc == 0) {
		for (i = 0; i < (int)k; i++) {
			struct target *x = &t[map[i]];

			if (all) {
				x->state = T_DONE;
				x->count = count;
			} else {
				x->state = res[i] == QUEUE_ADMIN_DONE ? T_DONE :
				    T_UNKNOWN;
				x->count = x->state == T_DONE;
			}
		}
	}
	free(ids);
	free(res);
	free(map);
	return rc;
}

static int
pending(const struct target *t, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (t[i].state == T_PENDING)
			return 1;
	return 0;
}

int
admin_queue_change(const struct sealpost_config *cfg,
    enum queue_admin_op op, char **ids, int nids)
{
	struct target *t = xcalloc((size_t)nids, sizeof(*t));
	char last[ADMIN_ERR_MAX] = "", safe[64];
	uint64_t deadline = util_now_ms() + ADMIN_CHANGE_WAIT_MS;
	int i, rc = EX_OK, fail_code = EX_UNAVAILABLE, unknown = 0, failed = 0;

	for (i = 0; i < nids; i++) {
		t[i].id = ids[i];
		if (strcmp(ids[i], "ALL") == 0) {
			if (nids != 1) {
				fprintf(stderr, "sealpost: ALL stands alone\n");
				free(t);
				return EX_USAGE;
			}
		} else if (queue_id_valid(ids[i]) < 0) {
			fprintf(stderr, "sealpost: %s: not a queue ID\n",
			    util_printable(ids[i], strlen(ids[i]), safe,
			    sizeof(safe)));
			t[i].state = T_UNKNOWN;
			unknown = 1;
		}
	}
	while (pending(t, nids)) {
		int drc = directly(cfg, op, t, nids, &fail_code);

		if (drc <= 0)
			break;
		for (i = 0; i < nids; i++)
			if (t[i].state == T_PENDING)
				via_daemon(cfg, op, &t[i], last, sizeof(last),
				    &fail_code);
		if (!pending(t, nids))
			break;
		if (util_now_ms() >= deadline) {
			for (i = 0; i < nids; i++)
				if (t[i].state == T_PENDING) {
					fprintf(stderr, "sealpost: %s: %s\n",
					    t[i].id, last[0] ? last :
					    "the daemon did not answer");
					t[i].state = T_FAILED;
					failed = 1;
				}
			break;
		}
		sleep_ms(ADMIN_RETRY_MS);
	}
	for (i = 0; i < nids; i++) {
		switch (t[i].state) {
		case T_DONE:
			if (strcmp(t[i].id, "ALL") == 0)
				printf("%zu message%s %s\n", t[i].count,
				    t[i].count == 1 ? "" : "s",
				    op_done_words[op]);
			else
				printf("%s: %s\n", t[i].id, op_done_words[op]);
			break;
		case T_UNKNOWN:
			if (queue_id_valid(t[i].id) == 0)
				fprintf(stderr, "sealpost: %s: no such message "
				    "in the queue\n", t[i].id);
			unknown = 1;
			break;
		case T_FAILED:		/* reported when it happened */
			failed = 1;
			break;
		case T_PENDING:
			break;
		}
	}
	if (failed)
		rc = fail_code;
	else if (unknown)
		rc = EX_NOINPUT;
	free(t);
	if (fflush(stdout) != 0 && rc == EX_OK)
		rc = EX_IOERR;
	return rc;
}
