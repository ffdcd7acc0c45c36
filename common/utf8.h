/* utf8: validating UTF-8, for strings that go into protobuf messages.
 * Proto3 strings must be valid UTF-8 and strict decoders (Go's protobuf,
 * hence Pyroscope and Parca) reject a whole message over one bad string,
 * while process names, paths and symbols are arbitrary bytes.
 *
 *   utf8_seq_len(s, n)   length of the valid UTF-8 sequence at s (n > 0
 *                        bytes left), 0 if invalid: overlong forms,
 *                        surrogates and code points past U+10FFFF included
 */
#ifndef BRASA_COMMON_UTF8_H
#define BRASA_COMMON_UTF8_H

#include <stddef.h>
#include <stdint.h>

size_t utf8_seq_len(const uint8_t *s, size_t n);

#endif
