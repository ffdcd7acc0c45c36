/* errbuf: the message of an error into a caller's buffer, the way parsers
 * and compilers of configuration report what is wrong and where.
 *
 *   errbuf__printf(err, errlen, ret, fmt, ...)   formats into err (when err
 *                          is not NULL and errlen > 0) and returns ret, for
 *                          `return errbuf__printf(err, len, -EINVAL, ...)`
 */
#ifndef BRASA_COMMON_ERRBUF_H
#define BRASA_COMMON_ERRBUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

static inline int errbuf__printf(char *err, size_t errlen, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static inline int errbuf__printf(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return ret;
}

#endif
