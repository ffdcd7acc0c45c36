/* http_tokens: the bearer tokens the endpoint accepts, from a file of one
 * token per line ('#' comments and blank lines ignored; RFC 6750
 * b64tokens of at least 16 characters, at most 64 of them). Only their
 * SHA-256 digests are kept. The file is read again whenever it is not the
 * one the tokens came from (a Kubernetes Secret's rename, an editor's
 * write); one that cannot be used leaves no token (fail closed). Thread
 * safe.
 *
 *   http_tokens__open(path, &t, err, errlen)   0, or -errno with one line
 *                           in err naming the file (never quoting a token)
 *   http_tokens__match(t, token, n)   whether token[0..n) is in the file
 *                           (re-reading it first if it changed); in
 *                           constant time whatever the tokens and lengths
 *   http_tokens__stats(t, &count, &reloads)   tokens loaded now, and times
 *                           the file was read again
 *   http_tokens__free(t)    NULL-safe; wipes the digests
 *   http_tokens__bearer(value, &n)   the token of an "Authorization:
 *                           Bearer TOKEN" header value (scheme in any
 *                           case), n its length; NULL if value is NULL or
 *                           not that
 */
#ifndef BRASA_SERVE_HTTP_TOKENS_H
#define BRASA_SERVE_HTTP_TOKENS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct http_tokens;

int http_tokens__open(const char *path, struct http_tokens **out, char *err, size_t errlen);
bool http_tokens__match(struct http_tokens *t, const char *token, size_t n);
void http_tokens__stats(struct http_tokens *t, uint32_t *count, uint64_t *reloads);
void http_tokens__free(struct http_tokens *t);
const char *http_tokens__bearer(const char *value, size_t *n);

#endif
