#include "symbolize/procmaps.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <unistd.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/macros.h"
#include "common/parse.h"
#include "symbolize/procfs.h"

/* /proc/PID/maps of a large process (JVMs, browsers) runs to megabytes;
 * anything past this is not a maps file we want to hold in memory. */
#define PROCMAPS_MAX_BYTES (64u << 20)

static const char deleted_suffix[] = " (deleted)";

static int take_dec(const char **p, const char *end, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;

	if (s >= end || *s < '0' || *s > '9')
		return -EINVAL;
	for (; s < end && *s >= '0' && *s <= '9'; s++) {
		uint64_t d = (uint64_t)(*s - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*p = s;
	*out = v;
	return 0;
}

static int take_char(const char **p, const char *end, char c)
{
	if (*p >= end || **p != c)
		return -EINVAL;
	(*p)++;
	return 0;
}

static int take_perm(const char **p, const char *end, char set, uint8_t bit,
		     uint8_t *perms)
{
	if (*p >= end)
		return -EINVAL;
	if (**p == set)
		*perms |= bit;
	else if (**p != '-')
		return -EINVAL;
	(*p)++;
	return 0;
}

static enum procmaps_kind classify(const char *path)
{
	if (path[0] != '[')
		return strncmp(path, "/memfd:", 7) == 0 ? PROCMAPS_MEMFD
							: PROCMAPS_FILE;
	if (strcmp(path, "[heap]") == 0)
		return PROCMAPS_HEAP;
	if (strcmp(path, "[stack]") == 0 || strncmp(path, "[stack:", 7) == 0)
		return PROCMAPS_STACK;
	if (strcmp(path, "[vdso]") == 0)
		return PROCMAPS_VDSO;
	if (strcmp(path, "[vvar]") == 0 || strcmp(path, "[vvar_vclock]") == 0)
		return PROCMAPS_VVAR;
	if (strcmp(path, "[vsyscall]") == 0)
		return PROCMAPS_VSYSCALL;
	if (strncmp(path, "[anon:", 6) == 0 || strncmp(path, "[anon_shmem:", 12) == 0)
		return PROCMAPS_ANON_NAMED;
	return PROCMAPS_SPECIAL;
}

static int parse_line(const char *p, const char *end, struct procmaps_entry *e)
{
	uint64_t dev_major, dev_minor;
	const char *path;
	size_t path_len;
	int err;

	memset(e, 0, sizeof(*e));
	if ((err = parse_hex_prefix(&p, end, &e->start)) ||
	    (err = take_char(&p, end, '-')) ||
	    (err = parse_hex_prefix(&p, end, &e->end)) ||
	    (err = take_char(&p, end, ' ')) ||
	    (err = take_perm(&p, end, 'r', PROCMAPS_PERM_READ, &e->perms)) ||
	    (err = take_perm(&p, end, 'w', PROCMAPS_PERM_WRITE, &e->perms)) ||
	    (err = take_perm(&p, end, 'x', PROCMAPS_PERM_EXEC, &e->perms)))
		return err;
	/* the fourth column is 's' (shared) or 'p' (private), never '-' */
	if (p >= end || (*p != 's' && *p != 'p'))
		return -EINVAL;
	if (*p++ == 's')
		e->perms |= PROCMAPS_PERM_SHARED;
	if ((err = take_char(&p, end, ' ')) ||
	    (err = parse_hex_prefix(&p, end, &e->offset)) ||
	    (err = take_char(&p, end, ' ')) ||
	    (err = parse_hex_prefix(&p, end, &dev_major)) ||
	    (err = take_char(&p, end, ':')) ||
	    (err = parse_hex_prefix(&p, end, &dev_minor)) ||
	    (err = take_char(&p, end, ' ')) ||
	    (err = take_dec(&p, end, &e->inode)))
		return err;
	if (e->start >= e->end || dev_major > UINT32_MAX || dev_minor > UINT32_MAX)
		return -EINVAL;
	e->dev_major = (uint32_t)dev_major;
	e->dev_minor = (uint32_t)dev_minor;

	/* The kernel pads the path to a column with spaces; an anonymous
	 * mapping has no path (older kernels still left the padding). */
	if (p < end && *p != ' ')
		return -EINVAL;
	while (p < end && *p == ' ')
		p++;
	if (p == end) {
		e->kind = PROCMAPS_ANON;
		return 0;
	}
	path = p;
	path_len = (size_t)(end - p);
	if (path_len > sizeof(deleted_suffix) - 1 &&
	    memcmp(end - (sizeof(deleted_suffix) - 1), deleted_suffix,
		   sizeof(deleted_suffix) - 1) == 0) {
		e->deleted = true;
		path_len -= sizeof(deleted_suffix) - 1;
	}
	if (memchr(path, '\0', path_len))
		return -EINVAL;
	e->path = strndup(path, path_len);
	if (!e->path)
		return -ENOMEM;
	e->kind = classify(e->path);
	return 0;
}

void procmaps__free(struct procmaps *maps)
{
	if (!maps)
		return;
	for (size_t i = 0; i < maps->count; i++)
		free(maps->entries[i].path);
	free(maps->entries);
	free(maps);
}

DEFINE_CLEANUP(struct procmaps, procmaps__free);

int procmaps__parse(const char *text, size_t len, struct procmaps **out)
{
	_cleanup_(cleanup_procmaps__free) struct procmaps *maps = NULL;
	const char *p = text, *end = text + len;
	size_t cap = 0;

	maps = calloc(1, sizeof(*maps));
	if (!maps)
		return -ENOMEM;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		struct procmaps_entry *e;
		int err;

		if (!eol)
			eol = end; /* last line without its newline */
		if (maps->count == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			void *n = reallocarray(maps->entries, ncap, sizeof(*maps->entries));

			if (!n)
				return -ENOMEM;
			maps->entries = n;
			cap = ncap;
		}
		e = &maps->entries[maps->count];
		err = parse_line(p, eol, e);
		if (err) {
			free(e->path);
			return err;
		}
		maps->count++;
		/* The kernel emits mappings in address order and they never
		 * overlap; procmaps__find's binary search relies on it. */
		if (maps->count > 1 && e->start < e[-1].end)
			return -EINVAL;
		p = eol + 1;
	}
	*out = TAKE_PTR(maps);
	return 0;
}

int procmaps__read(const char *proc_root, int pid, struct procmaps **out)
{
	struct buf text = { 0 };
	int err;

	err = procfs__read_file(proc_root, pid, "maps", PROCMAPS_MAX_BYTES, &text);
	if (!err)
		err = procmaps__parse((const char *)text.data, text.len, out);
	buf_release(&text);
	return err;
}

const struct procmaps_entry *procmaps__find(const struct procmaps *maps,
					    uint64_t addr)
{
	size_t lo = 0, hi;

	if (!maps)
		return NULL;
	hi = maps->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct procmaps_entry *e = &maps->entries[mid];

		if (addr < e->start)
			hi = mid;
		else if (addr >= e->end)
			lo = mid + 1;
		else
			return e;
	}
	return NULL;
}

int procmaps__open(const char *proc_root, int pid, const struct procmaps_entry *e)
{
	_cleanup_free_ char *path = NULL;
	struct stat st;
	int fd;

	/* map_files reaches the very file that is mapped, even when it was
	 * deleted or lives in another mount namespace (needs CAP_SYS_ADMIN) */
	if (asprintf(&path, "%s/%d/map_files/%" PRIx64 "-%" PRIx64, proc_root,
		     pid, e->start, e->end) < 0)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 || e->kind != PROCMAPS_FILE || e->deleted)
		return fd >= 0 ? fd : -errno;
	free(path);
	if (asprintf(&path, "%s/%d/root%s", proc_root, pid, e->path) < 0) {
		path = NULL;
		return -ENOMEM;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* the path may name a newer file than the one mapped */
	if (fstat(fd, &st) != 0 || (e->inode && st.st_ino != e->inode)) {
		close(fd);
		return -ESTALE;
	}
	return fd;
}
