/*
 * util.h - small shared helpers: logging, allocation, bounded buffers,
 * range-checked number parsing, clocks and a cross-thread call channel.
 *
 * Everything here is deliberately tiny; modules with real logic live in
 * their own folders.  Allocation wrappers never return NULL: running out
 * of memory is logged and the process exits, as in Postfix's mymalloc.
 */
#ifndef SEALPOST_UTIL_H
#define SEALPOST_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

/* ---- logging ---------------------------------------------------------- */

enum util_log_level {
	UTIL_LOG_INFO,
	UTIL_LOG_WARN,		/* peer or input problem */
	UTIL_LOG_ERROR,		/* our operation failed, we carry on */
	UTIL_LOG_FATAL,		/* environment/config: log and exit(1) */
	UTIL_LOG_PANIC		/* broken invariant: log and abort() */
};

/* Route log lines to stderr (default) or syslog(3) with the given ident. */
void util_log_open(const char *ident, int use_syslog);
/* Each call writes exactly one line; thread safe. */
void util_log(enum util_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void util_vlog(enum util_log_level lvl, const char *fmt, va_list ap);

#define log_info(...)  util_log(UTIL_LOG_INFO, __VA_ARGS__)
#define log_warn(...)  util_log(UTIL_LOG_WARN, __VA_ARGS__)
#define log_error(...) util_log(UTIL_LOG_ERROR, __VA_ARGS__)
void log_fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
void log_panic(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

/* Invariant check that stays on in release builds. */
#define UTIL_ASSERT(cond) do { if (!(cond)) \
	log_panic("assertion failed: %s at %s:%d", #cond, __FILE__, __LINE__); \
} while (0)

/*
 * Copy peer-supplied text into out (size outlen, always NUL terminated)
 * replacing non-printable bytes with '?' and truncating with "..." so a
 * hostile peer cannot inject log lines or flood the log.  Returns out.
 */
char *util_printable(const char *in, size_t inlen, char *out, size_t outlen);

/* ---- allocation -------------------------------------------------------- */

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);		/* NULL in, NULL out */
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- bounded growable buffer (curl's dynbuf is the model) ------------- */

struct dynbuf {
	char   *p;		/* always NUL terminated when non-NULL */
	size_t  len;
	size_t  cap;
	size_t  max;		/* hard limit on len, fixed at init */
};

void dynbuf_init(struct dynbuf *b, size_t max);
/* Append; -1 (buffer unchanged) when the result would exceed max. */
int  dynbuf_add(struct dynbuf *b, const void *data, size_t n);
int  dynbuf_addstr(struct dynbuf *b, const char *s);
int  dynbuf_addf(struct dynbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void dynbuf_reset(struct dynbuf *b);	/* len = 0, keeps memory */
/* Hand the buffer over to the caller (never NULL); b becomes empty. */
char *dynbuf_take(struct dynbuf *b, size_t *len);
void dynbuf_free(struct dynbuf *b);

/* ---- parsing ------------------------------------------------------------ */

/*
 * Parse exactly len bytes of s as a decimal unsigned number <= max.
 * No sign, no spaces, no empty string.  Returns 0 and sets *out, or -1.
 */
int util_parse_uint(const char *s, size_t len, uint64_t max, uint64_t *out);
/*
 * Parse a duration such as "30", "30s", "5m", "2h", "5d", "1w" into seconds
 * (<= max).  A bare number means seconds.  Returns 0 or -1.
 */
int util_parse_duration(const char *s, uint64_t max, uint64_t *out);
/* ASCII-only case-insensitive compare helpers that ignore the locale. */
int util_strcasecmp(const char *a, const char *b);
int util_strncasecmp(const char *a, const char *b, size_t n);

/* ---- clocks ------------------------------------------------------------- */

uint64_t util_now_ms(void);		/* monotonic milliseconds */
int64_t  util_wall_time(void);		/* seconds since the epoch */
/* RFC 5322 date-time for a wall clock time, e.g. for Date: headers. */
void util_rfc5322_date(int64_t t, char *out, size_t outlen);

/* ---- cross-thread calls ------------------------------------------------- */

/*
 * A util_chan runs posted functions on the loop that created it.  Any
 * thread may post; fn(arg) later runs on the owner loop's thread, in
 * posting order.  This is the only way work crosses threads in sealpost.
 */
typedef struct util_chan util_chan;
util_chan *util_chan_create(uv_loop_t *loop);
void util_chan_post(util_chan *c, void (*fn)(void *), void *arg);
/* On the owner thread: run what is queued now, without waiting for the
 * loop (used during shutdown). */
void util_chan_drain(util_chan *c);
/* On the owner thread: runs what is still queued, then closes the handle;
 * the struct is freed in the close callback. */
void util_chan_close(util_chan *c);

/* ---- string-keyed hash table ------------------------------------------ */

/*
 * Keys are copied; values are the caller's.  Iteration order is
 * unspecified.  Not thread safe: each table belongs to one loop.
 */
typedef struct util_htable util_htable;
util_htable *util_htable_new(void);
void *util_htable_get(const util_htable *t, const char *key);
/* Insert or replace; returns the previous value or NULL. */
void *util_htable_put(util_htable *t, const char *key, void *value);
/* Remove; returns the value or NULL. */
void *util_htable_del(util_htable *t, const char *key);
size_t util_htable_count(const util_htable *t);
/* Calls fn for every entry; fn must not change the table. */
void util_htable_walk(const util_htable *t,
    void (*fn)(const char *key, void *value, void *arg), void *arg);
void util_htable_free(util_htable *t);	/* values are not freed */

/* ---- files -------------------------------------------------------------- */

/* fsync a directory so a rename/creat/unlink inside it is durable. */
int util_fsync_dir(const char *path);
/* mkdir -p with mode; 0 or -1 (errno set). */
int util_mkdir_p(const char *path, mode_t mode);

#endif
