/*
 * smtpd_proto.c - the SMTP server state machine, without I/O.
 *
 * The owner feeds bytes and runs the engine; the engine consumes whole
 * command lines (or DATA bytes), appends replies to its output buffer and
 * stops at the first thing it cannot decide alone, returning it as an
 * event (see smtpd.h).  While an event is unanswered it processes
 * nothing, so pipelined commands (RFC 2920) are answered strictly in
 * order: the 250 after DATA comes only once the queue says the message
 * is durable, and the next command's reply after that.
 *
 * Design notes:
 *  - One enum of states, changed only by smtpd_state_set().  The
 *    transaction (MAIL, RCPT list, DSN fields) is separate data, reset by
 *    smtpd_txn_reset() on RSET, HELO/EHLO, STARTTLS and after each
 *    message.
 *  - Line limits are per command (smtpd.h): 512 octets in general
 *    (RFC 5321 4.5.3.1.4), more for MAIL/RCPT parameters and AUTH, as
 *    the extensions permit.  An overlong line is swallowed up to its end
 *    and answered 500 5.5.2; the buffer never holds more than
 *    SMTPD_AUTH_LINE_MAX bytes of one line.  Commands may end in a bare
 *    LF (lenient); a CR inside a command line is a syntax error.
 *  - STARTTLS: whatever the client sent after the STARTTLS line in the
 *    clear is dropped (CVE-2011-0411: injected commands would otherwise
 *    run inside the TLS session), and everything learnt before TLS is
 *    forgotten (RFC 3207 4.2).
 *  - Every 4xx/5xx reply counts as an error; at smtpd_error_limit the
 *    engine says 421 4.7.0 and asks to close.
 *
 * XXX about 1,200 lines: the command handlers (MAIL/RCPT parameters,
 * AUTH, STARTTLS) share the engine's struct.  The next step is to turn
 * the MAIL/RCPT parameter parsers into pure functions in smtpd_param.c
 * filling a small result struct, which brings this file under 800.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtpd.h"

enum smtpd_state {
	SMTPD_S_CMD,		/* reading a command line */
	SMTPD_S_DATA,		/* reading message data */
	SMTPD_S_WAIT_QUEUE,	/* EV_MESSAGE given, waiting for _queued */
	SMTPD_S_WAIT_TLS,	/* EV_STARTTLS given */
	SMTPD_S_WAIT_AUTH,	/* EV_AUTH given, waiting for _auth_reply */
	SMTPD_S_AUTH_INPUT,	/* 334 sent, reading the client's response */
	SMTPD_S_CLOSED		/* EV_CLOSE given */
};

struct smtpd_rcpt_in {
	char    *addr;
	char    *orcpt;		/* "type;decoded" or NULL */
	unsigned notify;
};

struct smtpd_proto {
	struct smtpd_params pr;
	enum smtpd_state st;
	struct dynbuf in;	/* unprocessed input */
	size_t   inpos;		/* consumed prefix of in */
	struct dynbuf out;
	int      discarding;	/* swallowing an overlong line */
	unsigned errors;
	uint64_t commands;
	int      close_pending;	/* a 421 was queued by feed */

	/* session */
	char     helo[SMTPD_DOMAIN_MAX + 1];	/* "" before HELO/EHLO */
	int      esmtp;
	int      tls_active;
	char     tls_text[SMTPD_TLS_TEXT_MAX];
	char    *auth_user;
	char     auth_mech[32];
	char    *auth_data;
	unsigned auth_step;

	/* transaction */
	int      mail;		/* MAIL accepted */
	char    *sender;
	int      smtputf8, body8bit, utf8_addr, ret;
	char    *envid;
	struct smtpd_rcpt_in *rcpt;
	size_t   nrcpt, rcpt_alloc;
	struct smtpd_data data;
	int      data_active;
	struct queue_msg *msg;	/* built, not yet taken */
};

static void
smtpd_state_set(smtpd_proto *p, enum smtpd_state st)
{
	/* The only place the state changes; invariants are checked here. */
	UTIL_ASSERT(p->st != SMTPD_S_CLOSED || st == SMTPD_S_CLOSED);
	p->st = st;
}

/* Queue one reply line; code is read from its first three digits. */
static void
smtpd_reply(smtpd_proto *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
smtpd_reply(smtpd_proto *p, const char *fmt, ...)
{
	char line[SMTPD_CMD_LINE_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof(line) - 3)
		n = (int)sizeof(line) - 3;
	line[n++] = '\r';
	line[n++] = '\n';
	if (line[0] == '4' || line[0] == '5')
		p->errors++;
	/* The owner drains output after every run and runs stop at half
	 * capacity, so this cannot fill up. */
	UTIL_ASSERT(dynbuf_add(&p->out, line, (size_t)n) == 0);
}

static void
smtpd_txn_reset(smtpd_proto *p)
{
	size_t i;

	p->mail = 0;
	free(p->sender);
	p->sender = NULL;
	free(p->envid);
	p->envid = NULL;
	p->smtputf8 = p->body8bit = p->utf8_addr = 0;
	p->ret = QUEUE_RET_DEFAULT;
	for (i = 0; i < p->nrcpt; i++) {
		free(p->rcpt[i].addr);
		free(p->rcpt[i].orcpt);
	}
	p->nrcpt = 0;
	if (p->data_active) {
		smtpd_data_free(&p->data);
		p->data_active = 0;
	}
	queue_msg_free(p->msg);
	p->msg = NULL;
}

static void
smtpd_auth_clear(smtpd_proto *p)
{
	free(p->auth_data);
	p->auth_data = NULL;
	p->auth_mech[0] = '\0';
	p->auth_step = 0;
}

smtpd_proto *
smtpd_proto_new(const struct smtpd_params *pr)
{
	smtpd_proto *p = xcalloc(1, sizeof(*p));

	p->pr = *pr;
	p->tls_active = pr->tls_active;
	if (pr->tls_active && pr->tls_text != NULL)
		snprintf(p->tls_text, sizeof(p->tls_text), "%s", pr->tls_text);
	dynbuf_init(&p->in, SMTPD_INPUT_MAX + SMTPD_AUTH_LINE_MAX);
	dynbuf_init(&p->out, SMTPD_OUTPUT_MAX);
	p->st = SMTPD_S_CMD;
	return p;
}

void
smtpd_proto_free(smtpd_proto *p)
{
	if (p == NULL)
		return;
	smtpd_txn_reset(p);
	smtpd_auth_clear(p);
	free(p->rcpt);
	free(p->auth_user);
	dynbuf_free(&p->in);
	dynbuf_free(&p->out);
	free(p);
}

void
smtpd_proto_greet(smtpd_proto *p)
{
	smtpd_reply(p, "220 %s ESMTP sealpost", p->pr.myhostname);
}

int
smtpd_proto_feed(smtpd_proto *p, const void *buf, size_t len)
{
	if (p->st == SMTPD_S_CLOSED || p->close_pending)
		return -1;
	if (p->in.len - p->inpos + len > SMTPD_INPUT_MAX + SMTPD_AUTH_LINE_MAX ||
	    (p->inpos > 0 && p->in.len + len > p->in.max)) {
		/* compact first; if it still does not fit, give up */
		size_t keep = p->in.len - p->inpos;

		memmove(p->in.p, p->in.p + p->inpos, keep);
		p->in.len = keep;
		p->in.p[keep] = '\0';
		p->inpos = 0;
	}
	if (dynbuf_add(&p->in, buf, len) < 0) {
		smtpd_reply(p, "421 4.7.0 %s Error: too much pipelined input",
		    p->pr.myhostname);
		p->close_pending = 1;
		return -1;
	}
	return 0;
}

int
smtpd_proto_waiting(const smtpd_proto *p)
{
	return p->st == SMTPD_S_WAIT_QUEUE || p->st == SMTPD_S_WAIT_TLS ||
	    p->st == SMTPD_S_WAIT_AUTH;
}

const char *
smtpd_proto_output(const smtpd_proto *p, size_t *len)
{
	*len = p->out.len;
	return p->out.p != NULL ? p->out.p : "";
}

void
smtpd_proto_output_done(smtpd_proto *p)
{
	dynbuf_reset(&p->out);
}

int
smtpd_proto_in_data(const smtpd_proto *p)
{
	return p->st == SMTPD_S_DATA;
}

uint64_t
smtpd_proto_commands(const smtpd_proto *p)
{
	return p->commands;
}

void
smtpd_proto_timeout(smtpd_proto *p)
{
	if (p->st == SMTPD_S_CLOSED)
		return;
	smtpd_reply(p, "421 4.4.2 %s Error: timeout exceeded",
	    p->pr.myhostname);
	smtpd_state_set(p, SMTPD_S_CLOSED);
}

void
smtpd_proto_shutdown(smtpd_proto *p)
{
	if (p->st == SMTPD_S_CLOSED)
		return;
	smtpd_reply(p, "421 4.3.2 %s Service shutting down, closing "
	    "connection", p->pr.myhostname);
	smtpd_state_set(p, SMTPD_S_CLOSED);
}

/* ---- commands ----------------------------------------------------------- */

/* The verb of a command line, upper-cased into verb; returns the
 * argument part (after one space) or the empty string. */
static const char *
smtpd_verb(const char *line, size_t len, char *verb, size_t verblen)
{
	size_t i;

	for (i = 0; i < len && line[i] != ' ' && i + 1 < verblen; i++)
		verb[i] = (line[i] >= 'a' && line[i] <= 'z') ?
		    (char)(line[i] - 32) : line[i];
	verb[i] = '\0';
	if (i < len && line[i] != ' ') {
		verb[0] = '\0';		/* longer than any verb */
		return "";
	}
	while (i < len && line[i] == ' ')
		i++;
	return line + i;
}

/* HELO/EHLO argument: a domain or an address literal; we accept the
 * characters real clients use ('_' too) and nothing that could break
 * the Received field. */
static int
smtpd_helo_ok(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		char c = s[i];

		if (i >= SMTPD_DOMAIN_MAX)
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '-' ||
		    c == '_' || c == '[' || c == ']' || c == ':'))
			return 0;
	}
	return i > 0;
}

/* Is mech (upper case) one of the words of list? */
static int
smtpd_mech_listed(const char *list, const char *mech)
{
	size_t n = strlen(mech);
	const char *w = list;

	while (w != NULL && *w != '\0') {
		while (*w == ' ')
			w++;
		if (util_strncasecmp(w, mech, n) == 0 &&
		    (w[n] == ' ' || w[n] == '\0'))
			return 1;
		w = strchr(w, ' ');
	}
	return 0;
}

static void
smtpd_ehlo_reply(smtpd_proto *p)
{
	char mechs[SMTPD_MECHS_MAX];
	const char *lines[12];
	char size[48];
	size_t n = 0, i, o = 0;
	const char *w = p->pr.sasl_mechs;

	/* AUTH: the SASL mechanisms, minus PLAIN/LOGIN outside TLS */
	mechs[0] = '\0';
	while (p->pr.sasl_enable && w != NULL && *w != '\0') {
		const char *e;
		char one[64];
		size_t l;

		while (*w == ' ')
			w++;
		e = strchr(w, ' ');
		l = e != NULL ? (size_t)(e - w) : strlen(w);
		if (l > 0 && l < sizeof(one)) {
			memcpy(one, w, l);
			one[l] = '\0';
			if (smtpd_policy_mech_ok(one, p->tls_active) &&
			    o + l + 2 < sizeof(mechs)) {
				if (o > 0)
					mechs[o++] = ' ';
				memcpy(mechs + o, one, l);
				o += l;
				mechs[o] = '\0';
			}
		}
		w = e;
	}
	snprintf(size, sizeof(size), "SIZE %llu",
	    (unsigned long long)p->pr.message_size_limit);
	lines[n++] = "PIPELINING";
	lines[n++] = size;
	lines[n++] = "8BITMIME";
	lines[n++] = "SMTPUTF8";
	lines[n++] = "ENHANCEDSTATUSCODES";
	lines[n++] = "DSN";
	if (p->pr.tls_offer && !p->tls_active)
		lines[n++] = "STARTTLS";
	smtpd_reply(p, "250-%s", p->pr.myhostname);
	for (i = 0; i < n; i++)
		smtpd_reply(p, "250%c%s", i + 1 == n && mechs[0] == '\0' ?
		    ' ' : '-', lines[i]);
	if (mechs[0] != '\0')
		smtpd_reply(p, "250 AUTH %s", mechs);
}

static void
smtpd_cmd_helo(smtpd_proto *p, const char *arg, int esmtp)
{
	if (!smtpd_helo_ok(arg)) {
		smtpd_reply(p, "501 5.5.4 Syntax: %s hostname",
		    esmtp ? "EHLO" : "HELO");
		return;
	}
	smtpd_txn_reset(p);
	snprintf(p->helo, sizeof(p->helo), "%s", arg);
	p->esmtp = esmtp;
	if (esmtp)
		smtpd_ehlo_reply(p);
	else
		smtpd_reply(p, "250 %s", p->pr.myhostname);
}

/* Split "KEY=VALUE KEY2" parameters; calls fn per parameter.  Returns
 * NULL or the reply already given. */
typedef int (*smtpd_param_fn)(smtpd_proto *p, const char *key, size_t klen,
    const char *val, size_t vlen, void *arg);

static int
smtpd_params_walk(smtpd_proto *p, const char *s, smtpd_param_fn fn,
    void *arg)
{
	while (*s != '\0') {
		const char *e, *eq;
		size_t klen, vlen = 0;

		while (*s == ' ')
			s++;
		if (*s == '\0')
			break;
		e = strchr(s, ' ');
		if (e == NULL)
			e = s + strlen(s);
		eq = memchr(s, '=', (size_t)(e - s));
		klen = eq != NULL ? (size_t)(eq - s) : (size_t)(e - s);
		if (eq != NULL)
			vlen = (size_t)(e - eq - 1);
		if (klen == 0) {
			smtpd_reply(p, "501 5.5.4 Error: bad parameter syntax");
			return -1;
		}
		if (fn(p, s, klen, eq != NULL ? eq + 1 : NULL, vlen, arg) < 0)
			return -1;
		s = e;
	}
	return 0;
}

static int
smtpd_key_is(const char *key, size_t klen, const char *name)
{
	return strlen(name) == klen && util_strncasecmp(key, name, klen) == 0;
}

struct smtpd_mail_seen {
	int size, body, utf8, ret, envid, auth;
};

static int
smtpd_mail_param(smtpd_proto *p, const char *k, size_t kl, const char *v,
    size_t vl, void *arg)
{
	struct smtpd_mail_seen *seen = arg;
	int *flag = NULL;
	uint64_t n;

	if (smtpd_key_is(k, kl, "SIZE"))
		flag = &seen->size;
	else if (smtpd_key_is(k, kl, "BODY"))
		flag = &seen->body;
	else if (smtpd_key_is(k, kl, "SMTPUTF8"))
		flag = &seen->utf8;
	else if (smtpd_key_is(k, kl, "RET"))
		flag = &seen->ret;
	else if (smtpd_key_is(k, kl, "ENVID"))
		flag = &seen->envid;
	else if (smtpd_key_is(k, kl, "AUTH"))
		flag = &seen->auth;
	if (flag == NULL) {
		smtpd_reply(p, "555 5.5.4 Error: unsupported parameter %.*s",
		    (int)(kl > 32 ? 32 : kl), k);
		return -1;
	}
	if ((*flag)++) {
		smtpd_reply(p, "501 5.5.4 Error: duplicate parameter %.*s",
		    (int)kl, k);
		return -1;
	}
	if (flag == &seen->utf8) {
		if (v != NULL) {
			smtpd_reply(p, "501 5.5.4 Error: SMTPUTF8 takes no value");
			return -1;
		}
		p->smtputf8 = 1;
		return 0;
	}
	if (v == NULL || vl == 0) {
		smtpd_reply(p, "501 5.5.4 Error: %.*s needs a value", (int)kl, k);
		return -1;
	}
	if (flag == &seen->size) {
		if (vl > 20 || util_parse_uint(v, vl, UINT64_MAX, &n) < 0) {
			smtpd_reply(p, "501 5.5.4 Error: bad SIZE value");
			return -1;
		}
		if (n > p->pr.message_size_limit) {
			smtpd_reply(p, "552 5.3.4 Error: message size exceeds "
			    "fixed maximum message size");
			return -1;
		}
	} else if (flag == &seen->body) {
		if (smtpd_key_is(v, vl, "8BITMIME"))
			p->body8bit = 1;
		else if (!smtpd_key_is(v, vl, "7BIT")) {
			smtpd_reply(p, "555 5.5.4 Error: unsupported BODY type");
			return -1;
		}
	} else if (flag == &seen->ret) {
		if (smtpd_key_is(v, vl, "FULL"))
			p->ret = QUEUE_RET_FULL;
		else if (smtpd_key_is(v, vl, "HDRS"))
			p->ret = QUEUE_RET_HDRS;
		else {
			smtpd_reply(p, "501 5.5.4 Error: RET must be FULL or "
			    "HDRS");
			return -1;
		}
	} else if (flag == &seen->envid) {
		char envid[SMTPD_ENVID_MAX + 1];

		if (smtpd_xtext_decode(v, vl, envid, sizeof(envid)) < 0) {
			smtpd_reply(p, "501 5.5.4 Error: bad ENVID");
			return -1;
		}
		free(p->envid);
		p->envid = xstrdup(envid);
	}
	/* AUTH= (RFC 4954 5) is accepted and not used: we trust only our
	 * own authentication, never a claim from the client. */
	return 0;
}

static void
smtpd_cmd_mail(smtpd_proto *p, const char *arg)
{
	struct smtpd_mail_seen seen;
	char addr[SMTPD_PATH_MAX + 1];
	const char *why;
	size_t end;
	int utf8;

	if (p->helo[0] == '\0') {
		smtpd_reply(p, "503 5.5.1 Error: send HELO/EHLO first");
		return;
	}
	if (p->mail) {
		smtpd_reply(p, "503 5.5.1 Error: nested MAIL command");
		return;
	}
	if (util_strncasecmp(arg, "FROM:", 5) != 0) {
		smtpd_reply(p, "501 5.5.4 Syntax: MAIL FROM:<address>");
		return;
	}
	if (smtpd_policy_mail(p->pr.role, p->auth_user != NULL) !=
	    SMTPD_POLICY_OK) {
		smtpd_reply(p, "530 5.7.0 Authentication required");
		return;
	}
	arg += 5;
	if ((why = smtpd_path_parse(arg, strlen(arg), addr, sizeof(addr), &end,
	    &utf8)) != NULL) {
		smtpd_reply(p, "%s", why);
		return;
	}
	if (arg[end] != '\0' && arg[end] != ' ') {
		smtpd_reply(p, "501 5.1.7 Bad sender address syntax");
		return;
	}
	memset(&seen, 0, sizeof(seen));
	p->smtputf8 = p->body8bit = 0;
	p->ret = QUEUE_RET_DEFAULT;
	if (!p->esmtp && arg[end] != '\0') {
		smtpd_reply(p, "555 5.5.4 Error: parameters need EHLO");
		goto fail;
	}
	if (smtpd_params_walk(p, arg + end, smtpd_mail_param, &seen) < 0)
		goto fail;
	if (utf8 && !p->smtputf8) {
		smtpd_reply(p, "553 5.6.7 Error: non-ASCII address needs "
		    "SMTPUTF8");
		goto fail;
	}
	p->utf8_addr = utf8;
	p->sender = xstrdup(addr);
	p->mail = 1;
	smtpd_reply(p, "250 2.1.0 Ok");
	return;
fail:
	free(p->envid);
	p->envid = NULL;
	p->smtputf8 = p->body8bit = 0;
	p->ret = QUEUE_RET_DEFAULT;
}

struct smtpd_rcpt_seen {
	int notify, orcpt;
	unsigned notify_bits;
	char orcpt_val[SMTPD_ORCPT_MAX + 1];
};

static int
smtpd_notify_parse(const char *v, size_t vl, unsigned *out)
{
	unsigned bits = 0;
	size_t i = 0;

	while (i < vl) {
		size_t j = i;

		while (j < vl && v[j] != ',')
			j++;
		if (smtpd_key_is(v + i, j - i, "NEVER"))
			bits |= QUEUE_NOTIFY_NEVER;
		else if (smtpd_key_is(v + i, j - i, "SUCCESS"))
			bits |= QUEUE_NOTIFY_SUCCESS;
		else if (smtpd_key_is(v + i, j - i, "FAILURE"))
			bits |= QUEUE_NOTIFY_FAILURE;
		else if (smtpd_key_is(v + i, j - i, "DELAY"))
			bits |= QUEUE_NOTIFY_DELAY;
		else
			return -1;
		i = j + 1;
		if (j < vl && i == vl)
			return -1;	/* trailing comma */
	}
	/* RFC 3461 4.1: NEVER stands alone */
	if (bits == 0 || ((bits & QUEUE_NOTIFY_NEVER) &&
	    bits != QUEUE_NOTIFY_NEVER))
		return -1;
	*out = bits;
	return 0;
}

static int
smtpd_rcpt_param(smtpd_proto *p, const char *k, size_t kl, const char *v,
    size_t vl, void *arg)
{
	struct smtpd_rcpt_seen *seen = arg;

	if (smtpd_key_is(k, kl, "NOTIFY")) {
		if (seen->notify++) {
			smtpd_reply(p, "501 5.5.4 Error: duplicate NOTIFY");
			return -1;
		}
		if (v == NULL || smtpd_notify_parse(v, vl,
		    &seen->notify_bits) < 0) {
			smtpd_reply(p, "501 5.5.4 Error: bad NOTIFY value");
			return -1;
		}
		return 0;
	}
	if (smtpd_key_is(k, kl, "ORCPT")) {
		const char *semi = v != NULL ? memchr(v, ';', vl) : NULL;
		size_t tl, i;

		if (seen->orcpt++) {
			smtpd_reply(p, "501 5.5.4 Error: duplicate ORCPT");
			return -1;
		}
		tl = semi != NULL ? (size_t)(semi - v) : 0;
		for (i = 0; i < tl; i++)
			if (!((v[i] >= 'a' && v[i] <= 'z') ||
			    (v[i] >= 'A' && v[i] <= 'Z') ||
			    (v[i] >= '0' && v[i] <= '9') || v[i] == '-'))
				tl = 0;
		/* "type;" + decoded xtext, as the queue keeps it */
		if (tl == 0 || tl + 1 >= sizeof(seen->orcpt_val) ||
		    vl > SMTPD_ORCPT_MAX) {
			smtpd_reply(p, "501 5.5.4 Error: bad ORCPT value");
			return -1;
		}
		memcpy(seen->orcpt_val, v, tl + 1);
		if (smtpd_xtext_decode(semi + 1, vl - tl - 1,
		    seen->orcpt_val + tl + 1,
		    sizeof(seen->orcpt_val) - tl - 1) < 0 ||
		    seen->orcpt_val[tl + 1] == '\0') {
			smtpd_reply(p, "501 5.5.4 Error: bad ORCPT value");
			return -1;
		}
		return 0;
	}
	smtpd_reply(p, "555 5.5.4 Error: unsupported parameter %.*s",
	    (int)(kl > 32 ? 32 : kl), k);
	return -1;
}

static void
smtpd_cmd_rcpt(smtpd_proto *p, const char *arg)
{
	struct smtpd_rcpt_seen seen;
	char addr[SMTPD_PATH_MAX + 1];
	const char *why;
	size_t end, i;
	int utf8, postmaster = 0;

	if (!p->mail) {
		smtpd_reply(p, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (util_strncasecmp(arg, "TO:", 3) != 0) {
		smtpd_reply(p, "501 5.5.4 Syntax: RCPT TO:<address>");
		return;
	}
	arg += 3;
	if ((why = smtpd_path_parse(arg, strlen(arg), addr, sizeof(addr), &end,
	    &utf8)) != NULL) {
		smtpd_reply(p, "%s", why);
		return;
	}
	/* RFC 5321 4.5.1: <postmaster> without a domain must be accepted,
	 * from anyone; it goes to the configured postmaster address, a
	 * fixed destination, so it opens no relay */
	if (p->pr.postmaster != NULL && util_strcasecmp(addr, "postmaster") == 0 &&
	    (arg[end] == '\0' || arg[end] == ' ') &&
	    strlen(p->pr.postmaster) < sizeof(addr)) {
		snprintf(addr, sizeof(addr), "%s", p->pr.postmaster);
		postmaster = 1;
	}
	if ((arg[end] != '\0' && arg[end] != ' ') || addr[0] == '\0' ||
	    strchr(addr, '@') == NULL) {
		/* XXX no local delivery: "<postmaster>" without a domain
		 * (RFC 5321 4.5.1) has nowhere to go from a smarthost */
		smtpd_reply(p, "501 5.1.3 Error: recipient address needs "
		    "user@domain");
		return;
	}
	memset(&seen, 0, sizeof(seen));
	if (!p->esmtp && arg[end] != '\0') {
		smtpd_reply(p, "555 5.5.4 Error: parameters need EHLO");
		return;
	}
	if (smtpd_params_walk(p, arg + end, smtpd_rcpt_param, &seen) < 0)
		return;
	if (utf8 && !p->smtputf8) {
		smtpd_reply(p, "553 5.6.7 Error: non-ASCII address needs "
		    "SMTPUTF8");
		return;
	}
	/* submission still wants AUTH (RFC 6409); the MX-facing relay
	 * role takes postmaster mail from anyone */
	switch (postmaster && p->pr.role == CFG_ROLE_RELAY ? SMTPD_POLICY_OK :
	    smtpd_policy_rcpt(p->pr.role, p->pr.client_trusted,
	    p->auth_user != NULL)) {
	case SMTPD_POLICY_OK:
		break;
	case SMTPD_POLICY_AUTH_REQUIRED:
		smtpd_reply(p, "530 5.7.0 Authentication required");
		return;
	case SMTPD_POLICY_RELAY_DENIED:
		smtpd_reply(p, "554 5.7.1 <%s>: relaying denied", addr);
		return;
	}
	for (i = 0; i < p->nrcpt; i++)
		if (strcmp(p->rcpt[i].addr, addr) == 0) {
			smtpd_reply(p, "250 2.1.5 Ok");	/* duplicate */
			return;
		}
	if (p->nrcpt >= p->pr.recipient_limit || p->nrcpt >= QUEUE_RCPT_MAX) {
		smtpd_reply(p, "452 4.5.3 Error: too many recipients");
		return;
	}
	if (p->nrcpt == p->rcpt_alloc) {
		p->rcpt_alloc = p->rcpt_alloc ? p->rcpt_alloc * 2 : 8;
		p->rcpt = xrealloc(p->rcpt, p->rcpt_alloc * sizeof(*p->rcpt));
	}
	p->rcpt[p->nrcpt].addr = xstrdup(addr);
	p->rcpt[p->nrcpt].orcpt = seen.orcpt ? xstrdup(seen.orcpt_val) : NULL;
	p->rcpt[p->nrcpt].notify = seen.notify_bits;
	p->nrcpt++;
	p->utf8_addr |= utf8;
	smtpd_reply(p, "250 2.1.5 Ok");
}

static void
smtpd_cmd_data(smtpd_proto *p, const char *arg)
{
	if (*arg != '\0') {
		smtpd_reply(p, "501 5.5.4 Syntax: DATA");
		return;
	}
	if (!p->mail) {
		smtpd_reply(p, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (p->nrcpt == 0) {
		/* RFC 2920 3.1: every RCPT failed */
		smtpd_reply(p, "554 5.5.1 Error: no valid recipients");
		return;
	}
	smtpd_data_init(&p->data, p->pr.message_size_limit,
	    p->pr.header_size_limit, p->pr.bare_lf);
	p->data_active = 1;
	smtpd_reply(p, "354 End data with <CR><LF>.<CR><LF>");
	smtpd_state_set(p, SMTPD_S_DATA);
}

static enum smtpd_ev
smtpd_cmd_starttls(smtpd_proto *p, const char *arg)
{
	if (!p->pr.tls_offer) {
		smtpd_reply(p, "502 5.5.1 Error: STARTTLS not available");
		return SMTPD_EV_NONE;
	}
	if (p->tls_active) {
		smtpd_reply(p, "503 5.5.1 Error: TLS already active");
		return SMTPD_EV_NONE;
	}
	if (*arg != '\0') {
		smtpd_reply(p, "501 5.5.4 Syntax: STARTTLS");
		return SMTPD_EV_NONE;
	}
	smtpd_reply(p, "220 2.0.0 Ready to start TLS");
	/* CVE-2011-0411: nothing sent in the clear after STARTTLS may be
	 * taken as a command of the TLS session */
	dynbuf_reset(&p->in);
	p->inpos = 0;
	smtpd_state_set(p, SMTPD_S_WAIT_TLS);
	return SMTPD_EV_STARTTLS;
}

void
smtpd_proto_tls_started(smtpd_proto *p, int ok, const char *tls_text)
{
	if (p->st != SMTPD_S_WAIT_TLS)
		return;
	if (!ok) {
		smtpd_state_set(p, SMTPD_S_CLOSED);
		return;
	}
	/* RFC 3207 4.2: forget everything learnt before TLS */
	p->tls_active = 1;
	snprintf(p->tls_text, sizeof(p->tls_text), "%s",
	    tls_text != NULL ? tls_text : "");
	p->helo[0] = '\0';
	p->esmtp = 0;
	free(p->auth_user);
	p->auth_user = NULL;
	smtpd_auth_clear(p);
	smtpd_txn_reset(p);
	dynbuf_reset(&p->in);
	p->inpos = 0;
	smtpd_state_set(p, SMTPD_S_CMD);
}

static enum smtpd_ev
smtpd_cmd_auth(smtpd_proto *p, const char *arg)
{
	const char *sp = strchr(arg, ' ');
	size_t ml = sp != NULL ? (size_t)(sp - arg) : strlen(arg), i;

	if (!p->pr.sasl_enable || p->pr.sasl_mechs == NULL ||
	    p->pr.sasl_mechs[0] == '\0') {
		smtpd_reply(p, "503 5.5.1 Error: authentication not enabled");
		return SMTPD_EV_NONE;
	}
	if (!p->esmtp) {
		smtpd_reply(p, "503 5.5.1 Error: send EHLO first");
		return SMTPD_EV_NONE;
	}
	if (p->auth_user != NULL) {
		smtpd_reply(p, "503 5.5.1 Error: already authenticated");
		return SMTPD_EV_NONE;
	}
	if (p->mail) {
		smtpd_reply(p, "503 5.5.1 Error: MAIL transaction in progress");
		return SMTPD_EV_NONE;
	}
	if (ml == 0 || ml >= sizeof(p->auth_mech)) {
		smtpd_reply(p, "501 5.5.4 Syntax: AUTH mechanism");
		return SMTPD_EV_NONE;
	}
	for (i = 0; i < ml; i++)
		p->auth_mech[i] = (arg[i] >= 'a' && arg[i] <= 'z') ?
		    (char)(arg[i] - 32) : arg[i];
	p->auth_mech[ml] = '\0';
	if (!smtpd_mech_listed(p->pr.sasl_mechs, p->auth_mech)) {
		smtpd_auth_clear(p);
		smtpd_reply(p, "504 5.5.4 Error: unrecognized authentication "
		    "type");
		return SMTPD_EV_NONE;
	}
	if (!smtpd_policy_mech_ok(p->auth_mech, p->tls_active)) {
		smtpd_auth_clear(p);
		smtpd_reply(p, "538 5.7.11 Encryption required for requested "
		    "authentication mechanism");
		return SMTPD_EV_NONE;
	}
	free(p->auth_data);
	p->auth_data = NULL;
	if (sp != NULL) {
		const char *ir = sp + 1;

		p->auth_data = xstrdup(strcmp(ir, "=") == 0 ? "" : ir);
	}
	p->auth_step = 0;
	smtpd_state_set(p, SMTPD_S_WAIT_AUTH);
	return SMTPD_EV_AUTH;
}

static enum smtpd_ev
smtpd_auth_input(smtpd_proto *p, const char *line)
{
	if (strcmp(line, "*") == 0) {
		smtpd_auth_clear(p);
		smtpd_reply(p, "501 5.7.0 Authentication aborted");
		smtpd_state_set(p, SMTPD_S_CMD);
		return SMTPD_EV_AUTH_ABORT;
	}
	free(p->auth_data);
	p->auth_data = xstrdup(line);
	p->auth_step++;
	smtpd_state_set(p, SMTPD_S_WAIT_AUTH);
	return SMTPD_EV_AUTH;
}

const char *
smtpd_proto_auth_mech(const smtpd_proto *p)
{
	return p->auth_mech;
}

const char *
smtpd_proto_auth_data(const smtpd_proto *p)
{
	return p->auth_data;
}

unsigned
smtpd_proto_auth_step(const smtpd_proto *p)
{
	return p->auth_step;
}

const char *
smtpd_proto_auth_user(const smtpd_proto *p)
{
	return p->auth_user;
}

void
smtpd_proto_auth_reply(smtpd_proto *p, enum smtpd_auth_rc rc,
    const char *text)
{
	if (p->st != SMTPD_S_WAIT_AUTH)
		return;
	switch (rc) {
	case SMTPD_AUTH_CONTINUE:
		smtpd_reply(p, "334 %s", text != NULL ? text : "");
		smtpd_state_set(p, SMTPD_S_AUTH_INPUT);
		return;
	case SMTPD_AUTH_OK:
		free(p->auth_user);
		p->auth_user = xstrdup(text != NULL ? text : "");
		smtpd_reply(p, "235 2.7.0 Authentication successful");
		break;
	case SMTPD_AUTH_FAIL:
		smtpd_reply(p, "535 5.7.8 Error: authentication failed");
		break;
	case SMTPD_AUTH_BADMSG:
		smtpd_reply(p, "501 5.5.2 Error: cannot decode response");
		break;
	case SMTPD_AUTH_TEMPFAIL:
		smtpd_reply(p, "454 4.7.0 Temporary authentication failure");
		break;
	}
	smtpd_auth_clear(p);
	smtpd_state_set(p, SMTPD_S_CMD);
}

/* One complete line in state CMD or AUTH_INPUT. */
static enum smtpd_ev
smtpd_line(smtpd_proto *p, const char *line, size_t len)
{
	char verb[16];
	const char *arg;
	size_t limit = SMTPD_CMD_LINE_MAX - 2;

	if (memchr(line, '\0', len) != NULL || memchr(line, '\r', len) != NULL) {
		if (p->st == SMTPD_S_AUTH_INPUT) {
			smtpd_auth_clear(p);
			smtpd_state_set(p, SMTPD_S_CMD);
			smtpd_reply(p, "501 5.5.2 Error: bad characters in "
			    "response");
			return SMTPD_EV_AUTH_ABORT;
		}
		smtpd_reply(p, "500 5.5.2 Error: bad characters in command");
		return SMTPD_EV_NONE;
	}
	if (p->st == SMTPD_S_AUTH_INPUT) {
		if (len > SMTPD_AUTH_LINE_MAX - 2) {
			smtpd_auth_clear(p);
			smtpd_state_set(p, SMTPD_S_CMD);
			smtpd_reply(p, "500 5.5.2 Error: line too long");
			return SMTPD_EV_AUTH_ABORT;
		}
		return smtpd_auth_input(p, line);
	}
	arg = smtpd_verb(line, len, verb, sizeof(verb));
	if (strcmp(verb, "MAIL") == 0 || strcmp(verb, "RCPT") == 0)
		limit = SMTPD_MAILRCPT_LINE_MAX - 2;
	else if (strcmp(verb, "AUTH") == 0)
		limit = SMTPD_AUTH_LINE_MAX - 2;
	if (len > limit) {
		smtpd_reply(p, "500 5.5.2 Error: line too long");
		return SMTPD_EV_NONE;
	}
	if (strcmp(verb, "EHLO") == 0)
		smtpd_cmd_helo(p, arg, 1);
	else if (strcmp(verb, "HELO") == 0)
		smtpd_cmd_helo(p, arg, 0);
	else if (strcmp(verb, "MAIL") == 0)
		smtpd_cmd_mail(p, arg);
	else if (strcmp(verb, "RCPT") == 0)
		smtpd_cmd_rcpt(p, arg);
	else if (strcmp(verb, "DATA") == 0)
		smtpd_cmd_data(p, arg);
	else if (strcmp(verb, "RSET") == 0) {
		if (*arg != '\0')
			smtpd_reply(p, "501 5.5.4 Syntax: RSET");
		else {
			smtpd_txn_reset(p);
			smtpd_reply(p, "250 2.0.0 Ok");
		}
	} else if (strcmp(verb, "NOOP") == 0)
		smtpd_reply(p, "250 2.0.0 Ok");
	else if (strcmp(verb, "QUIT") == 0) {
		smtpd_reply(p, "221 2.0.0 Bye");
		smtpd_state_set(p, SMTPD_S_CLOSED);
		return SMTPD_EV_CLOSE;
	} else if (strcmp(verb, "STARTTLS") == 0)
		return smtpd_cmd_starttls(p, arg);
	else if (strcmp(verb, "AUTH") == 0)
		return smtpd_cmd_auth(p, arg);
	else if (strcmp(verb, "VRFY") == 0)
		smtpd_reply(p, "252 2.5.2 Cannot VRFY user, but will accept "
		    "message and attempt delivery");
	else if (strcmp(verb, "EXPN") == 0)
		smtpd_reply(p, "502 5.5.1 Error: EXPN not available");
	else if (strcmp(verb, "HELP") == 0)
		smtpd_reply(p, "214 2.0.0 See RFC 5321");
	else
		smtpd_reply(p, "500 5.5.2 Error: command not recognized");
	return SMTPD_EV_NONE;
}

/* ---- DATA ---------------------------------------------------------------- */

/* The queue_msg for the finished DATA under queue ID qid: envelope,
 * flags, Received and missing fields.  NULL when the result would be
 * too large: 552 is queued and the transaction is over. */
static struct queue_msg *
smtpd_msg_build(smtpd_proto *p, const char *qid)
{
	struct smtpd_data *d = &p->data;
	struct smtpd_trace t;
	struct queue_msg *m;
	size_t i;
	uint64_t max;

	UTIL_ASSERT(p->data_active && queue_id_valid(qid) == 0);
	m = queue_msg_new();
	memcpy(m->qid, qid, QUEUE_ID_LEN + 1);
	m->arrival = util_wall_time();
	free(m->sender);
	m->sender = xstrdup(p->sender);
	m->envid = xstrdup(p->envid);
	m->ret = p->ret;
	for (i = 0; i < p->nrcpt; i++)
		queue_msg_add_rcpt(m, p->rcpt[i].addr, p->rcpt[i].orcpt,
		    p->rcpt[i].notify);
	if (p->body8bit || d->eightbit)
		m->flags |= QUEUE_MSG_8BITMIME;
	if (p->smtputf8 && (p->utf8_addr || d->eightbit))
		m->flags |= QUEUE_MSG_SMTPUTF8;
	if (d->tls_required_no)
		m->flags |= QUEUE_MSG_NO_TLS_REQ;	/* RFC 8689 */

	memset(&t, 0, sizeof(t));
	t.helo = p->helo;
	t.client_addr = p->pr.client_addr;
	t.myhostname = p->pr.myhostname;
	t.protocol = smtpd_protocol_name(p->esmtp, p->smtputf8, p->tls_active,
	    p->auth_user != NULL);
	t.tls_text = p->tls_active ? p->tls_text : NULL;
	t.qid = m->qid;
	t.for_rcpt = p->nrcpt == 1 ? p->rcpt[0].addr : NULL;
	t.now = m->arrival;
	t.local_submit = p->pr.local_submit;
	t.local_uid = p->pr.local_uid;
	max = p->pr.message_size_limit + 8192;	/* our trace fields */
	if (smtpd_msg_compose(&t, d, max > SIZE_MAX / 2 ? SIZE_MAX / 2 :
	    (size_t)max, &m->body, &m->body_len) < 0) {
		queue_msg_free(m);
		smtpd_reply(p, "552 5.3.4 Error: message size exceeds fixed "
		    "maximum message size");
		smtpd_txn_reset(p);
		return NULL;
	}
	m->size = m->body_len;
	smtpd_data_free(d);
	p->data_active = 0;
	return m;
}

static enum smtpd_ev
smtpd_data_done(smtpd_proto *p)
{
	struct smtpd_data *d = &p->data;
	char qid[QUEUE_ID_LEN + 1];

	smtpd_state_set(p, SMTPD_S_CMD);
	if (d->too_big)
		smtpd_reply(p, "552 5.3.4 Error: message size exceeds fixed "
		    "maximum message size");
	else if (d->header_too_big)
		smtpd_reply(p, "552 5.3.4 Error: message header size exceeds "
		    "limit");
	else if (d->bad_bare)
		smtpd_reply(p, "550 5.5.2 Error: bare CR or LF in message "
		    "data; lines must end in CRLF (SMTP smuggling protection)");
	else if (d->too_long_line)
		smtpd_reply(p, "550 5.5.2 Error: message line longer than "
		    "998 characters (RFC 5322 2.1.1)");
	if (d->too_big || d->header_too_big || d->bad_bare ||
	    d->too_long_line) {
		smtpd_txn_reset(p);
		return SMTPD_EV_NONE;
	}

	if (p->pr.local_submit) {
		/* the owner picks the ID: smtpd_proto_take_msg_as() composes */
		smtpd_state_set(p, SMTPD_S_WAIT_QUEUE);
		return SMTPD_EV_MESSAGE;
	}
	queue_id_new(qid);
	if ((p->msg = smtpd_msg_build(p, qid)) == NULL)
		return SMTPD_EV_NONE;
	smtpd_state_set(p, SMTPD_S_WAIT_QUEUE);
	return SMTPD_EV_MESSAGE;
}

struct queue_msg *
smtpd_proto_take_msg(smtpd_proto *p)
{
	struct queue_msg *m = p->msg;

	UTIL_ASSERT(p->st == SMTPD_S_WAIT_QUEUE && m != NULL);
	p->msg = NULL;
	return m;
}

struct queue_msg *
smtpd_proto_take_msg_as(smtpd_proto *p, const char *qid)
{
	struct queue_msg *m;

	UTIL_ASSERT(p->st == SMTPD_S_WAIT_QUEUE && p->pr.local_submit &&
	    p->msg == NULL);
	if ((m = smtpd_msg_build(p, qid)) == NULL)
		smtpd_state_set(p, SMTPD_S_CMD);
	return m;
}

void
smtpd_proto_queued(smtpd_proto *p, int rc, const char *qid)
{
	if (p->st != SMTPD_S_WAIT_QUEUE)
		return;		/* closed meanwhile */
	if (rc == 0)
		smtpd_reply(p, "250 2.0.0 Ok: queued as %s", qid);
	else if (p->pr.local_submit)
		smtpd_reply(p, "451 4.3.0 Error: queue file write error, "
		    "try again later");
	else
		smtpd_reply(p, "452 4.3.1 Error: insufficient system storage, "
		    "try again later");
	smtpd_txn_reset(p);
	smtpd_state_set(p, SMTPD_S_CMD);
}

/* ---- the run loop ---------------------------------------------------------- */

/* Pick the next line out of the input; 1 with line/len set, 0 if none
 * is complete yet.  Handles overlong lines. */
static int
smtpd_next_line(smtpd_proto *p, char **line, size_t *len, int *toolong)
{
	char *start = p->in.p + p->inpos;
	size_t avail = p->in.len - p->inpos;
	char *nl = avail > 0 ? memchr(start, '\n', avail) : NULL;

	*toolong = 0;
	if (nl == NULL) {
		if (p->discarding || avail > SMTPD_AUTH_LINE_MAX) {
			/* no command is this long: drop what we have and
			 * keep swallowing up to the end of the line */
			p->discarding = 1;
			p->inpos = p->in.len;
		}
		return 0;
	}
	p->inpos += (size_t)(nl - start) + 1;
	if (p->discarding) {
		p->discarding = 0;
		*toolong = 1;
	}
	*len = (size_t)(nl - start);
	if (*len > 0 && start[*len - 1] == '\r')
		(*len)--;
	start[*len] = '\0';
	*line = start;
	return 1;
}

enum smtpd_ev
smtpd_proto_run(smtpd_proto *p)
{
	for (;;) {
		enum smtpd_ev ev;
		char *line;
		size_t len, used;
		int toolong;

		if (p->st == SMTPD_S_CLOSED)
			return SMTPD_EV_CLOSE;
		if (p->close_pending) {
			smtpd_state_set(p, SMTPD_S_CLOSED);
			return SMTPD_EV_CLOSE;
		}
		if (smtpd_proto_waiting(p))
			return SMTPD_EV_NONE;
		if (p->inpos == p->in.len) {
			dynbuf_reset(&p->in);
			p->inpos = 0;
			return SMTPD_EV_NONE;
		}
		if (p->out.len > SMTPD_OUTPUT_MAX / 2)
			return SMTPD_EV_FLUSH;
		if (p->st == SMTPD_S_DATA) {
			if (smtpd_data_feed(&p->data, p->in.p + p->inpos,
			    p->in.len - p->inpos, &used) == SMTPD_DATA_MORE) {
				p->inpos += used;
				continue;
			}
			p->inpos += used;
			p->commands++;
			if ((ev = smtpd_data_done(p)) != SMTPD_EV_NONE)
				return ev;
		} else {
			if (!smtpd_next_line(p, &line, &len, &toolong))
				return SMTPD_EV_NONE;
			p->commands++;
			if (toolong)
				smtpd_reply(p, "500 5.5.2 Error: line too long");
			else if ((ev = smtpd_line(p, line, len)) != SMTPD_EV_NONE)
				return ev;
		}
		if (p->errors >= p->pr.error_limit &&
		    p->st != SMTPD_S_CLOSED) {
			smtpd_reply(p, "421 4.7.0 %s Error: too many errors",
			    p->pr.myhostname);
			smtpd_state_set(p, SMTPD_S_CLOSED);
			return SMTPD_EV_CLOSE;
		}
	}
}
