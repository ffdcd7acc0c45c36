/* timearg: the durations and points in time people type — in flags and
 * config files ("1m30s"), and in queries and shell commands that look
 * back ("2026-12-05T03:12:00Z", "1764904320", "now-15m"). Pure.
 *
 *   timearg__duration(text, &ms)   "1m30s", "500ms", "0"... (units d, h,
 *                                  m, s, ms, each at most once, largest
 *                                  first, as Prometheus has them); 0,
 *                                  -EINVAL or -ERANGE
 *   timearg__format_duration(ms, out, len)
 *                                  the shortest exact spelling ("0s",
 *                                  "1m30s"); always NUL-terminated
 *   timearg__parse(text, now_ns, &ns)
 *                                  a point in time as Unix ns: RFC 3339
 *                                  ("2026-12-05T03:12:00Z", a fraction of
 *                                  up to 9 digits, "z", a space for "T",
 *                                  an offset "+01:00"); Unix seconds
 *                                  ("1764904320", "1764904320.5"); "now",
 *                                  "now-15m", "now+30s" (or "now 30s": a
 *                                  '+' that form decoding made a space).
 *                                  0, -EINVAL (not one of those), -ERANGE
 *                                  (before 1970 or past 2262, where int64
 *                                  ns ends)
 */
#ifndef BRASA_COMMON_TIMEARG_H
#define BRASA_COMMON_TIMEARG_H

#include <stddef.h>
#include <stdint.h>

int timearg__duration(const char *text, uint64_t *ms);
void timearg__format_duration(uint64_t ms, char *out, size_t len);
int timearg__parse(const char *text, int64_t now_ns, int64_t *ns);

#endif
