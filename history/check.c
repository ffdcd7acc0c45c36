/* history__check (history/history.h): SQLite's own check, then every
 * record and dictionary row decoded and its references looked up. */
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

struct checker {
	struct query *q;
	struct history_check *c;
	struct buf problems;
	size_t nproblems;
	struct u64map ids[HISTORY_KIND__MAX]; /* every row id of each kind */
	uint64_t *refs;                       /* one row's references */
	enum history_kind *kinds;
	struct body_location loc;
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
			err = u64map_set(&k->ids[t], (uint64_t)sqlite3_column_int64(st, 0), 1);
		if (!err && rc != SQLITE_DONE)
			err = hdb__errno(rc);
		sqlite3_finalize(st);
	}
	return err;
}

static void ref(struct checker *k, const char *from, uint64_t id, enum history_kind to,
		uint64_t target)
{
	uint64_t v;

	if (!u64map_get(&k->ids[to], target, &v)) {
		k->c->missing_refs++;
		problem(k, "%s %llu refers to %s %llu, which is missing", from,
			(unsigned long long)id, history_tables[to], (unsigned long long)target);
	}
}

/* Decodes one dictionary row; its references into refs (kind, id). */
static int decode_row(struct checker *k, enum history_kind kind, const void *p, size_t len,
		      size_t *n)
{
	uint64_t *refs = k->refs;
	enum history_kind *kinds = k->kinds;
	struct body_location *loc = &k->loc;
	struct body_mapping m;
	struct body_label labels[BODY_MAX_LABELS];
	size_t count;
	int err = 0;

	*n = 0;
	switch (kind) {
	case HISTORY_STRING:
		return len > BODY_MAX_STRING || memchr(p, 0, len) ? -EBADMSG : 0;
	case HISTORY_MAPPING:
		err = body__decode_mapping(p, len, &m);
		refs[(*n)] = m.filename, kinds[(*n)++] = HISTORY_STRING;
		refs[(*n)] = m.build_id, kinds[(*n)++] = HISTORY_STRING;
		break;
	case HISTORY_FUNCTION:
		err = body__decode_function(p, len, &refs[0], &refs[1]);
		kinds[0] = kinds[1] = HISTORY_STRING;
		*n = 2;
		break;
	case HISTORY_LOCATION:
		err = body__decode_location(p, len, loc);
		if (loc->mapping)
			refs[(*n)] = loc->mapping, kinds[(*n)++] = HISTORY_MAPPING;
		for (size_t i = 0; i < loc->nlines; i++)
			refs[(*n)] = loc->lines[i].function, kinds[(*n)++] = HISTORY_FUNCTION;
		break;
	case HISTORY_STACK:
		err = body__decode_ids(p, len, refs, BODY_MAX_DEPTH, n);
		for (size_t i = 0; i < *n; i++)
			kinds[i] = HISTORY_LOCATION;
		break;
	case HISTORY_LABELSET:
		err = body__decode_labelset(p, len, labels, BODY_MAX_LABELS, &count);
		for (size_t i = 0; !err && i < count; i++) {
			refs[(*n)] = labels[i].key, kinds[(*n)++] = HISTORY_STRING;
			if (!labels[i].is_num)
				refs[(*n)] = labels[i].str, kinds[(*n)++] = HISTORY_STRING;
			else if (labels[i].unit)
				refs[(*n)] = labels[i].unit, kinds[(*n)++] = HISTORY_STRING;
		}
		break;
	default:
		return -EBADMSG;
	}
	if (err)
		*n = 0;
	return err;
}

static int check_dictionary(struct checker *k)
{
	char sql[128];
	int err = 0;

	for (size_t t = 0; !err && t < HISTORY_KIND__MAX; t++) {
		sqlite3_stmt *st;
		int rc;

		snprintf(sql, sizeof(sql), "SELECT id, body FROM %s", history_tables[t]);
		err = hdb__prepare(k->q->db, sql, &st);
		while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
			uint64_t id = (uint64_t)sqlite3_column_int64(st, 0);
			const void *p = sqlite3_column_blob(st, 1);
			size_t len = (size_t)sqlite3_column_bytes(st, 1), n;

			k->c->dict_rows++;
			if (decode_row(k, t, p ? p : "", len, &n)) {
				k->c->bad_dict_rows++;
				problem(k, "%s %llu does not decode", history_tables[t],
					(unsigned long long)id);
				continue;
			}
			for (size_t i = 0; i < n; i++)
				ref(k, history_tables[t], id, k->kinds[i], k->refs[i]);
		}
		if (!err && rc != SQLITE_DONE)
			err = hdb__errno(rc);
		sqlite3_finalize(st);
	}
	return err;
}

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
	/* a stack's references, or a location's lines and mapping */
	k.refs = calloc(2 * BODY_MAX_DEPTH, sizeof(*k.refs));
	k.kinds = calloc(2 * BODY_MAX_DEPTH, sizeof(*k.kinds));
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
		err = check_dictionary(&k);
	if (!err)
		err = check_records(&k);
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
