#include "testing.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sym-child.h"
#include "common/workq.h"
#include "symbolize/procmaps.h"
#include "symbolize/symbolizer.h"

static const char *pie_exe, *nopie_exe, *lld_exe, *stripped_exe, *debug_root,
	*debuglink_exe, *lib_user_exe, *source, *symlib_source, *kallsyms_path;
static int leaf_line, outer_line;

static struct symbolizer *new_symbolizer(size_t max_objects)
{
	struct symbolizer_opts opts = {
		.debug_root = debug_root,
		.kallsyms_path = kallsyms_path,
		.max_objects = max_objects,
	};
	struct symbolizer *s = NULL;

	REQUIRE(symbolizer__new(&opts, &s) == 0);
	return s;
}

/* Runs exe, snapshots it, lets it exit, then symbolizes: the snapshot
 * must carry everything needed past the process's death. */
static void check_program(struct symbolizer *s, const char *exe, bool has_build_id)
{
	char real[PATH_MAX];
	struct sym_child c;
	struct proc_snapshot *snap;
	struct sym_ref ref;
	struct sym_line lines[8] = { 0 };
	uint64_t outer, recorded;
	int n;

	fprintf(stderr, "-- %s\n", exe);
	REQUIRE(realpath(exe, real));
	REQUIRE(sym_child__start(&c, exe, NULL) == 0);
	outer = sym_child__get(&c, "outer");
	recorded = sym_child__get(&c, "recorded");
	snap = symbolizer__snapshot(s, c.pid);
	REQUIRE(snap);
	CHECK_INT(proc_snapshot__pid(snap), ==, c.pid);
	CHECK_INT(sym_child__finish(&c), ==, 0);
	/* gone: a new snapshot is impossible, the old one still answers */
	errno = 0;
	CHECK(symbolizer__snapshot(s, c.pid) == NULL);
	CHECK_INT(errno, ==, ESRCH);

	REQUIRE(proc_snapshot__resolve(snap, outer, &ref) == 0);
	CHECK(ref.snap == snap);
	CHECK_U64(ref.addr, ==, outer);
	CHECK_STR(ref.mapping->filename, real);
	CHECK(ref.mapping->start <= outer && outer < ref.mapping->limit);

	n = symbolizer__user(s, &ref, lines, 8);
	CHECK_INT(n, ==, 1);
	/* what the object says of itself is known once it is loaded */
	CHECK(ref.mapping->has_symbols);
	CHECK(ref.mapping->has_lines);
	CHECK(ref.mapping->has_inlines);
	/* GNU ld writes sha1 (40 hex digits), lld xxhash (16) */
	if (has_build_id)
		CHECK_INT(strlen(ref.mapping->build_id), >=, 16);
	else
		CHECK_STR(ref.mapping->build_id, "");
	CHECK_STR(lines[0].function, "sym_outer");
	CHECK_U64(lines[0].sym_offset, ==, 0);
	CHECK(test_ends_with(lines[0].file, "sym-target.c"));

	REQUIRE(proc_snapshot__resolve(snap, recorded - 1, &ref) == 0);
	n = symbolizer__user(s, &ref, lines, 8);
	CHECK_INT(n, ==, 2);
	CHECK_STR(lines[0].function, "sym_inlined_leaf");
	CHECK_INT(lines[0].line, ==, leaf_line);
	CHECK(test_ends_with(lines[0].file, "sym-target.c"));
	CHECK_STR(lines[1].function, "sym_outer");
	CHECK_INT(lines[1].line, ==, outer_line);

	/* main is in the same object, so the same mapping */
	REQUIRE(proc_snapshot__resolve(snap, sym_child__get(&c, "main"), &ref) == 0);
	n = symbolizer__user(s, &ref, lines, 8);
	CHECK_INT(n, >=, 1);
	CHECK_STR(lines[n > 0 ? n - 1 : 0].function, "main");

	CHECK_INT(proc_snapshot__resolve(snap, 0x10, &ref), ==, -ENOENT);
	proc_snapshot__put(snap);
}

static void test_programs(void)
{
	struct symbolizer *s = new_symbolizer(0);
	struct symbolizer_stats st;

	size_t first_objects;

	check_program(s, pie_exe, true);
	symbolizer__stats(s, &st);
	first_objects = st.objects; /* the program, ld.so, libc (and sanitizers) */
	CHECK_INT(first_objects, >=, 3);
	check_program(s, nopie_exe, true);
	check_program(s, lld_exe, true);
	check_program(s, stripped_exe, true);
	check_program(s, debuglink_exe, false);
	symbolizer__stats(s, &st);
	CHECK_INT(st.max_objects, ==, 4096);
	/* the libraries are shared: each further program adds only itself */
	CHECK_INT(st.objects, ==, first_objects + 4);
	CHECK_INT(st.lookups, ==, 15);
	CHECK_INT(st.misses, ==, 0);
	symbolizer__free(s);
}

static void test_shared_library(void)
{
	struct symbolizer *s = new_symbolizer(0);
	struct sym_child c;
	struct proc_snapshot *snap;
	struct sym_ref ref;
	struct sym_line lines[8];
	int n;

	REQUIRE(sym_child__start(&c, lib_user_exe, NULL) == 0);
	snap = symbolizer__snapshot(s, c.pid);
	REQUIRE(snap);
	REQUIRE(proc_snapshot__resolve(snap, sym_child__get(&c, "libfn"), &ref) == 0);
	CHECK(test_ends_with(ref.mapping->filename, "/libsymfix.so"));
	n = symbolizer__user(s, &ref, lines, 8);
	CHECK_INT(n, ==, 1);
	CHECK_INT(strlen(ref.mapping->build_id), ==, 40);
	CHECK_STR(lines[0].function, "symlib_function");
	CHECK(test_ends_with(lines[0].file, "fixtures/symlib.c"));
	/* the function's first line is its opening line, before the body */
	CHECK_INT(lines[0].line, >=, sym_marker_line(symlib_source, "@symlib-decl"));
	CHECK_INT(lines[0].line, <=, sym_marker_line(symlib_source, "@symlib-body"));
	/* a second reference keeps the snapshot after the first put */
	CHECK(proc_snapshot__get(snap) == snap);
	proc_snapshot__put(snap);
	CHECK_INT(symbolizer__user(s, &ref, lines, 8), ==, 1);
	proc_snapshot__put(snap);
	proc_snapshot__put(NULL);
	CHECK_INT(sym_child__finish(&c), ==, 0);
	symbolizer__free(s);
	symbolizer__free(NULL);
}

static void test_jit(void)
{
	struct symbolizer *s = new_symbolizer(0);
	struct sym_child c;
	struct proc_snapshot *snap;
	struct sym_ref ref;
	struct sym_line lines[4];
	uint64_t jit;
	char line[64];

	REQUIRE(sym_child__start(&c, pie_exe, "jit") == 0);
	jit = sym_child__get(&c, "jit");
	REQUIRE(jit);
	snap = symbolizer__snapshot(s, c.pid);
	REQUIRE(snap);
	REQUIRE(proc_snapshot__resolve(snap, jit + 0x18, &ref) == 0);
	CHECK_STR(ref.mapping->filename, "[anon]");
	CHECK_STR(ref.mapping->build_id, "");
	CHECK(ref.mapping->has_symbols);
	CHECK_INT(symbolizer__user(s, &ref, lines, 4), ==, 1);
	CHECK_STR(lines[0].function, "jit_function_one");
	CHECK_U64(lines[0].sym_offset, ==, 8);
	CHECK(lines[0].file == NULL);
	REQUIRE(proc_snapshot__resolve(snap, jit + 0x50, &ref) == 0);
	CHECK_INT(symbolizer__user(s, &ref, lines, 4), ==, 1);
	CHECK_STR(lines[0].function, "LazyCompile:*render app.js:12");
	REQUIRE(proc_snapshot__resolve(snap, jit + 0x1010, &ref) == 0);
	CHECK_INT(symbolizer__user(s, &ref, lines, 4), ==, 0);

	/* the JIT appends; the snapshot picks it up on a later miss (read
	 * at most every 250 ms) */
	REQUIRE(sym_child__send(&c, "append\n") == 0);
	REQUIRE(fgets(line, sizeof(line), c.from_child));
	CHECK_STR(line, "appended\n");
	for (int i = 0; i < 40 && symbolizer__user(s, &ref, lines, 4) != 1; i++)
		usleep(50000);
	CHECK_INT(symbolizer__user(s, &ref, lines, 4), ==, 1);
	CHECK_STR(lines[0].function, "jit_function_two");
	CHECK_INT(sym_child__finish(&c), ==, 0);
	proc_snapshot__put(snap);
	symbolizer__free(s);
}

static void test_vdso_and_self(void)
{
	struct symbolizer *s = new_symbolizer(0);
	struct proc_snapshot *snap = symbolizer__snapshot(s, getpid());
	struct sym_ref ref;
	struct sym_line lines[8];
	uint64_t vdso = getauxval(AT_SYSINFO_EHDR);
	int n;

	REQUIRE(snap);
	if (vdso) {
		REQUIRE(proc_snapshot__resolve(snap, vdso, &ref) == 0);
		CHECK_STR(ref.mapping->filename, "[vdso]");
		CHECK(ref.mapping->has_symbols);
		CHECK(strlen(ref.mapping->build_id) > 0);
	}
	/* this test program itself, through its own snapshot */
	REQUIRE(proc_snapshot__resolve(snap, (uint64_t)(uintptr_t)&test_vdso_and_self, &ref) == 0);
	n = symbolizer__user(s, &ref, lines, 8);
	CHECK_INT(n, >=, 1);
	CHECK_STR(lines[n > 0 ? n - 1 : 0].function, "test_vdso_and_self");
	/* a ref whose address is outside its mapping is refused */
	ref.addr = ref.mapping->limit;
	CHECK_INT(symbolizer__user(s, &ref, lines, 8), ==, 0);
	ref.map_index = 1u << 30;
	CHECK_INT(symbolizer__user(s, &ref, lines, 8), ==, 0);
	CHECK_INT(symbolizer__user(s, NULL, lines, 8), ==, 0);
	proc_snapshot__put(snap);
	symbolizer__free(s);
}

/* A tiny cache: objects held by live snapshots stay loaded even past the
 * bound, and the cache falls back under it when they are released. */
static void test_eviction(void)
{
	struct symbolizer *s = new_symbolizer(2);
	struct symbolizer_stats st;
	struct proc_snapshot *snaps[3];
	const char *exes[3] = { pie_exe, nopie_exe, lld_exe };
	struct sym_child c;
	struct sym_ref ref;
	struct sym_line lines[4];

	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 3; i++) {
			REQUIRE(sym_child__start(&c, exes[i], NULL) == 0);
			snaps[i] = symbolizer__snapshot(s, c.pid);
			REQUIRE(snaps[i]);
			REQUIRE(proc_snapshot__resolve(snaps[i], sym_child__get(&c, "outer"), &ref) == 0);
			CHECK_INT(sym_child__finish(&c), ==, 0);
			symbolizer__stats(s, &st);
			CHECK_INT(st.objects, <=, 2);
			CHECK_INT(symbolizer__user(s, &ref, lines, 4), ==, 1);
			CHECK_STR(lines[0].function, "sym_outer");
		}
		for (int i = 0; i < 3; i++)
			proc_snapshot__put(snaps[i]);
		symbolizer__stats(s, &st);
		CHECK_INT(st.objects, ==, 2);
	}
	symbolizer__free(s);
}

/* A fixture proc tree: mappings whose files cannot be opened give
 * unsymbolized but valid mappings. */
static void test_fake_proc(void)
{
	char root[] = "/tmp/brasa-symproc-XXXXXX", path[256];
	struct symbolizer_opts opts = { .proc_root = root };
	struct symbolizer *s;
	struct proc_snapshot *snap;
	struct sym_ref ref;
	struct sym_line lines[4];
	FILE *f;

	REQUIRE(mkdtemp(root));
	snprintf(path, sizeof(path), "%s/77", root);
	REQUIRE(mkdir(path, 0755) == 0);
	snprintf(path, sizeof(path), "%s/77/maps", root);
	f = fopen(path, "w");
	REQUIRE(f);
	fputs("400000-401000 r-xp 00000000 08:01 12 /no/such/file (deleted)\n"
	      "500000-501000 rwxp 00000000 00:00 0 [heap]\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/77/status", root);
	f = fopen(path, "w");
	REQUIRE(f);
	fputs("Name:\tfake\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/77/mountinfo", root);
	f = fopen(path, "w");
	REQUIRE(f);
	fputs("1 0 8:1 / / rw - ext4 /dev/sda1 rw\n", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/77/root", root);
	REQUIRE(mkdir(path, 0755) == 0);
	REQUIRE(symbolizer__new(&opts, &s) == 0);
	snap = symbolizer__snapshot(s, 77);
	REQUIRE(snap);
	REQUIRE(proc_snapshot__resolve(snap, 0x400010, &ref) == 0);
	CHECK_STR(ref.mapping->filename, "/no/such/file");
	CHECK(!ref.mapping->has_symbols);
	CHECK_INT(symbolizer__user(s, &ref, lines, 4), ==, 0);
	REQUIRE(proc_snapshot__resolve(snap, 0x500010, &ref) == 0);
	CHECK_STR(ref.mapping->filename, "[heap]");
	CHECK_INT(symbolizer__user(s, &ref, lines, 4), ==, 0);
	proc_snapshot__put(snap);
	errno = 0;
	CHECK(symbolizer__snapshot(s, 78) == NULL);
	CHECK_INT(errno, ==, ESRCH);
	symbolizer__free(s);
	snprintf(path, sizeof(path), "rm -rf '%s'", root);
	CHECK_INT(system(path), ==, 0);
}

/* With worker threads: an address waits (-EAGAIN) while its object
 * loads; under a memory bound too small for anything, objects are
 * given back after the tick that used them and loaded again on demand. */
static void test_async_and_bound(void)
{
	struct workq *wq = NULL;
	struct symbolizer_opts opts = { .debug_root = debug_root, .kallsyms_path = kallsyms_path,
					.max_bytes = 1, .max_object_bytes = 64 << 20 };
	struct symbolizer *s;
	struct symbolizer_stats st;
	struct proc_snapshot *snap;
	struct sym_child c;
	struct sym_ref ref;
	struct sym_line lines[4];
	int n = -EAGAIN;

	REQUIRE(workq__new(NULL, &wq) == 0);
	opts.wq = wq;
	REQUIRE(symbolizer__new(&opts, &s) == 0);
	REQUIRE(sym_child__start(&c, pie_exe, NULL) == 0);
	snap = symbolizer__snapshot(s, c.pid);
	REQUIRE(snap);
	REQUIRE(proc_snapshot__resolve(snap, sym_child__get(&c, "outer"), &ref) == 0);
	CHECK_INT(sym_child__finish(&c), ==, 0);
	for (int round = 0; round < 2; round++) {
		n = symbolizer__user(s, &ref, lines, 4);
		CHECK_INT(n, ==, -EAGAIN);
		for (int i = 0; i < 500 && n == -EAGAIN; i++) {
			usleep(10000);
			workq__complete(wq);
			n = symbolizer__user(s, &ref, lines, 4);
		}
		CHECK_INT(n, ==, 1);
		CHECK_STR(lines[0].function, "sym_outer");
		symbolizer__stats(s, &st);
		CHECK_INT(st.objects_loaded, >=, 1);
		/* the tick that used it keeps it; the next gives it back */
		symbolizer__tick(s);
		symbolizer__tick(s);
		symbolizer__stats(s, &st);
		CHECK_INT(st.bytes, ==, 0);
		CHECK_INT(st.objects_loaded, ==, 0);
		CHECK_U64(st.unloads, >=, (uint64_t)round + 1);
	}
	CHECK_U64(st.pending, >=, 2);
	proc_snapshot__put(snap);
	workq__free(wq);
	symbolizer__free(s);
}

/* A process gone before it could be read again: its mappings come from
 * kernel records (device, inode, range, offset), named through the
 * objects another snapshot made known. */
static void test_snapshot_from_records(void)
{
	struct symbolizer *s = new_symbolizer(0);
	struct proc_snapshot *full, *one, *two;
	struct sym_map_record lib = { 0 }, exe = { 0 }, unknown;
	struct sym_ref ref, exe_ref;
	struct sym_line lines[8];
	struct procmaps *maps = NULL;
	char real[PATH_MAX];
	struct sym_child c;
	struct stat st;
	uint64_t libfn, code = 0;

	REQUIRE(realpath(lib_user_exe, real));
	REQUIRE(sym_child__start(&c, lib_user_exe, NULL) == 0);
	libfn = sym_child__get(&c, "libfn");
	full = symbolizer__snapshot(s, c.pid);
	REQUIRE(full);
	/* an address of the program's code, from its maps */
	REQUIRE(procmaps__read("/proc", c.pid, &maps) == 0);
	for (size_t i = 0; i < maps->count && !code; i++)
		if ((maps->entries[i].perms & PROCMAPS_PERM_EXEC) && maps->entries[i].path &&
		    !strcmp(maps->entries[i].path, real))
			code = maps->entries[i].start;
	procmaps__free(maps);
	REQUIRE(code);
	CHECK_INT(sym_child__finish(&c), ==, 0);
	REQUIRE(proc_snapshot__resolve(full, libfn, &ref) == 0);
	REQUIRE(stat(ref.mapping->filename, &st) == 0);
	lib = (struct sym_map_record){ ref.mapping->start, ref.mapping->limit,
				       ref.mapping->file_offset, st.st_dev, st.st_ino };
	REQUIRE(proc_snapshot__resolve(full, code, &exe_ref) == 0);
	REQUIRE(stat(exe_ref.mapping->filename, &st) == 0);
	exe = (struct sym_map_record){ exe_ref.mapping->start, exe_ref.mapping->limit,
				       exe_ref.mapping->file_offset, st.st_dev, st.st_ino };

	/* from nothing: the library alone, named */
	one = symbolizer__snapshot_add(s, NULL, c.pid, &lib);
	REQUIRE(one);
	CHECK_INT(proc_snapshot__pid(one), ==, c.pid);
	REQUIRE(proc_snapshot__resolve(one, libfn, &ref) == 0);
	CHECK(test_ends_with(ref.mapping->filename, "/libsymfix.so"));
	CHECK_INT(symbolizer__user(s, &ref, lines, 8), ==, 1);
	CHECK_STR(lines[0].function, "symlib_function");
	CHECK_INT(proc_snapshot__resolve(one, exe.start, &ref), ==, -ENOENT);

	/* the program below it: both, in address order */
	two = symbolizer__snapshot_add(s, one, c.pid, &exe);
	REQUIRE(two);
	proc_snapshot__put(one);
	REQUIRE(proc_snapshot__resolve(two, libfn, &ref) == 0);
	CHECK_INT(symbolizer__user(s, &ref, lines, 8), ==, 1);
	CHECK_STR(lines[0].function, "symlib_function");
	REQUIRE(proc_snapshot__resolve(two, exe.start, &ref) == 0);
	CHECK_STR(ref.mapping->filename, exe_ref.mapping->filename);

	/* one that overlaps, a file no snapshot mapped, an empty range */
	errno = 0;
	CHECK(symbolizer__snapshot_add(s, two, c.pid, &lib) == NULL);
	CHECK_INT(errno, ==, EEXIST);
	unknown = lib;
	unknown.start = 0x1000;
	unknown.end = 0x2000;
	unknown.ino = lib.ino + 123456789;
	CHECK(symbolizer__snapshot_add(s, two, c.pid, &unknown) == NULL);
	CHECK_INT(errno, ==, ENOENT);
	unknown.ino = lib.ino;
	unknown.end = unknown.start;
	CHECK(symbolizer__snapshot_add(s, two, c.pid, &unknown) == NULL);
	CHECK_INT(errno, ==, EINVAL);
	proc_snapshot__put(two);
	proc_snapshot__put(full);
	symbolizer__free(s);
}

static void setup(void)
{
	TEST_ARGS("PIE NOPIE LLD STRIPPED DEBUG_ROOT DEBUGLINK LIB_USER SOURCE SYMLIB_SOURCE KALLSYMS",
		  &pie_exe, &nopie_exe, &lld_exe, &stripped_exe, &debug_root, &debuglink_exe,
		  &lib_user_exe, &source, &symlib_source, &kallsyms_path);
	REQUIRE(sym_target_lines(source, &leaf_line, &outer_line) == 0);
}

TEST_MAIN(setup, NULL,
	  TEST_CASE(programs),
	  TEST_CASE(shared_library),
	  TEST_CASE(snapshot_from_records),
	  TEST_CASE(jit),
	  TEST_CASE(vdso_and_self),
	  TEST_CASE(eviction),
	  TEST_CASE(fake_proc),
	  TEST_CASE(async_and_bound))
