/*
 * fuzz_queue_drop.c - queue_drop_parse (queue/queue.h), the maildrop file
 * parser.  Drop files are written by local users through the setgid
 * postdrop helper, so this parser is a privilege boundary.
 *
 * Two passes per input:
 *   1. the bytes as they are (magic, line limits, the checksum trailer);
 *   2. the bytes with a correct "end <fnv64>" line appended, so the
 *      fuzzer is not stopped at the checksum and reaches every field
 *      rule behind it.
 * When a parse succeeds: queue_drop_check must agree (the header says
 * the parser applies it), and format -> parse -> format must be stable
 * (xtext has more than one spelling, so the image need not equal the
 * input, but the canonical image must be a fixed point).
 */
#include "fuzz_common.h"

#include "queue/queue.h"

static uint64_t
fnv64(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = 0xcbf29ce484222325ull;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static void
check_parsed(struct queue_msg *m)
{
	char err[256];
	char *img1, *img2;
	size_t len1, len2, i;
	struct queue_msg *again;

	FUZZ_CHECK(queue_drop_check(m, err, sizeof(err)) == 0);
	FUZZ_CHECK(m->nrcpt >= 1 && m->nrcpt <= QUEUE_RCPT_MAX);
	FUZZ_CHECK(m->body_len == m->size);
	FUZZ_CHECK((m->flags & ~(unsigned)QUEUE_DROP_FLAGS_OK) == 0);
	for (i = 0; i < m->nrcpt; i++)
		FUZZ_CHECK(strlen(m->rcpt[i].addr) <= QUEUE_ADDR_MAX);

	img1 = queue_drop_format(m, &len1);
	again = queue_drop_parse(img1, len1, err, sizeof(err));
	if (again == NULL) {
		fprintf(stderr, "re-parse of formatted image failed: %s\n", err);
		FUZZ_CHECK(again != NULL);
	}
	img2 = queue_drop_format(again, &len2);
	FUZZ_CHECK(len1 == len2 && memcmp(img1, img2, len1) == 0);
	free(img1);
	free(img2);
	queue_msg_free(again);
}

static void
parse_one(const char *buf, size_t len)
{
	char err[256];
	struct queue_msg *m;

	err[0] = '\0';
	m = queue_drop_parse(buf, len, err, sizeof(err));
	if (m == NULL) {
		FUZZ_CHECK(fuzz_terminated(err, sizeof(err)) && err[0] != '\0');
		return;
	}
	check_parsed(m);
	queue_msg_free(m);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *img;
	int n;

	/* the drop file is read into a buffer of exactly its size */
	img = malloc(size ? size : 1);
	if (img == NULL)
		abort();
	memcpy(img, data, size);
	parse_one(img, size);
	free(img);

	/* same bytes, with the trailer the writer would have added */
	img = malloc(size + 32);
	if (img == NULL)
		abort();
	memcpy(img, data, size);
	n = snprintf(img + size, 32, "end %016llx\n",
	    (unsigned long long)fnv64(data, size));
	parse_one(img, size + (size_t)n);
	free(img);
	return 0;
}
