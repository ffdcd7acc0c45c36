/* http_api: the local HTTP endpoint (libmicrohttpd, one thread per
 * connection so a profile request can wait out its window without holding
 * up others).
 *
 *   GET /debug/pprof/profile?seconds=N[&pid=P]
 *        like Go's net/http/pprof: 200 application/octet-stream with
 *        Content-Disposition: attachment; filename="profile" and the
 *        gzipped pprof as body; errors as text/plain with X-Go-Pprof: 1.
 *   GET /healthz                       "ok\n"
 *   GET /                              a plain index of the endpoints
 *
 *   http_api__start(opts)   NULL + errno (EADDRINUSE, EINVAL for a bad address)
 *   http_api__stop(h)       NULL-safe; waits for connection threads
 */
#ifndef BRASA_AGENT_HTTP_API_H
#define BRASA_AGENT_HTTP_API_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

struct profile_query {
	uint32_t seconds;
	int32_t pid;      /* -1: every process */
};

/* Collects one profile for q (blocking for q->seconds) and appends the
 * gzipped pprof to out. Returns 0, or a negative errno with a one-line
 * message in errmsg: -ESRCH / -EINVAL map to 400, -EBUSY to 503, others
 * to 500. Called from connection threads, concurrently. */
typedef int (*http_profile_fn)(void *ctx, const struct profile_query *q,
			       struct buf *out, char *errmsg, size_t errlen);

struct http_api_opts {
	const char *address;        /* "host:port", IPv4 or [IPv6] */
	uint32_t default_seconds;   /* 30 like net/http/pprof */
	uint32_t max_seconds;       /* longer requests get a 400 */
	unsigned max_connections;
	http_profile_fn profile;
	void *ctx;
};

struct http_api;

struct http_api *http_api__start(const struct http_api_opts *opts);
void http_api__stop(struct http_api *h);

#endif
