/*
 * tls_report.c - the TLS result sink (RFC 8460 result types).
 *
 * Per-type counters (atomics, any thread), an optional debug line per
 * record, and - when the daemon has opened the TLS-RPT store
 * (tlsrpt_store_open(..., activate = 1), tls/tlsrpt_store.c) - one
 * append to the store's in-memory batch, aggregated into sqlite per
 * policy domain and UTC day by the store's writer thread.
 * The debug line carries DNS and peer-derived text, so everything is
 * made printable and bounded before it is logged.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "tls_report.h"
#include "tlsrpt.h"
#include "util.h"

#define TLS_REPORT_FIELD_MAX	256	/* bytes of one field in the log */

static atomic_ulong tls_report_counts[TLS_REPORT_NTYPES];

const char *
tls_report_type_name(enum tls_report_type t)
{
	switch (t) {
	case TLS_REPORT_SUCCESS: return "success";
	case TLS_REPORT_STARTTLS_NOT_SUPPORTED: return "starttls-not-supported";
	case TLS_REPORT_CERT_HOST_MISMATCH: return "certificate-host-mismatch";
	case TLS_REPORT_CERT_EXPIRED: return "certificate-expired";
	case TLS_REPORT_CERT_NOT_TRUSTED: return "certificate-not-trusted";
	case TLS_REPORT_VALIDATION_FAILURE: return "validation-failure";
	case TLS_REPORT_TLSA_INVALID: return "tlsa-invalid";
	case TLS_REPORT_DNSSEC_INVALID: return "dnssec-invalid";
	case TLS_REPORT_DANE_REQUIRED: return "dane-required";
	case TLS_REPORT_STS_POLICY_FETCH_ERROR: return "sts-policy-fetch-error";
	case TLS_REPORT_STS_POLICY_INVALID: return "sts-policy-invalid";
	case TLS_REPORT_STS_WEBPKI_INVALID: return "sts-webpki-invalid";
	case TLS_REPORT_NTYPES: break;
	}
	return "validation-failure";
}

const char *
tls_report_policy_name(enum tls_report_policy p)
{
	switch (p) {
	case TLS_REPORT_POLICY_TLSA: return "tlsa";
	case TLS_REPORT_POLICY_STS: return "sts";
	case TLS_REPORT_POLICY_NONE: break;
	}
	return "no-policy-found";
}

unsigned long
tls_report_count(enum tls_report_type t)
{
	if ((unsigned)t >= TLS_REPORT_NTYPES)
		return 0;
	return atomic_load(&tls_report_counts[t]);
}

static const char *
tls_report_shown(const char *s, char *buf, size_t buflen)
{
	if (s == NULL)
		return "-";
	return util_printable(s, strlen(s), buf, buflen);
}

void
tls_report_record(const struct tls_report_result *r)
{
	static atomic_int debug = -1;
	enum tls_report_type t = r->result;
	char dom[TLS_REPORT_FIELD_MAX], mx[TLS_REPORT_FIELD_MAX];
	char ip[64], add[TLS_REPORT_FIELD_MAX], pol[TLS_REPORT_FIELD_MAX];

	if ((unsigned)t >= TLS_REPORT_NTYPES)
		t = TLS_REPORT_VALIDATION_FAILURE;
	atomic_fetch_add(&tls_report_counts[t], 1);
	tlsrpt_store_add_active(r);	/* no-op until a store is open */
	if (atomic_load(&debug) < 0) {
		const char *e = getenv("SEALPOST_TLSRPT_DEBUG");

		/* threads racing here all store the same value */
		atomic_store(&debug, e != NULL && e[0] != '\0' &&
		    strcmp(e, "0") != 0);
	}
	if (!atomic_load(&debug))
		return;
	tls_report_shown(r->npolicy_strings > 0 && r->policy_strings ?
	    r->policy_strings[0] : NULL, pol, sizeof(pol));
	log_info("tlsrpt: policy-domain=%s policy-type=%s policy-strings=%zu "
	    "first=\"%s\" mx=%s ip=%s result=%s info=\"%s\"",
	    tls_report_shown(r->policy_domain, dom, sizeof(dom)),
	    tls_report_policy_name(r->policy_type), r->npolicy_strings, pol,
	    tls_report_shown(r->mx_host, mx, sizeof(mx)),
	    tls_report_shown(r->receiving_ip, ip, sizeof(ip)),
	    tls_report_type_name(t),
	    tls_report_shown(r->additional, add, sizeof(add)));
}
