/*
 * tls_dane.c - DANE TLSA records for SMTP (RFC 7672, RFC 7671, RFC 6698)
 * and their use with OpenSSL's DANE verifier.
 *
 * How it fits: the delivery agent (mta_dane.c) finds the TLSA RRset of an
 * MX host, keeps it in a tls_dane (this file) and points the session's
 * struct tls_policy at it with level TLS_LEVEL_DANE.  When the engine is
 * made (tls_io.c) tls_dane_apply() hands the usable records to OpenSSL:
 *
 *  - SSL_dane_enable(ssl, base): the TLSA base domain is the primary
 *    reference identifier and the SNI name (RFC 7672 3.2.3, 8.1);
 *  - SSL_add1_host(ssl, mxhost) when the MX host name differs (the base
 *    is then its secure CNAME expansion): either name may match;
 *  - DANE_FLAG_NO_DANE_EE_NAMECHECKS: DANE-EE(3) authenticates the key
 *    itself, names and validity dates do not matter (RFC 7672 3.1.1);
 *    DANE-TA(2) gets the chain check to the TA and the name check;
 *  - only DANE-TA(2) and DANE-EE(3) records are added: PKIX-TA(0) and
 *    PKIX-EE(1) are unusable in SMTP (RFC 7672 3.1.3), so the system CA
 *    store plays no part in a DANE session.
 *
 * Usability is decided here, before OpenSSL sees a record, so the agent
 * knows whether a secure RRset has any usable record at all: only then
 * does DANE authentication apply; a secure RRset with only unusable
 * records still makes TLS mandatory (RFC 7672 2.2).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tls.h"
#include "tls_int.h"
#include "util.h"

#define TLS_DANE_SHA256_LEN	32
#define TLS_DANE_SHA512_LEN	64

struct tls_dane_rr {
	unsigned char  usage, selector, mtype;
	int            usable;
	unsigned char *data;
	size_t         len;
	char          *text;	/* presentation form */
};

struct tls_dane {
	char   base[TLS_NAME_MAX];
	char   mxhost[TLS_NAME_MAX];
	size_t n, nusable;
	struct tls_dane_rr rr[TLS_DANE_RR_MAX];
};

enum tls_dane_usability
tls_dane_usable(unsigned usage, unsigned selector, unsigned mtype, size_t len)
{
	if (usage != TLS_DANE_USAGE_DANE_TA && usage != TLS_DANE_USAGE_DANE_EE)
		return TLS_DANE_BAD_USAGE;
	if (selector != TLS_DANE_SELECTOR_CERT &&
	    selector != TLS_DANE_SELECTOR_SPKI)
		return TLS_DANE_BAD_SELECTOR;
	switch (mtype) {
	case TLS_DANE_MTYPE_FULL:
		return len > 0 ? TLS_DANE_USABLE : TLS_DANE_BAD_LENGTH;
	case TLS_DANE_MTYPE_SHA256:
		return len == TLS_DANE_SHA256_LEN ? TLS_DANE_USABLE :
		    TLS_DANE_BAD_LENGTH;
	case TLS_DANE_MTYPE_SHA512:
		return len == TLS_DANE_SHA512_LEN ? TLS_DANE_USABLE :
		    TLS_DANE_BAD_LENGTH;
	}
	return TLS_DANE_BAD_MTYPE;
}

const char *
tls_dane_usability_name(enum tls_dane_usability u)
{
	switch (u) {
	case TLS_DANE_USABLE: return "usable";
	case TLS_DANE_BAD_USAGE: return "usage is not DANE-TA(2) or DANE-EE(3)";
	case TLS_DANE_BAD_SELECTOR: return "selector is not Cert(0) or SPKI(1)";
	case TLS_DANE_BAD_MTYPE: return "unknown matching type";
	case TLS_DANE_BAD_LENGTH: return "digest length does not match "
	    "its matching type";
	}
	return "?";
}

int
tls_dane_rr_text(unsigned usage, unsigned selector, unsigned mtype,
    const unsigned char *data, size_t len, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	int n;
	size_t off, i;

	if (outlen == 0)
		return -1;
	out[0] = '\0';
	n = snprintf(out, outlen, "%u %u %u ", usage & 0xff, selector & 0xff,
	    mtype & 0xff);
	if (n < 0 || (size_t)n >= outlen || len > (outlen - (size_t)n - 1) / 2) {
		out[0] = '\0';
		return -1;
	}
	off = (size_t)n;
	for (i = 0; i < len; i++) {
		out[off++] = hex[data[i] >> 4];
		out[off++] = hex[data[i] & 0x0f];
	}
	out[off] = '\0';
	return 0;
}

static void
tls_dane_copy_name(char *dst, const char *src)
{
	size_t len = src ? strlen(src) : 0;

	if (len >= TLS_NAME_MAX)
		len = 0;	/* callers pass resolver names: cannot happen */
	memcpy(dst, src ? src : "", len);
	dst[len] = '\0';
	if (len > 1 && dst[len - 1] == '.')
		dst[len - 1] = '\0';
}

tls_dane *
tls_dane_new(const char *base, const char *mxhost)
{
	tls_dane *d = xcalloc(1, sizeof(*d));

	tls_dane_copy_name(d->base, base);
	tls_dane_copy_name(d->mxhost, mxhost ? mxhost : base);
	return d;
}

void
tls_dane_free(tls_dane *d)
{
	size_t i;

	if (d == NULL)
		return;
	for (i = 0; i < d->n; i++) {
		free(d->rr[i].data);
		free(d->rr[i].text);
	}
	free(d);
}

int
tls_dane_add(tls_dane *d, unsigned usage, unsigned selector, unsigned mtype,
    const unsigned char *data, size_t len)
{
	struct tls_dane_rr *rr;
	size_t tlen;

	if (d->n >= TLS_DANE_RR_MAX || len > TLS_DANE_DATA_MAX ||
	    (len > 0 && data == NULL))
		return -1;
	rr = &d->rr[d->n];
	rr->usage = (unsigned char)usage;
	rr->selector = (unsigned char)selector;
	rr->mtype = (unsigned char)mtype;
	rr->usable = tls_dane_usable(usage, selector, mtype, len) ==
	    TLS_DANE_USABLE && usage <= 255 && selector <= 255 && mtype <= 255;
	rr->data = xmalloc(len > 0 ? len : 1);
	if (len > 0)
		memcpy(rr->data, data, len);
	rr->len = len;
	tlen = 16 + 2 * len;
	rr->text = xmalloc(tlen);
	(void)tls_dane_rr_text(usage, selector, mtype, data, len, rr->text,
	    tlen);
	d->n++;
	if (rr->usable)
		d->nusable++;
	return rr->usable;
}

size_t
tls_dane_count(const tls_dane *d)
{
	return d ? d->n : 0;
}

size_t
tls_dane_usable_count(const tls_dane *d)
{
	return d ? d->nusable : 0;
}

const char *
tls_dane_base(const tls_dane *d)
{
	return d ? d->base : "";
}

const char *
tls_dane_mxhost(const tls_dane *d)
{
	return d ? d->mxhost : "";
}

const char *
tls_dane_rr_string(const tls_dane *d, size_t i)
{
	return d && i < d->n ? d->rr[i].text : "";
}

/* ---- OpenSSL ------------------------------------------------------------ */

int
tls_dane_ctx_enable(SSL_CTX *ctx)
{
	/* Registers the digests for matching types 1 and 2. */
	return SSL_CTX_dane_enable(ctx) > 0 ? 0 : -1;
}

int
tls_dane_apply(SSL *ssl, const tls_dane *d, char *err, size_t errlen)
{
	size_t i, added = 0;

	if (d == NULL || d->nusable == 0 || d->base[0] == '\0') {
		snprintf(err, errlen, "DANE policy without usable TLSA records");
		return -1;
	}
	if (SSL_dane_enable(ssl, d->base) <= 0) {
		snprintf(err, errlen, "SSL_dane_enable: ");
		tls_errors_string(err, errlen);
		return -1;
	}
	(void)SSL_dane_set_flags(ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
	/* Name checks (DANE-TA only): one label wildcards, never partial. */
	X509_VERIFY_PARAM_set_hostflags(SSL_get0_param(ssl),
	    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (d->mxhost[0] && util_strcasecmp(d->mxhost, d->base) != 0 &&
	    SSL_add1_host(ssl, d->mxhost) != 1) {
		snprintf(err, errlen, "SSL_add1_host: ");
		tls_errors_string(err, errlen);
		return -1;
	}
	for (i = 0; i < d->n; i++) {
		const struct tls_dane_rr *rr = &d->rr[i];
		int rc;

		if (!rr->usable)
			continue;
		rc = SSL_dane_tlsa_add(ssl, rr->usage, rr->selector, rr->mtype,
		    rr->data, rr->len);
		if (rc > 0)
			added++;
		else if (rc < 0) {
			snprintf(err, errlen, "SSL_dane_tlsa_add: ");
			tls_errors_string(err, errlen);
			return -1;
		}
		/* rc == 0: OpenSSL cannot use it (e.g. a type 0 record whose
		 * data is no certificate); the others may still match. */
	}
	if (added == 0) {
		snprintf(err, errlen, "no TLSA record is usable by OpenSSL");
		return -1;
	}
	/* A failed DANE check aborts the handshake: nothing is sent to an
	 * unauthenticated peer. */
	SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
	return 0;
}

void
tls_dane_matched(SSL *ssl, const char *base, char *out, size_t outlen)
{
	uint8_t usage = 0, selector = 0, mtype = 0;
	unsigned const char *data = NULL;
	size_t dlen = 0;

	out[0] = '\0';
	if (SSL_get0_dane_tlsa(ssl, &usage, &selector, &mtype, &data,
	    &dlen) < 0)
		return;
	snprintf(out, outlen, "%u %u %u base=%s", usage, selector, mtype,
	    base);
}
