/* pprof_format: the forms a finished profile is written in, by name, for
 * the endpoint (GET /api/flamegraph?format=) and brasa capture --format.
 *
 *   pprof_format__from_name(name, &f)  0, or -EINVAL for a name not in
 *                                      pprof_format_names
 *   pprof__write_as(p, how, out)       appends p in how->format: the gzipped
 *                                      protobuf, folded stacks, or the flame
 *                                      tree (pprof_flame.h, bounded by
 *                                      how->max_nodes) as JSON, SVG or
 *                                      speedscope; 0 or -errno, out
 *                                      unchanged on error
 */
#ifndef BRASA_CORE_PPROF_FORMAT_H
#define BRASA_CORE_PPROF_FORMAT_H

#include <stddef.h>

#include "common/buf.h"
#include "core/pprof.h"

enum pprof_format {
	PPROF_FORMAT_PPROF = 0,
	PPROF_FORMAT_FOLDED,
	PPROF_FORMAT_JSON,       /* the /api/flamegraph document */
	PPROF_FORMAT_SVG,
	PPROF_FORMAT_SPEEDSCOPE,
	/* the self-contained page (html) goes here: a name in
	 * pprof_format_names and a case in pprof__write_as */
	PPROF_FORMATS,
};

extern const char *const pprof_format_names[PPROF_FORMATS];

struct pprof_output {
	enum pprof_format format;
	size_t max_nodes;        /* flame tree formats; 0: every node */
	const char *title;       /* SVG title, speedscope name; NULL: a default */
};

int pprof_format__from_name(const char *name, enum pprof_format *f);
int pprof__write_as(struct pprof *p, const struct pprof_output *how, struct buf *out);

#endif
