#include "common/parse.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

int parse_u64(const char *s, int base, uint64_t *out)
{
	unsigned long long v;
	char *end;

	/* strtoull accepts leading blanks and a minus sign (wrapping it);
	 * both are garbage for us. */
	if (!s || !*s || isspace((unsigned char)*s) || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, base);
	if (errno == ERANGE)
		return -ERANGE;
	if (errno || *end != '\0' || end == s)
		return -EINVAL;
	*out = v;
	return 0;
}

int parse_i64(const char *s, int base, int64_t *out)
{
	long long v;
	char *end;

	if (!s || !*s || isspace((unsigned char)*s) || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, base);
	if (errno == ERANGE)
		return -ERANGE;
	if (errno || *end != '\0' || end == s)
		return -EINVAL;
	*out = v;
	return 0;
}

int parse_u32_range(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
	uint64_t v;
	int err = parse_u64(s, 10, &v);

	if (err)
		return err;
	if (v < lo || v > hi)
		return -ERANGE;
	*out = (uint32_t)v;
	return 0;
}

int parse_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int parse_hex_prefix(const char **p, const char *end, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;
	int d;

	if (s >= end || parse_hex_digit(*s) < 0)
		return -EINVAL;
	for (; s < end && (d = parse_hex_digit(*s)) >= 0; s++) {
		if (v >> 60)
			return -EINVAL;
		v = (v << 4) | (uint64_t)d;
	}
	*p = s;
	*out = v;
	return 0;
}

int parse_size(const char *s, uint64_t *out)
{
	static const char units[] = "KMG";
	char digits[32];
	size_t n = s ? strlen(s) : 0;
	unsigned shift = 0;
	uint64_t v;
	int err;

	if (!n || n >= sizeof(digits))
		return -EINVAL;
	memcpy(digits, s, n + 1);
	for (unsigned i = 0; units[i]; i++) {
		if (digits[n - 1] == units[i]) {
			shift = 10 * (i + 1);
			digits[--n] = 0;
			break;
		}
	}
	err = parse_u64(digits, 10, &v);
	if (err)
		return err;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = v << shift;
	return 0;
}
