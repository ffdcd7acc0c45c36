/* pprof: builds a perftools.profiles.Profile (proto/profile.proto) for CPU
 * samples and encodes it gzip-compressed, following
 * shared/docs/protocols.md: string_table[0] == "", sequential ids
 * (id == index + 1) for mappings, locations and functions, sample types
 * [samples/count, cpu/nanoseconds] with values [n, n * period].
 *
 * Interning is done here: mappings by a caller key, locations by
 * (mapping id, address), functions by (name, system name, file), and
 * identical samples (same locations, same labels) are merged.
 *
 *   pprof__new(opts)                     NULL + errno
 *   pprof__free(p)                       NULL-safe
 *   pprof__mapping(p, key, &m)           mapping id (>= 1), 0 on ENOMEM
 *   pprof__location(p, mapping_id, address, lines, n)
 *                                        location id (>= 1), 0 on ENOMEM;
 *                                        n == 0 means unsymbolized
 *   pprof__add_sample(p, locs, n, count, labels, nlabels)
 *                                        locs leaf first; 0 or -errno
 *   pprof__encode(p, out)                appends the gzipped profile; 0 or -errno
 *   pprof__write_folded(p, out)          appends "comm;root;...;leaf COUNT\n"
 *                                        lines (kernel frames suffixed _[k]);
 *                                        0 or -errno
 *   pprof__sample_count(p)               distinct samples so far
 *
 * Strings passed in are copied; the caller keeps ownership of its own.
 */
#ifndef BRASA_AGENT_PPROF_H
#define BRASA_AGENT_PPROF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

struct pprof;

struct pprof_opts {
	uint64_t period_ns;      /* 1e9 / sampling frequency */
	int64_t time_nanos;      /* window start, Unix ns */
	int64_t duration_nanos;  /* window length */
};

struct pprof_mapping {
	uint64_t memory_start, memory_limit, file_offset;
	const char *filename;
	const char *build_id;   /* hex, or "" / NULL */
	bool has_functions, has_filenames, has_line_numbers, has_inline_frames;
	bool is_kernel;         /* frames in it are printed with _[k] when folded */
};

struct pprof_line {
	const char *function;   /* NULL: unknown */
	const char *filename;   /* NULL: unknown */
	int64_t line;
};

/* A sample label: string (str != NULL) or number (num, num_unit may be NULL). */
struct pprof_label {
	const char *key;
	const char *str;
	int64_t num;
	const char *num_unit;
};

struct pprof *pprof__new(const struct pprof_opts *opts);
void pprof__free(struct pprof *p);
uint64_t pprof__mapping(struct pprof *p, uint64_t key, const struct pprof_mapping *m);
uint64_t pprof__location(struct pprof *p, uint64_t mapping_id, uint64_t address,
			 const struct pprof_line *lines, size_t n);
int pprof__add_sample(struct pprof *p, const uint64_t *locs, size_t n, int64_t count,
		      const struct pprof_label *labels, size_t nlabels);
size_t pprof__sample_count(const struct pprof *p);
int pprof__encode(struct pprof *p, struct buf *out);
int pprof__write_folded(struct pprof *p, struct buf *out);

#endif
