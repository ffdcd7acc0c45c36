/* Strict number parsing: the whole string must be a number in range, with
 * no sign surprises, no trailing garbage and no silent overflow.
 *
 *   parse_u64(s, base, &v)       0 or -EINVAL (not a number) / -ERANGE
 *   parse_i64(s, base, &v)       same, signed
 *   parse_u32_range(s, lo, hi, &v)  decimal, lo <= v <= hi, else -ERANGE
 *   parse_size(s, &bytes)         "512", "64K", "128M", "2G" (powers of 1024);
 *                                 0, -EINVAL or -ERANGE
 *   parse_hex_prefix(&p, end, &v) hex digits at *p (not NUL-terminated
 *                                 text, e.g. a /proc line): at least one,
 *                                 no overflow; advances *p past them;
 *                                 0 or -EINVAL
 *   parse_hex_digit(c)            0-15, or -1 for anything but [0-9a-fA-F]
 */
#ifndef BRASA_COMMON_PARSE_H
#define BRASA_COMMON_PARSE_H

#include <stdint.h>

int parse_u64(const char *s, int base, uint64_t *out);
int parse_i64(const char *s, int base, int64_t *out);
int parse_u32_range(const char *s, uint32_t lo, uint32_t hi, uint32_t *out);
int parse_hex_prefix(const char **p, const char *end, uint64_t *out);
int parse_size(const char *s, uint64_t *out);
int parse_hex_digit(char c);

#endif
