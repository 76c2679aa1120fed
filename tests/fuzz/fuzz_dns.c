/*
 * fuzz_dns.c - the resolver's wire parsers (resolver/res_int.h): rdata of
 * MX, A/AAAA, TXT, TLSA and CNAME as libunbound hands it over, the CNAME
 * chain walk over a whole answer packet (compression pointers included),
 * MX RRset ordering fed by parsed MX rdata, and name normalisation.
 * Everything DNS returns is hostile, DNSSEC or not.
 *
 * The first input byte picks the parser; for the bounded-output parsers
 * the second byte picks the output size, and the output buffer is a heap
 * block of exactly that size so ASan sees any write past it.
 */
#include <sys/socket.h>

#include "fuzz_common.h"

#include "resolver/res_int.h"
#include "util.h"

/* Exactly-sized heap output buffer (outsize >= 1). */
static char *
outbuf(size_t outsize)
{
	char *p = malloc(outsize);

	if (p == NULL)
		abort();
	memset(p, 0x55, outsize);
	return p;
}

/* sizes to try: the real one, and small ones near the edges */
static size_t
pick_size(uint8_t b)
{
	static const size_t sizes[] = { RES_NAME_MAX, RES_NAME_MAX, 1, 2, 3,
	    4, 16, 64, 255, 257, 1024 };

	return sizes[b % (sizeof(sizes) / sizeof(sizes[0]))];
}

static void
check_name(int rc, const char *out, size_t outsize)
{
	if (rc == 0) {
		FUZZ_CHECK(fuzz_terminated(out, outsize));
		FUZZ_CHECK(out[0] != '\0');
	}
}

static void
fuzz_name(const uint8_t *d, size_t n, size_t outsize)
{
	char *out = outbuf(outsize);

	check_name(res_wire_name(d, n, out, outsize), out, outsize);
	free(out);
}

static void
fuzz_mx(const uint8_t *d, size_t n, size_t outsize)
{
	char *out = outbuf(outsize);
	uint16_t pref;

	check_name(res_wire_mx(d, n, &pref, out, outsize), out, outsize);
	free(out);
}

static void
fuzz_addr(int rrtype, const uint8_t *d, size_t n)
{
	struct sockaddr_storage ss;

	if (res_wire_addr(rrtype, d, n, &ss) == 0)
		FUZZ_CHECK(ss.ss_family == (rrtype == RES_TYPE_A ?
		    AF_INET : AF_INET6));
}

static void
fuzz_txt(const uint8_t *d, size_t n, size_t outsize)
{
	char *out = outbuf(outsize);

	if (res_wire_txt(d, n, out, outsize) == 0)
		FUZZ_CHECK(fuzz_terminated(out, outsize) && strlen(out) < n);
	free(out);
}

static void
fuzz_tlsa(const uint8_t *d, size_t n)
{
	struct res_tlsa t;

	if (res_wire_tlsa(d, n, &t) == 0) {
		FUZZ_CHECK(t.len >= 1 && t.len <= RES_WIRE_TLSA_MAX);
		FUZZ_CHECK(t.len + 3 == n && memcmp(t.data, d + 3, t.len) == 0);
		free(t.data);
	} else {
		FUZZ_CHECK(t.data == NULL);
	}
}

static void
fuzz_cname_chain(const uint8_t *d, size_t n, uint8_t sel)
{
	size_t qsize = pick_size(sel), max = sel % (RES_CNAME_MAX + 1), k, got;
	char (*chain)[RES_NAME_MAX] = malloc(RES_CNAME_MAX * RES_NAME_MAX);
	char *q = outbuf(qsize);

	if (chain == NULL)
		abort();
	if (res_wire_cname_chain(d, n, q, qsize, chain, max, &got) == 0) {
		FUZZ_CHECK(got <= max);
		FUZZ_CHECK(fuzz_terminated(q, qsize) && q[0] != '\0');
		for (k = 0; k < got; k++)
			FUZZ_CHECK(fuzz_terminated(chain[k], RES_NAME_MAX) &&
			    chain[k][0] != '\0');
	}
	free(q);
	free(chain);
}

/* Deterministic "random" numbers for the shuffle, from the input. */
struct rnd_state { uint32_t x; };

static uint32_t
fuzz_rand(void *arg, uint32_t bound)
{
	struct rnd_state *s = arg;

	s->x ^= s->x << 13;
	s->x ^= s->x >> 17;
	s->x ^= s->x << 5;
	return s->x % bound;
}

/* A list of <len><MX rdata> items, parsed and then ordered. */
static void
fuzz_mx_order(const uint8_t *d, size_t n, uint8_t sel)
{
	struct res_mx_rec *in, out[RES_MX_HOSTS_MAX];
	struct rnd_state rs = { 0x9e3779b9u ^ sel };
	size_t nin = 0, off = 0, nout = 99, outmax, i, j;
	enum res_mx_order_result r;

	in = calloc(n + 1, sizeof(*in));
	if (in == NULL)
		abort();
	while (off < n) {
		size_t l = d[off++];

		if (l > n - off)
			break;
		if (res_wire_mx(d + off, l, &in[nin].pref, in[nin].host,
		    sizeof(in[nin].host)) == 0)
			nin++;
		off += l;
	}
	outmax = 1 + sel % RES_MX_HOSTS_MAX;
	r = res_mx_order(in, nin, fuzz_rand, &rs, out, outmax, &nout);
	switch (r) {
	case RES_MX_ORDER_NULL_MX:
		FUZZ_CHECK(nin == 1 && in[0].pref == 0 &&
		    strcmp(in[0].host, ".") == 0);
		break;
	case RES_MX_ORDER_NONE:
		FUZZ_CHECK(nout == 0);
		break;
	case RES_MX_ORDER_HOSTS:
		FUZZ_CHECK(nout >= 1 && nout <= outmax);
		for (i = 0; i < nout; i++) {
			FUZZ_CHECK(out[i].host[0] != '\0' &&
			    strcmp(out[i].host, ".") != 0);
			FUZZ_CHECK(!res_is_ip_literal(out[i].host));
			if (i > 0)
				FUZZ_CHECK(out[i - 1].pref <= out[i].pref);
			for (j = 0; j < i; j++)
				FUZZ_CHECK(util_strcasecmp(out[i].host,
				    out[j].host) != 0);
		}
		break;
	default:
		FUZZ_CHECK(!"unknown res_mx_order result");
	}
	free(in);
}

static void
fuzz_normalize(const uint8_t *d, size_t n, size_t outsize)
{
	char *s = fuzz_strndup(d, n), *out = outbuf(outsize);

	if (res_name_normalize(s, out, outsize) == 0)
		FUZZ_CHECK(fuzz_terminated(out, outsize) && out[0] != '\0');
	(void)res_is_ip_literal(s);
	free(out);
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t sel, arg;

	if (size < 2)
		return 0;
	sel = data[0];
	arg = data[1];
	data += 2;
	size -= 2;
	switch (sel % 9) {
	case 0: fuzz_name(data, size, pick_size(arg)); break;
	case 1: fuzz_mx(data, size, pick_size(arg)); break;
	case 2: fuzz_addr(arg & 1 ? RES_TYPE_AAAA : RES_TYPE_A, data, size);
		break;
	case 3: fuzz_txt(data, size, pick_size(arg)); break;
	case 4: fuzz_tlsa(data, size); break;
	case 5:
	case 6: fuzz_cname_chain(data, size, arg); break;
	case 7: fuzz_mx_order(data, size, arg); break;
	default: fuzz_normalize(data, size, pick_size(arg)); break;
	}
	return 0;
}
