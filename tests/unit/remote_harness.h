/* Test helpers shared by test-remote, test-remote-send and test-remote-tls:
 * cleanups for remote's objects, a window of three series with known
 * functions and labels (START_NS..END_NS) for the cases that send, and what
 * they check on the way: every request of a batch sent, one request sent
 * with the receiver in a given mode, the series the receiver decoded by a
 * label, and its profile's sample types, functions and total. The
 * receiver itself and profiles with known function names: receiver.h.
 */
#ifndef BRASA_TESTS_REMOTE_HARNESS_H
#define BRASA_TESTS_REMOTE_HARNESS_H

#include "ship/remote.h"
#include "common/labels.h"
#include "common/macros.h"
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

static inline bool is_uuid4(const char *s)
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

/* Three series of 4, 2 and 3 samples (their totals in total): alpha
 * (service_name, a dotted k8s.namespace), "beta svc,{x}" (a service name
 * and a comm with the bytes the ingest key parser splits on), and one
 * without a service name but with its own node. */
struct window_fixture {
	struct pprof *p[3];
	struct labels ls[3];
	struct upload_series s[3];
	struct upload_window w;
	int64_t total[3];
};

static inline void fixture_init(struct window_fixture *f)
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

static inline void fixture_release(struct window_fixture *f)
{
	for (int i = 0; i < 3; i++) {
		pprof__free(f->p[i]);
		labels__clear(&f->ls[i]);
	}
}

/* One series (service_name=big) of 20,000 samples, over the 16,000 a
 * profile may hold, so its profile is split; total: its samples' count. */
struct big_window {
	struct pprof *p;
	struct labels ls;
	struct upload_series s;
	struct upload_window w;
	int64_t total;
};

static inline void big_window_init(struct big_window *bw)
{
	memset(bw, 0, sizeof(*bw));
	bw->p = test_profile("big", gamma_funcs, 4, 20000, START_NS, &bw->total);
	REQUIRE(labels__set(&bw->ls, "service_name", "big") == 0);
	bw->s = (struct upload_series){ &bw->ls, bw->p };
	bw->w = (struct upload_window){ START_NS, END_NS, &bw->s, 1 };
}

static inline void big_window_release(struct big_window *bw)
{
	pprof__free(bw->p);
	labels__clear(&bw->ls);
}

/* The series of a record whose labels have name=value. */
static inline json_object *find_series(json_object *records, const char *name,
				       const char *value, json_object **record)
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
static inline void check_profile(json_object *series, const char *const *funcs, size_t n,
				 int64_t total)
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

/* Sends every request of b through r: each OK and done. */
static inline void send_all(struct remote *r, struct remote_batch *b)
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

static inline void write_file(const char *path, const char *s)
{
	FILE *f = fopen(path, "we");

	REQUIRE(f);
	fputs(s, f);
	REQUIRE(fclose(f) == 0);
}

/* One request of a small window through r, in the receiver's mode. */
static inline enum remote_result send_one(struct receiver *rc, struct remote *r,
					  enum remote_protocol proto, const char *mode_json,
					  struct remote_status *st)
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

#endif
