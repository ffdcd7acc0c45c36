/* http_conns: the HTTP server's table of open connections: where each one
 * is (reading its request, held by a callback, sending its reply), which
 * to close to make room for a new one, and the deadlines, kept by a thread
 * of the table's own (the reaper). Closing is shutdown(): the fd stays
 * microhttpd's to close, and its connection thread sees the end of its
 * stream. Thread safe.
 *
 * Bounds (docs/http-api.md):
 *   - at most max_connections open connections. A new one past that
 *     closes an older connection that is not held by a callback: first
 *     one that has held its slot 250 ms without a whole request, then a
 *     reply that has taken 250 ms, then younger ones, oldest first (see
 *     eviction_rank); only when there is none is the new one over the
 *     limit (to be answered 503).
 *   - with per_ip_limit, one client address holds at most that many: its
 *     own oldest connection makes room.
 *   - a request must be all in within read_timeout_ms of its connection
 *     opening or of the previous reply, however slowly it trickles in; a
 *     reply must be out within reply_timeout_ms. Neither runs while a
 *     callback holds the connection.
 *
 *   http_conns__new(opts, &t)   0 or -errno (ENOMEM, or pthread_create's)
 *   http_conns__slots(t)        how many connections microhttpd may have at
 *                               once: max_connections and room for those
 *                               being closed
 *   http_conns__open(t, fd, peer)   a slot for a new connection (NULL and
 *                               fd shut down when there is none), room made
 *                               for it; its phase is READING
 *   http_conns__close(t, c)     microhttpd is done with c: the slot is free
 *   http_conns__admit(t, c, &why)   a request came in on c: 0 to answer
 *                               it; -ECONNABORTED when c was closed (timed
 *                               out, evicted) just as it came; -EMFILE when
 *                               nothing could make room for c (counted now:
 *                               answer 503 and close), why the limit
 *                               (HTTP_CLOSE_PER_IP or HTTP_CLOSE_OVER_LIMIT)
 *   http_conns__set_phase(t, c, phase)   the phase starts now (its
 *                               deadline with it); no-op on a free slot
 *   http_conns__stats(t, &open, closed)   open connections not being
 *                               closed, and closed[] by reason
 *   http_conns__free(t)         NULL-safe; stops the reaper. After
 *                               microhttpd has stopped: it still calls
 *                               http_conns__close while it stops
 */
#ifndef BRASA_SERVE_HTTP_CONNS_H
#define BRASA_SERVE_HTTP_CONNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* A profile request's query string ("seconds=30&pid=1234") is tiny. */
#define HTTP_QUERY_MAX 1024

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

/* Where a connection is, for the reaper and for eviction. */
enum http_conn_phase {
	HTTP_CONN_FREE = 0,
	HTTP_CONN_READING,          /* its request is not all in yet (or none
				     * started): the read deadline runs */
	HTTP_CONN_RUNNING,          /* a callback holds it (a profile, /metrics):
				     * never evicted, bounded by those
				     * requests' own limits */
	HTTP_CONN_REPLYING,         /* its reply is being sent: the reply
				     * deadline runs */
};

/* One open connection. The table's fields are under its lock; the
 * request's belong to the connection's thread. */
struct http_conn {
	/* the table's */
	enum http_conn_phase phase;
	uint64_t since_ms;          /* when the phase began (monotonic) */
	uint64_t order;             /* of phase starts, for oldest-first */
	int fd;
	bool closing;               /* shut down by us, waiting for cleanup */
	bool over_limit;            /* nothing could make room: 503 */
	enum http_close_reason over_reason; /* which limit, then */
	int peer_family;
	uint8_t peer[16];
	/* the request in progress (zeroed by http_conns__open up to query) */
	uint64_t body_bytes;
	bool has_query, query_too_long;
	size_t query_len;
	char query[HTTP_QUERY_MAX];
};

struct http_conns_opts {
	unsigned max_connections;
	unsigned per_ip_limit;      /* 0: none */
	unsigned read_timeout_ms;
	unsigned reply_timeout_ms;
};

struct http_conns;

int http_conns__new(const struct http_conns_opts *opts, struct http_conns **out);
size_t http_conns__slots(const struct http_conns *t);
struct http_conn *http_conns__open(struct http_conns *t, int fd, const struct sockaddr *peer);
void http_conns__close(struct http_conns *t, struct http_conn *c);
int http_conns__admit(struct http_conns *t, struct http_conn *c, enum http_close_reason *why);
void http_conns__set_phase(struct http_conns *t, struct http_conn *c, enum http_conn_phase phase);
void http_conns__stats(struct http_conns *t, uint32_t *open,
		       uint64_t closed[HTTP_CLOSE__COUNT]);
void http_conns__free(struct http_conns *t);

#endif
