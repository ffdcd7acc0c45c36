/* record: the samples of one series of one window, as history stores them
 * (one blob per row of the series table): entries (stack id, sample
 * label set id, count) sorted by stack and label set, written as columns
 * of varints (stack deltas, label set ids, counts) and compressed. Pure;
 * the decoder takes any bytes (a corrupt store: fuzzed by
 * tests/fuzz/fuzz-history-record.c).
 *
 * Layout: one byte codec (enum record_codec, with RECORD_VALUES set when
 * the record has a values column), the CRC-32 of the payload (4 bytes,
 * little endian), then the payload: raw, a zstd frame (with its content
 * size), or a varint payload length and a raw deflate stream. The
 * payload: varint n, n stack deltas, n label set ids (0: none), n counts
 * (>= 1), then with RECORD_VALUES n values. Entries are strictly
 * increasing in (stack, label set). The value is a sample's second value
 * where it is not derived from the count (off-CPU nanoseconds); a record
 * whose values are all 0 has no column (every CPU record, and the
 * records of schema 1, read the same).
 *
 *   record__encode(v, &n, codec, out)
 *                          sorts v[0, n) and sums the counts and values of
 *                          equal (stack, label set) pairs in place (*n
 *                          becomes the distinct number), appends the
 *                          record to out (raw when the codec would not
 *                          make it smaller); 0, -EINVAL (a stack id 0, a
 *                          count 0, a count or value past INT64_MAX, an
 *                          unknown codec), -E2BIG (past
 *                          RECORD_MAX_ENTRIES), -ENOMEM
 *   record__decode(data, len, r)
 *                          the entries into r (reused across calls);
 *                          0, -EBADMSG (anything wrong: layout, checksum,
 *                          order, bounds), -ENOMEM
 *   record__release(r)     frees r's memory; NULL-safe
 */
#ifndef BRASA_HISTORY_RECORD_H
#define BRASA_HISTORY_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define RECORD_MAX_ENTRIES (1u << 22)
/* a record's payload uncompressed: bounds what a corrupt one makes us
 * allocate */
#define RECORD_MAX_PAYLOAD ((size_t)64 << 20)

enum record_codec {
	RECORD_RAW = 0,
	RECORD_ZSTD = 1,
	RECORD_DEFLATE = 2,
};
/* in the codec byte: the payload has a values column */
#define RECORD_VALUES 0x10

struct record_entry {
	uint64_t stack;  /* >= 1 */
	uint64_t labels; /* 0: none */
	uint64_t count;  /* >= 1 */
	uint64_t value;  /* the second value when stored (off-CPU ns), else 0 */
};

struct record {
	struct record_entry *v;
	size_t n, cap;
	struct buf payload; /* scratch */
};

int record__encode(struct record_entry *v, size_t *n, enum record_codec codec, struct buf *out);
int record__decode(const void *data, size_t len, struct record *r);
void record__release(struct record *r);

#endif
