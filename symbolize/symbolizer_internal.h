/* symbolizer_internal: the state the symbolizer (symbolizer.c) and its
 * process snapshots (proc_snapshot.c) share; not for other modules.
 *
 * A snapshot's mappings point at the symbolizer's objects (a reference
 * each, dropped by proc_snapshot__put), and its perf map counts against
 * the symbolizer's perf map bound.
 *
 *   symbolizer__object_put(s, o)        drops a snapshot mapping's
 *        reference to o; NULL-safe
 *   proc_snapshot__new(s, info, &snap)  a snapshot of info's executable
 *        mappings (taken from info), described but with no source yet:
 *        0 or -ENOMEM
 *   proc_snapshot__open_perfmap(snap, access)  once the sources are set:
 *        reads the process's perf map if a mapping wants it (keeping a
 *        copy of access to retry and refresh it)
 *   proc_snapshot__symbolize_jit(snap, m, addr, lines)  addr in the perf
 *        map: 1 line or 0; reads what the JIT wrote since when it misses
 */
#ifndef BRASA_SYMBOLIZE_SYMBOLIZER_INTERNAL_H
#define BRASA_SYMBOLIZE_SYMBOLIZER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/macros.h"
#include "common/u64map.h"
#include "symbolize/elf_object.h"
#include "symbolize/procinfo.h"
#include "symbolize/symbolizer.h"

enum obj_state {
	OBJ_LOADING = 0, /* a load job is in flight */
	OBJ_READY,       /* elf holds its contents */
	OBJ_UNLOADED,    /* contents given back under the bound: load again */
	OBJ_FAILED,      /* its file is no usable ELF, or broke a cap */
};

struct load_job;

struct sym_object {
	struct file_id id;
	uint64_t hash;
	int fd;                     /* the file, for loads and reloads */
	struct proc_access access;  /* its first mapper's view, for debug links */
	char *path;                 /* as its first mapper saw it, NULL if none */
	enum obj_state state;
	struct elf_object *elf;
	size_t bytes;               /* what elf holds, as last counted */
	char build_id[ELF_BUILD_ID_HEX_MAX];
	bool has_symbols, has_lines, has_inlines;
	bool dwarf_disabled;        /* a lookup took longer than the budget */
	bool promoted;              /* its load job was moved ahead */
	bool debug_pending;         /* loaded while debuginfod fetched its debug file */
	uint64_t debuginfod_gen;    /* debuginfod's generation before that load */
	unsigned refs;              /* snapshot mappings pointing at it */
	uint64_t last_used;         /* symbolizer tick */
	bool cached;                /* in by_id; else freed at refs 0 */
	struct load_job *job;
};

struct symbolizer {
	char *proc_root, *debug_root, *kallsyms_path;
	struct symbolizer_opts opts;
	struct sym_object **objects; /* cached, at most max_objects */
	size_t object_count;
	struct u64map by_id;         /* file id hash -> object */
	uint64_t tick;
	size_t bytes;                /* sum of loaded objects' bytes */
	size_t perfmap_bytes;
	uint64_t dwarf_ns;           /* DWARF lookup time this tick */

	bool kernel_tried;
	int kernel_err;
	struct kallsyms *kallsyms;

	bool vdso_tried;
	struct elf_object *vdso;

	struct symbolizer_stats st;
};

enum snap_source {
	SOURCE_NONE = 0,
	SOURCE_OBJECT, /* an ELF file */
	SOURCE_VDSO,   /* the symbolizer's vdso */
	SOURCE_JIT,    /* the process's perf map */
};

struct snap_map {
	struct sym_mapping mapping;
	enum snap_source source;
	bool jit_fallback;  /* a memfd: its perf map if it is no ELF file */
	struct sym_object *obj;
};

struct proc_snapshot {
	unsigned refcount;
	int pid;
	struct symbolizer *s;
	struct procmaps *maps;    /* executable mappings */
	struct snap_map *entries; /* parallel to maps->entries */
	bool wants_perfmap;
	struct proc_access access; /* for the perf map */
	struct perfmap *perfmap;
	size_t perfmap_bytes;     /* counted in s->perfmap_bytes */
	bool perfmap_full;
	uint64_t perfmap_retry_at, perfmap_refresh_at;
};

void symbolizer__object_put(struct symbolizer *s, struct sym_object *o);

int proc_snapshot__new(struct symbolizer *s, struct proc_info *info,
		       struct proc_snapshot **out);
void proc_snapshot__open_perfmap(struct proc_snapshot *snap,
				 const struct proc_access *access);
int proc_snapshot__symbolize_jit(struct proc_snapshot *snap, struct snap_map *m,
				 uint64_t addr, struct sym_line *lines);

DEFINE_CLEANUP(struct proc_snapshot, proc_snapshot__put);

#endif
