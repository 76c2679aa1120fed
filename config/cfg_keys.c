/*
 * cfg_keys.c - the table of configuration keys, their defaults, and the
 * code that turns one accepted string into a struct field.
 *
 * This file knows what each key means; cfg_load.c only knows how to get
 * strings and line numbers out of libconfuse.  Adding a key means one
 * table row here (plus its default and docs/configuration.md).  It does
 * not include <confuse.h>: see config.h on the cfg_free name clash.
 */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg_int.h"
#include "config.h"
#include "util.h"

#define DAY	86400ULL
#define OFF(f)	offsetof(struct sealpost_config, f)

const struct cfg_key cfg_keys[] = {
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

	/* DANE (RFC 7672) and per-destination TLS policy (docs/dane.md) */
	{ NULL, "dane", CFG_K_BOOL, OFF(dane), 0, 0 },
	{ "tls_policy", "level", CFG_K_TLS_LEVEL, 0, 0, 0 },
	{ "tls_policy", "match", CFG_K_TLS_MATCH, 0, 0, 0 },

	/* MTA-STS (RFC 8461 3.3 asks for a bound; docs/mta-sts.md) */
	{ NULL, "sts_fetch_timeout", CFG_K_SECS, OFF(sts_fetch_timeout),
	  1, 600 },
	{ NULL, "mta_sts", CFG_K_BOOL, OFF(mta_sts), 0, 0 },
	{ NULL, "sts_refresh_interval", CFG_K_SECS,
	  OFF(sts_refresh_interval), 1, 86400 },

	/* SMTP TLS Reporting (RFC 8460; docs/tlsrpt.md) */
	{ NULL, "tlsrpt_enable", CFG_K_BOOL, OFF(tlsrpt_enable), 0, 0 },
	{ NULL, "tlsrpt_retention_days", CFG_K_UINT,
	  OFF(tlsrpt_retention_days), 1, 3650 },
	{ NULL, "tlsrpt_reports", CFG_K_BOOL, OFF(tlsrpt_reports), 0, 0 },
	{ NULL, "tlsrpt_organization", CFG_K_TEXT, OFF(tlsrpt_organization),
	  0, 0 },
	{ NULL, "tlsrpt_contact", CFG_K_TEXT, OFF(tlsrpt_contact), 0, 0 },
	{ NULL, "tlsrpt_submitter", CFG_K_HOSTNAME, OFF(tlsrpt_submitter),
	  0, 0 },
	{ NULL, "tlsrpt_sender", CFG_K_ADDRESS, OFF(tlsrpt_sender), 0, 0 },
	{ NULL, "tlsrpt_dkim_key", CFG_K_PATH, OFF(tlsrpt_dkim_key), 0, 0 },
	/* a selector is one or more DNS labels (RFC 6376 3.1) */
	{ NULL, "tlsrpt_dkim_selector", CFG_K_HOSTNAME,
	  OFF(tlsrpt_dkim_selector), 0, 0 },
	{ NULL, "tlsrpt_dkim_domain", CFG_K_HOSTNAME, OFF(tlsrpt_dkim_domain),
	  0, 0 },
	/* both within the day after the one reported (RFC 8460 4.1 asks for
	 * reports spread out, not all at 00:00 UTC) */
	{ NULL, "tlsrpt_send_delay", CFG_K_SECS, OFF(tlsrpt_send_delay),
	  0, DAY - 1 },
	{ NULL, "tlsrpt_send_window", CFG_K_SECS, OFF(tlsrpt_send_window),
	  0, DAY - 1 },

	/* the SMTP listener: docs/smtpd-contract.md */
	{ "listen", "address", CFG_K_LISTEN_ADDR, 0, 0, 0 },
	{ "listen", "role", CFG_K_ROLE, 0, 0, 0 },
	{ NULL, "mynetworks", CFG_K_CIDR, 0, 0, 0 },
	{ NULL, "smtpd_tls_cert_file", CFG_K_PATH, OFF(smtpd.tls_cert_file),
	  0, 0 },
	{ NULL, "smtpd_tls_key_file", CFG_K_PATH, OFF(smtpd.tls_key_file),
	  0, 0 },
	{ NULL, "smtpd_sasl_path", CFG_K_PATH, OFF(smtpd.sasl_path), 0, 0 },
	{ NULL, "smtpd_sasl_enable", CFG_K_BOOL, OFF(smtpd.sasl_enable), 0, 0 },
	/* RFC 5321 4.5.3.1.8 asks for at least 100 (smaller is allowed for
	 * tests and odd sites); QUEUE_RCPT_MAX caps it */
	{ NULL, "smtpd_recipient_limit", CFG_K_UINT,
	  OFF(smtpd.recipient_limit), 1, 10000 },
	{ NULL, "smtpd_header_size_limit", CFG_K_SIZE,
	  OFF(smtpd.header_size_limit), 1, 64ULL * 1024 * 1024 },
	{ NULL, "smtpd_client_connection_limit", CFG_K_UINT,
	  OFF(smtpd.client_connection_limit), 1, 100000 },
	{ NULL, "smtpd_connection_limit", CFG_K_UINT,
	  OFF(smtpd.connection_limit), 1, 100000 },
	/* RFC 5321 4.5.3.2.7: a server waits at least 5 minutes */
	{ NULL, "smtpd_timeout", CFG_K_SECS, OFF(smtpd.timeout), 1, DAY },
	{ NULL, "smtpd_data_timeout", CFG_K_SECS, OFF(smtpd.data_timeout),
	  1, DAY },
	{ NULL, "smtpd_error_limit", CFG_K_UINT, OFF(smtpd.error_limit),
	  1, 1000 },
	{ NULL, "smtpd_bare_lf", CFG_K_BARE_LF, OFF(smtpd.bare_lf), 0, 0 },
};

_Static_assert(sizeof(cfg_keys) / sizeof(cfg_keys[0]) <= CFG_MAX_KEYS,
    "raise CFG_MAX_KEYS");
const size_t cfg_nkeys = sizeof(cfg_keys) / sizeof(cfg_keys[0]);

const struct cfg_key *
cfg_key_find(const char *section, const char *name)
{
	size_t i;

	for (i = 0; i < cfg_nkeys; i++) {
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
	case CFG_K_TLS_LEVEL: return "none, may, encrypt, dane, dane-only, "
	    "verify or secure";
	case CFG_K_TLS_MATCH: return "nexthop, hostname, dot-nexthop, a host "
	    "name or .domain";
	case CFG_K_CIDR:
		return "an IP address or network, e.g. 192.0.2.0/24, "
		    "2001:db8::/32";
	case CFG_K_LISTEN_ADDR:
		return "host:port, [IPv6]:port or *:port";
	case CFG_K_ROLE: return "relay, submission or smtps";
	case CFG_K_BARE_LF: return "reject or normalize";
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
	case CFG_K_CIDR: return "network";
	case CFG_K_LISTEN_ADDR: return "address";
	case CFG_K_ROLE: return "role";
	case CFG_K_UINT: case CFG_K_MILLIS: return "number";
	default: return "value";
	}
}

int
cfg_key_store(const struct cfg_key *k, const char *value,
    struct sealpost_config *cfg, const char *basedir)
{
	char *base = (char *)cfg, **sp = (char **)(base + k->off);
	uint64_t v;
	uint16_t port;
	int b;

	switch (k->kind) {
	case CFG_K_PATH:
		if (value[0] == '\0' || cfg_val_text(value) < 0)
			return -1;
		free(*sp);
		*sp = cfg_path_join(basedir, value);
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
			cfg->log_syslog = 1;
		else if (strcmp(value, "stderr") == 0)
			cfg->log_syslog = 0;
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
		struct cfg_relayhost *r = &cfg->relay;
		char *host;

		if (cfg_val_relayhost(value, &host, &port, &b) < 0)
			return -1;
		free(r->host);
		r->host = host;
		r->port = port;
		r->mx_lookup = b;
		return 0;
	}
	case CFG_K_FORWARDER:
		return cfg_val_forwarder(value);
	case CFG_K_UBOPT:
		return cfg_val_unbound_option(value);
	case CFG_K_TLS_LEVEL:
		return cfg_val_tls_level(value, &b);
	case CFG_K_TLS_MATCH:
		return cfg_val_tls_match(value);
	case CFG_K_CIDR: {
		struct cfg_cidr c;

		return cfg_cidr_parse(value, &c);
	}
	case CFG_K_LISTEN_ADDR: {
		char *host = NULL;

		if (cfg_val_listen_address(value, &host, &port) < 0)
			return -1;
		free(host);
		return 0;
	}
	case CFG_K_ROLE:
		return cfg_val_role(value, &b);
	case CFG_K_BARE_LF:
		if (cfg_val_bare_lf(value, &b) < 0)
			return -1;
		*(int *)(base + k->off) = b;
		return 0;
	}
	return -1;
}

void
cfg_key_complain(const struct cfg_key *k, const char *value, char *out,
    size_t outlen)
{
	const char *expect = cfg_kind_expect(k);
	char shown[64];

	util_printable(value, strlen(value), shown, sizeof(shown));
	if (expect != NULL)
		snprintf(out, outlen, "%s: invalid %s '%s' (expected %s)",
		    k->name, cfg_kind_name(k->kind), shown, expect);
	else if (k->kind == CFG_K_UINT || k->kind == CFG_K_MILLIS)
		snprintf(out, outlen, "%s: invalid number '%s' (expected "
		    "%llu-%llu)", k->name, shown, (unsigned long long)k->min,
		    (unsigned long long)k->max);
	else if (k->kind == CFG_K_SIZE)
		snprintf(out, outlen, "%s: invalid size '%s' (expected bytes, "
		    "or a number with k, M or G, at least %llu)", k->name,
		    shown, (unsigned long long)k->min);
	else
		snprintf(out, outlen, "%s: invalid duration '%s' (expected "
		    "%llus to %llus, e.g. 30s, 5m, 4h, 5d)", k->name, shown,
		    (unsigned long long)k->min, (unsigned long long)k->max);
}

/* ---- defaults ------------------------------------------------------- */

/* gethostname(), made fully qualified through the resolver if we can. */
char *
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

void
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
	cfg->relay.mx_lookup = 1;
	cfg->minimal_backoff = 300;
	cfg->maximal_backoff = 4000;
	cfg->queue_run_delay = 60;
	cfg->maximal_queue_lifetime = 5 * DAY;
	cfg->bounce_queue_lifetime = 5 * DAY;
	cfg->delay_warning_time = 0;
	cfg->message_size_limit = 50ULL * 1024 * 1024;
	cfg->commit_batch_ms = 0;
	cfg->tls_ca_file = xstrdup("/etc/ssl/certs/ca-certificates.crt");
	cfg->tls_opportunistic = 1;
	cfg->resolver.trust_anchor_file = xstrdup("/usr/share/dns/root.key");
	cfg->resolver.trust_anchor_auto = 0;
	cfg->dane = 1;
	cfg->sts_fetch_timeout = 60;
	cfg->mta_sts = 1;
	cfg->sts_refresh_interval = 3600;
	cfg->tlsrpt_enable = 1;
	cfg->tlsrpt_retention_days = 30;
	cfg->tlsrpt_reports = 1;
	cfg->tlsrpt_send_delay = 3600;
	cfg->tlsrpt_send_window = 4 * 3600;
	cfg->smtpd.sasl_enable = -1;	/* decided after the parse */
	cfg->smtpd.recipient_limit = 1000;
	cfg->smtpd.header_size_limit = 1024 * 1024;
	cfg->smtpd.client_connection_limit = 50;
	cfg->smtpd.connection_limit = 1000;
	cfg->smtpd.timeout = 300;
	cfg->smtpd.data_timeout = 600;
	cfg->smtpd.error_limit = 20;
	cfg->smtpd.bare_lf = CFG_BARE_LF_REJECT;
}

/* ---- freeing -------------------------------------------------------- */

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
	size_t i;

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
	for (i = 0; i < cfg->smtpd.nlisten; i++) {
		free(cfg->smtpd.listen[i].name);
		free(cfg->smtpd.listen[i].host);
	}
	free(cfg->smtpd.listen);
	cfg_free_list(cfg->smtpd.mynetworks, cfg->smtpd.nmynetworks);
	free(cfg->smtpd.mynet);
	free(cfg->smtpd.tls_cert_file);
	free(cfg->smtpd.tls_key_file);
	free(cfg->smtpd.sasl_path);
	for (i = 0; i < cfg->ntls_policies; i++) {
		free(cfg->tls_policies[i].domain);
		cfg_free_list(cfg->tls_policies[i].match,
		    cfg->tls_policies[i].nmatch);
	}
	free(cfg->tls_policies);
	free(cfg->tlsrpt_organization);
	free(cfg->tlsrpt_contact);
	free(cfg->tlsrpt_submitter);
	free(cfg->tlsrpt_sender);
	free(cfg->tlsrpt_dkim_key);
	free(cfg->tlsrpt_dkim_selector);
	free(cfg->tlsrpt_dkim_domain);
	free(cfg);
}
