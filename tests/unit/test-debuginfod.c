/* debuginfod: the cache's bound and eviction order, what is remembered
 * about failed fetches, the bound on fetches queued, and a fetch that
 * never gets an answer timing out. No server: the real one is in
 * tests/integration/test_debuginfod.py. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "symbolize/debuginfod.h"
#include "testing.h"

static const char *const IDS[] = {
	"aa00000000000000000000000000000000000001",
	"bb00000000000000000000000000000000000002",
	"cc00000000000000000000000000000000000003",
};

static char cache_dir[64];

static void make_cache(void)
{
	snprintf(cache_dir, sizeof(cache_dir), "/tmp/brasa-debuginfod-XXXXXX");
	REQUIRE(mkdtemp(cache_dir));
}

/* A file as libdebuginfod leaves it: DIR/ID/debuginfo, written age_s ago. */
static void put_file(const char *id, size_t bytes, int age_s)
{
	char path[256];
	struct timeval tv[2];
	char *zeros = calloc(1, bytes);
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", cache_dir, id);
	REQUIRE(mkdir(path, 0700) == 0);
	snprintf(path, sizeof(path), "%s/%s/debuginfo", cache_dir, id);
	f = fopen(path, "w");
	REQUIRE(f && zeros);
	REQUIRE(fwrite(zeros, 1, bytes, f) == bytes);
	fclose(f);
	free(zeros);
	gettimeofday(&tv[0], NULL);
	tv[0].tv_sec -= age_s;
	tv[1] = tv[0];
	REQUIRE(utimes(path, tv) == 0);
}

static bool file_exists(const char *id)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s/debuginfo", cache_dir, id);
	return access(path, F_OK) == 0;
}

static void remove_cache(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", cache_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", cache_dir);
}

/* Waits up to 15 s for n fetches of result r. */
static void wait_fetches(struct debuginfod *d, enum debuginfod_result r, uint64_t n)
{
	struct debuginfod_stats st;

	for (int i = 0; i < 150; i++) {
		debuginfod__stats(d, &st);
		if (st.fetches[r] >= n)
			return;
		usleep(100 * 1000);
	}
}

static void test_off(void)
{
	struct debuginfod *d = NULL;
	struct debuginfod_opts o = { .urls = "  ", .cache_dir = "/nonexistent/never" };

	CHECK_INT(debuginfod__new(&o, &d), ==, -EINVAL);
	o.urls = NULL;
	CHECK_INT(debuginfod__new(&o, &d), ==, -EINVAL);
	CHECK(d == NULL);
	/* nothing made on disk either */
	CHECK(access("/nonexistent/never", F_OK) != 0);
}

/* What an earlier run left counts; the least recently written goes first. */
static void test_bound_at_start(void)
{
	struct debuginfod_opts o = { .urls = "http://127.0.0.1:1", .max_cache_bytes = 1000 };
	struct debuginfod_stats st;
	struct debuginfod *d = NULL;
	char path[256];
	int fd;

	make_cache();
	o.cache_dir = cache_dir;
	put_file(IDS[0], 400, 300); /* oldest */
	put_file(IDS[1], 400, 200);
	put_file(IDS[2], 400, 100);
	REQUIRE(debuginfod__new(&o, &d) == 0);
	debuginfod__stats(d, &st);
	CHECK_U64(st.cache_bytes, ==, 800);
	CHECK_U64(st.cache_files, ==, 2);
	CHECK_U64(st.evictions, ==, 1);
	CHECK_U64(st.max_cache_bytes, ==, 1000);
	CHECK(!file_exists(IDS[0]));
	CHECK(file_exists(IDS[1]));
	CHECK(file_exists(IDS[2]));

	/* a cached file opens without any request */
	fd = debuginfod__open(d, IDS[1], path, sizeof(path));
	CHECK_INT(fd, >=, 0);
	if (fd >= 0)
		close(fd);
	debuginfod__stats(d, &st);
	CHECK_U64(st.hits, ==, 1);
	CHECK_INT(st.in_flight, ==, 0);
	debuginfod__free(d);

	/* a smaller bound on the next start: the open above made IDS[1]
	 * the most recently used on disk too, so IDS[2] goes */
	o.max_cache_bytes = 500;
	REQUIRE(debuginfod__new(&o, &d) == 0);
	debuginfod__stats(d, &st);
	CHECK_U64(st.cache_bytes, ==, 400);
	CHECK_U64(st.evictions, ==, 1);
	CHECK(file_exists(IDS[1]));
	CHECK(!file_exists(IDS[2]));
	debuginfod__free(d);
	remove_cache();
}

/* A server that refuses: a failure, remembered; the caller never waits. */
static void test_failure_remembered(void)
{
	struct debuginfod_opts o = { .urls = "http://127.0.0.1:1", .timeout_ms = 5000 };
	struct debuginfod_stats st;
	struct debuginfod *d = NULL;
	char path[256];
	struct timespec t0, t1;

	make_cache();
	o.cache_dir = cache_dir;
	REQUIRE(debuginfod__new(&o, &d) == 0);
	CHECK_INT(debuginfod__open(d, "../../etc", path, sizeof(path)), ==, -EINVAL);
	CHECK_INT(debuginfod__open(d, "ABCD", path, sizeof(path)), ==, -EINVAL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_INT(debuginfod__open(d, IDS[0], path, sizeof(path)), ==, -EAGAIN);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK_INT((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000, <, 50);
	wait_fetches(d, DEBUGINFOD_FAILED, 1);
	debuginfod__stats(d, &st);
	CHECK_U64(st.fetches[DEBUGINFOD_FAILED], ==, 1);
	CHECK_U64(st.fetches[DEBUGINFOD_OK], ==, 0);
	CHECK_INT(st.in_flight, ==, 0);
	/* remembered: no second request */
	CHECK_INT(debuginfod__open(d, IDS[0], path, sizeof(path)), ==, -ENOENT);
	debuginfod__stats(d, &st);
	CHECK_U64(st.fetches[DEBUGINFOD_FAILED], ==, 1);
	CHECK_U64(debuginfod__generation(d), ==, 0);
	debuginfod__free(d);
	remove_cache();
}

/* A server that accepts and never answers: the queue's bound, then the
 * fetch's timeout. */
static void test_queue_bound_and_timeout(void)
{
	struct debuginfod_opts o = { .timeout_ms = 1000, .max_fetches = 1 };
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	struct debuginfod_stats st;
	struct debuginfod *d = NULL;
	char path[256], url[64];
	int sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timespec t0, t1;

	REQUIRE(sock >= 0);
	REQUIRE(bind(sock, (struct sockaddr *)&a, sizeof(a)) == 0);
	REQUIRE(listen(sock, 16) == 0);
	REQUIRE(getsockname(sock, (struct sockaddr *)&a, &alen) == 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", ntohs(a.sin_port));
	make_cache();
	o.cache_dir = cache_dir;
	o.urls = url;
	REQUIRE(debuginfod__new(&o, &d) == 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_INT(debuginfod__open(d, IDS[0], path, sizeof(path)), ==, -EAGAIN);
	CHECK_INT(debuginfod__open(d, IDS[0], path, sizeof(path)), ==, -EAGAIN);
	CHECK_INT(debuginfod__open(d, IDS[1], path, sizeof(path)), ==, -ENOBUFS);
	debuginfod__stats(d, &st);
	CHECK_U64(st.fetches[DEBUGINFOD_REJECTED], ==, 1);
	CHECK_INT(st.in_flight, ==, 1);
	wait_fetches(d, DEBUGINFOD_TIMEOUT, 1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	debuginfod__stats(d, &st);
	CHECK_U64(st.fetches[DEBUGINFOD_TIMEOUT], ==, 1);
	/* 1 s, checked about once a second by libdebuginfod */
	CHECK_INT(t1.tv_sec - t0.tv_sec, <=, 4);
	CHECK_INT(debuginfod__open(d, IDS[0], path, sizeof(path)), ==, -ENOENT);
	/* room again */
	CHECK_INT(debuginfod__open(d, IDS[1], path, sizeof(path)), ==, -EAGAIN);
	/* freed with a fetch in flight: aborted, not waited for */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	debuginfod__free(d);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK_INT(t1.tv_sec - t0.tv_sec, <=, 3);
	close(sock);
	remove_cache();
}

TEST_MAIN(NULL, NULL,
	  TEST_CASE(off),
	  TEST_CASE(bound_at_start),
	  TEST_CASE(failure_remembered),
	  TEST_CASE(queue_bound_and_timeout))
