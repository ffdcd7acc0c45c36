/* symbolizer: turns sampled addresses into functions, files and lines.
 *
 * The agent takes a proc_snapshot (proc_snapshot.h, included here) of a
 * process when it first sees it (and again after exec or when an address
 * falls outside every known mapping), from what procinfo read about it on
 * a worker thread: its executable mappings, each with its file already
 * opened on the process's behalf. A snapshot keeps a reference to a
 * loaded object for every file mapping, so it keeps working after the
 * process exits; proc_snapshot__resolve turns an address into the
 * sym_ref symbolizer__user takes.
 *
 * Objects are shared between processes and cached by the identity of the
 * file they were read from (device, inode, size, modification and change
 * times; file_id.h): never by build id alone, so a file of one tenant
 * can never stand in for another's. An object is loaded (its symbols, its
 * debug file) when an address first needs it, on the LOAD class of the
 * work queue, with a deadline; until it is done, symbolizer__user answers
 * -EAGAIN for its addresses and the caller holds the sample back. Without
 * a work queue, loads run at once (tools, tests).
 *
 * Memory is bounded in bytes (max_bytes): symbols, names and what libdw
 * decoded for every loaded object. An object's DWARF is used only when its
 * sections (mapped, and inflated where compressed) take at most a quarter
 * of max_bytes: larger ones are named by their ELF symbols alone. symbolizer__tick, run after each
 * drain, brings the total back under the bound: objects no snapshot uses
 * first, then the loaded contents of used ones (loaded again, without
 * what DWARF decoded, when an address needs them): those the drain did
 * not use, least recently used first, then the largest. Perf maps
 * have their own bound (max_perfmap_bytes, all maps together; one map
 * gets at most a quarter of it). The time spent in DWARF lookups is
 * bounded per tick (dwarf_budget_ms): past it, lookups use ELF symbols
 * only until the next tick; an object whose single lookup takes longer
 * than a second has its DWARF disabled for good (logged once).
 *
 *   symbolizer__new(opts, &s)          0 or -ENOMEM
 *   symbolizer__free(s)                NULL-safe; the work queue must be
 *                                      freed first (its jobs are done)
 *   symbolizer__snapshot_from(s, info) new snapshot from an inspected
 *                                      process (refcount 1; takes the fds
 *                                      it keeps), NULL + errno
 *   symbolizer__snapshot_add(s, old, pid, rec)
 *                                      a new snapshot: old's mappings (old
 *                                      may be NULL) and one a kernel record
 *                                      reported, whose file the symbolizer
 *                                      knows by device and inode (another
 *                                      process mapped it): what names a
 *                                      process that exited before it could
 *                                      be read again. NULL + errno: ENOENT
 *                                      (file not known), EEXIST (overlaps
 *                                      a mapping of old), ENOMEM
 *   symbolizer__snapshot(s, pid)       identify, inspect and snapshot at
 *                                      once (blocking: tools and tests)
 *   symbolizer__preload(s, snap)       starts loading every object of snap
 *                                      (a profile wants the process now)
 *   symbolizer__user(s, ref, lines, max)
 *                                      symbolize a resolved user address:
 *                                      lines written (0: unknown), or
 *                                      -EAGAIN while its object loads;
 *                                      ref->mapping is brought up to date
 *   symbolizer__kernel(s, addr, lines, max)
 *                                      symbolize a kernel address (kallsyms)
 *   symbolizer__load_kernel(s)         load kallsyms now (else on first use):
 *                                      0 or -errno, the same on every call;
 *                                      -EPERM: all addresses are zero
 *                                      (kptr_restrict), no kernel symbols
 *   symbolizer__tick(s)                end of a drain: bounds, budgets
 *   symbolizer__stats(s, &stats)
 *
 * Executable anonymous mappings (JIT code) are symbolized from the
 * process's perf map, /tmp/perf-PID.map in its own mount and pid
 * namespace (owned by its user or root, opened as in procfile.h); [vdso]
 * from the agent's own vdso (same kernel, same image).
 *
 * Strings in sym_line and sym_mapping point into the symbolizer's caches;
 * they stay valid until the next symbolizer__tick (user) or while the
 * symbolizer lives (kernel). Every snapshot must be put before
 * symbolizer__free. Not thread-safe: all calls from one thread (the
 * work queue's owner).
 */
#ifndef BRASA_SYMBOLIZE_SYMBOLIZER_H
#define BRASA_SYMBOLIZE_SYMBOLIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "symbolize/proc_snapshot.h"

struct symbolizer;
struct proc_info;
struct workq;

struct symbolizer_opts {
	const char *proc_root;      /* default "/proc" */
	const char *debug_root;     /* default "/usr/lib/debug" */
	const char *kallsyms_path;  /* default "/proc/kallsyms" */
	size_t max_bytes;           /* objects' symbols and DWARF, default 32 MiB */
	size_t max_object_bytes;    /* one object's symbols, default max_bytes */
	size_t max_perfmap_bytes;   /* every perf map together, default 16 MiB */
	size_t max_objects;         /* objects known (loaded or not), default 4096 */
	unsigned load_timeout_ms;   /* one object's load, default 5000 */
	unsigned dwarf_budget_ms;   /* DWARF lookups per tick, default 200 */
	bool demangle;              /* C++ and Rust names demangled (elf_object.h) */
	struct workq *wq;           /* NULL: loads run in the caller */
	/* debug files of stripped objects by build id (debuginfod.h), NULL:
	 * none; borrowed. An object loaded while its file is being fetched
	 * is named as it is, then loaded again at the symbolizer__tick after
	 * a fetch brought a file. */
	struct debuginfod *debuginfod;
};

/* One frame of a symbolized address. For inlined code, lines[0] is the
 * innermost inlined function and the last entry is the real (outer)
 * function, matching pprof's Location.line order. */
struct sym_line {
	const char *function; /* symbol name (demangled where the symbolizer
			       * demangles), NULL if unknown */
	const char *file;     /* source file, NULL if no DWARF */
	uint32_t line;        /* 0 if unknown */
	uint64_t sym_offset;  /* address - symbol start (outermost only) */
	const char *system_name; /* the mangled name when function is
				  * demangled, else NULL */
};

enum sym_load_failure {
	SYM_LOAD_TIMEOUT = 0,  /* past load_timeout_ms */
	SYM_LOAD_TOO_LARGE,    /* symbols over the whole budget */
	SYM_LOAD_INVALID,      /* not a usable ELF file */
	SYM_LOAD_OTHER,
	SYM_LOAD_FAILURES,
};

struct symbolizer_stats {
	size_t objects, max_objects;   /* known objects */
	size_t objects_loaded;         /* with their contents in memory */
	size_t bytes, max_bytes;       /* symbols and DWARF of loaded objects */
	size_t perfmap_bytes, max_perfmap_bytes;
	size_t kernel_symbols;
	uint64_t lookups, misses;
	uint64_t pending;              /* lookups answered -EAGAIN */
	uint64_t loads, load_ns;       /* completed loads and their time */
	uint64_t load_failures[SYM_LOAD_FAILURES];
	uint64_t evictions, unloads;
	uint64_t dwarf_budget_exceeded, dwarf_disabled;
	uint64_t perfmap_full;         /* refreshes refused by the perf map bound */
	uint64_t debuginfod_reloads;   /* objects loaded again for a fetched file */
};

extern const char *const sym_load_failure_names[SYM_LOAD_FAILURES];

int symbolizer__new(const struct symbolizer_opts *opts, struct symbolizer **out);
void symbolizer__free(struct symbolizer *s);

struct proc_snapshot *symbolizer__snapshot_from(struct symbolizer *s, struct proc_info *info);
/* A mapping as a kernel record reports it (bpf/mmap_events.h). */
struct sym_map_record {
	uint64_t start, end, pgoff;
	uint64_t dev, ino; /* dev as stat's st_dev */
};

struct proc_snapshot *symbolizer__snapshot_add(struct symbolizer *s, const struct proc_snapshot *old,
					       int pid, const struct sym_map_record *r);
struct proc_snapshot *symbolizer__snapshot(struct symbolizer *s, int pid);
void symbolizer__preload(struct symbolizer *s, struct proc_snapshot *snap);

int symbolizer__user(struct symbolizer *s, const struct sym_ref *ref,
		     struct sym_line *lines, int max);
int symbolizer__kernel(struct symbolizer *s, uint64_t addr,
		       struct sym_line *lines, int max);
int symbolizer__load_kernel(struct symbolizer *s);
void symbolizer__tick(struct symbolizer *s);
void symbolizer__stats(const struct symbolizer *s, struct symbolizer_stats *st);

#endif
