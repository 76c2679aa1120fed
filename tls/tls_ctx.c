/*
 * tls_ctx.c - TLS policies and client SSL_CTX creation.
 *
 * Protocol floor.  The SSL_CTX asks for TLS 1.2 or better.  For
 * TLS_LEVEL_MAY the engine lowers the floor on that one connection to
 * TLS 1.0 (tls_io.c): opportunistic TLS exists to beat passive
 * eavesdropping, and refusing an old server does not make the mail safer,
 * it makes us send it in the clear (RFC 7435 section 3, and what Postfix
 * does with its default smtp_tls_protocols).  Levels that promise
 * something to the sender (encrypt, verify, later DANE and MTA-STS) keep
 * TLS 1.2 as RFC 8996 and RFC 8461 section 4.2 ask.
 *
 * Renegotiation is refused outright (SSL_OP_NO_RENEGOTIATION): it is a
 * source of bugs and attacks and SMTP never needs it; it also means a
 * write on a memory BIO can never stall waiting for a read.
 *
 * XXX no client session cache yet: each connection does a full handshake.
 * A per-thread cache keyed by host[ip]:port and policy would go here.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tls.h"
#include "tls_int.h"
#include "util.h"

void
tls_policy_init(struct tls_policy *pol, enum tls_level level)
{
	memset(pol, 0, sizeof(*pol));
	pol->level = level;
}

static int
tls_is_ip_literal(const char *name)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, name, buf) == 1 ||
	    inet_pton(AF_INET6, name, buf) == 1;
}

int
tls_policy_set_sni(struct tls_policy *pol, const char *name)
{
	size_t len;

	pol->sni[0] = '\0';
	if (name == NULL || (len = strlen(name)) == 0 || len >= TLS_NAME_MAX)
		return -1;
	if (tls_is_ip_literal(name))
		return -1;
	memcpy(pol->sni, name, len + 1);
	/* A trailing dot is the DNS root, not part of the SNI host name. */
	if (len > 1 && pol->sni[len - 1] == '.')
		pol->sni[len - 1] = '\0';
	return 0;
}

int
tls_policy_add_name(struct tls_policy *pol, const char *name)
{
	size_t len;

	if (name == NULL || (len = strlen(name)) == 0 || len >= TLS_NAME_MAX ||
	    pol->nnames >= TLS_POLICY_NAMES_MAX)
		return -1;
	memcpy(pol->names[pol->nnames], name, len + 1);
	if (len > 1 && pol->names[pol->nnames][len - 1] == '.')
		pol->names[pol->nnames][len - 1] = '\0';
	pol->nnames++;
	return 0;
}

int
tls_policy_equal(const struct tls_policy *a, const struct tls_policy *b)
{
	size_t i;

	if (a->level != b->level || a->nnames != b->nnames ||
	    util_strcasecmp(a->sni, b->sni) != 0)
		return 0;
	/* DANE: the same RRset object (one per MX host and session). */
	if (a->dane != b->dane || strcmp(a->dane_note, b->dane_note) != 0)
		return 0;
	/* MTA-STS: the same mode under the same policy id. */
	if (a->sts != b->sts || strcmp(a->sts_id, b->sts_id) != 0)
		return 0;
	for (i = 0; i < a->nnames; i++)
		if (util_strcasecmp(a->names[i], b->names[i]) != 0)
			return 0;
	return 1;
}

int
tls_policy_required(const struct tls_policy *pol)
{
	return pol->level >= TLS_LEVEL_ENCRYPT;
}

const char *
tls_level_name(enum tls_level level)
{
	switch (level) {
	case TLS_LEVEL_NONE: return "none";
	case TLS_LEVEL_MAY: return "may";
	case TLS_LEVEL_ENCRYPT: return "encrypt";
	case TLS_LEVEL_VERIFY: return "verify";
	case TLS_LEVEL_DANE: return "dane";
	}
	return "?";
}

void
tls_init(void)
{
	/* OpenSSL 1.1+ initialises itself; asking explicitly makes the
	 * error strings available before the first failure is logged and
	 * keeps the (thread safe) one-time setup out of the worker threads. */
	OPENSSL_init_ssl(OPENSSL_INIT_LOAD_SSL_STRINGS |
	    OPENSSL_INIT_LOAD_CRYPTO_STRINGS, NULL);
}

void
tls_errors_string(char *out, size_t outlen)
{
	unsigned long e;
	size_t off = strlen(out);
	char buf[256];

	while ((e = ERR_get_error()) != 0) {
		int n;

		ERR_error_string_n(e, buf, sizeof(buf));
		if (off + 1 >= outlen)
			continue;	/* keep draining the queue */
		n = snprintf(out + off, outlen - off, "%s%s",
		    off ? "; " : "", buf);
		if (n > 0)
			off += ((size_t)n < outlen - off) ? (size_t)n :
			    outlen - off - 1;
	}
}

SSL_CTX *
tls_client_ctx_create(const struct sealpost_config *cfg, char *err,
    size_t errlen)
{
	SSL_CTX *ctx;

	tls_init();
	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		snprintf(err, errlen, "SSL_CTX_new: ");
		tls_errors_string(err, errlen);
		return NULL;
	}
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
		snprintf(err, errlen, "cannot set TLS 1.2 floor: ");
		tls_errors_string(err, errlen);
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION);
	/* Sessions are not resumed yet (see the header comment). */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	/* Verification is switched on per connection by the policy. */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	/* DANE (RFC 7672): the digests for TLSA matching types 1 and 2;
	 * each DANE connection then enables it with its own records. */
	if (tls_dane_ctx_enable(ctx) < 0) {
		snprintf(err, errlen, "SSL_CTX_dane_enable: ");
		tls_errors_string(err, errlen);
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (cfg->tls_ca_file && cfg->tls_ca_file[0]) {
		if (SSL_CTX_load_verify_locations(ctx, cfg->tls_ca_file,
		    NULL) != 1) {
			snprintf(err, errlen, "cannot load CA file %s: ",
			    cfg->tls_ca_file);
			tls_errors_string(err, errlen);
			SSL_CTX_free(ctx);
			return NULL;
		}
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		/* Only verify-level sessions will notice; say it now. */
		char why[TLS_REASON_MAX] = "";

		tls_errors_string(why, sizeof(why));
		log_warn("tls: no CA file configured and the system CA store "
		    "cannot be loaded: %s", why);
	}
	return ctx;
}
