/* http_api over real sockets: libcurl (and raw sockets for misbehaving
 * clients) against a server on 127.0.0.1 with a fake profile callback that
 * records what it was asked, sleeps the requested seconds and answers with
 * a fixed body, or with an error for designated pids. */
#include "agent/http_api.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/macros.h"
#include "testing.h"

#define PID_ESRCH 4001
#define PID_EBUSY 4002
#define PID_EIO 4003
#define PID_EINVAL_SILENT 4004
#define PID_EMPTY 4005

/* Binary on purpose: NUL and gzip magic must come through untouched. */
static const char PROFILE_BODY[] = "\x1f\x8b\x08\x00PROFILE\x00\xff" "end";
#define PROFILE_BODY_LEN (sizeof(PROFILE_BODY) - 1)

struct recorder {
	pthread_mutex_t lock;
	int calls;
	int in_flight;
	int max_in_flight;
	struct profile_query last;
};

static struct recorder rec = { .lock = PTHREAD_MUTEX_INITIALIZER };

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int rec_get(int *field)
{
	int v;

	pthread_mutex_lock(&rec.lock);
	v = *field;
	pthread_mutex_unlock(&rec.lock);
	return v;
}

static struct profile_query rec_last(void)
{
	struct profile_query q;

	pthread_mutex_lock(&rec.lock);
	q = rec.last;
	pthread_mutex_unlock(&rec.lock);
	return q;
}

static void rec_reset(void)
{
	pthread_mutex_lock(&rec.lock);
	rec.calls = 0;
	rec.max_in_flight = 0;
	rec.last = (struct profile_query){ 0, 0 };
	pthread_mutex_unlock(&rec.lock);
}

/* Waits up to 3 s for in_flight to reach want; false on timeout. */
static bool wait_in_flight(int want)
{
	for (int i = 0; i < 300; i++) {
		if (rec_get(&rec.in_flight) >= want)
			return true;
		sleep_ms(10);
	}
	return false;
}

static int fake_profile(void *ctx, const struct profile_query *q,
			struct buf *out, char *errmsg, size_t errlen)
{
	int *ctx_marker = ctx;
	int err = 0;

	REQUIRE(ctx_marker && *ctx_marker == 42);
	pthread_mutex_lock(&rec.lock);
	rec.calls++;
	rec.last = *q;
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

static struct http_api *start_server(const char *address,
				     unsigned max_connections,
				     unsigned connection_timeout)
{
	struct http_api_opts opts = {
		.address = address,
		.default_seconds = 1,
		.max_seconds = 2,
		.max_connections = max_connections,
		.profile = fake_profile,
		.ctx = &ctx_marker,
		.connection_timeout = connection_timeout,
	};

	return http_api__start(&opts);
}

/* --- HTTP client --- */

struct reply {
	long status;
	struct buf headers;
	struct buf body;
	double elapsed;
	CURLcode curl_err;
};

static void reply_release(struct reply *r)
{
	buf_release(&r->headers);
	buf_release(&r->body);
}

static size_t collect(char *p, size_t size, size_t n, void *userdata)
{
	struct buf *b = userdata;

	return buf_append(b, p, size * n) == 0 ? size * n : 0;
}

/* method: "GET", "HEAD", or anything else (sent with a small body). */
static void http_request(const char *host, uint16_t port, const char *method,
			 const char *path, struct reply *r)
{
	char url[1024];
	CURL *curl;
	double t0;

	*r = (struct reply){};
	snprintf(url, sizeof(url), "http://%s:%u%s", host, port, path);
	curl = curl_easy_init();
	REQUIRE(curl);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, collect);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, &r->headers);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r->body);
	/* raw bytes: no Accept-Encoding, so no transparent decoding */
	if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
	} else if (strcmp(method, "GET") != 0) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "x=1");
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	}
	t0 = now_s();
	r->curl_err = curl_easy_perform(curl);
	r->elapsed = now_s() - t0;
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_cleanup(curl);
	/* buf keeps a NUL after the data, so text bodies are C strings */
	if (!r->body.data)
		buf_append(&r->body, "", 0);
	if (!r->headers.data)
		buf_append(&r->headers, "", 0);
}

/* Value of header name (case-insensitive), copied into out; NULL if the
 * response has no such header. */
static const char *header(const struct reply *r, const char *name,
			  char *out, size_t outlen)
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

static void get(const char *path, struct reply *r)
{
	http_request("127.0.0.1", port, "GET", path, r);
}

/* --- tests --- */

static int fake_health(void *ctx, char *msg, size_t len)
{
	(void)ctx;
	snprintf(msg, len, "sampling loop stalled: last drain 12.0 s ago");
	return -ETIMEDOUT;
}

static int fake_metrics(void *ctx, struct buf *out)
{
	(void)ctx;
	return buf_printf(out, "# HELP x_total X.\n# TYPE x_total counter\nx_total 3\n");
}

/* /healthz reports the health callback's verdict; /metrics serves the
 * metrics callback's text with the exposition content type. */
static void test_health_and_metrics(void)
{
	struct http_api_opts opts = {
		.address = "127.0.0.1:0",
		.profile = fake_profile,
		.health = fake_health,
		.metrics = fake_metrics,
	};
	struct http_api *h = http_api__start(&opts);
	struct reply r = { 0 };
	uint16_t saved = port;

	REQUIRE(h);
	port = http_api__port(h);
	get("/healthz", &r);
	CHECK_INT(r.status, ==, 503);
	CHECK(r.body.data && strstr((char *)r.body.data, "sampling loop stalled"));
	reply_release(&r);
	memset(&r, 0, sizeof(r));
	get("/metrics", &r);
	CHECK_INT(r.status, ==, 200);
	CHECK(r.body.data && strcmp((char *)r.body.data, "# HELP x_total X.\n# TYPE x_total counter\nx_total 3\n") == 0);
	{
		char ct[128];

		CHECK(header(&r, "Content-Type", ct, sizeof(ct)) &&
		      strcmp(ct, "text/plain; version=0.0.4; charset=utf-8") == 0);
	}
	reply_release(&r);

	/* go tool pprof's symbol lookups: answered with no further symbols
	 * (the profile already names all it can), body read and dropped */
	http_request("127.0.0.1", port, "POST", "/debug/pprof/symbol", &r);
	CHECK_INT(r.status, ==, 200);
	CHECK_STR((char *)r.body.data, "num_symbols: 1\n");
	reply_release(&r);
	get("/debug/pprof/symbol", &r);
	CHECK_INT(r.status, ==, 200);
	CHECK_STR((char *)r.body.data, "num_symbols: 1\n");
	reply_release(&r);
	http_request("127.0.0.1", port, "PUT", "/debug/pprof/symbol", &r);
	CHECK_INT(r.status, ==, 405);
	{
		char allow[64];

		CHECK(header(&r, "Allow", allow, sizeof(allow)) &&
		      strcmp(allow, "GET, HEAD, POST") == 0);
	}
	reply_release(&r);
	http_api__stop(h);
	port = saved;
}

static void test_parse_address(void)
{
	static const char *const bad[] = {
		"", "127.0.0.1", "127.0.0.1:", ":7071", "127.0.0.1:65536",
		"127.0.0.1:-1", "127.0.0.1:+80", "127.0.0.1:80x",
		"127.0.0.1: 80", "127.0.0.1:99999999999999999999",
		"localhost:80", "127.1:80", "256.0.0.1:80", "::1:7071",
		"[::1]7071", "[::1:7071", "[::1]:", "[]:80", "[127.0.0.1]:80",
		"[fe80::1%eth0]:80", "1.2.3.4:80:80",
	};
	struct sockaddr_storage ss;
	socklen_t len;

	CHECK_INT(http_api__parse_address("127.0.0.1:7071", &ss, &len), ==, 0);
	CHECK_INT(ss.ss_family, ==, AF_INET);
	CHECK_INT(len, ==, sizeof(struct sockaddr_in));
	CHECK_INT(ntohs(((struct sockaddr_in *)&ss)->sin_port), ==, 7071);
	CHECK_U64(ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr), ==,
		  0x7f000001);

	CHECK_INT(http_api__parse_address("0.0.0.0:0", &ss, &len), ==, 0);
	CHECK_INT(ntohs(((struct sockaddr_in *)&ss)->sin_port), ==, 0);

	CHECK_INT(http_api__parse_address("[::1]:65535", &ss, &len), ==, 0);
	CHECK_INT(ss.ss_family, ==, AF_INET6);
	CHECK_INT(len, ==, sizeof(struct sockaddr_in6));
	CHECK_INT(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), ==, 65535);
	CHECK(IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&ss)->sin6_addr));

	CHECK_INT(http_api__parse_address("[::]:7071", &ss, &len), ==, 0);
	CHECK(IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&ss)->sin6_addr));

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int err = http_api__parse_address(bad[i], &ss, &len);

		if (err != -EINVAL)
			fprintf(stderr, "address '%s' accepted\n", bad[i]);
		CHECK_INT(err, ==, -EINVAL);
	}
	CHECK_INT(http_api__parse_address(NULL, &ss, &len), ==, -EINVAL);
}

static void test_start_errors(void)
{
	struct http_api_opts opts = { .address = "127.0.0.1:0" };
	struct http_api *h;

	errno = 0;
	h = start_server("localhost:0", 0, 0);
	CHECK(h == NULL);
	CHECK_INT(errno, ==, EINVAL);

	errno = 0;
	CHECK(http_api__start(NULL) == NULL);
	CHECK_INT(errno, ==, EINVAL);

	opts.default_seconds = 60;
	opts.max_seconds = 30;
	errno = 0;
	h = http_api__start(&opts);
	CHECK(h == NULL);
	CHECK_INT(errno, ==, EINVAL);

	/* a timeout that a full profile window would outlast */
	opts.default_seconds = 10;
	opts.connection_timeout = 30;
	errno = 0;
	h = http_api__start(&opts);
	CHECK(h == NULL);
	CHECK_INT(errno, ==, EINVAL);

	http_api__stop(NULL);
	CHECK_INT(http_api__port(NULL), ==, 0);
}

static void test_addr_in_use(void)
{
	char addr[64];
	struct http_api *second;

	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	errno = 0;
	second = start_server(addr, 0, 0);
	CHECK(second == NULL);
	CHECK_INT(errno, ==, EADDRINUSE);
	http_api__stop(second);
}

static void test_plain_routes(void)
{
	struct reply r;

	get("/healthz", &r);
	CHECK_INT(r.curl_err, ==, CURLE_OK);
	CHECK_INT(r.status, ==, 200);
	CHECK_STR((char *)r.body.data, "ok\n");
	CHECK_HEADER(&r, "Content-Type", "text/plain; charset=utf-8");
	reply_release(&r);

	http_request("127.0.0.1", port, "HEAD", "/healthz", &r);
	CHECK_INT(r.status, ==, 200);
	CHECK_INT(r.body.len, ==, 0);
	reply_release(&r);

	get("/", &r);
	CHECK_INT(r.status, ==, 200);
	CHECK(strstr((char *)r.body.data, "/debug/pprof/profile?seconds=N"));
	CHECK(strstr((char *)r.body.data, "/healthz"));
	CHECK_HEADER(&r, "Content-Type", "text/plain; charset=utf-8");
	reply_release(&r);

	get("/debug/pprof/", &r);
	CHECK_INT(r.status, ==, 200);
	CHECK_HEADER(&r, "Content-Type", "text/html; charset=utf-8");
	CHECK(strstr((char *)r.body.data, "href=\"profile?seconds=1\""));
	reply_release(&r);

	get("/debug/pprof", &r);
	CHECK_INT(r.status, ==, 301);
	CHECK_HEADER(&r, "Location", "/debug/pprof/");
	reply_release(&r);

	get("/nope?seconds=1", &r);
	CHECK_INT(r.status, ==, 404);
	CHECK_STR((char *)r.body.data, "404 page not found\n");
	CHECK_HEADER(&r, "Content-Type", "text/plain; charset=utf-8");
	CHECK_NO_HEADER(&r, "X-Go-Pprof");
	reply_release(&r);

	get("/healthz/extra", &r);
	CHECK_INT(r.status, ==, 404);
	reply_release(&r);

	get("/debug/pprof/heap", &r);
	CHECK_INT(r.status, ==, 404);
	CHECK_STR((char *)r.body.data, "Unknown profile: heap\n");
	CHECK_HEADER(&r, "X-Go-Pprof", "1");
	reply_release(&r);
}

static void test_methods(void)
{
	static const struct {
		const char *method, *path, *allow;
	} cases[] = {
		{ "POST", "/debug/pprof/profile?seconds=1", "GET" },
		{ "HEAD", "/debug/pprof/profile?seconds=1", "GET" },
		{ "PUT", "/debug/pprof/profile", "GET" },
		{ "POST", "/healthz", "GET, HEAD" },
		{ "DELETE", "/", "GET, HEAD" },
		{ "POST", "/debug/pprof/", "GET, HEAD" },
	};
	struct reply r;

	rec_reset();
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		http_request("127.0.0.1", port, cases[i].method, cases[i].path,
			     &r);
		if (r.status != 405)
			fprintf(stderr, "%s %s\n", cases[i].method,
				cases[i].path);
		CHECK_INT(r.status, ==, 405);
		CHECK_HEADER(&r, "Allow", cases[i].allow);
		CHECK_HEADER(&r, "Content-Type", "text/plain; charset=utf-8");
		if (strcmp(cases[i].method, "HEAD") != 0)
			CHECK_STR((char *)r.body.data, "method not allowed\n");
		reply_release(&r);
	}
	CHECK_INT(rec_get(&rec.calls), ==, 0);
}

static void check_profile_ok(const struct reply *r)
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

static void test_profile_ok(void)
{
	struct profile_query q;
	struct reply r;

	rec_reset();
	get("/debug/pprof/profile?seconds=1&pid=1234", &r);
	check_profile_ok(&r);
	CHECK_HEADER(&r, "Content-Length", "16");
	CHECK(r.elapsed >= 0.95);
	q = rec_last();
	CHECK_INT(q.seconds, ==, 1);
	CHECK_INT(q.pid, ==, 1234);
	CHECK_INT(rec_get(&rec.calls), ==, 1);
	reply_release(&r);

	/* defaults, and unknown parameters ignored like net/http/pprof */
	rec_reset();
	get("/debug/pprof/profile?debug=1&gc&x=%zz", &r);
	check_profile_ok(&r);
	q = rec_last();
	CHECK_INT(q.seconds, ==, 1);
	CHECK_INT(q.pid, ==, -1);
	CHECK_INT(rec_get(&rec.calls), ==, 1);
	reply_release(&r);

	/* percent-encoded digits are still digits */
	rec_reset();
	get("/debug/pprof/profile?%73econds=%31&pid=0042", &r);
	check_profile_ok(&r);
	q = rec_last();
	CHECK_INT(q.seconds, ==, 1);
	CHECK_INT(q.pid, ==, 42);
	reply_release(&r);

	/* an empty profile is still a success */
	get("/debug/pprof/profile?pid=4005", &r);
	CHECK_INT(r.status, ==, 200);
	CHECK_INT(r.body.len, ==, 0);
	CHECK_HEADER(&r, "Content-Type", "application/octet-stream");
	reply_release(&r);
}

static void test_profile_bad_input(void)
{
	static const struct {
		const char *query, *body;
	} cases[] = {
		{ "seconds", "bad seconds: missing value\n" },
		{ "seconds=", "bad seconds: missing value\n" },
		{ "seconds=0", "bad seconds: \"0\": must be at least 1\n" },
		{ "seconds=-1", "bad seconds: \"-1\": not a positive integer\n" },
		{ "seconds=%2B1", "bad seconds: \"+1\": not a positive integer\n" },
		{ "seconds=abc", "bad seconds: \"abc\": not a positive integer\n" },
		{ "seconds=1x", "bad seconds: \"1x\": not a positive integer\n" },
		{ "seconds=1.5", "bad seconds: \"1.5\": not a positive integer\n" },
		{ "seconds=%201", "bad seconds: \" 1\": not a positive integer\n" },
		{ "seconds=0x1", "bad seconds: \"0x1\": not a positive integer\n" },
		{ "seconds=1%00", "bad seconds: \"1\": contains a NUL byte\n" },
		{ "seconds=1%0Afoo", "bad seconds: \"1 foo\": not a positive integer\n" },
		{ "seconds=4294967296", "bad seconds: \"4294967296\": out of range\n" },
		{ "seconds=99999999999999999999999",
		  "bad seconds: \"99999999999999999999999\": out of range\n" },
		{ "seconds=3",
		  "profile duration exceeds server's maximum of 2 seconds\n" },
		{ "seconds=1&seconds=1", "bad seconds: given more than once\n" },
		{ "pid", "bad pid: missing value\n" },
		{ "pid=", "bad pid: missing value\n" },
		{ "pid=0", "bad pid: \"0\": must be at least 1\n" },
		{ "pid=-1", "bad pid: \"-1\": not a positive integer\n" },
		{ "pid=12ab", "bad pid: \"12ab\": not a positive integer\n" },
		{ "pid=2147483648", "bad pid: \"2147483648\": out of range\n" },
		{ "seconds=1&pid=1&pid=1", "bad pid: given more than once\n" },
		{ "foo=bar&seconds=nope&pid=1",
		  "bad seconds: \"nope\": not a positive integer\n" },
		{ "seconds=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		  "bad seconds: \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\": "
		  "not a positive integer\n" },
	};
	struct reply r;
	char path[256];

	rec_reset();
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		snprintf(path, sizeof(path), "/debug/pprof/profile?%s",
			 cases[i].query);
		get(path, &r);
		if (r.status != 400 ||
		    strcmp((char *)r.body.data, cases[i].body) != 0)
			fprintf(stderr, "query '%s'\n", cases[i].query);
		CHECK_INT(r.status, ==, 400);
		CHECK_STR((char *)r.body.data, cases[i].body);
		CHECK_HEADER(&r, "Content-Type", "text/plain; charset=utf-8");
		CHECK_HEADER(&r, "X-Go-Pprof", "1");
		CHECK_NO_HEADER(&r, "Content-Disposition");
		reply_release(&r);
	}
	/* none of them reached the profiler */
	CHECK_INT(rec_get(&rec.calls), ==, 0);
}

static void test_profile_callback_errors(void)
{
	static const struct {
		int pid;
		long status;
		const char *body;
	} cases[] = {
		{ PID_ESRCH, 400, "process 4001 not found\n" },
		{ PID_EBUSY, 503, "another profile is running\n" },
		{ PID_EIO, 500, "perf buffer lost\n" },
		{ PID_EINVAL_SILENT, 400, "Invalid argument\n" },
	};
	struct reply r;
	char path[128];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		rec_reset();
		snprintf(path, sizeof(path), "/debug/pprof/profile?pid=%d",
			 cases[i].pid);
		get(path, &r);
		CHECK_INT(r.status, ==, cases[i].status);
		CHECK_STR((char *)r.body.data, cases[i].body);
		CHECK_HEADER(&r, "Content-Type", "text/plain; charset=utf-8");
		CHECK_HEADER(&r, "X-Go-Pprof", "1");
		CHECK_NO_HEADER(&r, "Content-Disposition");
		CHECK_INT(rec_get(&rec.calls), ==, 1);
		CHECK_INT(rec_last().pid, ==, cases[i].pid);
		reply_release(&r);
	}
}

struct client_job {
	const char *path;
	struct reply r;
	pthread_t thread;
};

static void *client_main(void *arg)
{
	struct client_job *job = arg;

	get(job->path, &job->r);
	return NULL;
}

static void client_start(struct client_job *job, const char *path)
{
	job->path = path;
	REQUIRE(pthread_create(&job->thread, NULL, client_main, job) == 0);
}

static void client_join(struct client_job *job)
{
	pthread_join(job->thread, NULL);
}

static void test_concurrency(void)
{
	struct client_job a, b;
	struct reply r;
	double t0, total;

	rec_reset();
	t0 = now_s();
	client_start(&a, "/debug/pprof/profile?seconds=1&pid=11");
	client_start(&b, "/debug/pprof/profile?seconds=1&pid=22");
	client_join(&a);
	client_join(&b);
	total = now_s() - t0;
	check_profile_ok(&a.r);
	check_profile_ok(&b.r);
	/* serialized they would need 2 s */
	CHECK(total >= 0.95);
	CHECK(total < 1.7);
	CHECK_INT(rec_get(&rec.max_in_flight), ==, 2);
	CHECK_INT(rec_get(&rec.calls), ==, 2);
	reply_release(&a.r);
	reply_release(&b.r);

	/* health stays responsive while a 2 s profile runs */
	client_start(&a, "/debug/pprof/profile?seconds=2");
	REQUIRE(wait_in_flight(1));
	get("/healthz", &r);
	CHECK_INT(r.status, ==, 200);
	CHECK(r.elapsed < 0.5);
	CHECK_INT(rec_get(&rec.in_flight), ==, 1);
	reply_release(&r);
	client_join(&a);
	check_profile_ok(&a.r);
	CHECK(a.r.elapsed >= 1.95);
	reply_release(&a.r);
}

static void test_connection_limit(void)
{
	struct http_api *h = start_server("127.0.0.1:0", 2, 0);
	uint16_t saved = port;
	struct client_job a, b;
	struct reply r;

	REQUIRE(h);
	port = http_api__port(h);
	rec_reset();
	client_start(&a, "/debug/pprof/profile?seconds=1");
	client_start(&b, "/debug/pprof/profile?seconds=1");
	REQUIRE(wait_in_flight(2));
	get("/healthz", &r);
	CHECK_INT(r.status, ==, 503);
	CHECK_STR((char *)r.body.data,
		  "too many connections (limit 2), retry later\n");
	CHECK_HEADER(&r, "Content-Type", "text/plain; charset=utf-8");
	reply_release(&r);
	client_join(&a);
	client_join(&b);
	check_profile_ok(&a.r);
	check_profile_ok(&b.r);
	reply_release(&a.r);
	reply_release(&b.r);

	/* the slots come back once those connections close */
	for (int i = 0; i < 50; i++) {
		get("/healthz", &r);
		if (r.status == 200)
			break;
		reply_release(&r);
		sleep_ms(20);
	}
	CHECK_INT(r.status, ==, 200);
	reply_release(&r);
	http_api__stop(h);
	port = saved;
}

static int connect_raw(uint16_t to_port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons(to_port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	REQUIRE(fd >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	REQUIRE(connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	return fd;
}

static void test_client_disconnect(void)
{
	static const char req[] =
		"GET /debug/pprof/profile?seconds=1 HTTP/1.1\r\n"
		"Host: x\r\n\r\n";
	struct reply r;
	int fd;

	rec_reset();
	fd = connect_raw(port);
	CHECK_INT(write(fd, req, sizeof(req) - 1), ==, sizeof(req) - 1);
	REQUIRE(wait_in_flight(1));
	close(fd);
	/* the callback finishes, its reply hits a closed socket (no
	 * SIGPIPE may kill us), and the server carries on */
	for (int i = 0; i < 200 && rec_get(&rec.in_flight) > 0; i++)
		sleep_ms(10);
	CHECK_INT(rec_get(&rec.in_flight), ==, 0);
	sleep_ms(100);
	get("/healthz", &r);
	CHECK_INT(r.status, ==, 200);
	reply_release(&r);
	CHECK_INT(rec_get(&rec.calls), ==, 1);
}

static void test_idle_timeout(void)
{
	struct http_api *h = start_server("127.0.0.1:0", 0, 3);
	uint16_t saved = port;
	struct reply r;
	char byte;
	double t0;
	int fd;

	REQUIRE(h);
	/* a client that connects and sends nothing is dropped */
	fd = connect_raw(http_api__port(h));
	t0 = now_s();
	{
		struct timeval tv = { .tv_sec = 10 };

		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	CHECK_INT(read(fd, &byte, 1), ==, 0);
	CHECK(now_s() - t0 < 6.0);
	CHECK(now_s() - t0 >= 2.5);
	close(fd);

	/* while a profile that outlasts nothing but the idle gap still
	 * gets its reply */
	port = http_api__port(h);
	get("/debug/pprof/profile?seconds=2", &r);
	check_profile_ok(&r);
	reply_release(&r);
	port = saved;
	http_api__stop(h);
}

static void test_ipv6(void)
{
	struct http_api *h;
	struct reply r;

	errno = 0;
	h = start_server("[::1]:0", 0, 0);
	if (!h && (errno == EADDRNOTAVAIL || errno == EAFNOSUPPORT)) {
		fprintf(stderr, "no IPv6 loopback here, skipping [::1]\n");
		return;
	}
	REQUIRE(h);
	http_request("[::1]", http_api__port(h), "GET", "/healthz", &r);
	CHECK_INT(r.status, ==, 200);
	CHECK_STR((char *)r.body.data, "ok\n");
	reply_release(&r);
	/* bound to ::1 only, not to IPv4 */
	http_request("127.0.0.1", http_api__port(h), "GET", "/healthz", &r);
	CHECK_INT(r.status, ==, 0);
	CHECK(r.curl_err != CURLE_OK);
	reply_release(&r);
	http_api__stop(h);
}

static void test_stop_in_flight(void)
{
	struct http_api *h = start_server("127.0.0.1:0", 0, 0);
	struct client_job a;
	uint16_t saved = port, stopped_port;
	char addr[64];
	double t0, took;

	REQUIRE(h);
	port = stopped_port = http_api__port(h);
	rec_reset();
	client_start(&a, "/debug/pprof/profile?seconds=2");
	REQUIRE(wait_in_flight(1));
	t0 = now_s();
	http_api__stop(h);
	took = now_s() - t0;
	fprintf(stderr, "stop with a 2 s request in flight took %.2f s\n", took);
	/* bounded by the callback's own window, not by the client */
	CHECK(took < 3.0);
	client_join(&a);
	/* the client got an answer or a closed connection, but finished */
	CHECK(a.r.elapsed < 5.0);
	CHECK_INT(rec_get(&rec.in_flight), ==, 0);
	/* a request cut off by stop must not start a second window */
	CHECK_INT(rec_get(&rec.calls), ==, 1);
	reply_release(&a.r);
	port = saved;

	/* the listen socket is gone: the same port binds again */
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", stopped_port);
	h = start_server(addr, 0, 0);
	CHECK(h != NULL);
	http_api__stop(h);
}

int main(void)
{
	struct http_api *h;

	REQUIRE(curl_global_init(CURL_GLOBAL_DEFAULT) == 0);
	test_parse_address();
	test_start_errors();

	h = start_server("127.0.0.1:0", 0, 0);
	REQUIRE(h);
	port = http_api__port(h);
	CHECK(port != 0);

	test_addr_in_use();
	test_plain_routes();
	test_methods();
	test_profile_ok();
	test_profile_bad_input();
	test_profile_callback_errors();
	test_concurrency();
	test_client_disconnect();
	http_api__stop(h);

	test_connection_limit();
	test_idle_timeout();
	test_ipv6();
	test_stop_in_flight();
	test_health_and_metrics();

	curl_global_cleanup();
	return test_done();
}
