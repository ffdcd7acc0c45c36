#include "serve/http_api.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/clock.h"
#include "common/gzip.h"
#include "common/log.h"
#include "common/macros.h"
#include "common/parse.h"
#include "core/pprof_flame.h"
#include "serve/http_history.h"
#include "serve/http_text.h"
#include "serve/web.h"

#define DEFAULT_SECONDS 30
#define DEFAULT_MAX_SECONDS 300
#define DEFAULT_MAX_PROFILE_REQUESTS 16
/* /metrics reads the profiler's counters under the lock the sampling loop
 * drains under: a stuck loop holds every /metrics request, so only this
 * many may wait at once. */
#define MAX_METRICS_REQUESTS 4
/* Connections max_connections must leave over for the requests that only
 * ever take a moment (/healthz, /, errors) on top of those two limits. */
#define RESERVED_CONNECTIONS 8

#define PPROF_PATH "/debug/pprof/"
#define PROFILE_PATH "/debug/pprof/profile"
#define SYMBOL_PATH "/debug/pprof/symbol"
#define FLAMEGRAPH_PATH "/api/flamegraph"
/* A symbol lookup names addresses only: more than this is not a client. */
#define SYMBOL_BODY_MAX (4u << 20)

struct http_api {
	struct http_server *server;
	uint32_t default_seconds;
	uint32_t max_seconds;
	unsigned max_profile_requests;
	http_profile_fn profile;
	http_metrics_fn metrics;
	http_health_fn health;
	void *ctx;
	unsigned sample_types;
	struct history *history;
	atomic_uint profile_requests;
	atomic_uint metrics_requests;
};

/* A request that waits in a callback takes one of max places counted in
 * *in_flight and holds its connection: true, or false with the 503 queued
 * in *ret when all are taken. */
static bool enter_callback(struct http_request *req, atomic_uint *in_flight, unsigned max,
			   enum http_reject_reason why, const char *what, int *ret)
{
	if (atomic_fetch_add(in_flight, 1) >= max) {
		atomic_fetch_sub(in_flight, 1);
		http_request__reject(req, why);
		*ret = http_request__error(req, MHD_HTTP_SERVICE_UNAVAILABLE, NULL, NULL,
					   "too many %s requests in progress (limit %u), retry "
					   "later", what, max);
		return false;
	}
	http_request__hold(req);
	return true;
}

static void leave_callback(struct http_request *req, atomic_uint *in_flight)
{
	http_request__unhold(req);
	atomic_fetch_sub(in_flight, 1);
}

/* --- /debug/pprof/profile --- */

static unsigned status_for_error(int err)
{
	switch (err) {
	case -EINVAL:
	case -ESRCH:
	case -EOPNOTSUPP: /* a sample type this agent does not record */
		return MHD_HTTP_BAD_REQUEST;
	case -EBUSY:
		return MHD_HTTP_SERVICE_UNAVAILABLE;
	default:
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
}

/* Whether Accept-Encoding takes gzip: a "gzip" or "*" coding whose q is
 * not 0 (RFC 9110 12.5.3); browsers and curl --compressed send it. */
static bool accepts_gzip(const struct http_request *req)
{
	const char *v = http_request__header(req, MHD_HTTP_HEADER_ACCEPT_ENCODING);

	while (v && *v) {
		size_t n, name_len;
		const char *semi, *q;

		v += strspn(v, " \t");
		n = strcspn(v, ",");
		semi = memchr(v, ';', n);
		name_len = (size_t)((semi ? semi : v + n) - v);
		while (name_len && (v[name_len - 1] == ' ' || v[name_len - 1] == '\t'))
			name_len--;
		if ((name_len == 4 && !strncasecmp(v, "gzip", 4)) || (name_len == 1 && *v == '*')) {
			q = semi ? memmem(semi, (size_t)(v + n - semi), "q=", 2) : NULL;
			if (!q || strtod(q + 2, NULL) > 0)
				return true;
		}
		v += n + (v[n] == ',');
	}
	return false;
}

/* Answers body gzipped (Content-Encoding: gzip), or as it is when it
 * cannot be compressed. A flame graph's JSON shrinks about 5 times. */
static int reply_gzipped(struct http_request *req, const char *content_type, struct buf *body,
			 const char *const *headers)
{
	const char *all[16];
	struct buf gz = { 0 };
	size_t n = 0;

	for (; headers && headers[n] && n + 5 < ARRAY_SIZE(all); n++)
		all[n] = headers[n];
	if (!gzip__buf(body->data, body->len, &gz)) {
		buf_release(body);
		*body = gz;
		all[n++] = MHD_HTTP_HEADER_CONTENT_ENCODING;
		all[n++] = "gzip";
	}
	all[n++] = MHD_HTTP_HEADER_VARY;
	all[n++] = MHD_HTTP_HEADER_ACCEPT_ENCODING;
	all[n] = NULL;
	return http_request__reply_buf(req, MHD_HTTP_OK, content_type, body, all);
}

/* Collects one window for the request's query and answers it written as
 * how says; errors are those of /debug/pprof/profile. */
static int serve_window(struct http_api *h, struct http_request *req, const char *query,
			size_t len, const struct pprof_output *how, const char *content_type,
			const char *const *headers)
{
	/* its matchers, when the query is parsed */
	_cleanup_(profile_query__release) struct profile_query q = { 0 };
	struct buf out = {};
	char errmsg[256] = "";
	int err, ret;

	if (http_query__parse_profile(query, len, h->default_seconds, h->max_seconds, &q, errmsg,
				      sizeof(errmsg)) ||
	    http_query__parse_range(query, len, (int64_t)clock__ns(CLOCK_REALTIME), h->max_seconds, &q.range, errmsg,
				    sizeof(errmsg)))
		return http_request__error(req, MHD_HTTP_BAD_REQUEST, NULL, NULL, "%s", errmsg);
	if (!h->profile)
		return http_request__error(req, MHD_HTTP_SERVICE_UNAVAILABLE, NULL, NULL,
					   "CPU profiling is not enabled on this agent");
	if (!enter_callback(req, &h->profile_requests, h->max_profile_requests,
			    HTTP_REJECT_PROFILE_LIMIT, "profile", &ret))
		return ret;

	/* Blocks this connection's thread for the profile window; other
	 * requests have threads of their own. No deadline runs meanwhile. */
	err = h->profile(h->ctx, &q, how, &out, errmsg, sizeof(errmsg));
	leave_callback(req, &h->profile_requests);
	if (err != 0) {
		buf_release(&out);
		errmsg[sizeof(errmsg) - 1] = '\0';
		if (err > 0)
			err = -EIO; /* contract breach: treat as internal */
		log_debug("profile request (seconds=%u pid=%d) failed: %s",
			  q.seconds, q.pid, errmsg[0] ? errmsg : strerror(-err));
		return http_request__error(req, status_for_error(err), NULL, NULL, "%s",
					   errmsg[0] ? errmsg : strerror(-err));
	}
	if (how->format != PPROF_FORMAT_PPROF && accepts_gzip(req))
		return reply_gzipped(req, content_type, &out, headers);
	return http_request__reply_buf(req, MHD_HTTP_OK, content_type, &out, headers);
}

static int serve_profile(void *ctx, struct http_request *req)
{
	static const char *const headers[] = {
		"Content-Disposition", "attachment; filename=\"profile\"",
		"X-Content-Type-Options", "nosniff",
		NULL,
	};
	const struct pprof_output how = { .format = PPROF_FORMAT_PPROF };
	const char *query;
	size_t len;
	int ret;

	/* GET only: HEAD would burn a whole profile window for no body */
	if (!http_request__get_query(req, &query, &len, &ret))
		return ret;
	return serve_window(ctx, req, query, len, &how, "application/octet-stream", headers);
}

/* --- /api/flamegraph --- */

/* What each format=... answers with; a download names its file. */
static const struct {
	const char *content_type;
	const char *disposition;
} flame_replies[PPROF_FORMATS] = {
	[PPROF_FORMAT_PPROF] = { "application/octet-stream", "attachment; filename=\"profile.pb.gz\"" },
	[PPROF_FORMAT_FOLDED] = { "text/plain; charset=utf-8", NULL },
	[PPROF_FORMAT_JSON] = { "application/json", NULL },
	[PPROF_FORMAT_SVG] = { "image/svg+xml", NULL },
	[PPROF_FORMAT_SPEEDSCOPE] = { "application/json",
				      "attachment; filename=\"profile.speedscope.json\"" },
};

/* format= and max_nodes=: 0, or -EINVAL with the 400 line in err. */
static int parse_flame_query(const char *query, size_t len, struct pprof_output *how,
			     char *err, size_t errlen)
{
	char value[32], echo[HTTP_ECHO_SIZE];
	uint32_t max_nodes;
	int found;

	*how = (struct pprof_output){ .format = PPROF_FORMAT_JSON,
				      .max_nodes = PPROF_FLAME_DEFAULT_MAX_NODES,
				      .title = "brasa" };
	found = http_query__param(query, len, "format", value, sizeof(value), err, errlen);
	if (found < 0)
		return found;
	if (found && pprof_format__from_name(value, &how->format)) {
		http_text__echo(echo, sizeof(echo), value, strlen(value), strlen(value));
		return http_text__errf(err, errlen, EINVAL, "bad format: \"%s\": expected json, "
				       "folded, svg, speedscope or pprof", echo);
	}
	found = http_query__param(query, len, "max_nodes", value, sizeof(value), err, errlen);
	if (found < 0)
		return found;
	if (found) {
		if (parse_u32_range(value, 0, PPROF_MAX_ENTRIES, &max_nodes)) {
			http_text__echo(echo, sizeof(echo), value, strlen(value), strlen(value));
			return http_text__errf(err, errlen, EINVAL, "bad max_nodes: \"%s\": expected "
					       "a whole number from 0 (no limit) to %u", echo,
					       PPROF_MAX_ENTRIES);
		}
		how->max_nodes = max_nodes;
	}
	return 0;
}

static int serve_flamegraph(void *ctx, struct http_request *req)
{
	struct pprof_output how;
	const char *query, *headers[5] = { "X-Content-Type-Options", "nosniff" };
	char errmsg[256];
	size_t len;
	int ret;

	if (!http_request__get_query(req, &query, &len, &ret))
		return ret;
	if (parse_flame_query(query, len, &how, errmsg, sizeof(errmsg)))
		return http_request__error(req, MHD_HTTP_BAD_REQUEST, NULL, NULL, "%s", errmsg);
	if (flame_replies[how.format].disposition) {
		headers[2] = "Content-Disposition";
		headers[3] = flame_replies[how.format].disposition;
	}
	return serve_window(ctx, req, query, len, &how, flame_replies[how.format].content_type,
			    headers);
}

/* --- the other routes --- */

static int serve_pprof_index(void *ctx, struct http_request *req)
{
	struct http_api *h = ctx;
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
	return http_request__reply(req, MHD_HTTP_OK, "text/html; charset=utf-8", page);
}

/* Go's ServeMux redirects the bare subtree name to its slash form */
static int serve_pprof_redirect(void *ctx, struct http_request *req)
{
	static const char *const headers[] = { MHD_HTTP_HEADER_LOCATION, PPROF_PATH, NULL };
	struct buf none = {};

	(void)ctx;
	return http_request__reply_buf(req, MHD_HTTP_MOVED_PERMANENTLY, NULL, &none, headers);
}

static int serve_unknown_profile(void *ctx, struct http_request *req)
{
	const char *name = http_request__path(req) + strlen(PPROF_PATH);
	char echo[HTTP_ECHO_SIZE];

	(void)ctx;
	http_text__echo(echo, sizeof(echo), name, strlen(name), strlen(name));
	return http_request__error(req, MHD_HTTP_NOT_FOUND, NULL, NULL, "Unknown profile: %s",
				   echo);
}

/* go tool pprof POSTs here, for addresses of mappings whose functions the
 * profile does not fully name, and gives up on the whole profile if the
 * endpoint is missing. Every address brasa could name is already named in
 * the profile (symbolized on this host, with the process's own files), so
 * the honest answer is net/http/pprof's header with no further symbols. */
static int serve_symbol(void *ctx, struct http_request *req)
{
	(void)ctx;
	return http_request__reply(req, MHD_HTTP_OK, "text/plain; charset=utf-8",
				   "num_symbols: 1\n");
}

static int serve_health(void *ctx, struct http_request *req)
{
	struct http_api *h = ctx;
	char msg[256] = "";

	if (h->health && h->health(h->ctx, msg, sizeof(msg)))
		return http_request__error(req, MHD_HTTP_SERVICE_UNAVAILABLE, NULL, NULL, "%s",
					   msg[0] ? msg : "unhealthy");
	return http_request__reply(req, MHD_HTTP_OK, "text/plain; charset=utf-8", "ok\n");
}

/* What the agent offers, for the page: the sample types it records and
 * whether it keeps a history. */
static int serve_info(void *ctx, struct http_request *req)
{
	static const char *const headers[] = { "Cache-Control", "no-store", NULL };
	struct http_api *h = ctx;
	struct buf out = { 0 };
	int err = buf_printf(&out, "{\"version\":\"%s\",\"sample_types\":[", BRASA_VERSION);

	for (int t = 0, n = 0; !err && t < PROFILE_TYPES; t++)
		if (h->sample_types & (1u << t))
			err = buf_printf(&out, "%s\"%s\"", n++ ? "," : "", profile_type_names[t]);
	if (!err)
		err = buf_printf(&out, "],\"history\":%s}\n", h->history ? "true" : "false");
	if (err) {
		buf_release(&out);
		return http_request__error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, NULL,
					   "out of memory");
	}
	return http_request__reply_buf(req, MHD_HTTP_OK, "application/json", &out, headers);
}

static int serve_metrics(void *ctx, struct http_request *req)
{
	struct http_api *h = ctx;
	struct buf out = { 0 };
	int err, ret;

	if (!h->metrics)
		return http_request__error(req, MHD_HTTP_NOT_FOUND, NULL, NULL,
					   "404 page not found");
	if (!enter_callback(req, &h->metrics_requests, MAX_METRICS_REQUESTS,
			    HTTP_REJECT_METRICS_LIMIT, "/metrics", &ret))
		return ret;
	err = h->metrics(h->ctx, &out);
	leave_callback(req, &h->metrics_requests);
	if (err) {
		buf_release(&out);
		return http_request__error(req, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, NULL,
					   "could not collect metrics: %s", strerror(-err));
	}
	return http_request__reply_buf(req, MHD_HTTP_OK,
				       "text/plain; version=0.0.4; charset=utf-8", &out, NULL);
}

/* First match wins: the exact /debug/pprof/ paths before the subtree. */
static const struct http_route routes[] = {
	{ "/healthz", HTTP_GET | HTTP_HEAD, HTTP_ROUTE_PUBLIC, serve_health },
	{ "/metrics", HTTP_GET | HTTP_HEAD, 0, serve_metrics },
	{ "/api/info", HTTP_GET | HTTP_HEAD, 0, serve_info },
	{ PROFILE_PATH, HTTP_ANY_METHOD, HTTP_ROUTE_GO_PPROF, serve_profile },
	{ FLAMEGRAPH_PATH, HTTP_ANY_METHOD, 0, serve_flamegraph },
	{ SYMBOL_PATH, HTTP_GET | HTTP_HEAD | HTTP_POST, HTTP_ROUTE_GO_PPROF, serve_symbol,
	  .body_max = SYMBOL_BODY_MAX, .name = "symbol request" },
	{ PPROF_PATH, HTTP_GET | HTTP_HEAD, HTTP_ROUTE_GO_PPROF, serve_pprof_index },
	{ "/debug/pprof", HTTP_ANY_METHOD, 0, serve_pprof_redirect },
	{ PPROF_PATH, HTTP_ANY_METHOD, HTTP_ROUTE_PREFIX | HTTP_ROUTE_GO_PPROF,
	  serve_unknown_profile },
};

/* --- start and stop --- */

static int check_opts(struct http_api *h, const struct http_api_opts *opts, char *err,
		      size_t errlen)
{
	unsigned max_connections = opts->max_connections ?: HTTP_SERVER_DEFAULT_MAX_CONNECTIONS;
	unsigned least;

	h->default_seconds = opts->default_seconds ?: DEFAULT_SECONDS;
	h->sample_types = opts->sample_types ?: 1u << PROFILE_CPU;
	h->history = opts->history;
	h->max_seconds = opts->max_seconds ?: DEFAULT_MAX_SECONDS;
	h->max_profile_requests = opts->max_profile_requests ?: DEFAULT_MAX_PROFILE_REQUESTS;
	if (h->default_seconds > h->max_seconds || h->max_seconds > UINT32_MAX / 2)
		return http_text__errf(err, errlen, EINVAL, "the default profile length %u s "
				       "exceeds the longest, %u s", h->default_seconds,
				       h->max_seconds);
	if (h->max_profile_requests > 4096)
		return http_text__errf(err, errlen, EINVAL, "limits out of range");
	/* every connection a callback may hold, plus room for the rest */
	least = h->max_profile_requests + MAX_METRICS_REQUESTS + RESERVED_CONNECTIONS;
	if (max_connections < least || max_connections > 100000)
		return http_text__errf(err, errlen, EINVAL, "max_connections %u is out of range: "
				       "at least %u (%u profile requests, %d /metrics requests "
				       "and %d more)", max_connections, least,
				       h->max_profile_requests, MAX_METRICS_REQUESTS,
				       RESERVED_CONNECTIONS);
	return 0;
}

int http_api__start(const struct http_api_opts *opts, struct http_api **out, char *err,
		    size_t errlen)
{
	struct http_api *h;
	int rc;

	if (err && errlen)
		err[0] = 0;
	if (!opts)
		return -EINVAL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->profile = opts->profile;
	h->metrics = opts->metrics;
	h->health = opts->health;
	h->ctx = opts->ctx;
	rc = check_opts(h, opts, err, errlen);
	if (rc)
		goto fail;
	rc = http_server__new(&(struct http_server_opts){
				      .address = opts->address,
				      .max_connections = opts->max_connections,
				      .read_timeout_ms = opts->read_timeout_ms,
				      .reply_timeout_ms = opts->reply_timeout_ms,
				      .tls_cert_file = opts->tls_cert_file,
				      .tls_key_file = opts->tls_key_file,
				      .tls_client_ca_file = opts->tls_client_ca_file,
				      .bearer_token_file = opts->bearer_token_file,
			      }, &h->server, err, errlen);
	if (!rc)
		rc = web__add_routes(h->server);
	if (!rc)
		rc = http_history__add_routes(h->server, opts->history);
	if (!rc)
		rc = http_server__add_routes(h->server, routes, ARRAY_SIZE(routes), h);
	if (!rc)
		rc = http_server__start(h->server, err, errlen);
	if (rc)
		goto fail;
	*out = h;
	return 0;
fail:
	http_api__stop(h);
	return rc;
}

uint16_t http_api__port(const struct http_api *h)
{
	return h ? http_server__port(h->server) : 0;
}

void http_api__stats(struct http_api *h, struct http_api_stats *st)
{
	struct http_server_stats ss;

	memset(st, 0, sizeof(*st));
	if (!h)
		return;
	http_server__stats(h->server, &ss);
	st->connections = ss.connections;
	st->max_connections = ss.max_connections;
	st->profile_requests = MIN(atomic_load(&h->profile_requests), h->max_profile_requests);
	st->max_profile_requests = h->max_profile_requests;
	st->metrics_requests = MIN(atomic_load(&h->metrics_requests), MAX_METRICS_REQUESTS);
	st->max_metrics_requests = MAX_METRICS_REQUESTS;
	st->token_file = ss.token_file;
	st->bearer_tokens = ss.bearer_tokens;
	st->token_reloads = ss.token_reloads;
	memcpy(st->closed, ss.closed, sizeof(st->closed));
	memcpy(st->rejected, ss.rejected, sizeof(st->rejected));
}

/* the server first: it waits for the handlers, which use h */
void http_api__stop(struct http_api *h)
{
	if (!h)
		return;
	http_server__free(h->server);
	free(h);
}

enum pprof_type http_api__pprof_type(enum profile_type t)
{
	return t == PROFILE_WALL ? PPROF_TYPE_WALL :
	       t == PROFILE_OFF_CPU ? PPROF_TYPE_OFF_CPU : PPROF_TYPE_CPU;
}
