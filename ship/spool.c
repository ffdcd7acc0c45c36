#include "ship/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "common/buf.h"
#include "common/fsdir.h"
#include "common/log.h"
#include "common/macros.h"
#include "common/parse.h"

#define SPOOL_MAGIC "BRSP"
#define SPOOL_VERSION 1
#define SPOOL_HEADER_SIZE 36
#define SPOOL_HEX_DIGITS 16
#define SPOOL_SUFFIX ".rec"
#define SPOOL_TMP_SUFFIX ".rec.tmp"
/* "%016x" + ".rec.tmp" + NUL */
#define SPOOL_NAME_MAX (SPOOL_HEX_DIGITS + sizeof(SPOOL_TMP_SUFFIX))

/* Most records are gzipped pprof already; zstd stores what it cannot shrink
 * as raw blocks, so the default level costs little on them. */
#define SPOOL_ZSTD_LEVEL ZSTD_CLEVEL_DEFAULT

struct spool_entry {
	uint64_t seq;
	uint64_t size;       /* the file's length */
	bool corrupt_seen;   /* already counted and logged as corrupt */
};

struct spool {
	pthread_mutex_t lock;
	int dir_fd;
	char *dir;            /* for messages */
	uint64_t max_bytes;
	uint64_t next_seq;    /* 0 once the 64-bit space is used up */
	/* live entries are entries[first .. first + count), sorted by seq:
	 * sequence numbers only grow, so puts append and the usual removal
	 * (the oldest, sent first) just advances first */
	struct spool_entry *entries;
	size_t first, count, cap;
	struct spool_stats st; /* records and bytes mirror the index */
};

/* ---- crc32c (Castagnoli, reflected 0x82F63B78), slicing by 8 ---- */

static uint32_t crc32c_table[8][256];
static pthread_once_t crc32c_once = PTHREAD_ONCE_INIT;

static void crc32c_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		crc32c_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++) {
			uint32_t prev = crc32c_table[t - 1][i];

			crc32c_table[t][i] = (prev >> 8) ^ crc32c_table[0][prev & 0xff];
		}
}

static uint64_t load_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint32_t load_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint16_t load_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void store_le(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint32_t crc32c(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t crc = ~0u;

	pthread_once(&crc32c_once, crc32c_init);
	for (; len >= 8; p += 8, len -= 8) {
		uint64_t v = load_le64(p) ^ crc;

		crc = crc32c_table[7][v & 0xff] ^ crc32c_table[6][(v >> 8) & 0xff] ^
		      crc32c_table[5][(v >> 16) & 0xff] ^
		      crc32c_table[4][(v >> 24) & 0xff] ^
		      crc32c_table[3][(v >> 32) & 0xff] ^
		      crc32c_table[2][(v >> 40) & 0xff] ^
		      crc32c_table[1][(v >> 48) & 0xff] ^ crc32c_table[0][v >> 56];
	}
	for (; len; p++, len--)
		crc = crc32c_table[0][(crc ^ *p) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* ---- names ---- */

static void record_name(char name[SPOOL_NAME_MAX], uint64_t seq, bool tmp)
{
	snprintf(name, SPOOL_NAME_MAX, "%016" PRIx64 "%s", seq,
		 tmp ? SPOOL_TMP_SUFFIX : SPOOL_SUFFIX);
}

/* Exactly 16 lowercase hex digits then ".rec" or ".rec.tmp": anything else
 * is someone else's file. 1 record, 2 temporary, 0 neither. */
static int parse_name(const char *name, uint64_t *seq)
{
	char digits[SPOOL_HEX_DIGITS + 1];
	const char *suffix = name + SPOOL_HEX_DIGITS;
	int kind;

	for (int i = 0; i < SPOOL_HEX_DIGITS; i++)
		if (!((name[i] >= '0' && name[i] <= '9') ||
		      (name[i] >= 'a' && name[i] <= 'f')))
			return 0;
	if (strcmp(suffix, SPOOL_SUFFIX) == 0)
		kind = 1;
	else if (strcmp(suffix, SPOOL_TMP_SUFFIX) == 0)
		kind = 2;
	else
		return 0;
	memcpy(digits, name, SPOOL_HEX_DIGITS);
	digits[SPOOL_HEX_DIGITS] = 0;
	return parse_u64(digits, 16, seq) == 0 ? kind : 0;
}

/* ---- index (caller holds the lock) ---- */

static struct spool_entry *index_at(struct spool *s, size_t i)
{
	return &s->entries[s->first + i];
}

/* Position of seq among the live entries, or count if absent. */
static size_t index_find(struct spool *s, uint64_t seq)
{
	size_t lo = PARTITION_POINT(s->count, mid, index_at(s, mid)->seq < seq);

	return lo < s->count && index_at(s, lo)->seq == seq ? lo : s->count;
}

/* Room for one more entry at the end, so that appending after a record is
 * on disk cannot fail. Slides the entries down only when at least half the
 * array is free at the front, which keeps appends amortized O(1). */
static int index_reserve(struct spool *s)
{
	struct spool_entry *grown;
	size_t cap;

	if (s->first + s->count < s->cap)
		return 0;
	if (s->first && s->first >= s->cap / 2) {
		memmove(s->entries, s->entries + s->first,
			s->count * sizeof(*s->entries));
		s->first = 0;
		return 0;
	}
	cap = s->cap ? s->cap * 2 : 64;
	grown = reallocarray(s->entries, cap, sizeof(*s->entries));
	if (!grown)
		return -ENOMEM;
	s->entries = grown;
	s->cap = cap;
	return 0;
}

static void index_append(struct spool *s, uint64_t seq, uint64_t size)
{
	*index_at(s, s->count) = (struct spool_entry){ .seq = seq, .size = size };
	s->count++;
	s->st.records++;
	s->st.bytes += size;
}

static void index_erase(struct spool *s, size_t i)
{
	struct spool_entry *e = index_at(s, i);

	s->st.records--;
	s->st.bytes -= e->size;
	if (i == 0)
		s->first++;
	else
		memmove(e, e + 1, (s->count - i - 1) * sizeof(*e));
	if (--s->count == 0)
		s->first = 0;
}

/* Deletes the oldest records until need more bytes fit under max_bytes. */
static int drop_oldest(struct spool *s, uint64_t need)
{
	uint64_t bytes = 0;
	size_t n = 0;
	int err = 0;

	while (s->count && s->st.bytes + need > s->max_bytes) {
		struct spool_entry *e = index_at(s, 0);
		char name[SPOOL_NAME_MAX];

		record_name(name, e->seq, false);
		if (unlinkat(s->dir_fd, name, 0) < 0 && errno != ENOENT) {
			err = -errno;
			log_warn("failed to drop spool record '%s/%s': %s",
				 s->dir, name, strerror(-err));
			break;
		}
		bytes += e->size;
		n++;
		s->st.dropped++;
		s->st.dropped_bytes += e->size;
		index_erase(s, 0);
	}
	if (n)
		log_warn("spool '%s' is full (max %" PRIu64 " bytes): dropped the "
			 "%zu oldest record(s), %" PRIu64 " bytes: %zu upload "
			 "window(s) lost (%" PRIu64 " since start)",
			 s->dir, s->max_bytes, n, bytes, n, s->st.dropped);
	return err;
}

/* ---- open ---- */

static int cmp_entry(const void *a, const void *b)
{
	const struct spool_entry *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Indexes records by name and size, removes temporary files of a write
 * that a crash interrupted. */
static int scan_dir(struct spool *s)
{
	DIR *d;
	struct dirent *de;
	int fd, err = 0;

	fd = fcntl(s->dir_fd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		err = -errno;
		close(fd);
		return err;
	}
	for (;;) {
		struct stat st;
		uint64_t seq;
		int kind;

		errno = 0;
		de = readdir(d);
		if (!de) {
			err = errno ? -errno : 0;
			break;
		}
		kind = parse_name(de->d_name, &seq);
		if (kind == 2) {
			if (unlinkat(s->dir_fd, de->d_name, 0) < 0 && errno != ENOENT)
				log_warn("failed to remove spool temporary file "
					 "'%s/%s': %s, ignoring",
					 s->dir, de->d_name, strerror(errno));
			continue;
		}
		if (kind != 1)
			continue;
		if (fstatat(s->dir_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;
			err = -errno;
			break;
		}
		if (!S_ISREG(st.st_mode))
			continue;
		err = index_reserve(s);
		if (err)
			break;
		index_append(s, seq, (uint64_t)st.st_size);
	}
	closedir(d);
	if (err)
		return err;
	if (s->count)
		qsort(s->entries, s->count, sizeof(*s->entries), cmp_entry);
	s->next_seq = s->count ? index_at(s, s->count - 1)->seq + 1 : 1;
	return 0;
}

int spool__open(const struct spool_opts *o, struct spool **out)
{
	struct spool *s;
	int err;

	if (!o || !o->dir || !*o->dir || !o->max_bytes || !out)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	s->dir_fd = -1;
	s->max_bytes = o->max_bytes;
	s->dir = strdup(o->dir);
	if (!s->dir) {
		err = -ENOMEM;
		goto fail;
	}
	err = fsdir__mkdir_parents(o->dir);
	if (err)
		goto fail;
	s->dir_fd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dir_fd < 0) {
		err = -errno;
		goto fail;
	}
	/* Two spools on one directory would reuse each other's sequence
	 * numbers and delete each other's temporary files mid-write. */
	if (flock(s->dir_fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK) {
			err = -EBUSY;
			goto fail;
		}
		/* e.g. NFS without lock support: usable, just unguarded */
		log_warn("failed to lock spool directory '%s': %s, ignoring",
			 o->dir, strerror(errno));
	}
	err = scan_dir(s);
	if (err)
		goto fail;
	/* the bound may have been lowered since these were written */
	err = drop_oldest(s, 0);
	if (err)
		goto fail;
	*out = s;
	return 0;
fail:
	spool__free(s);
	return err;
}

void spool__free(struct spool *s)
{
	if (!s)
		return;
	if (s->dir_fd >= 0)
		close(s->dir_fd);
	free(s->entries);
	free(s->dir);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* ---- put ---- */

/* Temp file, fsync, rename, directory fsync; on any failure nothing of
 * this record is left in the directory. Caller holds the lock. */
static int write_record(struct spool *s, uint64_t seq, const uint8_t *file,
			size_t size)
{
	char tmp[SPOOL_NAME_MAX], name[SPOOL_NAME_MAX];
	int fd, err;

	record_name(tmp, seq, true);
	record_name(name, seq, false);
	fd = openat(s->dir_fd, tmp,
		    O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	err = buf_write_fd(fd, file, size);
	if (!err && fsync(fd) < 0)
		err = -errno;
	/* delayed write errors may only show up here (NFS) */
	if (close(fd) < 0 && !err)
		err = -errno;
	if (!err && renameat(s->dir_fd, tmp, s->dir_fd, name) < 0)
		err = -errno;
	if (err) {
		unlinkat(s->dir_fd, tmp, 0);
		return err;
	}
	/* Without this the rename may not survive a power loss. If it fails
	 * the caller will keep or resend the batch, so take the record back
	 * rather than risk it being sent twice. */
	if (fsync(s->dir_fd) < 0) {
		err = -errno;
		unlinkat(s->dir_fd, name, 0);
		return err;
	}
	return 0;
}

/* Header + zstd frame of data, in a new malloc'ed buffer. */
static int encode_record(const void *data, size_t len, uint8_t **file,
			 size_t *size)
{
	size_t bound = ZSTD_compressBound(len), csize;
	uint8_t *f = malloc(SPOOL_HEADER_SIZE + bound);

	if (!f)
		return -ENOMEM;
	csize = ZSTD_compress(f + SPOOL_HEADER_SIZE, bound, data, len,
			      SPOOL_ZSTD_LEVEL);
	if (ZSTD_isError(csize)) {
		int err = ZSTD_getErrorCode(csize) == ZSTD_error_memory_allocation ?
			  -ENOMEM : -EIO;

		free(f);
		return err;
	}
	memcpy(f, SPOOL_MAGIC, 4);
	store_le(f + 4, SPOOL_VERSION, 2);
	store_le(f + 6, SPOOL_HEADER_SIZE, 2);
	store_le(f + 8, len, 8);
	store_le(f + 16, csize, 8);
	store_le(f + 24, crc32c(data, len), 4);
	store_le(f + 28, crc32c(f + SPOOL_HEADER_SIZE, csize), 4);
	store_le(f + 32, crc32c(f, 32), 4);
	*file = f;
	*size = SPOOL_HEADER_SIZE + csize;
	return 0;
}

int spool__put(struct spool *s, const void *data, size_t len, uint64_t *seq)
{
	_cleanup_free_ uint8_t *file = NULL;
	size_t size;
	uint64_t n;
	int err;

	if (!s || !seq || (!data && len))
		return -EINVAL;
	if (len > SPOOL_MAX_RECORD)
		return -EFBIG;
	/* the CPU-heavy part, outside the lock */
	err = encode_record(data ? data : "", len, &file, &size);
	if (err)
		return err;

	pthread_mutex_lock(&s->lock);
	if (size > s->max_bytes) {
		err = -EFBIG;
		goto out;
	}
	if (s->next_seq == 0) {
		err = -EOVERFLOW;
		goto out;
	}
	err = index_reserve(s);
	if (err)
		goto out;
	err = drop_oldest(s, size);
	if (err)
		goto out;
	n = s->next_seq;
	err = write_record(s, n, file, size);
	if (err)
		goto out;
	s->next_seq++; /* wraps to 0: exhausted */
	index_append(s, n, size);
	s->st.written++;
	*seq = n;
out:
	pthread_mutex_unlock(&s->lock);
	return err;
}

/* ---- walk, remove, stats ---- */

int spool__oldest(struct spool *s, uint64_t *seq)
{
	return spool__next(s, 0, seq);
}

int spool__next(struct spool *s, uint64_t after, uint64_t *seq)
{
	int err = -ENOENT;
	size_t lo;

	if (!s || !seq)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	lo = PARTITION_POINT(s->count, mid, index_at(s, mid)->seq <= after);
	if (lo < s->count) {
		*seq = index_at(s, lo)->seq;
		err = 0;
	}
	pthread_mutex_unlock(&s->lock);
	return err;
}

int spool__remove(struct spool *s, uint64_t seq)
{
	char name[SPOOL_NAME_MAX];
	size_t i;
	int err = 0;

	if (!s)
		return -EINVAL;
	record_name(name, seq, false);
	pthread_mutex_lock(&s->lock);
	i = index_find(s, seq);
	if (i == s->count) {
		err = -ENOENT;
	} else if (unlinkat(s->dir_fd, name, 0) < 0 && errno != ENOENT) {
		err = -errno;
	} else {
		index_erase(s, i);
		s->st.removed++;
	}
	pthread_mutex_unlock(&s->lock);
	return err;
}

void spool__stats(struct spool *s, struct spool_stats *st)
{
	if (!st)
		return;
	if (!s) {
		memset(st, 0, sizeof(*st));
		return;
	}
	pthread_mutex_lock(&s->lock);
	*st = s->st;
	pthread_mutex_unlock(&s->lock);
}

/* ---- probe, check ---- */

int spool__probe(struct spool *s)
{
	static const uint8_t zeros[SPOOL_HEADER_SIZE];
	char tmp[SPOOL_NAME_MAX];
	int fd, err;

	if (!s)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	/* the very name a put would write next: a crash between the open and
	 * the unlink leaves a temporary file the next spool__open removes */
	record_name(tmp, s->next_seq, true);
	fd = openat(s->dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	/* a byte needs a block: on a full tmpfs or ext4 this fails now */
	err = buf_write_fd(fd, zeros, sizeof(zeros));
	if (close(fd) < 0 && !err)
		err = -errno;
	if (unlinkat(s->dir_fd, tmp, 0) < 0 && !err)
		err = -errno;
out:
	pthread_mutex_unlock(&s->lock);
	return err;
}

/* path's parent in place ("a/b" -> "a", "/a" -> "/", "a" -> "."); false
 * when path is already "/" or ".". */
static bool to_parent(char *path)
{
	size_t len = strlen(path);
	char *slash;

	while (len > 1 && path[len - 1] == '/')
		path[--len] = 0;
	if (!strcmp(path, "/") || !strcmp(path, "."))
		return false;
	slash = strrchr(path, '/');
	if (!slash)
		strcpy(path, ".");
	else if (slash == path)
		path[1] = 0;
	else
		*slash = 0;
	return true;
}

int spool__check_dir(const char *dir, char *why, size_t len)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_close_ int fd = -1;
	struct statvfs vfs;
	struct stat st;
	bool exists = true;
	int err;

	if (!dir || !*dir) {
		snprintf(why, len, "no spool directory set");
		return -EINVAL;
	}
	/* room for "." in place of a relative name */
	path = malloc(strlen(dir) + 2);
	if (!path) {
		snprintf(why, len, "out of memory");
		return -ENOMEM;
	}
	strcpy(path, dir);
	/* the directory, or the nearest parent mkdir -p would create it in */
	while (stat(path, &st) != 0) {
		err = -errno;
		if (err == -ENOENT && lstat(path, &st) == 0) {
			snprintf(why, len, "'%s' is a symbolic link to nothing", path);
			return err;
		}
		/* ENOTDIR: a parent is a file, found as the walk goes up */
		if (err != -ENOENT && err != -ENOTDIR) {
			snprintf(why, len, "cannot reach '%s': %s", path, strerror(-err));
			return err;
		}
		exists = false;
		if (!to_parent(path)) {
			snprintf(why, len, "'%s' does not exist", path);
			return err;
		}
	}
	if (!S_ISDIR(st.st_mode)) {
		if (exists)
			snprintf(why, len, "'%s' is not a directory", path);
		else
			snprintf(why, len, "'%s' cannot be created: '%s' is not a directory", dir, path);
		return -ENOTDIR;
	}
	/* effective IDs and capabilities, as the agent's own open and mkdir */
	if (faccessat(AT_FDCWD, path, W_OK | X_OK | (exists ? R_OK : 0), AT_EACCESS) != 0) {
		err = -errno;
		if (err == -EROFS)
			snprintf(why, len, "'%s' is on a read-only file system", path);
		else if (exists)
			snprintf(why, len, "'%s' is not readable and writable by uid %u: %s", path,
				 (unsigned)geteuid(), strerror(-err));
		else
			snprintf(why, len, "'%s' cannot be created: '%s' is not writable by uid %u: %s",
				 dir, path, (unsigned)geteuid(), strerror(-err));
		return err;
	}
	if (statvfs(path, &vfs) == 0 && vfs.f_blocks && !vfs.f_bavail) {
		snprintf(why, len, "the file system of '%s' is full", path);
		return -ENOSPC;
	}
	if (!exists)
		return 0;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		snprintf(why, len, "failed to open '%s': %s", path, strerror(-err));
		return err;
	}
	/* taken and released at once (the close): it only asks */
	if (flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK) {
		snprintf(why, len, "'%s' is locked by another process (another brasa using it?)",
			 path);
		return -EBUSY;
	}
	return 0;
}

/* ---- get ---- */

/* Checks raw (a whole record file) and decompresses it into out.
 * -EBADMSG with why in reason, -EFBIG, -ENOMEM. */
static int decode_record(const struct buf *raw, struct buf *out,
			 char *reason, size_t reason_len)
{
	const uint8_t *h = raw->data, *body = raw->data + SPOOL_HEADER_SIZE;
	uint64_t ulen, clen, content;
	size_t r;
	int err;

	if (raw->len < SPOOL_HEADER_SIZE) {
		snprintf(reason, reason_len, "%zu bytes, shorter than a header",
			 raw->len);
		return -EBADMSG;
	}
	if (memcmp(h, SPOOL_MAGIC, 4) != 0) {
		snprintf(reason, reason_len, "bad magic");
		return -EBADMSG;
	}
	if (crc32c(h, 32) != load_le32(h + 32)) {
		snprintf(reason, reason_len, "header checksum mismatch");
		return -EBADMSG;
	}
	if (load_le16(h + 4) != SPOOL_VERSION ||
	    load_le16(h + 6) != SPOOL_HEADER_SIZE) {
		snprintf(reason, reason_len, "unknown version %u (header %u bytes)",
			 load_le16(h + 4), load_le16(h + 6));
		return -EBADMSG;
	}
	ulen = load_le64(h + 8);
	clen = load_le64(h + 16);
	if (clen != raw->len - SPOOL_HEADER_SIZE) {
		snprintf(reason, reason_len,
			 "%zu bytes after the header, expected %" PRIu64
			 " (truncated?)", raw->len - SPOOL_HEADER_SIZE, clen);
		return -EBADMSG;
	}
	if (ulen > SPOOL_MAX_RECORD)
		return -EFBIG;
	if (crc32c(body, clen) != load_le32(h + 28)) {
		snprintf(reason, reason_len, "compressed data checksum mismatch");
		return -EBADMSG;
	}
	content = ZSTD_getFrameContentSize(body, clen);
	if (content != ulen) {
		snprintf(reason, reason_len,
			 "zstd frame content size does not match the header");
		return -EBADMSG;
	}
	err = buf_reserve(out, ulen);
	if (err)
		return err;
	r = ZSTD_decompress(out->data, ulen, body, clen);
	if (ZSTD_isError(r)) {
		if (ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation)
			return -ENOMEM;
		snprintf(reason, reason_len, "zstd: %s", ZSTD_getErrorName(r));
		return -EBADMSG;
	}
	if (r != ulen) {
		snprintf(reason, reason_len, "decompressed to %zu bytes, expected %"
			 PRIu64, r, ulen);
		return -EBADMSG;
	}
	if (crc32c(out->data, ulen) != load_le32(h + 24)) {
		snprintf(reason, reason_len, "checksum mismatch");
		return -EBADMSG;
	}
	out->len = ulen;
	out->data[ulen] = 0;
	return 0;
}

int spool__get(struct spool *s, uint64_t seq, struct buf *out)
{
	_cleanup_close_ int fd = -1;
	struct buf raw = { 0 };
	char name[SPOOL_NAME_MAX], reason[128] = "";
	size_t i;
	int err;

	if (!s || !out)
		return -EINVAL;
	buf_reset(out);
	record_name(name, seq, false);

	pthread_mutex_lock(&s->lock);
	i = index_find(s, seq);
	if (i == s->count) {
		pthread_mutex_unlock(&s->lock);
		return -ENOENT;
	}
	/* opened under the lock so a concurrent remove either comes first
	 * (ENOENT) or after (the open file still reads whole) */
	fd = openat(s->dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	err = fd < 0 ? -errno : 0;
	if (err == -ENOENT) {
		/* deleted behind the spool's back: forget it, or the
		 * caller would find it as the oldest forever */
		log_warn("spool record '%s/%s' vanished, forgetting it",
			 s->dir, name);
		index_erase(s, i);
	}
	pthread_mutex_unlock(&s->lock);
	if (err)
		return err;

	err = buf_read_fd(fd, &raw,
			  SPOOL_HEADER_SIZE + ZSTD_compressBound(SPOOL_MAX_RECORD));
	if (err == -EFBIG) {
		snprintf(reason, sizeof(reason), "larger than any record");
		err = -EBADMSG;
	} else if (!err) {
		err = decode_record(&raw, out, reason, sizeof(reason));
	}
	buf_release(&raw);
	if (err)
		buf_reset(out);
	if (err != -EBADMSG)
		return err;

	pthread_mutex_lock(&s->lock);
	i = index_find(s, seq);
	if (i < s->count && !index_at(s, i)->corrupt_seen) {
		index_at(s, i)->corrupt_seen = true;
		s->st.corrupt++;
		log_warn("failed to read spool record '%s/%s': %s", s->dir, name,
			 reason);
	}
	pthread_mutex_unlock(&s->lock);
	return err;
}
