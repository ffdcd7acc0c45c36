/* unwinder_walk: the BPF unwinder's walk (bpf/unwind.bpf.h) done in user
 * space, for the samples the sampler sends whole (struct deferred_sample):
 * a young process's user stack that its tables could not walk when it
 * was taken (no mapping table yet, code mapped since). The same tables,
 * read from the BPF maps where bpf/unwinder.c loaded them (user space
 * keeps no rows), the same rules step for step, the stack read from the
 * copy the sample carries: once user space has loaded the process's
 * tables, the walk the BPF side would have made.
 *
 *   unwinder_walk(maps, d, &r)   the user stack's pcs in r.ips (leaf
 *        first, at most PROFILE_MAX_DEPTH, r.n of them) and returns how it
 *        ended:
 *          0        complete (an outermost frame's END rule, a zero pc)
 *          -ENOENT  the process has no mapping table (r.n is 0)
 *          -ERANGE  stopped: a read outside the copy, the end of a
 *                   frame-pointer chain, a rule it cannot apply, the
 *                   depth limit
 *        r.uncovered: a real pc lay outside every mapping of the table
 *        (code mapped since it was loaded); r.used_fp: some frame had no
 *        table (JIT code, or a table still being built)
 */
#ifndef BRASA_BPF_UNWINDER_WALK_H
#define BRASA_BPF_UNWINDER_WALK_H

#include <stdbool.h>
#include <stddef.h>

#include "bpf/profile.h"

struct unwinder_maps;

struct unwind_walk {
	__u64 ips[PROFILE_MAX_DEPTH];
	size_t n;
	bool uncovered, used_fp;
};

int unwinder_walk(const struct unwinder_maps *maps, const struct deferred_sample *d,
		  struct unwind_walk *r);

#endif
