/* Reading a built profile back (core/pprof.h, "Reading"): the tables of
 * core/pprof_tables.h seen through the public structs, for modules that
 * store or copy profiles without knowing the tables. */
#include "core/pprof.h"

#include <errno.h>

#include "core/pprof_tables.h"

void pprof__opts(const struct pprof *p, struct pprof_opts *o)
{
	*o = p ? p->opts : (struct pprof_opts){ 0 };
}

int pprof__sample_at(const struct pprof *p, size_t i, struct pprof_sample *s)
{
	const struct sample_rec *r;

	if (!p || i >= p->nsamples)
		return -EINVAL;
	r = &p->samples[i];
	*s = (struct pprof_sample){
		.locs = p->sample_locs + r->first_loc,
		.nlocs = r->nlocs,
		.count = r->count,
		.value = r->value,
		.nlabels = r->nlabels,
	};
	return 0;
}

int pprof__sample_label(const struct pprof *p, size_t i, size_t j, struct pprof_label *l)
{
	const struct label_rec *r;

	if (!p || i >= p->nsamples || j >= p->samples[i].nlabels)
		return -EINVAL;
	r = &p->labels[p->samples[i].first_label + j];
	/* str 0 ("") is how a numeric label is recorded */
	*l = (struct pprof_label){
		.key = p->strings[r->key],
		.str = r->str ? p->strings[r->str] : NULL,
		.num = r->num,
		.num_unit = r->num_unit ? p->strings[r->num_unit] : NULL,
	};
	return 0;
}

size_t pprof__location_count(const struct pprof *p)
{
	return p ? p->nlocations : 0;
}

int pprof__location_at(const struct pprof *p, uint64_t id, struct pprof_location *loc)
{
	const struct location_rec *r;

	if (!p || id == 0 || id > p->nlocations)
		return -EINVAL;
	r = &p->locations[id - 1];
	*loc = (struct pprof_location){
		.mapping_id = r->mapping_id,
		.address = r->address,
		.nlines = r->nlines,
	};
	return 0;
}

int pprof__location_line(const struct pprof *p, uint64_t id, size_t k, struct pprof_line *line)
{
	const struct location_rec *r;
	const struct line_rec *l;
	const struct function_rec *f;

	if (!p || id == 0 || id > p->nlocations || k >= p->locations[id - 1].nlines)
		return -EINVAL;
	r = &p->locations[id - 1];
	l = &p->lines[r->first_line + k];
	f = &p->functions[l->function_idx];
	*line = (struct pprof_line){
		.function = p->strings[f->name],
		.filename = p->strings[f->filename],
		.line = l->line,
		.system_name = p->strings[f->system_name],
	};
	return 0;
}

size_t pprof__mapping_count(const struct pprof *p)
{
	return p ? p->nmappings : 0;
}

int pprof__mapping_at(const struct pprof *p, uint64_t id, struct pprof_mapping *m, uint64_t *key)
{
	const struct mapping_rec *r;

	if (!p || id == 0 || id > p->nmappings)
		return -EINVAL;
	r = &p->mappings[id - 1];
	*m = (struct pprof_mapping){
		.memory_start = r->memory_start,
		.memory_limit = r->memory_limit,
		.file_offset = r->file_offset,
		.filename = p->strings[r->filename],
		.build_id = p->strings[r->build_id],
		.has_functions = r->has_functions,
		.has_filenames = r->has_filenames,
		.has_line_numbers = r->has_line_numbers,
		.has_inline_frames = r->has_inline_frames,
		.is_kernel = r->is_kernel,
		.is_jit = r->is_jit,
	};
	if (key)
		*key = r->key;
	return 0;
}
