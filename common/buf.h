/* Growable byte buffer, for encoders and readers of unknown size.
 *
 *   buf_append(b, p, n)    0 or -ENOMEM
 *   buf_printf(b, fmt...)  0 or -ENOMEM
 *   buf_reset(b)           length to 0, memory kept
 *   buf_release(b)         frees, NULL-safe, leaves b empty
 *   buf_read_file(path, b, max)  whole regular file (stops at max bytes:
 *                                -EFBIG); never blocks in open(): a
 *                                directory gives -EISDIR, a FIFO, socket or
 *                                device -EBADFD
 *   buf_write_fd(fd, data, len)  all of data to fd, across short writes and
 *                                EINTR: 0, -errno, -EIO if write() returns 0
 *
 * A zero-initialized struct buf is empty and valid.
 */
#ifndef BRASA_COMMON_BUF_H
#define BRASA_COMMON_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *data;
	size_t len;
	size_t cap;
};

int buf_reserve(struct buf *b, size_t extra);
int buf_append(struct buf *b, const void *p, size_t n);
int buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void buf_reset(struct buf *b);
void buf_release(struct buf *b);
int buf_read_fd(int fd, struct buf *b, size_t max);
int buf_read_file(const char *path, struct buf *b, size_t max);
int buf_write_fd(int fd, const void *data, size_t len);

#endif
