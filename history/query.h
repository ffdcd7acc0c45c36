/* query: what the history's queries share (query.c): a read-only
 * connection holding one snapshot, the resolver, the filter's decisions
 * per series label set, and the scan of the series rows of the windows
 * overlapping a range. Internal to history/.
 *
 *   query__begin(h, f, q)        0 or -errno
 *   query__end(q, err)           ends the snapshot, counts the query
 *                                (latency, failure); returns err
 *   query__passes(q, labelset, &ls)
 *                                1 if the series passes the filter (its
 *                                labels in ls), 0 if not, -EBADMSG when
 *                                its label set is corrupt, -errno
 *   query__scan(q, from, to, type, records, fn, ctx)
 *                                fn for each series row of the windows of
 *                                that sample type, by window start,
 *                                and once with labelset 0 for a window
 *                                without series; a non-zero return from
 *                                fn stops with it
 *   query__corrupt(q)            counts a skipped record or row
 */
#ifndef BRASA_HISTORY_QUERY_H
#define BRASA_HISTORY_QUERY_H

#include "common/u64map.h"
#include "history/history_int.h"
#include "history/resolve.h"

struct query {
	struct history *h;
	const struct history_filter *f;
	sqlite3 *db;
	uint64_t generation, t0;
	struct resolver r;
	struct u64map pass; /* label set -> 1 passes, 2 does not */
	uint64_t corrupt;
};

struct scan_row {
	int64_t window, start_ns, duration_ns, period_ns;
	uint64_t labelset, samples;
	const void *record; /* NULL unless asked for */
	size_t record_len;
};

typedef int (*scan_fn)(void *ctx, const struct scan_row *row);

int query__begin(struct history *h, const struct history_filter *f, struct query *q);
int query__end(struct query *q, int err);
int query__passes(struct query *q, uint64_t labelset, const struct labels **ls);
int query__scan(struct query *q, int64_t from_ns, int64_t to_ns, enum pprof_type type,
		bool records, scan_fn fn, void *ctx);
void query__corrupt(struct query *q);

#endif
