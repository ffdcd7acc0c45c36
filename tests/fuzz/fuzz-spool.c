/* libFuzzer target: arbitrary bytes as a spool record file read back by
 * spool__open and spool__get, the way records left on disk are read at
 * start. The first input byte is not part of the file: bit 0 set makes
 * the header and compressed-data checksums right and bit 1 the checksum
 * of the uncompressed bytes too (so mutations reach zstd and the length
 * checks instead of stopping at a checksum). spool__get must give 0 with
 * exactly the header's length, or -EBADMSG/-EFBIG/-ENOMEM with nothing. */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "ship/spool.h"
#include "common/buf.h"
#include "common/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HEADER 36
#define FIXUP_UNCOMPRESSED_MAX (1u << 20)

static char dir[64];

static void remove_dir(void)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/0000000000000001.rec", dir);
	unlink(path);
	rmdir(dir);
}

/* crc32c (Castagnoli), bit by bit: the test's own, not the spool's */
static uint32_t crc32c(const uint8_t *p, size_t n)
{
	uint32_t crc = ~0u;

	while (n--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = crc & 1 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
	}
	return ~crc;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void fix_checksums(uint8_t *rec, size_t len, bool uncompressed)
{
	uint64_t ulen = get_le64(rec + 8);

	if (uncompressed && ulen <= FIXUP_UNCOMPRESSED_MAX) {
		uint8_t *out = malloc(ulen ? ulen : 1);
		size_t r;

		if (!out)
			abort();
		r = ZSTD_decompress(out, ulen, rec + HEADER, len - HEADER);
		if (!ZSTD_isError(r))
			put_le32(rec + 24, crc32c(out, r));
		free(out);
	}
	put_le32(rec + 28, crc32c(rec + HEADER, len - HEADER));
	put_le32(rec + 32, crc32c(rec, 32));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spool_opts opts = { .dir = dir, .max_bytes = 1ull << 30 };
	struct spool *s = NULL;
	struct buf out = { 0 };
	char path[128];
	uint8_t *rec;
	size_t len;
	uint64_t seq;
	int fd, rc;

	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "%s/brasa-fuzz-spool-XXXXXX",
			 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
		if (strlen(dir) >= sizeof(dir) - 1 || !mkdtemp(dir))
			abort();
		atexit(remove_dir);
		log_set_level(LOG_LEVEL_ERROR); /* corrupt records warn */
	}
	if (size < 1)
		return 0;
	len = size - 1;
	rec = malloc(len ? len : 1);
	if (!rec)
		abort();
	memcpy(rec, data + 1, len);
	if ((data[0] & 1) && len >= HEADER)
		fix_checksums(rec, len, data[0] & 2);

	snprintf(path, sizeof(path), "%s/0000000000000001.rec", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, rec, len) != (ssize_t)len || close(fd) != 0)
		abort();
	free(rec);

	if (spool__open(&opts, &s) != 0)
		abort();
	if (spool__oldest(s, &seq) != 0 || seq != 1)
		abort();
	rc = spool__get(s, 1, &out);
	if (rc == 0) {
		if (len < HEADER || out.len != get_le64(data + 1 + 8))
			abort();
	} else if ((rc != -EBADMSG && rc != -EFBIG && rc != -ENOMEM) || out.len) {
		abort();
	}
	buf_release(&out);
	spool__free(s);
	return 0;
}
