#include "common/gzip.h"

#include <errno.h>
#include <string.h>

#include "common/macros.h"

#define GZIP_CHUNK 65536

/* Runs deflate until it has taken all input (or, with Z_FINISH, ended the
 * stream), growing out by GZIP_CHUNK at a time. */
static int run(struct gzip *g, int flush)
{
	for (;;) {
		int ret, err;

		err = buf_reserve(g->out, GZIP_CHUNK);
		if (err)
			return err;
		g->zs.next_out = g->out->data + g->out->len;
		g->zs.avail_out = GZIP_CHUNK;
		ret = deflate(&g->zs, flush);
		g->out->len += GZIP_CHUNK - g->zs.avail_out;
		if (ret == Z_STREAM_END)
			return 0;
		if (ret != Z_OK && ret != Z_BUF_ERROR)
			return -EIO;
		/* done once deflate has consumed all input and has room left */
		if (flush == Z_NO_FLUSH && g->zs.avail_in == 0 && g->zs.avail_out > 0)
			return 0;
	}
}

int gzip__begin(struct gzip *g, struct buf *out)
{
	memset(g, 0, sizeof(*g));
	g->out = out;
	/* windowBits 15 + 16 selects the gzip wrapper instead of zlib's */
	if (deflateInit2(&g->zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
			 Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	return 0;
}

int gzip__write(struct gzip *g, const void *data, size_t len)
{
	const unsigned char *p = data;

	/* avail_in is a uInt: feed in pieces */
	while (!g->err && len) {
		size_t chunk = MIN(len, (size_t)1 << 30);

		g->zs.next_in = (Bytef *)p;
		g->zs.avail_in = (uInt)chunk;
		g->err = run(g, Z_NO_FLUSH);
		p += chunk;
		len -= chunk;
	}
	return g->err;
}

int gzip__end(struct gzip *g)
{
	int err = g->err ? g->err : run(g, Z_FINISH);

	deflateEnd(&g->zs);
	if (!err)
		g->out->data[g->out->len] = 0; /* buf keeps data NUL-terminated */
	return err;
}

int gzip__buf(const void *data, size_t len, struct buf *out)
{
	struct gzip g;
	size_t start = out->len;
	int err = gzip__begin(&g, out);

	if (err)
		return err;
	gzip__write(&g, data, len);
	err = gzip__end(&g);
	if (err)
		out->len = start;
	return err;
}
