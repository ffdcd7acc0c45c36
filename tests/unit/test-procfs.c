/* procfs parsers (status, stat, mountinfo) and procfile, the opener of
 * profiled processes' files: what a hostile owner can put in their place
 * (symlinks, FIFOs, other users' files, FUSE mounts, huge files). */
#include "testing.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/macros.h"
#include "symbolize/proc_mounts.h"
#include "symbolize/procfile.h"
#include "symbolize/procfs.h"

static char dir[] = "/tmp/brasa-procfs-XXXXXX";

static void test_status(void)
{
	const char status[] = "Name:\tjava\nUmask:\t0022\nState:\tS (sleeping)\n"
			      "Uid:\t1000\t1001\t1002\t1003\nGid:\t2000\t2001\t2002\t2003\n"
			      "Groups:\t4 24 27 \nNSpid:\t4242\t100\t7\n";
	struct proc_status st;

	CHECK_INT(procfs__status_parse(status, sizeof(status) - 1, &st), ==, 0);
	CHECK_INT(st.fsuid, ==, 1003);
	CHECK_INT(st.fsgid, ==, 2003);
	CHECK_INT(st.ngroups, ==, 3);
	CHECK_INT(st.groups[2], ==, 27);
	CHECK_INT(st.nspid, ==, 7);

	/* no groups, no NSpid (kernels before 4.1) */
	const char bare[] = "Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t\n";
	CHECK_INT(procfs__status_parse(bare, sizeof(bare) - 1, &st), ==, 0);
	CHECK_INT(st.ngroups, ==, 0);
	CHECK_INT(st.nspid, ==, 0);

	const char *bad[] = {
		"Gid:\t0\t0\t0\t0\n",                       /* no Uid */
		"Uid:\t0\t0\t0\nGid:\t0\t0\t0\t0\n",       /* 3 fields */
		"Uid:\t0\t0\t0\tx\nGid:\t0\t0\t0\t0\n",
		"Uid:\t0\t0\t0\t99999999999\nGid:\t0\t0\t0\t0\n",
		"Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nNSpid:\t4242\t7x\n",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		CHECK_INT(procfs__status_parse(bad[i], strlen(bad[i]), &st), ==, -EINVAL);

	/* more groups than kept: the first ones, marked */
	{
		char many[8192] = "Uid:\t5\t5\t5\t5\nGid:\t5\t5\t5\t5\nGroups:\t";
		for (int g = 0; g < 100; g++)
			snprintf(many + strlen(many), sizeof(many) - strlen(many), "%d ", g);
		strcat(many, "\n");
		CHECK_INT(procfs__status_parse(many, strlen(many), &st), ==, 0);
		CHECK_INT(st.ngroups, ==, PROC_STATUS_MAX_GROUPS);
		CHECK(st.groups_truncated);
	}
	CHECK_INT(procfs__status_read("/proc", getpid(), &st), ==, 0);
	CHECK_INT(st.fsuid, ==, (int)geteuid());
	CHECK_INT(st.nspid, >, 0);
}

static void test_stat(void)
{
	/* a comm with spaces and parentheses, and field 28 = 140737488350000 */
	const char stat[] = "4242 (a) b (c) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 "
			    "5000 1000000 100 18446744073709551615 94000000000000 94000000100000 "
			    "140737488350000 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
	uint64_t top = 0;

	CHECK_INT(procfs__stat_start_stack(stat, sizeof(stat) - 1, &top), ==, 0);
	CHECK_U64(top, ==, 140737488350000ull);
	CHECK_INT(procfs__stat_start_stack("1 (x) S 2 3\n", 12, &top), ==, -EINVAL);
	CHECK_INT(procfs__stat_start_stack("no parenthesis", 14, &top), ==, -EINVAL);
}

static void test_mountinfo(void)
{
	const char mi[] =
		"22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
		"23 22 0:21 / /tmp rw shared:2 - tmpfs tmpfs rw\n"
		"24 23 0:45 / /tmp/fuse\\040dir rw,nosuid - fuse.sshfs host:/x rw\n"
		"25 22 0:46 / /home/u/mnt rw - fuse /dev/fuse rw\n"
		"26 22 0:47 / /data rw shared:9 master:3 - fuseblk /dev/sdb1 rw\n";
	struct proc_mounts *m = NULL;

	REQUIRE(proc_mounts__parse(mi, sizeof(mi) - 1, &m) == 0);
	CHECK_INT(m->n, ==, 5);
	CHECK_STR(m->v[2].mount_point, "/tmp/fuse dir");
	CHECK(!proc_mounts__unsafe_path(m, "/tmp/perf-7.map"));
	CHECK(proc_mounts__unsafe_path(m, "/tmp/fuse dir/perf-7.map"));
	CHECK(!proc_mounts__unsafe_path(m, "/tmp/fuse dirx/a"));
	CHECK(proc_mounts__unsafe_path(m, "/home/u/mnt/lib.so"));
	CHECK(proc_mounts__unsafe_path(m, "/data/a"));
	CHECK(!proc_mounts__unsafe_path(m, "/usr/lib/libc.so.6"));
	CHECK(proc_mounts__unsafe_path(m, "relative/path"));
	CHECK(proc_mounts__unsafe_dev(m, 0, 45));
	CHECK(!proc_mounts__unsafe_dev(m, 0, 21));
	proc_mounts__free(m);

	const char *bad[] = { "22 1 8:1 / /\n", "x y 8x1 / / rw - ext4 a rw\n",
			      "22 1 8:1 / / rw shared:1 ext4 /dev/sda1 rw\n" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		m = NULL;
		CHECK_INT(proc_mounts__parse(bad[i], strlen(bad[i]), &m), ==, -EINVAL);
		CHECK(m == NULL);
	}
	REQUIRE(proc_mounts__read("/proc", getpid(), &m) == 0);
	CHECK_INT(m->n, >, 0);
	proc_mounts__free(m);
}

static void make_file(const char *rel, mode_t mode, uid_t uid, size_t size)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s%s", dir, rel);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	REQUIRE(fd >= 0);
	REQUIRE(ftruncate(fd, (off_t)size) == 0);
	REQUIRE(fchmod(fd, mode) == 0);
	if (geteuid() == 0)
		REQUIRE(fchown(fd, uid, uid) == 0);
	close(fd);
}

static void test_procfile(void)
{
	struct procfile_opts owner = { .owner_check = true };
	struct procfile_opts small = { .max_size = 100 };
	struct proc_access pa;
	char path[512], target[512];
	struct procfile_stats st0, st1;
	uint64_t t0;
	int fd;

	snprintf(path, sizeof(path), "%s/tmp", dir);
	REQUIRE(mkdir(path, 01777) == 0);
	REQUIRE(chmod(path, 01777) == 0);
	snprintf(path, sizeof(path), "%s/private", dir);
	REQUIRE(mkdir(path, 0700) == 0);
	REQUIRE(chmod(dir, 0755) == 0);

	REQUIRE(proc_access__open_dir(dir, &pa) == 0);
	/* the profiled process runs as nobody */
	pa.status.fsuid = 65534;
	pa.status.fsgid = 65534;
	procfile__stats(&st0);

	make_file("/tmp/perf-7.map", 0644, 65534, 10);
	fd = procfile__open(&pa, "/tmp/perf-7.map", &owner);
	CHECK_INT(fd, >=, 0);
	if (fd >= 0)
		close(fd);

	/* a symlink to a file only root may read, in its place */
	make_file("/secret", 0600, 0, 10);
	snprintf(path, sizeof(path), "%s/tmp/perf-8.map", dir);
	REQUIRE(symlink("/secret", path) == 0);
	CHECK_INT(procfile__open(&pa, "/tmp/perf-8.map", &owner), ==, -ELOOP);
	/* a symlinked directory on the way */
	snprintf(path, sizeof(path), "%s/tmp/dirlink", dir);
	REQUIRE(symlink("/", path) == 0);
	CHECK_INT(procfile__open(&pa, "/tmp/dirlink/tmp/perf-7.map", &owner), ==, -ELOOP);

	/* a FIFO: refused at once, never blocking */
	snprintf(path, sizeof(path), "%s/tmp/perf-9.map", dir);
	REQUIRE(mkfifo(path, 0666) == 0);
	if (geteuid() == 0)
		REQUIRE(chown(path, 65534, 65534) == 0);
	t0 = clock__mono_ms();
	CHECK_INT(procfile__open(&pa, "/tmp/perf-9.map", &owner), ==, -EBADFD);
	CHECK_INT(clock__mono_ms() - t0, <, 2000);
	/* a directory */
	CHECK_INT(procfile__open(&pa, "/tmp", NULL), ==, -EBADFD);

	/* another user's file, world-readable: not a perf map of this one */
	make_file("/tmp/perf-10.map", 0644, 1234, 10);
	CHECK_INT(procfile__open(&pa, "/tmp/perf-10.map", &owner), ==, -EPERM);
	/* root's file it may not read: refused (by the kernel with the
	 * process's credentials, or by its permission bits) */
	make_file("/tmp/perf-11.map", 0600, 0, 10);
	CHECK_INT(procfile__open(&pa, "/tmp/perf-11.map", &owner), ==, -EACCES);
	/* too large */
	make_file("/tmp/big", 0644, 65534, 1000);
	CHECK_INT(procfile__open(&pa, "/tmp/big", &small), ==, -EFBIG);
	/* readable bits, but in a directory it cannot enter: only the
	 * kernel, checking with the process's credentials, sees that */
	make_file("/private/lib.debug", 0644, 0, 10);
	if (procfile__switches_creds())
		CHECK_INT(procfile__open(&pa, "/private/lib.debug", NULL), ==, -EACCES);
	/* a FUSE mount of the process: never touched */
	{
		const char mi[] = "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n"
				  "2 1 0:99 / /tmp rw - fuse.evil evil rw\n";
		struct proc_mounts *saved = pa.mounts, *fuse = NULL;

		REQUIRE(proc_mounts__parse(mi, sizeof(mi) - 1, &fuse) == 0);
		pa.mounts = fuse;
		CHECK_INT(procfile__open(&pa, "/tmp/perf-7.map", &owner), ==, -EXDEV);
		CHECK_INT(procfile__open_link(&pa, "exe", 0, 99, NULL), ==, -EXDEV);
		pa.mounts = saved;
		proc_mounts__free(fuse);
	}
	procfile__stats(&st1);
	CHECK_U64(st1.refused[PROCFILE_SYMLINK] - st0.refused[PROCFILE_SYMLINK], ==, 2);
	CHECK_U64(st1.refused[PROCFILE_NOT_REGULAR] - st0.refused[PROCFILE_NOT_REGULAR], ==, 2);
	CHECK_U64(st1.refused[PROCFILE_FUSE] - st0.refused[PROCFILE_FUSE], ==, 2);
	CHECK_U64(st1.refused[PROCFILE_TOO_LARGE] - st0.refused[PROCFILE_TOO_LARGE], ==, 1);

	/* this thread has its own rights back: root's file opens */
	CHECK_INT(setfsuid((uid_t)-1), ==, (int)geteuid());
	snprintf(target, sizeof(target), "%s/secret", dir);
	fd = open(target, O_RDONLY);
	CHECK_INT(fd, >=, 0);
	if (fd >= 0)
		close(fd);
	/* a process running as root reads what the agent reads */
	pa.status.fsuid = 0;
	fd = procfile__open(&pa, "/tmp/perf-11.map", &owner);
	CHECK_INT(fd, >=, 0);
	if (fd >= 0)
		close(fd);
	proc_access__release(&pa);
	proc_access__release(&pa); /* idempotent */
}

static void setup(void)
{
	REQUIRE(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "failed to remove %s\n", dir);
}

TEST_MAIN(setup, teardown,
	  TEST_CASE(status),
	  TEST_CASE(stat),
	  TEST_CASE(mountinfo),
	  TEST_CASE(procfile))
