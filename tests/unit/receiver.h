/* Test helpers shared by the remote and uploader tests: runs
 * tests/tools/receiver.py (a loopback Pyroscope/Parca that decodes every request
 * with protoc and go tool pprof, independently of brasa's code), switches
 * its mode, reads what it recorded, and builds profiles with known function
 * names.
 *
 *   receiver_start(&rc, mode)   spawns it; exits 77 (skip) when python3,
 *                               protoc or go are missing
 *   receiver_start_tls(&rc, mode, cert, key, client_ca)
 *                               the same over HTTPS (rc.url https://...);
 *                               client_ca NULL: no client certificate asked
 *   receiver_tls_errors(&rc)    the failed handshakes' reasons, a json-c
 *                               array of strings (caller puts)
 *   receiver_stop(&rc)          kills it, removes its files
 *   receiver_mode(&rc, json)    POST /mode, e.g. {"modes":["503"]}
 *   receiver_clear(&rc)         forgets what it recorded
 *   receiver_records(&rc)       a json-c array of the records (caller puts)
 *   receiver_wait(&rc, n, s)    waits up to s seconds for n records
 *   ok_receiver_start/_stop()   one in "ok" mode for the cases of a file,
 *                               in rc; receiver_fixture starts it for the
 *                               cases that name it (testing.h)
 *   test_profile(...)           a profile whose stacks are the given
 *                               functions (root first)
 */
#ifndef BRASA_TESTS_RECEIVER_H
#define BRASA_TESTS_RECEIVER_H

#include <curl/curl.h>
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/pprof.h"
#include "common/buf.h"
#include "common/clock.h"
#include "testing.h"

struct receiver {
	pid_t pid;
	int port, admin_port;
	char dir[PATH_MAX];
	char out[PATH_MAX + 32];
	char url[64];
};

static inline void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static inline bool have_program(const char *name)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", name);
	return system(cmd) == 0;
}

static inline void receiver_start_tls(struct receiver *rc, const char *mode, const char *cert,
				      const char *key, const char *client_ca)
{
	const char *src = getenv("BRASA_SOURCE_ROOT");
	char script[PATH_MAX], protos[PATH_MAX], ready[PATH_MAX + 32];
	const char *argv[24];
	size_t argc = 0;
	struct buf b = {};
	double deadline;

	if (!src || !have_program("python3") || !have_program("protoc") || !have_program("go")) {
		fprintf(stderr, "SKIP: needs BRASA_SOURCE_ROOT, python3, protoc and go\n");
		exit(77);
	}
	memset(rc, 0, sizeof(*rc));
	snprintf(rc->dir, sizeof(rc->dir), "%s/brasa-receiver-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	REQUIRE(mkdtemp(rc->dir));
	snprintf(script, sizeof(script), "%s/tests/tools/receiver.py", src);
	snprintf(protos, sizeof(protos), "%s/proto", src);
	snprintf(rc->out, sizeof(rc->out), "%s/records.jsonl", rc->dir);
	snprintf(ready, sizeof(ready), "%s/ready.json", rc->dir);
	argv[argc++] = "python3";
	argv[argc++] = script;
	argv[argc++] = "--proto-dir";
	argv[argc++] = protos;
	argv[argc++] = "--out";
	argv[argc++] = rc->out;
	argv[argc++] = "--ready";
	argv[argc++] = ready;
	argv[argc++] = "--mode";
	argv[argc++] = mode;
	if (cert) {
		argv[argc++] = "--tls-cert";
		argv[argc++] = cert;
		argv[argc++] = "--tls-key";
		argv[argc++] = key;
	}
	if (client_ca) {
		argv[argc++] = "--tls-client-ca";
		argv[argc++] = client_ca;
	}
	argv[argc] = NULL;
	rc->pid = fork();
	REQUIRE(rc->pid >= 0);
	if (rc->pid == 0) {
		execvp("python3", (char *const *)argv);
		_exit(127);
	}
	deadline = clock__mono_s() + 20;
	while (buf_read_file(ready, &b, 4096) != 0) {
		int status;

		REQUIRE(clock__mono_s() < deadline);
		REQUIRE(waitpid(rc->pid, &status, WNOHANG) == 0);
		buf_reset(&b);
		sleep_ms(20);
	}
	{
		json_object *obj = json_tokener_parse((const char *)b.data), *v;

		REQUIRE(obj);
		REQUIRE(json_object_object_get_ex(obj, "port", &v));
		rc->port = json_object_get_int(v);
		REQUIRE(json_object_object_get_ex(obj, "admin_port", &v));
		rc->admin_port = json_object_get_int(v);
		json_object_put(obj);
	}
	buf_release(&b);
	snprintf(rc->url, sizeof(rc->url), "%s://127.0.0.1:%d", cert ? "https" : "http", rc->port);
}

static inline void receiver_start(struct receiver *rc, const char *mode)
{
	receiver_start_tls(rc, mode, NULL, NULL, NULL);
}

static inline void receiver_stop(struct receiver *rc)
{
	char cmd[PATH_MAX + 16];

	if (rc->pid > 0) {
		kill(rc->pid, SIGTERM);
		waitpid(rc->pid, NULL, 0);
		rc->pid = 0;
	}
	if (rc->dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", rc->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "failed to remove %s\n", rc->dir);
	}
}

static inline size_t discard_body(char *data, size_t size, size_t nmemb, void *userdata)
{
	(void)data, (void)userdata;
	return size * nmemb;
}

static inline void receiver_admin(struct receiver *rc, const char *path, const char *body)
{
	CURL *c = curl_easy_init();
	char url[128];
	long code = 0;

	REQUIRE(c);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", rc->admin_port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_body);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
	REQUIRE(curl_easy_perform(c) == CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	REQUIRE(code == 200);
	curl_easy_cleanup(c);
}

static inline size_t keep_body(char *data, size_t size, size_t nmemb, void *userdata)
{
	return buf_append(userdata, data, size * nmemb) == 0 ? size * nmemb : 0;
}

static inline json_object *receiver_tls_errors(struct receiver *rc)
{
	CURL *c = curl_easy_init();
	struct buf b = {};
	char url[128];
	long code = 0;
	json_object *arr;

	REQUIRE(c);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/tls-errors", rc->admin_port);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
	REQUIRE(curl_easy_perform(c) == CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	REQUIRE(code == 200);
	curl_easy_cleanup(c);
	REQUIRE(buf_append(&b, "", 1) == 0);
	arr = json_tokener_parse((const char *)b.data);
	REQUIRE(arr && json_object_is_type(arr, json_type_array));
	buf_release(&b);
	return arr;
}

static inline void receiver_mode(struct receiver *rc, const char *json)
{
	receiver_admin(rc, "/mode", json);
}

static inline void receiver_clear(struct receiver *rc)
{
	receiver_admin(rc, "/clear", "");
}

/* Every record so far, as a json-c array (caller json_object_put()s it). */
static inline json_object *receiver_records(struct receiver *rc)
{
	json_object *arr = json_object_new_array();
	struct buf b = {};
	char *line, *save = NULL;

	REQUIRE(arr);
	REQUIRE(buf_read_file(rc->out, &b, 256 << 20) == 0);
	for (line = b.len ? strtok_r((char *)b.data, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		json_object *rec = json_tokener_parse(line);

		REQUIRE(rec);
		json_object_array_add(arr, rec);
	}
	buf_release(&b);
	return arr;
}

static inline size_t receiver_count(struct receiver *rc)
{
	json_object *arr = receiver_records(rc);
	size_t n = json_object_array_length(arr);

	json_object_put(arr);
	return n;
}

/* Waits until at least n records are in; false on timeout. */
static inline bool receiver_wait(struct receiver *rc, size_t n, double seconds)
{
	double deadline = clock__mono_s() + seconds;

	while (receiver_count(rc) < n) {
		if (clock__mono_s() > deadline)
			return false;
		sleep_ms(20);
	}
	return true;
}

/* json helpers: a member or NULL, a string member or "" */
static inline json_object *jget(json_object *o, const char *key)
{
	json_object *v = NULL;

	return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static inline const char *jstr(json_object *o, const char *key)
{
	json_object *v = jget(o, key);

	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
}

static inline bool jarray_has(json_object *arr, const char *s)
{
	for (size_t i = 0; arr && i < json_object_array_length(arr); i++)
		if (strcmp(json_object_get_string(json_object_array_get_idx(arr, i)), s) == 0)
			return true;
	return false;
}

/* The receiver ("ok" mode) the cases of a file send to: a fixture for the
 * cases that name it, or TEST_MAIN's setup and teardown when every case
 * does. */
static struct receiver ok_receiver;
static struct receiver *rc;

static inline void ok_receiver_start(void)
{
	receiver_start(&ok_receiver, "ok");
	rc = &ok_receiver;
}

static inline void ok_receiver_stop(void)
{
	receiver_stop(&ok_receiver);
	rc = NULL;
}

static struct test_fixture receiver_fixture __attribute__((unused)) = {
	ok_receiver_start, ok_receiver_stop
};

#define TEST_PERIOD_NS 10000000ULL /* 100 Hz */

/* A profile of one process: nsamples distinct samples (a "tid" number label
 * tells them apart), each with count 1 + i % 3 and the stack funcs[0] (root)
 * -> ... -> funcs[n - 1] (leaf) in /usr/bin/<exe>. */
/* A new profile builder; the test stops if there is none. */
static inline struct pprof *new_pprof(const struct pprof_opts *o)
{
	struct pprof *p = NULL;

	REQUIRE(pprof__new(o, &p) == 0);
	return p;
}

static inline struct pprof *test_profile(const char *exe, const char *const *funcs, size_t n,
					 size_t nsamples, int64_t start_ns, int64_t *total)
{
	struct pprof_opts opts = { .period_ns = TEST_PERIOD_NS, .time_nanos = start_ns,
				   .duration_nanos = 15000000000LL };
	struct pprof *p = new_pprof(&opts);
	char path[256];
	struct pprof_mapping m = { .memory_start = 0x400000, .memory_limit = 0x600000,
				   .filename = path, .has_functions = true };
	uint64_t locs[64], mid;

	REQUIRE(p && n <= 64);
	snprintf(path, sizeof(path), "/usr/bin/%s", exe);
	mid = pprof__mapping(p, 1, &m);
	REQUIRE(mid);
	for (size_t i = 0; i < n; i++) {
		struct pprof_line line = { funcs[i], "test.c", (int64_t)(10 + i) };

		/* leaf first in a sample */
		locs[n - 1 - i] = pprof__location(p, mid, 0x401000 + 0x10 * i, &line, 1);
		REQUIRE(locs[n - 1 - i]);
	}
	if (total)
		*total = 0;
	for (size_t i = 0; i < nsamples; i++) {
		struct pprof_label l = { .key = "tid", .num = (int64_t)i };

		REQUIRE(pprof__add_sample(p, locs, n, 1 + (int64_t)(i % 3), &l, 1) == 0);
		if (total)
			*total += 1 + (int64_t)(i % 3);
	}
	return p;
}

#endif
