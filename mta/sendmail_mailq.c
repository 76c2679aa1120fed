/*
 * sendmail_mailq.c - mailq / sendmail -bp, in Postfix's format.
 *
 * People and scripts parse mailq output, so we print what Postfix
 * prints: a header line, one block per message (ID with '!' when held,
 * size, arrival, sender, then the pending recipients, each preceded by
 * its last deferral reason in parentheses when that changes), and a
 * total.  Queue IDs are 16 characters here, so the columns are wider
 * than Postfix's short IDs; scripts split on white space anyway.
 *
 * Two sources: the spool database (queue_list_read) and files still
 * waiting in the maildrop for the daemon to import them.  A message in
 * both (imported, not yet unlinked) is listed once.  Maildrop files come
 * from users, so each is read with a size cap and parsed with the
 * hostile-input parser; a bad one is skipped with a warning.  Ordinary
 * users may lack permission to read either; that is reported, not fatal.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "queue.h"
#include "sendmail.h"

#define MAILQ_REASON_MAX	200	/* reason text shown per recipient */
#define MAILQ_INDENT		"                                                "

struct mailq_state {
	FILE   *out;
	size_t  nmsg;
	uint64_t bytes;
	char  (*seen)[QUEUE_ID_LEN + 1];	/* IDs listed from the database */
	size_t  nseen, aseen;
	int     header_done;
};

static void
mailq_header(struct mailq_state *st)
{
	if (st->header_done)
		return;
	fprintf(st->out, "-Queue ID-        --Size-- ----Arrival Time---- "
	    "-Sender/Recipient-------\n");
	st->header_done = 1;
}

int
sendmail_mailq_entry(FILE *out, const struct queue_msg *m)
{
	char when[32], safe[MAILQ_REASON_MAX + 4];
	const char *last_reason = NULL;
	time_t t = (time_t)m->arrival;
	struct tm tm;
	size_t i, pending = 0;

	for (i = 0; i < m->nrcpt; i++)
		if (m->rcpt[i].state == QUEUE_RCPT_PENDING)
			pending++;
	if (pending == 0)
		return 0;
	localtime_r(&t, &tm);
	if (strftime(when, sizeof(when), "%a %b %e %H:%M:%S", &tm) == 0)
		when[0] = '\0';
	fprintf(out, "%-16s%c %8zu %-20s %s\n", m->qid,
	    (m->flags & QUEUE_MSG_HOLD) ? '!' : ' ', m->size, when,
	    m->sender[0] != '\0' ? util_printable(m->sender,
	    strlen(m->sender), safe, sizeof(safe)) : "MAILER-DAEMON");
	for (i = 0; i < m->nrcpt; i++) {
		const struct queue_rcpt *r = &m->rcpt[i];

		if (r->state != QUEUE_RCPT_PENDING)
			continue;
		if (r->reply != NULL && r->reply[0] != '\0' &&
		    (last_reason == NULL || strcmp(last_reason, r->reply) != 0)) {
			util_printable(r->reply, strlen(r->reply), safe,
			    sizeof(safe));
			fprintf(out, "(%s)\n", safe);
			last_reason = r->reply;
		}
		util_printable(r->addr, strlen(r->addr), safe, sizeof(safe));
		fprintf(out, MAILQ_INDENT "%s\n", safe);
	}
	fputc('\n', out);
	return 1;
}

static void
mailq_show(struct mailq_state *st, const struct queue_msg *m)
{
	size_t i;

	for (i = 0; i < m->nrcpt; i++)
		if (m->rcpt[i].state == QUEUE_RCPT_PENDING)
			break;
	if (i == m->nrcpt)
		return;		/* finished, only waiting to be removed */
	mailq_header(st);
	sendmail_mailq_entry(st->out, m);
	st->nmsg++;
	st->bytes += m->size;
}

static void
mailq_db_cb(void *arg, const struct queue_msg *m)
{
	struct mailq_state *st = arg;

	if (st->nseen == st->aseen) {
		st->aseen = st->aseen ? st->aseen * 2 : 64;
		st->seen = xrealloc(st->seen, st->aseen * sizeof(*st->seen));
	}
	memcpy(st->seen[st->nseen++], m->qid, QUEUE_ID_LEN + 1);
	mailq_show(st, m);
}

static int
mailq_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Read one maildrop file: no symlinks, regular files, bounded size. */
static char *
mailq_read_drop(int dirfd, const char *name, size_t *len)
{
	struct dynbuf b;
	char chunk[65536];
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
	    O_NONBLOCK);
	struct stat sb;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return NULL;
	}
	dynbuf_init(&b, QUEUE_DROP_MAX);
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || dynbuf_add(&b, chunk, (size_t)n) < 0) {
			if (n != 0) {
				dynbuf_free(&b);
				close(fd);
				return NULL;
			}
			break;
		}
	}
	close(fd);
	return dynbuf_take(&b, len);
}

static void
mailq_maildrop(struct mailq_state *st, const char *spool)
{
	char path[SENDMAIL_PATH_MAX + 16];
	DIR *dir;
	struct dirent *de;

	if ((size_t)snprintf(path, sizeof(path), "%s/maildrop", spool) >=
	    sizeof(path))
		return;
	if ((dir = opendir(path)) == NULL) {
		if (errno != ENOENT)
			fprintf(stderr, "mailq: cannot list %s: %s (messages "
			    "not yet picked up are not shown)\n", path,
			    strerror(errno));
		return;
	}
	if (st->nseen > 0)
		qsort(st->seen, st->nseen, sizeof(*st->seen), mailq_cmp);
	while ((de = readdir(dir)) != NULL) {
		char err[256];
		struct queue_msg *m;
		size_t len;
		char *img;

		if (queue_id_valid(de->d_name) < 0)
			continue;	/* temporary files, dot entries */
		if (st->nseen > 0 && bsearch(de->d_name, st->seen, st->nseen,
		    sizeof(*st->seen), mailq_cmp) != NULL)
			continue;
		if ((img = mailq_read_drop(dirfd(dir), de->d_name, &len)) ==
		    NULL)
			continue;	/* gone meanwhile, or unreadable */
		m = queue_drop_parse(img, len, err, sizeof(err));
		free(img);
		if (m == NULL) {
			fprintf(stderr, "mailq: %s/%s: %s\n", path, de->d_name,
			    err);
			continue;
		}
		m->size = m->body_len;
		mailq_show(st, m);
		queue_msg_free(m);
	}
	closedir(dir);
}

int
sendmail_mailq(const struct sealpost_config *cfg, FILE *out)
{
	struct mailq_state st;
	char err[256];
	int rc = EX_OK;

	memset(&st, 0, sizeof(st));
	st.out = out;
	if (queue_list_read(cfg->spool_directory, mailq_db_cb, &st, err,
	    sizeof(err)) < 0) {
		fprintf(stderr, "mailq: queue report unavailable: %s\n", err);
		rc = EX_UNAVAILABLE;
	}
	mailq_maildrop(&st, cfg->spool_directory);
	free(st.seen);
	if (st.nmsg == 0) {
		fprintf(out, "Mail queue is empty\n");
	} else {
		fprintf(out, "-- %llu Kbytes in %zu Request%s.\n",
		    (unsigned long long)((st.bytes + 1023) / 1024), st.nmsg,
		    st.nmsg == 1 ? "" : "s");
	}
	if (fflush(out) != 0)
		rc = EX_IOERR;
	return rc;
}
