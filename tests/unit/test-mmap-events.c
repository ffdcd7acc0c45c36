/* mmap_events: the record parser on well-formed and malformed records, and
 * (where perf events may be opened: root or CAP_PERFMON) the rings on this
 * process's own executable mappings: every one seen, across the ring's end,
 * and the records a full ring drops counted. */
#include "bpf/mmap_events.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "testing.h"

struct rec {
	struct perf_event_header header;
	uint32_t pid, tid;
	uint64_t addr, len, pgoff;
	uint32_t maj, min;
	uint64_t ino, ino_generation;
	uint32_t prot, flags;
	char filename[24];
};

static struct rec mmap2(const char *name)
{
	struct rec r = {
		.header = { .type = PERF_RECORD_MMAP2, .size = sizeof(r) },
		.pid = 42, .tid = 43, .addr = 0x7f0000001000, .len = 0x2000, .pgoff = 0x1000,
		.maj = 8, .min = 1, .ino = 1234, .prot = PROT_READ | PROT_EXEC, .flags = MAP_PRIVATE,
	};

	snprintf(r.filename, sizeof(r.filename), "%s", name);
	return r;
}

static void test_parse(void)
{
	struct rec r = mmap2("/usr/lib/libc.so.6");
	struct { struct perf_event_header h; uint64_t id, lost; } lost = {
		{ .type = PERF_RECORD_LOST, .size = sizeof(lost) }, 1, 17,
	};
	struct perf_event_header comm = { .type = PERF_RECORD_COMM, .size = 8 };
	struct mmap_event ev;

	CHECK_INT(mmap_events__parse(&r, sizeof(r), &ev), ==, 0);
	CHECK_INT(ev.kind, ==, MMAP_EVENT_MAP);
	CHECK_INT(ev.pid, ==, 42);
	CHECK_INT(ev.tid, ==, 43);
	CHECK_U64(ev.addr, ==, 0x7f0000001000);
	CHECK_U64(ev.len, ==, 0x2000);
	CHECK_U64(ev.pgoff, ==, 0x1000);
	CHECK_U64(ev.ino, ==, 1234);
	CHECK_INT(ev.prot, ==, PROT_READ | PROT_EXEC);
	CHECK_STR(ev.filename, "/usr/lib/libc.so.6");
	CHECK(ev.filename >= (const char *)&r && ev.filename < (const char *)(&r + 1));

	CHECK_INT(mmap_events__parse(&lost, sizeof(lost), &ev), ==, 0);
	CHECK_INT(ev.kind, ==, MMAP_EVENT_LOST);
	CHECK_U64(ev.lost, ==, 17);
	CHECK_INT(mmap_events__parse(&comm, sizeof(comm), &ev), ==, -ENOENT);
}

static void test_malformed(void)
{
	struct rec r = mmap2("/usr/lib/libc.so.6"), bad;
	struct { struct perf_event_header h; uint64_t id; } short_lost = {
		{ .type = PERF_RECORD_LOST, .size = sizeof(short_lost) }, 1,
	};
	struct mmap_event ev = { .pid = 7 };

	/* shorter than a header, or than the size the header claims */
	CHECK_INT(mmap_events__parse(&r, 4, &ev), ==, -EINVAL);
	CHECK_INT(mmap_events__parse(&r, sizeof(r) - 8, &ev), ==, -EINVAL);
	/* a header that claims less than the fixed part */
	bad = r;
	bad.header.size = 48;
	CHECK_INT(mmap_events__parse(&bad, 48, &ev), ==, -EINVAL);
	/* a name that runs to the record's end without its NUL */
	bad = mmap2("");
	memset(bad.filename, 'a', sizeof(bad.filename));
	CHECK_INT(mmap_events__parse(&bad, sizeof(bad), &ev), ==, -EINVAL);
	/* not a multiple of 8 (records are 8-byte aligned) */
	bad = r;
	bad.header.size = sizeof(bad) - 4;
	CHECK_INT(mmap_events__parse(&bad, sizeof(bad) - 4, &ev), ==, -EINVAL);
	CHECK_INT(mmap_events__parse(&short_lost, sizeof(short_lost), &ev), ==, -EINVAL);
	/* nothing was written on the way */
	CHECK_INT(ev.pid, ==, 7);
}

struct seen {
	const char *path;
	size_t mine, other_files;
};

static void count(void *ctx, const struct mmap_event *ev)
{
	struct seen *s = ctx;

	if (ev->pid != (uint32_t)getpid())
		return;
	if (!strcmp(ev->filename, s->path) && (ev->prot & PROT_EXEC))
		s->mine++;
	else
		s->other_files++;
}

/* Maps path executable n times (and unmaps it). */
static void map_exec(const char *path, int n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	REQUIRE(fd >= 0);
	for (int i = 0; i < n; i++) {
		void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);

		REQUIRE(p != MAP_FAILED);
		munmap(p, 4096);
	}
	close(fd);
}

static struct mmap_events *open_or_skip(unsigned pages)
{
	struct mmap_events_opts o = { .ring_pages = pages, .target_tgid = (uint32_t)getpid() };
	struct mmap_events *m = NULL;
	int err = mmap_events__open(&o, &m);

	if (err == -EACCES || err == -EPERM || err == -ENOENT || err == -ENOSYS) {
		fprintf(stderr, "skipped: perf events refused (%s)\n", strerror(-err));
		return NULL;
	}
	CHECK_INT(err, ==, 0);
	return m;
}

static void test_rings(void)
{
	struct seen s = { .path = "/proc/self/exe" };
	struct mmap_events_stats st;
	struct mmap_events *m = open_or_skip(1);
	char exe[4096];
	uint64_t lost;
	ssize_t len;

	if (!m)
		return;
	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	REQUIRE(len > 0);
	exe[len] = 0;
	s.path = exe;
	/* a one-page ring holds about 40 records: 10 rounds of 25 go round
	 * it several times, each record read whole across the end */
	for (int round = 0; round < 10; round++) {
		map_exec(exe, 25);
		mmap_events__read(m, count, &s);
	}
	mmap_events__stats(m, &st);
	if (s.mine != 250)
		fprintf(stderr, "seen %zu of 250 mappings of %s (lost %" PRIu64 ", malformed %" PRIu64 ")\n",
			s.mine, exe, st.lost, st.malformed);
	/* other processes' records share the rings (and may fill them) */
	CHECK_U64(s.mine + st.lost, >=, 250);
	CHECK_U64(st.malformed, ==, 0);
	CHECK_U64(st.records, >=, 250);
	CHECK_INT(st.rings, >=, 1);

	/* 400 records into a ring of about 40, unread: the rest is counted
	 * (the kernel writes its LOST record at the first record that fits
	 * again, hence the one more) */
	s.mine = 0;
	lost = st.lost;
	map_exec(exe, 400);
	mmap_events__read(m, count, &s);
	map_exec(exe, 1);
	mmap_events__read(m, count, &s);
	mmap_events__stats(m, &st);
	fprintf(stderr, "full ring: %zu seen, %" PRIu64 " lost of 401\n", s.mine, st.lost - lost);
	CHECK(s.mine < 401);
	CHECK_U64(s.mine + (st.lost - lost), >=, 401);
	CHECK_U64(st.malformed, ==, 0);
	mmap_events__free(m);
}

static void test_bad_opts(void)
{
	struct mmap_events_opts o = { .ring_pages = 3 };
	struct mmap_events *m = (void *)1;

	CHECK_INT(mmap_events__open(&o, &m), ==, -EINVAL);
	CHECK(m == (void *)1);
	mmap_events__free(NULL);
}

TEST_MAIN(NULL, NULL,
	  TEST_CASE(parse),
	  TEST_CASE(malformed),
	  TEST_CASE(rings),
	  TEST_CASE(bad_opts))
