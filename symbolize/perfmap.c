#include "symbolize/perfmap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/macros.h"
#include "common/parse.h"

#define NAME_BLOCK_SIZE ((size_t)64 << 10)
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
	int fd;             /* -1 for a parsed buffer */
	uint64_t consumed;  /* bytes of the file dealt with */
	bool skipping;      /* inside an overlong line: drop up to its newline */
	struct pm_entry *entries;
	size_t count, cap;
	uint32_t next_seq;
	struct name_block *blocks;
	size_t block_bytes;
};

static void free_blocks(struct perfmap *pm)
{
	while (pm->blocks) {
		struct name_block *next = pm->blocks->next;

		free(pm->blocks);
		pm->blocks = next;
	}
	pm->block_bytes = 0;
}

void perfmap__free(struct perfmap *pm)
{
	if (!pm)
		return;
	if (pm->fd >= 0)
		close(pm->fd);
	free_blocks(pm);
	free(pm->entries);
	free(pm);
}

DEFINE_CLEANUP(struct perfmap, perfmap__free);

size_t perfmap__bytes(const struct perfmap *pm)
{
	return pm ? sizeof(*pm) + pm->cap * sizeof(*pm->entries) + pm->block_bytes : 0;
}

size_t perfmap__count(const struct perfmap *pm)
{
	return pm ? pm->count : 0;
}

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
		pm->block_bytes += sizeof(*b) + cap;
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

/* Room for one more entry and its name within max_bytes (0: no bound). */
static int reserve(struct perfmap *pm, size_t name_len, size_t max_bytes)
{
	size_t ncap = pm->cap ? pm->cap * 2 : 256;
	size_t grow = pm->count == pm->cap ? (ncap - pm->cap) * sizeof(*pm->entries) : 0;
	bool new_block = !pm->blocks || pm->blocks->cap - pm->blocks->used < name_len + 1;
	size_t block = new_block ? sizeof(struct name_block) + MAX(NAME_BLOCK_SIZE, name_len + 1) : 0;

	if (max_bytes && perfmap__bytes(pm) + grow + block > max_bytes)
		return -ENOSPC;
	if (grow) {
		void *n = reallocarray(pm->entries, ncap, sizeof(*pm->entries));

		if (!n)
			return -ENOMEM;
		pm->entries = n;
		pm->cap = ncap;
	}
	return 0;
}

/* "START SIZE name": adds the entry; -EINVAL for a malformed line. */
static int add_line(struct perfmap *pm, const char *p, const char *end, size_t max_bytes)
{
	uint64_t start, size;
	struct pm_entry *e;
	int err;

	if (take_hex(&p, end, &start) || take_hex(&p, end, &size))
		return -EINVAL;
	if (p == end || size == 0 || start + size < start ||
	    memchr(p, '\0', (size_t)(end - p)))
		return -EINVAL;
	err = reserve(pm, (size_t)(end - p), max_bytes);
	if (err)
		return err;
	e = &pm->entries[pm->count];
	e->name = store_name(pm, p, (size_t)(end - p));
	if (!e->name)
		return -ENOMEM;
	e->start = start;
	e->size = size;
	e->seq = pm->next_seq++;
	pm->count++;
	return 0;
}

static int entry_cmp(const void *a, const void *b)
{
	const struct pm_entry *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Parses the complete lines of [text, text + len); returns how many bytes
 * were dealt with (a trailing partial line is left, unless it is already
 * too long to be a line worth keeping). */
static size_t parse_lines(struct perfmap *pm, const char *text, size_t len, size_t max_bytes,
			  int *err)
{
	const char *p = text, *end = text + len;
	size_t added = 0;

	*err = 0;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		int r;

		if (pm->skipping) {
			if (!eol)
				return len; /* still inside the overlong line */
			pm->skipping = false;
			p = eol + 1;
			continue;
		}
		if (!eol) {
			if ((size_t)(end - p) <= PERFMAP_MAX_LINE)
				break; /* a line still being written */
			pm->skipping = true;
			p = end;
			break;
		}
		if ((size_t)(eol - p) <= PERFMAP_MAX_LINE) {
			r = add_line(pm, p, eol, max_bytes);
			if (r == -ENOSPC || r == -ENOMEM) {
				*err = r;
				break;
			}
			added += r == 0;
		}
		p = eol + 1;
	}
	if (added)
		qsort(pm->entries, pm->count, sizeof(*pm->entries), entry_cmp);
	return (size_t)(p - text);
}

static int new_map(int fd, struct perfmap **out)
{
	struct perfmap *pm = calloc(1, sizeof(*pm));

	if (!pm) {
		if (fd >= 0)
			close(fd);
		return -ENOMEM;
	}
	pm->fd = fd;
	*out = pm;
	return 0;
}

int perfmap__from_fd(int fd, struct perfmap **out)
{
	return new_map(fd, out);
}

int perfmap__open(const char *path, struct perfmap **out)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	int err;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EBADFD;
	}
	err = new_map(fd, out);
	if (!err)
		perfmap__refresh(*out, 0);
	return err;
}

int perfmap__parse(const char *text, size_t len, struct perfmap **out)
{
	_cleanup_(cleanup_perfmap__free) struct perfmap *pm = NULL;
	int err = new_map(-1, &pm);

	if (err)
		return err;
	parse_lines(pm, text, len, 0, &err);
	if (err)
		return err;
	*out = TAKE_PTR(pm);
	return 0;
}

bool perfmap__grew(const struct perfmap *pm)
{
	struct stat st;

	return pm && pm->fd >= 0 && fstat(pm->fd, &st) == 0 &&
	       (uint64_t)st.st_size != pm->consumed;
}

int perfmap__refresh(struct perfmap *pm, size_t max_bytes)
{
	_cleanup_free_ char *chunk = NULL;
	struct stat st;
	ssize_t n;
	size_t used;
	int err;

	if (!pm || pm->fd < 0)
		return 0;
	if (fstat(pm->fd, &st) != 0)
		return -errno;
	if ((uint64_t)st.st_size < pm->consumed) {
		/* rewritten from scratch (a restarted JIT in the same pid
		 * namespace) */
		pm->count = 0;
		pm->consumed = 0;
		pm->skipping = false;
		free_blocks(pm);
	}
	if ((uint64_t)st.st_size == pm->consumed)
		return 0;
	chunk = malloc(PERFMAP_READ_CHUNK);
	if (!chunk)
		return -ENOMEM;
	do
		n = pread(pm->fd, chunk, PERFMAP_READ_CHUNK, (off_t)pm->consumed);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	used = parse_lines(pm, chunk, (size_t)n, max_bytes, &err);
	pm->consumed += used;
	return err;
}

static const struct pm_entry *find(const struct perfmap *pm, uint64_t addr)
{
	const struct pm_entry *best = NULL;
	size_t lo = PARTITION_POINT(pm->count, mid, pm->entries[mid].start <= addr);

	for (size_t i = lo, seen = 0; i > 0 && seen < OVERLAP_SCAN; i--, seen++) {
		const struct pm_entry *e = &pm->entries[i - 1];

		if (addr - e->start < e->size && (!best || e->seq > best->seq))
			best = e;
	}
	return best;
}

int perfmap__lookup(const struct perfmap *pm, uint64_t addr, struct perfmap_entry *entry)
{
	const struct pm_entry *e = pm ? find(pm, addr) : NULL;

	if (!e)
		return -ENOENT;
	entry->start = e->start;
	entry->size = e->size;
	entry->name = e->name;
	return 0;
}
