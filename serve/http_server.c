#include "serve/http_server.h"

#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/macros.h"
#include "common/parse.h"
#include "serve/http_address.h"
#include "serve/http_text.h"
#include "serve/http_tls.h"
#include "serve/http_tokens.h"

#define DEFAULT_READ_TIMEOUT_MS 5000
/* A profile of a busy host is a few MB: a minute covers slow links (and
 * kubectl port-forward); a reader slower than that holds a thread. */
#define DEFAULT_REPLY_TIMEOUT_MS 60000
/* Per connection: microhttpd's memory pool (request line, headers, reply
 * headers; bodies are not in it) and the thread's stack. Our handlers
 * use a few KiB of stack; GnuTLS handshakes some tens. */
#define CONNECTION_MEMORY (16u << 10)
#define THREAD_STACK (512u << 10)
/* Connections the kernel completes before we accept them. A burst of new
 * connections outruns accepting (a thread each): past the backlog the
 * kernel drops SYNs and clients, a probe among them, wait a second or
 * more for the retry; within it they wait their turn. Kernel memory, and
 * capped by net.core.somaxconn. */
#define LISTEN_BACKLOG 1024
/* TLS 1.2 and 1.3 only, the rest GnuTLS' NORMAL set */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

struct route_entry {
	struct http_route route;
	void *ctx;
};

struct http_server {
	char *address;              /* as given, for messages */
	struct sockaddr_storage addr;
	socklen_t addr_len;
	struct MHD_Daemon *daemon;
	uint16_t port;
	bool loopback;              /* bound to 127.0.0.0/8 or ::1 */
	unsigned max_connections;
	unsigned per_ip_limit;      /* 0: none (loopback) */
	unsigned read_timeout_ms;
	struct http_tls *tls;       /* NULL: plain HTTP */
	struct http_tokens *tokens; /* NULL: no bearer tokens */
	struct http_conns *conns;
	struct route_entry *routes;
	size_t nroutes;
	atomic_uint_fast64_t rejected[HTTP_REJECT__COUNT];
};

/* Which headers an error body carries: the pprof tool only shows the body
 * of a failed fetch when X-Go-Pprof is set. */
enum reply_style {
	REPLY_PLAIN,
	REPLY_PPROF,
};

/* A request being answered: on the connection thread's stack. */
struct http_request {
	struct http_server *s;
	struct http_conn *c;
	struct MHD_Connection *conn;
	const struct route_entry *route; /* NULL: no route takes the path */
	const char *path;
	unsigned method;
	enum reply_style style;     /* of the errors about it */
};

/* Returns a listening socket or a negative errno. */
static int open_listener(const struct sockaddr_storage *addr, socklen_t len,
			 unsigned defer_s, uint16_t *bound_port)
{
	_cleanup_close_ int fd = -1;
	struct sockaddr_storage bound;
	socklen_t bound_len = sizeof(bound);
	int one = 1, defer = (int)defer_s;

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
	/* the kernel hands us a connection once its client has sent
	 * something (or defer_s has passed): every client that sends its
	 * request at once (probes, scrapers, TLS hellos) arrives with it
	 * already waiting, which eviction spares, and idle ones wait in the
	 * kernel rather than in a thread */
	if (setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer, sizeof(defer)) < 0)
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

/* --- replies --- */

static enum MHD_Result queue_response(struct MHD_Connection *conn, unsigned status,
				      struct MHD_Response *resp)
{
	enum MHD_Result ret;

	if (!resp)
		return MHD_NO;
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static int result(enum MHD_Result ret)
{
	return ret == MHD_YES ? 0 : -EIO;
}

static enum MHD_Result reply_verror(struct MHD_Connection *conn, unsigned status,
				    enum reply_style style, const char *extra_name,
				    const char *extra_value, const char *fmt, va_list ap)
	__attribute__((format(printf, 6, 0)));

static enum MHD_Result reply_verror(struct MHD_Connection *conn, unsigned status,
				    enum reply_style style, const char *extra_name,
				    const char *extra_value, const char *fmt, va_list ap)
{
	char raw[512], msg[4 * sizeof(raw) + 2];
	struct MHD_Response *resp;
	size_t n = 0;

	vsnprintf(raw, sizeof(raw), fmt, ap);
	msg[0] = 0;
	http_text__escape(msg, sizeof(msg) - 1, &n, raw, strlen(raw), false);
	msg[n++] = '\n';
	msg[n] = '\0';

	resp = MHD_create_response_from_buffer(n, msg, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (style == REPLY_PPROF)
		MHD_add_response_header(resp, "X-Go-Pprof", "1");
	if (extra_name)
		MHD_add_response_header(resp, extra_name, extra_value);
	return queue_response(conn, status, resp);
}

/* A one-line text/plain error like Go's http.Error (and, for pprof paths,
 * like net/http/pprof's serveError); see http_request__error. */
static enum MHD_Result reply_error(struct MHD_Connection *conn, unsigned status,
				   enum reply_style style, const char *extra_name,
				   const char *extra_value, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

static enum MHD_Result reply_error(struct MHD_Connection *conn, unsigned status,
				   enum reply_style style, const char *extra_name,
				   const char *extra_value, const char *fmt, ...)
{
	enum MHD_Result ret;
	va_list ap;

	va_start(ap, fmt);
	ret = reply_verror(conn, status, style, extra_name, extra_value, fmt, ap);
	va_end(ap);
	return ret;
}

int http_request__error(struct http_request *req, unsigned status, const char *name,
			const char *value, const char *fmt, ...)
{
	enum MHD_Result ret;
	va_list ap;

	va_start(ap, fmt);
	ret = reply_verror(req->conn, status, req->style, name, value, fmt, ap);
	va_end(ap);
	return result(ret);
}

int http_request__reply(struct http_request *req, unsigned status, const char *content_type,
			const char *body)
{
	struct MHD_Response *resp;

	resp = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return -EIO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	return result(queue_response(req->conn, status, resp));
}

int http_request__reply_buf(struct http_request *req, unsigned status, const char *content_type,
			    struct buf *body, const char *const *headers)
{
	struct MHD_Response *resp;

	if (body->len == 0) {
		buf_release(body);
		resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	} else {
		resp = MHD_create_response_from_buffer(body->len, body->data,
						       MHD_RESPMEM_MUST_FREE);
		if (resp)
			*body = (struct buf){}; /* MHD frees the data now */
		else
			buf_release(body);
	}
	if (!resp)
		return -EIO;
	if (content_type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
	for (size_t i = 0; headers && headers[i]; i += 2)
		MHD_add_response_header(resp, headers[i], headers[i + 1]);
	return result(queue_response(req->conn, status, resp));
}

/* --- connections --- */

static struct http_conn *conn_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

/* A new connection (called from microhttpd's listening thread, before the
 * connection's own thread starts) takes a slot; a closed one gives it
 * back. */
static void notify_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			      enum MHD_ConnectionNotificationCode code)
{
	struct http_server *s = cls;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *fdi =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		const union MHD_ConnectionInfo *addr =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

		if (fdi)
			*socket_context = http_conns__open(s->conns, fdi->connect_fd,
							   addr ? addr->client_addr : NULL);
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context) {
		http_conns__close(s->conns, *socket_context);
		*socket_context = NULL;
	}
}

/* Called once per request, in the connection's thread, with the request
 * target as sent: handlers that read a query string parse it themselves
 * (microhttpd's parsing would lose what a bad one says), so it is kept.
 * The return value would be the request's first *req_cls. */
static void *request_target(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct http_conn *c = conn_of(conn);
	const char *q;

	(void)cls;
	if (!c)
		return NULL;
	q = strchr(uri, '?');
	c->has_query = q != NULL;
	c->query_too_long = false;
	c->query_len = 0;
	c->body_bytes = 0;
	if (q) {
		size_t n = strlen(q + 1);

		if (n > HTTP_QUERY_MAX) {
			c->query_too_long = true;
		} else {
			memcpy(c->query, q + 1, n);
			c->query_len = n;
		}
	}
	return NULL;
}

/* The reply went out (or the request ended otherwise): on a kept-alive
 * connection the next request's deadline starts now. */
static void request_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
			      enum MHD_RequestTerminationCode code)
{
	struct http_server *s = cls;
	struct http_conn *c = conn_of(conn);

	(void)req_cls;
	(void)code;
	if (c)
		http_conns__set_phase(s->conns, c, HTTP_CONN_READING);
}

/* --- protections --- */

static enum MHD_Result count_host(void *cls, enum MHD_ValueKind kind, const char *key,
				  const char *value)
{
	(void)kind;
	(void)value;
	if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0)
		(*(unsigned *)cls)++;
	return MHD_YES;
}

/* DNS rebinding: a web page on a name that resolves to 127.0.0.1 gets the
 * browser to send our endpoint requests with its own name as Host. On a
 * loopback address, only loopback names are answered; a request without
 * Host (HTTP/1.0) does not come from a browser. true: go on; false: the
 * 403 is queued in *ret. */
static bool host_allowed(struct http_request *req, enum MHD_Result *ret)
{
	const char *host;
	unsigned nhost = 0;
	char echo[HTTP_ECHO_SIZE];
	size_t n;

	if (!req->s->loopback)
		return true;
	host = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
	if (!host)
		return true;
	MHD_get_connection_values(req->conn, MHD_HEADER_KIND, count_host, &nhost);
	n = strlen(host);
	if (nhost == 1 && http_address__host_is_loopback(host, n))
		return true;
	http_request__reject(req, HTTP_REJECT_HOST);
	if (nhost > 1) {
		*ret = reply_error(req->conn, MHD_HTTP_FORBIDDEN, req->style, NULL, NULL,
				   "more than one Host header");
		return false;
	}
	http_text__echo(echo, sizeof(echo), host, n, n);
	*ret = reply_error(req->conn, MHD_HTTP_FORBIDDEN, req->style, NULL, NULL,
			   "Host \"%s\" is not a loopback name: this endpoint listens on a "
			   "loopback address and only answers requests for 127.0.0.1, [::1] or "
			   "localhost", echo);
	return false;
}

/* A client certificate chaining to the client CA, or a bearer token from
 * the token file: either will do. true: go on; false: the 401 (403 when
 * only certificates are accepted: there is no WWW-Authenticate scheme for
 * them) is queued in *ret. */
static bool authorized(struct http_request *req, enum MHD_Result *ret)
{
	struct http_server *s = req->s;
	bool client_certs = s->tls && s->tls->client_certs;
	const char *header, *token;
	char why[256] = "";
	int cert = -ENOENT;
	size_t n;

	if (!s->tokens && !client_certs)
		return true;
	if (client_certs && (cert = http_tls__check_client(req->conn, why, sizeof(why))) == 0)
		return true;
	header = s->tokens ? MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
							 MHD_HTTP_HEADER_AUTHORIZATION)
			   : NULL;
	token = http_tokens__bearer(header, &n);
	if (token && http_tokens__match(s->tokens, token, n))
		return true;
	http_request__reject(req, HTTP_REJECT_UNAUTHORIZED);
	if (!s->tokens) {
		*ret = reply_error(req->conn, MHD_HTTP_FORBIDDEN, req->style, NULL, NULL, "%s%s",
				   cert == -EACCES ? "client certificate not accepted: "
						   : "a client certificate is required",
				   cert == -EACCES ? why : "");
		return false;
	}
	if (header)
		*ret = reply_error(req->conn, MHD_HTTP_UNAUTHORIZED, req->style,
				   MHD_HTTP_HEADER_WWW_AUTHENTICATE,
				   "Bearer realm=\"brasa\", error=\"invalid_token\"", "%s",
				   token ? "invalid bearer token" :
				   "the Authorization header is not \"Bearer TOKEN\"");
	else if (cert == -EACCES)
		*ret = reply_error(req->conn, MHD_HTTP_UNAUTHORIZED, req->style,
				   MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"brasa\"",
				   "client certificate not accepted: %s", why);
	else
		*ret = reply_error(req->conn, MHD_HTTP_UNAUTHORIZED, req->style,
				   MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"brasa\"",
				   "authentication required: send \"Authorization: Bearer TOKEN\"%s",
				   client_certs ? " or a client certificate" : "");
	return false;
}

/* --- routing --- */

/* Marks, through MHD's per-request pointer, a POST body to drop. */
static const char request_body;

/* Marks, through MHD's per-request pointer, a request already answered. */
static const char request_answered;

static unsigned method_bit(const char *method)
{
	static const struct {
		const char *name;
		unsigned bit;
	} methods[] = {
		{ MHD_HTTP_METHOD_GET, HTTP_GET },
		{ MHD_HTTP_METHOD_HEAD, HTTP_HEAD },
		{ MHD_HTTP_METHOD_POST, HTTP_POST },
	};

	for (size_t i = 0; i < ARRAY_SIZE(methods); i++)
		if (strcmp(method, methods[i].name) == 0)
			return methods[i].bit;
	return HTTP_OTHER;
}

static const struct route_entry *find_route(const struct http_server *s, const char *path)
{
	for (size_t i = 0; i < s->nroutes; i++) {
		const struct http_route *r = &s->routes[i].route;

		if (r->flags & HTTP_ROUTE_PREFIX ? strncmp(path, r->path, strlen(r->path)) == 0
						 : strcmp(path, r->path) == 0)
			return &s->routes[i];
	}
	return NULL;
}

/* The methods of mask for an Allow header: "GET, HEAD". */
static void allow_header(unsigned mask, char *out, size_t len)
{
	static const char *const names[] = { "GET", "HEAD", "POST" };
	size_t n = 0;

	out[0] = 0;
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (mask & (1u << i))
			n += (size_t)snprintf(out + n, len - n, "%s%s", n ? ", " : "", names[i]);
}

static enum MHD_Result body_too_large(struct http_request *req)
{
	http_request__reject(req, HTTP_REJECT_TOO_LARGE);
	/* the rest of the body is never read: the connection cannot carry
	 * another request */
	return reply_error(req->conn, MHD_HTTP_CONTENT_TOO_LARGE, req->style, "Connection",
			   "close", "%s larger than %llu bytes", req->route->route.name,
			   (unsigned long long)req->route->route.body_max);
}

static enum MHD_Result run_handler(struct http_request *req)
{
	return req->route->route.handler(req->route->ctx, req) == 0 ? MHD_YES : MHD_NO;
}

/* A POST with a body after its headers: reads and drops the body, counting
 * it whether it is sized or chunked. microhttpd 0.9.75 cannot queue a
 * reply halfway through a body, so one past the bound is drained (within
 * read_timeout, like any request) and then answered 413. */
static enum MHD_Result body_upload(struct http_request *req, size_t *upload_data_size,
				   void **req_cls)
{
	if (*upload_data_size) {
		req->c->body_bytes += *upload_data_size;
		*upload_data_size = 0;
		return MHD_YES;
	}
	*req_cls = (void *)&request_answered;
	http_conns__set_phase(req->s->conns, req->c, HTTP_CONN_REPLYING);
	if (req->c->body_bytes > req->route->route.body_max)
		return body_too_large(req);
	return run_handler(req);
}

/* The start of a POST with a body: refused at once when its length is
 * announced and too large, else read by body_upload. */
static enum MHD_Result body_start(struct http_request *req, void **req_cls)
{
	const char *len = MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND,
						      MHD_HTTP_HEADER_CONTENT_LENGTH);
	uint64_t n = 0;

	if (len && (parse_u64(len, 10, &n) || n > req->route->route.body_max)) {
		http_conns__set_phase(req->s->conns, req->c, HTTP_CONN_REPLYING);
		return body_too_large(req);
	}
	*req_cls = (void *)&request_body;
	return MHD_YES;
}

static enum MHD_Result handle_request(void *cls, struct MHD_Connection *conn, const char *url,
				      const char *method, const char *version,
				      const char *upload_data, size_t *upload_data_size,
				      void **req_cls)
{
	struct http_server *s = cls;
	struct http_request req = {
		.s = s, .c = conn_of(conn), .conn = conn, .path = url,
		.method = method_bit(method), .route = find_route(s, url),
	};
	const struct http_route *route = req.route ? &req.route->route : NULL;
	bool body_post = route && route->body_max && req.method == HTTP_POST;
	enum MHD_Result ret = MHD_NO;
	enum http_close_reason over;
	char allow[32];
	int admit;

	(void)version;
	(void)upload_data;
	req.style = route && (route->flags & HTTP_ROUTE_GO_PPROF) ? REPLY_PPROF : REPLY_PLAIN;

	/* MHD 0.9.75 calls a handler again for a request whose socket was
	 * shut down (by http_server__free) while the handler ran; that must
	 * not run a second profile window, so a repeat call just drops it. */
	if (!req.c || *req_cls == &request_answered)
		return MHD_NO;
	if (*req_cls == &request_body)
		return body_upload(&req, upload_data_size, req_cls);
	*req_cls = (void *)&request_answered;

	admit = http_conns__admit(s->conns, req.c, &over);
	/* closed (timed out, evicted) just as its request came in */
	if (admit == -ECONNABORTED)
		return MHD_NO;
	/* Every route but a POST with a body answers on this first call,
	 * before any request body: none of them takes one, and MHD then
	 * closes rather than reads it. */
	if (!body_post)
		http_conns__set_phase(s->conns, req.c, HTTP_CONN_REPLYING);
	if (admit && over == HTTP_CLOSE_PER_IP)
		return reply_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, REPLY_PLAIN, "Connection",
				   "close", "too many connections from this address (limit %u), "
				   "retry later", s->per_ip_limit);
	if (admit)
		return reply_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, REPLY_PLAIN, "Connection",
				   "close", "too many connections (limit %u), retry later",
				   s->max_connections);
	if (!host_allowed(&req, &ret))
		return ret;
	if (!(route && (route->flags & HTTP_ROUTE_PUBLIC)) && !authorized(&req, &ret))
		return ret;
	if (!route)
		return reply_error(conn, MHD_HTTP_NOT_FOUND, REPLY_PLAIN, NULL, NULL,
				   "404 page not found");
	if (!(route->methods & req.method)) {
		allow_header(route->methods, allow, sizeof(allow));
		return reply_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, REPLY_PLAIN,
				   MHD_HTTP_HEADER_ALLOW, allow, "method not allowed");
	}
	if (body_post)
		return body_start(&req, req_cls);
	return run_handler(&req);
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

/* --- the server --- */

void http_server__free(struct http_server *s)
{
	if (!s)
		return;
	/* closes the listen socket, shuts down every connection socket and
	 * joins the connection threads; one still inside a handler is
	 * joined when the handler returns */
	if (s->daemon)
		MHD_stop_daemon(s->daemon);
	http_conns__free(s->conns);
	http_tokens__free(s->tokens);
	http_tls__free(s->tls);
	free(s->routes);
	free(s->address);
	free(s);
}

int http_server__new(const struct http_server_opts *opts, struct http_server **out, char *err,
		     size_t errlen)
{
	struct sockaddr_storage addr;
	struct http_conns_opts co;
	struct http_server *s;
	socklen_t addr_len;
	int rc;

	if (http_address__parse(opts->address, &addr, &addr_len) < 0)
		return http_text__errf(err, errlen, EINVAL, "invalid address '%s': %s",
				       opts->address ? opts->address : "", HTTP_ADDRESS_EXPECTED);
	co = (struct http_conns_opts){
		.max_connections = opts->max_connections ?: HTTP_SERVER_DEFAULT_MAX_CONNECTIONS,
		.read_timeout_ms = opts->read_timeout_ms ?: DEFAULT_READ_TIMEOUT_MS,
		.reply_timeout_ms = opts->reply_timeout_ms ?: DEFAULT_REPLY_TIMEOUT_MS,
	};
	if (co.read_timeout_ms > 3600 * 1000 || co.reply_timeout_ms > 3600 * 1000)
		return http_text__errf(err, errlen, EINVAL, "limits out of range");
	if (co.max_connections > 100000)
		return http_text__errf(err, errlen, EINVAL, "max_connections %u is out of range",
				       co.max_connections);
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->address = strdup(opts->address);
	if (!s->address) {
		rc = -ENOMEM;
		goto fail;
	}
	s->addr = addr;
	s->addr_len = addr_len;
	s->loopback = http_address__is_loopback(s->address) == 1;
	s->max_connections = co.max_connections;
	s->read_timeout_ms = co.read_timeout_ms;
	/* behind one address (a pod, a host) at most a quarter of the slots;
	 * on loopback every local client shares 127.0.0.1 */
	s->per_ip_limit = co.per_ip_limit = s->loopback ? 0 : co.max_connections / 4;
	rc = http_tls__open(&(struct http_tls_opts){ .cert_file = opts->tls_cert_file,
						     .key_file = opts->tls_key_file,
						     .client_ca_file = opts->tls_client_ca_file },
			    &s->tls, err, errlen);
	if (!rc && opts->bearer_token_file)
		rc = http_tokens__open(opts->bearer_token_file, &s->tokens, err, errlen);
	if (rc) {
		rc = rc == -ENOMEM ? -ENOMEM : -EINVAL;
		goto fail;
	}
	rc = http_conns__new(&co, &s->conns);
	if (rc) {
		if (rc != -ENOMEM)
			http_text__errf(err, errlen, -rc, "failed to start a thread: %s",
					strerror(-rc));
		goto fail;
	}
	*out = s;
	return 0;
fail:
	http_server__free(s);
	return rc;
}

int http_server__add_routes(struct http_server *s, const struct http_route *routes, size_t n,
			    void *ctx)
{
	struct route_entry *more = reallocarray(s->routes, s->nroutes + n, sizeof(*more));

	if (!more)
		return -ENOMEM;
	s->routes = more;
	for (size_t i = 0; i < n; i++)
		s->routes[s->nroutes++] = (struct route_entry){ routes[i], ctx };
	return 0;
}

int http_server__start(struct http_server *s, char *err, size_t errlen)
{
	struct MHD_OptionItem mo[20];
	unsigned flags, n = 0;
	int fd;

	fd = open_listener(&s->addr, s->addr_len, (s->read_timeout_ms + 999) / 1000, &s->port);
	if (fd < 0)
		return http_text__errf(err, errlen, -fd, "failed to listen on '%s': %s",
				       s->address, strerror(-fd));

#define OPT(o, v, p) (mo[n++] = (struct MHD_OptionItem){ (o), (intptr_t)(v), (p) })
	/* first, or microhttpd prints what comes before to stderr itself */
	OPT(MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL);
	OPT(MHD_OPTION_LISTEN_SOCKET, fd, NULL);
	OPT(MHD_OPTION_CONNECTION_LIMIT, http_conns__slots(s->conns), NULL);
	/* none: http_conns keeps the deadlines. microhttpd 0.9.75 counts its
	 * own in whole seconds and, in the second before one expires, its
	 * connection thread polls without sleeping: 100 idle connections
	 * timing out cost the agent 0.75 s of CPU, a flood of them a CPU. */
	OPT(MHD_OPTION_CONNECTION_TIMEOUT, 0, NULL);
	OPT(MHD_OPTION_CONNECTION_MEMORY_LIMIT, CONNECTION_MEMORY, NULL);
	OPT(MHD_OPTION_THREAD_STACK_SIZE, THREAD_STACK, NULL);
	OPT(MHD_OPTION_NOTIFY_CONNECTION, notify_connection, s);
	OPT(MHD_OPTION_NOTIFY_COMPLETED, request_completed, s);
	OPT(MHD_OPTION_URI_LOG_CALLBACK, request_target, s);
	if (s->tls) {
		OPT(MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls->cert.data);
		OPT(MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls->key.data);
		OPT(MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)TLS_PRIORITIES);
		/* makes microhttpd ask for (not require) a client certificate */
		if (s->tls->client_certs)
			OPT(MHD_OPTION_HTTPS_MEM_TRUST, 0, s->tls->client_ca.data);
	}
	OPT(MHD_OPTION_END, 0, NULL);
#undef OPT

	/* poll, not select: the agent holds many perf fds and select breaks
	 * on any fd >= FD_SETSIZE */
	flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
		MHD_USE_POLL | MHD_USE_ERROR_LOG;
	if (s->addr.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (s->tls)
		flags |= MHD_USE_TLS;
	s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, handle_request, s,
				     MHD_OPTION_ARRAY, mo, MHD_OPTION_END);
	if (!s->daemon) {
		/* MHD leaves a listen socket it was handed open on failure */
		close(fd);
		return http_text__errf(err, errlen, EIO, "failed to start the HTTP server on '%s'%s",
				       s->address, s->tls ? " (with TLS)" : "");
	}
	return 0;
}

uint16_t http_server__port(const struct http_server *s)
{
	return s ? s->port : 0;
}

void http_server__stats(struct http_server *s, struct http_server_stats *st)
{
	memset(st, 0, sizeof(*st));
	http_conns__stats(s->conns, &st->connections, st->closed);
	st->max_connections = s->max_connections;
	for (int i = 0; i < HTTP_REJECT__COUNT; i++)
		st->rejected[i] = atomic_load(&s->rejected[i]);
	if (s->tokens) {
		st->token_file = true;
		http_tokens__stats(s->tokens, &st->bearer_tokens, &st->token_reloads);
	}
}

/* --- what handlers know of their request --- */

unsigned http_request__method(const struct http_request *req)
{
	return req->method;
}

const char *http_request__path(const struct http_request *req)
{
	return req->path;
}

const char *http_request__header(const struct http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

int http_request__query(const struct http_request *req, const char **query, size_t *len)
{
	if (req->c->query_too_long)
		return -E2BIG;
	*query = req->c->query;
	*len = req->c->has_query ? req->c->query_len : 0;
	return 0;
}

bool http_request__get_query(struct http_request *req, const char **query, size_t *len, int *ret)
{
	if (http_request__method(req) != HTTP_GET) {
		*ret = http_request__error(req, MHD_HTTP_METHOD_NOT_ALLOWED,
					   MHD_HTTP_HEADER_ALLOW, "GET", "method not allowed");
		return false;
	}
	if (!http_request__query(req, query, len))
		return true;
	http_request__reject(req, HTTP_REJECT_TOO_LARGE);
	*ret = http_request__error(req, MHD_HTTP_URI_TOO_LONG, NULL, NULL,
				   "query string longer than %d bytes", HTTP_QUERY_MAX);
	return false;
}

void http_request__hold(struct http_request *req)
{
	http_conns__set_phase(req->s->conns, req->c, HTTP_CONN_RUNNING);
}

void http_request__unhold(struct http_request *req)
{
	http_conns__set_phase(req->s->conns, req->c, HTTP_CONN_REPLYING);
}

void http_request__reject(struct http_request *req, enum http_reject_reason why)
{
	atomic_fetch_add(&req->s->rejected[why], 1);
}
