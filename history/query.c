/* The queries' common parts (history/query.h) and the merge of a range
 * into a pprof (history__merge). */
#include "history/query.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/macros.h"
#include "history/record.h"
#include "history/varint.h"
#include "labels/matcher.h"

int query__begin(struct history *h, const struct history_filter *f, struct query *q)
{
	int err;

	*q = (struct query){ .h = h, .f = f, .t0 = clock__mono_ns() };
	if (!h)
		return -EINVAL;
	err = history_reader__get(h, &q->db, &q->generation);
	if (err)
		return err;
	/* one snapshot: windows and the rows they use, as of one commit */
	err = hdb__exec(q->db, "BEGIN");
	if (!err)
		err = resolver__init(&q->r, q->db);
	if (err) {
		history_reader__put(h, q->db, q->generation);
		q->db = NULL;
	}
	return err;
}

int query__end(struct query *q, int err)
{
	if (q->db) {
		resolver__release(&q->r);
		history_reader__put(q->h, q->db, q->generation);
		q->db = NULL;
	}
	u64map_release(&q->pass);
	if (q->h) {
		history__count(q->h, HC_QUERIES, 1);
		history__count(q->h, HC_QUERY_NS, clock__mono_ns() - q->t0);
		if (err)
			history__count(q->h, HC_QUERY_FAILURES, 1);
		if (q->corrupt)
			history__count(q->h, HC_DROP0 + HISTORY_DROP_CORRUPT_RECORD, q->corrupt);
	}
	return err;
}

void query__corrupt(struct query *q)
{
	q->corrupt++;
}

static bool pid_matches(const struct labels *ls, int32_t pid)
{
	char want[16];
	const char *v = labels__get(ls, "pid");

	snprintf(want, sizeof(want), "%" PRId32, pid);
	return v && !strcmp(v, want);
}

int query__passes(struct query *q, uint64_t labelset, const struct labels **ls)
{
	uint64_t v;
	int err = resolver__labels(&q->r, labelset, ls);

	if (err)
		return err;
	if (u64map_get(&q->pass, labelset, &v))
		return v == 1;
	v = !q->f || ((q->f->pid < 0 || pid_matches(*ls, q->f->pid)) &&
		      matcher_set__matches(q->f->match, *ls)) ? 1 : 2;
	err = u64map_set(&q->pass, labelset, v);
	return err ? err : v == 1;
}

int query__scan(struct query *q, int64_t from_ns, int64_t to_ns, enum pprof_type type,
		bool records, scan_fn fn, void *ctx)
{
	char sql[512];
	sqlite3_stmt *st;
	int err, rc;

	/* windows overlapping [from, to): the start index bounds the scan
	 * on both sides (no window is longer than the longest) */
	snprintf(sql, sizeof(sql),
		 "SELECT w.id, w.start_ns, w.duration_ns, w.period_ns, s.labelset, s.samples%s"
		 " FROM windows w LEFT JOIN series s ON s.window = w.id"
		 " WHERE w.start_ns < ?2 AND w.start_ns + w.duration_ns > ?1 AND w.type = ?3"
		 " AND w.start_ns >= ?1 - (SELECT coalesce(max(duration_ns), 0) FROM windows)"
		 " ORDER BY w.start_ns, w.id, s.seq",
		 records ? ", s.record" : "");
	err = hdb__errno(sqlite3_prepare_v2(q->db, sql, -1, &st, NULL));
	if (err)
		return err;
	sqlite3_bind_int64(st, 1, from_ns);
	sqlite3_bind_int64(st, 2, to_ns);
	sqlite3_bind_text(st, 3, (unsigned)type < PPROF_TYPE_MAX ? pprof_type_names[type] : "",
			  -1, SQLITE_STATIC);
	while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct scan_row row = {
			.window = sqlite3_column_int64(st, 0),
			.start_ns = sqlite3_column_int64(st, 1),
			.duration_ns = sqlite3_column_int64(st, 2),
			.period_ns = sqlite3_column_int64(st, 3),
			.labelset = (uint64_t)sqlite3_column_int64(st, 4),
			.samples = (uint64_t)sqlite3_column_int64(st, 5),
		};

		if (records) {
			row.record = sqlite3_column_blob(st, 6);
			row.record_len = (size_t)sqlite3_column_bytes(st, 6);
		}
		err = fn(ctx, &row);
	}
	if (!err && rc != SQLITE_DONE)
		err = hdb__errno(rc);
	sqlite3_finalize(st);
	return err;
}

/* ---- merge ---- */

/* One (series, stack, sample labels) sum over the range. */
struct agg_entry {
	uint64_t series, stack, labels; /* series 0: an empty slot */
	uint64_t count, value;          /* value: off-CPU nanoseconds */
};

struct merge {
	struct query *q;
	struct pprof *into;
	enum pprof_type type;    /* into's: the windows read */
	uint64_t period;
	struct history_merge_info info;
	int64_t last_window;
	struct record rec;
	struct agg_entry *agg;
	size_t agg_cap, agg_used;
	struct u64map stacks;    /* stack id -> offset in locs + 1 */
	uint64_t *locs;          /* per stack: depth, then pprof location ids */
	size_t nlocs, locs_cap;
	struct u64map locations; /* location id -> pprof location id */
	struct u64map mappings;  /* mapping id -> pprof mapping id */
	size_t max_bytes;        /* the filter's; 0: none */
};

static uint64_t agg_hash(uint64_t a, uint64_t b, uint64_t c)
{
	return u64map_mix(a * 0x9e3779b97f4a7c15ull ^ u64map_mix(b ^ u64map_mix(c)));
}

/* The merge's memory: its aggregate and what the builder holds. */
static bool over_bound(const struct merge *m, size_t agg_cap)
{
	return m->max_bytes &&
	       agg_cap * sizeof(struct agg_entry) + pprof__bytes(m->into) > m->max_bytes;
}

static int agg_grow(struct merge *m)
{
	size_t cap = m->agg_cap ? m->agg_cap * 2 : 4096;
	struct agg_entry *v;

	if (over_bound(m, cap))
		return -EFBIG;
	v = calloc(cap, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < m->agg_cap; i++) {
		const struct agg_entry *e = &m->agg[i];
		size_t j;

		if (!e->series)
			continue;
		for (j = agg_hash(e->series, e->stack, e->labels) & (cap - 1); v[j].series;
		     j = (j + 1) & (cap - 1))
			;
		v[j] = *e;
	}
	free(m->agg);
	m->agg = v;
	m->agg_cap = cap;
	return 0;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return b > UINT64_MAX - a ? UINT64_MAX : a + b;
}

static int agg_add(struct merge *m, uint64_t series, uint64_t stack, uint64_t labels,
		   uint64_t count, uint64_t value)
{
	size_t j;

	int err;

	if ((m->agg_used + 1) * 4 > m->agg_cap * 3 && (err = agg_grow(m)))
		return err;
	for (j = agg_hash(series, stack, labels) & (m->agg_cap - 1);;
	     j = (j + 1) & (m->agg_cap - 1)) {
		struct agg_entry *e = &m->agg[j];

		if (!e->series) {
			*e = (struct agg_entry){ series, stack, labels, count, value };
			m->agg_used++;
			return 0;
		}
		if (e->series == series && e->stack == stack && e->labels == labels) {
			e->count = sat_add(e->count, count);
			e->value = sat_add(e->value, value);
			return 0;
		}
	}
}

static int merge_row(void *ctx, const struct scan_row *row)
{
	struct merge *m = ctx;
	const struct labels *ls;
	int pass, err;

	if (!row->labelset)
		return 0; /* a window without samples */
	pass = query__passes(m->q, row->labelset, &ls);
	if (pass == -EBADMSG) {
		query__corrupt(m->q);
		m->info.corrupt_records++;
		return 0;
	}
	if (pass <= 0)
		return pass;
	err = record__decode(row->record, row->record_len, &m->rec);
	if (err == -EBADMSG) {
		query__corrupt(m->q);
		m->info.corrupt_records++;
		return 0;
	}
	if (err)
		return err;
	for (size_t i = 0; i < m->rec.n; i++) {
		const struct record_entry *e = &m->rec.v[i];
		uint64_t count = e->count;

		/* into's period: the CPU time of a window sampled at another
		 * rate stays right (off-CPU values are time already) */
		if (m->type == PPROF_TYPE_CPU && row->period_ns > 0 &&
		    (uint64_t)row->period_ns != m->period) {
			unsigned __int128 c = (unsigned __int128)count * (uint64_t)row->period_ns;

			c = (c + m->period / 2) / m->period;
			count = c > INT64_MAX ? INT64_MAX : c ? (uint64_t)c : 1;
		}
		err = agg_add(m, row->labelset, e->stack, e->labels, count, e->value);
		if (err)
			return err;
		m->info.samples += e->count;
	}
	m->info.records++;
	if (row->window != m->last_window) {
		m->info.windows++;
		m->last_window = row->window;
		if (!m->info.start_ns || row->start_ns < m->info.start_ns)
			m->info.start_ns = row->start_ns;
		if (row->start_ns + row->duration_ns > m->info.end_ns)
			m->info.end_ns = row->start_ns + row->duration_ns;
	}
	return 0;
}

/* Mapping row id as a mapping of into: keys with the top bit set, so that
 * they keep apart from a live window's own (core/profiler.c's are far
 * below). */
static int pprof_mapping_of(struct merge *m, uint64_t id, uint64_t *out)
{
	struct body_mapping bm;
	struct pprof_mapping pm;
	const void *p;
	size_t len;
	int err;

	if (u64map_get(&m->mappings, id, out))
		return 0;
	err = resolver__body(&m->q->r, HISTORY_MAPPING, id, &p, &len);
	if (!err)
		err = body__decode_mapping(p, len, &bm);
	if (err)
		return err;
	pm = (struct pprof_mapping){
		.memory_start = bm.memory_start,
		.memory_limit = bm.memory_limit,
		.file_offset = bm.file_offset,
		.has_functions = bm.flags & BODY_MAPPING_HAS_FUNCTIONS,
		.has_filenames = bm.flags & BODY_MAPPING_HAS_FILENAMES,
		.has_line_numbers = bm.flags & BODY_MAPPING_HAS_LINE_NUMBERS,
		.has_inline_frames = bm.flags & BODY_MAPPING_HAS_INLINE_FRAMES,
		.is_kernel = bm.flags & BODY_MAPPING_IS_KERNEL,
		.is_jit = bm.flags & BODY_MAPPING_IS_JIT,
	};
	err = resolver__string(&m->q->r, bm.filename, &pm.filename);
	if (!err)
		err = resolver__string(&m->q->r, bm.build_id, &pm.build_id);
	if (err)
		return err;
	*out = pprof__mapping(m->into, (1ull << 63) | id, &pm);
	if (!*out)
		return -errno;
	return u64map_set(&m->mappings, id, *out);
}

static int pprof_location_of(struct merge *m, uint64_t id, uint64_t *out)
{
	struct pprof_line lines[BODY_MAX_LINES] = { 0 };
	struct body_location bl;
	uint64_t mapping = 0;
	const void *p;
	size_t len;
	int err;

	if (u64map_get(&m->locations, id, out))
		return 0;
	err = resolver__body(&m->q->r, HISTORY_LOCATION, id, &p, &len);
	if (!err)
		err = body__decode_location(p, len, &bl);
	if (!err && bl.mapping)
		err = pprof_mapping_of(m, bl.mapping, &mapping);
	for (size_t k = 0; !err && k < bl.nlines; k++) {
		uint64_t name, file, system_name;

		err = resolver__body(&m->q->r, HISTORY_FUNCTION, bl.lines[k].function, &p, &len);
		if (!err)
			err = body__decode_function(p, len, &name, &file, &system_name);
		if (!err)
			err = resolver__string(&m->q->r, name, &lines[k].function);
		if (!err)
			err = resolver__string(&m->q->r, file, &lines[k].filename);
		if (!err && system_name) /* else NULL: the name */
			err = resolver__string(&m->q->r, system_name, &lines[k].system_name);
		lines[k].line = bl.lines[k].line;
	}
	if (err)
		return err;
	if (mapping) {
		struct pprof_mapping pm;

		pprof__mapping_at(m->into, mapping, &pm, NULL);
		bl.address = pm.memory_start + (uint64_t)unzigzag(bl.address);
	}
	*out = pprof__location(m->into, mapping, bl.address, lines, bl.nlines);
	if (!*out)
		return -errno;
	return u64map_set(&m->locations, id, *out);
}

/* The pprof location ids of stack id, as (depth, ids...) in m->locs. */
static int pprof_stack_of(struct merge *m, uint64_t id, const uint64_t **out)
{
	uint64_t ids[BODY_MAX_DEPTH];
	const void *p;
	size_t len, n;
	uint64_t off;
	int err;

	if (u64map_get(&m->stacks, id, &off)) {
		*out = m->locs + off - 1;
		return 0;
	}
	err = resolver__body(&m->q->r, HISTORY_STACK, id, &p, &len);
	if (!err)
		err = body__decode_ids(p, len, ids, BODY_MAX_DEPTH, &n);
	if (!err && m->nlocs + n + 1 > m->locs_cap) {
		size_t cap = MAX(m->locs_cap * 2, m->nlocs + n + 1 + 4096);
		uint64_t *v = realloc(m->locs, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		m->locs = v;
		m->locs_cap = cap;
	}
	for (size_t i = 0; !err && i < n; i++)
		err = pprof_location_of(m, ids[i], &m->locs[m->nlocs + 1 + i]);
	if (err)
		return err;
	m->locs[m->nlocs] = n;
	err = u64map_set(&m->stacks, id, m->nlocs + 1);
	if (err)
		return err;
	*out = m->locs + m->nlocs;
	m->nlocs += n + 1;
	return 0;
}

/* The sample labels of e, then its series' labels as a live
 * whole-window profile has them (core/window.c): pid a number. */
static int entry_labels(struct merge *m, const struct agg_entry *e, struct pprof_label *labels,
			size_t *n)
{
	const struct labels *ls;
	size_t own;
	int err = 0;

	*n = 0;
	if (e->labels)
		err = resolver__labelset(&m->q->r, e->labels, labels, PPROF_MAX_LABELS, n);
	if (!err)
		err = resolver__labels(&m->q->r, e->series, &ls);
	if (err)
		return err;
	own = *n;
	for (size_t i = 0; i < ls->n && *n < PPROF_MAX_LABELS; i++) {
		const struct label *l = &ls->v[i];
		struct pprof_label *pl = &labels[*n];
		bool shared = false;
		char *end;

		for (size_t j = 0; j < own && !shared; j++)
			shared = !strcmp(labels[j].key, l->name);
		if (shared)
			continue;
		*pl = (struct pprof_label){ .key = l->name, .str = l->value };
		if (!strcmp(l->name, "pid")) {
			errno = 0;
			pl->num = strtoll(l->value, &end, 10);
			if (!errno && end != l->value && !*end)
				pl->str = NULL;
		}
		(*n)++;
	}
	return 0;
}

static int merge_emit(struct merge *m)
{
	struct pprof_label labels[PPROF_MAX_LABELS];

	for (size_t i = 0; i < m->agg_cap; i++) {
		const struct agg_entry *e = &m->agg[i];
		const uint64_t *stack;
		size_t nlabels;
		int err;

		if (!e->series)
			continue;
		err = pprof_stack_of(m, e->stack, &stack);
		if (!err)
			err = entry_labels(m, e, labels, &nlabels);
		if (!err && m->type == PPROF_TYPE_CPU)
			err = pprof__add_sample(m->into, stack + 1, stack[0],
						(int64_t)MIN(e->count, (uint64_t)INT64_MAX), labels,
						nlabels);
		else if (!err)
			err = pprof__add_sample_value(m->into, stack + 1, stack[0],
						      (int64_t)MIN(e->count, (uint64_t)INT64_MAX),
						      (int64_t)MIN(e->value, (uint64_t)INT64_MAX),
						      labels, nlabels);
		/* a row that does not decode, or a label key "" from one: its
		 * samples are left out, the rest goes on */
		if (err == -EBADMSG || err == -EINVAL) {
			query__corrupt(m->q);
			m->info.corrupt_records++;
			continue;
		}
		if (err)
			return err;
		/* the builder's size is a sum over its tables: cheap enough */
		if (!(i & 1023) && over_bound(m, m->agg_cap))
			return -EFBIG;
	}
	return over_bound(m, m->agg_cap) ? -EFBIG : 0;
}

int history__merge(struct history *h, int64_t from_ns, int64_t to_ns,
		   const struct history_filter *f, struct pprof *into,
		   struct history_merge_info *info)
{
	struct query q;
	struct merge m = { .q = &q, .into = into, .last_window = -1,
			   .max_bytes = f ? f->max_bytes : 0 };
	struct pprof_opts o;
	int err;

	if (!h || !into || from_ns >= to_ns)
		return -EINVAL;
	pprof__opts(into, &o);
	m.period = o.period_ns;
	m.type = o.type;
	if (m.type == PPROF_TYPE_CPU && !m.period)
		return -EINVAL;
	err = query__begin(h, f, &q);
	if (!err)
		err = query__scan(&q, from_ns, to_ns, m.type, true, merge_row, &m);
	if (!err)
		err = merge_emit(&m);
	err = query__end(&q, err);
	if (info)
		*info = m.info;
	record__release(&m.rec);
	free(m.agg);
	free(m.locs);
	u64map_release(&m.stacks);
	u64map_release(&m.locations);
	u64map_release(&m.mappings);
	return err;
}
