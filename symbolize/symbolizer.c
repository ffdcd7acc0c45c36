#include "symbolize/symbolizer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/macros.h"
#include "common/u64map.h"
#include "common/workq.h"
#include "symbolize/debug_file.h"
#include "symbolize/debuginfod.h"
#include "symbolize/elf_object.h"
#include "symbolize/kallsyms.h"
#include "symbolize/procinfo.h"
#include "symbolize/procmaps.h"
#include "symbolize/symbolizer_internal.h"
#include "symbolize/vdso.h"

#define DEFAULT_MAX_BYTES ((size_t)32 << 20)
#define DEFAULT_MAX_PERFMAP_BYTES ((size_t)16 << 20)
#define DEFAULT_MAX_OBJECTS 4096
#define DEFAULT_LOAD_TIMEOUT_MS 5000
#define DEFAULT_DWARF_BUDGET_MS 200
/* One DWARF lookup taking longer than this disables the object's DWARF:
 * a lookup decodes at most one unit's lines and scopes, so only a
 * pathological unit gets there (the address ranges are read at load). */
#define DWARF_SLOW_NS 1000000000ull

const char *const sym_load_failure_names[SYM_LOAD_FAILURES] = {
	[SYM_LOAD_TIMEOUT] = "timeout",
	[SYM_LOAD_TOO_LARGE] = "too_large",
	[SYM_LOAD_INVALID] = "invalid",
	[SYM_LOAD_OTHER] = "other",
};

struct load_job {
	struct workq_job base;
	struct symbolizer *s;
	struct sym_object *o;       /* NULL once the object is gone */
	int fd;
	struct proc_access access;
	char *path;
	uint64_t timeout_ns;
	struct elf_object *elf;
	int err;
	uint64_t ns;
	uint64_t debuginfod_gen; /* before the load asked for a debug file */
};

int symbolizer__new(const struct symbolizer_opts *opts, struct symbolizer **out)
{
	struct symbolizer *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	if (opts)
		s->opts = *opts;
	s->proc_root = strdup(s->opts.proc_root ? s->opts.proc_root : "/proc");
	s->debug_root = strdup(s->opts.debug_root ? s->opts.debug_root : "/usr/lib/debug");
	s->kallsyms_path = strdup(s->opts.kallsyms_path ? s->opts.kallsyms_path : "/proc/kallsyms");
	if (!s->opts.max_bytes)
		s->opts.max_bytes = DEFAULT_MAX_BYTES;
	if (!s->opts.max_object_bytes)
		s->opts.max_object_bytes = s->opts.max_bytes;
	if (!s->opts.max_perfmap_bytes)
		s->opts.max_perfmap_bytes = DEFAULT_MAX_PERFMAP_BYTES;
	if (!s->opts.max_objects)
		s->opts.max_objects = DEFAULT_MAX_OBJECTS;
	if (!s->opts.load_timeout_ms)
		s->opts.load_timeout_ms = DEFAULT_LOAD_TIMEOUT_MS;
	if (!s->opts.dwarf_budget_ms)
		s->opts.dwarf_budget_ms = DEFAULT_DWARF_BUDGET_MS;
	s->objects = calloc(s->opts.max_objects, sizeof(*s->objects));
	if (!s->proc_root || !s->debug_root || !s->kallsyms_path || !s->objects) {
		symbolizer__free(s);
		return -ENOMEM;
	}
	*out = s;
	return 0;
}

/* Gives back an object's loaded contents. */
static void unload(struct symbolizer *s, struct sym_object *o)
{
	if (!o->elf)
		return;
	s->bytes -= o->bytes;
	o->bytes = 0;
	elf_object__free(o->elf);
	o->elf = NULL;
}

static void object_free(struct symbolizer *s, struct sym_object *o)
{
	if (!o)
		return;
	unload(s, o);
	if (o->job)
		o->job->o = NULL; /* the job finds it gone when it completes */
	if (o->fd >= 0)
		close(o->fd);
	proc_access__release(&o->access);
	free(o->path);
	free(o);
}

void symbolizer__free(struct symbolizer *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->object_count; i++)
		object_free(s, s->objects[i]);
	free(s->objects);
	u64map_release(&s->by_id);
	kallsyms__free(s->kallsyms);
	elf_object__free(s->vdso);
	free(s->proc_root);
	free(s->debug_root);
	free(s->kallsyms_path);
	free(s);
}

/* ---- loading ---------------------------------------------------------- */

static enum sym_load_failure failure_of(int err)
{
	switch (err) {
	case -ETIMEDOUT:
		return SYM_LOAD_TIMEOUT;
	case -E2BIG:
		return SYM_LOAD_TOO_LARGE;
	case -ENOEXEC:
		return SYM_LOAD_INVALID;
	default:
		return SYM_LOAD_OTHER;
	}
}

static void load_run(struct workq_job *base)
{
	struct load_job *j = (struct load_job *)base;
	uint64_t t0 = clock__mono_ns();
	struct elf_object_opts eo = {
		.debug_root = j->s->debug_root,
		.path = j->path,
		.access = j->access.root_fd >= 0 ? &j->access : NULL,
		.deadline_ns = t0 + j->timeout_ns,
		/* one object may take the whole bound, never more; its DWARF
		 * a quarter of it, so a few objects' lines fit together */
		.max_symbol_bytes = j->s->opts.max_object_bytes,
		.max_debug_bytes = j->s->opts.max_bytes / 4,
		.demangle = j->s->opts.demangle,
		.debuginfod = j->s->opts.debuginfod,
	};

	if (eo.debuginfod)
		j->debuginfod_gen = debuginfod__generation(eo.debuginfod);

	j->err = elf_object__open_fd(j->fd, &eo, &j->elf);
	j->ns = clock__mono_ns() - t0;
}

static void load_done(struct workq_job *base)
{
	struct load_job *j = (struct load_job *)base;
	struct symbolizer *s = j->s;
	struct sym_object *o = j->o;

	if (o) {
		o->job = NULL;
		if (j->base.cancelled) {
			o->state = OBJ_UNLOADED;
		} else if (j->elf) {
			o->elf = TAKE_PTR(j->elf);
			o->state = OBJ_READY;
			o->bytes = elf_object__bytes(o->elf);
			s->bytes += o->bytes;
			snprintf(o->build_id, sizeof(o->build_id), "%s", elf_object__build_id(o->elf));
			o->has_symbols = elf_object__has_symbols(o->elf);
			o->has_lines = elf_object__has_lines(o->elf);
			o->has_inlines = elf_object__has_inlines(o->elf);
			o->debug_pending = elf_object__debug_file(o->elf)->pending;
			o->debuginfod_gen = j->debuginfod_gen;
			s->st.loads++;
			s->st.load_ns += j->ns;
			log_debug("loaded the symbols of '%s' in %.0f ms (%zu bytes)",
				  o->path ? o->path : "(no path)", (double)j->ns / 1e6, o->bytes);
		} else {
			o->state = OBJ_FAILED;
			s->st.load_failures[failure_of(j->err)]++;
			/* once per object: it is never retried */
			if (j->err == -ETIMEDOUT || j->err == -E2BIG)
				log_warn("gave up loading symbols of '%s' after %.1f s: %s",
					 o->path ? o->path : "(no path)", (double)j->ns / 1e9,
					 j->err == -ETIMEDOUT ? "took too long" : "too large");
			else
				log_debug("failed to load symbols of '%s': %s",
					  o->path ? o->path : "(no path)", strerror(-j->err));
		}
	}
	elf_object__free(j->elf);
	if (j->fd >= 0)
		close(j->fd);
	proc_access__release(&j->access);
	free(j->path);
	free(j);
}

/* Starts loading o's contents (on a worker, or here without one). */
static void start_load(struct symbolizer *s, struct sym_object *o)
{
	struct load_job *j;

	if (o->job || o->fd < 0)
		return;
	j = calloc(1, sizeof(*j));
	if (!j)
		return;
	j->base.run = load_run;
	j->base.done = load_done;
	j->base.what = "loading symbols";
	/* it stops at its own cap: a spare (and a second load in memory)
	 * only for one blocked past it */
	j->base.stuck_ms = s->opts.load_timeout_ms + WORKQ_STUCK_GRACE_MS;
	j->s = s;
	j->o = o;
	j->timeout_ns = (uint64_t)s->opts.load_timeout_ms * 1000000ull;
	j->fd = fcntl(o->fd, F_DUPFD_CLOEXEC, 3);
	j->access.root_fd = -1;
	if (j->fd < 0 || (o->access.root_fd >= 0 && proc_access__dup(&j->access, &o->access)) ||
	    (o->path && !(j->path = strdup(o->path)))) {
		load_done(&j->base);
		return;
	}
	o->state = OBJ_LOADING;
	o->job = j;
	o->promoted = false;
	if (!s->opts.wq) {
		load_run(&j->base);
		load_done(&j->base);
		return;
	}
	if (workq__submit(s->opts.wq, WORKQ_LOAD, &j->base) != 0) {
		/* queue full: try again when an address asks for it */
		o->job = NULL;
		o->state = OBJ_UNLOADED;
		j->o = NULL;
		load_done(&j->base);
	}
}

/* ---- the object cache ------------------------------------------------- */

static bool evict_one(struct symbolizer *s)
{
	size_t victim = SIZE_MAX;

	for (size_t i = 0; i < s->object_count; i++) {
		struct sym_object *o = s->objects[i];

		if (!o->refs && (victim == SIZE_MAX || o->last_used < s->objects[victim]->last_used))
			victim = i;
	}
	if (victim == SIZE_MAX)
		return false;
	u64map_del(&s->by_id, s->objects[victim]->hash);
	object_free(s, s->objects[victim]);
	s->objects[victim] = s->objects[--s->object_count];
	s->st.evictions++;
	return true;
}

/* The object of an inspected mapping, with a reference taken; it takes
 * the mapping's fd when it is new. NULL when out of memory. */
static struct sym_object *object_get(struct symbolizer *s, struct proc_info *info, size_t i)
{
	const struct proc_info_map *m = &info->exec[i];
	uint64_t hash = file_id__hash(&m->id), v;
	struct sym_object *o = NULL;

	if (u64map_get(&s->by_id, hash, &v) &&
	    file_id__equal(&((struct sym_object *)(uintptr_t)v)->id, &m->id))
		o = (struct sym_object *)(uintptr_t)v;
	if (o)
		goto found;
	o = calloc(1, sizeof(*o));
	if (!o)
		return NULL;
	o->id = m->id;
	o->hash = hash;
	o->fd = proc_info__take_fd(info, i);
	o->access.root_fd = -1;
	o->state = OBJ_UNLOADED;
	if ((m->entry->path && m->entry->kind == PROCMAPS_FILE && !m->entry->deleted &&
	     !(o->path = strdup(m->entry->path))) ||
	    proc_access__dup(&o->access, &info->access)) {
		object_free(s, o);
		return NULL;
	}
	/* a hash shared by two files (2^-64) leaves the second uncached */
	if (!u64map_get(&s->by_id, hash, NULL) &&
	    (s->object_count < s->opts.max_objects || evict_one(s)) &&
	    u64map_set(&s->by_id, hash, (uintptr_t)o) == 0) {
		o->cached = true;
		s->objects[s->object_count++] = o;
	}
	/* loaded when an address first needs it: most mapped objects of
	 * most processes are never in a profile */
found:
	o->refs++;
	o->last_used = s->tick;
	return o;
}

void symbolizer__object_put(struct symbolizer *s, struct sym_object *o)
{
	if (!o || !o->refs)
		return;
	if (--o->refs == 0 && !o->cached)
		object_free(s, o);
}

/* ---- snapshots (proc_snapshot.c) -------------------------------------- */

struct proc_snapshot *symbolizer__snapshot_from(struct symbolizer *s, struct proc_info *info)
{
	_cleanup_(cleanup_proc_snapshot__put) struct proc_snapshot *snap = NULL;
	int err;

	if (!info || !info->maps || !info->exec) {
		errno = EINVAL;
		return NULL;
	}
	err = proc_snapshot__new(s, info, &snap);
	if (err) {
		errno = -err;
		return NULL;
	}
	for (size_t i = 0; i < snap->maps->count; i++) {
		const struct procmaps_entry *e = &snap->maps->entries[i];
		struct snap_map *m = &snap->entries[i];

		if ((e->kind == PROCMAPS_FILE || e->kind == PROCMAPS_MEMFD) && info->exec[i].fd >= 0) {
			m->obj = object_get(s, info, i);
			if (m->obj)
				m->source = SOURCE_OBJECT;
			/* JIT code in a memfd that is no ELF file */
			m->jit_fallback = e->kind == PROCMAPS_MEMFD;
			snap->wants_perfmap |= m->jit_fallback;
		} else if (e->kind == PROCMAPS_VDSO) {
			if (!s->vdso_tried) {
				s->vdso_tried = true;
				vdso__open(&s->vdso); /* none: [vdso] unnamed */
			}
			if (s->vdso) {
				m->source = SOURCE_VDSO;
				m->mapping.build_id = elf_object__build_id(s->vdso);
				m->mapping.has_symbols = elf_object__has_symbols(s->vdso);
			}
		} else if (e->kind == PROCMAPS_ANON || e->kind == PROCMAPS_ANON_NAMED ||
			   e->kind == PROCMAPS_MEMFD || e->kind == PROCMAPS_HEAP) {
			m->source = SOURCE_JIT;
			m->mapping.is_jit = true;
			snap->wants_perfmap = true;
		}
	}
	proc_snapshot__open_perfmap(snap, &info->access);
	return TAKE_PTR(snap);
}

/* The known object of a file by device and inode, the newest if several
 * (a file replaced in place): linear, but only for processes whose read
 * failed, and the objects are bounded. */
static struct sym_object *object_by_inode(struct symbolizer *s, uint64_t dev, uint64_t ino)
{
	struct sym_object *best = NULL;

	for (size_t i = 0; i < s->object_count; i++) {
		struct sym_object *o = s->objects[i];

		if (o->id.dev == dev && o->id.ino == ino && o->state != OBJ_FAILED &&
		    (!best || o->id.ctime_sec > best->id.ctime_sec ||
		     (o->id.ctime_sec == best->id.ctime_sec && o->id.ctime_nsec > best->id.ctime_nsec)))
			best = o;
	}
	return best;
}

/* Copies old's mappings (NULL: none) into maps, with room for one more
 * at index at. */
static int copy_maps(const struct proc_snapshot *old, size_t at, struct procmaps **out)
{
	size_t n = old ? old->maps->count : 0;
	struct procmaps *maps = calloc(1, sizeof(*maps));

	if (!maps || !(maps->entries = calloc(n + 1, sizeof(*maps->entries))))
		goto fail;
	maps->count = n + 1; /* the new one's slot stays zero */
	for (size_t i = 0; i < n; i++) {
		struct procmaps_entry *e = &maps->entries[i < at ? i : i + 1];

		*e = old->maps->entries[i];
		if (e->path && !(e->path = strdup(e->path)))
			goto fail;
	}
	*out = maps;
	return 0;
fail:
	procmaps__free(maps);
	return -ENOMEM;
}

struct proc_snapshot *symbolizer__snapshot_add(struct symbolizer *s, const struct proc_snapshot *old,
					       int pid, const struct sym_map_record *r)
{
	_cleanup_(cleanup_proc_snapshot__put) struct proc_snapshot *snap = NULL;
	struct proc_info info = { .pid = pid };
	struct sym_object *o = object_by_inode(s, r->dev, r->ino);
	size_t at = 0, n = old ? old->maps->count : 0;
	struct procmaps_entry *e;
	int err;

	if (!o || r->start >= r->end) {
		errno = o ? EINVAL : ENOENT;
		return NULL;
	}
	while (at < n && old->maps->entries[at].end <= r->start)
		at++;
	if (at < n && old->maps->entries[at].start < r->end) {
		errno = EEXIST;
		return NULL;
	}
	err = copy_maps(old, at, &info.maps);
	if (!err)
		err = proc_snapshot__new(s, &info, &snap);
	procmaps__free(info.maps); /* NULL unless proc_snapshot__new failed */
	if (err) {
		errno = -err;
		return NULL;
	}
	e = &snap->maps->entries[at];
	*e = (struct procmaps_entry){
		.start = r->start, .end = r->end, .offset = r->pgoff,
		.dev_major = major(r->dev), .dev_minor = minor(r->dev), .inode = r->ino,
		.perms = PROCMAPS_PERM_READ | PROCMAPS_PERM_EXEC, .kind = PROCMAPS_FILE,
		.path = o->path ? strdup(o->path) : NULL,
	};
	for (size_t i = 0; i <= n; i++) {
		struct snap_map *m = &snap->entries[i];
		const char *name = snap->maps->entries[i].path;

		if (i == at) {
			o->refs++;
			o->last_used = s->tick;
			m->obj = o;
			m->source = SOURCE_OBJECT;
		} else {
			*m = old->entries[i < at ? i : i - 1];
			if (m->obj)
				m->obj->refs++;
		}
		m->mapping.start = snap->maps->entries[i].start;
		m->mapping.limit = snap->maps->entries[i].end;
		m->mapping.file_offset = snap->maps->entries[i].offset;
		m->mapping.filename = name ? name : "[anon]";
		if (i == at)
			m->mapping.build_id = "";
	}
	if (old && old->wants_perfmap) {
		snap->wants_perfmap = true;
		proc_snapshot__open_perfmap(snap, &old->access);
	}
	return TAKE_PTR(snap);
}

struct proc_snapshot *symbolizer__snapshot(struct symbolizer *s, int pid)
{
	struct proc_info *info = NULL;
	struct proc_snapshot *snap;
	int err;

	err = proc_info__identify(s->proc_root, pid, &info);
	if (!err)
		err = proc_info__inspect(info, NULL);
	if (err) {
		proc_info__free(info);
		errno = err == -ENOENT ? ESRCH : -err;
		return NULL;
	}
	snap = symbolizer__snapshot_from(s, info);
	proc_info__free(info);
	return snap;
}

void symbolizer__preload(struct symbolizer *s, struct proc_snapshot *snap)
{
	for (size_t i = 0; snap && i < snap->maps->count; i++) {
		struct sym_object *o = snap->entries[i].obj;

		if (o && o->state == OBJ_UNLOADED)
			start_load(s, o);
	}
}

/* ---- lookups ---------------------------------------------------------- */

/* ELF symbols and, within this tick's time budget, DWARF. */
static int symbolize_object(struct symbolizer *s, struct sym_object *o, uint64_t vaddr,
			    struct sym_line *lines, int max)
{
	uint64_t budget = (uint64_t)s->opts.dwarf_budget_ms * 1000000ull, t0, took;
	bool dwarf = o->has_inlines && !o->dwarf_disabled;
	int n;

	if (dwarf && s->dwarf_ns >= budget) {
		if (s->dwarf_ns != UINT64_MAX) {
			s->st.dwarf_budget_exceeded++;
			s->dwarf_ns = UINT64_MAX; /* counted once a tick */
		}
		dwarf = false;
	}
	if (!dwarf)
		return elf_object__symbolize(o->elf, vaddr, false, lines, max);
	t0 = clock__mono_ns();
	n = elf_object__symbolize(o->elf, vaddr, true, lines, max);
	took = clock__mono_ns() - t0;
	s->dwarf_ns += took;
	if (took > DWARF_SLOW_NS) {
		o->dwarf_disabled = true;
		s->st.dwarf_disabled++;
		log_warn("a DWARF lookup in '%s' took %.0f ms: using its ELF symbols only from now on",
			 o->path ? o->path : "(no path)", (double)took / 1e6);
	}
	return n;
}

int symbolizer__user(struct symbolizer *s, const struct sym_ref *ref,
		     struct sym_line *lines, int max)
{
	struct proc_snapshot *snap;
	struct snap_map *m;
	struct sym_object *o;
	uint64_t vaddr;
	int count = 0;

	s->st.lookups++;
	if (!ref || !ref->snap || max <= 0 || ref->map_index >= ref->snap->maps->count)
		goto out;
	/* lookups fill the snapshot's lazily-read state (perf map) */
	snap = (struct proc_snapshot *)ref->snap;
	m = &snap->entries[ref->map_index];
	if (ref->addr < m->mapping.start || ref->addr >= m->mapping.limit)
		goto out;
	switch (m->source) {
	case SOURCE_OBJECT:
		o = m->obj;
		o->last_used = s->tick;
		if (o->state == OBJ_UNLOADED)
			start_load(s, o);
		if (o->state == OBJ_LOADING) {
			/* a sample waits for it: ahead of loads nothing waits for */
			if (o->job && s->opts.wq && !o->promoted) {
				workq__promote(s->opts.wq, &o->job->base);
				o->promoted = true;
			}
			s->st.pending++;
			return -EAGAIN;
		}
		if (o->state == OBJ_FAILED) {
			if (m->jit_fallback) {
				count = proc_snapshot__symbolize_jit(snap, m, ref->addr, lines);
				m->mapping.is_jit = true;
			}
			goto out;
		}
		if (o->state != OBJ_READY)
			goto out;
		m->mapping.build_id = o->build_id;
		m->mapping.has_symbols = o->has_symbols;
		m->mapping.has_lines = o->has_lines && !o->dwarf_disabled;
		m->mapping.has_inlines = o->has_inlines && !o->dwarf_disabled;
		if (elf_object__vaddr(o->elf, m->mapping.start, m->mapping.file_offset,
				      ref->addr, &vaddr) == 0)
			count = symbolize_object(s, o, vaddr, lines, max);
		break;
	case SOURCE_VDSO:
		if (elf_object__vaddr(s->vdso, m->mapping.start, m->mapping.file_offset,
				      ref->addr, &vaddr) == 0)
			count = elf_object__symbolize(s->vdso, vaddr, true, lines, max);
		break;
	case SOURCE_JIT:
		count = proc_snapshot__symbolize_jit(snap, m, ref->addr, lines);
		break;
	case SOURCE_NONE:
		break;
	}
out:
	if (count == 0)
		s->st.misses++;
	return count;
}

int symbolizer__load_kernel(struct symbolizer *s)
{
	if (!s->kernel_tried) {
		s->kernel_tried = true;
		s->kernel_err = kallsyms__load(s->kallsyms_path, &s->kallsyms);
		if (s->kernel_err)
			log_debug("failed to load kernel symbols '%s': %s",
				  s->kallsyms_path, strerror(-s->kernel_err));
	}
	return s->kernel_err;
}

int symbolizer__kernel(struct symbolizer *s, uint64_t addr,
		       struct sym_line *lines, int max)
{
	struct kallsyms_sym ksym;

	s->st.lookups++;
	if (max <= 0 || symbolizer__load_kernel(s) != 0 ||
	    kallsyms__lookup(s->kallsyms, addr, &ksym) != 0) {
		s->st.misses++;
		return 0;
	}
	lines[0] = (struct sym_line){
		.function = ksym.name,
		.sym_offset = addr - ksym.addr,
	};
	return 1;
}

/* ---- the bound -------------------------------------------------------- */

/* The least recently used object that pred accepts, NULL if none. */
static struct sym_object *lru(struct symbolizer *s, bool (*pred)(const struct sym_object *),
			      uint64_t before)
{
	struct sym_object *best = NULL;

	for (size_t i = 0; i < s->object_count; i++) {
		struct sym_object *o = s->objects[i];

		if (o->last_used < before && pred(o) && (!best || o->last_used < best->last_used))
			best = o;
	}
	return best;
}

static bool unused_loaded(const struct sym_object *o)
{
	return !o->refs && o->state == OBJ_READY;
}

static bool loaded(const struct sym_object *o)
{
	return o->state == OBJ_READY;
}

/* Re-counts what each loaded object holds (DWARF grows with lookups). */
static void recount(struct symbolizer *s)
{
	s->bytes = 0;
	for (size_t i = 0; i < s->object_count; i++) {
		struct sym_object *o = s->objects[i];

		o->bytes = o->elf ? elf_object__bytes(o->elf) : 0;
		s->bytes += o->bytes;
		/* pages libdw touched in the file mappings come back from the
		 * page cache on the next lookup */
		if (o->elf && o->has_inlines)
			elf_object__release_pages(o->elf);
	}
}

/* The loaded object holding the most, NULL if none. */
static struct sym_object *largest(struct symbolizer *s)
{
	struct sym_object *best = NULL;

	for (size_t i = 0; i < s->object_count; i++) {
		struct sym_object *o = s->objects[i];

		if (o->state == OBJ_READY && (!best || o->bytes > best->bytes))
			best = o;
	}
	return best;
}

/* Objects loaded while debuginfod was fetching their debug file are
 * loaded again (when an address needs them) once a fetch brought a file:
 * maybe theirs. */
static void reload_fetched(struct symbolizer *s)
{
	uint64_t gen = debuginfod__generation(s->opts.debuginfod);

	for (size_t i = 0; i < s->object_count; i++) {
		struct sym_object *o = s->objects[i];

		if (o->state == OBJ_READY && o->debug_pending && o->debuginfod_gen != gen) {
			unload(s, o);
			o->state = OBJ_UNLOADED;
			o->debug_pending = false;
			s->st.debuginfod_reloads++;
		}
	}
}

void symbolizer__tick(struct symbolizer *s)
{
	struct sym_object *o;

	if (s->opts.debuginfod)
		reload_fetched(s);
	recount(s);
	while (s->bytes > s->opts.max_bytes) {
		/* objects no process uses go first, least recently used first */
		if ((o = lru(s, unused_loaded, s->tick + 1))) {
			for (size_t i = 0; i < s->object_count; i++) {
				if (s->objects[i] == o) {
					u64map_del(&s->by_id, o->hash);
					s->objects[i] = s->objects[--s->object_count];
					break;
				}
			}
			object_free(s, o);
			s->st.evictions++;
			continue;
		}
		/* then the contents of used ones, loaded again (on a worker, with
		 * no decoded DWARF) when an address needs them: first those this
		 * drain did not use, then the largest */
		o = lru(s, loaded, s->tick);
		if (!o)
			o = largest(s);
		if (!o)
			break;
		unload(s, o);
		o->state = OBJ_UNLOADED;
		s->st.unloads++;
	}
	s->dwarf_ns = 0;
	s->tick++;
}

void symbolizer__stats(const struct symbolizer *s, struct symbolizer_stats *st)
{
	*st = s->st;
	st->objects = s->object_count;
	st->max_objects = s->opts.max_objects;
	st->objects_loaded = 0;
	for (size_t i = 0; i < s->object_count; i++)
		st->objects_loaded += s->objects[i]->state == OBJ_READY;
	st->bytes = s->bytes;
	st->max_bytes = s->opts.max_bytes;
	st->perfmap_bytes = s->perfmap_bytes;
	st->max_perfmap_bytes = s->opts.max_perfmap_bytes;
	st->kernel_symbols = kallsyms__count(s->kallsyms);
}
