#include "unwind/unwind_table.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/macros.h"
#include "common/u64map.h"

/* ---- rules ------------------------------------------------------------ */

struct unwind_rules {
	struct unwind_rule *rules;
	size_t count, cap;
	struct u64map ids; /* packed rule -> id */
};

/* Every field of a rule in 64 bits: kinds, threshold and reason are
 * below 16 (checked by the caller), offsets keep their two's-complement bits. */
static uint64_t rule_key(const struct unwind_rule *r)
{
	return (uint64_t)(r->cfa_kind & 0xf) | (uint64_t)(r->plt_threshold & 0xf) << 4 |
	       (uint64_t)(r->rbp_kind & 0xf) << 8 | (uint64_t)(r->reason & 0xf) << 12 |
	       (uint64_t)(uint16_t)r->rbp_offset << 16 |
	       (uint64_t)(uint32_t)r->cfa_offset << 32;
}

static int rules_append(struct unwind_rules *r, const struct unwind_rule *rule)
{
	if (r->count == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 256;
		struct unwind_rule *p = realloc(r->rules, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		r->rules = p;
		r->cap = cap;
	}
	r->rules[r->count] = *rule;
	return u64map_set(&r->ids, rule_key(rule), r->count++);
}

int unwind_rules__new(struct unwind_rules **out)
{
	struct unwind_rules *r = calloc(1, sizeof(*r));
	const struct unwind_rule none = { 0 };
	const struct unwind_rule full = { .cfa_kind = UNWIND_CFA_UNSUPPORTED,
					  .reason = UNWIND_REASON_RULES_FULL };

	if (!r)
		return -ENOMEM;
	/* fixed ids: UNWIND_RULE_NONE, UNWIND_RULE_FULL */
	if (rules_append(r, &none) || rules_append(r, &full)) {
		unwind_rules__free(r);
		return -ENOMEM;
	}
	*out = r;
	return 0;
}

void unwind_rules__free(struct unwind_rules *r)
{
	if (!r)
		return;
	free(r->rules);
	u64map_release(&r->ids);
	free(r);
}

uint16_t unwind_rules__intern(struct unwind_rules *r, const struct unwind_rule *rule)
{
	struct unwind_rule clean = *rule;
	uint64_t id;

	memset(clean.pad, 0, sizeof(clean.pad));
	if (clean.cfa_kind > 0xf || clean.plt_threshold > 0xf ||
	    clean.rbp_kind > 0xf || clean.reason > 0xf)
		return UNWIND_RULE_FULL; /* not a rule cfi_rows makes */
	if (u64map_get(&r->ids, rule_key(&clean), &id))
		return (uint16_t)id;
	if (r->count >= UNWIND_RULES_MAX || rules_append(r, &clean) != 0)
		return UNWIND_RULE_FULL;
	return (uint16_t)(r->count - 1);
}

const struct unwind_rule *unwind_rules__get(const struct unwind_rules *r, uint16_t id)
{
	return id < r->count ? &r->rules[id] : NULL;
}

size_t unwind_rules__count(const struct unwind_rules *r)
{
	return r->count;
}

size_t unwind_rules__bytes(const struct unwind_rules *r)
{
	return r->count * sizeof(struct unwind_rule);
}

/* ---- tables ----------------------------------------------------------- */

/* Largest i with a[i] <= key in a sorted array of 1 << log2 entries,
 * -1 if a[0] > key. The BPF unwinder runs this very loop: a fixed number
 * of steps, every index provably below the array size. */
static int search_le(const uint32_t *a, unsigned log2, uint32_t key)
{
	uint32_t idx = 0;

	if (a[0] > key)
		return -1;
	for (uint32_t step = 1u << log2 >> 1; step; step >>= 1)
		if (a[idx + step] <= key)
			idx += step;
	return (int)idx;
}

uint16_t unwind_table__lookup(const struct unwind_table *t, uint64_t vaddr)
{
	const struct unwind_chunk *chunk;
	uint32_t key, chunk_no;
	int i, j;

	if (vaddr < t->info.base_vaddr || vaddr - t->info.base_vaddr >= UNWIND_PC_PAD)
		return UNWIND_RULE_NONE;
	key = (uint32_t)(vaddr - t->info.base_vaddr);
	i = search_le(t->info.first_pc, UNWIND_INLINE_INDEX_LOG2, key);
	if (i < 0)
		return UNWIND_RULE_NONE;
	chunk_no = (uint32_t)i;
	if (t->info.index_pages) {
		/* BPF: index page = lookup(index map, {table_id, i}) */
		if ((uint32_t)i >= t->info.index_pages)
			return UNWIND_RULE_NONE;
		j = search_le(t->index_pages[i].first_pc, UNWIND_INDEX_PAGE_LOG2, key);
		if (j < 0)
			return UNWIND_RULE_NONE;
		chunk_no = (uint32_t)i * UNWIND_INDEX_PAGE_ENTRIES + (uint32_t)j;
	}
	/* BPF: chunk = lookup(chunk map, {table_id, chunk_no}) */
	if (chunk_no >= t->info.chunk_count)
		return UNWIND_RULE_NONE;
	chunk = &t->chunks[chunk_no];
	j = search_le(chunk->pc, UNWIND_CHUNK_ROWS_LOG2, key);
	return j < 0 ? UNWIND_RULE_NONE : chunk->rule[j];
}

size_t unwind_table__bytes(const struct unwind_table *t)
{
	return sizeof(t->info) + t->info.index_pages * sizeof(*t->index_pages) +
	       t->info.chunk_count * sizeof(*t->chunks);
}

int unwind_table__remap_rules(struct unwind_table *t, const uint16_t *map, size_t n)
{
	for (uint32_t c = 0; t->chunks && c < t->info.chunk_count; c++) {
		struct unwind_chunk *chunk = &t->chunks[c];

		for (size_t k = 0; k < UNWIND_CHUNK_ROWS; k++) {
			if (chunk->pc[k] == UNWIND_PC_PAD)
				break;
			if (chunk->rule[k] >= n)
				return -EINVAL;
			chunk->rule[k] = map[chunk->rule[k]];
		}
	}
	return 0;
}

void unwind_table__release_rows(struct unwind_table *t)
{
	if (!t)
		return;
	free(t->index_pages);
	free(t->chunks);
	t->index_pages = NULL;
	t->chunks = NULL;
}

void unwind_table__free(struct unwind_table *t)
{
	if (!t)
		return;
	free(t->index_pages);
	free(t->chunks);
	free(t);
}

DEFINE_CLEANUP(struct unwind_table, unwind_table__free)

int unwind_table__build(const struct cfi_rows *rows, struct unwind_rules *rules,
			struct unwind_table **out)
{
	_cleanup_(cleanup_unwind_table__free) struct unwind_table *t = NULL;
	_cleanup_free_ uint32_t *pcs = NULL;
	_cleanup_free_ uint16_t *ids = NULL;
	uint64_t base = rows->exec_lo;
	size_t n = 0, chunks;

	*out = NULL;
	pcs = malloc((rows->count ? rows->count : 1) * sizeof(*pcs));
	ids = malloc((rows->count ? rows->count : 1) * sizeof(*ids));
	if (!pcs || !ids)
		return -ENOMEM;
	/* merge runs of the same rule; offsets from the lowest exec vaddr */
	for (size_t i = 0; i < rows->count; i++) {
		const struct cfi_row *row = &rows->rows[i];
		uint16_t id;

		if (row->pc < base || row->pc - base >= UNWIND_PC_PAD)
			return -E2BIG;
		if (i && row->pc <= rows->rows[i - 1].pc)
			return -EINVAL;
		id = unwind_rules__intern(rules, &row->rule);
		if (n && ids[n - 1] == id)
			continue;
		pcs[n] = (uint32_t)(row->pc - base);
		ids[n++] = id;
	}
	if (n > UNWIND_TABLE_ROWS_MAX)
		return -E2BIG;

	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	chunks = (n + UNWIND_CHUNK_ROWS - 1) / UNWIND_CHUNK_ROWS;
	t->row_count = (uint32_t)n;
	t->info.base_vaddr = base;
	t->info.chunk_count = (uint32_t)chunks;
	t->chunks = calloc(chunks ? chunks : 1, sizeof(*t->chunks));
	if (!t->chunks)
		return -ENOMEM;
	for (size_t c = 0; c < chunks; c++) {
		struct unwind_chunk *chunk = &t->chunks[c];
		size_t first = c * UNWIND_CHUNK_ROWS;
		size_t len = MIN((size_t)UNWIND_CHUNK_ROWS, n - first);

		memcpy(chunk->pc, pcs + first, len * sizeof(*pcs));
		memcpy(chunk->rule, ids + first, len * sizeof(*ids));
		for (size_t k = len; k < UNWIND_CHUNK_ROWS; k++)
			chunk->pc[k] = UNWIND_PC_PAD;
	}

	for (size_t k = 0; k < UNWIND_INLINE_INDEX; k++)
		t->info.first_pc[k] = UNWIND_PC_PAD;
	if (chunks <= UNWIND_INLINE_INDEX) {
		for (size_t c = 0; c < chunks; c++)
			t->info.first_pc[c] = t->chunks[c].pc[0];
	} else {
		size_t pages = (chunks + UNWIND_INDEX_PAGE_ENTRIES - 1) /
			       UNWIND_INDEX_PAGE_ENTRIES;

		t->index_pages = calloc(pages, sizeof(*t->index_pages));
		if (!t->index_pages)
			return -ENOMEM;
		t->info.index_pages = (uint32_t)pages;
		for (size_t p = 0; p < pages; p++) {
			struct unwind_index_page *page = &t->index_pages[p];

			for (size_t e = 0; e < UNWIND_INDEX_PAGE_ENTRIES; e++) {
				size_t c = p * UNWIND_INDEX_PAGE_ENTRIES + e;

				page->first_pc[e] = c < chunks ? t->chunks[c].pc[0]
							       : UNWIND_PC_PAD;
			}
			t->info.first_pc[p] = page->first_pc[0];
		}
	}
	*out = TAKE_PTR(t);
	return 0;
}

/* ---- cache ------------------------------------------------------------ */

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
