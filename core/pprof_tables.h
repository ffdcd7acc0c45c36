/* pprof_tables: the tables of a pprof builder (core/pprof.h), private to
 * core/pprof*.c: pprof.c interns into them; pprof_encode.c (the gzipped
 * protobuf) and pprof_folded.c (folded stacks) read them. Nothing here is
 * API:
 *
 *   struct pprof                 the builder: strings, mappings, functions,
 *                                locations (with their lines) and samples
 *                                (with their locations and labels)
 *   struct *_rec                 one record of each table
 *   struct index_table           the hash index that interns each table
 *                                (also the flame tree's, pprof_flame.c)
 */
#ifndef BRASA_CORE_PPROF_TABLES_H
#define BRASA_CORE_PPROF_TABLES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/pprof.h"

/* Records refer to strings and functions by index (uint32: every table is
 * bounded far below 2^32); the ids on the wire are index + 1. */

struct mapping_rec {
	uint64_t key;
	uint64_t memory_start, memory_limit, file_offset;
	uint32_t filename, build_id;
	bool has_functions, has_filenames, has_line_numbers, has_inline_frames;
	bool is_kernel, is_jit;
	/* some location in it has no lines: has_functions would make readers
	 * skip symbolizing it, so it is cleared on encode */
	bool has_unsymbolized;
};

struct function_rec {
	uint32_t name, system_name, filename;
};

struct line_rec {
	uint32_t function_idx;
	int64_t line;
};

struct location_rec {
	uint64_t mapping_id, address;
	size_t first_line;
	uint32_t nlines;
};

struct label_rec {
	uint32_t key, str, num_unit;
	int64_t num;
};

struct sample_rec {
	size_t first_loc, first_label;
	uint32_t nlocs, nlabels;
	int64_t count;
	int64_t value; /* the second value: count * period for CPU samples */
};

/* Open addressing over record indexes; idx1 == 0 marks an empty slot. */
struct slot {
	uint64_t hash;
	uint32_t idx1;
};

struct index_table {
	struct slot *slots;
	size_t cap; /* power of two, or 0 before first use */
	size_t used;
};

/* Hashing and the index, shared by the builder and the flame tree:
 *   pprof_hash_mix(h, v), pprof_hash_bytes(s, n)
 *   pprof_index_reserve(t)       room for one insertion, so that a following
 *                                pprof_index_find has an empty slot to return
 *   pprof_index_find(t, hash, eq, ctx, key)
 *                                the slot of the record equal to key (eq(ctx,
 *                                idx, key)), or the empty slot where it goes
 *   pprof_index_insert(t, slot, hash, idx), pprof_index_release(t)
 *   pprof_array_reserve(&arr, &cap, len, extra, max, elem)
 *                                room for len + extra elements, never past max
 *                                (E2BIG); ARRAY_RESERVE(obj, field, extra, max)
 *                                for obj->field, obj->nfield, obj->field_cap
 */
typedef bool (*pprof_index_eq_fn)(const void *ctx, uint32_t idx, const void *key);

uint64_t pprof_hash_mix(uint64_t h, uint64_t v);
uint64_t pprof_hash_bytes(const char *s, size_t n);
int pprof_index_reserve(struct index_table *t);
struct slot *pprof_index_find(const struct index_table *t, uint64_t hash, pprof_index_eq_fn eq,
			      const void *ctx, const void *key);
void pprof_index_insert(struct index_table *t, struct slot *s, uint64_t hash, size_t idx);
void pprof_index_release(struct index_table *t);
int pprof_array_reserve(void **arr, size_t *cap, size_t len, size_t extra, size_t max,
			size_t elem);

#define ARRAY_RESERVE(p, field, extra, max)                                           \
	pprof_array_reserve((void **)&(p)->field, &(p)->field##_cap, (p)->n##field, \
			    (extra), (max), sizeof(*(p)->field))

/* Appends a NUL-terminated string (a literal, for the writers). */
#define LIT(b, s) buf_append((b), (s), strlen(s))

struct pprof {
	struct pprof_opts opts;

	char **strings;
	size_t nstrings, strings_cap, string_bytes;
	struct index_table string_index;

	struct mapping_rec *mappings;
	size_t nmappings, mappings_cap;
	struct index_table mapping_index;

	struct function_rec *functions;
	size_t nfunctions, functions_cap;
	struct index_table function_index;

	struct location_rec *locations;
	size_t nlocations, locations_cap;
	struct index_table location_index;
	struct line_rec *lines;
	size_t nlines, lines_cap;

	struct sample_rec *samples;
	size_t nsamples, samples_cap;
	struct index_table sample_index;
	uint64_t *sample_locs; /* leaf first, as in the proto */
	size_t nsample_locs, sample_locs_cap;
	struct label_rec *labels;
	size_t nlabels, labels_cap;

	/* string indexes interned by pprof__new */
	/* s_type: the second sample type's name, cpu or off_cpu */
	uint32_t s_samples, s_count, s_type, s_nanoseconds, s_comm;
};

#endif
