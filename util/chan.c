/*
 * chan.c - run a function on another thread's libuv loop.
 *
 * Threads in sealpost share nothing but these channels: a poster appends
 * (fn, arg) under a mutex and wakes the owner with uv_async_send; the
 * owner drains the whole list in one go.  uv_async_send coalesces wakeups,
 * so a burst of posts costs one loop iteration.
 */
#include <stdlib.h>

#include "util.h"

struct chan_item {
	struct chan_item *next;
	void (*fn)(void *);
	void *arg;
};

struct util_chan {
	uv_async_t async;
	uv_mutex_t lock;
	struct chan_item *head, *tail;
};

static void
chan_drain(uv_async_t *h)
{
	util_chan *c = h->data;
	struct chan_item *it, *next;

	uv_mutex_lock(&c->lock);
	it = c->head;
	c->head = c->tail = NULL;
	uv_mutex_unlock(&c->lock);
	for (; it; it = next) {
		next = it->next;
		it->fn(it->arg);
		free(it);
	}
}

util_chan *
util_chan_create(uv_loop_t *loop)
{
	util_chan *c = xcalloc(1, sizeof(*c));

	if (uv_mutex_init(&c->lock) != 0)
		log_fatal("uv_mutex_init failed");
	if (uv_async_init(loop, &c->async, chan_drain) != 0)
		log_fatal("uv_async_init failed");
	c->async.data = c;
	return c;
}

void
util_chan_post(util_chan *c, void (*fn)(void *), void *arg)
{
	struct chan_item *it = xmalloc(sizeof(*it));

	it->next = NULL;
	it->fn = fn;
	it->arg = arg;
	uv_mutex_lock(&c->lock);
	if (c->tail)
		c->tail->next = it;
	else
		c->head = it;
	c->tail = it;
	uv_mutex_unlock(&c->lock);
	uv_async_send(&c->async);
}

static void
chan_closed(uv_handle_t *h)
{
	util_chan *c = h->data;

	uv_mutex_destroy(&c->lock);
	free(c);
}

void
util_chan_drain(util_chan *c)
{
	chan_drain(&c->async);
}

void
util_chan_close(util_chan *c)
{
	if (c == NULL)
		return;
	chan_drain(&c->async);
	uv_close((uv_handle_t *)&c->async, chan_closed);
}
