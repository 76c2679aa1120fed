/*
 * cfg_smtpd.c - value parsers for the SMTP listener's keys
 * (docs/smtpd-contract.md): listen addresses, roles, the bare LF policy,
 * section titles and CIDR networks for mynetworks.
 *
 * Like cfg_value.c these are pure functions over one string, table-tested
 * in tests/unit/test_cfg_smtpd.c.  The CIDR parser lives here rather than
 * in the listener so that a bad network is a "file:line:" error at load
 * time and the listener only ever sees parsed, canonical networks
 * (host bits cleared).  cfg_cidr_match is what the relay decision uses.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cfg_int.h"
#include "config.h"
#include "util.h"

/* Longest text form of an address we accept before the '/'. */
#define CFG_CIDR_ADDR_MAX	INET6_ADDRSTRLEN

const char *
cfg_role_name(enum cfg_smtpd_role role)
{
	switch (role) {
	case CFG_ROLE_RELAY: return "relay";
	case CFG_ROLE_SUBMISSION: return "submission";
	case CFG_ROLE_SMTPS: return "smtps";
	}
	return "?";
}

int
cfg_val_role(const char *s, int *out)
{
	if (strcmp(s, "relay") == 0)
		*out = CFG_ROLE_RELAY;
	else if (strcmp(s, "submission") == 0)
		*out = CFG_ROLE_SUBMISSION;
	else if (strcmp(s, "smtps") == 0)
		*out = CFG_ROLE_SMTPS;
	else
		return -1;
	return 0;
}

int
cfg_val_bare_lf(const char *s, int *out)
{
	if (strcmp(s, "reject") == 0)
		*out = CFG_BARE_LF_REJECT;
	else if (strcmp(s, "normalize") == 0 || strcmp(s, "normalise") == 0)
		*out = CFG_BARE_LF_NORMALIZE;
	else
		return -1;
	return 0;
}

int
cfg_val_title(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		char c = s[i];

		if (i >= CFG_MAX_TITLE_LEN)
			return -1;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return -1;
	}
	return i == 0 ? -1 : 0;
}

/* Copy s[0..n) into a bounded buffer; -1 when it does not fit. */
static int
cfg_copy_bounded(const char *s, size_t n, char *out, size_t outlen)
{
	if (n >= outlen)
		return -1;
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
}

int
cfg_val_listen_address(const char *s, char **host, uint16_t *port)
{
	char name[CFG_MAX_HOSTNAME_LEN + 1];
	unsigned char bin[sizeof(struct in6_addr)];
	const char *colon;
	uint16_t p;

	if (s[0] == '[') {
		/* [v6]:port - the brackets are for IPv6 literals only */
		const char *close = strchr(s, ']');

		if (close == NULL || close[1] != ':' ||
		    cfg_copy_bounded(s + 1, (size_t)(close - s - 1), name,
		    sizeof(name)) < 0 ||
		    inet_pton(AF_INET6, name, bin) != 1)
			return -1;
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || memchr(s, ':', (size_t)(colon - s)) != NULL)
			return -1;	/* bare IPv6 needs brackets */
		if (cfg_copy_bounded(s, (size_t)(colon - s), name,
		    sizeof(name)) < 0)
			return -1;
		if (strcmp(name, "*") != 0 &&
		    inet_pton(AF_INET, name, bin) != 1 &&
		    cfg_val_hostname(name) < 0)
			return -1;
	}
	if (cfg_val_port(colon + 1, &p) < 0)
		return -1;
	*host = strcmp(name, "*") == 0 ? NULL : xstrdup(name);
	*port = p;
	return 0;
}

int
cfg_cidr_parse(const char *s, struct cfg_cidr *out)
{
	char addr[CFG_CIDR_ADDR_MAX];
	const char *slash = strchr(s, '/');
	size_t alen = slash != NULL ? (size_t)(slash - s) : strlen(s);
	struct cfg_cidr c;
	uint64_t prefix;
	unsigned i, bits;

	memset(&c, 0, sizeof(c));
	if (cfg_copy_bounded(s, alen, addr, sizeof(addr)) < 0)
		return -1;
	if (inet_pton(AF_INET, addr, c.addr) == 1) {
		c.family = AF_INET;
		bits = 32;
	} else if (inet_pton(AF_INET6, addr, c.addr) == 1) {
		c.family = AF_INET6;
		bits = 128;
	} else {
		return -1;
	}
	if (slash == NULL) {
		c.prefix = bits;
	} else {
		/* "/", "/+8", "/ 8" and "/08" are all refused: digits only,
		 * no leading zero except "/0" itself */
		size_t plen = strlen(slash + 1);

		if (plen == 0 || plen > 3 || (plen > 1 && slash[1] == '0') ||
		    util_parse_uint(slash + 1, plen, UINT64_MAX, &prefix) < 0 ||
		    prefix > bits)
			return -1;
		c.prefix = (unsigned)prefix;
	}
	/* canonical form: clear the host bits, so matching is a compare */
	for (i = c.prefix; i < bits; i++)
		c.addr[i / 8] &= (unsigned char)~(0x80u >> (i % 8));
	*out = c;
	return 0;
}

static int
cfg_cidr_match_one(const struct cfg_cidr *n, const unsigned char *addr)
{
	unsigned full = n->prefix / 8, rest = n->prefix % 8;
	unsigned char mask;

	if (memcmp(n->addr, addr, full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	mask = (unsigned char)(0xffu << (8 - rest));
	return (addr[full] & mask) == n->addr[full];
}

int
cfg_cidr_match(const struct cfg_cidr *nets, size_t n, int family,
    const unsigned char *addr)
{
	static const unsigned char v4mapped[12] =
	    { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	size_t i;

	if (family == AF_INET6 && memcmp(addr, v4mapped, 12) == 0) {
		family = AF_INET;
		addr += 12;
	}
	if (family != AF_INET && family != AF_INET6)
		return 0;
	for (i = 0; i < n; i++)
		if (nets[i].family == family &&
		    cfg_cidr_match_one(&nets[i], addr))
			return 1;
	return 0;
}
