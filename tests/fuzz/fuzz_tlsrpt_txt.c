/*
 * fuzz_tlsrpt_txt.c - the _smtp._tls TXT parser of tls/tlsrpt_txt.c
 * (RFC 8460 3).  The record comes from any domain we deliver to.
 *
 * The input is split at NUL bytes into up to 4 records: each is parsed
 * alone, then all as one RRset (tlsrpt_txt_select).  Besides "no crash,
 * no leak", each branch checks what tlsrpt.h promises.
 */
#include <strings.h>

#include "fuzz_common.h"

#include "tls/tlsrpt.h"

static void
check_parsed(const struct tlsrpt_txt *t)
{
	size_t i;

	FUZZ_CHECK(t->nrua >= 1 && t->nrua <= TLSRPT_RUA_MAX);
	for (i = 0; i < t->nrua; i++) {
		const char *u = t->rua[i].uri;

		FUZZ_CHECK(fuzz_terminated(u, TLSRPT_URI_MAX));
		FUZZ_CHECK(t->rua[i].scheme == TLSRPT_URI_MAILTO ?
		    strncasecmp(u, "mailto:", 7) == 0 :
		    strncasecmp(u, "https://", 8) == 0);
		FUZZ_CHECK(strchr(u, ' ') == NULL && strchr(u, ',') == NULL &&
		    strchr(u, ';') == NULL);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *recs[4];
	size_t lens[4], n = 0, off = 0;
	struct tlsrpt_txt t;
	char why[128];

	while (off <= size && n < 4) {
		const uint8_t *z = memchr(data + off, 0, size - off);
		size_t len = z ? (size_t)(z - (data + off)) : size - off;

		recs[n] = (const char *)data + off;
		lens[n] = len;
		n++;
		off += len + 1;
		if (z == NULL)
			break;
	}
	for (off = 0; off < n; off++) {
		if (tlsrpt_txt_parse(recs[off], lens[off], &t, why,
		    sizeof(why)) == 0) {
			FUZZ_CHECK(tlsrpt_txt_is_tlsrpt(recs[off], lens[off]));
			check_parsed(&t);
		} else
			FUZZ_CHECK(fuzz_terminated(why, sizeof(why)) &&
			    why[0] != '\0');
	}
	if (tlsrpt_txt_select(recs, lens, n, &t, why, sizeof(why)) == 0)
		check_parsed(&t);
	return 0;
}
