#include "symbolize/proc_snapshot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/macros.h"
#include "symbolize/perfmap.h"
#include "symbolize/procfile.h"
#include "symbolize/procmaps.h"
#include "symbolize/symbolizer_internal.h"

/* A process whose perf map did not exist at snapshot time may create it
 * later (JITs start writing it lazily); retry opening it this often. */
#define PERFMAP_RETRY_NS 2000000000ull
/* A lookup that misses reads what the JIT appended since, at most this
 * often per map. */
#define PERFMAP_REFRESH_NS 250000000ull

struct proc_snapshot *proc_snapshot__get(struct proc_snapshot *snap)
{
	if (snap)
		snap->refcount++;
	return snap;
}

void proc_snapshot__put(struct proc_snapshot *snap)
{
	if (!snap || --snap->refcount > 0)
		return;
	if (snap->entries)
		for (size_t i = 0; i < snap->maps->count; i++)
			symbolizer__object_put(snap->s, snap->entries[i].obj);
	free(snap->entries);
	procmaps__free(snap->maps);
	snap->s->perfmap_bytes -= snap->perfmap_bytes;
	perfmap__free(snap->perfmap);
	proc_access__release(&snap->access);
	free(snap);
}

static const char *mapping_name(const struct procmaps_entry *e)
{
	return e->path ? e->path : "[anon]";
}

int proc_snapshot__new(struct symbolizer *s, struct proc_info *info,
		       struct proc_snapshot **out)
{
	_cleanup_(cleanup_proc_snapshot__put) struct proc_snapshot *snap = calloc(1, sizeof(*snap));

	if (!snap)
		return -ENOMEM;
	snap->refcount = 1;
	snap->pid = info->pid;
	snap->s = s;
	snap->access.root_fd = -1;
	snap->maps = TAKE_PTR(info->maps);
	snap->entries = calloc(snap->maps->count ? snap->maps->count : 1, sizeof(*snap->entries));
	if (!snap->entries)
		return -ENOMEM;
	for (size_t i = 0; i < snap->maps->count; i++) {
		const struct procmaps_entry *e = &snap->maps->entries[i];

		snap->entries[i].mapping = (struct sym_mapping){
			.start = e->start,
			.limit = e->end,
			.file_offset = e->offset,
			.filename = mapping_name(e),
			.build_id = "",
		};
	}
	*out = TAKE_PTR(snap);
	return 0;
}

int proc_snapshot__pid(const struct proc_snapshot *snap)
{
	return snap->pid;
}

size_t proc_snapshot__bytes(const struct proc_snapshot *snap)
{
	size_t n;

	if (!snap)
		return 0;
	n = sizeof(*snap) + snap->maps->count * (sizeof(struct procmaps_entry) +
						 sizeof(struct snap_map));
	for (size_t i = 0; i < snap->maps->count; i++)
		n += snap->maps->entries[i].path ? strlen(snap->maps->entries[i].path) + 1 : 0;
	return n;
}

int proc_snapshot__resolve(const struct proc_snapshot *snap, uint64_t addr,
			   struct sym_ref *ref)
{
	const struct procmaps_entry *e;
	size_t index;

	if (!snap)
		return -ENOENT;
	e = procmaps__find(snap->maps, addr);
	if (!e)
		return -ENOENT;
	index = (size_t)(e - snap->maps->entries);
	*ref = (struct sym_ref){
		.snap = snap,
		.map_index = (uint32_t)index,
		.addr = addr,
		.mapping = &snap->entries[index].mapping,
	};
	return 0;
}

/* ---- the perf map ----------------------------------------------------- */

/* The perf map's share of the bound: a quarter, so one process cannot
 * take every other JIT's room. */
static size_t perfmap_room(const struct proc_snapshot *snap)
{
	const struct symbolizer *s = snap->s;
	size_t others = s->perfmap_bytes - snap->perfmap_bytes;
	size_t left = s->opts.max_perfmap_bytes > others ? s->opts.max_perfmap_bytes - others : 0;

	return MIN(left, s->opts.max_perfmap_bytes / 4);
}

static void perfmap_refresh(struct proc_snapshot *snap)
{
	struct symbolizer *s = snap->s;
	int err;

	snap->perfmap_refresh_at = clock__mono_ns() + PERFMAP_REFRESH_NS;
	err = perfmap__refresh(snap->perfmap, perfmap_room(snap));
	s->perfmap_bytes += perfmap__bytes(snap->perfmap) - snap->perfmap_bytes;
	snap->perfmap_bytes = perfmap__bytes(snap->perfmap);
	if (err == -ENOSPC) {
		snap->perfmap_full = true;
		s->st.perfmap_full++;
		log_debug("perf map of pid %d reached its memory bound (%zu bytes), reading no more",
			  snap->pid, snap->perfmap_bytes);
	}
}

static void try_perfmap(struct proc_snapshot *snap)
{
	struct procfile_opts fo = { .owner_check = true };
	char path[64];
	int fd;

	snap->perfmap_retry_at = clock__mono_ns() + PERFMAP_RETRY_NS;
	/* /tmp in its own mount namespace, named by its own pid */
	snprintf(path, sizeof(path), "/tmp/perf-%d.map", snap->access.status.nspid);
	fd = procfile__open(&snap->access, path, &fo);
	if (fd < 0) {
		log_debug("no perf map for pid %d: %s", snap->pid, strerror(-fd));
		return;
	}
	if (perfmap__from_fd(fd, &snap->perfmap) == 0)
		perfmap_refresh(snap);
}

void proc_snapshot__open_perfmap(struct proc_snapshot *snap, const struct proc_access *access)
{
	if (snap->wants_perfmap && proc_access__dup(&snap->access, access) == 0)
		try_perfmap(snap);
	for (size_t i = 0; i < snap->maps->count; i++)
		if (snap->entries[i].source == SOURCE_JIT)
			snap->entries[i].mapping.has_symbols = snap->perfmap != NULL;
}

int proc_snapshot__symbolize_jit(struct proc_snapshot *snap, struct snap_map *m,
				 uint64_t addr, struct sym_line *lines)
{
	struct perfmap_entry pe;
	uint64_t now = clock__mono_ns();

	if (!snap->perfmap && snap->access.root_fd >= 0 && now >= snap->perfmap_retry_at) {
		try_perfmap(snap);
		if (snap->perfmap)
			m->mapping.has_symbols = true;
	}
	if (perfmap__lookup(snap->perfmap, addr, &pe) != 0 && snap->perfmap &&
	    !snap->perfmap_full && now >= snap->perfmap_refresh_at && perfmap__grew(snap->perfmap)) {
		/* new code since the last read: read what was appended */
		perfmap_refresh(snap);
	}
	if (perfmap__lookup(snap->perfmap, addr, &pe) != 0)
		return 0;
	lines[0] = (struct sym_line){
		.function = pe.name,
		.sym_offset = addr - pe.start,
	};
	return 1;
}
