/*
 * res_mxsort.c - turn an MX RRset into the ordered list of hosts to try.
 *
 * RFC 5321 5.1: lower preference first, equal preferences in random order
 * to spread load.  RFC 7505: a single "0 ." record means the domain takes
 * no mail.  Pure apart from warnings; the random source is a parameter so
 * unit tests can make the shuffle deterministic.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "res_int.h"
#include "util/util.h"

/* MX records looked at per RRset: a 64 KiB answer could hold thousands,
 * nobody needs more than a few, and dedup below is quadratic. */
#define RES_MX_RECS_MAX 256

int
res_is_ip_literal(const char *name)
{
	char buf[64];
	unsigned char addr[16];
	size_t len = strlen(name);

	if (len >= 2 && name[0] == '[' && name[len - 1] == ']') {
		name++;
		len -= 2;
		/* RFC 5321 4.1.3 IPv6 address literal tag */
		if (len > 5 && util_strncasecmp(name, "ipv6:", 5) == 0) {
			name += 5;
			len -= 5;
		}
	}
	if (len == 0 || len >= sizeof(buf))
		return 0;
	memcpy(buf, name, len);
	buf[len] = '\0';
	return inet_pton(AF_INET, buf, addr) == 1 ||
	    inet_pton(AF_INET6, buf, addr) == 1;
}

/* Stable insertion sort by preference: n is small (RES_MX_RECS_MAX) and
 * stability makes the shuffle below the only source of disorder. */
static void
sort_by_pref(struct res_mx_rec *v, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		struct res_mx_rec t = v[i];
		size_t j = i;

		while (j > 0 && v[j - 1].pref > t.pref) {
			v[j] = v[j - 1];
			j--;
		}
		v[j] = t;
	}
}

enum res_mx_order_result
res_mx_order(const struct res_mx_rec *in, size_t n, res_rand_fn rnd,
    void *rndarg, struct res_mx_rec *out, size_t outmax, size_t *nout)
{
	struct res_mx_rec *tmp;
	size_t m = 0, i, j;

	*nout = 0;
	if (n == 1 && in[0].pref == 0 && strcmp(in[0].host, ".") == 0)
		return RES_MX_ORDER_NULL_MX;
	if (n > RES_MX_RECS_MAX) {
		log_warn("resolver: %zu MX records, using the first %d", n,
		    RES_MX_RECS_MAX);
		n = RES_MX_RECS_MAX;
	}
	tmp = xcalloc(n ? n : 1, sizeof(*tmp));
	for (i = 0; i < n; i++) {
		const char *h = in[i].host;

		if (h[0] == '\0' || strcmp(h, ".") == 0 ||
		    res_is_ip_literal(h)) {
			char pr[80];

			log_warn("resolver: unusable MX target \"%s\" skipped",
			    util_printable(h, strlen(h), pr, sizeof(pr)));
			continue;
		}
		for (j = 0; j < m; j++)
			if (util_strcasecmp(tmp[j].host, h) == 0)
				break;
		if (j < m) {		/* duplicate: keep the better one */
			if (in[i].pref < tmp[j].pref)
				tmp[j].pref = in[i].pref;
			continue;
		}
		tmp[m++] = in[i];
	}
	sort_by_pref(tmp, m);
	/* Fisher-Yates within each run of equal preference. */
	for (i = 0; i < m; i = j) {
		for (j = i + 1; j < m && tmp[j].pref == tmp[i].pref; j++)
			;
		for (size_t k = j - 1; k > i; k--) {
			size_t r = i + rnd(rndarg, (uint32_t)(k - i + 1));
			struct res_mx_rec t;

			UTIL_ASSERT(r <= k);
			t = tmp[k];
			tmp[k] = tmp[r];
			tmp[r] = t;
		}
	}
	if (m > outmax)
		m = outmax;
	memcpy(out, tmp, m * sizeof(*tmp));
	*nout = m;
	free(tmp);
	return m > 0 ? RES_MX_ORDER_HOSTS : RES_MX_ORDER_NONE;
}
