/*
 * admin_sts.c - "sealpost sts ...": the MTA-STS policy cache by hand.
 *
 *   sealpost [-c config] sts list [--json]
 *   sealpost [-c config] sts show [--json] DOMAIN
 *   sealpost [-c config] sts forget DOMAIN
 *   sealpost [-c config] sts refresh DOMAIN
 *
 * The cache is spool/sts.db (tls/sts_cache.c).  These commands open it
 * directly with sqlite's busy timeout and run short autocommit
 * statements, so they are safe while the daemon runs: its cache thread
 * and this command simply take turns.  list and show open the file
 * read-only and never create it.  refresh does what a delivery would do
 * when the policy is due, on this command's own libuv loop: look up
 * _mta-sts.DOMAIN, fetch the policy (always, even when the id did not
 * change: the operator asked) and store it under the cache rules - a
 * failed fetch never removes or downgrades the cached policy, it is
 * only noted as last_error.
 *
 * Exit codes (sysexits.h): EX_OK; EX_NOINPUT for an unknown domain
 * (show, forget); EX_UNAVAILABLE when the domain publishes no usable
 * TXT record (refresh); EX_TEMPFAIL when the fetch failed; EX_IOERR for
 * database trouble; EX_USAGE.  docs/mta-sts.md is the user's reference.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "resolver/resolver.h"
#include "tls/sts.h"

#define ADMIN_STS_ERR_MAX 512

static char *
sts_path(const struct sealpost_config *cfg)
{
	return xasprintf("%s/%s", cfg->spool_directory, STS_CACHE_FILE);
}

static void
iso_time(int64_t t, char *out, size_t outlen)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || gmtime_r(&tt, &tm) == NULL) {
		snprintf(out, outlen, "-");
		return;
	}
	strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Open the cache; NULL and a message when it cannot be.  *absent is set
 * when a read-only open found no file (not an error for list). */
static sts_db *
open_cache(const struct sealpost_config *cfg, int readonly, int *absent)
{
	char err[ADMIN_STS_ERR_MAX], *path = sts_path(cfg);
	struct stat st, dst;
	int existed = stat(path, &st) == 0;
	sts_db *db = NULL;

	*absent = 0;
	if (readonly && !existed) {
		*absent = 1;
		free(path);
		return NULL;
	}
	db = sts_db_open(path, readonly, err, sizeof(err));
	if (db == NULL)
		fprintf(stderr, "sealpost: %s\n", err);
	/* created by root for a daemon that runs as the spool's owner:
	 * hand the file over (sqlite gives its -wal/-shm files the owner
	 * of the database file by itself) */
	else if (!existed && geteuid() == 0 &&
	    stat(cfg->spool_directory, &dst) == 0 && dst.st_uid != 0 &&
	    chown(path, dst.st_uid, dst.st_gid) < 0)
		fprintf(stderr, "sealpost: warning: cannot give %s to uid %u\n",
		    path, (unsigned)dst.st_uid);
	free(path);
	return db;
}

static json_t *
entry_json(const struct sts_cache_entry *e, int with_raw)
{
	char fetched[32], expires[32], used[32], checked[32];
	json_t *o = json_object(), *mx = json_array();
	size_t i;

	iso_time(e->fetched_at, fetched, sizeof(fetched));
	iso_time(e->expires_at, expires, sizeof(expires));
	iso_time(e->last_used, used, sizeof(used));
	iso_time(e->checked_at, checked, sizeof(checked));
	for (i = 0; i < e->policy->nmx; i++)
		json_array_append_new(mx, json_string(e->policy->mx[i]));
	json_object_set_new(o, "domain", json_string(e->domain));
	json_object_set_new(o, "id", json_string(e->id));
	json_object_set_new(o, "mode", json_string(sts_mode_name(
	    e->policy->mode)));
	json_object_set_new(o, "max_age", json_integer(e->policy->max_age));
	json_object_set_new(o, "mx", mx);
	json_object_set_new(o, "fetched_at", json_string(fetched));
	json_object_set_new(o, "expires_at", json_string(expires));
	json_object_set_new(o, "expired", json_boolean(
	    !sts_cache_entry_valid(e, util_wall_time())));
	json_object_set_new(o, "last_used", json_string(used));
	json_object_set_new(o, "checked_at", json_string(checked));
	json_object_set_new(o, "last_error", json_string(e->last_error));
	if (with_raw)
		json_object_set_new(o, "policy", json_stringn_nocheck(e->raw,
		    e->raw_len));
	return o;
}

struct list_ctx {
	int     json;
	json_t *arr;
	size_t  n;
};

static void
list_cb(void *arg, const struct sts_cache_entry *e)
{
	struct list_ctx *lc = arg;
	char expires[32];

	lc->n++;
	if (lc->json) {
		json_array_append_new(lc->arr, entry_json(e, 0));
		return;
	}
	iso_time(e->expires_at, expires, sizeof(expires));
	printf("%-30s %-7s %-32s %s%s\n", e->domain,
	    sts_mode_name(e->policy->mode), e->id, expires,
	    sts_cache_entry_valid(e, util_wall_time()) ? "" : " (expired)");
}

static int
cmd_list(const struct sealpost_config *cfg, int json)
{
	struct list_ctx lc = { json, json_array(), 0 };
	int absent, rc = EX_OK;
	sts_db *db = open_cache(cfg, 1, &absent);

	if (db == NULL && !absent) {
		json_decref(lc.arr);
		return EX_IOERR;
	}
	if (!json)
		printf("%-30s %-7s %-32s %s\n", "DOMAIN", "MODE", "ID",
		    "EXPIRES");
	if (db != NULL && sts_db_list(db, list_cb, &lc) < 0)
		rc = EX_IOERR;
	if (json) {
		json_dumpf(lc.arr, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
		putchar('\n');
	} else if (lc.n == 0) {
		printf("(no MTA-STS policies cached)\n");
	}
	json_decref(lc.arr);
	sts_db_close(db);
	return rc;
}

static int
cmd_show(const struct sealpost_config *cfg, const char *domain, int json)
{
	struct sts_cache_entry *e = NULL;
	char t1[32], t2[32], t3[32], t4[32];
	int absent, rc;
	sts_db *db = open_cache(cfg, 1, &absent);
	size_t i;

	if (db == NULL && !absent)
		return EX_IOERR;
	rc = db ? sts_db_get(db, domain, &e) : 0;
	sts_db_close(db);
	if (rc < 0)
		return EX_IOERR;
	if (rc == 0) {
		fprintf(stderr, "sealpost: no MTA-STS policy cached for %s\n",
		    domain);
		return EX_NOINPUT;
	}
	if (json) {
		json_t *o = entry_json(e, 1);

		json_dumpf(o, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
		putchar('\n');
		json_decref(o);
	} else {
		iso_time(e->fetched_at, t1, sizeof(t1));
		iso_time(e->expires_at, t2, sizeof(t2));
		iso_time(e->last_used, t3, sizeof(t3));
		iso_time(e->checked_at, t4, sizeof(t4));
		printf("domain:     %s\nid:         %s\nmode:       %s\n"
		    "max_age:    %u\n", e->domain, e->id,
		    sts_mode_name(e->policy->mode), e->policy->max_age);
		for (i = 0; i < e->policy->nmx; i++)
			printf("mx:         %s\n", e->policy->mx[i]);
		printf("fetched:    %s\nexpires:    %s%s\nlast used:  %s\n"
		    "checked:    %s\n", t1, t2, sts_cache_entry_valid(e,
		    util_wall_time()) ? "" : " (expired)", t3, t4);
		if (e->last_error[0])
			printf("last error: %s\n", e->last_error);
		printf("policy:\n");
		/* the body passed the parser: printable apart from line ends */
		fwrite(e->raw, 1, e->raw_len, stdout);
		if (e->raw_len && e->raw[e->raw_len - 1] != '\n')
			putchar('\n');
	}
	sts_cache_entry_free(e);
	return EX_OK;
}

static int
cmd_forget(const struct sealpost_config *cfg, const char *domain)
{
	int absent, rc;
	sts_db *db = open_cache(cfg, 0, &absent);

	if (db == NULL)
		return EX_IOERR;
	rc = sts_db_forget(db, domain);
	sts_db_close(db);
	if (rc < 0)
		return EX_IOERR;
	if (rc == 0) {
		fprintf(stderr, "sealpost: no MTA-STS policy cached for %s\n",
		    domain);
		return EX_NOINPUT;
	}
	printf("forgot the MTA-STS policy of %s\n", domain);
	return EX_OK;
}

/* ---- refresh: TXT, fetch, store, on our own loop ------------------------- */

struct refresh {
	const struct sealpost_config *cfg;
	const char  *domain;
	res_ctx     *res;
	sts_fetcher *fetcher;
	sts_db      *db;
	char         id[STS_ID_MAX + 1];
	int          rc;
};

static void
refresh_stop(struct refresh *r)
{
	sts_fetcher_free(r->fetcher);
	r->fetcher = NULL;
	res_free(r->res);
	r->res = NULL;
}

static void
refresh_fetched(void *arg, const struct sts_fetch_result *fr)
{
	struct refresh *r = arg;
	struct sts_cache_entry *e = NULL;
	int64_t now = util_wall_time();
	char shown[STS_REASON_MAX], expires[32];

	if (fr->failure == STS_FAIL_NONE) {
		if (sts_db_put(r->db, r->domain, r->id, fr->body,
		    fr->body_len, now) < 0) {
			r->rc = EX_IOERR;
		} else {
			iso_time(now + fr->policy->max_age, expires,
			    sizeof(expires));
			printf("stored MTA-STS policy of %s: id %s, mode %s, "
			    "%zu mx pattern%s, expires %s\n", r->domain, r->id,
			    sts_mode_name(fr->policy->mode), fr->policy->nmx,
			    fr->policy->nmx == 1 ? "" : "s", expires);
			r->rc = EX_OK;
		}
		refresh_stop(r);
		return;
	}
	util_printable(fr->reason, strlen(fr->reason), shown, sizeof(shown));
	printf("fetch failed: %s: %s\n", sts_failure_name(fr->failure), shown);
	if (sts_db_get(r->db, r->domain, &e) == 1) {
		char why[STS_REASON_MAX + 64];

		snprintf(why, sizeof(why), "%s: %s",
		    sts_failure_name(fr->failure), shown);
		sts_db_note_failure(r->db, r->domain, now, why);
		iso_time(e->expires_at, expires, sizeof(expires));
		printf("cached policy (id %s) kept, %s %s\n", e->id,
		    sts_cache_entry_valid(e, now) ? "valid until" :
		    "expired at", expires);
	}
	sts_cache_entry_free(e);
	r->rc = EX_TEMPFAIL;
	refresh_stop(r);
}

static void
refresh_txt(void *arg, const struct sts_txt_result *t)
{
	struct refresh *r = arg;

	if (t->status != STS_TXT_FOUND) {
		printf("_mta-sts.%s: %s; nothing fetched, cache unchanged\n",
		    r->domain, t->reason);
		r->rc = t->status == STS_TXT_RETRY ? EX_TEMPFAIL :
		    EX_UNAVAILABLE;
		refresh_stop(r);
		return;
	}
	snprintf(r->id, sizeof(r->id), "%s", t->id);
	printf("_mta-sts.%s: id %s\n", r->domain, t->id);
	if (sts_fetch_start(r->fetcher, r->domain, refresh_fetched, r) ==
	    NULL) {
		r->rc = EX_USAGE;
		refresh_stop(r);
	}
}

static int
cmd_refresh(const struct sealpost_config *cfg, const char *domain)
{
	struct sts_fetch_opts opts;
	struct refresh r;
	char err[ADMIN_STS_ERR_MAX];
	uv_loop_t loop;
	int absent;

	memset(&r, 0, sizeof(r));
	r.cfg = cfg;
	r.domain = domain;
	r.rc = EX_SOFTWARE;
	if (sts_init() < 0) {
		fprintf(stderr, "sealpost: curl_global_init failed\n");
		return EX_SOFTWARE;
	}
	r.db = open_cache(cfg, 0, &absent);
	if (r.db == NULL)
		return EX_IOERR;
	uv_loop_init(&loop);
	r.res = res_create(&loop, &cfg->resolver, err, sizeof(err));
	if (r.res == NULL) {
		fprintf(stderr, "sealpost: resolver: %s\n", err);
		sts_db_close(r.db);
		uv_loop_close(&loop);
		return EX_CONFIG;
	}
	memset(&opts, 0, sizeof(opts));
	opts.ca_file = cfg->tls_ca_file;
	opts.timeout_ms = 1000u * cfg->sts_fetch_timeout;
	r.fetcher = sts_fetcher_create(&loop, r.res, &opts, err, sizeof(err));
	if (r.fetcher == NULL ||
	    sts_txt_lookup(r.res, domain, refresh_txt, &r) == NULL) {
		fprintf(stderr, "sealpost: %s\n", r.fetcher ?
		    "not a domain name" : err);
		r.rc = r.fetcher ? EX_USAGE : EX_SOFTWARE;
		refresh_stop(&r);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	sts_db_close(r.db);
	return r.rc;
}

int
admin_sts(const struct sealpost_config *cfg, int argc, char **argv)
{
	char dom[STS_DOMAIN_MAX];
	const char *d;
	int json = 0;

	if (argc >= 1 && strcmp(argv[0], "list") == 0) {
		if (argc == 2 && strcmp(argv[1], "--json") == 0)
			return cmd_list(cfg, 1);
		return argc == 1 ? cmd_list(cfg, 0) : -1;
	}
	if (argc == 3 && strcmp(argv[0], "show") == 0 &&
	    strcmp(argv[1], "--json") == 0)
		json = 1;
	else if (argc != 2)
		return -1;
	d = argv[argc - 1];
	if (sts_domain_normalize(d, strlen(d), dom, sizeof(dom)) < 0) {
		fprintf(stderr, "sealpost: not a domain name\n");
		return EX_USAGE;
	}
	if (strcmp(argv[0], "show") == 0)
		return cmd_show(cfg, dom, json);
	if (strcmp(argv[0], "forget") == 0)
		return cmd_forget(cfg, dom);
	if (strcmp(argv[0], "refresh") == 0)
		return cmd_refresh(cfg, dom);
	return -1;
}
