/* mmap_events: the executable file mappings processes make, as the
 * kernel reports them (PERF_RECORD_MMAP2 of a dummy software perf event
 * per online CPU, attr.mmap/mmap2, as perf record's side band): the
 * libraries ld.so maps right after an exec and dlopen()ed ones, within
 * a loop iteration of their mmap(), so the profiler reads the process
 * again while it lives (core/proctable.c, proctable__mapped).
 *
 * Bounded: each CPU's ring holds ring_pages pages; records the kernel
 * could not write into a full ring are counted (lost, from its
 * PERF_RECORD_LOST) and their processes are left to the slower paths
 * (the uncovered event, the drain-time refresh). Records are checked
 * (sizes, a NUL-terminated name inside the record): a malformed one is
 * counted and the rest of that ring dropped.
 *
 *   mmap_events__open(opts, &m)     0, or -errno (no perf events, no CPU)
 *   mmap_events__free(m)            NULL-safe
 *   mmap_events__fd(m)              pollable (epoll of the rings): readable
 *                                   when a record waits
 *   mmap_events__read(m, cb, ctx)   calls cb for each executable mapping
 *                                   of a file; returns how many
 *   mmap_events__parse(rec, size, &ev)
 *                                   one record: 0 (ev filled, filename
 *                                   points into rec), -ENOENT (a record
 *                                   type not used here), -EINVAL
 *                                   (malformed)
 *   mmap_events__stats(m, &st)      -
 *
 * Not thread-safe: one reader (the profiler's loop).
 */
#ifndef BRASA_BPF_MMAP_EVENTS_H
#define BRASA_BPF_MMAP_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#define MMAP_EVENTS_DEFAULT_RING_PAGES 8 /* 32 KiB a CPU: ~300 records */

struct mmap_events;

struct mmap_events_opts {
	unsigned ring_pages;  /* data pages per CPU, a power of two; 0: default */
	uint32_t target_tgid; /* 0: every process */
};

enum mmap_event_kind {
	MMAP_EVENT_MAP = 1,   /* PERF_RECORD_MMAP2 */
	MMAP_EVENT_LOST,      /* PERF_RECORD_LOST: lost records */
};

struct mmap_event {
	enum mmap_event_kind kind;
	uint32_t pid, tid;    /* pid is the process (tgid) */
	uint64_t addr, len, pgoff;
	uint32_t maj, min;
	uint64_t ino;
	uint32_t prot, flags;
	const char *filename; /* into the record: "/usr/lib/...", "//anon"... */
	uint64_t lost;        /* MMAP_EVENT_LOST */
};

struct mmap_events_stats {
	unsigned rings;
	size_t ring_bytes;    /* all rings */
	uint64_t records;     /* executable file mappings reported */
	uint64_t lost;        /* records the kernel dropped (ring full) */
	uint64_t malformed;   /* records that failed the checks */
};

typedef void (*mmap_events_cb)(void *ctx, const struct mmap_event *ev);

int mmap_events__open(const struct mmap_events_opts *opts, struct mmap_events **out);
void mmap_events__free(struct mmap_events *m);
int mmap_events__fd(const struct mmap_events *m);
size_t mmap_events__read(struct mmap_events *m, mmap_events_cb cb, void *ctx);
int mmap_events__parse(const void *rec, size_t size, struct mmap_event *ev);
void mmap_events__stats(const struct mmap_events *m, struct mmap_events_stats *st);

#endif
