/*
 * resolver.h - asynchronous, DNSSEC-aware DNS on a libuv loop.
 *
 * One res_ctx wraps one libunbound context whose file descriptor is
 * watched by a uv_poll_t on the owner loop: queries never block the loop,
 * callbacks run on the owner loop.  Caching is libunbound's.  Every answer
 * carries its DNSSEC status, because DANE (RFC 7672) decides on it.
 *
 * A res_ctx is used by one thread only (each delivery thread has its own).
 */
#ifndef SEALPOST_RESOLVER_H
#define SEALPOST_RESOLVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "config/config.h"

#define RES_NAME_MAX	256	/* presentation name incl. NUL (RFC 1035 2.3.4) */
#define RES_MX_HOSTS_MAX 32	/* MX hosts considered per domain */
#define RES_ADDRS_MAX	16	/* addresses kept per host */
#define RES_CNAME_MAX	8	/* CNAME chain links recorded */

enum res_rcode {
	RES_OK,		/* data present */
	RES_NOTFOUND,	/* NXDOMAIN or NODATA: authoritative "no" */
	RES_RETRY,	/* SERVFAIL, timeout, network: try later */
	RES_FAIL	/* permanent error (bad name, unusable data) */
};

enum res_security {
	RES_INSECURE,	/* no DNSSEC or provably unsigned */
	RES_SECURE,	/* validated chain of trust */
	RES_BOGUS	/* signed but validation failed */
};

struct res_tlsa {
	uint8_t  usage, selector, mtype;
	size_t   len;
	uint8_t *data;
};

/* A generic parsed answer; owned by the library, valid during the cb. */
struct res_answer {
	enum res_rcode    rcode;
	enum res_security security;
	int               nxdomain;	/* NOTFOUND because the name is absent */
	char              qname[RES_NAME_MAX];
	char              canonname[RES_NAME_MAX];	/* after CNAMEs */
	/* CNAME chain qname -> ... -> canonname as the validator saw it:
	 * cname[i] is the target of the i-th CNAME (for a CNAME query,
	 * cname[0] is the record's target).  A bogus answer has rcode
	 * RES_FAIL and no records. */
	size_t            ncname;
	char              cname[RES_CNAME_MAX][RES_NAME_MAX];
	char              why_bogus[256];	/* when security == RES_BOGUS */
	int               rrtype;
	size_t            n;		/* records in whichever array applies */
	struct { uint16_t pref; char host[RES_NAME_MAX]; } *mx;
	struct sockaddr_storage *addr;	/* A / AAAA, port 0 */
	char            **txt;		/* TXT: character-strings concatenated */
	struct res_tlsa  *tlsa;
};

typedef struct res_ctx res_ctx;
typedef struct res_query res_query;	/* handle to cancel an outstanding query */

typedef void (*res_answer_cb)(void *arg, const struct res_answer *ans);

/*
 * Create a resolver on loop from cfg (forwarders, trust anchor, extra
 * unbound options).  NULL with a message in err on failure.
 */
res_ctx *res_create(uv_loop_t *loop, const struct cfg_resolver *cfg,
    char *err, size_t errlen);
/* Cancel everything outstanding (no callbacks), close the poll handle;
 * memory is released from the close callback. */
void res_free(res_ctx *r);

/*
 * Ask for (name, rrtype) where rrtype is one of 1 (A), 28 (AAAA),
 * 15 (MX), 16 (TXT), 52 (TLSA), 5 (CNAME).  cb runs later on the loop,
 * never from inside res_lookup.  Returns a handle or NULL (err logged).
 */
res_query *res_lookup(res_ctx *r, const char *name, int rrtype,
    res_answer_cb cb, void *arg);
void res_cancel(res_query *q);

/* ---- RFC 5321 section 5 destination resolution ------------------------- */

struct res_mx_host {
	char              name[RES_NAME_MAX];	/* as in the MX record */
	uint16_t          pref;
	enum res_rcode    rcode;		/* of its address lookups */
	enum res_security addr_security;	/* weakest of the A/AAAA
					 * answers (failed lookups ignored) */
	char              canonname[RES_NAME_MAX];	/* after CNAMEs */
	/* name is a CNAME: canonname is its expansion.  addr_security is
	 * then that of the whole chain (secure only if every link and the
	 * addresses validated, RFC 7672 2.2.2). */
	int               alias;
	size_t            naddr;
	struct sockaddr_storage addr[RES_ADDRS_MAX];	/* port set */
};

struct res_mx_result {
	enum res_rcode    rcode;	/* OK, NOTFOUND (domain absent), RETRY, FAIL */
	enum res_security mx_security;	/* of the MX RRset (after CNAMEs) */
	char              domain[RES_NAME_MAX];
	char              canon_domain[RES_NAME_MAX];
	int               null_mx;	/* RFC 7505: single "0 ." record;
					 * rcode is then RES_FAIL */
	int               implicit;	/* no MX: the domain itself (5321 5.1) */
	size_t            nhosts;
	struct res_mx_host hosts[RES_MX_HOSTS_MAX];	/* sorted by pref,
						 * random among equals */
	char              error[256];	/* human reason when not OK */
};

typedef void (*res_mx_cb)(void *arg, const struct res_mx_result *res);

/*
 * Resolve domain's mail exchangers and their addresses (A and AAAA in
 * parallel), setting port in every address.  Hosts whose lookups fail
 * are kept with their rcode so the caller can report them.  cb runs once
 * on the loop; the result is valid during the callback only.
 */
res_query *res_mx_lookup(res_ctx *r, const char *domain, uint16_t port,
    res_mx_cb cb, void *arg);
/* Same shape for a single host (relayhost, [host] syntax): no MX step. */
res_query *res_host_lookup(res_ctx *r, const char *host, uint16_t port,
    res_mx_cb cb, void *arg);

/* ---- start-up sanity check (res_check.c) ------------------------------ */

enum res_check_result {
	RES_CHECK_OK,		/* the anchor's DNSKEY RRset validated: secure */
	RES_CHECK_INSECURE,	/* answered, but not secure: no working anchor */
	RES_CHECK_BOGUS,	/* validation failed (stripped signatures, stale
				 * anchor, broken clock) */
	RES_CHECK_UNREACHABLE,	/* no answer (SERVFAIL, timeout): unknown */
	RES_CHECK_ERROR		/* the resolver could not even be set up */
};

/*
 * Prove that DNSSEC validation works with this resolver configuration,
 * as DANE (RFC 7672) depends on it: a synchronous DNSKEY query for the
 * zone of the configured trust anchor (the root by default) must come
 * back secure.  Blocks for at most libunbound's own timeouts; meant for
 * start-up and --check-config only, never on an agent loop.  msg gets a
 * one-line explanation for the operator in every case.
 */
enum res_check_result res_check_dnssec(const struct cfg_resolver *cfg,
    char *msg, size_t msglen);
/* Zone the trust anchor file speaks for ("." if unknown): the owner of
 * its first record.  Pure apart from reading the file. */
void res_check_anchor_zone(const char *path, char *zone, size_t zonelen);

const char *res_rcode_name(enum res_rcode rc);
const char *res_security_name(enum res_security s);

#endif
