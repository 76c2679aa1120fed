/*
 * sendmail_ctl.c - sendmail -q: ask the running daemon to flush.
 *
 * The daemon listens on spool/sealpostd.sock (queue/qmgr_control.c) for
 * one short command line and answers "OK" or "ERR reason".  Triggers are
 * harmless, so any local user may send them.  Every step has a deadline:
 * a wedged daemon must not hang a cron job that runs "sendmail -q".
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "sendmail.h"

#define CTL_SOCKET_NAME	"sealpostd.sock"
#define CTL_TIMEOUT_MS	10000

static int
ctl_fail(char *err, size_t errlen, const char *what, const char *path)
{
	snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
	return -1;
}

static int
ctl_wait(int fd, short ev)
{
	struct pollfd p = { .fd = fd, .events = ev };
	int n;

	while ((n = poll(&p, 1, CTL_TIMEOUT_MS)) < 0 && errno == EINTR)
		;
	if (n == 0)
		errno = ETIMEDOUT;
	return n > 0 ? 0 : -1;
}

int
sendmail_ctl_request(const char *spool, const char *line, char *reply,
    size_t replylen, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	size_t got = 0, len = strlen(line), off = 0;
	int fd;

	reply[0] = '\0';
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s",
	    spool, CTL_SOCKET_NAME) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "spool path too long for a socket: %s",
		    spool);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return ctl_fail(err, errlen, "socket for", sa.sun_path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		if (e == ENOENT || e == ECONNREFUSED)
			return ctl_fail(err, errlen, "the sealpost daemon is not "
			    "running: cannot connect to", sa.sun_path);
		return ctl_fail(err, errlen, "cannot connect to", sa.sun_path);
	}
	while (off < len) {
		ssize_t n;

		if (ctl_wait(fd, POLLOUT) < 0)
			goto io_error;
		n = send(fd, line + off, len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto io_error;
		off += (size_t)n;
	}
	while (got + 1 < replylen) {
		ssize_t n;

		if (ctl_wait(fd, POLLIN) < 0)
			goto io_error;
		n = read(fd, reply + got, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto io_error;
		if (n == 0 || reply[got] == '\n')
			break;
		got++;
	}
	close(fd);
	reply[got] = '\0';
	if (got > 0 && reply[got - 1] == '\r')
		reply[--got] = '\0';
	if (strncmp(reply, "OK", 2) == 0)
		return 0;
	{
		char safe[128];

		util_printable(reply, got, safe, sizeof(safe));
		snprintf(err, errlen, "the daemon refused: %s",
		    got > 0 ? safe : "(no answer)");
	}
	return -1;
io_error:
	{
		int e = errno;

		close(fd);
		errno = e;
	}
	return ctl_fail(err, errlen, "talking to", sa.sun_path);
}
