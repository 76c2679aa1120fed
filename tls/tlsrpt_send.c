/*
 * tlsrpt_send.c - the daily TLS-RPT sender (RFC 8460 4.1, 5): its
 * thread, its schedule, the _smtp._tls lookup and the per-URI dispatch.
 *
 * The thread has its own libuv loop, libunbound context and libcurl
 * multi, so nothing it does (DNS, HTTPS, sqlite) ever waits on the
 * daemon's main loop or the delivery agents, nor they on it.  Its sqlite
 * work is short: one read of the day's domains, one report per domain,
 * a row per URI.  Work arrives through a util_chan (send-now, stop).
 *
 * Schedule: the report for day D goes out on D+1 at 00:00 UTC +
 * tlsrpt_send_delay + a random jitter below tlsrpt_send_window, so
 * receivers are not all hit at midnight.  A daemon that was down at that
 * time catches up shortly after it starts (within a minute, jittered):
 * every (day, domain, uri) has a row in tlsrpt_sent that is created
 * before anything leaves, so a run can be repeated any number of times
 * and still sends each report to each URI once (tlsrpt_sent.c).  Rows
 * still DUE (an https retry, a run cut short by a stop) are picked up by
 * the retry timer at their next_try.
 *
 * A job is one (day, domain): TXT lookup, then the report is built once
 * (JSON, gzip) and handed to every rua URI whose row is DUE.  Jobs are
 * freed when their lookup and their last POST have ended.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/evp.h>

#include "tlsrpt_send_int.h"

#define SEND_DAY_SECS		86400
#define SEND_CATCHUP_MAX_MS	60000	/* after a start: within a minute */
#define SEND_CATCHUP_MIN_MS	5000
#define SEND_RETRY_MIN_MS	1000
#define SEND_RETRY_MAX_MS	(3600 * 1000)	/* look again at least hourly */
#define SEND_DOMAINS_MAX	100000	/* policy domains reported per day */

static void job_start(tlsrpt_sender *s, const char *day, const char *domain,
    int now_requested);
static void arm_retry(tlsrpt_sender *s);

/* ---- the schedule -------------------------------------------------------- */

int64_t
tlsrpt_sender_next_run(int64_t now, unsigned delay, unsigned window,
    uint64_t jitter)
{
	int64_t t = now - (now % SEND_DAY_SECS) + delay +
	    (window ? (int64_t)(jitter % window) : 0);

	if (t <= now)
		t += SEND_DAY_SECS;
	return t;
}

static uint64_t
random_u64(void)
{
	uint64_t v = 0;

	/* the jitter only spreads load: a weak fallback is fine */
	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v))
		v = util_now_ms() * 2654435761u;
	return v;
}

static uint64_t
ms_until(int64_t t)
{
	int64_t now = util_wall_time();

	return t > now ? (uint64_t)(t - now) * 1000u : 0;
}

static void run_day(tlsrpt_sender *s, const char *day, int now_requested);

/* Tomorrow's run: its own fresh jitter. */
static int64_t
next_daily(const struct sealpost_config *cfg, int64_t now)
{
	uint64_t jitter = random_u64();

	return now - (now % SEND_DAY_SECS) + SEND_DAY_SECS +
	    cfg->tlsrpt_send_delay + (cfg->tlsrpt_send_window ?
	    (int64_t)(jitter % cfg->tlsrpt_send_window) : 0);
}

static void
daily_fired(uv_timer_t *t)
{
	tlsrpt_sender *s = t->data;
	const struct sealpost_config *cfg = s->cfg;
	char day[TLSRPT_DAY_LEN];
	int64_t now = util_wall_time(), next;

	tlsrpt_day(now - SEND_DAY_SECS, day);
	/* old rows go with the results they describe */
	if (cfg->tlsrpt_retention_days > 0)
		tlsrpt_sent_expire(s->sent, now - (int64_t)
		    cfg->tlsrpt_retention_days * SEND_DAY_SECS);
	run_day(s, day, 0);
	next = next_daily(cfg, now);
	uv_timer_start(&s->daily, daily_fired, ms_until(next), 0);
	log_info("tlsrpt: next daily run in %lld s", (long long)(next - now));
}

static void
catchup_fired(uv_timer_t *t)
{
	tlsrpt_sender *s = t->data;
	const struct sealpost_config *cfg = s->cfg;
	char day[TLSRPT_DAY_LEN];
	int64_t now = util_wall_time(), next;

	tlsrpt_day(now - SEND_DAY_SECS, day);
	log_info("tlsrpt: catching up on %s (already sent reports are not "
	    "sent again)", day);
	run_day(s, day, 0);
	next = next_daily(cfg, now);
	uv_timer_start(&s->daily, daily_fired, ms_until(next), 0);
}

/* At start: today's run still ahead, or a catch-up for yesterday now. */
static void
schedule_first(tlsrpt_sender *s)
{
	const struct sealpost_config *cfg = s->cfg;
	int64_t now = util_wall_time();
	int64_t midnight = now - (now % SEND_DAY_SECS);
	int64_t next = tlsrpt_sender_next_run(now, cfg->tlsrpt_send_delay,
	    cfg->tlsrpt_send_window, random_u64());

	if (next < midnight + SEND_DAY_SECS) {
		uv_timer_start(&s->daily, daily_fired, ms_until(next), 0);
		log_info("tlsrpt: sender started, daily run in %lld s",
		    (long long)(next - now));
	} else {
		uint64_t ms = SEND_CATCHUP_MIN_MS + random_u64() %
		    (SEND_CATCHUP_MAX_MS - SEND_CATCHUP_MIN_MS);

		uv_timer_start(&s->daily, catchup_fired, ms, 0);
		log_info("tlsrpt: sender started, today's run has passed: "
		    "catching up in %llu s", (unsigned long long)(ms / 1000));
	}
}

/* ---- rows ------------------------------------------------------------------ */

void
tlsrpt_send_mark(tlsrpt_sender *s, struct tlsrpt_sent_entry *e,
    enum tlsrpt_sent_state st, const char *error)
{
	e->state = st;
	e->updated = util_wall_time();
	if (error != NULL)
		util_printable(error, strlen(error), e->last_error,
		    sizeof(e->last_error));
	if (tlsrpt_sent_update(s->sent, e) < 0)
		log_error("tlsrpt: day=%s domain=%s uri=%s: cannot record "
		    "state %s", e->day, e->domain, e->uri,
		    tlsrpt_sent_state_name(st));
	if (st == TLSRPT_SENT_DUE)
		log_warn("tlsrpt: day=%s domain=%s uri=%s attempts=%u "
		    "state=due next_try=%lld: %s", e->day, e->domain, e->uri,
		    e->attempts, (long long)e->next_try, e->last_error);
	else if (st == TLSRPT_SENT_DONE)
		log_info("tlsrpt: day=%s domain=%s uri=%s attempts=%u "
		    "state=sent%s%s", e->day, e->domain, e->uri, e->attempts,
		    e->queue_id[0] ? " queue_id=" : "", e->queue_id);
	else
		log_warn("tlsrpt: day=%s domain=%s uri=%s attempts=%u "
		    "state=%s: %s", e->day, e->domain, e->uri, e->attempts,
		    tlsrpt_sent_state_name(st), e->last_error);
}

void
tlsrpt_send_retry_later(tlsrpt_sender *s, struct tlsrpt_sent_entry *e,
    const char *why)
{
	int64_t now = util_wall_time(), next;

	if (e->first_try == 0)
		e->first_try = now;
	e->attempts++;
	next = tlsrpt_sent_next_try(e->attempts, e->first_try, now);
	if (next == 0) {
		tlsrpt_send_mark(s, e, TLSRPT_SENT_FAILED, why);
		return;
	}
	e->next_try = next;
	tlsrpt_send_mark(s, e, TLSRPT_SENT_DUE, why);
}

struct stale {
	tlsrpt_sender *s;
	const char *domain;
	const struct tlsrpt_txt *txt;	/* NULL: no record at all */
	const char *why;
	int temporary;
	struct tlsrpt_sent_entry *rows;	/* collected, then settled: no
					 * writes while the SELECT runs */
	size_t n, alloc;
};

static void
stale_collect(void *arg, const struct tlsrpt_sent_entry *row)
{
	struct stale *st = arg;

	if (row->state != TLSRPT_SENT_DUE || strcmp(row->domain, st->domain))
		return;
	if (st->n == st->alloc) {
		st->alloc = st->alloc ? st->alloc * 2 : 8;
		st->rows = xrealloc(st->rows, st->alloc * sizeof(*st->rows));
	}
	st->rows[st->n++] = *row;
}

static void
stale_settle(struct stale *st, struct tlsrpt_sent_entry *e)
{
	size_t i;

	if (strcmp(e->uri, TLSRPT_SENT_LOOKUP) == 0) {
		if (st->txt != NULL) {
			snprintf(e->last_error, sizeof(e->last_error),
			    "record found");
			tlsrpt_send_mark(st->s, e, TLSRPT_SENT_DONE, NULL);
		} else if (st->temporary)
			tlsrpt_send_retry_later(st->s, e, st->why);
		else
			tlsrpt_send_mark(st->s, e, TLSRPT_SENT_FAILED, st->why);
		return;
	}
	if (st->txt != NULL) {
		for (i = 0; i < st->txt->nrua; i++)
			if (strcmp(st->txt->rua[i].uri, e->uri) == 0)
				return;
		tlsrpt_send_mark(st->s, e, TLSRPT_SENT_FAILED,
		    "no longer in the domain's rua");
	} else if (st->temporary)
		tlsrpt_send_retry_later(st->s, e, st->why);
	else
		tlsrpt_send_mark(st->s, e, TLSRPT_SENT_FAILED, st->why);
}

/* DUE rows of the job's day and domain that this run will not send:
 * settle them, or the retry timer would find them due forever. */
static void
settle_stale(struct send_job *j, const struct tlsrpt_txt *txt,
    const char *why, int temporary)
{
	struct stale st = { j->s, j->domain, txt, why, temporary, NULL, 0, 0 };
	size_t i;

	tlsrpt_sent_list(j->s->sent, j->day, stale_collect, &st);
	for (i = 0; i < st.n; i++)
		stale_settle(&st, &st.rows[i]);
	free(st.rows);
}

/* ---- jobs ------------------------------------------------------------------ */

static void
job_free(struct send_job *j)
{
	struct send_job **pp;

	for (pp = &j->s->jobs; *pp; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			break;
		}
	if (j->q)
		res_cancel(j->q);
	free(j->gz);
	free(j);
}

void
tlsrpt_send_job_check(struct send_job *j)
{
	tlsrpt_sender *s = j->s;

	if (j->q != NULL || j->nposts > 0)
		return;
	job_free(j);
	if (!s->stopping)
		arm_retry(s);
}

/* The report of the job's day and domain, gzip'ed, once per job. */
static int
job_build(struct send_job *j)
{
	const struct sealpost_config *cfg = j->s->cfg;
	struct tlsrpt_report_info info = { cfg->tlsrpt_organization,
	    cfg->tlsrpt_contact, cfg->tlsrpt_submitter };
	char err[512];
	tlsrpt_db *db;
	json_t *rep;
	int rc;

	if (j->gz != NULL)
		return 0;
	db = tlsrpt_db_open(j->s->db_path, 1, err, sizeof(err));
	if (db == NULL) {
		log_error("tlsrpt: day=%s domain=%s: %s", j->day, j->domain,
		    err);
		return -1;
	}
	rep = tlsrpt_json_build(db, j->domain, j->day, &info, err,
	    sizeof(err));
	tlsrpt_db_close(db);
	if (rep == NULL) {
		log_error("tlsrpt: day=%s domain=%s: no report: %s", j->day,
		    j->domain, err);
		return -1;
	}
	snprintf(j->report_id, sizeof(j->report_id), "%s",
	    json_string_value(json_object_get(rep, "report-id")));
	snprintf(j->start, sizeof(j->start), "%s", json_string_value(
	    json_object_get(json_object_get(rep, "date-range"),
	    "start-datetime")));
	snprintf(j->end, sizeof(j->end), "%s", json_string_value(
	    json_object_get(json_object_get(rep, "date-range"),
	    "end-datetime")));
	rc = tlsrpt_json_gzip(rep, &j->gz, &j->gzlen);
	json_decref(rep);
	if (rc < 0) {
		log_error("tlsrpt: day=%s domain=%s: gzip failed", j->day,
		    j->domain);
		return -1;
	}
	return 0;
}

static void
txt_answer(void *arg, const struct res_answer *ans)
{
	struct send_job *j = arg;
	tlsrpt_sender *s = j->s;
	struct tlsrpt_txt txt;
	struct tlsrpt_sent_entry e;
	size_t lens[64], n, i;
	char why[TLSRPT_NAME_MAX + 512];
	int64_t now = util_wall_time();

	j->q = NULL;
	if (ans->rcode != RES_OK) {
		int temporary = ans->rcode == RES_RETRY ||
		    ans->security == RES_BOGUS;

		snprintf(why, sizeof(why), "_smtp._tls.%s: %s%s%s%.256s",
		    j->domain, ans->rcode == RES_NOTFOUND ? "no TXT record" :
		    "DNS lookup failed ", ans->rcode == RES_NOTFOUND ? "" :
		    res_rcode_name(ans->rcode), ans->security == RES_BOGUS ?
		    ", bogus: " : "", ans->security == RES_BOGUS ?
		    ans->why_bogus : "");
		log_info("tlsrpt: day=%s domain=%s: no report%s: %s", j->day,
		    j->domain, temporary ? " yet" : "", why);
		settle_stale(j, NULL, why, temporary);
		/* no URI is known yet: a row for the lookup itself keeps
		 * the domain's report alive for retries and restarts */
		if (temporary && tlsrpt_sent_claim(s->sent, j->day, j->domain,
		    TLSRPT_SENT_LOOKUP, now, &e) == 0 && e.attempts == 0 &&
		    e.state == TLSRPT_SENT_DUE)
			tlsrpt_send_retry_later(s, &e, why);
		tlsrpt_send_job_check(j);
		return;
	}
	n = ans->n < sizeof(lens) / sizeof(lens[0]) ? ans->n :
	    sizeof(lens) / sizeof(lens[0]);
	for (i = 0; i < n; i++)
		lens[i] = strlen(ans->txt[i]);
	if (tlsrpt_txt_select((const char *const *)ans->txt, lens, n, &txt,
	    why, sizeof(why)) < 0) {
		char shown[256];

		util_printable(why, strlen(why), shown, sizeof(shown));
		log_info("tlsrpt: day=%s domain=%s: no report: _smtp._tls "
		    "record unusable: %s", j->day, j->domain, shown);
		settle_stale(j, NULL, "no valid _smtp._tls record", 0);
		tlsrpt_send_job_check(j);
		return;
	}
	for (i = 0; i < txt.nrua && !s->stopping; i++) {
		const struct tlsrpt_uri *u = &txt.rua[i];

		if (tlsrpt_sent_claim(s->sent, j->day, j->domain, u->uri, now,
		    &e) < 0)
			continue;
		if (e.state != TLSRPT_SENT_DUE) {
			log_info("tlsrpt: day=%s domain=%s uri=%s: already %s",
			    j->day, j->domain, u->uri,
			    tlsrpt_sent_state_name(e.state));
			continue;
		}
		if (!j->now_requested && e.next_try > now)
			continue;	/* backing off; the retry timer knows */
		if (job_build(j) < 0) {
			/* back off rather than spin on the retry timer */
			tlsrpt_send_retry_later(s, &e, "the report could not "
			    "be built (see the log)");
			continue;
		}
		if (u->scheme == TLSRPT_URI_MAILTO)
			tlsrpt_send_mail(j, u, &e);
		else
			tlsrpt_send_post(j, u, &e);
	}
	settle_stale(j, &txt, NULL, 0);
	tlsrpt_send_job_check(j);
}

static void
job_start(tlsrpt_sender *s, const char *day, const char *domain,
    int now_requested)
{
	char name[TLSRPT_NAME_MAX + 16];
	struct send_job *j;

	for (j = s->jobs; j; j = j->next)
		if (strcmp(j->day, day) == 0 && strcmp(j->domain, domain) == 0)
			return;		/* that one will do it */
	if (strlen(domain) > TLSRPT_NAME_MAX - 11)
		return;
	j = xcalloc(1, sizeof(*j));
	j->s = s;
	snprintf(j->day, sizeof(j->day), "%s", day);
	snprintf(j->domain, sizeof(j->domain), "%s", domain);
	j->now_requested = now_requested;
	j->next = s->jobs;
	s->jobs = j;
	snprintf(name, sizeof(name), "_smtp._tls.%s", domain);
	j->q = res_lookup(s->res, name, 16, txt_answer, j);
	if (j->q == NULL) {
		log_warn("tlsrpt: day=%s domain=%s: TXT lookup could not "
		    "start", day, domain);
		tlsrpt_send_job_check(j);
	}
}

struct domain_list {
	char  **v;
	size_t  n, alloc;
};

static void
domain_cb(void *arg, const char *domain)
{
	struct domain_list *l = arg;

	if (l->n >= SEND_DOMAINS_MAX)
		return;
	if (l->n == l->alloc) {
		l->alloc = l->alloc ? l->alloc * 2 : 16;
		l->v = xrealloc(l->v, l->alloc * sizeof(*l->v));
	}
	l->v[l->n++] = xstrdup(domain);
}

/* Report day for every domain with data. */
static void
run_day(tlsrpt_sender *s, const char *day, int now_requested)
{
	struct domain_list l = { NULL, 0, 0 };
	char err[512];
	tlsrpt_db *db;
	size_t i;

	/* the last results of the day may still wait in the writer */
	if (s->store != NULL)
		tlsrpt_store_flush(s->store);
	db = tlsrpt_db_open(s->db_path, 1, err, sizeof(err));
	if (db == NULL) {
		log_warn("tlsrpt: day=%s: nothing to report: %s", day, err);
		return;
	}
	if (tlsrpt_db_domains(db, day, domain_cb, &l) < 0)
		log_error("tlsrpt: day=%s: cannot list the domains", day);
	tlsrpt_db_close(db);
	log_info("tlsrpt: day=%s: reporting on %zu policy domain%s%s", day,
	    l.n, l.n == 1 ? "" : "s", now_requested ? " (send-now)" : "");
	for (i = 0; i < l.n; i++) {
		job_start(s, day, l.v[i], now_requested);
		free(l.v[i]);
	}
	free(l.v);
}

/* ---- retries ---------------------------------------------------------------- */

struct due_scan {
	tlsrpt_sender *s;
	int64_t  now, earliest;
	int      start;		/* start jobs for what is due */
};

static int
job_running(tlsrpt_sender *s, const char *day, const char *domain)
{
	struct send_job *j;

	for (j = s->jobs; j; j = j->next)
		if (strcmp(j->day, day) == 0 && strcmp(j->domain, domain) == 0)
			return 1;
	return 0;
}

static void
due_cb(void *arg, const struct tlsrpt_sent_entry *e)
{
	struct due_scan *d = arg;

	if (job_running(d->s, e->day, e->domain))
		return;
	if (e->next_try <= d->now && d->start)
		job_start(d->s, e->day, e->domain, 0);
	else if (d->earliest == 0 || e->next_try < d->earliest)
		d->earliest = e->next_try;
}

static void
retry_fired(uv_timer_t *t)
{
	tlsrpt_sender *s = t->data;
	struct due_scan d = { s, util_wall_time(), 0, 1 };

	tlsrpt_sent_due(s->sent, d.now, due_cb, &d);
	arm_retry(s);
}

static void
arm_retry(tlsrpt_sender *s)
{
	struct due_scan d = { s, util_wall_time(), 0, 0 };
	uint64_t ms = SEND_RETRY_MAX_MS;

	tlsrpt_sent_due(s->sent, INT64_MAX, due_cb, &d);
	if (d.earliest != 0) {
		ms = ms_until(d.earliest);
		if (ms < SEND_RETRY_MIN_MS)
			ms = SEND_RETRY_MIN_MS;
		if (ms > SEND_RETRY_MAX_MS)
			ms = SEND_RETRY_MAX_MS;
	}
	uv_timer_start(&s->retry, retry_fired, ms, 0);
}

/* ---- the thread -------------------------------------------------------------- */

static void
sender_thread(void *arg)
{
	tlsrpt_sender *s = arg;

	uv_run(&s->loop, UV_RUN_DEFAULT);
}

static void
sender_free(tlsrpt_sender *s)
{
	tlsrpt_sent_close(s->sent);
	free(s->db_path);
	free(s->maildrop);
	EVP_PKEY_free(s->dkim_key);
	free(s);
}

tlsrpt_sender *
tlsrpt_sender_start(const struct tlsrpt_sender_opts *o, char *err,
    size_t errlen)
{
	const struct sealpost_config *cfg = o->cfg;
	struct tls_http_opts ho;
	tlsrpt_sender *s = xcalloc(1, sizeof(*s));

	s->cfg = cfg;
	s->store = o->store;
	s->dkim_key = o->dkim_key;
	s->wake = o->wake;
	s->wake_arg = o->wake_arg;
	s->db_path = xasprintf("%s/%s", cfg->spool_directory, TLSRPT_DB_FILE);
	s->maildrop = xasprintf("%s/maildrop", cfg->spool_directory);
	s->sent = tlsrpt_sent_open(s->db_path, 0, err, errlen);
	if (s->sent == NULL) {
		sender_free(s);
		return NULL;
	}
	if (uv_loop_init(&s->loop) != 0) {
		snprintf(err, errlen, "cannot create the sender's loop");
		sender_free(s);
		return NULL;
	}
	s->res = res_create(&s->loop, &cfg->resolver, err, errlen);
	memset(&ho, 0, sizeof(ho));
	ho.ca_file = cfg->tls_ca_file;
	if (s->res == NULL ||
	    (s->http = tls_http_create(&s->loop, s->res, &ho, err,
	    errlen)) == NULL) {
		res_free(s->res);
		uv_run(&s->loop, UV_RUN_DEFAULT);
		uv_loop_close(&s->loop);
		sender_free(s);
		return NULL;
	}
	s->chan = util_chan_create(&s->loop);
	uv_timer_init(&s->loop, &s->daily);
	uv_timer_init(&s->loop, &s->retry);
	s->daily.data = s->retry.data = s;
	schedule_first(s);
	/* rows left DUE by the last run (a stop, a failed POST) */
	uv_timer_start(&s->retry, retry_fired, SEND_CATCHUP_MIN_MS, 0);
	if (uv_thread_create(&s->thread, sender_thread, s) != 0) {
		log_fatal("tlsrpt: cannot start the sender thread");
	}
	return s;
}

static void
stop_on_loop(void *arg)
{
	tlsrpt_sender *s = arg;

	s->stopping = 1;
	/* POSTs are cancelled without callbacks: their rows stay DUE */
	tls_http_free(s->http);
	s->http = NULL;
	while (s->jobs != NULL)
		job_free(s->jobs);
	res_free(s->res);
	s->res = NULL;
	uv_timer_stop(&s->daily);
	uv_timer_stop(&s->retry);
	uv_close((uv_handle_t *)&s->daily, NULL);
	uv_close((uv_handle_t *)&s->retry, NULL);
	util_chan_close(s->chan);
}

void
tlsrpt_sender_stop(tlsrpt_sender *s)
{
	if (s == NULL)
		return;
	util_chan_post(s->chan, stop_on_loop, s);
	uv_thread_join(&s->thread);
	if (uv_loop_close(&s->loop) != 0)
		log_panic("tlsrpt: the sender's loop still has handles");
	sender_free(s);
}

struct trigger {
	tlsrpt_sender *s;
	char day[TLSRPT_DAY_LEN];
};

static void
trigger_on_loop(void *arg)
{
	struct trigger *t = arg;

	if (!t->s->stopping)
		run_day(t->s, t->day, 1);
	free(t);
}

int
tlsrpt_sender_trigger(tlsrpt_sender *s, const char *day, char *err,
    size_t errlen)
{
	char today[TLSRPT_DAY_LEN];
	int64_t now = util_wall_time();
	struct trigger *t;

	tlsrpt_day(now, today);
	t = xcalloc(1, sizeof(*t));
	t->s = s;
	if (day == NULL)
		tlsrpt_day(now - SEND_DAY_SECS, t->day);
	else if (tlsrpt_day_valid(day) < 0 || strcmp(day, today) > 0) {
		snprintf(err, errlen, "bad day (YYYY-MM-DD, today or before)");
		free(t);
		return -1;
	} else
		snprintf(t->day, sizeof(t->day), "%s", day);
	util_chan_post(s->chan, trigger_on_loop, t);
	return 0;
}
