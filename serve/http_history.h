/* http_history: the local history's JSON endpoints (docs/http-api.md),
 * for the page's timeline and label pickers and for scripts. The range is
 * start/end or since (serve/http_query.h: http_query__parse_range; the
 * last hour when absent, an end in the future taken as now), pid and
 * match filter the series as they filter profiles, type (cpu, the
 * default, or off_cpu) picks the windows of that sample type (off_cpu
 * totals are nanoseconds off the CPU); the answer says which.
 *
 *   GET /api/timeline?since=6h[&by=LABEL][&top=N][&pid=P][&match=S][&type=T]
 *        samples per stored window, split by a process label (by, default
 *        comm), the top N values over the range (default 8, 1 to 50) and
 *        the rest as one "other" series
 *   GET /api/labels?since=6h[&name=LABEL][&pid=P][&match=S][&type=T]
 *        the process label names present in the range with their samples,
 *        or with name= that label's values
 *
 *   http_history__add_routes(s, h)   adds both routes (before
 *                                    http_server__start); h NULL (no
 *                                    history): they answer 404 saying so.
 *                                    0 or -ENOMEM
 */
#ifndef BRASA_SERVE_HTTP_HISTORY_H
#define BRASA_SERVE_HTTP_HISTORY_H

#include "serve/http_server.h"

struct history;

int http_history__add_routes(struct http_server *s, struct history *h);

#endif
