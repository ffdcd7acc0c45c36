/* Test helpers shared by test-http-server and test-http-api: a server
 * (http_api) on 127.0.0.1 with a fake profile callback that records what
 * it was asked, sleeps the requested seconds and answers with a fixed
 * body, or with an error for designated pids (PID_*); a /metrics callback
 * that waits while a gate is closed, the way a stuck sampling loop would
 * hold it; a libcurl client (perform, http_request, get on the shared
 * port) and raw sockets for clients curl will not imitate.
 */
#ifndef BRASA_TESTS_HTTP_HARNESS_H
#define BRASA_TESTS_HTTP_HARNESS_H

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/macros.h"
#include "serve/http_api.h"
#include "testing.h"

#define PID_ESRCH 4001
#define PID_EBUSY 4002
#define PID_EIO 4003
#define PID_EINVAL_SILENT 4004
#define PID_EMPTY 4005
#define PID_BIG 4006 /* a 32 MiB profile at once: more than socket buffers hold */

/* Binary on purpose: NUL and gzip magic must come through untouched. */
static const char PROFILE_BODY[] = "\x1f\x8b\x08\x00PROFILE\x00\xff" "end";
#define PROFILE_BODY_LEN (sizeof(PROFILE_BODY) - 1)

struct recorder {
	pthread_mutex_t lock;
	int calls;
	int in_flight;
	int max_in_flight;
	struct profile_query last;
	struct pprof_output last_how;
};

static struct recorder rec = { .lock = PTHREAD_MUTEX_INITIALIZER };

static inline void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static inline int rec_get(int *field)
{
	int v;

	pthread_mutex_lock(&rec.lock);
	v = *field;
	pthread_mutex_unlock(&rec.lock);
	return v;
}

static inline struct profile_query rec_last(void)
{
	struct profile_query q;

	pthread_mutex_lock(&rec.lock);
	q = rec.last;
	pthread_mutex_unlock(&rec.lock);
	return q;
}

static inline void rec_reset(void)
{
	pthread_mutex_lock(&rec.lock);
	rec.calls = 0;
	rec.max_in_flight = 0;
	rec.last = (struct profile_query){ 0 };
	pthread_mutex_unlock(&rec.lock);
}

/* Waits up to 3 s for in_flight to reach want; false on timeout. */
static inline bool wait_in_flight(int want)
{
	for (int i = 0; i < 300; i++) {
		if (rec_get(&rec.in_flight) >= want)
			return true;
		sleep_ms(10);
	}
	return false;
}

static inline int fake_profile(void *ctx, const struct profile_query *q,
			       const struct pprof_output *how, struct buf *out, char *errmsg,
			       size_t errlen)
{
	int *ctx_marker = ctx;
	int err = 0;

	REQUIRE(ctx_marker && *ctx_marker == 42);
	pthread_mutex_lock(&rec.lock);
	rec.calls++;
	rec.last = *q;
	rec.last_how = *how;
	rec.in_flight++;
	rec.max_in_flight = MAX(rec.max_in_flight, rec.in_flight);
	pthread_mutex_unlock(&rec.lock);

	switch (q->pid) {
	case PID_ESRCH:
		snprintf(errmsg, errlen, "process %d not found", q->pid);
		err = -ESRCH;
		break;
	case PID_EBUSY:
		snprintf(errmsg, errlen, "another profile is running");
		err = -EBUSY;
		break;
	case PID_EIO:
		/* partial output and a two-line message: neither may leak */
		buf_append(out, "partial", 7);
		snprintf(errmsg, errlen, "perf buffer\nlost");
		err = -EIO;
		break;
	case PID_EINVAL_SILENT:
		err = -EINVAL;
		break;
	case PID_EMPTY:
		break;
	case PID_BIG:
		if (buf_reserve(out, 32u << 20) < 0) {
			err = -ENOMEM;
			break;
		}
		memset(out->data, 'p', 32u << 20);
		out->len = 32u << 20;
		break;
	default:
		sleep_ms(q->seconds * 1000);
		if (buf_append(out, PROFILE_BODY, PROFILE_BODY_LEN) < 0)
			err = -ENOMEM;
	}

	pthread_mutex_lock(&rec.lock);
	rec.in_flight--;
	pthread_mutex_unlock(&rec.lock);
	return err;
}

static int ctx_marker = 42;

/* /metrics callbacks wait while the gate is closed, to hold connections in
 * a callback the way a stuck sampling loop would. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool closed;
	int waiting;
} gate = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0 };

static inline void gate_set(bool closed)
{
	pthread_mutex_lock(&gate.lock);
	gate.closed = closed;
	pthread_cond_broadcast(&gate.cond);
	pthread_mutex_unlock(&gate.lock);
}

static inline bool wait_gate_waiting(int want)
{
	for (int i = 0; i < 300; i++) {
		int n;

		pthread_mutex_lock(&gate.lock);
		n = gate.waiting;
		pthread_mutex_unlock(&gate.lock);
		if (n >= want)
			return true;
		sleep_ms(10);
	}
	return false;
}

static inline int fake_metrics(void *ctx, struct buf *out)
{
	(void)ctx;
	pthread_mutex_lock(&gate.lock);
	gate.waiting++;
	while (gate.closed)
		pthread_cond_wait(&gate.cond, &gate.lock);
	gate.waiting--;
	pthread_mutex_unlock(&gate.lock);
	return buf_printf(out, "# HELP x_total X.\n# TYPE x_total counter\nx_total 3\n");
}

static inline int stalled_health(void *ctx, char *msg, size_t len)
{
	(void)ctx;
	snprintf(msg, len, "sampling loop stalled: last drain 12.0 s ago");
	return -ETIMEDOUT;
}

static inline void base_opts(struct http_api_opts *o, const char *address)
{
	*o = (struct http_api_opts){
		.address = address,
		.default_seconds = 1,
		.max_seconds = 2,
		.profile = fake_profile,
		.metrics = fake_metrics,
		.ctx = &ctx_marker,
	};
}

/* http_api__start with its error in errno, for checks that read it. */
static inline struct http_api *api_start(const struct http_api_opts *o, char *err, size_t errlen)
{
	struct http_api *h = NULL;
	int rc = http_api__start(o, &h, err, errlen);

	errno = -rc;
	return h;
}

static inline struct http_api *start_opts(const struct http_api_opts *o)
{
	char err[512] = "";
	struct http_api *h = api_start(o, err, sizeof(err));

	if (!h)
		fprintf(stderr, "http_api__start(%s): %s (errno %d)\n", o->address, err, errno);
	return h;
}

static inline struct http_api *start_server(const char *address)
{
	struct http_api_opts o;

	base_opts(&o, address);
	return start_opts(&o);
}

/* --- HTTP client --- */

struct reply {
	long status;
	struct buf headers;
	struct buf body;
	double elapsed;
	CURLcode curl_err;
	char curl_msg[CURL_ERROR_SIZE];
};

static inline void reply_release(struct reply *r)
{
	buf_release(&r->headers);
	buf_release(&r->body);
}

static inline size_t collect(char *p, size_t size, size_t n, void *userdata)
{
	struct buf *b = userdata;

	return buf_append(b, p, size * n) == 0 ? size * n : 0;
}

/* A request as curl sends it; unset fields: plain GET on 127.0.0.1. */
struct request {
	const char *scheme;         /* "http" */
	const char *host;           /* "127.0.0.1" */
	uint16_t port;
	const char *method;         /* "GET", "HEAD", other: sent with a body */
	const char *path;
	const char *token;          /* Authorization: Bearer */
	const char *ca;             /* trust for https */
	const char *cert, *key;     /* client certificate */
	const char *source;         /* local address to connect from */
	const char *headers[4];     /* more, NULL-ended */
	size_t chunked_body;        /* > 0: POST a chunked body of this size */
};

struct body_source {
	size_t left;
};

static inline size_t send_body(char *p, size_t size, size_t n, void *userdata)
{
	struct body_source *src = userdata;
	size_t k = MIN(size * n, src->left);

	memset(p, 'a', k);
	src->left -= k;
	return k;
}

static inline void perform(const struct request *q, struct reply *r)
{
	struct curl_slist *hdrs = NULL;
	struct body_source src = { q->chunked_body };
	const char *method = q->method ? q->method : "GET";
	char url[4096], auth[512];
	CURL *curl;
	double t0;

	*r = (struct reply){};
	snprintf(url, sizeof(url), "%s://%s:%u%s", q->scheme ? q->scheme : "http",
		 q->host ? q->host : "127.0.0.1", q->port, q->path);
	curl = curl_easy_init();
	REQUIRE(curl);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, r->curl_msg);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, collect);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, &r->headers);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r->body);
	/* raw bytes: no Accept-Encoding, so no transparent decoding */
	if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
	} else if (q->chunked_body) {
		curl_easy_setopt(curl, CURLOPT_POST, 1L);
		curl_easy_setopt(curl, CURLOPT_READFUNCTION, send_body);
		curl_easy_setopt(curl, CURLOPT_READDATA, &src);
		hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
	} else if (strcmp(method, "GET") != 0) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "x=1");
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	}
	if (q->token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", q->token);
		hdrs = curl_slist_append(hdrs, auth);
	}
	for (size_t i = 0; i < ARRAY_SIZE(q->headers) && q->headers[i]; i++)
		hdrs = curl_slist_append(hdrs, q->headers[i]);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
	if (q->ca)
		curl_easy_setopt(curl, CURLOPT_CAINFO, q->ca);
	if (q->cert) {
		curl_easy_setopt(curl, CURLOPT_SSLCERT, q->cert);
		curl_easy_setopt(curl, CURLOPT_SSLKEY, q->key);
	}
	if (q->source)
		curl_easy_setopt(curl, CURLOPT_INTERFACE, q->source);
	t0 = clock__mono_s();
	r->curl_err = curl_easy_perform(curl);
	r->elapsed = clock__mono_s() - t0;
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_cleanup(curl);
	curl_slist_free_all(hdrs);
	/* buf keeps a NUL after the data, so text bodies are C strings */
	if (!r->body.data)
		buf_append(&r->body, "", 0);
	if (!r->headers.data)
		buf_append(&r->headers, "", 0);
}

/* method: "GET", "HEAD", or anything else (sent with a small body). */
static inline void http_request(const char *host, uint16_t to_port, const char *method,
				const char *path, struct reply *r)
{
	struct request q = { .host = host, .port = to_port, .method = method, .path = path };

	perform(&q, r);
}

/* Value of header name (case-insensitive), copied into out; NULL if the
 * response has no such header. */
static inline const char *header(const struct reply *r, const char *name, char *out,
				 size_t outlen)
{
	const char *line = (const char *)r->headers.data;
	size_t nlen = strlen(name);

	while (line && *line) {
		const char *eol = strstr(line, "\r\n");
		size_t len = eol ? (size_t)(eol - line) : strlen(line);

		if (len > nlen && strncasecmp(line, name, nlen) == 0 &&
		    line[nlen] == ':') {
			const char *v = line + nlen + 1;

			while (*v == ' ')
				v++;
			snprintf(out, outlen, "%.*s", (int)(len - (size_t)(v - line)), v);
			return out;
		}
		line = eol ? eol + 2 : NULL;
	}
	return NULL;
}

#define CHECK_HEADER(r, name, want)                                           \
	do {                                                                  \
		char _hv[256];                                                \
		CHECK_STR(header((r), (name), _hv, sizeof(_hv)), (want));     \
	} while (0)

#define CHECK_NO_HEADER(r, name)                                              \
	do {                                                                  \
		char _hv[256];                                                \
		CHECK(header((r), (name), _hv, sizeof(_hv)) == NULL);         \
	} while (0)

static uint16_t port;

static inline void get(const char *path, struct reply *r)
{
	http_request("127.0.0.1", port, "GET", path, r);
}

/* --- raw sockets, for clients curl will not imitate --- */

static inline int connect_from(uint16_t to_port, const char *source)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons(to_port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	REQUIRE(fd >= 0);
	if (source) {
		struct sockaddr_in src = { .sin_family = AF_INET };

		REQUIRE(inet_pton(AF_INET, source, &src.sin_addr) == 1);
		REQUIRE(bind(fd, (struct sockaddr *)&src, sizeof(src)) == 0);
	}
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	REQUIRE(connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	return fd;
}

static inline int connect_raw(uint16_t to_port)
{
	return connect_from(to_port, NULL);
}

static inline bool send_text(int fd, const char *text)
{
	size_t n = strlen(text);

	return send(fd, text, n, MSG_NOSIGNAL) == (ssize_t)n;
}

/* A connection that has begun its request and will never finish it: the
 * kernel hands the server only connections that have sent something
 * (TCP_DEFER_ACCEPT), so a client that wants to hold a slot does this. */
static inline int connect_held(uint16_t to_port, const char *source)
{
	int fd = connect_from(to_port, source);

	REQUIRE(send_text(fd, "G"));
	return fd;
}

/* Whether the server closed fd (EOF or reset) within timeout_ms; what it
 * sent meanwhile is dropped. */
static inline bool closed_within(int fd, unsigned timeout_ms)
{
	double deadline = clock__mono_s() + timeout_ms / 1000.0;
	char buf[4096];

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		double left = MAX(deadline - clock__mono_s(), 0.0);
		ssize_t n;

		if (poll(&p, 1, (int)(left * 1000)) <= 0)
			return false;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
			return true;
	}
}

/* Reads one reply (headers and a Content-Length body) from fd into out;
 * false if the connection ended or timed out first. */
static inline bool read_reply(int fd, struct buf *out, unsigned timeout_ms)
{
	double deadline = clock__mono_s() + timeout_ms / 1000.0;

	buf_reset(out);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char chunk[4096];
		const char *end, *cl;
		ssize_t n;

		if (out->data && (end = strstr((char *)out->data, "\r\n\r\n"))) {
			size_t want = (size_t)(end + 4 - (char *)out->data);

			cl = strcasestr((char *)out->data, "\r\nContent-Length: ");
			if (cl && cl < end)
				want += strtoul(cl + 18, NULL, 10);
			if (out->len >= want)
				return true;
		}
		if (deadline - clock__mono_s() <= 0 || poll(&p, 1, (int)((deadline - clock__mono_s()) * 1000) + 1) <= 0)
			return false;
		n = recv(fd, chunk, sizeof(chunk), 0);
		if (n <= 0)
			return false;
		REQUIRE(buf_append(out, chunk, (size_t)n) == 0);
	}
}

static inline void check_profile_ok(const struct reply *r)
{
	CHECK_INT(r->curl_err, ==, CURLE_OK);
	CHECK_INT(r->status, ==, 200);
	CHECK_HEADER(r, "Content-Type", "application/octet-stream");
	CHECK_HEADER(r, "Content-Disposition", "attachment; filename=\"profile\"");
	CHECK_NO_HEADER(r, "Content-Encoding");
	CHECK_NO_HEADER(r, "X-Go-Pprof");
	CHECK_INT(r->body.len, ==, PROFILE_BODY_LEN);
	CHECK(r->body.len == PROFILE_BODY_LEN &&
	      memcmp(r->body.data, PROFILE_BODY, PROFILE_BODY_LEN) == 0);
}

struct client_job {
	struct request q;
	struct reply r;
	pthread_t thread;
};

static inline void *client_main(void *arg)
{
	struct client_job *job = arg;

	perform(&job->q, &job->r);
	return NULL;
}

static inline void client_start_req(struct client_job *job, const struct request *q)
{
	job->q = *q;
	REQUIRE(pthread_create(&job->thread, NULL, client_main, job) == 0);
}

static inline void client_start(struct client_job *job, const char *path)
{
	struct request q = { .port = port, .path = path };

	client_start_req(job, &q);
}

static inline void client_join(struct client_job *job)
{
	pthread_join(job->thread, NULL);
}

/* The loopback server on `port` that most cases of a file talk to: a
 * fixture (testing.h), so a case run alone starts it too. */
static struct http_api *shared_server;

static inline void shared_server_start(void)
{
	shared_server = start_server("127.0.0.1:0");
	REQUIRE(shared_server);
	port = http_api__port(shared_server);
	CHECK(port != 0);
}

static inline void shared_server_stop(void)
{
	http_api__stop(shared_server);
	shared_server = NULL;
}

static struct test_fixture http_server_fixture __attribute__((unused)) = {
	shared_server_start, shared_server_stop
};

/* curl's global state, for the whole run */
static inline void http_test_setup(void)
{
	REQUIRE(curl_global_init(CURL_GLOBAL_DEFAULT) == 0);
}

static inline void http_test_teardown(void)
{
	curl_global_cleanup();
}

#endif
