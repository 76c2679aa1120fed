/*
 * sts_policy.c - the pure MTA-STS parsers: the policy body (RFC 8461
 * 3.2), the _mta-sts TXT record (3.1), mx pattern matching (4.1), the
 * Content-Type of a policy response (3.2) and domain name checks.
 *
 * Nothing here allocates more than the input's size, touches the network
 * or keeps state between calls.  The input is attacker-controlled (the
 * policy host, DNS): every byte is checked against the ABNF before it is
 * believed.
 *
 * Where we are more lenient than the ABNF, and why:
 *   - whitespace before ':' and at both ends of a line is tolerated
 *     (published policies carry it; it changes no meaning);
 *   - empty lines are skipped (a trailing blank line is common);
 *   - one trailing dot on an mx pattern is removed.
 * Where we are stricter than "ignore": duplicated version, mode or
 * max_age make the policy invalid, because two answers to one question
 * are ambiguous.  mx values that are not domain names (IP addresses,
 * junk, non-ASCII) are skipped and counted, as the issue asks: one bad
 * line must not cost the rest of the policy.
 *
 * XXX internationalised mx patterns (U-labels) are skipped as junk; a
 * policy must list A-labels.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sts.h"

#define STS_LABEL_MAX		63	/* RFC 1035 2.3.4 */
#define STS_EXT_NAME_MAX	32	/* 3.1/3.2: (ALPHA/DIGIT) *31(...) */

static int
is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static int
is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t';
}

static unsigned char
to_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

static void
set_why(char *why, size_t whylen, const char *msg)
{
	if (why != NULL && whylen > 0)
		snprintf(why, whylen, "%s", msg);
}

/* ---- domain names ------------------------------------------------------- */

int
sts_domain_normalize(const char *in, size_t len, char *out, size_t outlen)
{
	size_t i, label = 0, o = 0;
	int all_digits = 1;

	if (in == NULL || out == NULL || outlen == 0)
		return -1;
	if (len > 0 && in[len - 1] == '.')
		len--;
	if (len == 0 || len > STS_DOMAIN_MAX - 1 || len + 1 > outlen)
		return -1;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c == '.') {
			/* LDH: no empty label, no '-' at either end */
			if (label == 0 || in[i - 1] == '-')
				return -1;
			label = 0;
			all_digits = 1;
		} else if (is_alpha(c) || is_digit(c) || c == '-') {
			if (label == 0 && c == '-')
				return -1;
			if (++label > STS_LABEL_MAX)
				return -1;
			if (!is_digit(c))
				all_digits = 0;
		} else {
			return -1;
		}
		out[o++] = (char)to_lower(c);
	}
	if (label == 0 || in[len - 1] == '-')
		return -1;
	/* no top-level domain is all digits: "192.0.2.1" is an address */
	if (all_digits)
		return -1;
	out[o] = '\0';
	return 0;
}

/* ---- mx patterns and matching (4.1) --------------------------------------- */

/* "*.domain" or "domain" -> normalised pattern; -1 for anything else. */
static int
mx_pattern_normalize(const char *v, size_t len, char *out, size_t outlen)
{
	if (len >= 2 && v[0] == '*' && v[1] == '.') {
		if (outlen < 3)
			return -1;
		out[0] = '*';
		out[1] = '.';
		return sts_domain_normalize(v + 2, len - 2, out + 2,
		    outlen - 2);
	}
	return sts_domain_normalize(v, len, out, outlen);
}

/* Length of name without one trailing dot. */
static size_t
name_len(const char *s)
{
	size_t n = strlen(s);

	return (n > 0 && s[n - 1] == '.') ? n - 1 : n;
}

static int
span_caseeq(const char *a, const char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (to_lower((unsigned char)a[i]) !=
		    to_lower((unsigned char)b[i]))
			return 0;
	return 1;
}

int
sts_mx_match(const char *pattern, const char *host)
{
	size_t plen, hlen, rest, first;

	if (pattern == NULL || host == NULL)
		return 0;
	plen = name_len(pattern);
	hlen = name_len(host);
	if (plen == 0 || hlen == 0)
		return 0;
	if (pattern[0] != '*')
		return plen == hlen && span_caseeq(pattern, host, hlen);
	/* "*.rest": host must be LABEL "." rest with LABEL non-empty and
	 * free of dots - exactly one label, never zero, never two */
	if (plen < 3 || pattern[1] != '.')
		return 0;
	rest = plen - 2;
	if (hlen <= rest + 1)
		return 0;
	first = hlen - rest - 1;	/* length of the host's first label */
	if (host[first] != '.' || memchr(host, '.', first) != NULL)
		return 0;
	return span_caseeq(pattern + 2, host + first + 1, rest);
}

int
sts_policy_mx_match(const struct sts_policy *p, const char *host)
{
	size_t i;

	if (p == NULL)
		return 0;
	for (i = 0; i < p->nmx; i++)
		if (sts_mx_match(p->mx[i], host))
			return 1;
	return 0;
}

/* ---- the policy body (3.2) ------------------------------------------------ */

const char *
sts_mode_name(enum sts_mode m)
{
	switch (m) {
	case STS_MODE_NONE: return "none";
	case STS_MODE_TESTING: return "testing";
	case STS_MODE_ENFORCE: return "enforce";
	}
	return "?";
}

int
sts_mode_parse(const char *s, enum sts_mode *out)
{
	if (strcmp(s, "enforce") == 0)
		*out = STS_MODE_ENFORCE;
	else if (strcmp(s, "testing") == 0)
		*out = STS_MODE_TESTING;
	else if (strcmp(s, "none") == 0)
		*out = STS_MODE_NONE;
	else
		return -1;
	return 0;
}

void
sts_policy_free(struct sts_policy *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->nmx; i++)
		free(p->mx[i]);
	free(p->mx);
	free(p);
}

/* sts-policy-ext-name = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".") */
static int
ext_name_ok(const char *k, size_t n)
{
	size_t i;

	if (n == 0 || n > STS_EXT_NAME_MAX ||
	    !(is_alpha((unsigned char)k[0]) || is_digit((unsigned char)k[0])))
		return 0;
	for (i = 1; i < n; i++) {
		unsigned char c = (unsigned char)k[i];

		if (!is_alpha(c) && !is_digit(c) && c != '_' && c != '-' &&
		    c != '.')
			return 0;
	}
	return 1;
}

/* A value: no control characters (CTLs, DEL); UTF-8 bytes allowed. */
static int
value_ok(const char *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return 0;
		if (c == '\t')		/* only as surrounding WSP, trimmed */
			return 0;
	}
	return 1;
}

static int
key_is(const char *k, size_t n, const char *word)
{
	return strlen(word) == n && memcmp(k, word, n) == 0;
}

struct policy_parse {
	struct sts_policy *p;
	size_t             mxcap;
	int                seen_version, seen_mode, seen_max_age;
	size_t             fields;
};

static int
policy_add_mx(struct policy_parse *pp, const char *v, size_t n)
{
	char pat[STS_PATTERN_MAX];
	struct sts_policy *p = pp->p;

	if (mx_pattern_normalize(v, n, pat, sizeof(pat)) < 0) {
		p->nmx_ignored++;
		return 0;
	}
	if (p->nmx == pp->mxcap) {
		pp->mxcap = pp->mxcap ? pp->mxcap * 2 : 8;
		p->mx = xrealloc(p->mx, pp->mxcap * sizeof(p->mx[0]));
	}
	p->mx[p->nmx++] = xstrdup(pat);
	return 0;
}

/* One non-empty line, already split into trimmed key and value. */
static int
policy_field(struct policy_parse *pp, const char *k, size_t kn,
    const char *v, size_t vn, char *why, size_t whylen)
{
	struct sts_policy *p = pp->p;
	char buf[16];
	uint64_t age;

	if (!ext_name_ok(k, kn)) {
		set_why(why, whylen, "malformed key");
		return -1;
	}
	if (vn == 0 || !value_ok(v, vn)) {
		set_why(why, whylen, "empty value or control characters");
		return -1;
	}
	pp->fields++;
	if (key_is(k, kn, "version")) {
		if (pp->seen_version || pp->fields != 1) {
			set_why(why, whylen, pp->seen_version ?
			    "duplicate version" : "version is not the first field");
			return -1;
		}
		if (!(vn == 5 && memcmp(v, "STSv1", 5) == 0)) {
			set_why(why, whylen, "version is not STSv1");
			return -1;
		}
		pp->seen_version = 1;
		return 0;
	}
	if (pp->fields == 1) {
		set_why(why, whylen, "version is not the first field");
		return -1;
	}
	if (key_is(k, kn, "mode")) {
		if (pp->seen_mode) {
			set_why(why, whylen, "duplicate mode");
			return -1;
		}
		if (vn >= sizeof(buf)) {
			set_why(why, whylen, "unknown mode");
			return -1;
		}
		memcpy(buf, v, vn);
		buf[vn] = '\0';
		if (sts_mode_parse(buf, &p->mode) < 0) {
			set_why(why, whylen, "unknown mode");
			return -1;
		}
		pp->seen_mode = 1;
		return 0;
	}
	if (key_is(k, kn, "max_age")) {
		if (pp->seen_max_age) {
			set_why(why, whylen, "duplicate max_age");
			return -1;
		}
		/* 1*10(DIGIT), and at most STS_MAX_AGE_MAX */
		if (vn > 10 || util_parse_uint(v, vn, STS_MAX_AGE_MAX,
		    &age) < 0) {
			set_why(why, whylen, "max_age not a number in "
			    "0-31557600");
			return -1;
		}
		p->max_age = (uint32_t)age;
		pp->seen_max_age = 1;
		return 0;
	}
	if (key_is(k, kn, "mx"))
		return policy_add_mx(pp, v, vn);
	return 0;			/* unknown keys are ignored (3.2) */
}

/* Split one line (no terminator) into key and value and handle it. */
static int
policy_line(struct policy_parse *pp, const char *s, size_t n, char *why,
    size_t whylen)
{
	const char *colon;
	size_t kb = 0, ke, vb, ve = n;

	while (kb < n && is_wsp((unsigned char)s[kb]))
		kb++;
	if (kb == n)
		return 0;		/* empty line */
	colon = memchr(s, ':', n);
	if (colon == NULL) {
		set_why(why, whylen, "line without ':'");
		return -1;
	}
	ke = (size_t)(colon - s);
	while (ke > kb && is_wsp((unsigned char)s[ke - 1]))
		ke--;
	vb = (size_t)(colon - s) + 1;
	while (vb < n && is_wsp((unsigned char)s[vb]))
		vb++;
	while (ve > vb && is_wsp((unsigned char)s[ve - 1]))
		ve--;
	return policy_field(pp, s + kb, ke - kb, s + vb, ve - vb, why,
	    whylen);
}

int
sts_policy_parse(const char *body, size_t len, struct sts_policy **out,
    char *why, size_t whylen)
{
	struct policy_parse pp;
	size_t pos = 0;

	*out = NULL;
	set_why(why, whylen, "");
	if (body == NULL || len > STS_POLICY_MAX) {
		set_why(why, whylen, "policy larger than 64 KiB");
		return -1;
	}
	memset(&pp, 0, sizeof(pp));
	pp.p = xcalloc(1, sizeof(*pp.p));
	while (pos < len) {
		const char *lf = memchr(body + pos, '\n', len - pos);
		size_t end = lf ? (size_t)(lf - body) : len, n = end - pos;

		/* CRLF or LF; a CR anywhere else is a control character */
		if (lf && n > 0 && body[end - 1] == '\r')
			n--;
		if (policy_line(&pp, body + pos, n, why, whylen) < 0)
			goto bad;
		pos = lf ? end + 1 : len;
	}
	if (!pp.seen_version || !pp.seen_mode || !pp.seen_max_age) {
		set_why(why, whylen, !pp.seen_version ? "no version" :
		    !pp.seen_mode ? "no mode" : "no max_age");
		goto bad;
	}
	if (pp.p->mode != STS_MODE_NONE && pp.p->nmx == 0) {
		set_why(why, whylen, pp.p->nmx_ignored ?
		    "no usable mx pattern" : "no mx pattern");
		goto bad;
	}
	*out = pp.p;
	return 0;
bad:
	sts_policy_free(pp.p);
	return -1;
}

/* ---- the TXT record (3.1) ------------------------------------------------- */

/*
 * sts-text-record = sts-version 1*(sts-field-delim sts-field)
 *                   [sts-field-delim]
 * sts-field-delim = *WSP ";" *WSP
 * sts-id          = %s"id=" 1*32(ALPHA / DIGIT)
 * sts-extension   = sts-ext-name "=" sts-ext-value
 * sts-ext-value   = 1*(%x21-3A / %x3C / %x3E-7E)
 */
static int
txt_ext_value_ok(const char *v, size_t n)
{
	size_t i;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c < 0x21 || c > 0x7e || c == ';' || c == '=')
			return 0;
	}
	return 1;
}

/* After "v=STSv1": a field delimiter follows (*WSP ";"). */
static int
txt_starts_sts(const char *r, size_t n)
{
	size_t i = 7;

	if (n < 7 || memcmp(r, "v=STSv1", 7) != 0)
		return 0;
	while (i < n && is_wsp((unsigned char)r[i]))
		i++;
	return i < n && r[i] == ';';
}

static int
txt_record_fields(const char *r, size_t n, char id[STS_ID_MAX + 1])
{
	size_t i, fields = 0;
	int have_id = 0;

	if (!txt_starts_sts(r, n))
		return -1;
	i = 7;
	for (;;) {
		size_t fb, fe, eq;

		/* delimiter: *WSP ";" *WSP */
		while (i < n && is_wsp((unsigned char)r[i]))
			i++;
		if (i == n)
			break;
		if (r[i] != ';')
			return -1;
		i++;
		while (i < n && is_wsp((unsigned char)r[i]))
			i++;
		if (i == n)
			break;		/* the optional trailing delimiter */
		fb = i;
		while (i < n && r[i] != ';' && !is_wsp((unsigned char)r[i]))
			i++;
		fe = i;
		for (eq = fb; eq < fe && r[eq] != '='; eq++)
			;
		if (eq == fe)
			return -1;
		fields++;
		if (eq - fb == 2 && memcmp(r + fb, "id", 2) == 0) {
			size_t k, vn = fe - eq - 1;

			if (have_id || vn == 0 || vn > STS_ID_MAX)
				return -1;
			for (k = eq + 1; k < fe; k++)
				if (!is_alpha((unsigned char)r[k]) &&
				    !is_digit((unsigned char)r[k]))
					return -1;
			memcpy(id, r + eq + 1, vn);
			id[vn] = '\0';
			have_id = 1;
		} else if (!ext_name_ok(r + fb, eq - fb) ||
		    !txt_ext_value_ok(r + eq + 1, fe - eq - 1)) {
			return -1;
		}
	}
	return fields > 0 && have_id ? 0 : -1;
}

int
sts_txt_record_parse(const char *r, size_t n, char id[STS_ID_MAX + 1])
{
	id[0] = '\0';
	if (txt_record_fields(r, n, id) < 0) {
		id[0] = '\0';		/* no half answers */
		return -1;
	}
	return 0;
}

enum sts_txt_status
sts_txt_parse(const char *const *recs, size_t n, char id[STS_ID_MAX + 1],
    char *why, size_t whylen)
{
	size_t i, found = 0, which = 0;

	id[0] = '\0';
	set_why(why, whylen, "");
	for (i = 0; i < n; i++) {
		if (recs[i] != NULL &&
		    txt_starts_sts(recs[i], strlen(recs[i]))) {
			found++;
			which = i;
		}
	}
	if (found == 0) {
		set_why(why, whylen, "no v=STSv1 record");
		return STS_TXT_NONE;
	}
	if (found > 1) {
		set_why(why, whylen, "more than one v=STSv1 record");
		return STS_TXT_NONE;
	}
	if (sts_txt_record_parse(recs[which], strlen(recs[which]), id) < 0) {
		set_why(why, whylen, "malformed v=STSv1 record");
		return STS_TXT_NONE;
	}
	return STS_TXT_FOUND;
}

/* ---- Content-Type (3.2: "text/plain") ------------------------------------- */

int
sts_media_type_ok(const char *ct)
{
	size_t i = 0;

	if (ct == NULL)
		return 0;
	while (is_wsp((unsigned char)ct[i]))
		i++;
	if (util_strncasecmp(ct + i, "text/plain", 10) != 0)
		return 0;
	i += 10;
	while (is_wsp((unsigned char)ct[i]))
		i++;
	return ct[i] == '\0' || ct[i] == ';';
}

/* ---- failure names (RFC 8460 4.3.2.3) -------------------------------------- */

const char *
sts_failure_name(enum sts_failure f)
{
	switch (f) {
	case STS_FAIL_NONE: return "none";
	case STS_FAIL_FETCH: return "sts-policy-fetch-error";
	case STS_FAIL_WEBPKI: return "sts-webpki-invalid";
	case STS_FAIL_INVALID: return "sts-policy-invalid";
	}
	return "?";
}
