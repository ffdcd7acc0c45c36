/* siphash: SipHash-2-4 (Aumasson and Bernstein), a keyed 64-bit hash. The
 * history dictionary hashes bodies that profiled processes choose
 * (function names, label values) with a random key kept in the store, so
 * no process can aim many bodies at one hash and turn lookups into scans.
 *
 *   siphash24(key, data, len)    the hash of data under the 16-byte key
 */
#ifndef BRASA_HISTORY_SIPHASH_H
#define BRASA_HISTORY_SIPHASH_H

#include <stddef.h>
#include <stdint.h>
#include <endian.h>
#include <string.h>

#define SIP_ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIP_ROUND(v0, v1, v2, v3)                                             \
	do {                                                                  \
		v0 += v1; v1 = SIP_ROTL(v1, 13); v1 ^= v0; v0 = SIP_ROTL(v0, 32); \
		v2 += v3; v3 = SIP_ROTL(v3, 16); v3 ^= v2;                    \
		v0 += v3; v3 = SIP_ROTL(v3, 21); v3 ^= v0;                    \
		v2 += v1; v1 = SIP_ROTL(v1, 17); v1 ^= v2; v2 = SIP_ROTL(v2, 32); \
	} while (0)

static inline uint64_t sip_load64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

static inline uint64_t siphash24(const uint8_t key[16], const void *data, size_t len)
{
	const uint8_t *in = data, *end = in + (len & ~(size_t)7);
	uint64_t k0 = sip_load64(key), k1 = sip_load64(key + 8);
	uint64_t v0 = 0x736f6d6570736575ull ^ k0, v1 = 0x646f72616e646f6dull ^ k1;
	uint64_t v2 = 0x6c7967656e657261ull ^ k0, v3 = 0x7465646279746573ull ^ k1;
	uint64_t b = (uint64_t)len << 56, m;

	for (; in != end; in += 8) {
		m = sip_load64(in);
		v3 ^= m;
		SIP_ROUND(v0, v1, v2, v3);
		SIP_ROUND(v0, v1, v2, v3);
		v0 ^= m;
	}
	for (size_t i = 0; i < (len & 7); i++)
		b |= (uint64_t)in[i] << (8 * i);
	v3 ^= b;
	SIP_ROUND(v0, v1, v2, v3);
	SIP_ROUND(v0, v1, v2, v3);
	v0 ^= b;
	v2 ^= 0xff;
	for (int i = 0; i < 4; i++)
		SIP_ROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

#endif
