/* libFuzzer target: the profile request's query string
 * (http_query__parse_profile, its match= selectors included, and
 * http_query__param for the parameters /api/flamegraph adds) and the Host check
 * (http_address__host_is_loopback) on arbitrary bytes. Beyond not crashing,
 * what they promise: a parsed query is in range, and an error is one line
 * of valid UTF-8 without control characters, whatever the input (it goes
 * back to the client in the 400's body). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "labels/matcher.h"
#include "serve/http_address.h"
#include "serve/http_query.h"
#include "common/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_line(const char *s)
{
	size_t n = strlen(s);

	if (n == 0)
		abort();
	for (size_t i = 0; i < n;) {
		size_t k = utf8_seq_len((const uint8_t *)s + i, n - i);

		if (k == 0 || (unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			abort();
		i += k;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct profile_query q;
	char err[256];

	memset(err, 0, sizeof(err));
	if (http_query__parse_profile((const char *)data, size, 30, 600, &q, err,
				      sizeof(err)) == 0) {
		if (q.seconds < 1 || q.seconds > 600 || (q.pid != -1 && q.pid < 1) ||
		    matcher_set__count(q.match) > MATCHER_MAX_SELECTORS)
			abort();
		profile_query__release(&q);
	} else {
		check_line(err);
	}
	/* a range is ordered and reaches at most 600 s ahead of now */
	{
		const int64_t now = 1764904320000000000ll;
		struct profile_range r;

		memset(err, 0, sizeof(err));
		if (http_query__parse_range((const char *)data, size, now, 600, &r, err,
					    sizeof(err)) == 0) {
			if (r.set && (r.start_ns >= r.end_ns || r.start_ns < 0 ||
				      r.end_ns > now + 600 * 1000000000ll))
				abort();
		} else {
			check_line(err);
		}
	}
	/* a value found fits and holds no NUL */
	{
		char value[16];
		int found;

		memset(err, 0, sizeof(err));
		found = http_query__param((const char *)data, size, "format", value,
					  sizeof(value), err, sizeof(err));
		if (found < 0)
			check_line(err);
		else if (found && strlen(value) >= sizeof(value))
			abort();
	}
	/* a Host the check accepts is short and has no NUL */
	if (http_address__host_is_loopback((const char *)data, size) &&
	    (size > 64 || memchr(data, 0, size)))
		abort();
	return 0;
}
