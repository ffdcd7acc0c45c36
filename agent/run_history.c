#include "agent/run_history.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent/config.h"
#include "common/clock.h"
#include "common/log.h"
#include "history/history.h"
#include "serve/http_api.h"

#define NS_PER_SEC 1000000000ll
/* how often a range into the future looks for its last window */
#define WAIT_STEP_US 200000

int run_history__open(const struct config *c, struct history **out)
{
	char path[4096], err[512] = "";
	struct history_opts o = {
		.path = path,
		.max_bytes = c->history.max_bytes,
		.retention_ns = (int64_t)c->history.retention_ms * 1000000,
	};
	int rc;

	*out = NULL;
	if (!c->history.retention_ms || !c->history.max_bytes) {
		log_info("local history off (history.retention or history.max_bytes is 0)");
		return 0;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/history.db", c->history.dir) >= sizeof(path)) {
		log_error("local history off: history.dir is too long");
		return 0;
	}
	rc = history__open(&o, out, err, sizeof(err));
	if (rc) {
		/* sampling and the live endpoint matter more than the past */
		log_error("local history off: %s", err[0] ? err : strerror(-rc));
		*out = NULL;
		return 0;
	}
	if (err[0]) /* a corrupt store moved aside: the history starts anew */
		log_warn("local history: %s", err);
	log_info("local history in %s: the last %llu s, at most %llu bytes", path,
		 (unsigned long long)(c->history.retention_ms / 1000),
		 (unsigned long long)c->history.max_bytes);
	return 0;
}

/* Waits until the store holds a window ending at or after end_ns. */
static void wait_for(struct history *h, int64_t end_ns, const struct run_history_opts *o)
{
	int64_t give_up = end_ns + (2ll * o->interval_s + 10) * NS_PER_SEC;
	struct history_stats st;

	for (;;) {
		history__stats(h, &st);
		if (st.newest_ns >= end_ns || atomic_load(o->stopping) ||
		    (int64_t)clock__ns(CLOCK_REALTIME) > give_up)
			return;
		usleep(WAIT_STEP_US);
	}
}

int run_history__profile(struct history *h, const struct profile_query *q,
			 const struct pprof_output *how, const struct run_history_opts *o,
			 struct buf *out, char *err, size_t errlen)
{
	const struct history_filter f = { .pid = q->pid, .match = q->match,
					  .max_bytes = o->max_bytes };
	/* a type the store holds no window of (an agent that never recorded
	 * it) merges into an empty profile, as a range before the store
	 * began does */
	const struct pprof_opts po = {
		.type = http_api__pprof_type(q->type),
		.period_ns = 1000000000ull / (o->frequency ? o->frequency : 99),
		.time_nanos = q->range.start_ns,
		.duration_nanos = q->range.end_ns - q->range.start_ns,
	};
	struct history_merge_info info;
	struct pprof *p = NULL;
	int rc = http_query__history_type(q, err, errlen);

	if (rc)
		return rc;
	if (!h) {
		snprintf(err, errlen, "this agent keeps no history (history.retention or "
				      "history.max_bytes is 0, or its store could not be opened: "
				      "see its log)");
		return -EINVAL;
	}
	/* a range that ends now is answered at once from the stored windows
	 * (the window being recorded is not one yet); one that ends later
	 * waits for the window holding its end */
	if (q->range.end_ns > (int64_t)clock__ns(CLOCK_REALTIME))
		wait_for(h, q->range.end_ns, o);
	if (atomic_fetch_add(o->merges, 1) >= RUN_HISTORY_MAX_MERGES) {
		atomic_fetch_sub(o->merges, 1);
		snprintf(err, errlen, "too many history requests in progress (limit %d), retry later",
			 RUN_HISTORY_MAX_MERGES);
		return -EBUSY;
	}
	rc = pprof__new(&po, &p);
	if (!rc)
		rc = history__merge(h, q->range.start_ns, q->range.end_ns, &f, p, &info);
	if (!rc)
		rc = pprof__write_as(p, how, out);
	pprof__free(p);
	atomic_fetch_sub(o->merges, 1);
	if (rc == -EFBIG) {
		snprintf(err, errlen, "the range holds more than limits.profile_memory (%zu MiB) "
				      "allows: narrow it, or filter by pid or match",
			 o->max_bytes >> 20);
		return -EINVAL;
	}
	if (rc)
		snprintf(err, errlen, "could not read the history: %s", strerror(-rc));
	return rc;
}
