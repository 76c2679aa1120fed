/*
 * test_tls_tlsrpt_txt.c - the _smtp._tls TXT parser (tls/tlsrpt_txt.c,
 * RFC 8460 3) as a table: accepted records with the URIs kept, refused
 * records with the reason, and the one-record rule over an RRset.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "tls/tlsrpt.h"

struct txt_case {
	const char *rec;
	int         ok;
	size_t      nrua, nskipped;
	const char *uri0, *uri1;	/* expected first two URIs */
	uint64_t    size0;		/* size limit of the first */
	const char *why;		/* substring of the refusal */
};

static const struct txt_case cases[] = {
	/* RFC 8460 3.1 examples */
	{ "v=TLSRPTv1; rua=mailto:reports@example.com", 1, 1, 0,
	  "mailto:reports@example.com", NULL, 0, NULL },
	{ "v=TLSRPTv1; rua=https://reporting.example.com/v1/tlsrpt", 1, 1, 0,
	  "https://reporting.example.com/v1/tlsrpt", NULL, 0, NULL },
	/* several URIs, whitespace everywhere, trailing delimiter */
	{ "v=TLSRPTv1 ;  rua = mailto:a@x.test , https://r.x.test/p ; ", 1, 2,
	  0, "mailto:a@x.test", "https://r.x.test/p", 0, NULL },
	{ "v=TLSRPTv1;rua=mailto:a@x.test,mailto:b@y.test", 1, 2, 0,
	  "mailto:a@x.test", "mailto:b@y.test", 0, NULL },
	/* two rua fields add up; case of rua and schemes tolerated */
	{ "v=TLSRPTv1; RUA=MAILTO:a@x.test; rua=HTTPS://h.test/", 1, 2, 0,
	  "MAILTO:a@x.test", "HTTPS://h.test/", 0, NULL },
	/* unknown schemes skipped, the rest kept */
	{ "v=TLSRPTv1; rua=ftp://x.test/, mailto:a@x.test", 1, 1, 1,
	  "mailto:a@x.test", NULL, 0, NULL },
	{ "v=TLSRPTv1; rua=http://x.test/r, https://x.test/r", 1, 1, 1,
	  "https://x.test/r", NULL, 0, NULL },
	/* DMARC-style size suffix kept as a limit */
	{ "v=TLSRPTv1; rua=mailto:a@x.test!10m", 1, 1, 0, "mailto:a@x.test",
	  NULL, 10ULL << 20, NULL },
	{ "v=TLSRPTv1; rua=mailto:a@x.test!2048", 1, 1, 0, "mailto:a@x.test",
	  NULL, 2048, NULL },
	/* a '!' not followed by a size is part of the URI */
	{ "v=TLSRPTv1; rua=https://x.test/a!b", 1, 1, 0, "https://x.test/a!b",
	  NULL, 0, NULL },
	/* extension fields and junk fields ignored */
	{ "v=TLSRPTv1; ext_1=foo; rua=mailto:a@x.test; junk", 1, 1, 0,
	  "mailto:a@x.test", NULL, 0, NULL },
	/* empty elements in the list are not URIs */
	{ "v=TLSRPTv1; rua=,mailto:a@x.test,,", 1, 1, 0, "mailto:a@x.test",
	  NULL, 0, NULL },
	/* refusals */
	{ "v=TLSRPTv1", 0, 0, 0, NULL, NULL, 0, "no rua" },
	{ "v=TLSRPTv1;", 0, 0, 0, NULL, NULL, 0, "no rua" },
	{ "v=TLSRPTv1; ext=1", 0, 0, 0, NULL, NULL, 0, "no rua" },
	{ "v=TLSRPTv1; rua=", 0, 0, 0, NULL, NULL, 0, "no usable" },
	{ "v=TLSRPTv1; rua=ftp://x.test/", 0, 0, 1, NULL, NULL, 0,
	  "no usable" },
	{ "v=TLSRPTv1; rua=mailto:nobody", 0, 0, 1, NULL, NULL, 0,
	  "no usable" },
	{ "v=TLSRPTv1; rua=https:///path", 0, 0, 1, NULL, NULL, 0,
	  "no usable" },
	{ "v=TLSRPTv1; rua=mailto:a@x.test!99999999999999999999", 0, 0, 1,
	  NULL, NULL, 0, "no usable" },
	{ "v=tlsrptv1; rua=mailto:a@x.test", 0, 0, 0, NULL, NULL, 0,
	  "not a v=TLSRPTv1" },
	{ " v=TLSRPTv1; rua=mailto:a@x.test", 0, 0, 0, NULL, NULL, 0,
	  "not a v=TLSRPTv1" },
	{ "v=TLSRPTv10; rua=mailto:a@x.test", 0, 0, 0, NULL, NULL, 0,
	  "not a v=TLSRPTv1" },
	{ "v=STSv1; id=1", 0, 0, 0, NULL, NULL, 0, "not a v=TLSRPTv1" },
	{ "v=TLSRPTv1; rua=mailto:a@x.test\r\n", 0, 0, 0, NULL, NULL, 0,
	  "control" },
	{ "v=TLSRPTv1; rua=mailto:\xc3\xa9@x.test", 0, 0, 0, NULL, NULL, 0,
	  "non-ASCII" },
};

static void
test_table(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct txt_case *c = &cases[i];
		struct tlsrpt_txt t;
		char why[128] = "";
		int rc = tlsrpt_txt_parse(c->rec, strlen(c->rec), &t, why,
		    sizeof(why));

		printf("case %zu: %s -> %d %s\n", i, c->rec, rc, why);
		assert_int_equal(rc, c->ok ? 0 : -1);
		assert_int_equal(t.nskipped, c->nskipped);
		if (!c->ok) {
			assert_non_null(strstr(why, c->why));
			continue;
		}
		assert_int_equal(t.nrua, c->nrua);
		assert_string_equal(t.rua[0].uri, c->uri0);
		assert_int_equal(t.rua[0].size_limit, c->size0);
		assert_int_equal(t.rua[0].scheme,
		    strncasecmp(c->uri0, "mailto:", 7) == 0 ?
		    TLSRPT_URI_MAILTO : TLSRPT_URI_HTTPS);
		if (c->uri1 != NULL)
			assert_string_equal(t.rua[1].uri, c->uri1);
	}
}

static void
test_limits(void **state)
{
	char rec[TLSRPT_TXT_MAX + 64], why[128];
	struct tlsrpt_txt t;
	size_t n = 0, i;

	/* more URIs than kept: the extra ones count as skipped */
	n = (size_t)snprintf(rec, sizeof(rec), "v=TLSRPTv1; rua=");
	for (i = 0; i < TLSRPT_RUA_MAX + 3; i++)
		n += (size_t)snprintf(rec + n, sizeof(rec) - n,
		    "%smailto:r%zu@x.test", i ? "," : "", i);
	assert_int_equal(tlsrpt_txt_parse(rec, n, &t, why, sizeof(why)), 0);
	assert_int_equal(t.nrua, TLSRPT_RUA_MAX);
	assert_int_equal(t.nskipped, 3);
	/* an over-long URI is skipped */
	n = (size_t)snprintf(rec, sizeof(rec), "v=TLSRPTv1; rua=https://x/");
	memset(rec + n, 'a', TLSRPT_URI_MAX);
	n += TLSRPT_URI_MAX;
	assert_int_equal(tlsrpt_txt_parse(rec, n, &t, why, sizeof(why)), -1);
	assert_int_equal(t.nskipped, 1);
	/* an over-long record is refused whole */
	memset(rec, ' ', sizeof(rec));
	memcpy(rec, "v=TLSRPTv1; rua=mailto:a@x.test", 31);
	assert_int_equal(tlsrpt_txt_parse(rec, TLSRPT_TXT_MAX + 1, &t, why,
	    sizeof(why)), -1);
	assert_non_null(strstr(why, "longer"));
	/* NUL inside */
	{
		static const char nul[] = "v=TLSRPTv1; rua=mailto:a@x\0.t";

		assert_int_equal(tlsrpt_txt_parse(nul, sizeof(nul) - 1, &t,
		    why, sizeof(why)), -1);
	}
}

static void
test_select(void **state)
{
	const char *one[] = { "v=spf1 -all", "v=TLSRPTv1; rua=mailto:a@x.test",
	    "google-site-verification=abc" };
	const char *two[] = { "v=TLSRPTv1; rua=mailto:a@x.test",
	    "v=TLSRPTv1; rua=mailto:b@x.test" };
	const char *none[] = { "v=spf1 -all" };
	/* a record that claims the version but is broken is still one */
	const char *broken[] = { "v=TLSRPTv1; rua=ftp://x/",
	    "v=TLSRPTv1x; rua=mailto:a@x.test" };
	size_t lens[3];
	struct tlsrpt_txt t;
	char why[128];
	size_t i;

	for (i = 0; i < 3; i++)
		lens[i] = strlen(one[i]);
	assert_int_equal(tlsrpt_txt_select(one, lens, 3, &t, why,
	    sizeof(why)), 0);
	assert_string_equal(t.rua[0].uri, "mailto:a@x.test");
	for (i = 0; i < 2; i++)
		lens[i] = strlen(two[i]);
	assert_int_equal(tlsrpt_txt_select(two, lens, 2, &t, why,
	    sizeof(why)), -1);
	assert_non_null(strstr(why, "exactly one"));
	lens[0] = strlen(none[0]);
	assert_int_equal(tlsrpt_txt_select(none, lens, 1, &t, why,
	    sizeof(why)), -1);
	assert_int_equal(tlsrpt_txt_select(none, lens, 0, &t, why,
	    sizeof(why)), -1);
	for (i = 0; i < 2; i++)
		lens[i] = strlen(broken[i]);
	assert_int_equal(tlsrpt_txt_select(broken, lens, 2, &t, why,
	    sizeof(why)), -1);
	assert_non_null(strstr(why, "no usable"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_select),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
