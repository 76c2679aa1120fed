/*
 * postdrop_main.c - sealpost-postdrop, the maildrop writer.
 *
 * The only program that runs with more rights than its caller on the
 * submission path: in production it is setgid "sealpost-drop", the group
 * that may create files in spool/maildrop (mode 1730, owner the daemon
 * user), so a local user can queue mail without being able to read,
 * change or remove anyone else's.  Postfix's postdrop is the model, and
 * so is its rule: do little, trust nothing.  The sendmail command has
 * already parsed headers and addresses as the user; here we
 *
 *   1. make fds 0-2 safe, and, when privileged, refuse a non-default
 *      config from anyone but root and clear the environment;
 *   2. pick the queue ID ourselves and tell the caller ("QID\n" on
 *      stdout), so a user cannot choose an ID that shadows another
 *      message in the daemon's import;
 *   3. read the drop image from stdin (at most QUEUE_DROP_MAX bytes),
 *      parse it with the hostile-input parser, insist on our ID, and
 *      stamp our own arrival time;
 *   4. write it durably (temp file, fsync, rename, directory fsync)
 *      with termination signals blocked, log who sent it;
 *   5. poke the daemon ("WAKEUP\n", non-blocking, failures ignored:
 *      the daemon also watches and rescans the maildrop).
 *
 * Exit EX_OK only after step 4; EX_TEMPFAIL when the write fails (disk
 * full, I/O error, permissions), EX_DATAERR for a bad image, EX_NOPERM
 * for a refused -C, EX_CONFIG for a bad config.  Without privileges
 * (trial mode, no root anywhere) the same code runs as the user and
 * creates the maildrop if it is missing.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sysexits.h>
#include <unistd.h>
#include <pwd.h>

#include "config.h"
#include "queue.h"

#define POSTDROP_NAME		"sealpost-postdrop"
#define POSTDROP_PATH_MAX	1024
#define POSTDROP_CHUNK		65536

static int postdrop_syslog;

static int postdrop_fail(int rc, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* One line for the user (stderr, relayed by sendmail) and the log. */
static int
postdrop_fail(int rc, const char *fmt, ...)
{
	char line[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s\n", POSTDROP_NAME, line);
	if (postdrop_syslog)
		log_warn("%s", line);
	return rc;
}

/* A setgid program must not write its files onto a closed fd 2. */
static void
postdrop_sane_fds(void)
{
	int fd;

	for (fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) < 0 &&
		    open("/dev/null", O_RDWR) != fd)
			_exit(EX_OSERR);
}

static void
postdrop_wakeup(const char *spool)
{
	struct sockaddr_un sa;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path),
	    "%s/sealpostd.sock", spool) >= sizeof(sa.sun_path))
		return;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		(void)send(fd, "WAKEUP\n", 7, MSG_NOSIGNAL | MSG_DONTWAIT);
	close(fd);
}

/* The image, bounded; NULL when it is too big or unreadable. */
static char *
postdrop_read(size_t *len, int *toobig)
{
	struct dynbuf b;
	char *chunk = xmalloc(POSTDROP_CHUNK);

	*toobig = 0;
	dynbuf_init(&b, QUEUE_DROP_MAX);
	for (;;) {
		ssize_t n = read(STDIN_FILENO, chunk, POSTDROP_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			break;
		if (n < 0 || dynbuf_add(&b, chunk, (size_t)n) < 0) {
			*toobig = n > 0;
			free(chunk);
			dynbuf_free(&b);
			return NULL;
		}
	}
	free(chunk);
	return dynbuf_take(&b, len);
}

int
main(int argc, char *argv[])
{
	const char *config = NULL;
	struct sealpost_config *cfg = NULL;
	char err[512], qid[QUEUE_ID_LEN + 2], dir[POSTDROP_PATH_MAX + 16];
	struct queue_msg *m = NULL;
	struct passwd *daemon_pw;
	sigset_t block, old;
	uid_t uid = getuid();
	int privileged, toobig, trusted, rc = EX_SOFTWARE;
	size_t len;
	char *image;

	postdrop_sane_fds();
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);	/* a user's RLIMIT_FSIZE: EFBIG, not death */
	umask(077);
	privileged = uid != geteuid() || getgid() != getegid();

	if (argc == 3 && strcmp(argv[1], "-C") == 0 &&
	    strlen(argv[2]) > 0 && strlen(argv[2]) <= POSTDROP_PATH_MAX)
		config = argv[2];
	else if (argc != 1)
		return postdrop_fail(EX_USAGE, "usage: %s [-C config]",
		    POSTDROP_NAME);
	if (config == NULL && !privileged)
		config = getenv(CFG_ENV_PATH);
	/* With privileges, another config means another spool: only root
	 * may point us elsewhere (Postfix: alternate_config_directories). */
	if (privileged && uid != 0 && config != NULL &&
	    strcmp(config, CFG_DEFAULT_PATH) != 0)
		return postdrop_fail(EX_NOPERM, "-C %s refused: only root may "
		    "use another configuration with this program", config);
	if (privileged) {
		clearenv();
		if (config == NULL)
			config = CFG_DEFAULT_PATH;	/* not $SEALPOST_CONFIG */
	}

	if ((cfg = cfg_load(config, err, sizeof(err))) == NULL)
		return postdrop_fail(EX_CONFIG, "%s", err);
	postdrop_syslog = cfg->log_syslog;
	if (postdrop_syslog)
		util_log_open("sealpost/postdrop", 1);
	if ((size_t)snprintf(dir, sizeof(dir), "%s/maildrop",
	    cfg->spool_directory) >= sizeof(dir)) {
		rc = postdrop_fail(EX_CONFIG, "spool path too long");
		goto out;
	}
	if (!privileged)
		(void)util_mkdir_p(dir, 0700);	/* trial mode convenience */

	queue_id_new(qid);
	len = strlen(qid);
	qid[len] = '\n';
	if (write(STDOUT_FILENO, qid, len + 1) != (ssize_t)(len + 1)) {
		rc = postdrop_fail(EX_TEMPFAIL, "cannot talk to sendmail: %s",
		    strerror(errno));
		goto out;
	}
	qid[len] = '\0';

	if ((image = postdrop_read(&len, &toobig)) == NULL) {
		rc = toobig ? postdrop_fail(EX_DATAERR, "message too large") :
		    postdrop_fail(EX_TEMPFAIL, "reading the message: %s",
		    strerror(errno));
		goto out;
	}
	m = queue_drop_parse(image, len, err, sizeof(err));
	free(image);
	if (m == NULL) {
		rc = postdrop_fail(EX_DATAERR, "bad drop image: %s", err);
		goto out;
	}
	if (strcmp(m->qid, qid) != 0) {
		rc = postdrop_fail(EX_DATAERR, "bad drop image: queue ID %s "
		    "is not the one assigned (%s)", m->qid, qid);
		goto out;
	}
	m->arrival = util_wall_time();

	sigemptyset(&block);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGQUIT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGTSTP);
	sigprocmask(SIG_BLOCK, &block, &old);
	if (queue_drop_write(dir, m, err, sizeof(err)) < 0) {
		/* Whatever the cause (ENOSPC, EIO, EACCES), the message is
		 * not accepted and trying again later may work. */
		rc = postdrop_fail(EX_TEMPFAIL, "message not accepted: %s",
		    err);
		goto out;
	}
	sigprocmask(SIG_SETMASK, &old, NULL);

	/* The sender is the user's claim; the real uid is the fact.  Root
	 * and the daemon's own user speak for the system. */
	daemon_pw = (cfg->run_user != NULL && cfg->run_user[0] != '\0') ?
	    getpwnam(cfg->run_user) : NULL;
	trusted = uid == 0 || (daemon_pw != NULL && daemon_pw->pw_uid == uid);
	if (postdrop_syslog) {
		char who[QUEUE_ADDR_MAX + 4];

		util_printable(m->sender, strlen(m->sender), who, sizeof(who));
		if (trusted)
			log_info("%s: from=<%s> nrcpt=%zu size=%zu", m->qid, who,
			    m->nrcpt, m->body_len);
		else
			log_info("%s: uid=%ld from=<%s> nrcpt=%zu size=%zu",
			    m->qid, (long)uid, who, m->nrcpt, m->body_len);
	}
	postdrop_wakeup(cfg->spool_directory);
	rc = EX_OK;
out:
	queue_msg_free(m);
	cfg_free(cfg);
	return rc;
}
