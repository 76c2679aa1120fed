/*
 * tls_server.c - TLS for the SMTP listener: the server SSL_CTX.
 *
 * The engine is tls_io.c's, created with tls_io_server_new(): the
 * listener's session feeds it ciphertext, drives the handshake, reads
 * and writes plaintext and takes ciphertext to send, as the client does.
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
