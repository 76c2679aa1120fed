/*
 * admin_show.c - "sealpost queue show [--json] QUEUEID": one message,
 * its envelope, every recipient's state and the message's header section.
 *
 * Read-only (queue_admin_load opens queue.db read-only, or parses the
 * maildrop file of a message the daemon has not picked up yet), so it is
 * safe while the daemon runs; it shows the last committed state.
 * Everything printed came from users or remote servers: addresses,
 * replies and header lines are made printable and shortened, and JSON
 * strings that are not valid UTF-8 are sent through the same filter.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "admin.h"

#define SHOW_FIELD_MAX		1024		/* one shown value */
#define SHOW_HEADER_MAX		(64u * 1024)	/* header section shown */
#define SHOW_ERR_MAX		1024

static const char *const state_names[] = { "pending", "delivered", "bounced" };

static const char *
state_name(int st)
{
	return (st >= 0 && st <= 2) ? state_names[st] : "unknown";
}

/* held / deferred / active / finished, as an administrator thinks of it */
static const char *
msg_status(const struct queue_msg *m, int in_maildrop, int64_t now)
{
	size_t i, pending = 0, due = 0;

	if (in_maildrop)
		return "maildrop";
	if (m->flags & QUEUE_MSG_HOLD)
		return "held";
	for (i = 0; i < m->nrcpt; i++) {
		if (m->rcpt[i].state != QUEUE_RCPT_PENDING)
			continue;
		pending++;
		if (m->rcpt[i].next_try <= now)
			due++;
	}
	if (pending == 0)
		return "finished";
	return due > 0 ? "active" : "deferred";
}

static void
flag_names(unsigned flags, char *out, size_t outlen)
{
	static const struct { unsigned bit; const char *name; } names[] = {
		{ QUEUE_MSG_HOLD, "HOLD" }, { QUEUE_MSG_8BITMIME, "8BITMIME" },
		{ QUEUE_MSG_SMTPUTF8, "SMTPUTF8" }, { QUEUE_MSG_DSN, "DSN" },
		{ QUEUE_MSG_NO_TLS_REQ, "NO_TLS_REQUIRED" },
	};
	size_t i, len = 0;

	out[0] = '\0';
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if ((flags & names[i].bit) && len < outlen)
			len += (size_t)snprintf(out + len, outlen - len, "%s%s",
			    len ? " " : "", names[i].name);
}

static void
notify_names(unsigned notify, char *out, size_t outlen)
{
	if (notify == 0)
		snprintf(out, outlen, "default");
	else if (notify & QUEUE_NOTIFY_NEVER)
		snprintf(out, outlen, "NEVER");
	else
		snprintf(out, outlen, "%s%s%s%s%s",
		    (notify & QUEUE_NOTIFY_SUCCESS) ? "SUCCESS" : "",
		    (notify & QUEUE_NOTIFY_SUCCESS) &&
		    (notify & (QUEUE_NOTIFY_FAILURE | QUEUE_NOTIFY_DELAY)) ? "," : "",
		    (notify & QUEUE_NOTIFY_FAILURE) ? "FAILURE" : "",
		    (notify & QUEUE_NOTIFY_FAILURE) &&
		    (notify & QUEUE_NOTIFY_DELAY) ? "," : "",
		    (notify & QUEUE_NOTIFY_DELAY) ? "DELAY" : "");
}

static const char *
ret_name(int ret)
{
	return ret == QUEUE_RET_FULL ? "FULL" : ret == QUEUE_RET_HDRS ?
	    "HDRS" : "default";
}

static char *
safe(const char *s, char *buf, size_t buflen)
{
	return util_printable(s ? s : "", s ? strlen(s) : 0, buf, buflen);
}

/* A JSON string from untrusted bytes: as is when valid UTF-8. */
static json_t *
json_text(const char *s, size_t len)
{
	char buf[SHOW_FIELD_MAX];
	json_t *j = json_stringn(s, len);

	if (j != NULL)
		return j;
	return json_string(util_printable(s, len, buf, sizeof(buf)));
}

static void
set_text(json_t *o, const char *key, const char *s)
{
	if (s != NULL)
		json_object_set_new(o, key, json_text(s, strlen(s)));
}

static json_t *
rcpt_json(const struct queue_rcpt *r)
{
	json_t *o = json_object();
	char buf[64];

	set_text(o, "address", r->addr);
	json_object_set_new(o, "state", json_string(state_name(r->state)));
	json_object_set_new(o, "attempts", json_integer(r->attempts));
	if (r->next_try)
		json_object_set_new(o, "next_try", json_integer(r->next_try));
	if (r->last_try)
		json_object_set_new(o, "last_try", json_integer(r->last_try));
	set_text(o, "status", r->status);
	set_text(o, "reason", r->reply);
	set_text(o, "relay", r->relay);
	set_text(o, "tls", r->tls);
	set_text(o, "orcpt", r->orcpt);
	notify_names(r->notify, buf, sizeof(buf));
	json_object_set_new(o, "notify", json_string(buf));
	return o;
}

json_t *
admin_msg_json(const struct queue_msg *m)
{
	json_t *o = json_object(), *rs = json_array();
	char flags[128];
	size_t i;

	json_object_set_new(o, "queue_id", json_string(m->qid));
	set_text(o, "sender", m->sender);
	json_object_set_new(o, "arrival", json_integer(m->arrival));
	json_object_set_new(o, "size", json_integer((json_int_t)m->size));
	json_object_set_new(o, "held",
	    json_boolean(m->flags & QUEUE_MSG_HOLD));
	flag_names(m->flags, flags, sizeof(flags));
	json_object_set_new(o, "flags", json_string(flags));
	set_text(o, "envid", m->envid);
	json_object_set_new(o, "ret", json_string(ret_name(m->ret)));
	for (i = 0; i < m->nrcpt; i++)
		json_array_append_new(rs, rcpt_json(&m->rcpt[i]));
	json_object_set_new(o, "recipients", rs);
	return o;
}

/* The header section: up to the first empty line, at most SHOW_HEADER_MAX. */
static size_t
header_len(const struct queue_msg *m, int *cut)
{
	const char *b = m->body, *end;
	size_t n = m->body ? m->body_len : 0, i;

	*cut = 0;
	if (n > SHOW_HEADER_MAX) {
		n = SHOW_HEADER_MAX;
		*cut = 1;
	}
	for (i = 0; i < n; i++) {
		if (b[i] != '\n')
			continue;
		end = b + i + 1;
		if (end < b + n && (*end == '\n' ||
		    (*end == '\r' && end + 1 < b + n && end[1] == '\n'))) {
			*cut = 0;
			return i + 1;
		}
	}
	return n;
}

/* Calls fn for each header line (without CR LF). */
static void
each_header_line(const struct queue_msg *m,
    void (*fn)(void *arg, const char *line, size_t len), void *arg)
{
	int cut;
	size_t n = header_len(m, &cut), start = 0, i;

	for (i = 0; i <= n; i++) {
		size_t len;

		if (i < n && m->body[i] != '\n')
			continue;
		len = i - start;
		if (len > 0 && m->body[start + len - 1] == '\r')
			len--;
		if (len > 0 || i < n)
			fn(arg, m->body + start, len);
		start = i + 1;
	}
	if (cut)
		fn(arg, "[...]", 5);
}

static void
header_text(void *arg, const char *line, size_t len)
{
	char buf[SHOW_FIELD_MAX];
	size_t i;

	/* keep folding white space readable: tabs become one space */
	util_printable(line, len, buf, sizeof(buf));
	for (i = 0; i < len && i < sizeof(buf) && buf[i]; i++)
		if (line[i] == '\t')
			buf[i] = ' ';
	fprintf(arg, "  %s\n", buf);
}

static void
header_json(void *arg, const char *line, size_t len)
{
	json_array_append_new(arg, json_text(line, len));
}

static void
when(int64_t t, char *out, size_t outlen)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (localtime_r(&tt, &tm) == NULL ||
	    strftime(out, outlen, "%Y-%m-%d %H:%M:%S %z", &tm) == 0)
		snprintf(out, outlen, "%lld", (long long)t);
}

static void
show_text(FILE *out, const struct queue_msg *m, int in_maildrop)
{
	char a[SHOW_FIELD_MAX], b[128];
	int64_t now = util_wall_time();
	size_t i, pending = 0;

	for (i = 0; i < m->nrcpt; i++)
		pending += m->rcpt[i].state == QUEUE_RCPT_PENDING;
	fprintf(out, "Queue ID:    %s\n", m->qid);
	fprintf(out, "Status:      %s\n", msg_status(m, in_maildrop, now));
	fprintf(out, "Sender:      <%s>\n", safe(m->sender, a, sizeof(a)));
	when(m->arrival, b, sizeof(b));
	fprintf(out, "Arrival:     %s\n", b);
	fprintf(out, "Size:        %zu\n", m->size);
	flag_names(m->flags, b, sizeof(b));
	fprintf(out, "Flags:       %s\n", b[0] ? b : "-");
	if (m->envid)
		fprintf(out, "ENVID:       %s\n", safe(m->envid, a, sizeof(a)));
	fprintf(out, "RET:         %s\n", ret_name(m->ret));
	fprintf(out, "Recipients:  %zu (%zu pending)\n", m->nrcpt, pending);
	for (i = 0; i < m->nrcpt; i++) {
		const struct queue_rcpt *r = &m->rcpt[i];

		fprintf(out, "\nRecipient:   <%s>\n", safe(r->addr, a, sizeof(a)));
		fprintf(out, "  State:     %s\n", state_name(r->state));
		fprintf(out, "  Attempts:  %u\n", r->attempts);
		if (r->state == QUEUE_RCPT_PENDING) {
			if (r->next_try <= now)
				fprintf(out, "  Next try:  now\n");
			else {
				when(r->next_try, b, sizeof(b));
				fprintf(out, "  Next try:  %s (in %llds)\n", b,
				    (long long)(r->next_try - now));
			}
		}
		if (r->last_try) {
			when(r->last_try, b, sizeof(b));
			fprintf(out, "  Last try:  %s\n", b);
		}
		if (r->status)
			fprintf(out, "  Status:    %s\n", safe(r->status, a, sizeof(a)));
		if (r->reply)
			fprintf(out, "  Reason:    %s\n", safe(r->reply, a, sizeof(a)));
		if (r->relay)
			fprintf(out, "  Relay:     %s\n", safe(r->relay, a, sizeof(a)));
		if (r->tls)
			fprintf(out, "  TLS:       %s\n", safe(r->tls, a, sizeof(a)));
		if (r->orcpt)
			fprintf(out, "  ORCPT:     %s\n", safe(r->orcpt, a, sizeof(a)));
		notify_names(r->notify, b, sizeof(b));
		fprintf(out, "  NOTIFY:    %s\n", b);
	}
	fprintf(out, "\nHeaders:\n");
	each_header_line(m, header_text, out);
}

int
admin_queue_show(const struct sealpost_config *cfg, const char *qid,
    int json)
{
	char err[SHOW_ERR_MAX], a[64];
	struct queue_msg *m;
	int in_maildrop, rc;

	rc = queue_admin_load(cfg->spool_directory, qid, &m, &in_maildrop,
	    err, sizeof(err));
	if (rc < 0) {
		int e = errno;

		fprintf(stderr, "sealpost: %s\n", err);
		return (e == EACCES || e == EPERM) ? EX_NOPERM : EX_IOERR;
	}
	if (rc > 0) {
		fprintf(stderr, "sealpost: %s: no such message in the queue\n",
		    safe(qid, a, sizeof(a)));
		return EX_NOINPUT;
	}
	if (json) {
		json_t *o = admin_msg_json(m), *hs = json_array();

		json_object_set_new(o, "status", json_string(msg_status(m,
		    in_maildrop, util_wall_time())));
		each_header_line(m, header_json, hs);
		json_object_set_new(o, "headers", hs);
		json_dumpf(o, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
		putchar('\n');
		json_decref(o);
	} else
		show_text(stdout, m, in_maildrop);
	queue_msg_free(m);
	return fflush(stdout) == 0 ? EX_OK : EX_IOERR;
}
