/*
 * queue_admin.c - delete, hold, release and requeue for command-line
 * tools, applied straight to the spool while the daemon is not running.
 *
 * While sealpostd runs, the queue belongs to its queue manager: changes
 * go through the control socket (qmgr_control.c, qmgr_admin.c) so that
 * memory and disk change together.  When it does not run, "sealpost
 * queue hold ..." lands here and changes queue.db with one short sqlite
 * transaction of its own (prepared statements from queue_store_sql.c).
 *
 * Who is running is decided by a lock, not by looking for the socket: the
 * daemon takes an exclusive flock on spool/sealpostd.lock before it binds
 * the control socket and reads the queue (qmgr_control_start) and drops it
 * only after the socket is gone.  We take the same lock without waiting
 * and hold it for the whole transaction, so a daemon that starts meanwhile
 * waits for our COMMIT before it reads the queue, and a daemon that is up
 * makes us use its socket instead.  sqlite's own locking (BEGIN IMMEDIATE
 * with a busy timeout) covers the last commits of a daemon that is
 * stopping.
 *
 * Maildrop files (messages sendmail handed over that no daemon imported
 * yet) are part of the queue too.  DELETE unlinks the file; HOLD, RELEASE
 * and REQUEUE import it into the database first, exactly as the daemon
 * would (same parser, INSERT OR IGNORE by queue ID, unlink after COMMIT),
 * and change it there.  Deleting unlinks before COMMIT: a crash in between
 * leaves the message in the database, where a second delete finds it; the
 * other order could resurrect a deleted message from its maildrop copy.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "queue.h"
#include "queue_int.h"

#define ADMIN_LOCK_POLL_MS	20	/* retry interval while waiting */
#define ADMIN_PATH_MAX		4096
#define ADMIN_LOCK_MODE		0600

static const char *const admin_op_names[] = {
	[QUEUE_ADMIN_DELETE] = "DELETE",
	[QUEUE_ADMIN_HOLD] = "HOLD",
	[QUEUE_ADMIN_RELEASE] = "RELEASE",
	[QUEUE_ADMIN_REQUEUE] = "REQUEUE",
};

const char *
queue_admin_op_name(enum queue_admin_op op)
{
	if ((unsigned)op >= sizeof(admin_op_names) / sizeof(admin_op_names[0]))
		return NULL;
	return admin_op_names[op];
}

int
queue_admin_op_parse(const char *s, enum queue_admin_op *op)
{
	size_t i;

	for (i = 0; i < sizeof(admin_op_names) / sizeof(admin_op_names[0]); i++)
		if (util_strcasecmp(s, admin_op_names[i]) == 0) {
			*op = (enum queue_admin_op)i;
			return 0;
		}
	return -1;
}

size_t
queue_admin_change(struct queue_msg *m, enum queue_admin_op op,
    const unsigned char *skip, unsigned char *changed)
{
	size_t i, n = 0;

	switch (op) {
	case QUEUE_ADMIN_HOLD:
		if (m->flags & QUEUE_MSG_HOLD)
			return 0;
		m->flags |= QUEUE_MSG_HOLD;
		return 1;
	case QUEUE_ADMIN_RELEASE:
		if (!(m->flags & QUEUE_MSG_HOLD))
			return 0;
		m->flags &= ~QUEUE_MSG_HOLD;
		return 1;
	case QUEUE_ADMIN_REQUEUE:
		for (i = 0; i < m->nrcpt; i++) {
			struct queue_rcpt *r = &m->rcpt[i];

			if (changed)
				changed[i] = 0;
			if (r->state != QUEUE_RCPT_PENDING || (skip && skip[i]))
				continue;
			if (r->next_try == 0 && r->attempts == 0)
				continue;
			r->next_try = 0;
			r->attempts = 0;
			if (changed)
				changed[i] = 1;
			n++;
		}
		return n;
	case QUEUE_ADMIN_DELETE:
		break;
	}
	return 0;
}

/* ---- the lock ----------------------------------------------------------- */

int
queue_admin_lock(const char *spool_dir, unsigned wait_ms, char *err,
    size_t errlen)
{
	char path[ADMIN_PATH_MAX];
	unsigned waited = 0;
	struct stat st;
	int fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", spool_dir,
	    QUEUE_ADMIN_LOCK_NAME) >= sizeof(path)) {
		snprintf(err, errlen, "spool directory name too long");
		errno = ENAMETOOLONG;
		return -1;
	}
	/* Mode 0600: anyone who can open it can lock it, and a lock held by
	 * a stranger would keep the daemon from starting.  Read-only is
	 * enough for flock(2). */
	fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    ADMIN_LOCK_MODE);
	if (fd < 0) {
		int e = errno;

		snprintf(err, errlen, "%s: %s", path, strerror(e));
		errno = e;
		return -1;
	}
	if (fstat(fd, &st) == 0) {
		struct stat sp;

		/* root made it: it belongs to the spool's owner, the daemon's
		 * user, who must be able to open it after dropping root */
		if (geteuid() == 0 && stat(spool_dir, &sp) == 0 &&
		    (st.st_uid != sp.st_uid || st.st_gid != sp.st_gid))
			(void)fchown(fd, sp.st_uid, sp.st_gid);
		if ((st.st_mode & 07777) != ADMIN_LOCK_MODE &&
		    (st.st_uid == geteuid() || geteuid() == 0))
			(void)fchmod(fd, ADMIN_LOCK_MODE);
	}
	for (;;) {
		struct timespec ts = { 0, ADMIN_LOCK_POLL_MS * 1000000L };

		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return fd;
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK || waited >= wait_ms) {
			int e = errno;

			if (e == EWOULDBLOCK)
				snprintf(err, errlen, "%s is locked: the daemon "
				    "is running", path);
			else
				snprintf(err, errlen, "lock %s: %s", path,
				    strerror(e));
			close(fd);
			errno = e;
			return -1;
		}
		nanosleep(&ts, NULL);
		waited += ADMIN_LOCK_POLL_MS;
	}
}

/* ---- applying changes without the daemon ---------------------------------- */

struct admin_ctx {
	struct queue_sql q;
	int              have_db;
	int              dfd;		/* spool/maildrop, -1 if missing */
	enum queue_admin_op op;
	char           **unlink_after;	/* imported drop files */
	size_t           nunlink, aunlink;
	int              touched_drop;	/* fsync the maildrop at the end */
};

/* A drop file named qid, parsed and checked as the importer does; NULL
 * if there is none or it is not a valid message (left for the daemon,
 * which moves it to corrupt/). */
static struct queue_msg *
admin_read_drop(int dfd, const char *qid)
{
	char perr[256];
	struct queue_msg *m;
	size_t len;
	char *buf;

	if (dfd < 0 || (buf = queue_drop_read(dfd, qid, &len)) == NULL)
		return NULL;
	m = queue_drop_parse(buf, len, perr, sizeof(perr));
	free(buf);
	if (m != NULL && strcmp(m->qid, qid) != 0) {
		queue_msg_free(m);
		m = NULL;
	}
	if (m != NULL && m->arrival > util_wall_time())
		m->arrival = util_wall_time();
	return m;
}

static int
admin_drop_exists(int dfd, const char *qid)
{
	struct stat st;

	return dfd >= 0 && fstatat(dfd, qid, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(st.st_mode);
}

static int
admin_fail(struct admin_ctx *c, char *err, size_t errlen, const char *qid,
    const char *what)
{
	snprintf(err, errlen, "%s: %s: %s", qid, what,
	    c->have_db && sqlite3_errcode(c->q.db) != SQLITE_OK ?
	    queue_sql_errmsg(&c->q) : "no such message or recipient");
	return -1;
}

/* A message only in the maildrop: DELETE unlinks it, the rest import it. */
static int
admin_one_drop(struct admin_ctx *c, const char *qid, char *err,
    size_t errlen)
{
	struct queue_msg *m;
	int inserted;

	if (c->op == QUEUE_ADMIN_DELETE) {
		if (unlinkat(c->dfd, qid, 0) < 0) {
			if (errno == ENOENT)
				return 1;
			snprintf(err, errlen, "%s: remove maildrop file: %s",
			    qid, strerror(errno));
			return -1;
		}
		c->touched_drop = 1;
		return 0;
	}
	if ((m = admin_read_drop(c->dfd, qid)) == NULL)
		return 1;
	if (!c->have_db) {
		queue_msg_free(m);
		snprintf(err, errlen, "%s: still in the maildrop and there is "
		    "no queue database yet; start the daemon once, or delete it",
		    qid);
		return -1;
	}
	(void)queue_admin_change(m, c->op, NULL, NULL);
	if (queue_sql_insert(&c->q, m, 1, &inserted) < 0) {
		queue_msg_free(m);
		return admin_fail(c, err, errlen, qid, "import from the maildrop");
	}
	queue_msg_free(m);
	if (c->nunlink == c->aunlink) {
		c->aunlink = c->aunlink ? c->aunlink * 2 : 16;
		c->unlink_after = xrealloc(c->unlink_after,
		    c->aunlink * sizeof(*c->unlink_after));
	}
	c->unlink_after[c->nunlink++] = xstrdup(qid);
	return 0;
}

/* 0 done, 1 no such message, -1 error (err set; the caller rolls back). */
static int
admin_one(struct admin_ctx *c, const char *qid, char *err, size_t errlen)
{
	struct queue_msg *m = NULL;
	unsigned char *changed = NULL;
	size_t i;
	int rc = 0;

	if (queue_id_valid(qid) < 0)
		return 1;
	if (c->have_db)
		m = queue_sql_load(&c->q, qid, 0);
	if (m == NULL)
		return admin_one_drop(c, qid, err, errlen);
	switch (c->op) {
	case QUEUE_ADMIN_DELETE:
		if (queue_sql_delete(&c->q, qid) < 0)
			rc = admin_fail(c, err, errlen, qid, "delete");
		/* imported but not yet unlinked when the daemon stopped */
		else if (admin_drop_exists(c->dfd, qid) &&
		    unlinkat(c->dfd, qid, 0) == 0)
			c->touched_drop = 1;
		break;
	case QUEUE_ADMIN_HOLD:
	case QUEUE_ADMIN_RELEASE:
		if (queue_admin_change(m, c->op, NULL, NULL) > 0 &&
		    queue_sql_set_flags(&c->q, qid, m->flags) < 0)
			rc = admin_fail(c, err, errlen, qid, "flag update");
		break;
	case QUEUE_ADMIN_REQUEUE:
		changed = xcalloc(m->nrcpt ? m->nrcpt : 1, 1);
		(void)queue_admin_change(m, c->op, NULL, changed);
		for (i = 0; i < m->nrcpt && rc == 0; i++)
			if (changed[i] && queue_sql_update_rcpt(&c->q, qid, i,
			    &m->rcpt[i]) < 0)
				rc = admin_fail(c, err, errlen, qid,
				    "recipient update");
		free(changed);
		break;
	}
	queue_msg_free(m);
	return rc;
}

/* ---- "ALL": every queue ID in the database and the maildrop ---------------- */

struct id_list {
	char  (*v)[QUEUE_ID_LEN + 1];
	size_t n, a;
};

static void
id_add(struct id_list *l, const char *qid)
{
	if (l->n == l->a) {
		l->a = l->a ? l->a * 2 : 64;
		l->v = xrealloc(l->v, l->a * sizeof(*l->v));
	}
	snprintf(l->v[l->n++], QUEUE_ID_LEN + 1, "%s", qid);
}

static void
id_from_scan(void *arg, struct queue_msg *m)
{
	id_add(arg, m->qid);
	queue_msg_free(m);
}

static int
id_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

static int
admin_all_ids(struct admin_ctx *c, struct id_list *l, char *err,
    size_t errlen)
{
	size_t i, j;

	if (c->have_db && queue_sql_scan(&c->q, id_from_scan, l) < 0) {
		snprintf(err, errlen, "read the queue: %s",
		    queue_sql_errmsg(&c->q));
		return -1;
	}
	if (c->dfd >= 0) {
		int fd = dup(c->dfd);
		DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
		struct dirent *de;

		if (d == NULL) {
			snprintf(err, errlen, "list the maildrop: %s",
			    strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		rewinddir(d);
		while ((de = readdir(d)) != NULL)
			if (queue_id_valid(de->d_name) == 0)
				id_add(l, de->d_name);
		closedir(d);
	}
	if (l->n == 0)
		return 0;
	qsort(l->v, l->n, sizeof(*l->v), id_cmp);
	for (i = 1, j = 1; i < l->n; i++)	/* in both: once */
		if (strcmp(l->v[i], l->v[j - 1]) != 0)
			memcpy(l->v[j++], l->v[i], QUEUE_ID_LEN + 1);
	l->n = j;
	return 0;
}

static void
admin_close(struct admin_ctx *c)
{
	size_t i;

	if (c->have_db)
		queue_sql_close(&c->q);
	if (c->dfd >= 0)
		close(c->dfd);
	for (i = 0; i < c->nunlink; i++)
		free(c->unlink_after[i]);
	free(c->unlink_after);
}

int
queue_admin_apply(const char *spool_dir, enum queue_admin_op op,
    const char *const *qids, size_t n, int *res, size_t *count,
    char *err, size_t errlen)
{
	struct admin_ctx c;
	struct id_list all = { NULL, 0, 0 };
	char path[ADMIN_PATH_MAX], drop[ADMIN_PATH_MAX];
	struct stat st;
	size_t i;
	int lock, rc = 0;

	*count = 0;
	for (i = 0; res && i < n; i++)
		res[i] = QUEUE_ADMIN_UNKNOWN;
	if (queue_admin_op_name(op) == NULL) {
		snprintf(err, errlen, "unknown queue operation");
		return -1;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/queue.db", spool_dir) >=
	    sizeof(path) || (size_t)snprintf(drop, sizeof(drop),
	    "%s/maildrop", spool_dir) >= sizeof(drop)) {
		snprintf(err, errlen, "spool directory name too long");
		return -1;
	}
	if ((lock = queue_admin_lock(spool_dir, 0, err, errlen)) < 0)
		return errno == EWOULDBLOCK ? QUEUE_ADMIN_BUSY : -1;

	memset(&c, 0, sizeof(c));
	c.op = op;
	c.dfd = open(drop, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c.dfd < 0 && errno != ENOENT) {
		snprintf(err, errlen, "%s: %s", drop, strerror(errno));
		close(lock);
		return -1;
	}
	if (stat(path, &st) == 0) {
		/* never create it here: its owner must be the daemon's user */
		if (queue_sql_open(&c.q, path, 0, err, errlen) < 0) {
			admin_close(&c);
			close(lock);
			return -1;
		}
		c.have_db = 1;
	} else if (errno != ENOENT) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		admin_close(&c);
		close(lock);
		return -1;
	}
	if (qids == NULL) {
		if (admin_all_ids(&c, &all, err, errlen) < 0) {
			free(all.v);
			admin_close(&c);
			close(lock);
			return -1;
		}
		n = all.n;
	}
	if (c.have_db && queue_sql_step(&c.q, c.q.begin) < 0) {
		snprintf(err, errlen, "begin: %s", queue_sql_errmsg(&c.q));
		rc = -1;
	}
	for (i = 0; i < n && rc == 0; i++) {
		const char *qid = qids ? qids[i] : all.v[i];
		int r = admin_one(&c, qid, err, errlen);

		if (r < 0)
			rc = -1;
		else if (r == 0) {
			(*count)++;
			if (res && qids)
				res[i] = QUEUE_ADMIN_DONE;
		}
	}
	if (c.have_db && rc == 0 && queue_sql_step(&c.q, c.q.commit) < 0) {
		snprintf(err, errlen, "commit: %s", queue_sql_errmsg(&c.q));
		rc = -1;
	}
	if (rc < 0) {
		if (c.have_db && !sqlite3_get_autocommit(c.q.db))
			(void)queue_sql_step(&c.q, c.q.rollback);
		*count = 0;
		for (i = 0; res && qids && i < n; i++)
			res[i] = QUEUE_ADMIN_UNKNOWN;
	} else {
		/* imported copies: only now, after COMMIT, may they go */
		for (i = 0; i < c.nunlink; i++)
			if (unlinkat(c.dfd, c.unlink_after[i], 0) == 0)
				c.touched_drop = 1;
	}
	if (c.touched_drop)
		(void)util_fsync_dir(drop);
	free(all.v);
	admin_close(&c);
	close(lock);
	return rc;
}

/* ---- reading one message for "show" ---------------------------------------- */

int
queue_admin_load(const char *spool_dir, const char *qid,
    struct queue_msg **out, int *in_maildrop, char *err, size_t errlen)
{
	char path[ADMIN_PATH_MAX];
	struct queue_sql q;
	struct stat st;
	int dfd;

	*out = NULL;
	*in_maildrop = 0;
	if (queue_id_valid(qid) < 0)
		return 1;
	if ((size_t)snprintf(path, sizeof(path), "%s/queue.db", spool_dir) >=
	    sizeof(path)) {
		snprintf(err, errlen, "spool directory name too long");
		return -1;
	}
	if (stat(path, &st) == 0) {
		if (queue_sql_open(&q, path, 1, err, errlen) < 0)
			return -1;
		if (!q.empty)
			*out = queue_sql_load(&q, qid, 1);
		queue_sql_close(&q);
		if (*out != NULL)
			return 0;
	} else if (errno != ENOENT) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/maildrop", spool_dir);
	if ((dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			return 1;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	*out = admin_read_drop(dfd, qid);
	close(dfd);
	if (*out == NULL)
		return 1;
	(*out)->size = (*out)->body_len;
	*in_maildrop = 1;
	return 0;
}

int
queue_admin_list_maildrop(const char *spool_dir,
    void (*cb)(void *arg, const struct queue_msg *m), void *arg,
    char *err, size_t errlen)
{
	char path[ADMIN_PATH_MAX];
	struct dirent *de;
	DIR *d;

	if ((size_t)snprintf(path, sizeof(path), "%s/maildrop", spool_dir) >=
	    sizeof(path)) {
		snprintf(err, errlen, "spool directory name too long");
		return -1;
	}
	if ((d = opendir(path)) == NULL) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		struct queue_msg *m;

		if (queue_id_valid(de->d_name) < 0)
			continue;	/* temporary files, dot entries */
		if ((m = admin_read_drop(dirfd(d), de->d_name)) == NULL)
			continue;	/* imported meanwhile, or invalid */
		m->size = m->body_len;
		cb(arg, m);
		queue_msg_free(m);
	}
	closedir(d);
	return 0;
}
