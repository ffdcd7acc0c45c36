/* http_text: the text the HTTP endpoint sends back that holds what a
 * client or a process wrote. Error bodies stay one readable line of UTF-8
 * whatever went into them, and a client's value is echoed only in part.
 *
 *   http_text__escape(out, cap, &len, s, n, quoted)
 *                           appends s[0..n) to out (cap bytes, kept
 *                           NUL-terminated, len its length): valid UTF-8
 *                           as it is; control characters (C0, DEL, C1)
 *                           and bytes that are not part of valid UTF-8 as
 *                           \xNN; with quoted, '\' and '"' as \\ and \"
 *                           too. Stops before a piece that does not fit.
 *   http_text__echo(out, cap, value, avail, total)
 *                           "VALUE..." for an error message: at most
 *                           HTTP_ECHO_MAX bytes of the value, not cutting
 *                           a character, escaped (quoted), then "..." when
 *                           there was more; value holds the first avail of
 *                           its total bytes. cap: HTTP_ECHO_SIZE will do.
 *   http_text__errf(err, errlen, code, fmt, ...)
 *                           one line into err (control characters become
 *                           spaces; err may be NULL); returns -code, for
 *                           `return http_text__errf(...)`
 */
#ifndef BRASA_SERVE_HTTP_TEXT_H
#define BRASA_SERVE_HTTP_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* Bound on how much of a client's value is echoed back. */
#define HTTP_ECHO_MAX 32
/* Room for an echo: each byte may be a 4-byte escape, then "..." */
#define HTTP_ECHO_SIZE (4 * HTTP_ECHO_MAX + 8)

void http_text__escape(char *out, size_t cap, size_t *len, const char *s, size_t n,
		       bool quoted);
void http_text__echo(char *out, size_t cap, const char *value, size_t avail, size_t total);
int http_text__errf(char *err, size_t errlen, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
