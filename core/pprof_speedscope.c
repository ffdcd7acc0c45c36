/* A flame graph tree in speedscope's file format
 * (https://www.speedscope.app/file-format-schema.json), as
 * pprof_flame__write_speedscope: one "sampled" profile in nanoseconds
 * whose stacks start at the process name (the tree without its root);
 * each node with a self value is one sample of its path, weighted by it.
 * Frames are shared by name, library and file (line: the smallest of
 * their nodes'); "file" is the source file, or the library when there is
 * none. */
#include "core/pprof_flame.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/macros.h"
#include "core/pprof_tables.h"

#define SPEEDSCOPE_SCHEMA "https://www.speedscope.app/file-format-schema.json"

static int frame_cmp(const void *a, const void *b, void *ctx)
{
	const struct pprof_flame *f = ctx;
	size_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	if (f->name[x] != f->name[y])
		return f->name[x] < f->name[y] ? -1 : 1;
	if (f->lib[x] != f->lib[y])
		return f->lib[x] < f->lib[y] ? -1 : 1;
	if (f->file[x] != f->file[y])
		return f->file[x] < f->file[y] ? -1 : 1;
	/* the smallest line first: the one a group of nodes shows */
	if (f->line[x] != f->line[y])
		return !f->line[y] || (f->line[x] && f->line[x] < f->line[y]) ? -1 : 1;
	return 0;
}

/* frame_of[i] for node i, and the frames in out, in first node order. */
static int write_frames(const struct pprof_flame *f, uint32_t *frame_of, struct buf *out)
{
	_cleanup_free_ uint32_t *by_frame = malloc(f->n * sizeof(*by_frame));
	uint32_t nframes = 0;
	int err = 0;

	if (!by_frame)
		return -ENOMEM;
	for (size_t i = 0; i < f->n; i++)
		by_frame[i] = (uint32_t)i;
	qsort_r(by_frame + 1, f->n - 1, sizeof(*by_frame), frame_cmp, (void *)f);
	for (size_t i = 1; !err && i < f->n; i++) {
		size_t node = by_frame[i], file;

		if (i > 1 && f->name[node] == f->name[by_frame[i - 1]] &&
		    f->lib[node] == f->lib[by_frame[i - 1]] && f->file[node] == f->file[by_frame[i - 1]]) {
			frame_of[node] = frame_of[by_frame[i - 1]];
			continue;
		}
		err = LIT(out, nframes ? ",{\"name\":" : "{\"name\":");
		frame_of[node] = nframes++;
		if (!err)
			err = pprof_flame__json_string(out, f->strings[f->name[node]]);
		file = f->file[node] ? f->file[node] : f->lib[node];
		if (!err && file) {
			err = LIT(out, ",\"file\":");
			if (!err)
				err = pprof_flame__json_string(out, f->strings[file]);
			if (!err && f->file[node] && f->line[node] > 0)
				err = buf_printf(out, ",\"line\":%" PRId64, f->line[node]);
		}
		if (!err)
			err = LIT(out, "}");
	}
	return err;
}

/* The samples (the path of every node with a self value) and their
 * weights. */
static int write_samples(const struct pprof_flame *f, const uint32_t *frame_of, struct buf *out)
{
	_cleanup_free_ uint32_t *path = malloc(f->n * sizeof(*path));
	bool first = true;
	int err = 0;

	if (!path)
		return -ENOMEM;
	err = LIT(out, "\"samples\":[");
	for (size_t i = 0; !err && i < f->n; i++) {
		size_t depth = 0;

		if (!f->self[i])
			continue;
		for (int32_t v = (int32_t)i; v > 0; v = f->parent[v])
			path[depth++] = frame_of[v];
		err = LIT(out, first ? "[" : ",[");
		first = false;
		while (!err && depth-- > 0)
			err = buf_printf(out, "%" PRIu32 "%s", path[depth], depth ? "," : "");
		if (!err)
			err = LIT(out, "]");
	}
	if (!err)
		err = LIT(out, "],\"weights\":[");
	first = true;
	for (size_t i = 0; !err && i < f->n; i++) {
		if (!f->self[i])
			continue;
		err = buf_printf(out, "%s%" PRId64, first ? "" : ",", f->self[i]);
		first = false;
	}
	if (!err)
		err = LIT(out, "]");
	return err;
}

int pprof_flame__write_speedscope(const struct pprof_flame *f, const char *name,
				  struct buf *out)
{
	_cleanup_free_ uint32_t *frame_of = calloc(f->n, sizeof(*frame_of));
	size_t start = out->len;
	int err;

	if (!frame_of)
		return -ENOMEM;
	err = LIT(out, "{\"$schema\":\"" SPEEDSCOPE_SCHEMA "\",\"exporter\":\"brasa "
		  BRASA_VERSION "\",\"name\":");
	if (!err)
		err = pprof_flame__json_string(out, name ? name : "brasa");
	if (!err)
		err = LIT(out, ",\"activeProfileIndex\":0,\"shared\":{\"frames\":[");
	if (!err)
		err = write_frames(f, frame_of, out);
	if (!err)
		err = LIT(out, "]},\"profiles\":[{\"type\":\"sampled\",\"name\":");
	if (!err)
		err = pprof_flame__json_string(out, name ? name : "brasa");
	if (!err)
		err = buf_printf(out, ",\"unit\":\"nanoseconds\",\"startValue\":0,\"endValue\":%" PRId64
				 ",", f->total[0]);
	if (!err)
		err = write_samples(f, frame_of, out);
	if (!err)
		err = LIT(out, "}]}\n");
	if (err)
		out->len = start;
	return err;
}
