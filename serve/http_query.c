#include "serve/http_query.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "common/macros.h"
#include "common/parse.h"
#include "common/timearg.h"
#include "labels/matcher.h"
#include "serve/http_text.h"

/* The next byte of src[0..n) decoded as application/x-www-form-urlencoded,
 * as Go's url.ParseQuery does for net/http/pprof ('+' is a space, %XX a
 * byte), except that a '%' without two hex digits stays as it is (Go would
 * drop the whole parameter). Advances *i past what it decoded. */
static char form_next(const char *src, size_t n, size_t *i)
{
	char c = src[*i];
	int hi, lo;

	if (c == '+') {
		(*i)++;
		return ' ';
	}
	if (c == '%' && n - *i >= 3 && (hi = parse_hex_digit(src[*i + 1])) >= 0 &&
	    (lo = parse_hex_digit(src[*i + 2])) >= 0) {
		*i += 3;
		return (char)(hi << 4 | lo);
	}
	(*i)++;
	return c;
}

/* A parameter's key or value, decoded: the first bytes, and what the
 * errors need to know about all of them. */
struct decoded {
	char head[64];
	size_t len;                 /* of the whole decoded text */
	size_t nul;                 /* offset of the first NUL, or len */
	bool digits;                /* only 0-9 (and not empty) */
};

/* Decodes src[0..n) into d, and its first cap bytes into dst. */
static void decode_to(const char *src, size_t n, char *dst, size_t cap, struct decoded *d)
{
	d->len = 0;
	d->nul = SIZE_MAX;
	d->digits = n > 0;
	for (size_t i = 0; i < n;) {
		char c = form_next(src, n, &i);

		if (d->len < cap)
			dst[d->len] = c;
		if (c == 0 && d->nul == SIZE_MAX)
			d->nul = d->len;
		d->digits &= c >= '0' && c <= '9';
		d->len++;
	}
	if (d->nul == SIZE_MAX)
		d->nul = d->len;
}

static void decode(const char *src, size_t n, struct decoded *d)
{
	decode_to(src, n, d->head, sizeof(d->head), d);
}

static int query_fail(char *err, size_t errlen, const char *name, const struct decoded *v,
		      size_t upto, const char *why)
{
	char echo[HTTP_ECHO_SIZE];

	http_text__echo(echo, sizeof(echo), v->head, MIN(upto, sizeof(v->head)), upto);
	return http_text__errf(err, errlen, EINVAL, "bad %s: \"%s\": %s", name, echo, why);
}

/* One `match` selector, the whole value decoded into text (its first
 * MATCHER_MAX_BYTES + 1 bytes), added to q->match. */
static int parse_match(struct profile_query *q, const char *src, size_t n, char *err,
		       size_t errlen)
{
	char text[MATCHER_MAX_BYTES + 1], echo[HTTP_ECHO_SIZE], msg[256];
	struct decoded d;
	size_t avail, len;
	int rc;

	decode_to(src, n, text, sizeof(text), &d);
	avail = MIN(d.len, sizeof(text));
	http_text__echo(echo, sizeof(echo), text, MIN(avail, d.nul), d.nul);
	if (d.nul < d.len)
		return http_text__errf(err, errlen, EINVAL, "bad match: \"%s\": contains a NUL byte",
				       echo);
	if (d.len > MATCHER_MAX_BYTES)
		return http_text__errf(err, errlen, EINVAL,
				       "bad match: \"%s\": longer than %d bytes", echo,
				       MATCHER_MAX_BYTES);
	rc = matcher_set__add(&q->match, text, d.len, msg, sizeof(msg));
	if (rc == -EINVAL && matcher_set__count(q->match) == MATCHER_MAX_SELECTORS)
		return http_text__errf(err, errlen, EINVAL, "bad match: %s", msg);
	if (rc) {
		http_text__errf(err, errlen, -rc, "bad match: \"%s\": ", echo);
		/* the message may quote the selector's bytes: escaped, and cut
		 * where err ends on a character boundary */
		if (err && errlen) {
			len = strlen(err);
			http_text__escape(err, errlen, &len, msg, strlen(msg), false);
		}
	}
	return rc;
}

void profile_query__release(struct profile_query *q)
{
	matcher_set__free(q->match);
	q->match = NULL;
}

static int parse_params(const char *query, size_t len, uint32_t default_seconds,
			uint32_t max_seconds, struct profile_query *out, char *err, size_t errlen)
{
	const char *p = query, *end = query + len;
	bool have_seconds = false, have_pid = false;

	*out = (struct profile_query){ .seconds = default_seconds, .pid = -1 };
	for (const char *next; p < end; p = next) {
		const char *amp = memchr(p, '&', (size_t)(end - p)) ?: end;
		const char *eq = memchr(p, '=', (size_t)(amp - p));
		struct decoded key, value;
		bool is_seconds, is_pid;
		const char *name;
		uint64_t v;
		int rc;

		decode(p, (size_t)((eq ? eq : amp) - p), &key);
		is_seconds = key.len == 7 && memcmp(key.head, "seconds", 7) == 0;
		is_pid = key.len == 3 && memcmp(key.head, "pid", 3) == 0;
		next = amp < end ? amp + 1 : end;
		if (key.len == 5 && memcmp(key.head, "match", 5) == 0) {
			/* repeated: the selectors are OR-ed */
			rc = !eq || eq + 1 == amp
				     ? http_text__errf(err, errlen, EINVAL, "bad match: missing value")
				     : parse_match(out, eq + 1, (size_t)(amp - eq - 1), err, errlen);
			if (rc)
				return rc;
			continue;
		}
		/* unknown parameters are ignored, as net/http/pprof does (pprof
		 * itself adds none, but proxies and scrapers sometimes do) */
		if (!is_seconds && !is_pid)
			continue;
		name = is_seconds ? "seconds" : "pid";
		if ((is_seconds && have_seconds) || (is_pid && have_pid))
			return http_text__errf(err, errlen, EINVAL, "bad %s: given more than once",
					       name);
		if (!eq || eq + 1 == amp)
			return http_text__errf(err, errlen, EINVAL, "bad %s: missing value", name);

		decode(eq + 1, (size_t)(amp - eq - 1), &value);
		/* "%00" decodes to an embedded NUL that would cut the value
		 * short for a C parser and hide trailing garbage */
		if (value.nul < value.len)
			return query_fail(err, errlen, name, &value, value.nul, "contains a NUL byte");
		if (!value.digits)
			return query_fail(err, errlen, name, &value, value.len,
					  "not a positive integer");
		if (value.len >= sizeof(value.head))
			return query_fail(err, errlen, name, &value, value.len, "out of range");
		value.head[value.len] = 0;
		if (parse_u64(value.head, 10, &v) < 0 || v > (is_seconds ? UINT32_MAX : INT32_MAX))
			return query_fail(err, errlen, name, &value, value.len, "out of range");
		if (v == 0)
			return query_fail(err, errlen, name, &value, value.len, "must be at least 1");
		if (is_pid) {
			out->pid = (int32_t)v;
			have_pid = true;
		} else if (v > max_seconds) {
			/* net/http/pprof's wording, with the limit that applies */
			return http_text__errf(err, errlen, EINVAL,
					       "profile duration exceeds server's maximum of %u "
					       "seconds", max_seconds);
		} else {
			out->seconds = (uint32_t)v;
			out->seconds_given = have_seconds = true;
		}
	}
	return 0;
}

const char *const profile_type_names[PROFILE_TYPES] = {
	[PROFILE_CPU] = "cpu",
	[PROFILE_OFF_CPU] = "off_cpu",
	[PROFILE_WALL] = "wall",
};

/* type: which sample type the profile is of; one the agent records. */
static int parse_type(const char *query, size_t len, struct profile_query *out, char *err,
		      size_t errlen)
{
	const char *const *names = profile_type_names;
	char value[32], echo[HTTP_ECHO_SIZE];
	int rc = http_query__param(query, len, "type", value, sizeof(value), err, errlen);

	if (rc <= 0)
		return rc;
	for (size_t i = 0; i < PROFILE_TYPES; i++)
		if (!strcmp(value, names[i])) {
			out->type = (enum profile_type)i;
			return 0;
		}
	http_text__echo(echo, sizeof(echo), value, strlen(value), strlen(value));
	return http_text__errf(err, errlen, EINVAL,
			       "bad type: \"%s\": the sample types are cpu, off_cpu and wall",
			       echo);
}

/* The history stores cpu and off_cpu windows; a wall profile is composed
 * from both as they are recorded, not from stored windows. */
int http_query__history_type(const struct profile_query *q, char *err, size_t errlen)
{
	if (q->type != PROFILE_WALL)
		return 0;
	return http_text__errf(err, errlen, EINVAL, "bad type: the history keeps cpu and "
			       "off_cpu windows; wall profiles are live only (seconds=)");
}

int http_query__parse_profile(const char *query, size_t len, uint32_t default_seconds,
			      uint32_t max_seconds, struct profile_query *out, char *err,
			      size_t errlen)
{
	int rc = parse_params(query, len, default_seconds, max_seconds, out, err, errlen);

	if (!rc)
		rc = parse_type(query, len, out, err, errlen);
	if (rc)
		profile_query__release(out);
	return rc;
}

int http_query__param(const char *query, size_t len, const char *name, char *value,
		      size_t vlen, char *err, size_t errlen)
{
	const char *p = query, *end = query + len;
	size_t name_len = strlen(name);
	bool found = false;

	for (const char *next; p < end; p = next) {
		const char *amp = memchr(p, '&', (size_t)(end - p)) ?: end;
		const char *eq = memchr(p, '=', (size_t)(amp - p));
		struct decoded key, v;

		next = amp < end ? amp + 1 : end;
		decode(p, (size_t)((eq ? eq : amp) - p), &key);
		if (key.len != name_len || memcmp(key.head, name, name_len))
			continue;
		if (found)
			return http_text__errf(err, errlen, EINVAL, "bad %s: given more than once",
					       name);
		if (!eq || eq + 1 == amp)
			return http_text__errf(err, errlen, EINVAL, "bad %s: missing value", name);
		decode(eq + 1, (size_t)(amp - eq - 1), &v);
		if (v.nul < v.len)
			return query_fail(err, errlen, name, &v, v.nul, "contains a NUL byte");
		if (v.len >= vlen || v.len >= sizeof(v.head))
			return query_fail(err, errlen, name, &v, v.len, "too long");
		memcpy(value, v.head, v.len);
		value[v.len] = 0;
		found = true;
	}
	return found;
}

/* One time parameter: 1 with *ns set, 0 when absent, -EINVAL with the 400
 * line in err. */
static int time_param(const char *query, size_t len, const char *name, int64_t now_ns,
		      int64_t *ns, char *err, size_t errlen)
{
	char value[64], echo[HTTP_ECHO_SIZE];
	int rc = http_query__param(query, len, name, value, sizeof(value), err, errlen);
	uint64_t ms;

	if (rc <= 0)
		return rc;
	if (!strcmp(name, "since")) {
		rc = timearg__duration(value, &ms);
		if (!rc && (ms > (uint64_t)(now_ns / 1000000) || !ms))
			rc = -ERANGE;
		if (!rc)
			*ns = now_ns - (int64_t)ms * 1000000;
	} else {
		rc = timearg__parse(value, now_ns, ns);
	}
	if (!rc)
		return 1;
	http_text__echo(echo, sizeof(echo), value, strlen(value), strlen(value));
	if (!strcmp(name, "since"))
		return http_text__errf(err, errlen, EINVAL, "bad since: \"%s\": %s", echo,
				       rc == -ERANGE ? "out of range"
						     : "expected a duration such as 15m or 1h30m");
	return http_text__errf(err, errlen, EINVAL, "bad %s: \"%s\": %s", name, echo,
			       rc == -ERANGE ? "out of range (1970 to 2262)"
					     : "expected RFC 3339 (2026-12-05T03:12:00Z), Unix "
					       "seconds or now-DURATION");
}

int http_query__parse_range(const char *query, size_t len, int64_t now_ns, uint32_t max_ahead_s,
			    struct profile_range *out, char *err, size_t errlen)
{
	int64_t start = 0, since = 0, end = now_ns;
	int has_start, has_since, has_end;
	char seconds[16];

	*out = (struct profile_range){ 0 };
	has_start = time_param(query, len, "start", now_ns, &start, err, errlen);
	if (has_start < 0)
		return has_start;
	has_since = time_param(query, len, "since", now_ns, &since, err, errlen);
	if (has_since < 0)
		return has_since;
	has_end = time_param(query, len, "end", now_ns, &end, err, errlen);
	if (has_end < 0)
		return has_end;
	if (!has_start && !has_since) {
		if (has_end)
			return http_text__errf(err, errlen, EINVAL,
					       "bad end: needs start or since");
		return 0;
	}
	if (has_start && has_since)
		return http_text__errf(err, errlen, EINVAL,
				       "bad since: give start or since, not both");
	if (http_query__param(query, len, "seconds", seconds, sizeof(seconds), err, errlen))
		return http_text__errf(err, errlen, EINVAL,
				       "bad seconds: a range (start or since) has no seconds: "
				       "end=now+30s records 30 s more");
	if (has_since)
		start = since;
	if (start >= end)
		return http_text__errf(err, errlen, EINVAL, "bad end: not after the start");
	if (end > now_ns && (uint64_t)(end - now_ns) > (uint64_t)max_ahead_s * 1000000000ull)
		return http_text__errf(err, errlen, EINVAL,
				       "bad end: more than %u seconds ahead (the longest profile)",
				       max_ahead_s);
	*out = (struct profile_range){ .set = true, .start_ns = start, .end_ns = end };
	return 0;
}
