/*
 * queue_drop_file.c - writing and reading maildrop files.
 *
 * Writer (sealpost-postdrop, running with the drop group): the image goes
 * to a temporary "tmp.XXXXXX" file in the maildrop, is fsync'd, then
 * renamed to its queue ID without replacing anything, and the directory
 * is fsync'd.  So a file named by a queue ID is always complete, and once
 * queue_drop_write returns 0 it survives a crash.  The importer skips
 * temporary names; a crash mid-write leaves a tmp file behind which the
 * importer removes once it is old (see queue_store_import.c).
 *
 * Reader (the daemon): opens without following symlinks, insists on a
 * regular file and reads at most QUEUE_DROP_MAX + 1 bytes whatever
 * fstat claims, since the writer is an untrusted user who may still hold
 * the file open.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue.h"
#include "queue_int.h"

#define DROP_TEMP_PREFIX	"tmp."
/* Owner (the submitting user) and the drop group may read: the daemon
 * reads through the group or as root; other users may not. */
#define DROP_FILE_MODE		0640

int
queue_drop_is_temp(const char *name)
{
	return strncmp(name, DROP_TEMP_PREFIX, strlen(DROP_TEMP_PREFIX)) == 0;
}

static int
drop_write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* rename(2) that refuses to replace an existing file.  Falls back to
 * link+unlink where the filesystem lacks RENAME_NOREPLACE. */
static int
drop_rename_noreplace(const char *from, const char *to)
{
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	if (link(from, to) < 0)
		return -1;
	(void)unlink(from);
	return 0;
}

int
queue_drop_write(const char *dir, const struct queue_msg *m, char *err,
    size_t errlen)
{
	char tmp[4096], final[4096];
	char *img = NULL;
	size_t len;
	int fd = -1, n;
	const char *what;

	if (queue_drop_check(m, err, errlen) < 0)
		return -1;
	n = snprintf(tmp, sizeof(tmp), "%s/" DROP_TEMP_PREFIX "XXXXXX", dir);
	if (n < 0 || (size_t)n >= sizeof(tmp) ||
	    snprintf(final, sizeof(final), "%s/%s", dir, m->qid) >=
	    (int)sizeof(final)) {
		snprintf(err, errlen, "maildrop path too long");
		return -1;
	}
	img = queue_drop_format(m, &len);
	if (len > QUEUE_DROP_MAX) {
		snprintf(err, errlen, "message too big for the maildrop "
		    "(%zu > %u bytes)", len, QUEUE_DROP_MAX);
		free(img);
		return -1;
	}
	what = "create temporary file";
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
		tmp[0] = '\0';
		goto fail;
	}
	what = "chmod";
	if (fchmod(fd, DROP_FILE_MODE) < 0)
		goto fail;
	what = "write";
	if (drop_write_all(fd, img, len) < 0)
		goto fail;
	what = "fsync";
	if (fsync(fd) < 0)
		goto fail;
	what = "close";
	n = close(fd);
	fd = -1;
	if (n < 0)
		goto fail;
	what = "rename";
	if (drop_rename_noreplace(tmp, final) < 0)
		goto fail;
	tmp[0] = '\0';
	free(img);
	img = NULL;
	/* Past the rename the file is visible and may already be imported;
	 * if this fsync fails we must say so, but removing the file could
	 * lose a message the daemon has taken - a possible duplicate is
	 * the lesser harm (RFC 5321 6.1). */
	what = "fsync directory";
	if (util_fsync_dir(dir) < 0)
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "maildrop %s %s: %s", what, dir, strerror(errno));
	if (fd >= 0)
		close(fd);
	if (tmp[0] != '\0')
		(void)unlink(tmp);
	free(img);
	return -1;
}

char *
queue_drop_read(int dirfd, const char *name, size_t *len)
{
	struct stat st;
	char *buf = NULL;
	size_t cap, got = 0;
	int fd, saved;

	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0)
		goto fail;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		goto fail;
	}
	if (st.st_size > (off_t)QUEUE_DROP_MAX) {
		errno = EFBIG;
		goto fail;
	}
	/* Trust st_size only as a first guess; the file may still grow. */
	cap = (size_t)st.st_size + 1;
	buf = xmalloc(cap + 1);
	for (;;) {
		ssize_t r;

		if (got == cap) {
			if (cap > QUEUE_DROP_MAX) {
				errno = EFBIG;
				goto fail;
			}
			cap = cap * 2 > (size_t)QUEUE_DROP_MAX + 1 ?
			    (size_t)QUEUE_DROP_MAX + 1 : cap * 2;
			buf = xrealloc(buf, cap + 1);
		}
		r = read(fd, buf + got, cap - got);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	buf[got] = '\0';
	*len = got;
	return buf;
fail:
	saved = errno;
	close(fd);
	free(buf);
	errno = saved;
	return NULL;
}
