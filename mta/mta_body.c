/*
 * mta_body.c - the message as it goes over the wire after DATA.
 *
 * The queue keeps messages with CRLF line ends and without dot-stuffing.
 * On the way out (RFC 5321 4.5.2) a line starting with "." gets another
 * "." and the data ends with CRLF "." CRLF.
 *
 * Robustness, because the body is the one big input we pass through:
 *  - a bare LF or a bare CR is sent as CRLF, so we never emit the
 *    ambiguous line ends that "SMTP smuggling" abuses;
 *  - a line longer than MTA_LINE_LIMIT octets (RFC 5321 4.5.3.1.6:
 *    1000 including CRLF) is broken by inserting CRLF SPACE, as Postfix
 *    does (smtp_line_length_limit): in a header that is folding, in a
 *    body it adds one space but keeps the rest intact, and a receiver
 *    that would otherwise reject or truncate the line does not;
 *  - a message not ending in CRLF gets one before the final dot.
 *
 * The encoder is incremental and output-bounded so the session can feed
 * the socket chunk by chunk while watching its write queue.
 */
#include <string.h>

#include "mta_int.h"

/* Enough room for the largest single step: fold "\r\n " + byte, or
 * the "\r\n.\r\n" terminator. */
#define MTA_BODY_STEP_MAX	8

void
mta_body_init(struct mta_body_enc *e, const char *p, size_t len)
{
	memset(e, 0, sizeof(*e));
	e->p = p;
	e->len = p ? len : 0;
}

size_t
mta_body_encode(struct mta_body_enc *e, char *out, size_t outlen)
{
	size_t o = 0;

	UTIL_ASSERT(outlen >= MTA_BODY_STEP_MAX);
	while (!e->finished && outlen - o >= MTA_BODY_STEP_MAX) {
		char c;

		if (e->off == e->len) {
			/* End of input: close the last line, then the dot. */
			if (e->cr || e->col > 0) {
				out[o++] = '\r';
				out[o++] = '\n';
			}
			e->cr = 0;
			e->col = 0;
			memcpy(out + o, ".\r\n", 3);
			o += 3;
			e->finished = 1;
			break;
		}
		c = e->p[e->off];
		if (e->cr) {
			/* CR LF or a lone CR: both end the line. */
			out[o++] = '\r';
			out[o++] = '\n';
			e->col = 0;
			e->cr = 0;
			if (c == '\n')
				e->off++;
			continue;
		}
		e->off++;
		if (c == '\r') {
			e->cr = 1;
			continue;
		}
		if (c == '\n') {
			out[o++] = '\r';
			out[o++] = '\n';
			e->col = 0;
			continue;
		}
		if (e->col >= MTA_LINE_LIMIT) {
			memcpy(out + o, "\r\n ", 3);
			o += 3;
			e->col = 1;
		}
		if (e->col == 0 && c == '.') {
			out[o++] = '.';
			e->col++;
		}
		out[o++] = c;
		e->col++;
	}
	return o;
}
