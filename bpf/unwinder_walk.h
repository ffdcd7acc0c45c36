/* unwinder_walk: the BPF unwinder's walk (bpf/unwind.bpf.h) done in user
 * space, for the samples the sampler sends whole (struct deferred_sample):
 * a young process's user stack that its tables could not walk when it
 * was taken (no mapping table yet, code mapped since). The same tables,
 * read from the BPF maps where bpf/unwinder.c loaded them (user space
 * keeps no rows), the same rules step for step, the stack read from the
 * copy the sample carries: once user space has loaded the process's
 * tables, the walk the BPF side would have made.
 *
 *   unwinder_walk(src, d, &r)    the user stack's pcs in r.ips (leaf
 *        first, at most PROFILE_MAX_DEPTH, r.n of them) and returns how it
 *        ended:
 *          0        complete (an outermost frame's END rule, a zero pc)
 *          -ENOENT  the process has no mapping table (r.n is 0)
 *          -ERANGE  stopped: a read outside the copy, the end of a
 *                   frame-pointer chain, a rule it cannot apply, the
 *                   depth limit
 *          -ENOMEM
 *        r.uncovered: a real pc lay outside every mapping of the table
 *        (code mapped since it was loaded); r.used_fp: some frame had no
 *        table (JIT code, or a table still being built)
 *   unwinder_walk__maps(maps, &src)   the source that reads the BPF maps
 *        (maps must outlive it)
 *
 * The stack's words are the profiled process's: every read is checked
 * against the copy, and the walk ends after PROFILE_MAX_DEPTH frames
 * whatever they hold (tests/fuzz/fuzz-unwind-walk.c).
 */
#ifndef BRASA_BPF_UNWINDER_WALK_H
#define BRASA_BPF_UNWINDER_WALK_H

#include <stdbool.h>
#include <stddef.h>

#include "bpf/profile.h"

struct unwinder_maps;

/* Where the walk finds a process's mapping table and the rule of an
 * address in a table: 0, or -ENOENT (none). */
struct unwind_walk_source {
	int (*proc)(void *ctx, const struct proc_unwind_key *key, struct proc_unwind *out);
	int (*rule)(void *ctx, __u32 table_id, __u64 vaddr, struct unwind_rule *out);
	void *ctx;
};

struct unwind_walk {
	__u64 ips[PROFILE_MAX_DEPTH];
	size_t n;
	bool uncovered, used_fp;
};

int unwinder_walk(const struct unwind_walk_source *src, const struct deferred_sample *d,
		  struct unwind_walk *r);
void unwinder_walk__maps(const struct unwinder_maps *maps, struct unwind_walk_source *src);

#endif
