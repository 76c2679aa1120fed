/*
 * admin_cmd.c - the "sealpost" administration command.
 *
 *   sealpost [-c config] queue list [--json]
 *   sealpost [-c config] queue show [--json] QUEUEID
 *   sealpost [-c config] queue flush [DOMAIN]
 *   sealpost [-c config] queue delete|hold|release|requeue QUEUEID...|ALL
 *   sealpost [-c config] flush [DOMAIN]        (same as queue flush)
 *   sealpost [-c config] check-config
 *   sealpost [-c config] sts ...      (admin_sts.c)
 *   sealpost [-c config] tlsrpt ...   (admin_tlsrpt.c)
 *   sealpost version
 *
 * Reading commands open the queue database read-only, so they are safe
 * while the daemon runs.  Commands that change the queue go through the
 * daemon's control socket when it runs, so its in-memory state never
 * diverges from disk, and change the spool directly only when it does
 * not (admin_change.c, queue/queue_admin.c).  JSON is built with jansson,
 * never by hand.  docs/admin.md is the user's reference.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "admin.h"
#include "config/config.h"
#include "queue/queue.h"
#include "sendmail.h"

#define ADMIN_ERR_MAX 1024

static void
admin_usage(void)
{
	fprintf(stderr,
	    "usage: sealpost [-c config] queue list [--json]\n"
	    "       sealpost [-c config] queue show [--json] QUEUEID\n"
	    "       sealpost [-c config] queue flush [domain]\n"
	    "       sealpost [-c config] queue delete|hold|release|requeue "
	    "QUEUEID...|ALL\n"
	    "       sealpost [-c config] flush [domain]\n"
	    "       sealpost [-c config] check-config\n"
	    "       sealpost [-c config] sts list|show|forget|refresh [DOMAIN]\n"
	    "       sealpost [-c config] tlsrpt show [DOMAIN] [--day D]\n"
	    "       sealpost [-c config] tlsrpt status [--day D]\n"
	    "       sealpost [-c config] tlsrpt send-now [--day D]\n"
	    "       sealpost version\n");
}

struct list_json {
	json_t     *arr;
	util_htable *seen;	/* queue IDs listed from the database */
};

static void
list_json_cb(void *arg, const struct queue_msg *m)
{
	struct list_json *lj = arg;

	util_htable_put(lj->seen, m->qid, lj);
	json_array_append_new(lj->arr, admin_msg_json(m));
}

/* Not imported yet; in both places while an import finishes: once. */
static void
list_json_drop_cb(void *arg, const struct queue_msg *m)
{
	struct list_json *lj = arg;
	json_t *o;

	if (util_htable_get(lj->seen, m->qid) != NULL)
		return;
	o = admin_msg_json(m);
	json_object_set_new(o, "maildrop", json_true());
	json_array_append_new(lj->arr, o);
}

static int
cmd_queue_list(const struct sealpost_config *cfg, int json)
{
	char err[ADMIN_ERR_MAX];
	struct list_json lj;
	int rc = EX_OK;

	if (!json)
		return sendmail_mailq(cfg, stdout);
	lj.arr = json_array();
	lj.seen = util_htable_new();
	if (queue_list_read(cfg->spool_directory, list_json_cb, &lj, err,
	    sizeof(err)) < 0) {
		fprintf(stderr, "sealpost: %s\n", err);
		rc = EX_IOERR;
	} else {
		/* as mailq: an unreadable maildrop is worth a warning only */
		if (queue_admin_list_maildrop(cfg->spool_directory,
		    list_json_drop_cb, &lj, err, sizeof(err)) < 0)
			fprintf(stderr, "sealpost: %s (messages not yet picked "
			    "up are not shown)\n", err);
		json_dumpf(lj.arr, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
		putchar('\n');
	}
	json_decref(lj.arr);
	util_htable_free(lj.seen);
	return rc;
}

static int
cmd_flush(const struct sealpost_config *cfg, const char *domain)
{
	char line[300], reply[128], err[ADMIN_ERR_MAX];

	if (domain && strlen(domain) > 253) {
		fprintf(stderr, "sealpost: domain name too long\n");
		return EX_USAGE;
	}
	snprintf(line, sizeof(line), "FLUSH%s%s\n", domain ? " " : "",
	    domain ? domain : "");
	if (sendmail_ctl_request(cfg->spool_directory, line, reply,
	    sizeof(reply), err, sizeof(err)) < 0) {
		fprintf(stderr, "sealpost: flush: %s\n", err);
		return EX_UNAVAILABLE;
	}
	printf("flush requested%s%s\n", domain ? " for " : "",
	    domain ? domain : "");
	return EX_OK;
}

/* "queue ..." with argv[0] = the subcommand; -1 = usage error. */
static int
cmd_queue(const struct sealpost_config *cfg, int argc, char **argv)
{
	static const struct {
		const char         *word;
		enum queue_admin_op op;
	} change_words[] = {
		{ "delete", QUEUE_ADMIN_DELETE },
		{ "hold", QUEUE_ADMIN_HOLD },
		{ "release", QUEUE_ADMIN_RELEASE },
		{ "requeue", QUEUE_ADMIN_REQUEUE },
	};
	size_t i;

	if (argc < 1)
		return -1;
	if (strcmp(argv[0], "list") == 0) {
		if (argc == 1)
			return cmd_queue_list(cfg, 0);
		if (argc == 2 && strcmp(argv[1], "--json") == 0)
			return cmd_queue_list(cfg, 1);
		return -1;
	}
	if (strcmp(argv[0], "show") == 0) {
		if (argc == 2 && strcmp(argv[1], "--json") != 0)
			return admin_queue_show(cfg, argv[1], 0);
		if (argc == 3 && strcmp(argv[1], "--json") == 0)
			return admin_queue_show(cfg, argv[2], 1);
		if (argc == 3 && strcmp(argv[2], "--json") == 0)
			return admin_queue_show(cfg, argv[1], 1);
		return -1;
	}
	if (strcmp(argv[0], "flush") == 0 && argc <= 2)
		return cmd_flush(cfg, argc == 2 ? argv[1] : NULL);
	for (i = 0; i < sizeof(change_words) / sizeof(change_words[0]); i++)
		if (strcmp(argv[0], change_words[i].word) == 0)
			return argc < 2 ? -1 : admin_queue_change(cfg,
			    change_words[i].op, argv + 1, argc - 1);
	return -1;
}

int
admin_main(int argc, char **argv)
{
	const char *config_path = NULL;
	struct sealpost_config *cfg;
	char err[ADMIN_ERR_MAX];
	int i = 1, rc;

	if (i + 1 < argc && strcmp(argv[i], "-c") == 0) {
		config_path = argv[i + 1];
		i += 2;
	}
	if (i >= argc) {
		admin_usage();
		return EX_USAGE;
	}
	if (strcmp(argv[i], "version") == 0 && i + 1 == argc) {
		printf("sealpost %s\n", SEALPOST_VERSION);
		return EX_OK;
	}
	cfg = cfg_load(config_path, err, sizeof(err));
	if (cfg == NULL) {
		fprintf(stderr, "sealpost: %s\n", err);
		return EX_CONFIG;
	}
	if (strcmp(argv[i], "check-config") == 0 && i + 1 == argc) {
		printf("configuration %s is valid\n",
		    cfg->path ? cfg->path : "(built-in defaults)");
		rc = EX_OK;
	} else if (strcmp(argv[i], "sts") == 0) {	/* admin_sts.c */
		rc = admin_sts(cfg, argc - i - 1, argv + i + 1);
	} else if (strcmp(argv[i], "tlsrpt") == 0) {	/* admin_tlsrpt.c */
		rc = admin_tlsrpt(cfg, argc - i - 1, argv + i + 1);
	} else if (strcmp(argv[i], "queue") == 0) {
		rc = cmd_queue(cfg, argc - i - 1, argv + i + 1);
	} else if (strcmp(argv[i], "flush") == 0 && i + 2 >= argc) {
		rc = cmd_flush(cfg, i + 1 < argc ? argv[i + 1] : NULL);
	} else {
		rc = -1;
	}
	if (rc < 0) {
		admin_usage();
		rc = EX_USAGE;
	}
	cfg_free(cfg);
	return rc;
}
