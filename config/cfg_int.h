/*
 * cfg_int.h - helpers shared inside the config module only.
 *
 * cfg_load.c drives libconfuse; cfg_keys.c holds the key table and
 * defaults; the pure, table-testable pieces live in cfg_scan.c (the
 * pre-pass over the raw file) and cfg_value.c (one bounded parser per
 * value type).  None of them print; each failure
 * comes back as -1 plus a short message the caller prefixes with
 * "file:line: ".
 */
#ifndef SEALPOST_CFG_INT_H
#define SEALPOST_CFG_INT_H

#include <stddef.h>
#include <stdint.h>

/*
 * Limits.  The config file is trusted more than the network but it is
 * still parsed as hostile input: it may be a trial file handed over by a
 * user, and the setgid sendmail front end reads it too.
 */
#define CFG_MAX_FILE_BYTES	(1024 * 1024)	/* far above any sane config */
#define CFG_MAX_VALUE_LEN	4096		/* PATH_MAX on Linux */
#define CFG_MAX_HOSTNAME_LEN	253		/* RFC 1035 2.3.4, no final dot */
#define CFG_MAX_LABEL_LEN	63		/* RFC 1035 2.3.4 */
#define CFG_MAX_USER_LEN	32		/* useradd(8) NAME_MAX_LENGTH */
#define CFG_MAX_ADDRESS_LEN	254		/* RFC 5321 4.5.3.1.3 path minus <> */
#define CFG_MAX_LIST_ITEMS	64		/* forwarders, unbound options */
#define CFG_MAX_NESTING		8		/* { } depth; we use 2 */
#define CFG_MAX_KEYS		80		/* rows in cfg_keys[] */
#define CFG_MAX_TITLE_LEN	64		/* listen "NAME" */

/*
 * Pre-pass over the raw file, in place.  libconfuse 3.3 miscounts lines
 * after comments and rejects a comment inside a { } list (upstream issue
 * #150), so '#' comments are blanked here, newlines kept, before
 * libconfuse sees the text.  Also refused, with the line: NUL bytes,
 * C-style comments (ambiguous in libconfuse's lexer), "${" (libconfuse
 * would expand it from the environment, which a setgid reader must not
 * let a user steer), a quoted string that never ends and a '{' that is
 * never closed.
 * Returns 0, or -1 with *line and *msg (a static string) set.
 */
int cfg_prescan(char *buf, size_t len, unsigned *line, const char **msg);

/*
 * Value parsers.  Each accepts exactly the documented syntax, range
 * checks it and returns 0, or -1 leaving *out untouched.
 */
/* "yes/no/true/false/on/off", any case */
int cfg_val_bool(const char *s, int *out);
/* decimal number in [min, max] */
int cfg_val_number(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* util_parse_duration syntax (30s, 5m, 4h, 5d, 1w; bare = seconds) */
int cfg_val_seconds(const char *s, uint64_t min, uint64_t max,
    uint64_t *out);
/* bytes, or with a k/M/G suffix (powers of 1024, any case) */
int cfg_val_size(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* milliseconds: bare number or "<n>ms" */
int cfg_val_millis(const char *s, uint64_t max, uint64_t *out);
/* 1-65535 */
int cfg_val_port(const char *s, uint16_t *out);
/* LDH labels separated by dots, RFC 1035 lengths */
int cfg_val_hostname(const char *s);
/* printable ASCII except space, at most CFG_MAX_ADDRESS_LEN */
int cfg_val_address(const char *s);
/* "" or a login name: [A-Za-z0-9._-], not starting with '-' */
int cfg_val_user(const char *s);
/* no control bytes, at most CFG_MAX_VALUE_LEN */
int cfg_val_text(const char *s);
/* "ip" or "ip@port", IPv4 or IPv6 */
int cfg_val_forwarder(const char *s);
/* "name: value" as given to ub_ctx_set_option() */
int cfg_val_unbound_option(const char *s);

/* listen address: "host:port", "[v6]:port" or "*:port"; host is an IP
 * literal or a host name.  *host is malloc'ed, NULL for "*". */
int cfg_val_listen_address(const char *s, char **host, uint16_t *port);
/* relay | submission | smtps */
int cfg_val_role(const char *s, int *out);
/* reject | normalize (also "normalise") */
int cfg_val_bare_lf(const char *s, int *out);
struct cfg_tls_policy;
/* tls_policy (cfg_tlspolicy.c): a level name (enum cfg_tls_level) */
int cfg_val_tls_level(const char *s, int *out);
/* a match element: nexthop | hostname | dot-nexthop | [.]hostname */
int cfg_val_tls_match(const char *s);
/* a tls_policy title: "example.net" or ".example.net" */
int cfg_val_tls_domain(const char *s);
/* Check one collected entry across its keys; -1 with msg. */
int cfg_tls_policy_check(const struct cfg_tls_policy *p, char *msg,
    size_t msglen);

/* a listen section title: 1-CFG_MAX_TITLE_LEN of [A-Za-z0-9._-] */
int cfg_val_title(const char *s);

/*
 * Relayhost "[host]:port", "[host]", "host:port" or "host".  Brackets
 * turn MX lookup off (Postfix relayhost syntax) and may hold an IP
 * address.  *port is 0 when none was written.  *host is malloc'ed.
 */
int cfg_val_relayhost(const char *s, char **host, uint16_t *port,
    int *mx_lookup);

/*
 * Resolve path against dir unless it is absolute; leading "./" parts are
 * dropped.  Returns a malloc'ed string (never NULL).
 */
char *cfg_path_join(const char *dir, const char *path);

/* ---- the key table (cfg_keys.c) ----------------------------------- */

struct sealpost_config;

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
	CFG_K_UBOPT,		/* list element */
	CFG_K_CIDR,		/* list element: mynetworks */
	CFG_K_LISTEN_ADDR,	/* listen section: checked, read back later */
	CFG_K_ROLE,		/* listen section: checked, read back later */
	CFG_K_BARE_LF,		/* int, enum cfg_bare_lf */
	CFG_K_TLS_LEVEL,	/* tls_policy section: checked, read back later */
	CFG_K_TLS_MATCH		/* tls_policy section: list element */
};

struct cfg_key {
	const char    *section;	/* NULL: top level */
	const char    *name;
	enum cfg_kind  kind;
	size_t         off;	/* offsetof(struct sealpost_config, ...) */
	uint64_t       min, max;
};

extern const struct cfg_key cfg_keys[];
extern const size_t cfg_nkeys;

/* The key called name in section (NULL: top level), or NULL. */
const struct cfg_key *cfg_key_find(const char *section, const char *name);
/*
 * Check value for key k and store it into cfg; relative paths are taken
 * from basedir.  Returns 0, or -1 with cfg unchanged.  For relayhost
 * host, relay.port stays 0 when no port was written.
 */
int cfg_key_store(const struct cfg_key *k, const char *value,
    struct sealpost_config *cfg, const char *basedir);
/* "key: invalid <type> '<value>' (expected ...)", value made printable. */
void cfg_key_complain(const struct cfg_key *k, const char *value, char *out,
    size_t outlen);
/* Fill the defaults that need no environment (all but paths relative to
 * the config file and myhostname). */
void cfg_set_defaults(struct sealpost_config *cfg);
/* Lines (0: not set) of the keys cfg_tlsrpt_finish may complain about. */
struct cfg_tlsrpt_lines {
	unsigned dkim_key, dkim_selector, send_delay, send_window;
};
/*
 * After the parse, with myhostname known: fill the tlsrpt_* defaults that
 * derive from it and check the keys against each other (cfg_tlsrpt.c).
 * 0, or -1 with the line to blame in *line and a message.
 */
int cfg_tlsrpt_finish(struct sealpost_config *cfg,
    const struct cfg_tlsrpt_lines *l, unsigned *line, char *msg,
    size_t msglen);
/* gethostname(), fully qualified through getaddrinfo() if possible;
 * malloc'ed, or NULL if no usable name. */
char *cfg_default_hostname(void);

#endif
