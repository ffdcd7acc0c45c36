/* The writer's dictionary (history/dict.h). */
#include "history/dict.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/macros.h"
#include "history/history_int.h"
#include "history/siphash.h"

/* The store keeps 32 bits of a body's hash (4 bytes in the row and in the
 * index, not 8): enough to find the candidates, whose bodies are compared;
 * a few candidates more with millions of rows. */
#define STORED_HASH(h) ((int64_t)(int32_t)(uint32_t)((h) >> 32))

/* A cached row: its body is arena[off, off + len). 32 bytes. */
struct centry {
	uint64_t hash;
	int64_t id; /* 0: empty slot */
	int64_t last_seen;
	uint32_t off, len;
};

struct ctable {
	struct centry *slots;
	size_t cap, used; /* cap: 0 or a power of two */
	struct buf arena;
};

struct kind_stmts {
	sqlite3_stmt *find, *insert, *touch;
};

struct dict {
	uint8_t key[16];
	size_t cache_bytes;
	int64_t refresh_s;
	struct ctable t[HISTORY_KIND__MAX];
	struct kind_stmts st[HISTORY_KIND__MAX];
	uint64_t resets;
};

static size_t ctable_bytes(const struct ctable *t)
{
	return t->cap * sizeof(*t->slots) + t->arena.cap;
}

static void ctable_release(struct ctable *t)
{
	free(t->slots);
	buf_release(&t->arena);
	*t = (struct ctable){ 0 };
}

static struct centry *ctable_find(const struct ctable *t, uint64_t hash, const void *body,
				  size_t len)
{
	if (!t->cap)
		return NULL;
	for (size_t i = hash & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
		struct centry *e = &t->slots[i];

		if (!e->id)
			return NULL;
		if (e->hash == hash && e->len == len && !memcmp(t->arena.data + e->off, body, len))
			return e;
	}
}

static void ctable_place(struct ctable *t, const struct centry *e)
{
	size_t i = e->hash & (t->cap - 1);

	while (t->slots[i].id)
		i = (i + 1) & (t->cap - 1);
	t->slots[i] = *e;
	t->used++;
}

/* Which cached rows a rebuild keeps (NULL: all). */
struct keep {
	bool (*fn)(void *ctx, enum history_kind kind, int64_t id, int64_t last_seen);
	void *ctx;
	enum history_kind kind;
};

/* t again with cap slots and only the entries keep keeps, their bodies in a
 * fresh arena. */
static int ctable_rebuild(struct ctable *t, size_t cap, const struct keep *keep)
{
	struct ctable nt = { .cap = cap };

	nt.slots = calloc(cap, sizeof(*nt.slots));
	if (!nt.slots)
		return -ENOMEM;
	for (size_t i = 0; i < t->cap; i++) {
		struct centry e = t->slots[i];

		if (!e.id || (keep && !keep->fn(keep->ctx, keep->kind, e.id, e.last_seen)))
			continue;
		if (buf_append(&nt.arena, t->arena.data + e.off, e.len)) {
			ctable_release(&nt);
			return -ENOMEM;
		}
		e.off = (uint32_t)(nt.arena.len - e.len);
		ctable_place(&nt, &e);
	}
	ctable_release(t);
	*t = nt;
	return 0;
}

static void ctable_add(struct dict *d, struct ctable *t, uint64_t hash, int64_t id,
		       int64_t last_seen, const void *body, size_t len)
{
	struct centry e = { hash, id, last_seen, 0, (uint32_t)len };
	size_t total = 0, largest = 0;

	/* a body bigger than a sixteenth of the bound is not worth a reset */
	if (len > d->cache_bytes / 16 || t->arena.len + len > UINT32_MAX)
		return;
	if ((t->used + 1) * 4 > t->cap * 3 &&
	    ctable_rebuild(t, t->cap ? t->cap * 2 : 256, NULL))
		return; /* no memory: it just is not cached */
	if (buf_append(&t->arena, body, len))
		return;
	e.off = (uint32_t)(t->arena.len - len);
	ctable_place(t, &e);

	/* over the bound: empty the largest table, which refills from the
	 * store's hash index as windows use its rows again */
	for (size_t k = 0; k < HISTORY_KIND__MAX; k++) {
		total += ctable_bytes(&d->t[k]);
		if (ctable_bytes(&d->t[k]) > ctable_bytes(&d->t[largest]))
			largest = k;
	}
	if (total > d->cache_bytes) {
		ctable_release(&d->t[largest]);
		d->resets++;
	}
}

int dict__new(sqlite3 *db, const uint8_t key[16], size_t cache_bytes, int64_t refresh_ns,
	      struct dict **out)
{
	struct dict *d = calloc(1, sizeof(*d));
	char sql[256];
	int err = 0;

	if (!d)
		return -ENOMEM;
	memcpy(d->key, key, sizeof(d->key));
	d->cache_bytes = cache_bytes;
	d->refresh_s = MAX(refresh_ns / 1000000000, (int64_t)1);
	for (size_t k = 0; !err && k < HISTORY_KIND__MAX; k++) {
		const char *t = history_tables[k];

		snprintf(sql, sizeof(sql), "SELECT id, last_seen, body FROM %s WHERE hash = ?", t);
		err = hdb__prepare(db, sql, &d->st[k].find);
		snprintf(sql, sizeof(sql), "INSERT INTO %s(hash, last_seen, body) VALUES (?, ?, ?)", t);
		if (!err)
			err = hdb__prepare(db, sql, &d->st[k].insert);
		snprintf(sql, sizeof(sql), "UPDATE %s SET last_seen = ? WHERE id = ?", t);
		if (!err)
			err = hdb__prepare(db, sql, &d->st[k].touch);
	}
	if (err) {
		dict__free(d);
		return err;
	}
	*out = d;
	return 0;
}

void dict__free(struct dict *d)
{
	if (!d)
		return;
	for (size_t k = 0; k < HISTORY_KIND__MAX; k++) {
		ctable_release(&d->t[k]);
		sqlite3_finalize(d->st[k].find);
		sqlite3_finalize(d->st[k].insert);
		sqlite3_finalize(d->st[k].touch);
	}
	free(d);
}

static int step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : hdb__errno(rc);
}

static int touch(struct dict *d, enum history_kind kind, int64_t id, int64_t now_s)
{
	sqlite3_stmt *st = d->st[kind].touch;

	sqlite3_bind_int64(st, 1, now_s);
	sqlite3_bind_int64(st, 2, id);
	return step_done(st);
}

/* The row of body in the store: *id 0 when there is none. */
static int find(struct dict *d, enum history_kind kind, uint64_t hash, const void *body,
		size_t len, int64_t *id, int64_t *last_seen)
{
	sqlite3_stmt *st = d->st[kind].find;
	int rc;

	*id = 0;
	sqlite3_bind_int64(st, 1, STORED_HASH(hash));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const void *b = sqlite3_column_blob(st, 2);
		size_t n = (size_t)sqlite3_column_bytes(st, 2);

		if (n == len && (!len || !memcmp(b, body, len))) {
			*id = sqlite3_column_int64(st, 0);
			*last_seen = sqlite3_column_int64(st, 1);
			break;
		}
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : hdb__errno(rc);
}

int dict__intern(struct dict *d, enum history_kind kind, const void *body, size_t len,
		 int64_t now_s, uint64_t *id)
{
	struct ctable *t = &d->t[kind];
	uint64_t hash = siphash24(d->key, body, len);
	struct centry *e = ctable_find(t, hash, body, len);
	int64_t row, last_seen;
	sqlite3_stmt *st;
	int err;

	if (e) {
		if (e->last_seen < now_s - d->refresh_s) {
			err = touch(d, kind, e->id, now_s);
			if (err)
				return err;
			e->last_seen = now_s;
		}
		*id = (uint64_t)e->id;
		return 0;
	}
	err = find(d, kind, hash, body, len, &row, &last_seen);
	if (err)
		return err;
	if (row && last_seen < now_s - d->refresh_s) {
		err = touch(d, kind, row, now_s);
		last_seen = now_s;
	} else if (!row) {
		st = d->st[kind].insert;
		sqlite3_bind_int64(st, 1, STORED_HASH(hash));
		sqlite3_bind_int64(st, 2, now_s);
		sqlite3_bind_blob(st, 3, len ? body : "", (int)len, SQLITE_STATIC);
		err = step_done(st);
		sqlite3_clear_bindings(st);
		row = sqlite3_last_insert_rowid(sqlite3_db_handle(st));
		last_seen = now_s;
	}
	if (err)
		return err;
	ctable_add(d, t, hash, row, last_seen, body, len);
	*id = (uint64_t)row;
	return 0;
}

void dict__reset(struct dict *d)
{
	if (!d)
		return;
	for (size_t k = 0; k < HISTORY_KIND__MAX; k++)
		ctable_release(&d->t[k]);
}

void dict__forget(struct dict *d,
		  bool (*keep)(void *ctx, enum history_kind kind, int64_t id, int64_t last_seen),
		  void *ctx)
{
	for (size_t k = 0; d && k < HISTORY_KIND__MAX; k++) {
		const struct keep kp = { keep, ctx, k };

		if (d->t[k].cap && ctable_rebuild(&d->t[k], d->t[k].cap, &kp))
			ctable_release(&d->t[k]); /* no memory: forget them all */
	}
}

static bool seen_since(void *ctx, enum history_kind kind, int64_t id, int64_t last_seen)
{
	(void)kind;
	(void)id;
	return last_seen >= *(const int64_t *)ctx;
}

void dict__forget_before(struct dict *d, int64_t cutoff)
{
	dict__forget(d, seen_since, &cutoff);
}

size_t dict__bytes(const struct dict *d)
{
	size_t n = 0;

	for (size_t k = 0; d && k < HISTORY_KIND__MAX; k++)
		n += ctable_bytes(&d->t[k]);
	return n;
}

uint64_t dict__resets(const struct dict *d)
{
	return d ? d->resets : 0;
}
