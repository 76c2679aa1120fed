/*
 * test_mta_sts.c - MTA-STS enforcement in the delivery agent, the parts
 * that need no network: which hosts MTA-STS applies to (DANE precedence,
 * tls_policy entries, relay), the tls= field, fetch failure classes for
 * TLS-RPT, policy equality for connection reuse, and real in-memory TLS
 * handshakes (tls_io client against tls_io) under the enforce and
 * testing policies: SAN dNSName only, one-label wildcards, several
 * wildcard SANs (seed 000), expired and untrusted certificates.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "mta/mta_int.h"

/* ---- which hosts ------------------------------------------------------- */

static void
test_wanted(void **state)
{
	static const struct {
		const char *what;
		int mta_sts, relay, entry;
		enum cfg_tls_level want;
		enum tls_level level;
		int expect;
	} t[] = {
		{ "default dane, no TLSA", 1, 0, 0, CFG_TLS_DANE,
		  TLS_LEVEL_MAY, 1 },
		{ "unusable TLSA (encrypt)", 1, 0, 0, CFG_TLS_DANE,
		  TLS_LEVEL_ENCRYPT, 1 },
		{ "usable TLSA: DANE decides", 1, 0, 0, CFG_TLS_DANE,
		  TLS_LEVEL_DANE, 0 },
		{ "dane = no", 1, 0, 0, CFG_TLS_MAY, TLS_LEVEL_MAY, 1 },
		{ "mta_sts = no", 0, 0, 0, CFG_TLS_DANE, TLS_LEVEL_MAY, 0 },
		{ "relayhost", 1, 1, 0, CFG_TLS_DANE, TLS_LEVEL_MAY, 0 },
		{ "tls_policy entry wins", 1, 0, 1, CFG_TLS_ENCRYPT,
		  TLS_LEVEL_ENCRYPT, 0 },
	};
	struct sealpost_config cfg;
	struct cfg_tls_policy entry;
	struct mta_thread th;
	struct mta_dest d;
	struct mta_session s;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		memset(&cfg, 0, sizeof(cfg));
		memset(&entry, 0, sizeof(entry));
		memset(&th, 0, sizeof(th));
		memset(&d, 0, sizeof(d));
		memset(&s, 0, sizeof(s));
		cfg.mta_sts = t[i].mta_sts;
		th.cfg = &cfg;
		d.relay = t[i].relay;
		s.th = &th;
		s.dest = &d;
		s.tls_want = t[i].want;
		s.tls_entry = t[i].entry ? &entry : NULL;
		tls_policy_init(&s.policy, t[i].level);
		if (mta_sts_wanted(&s) != t[i].expect)
			fail_msg("%s: wanted %d", t[i].what, t[i].expect);
	}
}

/* ---- the tls= field ----------------------------------------------------- */

static void
test_field(void **state)
{
	struct mta_session s;

	(void)state;
	memset(&s, 0, sizeof(s));
	snprintf(s.tls, sizeof(s.tls), "TLSv1.3 X verify=ok dane=none "
	    "(insecure) sni=mx.example.net");
	snprintf(s.sts_verdict, sizeof(s.sts_verdict),
	    "enforce verified (policy id 20240101)");
	mta_sts_field(&s);
	assert_string_equal(s.tls, "TLSv1.3 X verify=ok dane=none (insecure) "
	    "sts=enforce verified (policy id 20240101) sni=mx.example.net");

	snprintf(s.tls, sizeof(s.tls), "none dane=none (no TLSA)");
	snprintf(s.sts_verdict, sizeof(s.sts_verdict),
	    "enforce failed (starttls-not-supported)");
	mta_sts_field(&s);
	assert_string_equal(s.tls, "none dane=none (no TLSA) sts=enforce "
	    "failed (starttls-not-supported)");

	snprintf(s.tls, sizeof(s.tls), "none");
	s.sts_verdict[0] = '\0';
	mta_sts_field(&s);
	assert_string_equal(s.tls, "none");
}

static void
test_fetch_types(void **state)
{
	(void)state;
	assert_int_equal(mta_sts_fetch_report_type(STS_FAIL_FETCH),
	    TLS_REPORT_STS_POLICY_FETCH_ERROR);
	assert_int_equal(mta_sts_fetch_report_type(STS_FAIL_WEBPKI),
	    TLS_REPORT_STS_WEBPKI_INVALID);
	assert_int_equal(mta_sts_fetch_report_type(STS_FAIL_INVALID),
	    TLS_REPORT_STS_POLICY_INVALID);
}

/* ---- the address limit under enforce ------------------------------------ */

/*
 * Walk a route as the session does under an enforce policy: a host
 * outside the mx patterns is dropped (mta_sts_skip_host), any other
 * address is "tried".  Returns the addresses tried, names in tried[].
 */
static size_t
walk_enforce(struct mta_route *rt, const struct sts_policy *p,
    char tried[][RES_NAME_MAX], size_t max)
{
	size_t pos = 0, n = 0;

	while (pos < rt->n && n < MTA_ADDRESS_LIMIT) {
		if (!sts_policy_mx_match(p, rt->e[pos].host)) {
			assert_true(mta_route_drop_host(rt, pos) > 0);
			continue;
		}
		if (n < max)
			snprintf(tried[n], RES_NAME_MAX, "%s", rt->e[pos].host);
		n++;
		pos++;
	}
	return n;
}

static void
add_host(struct res_mx_result *res, const char *name, size_t naddr,
    unsigned net)
{
	struct res_mx_host *h = &res->hosts[res->nhosts++];
	size_t i;

	snprintf(h->name, sizeof(h->name), "%s", name);
	h->rcode = RES_OK;
	h->naddr = naddr;
	for (i = 0; i < naddr; i++) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&h->addr[i];

		sin->sin_family = AF_INET;
		sin->sin_port = htons(25);
		sin->sin_addr.s_addr = htonl((192u << 24) | (net << 8) |
		    (unsigned)(i + 1));
	}
}

static void
test_route_limit_enforce(void **state)
{
	static const char body[] = "version: STSv1\nmode: enforce\n"
	    "mx: good.example\nmx: *.ok.example\nmax_age: 86400\n";
	struct res_mx_result *res = calloc(1, sizeof(*res));
	struct mta_route *rt = calloc(1, sizeof(*rt));
	char tried[MTA_ADDRESS_LIMIT][RES_NAME_MAX], name[64];
	struct sts_policy *p;
	size_t i, n;

	(void)state;
	assert_int_equal(sts_policy_parse(body, sizeof(body) - 1, &p, NULL,
	    0), 0);

	/* eight hosts outside the policy, two addresses each, ahead of
	 * the two that match: 16 addresses before the first candidate */
	res->rcode = RES_OK;
	for (i = 0; i < 8; i++) {
		snprintf(name, sizeof(name), "bad%zu.example", i);
		add_host(res, name, 2, (unsigned)i);
	}
	add_host(res, "good.example", 1, 100);
	add_host(res, "mx.ok.example", 3, 101);
	mta_route_build(res, MTA_ADDRESS_LIMIT, rt);
	assert_int_equal(rt->n, MTA_ADDRESS_LIMIT);
	assert_int_equal(rt->nall, 20);
	n = walk_enforce(rt, p, tried, MTA_ADDRESS_LIMIT);
	/* every candidate address, up to the limit, and nothing else */
	assert_int_equal(n, 4);
	assert_string_equal(tried[0], "good.example");
	for (i = 1; i < 4; i++)
		assert_string_equal(tried[i], "mx.ok.example");

	/* the limit still holds for candidates: 3 hosts x 3 matching */
	memset(res, 0, sizeof(*res));
	res->rcode = RES_OK;
	add_host(res, "bad.example", 4, 1);
	add_host(res, "a.ok.example", 3, 2);
	add_host(res, "b.ok.example", 3, 3);
	mta_route_build(res, MTA_ADDRESS_LIMIT, rt);
	n = walk_enforce(rt, p, tried, MTA_ADDRESS_LIMIT);
	assert_int_equal(n, MTA_ADDRESS_LIMIT);
	assert_string_equal(tried[0], "a.ok.example");
	assert_string_equal(tried[4], "b.ok.example");

	/* no host matches: the walk ends empty, nothing tried */
	memset(res, 0, sizeof(*res));
	res->rcode = RES_OK;
	add_host(res, "bad1.example", 1, 1);
	add_host(res, "bad2.example", 2, 2);
	mta_route_build(res, MTA_ADDRESS_LIMIT, rt);
	assert_int_equal(walk_enforce(rt, p, tried, MTA_ADDRESS_LIMIT), 0);
	assert_int_equal(rt->n, 0);
	assert_int_equal(rt->nall, 0);

	/* without dropping, the limit is the same as before */
	memset(res, 0, sizeof(*res));
	res->rcode = RES_OK;
	for (i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "h%zu.example", i);
		add_host(res, name, 2, (unsigned)i);
	}
	mta_route_build(res, MTA_ADDRESS_LIMIT, rt);
	assert_int_equal(rt->n, MTA_ADDRESS_LIMIT);
	assert_int_equal(rt->nall, MTA_ROUTE_MAX);
	assert_true(rt->nhosts <= MTA_ROUTE_MAX);
	assert_int_equal(mta_route_drop_host(rt, rt->nall), 0);

	sts_policy_free(p);
	free(rt);
	free(res);
}

/* Connection reuse compares the whole policy, MTA-STS included. */
static void
test_policy_equal(void **state)
{
	struct tls_policy a, b;

	(void)state;
	tls_policy_init(&a, TLS_LEVEL_MAY);
	tls_policy_init(&b, TLS_LEVEL_MAY);
	assert_int_equal(tls_policy_equal(&a, &b), 1);
	b.sts = TLS_STS_TESTING;
	assert_int_equal(tls_policy_equal(&a, &b), 0);
	tls_policy_init(&a, TLS_LEVEL_VERIFY);
	tls_policy_init(&b, TLS_LEVEL_VERIFY);
	(void)tls_policy_add_name(&a, "mx.example.net");
	(void)tls_policy_add_name(&b, "mx.example.net");
	a.sts = b.sts = TLS_STS_ENFORCE;
	snprintf(a.sts_id, sizeof(a.sts_id), "1");
	snprintf(b.sts_id, sizeof(b.sts_id), "2");
	assert_int_equal(tls_policy_equal(&a, &b), 0);
	snprintf(b.sts_id, sizeof(b.sts_id), "1");
	assert_int_equal(tls_policy_equal(&a, &b), 1);
}

/* ---- handshakes ----------------------------------------------------------- */

struct pki {
	EVP_PKEY *ca_key, *key;
	X509     *ca;
	char      dir[64], ca_file[96], cert_file[96], key_file[96];
};

static X509 *
make_cert(EVP_PKEY *key, EVP_PKEY *signer, X509 *issuer, const char *cn,
    const char *const *sans, long not_after_days, int ca)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	char buf[4096] = "";
	size_t i, off = 0;
	static long serial = 1;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), -86400L * 30);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400L * not_after_days);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	if (ca) {
		ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints,
		    "critical,CA:TRUE");
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
		ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_key_usage,
		    "critical,keyCertSign,cRLSign");
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	for (i = 0; sans && sans[i]; i++)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%sDNS:%s",
		    i ? "," : "", sans[i]);
	if (off > 0) {
		ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, buf);
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	X509_sign(x, signer, EVP_sha256());
	X509_NAME_free(n);
	return x;
}

static void
write_pem(const char *path, X509 *x, EVP_PKEY *k)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	if (x)
		PEM_write_X509(f, x);
	if (k)
		PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
	fclose(f);
}

static void
pki_init(struct pki *p)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->dir, sizeof(p->dir), "/tmp/test_mta_sts.XXXXXX");
	assert_non_null(mkdtemp(p->dir));
	snprintf(p->ca_file, sizeof(p->ca_file), "%s/ca.pem", p->dir);
	snprintf(p->cert_file, sizeof(p->cert_file), "%s/cert.pem", p->dir);
	snprintf(p->key_file, sizeof(p->key_file), "%s/key.pem", p->dir);
	p->ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	p->key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_non_null(p->ca_key);
	assert_non_null(p->key);
	p->ca = make_cert(p->ca_key, p->ca_key, NULL, "Test Root", NULL,
	    365, 1);
	write_pem(p->ca_file, p->ca, NULL);
	write_pem(p->key_file, NULL, p->key);
}

static void
pki_free(struct pki *p)
{
	unlink(p->ca_file);
	unlink(p->cert_file);
	unlink(p->key_file);
	rmdir(p->dir);
	X509_free(p->ca);
	EVP_PKEY_free(p->ca_key);
	EVP_PKEY_free(p->key);
}

/* Move bytes between the two engines until both are done or one fails.
 * Returns the client's verdict. */
static enum tls_hs
run_handshake(tls_io *c, tls_io *sv)
{
	char buf[16384];
	size_t n;
	int i;
	enum tls_hs hc = TLS_HS_WANT, hs = TLS_HS_WANT;

	for (i = 0; i < 50; i++) {
		if (hc == TLS_HS_WANT)
			hc = tls_io_handshake(c);
		while ((n = tls_io_take(c, buf, sizeof(buf))) > 0)
			(void)tls_io_feed(sv, buf, n);
		if (hs == TLS_HS_WANT)
			hs = tls_io_handshake(sv);
		while ((n = tls_io_take(sv, buf, sizeof(buf))) > 0)
			(void)tls_io_feed(c, buf, n);
		if (hc != TLS_HS_WANT && (hs != TLS_HS_WANT ||
		    hc == TLS_HS_ERROR))
			break;
	}
	return hc;
}

/* One handshake of a client under mode (enforce/testing) for host
 * against a server certificate; *ve gets the verify result. */
static enum tls_hs
sts_handshake(struct pki *p, enum tls_sts_mode mode, const char *host,
    const char *cn, const char *const *sans, long days, int trusted,
    long *ve)
{
	struct sealpost_config cfg;
	struct tls_policy pol;
	struct tls_peer_info info;
	EVP_PKEY *other_key = NULL;
	X509 *other_ca = NULL, *cert;
	SSL_CTX *cctx, *sctx;
	tls_io *c;
	tls_io *sv;
	char err[256];
	enum tls_hs hc;

	if (trusted)
		cert = make_cert(p->key, p->ca_key, p->ca, cn, sans, days, 0);
	else {
		other_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		other_ca = make_cert(other_key, other_key, NULL, "Other Root",
		    NULL, 365, 1);
		cert = make_cert(p->key, other_key, other_ca, cn, sans, days,
		    0);
	}
	write_pem(p->cert_file, cert, NULL);
	memset(&cfg, 0, sizeof(cfg));
	cfg.tls_ca_file = p->ca_file;
	cctx = tls_client_ctx_create(&cfg, err, sizeof(err));
	assert_non_null(cctx);
	sctx = tls_server_ctx_create(p->cert_file, p->key_file, err,
	    sizeof(err));
	if (sctx == NULL)
		fail_msg("server ctx: %s", err);
	tls_policy_init(&pol, mode == TLS_STS_ENFORCE ? TLS_LEVEL_VERIFY :
	    TLS_LEVEL_MAY);
	(void)tls_policy_add_name(&pol, host);
	(void)tls_policy_set_sni(&pol, host);
	pol.sts = mode;
	snprintf(pol.sts_id, sizeof(pol.sts_id), "20240101");
	c = tls_io_client_new(cctx, &pol, err, sizeof(err));
	assert_non_null(c);
	sv = tls_io_server_new(sctx, err, sizeof(err));
	assert_non_null(sv);
	hc = run_handshake(c, sv);
	tls_io_peer_info(c, &info);
	*ve = info.verify_error;
	tls_io_free(c);
	tls_io_free(sv);
	SSL_CTX_free(cctx);
	SSL_CTX_free(sctx);
	X509_free(cert);
	X509_free(other_ca);
	EVP_PKEY_free(other_key);
	return hc;
}

static void
test_handshakes(void **state)
{
	/* seed 000: Microsoft's wildcard list, abridged, and 01-mail.net */
	static const char *const outlook[] = {
		"*.mail.protection.outlook.com",
		"*.olc.protection.outlook.com",
		"*.mail.eo.outlook.com",
		"*.01-mail.net", "mail.protection.outlook.com", NULL };
	static const char *const mx[] = { "mx.example.net", NULL };
	static const char *const wild[] = { "*.example.net", NULL };
	static const char *const other[] = { "mx.example.org", NULL };
	static const char *const partial[] = { "mx*.example.net", NULL };
	static const struct {
		const char *what;
		enum tls_sts_mode mode;
		const char *host, *cn;
		const char *const *sans;
		long days;
		int trusted;
		enum tls_hs want;
		enum tls_report_type type;	/* when not verified */
	} t[] = {
		{ "enforce, SAN names the MX", TLS_STS_ENFORCE,
		  "mx.example.net", "x", mx, 30, 1, TLS_HS_DONE,
		  TLS_REPORT_SUCCESS },
		{ "enforce, seed 000 wildcards", TLS_STS_ENFORCE,
		  "hotmail-com.olc.protection.outlook.com", "x", outlook, 30,
		  1, TLS_HS_DONE, TLS_REPORT_SUCCESS },
		{ "enforce, seed 000 *.01-mail.net", TLS_STS_ENFORCE,
		  "mx1.01-mail.net", "x", outlook, 30, 1, TLS_HS_DONE,
		  TLS_REPORT_SUCCESS },
		{ "enforce, one-label wildcard", TLS_STS_ENFORCE,
		  "mx.example.net", "x", wild, 30, 1, TLS_HS_DONE,
		  TLS_REPORT_SUCCESS },
		{ "enforce, wildcard never two labels", TLS_STS_ENFORCE,
		  "a.mx.example.net", "x", wild, 30, 1, TLS_HS_ERROR,
		  TLS_REPORT_CERT_HOST_MISMATCH },
		{ "enforce, partial wildcard refused", TLS_STS_ENFORCE,
		  "mx1.example.net", "x", partial, 30, 1, TLS_HS_ERROR,
		  TLS_REPORT_CERT_HOST_MISMATCH },
		{ "enforce, CN only is not enough", TLS_STS_ENFORCE,
		  "mx.example.net", "mx.example.net", NULL, 30, 1,
		  TLS_HS_ERROR, TLS_REPORT_CERT_HOST_MISMATCH },
		{ "enforce, CN matches but SAN does not", TLS_STS_ENFORCE,
		  "mx.example.net", "mx.example.net", other, 30, 1,
		  TLS_HS_ERROR, TLS_REPORT_CERT_HOST_MISMATCH },
		{ "enforce, expired", TLS_STS_ENFORCE, "mx.example.net", "x",
		  mx, -1, 1, TLS_HS_ERROR, TLS_REPORT_CERT_EXPIRED },
		{ "enforce, untrusted", TLS_STS_ENFORCE, "mx.example.net", "x",
		  mx, 30, 0, TLS_HS_ERROR, TLS_REPORT_CERT_NOT_TRUSTED },
		{ "testing, mismatch: delivered, recorded", TLS_STS_TESTING,
		  "mx.example.net", "x", other, 30, 1, TLS_HS_DONE,
		  TLS_REPORT_CERT_HOST_MISMATCH },
		{ "testing, good", TLS_STS_TESTING, "mx.example.net", "x", mx,
		  30, 1, TLS_HS_DONE, TLS_REPORT_SUCCESS },
		{ "testing, untrusted: delivered, recorded", TLS_STS_TESTING,
		  "mx.example.net", "x", mx, 30, 0, TLS_HS_DONE,
		  TLS_REPORT_CERT_NOT_TRUSTED },
	};
	struct pki p;
	enum tls_hs hc;
	enum tls_report_type got;
	long ve;
	size_t i;

	(void)state;
	tls_init();
	pki_init(&p);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		hc = sts_handshake(&p, t[i].mode, t[i].host, t[i].cn,
		    t[i].sans, t[i].days, t[i].trusted, &ve);
		got = ve == X509_V_OK ? TLS_REPORT_SUCCESS :
		    mta_report_type_for_verify(ve);
		if (hc != t[i].want || got != t[i].type)
			fail_msg("%s: handshake %d (want %d), %s (want %s)",
			    t[i].what, hc, t[i].want, tls_report_type_name(got),
			    tls_report_type_name(t[i].type));
	}
	pki_free(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wanted),
		cmocka_unit_test(test_field),
		cmocka_unit_test(test_fetch_types),
		cmocka_unit_test(test_policy_equal),
		cmocka_unit_test(test_route_limit_enforce),
		cmocka_unit_test(test_handshakes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
