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
#include "testing.h"

static const char *go_source;
static char dir[256];

/* Text symbols of a binary by go tool nm, in address order. */
struct nm_sym {
	uint64_t addr;
	char name[256];
};

static void run(const char *cmd)
{
	int rc = system(cmd);

	if (rc != 0)
		fprintf(stderr, "command failed (%d): %s\n", rc, cmd);
	REQUIRE(rc == 0);
}

static void setup(void)
{
	char cmd[2048];

	TEST_ARGS("GO_SOURCE", &go_source);
	if (system("command -v go >/dev/null 2>&1") != 0) {
		fprintf(stderr, "no go command: skipping\n");
		exit(77);
	}
	snprintf(dir, sizeof(dir), "%s/gopclntab-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	REQUIRE(mkdtemp(dir));
	/* no network: standard library only, caches in the temp dir */
	snprintf(cmd, sizeof(cmd),
		 "cd %s && cp %s main.go && export GOCACHE=%s/cache GOPATH=%s/gopath "
		 "GOFLAGS=-mod=mod GO111MODULE=off GOPROXY=off && "
		 "go build -o full main.go && go build -ldflags='-s -w' -o stripped main.go && "
		 "go build -buildmode=pie -o full-pie main.go && "
		 "go build -buildmode=pie -ldflags='-s -w' -o stripped-pie main.go",
		 dir, go_source, dir, dir);
	run(cmd);
}

static void teardown(void)
{
	char cmd[1024];

	if (!dir[0])
		return;
	snprintf(cmd, sizeof(cmd), "chmod -R u+w %s; rm -rf %s", dir, dir);
	if (system(cmd) != 0)
		fprintf(stderr, "failed to remove %s\n", dir);
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
		struct sym_line line[4];
		int count;

		if (is_marker(syms[i].name))
			continue;
		count = elf_object__symbolize(obj, syms[i].addr, false, line, 4);
		if (count == 1 && line[0].function && same_go_name(syms[i].name, line[0].function) &&
		    line[0].sym_offset == 0) {
			named++;
			continue;
		}
		if (wrong++ < 30)
			fprintf(stderr, "%s 0x%" PRIx64 ": %s wanted, got %s (%d frames)\n",
				stripped, syms[i].addr, syms[i].name,
				count > 0 && line[0].function ? line[0].function : "nothing", count);
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
		struct sym_line line[4];
		char want[1600], got[1600];
		int count;

		if (!fgets(name, sizeof(name), f) || !fgets(fileline, sizeof(fileline), f))
			break;
		name[strcspn(name, "\n")] = 0;
		fileline[strcspn(fileline, "\n")] = 0;
		/* addr2line's "no line" (assembly without one) */
		if (!strcmp(fileline, ":-1"))
			strcpy(fileline, "?:0");
		count = elf_object__symbolize(obj, pcs[i], false, line, 4);
		snprintf(want, sizeof(want), "%s %s", name, fileline);
		snprintf(got, sizeof(got), "%s %s:%u", count > 0 ? line[0].function : "?",
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
		CHECK_INT(elf_object__symbolize(obj, syms[i].addr + 1, false, line, 4), ==, 1);
		CHECK_STR(line[0].function, syms[i].name);
		CHECK(line[0].file && test_ends_with(line[0].file, "/main.go"));
		CHECK_INT(line[0].line, >, 0);
		checked++;
	}
	CHECK_INT(checked, >=, 4);
	elf_object__free(obj);
}

/* The full build keeps naming from its ELF symbols (first where they are). */
static void test_symbols_first(void)
{
	struct elf_object *obj = open_object("full");
	struct elf_object *stripped = open_object("stripped");

	/* the full build's count is its symbol table's alone */
	CHECK_INT(elf_object__symbol_count(obj), <, elf_object__symbol_count(stripped) + 200);
	CHECK_INT(elf_object__bytes(stripped), >, 100000);
	elf_object__free(obj);
	elf_object__free(stripped);
}

/* A 1.18 table by hand: header, function table (2 functions and the end),
 * names, one CU of one file, pc-value tables. */
struct hand_table {
	uint8_t b[512];
	size_t size;
};

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static void hand_table(struct hand_table *t)
{
	enum { FUNCNAME = 96, CUTAB = 128, FILETAB = 136, PCTAB = 160, FUNCTAB = 192 };
	uint8_t *b = t->b;
	/* pcfile: value 0 (file 0) to +0x40; pcln: 10 to +0x10, 12 to +0x40 */
	static const uint8_t pcfile[] = { 2, 0x40, 0 };
	static const uint8_t pcln[] = { 22, 0x10, 4, 0x30, 0 };

	memset(t, 0, sizeof(*t));
	put32(b, 0xfffffff0u);
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
	memcpy(b + FUNCNAME, "main.a\0main.b", 14);
	put32(b + CUTAB, 0);
	memcpy(b + FILETAB, "/src/a.go", 10);
	memcpy(b + PCTAB + 1, pcfile, sizeof(pcfile));
	memcpy(b + PCTAB + 8, pcln, sizeof(pcln));
	/* functab: {0, f0} {0x40, f1} {0x80 end} */
	put32(b + FUNCTAB, 0);
	put32(b + FUNCTAB + 4, 24);
	put32(b + FUNCTAB + 8, 0x40);
	put32(b + FUNCTAB + 12, 64);
	put32(b + FUNCTAB + 16, 0x80);
	for (int f = 0; f < 2; f++) {
		uint8_t *rec = b + FUNCTAB + 24 + 40 * f;

		put32(rec, f * 0x40);
		put32(rec + 4, f * 7);  /* nameOff */
		put32(rec + 20, f ? 0 : 1); /* pcfile (main.b has none) */
		put32(rec + 24, 8);     /* pcln */
	}
	t->size = FUNCTAB + 24 + 80;
}

static void test_hand_built(void)
{
	struct hand_table h;
	struct gopclntab *tab = NULL;
	struct gopclntab_frame f;

	hand_table(&h);
	REQUIRE(gopclntab__new(h.b, h.size, 0, &tab) == 0);
	CHECK_INT(gopclntab__version(tab), ==, 118);
	CHECK_INT(gopclntab__func_count(tab), ==, 2);
	CHECK_INT(gopclntab__lookup(tab, 0xfff, &f), ==, -ENOENT);
	CHECK_INT(gopclntab__lookup(tab, 0x1080, &f), ==, -ENOENT);
	REQUIRE(gopclntab__lookup(tab, 0x1005, &f) == 0);
	CHECK_STR(f.function, "main.a");
	CHECK_STR(f.file, "/src/a.go");
	CHECK_INT(f.line, ==, 10);
	CHECK_U64(f.entry, ==, 0x1000);
	REQUIRE(gopclntab__lookup(tab, 0x1020, &f) == 0);
	CHECK_INT(f.line, ==, 12);
	REQUIRE(gopclntab__lookup(tab, 0x1041, &f) == 0);
	CHECK_STR(f.function, "main.b");
	CHECK(f.file == NULL);
	CHECK_INT(f.line, ==, 10);
	gopclntab__free(tab);
	/* the text start given wins over the header's */
	REQUIRE(gopclntab__new(h.b, h.size, 0x2000, &tab) == 0);
	CHECK_INT(gopclntab__lookup(tab, 0x1005, &f), ==, -ENOENT);
	CHECK_INT(gopclntab__lookup(tab, 0x2005, &f), ==, 0);
	gopclntab__free(tab);
}

static void test_hostile(void)
{
	struct hand_table h;
	struct gopclntab *tab = NULL;
	struct gopclntab_frame f;

	hand_table(&h);
	/* cut anywhere: a header that does not fit is refused, and a table
	 * whose records are cut answers without reading past its end (ASan) */
	for (size_t cut = 0; cut < h.size; cut++) {
		int err = gopclntab__new(h.b, cut, 0, &tab);

		if (err) {
			CHECK_INT(err, ==, -ENOEXEC);
			continue;
		}
		for (uint64_t pc = 0xff0; pc < 0x1090; pc += 3)
			gopclntab__lookup(tab, pc, &f);
		gopclntab__free(tab);
	}
	/* more functions than the table holds */
	put64(h.b + 8, UINT64_MAX / 2);
	CHECK_INT(gopclntab__new(h.b, h.size, 0, &tab), ==, -ENOEXEC);
	hand_table(&h);
	put32(h.b, 0xfffffffbu);
	CHECK_INT(gopclntab__new(h.b, h.size, 0, &tab), ==, -ENOEXEC);
	/* offsets past the end, a pc-value table without its end */
	hand_table(&h);
	put32(h.b + 192 + 24 + 4, 0x7fffffff);
	put32(h.b + 192 + 24 + 24, (uint32_t)(h.size - 160 - 1));
	memset(h.b + h.size - 1, 0x81, 1);
	REQUIRE(gopclntab__new(h.b, h.size, 0, &tab) == 0);
	CHECK_INT(gopclntab__lookup(tab, 0x1005, &f), ==, -ENOENT);
	REQUIRE(gopclntab__lookup(tab, 0x1045, &f) == 0);
	CHECK_STR(f.function, "main.b");
	gopclntab__free(tab);
}

TEST_MAIN(setup, teardown,
	  TEST_CASE(hand_built),
	  TEST_CASE(hostile),
	  TEST_CASE(stripped_names),
	  TEST_CASE(stripped_lines),
	  TEST_CASE(pie),
	  TEST_CASE(symbols_first))
