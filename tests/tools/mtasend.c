/*
 * mtasend.c - deliver one message through the delivery agent, no queue.
 *
 *   mtasend [-c sealpost.conf] --from a@b --to x@y [--to ...]
 *           [--relay HOST|[HOST]][:PORT] [--ca FILE] [--no-tls]
 *           [--threads N] [--8bit] [--smtputf8] [FILE]
 *
 * Builds a queue_msg from FILE (or stdin; LF line ends become CRLF),
 * starts one mta_pool answering on a util_chan of this loop, submits one
 * job per recipient domain and prints one line per recipient.  Exit
 * status: 0 if every recipient was delivered, 1 if any was deferred or
 * bounced, 2 on usage or setup errors.  SEALPOST_MTA_TRACE=1 in the
 * environment shows the SMTP dialogue.  For the integration lab and for
 * trying real sessions by hand.
 */
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "mta/mta.h"
#include "queue/queue.h"
#include "util.h"

#define MTASEND_MSG_MAX		(64u * 1024 * 1024)
#define MTASEND_RCPT_MAX	1000

struct mtasend {
	uv_loop_t *loop;
	size_t     pending;
	int        failed;
};

static void
usage(void)
{
	fprintf(stderr, "usage: mtasend [-c config] --from ADDR --to ADDR "
	    "[--to ADDR ...]\n"
	    "               [--relay HOST|[HOST]][:PORT] [--ca FILE] "
	    "[--no-tls] [--threads N]\n"
	    "               [--8bit] [--smtputf8] [FILE]\n");
	exit(2);
}

/* The message as the queue stores it: CRLF line ends. */
static char *
read_message(FILE *f, size_t *len, int *eightbit)
{
	struct dynbuf b;
	int c, prev = 0;

	dynbuf_init(&b, MTASEND_MSG_MAX);
	*eightbit = 0;
	while ((c = getc(f)) != EOF) {
		char ch = (char)c;

		if (c == '\n' && prev != '\r' && dynbuf_add(&b, "\r", 1) < 0)
			break;
		if (dynbuf_add(&b, &ch, 1) < 0) {
			fprintf(stderr, "mtasend: message too large\n");
			exit(2);
		}
		if (c >= 0x80)
			*eightbit = 1;
		prev = c;
	}
	return dynbuf_take(&b, len);
}

static void
job_done(struct mta_job *job)
{
	struct mtasend *ms = job->arg;
	size_t i;

	for (i = 0; i < job->nrcpt; i++) {
		const struct mta_status *st = &job->result[i];

		printf("to=<%s> status=%s code=%d dsn=%s relay=%s tls=\"%s\" "
		    "text=\"%s\"\n", job->msg->rcpt[job->rcpt_idx[i]].addr,
		    mta_outcome_name(st->outcome), st->code, st->dsn, st->relay,
		    st->tls, st->text);
		if (st->outcome != MTA_DELIVERED)
			ms->failed = 1;
	}
	fflush(stdout);
	free(job->domain);
	free(job->rcpt_idx);
	free(job->result);
	free(job);
	if (--ms->pending == 0)
		uv_stop(ms->loop);
}

static void
set_str(char **field, const char *value)
{
	free(*field);
	*field = xstrdup(value);
}

/* "host", "[host]", either with ":port" - like the relayhost key. */
static void
set_relay(struct sealpost_config *cfg, const char *arg)
{
	const char *end, *colon;
	char *host;
	uint64_t port = 25;

	if (arg[0] == '[') {
		if ((end = strchr(arg, ']')) == NULL)
			usage();
		host = xstrndup(arg + 1, (size_t)(end - arg - 1));
		colon = end[1] == ':' ? end + 1 : NULL;
		cfg->relay.mx_lookup = 0;
	} else {
		colon = strrchr(arg, ':');
		host = colon ? xstrndup(arg, (size_t)(colon - arg)) :
		    xstrdup(arg);
		cfg->relay.mx_lookup = 1;
	}
	if (colon && util_parse_uint(colon + 1, strlen(colon + 1), 65535,
	    &port) < 0)
		usage();
	free(cfg->relay.host);
	cfg->relay.host = host;
	cfg->relay.port = (uint16_t)port;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "relay", required_argument, NULL, 'r' },
		{ "ca", required_argument, NULL, 'a' },
		{ "no-tls", no_argument, NULL, 'n' },
		{ "threads", required_argument, NULL, 'T' },
		{ "8bit", no_argument, NULL, '8' },
		{ "smtputf8", no_argument, NULL, 'u' },
		{ NULL, 0, NULL, 0 }
	};
	const char *cfgpath = NULL, *from = NULL, *to[MTASEND_RCPT_MAX];
	const char *relay = NULL, *ca = NULL;
	struct sealpost_config *cfg;
	struct queue_msg *msg;
	struct mtasend ms = { 0 };
	util_chan *chan;
	mta_pool *pool;
	char err[512];
	size_t nto = 0, i, j;
	unsigned flags = 0;
	uint64_t threads = 0;
	int c, notls = 0, eightbit;
	FILE *in = stdin;
	uv_loop_t *loop = uv_default_loop();

	while ((c = getopt_long(argc, argv, "c:f:t:", opts, NULL)) != -1) {
		switch (c) {
		case 'c': cfgpath = optarg; break;
		case 'f': from = optarg; break;
		case 't':
			if (nto == MTASEND_RCPT_MAX)
				usage();
			to[nto++] = optarg;
			break;
		case 'r': relay = optarg; break;
		case 'a': ca = optarg; break;
		case 'n': notls = 1; break;
		case 'T':
			if (util_parse_uint(optarg, strlen(optarg), 64,
			    &threads) < 0)
				usage();
			break;
		case '8': flags |= QUEUE_MSG_8BITMIME; break;
		case 'u': flags |= QUEUE_MSG_SMTPUTF8; break;
		default: usage();
		}
	}
	if (from == NULL || nto == 0 || argc - optind > 1)
		usage();
	if (argc - optind == 1 && (in = fopen(argv[optind], "rb")) == NULL) {
		perror(argv[optind]);
		return 2;
	}
	util_log_open("mtasend", 0);

	cfg = cfgpath ? cfg_load(cfgpath, err, sizeof(err)) : cfg_defaults();
	if (cfg == NULL) {
		fprintf(stderr, "mtasend: %s\n", err);
		return 2;
	}
	if (relay)
		set_relay(cfg, relay);
	if (ca)
		set_str(&cfg->tls_ca_file, ca);
	if (notls)
		cfg->tls_opportunistic = 0;

	msg = queue_msg_new();
	queue_id_new(msg->qid);
	set_str(&msg->sender, from);
	msg->arrival = util_wall_time();
	msg->body = read_message(in, &msg->body_len, &eightbit);
	msg->size = msg->body_len;
	msg->flags = flags | (eightbit ? QUEUE_MSG_8BITMIME : 0);
	if (in != stdin)
		fclose(in);
	for (i = 0; i < nto; i++)
		queue_msg_add_rcpt(msg, to[i], NULL, 0);

	chan = util_chan_create(loop);
	pool = mta_pool_create(cfg, (unsigned)threads, chan, err, sizeof(err));
	if (pool == NULL) {
		fprintf(stderr, "mtasend: %s\n", err);
		return 2;
	}
	ms.loop = loop;
	/* One job per recipient domain, in first-seen order. */
	for (i = 0; i < nto; i++) {
		const char *at = strrchr(to[i], '@');
		const char *dom = at ? at + 1 : "";
		struct mta_job *job;
		int seen = 0;

		for (j = 0; j < i && !seen; j++) {
			const char *a2 = strrchr(to[j], '@');

			seen = util_strcasecmp(a2 ? a2 + 1 : "", dom) == 0;
		}
		if (seen)
			continue;
		job = xcalloc(1, sizeof(*job));
		job->msg = msg;
		job->domain = xstrdup(dom);
		for (char *p = job->domain; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		job->rcpt_idx = xcalloc(nto, sizeof(size_t));
		for (j = i; j < nto; j++) {
			const char *a2 = strrchr(to[j], '@');

			if (util_strcasecmp(a2 ? a2 + 1 : "", dom) == 0)
				job->rcpt_idx[job->nrcpt++] = j;
		}
		job->result = xcalloc(job->nrcpt, sizeof(*job->result));
		job->queued_ms = util_now_ms();
		job->done = job_done;
		job->arg = &ms;
		ms.pending++;
		mta_pool_submit(pool, job);
	}
	uv_run(loop, UV_RUN_DEFAULT);
	mta_pool_free(pool);
	util_chan_close(chan);
	uv_run(loop, UV_RUN_DEFAULT);
	(void)uv_loop_close(loop);
	queue_msg_free(msg);
	cfg_free(cfg);
	return ms.failed ? 1 : 0;
}
