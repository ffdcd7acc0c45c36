/* gopclntab and elf_object on Go binaries: a Go program built here with the
 * installed Go twice (with its symbol table, and -ldflags='-s -w'), then
 * every text symbol of the first (go tool nm) named the same from the
 * second's .gopclntab, and file:line agreeing with go tool addr2line on a
 * sample of PCs; the same for PIE builds; then tables built by hand (the
 * format, and hostile ones: cut, lying about their size).
 *
 *   test-gopclntab GO_SOURCE     (exits 77 without a `go` command)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "symbolize/elf_object.h"
#include "symbolize/gopclntab.h"
#include "go_build.h"
#include "testing.h"

static const char *go_source;
static char dir[256];

/* Text symbols of a binary by go tool nm, in address order. */
struct nm_sym {
	uint64_t addr;
	char name[256];
};

static void setup(void)
{
	TEST_ARGS("GO_SOURCE", &go_source);
	go_build__dir("gopclntab", dir, sizeof(dir));
	go_build__run(dir, go_source,
		      "go build -o full main.go && go build -ldflags='-s -w' -o stripped main.go && "
		      "go build -buildmode=pie -o full-pie main.go && "
		      "go build -buildmode=pie -ldflags='-s -w' -o stripped-pie main.go");
}

static void teardown(void)
{
	go_build__remove(dir);
}

static struct elf_object *open_object(const char *name)
{
	char path[512];
	struct elf_object *obj = NULL;
	int fd, err;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	REQUIRE(fd >= 0);
	err = elf_object__open_fd(fd, NULL, &obj);
	close(fd);
	CHECK_INT(err, ==, 0);
	REQUIRE(obj);
	return obj;
}

static size_t read_nm(const char *binary, struct nm_sym **out)
{
	char cmd[1024], line[512];
	struct nm_sym *syms = NULL;
	size_t n = 0, cap = 0;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "cd %s && GOCACHE=%s/cache go tool nm -n %s", dir, dir, binary);
	f = popen(cmd, "r");
	REQUIRE(f);
	while (fgets(line, sizeof(line), f)) {
		struct nm_sym s;
		char type;

		if (sscanf(line, "%" SCNx64 " %c %255[^\n]", &s.addr, &type, s.name) != 3 ||
		    (type != 'T' && type != 't'))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 1024;
			syms = realloc(syms, cap * sizeof(*syms));
			REQUIRE(syms);
		}
		syms[n++] = s;
	}
	REQUIRE(pclose(f) == 0);
	*out = syms;
	return n;
}

/* Symbols that mark places, not functions: runtime.text and etext around
 * the code, and the build id note the linker puts before it. */
static bool is_marker(const char *name)
{
	return !strcmp(name, "runtime.text") || !strcmp(name, "runtime.etext") ||
	       !strcmp(name, "go.buildid");
}

/* The symbol table's name against the runtime's (pclntab's), which Go's
 * own tracebacks and profiles print: assembly functions lose their
 * ".abi0" suffix, and type arguments print as "[...]". */
static bool same_go_name(const char *symtab, const char *runtime)
{
	size_t len = strlen(symtab);

	if (len > 5 && !strcmp(symtab + len - 5, ".abi0"))
		len -= 5;
	while (len && *runtime) {
		if (!strncmp(runtime, "[...]", 5) && *symtab == '[') {
			int depth = 0;

			do {
				depth += *symtab == '[' ? 1 : *symtab == ']' ? -1 : 0;
				symtab++;
				len--;
			} while (len && depth);
			runtime += 5;
			continue;
		}
		if (*symtab != *runtime)
			return false;
		symtab++;
		runtime++;
		len--;
	}
	return !len && !*runtime;
}

static void check_names(const char *full, const char *stripped)
{
	_cleanup_free_ struct nm_sym *syms = NULL;
	struct elf_object *obj = open_object(stripped);
	size_t n = read_nm(full, &syms), named = 0, wrong = 0;

	CHECK(elf_object__has_symbols(obj));
	CHECK(elf_object__has_lines(obj));
	CHECK_INT(n, >, 1000);
	for (size_t i = 0; i < n; i++) {
		struct sym_line line[8];
		int count;

		if (is_marker(syms[i].name))
			continue;
		/* the function: the outermost frame (an entry may be inlined code) */
		count = elf_object__symbolize(obj, syms[i].addr, false, line, 8);
		if (count >= 1 && line[count - 1].function &&
		    same_go_name(syms[i].name, line[count - 1].function) &&
		    line[count - 1].sym_offset == 0) {
			named++;
			continue;
		}
		if (wrong++ < 30)
			fprintf(stderr, "%s 0x%" PRIx64 ": %s wanted, got %s (%d frames)\n",
				stripped, syms[i].addr, syms[i].name,
				count > 0 && line[count - 1].function ? line[count - 1].function
								      : "nothing", count);
	}
	fprintf(stderr, "%s: %zu of %zu text symbols named alike\n", stripped, named, n);
	CHECK_INT(wrong, ==, 0);
	CHECK_INT(elf_object__symbol_count(obj), >=, named);
	elf_object__free(obj);
}

/* PCs inside functions (entry, and a few bytes on) against go tool
 * addr2line on the full build. */
static void check_lines(const char *full, const char *stripped)
{
	_cleanup_free_ struct nm_sym *syms = NULL;
	struct elf_object *obj = open_object(stripped);
	size_t n = read_nm(full, &syms), compared = 0, wrong = 0;
	char path[512], cmd[1024], name[512], fileline[1024];
	uint64_t pcs[400];
	size_t npcs = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/pcs", dir);
	f = fopen(path, "w");
	REQUIRE(f);
	for (size_t i = 0; i + 1 < n && npcs < ARRAY_SIZE(pcs); i += 1 + n / 200) {
		uint64_t span = syms[i + 1].addr - syms[i].addr;

		if (is_marker(syms[i].name) || span < 2)
			continue;
		pcs[npcs++] = syms[i].addr;
		pcs[npcs++] = syms[i].addr + span / 2;
	}
	for (size_t i = 0; i < npcs; i++)
		fprintf(f, "0x%" PRIx64 "\n", pcs[i]);
	REQUIRE(fclose(f) == 0);
	snprintf(cmd, sizeof(cmd), "cd %s && GOCACHE=%s/cache go tool addr2line %s < pcs", dir, dir, full);
	f = popen(cmd, "r");
	REQUIRE(f);
	for (size_t i = 0; i < npcs; i++) {
		struct sym_line line[8];
		char want[1600], got[1600];
		int count;

		if (!fgets(name, sizeof(name), f) || !fgets(fileline, sizeof(fileline), f))
			break;
		name[strcspn(name, "\n")] = 0;
		fileline[strcspn(fileline, "\n")] = 0;
		/* addr2line's "no line" (assembly without one) */
		if (!strcmp(fileline, ":-1"))
			strcpy(fileline, "?:0");
		/* addr2line: the function pc is in, the innermost line */
		count = elf_object__symbolize(obj, pcs[i], false, line, 8);
		snprintf(want, sizeof(want), "%s %s", name, fileline);
		snprintf(got, sizeof(got), "%s %s:%u", count > 0 ? line[count - 1].function : "?",
			 count > 0 && line[0].file ? line[0].file : "?", count > 0 ? line[0].line : 0);
		compared++;
		if (strcmp(want, got) != 0 && wrong++ < 10)
			fprintf(stderr, "0x%" PRIx64 ": addr2line says %s, we say %s\n", pcs[i], want, got);
	}
	pclose(f);
	fprintf(stderr, "%s: %zu of %zu PCs agree with addr2line\n", stripped, compared - wrong, compared);
	CHECK_INT(compared, ==, npcs);
	CHECK_INT(compared, >, 200);
	CHECK_INT(wrong, ==, 0);
	elf_object__free(obj);
}

static void test_stripped_names(void)
{
	check_names("full", "stripped");
}

static void test_stripped_lines(void)
{
	check_lines("full", "stripped");
}

/* go tool addr2line reads no table of an externally linked PIE (its
 * .data.rel.ro.gopclntab): lines are checked on main's own code only. */
static void test_pie(void)
{
	_cleanup_free_ struct nm_sym *syms = NULL;
	struct elf_object *obj;
	size_t n, checked = 0;

	check_names("full-pie", "stripped-pie");
	obj = open_object("stripped-pie");
	n = read_nm("full-pie", &syms);
	for (size_t i = 0; i < n; i++) {
		struct sym_line line[4];

		if (strncmp(syms[i].name, "main.", 5) != 0)
			continue;
		CHECK_INT(elf_object__symbolize(obj, syms[i].addr + 1, false, line, 4), >=, 1);
		CHECK_STR(line[0].function, syms[i].name);
		CHECK(line[0].file && test_ends_with(line[0].file, "/main.go"));
		CHECK_INT(line[0].line, >, 0);
		checked++;
	}
	CHECK_INT(checked, >=, 4);
	elf_object__free(obj);
}

/* Inlined frames against the full build's DWARF as binutils' addr2line -i
 * reads it (brasa's own DWARF path gives no lines for Go units): over
 * every 4th byte of main's and some runtime functions' code, the same
 * chain of files and lines (innermost first) and of functions but the
 * innermost inlined one, which binutils names after its caller on Go's
 * DWARF (`runtime.mallocgc` at stubs.go:437, bool2int). */
static void test_inlines(void)
{
	_cleanup_free_ struct nm_sym *syms = NULL;
	struct elf_object *stripped = open_object("stripped");
	size_t n = read_nm("full", &syms), compared = 0, inlined = 0, wrong = 0;
	char path[512], cmd[1024], text[2048];
	struct sym_line want[16];
	int nwant = -1;
	uint64_t pc = 0;
	FILE *f;

	CHECK(elf_object__has_inlines(stripped));
	snprintf(path, sizeof(path), "%s/inline-pcs", dir);
	f = fopen(path, "w");
	REQUIRE(f);
	for (size_t i = 0; i + 1 < n; i++) {
		if (strncmp(syms[i].name, "main.", 5) && strncmp(syms[i].name, "runtime.gc", 10) &&
		    strncmp(syms[i].name, "runtime.mallocgc", 16))
			continue;
		for (uint64_t a = syms[i].addr; a < syms[i + 1].addr; a += 4)
			fprintf(f, "0x%" PRIx64 "\n", a);
	}
	REQUIRE(fclose(f) == 0);
	snprintf(cmd, sizeof(cmd), "cd %s && addr2line -a -i -f -e full < inline-pcs; echo 0x0", dir);
	f = popen(cmd, "r");
	REQUIRE(f);
	/* per address: the address, then function and file:line lines,
	 * innermost first; a last 0x0 ends the last one */
	while (fgets(text, sizeof(text), f)) {
		text[strcspn(text, "\n")] = 0;
		if (!strncmp(text, "0x", 2)) {
			struct sym_line got[16];
			int ngot = nwant >= 0 ? elf_object__symbolize(stripped, pc, false, got, 16) : 0;
			bool same = ngot == nwant;

			/* padding after a function: no line on either side
			 * (addr2line: "go.go:?" or "??:0") */
			if (nwant == 1 && ngot == 1 && want[0].line == 0 && !got[0].file &&
			    got[0].line == 0)
				got[0].file = want[0].file;
			for (int k = 0; same && k < nwant; k++)
				same = got[k].function && got[k].file &&
				       (k > 0 || nwant == 1 ?
						same_go_name(want[k].function, got[k].function) : true) &&
				       !strcmp(want[k].file, got[k].file) && got[k].line == want[k].line;
			if (nwant >= 0) {
				compared++;
				inlined += ngot > 1;
				if (!same && wrong++ < 10)
					fprintf(stderr, "0x%" PRIx64 ": addr2line -i %d frames (%s:%u), "
						"pclntab %d (%s:%u)\n", pc, nwant, want[0].function,
						want[0].line, ngot, ngot ? got[0].function : "-",
						ngot ? got[0].line : 0);
			}
			for (int k = 0; k < nwant; k++) {
				free((char *)want[k].function);
				free((char *)want[k].file);
			}
			pc = strtoull(text, NULL, 16);
			nwant = 0;
		} else if (nwant >= 0 && nwant < 16) {
			char fileline[2048];
			const char *colon;

			if (!fgets(fileline, sizeof(fileline), f))
				break;
			colon = strrchr(fileline, ':');
			want[nwant++] = (struct sym_line){
				.function = strdup(text),
				.file = strndup(fileline, colon ? (size_t)(colon - fileline) : 0),
				.line = colon ? (uint32_t)strtoul(colon + 1, NULL, 10) : 0,
			};
		}
	}
	REQUIRE(pclose(f) == 0);
	fprintf(stderr, "inlines: %zu of %zu PCs agree with addr2line -i, %zu with inlined frames\n",
		compared - wrong, compared, inlined);
	CHECK_INT(compared, >, 1000);
	CHECK_INT(inlined, >, 20);
	CHECK_INT(wrong, <=, compared / 100);
	elf_object__free(stripped);
}

/* The full build keeps its symbol table's names (".abi0" and all), and
 * gets lines and inlined calls from .gopclntab since libdw finds no unit
 * in Go's DWARF (it has no .debug_aranges). */
static void test_symbols_first(void)
{
	_cleanup_free_ struct nm_sym *syms = NULL;
	struct elf_object *obj = open_object("full");
	size_t n = read_nm("full", &syms), checked = 0, asm_checked = 0;

	CHECK(elf_object__has_lines(obj));
	CHECK(elf_object__has_inlines(obj));
	for (size_t i = 0; i < n; i++) {
		struct sym_line line[8];
		int count;

		if (is_marker(syms[i].name))
			continue;
		count = elf_object__symbolize(obj, syms[i].addr, true, line, 8);
		REQUIRE(count >= 1);
		CHECK_STR(line[count - 1].function, syms[i].name);
		CHECK_U64(line[count - 1].sym_offset, ==, 0);
		asm_checked += test_ends_with(syms[i].name, ".abi0");
		if (!strncmp(syms[i].name, "main.", 5)) {
			CHECK(line[0].file && test_ends_with(line[0].file, "/main.go"));
			CHECK_INT(line[0].line, >, 0);
			checked++;
		}
	}
	CHECK_INT(checked, >=, 4);
	CHECK_INT(asm_checked, >, 10);
	elf_object__free(obj);
}

/* max_symbol_bytes bounds the copy: a table over it fails the load
 * (E2BIG, as a symbol table would), one that fits without its inline
 * trees loads without inlined frames. */
static void test_bound(void)
{
	char cmd[1024], path[512];
	struct elf_object_opts opts = { 0 };
	struct elf_object *obj = NULL;
	unsigned long long size = 0;
	FILE *f;
	int fd;

	snprintf(cmd, sizeof(cmd),
		 "readelf -SW %s/stripped | "
		 "awk '{ for (i = 1; i < NF; i++) if ($i == \".gopclntab\") print $(i + 4) }'",
		 dir);
	f = popen(cmd, "r");
	REQUIRE(f);
	CHECK_INT(fscanf(f, "%llx", &size), ==, 1);
	pclose(f);
	REQUIRE(size > 4096);
	snprintf(path, sizeof(path), "%s/stripped", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	REQUIRE(fd >= 0);
	opts.max_symbol_bytes = size - 1;
	CHECK_INT(elf_object__open_fd(fd, &opts, &obj), ==, -E2BIG);
	CHECK(obj == NULL);
	opts.max_symbol_bytes = size + 1;
	CHECK_INT(elf_object__open_fd(fd, &opts, &obj), ==, 0);
	REQUIRE(obj);
	CHECK(elf_object__has_symbols(obj));
	CHECK(!elf_object__has_inlines(obj));
	CHECK_INT(elf_object__bytes(obj), >, size);
	CHECK_INT(elf_object__bytes(obj), <, size + 65536);
	elf_object__free(obj);
	close(fd);
}

/* A table by hand (1.18 layout, or 1.20's with v120): header, function
 * table (2 functions and the end), names, one CU of one file, pc-value
 * tables, and an inline tree in main.a: [0x1008, 0x1020) is main.c
 * inlined, called from main.a's pc 0x1030, and [0x1010, 0x1020) main.d
 * inlined into main.c, called from its pc 0x100c. */
struct hand_table {
	uint8_t b[512];
	size_t size;
	uint8_t inl[64]; /* the inline tree, at gofunc HAND_GOFUNC */
	size_t inl_size;
};

#define HAND_GOFUNC 0x9000

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static void hand_table(struct hand_table *t, bool v120)
{
	enum { FUNCNAME = 96, CUTAB = 128, FILETAB = 136, PCTAB = 160, FUNCTAB = 192 };
	uint8_t *b = t->b;
	/* pcfile: value 0 (file 0) to +0x40; pcln: 10 to +0x10, 12 to +0x40;
	 * inline index: -1, 0 from +8, 1 from +0x10, -1 from +0x20 */
	static const uint8_t pcfile[] = { 2, 0x40, 0 };
	static const uint8_t pcln[] = { 22, 0x10, 4, 0x30, 0 };
	static const uint8_t inl_index[] = { 0, 8, 2, 8, 2, 0x10, 3, 0x20, 0 };
	size_t fixed = v120 ? 40 : 36, inl_size = v120 ? 16 : 20;
	size_t inl_name = v120 ? 4 : 12, inl_parent = v120 ? 8 : 16;

	memset(t, 0, sizeof(*t));
	put32(b, v120 ? 0xfffffff1u : 0xfffffff0u);
	b[6] = 1;
	b[7] = 8;
	put64(b + 8, 2);             /* nfunc */
	put64(b + 16, 1);            /* nfiles */
	put64(b + 24, 0x1000);       /* textStart */
	put64(b + 32, FUNCNAME);
	put64(b + 40, CUTAB);
	put64(b + 48, FILETAB);
	put64(b + 56, PCTAB);
	put64(b + 64, FUNCTAB);
	memcpy(b + FUNCNAME, "main.a\0main.b\0main.c\0main.d", 28);
	put32(b + CUTAB, 0);
	memcpy(b + FILETAB, "/src/a.go", 10);
	memcpy(b + PCTAB + 1, pcfile, sizeof(pcfile));
	memcpy(b + PCTAB + 8, pcln, sizeof(pcln));
	memcpy(b + PCTAB + 16, inl_index, sizeof(inl_index));
	/* functab: {0, f0} {0x40, f1} {0x80 end} */
	put32(b + FUNCTAB, 0);
	put32(b + FUNCTAB + 4, 24);
	put32(b + FUNCTAB + 8, 0x40);
	put32(b + FUNCTAB + 12, 24 + 80);
	put32(b + FUNCTAB + 16, 0x80);
	for (int f = 0; f < 2; f++) {
		uint8_t *rec = b + FUNCTAB + 24 + 80 * f;

		put32(rec, f * 0x40);
		put32(rec + 4, f * 7);  /* nameOff */
		put32(rec + 20, f ? 0 : 1); /* pcfile (main.b has none) */
		put32(rec + 24, 8);     /* pcln */
	}
	/* main.a: 3 pc-value tables (the third the inline index), 4
	 * funcdata (the fourth its inline tree, at gofunc + 0) */
	{
		uint8_t *rec = b + FUNCTAB + 24, *end = rec + 4 + fixed;

		put32(rec + 28, 3);
		end[-1] = 4;
		put32(end + 8, 16);
		for (int i = 0; i < 3; i++)
			put32(end + 12 + 4 * i, UINT32_MAX);
		put32(end + 24, 0);
	}
	put32(t->inl + inl_name, 14);                  /* main.c */
	put32(t->inl + inl_parent, 0x30);
	put32(t->inl + inl_size + inl_name, 21);       /* main.d */
	put32(t->inl + inl_size + inl_parent, 0x0c);
	t->inl_size = 2 * inl_size;
	t->size = FUNCTAB + 24 + 80 + 40;
}

/* Every function's pcsp runs: inside the function, ascending, and a
 * walk that ends (a hostile table: safely, under ASan). Returns runs. */
static size_t walk_pcsp(const struct gopclntab *tab)
{
	size_t runs = 0;

	for (size_t i = 0; i < gopclntab__func_count(tab) + 1; i++) {
		struct gopclntab_func fn;
		struct gopclntab_pcvalue it;
		uint64_t start, end, last = 0;
		int32_t v;
		int n;

		if (gopclntab__func(tab, i, &fn) != 0)
			continue;
		CHECK(fn.entry < fn.end);
		gopclntab__pcsp_begin(tab, &fn, &it);
		while ((n = gopclntab__pcvalue_next(&it, &start, &end, &v)) > 0) {
			if (start < fn.entry || end > fn.end || start >= end || start < last)
				fprintf(stderr, "run [%#" PRIx64 ", %#" PRIx64 ") in [%#" PRIx64
					", %#" PRIx64 ")\n", start, end, fn.entry, fn.end);
			CHECK(start >= fn.entry && end <= fn.end && start < end && start >= last);
			last = end;
			runs++;
		}
		CHECK(n == 0 || n == -EINVAL);
	}
	return runs;
}

static void test_hand_built(void)
{
	struct hand_table h;
	struct gopclntab *tab = NULL;
	struct gopclntab_frame f;

	hand_table(&h, false);
	REQUIRE(gopclntab__new(h.b, h.size, 0, &tab) == 0);
	CHECK_INT(gopclntab__version(tab), ==, 118);
	CHECK_INT(gopclntab__func_count(tab), ==, 2);
	CHECK_INT(gopclntab__lookup(tab, 0xfff, &f, 1), ==, -ENOENT);
	CHECK_INT(gopclntab__lookup(tab, 0x1080, &f, 1), ==, -ENOENT);
	REQUIRE(gopclntab__lookup(tab, 0x1005, &f, 1) == 1);
	CHECK_STR(f.function, "main.a");
	CHECK_STR(f.file, "/src/a.go");
	CHECK_INT(f.line, ==, 10);
	CHECK_U64(f.entry, ==, 0x1000);
	REQUIRE(gopclntab__lookup(tab, 0x1020, &f, 1) == 1);
	CHECK_INT(f.line, ==, 12);
	REQUIRE(gopclntab__lookup(tab, 0x1041, &f, 1) == 1);
	CHECK_STR(f.function, "main.b");
	CHECK(f.file == NULL);
	CHECK_INT(f.line, ==, 10);
	gopclntab__free(tab);
	/* pcsp: main.a's is the line table (10 to +0x10, 12 to +0x40) */
	put32(h.b + 192 + 24 + 16, 8);
	REQUIRE(gopclntab__new(h.b, h.size, 0, &tab) == 0);
	{
		struct gopclntab_func fn;
		struct gopclntab_pcvalue it;
		uint64_t start, end;
		int32_t v;

		REQUIRE(gopclntab__func(tab, 0, &fn) == 0);
		CHECK_STR(fn.name, "main.a");
		CHECK_U64(fn.entry, ==, 0x1000);
		CHECK_U64(fn.end, ==, 0x1040);
		gopclntab__pcsp_begin(tab, &fn, &it);
		REQUIRE(gopclntab__pcvalue_next(&it, &start, &end, &v) == 1);
		CHECK_U64(start, ==, 0x1000);
		CHECK_U64(end, ==, 0x1010);
		CHECK_INT(v, ==, 10);
		REQUIRE(gopclntab__pcvalue_next(&it, &start, &end, &v) == 1);
		CHECK_U64(start, ==, 0x1010);
		CHECK_U64(end, ==, 0x1040);
		CHECK_INT(v, ==, 12);
		CHECK_INT(gopclntab__pcvalue_next(&it, &start, &end, &v), ==, 0);
		CHECK_INT(gopclntab__pcvalue_next(&it, &start, &end, &v), ==, 0);
		/* main.b has no pcsp table: no runs */
		REQUIRE(gopclntab__func(tab, 1, &fn) == 0);
		CHECK_STR(fn.name, "main.b");
		gopclntab__pcsp_begin(tab, &fn, &it);
		CHECK_INT(gopclntab__pcvalue_next(&it, &start, &end, &v), ==, 0);
		CHECK_INT(gopclntab__func(tab, 2, &fn), ==, -ENOENT);
	}
	CHECK_INT(walk_pcsp(tab), ==, 2);
	gopclntab__free(tab);
	/* a run past the function's end: -EINVAL after the runs before it */
	h.b[160 + 8 + 3] = 0x50;
	REQUIRE(gopclntab__new(h.b, h.size, 0, &tab) == 0);
	{
		struct gopclntab_func fn;
		struct gopclntab_pcvalue it;
		uint64_t start, end;
		int32_t v;

		REQUIRE(gopclntab__func(tab, 0, &fn) == 0);
		gopclntab__pcsp_begin(tab, &fn, &it);
		CHECK_INT(gopclntab__pcvalue_next(&it, &start, &end, &v), ==, 1);
		CHECK_INT(gopclntab__pcvalue_next(&it, &start, &end, &v), ==, -EINVAL);
		CHECK_INT(gopclntab__pcvalue_next(&it, &start, &end, &v), ==, 0);
	}
	gopclntab__free(tab);
	hand_table(&h, false);
	/* the text start given wins over the header's */
	REQUIRE(gopclntab__new(h.b, h.size, 0x2000, &tab) == 0);
	CHECK_INT(gopclntab__lookup(tab, 0x1005, &f, 1), ==, -ENOENT);
	CHECK_INT(gopclntab__lookup(tab, 0x2005, &f, 1), ==, 1);
	gopclntab__free(tab);
}

static void check_hand_inlines(bool v120)
{
	struct hand_table h;
	struct gopclntab *tab = NULL;
	struct gopclntab_frame f[4];

	hand_table(&h, v120);
	REQUIRE(gopclntab__new(h.b, h.size, 0, &tab) == 0);
	CHECK_INT(gopclntab__version(tab), ==, v120 ? 120 : 118);
	/* without the funcdata: the function alone */
	CHECK_INT(gopclntab__lookup(tab, 0x1015, f, 4), ==, 1);
	CHECK_STR(f[0].function, "main.a");
	CHECK_INT(gopclntab__set_funcdata(tab, h.inl, h.inl_size, HAND_GOFUNC, HAND_GOFUNC), ==, 0);
	CHECK(gopclntab__has_inlines(tab));
	REQUIRE(gopclntab__lookup(tab, 0x1015, f, 4) == 3);
	CHECK_STR(f[0].function, "main.d");
	CHECK_INT(f[0].line, ==, 12);
	CHECK_U64(f[0].entry, ==, 0);
	CHECK_STR(f[1].function, "main.c");
	CHECK_INT(f[1].line, ==, 10);  /* at 0x100c */
	CHECK_STR(f[2].function, "main.a");
	CHECK_INT(f[2].line, ==, 12);  /* at 0x1030 */
	CHECK_U64(f[2].entry, ==, 0x1000);
	/* one level in main.c */
	REQUIRE(gopclntab__lookup(tab, 0x1009, f, 4) == 2);
	CHECK_STR(f[0].function, "main.c");
	CHECK_STR(f[1].function, "main.a");
	/* too deep for max: the innermost, then the function at its own line */
	REQUIRE(gopclntab__lookup(tab, 0x1015, f, 2) == 2);
	CHECK_STR(f[0].function, "main.d");
	CHECK_STR(f[1].function, "main.a");
	CHECK_INT(f[1].line, ==, 12);
	REQUIRE(gopclntab__lookup(tab, 0x1025, f, 4) == 1);
	CHECK_STR(f[0].function, "main.a");
	/* a tree whose entry is its own parent, and one cut short */
	put32(h.inl + h.inl_size / 2 + (v120 ? 8 : 16), 0x10);
	CHECK_INT(gopclntab__set_funcdata(tab, h.inl, h.inl_size, HAND_GOFUNC, HAND_GOFUNC), ==, 0);
	CHECK_INT(gopclntab__lookup(tab, 0x1015, f, 4), ==, 4);
	CHECK_INT(gopclntab__set_funcdata(tab, h.inl, h.inl_size - 1, HAND_GOFUNC, HAND_GOFUNC), ==, 0);
	REQUIRE(gopclntab__lookup(tab, 0x1015, f, 4) == 1);
	CHECK_STR(f[0].function, "main.a");
	gopclntab__free(tab);
}

static void test_hand_inlines(void)
{
	check_hand_inlines(false);
	check_hand_inlines(true);
}

static void test_hostile(void)
{
	struct hand_table h;
	struct gopclntab *tab = NULL;
	struct gopclntab_frame f;

	hand_table(&h, false);
	/* cut anywhere: a header that does not fit is refused, and a table
	 * whose records are cut answers without reading past its end (ASan) */
	for (size_t cut = 0; cut < h.size; cut++) {
		int err = gopclntab__new(h.b, cut, 0, &tab);

		if (err) {
			CHECK_INT(err, ==, -ENOEXEC);
			continue;
		}
		for (uint64_t pc = 0xff0; pc < 0x1090; pc += 3)
			gopclntab__lookup(tab, pc, &f, 1);
		walk_pcsp(tab);
		gopclntab__free(tab);
	}
	/* more functions than the table holds */
	hand_table(&h, false);
	put64(h.b + 8, UINT64_MAX / 2);
	CHECK_INT(gopclntab__new(h.b, h.size, 0, &tab), ==, -ENOEXEC);
	hand_table(&h, false);
	put32(h.b, 0xfffffffbu);
	CHECK_INT(gopclntab__new(h.b, h.size, 0, &tab), ==, -ENOEXEC);
	/* offsets past the end, a pc-value table without its end */
	hand_table(&h, false);
	put32(h.b + 192 + 24 + 4, 0x7fffffff);
	put32(h.b + 192 + 24 + 24, (uint32_t)(h.size - 160 - 1));
	memset(h.b + h.size - 1, 0x81, 1);
	REQUIRE(gopclntab__new(h.b, h.size, 0, &tab) == 0);
	CHECK_INT(gopclntab__lookup(tab, 0x1005, &f, 1), ==, -ENOENT);
	REQUIRE(gopclntab__lookup(tab, 0x1045, &f, 1) == 1);
	CHECK_STR(f.function, "main.b");
	gopclntab__free(tab);
}

TEST_MAIN(setup, teardown,
	  TEST_CASE(hand_built),
	  TEST_CASE(hand_inlines),
	  TEST_CASE(hostile),
	  TEST_CASE(stripped_names),
	  TEST_CASE(stripped_lines),
	  TEST_CASE(pie),
	  TEST_CASE(inlines),
	  TEST_CASE(bound),
	  TEST_CASE(symbols_first))
