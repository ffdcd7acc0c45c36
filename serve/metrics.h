/* metrics: Prometheus text exposition (version 0.0.4) of the agent's
 * counters and gauges: every bound the agent has, how full it is, and
 * every way a sample can be lost.
 *
 *   metrics__family(out, name, type, help)   "# HELP" and "# TYPE" lines
 *   metrics__sample(out, name, labels, value) one sample; labels is a
 *                                            preformatted `k="v",...` or NULL
 *   metrics__escape(out, value)              label value escaping (\\ \" \n)
 *   metrics__write_agent(out, stats)         the profiler's part of /metrics
 *   metrics__write_uploads(out, stats)       the uploader's (with remote.url)
 *   metrics__write_http(out, stats)          the HTTP endpoint's
 *   metrics__write_history(out, stats)       the local history's (when on)
 * All append to out and return 0 or -ENOMEM.
 */
#ifndef BRASA_SERVE_METRICS_H
#define BRASA_SERVE_METRICS_H

#include <stdint.h>

#include "serve/http_api.h"
#include "core/profiler.h"
#include "ship/uploader.h"
#include "common/buf.h"

int metrics__family(struct buf *out, const char *name, const char *type, const char *help);
int metrics__sample(struct buf *out, const char *name, const char *labels, double value);
int metrics__escape(struct buf *out, const char *value);
int metrics__write_agent(struct buf *out, const struct profiler_stats *st);
int metrics__write_uploads(struct buf *out, const struct uploader_stats *st);
int metrics__write_http(struct buf *out, const struct http_api_stats *st);
struct history_stats;
int metrics__write_history(struct buf *out, const struct history_stats *st);

#endif
