/*
 * queue_id.c - queue IDs: 16 characters of [0-9A-Z], time ordered, unique
 * across the processes that share one spool.
 *
 * Layout (80 bits, written as 16 base-32 digits "0-9A-V", most significant
 * first, so string order is numeric order):
 *
 *   55 bits  microseconds since the epoch (good until the year ~3100)
 *   22 bits  process ID (Linux pid_max is at most 2^22)
 *    3 bits  random
 *
 * Inside one process the timestamp part is forced to increase strictly
 * (a compare-and-swap on the last value used), so two IDs from the same
 * process never collide even within one microsecond or when the clock
 * steps back; the timestamp then runs a little ahead of the clock, which
 * keeps the order.  Two processes at the same instant differ in the pid
 * part.  The random bits only make a collision between PID namespaces
 * sharing a spool, or a recycled pid, less likely still; the store's
 * primary key is the final guard (a duplicate insert is refused).
 */
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>
#include <unistd.h>

#include "queue.h"

#define QUEUE_ID_TIME_DIGITS	11	/* 55 bits of microseconds */
#define QUEUE_ID_PID_BITS	22
#define QUEUE_ID_RAND_BITS	3

static const char queue_id_digits[] = "0123456789ABCDEFGHIJKLMNOPQRSTUV";

static _Atomic uint64_t queue_id_last_us;

/* Next strictly increasing microsecond stamp for this process. */
static uint64_t
queue_id_stamp(void)
{
	struct timeval tv;
	uint64_t now, last, next;

	gettimeofday(&tv, NULL);
	now = (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
	last = atomic_load(&queue_id_last_us);
	do {
		next = now > last ? now : last + 1;
	} while (!atomic_compare_exchange_weak(&queue_id_last_us, &last, next));
	return next;
}

static unsigned
queue_id_random_bits(void)
{
	unsigned char b = 0;

	/* Best effort: on failure the pid part alone still separates
	 * concurrent processes. */
	if (getrandom(&b, 1, GRND_NONBLOCK) != 1)
		b = 0;
	return b & ((1u << QUEUE_ID_RAND_BITS) - 1);
}

void
queue_id_new(char out[QUEUE_ID_LEN + 1])
{
	uint64_t us = queue_id_stamp();
	unsigned tail;
	int i;

	tail = ((unsigned)getpid() & ((1u << QUEUE_ID_PID_BITS) - 1))
	    << QUEUE_ID_RAND_BITS;
	tail |= queue_id_random_bits();
	/* tail is 25 bits = 5 digits */
	for (i = QUEUE_ID_LEN - 1; i >= QUEUE_ID_TIME_DIGITS; i--) {
		out[i] = queue_id_digits[tail & 31];
		tail >>= 5;
	}
	for (i = QUEUE_ID_TIME_DIGITS - 1; i >= 0; i--) {
		out[i] = queue_id_digits[us & 31];
		us >>= 5;
	}
	out[QUEUE_ID_LEN] = '\0';
}

int
queue_id_valid(const char *s)
{
	size_t i;

	if (s == NULL)
		return -1;
	for (i = 0; i < QUEUE_ID_LEN; i++) {
		char c = s[i];

		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z')))
			return -1;	/* also stops at a short string's NUL */
	}
	return s[QUEUE_ID_LEN] == '\0' ? 0 : -1;
}
