/*
 * tlsrpt_dkim.c - DKIM signatures (RFC 6376) for TLS-RPT report mail.
 *
 * RFC 8460 5.3 asks report mail to be DKIM-signed by the submitter so a
 * receiver can tell real reports from forged ones.  The signing itself
 * is libopendkim's (Debian's libopendkim, the library behind the
 * opendkim milter; docs/dependencies.md says why not our own): the
 * canonicalisation rules are where home-grown DKIM code goes wrong.
 * This file only loads the key, hands libopendkim a finished message
 * and returns the "DKIM-Signature:" field to put in front of it.
 *
 * Algorithm: rsa-sha256, RSA keys of at least 1024 bits (RFC 8301 3.2),
 * relaxed/relaxed.  XXX: no ed25519-sha256 (RFC 8463) although
 * libopendkim 2.11 can sign with it: its dkim_free() does not free the
 * Ed25519 key and output buffer (about 1.3 KB per signature, found by
 * LeakSanitizer), which a daemon that signs every day must not carry.
 * Ed25519 keys are refused with that reason until the library is fixed.
 * The key goes to libopendkim as PEM text in memory (its interface
 * takes a NUL-terminated key); the copy is wiped after use.
 *
 * Threads: every call makes its own DKIM_LIB, so any thread may sign.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <opendkim/dkim.h>

#include "tlsrpt.h"
#include "util.h"

#define TLSRPT_DKIM_RSA_MIN	1024	/* bits, RFC 8301 3.2 */
#define TLSRPT_DKIM_KEYFILE_MAX	(64 * 1024)	/* a PEM key file */
#define TLSRPT_DKIM_SIG_MAX	(16 * 1024)	/* the signature field */
#define TLSRPT_DKIM_INITIAL	16	/* strlen("DKIM-Signature: ") */

/* Header fields the signature covers (contract 3 and RFC 8460 5.3). */
static const char *const tlsrpt_dkim_headers[] = {
	"from", "to", "subject", "date", "message-id", "mime-version",
	"content-type", "tls-report-domain", "tls-report-submitter",
	"tls-required", NULL
};

static int
key_check(EVP_PKEY *k, char *err, size_t errlen)
{
	switch (EVP_PKEY_base_id(k)) {
	case EVP_PKEY_RSA:
		if (EVP_PKEY_bits(k) < TLSRPT_DKIM_RSA_MIN) {
			snprintf(err, errlen, "RSA key of %d bits is too small "
			    "(at least %d)", EVP_PKEY_bits(k),
			    TLSRPT_DKIM_RSA_MIN);
			return -1;
		}
		return 0;
	case EVP_PKEY_ED25519:
		snprintf(err, errlen, "Ed25519 DKIM keys are not supported "
		    "yet (libopendkim leaks them); use RSA");
		return -1;
	default:
		snprintf(err, errlen, "DKIM key is not RSA");
		return -1;
	}
}

EVP_PKEY *
tlsrpt_dkim_key_load(const char *path, char *err, size_t errlen)
{
	EVP_PKEY *k;
	FILE *f;

	f = fopen(path, "r");
	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (k == NULL) {
		ERR_clear_error();
		snprintf(err, errlen, "%s: not a PEM private key", path);
		return NULL;
	}
	if (key_check(k, err, errlen) < 0) {
		EVP_PKEY_free(k);
		return NULL;
	}
	return k;
}

/* The key as NUL-terminated PEM, for dkim_sign(); wipe and free it. */
static char *
key_pem(EVP_PKEY *k, size_t *len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *out = NULL;
	long n;

	if (bio == NULL)
		return NULL;
	if (PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL) == 1) {
		n = BIO_get_mem_data(bio, &data);
		if (n > 0 && n < TLSRPT_DKIM_KEYFILE_MAX) {
			out = xmalloc((size_t)n + 1);
			memcpy(out, data, (size_t)n);
			out[n] = '\0';
			*len = (size_t)n;
		}
	}
	/* BIO_free_all does not wipe the mem BIO's buffer */
	n = BIO_get_mem_data(bio, &data);
	if (n > 0)
		OPENSSL_cleanse(data, (size_t)n);
	BIO_free_all(bio);
	ERR_clear_error();
	return out;
}

/* libopendkim folds with bare LF; a message is CRLF throughout. */
static int
sig_field(const unsigned char *v, size_t vlen, char **out, size_t *outlen)
{
	struct dynbuf b;
	size_t i;

	dynbuf_init(&b, TLSRPT_DKIM_SIG_MAX);
	if (dynbuf_addstr(&b, "DKIM-Signature: ") < 0)
		return -1;
	for (i = 0; i < vlen; i++) {
		int rc;

		if (v[i] == '\r')
			continue;
		rc = v[i] == '\n' ? dynbuf_add(&b, "\r\n", 2) :
		    dynbuf_add(&b, &v[i], 1);
		if (rc < 0) {
			dynbuf_free(&b);
			return -1;
		}
	}
	if (dynbuf_add(&b, "\r\n", 2) < 0) {
		dynbuf_free(&b);
		return -1;
	}
	*out = dynbuf_take(&b, outlen);
	return 0;
}

int
tlsrpt_dkim_sign(const char *msg, size_t len, const char *domain,
    const char *selector, EVP_PKEY *key, char **sig, size_t *siglen,
    char *err, size_t errlen)
{
	DKIM_LIB *lib;
	DKIM *dkim = NULL;
	DKIM_STAT st = DKIM_STAT_INTERNAL;
	unsigned char *v = NULL;
	size_t vlen = 0, pemlen = 0;
	char *pem;
	dkim_alg_t alg;
	int rc = -1;

	*sig = NULL;
	*siglen = 0;
	if (key_check(key, err, errlen) < 0)
		return -1;
	alg = DKIM_SIGN_RSASHA256;
	pem = key_pem(key, &pemlen);
	if (pem == NULL) {
		snprintf(err, errlen, "DKIM: cannot serialise the key");
		return -1;
	}
	lib = dkim_init(NULL, NULL);
	if (lib == NULL) {
		snprintf(err, errlen, "DKIM: dkim_init failed");
		goto out;
	}
	dkim = dkim_sign(lib, (const unsigned char *)"tlsrpt", NULL,
	    (dkim_sigkey_t)pem, (const unsigned char *)selector,
	    (const unsigned char *)domain, DKIM_CANON_RELAXED,
	    DKIM_CANON_RELAXED, alg, -1, &st);
	if (dkim == NULL)
		goto fail;
	st = dkim_signhdrs(dkim, (const char **)tlsrpt_dkim_headers);
	if (st != DKIM_STAT_OK)
		goto fail;
	st = dkim_chunk(dkim, (unsigned char *)msg, len);
	if (st != DKIM_STAT_OK)
		goto fail;
	st = dkim_chunk(dkim, NULL, 0);
	if (st != DKIM_STAT_OK)
		goto fail;
	st = dkim_eom(dkim, NULL);
	if (st != DKIM_STAT_OK)
		goto fail;
	st = dkim_getsighdr_d(dkim, TLSRPT_DKIM_INITIAL, &v, &vlen);
	if (st != DKIM_STAT_OK)
		goto fail;
	if (sig_field(v, vlen, sig, siglen) < 0) {
		snprintf(err, errlen, "DKIM: signature field too long");
		goto out;
	}
	rc = 0;
	goto out;
fail:
	snprintf(err, errlen, "DKIM: %s%s%s", dkim_getresultstr(st),
	    dkim != NULL && dkim_geterror(dkim) != NULL ? ": " : "",
	    dkim != NULL && dkim_geterror(dkim) != NULL ?
	    dkim_geterror(dkim) : "");
out:
	if (dkim != NULL)
		dkim_free(dkim);	/* frees v too */
	if (lib != NULL)
		dkim_close(lib);
	OPENSSL_cleanse(pem, pemlen);
	free(pem);
	return rc;
}
