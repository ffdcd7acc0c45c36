#include "testing.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "symbolize/perfmap.h"

static char dir[] = "/tmp/brasa-perfmap-XXXXXX";

static void write_file(const char *path, const char *text, bool append)
{
	int fd = open(path, O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0644);

	REQUIRE(fd >= 0);
	REQUIRE(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
}

static void test_lookup_and_growth(void)
{
	char path[256];
	struct perfmap *pm = NULL;
	struct perfmap_entry e;

	snprintf(path, sizeof(path), "%s/perf-1.map", dir);
	write_file(path,
		   "7f0000001000 100 jit_one\n"
		   "not a line\n"
		   "7f0000001200 0 zero_size_is_skipped\n"
		   "7f00000012zz 10 bad_hex\n"
		   "0x7f0000002000 80 LazyCompile:*render app.js:12\n"
		   "7f0000003000 40 half_written", false);
	REQUIRE(perfmap__open(path, &pm) == 0);
	CHECK_INT(perfmap__count(pm), ==, 2);
	CHECK(perfmap__grew(pm)); /* the partial line waits: not read yet */

	CHECK_INT(perfmap__lookup(pm, 0x7f0000001000, &e), ==, 0);
	CHECK_STR(e.name, "jit_one");
	CHECK_U64(e.start, ==, 0x7f0000001000);
	CHECK_U64(e.size, ==, 0x100);
	CHECK_INT(perfmap__lookup(pm, 0x7f00000010ff, &e), ==, 0);
	CHECK_INT(perfmap__lookup(pm, 0x7f0000001100, &e), ==, -ENOENT);
	CHECK_INT(perfmap__lookup(pm, 0x7f0000002010, &e), ==, 0);
	CHECK_STR(e.name, "LazyCompile:*render app.js:12");
	/* the last line has no newline yet: a JIT still writing it */
	CHECK_INT(perfmap__lookup(pm, 0x7f0000003000, &e), ==, -ENOENT);

	/* the JIT finishes that line and appends more: a refresh reads it
	 * (a lookup alone never reads the file) */
	write_file(path, "\n7f0000004000 10 jit_two\n", true);
	CHECK(perfmap__grew(pm));
	CHECK_INT(perfmap__lookup(pm, 0x7f0000004008, &e), ==, -ENOENT);
	CHECK_INT(perfmap__refresh(pm, 0), ==, 0);
	CHECK(!perfmap__grew(pm));
	CHECK_INT(perfmap__lookup(pm, 0x7f0000004008, &e), ==, 0);
	CHECK_STR(e.name, "jit_two");
	CHECK_INT(perfmap__lookup(pm, 0x7f0000003010, &e), ==, 0);
	CHECK_STR(e.name, "half_written");
	CHECK_INT(perfmap__count(pm), ==, 4);

	/* code memory reused: the later line wins where they overlap */
	write_file(path, "7f0000001080 20 jit_one_recompiled\n", true);
	CHECK_INT(perfmap__refresh(pm, 0), ==, 0);
	CHECK_INT(perfmap__lookup(pm, 0x7f0000001090, &e), ==, 0);
	CHECK_STR(e.name, "jit_one_recompiled");
	CHECK_INT(perfmap__lookup(pm, 0x7f0000001010, &e), ==, 0);
	CHECK_STR(e.name, "jit_one");

	/* rewritten from scratch (a restarted JIT): starts over */
	write_file(path, "5000 10 fresh\n", false);
	CHECK_INT(perfmap__refresh(pm, 0), ==, 0);
	CHECK_INT(perfmap__count(pm), ==, 1);
	CHECK_INT(perfmap__lookup(pm, 0x5004, &e), ==, 0);
	CHECK_STR(e.name, "fresh");
	perfmap__free(pm);
	perfmap__free(NULL);
	CHECK_INT(perfmap__lookup(NULL, 0x1000, &e), ==, -ENOENT);
	unlink(path);

	CHECK_INT(perfmap__open(path, &pm), ==, -ENOENT);
}

/* A hostile map: huge lines, no newline at all, more entries than its
 * memory bound allows. */
static void test_bounds(void)
{
	char path[256];
	struct perfmap *pm = NULL;
	struct perfmap_entry e;
	size_t big = 3 * PERFMAP_READ_CHUNK;
	char *text = malloc(big + 64);
	int fd;

	REQUIRE(text);
	snprintf(path, sizeof(path), "%s/perf-2.map", dir);

	/* 3 MiB without a newline, then one good line: each refresh reads
	 * one chunk and never the same bytes twice */
	memset(text, 'x', big);
	strcpy(text + big, "\n1000 10 after_junk\n");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	REQUIRE(fd >= 0);
	REQUIRE(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	REQUIRE(perfmap__open(path, &pm) == 0); /* reads the first chunk */
	CHECK_INT(perfmap__count(pm), ==, 0);
	for (int i = 0; i < 3 && perfmap__grew(pm); i++)
		CHECK_INT(perfmap__refresh(pm, 0), ==, 0);
	CHECK(!perfmap__grew(pm));
	CHECK_INT(perfmap__lookup(pm, 0x1004, &e), ==, 0);
	CHECK_STR(e.name, "after_junk");
	/* well under the file's size: the junk was never held */
	CHECK_INT(perfmap__bytes(pm), <, (size_t)256 << 10);
	perfmap__free(pm);

	/* a line longer than PERFMAP_MAX_LINE is skipped whole */
	memset(text, 'n', 8192);
	memcpy(text, "2000 10 ", 8);
	strcpy(text + 8192, "\n3000 10 short\n");
	write_file(path, text, false);
	REQUIRE(perfmap__open(path, &pm) == 0);
	CHECK_INT(perfmap__count(pm), ==, 1);
	CHECK_INT(perfmap__lookup(pm, 0x2004, &e), ==, -ENOENT);
	CHECK_INT(perfmap__lookup(pm, 0x3004, &e), ==, 0);
	perfmap__free(pm);

	/* 20,000 entries against a 256 KiB bound: it stops growing there */
	{
		size_t off = 0;

		for (int i = 0; i < 20000; i++)
			off += (size_t)snprintf(text + off, big - off, "%x 10 function_%d\n",
						0x10000 + i * 0x10, i);
		write_file(path, text, false);
	}
	REQUIRE(perfmap__from_fd(open(path, O_RDONLY | O_CLOEXEC), &pm) == 0);
	CHECK_INT(perfmap__refresh(pm, 256 << 10), ==, -ENOSPC);
	CHECK_INT(perfmap__bytes(pm), <=, (size_t)256 << 10);
	CHECK_INT(perfmap__count(pm), >, 1000);
	CHECK_INT(perfmap__count(pm), <, 20000);
	CHECK_INT(perfmap__lookup(pm, 0x10004, &e), ==, 0);
	perfmap__free(pm);
	unlink(path);
	free(text);
}

static void test_parse(void)
{
	const char text[] = "10 4 a\n20 4 b\nbad\n30 4 c";
	struct perfmap *pm = NULL;
	struct perfmap_entry e;

	REQUIRE(perfmap__parse(text, sizeof(text) - 1, &pm) == 0);
	CHECK_INT(perfmap__count(pm), ==, 2); /* the last line has no newline */
	CHECK_INT(perfmap__lookup(pm, 0x22, &e), ==, 0);
	CHECK_STR(e.name, "b");
	CHECK_INT(perfmap__refresh(pm, 0), ==, 0); /* no file: nothing to read */
	perfmap__free(pm);
}

static void setup(void)
{
	REQUIRE(mkdtemp(dir));
}

static void teardown(void)
{
	rmdir(dir);
}

TEST_MAIN(setup, teardown,
	  TEST_CASE(lookup_and_growth),
	  TEST_CASE(bounds),
	  TEST_CASE(parse))
