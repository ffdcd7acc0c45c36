/* output: writing a finished artifact to a path or stdout.
 *
 *   output__write(path, data, len)  "-" is stdout; a file is written to a
 *                                   temporary name and renamed, so readers
 *                                   never see half a profile; an existing
 *                                   device or fifo (/dev/null) is written
 *                                   in place, not renamed over. 0 or -errno.
 */
#ifndef BRASA_CORE_OUTPUT_H
#define BRASA_CORE_OUTPUT_H

#include <stddef.h>

int output__write(const char *path, const void *data, size_t len);

#endif
