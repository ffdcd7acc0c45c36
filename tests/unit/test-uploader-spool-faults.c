/* Unit test of ship/uploader with a spool that cannot be used, against
 * tests/tools/receiver.py: not a directory, locked by another uploader,
 * not creatable or unwritable for lack of permission, permissions changed
 * while running, a full or read-only file system. Uploads go on without
 * it, losses are counted, and it is used again once it works. The
 * permission and file system cases run in a child (as nobody, in a private
 * mount namespace) and need root. A working spool: test-uploader.c.
 */
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "ship/spool.h"
#include "uploader_harness.h"

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

TEST_MAIN(ok_receiver_start, ok_receiver_stop,
	  TEST_CASE(spool_not_a_directory),
	  TEST_CASE(spool_locked),
	  TEST_CASE(spool_permissions),
	  TEST_CASE(spool_small_fs))
