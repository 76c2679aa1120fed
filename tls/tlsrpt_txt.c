/*
 * tlsrpt_txt.c - the _smtp._tls.<domain> TXT record (RFC 8460 3), as a
 * pure parser.
 *
 *   tlsrpt-record  = "v=TLSRPTv1" 1*(field-delim tlsrpt-field) [field-delim]
 *   field-delim    = *WSP ";" *WSP
 *   tlsrpt-field   = tlsrpt-rua / tlsrpt-extension
 *   tlsrpt-rua     = "rua=" tlsrpt-uri *(*WSP "," *WSP tlsrpt-uri)
 *
 * The record comes from a domain we deliver to: hostile.  We are strict
 * where the RFC is (the version tag is case-sensitive and first; exactly
 * one TLS-RPT record in the RRset, tlsrpt_txt_select) and tolerant
 * elsewhere, as receivers publish sloppy records:
 *   - whitespace around ';', '=', ',' and at the ends is ignored;
 *   - "rua" in any case; several rua fields add up;
 *   - URIs of schemes other than mailto: and https: are skipped (RFC
 *     8460 3: senders MAY ignore them), as are malformed ones; the record
 *     is still usable if one good URI remains;
 *   - a "!size" suffix (digits, optional k/m/g/t, powers of 1024) is not
 *     in RFC 8460 - it is DMARC's (RFC 7489 6.2) - but publishers copy
 *     it.  It is split off and kept as a size limit the sender honours;
 *   - extension fields and unparseable fields are ignored.
 * Refused outright: control bytes or non-ASCII, a record over
 * TLSRPT_TXT_MAX, a missing rua, no usable URI.
 */
#include <stdio.h>
#include <string.h>

#include "tlsrpt.h"
#include "util.h"

#define TLSRPT_VERSION		"v=TLSRPTv1"
#define TLSRPT_VERSION_LEN	10

static int
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* Trim WSP from both ends of [*s, *s + *len). */
static void
trim(const char **s, size_t *len)
{
	while (*len > 0 && is_wsp(**s)) {
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && is_wsp((*s)[*len - 1]))
		(*len)--;
}

int
tlsrpt_txt_is_tlsrpt(const char *rec, size_t len)
{
	size_t i = TLSRPT_VERSION_LEN;

	if (rec == NULL || len < TLSRPT_VERSION_LEN ||
	    memcmp(rec, TLSRPT_VERSION, TLSRPT_VERSION_LEN) != 0)
		return 0;
	while (i < len && is_wsp(rec[i]))
		i++;
	return i == len || rec[i] == ';';
}

/* "!size" at the end of u: 1 and *limit when present and valid, 0 when
 * absent, -1 when it overflows. */
static int
size_suffix(const char *u, size_t len, size_t *bang, uint64_t *limit)
{
	const char *b = NULL;
	size_t i, ndig, shift = 0;
	uint64_t v;

	for (i = len; i > 0; i--)
		if (u[i - 1] == '!') {
			b = u + i - 1;
			break;
		}
	if (b == NULL)
		return 0;
	ndig = len - (size_t)(b - u) - 1;
	if (ndig > 0) {
		switch (b[ndig]) {
		case 'k': case 'K': shift = 10; ndig--; break;
		case 'm': case 'M': shift = 20; ndig--; break;
		case 'g': case 'G': shift = 30; ndig--; break;
		case 't': case 'T': shift = 40; ndig--; break;
		default: break;
		}
	}
	if (ndig == 0)
		return 0;
	for (i = 1; i <= ndig; i++)
		if (b[i] < '0' || b[i] > '9')
			return 0;	/* a '!' that is part of the URI */
	if (util_parse_uint(b + 1, ndig, UINT64_MAX >> shift, &v) < 0)
		return -1;
	*bang = (size_t)(b - u);
	*limit = v << shift;
	return 1;
}

/* One URI of a rua list; 0 kept, -1 skipped. */
static int
parse_uri(const char *u, size_t len, struct tlsrpt_uri *out)
{
	uint64_t limit = 0;
	size_t i, bang = len;
	const char *rest;
	size_t rlen;
	int rc;

	for (i = 0; i < len; i++)
		if (is_wsp(u[i]) || u[i] == ';' || u[i] == ',')
			return -1;
	rc = size_suffix(u, len, &bang, &limit);
	if (rc < 0)
		return -1;
	len = bang;
	if (len >= TLSRPT_URI_MAX)
		return -1;
	if (len > 7 && util_strncasecmp(u, "mailto:", 7) == 0) {
		rest = u + 7;
		rlen = len - 7;
		/* an addr-spec: something@something */
		if (memchr(rest, '@', rlen) == NULL || rest[0] == '@' ||
		    rest[rlen - 1] == '@')
			return -1;
		out->scheme = TLSRPT_URI_MAILTO;
	} else if (len > 8 && util_strncasecmp(u, "https://", 8) == 0) {
		rest = u + 8;
		if (rest[0] == '/' || rest[0] == '?' || rest[0] == '#' ||
		    rest[0] == ':')
			return -1;	/* no host */
		out->scheme = TLSRPT_URI_HTTPS;
	} else
		return -1;
	memcpy(out->uri, u, len);
	out->uri[len] = '\0';
	out->size_limit = limit;
	return 0;
}

static void
parse_rua(const char *v, size_t len, struct tlsrpt_txt *out)
{
	while (len > 0) {
		const char *comma = memchr(v, ',', len);
		size_t n = comma ? (size_t)(comma - v) : len;
		const char *u = v;
		size_t ulen = n;

		trim(&u, &ulen);
		if (ulen > 0) {
			if (out->nrua < TLSRPT_RUA_MAX &&
			    parse_uri(u, ulen, &out->rua[out->nrua]) == 0)
				out->nrua++;
			else
				out->nskipped++;
		}
		if (comma == NULL)
			break;
		v += n + 1;
		len -= n + 1;
	}
}

int
tlsrpt_txt_parse(const char *rec, size_t len, struct tlsrpt_txt *out,
    char *why, size_t whylen)
{
	size_t i;
	int have_rua = 0;

	memset(out, 0, sizeof(*out));
	if (len > TLSRPT_TXT_MAX) {
		snprintf(why, whylen, "record longer than %d bytes",
		    TLSRPT_TXT_MAX);
		return -1;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)rec[i];

		if ((c < 0x20 && c != '\t') || c > 0x7e) {
			snprintf(why, whylen, "control or non-ASCII byte at "
			    "offset %zu", i);
			return -1;
		}
	}
	if (!tlsrpt_txt_is_tlsrpt(rec, len)) {
		snprintf(why, whylen, "not a v=TLSRPTv1 record");
		return -1;
	}
	i = TLSRPT_VERSION_LEN;
	while (i < len) {
		const char *f, *semi, *eq;
		size_t flen, nlen, vlen;

		/* rec[i] is ';' (or WSP before it) */
		while (i < len && (is_wsp(rec[i]) || rec[i] == ';'))
			i++;
		if (i >= len)
			break;
		f = rec + i;
		semi = memchr(f, ';', len - i);
		flen = semi ? (size_t)(semi - f) : len - i;
		i += flen;
		trim(&f, &flen);
		eq = memchr(f, '=', flen);
		if (eq == NULL)
			continue;	/* tolerated: not a field */
		nlen = (size_t)(eq - f);
		while (nlen > 0 && is_wsp(f[nlen - 1]))
			nlen--;
		if (nlen != 3 || util_strncasecmp(f, "rua", 3) != 0)
			continue;	/* extension: ignored */
		have_rua = 1;
		vlen = flen - (size_t)(eq - f) - 1;
		parse_rua(eq + 1, vlen, out);
	}
	if (!have_rua) {
		snprintf(why, whylen, "no rua field");
		return -1;
	}
	if (out->nrua == 0) {
		snprintf(why, whylen, "no usable mailto: or https: URI in rua");
		return -1;
	}
	return 0;
}

int
tlsrpt_txt_select(const char *const *recs, const size_t *lens, size_t n,
    struct tlsrpt_txt *out, char *why, size_t whylen)
{
	size_t i, found = 0, which = 0;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < n; i++)
		if (recs[i] != NULL && tlsrpt_txt_is_tlsrpt(recs[i], lens[i])) {
			found++;
			which = i;
		}
	if (found != 1) {
		if (found == 0)
			snprintf(why, whylen, "no v=TLSRPTv1 record");
		else
			snprintf(why, whylen, "%zu v=TLSRPTv1 records (exactly "
			    "one allowed)", found);
		return -1;
	}
	return tlsrpt_txt_parse(recs[which], lens[which], out, why, whylen);
}
