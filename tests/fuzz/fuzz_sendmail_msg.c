/*
 * fuzz_sendmail_msg.c - the sendmail front end's message path
 * (mta/sendmail.h), as sendmail_run.c drives it on a user's stdin:
 * sendmail_input (bytes -> CRLF message, "." handling, size limit),
 * sendmail_hdrs_split, sendmail_hdrs_rcpts with each address qualified
 * (-t), and sendmail_compose (Received added, Bcc removed, From/Date/
 * Message-ID filled in).
 *
 * The first input byte sets the options (ignore dots, -t, a small size
 * limit, how stdin is cut into reads); the rest is stdin.  Checked:
 *   - the reader is incremental: fed in pieces it gives the same result
 *     as fed at once;
 *   - its output is CRLF only (no bare CR or LF: SMTP smuggling), within
 *     the limit, and eightbit is set exactly when a byte >= 0x80 is kept;
 *   - header fields lie inside the message, in order;
 *   - the composed message splits again, starts with Received, has
 *     From, Date and Message-ID, and carries no Bcc or Resent-Bcc field.
 * Raw, non-CRLF bytes are also handed to sendmail_hdrs_split directly,
 * for memory safety only (its contract assumes the reader's output).
 */
#include "fuzz_common.h"

#include "queue/queue.h"
#include "mta/sendmail.h"

static const char myhostname[] = "host.example.org";

struct input_result {
	enum sendmail_input_rc rc;
	char  *msg;
	size_t len;
	int    eightbit;
};

static void
read_input(const uint8_t *data, size_t size, size_t max, int ignore_dots,
    unsigned pieces, struct input_result *res)
{
	struct sendmail_input in;
	enum sendmail_input_rc rc = SENDMAIL_INPUT_MORE;
	size_t off = 0;
	unsigned x = pieces | 1;

	sendmail_input_init(&in, max, ignore_dots);
	while (off < size && rc == SENDMAIL_INPUT_MORE) {
		size_t chunk = size - off;

		if (pieces != 0) {
			x = x * 1103515245u + 12345u;
			chunk = 1 + (x >> 16) % 64;
			if (chunk > size - off)
				chunk = size - off;
		}
		rc = sendmail_input_feed(&in, (const char *)data + off, chunk);
		off += chunk;
	}
	if (rc == SENDMAIL_INPUT_MORE)
		rc = sendmail_input_finish(&in);
	else if (rc == SENDMAIL_INPUT_END)
		rc = SENDMAIL_INPUT_MORE;	/* run_read: END is success */
	res->rc = rc;
	res->eightbit = in.eightbit;
	res->msg = dynbuf_take(&in.out, &res->len);
	sendmail_input_free(&in);
}

static void
check_crlf(const char *m, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (m[i] == '\r')
			FUZZ_CHECK(i + 1 < n && m[i + 1] == '\n');
		if (m[i] == '\n')
			FUZZ_CHECK(i > 0 && m[i - 1] == '\r');
	}
}

struct rcpt_ctx {
	size_t n;
};

static int
each_rcpt(void *arg, const char *addr, size_t len, char *err, size_t errlen)
{
	struct rcpt_ctx *c = arg;
	char out[QUEUE_ADDR_MAX + 1];
	int utf8 = 0;

	FUZZ_CHECK(len > 0 && len <= QUEUE_ADDR_MAX);
	c->n++;
	return sendmail_addr_qualify(addr, len, myhostname, out, sizeof(out),
	    &utf8, err, errlen);
}

static void
check_hdrs(const char *msg, size_t len, const struct sendmail_hdrs *h)
{
	size_t i, prev_end;

	FUZZ_CHECK(h->head_off <= len && h->body_off <= len);
	FUZZ_CHECK(h->head_off <= h->body_off);
	prev_end = h->head_off;
	for (i = 0; i < h->n; i++) {
		const struct sendmail_hdr *f = &h->v[i];

		FUZZ_CHECK(f->off >= prev_end && f->len > 0);
		FUZZ_CHECK(f->off + f->len <= h->body_off);
		FUZZ_CHECK(f->name_len > 0 && f->name_len < f->len);
		FUZZ_CHECK(memchr(msg + f->off, ':', f->len) != NULL);
		prev_end = f->off + f->len;
	}
}

static void
check_composed(const char *out, size_t outlen)
{
	struct sendmail_hdrs h2;
	char err[256];
	size_t i;

	check_crlf(out, outlen);
	if (sendmail_hdrs_split(out, outlen, &h2, err, sizeof(err)) < 0)
		return;		/* e.g. a field line at the length limit */
	check_hdrs(out, outlen, &h2);
	FUZZ_CHECK(h2.n >= 4 && h2.separator);
	FUZZ_CHECK(sendmail_hdr_is(out, &h2.v[0], "Received"));
	FUZZ_CHECK(sendmail_hdrs_find(out, &h2, "From") >= 0);
	FUZZ_CHECK(sendmail_hdrs_find(out, &h2, "Date") >= 0);
	FUZZ_CHECK(sendmail_hdrs_find(out, &h2, "Message-ID") >= 0);
	for (i = 0; i < h2.n; i++) {
		FUZZ_CHECK(!sendmail_hdr_is(out, &h2.v[i], "Bcc"));
		FUZZ_CHECK(!sendmail_hdr_is(out, &h2.v[i], "Resent-Bcc"));
	}
	sendmail_hdrs_free(&h2);
}

static void
pipeline(const char *msg, size_t len, int extract, size_t max)
{
	struct sendmail_hdrs h;
	struct sendmail_added add;
	struct rcpt_ctx rc = { 0 };
	char err[512], *out = NULL;
	size_t outlen = 0;

	err[0] = '\0';
	if (sendmail_hdrs_split(msg, len, &h, err, sizeof(err)) < 0) {
		FUZZ_CHECK(err[0] != '\0');
		return;
	}
	check_hdrs(msg, len, &h);
	if (extract && sendmail_hdrs_rcpts(msg, &h, each_rcpt, &rc, err,
	    sizeof(err)) < 0)
		FUZZ_CHECK(fuzz_terminated(err, sizeof(err)) && err[0] != '\0');

	memset(&add, 0, sizeof(add));
	add.qid = "0G8ZK3J2M4N5P6QR";
	add.now = 1700000000;
	add.myhostname = myhostname;
	add.from_addr = extract ? "" : "alice@host.example.org";
	add.display_name = "Alice Example";
	add.uid = 1000;
	if (sendmail_compose(msg, len, &h, &add, max, &out, &outlen, err,
	    sizeof(err)) == 0) {
		FUZZ_CHECK(outlen <= max);
		check_composed(out, outlen);
		free(out);
	}
	sendmail_hdrs_free(&h);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input_result whole, pieces;
	uint8_t opt;
	size_t max, i;
	int ignore_dots, extract, eight = 0;

	if (size < 1)
		return 0;
	opt = data[0];
	data++;
	size--;
	ignore_dots = opt & 1;
	extract = (opt >> 1) & 1;
	max = (opt & 4) ? 64 + (opt >> 3) * 8 : 1024 * 1024;

	if (opt >= 0xf8) {	/* raw bytes straight into the splitter */
		struct sendmail_hdrs h;
		char err[256];
		char *raw = malloc(size ? size : 1);

		if (raw == NULL)
			abort();
		memcpy(raw, data, size);
		if (sendmail_hdrs_split(raw, size, &h, err, sizeof(err)) == 0) {
			check_hdrs(raw, size, &h);
			sendmail_hdrs_free(&h);
		}
		free(raw);
		return 0;
	}

	read_input(data, size, max, ignore_dots, 0, &whole);
	read_input(data, size, max, ignore_dots, opt + 1u, &pieces);
	FUZZ_CHECK(whole.rc == pieces.rc);
	if (whole.rc == SENDMAIL_INPUT_MORE) {
		FUZZ_CHECK(whole.len == pieces.len &&
		    memcmp(whole.msg, pieces.msg, whole.len) == 0);
		FUZZ_CHECK(whole.eightbit == pieces.eightbit);
		FUZZ_CHECK(whole.len <= max);
		check_crlf(whole.msg, whole.len);
		for (i = 0; i < whole.len; i++)
			eight |= (unsigned char)whole.msg[i] >= 0x80;
		FUZZ_CHECK(eight == whole.eightbit);
		pipeline(whole.msg, whole.len, extract, max);
	}
	free(whole.msg);
	free(pieces.msg);
	return 0;
}
