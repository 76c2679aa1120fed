/*
 * res_int.h - declarations shared inside the resolver module only.
 *
 * Two groups: the pure wire parsers and MX ordering (res_wire.c, res_mx.c),
 * which never touch libunbound or libuv and are unit tested with hand-built
 * bytes, and the query bookkeeping shared by res_ctx.c, res_lookup.c and
 * res_mx.c.
 */
#ifndef SEALPOST_RES_INT_H
#define SEALPOST_RES_INT_H

#include <stddef.h>
#include <stdint.h>

#include "resolver.h"

/* ---- wire format (RFC 1035 3.1, 4.1) ----------------------------------- */

#define RES_WIRE_NAME_MAX	255	/* wire octets in a name, RFC 1035 2.3.4 */
#define RES_WIRE_LABEL_MAX	63	/* octets in a label, RFC 1035 2.3.4 */
#define RES_WIRE_PTR_HOPS	64	/* compression pointers followed per name */
#define RES_WIRE_CNAME_SCAN	64	/* CNAME RRs examined per answer packet */
#define RES_WIRE_TLSA_MAX	4096	/* association data octets accepted */

#define RES_TYPE_A	1
#define RES_TYPE_CNAME	5
#define RES_TYPE_MX	15
#define RES_TYPE_TXT	16
#define RES_TYPE_AAAA	28
#define RES_TYPE_TLSA	52

/*
 * A read cursor over untrusted bytes.  base/len delimit the whole message
 * (needed to follow compression pointers); off is the read position.  The
 * first failed read sets err, and every later read fails too, so callers
 * may chain reads and check err once.
 */
struct res_cursor {
	const uint8_t *base;
	size_t         len;
	size_t         off;
	int            err;
	int            no_ptr;	/* refuse compression (standalone rdata) */
};

void     res_cur_init(struct res_cursor *c, const uint8_t *p, size_t len);
uint8_t  res_cur_u8(struct res_cursor *c);
uint16_t res_cur_u16(struct res_cursor *c);
uint32_t res_cur_u32(struct res_cursor *c);
void     res_cur_skip(struct res_cursor *c, size_t n);
/* Pointer to n bytes at the cursor, advancing; NULL (err set) if short. */
const uint8_t *res_cur_bytes(struct res_cursor *c, size_t n);
/*
 * Read a possibly compressed domain name at the cursor into out as lower
 * case presentation text without the trailing dot ("." for the root).
 * Bytes other than printable ASCII, '.' and '\\' inside labels are written
 * as \DDD.  Pointers must point strictly backwards, which rules out loops.
 * Returns 0, or -1 with err set (truncated, loop, label type, too long,
 * or any pointer when no_ptr is set).
 */
int res_cur_name(struct res_cursor *c, char *out, size_t outsize);

/*
 * Rdata parsers: rd/len is one record's rdata as libunbound hands it
 * (names uncompressed).  All return 0 or -1 and refuse trailing bytes.
 */
int res_wire_mx(const uint8_t *rd, size_t len, uint16_t *pref,
    char *host, size_t hostsize);
/* A (len 4) or AAAA (len 16) into a sockaddr with port 0. */
int res_wire_addr(int rrtype, const uint8_t *rd, size_t len,
    struct sockaddr_storage *ss);
/* TXT: character-strings concatenated into out, NUL terminated.  Refuses
 * embedded NUL bytes (they would silently cut a C string short). */
int res_wire_txt(const uint8_t *rd, size_t len, char *out, size_t outsize);
/* TLSA: usage, selector, matching type, then data; t->data is a copy the
 * caller frees.  Empty or over-long association data is refused. */
int res_wire_tlsa(const uint8_t *rd, size_t len, struct res_tlsa *t);
/* CNAME (or any single-name rdata). */
int res_wire_name(const uint8_t *rd, size_t len, char *out, size_t outsize);

/*
 * Follow the CNAME chain in a DNS response: start at the question name,
 * and while the answer section holds a CNAME owned by the current name,
 * record its target.  Stops after max links (a loop ends there too).
 * qname receives the question name (may be NULL).  Returns 0 with *n
 * links, -1 if the header, question or answer section is malformed.
 */
int res_wire_cname_chain(const uint8_t *pkt, size_t len,
    char *qname, size_t qnamesize,
    char chain[][RES_NAME_MAX], size_t max, size_t *n);

/* Lower-case name, strip one trailing dot (but keep "."), bounded copy.
 * Returns -1 if it does not fit or is empty. */
int res_name_normalize(const char *in, char *out, size_t outsize);

/* ---- MX ordering (RFC 5321 5.1, RFC 7505) ------------------------------ */

struct res_mx_rec {
	uint16_t pref;
	char     host[RES_NAME_MAX];
};

/* Random source: a number in [0, bound); bound > 0. */
typedef uint32_t (*res_rand_fn)(void *arg, uint32_t bound);
uint32_t res_rand_default(void *arg, uint32_t bound);

enum res_mx_order_result {
	RES_MX_ORDER_HOSTS,	/* out holds *nout >= 1 hosts */
	RES_MX_ORDER_NULL_MX,	/* RFC 7505 null MX */
	RES_MX_ORDER_NONE	/* records present but none usable */
};

/*
 * Order an MX RRset for delivery: detect the null MX (exactly one record,
 * preference 0, target "."), drop unusable targets (root, empty, IP
 * literals: a warning each), drop duplicate hosts keeping the lowest
 * preference, sort by preference, shuffle equal preferences with rnd and
 * keep at most outmax.  Pure apart from logging.
 */
enum res_mx_order_result res_mx_order(const struct res_mx_rec *in, size_t n,
    res_rand_fn rnd, void *rndarg, struct res_mx_rec *out, size_t outmax,
    size_t *nout);
/* 1 if name is an IPv4 or IPv6 literal (with or without brackets). */
int res_is_ip_literal(const char *name);

/* ---- query bookkeeping ------------------------------------------------- */

struct ub_ctx;
struct res_mxq;

enum res_qkind { RES_Q_RAW, RES_Q_MX };

struct res_query {
	struct res_ctx   *ctx;
	enum res_qkind    kind;
	struct res_query *prev, *next;	/* ctx->queries */
	int               cancelled;	/* tombstone: ignore the answer */
	int               in_cb;	/* user callback running */
	/* RES_Q_RAW */
	int               async_id;
	int               ub_pending;	/* libunbound still owns our arg */
	char              qname[RES_NAME_MAX];
	int               rrtype;
	res_answer_cb     cb;
	void             *arg;
	/* RES_Q_MX */
	struct res_mxq   *mx;
	struct res_query *ready_next;	/* ctx->ready: deferred delivery */
	int               on_ready;
};

struct res_ctx {
	uv_loop_t        *loop;
	struct ub_ctx    *ub;
	uv_poll_t         poll;
	uv_timer_t        defer;	/* delivers ctx->ready on the loop */
	int               closing;
	int               open_handles;
	struct res_query *queries;
	struct res_query *ready;
	res_rand_fn       rnd;
	void             *rndarg;
};

void res_query_link(struct res_ctx *r, struct res_query *q);
void res_query_unlink(struct res_query *q);
/* Queue an MX query for delivery from the defer timer. */
void res_query_defer(struct res_query *q);
/* res_mx.c: deliver a deferred MX result, and free an MX query's state. */
void res_mx_deliver(struct res_query *q);
void res_mx_destroy(struct res_query *q);
/* res_lookup.c: cancel the libunbound side of a raw query. */
void res_raw_cancel(struct res_query *q);

#endif
