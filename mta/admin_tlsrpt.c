/*
 * admin_tlsrpt.c - "sealpost tlsrpt ...": SMTP TLS Reporting by hand.
 *
 *   sealpost [-c config] tlsrpt show [DOMAIN] [--day YYYY-MM-DD]
 *   sealpost [-c config] tlsrpt status [--day YYYY-MM-DD]
 *   sealpost [-c config] tlsrpt send-now [--day YYYY-MM-DD]
 *
 * show prints the RFC 8460 JSON report exactly as the sender would build
 * it (the same tlsrpt_json_build(), the same settings): one report for
 * DOMAIN, or an array of every domain's report.  The day defaults to
 * yesterday (UTC), the day the next daily run reports.  status lists the
 * sender's rows (tlsrpt_sent): which report went to which URI, or why
 * not.  Both open spool/tlsrpt.db read-only and never create it, so they
 * are safe while the daemon runs.
 *
 * send-now asks the running daemon (control socket, "TLSRPT-SEND day")
 * to report the day now, today included: useful for tests and after
 * fixing a receiver.  It still sends each (day, domain, uri) at most
 * once; the answer comes when the sender has the request, the outcome is
 * in the log and in "status".
 *
 * Exit codes (sysexits.h): EX_OK; EX_NOINPUT when there is no data for
 * the domain or day; EX_UNAVAILABLE when the daemon is not running or
 * refuses; EX_IOERR for database trouble; EX_USAGE.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>

#include "admin.h"
#include "sendmail.h"
#include "tls/tlsrpt.h"

#define ADMIN_TLSRPT_ERR_MAX	512

static char *
db_path(const struct sealpost_config *cfg)
{
	return xasprintf("%s/%s", cfg->spool_directory, TLSRPT_DB_FILE);
}

/* --day D (checked), or yesterday UTC. */
static int
pick_day(const char *arg, char day[TLSRPT_DAY_LEN])
{
	if (arg == NULL) {
		tlsrpt_day(util_wall_time() - 86400, day);
		return 0;
	}
	if (strlen(arg) != TLSRPT_DAY_LEN - 1 || tlsrpt_day_valid(arg) < 0) {
		fprintf(stderr, "sealpost: bad day '%.20s' (YYYY-MM-DD)\n",
		    arg);
		return -1;
	}
	memcpy(day, arg, TLSRPT_DAY_LEN);
	return 0;
}

struct show_ctx {
	tlsrpt_db *db;
	const struct tlsrpt_report_info *info;
	const char *day;
	json_t *arr;
	int     failed;
};

static void
show_domain_cb(void *arg, const char *domain)
{
	struct show_ctx *sc = arg;
	char err[ADMIN_TLSRPT_ERR_MAX];
	json_t *r = tlsrpt_json_build(sc->db, domain, sc->day, sc->info, err,
	    sizeof(err));

	if (r == NULL) {
		fprintf(stderr, "sealpost: %s: %s\n", domain, err);
		sc->failed = 1;
		return;
	}
	json_array_append_new(sc->arr, r);
}

static int
cmd_show(const struct sealpost_config *cfg, const char *domain,
    const char *day)
{
	struct tlsrpt_report_info info = { cfg->tlsrpt_organization,
	    cfg->tlsrpt_contact, cfg->tlsrpt_submitter };
	struct show_ctx sc = { NULL, &info, day, NULL, 0 };
	char err[ADMIN_TLSRPT_ERR_MAX], *path = db_path(cfg);
	struct stat st;
	json_t *out;
	int rc = EX_OK;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "sealpost: no TLS results recorded (%s "
		    "missing)\n", path);
		free(path);
		return EX_NOINPUT;
	}
	sc.db = tlsrpt_db_open(path, 1, err, sizeof(err));
	free(path);
	if (sc.db == NULL) {
		fprintf(stderr, "sealpost: %s\n", err);
		return EX_IOERR;
	}
	if (domain != NULL) {
		out = tlsrpt_json_build(sc.db, domain, day, &info, err,
		    sizeof(err));
		if (out == NULL) {
			fprintf(stderr, "sealpost: %s: %s\n", domain, err);
			rc = EX_NOINPUT;
		}
	} else {
		sc.arr = out = json_array();
		if (tlsrpt_db_domains(sc.db, day, show_domain_cb, &sc) < 0)
			rc = EX_IOERR;
		else if (sc.failed)
			rc = EX_IOERR;
	}
	tlsrpt_db_close(sc.db);
	if (out != NULL) {
		json_dumpf(out, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
		putchar('\n');
		json_decref(out);
	}
	return rc;
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

static void
status_cb(void *arg, const struct tlsrpt_sent_entry *e)
{
	size_t *n = arg;
	char next[32], upd[32];

	(*n)++;
	iso_time(e->state == TLSRPT_SENT_DUE ? e->next_try : 0, next,
	    sizeof(next));
	iso_time(e->updated, upd, sizeof(upd));
	printf("%s %s %s %s attempts=%u updated=%s next_try=%s%s%s%s%s\n",
	    e->day, e->domain, e->uri, tlsrpt_sent_state_name(e->state),
	    e->attempts, upd, next, e->queue_id[0] ? " queue_id=" : "",
	    e->queue_id, e->last_error[0] ? " last_error=" : "",
	    e->last_error);
}

static int
cmd_status(const struct sealpost_config *cfg, const char *day)
{
	char err[ADMIN_TLSRPT_ERR_MAX], *path = db_path(cfg);
	struct stat st;
	tlsrpt_sent *s;
	size_t n = 0;
	int rc = EX_OK;

	if (stat(path, &st) < 0) {
		printf("(no TLS reports sent)\n");
		free(path);
		return EX_OK;
	}
	s = tlsrpt_sent_open(path, 1, err, sizeof(err));
	free(path);
	if (s == NULL) {
		fprintf(stderr, "sealpost: %s\n", err);
		return EX_IOERR;
	}
	if (tlsrpt_sent_list(s, day, status_cb, &n) < 0)
		rc = EX_IOERR;
	else if (n == 0)
		printf("(no TLS reports sent)\n");
	tlsrpt_sent_close(s);
	return rc;
}

static int
cmd_send_now(const struct sealpost_config *cfg, const char *day)
{
	char line[64], reply[128], err[ADMIN_TLSRPT_ERR_MAX];

	snprintf(line, sizeof(line), "TLSRPT-SEND %s\n", day);
	if (sendmail_ctl_request(cfg->spool_directory, line, reply,
	    sizeof(reply), err, sizeof(err)) < 0) {
		fprintf(stderr, "sealpost: %s\n", err);
		return EX_UNAVAILABLE;
	}
	if (strncmp(reply, "OK", 2) != 0) {
		fprintf(stderr, "sealpost: the daemon says: %s\n", reply);
		return EX_UNAVAILABLE;
	}
	printf("TLS reports for %s requested; see \"sealpost tlsrpt "
	    "status\" and the log\n", day);
	return EX_OK;
}

int
admin_tlsrpt(const struct sealpost_config *cfg, int argc, char **argv)
{
	const char *daystr = NULL, *domain = NULL;
	char day[TLSRPT_DAY_LEN];
	int i;

	if (argc < 1)
		return -1;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--day") == 0 && i + 1 < argc)
			daystr = argv[++i];
		else if (argv[i][0] != '-' && domain == NULL &&
		    strcmp(argv[0], "show") == 0)
			domain = argv[i];
		else
			return -1;
	}
	if (strcmp(argv[0], "status") == 0) {
		if (daystr != NULL && pick_day(daystr, day) < 0)
			return EX_USAGE;
		return cmd_status(cfg, daystr ? day : NULL);
	}
	if (pick_day(daystr, day) < 0)
		return EX_USAGE;
	if (strcmp(argv[0], "show") == 0)
		return cmd_show(cfg, domain, day);
	if (strcmp(argv[0], "send-now") == 0)
		return cmd_send_now(cfg, day);
	return -1;
}
