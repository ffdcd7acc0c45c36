/* Unit test of ship/remote's requests to tests/tools/receiver.py, which
 * decodes them with protoc and go tool pprof (not brasa's code): all three
 * protocols with their labels, sample types and function names, auth
 * headers, keep-alive, profiles split across requests, and how every
 * failure (refused, timeout, 429, 5xx, 400, gRPC status in the trailer
 * frame and in the headers, cancel) is classified. Without a server:
 * test-remote.c; TLS: test-remote-tls.c.
 */
#include <pthread.h>

#include "remote_harness.h"

static void test_pyroscope_receiver(void)
{
	struct window_fixture f;
	char token[PATH_MAX + 16];
	struct labels headers = {};
	struct remote_opts ro = { .protocol = REMOTE_PYROSCOPE, .url = rc->url, .tenant_id = "team-a",
				  .headers = &headers, .bearer_token_file = token, .timeout_ms = 10000 };
	struct remote_encode_opts eo = { .protocol = REMOTE_PYROSCOPE };
	_cleanup_(cleanup_remote__free) struct remote *r = NULL;
	_cleanup_(cleanup_remote__batch_free) struct remote_batch *b = NULL;
	json_object *records, *rec = NULL, *s;
	struct remote_status st;

	fixture_init(&f);
	receiver_clear(rc);
	snprintf(token, sizeof(token), "%s/token", rc->dir);
	write_file(token, "tok-one\n");
	REQUIRE(labels__set(&headers, "X-Test-Extra", "yes") == 0);
	REQUIRE(remote__new(&ro, &r) == 0);
	REQUIRE(remote__encode(&eo, &f.w, &b) == 0);
	REQUIRE(b->n == 1);
	send_all(r, b);

	records = receiver_records(rc);
	REQUIRE(json_object_array_length(records) == 1);
	rec = json_object_array_get_idx(records, 0);
	CHECK_STR(jstr(rec, "protocol"), "pyroscope");
	CHECK_STR(jstr(rec, "error"), "");
	CHECK_STR(jstr(jget(rec, "headers"), "authorization"), "Bearer tok-one");
	CHECK_STR(jstr(jget(rec, "headers"), "x-scope-orgid"), "team-a");
	CHECK_STR(jstr(jget(rec, "headers"), "x-test-extra"), "yes");
	CHECK_STR(jstr(jget(rec, "headers"), "content-type"), "application/proto");
	CHECK_STR(jstr(jget(rec, "headers"), "connect-protocol-version"), "1");
	CHECK(strncmp(jstr(jget(rec, "headers"), "user-agent"), "brasa/", 6) == 0);
	CHECK_U64(json_object_array_length(jget(rec, "series")), ==, 3);

	s = find_series(records, "service_name", "alpha", NULL);
	REQUIRE(s);
	CHECK_STR(jstr(jget(s, "labels"), "__name__"), "process_cpu");
	CHECK_STR(jstr(jget(s, "labels"), "__delta__"), "false");
	CHECK_STR(jstr(jget(s, "labels"), "k8s_namespace"), "prod");
	CHECK_STR(jstr(jget(s, "labels"), "pid"), "101");
	CHECK(jget(jget(s, "labels"), "__duplicates__") == NULL);
	check_profile(s, alpha_funcs, 3, f.total[0]);
	CHECK(is_uuid4(jstr(json_object_array_get_idx(jget(s, "profiles"), 0), "id")));
	s = find_series(records, "service_name", "beta svc,{x}", NULL);
	REQUIRE(s);
	CHECK_STR(jstr(jget(s, "labels"), "comm"), "a,b}c");
	check_profile(s, beta_funcs, 2, f.total[1]);
	s = find_series(records, "pid", "103", NULL);
	REQUIRE(s);
	CHECK_STR(jstr(jget(s, "labels"), "service_name"), "unknown_service");
	CHECK_STR(jstr(jget(s, "labels"), "node"), "worker-7");
	check_profile(s, gamma_funcs, 4, f.total[2]);
	json_object_put(records);

	/* a new token is read on the next send; the connection is reused */
	sleep_ms(20); /* a distinct mtime even on coarse clocks */
	write_file(token, "tok-two-longer");
	b->requests[0].done = false;
	CHECK_INT(remote__send(r, b, 0, &st), ==, REMOTE_OK);
	records = receiver_records(rc);
	REQUIRE(json_object_array_length(records) == 2);
	CHECK_STR(jstr(jget(json_object_array_get_idx(records, 1), "headers"), "authorization"),
		  "Bearer tok-two-longer");
	CHECK_INT(json_object_get_int(jget(json_object_array_get_idx(records, 0), "client_port")), ==,
		  json_object_get_int(jget(json_object_array_get_idx(records, 1), "client_port")));
	json_object_put(records);

	/* an unreadable token file: retry later, nothing sent */
	REQUIRE(unlink(token) == 0);
	CHECK_INT(remote__send(r, b, 0, &st), ==, REMOTE_RETRY);
	CHECK_INT(st.reason, ==, REMOTE_FAIL_AUTH_FILE);
	CHECK(strstr(st.message, "token") != NULL);
	write_file(token, "\n");
	CHECK_INT(remote__send(r, b, 0, &st), ==, REMOTE_RETRY);
	CHECK_INT(st.reason, ==, REMOTE_FAIL_AUTH_FILE);
	CHECK(strstr(st.message, "empty") != NULL);
	CHECK_U64(receiver_count(rc), ==, 2);

	labels__clear(&headers);
	fixture_release(&f);
}

static void test_basic_auth(void)
{
	struct window_fixture f;
	char pw[PATH_MAX + 16];
	struct remote_opts ro = { .protocol = REMOTE_PYROSCOPE, .url = rc->url,
				  .basic_auth_username = "12345", .basic_auth_password_file = pw };
	struct remote_encode_opts eo = { .protocol = REMOTE_PYROSCOPE };
	_cleanup_(cleanup_remote__free) struct remote *r = NULL;
	_cleanup_(cleanup_remote__batch_free) struct remote_batch *b = NULL;
	json_object *records;

	fixture_init(&f);
	receiver_clear(rc);
	snprintf(pw, sizeof(pw), "%s/password", rc->dir);
	write_file(pw, "glc_secret\n");
	REQUIRE(remote__new(&ro, &r) == 0);
	REQUIRE(remote__encode(&eo, &f.w, &b) == 0);
	send_all(r, b);
	records = receiver_records(rc);
	REQUIRE(json_object_array_length(records) == 1);
	/* base64("12345:glc_secret") */
	CHECK_STR(jstr(jget(json_object_array_get_idx(records, 0), "headers"), "authorization"),
		  "Basic MTIzNDU6Z2xjX3NlY3JldA==");
	json_object_put(records);
	fixture_release(&f);
}

static void test_ingest_receiver(void)
{
	struct window_fixture f;
	struct remote_opts ro = { .protocol = REMOTE_PYROSCOPE_INGEST, .url = rc->url };
	struct remote_encode_opts eo = { .protocol = REMOTE_PYROSCOPE_INGEST, .frequency_hz = 100 };
	_cleanup_(cleanup_remote__free) struct remote *r = NULL;
	_cleanup_(cleanup_remote__batch_free) struct remote_batch *b = NULL;
	json_object *records, *rec = NULL, *s, *q;

	fixture_init(&f);
	receiver_clear(rc);
	REQUIRE(remote__new(&ro, &r) == 0);
	REQUIRE(remote__encode(&eo, &f.w, &b) == 0);
	REQUIRE(b->n == 3);
	send_all(r, b);
	records = receiver_records(rc);
	REQUIRE(json_object_array_length(records) == 3);

	s = find_series(records, "__app__", "alpha", &rec);
	REQUIRE(s);
	q = jget(rec, "query");
	CHECK_STR(jstr(q, "format"), "pprof");
	CHECK_STR(jstr(q, "spyName"), "brasa");
	CHECK_STR(jstr(q, "sampleRate"), "100");
	CHECK_STR(jstr(q, "from"), "1700000000");
	CHECK_STR(jstr(q, "until"), "1700000015");
	CHECK_STR(jstr(jget(rec, "headers"), "content-type"), "application/octet-stream");
	CHECK_STR(jstr(jget(s, "labels"), "k8s_namespace"), "prod");
	CHECK_STR(jstr(jget(s, "labels"), "pid"), "101");
	/* reserved names are not tags */
	CHECK(jget(jget(s, "labels"), "__name__") == NULL);
	CHECK(jget(jget(s, "labels"), "__delta__") == NULL);
	CHECK(jget(jget(s, "labels"), "service_name") == NULL);
	check_profile(s, alpha_funcs, 3, f.total[0]);
	/* what the ingest key parser would split on is replaced */
	s = find_series(records, "__app__", "beta_svc__x_", NULL);
	REQUIRE(s);
	CHECK_STR(jstr(jget(s, "labels"), "comm"), "a_b_c");
	check_profile(s, beta_funcs, 2, f.total[1]);
	s = find_series(records, "__app__", "unknown_service", NULL);
	REQUIRE(s);
	CHECK_STR(jstr(jget(s, "labels"), "node"), "worker-7");
	check_profile(s, gamma_funcs, 4, f.total[2]);
	json_object_put(records);
	fixture_release(&f);
}

static void test_parca_receiver(void)
{
	struct window_fixture f;
	char token[PATH_MAX + 16];
	struct remote_opts ro = { .protocol = REMOTE_PARCA, .url = rc->url, .bearer_token_file = token };
	struct remote_encode_opts eo = { .protocol = REMOTE_PARCA, .node = "this-node" };
	_cleanup_(cleanup_remote__free) struct remote *r = NULL;
	_cleanup_(cleanup_remote__batch_free) struct remote_batch *b = NULL;
	json_object *records, *rec, *s;

	fixture_init(&f);
	receiver_clear(rc);
	snprintf(token, sizeof(token), "%s/parca-token", rc->dir);
	write_file(token, "parca-tok");
	REQUIRE(remote__new(&ro, &r) == 0);
	REQUIRE(remote__encode(&eo, &f.w, &b) == 0);
	REQUIRE(b->n == 1);
	send_all(r, b);
	records = receiver_records(rc);
	REQUIRE(json_object_array_length(records) == 1);
	rec = json_object_array_get_idx(records, 0);
	CHECK_STR(jstr(rec, "protocol"), "parca");
	CHECK_STR(jstr(rec, "error"), "");
	CHECK_STR(jstr(jget(rec, "headers"), "content-type"), "application/grpc-web+proto");
	CHECK_STR(jstr(jget(rec, "headers"), "x-grpc-web"), "1");
	CHECK_STR(jstr(jget(rec, "headers"), "authorization"), "Bearer parca-tok");
	s = find_series(records, "service_name", "alpha", NULL);
	REQUIRE(s);
	CHECK_STR(jstr(jget(s, "labels"), "__name__"), "parca_agent_cpu");
	CHECK_STR(jstr(jget(s, "labels"), "node"), "this-node");
	CHECK_STR(jstr(jget(s, "labels"), "k8s_namespace"), "prod");
	check_profile(s, alpha_funcs, 3, f.total[0]);
	s = find_series(records, "pid", "103", NULL);
	REQUIRE(s);
	/* the series' own node wins over the default */
	CHECK_STR(jstr(jget(s, "labels"), "node"), "worker-7");
	CHECK(jget(jget(s, "labels"), "service_name") == NULL);
	check_profile(s, gamma_funcs, 4, f.total[2]);
	s = find_series(records, "pid", "102", NULL);
	REQUIRE(s);
	check_profile(s, beta_funcs, 2, f.total[1]);
	json_object_put(records);
	fixture_release(&f);
}

/* The 20,000-sample profile reaches the receiver as two profiles that go
 * tool pprof reads, within 16,000 samples each, adding up. */
static void test_split_receiver(void)
{
	struct big_window bw;
	struct remote_opts ro = { .protocol = REMOTE_PYROSCOPE, .url = rc->url };
	struct remote_encode_opts eo = { .protocol = REMOTE_PYROSCOPE };
	_cleanup_(cleanup_remote__free) struct remote *r = NULL;
	_cleanup_(cleanup_remote__batch_free) struct remote_batch *b = NULL;
	json_object *records, *series, *profiles;
	int64_t samples = 0, sum = 0;

	big_window_init(&bw);
	receiver_clear(rc);
	REQUIRE(remote__new(&ro, &r) == 0);
	REQUIRE(remote__encode(&eo, &bw.w, &b) == 0);
	send_all(r, b);
	records = receiver_records(rc);
	series = find_series(records, "service_name", "big", NULL);
	REQUIRE(series);
	profiles = jget(series, "profiles");
	REQUIRE(profiles);
	CHECK_U64(json_object_array_length(profiles), ==, 2);
	for (size_t i = 0; i < json_object_array_length(profiles); i++) {
		json_object *prof = json_object_array_get_idx(profiles, i);

		CHECK_STR(jstr(prof, "error"), "");
		CHECK_INT(json_object_get_int64(jget(prof, "samples")), <=, 16000);
		CHECK(jarray_has(jget(prof, "functions"), "gamma_byte"));
		samples += json_object_get_int64(jget(prof, "samples"));
		sum += json_object_get_int64(jget(prof, "total"));
	}
	CHECK_INT(samples, ==, 20000);
	CHECK_INT(sum, ==, bw.total);
	CHECK(strcmp(jstr(json_object_array_get_idx(profiles, 0), "id"),
		     jstr(json_object_array_get_idx(profiles, 1), "id")) != 0);
	json_object_put(records);
	big_window_release(&bw);
}

struct cancel_arg {
	struct remote *r;
	long after_ms;
};

static void *cancel_later(void *arg)
{
	struct cancel_arg *a = arg;

	sleep_ms(a->after_ms);
	remote__cancel(a->r);
	return NULL;
}

static void test_send_failures(void)
{
	struct remote_opts ro = { .protocol = REMOTE_PYROSCOPE, .url = rc->url, .timeout_ms = 600 };
	struct remote_opts po = { .protocol = REMOTE_PARCA, .url = rc->url, .timeout_ms = 5000 };
	_cleanup_(cleanup_remote__free) struct remote *r = NULL, *parca = NULL;
	struct remote_status st;
	size_t recorded;
	double t;

	REQUIRE(remote__new(&ro, &r) == 0);
	REQUIRE(remote__new(&po, &parca) == 0);

	CHECK_INT(send_one(rc, r, REMOTE_PYROSCOPE, "{\"modes\":[\"503\"],\"message\":\"ingester down\"}", &st),
		  ==, REMOTE_RETRY);
	CHECK_INT(st.reason, ==, REMOTE_FAIL_HTTP_5XX);
	CHECK_INT(st.http_status, ==, 503);
	CHECK_STR(st.message, "HTTP 503: ingester down");
	CHECK_INT(send_one(rc, r, REMOTE_PYROSCOPE, "{\"modes\":[\"429\"],\"message\":\"slow down\"}", &st),
		  ==, REMOTE_RETRY);
	CHECK_INT(st.reason, ==, REMOTE_FAIL_HTTP_429);
	CHECK_INT(send_one(rc, r, REMOTE_PYROSCOPE,
			   "{\"modes\":[\"400\"],\"message\":\"invalid labels: duplicate name\"}", &st),
		  ==, REMOTE_DROP);
	CHECK_INT(st.reason, ==, REMOTE_FAIL_HTTP_4XX);
	CHECK_STR(st.message, "HTTP 400: invalid labels: duplicate name");

	/* refused: nothing listens on the port */
	CHECK_INT(send_one(rc, r, REMOTE_PYROSCOPE, "{\"modes\":[\"refuse\"]}", &st), ==, REMOTE_RETRY);
	CHECK_INT(st.reason, ==, REMOTE_FAIL_NETWORK);
	CHECK(st.message[0] != 0);
	CHECK_INT(st.http_status, ==, 0);
	/* back up on the same port: the handle reconnects */
	CHECK_INT(send_one(rc, r, REMOTE_PYROSCOPE, "{\"modes\":[\"ok\"]}", &st), ==, REMOTE_OK);

	/* slower than the timeout */
	recorded = receiver_count(rc);
	t = clock__mono_s();
	CHECK_INT(send_one(rc, r, REMOTE_PYROSCOPE, "{\"modes\":[\"slow\"],\"delay\":2}", &st), ==,
		  REMOTE_RETRY);
	CHECK_INT(st.reason, ==, REMOTE_FAIL_TIMEOUT);
	/* the answer would have come after 2 s */
	CHECK(clock__mono_s() - t < 1.9);
	/* the receiver records the request once its 2 s are over: wait, so
	 * no count below sees it arrive late */
	CHECK(receiver_wait(rc, recorded + 1, 15));

	/* gRPC status in the trailer frame and in the headers */
	CHECK_INT(send_one(rc, parca, REMOTE_PARCA,
			   "{\"modes\":[\"grpc-trailer\"],\"grpc_code\":14,\"message\":\"store: 100% full\"}",
			   &st), ==, REMOTE_RETRY);
	CHECK_INT(st.reason, ==, REMOTE_FAIL_GRPC);
	CHECK_INT(st.grpc_status, ==, 14);
	CHECK_STR(st.message, "grpc-status 14: store: 100% full");
	CHECK_INT(send_one(rc, parca, REMOTE_PARCA,
			   "{\"modes\":[\"grpc-trailer\"],\"grpc_code\":3,\"message\":\"bad profile\"}", &st),
		  ==, REMOTE_DROP);
	CHECK_INT(st.grpc_status, ==, 3);
	CHECK_STR(st.message, "grpc-status 3: bad profile");
	CHECK_INT(send_one(rc, parca, REMOTE_PARCA,
			   "{\"modes\":[\"grpc-header\"],\"grpc_code\":8,\"message\":\"quota\"}", &st),
		  ==, REMOTE_RETRY);
	CHECK_INT(st.grpc_status, ==, 8);
	CHECK_STR(st.message, "grpc-status 8: quota");
	CHECK_INT(send_one(rc, parca, REMOTE_PARCA,
			   "{\"modes\":[\"grpc-header\"],\"grpc_code\":7,\"message\":\"denied\"}", &st),
		  ==, REMOTE_DROP);
	CHECK_INT(st.reason, ==, REMOTE_FAIL_GRPC);
	CHECK_STR(st.message, "grpc-status 7: denied");
	/* a 200 that is no gRPC answer at all */
	CHECK_INT(send_one(rc, parca, REMOTE_PARCA, "{\"modes\":[\"bare-200\"]}", &st), ==, REMOTE_RETRY);
	CHECK_INT(st.reason, ==, REMOTE_FAIL_GRPC);
	CHECK(strstr(st.message, "without grpc-status") != NULL);
	CHECK_INT(send_one(rc, parca, REMOTE_PARCA, "{\"modes\":[\"ok\"]}", &st), ==, REMOTE_OK);
	CHECK_INT(st.grpc_status, ==, 0);

	/* a batch for another protocol can never go out */
	CHECK_INT(send_one(rc, parca, REMOTE_PYROSCOPE, "{\"modes\":[\"ok\"]}", &st), ==, REMOTE_DROP);
	CHECK_INT(st.reason, ==, REMOTE_FAIL_UNSENDABLE);

	/* cancel ends a hanging request within about a second */
	{
		struct cancel_arg a = { parca, 300 };
		pthread_t th;

		recorded = receiver_count(rc);
		REQUIRE(pthread_create(&th, NULL, cancel_later, &a) == 0);
		t = clock__mono_s();
		CHECK_INT(send_one(rc, parca, REMOTE_PARCA, "{\"modes\":[\"slow\"],\"delay\":6}", &st),
			  ==, REMOTE_RETRY);
		CHECK_INT(st.reason, ==, REMOTE_FAIL_CANCELLED);
		/* curl calls back about once a second; loaded machines lag */
		CHECK(clock__mono_s() - t < 3.5);
		pthread_join(th, NULL);
		CHECK_INT(send_one(rc, parca, REMOTE_PARCA, "{\"modes\":[\"ok\"]}", &st), ==, REMOTE_RETRY);
		CHECK_INT(st.reason, ==, REMOTE_FAIL_CANCELLED);
		/* the same for the cancelled request and its 6 s, or it lands
		 * in the count of a case run after this one */
		CHECK(receiver_wait(rc, recorded + 1, 15));
	}
	receiver_mode(rc, "{\"modes\":[\"ok\"]}");
}

TEST_MAIN(NULL, NULL,
	  TEST_CASE(pyroscope_receiver, &receiver_fixture),
	  TEST_CASE(basic_auth, &receiver_fixture),
	  TEST_CASE(ingest_receiver, &receiver_fixture),
	  TEST_CASE(parca_receiver, &receiver_fixture),
	  TEST_CASE(split_receiver, &receiver_fixture),
	  TEST_CASE(send_failures, &receiver_fixture))
