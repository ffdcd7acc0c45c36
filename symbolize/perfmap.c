#include "symbolize/perfmap.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/macros.h"
#include "common/parse.h"

/* Bytes of map file we are willing to read in total. */
#define PERFMAP_MAX_BYTES (256u << 20)
#define NAME_BLOCK_SIZE (64u << 10)
/* How many earlier-starting entries a lookup examines for one that
 * overlaps the address; only overlapping (re-JITted) code needs more
 * than one. */
#define OVERLAP_SCAN 64

struct pm_entry {
	uint64_t start, size;
	const char *name;
	uint32_t seq; /* line number: later lines win */
};

/* Names live in blocks that are never reallocated, so pointers handed
 * out stay valid while the table grows. */
struct name_block {
	struct name_block *next;
	size_t used, cap;
	char data[];
};

struct perfmap {
	int fd;
	uint64_t consumed; /* bytes of complete lines parsed */
	struct pm_entry *entries;
	size_t count, cap;
	uint32_t next_seq;
	struct name_block *blocks;
};

void perfmap__free(struct perfmap *pm)
{
	if (!pm)
		return;
	if (pm->fd >= 0)
		close(pm->fd);
	while (pm->blocks) {
		struct name_block *next = pm->blocks->next;

		free(pm->blocks);
		pm->blocks = next;
	}
	free(pm->entries);
	free(pm);
}

DEFINE_CLEANUP(struct perfmap, perfmap__free);

static const char *store_name(struct perfmap *pm, const char *s, size_t n)
{
	struct name_block *b = pm->blocks;
	char *p;

	if (!b || b->cap - b->used < n + 1) {
		size_t cap = MAX(NAME_BLOCK_SIZE, n + 1);

		b = malloc(sizeof(*b) + cap);
		if (!b)
			return NULL;
		b->used = 0;
		b->cap = cap;
		b->next = pm->blocks;
		pm->blocks = b;
	}
	p = b->data + b->used;
	memcpy(p, s, n);
	p[n] = '\0';
	b->used += n + 1;
	return p;
}

/* Hex digits (an optional 0x, as some JITs write it) then one space. */
static int take_hex(const char **p, const char *end, uint64_t *out)
{
	if (end - *p > 2 && (*p)[0] == '0' && ((*p)[1] == 'x' || (*p)[1] == 'X'))
		*p += 2;
	if (parse_hex_prefix(p, end, out) || *p >= end || **p != ' ')
		return -EINVAL;
	(*p)++;
	return 0;
}

/* "START SIZE name": 0 and the entry, or -EINVAL. */
static int parse_line(struct perfmap *pm, const char *p, const char *end,
		      struct pm_entry *e)
{
	uint64_t start, size;

	if (take_hex(&p, end, &start) || take_hex(&p, end, &size))
		return -EINVAL;
	if (p == end || size == 0 || start + size < start ||
	    memchr(p, '\0', (size_t)(end - p)))
		return -EINVAL;
	e->name = store_name(pm, p, (size_t)(end - p));
	if (!e->name)
		return -ENOMEM;
	e->start = start;
	e->size = size;
	e->seq = pm->next_seq++;
	return 0;
}

static int entry_cmp(const void *a, const void *b)
{
	const struct pm_entry *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int perfmap__refresh(struct perfmap *pm)
{
	struct buf chunk = { 0 };
	const char *p, *end;
	size_t added = 0;
	struct stat st;
	int err = 0;

	if (fstat(pm->fd, &st) != 0)
		return -errno;
	if ((uint64_t)st.st_size < pm->consumed) {
		/* rewritten from scratch (a restarted JIT in the same pid
		 * namespace): old names stay allocated, entries go */
		pm->count = 0;
		pm->consumed = 0;
	}
	if ((uint64_t)st.st_size == pm->consumed ||
	    pm->consumed >= PERFMAP_MAX_BYTES || pm->count >= PERFMAP_MAX_ENTRIES)
		return 0;
	if (lseek(pm->fd, (off_t)pm->consumed, SEEK_SET) < 0)
		return -errno;
	err = buf_read_fd(pm->fd, &chunk, PERFMAP_MAX_BYTES - pm->consumed);
	if (err == -EFBIG)
		err = 0; /* parse what fits under the cap */
	if (err)
		goto out;
	p = (const char *)chunk.data;
	end = p + chunk.len;
	while (p < end && pm->count < PERFMAP_MAX_ENTRIES) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));

		if (!eol)
			break; /* a line still being written */
		if (pm->count == pm->cap) {
			size_t ncap = pm->cap ? pm->cap * 2 : 256;
			void *n = reallocarray(pm->entries, ncap, sizeof(*pm->entries));

			if (!n) {
				err = -ENOMEM;
				break;
			}
			pm->entries = n;
			pm->cap = ncap;
		}
		err = parse_line(pm, p, eol, &pm->entries[pm->count]);
		if (err == -ENOMEM)
			break;
		if (!err) {
			pm->count++;
			added++;
		}
		err = 0;
		pm->consumed += (uint64_t)(eol + 1 - p);
		p = eol + 1;
	}
	if (added)
		qsort(pm->entries, pm->count, sizeof(*pm->entries), entry_cmp);
out:
	buf_release(&chunk);
	return err;
}

int perfmap__open(const char *path, struct perfmap **out)
{
	_cleanup_(cleanup_perfmap__free) struct perfmap *pm = NULL;
	int err;

	pm = calloc(1, sizeof(*pm));
	if (!pm)
		return -ENOMEM;
	pm->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (pm->fd < 0)
		return -errno;
	err = perfmap__refresh(pm);
	if (err)
		return err;
	*out = TAKE_PTR(pm);
	return 0;
}

int perfmap__nspid(const char *proc_root, int pid, int *nspid)
{
	_cleanup_free_ char *path = NULL;
	struct buf status = { 0 };
	const char *line;
	int err;

	if (asprintf(&path, "%s/%d/status", proc_root ? proc_root : "/proc", pid) < 0) {
		path = NULL;
		return -ENOMEM;
	}
	err = buf_read_file(path, &status, 1u << 20);
	if (err)
		goto out;
	line = strstr((const char *)status.data, "\nNSpid:");
	if (!line) {
		/* kernels before 4.1 have no NSpid: no nesting to undo */
		*nspid = pid;
		goto out;
	}
	{
		const char *eol = strchrnul(line + 1, '\n');
		const char *last = eol;
		char digits[16];
		uint32_t v;

		while (last > line && last[-1] != '\t' && last[-1] != ' ')
			last--;
		if ((size_t)(eol - last) >= sizeof(digits) || eol == last) {
			err = -EINVAL;
			goto out;
		}
		memcpy(digits, last, (size_t)(eol - last));
		digits[eol - last] = '\0';
		err = parse_u32_range(digits, 1, INT_MAX, &v);
		if (!err)
			*nspid = (int)v;
	}
out:
	buf_release(&status);
	return err;
}

int perfmap__open_pid(const char *proc_root, int pid, struct perfmap **out)
{
	_cleanup_free_ char *path = NULL;
	int nspid, err;

	err = perfmap__nspid(proc_root, pid, &nspid);
	if (err)
		return err;
	if (asprintf(&path, "%s/%d/root/tmp/perf-%d.map",
		     proc_root ? proc_root : "/proc", pid, nspid) < 0) {
		path = NULL;
		return -ENOMEM;
	}
	return perfmap__open(path, out);
}

static const struct pm_entry *find(const struct perfmap *pm, uint64_t addr)
{
	const struct pm_entry *best = NULL;
	size_t lo = 0, hi = pm->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (pm->entries[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo, seen = 0; i > 0 && seen < OVERLAP_SCAN; i--, seen++) {
		const struct pm_entry *e = &pm->entries[i - 1];

		if (addr - e->start < e->size && (!best || e->seq > best->seq))
			best = e;
	}
	return best;
}

int perfmap__lookup(struct perfmap *pm, uint64_t addr,
		    struct perfmap_entry *entry)
{
	const struct pm_entry *e;

	if (!pm)
		return -ENOENT;
	e = find(pm, addr);
	if (!e && perfmap__refresh(pm) == 0)
		e = find(pm, addr);
	if (!e)
		return -ENOENT;
	entry->start = e->start;
	entry->size = e->size;
	entry->name = e->name;
	return 0;
}

size_t perfmap__count(const struct perfmap *pm)
{
	return pm ? pm->count : 0;
}
