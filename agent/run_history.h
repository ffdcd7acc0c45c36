/* run_history: the daemon's local history (history/history.h): the store
 * opened from the configuration, and profile requests over a past range
 * (GET /debug/pprof/profile?since=15m, start=&end=) answered from it.
 *
 *   run_history__open(c, &h)   0 with *h the store, or NULL when
 *                              history.retention or history.max_bytes is
 *                              0, or when it cannot be opened (said in
 *                              the log: the agent samples and serves on
 *                              without a history, never refuses to start)
 *   run_history__profile(h, q, how, o, out, err, errlen)
 *                              the windows of q->range merged and written
 *                              as how says. A range that ends in the
 *                              future waits for the window that holds its
 *                              end to be stored (at most its end + two
 *                              windows + 10 s), or until *o->stopping;
 *                              one that ends now or before is answered at
 *                              once from the windows stored (the one being
 *                              recorded is not). A merge takes at most
 *                              max_bytes, and RUN_HISTORY_MAX_MERGES run
 *                              at once. 0, -EINVAL (no history, a range
 *                              too large for max_bytes: err says why),
 *                              -EBUSY (too many merges), -ENOMEM, -errno
 *                              of the store
 */
#ifndef BRASA_AGENT_RUN_HISTORY_H
#define BRASA_AGENT_RUN_HISTORY_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "core/pprof_format.h"
#include "serve/http_query.h"

struct config;
struct history;

struct run_history_opts {
	uint32_t frequency;      /* Hz: the merged profile's period */
	uint32_t interval_s;     /* the windows' length */
	size_t max_bytes;        /* one merge's memory (limits.profile_memory) */
	atomic_bool *stopping;   /* set when the agent stops */
	atomic_uint *merges;     /* in progress, at most RUN_HISTORY_MAX_MERGES */
};

/* Merges at once: each may take max_bytes. */
#define RUN_HISTORY_MAX_MERGES 2

int run_history__open(const struct config *c, struct history **out);
int run_history__profile(struct history *h, const struct profile_query *q,
			 const struct pprof_output *how, const struct run_history_opts *o,
			 struct buf *out, char *err, size_t errlen);

#endif
