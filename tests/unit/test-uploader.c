/* Unit test of agent/uploader against tests/tools/receiver.py (which decodes every
 * request with protoc and go tool pprof): delivery, an outage (refused, then
 * 503, then up) with every window arriving exactly once and in order under
 * the same IDs, a restart with windows spooled, a tiny spool dropping its
 * oldest with memory staying flat, a corrupt spool record skipped, a 400
 * dropped without retrying, a partly delivered batch not resent, gRPC
 * statuses, and a bounded stop during a hanging request. And a spool that
 * cannot be used (not a directory, locked by another uploader, not
 * creatable or unwritable for lack of permission, permissions changed while
 * running, a full or read-only file system): uploads go on without it,
 * losses are counted, and it is used again once it works.
 */
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "ship/remote.h"
#include "ship/spool.h"
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

static void window_init(struct test_window *tw, int k, size_t nseries)
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

static void window_release(struct test_window *tw)
{
	for (size_t i = 0; i < 4; i++) {
		pprof__free(tw->p[i]);
		labels__clear(&tw->ls[i]);
	}
}

static void submit(struct uploader *u, int k, size_t nseries)
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

static void uopts_init(struct uopts *uo, struct receiver *rc, enum remote_protocol proto,
		       const char *spool_name)
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

static int find_id(struct arrivals *a, const char *id)
{
	for (size_t i = 0; i < a->nids; i++)
		if (strcmp(a->ids[i], id) == 0)
			return (int)i;
	return -1;
}

static void collect(struct receiver *rc, struct arrivals *a)
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

static void check_exactly_once(const struct arrivals *a, size_t profiles)
{
	CHECK_U64(a->nids, ==, profiles);
	CHECK_U64(a->profiles, ==, profiles);
	for (size_t i = 0; i < a->nids; i++)
		if (a->id_count[i] != 1) {
			fprintf(stderr, "ID %s arrived %d times\n", a->ids[i], a->id_count[i]);
			CHECK_INT(a->id_count[i], ==, 1);
		}
}

/* The receiver ("ok" mode) every case sends to, started by setup(). */
static struct receiver *rc;

static void test_basic(void)
{
	struct uopts uo;
	_cleanup_(cleanup_uploader__free) struct uploader *u = NULL;
	struct arrivals a;
	struct uploader_stats st;

	receiver_clear(rc);
	receiver_mode(rc, "{\"modes\":[\"ok\"]}");
	uopts_init(&uo, rc, REMOTE_PYROSCOPE, "spool-basic");
	REQUIRE(uploader__new(&uo.o, &u) == 0);
	for (int k = 0; k < 3; k++)
		submit(u, k, 2);
	CHECK(WAIT_STATS(u, 20, st.windows_sent == 3));
	collect(rc, &a);
	check_exactly_once(&a, 6);
	CHECK_U64(a.nwindows, ==, 6);
	for (size_t i = 0; i < a.nwindows; i++)
		CHECK_INT(a.windows[i], ==, (int)i / 2);
	uploader__stats(u, &st);
	CHECK_U64(st.windows_submitted, ==, 3);
	CHECK_U64(st.requests_sent, ==, 3);
	CHECK_U64(st.bytes_sent, >, 300);
	CHECK_U64(st.retries, ==, 0);
	CHECK_U64(st.spool_records, ==, 0);
	CHECK_U64(st.queued, ==, 0);
	for (int i = 0; i < REMOTE_FAIL__COUNT; i++)
		CHECK_U64(st.failures[i], ==, 0);

	CHECK(st.spool_usable);
	CHECK_U64(st.spool_errors, ==, 0);
	/* an empty window is counted, not sent; a second uploader on the same
	 * spool runs without it */
	{
		struct upload_window empty = { START_NS, START_NS + WINDOW_NS, NULL, 0 };
		struct uploader *second = NULL;

		CHECK_INT(uploader__submit(u, &empty), ==, 0);
		uploader__stats(u, &st);
		CHECK_U64(st.windows_empty, ==, 1);
		CHECK_INT(uploader__new(&uo.o, &second), ==, 0);
		uploader__stats(second, &st);
		CHECK(!st.spool_usable);
		CHECK_U64(st.spool_errors, ==, 1);
		uploader__free(second);
		second = NULL;
		uo.o.spool_dir = NULL;
		CHECK_INT(uploader__new(&uo.o, &second), ==, -EINVAL);
		CHECK_INT(uploader__submit(NULL, &empty), ==, -EINVAL);
	}
}

/* Refused, then 503, then up: everything arrives once, in order, under the
 * IDs it was first sent with. */
static void test_outage(void)
{
	struct uopts uo;
	_cleanup_(cleanup_uploader__free) struct uploader *u = NULL;
	struct arrivals a;

	receiver_clear(rc);
	receiver_mode(rc, "{\"modes\":[\"refuse\"]}");
	uopts_init(&uo, rc, REMOTE_PYROSCOPE, "spool-outage");
	REQUIRE(uploader__new(&uo.o, &u) == 0);
	submit(u, 0, 2);
	CHECK(WAIT_STATS(u, 10, st.failures[REMOTE_FAIL_NETWORK] >= 1 && st.spool_records == 1));
	receiver_mode(rc, "{\"modes\":[\"503\"],\"message\":\"ingesters unavailable\"}");
	submit(u, 1, 2);
	submit(u, 2, 2);
	CHECK(WAIT_STATS(u, 10, st.failures[REMOTE_FAIL_HTTP_5XX] >= 2 && st.spool_records == 3));
	receiver_mode(rc, "{\"modes\":[\"ok\"]}");
	CHECK(WAIT_STATS(u, 20, st.windows_sent == 3 && st.spool_records == 0));
	{
		struct uploader_stats st;

		uploader__stats(u, &st);
		CHECK_U64(st.retries, >=, 3);
		CHECK_U64(st.queued, ==, 0);
		CHECK_U64(st.dropped_rejected, ==, 0);
	}
	collect(rc, &a);
	check_exactly_once(&a, 6);
	CHECK_U64(a.refused_ids, >=, 2);
	CHECK_U64(a.refused_ids_resent, ==, a.refused_ids);
	for (size_t i = 0; i < a.nwindows; i++)
		CHECK_INT(a.windows[i], ==, (int)i / 2);
}

static size_t list_records(const char *dir, char names[][64], size_t max)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	REQUIRE(d);
	while ((e = readdir(d)) && n < max) {
		size_t len = strlen(e->d_name);

		if (len > 4 && strcmp(e->d_name + len - 4, ".rec") == 0)
			snprintf(names[n++], 64, "%s", e->d_name);
	}
	closedir(d);
	qsort(names, n, 64, (int (*)(const void *, const void *))strcmp);
	return n;
}

/* Windows spooled while the backend is down survive a restart; a corrupt
 * record among them is skipped. */
static void test_restart_and_corrupt(void)
{
	struct uopts uo;
	struct uploader *u = NULL;
	struct arrivals a;
	char names[16][64], path[PATH_MAX + 128];
	struct stat sb;
	double t;
	int fd;
	uint8_t byte;

	receiver_clear(rc);
	receiver_mode(rc, "{\"modes\":[\"refuse\"]}");
	uopts_init(&uo, rc, REMOTE_PYROSCOPE, "spool-restart");
	REQUIRE(uploader__new(&uo.o, &u) == 0);
	for (int k = 0; k < 4; k++)
		submit(u, k, 2);
	CHECK(WAIT_STATS(u, 10, st.spool_records == 4));
	t = clock__mono_s();
	uploader__free(u);
	CHECK(clock__mono_s() - t < 3.5);

	/* restart: all four arrive */
	receiver_mode(rc, "{\"modes\":[\"ok\"]}");
	REQUIRE(uploader__new(&uo.o, &u) == 0);
	CHECK(WAIT_STATS(u, 20, st.windows_sent == 4 && st.spool_records == 0));
	uploader__free(u);
	collect(rc, &a);
	check_exactly_once(&a, 8);
	for (size_t i = 0; i < a.nwindows; i++)
		CHECK_INT(a.windows[i], ==, (int)i / 2);

	/* again, and flip one bit in the second record on disk */
	receiver_clear(rc);
	receiver_mode(rc, "{\"modes\":[\"refuse\"]}");
	REQUIRE(uploader__new(&uo.o, &u) == 0);
	for (int k = 10; k < 13; k++)
		submit(u, k, 2);
	CHECK(WAIT_STATS(u, 10, st.spool_records == 3));
	uploader__free(u);
	REQUIRE(list_records(uo.spool, names, 16) == 3);
	snprintf(path, sizeof(path), "%s/%s", uo.spool, names[1]);
	fd = open(path, O_RDWR | O_CLOEXEC);
	REQUIRE(fd >= 0 && fstat(fd, &sb) == 0 && sb.st_size > 100);
	REQUIRE(pread(fd, &byte, 1, sb.st_size / 2) == 1);
	byte ^= 0x10;
	REQUIRE(pwrite(fd, &byte, 1, sb.st_size / 2) == 1);
	close(fd);
	receiver_mode(rc, "{\"modes\":[\"ok\"]}");
	REQUIRE(uploader__new(&uo.o, &u) == 0);
	CHECK(WAIT_STATS(u, 20, st.windows_sent == 2 && st.spool_records == 0 && st.spool_corrupt == 1));
	uploader__free(u);
	collect(rc, &a);
	check_exactly_once(&a, 4);
	REQUIRE(a.nwindows == 4);
	CHECK_INT(a.windows[0], ==, 10);
	CHECK_INT(a.windows[2], ==, 12);
}

static long rss_kib(void)
{
	struct buf b = {};
	const char *p;
	long kib = -1;

	REQUIRE(buf_read_file("/proc/self/status", &b, 1 << 20) == 0);
	p = strstr((const char *)b.data, "VmRSS:");
	if (p)
		kib = strtol(p + 6, NULL, 10);
	buf_release(&b);
	return kib;
}

/* A window of about 60 KiB gzipped: random function names do not compress. */
static void submit_big(struct uploader *u, int k)
{
	struct pprof_opts po = { .period_ns = TEST_PERIOD_NS, .time_nanos = START_NS + k * WINDOW_NS };
	struct pprof_mapping m = { .memory_start = 0x400000, .memory_limit = 0x800000,
				   .filename = "/usr/bin/big" };
	struct pprof *p = pprof__new(&po);
	struct labels ls = {};
	struct upload_series s = { &ls, p };
	struct upload_window w = { START_NS + k * WINDOW_NS, START_NS + (k + 1) * WINDOW_NS, &s, 1 };
	uint64_t mid, seed = (uint64_t)k * 7919 + 1;
	char v[16];

	REQUIRE(p);
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

/* A spool of a few records during a long outage: the oldest are dropped and
 * counted, the spool stays under its bound, memory stays flat, and what is
 * left arrives once the backend is back. */
static void test_tiny_spool(void)
{
	enum { WINDOWS = 160 };
	struct uopts uo;
	_cleanup_(cleanup_uploader__free) struct uploader *u = NULL;
	struct uploader_stats st;
	struct arrivals a;
	long rss_early = 0, rss_late;

	receiver_clear(rc);
	receiver_mode(rc, "{\"modes\":[\"refuse\"]}");
	uopts_init(&uo, rc, REMOTE_PYROSCOPE, "spool-tiny");
	uo.o.spool_max_bytes = 400 << 10;
	REQUIRE(uploader__new(&uo.o, &u) == 0);
	for (int k = 0; k < WINDOWS; k++) {
		submit_big(u, k);
		if (k == 30)
			rss_early = rss_kib();
		uploader__stats(u, &st);
		CHECK_U64(st.queued, <=, UPLOADER_QUEUE_MAX);
		CHECK_U64(st.spool_bytes, <=, 400 << 10);
	}
	rss_late = rss_kib();
	CHECK(WAIT_STATS(u, 20, st.queued == 0 && st.spool_records > 0));
	uploader__stats(u, &st);
	fprintf(stderr, "tiny spool: %" PRIu64 " records (%" PRIu64 " bytes) kept, %" PRIu64
		" dropped, RSS %ld -> %ld KiB\n", st.spool_records, st.spool_bytes, st.spool_dropped,
		rss_early, rss_late);
	CHECK_U64(st.spool_dropped, >, WINDOWS / 2);
	CHECK_U64(st.spool_bytes, <=, 400 << 10);
	CHECK_U64(st.dropped_spool_write, ==, 0);
	/* 130 more windows of ~100 KiB each, had they been kept */
	CHECK_INT(rss_late - rss_early, <, 6 * 1024 + sanitizer_rss_slack_kib());

	receiver_mode(rc, "{\"modes\":[\"ok\"]}");
	CHECK(WAIT_STATS(u, 20, st.spool_records == 0 && st.queued == 0));
	uploader__stats(u, &st);
	collect(rc, &a);
	check_exactly_once(&a, a.nids);
	CHECK_U64(a.nids + st.spool_dropped, ==, WINDOWS);
	CHECK_U64(st.windows_sent, ==, a.nids);
	/* the newest survive */
	CHECK(a.nwindows > 0 && a.windows[a.nwindows - 1] == WINDOWS - 1);
}

/* A 400 is dropped with its message, not retried; the next window goes. */
static void test_rejected(void)
{
	struct uopts uo;
	_cleanup_(cleanup_uploader__free) struct uploader *u = NULL;
	struct uploader_stats st;

	receiver_clear(rc);
	receiver_mode(rc, "{\"modes\":[\"400\",\"ok\"],\"message\":\"too many labels\"}");
	uopts_init(&uo, rc, REMOTE_PYROSCOPE, "spool-rejected");
	REQUIRE(uploader__new(&uo.o, &u) == 0);
	submit(u, 0, 1);
	CHECK(WAIT_STATS(u, 10, st.dropped_rejected == 1));
	sleep_ms(400); /* several backoff periods: no retry may come */
	CHECK_U64(receiver_count(rc), ==, 1);
	uploader__stats(u, &st);
	CHECK_U64(st.failures[REMOTE_FAIL_HTTP_4XX], ==, 1);
	CHECK_U64(st.spool_records, ==, 0);
	CHECK_U64(st.retries, ==, 0);
	submit(u, 1, 1);
	CHECK(WAIT_STATS(u, 10, st.windows_sent == 2 && st.requests_sent == 1));
	CHECK_U64(receiver_count(rc), ==, 2);
}

/* pyroscope-ingest sends one request per series: the first is delivered,
 * the second fails; the retry sends only the two left. */
static void test_partial(void)
{
	struct uopts uo;
	_cleanup_(cleanup_uploader__free) struct uploader *u = NULL;
	json_object *records;
	int seen[3] = {};

	receiver_clear(rc);
	receiver_mode(rc, "{\"modes\":[\"ok\",\"503\"]}");
	uopts_init(&uo, rc, REMOTE_PYROSCOPE_INGEST, "spool-partial");
	REQUIRE(uploader__new(&uo.o, &u) == 0);
	submit(u, 0, 3);
	CHECK(WAIT_STATS(u, 10, st.failures[REMOTE_FAIL_HTTP_5XX] >= 2 && st.requests_sent == 1));
	receiver_mode(rc, "{\"modes\":[\"ok\"]}");
	CHECK(WAIT_STATS(u, 20, st.windows_sent == 1 && st.spool_records == 0));
	records = receiver_records(rc);
	for (size_t i = 0; i < json_object_array_length(records); i++) {
		json_object *rec = json_object_array_get_idx(records, i);
		json_object *s = json_object_array_get_idx(jget(rec, "series"), 0);
		const char *series = jstr(jget(s, "labels"), "series");

		CHECK_STR(jstr(rec, "protocol"), "pyroscope-ingest");
		CHECK_STR(jstr(jget(s, "labels"), "window"), "0");
		if (strcmp(jstr(rec, "mode"), "ok") == 0 && series[0] == 's' && series[1] >= '0' &&
		    series[1] <= '2')
			seen[series[1] - '0']++;
	}
	json_object_put(records);
	for (int i = 0; i < 3; i++)
		CHECK_INT(seen[i], ==, 1);
}

/* Parca: a retryable status in the trailer frame is retried, a permanent
 * one in the headers is dropped. */
static void test_grpc(void)
{
	struct uopts uo;
	_cleanup_(cleanup_uploader__free) struct uploader *u = NULL;
	struct uploader_stats st;

	receiver_clear(rc);
	receiver_mode(rc, "{\"modes\":[\"grpc-trailer\",\"ok\"],\"grpc_code\":14,\"message\":\"busy\"}");
	uopts_init(&uo, rc, REMOTE_PARCA, "spool-grpc");
	uo.o.node = "node-x";
	REQUIRE(uploader__new(&uo.o, &u) == 0);
	submit(u, 0, 2);
	CHECK(WAIT_STATS(u, 10, st.windows_sent == 1 && st.spool_records == 0));
	uploader__stats(u, &st);
	CHECK_U64(st.failures[REMOTE_FAIL_GRPC], ==, 1);
	CHECK_U64(st.retries, ==, 1);
	receiver_mode(rc, "{\"modes\":[\"grpc-header\"],\"grpc_code\":3,\"message\":\"invalid\"}");
	submit(u, 1, 2);
	CHECK(WAIT_STATS(u, 10, st.dropped_rejected == 1 && st.windows_sent == 2));
	uploader__stats(u, &st);
	CHECK_U64(st.failures[REMOTE_FAIL_GRPC], ==, 2);
	CHECK_U64(st.spool_records, ==, 0);
	{
		json_object *records = receiver_records(rc);
		json_object *s = json_object_array_get_idx(jget(json_object_array_get_idx(records, 1), "series"), 0);

		CHECK_STR(jstr(jget(s, "labels"), "node"), "node-x");
		CHECK_STR(jstr(jget(s, "labels"), "__name__"), "parca_agent_cpu");
		json_object_put(records);
	}
}

/* A stop while a request hangs is bounded, and the window is spooled and
 * delivered by the next uploader. */
static void test_stop_in_flight(void)
{
	struct uopts uo;
	struct uploader *u = NULL;
	struct arrivals a;
	double t;

	receiver_clear(rc);
	receiver_mode(rc, "{\"modes\":[\"slow\"],\"delay\":6}");
	uopts_init(&uo, rc, REMOTE_PYROSCOPE, "spool-stop");
	REQUIRE(uploader__new(&uo.o, &u) == 0);
	submit(u, 0, 2);
	sleep_ms(500); /* the request is in flight */
	t = clock__mono_s();
	uploader__free(u);
	/* the answer would have come after 6 s */
	CHECK(clock__mono_s() - t < 3.5);
	receiver_mode(rc, "{\"modes\":[\"ok\"]}");
	REQUIRE(uploader__new(&uo.o, &u) == 0);
	CHECK(WAIT_STATS(u, 20, st.windows_sent == 1 && st.spool_records == 0));
	uploader__free(u);
	collect(rc, &a);
	check_exactly_once(&a, 2);
}


/* ---- an unusable spool ---- */

/* The window labels of what the receiver accepted, in arrival order. */
static size_t arrived_windows(struct receiver *rc, int *out, size_t max)
{
	struct arrivals *a = calloc(1, sizeof(*a));
	size_t n;

	REQUIRE(a);
	collect(rc, a);
	n = MIN(a->nwindows, max);
	memcpy(out, a->windows, n * sizeof(*out));
	free(a);
	return n;
}

static void spool_fast_retry(struct uopts *uo)
{
	uo->o.spool_retry_min_ms = 50;
	uo->o.spool_retry_max_ms = 200;
}

/* With the backend refusing, window k fails (and is spooled, or held in
 * memory without a spool): waits until then. */
static void submit_failing(struct receiver *rc, struct uploader *u, int k)
{
	struct uploader_stats before;

	uploader__stats(u, &before);
	receiver_mode(rc, "{\"modes\":[\"refuse\"]}");
	submit(u, k, 1);
	CHECK(WAIT_STATS(u, 10, st.failures[REMOTE_FAIL_NETWORK] > before.failures[REMOTE_FAIL_NETWORK] &&
			 st.queued == 0));
}

/* The spool's path is a regular file: uploads go on; a failed window is
 * held in memory and retried, the windows behind it wait in the queue, the
 * oldest of those are dropped past its bound; once the path is fixed the
 * spool is used again. */
static void test_spool_not_a_directory(void)
{
	struct uopts uo;
	struct uploader *u = NULL;
	struct uploader_stats st;
	int got[64];
	size_t n;
	FILE *f;

	receiver_clear(rc);
	receiver_mode(rc, "{\"modes\":[\"ok\"]}");
	uopts_init(&uo, rc, REMOTE_PYROSCOPE, "spool-file");
	spool_fast_retry(&uo);
	f = fopen(uo.spool, "we");
	REQUIRE(f && fputs("not a spool\n", f) >= 0 && fclose(f) == 0);
	REQUIRE(uploader__new(&uo.o, &u) == 0);
	uploader__stats(u, &st);
	CHECK(!st.spool_usable);
	CHECK_U64(st.spool_errors, >=, 1);
	/* the backend is up: straight through */
	submit(u, 0, 1);
	submit(u, 1, 1);
	CHECK(WAIT_STATS(u, 10, st.windows_sent == 2));
	/* down: window 2 is held, 3..13 queue behind it, 3..5 are dropped */
	submit_failing(rc, u, 2);
	for (int k = 3; k <= 13; k++)
		submit(u, k, 1);
	uploader__stats(u, &st);
	CHECK_U64(st.dropped_spool_unavailable, ==, 3);
	CHECK_U64(st.queued, ==, UPLOADER_QUEUE_MAX);
	CHECK_U64(st.spool_records, ==, 0);
	CHECK(!st.spool_usable);
	/* still trying the spool meanwhile */
	CHECK(WAIT_STATS(u, 10, st.spool_errors >= 3));
	receiver_mode(rc, "{\"modes\":[\"ok\"]}");
	CHECK(WAIT_STATS(u, 20, st.windows_sent == 11 && st.queued == 0));
	n = arrived_windows(rc, got, ARRAY_SIZE(got));
	CHECK_U64(n, ==, 11);
	for (size_t i = 0; i < n; i++) {
		int want = i < 3 ? (int)i : (int)i + 3;

		if (got[i] != want)
			fprintf(stderr, "arrival %zu: window %d, wanted %d\n", i, got[i], want);
		CHECK_INT(got[i], ==, want);
	}
	/* fixed: the spool is opened and used */
	REQUIRE(unlink(uo.spool) == 0);
	CHECK(WAIT_STATS(u, 10, st.spool_usable));
	receiver_mode(rc, "{\"modes\":[\"refuse\"]}");
	submit(u, 20, 1);
	CHECK(WAIT_STATS(u, 10, st.spool_records == 1));
	receiver_mode(rc, "{\"modes\":[\"ok\"]}");
	CHECK(WAIT_STATS(u, 20, st.windows_sent == 12 && st.spool_records == 0));
	uploader__stats(u, &st);
	CHECK_U64(st.dropped_spool_unavailable, ==, 3);
	CHECK_U64(st.dropped_spool_write, ==, 0);
	uploader__free(u);
}

/* Another spool holds the directory's lock: no spool until it lets go. A
 * stop with a window held and no spool loses it, counted. */
static void test_spool_locked(void)
{
	struct uopts uo;
	struct uploader *u = NULL;
	struct spool *other = NULL;
	struct spool_opts so = { .max_bytes = 1 << 20 };
	struct uploader_stats st;

	receiver_clear(rc);
	receiver_mode(rc, "{\"modes\":[\"ok\"]}");
	uopts_init(&uo, rc, REMOTE_PYROSCOPE, "spool-locked");
	spool_fast_retry(&uo);
	so.dir = uo.spool;
	REQUIRE(spool__open(&so, &other) == 0);
	REQUIRE(uploader__new(&uo.o, &u) == 0);
	submit(u, 0, 1);
	CHECK(WAIT_STATS(u, 10, st.windows_sent == 1 && !st.spool_usable));
	submit_failing(rc, u, 1);
	submit(u, 2, 1);
	uploader__free(u);
	u = NULL;
	/* nothing was written behind the other spool's back */
	{
		struct spool_stats ss;
		uint64_t seq;

		spool__stats(other, &ss);
		CHECK_U64(ss.records, ==, 0);
		CHECK_INT(spool__oldest(other, &seq), ==, -ENOENT);
	}
	/* again, and the other spool goes away */
	REQUIRE(uploader__new(&uo.o, &u) == 0);
	uploader__stats(u, &st);
	CHECK(!st.spool_usable);
	spool__free(other);
	CHECK(WAIT_STATS(u, 10, st.spool_usable));
	submit_failing(rc, u, 3);
	CHECK(WAIT_STATS(u, 10, st.spool_records == 1));
	receiver_mode(rc, "{\"modes\":[\"ok\"]}");
	CHECK(WAIT_STATS(u, 20, st.windows_sent == 1 && st.spool_records == 0));
	uploader__free(u);
}

/* Runs fn in a child process (as nobody when drop_root, in a private
 * mount namespace when private_mounts); its checks count through its exit
 * status. False when the machine cannot do that (not root). */
static bool run_in_child(void (*fn)(struct receiver *, const char *), struct receiver *rc,
			 const char *dir, bool drop_root, bool private_mounts, const char *what)
{
	pid_t pid;
	int status;

	if (geteuid() != 0) {
		fprintf(stderr, "SKIP %s: needs root\n", what);
		return false;
	}
	fflush(NULL);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		if (private_mounts &&
		    (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0))
			_exit(77);
		if (drop_root && (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
				  setresuid(65534, 65534, 65534) < 0))
			_exit(77);
		test_failures = 0;
		fn(rc, dir);
		fflush(NULL);
		_exit(test_failures ? 1 : 0);
	}
	REQUIRE(waitpid(pid, &status, 0) == pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
		fprintf(stderr, "SKIP %s: could not set up the child\n", what);
		return false;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fprintf(stderr, "%s: child failed (status 0x%x)\n", what, status);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return true;
}

static void uopts_at(struct uopts *uo, struct receiver *rc, const char *spool)
{
	uopts_init(uo, rc, REMOTE_PYROSCOPE, "unused");
	snprintf(uo->spool, sizeof(uo->spool), "%s", spool);
	spool_fast_retry(uo);
}

/* As nobody: a spool that cannot be created (its parent is root's), then
 * one whose permissions change while the uploader runs. */
static void permissions_child(struct receiver *rc, const char *dir)
{
	struct uopts uo;
	struct uploader *u = NULL;
	char path[PATH_MAX];

	/* dir is root's, 0755: cannot be created under it */
	snprintf(path, sizeof(path), "%s/root-owned/spool", dir);
	uopts_at(&uo, rc, path);
	receiver_mode(rc, "{\"modes\":[\"ok\"]}");
	REQUIRE(uploader__new(&uo.o, &u) == 0);
	submit(u, 0, 1);
	CHECK(WAIT_STATS(u, 10, st.windows_sent == 1 && !st.spool_usable && st.spool_errors >= 1));
	uploader__free(u);

	/* ours, made read-only: opens, but takes nothing */
	snprintf(path, sizeof(path), "%s/mine/spool", dir);
	REQUIRE(mkdir(path, 0700) == 0);
	REQUIRE(chmod(path, 0500) == 0);
	uopts_at(&uo, rc, path);
	REQUIRE(uploader__new(&uo.o, &u) == 0);
	CHECK(WAIT_STATS(u, 1, !st.spool_usable && st.spool_errors >= 1));
	REQUIRE(chmod(path, 0700) == 0);
	CHECK(WAIT_STATS(u, 10, st.spool_usable));
	/* one record in, then read-only again: the next window is held */
	submit_failing(rc, u, 1);
	CHECK(WAIT_STATS(u, 10, st.spool_records == 1));
	REQUIRE(chmod(path, 0500) == 0);
	submit(u, 2, 1);
	/* it stays queued behind the record */
	CHECK(WAIT_STATS(u, 10, !st.spool_usable && st.queued == 1));
	/* the backend is back: the record is sent but cannot be removed
	 * (skipped), the queued window goes too */
	receiver_mode(rc, "{\"modes\":[\"ok\"]}");
	CHECK(WAIT_STATS(u, 20, st.windows_sent == 2 && st.queued == 0));
	{
		struct uploader_stats st;

		uploader__stats(u, &st);
		CHECK_U64(st.spool_records, ==, 1);
		CHECK_U64(st.dropped_spool_unavailable, ==, 0);
	}
	/* writable again: the delivered record is removed, not resent */
	REQUIRE(chmod(path, 0700) == 0);
	CHECK(WAIT_STATS(u, 10, st.spool_usable && st.spool_records == 0));
	sleep_ms(300);
	CHECK(WAIT_STATS(u, 1, st.windows_sent == 2));
	uploader__free(u);
}

static void test_spool_permissions(void)
{
	char dir[] = "/tmp/brasa-uploader-XXXXXX", path[64], cmd[128];

	receiver_clear(rc);
	REQUIRE(mkdtemp(dir));
	REQUIRE(chmod(dir, 0755) == 0);
	snprintf(path, sizeof(path), "%s/root-owned", dir);
	REQUIRE(mkdir(path, 0755) == 0);
	snprintf(path, sizeof(path), "%s/mine", dir);
	REQUIRE(mkdir(path, 0755) == 0 && chown(path, 65534, 65534) == 0);
	run_in_child(permissions_child, rc, dir, true, false, "spool permissions");
	{
		int got[8];
		size_t n = arrived_windows(rc, got, ARRAY_SIZE(got));

		/* 0, then 1 (spooled, replayed) and 2, each once */
		CHECK_U64(n, ==, 3);
		for (size_t i = 0; i < n; i++)
			CHECK_INT(got[i], ==, (int)i);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
}

/* Fills the file system of dir; returns the filler's path. */
static void fill_fs(const char *dir, char *filler, size_t len)
{
	static char block[64 << 10];
	int fd;

	snprintf(filler, len, "%s/filler", dir);
	fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	REQUIRE(fd >= 0);
	while (write(fd, block, sizeof(block)) > 0)
		;
	/* a last partial page: tmpfs takes writes to the byte */
	while (write(fd, block, 1) > 0)
		;
	close(fd);
}

/* In a private mount namespace, on a 512 KiB tmpfs: full at open, full
 * later, read-only. */
static void small_fs_child(struct receiver *rc, const char *dir)
{
	struct uopts uo;
	struct uploader *u = NULL;
	struct uploader_stats st;
	char mnt[PATH_MAX], spool[PATH_MAX + 16], filler[PATH_MAX + 16];
	int k = 0;

	snprintf(mnt, sizeof(mnt), "%s/mnt", dir);
	REQUIRE(mkdir(mnt, 0700) == 0);
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=512k") < 0)
		_exit(77);
	snprintf(spool, sizeof(spool), "%s/spool", mnt);
	REQUIRE(mkdir(spool, 0700) == 0);
	uopts_at(&uo, rc, spool);

	/* full at open */
	fill_fs(mnt, filler, sizeof(filler));
	REQUIRE(uploader__new(&uo.o, &u) == 0);
	uploader__stats(u, &st);
	CHECK(!st.spool_usable);
	receiver_mode(rc, "{\"modes\":[\"ok\"]}");
	submit_big(u, k++);
	CHECK(WAIT_STATS(u, 10, st.windows_sent == 1));
	REQUIRE(unlink(filler) == 0);
	CHECK(WAIT_STATS(u, 10, st.spool_usable));

	/* full later: ~60 KiB windows while the backend is down */
	receiver_mode(rc, "{\"modes\":[\"refuse\"]}");
	for (int i = 0; i < 6; i++)
		submit_big(u, k++);
	CHECK(WAIT_STATS(u, 10, st.spool_records >= 1 && st.queued == 0));
	fill_fs(mnt, filler, sizeof(filler));
	for (int i = 0; i < 4; i++)
		submit_big(u, k++);
	CHECK(WAIT_STATS(u, 10, !st.spool_usable && st.spool_errors >= 1));
	uploader__stats(u, &st);
	fprintf(stderr, "full file system: %" PRIu64 " records, %" PRIu64 " queued\n",
		st.spool_records, st.queued);
	CHECK_U64(st.dropped_spool_unavailable, ==, 0);
	REQUIRE(unlink(filler) == 0);
	/* the backend is back: everything goes, the spool works again */
	receiver_mode(rc, "{\"modes\":[\"ok\"]}");
	CHECK(WAIT_STATS(u, 30, st.windows_sent == (uint64_t)k && st.spool_records == 0 &&
			 st.queued == 0));
	CHECK(WAIT_STATS(u, 10, st.spool_usable));

	/* read-only with a record in it: the record is delivered (and kept),
	 * the new window waits behind it, then goes */
	receiver_mode(rc, "{\"modes\":[\"refuse\"]}");
	submit(u, k++, 1);
	CHECK(WAIT_STATS(u, 10, st.spool_records == 1));
	REQUIRE(mount(NULL, mnt, NULL, MS_REMOUNT | MS_RDONLY, NULL) == 0);
	submit(u, k++, 1);
	CHECK(WAIT_STATS(u, 10, !st.spool_usable && st.queued == 1));
	receiver_mode(rc, "{\"modes\":[\"ok\"]}");
	CHECK(WAIT_STATS(u, 20, st.windows_sent == (uint64_t)k && st.spool_records == 1));
	REQUIRE(mount(NULL, mnt, NULL, MS_REMOUNT, NULL) == 0);
	CHECK(WAIT_STATS(u, 10, st.spool_usable && st.spool_records == 0));
	uploader__stats(u, &st);
	CHECK_U64(st.dropped_spool_unavailable, ==, 0);
	CHECK_U64(st.dropped_spool_write, ==, 0);
	uploader__free(u);
	umount2(mnt, MNT_DETACH);
}

static void test_spool_small_fs(void)
{
	char dir[PATH_MAX + 32];

	receiver_clear(rc);
	snprintf(dir, sizeof(dir), "%s/smallfs", rc->dir);
	REQUIRE(mkdir(dir, 0700) == 0);
	if (!run_in_child(small_fs_child, rc, dir, false, true, "full and read-only spool"))
		return;
	{
		struct arrivals *a = calloc(1, sizeof(*a));

		REQUIRE(a);
		collect(rc, a);
		/* every window once */
		check_exactly_once(a, a->nids);
		CHECK_U64(a->nids, ==, 13);
		free(a);
	}
}

static struct receiver ok_receiver;

static void setup(void)
{
	receiver_start(&ok_receiver, "ok");
	rc = &ok_receiver;
}

static void teardown(void)
{
	receiver_stop(&ok_receiver);
}

TEST_MAIN(setup, teardown,
	  TEST_CASE(basic),
	  TEST_CASE(outage),
	  TEST_CASE(restart_and_corrupt),
	  TEST_CASE(rejected),
	  TEST_CASE(partial),
	  TEST_CASE(grpc),
	  TEST_CASE(stop_in_flight),
	  TEST_CASE(tiny_spool),
	  TEST_CASE(spool_not_a_directory),
	  TEST_CASE(spool_locked),
	  TEST_CASE(spool_permissions),
	  TEST_CASE(spool_small_fs))
