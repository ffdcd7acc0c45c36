/* pprof: builds a perftools.profiles.Profile (proto/profile.proto) for CPU
 * or off-CPU samples and encodes it gzip-compressed, following
 * shared/docs/protocols.md: string_table[0] == "", sequential ids
 * (id == index + 1) for mappings, locations and functions. Sample types
 * by opts.type: CPU [samples/count, cpu/nanoseconds] with values [n,
 * n * period] and period type cpu/nanoseconds; off-CPU [samples/count,
 * off_cpu/nanoseconds] with values [switches, nanoseconds off the CPU]
 * and no period (a switch has no fixed weight).
 *
 * Interning is done here: mappings by a caller key, locations by
 * (mapping id, address), functions by (name, system name, file), and
 * identical samples (same locations, same labels) are merged.
 *
 *   pprof__new(opts, &p)                 0 or -errno (EINVAL: a CPU profile's
 *                                        period_ns 0 or above INT64_MAX,
 *                                        negative duration, unknown type;
 *                                        ENOMEM)
 *   pprof__free(p)                       NULL-safe
 *   pprof__mapping(p, key, &m)           mapping id (>= 1), 0 + errno (ENOMEM,
 *                                        E2BIG, EINVAL); a known key returns
 *                                        its id and m is ignored
 *   pprof__location(p, mapping_id, address, lines, n)
 *                                        location id (>= 1), 0 + errno (ENOMEM,
 *                                        E2BIG, EINVAL: unknown mapping id);
 *                                        mapping_id 0 means none; lines are
 *                                        innermost (inlined) first, caller
 *                                        last; n == 0 means unsymbolized;
 *                                        lines with function NULL are
 *                                        dropped; a known (mapping id,
 *                                        address) returns its id, lines ignored
 *                                        unless it had none (named late: its
 *                                        object's debug file came meanwhile)
 *   pprof__add_sample(p, locs, n, count, labels, nlabels)
 *                                        locs leaf first, count >= 1;
 *                                        0 or -errno (EINVAL: unknown location
 *                                        id, NULL/empty label key, an off-CPU
 *                                        profile; E2BIG; EOVERFLOW: count *
 *                                        period past INT64_MAX; ENOMEM); label
 *                                        order does not matter for merging
 *   pprof__add_sample_value(p, locs, n, count, value, labels, nlabels)
 *                                        the same with the second value given
 *                                        (off-CPU and wall: nanoseconds, >= 0; a CPU
 *                                        profile takes it as is too, for
 *                                        copies); EOVERFLOW when a merged sum
 *                                        passes INT64_MAX
 *   pprof__encode(p, out)                appends the gzipped profile; 0 or -errno
 *                                        (E2BIG past PPROF_MAX_ENCODED_SIZE);
 *                                        out is unchanged on error
 *   pprof__encode_samples(p, first, count, max, out, &len)
 *                                        appends samples [first, first +
 *                                        count) gzipped as a profile of their
 *                                        own: only the mappings, locations,
 *                                        functions and strings they use, ids
 *                                        renumbered, time and period kept (for
 *                                        splitting a profile over a backend's
 *                                        limits); *len (may be NULL) gets the
 *                                        uncompressed size, also on -EFBIG;
 *                                        max 0 means PPROF_MAX_ENCODED_SIZE;
 *                                        0 or -errno (EINVAL: range past the
 *                                        samples; EFBIG: uncompressed size over
 *                                        max); out is unchanged on error
 *   pprof__write_folded(p, out)          appends "comm;root;...;leaf COUNT\n"
 *                                        lines (kernel frames suffixed _[k];
 *                                        COUNT is samples in a CPU profile,
 *                                        nanoseconds in an off-CPU one);
 *                                        0 or -errno, out unchanged on error
 *   pprof__sample_count(p)               distinct samples so far (0 for NULL)
 *   pprof__bytes(p)                      memory the builder holds (0 for NULL)
 *   pprof__stats(p, &st)                 table sizes, to compare with the
 *                                        PPROF_MAX_* bounds (zeros for NULL)
 *
 * Reading a built profile back (pprof_read.c), for modules that store or
 * copy profiles. Ids are the ones the builder handed out (1-based), sample
 * indexes run from 0 to pprof__sample_count - 1. Strings and arrays given
 * out point into the builder: valid until it changes or is freed.
 *   pprof__opts(p, &o)                   type, period, time and duration
 *                                        (zeros for NULL)
 *   pprof__sample_at(p, i, &s)           sample i: its locations (leaf
 *                                        first), count, second value and
 *                                        number of labels;
 *                                        0 or -EINVAL (no such sample)
 *   pprof__sample_label(p, i, j, &l)     label j of sample i; 0 or -EINVAL; a
 *                                        string label with value "" reads
 *                                        back as the number 0, as in the
 *                                        encoded profile
 *   pprof__location_count(p)             locations (ids 1..count; 0 for NULL)
 *   pprof__location_at(p, id, &loc)      its mapping id (0: none), address
 *                                        and number of lines; 0 or -EINVAL
 *   pprof__location_line(p, id, k, &l)   line k (innermost first) of
 *                                        location id; function and filename
 *                                        are "" when unknown; 0 or -EINVAL
 *   pprof__mapping_count(p)              mappings (ids 1..count; 0 for NULL)
 *   pprof__mapping_at(p, id, &m, &key)   mapping id as it was given, build_id
 *                                        "" when none, and the caller's key
 *                                        (key may be NULL); 0 or -EINVAL
 *
 * Encoding details: a mapping's has_functions is emitted only if the caller
 * set it and none of its locations is unsymbolized (readers then skip their
 * own symbolization). Strings that are not valid UTF-8 get '?' for each bad
 * byte, since proto3 readers may reject the profile otherwise. Function
 * system_name is the line's system_name (a mangled name), else repeats
 * name.
 *
 * Folded format: the first field is the "comm" string label ("[unknown]"
 * without one); frames follow root first with inlined frames in call order;
 * a location without lines prints as <file basename>+0x<file offset> when
 * it has a mapping, else 0x<address> ("[unknown]" at address 0); ';', ' ', and control characters in names become '_'. Lines are
 * sorted, and samples differing only in labels other than comm are summed.
 *
 * Every table is bounded by the PPROF_MAX_* limits below; past them calls
 * fail with E2BIG and the profile stays usable. Not thread-safe.
 *
 * Strings passed in are copied; the caller keeps ownership of its own.
 */
#ifndef BRASA_CORE_PPROF_H
#define BRASA_CORE_PPROF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* Bounds against absurd inputs (a runaway unwinder, a hostile comm). */
#define PPROF_MAX_STRING_LEN (64u * 1024)        /* bytes per string */
#define PPROF_MAX_STRING_BYTES (256u << 20)      /* bytes in the string table */
#define PPROF_MAX_ENTRIES (1u << 22)             /* strings, mappings, functions,
						    locations, samples each */
#define PPROF_MAX_LINES 64                       /* inline depth per location */
#define PPROF_MAX_STACK_DEPTH 2048               /* locations per sample */
#define PPROF_MAX_LABELS 64                      /* labels per sample */
#define PPROF_MAX_SAMPLE_FRAMES (1u << 26)       /* locations (and labels) over
						    all samples */
#define PPROF_MAX_ENCODED_SIZE ((size_t)256 << 20) /* uncompressed profile bytes */

struct pprof;

/* What a profile's samples measure. The names are the query's type=
 * values and the sample type the profile names (pprof_type_names). */
enum pprof_type {
	PPROF_TYPE_CPU = 0,      /* samples of the running threads */
	PPROF_TYPE_OFF_CPU,      /* time threads spent off the CPU */
	PPROF_TYPE_WALL,         /* both, in time: on-CPU samples weigh their period */
	PPROF_TYPE_MAX,
};

static const char *const pprof_type_names[PPROF_TYPE_MAX] = {
	[PPROF_TYPE_CPU] = "cpu",
	[PPROF_TYPE_OFF_CPU] = "off_cpu",
	[PPROF_TYPE_WALL] = "wall",
};

struct pprof_opts {
	enum pprof_type type;    /* default cpu */
	uint64_t period_ns;      /* 1e9 / sampling frequency; cpu only */
	int64_t time_nanos;      /* window start, Unix ns */
	int64_t duration_nanos;  /* window length */
};

struct pprof_mapping {
	uint64_t memory_start, memory_limit, file_offset;
	const char *filename;
	const char *build_id;   /* hex, or "" / NULL */
	bool has_functions, has_filenames, has_line_numbers, has_inline_frames;
	bool is_kernel;         /* frames in it are printed with _[k] when folded */
	bool is_jit;            /* named from a JIT's perf map (flame graph kind) */
};

struct pprof_line {
	const char *function;   /* NULL: unknown */
	const char *filename;   /* NULL: unknown */
	int64_t line;
	const char *system_name; /* the mangled name of a demangled function;
				  * NULL: function's */
};

/* A sample label: string (str != NULL) or number (num, num_unit may be NULL). */
struct pprof_label {
	const char *key;
	const char *str;
	int64_t num;
	const char *num_unit;
};

/* One sample as pprof__sample_at reads it back. */
struct pprof_sample {
	const uint64_t *locs;   /* location ids, leaf first */
	size_t nlocs;
	int64_t count;
	int64_t value;          /* the second value: nanoseconds */
	size_t nlabels;
};

/* One location as pprof__location_at reads it back. */
struct pprof_location {
	uint64_t mapping_id;    /* 0: none */
	uint64_t address;
	size_t nlines;
};

/* How full the tables are; each counts against the PPROF_MAX_* above. */
struct pprof_stats {
	size_t strings, string_bytes;
	size_t mappings, functions, locations, lines;
	size_t samples, sample_frames, sample_labels;
};

int pprof__new(const struct pprof_opts *opts, struct pprof **out);
void pprof__free(struct pprof *p);
/* For a window that ended early (Ctrl-C): the span it really covers. */
void pprof__set_duration(struct pprof *p, int64_t duration_nanos);
uint64_t pprof__mapping(struct pprof *p, uint64_t key, const struct pprof_mapping *m);
uint64_t pprof__location(struct pprof *p, uint64_t mapping_id, uint64_t address,
			 const struct pprof_line *lines, size_t n);
int pprof__add_sample(struct pprof *p, const uint64_t *locs, size_t n, int64_t count,
		      const struct pprof_label *labels, size_t nlabels);
int pprof__add_sample_value(struct pprof *p, const uint64_t *locs, size_t n, int64_t count,
			    int64_t value, const struct pprof_label *labels, size_t nlabels);
size_t pprof__sample_count(const struct pprof *p);
size_t pprof__bytes(const struct pprof *p);
void pprof__stats(const struct pprof *p, struct pprof_stats *st);
int pprof__encode(struct pprof *p, struct buf *out);
int pprof__encode_samples(struct pprof *p, size_t first, size_t count, size_t max_uncompressed,
			  struct buf *out, size_t *uncompressed_len);
int pprof__write_folded(struct pprof *p, struct buf *out);

void pprof__opts(const struct pprof *p, struct pprof_opts *o);
int pprof__sample_at(const struct pprof *p, size_t i, struct pprof_sample *s);
int pprof__sample_label(const struct pprof *p, size_t i, size_t j, struct pprof_label *l);
size_t pprof__location_count(const struct pprof *p);
int pprof__location_at(const struct pprof *p, uint64_t id, struct pprof_location *loc);
int pprof__location_line(const struct pprof *p, uint64_t id, size_t k, struct pprof_line *line);
size_t pprof__mapping_count(const struct pprof *p);
int pprof__mapping_at(const struct pprof *p, uint64_t id, struct pprof_mapping *m, uint64_t *key);

#endif
