/* Unit tests of ship/spool on a healthy file system: the record format
 * (against an independent CRC-32C), round trips, order, reopen, the byte
 * bound, corruption, files a crash or someone else left, and what the
 * probe and the directory check say about a directory's shape. What the
 * environment does to it (permissions, full disks, a kill, threads) is in
 * test-spool-faults.c. Each case runs in a fresh directory under $TMPDIR
 * (or /tmp). */
#include "testing.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ship/spool.h"
#include "common/buf.h"
#include "common/macros.h"
#include "spool_harness.h"

#define HDR 36

/* ---- helpers ---- */

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

static off_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : -1;
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

TEST_MAIN(base_dir_make, base_dir_remove,
	  TEST_CASE(crc_reference),
	  TEST_CASE(roundtrip),
	  TEST_CASE(order_walk),
	  TEST_CASE(reopen),
	  TEST_CASE(bound),
	  TEST_CASE(corruption),
	  TEST_CASE(stray_files),
	  TEST_CASE(probe_and_check))
