/* Test helpers shared by test-uploader and test-uploader-spool-faults:
 * windows of known series (window=<k>, series=s<i>, service_name=svc<i>)
 * submitted to an uploader, a big incompressible one, uploader options
 * pointed at the receiver with a spool under its directory and short
 * backoffs, WAIT_STATS for a condition on the uploader's stats, and what
 * the receiver accepted (profile IDs, how often each came, the windows in
 * arrival order, refused IDs sent again). The receiver: receiver.h.
 */
#ifndef BRASA_TESTS_UPLOADER_HARNESS_H
#define BRASA_TESTS_UPLOADER_HARNESS_H

#include "ship/remote.h"
#include "ship/uploader.h"
#include "common/labels.h"
#include "common/macros.h"
#include "receiver.h"
#include "testing.h"

#define START_NS 1700000000000000000LL
#define WINDOW_NS 15000000000LL

DEFINE_CLEANUP(struct uploader, uploader__free)

static const char *const funcs_a[] = { "up_main", "up_loop", "up_leaf" };
static const char *const funcs_b[] = { "other_main", "other_work" };

/* A window with nseries series labelled window=<k>, series=s<i>. */
struct test_window {
	struct pprof *p[4];
	struct labels ls[4];
	struct upload_series s[4];
	struct upload_window w;
};

static inline void window_init(struct test_window *tw, int k, size_t nseries)
{
	char v[32];

	REQUIRE(nseries <= 4);
	memset(tw, 0, sizeof(*tw));
	for (size_t i = 0; i < nseries; i++) {
		tw->p[i] = i % 2 ? test_profile("other", funcs_b, 2, 3, START_NS + k * WINDOW_NS, NULL)
				 : test_profile("up", funcs_a, 3, 5, START_NS + k * WINDOW_NS, NULL);
		snprintf(v, sizeof(v), "%d", k);
		REQUIRE(labels__set(&tw->ls[i], "window", v) == 0);
		snprintf(v, sizeof(v), "s%zu", i);
		REQUIRE(labels__set(&tw->ls[i], "series", v) == 0);
		snprintf(v, sizeof(v), "svc%zu", i);
		REQUIRE(labels__set(&tw->ls[i], "service_name", v) == 0);
		tw->s[i] = (struct upload_series){ &tw->ls[i], tw->p[i] };
	}
	tw->w = (struct upload_window){ START_NS + k * WINDOW_NS, START_NS + (k + 1) * WINDOW_NS,
					tw->s, nseries };
}

static inline void window_release(struct test_window *tw)
{
	for (size_t i = 0; i < 4; i++) {
		pprof__free(tw->p[i]);
		labels__clear(&tw->ls[i]);
	}
}

static inline void submit(struct uploader *u, int k, size_t nseries)
{
	struct test_window tw;

	window_init(&tw, k, nseries);
	CHECK_INT(uploader__submit(u, &tw.w), ==, 0);
	window_release(&tw);
}

struct uopts {
	struct uploader_opts o;
	char spool[PATH_MAX + 32];
};

static inline void uopts_init(struct uopts *uo, struct receiver *rc,
			      enum remote_protocol proto, const char *spool_name)
{
	memset(uo, 0, sizeof(*uo));
	snprintf(uo->spool, sizeof(uo->spool), "%s/%s", rc->dir, spool_name);
	uo->o.remote.protocol = proto;
	uo->o.remote.url = rc->url;
	uo->o.remote.timeout_ms = 20000;
	uo->o.spool_dir = uo->spool;
	uo->o.frequency_hz = 100;
	uo->o.backoff_min_ms = 50;
	uo->o.backoff_max_ms = 300;
}

/* Waits until cond(st) holds; false after seconds. */
#define WAIT_STATS(u, seconds, cond)                                          \
	({                                                                    \
		struct uploader_stats st;                                     \
		double _deadline = clock__mono_s() + (seconds);                       \
		bool _ok;                                                     \
		for (;;) {                                                    \
			uploader__stats((u), &st);                            \
			if ((_ok = (cond)) || clock__mono_s() > _deadline)            \
				break;                                        \
			sleep_ms(10);                                         \
		}                                                             \
		if (!_ok)                                                     \
			fprintf(stderr, "%s:%d: timed out waiting for %s\n",  \
				__FILE__, __LINE__, #cond);                   \
		_ok;                                                          \
	})

/* What the receiver accepted (mode "ok"): profile IDs with how often each
 * came, and the windows in arrival order. */
struct arrivals {
	char ids[512][40];
	int id_count[512];
	size_t nids;
	int windows[512];          /* window label per accepted series */
	size_t nwindows;
	size_t profiles;
	size_t refused_ids;        /* IDs seen in non-ok requests */
	size_t refused_ids_resent; /* of those, later accepted */
};

static inline int find_id(struct arrivals *a, const char *id)
{
	for (size_t i = 0; i < a->nids; i++)
		if (strcmp(a->ids[i], id) == 0)
			return (int)i;
	return -1;
}

static inline void collect(struct receiver *rc, struct arrivals *a)
{
	json_object *records = receiver_records(rc);
	size_t n = json_object_array_length(records);

	memset(a, 0, sizeof(*a));
	for (size_t i = 0; i < n; i++) {
		json_object *rec = json_object_array_get_idx(records, i), *series = jget(rec, "series");
		bool ok = strcmp(jstr(rec, "mode"), "ok") == 0;

		CHECK_STR(jstr(rec, "error"), "");
		for (size_t j = 0; series && j < json_object_array_length(series); j++) {
			json_object *s = json_object_array_get_idx(series, j), *profiles = jget(s, "profiles");

			if (ok && a->nwindows < ARRAY_SIZE(a->windows))
				a->windows[a->nwindows++] = atoi(jstr(jget(s, "labels"), "window"));
			for (size_t k = 0; profiles && k < json_object_array_length(profiles); k++) {
				json_object *p = json_object_array_get_idx(profiles, k);
				const char *id = jstr(p, "id");
				int idx;

				if (!ok || !id[0])
					continue;
				a->profiles++;
				CHECK_STR(jstr(p, "error"), "");
				CHECK(jarray_has(jget(p, "sample_types"), "cpu/nanoseconds"));
				idx = find_id(a, id);
				if (idx < 0 && a->nids < ARRAY_SIZE(a->ids)) {
					idx = (int)a->nids++;
					snprintf(a->ids[idx], sizeof(a->ids[idx]), "%s", id);
				}
				if (idx >= 0)
					a->id_count[idx]++;
			}
		}
	}
	/* IDs of refused requests must come back, accepted, on a retry */
	for (size_t i = 0; i < n; i++) {
		json_object *rec = json_object_array_get_idx(records, i), *series = jget(rec, "series");

		if (strcmp(jstr(rec, "mode"), "ok") == 0)
			continue;
		for (size_t j = 0; series && j < json_object_array_length(series); j++) {
			json_object *profiles = jget(json_object_array_get_idx(series, j), "profiles");

			for (size_t k = 0; profiles && k < json_object_array_length(profiles); k++) {
				const char *id = jstr(json_object_array_get_idx(profiles, k), "id");

				if (!id[0])
					continue;
				a->refused_ids++;
				a->refused_ids_resent += find_id(a, id) >= 0;
			}
		}
	}
	json_object_put(records);
}

static inline void check_exactly_once(const struct arrivals *a, size_t profiles)
{
	CHECK_U64(a->nids, ==, profiles);
	CHECK_U64(a->profiles, ==, profiles);
	for (size_t i = 0; i < a->nids; i++)
		if (a->id_count[i] != 1) {
			fprintf(stderr, "ID %s arrived %d times\n", a->ids[i], a->id_count[i]);
			CHECK_INT(a->id_count[i], ==, 1);
		}
}

/* A window of about 60 KiB gzipped: random function names do not compress. */
static inline void submit_big(struct uploader *u, int k)
{
	struct pprof_opts po = { .period_ns = TEST_PERIOD_NS, .time_nanos = START_NS + k * WINDOW_NS };
	struct pprof_mapping m = { .memory_start = 0x400000, .memory_limit = 0x800000,
				   .filename = "/usr/bin/big" };
	struct pprof *p = new_pprof(&po);
	struct labels ls = {};
	struct upload_series s = { &ls, p };
	struct upload_window w = { START_NS + k * WINDOW_NS, START_NS + (k + 1) * WINDOW_NS, &s, 1 };
	uint64_t mid, seed = (uint64_t)k * 7919 + 1;
	char v[16];

	mid = pprof__mapping(p, 1, &m);
	for (int i = 0; i < 1500; i++) {
		char name[40];
		struct pprof_line line = { name, "big.c", i };
		uint64_t loc;

		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		snprintf(name, sizeof(name), "f_%016llx%08x", (unsigned long long)seed, i);
		loc = pprof__location(p, mid, 0x400000 + 16 * (uint64_t)i, &line, 1);
		REQUIRE(loc && pprof__add_sample(p, &loc, 1, 1, NULL, 0) == 0);
	}
	snprintf(v, sizeof(v), "%d", k);
	REQUIRE(labels__set(&ls, "window", v) == 0);
	CHECK_INT(uploader__submit(u, &w), ==, 0);
	labels__clear(&ls);
	pprof__free(p);
}

#endif
