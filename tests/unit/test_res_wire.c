/*
 * test_res_wire.c - table-driven tests of the resolver's wire parsers.
 *
 * Every input is hand-built bytes: names with and without compression,
 * pointer loops, truncations, the 255-octet limit, and answer packets
 * whose CNAME chain must be followed from the question name.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "resolver/res_int.h"

/* ---- a tiny packet builder ---------------------------------------------- */

struct pkt {
	uint8_t b[4096];
	size_t  n;
};

static void
put(struct pkt *p, const void *d, size_t n)
{
	assert_true(p->n + n <= sizeof(p->b));
	memcpy(p->b + p->n, d, n);
	p->n += n;
}

static void
put8(struct pkt *p, uint8_t v)
{
	put(p, &v, 1);
}

static void
put16(struct pkt *p, uint16_t v)
{
	put8(p, (uint8_t)(v >> 8));
	put8(p, (uint8_t)v);
}

static void
put32(struct pkt *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p, (uint16_t)v);
}

/* Uncompressed wire form of a dotted name ("" or "." is the root). */
static void
putname(struct pkt *p, const char *name)
{
	while (*name != '\0' && strcmp(name, ".") != 0) {
		const char *dot = strchr(name, '.');
		size_t l = dot ? (size_t)(dot - name) : strlen(name);

		put8(p, (uint8_t)l);
		put(p, name, l);
		name += l + (dot ? 1 : 0);
	}
	put8(p, 0);
}

static void
putptr(struct pkt *p, uint16_t off)
{
	put16(p, (uint16_t)(0xc000 | off));
}

/* ---- names --------------------------------------------------------------- */

struct name_case {
	const char *what;
	const uint8_t *bytes;
	size_t len;
	size_t start;		/* cursor offset to read from */
	int ok;
	const char *want;
	size_t want_end;	/* cursor offset after the name */
};

#define B(s) (const uint8_t *)(s), sizeof(s) - 1

static const struct name_case name_cases[] = {
	{ "plain", B("\3www\7example\3com\0"), 0, 1, "www.example.com", 17 },
	{ "root", B("\0"), 0, 1, ".", 1 },
	{ "lower-cased", B("\3WwW\7ExAmPle\0"), 0, 1, "www.example", 13 },
	{ "pointer back", B("\7example\3com\0\3www\300\0"), 13, 1,
	    "www.example.com", 19 },
	{ "pointer only", B("\3com\0\300\0"), 5, 1, "com", 7 },
	{ "pointer chain", B("\3com\0\7example\300\0\3www\300\5"), 15, 1,
	    "www.example.com", 21 },
	{ "self pointer", B("\300\0"), 0, 0, NULL, 0 },
	{ "forward pointer", B("\300\2\3com\0"), 0, 0, NULL, 0 },
	{ "pointer loop", B("\300\2\300\0"), 2, 0, NULL, 0 },
	{ "truncated pointer", B("\3com\0\300"), 5, 0, NULL, 0 },
	{ "truncated label", B("\5ab"), 0, 0, NULL, 0 },
	{ "no terminator", B("\3com"), 0, 0, NULL, 0 },
	{ "empty input", (const uint8_t *)"", 0, 0, 0, NULL, 0 },
	{ "label type 01", B("\100abc\0"), 0, 0, NULL, 0 },
	{ "label type 10", B("\200abc\0"), 0, 0, NULL, 0 },
	{ "escaped dot", B("\3a.b\3com\0"), 0, 1, "a\\046b.com", 9 },
	{ "escaped bytes", B("\2\0\377\0"), 0, 1, "\\000\\255", 4 },
	{ "underscore", B("\3_25\4_tcp\2mx\0"), 0, 1, "_25._tcp.mx", 13 },
};

static void
test_names(void **state)
{
	for (size_t i = 0; i < sizeof(name_cases) / sizeof(name_cases[0]); i++) {
		const struct name_case *t = &name_cases[i];
		struct res_cursor c;
		char out[RES_NAME_MAX];
		int rc;

		res_cur_init(&c, t->bytes, t->len);
		c.off = t->start;
		rc = res_cur_name(&c, out, sizeof(out));
		if (t->ok) {
			if (rc != 0)
				fail_msg("case %s: refused", t->what);
			assert_string_equal(out, t->want);
			assert_int_equal(c.off, t->want_end);
			assert_false(c.err);
		} else {
			if (rc != -1 || !c.err)
				fail_msg("case %s: accepted", t->what);
			/* the error sticks */
			assert_int_equal(res_cur_u8(&c), 0);
			assert_true(c.err);
		}
	}
}

static void
test_name_limits(void **state)
{
	struct pkt p = { .n = 0 };
	struct res_cursor c;
	char out[RES_NAME_MAX], label[64];

	memset(label, 'a', 63);
	/* 3 x 63 + 61 octet labels: 64*3 + 62 + 1 = 255 octets: the limit */
	for (int i = 0; i < 3; i++) {
		put8(&p, 63);
		put(&p, label, 63);
	}
	put8(&p, 61);
	put(&p, label, 61);
	put8(&p, 0);
	res_cur_init(&c, p.b, p.n);
	assert_int_equal(res_cur_name(&c, out, sizeof(out)), 0);
	assert_int_equal(strlen(out), 63 * 3 + 61 + 3);

	/* one more octet is over RFC 1035's 255 */
	p.n = 0;
	for (int i = 0; i < 3; i++) {
		put8(&p, 63);
		put(&p, label, 63);
	}
	put8(&p, 62);
	put(&p, label, 62);
	put8(&p, 0);
	res_cur_init(&c, p.b, p.n);
	assert_int_equal(res_cur_name(&c, out, sizeof(out)), -1);

	/* the limit also holds across compression pointers */
	p.n = 0;
	for (int i = 0; i < 2; i++) {
		put8(&p, 63);
		put(&p, label, 63);
	}
	put8(&p, 0);			/* 129 octets at offset 0 */
	{
		size_t start = p.n;

		for (int i = 0; i < 2; i++) {
			put8(&p, 63);
			put(&p, label, 63);
		}
		putptr(&p, 0);		/* 128 + 129 = 257 octets */
		res_cur_init(&c, p.b, p.n);
		c.off = start;
		assert_int_equal(res_cur_name(&c, out, sizeof(out)), -1);
	}

	/* presentation form that does not fit the caller's buffer */
	p.n = 0;
	putname(&p, "abcdef.example");
	res_cur_init(&c, p.b, p.n);
	assert_int_equal(res_cur_name(&c, out, 10), -1);
	res_cur_init(&c, p.b, p.n);
	assert_int_equal(res_cur_name(&c, out, 15), 0);
	assert_string_equal(out, "abcdef.example");

	/* escapes count against the buffer: 63 x "\000" is 252 chars */
	p.n = 0;
	put8(&p, 63);
	for (int i = 0; i < 63; i++)
		put8(&p, 0);
	put8(&p, 0);
	res_cur_init(&c, p.b, p.n);
	assert_int_equal(res_cur_name(&c, out, sizeof(out)), 0);
	assert_int_equal(strlen(out), 63 * 4);
}

static void
test_cursor(void **state)
{
	static const uint8_t d[] = { 1, 2, 3, 4, 5, 6, 7 };
	struct res_cursor c;

	res_cur_init(&c, d, sizeof(d));
	assert_int_equal(res_cur_u8(&c), 1);
	assert_int_equal(res_cur_u16(&c), 0x0203);
	assert_int_equal(res_cur_u32(&c), 0x04050607);
	assert_false(c.err);
	assert_int_equal(res_cur_u8(&c), 0);
	assert_true(c.err);
	res_cur_init(&c, d, sizeof(d));
	res_cur_skip(&c, 6);
	assert_int_equal(res_cur_u16(&c), 0);	/* one byte short */
	assert_true(c.err);
	c.off = 0;				/* still failed */
	assert_int_equal(res_cur_u8(&c), 0);
	assert_null(res_cur_bytes(&c, 0));
	res_cur_init(&c, d, sizeof(d));
	assert_null(res_cur_bytes(&c, SIZE_MAX));
}

/* ---- rdata --------------------------------------------------------------- */

struct mx_case {
	const char *what;
	const uint8_t *rd;
	size_t len;
	int ok;
	uint16_t pref;
	const char *host;
};

static const struct mx_case mx_cases[] = {
	{ "normal", B("\0\12\4mail\7example\3com\0"), 1, 10, "mail.example.com" },
	{ "null mx", B("\0\0\0"), 1, 0, "." },
	{ "max pref", B("\377\377\2mx\0"), 1, 65535, "mx" },
	{ "no name", B("\0\12"), 0, 0, NULL },
	{ "short", B("\0"), 0, 0, NULL },
	{ "empty", (const uint8_t *)"", 0, 0, 0, NULL },
	{ "trailing", B("\0\12\2mx\0\0"), 0, 0, NULL },
	{ "truncated name", B("\0\12\4mai"), 0, 0, NULL },
	{ "pointer", B("\0\12\300\0"), 0, 0, NULL },
};

static void
test_mx(void **state)
{
	for (size_t i = 0; i < sizeof(mx_cases) / sizeof(mx_cases[0]); i++) {
		const struct mx_case *t = &mx_cases[i];
		uint16_t pref = 99;
		char host[RES_NAME_MAX];
		int rc = res_wire_mx(t->rd, t->len, &pref, host, sizeof(host));

		if (t->ok != (rc == 0))
			fail_msg("case %s: rc %d", t->what, rc);
		if (t->ok) {
			assert_int_equal(pref, t->pref);
			assert_string_equal(host, t->host);
		}
	}
}

struct txt_case {
	const char *what;
	const uint8_t *rd;
	size_t len;
	int ok;
	const char *want;
};

static const struct txt_case txt_cases[] = {
	{ "one", B("\13v=STSv1; id"), 1, "v=STSv1; id" },
	{ "several", B("\5hello\1 \5world"), 1, "hello world" },
	{ "empty string", B("\0"), 1, "" },
	{ "empty then text", B("\0\2ab\0"), 1, "ab" },
	{ "no strings", (const uint8_t *)"", 0, 0, NULL },
	{ "truncated", B("\5hel"), 0, NULL },
	{ "truncated second", B("\2ab\3c"), 0, NULL },
	{ "embedded nul", B("\3a\0b"), 0, NULL },
};

static void
test_txt(void **state)
{
	for (size_t i = 0; i < sizeof(txt_cases) / sizeof(txt_cases[0]); i++) {
		const struct txt_case *t = &txt_cases[i];
		char out[512];
		int rc = res_wire_txt(t->rd, t->len, out, sizeof(out));

		if (t->ok != (rc == 0))
			fail_msg("case %s: rc %d", t->what, rc);
		if (t->ok)
			assert_string_equal(out, t->want);
	}
}

static void
test_txt_long(void **state)
{
	struct pkt p = { .n = 0 };
	char big[255], out[600];

	memset(big, 'x', sizeof(big));
	put8(&p, 255);
	put(&p, big, 255);
	put8(&p, 255);
	put(&p, big, 255);
	assert_int_equal(res_wire_txt(p.b, p.n, out, sizeof(out)), 0);
	assert_int_equal(strlen(out), 510);
	/* the output buffer bounds the result; rdlen + 1 always fits */
	assert_int_equal(res_wire_txt(p.b, p.n, out, 510), -1);
	assert_int_equal(res_wire_txt(p.b, p.n, out, 511), 0);
}

struct tlsa_case {
	const char *what;
	size_t datalen;		/* bytes after usage/selector/mtype */
	size_t headlen;		/* 3, or less for truncated */
	int ok;
};

static const struct tlsa_case tlsa_cases[] = {
	{ "sha256", 32, 3, 1 },
	{ "sha512", 64, 3, 1 },
	{ "one byte", 1, 3, 1 },
	{ "full spki", 294, 3, 1 },
	{ "at limit", RES_WIRE_TLSA_MAX, 3, 1 },
	{ "over limit", RES_WIRE_TLSA_MAX + 1, 3, 0 },
	{ "no data", 0, 3, 0 },
	{ "two bytes", 0, 2, 0 },
	{ "empty", 0, 0, 0 },
};

static void
test_tlsa(void **state)
{
	for (size_t i = 0; i < sizeof(tlsa_cases) / sizeof(tlsa_cases[0]); i++) {
		const struct tlsa_case *t = &tlsa_cases[i];
		size_t len = t->headlen + t->datalen;
		uint8_t *rd = malloc(len + 3);
		struct res_tlsa tl;
		int rc;

		rd[0] = 3, rd[1] = 1, rd[2] = 1;
		for (size_t k = 0; k < t->datalen; k++)
			rd[3 + k] = (uint8_t)k;
		rc = res_wire_tlsa(rd, len, &tl);
		if (t->ok != (rc == 0))
			fail_msg("case %s: rc %d", t->what, rc);
		if (t->ok) {
			assert_int_equal(tl.usage, 3);
			assert_int_equal(tl.selector, 1);
			assert_int_equal(tl.mtype, 1);
			assert_int_equal(tl.len, t->datalen);
			assert_memory_equal(tl.data, rd + 3, t->datalen);
			free(tl.data);
		} else
			assert_null(tl.data);
		free(rd);
	}
}

static void
test_addr(void **state)
{
	static const uint8_t v4[4] = { 192, 0, 2, 7 };
	static const uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
	struct sockaddr_storage ss;
	char buf[64];

	assert_int_equal(res_wire_addr(RES_TYPE_A, v4, 4, &ss), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, buf,
	    sizeof(buf));
	assert_string_equal(buf, "192.0.2.7");
	assert_int_equal(((struct sockaddr_in *)&ss)->sin_port, 0);
	assert_int_equal(res_wire_addr(RES_TYPE_AAAA, v6, 16, &ss), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, buf,
	    sizeof(buf));
	assert_string_equal(buf, "2001:db8::1");
	assert_int_equal(res_wire_addr(RES_TYPE_A, v4, 3, &ss), -1);
	assert_int_equal(res_wire_addr(RES_TYPE_A, v6, 16, &ss), -1);
	assert_int_equal(res_wire_addr(RES_TYPE_AAAA, v4, 4, &ss), -1);
	assert_int_equal(res_wire_addr(RES_TYPE_MX, v4, 4, &ss), -1);
}

static void
test_single_name(void **state)
{
	char out[RES_NAME_MAX];

	assert_int_equal(res_wire_name(B("\6target\3net\0"), out, sizeof(out)), 0);
	assert_string_equal(out, "target.net");
	assert_int_equal(res_wire_name(B("\6target\3net\0x"), out,
	    sizeof(out)), -1);
	assert_int_equal(res_wire_name(B("\6target"), out, sizeof(out)), -1);
}

/* ---- CNAME chain from an answer packet ------------------------------------ */

static void
header(struct pkt *p, uint16_t qd, uint16_t an)
{
	p->n = 0;
	put16(p, 0x1234);
	put16(p, 0x8180);
	put16(p, qd);
	put16(p, an);
	put16(p, 0);
	put16(p, 0);
}

static void
rr_head(struct pkt *p, uint16_t type, uint16_t rdlen)
{
	put16(p, type);
	put16(p, 1);
	put32(p, 300);
	put16(p, rdlen);
}

/* An RR with an uncompressed owner and a single-name rdata. */
static void
rr_name(struct pkt *p, const char *owner, uint16_t type, const char *target)
{
	struct pkt rd = { .n = 0 };

	putname(p, owner);
	putname(&rd, target);
	rr_head(p, type, (uint16_t)rd.n);
	put(p, rd.b, rd.n);
}

static void
rr_a(struct pkt *p, const char *owner)
{
	static const uint8_t a[4] = { 192, 0, 2, 1 };

	putname(p, owner);
	rr_head(p, RES_TYPE_A, 4);
	put(p, a, 4);
}

static void
test_cname_chain(void **state)
{
	struct pkt p;
	char chain[RES_CNAME_MAX][RES_NAME_MAX], qname[RES_NAME_MAX];
	size_t n = 99;

	/* www.example.com -> a.example.net -> b.example.org, A at the end,
	 * answer records deliberately out of order */
	header(&p, 1, 3);
	putname(&p, "WWW.Example.com");
	put16(&p, RES_TYPE_A);
	put16(&p, 1);
	rr_a(&p, "b.example.org");
	rr_name(&p, "a.example.net", RES_TYPE_CNAME, "b.example.org");
	rr_name(&p, "www.example.com", RES_TYPE_CNAME, "A.example.net");
	assert_int_equal(res_wire_cname_chain(p.b, p.n, qname, sizeof(qname),
	    chain, RES_CNAME_MAX, &n), 0);
	assert_string_equal(qname, "www.example.com");
	assert_int_equal(n, 2);
	assert_string_equal(chain[0], "a.example.net");
	assert_string_equal(chain[1], "b.example.org");

	/* max bounds the chain */
	assert_int_equal(res_wire_cname_chain(p.b, p.n, NULL, 0, chain, 1, &n),
	    0);
	assert_int_equal(n, 1);

	/* no CNAME at all */
	header(&p, 1, 1);
	putname(&p, "example.com");
	put16(&p, RES_TYPE_A);
	put16(&p, 1);
	rr_a(&p, "example.com");
	assert_int_equal(res_wire_cname_chain(p.b, p.n, NULL, 0, chain,
	    RES_CNAME_MAX, &n), 0);
	assert_int_equal(n, 0);

	/* an unrelated CNAME is not part of the chain */
	header(&p, 1, 1);
	putname(&p, "example.com");
	put16(&p, RES_TYPE_A);
	put16(&p, 1);
	rr_name(&p, "other.example.com", RES_TYPE_CNAME, "x.example");
	assert_int_equal(res_wire_cname_chain(p.b, p.n, NULL, 0, chain,
	    RES_CNAME_MAX, &n), 0);
	assert_int_equal(n, 0);
}

static void
test_cname_compressed(void **state)
{
	struct pkt p;
	char chain[RES_CNAME_MAX][RES_NAME_MAX];
	size_t n, qoff, toff;

	/* owner of the answer points at the question, target shares
	 * a suffix with the question via a pointer */
	header(&p, 1, 2);
	qoff = p.n;
	putname(&p, "mail.example.com");
	put16(&p, RES_TYPE_MX);
	put16(&p, 1);
	putptr(&p, (uint16_t)qoff);
	rr_head(&p, RES_TYPE_CNAME, 6);
	toff = p.n;
	put8(&p, 3);
	put(&p, "mx1", 3);
	putptr(&p, (uint16_t)(qoff + 5));	/* -> example.com */
	putptr(&p, (uint16_t)toff);
	rr_head(&p, RES_TYPE_MX, 4);
	put16(&p, 10);
	putptr(&p, (uint16_t)(qoff + 5));
	assert_int_equal(res_wire_cname_chain(p.b, p.n, NULL, 0, chain,
	    RES_CNAME_MAX, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(chain[0], "mx1.example.com");
}

static void
test_cname_loop_and_damage(void **state)
{
	struct pkt p;
	char chain[RES_CNAME_MAX][RES_NAME_MAX];
	size_t n, full;

	/* a -> b -> a: stops at max, never spins */
	header(&p, 1, 2);
	putname(&p, "a.test");
	put16(&p, RES_TYPE_A);
	put16(&p, 1);
	rr_name(&p, "a.test", RES_TYPE_CNAME, "b.test");
	rr_name(&p, "b.test", RES_TYPE_CNAME, "a.test");
	assert_int_equal(res_wire_cname_chain(p.b, p.n, NULL, 0, chain,
	    RES_CNAME_MAX, &n), 0);
	assert_int_equal(n, RES_CNAME_MAX);
	assert_string_equal(chain[0], "b.test");
	assert_string_equal(chain[1], "a.test");

	/* every truncation of a good packet is refused or parses short */
	full = p.n;
	for (size_t cut = 0; cut < full; cut++)
		assert_int_equal(res_wire_cname_chain(p.b, cut, NULL, 0, chain,
		    RES_CNAME_MAX, &n), -1);

	/* qdcount other than 1 */
	header(&p, 0, 0);
	assert_int_equal(res_wire_cname_chain(p.b, p.n, NULL, 0, chain,
	    RES_CNAME_MAX, &n), -1);
	header(&p, 2, 0);
	putname(&p, "a.test");
	put16(&p, 1);
	put16(&p, 1);
	assert_int_equal(res_wire_cname_chain(p.b, p.n, NULL, 0, chain,
	    RES_CNAME_MAX, &n), -1);

	/* ancount larger than the records present */
	header(&p, 1, 5);
	putname(&p, "a.test");
	put16(&p, 1);
	put16(&p, 1);
	rr_name(&p, "a.test", RES_TYPE_CNAME, "b.test");
	assert_int_equal(res_wire_cname_chain(p.b, p.n, NULL, 0, chain,
	    RES_CNAME_MAX, &n), -1);

	/* rdlength running past the end */
	header(&p, 1, 1);
	putname(&p, "a.test");
	put16(&p, 1);
	put16(&p, 1);
	putname(&p, "a.test");
	rr_head(&p, RES_TYPE_CNAME, 200);
	putname(&p, "b.test");
	assert_int_equal(res_wire_cname_chain(p.b, p.n, NULL, 0, chain,
	    RES_CNAME_MAX, &n), -1);

	/* a CNAME whose target is damaged */
	header(&p, 1, 1);
	putname(&p, "a.test");
	put16(&p, 1);
	put16(&p, 1);
	putname(&p, "a.test");
	rr_head(&p, RES_TYPE_CNAME, 2);
	putptr(&p, 0x3fff);
	assert_int_equal(res_wire_cname_chain(p.b, p.n, NULL, 0, chain,
	    RES_CNAME_MAX, &n), -1);
}

static void
test_normalize(void **state)
{
	static const struct { const char *in; int ok; const char *out; } t[] = {
		{ "Example.COM.", 1, "example.com" },
		{ "example.com", 1, "example.com" },
		{ ".", 1, "." },
		{ "", 0, NULL },
		{ "a\\.", 1, "a\\." },
	};
	char out[RES_NAME_MAX];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int rc = res_name_normalize(t[i].in, out, sizeof(out));

		assert_int_equal(rc == 0, t[i].ok);
		if (t[i].ok)
			assert_string_equal(out, t[i].out);
	}
	{
		char longname[300];

		memset(longname, 'a', sizeof(longname) - 1);
		longname[sizeof(longname) - 1] = '\0';
		assert_int_equal(res_name_normalize(longname, out,
		    sizeof(out)), -1);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cursor),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_name_limits),
		cmocka_unit_test(test_mx),
		cmocka_unit_test(test_txt),
		cmocka_unit_test(test_txt_long),
		cmocka_unit_test(test_tlsa),
		cmocka_unit_test(test_addr),
		cmocka_unit_test(test_single_name),
		cmocka_unit_test(test_cname_chain),
		cmocka_unit_test(test_cname_compressed),
		cmocka_unit_test(test_cname_loop_and_damage),
		cmocka_unit_test(test_normalize),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
