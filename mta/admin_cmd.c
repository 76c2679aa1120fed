/*
 * admin_cmd.c - the "sealpost" administration command.
 *
 *   sealpost [-c config] queue list [--json]
 *   sealpost [-c config] flush [domain]
 *   sealpost [-c config] check-config
 *   sealpost version
 *
 * Reading commands open the queue database read-only, so they are safe
 * while the daemon runs; anything that changes the queue goes through the
 * daemon's control socket so the daemon's in-memory state never diverges
 * from disk.  JSON is built with jansson, never by hand.
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

static const char *const state_names[] = { "pending", "delivered", "bounced" };

static void
admin_usage(void)
{
	fprintf(stderr,
	    "usage: sealpost [-c config] queue list [--json]\n"
	    "       sealpost [-c config] flush [domain]\n"
	    "       sealpost [-c config] check-config\n"
	    "       sealpost version\n");
}

static json_t *
rcpt_json(const struct queue_rcpt *r)
{
	json_t *o = json_object();
	int st = (r->state >= 0 && r->state <= 2) ? r->state : 0;

	json_object_set_new(o, "address", json_string(r->addr));
	json_object_set_new(o, "state", json_string(state_names[st]));
	json_object_set_new(o, "attempts", json_integer(r->attempts));
	if (r->next_try)
		json_object_set_new(o, "next_try", json_integer(r->next_try));
	if (r->status)
		json_object_set_new(o, "status", json_string(r->status));
	if (r->reply)
		json_object_set_new(o, "reason", json_string(r->reply));
	if (r->relay)
		json_object_set_new(o, "relay", json_string(r->relay));
	if (r->tls)
		json_object_set_new(o, "tls", json_string(r->tls));
	return o;
}

static void
list_json_cb(void *arg, const struct queue_msg *m)
{
	json_t *arr = arg, *o = json_object(), *rs = json_array();
	size_t i;

	json_object_set_new(o, "queue_id", json_string(m->qid));
	json_object_set_new(o, "sender", json_string(m->sender));
	json_object_set_new(o, "arrival", json_integer(m->arrival));
	json_object_set_new(o, "size", json_integer((json_int_t)m->size));
	json_object_set_new(o, "held",
	    json_boolean(m->flags & QUEUE_MSG_HOLD));
	for (i = 0; i < m->nrcpt; i++)
		json_array_append_new(rs, rcpt_json(&m->rcpt[i]));
	json_object_set_new(o, "recipients", rs);
	json_array_append_new(arr, o);
}

static int
cmd_queue_list(const struct sealpost_config *cfg, int json)
{
	char err[ADMIN_ERR_MAX];
	json_t *arr;

	if (!json)
		return sendmail_mailq(cfg, stdout);
	arr = json_array();
	if (queue_list_read(cfg->spool_directory, list_json_cb, arr, err,
	    sizeof(err)) < 0) {
		fprintf(stderr, "sealpost: %s\n", err);
		json_decref(arr);
		return EX_IOERR;
	}
	json_dumpf(arr, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII);
	putchar('\n');
	json_decref(arr);
	return EX_OK;
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
	} else if (strcmp(argv[i], "queue") == 0 && i + 1 < argc &&
	    strcmp(argv[i + 1], "list") == 0 &&
	    (i + 2 == argc || (i + 3 == argc &&
	    strcmp(argv[i + 2], "--json") == 0))) {
		rc = cmd_queue_list(cfg, i + 3 == argc);
	} else if (strcmp(argv[i], "flush") == 0 && i + 2 >= argc) {
		rc = cmd_flush(cfg, i + 1 < argc ? argv[i + 1] : NULL);
	} else {
		admin_usage();
		rc = EX_USAGE;
	}
	cfg_free(cfg);
	return rc;
}
