/*
 * sendmail_args.c - the sendmail command line.
 *
 * Programs that send mail call /usr/sbin/sendmail with whatever flags
 * their authors learned from Eric Allman's sendmail, so we accept its
 * syntax (getopt-style bundling, "-oX" options, "-fuser" and "-f user")
 * and ignore the flags that only mean something to sendmail's own
 * internals, as Postfix does.  Modes we do not implement fail loudly
 * instead of pretending.
 *
 * The parser is a pure function over argv so tests can drive it with a
 * table; it allocates nothing and never exits.  Values are checked here
 * as far as they can be without the configuration (DSN keywords, ENVID
 * characters, path lengths); addresses are checked later, once
 * myhostname is known.
 */
#include <string.h>
#include <sysexits.h>

#include "queue.h"
#include "sendmail.h"

/* Option letters that take a value, and what we do with them. */
enum arg_kind {
	ARG_FLAG,		/* no value */
	ARG_VALUE,		/* value in the rest of the word or next word */
	ARG_BAD			/* unknown letter */
};

static const char sendmail_usage_text[] =
    "usage: sendmail [-t] [-i] [-v] [-f sender] [-F name] [-N dsn] "
    "[-R full|hdrs] [-V envid] [-B 7BIT|8BITMIME] [-C config] [-bm|-bp|-bs] "
    "[-q] [--] [recipient ...]";

const char *
sendmail_usage(void)
{
	return sendmail_usage_text;
}

static int
args_fail(char *err, size_t errlen, int rc, const char *what, const char *arg)
{
	char safe[80];

	if (arg == NULL) {
		snprintf(err, errlen, "%s", what);
	} else {
		util_printable(arg, strlen(arg), safe, sizeof(safe));
		snprintf(err, errlen, "%s: %s", what, safe);
	}
	return rc;
}

static enum arg_kind
args_kind(char c)
{
	switch (c) {
	case 'B': case 'C': case 'F': case 'N': case 'R': case 'V':
	case 'b': case 'f': case 'r': case 'o': case 'q':
	/* sendmail options we take and ignore, with a value */
	case 'L': case 'O': case 'X': case 'e': case 'h': case 'p': case 'A':
		return ARG_VALUE;
	case 't': case 'i': case 'v':
	case 'c': case 'm': case 'n': case 'x': case 'G': case 'U': case 'I':
		return ARG_FLAG;
	default:
		return ARG_BAD;
	}
}

/* -N never | comma list of success,failure,delay (RFC 3461 4.1). */
static int
args_notify(const char *v, unsigned *out)
{
	unsigned bits = 0;
	const char *p = v;

	if (util_strcasecmp(v, "never") == 0) {
		*out = QUEUE_NOTIFY_NEVER;
		return 0;
	}
	while (*p != '\0') {
		size_t n = strcspn(p, ",");

		if (n == 7 && util_strncasecmp(p, "success", 7) == 0)
			bits |= QUEUE_NOTIFY_SUCCESS;
		else if (n == 7 && util_strncasecmp(p, "failure", 7) == 0)
			bits |= QUEUE_NOTIFY_FAILURE;
		else if (n == 5 && util_strncasecmp(p, "delay", 5) == 0)
			bits |= QUEUE_NOTIFY_DELAY;
		else
			return -1;	/* also "never" inside a list, empty items */
		p += n;
		if (*p == ',' && *++p == '\0')
			return -1;
	}
	if (bits == 0)
		return -1;
	*out = bits;
	return 0;
}

/*
 * ENVID travels as xtext (RFC 3461 4), so any byte could be encoded, but
 * it is shown to people in DSNs: we take printable ASCII only.
 */
static int
args_envid(const char *v)
{
	size_t n = strlen(v), i;

	if (n == 0 || n > SENDMAIL_ENVID_MAX)
		return -1;
	for (i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x21 || (unsigned char)v[i] > 0x7e)
			return -1;
	return 0;
}

/* -b<mode> */
static int
args_mode(struct sendmail_opts *o, const char *v, char *err, size_t errlen)
{
	if (strcmp(v, "m") == 0) {
		o->mode = SENDMAIL_MODE_DELIVER;
		return 0;
	}
	if (strcmp(v, "p") == 0) {
		o->mode = SENDMAIL_MODE_LIST;
		return 0;
	}
	if (strcmp(v, "s") == 0) {
		o->mode = SENDMAIL_MODE_SMTP;
		return 0;
	}
	if (strcmp(v, "d") == 0 || strcmp(v, "D") == 0)
		return args_fail(err, errlen, EX_UNAVAILABLE, "-bd/-bD is not "
		    "supported: sealpostd is the daemon", NULL);
	if (strcmp(v, "i") == 0)
		return args_fail(err, errlen, EX_UNAVAILABLE, "-bi (newaliases) "
		    "is not supported: sealpost relays, it has no aliases", NULL);
	if (strcmp(v, "v") == 0 || strcmp(v, "t") == 0 ||
	    strcmp(v, "h") == 0 || strcmp(v, "H") == 0 ||
	    strcmp(v, "P") == 0 || strcmp(v, "a") == 0)
		return args_fail(err, errlen, EX_UNAVAILABLE,
		    "mode not supported", v);
	return args_fail(err, errlen, EX_USAGE, "unknown mode -b", v);
}

/* -q, -q<interval>, -qRsite, -qSsite, -qI/-qQ... */
static int
args_queue(struct sendmail_opts *o, const char *v, char *err, size_t errlen)
{
	uint64_t secs;

	if (*v == '\0') {
		o->mode = SENDMAIL_MODE_FLUSH;
		o->flush_site = NULL;
		return 0;
	}
	if (v[0] == 'R' || v[0] == 'S') {
		/* Flush the deferred mail for one site.  The daemon checks
		 * the name again; we only keep junk off its socket. */
		size_t n = strlen(v + 1), i;

		if (n == 0 || n > 253)
			return args_fail(err, errlen, EX_USAGE,
			    "bad site for -q", v);
		for (i = 1; i <= n; i++) {
			char c = v[i];

			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '-' || c == '.'))
				return args_fail(err, errlen, EX_USAGE,
				    "bad site for -q", v);
		}
		o->mode = SENDMAIL_MODE_FLUSH;
		o->flush_site = v + 1;
		return 0;
	}
	if (util_parse_duration(v, 365u * 86400, &secs) == 0) {
		/* sendmail -q30m runs the queue periodically; sealpostd
		 * does that by itself. */
		o->mode = SENDMAIL_MODE_IGNORED;
		return 0;
	}
	return args_fail(err, errlen, EX_USAGE, "unsupported -q option", v);
}

/* -o<option>: only -oi matters; the rest were sendmail.cf overrides. */
static void
args_o(struct sendmail_opts *o, const char *v)
{
	if (strcmp(v, "i") == 0)
		o->ignore_dots = 1;
	/* -odb/-odq/-odi (delivery mode), -oem, -oA..., -oQ...: the
	 * maildrop is always asynchronous, nothing to choose. */
}

static int
args_value(struct sendmail_opts *o, char c, const char *v, char *err,
    size_t errlen)
{
	switch (c) {
	case 'b':
		return args_mode(o, v, err, errlen);
	case 'q':
		return args_queue(o, v, err, errlen);
	case 'o':
		args_o(o, v);
		return 0;
	case 'f':
	case 'r':
		if (strlen(v) > QUEUE_ADDR_MAX + 2)
			return args_fail(err, errlen, EX_USAGE,
			    "sender address too long", NULL);
		o->sender = v;
		return 0;
	case 'F':
		o->full_name = v;	/* cut and encoded later */
		return 0;
	case 'N':
		if (args_notify(v, &o->notify) < 0)
			return args_fail(err, errlen, EX_USAGE, "bad -N value "
			    "(never, or a list of success,failure,delay)", v);
		return 0;
	case 'R':
		if (util_strcasecmp(v, "full") == 0)
			o->ret = QUEUE_RET_FULL;
		else if (util_strcasecmp(v, "hdrs") == 0)
			o->ret = QUEUE_RET_HDRS;
		else
			return args_fail(err, errlen, EX_USAGE,
			    "bad -R value (full or hdrs)", v);
		return 0;
	case 'V':
		if (args_envid(v) < 0)
			return args_fail(err, errlen, EX_USAGE, "bad -V envid "
			    "(1-100 printable ASCII characters)", v);
		o->envid = v;
		return 0;
	case 'B':
		if (util_strcasecmp(v, "7BIT") == 0)
			o->body_8bitmime = 0;
		else if (util_strcasecmp(v, "8BITMIME") == 0)
			o->body_8bitmime = 1;
		else
			return args_fail(err, errlen, EX_USAGE,
			    "bad -B value (7BIT or 8BITMIME)", v);
		return 0;
	case 'C':
		if (*v == '\0' || strlen(v) > SENDMAIL_PATH_MAX)
			return args_fail(err, errlen, EX_USAGE,
			    "bad -C path", v);
		o->config_path = v;
		return 0;
	default:
		/* -L -O -X -e -h -p -A: sendmail internals; ignored. */
		return 0;
	}
}

static void
args_defaults(struct sendmail_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->mode = SENDMAIL_MODE_DELIVER;
	o->ret = QUEUE_RET_DEFAULT;
	o->body_8bitmime = -1;
}

static const char *
args_basename(const char *p)
{
	const char *s = strrchr(p, '/');

	return s != NULL ? s + 1 : p;
}

int
sendmail_args_parse(int argc, char *const argv[], struct sendmail_opts *o,
    char *err, size_t errlen)
{
	int i, rc, dashdash = 0;

	args_defaults(o);
	if (argc < 1 || argv[0] == NULL)
		return args_fail(err, errlen, EX_USAGE, "empty argument list",
		    NULL);
	if (strcmp(args_basename(argv[0]), "mailq") == 0)
		o->mode = SENDMAIL_MODE_LIST;
	else if (strcmp(args_basename(argv[0]), "newaliases") == 0)
		return args_mode(o, "i", err, errlen);

	for (i = 1; i < argc; i++) {
		const char *w = argv[i];
		size_t j;

		if (strcmp(w, "--") == 0) {
			i++;
			dashdash = 1;
			break;
		}
		if (w[0] != '-' || w[1] == '\0')
			break;		/* first recipient */
		for (j = 1; w[j] != '\0'; j++) {
			char c = w[j];
			const char *v;

			switch (args_kind(c)) {
			case ARG_BAD:
				return args_fail(err, errlen, EX_USAGE,
				    "unknown option", w);
			case ARG_FLAG:
				if (c == 't')
					o->extract_rcpt = 1;
				else if (c == 'i')
					o->ignore_dots = 1;
				else if (c == 'v')
					o->verbose++;
				else if (c == 'I')
					return args_mode(o, "i", err, errlen);
				continue;
			case ARG_VALUE:
				break;
			}
			if (w[j + 1] != '\0') {
				v = w + j + 1;
			} else if (c == 'q') {
				v = "";		/* -q takes no separate value */
			} else if (i + 1 < argc) {
				v = argv[++i];
			} else {
				return args_fail(err, errlen, EX_USAGE,
				    "option requires a value", w);
			}
			if ((rc = args_value(o, c, v, err, errlen)) != 0)
				return rc;
			break;		/* the value used up the word */
		}
	}
	o->rcpt = (i < argc) ? argv + i : NULL;
	o->nrcpt = (i < argc) ? (size_t)(argc - i) : 0;
	/* Options after recipients: getopt without permutation would make
	 * them addresses; a typo should not become mail to "-x@host".
	 * After "--" the caller asked for literal addresses. */
	if (dashdash)
		return 0;
	for (; i < argc; i++)
		if (argv[i][0] == '-')
			return args_fail(err, errlen, EX_USAGE,
			    "option after recipients", argv[i]);
	return 0;
}
