#include "symbolize/debug_file.h"

#include <elf.h>
#include <errno.h>
#include <limits.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/macros.h"
#include "symbolize/debuginfod.h"
#include "symbolize/elf_file.h"
#include "symbolize/procfile.h"

/* The whole file's CRC (zlib's CRC-32, the one .gnu_debuglink records)
 * is computed by chunks of this, checking the
 * deadline between them. */
#define CRC_CHUNK ((size_t)1 << 20)

/* The CRC of a whole debug file, by chunks so the deadline is kept. */
static int file_crc(Elf *elf, uint64_t deadline_ns, uint32_t *crc)
{
	size_t size;
	const uint8_t *raw = (const uint8_t *)elf_rawfile(elf, &size);
	uint32_t c = 0;

	if (!raw)
		return -ENOEXEC;
	for (size_t off = 0; off < size; off += CRC_CHUNK) {
		if (clock__past(deadline_ns))
			return -ETIMEDOUT;
		c = (uint32_t)crc32(c, raw + off, (uInt)MIN(CRC_CHUNK, size - off));
	}
	*crc = c;
	return 0;
}

/* Takes a candidate debug file's fd; the Elf unless it is the object
 * itself, not world-readable (see the header), or does not match build_id
 * (if given) or crc (if want_crc). */
static Elf *check_debug_candidate(int fd, const char *path, const struct stat *self,
				  const char *build_id, bool want_crc, uint32_t crc,
				  const struct elf_object_opts *opts, bool ours)
{
	_cleanup_close_ __attribute__((unused)) int owned = fd; /* closed on return */
	_cleanup_elf_ Elf *elf = NULL;
	char candidate_id[ELF_BUILD_ID_HEX_MAX];
	struct stat st;
	uint32_t got;

	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		return NULL;
	if (self && st.st_dev == self->st_dev && st.st_ino == self->st_ino)
		return NULL;
	if (!ours && !(st.st_mode & S_IROTH)) {
		log_debug("debug file '%s' is not world-readable, ignoring", path);
		return NULL;
	}
	elf = elf_file__from_fd(fd);
	if (!elf)
		return NULL;
	elf_file__build_id(elf, candidate_id);
	if (build_id && build_id[0] && candidate_id[0])
		return strcmp(build_id, candidate_id) == 0 ? TAKE_PTR(elf) : NULL;
	if (want_crc) {
		if (file_crc(elf, opts ? opts->deadline_ns : 0, &got) != 0 || got != crc) {
			log_debug("debug file '%s' has the wrong CRC, ignoring", path);
			return NULL;
		}
		return TAKE_PTR(elf);
	}
	return NULL;
}

static bool read_debuglink(Elf *elf, const char **name, uint32_t *crc)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	if (elf_getshdrstrndx(elf, &shstrndx) != 0)
		return false;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *data;
		const char *s;
		size_t len, crc_off;
		uint32_t raw;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type == SHT_NOBITS)
			continue;
		s = elf_strptr(elf, shstrndx, sh.sh_name);
		if (!s || strcmp(s, ".gnu_debuglink") != 0)
			continue;
		data = elf_getdata(scn, NULL);
		if (!data || !data->d_buf)
			return false;
		len = strnlen(data->d_buf, data->d_size);
		crc_off = (len + 4) & ~(size_t)3; /* NUL, then pad to 4 */
		if (len == 0 || crc_off + 4 > data->d_size ||
		    memchr(data->d_buf, '/', len))
			return false;
		memcpy(&raw, (const char *)data->d_buf + crc_off, 4);
		/* written in the object's byte order */
		if ((elf_getident(elf, NULL)[EI_DATA] == ELFDATA2MSB) !=
		    (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__))
			raw = __builtin_bswap32(raw);
		*name = data->d_buf;
		*crc = raw;
		return true;
	}
	return false;
}

/* A debug link candidate in the process's view: through its root, with
 * its credentials (procfile.h); without a process, the agent's own. */
static int open_in_view(const struct elf_object_opts *opts, const char *path)
{
	if (opts && opts->access)
		return procfile__open(opts->access, path, NULL);
	return procfile__open_trusted(path, 0);
}

/* Records how a candidate that was taken was found. */
static Elf *found_at(Elf *found, enum debug_file_source source, const char *path,
		     struct debug_file_where *where)
{
	if (found && where) {
		debug_file_where__release(where);
		where->source = source;
		where->path = strdup(path); /* NULL: the report says less */
	}
	return found;
}

void debug_file_where__release(struct debug_file_where *where)
{
	if (!where)
		return;
	free(where->path);
	where->path = NULL;
	where->source = DEBUG_FILE_NONE;
}

Elf *debug_file__fetch(const char *build_id, const struct stat *self,
		       const struct elf_object_opts *opts, struct debug_file_where *where)
{
	char path[PATH_MAX];
	int fd;

	if (!opts || !opts->debuginfod || !build_id || !build_id[0])
		return NULL;
	fd = debuginfod__open(opts->debuginfod, build_id, path, sizeof(path));
	if (where)
		where->pending = fd == -EAGAIN || fd == -ENOBUFS;
	if (fd < 0)
		return NULL;
	/* the server is trusted no more than the files: the same build id */
	return found_at(check_debug_candidate(fd, path, self, build_id, false, 0, opts, true),
			DEBUG_FILE_DEBUGINFOD, path, where);
}

Elf *debug_file__find(Elf *elf, const char *build_id, const struct stat *self,
		      const struct elf_object_opts *opts, struct debug_file_where *where)
{
	const char *debug_root = opts ? opts->debug_root : NULL;
	const char *link_name;
	Elf *found = NULL;
	uint32_t crc;

	if (debug_root && strlen(build_id) > 2) {
		_cleanup_free_ char *path = NULL;

		if (asprintf(&path, "%s/.build-id/%.2s/%s.debug", debug_root,
			     build_id, build_id + 2) < 0)
			return NULL;
		found = check_debug_candidate(procfile__open_trusted(path, 0), path, self,
					      build_id, false, 0, opts, false);
		if (found)
			return found_at(found, DEBUG_FILE_BUILD_ID, path, where);
	}
	if (!opts || !opts->path || opts->path[0] != '/' ||
	    !read_debuglink(elf, &link_name, &crc))
		return NULL;

	_cleanup_free_ char *dir = strdup(opts->path);
	if (!dir)
		return NULL;
	*strrchr(dir, '/') = '\0'; /* "" for files in "/" */
	const char *formats[] = { "%s/%s", "%s/.debug/%s" };
	for (size_t i = 0; i < ARRAY_SIZE(formats) + 1 && !found; i++) {
		_cleanup_free_ char *path = NULL;
		int fd, n;

		if (clock__past(opts->deadline_ns))
			return NULL;
		if (i < ARRAY_SIZE(formats)) {
			n = asprintf(&path, formats[i], dir, link_name);
			fd = n < 0 ? -1 : open_in_view(opts, path);
		} else if (debug_root) {
			n = asprintf(&path, "%s%s/%s", debug_root, dir, link_name);
			fd = n < 0 ? -1 : procfile__open_trusted(path, 0);
		} else {
			break;
		}
		if (n < 0)
			return NULL;
		found = found_at(check_debug_candidate(fd, path, self, build_id, true, crc, opts,
						       false),
				 DEBUG_FILE_DEBUGLINK, path, where);
	}
	return found;
}

