/*
 * tlsrpt_mail.c - the mail form of a TLS report (RFC 8460 5.3).
 *
 * The sender (docs/tlsrpt-contract.md 4) has the gzip'ed JSON report and
 * a mailto: address; this file makes the message it drops into our own
 * queue: a multipart/report (RFC 6522) with report-type "tlsrpt", a
 * short text/plain part for people and the report as an
 * application/tlsrpt+gzip attachment in base64, named as RFC 8460 5.1
 * recommends.  TLS-Report-Domain / TLS-Report-Submitter let a receiver
 * sort reports without opening them; TLS-Required: No (RFC 8689) lets
 * the report through when the policy domain's TLS is what is broken -
 * the reason the report exists.  Optionally DKIM-signed
 * (tlsrpt_dkim.c), the signature first.
 *
 * Every input comes from the store or from DNS (the mailto: address of
 * a TXT record), so each is checked against a strict character set
 * before it goes into a header: nothing can end a header early or
 * smuggle in another one.  The output is 7bit, CRLF, lines of at most
 * 78 characters where the RFC 5322 2.1.1 SHOULD can be met (headers
 * fold at spaces; a 253-character domain name cannot fold and is left
 * whole, well under the 998 limit), base64 lines of 76 (RFC 2045 6.8).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "tlsrpt.h"
#include "util.h"

#define TLSRPT_MAIL_LINE	78	/* RFC 5322 2.1.1 SHOULD */
#define TLSRPT_MAIL_B64_IN	57	/* bytes per base64 line: 76 chars,
					 * RFC 2045 6.8 */
#define TLSRPT_MAIL_ADDR_MAX	320	/* local 64 + '@' + domain 255,
					 * RFC 5321 4.5.3.1 */
#define TLSRPT_MAIL_ID_MAX	255	/* report-id we put in headers */
#define TLSRPT_MAIL_HEAD_MAX	(16 * 1024)	/* everything but base64 */
#define TLSRPT_MAIL_RAND	8	/* random bytes in ids, boundary */

/* ---- checks on what goes into headers ------------------------------------- */

/* A DNS name in A-label form (RFC 8460 5.1 asks for A-labels). */
static int
ok_domain(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	size_t i;

	if (n == 0 || n > TLSRPT_NAME_MAX || s[0] == '.' || s[0] == '-')
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_'))
			return 0;
	}
	return 1;
}

/*
 * Printable ASCII without space and without the characters that would
 * change what a header means around it: <>()[],;:"\ .  Enough for the
 * addr-spec of a mailto: URI and for a report-id.
 */
static int
ok_token(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;
	size_t i;

	if (n == 0 || n > max)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c >= 0x7f || strchr("<>()[],;\"\\", c))
			return 0;
	}
	return 1;
}

static int
ok_addr(const char *s)
{
	const char *at;

	if (!ok_token(s, TLSRPT_MAIL_ADDR_MAX) || strchr(s, ':'))
		return 0;
	at = strrchr(s, '@');
	return at != NULL && at != s && ok_domain(at + 1);
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* "YYYY-MM-DDTHH:MM:SSZ" (the form tlsrpt_json.c writes) to epoch. */
static int
rfc3339_epoch(const char *s, int64_t *out)
{
	uint64_t y, mo, d, h, mi, se;
	char day[TLSRPT_DAY_LEN];

	if (s == NULL || strlen(s) != 20 || s[10] != 'T' || s[13] != ':' ||
	    s[16] != ':' || s[19] != 'Z')
		return -1;
	memcpy(day, s, TLSRPT_DAY_LEN - 1);
	day[TLSRPT_DAY_LEN - 1] = '\0';
	if (tlsrpt_day_valid(day) < 0 ||
	    util_parse_uint(s, 4, 9999, &y) < 0 ||
	    util_parse_uint(s + 5, 2, 12, &mo) < 0 ||
	    util_parse_uint(s + 8, 2, 31, &d) < 0 ||
	    util_parse_uint(s + 11, 2, 23, &h) < 0 ||
	    util_parse_uint(s + 14, 2, 59, &mi) < 0 ||
	    util_parse_uint(s + 17, 2, 60, &se) < 0)
		return -1;
	*out = days_from_civil((int64_t)y, (unsigned)mo, (unsigned)d) *
	    86400 + (int64_t)(h * 3600 + mi * 60 + se);
	return 0;
}

/* ---- writing -------------------------------------------------------------- */

/*
 * "Name: value" folded before a space wherever the line would pass 78
 * characters (RFC 5322 2.2.3: unfolding gives the value back exactly).
 */
static int
hdr_put(struct dynbuf *b, const char *name, const char *value)
{
	size_t col = strlen(name) + 1;
	const char *p = value;
	int rc = dynbuf_addf(b, "%s:", name);

	while (rc == 0 && *p != '\0') {
		const char *sp = strchr(p, ' ');
		size_t n = sp ? (size_t)(sp - p) : strlen(p);

		if (col + 1 + n > TLSRPT_MAIL_LINE && p != value) {
			rc = dynbuf_add(b, "\r\n", 2);
			col = 0;
		}
		if (rc == 0)
			rc = dynbuf_add(b, " ", 1);
		if (rc == 0)
			rc = dynbuf_add(b, p, n);
		col += 1 + n;
		p += n;
		if (*p == ' ')
			p++;
	}
	return rc == 0 ? dynbuf_add(b, "\r\n", 2) : -1;
}

static int
b64_put(struct dynbuf *b, const unsigned char *p, size_t n)
{
	unsigned char line[4 * TLSRPT_MAIL_B64_IN / 3 + 4];

	while (n > 0) {
		size_t k = n < TLSRPT_MAIL_B64_IN ? n : TLSRPT_MAIL_B64_IN;
		int m = EVP_EncodeBlock(line, p, (int)k);

		if (m < 0 || dynbuf_add(b, line, (size_t)m) < 0 ||
		    dynbuf_add(b, "\r\n", 2) < 0)
			return -1;
		p += k;
		n -= k;
	}
	return 0;
}

/* Hex of fresh random bytes; a clock-derived fallback if RAND fails
 * (uniqueness matters here, not secrecy). */
static void
rand_hex(char out[2 * TLSRPT_MAIL_RAND + 1])
{
	unsigned char r[TLSRPT_MAIL_RAND];
	size_t i;

	if (RAND_bytes(r, sizeof(r)) != 1) {
		uint64_t t = util_now_ms() ^ (uint64_t)util_wall_time() << 20;

		memcpy(r, &t, sizeof(r) < sizeof(t) ? sizeof(r) : sizeof(t));
	}
	for (i = 0; i < sizeof(r); i++)
		snprintf(out + 2 * i, 3, "%02x", r[i]);
}

static int
mail_head(struct dynbuf *b, const struct tlsrpt_mail_info *mi,
    const char *boundary)
{
	char date[64], rnd[2 * TLSRPT_MAIL_RAND + 1], *v;
	int rc;

	rand_hex(rnd);
	util_rfc5322_date(mi->now, date, sizeof(date));
	v = xasprintf("<%s.%lld@%s>", rnd, (long long)mi->now, mi->submitter);
	rc = hdr_put(b, "Message-ID", v);
	free(v);
	rc |= hdr_put(b, "Date", date);
	rc |= hdr_put(b, "From", mi->from);
	rc |= hdr_put(b, "To", mi->to);
	/* RFC 8460 5.3 tlsrpt-subject */
	v = xasprintf("Report Domain: %s Submitter: %s Report-ID: <%s>",
	    mi->policy_domain, mi->submitter, mi->report_id);
	rc |= hdr_put(b, "Subject", v);
	free(v);
	rc |= hdr_put(b, "TLS-Report-Domain", mi->policy_domain);
	rc |= hdr_put(b, "TLS-Report-Submitter", mi->submitter);
	rc |= hdr_put(b, "TLS-Required", "No");
	rc |= hdr_put(b, "MIME-Version", "1.0");
	v = xasprintf("multipart/report; report-type=\"tlsrpt\"; "
	    "boundary=\"%s\"", boundary);
	rc |= hdr_put(b, "Content-Type", v);
	free(v);
	return rc != 0 ? -1 : 0;
}

static int
mail_text(struct dynbuf *b, const struct tlsrpt_mail_info *mi,
    const char *boundary)
{
	return dynbuf_addf(b, "\r\nThis is a MIME message (RFC 6522 "
	    "multipart/report).\r\n\r\n--%s\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n"
	    "Content-Transfer-Encoding: 7bit\r\n\r\n"
	    "This is an aggregate SMTP TLS report (RFC 8460): how TLS went\r\n"
	    "on our connections to the mail servers of the policy domain.\r\n"
	    "\r\n"
	    "Policy domain: %s\r\n"
	    "Submitter:     %s\r\n"
	    "Report-ID:     <%s>\r\n"
	    "Period start:  %s\r\n"
	    "Period end:    %s\r\n"
	    "\r\n"
	    "The report is the attached gzip-compressed JSON file\r\n"
	    "(application/tlsrpt+gzip).\r\n\r\n",
	    boundary, mi->policy_domain, mi->submitter, mi->report_id,
	    mi->start, mi->end);
}

int
tlsrpt_mail_filename(const struct tlsrpt_mail_info *mi, char *out,
    size_t outlen)
{
	int64_t begin, end;
	int n;

	if (!ok_domain(mi->submitter) || !ok_domain(mi->policy_domain) ||
	    rfc3339_epoch(mi->start, &begin) < 0 ||
	    rfc3339_epoch(mi->end, &end) < 0 || end < begin)
		return -1;
	/* RFC 8460 5.1: sender!policy-domain!begin!end.json.gz; no
	 * unique-id (it must be alphanumeric; our report-id is not) */
	n = snprintf(out, outlen, "%s!%s!%lld!%lld.json.gz", mi->submitter,
	    mi->policy_domain, (long long)begin, (long long)end);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

static int
mail_check(const struct tlsrpt_mail_info *mi, char *err, size_t errlen)
{
	const char *bad = NULL;
	int64_t t;

	if (!ok_domain(mi->policy_domain))
		bad = "policy domain";
	else if (!ok_domain(mi->submitter))
		bad = "submitter";
	else if (!ok_addr(mi->from))
		bad = "From address";
	else if (!ok_addr(mi->to))
		bad = "To address";
	else if (!ok_token(mi->report_id, TLSRPT_MAIL_ID_MAX))
		bad = "report-id";
	else if (rfc3339_epoch(mi->start, &t) < 0)
		bad = "start of the date range";
	else if (rfc3339_epoch(mi->end, &t) < 0)
		bad = "end of the date range";
	else if (mi->dkim_key != NULL && mi->dkim_domain != NULL &&
	    !ok_domain(mi->dkim_domain))
		bad = "DKIM domain";
	else if (mi->dkim_key != NULL && !ok_domain(mi->dkim_selector))
		bad = "DKIM selector";
	if (bad == NULL)
		return 0;
	snprintf(err, errlen, "report mail: bad or missing %s", bad);
	return -1;
}

int
tlsrpt_mail_build(const struct tlsrpt_mail_info *mi,
    const unsigned char *gz, size_t gzlen, char **out, size_t *outlen,
    char *err, size_t errlen)
{
	char boundary[2 * TLSRPT_MAIL_RAND + 16], rnd[2 * TLSRPT_MAIL_RAND + 1];
	char fname[2 * TLSRPT_NAME_MAX + 64], *msg, *sig;
	size_t b64len, msglen, siglen;
	struct dynbuf b;
	int rc;

	*out = NULL;
	*outlen = 0;
	if (mail_check(mi, err, errlen) < 0)
		return -1;
	if (gz == NULL || gzlen == 0 || gzlen > TLSRPT_REPORT_MAX) {
		snprintf(err, errlen, "report mail: report of %zu bytes", gzlen);
		return -1;
	}
	if (tlsrpt_mail_filename(mi, fname, sizeof(fname)) < 0) {
		snprintf(err, errlen, "report mail: no filename");
		return -1;
	}
	/* "=_" never occurs in base64 or in our text (RFC 2045 6.7 trick) */
	rand_hex(rnd);
	snprintf(boundary, sizeof(boundary), "=_tlsrpt_%s", rnd);
	b64len = (gzlen + TLSRPT_MAIL_B64_IN - 1) / TLSRPT_MAIL_B64_IN *
	    (4 * TLSRPT_MAIL_B64_IN / 3 + 2);
	dynbuf_init(&b, TLSRPT_MAIL_HEAD_MAX + b64len);
	rc = mail_head(&b, mi, boundary);
	if (rc == 0)
		rc = mail_text(&b, mi, boundary);
	if (rc == 0)
		rc = dynbuf_addf(&b, "--%s\r\n"
		    "Content-Type: application/tlsrpt+gzip\r\n"
		    "Content-Transfer-Encoding: base64\r\n", boundary);
	if (rc == 0) {
		char *v = xasprintf("attachment; filename=\"%s\"", fname);

		rc = hdr_put(&b, "Content-Disposition", v);
		free(v);
	}
	if (rc == 0)
		rc = dynbuf_add(&b, "\r\n", 2);
	if (rc == 0)
		rc = b64_put(&b, gz, gzlen);
	if (rc == 0)
		rc = dynbuf_addf(&b, "\r\n--%s--\r\n", boundary);
	if (rc < 0) {
		dynbuf_free(&b);
		snprintf(err, errlen, "report mail: too large");
		return -1;
	}
	msg = dynbuf_take(&b, &msglen);
	if (mi->dkim_key == NULL) {
		*out = msg;
		*outlen = msglen;
		return 0;
	}
	if (tlsrpt_dkim_sign(msg, msglen, mi->dkim_domain ? mi->dkim_domain :
	    mi->submitter, mi->dkim_selector, mi->dkim_key, &sig, &siglen,
	    err, errlen) < 0) {
		free(msg);
		return -1;
	}
	*out = xmalloc(siglen + msglen + 1);
	memcpy(*out, sig, siglen);
	memcpy(*out + siglen, msg, msglen);
	(*out)[siglen + msglen] = '\0';
	*outlen = siglen + msglen;
	free(sig);
	free(msg);
	return 0;
}
