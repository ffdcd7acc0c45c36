#include "testing.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
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

	CHECK_INT(perfmap__lookup(pm, 0x7f0000001000, &e), ==, 0);
	CHECK_STR(e.name, "jit_one");
	CHECK_U64(e.start, ==, 0x7f0000001000);
	CHECK_U64(e.size, ==, 0x100);
	CHECK_INT(perfmap__lookup(pm, 0x7f00000010ff, &e), ==, 0);
	CHECK_INT(perfmap__lookup(pm, 0x7f0000001100, &e), ==, -ENOENT);
	CHECK_INT(perfmap__lookup(pm, 0x7f0000002010, &e), ==, 0);
	CHECK_STR(e.name, "LazyCompile:*render app.js:12");
	const char *first_name = e.name;
	/* the last line has no newline yet: a JIT still writing it */
	CHECK_INT(perfmap__lookup(pm, 0x7f0000003000, &e), ==, -ENOENT);

	/* the JIT finishes that line and appends more; a miss re-reads */
	write_file(path, "\n7f0000004000 10 jit_two\n", true);
	CHECK_INT(perfmap__lookup(pm, 0x7f0000004008, &e), ==, 0);
	CHECK_STR(e.name, "jit_two");
	CHECK_INT(perfmap__lookup(pm, 0x7f0000003010, &e), ==, 0);
	CHECK_STR(e.name, "half_written");
	CHECK_INT(perfmap__count(pm), ==, 4);
	/* names handed out earlier did not move */
	CHECK_STR(first_name, "LazyCompile:*render app.js:12");

	/* code memory reused: the later line wins where they overlap */
	write_file(path, "7f0000001080 20 jit_one_recompiled\n", true);
	CHECK_INT(perfmap__refresh(pm), ==, 0);
	CHECK_INT(perfmap__lookup(pm, 0x7f0000001090, &e), ==, 0);
	CHECK_STR(e.name, "jit_one_recompiled");
	CHECK_INT(perfmap__lookup(pm, 0x7f0000001010, &e), ==, 0);
	CHECK_STR(e.name, "jit_one");
	perfmap__free(pm);
	perfmap__free(NULL);
	CHECK_INT(perfmap__lookup(NULL, 0x1000, &e), ==, -ENOENT);
	unlink(path);

	CHECK_INT(perfmap__open(path, &pm), ==, -ENOENT);
}

static void test_nspid(void)
{
	char path[256];
	struct perfmap *pm = NULL;
	struct perfmap_entry e;
	int nspid = 0;

	/* a process in a nested pid namespace: pid 4242 outside, 7 inside */
	snprintf(path, sizeof(path), "%s/4242", dir);
	REQUIRE(mkdir(path, 0755) == 0);
	snprintf(path, sizeof(path), "%s/4242/status", dir);
	write_file(path, "Name:\tjava\nPid:\t4242\nNSpid:\t4242\t100\t7\nNStgid:\t4242\t100\t7\n", false);
	CHECK_INT(perfmap__nspid(dir, 4242, &nspid), ==, 0);
	CHECK_INT(nspid, ==, 7);

	snprintf(path, sizeof(path), "%s/4242/root", dir);
	REQUIRE(mkdir(path, 0755) == 0);
	snprintf(path, sizeof(path), "%s/4242/root/tmp", dir);
	REQUIRE(mkdir(path, 0755) == 0);
	snprintf(path, sizeof(path), "%s/4242/root/tmp/perf-7.map", dir);
	write_file(path, "1000 10 in_container\n", false);
	REQUIRE(perfmap__open_pid(dir, 4242, &pm) == 0);
	CHECK_INT(perfmap__lookup(pm, 0x1004, &e), ==, 0);
	CHECK_STR(e.name, "in_container");
	perfmap__free(pm);
	unlink(path);

	/* an old kernel without NSpid: the pid itself */
	snprintf(path, sizeof(path), "%s/4242/status", dir);
	write_file(path, "Name:\tjava\nPid:\t4242\n", false);
	CHECK_INT(perfmap__nspid(dir, 4242, &nspid), ==, 0);
	CHECK_INT(nspid, ==, 4242);
	write_file(path, "Name:\tjava\nNSpid:\t4242\t7x\n", false);
	CHECK_INT(perfmap__nspid(dir, 4242, &nspid), ==, -EINVAL);
	CHECK_INT(perfmap__nspid(dir, 4243, &nspid), ==, -ENOENT);
	unlink(path);
	snprintf(path, sizeof(path), "%s/4242/root/tmp", dir);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/4242/root", dir);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/4242", dir);
	rmdir(path);
}

int main(void)
{
	REQUIRE(mkdtemp(dir));
	test_lookup_and_growth();
	test_nspid();
	rmdir(dir);
	return test_done();
}
