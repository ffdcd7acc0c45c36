/* The pprof builder (core/pprof.h): interning mappings, functions,
 * locations, strings and samples into the tables of core/pprof_tables.h,
 * which pprof_encode.c and pprof_folded.c turn into output. */
#include "core/pprof.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/macros.h"
#include "common/utf8.h"
#include "core/pprof_tables.h"

/* ---- hashing ---- */

uint64_t pprof_hash_mix(uint64_t h, uint64_t v)
{
	/* murmur3 finalizer over the running state: cheap and avalanches */
	h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

uint64_t pprof_hash_bytes(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */

	for (size_t i = 0; i < n; i++) {
		h ^= (uint8_t)s[i];
		h *= 0x100000001b3ULL;
	}
	return pprof_hash_mix(h, n);
}

int pprof_index_reserve(struct index_table *t)
{
	struct slot *slots;
	size_t cap;

	if (t->cap && (t->used + 1) * 4 <= t->cap * 3)
		return 0;
	cap = t->cap ? t->cap * 2 : 64;
	if (cap > SIZE_MAX / sizeof(*slots))
		return -ENOMEM;
	slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < t->cap; i++) {
		size_t j;

		if (!t->slots[i].idx1)
			continue;
		for (j = t->slots[i].hash & (cap - 1); slots[j].idx1; j = (j + 1) & (cap - 1))
			;
		slots[j] = t->slots[i];
	}
	free(t->slots);
	t->slots = slots;
	t->cap = cap;
	return 0;
}

struct slot *pprof_index_find(const struct index_table *t, uint64_t hash, pprof_index_eq_fn eq,
			      const void *ctx, const void *key)
{
	for (size_t j = hash & (t->cap - 1);; j = (j + 1) & (t->cap - 1)) {
		struct slot *s = &t->slots[j];

		if (!s->idx1)
			return s;
		if (s->hash == hash && eq(ctx, s->idx1 - 1, key))
			return s;
	}
}

void pprof_index_insert(struct index_table *t, struct slot *s, uint64_t hash, size_t idx)
{
	s->hash = hash;
	s->idx1 = (uint32_t)idx + 1;
	t->used++;
}

void pprof_index_release(struct index_table *t)
{
	free(t->slots);
	t->slots = NULL;
	t->cap = t->used = 0;
}

int pprof_array_reserve(void **arr, size_t *cap, size_t len, size_t extra, size_t max, size_t elem)
{
	size_t want, newcap;
	void *mem;

	if (extra > max || len > max - extra)
		return -E2BIG;
	want = len + extra;
	if (want <= *cap)
		return 0;
	newcap = *cap ? *cap : 16;
	while (newcap < want)
		newcap = newcap > max / 2 ? max : newcap * 2;
	if (newcap > SIZE_MAX / elem)
		return -ENOMEM;
	mem = realloc(*arr, newcap * elem);
	if (!mem)
		return -ENOMEM;
	*arr = mem;
	*cap = newcap;
	return 0;
}

/* ---- strings ---- */

struct string_key {
	const char *s;
	size_t n;
};

static bool string_eq(const void *ctx, uint32_t idx, const void *key)
{
	const struct pprof *p = ctx;
	const struct string_key *k = key;

	return strncmp(p->strings[idx], k->s, k->n) == 0 && p->strings[idx][k->n] == 0;
}

/* Interns s (NULL is ""); returns 0 or -errno, index in *idx. */
static int string_intern(struct pprof *p, const char *s, uint32_t *idx)
{
	_cleanup_free_ char *copy = NULL;
	struct string_key key;
	struct slot *slot;
	uint64_t hash;
	int err;

	if (!s)
		s = "";
	key.s = s;
	key.n = strnlen(s, PPROF_MAX_STRING_LEN + 1);
	if (key.n > PPROF_MAX_STRING_LEN)
		return -E2BIG;

	/* Sanitize before lookup so that the invalid and the sanitized
	 * spelling intern to one entry. */
	for (size_t i = 0; i < key.n;) {
		size_t len = utf8_seq_len((const uint8_t *)s + i, key.n - i);

		if (!len) {
			copy = utf8_sanitized_dup(s, key.n, key.n, NULL);
			if (!copy)
				return -ENOMEM;
			key.s = copy;
			break;
		}
		i += len;
	}

	err = pprof_index_reserve(&p->string_index);
	if (err)
		return err;
	hash = pprof_hash_bytes(key.s, key.n);
	slot = pprof_index_find(&p->string_index, hash, string_eq, p, &key);
	if (slot->idx1) {
		*idx = slot->idx1 - 1;
		return 0;
	}
	if (p->string_bytes + key.n > PPROF_MAX_STRING_BYTES)
		return -E2BIG;
	err = ARRAY_RESERVE(p, strings, 1, PPROF_MAX_ENTRIES);
	if (err)
		return err;
	if (!copy) {
		copy = strndup(key.s, key.n);
		if (!copy)
			return -ENOMEM;
	}
	p->strings[p->nstrings] = TAKE_PTR(copy);
	pprof_index_insert(&p->string_index, slot, hash, p->nstrings);
	*idx = (uint32_t)p->nstrings++;
	p->string_bytes += key.n;
	return 0;
}

/* ---- lifecycle ---- */

int pprof__new(const struct pprof_opts *opts, struct pprof **out)
{
	struct pprof *p;
	uint32_t empty;
	int err;

	if (!opts || (unsigned)opts->type >= PPROF_TYPE_MAX ||
	    (opts->type == PPROF_TYPE_CPU &&
	     (opts->period_ns == 0 || opts->period_ns > INT64_MAX)) ||
	    opts->duration_nanos < 0)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->opts = *opts;
	/* "" must come first: index 0 means "unset" in every string field */
	err = string_intern(p, "", &empty);
	if (!err)
		err = string_intern(p, "samples", &p->s_samples);
	if (!err)
		err = string_intern(p, "count", &p->s_count);
	if (!err)
		err = string_intern(p, pprof_type_names[p->opts.type], &p->s_type);
	if (!err)
		err = string_intern(p, "nanoseconds", &p->s_nanoseconds);
	if (!err)
		err = string_intern(p, "comm", &p->s_comm);
	if (err) {
		pprof__free(p);
		return err;
	}
	*out = p;
	return 0;
}

void pprof__set_duration(struct pprof *p, int64_t duration_nanos)
{
	if (p && duration_nanos >= 0)
		p->opts.duration_nanos = duration_nanos;
}

void pprof__free(struct pprof *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nstrings; i++)
		free(p->strings[i]);
	free(p->strings);
	pprof_index_release(&p->string_index);
	free(p->mappings);
	pprof_index_release(&p->mapping_index);
	free(p->functions);
	pprof_index_release(&p->function_index);
	free(p->locations);
	pprof_index_release(&p->location_index);
	free(p->lines);
	free(p->samples);
	pprof_index_release(&p->sample_index);
	free(p->sample_locs);
	free(p->labels);
	free(p);
}

size_t pprof__sample_count(const struct pprof *p)
{
	return p ? p->nsamples : 0;
}

size_t pprof__bytes(const struct pprof *p)
{
	size_t n;

	if (!p)
		return 0;
	const struct index_table *idx[] = { &p->string_index, &p->mapping_index,
					    &p->function_index, &p->location_index,
					    &p->sample_index };

	/* what is allocated, not what is used: the arrays grow by doubling */
	n = sizeof(*p) + p->strings_cap * sizeof(*p->strings) + p->string_bytes + p->nstrings +
	    p->mappings_cap * sizeof(*p->mappings) + p->functions_cap * sizeof(*p->functions) +
	    p->locations_cap * sizeof(*p->locations) + p->lines_cap * sizeof(*p->lines) +
	    p->samples_cap * sizeof(*p->samples) + p->sample_locs_cap * sizeof(*p->sample_locs) +
	    p->labels_cap * sizeof(*p->labels);
	for (size_t i = 0; i < ARRAY_SIZE(idx); i++)
		n += idx[i]->cap * sizeof(*idx[i]->slots);
	return n;
}

void pprof__stats(const struct pprof *p, struct pprof_stats *st)
{
	*st = (struct pprof_stats){};
	if (!p)
		return;
	st->strings = p->nstrings;
	st->string_bytes = p->string_bytes;
	st->mappings = p->nmappings;
	st->functions = p->nfunctions;
	st->locations = p->nlocations;
	st->lines = p->nlines;
	st->samples = p->nsamples;
	st->sample_frames = p->nsample_locs;
	st->sample_labels = p->nlabels;
}

/* ---- mappings ---- */

static bool mapping_eq(const void *ctx, uint32_t idx, const void *key)
{
	const struct pprof *p = ctx;
	return p->mappings[idx].key == *(const uint64_t *)key;
}

uint64_t pprof__mapping(struct pprof *p, uint64_t key, const struct pprof_mapping *m)
{
	struct mapping_rec rec = { .key = key };
	struct slot *slot;
	uint64_t hash = pprof_hash_mix(0, key);
	int err;

	if (!p || !m) {
		errno = EINVAL;
		return 0;
	}
	err = pprof_index_reserve(&p->mapping_index);
	if (err)
		goto fail;
	slot = pprof_index_find(&p->mapping_index, hash, mapping_eq, p, &key);
	if (slot->idx1)
		return slot->idx1;

	rec.memory_start = m->memory_start;
	rec.memory_limit = m->memory_limit;
	rec.file_offset = m->file_offset;
	rec.has_functions = m->has_functions;
	rec.has_filenames = m->has_filenames;
	rec.has_line_numbers = m->has_line_numbers;
	rec.has_inline_frames = m->has_inline_frames;
	rec.is_kernel = m->is_kernel;
	rec.is_jit = m->is_jit;
	err = string_intern(p, m->filename, &rec.filename);
	if (!err)
		err = string_intern(p, m->build_id, &rec.build_id);
	if (!err)
		err = ARRAY_RESERVE(p, mappings, 1, PPROF_MAX_ENTRIES);
	if (err)
		goto fail;
	/* string_intern may have grown other tables, never this one */
	p->mappings[p->nmappings] = rec;
	pprof_index_insert(&p->mapping_index, slot, hash, p->nmappings);
	return ++p->nmappings;
fail:
	errno = -err;
	return 0;
}

/* ---- functions ---- */

static bool function_eq(const void *ctx, uint32_t idx, const void *key)
{
	const struct pprof *p = ctx;
	const struct function_rec *a = &p->functions[idx], *b = key;

	return a->name == b->name && a->system_name == b->system_name &&
	       a->filename == b->filename;
}

/* Interns (name, system name, file); returns 0 or -errno, index in *idx. */
static int function_intern(struct pprof *p, const char *name, const char *system_name,
			   const char *filename, uint32_t *idx)
{
	struct function_rec rec;
	struct slot *slot;
	uint64_t hash;
	int err;

	err = string_intern(p, name, &rec.name);
	if (!err)
		err = string_intern(p, filename, &rec.filename);
	/* without a mangled name, it repeats name, as Go's runtime does */
	rec.system_name = rec.name;
	if (!err && system_name)
		err = string_intern(p, system_name, &rec.system_name);
	if (err)
		return err;

	err = pprof_index_reserve(&p->function_index);
	if (err)
		return err;
	hash = pprof_hash_mix(pprof_hash_mix(pprof_hash_mix(0, rec.name), rec.system_name), rec.filename);
	slot = pprof_index_find(&p->function_index, hash, function_eq, p, &rec);
	if (slot->idx1) {
		*idx = slot->idx1 - 1;
		return 0;
	}
	err = ARRAY_RESERVE(p, functions, 1, PPROF_MAX_ENTRIES);
	if (err)
		return err;
	p->functions[p->nfunctions] = rec;
	pprof_index_insert(&p->function_index, slot, hash, p->nfunctions);
	*idx = (uint32_t)p->nfunctions++;
	return 0;
}

/* ---- locations ---- */

struct location_key {
	uint64_t mapping_id, address;
};

static bool location_eq(const void *ctx, uint32_t idx, const void *key)
{
	const struct pprof *p = ctx;
	const struct location_key *k = key;

	return p->locations[idx].mapping_id == k->mapping_id &&
	       p->locations[idx].address == k->address;
}

uint64_t pprof__location(struct pprof *p, uint64_t mapping_id, uint64_t address,
			 const struct pprof_line *lines, size_t n)
{
	struct location_key key = { mapping_id, address };
	struct line_rec line_recs[PPROF_MAX_LINES];
	struct location_rec *known = NULL;
	size_t nrecs = 0;
	struct slot *slot;
	uint64_t hash;
	int err;

	if (!p || (n && !lines) || mapping_id > p->nmappings) {
		errno = EINVAL;
		return 0;
	}
	if (n > PPROF_MAX_LINES) {
		errno = E2BIG;
		return 0;
	}
	err = pprof_index_reserve(&p->location_index);
	if (err)
		goto fail;
	hash = pprof_hash_mix(pprof_hash_mix(0, mapping_id), address);
	slot = pprof_index_find(&p->location_index, hash, location_eq, p, &key);
	if (slot->idx1) {
		known = &p->locations[slot->idx1 - 1];
		/* an address first seen unnamed is named once its object has
		 * names (a debug file fetched meanwhile, debuginfod.h) */
		if (known->nlines || !n)
			return slot->idx1;
	}

	for (size_t i = 0; i < n; i++) {
		/* A line without a function would reach readers as a frame
		 * with no name; dropping it lets them fall back to the
		 * address. */
		if (!lines[i].function)
			continue;
		err = function_intern(p, lines[i].function, lines[i].system_name,
				      lines[i].filename, &line_recs[nrecs].function_idx);
		if (err)
			goto fail;
		line_recs[nrecs++].line = lines[i].line;
	}
	/* most locations carry one or two lines; the cap only stops a
	 * runaway caller, it is not a per-location limit */
	err = ARRAY_RESERVE(p, lines, nrecs, PPROF_MAX_ENTRIES * (size_t)4);
	if (!err && !known)
		err = ARRAY_RESERVE(p, locations, 1, PPROF_MAX_ENTRIES);
	if (err)
		goto fail;

	if (nrecs)
		memcpy(p->lines + p->nlines, line_recs, nrecs * sizeof(*line_recs));
	if (known) {
		known->first_line = p->nlines;
		known->nlines = (uint32_t)nrecs;
		p->nlines += nrecs;
		return slot->idx1;
	}
	p->locations[p->nlocations] = (struct location_rec){
		.mapping_id = mapping_id,
		.address = address,
		.first_line = p->nlines,
		.nlines = (uint32_t)nrecs,
	};
	p->nlines += nrecs;
	if (!nrecs && mapping_id)
		p->mappings[mapping_id - 1].has_unsymbolized = true;
	pprof_index_insert(&p->location_index, slot, hash, p->nlocations);
	return ++p->nlocations;
fail:
	errno = -err;
	return 0;
}

/* ---- samples ---- */

struct sample_key {
	const uint64_t *locs;
	size_t nlocs;
	const struct label_rec *labels;
	size_t nlabels;
};

static bool sample_eq(const void *ctx, uint32_t idx, const void *key)
{
	const struct pprof *p = ctx;
	const struct sample_rec *s = &p->samples[idx];
	const struct sample_key *k = key;

	/* the arrays may still be NULL while empty: memcmp(NULL, ..., 0) is UB */
	if (s->nlocs != k->nlocs || s->nlabels != k->nlabels)
		return false;
	if (k->nlocs && memcmp(p->sample_locs + s->first_loc, k->locs,
			       k->nlocs * sizeof(*k->locs)) != 0)
		return false;
	return !k->nlabels || memcmp(p->labels + s->first_label, k->labels,
				     k->nlabels * sizeof(*k->labels)) == 0;
}

static int label_cmp(const void *a, const void *b)
{
	const struct label_rec *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	if (x->str != y->str)
		return x->str < y->str ? -1 : 1;
	if (x->num != y->num)
		return x->num < y->num ? -1 : 1;
	if (x->num_unit != y->num_unit)
		return x->num_unit < y->num_unit ? -1 : 1;
	return 0;
}

int pprof__add_sample(struct pprof *p, const uint64_t *locs, size_t n, int64_t count,
		      const struct pprof_label *labels, size_t nlabels)
{
	if (!p || p->opts.type != PPROF_TYPE_CPU || count <= 0)
		return -EINVAL;
	/* value[1] = count * period must stay representable */
	if (count > INT64_MAX / (int64_t)p->opts.period_ns)
		return -EOVERFLOW;
	return pprof__add_sample_value(p, locs, n, count, count * (int64_t)p->opts.period_ns,
				       labels, nlabels);
}

int pprof__add_sample_value(struct pprof *p, const uint64_t *locs, size_t n, int64_t count,
			    int64_t value, const struct pprof_label *labels, size_t nlabels)
{
	struct label_rec label_recs[PPROF_MAX_LABELS];
	struct sample_key key;
	struct slot *slot;
	uint64_t hash = 0;
	int err;

	if (!p || (n && !locs) || (nlabels && !labels) || count <= 0 || value < 0)
		return -EINVAL;
	if (n > PPROF_MAX_STACK_DEPTH || nlabels > PPROF_MAX_LABELS)
		return -E2BIG;
	for (size_t i = 0; i < n; i++) {
		if (locs[i] == 0 || locs[i] > p->nlocations)
			return -EINVAL;
		hash = pprof_hash_mix(hash, locs[i]);
	}

	for (size_t i = 0; i < nlabels; i++) {
		struct label_rec *rec = &label_recs[i];

		if (!labels[i].key || !labels[i].key[0])
			return -EINVAL;
		/* padding takes part in memcmp; zero it */
		memset(rec, 0, sizeof(*rec));
		err = string_intern(p, labels[i].key, &rec->key);
		if (err)
			return err;
		if (labels[i].str) {
			err = string_intern(p, labels[i].str, &rec->str);
		} else {
			rec->num = labels[i].num;
			err = string_intern(p, labels[i].num_unit, &rec->num_unit);
		}
		if (err)
			return err;
	}
	/* label order must not split one sample into two */
	qsort(label_recs, nlabels, sizeof(*label_recs), label_cmp);
	for (size_t i = 0; i < nlabels; i++) {
		hash = pprof_hash_mix(hash, label_recs[i].key);
		hash = pprof_hash_mix(hash, label_recs[i].str);
		hash = pprof_hash_mix(hash, (uint64_t)label_recs[i].num);
		hash = pprof_hash_mix(hash, label_recs[i].num_unit);
	}
	hash = pprof_hash_mix(hash, n);

	key = (struct sample_key){ locs, n, label_recs, nlabels };

	err = pprof_index_reserve(&p->sample_index);
	if (err)
		return err;
	slot = pprof_index_find(&p->sample_index, hash, sample_eq, p, &key);
	if (slot->idx1) {
		struct sample_rec *s = &p->samples[slot->idx1 - 1];

		if (count > INT64_MAX - s->count || value > INT64_MAX - s->value)
			return -EOVERFLOW;
		s->count += count;
		s->value += value;
		return 0;
	}
	err = ARRAY_RESERVE(p, sample_locs, n, PPROF_MAX_SAMPLE_FRAMES);
	if (!err)
		err = ARRAY_RESERVE(p, labels, nlabels, PPROF_MAX_SAMPLE_FRAMES);
	if (!err)
		err = ARRAY_RESERVE(p, samples, 1, PPROF_MAX_ENTRIES);
	if (err)
		return err;

	if (n)
		memcpy(p->sample_locs + p->nsample_locs, locs, n * sizeof(*locs));
	if (nlabels)
		memcpy(p->labels + p->nlabels, label_recs, nlabels * sizeof(*label_recs));
	p->samples[p->nsamples] = (struct sample_rec){
		.first_loc = p->nsample_locs,
		.first_label = p->nlabels,
		.nlocs = (uint32_t)n,
		.nlabels = (uint32_t)nlabels,
		.count = count,
		.value = value,
	};
	p->nsample_locs += n;
	p->nlabels += nlabels;
	pprof_index_insert(&p->sample_index, slot, hash, p->nsamples);
	p->nsamples++;
	return 0;
}
