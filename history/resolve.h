/* resolve: the reading side of history's dictionary for one query on one
 * read-only connection: rows by id, strings and label sets cached for the
 * query's length. A row that is missing or does not decode is -EBADMSG,
 * which queries count as a corrupt record.
 *
 *   resolver__init(r, db)                 0 or -errno
 *   resolver__release(r)                  NULL-safe
 *   resolver__body(r, kind, id, &p, &len) the row's body, valid until the
 *                                         next call for the same kind
 *   resolver__string(r, id, &s)           NUL-terminated, valid until
 *                                         release
 *   resolver__labels(r, id, &ls)          a label set of strings (a
 *                                         series'): as struct labels, valid
 *                                         until release
 *   resolver__labelset(r, id, labels, max, &n)
 *                                         any label set, as pprof labels
 *                                         (strings valid until release)
 */
#ifndef BRASA_HISTORY_RESOLVE_H
#define BRASA_HISTORY_RESOLVE_H

#include <sqlite3.h>

#include "common/labels.h"
#include "common/u64map.h"
#include "core/pprof.h"
#include "history/body.h"

struct resolver {
	sqlite3 *db;
	sqlite3_stmt *body[HISTORY_KIND__MAX];
	struct u64map strings;  /* id -> char * */
	struct u64map labels;   /* id -> struct labels * */
};

int resolver__init(struct resolver *r, sqlite3 *db);
void resolver__release(struct resolver *r);
int resolver__body(struct resolver *r, enum history_kind kind, uint64_t id, const void **p,
		   size_t *len);
int resolver__string(struct resolver *r, uint64_t id, const char **s);
int resolver__labels(struct resolver *r, uint64_t id, const struct labels **ls);
int resolver__labelset(struct resolver *r, uint64_t id, struct pprof_label *labels, size_t max,
		       size_t *n);

#endif
