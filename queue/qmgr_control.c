/*
 * qmgr_control.c - how the outside world pokes the queue manager.
 *
 * Triggers are harmless, so the socket is open to every local user (as
 * Postfix lets anyone run "sendmail -q"):
 *   WAKEUP          new files are in the maildrop (sent by postdrop)
 *   FLUSH [domain]  try deferred mail now (sendmail -q, sealpost flush)
 *   PING            is anybody there
 * Queue administration changes mail, so only root and the daemon's own
 * user may send it (SO_PEERCRED); "sealpost queue ..." uses it:
 *   DELETE qid|ALL, HOLD qid|ALL, RELEASE qid|ALL, REQUEUE qid|ALL
 * answered "OK n" (n messages acted on) once the change is durable, or
 * "ERR reason" ("ERR no such message", "ERR busy ..." = try again).
 * Also privileged, as it sends mail and HTTPS requests on our behalf:
 *   TLSRPT-SEND [YYYY-MM-DD]  send the TLS reports of that day (default
 *                   yesterday) now; handed to the TLS-RPT sender thread
 *                   (tls/tlsrpt_send.c), answered "OK" once it has it.
 * A client sends one line of at most CONTROL_LINE_MAX bytes and gets one
 * line back.  The maildrop is also watched with inotify (uv_fs_event) and
 * scanned by the retry timer, so a lost trigger only delays mail, never
 * loses it.
 *
 * Before the socket exists the daemon takes the exclusive lock on
 * spool/sealpostd.lock and keeps it until the socket is gone: that is how
 * "sealpost queue ..." knows whether to talk to us or to change the
 * database itself (queue_admin.c), without racing our start-up scan.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qmgr_int.h"

#define CONTROL_LINE_MAX	256	/* longest command line accepted */
#define CONTROL_TIMEOUT_MS	5000	/* a client gets this long to speak */
#define CONTROL_SOCKET_NAME	"sealpostd.sock"
#define CONTROL_LOCK_WAIT_MS	15000	/* a "sealpost queue" transaction */

/* The TLS-RPT sender's trigger, when the daemon runs one. */
static qmgr_tlsrpt_fn control_tlsrpt_fn;
static void *control_tlsrpt_arg;

void
qmgr_control_set_tlsrpt(qmgr_tlsrpt_fn fn, void *arg)
{
	control_tlsrpt_fn = fn;
	control_tlsrpt_arg = arg;
}

struct control_client {
	uv_pipe_t  pipe;
	uv_timer_t timer;
	qmgr      *q;
	char       line[CONTROL_LINE_MAX + 1];
	size_t     len;
	int        closing, handles;
	uv_write_t wreq;
	char       reply[80];
};

static void
client_handle_closed(uv_handle_t *h)
{
	struct control_client *c = h->data;

	if (--c->handles == 0)
		free(c);
}

static void
client_close(struct control_client *c)
{
	if (c->closing)
		return;
	c->closing = 1;
	uv_close((uv_handle_t *)&c->pipe, client_handle_closed);
	uv_close((uv_handle_t *)&c->timer, client_handle_closed);
}

static void
client_written(uv_write_t *w, int status)
{
	(void)status;
	client_close(w->data);
}

static void
client_reply(struct control_client *c, const char *text)
{
	uv_buf_t b;

	uv_read_stop((uv_stream_t *)&c->pipe);
	snprintf(c->reply, sizeof(c->reply), "%s\n", text);
	b = uv_buf_init(c->reply, (unsigned)strlen(c->reply));
	c->wreq.data = c;
	if (uv_write(&c->wreq, (uv_stream_t *)&c->pipe, &b, 1,
	    client_written) != 0)
		client_close(c);
}

/* Domain names only: letters, digits, '-', '.', and bounded. */
static int
valid_domain_arg(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > 253)
		return 0;
	for (i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.'))
			return 0;
	}
	return 1;
}

/* Root or the daemon's own user (the spool's owner). */
static int
client_privileged(struct control_client *c)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	uv_os_fd_t fd;

	if (uv_fileno((uv_handle_t *)&c->pipe, &fd) != 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 ||
	    len != sizeof(cr))
		return 0;
	return cr.uid == 0 || cr.uid == geteuid();
}

static void
client_admin_done(void *arg, const char *reply)
{
	client_reply(arg, reply);
}

/* DELETE/HOLD/RELEASE/REQUEUE qid|ALL; the answer comes after the commit. */
static void
client_admin(struct control_client *c, enum queue_admin_op op,
    const char *arg)
{
	if (arg == NULL || (strcmp(arg, "ALL") != 0 &&
	    queue_id_valid(arg) < 0)) {
		client_reply(c, "ERR bad queue ID");
		return;
	}
	if (!client_privileged(c)) {
		client_reply(c, "ERR permission denied");
		return;
	}
	/* nothing may close the client before its answer is written */
	uv_read_stop((uv_stream_t *)&c->pipe);
	uv_timer_stop(&c->timer);
	qmgr_admin(c->q, op, strcmp(arg, "ALL") == 0 ? NULL : arg,
	    client_admin_done, c);
}

/* TLSRPT-SEND [day]: the sender checks the day itself. */
static void
client_tlsrpt(struct control_client *c, const char *day)
{
	char err[64], reply[80];

	if (!client_privileged(c)) {
		client_reply(c, "ERR permission denied");
		return;
	}
	if (control_tlsrpt_fn == NULL) {
		client_reply(c, "ERR TLS reporting is off (tlsrpt_enable, "
		    "tlsrpt_reports)");
		return;
	}
	if (day != NULL && strlen(day) != 10) {
		client_reply(c, "ERR bad day (YYYY-MM-DD)");
		return;
	}
	if (control_tlsrpt_fn(control_tlsrpt_arg, day, err, sizeof(err)) < 0) {
		snprintf(reply, sizeof(reply), "ERR %s", err);
		client_reply(c, reply);
		return;
	}
	client_reply(c, "OK");
}

static void
client_command(struct control_client *c)
{
	qmgr *q = c->q;
	enum queue_admin_op op;
	char *arg;

	arg = strchr(c->line, ' ');
	if (arg)
		*arg++ = '\0';
	if (strcmp(c->line, "WAKEUP") == 0 && arg == NULL) {
		qmgr_wakeup(q);
		client_reply(c, "OK");
	} else if (strcmp(c->line, "FLUSH") == 0) {
		if (arg && !valid_domain_arg(arg)) {
			client_reply(c, "ERR bad domain");
			return;
		}
		qmgr_wakeup(q);
		qmgr_flush(q, arg);
		client_reply(c, "OK");
	} else if (strcmp(c->line, "PING") == 0 && arg == NULL) {
		client_reply(c, "OK");
	} else if (strcmp(c->line, "TLSRPT-SEND") == 0) {
		client_tlsrpt(c, arg);
	} else if (queue_admin_op_parse(c->line, &op) == 0 &&
	    strcmp(c->line, queue_admin_op_name(op)) == 0) {
		client_admin(c, op, arg);
	} else {
		client_reply(c, "ERR unknown command");
	}
}

static void
client_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct control_client *c = h->data;

	(void)hint;
	buf->base = c->line + c->len;
	buf->len = CONTROL_LINE_MAX - c->len;
}

static void
client_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct control_client *c = s->data;
	char *nl;

	(void)buf;
	if (n < 0) {
		client_close(c);
		return;
	}
	c->len += (size_t)n;
	c->line[c->len] = '\0';
	nl = memchr(c->line, '\n', c->len);
	if (nl == NULL) {
		if (c->len >= CONTROL_LINE_MAX)
			client_reply(c, "ERR line too long");
		return;
	}
	*nl = '\0';
	if (nl > c->line && nl[-1] == '\r')
		nl[-1] = '\0';
	client_command(c);
}

static void
client_timeout(uv_timer_t *t)
{
	client_close(t->data);
}

static void
control_accept(uv_stream_t *server, int status)
{
	qmgr *q = server->data;
	struct control_client *c;

	if (status < 0)
		return;
	c = xcalloc(1, sizeof(*c));
	c->q = q;
	uv_pipe_init(q->loop, &c->pipe, 0);
	uv_timer_init(q->loop, &c->timer);
	c->pipe.data = c->timer.data = c;
	c->handles = 2;
	if (uv_accept(server, (uv_stream_t *)&c->pipe) != 0) {
		client_close(c);
		return;
	}
	uv_timer_start(&c->timer, client_timeout, CONTROL_TIMEOUT_MS, 0);
	uv_read_start((uv_stream_t *)&c->pipe, client_alloc, client_read);
}

static void
drop_changed(uv_fs_event_t *h, const char *name, int events, int status)
{
	(void)name;
	(void)events;
	if (status == 0)
		qmgr_wakeup(h->data);
}

int
qmgr_control_start(qmgr *q)
{
	char *path = xasprintf("%s/%s", q->cfg->spool_directory,
	    CONTROL_SOCKET_NAME);
	char *drop = xasprintf("%s/maildrop", q->cfg->spool_directory);
	char err[256];
	int rc;

	/* Held until qmgr_control_stop; waits out a "sealpost queue" change
	 * made while no daemon ran, so the scan that follows sees it. */
	q->admin_lock_fd = queue_admin_lock(q->cfg->spool_directory,
	    CONTROL_LOCK_WAIT_MS, err, sizeof(err));
	if (q->admin_lock_fd >= 0)
		q->admin_lock_on = 1;
	else if (errno == EWOULDBLOCK) {
		log_error("%s: is another sealpostd using this spool?", err);
		free(path);
		free(drop);
		return -1;
	} else
		log_warn("%s; queue administration cannot tell whether the "
		    "daemon runs", err);
	unlink(path);	/* a stale socket from a crash */
	uv_pipe_init(q->loop, &q->control, 0);
	q->control.data = q;
	if ((rc = uv_pipe_bind(&q->control, path)) != 0 ||
	    (rc = uv_listen((uv_stream_t *)&q->control, 64,
	    control_accept)) != 0) {
		log_error("control socket %s: %s", path, uv_strerror(rc));
		uv_close((uv_handle_t *)&q->control, NULL);
		if (q->admin_lock_on) {
			close(q->admin_lock_fd);
			q->admin_lock_on = 0;
		}
		free(path);
		free(drop);
		return -1;
	}
	chmod(path, 0666);
	q->control_on = 1;
	uv_fs_event_init(q->loop, &q->drop_watch);
	q->drop_watch.data = q;
	if (uv_fs_event_start(&q->drop_watch, drop_changed, drop, 0) == 0)
		q->drop_watch_on = 1;
	else {
		uv_close((uv_handle_t *)&q->drop_watch, NULL);
		log_warn("cannot watch %s; relying on the periodic scan", drop);
	}
	free(path);
	free(drop);
	return 0;
}

void
qmgr_control_stop(qmgr *q)
{
	if (q->control_on) {
		char *path = xasprintf("%s/%s", q->cfg->spool_directory,
		    CONTROL_SOCKET_NAME);

		uv_close((uv_handle_t *)&q->control, NULL);
		unlink(path);
		free(path);
		q->control_on = 0;
	}
	if (q->drop_watch_on) {
		uv_fs_event_stop(&q->drop_watch);
		uv_close((uv_handle_t *)&q->drop_watch, NULL);
		q->drop_watch_on = 0;
	}
	qmgr_admin_stop(q);
	/* The socket is gone: from now on "sealpost queue" works on the
	 * database directly; the last fire-and-forget commits of running
	 * jobs only touch recipient rows and are serialised by sqlite. */
	if (q->admin_lock_on) {
		close(q->admin_lock_fd);
		q->admin_lock_on = 0;
	}
}

static void
imported(void *arg, struct queue_msg *m)
{
	qmgr *q = arg;

	if (m == NULL) {
		q->importing = 0;
		qmgr_dispatch(q);
		if (q->import_again && !q->stopping) {
			q->import_again = 0;
			qmgr_import(q);
		}
		return;
	}
	qmgr_msg_activate(q, m);
}

struct submit_arg {
	qmgr *q;
	struct queue_msg *m;
};

static void
submit_on_loop(void *arg)
{
	struct submit_arg *sa = arg;
	qmgr *q = sa->q;
	struct queue_msg *m = sa->m;

	free(sa);
	qmgr_msg_activate(q, m);
	qmgr_dispatch(q);
}

void
qmgr_submit(qmgr *q, struct queue_msg *m)
{
	struct submit_arg *sa = xmalloc(sizeof(*sa));

	sa->q = q;
	sa->m = m;
	util_chan_post(q->chan, submit_on_loop, sa);
}

/* One import at a time; triggers during an import cause one more pass. */
void
qmgr_import(qmgr *q)
{
	if (q->stopping)
		return;
	if (q->importing) {
		q->import_again = 1;
		return;
	}
	q->importing = 1;
	queue_store_import_maildrop(q->store, q->chan, imported, q);
}
