/* http_api: the agent's local HTTP endpoint: the profile API and the
 * agent's own routes, served by http_server (its bounds, TLS,
 * authentication and Host check: http_server.h and http_conns.h;
 * docs/http-api.md).
 *
 *   GET /debug/pprof/profile?seconds=N[&pid=P]
 *        like Go's net/http/pprof: 200 application/octet-stream with
 *        Content-Disposition: attachment; filename="profile" and the
 *        gzipped pprof as body; errors as text/plain with X-Go-Pprof: 1.
 *        Bad seconds/pid (missing, 0, not a number, duplicated, over
 *        max_seconds: http_query.h) get a 400, a query string over 1 KiB
 *        a 414; unknown parameters are ignored like Go. At most
 *        max_profile_requests at a time, more get a 503.
 *   GET /api/flamegraph?seconds=N[&pid=P][&format=F][&max_nodes=M]
 *        the same window as the merged call tree (core/pprof_flame.h):
 *        format json (default, application/json), svg (image/svg+xml),
 *        speedscope (application/json, a download), folded (text/plain)
 *        or pprof; max_nodes bounds the tree (default 20000, 0 none).
 *        The profile's errors, limits and 414; a bad format or max_nodes
 *        gets a 400 too, without the X-Go-Pprof header.
 *   GET /debug/pprof/                  a small HTML index like Go's
 *   GET|POST /debug/pprof/symbol       "num_symbols: 1" (every symbol is
 *                                      in the profile already); a body
 *                                      over 4 MiB gets a 413
 *   GET /healthz                       "ok\n", or 503 with the message of
 *                                      opts.health when it reports a
 *                                      problem; needs no authentication
 *   GET /metrics                       Prometheus text from opts.metrics
 *                                      (404 when it is NULL); at most 4
 *                                      at a time, more get a 503
 *   GET /, /ui/app.js, /ui/app.css     the flame graph page (serve/web.h)
 *   other paths 404, other methods 405 with Allow.
 * Profile and /metrics requests wait in their callbacks with no deadline
 * running and are never evicted: their limits are well under
 * max_connections, so holding connections never locks /healthz out.
 *
 *   http_api__start(opts, &h, err, len)   0 or -errno (EADDRINUSE; EINVAL for
 *                           a bad address, option or TLS/token file; EIO if
 *                           microhttpd fails to start), with one line in err
 *                           naming the file or address at fault
 *   http_api__port(h)       the bound TCP port (the real one for port 0)
 *   http_api__stats(h, &st) counters and gauges for /metrics; NULL-safe
 *   http_api__stop(h)       NULL-safe; waits for connection threads, so for
 *                           any profile callback still running to return
 *   http_api__pprof_type(t) the pprof sample type a request's type= names
 */
#ifndef BRASA_SERVE_HTTP_API_H
#define BRASA_SERVE_HTTP_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "core/pprof_format.h"
#include "serve/http_query.h"
#include "serve/http_server.h"

/* Collects one profile for q (blocking for q->seconds, which is already
 * checked to be 1..max_seconds; pid is -1 or > 0) and appends it to out
 * as how says (pprof__write_as: the gzipped pprof for
 * /debug/pprof/profile). Returns 0, or a negative errno with a one-line message in
 * errmsg: -ESRCH / -EINVAL map to 400, -EBUSY to 503, others to 500 (an
 * empty message is replaced by strerror; control characters and bytes
 * that are not UTF-8 are escaped as \xNN; out is discarded). Called from
 * connection threads, concurrently. */
typedef int (*http_profile_fn)(void *ctx, const struct profile_query *q,
			       const struct pprof_output *how, struct buf *out, char *errmsg,
			       size_t errlen);

/* Appends the Prometheus text exposition of the agent's metrics to out.
 * 0 or -errno. Called from connection threads, concurrently. */
typedef int (*http_metrics_fn)(void *ctx, struct buf *out);

/* 0 when the agent is healthy, else -errno with a one-line reason in msg.
 * Called from connection threads, concurrently; must not block. */
typedef int (*http_health_fn)(void *ctx, char *msg, size_t len);

/* Zero numeric fields and NULL files take the defaults shown. */
struct history;

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
	unsigned read_timeout_ms;   /* 5000: see http_conns.h */
	unsigned reply_timeout_ms;  /* 60000: see http_conns.h */
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
	struct history *history;    /* /api/timeline, /api/labels; NULL: 404s */
	/* the sample types the agent records, a bit per enum profile_type
	 * (GET /api/info); 0: cpu */
	unsigned sample_types;
	http_metrics_fn metrics;    /* NULL: /metrics is a 404 */
	http_health_fn health;      /* NULL: /healthz is always ok */
	void *ctx;
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

int http_api__start(const struct http_api_opts *opts, struct http_api **out, char *err,
		    size_t errlen);
uint16_t http_api__port(const struct http_api *h);
void http_api__stats(struct http_api *h, struct http_api_stats *st);
void http_api__stop(struct http_api *h);
enum pprof_type http_api__pprof_type(enum profile_type t);

#endif
