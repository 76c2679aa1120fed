/*
 * queue_store_import.c - moving maildrop files into the database, on the
 * store thread.
 *
 * Crash safety rests on the queue ID: a drop file is named by its queue
 * ID and inserted with INSERT OR IGNORE, committed, and only then
 * unlinked.  A crash after COMMIT but before unlink leaves a file whose
 * queue ID is already in the database; the next import ignores the
 * insert and just removes the file, so nothing is lost or doubled.
 *
 * The files come from untrusted users: each is opened without following
 * symlinks, read with a size cap, parsed by queue_drop_parse, and must
 * carry the queue ID it is named after.  Anything else is moved to
 * spool/corrupt/ under a fresh name (never a name the user picked) for
 * the administrator, with one log line.  Arrival times in the future are
 * clamped to now so a user cannot stretch a message's queue lifetime.
 *
 * Work is done in batches (IMPORT_BATCH_FILES files or IMPORT_BATCH_BYTES
 * of bodies per commit) so a full maildrop neither holds every body in
 * memory at once nor makes one giant transaction.  Files are taken in
 * name order, which is queue ID order, which is submission order.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "queue.h"
#include "queue_int.h"

#define IMPORT_MAX_NAMES	100000	/* per run; the rest wait for the next */
#define IMPORT_BATCH_FILES	256
#define IMPORT_BATCH_BYTES	(128u * 1024 * 1024)
#define IMPORT_TEMP_MAX_AGE	(24 * 3600)	/* a writer died mid-file */

struct import_item {
	char             *name;
	struct queue_msg *m;
	int               inserted;
	int               failed;
};

struct import_ctx {
	struct queue_sql *q;
	const char       *drop_dir;
	int               dfd, cfd;
};

static void
import_corrupt(struct import_ctx *c, const char *name, const char *why)
{
	char safe[64], dest[QUEUE_ID_LEN + 1];

	util_printable(name, strlen(name), safe, sizeof(safe));
	queue_id_new(dest);
	if (renameat(c->dfd, name, c->cfd, dest) < 0) {
		log_error("maildrop file=%s is invalid (%s) and cannot be moved "
		    "to corrupt/: %s", safe, why, strerror(errno));
		return;
	}
	log_warn("maildrop file=%s invalid: %s; moved to corrupt/%s", safe, why,
	    dest);
}

/* Collect candidate names; removes stale temporary files on the way. */
static char **
import_list(struct import_ctx *c, size_t *count)
{
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	int fd;
	DIR *d;

	*count = 0;
	if ((fd = dup(c->dfd)) < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		log_error("maildrop %s: cannot list: %s", c->drop_dir,
		    strerror(errno));
		return NULL;
	}
	while (n < IMPORT_MAX_NAMES && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (queue_drop_is_temp(de->d_name)) {
			struct stat st;

			if (fstatat(c->dfd, de->d_name, &st,
			    AT_SYMLINK_NOFOLLOW) == 0 &&
			    st.st_mtime + IMPORT_TEMP_MAX_AGE < util_wall_time() &&
			    unlinkat(c->dfd, de->d_name, 0) == 0)
				log_info("maildrop: removed stale temporary file %s",
				    de->d_name);
			continue;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			names = xrealloc(names, cap * sizeof(*names));
		}
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	*count = n;
	return names;
}

static int
import_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Read and check one file; NULL if it is not to be imported now. */
static struct queue_msg *
import_load(struct import_ctx *c, const char *name)
{
	char err[256], why[300];
	struct queue_msg *m;
	size_t len;
	char *buf;

	if (queue_id_valid(name) < 0) {
		import_corrupt(c, name, "file name is not a queue id");
		return NULL;
	}
	if ((buf = queue_drop_read(c->dfd, name, &len)) == NULL) {
		if (errno == ENOENT)
			return NULL;	/* gone meanwhile */
		if (errno == EFBIG || errno == EINVAL || errno == ELOOP) {
			snprintf(why, sizeof(why), "read: %s", strerror(errno));
			import_corrupt(c, name, why);
		} else
			log_error("maildrop file=%s: read: %s", name,
			    strerror(errno));
		return NULL;
	}
	m = queue_drop_parse(buf, len, err, sizeof(err));
	free(buf);
	if (m == NULL) {
		import_corrupt(c, name, err);
		return NULL;
	}
	if (strcmp(m->qid, name) != 0) {
		snprintf(why, sizeof(why), "queue id %s does not match file name",
		    m->qid);
		import_corrupt(c, name, why);
		queue_msg_free(m);
		return NULL;
	}
	if (m->arrival > util_wall_time())
		m->arrival = util_wall_time();
	return m;
}

/* Insert items[0..n) in one transaction.  0 if committed. */
static int
import_commit(struct import_ctx *c, struct import_item *items, size_t n)
{
	struct queue_sql *q = c->q;
	size_t i;

	if (queue_sql_step(q, q->begin) < 0)
		goto fail;
	for (i = 0; i < n; i++) {
		if (queue_sql_step(q, q->savepoint) < 0)
			goto fail;
		if (queue_sql_insert(q, items[i].m, 1, &items[i].inserted) < 0) {
			log_error("%s: maildrop import insert failed: %s",
			    items[i].name, queue_sql_errmsg(q));
			items[i].failed = 1;
			if (queue_sql_step(q, q->rollback_to) < 0)
				goto fail;
		}
		if (queue_sql_step(q, q->release) < 0 ||
		    sqlite3_get_autocommit(q->db))
			goto fail;
	}
	if (queue_sql_step(q, q->commit) < 0)
		goto fail;
	return 0;
fail:
	log_error("maildrop import: commit of %zu messages failed: %s", n,
	    queue_sql_errmsg(q));
	if (!sqlite3_get_autocommit(q->db))
		(void)queue_sql_step(q, q->rollback);
	return -1;
}

/* After COMMIT: remove the files, make that durable, hand out messages. */
static void
import_finish(struct import_ctx *c, struct import_item *items, size_t n,
    struct queue_poster *p)
{
	char sender[80];
	size_t i;

	for (i = 0; i < n; i++)
		if (!items[i].failed && unlinkat(c->dfd, items[i].name, 0) < 0)
			log_error("%s: cannot remove maildrop file: %s",
			    items[i].name, strerror(errno));
	/* Not fatal if it fails: a resurrected file is ignored next time. */
	if (util_fsync_dir(c->drop_dir) < 0)
		log_error("maildrop %s: fsync: %s", c->drop_dir, strerror(errno));
	for (i = 0; i < n; i++) {
		struct queue_msg *m = items[i].m;

		items[i].m = NULL;
		if (!items[i].inserted) {
			if (!items[i].failed)
				log_info("%s: already in the queue, maildrop "
				    "copy removed", m->qid);
			queue_msg_free(m);
			continue;
		}
		util_printable(m->sender, strlen(m->sender), sender,
		    sizeof(sender));
		log_info("%s: from=<%s> size=%zu nrcpt=%zu (maildrop)", m->qid,
		    sender, m->body_len, m->nrcpt);
		queue_poster_add(p, m);
	}
}

void
queue_import_run(struct queue_sql *q, const char *spool_dir,
    struct queue_poster *p)
{
	struct import_ctx c = { q, NULL, -1, -1 };
	struct import_item *items;
	char drop[4096], corrupt[4096];
	char **names;
	size_t nnames, next = 0, i;

	snprintf(drop, sizeof(drop), "%s/maildrop", spool_dir);
	snprintf(corrupt, sizeof(corrupt), "%s/corrupt", spool_dir);
	c.drop_dir = drop;
	c.dfd = open(drop, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	c.cfd = open(corrupt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (c.dfd < 0 || c.cfd < 0) {
		log_error("maildrop import: cannot open %s: %s",
		    c.dfd < 0 ? drop : corrupt, strerror(errno));
		goto out;
	}
	names = import_list(&c, &nnames);
	if (names == NULL)
		goto out;
	qsort(names, nnames, sizeof(*names), import_cmp);
	items = xcalloc(IMPORT_BATCH_FILES, sizeof(*items));
	while (next < nnames) {
		size_t n = 0, bytes = 0;

		while (next < nnames && n < IMPORT_BATCH_FILES &&
		    bytes < IMPORT_BATCH_BYTES) {
			struct queue_msg *m = import_load(&c, names[next]);

			if (m != NULL) {
				memset(&items[n], 0, sizeof(items[n]));
				items[n].name = names[next];
				items[n].m = m;
				bytes += m->body_len;
				n++;
			}
			next++;
		}
		if (n > 0 && import_commit(&c, items, n) < 0) {
			/* disk trouble: leave the files for the next run */
			for (i = 0; i < n; i++)
				queue_msg_free(items[i].m);
			break;
		}
		if (n > 0)
			import_finish(&c, items, n, p);
	}
	free(items);
	for (i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
out:
	if (c.dfd >= 0)
		close(c.dfd);
	if (c.cfd >= 0)
		close(c.cfd);
}
