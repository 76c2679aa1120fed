/*
 * sendmail_input.c - stdin to a CRLF message, byte by byte, bounded.
 *
 * The reader is incremental (feed any chunking, the result is the same)
 * so tests can split input at every awkward place, and it writes into a
 * dynbuf whose maximum is the message size limit: a message that is too
 * big is refused as soon as it crosses the limit instead of after we
 * have buffered all of it.
 *
 * Line rules (documented in docs/sendmail.md):
 *   LF and CRLF end a line; the queue keeps CRLF.
 *   A CR not followed by LF also becomes CRLF.  Postfix keeps such bare
 *   CRs as data, but RFC 5321 2.3.8 forbids sending them and receivers
 *   treat them differently (the root of SMTP smuggling), so we settle
 *   the meaning here.  "." detection, however, only looks at LF lines,
 *   as classic sendmail reads lines with LF.
 *   Without -i, an input line that is exactly "." (or ".\r") ends the
 *   message and is not part of it; so does a final "." without newline.
 *   A last line without a newline gets CRLF.
 */
#include <string.h>

#include "sendmail.h"

void
sendmail_input_init(struct sendmail_input *in, size_t max, int ignore_dots)
{
	memset(in, 0, sizeof(*in));
	dynbuf_init(&in->out, max);
	in->ignore_dots = ignore_dots;
	in->line_start = 1;
}

void
sendmail_input_free(struct sendmail_input *in)
{
	dynbuf_free(&in->out);
}

/*
 * Bytes are collected in a small staging area and appended to the
 * dynbuf in runs; a per-byte dynbuf_add would dominate the cost.
 */
struct stage {
	char   b[4096];
	size_t n;
	int    full;		/* the dynbuf refused a run */
};

static void
stage_flush(struct sendmail_input *in, struct stage *st)
{
	if (st->n > 0 && !st->full && dynbuf_add(&in->out, st->b, st->n) < 0)
		st->full = 1;
	st->n = 0;
}

static void
stage_put(struct sendmail_input *in, struct stage *st, const char *p,
    size_t n)
{
	if (st->n + n > sizeof(st->b))
		stage_flush(in, st);
	memcpy(st->b + st->n, p, n);
	st->n += n;
}

/* The end of an LF line: returns 1 when it was the terminating ".". */
static int
input_eol(struct sendmail_input *in, struct stage *st)
{
	if (in->held_dot) {
		in->held_dot = 0;
		return 1;
	}
	stage_put(in, st, "\r\n", 2);
	in->line_start = 1;
	return 0;
}

/* Write a "." we held back because it might have been the end marker. */
static void
input_release_dot(struct sendmail_input *in, struct stage *st)
{
	if (in->held_dot) {
		stage_put(in, st, ".", 1);
		in->held_dot = 0;
	}
}

enum sendmail_input_rc
sendmail_input_feed(struct sendmail_input *in, const char *buf, size_t len)
{
	struct stage st;
	size_t i;

	if (in->done)
		return in->toobig ? SENDMAIL_INPUT_TOOBIG : SENDMAIL_INPUT_END;
	st.n = 0;
	st.full = 0;
	for (i = 0; i < len && !st.full; i++) {
		char c = buf[i];

		if (in->pending_cr) {
			in->pending_cr = 0;
			if (c == '\n') {
				if (input_eol(in, &st))
					goto end;
				continue;
			}
			/* bare CR: a line break, but not an LF line end */
			input_release_dot(in, &st);
			stage_put(in, &st, "\r\n", 2);
			in->line_start = 0;
		}
		if (c == '\r') {
			in->pending_cr = 1;
			continue;
		}
		if (c == '\n') {
			if (input_eol(in, &st))
				goto end;
			continue;
		}
		if (in->line_start && c == '.' && !in->ignore_dots) {
			in->held_dot = 1;
			in->line_start = 0;
			continue;
		}
		input_release_dot(in, &st);
		in->line_start = 0;
		if ((unsigned char)c >= 0x80)
			in->eightbit = 1;
		stage_put(in, &st, &c, 1);
	}
	stage_flush(in, &st);
	if (st.full) {
		in->done = in->toobig = 1;
		return SENDMAIL_INPUT_TOOBIG;
	}
	return SENDMAIL_INPUT_MORE;
end:
	stage_flush(in, &st);
	in->done = 1;
	in->toobig = st.full;
	return st.full ? SENDMAIL_INPUT_TOOBIG : SENDMAIL_INPUT_END;
}

enum sendmail_input_rc
sendmail_input_finish(struct sendmail_input *in)
{
	struct stage st;

	if (in->done)
		return in->toobig ? SENDMAIL_INPUT_TOOBIG : SENDMAIL_INPUT_MORE;
	st.n = 0;
	st.full = 0;
	in->done = 1;
	if (in->held_dot) {
		/* "." then EOF (maybe after a CR): the end marker */
		in->held_dot = 0;
		in->pending_cr = 0;
		return SENDMAIL_INPUT_MORE;
	}
	if (in->pending_cr || !in->line_start) {
		stage_put(in, &st, "\r\n", 2);
		in->pending_cr = 0;
		in->line_start = 1;
	}
	stage_flush(in, &st);
	in->toobig = st.full;
	return st.full ? SENDMAIL_INPUT_TOOBIG : SENDMAIL_INPUT_MORE;
}
