/* libFuzzer target: arbitrary bytes as what history reads back from its
 * store (a corrupt file): series records (history/record.h) and
 * dictionary bodies (history/body.h). The first input byte is the
 * target's own: its low 3 bits pick the decoder (0 a record, 1 to 5 a
 * mapping, function, location, stack or label set body); bit 7 makes a
 * raw record's checksum right, so that mutations reach the entries
 * instead of stopping at the checksum. A decoded record must hold
 * strictly increasing (stack, label set) pairs, stacks and counts >= 1,
 * and encode back to a record that decodes to the same entries; a body's
 * references (body__refs) decode as strictly as the body. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "history/body.h"
#include "history/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_record(const uint8_t *data, size_t size, int fix_crc)
{
	struct record r = { 0 }, again = { 0 };
	struct record_entry *copy;
	struct buf b = { 0 };
	uint8_t *in = malloc(size ? size : 1);
	size_t n;
	int err;

	if (!in)
		return;
	memcpy(in, data, size);
	if (fix_crc && size >= 5 && in[0] == RECORD_RAW) {
		uint32_t crc = (uint32_t)crc32(0, in + 5, (uInt)(size - 5));

		for (int i = 0; i < 4; i++)
			in[1 + i] = (uint8_t)(crc >> (8 * i));
	}
	err = record__decode(in, size, &r);
	if (err != 0 && err != -EBADMSG && err != -ENOMEM)
		abort();
	if (err) {
		if (r.n)
			abort();
		goto out;
	}
	for (size_t i = 0; i < r.n; i++) {
		if (!r.v[i].stack || !r.v[i].count)
			abort();
		if (i && (r.v[i - 1].stack > r.v[i].stack ||
			  (r.v[i - 1].stack == r.v[i].stack && r.v[i - 1].labels >= r.v[i].labels)))
			abort();
	}
	copy = malloc((r.n ? r.n : 1) * sizeof(*copy));
	if (!copy)
		goto out;
	if (r.n)
		memcpy(copy, r.v, r.n * sizeof(*copy));
	n = r.n;
	if (record__encode(copy, &n, RECORD_ZSTD, &b) == 0) {
		if (n != r.n || record__decode(b.data, b.len, &again) != 0 || again.n != r.n ||
		    (r.n && memcmp(again.v, r.v, r.n * sizeof(*r.v))))
			abort();
	}
	free(copy);
out:
	buf_release(&b);
	record__release(&r);
	record__release(&again);
	free(in);
}

/* body__refs (what the sweep and the check follow) decodes as strictly
 * as the kind's decoder, and its references are ids of the right kinds. */
static void check_refs(int kind, const uint8_t *data, size_t size, int decode_err)
{
	static const enum history_kind kinds[] = { 0, HISTORY_MAPPING, HISTORY_FUNCTION,
						   HISTORY_LOCATION, HISTORY_STACK, HISTORY_LABELSET };
	static uint64_t refs[BODY_MAX_REFS];
	static enum history_kind ref_kinds[BODY_MAX_REFS];
	size_t n = 0;
	int err = body__refs(kinds[kind], data, size, refs, ref_kinds, &n);

	if (err != decode_err || (err && n) || n > BODY_MAX_REFS)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (!refs[i] || refs[i] > INT64_MAX || ref_kinds[i] >= HISTORY_KIND__MAX)
			abort();
		if (kinds[kind] == HISTORY_STACK ? ref_kinds[i] != HISTORY_LOCATION
		    : kinds[kind] == HISTORY_LOCATION ? ref_kinds[i] == HISTORY_STRING
		    : ref_kinds[i] != HISTORY_STRING)
			abort();
	}
}

static void check_body(int kind, const uint8_t *data, size_t size)
{
	static struct body_location loc;
	static uint64_t ids[BODY_MAX_DEPTH];
	static struct body_label labels[BODY_MAX_LABELS];
	struct body_mapping m;
	uint64_t a, b, c;
	size_t n;
	int err;

	switch (kind) {
	case 1:
		err = body__decode_mapping(data, size, &m);
		break;
	case 2:
		err = body__decode_function(data, size, &a, &b, &c);
		if (!err && (!a || !b || c > INT64_MAX))
			abort();
		break;
	case 3:
		err = body__decode_location(data, size, &loc);
		if (!err && loc.nlines > BODY_MAX_LINES)
			abort();
		break;
	case 4:
		err = body__decode_ids(data, size, ids, BODY_MAX_DEPTH, &n);
		if (!err && n > BODY_MAX_DEPTH)
			abort();
		break;
	default:
		err = body__decode_labelset(data, size, labels, BODY_MAX_LABELS, &n);
		if (!err && n > BODY_MAX_LABELS)
			abort();
		break;
	}
	if (err != 0 && err != -EBADMSG)
		abort();
	check_refs(kind, data, size, err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int kind;

	if (size < 1)
		return 0;
	kind = data[0] & 7;
	if (kind == 0 || kind > 5)
		check_record(data + 1, size - 1, data[0] & 0x80);
	else
		check_body(kind, data + 1, size - 1);
	return 0;
}
