/* http_api over real sockets: libcurl (and raw sockets for misbehaving
 * clients) against a server on 127.0.0.1 with a fake profile callback that
 * records what it was asked, sleeps the requested seconds and answers with
 * a fixed body, or with an error for designated pids. Clients that hold
 * connections, trickle requests, lie about Host; TLS and authentication
 * with certificates made for the run by tests/tools/make-test-certs.sh. */
#include "serve/http_api.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <stdbool.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
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

static void gate_set(bool closed)
{
	pthread_mutex_lock(&gate.lock);
	gate.closed = closed;
	pthread_cond_broadcast(&gate.cond);
	pthread_mutex_unlock(&gate.lock);
}

static bool wait_gate_waiting(int want)
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

static int fake_metrics(void *ctx, struct buf *out)
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

static int stalled_health(void *ctx, char *msg, size_t len)
{
	(void)ctx;
	snprintf(msg, len, "sampling loop stalled: last drain 12.0 s ago");
	return -ETIMEDOUT;
}

static void base_opts(struct http_api_opts *o, const char *address)
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

static struct http_api *start_opts(const struct http_api_opts *o)
{
	char err[512] = "";
	struct http_api *h = http_api__start(o, err, sizeof(err));

	if (!h)
		fprintf(stderr, "http_api__start(%s): %s (errno %d)\n", o->address, err, errno);
	return h;
}

static struct http_api *start_server(const char *address)
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

static size_t send_body(char *p, size_t size, size_t n, void *userdata)
{
	struct body_source *src = userdata;
	size_t k = MIN(size * n, src->left);

	memset(p, 'a', k);
	src->left -= k;
	return k;
}

static void perform(const struct request *q, struct reply *r)
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
	t0 = now_s();
	r->curl_err = curl_easy_perform(curl);
	r->elapsed = now_s() - t0;
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
static void http_request(const char *host, uint16_t to_port, const char *method,
			 const char *path, struct reply *r)
{
	struct request q = { .host = host, .port = to_port, .method = method, .path = path };

	perform(&q, r);
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

/* --- raw sockets, for clients curl will not imitate --- */

static int connect_from(uint16_t to_port, const char *source)
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

static int connect_raw(uint16_t to_port)
{
	return connect_from(to_port, NULL);
}

static bool send_text(int fd, const char *text)
{
	size_t n = strlen(text);

	return send(fd, text, n, MSG_NOSIGNAL) == (ssize_t)n;
}

/* A connection that has begun its request and will never finish it: the
 * kernel hands the server only connections that have sent something
 * (TCP_DEFER_ACCEPT), so a client that wants to hold a slot does this. */
static int connect_held(uint16_t to_port, const char *source)
{
	int fd = connect_from(to_port, source);

	REQUIRE(send_text(fd, "G"));
	return fd;
}

/* Whether the server closed fd (EOF or reset) within timeout_ms; what it
 * sent meanwhile is dropped. */
static bool closed_within(int fd, unsigned timeout_ms)
{
	double deadline = now_s() + timeout_ms / 1000.0;
	char buf[4096];

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		double left = MAX(deadline - now_s(), 0.0);
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
static bool read_reply(int fd, struct buf *out, unsigned timeout_ms)
{
	double deadline = now_s() + timeout_ms / 1000.0;

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
		if (deadline - now_s() <= 0 || poll(&p, 1, (int)((deadline - now_s()) * 1000) + 1) <= 0)
			return false;
		n = recv(fd, chunk, sizeof(chunk), 0);
		if (n <= 0)
			return false;
		REQUIRE(buf_append(out, chunk, (size_t)n) == 0);
	}
}

/* --- tests --- */

/* /healthz reports the health callback's verdict; /metrics serves the
 * metrics callback's text with the exposition content type. */
static void test_health_and_metrics(void)
{
	struct http_api_opts opts;
	struct http_api *h;
	struct reply r = { 0 };
	uint16_t saved = port;

	base_opts(&opts, "127.0.0.1:0");
	opts.health = stalled_health;
	h = start_opts(&opts);
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
	CHECK_HEADER(&r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
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
	CHECK_HEADER(&r, "Allow", "GET, HEAD, POST");
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

	/* which binds the Host check and the per-address limit apply to */
	CHECK_INT(http_api__address_is_loopback("127.0.0.1:7071"), ==, 1);
	CHECK_INT(http_api__address_is_loopback("127.3.2.1:7071"), ==, 1);
	CHECK_INT(http_api__address_is_loopback("[::1]:7071"), ==, 1);
	CHECK_INT(http_api__address_is_loopback("[::ffff:127.0.0.1]:7071"), ==, 1);
	CHECK_INT(http_api__address_is_loopback("0.0.0.0:7071"), ==, 0);
	CHECK_INT(http_api__address_is_loopback("[::]:7071"), ==, 0);
	CHECK_INT(http_api__address_is_loopback("10.1.2.3:7071"), ==, 0);
	CHECK_INT(http_api__address_is_loopback("128.0.0.1:7071"), ==, 0);
	CHECK_INT(http_api__address_is_loopback("nonsense"), ==, -EINVAL);
}

static void test_host_names(void)
{
	static const char *const good[] = {
		"127.0.0.1", "127.0.0.1:7071", "localhost", "LocalHost:80", "[::1]",
		"[::1]:8080", "127.9.8.7:1", "[0:0:0:0:0:0:0:1]:7071", "[::ffff:127.0.0.1]",
		"localhost:65535", "localhost:0",
	};
	static const char *const bad[] = {
		"", "evil.example", "evil.example:7071", "localhost.evil.example",
		"127.0.0.1.nip.io", "10.0.0.1", "128.0.0.1", "0.0.0.0", "[::]", "::1",
		"[::1", "[::1]x", "localhost:", "localhost:99999", "localhost:+80",
		"localhost:80:80", "127.1", "[fe80::1]", "localhost :80", "localhost:8a",
		"[::1]:", "[127.0.0.1]",
	};

	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		if (!http_api__host_is_loopback(good[i], strlen(good[i])))
			fprintf(stderr, "Host '%s' refused\n", good[i]);
		CHECK(http_api__host_is_loopback(good[i], strlen(good[i])));
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		if (http_api__host_is_loopback(bad[i], strlen(bad[i])))
			fprintf(stderr, "Host '%s' accepted\n", bad[i]);
		CHECK(!http_api__host_is_loopback(bad[i], strlen(bad[i])));
	}
	/* length, not NUL, ends the value */
	CHECK(http_api__host_is_loopback("localhostXYZ", 9));
	CHECK(!http_api__host_is_loopback("localhost\0evil", 14));
}

static void test_parse_query(void)
{
	struct profile_query q;
	char err[256];

	CHECK_INT(http_api__parse_profile_query("", 0, 30, 600, &q, err, sizeof(err)), ==, 0);
	CHECK_INT(q.seconds, ==, 30);
	CHECK_INT(q.pid, ==, -1);
	CHECK_INT(http_api__parse_profile_query("seconds=5&pid=77&x", 18, 30, 600, &q, err,
						sizeof(err)), ==, 0);
	CHECK_INT(q.seconds, ==, 5);
	CHECK_INT(q.pid, ==, 77);
	/* the length bounds the text: "seconds=12" is seconds=1 here */
	CHECK_INT(http_api__parse_profile_query("seconds=12", 9, 30, 600, &q, err, sizeof(err)),
		  ==, 0);
	CHECK_INT(q.seconds, ==, 1);
	/* '+' is a space, like Go's url.ParseQuery */
	CHECK_INT(http_api__parse_profile_query("seconds=+5", 10, 30, 600, &q, err, sizeof(err)),
		  ==, -EINVAL);
	CHECK_STR(err, "bad seconds: \" 5\": not a positive integer");
	/* bytes that are not UTF-8, control characters, quotes: escaped */
	CHECK_INT(http_api__parse_profile_query("pid=%ff%01%22%5C\xc3\xa9", 18, 30, 600, &q, err,
						sizeof(err)), ==, -EINVAL);
	CHECK_STR(err, "bad pid: \"\\xff\\x01\\\"\\\\\xc3\xa9\": not a positive integer");
	/* a long value is cut at a character boundary, never inside one */
	{
		char query[64] = "pid=", want[128] = "bad pid: \"";

		memset(query + 4, 'a', 31);
		strcat(query, "\xc3\xa9zz");
		memset(want + strlen(want), 'a', 31);
		strcat(want, "...\": not a positive integer");
		CHECK_INT(http_api__parse_profile_query(query, strlen(query), 30, 600, &q, err,
							sizeof(err)), ==, -EINVAL);
		CHECK_STR(err, want);
	}
	/* a value longer than any number */
	{
		char big[300] = "seconds=";

		memset(big + 8, '7', 200);
		CHECK_INT(http_api__parse_profile_query(big, strlen(big), 30, 600, &q, err,
							sizeof(err)), ==, -EINVAL);
		CHECK(strstr(err, "out of range") != NULL);
		memset(big + 8, '%', 200);
		CHECK_INT(http_api__parse_profile_query(big, strlen(big), 30, 600, &q, err,
							sizeof(err)), ==, -EINVAL);
		CHECK(strstr(err, "not a positive integer") != NULL);
	}
	/* a NUL past the part kept for the message still counts */
	{
		char query[128] = "pid=";

		memset(query + 4, '1', 67);
		strcat(query, "%00");
		CHECK_INT(http_api__parse_profile_query(query, strlen(query), 30, 600, &q, err,
							sizeof(err)), ==, -EINVAL);
	}
	CHECK(strstr(err, "contains a NUL byte") != NULL);
}

static void test_start_errors(void)
{
	struct http_api_opts opts = { .address = "127.0.0.1:0" };
	char err[512];
	struct http_api *h;

	errno = 0;
	CHECK(http_api__start(NULL, err, sizeof(err)) == NULL);
	CHECK_INT(errno, ==, EINVAL);

	opts.address = "localhost:0";
	errno = 0;
	CHECK(http_api__start(&opts, err, sizeof(err)) == NULL);
	CHECK_INT(errno, ==, EINVAL);
	CHECK_STR(err, "invalid address 'localhost:0': expected IPv4:PORT or [IPv6]:PORT");
	opts.address = "127.0.0.1:0";

	opts.default_seconds = 60;
	opts.max_seconds = 30;
	errno = 0;
	h = http_api__start(&opts, err, sizeof(err));
	CHECK(h == NULL);
	CHECK_INT(errno, ==, EINVAL);
	opts.default_seconds = opts.max_seconds = 0;

	/* too few connections for what the callbacks may hold */
	opts.max_connections = 27;
	errno = 0;
	h = http_api__start(&opts, err, sizeof(err));
	CHECK(h == NULL);
	CHECK_INT(errno, ==, EINVAL);
	CHECK_STR(err, "max_connections 27 is out of range: at least 28 (16 profile requests, "
		  "4 /metrics requests and 8 more)");
	opts.max_connections = 28;
	h = http_api__start(&opts, err, sizeof(err));
	CHECK(h != NULL);
	http_api__stop(h);

	http_api__stop(NULL);
	CHECK_INT(http_api__port(NULL), ==, 0);
}

static void test_addr_in_use(void)
{
	char addr[64], err[256];
	struct http_api_opts o;
	struct http_api *second;

	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	base_opts(&o, addr);
	errno = 0;
	second = http_api__start(&o, err, sizeof(err));
	CHECK(second == NULL);
	CHECK_INT(errno, ==, EADDRINUSE);
	CHECK(strstr(err, "failed to listen on '127.0.0.1:") && strstr(err, "Address already in use"));
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

	/* what a client sent comes back escaped: never raw bytes that are
	 * not UTF-8, never control characters; valid UTF-8 as it is */
	get("/debug/pprof/%ff%fe%0a%c3%a9%22", &r);
	CHECK_INT(r.status, ==, 404);
	CHECK_STR((char *)r.body.data, "Unknown profile: \\xff\\xfe\\x0a\xc3\xa9\\\"\n");
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
		{ "seconds=1%0Afoo", "bad seconds: \"1\\x0afoo\": not a positive integer\n" },
		{ "seconds=%C3%A9", "bad seconds: \"\xc3\xa9\": not a positive integer\n" },
		{ "seconds=%C3", "bad seconds: \"\\xc3\": not a positive integer\n" },
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

	/* a query string past 1 KiB: 414, without reaching the profiler */
	{
		char longpath[1200] = "/debug/pprof/profile?x=";

		memset(longpath + strlen(longpath), 'y', 1100);
		get(longpath, &r);
		CHECK_INT(r.status, ==, 414);
		CHECK_STR((char *)r.body.data, "query string longer than 1024 bytes\n");
		reply_release(&r);
		CHECK_INT(rec_get(&rec.calls), ==, 0);
	}
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
		{ PID_EIO, 500, "perf buffer\\x0alost\n" },
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
	struct request q;
	struct reply r;
	pthread_t thread;
};

static void *client_main(void *arg)
{
	struct client_job *job = arg;

	perform(&job->q, &job->r);
	return NULL;
}

static void client_start_req(struct client_job *job, const struct request *q)
{
	job->q = *q;
	REQUIRE(pthread_create(&job->thread, NULL, client_main, job) == 0);
}

static void client_start(struct client_job *job, const char *path)
{
	struct request q = { .port = port, .path = path };

	client_start_req(job, &q);
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

static void test_client_disconnect(void)
{
	static const char req[] =
		"GET /debug/pprof/profile?seconds=1 HTTP/1.1\r\n"
		"Host: 127.0.0.1\r\n\r\n";
	struct reply r;
	int fd;

	rec_reset();
	fd = connect_raw(port);
	CHECK(send_text(fd, req));
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

static void test_ipv6(void)
{
	struct http_api *h;
	struct reply r;
	char err[256];
	struct http_api_opts o;

	base_opts(&o, "[::1]:0");
	errno = 0;
	h = http_api__start(&o, err, sizeof(err));
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
	struct http_api *h = start_server("127.0.0.1:0");
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
	h = start_server(addr);
	CHECK(h != NULL);
	http_api__stop(h);
}

/* --- bounds: held connections, trickled requests, the callbacks' limits --- */

static void close_all(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

static size_t count_closed(const int *fds, size_t n)
{
	size_t closed = 0;

	for (size_t i = 0; i < n; i++)
		closed += closed_within(fds[i], 0);
	return closed;
}

/* /healthz n times: every answer 200, each within a bound far above a
 * healthy reply (~1 ms) and far below the read timeout. */
static void check_healthz_stays_up(uint16_t to_port, int n, const char *while_what)
{
	double worst = 0;
	int ok = 0;

	for (int i = 0; i < n; i++) {
		struct reply r;

		http_request("127.0.0.1", to_port, "GET", "/healthz", &r);
		ok += r.status == 200;
		if (r.status != 200)
			fprintf(stderr, "/healthz %s: %ld %s (%s)\n", while_what, r.status,
				(char *)r.body.data, r.curl_msg);
		worst = MAX(worst, r.elapsed);
		reply_release(&r);
	}
	fprintf(stderr, "/healthz %s: %d/%d answered 200, slowest %.3f s\n", while_what, ok, n,
		worst);
	CHECK_INT(ok, ==, n);
	CHECK(worst < 2.0);
}

static void test_held_connections(void)
{
	struct http_api_opts o;
	struct http_api *h;
	struct http_api_stats st;
	struct client_job profiles[3], metrics[5];
	int idle[60], slow[30];
	struct reply r;
	uint16_t p;

	base_opts(&o, "127.0.0.1:0");
	o.max_connections = 16;
	o.max_profile_requests = 2;
	o.read_timeout_ms = 30000; /* only eviction may close them here */
	h = start_opts(&o);
	REQUIRE(h);
	p = http_api__port(h);

	/* connections that send nothing never reach the server: the kernel
	 * keeps them until the read timeout (TCP_DEFER_ACCEPT) */
	for (size_t i = 0; i < ARRAY_SIZE(idle); i++)
		idle[i] = connect_raw(p);
	sleep_ms(200);
	http_api__stats(h, &st);
	CHECK_INT(st.connections, ==, 0);
	check_healthz_stays_up(p, 5, "with 60 connections that sent nothing");
	close_all(idle, ARRAY_SIZE(idle));

	/* more connections with a request begun than allowed: each past 16
	 * closes the oldest */
	for (size_t i = 0; i < ARRAY_SIZE(idle); i++)
		idle[i] = connect_held(p, NULL);
	/* held, they are older than any probe. The server takes them in as
	 * it gets CPU (a sanitized build on a loaded machine needs well over
	 * the 300 ms an idle one does): wait until 44 have been evicted, or
	 * 10 s */
	for (int waited = 0; waited < 10000; waited += 100) {
		sleep_ms(100);
		http_api__stats(h, &st);
		if (st.closed[HTTP_CLOSE_EVICTED] >= 44)
			break;
	}
	sleep_ms(100); /* their FINs reach the clients */
	fprintf(stderr, "60 held connections: %u open, %llu evicted\n", st.connections,
		(unsigned long long)st.closed[HTTP_CLOSE_EVICTED]);
	CHECK_INT(st.connections, <=, 16);
	CHECK_U64(st.closed[HTTP_CLOSE_EVICTED], >=, 44);
	CHECK_INT(count_closed(idle, ARRAY_SIZE(idle)), >=, 44);
	/* the oldest go first (those whose byte the server has read) */
	CHECK_INT(count_closed(idle, 8), ==, 8);
	check_healthz_stays_up(p, 20, "with 60 held connections opened");

	/* slow-loris clients: a header byte at a time, never done */
	for (size_t i = 0; i < ARRAY_SIZE(slow); i++) {
		slow[i] = connect_raw(p);
		CHECK(send_text(slow[i], "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-a: "));
	}
	sleep_ms(300);
	for (int round = 0; round < 5; round++) {
		for (size_t i = 0; i < ARRAY_SIZE(slow); i++)
			send_text(slow[i], "a");
		check_healthz_stays_up(p, 2, "with 30 slow-loris connections");
	}
	CHECK_INT(count_closed(slow, ARRAY_SIZE(slow)), >=, ARRAY_SIZE(slow) - 16);

	/* every profile and /metrics slot taken by a request that waits, and
	 * idle connections around them: /healthz still answers */
	gate_set(true);
	rec_reset();
	for (int i = 0; i < 2; i++) {
		struct request q = { .port = p, .path = "/debug/pprof/profile?seconds=2" };

		client_start_req(&profiles[i], &q);
	}
	for (int i = 0; i < 4; i++) {
		struct request q = { .port = p, .path = "/metrics" };

		client_start_req(&metrics[i], &q);
	}
	REQUIRE(wait_in_flight(2));
	REQUIRE(wait_gate_waiting(4));
	close_all(idle, ARRAY_SIZE(idle));
	for (size_t i = 0; i < ARRAY_SIZE(idle); i++)
		idle[i] = connect_held(p, NULL);
	sleep_ms(300);
	check_healthz_stays_up(p, 10, "with 2 profiles, 4 /metrics and 60 held connections");
	/* a third of each gets a 503 of its own limit */
	http_request("127.0.0.1", p, "GET", "/debug/pprof/profile?seconds=1", &r);
	CHECK_INT(r.status, ==, 503);
	CHECK_STR((char *)r.body.data, "too many profile requests in progress (limit 2), retry later\n");
	reply_release(&r);
	http_request("127.0.0.1", p, "GET", "/metrics", &r);
	CHECK_INT(r.status, ==, 503);
	CHECK_STR((char *)r.body.data, "too many /metrics requests in progress (limit 4), retry later\n");
	reply_release(&r);
	http_api__stats(h, &st);
	CHECK_INT(st.profile_requests, ==, 2);
	CHECK_INT(st.metrics_requests, ==, 4);
	CHECK_U64(st.rejected[HTTP_REJECT_PROFILE_LIMIT], ==, 1);
	CHECK_U64(st.rejected[HTTP_REJECT_METRICS_LIMIT], ==, 1);
	/* the waiting requests were never evicted */
	gate_set(false);
	for (int i = 0; i < 2; i++) {
		client_join(&profiles[i]);
		check_profile_ok(&profiles[i].r);
		reply_release(&profiles[i].r);
	}
	for (int i = 0; i < 4; i++) {
		client_join(&metrics[i]);
		CHECK_INT(metrics[i].r.status, ==, 200);
		reply_release(&metrics[i].r);
	}
	(void)profiles[2];
	(void)metrics[4];
	close_all(idle, ARRAY_SIZE(idle));
	close_all(slow, ARRAY_SIZE(slow));
	http_api__stop(h);
}

struct burst {
	uint16_t port;
	int fds[400];
	size_t n;
	volatile bool stop;
	pthread_t thread;
};

/* Opens connections as fast as it can, keeping them, until told to stop. */
static void *burst_main(void *arg)
{
	struct burst *b = arg;

	while (!b->stop && b->n < ARRAY_SIZE(b->fds))
		b->fds[b->n++] = connect_held(b->port, NULL);
	return NULL;
}

/* A burst of new connections outnumbering the limit many times over, each
 * sending a byte: it evicts the connections held before it, then its own
 * oldest. While it lasts, a probe competes for CPU with a thread for each
 * new connection (a race no limit wins every time: docs/http-api.md), so
 * most are answered; once it is over, every one. */
static void test_connection_burst(void)
{
	struct http_api_opts o;
	struct http_api *h;
	struct http_api_stats st;
	struct burst b = { 0 };
	int held[16], ok = 0, probes = 0;
	double worst = 0;

	base_opts(&o, "127.0.0.1:0");
	o.max_connections = 16;
	o.max_profile_requests = 2;
	o.read_timeout_ms = 30000;
	h = start_opts(&o);
	REQUIRE(h);
	b.port = http_api__port(h);
	for (size_t i = 0; i < ARRAY_SIZE(held); i++)
		held[i] = connect_held(b.port, NULL);
	sleep_ms(300);
	REQUIRE(pthread_create(&b.thread, NULL, burst_main, &b) == 0);
	/* probes until the burst is over */
	while (probes < 1000 && (b.n < ARRAY_SIZE(b.fds) || probes < 20)) {
		struct reply r;

		http_request("127.0.0.1", b.port, "GET", "/healthz", &r);
		ok += r.status == 200;
		worst = MAX(worst, r.elapsed);
		probes++;
		reply_release(&r);
	}
	b.stop = true;
	pthread_join(b.thread, NULL);
	http_api__stats(h, &st);
	fprintf(stderr, "burst of %zu new connections: %d/%d /healthz answered 200, slowest "
		"%.3f s; %llu connections evicted\n", b.n, ok, probes, worst,
		(unsigned long long)st.closed[HTTP_CLOSE_EVICTED]);
	CHECK_INT(ok, >=, probes * 3 / 4);
	CHECK(worst < 2.0);
	CHECK_INT(st.connections, <=, 16);
	sleep_ms(300);
	check_healthz_stays_up(b.port, 10, "after the burst, its 400 connections held");
	close_all(b.fds, b.n);
	close_all(held, ARRAY_SIZE(held));
	http_api__stop(h);
}

/* On a non-loopback address one client address gets a quarter of the
 * connections: its own oldest make room, others' stay. */
static void test_per_address_limit(void)
{
	struct http_api_opts o;
	struct http_api *h;
	struct http_api_stats st;
	struct client_job waiting[4];
	int mine[10], other[3];
	struct reply r;
	uint16_t p;

	base_opts(&o, "0.0.0.0:0");
	o.max_connections = 16; /* 4 per address */
	o.max_profile_requests = 2;
	o.read_timeout_ms = 30000;
	h = start_opts(&o);
	REQUIRE(h);
	p = http_api__port(h);
	for (size_t i = 0; i < ARRAY_SIZE(other); i++)
		other[i] = connect_held(p, "127.0.0.2");
	for (size_t i = 0; i < 4; i++)
		mine[i] = connect_held(p, NULL);
	sleep_ms(300);
	/* six more from this address: each closes one of its own */
	for (size_t i = 4; i < ARRAY_SIZE(mine); i++)
		mine[i] = connect_held(p, NULL);
	sleep_ms(200);
	http_api__stats(h, &st);
	CHECK_U64(st.closed[HTTP_CLOSE_PER_IP], ==, 6);
	CHECK_U64(st.closed[HTTP_CLOSE_EVICTED], ==, 0);
	CHECK_INT(count_closed(mine, 4), ==, 4);
	CHECK_INT(count_closed(mine, ARRAY_SIZE(mine)), ==, 6);
	CHECK_INT(count_closed(other, 3), ==, 0);
	close_all(mine, ARRAY_SIZE(mine));
	/* until the server has seen them go, they would still count */
	for (int i = 0; i < 200; i++) {
		http_api__stats(h, &st);
		if (st.connections == ARRAY_SIZE(other))
			break;
		sleep_ms(10);
	}
	CHECK_INT(st.connections, ==, ARRAY_SIZE(other));

	/* four requests of that address wait in callbacks: nothing of its
	 * own to close, so its fifth connection gets a 503; another
	 * address's does not */
	gate_set(true);
	rec_reset();
	for (int i = 0; i < 4; i++) {
		struct request q = { .port = p,
				     .path = i < 2 ? "/debug/pprof/profile?seconds=2" : "/metrics" };

		client_start_req(&waiting[i], &q);
	}
	REQUIRE(wait_in_flight(2));
	REQUIRE(wait_gate_waiting(2));
	http_request("127.0.0.1", p, "GET", "/healthz", &r);
	CHECK_INT(r.status, ==, 503);
	CHECK_STR((char *)r.body.data,
		  "too many connections from this address (limit 4), retry later\n");
	CHECK_HEADER(&r, "Connection", "close");
	reply_release(&r);
	{
		struct request q = { .port = p, .path = "/healthz", .source = "127.0.0.3" };

		perform(&q, &r);
		CHECK_INT(r.status, ==, 200);
		reply_release(&r);
	}
	/* no Host check away from loopback: the names clients use are not
	 * ours to know */
	{
		struct request q = { .port = p, .path = "/healthz", .source = "127.0.0.3",
				     .headers = { "Host: evil.example" } };

		perform(&q, &r);
		CHECK_INT(r.status, ==, 200);
		reply_release(&r);
	}
	gate_set(false);
	for (int i = 0; i < 4; i++) {
		client_join(&waiting[i]);
		CHECK_INT(waiting[i].r.status, ==, 200);
		reply_release(&waiting[i].r);
	}
	http_api__stats(h, &st);
	CHECK_U64(st.closed[HTTP_CLOSE_PER_IP], ==, 7);
	close_all(other, ARRAY_SIZE(other));
	http_api__stop(h);
}

/* A request must be in within read_timeout_ms however it trickles; a
 * profile that outlasts it is still answered. */
static void test_read_timeout(void)
{
	struct http_api_opts o;
	struct http_api *h;
	struct http_api_stats st;
	struct buf reply = { 0 };
	struct reply r;
	double t0, took;
	bool closed = false;
	uint16_t p;
	int fd;

	base_opts(&o, "127.0.0.1:0");
	o.read_timeout_ms = 1000;
	o.reply_timeout_ms = 2000;
	h = start_opts(&o);
	REQUIRE(h);
	p = http_api__port(h);

	/* a connection that never sends anything: the kernel hands it over
	 * after a SYN-ACK retransmission past the read timeout, the reaper
	 * closes it a read timeout later */
	fd = connect_raw(p);
	t0 = now_s();
	CHECK(closed_within(fd, 8000));
	took = now_s() - t0;
	fprintf(stderr, "idle connection closed after %.2f s (read timeout 1 s)\n", took);
	CHECK(took >= 0.9 && took < 6.0);
	close(fd);
	/* one that has sent a byte: a read timeout after it */
	fd = connect_held(p, NULL);
	t0 = now_s();
	CHECK(closed_within(fd, 5000));
	took = now_s() - t0;
	fprintf(stderr, "connection with a byte of request closed after %.2f s\n", took);
	CHECK(took >= 0.9 && took < 2.5);
	close(fd);

	/* slow loris: a header byte every 150 ms keeps microhttpd's own
	 * inactivity timer from ever firing; the deadline still does */
	fd = connect_raw(p);
	t0 = now_s();
	CHECK(send_text(fd, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"));
	while (now_s() - t0 < 5 && !(closed = closed_within(fd, 150)))
		if (!send_text(fd, "X"))
			closed = true;
	took = now_s() - t0;
	fprintf(stderr, "slow-loris connection closed after %.2f s\n", took);
	CHECK(closed);
	CHECK(took >= 0.9 && took < 2.5);
	close(fd);

	/* the same with a body that trickles in */
	fd = connect_raw(p);
	t0 = now_s();
	CHECK(send_text(fd, "POST /debug/pprof/symbol HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			    "Content-Length: 1000\r\n\r\n"));
	closed = false;
	while (now_s() - t0 < 5 && !(closed = closed_within(fd, 150)))
		if (!send_text(fd, "0x1+"))
			closed = true;
	took = now_s() - t0;
	fprintf(stderr, "slow body closed after %.2f s\n", took);
	CHECK(closed);
	CHECK(took >= 0.9 && took < 2.5);
	close(fd);

	/* a request that is all in just before the deadline is answered */
	fd = connect_raw(p);
	CHECK(send_text(fd, "GET /healthz HTTP/1.1\r\n"));
	sleep_ms(600);
	CHECK(send_text(fd, "Host: 127.0.0.1\r\n\r\n"));
	CHECK(read_reply(fd, &reply, 3000));
	CHECK(reply.data && strncmp((char *)reply.data, "HTTP/1.1 200", 12) == 0);
	close(fd);

	/* a client that stops reading its reply is dropped after the reply
	 * timeout, counted from the end of the window */
	fd = connect_raw(p);
	CHECK(send_text(fd, "GET /debug/pprof/profile?pid=4006 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
	t0 = now_s();
	sleep_ms(4000);
	http_api__stats(h, &st);
	CHECK_U64(st.closed[HTTP_CLOSE_REPLY_TIMEOUT], ==, 1);
	fprintf(stderr, "a reply nobody reads: %llu closed for it within %.1f s (reply timeout 2 s)\n",
		(unsigned long long)st.closed[HTTP_CLOSE_REPLY_TIMEOUT], now_s() - t0);
	close(fd);

	/* a 2 s profile outlasts the 1 s timeout and is answered */
	http_request("127.0.0.1", p, "GET", "/debug/pprof/profile?seconds=2", &r);
	check_profile_ok(&r);
	reply_release(&r);

	http_api__stats(h, &st);
	CHECK_U64(st.closed[HTTP_CLOSE_READ_TIMEOUT], ==, 4);
	buf_release(&reply);
	http_api__stop(h);
}

static void test_host_check(void)
{
	static const char *const good[] = {
		NULL, "Host: 127.0.0.1", "Host: localhost:1234", "Host: [::1]:7071",
		"Host: LOCALHOST",
	};
	struct http_api_stats st;
	struct reply r;
	int fd;

	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		struct request q = { .port = port, .path = "/healthz", .headers = { good[i] } };

		perform(&q, &r);
		if (r.status != 200)
			fprintf(stderr, "%s\n", good[i] ? good[i] : "(curl's own Host)");
		CHECK_INT(r.status, ==, 200);
		reply_release(&r);
	}
	{
		struct request q = { .port = port, .path = "/debug/pprof/profile?seconds=1",
				     .headers = { "Host: attacker.example:7071" } };

		rec_reset();
		perform(&q, &r);
		CHECK_INT(r.status, ==, 403);
		CHECK_STR((char *)r.body.data,
			  "Host \"attacker.example:7071\" is not a loopback name: this endpoint "
			  "listens on a loopback address and only answers requests for 127.0.0.1, "
			  "[::1] or localhost\n");
		CHECK_HEADER(&r, "X-Go-Pprof", "1");
		CHECK_INT(rec_get(&rec.calls), ==, 0);
		reply_release(&r);
	}
	/* two Host headers: which would a proxy have used? */
	fd = connect_raw(port);
	{
		struct buf reply = { 0 };

		CHECK(send_text(fd, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil\r\n\r\n"));
		CHECK(read_reply(fd, &reply, 3000));
		CHECK(reply.data && strncmp((char *)reply.data, "HTTP/1.1 403", 12) == 0);
		/* HTTP/1.0 without Host is not a browser */
		close(fd);
		fd = connect_raw(port);
		CHECK(send_text(fd, "GET /healthz HTTP/1.0\r\n\r\n"));
		CHECK(read_reply(fd, &reply, 3000));
		CHECK(reply.data && strncmp((char *)reply.data + 8, " 200 ", 5) == 0);
		buf_release(&reply);
	}
	close(fd);
	/* /healthz is checked too */
	{
		struct request q = { .port = port, .path = "/healthz",
				     .headers = { "Host: 127.0.0.1.nip.io" } };

		perform(&q, &r);
		CHECK_INT(r.status, ==, 403);
		CHECK_NO_HEADER(&r, "X-Go-Pprof");
		reply_release(&r);
	}
	(void)st;
}

/* POST /debug/pprof/symbol: bodies past 4 MiB get a 413 that closes the
 * connection, whether they announce their length or are chunked. */
static void test_symbol_body(void)
{
	struct request q = { .port = port, .method = "POST", .path = "/debug/pprof/symbol" };
	struct buf reply = { 0 };
	struct reply r;
	int fd;

	q.chunked_body = 1000;
	perform(&q, &r);
	CHECK_INT(r.status, ==, 200);
	CHECK_STR((char *)r.body.data, "num_symbols: 1\n");
	reply_release(&r);

	q.chunked_body = (5u << 20);
	perform(&q, &r);
	CHECK_INT(r.status, ==, 413);
	CHECK_STR((char *)r.body.data, "symbol request larger than 4194304 bytes\n");
	CHECK_HEADER(&r, "Connection", "close");
	CHECK_HEADER(&r, "X-Go-Pprof", "1");
	reply_release(&r);

	/* announced: refused before a byte of it is read, then closed */
	fd = connect_raw(port);
	CHECK(send_text(fd, "POST /debug/pprof/symbol HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			    "Content-Length: 5000000\r\n\r\n"));
	CHECK(read_reply(fd, &reply, 3000));
	CHECK(reply.data && strncmp((char *)reply.data, "HTTP/1.1 413", 12) == 0);
	CHECK(reply.data && strcasestr((char *)reply.data, "\r\nConnection: close\r\n"));
	CHECK(closed_within(fd, 3000));
	close(fd);
	buf_release(&reply);
}

/* --- TLS and authentication --- */

struct tls_files {
	char dir[PATH_MAX];
	char ca[PATH_MAX + 32], other_ca[PATH_MAX + 32];
	char server_crt[PATH_MAX + 32], server_key[PATH_MAX + 32];
	char wrong_key[PATH_MAX + 32];
	char client_crt[PATH_MAX + 32], client_key[PATH_MAX + 32];
	char tokens[PATH_MAX + 32], tokens_new[PATH_MAX + 32];
	char garbage[PATH_MAX + 32];
};

static bool have_openssl(void)
{
	return system("openssl version >/dev/null 2>&1") == 0;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	REQUIRE(f);
	REQUIRE(fputs(text, f) >= 0);
	REQUIRE(fclose(f) == 0);
	REQUIRE(chmod(path, mode) == 0);
}

extern char **environ;

static void tls_files_make(struct tls_files *t)
{
	memset(t, 0, sizeof(*t));
	test_certs_make(t->dir, sizeof(t->dir), "brasa-http-tls");
#define TLS_PATH(field, name) snprintf(t->field, sizeof(t->field), "%s/" name, t->dir)
	TLS_PATH(ca, "ca.crt");
	TLS_PATH(other_ca, "other-ca.crt");
	TLS_PATH(server_crt, "server.crt");
	TLS_PATH(server_key, "server.key");
	TLS_PATH(wrong_key, "wrong-host.key");
	TLS_PATH(client_crt, "client.crt");
	TLS_PATH(client_key, "client.key");
	TLS_PATH(tokens, "tokens");
	TLS_PATH(tokens_new, "tokens.new");
	TLS_PATH(garbage, "garbage.pem");
#undef TLS_PATH
	write_file(t->tokens, "# scrapers\nfirst-token-0123456789abcdef\n\n"
			      "  second-token-0123456789abcdef  \r\n", 0600);
	write_file(t->garbage, "-----BEGIN CERTIFICATE-----\nnot base64 at all\n"
			       "-----END CERTIFICATE-----\n", 0600);
}

static void tls_files_remove(struct tls_files *t)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->dir);
	CHECK(system(cmd) == 0);
}

/* Start errors name the file at fault, in one line. */
static void test_tls_start_errors(const struct tls_files *t)
{
	static const char short_tokens[] = "0123456789\n";
	struct http_api_opts o;
	char err[512], path[PATH_MAX + 32];

	struct {
		const char *cert, *key, *ca, *tokens, *want;
	} cases[] = {
		{ "/nonexistent/server.crt", t->server_key, NULL, NULL,
		  "failed to read TLS certificate file '/nonexistent/server.crt': No such file or "
		  "directory" },
		{ t->server_crt, NULL, NULL, NULL,
		  "a TLS certificate needs its key and a key its certificate" },
		{ NULL, NULL, t->ca, NULL,
		  "client certificates need TLS: a server certificate and key" },
		{ t->garbage, t->server_key, NULL, NULL, "holds no PEM certificate" },
		{ t->server_crt, t->garbage, NULL, NULL, "holds no usable PEM private key" },
		{ t->server_crt, t->wrong_key, NULL, NULL, "does not match the certificate in" },
		{ t->server_crt, t->server_key, t->garbage, NULL, "client CA file" },
		{ NULL, NULL, NULL, "/nonexistent/tokens",
		  "failed to read bearer token file '/nonexistent/tokens': No such file or "
		  "directory" },
		{ NULL, NULL, NULL, t->garbage, "line 1: not a bearer token" },
		{ NULL, NULL, NULL, path, "line 1: a token of fewer than 16 characters" },
		{ NULL, NULL, NULL, t->dir, "is not a regular file" },
	};

	snprintf(path, sizeof(path), "%s/short-tokens", t->dir);
	write_file(path, short_tokens, 0600);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct http_api *h;

		base_opts(&o, "127.0.0.1:0");
		o.tls_cert_file = cases[i].cert;
		o.tls_key_file = cases[i].key;
		o.tls_client_ca_file = cases[i].ca;
		o.bearer_token_file = cases[i].tokens;
		err[0] = 0;
		errno = 0;
		h = http_api__start(&o, err, sizeof(err));
		CHECK(h == NULL);
		CHECK_INT(errno, ==, EINVAL);
		if (!strstr(err, cases[i].want))
			fprintf(stderr, "case %zu: got '%s', want '%s'\n", i, err, cases[i].want);
		CHECK(strstr(err, cases[i].want) != NULL);
		CHECK(strchr(err, '\n') == NULL);
		http_api__stop(h);
	}
	/* the mismatch names both files */
	base_opts(&o, "127.0.0.1:0");
	o.tls_cert_file = t->server_crt;
	o.tls_key_file = t->wrong_key;
	CHECK(http_api__start(&o, err, sizeof(err)) == NULL);
	CHECK(strstr(err, t->wrong_key) && strstr(err, t->server_crt));
}

static void https_get(uint16_t to_port, const char *path, const char *token, const char *ca,
		      const char *cert, const char *key, struct reply *r)
{
	struct request q = { .scheme = "https", .port = to_port, .path = path, .token = token,
			     .ca = ca, .cert = cert, .key = key };

	perform(&q, r);
}

static void test_tls_and_auth(void)
{
	struct tls_files t;
	struct http_api_opts o;
	struct http_api_stats st;
	struct http_api *h;
	struct reply r;
	char www[256];
	uint16_t p;

	if (!have_openssl()) {
		fprintf(stderr, "no openssl to make test certificates: TLS tests skipped\n");
		return;
	}
	tls_files_make(&t);
	test_tls_start_errors(&t);

	base_opts(&o, "127.0.0.1:0");
	o.tls_cert_file = t.server_crt;
	o.tls_key_file = t.server_key;
	o.tls_client_ca_file = t.ca;
	o.bearer_token_file = t.tokens;
	h = start_opts(&o);
	REQUIRE(h);
	p = http_api__port(h);

	/* a liveness probe has neither token nor certificate */
	https_get(p, "/healthz", NULL, t.ca, NULL, NULL, &r);
	CHECK_INT(r.curl_err, ==, CURLE_OK);
	CHECK_INT(r.status, ==, 200);
	CHECK_STR((char *)r.body.data, "ok\n");
	reply_release(&r);
	/* plain HTTP to the TLS port is not answered */
	http_request("127.0.0.1", p, "GET", "/healthz", &r);
	CHECK(r.status != 200);
	reply_release(&r);

	/* no credentials */
	https_get(p, "/metrics", NULL, t.ca, NULL, NULL, &r);
	CHECK_INT(r.status, ==, 401);
	CHECK_HEADER(&r, "WWW-Authenticate", "Bearer realm=\"brasa\"");
	CHECK_STR((char *)r.body.data, "authentication required: send \"Authorization: Bearer "
		  "TOKEN\" or a client certificate\n");
	reply_release(&r);
	rec_reset();
	https_get(p, "/debug/pprof/profile?seconds=1", NULL, t.ca, NULL, NULL, &r);
	CHECK_INT(r.status, ==, 401);
	CHECK_HEADER(&r, "X-Go-Pprof", "1");
	CHECK_INT(rec_get(&rec.calls), ==, 0);
	reply_release(&r);
	/* the right tokens */
	https_get(p, "/metrics", "first-token-0123456789abcdef", t.ca, NULL, NULL, &r);
	CHECK_INT(r.status, ==, 200);
	reply_release(&r);
	https_get(p, "/debug/pprof/profile?seconds=1", "second-token-0123456789abcdef", t.ca,
		  NULL, NULL, &r);
	check_profile_ok(&r);
	reply_release(&r);
	/* wrong ones: another token, a prefix, a longer one */
	static const char *const wrong[] = {
		"third-token-0123456789abcdef", "first-token-0123456789abcde",
		"first-token-0123456789abcdefX",
	};
	for (size_t i = 0; i < ARRAY_SIZE(wrong); i++) {
		https_get(p, "/metrics", wrong[i], t.ca, NULL, NULL, &r);
		CHECK_INT(r.status, ==, 401);
		CHECK_STR((char *)r.body.data, "invalid bearer token\n");
		CHECK(header(&r, "WWW-Authenticate", www, sizeof(www)) &&
		      strstr(www, "error=\"invalid_token\""));
		reply_release(&r);
	}
	/* rotation: a new file renamed over the old one, as a Secret update
	 * or an atomic editor would */
	write_file(t.tokens_new, "rotated-token-0123456789abcdef\n", 0600);
	REQUIRE(rename(t.tokens_new, t.tokens) == 0);
	https_get(p, "/metrics", "first-token-0123456789abcdef", t.ca, NULL, NULL, &r);
	CHECK_INT(r.status, ==, 401);
	reply_release(&r);
	https_get(p, "/metrics", "rotated-token-0123456789abcdef", t.ca, NULL, NULL, &r);
	CHECK_INT(r.status, ==, 200);
	reply_release(&r);
	/* and rewritten in place */
	write_file(t.tokens, "in-place-token-0123456789abcdef\n", 0600);
	https_get(p, "/metrics", "in-place-token-0123456789abcdef", t.ca, NULL, NULL, &r);
	CHECK_INT(r.status, ==, 200);
	reply_release(&r);
	/* gone: no token works, and the metric says so */
	REQUIRE(unlink(t.tokens) == 0);
	https_get(p, "/metrics", "in-place-token-0123456789abcdef", t.ca, NULL, NULL, &r);
	CHECK_INT(r.status, ==, 401);
	reply_release(&r);
	http_api__stats(h, &st);
	CHECK(st.token_file);
	CHECK_INT(st.bearer_tokens, ==, 0);
	CHECK_U64(st.token_reloads, >=, 2);
	write_file(t.tokens, "back-again-token-0123456789abcdef\n", 0600);
	https_get(p, "/metrics", "back-again-token-0123456789abcdef", t.ca, NULL, NULL, &r);
	CHECK_INT(r.status, ==, 200);
	reply_release(&r);
	http_api__stats(h, &st);
	CHECK_INT(st.bearer_tokens, ==, 1);

	/* a client certificate from the trusted CA, without a token */
	https_get(p, "/metrics", NULL, t.ca, t.client_crt, t.client_key, &r);
	CHECK_INT(r.curl_err, ==, CURLE_OK);
	CHECK_INT(r.status, ==, 200);
	reply_release(&r);
	http_api__stats(h, &st);
	/* no credentials twice, three wrong tokens, a rotated-out one, one
	 * while the file was gone */
	CHECK_U64(st.rejected[HTTP_REJECT_UNAUTHORIZED], ==, 7);
	http_api__stop(h);

	/* certificates only, trusting another CA: ours is refused; none is
	 * refused too; the probe still gets in */
	base_opts(&o, "127.0.0.1:0");
	o.tls_cert_file = t.server_crt;
	o.tls_key_file = t.server_key;
	o.tls_client_ca_file = t.other_ca;
	h = start_opts(&o);
	REQUIRE(h);
	p = http_api__port(h);
	https_get(p, "/metrics", NULL, t.ca, t.client_crt, t.client_key, &r);
	CHECK_INT(r.status, ==, 403);
	CHECK(strncmp((char *)r.body.data, "client certificate not accepted: ", 33) == 0);
	fprintf(stderr, "certificate from another CA: %s", (char *)r.body.data);
	reply_release(&r);
	https_get(p, "/metrics", NULL, t.ca, NULL, NULL, &r);
	CHECK_INT(r.status, ==, 403);
	CHECK_STR((char *)r.body.data, "a client certificate is required\n");
	reply_release(&r);
	https_get(p, "/metrics", "first-token-0123456789abcdef", t.ca, NULL, NULL, &r);
	CHECK_INT(r.status, ==, 403);
	reply_release(&r);
	https_get(p, "/healthz", NULL, t.ca, NULL, NULL, &r);
	CHECK_INT(r.status, ==, 200);
	reply_release(&r);
	http_api__stop(h);

	/* tokens without TLS (fine on loopback) */
	base_opts(&o, "127.0.0.1:0");
	o.bearer_token_file = t.tokens;
	h = start_opts(&o);
	REQUIRE(h);
	{
		struct request q = { .port = http_api__port(h), .path = "/metrics",
				     .token = "back-again-token-0123456789abcdef" };

		perform(&q, &r);
		CHECK_INT(r.status, ==, 200);
		reply_release(&r);
		q.token = NULL;
		q.headers[0] = "Authorization: Basic dXNlcjpwYXNz";
		perform(&q, &r);
		CHECK_INT(r.status, ==, 401);
		CHECK_STR((char *)r.body.data,
			  "the Authorization header is not \"Bearer TOKEN\"\n");
		reply_release(&r);
	}
	http_api__stop(h);
	tls_files_remove(&t);
}

/* The server most cases talk to, on port. */
static struct http_api *shared_server;

static void shared_server_start(void)
{
	shared_server = start_server("127.0.0.1:0");
	REQUIRE(shared_server);
	port = http_api__port(shared_server);
	CHECK(port != 0);
}

static void shared_server_stop(void)
{
	http_api__stop(shared_server);
	shared_server = NULL;
}

static struct test_fixture server = { shared_server_start, shared_server_stop };

static void setup(void)
{
	REQUIRE(curl_global_init(CURL_GLOBAL_DEFAULT) == 0);
}

static void teardown(void)
{
	curl_global_cleanup();
}

TEST_MAIN(setup, teardown,
	  TEST_CASE(parse_address),
	  TEST_CASE(host_names),
	  TEST_CASE(parse_query),
	  TEST_CASE(start_errors),
	  TEST_CASE(addr_in_use, &server),
	  TEST_CASE(plain_routes, &server),
	  TEST_CASE(methods, &server),
	  TEST_CASE(profile_ok, &server),
	  TEST_CASE(profile_bad_input, &server),
	  TEST_CASE(profile_callback_errors, &server),
	  TEST_CASE(concurrency, &server),
	  TEST_CASE(client_disconnect, &server),
	  TEST_CASE(host_check, &server),
	  TEST_CASE(symbol_body, &server),
	  TEST_CASE(held_connections),
	  TEST_CASE(connection_burst),
	  TEST_CASE(per_address_limit),
	  TEST_CASE(read_timeout),
	  TEST_CASE(ipv6),
	  TEST_CASE(stop_in_flight),
	  TEST_CASE(health_and_metrics),
	  TEST_CASE(tls_and_auth))
