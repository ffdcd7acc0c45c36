/* Storing a window (history__put, history/history.h): each series'
 * profile turned into dictionary rows and one record. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/macros.h"
#include "history/history_int.h"
#include "history/record.h"
#include "history/varint.h"

/* What one put reuses across its series. */
struct put_ctx {
	struct history *h;
	int64_t now;             /* the window's start in seconds: last_seen */
	struct pprof *p;         /* the series being stored */
	uint64_t *loc_ids;       /* p's location id - 1 -> row id (0: not yet) */
	uint64_t *map_ids;       /* p's mapping id - 1 -> row id */
	size_t loc_cap, map_cap;
	struct buf body;
	uint64_t stack[PPROF_MAX_STACK_DEPTH];
	struct body_label labels[PPROF_MAX_LABELS];
	struct record_entry *entries;
	size_t nentries, entries_cap;
	struct buf rec;
	uint64_t seq;            /* the next series' number in the window */
	bool values;             /* store each sample's second value (not cpu) */
};

static void put_ctx_release(struct put_ctx *c)
{
	free(c->loc_ids);
	free(c->map_ids);
	free(c->entries);
	buf_release(&c->body);
	buf_release(&c->rec);
}

/* The body in c->body interned as a row of kind. */
static int intern_body(struct put_ctx *c, enum history_kind kind, uint64_t *id)
{
	return dict__intern(c->h->dict, kind, c->body.data, c->body.len, c->now, id);
}

static int intern_string(struct put_ctx *c, const char *s, uint64_t *id)
{
	size_t n = s ? strnlen(s, BODY_MAX_STRING + 1) : 0;

	if (n > BODY_MAX_STRING)
		n = BODY_MAX_STRING; /* pprof's own bound: never past it */
	return dict__intern(c->h->dict, HISTORY_STRING, n ? s : "", n, c->now, id);
}

/* Room for n ids in *ids, zeroed (a per-series table). */
static int id_table(uint64_t **ids, size_t *cap, size_t n)
{
	if (n > *cap) {
		uint64_t *v = realloc(*ids, n * sizeof(*v));

		if (!v)
			return -ENOMEM;
		*ids = v;
		*cap = n;
	}
	if (n)
		memset(*ids, 0, n * sizeof(**ids));
	return 0;
}

static int mapping_row(struct put_ctx *c, uint64_t id, uint64_t *row)
{
	struct pprof_mapping m;
	struct body_mapping bm;
	int err;

	if (c->map_ids[id - 1]) {
		*row = c->map_ids[id - 1];
		return 0;
	}
	err = pprof__mapping_at(c->p, id, &m, NULL);
	bm = (struct body_mapping){
		.memory_start = m.memory_start,
		.memory_limit = m.memory_limit,
		.file_offset = m.file_offset,
		.flags = (m.has_functions ? BODY_MAPPING_HAS_FUNCTIONS : 0) |
			 (m.has_filenames ? BODY_MAPPING_HAS_FILENAMES : 0) |
			 (m.has_line_numbers ? BODY_MAPPING_HAS_LINE_NUMBERS : 0) |
			 (m.has_inline_frames ? BODY_MAPPING_HAS_INLINE_FRAMES : 0) |
			 (m.is_kernel ? BODY_MAPPING_IS_KERNEL : 0) |
			 (m.is_jit ? BODY_MAPPING_IS_JIT : 0),
	};
	if (!err)
		err = intern_string(c, m.filename, &bm.filename);
	if (!err)
		err = intern_string(c, m.build_id, &bm.build_id);
	buf_reset(&c->body);
	if (!err)
		err = body__mapping(&c->body, &bm);
	if (!err)
		err = intern_body(c, HISTORY_MAPPING, row);
	if (!err)
		c->map_ids[id - 1] = *row;
	return err;
}

static int location_row(struct put_ctx *c, uint64_t id, uint64_t *row)
{
	struct body_location bl = { 0 };
	struct pprof_location loc;
	int err;

	if (c->loc_ids[id - 1]) {
		*row = c->loc_ids[id - 1];
		return 0;
	}
	err = pprof__location_at(c->p, id, &loc);
	if (err)
		return err;
	bl.address = loc.address;
	if (loc.mapping_id) {
		struct pprof_mapping m;

		err = mapping_row(c, loc.mapping_id, &bl.mapping);
		if (!err)
			err = pprof__mapping_at(c->p, loc.mapping_id, &m, NULL);
		/* a few bytes instead of eight in every location (body.h) */
		bl.address = zigzag((int64_t)(loc.address - m.memory_start));
	}
	bl.nlines = MIN(loc.nlines, (size_t)BODY_MAX_LINES);
	for (size_t k = 0; !err && k < bl.nlines; k++) {
		struct pprof_line line;
		uint64_t name, file, system_name = 0;

		err = pprof__location_line(c->p, id, k, &line);
		if (!err)
			err = intern_string(c, line.function, &name);
		if (!err)
			err = intern_string(c, line.filename, &file);
		/* pprof repeats the name where there is no system name: a
		 * third field only for a demangled function */
		if (!err && line.system_name && line.function &&
		    strcmp(line.system_name, line.function))
			err = intern_string(c, line.system_name, &system_name);
		buf_reset(&c->body);
		if (!err)
			err = body__function(&c->body, name, file, system_name);
		if (!err)
			err = intern_body(c, HISTORY_FUNCTION, &bl.lines[k].function);
		bl.lines[k].line = line.line;
	}
	buf_reset(&c->body);
	if (!err)
		err = body__location(&c->body, &bl);
	if (!err)
		err = intern_body(c, HISTORY_LOCATION, row);
	if (!err)
		c->loc_ids[id - 1] = *row;
	return err;
}

/* The label set row of sample i's labels; 0 without labels. */
static int sample_labels_row(struct put_ctx *c, size_t i, size_t n, uint64_t *row)
{
	int err = 0;

	*row = 0;
	if (!n)
		return 0;
	n = MIN(n, ARRAY_SIZE(c->labels));
	for (size_t j = 0; !err && j < n; j++) {
		struct body_label *bl = &c->labels[j];
		struct pprof_label l;

		*bl = (struct body_label){ 0 };
		err = pprof__sample_label(c->p, i, j, &l);
		if (!err)
			err = intern_string(c, l.key, &bl->key);
		if (err)
			break;
		if (l.str) {
			err = intern_string(c, l.str, &bl->str);
		} else {
			bl->is_num = true;
			bl->num = l.num;
			if (l.num_unit)
				err = intern_string(c, l.num_unit, &bl->unit);
		}
	}
	buf_reset(&c->body);
	if (!err)
		err = body__labelset(&c->body, c->labels, n);
	return err ? err : intern_body(c, HISTORY_LABELSET, row);
}

/* The label set row of a series' process labels. */
static int series_labels_row(struct put_ctx *c, const struct labels *ls, uint64_t *row)
{
	size_t n = ls ? MIN(ls->n, ARRAY_SIZE(c->labels)) : 0;
	int err = 0;

	for (size_t j = 0; !err && j < n; j++) {
		c->labels[j] = (struct body_label){ 0 };
		err = intern_string(c, ls->v[j].name, &c->labels[j].key);
		if (!err)
			err = intern_string(c, ls->v[j].value, &c->labels[j].str);
	}
	buf_reset(&c->body);
	if (!err)
		err = body__labelset(&c->body, c->labels, n);
	return err ? err : intern_body(c, HISTORY_LABELSET, row);
}

static int add_entry(struct put_ctx *c, uint64_t stack, uint64_t labels, int64_t count,
		     int64_t value)
{
	if (c->nentries == c->entries_cap) {
		size_t cap = c->entries_cap ? c->entries_cap * 2 : 256;
		struct record_entry *v = realloc(c->entries, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		c->entries = v;
		c->entries_cap = cap;
	}
	c->entries[c->nentries++] =
		(struct record_entry){ stack, labels, (uint64_t)count, (uint64_t)MAX(value, 0) };
	return 0;
}

/* Stores series s of window wid: its row in the series table. */
static int put_series(struct put_ctx *c, sqlite3_stmt *ins, int64_t wid,
		      const struct history_series *s, uint64_t *samples, uint64_t *bytes)
{
	size_t nsamples = pprof__sample_count(s->profile);
	uint64_t labelset, total = 0;
	int err;

	/* a series' samples: its default sample type's total (cpu: samples;
	 * off_cpu: nanoseconds), what a timeline of its windows shows */
	c->p = s->profile;
	c->nentries = 0;
	err = id_table(&c->loc_ids, &c->loc_cap, pprof__location_count(c->p));
	if (!err)
		err = id_table(&c->map_ids, &c->map_cap, pprof__mapping_count(c->p));
	for (size_t i = 0; !err && i < nsamples; i++) {
		struct pprof_sample smp;
		uint64_t stack, slabels;
		size_t depth;

		err = pprof__sample_at(c->p, i, &smp);
		depth = MIN(smp.nlocs, (size_t)BODY_MAX_DEPTH);
		for (size_t k = 0; !err && k < depth; k++)
			err = location_row(c, smp.locs[k], &c->stack[k]);
		buf_reset(&c->body);
		if (!err)
			err = body__stack(&c->body, c->stack, depth);
		if (!err)
			err = intern_body(c, HISTORY_STACK, &stack);
		if (!err)
			err = sample_labels_row(c, i, smp.nlabels, &slabels);
		if (!err)
			err = add_entry(c, stack, slabels, smp.count, c->values ? smp.value : 0);
		total += err ? 0 : (uint64_t)(c->values ? smp.value : smp.count);
	}
	if (err || !c->nentries)
		return err;
	err = series_labels_row(c, s->labels, &labelset);
	buf_reset(&c->rec);
	if (!err)
		err = record__encode(c->entries, &c->nentries,
				     c->h->opts.codec ? c->h->opts.codec : RECORD_ZSTD, &c->rec);
	if (err)
		return err;
	sqlite3_bind_int64(ins, 1, wid);
	sqlite3_bind_int64(ins, 2, (int64_t)c->seq++);
	sqlite3_bind_int64(ins, 3, (int64_t)labelset);
	sqlite3_bind_int64(ins, 4, (int64_t)total);
	sqlite3_bind_blob(ins, 5, c->rec.data, (int)c->rec.len, SQLITE_STATIC);
	err = hdb__errno(sqlite3_step(ins));
	sqlite3_reset(ins);
	*samples += total;
	*bytes += c->rec.len;
	return err;
}

static int put_once(struct history *h, const struct history_window *w, uint64_t period)
{
	/* a CPU sample's second value is its count times the period: not
	 * stored, as in schema 1 */
	struct put_ctx c = { .h = h, .now = w->start_unix_ns / 1000000000,
			     .values = w->type != PPROF_TYPE_CPU };
	sqlite3_stmt *ins_window = NULL, *ins_series = NULL, *upd = NULL;
	uint64_t samples = 0, bytes = 0, nseries = 0;
	int64_t wid = 0;
	int err;

	err = hdb__exec(h->db, "BEGIN IMMEDIATE");
	if (err)
		return err;
	err = hdb__prepare(h->db, "INSERT INTO windows(start_ns, duration_ns, period_ns, series,"
				  " samples, bytes, type) VALUES (?, ?, ?, 0, 0, 0, ?)", &ins_window);
	if (!err)
		err = hdb__prepare(h->db, "INSERT INTO series(window, seq, labelset, samples, record)"
					  " VALUES (?, ?, ?, ?, ?)", &ins_series);
	if (!err)
		err = hdb__prepare(h->db, "UPDATE windows SET series = ?, samples = ?, bytes = ?"
					  " WHERE id = ?", &upd);
	if (!err) {
		sqlite3_bind_int64(ins_window, 1, w->start_unix_ns);
		sqlite3_bind_int64(ins_window, 2, w->duration_ns);
		sqlite3_bind_int64(ins_window, 3, (int64_t)period);
		sqlite3_bind_text(ins_window, 4, pprof_type_names[w->type], -1, SQLITE_STATIC);
		err = hdb__errno(sqlite3_step(ins_window));
		wid = sqlite3_last_insert_rowid(h->db);
	}
	for (size_t i = 0; !err && i < w->n; i++) {
		uint64_t before = samples;

		err = put_series(&c, ins_series, wid, &w->series[i], &samples, &bytes);
		nseries += samples > before;
	}
	if (!err) {
		sqlite3_bind_int64(upd, 1, (int64_t)nseries);
		sqlite3_bind_int64(upd, 2, (int64_t)samples);
		sqlite3_bind_int64(upd, 3, (int64_t)bytes);
		sqlite3_bind_int64(upd, 4, wid);
		err = hdb__errno(sqlite3_step(upd));
	}
	sqlite3_finalize(ins_window);
	sqlite3_finalize(ins_series);
	sqlite3_finalize(upd);
	put_ctx_release(&c);
	return history__commit(h, err);
}

static int check_window(const struct history_window *w, uint64_t *period)
{
	struct pprof_opts o = { 0 };

	if (!w || (w->n && !w->series) || w->duration_ns < 0 || (unsigned)w->type >= PPROF_TYPE_MAX)
		return -EINVAL;
	for (size_t i = 0; i < w->n; i++) {
		if (!w->series[i].profile)
			return -EINVAL;
		/* a window is of one type: queries never mix them */
		pprof__opts(w->series[i].profile, &o);
		if (o.type != w->type)
			return -EINVAL;
	}
	if (w->n)
		pprof__opts(w->series[0].profile, &o);
	*period = w->period_ns ? w->period_ns : o.period_ns;
	/* only CPU counts are scaled by a period; off-CPU values are time */
	if (w->type != PPROF_TYPE_CPU)
		return *period <= INT64_MAX ? 0 : -EINVAL;
	return *period && *period <= INT64_MAX ? 0 : -EINVAL;
}

int history__put(struct history *h, const struct history_window *w)
{
	uint64_t t0 = clock__mono_ns(), period;
	int err;

	if (!h)
		return -EINVAL;
	if (!h->db) /* read-only, or a corrupt store that could not be replaced */
		return h->opts.read_only ? -EROFS : -EIO;
	err = check_window(w, &period);
	if (err)
		return err;
	/* a window far larger than the rest does not shrink the store for
	 * long: the WAL's budget decays by 1/256 a window (a half-life of
	 * 177 windows, 44 minutes) */
	h->wal_budget -= h->wal_budget / 256;
	err = put_once(h, w, period);
	if (err == -ENOSPC) {
		/* the disk (or the database's page limit) is full: the reserve
		 * lets the WAL into the main file and the WAL's file go, then
		 * the oldest windows make room for the reserve again and for
		 * the retry */
		int64_t windows = 0;

		history__count(h, HC_DISK_FULL, 1);
		history__reserve(h, true);
		history__vacuum(h);
		if (!hdb__int(h->db, "SELECT count(*) FROM windows", &windows) && windows > 1) {
			uint64_t share = history__disk_bytes(h->path) / (uint64_t)windows;
			bool sweep = true;

			/* swept too: under churn the dropped windows' rows are
			 * most of what fills the disk */
			history__drop_round(h, 2 * share + h->reserve_bytes, HISTORY_DROP_DISK_FULL,
					    &sweep);
		} else {
			history__vacuum(h);
		}
		history__reserve(h, false);
		err = put_once(h, w, period);
	}
	if (err == -EUCLEAN)
		history__reset_store(h);
	if (!err)
		err = history__prune(h, w->start_unix_ns + w->duration_ns);
	if (!err) {
		history__checkpoint(h);
		history__reserve(h, false);
	}
	pthread_mutex_lock(&h->lock);
	h->st.puts++;
	h->st.put_failures += err ? 1 : 0;
	h->st.put_ns += clock__mono_ns() - t0;
	h->st.cache_bytes = dict__bytes(h->dict);
	h->st.cache_resets = dict__resets(h->dict);
	h->st.wal_budget = h->wal_budget;
	pthread_mutex_unlock(&h->lock);
	return err;
}
