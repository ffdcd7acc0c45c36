#include "pprof.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "common/macros.h"
#include "common/utf8.h"
#include "proto/profile.pb-c.h"

/* Records refer to strings and functions by index (uint32: every table is
 * bounded far below 2^32); the ids on the wire are index + 1. */

struct mapping_rec {
	uint64_t key;
	uint64_t memory_start, memory_limit, file_offset;
	uint32_t filename, build_id;
	bool has_functions, has_filenames, has_line_numbers, has_inline_frames;
	bool is_kernel;
	/* some location in it has no lines: has_functions would make readers
	 * skip symbolizing it, so it is cleared on encode */
	bool has_unsymbolized;
};

struct function_rec {
	uint32_t name, system_name, filename;
};

struct line_rec {
	uint32_t function_idx;
	int64_t line;
};

struct location_rec {
	uint64_t mapping_id, address;
	size_t first_line;
	uint32_t nlines;
};

struct label_rec {
	uint32_t key, str, num_unit;
	int64_t num;
};

struct sample_rec {
	size_t first_loc, first_label;
	uint32_t nlocs, nlabels;
	int64_t count;
};

/* Open addressing over record indexes; idx1 == 0 marks an empty slot. */
struct slot {
	uint64_t hash;
	uint32_t idx1;
};

struct index_table {
	struct slot *slots;
	size_t cap; /* power of two, or 0 before first use */
	size_t used;
};

struct pprof {
	struct pprof_opts opts;

	char **strings;
	size_t nstrings, strings_cap, string_bytes;
	struct index_table string_index;

	struct mapping_rec *mappings;
	size_t nmappings, mappings_cap;
	struct index_table mapping_index;

	struct function_rec *functions;
	size_t nfunctions, functions_cap;
	struct index_table function_index;

	struct location_rec *locations;
	size_t nlocations, locations_cap;
	struct index_table location_index;
	struct line_rec *lines;
	size_t nlines, lines_cap;

	struct sample_rec *samples;
	size_t nsamples, samples_cap;
	struct index_table sample_index;
	uint64_t *sample_locs; /* leaf first, as in the proto */
	size_t nsample_locs, sample_locs_cap;
	struct label_rec *labels;
	size_t nlabels, labels_cap;

	/* string indexes interned by pprof__new */
	uint32_t s_samples, s_count, s_cpu, s_nanoseconds, s_comm;
};

/* ---- hashing ---- */

static uint64_t hash_mix(uint64_t h, uint64_t v)
{
	/* murmur3 finalizer over the running state: cheap and avalanches */
	h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

static uint64_t hash_bytes(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */

	for (size_t i = 0; i < n; i++) {
		h ^= (uint8_t)s[i];
		h *= 0x100000001b3ULL;
	}
	return hash_mix(h, n);
}

typedef bool (*index_eq_fn)(const struct pprof *p, uint32_t idx, const void *key);

/* Makes room for one insertion, so a following index_find always has an
 * empty slot to return. */
static int index_reserve(struct index_table *t)
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

/* The slot holding a record equal to key, or the empty slot where it goes. */
static struct slot *index_find(const struct index_table *t, uint64_t hash, index_eq_fn eq,
			       const struct pprof *p, const void *key)
{
	for (size_t j = hash & (t->cap - 1);; j = (j + 1) & (t->cap - 1)) {
		struct slot *s = &t->slots[j];

		if (!s->idx1)
			return s;
		if (s->hash == hash && eq(p, s->idx1 - 1, key))
			return s;
	}
}

static void index_insert(struct index_table *t, struct slot *s, uint64_t hash, size_t idx)
{
	s->hash = hash;
	s->idx1 = (uint32_t)idx + 1;
	t->used++;
}

static void index_release(struct index_table *t)
{
	free(t->slots);
	t->slots = NULL;
	t->cap = t->used = 0;
}

/* Grows *arr so that it holds at least len + extra elements of size elem,
 * refusing to pass max elements. */
static int array_reserve(void **arr, size_t *cap, size_t len, size_t extra, size_t max, size_t elem)
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

#define ARRAY_RESERVE(p, field, extra, max)                                   \
	array_reserve((void **)&(p)->field, &(p)->field##_cap, (p)->n##field, \
		      (extra), (max), sizeof(*(p)->field))

/* ---- strings ---- */

struct string_key {
	const char *s;
	size_t n;
};

static bool string_eq(const struct pprof *p, uint32_t idx, const void *key)
{
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

	err = index_reserve(&p->string_index);
	if (err)
		return err;
	hash = hash_bytes(key.s, key.n);
	slot = index_find(&p->string_index, hash, string_eq, p, &key);
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
	index_insert(&p->string_index, slot, hash, p->nstrings);
	*idx = (uint32_t)p->nstrings++;
	p->string_bytes += key.n;
	return 0;
}

/* ---- lifecycle ---- */

struct pprof *pprof__new(const struct pprof_opts *opts)
{
	struct pprof *p;
	uint32_t empty;
	int err;

	if (!opts || opts->period_ns == 0 || opts->period_ns > INT64_MAX ||
	    opts->duration_nanos < 0) {
		errno = EINVAL;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		errno = ENOMEM;
		return NULL;
	}
	p->opts = *opts;
	/* "" must come first: index 0 means "unset" in every string field */
	err = string_intern(p, "", &empty);
	if (!err)
		err = string_intern(p, "samples", &p->s_samples);
	if (!err)
		err = string_intern(p, "count", &p->s_count);
	if (!err)
		err = string_intern(p, "cpu", &p->s_cpu);
	if (!err)
		err = string_intern(p, "nanoseconds", &p->s_nanoseconds);
	if (!err)
		err = string_intern(p, "comm", &p->s_comm);
	if (err) {
		pprof__free(p);
		errno = -err;
		return NULL;
	}
	return p;
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
	index_release(&p->string_index);
	free(p->mappings);
	index_release(&p->mapping_index);
	free(p->functions);
	index_release(&p->function_index);
	free(p->locations);
	index_release(&p->location_index);
	free(p->lines);
	free(p->samples);
	index_release(&p->sample_index);
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

static bool mapping_eq(const struct pprof *p, uint32_t idx, const void *key)
{
	return p->mappings[idx].key == *(const uint64_t *)key;
}

uint64_t pprof__mapping(struct pprof *p, uint64_t key, const struct pprof_mapping *m)
{
	struct mapping_rec rec = { .key = key };
	struct slot *slot;
	uint64_t hash = hash_mix(0, key);
	int err;

	if (!p || !m) {
		errno = EINVAL;
		return 0;
	}
	err = index_reserve(&p->mapping_index);
	if (err)
		goto fail;
	slot = index_find(&p->mapping_index, hash, mapping_eq, p, &key);
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
	err = string_intern(p, m->filename, &rec.filename);
	if (!err)
		err = string_intern(p, m->build_id, &rec.build_id);
	if (!err)
		err = ARRAY_RESERVE(p, mappings, 1, PPROF_MAX_ENTRIES);
	if (err)
		goto fail;
	/* string_intern may have grown other tables, never this one */
	p->mappings[p->nmappings] = rec;
	index_insert(&p->mapping_index, slot, hash, p->nmappings);
	return ++p->nmappings;
fail:
	errno = -err;
	return 0;
}

/* ---- functions ---- */

static bool function_eq(const struct pprof *p, uint32_t idx, const void *key)
{
	const struct function_rec *a = &p->functions[idx], *b = key;

	return a->name == b->name && a->system_name == b->system_name &&
	       a->filename == b->filename;
}

/* Interns (name, system name, file); returns 0 or -errno, index in *idx. */
static int function_intern(struct pprof *p, const char *name, const char *filename, uint32_t *idx)
{
	struct function_rec rec;
	struct slot *slot;
	uint64_t hash;
	int err;

	err = string_intern(p, name, &rec.name);
	if (!err)
		err = string_intern(p, filename, &rec.filename);
	if (err)
		return err;
	/* pprof_line carries one name; Go's runtime also repeats it */
	rec.system_name = rec.name;

	err = index_reserve(&p->function_index);
	if (err)
		return err;
	hash = hash_mix(hash_mix(hash_mix(0, rec.name), rec.system_name), rec.filename);
	slot = index_find(&p->function_index, hash, function_eq, p, &rec);
	if (slot->idx1) {
		*idx = slot->idx1 - 1;
		return 0;
	}
	err = ARRAY_RESERVE(p, functions, 1, PPROF_MAX_ENTRIES);
	if (err)
		return err;
	p->functions[p->nfunctions] = rec;
	index_insert(&p->function_index, slot, hash, p->nfunctions);
	*idx = (uint32_t)p->nfunctions++;
	return 0;
}

/* ---- locations ---- */

struct location_key {
	uint64_t mapping_id, address;
};

static bool location_eq(const struct pprof *p, uint32_t idx, const void *key)
{
	const struct location_key *k = key;

	return p->locations[idx].mapping_id == k->mapping_id &&
	       p->locations[idx].address == k->address;
}

uint64_t pprof__location(struct pprof *p, uint64_t mapping_id, uint64_t address,
			 const struct pprof_line *lines, size_t n)
{
	struct location_key key = { mapping_id, address };
	struct line_rec line_recs[PPROF_MAX_LINES];
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
	err = index_reserve(&p->location_index);
	if (err)
		goto fail;
	hash = hash_mix(hash_mix(0, mapping_id), address);
	slot = index_find(&p->location_index, hash, location_eq, p, &key);
	if (slot->idx1)
		return slot->idx1;

	for (size_t i = 0; i < n; i++) {
		/* A line without a function would reach readers as a frame
		 * with no name; dropping it lets them fall back to the
		 * address. */
		if (!lines[i].function)
			continue;
		err = function_intern(p, lines[i].function, lines[i].filename,
				      &line_recs[nrecs].function_idx);
		if (err)
			goto fail;
		line_recs[nrecs++].line = lines[i].line;
	}
	/* most locations carry one or two lines; the cap only stops a
	 * runaway caller, it is not a per-location limit */
	err = ARRAY_RESERVE(p, lines, nrecs, PPROF_MAX_ENTRIES * (size_t)4);
	if (!err)
		err = ARRAY_RESERVE(p, locations, 1, PPROF_MAX_ENTRIES);
	if (err)
		goto fail;

	if (nrecs)
		memcpy(p->lines + p->nlines, line_recs, nrecs * sizeof(*line_recs));
	p->locations[p->nlocations] = (struct location_rec){
		.mapping_id = mapping_id,
		.address = address,
		.first_line = p->nlines,
		.nlines = (uint32_t)nrecs,
	};
	p->nlines += nrecs;
	if (!nrecs && mapping_id)
		p->mappings[mapping_id - 1].has_unsymbolized = true;
	index_insert(&p->location_index, slot, hash, p->nlocations);
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

static bool sample_eq(const struct pprof *p, uint32_t idx, const void *key)
{
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
	struct label_rec label_recs[PPROF_MAX_LABELS];
	struct sample_key key;
	struct slot *slot;
	uint64_t hash = 0;
	int64_t limit;
	int err;

	if (!p || (n && !locs) || (nlabels && !labels) || count <= 0)
		return -EINVAL;
	if (n > PPROF_MAX_STACK_DEPTH || nlabels > PPROF_MAX_LABELS)
		return -E2BIG;
	for (size_t i = 0; i < n; i++) {
		if (locs[i] == 0 || locs[i] > p->nlocations)
			return -EINVAL;
		hash = hash_mix(hash, locs[i]);
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
		hash = hash_mix(hash, label_recs[i].key);
		hash = hash_mix(hash, label_recs[i].str);
		hash = hash_mix(hash, (uint64_t)label_recs[i].num);
		hash = hash_mix(hash, label_recs[i].num_unit);
	}
	hash = hash_mix(hash, n);

	/* value[1] = count * period must stay representable */
	limit = INT64_MAX / (int64_t)p->opts.period_ns;
	key = (struct sample_key){ locs, n, label_recs, nlabels };

	err = index_reserve(&p->sample_index);
	if (err)
		return err;
	slot = index_find(&p->sample_index, hash, sample_eq, p, &key);
	if (slot->idx1) {
		struct sample_rec *s = &p->samples[slot->idx1 - 1];

		if (count > limit - s->count)
			return -EOVERFLOW;
		s->count += count;
		return 0;
	}
	if (count > limit)
		return -EOVERFLOW;
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
	};
	p->nsample_locs += n;
	p->nlabels += nlabels;
	index_insert(&p->sample_index, slot, hash, p->nsamples);
	p->nsamples++;
	return 0;
}

/* ---- encoding ---- */

/* Streams protobuf-c's packed output through deflate into a struct buf, so
 * the uncompressed profile never has to exist in memory at once. */
struct gzip_sink {
	ProtobufCBuffer base; /* first: protobuf-c hands back &base */
	z_stream zs;
	struct buf *out;
	int err;
};

#define GZIP_CHUNK 65536

static int gzip_sink_run(struct gzip_sink *sink, int flush)
{
	for (;;) {
		int ret, err;

		err = buf_reserve(sink->out, GZIP_CHUNK);
		if (err)
			return err;
		sink->zs.next_out = sink->out->data + sink->out->len;
		sink->zs.avail_out = GZIP_CHUNK;
		ret = deflate(&sink->zs, flush);
		sink->out->len += GZIP_CHUNK - sink->zs.avail_out;
		if (ret == Z_STREAM_END)
			return 0;
		if (ret != Z_OK && ret != Z_BUF_ERROR)
			return -EIO;
		/* done once deflate has consumed all input and has room left */
		if (flush == Z_NO_FLUSH && sink->zs.avail_in == 0 && sink->zs.avail_out > 0)
			return 0;
	}
}

static void gzip_sink_append(ProtobufCBuffer *buffer, size_t len, const uint8_t *data)
{
	struct gzip_sink *sink = (struct gzip_sink *)buffer;

	/* avail_in is a uInt: feed in pieces */
	while (!sink->err && len) {
		size_t chunk = MIN(len, (size_t)1 << 30);

		sink->zs.next_in = (Bytef *)data;
		sink->zs.avail_in = (uInt)chunk;
		sink->err = gzip_sink_run(sink, Z_NO_FLUSH);
		data += chunk;
		len -= chunk;
	}
}

static int gzip_message(const ProtobufCMessage *msg, struct buf *out)
{
	struct gzip_sink sink = { .base.append = gzip_sink_append, .out = out };
	int err;

	/* windowBits 15 + 16 selects the gzip wrapper instead of zlib's */
	if (deflateInit2(&sink.zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	protobuf_c_message_pack_to_buffer(msg, &sink.base);
	err = sink.err;
	if (!err)
		err = gzip_sink_run(&sink, Z_FINISH);
	deflateEnd(&sink.zs);
	if (!err)
		out->data[out->len] = 0; /* buf keeps data NUL-terminated */
	return err;
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
		a->values[2 * i + 1] = r->count * (int64_t)p->opts.period_ns;
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
	sample_cpu.type = p->s_cpu;
	sample_cpu.unit = p->s_nanoseconds;
	period_type = sample_cpu;
	prof.n_sample_type = ARRAY_SIZE(sample_types);
	prof.sample_type = sample_types;
	prof.period_type = &period_type;
	prof.period = (int64_t)p->opts.period_ns;
	prof.time_nanos = p->opts.time_nanos;
	prof.duration_nanos = p->opts.duration_nanos;
	prof.default_sample_type = p->s_cpu;

	err = encode_fill(p, &arrays, &prof);
	if (err)
		goto cleanup;
	size = protobuf_c_message_get_packed_size(&prof.base);
	if (packed_size)
		*packed_size = size;
	if (size > max_size) {
		err = -EFBIG;
		goto cleanup;
	}
	err = gzip_message(&prof.base, out);
cleanup:
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
		const struct mapping_rec *r = &src->mappings[i];
		struct pprof_mapping m = {
			.memory_start = r->memory_start,
			.memory_limit = r->memory_limit,
			.file_offset = r->file_offset,
			.filename = src->strings[r->filename],
			.build_id = src->strings[r->build_id],
			.has_functions = r->has_functions,
			.has_filenames = r->has_filenames,
			.has_line_numbers = r->has_line_numbers,
			.has_inline_frames = r->has_inline_frames,
			.is_kernel = r->is_kernel,
		};

		if (!mapping_ids[i])
			continue;
		mapping_ids[i] = pprof__mapping(dst, r->key, &m);
		if (!mapping_ids[i])
			return -errno;
	}
	for (size_t i = 0; i < src->nlocations; i++) {
		const struct location_rec *r = &src->locations[i];

		if (!location_ids[i])
			continue;
		for (size_t j = 0; j < r->nlines; j++) {
			const struct line_rec *l = &src->lines[r->first_line + j];
			const struct function_rec *f = &src->functions[l->function_idx];

			lines[j] = (struct pprof_line){
				.function = src->strings[f->name],
				.filename = src->strings[f->filename],
				.line = l->line,
			};
		}
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
		for (size_t j = 0; j < s->nlabels; j++) {
			const struct label_rec *l = &src->labels[s->first_label + j];

			/* str 0 ("") is how a numeric label is recorded */
			labels[j] = (struct pprof_label){
				.key = src->strings[l->key],
				.str = l->str ? src->strings[l->str] : NULL,
				.num = l->num,
				.num_unit = l->num_unit ? src->strings[l->num_unit] : NULL,
			};
		}
		err = pprof__add_sample(dst, locs, s->nlocs, s->count, labels, s->nlabels);
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
	part = pprof__new(&p->opts);
	if (!part)
		return -errno;
	err = copy_samples(p, first, count, part);
	if (!err)
		err = encode_profile(part, out, max_uncompressed, uncompressed_len);
	pprof__free(part);
	return err;
}

/* ---- folded stacks ---- */

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
			goto cleanup;
		lines[nlines].stack = strndup((const char *)scratch.data, scratch.len);
		if (!lines[nlines].stack) {
			err = -ENOMEM;
			goto cleanup;
		}
		lines[nlines++].count = p->samples[i].count;
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
				goto cleanup;
			}
			total += lines[j].count;
		}
		err = buf_printf(out, "%s %" PRId64 "\n", lines[i].stack, total);
		if (err)
			goto cleanup;
		i = j;
	}
cleanup:
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
