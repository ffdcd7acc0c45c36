/* body: the bytes of history's dictionary rows, one encoding per kind of
 * row (enum history_kind), made of varints (history/varint.h) that refer
 * to other rows by id. Equal contents give equal bytes, which is how the
 * dictionary finds a row again. Decoding is strict (the store may be
 * corrupt; fuzzed by tests/fuzz/fuzz-history-record.c): every field is
 * checked, trailing bytes are an error. Pure.
 *
 * Kinds and what their bodies hold:
 *   STRING     the bytes (no NUL; at most BODY_MAX_STRING)
 *   MAPPING    start, limit, offset, filename and build id (string ids),
 *              flags (BODY_MAPPING_*)
 *   FUNCTION   name and file name (string ids), then the system name
 *              (the mangled name; string id) if the function has one
 *   LOCATION   mapping id (0: none), address (with a mapping: its offset
 *              from the mapping's start, zigzag: a few bytes, not eight),
 *              lines (function id, line), innermost first
 *   STACK      location ids, leaf first
 *   LABELSET   labels sorted by (key, kind, value): key (string id), then
 *              a string id, or a number and its unit (string id, 0: none)
 *
 *   body__mapping(b, m)            encodes; 0 or -ENOMEM (also below)
 *   body__location(b, loc)         ...
 *   body__stack(b, ids, n)
 *   body__labelset(b, labels, n)   sorts labels in place first
 *   body__decode_mapping(p, len, &m)          0 or -EBADMSG
 *   body__decode_function(p, len, &name, &file, &system_name)
 *                                  system_name 0 when the row has none
 *   body__decode_location(p, len, &loc)       lines into loc.lines[]
 *   body__decode_ids(p, len, ids, max, &n)    a stack: -EBADMSG past max
 *   body__decode_labelset(p, len, labels, max, &n)
 *   body__refs(kind, p, len, ids, kinds, &n)
 *                                  the rows a row of kind refers to
 *                                  (ids[i] of kinds[i], at most
 *                                  BODY_MAX_REFS; a string has none),
 *                                  decoded as strictly as above: 0 or
 *                                  -EBADMSG (*n 0)
 */
#ifndef BRASA_HISTORY_BODY_H
#define BRASA_HISTORY_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define BODY_MAX_STRING (64u * 1024)
#define BODY_MAX_LINES 64
#define BODY_MAX_DEPTH 2048
#define BODY_MAX_LABELS 64
/* a row's references: a stack's locations are the most (a location has
 * at most 1 + BODY_MAX_LINES, a label set 2 * BODY_MAX_LABELS) */
#define BODY_MAX_REFS BODY_MAX_DEPTH

enum history_kind {
	HISTORY_STRING,
	HISTORY_MAPPING,
	HISTORY_FUNCTION,
	HISTORY_LOCATION,
	HISTORY_STACK,
	HISTORY_LABELSET,
	HISTORY_KIND__MAX,
};

enum {
	BODY_MAPPING_HAS_FUNCTIONS = 1,
	BODY_MAPPING_HAS_FILENAMES = 2,
	BODY_MAPPING_HAS_LINE_NUMBERS = 4,
	BODY_MAPPING_HAS_INLINE_FRAMES = 8,
	BODY_MAPPING_IS_KERNEL = 16,
	BODY_MAPPING_IS_JIT = 32,
	BODY_MAPPING__ALL = 63,
};

struct body_mapping {
	uint64_t memory_start, memory_limit, file_offset;
	uint64_t filename, build_id; /* string ids */
	uint64_t flags;
};

struct body_line {
	uint64_t function; /* function id */
	int64_t line;
};

struct body_location {
	uint64_t mapping; /* 0: none */
	uint64_t address;
	size_t nlines;
	struct body_line lines[BODY_MAX_LINES];
};

struct body_label {
	uint64_t key;      /* string id */
	bool is_num;
	uint64_t str;      /* string id, !is_num */
	int64_t num;
	uint64_t unit;     /* string id or 0, is_num */
};

int body__mapping(struct buf *b, const struct body_mapping *m);
int body__function(struct buf *b, uint64_t name, uint64_t file, uint64_t system_name);
int body__location(struct buf *b, const struct body_location *loc);
int body__stack(struct buf *b, const uint64_t *ids, size_t n);
int body__labelset(struct buf *b, struct body_label *labels, size_t n);

int body__decode_mapping(const void *p, size_t len, struct body_mapping *m);
int body__decode_function(const void *p, size_t len, uint64_t *name, uint64_t *file,
			  uint64_t *system_name);
int body__decode_location(const void *p, size_t len, struct body_location *loc);
int body__decode_ids(const void *p, size_t len, uint64_t *ids, size_t max, size_t *n);
int body__decode_labelset(const void *p, size_t len, struct body_label *labels, size_t max,
			  size_t *n);
int body__refs(enum history_kind kind, const void *p, size_t len, uint64_t *ids,
	       enum history_kind *kinds, size_t *n);

#endif
