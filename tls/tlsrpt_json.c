/*
 * tlsrpt_json.c - the RFC 8460 4 aggregate report for one policy domain
 * and one UTC day, built from tlsrpt.db with jansson, and its gzip form
 * (RFC 8460 5.1: application/tlsrpt+gzip).
 *
 * Every string in the report (policy strings, host names, additional
 * information that partly came from peers) goes through jansson, which
 * escapes it; nothing is formatted by hand.  Field names and layout
 * follow RFC 8460 4.4 ("policies" / "policy" / "summary" /
 * "failure-details"); optional members whose value we do not know
 * (sending-mta-ip, receiving-ip, additional-information, an empty
 * mx-host or policy-string list) are left out rather than sent empty.
 * policy-domain and contact-info are always present and non-empty.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "tlsrpt.h"
#include "util.h"

/* An array of the '\n'-separated lines of s (never NULL). */
static json_t *
lines_array(const char *s)
{
	json_t *a = json_array();

	while (s != NULL && *s != '\0') {
		const char *eol = strchr(s, '\n');
		size_t len = eol ? (size_t)(eol - s) : strlen(s);

		if (len > 0)
			json_array_append_new(a, json_stringn(s, len));
		s = eol ? eol + 1 : NULL;
	}
	return a;
}

static json_t *
count_json(uint64_t n)
{
	return json_integer(n > (uint64_t)LLONG_MAX ? LLONG_MAX :
	    (json_int_t)n);
}

static void
set_if(json_t *o, const char *key, const char *v)
{
	if (v != NULL && v[0] != '\0')
		json_object_set_new(o, key, json_string(v));
}

struct build_ctx {
	tlsrpt_db *db;
	json_t    *policies;
	json_t    *details;	/* of the policy being built */
	int        rc;
};

static void
failure_cb(void *arg, const struct tlsrpt_failure_row *f)
{
	struct build_ctx *b = arg;
	json_t *o = json_object();

	json_object_set_new(o, "result-type", json_string(f->result));
	set_if(o, "sending-mta-ip", f->sending_ip);
	set_if(o, "receiving-mx-hostname", f->mx_host);
	set_if(o, "receiving-ip", f->receiving_ip);
	json_object_set_new(o, "failed-session-count", count_json(f->count));
	set_if(o, "additional-information", f->info);
	json_array_append_new(b->details, o);
}

static void
policy_cb(void *arg, const struct tlsrpt_policy_row *p)
{
	struct build_ctx *b = arg;
	json_t *entry = json_object(), *pol = json_object();
	json_t *sum = json_object(), *strs, *mx;

	json_object_set_new(pol, "policy-type", json_string(p->type));
	strs = lines_array(p->strings);
	if (json_array_size(strs) > 0)
		json_object_set_new(pol, "policy-string", strs);
	else
		json_decref(strs);
	json_object_set_new(pol, "policy-domain", json_string(p->domain));
	mx = lines_array(p->mx);
	if (json_array_size(mx) > 0)
		json_object_set_new(pol, "mx-host", mx);
	else
		json_decref(mx);
	json_object_set_new(entry, "policy", pol);
	json_object_set_new(sum, "total-successful-session-count",
	    count_json(p->success));
	json_object_set_new(sum, "total-failure-session-count",
	    count_json(p->failure));
	json_object_set_new(entry, "summary", sum);
	b->details = json_array();
	if (tlsrpt_db_failures(b->db, p, failure_cb, b) < 0)
		b->rc = -1;
	if (json_array_size(b->details) > 0)
		json_object_set_new(entry, "failure-details", b->details);
	else
		json_decref(b->details);
	b->details = NULL;
	json_array_append_new(b->policies, entry);
}

json_t *
tlsrpt_json_build(tlsrpt_db *d, const char *domain, const char *day,
    const struct tlsrpt_report_info *info, char *err, size_t errlen)
{
	struct build_ctx b = { d, NULL, NULL, 0 };
	char start[32], end[32], *id;
	json_t *r, *range;

	if (domain == NULL || domain[0] == '\0' || tlsrpt_day_valid(day) < 0) {
		snprintf(err, errlen, "need a policy domain and a day "
		    "YYYY-MM-DD");
		return NULL;
	}
	if (info == NULL || info->organization == NULL ||
	    info->organization[0] == '\0' || info->contact == NULL ||
	    info->contact[0] == '\0') {
		snprintf(err, errlen, "organization-name and contact-info are "
		    "required");
		return NULL;
	}
	b.policies = json_array();
	if (tlsrpt_db_policies(d, day, domain, policy_cb, &b) < 0 ||
	    b.rc < 0) {
		snprintf(err, errlen, "database error");
		json_decref(b.policies);
		return NULL;
	}
	if (json_array_size(b.policies) == 0) {
		snprintf(err, errlen, "no TLS results for %s on %s", domain,
		    day);
		json_decref(b.policies);
		return NULL;
	}
	snprintf(start, sizeof(start), "%sT00:00:00Z", day);
	snprintf(end, sizeof(end), "%sT23:59:59Z", day);
	r = json_object();
	json_object_set_new(r, "organization-name",
	    json_string(info->organization));
	range = json_object();
	json_object_set_new(range, "start-datetime", json_string(start));
	json_object_set_new(range, "end-datetime", json_string(end));
	json_object_set_new(r, "date-range", range);
	json_object_set_new(r, "contact-info", json_string(info->contact));
	/* unique per submitter, domain and day; the same on a resend */
	if (info->submitter != NULL && info->submitter[0] != '\0')
		id = xasprintf("%s_%s@%s", start, domain, info->submitter);
	else
		id = xasprintf("%s_%s", start, domain);
	json_object_set_new(r, "report-id", json_string(id));
	free(id);
	json_object_set_new(r, "policies", b.policies);
	return r;
}

int
tlsrpt_json_gzip(const json_t *report, unsigned char **out, size_t *outlen)
{
	char *text = json_dumps(report, JSON_COMPACT | JSON_ENSURE_ASCII);
	z_stream z;
	unsigned char *buf;
	size_t len, cap;
	int rc;

	*out = NULL;
	*outlen = 0;
	if (text == NULL)
		return -1;
	len = strlen(text);
	if (len > TLSRPT_REPORT_MAX) {
		free(text);
		return -1;
	}
	memset(&z, 0, sizeof(z));
	/* windowBits 15 + 16: a gzip (RFC 1952) wrapper, not zlib's */
	if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
	    Z_DEFAULT_STRATEGY) != Z_OK) {
		free(text);
		return -1;
	}
	cap = deflateBound(&z, (uLong)len) + 32;
	buf = xmalloc(cap);
	z.next_in = (unsigned char *)text;
	z.avail_in = (uInt)len;
	z.next_out = buf;
	z.avail_out = (uInt)cap;
	rc = deflate(&z, Z_FINISH);
	*outlen = cap - z.avail_out;
	deflateEnd(&z);
	free(text);
	if (rc != Z_STREAM_END) {
		free(buf);
		*outlen = 0;
		return -1;
	}
	*out = buf;
	return 0;
}
