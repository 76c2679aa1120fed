/*
 * tls_report.h - one interface through which every outbound TLS session
 * attempt's outcome is recorded, for SMTP TLS Reporting (RFC 8460).
 *
 * The delivery agent calls tls_report_record() exactly once per session
 * attempt (one connection to one MX address, or one MX host that failed
 * before a connection for a policy reason such as a failed TLSA lookup),
 * after the TLS outcome is known.  Until TLS-RPT persistence exists (P5)
 * the sink only counts per result type and, when the environment variable
 * SEALPOST_TLSRPT_DEBUG is set, logs one line per record.  P5 replaces the
 * sink; callers do not change.
 *
 * Thread safety: callable from any delivery thread at once.
 */
#ifndef SEALPOST_TLS_REPORT_H
#define SEALPOST_TLS_REPORT_H

#include <stddef.h>

/* RFC 8460 4.3 "policy-type" */
enum tls_report_policy {
	TLS_REPORT_POLICY_NONE = 0,	/* "no-policy-found" */
	TLS_REPORT_POLICY_TLSA,		/* "tlsa": DANE (RFC 7672) */
	TLS_REPORT_POLICY_STS		/* "sts": MTA-STS (RFC 8461) */
};

/* Success, or an RFC 8460 4.3 "result-type". */
enum tls_report_type {
	TLS_REPORT_SUCCESS = 0,
	TLS_REPORT_STARTTLS_NOT_SUPPORTED,	/* 4.3.1 */
	TLS_REPORT_CERT_HOST_MISMATCH,		/* 4.3.2 */
	TLS_REPORT_CERT_EXPIRED,
	TLS_REPORT_CERT_NOT_TRUSTED,
	TLS_REPORT_VALIDATION_FAILURE,
	TLS_REPORT_TLSA_INVALID,		/* 4.3.3 */
	TLS_REPORT_DNSSEC_INVALID,
	TLS_REPORT_DANE_REQUIRED,
	TLS_REPORT_STS_POLICY_FETCH_ERROR,	/* 4.3.4 */
	TLS_REPORT_STS_POLICY_INVALID,
	TLS_REPORT_STS_WEBPKI_INVALID,
	TLS_REPORT_NTYPES
};

#define TLS_REPORT_POLICY_STRINGS_MAX	16	/* one per TLSA record */

/*
 * One session attempt.  Every pointer is borrowed for the duration of
 * the call; the sink copies what it keeps.  NULL strings mean "unknown".
 */
struct tls_report_result {
	const char *policy_domain;	/* the recipient domain (nexthop) */
	enum tls_report_policy policy_type;
	/* TLSA: the RRset in presentation form ("3 1 1 ABCD..."). */
	const char *const *policy_strings;
	size_t      npolicy_strings;
	const char *mx_host;		/* receiving-mx-hostname */
	const char *receiving_ip;	/* NULL when no connection was made */
	const char *sending_ip;		/* our end of that connection
					 * (sending-mta-ip); NULL: none */
	enum tls_report_type result;
	const char *additional;		/* additional-information / reason */
};

/* Record one attempt.  Never fails; refuses nothing (bad values are
 * counted under their type after clamping). */
void tls_report_record(const struct tls_report_result *r);

/* RFC 8460 spelling: "success", "certificate-host-mismatch", ... */
const char *tls_report_type_name(enum tls_report_type t);
const char *tls_report_policy_name(enum tls_report_policy p);
/* Records of type t since start (for tests and metrics). */
unsigned long tls_report_count(enum tls_report_type t);

#endif
