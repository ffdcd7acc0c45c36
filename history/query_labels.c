/* The history queries that read series rows but not their records: the
 * timeline, label names and values, stored ranges (history/history.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/macros.h"
#include "history/query.h"

/* ---- a string -> samples tally, kept sorted by string ---- */

struct tally {
	struct history_value *v;
	size_t n, cap;
};

static int tally_add(struct tally *t, const char *s, uint64_t samples)
{
	size_t i = PARTITION_POINT(t->n, k, strcmp(t->v[k].value, s) < 0);

	if (i < t->n && !strcmp(t->v[i].value, s)) {
		t->v[i].samples += samples;
		return 0;
	}
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct history_value *v = realloc(t->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		t->v = v;
		t->cap = cap;
	}
	memmove(t->v + i + 1, t->v + i, (t->n - i) * sizeof(*t->v));
	t->v[i] = (struct history_value){ strdup(s), samples };
	if (!t->v[i].value) {
		memmove(t->v + i, t->v + i + 1, (t->n - i) * sizeof(*t->v));
		return -ENOMEM;
	}
	t->n++;
	return 0;
}

static void tally_release(struct tally *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->v[i].value);
	free(t->v);
	*t = (struct tally){ 0 };
}

void history_values__free(struct history_values *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->n; i++)
		free(v->v[i].value);
	free(v->v);
	free(v);
}

static int tally_out(struct tally *t, struct history_values **out)
{
	struct history_values *v = calloc(1, sizeof(*v));

	if (!v)
		return -ENOMEM;
	v->v = TAKE_PTR(t->v);
	v->n = t->n;
	*t = (struct tally){ 0 };
	*out = v;
	return 0;
}

/* The labels of a series that passes the filter; NULL when it does not
 * (a corrupt label set counted and skipped). */
static int passing(struct query *q, const struct scan_row *row, const struct labels **ls)
{
	int pass = query__passes(q, row->labelset, ls);

	if (pass == -EBADMSG) {
		query__corrupt(q);
		pass = 0;
	}
	if (pass == 0)
		*ls = NULL;
	return pass < 0 ? pass : 0;
}

/* ---- label names and values ---- */

struct label_scan {
	struct query *q;
	const char *name; /* NULL: names */
	struct tally t;
};

static int label_row(void *ctx, const struct scan_row *row)
{
	struct label_scan *s = ctx;
	const struct labels *ls;
	int err = row->labelset ? passing(s->q, row, &ls) : 0;

	if (!row->labelset)
		return 0;

	for (size_t i = 0; !err && ls && i < ls->n; i++) {
		if (!s->name)
			err = tally_add(&s->t, ls->v[i].name, row->samples);
		else if (!strcmp(ls->v[i].name, s->name))
			err = tally_add(&s->t, ls->v[i].value, row->samples);
	}
	return err;
}

static int label_query(struct history *h, int64_t from_ns, int64_t to_ns,
		       const struct history_filter *f, const char *name,
		       struct history_values **out)
{
	struct query q;
	struct label_scan s = { .q = &q, .name = name };
	int err;

	if (!h || !out || from_ns >= to_ns)
		return -EINVAL;
	err = query__begin(h, f, &q);
	if (!err)
		err = query__scan(&q, from_ns, to_ns, f ? f->type : PPROF_TYPE_CPU, false,
				  label_row, &s);
	if (!err)
		err = tally_out(&s.t, out);
	tally_release(&s.t);
	return query__end(&q, err);
}

int history__label_names(struct history *h, int64_t from_ns, int64_t to_ns,
			 const struct history_filter *f, struct history_values **out)
{
	return label_query(h, from_ns, to_ns, f, NULL, out);
}

int history__label_values(struct history *h, int64_t from_ns, int64_t to_ns,
			  const struct history_filter *f, const char *name,
			  struct history_values **out)
{
	return name ? label_query(h, from_ns, to_ns, f, name, out) : -EINVAL;
}

/* ---- timeline ---- */

struct timeline_scan {
	struct query *q;
	const char *label;
	struct history_timeline_window *windows;
	size_t nwindows, cap;
	int64_t last_window;
	/* per (window, value): the value's index in t, the window's index */
	struct tally t;
	struct tl_cell { size_t window; uint64_t samples; const char *value; } *cells;
	size_t ncells, cells_cap;
};

static int timeline_row(void *ctx, const struct scan_row *row)
{
	struct timeline_scan *s = ctx;
	const struct labels *ls;
	const char *value;
	int err;

	if (row->window != s->last_window) {
		if (s->nwindows == s->cap) {
			size_t cap = s->cap ? s->cap * 2 : 64;
			struct history_timeline_window *v = realloc(s->windows, cap * sizeof(*v));

			if (!v)
				return -ENOMEM;
			s->windows = v;
			s->cap = cap;
		}
		s->windows[s->nwindows++] = (struct history_timeline_window){
			row->start_ns, row->duration_ns, 0 };
		s->last_window = row->window;
	}
	if (!row->labelset)
		return 0;
	err = passing(s->q, row, &ls);
	if (err || !ls)
		return err;
	value = labels__get(ls, s->label);
	value = value ? value : "";
	s->windows[s->nwindows - 1].samples += row->samples;
	err = tally_add(&s->t, value, row->samples);
	if (err)
		return err;
	if (s->ncells == s->cells_cap) {
		size_t cap = s->cells_cap ? s->cells_cap * 2 : 256;
		struct tl_cell *v = realloc(s->cells, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->cells = v;
		s->cells_cap = cap;
	}
	/* value points into the resolver's labels, alive until the end */
	s->cells[s->ncells++] = (struct tl_cell){ s->nwindows - 1, row->samples, value };
	return 0;
}

static int by_samples(const void *a, const void *b)
{
	const struct history_value *x = a, *y = b;

	if (x->samples != y->samples)
		return x->samples > y->samples ? -1 : 1;
	return strcmp(x->value, y->value);
}

void history_timeline__free(struct history_timeline *tl)
{
	if (!tl)
		return;
	for (size_t i = 0; i < tl->nseries; i++) {
		free(tl->series[i].value);
		free(tl->series[i].counts);
	}
	free(tl->series);
	free(tl->windows);
	free(tl);
}

/* The top_n values of s (and other) as series over its windows. */
static int timeline_build(struct timeline_scan *s, size_t top_n, struct history_timeline **out)
{
	struct history_timeline *tl = calloc(1, sizeof(*tl));
	size_t top = MIN(top_n, s->t.n), nseries = top + (s->t.n > top);

	if (!tl)
		return -ENOMEM;
	if (s->t.n) /* qsort's array may not be NULL, even for none */
		qsort(s->t.v, s->t.n, sizeof(*s->t.v), by_samples);
	tl->series = calloc(nseries ? nseries : 1, sizeof(*tl->series));
	if (!tl->series)
		goto fail;
	tl->nseries = nseries;
	for (size_t i = 0; i < nseries; i++) {
		tl->series[i].counts = calloc(s->nwindows ? s->nwindows : 1, sizeof(uint64_t));
		if (!tl->series[i].counts)
			goto fail;
		if (i < top && !(tl->series[i].value = strdup(s->t.v[i].value)))
			goto fail;
	}
	for (size_t c = 0; c < s->ncells; c++) {
		size_t i = 0;

		while (i < top && strcmp(tl->series[i].value, s->cells[c].value))
			i++;
		tl->series[i].counts[s->cells[c].window] += s->cells[c].samples;
		tl->series[i].total += s->cells[c].samples;
	}
	tl->windows = TAKE_PTR(s->windows);
	tl->nwindows = s->nwindows;
	*out = tl;
	return 0;
fail:
	history_timeline__free(tl);
	return -ENOMEM;
}

int history__timeline(struct history *h, int64_t from_ns, int64_t to_ns,
		      const struct history_filter *f, const char *label, size_t top_n,
		      struct history_timeline **out)
{
	struct query q;
	struct timeline_scan s = { .q = &q, .label = label, .last_window = -1 };
	int err;

	if (!h || !label || !out || from_ns >= to_ns)
		return -EINVAL;
	err = query__begin(h, f, &q);
	if (!err)
		err = query__scan(&q, from_ns, to_ns, f ? f->type : PPROF_TYPE_CPU, false,
				  timeline_row, &s);
	if (!err)
		err = timeline_build(&s, top_n, out);
	free(s.windows);
	free(s.cells);
	tally_release(&s.t);
	return query__end(&q, err);
}

/* ---- ranges ---- */

void history_ranges__free(struct history_ranges *r)
{
	if (!r)
		return;
	free(r->v);
	free(r);
}

/* The enum pprof_type named name; -1 for a name this brasa does not know
 * (a later one's type: its windows are left out). */
static int type_of(const char *name)
{
	for (int t = 0; name && t < PPROF_TYPE_MAX; t++)
		if (!strcmp(name, pprof_type_names[t]))
			return t;
	return -1;
}

int history__ranges(struct history *h, int64_t from_ns, int64_t to_ns, int type,
		    struct history_ranges **out)
{
	struct history_ranges *r;
	struct query q;
	sqlite3_stmt *st = NULL;
	size_t cap = 0;
	int err, rc;

	if (!h || !out || from_ns >= to_ns || type < HISTORY_ANY_TYPE || type >= PPROF_TYPE_MAX)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	err = query__begin(h, NULL, &q);
	if (!err)
		err = hdb__errno(sqlite3_prepare_v2(q.db,
			"SELECT start_ns, duration_ns, series, samples, bytes, type FROM windows"
			" WHERE start_ns < ?2 AND start_ns + duration_ns > ?1"
			" ORDER BY type, start_ns",
			-1, &st, NULL));
	if (!err) {
		sqlite3_bind_int64(st, 1, from_ns);
		sqlite3_bind_int64(st, 2, to_ns);
	}
	while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t start = sqlite3_column_int64(st, 0), duration = sqlite3_column_int64(st, 1);
		int t = type_of((const char *)sqlite3_column_text(st, 5));
		struct history_range *last = r->n ? &r->v[r->n - 1] : NULL;

		if (t < 0 || (type != HISTORY_ANY_TYPE && t != type))
			continue;
		/* another type, or a gap of over half a window, starts a new
		 * range */
		if (!last || (int)last->type != t || start > last->end_ns + duration / 2) {
			if (r->n == cap) {
				struct history_range *v = realloc(r->v, (cap = cap ? cap * 2 : 16) * sizeof(*v));

				if (!v) {
					err = -ENOMEM;
					break;
				}
				r->v = v;
			}
			last = &r->v[r->n++];
			*last = (struct history_range){ .type = t, .start_ns = start };
		}
		last->end_ns = MAX(last->end_ns, start + duration);
		last->windows++;
		last->series += (uint64_t)sqlite3_column_int64(st, 2);
		last->samples += (uint64_t)sqlite3_column_int64(st, 3);
		last->bytes += (uint64_t)sqlite3_column_int64(st, 4);
	}
	if (!err && rc != SQLITE_DONE)
		err = hdb__errno(rc);
	sqlite3_finalize(st);
	if (!err)
		*out = r;
	else
		history_ranges__free(r);
	return query__end(&q, err);
}
