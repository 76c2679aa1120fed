/*
 * smtpd_data.c - the DATA phase as a byte machine: wire form in, stored
 * form (CRLF lines, dot-unstuffed) out.
 *
 * What ends a message?  Only CRLF "." CRLF, where both line ends are a
 * real CR LF pair (RFC 5321 4.1.1.4).  "\n.\n", "\n.\r\n", "\r\n.\n" and
 * "\r.\r" are data.  Receivers that disagree about this are what SMTP
 * smuggling (CVE-2023-51764 and friends) exploits: a sender that thinks
 * "\n.\r\n" ended the message could hide a second message, with its own
 * envelope, inside the first.  We cannot be confused that way, and with
 * smtpd_bare_lf = reject (the default) a message that contains a bare LF
 * or a bare CR at all is refused with 550 5.5.2 once the real end is
 * seen, so nothing shaped like a smuggling attempt is relayed to a next
 * hop that might read it differently.  With smtpd_bare_lf = normalize a
 * bare LF or CR ends a line and is stored as CRLF (old scripts and
 * appliances send such mail); it still never ends the message.
 *
 * Dot-unstuffing: a leading "." is removed from lines that began after a
 * real CRLF (RFC 5321 4.5.2).  A line after a bare line end cannot have
 * been stuffed by a conforming client and is stored as it came.
 *
 * Limits, all checked while bytes stream through so memory stays
 * bounded: a text line is at most SMTPD_TEXT_LINE_MAX octets with CRLF
 * (RFC 5321 4.5.3.1.6; RFC 5322 2.1.1); the header section at most
 * header_max bytes; the stored message at most size_max.  A message
 * over any of them is read to its end and then refused; bytes past the
 * first violation are not stored.
 *
 * The header scan also notes Date and Message-ID (added when missing,
 * smtpd_msg.c), a "TLS-Required: No" field (RFC 8689: the message is
 * queued with QUEUE_MSG_NO_TLS_REQ) and where the header section ends.
 */
#include <string.h>

#include "smtpd.h"

/* Octets of a line without its CRLF. */
#define SMTPD_TEXT_CONTENT_MAX	(SMTPD_TEXT_LINE_MAX - 2)

enum smtpd_eol { SMTPD_EOL_CRLF, SMTPD_EOL_BARE };

void
smtpd_data_init(struct smtpd_data *d, uint64_t size_max, uint64_t header_max,
    int bare_lf)
{
	memset(d, 0, sizeof(*d));
	if (size_max > SIZE_MAX / 2)
		size_max = SIZE_MAX / 2;
	dynbuf_init(&d->body, (size_t)size_max);
	d->header_max = header_max;
	d->bare_lf = bare_lf;
	d->after_crlf = 1;	/* the DATA command's CRLF */
	d->in_header = 1;
}

void
smtpd_data_free(struct smtpd_data *d)
{
	dynbuf_free(&d->body);
}

static int
smtpd_data_failed(const struct smtpd_data *d)
{
	return d->bad_bare || d->too_long_line || d->too_big ||
	    d->header_too_big;
}

/* Is the header line l[0..n) the field called name? */
static int
smtpd_field_is(const char *l, size_t n, const char *name)
{
	size_t k = strlen(name);

	return n > k && util_strncasecmp(l, name, k) == 0 &&
	    (l[k] == ':' || l[k] == ' ' || l[k] == '\t');
}

/* A header field line starts with a name of printable non-colon
 * characters followed by optional WSP and ':'. */
static int
smtpd_field_line(const char *l, size_t n)
{
	size_t i = 0;

	while (i < n && (unsigned char)l[i] > ' ' &&
	    (unsigned char)l[i] < 0x7f && l[i] != ':')
		i++;
	if (i == 0)
		return 0;
	while (i < n && (l[i] == ' ' || l[i] == '\t'))
		i++;
	return i < n && l[i] == ':';
}

/* Collect the value of the first TLS-Required field, folded or not. */
static void
smtpd_tlsreq_add(struct smtpd_data *d, const char *p, size_t n)
{
	if (d->tlsreq_len + n > SMTPD_TLSREQ_MAX) {
		d->tlsreq_len = SMTPD_TLSREQ_MAX + 1;
		return;
	}
	memcpy(d->tlsreq_val + d->tlsreq_len, p, n);
	d->tlsreq_len += n;
}

/* The field ended: RFC 8689 5 - the value "No", any case, WSP around. */
static void
smtpd_tlsreq_end(struct smtpd_data *d)
{
	const char *p = d->tlsreq_val, *e = d->tlsreq_val + d->tlsreq_len;

	if (d->tlsreq_state != 1)
		return;
	d->tlsreq_state = 2;
	if (d->tlsreq_len > SMTPD_TLSREQ_MAX)
		return;
	while (p < e && (*p == ' ' || *p == '\t'))
		p++;
	while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	d->tls_required_no = e - p == 2 && util_strncasecmp(p, "no", 2) == 0;
}

static void
smtpd_data_header(struct smtpd_data *d, const char *l, size_t n)
{
	if (d->tlsreq_state == 1 && !(n > 0 && (l[0] == ' ' || l[0] == '\t')))
		smtpd_tlsreq_end(d);
	d->header_bytes += n + 2;
	if (d->header_bytes > d->header_max)
		d->header_too_big = 1;
	if (n == 0) {
		d->in_header = 0;
		d->header_sep = 1;
		d->header_end = d->body.len;	/* before the empty line */
		return;
	}
	if (l[0] == ' ' || l[0] == '\t') {
		if (d->header_bytes != n + 2) {
			if (d->tlsreq_state == 1)	/* continuation */
				smtpd_tlsreq_add(d, l, n);
			return;
		}
	} else if (smtpd_field_line(l, n)) {
		if (smtpd_field_is(l, n, "Date"))
			d->has_date = 1;
		if (smtpd_field_is(l, n, "Message-ID"))
			d->has_msgid = 1;
		if (d->tlsreq_state == 0 &&
		    smtpd_field_is(l, n, "TLS-Required")) {
			const char *c = memchr(l, ':', n);

			d->tlsreq_state = 1;
			smtpd_tlsreq_add(d, c + 1, n - (size_t)(c + 1 - l));
		}
		return;
	}
	/* not a field: the body starts here, without an empty line */
	d->header_bytes -= n + 2;
	d->in_header = 0;
	d->header_sep = 0;
	d->header_end = d->body.len;
}

/* A line ended; 1 when it was the terminating ".". */
static int
smtpd_data_eol(struct smtpd_data *d, enum smtpd_eol eol)
{
	const char *l = d->line;
	size_t n = d->linelen;
	int stuffed = d->after_crlf;

	d->linelen = 0;
	d->after_crlf = eol == SMTPD_EOL_CRLF;
	if (eol == SMTPD_EOL_CRLF && stuffed && n == 1 && l[0] == '.')
		return 1;
	if (eol == SMTPD_EOL_BARE && d->bare_lf == CFG_BARE_LF_REJECT)
		d->bad_bare = 1;
	if (n > SMTPD_TEXT_CONTENT_MAX) {
		d->too_long_line = 1;
		return 0;
	}
	if (stuffed && n > 0 && l[0] == '.') {
		l++;
		n--;
	}
	if (d->in_header)
		smtpd_data_header(d, l, n);
	if (smtpd_data_failed(d))
		return 0;
	if (dynbuf_add(&d->body, l, n) < 0 ||
	    dynbuf_add(&d->body, "\r\n", 2) < 0)
		d->too_big = 1;
	return 0;
}

enum smtpd_data_rc
smtpd_data_feed(struct smtpd_data *d, const char *buf, size_t len,
    size_t *used)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (d->pending_cr) {
			d->pending_cr = 0;
			if (c == '\n') {
				if (smtpd_data_eol(d, SMTPD_EOL_CRLF)) {
					*used = i + 1;
					if (d->in_header)
						d->header_end = d->body.len;
					smtpd_tlsreq_end(d);
					return SMTPD_DATA_END;
				}
				continue;
			}
			(void)smtpd_data_eol(d, SMTPD_EOL_BARE);	/* bare CR */
		}
		if (c == '\r') {
			d->pending_cr = 1;
			continue;
		}
		if (c == '\n') {
			(void)smtpd_data_eol(d, SMTPD_EOL_BARE);
			continue;
		}
		if (c >= 0x80)
			d->eightbit = 1;
		if (d->linelen < SMTPD_TEXT_CONTENT_MAX + 1)
			d->line[d->linelen] = (char)c;
		if (d->linelen <= SMTPD_TEXT_CONTENT_MAX)
			d->linelen++;
	}
	*used = len;
	return SMTPD_DATA_MORE;
}
