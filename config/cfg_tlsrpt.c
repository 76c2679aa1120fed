/*
 * cfg_tlsrpt.c - the TLS-RPT sender's settings that depend on others:
 * defaults derived from myhostname, and checks across keys.
 *
 * Runs after the whole file is read and myhostname is known (cfg_load.c
 * passes the line of every key involved so a message can name it).  The
 * submitter domain defaults to myhostname without its first label
 * ("relay.example.net" -> "example.net", RFC 8460 4.4 wants the domain
 * of the reporting organization, not a host), unless that would leave a
 * single label.  Everything else derives from the submitter.
 */
#include <stdio.h>
#include <string.h>

#include "cfg_int.h"
#include "config.h"
#include "util.h"

static char *
default_submitter(const char *myhostname)
{
	const char *dot = strchr(myhostname, '.');

	if (dot != NULL && strchr(dot + 1, '.') != NULL)
		return xstrdup(dot + 1);
	return xstrdup(myhostname);
}

int
cfg_tlsrpt_finish(struct sealpost_config *cfg,
    const struct cfg_tlsrpt_lines *l, unsigned *line, char *msg,
    size_t msglen)
{
	*line = 0;
	if (cfg->tlsrpt_dkim_key != NULL && cfg->tlsrpt_dkim_selector == NULL) {
		*line = l->dkim_key;
		snprintf(msg, msglen, "tlsrpt_dkim_key needs "
		    "tlsrpt_dkim_selector");
		return -1;
	}
	if (cfg->tlsrpt_dkim_selector != NULL && cfg->tlsrpt_dkim_key == NULL) {
		*line = l->dkim_selector;
		snprintf(msg, msglen, "tlsrpt_dkim_selector needs "
		    "tlsrpt_dkim_key");
		return -1;
	}
	if ((uint64_t)cfg->tlsrpt_send_delay + cfg->tlsrpt_send_window >=
	    86400) {
		*line = l->send_window > l->send_delay ? l->send_window :
		    l->send_delay;
		snprintf(msg, msglen, "tlsrpt_send_delay (%us) plus "
		    "tlsrpt_send_window (%us) must stay within the day (under "
		    "86400s)", cfg->tlsrpt_send_delay,
		    cfg->tlsrpt_send_window);
		return -1;
	}
	if (cfg->tlsrpt_submitter == NULL)
		cfg->tlsrpt_submitter = default_submitter(cfg->myhostname);
	if (cfg->tlsrpt_organization == NULL)
		cfg->tlsrpt_organization = xstrdup(cfg->tlsrpt_submitter);
	if (cfg->tlsrpt_contact == NULL)
		cfg->tlsrpt_contact = xasprintf("mailto:postmaster@%s",
		    cfg->tlsrpt_submitter);
	if (cfg->tlsrpt_sender == NULL)
		cfg->tlsrpt_sender = xasprintf("tlsrpt-noreply@%s",
		    cfg->tlsrpt_submitter);
	if (cfg->tlsrpt_dkim_domain == NULL)
		cfg->tlsrpt_dkim_domain = xstrdup(cfg->tlsrpt_submitter);
	return 0;
}
