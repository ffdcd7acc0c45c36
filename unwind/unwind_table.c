#include "unwind/unwind_table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/macros.h"

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

uint16_t unwind_table__search(const struct unwind_table_info *info,
			      const struct unwind_table_parts *parts, uint64_t vaddr)
{
	struct unwind_index_page page_buf;
	struct unwind_chunk chunk_buf;
	const struct unwind_index_page *page;
	const struct unwind_chunk *chunk;
	uint32_t key, chunk_no;
	int i, j;

	if (vaddr < info->base_vaddr || vaddr - info->base_vaddr >= UNWIND_PC_PAD)
		return UNWIND_RULE_NONE;
	key = (uint32_t)(vaddr - info->base_vaddr);
	i = search_le(info->first_pc, UNWIND_INLINE_INDEX_LOG2, key);
	if (i < 0)
		return UNWIND_RULE_NONE;
	chunk_no = (uint32_t)i;
	if (info->index_pages) {
		/* BPF: index page = lookup(index map, {table_id, i}) */
		if ((uint32_t)i >= info->index_pages ||
		    !(page = parts->page(parts->ctx, (uint32_t)i, &page_buf)))
			return UNWIND_RULE_NONE;
		j = search_le(page->first_pc, UNWIND_INDEX_PAGE_LOG2, key);
		if (j < 0)
			return UNWIND_RULE_NONE;
		chunk_no = (uint32_t)i * UNWIND_INDEX_PAGE_ENTRIES + (uint32_t)j;
	}
	/* BPF: chunk = lookup(chunk map, {table_id, chunk_no}) */
	if (chunk_no >= info->chunk_count || !(chunk = parts->chunk(parts->ctx, chunk_no, &chunk_buf)))
		return UNWIND_RULE_NONE;
	j = search_le(chunk->pc, UNWIND_CHUNK_ROWS_LOG2, key);
	return j < 0 ? UNWIND_RULE_NONE : chunk->rule[j];
}

static const struct unwind_index_page *own_page(void *ctx, uint32_t i, struct unwind_index_page *buf)
{
	(void)buf;
	return &((const struct unwind_table *)ctx)->index_pages[i];
}

static const struct unwind_chunk *own_chunk(void *ctx, uint32_t i, struct unwind_chunk *buf)
{
	(void)buf;
	return &((const struct unwind_table *)ctx)->chunks[i];
}

uint16_t unwind_table__lookup(const struct unwind_table *t, uint64_t vaddr)
{
	const struct unwind_table_parts parts = { own_page, own_chunk, (void *)t };

	return unwind_table__search(&t->info, &parts, vaddr);
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
