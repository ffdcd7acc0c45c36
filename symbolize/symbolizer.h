/* symbolizer: turns sampled addresses into functions, files and lines.
 *
 * The agent takes a proc_snapshot of a process when it first sees it
 * (and again after exec or when an address falls outside every known
 * mapping). A snapshot holds the process's mappings and a reference to a
 * loaded object for every executable file-backed mapping, so it keeps
 * working after the process exits: binaries are opened through
 * /proc/PID/map_files (or /proc/PID/root/PATH) at snapshot time, which
 * also covers containers and deleted-but-running files.
 *
 * Objects are shared between processes and cached by build id (and by
 * the device, inode, size and mtime of the files they were read from, so
 * a file is not parsed again), bounded by max_objects: the least recently
 * used object that no snapshot references is dropped first. Objects that
 * live snapshots still need stay loaded past the bound, uncached, until
 * their last snapshot is put.
 *
 *   symbolizer__new(opts)              NULL + errno
 *   symbolizer__free(s)                NULL-safe
 *   symbolizer__snapshot(s, pid)       new snapshot (refcount 1), NULL + errno
 *                                      (ESRCH: process gone)
 *   proc_snapshot__get / __put         refcounting, __put NULL-safe
 *   proc_snapshot__resolve(snap, addr, &ref)
 *                                      which mapping an address is in: 0 or -ENOENT
 *   symbolizer__user(s, ref, lines, max)
 *                                      symbolize a resolved user address
 *   symbolizer__kernel(s, addr, lines, max)
 *                                      symbolize a kernel address (kallsyms)
 *   symbolizer__load_kernel(s)         load kallsyms now (else on first use):
 *                                      0 or -errno, the same on every call;
 *                                      -EPERM: all addresses are zero
 *                                      (kptr_restrict), no kernel symbols
 *   symbolizer__stats(s, &stats)       cache fill levels for metrics
 *
 * Executable anonymous mappings (JIT code) are symbolized from the
 * process's perf map, /tmp/perf-PID.map in its own mount and pid
 * namespace; [vdso] from the agent's own vdso (same kernel, same image).
 *
 * Strings in sym_line and sym_mapping point into the symbolizer's caches;
 * they stay valid while the snapshot (user) or the symbolizer (kernel)
 * they came from is alive. Every snapshot must be put before
 * symbolizer__free. Not thread-safe: callers serialize all calls,
 * including proc_snapshot__get/__put.
 */
#ifndef BRASA_SYMBOLIZE_SYMBOLIZER_H
#define BRASA_SYMBOLIZE_SYMBOLIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct symbolizer;
struct proc_snapshot;

struct symbolizer_opts {
	const char *proc_root;     /* default "/proc" */
	const char *debug_root;    /* default "/usr/lib/debug" */
	const char *kallsyms_path; /* default "/proc/kallsyms" */
	size_t max_objects;        /* default 512 */
};

/* One frame of a symbolized address. For inlined code, lines[0] is the
 * innermost inlined function and the last entry is the real (outer)
 * function, matching pprof's Location.line order. */
struct sym_line {
	const char *function; /* demangled-as-is symbol name, NULL if unknown */
	const char *file;     /* source file, NULL if no DWARF */
	uint32_t line;        /* 0 if unknown */
	uint64_t sym_offset;  /* address - symbol start (outermost only) */
};

/* What pprof needs to describe the mapping an address falls into. */
struct sym_mapping {
	uint64_t start, limit, file_offset;
	const char *filename;  /* path as the process sees it, "[vdso]", "[anon]"... */
	const char *build_id;  /* lower-case hex GNU build id, "" if none */
	bool has_symbols;      /* the object has a symbol table or a JIT map */
	bool has_lines;        /* DWARF line info found (maybe in a debug file) */
	bool has_inlines;      /* DWARF inline info found */
};

struct sym_ref {
	const struct proc_snapshot *snap;
	uint32_t map_index;    /* index into the snapshot's mappings */
	uint64_t addr;         /* the process virtual address */
	const struct sym_mapping *mapping;
};

struct symbolizer_stats {
	size_t objects, max_objects; /* objects: cached (not counting any kept
				      * past the bound by live snapshots) */
	size_t kernel_symbols;
	uint64_t lookups, misses;
};

struct symbolizer *symbolizer__new(const struct symbolizer_opts *opts);
void symbolizer__free(struct symbolizer *s);

struct proc_snapshot *symbolizer__snapshot(struct symbolizer *s, int pid);
struct proc_snapshot *proc_snapshot__get(struct proc_snapshot *snap);
void proc_snapshot__put(struct proc_snapshot *snap);
int proc_snapshot__pid(const struct proc_snapshot *snap);
int proc_snapshot__resolve(const struct proc_snapshot *snap, uint64_t addr,
			   struct sym_ref *ref);

/* Returns the number of lines written (>= 1) or 0 when the address could
 * not be symbolized; never more than max. */
int symbolizer__user(struct symbolizer *s, const struct sym_ref *ref,
		     struct sym_line *lines, int max);
int symbolizer__kernel(struct symbolizer *s, uint64_t addr,
		       struct sym_line *lines, int max);
int symbolizer__load_kernel(struct symbolizer *s);
void symbolizer__stats(const struct symbolizer *s, struct symbolizer_stats *st);

#endif
