/*
 * test_tls_tlsrpt_mail.c - the TLS-RPT report message (tls/tlsrpt_mail.c,
 * RFC 8460 5.3) and its DKIM signature (tls/tlsrpt_dkim.c).
 *
 * The message is taken apart again here: CRLF only, line lengths, the
 * header fields (unfolded) with the exact Subject, the MIME tree, the
 * attachment's type and RFC 8460 5.1 filename, and its base64 decoded
 * back to the very gzip bytes.  Bad input (header injection through a
 * DNS-supplied address, odd dates) is refused.  DKIM: keys made here
 * with OpenSSL (RSA 2048), the message signed and verified
 * with libopendkim's verifier, the public key served from a key file
 * instead of DNS (DKIM_QUERY_FILE); a byte changed in the body or a
 * header changed must make verification fail.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <opendkim/dkim.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "tls/tlsrpt.h"
#include "util.h"

#define NOW	1714708800	/* 2024-05-03T04:00:00Z */

static const struct tlsrpt_mail_info base_info = {
	.policy_domain = "example.net",
	.submitter = "mail.sender.test",
	.from = "tlsrpt-noreply@sender.test",
	.to = "tls-reports@example.net",
	.report_id = "2024-05-01T00:00:00Z_example.net@mail.sender.test",
	.start = "2024-05-01T00:00:00Z",
	.end = "2024-05-01T23:59:59Z",
	.now = NOW,
};

/* A real gzip report, so the bytes look like what the sender passes. */
static unsigned char *
make_gz(size_t *len)
{
	json_t *j = json_pack("{s:s, s:[i,i,i,i,i,i,i,i]}", "organization-name",
	    "Sealpost Test", "pad", 1, 2, 3, 4, 5, 6, 7, 8);
	unsigned char *gz;
	size_t i;

	/* enough entropy for several base64 lines */
	for (i = 0; i < 40; i++) {
		char k[16], v[64];

		snprintf(k, sizeof(k), "k%zu", i);
		snprintf(v, sizeof(v), "%zx-%zx-%zx", i * 7919, i * i * 104729,
		    i ^ 0x5a5a);
		json_object_set_new(j, k, json_string(v));
	}
	assert_int_equal(tlsrpt_json_gzip(j, &gz, len), 0);
	json_decref(j);
	assert_true(*len > 300);
	return gz;
}

/* ---- taking a message apart ---------------------------------------------- */

/* Unfolded value of the first header field name in the header block. */
static char *
header_get(const char *msg, const char *name)
{
	const char *end = strstr(msg, "\r\n\r\n");
	const char *p = msg;
	size_t n = strlen(name);

	assert_non_null(end);
	while (p < end) {
		const char *eol = strstr(p, "\r\n");

		if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
			struct dynbuf b;
			const char *q = p + n + 1;

			dynbuf_init(&b, 1 << 20);
			for (;;) {
				eol = strstr(q, "\r\n");
				assert_int_equal(dynbuf_add(&b, q,
				    (size_t)(eol - q)), 0);
				if (eol[2] != ' ' && eol[2] != '\t')
					break;
				q = eol + 2;
			}
			/* one leading space after the colon */
			if (b.p[0] == ' ')
				memmove(b.p, b.p + 1, b.len--);
			return b.p;
		}
		p = eol + 2;
	}
	return NULL;
}

/* CRLF only, 7bit, no line over max characters. */
static void
check_lines_max(const char *msg, size_t len, size_t max)
{
	size_t i, col = 0;

	assert_int_equal(strlen(msg), len);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)msg[i];

		assert_true(c < 0x80);			/* 7bit */
		if (c == '\r') {
			assert_true(i + 1 < len && msg[i + 1] == '\n');
			continue;
		}
		if (c == '\n') {
			assert_true(i > 0 && msg[i - 1] == '\r');	/* CRLF */
			col = 0;
			continue;
		}
		col++;
		assert_true(col <= max);
	}
	assert_true(len >= 2 && msg[len - 2] == '\r' && msg[len - 1] == '\n');
}

static void
check_lines(const char *msg, size_t len)
{
	check_lines_max(msg, len, 78);
}

static int
b64val(int c)
{
	const char *a =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = c ? strchr(a, c) : NULL;

	return p ? (int)(p - a) : -1;
}

/* Decode the base64 lines from p up to the next blank line. */
static unsigned char *
b64_decode_part(const char *p, size_t *outlen)
{
	unsigned char *out = malloc(strlen(p));
	unsigned acc = 0;
	int bits = 0;
	size_t n = 0;

	while (*p && !(p[0] == '\r' && p[1] == '\n' && p[2] == '\r')) {
		if (*p == '\r' && p[1] == '\n') {
			p += 2;
			if (*p == '-')
				break;
			continue;
		}
		if (*p == '=') {
			p++;
			continue;
		}
		assert_true(b64val(*p) >= 0);
		acc = (acc << 6) | (unsigned)b64val(*p++);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	*outlen = n;
	return out;
}

static char *
build(const struct tlsrpt_mail_info *mi, const unsigned char *gz,
    size_t gzlen, size_t *len)
{
	char err[256] = "", *msg = NULL;

	if (tlsrpt_mail_build(mi, gz, gzlen, &msg, len, err, sizeof(err)) < 0)
		fail_msg("build: %s", err);
	return msg;
}

/* ---- the message ---------------------------------------------------------- */

static void
test_structure(void **state)
{
	size_t gzlen, len, declen;
	unsigned char *gz = make_gz(&gzlen), *dec;
	char *msg, *v, *boundary, *delim, *p, *part2;
	(void)state;

	msg = build(&base_info, gz, gzlen, &len);
	check_lines(msg, len);
	assert_null(header_get(msg, "DKIM-Signature"));	/* no key */

	/* RFC 8460 5.3 header fields */
	v = header_get(msg, "Subject");
	assert_string_equal(v, "Report Domain: example.net Submitter: "
	    "mail.sender.test Report-ID: "
	    "<2024-05-01T00:00:00Z_example.net@mail.sender.test>");
	free(v);
	v = header_get(msg, "TLS-Report-Domain");
	assert_string_equal(v, "example.net");
	free(v);
	v = header_get(msg, "TLS-Report-Submitter");
	assert_string_equal(v, "mail.sender.test");
	free(v);
	v = header_get(msg, "TLS-Required");
	assert_string_equal(v, "No");
	free(v);
	v = header_get(msg, "MIME-Version");
	assert_string_equal(v, "1.0");
	free(v);
	v = header_get(msg, "From");
	assert_string_equal(v, "tlsrpt-noreply@sender.test");
	free(v);
	v = header_get(msg, "To");
	assert_string_equal(v, "tls-reports@example.net");
	free(v);
	v = header_get(msg, "Date");
	assert_non_null(v);
	assert_non_null(strstr(v, " 2024 "));
	free(v);
	v = header_get(msg, "Message-ID");
	assert_true(v[0] == '<' && v[strlen(v) - 1] == '>');
	assert_non_null(strstr(v, "@mail.sender.test>"));
	free(v);

	/* multipart/report; report-type="tlsrpt" */
	v = header_get(msg, "Content-Type");
	assert_true(strncmp(v, "multipart/report; report-type=\"tlsrpt\"; "
	    "boundary=\"", 50) == 0);
	p = strstr(v, "boundary=\"") + 10;
	boundary = strndup(p, strcspn(p, "\""));
	free(v);
	delim = xasprintf("\r\n--%s\r\n", boundary);

	/* first part: text/plain for people */
	p = strstr(msg, delim);
	assert_non_null(p);
	p += strlen(delim);
	assert_true(strncmp(p, "Content-Type: text/plain", 24) == 0);
	assert_non_null(strstr(p, "Policy domain: example.net"));

	/* second part: the report */
	part2 = strstr(p, delim);
	assert_non_null(part2);
	part2 += strlen(delim);
	v = header_get(part2, "Content-Type");
	assert_string_equal(v, "application/tlsrpt+gzip");
	free(v);
	v = header_get(part2, "Content-Transfer-Encoding");
	assert_string_equal(v, "base64");
	free(v);
	v = header_get(part2, "Content-Disposition");
	/* 2024-05-01T00:00:00Z = 1714521600, 23:59:59Z = 1714607999 */
	assert_string_equal(v, "attachment; filename=\"mail.sender.test!"
	    "example.net!1714521600!1714607999.json.gz\"");
	free(v);

	/* base64 at 76 per line, back to the same gzip bytes */
	p = strstr(part2, "\r\n\r\n") + 4;
	assert_int_equal(strcspn(p, "\r"), 76);
	dec = b64_decode_part(p, &declen);
	assert_int_equal(declen, gzlen);
	assert_memory_equal(dec, gz, gzlen);
	free(dec);

	/* closing delimiter ends the message */
	free(delim);
	delim = xasprintf("\r\n--%s--\r\n", boundary);
	assert_true(len > strlen(delim));
	assert_string_equal(msg + len - strlen(delim), delim);
	free(delim);
	free(boundary);
	free(msg);
	free(gz);
}

static void
test_long_names_fold(void **state)
{
	char dom[200];
	struct tlsrpt_mail_info mi = base_info;
	size_t gzlen, len;
	unsigned char *gz = make_gz(&gzlen);
	char *msg, *v, *want;
	(void)state;

	/* 63-character labels: the Subject must fold, unfold exactly */
	memset(dom, 'a', sizeof(dom));
	memcpy(dom + 63, ".", 1);
	memcpy(dom + 64 + 60, ".test", 6);
	mi.policy_domain = dom;
	msg = build(&mi, gz, gzlen, &len);
	/* only a name longer than a line may make one longer */
	check_lines_max(msg, len, 78 + strlen(dom));
	assert_non_null(strstr(msg, "\r\nSubject: Report Domain:\r\n "));
	v = header_get(msg, "Subject");
	want = xasprintf("Report Domain: %s Submitter: mail.sender.test "
	    "Report-ID: <2024-05-01T00:00:00Z_example.net@mail.sender.test>",
	    dom);
	assert_string_equal(v, want);
	free(want);
	free(v);
	free(msg);
	free(gz);
}

struct bad_case {
	const char *field;	/* which input is replaced */
	const char *value;
};

static const struct bad_case bad_cases[] = {
	{ "to", "a@example.net\r\nBcc: victim@example.org" },
	{ "to", "a@example.net>, <b@example.org" },
	{ "to", "no-at-sign" },
	{ "to", "a@" },
	{ "to", "a@bad domain" },
	{ "to", "" },
	{ "to", NULL },
	{ "from", "x@y.test\n" },
	{ "policy_domain", "example.net\r\nX: y" },
	{ "policy_domain", "ex ample.net" },
	{ "policy_domain", "exämple.net" },
	{ "submitter", "" },
	{ "report_id", "id>\r\nX-Evil: 1" },
	{ "report_id", "a b" },
	{ "start", "2024-05-01" },
	{ "start", "2024-02-30T00:00:00Z" },
	{ "end", "2024-05-01T24:00:00Z" },
	{ "end", "2024-05-01T23:59:59+01:00" },
};

static void
test_refused(void **state)
{
	size_t gzlen, len, i;
	unsigned char *gz = make_gz(&gzlen);
	char err[256], *msg;
	(void)state;

	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		struct tlsrpt_mail_info mi = base_info;
		const struct bad_case *c = &bad_cases[i];

		if (strcmp(c->field, "to") == 0)
			mi.to = c->value;
		else if (strcmp(c->field, "from") == 0)
			mi.from = c->value;
		else if (strcmp(c->field, "policy_domain") == 0)
			mi.policy_domain = c->value;
		else if (strcmp(c->field, "submitter") == 0)
			mi.submitter = c->value;
		else if (strcmp(c->field, "report_id") == 0)
			mi.report_id = c->value;
		else if (strcmp(c->field, "start") == 0)
			mi.start = c->value;
		else
			mi.end = c->value;
		msg = (char *)1;
		err[0] = '\0';
		if (tlsrpt_mail_build(&mi, gz, gzlen, &msg, &len, err,
		    sizeof(err)) != -1)
			fail_msg("case %zu (%s) accepted", i, c->field);
		assert_null(msg);
		assert_true(err[0] != '\0');
	}
	/* no report, no message */
	msg = (char *)1;
	assert_int_equal(tlsrpt_mail_build(&base_info, gz, 0, &msg, &len, err,
	    sizeof(err)), -1);
	assert_null(msg);
	free(gz);
}

/* ---- DKIM ----------------------------------------------------------------- */

struct keyfile {
	char dir[64];
	char path[128];
};

/* "s1._domainkey.sender.test v=DKIM1;k=...;p=..." for the verifier. */
static void
keyfile_write(struct keyfile *kf, EVP_PKEY *k, const char *selector,
    const char *domain)
{
	unsigned char *der = NULL;
	char b64[4096];
	int n, dlen;
	FILE *f;

	snprintf(kf->dir, sizeof(kf->dir), "/tmp/tlsrpt-dkim-XXXXXX");
	assert_non_null(mkdtemp(kf->dir));
	snprintf(kf->path, sizeof(kf->path), "%s/keys", kf->dir);
	dlen = i2d_PUBKEY(k, &der);
	assert_true(dlen > 0);
	n = EVP_EncodeBlock((unsigned char *)b64, der, dlen);
	OPENSSL_free(der);
	assert_true(n > 0);
	f = fopen(kf->path, "w");
	assert_non_null(f);
	fprintf(f, "%s._domainkey.%s v=DKIM1;k=rsa;p=%s\n", selector, domain,
	    b64);
	fclose(f);
}

static void
keyfile_remove(struct keyfile *kf)
{
	unlink(kf->path);
	rmdir(kf->dir);
}

/* libopendkim's verdict on msg: DKIM_STAT_OK only for a good signature
 * whose body hash matches. */
static DKIM_STAT
verify(const struct keyfile *kf, const char *msg, size_t len)
{
	DKIM_LIB *lib = dkim_init(NULL, NULL);
	dkim_query_t q = DKIM_QUERY_FILE;
	DKIM_STAT st;
	DKIM_SIGINFO *sig;
	DKIM *d;

	assert_non_null(lib);
	assert_int_equal(dkim_options(lib, DKIM_OP_SETOPT,
	    DKIM_OPTS_QUERYMETHOD, &q, sizeof(q)), DKIM_STAT_OK);
	assert_int_equal(dkim_options(lib, DKIM_OP_SETOPT,
	    DKIM_OPTS_QUERYINFO, (void *)kf->path, strlen(kf->path)),
	    DKIM_STAT_OK);
	d = dkim_verify(lib, (const unsigned char *)"test", NULL, &st);
	assert_non_null(d);
	st = dkim_chunk(d, (unsigned char *)msg, len);
	if (st == DKIM_STAT_OK)
		st = dkim_chunk(d, NULL, 0);
	if (st == DKIM_STAT_OK)
		st = dkim_eom(d, NULL);
	sig = dkim_getsignature(d);
	if (st == DKIM_STAT_OK && (sig == NULL || !DKIM_SIG_CHECK(sig)))
		st = DKIM_STAT_BADSIG;
	dkim_free(d);
	dkim_close(lib);
	return st;
}

static void
dkim_case(EVP_PKEY *key, const char *algo)
{
	struct tlsrpt_mail_info mi = base_info;
	struct keyfile kf;
	size_t gzlen, len;
	unsigned char *gz = make_gz(&gzlen);
	char *msg, *v, *p, *want;

	mi.dkim_domain = "sender.test";
	mi.dkim_selector = "s1";
	mi.dkim_key = key;
	keyfile_write(&kf, key, "s1", "sender.test");
	msg = build(&mi, gz, gzlen, &len);
	check_lines(msg, len);
	assert_true(strncmp(msg, "DKIM-Signature: ", 16) == 0);
	v = header_get(msg, "DKIM-Signature");
	want = xasprintf("a=%s;", algo);
	assert_non_null(strstr(v, want));
	free(want);
	assert_non_null(strstr(v, "c=relaxed/relaxed;"));
	assert_non_null(strstr(v, "d=sender.test;"));
	assert_non_null(strstr(v, "s=s1;"));
	/* the contract's header list is covered (h=, not bh=) */
	p = strstr(v, "\th=");
	assert_non_null(p);
	for (p++; *p != ';' && *p != '\0'; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
	p = strstr(v, "\th=");
	assert_non_null(strstr(p, "from"));
	assert_non_null(strstr(p, "subject"));
	assert_non_null(strstr(p, "tls-report-domain"));
	assert_non_null(strstr(p, "tls-report-submitter"));
	assert_non_null(strstr(p, "message-id"));
	assert_non_null(strstr(p, "content-type"));
	free(v);

	assert_int_equal(verify(&kf, msg, len), DKIM_STAT_OK);

	/* one byte of the body changed: the body hash no longer matches */
	p = strstr(msg, "Policy domain: example.net");
	assert_non_null(p);
	p[15] = 'E';
	assert_int_not_equal(verify(&kf, msg, len), DKIM_STAT_OK);
	p[15] = 'e';
	assert_int_equal(verify(&kf, msg, len), DKIM_STAT_OK);
	/* a signed header changed */
	p = strstr(msg, "\r\nTLS-Report-Domain: example.net");
	assert_non_null(p);
	p[21] = 'X';
	assert_int_not_equal(verify(&kf, msg, len), DKIM_STAT_OK);
	p[21] = 'e';

	keyfile_remove(&kf);
	free(msg);
	free(gz);
}

static void
test_dkim_rsa(void **state)
{
	EVP_PKEY *k = EVP_RSA_gen(2048);
	(void)state;

	assert_non_null(k);
	dkim_case(k, "rsa-sha256");
	EVP_PKEY_free(k);
}

/* Ed25519 is refused (libopendkim 2.11 leaks its keys), cleanly. */
static void
test_dkim_ed25519_refused(void **state)
{
	struct tlsrpt_mail_info mi = base_info;
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	size_t gzlen, len;
	unsigned char *gz = make_gz(&gzlen);
	char err[256] = "", *msg = NULL;
	(void)state;

	assert_non_null(k);
	mi.dkim_selector = "s1";
	mi.dkim_key = k;
	assert_int_equal(tlsrpt_mail_build(&mi, gz, gzlen, &msg, &len, err,
	    sizeof(err)), -1);
	assert_null(msg);
	assert_non_null(strstr(err, "Ed25519"));
	EVP_PKEY_free(k);
	free(gz);
}

static void
test_key_load(void **state)
{
	char dir[64] = "/tmp/tlsrpt-key-XXXXXX", path[128], err[256];
	EVP_PKEY *k, *small, *got;
	FILE *f;
	(void)state;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/key.pem", dir);
	k = EVP_RSA_gen(1024);
	f = fopen(path, "w");
	assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL,
	    NULL), 1);
	fclose(f);
	got = tlsrpt_dkim_key_load(path, err, sizeof(err));
	assert_non_null(got);
	assert_int_equal(EVP_PKEY_eq(got, k), 1);
	EVP_PKEY_free(got);
	EVP_PKEY_free(k);

	/* Ed25519: refused with the reason */
	k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	f = fopen(path, "w");
	assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL,
	    NULL), 1);
	fclose(f);
	assert_null(tlsrpt_dkim_key_load(path, err, sizeof(err)));
	assert_non_null(strstr(err, "Ed25519"));
	EVP_PKEY_free(k);

	/* RSA under 1024 bits: refused (RFC 8301) */
	small = EVP_RSA_gen(768);
	assert_non_null(small);
	f = fopen(path, "w");
	assert_int_equal(PEM_write_PrivateKey(f, small, NULL, NULL, 0, NULL,
	    NULL), 1);
	fclose(f);
	assert_null(tlsrpt_dkim_key_load(path, err, sizeof(err)));
	assert_non_null(strstr(err, "too small"));
	EVP_PKEY_free(small);

	/* not a key; no file */
	f = fopen(path, "w");
	fputs("hello\n", f);
	fclose(f);
	assert_null(tlsrpt_dkim_key_load(path, err, sizeof(err)));
	unlink(path);
	assert_null(tlsrpt_dkim_key_load(path, err, sizeof(err)));
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_structure),
		cmocka_unit_test(test_long_names_fold),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_dkim_rsa),
		cmocka_unit_test(test_dkim_ed25519_refused),
		cmocka_unit_test(test_key_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
