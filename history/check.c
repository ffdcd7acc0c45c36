/* history__check (history/history.h): SQLite's own check, then every
 * record and dictionary row decoded, and the references of the records and
 * of the rows they reach looked up. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/macros.h"
#include "common/u64map.h"
#include "history/query.h"
#include "history/record.h"

#define CHECK_MAX_PROBLEMS 20
/* the values of checker.ids: a row that is there, one a kept window
 * reaches */
#define ID_PRESENT 1
#define ID_REACHED 2

struct checker {
	struct query *q;
	struct history_check *c;
	struct buf problems;
	size_t nproblems;
	struct u64map ids[HISTORY_KIND__MAX]; /* every row id of each kind */
	uint64_t *refs;                       /* one row's references */
	enum history_kind *kinds;
};

static void problem(struct checker *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void problem(struct checker *k, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	k->c->ok = false;
	if (k->nproblems++ >= CHECK_MAX_PROBLEMS)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	buf_printf(&k->problems, "%s\n", line);
}

static int integrity(struct checker *k)
{
	sqlite3_stmt *st;
	int err = hdb__prepare(k->q->db, "PRAGMA integrity_check(20)", &st);
	int rc;

	if (err)
		return err;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *msg = (const char *)sqlite3_column_text(st, 0);

		if (msg && strcmp(msg, "ok"))
			problem(k, "integrity_check: %s", msg);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		problem(k, "integrity_check: %s", sqlite3_errmsg(k->q->db));
		return rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB ? 0 : hdb__errno(rc);
	}
	return 0;
}

static int load_ids(struct checker *k)
{
	char sql[128];
	int err = 0;

	for (size_t t = 0; !err && t < HISTORY_KIND__MAX; t++) {
		sqlite3_stmt *st;
		int rc;

		snprintf(sql, sizeof(sql), "SELECT id FROM %s", history_tables[t]);
		err = hdb__prepare(k->q->db, sql, &st);
		while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW)
			err = u64map_set(&k->ids[t], (uint64_t)sqlite3_column_int64(st, 0), ID_PRESENT);
		if (!err && rc != SQLITE_DONE)
			err = hdb__errno(rc);
		sqlite3_finalize(st);
	}
	return err;
}

/* A reference of a row the kept windows reach (a record, or a row marked
 * before): the target must be there, and is marked reached in turn. */
static void ref(struct checker *k, const char *from, uint64_t id, enum history_kind to,
		uint64_t target)
{
	uint64_t v;

	if (!u64map_get(&k->ids[to], target, &v)) {
		k->c->missing_refs++;
		problem(k, "%s %llu refers to %s %llu, which is missing", from,
			(unsigned long long)id, history_tables[to], (unsigned long long)target);
	} else if (v != ID_REACHED) {
		u64map_set(&k->ids[to], target, ID_REACHED); /* present: no memory needed */
	}
}

/* The records first: they mark the rows the kept windows reach. */
static int check_records(struct checker *k)
{
	struct record rec = { 0 };
	sqlite3_stmt *st;
	int err = hdb__prepare(k->q->db, "SELECT seq, window, labelset, record FROM series", &st);
	int rc;

	while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t id = (uint64_t)sqlite3_column_int64(st, 0);

		k->c->records++;
		ref(k, "series", id, HISTORY_LABELSET, (uint64_t)sqlite3_column_int64(st, 2));
		if (record__decode(sqlite3_column_blob(st, 3), (size_t)sqlite3_column_bytes(st, 3),
				   &rec)) {
			k->c->corrupt_records++;
			query__corrupt(k->q);
			problem(k, "series %llu of window %lld does not decode",
				(unsigned long long)id, (long long)sqlite3_column_int64(st, 1));
			continue;
		}
		for (size_t i = 0; i < rec.n; i++) {
			ref(k, "series", id, HISTORY_STACK, rec.v[i].stack);
			if (rec.v[i].labels)
				ref(k, "series", id, HISTORY_LABELSET, rec.v[i].labels);
		}
	}
	if (!err && rc != SQLITE_DONE)
		err = hdb__errno(rc);
	sqlite3_finalize(st);
	record__release(&rec);
	return err;
}

/* Every row decoded; the references of the rows reached checked, kinds in
 * history_walk_order so that a kind is reached before it is read. A row
 * no kept window reaches may refer to rows already collected (last_seen
 * lets a row outlive what it refers to by up to refresh_ns: nothing reads
 * it, and the writer only reuses a row whose body it has just made from
 * rows that are there): counted, not a problem. */
static int check_dictionary(struct checker *k)
{
	char sql[128];
	int err = 0;

	for (size_t i = 0; !err && i < HISTORY_KIND__MAX; i++) {
		enum history_kind t = history_walk_order[i];
		sqlite3_stmt *st;
		int rc;

		snprintf(sql, sizeof(sql), "SELECT id, body FROM %s", history_tables[t]);
		err = hdb__prepare(k->q->db, sql, &st);
		while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
			uint64_t id = (uint64_t)sqlite3_column_int64(st, 0), v = 0;
			const void *p = sqlite3_column_blob(st, 1);
			size_t len = (size_t)sqlite3_column_bytes(st, 1), n;

			k->c->dict_rows++;
			if (body__refs(t, p ? p : "", len, k->refs, k->kinds, &n)) {
				k->c->bad_dict_rows++;
				problem(k, "%s %llu does not decode", history_tables[t],
					(unsigned long long)id);
				continue;
			}
			u64map_get(&k->ids[t], id, &v);
			if (v != ID_REACHED) {
				k->c->unreached_rows++;
				continue;
			}
			for (size_t j = 0; j < n; j++)
				ref(k, history_tables[t], id, k->kinds[j], k->refs[j]);
		}
		if (!err && rc != SQLITE_DONE)
			err = hdb__errno(rc);
		sqlite3_finalize(st);
	}
	return err;
}

void history_check__free(struct history_check *c)
{
	if (!c)
		return;
	free(c->problems);
	free(c);
}

int history__check(struct history *h, struct history_check **out)
{
	struct history_check *c;
	struct checker k = { 0 };
	struct query q;
	int64_t windows = 0;
	int err;

	if (!h || !out)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->ok = true;
	k.q = &q;
	k.c = c;
	k.refs = calloc(BODY_MAX_REFS, sizeof(*k.refs));
	k.kinds = calloc(BODY_MAX_REFS, sizeof(*k.kinds));
	err = k.refs && k.kinds ? 0 : -ENOMEM;
	if (!err)
		err = query__begin(h, NULL, &q);
	else
		q = (struct query){ 0 };
	if (!err)
		err = integrity(&k);
	if (!err)
		err = hdb__int(q.db, "SELECT count(*) FROM windows", &windows);
	c->windows = (uint64_t)windows;
	if (!err)
		err = load_ids(&k);
	if (!err)
		err = check_records(&k);
	if (!err)
		err = check_dictionary(&k);
	/* a store too damaged to read on is the check's finding, not its
	 * failure */
	if (err == -EUCLEAN) {
		problem(&k, "the store is corrupt: %s", sqlite3_errmsg(q.db));
		err = 0;
	}
	if (!err && k.nproblems > CHECK_MAX_PROBLEMS)
		buf_printf(&k.problems, "... and %zu more\n", k.nproblems - CHECK_MAX_PROBLEMS);
	if (!err && k.problems.len && !buf_append(&k.problems, "", 1))
		c->problems = (char *)TAKE_PTR(k.problems.data);
	buf_release(&k.problems);
	for (size_t t = 0; t < HISTORY_KIND__MAX; t++)
		u64map_release(&k.ids[t]);
	free(k.refs);
	free(k.kinds);
	err = query__end(&q, err);
	if (err) {
		history_check__free(c);
		return err;
	}
	*out = c;
	return 0;
}
