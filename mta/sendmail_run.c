/*
 * sendmail_run.c - what the sendmail command does, start to finish.
 *
 * Order matters for the user: everything that can be checked without
 * the message (flags, config, sender, command line recipients) is
 * checked before we read stdin, and everything that can be checked
 * without the helper (headers, size, -t recipients) before we start
 * it.  The helper is started last and only its exit status decides
 * whether we say EX_OK, so "exit 0" always means "fsync'd in the
 * maildrop".  Errors are one line on stderr, "sendmail: ...".
 */
#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "config.h"
#include "queue.h"
#include "sendmail.h"

#define RUN_READ_CHUNK		65536
/* Room the drop image needs beyond body and addresses (fixed fields). */
#define RUN_IMAGE_SLACK		4096
/* A syntactically valid stand-in while we size the message. */
#define RUN_QID_PLACEHOLDER	"0000000000000000"

struct run_ctx {
	const struct sendmail_opts *o;
	const struct sealpost_config *cfg;
	struct queue_msg *m;
	util_htable *seen;		/* recipients already added */
	int utf8;			/* some address needs SMTPUTF8 */
	size_t image;			/* estimated drop image size */
};

static int run_error(int rc, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* One line on stderr, "sendmail: ..."; returns rc for "return run_error". */
static int
run_error(int rc, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "sendmail: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return rc;
}

/* sendmail_addr_list callback: qualify, check, de-duplicate, add. */
static int
run_add_rcpt(void *arg, const char *addr, size_t len, char *err,
    size_t errlen)
{
	struct run_ctx *c = arg;
	char q[QUEUE_ADDR_MAX + 1];

	if (sendmail_addr_qualify(addr, len, c->cfg->myhostname, q, sizeof(q),
	    &c->utf8, err, errlen) < 0)
		return -1;
	if (util_htable_get(c->seen, q) != NULL)
		return 0;
	if (c->m->nrcpt >= QUEUE_RCPT_MAX) {
		snprintf(err, errlen, "more than %d recipients", QUEUE_RCPT_MAX);
		return -1;
	}
	util_htable_put(c->seen, q, c);
	queue_msg_add_rcpt(c->m, q, NULL, c->o->notify);
	c->image += 3 * strlen(q) + 16;		/* xtext worst case */
	return 0;
}

/* The gecos full name, Berkeley style: up to ',' and '&' = Login. */
static void
run_gecos(const struct passwd *pw, char *out, size_t outlen)
{
	const char *g = pw->pw_gecos != NULL ? pw->pw_gecos : "";
	size_t o = 0, i;

	for (; *g != '\0' && *g != ',' && o + 1 < outlen; g++) {
		if (*g != '&') {
			out[o++] = *g;
			continue;
		}
		for (i = 0; pw->pw_name[i] != '\0' && o + 1 < outlen; i++) {
			char ch = pw->pw_name[i];

			out[o++] = (i == 0 && ch >= 'a' && ch <= 'z') ?
			    (char)(ch - 32) : ch;
		}
	}
	out[o] = '\0';
}

/* RFC 8689: "TLS-Required: No" asks us to deliver even without TLS. */
static int
run_tls_optional(const char *msg, const struct sendmail_hdrs *h)
{
	long i = sendmail_hdrs_find(msg, h, "TLS-Required");
	const char *p, *end;

	if (i < 0)
		return 0;
	p = memchr(msg + h->v[i].off, ':', h->v[i].len) + 1;
	end = msg + h->v[i].off + h->v[i].len;
	while (p < end && strchr(" \t\r\n", *p) != NULL)
		p++;
	while (end > p && strchr(" \t\r\n", end[-1]) != NULL)
		end--;
	return end - p == 2 && util_strncasecmp(p, "no", 2) == 0;
}

/* Read stdin through the line reader; exit code. */
static int
run_read(struct sendmail_input *in)
{
	char *buf = xmalloc(RUN_READ_CHUNK);
	enum sendmail_input_rc r = SENDMAIL_INPUT_MORE;
	int rc = EX_OK;

	for (;;) {
		ssize_t n = read(STDIN_FILENO, buf, RUN_READ_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = run_error(EX_IOERR, "reading the message: %s",
			    strerror(errno));
			break;
		}
		if (n == 0) {
			r = sendmail_input_finish(in);
			break;
		}
		if ((r = sendmail_input_feed(in, buf, (size_t)n)) !=
		    SENDMAIL_INPUT_MORE)
			break;
	}
	free(buf);
	if (rc == EX_OK && r == SENDMAIL_INPUT_TOOBIG)
		rc = run_error(EX_DATAERR, "message too large");
	return rc;
}

static int
run_deliver(const struct sendmail_opts *o, const struct sealpost_config *cfg)
{
	struct run_ctx c;
	struct sendmail_input in;
	struct sendmail_hdrs h;
	struct sendmail_added add;
	struct sendmail_drop d;
	struct passwd *pw = getpwuid(getuid());
	char sender[QUEUE_ADDR_MAX + 1], err[512], gecos[SENDMAIL_NAME_MAX * 2];
	char name[SENDMAIL_NAME_MAX * 4];
	size_t limit = cfg->message_size_limit, i, blen;
	char *body = NULL;
	int rc = EX_OK;

	memset(&c, 0, sizeof(c));
	memset(&h, 0, sizeof(h));
	c.o = o;
	c.cfg = cfg;
	c.image = RUN_IMAGE_SLACK;
	if (limit == 0 || limit > QUEUE_DROP_MAX)
		limit = QUEUE_DROP_MAX;

	if (o->sender == NULL && pw == NULL)
		return run_error(EX_NOUSER, "no login name for user ID %s", "(getpwuid failed)");
	if (sendmail_sender_parse(o->sender != NULL ? o->sender : pw->pw_name,
	    cfg->myhostname, sender, sizeof(sender), &c.utf8, err,
	    sizeof(err)) < 0)
		return run_error(EX_USAGE, "bad sender address: %s", err);

	c.m = queue_msg_new();
	c.seen = util_htable_new();
	free(c.m->sender);
	c.m->sender = xstrdup(sender);
	for (i = 0; i < o->nrcpt; i++) {
		const char *a = o->rcpt[i];

		if (sendmail_addr_list(a, strlen(a), run_add_rcpt, &c, err,
		    sizeof(err)) < 0) {
			char safe[80];

			util_printable(a, strlen(a), safe, sizeof(safe));
			rc = run_error(EX_USAGE, "bad recipient address %s: %s",
			    safe, err);
			goto out;
		}
	}
	if (!o->extract_rcpt && c.m->nrcpt == 0) {
		rc = run_error(EX_DATAERR, "no recipients specified");
		goto out;
	}

	sendmail_input_init(&in, limit, o->ignore_dots);
	if ((rc = run_read(&in)) != EX_OK) {
		sendmail_input_free(&in);
		goto out;
	}
	body = dynbuf_take(&in.out, &blen);
	if (sendmail_hdrs_split(body, blen, &h, err, sizeof(err)) < 0) {
		rc = run_error(EX_DATAERR, "%s", err);
		goto out;
	}
	if (o->extract_rcpt && sendmail_hdrs_rcpts(body, &h, run_add_rcpt, &c,
	    err, sizeof(err)) < 0) {
		rc = run_error(EX_DATAERR, "%s", err);
		goto out;
	}
	if (c.m->nrcpt == 0) {
		rc = run_error(EX_DATAERR, "no recipients specified");
		goto out;
	}

	/* the envelope */
	c.m->arrival = util_wall_time();
	c.m->envid = xstrdup(o->envid);
	c.m->ret = o->ret;
	if (in.eightbit || o->body_8bitmime == 1)
		c.m->flags |= QUEUE_MSG_8BITMIME;
	if (c.utf8)
		c.m->flags |= QUEUE_MSG_SMTPUTF8;
	if (run_tls_optional(body, &h))
		c.m->flags |= QUEUE_MSG_NO_TLS_REQ;

	/* what we add: From as Postfix does it (the sender; full name from
	 * -F, or from passwd when the sender is the user themself) */
	gecos[0] = '\0';
	if (o->full_name != NULL)
		snprintf(gecos, sizeof(gecos), "%s", o->full_name);
	else if (o->sender == NULL && pw != NULL)
		run_gecos(pw, gecos, sizeof(gecos));
	sendmail_display_name(gecos, name, sizeof(name));
	memset(&add, 0, sizeof(add));
	add.qid = RUN_QID_PLACEHOLDER;
	add.now = c.m->arrival;
	add.myhostname = cfg->myhostname;
	add.from_addr = sender;
	add.display_name = name;
	add.uid = (long)getuid();

	/* Size everything with a stand-in ID first, so that a message we
	 * must refuse never reaches the helper. */
	memcpy(c.m->qid, RUN_QID_PLACEHOLDER, QUEUE_ID_LEN + 1);
	if (sendmail_compose(body, blen, &h, &add, limit, &c.m->body,
	    &c.m->body_len, err, sizeof(err)) < 0 ||
	    c.m->body_len + c.image > QUEUE_DROP_MAX) {
		rc = run_error(EX_DATAERR, "message too large");
		goto out;
	}
	c.m->size = c.m->body_len;
	if (queue_drop_check(c.m, err, sizeof(err)) < 0) {
		rc = run_error(EX_DATAERR, "%s", err);
		goto out;
	}

	signal(SIGPIPE, SIG_IGN);
	if ((rc = sendmail_drop_start(&d, o->config_path != NULL ?
	    o->config_path : getenv(CFG_ENV_PATH), err, sizeof(err))) != EX_OK) {
		run_error(rc, "%s", err);
		goto out;
	}
	free(c.m->body);
	c.m->body = NULL;
	memcpy(c.m->qid, d.qid, QUEUE_ID_LEN + 1);
	add.qid = d.qid;
	if (sendmail_compose(body, blen, &h, &add, limit, &c.m->body,
	    &c.m->body_len, err, sizeof(err)) < 0) {
		/* same length as the trial run; cannot fail */
		sendmail_drop_abort(&d);
		rc = run_error(EX_SOFTWARE, "%s", err);
		goto out;
	}
	c.m->size = c.m->body_len;
	if ((rc = sendmail_drop_finish(&d, c.m, err, sizeof(err))) != EX_OK) {
		run_error(rc, "%s", err);
		goto out;
	}
	if (o->verbose)
		printf("sendmail: queued as %s\n", c.m->qid);
out:
	sendmail_hdrs_free(&h);
	free(body);
	util_htable_free(c.seen);
	queue_msg_free(c.m);
	return rc;
}

int
sendmail_main(int argc, char *argv[])
{
	struct sendmail_opts o;
	struct sealpost_config *cfg;
	char err[512], reply[128], line[300];
	int rc;

	if ((rc = sendmail_args_parse(argc, argv, &o, err, sizeof(err))) != 0) {
		run_error(rc, "%s", err);
		if (rc == EX_USAGE)
			fprintf(stderr, "%s\n", sendmail_usage());
		return rc;
	}
	if (o.mode == SENDMAIL_MODE_IGNORED) {
		run_error(EX_OK, "-q<interval> ignored: sealpostd runs the "
		    "queue by itself");
		return EX_OK;
	}
	if ((cfg = cfg_load(o.config_path, err, sizeof(err))) == NULL)
		return run_error(EX_CONFIG, "%s", err);
	switch (o.mode) {
	case SENDMAIL_MODE_LIST:
		rc = sendmail_mailq(cfg, stdout);
		break;
	case SENDMAIL_MODE_SMTP:
		rc = sendmail_bs(cfg, o.config_path != NULL ? o.config_path :
		    getenv(CFG_ENV_PATH), STDIN_FILENO, STDOUT_FILENO);
		break;
	case SENDMAIL_MODE_FLUSH:
		snprintf(line, sizeof(line), "FLUSH%s%s\n",
		    o.flush_site != NULL ? " " : "",
		    o.flush_site != NULL ? o.flush_site : "");
		rc = EX_OK;
		if (sendmail_ctl_request(cfg->spool_directory, line, reply,
		    sizeof(reply), err, sizeof(err)) < 0)
			rc = run_error(EX_UNAVAILABLE, "%s", err);
		else if (o.verbose)
			printf("sendmail: queue flush requested\n");
		break;
	default:
		rc = run_deliver(&o, cfg);
		break;
	}
	cfg_free(cfg);
	if (fflush(stdout) != 0 && rc == EX_OK)
		rc = EX_IOERR;
	return rc;
}
