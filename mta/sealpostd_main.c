/*
 * sealpostd_main.c - the sealpost daemon: wires the store, the delivery
 * agents and the queue manager together and runs the main loop.
 *
 * Threads: the main loop (queue manager, control socket, signals), the
 * store thread (sqlite), delivery_threads agent loops, the TLS-RPT
 * result writer and the TLS-RPT sender (its own loop, resolver, curl).  When started
 * as root with run_user set, privileges are dropped before any of them
 * exists, right after the spool is made ours.  Runs in the foreground
 * (systemd or a terminal supervises it); SIGTERM/SIGINT stop it cleanly,
 * SIGHUP re-reads the configuration.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "config/config.h"
#include "mta/mta.h"
#include "mta/smtpd.h"
#include "queue/qmgr.h"
#include "queue/queue.h"
#include "resolver/resolver.h"
#include "tls/tlsrpt.h"
#include "util.h"

#define SEALPOSTD_ERR_MAX 1024

struct daemon {
	tlsrpt_store *tlsrpt;		/* TLS results for RFC 8460 reports */
	tlsrpt_sender *reporter;	/* sends them daily; NULL: off */
	uv_loop_t *loop;
	const char *config_path;
	struct sealpost_config *cfg;
	struct sealpost_config *old_cfgs[16];	/* kept: agents still read them */
	size_t nold;
	queue_store *store;
	mta_pool *pool;
	util_chan *chan;
	qmgr *q;
	smtpd_server *smtpd;		/* NULL: no listen section */
	uv_signal_t sig_term, sig_int, sig_hup;
};

static void
usage(void)
{
	fprintf(stderr, "usage: sealpostd [-c config] [--check-config] [-V]\n");
	exit(EX_USAGE);
}

static void
drop_privileges(const struct sealpost_config *cfg)
{
	struct passwd *pw;

	if (geteuid() != 0 || cfg->run_user == NULL || cfg->run_user[0] == '\0')
		return;
	pw = getpwnam(cfg->run_user);
	if (pw == NULL)
		log_fatal("run_user %s: no such user", cfg->run_user);
	if (util_mkdir_p(cfg->spool_directory, 0755) < 0)
		log_fatal("spool_directory %s: %s", cfg->spool_directory,
		    strerror(errno));
	if (chown(cfg->spool_directory, pw->pw_uid, pw->pw_gid) < 0)
		log_fatal("chown %s: %s", cfg->spool_directory, strerror(errno));
	if (initgroups(pw->pw_name, pw->pw_gid) < 0 ||
	    setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
		log_fatal("cannot drop privileges to %s: %s", cfg->run_user,
		    strerror(errno));
	if (setuid(0) == 0)
		log_panic("still able to regain root after dropping privileges");
	log_info("running as %s (uid %u)", pw->pw_name, (unsigned)pw->pw_uid);
}

/*
 * DANE (docs/dane.md): prove that DNSSEC validation works before relying
 * on it.  Insecure or bogus answers for the trust anchor's DNSKEY mean
 * every DANE domain would be misjudged: with dane = yes that refuses the
 * start (escape: dane = no); no answer at all (network not up yet) only
 * warns.  Returns 0, or -1 when the start must be refused.
 */
static int
dnssec_sanity(const struct sealpost_config *cfg, int check_only)
{
	char msg[SEALPOSTD_ERR_MAX];
	enum res_check_result rc = res_check_dnssec(&cfg->resolver, msg,
	    sizeof(msg));

	switch (rc) {
	case RES_CHECK_OK:
		if (check_only)
			printf("sealpostd: %s\n", msg);
		else
			log_info("%s", msg);
		return 0;
	case RES_CHECK_INSECURE:
	case RES_CHECK_BOGUS:
		if (!cfg->dane) {
			log_warn("%s (dane = no: continuing)", msg);
			return 0;
		}
		log_error("%s; DANE cannot work, refusing to start (set "
		    "dane = no to run without DANE)", msg);
		return -1;
	case RES_CHECK_UNREACHABLE:
	case RES_CHECK_ERROR:
		log_warn("%s", msg);
		return 0;
	}
	return 0;
}

/* ---- the TLS-RPT sender ---- */

static void
wake_on_loop(void *arg)
{
	qmgr_wakeup(arg);
}

/* Sender thread: a report is in the maildrop. */
static void
reporter_wake(void *arg)
{
	struct daemon *d = arg;

	util_chan_post(d->chan, wake_on_loop, d->q);
}

/* Main loop, from the control socket's TLSRPT-SEND. */
static int
reporter_trigger(void *arg, const char *day, char *err, size_t errlen)
{
	struct daemon *d = arg;

	return tlsrpt_sender_trigger(d->reporter, day, err, errlen);
}

/* The DKIM key is read while we may still be root: it need not be
 * readable by run_user.  A key that does not load stops the start, as
 * unsigned reports would be a silent change. */
static void *
reporter_key(const struct sealpost_config *cfg)
{
	char err[SEALPOSTD_ERR_MAX];
	void *key;

	if (!cfg->tlsrpt_enable || !cfg->tlsrpt_reports ||
	    cfg->tlsrpt_dkim_key == NULL)
		return NULL;
	key = tlsrpt_dkim_key_load(cfg->tlsrpt_dkim_key, err, sizeof(err));
	if (key == NULL)
		log_fatal("tlsrpt_dkim_key: %s", err);
	return key;
}

/* --check-config: the key must load, as it must at start-up. */
static int
check_dkim_key(const struct sealpost_config *cfg)
{
	char err[SEALPOSTD_ERR_MAX];
	EVP_PKEY *key;

	if (!cfg->tlsrpt_enable || !cfg->tlsrpt_reports ||
	    cfg->tlsrpt_dkim_key == NULL)
		return 0;
	key = tlsrpt_dkim_key_load(cfg->tlsrpt_dkim_key, err, sizeof(err));
	if (key == NULL) {
		fprintf(stderr, "sealpostd: tlsrpt_dkim_key: %s\n", err);
		return -1;
	}
	EVP_PKEY_free(key);
	return 0;
}

static void
reporter_start(struct daemon *d, void *dkim_key)
{
	struct tlsrpt_sender_opts o;
	char err[SEALPOSTD_ERR_MAX];

	if (d->tlsrpt == NULL || !d->cfg->tlsrpt_reports) {
		EVP_PKEY_free(dkim_key);
		return;
	}
	memset(&o, 0, sizeof(o));
	o.cfg = d->cfg;
	o.store = d->tlsrpt;
	o.dkim_key = dkim_key;
	o.wake = reporter_wake;
	o.wake_arg = d;
	d->reporter = tlsrpt_sender_start(&o, err, sizeof(err));
	if (d->reporter == NULL) {
		/* reports are lost, mail is not: carry on */
		log_error("TLS report sending disabled: %s", err);
		EVP_PKEY_free(dkim_key);
		return;
	}
	qmgr_control_set_tlsrpt(reporter_trigger, d);
}

/*
 * A SIGTERM that arrives while the daemon is still starting (the DNSSEC
 * check can take seconds) must not kill it with the default action: a
 * supervisor stopping a fresh daemon expects a clean exit.  It is noted
 * here and acted on once the libuv handlers are in place.
 */
static volatile sig_atomic_t early_signal;

static void
on_early_signal(int signum)
{
	early_signal = signum;
}

static void
on_stop(uv_signal_t *h, int signum)
{
	struct daemon *d = h->data;

	log_info("signal %d: stopping", signum);
	/* the listener first: no new mail while the queue winds down */
	smtpd_server_stop(d->smtpd);
	qmgr_stop(d->q);
	uv_signal_stop(&d->sig_term);
	uv_signal_stop(&d->sig_int);
	uv_signal_stop(&d->sig_hup);
	uv_close((uv_handle_t *)&d->sig_term, NULL);
	uv_close((uv_handle_t *)&d->sig_int, NULL);
	uv_close((uv_handle_t *)&d->sig_hup, NULL);
	uv_stop(d->loop);
}

static void
on_reload(uv_signal_t *h, int signum)
{
	struct daemon *d = h->data;
	char err[SEALPOSTD_ERR_MAX];
	struct sealpost_config *cfg;

	(void)signum;
	cfg = cfg_load(d->config_path, err, sizeof(err));
	if (cfg == NULL) {
		log_error("reload refused, keeping the running configuration: %s",
		    err);
		return;
	}
	if (d->nold == sizeof(d->old_cfgs) / sizeof(d->old_cfgs[0])) {
		log_warn("reload refused: too many reloads without restart");
		cfg_free(cfg);
		return;
	}
	/* Agents hold pointers into the first config; limits, backoff and
	 * lifetimes take effect now, the rest at the next restart. */
	d->old_cfgs[d->nold++] = cfg;
	qmgr_reload(d->q, cfg);
	log_info("reload: configuration %s re-read", cfg->path);
}

int
main(int argc, char **argv)
{
	struct daemon d;
	char err[SEALPOSTD_ERR_MAX];
	void *dkim_key;
	int check_only = 0, i;
	size_t k;

	memset(&d, 0, sizeof(d));
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			d.config_path = argv[++i];
		else if (strcmp(argv[i], "--check-config") == 0 ||
		    strcmp(argv[i], "-n") == 0)
			check_only = 1;
		else if (strcmp(argv[i], "-V") == 0) {
			printf("sealpostd %s\n", SEALPOST_VERSION);
			return 0;
		} else
			usage();
	}
	{
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_early_signal;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
	}
	util_log_open("sealpostd", 0);
	d.cfg = cfg_load(d.config_path, err, sizeof(err));
	if (d.cfg == NULL) {
		fprintf(stderr, "sealpostd: %s\n", err);
		return EX_CONFIG;
	}
	if (check_only) {
		if (dnssec_sanity(d.cfg, 1) < 0 || check_dkim_key(d.cfg) < 0) {
			cfg_free(d.cfg);
			return EX_CONFIG;
		}
		printf("sealpostd: configuration %s is valid\n", d.cfg->path);
		cfg_free(d.cfg);
		return 0;
	}
	if (d.cfg->log_syslog)
		util_log_open("sealpostd", 1);
	signal(SIGPIPE, SIG_IGN);
	/* Listeners are bound (ports < 1024, root-only key files, SASL
	 * config) before the privileges go; nothing is accepted before
	 * smtpd_server_start, after the drop. */
	d.loop = uv_default_loop();
	d.smtpd = smtpd_server_bind(d.loop, d.cfg, err, sizeof(err));
	if (d.smtpd == NULL && err[0] != '\0')
		log_fatal("smtpd: %s", err);
	dkim_key = reporter_key(d.cfg);
	drop_privileges(d.cfg);
	if (dnssec_sanity(d.cfg, 0) < 0)
		return EX_CONFIG;

	d.store = queue_store_open(d.cfg->spool_directory, d.cfg->commit_batch_ms,
	    err, sizeof(err));
	if (d.store == NULL)
		log_fatal("queue: %s", err);
	/* Before the agents exist, so no session result is missed; a store
	 * that cannot open costs reports, never mail. */
	if (d.cfg->tlsrpt_enable) {
		char *path = xasprintf("%s/%s", d.cfg->spool_directory,
		    TLSRPT_DB_FILE);

		d.tlsrpt = tlsrpt_store_open(path, 0, 0,
		    d.cfg->tlsrpt_retention_days, 1, err, sizeof(err));
		if (d.tlsrpt == NULL)
			log_error("TLS reporting disabled: %s", err);
		free(path);
	}
	d.chan = util_chan_create(d.loop);
	d.pool = mta_pool_create(d.cfg, d.cfg->delivery_threads, d.chan, err,
	    sizeof(err));
	if (d.pool == NULL)
		log_fatal("delivery agents: %s", err);
	d.q = qmgr_create(d.loop, d.cfg, d.store, d.pool, d.chan);

	uv_signal_init(d.loop, &d.sig_term);
	uv_signal_init(d.loop, &d.sig_int);
	uv_signal_init(d.loop, &d.sig_hup);
	d.sig_term.data = d.sig_int.data = d.sig_hup.data = &d;
	uv_signal_start(&d.sig_term, on_stop, SIGTERM);
	uv_signal_start(&d.sig_int, on_stop, SIGINT);
	uv_signal_start(&d.sig_hup, on_reload, SIGHUP);

	/* before the control socket opens, so TLSRPT-SEND finds it */
	reporter_start(&d, dkim_key);
	if (qmgr_start(d.q) < 0)
		log_fatal("queue manager did not start");
	if (d.smtpd != NULL && smtpd_server_start(d.smtpd, d.store, d.chan,
	    d.q, err, sizeof(err)) < 0)
		log_fatal("smtpd: %s", err);
	log_info("sealpostd %s started: spool=%s myhostname=%s",
	    SEALPOST_VERSION, d.cfg->spool_directory, d.cfg->myhostname);

	if (early_signal != 0)
		on_stop(&d.sig_term, early_signal);
	uv_run(d.loop, UV_RUN_DEFAULT);

	/*
	 * Orderly shutdown.  Agents finish or defer; their results reach the
	 * queue manager through the channel and are committed fire-and-forget.
	 * Only then may the store close (it commits what is pending), and only
	 * after that the channel, which may still receive store callbacks.
	 * The report sender goes first: it posts to the channel.
	 */
	qmgr_control_set_tlsrpt(NULL, NULL);
	tlsrpt_sender_stop(d.reporter);
	mta_pool_free(d.pool);
	tlsrpt_store_close(d.tlsrpt);	/* after the agents: flushes all */
	util_chan_drain(d.chan);
	queue_store_close(d.store);
	util_chan_close(d.chan);
	uv_run(d.loop, UV_RUN_DEFAULT);
	smtpd_server_free(d.smtpd);	/* its sessions closed in that run */
	qmgr_free(d.q);
	uv_loop_close(d.loop);
	for (k = 0; k < d.nold; k++)
		cfg_free(d.old_cfgs[k]);
	log_info("stopped");
	cfg_free(d.cfg);
	return 0;
}
