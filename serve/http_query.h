/* http_query: the query string of a profile request
 * (/debug/pprof/profile?seconds=N&pid=P&match=SELECTOR), parsed the way Go's
 * net/http/pprof reads it. Pure: the bytes come from any client (fuzzed by
 * tests/fuzz/fuzz-http-query.c).
 *
 *   http_query__parse_profile(q, len, def, max, &out, err, errlen)
 *        q: the bytes after '?' (any bytes, not NUL-terminated). 0 with
 *        out filled (seconds def and pid -1 when absent), or -EINVAL with
 *        the 400 body's line in err: one line of UTF-8 without control
 *        characters, quoting at most HTTP_ECHO_MAX bytes of the value.
 *        Bad seconds/pid: missing value, 0, not a decimal number (after
 *        form decoding: '+' a space, %XX a byte), a NUL, duplicated, out
 *        of range, seconds over max. Unknown parameters are ignored like
 *        Go.
 *        match (repeated: OR-ed) is a label selector (labels/matcher.h),
 *        parsed into out->match, owned by the caller after a success
 *        (nothing to release after an error); bad: missing value, a NUL,
 *        over MATCHER_MAX_BYTES, a syntax error (the body says which and
 *        where), more than MATCHER_MAX_SELECTORS of them.
 *        type names the sample type (enum profile_type: "cpu", the
 *        default, or "off_cpu"; whether this agent records it is its
 *        handler's to say); bad: any other name (the body lists the
 *        known ones), given twice, missing value.
 *   http_query__parse_range(q, len, now_ns, max_ahead_s, &range, err, errlen)
 *        a look back in time: start= and end= (common/timearg.h: RFC
 *        3339, Unix seconds, now-15m; end defaults to now) or since=D
 *        (start = now - D). 0 with range->set false when none is given,
 *        or true and [start_ns, end_ns) filled; -EINVAL with the 400
 *        line in err: a time or duration that does not parse, end
 *        without start or since, start and since together, start not
 *        before end, end more than max_ahead_s seconds ahead (a range
 *        into the future records until its end, as a live profile of
 *        that length would), seconds= beside a range.
 *   http_query__history_type(q, err, errlen)
 *        0 when the history can answer q's type, else -EINVAL with the
 *        400 line (wall: composed live only)
 *   profile_query__release(q)
 *        frees what a parsed query owns (its matchers); for a zeroed q
 *        too, so it may be a _cleanup_ function
 *   http_query__param(q, len, name, value, vlen, err, errlen)
 *        the decoded value of parameter name, for what a route reads on
 *        top of those: 1 with it NUL-terminated in value, 0 when absent,
 *        or -EINVAL with the 400 line in err (given more than once,
 *        missing value, a NUL, longer than vlen - 1 bytes).
 */
#ifndef BRASA_SERVE_HTTP_QUERY_H
#define BRASA_SERVE_HTTP_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct matcher_set;

/* The sample types a profile request may ask for (type=). */
enum profile_type {
	PROFILE_CPU, /* "cpu": on-CPU samples, the default */
	PROFILE_OFF_CPU, /* "off_cpu": time off the CPU (agents run with --off-cpu) */
	PROFILE_WALL, /* "wall": on-CPU and off-CPU time together (also --off-cpu) */
	PROFILE_TYPES,
};

/* Their names in type=, by enum profile_type. */
extern const char *const profile_type_names[PROFILE_TYPES];

/* A time range of a history query: [start_ns, end_ns), Unix ns. */
struct profile_range {
	bool set;
	int64_t start_ns, end_ns;
};

struct profile_query {
	enum profile_type type;
	struct profile_range range; /* set: from the history (start/end/since) */
	uint32_t seconds;
	bool seconds_given; /* seconds= was in the query, not the default */
	int32_t pid;      /* -1: every process */
	struct matcher_set *match; /* NULL: every process */
};


int http_query__parse_profile(const char *query, size_t len, uint32_t default_seconds,
			      uint32_t max_seconds, struct profile_query *out, char *err,
			      size_t errlen);
int http_query__parse_range(const char *query, size_t len, int64_t now_ns, uint32_t max_ahead_s,
			    struct profile_range *out, char *err, size_t errlen);
void profile_query__release(struct profile_query *q);
int http_query__history_type(const struct profile_query *q, char *err, size_t errlen);
int http_query__param(const char *query, size_t len, const char *name, char *value,
		      size_t vlen, char *err, size_t errlen);

#endif
