/* pprof_flame: the merged call tree of a pprof builder (core/pprof.h), as
 * flame graphs draw it, and the forms it is written in: the columnar JSON
 * of GET /api/flamegraph (docs/http-api.md), a self-contained SVG flame
 * graph (pprof_flame_svg.c) and speedscope's "sampled" file format
 * (pprof_speedscope.c).
 *
 * Node 0 is the root "all"; its children are the process names (the
 * "comm" label, "[unknown]" without one, as in folded output), then the
 * frames root-most first, an inlined function a node of its own under its
 * caller. Siblings with the same (name, lib, file, kind) are one node,
 * whatever line each sample was at (line is the smallest seen), ordered
 * by name (then lib, file, kind) so that two captures lay out alike. Nodes are in preorder: a parent before its children.
 * Values are the builder's default sample type, cpu nanoseconds (count *
 * period); samples counts them.
 *
 * With max_nodes, only the max_nodes widest nodes stay (ties: the parent
 * first, so what stays is a tree); each dropped subtree's total goes into
 * the self value of its kept parent, so every kept total is unchanged.
 *
 *   pprof_flame__new(p, opts, &f)      0 or -errno (EINVAL; ENOMEM; EOVERFLOW:
 *                                      values past INT64_MAX); f does not
 *                                      refer to p afterwards
 *   pprof_flame__free(f)               NULL-safe
 *   pprof_flame__write_json(f, out)    the /api/flamegraph document
 *   pprof_flame__write_svg(f, title, out)
 *                                      an SVG flame graph (root at the
 *                                      bottom, a <title> per frame, a
 *                                      small click-to-zoom script)
 *   pprof_flame__write_speedscope(f, name, out)
 *                                      one "sampled" profile, the process
 *                                      name the root frame
 *   pprof_flame__json_string(out, s)   s as a JSON string literal: bytes
 *                                      that are not UTF-8 become '?', and
 *                                      '<', '>', '&', U+2028/9 are \u
 *                                      escapes, so it may sit in an HTML
 *                                      <script>
 * Writers append to out: 0 or -ENOMEM, out unchanged on error.
 */
#ifndef BRASA_CORE_PPROF_FLAME_H
#define BRASA_CORE_PPROF_FLAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "core/pprof.h"

#define PPROF_FLAME_DEFAULT_MAX_NODES 20000

enum pprof_flame_kind {
	PPROF_FLAME_ROOT = 0,
	PPROF_FLAME_PROCESS = 1,      /* comm */
	PPROF_FLAME_KERNEL = 2,       /* folded output's _[k] frames */
	PPROF_FLAME_NATIVE = 3,
	PPROF_FLAME_JIT = 4,          /* named from a perf map */
	PPROF_FLAME_UNSYMBOLIZED = 5, /* a raw address */
};

struct pprof_flame_opts {
	size_t max_nodes; /* 0: keep every node */
};

/* Read-only for callers: columns of n nodes, indexes into strings. */
struct pprof_flame {
	char **strings;          /* [0] is "" */
	size_t nstrings;
	size_t n;
	uint32_t *name, *lib, *file;
	int64_t *line;
	uint8_t *kind;
	int32_t *parent;         /* -1 for the root */
	int64_t *total, *self;
	int64_t samples;         /* sample counts over all samples */
	int64_t start_unix_ns, duration_ns;
	enum pprof_type type;    /* the profile's: its values are nanoseconds of it */
	bool truncated;
};

int pprof_flame__new(struct pprof *p, const struct pprof_flame_opts *opts,
		     struct pprof_flame **out);
void pprof_flame__free(struct pprof_flame *f);
int pprof_flame__write_json(const struct pprof_flame *f, struct buf *out);
int pprof_flame__write_svg(const struct pprof_flame *f, const char *title, struct buf *out);
int pprof_flame__write_speedscope(const struct pprof_flame *f, const char *name,
				  struct buf *out);
int pprof_flame__json_string(struct buf *out, const char *s);

#endif
