/* http_api over real sockets (tests/unit/http_harness.h): its options,
 * its routes and what they answer, the profile request from query string
 * to callback and back (status codes, bodies, headers), requests served
 * side by side, /healthz and /metrics from their callbacks. The server's
 * own bounds, TLS and authentication: test-http-server.c. */
#include "serve/http_api.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "http_harness.h"
#include "testing.h"

static void test_start_errors(void)
{
	struct http_api_opts opts = { .address = "127.0.0.1:0" };
	char err[512];
	struct http_api *h;

	errno = 0;
	CHECK(api_start(NULL, err, sizeof(err)) == NULL);
	CHECK_INT(errno, ==, EINVAL);

	opts.address = "example.com:0";
	errno = 0;
	CHECK(api_start(&opts, err, sizeof(err)) == NULL);
	CHECK_INT(errno, ==, EINVAL);
	CHECK_STR(err, "invalid address 'example.com:0': expected IPv4:PORT, [IPv6]:PORT, :PORT (every IPv4 interface) or localhost:PORT (the port 7071 when left out)");
	opts.address = "127.0.0.1:0";

	opts.default_seconds = 60;
	opts.max_seconds = 30;
	errno = 0;
	h = api_start(&opts, err, sizeof(err));
	CHECK(h == NULL);
	CHECK_INT(errno, ==, EINVAL);
	opts.default_seconds = opts.max_seconds = 0;

	/* too few connections for what the callbacks may hold */
	opts.max_connections = 27;
	errno = 0;
	h = api_start(&opts, err, sizeof(err));
	CHECK(h == NULL);
	CHECK_INT(errno, ==, EINVAL);
	CHECK_STR(err, "max_connections 27 is out of range: at least 28 (16 profile requests, "
		  "4 /metrics requests and 8 more)");
	opts.max_connections = 28;
	h = api_start(&opts, err, sizeof(err));
	CHECK(h != NULL);
	http_api__stop(h);

	http_api__stop(NULL);
	CHECK_INT(http_api__port(NULL), ==, 0);
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

	/* the flame graph page (its bytes and headers: test-web.c) */
	get("/", &r);
	CHECK_INT(r.status, ==, 200);
	CHECK(strstr((char *)r.body.data, "<!DOCTYPE html>"));
	CHECK_HEADER(&r, "Content-Type", "text/html; charset=utf-8");
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

/* /api/flamegraph: the profile's query, plus format and max_nodes */
/* gunzips a whole reply body; NULL-terminated, or NULL on an error */
static char *gunzip(const struct buf *in)
{
	z_stream zs = { 0 };
	char *out = calloc(1, 1 << 20);

	if (!out || inflateInit2(&zs, 15 + 16) != Z_OK) {
		free(out);
		return NULL;
	}
	zs.next_in = in->data;
	zs.avail_in = (uInt)in->len;
	zs.next_out = (Bytef *)out;
	zs.avail_out = (1 << 20) - 1;
	if (inflate(&zs, Z_FINISH) != Z_STREAM_END) {
		free(out);
		out = NULL;
	}
	inflateEnd(&zs);
	return out;
}

static void gzip_get(const char *path, const char *accept, struct reply *r)
{
	struct request q = { .host = "127.0.0.1", .port = port, .method = "GET", .path = path,
			     .headers = { accept } };

	perform(&q, r);
}

/* /api/flamegraph answers compressed to a client that takes gzip (the
 * page's JSON shrinks about 5 times), never its pprof (gzipped already). */
static void test_flamegraph_gzip(void)
{
	struct reply r;
	char *plain;

	gzip_get("/api/flamegraph?seconds=1", "Accept-Encoding: gzip, deflate, br", &r);
	CHECK_INT(r.status, ==, 200);
	CHECK_HEADER(&r, "Content-Encoding", "gzip");
	CHECK_HEADER(&r, "Vary", "Accept-Encoding");
	plain = gunzip(&r.body);
	CHECK(plain && strcmp(plain, PROFILE_BODY) == 0);
	free(plain);
	reply_release(&r);

	gzip_get("/api/flamegraph?seconds=1&format=folded", "Accept-Encoding: *", &r);
	CHECK_HEADER(&r, "Content-Encoding", "gzip");
	reply_release(&r);

	gzip_get("/api/flamegraph?seconds=1", "Accept-Encoding: gzip;q=0, br", &r);
	CHECK_NO_HEADER(&r, "Content-Encoding");
	CHECK_STR((const char *)r.body.data, PROFILE_BODY);
	reply_release(&r);

	gzip_get("/api/flamegraph?seconds=1&format=pprof", "Accept-Encoding: gzip", &r);
	CHECK_NO_HEADER(&r, "Content-Encoding");
	reply_release(&r);

	/* /debug/pprof/profile is pprof: never compressed again */
	gzip_get("/debug/pprof/profile?seconds=1", "Accept-Encoding: gzip", &r);
	CHECK_NO_HEADER(&r, "Content-Encoding");
	reply_release(&r);
}

static void test_flamegraph(void)
{
	static const struct {
		const char *query, *body;
	} bad[] = {
		{ "format=html5", "bad format: \"html5\": expected json, folded, svg, speedscope "
				  "or pprof\n" },
		{ "format=", "bad format: missing value\n" },
		{ "format=svg&format=json", "bad format: given more than once\n" },
		{ "format=svg%00", "bad format: \"svg\": contains a NUL byte\n" },
		{ "max_nodes=-1", "bad max_nodes: \"-1\": expected a whole number from 0 (no "
				  "limit) to 4194304\n" },
		{ "max_nodes=1e3", "bad max_nodes: \"1e3\": expected a whole number from 0 (no "
				   "limit) to 4194304\n" },
		{ "seconds=0&format=svg", "bad seconds: \"0\": must be at least 1\n" },
	};
	struct reply r;
	char path[256];

	rec_reset();
	get("/api/flamegraph?seconds=1&pid=77", &r);
	CHECK_INT(r.status, ==, 200);
	CHECK_HEADER(&r, "Content-Type", "application/json");
	CHECK_NO_HEADER(&r, "Content-Disposition");
	CHECK_INT(rec_last().pid, ==, 77);
	CHECK_INT(rec.last_how.format, ==, PPROF_FORMAT_JSON);
	CHECK_INT(rec.last_how.max_nodes, ==, 20000);
	reply_release(&r);

	get("/api/flamegraph?format=svg&max_nodes=0&seconds=1", &r);
	CHECK_INT(r.status, ==, 200);
	CHECK_HEADER(&r, "Content-Type", "image/svg+xml");
	CHECK_INT(rec.last_how.format, ==, PPROF_FORMAT_SVG);
	CHECK_INT(rec.last_how.max_nodes, ==, 0);
	reply_release(&r);

	get("/api/flamegraph?format=speedscope&max_nodes=100&seconds=1", &r);
	CHECK_HEADER(&r, "Content-Type", "application/json");
	CHECK_HEADER(&r, "Content-Disposition", "attachment; filename=\"profile.speedscope.json\"");
	CHECK_INT(rec.last_how.format, ==, PPROF_FORMAT_SPEEDSCOPE);
	CHECK_INT(rec.last_how.max_nodes, ==, 100);
	reply_release(&r);

	get("/api/flamegraph?format=folded&pid=4005", &r);
	CHECK_INT(r.status, ==, 200);
	CHECK_HEADER(&r, "Content-Type", "text/plain; charset=utf-8");
	reply_release(&r);

	/* the profile's own errors, with their status */
	get("/api/flamegraph?pid=4001", &r);
	CHECK_INT(r.status, ==, 400);
	CHECK_STR((char *)r.body.data, "process 4001 not found\n");
	reply_release(&r);

	rec_reset();
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		snprintf(path, sizeof(path), "/api/flamegraph?%s", bad[i].query);
		get(path, &r);
		CHECK_INT(r.status, ==, 400);
		CHECK_STR((char *)r.body.data, bad[i].body);
		CHECK_NO_HEADER(&r, "X-Go-Pprof");
		reply_release(&r);
	}
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

static void test_concurrency(void)
{
	struct client_job a, b;
	struct reply r;
	double t0, total;

	rec_reset();
	t0 = clock__mono_s();
	client_start(&a, "/debug/pprof/profile?seconds=1&pid=11");
	client_start(&b, "/debug/pprof/profile?seconds=1&pid=22");
	client_join(&a);
	client_join(&b);
	total = clock__mono_s() - t0;
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

TEST_MAIN(http_test_setup, http_test_teardown,
	  TEST_CASE(start_errors),
	  TEST_CASE(plain_routes, &http_server_fixture),
	  TEST_CASE(methods, &http_server_fixture),
	  TEST_CASE(profile_ok, &http_server_fixture),
	  TEST_CASE(profile_bad_input, &http_server_fixture),
	  TEST_CASE(profile_callback_errors, &http_server_fixture),
	  TEST_CASE(flamegraph, &http_server_fixture),
	  TEST_CASE(flamegraph_gzip, &http_server_fixture),
	  TEST_CASE(concurrency, &http_server_fixture),
	  TEST_CASE(health_and_metrics))
