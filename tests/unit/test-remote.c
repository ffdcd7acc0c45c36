/* Unit test of ship/remote without a server: protocol and failure names,
 * the options remote__new refuses, Pyroscope's label rules checked on the
 * encoded request, an empty window, batch records for the spool (round
 * trip and damage), and profiles split under the sample and byte bounds.
 * Requests to a receiver: test-remote-send.c; TLS: test-remote-tls.c.
 */
#include "proto/profilestore.pb-c.h"
#include "proto/push.pb-c.h"
#include "remote_harness.h"

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

/* One off-CPU sample: 3 switches, 2.5 s away. */
static struct pprof *offcpu_profile(void)
{
	const struct pprof_opts po = { .type = PPROF_TYPE_OFF_CPU, .time_nanos = START_NS,
				       .duration_nanos = END_NS - START_NS };
	struct pprof *p = new_pprof(&po);
	const struct pprof_line line = { "wait_for_it", "w.c", 7 };
	uint64_t loc = pprof__location(p, 0, 0x1234, &line, 1);

	REQUIRE(loc);
	REQUIRE(pprof__add_sample_value(p, &loc, 1, 3, 2500000000ll, NULL, 0) == 0);
	return p;
}

/* Each protocol names a window's profiles by its sample type
 * (docs/off-cpu.md): Pyroscope process_cpu and off_cpu, Parca
 * parca_agent_cpu and parca_agent_off_cpu; a type without a name is
 * refused. */
static void test_type_names(void)
{
	_cleanup_(cleanup_pprof__free) struct pprof *off = offcpu_profile();
	int64_t total;
	_cleanup_(cleanup_pprof__free) struct pprof *cpu =
		test_profile("alpha", alpha_funcs, 3, 2, START_NS, &total);
	struct labels ls = {};
	struct upload_series s = { &ls, off };
	struct upload_window w = { START_NS, END_NS, &s, 1, PPROF_TYPE_OFF_CPU };
	struct remote_encode_opts o = { .protocol = REMOTE_PYROSCOPE };
	_cleanup_(cleanup_remote__batch_free) struct remote_batch *b = NULL;
	Parca__Profilestore__V1alpha1__WriteRawRequest *raw;
	Push__V1__PushRequest *req;

	REQUIRE(labels__set(&ls, "service_name", "sleepy") == 0);
	CHECK_INT(remote__encode(&o, &w, &b), ==, 0);
	REQUIRE(b && b->n == 1);
	req = unpack_push(&b->requests[0]);
	REQUIRE(req->n_series == 1);
	CHECK_STR(pair(req->series[0], "__name__"), "off_cpu");
	CHECK_STR(pair(req->series[0], "service_name"), "sleepy");
	push__v1__push_request__free_unpacked(req, NULL);
	remote__batch_free(TAKE_PTR(b));

	s.profile = cpu;
	w.type = PPROF_TYPE_CPU;
	CHECK_INT(remote__encode(&o, &w, &b), ==, 0);
	REQUIRE(b && b->n == 1);
	req = unpack_push(&b->requests[0]);
	REQUIRE(req->n_series == 1);
	CHECK_STR(pair(req->series[0], "__name__"), "process_cpu");
	push__v1__push_request__free_unpacked(req, NULL);
	remote__batch_free(TAKE_PTR(b));

	/* parca: a gRPC-web frame (flag, length) around a WriteRawRequest */
	s.profile = off;
	w.type = PPROF_TYPE_OFF_CPU;
	o.protocol = REMOTE_PARCA;
	o.node = "n1";
	CHECK_INT(remote__encode(&o, &w, &b), ==, 0);
	REQUIRE(b && b->n == 1 && b->requests[0].body.len > 5);
	raw = parca__profilestore__v1alpha1__write_raw_request__unpack(
		NULL, b->requests[0].body.len - 5, b->requests[0].body.data + 5);
	REQUIRE(raw && raw->n_series == 1 && raw->series[0]->labels);
	{
		const Parca__Profilestore__V1alpha1__LabelSet *set = raw->series[0]->labels;
		const char *name = NULL;

		for (size_t i = 0; i < set->n_labels; i++)
			if (!strcmp(set->labels[i]->name, "__name__"))
				name = set->labels[i]->value;
		CHECK_STR(name, "parca_agent_off_cpu");
	}
	parca__profilestore__v1alpha1__write_raw_request__free_unpacked(raw, NULL);
	remote__batch_free(TAKE_PTR(b));

	w.type = PPROF_TYPE_MAX;
	CHECK_INT(remote__encode(&o, &w, &b), ==, -EINVAL);
	CHECK(b == NULL);
	labels__clear(&ls);
}

/* A window whose series have no samples sends nothing. */
static void test_empty_window(void)
{
	struct pprof_opts po = { .period_ns = TEST_PERIOD_NS, .time_nanos = START_NS };
	_cleanup_(cleanup_pprof__free) struct pprof *p = new_pprof(&po);
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
	struct big_window bw;
	struct remote_encode_opts o = { .protocol = REMOTE_PYROSCOPE };
	_cleanup_(cleanup_remote__batch_free) struct remote_batch *b = NULL;
	size_t parts = 0;

	big_window_init(&bw);
	CHECK_INT(remote__encode(&o, &bw.w, &b), ==, 0);
	REQUIRE(b);
	CHECK_U64(b->profiles, ==, 2);
	CHECK_U64(b->samples_dropped, ==, 0);
	remote__batch_free(TAKE_PTR(b));

	/* 64 KiB parts (about 5 KiB gzipped), 16 KiB bodies: several parts
	 * per request, several requests, the series' labels in each */
	o.max_profile_bytes = 64 << 10;
	o.max_body_bytes = 16 << 10;
	CHECK_INT(remote__encode(&o, &bw.w, &b), ==, 0);
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
	CHECK_INT(remote__encode(&o, &bw.w, &b), ==, 0);
	REQUIRE(b);
	CHECK_U64(b->n, ==, 0);
	CHECK_U64(b->samples_dropped, ==, 20000);
	big_window_release(&bw);
}

TEST_MAIN(NULL, NULL,
	  TEST_CASE(names),
	  TEST_CASE(new_validation),
	  TEST_CASE(pyroscope_labels),
	  TEST_CASE(type_names),
	  TEST_CASE(empty_window),
	  TEST_CASE(batch_records),
	  TEST_CASE(split_encode))
