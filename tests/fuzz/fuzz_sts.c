/*
 * fuzz_sts.c - the MTA-STS parsers of tls/sts_policy.c and the name
 * matchers of tls/sts_cert.c: policy bodies (RFC 8461 3.2), TXT records
 * one by one and as a set (3.1), mx pattern and certificate name
 * matching (4.1), Content-Type and domain normalisation.  Policy hosts
 * and DNS answers are attacker-controlled.
 *
 * The first input byte picks the parser; the rest is its input.  Besides
 * "no crash, no leak", each branch checks what sts.h promises.
 */
#include "fuzz_common.h"

#include "tls/sts.h"

static int
alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

static void
fuzz_policy(const uint8_t *d, size_t n)
{
	struct sts_policy *p = NULL;
	char why[STS_REASON_MAX];
	size_t i;

	if (sts_policy_parse((const char *)d, n, &p, why, sizeof(why)) < 0) {
		FUZZ_CHECK(p == NULL);
		FUZZ_CHECK(fuzz_terminated(why, sizeof(why)) && why[0] != '\0');
		return;
	}
	FUZZ_CHECK(n <= STS_POLICY_MAX);
	FUZZ_CHECK(p->max_age <= STS_MAX_AGE_MAX);
	FUZZ_CHECK(p->mode == STS_MODE_NONE || p->nmx > 0);
	for (i = 0; i < p->nmx; i++) {
		const char *m = p->mx[i];
		char norm[STS_PATTERN_MAX], host[STS_PATTERN_MAX + 8];
		size_t off = (m[0] == '*') ? 2 : 0;

		/* stored patterns are already normal: idempotent */
		FUZZ_CHECK(strlen(m) < STS_PATTERN_MAX);
		FUZZ_CHECK(sts_domain_normalize(m + off, strlen(m + off), norm,
		    sizeof(norm)) == 0 && strcmp(norm, m + off) == 0);
		/* a pattern matches the name it describes */
		if (off)
			snprintf(host, sizeof(host), "x.%s", m + 2);
		else
			snprintf(host, sizeof(host), "%s", m);
		FUZZ_CHECK(sts_policy_mx_match(p, host));
		/* a wildcard never matches its bare parent or two labels */
		if (off) {
			FUZZ_CHECK(!sts_mx_match(m, m + 2));
			snprintf(host, sizeof(host), "x.y.%s", m + 2);
			FUZZ_CHECK(!sts_mx_match(m, host));
		}
	}
	sts_policy_free(p);
}

static void
fuzz_txt_record(const uint8_t *d, size_t n)
{
	char id[STS_ID_MAX + 1];
	size_t i, len;

	memset(id, 0x55, sizeof(id));
	if (sts_txt_record_parse((const char *)d, n, id) < 0) {
		FUZZ_CHECK(id[0] == '\0');
		return;
	}
	len = strlen(id);
	FUZZ_CHECK(len >= 1 && len <= STS_ID_MAX);
	for (i = 0; i < len; i++)
		FUZZ_CHECK(alnum(id[i]));
	FUZZ_CHECK(n >= 7 && memcmp(d, "v=STSv1", 7) == 0);
}

/* Records separated by '\n' (C strings: a NUL ends a record early). */
static void
fuzz_txt_set(const uint8_t *d, size_t n)
{
	char *copy = fuzz_strndup(d, n), *recs[32], *s = copy, *nl;
	char id[STS_ID_MAX + 1], why[STS_REASON_MAX];
	size_t k = 0;

	while (k < 32) {
		recs[k++] = s;
		nl = strchr(s, '\n');
		if (nl == NULL)
			break;
		*nl = '\0';
		s = nl + 1;
	}
	if (sts_txt_parse((const char *const *)recs, k, id, why,
	    sizeof(why)) == STS_TXT_FOUND)
		FUZZ_CHECK(strlen(id) >= 1 && strlen(id) <= STS_ID_MAX);
	else
		FUZZ_CHECK(id[0] == '\0' && why[0] != '\0');
	free(copy);
}

/* pattern '\n' host */
static void
fuzz_match(const uint8_t *d, size_t n, int cert)
{
	char *copy = fuzz_strndup(d, n), *host = strchr(copy, '\n');
	int m;

	if (host == NULL) {
		free(copy);
		return;
	}
	*host++ = '\0';
	m = cert ? sts_cert_name_match(copy, host) :
	    sts_mx_match(copy, host);
	FUZZ_CHECK(m == 0 || m == 1);
	/* a match of a non-wildcard is symmetric, and case-blind */
	if (m && copy[0] != '*')
		FUZZ_CHECK(util_strcasecmp(copy, host) == 0 ||
		    strlen(copy) != strlen(host));
	if (cert && m)	/* a certificate name match is also an mx match */
		FUZZ_CHECK(sts_mx_match(copy, host));
	free(copy);
}

static void
fuzz_domain(const uint8_t *d, size_t n)
{
	char out[STS_DOMAIN_MAX], again[STS_DOMAIN_MAX];

	if (sts_domain_normalize((const char *)d, n, out, sizeof(out)) < 0)
		return;
	FUZZ_CHECK(fuzz_terminated(out, sizeof(out)));
	FUZZ_CHECK(sts_domain_normalize(out, strlen(out), again,
	    sizeof(again)) == 0 && strcmp(out, again) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size < 1)
		return 0;
	switch (data[0] % 7) {
	case 0: fuzz_policy(data + 1, size - 1); break;
	case 1: fuzz_txt_record(data + 1, size - 1); break;
	case 2: fuzz_txt_set(data + 1, size - 1); break;
	case 3: fuzz_match(data + 1, size - 1, 0); break;
	case 4: fuzz_match(data + 1, size - 1, 1); break;
	case 5: fuzz_domain(data + 1, size - 1); break;
	case 6:
		s = fuzz_strndup(data + 1, size - 1);
		(void)sts_media_type_ok(s);
		free(s);
		break;
	}
	return 0;
}
