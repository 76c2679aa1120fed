/*
 * res_wire.c - bounded parsers for DNS wire data (RFC 1035 3.1, 4.1.4).
 *
 * Everything here is pure: bytes in, values out, no libunbound, no libuv.
 * libunbound validates DNSSEC but hands us raw rdata and the raw answer
 * packet; both are hostile input as far as this code is concerned.  The
 * cursor's error sticks (OpenSMTPD's unpack_dns.c is the model), names
 * are decoded with a hard octet limit and pointers that must go strictly
 * backwards, so a crafted packet can neither loop nor overrun.
 */
#include <netinet/in.h>
#include <string.h>

#include "res_int.h"
#include "util/util.h"

void
res_cur_init(struct res_cursor *c, const uint8_t *p, size_t len)
{
	c->base = p;
	c->len = len;
	c->off = 0;
	c->err = (p == NULL && len != 0);
	c->no_ptr = 0;
}

const uint8_t *
res_cur_bytes(struct res_cursor *c, size_t n)
{
	const uint8_t *p;

	if (c->err || n > c->len - c->off) {
		c->err = 1;
		return NULL;
	}
	p = c->base + c->off;
	c->off += n;
	return p;
}

void
res_cur_skip(struct res_cursor *c, size_t n)
{
	(void)res_cur_bytes(c, n);
}

uint8_t
res_cur_u8(struct res_cursor *c)
{
	const uint8_t *p = res_cur_bytes(c, 1);

	return p ? p[0] : 0;
}

uint16_t
res_cur_u16(struct res_cursor *c)
{
	const uint8_t *p = res_cur_bytes(c, 2);

	return p ? (uint16_t)((p[0] << 8) | p[1]) : 0;
}

uint32_t
res_cur_u32(struct res_cursor *c)
{
	const uint8_t *p = res_cur_bytes(c, 4);

	if (p == NULL)
		return 0;
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	    ((uint32_t)p[2] << 8) | p[3];
}

/* Append one label byte in presentation form; -1 when out is full. */
static int
name_put(char *out, size_t outsize, size_t *o, uint8_t b)
{
	char esc[4];
	size_t need = 1;

	if (b >= 'A' && b <= 'Z')
		b = (uint8_t)(b - 'A' + 'a');
	if (b == '.' || b == '\\' || b <= 0x20 || b >= 0x7f) {
		/* RFC 1035 5.1 \DDD, so odd bytes never reach a log raw */
		esc[0] = '\\';
		esc[1] = (char)('0' + b / 100);
		esc[2] = (char)('0' + (b / 10) % 10);
		esc[3] = (char)('0' + b % 10);
		need = 4;
	}
	if (outsize - *o <= need)	/* keep room for the NUL */
		return -1;
	if (need == 1)
		out[(*o)++] = (char)b;
	else {
		memcpy(out + *o, esc, 4);
		*o += 4;
	}
	return 0;
}

int
res_cur_name(struct res_cursor *c, char *out, size_t outsize)
{
	size_t pos, o = 0, wire = 0, end = 0;
	unsigned hops = 0;
	int jumped = 0;

	if (outsize < 2 || c->err) {
		c->err = 1;
		return -1;
	}
	pos = c->off;
	for (;;) {
		uint8_t l;

		if (pos >= c->len)
			goto bad;
		l = c->base[pos];
		if ((l & 0xc0) == 0xc0) {
			size_t target;

			if (c->no_ptr || pos + 1 >= c->len ||
			    ++hops > RES_WIRE_PTR_HOPS)
				goto bad;
			target = ((size_t)(l & 0x3f) << 8) | c->base[pos + 1];
			/* strictly backwards: every hop makes progress
			 * towards the start, so loops are impossible */
			if (target >= pos)
				goto bad;
			if (!jumped)
				end = pos + 2;
			jumped = 1;
			pos = target;
			continue;
		}
		if (l & 0xc0)		/* 0x40/0x80: obsolete label types */
			goto bad;
		wire += 1 + (size_t)l;
		if (wire > RES_WIRE_NAME_MAX)
			goto bad;
		if (l == 0) {
			if (!jumped)
				end = pos + 1;
			break;
		}
		if (pos + 1 + l > c->len)
			goto bad;
		if (o > 0) {
			if (outsize - o <= 1)
				goto bad;
			out[o++] = '.';
		}
		for (size_t i = 0; i < l; i++)
			if (name_put(out, outsize, &o, c->base[pos + 1 + i]) < 0)
				goto bad;
		pos += 1 + (size_t)l;
	}
	if (o == 0)
		out[o++] = '.';
	out[o] = '\0';
	c->off = end;
	return 0;
bad:
	c->err = 1;
	out[0] = '\0';
	return -1;
}

int
res_wire_name(const uint8_t *rd, size_t len, char *out, size_t outsize)
{
	struct res_cursor c;

	res_cur_init(&c, rd, len);
	c.no_ptr = 1;		/* libunbound hands rdata uncompressed */
	if (res_cur_name(&c, out, outsize) < 0 || c.off != len)
		return -1;
	return 0;
}

int
res_wire_mx(const uint8_t *rd, size_t len, uint16_t *pref, char *host,
    size_t hostsize)
{
	struct res_cursor c;

	res_cur_init(&c, rd, len);
	c.no_ptr = 1;		/* libunbound hands rdata uncompressed */
	*pref = res_cur_u16(&c);
	if (res_cur_name(&c, host, hostsize) < 0 || c.off != len)
		return -1;
	return 0;
}

int
res_wire_addr(int rrtype, const uint8_t *rd, size_t len,
    struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (rrtype == RES_TYPE_A && len == 4) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, rd, 4);
		return 0;
	}
	if (rrtype == RES_TYPE_AAAA && len == 16) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, rd, 16);
		return 0;
	}
	return -1;
}

int
res_wire_txt(const uint8_t *rd, size_t len, char *out, size_t outsize)
{
	struct res_cursor c;
	size_t o = 0;

	if (outsize == 0)
		return -1;
	res_cur_init(&c, rd, len);
	if (len == 0)		/* RFC 1035 3.3.14: one or more strings */
		goto bad;
	while (c.off < len) {
		uint8_t l = res_cur_u8(&c);
		const uint8_t *s = res_cur_bytes(&c, l);

		if (c.err || l >= outsize - o || memchr(s, 0, l) != NULL)
			goto bad;
		memcpy(out + o, s, l);
		o += l;
	}
	out[o] = '\0';
	return 0;
bad:
	out[0] = '\0';
	return -1;
}

int
res_wire_tlsa(const uint8_t *rd, size_t len, struct res_tlsa *t)
{
	struct res_cursor c;
	size_t n;

	memset(t, 0, sizeof(*t));
	res_cur_init(&c, rd, len);
	t->usage = res_cur_u8(&c);
	t->selector = res_cur_u8(&c);
	t->mtype = res_cur_u8(&c);
	if (c.err)
		return -1;
	n = len - c.off;
	/* RFC 6698 2.1: data is required; cap what we keep in memory */
	if (n == 0 || n > RES_WIRE_TLSA_MAX)
		return -1;
	t->data = xmalloc(n);
	memcpy(t->data, rd + c.off, n);
	t->len = n;
	return 0;
}

/* ASCII case-insensitive name equality on normalized names. */
static int
name_eq(const char *a, const char *b)
{
	return util_strcasecmp(a, b) == 0;
}

int
res_wire_cname_chain(const uint8_t *pkt, size_t len, char *qname,
    size_t qnamesize, char chain[][RES_NAME_MAX], size_t max, size_t *n)
{
	struct res_cursor c;
	uint16_t qd, an;
	size_t owner_off[RES_WIRE_CNAME_SCAN], rdata_off[RES_WIRE_CNAME_SCAN];
	size_t ncn = 0;
	char cur[RES_NAME_MAX], tmp[RES_NAME_MAX];

	*n = 0;
	res_cur_init(&c, pkt, len);
	res_cur_skip(&c, 4);			/* id, flags */
	qd = res_cur_u16(&c);
	an = res_cur_u16(&c);
	res_cur_skip(&c, 4);			/* nscount, arcount */
	if (c.err || qd != 1)
		return -1;
	if (res_cur_name(&c, cur, sizeof(cur)) < 0)
		return -1;
	res_cur_skip(&c, 4);			/* qtype, qclass */
	if (c.err)
		return -1;
	if (qname != NULL && qnamesize > 0) {
		if (strlen(cur) >= qnamesize)
			return -1;
		memcpy(qname, cur, strlen(cur) + 1);
	}

	/* Pass 1: remember where the CNAME records are (bounded). */
	for (uint16_t i = 0; i < an; i++) {
		size_t own = c.off;
		uint16_t type, rdlen;

		if (res_cur_name(&c, tmp, sizeof(tmp)) < 0)
			return -1;
		type = res_cur_u16(&c);
		res_cur_skip(&c, 6);		/* class, ttl */
		rdlen = res_cur_u16(&c);
		if (c.err)
			return -1;
		if (type == RES_TYPE_CNAME && ncn < RES_WIRE_CNAME_SCAN) {
			owner_off[ncn] = own;
			rdata_off[ncn] = c.off;
			ncn++;
		}
		res_cur_skip(&c, rdlen);
		if (c.err)
			return -1;
	}

	/* Pass 2: walk the chain from the question name. */
	while (*n < max) {
		size_t i;

		for (i = 0; i < ncn; i++) {
			struct res_cursor oc = c;

			oc.off = owner_off[i];
			oc.err = 0;
			if (res_cur_name(&oc, tmp, sizeof(tmp)) < 0)
				return -1;
			if (name_eq(tmp, cur))
				break;
		}
		if (i == ncn)
			break;
		{
			struct res_cursor rc = c;

			rc.off = rdata_off[i];
			rc.err = 0;
			if (res_cur_name(&rc, cur, sizeof(cur)) < 0)
				return -1;
		}
		memcpy(chain[*n], cur, strlen(cur) + 1);
		(*n)++;
	}
	return 0;
}

int
res_name_normalize(const char *in, char *out, size_t outsize)
{
	size_t len, i;

	if (in == NULL || outsize == 0)
		return -1;
	len = strlen(in);
	if (len > 1 && in[len - 1] == '.' && in[len - 2] != '\\')
		len--;
	if (len == 0 || len >= outsize)
		return -1;
	for (i = 0; i < len; i++) {
		char ch = in[i];

		out[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
	}
	out[len] = '\0';
	return 0;
}
