/* The HTTP server behind http_api over real sockets
 * (tests/unit/http_harness.h): its route table, a second server on a port
 * in use, clients that vanish, hold connections, trickle requests, lie
 * about Host or send bodies too large, the limits that keep /healthz
 * answering through all that, stopping with a request in flight. TLS and
 * authentication: test-http-auth.c. */
#include "serve/http_server.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "serve/http_api.h"
#include "http_harness.h"
#include "testing.h"

/* --- the route table, on a server of its own --- */

/* Answers "CTX PATH METHOD ?QUERY". */
static int echo_handler(void *ctx, struct http_request *req)
{
	char body[HTTP_QUERY_MAX + 128];
	const char *q;
	size_t len;

	if (http_request__query(req, &q, &len))
		return http_request__error(req, 414, NULL, NULL, "query too long");
	snprintf(body, sizeof(body), "%s %s %u ?%.*s", (const char *)ctx, http_request__path(req),
		 http_request__method(req), (int)len, q);
	return http_request__reply(req, 200, "text/plain", body);
}

static void test_route_table(void)
{
	static const struct http_route first[] = {
		{ "/a", HTTP_GET | HTTP_POST, 0, echo_handler },
		{ "/tree/", HTTP_ANY_METHOD, HTTP_ROUTE_PREFIX | HTTP_ROUTE_GO_PPROF, echo_handler },
		{ "/body", HTTP_POST, 0, echo_handler, .body_max = 10, .name = "test body" },
	};
	static const struct http_route second[] = {
		{ "/tree/x", HTTP_GET, 0, echo_handler }, /* the prefix above takes it */
		{ "/b", HTTP_HEAD | HTTP_GET, 0, echo_handler },
	};
	struct http_server_opts o = { .address = "127.0.0.1:0" };
	struct http_server_stats st;
	struct http_server *s;
	char err[256] = "", longpath[2100] = "/tree/?";
	struct reply r;
	uint16_t p;

	REQUIRE(http_server__new(&o, &s, err, sizeof(err)) == 0);
	REQUIRE(http_server__add_routes(s, first, ARRAY_SIZE(first), "one") == 0);
	REQUIRE(http_server__add_routes(s, second, ARRAY_SIZE(second), "two") == 0);
	CHECK_INT(http_server__port(s), ==, 0);
	REQUIRE(http_server__start(s, err, sizeof(err)) == 0);
	p = http_server__port(s);
	CHECK(p != 0);

	http_request("127.0.0.1", p, "GET", "/a?k=v&x", &r);
	CHECK_INT(r.status, ==, 200);
	CHECK_STR((char *)r.body.data, "one /a 1 ?k=v&x");
	reply_release(&r);
	http_request("127.0.0.1", p, "GET", "/b", &r);
	CHECK_STR((char *)r.body.data, "two /b 1 ?");
	reply_release(&r);
	/* the first route added that matches, with its own ctx */
	http_request("127.0.0.1", p, "DELETE", "/tree/x", &r);
	CHECK_INT(r.status, ==, 200);
	CHECK_STR((char *)r.body.data, "one /tree/x 8 ?");
	reply_release(&r);
	/* Allow says the route's methods; a 405 is never a pprof error */
	http_request("127.0.0.1", p, "PUT", "/a", &r);
	CHECK_INT(r.status, ==, 405);
	CHECK_HEADER(&r, "Allow", "GET, POST");
	CHECK_STR((char *)r.body.data, "method not allowed\n");
	reply_release(&r);
	http_request("127.0.0.1", p, "POST", "/b", &r);
	CHECK_INT(r.status, ==, 405);
	CHECK_HEADER(&r, "Allow", "GET, HEAD");
	reply_release(&r);
	/* a prefix takes what is under it, not itself without the slash */
	http_request("127.0.0.1", p, "GET", "/tree", &r);
	CHECK_INT(r.status, ==, 404);
	CHECK_STR((char *)r.body.data, "404 page not found\n");
	CHECK_NO_HEADER(&r, "X-Go-Pprof");
	reply_release(&r);
	/* a query string past HTTP_QUERY_MAX is not kept; the handler's
	 * errors carry its route's style */
	memset(longpath + strlen(longpath), 'q', HTTP_QUERY_MAX + 1);
	http_request("127.0.0.1", p, "GET", longpath, &r);
	CHECK_INT(r.status, ==, 414);
	CHECK_STR((char *)r.body.data, "query too long\n");
	CHECK_HEADER(&r, "X-Go-Pprof", "1");
	reply_release(&r);
	/* a body is read before the handler runs, and bounded */
	{
		struct request q = { .port = p, .method = "POST", .path = "/body",
				     .chunked_body = 10 };

		perform(&q, &r);
		CHECK_INT(r.status, ==, 200);
		CHECK_STR((char *)r.body.data, "one /body 4 ?");
		reply_release(&r);
		q.chunked_body = 11;
		perform(&q, &r);
		CHECK_INT(r.status, ==, 413);
		CHECK_STR((char *)r.body.data, "test body larger than 10 bytes\n");
		CHECK_HEADER(&r, "Connection", "close");
		reply_release(&r);
	}
	http_server__stats(s, &st);
	CHECK_U64(st.rejected[HTTP_REJECT_TOO_LARGE], ==, 1);
	CHECK(!st.token_file);
	http_server__free(s);
	http_server__free(NULL);
	CHECK_INT(http_server__port(NULL), ==, 0);
}

static void test_addr_in_use(void)
{
	char addr[64], err[256];
	struct http_api_opts o;
	struct http_api *second;

	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	base_opts(&o, addr);
	errno = 0;
	second = api_start(&o, err, sizeof(err));
	CHECK(second == NULL);
	CHECK_INT(errno, ==, EADDRINUSE);
	CHECK(strstr(err, "failed to listen on '127.0.0.1:") && strstr(err, "Address already in use"));
	http_api__stop(second);
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

static void test_ipv6(void)
{
	struct http_api *h;
	struct reply r;
	char err[256];
	struct http_api_opts o;

	base_opts(&o, "[::1]:0");
	errno = 0;
	h = api_start(&o, err, sizeof(err));
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
	t0 = clock__mono_s();
	http_api__stop(h);
	took = clock__mono_s() - t0;
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
	/* during the burst a probe loses the race now and then (4 of 20 won
	 * it in one sanitized run, 20 of 20 usually): some answered, none
	 * slow; after it, every one (below) */
	CHECK_INT(ok, >=, 1);
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
	t0 = clock__mono_s();
	CHECK(closed_within(fd, 8000));
	took = clock__mono_s() - t0;
	fprintf(stderr, "idle connection closed after %.2f s (read timeout 1 s)\n", took);
	CHECK(took >= 0.9 && took < 6.0);
	close(fd);
	/* one that has sent a byte: a read timeout after it */
	fd = connect_held(p, NULL);
	t0 = clock__mono_s();
	CHECK(closed_within(fd, 5000));
	took = clock__mono_s() - t0;
	fprintf(stderr, "connection with a byte of request closed after %.2f s\n", took);
	CHECK(took >= 0.9 && took < 2.5);
	close(fd);

	/* slow loris: a header byte every 150 ms keeps microhttpd's own
	 * inactivity timer from ever firing; the deadline still does */
	fd = connect_raw(p);
	t0 = clock__mono_s();
	CHECK(send_text(fd, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"));
	while (clock__mono_s() - t0 < 5 && !(closed = closed_within(fd, 150)))
		if (!send_text(fd, "X"))
			closed = true;
	took = clock__mono_s() - t0;
	fprintf(stderr, "slow-loris connection closed after %.2f s\n", took);
	CHECK(closed);
	CHECK(took >= 0.9 && took < 2.5);
	close(fd);

	/* the same with a body that trickles in */
	fd = connect_raw(p);
	t0 = clock__mono_s();
	CHECK(send_text(fd, "POST /debug/pprof/symbol HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			    "Content-Length: 1000\r\n\r\n"));
	closed = false;
	while (clock__mono_s() - t0 < 5 && !(closed = closed_within(fd, 150)))
		if (!send_text(fd, "0x1+"))
			closed = true;
	took = clock__mono_s() - t0;
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
	t0 = clock__mono_s();
	sleep_ms(4000);
	http_api__stats(h, &st);
	CHECK_U64(st.closed[HTTP_CLOSE_REPLY_TIMEOUT], ==, 1);
	fprintf(stderr, "a reply nobody reads: %llu closed for it within %.1f s (reply timeout 2 s)\n",
		(unsigned long long)st.closed[HTTP_CLOSE_REPLY_TIMEOUT], clock__mono_s() - t0);
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

TEST_MAIN(http_test_setup, http_test_teardown,
	  TEST_CASE(route_table),
	  TEST_CASE(addr_in_use, &http_server_fixture),
	  TEST_CASE(client_disconnect, &http_server_fixture),
	  TEST_CASE(host_check, &http_server_fixture),
	  TEST_CASE(symbol_body, &http_server_fixture),
	  TEST_CASE(held_connections),
	  TEST_CASE(connection_burst),
	  TEST_CASE(per_address_limit),
	  TEST_CASE(read_timeout),
	  TEST_CASE(ipv6),
	  TEST_CASE(stop_in_flight))
