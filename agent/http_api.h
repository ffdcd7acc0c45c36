/* http_api: the local HTTP endpoint (libmicrohttpd, one thread per
 * connection so a profile request can wait out its window without holding
 * up others).
 *
 *   GET /debug/pprof/profile?seconds=N[&pid=P]
 *        like Go's net/http/pprof: 200 application/octet-stream with
 *        Content-Disposition: attachment; filename="profile" and the
 *        gzipped pprof as body; errors as text/plain with X-Go-Pprof: 1.
 *        Bad seconds/pid (missing, 0, not a number, duplicated, over
 *        max_seconds) get a 400; unknown parameters are ignored like Go.
 *   GET /debug/pprof/                  a small HTML index like Go's
 *   GET /healthz                       "ok\n", or 503 with the message of
 *                                      opts.health when it reports a problem
 *   GET /metrics                       Prometheus text from opts.metrics
 *                                      (404 when it is NULL)
 *   GET /                              a plain index of the endpoints
 *   other paths 404, other methods 405 with Allow; past max_connections
 *   open connections a request gets a 503.
 *
 *   http_api__start(opts)   NULL + errno (EADDRINUSE, EINVAL for a bad address
 *                           or options, EIO if microhttpd fails to start)
 *   http_api__port(h)       the bound TCP port (the real one for port 0)
 *   http_api__stop(h)       NULL-safe; waits for connection threads, so for
 *                           any profile callback still running to return
 *   http_api__parse_address(str, &ss, &len)   "host:port" -> sockaddr;
 *                           0 or -EINVAL
 */
#ifndef BRASA_AGENT_HTTP_API_H
#define BRASA_AGENT_HTTP_API_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/buf.h"

struct profile_query {
	uint32_t seconds;
	int32_t pid;      /* -1: every process */
};

/* Collects one profile for q (blocking for q->seconds, which is already
 * checked to be 1..max_seconds; pid is -1 or > 0) and appends the gzipped
 * pprof to out. Returns 0, or a negative errno with a one-line message in
 * errmsg: -ESRCH / -EINVAL map to 400, -EBUSY to 503, others to 500 (an
 * empty message is replaced by strerror, control characters by spaces;
 * out is discarded). Called from connection threads, concurrently. */
typedef int (*http_profile_fn)(void *ctx, const struct profile_query *q,
			       struct buf *out, char *errmsg, size_t errlen);

/* Appends the Prometheus text exposition of the agent's metrics to out.
 * 0 or -errno. Called from connection threads, concurrently. */
typedef int (*http_metrics_fn)(void *ctx, struct buf *out);

/* 0 when the agent is healthy, else -errno with a one-line reason in msg.
 * Called from connection threads, concurrently. */
typedef int (*http_health_fn)(void *ctx, char *msg, size_t len);

/* Zero numeric fields take the defaults shown. */
struct http_api_opts {
	const char *address;        /* "host:port", IPv4 or [IPv6]; numeric
				     * only, bound exactly (0.0.0.0: every
				     * IPv4 interface; [::]: every IPv6 one,
				     * v6-only); port 0 picks a free one
				     * (see http_api__port). Not kept. */
	uint32_t default_seconds;   /* 30 like net/http/pprof; must be
				     * <= max_seconds */
	uint32_t max_seconds;       /* 300; longer requests get a 400 */
	unsigned max_connections;   /* 32 open connections */
	http_profile_fn profile;    /* NULL: profile requests get a 503 */
	http_metrics_fn metrics;    /* NULL: /metrics is a 404 */
	http_health_fn health;      /* NULL: /healthz is always ok */
	void *ctx;
	unsigned connection_timeout; /* idle seconds before a connection is
				      * dropped; max_seconds + 30, and it
				      * must exceed max_seconds */
};

struct http_api;

struct http_api *http_api__start(const struct http_api_opts *opts);
uint16_t http_api__port(const struct http_api *h);
void http_api__stop(struct http_api *h);

/* Accepts "a.b.c.d:port" and "[v6]:port" (no names, no zone ids, no empty
 * host); the port is decimal 0-65535. */
int http_api__parse_address(const char *address, struct sockaddr_storage *out,
			    socklen_t *out_len);

#endif
