/*
 * cfg_load.c - read sealpost.conf with libconfuse into struct
 * sealpost_config.
 *
 * Design:
 *  - One table (cfg_keys) names every key, its section, its type, where
 *    it lands in the struct and its range.  The libconfuse option arrays
 *    are generated from it, so a key cannot be known to one and not the
 *    other.
 *  - Every option is declared to libconfuse as a string with a parse
 *    callback.  The callback runs while libconfuse's lexer still sits on
 *    the value, so cfg->line is the value's line; it converts, range
 *    checks and stores straight into our struct, and notes the line for
 *    the checks that span keys (backoff order, relayhost SASL).  Lists are
 *    checked element by element there too but read back after the parse,
 *    because libconfuse owns the "=" versus "+=" semantics.
 *  - The file is read into memory (bounded), passed through
 *    cfg_prescan() (see cfg_int.h for why) and given to libconfuse
 *    through fmemopen().
 *  - Nothing here prints: the first error is formatted "file:line: text"
 *    into the caller's buffer.
 *
 * XXX libconfuse's lexer keeps global state, so cfg_load() serialises on
 * a mutex; it is meant for start-up and reload, not hot paths.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <confuse.h>

/*
 * libconfuse's cfg_free(cfg_t *) must be reachable here, but config.h
 * turns the name cfg_free into our cfg_sealpost_free.  So wrap it before
 * config.h is included (and keep this include order).
 */
static void
cfg_confuse_free(cfg_t *c)
{
	cfg_free(c);
}

#include "cfg_int.h"
#include "config.h"
#include "util.h"

enum cfg_kind {
	CFG_K_PATH,		/* char *, relative to the file's directory */
	CFG_K_HOSTNAME,		/* char *, LDH */
	CFG_K_ADDRESS,		/* char *, mail address or local part */
	CFG_K_USER,		/* char *, login name or "" */
	CFG_K_TEXT,		/* char *, printable */
	CFG_K_LOG,		/* int, stderr | syslog */
	CFG_K_BOOL,		/* int */
	CFG_K_UINT,		/* unsigned, plain number */
	CFG_K_PORT,		/* uint16_t */
	CFG_K_SECS,		/* unsigned seconds, duration syntax */
	CFG_K_SECS64,		/* uint64_t seconds, duration syntax */
	CFG_K_SIZE,		/* uint64_t bytes, k/M/G */
	CFG_K_MILLIS,		/* unsigned milliseconds */
	CFG_K_RELAYHOST,	/* relay.host, relay.port, relay.mx_lookup */
	CFG_K_FORWARDER,	/* list element */
	CFG_K_UBOPT		/* list element */
};

struct cfg_key {
	const char    *section;	/* NULL: top level */
	const char    *name;
	enum cfg_kind  kind;
	size_t         off;	/* offsetof(struct sealpost_config, ...) */
	uint64_t       min, max;
};

#define DAY	86400ULL
#define OFF(f)	offsetof(struct sealpost_config, f)

static const struct cfg_key cfg_keys[] = {
	{ NULL, "spool_directory", CFG_K_PATH, OFF(spool_directory), 0, 0 },
	{ NULL, "run_user", CFG_K_USER, OFF(run_user), 0, 0 },
	{ NULL, "myhostname", CFG_K_HOSTNAME, OFF(myhostname), 0, 0 },
	{ NULL, "postmaster", CFG_K_ADDRESS, OFF(postmaster), 0, 0 },
	{ NULL, "log", CFG_K_LOG, OFF(log_syslog), 0, 0 },
	{ NULL, "delivery_threads", CFG_K_UINT, OFF(delivery_threads), 0, 256 },
	{ NULL, "destination_concurrency", CFG_K_UINT,
	  OFF(destination_concurrency), 1, 10000 },
	{ NULL, "total_concurrency", CFG_K_UINT, OFF(total_concurrency),
	  1, 100000 },
	/* RFC 5321 4.5.3.1.8: servers take at least 100; we may send fewer */
	{ NULL, "destination_rcpt_limit", CFG_K_UINT,
	  OFF(destination_rcpt_limit), 1, 10000 },
	{ NULL, "connection_reuse_time", CFG_K_SECS,
	  OFF(connection_reuse_time), 0, 3600 },
	{ NULL, "smtp_port", CFG_K_PORT, OFF(smtp_port), 0, 0 },
	{ NULL, "minimal_backoff", CFG_K_SECS64, OFF(minimal_backoff),
	  1, 100 * DAY },
	{ NULL, "maximal_backoff", CFG_K_SECS64, OFF(maximal_backoff),
	  1, 100 * DAY },
	{ NULL, "queue_run_delay", CFG_K_SECS64, OFF(queue_run_delay),
	  1, DAY },
	{ NULL, "maximal_queue_lifetime", CFG_K_SECS64,
	  OFF(maximal_queue_lifetime), 0, 100 * DAY },
	{ NULL, "bounce_queue_lifetime", CFG_K_SECS64,
	  OFF(bounce_queue_lifetime), 0, 100 * DAY },
	{ NULL, "delay_warning_time", CFG_K_SECS64, OFF(delay_warning_time),
	  0, 100 * DAY },
	{ NULL, "message_size_limit", CFG_K_SIZE, OFF(message_size_limit),
	  1, 1ULL << 40 },
	{ NULL, "commit_batch_ms", CFG_K_MILLIS, OFF(commit_batch_ms), 0, 1000 },
	{ NULL, "tls_ca_file", CFG_K_PATH, OFF(tls_ca_file), 0, 0 },
	{ NULL, "tls_opportunistic", CFG_K_BOOL, OFF(tls_opportunistic), 0, 0 },

	/* RFC 5321 4.5.3.2 gives the defaults; a day is plenty for any. */
	{ "timeouts", "connect", CFG_K_SECS, OFF(timeout.connect), 1, DAY },
	{ "timeouts", "greeting", CFG_K_SECS, OFF(timeout.greeting), 1, DAY },
	{ "timeouts", "ehlo", CFG_K_SECS, OFF(timeout.ehlo), 1, DAY },
	{ "timeouts", "starttls", CFG_K_SECS, OFF(timeout.starttls), 1, DAY },
	{ "timeouts", "mail", CFG_K_SECS, OFF(timeout.mail), 1, DAY },
	{ "timeouts", "rcpt", CFG_K_SECS, OFF(timeout.rcpt), 1, DAY },
	{ "timeouts", "data_init", CFG_K_SECS, OFF(timeout.data_init), 1, DAY },
	{ "timeouts", "data_block", CFG_K_SECS, OFF(timeout.data_block),
	  1, DAY },
	{ "timeouts", "data_done", CFG_K_SECS, OFF(timeout.data_done), 1, DAY },
	{ "timeouts", "quit", CFG_K_SECS, OFF(timeout.quit), 1, DAY },

	{ "relayhost", "host", CFG_K_RELAYHOST, OFF(relay), 0, 0 },
	{ "relayhost", "sasl_username", CFG_K_TEXT, OFF(relay.sasl_username),
	  0, 0 },
	{ "relayhost", "sasl_password_file", CFG_K_PATH,
	  OFF(relay.sasl_password_file), 0, 0 },

	{ "resolver", "forwarders", CFG_K_FORWARDER, 0, 0, 0 },
	{ "resolver", "trust_anchor_file", CFG_K_PATH,
	  OFF(resolver.trust_anchor_file), 0, 0 },
	{ "resolver", "trust_anchor_auto", CFG_K_BOOL,
	  OFF(resolver.trust_anchor_auto), 0, 0 },
	{ "resolver", "unbound_config", CFG_K_PATH,
	  OFF(resolver.unbound_config), 0, 0 },
	{ "resolver", "unbound_options", CFG_K_UBOPT, 0, 0, 0 },
};

#define CFG_NKEYS	(sizeof(cfg_keys) / sizeof(cfg_keys[0]))
static const char *const cfg_sections[] = { "timeouts", "relayhost",
	"resolver" };
#define CFG_NSECTIONS	(sizeof(cfg_sections) / sizeof(cfg_sections[0]))

/* State of one load; libconfuse callbacks reach it through cfg_cur. */
struct cfg_ctx {
	struct sealpost_config *cfg;
	const char *errpath;		/* the path as the caller gave it */
	char       *basedir;		/* absolute, for relative paths */
	const char *src;		/* scanned text, for error wording */
	char       *err;
	size_t      errlen;
	int         failed;
	unsigned    line[CFG_NKEYS];	/* where each key was set; 0: not */
	int         relay_port_given;
};

static pthread_mutex_t cfg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cfg_ctx *cfg_cur;

static void cfg_fail(struct cfg_ctx *ctx, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Record the first error only; later ones are usually its echoes. */
static void
cfg_vfail(struct cfg_ctx *ctx, unsigned line, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void
cfg_vfail(struct cfg_ctx *ctx, unsigned line, const char *fmt, va_list ap)
{
	int n = 0;

	if (ctx->failed++ || ctx->errlen == 0)
		return;
	if (line > 0)
		n = snprintf(ctx->err, ctx->errlen, "%s:%u: ", ctx->errpath, line);
	else
		n = snprintf(ctx->err, ctx->errlen, "%s: ", ctx->errpath);
	if (n < 0 || (size_t)n >= ctx->errlen)
		return;
	vsnprintf(ctx->err + n, ctx->errlen - (size_t)n, fmt, ap);
}

static void
cfg_fail(struct cfg_ctx *ctx, unsigned line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cfg_vfail(ctx, line, fmt, ap);
	va_end(ap);
}

static const struct cfg_key *
cfg_key_find(const char *section, const char *name)
{
	size_t i;

	for (i = 0; i < CFG_NKEYS; i++) {
		const struct cfg_key *k = &cfg_keys[i];

		if (strcmp(k->name, name) != 0)
			continue;
		if ((section == NULL) != (k->section == NULL))
			continue;
		if (section == NULL || strcmp(section, k->section) == 0)
			return k;
	}
	return NULL;
}

static const char *
cfg_kind_expect(const struct cfg_key *k)
{
	switch (k->kind) {
	case CFG_K_PATH: return "a file or directory name";
	case CFG_K_HOSTNAME: return "a host name of letters, digits, '-' and '.'";
	case CFG_K_ADDRESS: return "a mail address without spaces";
	case CFG_K_USER: return "a login name or \"\"";
	case CFG_K_TEXT: return "printable text";
	case CFG_K_LOG: return "stderr or syslog";
	case CFG_K_BOOL: return "yes or no";
	case CFG_K_PORT: return "1-65535";
	case CFG_K_RELAYHOST:
		return "host, host:port, [host] or [host]:port";
	case CFG_K_FORWARDER: return "an IP address, optionally @port";
	case CFG_K_UBOPT: return "\"name: value\"";
	default: return NULL;		/* numbers: range said by caller */
	}
}

static const char *
cfg_kind_name(enum cfg_kind kind)
{
	switch (kind) {
	case CFG_K_SECS: case CFG_K_SECS64: return "duration";
	case CFG_K_SIZE: return "size";
	case CFG_K_BOOL: return "boolean";
	case CFG_K_PORT: return "port";
	case CFG_K_UINT: case CFG_K_MILLIS: return "number";
	default: return "value";
	}
}

/* Convert and store one value; -1 means "say it is invalid". */
static int
cfg_store(struct cfg_ctx *ctx, const struct cfg_key *k, const char *value)
{
	char *base = (char *)ctx->cfg, **sp = (char **)(base + k->off);
	uint64_t v;
	uint16_t port;
	int b;

	switch (k->kind) {
	case CFG_K_PATH:
		if (value[0] == '\0' || cfg_val_text(value) < 0)
			return -1;
		free(*sp);
		*sp = cfg_path_join(ctx->basedir, value);
		return 0;
	case CFG_K_HOSTNAME:
	case CFG_K_ADDRESS:
	case CFG_K_USER:
	case CFG_K_TEXT:
		if ((k->kind == CFG_K_HOSTNAME && cfg_val_hostname(value) < 0) ||
		    (k->kind == CFG_K_ADDRESS && cfg_val_address(value) < 0) ||
		    (k->kind == CFG_K_USER && cfg_val_user(value) < 0) ||
		    (k->kind == CFG_K_TEXT &&
		     (value[0] == '\0' || cfg_val_text(value) < 0)))
			return -1;
		free(*sp);
		*sp = xstrdup(value);
		return 0;
	case CFG_K_LOG:
		if (strcmp(value, "syslog") == 0)
			ctx->cfg->log_syslog = 1;
		else if (strcmp(value, "stderr") == 0)
			ctx->cfg->log_syslog = 0;
		else
			return -1;
		return 0;
	case CFG_K_BOOL:
		if (cfg_val_bool(value, &b) < 0)
			return -1;
		*(int *)(base + k->off) = b;
		return 0;
	case CFG_K_UINT:
	case CFG_K_SECS:
	case CFG_K_MILLIS:
		if ((k->kind == CFG_K_UINT &&
		     cfg_val_number(value, k->min, k->max, &v) < 0) ||
		    (k->kind == CFG_K_SECS &&
		     cfg_val_seconds(value, k->min, k->max, &v) < 0) ||
		    (k->kind == CFG_K_MILLIS &&
		     cfg_val_millis(value, k->max, &v) < 0))
			return -1;
		*(unsigned *)(base + k->off) = (unsigned)v;
		return 0;
	case CFG_K_SECS64:
		if (cfg_val_seconds(value, k->min, k->max, &v) < 0)
			return -1;
		*(uint64_t *)(base + k->off) = v;
		return 0;
	case CFG_K_SIZE:
		if (cfg_val_size(value, k->min, k->max, &v) < 0)
			return -1;
		*(uint64_t *)(base + k->off) = v;
		return 0;
	case CFG_K_PORT:
		if (cfg_val_port(value, &port) < 0)
			return -1;
		*(uint16_t *)(base + k->off) = port;
		return 0;
	case CFG_K_RELAYHOST: {
		struct cfg_relayhost *r = &ctx->cfg->relay;
		char *host;

		if (cfg_val_relayhost(value, &host, &port, &b) < 0)
			return -1;
		free(r->host);
		r->host = host;
		r->port = port;
		r->mx_lookup = b;
		ctx->relay_port_given = port != 0;
		return 0;
	}
	case CFG_K_FORWARDER:
		return cfg_val_forwarder(value);
	case CFG_K_UBOPT:
		return cfg_val_unbound_option(value);
	}
	return -1;
}

/* libconfuse parse callback shared by every option. */
static int
cfg_value_cb(cfg_t *c, cfg_opt_t *opt, const char *value, void *result)
{
	struct cfg_ctx *ctx = cfg_cur;
	const char *section = strcmp(c->name, "root") == 0 ? NULL : c->name;
	const struct cfg_key *k = cfg_key_find(section, opt->name);
	unsigned line = c->line > 0 ? (unsigned)c->line : 0;
	char shown[64];
	size_t idx;

	UTIL_ASSERT(ctx != NULL && k != NULL && value != NULL);
	idx = (size_t)(k - cfg_keys);
	if (k->kind != CFG_K_FORWARDER && k->kind != CFG_K_UBOPT &&
	    ctx->line[idx] != 0) {
		cfg_fail(ctx, line, "%s is already set on line %u",
		    k->name, ctx->line[idx]);
		return -1;
	}
	if (cfg_store(ctx, k, value) < 0) {
		const char *expect = cfg_kind_expect(k);

		util_printable(value, strlen(value), shown, sizeof(shown));
		if (expect != NULL)
			cfg_fail(ctx, line, "%s: invalid %s '%s' (expected %s)",
			    k->name, cfg_kind_name(k->kind), shown, expect);
		else if (k->kind == CFG_K_UINT || k->kind == CFG_K_MILLIS)
			cfg_fail(ctx, line, "%s: invalid number '%s' (expected "
			    "%llu-%llu)", k->name, shown,
			    (unsigned long long)k->min,
			    (unsigned long long)k->max);
		else if (k->kind == CFG_K_SIZE)
			cfg_fail(ctx, line, "%s: invalid size '%s' (expected "
			    "bytes, or a number with k, M or G, at least %llu)",
			    k->name, shown, (unsigned long long)k->min);
		else
			cfg_fail(ctx, line, "%s: invalid duration '%s' (expected "
			    "%llus to %llus, e.g. 30s, 5m, 4h, 5d)", k->name,
			    shown, (unsigned long long)k->min,
			    (unsigned long long)k->max);
		return -1;
	}
	if (ctx->line[idx] == 0)
		ctx->line[idx] = line;
	*(const char **)result = value;
	return 0;
}

/*
 * libconfuse reports an unknown name the same way for keys and sections;
 * look at the text after it to say which, since "unknown section" is
 * what the user needs to hear for "resolvr { ... }".
 */
static int
cfg_followed_by_brace(const char *src, unsigned line, const char *name)
{
	const char *p = src, *hit;
	size_t n = strlen(name);
	unsigned ln = 1;

	if (src == NULL || n == 0)
		return 0;
	while (ln < line && (p = strchr(p, '\n')) != NULL) {
		p++;
		ln++;
	}
	if (p == NULL || (hit = strstr(p, name)) == NULL)
		return 0;
	for (p = hit + n; *p == ' ' || *p == '\t' || *p == '\r' ||
	    *p == '\n'; p++)
		;
	return *p == '{';
}

static void cfg_error_cb(cfg_t *c, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static void
cfg_error_cb(cfg_t *c, const char *fmt, va_list ap)
{
	struct cfg_ctx *ctx = cfg_cur;
	unsigned line = c->line > 0 ? (unsigned)c->line : 0;
	int top = strcmp(c->name, "root") == 0;

	if (strcmp(fmt, "no such option '%s'") == 0) {
		char shown[64];
		const char *name = va_arg(ap, const char *);
		int sec = cfg_followed_by_brace(ctx->src, line, name);

		util_printable(name, strlen(name), shown, sizeof(shown));
		if (top)
			cfg_fail(ctx, line, "unknown %s '%s'",
			    sec ? "section" : "key", shown);
		else
			cfg_fail(ctx, line, "unknown %s '%s' in section %s",
			    sec ? "section" : "key", shown, c->name);
		return;
	}
	if (strcmp(fmt, "premature end of file") == 0) {
		cfg_fail(ctx, line, "unexpected end of file (missing value "
		    "or '}')");
		return;
	}
	cfg_vfail(ctx, line, fmt, ap);
}

/* ---- defaults ------------------------------------------------------- */

/* gethostname(), made fully qualified through the resolver if we can. */
static char *
cfg_default_hostname(void)
{
	char name[256];
	struct addrinfo hints, *res = NULL;
	char *out = NULL;

	if (gethostname(name, sizeof(name)) < 0)
		return NULL;
	name[sizeof(name) - 1] = '\0';
	if (strchr(name, '.') == NULL) {
		memset(&hints, 0, sizeof(hints));
		hints.ai_flags = AI_CANONNAME;
		if (getaddrinfo(name, NULL, &hints, &res) == 0 && res != NULL &&
		    res->ai_canonname != NULL &&
		    strchr(res->ai_canonname, '.') != NULL &&
		    cfg_val_hostname(res->ai_canonname) == 0)
			out = xstrdup(res->ai_canonname);
		if (res != NULL)
			freeaddrinfo(res);
	}
	if (out == NULL && cfg_val_hostname(name) == 0)
		out = xstrdup(name);
	return out;
}

static void
cfg_set_defaults(struct sealpost_config *cfg)
{
	cfg->run_user = xstrdup("");
	cfg->postmaster = xstrdup("postmaster");
	cfg->log_syslog = 0;
	cfg->delivery_threads = 0;
	cfg->destination_concurrency = 20;
	cfg->total_concurrency = 200;
	cfg->destination_rcpt_limit = 50;
	cfg->connection_reuse_time = 5;
	cfg->smtp_port = 25;
	cfg->timeout.connect = 30;
	cfg->timeout.greeting = 300;
	cfg->timeout.ehlo = 300;
	cfg->timeout.starttls = 300;
	cfg->timeout.mail = 300;
	cfg->timeout.rcpt = 300;
	cfg->timeout.data_init = 120;
	cfg->timeout.data_block = 180;
	cfg->timeout.data_done = 600;
	cfg->timeout.quit = 60;
	cfg->relay.port = 25;
	cfg->relay.mx_lookup = 1;
	cfg->minimal_backoff = 300;
	cfg->maximal_backoff = 4000;
	cfg->queue_run_delay = 60;
	cfg->maximal_queue_lifetime = 5 * DAY;
	cfg->bounce_queue_lifetime = 5 * DAY;
	cfg->delay_warning_time = 0;
	cfg->message_size_limit = 50ULL * 1024 * 1024;
	cfg->commit_batch_ms = 2;
	cfg->tls_ca_file = xstrdup("/etc/ssl/certs/ca-certificates.crt");
	cfg->tls_opportunistic = 1;
	cfg->resolver.trust_anchor_file = xstrdup("/usr/share/dns/root.key");
	cfg->resolver.trust_anchor_auto = 0;
}

/* ---- the parse ------------------------------------------------------ */

static char **
cfg_copy_list(cfg_t *sec, const char *name, size_t *n)
{
	unsigned i, cnt = sec != NULL ? cfg_size(sec, name) : 0;
	char **v;

	*n = cnt;
	if (cnt == 0)
		return NULL;
	v = xcalloc(cnt, sizeof(*v));
	for (i = 0; i < cnt; i++)
		v[i] = xstrdup(cfg_getnstr(sec, name, i));
	return v;
}

static unsigned
cfg_key_line(const struct cfg_ctx *ctx, const char *section, const char *name)
{
	const struct cfg_key *k = cfg_key_find(section, name);

	return k != NULL ? ctx->line[k - cfg_keys] : 0;
}

/* Rules that involve more than one key; the line is the later key's. */
static int
cfg_check_across(struct cfg_ctx *ctx)
{
	struct sealpost_config *cfg = ctx->cfg;
	struct cfg_relayhost *r = &cfg->relay;
	unsigned lmin = cfg_key_line(ctx, NULL, "minimal_backoff");
	unsigned lmax = cfg_key_line(ctx, NULL, "maximal_backoff");
	unsigned luser = cfg_key_line(ctx, "relayhost", "sasl_username");
	unsigned lpass = cfg_key_line(ctx, "relayhost", "sasl_password_file");

	if (cfg->maximal_backoff < cfg->minimal_backoff) {
		cfg_fail(ctx, lmax > lmin ? lmax : lmin, "maximal_backoff "
		    "(%llus) must not be less than minimal_backoff (%llus)",
		    (unsigned long long)cfg->maximal_backoff,
		    (unsigned long long)cfg->minimal_backoff);
		return -1;
	}
	if (r->sasl_username != NULL && r->host == NULL) {
		cfg_fail(ctx, luser, "relayhost: sasl_username needs host");
		return -1;
	}
	if (r->sasl_username != NULL && r->sasl_password_file == NULL) {
		cfg_fail(ctx, luser, "relayhost: sasl_username needs "
		    "sasl_password_file");
		return -1;
	}
	if (r->sasl_password_file != NULL && r->sasl_username == NULL) {
		cfg_fail(ctx, lpass, "relayhost: sasl_password_file needs "
		    "sasl_username");
		return -1;
	}
	/* Submission port when authenticating, as config.h promises. */
	if (r->host != NULL && !ctx->relay_port_given)
		r->port = r->sasl_username != NULL ? 587 : 25;
	return 0;
}

static cfg_opt_t *
cfg_build_opts(const char *section, cfg_opt_t *subs[CFG_NSECTIONS])
{
	cfg_opt_t *opts = xcalloc(CFG_NKEYS + CFG_NSECTIONS + 1, sizeof(*opts));
	size_t i, n = 0;

	for (i = 0; i < CFG_NKEYS; i++) {
		const struct cfg_key *k = &cfg_keys[i];

		if ((section == NULL) != (k->section == NULL) ||
		    (section != NULL && strcmp(section, k->section) != 0))
			continue;
		if (k->kind == CFG_K_FORWARDER || k->kind == CFG_K_UBOPT)
			opts[n++] = (cfg_opt_t)CFG_STR_LIST_CB(k->name, NULL,
			    CFGF_NODEFAULT, cfg_value_cb);
		else
			opts[n++] = (cfg_opt_t)CFG_STR_CB(k->name, NULL,
			    CFGF_NODEFAULT, cfg_value_cb);
	}
	if (section == NULL)
		for (i = 0; i < CFG_NSECTIONS; i++)
			opts[n++] = (cfg_opt_t)CFG_SEC(cfg_sections[i], subs[i],
			    CFGF_NONE);
	opts[n] = (cfg_opt_t)CFG_END();
	return opts;
}

/*
 * Parse src (already scanned; NULL for "no file") into ctx->cfg.  Holds
 * cfg_lock around libconfuse, whose lexer is a global.
 */
static int
cfg_parse_into(struct cfg_ctx *ctx, char *src, size_t len)
{
	cfg_opt_t *subs[CFG_NSECTIONS], *top;
	cfg_t *c;
	FILE *fp = NULL;
	size_t i;
	int rc = 0;

	for (i = 0; i < CFG_NSECTIONS; i++)
		subs[i] = cfg_build_opts(cfg_sections[i], NULL);
	top = cfg_build_opts(NULL, subs);

	pthread_mutex_lock(&cfg_lock);
	cfg_cur = ctx;
	c = cfg_init(top, CFGF_NONE);
	if (c == NULL)
		log_fatal("cfg: libconfuse cfg_init failed: out of memory");
	cfg_set_error_function(c, cfg_error_cb);
	if (src != NULL && len > 0) {
		fp = fmemopen(src, len, "r");
		if (fp == NULL)
			log_fatal("cfg: fmemopen: %s", strerror(errno));
		if (cfg_parse_fp(c, fp) != CFG_SUCCESS) {
			cfg_fail(ctx, 0, "syntax error");	/* if unsaid */
			rc = -1;
		}
		fclose(fp);
	}
	if (rc == 0 && ctx->failed)
		rc = -1;
	if (rc == 0) {
		cfg_t *res = cfg_getsec(c, "resolver");

		ctx->cfg->resolver.forwarders = cfg_copy_list(res, "forwarders",
		    &ctx->cfg->resolver.nforwarders);
		ctx->cfg->resolver.unbound_options = cfg_copy_list(res,
		    "unbound_options", &ctx->cfg->resolver.nunbound_options);
		if (ctx->cfg->resolver.nforwarders > CFG_MAX_LIST_ITEMS ||
		    ctx->cfg->resolver.nunbound_options > CFG_MAX_LIST_ITEMS) {
			cfg_fail(ctx, 0, "resolver: more than %d list entries",
			    CFG_MAX_LIST_ITEMS);
			rc = -1;
		}
	}
	cfg_confuse_free(c);
	cfg_cur = NULL;
	pthread_mutex_unlock(&cfg_lock);

	free(top);
	for (i = 0; i < CFG_NSECTIONS; i++)
		free(subs[i]);
	if (rc == 0)
		rc = cfg_check_across(ctx);
	if (rc == 0 && ctx->cfg->spool_directory == NULL)
		ctx->cfg->spool_directory = cfg_path_join(ctx->basedir, "spool");
	if (rc == 0 && ctx->cfg->myhostname == NULL &&
	    (ctx->cfg->myhostname = cfg_default_hostname()) == NULL) {
		cfg_fail(ctx, 0, "cannot determine myhostname from "
		    "gethostname(); set myhostname");
		rc = -1;
	}
	return rc;
}

/* ---- files ---------------------------------------------------------- */

/* Read a whole regular file of at most CFG_MAX_FILE_BYTES. */
static char *
cfg_read_file(struct cfg_ctx *ctx, const char *path, size_t *lenp, int *eno)
{
	struct stat st;
	char *buf;
	size_t got = 0;
	int fd;

	*eno = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		*eno = errno;
		return NULL;
	}
	if (fstat(fd, &st) < 0) {
		cfg_fail(ctx, 0, "%s", strerror(errno));
		close(fd);
		return NULL;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > CFG_MAX_FILE_BYTES) {
		close(fd);
		if (!S_ISREG(st.st_mode))
			cfg_fail(ctx, 0, "not a regular file");
		else
			cfg_fail(ctx, 0, "larger than %d bytes",
			    CFG_MAX_FILE_BYTES);
		return NULL;
	}
	buf = xmalloc((size_t)st.st_size + 1);
	for (;;) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size + 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			cfg_fail(ctx, 0, "%s", strerror(errno));
			break;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (got > (size_t)st.st_size) {	/* grew under us */
			cfg_fail(ctx, 0, "file changed while reading");
			break;
		}
	}
	close(fd);
	if (ctx->failed) {
		free(buf);
		return NULL;
	}
	buf[got] = '\0';
	*lenp = got;
	return buf;
}

/* Absolute directory holding path, for resolving relative names. */
static char *
cfg_base_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *cwd, *dir, *abs;

	if (slash == path)
		return xstrdup("/");
	dir = slash != NULL ? xstrndup(path, (size_t)(slash - path)) : NULL;
	if (dir != NULL && dir[0] == '/')
		return dir;
	cwd = getcwd(NULL, 0);
	if (cwd == NULL)
		log_fatal("cfg: getcwd: %s", strerror(errno));
	abs = dir != NULL ? cfg_path_join(cwd, dir) : xstrdup(cwd);
	free(cwd);
	free(dir);
	return abs;
}

/* ---- API ------------------------------------------------------------ */

const char *
cfg_default_path(void)
{
	/* secure_getenv: a setuid/setgid caller must not be steered. */
	const char *env = secure_getenv(CFG_ENV_PATH);

	return env != NULL && env[0] != '\0' ? env : CFG_DEFAULT_PATH;
}

struct sealpost_config *
cfg_load(const char *path, char *err, size_t errlen)
{
	struct cfg_ctx ctx;
	struct sealpost_config *cfg;
	char *src = NULL;
	size_t len = 0;
	int eno = 0, rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	else
		errlen = 0;
	if (path == NULL)
		path = cfg_default_path();
	memset(&ctx, 0, sizeof(ctx));
	ctx.errpath = path;
	ctx.err = err;
	ctx.errlen = errlen;

	src = cfg_read_file(&ctx, path, &len, &eno);
	if (src == NULL && !ctx.failed) {
		/* Only the built-in default may be absent: anything named by
		 * the caller or $SEALPOST_CONFIG was meant to exist. */
		if (eno != ENOENT || strcmp(path, CFG_DEFAULT_PATH) != 0) {
			cfg_fail(&ctx, 0, "%s", strerror(eno));
			return NULL;
		}
		return cfg_defaults();
	}
	if (src == NULL)
		return NULL;
	{
		unsigned line;
		const char *msg;

		if (cfg_prescan(src, len, &line, &msg) < 0) {
			cfg_fail(&ctx, line, "%s", msg);
			free(src);
			return NULL;
		}
	}
	cfg = xcalloc(1, sizeof(*cfg));
	cfg_set_defaults(cfg);
	ctx.cfg = cfg;
	ctx.src = src;
	ctx.basedir = cfg_base_dir(path);
	cfg->path = path[0] == '/' ? xstrdup(path) :
	    cfg_path_join(ctx.basedir, strrchr(path, '/') != NULL ?
	    strrchr(path, '/') + 1 : path);
	rc = cfg_parse_into(&ctx, src, len);
	free(ctx.basedir);
	free(src);
	if (rc < 0) {
		cfg_free(cfg);
		return NULL;
	}
	return cfg;
}

struct sealpost_config *
cfg_defaults(void)
{
	struct cfg_ctx ctx;
	struct sealpost_config *cfg = xcalloc(1, sizeof(*cfg));
	char *cwd = getcwd(NULL, 0);

	if (cwd == NULL)
		log_fatal("cfg: getcwd: %s", strerror(errno));
	memset(&ctx, 0, sizeof(ctx));
	ctx.errpath = "(defaults)";
	cfg_set_defaults(cfg);
	ctx.cfg = cfg;
	ctx.basedir = cwd;
	if (cfg_parse_into(&ctx, NULL, 0) < 0)
		log_fatal("cfg: built-in defaults rejected: cannot determine "
		    "myhostname");
	free(cwd);
	return cfg;
}

static void
cfg_free_list(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void
cfg_free(struct sealpost_config *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->path);
	free(cfg->spool_directory);
	free(cfg->run_user);
	free(cfg->myhostname);
	free(cfg->postmaster);
	free(cfg->tls_ca_file);
	free(cfg->relay.host);
	free(cfg->relay.sasl_username);
	free(cfg->relay.sasl_password_file);
	cfg_free_list(cfg->resolver.forwarders, cfg->resolver.nforwarders);
	free(cfg->resolver.trust_anchor_file);
	free(cfg->resolver.unbound_config);
	cfg_free_list(cfg->resolver.unbound_options,
	    cfg->resolver.nunbound_options);
	free(cfg);
}
