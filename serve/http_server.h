/* http_server: the HTTP server behind the agent's endpoint: libmicrohttpd
 * with one thread per connection (a handler may wait out a profile window
 * without holding up others), its connections bounded by http_conns so
 * that clients holding them cannot lock the quick routes out, its
 * protections, and a table of routes that modules fill with handlers
 * (docs/http-api.md).
 *
 * Before a route's handler runs, in this order:
 *   - a connection nothing could make room for gets a 503 and is closed;
 *   - Host check: on a loopback address a request's Host must name a
 *     loopback host (127.x.x.x, [::1] or localhost, any port), else 403
 *     (DNS rebinding); not applied to other addresses, nor to a request
 *     without Host (HTTP/1.0 does not come from a browser);
 *   - authentication (when tls_client_ca_file or bearer_token_file is
 *     set): every path but those of HTTP_ROUTE_PUBLIC routes needs a
 *     client certificate chaining to the CA, or an "Authorization: Bearer"
 *     token listed in the token file (http_tokens), else 401 (403 when
 *     only certificates are accepted);
 *   - a path no route takes gets a 404, a method its route does not take
 *     a 405 with Allow;
 *   - a POST to a route with body_max has its body read and dropped;
 *     one over body_max gets a 413 that closes the connection.
 * Every route but a POST with a body is answered on its first call,
 * before any body (microhttpd then closes rather than reads it).
 *
 *   http_server__new(opts, &s, err, errlen)   0 or -errno: EINVAL for a
 *                           bad address, option or TLS/token file, with one
 *                           line in err naming the file or address at
 *                           fault; ENOMEM
 *   http_server__add_routes(s, routes, n, ctx)   before start: routes
 *                           (copied) whose handlers get ctx; the first
 *                           added that matches a path takes it. 0/-ENOMEM
 *   http_server__start(s, err, errlen)   listens and serves: 0 or -errno
 *                           (EADDRINUSE...; EIO if microhttpd fails)
 *   http_server__port(s)    the bound TCP port (the real one for port 0);
 *                           0 before start or for NULL
 *   http_server__stats(s, &st)   counters and gauges for /metrics
 *   http_server__free(s)    NULL-safe; waits for the connection threads,
 *                           so for any handler still running to return
 *
 * A handler answers its request with one of the replies below and
 * returns what that returned (0, or -EIO when nothing could be queued:
 * the connection is closed). During its call:
 *   http_request__method(req)   HTTP_GET, HTTP_HEAD, HTTP_POST or
 *                           HTTP_OTHER
 *   http_request__path(req)     the path, decoded, without the query
 *   http_request__header(req, name)   the value of request header name
 *                           (case-insensitive), NULL if absent; valid
 *                           during the handler's call
 *   http_request__query(req, &q, &len)   the query string as sent (bytes
 *                           after '?', not NUL-terminated; len 0 without
 *                           one): 0, or -E2BIG when it was longer than
 *                           HTTP_QUERY_MAX (not kept)
 *   http_request__get_query(req, &q, &len, &ret)
 *                           what a GET-only handler of a query starts with:
 *                           true with the query, or false with the answer
 *                           queued in *ret (405 for another method, 414
 *                           past HTTP_QUERY_MAX, counted as too_large)
 *   http_request__hold(req)     the handler is about to wait in a
 *                           callback: no deadline runs and the connection
 *                           is never evicted until http_request__unhold;
 *                           the handler must bound how many wait at once
 *                           (max_connections leaves room for them)
 *   http_request__unhold(req)   its reply follows: the reply deadline
 *                           starts
 *   http_request__reject(req, why)   counts a request refused
 *   http_request__reply(req, status, content_type, body)   body: text,
 *                           copied
 *   http_request__reply_buf(req, status, content_type, &body, headers)
 *                           body's bytes, taken (body is left empty);
 *                           content_type NULL: none; headers: name, value,
 *                           ..., NULL (or NULL)
 *   http_request__error(req, status, name, value, fmt, ...)   a one-line
 *                           text/plain error like Go's http.Error (with
 *                           X-Go-Pprof: 1 on HTTP_ROUTE_GO_PPROF routes);
 *                           name/value: one more header, or NULL. Control
 *                           characters and bytes that are not UTF-8 are
 *                           escaped; values a client sent must already be
 *                           (http_text__echo)
 */
#ifndef BRASA_SERVE_HTTP_SERVER_H
#define BRASA_SERVE_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "serve/http_conns.h"

#define HTTP_SERVER_DEFAULT_MAX_CONNECTIONS 64

/* Requests refused before their route ran, or by the route's own limit
 * (brasa_http_requests_rejected_total{reason}). */
enum http_reject_reason {
	HTTP_REJECT_HOST,           /* 403: Host not loopback on loopback */
	HTTP_REJECT_UNAUTHORIZED,   /* 401/403: no valid token or certificate */
	HTTP_REJECT_TOO_LARGE,      /* 413 body, 414 query string */
	HTTP_REJECT_PROFILE_LIMIT,  /* 503: max_profile_requests running */
	HTTP_REJECT_METRICS_LIMIT,  /* 503: 4 /metrics requests running */
	HTTP_REJECT__COUNT,
};

/* Zero numeric fields and NULL files take the defaults shown. */
struct http_server_opts {
	const char *address;        /* "host:port", IPv4 or [IPv6]; numeric
				     * only, bound exactly (0.0.0.0: every
				     * IPv4 interface; [::]: every IPv6 one,
				     * v6-only); port 0 picks a free one */
	unsigned max_connections;   /* HTTP_SERVER_DEFAULT_MAX_CONNECTIONS;
				     * on a non-loopback address one client
				     * address holds at most a quarter */
	unsigned read_timeout_ms;   /* 5000; what it bounds: http_conns.h */
	unsigned reply_timeout_ms;  /* 60000; what it bounds: http_conns.h */
	/* TLS: certificate chain and its key (PEM), both or neither; read
	 * at start */
	const char *tls_cert_file;
	const char *tls_key_file;
	/* client certificates chaining to one of these CAs (PEM) are
	 * authenticated; needs TLS */
	const char *tls_client_ca_file;
	/* one bearer token per line ('#' comments, blank lines ignored);
	 * kept and re-read when it changes */
	const char *bearer_token_file;
};

struct http_server_stats {
	uint32_t connections;       /* open, not counting ones being closed */
	uint32_t max_connections;
	bool token_file;            /* a bearer token file is configured */
	uint32_t bearer_tokens;     /* tokens loaded now (0: none accepted) */
	uint64_t token_reloads;     /* times the token file was read again */
	uint64_t closed[HTTP_CLOSE__COUNT];
	uint64_t rejected[HTTP_REJECT__COUNT];
};

/* Methods, as http_route.methods and http_request__method say them. */
#define HTTP_GET (1u << 0)
#define HTTP_HEAD (1u << 1)
#define HTTP_POST (1u << 2)
#define HTTP_OTHER (1u << 3)
#define HTTP_ANY_METHOD (~0u)       /* the handler checks the method itself */

enum http_route_flags {
	HTTP_ROUTE_PREFIX = 1 << 0, /* path and every path under it */
	HTTP_ROUTE_PUBLIC = 1 << 1, /* no authentication (a liveness probe
				     * can present neither token nor
				     * certificate) */
	HTTP_ROUTE_GO_PPROF = 1 << 2, /* errors carry X-Go-Pprof: 1: go tool
				       * pprof only shows the body of a
				       * failed fetch with it */
};

struct http_request;

typedef int (*http_handler_fn)(void *ctx, struct http_request *req);

struct http_route {
	const char *path;           /* the whole path, or a prefix */
	unsigned methods;           /* HTTP_GET | ...; others get a 405 */
	unsigned flags;             /* enum http_route_flags */
	http_handler_fn handler;
	uint64_t body_max;          /* > 0: a POST's body is read (and
				     * dropped) before the handler runs; past
				     * this many bytes a 413 instead */
	const char *name;           /* its requests, in the 413: "symbol
				     * request larger than N bytes" */
};

struct http_server;

int http_server__new(const struct http_server_opts *opts, struct http_server **out, char *err,
		     size_t errlen);
int http_server__add_routes(struct http_server *s, const struct http_route *routes, size_t n,
			    void *ctx);
int http_server__start(struct http_server *s, char *err, size_t errlen);
uint16_t http_server__port(const struct http_server *s);
void http_server__stats(struct http_server *s, struct http_server_stats *st);
void http_server__free(struct http_server *s);

unsigned http_request__method(const struct http_request *req);
const char *http_request__path(const struct http_request *req);
const char *http_request__header(const struct http_request *req, const char *name);
int http_request__query(const struct http_request *req, const char **query, size_t *len);
bool http_request__get_query(struct http_request *req, const char **query, size_t *len, int *ret);
void http_request__hold(struct http_request *req);
void http_request__unhold(struct http_request *req);
void http_request__reject(struct http_request *req, enum http_reject_reason why);
int http_request__reply(struct http_request *req, unsigned status, const char *content_type,
			const char *body);
int http_request__reply_buf(struct http_request *req, unsigned status, const char *content_type,
			    struct buf *body, const char *const *headers);
int http_request__error(struct http_request *req, unsigned status, const char *name,
			const char *value, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#endif
