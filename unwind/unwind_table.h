/* unwind_table: the compact form of one executable's CFI rows for the
 * BPF unwinder, the system-wide table of distinct rules they refer to,
 * and a bounded LRU cache of tables keyed by build id.
 *
 * Format (layouts in bpf/profile.h):
 *   - Rules are deduplicated system-wide: a row stores a u16 rule id, not
 *     the 12-byte rule. The shared libraries of /usr/lib/x86_64-linux-gnu
 *     and the programs of /usr/bin here (12 M rows) have 3,938 distinct
 *     rules (46 KiB).
 *   - Rows are {u32 pc offset from the lowest executable vaddr, u16 rule
 *     id} = 6 bytes, kept as two parallel arrays in fixed-size chunks of
 *     UNWIND_CHUNK_ROWS rows (one 6 KiB BPF map value each). Adjacent rows
 *     with the same rule are merged first (only about 1 % fewer rows:
 *     compilers rarely emit a row that changes nothing we keep).
 *   - The chunk index (first pc of each chunk) sits inline in the table's
 *     info record for up to 16 chunks (16 K rows: 88 % of the objects in
 *     /usr/lib and /usr/bin here), else in 1 KiB index pages of 256
 *     chunks each (libc: 1 page, libLLVM: 4).
 *   - All three arrays are searched the same way: a fixed number of
 *     branch-free halving steps over a power-of-two array padded with
 *     UNWIND_PC_PAD, which the verifier accepts without bounds tricks and
 *     which costs the same for every pc.
 * Why not parca's 14-byte rows (pc u64 + the rule inline)? 8 bytes of pc
 * where 4 suffice, and the rule repeated in every row. Why not the
 * OpenTelemetry profiler's 4-byte rows (u16 pc low bits)? They need an
 * extra per-64 KiB-page index entry and variable-size arrays (maps of
 * maps); 6 bytes keeps one flat sorted array per table and is already
 * under the 8-byte target once the partly filled last chunk is counted:
 * libc 6.05 bytes a row, libLLVM 6.00, all of /usr/lib and /usr/bin
 * together 6.20. Why 1024-row chunks? 256 would waste less in each
 * table's last chunk (6.01 overall) but need 4x the map elements and
 * index entries, and would put libLLVM at 15 of the 16 index pages
 * a table can have (1024: 4).
 * Small objects pay for their partly filled chunk (xz: 1.2 K rows,
 * 10 bytes a row), which the 6.20 above includes.
 * Memory counted by unwind_table__bytes is what the kernel would hold:
 * whole chunks (padding included), index pages and the info record; the
 * rule table is shared and reported separately (unwind_rules__bytes).
 *
 * API:
 *   unwind_rules__new(&r) / __free(r)    0 or -ENOMEM / NULL-safe
 *   unwind_rules__intern(r, &rule)       rule id; UNWIND_RULE_FULL once
 *                                        UNWIND_RULES_MAX ids are taken
 *   unwind_rules__get(r, id)             NULL if id is not assigned
 *   unwind_rules__count(r), __bytes(r)
 *
 *   unwind_table__build(rows, rules, &table)  0, -E2BIG (more than
 *        UNWIND_TABLE_ROWS_MAX rows or pc offsets beyond 4 GiB), -EINVAL
 *        (rows unsorted), -ENOMEM
 *   unwind_table__free(table)            NULL-safe
 *   unwind_table__lookup(table, vaddr)   rule id covering the ELF vaddr,
 *        UNWIND_RULE_NONE outside every FDE; the exact search of the BPF
 *        side
 *   unwind_table__bytes(table)           kernel bytes for this table
 *   unwind_table__remap_rules(table, map, n)  rewrites every row's rule id
 *        i as map[i] (a table built with a private rule table, adopted
 *        into the shared one): 0, -EINVAL (an id >= n)
 *   unwind_table__release_rows(table)    frees the chunks and index pages
 *        once they are in the kernel; info, row_count and __bytes stay
 *        (what eviction needs), __lookup no longer works
 *   table->row_count                     rows after merging
 *
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
#ifndef BRASA_UNWIND_UNWIND_TABLE_H
#define BRASA_UNWIND_UNWIND_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "bpf/profile.h"
#include "unwind/cfi_rows.h"

struct unwind_rules;

struct unwind_table {
	uint32_t table_id;	/* assigned by unwind_cache__put, else 0 */
	uint32_t row_count;	/* rows after merging, terminator included */
	struct unwind_table_info info;
	struct unwind_index_page *index_pages;	/* info.index_pages of them */
	struct unwind_chunk *chunks;		/* info.chunk_count of them */
};

int unwind_rules__new(struct unwind_rules **out);
void unwind_rules__free(struct unwind_rules *rules);
uint16_t unwind_rules__intern(struct unwind_rules *rules, const struct unwind_rule *rule);
const struct unwind_rule *unwind_rules__get(const struct unwind_rules *rules, uint16_t id);
size_t unwind_rules__count(const struct unwind_rules *rules);
size_t unwind_rules__bytes(const struct unwind_rules *rules);

int unwind_table__build(const struct cfi_rows *rows, struct unwind_rules *rules,
			struct unwind_table **out);
void unwind_table__free(struct unwind_table *table);
uint16_t unwind_table__lookup(const struct unwind_table *table, uint64_t vaddr);
size_t unwind_table__bytes(const struct unwind_table *table);
int unwind_table__remap_rules(struct unwind_table *table, const uint16_t *map, size_t n);
void unwind_table__release_rows(struct unwind_table *table);

struct unwind_cache;

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
