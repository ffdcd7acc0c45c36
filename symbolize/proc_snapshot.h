/* proc_snapshot: a process's executable mappings as the symbolizer
 * (symbolizer.h) took them, refcounted, with what each mapping is
 * symbolized from: a loaded object (one reference each, so it keeps
 * working after the process exits), the vdso, or the process's perf map
 * (JIT code), which the snapshot holds and re-reads as the JIT appends.
 *
 * Snapshots are made by symbolizer__snapshot_from / symbolizer__snapshot
 * (refcount 1); an address resolves to a sym_ref that symbolizer__user
 * turns into lines.
 *
 *   proc_snapshot__get(snap)           takes a reference: snap (NULL-safe)
 *   proc_snapshot__put(snap)           drops one; the last frees it;
 *                                      NULL-safe
 *   proc_snapshot__pid(snap)           the pid it was taken of
 *   proc_snapshot__bytes(snap)         memory held by the snapshot itself
 *                                      (0 for NULL)
 *   proc_snapshot__resolve(snap, addr, &ref)
 *                                      which mapping an address is in: 0 or
 *                                      -ENOENT (also for a NULL snap)
 *
 * Every snapshot must be put before symbolizer__free. Not thread-safe:
 * the symbolizer's thread only.
 */
#ifndef BRASA_SYMBOLIZE_PROC_SNAPSHOT_H
#define BRASA_SYMBOLIZE_PROC_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct proc_snapshot;

/* What pprof needs to describe the mapping an address falls into. */
struct sym_mapping {
	uint64_t start, limit, file_offset;
	const char *filename;  /* path as the process sees it, "[vdso]", "[anon]"... */
	const char *build_id;  /* lower-case hex GNU build id, "" if none */
	bool has_symbols;      /* the object has a symbol table or a JIT map */
	bool has_lines;        /* DWARF line info found (maybe in a debug file) */
	bool has_inlines;      /* DWARF inline info found */
	bool is_jit;           /* named from the process's perf map */
};

struct sym_ref {
	const struct proc_snapshot *snap;
	uint32_t map_index;    /* index into the snapshot's mappings */
	uint64_t addr;         /* the process virtual address */
	const struct sym_mapping *mapping;
};

struct proc_snapshot *proc_snapshot__get(struct proc_snapshot *snap);
void proc_snapshot__put(struct proc_snapshot *snap);
int proc_snapshot__pid(const struct proc_snapshot *snap);
size_t proc_snapshot__bytes(const struct proc_snapshot *snap);
int proc_snapshot__resolve(const struct proc_snapshot *snap, uint64_t addr,
			   struct sym_ref *ref);

#endif
