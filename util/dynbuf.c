/*
 * dynbuf.c - growable buffers with a hard upper bound fixed at creation.
 *
 * Every buffer that holds untrusted bytes names its limit up front, so an
 * attacker can make us allocate at most that much (curl's dynbuf idea).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define DYNBUF_MIN_CAP 64

void
dynbuf_init(struct dynbuf *b, size_t max)
{
	b->p = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

static int
dynbuf_reserve(struct dynbuf *b, size_t extra)
{
	size_t need, ncap;

	if (extra > b->max || b->len > b->max - extra)
		return -1;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	ncap = b->cap ? b->cap : DYNBUF_MIN_CAP;
	while (ncap < need)
		ncap = (ncap > ((size_t)-1) / 2) ? need : ncap * 2;
	if (ncap > b->max + 1)
		ncap = b->max + 1;
	b->p = xrealloc(b->p, ncap);
	b->cap = ncap;
	return 0;
}

int
dynbuf_add(struct dynbuf *b, const void *data, size_t n)
{
	if (dynbuf_reserve(b, n) < 0)
		return -1;
	if (n)
		memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

int
dynbuf_addstr(struct dynbuf *b, const char *s)
{
	return dynbuf_add(b, s, strlen(s));
}

int
dynbuf_addf(struct dynbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || dynbuf_reserve(b, (size_t)n) < 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void
dynbuf_reset(struct dynbuf *b)
{
	b->len = 0;
	if (b->p)
		b->p[0] = '\0';
}

char *
dynbuf_take(struct dynbuf *b, size_t *len)
{
	char *p = b->p ? b->p : xstrdup("");

	if (len)
		*len = b->len;
	b->p = NULL;
	b->len = b->cap = 0;
	return p;
}

void
dynbuf_free(struct dynbuf *b)
{
	if (b == NULL)
		return;
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}
