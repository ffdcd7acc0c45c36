/* k8s: the poller against tests/tools/fake-kube-api.py on a loopback port:
 * first list, early re-list on a miss and its bounds, 401 and token
 * rotation, garbage, 500, a killed and a slow server, an oversized list,
 * what is logged; and over HTTPS (certificates made for the run by
 * tests/tools/make-test-certs.sh): the CA file lists pods, a wrong CA is a
 * connect failure logged once. Also the in-cluster URL. (The parser:
 * test-k8s-pods.c.)
 *
 * argv: python3, fake-kube-api.py, fixtures/k8s/pods.json
 */
#include "labels/k8s.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/labels.h"
#include "common/macros.h"
#include "k8s-fixture.h"
#include "common/clock.h"
#include "testing.h"

extern char **environ;

static const char *python, *server_script, *fixture_path;
static struct buf fixture;
static char tmpdir[64];

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Polls cond every 10 ms for up to ms milliseconds. */
#define WAIT_FOR(cond, ms)                                                    \
	({                                                                    \
		double _end = clock__mono_s() + (ms) / 1000.0;                        \
		bool _ok;                                                     \
		while (!(_ok = (cond)) && clock__mono_s() < _end)                     \
			sleep_ms(10);                                         \
		_ok;                                                          \
	})

static void test_in_cluster_url(void)
{
	char url[64];

	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	CHECK_INT(k8s__in_cluster_url(url, sizeof(url)), ==, -ENOENT);
	setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
	CHECK_INT(k8s__in_cluster_url(url, sizeof(url)), ==, -ENOENT);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	CHECK_INT(k8s__in_cluster_url(url, sizeof(url)), ==, 0);
	CHECK_STR(url, "https://10.96.0.1:443");
	setenv("KUBERNETES_SERVICE_HOST", "fd00:10:96::1", 1);
	CHECK_INT(k8s__in_cluster_url(url, sizeof(url)), ==, 0);
	CHECK_STR(url, "https://[fd00:10:96::1]:443");
	CHECK_INT(k8s__in_cluster_url(url, 10), ==, -ENAMETOOLONG);
	setenv("KUBERNETES_SERVICE_PORT", "443x", 1);
	CHECK_INT(k8s__in_cluster_url(url, sizeof(url)), ==, -EINVAL);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	setenv("KUBERNETES_SERVICE_HOST", "evil.example/x?", 1);
	CHECK_INT(k8s__in_cluster_url(url, sizeof(url)), ==, -EINVAL);
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
}

/* ---- the poller against fake-kube-api.py ------------------------------- */

struct server {
	pid_t pid;
	int port;
};

static char server_fixture[128], server_token[128], client_token[128],
	ready_file[128], request_log[128], stderr_file[128];

static void write_file_atomic(const char *path, const char *text)
{
	char tmp[160];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	REQUIRE(f);
	REQUIRE(fputs(text, f) >= 0);
	REQUIRE(fclose(f) == 0);
	REQUIRE(rename(tmp, path) == 0);
}

/* The same bearer token on both sides: the server's file, then the
 * client's. */
static void write_tokens(const char *token)
{
	write_file_atomic(server_token, token);
	write_file_atomic(client_token, token);
}

/* What a server starts from: the fixture's pod list, token on both sides,
 * no request log. */
static void server_files_reset(const char *token)
{
	write_file_atomic(server_fixture, (const char *)fixture.data);
	write_tokens(token);
	unlink(request_log);
}

static int read_port(void)
{
	struct buf b = { 0 };
	int port = -1;

	if (buf_read_file(ready_file, &b, 64) == 0 && b.len)
		port = atoi((char *)b.data);
	buf_release(&b);
	return port;
}

/* port 0: a free one. mode: ok, garbage, 500, slow. cert and key: serve
 * HTTPS with them (NULL: plain HTTP). */
static struct server start_server_tls(int port, const char *mode, const char *cert,
				      const char *key)
{
	char port_arg[16];
	const char *argv[] = {
		python, server_script, "--fixture", server_fixture,
		"--port", port_arg, "--ready-file", ready_file,
		"--token-file", server_token, "--mode", mode,
		"--slow-seconds", "30", "--request-log", request_log,
		cert ? "--tls-cert" : NULL, cert, "--tls-key", key, NULL,
	};
	struct server s = { -1, -1 };
	int err;

	snprintf(port_arg, sizeof(port_arg), "%d", port);
	unlink(ready_file);
	err = posix_spawn(&s.pid, python, NULL, NULL, (char *const *)argv, environ);
	REQUIRE(err == 0);
	REQUIRE(WAIT_FOR(access(ready_file, F_OK) == 0, 10000));
	s.port = read_port();
	REQUIRE(s.port > 0);
	return s;
}

static struct server start_server(int port, const char *mode)
{
	return start_server_tls(port, mode, NULL, NULL);
}

static void stop_server(struct server *s, int sig)
{
	if (s->pid <= 0)
		return;
	kill(s->pid, sig);
	waitpid(s->pid, NULL, 0);
	s->pid = -1;
}

static struct k8s_stats stats_of(struct k8s *k)
{
	struct k8s_stats st;

	k8s__stats(k, &st);
	return st;
}

static uint64_t successes(struct k8s *k)
{
	struct k8s_stats st = stats_of(k);

	return st.polls - st.failures;
}

static bool lookup_ok(struct k8s *k, const char *uid, const char *cid,
		      const char *label, const char *want)
{
	struct labels ls = { 0 };
	bool ok = k8s__lookup(k, uid, cid, &ls) == 0 &&
		  labels__get(&ls, label) && strcmp(labels__get(&ls, label), want) == 0;

	labels__clear(&ls);
	return ok;
}

static void check_sums(struct k8s *k)
{
	struct k8s_stats st = stats_of(k);

	CHECK_U64(st.failures, ==, st.failures_connect + st.failures_http +
		  st.failures_parse + st.failures_too_large);
}

struct logged {
	double t;
	int status;
	char token[64], accept[64], path[160];
	int gzip;
};

/* The fake server's request log, oldest first; returns how many. */
static size_t read_request_log(struct logged *out, size_t max)
{
	FILE *f = fopen(request_log, "re");
	char line[512];
	size_t n = 0;

	if (!f)
		return 0;
	while (n < max && fgets(line, sizeof(line), f)) {
		struct logged *l = &out[n];

		if (sscanf(line, "t=%lf status=%d token=%63s accept=%63s gzip=%d path=%159s",
			   &l->t, &l->status, l->token, l->accept, &l->gzip, l->path) == 6)
			n++;
	}
	fclose(f);
	return n;
}

/* A fixture with one pod more, as if the scheduler had just bound it. */
static void add_pod_to_server_fixture(void)
{
	struct json_object *doc = json_tokener_parse((const char *)fixture.data);
	struct json_object *items, *pod = NULL, *meta, *status, *statuses, *cs;

	REQUIRE(doc && json_object_object_get_ex(doc, "items", &items));
	REQUIRE(json_object_deep_copy(json_object_array_get_idx(items, 1), &pod, NULL) == 0);
	REQUIRE(json_object_object_get_ex(pod, "metadata", &meta));
	json_object_object_add(meta, "uid", json_object_new_string(UID_NEW));
	json_object_object_add(meta, "name", json_object_new_string("redis-1"));
	REQUIRE(json_object_object_get_ex(pod, "status", &status));
	REQUIRE(json_object_object_get_ex(status, "containerStatuses", &statuses));
	cs = json_object_array_get_idx(statuses, 0);
	json_object_object_add(cs, "containerID",
			       json_object_new_string("docker://" ID_NEW));
	json_object_array_add(items, pod);
	write_file_atomic(server_fixture,
			  json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN));
	json_object_put(doc);
}

static int redirect_stderr(void)
{
	int saved = dup(STDERR_FILENO);
	int fd = open(stderr_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	REQUIRE(saved >= 0 && fd >= 0);
	fflush(stderr);
	dup2(fd, STDERR_FILENO);
	close(fd);
	return saved;
}

/* Puts stderr back and returns what was written meanwhile (echoed). */
static void restore_stderr(int saved, struct buf *captured)
{
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	buf_reset(captured);
	REQUIRE(buf_read_file(stderr_file, captured, 1 << 20) == 0);
	fprintf(stderr, "--- captured log ---\n%s--- end ---\n", (char *)captured->data);
}

static int count_of(const struct buf *b, const char *needle)
{
	int n = 0;

	for (const char *p = (const char *)b->data; p && (p = strstr(p, needle)); p++)
		n++;
	return n;
}

static void make_opts(struct k8s_opts *o, char *url, size_t urlsz, int port)
{
	snprintf(url, urlsz, "http://127.0.0.1:%d/", port);
	memset(o, 0, sizeof(*o));
	o->api_url = url;
	o->token_file = client_token;
	o->node = "node-a";
}

/* First list, lookups, early re-lists on misses (and their bounds). */
static void test_live_lists(struct server *srv)
{
	struct k8s_opts o;
	struct k8s *k = NULL;
	struct k8s_stats st;
	struct logged log[64];
	char url[64];
	size_t n;
	double t0;

	make_opts(&o, url, sizeof(url), srv->port);
	o.poll_interval_ms = 60000;
	o.timeout_ms = 5000;
	o.early_spacing_ms = 400;
	t0 = clock__mono_s();
	REQUIRE(k8s__new(&o, &k) == 0);
	/* never blocks on the network */
	CHECK(clock__mono_s() - t0 < 0.2);
	REQUIRE(WAIT_FOR(stats_of(k).ever_succeeded, 10000));
	st = stats_of(k);
	CHECK_U64(st.polls, ==, 1);
	CHECK_U64(st.failures, ==, 0);
	CHECK_U64(st.generation, ==, 1);
	CHECK_U64(st.pods, ==, 5);
	CHECK_U64(st.early_polls, ==, 0);
	CHECK(lookup_ok(k, UID_CHECKOUT, "containerd://" ID_CHECKOUT, "container", "checkout"));
	CHECK(lookup_ok(k, UID_REDIS, ID_REDIS, P "controller_kind", "StatefulSet"));
	CHECK(lookup_ok(k, HASH_PROXY, ID_PROXY, "pod", "kube-proxy-node-a"));
	{
		struct labels ls = { 0 };

		CHECK_INT(k8s__lookup(k, "no-uid", NULL, &ls), ==, -EINVAL);
		CHECK_INT(k8s__lookup(k, UID_NODE_B, NULL, &ls), ==, -ENOENT);
		CHECK_INT(ls.n, ==, 0);
	}
	/* the miss on UID_NODE_B (the server filters it out) lists again */
	CHECK(WAIT_FOR(stats_of(k).polls == 2, 15000));
	st = stats_of(k);
	CHECK_U64(st.early_polls, ==, 1);
	CHECK_U64(st.generation, ==, 1);  /* nothing changed */

	/* a new pod: the miss brings the list forward and finds it */
	add_pod_to_server_fixture();
	CHECK(!lookup_ok(k, UID_NEW, ID_NEW, "pod", "redis-1"));
	CHECK(WAIT_FOR(lookup_ok(k, UID_NEW, ID_NEW, "container", "redis"), 15000));
	st = stats_of(k);
	CHECK_U64(st.polls, ==, 3);
	CHECK_U64(st.early_polls, ==, 2);
	CHECK_U64(st.generation, ==, 2);
	CHECK_U64(st.pods, ==, 6);

	/* a container the pod does not list (yet) also lists early */
	CHECK(lookup_ok(k, UID_REDIS, ID_NEW, "pod", "redis-0"));
	CHECK(WAIT_FOR(stats_of(k).polls == 4, 15000));
	/* a uid that never appears: MISS_EARLY_POLLS (3) lists, then no more;
	 * UID_UNKNOWN asks once per completed list */
	for (int i = 0; i < 3; i++) {
		uint64_t before = stats_of(k).polls;
		struct labels ls = { 0 };

		CHECK_INT(k8s__lookup(k, UID_UNKNOWN, NULL, &ls), ==, -ENOENT);
		CHECK_INT(k8s__lookup(k, UID_UNKNOWN, NULL, &ls), ==, -ENOENT);
		CHECK(WAIT_FOR(stats_of(k).polls == before + 1, 15000));
	}
	{
		struct labels ls = { 0 };
		uint64_t before = stats_of(k).polls;

		CHECK_INT(k8s__lookup(k, UID_UNKNOWN, NULL, &ls), ==, -ENOENT);
		sleep_ms(1200);
		CHECK_U64(stats_of(k).polls, ==, before);
	}
	st = stats_of(k);
	CHECK_U64(st.polls, ==, 7);
	CHECK_U64(st.early_polls, ==, 6);
	CHECK_U64(st.failures, ==, 0);
	check_sums(k);
	k8s__free(k);

	/* what went over the wire, and how often */
	n = read_request_log(log, ARRAY_SIZE(log));
	CHECK_INT(n, ==, 7);
	for (size_t i = 0; i < n; i++) {
		CHECK_INT(log[i].status, ==, 200);
		CHECK_STR(log[i].path, "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a"
				       "&resourceVersion=0");
		CHECK_STR(log[i].token, "tok-1");
		CHECK_STR(log[i].accept, "application/json");
		CHECK_INT(log[i].gzip, ==, 1);
		/* arrival times: 400 ms apart, less the jitter of a connect */
		if (i)
			CHECK(log[i].t - log[i - 1].t >= 0.3);
	}
}

/* Failures of every kind, the cached table meanwhile, token rotation, what
 * is logged, and a prompt k8s__free with a request in flight. */
static void test_live_failures(struct server *srv)
{
	struct k8s_opts o;
	struct k8s *k = NULL;
	struct k8s_stats st, ok_st;
	struct logged log[256];
	struct buf captured = { 0 };
	uint64_t before, gen;
	char url[64];
	int saved_stderr;
	size_t n;
	double t0;

	make_opts(&o, url, sizeof(url), srv->port);
	o.poll_interval_ms = 150;
	o.timeout_ms = 2000; /* a loaded CI machine answers "ok" in under 2 s */
	REQUIRE(k8s__new(&o, &k) == 0);
	REQUIRE(WAIT_FOR(stats_of(k).ever_succeeded, 10000));
	/* the interval alone keeps listing */
	CHECK(WAIT_FOR(stats_of(k).polls >= 3, 15000));
	ok_st = stats_of(k);
	gen = ok_st.generation;
	CHECK_U64(gen, ==, 1);
	CHECK_U64(ok_st.pods, ==, 6);

	/* a wrong token: 401, an http failure; lookups answer from the cache */
	write_file_atomic(client_token, "wrong\n");
	CHECK(WAIT_FOR(stats_of(k).failures_http >= 1, 15000));
	CHECK(lookup_ok(k, UID_CHECKOUT, ID_CHECKOUT, "container", "checkout"));
	/* the token rotates on both sides: the new one is read and accepted */
	write_tokens("tok-2\n");
	before = successes(k);
	CHECK(WAIT_FOR(successes(k) > before + 1, 15000));
	n = read_request_log(log, ARRAY_SIZE(log));
	REQUIRE(n > 0);
	CHECK_STR(log[n - 1].token, "tok-2");
	CHECK_INT(log[n - 1].status, ==, 200);
	{
		bool saw_401 = false;

		for (size_t i = 0; i < n; i++)
			if (log[i].status == 401 && strcmp(log[i].token, "wrong") == 0)
				saw_401 = true;
		CHECK(saw_401);
	}

	/* garbage: a parse failure; the old table stays */
	stop_server(srv, SIGTERM);
	*srv = start_server(srv->port, "garbage");
	before = stats_of(k).failures_parse;
	CHECK(WAIT_FOR(stats_of(k).failures_parse >= before + 2, 15000));
	st = stats_of(k);
	CHECK_U64(st.pods, ==, 6);
	CHECK_U64(st.generation, ==, gen);
	CHECK(lookup_ok(k, UID_NEW, ID_NEW, "container", "redis"));

	/* 500: an http failure */
	stop_server(srv, SIGTERM);
	*srv = start_server(srv->port, "500");
	before = stats_of(k).failures_http;
	CHECK(WAIT_FOR(stats_of(k).failures_http >= before + 2, 15000));

	/* killed, then hanging: connect failures (refused, then timed out),
	 * logged once for the whole streak, lookups from the cache */
	saved_stderr = redirect_stderr();
	stop_server(srv, SIGKILL);
	before = stats_of(k).failures_connect;
	CHECK(WAIT_FOR(stats_of(k).failures_connect >= before + 3, 15000));
	CHECK(lookup_ok(k, UID_API, "cri-o://" ID_DEBUGGER, "container", "debugger-8xk2p"));
	*srv = start_server(srv->port, "slow");
	before = stats_of(k).failures_connect;
	CHECK(WAIT_FOR(stats_of(k).failures_connect >= before + 2, 15000));
	CHECK(lookup_ok(k, UID_REDIS, ID_REDIS, "pod", "redis-0"));
	stop_server(srv, SIGTERM);

	/* back: one more line, and nothing changed */
	*srv = start_server(srv->port, "ok");
	before = successes(k);
	CHECK(WAIT_FOR(successes(k) > before, 15000));
	restore_stderr(saved_stderr, &captured);
	CHECK_INT(count_of(&captured, "kubernetes API server unreachable (http://127.0.0.1:"), ==, 1);
	CHECK_INT(count_of(&captured, "keeping the last pod list (6 pods)"), ==, 1);
	CHECK_INT(count_of(&captured, "kubernetes pod list available again: 6 pods on node 'node-a'"), ==, 1);
	CHECK_INT(count_of(&captured, "warning:"), ==, 1);
	st = stats_of(k);
	CHECK_U64(st.generation, ==, gen);
	CHECK(st.failures_connect > 0 && st.failures_http > 0 && st.failures_parse > 0);
	CHECK_U64(st.failures_too_large, ==, 0);
	check_sums(k);
	k8s__free(k);
	buf_release(&captured);

	/* k8s__free does not wait out a request in flight */
	stop_server(srv, SIGTERM);
	*srv = start_server(srv->port, "slow");
	o.timeout_ms = 20000;
	REQUIRE(k8s__new(&o, &k) == 0);
	sleep_ms(300);
	CHECK_U64(stats_of(k).polls, ==, 0);
	t0 = clock__mono_s();
	k8s__free(k);
	CHECK(clock__mono_s() - t0 < 0.5);
	stop_server(srv, SIGTERM);
	*srv = start_server(srv->port, "ok");
}

/* Never reached: the spec'd warning; over the size bound; no token. */
static void test_live_misc(struct server *srv)
{
	struct k8s_opts o;
	struct k8s *k = NULL;
	struct k8s_stats st;
	struct buf captured = { 0 };
	struct logged log[256];
	char url[64], missing_token[160];
	int saved_stderr, fd;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	size_t n;

	/* a port nobody listens on: bound, never listened, closed after */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	REQUIRE(fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	REQUIRE(getsockname(fd, (struct sockaddr *)&sin, &len) == 0);
	make_opts(&o, url, sizeof(url), ntohs(sin.sin_port));
	o.poll_interval_ms = 100;
	saved_stderr = redirect_stderr();
	REQUIRE(k8s__new(&o, &k) == 0);
	CHECK(WAIT_FOR(stats_of(k).failures_connect >= 3, 15000));
	restore_stderr(saved_stderr, &captured);
	close(fd);
	CHECK_INT(count_of(&captured, "kubernetes API server unreachable ("), ==, 1);
	CHECK_INT(count_of(&captured, "): profiles carry cgroup-derived labels only"), ==, 1);
	st = stats_of(k);
	CHECK(!st.ever_succeeded);
	CHECK_U64(st.generation, ==, 0);
	CHECK_U64(st.pods, ==, 0);
	{
		struct labels ls = { 0 };

		CHECK_INT(k8s__lookup(k, UID_CHECKOUT, NULL, &ls), ==, -ENOENT);
	}
	check_sums(k);
	k8s__free(k);
	buf_release(&captured);

	/* a list over max_response_bytes */
	make_opts(&o, url, sizeof(url), srv->port);
	o.max_response_bytes = 4096;
	o.poll_interval_ms = 200;
	REQUIRE(k8s__new(&o, &k) == 0);
	CHECK(WAIT_FOR(stats_of(k).failures_too_large >= 1, 15000));
	st = stats_of(k);
	CHECK(!st.ever_succeeded);
	CHECK_U64(st.failures_parse, ==, 0);
	check_sums(k);
	k8s__free(k);

	/* no token file: no Authorization header, so a 401 */
	snprintf(missing_token, sizeof(missing_token), "%s/absent-token", tmpdir);
	make_opts(&o, url, sizeof(url), srv->port);
	o.token_file = missing_token;
	REQUIRE(k8s__new(&o, &k) == 0);
	CHECK(WAIT_FOR(stats_of(k).failures_http >= 1, 15000));
	k8s__free(k);
	n = read_request_log(log, ARRAY_SIZE(log));
	REQUIRE(n > 0);
	CHECK_STR(log[n - 1].token, "-");
	CHECK_INT(log[n - 1].status, ==, 401);

	/* bad options */
	memset(&o, 0, sizeof(o));
	CHECK_INT(k8s__new(&o, &k), ==, -EINVAL);
	o.api_url = "http://127.0.0.1:1";
	CHECK_INT(k8s__new(&o, &k), ==, -EINVAL);
	o.node = "";
	CHECK_INT(k8s__new(&o, &k), ==, -EINVAL);
	o.node = "node-a";
	o.api_url = "ftp://127.0.0.1:1";
	CHECK_INT(k8s__new(&o, &k), ==, -EINVAL);
	k8s__free(NULL);
}

/* Lines of the fake server's request log that contain needle. */
static int request_log_count(const char *needle)
{
	struct buf b = { 0 };
	int n;

	if (buf_read_file(request_log, &b, 1 << 20) != 0)
		return 0;
	n = count_of(&b, needle);
	buf_release(&b);
	return n;
}

/* Over HTTPS: the CA that signed the server's certificate lists pods; an
 * unrelated CA fails every poll as a connect failure, logged once with the
 * certificate problem, and never reaches the handler. */
static void test_live_tls(void)
{
	char certs[96], script[PATH_MAX], ca[128], other_ca[128], crt[128], key[128];
	char url[64], want[512];
	const char *argv[] = { "sh", script, certs, NULL };
	struct server srv;
	struct k8s_opts o;
	struct k8s *k = NULL;
	struct k8s_stats st;
	struct logged log[16];
	struct buf captured = { 0 };
	int saved_stderr, status;
	const char *slash = strrchr(server_script, '/');
	pid_t pid;

	/* make-test-certs.sh sits next to fake-kube-api.py */
	snprintf(script, sizeof(script), "%.*s/make-test-certs.sh",
		 slash ? (int)(slash - server_script) : 1, slash ? server_script : ".");
	snprintf(certs, sizeof(certs), "%s/certs", tmpdir);
	REQUIRE(posix_spawnp(&pid, "sh", NULL, NULL, (char *const *)argv, environ) == 0);
	REQUIRE(waitpid(pid, &status, 0) == pid);
	REQUIRE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	snprintf(ca, sizeof(ca), "%s/ca.crt", certs);
	snprintf(other_ca, sizeof(other_ca), "%s/other-ca.crt", certs);
	snprintf(crt, sizeof(crt), "%s/server.crt", certs);
	snprintf(key, sizeof(key), "%s/server.key", certs);
	server_files_reset("tok-tls\n");
	srv = start_server_tls(0, "ok", crt, key);

	make_opts(&o, url, sizeof(url), srv.port);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/", srv.port);
	o.ca_file = ca;
	o.poll_interval_ms = 100;
	REQUIRE(k8s__new(&o, &k) == 0);
	CHECK(WAIT_FOR(stats_of(k).ever_succeeded, 10000));
	st = stats_of(k);
	CHECK_U64(st.pods, ==, 5);
	CHECK_U64(st.failures, ==, 0);
	CHECK(lookup_ok(k, UID_CHECKOUT, "containerd://" ID_CHECKOUT, "container", "checkout"));
	k8s__free(k);
	CHECK(read_request_log(log, ARRAY_SIZE(log)) >= 1);
	CHECK_INT(log[0].status, ==, 200);
	CHECK_STR(log[0].token, "tok-tls");
	CHECK_INT(request_log_count("tls_error="), ==, 0);

	/* the wrong CA */
	unlink(request_log);
	o.ca_file = other_ca;
	saved_stderr = redirect_stderr();
	REQUIRE(k8s__new(&o, &k) == 0);
	CHECK(WAIT_FOR(stats_of(k).failures_connect >= 3, 15000));
	restore_stderr(saved_stderr, &captured);
	st = stats_of(k);
	CHECK(!st.ever_succeeded);
	CHECK_U64(st.pods, ==, 0);
	CHECK_U64(st.failures_http + st.failures_parse + st.failures_too_large, ==, 0);
	check_sums(k);
	k8s__free(k);
	snprintf(want, sizeof(want), "kubernetes API server unreachable (%s", url);
	CHECK_INT(count_of(&captured, want), ==, 1);
	snprintf(want, sizeof(want),
		 ": TLS: the server's certificate failed verification against the CA file '%s': "
		 "SSL certificate problem: ", other_ca);
	CHECK_INT(count_of(&captured, want), ==, 1);
	CHECK_INT(count_of(&captured, "): profiles carry cgroup-derived labels only"), ==, 1);
	CHECK_INT(count_of(&captured, "warning:"), ==, 1);
	/* the handshake failed, so no request was ever answered */
	CHECK_INT(read_request_log(log, ARRAY_SIZE(log)), ==, 0);
	/* the server logs each refused handshake on its own time: the
	 * client may have seen its third failure before the third line */
	CHECK(WAIT_FOR(request_log_count("tls_error=TLSV1_ALERT_UNKNOWN_CA") >= 3, 15000));
	buf_release(&captured);
	stop_server(&srv, SIGTERM);
}

static void test_live(void)
{
	struct server srv;
	char cmd[200];

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test-k8s-XXXXXX");
	REQUIRE(mkdtemp(tmpdir));
	snprintf(server_fixture, sizeof(server_fixture), "%s/pods.json", tmpdir);
	snprintf(server_token, sizeof(server_token), "%s/server-token", tmpdir);
	snprintf(client_token, sizeof(client_token), "%s/token", tmpdir);
	snprintf(ready_file, sizeof(ready_file), "%s/ready", tmpdir);
	snprintf(request_log, sizeof(request_log), "%s/requests.log", tmpdir);
	snprintf(stderr_file, sizeof(stderr_file), "%s/stderr", tmpdir);
	server_files_reset("tok-1\n");

	srv = start_server(0, "ok");
	test_live_lists(&srv);
	unlink(request_log);
	test_live_failures(&srv);
	test_live_misc(&srv);
	stop_server(&srv, SIGTERM);
	test_live_tls();

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (!test_failures && system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
}

static void setup(void)
{
	TEST_ARGS("PYTHON3 FAKE_KUBE_API_PY PODS_JSON", &python, &server_script, &fixture_path);
	/* a server killed mid-reply must not kill the test */
	signal(SIGPIPE, SIG_IGN);
	REQUIRE(buf_read_file(fixture_path, &fixture, 1 << 20) == 0);
}

static void teardown(void)
{
	buf_release(&fixture);
}

TEST_MAIN(setup, teardown,
	  TEST_CASE(in_cluster_url),
	  TEST_CASE(live))
