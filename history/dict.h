/* dict: the writer's side of history's dictionary: a body (history/body.h)
 * to the id of its row, inserting the row when new, with a bounded cache
 * per kind in front of the store's hash index. Lookups compare whole
 * bodies (the hash only finds candidates), so two contents never share a
 * row.
 *
 * last_seen (in seconds, a smaller integer in every row): a row used by a
 * window starting at now_s gets last_seen = now_s unless it already is at
 * least now_s - refresh (refresh_ns in whole seconds, at least 1), so every
 * row keeps last_seen >= (start of each window using it) - refresh, with a
 * write per row at most every refresh. The cache's copy of last_seen
 * never exceeds the store's, which is why a rolled-back transaction must
 * be followed by dict__reset.
 *
 *   dict__new(db, key, cache_bytes, refresh_ns, &d)
 *                             prepares its statements on the writer's
 *                             connection; 0 or -errno
 *   dict__free(d)             NULL-safe (before the connection closes)
 *   dict__intern(d, kind, body, len, now_s, &id)
 *                             0 or -errno (a SQLite error as -errno)
 *   dict__reset(d)            empties every cache (after a rollback)
 *   dict__forget_before(d, cutoff)
 *                             drops cached rows whose last_seen is below
 *                             cutoff (after the store deleted them)
 *   dict__forget(d, keep, ctx)
 *                             drops the cached rows keep(ctx, kind, id,
 *                             last_seen) does not keep (after the store
 *                             deleted rows: a cached id must never name a
 *                             deleted row, whose id SQLite may give again
 *                             to another body)
 *   dict__bytes(d), dict__resets(d)
 *                             the caches' memory; tables emptied for the
 *                             bound
 */
#ifndef BRASA_HISTORY_DICT_H
#define BRASA_HISTORY_DICT_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "history/body.h"

struct dict;

int dict__new(sqlite3 *db, const uint8_t key[16], size_t cache_bytes, int64_t refresh_ns,
	      struct dict **out);
void dict__free(struct dict *d);
int dict__intern(struct dict *d, enum history_kind kind, const void *body, size_t len,
		 int64_t now_s, uint64_t *id);
void dict__reset(struct dict *d);
void dict__forget_before(struct dict *d, int64_t cutoff);
void dict__forget(struct dict *d,
		  bool (*keep)(void *ctx, enum history_kind kind, int64_t id, int64_t last_seen),
		  void *ctx);
size_t dict__bytes(const struct dict *d);
uint64_t dict__resets(const struct dict *d);

#endif
