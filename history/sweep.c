/* The dictionary's exact collection (history__sweep, history_int.h):
 * every row the kept windows reach is marked, the rest deleted, in the
 * writer's transaction. Why it is safe: docs/history.md, "Collection".
 *
 * Marks are one bit per id of each table's id range (ids only grow, so
 * the range is about the rows inserted since the oldest one kept). The
 * tables are scanned in id order, each once and after every kind that
 * refers to it, so a table's marks are complete when its scan starts; its
 * unmarked rows come in runs between marked ones, each deleted by one
 * range. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/macros.h"
#include "history/history_int.h"
#include "history/record.h"

/* the marks' memory: a range of 512 M ids (a store that kept one row
 * while half a billion were inserted after it) is refused, and the
 * last_seen collection goes on alone */
#define SWEEP_MAX_MARK_BYTES ((size_t)64 << 20)

struct marks {
	int64_t lo, hi; /* the table's ids are in [lo, hi]; hi < lo: none */
	uint64_t *bits;
};

struct run {
	int64_t lo, hi; /* ids of unmarked rows, no marked row between */
};

struct sweeper {
	struct history *h;
	struct marks m[HISTORY_KIND__MAX];
	uint64_t refs[BODY_MAX_REFS];
	enum history_kind kinds[BODY_MAX_REFS];
	struct buf runs; /* struct run, of the table being swept */
	uint64_t deleted, scanned;
};

static void mark(struct sweeper *s, enum history_kind kind, uint64_t id)
{
	struct marks *m = &s->m[kind];

	/* a reference past the table's ids names no row (a corrupt store,
	 * which the check reports): nothing to keep */
	if (id > INT64_MAX || (int64_t)id < m->lo || (int64_t)id > m->hi)
		return;
	id -= (uint64_t)m->lo;
	m->bits[id / 64] |= 1ull << (id % 64);
}

static bool marked(const struct sweeper *s, enum history_kind kind, int64_t id)
{
	const struct marks *m = &s->m[kind];
	uint64_t i;

	if (id < m->lo || id > m->hi)
		return false;
	i = (uint64_t)(id - m->lo);
	return m->bits[i / 64] & (1ull << (i % 64));
}

static int alloc_marks(struct sweeper *s)
{
	size_t total = 0;
	char sql[128];
	int err = 0;

	for (size_t k = 0; !err && k < HISTORY_KIND__MAX; k++) {
		struct marks *m = &s->m[k];
		size_t words;

		snprintf(sql, sizeof(sql), "SELECT coalesce(min(id), 1) FROM %s", history_tables[k]);
		err = hdb__int(s->h->db, sql, &m->lo);
		snprintf(sql, sizeof(sql), "SELECT coalesce(max(id), 0) FROM %s", history_tables[k]);
		if (!err)
			err = hdb__int(s->h->db, sql, &m->hi);
		if (err)
			break;
		if (m->hi < m->lo)
			continue;
		words = (size_t)((uint64_t)(m->hi - m->lo) / 64 + 1);
		total += words * sizeof(uint64_t);
		if (total > SWEEP_MAX_MARK_BYTES)
			return -E2BIG;
		m->bits = calloc(words, sizeof(uint64_t));
		if (!m->bits)
			return -ENOMEM;
	}
	return err;
}

/* The roots: each series' label set, and its record's stacks and sample
 * label sets. A record that does not decode may use any row: -EBADMSG,
 * and nothing is deleted. */
static int mark_records(struct sweeper *s)
{
	struct record rec = { 0 };
	sqlite3_stmt *st;
	int err = hdb__prepare(s->h->db, "SELECT labelset, record FROM series", &st);
	int rc = SQLITE_DONE;

	while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		mark(s, HISTORY_LABELSET, (uint64_t)sqlite3_column_int64(st, 0));
		err = record__decode(sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1),
				     &rec);
		for (size_t i = 0; !err && i < rec.n; i++) {
			mark(s, HISTORY_STACK, rec.v[i].stack);
			if (rec.v[i].labels)
				mark(s, HISTORY_LABELSET, rec.v[i].labels);
		}
	}
	if (!err && rc != SQLITE_DONE)
		err = hdb__errno(rc);
	sqlite3_finalize(st);
	record__release(&rec);
	return err;
}

static int add_run(struct sweeper *s, int64_t lo, int64_t hi)
{
	const struct run r = { lo, hi };

	return buf_append(&s->runs, &r, sizeof(r));
}

/* One table in id order: what its marked rows refer to marked, its
 * unmarked rows gathered into runs. A marked row that does not decode:
 * -EBADMSG (what it refers to is unknown). */
static int scan_table(struct sweeper *s, enum history_kind kind)
{
	char sql[128];
	sqlite3_stmt *st;
	int64_t run_lo = 0, run_hi = 0;
	bool in_run = false;
	int err, rc = SQLITE_DONE;

	/* strings refer to nothing: their bodies need not be read */
	snprintf(sql, sizeof(sql), "SELECT id%s FROM %s ORDER BY id",
		 kind == HISTORY_STRING ? "" : ", body", history_tables[kind]);
	err = hdb__errno(sqlite3_prepare_v2(s->h->db, sql, -1, &st, NULL));
	buf_reset(&s->runs);
	while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(st, 0);
		const void *p;
		size_t n, len;

		s->scanned++;
		if (!marked(s, kind, id)) {
			if (!in_run)
				run_lo = id;
			run_hi = id;
			in_run = true;
			continue;
		}
		if (in_run)
			err = add_run(s, run_lo, run_hi);
		in_run = false;
		if (err || kind == HISTORY_STRING)
			continue;
		p = sqlite3_column_blob(st, 1);
		len = (size_t)sqlite3_column_bytes(st, 1);
		err = body__refs(kind, p ? p : "", len, s->refs, s->kinds, &n);
		for (size_t i = 0; !err && i < n; i++)
			mark(s, s->kinds[i], s->refs[i]);
	}
	if (!err && rc != SQLITE_DONE)
		err = hdb__errno(rc);
	if (!err && in_run)
		err = add_run(s, run_lo, run_hi);
	sqlite3_finalize(st);
	return err;
}

static int delete_runs(struct sweeper *s, enum history_kind kind)
{
	char sql[128];
	sqlite3_stmt *st;
	int err;

	snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE id BETWEEN ? AND ?", history_tables[kind]);
	err = hdb__errno(sqlite3_prepare_v2(s->h->db, sql, -1, &st, NULL));
	for (size_t i = 0; !err && i < s->runs.len / sizeof(struct run); i++) {
		struct run r;

		memcpy(&r, s->runs.data + i * sizeof(r), sizeof(r));
		sqlite3_bind_int64(st, 1, r.lo);
		sqlite3_bind_int64(st, 2, r.hi);
		err = hdb__errno(sqlite3_step(st));
		sqlite3_reset(st);
		s->deleted += (uint64_t)sqlite3_changes(s->h->db);
	}
	sqlite3_finalize(st);
	return err;
}

/* dict__forget's test: the caches keep the rows the sweep kept. */
static bool kept(void *ctx, enum history_kind kind, int64_t id, int64_t last_seen)
{
	(void)last_seen;
	return marked(ctx, kind, id);
}

int history__sweep(struct history *h, struct history_sweep *res)
{
	struct sweeper *s = calloc(1, sizeof(*s));
	uint64_t t0 = clock__mono_ns();
	int err;

	*res = (struct history_sweep){ 0 };
	if (!s)
		return -ENOMEM;
	s->h = h;
	err = alloc_marks(s);
	if (!err)
		err = mark_records(s);
	for (size_t i = 0; !err && i < HISTORY_KIND__MAX; i++) {
		err = scan_table(s, history_walk_order[i]);
		if (!err)
			err = delete_runs(s, history_walk_order[i]);
	}
	/* a cached id of a deleted row would be written into the next
	 * windows: a missing row, or another body once SQLite gives the id
	 * again. Also after a failure part way: what was deleted by then
	 * was unreached all the same */
	if (s->deleted)
		dict__forget(h->dict, kept, s);
	if (!err)
		h->unswept = false;
	res->rows = s->deleted;
	res->scanned = s->scanned;
	res->ns = clock__mono_ns() - t0;
	for (size_t k = 0; k < HISTORY_KIND__MAX; k++)
		free(s->m[k].bits);
	buf_release(&s->runs);
	free(s);
	return err;
}
