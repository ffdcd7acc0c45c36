/* Unit test of ship/uploader against tests/tools/receiver.py (which decodes
 * every request with protoc and go tool pprof): delivery, an outage
 * (refused, then 503, then up) with every window arriving exactly once and
 * in order under the same IDs, a restart with windows spooled, a tiny spool
 * dropping its oldest with memory staying flat, a corrupt spool record
 * skipped, a 400 dropped without retrying, a partly delivered batch not
 * resent, gRPC statuses, and a bounded stop during a hanging request. A
 * spool that cannot be used: test-uploader-spool-faults.c.
 */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "uploader_harness.h"

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

TEST_MAIN(ok_receiver_start, ok_receiver_stop,
	  TEST_CASE(basic),
	  TEST_CASE(outage),
	  TEST_CASE(restart_and_corrupt),
	  TEST_CASE(rejected),
	  TEST_CASE(partial),
	  TEST_CASE(grpc),
	  TEST_CASE(stop_in_flight),
	  TEST_CASE(tiny_spool))
