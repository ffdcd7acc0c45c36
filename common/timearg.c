#include "common/timearg.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/macros.h"

#define SEC 1000ull
#define NS_PER_MS 1000000ll
#define NS_PER_SEC 1000000000ll

static const struct {
	const char *unit;
	uint64_t ms;
} duration_units[] = {
	{ "d", 86400 * SEC }, { "h", 3600 * SEC }, { "m", 60 * SEC }, { "s", SEC }, { "ms", 1 },
};

int timearg__duration(const char *text, uint64_t *ms)
{
	const char *p = text;
	uint64_t total = 0;
	size_t next_unit = 0;

	if (!text || !*text)
		return -EINVAL;
	if (!strcmp(text, "0")) {
		*ms = 0;
		return 0;
	}
	while (*p) {
		uint64_t n = 0;
		size_t u, len;

		if (*p < '0' || *p > '9')
			return -EINVAL;
		for (; *p >= '0' && *p <= '9'; p++) {
			if (n > (UINT64_MAX - 9) / 10)
				return -ERANGE;
			n = n * 10 + (uint64_t)(*p - '0');
		}
		/* units in decreasing order, each once, as Prometheus has them */
		for (u = next_unit; u < ARRAY_SIZE(duration_units); u++) {
			len = strlen(duration_units[u].unit);
			/* "m" must not take the "m" of "ms" */
			if (!strncmp(p, duration_units[u].unit, len) && (p[len] < 'a' || p[len] > 'z'))
				break;
		}
		if (u == ARRAY_SIZE(duration_units))
			return -EINVAL;
		if (n > UINT64_MAX / duration_units[u].ms ||
		    total > UINT64_MAX - n * duration_units[u].ms)
			return -ERANGE;
		total += n * duration_units[u].ms;
		p += len;
		next_unit = u + 1;
	}
	*ms = total;
	return 0;
}

void timearg__format_duration(uint64_t ms, char *out, size_t len)
{
	size_t used = 0;

	if (!len)
		return;
	if (!ms) {
		snprintf(out, len, "0s");
		return;
	}
	out[0] = 0;
	for (size_t u = 0; u < ARRAY_SIZE(duration_units) && ms; u++) {
		uint64_t n = ms / duration_units[u].ms;

		if (!n)
			continue;
		ms -= n * duration_units[u].ms;
		if (used < len)
			used += (size_t)snprintf(out + used, len - used, "%llu%s",
						 (unsigned long long)n, duration_units[u].unit);
	}
}

/* n digits at *p as a number; advances *p. */
static bool digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++, (*p)++) {
		if (**p < '0' || **p > '9')
			return false;
		v = v * 10 + (**p - '0');
	}
	*out = v;
	return true;
}

/* ".123456789" (1 to 9 digits) as ns, or nothing: 0. -EINVAL past 9
 * digits or without one after the dot. */
static int fraction(const char **p, int64_t *ns)
{
	int64_t scale = NS_PER_SEC / 10;
	int n = 0;

	*ns = 0;
	if (**p != '.')
		return 0;
	for ((*p)++; **p >= '0' && **p <= '9'; (*p)++, n++) {
		if (n == 9)
			return -EINVAL;
		*ns += (**p - '0') * scale;
		scale /= 10;
	}
	return n ? 0 : -EINVAL;
}

/* Seconds since 1970 and ns as one int64, -ERANGE outside 1970..2262. */
static int to_ns(int64_t secs, int64_t frac_ns, int64_t *ns)
{
	if (secs < 0 || secs > INT64_MAX / NS_PER_SEC - 1)
		return -ERANGE;
	*ns = secs * NS_PER_SEC + frac_ns;
	return 0;
}

static int parse_rfc3339(const char *p, int64_t *ns)
{
	int year, mon, day, hour, min, sec, oh = 0, om = 0, sign = 0;
	struct tm tm = { 0 };
	int64_t frac, secs;

	if (!digits(&p, 4, &year) || *p++ != '-' || !digits(&p, 2, &mon) || *p++ != '-' ||
	    !digits(&p, 2, &day) || (*p != 'T' && *p != 't' && *p != ' '))
		return -EINVAL;
	p++;
	if (!digits(&p, 2, &hour) || *p++ != ':' || !digits(&p, 2, &min) || *p++ != ':' ||
	    !digits(&p, 2, &sec) || fraction(&p, &frac))
		return -EINVAL;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p++ == '-' ? -1 : 1;
		if (!digits(&p, 2, &oh) || *p++ != ':' || !digits(&p, 2, &om) || oh > 23 || om > 59)
			return -EINVAL;
	} else {
		return -EINVAL; /* RFC 3339 wants the offset: no local-time guess */
	}
	/* 60: a leap second, which Unix time folds into the next */
	if (*p || mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60)
		return -EINVAL;
	tm = (struct tm){ .tm_year = year - 1900, .tm_mon = mon - 1, .tm_mday = day,
			  .tm_hour = hour, .tm_min = min, .tm_sec = sec };
	secs = (int64_t)timegm(&tm);
	/* timegm normalizes Feb 30 to Mar 2: a day the month lacks is an error */
	if (tm.tm_mday != day && sec != 60)
		return -EINVAL;
	secs -= sign * (oh * 3600 + om * 60);
	return to_ns(secs, frac, ns);
}

static int parse_unix(const char *p, int64_t *ns)
{
	int64_t secs = 0, frac;
	const char *start = p;

	for (; *p >= '0' && *p <= '9'; p++) {
		if (secs > (INT64_MAX - 9) / 10)
			return -ERANGE;
		secs = secs * 10 + (*p - '0');
	}
	if (p == start || fraction(&p, &frac) || *p)
		return -EINVAL;
	return to_ns(secs, frac, ns);
}

int timearg__parse(const char *text, int64_t now_ns, int64_t *ns)
{
	uint64_t ms;
	int sign, rc;

	if (!text || !*text)
		return -EINVAL;
	if (!strncmp(text, "now", 3)) {
		if (!text[3]) {
			*ns = now_ns;
			return 0;
		}
		if (text[3] != '-' && text[3] != '+' && text[3] != ' ')
			return -EINVAL;
		sign = text[3] == '-' ? -1 : 1;
		rc = timearg__duration(text + 4, &ms);
		if (rc)
			return rc;
		if (ms > (uint64_t)(INT64_MAX / NS_PER_MS) ||
		    (sign > 0 && (int64_t)ms * NS_PER_MS > INT64_MAX - now_ns) ||
		    (sign < 0 && (int64_t)ms * NS_PER_MS > now_ns))
			return -ERANGE;
		*ns = now_ns + sign * (int64_t)ms * NS_PER_MS;
		return 0;
	}
	if (strlen(text) >= 20 && text[4] == '-')
		return parse_rfc3339(text, ns);
	return parse_unix(text, ns);
}
