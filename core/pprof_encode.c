/* The gzipped protobuf encoding of a pprof builder (pprof__encode,
 * pprof__encode_samples): its tables turned into a
 * perftools.profiles.Profile, packed straight through deflate. */
#include "core/pprof.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "common/gzip.h"
#include "common/macros.h"
#include "core/pprof_tables.h"
#include "proto/profile.pb-c.h"

/* protobuf-c's packed output streamed through gzip (common/gzip.h), so
 * the uncompressed profile never has to exist in memory at once. */
struct gzip_sink {
	ProtobufCBuffer base; /* first: protobuf-c hands back &base */
	struct gzip gz;
};

static void gzip_sink_append(ProtobufCBuffer *buffer, size_t len, const uint8_t *data)
{
	gzip__write(&((struct gzip_sink *)buffer)->gz, data, len);
}

static int gzip_message(const ProtobufCMessage *msg, struct buf *out)
{
	struct gzip_sink sink = { .base.append = gzip_sink_append };
	int err = gzip__begin(&sink.gz, out);

	if (err)
		return err;
	protobuf_c_message_pack_to_buffer(msg, &sink.base);
	return gzip__end(&sink.gz);
}

/* Every array the Profile message points into, freed together. */
struct encode_arrays {
	Perftools__Profiles__Mapping *mappings;
	Perftools__Profiles__Mapping **mapping_ptrs;
	Perftools__Profiles__Function *functions;
	Perftools__Profiles__Function **function_ptrs;
	Perftools__Profiles__Line *lines;
	Perftools__Profiles__Line **line_ptrs;
	Perftools__Profiles__Location *locations;
	Perftools__Profiles__Location **location_ptrs;
	Perftools__Profiles__Label *labels;
	Perftools__Profiles__Label **label_ptrs;
	Perftools__Profiles__Sample *samples;
	Perftools__Profiles__Sample **sample_ptrs;
	int64_t *values;
};

static void encode_arrays_release(struct encode_arrays *a)
{
	free(a->mappings);
	free(a->mapping_ptrs);
	free(a->functions);
	free(a->function_ptrs);
	free(a->lines);
	free(a->line_ptrs);
	free(a->locations);
	free(a->location_ptrs);
	free(a->labels);
	free(a->label_ptrs);
	free(a->samples);
	free(a->sample_ptrs);
	free(a->values);
}

/* calloc(0) may return NULL; one spare element keeps NULL meaning ENOMEM */
#define ALLOC_ARRAY(ptr, n) ((ptr) = calloc((n) + 1, sizeof(*(ptr))))

static int encode_fill(const struct pprof *p, struct encode_arrays *a,
		       Perftools__Profiles__Profile *prof)
{
	if (!ALLOC_ARRAY(a->mappings, p->nmappings) || !ALLOC_ARRAY(a->mapping_ptrs, p->nmappings) ||
	    !ALLOC_ARRAY(a->functions, p->nfunctions) ||
	    !ALLOC_ARRAY(a->function_ptrs, p->nfunctions) || !ALLOC_ARRAY(a->lines, p->nlines) ||
	    !ALLOC_ARRAY(a->line_ptrs, p->nlines) || !ALLOC_ARRAY(a->locations, p->nlocations) ||
	    !ALLOC_ARRAY(a->location_ptrs, p->nlocations) || !ALLOC_ARRAY(a->labels, p->nlabels) ||
	    !ALLOC_ARRAY(a->label_ptrs, p->nlabels) || !ALLOC_ARRAY(a->samples, p->nsamples) ||
	    !ALLOC_ARRAY(a->sample_ptrs, p->nsamples) || !ALLOC_ARRAY(a->values, 2 * p->nsamples))
		return -ENOMEM;

	for (size_t i = 0; i < p->nmappings; i++) {
		const struct mapping_rec *r = &p->mappings[i];
		Perftools__Profiles__Mapping *m = &a->mappings[i];

		perftools__profiles__mapping__init(m);
		m->id = i + 1;
		m->memory_start = r->memory_start;
		m->memory_limit = r->memory_limit;
		m->file_offset = r->file_offset;
		m->filename = r->filename;
		m->build_id = r->build_id;
		m->has_functions = r->has_functions && !r->has_unsymbolized;
		m->has_filenames = r->has_filenames;
		m->has_line_numbers = r->has_line_numbers;
		m->has_inline_frames = r->has_inline_frames;
		a->mapping_ptrs[i] = m;
	}
	for (size_t i = 0; i < p->nfunctions; i++) {
		const struct function_rec *r = &p->functions[i];
		Perftools__Profiles__Function *f = &a->functions[i];

		perftools__profiles__function__init(f);
		f->id = i + 1;
		f->name = r->name;
		f->system_name = r->system_name;
		f->filename = r->filename;
		a->function_ptrs[i] = f;
	}
	for (size_t i = 0; i < p->nlines; i++) {
		Perftools__Profiles__Line *l = &a->lines[i];

		perftools__profiles__line__init(l);
		l->function_id = p->lines[i].function_idx + 1;
		l->line = p->lines[i].line;
		a->line_ptrs[i] = l;
	}
	for (size_t i = 0; i < p->nlocations; i++) {
		const struct location_rec *r = &p->locations[i];
		Perftools__Profiles__Location *l = &a->locations[i];

		perftools__profiles__location__init(l);
		l->id = i + 1;
		l->mapping_id = r->mapping_id;
		l->address = r->address;
		l->n_line = r->nlines;
		l->line = r->nlines ? a->line_ptrs + r->first_line : NULL;
		a->location_ptrs[i] = l;
	}
	for (size_t i = 0; i < p->nlabels; i++) {
		const struct label_rec *r = &p->labels[i];
		Perftools__Profiles__Label *l = &a->labels[i];

		perftools__profiles__label__init(l);
		l->key = r->key;
		l->str = r->str;
		l->num = r->str ? 0 : r->num;
		l->num_unit = r->num_unit;
		a->label_ptrs[i] = l;
	}
	for (size_t i = 0; i < p->nsamples; i++) {
		const struct sample_rec *r = &p->samples[i];
		Perftools__Profiles__Sample *s = &a->samples[i];

		perftools__profiles__sample__init(s);
		s->n_location_id = r->nlocs;
		/* const only on our side: protobuf-c never writes while packing */
		s->location_id = r->nlocs ? p->sample_locs + r->first_loc : NULL;
		a->values[2 * i] = r->count;
		a->values[2 * i + 1] = r->value;
		s->n_value = 2;
		s->value = &a->values[2 * i];
		s->n_label = r->nlabels;
		s->label = r->nlabels ? a->label_ptrs + r->first_label : NULL;
		a->sample_ptrs[i] = s;
	}

	prof->n_mapping = p->nmappings;
	prof->mapping = a->mapping_ptrs;
	prof->n_function = p->nfunctions;
	prof->function = a->function_ptrs;
	prof->n_location = p->nlocations;
	prof->location = a->location_ptrs;
	prof->n_sample = p->nsamples;
	prof->sample = a->sample_ptrs;
	prof->n_string_table = p->nstrings;
	prof->string_table = p->strings;
	return 0;
}

/* Encodes p, refusing (-EFBIG) past max_size uncompressed bytes; the packed
 * size goes to *packed_size when not NULL, also on -EFBIG. */
static int encode_profile(struct pprof *p, struct buf *out, size_t max_size, size_t *packed_size)
{
	Perftools__Profiles__Profile prof = PERFTOOLS__PROFILES__PROFILE__INIT;
	Perftools__Profiles__ValueType sample_count = PERFTOOLS__PROFILES__VALUE_TYPE__INIT;
	Perftools__Profiles__ValueType sample_cpu = PERFTOOLS__PROFILES__VALUE_TYPE__INIT;
	Perftools__Profiles__ValueType period_type = PERFTOOLS__PROFILES__VALUE_TYPE__INIT;
	Perftools__Profiles__ValueType *sample_types[2] = { &sample_count, &sample_cpu };
	struct encode_arrays arrays = {};
	size_t start, size;
	int err;

	if (!p || !out)
		return -EINVAL;
	start = out->len;

	sample_count.type = p->s_samples;
	sample_count.unit = p->s_count;
	sample_cpu.type = p->s_type;
	sample_cpu.unit = p->s_nanoseconds;
	period_type = sample_cpu;
	prof.n_sample_type = ARRAY_SIZE(sample_types);
	prof.sample_type = sample_types;
	/* a context switch has no fixed weight: off-CPU profiles have no
	 * period, which readers accept (go tool pprof shows none) */
	if (p->opts.type == PPROF_TYPE_CPU) {
		prof.period_type = &period_type;
		prof.period = (int64_t)p->opts.period_ns;
	}
	prof.time_nanos = p->opts.time_nanos;
	prof.duration_nanos = p->opts.duration_nanos;
	prof.default_sample_type = p->s_type;

	err = encode_fill(p, &arrays, &prof);
	if (err)
		goto out;
	size = protobuf_c_message_get_packed_size(&prof.base);
	if (packed_size)
		*packed_size = size;
	if (size > max_size) {
		err = -EFBIG;
		goto out;
	}
	err = gzip_message(&prof.base, out);
out:
	encode_arrays_release(&arrays);
	if (err) {
		/* leave out as the caller gave it */
		out->len = start;
		if (out->data)
			out->data[start] = 0;
	}
	return err;
}

int pprof__encode(struct pprof *p, struct buf *out)
{
	int err = encode_profile(p, out, PPROF_MAX_ENCODED_SIZE, NULL);

	return err == -EFBIG ? -E2BIG : err;
}

/* ---- one range of samples as a profile of its own ---- */

/* Re-adds samples [first, first + count) of src to dst through the public
 * interning calls, so dst holds only what they use, with sequential ids.
 * Mappings and locations are added in src's order, not first use, so the
 * main executable stays the first mapping (readers name the profile after
 * it). */
static int copy_samples(const struct pprof *src, size_t first, size_t count, struct pprof *dst)
{
	_cleanup_free_ uint64_t *mapping_ids = calloc(src->nmappings + 1, sizeof(*mapping_ids));
	_cleanup_free_ uint64_t *location_ids = calloc(src->nlocations + 1, sizeof(*location_ids));
	_cleanup_free_ uint64_t *locs = NULL;
	struct pprof_line lines[PPROF_MAX_LINES];
	struct pprof_label labels[PPROF_MAX_LABELS];
	size_t max_depth = 0;

	if (!mapping_ids || !location_ids)
		return -ENOMEM;
	/* mark what the range uses: 1 for now, the new id below */
	for (size_t i = first; i < first + count; i++) {
		const struct sample_rec *s = &src->samples[i];

		max_depth = MAX(max_depth, (size_t)s->nlocs);
		for (size_t j = 0; j < s->nlocs; j++) {
			uint64_t loc = src->sample_locs[s->first_loc + j];

			location_ids[loc - 1] = 1;
			if (src->locations[loc - 1].mapping_id)
				mapping_ids[src->locations[loc - 1].mapping_id - 1] = 1;
		}
	}
	for (size_t i = 0; i < src->nmappings; i++) {
		struct pprof_mapping m;
		uint64_t key;

		if (!mapping_ids[i])
			continue;
		pprof__mapping_at(src, i + 1, &m, &key);
		mapping_ids[i] = pprof__mapping(dst, key, &m);
		if (!mapping_ids[i])
			return -errno;
	}
	for (size_t i = 0; i < src->nlocations; i++) {
		const struct location_rec *r = &src->locations[i];

		if (!location_ids[i])
			continue;
		for (size_t j = 0; j < r->nlines; j++)
			pprof__location_line(src, i + 1, j, &lines[j]);
		location_ids[i] = pprof__location(dst, r->mapping_id ? mapping_ids[r->mapping_id - 1] : 0,
						  r->address, lines, r->nlines);
		if (!location_ids[i])
			return -errno;
	}
	locs = calloc(max_depth + 1, sizeof(*locs));
	if (!locs)
		return -ENOMEM;
	for (size_t i = first; i < first + count; i++) {
		const struct sample_rec *s = &src->samples[i];
		int err;

		for (size_t j = 0; j < s->nlocs; j++)
			locs[j] = location_ids[src->sample_locs[s->first_loc + j] - 1];
		for (size_t j = 0; j < s->nlabels; j++)
			pprof__sample_label(src, i, j, &labels[j]);
		err = pprof__add_sample_value(dst, locs, s->nlocs, s->count, s->value, labels,
					      s->nlabels);
		if (err)
			return err;
	}
	return 0;
}

int pprof__encode_samples(struct pprof *p, size_t first, size_t count, size_t max_uncompressed,
			  struct buf *out, size_t *uncompressed_len)
{
	struct pprof *part;
	int err;

	if (!p || !out || first > p->nsamples || count > p->nsamples - first)
		return -EINVAL;
	if (!max_uncompressed || max_uncompressed > PPROF_MAX_ENCODED_SIZE)
		max_uncompressed = PPROF_MAX_ENCODED_SIZE;
	/* the whole profile needs no copy; its tables are all in use but for
	 * entries no sample refers to, which readers accept */
	if (first == 0 && count == p->nsamples)
		return encode_profile(p, out, max_uncompressed, uncompressed_len);
	err = pprof__new(&p->opts, &part);
	if (err)
		return err;
	err = copy_samples(p, first, count, part);
	if (!err)
		err = encode_profile(part, out, max_uncompressed, uncompressed_len);
	pprof__free(part);
	return err;
}
