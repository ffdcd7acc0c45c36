/* The reading side of the dictionary (history/resolve.h). */
#include "history/resolve.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "history/history_int.h"

int resolver__init(struct resolver *r, sqlite3 *db)
{
	char sql[128];
	int err = 0;

	*r = (struct resolver){ .db = db };
	for (size_t k = 0; !err && k < HISTORY_KIND__MAX; k++) {
		snprintf(sql, sizeof(sql), "SELECT body FROM %s WHERE id = ?", history_tables[k]);
		err = hdb__prepare(db, sql, &r->body[k]);
	}
	if (err)
		resolver__release(r);
	return err;
}

void resolver__release(struct resolver *r)
{
	if (!r)
		return;
	for (size_t k = 0; k < HISTORY_KIND__MAX; k++)
		sqlite3_finalize(r->body[k]);
	u64map_foreach(&r->strings, i)
		free((void *)(uintptr_t)r->strings.values[i]);
	u64map_foreach(&r->labels, i) {
		struct labels *ls = (void *)(uintptr_t)r->labels.values[i];

		labels__clear(ls);
		free(ls);
	}
	u64map_release(&r->strings);
	u64map_release(&r->labels);
	*r = (struct resolver){ 0 };
}

int resolver__body(struct resolver *r, enum history_kind kind, uint64_t id, const void **p,
		   size_t *len)
{
	sqlite3_stmt *st = r->body[kind];
	int rc;

	sqlite3_reset(st);
	if (!id || id > INT64_MAX)
		return -EBADMSG;
	sqlite3_bind_int64(st, 1, (int64_t)id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return -EBADMSG; /* a reference to no row */
	if (rc != SQLITE_ROW)
		return hdb__errno(rc);
	*len = (size_t)sqlite3_column_bytes(st, 0);
	*p = sqlite3_column_blob(st, 0);
	if (!*p)
		*p = "";
	return 0;
}

int resolver__string(struct resolver *r, uint64_t id, const char **s)
{
	const void *p;
	uint64_t v;
	size_t len;
	char *copy;
	int err;

	if (u64map_get(&r->strings, id, &v)) {
		*s = (const char *)(uintptr_t)v;
		return 0;
	}
	err = resolver__body(r, HISTORY_STRING, id, &p, &len);
	if (err)
		return err;
	if (len > BODY_MAX_STRING || memchr(p, 0, len))
		return -EBADMSG;
	copy = strndup(p, len);
	if (!copy)
		return -ENOMEM;
	err = u64map_set(&r->strings, id, (uintptr_t)copy);
	if (err) {
		free(copy);
		return err;
	}
	*s = copy;
	return 0;
}

/* The labels of label set id, decoded: n of them into labels. */
static int decode_labelset(struct resolver *r, uint64_t id, struct body_label *labels,
			   size_t *n)
{
	const void *p;
	size_t len;
	int err = resolver__body(r, HISTORY_LABELSET, id, &p, &len);

	return err ? err : body__decode_labelset(p, len, labels, BODY_MAX_LABELS, n);
}

int resolver__labels(struct resolver *r, uint64_t id, const struct labels **out)
{
	struct body_label labels[BODY_MAX_LABELS];
	struct labels *ls;
	uint64_t v;
	size_t n;
	int err;

	if (u64map_get(&r->labels, id, &v)) {
		*out = (const struct labels *)(uintptr_t)v;
		return 0;
	}
	err = decode_labelset(r, id, labels, &n);
	if (err)
		return err;
	ls = calloc(1, sizeof(*ls));
	if (!ls)
		return -ENOMEM;
	for (size_t i = 0; !err && i < n; i++) {
		const char *name, *value;

		if (labels[i].is_num) {
			err = -EBADMSG; /* process labels are strings */
			break;
		}
		err = resolver__string(r, labels[i].key, &name);
		if (!err)
			err = resolver__string(r, labels[i].str, &value);
		if (!err && labels__get(ls, name))
			err = -EBADMSG; /* a set has each name once */
		if (!err)
			err = labels__set(ls, name, value);
	}
	if (!err)
		err = u64map_set(&r->labels, id, (uintptr_t)ls);
	if (err) {
		labels__clear(ls);
		free(ls);
		return err;
	}
	*out = ls;
	return 0;
}

int resolver__labelset(struct resolver *r, uint64_t id, struct pprof_label *out, size_t max,
		       size_t *n)
{
	struct body_label labels[BODY_MAX_LABELS];
	size_t count;
	int err = decode_labelset(r, id, labels, &count);

	*n = 0;
	if (err)
		return err;
	for (size_t i = 0; i < count && *n < max; i++) {
		struct pprof_label *l = &out[(*n)++];

		*l = (struct pprof_label){ .num = labels[i].num };
		err = resolver__string(r, labels[i].key, &l->key);
		if (!err && !labels[i].is_num)
			err = resolver__string(r, labels[i].str, &l->str);
		if (!err && labels[i].is_num && labels[i].unit)
			err = resolver__string(r, labels[i].unit, &l->num_unit);
		if (err)
			return err;
	}
	return 0;
}
