/*
 * fuzz_common.h - small helpers shared by the libFuzzer targets.
 *
 * Each target is one fuzz_<name>.c with LLVMFuzzerTestOneInput; build.sh
 * links it against the project's own sources (clang, ASan, UBSan, no
 * recovery).  Besides "does not crash, does not leak", a target checks
 * the promises the parser's header makes (output bounded and
 * terminated, results in range, round trips stable) with FUZZ_CHECK,
 * which aborts so libFuzzer records the input as a crash.
 */
#ifndef SEALPOST_FUZZ_COMMON_H
#define SEALPOST_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * A broken promise: say which, then abort (libFuzzer saves the input).
 * The message goes through the sanitizer's report channel, which still
 * reaches the terminal when run.sh discards the target's own stderr
 * (-close_fd_mask=2), as the line "fuzz check failed: ...".
 */
void __sanitizer_report_error_summary(const char *error_summary);

#define FUZZ_CHECK(cond) do { if (!(cond)) \
	fuzz_check_failed(#cond, __FILE__, __LINE__); } while (0)

static inline void __attribute__((noreturn))
fuzz_check_failed(const char *what, const char *file, int line)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "fuzz check failed: %s at %s:%d",
	    what, file, line);
	__sanitizer_report_error_summary(msg);
	abort();
}

/* NUL-terminated heap copy of data[0..n) (embedded NULs stay; C-string
 * parsers then see a prefix, which is what a caller would hand them). */
static inline char *
fuzz_strndup(const uint8_t *data, size_t n)
{
	char *s = malloc(n + 1);

	if (s == NULL)
		abort();
	if (n > 0)
		memcpy(s, data, n);
	s[n] = '\0';
	return s;
}

/* 1 if s[0..outsize) holds a NUL, i.e. the output was terminated. */
static inline int
fuzz_terminated(const char *s, size_t outsize)
{
	return memchr(s, '\0', outsize) != NULL;
}

#endif
