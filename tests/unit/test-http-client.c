/* Unit tests for common/http_client: the header rule, what
 * http_client__new refuses, then requests to a loopback server in a thread
 * of this test (what is sent, answers kept, the body bound, no redirect),
 * credentials files (trimmed, refused, re-read only when they change, never
 * blocking on a FIFO, optional), and refused, timed-out and cancelled
 * requests.
 */
#include "common/http_client.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/macros.h"
#include "common/clock.h"
#include "testing.h"

DEFINE_CLEANUP(struct http_client, http_client__free)

/* ---- a loopback HTTP/1.1 server: one answer per connection ---- */

struct server {
	int fd, port;
	char url[64];
	pthread_t thread;
	atomic_bool stop;
	pthread_mutex_t lock;
	/* under lock */
	struct buf answer;       /* sent as is; empty: never answer */
	struct buf last;         /* the last request: head and body */
	int requests;
};

/* Reads one request (head, then Content-Length bytes of body) into req. */
static bool read_request(int fd, struct buf *req)
{
	char chunk[4096];
	const char *head_end = NULL;
	size_t want = SIZE_MAX;

	while (req->len < want) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 5000) <= 0)
			return false;
		n = recv(fd, chunk, sizeof(chunk), 0);
		if (n <= 0 || buf_append(req, chunk, (size_t)n))
			return false;
		if (!head_end && (head_end = strstr((const char *)req->data, "\r\n\r\n"))) {
			const char *cl = strcasestr((const char *)req->data, "\r\nContent-Length:");
			size_t body = cl && cl < head_end ? strtoul(cl + 17, NULL, 10) : 0;

			want = (size_t)(head_end + 4 - (const char *)req->data) + body;
		}
	}
	return true;
}

static void *serve(void *arg)
{
	struct server *s = arg;

	while (!atomic_load(&s->stop)) {
		struct pollfd p = { .fd = s->fd, .events = POLLIN };
		struct buf req = {}, answer = {};
		int conn;

		if (poll(&p, 1, 50) <= 0)
			continue;
		conn = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
		if (conn < 0)
			continue;
		if (read_request(conn, &req)) {
			pthread_mutex_lock(&s->lock);
			s->requests++;
			buf_reset(&s->last);
			buf_append(&s->last, req.data, req.len);
			buf_append(&answer, s->answer.data, s->answer.len);
			pthread_mutex_unlock(&s->lock);
			if (answer.len) {
				buf_write_fd(conn, answer.data, answer.len);
			} else {
				/* hang until the client gives up or the test ends */
				char c;

				while (!atomic_load(&s->stop)) {
					struct pollfd q = { .fd = conn, .events = POLLIN };

					if (poll(&q, 1, 50) > 0 && recv(conn, &c, 1, 0) <= 0)
						break;
				}
			}
		}
		close(conn);
		buf_release(&req);
		buf_release(&answer);
	}
	return NULL;
}

static int listen_loopback(int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	REQUIRE(fd >= 0);
	REQUIRE(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
	REQUIRE(listen(fd, 16) == 0);
	REQUIRE(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
	*port = ntohs(a.sin_port);
	return fd;
}

static void server_start(struct server *s)
{
	*s = (struct server){};
	pthread_mutex_init(&s->lock, NULL);
	s->fd = listen_loopback(&s->port);
	snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%d", s->port);
	REQUIRE(pthread_create(&s->thread, NULL, serve, s) == 0);
}

static void server_stop(struct server *s)
{
	atomic_store(&s->stop, true);
	pthread_join(s->thread, NULL);
	close(s->fd);
	buf_release(&s->answer);
	buf_release(&s->last);
	pthread_mutex_destroy(&s->lock);
}

/* The next answers: status line and headers, then body (Content-Length and
 * Connection: close added); NULL head: none at all. */
static void server_answer(struct server *s, const char *head, const char *body, size_t body_len)
{
	pthread_mutex_lock(&s->lock);
	buf_reset(&s->answer);
	if (head)
		REQUIRE(buf_printf(&s->answer, "%s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
				   head, body_len) == 0 &&
			buf_append(&s->answer, body, body_len) == 0);
	pthread_mutex_unlock(&s->lock);
}

static int server_requests(struct server *s)
{
	int n;

	pthread_mutex_lock(&s->lock);
	n = s->requests;
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* Whether the last request holds text (case-sensitive, head or body). */
static bool server_saw(struct server *s, const char *text)
{
	bool seen;

	pthread_mutex_lock(&s->lock);
	seen = s->last.len && strstr((const char *)s->last.data, text);
	pthread_mutex_unlock(&s->lock);
	return seen;
}

/* ---- rules ---- */

static void test_header_rule(void)
{
	CHECK(http_header__valid("X-Scope-OrgID", "team-a"));
	CHECK(http_header__valid("X-Tab", "a\tb"));
	CHECK(http_header__valid("Authorization", "Bearer x"));
	CHECK(http_header__valid("x!#$%&'*+-.^_`|~9", ""));
	CHECK(!http_header__valid("", "x"));
	CHECK(!http_header__valid(NULL, "x"));
	CHECK(!http_header__valid("X", NULL));
	CHECK(!http_header__valid("X A", "x"));
	CHECK(!http_header__valid("X:A", "x"));
	CHECK(!http_header__valid("X\x80", "x"));
	/* what libcurl or the protocol sets */
	CHECK(!http_header__valid("Content-Type", "text/plain"));
	CHECK(!http_header__valid("expect", "100-continue"));
	CHECK(!http_header__valid("HOST", "evil"));
	/* no line breaks, no control characters but tab */
	CHECK(!http_header__valid("X", "a\r\nX-Evil: 1"));
	CHECK(!http_header__valid("X", "a\nb"));
	CHECK(!http_header__valid("X", "a\x01"));
	CHECK(!http_header__valid("X", "a\x7f"));
}

static void test_new_rules(void)
{
	const struct http_header bad = { "X-Bad", "a\x1b[31m" };
	struct http_client_opts o = { .base_url = "http://127.0.0.1:1///", .max_response_bytes = 1 };
	struct http_client *c = NULL;

	CHECK_INT(http_client__new(&o, &c), ==, 0);
	CHECK_STR(http_client__base_url(c), "http://127.0.0.1:1");
	http_client__free(TAKE_PTR(c));
	http_client__free(NULL);
	http_client__cancel(NULL);
	CHECK(http_client__base_url(NULL) == NULL);

	for (size_t i = 0; i < 7; i++) {
		static const char *const urls[] = { "ftp://x", "http://x/a b", "http://x/?q=1",
						    "http://x/#f", "http://x/\ta", "http://x/\x7f",
						    "x" };
		o.base_url = urls[i];
		CHECK_INT(http_client__new(&o, &c), ==, -EINVAL);
	}
	o.base_url = NULL;
	CHECK_INT(http_client__new(&o, &c), ==, -EINVAL);
	o.base_url = "https://x";
	o.max_response_bytes = 0;
	CHECK_INT(http_client__new(&o, &c), ==, -EINVAL);
	o.max_response_bytes = 1;
	o.bearer_token_file = "/t";
	o.basic_auth_username = "u";
	o.basic_auth_password_file = "/p";
	CHECK_INT(http_client__new(&o, &c), ==, -EINVAL);
	o.bearer_token_file = NULL;
	o.basic_auth_password_file = NULL;
	CHECK_INT(http_client__new(&o, &c), ==, -EINVAL);
	o.basic_auth_username = NULL;
	o.headers = &bad;
	o.n_headers = 1;
	CHECK_INT(http_client__new(&o, &c), ==, -EINVAL);
	o.headers = NULL;
	o.n_headers = 0;

	/* TLS files, when asked: at once, naming the file (logged) */
	o.check_tls_files = true;
	o.name = "test";
	o.ca_file = "/nonexistent/ca.crt";
	CHECK_INT(http_client__new(&o, &c), ==, -ENOENT);
	o.ca_file = NULL;
	o.key_file = "/nonexistent/client.key";
	CHECK_INT(http_client__new(&o, &c), ==, -EINVAL);
	/* not asked: libcurl finds out at connection time */
	o.check_tls_files = false;
	o.key_file = NULL;
	o.ca_file = "/nonexistent/ca.crt";
	CHECK_INT(http_client__new(&o, &c), ==, 0);
	http_client__free(TAKE_PTR(c));
	CHECK(c == NULL);
}

/* ---- requests ---- */

/* The loopback server and the directory of token files the requests
 * cases share: a fixture (testing.h), so a case run alone has them too. */
static struct server server;
static struct server *s = &server;
static char dir[] = "/tmp/test-http-client-XXXXXX";

static void server_up(void)
{
	REQUIRE(mkdtemp(dir));
	server_start(s);
}

static void server_down(void)
{
	server_stop(s);
	unlink(test_fmt("%s/token", dir));
	unlink(test_fmt("%s/password", dir));
	rmdir(dir);
	strcpy(dir, "/tmp/test-http-client-XXXXXX");
}

static void test_exchange(void)
{
	const struct http_header fixed[] = { { "Accept", "application/json" },
					     { "X-Test", "yes\tindeed" } };
	struct http_client_opts o = { .base_url = s->url, .headers = fixed, .n_headers = 2,
				      .timeout_ms = 5000, .max_response_bytes = 4096 };
	const struct http_header ctype = { "Content-Type", "application/proto" };
	struct http_request get = { .path = "/p?q=1" };
	struct http_request post = { .path = "/post", .post = true, .body = "abc\0def",
				     .body_len = 7, .headers = &ctype, .n_headers = 1 };
	_cleanup_(cleanup_http_client__free) struct http_client *c = NULL;
	struct http_response r = {};
	char big[10000];
	int n;

	REQUIRE(http_client__new(&o, &c) == 0);

	server_answer(s, "HTTP/1.1 201 Created\r\nX-Reply: r1", "hi", 2);
	CHECK_INT(http_client__perform(c, &get, &r), ==, 0);
	CHECK_INT(r.result, ==, HTTP_OK);
	CHECK_INT(r.status, ==, 201);
	CHECK_STR((const char *)r.body.data, "hi");
	CHECK(r.headers.len && strstr((const char *)r.headers.data, "X-Reply: r1\r\n"));
	CHECK(server_saw(s, "GET /p?q=1 HTTP/1.1\r\n"));
	CHECK(server_saw(s, "\r\nAccept: application/json\r\n"));
	CHECK(server_saw(s, "\r\nX-Test: yes\tindeed\r\n"));
	CHECK(server_saw(s, "\r\nUser-Agent: brasa/"));
	CHECK(!server_saw(s, "Authorization"));
	CHECK(!server_saw(s, "Expect"));

	/* a POST, then a GET again on the same handle */
	server_answer(s, "HTTP/1.1 200 OK", "", 0);
	CHECK_INT(http_client__perform(c, &post, &r), ==, 0);
	CHECK_INT(r.result, ==, HTTP_OK);
	CHECK_INT(r.status, ==, 200);
	CHECK_U64(r.body.len, ==, 0);
	CHECK(server_saw(s, "POST /post HTTP/1.1\r\n"));
	CHECK(server_saw(s, "\r\nContent-Type: application/proto\r\n"));
	CHECK(server_saw(s, "\r\nContent-Length: 7\r\n"));
	CHECK(server_saw(s, "\r\n\r\nabc"));
	CHECK_INT(http_client__perform(c, &get, &r), ==, 0);
	CHECK(server_saw(s, "GET /p?q=1 HTTP/1.1\r\n"));

	/* a redirect is an answer, never followed */
	n = server_requests(s);
	server_answer(s, test_fmt("HTTP/1.1 302 Found\r\nLocation: %s/elsewhere", s->url),
		      "", 0);
	CHECK_INT(http_client__perform(c, &get, &r), ==, 0);
	CHECK_INT(r.result, ==, HTTP_OK);
	CHECK_INT(r.status, ==, 302);
	CHECK_INT(server_requests(s), ==, n + 1);

	/* the body bound: up to it whole, past it the transfer ends with its
	 * start kept */
	memset(big, 'a', sizeof(big));
	server_answer(s, "HTTP/1.1 200 OK", big, 4096);
	CHECK_INT(http_client__perform(c, &get, &r), ==, 0);
	CHECK_INT(r.result, ==, HTTP_OK);
	CHECK_U64(r.body.len, ==, 4096);
	big[0] = 'b';
	server_answer(s, "HTTP/1.1 503 Unavailable", big, sizeof(big));
	CHECK_INT(http_client__perform(c, &get, &r), ==, 0);
	CHECK_INT(r.result, ==, HTTP_TOO_LARGE);
	CHECK_INT(r.status, ==, 503);
	CHECK_U64(r.body.len, ==, 4096);
	CHECK(r.body.data[0] == 'b' && r.body.data[4095] == 'a' && r.body.data[4096] == 0);
	http_response__release(&r);
	http_response__release(&r);
}

static void write_file(const char *path, const void *data, size_t len)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	REQUIRE(fd >= 0);
	REQUIRE(buf_write_fd(fd, data, len) == 0);
}

/* Through a rename, as the kubelet and most tools rotate secrets. */
static void replace_bytes(const char *path, const void *data, size_t len)
{
	const char *tmp = test_fmt("%s.new", path);

	write_file(tmp, data, len);
	REQUIRE(rename(tmp, path) == 0);
}

static void replace_file(const char *path, const char *text)
{
	replace_bytes(path, text, strlen(text));
}

/* One GET; the result, with the Authorization header the server saw (if
 * any) in auth. */
static enum http_result get_auth(struct server *s, struct http_client *c,
				 struct http_response *r, char *auth, size_t len)
{
	struct http_request req = { .path = "/" };
	int before = server_requests(s);

	auth[0] = 0;
	REQUIRE(http_client__perform(c, &req, r) == 0);
	if (server_requests(s) > before) {
		const char *h;

		pthread_mutex_lock(&s->lock);
		h = strstr((const char *)s->last.data, "\r\nAuthorization: ");
		if (h)
			snprintf(auth, len, "%.*s", (int)strcspn(h + 17, "\r"), h + 17);
		pthread_mutex_unlock(&s->lock);
	}
	return r->result;
}

static void test_token_files(void)
{
	char token[4096], auth[HTTP_SECRET_MAX + 64], big[HTTP_SECRET_MAX + 2];
	struct http_client_opts o = { .base_url = s->url, .bearer_token_file = token,
				      .timeout_ms = 5000, .max_response_bytes = 4096 };
	_cleanup_(cleanup_http_client__free) struct http_client *c = NULL, *optional = NULL;
	struct http_response r = {};
	struct timespec times[2];
	struct stat st;
	int n;

	snprintf(token, sizeof(token), "%s/token", dir);
	server_answer(s, "HTTP/1.1 200 OK", "", 0);
	REQUIRE(http_client__new(&o, &c) == 0);

	/* trailing whitespace trimmed */
	replace_file(token, "tok-1 \t\n");
	CHECK_INT(get_auth(s, c, &r, auth, sizeof(auth)), ==, HTTP_OK);
	CHECK_STR(auth, "Bearer tok-1");
	CHECK_INT(r.auth_err, ==, 0);
	replace_file(token, "tok-2\r\n");
	CHECK_INT(get_auth(s, c, &r, auth, sizeof(auth)), ==, HTTP_OK);
	CHECK_STR(auth, "Bearer tok-2");

	/* read again only when it changes: the same inode, size and mtime
	 * keep the token read before */
	REQUIRE(stat(token, &st) == 0);
	write_file(token, "tok-3\r\n", 7);
	times[0] = st.st_atim;
	times[1] = st.st_mtim;
	REQUIRE(utimensat(AT_FDCWD, token, times, 0) == 0);
	CHECK_INT(get_auth(s, c, &r, auth, sizeof(auth)), ==, HTTP_OK);
	CHECK_STR(auth, "Bearer tok-2");
	times[1].tv_sec++;
	REQUIRE(utimensat(AT_FDCWD, token, times, 0) == 0);
	CHECK_INT(get_auth(s, c, &r, auth, sizeof(auth)), ==, HTTP_OK);
	CHECK_STR(auth, "Bearer tok-3");

	/* what is refused: nothing goes out */
	replace_file(token, "tok 4");
	CHECK_INT(get_auth(s, c, &r, auth, sizeof(auth)), ==, HTTP_AUTH_FILE);
	CHECK(strstr(r.message, "holds spaces") != NULL);
	CHECK(strstr(r.message, token) != NULL);
	replace_file(token, "tok\x01" "5");
	CHECK_INT(get_auth(s, c, &r, auth, sizeof(auth)), ==, HTTP_AUTH_FILE);
	CHECK(strstr(r.message, "control characters") != NULL);
	replace_bytes(token, "tok\0" "6", 5);
	CHECK_INT(get_auth(s, c, &r, auth, sizeof(auth)), ==, HTTP_AUTH_FILE);
	CHECK(strstr(r.message, "control characters") != NULL);
	replace_file(token, "tok-7\nX-Evil: 1\n");
	CHECK_INT(get_auth(s, c, &r, auth, sizeof(auth)), ==, HTTP_AUTH_FILE);
	CHECK(strstr(r.message, "not a single line") != NULL);
	replace_file(token, " \n\n");
	CHECK_INT(get_auth(s, c, &r, auth, sizeof(auth)), ==, HTTP_AUTH_FILE);
	CHECK(strstr(r.message, "is empty") != NULL);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	replace_file(token, big);
	CHECK_INT(get_auth(s, c, &r, auth, sizeof(auth)), ==, HTTP_AUTH_FILE);
	CHECK(strstr(r.message, strerror(EFBIG)) != NULL);
	big[HTTP_SECRET_MAX] = 0; /* at the bound: fine */
	replace_file(token, big);
	CHECK_INT(get_auth(s, c, &r, auth, sizeof(auth)), ==, HTTP_OK);
	CHECK_U64(strlen(auth), ==, strlen("Bearer ") + HTTP_SECRET_MAX);
	n = server_requests(s);
	REQUIRE(unlink(token) == 0);
	CHECK_INT(get_auth(s, c, &r, auth, sizeof(auth)), ==, HTTP_AUTH_FILE);
	CHECK(strstr(r.message, strerror(ENOENT)) != NULL);
	/* a FIFO in its place: refused at once, not waited on */
	REQUIRE(mkfifo(token, 0600) == 0);
	{
		double t = clock__mono_s();

		CHECK_INT(get_auth(s, c, &r, auth, sizeof(auth)), ==, HTTP_AUTH_FILE);
		CHECK(clock__mono_s() - t < 2);
	}
	REQUIRE(unlink(token) == 0);
	CHECK_INT(server_requests(s), ==, n);

	/* optional: the request goes without, saying why */
	o.auth_optional = true;
	REQUIRE(http_client__new(&o, &optional) == 0);
	CHECK_INT(get_auth(s, optional, &r, auth, sizeof(auth)), ==, HTTP_OK);
	CHECK_STR(auth, "");
	CHECK_INT(r.auth_err, ==, -ENOENT);
	replace_file(token, "\n");
	CHECK_INT(get_auth(s, optional, &r, auth, sizeof(auth)), ==, HTTP_OK);
	CHECK_INT(r.auth_err, ==, -ENODATA);
	replace_file(token, "a b");
	CHECK_INT(get_auth(s, optional, &r, auth, sizeof(auth)), ==, HTTP_OK);
	CHECK_STR(auth, "");
	CHECK_INT(r.auth_err, ==, -EBADMSG);
	replace_file(token, "ok");
	CHECK_INT(get_auth(s, optional, &r, auth, sizeof(auth)), ==, HTTP_OK);
	CHECK_STR(auth, "Bearer ok");
	CHECK_INT(r.auth_err, ==, 0);
	http_response__release(&r);
}

static void test_password_file(void)
{
	char password[4096], auth[256];
	struct http_client_opts o = { .base_url = s->url, .basic_auth_username = "user",
				      .basic_auth_password_file = password, .timeout_ms = 5000,
				      .max_response_bytes = 4096 };
	_cleanup_(cleanup_http_client__free) struct http_client *c = NULL;
	struct http_response r = {};

	snprintf(password, sizeof(password), "%s/password", dir);
	server_answer(s, "HTTP/1.1 200 OK", "", 0);
	REQUIRE(http_client__new(&o, &c) == 0);
	/* a space is fine in a password: it is base64'd */
	replace_file(password, "pass word\n");
	CHECK_INT(get_auth(s, c, &r, auth, sizeof(auth)), ==, HTTP_OK);
	CHECK_STR(auth, "Basic dXNlcjpwYXNzIHdvcmQ=");
	replace_file(password, "pass\tword\n");
	CHECK_INT(get_auth(s, c, &r, auth, sizeof(auth)), ==, HTTP_AUTH_FILE);
	CHECK(strstr(r.message, "control characters") != NULL);
	http_response__release(&r);
}

struct cancel_arg {
	struct http_client *c;
	int after_ms;
};

static void *cancel_later(void *arg)
{
	struct cancel_arg *a = arg;

	usleep((useconds_t)a->after_ms * 1000);
	http_client__cancel(a->c);
	return NULL;
}

static void test_failed_requests(void)
{
	struct http_client_opts o = { .timeout_ms = 300, .max_response_bytes = 4096 };
	_cleanup_(cleanup_http_client__free) struct http_client *c = NULL, *slow = NULL;
	struct http_request req = { .path = "/" };
	struct http_response r = {};
	struct cancel_arg a;
	pthread_t th;
	double t;
	int port, fd;

	/* refused: nothing listens there any more */
	fd = listen_loopback(&port);
	close(fd);
	o.base_url = test_fmt("http://127.0.0.1:%d", port);
	REQUIRE(http_client__new(&o, &c) == 0);
	CHECK_INT(http_client__perform(c, &req, &r), ==, 0);
	CHECK_INT(r.result, ==, HTTP_NETWORK);
	CHECK_INT(r.status, ==, 0);
	CHECK(r.message[0] != 0);
	http_client__free(TAKE_PTR(c));

	/* no answer within the timeout */
	server_answer(s, NULL, NULL, 0);
	o.base_url = s->url;
	REQUIRE(http_client__new(&o, &c) == 0);
	t = clock__mono_s();
	CHECK_INT(http_client__perform(c, &req, &r), ==, 0);
	CHECK_INT(r.result, ==, HTTP_TIMEOUT);
	CHECK(r.message[0] != 0);
	CHECK(clock__mono_s() - t < 3);

	/* a cancel ends the request at once, and every later one */
	o.timeout_ms = 20000;
	REQUIRE(http_client__new(&o, &slow) == 0);
	a = (struct cancel_arg){ slow, 200 };
	REQUIRE(pthread_create(&th, NULL, cancel_later, &a) == 0);
	t = clock__mono_s();
	CHECK_INT(http_client__perform(slow, &req, &r), ==, 0);
	CHECK_INT(r.result, ==, HTTP_CANCELLED);
	/* woken, not polled: well under POLL_MS on an idle machine */
	CHECK(clock__mono_s() - t < 2);
	pthread_join(th, NULL);
	t = clock__mono_s();
	CHECK_INT(http_client__perform(slow, &req, &r), ==, 0);
	CHECK_INT(r.result, ==, HTTP_CANCELLED);
	CHECK(clock__mono_s() - t < 1);
	http_response__release(&r);
}

static struct test_fixture server_fixture = { server_up, server_down };

TEST_MAIN(NULL, NULL,
	  TEST_CASE(header_rule),
	  TEST_CASE(new_rules),
	  TEST_CASE(exchange, &server_fixture),
	  TEST_CASE(token_files, &server_fixture),
	  TEST_CASE(password_file, &server_fixture),
	  TEST_CASE(failed_requests, &server_fixture))
