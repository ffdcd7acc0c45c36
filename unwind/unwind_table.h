/* unwind_table: the compact form of one executable's CFI rows for the
 * BPF unwinder. The rows refer to rules by id in the system-wide rule
 * table (unwind_rules.h); the agent keeps tables in a bounded cache
 * (unwind_cache.h). This header includes both.
 *
 * Format (layouts in bpf/profile.h):
 *   - Rules are deduplicated system-wide (unwind_rules.h): a row stores a
 *     u16 rule id, not the 12-byte rule.
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
 *   unwind_table__build(rows, rules, &table)  0, -E2BIG (more than
 *        UNWIND_TABLE_ROWS_MAX rows or pc offsets beyond 4 GiB), -EINVAL
 *        (rows unsorted), -ENOMEM
 *   unwind_table__free(table)            NULL-safe
 *   unwind_table__lookup(table, vaddr)   rule id covering the ELF vaddr,
 *        UNWIND_RULE_NONE outside every FDE; the exact search of the BPF
 *        side
 *   unwind_table__search(info, parts, vaddr)  the same search over a table
 *        whose index pages and chunks the caller fetches (parts: e.g. from
 *        the BPF maps, bpf/unwinder_walk.c); a part it cannot fetch reads
 *        as no rule
 *   unwind_table__bytes(table)           kernel bytes for this table
 *   unwind_table__remap_rules(table, map, n)  rewrites every row's rule id
 *        i as map[i] (a table built with a private rule table, adopted
 *        into the shared one): 0, -EINVAL (an id >= n)
 *   unwind_table__release_rows(table)    frees the chunks and index pages
 *        once they are in the kernel; info, row_count and __bytes stay
 *        (what eviction needs), __lookup no longer works
 *   table->row_count                     rows after merging
 */
#ifndef BRASA_UNWIND_UNWIND_TABLE_H
#define BRASA_UNWIND_UNWIND_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "bpf/profile.h"
#include "unwind/cfi_rows.h"
#include "unwind/unwind_cache.h"
#include "unwind/unwind_rules.h"

struct unwind_table {
	uint32_t table_id;	/* assigned by unwind_cache__put, else 0 */
	uint32_t row_count;	/* rows after merging, terminator included */
	struct unwind_table_info info;
	struct unwind_index_page *index_pages;	/* info.index_pages of them */
	struct unwind_chunk *chunks;		/* info.chunk_count of them */
};

int unwind_table__build(const struct cfi_rows *rows, struct unwind_rules *rules,
			struct unwind_table **out);
void unwind_table__free(struct unwind_table *table);
uint16_t unwind_table__lookup(const struct unwind_table *table, uint64_t vaddr);
/* page(ctx, i, buf) and chunk(ctx, i, buf): the part, in buf or elsewhere,
 * or NULL */
struct unwind_table_parts {
	const struct unwind_index_page *(*page)(void *ctx, uint32_t i, struct unwind_index_page *buf);
	const struct unwind_chunk *(*chunk)(void *ctx, uint32_t i, struct unwind_chunk *buf);
	void *ctx;
};
uint16_t unwind_table__search(const struct unwind_table_info *info,
			      const struct unwind_table_parts *parts, uint64_t vaddr);
size_t unwind_table__bytes(const struct unwind_table *table);
int unwind_table__remap_rules(struct unwind_table *table, const uint16_t *map, size_t n);
void unwind_table__release_rows(struct unwind_table *table);

#endif
