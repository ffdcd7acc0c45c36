/* unwind_cache: a bounded LRU cache of unwind tables (unwind_table.h)
 * keyed by build id, which hands out the table ids the BPF maps are keyed
 * by and tells its owner which tables it evicts.
 *
 * The bound is in the kernel bytes unwind_table__bytes counts; the shared
 * rule table (unwind_rules.h) is not part of it.
 *
 * API:
 *   unwind_cache__new(max_bytes, &c)     0 or -ENOMEM
 *   unwind_cache__free(cache)            frees every table (no callback)
 *   unwind_cache__get(cache, build_id)   the cached table (most recently
 *        used from now on) or NULL; valid until evicted or freed
 *   unwind_cache__put(cache, build_id, table)  takes ownership of table
 *        in every case; assigns table->table_id; evicts least recently
 *        used tables (calling on_evict for each) until it fits; 0,
 *        -E2BIG (the table alone exceeds max_bytes: freed, not cached),
 *        -EEXIST (build id already cached: table freed), -ENOMEM
 *   unwind_cache__set_on_evict(cache, fn, ctx)  fn(table, ctx) before a
 *        table is freed by eviction: the agent deletes its map entries
 *   unwind_cache__stats(cache, &stats)
 *
 * The cache key is the build id in hex; objects without one need a key
 * of the caller's making (e.g. "dev:inode:mtime"). Not thread-safe.
 */
#ifndef BRASA_UNWIND_UNWIND_CACHE_H
#define BRASA_UNWIND_UNWIND_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct unwind_cache;
struct unwind_table;

struct unwind_cache_stats {
	size_t tables;
	size_t bytes, max_bytes;
	uint64_t hits, misses, evictions;
};

typedef void (*unwind_evict_fn)(const struct unwind_table *table, void *ctx);

int unwind_cache__new(size_t max_bytes, struct unwind_cache **out);
void unwind_cache__free(struct unwind_cache *cache);
const struct unwind_table *unwind_cache__get(struct unwind_cache *cache,
					     const char *build_id);
int unwind_cache__put(struct unwind_cache *cache, const char *build_id,
		      struct unwind_table *table);
void unwind_cache__set_on_evict(struct unwind_cache *cache, unwind_evict_fn fn,
				void *ctx);
void unwind_cache__stats(const struct unwind_cache *cache,
			 struct unwind_cache_stats *stats);

#endif
