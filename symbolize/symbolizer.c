#include "symbolize/symbolizer.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/macros.h"
#include "symbolize/elf_object.h"
#include "symbolize/kallsyms.h"
#include "symbolize/perfmap.h"
#include "symbolize/procmaps.h"
#include "symbolize/vdso.h"

#define DEFAULT_MAX_OBJECTS 512
/* A process whose perf map did not exist at snapshot time may create it
 * later (JITs start writing it lazily); retry opening it this often. */
#define PERFMAP_RETRY_NS 2000000000ull
/* Identities under which one object is known: the same build id seen
 * through several containers' files. */
#define FILE_KEYS 4

/* What makes "the same file" without trusting inode numbers alone,
 * which are reused after a file is deleted. */
struct file_key {
	uint64_t dev, ino, size;
	int64_t mtime_sec, mtime_nsec;
};

struct sym_object {
	struct elf_object *elf;
	struct file_key keys[FILE_KEYS];
	unsigned key_count, next_key;
	unsigned refs;       /* snapshot mappings pointing at it */
	uint64_t last_used;  /* symbolizer tick */
	bool cached;         /* in symbolizer.objects; else freed at refs 0 */
};

struct symbolizer {
	char *proc_root, *debug_root, *kallsyms_path;
	size_t max_objects;
	struct sym_object **objects; /* cached, at most max_objects */
	size_t object_count;
	uint64_t tick;

	bool kernel_tried;
	int kernel_err;
	struct kallsyms *kallsyms;

	bool vdso_tried;
	struct elf_object *vdso;

	uint64_t lookups, misses;
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
	struct sym_object *obj;
};

struct proc_snapshot {
	unsigned refcount;
	int pid;
	struct symbolizer *s;
	struct procmaps *maps;
	struct snap_map *entries; /* parallel to maps->entries */
	struct perfmap *perfmap;
	bool wants_perfmap;
	uint64_t perfmap_retry_at;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sym_object_free(struct sym_object *o)
{
	if (!o)
		return;
	elf_object__free(o->elf);
	free(o);
}

struct symbolizer *symbolizer__new(const struct symbolizer_opts *opts)
{
	struct symbolizer *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->proc_root = strdup(opts && opts->proc_root ? opts->proc_root : "/proc");
	s->debug_root = strdup(opts && opts->debug_root ? opts->debug_root
							: "/usr/lib/debug");
	s->kallsyms_path = strdup(opts && opts->kallsyms_path ? opts->kallsyms_path
							      : "/proc/kallsyms");
	s->max_objects = opts && opts->max_objects ? opts->max_objects
						    : DEFAULT_MAX_OBJECTS;
	s->objects = calloc(s->max_objects, sizeof(*s->objects));
	if (!s->proc_root || !s->debug_root || !s->kallsyms_path || !s->objects) {
		symbolizer__free(s);
		errno = ENOMEM;
		return NULL;
	}
	return s;
}

void symbolizer__free(struct symbolizer *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->object_count; i++)
		sym_object_free(s->objects[i]);
	free(s->objects);
	kallsyms__free(s->kallsyms);
	elf_object__free(s->vdso);
	free(s->proc_root);
	free(s->debug_root);
	free(s->kallsyms_path);
	free(s);
}

static bool key_equal(const struct file_key *a, const struct file_key *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime_sec == b->mtime_sec && a->mtime_nsec == b->mtime_nsec;
}

static void add_key(struct sym_object *o, const struct file_key *key)
{
	o->keys[o->next_key] = *key;
	o->next_key = (o->next_key + 1) % FILE_KEYS;
	if (o->key_count < FILE_KEYS)
		o->key_count++;
}

/* A linear scan: at most max_objects entries, and it only runs when a
 * snapshot is taken, once per executable mapping. */
static struct sym_object *find_by_key(struct symbolizer *s, const struct file_key *key)
{
	for (size_t i = 0; i < s->object_count; i++)
		for (unsigned k = 0; k < s->objects[i]->key_count; k++)
			if (key_equal(&s->objects[i]->keys[k], key))
				return s->objects[i];
	return NULL;
}

static struct sym_object *find_by_build_id(struct symbolizer *s, const char *build_id)
{
	for (size_t i = 0; i < s->object_count; i++)
		if (strcmp(elf_object__build_id(s->objects[i]->elf), build_id) == 0)
			return s->objects[i];
	return NULL;
}

/* Makes room for one more object; false when every cached object is in
 * use by some snapshot. */
static bool evict_one(struct symbolizer *s)
{
	size_t victim = SIZE_MAX;

	if (s->object_count < s->max_objects)
		return true;
	for (size_t i = 0; i < s->object_count; i++)
		if (!s->objects[i]->refs &&
		    (victim == SIZE_MAX ||
		     s->objects[i]->last_used < s->objects[victim]->last_used))
			victim = i;
	if (victim == SIZE_MAX)
		return false;
	sym_object_free(s->objects[victim]);
	s->objects[victim] = s->objects[--s->object_count];
	return true;
}

static void object_put(struct symbolizer *s, struct sym_object *o)
{
	(void)s;
	if (!o)
		return;
	if (o->refs == 0)
		return; /* unbalanced put: a bug, but not worth a crash */
	if (--o->refs == 0 && !o->cached)
		sym_object_free(o);
}

/* The object behind an executable file mapping, with a reference taken;
 * NULL if it cannot be opened or is no ELF file. */
static struct sym_object *object_get(struct symbolizer *s, int pid,
				     const struct procmaps_entry *e)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *root = NULL;
	struct elf_object_opts opts;
	struct sym_object *o;
	struct file_key key;
	struct stat st;

	fd = procmaps__open(s->proc_root, pid, e);
	if (fd < 0) {
		log_debug("failed to open mapping '%s' of pid %d: %s",
			  e->path, pid, strerror(-fd));
		return NULL;
	}
	if (fstat(fd, &st) != 0)
		return NULL;
	key = (struct file_key){
		.dev = st.st_dev, .ino = st.st_ino, .size = (uint64_t)st.st_size,
		.mtime_sec = st.st_mtim.tv_sec, .mtime_nsec = st.st_mtim.tv_nsec,
	};
	o = find_by_key(s, &key);
	if (o)
		goto found;

	if (asprintf(&root, "%s/%d/root", s->proc_root, pid) < 0) {
		root = NULL;
		return NULL;
	}
	opts = (struct elf_object_opts){
		.debug_root = s->debug_root,
		/* a deleted or memfd file has no path to find debuglinks by */
		.path = e->kind == PROCMAPS_FILE && !e->deleted ? e->path : NULL,
		.root = root,
	};
	struct elf_object *elf = elf_object__open_fd(fd, &opts);
	if (!elf) {
		log_debug("failed to load ELF '%s' of pid %d: %s", e->path, pid,
			  strerror(errno));
		return NULL;
	}
	if (elf_object__build_id(elf)[0]) {
		o = find_by_build_id(s, elf_object__build_id(elf));
		if (o) {
			elf_object__free(elf);
			add_key(o, &key);
			goto found;
		}
	}
	o = calloc(1, sizeof(*o));
	if (!o) {
		elf_object__free(elf);
		return NULL;
	}
	o->elf = elf;
	add_key(o, &key);
	if (evict_one(s)) {
		o->cached = true;
		s->objects[s->object_count++] = o;
	}
found:
	o->refs++;
	o->last_used = ++s->tick;
	return o;
}

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
			object_put(snap->s, snap->entries[i].obj);
	free(snap->entries);
	procmaps__free(snap->maps);
	perfmap__free(snap->perfmap);
	free(snap);
}

DEFINE_CLEANUP(struct proc_snapshot, proc_snapshot__put);

static void try_perfmap(struct proc_snapshot *snap)
{
	int err;

	snap->perfmap_retry_at = now_ns() + PERFMAP_RETRY_NS;
	err = perfmap__open_pid(snap->s->proc_root, snap->pid, &snap->perfmap);
	if (err) {
		snap->perfmap = NULL;
		log_debug("no perf map for pid %d: %s", snap->pid, strerror(-err));
	}
}

static const char *mapping_name(const struct procmaps_entry *e)
{
	return e->path ? e->path : "[anon]";
}

struct proc_snapshot *symbolizer__snapshot(struct symbolizer *s, int pid)
{
	_cleanup_(cleanup_proc_snapshot__put) struct proc_snapshot *snap = NULL;
	int err;

	snap = calloc(1, sizeof(*snap));
	if (!snap)
		return NULL;
	snap->refcount = 1;
	snap->pid = pid;
	snap->s = s;
	err = procmaps__read(s->proc_root, pid, &snap->maps);
	if (err) {
		errno = err == -ENOENT ? ESRCH : -err;
		return NULL;
	}
	snap->entries = calloc(snap->maps->count ? snap->maps->count : 1,
			       sizeof(*snap->entries));
	if (!snap->entries)
		return NULL;
	for (size_t i = 0; i < snap->maps->count; i++) {
		const struct procmaps_entry *e = &snap->maps->entries[i];
		struct snap_map *m = &snap->entries[i];
		const struct elf_object *elf = NULL;

		m->mapping = (struct sym_mapping){
			.start = e->start,
			.limit = e->end,
			.file_offset = e->offset,
			.filename = mapping_name(e),
			.build_id = "",
		};
		if (!(e->perms & PROCMAPS_PERM_EXEC))
			continue;
		if (e->kind == PROCMAPS_FILE || e->kind == PROCMAPS_MEMFD) {
			m->obj = object_get(s, pid, e);
			if (m->obj) {
				m->source = SOURCE_OBJECT;
				elf = m->obj->elf;
			}
		} else if (e->kind == PROCMAPS_VDSO) {
			if (!s->vdso_tried) {
				s->vdso_tried = true;
				s->vdso = vdso__open();
			}
			if (s->vdso) {
				m->source = SOURCE_VDSO;
				elf = s->vdso;
			}
		}
		if (elf) {
			m->mapping.build_id = elf_object__build_id(elf);
			m->mapping.has_symbols = elf_object__has_symbols(elf);
			m->mapping.has_lines = elf_object__has_lines(elf);
			m->mapping.has_inlines = elf_object__has_inlines(elf);
		} else if (e->kind == PROCMAPS_ANON || e->kind == PROCMAPS_ANON_NAMED ||
			   e->kind == PROCMAPS_MEMFD || e->kind == PROCMAPS_HEAP) {
			/* JIT code: anonymous, or a memfd that is no ELF file */
			m->source = SOURCE_JIT;
			snap->wants_perfmap = true;
		}
	}
	if (snap->wants_perfmap) {
		try_perfmap(snap);
		for (size_t i = 0; i < snap->maps->count; i++)
			if (snap->entries[i].source == SOURCE_JIT)
				snap->entries[i].mapping.has_symbols = snap->perfmap != NULL;
	}
	return TAKE_PTR(snap);
}

int proc_snapshot__pid(const struct proc_snapshot *snap)
{
	return snap->pid;
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

static int symbolize_jit(struct proc_snapshot *snap, struct snap_map *m,
			 uint64_t addr, struct sym_line *lines)
{
	struct perfmap_entry pe;

	if (!snap->perfmap && now_ns() >= snap->perfmap_retry_at) {
		try_perfmap(snap);
		if (snap->perfmap)
			m->mapping.has_symbols = true;
	}
	if (perfmap__lookup(snap->perfmap, addr, &pe) != 0)
		return 0;
	lines[0] = (struct sym_line){
		.function = pe.name,
		.sym_offset = addr - pe.start,
	};
	return 1;
}

int symbolizer__user(struct symbolizer *s, const struct sym_ref *ref,
		     struct sym_line *lines, int max)
{
	struct proc_snapshot *snap;
	struct snap_map *m;
	struct elf_object *elf = NULL;
	uint64_t vaddr;
	int count = 0;

	s->lookups++;
	if (!ref || !ref->snap || max <= 0 || ref->map_index >= ref->snap->maps->count)
		goto out;
	/* lookups fill the snapshot's lazily-read state (perf map) */
	snap = (struct proc_snapshot *)ref->snap;
	m = &snap->entries[ref->map_index];
	if (ref->addr < m->mapping.start || ref->addr >= m->mapping.limit)
		goto out;
	switch (m->source) {
	case SOURCE_OBJECT:
		m->obj->last_used = ++s->tick;
		elf = m->obj->elf;
		break;
	case SOURCE_VDSO:
		elf = s->vdso;
		break;
	case SOURCE_JIT:
		count = symbolize_jit(snap, m, ref->addr, lines);
		goto out;
	case SOURCE_NONE:
		goto out;
	}
	if (elf_object__vaddr(elf, m->mapping.start, m->mapping.file_offset,
			      ref->addr, &vaddr) == 0)
		count = elf_object__symbolize(elf, vaddr, lines, max);
out:
	if (count == 0)
		s->misses++;
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

	s->lookups++;
	if (max <= 0 || symbolizer__load_kernel(s) != 0 ||
	    kallsyms__lookup(s->kallsyms, addr, &ksym) != 0) {
		s->misses++;
		return 0;
	}
	lines[0] = (struct sym_line){
		.function = ksym.name,
		.sym_offset = addr - ksym.addr,
	};
	return 1;
}

void symbolizer__stats(const struct symbolizer *s, struct symbolizer_stats *st)
{
	*st = (struct symbolizer_stats){
		.objects = s->object_count,
		.max_objects = s->max_objects,
		.kernel_symbols = kallsyms__count(s->kallsyms),
		.lookups = s->lookups,
		.misses = s->misses,
	};
}
