#include "testing.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/macros.h"
#include "symbolize/procmaps.h"

static const char maps_text[] =
	"55d0c0a00000-55d0c0a01000 r--p 00000000 fd:01 1234                       /usr/bin/my prog\n"
	"55d0c0a01000-55d0c0a02000 r-xp 00001000 fd:01 1234                       /usr/bin/my prog\n"
	"55d0c0c00000-55d0c0c21000 rw-p 00000000 00:00 0                          [heap]\n"
	"7f0000000000-7f0000001000 r-xp 00000000 103:05 99999999999               /tmp/dir with spaces/lib.so (deleted)\n"
	"7f0000001000-7f0000002000 rwxp 00000000 00:00 0 \n"
	"7f0000002000-7f0000003000 r-xs 00000000 00:01 77                         /memfd:jit-code (deleted)\n"
	"7f0000003000-7f0000004000 rw-p 00000000 00:00 0                          [anon:my arena]\n"
	"7f0000004000-7f0000005000 r--p 00000000 00:00 0\n"
	"7f0000005000-7f0000006000 r--p 00002000 08:01 5                          /tmp/x(deleted)\n"
	"7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]\n"
	"7ffd00100000-7ffd00104000 r--p 00000000 00:00 0                          [vvar]\n"
	"7ffd00104000-7ffd00106000 r-xp 00000000 00:00 0                          [vdso]\n"
	"7ffd00106000-7ffd00107000 r-xp 00000000 00:00 0                          [uprobes]\n"
	"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]";

static void test_parse(void)
{
	struct procmaps *maps = NULL;
	const struct procmaps_entry *e;

	REQUIRE(procmaps__parse(maps_text, strlen(maps_text), &maps) == 0);
	CHECK_INT(maps->count, ==, 14);

	e = &maps->entries[1];
	CHECK_U64(e->start, ==, 0x55d0c0a01000);
	CHECK_U64(e->end, ==, 0x55d0c0a02000);
	CHECK_U64(e->offset, ==, 0x1000);
	CHECK_INT(e->dev_major, ==, 0xfd);
	CHECK_INT(e->dev_minor, ==, 1);
	CHECK_U64(e->inode, ==, 1234);
	CHECK_INT(e->perms, ==, PROCMAPS_PERM_READ | PROCMAPS_PERM_EXEC);
	CHECK_STR(e->path, "/usr/bin/my prog");
	CHECK_INT(e->kind, ==, PROCMAPS_FILE);
	CHECK(!e->deleted);

	CHECK_INT(maps->entries[2].kind, ==, PROCMAPS_HEAP);

	e = &maps->entries[3];
	CHECK_STR(e->path, "/tmp/dir with spaces/lib.so");
	CHECK(e->deleted);
	CHECK_INT(e->dev_major, ==, 0x103);
	CHECK_U64(e->inode, ==, 99999999999ull);

	e = &maps->entries[4];
	CHECK_INT(e->kind, ==, PROCMAPS_ANON);
	CHECK(e->path == NULL);
	CHECK_INT(e->perms, ==, PROCMAPS_PERM_READ | PROCMAPS_PERM_WRITE | PROCMAPS_PERM_EXEC);

	e = &maps->entries[5];
	CHECK_INT(e->kind, ==, PROCMAPS_MEMFD);
	CHECK_STR(e->path, "/memfd:jit-code");
	CHECK(e->deleted);
	CHECK(e->perms & PROCMAPS_PERM_SHARED);

	CHECK_INT(maps->entries[6].kind, ==, PROCMAPS_ANON_NAMED);
	CHECK_STR(maps->entries[6].path, "[anon:my arena]");
	CHECK_INT(maps->entries[7].kind, ==, PROCMAPS_ANON);
	/* no space before "(deleted)": part of the name */
	CHECK_STR(maps->entries[8].path, "/tmp/x(deleted)");
	CHECK(!maps->entries[8].deleted);
	CHECK_INT(maps->entries[9].kind, ==, PROCMAPS_STACK);
	CHECK_INT(maps->entries[10].kind, ==, PROCMAPS_VVAR);
	CHECK_INT(maps->entries[11].kind, ==, PROCMAPS_VDSO);
	CHECK_INT(maps->entries[12].kind, ==, PROCMAPS_SPECIAL);
	CHECK_INT(maps->entries[13].kind, ==, PROCMAPS_VSYSCALL);
	CHECK_INT(maps->entries[13].perms, ==, PROCMAPS_PERM_EXEC);

	/* lookups: first byte, last byte, one past, gaps, outside */
	CHECK(procmaps__find(maps, 0x55d0c0a00000) == &maps->entries[0]);
	CHECK(procmaps__find(maps, 0x55d0c0a00fff) == &maps->entries[0]);
	CHECK(procmaps__find(maps, 0x55d0c0a01000) == &maps->entries[1]);
	CHECK(procmaps__find(maps, 0x55d0c0a02000) == NULL);
	CHECK(procmaps__find(maps, 0x1000) == NULL);
	CHECK(procmaps__find(maps, 0x7ffd00105abc) == &maps->entries[11]);
	CHECK(procmaps__find(maps, 0xffffffffff600123) == &maps->entries[13]);
	CHECK(procmaps__find(maps, UINT64_MAX) == NULL);
	CHECK(procmaps__find(NULL, 0x1000) == NULL);
	procmaps__free(maps);
	procmaps__free(NULL);

	maps = NULL;
	CHECK_INT(procmaps__parse("", 0, &maps), ==, 0);
	REQUIRE(maps);
	CHECK_INT(maps->count, ==, 0);
	procmaps__free(maps);
}

static void test_malformed(void)
{
	static const char *bad[] = {
		"garbage\n",
		"1000-2000\n",
		"1000-2000 r-xp\n",
		"1000-2000 r-xp 0 00:00\n",
		"1000-2000 r-xp 0 00:00 \n",
		"2000-1000 r-xp 0 00:00 0\n",             /* start > end */
		"1000-1000 r-xp 0 00:00 0\n",             /* empty */
		"1000-2000 rxwp 0 00:00 0\n",             /* perms out of order */
		"1000-2000 r-x- 0 00:00 0\n",
		"1000-2000 r-xq 0 00:00 0\n",
		"1000-2000 r-xp 0 00:00 12x /bin/ls\n",    /* inode garbage */
		"1000-2000 r-xp 0 00:00 0x10\n",
		"1000-2000 r-xp 0 00:00 99999999999999999999999\n",
		"10000000000000000-10000000000000001 r-xp 0 00:00 0\n", /* 17 digits */
		"1000-2000 r-xp 0 0000 0\n",
		"1000-2000 r-xp 0 00:00 0\t/bin/ls\n",
		"0x1000-2000 r-xp 0 00:00 0\n",
		"-1000-2000 r-xp 0 00:00 0\n",
		"1000-2000  r-xp 0 00:00 0\n",
		"\n",
		"3000-4000 r-xp 0 00:00 0\n1000-2000 r-xp 0 00:00 0\n", /* unsorted */
		"1000-3000 r-xp 0 00:00 0\n2000-4000 r-xp 0 00:00 0\n", /* overlap */
	};
	struct procmaps *maps = NULL;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int err = procmaps__parse(bad[i], strlen(bad[i]), &maps);

		if (err != -EINVAL)
			fprintf(stderr, "accepted or wrong error for: %s", bad[i]);
		CHECK_INT(err, ==, -EINVAL);
	}
	/* an embedded NUL in a path is not what the kernel writes */
	static const char nul[] = "1000-2000 r-xp 0 00:00 1 /bin/l\0s\n";
	CHECK_INT(procmaps__parse(nul, sizeof(nul) - 1, &maps), ==, -EINVAL);
}

/* Random and mutated input: no crash, no leak, and a parse either fails
 * with -EINVAL or yields sorted, non-empty mappings. */
static void test_arbitrary_bytes(void)
{
	char buf[512];
	int accepted = 0;

	srand(12345);
	for (int round = 0; round < 20000; round++) {
		struct procmaps *maps = NULL;
		size_t len;
		int err;

		if (round % 2) {
			len = (size_t)rand() % sizeof(buf);
			for (size_t i = 0; i < len; i++)
				buf[i] = (char)(rand() % 256);
		} else {
			len = MIN(sizeof(buf), strlen(maps_text));
			memcpy(buf, maps_text, len);
			for (int k = 0; k < 1 + rand() % 3; k++)
				buf[rand() % len] = "0a- :\n(x)\0 p"[rand() % 13];
		}
		err = procmaps__parse(buf, len, &maps);
		if (err) {
			if (err != -EINVAL)
				CHECK_INT(err, ==, -EINVAL);
			continue;
		}
		accepted++;
		for (size_t i = 0; i < maps->count; i++) {
			if (maps->entries[i].start >= maps->entries[i].end ||
			    (i && maps->entries[i].start < maps->entries[i - 1].end))
				CHECK(!"accepted an unsorted or empty mapping");
		}
		procmaps__free(maps);
	}
	/* some mutations (e.g. within a path) must still parse */
	CHECK_INT(accepted, >, 0);
}

static void test_read(void)
{
	char root[] = "/tmp/brasa-procmaps-XXXXXX";
	char path[256];
	struct procmaps *maps = NULL;
	int fd;

	REQUIRE(mkdtemp(root));
	snprintf(path, sizeof(path), "%s/4242", root);
	REQUIRE(mkdir(path, 0755) == 0);
	snprintf(path, sizeof(path), "%s/4242/maps", root);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	REQUIRE(fd >= 0);
	REQUIRE(write(fd, maps_text, strlen(maps_text)) == (ssize_t)strlen(maps_text));
	close(fd);

	CHECK_INT(procmaps__read(root, 4242, &maps), ==, 0);
	REQUIRE(maps);
	CHECK_INT(maps->count, ==, 14);
	procmaps__free(maps);
	CHECK_INT(procmaps__read(root, 4243, &maps), ==, -ENOENT);

	unlink(path);
	snprintf(path, sizeof(path), "%s/4242", root);
	rmdir(path);
	rmdir(root);

	/* our own maps: the mapping of this function is executable */
	maps = NULL;
	CHECK_INT(procmaps__read("/proc", getpid(), &maps), ==, 0);
	REQUIRE(maps);
	const struct procmaps_entry *e = procmaps__find(maps, (uint64_t)(uintptr_t)&test_read);
	CHECK(e && (e->perms & PROCMAPS_PERM_EXEC) && e->kind == PROCMAPS_FILE);
	procmaps__free(maps);
}

TEST_MAIN(NULL, NULL,
	  TEST_CASE(parse),
	  TEST_CASE(malformed),
	  TEST_CASE(arbitrary_bytes),
	  TEST_CASE(read))
