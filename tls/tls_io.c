/*
 * tls_io.c - a TLS connection driven through memory BIOs.
 *
 * The SSL object reads ciphertext from rbio (filled by tls_io_feed) and
 * writes ciphertext to wbio (drained by tls_io_take).  Nothing here
 * blocks or touches a file descriptor, so the owner's event loop stays in
 * charge of the socket, timeouts and back-pressure.
 *
 * The policy is applied when the engine is made: SNI, protocol floor,
 * and for TLS_LEVEL_VERIFY chain verification plus the acceptable names
 * (X509_VERIFY_PARAM host/IP checks, no partial wildcards).  A verify
 * failure makes OpenSSL abort the handshake; the verify result tells us
 * why, which is what goes into logs and DSNs.  MTA-STS enforce is level
 * verify with SAN-only name checks; MTA-STS testing is level may with the
 * same checks run but not enforced (the result is read afterwards).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tls.h"
#include "tls_int.h"
#include "util.h"

struct tls_io {
	SSL   *ssl;
	BIO   *rbio;		/* ciphertext from the peer */
	BIO   *wbio;		/* ciphertext for the peer */
	struct tls_policy pol;
	int    done;		/* handshake complete */
	int    failed;
	char   reason[TLS_REASON_MAX];
	char   dane_base[TLS_NAME_MAX];	/* TLS_LEVEL_DANE: TLSA base domain */
};

static void
tls_io_fail(tls_io *t, const char *what, int sslerr)
{
	long vr;

	t->failed = 1;
	vr = SSL_get_verify_result(t->ssl);
	if ((t->pol.level == TLS_LEVEL_VERIFY ||
	    t->pol.level == TLS_LEVEL_DANE) && vr != X509_V_OK) {
		snprintf(t->reason, sizeof(t->reason),
		    "certificate verification failed: %s",
		    X509_verify_cert_error_string(vr));
		ERR_clear_error();
		return;
	}
	snprintf(t->reason, sizeof(t->reason), "%s: ", what);
	if (sslerr == SSL_ERROR_ZERO_RETURN)
		snprintf(t->reason, sizeof(t->reason),
		    "%s: peer closed the TLS connection", what);
	else if (ERR_peek_error() == 0)
		snprintf(t->reason, sizeof(t->reason),
		    "%s: TLS error %d", what, sslerr);
	else
		tls_errors_string(t->reason, sizeof(t->reason));
}

tls_io *
tls_io_client_new(SSL_CTX *ctx, const struct tls_policy *pol, char *err,
    size_t errlen)
{
	tls_io *t;
	X509_VERIFY_PARAM *param;
	size_t i;

	if (pol->level == TLS_LEVEL_NONE) {
		snprintf(err, errlen, "TLS policy level is none");
		return NULL;
	}
	if (pol->level == TLS_LEVEL_VERIFY && pol->nnames == 0) {
		snprintf(err, errlen, "verify policy without a peer name");
		return NULL;
	}
	if (pol->level == TLS_LEVEL_DANE && tls_dane_usable_count(pol->dane) == 0) {
		snprintf(err, errlen, "DANE policy without usable TLSA records");
		return NULL;
	}
	ERR_clear_error();
	t = xcalloc(1, sizeof(*t));
	t->pol = *pol;
	t->pol.dane = NULL;	/* borrowed: only used below */
	if ((t->ssl = SSL_new(ctx)) == NULL)
		goto fail;
	t->rbio = BIO_new(BIO_s_mem());
	t->wbio = BIO_new(BIO_s_mem());
	if (t->rbio == NULL || t->wbio == NULL) {
		BIO_free(t->rbio);
		BIO_free(t->wbio);
		goto fail;
	}
	/* An empty read BIO means "retry later", not end of file. */
	BIO_set_mem_eof_return(t->rbio, -1);
	SSL_set_bio(t->ssl, t->rbio, t->wbio);	/* SSL owns both now */
	SSL_set_connect_state(t->ssl);

	if (pol->level == TLS_LEVEL_MAY) {
		/* See tls_ctx.c: any encryption beats the cleartext
		 * fallback, so old servers get what they can speak. */
		SSL_set_min_proto_version(t->ssl, TLS1_VERSION);
		SSL_set_security_level(t->ssl, 0);
	}
	if (pol->sni[0] && SSL_set_tlsext_host_name(t->ssl, pol->sni) != 1)
		goto fail;
	if (pol->level == TLS_LEVEL_VERIFY ||
	    (pol->sts == TLS_STS_TESTING && pol->nnames > 0)) {
		param = SSL_get0_param(t->ssl);
		/* RFC 8461 4.1: MTA-STS wants a SAN dNSName, never the CN. */
		X509_VERIFY_PARAM_set_hostflags(param,
		    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS |
		    (pol->sts != TLS_STS_NONE ?
		    X509_CHECK_FLAG_NEVER_CHECK_SUBJECT : 0));
		for (i = 0; i < pol->nnames; i++) {
			const char *n = pol->names[i];
			int ok;

			if (X509_VERIFY_PARAM_set1_ip_asc(param, n) == 1)
				continue;
			ok = (i == 0) ? X509_VERIFY_PARAM_set1_host(param, n, 0)
			    : X509_VERIFY_PARAM_add1_host(param, n, 0);
			if (ok != 1)
				goto fail;
		}
		/* MTA-STS testing: OpenSSL still verifies the chain and
		 * the names and keeps the result (SSL_get_verify_result),
		 * but does not abort the handshake. */
		if (pol->level == TLS_LEVEL_VERIFY)
			SSL_set_verify(t->ssl, SSL_VERIFY_PEER, NULL);
	}
	if (pol->level == TLS_LEVEL_DANE) {
		/* tls_dane.c: base domain, MX name, usable TLSA records */
		snprintf(t->dane_base, sizeof(t->dane_base), "%s",
		    tls_dane_base(pol->dane));
		if (tls_dane_apply(t->ssl, pol->dane, err, errlen) < 0) {
			tls_io_free(t);
			return NULL;
		}
	}
	return t;
fail:
	snprintf(err, errlen, "cannot set up TLS: ");
	tls_errors_string(err, errlen);
	tls_io_free(t);
	return NULL;
}

/*
 * The listener's side: the same engine, accepting.  Its policy is the
 * zero policy (level none): a server verifies nothing, so failures read
 * as plain TLS errors.
 */
tls_io *
tls_io_server_new(SSL_CTX *ctx, char *err, size_t errlen)
{
	tls_io *t = xcalloc(1, sizeof(*t));

	ERR_clear_error();
	if ((t->ssl = SSL_new(ctx)) == NULL)
		goto fail;
	t->rbio = BIO_new(BIO_s_mem());
	t->wbio = BIO_new(BIO_s_mem());
	if (t->rbio == NULL || t->wbio == NULL) {
		BIO_free(t->rbio);
		BIO_free(t->wbio);
		SSL_free(t->ssl);
		t->ssl = NULL;
		goto fail;
	}
	BIO_set_mem_eof_return(t->rbio, -1);
	SSL_set_bio(t->ssl, t->rbio, t->wbio);	/* SSL owns both now */
	SSL_set_accept_state(t->ssl);
	return t;
fail:
	snprintf(err, errlen, "cannot set up TLS");
	tls_errors_string(err, errlen);
	tls_io_free(t);
	return NULL;
}

void
tls_io_free(tls_io *t)
{
	if (t == NULL)
		return;
	SSL_free(t->ssl);	/* frees the BIOs too */
	free(t);
}

int
tls_io_feed(tls_io *t, const void *buf, size_t len)
{
	if (len == 0)
		return 0;
	if (BIO_ctrl_pending(t->rbio) + len > TLS_IO_INPUT_MAX ||
	    len > (size_t)0x7fffffff) {
		snprintf(t->reason, sizeof(t->reason),
		    "too much unprocessed TLS input");
		t->failed = 1;
		return -1;
	}
	if (BIO_write(t->rbio, buf, (int)len) != (int)len) {
		snprintf(t->reason, sizeof(t->reason), "BIO_write failed");
		t->failed = 1;
		return -1;
	}
	return 0;
}

enum tls_hs
tls_io_handshake(tls_io *t)
{
	int rc, e;

	if (t->failed)
		return TLS_HS_ERROR;
	if (t->done)
		return TLS_HS_DONE;
	ERR_clear_error();
	rc = SSL_do_handshake(t->ssl);
	if (rc == 1) {
		t->done = 1;
		return TLS_HS_DONE;
	}
	e = SSL_get_error(t->ssl, rc);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return TLS_HS_WANT;
	tls_io_fail(t, "TLS handshake failed", e);
	return TLS_HS_ERROR;
}

const char *
tls_io_reason(const tls_io *t)
{
	return t->reason;
}

ssize_t
tls_io_read(tls_io *t, void *buf, size_t len)
{
	size_t got = 0;
	int rc, e;

	if (t->failed || !t->done)
		return -1;
	ERR_clear_error();
	rc = SSL_read_ex(t->ssl, buf, len, &got);
	if (rc == 1)
		return (ssize_t)got;
	e = SSL_get_error(t->ssl, rc);
	if (e == SSL_ERROR_WANT_READ)
		return 0;
	tls_io_fail(t, "TLS read", e);
	return -1;
}

int
tls_io_write(tls_io *t, const void *buf, size_t len)
{
	size_t put = 0;
	int rc;

	if (t->failed || !t->done)
		return -1;
	if (len == 0)
		return 0;
	ERR_clear_error();
	rc = SSL_write_ex(t->ssl, buf, len, &put);
	/* Memory BIOs grow and renegotiation is off: a write either
	 * completes or the connection is broken. */
	if (rc != 1 || put != len) {
		tls_io_fail(t, "TLS write", SSL_get_error(t->ssl, rc));
		return -1;
	}
	return 0;
}

void
tls_io_shutdown(tls_io *t)
{
	if (t->done && !t->failed) {
		ERR_clear_error();
		(void)SSL_shutdown(t->ssl);
		ERR_clear_error();
	}
}

size_t
tls_io_pending(const tls_io *t)
{
	return BIO_ctrl_pending(t->wbio);
}

size_t
tls_io_take(tls_io *t, void *buf, size_t len)
{
	int n;

	if (len > (size_t)0x7fffffff)
		len = 0x7fffffff;
	n = BIO_read(t->wbio, buf, (int)len);
	return n > 0 ? (size_t)n : 0;
}

static void
tls_name_string(X509_NAME *name, char *out, size_t outlen)
{
	BIO *b;
	char tmp[512];
	int n;

	out[0] = '\0';
	if (name == NULL || (b = BIO_new(BIO_s_mem())) == NULL)
		return;
	if (X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) >= 0) {
		n = BIO_read(b, tmp, sizeof(tmp));
		/* The certificate is peer data: printable and bounded. */
		if (n > 0)
			util_printable(tmp, (size_t)n, out, outlen);
	}
	BIO_free(b);
}

void
tls_io_peer_info(const tls_io *t, struct tls_peer_info *info)
{
	const SSL_CIPHER *c;
	const char *peername;
	X509 *cert;

	memset(info, 0, sizeof(*info));
	/* Why a verifying handshake failed, for the TLS-RPT result type. */
	info->verify_error = t->ssl ? SSL_get_verify_result(t->ssl) : X509_V_OK;
	if (!t->done)
		return;
	snprintf(info->protocol, sizeof(info->protocol), "%s",
	    SSL_get_version(t->ssl));
	if ((c = SSL_get_current_cipher(t->ssl)) != NULL) {
		snprintf(info->cipher, sizeof(info->cipher), "%s",
		    SSL_CIPHER_get_name(c));
		info->bits = SSL_CIPHER_get_bits(c, NULL);
	}
	if ((cert = SSL_get1_peer_certificate(t->ssl)) != NULL) {
		tls_name_string(X509_get_subject_name(cert), info->subject,
		    sizeof(info->subject));
		tls_name_string(X509_get_issuer_name(cert), info->issuer,
		    sizeof(info->issuer));
		X509_free(cert);
	}
	snprintf(info->verify_text, sizeof(info->verify_text), "%s",
	    X509_verify_cert_error_string(SSL_get_verify_result(t->ssl)));
	/* The handshake only completes at level verify if the checks
	 * passed, since SSL_VERIFY_PEER aborts it otherwise. */
	info->verified = ((t->pol.level == TLS_LEVEL_VERIFY ||
	    t->pol.level == TLS_LEVEL_DANE) &&
	    SSL_get_verify_result(t->ssl) == X509_V_OK);
	if (t->pol.level == TLS_LEVEL_DANE)
		tls_dane_matched(t->ssl, t->dane_base, info->dane,
		    sizeof(info->dane));
	if ((peername = SSL_get0_peername((SSL *)t->ssl)) != NULL)
		snprintf(info->matched_name, sizeof(info->matched_name), "%s",
		    peername);
}

void
tls_io_summary(const tls_io *t, char *out, size_t outlen)
{
	struct tls_peer_info info;
	const char *verify;

	tls_io_peer_info(t, &info);
	if (!t->done) {
		snprintf(out, outlen, "none");
		return;
	}
	if (t->pol.level == TLS_LEVEL_DANE) {
		/* RFC 7672: which record authenticated the peer */
		snprintf(out, outlen, "%s %s dane=%s%s%s sni=%s", info.protocol,
		    info.cipher, info.verified ? "verified (" : "failed",
		    info.verified ? info.dane : "", info.verified ? ")" : "",
		    t->pol.sni[0] ? t->pol.sni : "none");
		return;
	}
	if (t->pol.level != TLS_LEVEL_VERIFY)
		verify = "none";
	else
		verify = info.verified ? "ok" : "fail";
	snprintf(out, outlen, "%s %s verify=%s%s%s sni=%s", info.protocol,
	    info.cipher, verify, t->pol.dane_note[0] ? " dane=" : "",
	    t->pol.dane_note, t->pol.sni[0] ? t->pol.sni : "none");
}

void
tls_io_received_text(const tls_io *t, char *out, size_t outlen)
{
	const SSL_CIPHER *c;
	int alg = 0, bits = 0;

	if (!t->done || (c = SSL_get_current_cipher(t->ssl)) == NULL) {
		snprintf(out, outlen, "none");
		return;
	}
	bits = SSL_CIPHER_get_bits(c, &alg);
	snprintf(out, outlen, "using %s with cipher %s (%d/%d bits)",
	    SSL_get_version(t->ssl), SSL_CIPHER_get_name(c), bits, alg);
}
