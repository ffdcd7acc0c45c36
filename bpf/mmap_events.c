#include "bpf/mmap_events.h"

#include <errno.h>
#include <linux/perf_event.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/macros.h"

/* PERF_RECORD_MMAP2 without sample_id_all: the fixed part, then the
 * NUL-terminated file name padded to 8 bytes. */
struct mmap2_record {
	struct perf_event_header header;
	uint32_t pid, tid;
	uint64_t addr, len, pgoff;
	uint32_t maj, min;
	uint64_t ino, ino_generation;
	uint32_t prot, flags;
	char filename[];
};

struct lost_record {
	struct perf_event_header header;
	uint64_t id, lost;
};

struct ring {
	int fd;
	void *base;          /* the metadata page, then the data pages */
	size_t data_size;
};

struct mmap_events {
	struct ring *rings;
	unsigned nrings;
	size_t page_size;
	int epfd;
	uint32_t target_tgid;
	struct mmap_events_stats stats;
	/* a record that wraps around the ring's end, copied whole */
	uint64_t scratch[(sizeof(struct mmap2_record) + 4096) / sizeof(uint64_t) + 1];
};

int mmap_events__parse(const void *rec, size_t size, struct mmap_event *ev)
{
	const struct perf_event_header *h = rec;

	if (size < sizeof(*h) || h->size != size)
		return -EINVAL;
	switch (h->type) {
	case PERF_RECORD_MMAP2: {
		const struct mmap2_record *r = rec;
		size_t name_max = size - sizeof(*r);

		if (size < sizeof(*r) || size % 8 || !memchr(r->filename, 0, name_max))
			return -EINVAL;
		*ev = (struct mmap_event){
			.kind = MMAP_EVENT_MAP, .pid = r->pid, .tid = r->tid, .addr = r->addr,
			.len = r->len, .pgoff = r->pgoff, .maj = r->maj, .min = r->min,
			.ino = r->ino, .prot = r->prot, .flags = r->flags, .filename = r->filename,
		};
		return 0;
	}
	case PERF_RECORD_LOST: {
		const struct lost_record *r = rec;

		if (size < sizeof(*r))
			return -EINVAL;
		*ev = (struct mmap_event){ .kind = MMAP_EVENT_LOST, .lost = r->lost };
		return 0;
	}
	default:
		return -ENOENT;
	}
}

/* A mapping the unwinder and the symbolizer can use: code from a file
 * (not anonymous JIT memory, not [vdso]). */
static bool file_code(const struct mmap_event *ev)
{
	return (ev->prot & PROT_EXEC) && ev->filename[0] == '/' && ev->filename[1] != '/';
}

static size_t read_ring(struct mmap_events *m, struct ring *r, mmap_events_cb cb, void *ctx)
{
	struct perf_event_mmap_page *meta = r->base;
	const uint8_t *data = (const uint8_t *)r->base + m->page_size;
	uint64_t head = __atomic_load_n(&meta->data_head, __ATOMIC_ACQUIRE);
	uint64_t tail = meta->data_tail, mask = r->data_size - 1;
	size_t n = 0;

	while (tail < head) {
		const struct perf_event_header *h = (const void *)(data + (tail & mask));
		size_t off = tail & mask, size = h->size;
		const void *rec = h;
		struct mmap_event ev;
		int err;

		/* the header itself never wraps: records are 8-byte aligned */
		if (size < sizeof(*h) || size > head - tail || size > sizeof(m->scratch)) {
			m->stats.malformed++;
			tail = head;
			break;
		}
		if (off + size > r->data_size) {
			memcpy(m->scratch, data + off, r->data_size - off);
			memcpy((uint8_t *)m->scratch + (r->data_size - off), data, size - (r->data_size - off));
			rec = m->scratch;
		}
		tail += size;
		err = mmap_events__parse(rec, size, &ev);
		if (err == -EINVAL)
			m->stats.malformed++;
		if (err)
			continue;
		if (ev.kind == MMAP_EVENT_LOST) {
			m->stats.lost += ev.lost;
			continue;
		}
		if (!file_code(&ev) || (m->target_tgid && ev.pid != m->target_tgid))
			continue;
		m->stats.records++;
		n++;
		cb(ctx, &ev);
	}
	__atomic_store_n(&meta->data_tail, tail, __ATOMIC_RELEASE);
	return n;
}

size_t mmap_events__read(struct mmap_events *m, mmap_events_cb cb, void *ctx)
{
	size_t n = 0;

	for (unsigned i = 0; i < m->nrings; i++)
		n += read_ring(m, &m->rings[i], cb, ctx);
	return n;
}

static int open_ring(struct mmap_events *m, int cpu, unsigned pages, struct ring *r)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_SOFTWARE,
		.size = sizeof(attr),
		.config = PERF_COUNT_SW_DUMMY,
		.mmap = 1,
		.mmap2 = 1,
		/* wake the reader at every record: ld.so maps a library
		 * about a millisecond before the code in it runs */
		.watermark = 1,
		.wakeup_watermark = 1,
		.exclude_kernel = 1,
	};
	struct epoll_event ev = { .events = EPOLLIN };
	size_t len = (1 + (size_t)pages) * m->page_size;
	int fd = (int)syscall(SYS_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);

	r->fd = fd;
	r->base = NULL;
	if (fd < 0)
		return -errno;
	r->base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (r->base == MAP_FAILED) {
		r->base = NULL;
		return -errno;
	}
	r->data_size = (size_t)pages * m->page_size;
	ev.data.u32 = (uint32_t)(r - m->rings);
	if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	m->stats.ring_bytes += len;
	return 0;
}

int mmap_events__open(const struct mmap_events_opts *opts, struct mmap_events **out)
{
	unsigned pages = opts->ring_pages ? opts->ring_pages : MMAP_EVENTS_DEFAULT_RING_PAGES;
	long ncpus = sysconf(_SC_NPROCESSORS_CONF);
	struct mmap_events *m;
	int err;

	if (pages & (pages - 1))
		return -EINVAL;
	if (ncpus <= 0)
		return -ENODEV;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->target_tgid = opts->target_tgid;
	m->page_size = (size_t)sysconf(_SC_PAGESIZE);
	m->epfd = epoll_create1(EPOLL_CLOEXEC);
	m->rings = calloc((size_t)ncpus, sizeof(*m->rings));
	if (m->epfd < 0 || !m->rings) {
		err = m->epfd < 0 ? -errno : -ENOMEM;
		goto fail;
	}
	for (int cpu = 0; cpu < ncpus; cpu++) {
		struct ring *r = &m->rings[m->nrings];

		err = open_ring(m, cpu, pages, r);
		if (err == -ENODEV) /* an offline CPU: opening failed, nothing held */
			continue;
		m->nrings++;
		if (err)
			goto fail;
	}
	if (!m->nrings) {
		err = -ENODEV;
		goto fail;
	}
	m->stats.rings = m->nrings;
	*out = m;
	return 0;
fail:
	mmap_events__free(m);
	return err;
}

void mmap_events__free(struct mmap_events *m)
{
	if (!m)
		return;
	for (unsigned i = 0; i < m->nrings; i++) {
		struct ring *r = &m->rings[i];

		if (r->base)
			munmap(r->base, m->page_size + r->data_size);
		if (r->fd >= 0)
			close(r->fd);
	}
	if (m->epfd >= 0)
		close(m->epfd);
	free(m->rings);
	free(m);
}

int mmap_events__fd(const struct mmap_events *m)
{
	return m->epfd;
}

void mmap_events__stats(const struct mmap_events *m, struct mmap_events_stats *st)
{
	*st = m->stats;
}
