/*
 * config.h - the parsed sealpost configuration.
 *
 * One file (default /etc/sealpost/sealpost.conf, overridden by -c/-C or
 * $SEALPOST_CONFIG) in libconfuse syntax: "key = value" lines and named
 * sections.  Every key, its default and its unit is documented in
 * docs/configuration.md.  The struct is read-only after cfg_load() and is
 * shared by all threads.
 */
#ifndef SEALPOST_CONFIG_H
#define SEALPOST_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define CFG_DEFAULT_PATH "/etc/sealpost/sealpost.conf"
#define CFG_ENV_PATH     "SEALPOST_CONFIG"

struct cfg_resolver {
	char  **forwarders;		/* "ip" or "ip@port"; none = recursion */
	size_t  nforwarders;
	char   *trust_anchor_file;	/* default /usr/share/dns/root.key */
	int     trust_anchor_auto;	/* RFC 5011 auto-trust-anchor-file */
	char   *unbound_config;		/* optional unbound.conf-style file */
	char  **unbound_options;	/* "name: value" passed to ub_ctx_set_option */
	size_t  nunbound_options;
};

struct cfg_relayhost {
	char     *host;			/* NULL: deliver by MX */
	uint16_t  port;			/* default 25 (587 if sasl user set) */
	int       mx_lookup;		/* 0 when written as [host] */
	char     *sasl_username;	/* optional client AUTH */
	char     *sasl_password_file;	/* file holding the password only */
};

struct cfg_timeouts {			/* seconds, RFC 5321 4.5.3.2 defaults */
	unsigned connect;		/* 30 */
	unsigned greeting;		/* 300 */
	unsigned ehlo;			/* 300 */
	unsigned starttls;		/* 300 */
	unsigned mail;			/* 300 */
	unsigned rcpt;			/* 300 */
	unsigned data_init;		/* 120 */
	unsigned data_block;		/* 180 */
	unsigned data_done;		/* 600 */
	unsigned quit;			/* 60 */
};

/* ---- the SMTP listener (docs/smtpd-contract.md, docs/smtpd.md) ---- */

enum cfg_smtpd_role {
	CFG_ROLE_RELAY = 0,	/* port 25: mynetworks or AUTH may relay */
	CFG_ROLE_SUBMISSION,	/* 587: AUTH required, PLAIN/LOGIN after TLS */
	CFG_ROLE_SMTPS		/* 465: implicit TLS, then as submission */
};

enum cfg_bare_lf {
	CFG_BARE_LF_REJECT = 0,	/* 550 5.5.2 for a bare CR or LF in DATA */
	CFG_BARE_LF_NORMALIZE	/* turn them into CRLF (never end DATA) */
};

#define CFG_LISTEN_MAX		32	/* listen sections */

/* A network in CIDR form; addr has the host bits cleared. */
struct cfg_cidr {
	int           family;		/* AF_INET or AF_INET6 */
	unsigned char addr[16];		/* 4 bytes used for AF_INET */
	unsigned      prefix;		/* 0-32 or 0-128 */
};

struct cfg_listen {
	char     *name;			/* the section title */
	char     *host;			/* IP literal or host name; NULL: "*" */
	uint16_t  port;
	enum cfg_smtpd_role role;
	unsigned  line;			/* where the section is, for messages */
};

struct cfg_smtpd {
	struct cfg_listen *listen;	/* none: no listener (sendmail only) */
	size_t   nlisten;
	char   **mynetworks;		/* as written */
	struct cfg_cidr *mynet;		/* parsed, same order */
	size_t   nmynetworks;
	char    *tls_cert_file;		/* NULL: no STARTTLS, no smtps */
	char    *tls_key_file;
	char    *sasl_path;		/* directory with smtpd.conf; NULL: default */
	int      sasl_enable;		/* default: yes if sasl_path is set */
	unsigned recipient_limit;	/* per message: 1000 */
	uint64_t header_size_limit;	/* bytes of header section: 1M */
	unsigned client_connection_limit;	/* per client IP: 50 */
	unsigned connection_limit;	/* in total: 1000 */
	unsigned timeout;		/* seconds per command: 300 */
	unsigned data_timeout;		/* seconds for the DATA phase: 600 */
	unsigned error_limit;		/* errors before 421: 20 */
	int      bare_lf;		/* enum cfg_bare_lf */
};

/*
 * 1 if the address (family AF_INET/AF_INET6, addr 4 or 16 bytes) lies in
 * one of the n networks, else 0.  An IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d) is matched as the IPv4 address it carries.
 */
int cfg_cidr_match(const struct cfg_cidr *nets, size_t n, int family,
    const unsigned char *addr);
/* Parse "ip/prefix" or a bare ip (full length).  0, or -1 (out untouched). */
int cfg_cidr_parse(const char *s, struct cfg_cidr *out);
const char *cfg_role_name(enum cfg_smtpd_role role);

/* ---- outbound TLS policy (docs/dane-contract.md, docs/dane.md) ---- */

/* Postfix smtp_tls_policy_maps levels. */
enum cfg_tls_level {
	CFG_TLS_NONE = 0,	/* never STARTTLS */
	CFG_TLS_MAY,		/* opportunistic */
	CFG_TLS_ENCRYPT,	/* mandatory TLS, no authentication */
	CFG_TLS_DANE,		/* DANE if usable TLSA exist, else may */
	CFG_TLS_DANE_ONLY,	/* mandatory DANE, no fallback */
	CFG_TLS_VERIFY,		/* mandatory PKIX, match default "hostname" */
	CFG_TLS_SECURE		/* mandatory PKIX, match default "nexthop",
				 * ".nexthop" */
};

#define CFG_TLS_MATCH_MAX	8	/* match names per tls_policy */
#define CFG_TLS_POLICY_MAX	1024	/* tls_policy sections */

struct cfg_tls_policy {
	char    *domain;		/* lower case; ".example.net" = subdomains */
	enum cfg_tls_level level;
	char   **match;			/* "nexthop", "hostname", "dot-nexthop",
					 * a name, or ".domain" */
	size_t   nmatch;
	unsigned line;
};

struct sealpost_config;
/*
 * The tls_policy entry for a next-hop domain: the exact entry, else the
 * ".parent" entry of the nearest enclosing domain, else NULL.  domain may
 * carry a trailing dot and any case.
 */
const struct cfg_tls_policy *cfg_tls_policy_find(
    const struct sealpost_config *cfg, const char *domain);
const char *cfg_tls_level_name(enum cfg_tls_level level);

struct sealpost_config {
	char *path;			/* file this came from, absolute;
					 * NULL when no file was read */

	/* where things live */
	char *spool_directory;		/* queue.db, maildrop/; default ./spool */
	char *run_user;			/* drop root to this user; "" = stay */

	/* identity */
	char *myhostname;		/* default gethostname() */
	char *postmaster;		/* double-bounce recipient: "postmaster" */

	/* logging */
	int   log_syslog;		/* log = syslog | stderr */

	/* delivery */
	unsigned delivery_threads;	/* 0 = one per core */
	unsigned destination_concurrency;	/* sessions per domain: 20 */
	unsigned total_concurrency;	/* sessions in all: 200 */
	unsigned destination_rcpt_limit;	/* recipients per transaction: 50 */
	unsigned connection_reuse_time;	/* idle seconds a session is kept: 5 */
	uint16_t smtp_port;		/* remote port for MX delivery: 25 */
	struct cfg_timeouts timeout;
	struct cfg_relayhost relay;

	/* queue */
	uint64_t minimal_backoff;	/* seconds: 300 */
	uint64_t maximal_backoff;	/* seconds: 4000 */
	uint64_t queue_run_delay;	/* seconds between deferred scans: 60 */
	uint64_t maximal_queue_lifetime;	/* 5d */
	uint64_t bounce_queue_lifetime;	/* 5d */
	uint64_t delay_warning_time;	/* 0 = off */
	uint64_t message_size_limit;	/* bytes: 50 MiB */
	unsigned commit_batch_ms;	/* group commit window: 0 */

	/* TLS */
	char *tls_ca_file;		/* default /etc/ssl/certs/ca-certificates.crt */
	int   tls_opportunistic;	/* STARTTLS when offered: yes */

	struct cfg_resolver resolver;
	struct cfg_smtpd smtpd;

	/* DANE and per-destination TLS policy */
	int   dane;			/* look up TLSA (RFC 7672): yes */
	struct cfg_tls_policy *tls_policies;	/* tls_policy sections */
	size_t ntls_policies;

	/* MTA-STS (RFC 8461, docs/mta-sts.md) */
	unsigned sts_fetch_timeout;	/* seconds for one policy fetch: 60 */
	int   mta_sts;			/* enforce MTA-STS policies: yes */
	unsigned sts_refresh_interval;	/* seconds between proactive policy
					 * refresh rounds (RFC 8461 5.1): 3600 */

	/* SMTP TLS Reporting (RFC 8460, docs/tlsrpt.md) */
	int   tlsrpt_enable;		/* record TLS results: yes */
	unsigned tlsrpt_retention_days;	/* days of results kept: 30 */
	/* the daily sender (docs/tlsrpt.md "Sending") */
	int   tlsrpt_reports;		/* send reports: yes (needs tlsrpt_enable) */
	char *tlsrpt_organization;	/* organization-name: the submitter */
	char *tlsrpt_contact;		/* contact-info: mailto:postmaster@submitter */
	char *tlsrpt_submitter;		/* report-id domain: myhostname's domain */
	char *tlsrpt_sender;		/* envelope and From: tlsrpt-noreply@submitter */
	char *tlsrpt_dkim_key;		/* PEM private key; NULL: unsigned */
	char *tlsrpt_dkim_selector;	/* needed with a key */
	char *tlsrpt_dkim_domain;	/* d=: the submitter */
	unsigned tlsrpt_send_delay;	/* seconds after 00:00 UTC: 1h */
	unsigned tlsrpt_send_window;	/* random spread after the delay: 4h */
};

/*
 * Load and validate the configuration at path (NULL: $SEALPOST_CONFIG or
 * CFG_DEFAULT_PATH).  A missing file at the default location yields the
 * defaults.  On error returns NULL and writes "file:line: message" into
 * err.  The caller owns the result and frees it with cfg_free().
 */
struct sealpost_config *cfg_load(const char *path, char *err, size_t errlen);
/* The built-in defaults, as if loaded from an empty file. */
struct sealpost_config *cfg_defaults(void);
/*
 * Free a configuration; NULL is fine.  libconfuse exports a cfg_free()
 * of its own and calls it through the PLT, so a global symbol of that
 * name would hijack libconfuse's internal calls: the linker name is
 * cfg_sealpost_free, callers keep writing cfg_free().
 */
#define cfg_free cfg_sealpost_free
void cfg_free(struct sealpost_config *cfg);
/* Path that cfg_load(NULL) would use. */
const char *cfg_default_path(void);

#endif
