/*
 * sendmail_submit.c - hand a finished message to sealpost-postdrop.
 *
 * sendmail runs as the user and has no write access to the maildrop;
 * the helper does (setgid sealpost-drop in production), so it is kept
 * tiny and this side does the work.  The conversation over two pipes:
 *
 *   postdrop -> sendmail   "<queue ID>\n"   (the helper picks the ID)
 *   sendmail -> postdrop   the drop image, then EOF
 *   postdrop exit status   EX_OK only once the file is durable
 *
 * The helper picks the queue ID because the daemon imports maildrop
 * files by ID and ignores an ID it already has: an ID chosen by the
 * user could be used to shadow someone else's message.  We need the ID
 * before formatting because it goes into Received and Message-ID.
 *
 * The helper's path is $SEALPOST_POSTDROP (tests), else
 * "sealpost-postdrop" in the directory of /proc/self/exe.  Honouring
 * the environment is fine here: sendmail has no privileges to lose,
 * and the helper trusts nothing it is given.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "queue.h"
#include "sendmail.h"

#define SUBMIT_HELPER_NAME	"sealpost-postdrop"
#define SUBMIT_HELPER_ENV	"SEALPOST_POSTDROP"

static int
submit_fail(char *err, size_t errlen, int rc, const char *what)
{
	snprintf(err, errlen, "%s: %s", what, strerror(errno));
	return rc;
}

static int
submit_helper_path(char *out, size_t outlen, char *err, size_t errlen)
{
	const char *env = getenv(SUBMIT_HELPER_ENV);
	char self[PATH_MAX];
	ssize_t n;
	char *slash;

	if (env != NULL && env[0] != '\0') {
		if (strlen(env) >= outlen) {
			snprintf(err, errlen, "$%s too long", SUBMIT_HELPER_ENV);
			return -1;
		}
		memcpy(out, env, strlen(env) + 1);
		return 0;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0) {
		submit_fail(err, errlen, 0, "cannot find our own executable");
		return -1;
	}
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (slash == NULL) {
		snprintf(err, errlen, "odd executable path");
		return -1;
	}
	*slash = '\0';
	if ((size_t)snprintf(out, outlen, "%s/%s", self, SUBMIT_HELPER_NAME)
	    >= outlen) {
		snprintf(err, errlen, "helper path too long");
		return -1;
	}
	return 0;
}

static void
submit_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Reap the helper and turn its fate into our exit code. */
static int
submit_wait(struct sendmail_drop *d, char *err, size_t errlen)
{
	int status, code;

	submit_close(&d->to_fd);
	submit_close(&d->from_fd);
	while (waitpid(d->pid, &status, 0) < 0)
		if (errno != EINTR)
			return submit_fail(err, errlen, EX_OSERR, "waitpid");
	d->pid = -1;
	if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);

		snprintf(err, errlen, "%s killed by signal %d; message not "
		    "accepted", SUBMIT_HELPER_NAME, sig);
		return (sig == SIGSEGV || sig == SIGABRT || sig == SIGBUS ||
		    sig == SIGILL || sig == SIGFPE) ? EX_SOFTWARE : EX_TEMPFAIL;
	}
	code = WEXITSTATUS(status);
	if (code == EX_OK)
		return EX_OK;
	snprintf(err, errlen, "message not accepted (%s exit status %d)",
	    SUBMIT_HELPER_NAME, code);
	if (code >= EX__BASE && code <= EX__MAX)
		return code;
	return EX_SOFTWARE;
}

int
sendmail_drop_start(struct sendmail_drop *d, const char *config_path,
    char *err, size_t errlen)
{
	char path[PATH_MAX + 32];
	int in[2], out[2];
	size_t got = 0;

	memset(d, 0, sizeof(*d));
	d->pid = -1;
	d->to_fd = d->from_fd = -1;
	if (submit_helper_path(path, sizeof(path), err, errlen) < 0)
		return EX_CONFIG;
	if (pipe2(in, O_CLOEXEC) < 0)
		return submit_fail(err, errlen, EX_OSERR, "pipe");
	if (pipe2(out, O_CLOEXEC) < 0) {
		close(in[0]);
		close(in[1]);
		return submit_fail(err, errlen, EX_OSERR, "pipe");
	}
	d->pid = fork();
	if (d->pid < 0) {
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		return submit_fail(err, errlen, EX_OSERR, "fork");
	}
	if (d->pid == 0) {
		char *argv[4] = { SUBMIT_HELPER_NAME, NULL, NULL, NULL };
		static const char msg[] =
		    "sendmail: cannot execute " SUBMIT_HELPER_NAME "\n";

		if (config_path != NULL) {
			argv[1] = "-C";
			argv[2] = (char *)config_path;
		}
		signal(SIGPIPE, SIG_DFL);
		if (dup2(in[0], STDIN_FILENO) < 0 ||
		    dup2(out[1], STDOUT_FILENO) < 0)
			_exit(EX_OSERR);
		execv(path, argv);
		if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
			(void)0;
		_exit(EX_UNAVAILABLE);
	}
	close(in[0]);
	close(out[1]);
	d->to_fd = in[1];
	d->from_fd = out[0];

	/* The helper's first words: its queue ID and a newline. */
	while (got < sizeof(d->qid) - 1) {
		ssize_t n = read(d->from_fd, d->qid + got, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (d->qid[got] == '\n')
			break;
		got++;
	}
	d->qid[got] = '\0';
	if (queue_id_valid(d->qid) < 0) {
		int rc = submit_wait(d, err, errlen);

		if (rc == EX_OK) {
			snprintf(err, errlen, "%s gave no queue ID",
			    SUBMIT_HELPER_NAME);
			rc = EX_SOFTWARE;
		}
		return rc;
	}
	return EX_OK;
}

int
sendmail_drop_finish(struct sendmail_drop *d, const struct queue_msg *m,
    char *err, size_t errlen)
{
	size_t len, off = 0;
	char *image = queue_drop_format(m, &len);
	char sink[256];
	int rc;

	while (off < len) {
		ssize_t n = write(d->to_fd, image + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;		/* EPIPE: its exit status says why */
		off += (size_t)n;
	}
	free(image);
	submit_close(&d->to_fd);
	/* Nothing more is expected, but do not let a chatty helper block
	 * on a full pipe while we wait for it. */
	for (;;) {
		ssize_t n = read(d->from_fd, sink, sizeof(sink));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
	}
	rc = submit_wait(d, err, errlen);
	if (rc == EX_OK && off < len) {
		/* cannot happen: the helper checks length and checksum */
		snprintf(err, errlen, "short write to %s", SUBMIT_HELPER_NAME);
		rc = EX_SOFTWARE;
	}
	return rc;
}

void
sendmail_drop_abort(struct sendmail_drop *d)
{
	char err[128];

	if (d->pid <= 0)
		return;
	kill(d->pid, SIGTERM);
	(void)submit_wait(d, err, sizeof(err));
}
