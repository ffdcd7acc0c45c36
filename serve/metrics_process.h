/* metrics_process: the agent's own process on /metrics under the names
 * every Prometheus client library uses (process_cpu_seconds_total,
 * process_resident_memory_bytes, ...), so the dashboards and alerts made
 * for them work unchanged, and brasa_build_info (always 1) naming what
 * runs. Read from /proc/self at each scrape.
 *
 *   metrics__write_process(out, revision)  appends both; 0 or -ENOMEM.
 *        A /proc file that cannot be read leaves its metrics out (a
 *        scrape never fails for it). revision: the source revision
 *        (git describe), NULL for "unknown".
 */
#ifndef BRASA_SERVE_METRICS_PROCESS_H
#define BRASA_SERVE_METRICS_PROCESS_H

#include "common/buf.h"

int metrics__write_process(struct buf *out, const char *revision);

#endif
