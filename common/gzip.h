/* gzip: deflate with the gzip wrapper (RFC 1952) into a struct buf, all at
 * once or streamed, so a large encoding never has to exist uncompressed
 * (pprof profiles, HTTP answers with Content-Encoding: gzip).
 *
 *   gzip__begin(&g, out)          0 or -ENOMEM; appends to out
 *   gzip__write(&g, data, len)    0 or -ENOMEM/-EIO (then stop and end)
 *   gzip__end(&g)                 finishes the stream (unless an error came
 *                                 before) and frees zlib's state: 0 or -errno;
 *                                 call it once after a successful begin
 *   gzip__buf(data, len, out)     the three at once
 */
#ifndef BRASA_COMMON_GZIP_H
#define BRASA_COMMON_GZIP_H

#include <stddef.h>
#include <zlib.h>

#include "common/buf.h"

struct gzip {
	z_stream zs;
	struct buf *out;
	int err;
};

int gzip__begin(struct gzip *g, struct buf *out);
int gzip__write(struct gzip *g, const void *data, size_t len);
int gzip__end(struct gzip *g);
int gzip__buf(const void *data, size_t len, struct buf *out);

#endif
