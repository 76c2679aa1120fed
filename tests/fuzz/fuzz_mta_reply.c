/*
 * fuzz_mta_reply.c - the delivery agent's SMTP reply reader
 * (mta/mta_int.h): mta_reply_feed over a byte stream from a hostile
 * server, then what the session does with a complete reply:
 * mta_reply_dsn, mta_reply_oneline and, for EHLO, mta_ehlo_parse.
 *
 * The stream is fed twice: in one piece, and in pieces whose sizes come
 * from the first input byte (down to one byte per read).  The parser is
 * incremental, so both must give the same replies and stop at the same
 * byte; a difference means state is lost or kept wrongly between reads.
 * Several replies in one stream are read one after another, as with
 * PIPELINING.  Checked on each reply: code 200..599, 1..MTA_REPLY_LINES_MAX
 * lines, text within MTA_REPLY_TEXT_MAX, and terminated, bounded outputs.
 */
#include "fuzz_common.h"

#include "mta/mta_int.h"

/* mta_ehlo.c's bound on an EHLO SIZE value (private to that file). */
#define FUZZ_EHLO_SIZE_MAX	((uint64_t)1 << 53)

struct digest {
	uint64_t h;
	size_t   replies;
	size_t   consumed;
	int      last_rc;
};

static void
mix(struct digest *d, const void *p, size_t n)
{
	const unsigned char *c = p;
	size_t i;

	for (i = 0; i < n; i++) {
		d->h ^= c[i];
		d->h *= 0x100000001b3ull;
	}
}

/* What the session does with one complete reply. */
static void
use_reply(const struct mta_reply *r, struct digest *d)
{
	char dsn[16], one[MTA_TEXT_MAX], small[8];
	struct mta_ehlo e;
	int code = r->code;

	FUZZ_CHECK(r->code >= 200 && r->code <= 599);
	FUZZ_CHECK(r->nlines >= 1 && r->nlines <= MTA_REPLY_LINES_MAX);
	FUZZ_CHECK(r->text.len <= MTA_REPLY_TEXT_MAX);

	memset(dsn, 'x', sizeof(dsn));
	mta_reply_dsn(r, dsn);
	FUZZ_CHECK(fuzz_terminated(dsn, sizeof(dsn)));
	FUZZ_CHECK(dsn[0] - '0' == r->code / 100 && dsn[1] == '.');

	mta_reply_oneline(r, one, sizeof(one));
	FUZZ_CHECK(fuzz_terminated(one, sizeof(one)));
	mta_reply_oneline(r, small, sizeof(small));
	FUZZ_CHECK(fuzz_terminated(small, sizeof(small)));

	if (r->code == 250) {
		mta_ehlo_parse(r, &e);
		FUZZ_CHECK(fuzz_terminated(e.auth, sizeof(e.auth)));
		FUZZ_CHECK(e.size_max <= FUZZ_EHLO_SIZE_MAX);
		mix(d, &e.flags, sizeof(e.flags));
		mix(d, &e.size_max, sizeof(e.size_max));
		mix(d, e.auth, strlen(e.auth));
	}
	mix(d, &code, sizeof(code));
	mix(d, &r->nlines, sizeof(r->nlines));
	mix(d, r->text.p ? r->text.p : "", r->text.len);
	mix(d, dsn, strlen(dsn));
	d->replies++;
}

/* Read replies from data until the stream ends or one is invalid. */
static void
read_stream(const uint8_t *data, size_t size, unsigned seed,
    struct digest *d)
{
	struct mta_reply r;
	size_t off = 0;
	unsigned x = seed | 1;

	memset(d, 0, sizeof(*d));
	d->h = 0xcbf29ce484222325ull;
	d->last_rc = MTA_CHAT_NEED_MORE;
	mta_reply_init(&r);
	while (off < size) {
		size_t chunk = size - off, used = 99999;
		enum mta_chat_rc rc;

		if (seed != 0) {	/* pieces of 1..16 or 1..512 bytes */
			x = x * 1103515245u + 12345u;
			chunk = 1 + (x >> 16) % ((seed & 1) ? 16 : 512);
			if (chunk > size - off)
				chunk = size - off;
		}
		rc = mta_reply_feed(&r, (const char *)data + off, chunk, &used);
		FUZZ_CHECK(used <= chunk);
		off += used;
		d->last_rc = rc;
		if (rc == MTA_CHAT_INVALID) {
			FUZZ_CHECK(fuzz_terminated(r.error, sizeof(r.error)) &&
			    r.error[0] != '\0');
			break;
		}
		if (rc == MTA_CHAT_DONE) {
			FUZZ_CHECK(used >= 1);
			use_reply(&r, d);
			mta_reply_reset(&r);
		} else {
			FUZZ_CHECK(used == chunk);
		}
	}
	d->consumed = off;
	mta_reply_free(&r);
}

/* Addresses as the command builder sees them (from the queue). */
static void
fuzz_addr(const uint8_t *data, size_t size)
{
	char *s = fuzz_strndup(data, size);
	struct dynbuf b;

	if (mta_addr_ok(s) == 0)
		FUZZ_CHECK(strlen(s) < QUEUE_ADDR_MAX);
	dynbuf_init(&b, 3 * QUEUE_ADDR_MAX);
	if (mta_xtext(&b, s) == 0) {
		FUZZ_CHECK(b.len >= strlen(s) && b.len <= 3 * strlen(s));
		FUZZ_CHECK(memchr(b.p ? b.p : "", ' ', b.len) == NULL);
	}
	dynbuf_free(&b);
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct digest whole, pieces;
	unsigned seed;

	if (size < 1)
		return 0;
	seed = data[0];
	data++;
	size--;
	if (seed == 0xff) {
		fuzz_addr(data, size);
		return 0;
	}
	read_stream(data, size, 0, &whole);
	read_stream(data, size, seed + 1, &pieces);
	FUZZ_CHECK(whole.replies == pieces.replies);
	FUZZ_CHECK(whole.consumed == pieces.consumed);
	FUZZ_CHECK(whole.last_rc == pieces.last_rc);
	FUZZ_CHECK(whole.h == pieces.h);
	return 0;
}
