/* Unit tests of agent/spool: round trips, order, reopen, the byte bound,
 * corruption, crash leftovers, write failures and concurrency, each in a
 * fresh directory under $TMPDIR (or /tmp). */
#include "testing.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>

#include "ship/spool.h"
#include "common/buf.h"
#include "common/macros.h"

#define HDR 36

static char base_dir[128];

/* ---- helpers ---- */


static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void rm_rf(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A new empty directory for one case; its path is in dir. */
static void fresh_dir(char *dir, size_t len, const char *name)
{
	snprintf(dir, len, "%s/%s", base_dir, name);
	rm_rf(dir);
	REQUIRE(mkdir(dir, 0700) == 0);
}

/* Bitwise CRC-32C, independent of the spool's table-driven one. */
static uint32_t crc32c_ref(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t crc = ~0u;

	while (len--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82F63B78u & -(crc & 1));
	}
	return ~crc;
}

static uint64_t rd_le(const uint8_t *p, int bytes)
{
	uint64_t v = 0;

	for (int i = bytes - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void wr_le(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

/* Incompressible bytes (xorshift) or compressible text, from a seed. */
static uint8_t *make_data(size_t len, uint64_t seed, bool random)
{
	uint8_t *p = malloc(len ? len : 1);
	uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;

	REQUIRE(p);
	for (size_t i = 0; i < len; i++) {
		if (random) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			p[i] = (uint8_t)(x >> 24);
		} else {
			p[i] = (uint8_t)("sample;main;run;work "[i % 21] + (i / 4096 + seed) % 3);
		}
	}
	return p;
}

static void rec_path(char *path, size_t len, const char *dir, uint64_t seq)
{
	snprintf(path, len, "%s/%016" PRIx64 ".rec", dir, seq);
}

static off_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : -1;
}

/* Sum of st_size over every file in dir, and how many end in ".tmp". */
static uint64_t dir_total(const char *dir, int *tmp_files)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	uint64_t total = 0;

	REQUIRE(d);
	if (tmp_files)
		*tmp_files = 0;
	while ((de = readdir(d))) {
		char path[512];
		struct stat st;
		size_t n = strlen(de->d_name);

		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		total += (uint64_t)st.st_size;
		if (tmp_files && n > 4 && strcmp(de->d_name + n - 4, ".tmp") == 0)
			(*tmp_files)++;
	}
	closedir(d);
	return total;
}

static struct spool *open_spool(const char *dir, uint64_t max_bytes)
{
	struct spool_opts o = { .dir = dir, .max_bytes = max_bytes };
	struct spool *s = NULL;
	int err = spool__open(&o, &s);

	if (err)
		fprintf(stderr, "spool__open(%s): %s\n", dir, strerror(-err));
	REQUIRE(err == 0 && s);
	return s;
}

static bool get_equals(struct spool *s, uint64_t seq, const void *data,
		       size_t len)
{
	struct buf out = { 0 };
	bool ok = spool__get(s, seq, &out) == 0 && out.len == len &&
		  (len == 0 || memcmp(out.data, data, len) == 0);

	buf_release(&out);
	return ok;
}

static struct buf read_whole(const char *path)
{
	struct buf b = { 0 };

	REQUIRE(buf_read_file(path, &b, 1 << 30) == 0);
	return b;
}

static void write_whole(const char *path, const struct buf *b)
{
	int fd = open(path, O_WRONLY | O_TRUNC);

	REQUIRE(fd >= 0);
	REQUIRE(write(fd, b->data, b->len) == (ssize_t)b->len);
	close(fd);
}

/* Captures what the spool logs (stderr) between start and stop. */
static int saved_stderr = -1;

static void capture_start(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	REQUIRE(fd >= 0);
	fflush(stderr);
	saved_stderr = dup(2);
	dup2(fd, 2);
	close(fd);
}

static struct buf capture_stop(const char *path)
{
	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	return read_whole(path);
}

static int count_substr(const struct buf *b, const char *needle)
{
	int n = 0;

	for (const char *p = (const char *)b->data; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/* ---- cases ---- */

static void test_crc_reference(void)
{
	/* the standard check value of CRC-32C, so the reference is right */
	CHECK_U64(crc32c_ref("123456789", 9), ==, 0xE3069283u);
}

static void test_roundtrip(void)
{
	static const struct {
		size_t len;
		bool random;
	} cases[] = {
		{ 0, false }, { 1, true }, { 100, false }, { 4096, true },
		{ 1 << 20, false }, { 5 << 20, true },
	};
	char dir[256], spool_dir[300], path[400];
	struct spool_stats st;
	struct buf out = { 0 };
	uint64_t seqs[ARRAY_SIZE(cases)], total = 0;
	struct spool_opts bad = { .dir = NULL, .max_bytes = 1 };
	struct spool *s = NULL;
	struct stat sb;
	uint8_t *data[ARRAY_SIZE(cases)];

	fresh_dir(dir, sizeof(dir), "roundtrip");
	CHECK_INT(spool__open(&bad, &s), ==, -EINVAL);
	bad.dir = dir;
	bad.max_bytes = 0;
	CHECK_INT(spool__open(&bad, &s), ==, -EINVAL);
	CHECK(s == NULL);

	/* parents are created too, all 0700 */
	snprintf(spool_dir, sizeof(spool_dir), "%s/a/b/spool", dir);
	s = open_spool(spool_dir, 64 << 20);
	CHECK(stat(spool_dir, &sb) == 0 && (sb.st_mode & 07777) == 0700);
	snprintf(path, sizeof(path), "%s/a", dir);
	CHECK(stat(path, &sb) == 0 && (sb.st_mode & 07777) == 0700);

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		data[i] = make_data(cases[i].len, i, cases[i].random);
		CHECK_INT(spool__put(s, data[i], cases[i].len, &seqs[i]), ==, 0);
		CHECK_U64(seqs[i], ==, i + 1);
	}
	/* out is cleared first, not appended to */
	CHECK_INT(buf_append(&out, "junk", 4), ==, 0);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		CHECK_INT(spool__get(s, seqs[i], &out), ==, 0);
		CHECK_U64(out.len, ==, cases[i].len);
		CHECK(cases[i].len == 0 || memcmp(out.data, data[i], cases[i].len) == 0);
		rec_path(path, sizeof(path), spool_dir, seqs[i]);
		total += (uint64_t)file_size(path);
	}
	CHECK_INT(spool__put(s, NULL, 0, &seqs[0]), ==, 0); /* empty, no data */
	CHECK_U64(seqs[0], ==, ARRAY_SIZE(cases) + 1);
	CHECK_INT(spool__get(s, seqs[0], &out), ==, 0);
	CHECK_U64(out.len, ==, 0);
	rec_path(path, sizeof(path), spool_dir, seqs[0]);
	total += (uint64_t)file_size(path);

	spool__stats(s, &st);
	CHECK_U64(st.records, ==, ARRAY_SIZE(cases) + 1);
	CHECK_U64(st.written, ==, ARRAY_SIZE(cases) + 1);
	CHECK_U64(st.bytes, ==, total);
	CHECK_U64(dir_total(spool_dir, NULL), ==, total);
	CHECK_U64(st.corrupt + st.dropped + st.removed, ==, 0);

	/* compression happened for text; random bytes are stored, not grown
	 * past zstd's raw-block overhead */
	rec_path(path, sizeof(path), spool_dir, 5);
	CHECK_INT(file_size(path), <, (1 << 20) / 20);
	rec_path(path, sizeof(path), spool_dir, 6);
	CHECK_INT(file_size(path), >=, 5 << 20);
	CHECK_INT(file_size(path), <, (5 << 20) + 4096);

	/* the documented header of record 4 (4096 random bytes) */
	{
		struct buf f;

		rec_path(path, sizeof(path), spool_dir, 4);
		f = read_whole(path);
		REQUIRE(f.len > HDR);
		CHECK(memcmp(f.data, "BRSP", 4) == 0);
		CHECK_U64(rd_le(f.data + 4, 2), ==, 1);
		CHECK_U64(rd_le(f.data + 6, 2), ==, HDR);
		CHECK_U64(rd_le(f.data + 8, 8), ==, 4096);
		CHECK_U64(rd_le(f.data + 16, 8), ==, f.len - HDR);
		CHECK_U64(rd_le(f.data + 24, 4), ==, crc32c_ref(data[3], 4096));
		CHECK_U64(rd_le(f.data + 28, 4), ==, crc32c_ref(f.data + HDR, f.len - HDR));
		CHECK_U64(rd_le(f.data + 32, 4), ==, crc32c_ref(f.data, 32));
		/* a zstd frame follows (magic 0xFD2FB528) */
		CHECK_U64(rd_le(f.data + HDR, 4), ==, 0xFD2FB528u);
		buf_release(&f);
	}

	CHECK_INT(spool__get(s, 999, &out), ==, -ENOENT);
	CHECK_INT(spool__put(s, NULL, 5, &seqs[0]), ==, -EINVAL);
	CHECK_INT(spool__put(s, data[0], (size_t)SPOOL_MAX_RECORD + 1, &seqs[0]), ==, -EFBIG);
	spool__stats(s, &st);
	CHECK_U64(st.written, ==, ARRAY_SIZE(cases) + 1);

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		free(data[i]);
	buf_release(&out);
	spool__free(s);
	spool__free(NULL);
	spool__stats(NULL, &st);
	CHECK_U64(st.records, ==, 0);
}

static void test_order_walk(void)
{
	char dir[256], path[400];
	struct spool *s;
	uint64_t seq, walked[8];
	size_t n = 0;

	fresh_dir(dir, sizeof(dir), "order");
	s = open_spool(dir, 1 << 20);
	CHECK_INT(spool__oldest(s, &seq), ==, -ENOENT);
	CHECK_INT(spool__next(s, 0, &seq), ==, -ENOENT);
	for (int i = 0; i < 5; i++) {
		char text[32];

		snprintf(text, sizeof(text), "window %d", i + 1);
		CHECK_INT(spool__put(s, text, strlen(text), &seq), ==, 0);
		CHECK_U64(seq, ==, (uint64_t)i + 1);
	}
	CHECK_INT(spool__oldest(s, &seq), ==, 0);
	CHECK_U64(seq, ==, 1);
	CHECK_INT(spool__remove(s, 3), ==, 0);
	CHECK_INT(spool__remove(s, 1), ==, 0);
	CHECK_INT(spool__remove(s, 1), ==, -ENOENT);
	CHECK_INT(spool__remove(s, 42), ==, -ENOENT);
	rec_path(path, sizeof(path), dir, 3);
	CHECK(access(path, F_OK) < 0 && errno == ENOENT);
	CHECK_INT(spool__get(s, 3, &(struct buf){ 0 }), ==, -ENOENT);

	CHECK_INT(spool__oldest(s, &seq), ==, 0);
	CHECK_U64(seq, ==, 2);
	for (uint64_t after = 0; spool__next(s, after, &seq) == 0; after = seq)
		if (n < ARRAY_SIZE(walked))
			walked[n++] = seq;
	CHECK_U64(n, ==, 3);
	CHECK_U64(walked[0], ==, 2);
	CHECK_U64(walked[1], ==, 4);
	CHECK_U64(walked[2], ==, 5);
	CHECK_INT(spool__next(s, 2, &seq), ==, 0);
	CHECK_U64(seq, ==, 4);
	CHECK_INT(spool__next(s, 3, &seq), ==, 0);
	CHECK_U64(seq, ==, 4);
	CHECK_INT(spool__next(s, 5, &seq), ==, -ENOENT);
	CHECK(get_equals(s, 4, "window 4", 8));

	/* removing the newest does not reuse its number */
	CHECK_INT(spool__remove(s, 5), ==, 0);
	CHECK_INT(spool__put(s, "x", 1, &seq), ==, 0);
	CHECK_U64(seq, ==, 6);
	{
		struct spool_stats st;

		spool__stats(s, &st);
		CHECK_U64(st.records, ==, 3);
		CHECK_U64(st.removed, ==, 3);
		CHECK_U64(st.written, ==, 6);
	}
	spool__free(s);
}

static void test_reopen(void)
{
	char dir[256];
	struct spool_opts o;
	struct spool *s, *again = NULL;
	struct spool_stats st, st2;
	uint64_t seq;
	uint8_t *data[3];

	fresh_dir(dir, sizeof(dir), "reopen");
	s = open_spool(dir, 1 << 20);
	for (int i = 0; i < 3; i++) {
		data[i] = make_data(3000, (uint64_t)i, i == 1);
		CHECK_INT(spool__put(s, data[i], 3000, &seq), ==, 0);
	}
	CHECK_INT(spool__remove(s, 1), ==, 0);
	spool__stats(s, &st);

	/* a second spool on the same directory is refused while s is open */
	o = (struct spool_opts){ .dir = dir, .max_bytes = 1 << 20 };
	CHECK_INT(spool__open(&o, &again), ==, -EBUSY);
	CHECK(again == NULL);
	spool__free(s);

	s = open_spool(dir, 1 << 20);
	spool__stats(s, &st2);
	CHECK_U64(st2.records, ==, 2);
	CHECK_U64(st2.bytes, ==, st.bytes);
	CHECK_U64(st2.written, ==, 0);
	CHECK_INT(spool__oldest(s, &seq), ==, 0);
	CHECK_U64(seq, ==, 2);
	CHECK(get_equals(s, 2, data[1], 3000));
	CHECK(get_equals(s, 3, data[2], 3000));
	CHECK_INT(spool__put(s, data[0], 3000, &seq), ==, 0);
	CHECK_U64(seq, ==, 4);
	spool__free(s);

	/* a lower bound at open drops the oldest at once */
	{
		char path[400];
		uint64_t newest;

		rec_path(path, sizeof(path), dir, 4);
		newest = (uint64_t)file_size(path);
		s = open_spool(dir, newest);
		spool__stats(s, &st);
		CHECK_U64(st.records, ==, 1);
		CHECK_U64(st.dropped, ==, 2);
		CHECK_U64(dir_total(dir, NULL), <=, newest);
		CHECK(get_equals(s, 4, data[0], 3000));
		spool__free(s);
	}
	for (int i = 0; i < 3; i++)
		free(data[i]);
}

static void test_bound(void)
{
	char dir[256], logpath[300];
	struct spool *s;
	struct spool_stats st;
	uint64_t seq, rec_size, max, walked = 0;
	struct buf log;
	uint8_t *data[10], *big;
	int tmp_files;

	fresh_dir(dir, sizeof(dir), "bound");
	/* equal-length random records compress to the same size */
	for (int i = 0; i < 10; i++)
		data[i] = make_data(1000, (uint64_t)i, true);
	{
		char path[400];

		s = open_spool(dir, 1 << 20);
		CHECK_INT(spool__put(s, data[0], 1000, &seq), ==, 0);
		rec_path(path, sizeof(path), dir, seq);
		rec_size = (uint64_t)file_size(path);
		spool__free(s);
		fresh_dir(dir, sizeof(dir), "bound");
	}
	max = 3 * rec_size + rec_size / 2;
	s = open_spool(dir, max);
	snprintf(logpath, sizeof(logpath), "%s/../bound.log", dir);
	capture_start(logpath);
	for (int i = 0; i < 10; i++) {
		int err = spool__put(s, data[i], 1000, &seq);

		if (err || seq != (uint64_t)i + 1)
			test_failures++;
		if (dir_total(dir, &tmp_files) > max || tmp_files)
			test_failures++;
	}
	log = capture_stop(logpath);
	CHECK_INT(count_substr(&log, "dropped the 1 oldest record(s)"), ==, 7);
	CHECK_INT(count_substr(&log, "1 upload window(s) lost"), ==, 7);
	buf_release(&log);

	spool__stats(s, &st);
	CHECK_U64(st.records, ==, 3);
	CHECK_U64(st.bytes, ==, 3 * rec_size);
	CHECK_U64(st.dropped, ==, 7);
	CHECK_U64(st.dropped_bytes, ==, 7 * rec_size);
	CHECK_U64(st.written, ==, 10);
	CHECK_U64(dir_total(dir, NULL), ==, st.bytes);
	/* the oldest went first: 8, 9, 10 are left */
	for (uint64_t after = 0; spool__next(s, after, &seq) == 0; after = seq) {
		CHECK_U64(seq, ==, 8 + walked);
		CHECK(get_equals(s, seq, data[seq - 1], 1000));
		walked++;
	}
	CHECK_U64(walked, ==, 3);

	/* a record larger than the bound by itself drops nothing */
	big = make_data(max, 99, true);
	CHECK_INT(spool__put(s, big, max, &seq), ==, -EFBIG);
	spool__stats(s, &st);
	CHECK_U64(st.records, ==, 3);
	CHECK_U64(st.dropped, ==, 7);

	/* one about twice as large drops exactly the two oldest */
	CHECK_INT(spool__put(s, big, 2 * 1000, &seq), ==, 0);
	CHECK_U64(seq, ==, 11);
	spool__stats(s, &st);
	CHECK_U64(st.dropped, ==, 9);
	CHECK_U64(st.records, ==, 2);
	CHECK_U64(dir_total(dir, NULL), <=, max);
	CHECK_INT(spool__oldest(s, &seq), ==, 0);
	CHECK_U64(seq, ==, 10);
	free(big);
	for (int i = 0; i < 10; i++)
		free(data[i]);
	spool__free(s);
}

/* Rewrites a header field and its header checksum, as a writer with a bug
 * (rather than a disk) would, to reach the checks behind the header's. */
static void forge_header(struct buf *f, int off, uint64_t v, int bytes)
{
	wr_le(f->data + off, v, bytes);
	wr_le(f->data + 32, crc32c_ref(f->data, 32), 4);
}

static void test_corruption(void)
{
	enum { N = 7, LEN = 64 << 10 };
	char dir[256], path[400], logpath[300];
	struct spool *s;
	struct spool_stats st;
	struct buf f, out = { 0 }, log;
	uint8_t *data[N];
	uint64_t seq;
	int header_flips_caught = 0, header_flips = 0;

	fresh_dir(dir, sizeof(dir), "corrupt");
	s = open_spool(dir, 64 << 20);
	for (int i = 0; i < N; i++) {
		data[i] = make_data(LEN, (uint64_t)i, i % 2);
		CHECK_INT(spool__put(s, data[i], LEN, &seq), ==, 0);
	}
	spool__free(s);

	/* 1: truncated to half */
	rec_path(path, sizeof(path), dir, 1);
	CHECK(truncate(path, file_size(path) / 2) == 0);
	/* 2: one bit flipped in the middle of the compressed body */
	rec_path(path, sizeof(path), dir, 2);
	f = read_whole(path);
	f.data[HDR + (f.len - HDR) / 2] ^= 0x10;
	write_whole(path, &f);
	buf_release(&f);
	/* 4: shorter than a header */
	rec_path(path, sizeof(path), dir, 4);
	CHECK(truncate(path, 10) == 0);
	/* 5: uncompressed checksum wrong, everything else consistent */
	rec_path(path, sizeof(path), dir, 5);
	f = read_whole(path);
	forge_header(&f, 24, rd_le(f.data + 24, 4) ^ 1, 4);
	write_whole(path, &f);
	buf_release(&f);
	/* 6: body altered with both checksums of compressed data forged:
	 * left to zstd and the uncompressed checksum */
	rec_path(path, sizeof(path), dir, 6);
	f = read_whole(path);
	f.data[HDR + (f.len - HDR) / 2] ^= 0x01;
	forge_header(&f, 28, crc32c_ref(f.data + HDR, f.len - HDR), 4);
	write_whole(path, &f);
	buf_release(&f);

	/* open indexes without reading bodies */
	s = open_spool(dir, 64 << 20);
	spool__stats(s, &st);
	CHECK_U64(st.records, ==, N);
	CHECK_U64(st.corrupt, ==, 0);

	snprintf(logpath, sizeof(logpath), "%s/../corrupt.log", dir);
	capture_start(logpath);
	/* 3: every single-bit flip in the header, one at a time */
	rec_path(path, sizeof(path), dir, 3);
	f = read_whole(path);
	for (int bit = 0; bit < HDR * 8; bit++) {
		f.data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		write_whole(path, &f);
		header_flips++;
		if (spool__get(s, 3, &out) == -EBADMSG && out.len == 0)
			header_flips_caught++;
		f.data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	write_whole(path, &f); /* restored */
	buf_release(&f);
	for (int round = 0; round < 2; round++) {
		CHECK_INT(spool__get(s, 1, &out), ==, -EBADMSG);
		CHECK_INT(spool__get(s, 2, &out), ==, -EBADMSG);
		CHECK_INT(spool__get(s, 4, &out), ==, -EBADMSG);
		CHECK_INT(spool__get(s, 5, &out), ==, -EBADMSG);
		CHECK_INT(spool__get(s, 6, &out), ==, -EBADMSG);
		CHECK_U64(out.len, ==, 0);
	}
	log = capture_stop(logpath);
	CHECK_INT(header_flips_caught, ==, header_flips);
	/* counted and logged once per record, with its file name */
	spool__stats(s, &st);
	CHECK_U64(st.corrupt, ==, 6);
	for (uint64_t r = 1; r <= 6; r++) {
		char name[64];

		snprintf(name, sizeof(name), "%016" PRIx64 ".rec'", r);
		CHECK_INT(count_substr(&log, name), ==, 1);
	}
	if (count_substr(&log, "spool record") != 6)
		fprintf(stderr, "corruption log:\n%s", (char *)log.data);
	buf_release(&log);

	/* the restored and untouched records still read; corrupt ones go */
	CHECK(get_equals(s, 3, data[2], LEN));
	CHECK(get_equals(s, 7, data[6], LEN));
	for (uint64_t r = 1; r <= 6; r++)
		if (r != 3)
			CHECK_INT(spool__remove(s, r), ==, 0);
	spool__stats(s, &st);
	CHECK_U64(st.records, ==, 2);
	CHECK_U64(dir_total(dir, NULL), ==, st.bytes);

	buf_release(&out);
	for (int i = 0; i < N; i++)
		free(data[i]);
	spool__free(s);
}

static void test_stray_files(void)
{
	static const char *const foreign[] = {
		"notes.txt", "foo.tmp", "12.rec", "000000000000000g.rec",
		"0000000000000ABC.rec", "00000000000000001.rec",
		"0000000000000001.rec.bak",
	};
	char dir[256], path[400];
	struct spool *s;
	struct spool_stats st;
	uint64_t seq;
	int fd;

	fresh_dir(dir, sizeof(dir), "stray");
	s = open_spool(dir, 1 << 20);
	CHECK_INT(spool__put(s, "one", 3, &seq), ==, 0);
	CHECK_INT(spool__put(s, "two", 3, &seq), ==, 0);
	spool__free(s);

	/* a write that a crash interrupted, numbered past the records */
	snprintf(path, sizeof(path), "%s/0000000000000007.rec.tmp", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	REQUIRE(fd >= 0);
	CHECK(write(fd, "BRSP half", 9) == 9);
	close(fd);
	for (size_t i = 0; i < ARRAY_SIZE(foreign); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, foreign[i]);
		fd = open(path, O_WRONLY | O_CREAT, 0600);
		REQUIRE(fd >= 0);
		close(fd);
	}
	/* record-shaped names that are not regular files */
	snprintf(path, sizeof(path), "%s/0000000000000009.rec", dir);
	CHECK(mkdir(path, 0700) == 0);
	snprintf(path, sizeof(path), "%s/000000000000000a.rec", dir);
	CHECK(symlink("0000000000000001.rec", path) == 0);

	s = open_spool(dir, 1 << 20);
	snprintf(path, sizeof(path), "%s/0000000000000007.rec.tmp", dir);
	CHECK(access(path, F_OK) < 0 && errno == ENOENT);
	for (size_t i = 0; i < ARRAY_SIZE(foreign); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, foreign[i]);
		CHECK(access(path, F_OK) == 0);
	}
	snprintf(path, sizeof(path), "%s/0000000000000009.rec", dir);
	CHECK(access(path, F_OK) == 0);
	spool__stats(s, &st);
	CHECK_U64(st.records, ==, 2);
	CHECK_INT(spool__put(s, "three", 5, &seq), ==, 0);
	CHECK_U64(seq, ==, 3);
	CHECK(get_equals(s, 1, "one", 3));
	spool__free(s);
}

/* spool__probe leaves nothing behind; spool__check_dir names what is
 * wrong without creating anything. */
static void test_probe_and_check(void)
{
	char dir[256], path[400], file[400], why[512];
	struct spool *s;
	struct stat sb;
	uint64_t seq;
	int tmp_files;
	FILE *f;

	fresh_dir(dir, sizeof(dir), "probe");
	s = open_spool(dir, 1 << 20);
	CHECK_INT(spool__probe(s), ==, 0);
	CHECK_INT(spool__put(s, "one", 3, &seq), ==, 0);
	CHECK_INT(spool__probe(s), ==, 0);
	CHECK_U64(seq, ==, 1);
	CHECK_U64(dir_total(dir, &tmp_files), ==, file_size(test_fmt("%s/%016x.rec", dir, 1)));
	CHECK_INT(tmp_files, ==, 0);
	/* the probe does not take a sequence number */
	CHECK_INT(spool__put(s, "two", 3, &seq), ==, 0);
	CHECK_U64(seq, ==, 2);
	CHECK_INT(spool__probe(NULL), ==, -EINVAL);
	spool__free(s);

	CHECK_INT(spool__check_dir(dir, why, sizeof(why)), ==, 0);
	CHECK_INT(spool__check_dir("", why, sizeof(why)), ==, -EINVAL);
	CHECK_INT(spool__check_dir(NULL, why, sizeof(why)), ==, -EINVAL);
	/* missing: would be created, and is not by the check */
	snprintf(path, sizeof(path), "%s/a/b/", dir);
	CHECK_INT(spool__check_dir(path, why, sizeof(why)), ==, 0);
	CHECK(stat(path, &sb) < 0 && errno == ENOENT);
	/* a file, and a file in the way */
	snprintf(file, sizeof(file), "%s/file", dir);
	f = fopen(file, "we");
	REQUIRE(f && fclose(f) == 0);
	CHECK_INT(spool__check_dir(file, why, sizeof(why)), ==, -ENOTDIR);
	CHECK_STR(why, test_fmt("'%s' is not a directory", file));
	snprintf(path, sizeof(path), "%s/file/spool", dir);
	CHECK_INT(spool__check_dir(path, why, sizeof(why)), ==, -ENOTDIR);
	CHECK_STR(why, test_fmt("'%s' cannot be created: '%s' is not a directory", path, file));
	/* and spool__open agrees */
	{
		struct spool_opts o = { .dir = file, .max_bytes = 1 << 20 };

		s = NULL;
		CHECK_INT(spool__open(&o, &s), ==, -ENOTDIR);
		o.dir = path;
		CHECK_INT(spool__open(&o, &s), ==, -ENOTDIR);
		CHECK(s == NULL);
	}
	/* a dangling symbolic link */
	snprintf(path, sizeof(path), "%s/dangling", dir);
	REQUIRE(symlink("nowhere", path) == 0);
	CHECK_INT(spool__check_dir(path, why, sizeof(why)), ==, -ENOENT);
	CHECK_STR(why, test_fmt("'%s' is a symbolic link to nothing", path));
	/* relative, from the working directory */
	CHECK_INT(spool__check_dir("brasa-spool-check-relative", why, sizeof(why)), ==, 0);
	/* held by an open spool */
	s = open_spool(dir, 1 << 20);
	CHECK_INT(spool__check_dir(dir, why, sizeof(why)), ==, -EBUSY);
	spool__free(s);
}

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

static void setup(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(base_dir, sizeof(base_dir), "%s/brasa-spool-XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	REQUIRE(mkdtemp(base_dir));
}

static void teardown(void)
{
	rm_rf(base_dir);
}

TEST_MAIN(setup, teardown,
	  TEST_CASE(crc_reference),
	  TEST_CASE(roundtrip),
	  TEST_CASE(order_walk),
	  TEST_CASE(reopen),
	  TEST_CASE(bound),
	  TEST_CASE(corruption),
	  TEST_CASE(stray_files),
	  TEST_CASE(probe_and_check),
	  TEST_CASE(unwritable),
	  TEST_CASE(write_failures),
	  TEST_CASE(crash),
	  TEST_CASE(threads))
