/* unwinder: feeds the BPF DWARF unwinder. For each process image the
 * sampler announces, reads its executable mappings, builds (or finds in
 * the cache, by build id) the unwind table of each mapped file, loads
 * tables and the global rule table into the BPF maps, and writes the
 * process's sorted mapping table. Kernel memory follows need: tables are
 * loaded on demand, and past max_bytes the least recently used tables are
 * evicted (their map entries deleted; processes that used them fall back
 * to frame pointers for those frames until they are loaded again).
 *
 *   unwinder__new(skel maps, opts, &u)     0 or -errno
 *   unwinder__free(u)                      NULL-safe
 *   unwinder__load_process(u, tgid, image) 0, -ESRCH (gone), -errno
 *   unwinder__forget_process(u, tgid, image)  drop its mapping table
 *   unwinder__stats(u, &st)
 *
 * Runs in the profiler's loop thread only.
 */
#ifndef BRASA_AGENT_UNWINDER_H
#define BRASA_AGENT_UNWINDER_H

#include <stddef.h>
#include <stdint.h>

struct unwinder;

struct unwinder_maps {
	int proc_unwind, rules, info, index, chunks; /* BPF map fds */
};

struct unwinder_opts {
	const char *proc_root; /* default "/proc" */
	size_t max_bytes;      /* bound on table memory in the kernel */
};

struct unwinder_stats {
	uint64_t processes_loaded, processes_failed;
	uint64_t tables_built, tables_failed, table_build_ns;
	size_t tables, table_bytes, max_bytes;
	uint64_t evictions;
	size_t rules;
	uint64_t mappings_without_table; /* executable mappings left to frame pointers */
	uint64_t too_many_mappings;      /* processes with more than the table holds */
};

int unwinder__new(const struct unwinder_maps *maps, const struct unwinder_opts *opts,
		  struct unwinder **out);
void unwinder__free(struct unwinder *u);
int unwinder__load_process(struct unwinder *u, uint32_t tgid, uint32_t image);
void unwinder__forget_process(struct unwinder *u, uint32_t tgid, uint32_t image);
void unwinder__stats(const struct unwinder *u, struct unwinder_stats *st);

#endif
