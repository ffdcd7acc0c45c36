/* perfmap: a JIT's symbol map, /tmp/perf-PID.map, with lines
 * "START SIZE name" (START and SIZE in hex). JITs append as they compile,
 * so the file is read incrementally: a lookup that misses first reads
 * whatever was appended since.
 *
 *   perfmap__open(path, &pm)             0, -ENOENT, -ENOMEM...; keeps
 *                                        the file open for later growth
 *   perfmap__open_pid(proc_root, pid, &pm)
 *                                        <proc_root>/PID/root/tmp/perf-NSPID.map,
 *                                        NSPID being the pid in the
 *                                        process's own pid namespace
 *   perfmap__nspid(proc_root, pid, &nspid)  innermost NSpid from status
 *   perfmap__refresh(pm)                 reads appended lines: 0 or -errno
 *   perfmap__lookup(pm, addr, &entry)    0 or -ENOENT (refreshes on a miss)
 *   perfmap__count(pm)                   entries held
 *   perfmap__free(pm)                    NULL-safe
 *
 * Malformed lines are skipped (the file is written by the profiled
 * process, so it is untrusted). Reading stops at PERFMAP_MAX_ENTRIES.
 * When entries overlap (code memory reused), the later line wins.
 * Names never move: they stay valid until __free.
 */
#ifndef BRASA_SYMBOLIZE_PERFMAP_H
#define BRASA_SYMBOLIZE_PERFMAP_H

#include <stddef.h>
#include <stdint.h>

#define PERFMAP_MAX_ENTRIES (1u << 20)

struct perfmap;

struct perfmap_entry {
	uint64_t start, size;
	const char *name;
};

int perfmap__open(const char *path, struct perfmap **out);
int perfmap__open_pid(const char *proc_root, int pid, struct perfmap **out);
int perfmap__nspid(const char *proc_root, int pid, int *nspid);
int perfmap__refresh(struct perfmap *pm);
int perfmap__lookup(struct perfmap *pm, uint64_t addr,
		    struct perfmap_entry *entry);
size_t perfmap__count(const struct perfmap *pm);
void perfmap__free(struct perfmap *pm);

#endif
