/* utf8: decoding, encoding and repairing UTF-8. Proto3 strings must be
 * valid UTF-8 and strict decoders (Go's protobuf, hence Pyroscope and
 * Parca) reject a whole message over one bad string, while process names,
 * paths and symbols are arbitrary bytes; relabeling reads text rune by
 * rune as Go does.
 *
 *   utf8_decode(s, n, &cp)   length (1-4) of the valid UTF-8 sequence at s
 *                            (n > 0 bytes left), its code point in *cp; 0
 *                            if invalid: overlong forms, surrogates, code
 *                            points past U+10FFFF and sequences cut short
 *                            included (Go reads UTF8_RUNE_ERROR for one
 *                            byte then)
 *   utf8_seq_len(s, n)       the same length, without the code point
 *   utf8_encode(cp, out)     writes code point cp (at most U+10FFFF) to
 *                            out, returns its length 1-4
 *   utf8_sanitized_dup(s, n, max, &cut)
 *                            a NUL-terminated copy of s[0, n) with each
 *                            byte not part of valid UTF-8 replaced by '?',
 *                            cut to at most max bytes on a character
 *                            boundary; *cut (cut may be NULL) says whether
 *                            it was. NULL without memory; free() it
 */
#ifndef BRASA_COMMON_UTF8_H
#define BRASA_COMMON_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UTF8_RUNE_ERROR 0xfffdu /* U+FFFD REPLACEMENT CHARACTER */

size_t utf8_decode(const uint8_t *s, size_t n, uint32_t *cp);
size_t utf8_seq_len(const uint8_t *s, size_t n);
size_t utf8_encode(uint32_t cp, char out[4]);
char *utf8_sanitized_dup(const char *s, size_t n, size_t max, bool *cut);

#endif
