#include "common/utf8.h"

#include <stdlib.h>
#include <string.h>

#include "common/macros.h"

size_t utf8_decode(const uint8_t *s, size_t n, uint32_t *cp)
{
	uint8_t c = s[0], lo = 0x80, hi = 0xbf;
	size_t need;
	uint32_t v;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		need = 2;
		v = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 3;
		v = c & 0x0f;
		lo = c == 0xe0 ? 0xa0 : lo; /* overlong */
		hi = c == 0xed ? 0x9f : hi; /* surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 4;
		v = c & 0x07;
		lo = c == 0xf0 ? 0x90 : lo; /* overlong */
		hi = c == 0xf4 ? 0x8f : hi; /* past U+10FFFF */
	} else {
		return 0;
	}
	if (n < need || s[1] < lo || s[1] > hi)
		return 0;
	v = v << 6 | (s[1] & 0x3f);
	for (size_t k = 2; k < need; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (s[k] & 0x3f);
	}
	*cp = v;
	return need;
}

size_t utf8_seq_len(const uint8_t *s, size_t n)
{
	uint32_t cp;

	return utf8_decode(s, n, &cp);
}

size_t utf8_encode(uint32_t cp, char out[4])
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | cp >> 18);
	out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

char *utf8_sanitized_dup(const char *s, size_t n, size_t max, bool *cut)
{
	char *out = malloc(MIN(n, max) + 1);
	size_t i = 0;

	if (!out)
		return NULL;
	if (cut)
		*cut = false;
	/* one '?' for one bad byte: offsets in the copy are those of s */
	while (i < n) {
		size_t len = utf8_seq_len((const uint8_t *)s + i, n - i);

		if (i + MAX(len, (size_t)1) > max) {
			if (cut)
				*cut = true;
			break;
		}
		if (len) {
			memcpy(out + i, s + i, len);
			i += len;
		} else {
			out[i++] = '?';
		}
	}
	out[i] = 0;
	return out;
}
