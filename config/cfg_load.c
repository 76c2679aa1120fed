/*
 * cfg_load.c - read sealpost.conf with libconfuse into struct
 * sealpost_config.
 *
 * Design:
 *  - One table (cfg_keys[], cfg_keys.c) names every key, its section, its
 *    type, where it lands in the struct and its range.  The libconfuse
 *    option arrays are generated from it, so a key cannot be known to one
 *    and not the other.
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

static const char *const cfg_sections[] = { "timeouts", "relayhost",
	"resolver", "listen", "tls_policy" };
/* "listen" and "tls_policy" are repeatable and titled; titles differ */
static const int cfg_section_flags[] = { CFGF_NONE, CFGF_NONE, CFGF_NONE,
	CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES,
	CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES };
#define CFG_NSECTIONS	(sizeof(cfg_sections) / sizeof(cfg_sections[0]))
#define CFG_LISTEN_SECTION	3	/* index of "listen" above */

/* State of one load; libconfuse callbacks reach it through cfg_cur. */
struct cfg_ctx {
	struct sealpost_config *cfg;
	const char *errpath;		/* the path as the caller gave it */
	char       *basedir;		/* absolute, for relative paths */
	const char *src;		/* scanned text, for error wording */
	char       *err;
	size_t      errlen;
	int         failed;
	unsigned    line[CFG_MAX_KEYS];	/* where each key was set; 0: not */
	/* listen sections repeat: their keys' lines are per instance, and
	 * reset when libconfuse moves on to the next instance */
	cfg_t      *listen_cur;
	size_t      nlisten_seen;
	unsigned    listen_line[CFG_LISTEN_MAX];	/* first line of each */
	cfg_t      *tlspol_cur;		/* same for tls_policy sections, */
	size_t      ntlspol_seen;	/* with the first key line of each */
	cfg_t      *tlspol_sec[CFG_TLS_POLICY_MAX];
	unsigned    tlspol_line[CFG_TLS_POLICY_MAX];
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

/* libconfuse parse callback shared by every option. */
static int
cfg_value_cb(cfg_t *c, cfg_opt_t *opt, const char *value, void *result)
{
	struct cfg_ctx *ctx = cfg_cur;
	const char *section = strcmp(c->name, "root") == 0 ? NULL : c->name;
	const struct cfg_key *k = cfg_key_find(section, opt->name);
	unsigned line = c->line > 0 ? (unsigned)c->line : 0;
	size_t idx;

	UTIL_ASSERT(ctx != NULL && k != NULL && value != NULL);
	idx = (size_t)(k - cfg_keys);
	if (section != NULL && strcmp(section, "listen") == 0 &&
	    c != ctx->listen_cur) {
		size_t i;

		if (ctx->nlisten_seen == CFG_LISTEN_MAX) {
			cfg_fail(ctx, line, "more than %d listen sections",
			    CFG_LISTEN_MAX);
			return -1;
		}
		ctx->listen_cur = c;
		ctx->listen_line[ctx->nlisten_seen++] = line;
		for (i = 0; i < cfg_nkeys; i++)
			if (cfg_keys[i].section != NULL &&
			    strcmp(cfg_keys[i].section, "listen") == 0)
				ctx->line[i] = 0;
	}
	if (section != NULL && strcmp(section, "tls_policy") == 0 &&
	    c != ctx->tlspol_cur) {
		size_t i;

		ctx->tlspol_cur = c;
		if (ctx->ntlspol_seen < CFG_TLS_POLICY_MAX) {
			ctx->tlspol_sec[ctx->ntlspol_seen] = c;
			ctx->tlspol_line[ctx->ntlspol_seen++] = line;
		}
		for (i = 0; i < cfg_nkeys; i++)
			if (cfg_keys[i].section != NULL &&
			    strcmp(cfg_keys[i].section, "tls_policy") == 0)
				ctx->line[i] = 0;
	}
	if (k->kind != CFG_K_FORWARDER && k->kind != CFG_K_UBOPT &&
	    k->kind != CFG_K_CIDR && k->kind != CFG_K_TLS_MATCH &&
	    ctx->line[idx] != 0) {
		cfg_fail(ctx, line, "%s is already set on line %u",
		    k->name, ctx->line[idx]);
		return -1;
	}
	if (cfg_key_store(k, value, ctx->cfg, ctx->basedir) < 0) {
		char why[256];

		cfg_key_complain(k, value, why, sizeof(why));
		cfg_fail(ctx, line, "%s", why);
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

/* The listener's rules across keys. */
static int
cfg_check_smtpd(struct cfg_ctx *ctx)
{
	struct cfg_smtpd *d = &ctx->cfg->smtpd;
	unsigned lcert = cfg_key_line(ctx, NULL, "smtpd_tls_cert_file");
	unsigned lkey = cfg_key_line(ctx, NULL, "smtpd_tls_key_file");
	size_t i, j;

	if ((d->tls_cert_file == NULL) != (d->tls_key_file == NULL)) {
		cfg_fail(ctx, lcert > lkey ? lcert : lkey, "%s",
		    d->tls_cert_file != NULL ? "smtpd_tls_cert_file needs "
		    "smtpd_tls_key_file" : "smtpd_tls_key_file needs "
		    "smtpd_tls_cert_file");
		return -1;
	}
	if (d->sasl_enable < 0)
		d->sasl_enable = d->sasl_path != NULL;
	for (i = 0; i < d->nlisten; i++) {
		const struct cfg_listen *l = &d->listen[i];

		if (l->role == CFG_ROLE_SMTPS && d->tls_cert_file == NULL) {
			cfg_fail(ctx, l->line, "listen \"%s\": role smtps needs "
			    "smtpd_tls_cert_file and smtpd_tls_key_file",
			    l->name);
			return -1;
		}
		for (j = 0; j < i; j++) {
			const struct cfg_listen *o = &d->listen[j];

			if (l->port == o->port && (l->host == NULL) ==
			    (o->host == NULL) && (l->host == NULL ||
			    strcmp(l->host, o->host) == 0)) {
				cfg_fail(ctx, l->line, "listen \"%s\": same "
				    "address as listen \"%s\"", l->name,
				    o->name);
				return -1;
			}
		}
	}
	return 0;
}

/*
 * Read back what libconfuse kept of the listener's repeated and list
 * keys.  Values were checked by cfg_value_cb already, so a parse failure
 * here is a broken invariant.
 */
static int
cfg_collect_smtpd(struct cfg_ctx *ctx, cfg_t *c)
{
	struct cfg_smtpd *d = &ctx->cfg->smtpd;
	cfg_opt_t *nets = cfg_getopt(c, "mynetworks");
	unsigned i, n = cfg_size(c, "listen");

	if (nets != NULL && (nets->flags & CFGF_MODIFIED)) {
		d->mynetworks = cfg_copy_list(c, "mynetworks", &d->nmynetworks);
	} else {
		/* the contract's default: this host only */
		d->nmynetworks = 2;
		d->mynetworks = xcalloc(2, sizeof(char *));
		d->mynetworks[0] = xstrdup("127.0.0.0/8");
		d->mynetworks[1] = xstrdup("::1/128");
	}
	if (d->nmynetworks > CFG_MAX_LIST_ITEMS) {
		cfg_fail(ctx, cfg_key_line(ctx, NULL, "mynetworks"),
		    "mynetworks: more than %d entries", CFG_MAX_LIST_ITEMS);
		return -1;
	}
	if (d->nmynetworks > 0)
		d->mynet = xcalloc(d->nmynetworks, sizeof(*d->mynet));
	for (i = 0; i < d->nmynetworks; i++)
		UTIL_ASSERT(cfg_cidr_parse(d->mynetworks[i], &d->mynet[i]) == 0);

	if (n > CFG_LISTEN_MAX) {
		cfg_fail(ctx, 0, "more than %d listen sections", CFG_LISTEN_MAX);
		return -1;
	}
	if (n > 0)
		d->listen = xcalloc(n, sizeof(*d->listen));
	for (i = 0; i < n; i++) {
		cfg_t *sec = cfg_getnsec(c, "listen", i);
		struct cfg_listen *l = &d->listen[d->nlisten];
		const char *title = cfg_title(sec);
		const char *addr = cfg_getstr(sec, "address");
		const char *role = cfg_getstr(sec, "role");
		int r = CFG_ROLE_RELAY;
		char shown[CFG_MAX_TITLE_LEN + 8];

		l->line = i < ctx->nlisten_seen ? ctx->listen_line[i] : 0;
		if (l->line == 0 && sec->line > 0)
			l->line = (unsigned)sec->line;
		util_printable(title != NULL ? title : "",
		    title != NULL ? strlen(title) : 0, shown, sizeof(shown));
		if (title == NULL || cfg_val_title(title) < 0) {
			cfg_fail(ctx, l->line, "listen \"%s\": the name must be "
			    "1-%d letters, digits, '.', '_' or '-'", shown,
			    CFG_MAX_TITLE_LEN);
			return -1;
		}
		if (addr == NULL) {
			cfg_fail(ctx, l->line, "listen \"%s\": address is "
			    "missing", shown);
			return -1;
		}
		UTIL_ASSERT(cfg_val_listen_address(addr, &l->host,
		    &l->port) == 0);
		l->name = xstrdup(title);
		d->nlisten++;
		UTIL_ASSERT(role == NULL || cfg_val_role(role, &r) == 0);
		l->role = (enum cfg_smtpd_role)r;
	}
	return 0;
}

/*
 * Read back the tls_policy sections (DANE, docs/dane.md).  level and match
 * values were checked by cfg_value_cb; the title and the rules across the
 * two keys are checked here (cfg_tlspolicy.c).
 */
static int
cfg_collect_tls_policies(struct cfg_ctx *ctx, cfg_t *c)
{
	struct sealpost_config *cfg = ctx->cfg;
	unsigned i, j, n = cfg_size(c, "tls_policy");

	if (n > CFG_TLS_POLICY_MAX) {
		cfg_fail(ctx, 0, "more than %d tls_policy sections",
		    CFG_TLS_POLICY_MAX);
		return -1;
	}
	if (n > 0)
		cfg->tls_policies = xcalloc(n, sizeof(*cfg->tls_policies));
	for (i = 0; i < n; i++) {
		cfg_t *sec = cfg_getnsec(c, "tls_policy", i);
		struct cfg_tls_policy *p = &cfg->tls_policies[i];
		const char *title = cfg_title(sec);
		const char *level = cfg_getstr(sec, "level");
		char shown[CFG_MAX_HOSTNAME_LEN + 8], why[128];
		int lv = CFG_TLS_MAY;

		p->line = sec->line > 0 ? (unsigned)sec->line : 0;
		for (j = 0; j < ctx->ntlspol_seen; j++)
			if (ctx->tlspol_sec[j] == sec)
				p->line = ctx->tlspol_line[j];
		util_printable(title != NULL ? title : "",
		    title != NULL ? strlen(title) : 0, shown, sizeof(shown));
		if (title == NULL || cfg_val_tls_domain(title) < 0) {
			cfg_fail(ctx, p->line, "tls_policy \"%s\": not a domain "
			    "(\"example.net\" or \".example.net\")", shown);
			return -1;
		}
		if (level == NULL) {
			cfg_fail(ctx, p->line, "tls_policy \"%s\": level is "
			    "missing", shown);
			return -1;
		}
		UTIL_ASSERT(cfg_val_tls_level(level, &lv) == 0);
		p->domain = xstrdup(title);
		for (j = 0; p->domain[j]; j++)
			if (p->domain[j] >= 'A' && p->domain[j] <= 'Z')
				p->domain[j] = (char)(p->domain[j] - 'A' + 'a');
		p->level = (enum cfg_tls_level)lv;
		p->match = cfg_copy_list(sec, "match", &p->nmatch);
		cfg->ntls_policies++;
		if (cfg_tls_policy_check(p, why, sizeof(why)) < 0) {
			cfg_fail(ctx, p->line, "tls_policy \"%s\": %s", shown,
			    why);
			return -1;
		}
		for (j = 0; j < i; j++)
			if (strcmp(cfg->tls_policies[j].domain, p->domain) == 0) {
				cfg_fail(ctx, p->line, "tls_policy \"%s\": "
				    "already given on line %u", shown,
				    cfg->tls_policies[j].line);
				return -1;
			}
	}
	return 0;
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
	if (r->port == 0)
		r->port = r->host != NULL && r->sasl_username != NULL ? 587 : 25;
	return cfg_check_smtpd(ctx);
}

static cfg_opt_t *
cfg_build_opts(const char *section, cfg_opt_t *subs[CFG_NSECTIONS])
{
	cfg_opt_t *opts = xcalloc(cfg_nkeys + CFG_NSECTIONS + 1, sizeof(*opts));
	size_t i, n = 0;

	for (i = 0; i < cfg_nkeys; i++) {
		const struct cfg_key *k = &cfg_keys[i];

		if ((section == NULL) != (k->section == NULL) ||
		    (section != NULL && strcmp(section, k->section) != 0))
			continue;
		if (k->kind == CFG_K_FORWARDER || k->kind == CFG_K_UBOPT ||
		    k->kind == CFG_K_CIDR || k->kind == CFG_K_TLS_MATCH)
			opts[n++] = (cfg_opt_t)CFG_STR_LIST_CB(k->name, NULL,
			    CFGF_NODEFAULT, cfg_value_cb);
		else
			opts[n++] = (cfg_opt_t)CFG_STR_CB(k->name, NULL,
			    CFGF_NODEFAULT, cfg_value_cb);
	}
	if (section == NULL)
		for (i = 0; i < CFG_NSECTIONS; i++)
			opts[n++] = (cfg_opt_t)CFG_SEC(cfg_sections[i], subs[i],
			    cfg_section_flags[i]);
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
	if (rc == 0)
		rc = cfg_collect_smtpd(ctx, c);
	if (rc == 0)
		rc = cfg_collect_tls_policies(ctx, c);
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
	if (rc == 0) {
		struct cfg_tlsrpt_lines l = {
			cfg_key_line(ctx, NULL, "tlsrpt_dkim_key"),
			cfg_key_line(ctx, NULL, "tlsrpt_dkim_selector"),
			cfg_key_line(ctx, NULL, "tlsrpt_send_delay"),
			cfg_key_line(ctx, NULL, "tlsrpt_send_window")
		};
		char msg[256];
		unsigned line;

		if (cfg_tlsrpt_finish(ctx->cfg, &l, &line, msg,
		    sizeof(msg)) < 0) {
			cfg_fail(ctx, line, "%s", msg);
			rc = -1;
		}
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
