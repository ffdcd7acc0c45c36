/* Unit tests of ship/spool under what its environment does to it: a
 * directory it may not write (checked as nobody when root), a full and a
 * read-only file system (a small tmpfs in a mount namespace of a child
 * of its own), a file size limit, a writer killed mid-stream, and
 * writers and a reader on several threads at once. The record format and
 * the store's logic are in test-spool.c. Each case runs in a fresh
 * directory under $TMPDIR (or /tmp). */
#include "testing.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ship/spool.h"
#include "common/buf.h"
#include "spool_harness.h"

/* Runs fn in a child, as an unprivileged user when root; its checks count
 * through its exit status. Returns false (with a reason) when skipped. */
static bool run_in_child(void (*fn)(const char *), const char *arg,
			 bool drop_root, const char *what)
{
	pid_t pid = fork();
	int status;

	REQUIRE(pid >= 0);
	if (pid == 0) {
		if (drop_root && geteuid() == 0 &&
		    (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
		     setresuid(65534, 65534, 65534) < 0))
			_exit(77);
		test_failures = 0;
		fn(arg);
		_exit(test_failures ? 1 : 0);
	}
	REQUIRE(waitpid(pid, &status, 0) == pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
		fprintf(stderr, "SKIP %s: %s\n", what,
			drop_root ? "cannot drop root privileges" :
				    "cannot mount a private tmpfs");
		return false;
	}
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return true;
}

static void unwritable_child(const char *dir)
{
	char sub[400], path[500];
	struct spool_opts o = { .dir = sub, .max_bytes = 1 << 20 };
	struct spool *s = NULL;
	struct spool_stats st;
	struct buf out = { 0 };
	struct stat sb;
	uint64_t seq;
	int tmp_files;

	/* cannot create a spool under a directory not writable to us */
	snprintf(sub, sizeof(sub), "%s/new/spool", dir);
	CHECK_INT(spool__open(&o, &s), ==, -EACCES);
	/* nor open one we cannot read */
	snprintf(sub, sizeof(sub), "%s/private", dir);
	CHECK_INT(spool__open(&o, &s), ==, -EACCES);
	/* one we can read but not write: indexes, then refuses writes */
	snprintf(sub, sizeof(sub), "%s/readonly", dir);
	CHECK_INT(spool__open(&o, &s), ==, 0);
	if (!s)
		return;
	CHECK_INT(spool__probe(s), ==, -EACCES);
	CHECK_INT(spool__put(s, "data", 4, &seq), ==, -EACCES);
	CHECK_INT(spool__remove(s, 1), ==, -EACCES);
	/* the record file is 0600: readable only by its owner */
	rec_path(path, sizeof(path), sub, 1);
	REQUIRE(stat(path, &sb) == 0);
	CHECK_INT(spool__get(s, 1, &out), ==, sb.st_uid == geteuid() ? 0 : -EACCES);
	spool__stats(s, &st);
	CHECK_U64(st.records, ==, 1);
	CHECK_U64(st.written, ==, 0);
	CHECK_U64(st.corrupt, ==, 0);
	dir_total(sub, &tmp_files);
	CHECK_INT(tmp_files, ==, 0);
	buf_release(&out);
	spool__free(s);

	/* what brasa check says about each, with our effective uid */
	{
		char why[512], path[450];
		unsigned uid = (unsigned)geteuid();

		snprintf(path, sizeof(path), "%s/readonly", dir);
		CHECK_INT(spool__check_dir(path, why, sizeof(why)), ==, -EACCES);
		CHECK_STR(why, test_fmt("'%s' is not readable and writable by uid %u: Permission "
				       "denied", path, uid));
		snprintf(path, sizeof(path), "%s/new/spool", dir);
		CHECK_INT(spool__check_dir(path, why, sizeof(why)), ==, -EACCES);
		CHECK_STR(why, test_fmt("'%s' cannot be created: '%s' is not writable by uid %u: "
				       "Permission denied", path, dir, uid));
	}
}

/* As root, permissions are checked in a child running as nobody; as
 * another user, the modes alone refuse. */
static void test_unwritable(void)
{
	char dir[256], private_dir[300], readonly_dir[300];
	struct spool *s;
	uint64_t seq;
	bool root = geteuid() == 0;

	fresh_dir(dir, sizeof(dir), "unwritable");
	snprintf(private_dir, sizeof(private_dir), "%s/private", dir);
	snprintf(readonly_dir, sizeof(readonly_dir), "%s/readonly", dir);
	s = open_spool(private_dir, 1 << 20);
	spool__free(s);
	s = open_spool(readonly_dir, 1 << 20);
	CHECK_INT(spool__put(s, "kept", 4, &seq), ==, 0);
	spool__free(s);
	CHECK(chmod(dir, root ? 0755 : 0555) == 0);
	CHECK(chmod(readonly_dir, root ? 0755 : 0555) == 0);
	if (!root)
		CHECK(chmod(private_dir, 0) == 0);
	/* mkdtemp made the base 0700: let the child reach dir */
	CHECK(chmod(base_dir, 0711) == 0);
	run_in_child(unwritable_child, dir, true, "unwritable directory");
	chmod(base_dir, 0700);
	/* so that the cleanup can remove everything */
	chmod(dir, 0700);
	chmod(readonly_dir, 0700);
	chmod(private_dir, 0700);
}

/* In a child, in a mount namespace of its own: a 256 KiB tmpfs at
 * dir/mnt (its path in mnt), easy to fill. Skips (77) where mounts are
 * not allowed. */
static void mount_small_tmpfs(const char *dir, char *mnt, size_t size)
{
	if (unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		_exit(77);
	snprintf(mnt, size, "%s/mnt", dir);
	REQUIRE(mkdir(mnt, 0700) == 0);
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=256k") < 0)
		_exit(77);
}

/* A full, then read-only, file system: the probe and the check say so and
 * leave nothing behind. */
static void full_probe_child(const char *dir)
{
	char mnt[400], filler[450], why[512];
	static char block[64 << 10];
	struct spool *s;
	int fd, tmp_files;

	mount_small_tmpfs(dir, mnt, sizeof(mnt));
	s = open_spool(mnt, 64 << 20);
	CHECK_INT(spool__probe(s), ==, 0);
	CHECK_INT(spool__check_dir(mnt, why, sizeof(why)), ==, -EBUSY);
	CHECK_STR(why, test_fmt("'%s' is locked by another process (another brasa using it?)",
			       mnt));
	spool__free(s);
	CHECK_INT(spool__check_dir(mnt, why, sizeof(why)), ==, 0);
	snprintf(filler, sizeof(filler), "%s/filler", mnt);
	fd = open(filler, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	REQUIRE(fd >= 0);
	while (write(fd, block, sizeof(block)) > 0)
		;
	while (write(fd, block, 1) > 0)
		;
	close(fd);
	s = open_spool(mnt, 64 << 20);
	CHECK_INT(spool__probe(s), ==, -ENOSPC);
	dir_total(mnt, &tmp_files);
	CHECK_INT(tmp_files, ==, 0);
	spool__free(s);
	CHECK_INT(spool__check_dir(mnt, why, sizeof(why)), ==, -ENOSPC);
	CHECK_STR(why, test_fmt("the file system of '%s' is full", mnt));
	REQUIRE(unlink(filler) == 0);
	REQUIRE(mount(NULL, mnt, NULL, MS_REMOUNT | MS_RDONLY, NULL) == 0);
	s = open_spool(mnt, 64 << 20);
	CHECK_INT(spool__probe(s), ==, -EROFS);
	spool__free(s);
	CHECK_INT(spool__check_dir(mnt, why, sizeof(why)), ==, -EROFS);
	CHECK_STR(why, test_fmt("'%s' is on a read-only file system", mnt));
	umount2(mnt, MNT_DETACH);
}

/* A full file system: the failed put leaves no partial file and keeps
 * the records already there. */
static void enospc_child(const char *dir)
{
	char mnt[400];
	struct spool *s;
	struct spool_stats st;
	uint8_t *data = make_data(100 << 10, 5, true);
	uint64_t seq;
	int err = 0, puts = 0, tmp_files;

	mount_small_tmpfs(dir, mnt, sizeof(mnt));
	s = open_spool(mnt, 64 << 20);
	while (puts < 10 && (err = spool__put(s, data, 100 << 10, &seq)) == 0)
		puts++;
	CHECK_INT(err, ==, -ENOSPC);
	CHECK_INT(puts, ==, 2);
	spool__stats(s, &st);
	CHECK_U64(st.records, ==, (uint64_t)puts);
	CHECK_U64(dir_total(mnt, &tmp_files), ==, st.bytes);
	CHECK_INT(tmp_files, ==, 0);
	CHECK(get_equals(s, 1, data, 100 << 10));
	CHECK(get_equals(s, 2, data, 100 << 10));
	/* after a removal there is room again and numbering goes on */
	CHECK_INT(spool__remove(s, 1), ==, 0);
	CHECK_INT(spool__put(s, data, 100 << 10, &seq), ==, 0);
	CHECK_U64(seq, ==, 3);
	spool__free(s);
	free(data);
}

/* A file size limit (as RLIMIT_FSIZE makes write fail with EFBIG) fails
 * the write half-way; no half of the record may remain. */
static void fsize_child(const char *dir)
{
	struct rlimit lim = { .rlim_cur = 50000, .rlim_max = 50000 };
	struct spool *s;
	struct spool_stats st;
	uint8_t *data = make_data(100 << 10, 6, true);
	uint64_t seq;
	int tmp_files;

	signal(SIGXFSZ, SIG_IGN);
	s = open_spool(dir, 64 << 20);
	CHECK_INT(spool__put(s, "small", 5, &seq), ==, 0);
	REQUIRE(setrlimit(RLIMIT_FSIZE, &lim) == 0);
	CHECK_INT(spool__put(s, data, 100 << 10, &seq), ==, -EFBIG);
	spool__stats(s, &st);
	CHECK_U64(st.records, ==, 1);
	CHECK_U64(dir_total(dir, &tmp_files), ==, st.bytes);
	CHECK_INT(tmp_files, ==, 0);
	CHECK_INT(spool__put(s, "again", 5, &seq), ==, 0);
	CHECK_U64(seq, ==, 2);
	CHECK(get_equals(s, 1, "small", 5));
	spool__free(s);
	free(data);
}

static void test_write_failures(void)
{
	char dir[256];

	fresh_dir(dir, sizeof(dir), "full-probe");
	run_in_child(full_probe_child, dir, false, "full file system probe");

	fresh_dir(dir, sizeof(dir), "enospc");
	run_in_child(enospc_child, dir, false, "full file system");
	fresh_dir(dir, sizeof(dir), "fsize");
	run_in_child(fsize_child, dir, false, "file size limit");
}

/* SIGKILL in the middle of a stream of puts: on reopen every record
 * reads back whole and no temporary file is left. */
static void test_crash(void)
{
	enum { LEN = 256 << 10, AT_LEAST = 20 };
	char dir[256];
	int pipefd[2], tmp_files, done = 0;
	pid_t pid;
	struct spool *s;
	struct spool_stats st;
	uint64_t seq, n = 0, expect = 1;

	fresh_dir(dir, sizeof(dir), "crash");
	REQUIRE(pipe(pipefd) == 0);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		close(pipefd[0]);
		s = open_spool(dir, 1ull << 30);
		for (uint64_t i = 1;; i++) {
			uint8_t *data = make_data(LEN, i, i % 2);

			if (spool__put(s, data, LEN, &seq) != 0 || seq != i)
				_exit(1);
			free(data);
			if (write(pipefd[1], "x", 1) != 1)
				_exit(1);
		}
	}
	close(pipefd[1]);
	while (done < AT_LEAST) {
		char c;

		REQUIRE(read(pipefd[0], &c, 1) == 1);
		done++;
	}
	kill(pid, SIGKILL);
	REQUIRE(waitpid(pid, NULL, 0) == pid);
	close(pipefd[0]);

	s = open_spool(dir, 1ull << 30);
	dir_total(dir, &tmp_files);
	CHECK_INT(tmp_files, ==, 0);
	for (uint64_t after = 0; spool__next(s, after, &seq) == 0; after = seq) {
		uint8_t *data = make_data(LEN, seq, seq % 2);

		CHECK_U64(seq, ==, expect);
		CHECK(get_equals(s, seq, data, LEN));
		free(data);
		expect++;
		n++;
	}
	spool__stats(s, &st);
	CHECK_U64(n, >=, AT_LEAST);
	CHECK_U64(st.records, ==, n);
	CHECK_U64(st.corrupt, ==, 0);
	spool__free(s);
}

enum { THREADS = 8, PER_THREAD = 40 };

struct worker {
	struct spool *s;
	int id;
	uint64_t seqs[PER_THREAD];
	bool removed[PER_THREAD];
	int errors;
};

static void worker_payload(char *text, size_t len, int thread_id, int i)
{
	snprintf(text, len, "thread %d item %d", thread_id, i);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < PER_THREAD; i++) {
		char text[64];

		worker_payload(text, sizeof(text), w->id, i);
		if (spool__put(w->s, text, strlen(text) + 1, &w->seqs[i]) != 0)
			w->errors++;
		/* every other put removes this thread's previous record */
		if (i % 2) {
			if (spool__remove(w->s, w->seqs[i - 1]) != 0)
				w->errors++;
			w->removed[i - 1] = true;
		}
	}
	return NULL;
}

static bool stop_reader; /* __atomic */

/* Walks and reads while the workers write: a record may vanish between
 * next and get (ENOENT), but never read corrupt. */
static void *reader_main(void *arg)
{
	struct worker *w = arg;
	struct buf out = { 0 };

	while (!__atomic_load_n(&stop_reader, __ATOMIC_RELAXED)) {
		uint64_t seq;
		struct spool_stats st;

		for (uint64_t after = 0; spool__next(w->s, after, &seq) == 0; after = seq) {
			int err = spool__get(w->s, seq, &out);

			if (err && err != -ENOENT)
				w->errors++;
			if (!err && strncmp((char *)out.data, "thread ", 7) != 0)
				w->errors++;
		}
		spool__stats(w->s, &st);
		if (st.corrupt)
			w->errors++;
	}
	buf_release(&out);
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void test_threads(void)
{
	static struct worker workers[THREADS];
	static uint64_t all[THREADS * PER_THREAD];
	struct worker reader = { 0 };
	pthread_t tids[THREADS], rtid;
	char dir[256];
	struct spool *s;
	struct spool_stats st;
	size_t n = 0, left = 0, walked = 0;
	uint64_t seq;

	fresh_dir(dir, sizeof(dir), "threads");
	s = open_spool(dir, 64 << 20);
	reader.s = s;
	__atomic_store_n(&stop_reader, false, __ATOMIC_RELAXED);
	REQUIRE(pthread_create(&rtid, NULL, reader_main, &reader) == 0);
	for (int t = 0; t < THREADS; t++) {
		workers[t] = (struct worker){ .s = s, .id = t };
		REQUIRE(pthread_create(&tids[t], NULL, worker_main, &workers[t]) == 0);
	}
	for (int t = 0; t < THREADS; t++)
		pthread_join(tids[t], NULL);
	__atomic_store_n(&stop_reader, true, __ATOMIC_RELAXED);
	pthread_join(rtid, NULL);
	CHECK_INT(reader.errors, ==, 0);

	for (int t = 0; t < THREADS; t++) {
		CHECK_INT(workers[t].errors, ==, 0);
		for (int i = 0; i < PER_THREAD; i++) {
			all[n++] = workers[t].seqs[i];
			if (!workers[t].removed[i]) {
				char text[64];

				worker_payload(text, sizeof(text), t, i);
				if (!get_equals(s, workers[t].seqs[i], text, strlen(text) + 1))
					test_failures++;
				left++;
			}
		}
	}
	/* no lost and no duplicate numbers: exactly 1..n */
	qsort(all, n, sizeof(all[0]), cmp_u64);
	for (size_t i = 0; i < n; i++)
		if (all[i] != i + 1) {
			CHECK_U64(all[i], ==, i + 1);
			break;
		}
	for (uint64_t after = 0; spool__next(s, after, &seq) == 0; after = seq)
		walked++;
	spool__stats(s, &st);
	CHECK_U64(walked, ==, left);
	CHECK_U64(st.records, ==, left);
	CHECK_U64(st.written, ==, THREADS * PER_THREAD);
	CHECK_U64(st.removed, ==, THREADS * PER_THREAD / 2);
	CHECK_U64(dir_total(dir, NULL), ==, st.bytes);
	spool__free(s);
}

TEST_MAIN(base_dir_make, base_dir_remove,
	  TEST_CASE(unwritable),
	  TEST_CASE(write_failures),
	  TEST_CASE(crash),
	  TEST_CASE(threads))
