/*
 * log.c - one line per event, to stderr or syslog.
 *
 * Lines are formatted into a local buffer and written with a single
 * write(2) so that threads never interleave inside a line.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define LOG_LINE_MAX 4096

static const char *log_ident = "sealpost";
static int log_to_syslog;

static const char *const level_names[] = {
	"info", "warning", "error", "fatal", "panic"
};
static const int level_prio[] = {
	LOG_INFO, LOG_WARNING, LOG_ERR, LOG_CRIT, LOG_CRIT
};

void
util_log_open(const char *ident, int use_syslog)
{
	log_ident = ident;
	log_to_syslog = use_syslog;
	if (use_syslog)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void
util_vlog(enum util_log_level lvl, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX];
	size_t off = 0;
	int n, saved = errno;

	if (log_to_syslog) {
		vsnprintf(line, sizeof(line), fmt, ap);
		if (lvl == UTIL_LOG_INFO)
			syslog(level_prio[lvl], "%s", line);
		else
			syslog(level_prio[lvl], "%s: %s", level_names[lvl], line);
		errno = saved;
		return;
	}
	{
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		off = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
		n = snprintf(line + off, sizeof(line) - off, ".%03ldZ %s[%d]: ",
		    ts.tv_nsec / 1000000, log_ident, (int)getpid());
		off += (n > 0) ? (size_t)n : 0;
	}
	if (lvl != UTIL_LOG_INFO) {
		n = snprintf(line + off, sizeof(line) - off, "%s: ",
		    level_names[lvl]);
		off += (n > 0) ? (size_t)n : 0;
	}
	if (off < sizeof(line)) {
		n = vsnprintf(line + off, sizeof(line) - off, fmt, ap);
		if (n > 0)
			off += (size_t)n;
	}
	if (off >= sizeof(line) - 1)
		off = sizeof(line) - 2;
	line[off++] = '\n';
	/* A short write to stderr is not worth retrying in a log path. */
	if (write(STDERR_FILENO, line, off) < 0)
		(void)0;
	errno = saved;
}

void
util_log(enum util_log_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	util_vlog(lvl, fmt, ap);
	va_end(ap);
}

void
log_fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	util_vlog(UTIL_LOG_FATAL, fmt, ap);
	va_end(ap);
	exit(1);
}

void
log_panic(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	util_vlog(UTIL_LOG_PANIC, fmt, ap);
	va_end(ap);
	abort();
}

char *
util_printable(const char *in, size_t inlen, char *out, size_t outlen)
{
	size_t i, o = 0;

	if (outlen == 0)
		return out;
	for (i = 0; i < inlen && o + 1 < outlen; i++) {
		unsigned char c = (unsigned char)in[i];
		out[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	if (i < inlen && outlen > 4) {
		o = (o > outlen - 4) ? outlen - 4 : o;
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}
