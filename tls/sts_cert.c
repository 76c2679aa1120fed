/*
 * sts_cert.c - does an MX host's certificate name that host?  RFC 8461
 * 4.1 with RFC 6125: the reference identifier is the MX host name as it
 * appears in the MX record (not the CNAME target, not reverse DNS, seed
 * 002), presented identifiers are subjectAltName dNSName entries only.
 *
 * Decisions:
 *   - The subject CN is never consulted, with or without SANs: RFC 8461
 *     4.1 requires a SAN dNSName that matches, and every public CA has
 *     put the name in the SAN for years.
 *   - A wildcard is only "*" as the whole leftmost label and stands for
 *     exactly one label (RFC 6125 6.4.3, RFC 8461 4.1); partial
 *     wildcards ("mx*.example.net") are refused, as with OpenSSL's
 *     X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS.
 *   - "*.tld" (fewer than two labels after the star) never matches, as
 *     OpenSSL refuses it too.
 *   - Every SAN is tried: a certificate with dozens of wildcard SANs
 *     (seed 000: *.mail.protection.outlook.com, *.olc.protection.
 *     outlook.com, *.01-mail.net ...) matches if any one entry does.
 *     Sendmail's bug in that seed was a rule that stripped one label
 *     and looked the remainder up among the wildcards' suffixes; here
 *     each SAN is compared on its own, so order and count do not matter.
 *
 * The pure function works on a list of strings; the X509 wrapper only
 * extracts them.  Chain validation (trust, validity dates) is the TLS
 * engine's job, not this file's.
 */
#include <string.h>

#include <openssl/x509v3.h>

#include "sts.h"

static unsigned char
lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

static size_t
strip_dot_len(const char *s)
{
	size_t n = strlen(s);

	return (n > 0 && s[n - 1] == '.') ? n - 1 : n;
}

static int
caseeq(const char *a, const char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return 0;
	return 1;
}

/* A plain name usable for comparison: no empty label, no '*'. */
static int
plain_name_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || s[0] == '.')
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] == '*')
			return 0;
		if (s[i] == '.' && (i + 1 == n || s[i + 1] == '.'))
			return 0;
	}
	return 1;
}

int
sts_cert_name_match(const char *san, const char *host)
{
	size_t sn, hn, rest, first;
	const char *dot;

	if (san == NULL || host == NULL)
		return 0;
	sn = strip_dot_len(san);
	hn = strip_dot_len(host);
	if (!plain_name_ok(host, hn))
		return 0;
	if (sn >= 2 && san[0] == '*' && san[1] == '.') {
		rest = sn - 2;
		if (!plain_name_ok(san + 2, rest))
			return 0;
		/* at least two labels after the star: no "*.com" */
		dot = memchr(san + 2, '.', rest);
		if (dot == NULL)
			return 0;
		if (hn <= rest + 1)
			return 0;
		first = hn - rest - 1;
		if (host[first] != '.' || memchr(host, '.', first) != NULL)
			return 0;
		return caseeq(san + 2, host + first + 1, rest);
	}
	if (!plain_name_ok(san, sn))
		return 0;
	return sn == hn && caseeq(san, host, hn);
}

int
sts_cert_names_match(const char *const *sans, size_t n, const char *host)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (sts_cert_name_match(sans[i], host))
			return 1;
	return 0;
}

int
sts_cert_match_x509(X509 *cert, const char *host)
{
	GENERAL_NAMES *gens;
	int i, n, ok = 0;

	if (cert == NULL || host == NULL)
		return 0;
	gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	if (gens == NULL)
		return 0;
	n = sk_GENERAL_NAME_num(gens);
	for (i = 0; i < n && !ok; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		const unsigned char *data;
		char name[STS_PATTERN_MAX];
		int len;

		if (g->type != GEN_DNS)
			continue;
		data = ASN1_STRING_get0_data(g->d.dNSName);
		len = ASN1_STRING_length(g->d.dNSName);
		/* an embedded NUL would hide a suffix: skip the entry */
		if (data == NULL || len <= 0 || (size_t)len >= sizeof(name) ||
		    memchr(data, '\0', (size_t)len) != NULL)
			continue;
		memcpy(name, data, (size_t)len);
		name[len] = '\0';
		ok = sts_cert_name_match(name, host);
	}
	GENERAL_NAMES_free(gens);
	return ok;
}

int
sts_cert_match_x509_openssl(X509 *cert, const char *host)
{
	size_t n;

	if (cert == NULL || host == NULL)
		return 0;
	n = strip_dot_len(host);
	return X509_check_host(cert, host, n,
	    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS |
	    X509_CHECK_FLAG_NEVER_CHECK_SUBJECT, NULL) == 1;
}
