/* libFuzzer target: a label selector (matcher__parse) on arbitrary bytes,
 * then matched against a few label sets. Beyond not crashing or leaking,
 * what it promises: an error comes with a message, a success with a
 * matcher, matching the same set twice gives the same answer, and `{}`
 * plus anything that parses still parses as a set of two. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "labels/matcher.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct labels sets[3] = { 0 };
	struct matcher_set *set = NULL;
	struct matcher *m = NULL;
	char err[256];
	int rc;

	memset(err, 0, sizeof(err));
	rc = matcher__parse((const char *)data, size, &m, err, sizeof(err));
	if (rc) {
		if (m || !err[0] || (rc != -EINVAL && rc != -ENOMEM))
			abort();
		return 0;
	}
	if (!m)
		abort();
	if (labels__set(&sets[1], "comm", "spinner") || labels__set(&sets[1], "pid", "42") ||
	    labels__set(&sets[2], "comm", "x\xff\n") ||
	    labels__set(&sets[2], "service_name", "api/web"))
		abort();
	for (size_t i = 0; i < 3; i++)
		if (matcher__matches(m, &sets[i]) != matcher__matches(m, &sets[i]))
			abort();
	matcher__free(m);
	if (matcher_set__add(&set, "{}", 2, err, sizeof(err)) ||
	    matcher_set__add(&set, (const char *)data, size, err, sizeof(err)) ||
	    matcher_set__count(set) != 2 || !matcher_set__matches(set, NULL))
		abort();
	matcher_set__free(set);
	for (size_t i = 0; i < 3; i++)
		labels__clear(&sets[i]);
	return 0;
}
