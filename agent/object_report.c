#include "agent/object_report.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/macros.h"
#include "symbolize/debug_file.h"
#include "symbolize/debuginfod.h"
#include "symbolize/elf_object.h"
#include "symbolize/perfmap.h"
#include "symbolize/procfile.h"
#include "symbolize/procinfo.h"
#include "symbolize/vdso.h"
#include "unwind/cfi_rows.h"
#include "unwind/go_rows.h"

#define DEFAULT_TIMEOUT_MS 10000
/* A perf map is read whole, up to this. */
#define PERFMAP_MAX_BYTES ((size_t)256 << 20)

/* Which table names an object's functions: elf_object's sources, then
 * the ones of objects that are no ELF file. */
enum name_source {
	NAMES_NONE = 0,
	NAMES_SYMTAB,
	NAMES_DEBUG_FILE,
	NAMES_DYNSYM,
	NAMES_GOPCLNTAB,
	NAMES_PERF_MAP,
	NAMES_VDSO,
	NAME_SOURCES,
};

static const struct {
	const char *key;   /* JSON */
	const char *text;  /* the readable report */
} name_sources[NAME_SOURCES] = {
	[NAMES_NONE] = { "none", "nothing: frames stay addresses" },
	[NAMES_SYMTAB] = { "symtab", ".symtab" },
	[NAMES_DEBUG_FILE] = { "debug_file", "the separate debug file's .symtab" },
	[NAMES_DYNSYM] = { "dynsym", ".dynsym only (exported functions)" },
	[NAMES_GOPCLNTAB] = { "gopclntab", ".gopclntab (Go's own table)" },
	[NAMES_PERF_MAP] = { "perf_map", "the process's perf map" },
	[NAMES_VDSO] = { "vdso", "the agent's own [vdso] (same kernel)" },
};

static const enum name_source names_of[] = {
	[ELF_SYMBOLS_NONE] = NAMES_NONE,
	[ELF_SYMBOLS_SYMTAB] = NAMES_SYMTAB,
	[ELF_SYMBOLS_DEBUG_FILE] = NAMES_DEBUG_FILE,
	[ELF_SYMBOLS_DYNSYM] = NAMES_DYNSYM,
	[ELF_SYMBOLS_GOPCLNTAB] = NAMES_GOPCLNTAB,
};

static const char *const found_by[] = {
	[DEBUG_FILE_NONE] = "none",
	[DEBUG_FILE_BUILD_ID] = "build_id",
	[DEBUG_FILE_DEBUGLINK] = "debuglink",
	[DEBUG_FILE_DEBUGINFOD] = "debuginfod",
};

struct report_object {
	char *file;                 /* path, or "[vdso]", "[anon:...]", "[jit]" */
	struct file_id id;
	bool has_id;
	size_t mappings;
	char build_id[ELF_BUILD_ID_HEX_MAX];
	bool table;                 /* unwound by rows; else frame pointers */
	size_t rows[CFI_SOURCE_KINDS], rows_total;
	const char *fp_reason;      /* why frame pointers only */
	enum name_source names;
	size_t functions;
	bool lines, inlines;
	enum debug_file_source debug_source;
	char *debug_path;
	const char *name_error;     /* why nothing names it */
};

struct object_report {
	int pid;
	char comm[PROC_INFO_COMM_LEN];
	char exe[PROC_INFO_EXE_LEN];
	struct report_object *objects;
	size_t count;
};

void object_report__free(struct object_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->count; i++) {
		free(r->objects[i].file);
		free(r->objects[i].debug_path);
	}
	free(r->objects);
	free(r);
}

/* ---- collecting --------------------------------------------------------- */

/* Unwind rows as the agent's unwinder builds them: the object's CFI and,
 * as bpf/unwinder.c finds it, a debug file under the build-id tree. */
static void collect_rows(struct report_object *o, int fd, const char *debug_root,
			 uint64_t deadline_ns)
{
	struct cfi_limits limits = { .deadline_ns = deadline_ns };
	_cleanup_close_ int debug_fd = -1;
	struct cfi_rows *rows = NULL;
	int err;

	if (o->debug_source == DEBUG_FILE_BUILD_ID && o->debug_path &&
	    !strncmp(o->debug_path, debug_root, strlen(debug_root)))
		debug_fd = procfile__open_trusted(o->debug_path, 0);
	err = go_rows__build_object_fd(fd, debug_fd, &limits, &rows);
	if (err) {
		o->fp_reason = err == -ENOENT ? "no .eh_frame, .debug_frame or .gopclntab" : strerror(-err);
		return;
	}
	o->table = true;
	for (int k = 0; k < CFI_SOURCE_KINDS; k++) {
		o->rows[k] = rows->rows_by_source[k];
		o->rows_total += rows->rows_by_source[k];
	}
	cfi_rows__free(rows);
}

/* Waits (a tool may) for debuginfod to end what it fetches. */
static void wait_fetches(struct debuginfod *d, uint64_t deadline_ns)
{
	struct debuginfod_stats st;

	do {
		debuginfod__stats(d, &st);
		if (!st.in_flight)
			return;
		usleep(100 * 1000);
	} while (!clock__past(deadline_ns));
}

static void take_names(struct report_object *o, struct elf_object *obj)
{
	const struct debug_file_where *where = elf_object__debug_file(obj);

	snprintf(o->build_id, sizeof(o->build_id), "%s", elf_object__build_id(obj));
	o->names = names_of[elf_object__symbol_source(obj)];
	o->functions = elf_object__symbol_count(obj);
	o->lines = elf_object__has_lines(obj);
	o->inlines = elf_object__has_inlines(obj);
	o->debug_source = where->source;
	o->debug_path = where->path ? strdup(where->path) : NULL;
}

static void collect_file(struct report_object *o, const struct proc_info *info,
			 const struct proc_info_map *m, const struct object_report_opts *opts)
{
	uint64_t deadline = clock__mono_ns() + (uint64_t)opts->timeout_ms * 1000000ull;
	struct elf_object_opts eo = {
		.debug_root = opts->debug_root,
		.path = m->entry->kind == PROCMAPS_FILE && !m->entry->deleted ? m->entry->path : NULL,
		.access = &info->access,
		.deadline_ns = deadline,
		.debuginfod = opts->debuginfod,
	};
	struct elf_object *obj = NULL;
	int err;

	if (m->fd < 0) {
		o->name_error = strerror(m->err ? -m->err : ENOENT);
		o->fp_reason = "its file could not be opened";
		return;
	}
	err = elf_object__open_fd(m->fd, &eo, &obj);
	if (!err && opts->debuginfod && elf_object__debug_file(obj)->pending) {
		/* what the agent gets once the fetch ends */
		wait_fetches(opts->debuginfod, deadline);
		elf_object__free(obj);
		obj = NULL;
		err = elf_object__open_fd(m->fd, &eo, &obj);
	}
	if (err) {
		o->name_error = err == -ENOEXEC ? "not an ELF file" : strerror(-err);
		o->fp_reason = o->name_error;
		return;
	}
	take_names(o, obj);
	elf_object__free(obj);
	collect_rows(o, m->fd, opts->debug_root, deadline);
}

/* JIT code: named from the process's perf map, in its own /tmp. */
static void collect_jit(struct report_object *o, const struct proc_info *info,
			struct perfmap **pm, bool *tried)
{
	o->fp_reason = "JIT code has no unwind tables";
	if (!*tried) {
		struct procfile_opts fo = { .owner_check = true };
		char path[64];
		int fd;

		*tried = true;
		snprintf(path, sizeof(path), "/tmp/perf-%d.map", info->access.status.nspid);
		fd = procfile__open(&info->access, path, &fo);
		if (fd >= 0 && perfmap__from_fd(fd, pm) == 0)
			while (perfmap__refresh(*pm, PERFMAP_MAX_BYTES) == 0 && perfmap__grew(*pm))
				;
	}
	if (*pm) {
		o->names = NAMES_PERF_MAP;
		o->functions = perfmap__count(*pm);
	} else {
		o->name_error = "no perf map (/tmp/perf-PID.map)";
	}
}

static void collect_vdso(struct report_object *o)
{
	struct elf_object *vdso = NULL;

	o->fp_reason = "the agent builds no table for [vdso]";
	if (vdso__open(&vdso) != 0) {
		o->name_error = "the agent has no [vdso]";
		return;
	}
	take_names(o, vdso);
	o->names = NAMES_VDSO;
	elf_object__free(vdso);
}

/* The object of mapping m: the one of the same file (or, for [vdso] and
 * JIT code, the same kind), else a new one; NULL when out of memory. */
static struct report_object *object_of(struct object_report *r, const struct proc_info_map *m,
				       const char *file, bool *is_new)
{
	bool has_id = m->fd >= 0;
	struct report_object *o;

	for (size_t i = 0; i < r->count; i++) {
		o = &r->objects[i];
		if ((has_id && o->has_id && file_id__equal(&o->id, &m->id)) ||
		    (!has_id && !o->has_id && !strcmp(o->file, file))) {
			o->mappings++;
			*is_new = false;
			return o;
		}
	}
	o = &r->objects[r->count];
	memset(o, 0, sizeof(*o));
	o->file = strdup(file);
	if (!o->file)
		return NULL;
	o->has_id = has_id;
	o->id = m->id;
	o->mappings = 1;
	r->count++;
	*is_new = true;
	return o;
}

int object_report__collect(const struct object_report_opts *opts, struct object_report **out)
{
	struct object_report_opts o = *opts;
	struct proc_info *info = NULL;
	struct perfmap *pm = NULL;
	bool pm_tried = false;
	struct object_report *r;
	int err;

	if (!o.proc_root)
		o.proc_root = "/proc";
	if (!o.debug_root)
		o.debug_root = "/usr/lib/debug";
	if (!o.timeout_ms)
		o.timeout_ms = DEFAULT_TIMEOUT_MS;
	err = proc_info__identify(o.proc_root, o.pid, &info);
	if (!err)
		err = proc_info__inspect(info, NULL);
	if (err) {
		proc_info__free(info);
		return err == -ENOENT ? -ESRCH : err;
	}
	r = calloc(1, sizeof(*r));
	if (!r || !(r->objects = calloc(info->nexec ? info->nexec : 1, sizeof(*r->objects)))) {
		err = -ENOMEM;
		goto fail;
	}
	r->pid = o.pid;
	snprintf(r->comm, sizeof(r->comm), "%s", info->comm);
	snprintf(r->exe, sizeof(r->exe), "%s", info->exe);
	for (size_t i = 0; i < info->nexec; i++) {
		const struct proc_info_map *m = &info->exec[i];
		const struct procmaps_entry *e = m->entry;
		const char *file = e->path ? e->path : "[jit]";
		struct report_object *obj;
		bool is_new;

		if (e->kind == PROCMAPS_VSYSCALL)
			continue; /* the kernel's, never sampled in user space */
		obj = object_of(r, m, file, &is_new);
		if (!obj) {
			err = -ENOMEM;
			goto fail;
		}
		if (!is_new)
			continue;
		if (e->kind == PROCMAPS_FILE || (e->kind == PROCMAPS_MEMFD && m->fd >= 0))
			collect_file(obj, info, m, &o);
		else if (e->kind == PROCMAPS_VDSO)
			collect_vdso(obj);
		else
			collect_jit(obj, info, &pm, &pm_tried);
	}
	perfmap__free(pm);
	proc_info__free(info);
	*out = r;
	return 0;
fail:
	perfmap__free(pm);
	proc_info__free(info);
	object_report__free(r);
	return err;
}

/* ---- printing ----------------------------------------------------------- */

void object_report__print(const struct object_report *r, FILE *f)
{
	fprintf(f, "process %d (%s): %s, %zu executable object%s\n", r->pid, r->comm,
		r->exe[0] ? r->exe : "(executable unknown)", r->count, r->count == 1 ? "" : "s");
	for (size_t i = 0; i < r->count; i++) {
		const struct report_object *o = &r->objects[i];

		fprintf(f, "\n%s\n", o->file);
		if (o->mappings > 1)
			fprintf(f, "  mappings:    %zu\n", o->mappings);
		fprintf(f, "  build id:    %s\n", o->build_id[0] ? o->build_id : "none");
		if (o->table) {
			const char *sep = " (";

			fprintf(f, "  unwound by:  unwind table, %zu rows", o->rows_total);
			for (int k = 0; k < CFI_SOURCE_KINDS; k++) {
				if (!o->rows[k])
					continue;
				fprintf(f, "%s%s %zu", sep, cfi_source_names[k], o->rows[k]);
				sep = ", ";
			}
			fprintf(f, "%s\n", o->rows_total ? ")" : "");
		} else {
			fprintf(f, "  unwound by:  frame pointers only (%s)\n", o->fp_reason);
		}
		fprintf(f, "  named by:    %s", name_sources[o->names].text);
		if (o->names == NAMES_NONE && o->name_error)
			fprintf(f, " (%s)", o->name_error);
		else if (o->names != NAMES_NONE)
			fprintf(f, ", %zu functions%s%s", o->functions,
				o->lines ? "; file:line" : "", o->inlines ? " and inlined frames" : "");
		fprintf(f, "\n");
		if (o->debug_source != DEBUG_FILE_NONE)
			fprintf(f, "  debug file:  %s (found by %s)\n",
				o->debug_path ? o->debug_path : "?", found_by[o->debug_source]);
	}
}

static json_object *object_json(const struct report_object *o)
{
	json_object *obj = json_object_new_object(), *unwind = json_object_new_object(),
		    *rows = json_object_new_object(), *names = json_object_new_object();

	json_object_object_add(obj, "file", json_object_new_string(o->file));
	json_object_object_add(obj, "mappings", json_object_new_int64((int64_t)o->mappings));
	json_object_object_add(obj, "build_id",
			       o->build_id[0] ? json_object_new_string(o->build_id) : NULL);
	json_object_object_add(unwind, "method",
			       json_object_new_string(o->table ? "table" : "frame_pointers"));
	for (int k = 0; k < CFI_SOURCE_KINDS; k++)
		json_object_object_add(rows, cfi_source_names[k],
				       json_object_new_int64((int64_t)o->rows[k]));
	json_object_object_add(unwind, "rows", rows);
	json_object_object_add(unwind, "rows_total", json_object_new_int64((int64_t)o->rows_total));
	json_object_object_add(unwind, "reason",
			       o->table ? NULL : json_object_new_string(o->fp_reason));
	json_object_object_add(obj, "unwind", unwind);
	json_object_object_add(names, "source", json_object_new_string(name_sources[o->names].key));
	json_object_object_add(names, "functions", json_object_new_int64((int64_t)o->functions));
	json_object_object_add(names, "lines", json_object_new_boolean(o->lines));
	json_object_object_add(names, "inlines", json_object_new_boolean(o->inlines));
	json_object_object_add(names, "error",
			       o->name_error ? json_object_new_string(o->name_error) : NULL);
	if (o->debug_source != DEBUG_FILE_NONE) {
		json_object *debug = json_object_new_object();

		json_object_object_add(debug, "path",
				       o->debug_path ? json_object_new_string(o->debug_path) : NULL);
		json_object_object_add(debug, "found_by",
				       json_object_new_string(found_by[o->debug_source]));
		json_object_object_add(names, "debug_file", debug);
	} else {
		json_object_object_add(names, "debug_file", NULL);
	}
	json_object_object_add(obj, "names", names);
	return obj;
}

int object_report__print_json(const struct object_report *r, FILE *f)
{
	json_object *doc = json_object_new_object(), *objects = json_object_new_array();
	int err = 0;

	if (!doc || !objects) {
		json_object_put(doc);
		json_object_put(objects);
		return -ENOMEM;
	}
	json_object_object_add(doc, "pid", json_object_new_int(r->pid));
	json_object_object_add(doc, "comm", json_object_new_string(r->comm));
	json_object_object_add(doc, "exe", json_object_new_string(r->exe));
	for (size_t i = 0; i < r->count; i++)
		json_object_array_add(objects, object_json(&r->objects[i]));
	json_object_object_add(doc, "objects", objects);
	if (fprintf(f, "%s\n", json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY |
								     JSON_C_TO_STRING_NOSLASHESCAPE)) < 0)
		err = -EIO;
	json_object_put(doc);
	return err;
}
