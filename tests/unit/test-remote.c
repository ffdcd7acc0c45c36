/* Unit test of agent/remote: label mapping, splitting, batch records, and
 * real requests to tests/tools/receiver.py, which decodes them with protoc and go
 * tool pprof (not brasa's code): all three protocols with their labels,
 * sample types and function names, auth headers, keep-alive, and how every
 * failure (refused, timeout, 429, 5xx, 400, gRPC status in the trailer frame
 * and in the headers, cancel) is classified. Then HTTPS, with certificates
 * made for the run by tests/tools/make-test-certs.sh: the CA file, a wrong CA, a
 * wrong host name, insecure_skip_verify, a server that requires a client
 * certificate, and TLS files that are missing or unusable.
 */
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/stat.h>

#include "ship/remote.h"
#include "common/labels.h"
#include "common/macros.h"
#include "proto/profilestore.pb-c.h"
#include "proto/push.pb-c.h"
#include "receiver.h"
#include "testing.h"

#define START_NS 1700000000000000000LL
#define END_NS (START_NS + 15000000000LL)

DEFINE_CLEANUP(struct pprof, pprof__free)
DEFINE_CLEANUP(struct remote_batch, remote__batch_free)
DEFINE_CLEANUP(struct remote, remote__free)

static const char *const alpha_funcs[] = { "alpha_main", "alpha_loop", "alpha_leaf" };
static const char *const beta_funcs[] = { "beta_main", "beta_hash" };
static const char *const gamma_funcs[] = { "gamma_main", "gamma_parse", "gamma_scan", "gamma_byte" };

static bool is_uuid4(const char *s)
{
	if (strlen(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-')
		return false;
	if (s[14] != '4' || !strchr("89ab", s[19]))
		return false;
	for (size_t i = 0; i < 36; i++)
		if (i != 8 && i != 13 && i != 18 && i != 23 && !strchr("0123456789abcdef", s[i]))
			return false;
	return true;
}

static bool valid_utf8(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;

	while (*u) {
		size_t len = *u < 0x80 ? 1 : (*u >> 5) == 6 ? 2 : (*u >> 4) == 14 ? 3 : (*u >> 3) == 30 ? 4 : 0;

		if (!len)
			return false;
		for (size_t i = 1; i < len; i++)
			if ((u[i] & 0xc0) != 0x80)
				return false;
		u += len;
	}
	return true;
}

static void test_names(void)
{
	enum remote_protocol p;

	CHECK_INT(remote__parse_protocol("pyroscope", &p), ==, 0);
	CHECK_INT(p, ==, REMOTE_PYROSCOPE);
	CHECK_INT(remote__parse_protocol("pyroscope-ingest", &p), ==, 0);
	CHECK_INT(p, ==, REMOTE_PYROSCOPE_INGEST);
	CHECK_INT(remote__parse_protocol("parca", &p), ==, 0);
	CHECK_INT(p, ==, REMOTE_PARCA);
	CHECK_INT(remote__parse_protocol("Parca", &p), ==, -EINVAL);
	CHECK_INT(remote__parse_protocol("", &p), ==, -EINVAL);
	CHECK_INT(remote__parse_protocol(NULL, &p), ==, -EINVAL);
	CHECK_STR(remote__protocol_name(REMOTE_PYROSCOPE_INGEST), "pyroscope-ingest");
	CHECK_STR(remote__protocol_name((enum remote_protocol)42), "unknown");
	CHECK_STR(remote__failure_name(REMOTE_FAIL_HTTP_429), "http_429");
	CHECK_STR(remote__failure_name(REMOTE_FAIL_AUTH_FILE), "auth_file");
	CHECK_STR(remote__failure_name(REMOTE_FAIL__COUNT), "unknown");
}

/* remote__new refuses what could never work. */
static void test_new_validation(void)
{
	struct labels bad = {};
	struct remote *r = NULL;
	struct remote_opts o = { .url = "http://127.0.0.1:1" };

	CHECK_INT(remote__new(&o, &r), ==, 0);
	remote__free(r);
	remote__free(NULL);
	o.url = "ftp://x";
	CHECK_INT(remote__new(&o, &r), ==, -EINVAL);
	o.url = "http://x/a b";
	CHECK_INT(remote__new(&o, &r), ==, -EINVAL);
	o.url = NULL;
	CHECK_INT(remote__new(&o, &r), ==, -EINVAL);
	o.url = "https://x";
	o.bearer_token_file = "/t";
	o.basic_auth_username = "u";
	o.basic_auth_password_file = "/p";
	CHECK_INT(remote__new(&o, &r), ==, -EINVAL);
	o.bearer_token_file = NULL;
	o.basic_auth_password_file = NULL;
	CHECK_INT(remote__new(&o, &r), ==, -EINVAL);
	o.basic_auth_username = NULL;
	o.tenant_id = "a\r\nX-Evil: 1";
	CHECK_INT(remote__new(&o, &r), ==, -EINVAL);
	o.tenant_id = NULL;
	REQUIRE(labels__set(&bad, "Content-Type", "text/plain") == 0);
	o.headers = &bad;
	CHECK_INT(remote__new(&o, &r), ==, -EINVAL);
	labels__clear(&bad);
	REQUIRE(labels__set(&bad, "X-Ok", "a\nb") == 0);
	CHECK_INT(remote__new(&o, &r), ==, -EINVAL);
	labels__clear(&bad);
	o.protocol = (enum remote_protocol)7;
	o.headers = NULL;
	CHECK_INT(remote__new(&o, &r), ==, -EINVAL);
}

static Push__V1__PushRequest *unpack_push(const struct remote_request *r)
{
	Push__V1__PushRequest *req = push__v1__push_request__unpack(NULL, r->body.len, r->body.data);

	REQUIRE(req);
	return req;
}

static const char *pair(const Push__V1__RawProfileSeries *s, const char *name)
{
	for (size_t i = 0; i < s->n_labels; i++)
		if (strcmp(s->labels[i]->name, name) == 0)
			return s->labels[i]->value;
	return NULL;
}

/* Pyroscope's label rules, checked on the encoded request itself. */
static void test_pyroscope_labels(void)
{
	int64_t total;
	_cleanup_(cleanup_pprof__free) struct pprof *p =
		test_profile("alpha", alpha_funcs, 3, 2, START_NS, &total);
	struct labels ls = {};
	char name[32], longv[3001];
	struct upload_series s = { &ls, p };
	struct upload_window w = { START_NS, END_NS, &s, 1 };
	struct remote_encode_opts o = { .protocol = REMOTE_PYROSCOPE };
	_cleanup_(cleanup_remote__batch_free) struct remote_batch *b = NULL;
	Push__V1__PushRequest *req;

	/* 40 labels z00..z39, a dotted name, a colliding pair, a value past
	 * 2048 bytes made of 2-byte characters, a bad UTF-8 byte */
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "z%02d", i);
		REQUIRE(labels__set(&ls, name, "v") == 0);
	}
	REQUIRE(labels__set(&ls, "k8s.pod.name", "web-1") == 0);
	REQUIRE(labels__set(&ls, "a.b", "dotted") == 0);
	REQUIRE(labels__set(&ls, "a_b", "underscored") == 0);
	for (int i = 0; i < 1500; i++)
		memcpy(longv + 2 * i, "\xc3\xa9", 2);
	longv[3000] = 0;
	REQUIRE(labels__set(&ls, "b_long", longv) == 0);
	REQUIRE(labels__set(&ls, "c_bad", "x\xffy") == 0);
	REQUIRE(labels__set(&ls, "__name__", "ignored") == 0);

	CHECK_INT(remote__encode(&o, &w, &b), ==, 0);
	REQUIRE(b && b->n == 1);
	CHECK_STR(b->requests[0].path, "/push.v1.PusherService/Push");
	CHECK_INT(b->requests[0].profiles, ==, 1);
	req = unpack_push(&b->requests[0]);
	REQUIRE(req->n_series == 1);
	{
		const Push__V1__RawProfileSeries *ps = req->series[0];
		const char *v;

		CHECK_U64(ps->n_labels, ==, REMOTE_MAX_LABELS);
		CHECK_STR(pair(ps, "__name__"), "process_cpu");
		CHECK_STR(pair(ps, "service_name"), "unknown_service");
		CHECK_STR(pair(ps, "__delta__"), "false");
		/* alphabetical after those three: a_b (the first spelling,
		 * "a.b", wins), b_long, c_bad, k8s_pod_name, z00.. */
		CHECK_STR(pair(ps, "a_b"), "dotted");
		CHECK_STR(pair(ps, "c_bad"), "x?y");
		CHECK_STR(pair(ps, "k8s_pod_name"), "web-1");
		CHECK(pair(ps, "k8s.pod.name") == NULL);
		CHECK_STR(pair(ps, "z00"), "v");
		CHECK_STR(pair(ps, "z22"), "v");
		CHECK(pair(ps, "z23") == NULL);
		v = pair(ps, "b_long");
		REQUIRE(v);
		CHECK_U64(strlen(v), ==, 2048);
		CHECK(valid_utf8(v));
		for (size_t i = 0; i < ps->n_labels; i++)
			for (size_t j = i + 1; j < ps->n_labels; j++)
				CHECK(strcmp(ps->labels[i]->name, ps->labels[j]->name) != 0);
		REQUIRE(ps->n_samples == 1);
		CHECK(is_uuid4(ps->samples[0]->id));
		CHECK_U64(ps->samples[0]->raw_profile.len, >, 20);
		CHECK_INT(ps->samples[0]->raw_profile.data[0], ==, 0x1f);
	}
	push__v1__push_request__free_unpacked(req, NULL);
	remote__batch_free(TAKE_PTR(b));

	/* service_name from the series, a leading digit made valid */
	labels__clear(&ls);
	REQUIRE(labels__set(&ls, "service_name", "checkout") == 0);
	REQUIRE(labels__set(&ls, "9lives", "cat") == 0);
	CHECK_INT(remote__encode(&o, &w, &b), ==, 0);
	REQUIRE(b && b->n == 1);
	req = unpack_push(&b->requests[0]);
	REQUIRE(req->n_series == 1);
	CHECK_STR(pair(req->series[0], "service_name"), "checkout");
	CHECK_STR(pair(req->series[0], "_9lives"), "cat");
	CHECK_U64(req->series[0]->n_labels, ==, 4);
	push__v1__push_request__free_unpacked(req, NULL);
	labels__clear(&ls);
}

/* A window whose series have no samples sends nothing. */
static void test_empty_window(void)
{
	struct pprof_opts po = { .period_ns = TEST_PERIOD_NS, .time_nanos = START_NS };
	_cleanup_(cleanup_pprof__free) struct pprof *p = pprof__new(&po);
	struct upload_series s[2] = { { NULL, p }, { NULL, NULL } };
	struct upload_window w = { START_NS, END_NS, s, 2 };
	struct remote_encode_opts o = { .protocol = REMOTE_PARCA };
	_cleanup_(cleanup_remote__batch_free) struct remote_batch *b = NULL;

	CHECK_INT(remote__encode(&o, &w, &b), ==, 0);
	REQUIRE(b);
	CHECK_U64(b->n, ==, 0);
	CHECK_U64(remote__batch_pending(b), ==, 0);
	CHECK_INT(remote__encode(NULL, &w, &b), ==, -EINVAL);
}

/* Records survive the round trip; any damage is -EBADMSG, never a crash. */
static void test_batch_records(void)
{
	int64_t total;
	_cleanup_(cleanup_pprof__free) struct pprof *pa = test_profile("a", alpha_funcs, 3, 5, START_NS, &total);
	_cleanup_(cleanup_pprof__free) struct pprof *pb = test_profile("b", beta_funcs, 2, 5, START_NS, &total);
	struct labels la = {}, lb = {};
	struct upload_series s[2] = { { &la, pa }, { &lb, pb } };
	struct upload_window w = { START_NS, END_NS, s, 2 };
	struct remote_encode_opts o = { .protocol = REMOTE_PYROSCOPE_INGEST, .frequency_hz = 99 };
	_cleanup_(cleanup_remote__batch_free) struct remote_batch *b = NULL, *c = NULL;
	struct buf rec = {}, rec2 = {};

	REQUIRE(labels__set(&la, "service_name", "svc-a") == 0);
	REQUIRE(labels__set(&lb, "service_name", "svc-b") == 0);
	CHECK_INT(remote__encode(&o, &w, &b), ==, 0);
	REQUIRE(b && b->n == 2);
	b->requests[1].done = true;
	CHECK_U64(remote__batch_pending(b), ==, 1);
	CHECK_INT(remote__batch_serialize(b, &rec), ==, 0);
	CHECK_INT(remote__batch_parse(rec.data, rec.len, &c), ==, 0);
	REQUIRE(c);
	CHECK_INT(c->protocol, ==, REMOTE_PYROSCOPE_INGEST);
	CHECK_INT(c->start_ns, ==, START_NS);
	CHECK_INT(c->end_ns, ==, END_NS);
	REQUIRE(c->n == 2);
	for (size_t i = 0; i < 2; i++) {
		CHECK_STR(c->requests[i].path, b->requests[i].path);
		CHECK_U64(c->requests[i].body.len, ==, b->requests[i].body.len);
		CHECK(memcmp(c->requests[i].body.data, b->requests[i].body.data, b->requests[i].body.len) == 0);
		CHECK_INT(c->requests[i].done, ==, b->requests[i].done);
		CHECK_INT(c->requests[i].profiles, ==, 1);
	}
	CHECK(strstr(c->requests[0].path, "name=svc-a%7B") != NULL);
	CHECK(strstr(c->requests[0].path, "&sampleRate=99") != NULL);
	/* the same record again: serializing is deterministic */
	CHECK_INT(remote__batch_serialize(c, &rec2), ==, 0);
	CHECK(rec.len == rec2.len && memcmp(rec.data, rec2.data, rec.len) == 0);

	/* every truncation, a flipped magic, a trailing byte, a lying count */
	for (size_t len = 0; len < rec.len; len++) {
		struct remote_batch *bad = NULL;

		if (remote__batch_parse(rec.data, len, &bad) != -EBADMSG) {
			CHECK_INT(remote__batch_parse(rec.data, len, &bad), ==, -EBADMSG);
			break;
		}
	}
	rec.data[0] ^= 1;
	{
		struct remote_batch *bad = NULL;

		CHECK_INT(remote__batch_parse(rec.data, rec.len, &bad), ==, -EBADMSG);
		rec.data[0] ^= 1;
		REQUIRE(buf_append(&rec, "x", 1) == 0);
		CHECK_INT(remote__batch_parse(rec.data, rec.len, &bad), ==, -EBADMSG);
		rec.len--;
		rec.data[24] = 0xff; /* request count, low byte */
		rec.data[25] = 0xff;
		CHECK_INT(remote__batch_parse(rec.data, rec.len, &bad), ==, -EBADMSG);
		CHECK(bad == NULL);
	}
	buf_release(&rec);
	buf_release(&rec2);
	labels__clear(&la);
	labels__clear(&lb);
}

/* A profile over 16,000 samples, and one over a (test-sized) byte bound,
 * are split into parts that each stay under both. */
static void test_split_encode(void)
{
	int64_t total;
	_cleanup_(cleanup_pprof__free) struct pprof *p =
		test_profile("big", gamma_funcs, 4, 20000, START_NS, &total);
	struct labels ls = {};
	struct upload_series s = { &ls, p };
	struct upload_window w = { START_NS, END_NS, &s, 1 };
	struct remote_encode_opts o = { .protocol = REMOTE_PYROSCOPE };
	_cleanup_(cleanup_remote__batch_free) struct remote_batch *b = NULL;
	size_t parts = 0;

	REQUIRE(labels__set(&ls, "service_name", "big") == 0);
	CHECK_INT(remote__encode(&o, &w, &b), ==, 0);
	REQUIRE(b);
	CHECK_U64(b->profiles, ==, 2);
	CHECK_U64(b->samples_dropped, ==, 0);
	remote__batch_free(TAKE_PTR(b));

	/* 64 KiB parts (about 5 KiB gzipped), 16 KiB bodies: several parts
	 * per request, several requests, the series' labels in each */
	o.max_profile_bytes = 64 << 10;
	o.max_body_bytes = 16 << 10;
	CHECK_INT(remote__encode(&o, &w, &b), ==, 0);
	REQUIRE(b);
	CHECK_U64(b->n, >=, 2);
	for (size_t i = 0; i < b->n; i++) {
		Push__V1__PushRequest *req = unpack_push(&b->requests[i]);

		CHECK_U64(b->requests[i].body.len, <=, (16 << 10) + (64 << 10));
		REQUIRE(req->n_series == 1);
		if (i + 1 < b->n)
			CHECK_U64(req->series[0]->n_samples, >=, 2);
		CHECK_STR(pair(req->series[0], "service_name"), "big");
		parts += req->series[0]->n_samples;
		CHECK_U64(req->series[0]->n_samples, ==, b->requests[i].profiles);
		push__v1__push_request__free_unpacked(req, NULL);
	}
	CHECK_U64(parts, ==, b->profiles);
	CHECK_U64(parts, >=, 8);
	remote__batch_free(TAKE_PTR(b));

	/* a bound no single sample fits under: every sample is left out */
	o.max_profile_bytes = 50;
	CHECK_INT(remote__encode(&o, &w, &b), ==, 0);
	REQUIRE(b);
	CHECK_U64(b->n, ==, 0);
	CHECK_U64(b->samples_dropped, ==, 20000);
	labels__clear(&ls);
}

/* ---- against the receiver ---- */

struct window_fixture {
	struct pprof *p[3];
	struct labels ls[3];
	struct upload_series s[3];
	struct upload_window w;
	int64_t total[3];
};

static void fixture_init(struct window_fixture *f)
{
	memset(f, 0, sizeof(*f));
	f->p[0] = test_profile("alpha", alpha_funcs, 3, 4, START_NS, &f->total[0]);
	f->p[1] = test_profile("beta", beta_funcs, 2, 2, START_NS, &f->total[1]);
	f->p[2] = test_profile("gamma", gamma_funcs, 4, 3, START_NS, &f->total[2]);
	REQUIRE(labels__set(&f->ls[0], "service_name", "alpha") == 0);
	REQUIRE(labels__set(&f->ls[0], "k8s.namespace", "prod") == 0);
	REQUIRE(labels__set(&f->ls[0], "pid", "101") == 0);
	REQUIRE(labels__set(&f->ls[1], "service_name", "beta svc,{x}") == 0);
	REQUIRE(labels__set(&f->ls[1], "pid", "102") == 0);
	REQUIRE(labels__set(&f->ls[1], "comm", "a,b}c") == 0);
	REQUIRE(labels__set(&f->ls[2], "pid", "103") == 0);
	REQUIRE(labels__set(&f->ls[2], "node", "worker-7") == 0);
	for (int i = 0; i < 3; i++)
		f->s[i] = (struct upload_series){ &f->ls[i], f->p[i] };
	f->w = (struct upload_window){ START_NS, END_NS, f->s, 3 };
}

static void fixture_release(struct window_fixture *f)
{
	for (int i = 0; i < 3; i++) {
		pprof__free(f->p[i]);
		labels__clear(&f->ls[i]);
	}
}

/* The series of a record whose labels have name=value. */
static json_object *find_series(json_object *records, const char *name, const char *value,
				json_object **record)
{
	for (size_t i = 0; i < json_object_array_length(records); i++) {
		json_object *rec = json_object_array_get_idx(records, i), *series = jget(rec, "series");

		for (size_t j = 0; series && j < json_object_array_length(series); j++) {
			json_object *s = json_object_array_get_idx(series, j);

			if (strcmp(jstr(jget(s, "labels"), name), value) == 0) {
				if (record)
					*record = rec;
				return s;
			}
		}
	}
	return NULL;
}

/* The one profile of a series decodes (go tool pprof) with the CPU sample
 * types, its function names and its total count. */
static void check_profile(json_object *series, const char *const *funcs, size_t n, int64_t total)
{
	json_object *profiles = jget(series, "profiles"), *p;

	REQUIRE(profiles && json_object_array_length(profiles) == 1);
	p = json_object_array_get_idx(profiles, 0);
	CHECK_STR(jstr(p, "error"), "");
	CHECK(jarray_has(jget(p, "sample_types"), "samples/count"));
	CHECK(jarray_has(jget(p, "sample_types"), "cpu/nanoseconds"));
	CHECK_STR(jstr(p, "period_type"), "cpu nanoseconds");
	CHECK_INT(json_object_get_int64(jget(p, "total")), ==, total);
	for (size_t i = 0; i < n; i++)
		if (!jarray_has(jget(p, "functions"), funcs[i])) {
			fprintf(stderr, "function %s missing in %s\n", funcs[i],
				json_object_to_json_string(p));
			CHECK(!"function missing");
		}
}

static void send_all(struct remote *r, struct remote_batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		struct remote_status st;

		CHECK_INT(remote__send(r, b, i, &st), ==, REMOTE_OK);
		if (st.result != REMOTE_OK)
			fprintf(stderr, "send failed: %s: %s\n", remote__failure_name(st.reason), st.message);
		CHECK_U64(st.bytes_sent, ==, b->requests[i].body.len);
		CHECK(b->requests[i].done);
	}
	CHECK_U64(remote__batch_pending(b), ==, 0);
}

static void write_file(const char *path, const char *s)
{
	FILE *f = fopen(path, "we");

	REQUIRE(f);
	fputs(s, f);
	REQUIRE(fclose(f) == 0);
}

/* The receiver ("ok" mode) and the TLS keys the cases below share: the
 * fixtures at the end of the file set them up. */
static struct receiver *rc;
static const struct tls_files *t;

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
	int64_t total;
	_cleanup_(cleanup_pprof__free) struct pprof *p =
		test_profile("big", gamma_funcs, 4, 20000, START_NS, &total);
	struct labels ls = {};
	struct upload_series s = { &ls, p };
	struct upload_window w = { START_NS, END_NS, &s, 1 };
	struct remote_opts ro = { .protocol = REMOTE_PYROSCOPE, .url = rc->url };
	struct remote_encode_opts eo = { .protocol = REMOTE_PYROSCOPE };
	_cleanup_(cleanup_remote__free) struct remote *r = NULL;
	_cleanup_(cleanup_remote__batch_free) struct remote_batch *b = NULL;
	json_object *records, *series, *profiles;
	int64_t samples = 0, sum = 0;

	receiver_clear(rc);
	REQUIRE(labels__set(&ls, "service_name", "big") == 0);
	REQUIRE(remote__new(&ro, &r) == 0);
	REQUIRE(remote__encode(&eo, &w, &b) == 0);
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
	CHECK_INT(sum, ==, total);
	CHECK(strcmp(jstr(json_object_array_get_idx(profiles, 0), "id"),
		     jstr(json_object_array_get_idx(profiles, 1), "id")) != 0);
	json_object_put(records);
	labels__clear(&ls);
}

/* One request of a small window through r, in the receiver's mode. */
static enum remote_result send_one(struct receiver *rc, struct remote *r, enum remote_protocol proto,
				   const char *mode_json, struct remote_status *st)
{
	struct window_fixture f;
	struct remote_encode_opts eo = { .protocol = proto };
	struct remote_batch *b = NULL;
	enum remote_result res;

	fixture_init(&f);
	receiver_mode(rc, mode_json);
	REQUIRE(remote__encode(&eo, &f.w, &b) == 0);
	res = remote__send(r, b, 0, st);
	CHECK_INT(b->requests[0].done, ==, res == REMOTE_OK);
	remote__batch_free(b);
	fixture_release(&f);
	return res;
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
		 * in the next test's count (test_tls_to_plain) */
		CHECK(receiver_wait(rc, recorded + 1, 15));
	}
	receiver_mode(rc, "{\"modes\":[\"ok\"]}");
}

/* ---- TLS ---- */

extern char **environ;

struct tls_files {
	char dir[PATH_MAX];
	char ca[PATH_MAX + 32], other_ca[PATH_MAX + 32], other_ca_key[PATH_MAX + 32];
	char server_crt[PATH_MAX + 32], server_key[PATH_MAX + 32];
	char wrong_host_crt[PATH_MAX + 32], wrong_host_key[PATH_MAX + 32];
	char client_crt[PATH_MAX + 32], client_key[PATH_MAX + 32], client_bundle[PATH_MAX + 32];
	char stderr_file[PATH_MAX + 32];
};

/* Fresh keys for this run, by tests/tools/make-test-certs.sh in a new directory. */
static void tls_files_make(struct tls_files *t)
{
	memset(t, 0, sizeof(*t));
	REQUIRE(have_program("openssl"));
	test_certs_make(t->dir, sizeof(t->dir), "brasa-tls");
#define TLS_PATH(field, name) snprintf(t->field, sizeof(t->field), "%s/" name, t->dir)
	TLS_PATH(ca, "ca.crt");
	TLS_PATH(other_ca, "other-ca.crt");
	TLS_PATH(other_ca_key, "other-ca.key");
	TLS_PATH(server_crt, "server.crt");
	TLS_PATH(server_key, "server.key");
	TLS_PATH(wrong_host_crt, "wrong-host.crt");
	TLS_PATH(wrong_host_key, "wrong-host.key");
	TLS_PATH(client_crt, "client.crt");
	TLS_PATH(client_key, "client.key");
	TLS_PATH(client_bundle, "client-bundle.pem");
	TLS_PATH(stderr_file, "stderr");
#undef TLS_PATH
	REQUIRE(access(t->client_bundle, R_OK) == 0);
}

static void tls_files_remove(struct tls_files *t)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "failed to remove %s\n", t->dir);
}

/* remote__new's log goes to stderr: these catch it for a check. */
static int capture_stderr(const struct tls_files *t)
{
	int saved = dup(STDERR_FILENO);
	int fd = open(t->stderr_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	REQUIRE(saved >= 0 && fd >= 0);
	fflush(stderr);
	REQUIRE(dup2(fd, STDERR_FILENO) == STDERR_FILENO);
	close(fd);
	return saved;
}

static void restore_stderr(const struct tls_files *t, int saved, struct buf *out)
{
	fflush(stderr);
	REQUIRE(dup2(saved, STDERR_FILENO) == STDERR_FILENO);
	close(saved);
	buf_reset(out);
	REQUIRE(buf_read_file(t->stderr_file, out, 1 << 20) == 0);
	fprintf(stderr, "--- captured log ---\n%s--- end ---\n", (char *)out->data);
}

/* remote__new with stderr captured into log. */
static int new_logged(const struct tls_files *t, const struct remote_opts *o, struct remote **r,
		      struct buf *log)
{
	int saved = capture_stderr(t), err;

	err = remote__new(o, r);
	restore_stderr(t, saved, log);
	return err;
}

/* Waits up to 3 s for the receiver to have seen n failed handshakes (it
 * notes one just after the alert went out); true if the last one
 * contains reason. */
static bool tls_error_seen(struct receiver *rc, size_t n, const char *reason)
{
	double deadline = clock__mono_s() + 3;

	for (;;) {
		json_object *errs = receiver_tls_errors(rc);
		size_t len = json_object_array_length(errs);
		bool found = len >= n &&
			     strstr(json_object_get_string(json_object_array_get_idx(errs, len - 1)),
				    reason) != NULL;

		if (len >= n || clock__mono_s() > deadline) {
			if (!found)
				fprintf(stderr, "receiver's TLS errors: %s (wanted %zu, the last with %s)\n",
					json_object_to_json_string(errs), n, reason);
			json_object_put(errs);
			return found;
		}
		json_object_put(errs);
		sleep_ms(20);
	}
}

/* Delivers the fixture window through a new remote with o, and checks the
 * receiver decoded it: the alpha series, its labels and its profile. */
static void check_delivered(struct receiver *rc, const struct remote_opts *o)
{
	struct window_fixture f;
	struct remote_encode_opts eo = { .protocol = o->protocol };
	_cleanup_(cleanup_remote__free) struct remote *r = NULL;
	_cleanup_(cleanup_remote__batch_free) struct remote_batch *b = NULL;
	json_object *records, *s, *rec = NULL;

	fixture_init(&f);
	receiver_clear(rc);
	REQUIRE(remote__new(o, &r) == 0);
	REQUIRE(remote__encode(&eo, &f.w, &b) == 0);
	REQUIRE(b->n >= 1);
	send_all(r, b);
	records = receiver_records(rc);
	/* pyroscope-ingest sends one request per series */
	CHECK_U64(json_object_array_length(records), ==, b->n);
	s = find_series(records, o->protocol == REMOTE_PYROSCOPE_INGEST ? "__app__" : "service_name",
			"alpha", &rec);
	CHECK(s != NULL);
	if (s) {
		CHECK_STR(jstr(rec, "error"), "");
		CHECK_STR(jstr(jget(s, "labels"), "k8s_namespace"), "prod");
		check_profile(s, alpha_funcs, 3, f.total[0]);
	}
	json_object_put(records);
	fixture_release(&f);
}

/* One send through a new remote with o that must fail before any request
 * reaches the receiver: RETRY/network, no HTTP status; the message in st. */
static void check_refused(struct receiver *rc, const struct remote_opts *o, struct remote_status *st)
{
	_cleanup_(cleanup_remote__free) struct remote *r = NULL;
	size_t before = receiver_count(rc);

	REQUIRE(remote__new(o, &r) == 0);
	CHECK_INT(send_one(rc, r, o->protocol, "{\"modes\":[\"ok\"]}", st), ==, REMOTE_RETRY);
	CHECK_INT(st->reason, ==, REMOTE_FAIL_NETWORK);
	CHECK_INT(st->http_status, ==, 0);
	CHECK_U64(receiver_count(rc), ==, before);
	fprintf(stderr, "refused as expected: %s\n", st->message);
}

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The server's certificate: trusted through ca_file, not through another
 * CA or the system's, not under a host name it was not made for; a
 * refused connection says something else; insecure_skip_verify sends
 * anyway. */
static void test_tls_server(void)
{
	struct receiver rc;
	struct remote_opts o = { .protocol = REMOTE_PYROSCOPE, .timeout_ms = 10000 };
	struct remote_status st;
	char localhost_url[64], want[PATH_MAX + 128];
	size_t tls_errors = 0;

	receiver_start_tls(&rc, "ok", t->server_crt, t->server_key, NULL);
	REQUIRE(starts_with(rc.url, "https://127.0.0.1:"));
	o.url = rc.url;

	/* the CA that signed it: delivered and decoded; also as "localhost"
	 * (the certificate's DNS name) */
	o.ca_file = t->ca;
	check_delivered(&rc, &o);
	snprintf(localhost_url, sizeof(localhost_url), "https://localhost:%d", rc.port);
	o.url = localhost_url;
	check_delivered(&rc, &o);
	o.url = rc.url;

	/* another CA: not delivered, a retryable network failure that says
	 * it is the certificate; the receiver saw our "unknown ca" alert */
	o.ca_file = t->other_ca;
	check_refused(&rc, &o, &st);
	snprintf(want, sizeof(want),
		 "TLS: the server's certificate failed verification against the CA file '%s': ",
		 t->other_ca);
	CHECK(starts_with(st.message, want));
	CHECK(strstr(st.message, "SSL certificate problem: unable to get local issuer certificate"));
	CHECK(tls_error_seen(&rc, ++tls_errors, "UNKNOWN_CA"));

	/* no ca_file: the system's CAs do not know this one either */
	o.ca_file = NULL;
	check_refused(&rc, &o, &st);
	CHECK(starts_with(st.message,
			  "TLS: the server's certificate failed verification against the system's CAs: "));
	CHECK(tls_error_seen(&rc, ++tls_errors, "UNKNOWN_CA"));

	/* nothing listening there: a network failure that is not TLS's */
	o.ca_file = t->ca;
	{
		_cleanup_(cleanup_remote__free) struct remote *r = NULL;

		REQUIRE(remote__new(&o, &r) == 0);
		CHECK_INT(send_one(&rc, r, REMOTE_PYROSCOPE, "{\"modes\":[\"refuse\"]}", &st), ==,
			  REMOTE_RETRY);
		CHECK_INT(st.reason, ==, REMOTE_FAIL_NETWORK);
		CHECK(!starts_with(st.message, "TLS"));
		CHECK(strstr(st.message, "onnect") != NULL);
		fprintf(stderr, "refused connection: %s\n", st.message);
		receiver_mode(&rc, "{\"modes\":[\"ok\"]}");
	}

	/* a CA file that holds no certificate */
	o.ca_file = t->server_key;
	check_refused(&rc, &o, &st);
	snprintf(want, sizeof(want), "TLS: unusable CA file '%s': ", t->server_key);
	CHECK(starts_with(st.message, want));

	/* insecure_skip_verify: the wrong CA does not matter */
	o.ca_file = t->other_ca;
	o.insecure_skip_verify = true;
	check_delivered(&rc, &o);
	o.ca_file = NULL;
	check_delivered(&rc, &o);
	receiver_stop(&rc);

	/* a certificate from the right CA for another host name: refused,
	 * so host name verification is on; insecure_skip_verify sends */
	receiver_start_tls(&rc, "ok", t->wrong_host_crt, t->wrong_host_key, NULL);
	o.url = rc.url;
	o.ca_file = t->ca;
	o.insecure_skip_verify = false;
	check_refused(&rc, &o, &st);
	snprintf(want, sizeof(want),
		 "TLS: the server's certificate failed verification against the CA file '%s': ",
		 t->ca);
	CHECK(starts_with(st.message, want));
	CHECK(strstr(st.message, "'127.0.0.1'") != NULL);
	o.insecure_skip_verify = true;
	check_delivered(&rc, &o);
	receiver_stop(&rc);
}

/* An https:// URL on a plain HTTP server: a handshake failure. */
static void test_tls_to_plain(void)
{
	char url[64];
	struct remote_opts o = { .protocol = REMOTE_PYROSCOPE, .url = url, .ca_file = t->ca,
				 .timeout_ms = 10000 };
	struct remote_status st;

	REQUIRE(starts_with(rc->url, "http://"));
	snprintf(url, sizeof(url), "https://%s", rc->url + strlen("http://"));
	check_refused(rc, &o, &st);
	CHECK(starts_with(st.message, "TLS: handshake failed: "));
}

/* A server that requires a client certificate signed by its CA. */
static void test_tls_client_cert(void)
{
	struct receiver rc;
	struct remote_opts o = { .protocol = REMOTE_PARCA, .timeout_ms = 10000 };
	struct remote_status st;
	char key_copy[PATH_MAX + 32], want[3 * PATH_MAX];
	size_t tls_errors = 0;

	receiver_start_tls(&rc, "ok", t->server_crt, t->server_key, t->ca);
	o.url = rc.url;
	o.ca_file = t->ca;

	/* none: the server ends the handshake, and the message says why */
	check_refused(&rc, &o, &st);
	CHECK(starts_with(st.message, "TLS: the server requires a client certificate: ") ||
	      /* TLS 1.2 only has the generic alert */
	      starts_with(st.message, "TLS: the server refused the TLS handshake: "));
	CHECK(tls_error_seen(&rc, ++tls_errors, "PEER_DID_NOT_RETURN_A_CERTIFICATE"));

	/* cert_file and key_file: delivered (parca, to check another
	 * protocol's framing over TLS) */
	o.cert_file = t->client_crt;
	o.key_file = t->client_key;
	check_delivered(&rc, &o);
	/* certificate and key in one file, no key_file */
	o.cert_file = t->client_bundle;
	o.key_file = NULL;
	o.protocol = REMOTE_PYROSCOPE_INGEST;
	check_delivered(&rc, &o);
	o.protocol = REMOTE_PARCA;

	/* a certificate the server's CA did not sign */
	o.cert_file = t->other_ca;
	o.key_file = t->other_ca_key;
	check_refused(&rc, &o, &st);
	CHECK(starts_with(st.message, "TLS: the server does not trust the client certificate's CA: ") ||
	      starts_with(st.message, "TLS: the server rejected the client certificate: "));
	CHECK(tls_error_seen(&rc, ++tls_errors, "CERTIFICATE_VERIFY_FAILED"));

	/* a key that is not the certificate's: curl refuses before sending */
	o.cert_file = t->client_crt;
	o.key_file = t->server_key;
	check_refused(&rc, &o, &st);
	snprintf(want, sizeof(want), "TLS: unusable client certificate '%s' or key '%s': ",
		 t->client_crt, t->server_key);
	CHECK(starts_with(st.message, want));

	/* the key gone between remote__new and the send (a botched rotation) */
	snprintf(key_copy, sizeof(key_copy), "%s/rotated.key", t->dir);
	{
		struct buf key = {};
		_cleanup_(cleanup_remote__free) struct remote *r = NULL;
		size_t before = receiver_count(&rc);

		REQUIRE(buf_read_file(t->client_key, &key, 1 << 20) == 0);
		write_file(key_copy, (const char *)key.data);
		buf_release(&key);
		o.key_file = key_copy;
		REQUIRE(remote__new(&o, &r) == 0);
		REQUIRE(unlink(key_copy) == 0);
		CHECK_INT(send_one(&rc, r, REMOTE_PARCA, "{\"modes\":[\"ok\"]}", &st), ==, REMOTE_RETRY);
		CHECK_INT(st.reason, ==, REMOTE_FAIL_NETWORK);
		snprintf(want, sizeof(want), "TLS: unusable client certificate '%s' or key '%s': ",
			 t->client_crt, key_copy);
		CHECK(starts_with(st.message, want));
		CHECK_U64(receiver_count(&rc), ==, before);
		fprintf(stderr, "key gone: %s\n", st.message);
	}
	receiver_stop(&rc);
}

/* TLS files remote__new refuses, each with a log line naming the file. */
static void test_tls_new_validation(void)
{
	struct remote_opts o = { .protocol = REMOTE_PYROSCOPE, .url = "https://127.0.0.1:1" };
	struct remote *r = NULL;
	struct buf log = {};
	char missing[PATH_MAX + 32], want[2 * PATH_MAX];

	snprintf(missing, sizeof(missing), "%s/no-such.key", t->dir);

	/* cert_file with a key_file that cannot be read */
	o.cert_file = t->client_crt;
	o.key_file = missing;
	CHECK_INT(new_logged(t, &o, &r, &log), ==, -ENOENT);
	CHECK(r == NULL);
	snprintf(want, sizeof(want),
		 "failed to read remote TLS client key '%s': No such file or directory", missing);
	CHECK(strstr((const char *)log.data, want) != NULL);

	/* cert_file alone, but the file holds no key */
	o.key_file = NULL;
	CHECK_INT(new_logged(t, &o, &r, &log), ==, -EINVAL);
	snprintf(want, sizeof(want),
		 "remote TLS client certificate '%s' holds no private key and no key file is set",
		 t->client_crt);
	CHECK(strstr((const char *)log.data, want) != NULL);

	/* key_file alone */
	o.cert_file = NULL;
	o.key_file = t->client_key;
	CHECK_INT(new_logged(t, &o, &r, &log), ==, -EINVAL);
	CHECK(strstr((const char *)log.data, "is set without a client certificate") != NULL);

	/* a missing CA file */
	o.key_file = NULL;
	o.ca_file = missing;
	CHECK_INT(new_logged(t, &o, &r, &log), ==, -ENOENT);
	snprintf(want, sizeof(want), "failed to read remote TLS CA file '%s'", missing);
	CHECK(strstr((const char *)log.data, want) != NULL);

	/* what works: both files, or a bundle; nothing logged */
	o.ca_file = t->ca;
	o.cert_file = t->client_crt;
	o.key_file = t->client_key;
	CHECK_INT(new_logged(t, &o, &r, &log), ==, 0);
	CHECK_U64(log.len, ==, 0);
	remote__free(TAKE_PTR(r));
	o.cert_file = t->client_bundle;
	o.key_file = NULL;
	CHECK_INT(new_logged(t, &o, &r, &log), ==, 0);
	CHECK_U64(log.len, ==, 0);
	remote__free(TAKE_PTR(r));
	buf_release(&log);
}

static struct receiver ok_receiver;
static struct tls_files tls_keys;

static void ok_receiver_start(void)
{
	receiver_start(&ok_receiver, "ok");
	rc = &ok_receiver;
}

static void ok_receiver_stop(void)
{
	receiver_stop(&ok_receiver);
	rc = NULL;
}

static void tls_keys_make(void)
{
	tls_files_make(&tls_keys);
	t = &tls_keys;
}

/* kept for a look when a case failed */
static void tls_keys_remove(void)
{
	if (!test_failures)
		tls_files_remove(&tls_keys);
	t = NULL;
}

static struct test_fixture receiver = { ok_receiver_start, ok_receiver_stop };
static struct test_fixture tls = { tls_keys_make, tls_keys_remove };

TEST_MAIN(NULL, NULL,
	  TEST_CASE(names),
	  TEST_CASE(new_validation),
	  TEST_CASE(pyroscope_labels),
	  TEST_CASE(empty_window),
	  TEST_CASE(batch_records),
	  TEST_CASE(split_encode),
	  TEST_CASE(pyroscope_receiver, &receiver),
	  TEST_CASE(basic_auth, &receiver),
	  TEST_CASE(ingest_receiver, &receiver),
	  TEST_CASE(parca_receiver, &receiver),
	  TEST_CASE(split_receiver, &receiver),
	  TEST_CASE(send_failures, &receiver),
	  TEST_CASE(tls_to_plain, &tls, &receiver),
	  TEST_CASE(tls_new_validation, &tls),
	  TEST_CASE(tls_server, &tls),
	  TEST_CASE(tls_client_cert, &tls))
