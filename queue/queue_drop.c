/*
 * queue_drop.c - the maildrop file format: sendmail's hand-off to the
 * daemon.  Formatting and parsing only; file I/O is in queue_drop_file.c.
 *
 * A drop file is written by an untrusted local user (through the setgid
 * sealpost-postdrop helper), so the parser treats it as hostile: every
 * line has a hard length limit, every field a fixed place, every number
 * a range, every string a length limit and a character check, and the
 * file as a whole QUEUE_DROP_MAX.  Version 1 of the format, one field per
 * line, lines end in LF, all in this order:
 *
 *   SEALPOST-DROP 1
 *   qid <queue id>
 *   arrival <seconds since the epoch>
 *   sender <xtext>                     (empty xtext = null sender)
 *   envid <xtext>                      (optional)
 *   ret <0|1|2>                        (enum queue_ret)
 *   flags <decimal>                    (QUEUE_DROP_FLAGS_OK bits only)
 *   rcpt <notify> <xtext addr>[ <xtext orcpt>]     (1..QUEUE_RCPT_MAX)
 *   body <n>
 *   <exactly n bytes of message>LF
 *   end <16 hex digits>
 *
 * and nothing after.  Strings are xtext (RFC 3461 section 4: bytes
 * outside '!'..'~', '+' and '=' become "+XX"), so spaces and 8-bit bytes
 * survive and a field never contains a separator.  The "end" line holds
 * FNV-1a/64 of every byte before it: the explicit length catches
 * truncation, the checksum catches damage inside.  A format change bumps
 * the version number; old daemons refuse new files rather than guess.
 *
 * Semantic rules (valid queue ID, address lengths and bytes, recipient
 * count, flags) are in queue_drop_check, which the writer runs too, so
 * we never write a file the importer would refuse.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue.h"
#include "queue_int.h"

#define DROP_MAGIC		"SEALPOST-DROP 1"
#define DROP_LINE_MAX		4096	/* > "rcpt 15 " + 2 * 3 * QUEUE_ADDR_MAX */
#define DROP_ENVID_MAX		100	/* RFC 3461 4.4 */
#define DROP_ARRIVAL_MAX	253402300799ull	/* 9999-12-31 */

/* ---- checksum ----------------------------------------------------------- */

uint64_t
queue_drop_fnv64(const void *data, size_t len)
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

/* ---- semantic checks ----------------------------------------------------- */

/* 0 if s is at most max bytes with no control characters (C0, DEL). */
static int
drop_check_text(const char *s, size_t max)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		unsigned char c = (unsigned char)s[i];

		if (i >= max || c < 0x20 || c == 0x7f)
			return -1;
	}
	return 0;
}

static int
drop_notify_valid(unsigned n)
{
	if (n & ~(unsigned)(QUEUE_NOTIFY_NEVER | QUEUE_NOTIFY_SUCCESS |
	    QUEUE_NOTIFY_FAILURE | QUEUE_NOTIFY_DELAY))
		return -1;
	/* RFC 3461 4.1: NEVER excludes every other keyword */
	if ((n & QUEUE_NOTIFY_NEVER) && n != QUEUE_NOTIFY_NEVER)
		return -1;
	return 0;
}

int
queue_drop_check(const struct queue_msg *m, char *err, size_t errlen)
{
	size_t i;

	if (queue_id_valid(m->qid) < 0) {
		snprintf(err, errlen, "bad queue id");
		return -1;
	}
	if (m->sender == NULL || drop_check_text(m->sender, QUEUE_ADDR_MAX) < 0) {
		snprintf(err, errlen, "bad sender");
		return -1;
	}
	if (m->envid != NULL && (m->envid[0] == '\0' ||
	    drop_check_text(m->envid, DROP_ENVID_MAX) < 0)) {
		snprintf(err, errlen, "bad envid");
		return -1;
	}
	if (m->ret != QUEUE_RET_DEFAULT && m->ret != QUEUE_RET_FULL &&
	    m->ret != QUEUE_RET_HDRS) {
		snprintf(err, errlen, "bad ret");
		return -1;
	}
	if (m->flags & ~(unsigned)QUEUE_DROP_FLAGS_OK) {
		snprintf(err, errlen, "flags not allowed in a drop file");
		return -1;
	}
	if (m->arrival < 0 || (uint64_t)m->arrival > DROP_ARRIVAL_MAX) {
		snprintf(err, errlen, "bad arrival time");
		return -1;
	}
	if (m->nrcpt == 0 || m->nrcpt > QUEUE_RCPT_MAX) {
		snprintf(err, errlen, "recipient count %zu out of range 1..%d",
		    m->nrcpt, QUEUE_RCPT_MAX);
		return -1;
	}
	for (i = 0; i < m->nrcpt; i++) {
		const struct queue_rcpt *r = &m->rcpt[i];

		if (r->addr == NULL || r->addr[0] == '\0' ||
		    drop_check_text(r->addr, QUEUE_ADDR_MAX) < 0) {
			snprintf(err, errlen, "bad recipient #%zu", i);
			return -1;
		}
		if (r->orcpt != NULL && (strchr(r->orcpt, ';') == NULL ||
		    drop_check_text(r->orcpt, QUEUE_ADDR_MAX) < 0)) {
			snprintf(err, errlen, "bad orcpt of recipient #%zu", i);
			return -1;
		}
		if (drop_notify_valid(r->notify) < 0) {
			snprintf(err, errlen, "bad notify of recipient #%zu", i);
			return -1;
		}
	}
	if (m->body_len > QUEUE_DROP_MAX || (m->body == NULL && m->body_len)) {
		snprintf(err, errlen, "bad body");
		return -1;
	}
	return 0;
}

/* ---- formatting ---------------------------------------------------------- */

static void
drop_put_xtext(struct dynbuf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		char enc[3];

		if (c >= '!' && c <= '~' && c != '+' && c != '=') {
			if (dynbuf_add(b, s, 1) < 0)
				log_panic("drop image exceeds its buffer");
			continue;
		}
		enc[0] = '+';
		enc[1] = hex[c >> 4];
		enc[2] = hex[c & 15];
		if (dynbuf_add(b, enc, 3) < 0)
			log_panic("drop image exceeds its buffer");
	}
}

/* The buffer limit only guards against a corrupt in-memory message:
 * callers that care about size run queue_drop_check first. */
#define DROP_PUT(b, ...) do { if (dynbuf_addf((b), __VA_ARGS__) < 0) \
	log_panic("drop image exceeds its buffer"); } while (0)

char *
queue_drop_format(const struct queue_msg *m, size_t *len)
{
	struct dynbuf b;
	uint64_t sum;
	size_t i;

	dynbuf_init(&b, (size_t)-2);
	DROP_PUT(&b, "%s\nqid %s\narrival %lld\nsender ", DROP_MAGIC, m->qid,
	    (long long)m->arrival);
	drop_put_xtext(&b, m->sender ? m->sender : "");
	if (m->envid != NULL && m->envid[0] != '\0') {
		DROP_PUT(&b, "\nenvid ");
		drop_put_xtext(&b, m->envid);
	}
	DROP_PUT(&b, "\nret %d\nflags %u\n", m->ret, m->flags);
	for (i = 0; i < m->nrcpt; i++) {
		const struct queue_rcpt *r = &m->rcpt[i];

		DROP_PUT(&b, "rcpt %u ", r->notify);
		drop_put_xtext(&b, r->addr);
		if (r->orcpt != NULL && r->orcpt[0] != '\0') {
			DROP_PUT(&b, " ");
			drop_put_xtext(&b, r->orcpt);
		}
		DROP_PUT(&b, "\n");
	}
	DROP_PUT(&b, "body %zu\n", m->body_len);
	if (m->body_len && dynbuf_add(&b, m->body, m->body_len) < 0)
		log_panic("drop image exceeds its buffer");
	DROP_PUT(&b, "\n");
	sum = queue_drop_fnv64(b.p, b.len);
	DROP_PUT(&b, "end %016llx\n", (unsigned long long)sum);
	return dynbuf_take(&b, len);
}

/* ---- parsing ------------------------------------------------------------- */

/* A cursor over the image; the first error sticks and stops everything. */
struct drop_cur {
	const char *buf;
	size_t      len;
	size_t      off;
	const char *err;
};

/* Next LF-terminated line (without the LF), at most DROP_LINE_MAX. */
static int
drop_line(struct drop_cur *c, const char **line, size_t *linelen)
{
	size_t avail, scan;
	const char *nl;

	if (c->err)
		return -1;
	avail = c->len - c->off;
	scan = avail < DROP_LINE_MAX + 1 ? avail : DROP_LINE_MAX + 1;
	nl = memchr(c->buf + c->off, '\n', scan);
	if (nl == NULL) {
		c->err = scan == avail ? "truncated" : "line too long";
		return -1;
	}
	*line = c->buf + c->off;
	*linelen = (size_t)(nl - *line);
	c->off += *linelen + 1;
	return 0;
}

/* Is the line "<key> ..."?  Sets *val and *vallen to what follows the space. */
static int
drop_key(const char *line, size_t linelen, const char *key,
    const char **val, size_t *vallen)
{
	size_t k = strlen(key);

	if (linelen <= k || memcmp(line, key, k) != 0 || line[k] != ' ')
		return -1;
	*val = line + k + 1;
	*vallen = linelen - k - 1;
	return 0;
}

/* Expect "<key> <value>" as the next line. */
static int
drop_field(struct drop_cur *c, const char *key, const char **val,
    size_t *vallen)
{
	const char *line;
	size_t linelen;

	if (drop_line(c, &line, &linelen) < 0)
		return -1;
	if (drop_key(line, linelen, key, val, vallen) < 0) {
		c->err = "unexpected line";
		return -1;
	}
	return 0;
}

static int
drop_hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Decode xtext s[0..n) into a new string of at most max bytes. */
static char *
drop_xtext(struct drop_cur *c, const char *s, size_t n, size_t max)
{
	char *out;
	size_t i, o = 0;

	if (c->err)
		return NULL;
	if (n > 3 * max) {
		c->err = "field too long";
		return NULL;
	}
	out = xmalloc(n + 1);
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		int hi, lo;

		if (ch == '+') {
			if (n - i < 3 || (hi = drop_hexval(s[i + 1])) < 0 ||
			    (lo = drop_hexval(s[i + 2])) < 0 ||
			    (hi == 0 && lo == 0))
				goto bad;
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else if (ch >= '!' && ch <= '~' && ch != '=')
			out[o++] = (char)ch;
		else
			goto bad;
	}
	out[o] = '\0';
	if (o > max) {
		free(out);
		c->err = "field too long";
		return NULL;
	}
	return out;
bad:
	free(out);
	c->err = "bad xtext";
	return NULL;
}

static int
drop_uint(struct drop_cur *c, const char *s, size_t n, uint64_t max,
    uint64_t *out)
{
	if (c->err)
		return -1;
	/* util_parse_uint accepts leading zeros; refuse them so every value
	 * has one spelling.  The explicit *out > max check is belt and
	 * braces: util_parse_uint once let a digit above a small max
	 * through (fixed in ffbd7d8), and this parser faces local users. */
	if (util_parse_uint(s, n, max, out) < 0 || *out > max ||
	    (n > 1 && s[0] == '0')) {
		c->err = "bad number";
		return -1;
	}
	return 0;
}

/* "rcpt <notify> <addr>[ <orcpt>]" */
static void
drop_rcpt(struct drop_cur *c, struct queue_msg *m, const char *v, size_t n)
{
	const char *sp1, *sp2, *end = v + n;
	char *addr, *orcpt = NULL;
	uint64_t notify;

	sp1 = memchr(v, ' ', n);
	if (sp1 == NULL) {
		c->err = "bad rcpt line";
		return;
	}
	if (drop_uint(c, v, (size_t)(sp1 - v), 15, &notify) < 0)
		return;
	sp1++;
	sp2 = memchr(sp1, ' ', (size_t)(end - sp1));
	addr = drop_xtext(c, sp1, (size_t)((sp2 ? sp2 : end) - sp1),
	    QUEUE_ADDR_MAX);
	if (addr == NULL)
		return;
	if (sp2 != NULL) {
		orcpt = drop_xtext(c, sp2 + 1, (size_t)(end - sp2 - 1),
		    QUEUE_ADDR_MAX);
		if (orcpt == NULL || orcpt[0] == '\0') {
			if (!c->err)
				c->err = "empty orcpt";
			free(addr);
			free(orcpt);
			return;
		}
	}
	queue_msg_add_rcpt(m, addr, orcpt, (unsigned)notify);
	free(addr);
	free(orcpt);
}

static void
drop_parse_fields(struct drop_cur *c, struct queue_msg *m)
{
	const char *line, *v;
	size_t linelen, n;
	uint64_t u;

	if (drop_line(c, &line, &linelen) < 0)
		return;
	if (linelen != strlen(DROP_MAGIC) || memcmp(line, DROP_MAGIC, linelen)) {
		c->err = "bad magic or unsupported version";
		return;
	}
	if (drop_field(c, "qid", &v, &n) < 0)
		return;
	if (n != QUEUE_ID_LEN) {
		c->err = "bad queue id";
		return;
	}
	memcpy(m->qid, v, QUEUE_ID_LEN);
	m->qid[QUEUE_ID_LEN] = '\0';
	if (queue_id_valid(m->qid) < 0) {
		c->err = "bad queue id";
		return;
	}
	if (drop_field(c, "arrival", &v, &n) < 0 ||
	    drop_uint(c, v, n, DROP_ARRIVAL_MAX, &u) < 0)
		return;
	m->arrival = (int64_t)u;

	/* "sender " with nothing after it is the null sender, so this one
	 * is matched by hand rather than through drop_field. */
	if (drop_line(c, &line, &linelen) < 0)
		return;
	if (linelen < 7 || memcmp(line, "sender ", 7) != 0) {
		c->err = "unexpected line";
		return;
	}
	free(m->sender);
	m->sender = NULL;
	if ((m->sender = drop_xtext(c, line + 7, linelen - 7,
	    QUEUE_ADDR_MAX)) == NULL)
		return;

	if (drop_line(c, &line, &linelen) < 0)
		return;
	if (drop_key(line, linelen, "envid", &v, &n) == 0) {
		if ((m->envid = drop_xtext(c, v, n, DROP_ENVID_MAX)) == NULL)
			return;
		if (drop_line(c, &line, &linelen) < 0)
			return;
	}
	if (drop_key(line, linelen, "ret", &v, &n) < 0) {
		c->err = "unexpected line";
		return;
	}
	if (drop_uint(c, v, n, QUEUE_RET_HDRS, &u) < 0)
		return;
	m->ret = (int)u;
	if (drop_field(c, "flags", &v, &n) < 0 ||
	    drop_uint(c, v, n, 0xffffffffu, &u) < 0)
		return;
	m->flags = (unsigned)u;

	for (;;) {
		if (drop_line(c, &line, &linelen) < 0)
			return;
		if (drop_key(line, linelen, "rcpt", &v, &n) < 0)
			break;
		if (m->nrcpt >= QUEUE_RCPT_MAX) {
			c->err = "too many recipients";
			return;
		}
		drop_rcpt(c, m, v, n);
		if (c->err)
			return;
	}
	if (drop_key(line, linelen, "body", &v, &n) < 0) {
		c->err = "unexpected line";
		return;
	}
	if (drop_uint(c, v, n, QUEUE_DROP_MAX, &u) < 0)
		return;
	/* body bytes, then LF, then the end line */
	if (u > c->len - c->off || c->len - c->off - u < 1) {
		c->err = "body length mismatch";
		return;
	}
	m->body = xmalloc((size_t)u + 1);
	memcpy(m->body, c->buf + c->off, (size_t)u);
	m->body[u] = '\0';
	m->body_len = m->size = (size_t)u;
	c->off += (size_t)u;
	if (c->buf[c->off] != '\n') {
		c->err = "body length mismatch";
		return;
	}
	c->off++;
}

static void
drop_parse_trailer(struct drop_cur *c)
{
	size_t sumlen = c->off, n, i;
	const char *v;
	uint64_t want = 0, got;

	if (drop_field(c, "end", &v, &n) < 0)
		return;
	if (n != 16) {
		c->err = "bad end line";
		return;
	}
	for (i = 0; i < 16; i++) {
		int d;

		if (v[i] >= '0' && v[i] <= '9')
			d = v[i] - '0';
		else if (v[i] >= 'a' && v[i] <= 'f')
			d = v[i] - 'a' + 10;
		else {
			c->err = "bad end line";
			return;
		}
		want = want << 4 | (uint64_t)d;
	}
	if (c->off != c->len) {
		c->err = "junk after end line";
		return;
	}
	got = queue_drop_fnv64(c->buf, sumlen);
	if (got != want)
		c->err = "checksum mismatch";
}

struct queue_msg *
queue_drop_parse(const char *buf, size_t len, char *err, size_t errlen)
{
	struct drop_cur c = { buf, len, 0, NULL };
	struct queue_msg *m;

	if (len > QUEUE_DROP_MAX) {
		snprintf(err, errlen, "drop file larger than %u bytes",
		    QUEUE_DROP_MAX);
		return NULL;
	}
	m = queue_msg_new();
	drop_parse_fields(&c, m);
	if (!c.err)
		drop_parse_trailer(&c);
	if (c.err) {
		snprintf(err, errlen, "%s at offset %zu", c.err, c.off);
		queue_msg_free(m);
		return NULL;
	}
	if (queue_drop_check(m, err, errlen) < 0) {
		queue_msg_free(m);
		return NULL;
	}
	return m;
}
