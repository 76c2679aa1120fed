/*
 * tls_server.c - TLS for the SMTP listener: the server SSL_CTX and a
 * server engine over memory BIOs.
 *
 * Same shape as tls_io.c (the client engine): the engine never touches a
 * socket; the listener's session feeds it ciphertext, drives the
 * handshake, reads and writes plaintext and takes ciphertext to send.
 *
 * Protocol floor TLS 1.2 (RFC 8996): our clients are internal hosts and
 * MUAs, and a submission password must not cross an old protocol.  No
 * renegotiation (it buys nothing for SMTP and means a write never waits
 * for a read).  No client certificates: clients authenticate with SASL.
 * SSL_OP_CIPHER_SERVER_PREFERENCE so OpenSSL's default order wins.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "tls.h"
#include "util.h"

struct tls_server_io {
	SSL  *ssl;
	BIO  *rbio;
	BIO  *wbio;
	int   done;
	int   failed;
	char  reason[TLS_REASON_MAX];
};

SSL_CTX *
tls_server_ctx_create(const char *cert_file, const char *key_file, char *err,
    size_t errlen)
{
	SSL_CTX *ctx;

	tls_init();
	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		snprintf(err, errlen, "SSL_CTX_new");
		tls_errors_string(err, errlen);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	(void)SSL_CTX_set_session_id_context(ctx,
	    (const unsigned char *)"sealpost-smtpd", 14);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
		snprintf(err, errlen, "smtpd_tls_cert_file %s", cert_file);
		tls_errors_string(err, errlen);
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
		snprintf(err, errlen, "smtpd_tls_key_file %s", key_file);
		tls_errors_string(err, errlen);
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errlen, "smtpd_tls_key_file %s does not match "
		    "smtpd_tls_cert_file %s", key_file, cert_file);
		tls_errors_string(err, errlen);
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

static void
tls_server_fail(tls_server_io *t, const char *what, int sslerr)
{
	t->failed = 1;
	if (sslerr == SSL_ERROR_ZERO_RETURN)
		snprintf(t->reason, sizeof(t->reason),
		    "%s: peer closed the TLS connection", what);
	else if (ERR_peek_error() == 0)
		snprintf(t->reason, sizeof(t->reason), "%s: TLS error %d",
		    what, sslerr);
	else {
		snprintf(t->reason, sizeof(t->reason), "%s", what);
		tls_errors_string(t->reason, sizeof(t->reason));
	}
}

tls_server_io *
tls_server_io_new(SSL_CTX *ctx, char *err, size_t errlen)
{
	tls_server_io *t = xcalloc(1, sizeof(*t));

	ERR_clear_error();
	if ((t->ssl = SSL_new(ctx)) == NULL)
		goto fail;
	t->rbio = BIO_new(BIO_s_mem());
	t->wbio = BIO_new(BIO_s_mem());
	if (t->rbio == NULL || t->wbio == NULL) {
		BIO_free(t->rbio);
		BIO_free(t->wbio);
		goto fail;
	}
	BIO_set_mem_eof_return(t->rbio, -1);
	SSL_set_bio(t->ssl, t->rbio, t->wbio);
	SSL_set_accept_state(t->ssl);
	return t;
fail:
	snprintf(err, errlen, "cannot set up TLS");
	tls_errors_string(err, errlen);
	tls_server_io_free(t);
	return NULL;
}

void
tls_server_io_free(tls_server_io *t)
{
	if (t == NULL)
		return;
	SSL_free(t->ssl);
	free(t);
}

int
tls_server_io_feed(tls_server_io *t, const void *buf, size_t len)
{
	if (len == 0)
		return 0;
	if (BIO_ctrl_pending(t->rbio) + len > TLS_IO_INPUT_MAX ||
	    BIO_write(t->rbio, buf, (int)len) != (int)len) {
		snprintf(t->reason, sizeof(t->reason),
		    "too much unprocessed TLS input");
		t->failed = 1;
		return -1;
	}
	return 0;
}

enum tls_hs
tls_server_io_handshake(tls_server_io *t)
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
	tls_server_fail(t, "TLS handshake failed", e);
	return TLS_HS_ERROR;
}

const char *
tls_server_io_reason(const tls_server_io *t)
{
	return t->reason;
}

ssize_t
tls_server_io_read(tls_server_io *t, void *buf, size_t len)
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
	tls_server_fail(t, "TLS read", e);
	return -1;
}

int
tls_server_io_write(tls_server_io *t, const void *buf, size_t len)
{
	size_t put = 0;
	int rc;

	if (t->failed || !t->done)
		return -1;
	if (len == 0)
		return 0;
	ERR_clear_error();
	rc = SSL_write_ex(t->ssl, buf, len, &put);
	if (rc != 1 || put != len) {
		tls_server_fail(t, "TLS write", SSL_get_error(t->ssl, rc));
		return -1;
	}
	return 0;
}

void
tls_server_io_shutdown(tls_server_io *t)
{
	if (t->done && !t->failed) {
		ERR_clear_error();
		(void)SSL_shutdown(t->ssl);
		ERR_clear_error();
	}
}

size_t
tls_server_io_pending(const tls_server_io *t)
{
	return BIO_ctrl_pending(t->wbio);
}

size_t
tls_server_io_take(tls_server_io *t, void *buf, size_t len)
{
	int n;

	if (len > (size_t)0x7fffffff)
		len = 0x7fffffff;
	n = BIO_read(t->wbio, buf, (int)len);
	return n > 0 ? (size_t)n : 0;
}

void
tls_server_io_summary(const tls_server_io *t, char *out, size_t outlen)
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
