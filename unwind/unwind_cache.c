#include "unwind/unwind_cache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/u64map.h"
#include "unwind/unwind_table.h"

struct cache_entry {
	struct cache_entry *prev, *next; /* LRU list, most recent first */
	uint64_t hash;
	struct unwind_table *table;
	size_t bytes;
	char build_id[];
};

struct unwind_cache {
	struct u64map by_hash; /* FNV-1a of the build id -> entry */
	struct cache_entry *head, *tail;
	size_t bytes, max_bytes, tables;
	uint32_t next_id;
	uint64_t hits, misses, evictions;
	unwind_evict_fn on_evict;
	void *on_evict_ctx;
};

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	while (*s)
		h = (h ^ (uint8_t)*s++) * 0x100000001b3ull;
	return h;
}

int unwind_cache__new(size_t max_bytes, struct unwind_cache **out)
{
	struct unwind_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->max_bytes = max_bytes;
	c->next_id = 1; /* 0: not cached */
	*out = c;
	return 0;
}

static void lru_unlink(struct unwind_cache *c, struct cache_entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_push_front(struct unwind_cache *c, struct cache_entry *e)
{
	e->prev = NULL;
	e->next = c->head;
	if (c->head)
		c->head->prev = e;
	c->head = e;
	if (!c->tail)
		c->tail = e;
}

static void entry_free(struct cache_entry *e)
{
	unwind_table__free(e->table);
	free(e);
}

void unwind_cache__free(struct unwind_cache *c)
{
	if (!c)
		return;
	for (struct cache_entry *e = c->head, *next; e; e = next) {
		next = e->next;
		entry_free(e);
	}
	u64map_release(&c->by_hash);
	free(c);
}

static struct cache_entry *cache_find(const struct unwind_cache *c,
				      const char *build_id, uint64_t hash)
{
	uint64_t v;
	struct cache_entry *e;

	if (!u64map_get(&c->by_hash, hash, &v))
		return NULL;
	e = (struct cache_entry *)(uintptr_t)v;
	return strcmp(e->build_id, build_id) == 0 ? e : NULL;
}

const struct unwind_table *unwind_cache__get(struct unwind_cache *c,
					     const char *build_id)
{
	struct cache_entry *e = cache_find(c, build_id, fnv1a(build_id));

	if (!e) {
		c->misses++;
		return NULL;
	}
	c->hits++;
	lru_unlink(c, e);
	lru_push_front(c, e);
	return e->table;
}

static void evict_tail(struct unwind_cache *c)
{
	struct cache_entry *e = c->tail;

	lru_unlink(c, e);
	u64map_del(&c->by_hash, e->hash);
	c->bytes -= e->bytes;
	c->tables--;
	c->evictions++;
	if (c->on_evict)
		c->on_evict(e->table, c->on_evict_ctx);
	entry_free(e);
}

int unwind_cache__put(struct unwind_cache *c, const char *build_id,
		      struct unwind_table *table)
{
	size_t bytes = unwind_table__bytes(table);
	uint64_t hash = fnv1a(build_id);
	struct cache_entry *e;
	int err;

	if (bytes > c->max_bytes) {
		unwind_table__free(table);
		return -E2BIG;
	}
	/* the same hash under another build id (2^-64) is refused too */
	if (u64map_get(&c->by_hash, hash, &(uint64_t){ 0 })) {
		unwind_table__free(table);
		return -EEXIST;
	}
	e = calloc(1, sizeof(*e) + strlen(build_id) + 1);
	if (!e) {
		unwind_table__free(table);
		return -ENOMEM;
	}
	strcpy(e->build_id, build_id);
	e->hash = hash;
	e->table = table;
	e->bytes = bytes;
	err = u64map_set(&c->by_hash, hash, (uint64_t)(uintptr_t)e);
	if (err) {
		entry_free(e);
		return err;
	}
	/* least recently used first, only as many as needed */
	while (c->bytes + bytes > c->max_bytes && c->tail)
		evict_tail(c);
	table->table_id = c->next_id++;
	if (c->next_id == 0)
		c->next_id = 1;
	lru_push_front(c, e);
	c->bytes += bytes;
	c->tables++;
	return 0;
}

void unwind_cache__set_on_evict(struct unwind_cache *c, unwind_evict_fn fn, void *ctx)
{
	c->on_evict = fn;
	c->on_evict_ctx = ctx;
}

void unwind_cache__stats(const struct unwind_cache *c, struct unwind_cache_stats *s)
{
	*s = (struct unwind_cache_stats){
		.tables = c->tables,
		.bytes = c->bytes,
		.max_bytes = c->max_bytes,
		.hits = c->hits,
		.misses = c->misses,
		.evictions = c->evictions,
	};
}
