/* Dictionary row bodies (history/body.h). */
#include "history/body.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "history/varint.h"

/* Appends n varints; 0 or -ENOMEM. */
static int put_varints(struct buf *b, const uint64_t *v, size_t n)
{
	int err = buf_reserve(b, n * VARINT_MAX);

	if (err)
		return err;
	for (size_t i = 0; i < n; i++)
		b->len += varint_put(b->data + b->len, v[i]);
	return 0;
}

int body__mapping(struct buf *b, const struct body_mapping *m)
{
	const uint64_t v[] = { m->memory_start, m->memory_limit, m->file_offset,
			       m->filename, m->build_id, m->flags };

	return put_varints(b, v, sizeof(v) / sizeof(v[0]));
}

int body__function(struct buf *b, uint64_t name, uint64_t file, uint64_t system_name)
{
	const uint64_t v[] = { name, file, system_name };

	/* without a system name, the two-field body of stores written before
	 * names were demangled: the same function finds its old row */
	return put_varints(b, v, system_name ? 3 : 2);
}

int body__location(struct buf *b, const struct body_location *loc)
{
	const uint64_t head[] = { loc->mapping, loc->address, loc->nlines };
	int err = put_varints(b, head, 3);

	for (size_t i = 0; !err && i < loc->nlines; i++) {
		const uint64_t v[] = { loc->lines[i].function, zigzag(loc->lines[i].line) };

		err = put_varints(b, v, 2);
	}
	return err;
}

int body__stack(struct buf *b, const uint64_t *ids, size_t n)
{
	uint64_t len = n;
	int err = put_varints(b, &len, 1);

	return err ? err : put_varints(b, ids, n);
}

static int label_cmp(const void *a, const void *b)
{
	const struct body_label *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	if (x->is_num != y->is_num)
		return x->is_num ? 1 : -1;
	if (x->str != y->str)
		return x->str < y->str ? -1 : 1;
	if (x->num != y->num)
		return x->num < y->num ? -1 : 1;
	if (x->unit != y->unit)
		return x->unit < y->unit ? -1 : 1;
	return 0;
}

int body__labelset(struct buf *b, struct body_label *labels, size_t n)
{
	uint64_t len = 0;
	int err;

	if (n > 1)
		qsort(labels, n, sizeof(*labels), label_cmp);
	/* a label given twice is one label: bodies hold each once */
	for (size_t i = 0, j = 0; i < n; i++) {
		if (!j || label_cmp(&labels[j - 1], &labels[i]) != 0)
			labels[j++] = labels[i];
		len = j;
	}
	n = len;
	err = put_varints(b, &len, 1);
	for (size_t i = 0; !err && i < n; i++) {
		const struct body_label *l = &labels[i];

		if (l->is_num) {
			const uint64_t v[] = { l->key, 1, zigzag(l->num), l->unit };

			err = put_varints(b, v, 4);
		} else {
			const uint64_t v[] = { l->key, 0, l->str };

			err = put_varints(b, v, 3);
		}
	}
	return err;
}

/* ---- decoding ---- */

struct reader {
	const uint8_t *p, *end;
	int err;
};

static uint64_t rd(struct reader *r)
{
	uint64_t v = 0;

	if (!r->err)
		r->err = varint_get(&r->p, r->end, &v);
	return v;
}

/* A reference to another row: ids start at 1. */
static uint64_t rd_id(struct reader *r)
{
	uint64_t v = rd(r);

	if (!r->err && (v == 0 || v > INT64_MAX))
		r->err = -EBADMSG;
	return v;
}

static int rd_end(struct reader *r)
{
	if (!r->err && r->p != r->end)
		r->err = -EBADMSG;
	return r->err;
}

#define READER(p, len) { (const uint8_t *)(p), (const uint8_t *)(p) + (len), 0 }

int body__decode_mapping(const void *p, size_t len, struct body_mapping *m)
{
	struct reader r = READER(p, len);

	m->memory_start = rd(&r);
	m->memory_limit = rd(&r);
	m->file_offset = rd(&r);
	m->filename = rd_id(&r);
	m->build_id = rd_id(&r);
	m->flags = rd(&r);
	if (!r.err && (m->flags & ~(uint64_t)BODY_MAPPING__ALL))
		r.err = -EBADMSG;
	return rd_end(&r);
}

int body__decode_function(const void *p, size_t len, uint64_t *name, uint64_t *file,
			  uint64_t *system_name)
{
	struct reader r = READER(p, len);

	*name = rd_id(&r);
	*file = rd_id(&r);
	*system_name = !r.err && r.p != r.end ? rd_id(&r) : 0;
	return rd_end(&r);
}

int body__decode_location(const void *p, size_t len, struct body_location *loc)
{
	struct reader r = READER(p, len);
	uint64_t n;

	loc->mapping = rd(&r);
	loc->address = rd(&r);
	n = rd(&r);
	if (!r.err && (n > BODY_MAX_LINES || loc->mapping > INT64_MAX))
		r.err = -EBADMSG;
	loc->nlines = r.err ? 0 : n;
	for (size_t i = 0; !r.err && i < loc->nlines; i++) {
		loc->lines[i].function = rd_id(&r);
		loc->lines[i].line = unzigzag(rd(&r));
	}
	return rd_end(&r);
}

int body__decode_ids(const void *p, size_t len, uint64_t *ids, size_t max, size_t *n)
{
	struct reader r = READER(p, len);
	uint64_t count = rd(&r);

	if (!r.err && count > max)
		r.err = -EBADMSG;
	for (size_t i = 0; !r.err && i < count; i++)
		ids[i] = rd_id(&r);
	*n = r.err ? 0 : count;
	return rd_end(&r);
}

int body__decode_labelset(const void *p, size_t len, struct body_label *labels, size_t max,
			  size_t *n)
{
	struct reader r = READER(p, len);
	uint64_t count = rd(&r);

	if (!r.err && count > max)
		r.err = -EBADMSG;
	for (size_t i = 0; !r.err && i < count; i++) {
		struct body_label *l = &labels[i];
		uint64_t kind;

		*l = (struct body_label){ .key = rd_id(&r) };
		kind = rd(&r);
		if (kind == 0) {
			l->str = rd_id(&r);
		} else if (kind == 1) {
			l->is_num = true;
			l->num = unzigzag(rd(&r));
			l->unit = rd(&r);
			if (l->unit > INT64_MAX)
				r.err = -EBADMSG;
		} else {
			r.err = -EBADMSG;
		}
		/* sorted and unique, as encoded */
		if (!r.err && i && label_cmp(&labels[i - 1], l) >= 0)
			r.err = -EBADMSG;
	}
	*n = r.err ? 0 : count;
	return rd_end(&r);
}

_Static_assert(BODY_MAX_REFS >= 1 + BODY_MAX_LINES && BODY_MAX_REFS >= 2 * BODY_MAX_LABELS,
	       "BODY_MAX_REFS holds any row's references");

int body__refs(enum history_kind kind, const void *p, size_t len, uint64_t *ids,
	       enum history_kind *kinds, size_t *n)
{
	struct body_label labels[BODY_MAX_LABELS];
	struct body_location loc;
	struct body_mapping m;
	size_t count = 0, k = 0;
	int err;

#define REF(id, kd) (ids[k] = (id), kinds[k++] = (kd))
	switch (kind) {
	case HISTORY_STRING:
		err = len > BODY_MAX_STRING || memchr(p, 0, len) ? -EBADMSG : 0;
		break;
	case HISTORY_MAPPING:
		err = body__decode_mapping(p, len, &m);
		REF(m.filename, HISTORY_STRING);
		REF(m.build_id, HISTORY_STRING);
		break;
	case HISTORY_FUNCTION:
		err = body__decode_function(p, len, &ids[0], &ids[1], &ids[2]);
		kinds[0] = kinds[1] = kinds[2] = HISTORY_STRING;
		k = ids[2] ? 3 : 2;
		break;
	case HISTORY_LOCATION:
		err = body__decode_location(p, len, &loc);
		if (loc.mapping)
			REF(loc.mapping, HISTORY_MAPPING);
		for (size_t i = 0; i < loc.nlines; i++)
			REF(loc.lines[i].function, HISTORY_FUNCTION);
		break;
	case HISTORY_STACK:
		err = body__decode_ids(p, len, ids, BODY_MAX_DEPTH, &k);
		for (size_t i = 0; i < k; i++)
			kinds[i] = HISTORY_LOCATION;
		break;
	case HISTORY_LABELSET:
		err = body__decode_labelset(p, len, labels, BODY_MAX_LABELS, &count);
		for (size_t i = 0; !err && i < count; i++) {
			REF(labels[i].key, HISTORY_STRING);
			if (!labels[i].is_num)
				REF(labels[i].str, HISTORY_STRING);
			else if (labels[i].unit)
				REF(labels[i].unit, HISTORY_STRING);
		}
		break;
	default:
		err = -EBADMSG;
		break;
	}
#undef REF
	*n = err ? 0 : k;
	return err;
}
