/* Test helpers shared by test-spool and test-spool-faults: a base
 * directory per run under $TMPDIR (or /tmp), made by base_dir_make and
 * removed by base_dir_remove (the setup and teardown of TEST_MAIN), with
 * a fresh directory per case in it; payloads reproducible from a seed;
 * record paths, the bytes a directory holds, and a spool opened or a
 * record read back under CHECKs.
 */
#ifndef BRASA_TESTS_SPOOL_HARNESS_H
#define BRASA_TESTS_SPOOL_HARNESS_H

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "common/buf.h"
#include "ship/spool.h"
#include "testing.h"

static char base_dir[128];

static inline int rm_entry(const char *path, const struct stat *st, int flag,
			   struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static inline void rm_rf(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static inline void base_dir_make(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(base_dir, sizeof(base_dir), "%s/brasa-spool-XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	REQUIRE(mkdtemp(base_dir));
}

static inline void base_dir_remove(void)
{
	rm_rf(base_dir);
}

/* A new empty directory for one case; its path is in dir. */
static inline void fresh_dir(char *dir, size_t len, const char *name)
{
	snprintf(dir, len, "%s/%s", base_dir, name);
	rm_rf(dir);
	REQUIRE(mkdir(dir, 0700) == 0);
}

/* Incompressible bytes (xorshift) or compressible text, from a seed. */
static inline uint8_t *make_data(size_t len, uint64_t seed, bool random)
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

static inline void rec_path(char *path, size_t len, const char *dir, uint64_t seq)
{
	snprintf(path, len, "%s/%016" PRIx64 ".rec", dir, seq);
}

/* Sum of st_size over every file in dir, and how many end in ".tmp". */
static inline uint64_t dir_total(const char *dir, int *tmp_files)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	uint64_t total = 0;

	REQUIRE(d);
	if (tmp_files)
		*tmp_files = 0;
	while ((de = readdir(d))) {
		struct stat st;
		size_t n = strlen(de->d_name);

		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		total += (uint64_t)st.st_size;
		if (tmp_files && n > 4 && strcmp(de->d_name + n - 4, ".tmp") == 0)
			(*tmp_files)++;
	}
	closedir(d);
	return total;
}

static inline struct spool *open_spool(const char *dir, uint64_t max_bytes)
{
	struct spool_opts o = { .dir = dir, .max_bytes = max_bytes };
	struct spool *s = NULL;
	int err = spool__open(&o, &s);

	if (err)
		fprintf(stderr, "spool__open(%s): %s\n", dir, strerror(-err));
	REQUIRE(err == 0 && s);
	return s;
}

static inline bool get_equals(struct spool *s, uint64_t seq, const void *data,
			      size_t len)
{
	struct buf out = { 0 };
	bool ok = spool__get(s, seq, &out) == 0 && out.len == len &&
		  (len == 0 || memcmp(out.data, data, len) == 0);

	buf_release(&out);
	return ok;
}

#endif
