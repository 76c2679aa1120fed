/*
 * test_tls_sts_cert.c - certificate names for MTA-STS (tls/sts_cert.c):
 * the pure SAN matcher over tables, then real X509 certificates built
 * here with the SAN lists of seed 000 (Microsoft's many wildcards,
 * 01-mail's three wildcards, Google's and mork.no's listed names),
 * checked both with our extractor and with OpenSSL's X509_check_host
 * (NO_PARTIAL_WILDCARDS): the two must agree on every case.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "tls/sts.h"

/* seed 000, as the certificates carried them */
static const char *const microsoft_sans[] = {
	"mail.protection.outlook.com", "*.mail.eo.outlook.com",
	"*.mail.protection.outlook.com", "mail.messaging.microsoft.com",
	"outlook.com", "*.olc.protection.outlook.com", "*.pamx1.hotmail.com",
	"*.mail.protection.outlook.de", "*.mx.microsoft",
	"*.k-v1.mx.microsoft", "*.n-v1.mx.microsoft", "*.q-v1.mx.microsoft",
	"*.y-v1.mx.microsoft", "*.d-v1.mx.microsoft", "*.e-v1.mx.microsoft",
	"*.a-v1.mx.microsoft", "*.r-v1.mx.microsoft", "*.w-v1.mx.microsoft",
	"*.p-v1.mx.microsoft", "*.x-v1.mx.microsoft", "*.j-v1.mx.microsoft",
	"*.s-v1.mx.microsoft", "*.c-v1.mx.microsoft", "*.b-v1.mx.microsoft",
	"*.f-v1.mx.microsoft", "*.i-v1.mx.microsoft", "*.t-v1.mx.microsoft",
	"*.m-v1.mx.microsoft", "*.o-v1.mx.microsoft", "*.g-v1.mx.microsoft",
	"*.v-v1.mx.microsoft", "*.h-v1.mx.microsoft", "*.l-v1.mx.microsoft",
	"*.u-v1.mx.microsoft",
};
static const char *const mail01_sans[] = {
	"*.01-mail.com", "*.01-mail.net", "*.01-mail.org", "01-mail.com",
	"01-mail.net", "01-mail.org",
};
static const char *const google_sans[] = {
	"mx.google.com", "smtp.google.com", "aspmx.l.google.com",
	"alt1.aspmx.l.google.com", "gmail-smtp-in.l.google.com",
	"alt1.gmail-smtp-in.l.google.com", "alt2.gmail-smtp-in.l.google.com",
	"alt3.gmail-smtp-in.l.google.com", "alt4.gmail-smtp-in.l.google.com",
	"mx1.smtp.goog",
};
static const char *const mork_sans[] = {
	"canardo.dyn.mork.no", "canardo.mork.no", "imap.mork.no",
	"mail.mork.no", "smtp.mork.no",
};

#define N(a) (sizeof(a) / sizeof(a[0]))

struct cert_case {
	const char *host;
	int         want;
};

static const struct cert_case microsoft_cases[] = {
	{ "hotmail-com.olc.protection.outlook.com", 1 },
	{ "outlook-com.olc.protection.outlook.com.", 1 },
	{ "HOTMAIL-COM.OLC.PROTECTION.OUTLOOK.COM", 1 },
	{ "contoso-com.mail.protection.outlook.com", 1 },
	{ "mail.protection.outlook.com", 1 },		/* exact SAN */
	{ "outlook.com", 1 },
	{ "x.k-v1.mx.microsoft", 1 },			/* the 10th wildcard */
	{ "x.u-v1.mx.microsoft", 1 },			/* the last one */
	{ "a.mx.microsoft", 1 },
	{ "olc.protection.outlook.com", 0 },		/* bare parent */
	{ "a.b.olc.protection.outlook.com", 0 },	/* two labels */
	{ "a.protection.outlook.com", 0 },
	{ "hotmail-com.olc.protection.outlook.com.evil", 0 },
	{ "k-v1.mx.microsoft", 1 },			/* via *.mx.microsoft */
	{ "a.z-v1.mx.microsoft", 0 },
	{ "evil.example", 0 },
};
static const struct cert_case mail01_cases[] = {
	{ "mx.01-mail.net", 1 }, { "mx.01-mail.net.", 1 },
	{ "01-mail.org", 1 }, { "mx.01-mail.com", 1 },
	{ "a.mx.01-mail.net", 0 }, { "01-mail.de", 0 }, { "mx.01-mail.de", 0 },
};
static const struct cert_case google_cases[] = {
	{ "alt1.gmail-smtp-in.l.google.com", 1 },
	{ "gmail-smtp-in.l.google.com", 1 },
	{ "alt9.gmail-smtp-in.l.google.com", 0 },
	{ "l.google.com", 0 },
};
static const struct cert_case mork_cases[] = {
	{ "canardo.mork.no", 1 }, { "mork.no", 0 }, { "x.mork.no", 0 },
};

static void
test_name_table(void **state)
{
	static const struct {
		const char *san, *host;
		int want;
	} t[] = {
		{ "mx.example.net", "mx.example.net", 1 },
		{ "MX.Example.NET.", "mx.example.net", 1 },
		{ "mx.example.net", "mx.example.net.", 1 },
		{ "*.example.net", "mx.example.net", 1 },
		{ "*.example.net", "example.net", 0 },
		{ "*.example.net", "a.mx.example.net", 0 },
		{ "*.example.net", ".example.net", 0 },
		{ "*.net", "example.net", 0 },		/* too wide */
		{ "*", "mx", 0 },
		{ "mx*.example.net", "mx1.example.net", 0 },	/* partial */
		{ "*mx.example.net", "amx.example.net", 0 },
		{ "m*x.example.net", "mx.example.net", 0 },
		{ "mx.*.example.net", "mx.a.example.net", 0 },
		{ "*.*.example.net", "a.b.example.net", 0 },
		{ "**.example.net", "a.example.net", 0 },
		{ "*.example..net", "a.example..net", 0 },
		{ "mx..example.net", "mx..example.net", 0 },
		{ "", "", 0 },
		{ "mx.example.net", "", 0 },
		{ "mx.example.net", "*.example.net", 0 },	/* host with * */
		{ "*.example.net", "*.example.net", 0 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < N(t); i++)
		if (sts_cert_name_match(t[i].san, t[i].host) != t[i].want)
			fail_msg("san %s host %s want %d", t[i].san,
			    t[i].host, t[i].want);
	assert_int_equal(sts_cert_name_match(NULL, "a"), 0);
}

static void
run_list(const char *const *sans, size_t nsans, const struct cert_case *c,
    size_t nc)
{
	size_t i;

	for (i = 0; i < nc; i++)
		if (sts_cert_names_match(sans, nsans, c[i].host) != c[i].want)
			fail_msg("list: host %s want %d", c[i].host, c[i].want);
}

static void
test_seed000_lists(void **state)
{
	(void)state;
	run_list(microsoft_sans, N(microsoft_sans), microsoft_cases,
	    N(microsoft_cases));
	run_list(mail01_sans, N(mail01_sans), mail01_cases, N(mail01_cases));
	run_list(google_sans, N(google_sans), google_cases, N(google_cases));
	run_list(mork_sans, N(mork_sans), mork_cases, N(mork_cases));
}

/* ---- real certificates ------------------------------------------------------ */

static EVP_PKEY *
test_key(void)
{
	static EVP_PKEY *key;

	if (key == NULL)
		key = EVP_EC_gen("P-256");
	assert_non_null(key);
	return key;
}

/* A self-signed certificate with subject CN=cn and these dNSName SANs
 * (nsans 0: no SAN extension at all). */
static X509 *
make_cert(const char *cn, const char *const *sans, size_t nsans)
{
	X509 *x = X509_new();
	X509_NAME *name;
	size_t i;

	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, test_key());
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, name);
	if (nsans > 0) {
		GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();

		for (i = 0; i < nsans; i++) {
			GENERAL_NAME *g = GENERAL_NAME_new();
			ASN1_IA5STRING *s = ASN1_IA5STRING_new();

			ASN1_STRING_set(s, sans[i], (int)strlen(sans[i]));
			GENERAL_NAME_set0_value(g, GEN_DNS, s);
			sk_GENERAL_NAME_push(gens, g);
		}
		X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, 0);
		GENERAL_NAMES_free(gens);
	}
	assert_true(X509_sign(x, test_key(), EVP_sha256()) > 0);
	return x;
}

static void
run_cert(X509 *x, const struct cert_case *c, size_t nc)
{
	size_t i;

	for (i = 0; i < nc; i++) {
		int ours = sts_cert_match_x509(x, c[i].host);
		int ossl = sts_cert_match_x509_openssl(x, c[i].host);

		if (ours != c[i].want || ossl != c[i].want)
			fail_msg("cert: host %s want %d ours %d openssl %d",
			    c[i].host, c[i].want, ours, ossl);
	}
}

static void
test_seed000_certs(void **state)
{
	X509 *x;

	(void)state;
	x = make_cert("mail.protection.outlook.com", microsoft_sans,
	    N(microsoft_sans));
	run_cert(x, microsoft_cases, N(microsoft_cases));
	X509_free(x);
	x = make_cert("01-mail.net", mail01_sans, N(mail01_sans));
	run_cert(x, mail01_cases, N(mail01_cases));
	X509_free(x);
	x = make_cert("mx.google.com", google_sans, N(google_sans));
	run_cert(x, google_cases, N(google_cases));
	X509_free(x);
	x = make_cert("canardo.mork.no", mork_sans, N(mork_sans));
	run_cert(x, mork_cases, N(mork_cases));
	X509_free(x);
}

static void
test_cn_ignored(void **state)
{
	static const char *const other[] = { "other.example.net" };
	X509 *x;

	(void)state;
	/* CN only, no SAN: never a match (RFC 8461 4.1 wants a SAN) */
	x = make_cert("mx.example.net", NULL, 0);
	assert_int_equal(sts_cert_match_x509(x, "mx.example.net"), 0);
	assert_int_equal(sts_cert_match_x509_openssl(x, "mx.example.net"), 0);
	X509_free(x);
	/* CN names the host, SAN does not: no match */
	x = make_cert("mx.example.net", other, 1);
	assert_int_equal(sts_cert_match_x509(x, "mx.example.net"), 0);
	assert_int_equal(sts_cert_match_x509_openssl(x, "mx.example.net"), 0);
	assert_int_equal(sts_cert_match_x509(x, "other.example.net"), 1);
	X509_free(x);
	assert_int_equal(sts_cert_match_x509(NULL, "a"), 0);
}

static void
test_embedded_nul(void **state)
{
	X509 *x = X509_new();
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	GENERAL_NAME *g = GENERAL_NAME_new();
	ASN1_IA5STRING *s = ASN1_IA5STRING_new();
	static const char evil[] = "mx.example.net\0.evil.test";

	(void)state;
	ASN1_STRING_set(s, evil, (int)sizeof(evil) - 1);
	GENERAL_NAME_set0_value(g, GEN_DNS, s);
	sk_GENERAL_NAME_push(gens, g);
	X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, 0);
	GENERAL_NAMES_free(gens);
	assert_int_equal(sts_cert_match_x509(x, "mx.example.net"), 0);
	assert_int_equal(sts_cert_match_x509_openssl(x, "mx.example.net"), 0);
	X509_free(x);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_table),
		cmocka_unit_test(test_seed000_lists),
		cmocka_unit_test(test_seed000_certs),
		cmocka_unit_test(test_cn_ignored),
		cmocka_unit_test(test_embedded_nul),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	EVP_PKEY_free(test_key());
	return rc;
}
