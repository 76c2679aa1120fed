/*
 * cfg_tlspolicy.c - the outbound TLS policy table: dane = yes|no and the
 * repeatable tls_policy "DOMAIN" { level = ...  match = { ... } } sections
 * (docs/dane-contract.md; Postfix's smtp_tls_policy_maps is the model).
 *
 * cfg_load.c collects the sections; the value parsers, the per-entry
 * checks and the lookup live here, pure, so tests/unit/test_cfg_tlspolicy.c
 * drives them with tables.  Lookup: the exact domain first, then
 * ".parent" entries from the nearest enclosing domain outwards.
 */
#include <stdio.h>
#include <string.h>

#include "cfg_int.h"
#include "config.h"
#include "util.h"

static const char *const cfg_tls_level_names[] = {
	[CFG_TLS_NONE] = "none",
	[CFG_TLS_MAY] = "may",
	[CFG_TLS_ENCRYPT] = "encrypt",
	[CFG_TLS_DANE] = "dane",
	[CFG_TLS_DANE_ONLY] = "dane-only",
	[CFG_TLS_VERIFY] = "verify",
	[CFG_TLS_SECURE] = "secure",
};
#define CFG_TLS_NLEVELS \
	(sizeof(cfg_tls_level_names) / sizeof(cfg_tls_level_names[0]))

const char *
cfg_tls_level_name(enum cfg_tls_level level)
{
	if ((size_t)level >= CFG_TLS_NLEVELS)
		return "?";
	return cfg_tls_level_names[level];
}

int
cfg_val_tls_level(const char *s, int *out)
{
	size_t i;

	for (i = 0; i < CFG_TLS_NLEVELS; i++)
		if (util_strcasecmp(s, cfg_tls_level_names[i]) == 0) {
			*out = (int)i;
			return 0;
		}
	return -1;
}

int
cfg_val_tls_domain(const char *s)
{
	if (s == NULL || s[0] == '\0')
		return -1;
	if (s[0] == '.')
		s++;
	return cfg_val_hostname(s);
}

int
cfg_val_tls_match(const char *s)
{
	if (s == NULL)
		return -1;
	if (strcmp(s, "nexthop") == 0 || strcmp(s, "hostname") == 0 ||
	    strcmp(s, "dot-nexthop") == 0)
		return 0;
	return cfg_val_tls_domain(s);
}

int
cfg_tls_policy_check(const struct cfg_tls_policy *p, char *msg,
    size_t msglen)
{
	if (p->nmatch > 0 && p->level != CFG_TLS_VERIFY &&
	    p->level != CFG_TLS_SECURE) {
		snprintf(msg, msglen, "match applies only to level verify or "
		    "secure, not %s", cfg_tls_level_name(p->level));
		return -1;
	}
	if (p->nmatch > CFG_TLS_MATCH_MAX) {
		snprintf(msg, msglen, "more than %d match names",
		    CFG_TLS_MATCH_MAX);
		return -1;
	}
	return 0;
}

static const struct cfg_tls_policy *
cfg_tls_policy_exact(const struct sealpost_config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->ntls_policies; i++)
		if (util_strcasecmp(cfg->tls_policies[i].domain, name) == 0)
			return &cfg->tls_policies[i];
	return NULL;
}

const struct cfg_tls_policy *
cfg_tls_policy_find(const struct sealpost_config *cfg, const char *domain)
{
	char name[CFG_MAX_HOSTNAME_LEN + 3];
	const struct cfg_tls_policy *p;
	const char *dot;
	size_t len;

	if (cfg == NULL || domain == NULL || cfg->ntls_policies == 0)
		return NULL;
	len = strlen(domain);
	if (len > 1 && domain[len - 1] == '.')
		len--;
	if (len == 0 || len > CFG_MAX_HOSTNAME_LEN)
		return NULL;
	memcpy(name, domain, len);
	name[len] = '\0';
	if ((p = cfg_tls_policy_exact(cfg, name)) != NULL)
		return p;
	/* ".example.net" covers a.example.net and b.a.example.net */
	for (dot = strchr(name, '.'); dot != NULL; dot = strchr(dot + 1, '.'))
		if ((p = cfg_tls_policy_exact(cfg, dot)) != NULL)
			return p;
	return NULL;
}
