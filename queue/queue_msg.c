/*
 * queue_msg.c - the in-memory message: envelope, recipients and body.
 *
 * A struct queue_msg owns every string it points at; one queue_msg_free
 * releases the lot, so a message is always freed as a unit.  Recipients
 * live in one array that grows geometrically (rcpt_alloc tracks its
 * size); callers must not keep
 * struct queue_rcpt pointers across queue_msg_add_rcpt (the array may
 * move) - keep indexes instead, as the store does.
 */
#include <stdlib.h>
#include <string.h>

#include "queue.h"

struct queue_msg *
queue_msg_new(void)
{
	struct queue_msg *m = xcalloc(1, sizeof(*m));

	m->sender = xstrdup("");
	m->ret = QUEUE_RET_DEFAULT;
	return m;
}

struct queue_rcpt *
queue_msg_add_rcpt(struct queue_msg *m, const char *addr, const char *orcpt,
    unsigned notify)
{
	struct queue_rcpt *r;

	UTIL_ASSERT(m != NULL && addr != NULL);
	/* rcpt_alloc may be 0 for a message whose array someone else
	 * allocated; growing then is still correct, merely early. */
	if (m->nrcpt >= m->rcpt_alloc) {
		size_t ncap = m->nrcpt < 2 ? 4 : m->nrcpt * 2;

		m->rcpt = xrealloc(m->rcpt, ncap * sizeof(*m->rcpt));
		m->rcpt_alloc = ncap;
	}
	r = &m->rcpt[m->nrcpt++];
	memset(r, 0, sizeof(*r));
	r->addr = xstrdup(addr);
	r->orcpt = xstrdup(orcpt);
	r->notify = notify;
	r->state = QUEUE_RCPT_PENDING;
	return r;
}

static void
rcpt_copy(struct queue_rcpt *dst, const struct queue_rcpt *src)
{
	*dst = *src;
	dst->addr = xstrdup(src->addr);
	dst->orcpt = xstrdup(src->orcpt);
	dst->status = xstrdup(src->status);
	dst->reply = xstrdup(src->reply);
	dst->relay = xstrdup(src->relay);
	dst->tls = xstrdup(src->tls);
}

struct queue_msg *
queue_msg_dup_envelope(const struct queue_msg *m)
{
	struct queue_msg *d;
	size_t i;

	if (m == NULL)
		return NULL;
	d = xcalloc(1, sizeof(*d));
	memcpy(d->qid, m->qid, sizeof(d->qid));
	d->sender = xstrdup(m->sender ? m->sender : "");
	d->arrival = m->arrival;
	d->envid = xstrdup(m->envid);
	d->ret = m->ret;
	d->flags = m->flags;
	d->size = m->size;
	d->nrcpt = m->nrcpt;
	if (m->nrcpt > 0) {
		d->rcpt = xcalloc(m->nrcpt, sizeof(*d->rcpt));
		d->rcpt_alloc = m->nrcpt;
		for (i = 0; i < m->nrcpt; i++)
			rcpt_copy(&d->rcpt[i], &m->rcpt[i]);
	}
	d->body = NULL;
	d->body_len = 0;
	return d;
}

static void
rcpt_clear(struct queue_rcpt *r)
{
	free(r->addr);
	free(r->orcpt);
	free(r->status);
	free(r->reply);
	free(r->relay);
	free(r->tls);
}

void
queue_msg_free(struct queue_msg *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->nrcpt; i++)
		rcpt_clear(&m->rcpt[i]);
	free(m->rcpt);
	free(m->sender);
	free(m->envid);
	free(m->body);
	free(m);
}

/* Replace *slot with a copy of val; strdup first so val may alias *slot. */
static void
set_str(char **slot, const char *val)
{
	char *copy = xstrdup(val);

	free(*slot);
	*slot = copy;
}

void
queue_rcpt_set_status(struct queue_rcpt *r, const char *status,
    const char *reply, const char *relay, const char *tls)
{
	UTIL_ASSERT(r != NULL);
	set_str(&r->status, status);
	set_str(&r->reply, reply);
	set_str(&r->relay, relay);
	set_str(&r->tls, tls);
}
