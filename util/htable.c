/*
 * htable.c - a chained hash table keyed by strings.
 *
 * The queue manager indexes up to hundreds of thousands of messages by
 * queue ID and its destinations by domain; a plain chained table that
 * doubles when the load factor passes 1 is all that needs.
 */
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct ht_entry {
	struct ht_entry *next;
	uint64_t hash;
	void *value;
	char key[];
};

struct util_htable {
	struct ht_entry **slots;
	size_t nslots;
	size_t count;
};

/* FNV-1a: keys are our own queue IDs and domain names, not attacker-chosen
 * in bulk, so a keyed hash is not needed here. */
static uint64_t
ht_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

util_htable *
util_htable_new(void)
{
	util_htable *t = xcalloc(1, sizeof(*t));

	t->nslots = 64;
	t->slots = xcalloc(t->nslots, sizeof(*t->slots));
	return t;
}

static void
ht_grow(util_htable *t)
{
	size_t nslots = t->nslots * 2, i;
	struct ht_entry **slots = xcalloc(nslots, sizeof(*slots));

	for (i = 0; i < t->nslots; i++) {
		struct ht_entry *e = t->slots[i], *next;

		for (; e; e = next) {
			next = e->next;
			e->next = slots[e->hash & (nslots - 1)];
			slots[e->hash & (nslots - 1)] = e;
		}
	}
	free(t->slots);
	t->slots = slots;
	t->nslots = nslots;
}

static struct ht_entry **
ht_find(const util_htable *t, const char *key, uint64_t h)
{
	struct ht_entry **pp = &t->slots[h & (t->nslots - 1)];

	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->hash == h && strcmp((*pp)->key, key) == 0)
			break;
	return pp;
}

void *
util_htable_get(const util_htable *t, const char *key)
{
	struct ht_entry **pp = ht_find(t, key, ht_hash(key));

	return *pp ? (*pp)->value : NULL;
}

void *
util_htable_put(util_htable *t, const char *key, void *value)
{
	uint64_t h = ht_hash(key);
	struct ht_entry **pp = ht_find(t, key, h), *e;
	size_t klen;

	if (*pp) {
		void *old = (*pp)->value;

		(*pp)->value = value;
		return old;
	}
	klen = strlen(key);
	e = xmalloc(sizeof(*e) + klen + 1);
	memcpy(e->key, key, klen + 1);
	e->hash = h;
	e->value = value;
	e->next = NULL;
	*pp = e;
	if (++t->count > t->nslots)
		ht_grow(t);
	return NULL;
}

void *
util_htable_del(util_htable *t, const char *key)
{
	struct ht_entry **pp = ht_find(t, key, ht_hash(key)), *e = *pp;
	void *v;

	if (e == NULL)
		return NULL;
	*pp = e->next;
	v = e->value;
	free(e);
	t->count--;
	return v;
}

size_t
util_htable_count(const util_htable *t)
{
	return t->count;
}

void
util_htable_walk(const util_htable *t,
    void (*fn)(const char *key, void *value, void *arg), void *arg)
{
	size_t i;
	struct ht_entry *e;

	for (i = 0; i < t->nslots; i++)
		for (e = t->slots[i]; e; e = e->next)
			fn(e->key, e->value, arg);
}

void
util_htable_free(util_htable *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->nslots; i++) {
		struct ht_entry *e = t->slots[i], *next;

		for (; e; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(t->slots);
	free(t);
}
