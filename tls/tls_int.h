/*
 * tls_int.h - shared inside the TLS module (tls_*.c) only.
 *
 * The DANE glue between a tls_dane (tls_dane.c) and the OpenSSL objects
 * that tls_ctx.c and tls_io.c create.
 */
#ifndef SEALPOST_TLS_INT_H
#define SEALPOST_TLS_INT_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "tls.h"

/* SSL_CTX_dane_enable(): once per client context.  0 or -1. */
int tls_dane_ctx_enable(SSL_CTX *ctx);
/*
 * Turn on DANE verification for one connection: base domain, the MX
 * host as second name, the usable records, SSL_VERIFY_PEER.  0, or -1
 * with err (no usable record, OpenSSL failure).
 */
int tls_dane_apply(SSL *ssl, const tls_dane *d, char *err, size_t errlen);
/* After a successful DANE handshake: "3 1 1 base=NAME" ("" if none). */
void tls_dane_matched(SSL *ssl, const char *base, char *out, size_t outlen);

#endif
