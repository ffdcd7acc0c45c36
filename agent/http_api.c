#include "agent/http_api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/macros.h"
#include "common/parse.h"

#define DEFAULT_SECONDS 30
#define DEFAULT_MAX_SECONDS 300
#define DEFAULT_MAX_CONNECTIONS 32
/* Connections past max_connections are still accepted, up to this many, so
 * they get a 503 instead of a silent reset; past that MHD closes them. */
#define CONNECTION_OVERFLOW 8
/* Idle allowance on top of the longest profile window. MHD measures its
 * timeout from the last socket activity, which precedes the callback; 0.9.75
 * still sends the reply of a callback that outlasted the timeout, but the
 * timeout is kept above max_seconds so no version can cut a window off. */
#define TIMEOUT_SLACK_SECONDS 30
#define LISTEN_BACKLOG 64
/* Bound on how much of a bad parameter value is echoed back. */
#define ECHO_MAX 32

#define PPROF_PATH "/debug/pprof/"
#define PROFILE_PATH "/debug/pprof/profile"
#define SYMBOL_PATH "/debug/pprof/symbol"
/* A symbol lookup names addresses only: more than this is not a client. */
#define SYMBOL_BODY_MAX (4u << 20)

struct http_api {
	struct MHD_Daemon *daemon;
	uint16_t port;
	uint32_t default_seconds;
	uint32_t max_seconds;
	unsigned max_connections;
	unsigned timeout_seconds;
	http_profile_fn profile;
	http_metrics_fn metrics;
	http_health_fn health;
	void *ctx;
	/* Open client connections, including ones about to get a 503. */
	atomic_uint connections;
};

/* Which headers an error body carries: the pprof tool only shows the body
 * of a failed fetch when X-Go-Pprof is set. */
enum reply_style {
	REPLY_PLAIN,
	REPLY_PPROF,
};

int http_api__parse_address(const char *address, struct sockaddr_storage *out,
			    socklen_t *out_len)
{
	char host[INET6_ADDRSTRLEN];
	const char *host_start, *host_end, *port_str;
	uint32_t port;
	size_t host_len;

	if (!address || !out || !out_len)
		return -EINVAL;

	if (address[0] == '[') {
		host_start = address + 1;
		host_end = strchr(host_start, ']');
		if (!host_end || host_end[1] != ':')
			return -EINVAL;
		port_str = host_end + 2;
	} else {
		host_start = address;
		host_end = strrchr(address, ':');
		if (!host_end)
			return -EINVAL;
		port_str = host_end + 1;
	}

	host_len = (size_t)(host_end - host_start);
	/* an empty host would mean "every interface" to Go; we bind exactly
	 * what was written, so 0.0.0.0 or [::] must be spelled out */
	if (host_len == 0 || host_len >= sizeof(host))
		return -EINVAL;
	memcpy(host, host_start, host_len);
	host[host_len] = '\0';

	if (parse_u32_range(port_str, 0, 65535, &port) < 0)
		return -EINVAL;

	memset(out, 0, sizeof(*out));
	if (address[0] == '[') {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;

		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return -EINVAL;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*out_len = sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)out;

		/* inet_pton rejects the shorthand forms inet_aton takes
		 * ("127.1"), so what binds is what was written */
		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			return -EINVAL;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		*out_len = sizeof(*sin);
	}
	return 0;
}

/* Returns a listening socket or a negative errno. */
static int open_listener(const struct sockaddr_storage *addr, socklen_t len,
			 uint16_t *bound_port)
{
	_cleanup_close_ int fd = -1;
	struct sockaddr_storage bound;
	socklen_t bound_len = sizeof(bound);
	int one = 1;

	fd = socket(addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* lets a restarted agent rebind while old connections sit in
	 * TIME_WAIT; Linux still refuses a second live listener */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		return -errno;
	/* [::]:port must not silently take the IPv4 port as well */
	if (addr->ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		return -errno;
	if (bind(fd, (const struct sockaddr *)addr, len) < 0)
		return -errno;
	if (listen(fd, LISTEN_BACKLOG) < 0)
		return -errno;
	if (getsockname(fd, (struct sockaddr *)&bound, &bound_len) < 0)
		return -errno;
	if (bound.ss_family == AF_INET6)
		*bound_port = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
	else
		*bound_port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
	return TAKE_FD(fd);
}

/* Error bodies must stay one line: pprof prints them verbatim, and the
 * text may echo client input or a callback's message. */
static void sanitize_line(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = ' ';
}

static enum MHD_Result queue_response(struct MHD_Connection *conn,
				      unsigned status,
				      struct MHD_Response *resp)
{
	enum MHD_Result ret;

	if (!resp)
		return MHD_NO;
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result reply_body(struct MHD_Connection *conn, unsigned status,
				  const char *content_type, const char *body)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer(strlen(body), (void *)body,
					       MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				content_type);
	return queue_response(conn, status, resp);
}

/* A one-line text/plain error like Go's http.Error (and, for pprof paths,
 * like net/http/pprof's serveError). extra_name/extra_value: one more
 * header (Allow, Connection), or NULL. */
static enum MHD_Result reply_error(struct MHD_Connection *conn, unsigned status,
				   enum reply_style style,
				   const char *extra_name,
				   const char *extra_value, const char *fmt,
				   ...) __attribute__((format(printf, 6, 7)));

static enum MHD_Result reply_error(struct MHD_Connection *conn, unsigned status,
				   enum reply_style style,
				   const char *extra_name,
				   const char *extra_value, const char *fmt, ...)
{
	char msg[512];
	struct MHD_Response *resp;
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg) - 1, fmt, ap);
	va_end(ap);
	sanitize_line(msg);
	n = strlen(msg);
	msg[n++] = '\n';
	msg[n] = '\0';

	resp = MHD_create_response_from_buffer(n, msg, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"text/plain; charset=utf-8");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (style == REPLY_PPROF)
		MHD_add_response_header(resp, "X-Go-Pprof", "1");
	if (extra_name)
		MHD_add_response_header(resp, extra_name, extra_value);
	return queue_response(conn, status, resp);
}

/* --- /debug/pprof/profile query --- */

struct query_state {
	uint32_t max_seconds;
	bool have_seconds, have_pid;
	uint32_t seconds;
	int32_t pid;
	char error[160];
};

/* Shows at most ECHO_MAX bytes of a bad value; the rest is elided. */
static void query_fail(struct query_state *st, const char *name,
		       const char *value, size_t value_size, const char *why)
{
	if (!value)
		snprintf(st->error, sizeof(st->error), "bad %s: missing value",
			 name);
	else
		snprintf(st->error, sizeof(st->error), "bad %s: \"%.*s%s\": %s",
			 name, (int)MIN(value_size, (size_t)ECHO_MAX), value,
			 value_size > ECHO_MAX ? "..." : "", why);
}

static enum MHD_Result query_visit(void *cls, enum MHD_ValueKind kind,
				   const char *key, size_t key_size,
				   const char *value, size_t value_size)
{
	struct query_state *st = cls;
	bool is_seconds, is_pid;
	const char *name;
	uint64_t v;
	int err;

	(void)kind;
	is_seconds = key_size == 7 && memcmp(key, "seconds", 7) == 0;
	is_pid = key_size == 3 && memcmp(key, "pid", 3) == 0;
	/* unknown parameters are ignored, as net/http/pprof does (pprof
	 * itself adds none, but proxies and scrapers sometimes do) */
	if (!is_seconds && !is_pid)
		return MHD_YES;

	name = is_seconds ? "seconds" : "pid";
	if ((is_seconds && st->have_seconds) || (is_pid && st->have_pid)) {
		snprintf(st->error, sizeof(st->error),
			 "bad %s: given more than once", name);
		return MHD_NO;
	}

	if (!value || value_size == 0) {
		query_fail(st, name, NULL, 0, NULL);
		return MHD_NO;
	}
	/* "%00" decodes to an embedded NUL that would cut the string short
	 * for the parser and hide trailing garbage */
	if (strlen(value) != value_size) {
		query_fail(st, name, value, strlen(value),
			   "contains a NUL byte");
		return MHD_NO;
	}

	err = parse_u64(value, 10, &v);
	if (err == -EINVAL) {
		query_fail(st, name, value, value_size,
			   "not a positive integer");
		return MHD_NO;
	}
	if (err < 0 || v > (is_seconds ? UINT32_MAX : INT32_MAX)) {
		query_fail(st, name, value, value_size, "out of range");
		return MHD_NO;
	}
	if (v == 0) {
		query_fail(st, name, value, value_size, "must be at least 1");
		return MHD_NO;
	}

	if (is_pid) {
		st->pid = (int32_t)v;
		st->have_pid = true;
		return MHD_YES;
	}
	if (v > st->max_seconds) {
		/* net/http/pprof's wording, with the limit that applies */
		snprintf(st->error, sizeof(st->error),
			 "profile duration exceeds server's maximum of %u seconds",
			 st->max_seconds);
		return MHD_NO;
	}
	st->seconds = (uint32_t)v;
	st->have_seconds = true;
	return MHD_YES;
}

static unsigned status_for_error(int err)
{
	switch (err) {
	case -EINVAL:
	case -ESRCH:
		return MHD_HTTP_BAD_REQUEST;
	case -EBUSY:
		return MHD_HTTP_SERVICE_UNAVAILABLE;
	default:
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
}

static enum MHD_Result serve_profile(struct http_api *h,
				     struct MHD_Connection *conn)
{
	struct query_state st = {
		.max_seconds = h->max_seconds,
		.seconds = h->default_seconds,
		.pid = -1,
	};
	struct profile_query q;
	struct MHD_Response *resp;
	struct buf out = {};
	char errmsg[256] = "";
	int err;

	MHD_get_connection_values_n(conn, MHD_GET_ARGUMENT_KIND, query_visit,
				    &st);
	if (st.error[0])
		return reply_error(conn, MHD_HTTP_BAD_REQUEST, REPLY_PPROF, NULL,
				   NULL, "%s", st.error);
	/* a default above the cap is refused at start, so seconds is valid */
	q.seconds = st.seconds;
	q.pid = st.pid;

	if (!h->profile)
		return reply_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
				   REPLY_PPROF, NULL, NULL,
				   "CPU profiling is not enabled on this agent");

	/* Blocks this connection's thread for the profile window; MHD has a
	 * thread per connection, so other requests carry on meanwhile. */
	err = h->profile(h->ctx, &q, &out, errmsg, sizeof(errmsg));
	if (err != 0) {
		buf_release(&out);
		errmsg[sizeof(errmsg) - 1] = '\0';
		if (err > 0)
			err = -EIO; /* contract breach: treat as internal */
		log_debug("profile request (seconds=%u pid=%d) failed: %s",
			  q.seconds, q.pid, errmsg[0] ? errmsg : strerror(-err));
		return reply_error(conn, status_for_error(err), REPLY_PPROF,
				   NULL, NULL, "%s",
				   errmsg[0] ? errmsg : strerror(-err));
	}

	if (out.len == 0) {
		buf_release(&out);
		resp = MHD_create_response_from_buffer(0, (void *)"",
						       MHD_RESPMEM_PERSISTENT);
	} else {
		resp = MHD_create_response_from_buffer(out.len, out.data,
						       MHD_RESPMEM_MUST_FREE);
		if (resp)
			out = (struct buf){}; /* MHD frees the data now */
		else
			buf_release(&out);
	}
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"application/octet-stream");
	MHD_add_response_header(resp, "Content-Disposition",
				"attachment; filename=\"profile\"");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	return queue_response(conn, MHD_HTTP_OK, resp);
}

/* --- routing --- */

static enum MHD_Result serve_root_index(struct MHD_Connection *conn)
{
	return reply_body(conn, MHD_HTTP_OK, "text/plain; charset=utf-8",
			  "brasa " BRASA_VERSION " continuous profiling agent\n"
			  "\n"
			  "/debug/pprof/profile?seconds=N[&pid=P]  CPU profile "
			  "(gzipped pprof, for go tool pprof)\n"
			  "/debug/pprof/                           pprof index\n"
			  "/debug/pprof/symbol                     symbol lookups (for go tool pprof)\n"
			  "/metrics                                Prometheus metrics\n"
			  "/healthz                                liveness check\n");
}

static enum MHD_Result serve_pprof_index(struct http_api *h,
					 struct MHD_Connection *conn)
{
	char page[1024];

	snprintf(page, sizeof(page),
		 "<html>\n<head><title>/debug/pprof/</title></head>\n<body>\n"
		 "/debug/pprof/<br>\n<br>\n"
		 "Types of profiles available:\n"
		 "<table>\n<thead><td>Profile</td><td>Description</td></thead>\n"
		 "<tr><td><a href=\"profile?seconds=%u\">profile</a></td>"
		 "<td>On-CPU stacks of every process (or of one with "
		 "<code>pid=P</code>), sampled for <code>seconds</code> "
		 "(default %u, at most %u). Fetch it with "
		 "<code>go tool pprof</code>.</td></tr>\n"
		 "</table>\n</body>\n</html>\n",
		 h->default_seconds, h->default_seconds, h->max_seconds);
	return reply_body(conn, MHD_HTTP_OK, "text/html; charset=utf-8", page);
}

static enum MHD_Result serve_metrics(struct http_api *h, struct MHD_Connection *conn)
{
	struct MHD_Response *resp;
	struct buf out = { 0 };
	int err;

	if (!h->metrics)
		return reply_error(conn, MHD_HTTP_NOT_FOUND, REPLY_PLAIN, NULL, NULL,
				   "404 page not found");
	err = h->metrics(h->ctx, &out);
	if (err) {
		buf_release(&out);
		return reply_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, REPLY_PLAIN, NULL, NULL,
				   "could not collect metrics: %s", strerror(-err));
	}
	/* MHD takes the buffer and frees it with free() */
	resp = MHD_create_response_from_buffer(out.len, out.data, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		buf_release(&out);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"text/plain; version=0.0.4; charset=utf-8");
	return queue_response(conn, MHD_HTTP_OK, resp);
}

/* go tool pprof POSTs here, for addresses of mappings whose functions the
 * profile does not fully name, and gives up on the whole profile if the
 * endpoint is missing. Every address brasa could name is already named in
 * the profile (symbolized on this host, with the process's own files), so
 * the honest answer is net/http/pprof's header with no further symbols. */
static enum MHD_Result serve_symbol(struct MHD_Connection *conn)
{
	return reply_body(conn, MHD_HTTP_OK, "text/plain; charset=utf-8", "num_symbols: 1\n");
}

/* Marks, through MHD's per-request pointer, a POST body to drop. */
static const char symbol_body;

/* Marks, through MHD's per-request pointer, a request already answered. */
static const char request_answered;

static bool method_is(const char *method, const char *want)
{
	return strcmp(method, want) == 0;
}

static enum MHD_Result handle_request(void *cls, struct MHD_Connection *conn,
				      const char *url, const char *method,
				      const char *version,
				      const char *upload_data,
				      size_t *upload_data_size, void **req_cls)
{
	struct http_api *h = cls;
	bool get = method_is(method, MHD_HTTP_METHOD_GET);
	bool head = method_is(method, MHD_HTTP_METHOD_HEAD);

	(void)version;
	(void)upload_data;
	(void)upload_data_size;

	/* Every route answers on the first call, before any request body:
	 * none of them takes one, and MHD then closes rather than reads it.
	 * MHD 0.9.75 calls a handler again for a request whose socket was
	 * shut down (by http_api__stop) while the handler ran; that must not
	 * run a second profile window, so a repeat call just drops it. */
	if (*req_cls == &request_answered)
		return MHD_NO;
	if (*req_cls == &symbol_body) {
		/* POST /debug/pprof/symbol: read and drop the body, then answer */
		if (*upload_data_size) {
			*upload_data_size = 0;
			return MHD_YES;
		}
		*req_cls = (void *)&request_answered;
		return serve_symbol(conn);
	}
	if (strcmp(url, SYMBOL_PATH) == 0 && method_is(method, MHD_HTTP_METHOD_POST)) {
		const char *len = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							      MHD_HTTP_HEADER_CONTENT_LENGTH);
		uint64_t n = 0;

		*req_cls = (void *)&request_answered;
		if (len && (parse_u64(len, 10, &n) || n > SYMBOL_BODY_MAX))
			return reply_error(conn, MHD_HTTP_CONTENT_TOO_LARGE, REPLY_PPROF, NULL,
					   NULL, "symbol request too large");
		*req_cls = (void *)&symbol_body;
		return MHD_YES;
	}
	*req_cls = (void *)&request_answered;

	if (atomic_load(&h->connections) > h->max_connections)
		return reply_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
				   REPLY_PLAIN, "Connection", "close",
				   "too many connections (limit %u), retry later",
				   h->max_connections);

	if (strcmp(url, PROFILE_PATH) == 0) {
		/* HEAD would burn a whole profile window for no body */
		if (!get)
			return reply_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
					   REPLY_PPROF, MHD_HTTP_HEADER_ALLOW,
					   "GET", "method not allowed");
		return serve_profile(h, conn);
	}

	if (strcmp(url, "/") == 0 || strcmp(url, "/healthz") == 0 ||
	    strcmp(url, PPROF_PATH) == 0 || strcmp(url, "/metrics") == 0 ||
	    strcmp(url, SYMBOL_PATH) == 0) {
		if (!get && !head)
			return reply_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
					   REPLY_PLAIN, MHD_HTTP_HEADER_ALLOW,
					   strcmp(url, SYMBOL_PATH) ? "GET, HEAD" : "GET, HEAD, POST",
					   "method not allowed");
		if (strcmp(url, "/") == 0)
			return serve_root_index(conn);
		if (strcmp(url, "/healthz") == 0) {
			char msg[256] = "";

			if (h->health && h->health(h->ctx, msg, sizeof(msg)))
				return reply_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
						   REPLY_PLAIN, NULL, NULL, "%s",
						   msg[0] ? msg : "unhealthy");
			return reply_body(conn, MHD_HTTP_OK,
					  "text/plain; charset=utf-8", "ok\n");
		}
		if (strcmp(url, "/metrics") == 0)
			return serve_metrics(h, conn);
		if (strcmp(url, SYMBOL_PATH) == 0)
			return serve_symbol(conn);
		return serve_pprof_index(h, conn);
	}

	/* Go's ServeMux redirects the bare subtree name to its slash form */
	if (strcmp(url, "/debug/pprof") == 0) {
		struct MHD_Response *resp;

		resp = MHD_create_response_from_buffer(0, (void *)"",
						       MHD_RESPMEM_PERSISTENT);
		if (!resp)
			return MHD_NO;
		MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION,
					PPROF_PATH);
		return queue_response(conn, MHD_HTTP_MOVED_PERMANENTLY, resp);
	}

	if (strncmp(url, PPROF_PATH, strlen(PPROF_PATH)) == 0)
		return reply_error(conn, MHD_HTTP_NOT_FOUND, REPLY_PPROF, NULL,
				   NULL, "Unknown profile: %.*s", ECHO_MAX,
				   url + strlen(PPROF_PATH));

	return reply_error(conn, MHD_HTTP_NOT_FOUND, REPLY_PLAIN, NULL, NULL,
			   "404 page not found");
}

static void notify_connection(void *cls, struct MHD_Connection *conn,
			      void **socket_context,
			      enum MHD_ConnectionNotificationCode code)
{
	struct http_api *h = cls;

	(void)conn;
	(void)socket_context;
	if (code == MHD_CONNECTION_NOTIFY_STARTED)
		atomic_fetch_add(&h->connections, 1);
	else if (code == MHD_CONNECTION_NOTIFY_CLOSED)
		atomic_fetch_sub(&h->connections, 1);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[256];
	size_t n;

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
	/* MHD reports per-connection trouble (client resets, timeouts) that
	 * is routine for a server; only worth seeing when debugging */
	log_debug("microhttpd: %s", line);
}

struct http_api *http_api__start(const struct http_api_opts *opts)
{
	_cleanup_free_ struct http_api *h = NULL;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	unsigned flags;
	int fd, err;

	if (!opts) {
		errno = EINVAL;
		return NULL;
	}
	err = http_api__parse_address(opts->address, &addr, &addr_len);
	if (err < 0) {
		errno = -err;
		return NULL;
	}

	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->default_seconds = opts->default_seconds ?: DEFAULT_SECONDS;
	h->max_seconds = opts->max_seconds ?: DEFAULT_MAX_SECONDS;
	h->max_connections = opts->max_connections ?: DEFAULT_MAX_CONNECTIONS;
	h->profile = opts->profile;
	h->metrics = opts->metrics;
	h->health = opts->health;
	h->ctx = opts->ctx;
	if (h->default_seconds > h->max_seconds ||
	    h->max_seconds > UINT32_MAX / 2 ||
	    h->max_connections > 100000) {
		errno = EINVAL;
		return NULL;
	}
	h->timeout_seconds = opts->connection_timeout ?:
		h->max_seconds + TIMEOUT_SLACK_SECONDS;
	if (h->timeout_seconds <= h->max_seconds) {
		errno = EINVAL;
		return NULL;
	}
	atomic_init(&h->connections, 0);

	fd = open_listener(&addr, addr_len, &h->port);
	if (fd < 0) {
		errno = -fd;
		return NULL;
	}

	/* poll, not select: the agent holds many perf fds and select breaks
	 * on any fd >= FD_SETSIZE */
	flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
		MHD_USE_POLL | MHD_USE_ERROR_LOG;
	if (addr.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	h->daemon = MHD_start_daemon(
		flags, 0, NULL, NULL, handle_request, h,
		MHD_OPTION_LISTEN_SOCKET, fd,
		MHD_OPTION_CONNECTION_LIMIT,
		(unsigned)(h->max_connections + CONNECTION_OVERFLOW),
		MHD_OPTION_CONNECTION_TIMEOUT, h->timeout_seconds,
		MHD_OPTION_NOTIFY_CONNECTION, notify_connection, h,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
		MHD_OPTION_END);
	if (!h->daemon) {
		/* MHD leaves a listen socket it was handed open on failure */
		close(fd);
		errno = EIO;
		return NULL;
	}
	return TAKE_PTR(h);
}

uint16_t http_api__port(const struct http_api *h)
{
	return h ? h->port : 0;
}

void http_api__stop(struct http_api *h)
{
	if (!h)
		return;
	/* closes the listen socket, shuts down every connection socket and
	 * joins the connection threads; one still inside the profile
	 * callback is joined when the callback returns */
	MHD_stop_daemon(h->daemon);
	free(h);
}
