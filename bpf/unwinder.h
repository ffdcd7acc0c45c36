/* unwinder: feeds the BPF DWARF unwinder. For each process image the
 * profiler has inspected (symbolize/procinfo.h: executable mappings with
 * their files opened on the process's behalf), it writes the process's
 * sorted mapping table, each mapping naming the unwind table of its file.
 *
 * Tables are found by the identity of the file (device, inode, size,
 * times) and, once built, shared by content: the SHA-256 of the CFI they
 * come from (.eh_frame, .debug_frame, a debug file's .debug_frame) and
 * of the executable segments' layout. A build id is never trusted alone,
 * so a tenant's copy of a binary with garbage CFI can neither take the
 * real binary's table nor leave it without one; failures are remembered
 * by identity and by content in the same way.
 *
 * Building a table runs on the BUILD class of the work queue with a
 * deadline and a memory bound (cfi_limits); until it is done, the mapping
 * has table id 0 (the BPF side walks it by frame pointers) and the
 * process waits for it: the table is patched into its mapping table as
 * soon as it is loaded. Without a work queue, builds run at once.
 *
 * Kernel memory follows need: tables are loaded on demand, and past
 * max_bytes the least recently used tables are evicted (their map entries
 * deleted; processes that used them fall back to frame pointers for those
 * frames until they are loaded again). The rows of a loaded table are
 * not kept in user space.
 *
 *   unwinder__new(skel maps, opts, &u)          0 or -errno
 *   unwinder__free(u)                           NULL-safe (work queue first)
 *   unwinder__load(u, tgid, image, info)        writes the process's mapping
 *                                               table: 0 or -errno; takes no
 *                                               fd (dups what it needs)
 *   unwinder__attach(u, tgid, image, stack_top, m)
 *                                               adds one mapping a kernel
 *                                               record reported (bpf/mmap_events.h)
 *                                               to the process's mapping table
 *                                               (made if none, with stack_top)
 *                                               with its file's loaded table,
 *                                               found by device and inode: 0,
 *                                               -ENOENT (no table loaded for
 *                                               that file), -EEXIST (overlaps
 *                                               another), -E2BIG (full), -errno
 *   unwinder__waiting(u, tgid, image)           whether a table it needs is
 *                                               still being built
 *   unwinder__generation(u)                     changes whenever a mapping
 *                                               table is written
 *   unwinder__forget_process(u, tgid, image)    drop its mapping table
 *   unwinder__stats(u, &st)
 *
 * Runs in the profiler's loop thread only (the work queue's owner).
 */
#ifndef BRASA_BPF_UNWINDER_H
#define BRASA_BPF_UNWINDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct unwinder;
struct proc_info;
struct workq;

struct unwinder_maps {
	int proc_unwind, rules, info, index, chunks; /* BPF map fds */
};

struct unwinder_opts {
	size_t max_bytes;           /* bound on table memory in the kernel */
	unsigned build_timeout_ms;  /* one table's build, default 10000 */
	size_t build_max_bytes;     /* memory one build may hold, default 64 MiB */
	const char *debug_root;     /* default "/usr/lib/debug" */
	struct workq *wq;           /* NULL: builds run in the caller */
};

/* A mapping as a kernel record gives it: no file to open, so its table
 * is found by inode alone (the full identity of file_id.h checked when
 * the process's next read reloads its mapping table). */
struct unwinder_mapping {
	uint64_t start, end, pgoff;
	uint64_t dev, ino; /* dev as stat's st_dev */
};

struct unwinder_stats {
	uint64_t processes_loaded, processes_failed;
	uint64_t tables_built, tables_failed, table_build_ns;
	uint64_t tables_timed_out, tables_too_large; /* of tables_failed */
	uint64_t tables_shared;      /* built, then found identical to a loaded one */
	size_t tables, table_bytes, max_bytes;
	size_t tables_pending;       /* builds in flight */
	uint64_t waiters_patched;    /* mappings given their table after a build */
	uint64_t evictions;
	size_t rules;
	uint64_t mappings_without_table; /* executable mappings left to frame pointers */
	uint64_t too_many_mappings;      /* processes with more than the table holds */
	uint64_t mappings_attached;      /* added from kernel records (unwinder__attach) */
};

int unwinder__new(const struct unwinder_maps *maps, const struct unwinder_opts *opts,
		  struct unwinder **out);
void unwinder__free(struct unwinder *u);
int unwinder__load(struct unwinder *u, uint32_t tgid, uint32_t image,
		   const struct proc_info *info);
int unwinder__attach(struct unwinder *u, uint32_t tgid, uint32_t image, uint64_t stack_top,
		     const struct unwinder_mapping *m);
bool unwinder__waiting(const struct unwinder *u, uint32_t tgid, uint32_t image);
uint64_t unwinder__generation(const struct unwinder *u);
void unwinder__forget_process(struct unwinder *u, uint32_t tgid, uint32_t image);
void unwinder__stats(const struct unwinder *u, struct unwinder_stats *st);

#endif
