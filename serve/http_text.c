#include "serve/http_text.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/utf8.h"

void http_text__escape(char *out, size_t cap, size_t *len, const char *s, size_t n,
		       bool quoted)
{
	const uint8_t *u = (const uint8_t *)s;

	for (size_t i = 0; i < n;) {
		char piece[16];
		size_t k = utf8_seq_len(u + i, n - i), plen = 0;

		if (k == 0 || u[i] < 0x20 || u[i] == 0x7f || (k == 2 && u[i] == 0xc2 && u[i + 1] < 0xa0)) {
			/* one byte at a time: a C1 character is two escapes */
			plen = (size_t)snprintf(piece, sizeof(piece), "\\x%02x", u[i]);
			k = 1;
		} else if (quoted && (u[i] == '\\' || u[i] == '"')) {
			piece[0] = '\\';
			piece[1] = (char)u[i];
			plen = 2;
		} else {
			memcpy(piece, u + i, k);
			plen = k;
		}
		if (*len + plen + 1 > cap)
			break;
		memcpy(out + *len, piece, plen);
		*len += plen;
		out[*len] = 0;
		i += k;
	}
}

/* Length of the longest prefix of s[0..n) of at most max bytes that does
 * not cut a UTF-8 sequence in two. */
static size_t utf8_prefix(const char *s, size_t n, size_t max)
{
	const uint8_t *u = (const uint8_t *)s;
	size_t i = 0;

	while (i < n) {
		size_t k = utf8_seq_len(u + i, n - i) ?: 1;

		if (i + k > max)
			break;
		i += k;
	}
	return i;
}

void http_text__echo(char *out, size_t cap, const char *value, size_t avail, size_t total)
{
	size_t shown = utf8_prefix(value, avail, HTTP_ECHO_MAX), len = 0;

	out[0] = 0;
	http_text__escape(out, cap, &len, value, shown, true);
	if (shown < total && len + 4 <= cap) {
		memcpy(out + len, "...", 4);
		len += 3;
	}
}

int http_text__errf(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
		for (char *p = err; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = ' ';
	}
	return -code;
}
