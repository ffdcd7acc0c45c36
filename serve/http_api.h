/* http_api: the local HTTP endpoint (libmicrohttpd, one thread per
 * connection so a profile request can wait out its window without holding
 * up others), bounded so that clients holding connections cannot lock
 * /healthz and /metrics out (docs/http-api.md).
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
 *   other paths 404, other methods 405 with Allow.
 *
 * Bounds:
 *   - at most max_connections open connections. A new one past that
 *     closes an older connection that is not running a profile or
 *     /metrics callback: first one that has held its slot 250 ms without
 *     a whole request, then a reply that has taken 250 ms, then younger
 *     ones, oldest first (see eviction_rank); only when there is none does
 *     the new one get a 503. Connections reach us only once their client
 *     has sent something (TCP_DEFER_ACCEPT of read_timeout). Profile requests (max_profile_requests)
 *     and /metrics requests (4) have their own limits, well under
 *     max_connections, so holding connections never locks /healthz out.
 *   - a request (line, headers and body) must be complete within
 *     read_timeout_ms of its connection opening or of the previous reply,
 *     however slowly it trickles in; a reply must be out within
 *     reply_timeout_ms. Neither runs while a profile is collected.
 *   - on a non-loopback address, one client address holds at most a
 *     quarter of max_connections: its own oldest connection makes room.
 *   - Host check: on a loopback address a request's Host must name a
 *     loopback host (127.x.x.x, [::1] or localhost, any port), else 403
 *     (DNS rebinding); not applied to other addresses.
 *   - authentication (when tls_client_ca_file or bearer_token_file is
 *     set): every path but /healthz needs a client certificate chaining to
 *     the CA, or an "Authorization: Bearer" token listed in the token file
 *     (re-read when the file changes; compared in constant time).
 *
 *   http_api__start(opts, err, len)   NULL + errno (EADDRINUSE; EINVAL for
 *                           a bad address, option or TLS/token file; EIO if
 *                           microhttpd fails to start), with one line in err
 *                           naming the file or address at fault
 *   http_api__port(h)       the bound TCP port (the real one for port 0)
 *   http_api__stats(h, &st) counters and gauges for /metrics; NULL-safe
 *   http_api__stop(h)       NULL-safe; waits for connection threads, so for
 *                           any profile callback still running to return
 *   http_api__parse_address(str, &ss, &len)   "host:port" -> sockaddr;
 *                           0 or -EINVAL
 *   http_api__address_is_loopback(str)   1 for 127.0.0.0/8 and [::1],
 *                           0 for any other address, -EINVAL if unparsable
 *   http_api__host_is_loopback(host, len)   whether a Host header value
 *                           names a loopback host (the rule above)
 *   http_api__parse_profile_query(q, len, def, max, &out, err, errlen)
 *                           the query string of a profile request (bytes
 *                           after '?', any bytes, not NUL-terminated):
 *                           0 with out filled (seconds def and pid -1 when
 *                           absent), or -EINVAL with the 400 body's line
 */
#ifndef BRASA_AGENT_HTTP_API_H
#define BRASA_AGENT_HTTP_API_H

#include <stdbool.h>
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
 * empty message is replaced by strerror; control characters and bytes
 * that are not UTF-8 are escaped as \xNN; out is discarded). Called from
 * connection threads, concurrently. */
typedef int (*http_profile_fn)(void *ctx, const struct profile_query *q,
			       struct buf *out, char *errmsg, size_t errlen);

/* Appends the Prometheus text exposition of the agent's metrics to out.
 * 0 or -errno. Called from connection threads, concurrently. */
typedef int (*http_metrics_fn)(void *ctx, struct buf *out);

/* 0 when the agent is healthy, else -errno with a one-line reason in msg.
 * Called from connection threads, concurrently; must not block. */
typedef int (*http_health_fn)(void *ctx, char *msg, size_t len);

/* Zero numeric fields and NULL files take the defaults shown. */
struct http_api_opts {
	const char *address;        /* "host:port", IPv4 or [IPv6]; numeric
				     * only, bound exactly (0.0.0.0: every
				     * IPv4 interface; [::]: every IPv6 one,
				     * v6-only); port 0 picks a free one
				     * (see http_api__port). Not kept. */
	uint32_t default_seconds;   /* 30 like net/http/pprof; must be
				     * <= max_seconds */
	uint32_t max_seconds;       /* 300; longer requests get a 400 */
	unsigned max_connections;   /* 64 open connections; at least
				     * max_profile_requests + 4 + 8 */
	unsigned max_profile_requests; /* 16 at a time; more get a 503 */
	unsigned read_timeout_ms;   /* 5000: see Bounds above */
	unsigned reply_timeout_ms;  /* 60000: see Bounds above */
	/* TLS: certificate chain and its key (PEM), both or neither; not
	 * kept (read at start). */
	const char *tls_cert_file;
	const char *tls_key_file;
	/* client certificates chaining to one of these CAs (PEM) are
	 * authenticated; needs TLS */
	const char *tls_client_ca_file;
	/* one bearer token per line ('#' comments, blank lines ignored);
	 * kept and re-read when it changes */
	const char *bearer_token_file;
	http_profile_fn profile;    /* NULL: profile requests get a 503 */
	http_metrics_fn metrics;    /* NULL: /metrics is a 404 */
	http_health_fn health;      /* NULL: /healthz is always ok */
	void *ctx;
};

/* Why the server closed a connection itself (brasa_http_connections_
 * closed_total{reason}). */
enum http_close_reason {
	HTTP_CLOSE_READ_TIMEOUT,    /* request incomplete after read_timeout */
	HTTP_CLOSE_REPLY_TIMEOUT,   /* reply not out after reply_timeout */
	HTTP_CLOSE_EVICTED,         /* oldest idle one, for a new connection */
	HTTP_CLOSE_PER_IP,          /* for a newer one from the same address */
	HTTP_CLOSE_OVER_LIMIT,      /* answered 503: nothing could be closed */
	HTTP_CLOSE__COUNT,
};

/* Requests refused before their route ran (brasa_http_requests_
 * rejected_total{reason}). */
enum http_reject_reason {
	HTTP_REJECT_HOST,           /* 403: Host not loopback on loopback */
	HTTP_REJECT_UNAUTHORIZED,   /* 401/403: no valid token or certificate */
	HTTP_REJECT_TOO_LARGE,      /* 413 body, 414 query string */
	HTTP_REJECT_PROFILE_LIMIT,  /* 503: max_profile_requests running */
	HTTP_REJECT_METRICS_LIMIT,  /* 503: 4 /metrics requests running */
	HTTP_REJECT__COUNT,
};

struct http_api_stats {
	uint32_t connections;       /* open, not counting ones being closed */
	uint32_t max_connections;
	uint32_t profile_requests, max_profile_requests;
	uint32_t metrics_requests, max_metrics_requests;
	bool token_file;            /* a bearer token file is configured */
	uint32_t bearer_tokens;     /* tokens loaded now (0: none accepted) */
	uint64_t token_reloads;     /* times the token file was read again */
	uint64_t closed[HTTP_CLOSE__COUNT];
	uint64_t rejected[HTTP_REJECT__COUNT];
};

struct http_api;

struct http_api *http_api__start(const struct http_api_opts *opts, char *err, size_t errlen);
uint16_t http_api__port(const struct http_api *h);
void http_api__stats(struct http_api *h, struct http_api_stats *st);
void http_api__stop(struct http_api *h);

/* Accepts "a.b.c.d:port" and "[v6]:port" (no names, no zone ids, no empty
 * host); the port is decimal 0-65535. */
int http_api__parse_address(const char *address, struct sockaddr_storage *out,
			    socklen_t *out_len);
int http_api__address_is_loopback(const char *address);
bool http_api__host_is_loopback(const char *host, size_t len);
int http_api__parse_profile_query(const char *query, size_t len, uint32_t default_seconds,
				  uint32_t max_seconds, struct profile_query *out, char *err,
				  size_t errlen);

#endif
