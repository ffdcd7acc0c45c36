/* varint: LEB128 unsigned integers (7 bits a byte, low first) and zigzag
 * for signed ones, the integers of history's records and dictionary
 * bodies. Decoding is strict: a truncated or over-long encoding (more
 * than 10 bytes, or bits past 64) is an error, so every value has one
 * encoding and a corrupt body is caught rather than read as another.
 *
 *   varint_put(p, v)             writes v at p (room for VARINT_MAX bytes);
 *                                the number of bytes written
 *   varint_get(&p, end, &v)      reads one from [*p, end), advancing *p;
 *                                0 or -EBADMSG
 *   zigzag(v), unzigzag(u)       int64 <-> uint64, small magnitudes small
 */
#ifndef BRASA_HISTORY_VARINT_H
#define BRASA_HISTORY_VARINT_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#define VARINT_MAX 10

static inline size_t varint_put(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

static inline int varint_get(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	const uint8_t *q = *p;
	uint64_t r = 0;

	for (unsigned shift = 0; q < end; shift += 7) {
		uint8_t b = *q++;

		/* the tenth byte holds bit 63 only; a zero last byte after
		 * the first is an over-long encoding */
		if (shift == 63 && b > 1)
			return -EBADMSG;
		r |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			if (b == 0 && shift)
				return -EBADMSG;
			*v = r;
			*p = q;
			return 0;
		}
		if (shift == 63)
			return -EBADMSG;
	}
	return -EBADMSG;
}

static inline uint64_t zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static inline int64_t unzigzag(uint64_t u)
{
	return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

#endif
