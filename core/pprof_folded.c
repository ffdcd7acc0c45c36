/* The folded-stacks text of a pprof builder (pprof__write_folded), as
 * flame graph tools read it. */
#include "core/pprof.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macros.h"
#include "core/pprof_tables.h"

struct folded_line {
	char *stack;
	int64_t count;
};

static int folded_line_cmp(const void *a, const void *b)
{
	return strcmp(((const struct folded_line *)a)->stack,
		      ((const struct folded_line *)b)->stack);
}

/* Appends name with the bytes that carry meaning in the folded format
 * (';' between frames, ' ' before the count, newline between lines) and
 * other control characters replaced by '_'. */
static int folded_append_name(struct buf *b, const char *name, const char *suffix)
{
	size_t start = b->len, n = strlen(name);
	int err;

	err = buf_append(b, name, n);
	if (err)
		return err;
	for (size_t i = start; i < b->len; i++) {
		uint8_t c = b->data[i];

		if (c == ';' || c == ' ' || c < 0x20 || c == 0x7f)
			b->data[i] = '_';
	}
	return suffix ? buf_append(b, suffix, strlen(suffix)) : 0;
}

static int folded_append_location(const struct pprof *p, struct buf *b, uint64_t loc_id)
{
	const struct location_rec *loc = &p->locations[loc_id - 1];
	bool kernel = loc->mapping_id && p->mappings[loc->mapping_id - 1].is_kernel;
	const char *suffix = kernel ? "_[k]" : NULL;
	int err;

	if (!loc->nlines) {
		const struct mapping_rec *m = loc->mapping_id ? &p->mappings[loc->mapping_id - 1] : NULL;
		const char *file = m ? p->strings[m->filename] : "";
		const char *base = strrchr(file, '/');
		char addr[256];

		if (!loc->address)
			return folded_append_name(b, "[unknown]", suffix);
		/* Like perf's "dso+offset": which file, and where in it, is what
		 * a reader needs to symbolize the frame later. */
		base = base ? base + 1 : file;
		if (m && base[0] && loc->address >= m->memory_start)
			snprintf(addr, sizeof(addr), "%.200s+0x%" PRIx64, base,
				 loc->address - m->memory_start + m->file_offset);
		else
			snprintf(addr, sizeof(addr), "0x%" PRIx64, loc->address);
		return folded_append_name(b, addr, suffix);
	}
	/* the last line is the outermost caller: walk back for call order */
	for (size_t i = loc->nlines; i-- > 0;) {
		const struct line_rec *line = &p->lines[loc->first_line + i];
		const char *name = p->strings[p->functions[line->function_idx].name];

		if (i != loc->nlines - 1) {
			err = buf_append(b, ";", 1);
			if (err)
				return err;
		}
		err = folded_append_name(b, name[0] ? name : "[unknown]", suffix);
		if (err)
			return err;
	}
	return 0;
}

static int folded_stack(const struct pprof *p, const struct sample_rec *s, struct buf *b)
{
	const char *comm = NULL;
	int err;

	for (size_t i = 0; i < s->nlabels; i++) {
		const struct label_rec *l = &p->labels[s->first_label + i];

		if (l->key == p->s_comm && l->str) {
			comm = p->strings[l->str];
			break;
		}
	}
	/* keep the first field the process name, so readers can rely on it */
	err = folded_append_name(b, comm && comm[0] ? comm : "[unknown]", NULL);
	/* sample_locs is leaf first: print from the root */
	for (size_t i = s->nlocs; !err && i-- > 0;) {
		err = buf_append(b, ";", 1);
		if (!err)
			err = folded_append_location(p, b, p->sample_locs[s->first_loc + i]);
	}
	return err;
}

int pprof__write_folded(struct pprof *p, struct buf *out)
{
	_cleanup_free_ struct folded_line *lines = NULL;
	struct buf scratch = {};
	size_t start, nlines = 0, i;
	int err = 0;

	if (!p || !out)
		return -EINVAL;
	start = out->len;
	lines = calloc(p->nsamples + 1, sizeof(*lines));
	if (!lines)
		return -ENOMEM;

	for (i = 0; i < p->nsamples; i++) {
		buf_reset(&scratch);
		err = folded_stack(p, &p->samples[i], &scratch);
		if (err)
			goto out;
		lines[nlines].stack = strndup((const char *)scratch.data, scratch.len);
		if (!lines[nlines].stack) {
			err = -ENOMEM;
			goto out;
		}
		/* off-CPU and wall stacks weigh their time, not their
		 * switches or samples */
		lines[nlines++].count = p->opts.type != PPROF_TYPE_CPU ? p->samples[i].value :
									 p->samples[i].count;
	}
	qsort(lines, nlines, sizeof(*lines), folded_line_cmp);

	/* samples that differed only in labels other than comm now sit next
	 * to each other */
	for (i = 0; i < nlines;) {
		int64_t total = lines[i].count;
		size_t j;

		for (j = i + 1; j < nlines && strcmp(lines[i].stack, lines[j].stack) == 0; j++) {
			if (lines[j].count > INT64_MAX - total) {
				err = -EOVERFLOW;
				goto out;
			}
			total += lines[j].count;
		}
		err = buf_printf(out, "%s %" PRId64 "\n", lines[i].stack, total);
		if (err)
			goto out;
		i = j;
	}
out:
	for (i = 0; i < nlines; i++)
		free(lines[i].stack);
	buf_release(&scratch);
	if (err) {
		out->len = start;
		if (out->data)
			out->data[start] = 0;
	}
	return err;
}
