/* Series records (history/record.h). */
#include "history/record.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "history/varint.h"

#define RECORD_HEADER 5
/* zstd's fast levels: records are small, and level 1 to 3 differ by a few
 * percent on them (tests/bench/history.py) */
#define RECORD_ZSTD_LEVEL 3
#define RECORD_DEFLATE_LEVEL 6

static int entry_cmp(const void *a, const void *b)
{
	const struct record_entry *x = a, *y = b;

	if (x->stack != y->stack)
		return x->stack < y->stack ? -1 : 1;
	if (x->labels != y->labels)
		return x->labels < y->labels ? -1 : 1;
	return 0;
}

/* Sorts and merges v[0, *n); -EINVAL on an entry the format cannot hold. */
static int normalize(struct record_entry *v, size_t *n)
{
	size_t j = 0;

	for (size_t i = 0; i < *n; i++)
		if (!v[i].stack || !v[i].count || v[i].stack > INT64_MAX || v[i].labels > INT64_MAX ||
		    v[i].count > INT64_MAX || v[i].value > INT64_MAX)
			return -EINVAL;
	if (*n > 1) /* qsort(NULL, 0) is undefined */
		qsort(v, *n, sizeof(*v), entry_cmp);
	for (size_t i = 0; i < *n; i++) {
		if (j && entry_cmp(&v[j - 1], &v[i]) == 0) {
			if (v[i].count > INT64_MAX - v[j - 1].count ||
			    v[i].value > INT64_MAX - v[j - 1].value)
				return -EINVAL;
			v[j - 1].count += v[i].count;
			v[j - 1].value += v[i].value;
		} else {
			v[j++] = v[i];
		}
	}
	*n = j;
	return 0;
}

static bool has_values(const struct record_entry *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].value)
			return true;
	return false;
}

static int payload(const struct record_entry *v, size_t n, bool values, struct buf *b)
{
	uint64_t prev = 0;
	int err = buf_reserve(b, (4 * n + 1) * VARINT_MAX);

	if (err)
		return err;
	b->len += varint_put(b->data + b->len, n);
	for (size_t i = 0; i < n; prev = v[i++].stack)
		b->len += varint_put(b->data + b->len, v[i].stack - prev);
	for (size_t i = 0; i < n; i++)
		b->len += varint_put(b->data + b->len, v[i].labels);
	for (size_t i = 0; i < n; i++)
		b->len += varint_put(b->data + b->len, v[i].count);
	for (size_t i = 0; values && i < n; i++)
		b->len += varint_put(b->data + b->len, v[i].value);
	return 0;
}

static int compress_zstd(const struct buf *in, struct buf *out)
{
	size_t bound = ZSTD_compressBound(in->len), len;
	int err = buf_reserve(out, bound);

	if (err)
		return err;
	len = ZSTD_compress(out->data + out->len, bound, in->data, in->len, RECORD_ZSTD_LEVEL);
	if (ZSTD_isError(len))
		return -ENOMEM;
	out->len += len;
	return 0;
}

static int compress_deflate(const struct buf *in, struct buf *out)
{
	z_stream zs = { 0 };
	uLong bound;
	int err, ret;

	/* -15: a raw stream; the record's own header says what it is */
	if (deflateInit2(&zs, RECORD_DEFLATE_LEVEL, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	bound = deflateBound(&zs, in->len);
	err = buf_reserve(out, VARINT_MAX + bound);
	if (!err) {
		out->len += varint_put(out->data + out->len, in->len);
		zs.next_in = in->data;
		zs.avail_in = (uInt)in->len;
		zs.next_out = out->data + out->len;
		zs.avail_out = (uInt)bound;
		ret = deflate(&zs, Z_FINISH);
		if (ret == Z_STREAM_END)
			out->len += bound - zs.avail_out;
		else
			err = -ENOMEM;
	}
	deflateEnd(&zs);
	return err;
}

int record__encode(struct record_entry *v, size_t *n, enum record_codec codec, struct buf *out)
{
	struct buf raw = { 0 };
	uint8_t header[RECORD_HEADER];
	size_t start = out->len;
	uint32_t crc;
	bool values;
	int err;

	if (codec != RECORD_RAW && codec != RECORD_ZSTD && codec != RECORD_DEFLATE)
		return -EINVAL;
	err = normalize(v, n);
	if (err)
		return err;
	if (*n > RECORD_MAX_ENTRIES)
		return -E2BIG;
	values = has_values(v, *n);
	err = payload(v, *n, values, &raw);
	if (err)
		goto out;
	crc = (uint32_t)crc32(0, raw.data, (uInt)raw.len);
	header[0] = (uint8_t)codec | (values ? RECORD_VALUES : 0);
	for (int i = 0; i < 4; i++)
		header[1 + i] = (uint8_t)(crc >> (8 * i));
	err = buf_append(out, header, sizeof(header));
	if (err)
		goto out;
	if (codec == RECORD_ZSTD)
		err = compress_zstd(&raw, out);
	else if (codec == RECORD_DEFLATE)
		err = compress_deflate(&raw, out);
	/* most series have a few samples: a frame's own bytes would make
	 * those longer than they are */
	if (!err && (codec == RECORD_RAW || out->len - start - RECORD_HEADER >= raw.len)) {
		out->len = start + RECORD_HEADER;
		out->data[start] = RECORD_RAW | (values ? RECORD_VALUES : 0);
		err = buf_append(out, raw.data, raw.len);
	}
out:
	if (err)
		out->len = start;
	buf_release(&raw);
	return err;
}

/* ---- decoding ---- */

static int decompress_zstd(const uint8_t *p, size_t len, struct buf *out)
{
	unsigned long long size = ZSTD_getFrameContentSize(p, len);
	size_t got;
	int err;

	/* one frame that states its size (ZSTD_compress writes it) */
	if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN ||
	    size > RECORD_MAX_PAYLOAD || ZSTD_findFrameCompressedSize(p, len) != len)
		return -EBADMSG;
	err = buf_reserve(out, size + 1);
	if (err)
		return err;
	got = ZSTD_decompress(out->data, size + 1, p, len);
	if (ZSTD_isError(got) || got != size)
		return -EBADMSG;
	out->len = got;
	return 0;
}

static int decompress_deflate(const uint8_t *p, size_t len, struct buf *out)
{
	const uint8_t *end = p + len;
	z_stream zs = { 0 };
	uint64_t size;
	int err, ret;

	err = varint_get(&p, end, &size);
	if (err || size > RECORD_MAX_PAYLOAD)
		return -EBADMSG;
	err = buf_reserve(out, size + 1);
	if (err)
		return err;
	if (inflateInit2(&zs, -15) != Z_OK)
		return -ENOMEM;
	zs.next_in = (uint8_t *)p;
	zs.avail_in = (uInt)(end - p);
	zs.next_out = out->data;
	zs.avail_out = (uInt)size + 1;
	ret = inflate(&zs, Z_FINISH);
	/* the whole input is one stream of exactly the stated size */
	if (ret != Z_STREAM_END || zs.avail_in || zs.total_out != size)
		err = ret == Z_MEM_ERROR ? -ENOMEM : -EBADMSG;
	else
		out->len = size;
	inflateEnd(&zs);
	return err;
}

static int parse(struct record *r, bool values)
{
	const uint8_t *p = r->payload.data, *end = p + r->payload.len;
	uint64_t n, v;
	int err;

	err = varint_get(&p, end, &n);
	/* every entry takes at least three bytes: bounds the allocation by
	 * the payload's size */
	if (err || n > RECORD_MAX_ENTRIES || n > (size_t)(end - p) / 3)
		return -EBADMSG;
	if (n > r->cap) {
		struct record_entry *nv = realloc(r->v, n * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		r->v = nv;
		r->cap = n;
	}
	r->n = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t prev = i ? r->v[i - 1].stack : 0;

		if (varint_get(&p, end, &v) || v > INT64_MAX - prev)
			return -EBADMSG;
		r->v[i].stack = prev + v;
		if (!r->v[i].stack)
			return -EBADMSG;
	}
	for (size_t i = 0; i < n; i++) {
		if (varint_get(&p, end, &r->v[i].labels) || r->v[i].labels > INT64_MAX)
			return -EBADMSG;
		if (i && entry_cmp(&r->v[i - 1], &r->v[i]) >= 0)
			return -EBADMSG;
	}
	for (size_t i = 0; i < n; i++)
		if (varint_get(&p, end, &r->v[i].count) || !r->v[i].count ||
		    r->v[i].count > INT64_MAX)
			return -EBADMSG;
	for (size_t i = 0; i < n; i++) {
		r->v[i].value = 0;
		if (values && (varint_get(&p, end, &r->v[i].value) || r->v[i].value > INT64_MAX))
			return -EBADMSG;
	}
	if (p != end)
		return -EBADMSG;
	r->n = n;
	return 0;
}

int record__decode(const void *data, size_t len, struct record *r)
{
	const uint8_t *p = data;
	uint32_t crc = 0;
	int err;

	r->n = 0;
	buf_reset(&r->payload);
	if (!p || len < RECORD_HEADER)
		return -EBADMSG;
	for (int i = 0; i < 4; i++)
		crc |= (uint32_t)p[1 + i] << (8 * i);
	switch (p[0] & ~RECORD_VALUES) {
	case RECORD_RAW:
		err = len - RECORD_HEADER > RECORD_MAX_PAYLOAD ? -EBADMSG :
			buf_append(&r->payload, p + RECORD_HEADER, len - RECORD_HEADER);
		break;
	case RECORD_ZSTD:
		err = decompress_zstd(p + RECORD_HEADER, len - RECORD_HEADER, &r->payload);
		break;
	case RECORD_DEFLATE:
		err = decompress_deflate(p + RECORD_HEADER, len - RECORD_HEADER, &r->payload);
		break;
	default:
		err = -EBADMSG;
	}
	if (err)
		return err;
	if ((uint32_t)crc32(0, r->payload.data, (uInt)r->payload.len) != crc)
		return -EBADMSG;
	err = parse(r, p[0] & RECORD_VALUES);
	if (err)
		r->n = 0;
	return err;
}

void record__release(struct record *r)
{
	if (!r)
		return;
	free(r->v);
	r->v = NULL;
	r->n = r->cap = 0;
	buf_release(&r->payload);
}
