/* file_id: what makes "the same file" for the caches of loaded objects
 * (symbolizer, unwinder): device, inode, size, and modification and change
 * times. Not the inode number alone, which is reused after a file is
 * deleted, nor the path, which another tenant's file may take.
 *
 *   file_id__from_stat(&st, &id)   the identity of a file fstat'ed
 *   file_id__equal(a, b)           every field equal
 *   file_id__hash(id)              a 64-bit hash of every field (a cache
 *                                  key: equal ids hash alike)
 */
#ifndef BRASA_SYMBOLIZE_FILE_ID_H
#define BRASA_SYMBOLIZE_FILE_ID_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

struct file_id {
	uint64_t dev, ino, size;
	int64_t mtime_sec, mtime_nsec, ctime_sec, ctime_nsec;
};

void file_id__from_stat(const struct stat *st, struct file_id *id);
bool file_id__equal(const struct file_id *a, const struct file_id *b);
uint64_t file_id__hash(const struct file_id *id);

#endif
