#include "testing.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <link.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sym-child.h"
#include "symbolize/elf_object.h"
#include "symbolize/procmaps.h"
#include "symbolize/vdso.h"

static const char *nopie_exe, *stripped_exe, *debug_root, *debuglink_exe, *source;
static int leaf_line, outer_line;
static char tmpdir[] = "/tmp/brasa-elf-XXXXXX";

static struct elf_object *open_path(const char *path, const struct elf_object_opts *opts)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct elf_object *obj = NULL;
	int err;

	if (fd < 0)
		return NULL;
	err = elf_object__open_fd(fd, opts, &obj);
	errno = -err; /* what the malformed cases check */
	close(fd); /* the object must not need it any more */
	return obj;
}

/* A running child's address -> the ELF vaddr, through its maps. */
static int child_vaddr(const struct sym_child *c, const struct elf_object *obj,
		       uint64_t addr, uint64_t *vaddr)
{
	struct procmaps *maps = NULL;
	const struct procmaps_entry *e;
	int err;

	if (procmaps__read("/proc", c->pid, &maps))
		return -1;
	e = procmaps__find(maps, addr);
	err = e ? elf_object__vaddr(obj, e->start, e->offset, addr, vaddr) : -1;
	procmaps__free(maps);
	return err;
}

/* Checks the fixture's outer function and its inlined call at
 * (outer, recorded) ELF vaddrs. */
static void check_fixture_symbols(struct elf_object *obj, uint64_t outer,
				  uint64_t recorded, bool want_lines)
{
	struct sym_line lines[8];
	int n;

	memset(lines, 0, sizeof(lines));
	n = elf_object__symbolize(obj, outer, true, lines, 8);
	CHECK_INT(n, ==, 1);
	CHECK_STR(lines[0].function, "sym_outer");
	CHECK_U64(lines[0].sym_offset, ==, 0);
	if (want_lines) {
		CHECK(test_ends_with(lines[0].file, "tests/unit/fixtures/sym-target.c"));
		CHECK_INT(lines[0].line, >, 0);
	}

	/* a return address points after the call: step back into it */
	memset(lines, 0, sizeof(lines));
	n = elf_object__symbolize(obj, recorded - 1, true, lines, 8);
	if (!want_lines) {
		CHECK_INT(n, ==, 1);
		CHECK_STR(lines[0].function, "sym_outer");
		return;
	}
	CHECK_INT(n, ==, 2);
	CHECK_STR(lines[0].function, "sym_inlined_leaf");
	CHECK(test_ends_with(lines[0].file, "sym-target.c"));
	CHECK_INT(lines[0].line, ==, leaf_line);
	CHECK_STR(lines[1].function, "sym_outer");
	CHECK(test_ends_with(lines[1].file, "sym-target.c"));
	CHECK_INT(lines[1].line, ==, outer_line);
	CHECK_U64(lines[1].sym_offset, >, 0);

	/* the cache answers the same, and a short buffer keeps the real
	 * function as its last entry */
	n = elf_object__symbolize(obj, recorded - 1, true, lines, 8);
	CHECK_INT(n, ==, 2);
	CHECK_STR(lines[0].function, "sym_inlined_leaf");
	n = elf_object__symbolize(obj, recorded - 1, true, lines, 1);
	CHECK_INT(n, ==, 1);
	CHECK_STR(lines[0].function, "sym_outer");
	CHECK_INT(lines[0].line, ==, outer_line);
	CHECK_INT(elf_object__symbolize(obj, recorded - 1, true, lines, 0), ==, 0);
}

static void test_nopie(void)
{
	struct sym_child c;
	struct elf_object *obj;
	uint64_t outer, recorded, vaddr = 0;

	REQUIRE(sym_child__start(&c, nopie_exe, NULL) == 0);
	outer = sym_child__get(&c, "outer");
	recorded = sym_child__get(&c, "recorded");
	obj = open_path(nopie_exe, NULL);
	REQUIRE(obj);
	CHECK_INT(strlen(elf_object__build_id(obj)), ==, 40);
	CHECK_INT(strspn(elf_object__build_id(obj), "0123456789abcdef"), ==, 40);
	CHECK(elf_object__has_symbols(obj));
	CHECK(elf_object__has_lines(obj));
	CHECK(elf_object__has_inlines(obj));
	/* symbols are read when the object is loaded */
	CHECK_INT(elf_object__symbol_count(obj), >, 2);
	/* non-PIE: process addresses are ELF addresses */
	CHECK_INT(child_vaddr(&c, obj, outer, &vaddr), ==, 0);
	CHECK_U64(vaddr, ==, outer);
	check_fixture_symbols(obj, outer, recorded, true);
	CHECK_INT(elf_object__symbol_count(obj), >, 2);
	CHECK_INT(elf_object__vaddr(obj, 0x400000, 0, 0x300000, &vaddr), ==, -ENOENT);
	CHECK_INT(elf_object__vaddr(obj, 0x400000, 0, 0x40000000, &vaddr), ==, -ENOENT);
	elf_object__free(obj);
	CHECK_INT(sym_child__finish(&c), ==, 0);
}

static void test_build_id_debug(void)
{
	struct elf_object_opts opts = { .debug_root = debug_root };
	struct sym_child c;
	struct elf_object *obj, *bare;
	uint64_t outer = 0, recorded = 0;
	struct sym_line lines[4];

	REQUIRE(sym_child__start(&c, stripped_exe, NULL) == 0);
	obj = open_path(stripped_exe, &opts);
	REQUIRE(obj);
	bare = open_path(stripped_exe, NULL);
	REQUIRE(bare);
	CHECK(elf_object__has_lines(obj));
	CHECK(!elf_object__has_lines(bare));
	/* PIE: the vaddr is far below the runtime address */
	CHECK_INT(child_vaddr(&c, obj, sym_child__get(&c, "outer"), &outer), ==, 0);
	CHECK_INT(child_vaddr(&c, obj, sym_child__get(&c, "recorded"), &recorded), ==, 0);
	CHECK_U64(outer, <, sym_child__get(&c, "outer"));
	check_fixture_symbols(obj, outer, recorded, true);
	/* without the debug file, the stripped binary knows nothing */
	CHECK_INT(elf_object__symbolize(bare, outer, true, lines, 4), ==, 0);
	CHECK_STR(elf_object__build_id(obj), elf_object__build_id(bare));
	elf_object__free(obj);
	elf_object__free(bare);
	CHECK_INT(sym_child__finish(&c), ==, 0);
}

static int copy_file(const char *from, const char *to)
{
	char buf[65536];
	ssize_t n;
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	int err = in < 0 || out < 0 ? -1 : 0;

	while (!err && (n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			err = -1;
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return err;
}

static const char *real_debug_copy_path(const char *debugfile)
{
	static char path[600];

	snprintf(path, sizeof(path), "%s.moved", debugfile);
	return path;
}

static void test_debuglink(void)
{
	char abs_path[PATH_MAX];
	struct elf_object_opts opts = { .path = abs_path };
	struct sym_child c;
	struct elf_object *obj;
	uint64_t outer = 0, recorded = 0;
	char exe[256], debugdir[256], debugfile[512], real_debug[512];

	/* .gnu_debuglink is looked up next to the object's absolute path */
	REQUIRE(realpath(debuglink_exe, abs_path));
	REQUIRE(sym_child__start(&c, debuglink_exe, NULL) == 0);
	obj = open_path(debuglink_exe, &opts);
	REQUIRE(obj);
	CHECK_STR(elf_object__build_id(obj), "");
	CHECK(elf_object__has_lines(obj));
	CHECK_INT(child_vaddr(&c, obj, sym_child__get(&c, "outer"), &outer), ==, 0);
	CHECK_INT(child_vaddr(&c, obj, sym_child__get(&c, "recorded"), &recorded), ==, 0);
	check_fixture_symbols(obj, outer, recorded, true);
	elf_object__free(obj);
	CHECK_INT(sym_child__finish(&c), ==, 0);

	/* A copy elsewhere whose .debug/ holds the wrong file: the CRC must
	 * reject it; with the right file it is found again. */
	snprintf(exe, sizeof(exe), "%s/sym-target-debuglink", tmpdir);
	snprintf(debugdir, sizeof(debugdir), "%s/.debug", tmpdir);
	snprintf(debugfile, sizeof(debugfile), "%s/sym-target-debuglink.debug", debugdir);
	snprintf(real_debug, sizeof(real_debug), "%.*s/.debug/sym-target-debuglink.debug",
		 (int)(strrchr(debuglink_exe, '/') - debuglink_exe), debuglink_exe);
	REQUIRE(copy_file(debuglink_exe, exe) == 0);
	REQUIRE(mkdir(debugdir, 0755) == 0);
	REQUIRE(copy_file(nopie_exe, debugfile) == 0);
	opts.path = exe;
	obj = open_path(exe, &opts);
	REQUIRE(obj);
	CHECK(!elf_object__has_lines(obj));
	elf_object__free(obj);
	REQUIRE(copy_file(real_debug, debugfile) == 0);
	obj = open_path(exe, &opts);
	REQUIRE(obj);
	CHECK(elf_object__has_lines(obj));
	elf_object__free(obj);
	/* the same, seen through a process's root (a container's view) */
	struct proc_access pa;
	REQUIRE(proc_access__open_dir(tmpdir, &pa) == 0);
	opts = (struct elf_object_opts){ .path = "/sym-target-debuglink", .access = &pa };
	/* debuglink dir is "/" + .debug under the root */
	obj = open_path(exe, &opts);
	REQUIRE(obj);
	CHECK(elf_object__has_lines(obj));
	elf_object__free(obj);
	/* a debug file only its owner may read names nothing for others */
	REQUIRE(chmod(debugfile, 0600) == 0);
	obj = open_path(exe, &opts);
	REQUIRE(obj);
	CHECK(!elf_object__has_lines(obj));
	elf_object__free(obj);
	/* a symlink in its place is not followed */
	REQUIRE(rename(debugfile, real_debug_copy_path(debugfile)) == 0);
	REQUIRE(symlink(real_debug, debugfile) == 0);
	obj = open_path(exe, &opts);
	REQUIRE(obj);
	CHECK(!elf_object__has_lines(obj));
	elf_object__free(obj);
	unlink(real_debug_copy_path(debugfile));
	proc_access__release(&pa);
	unlink(debugfile);
	rmdir(debugdir);
	unlink(exe);
}

static void write_bytes(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	REQUIRE(fd >= 0);
	REQUIRE(write(fd, p, n) == (ssize_t)n);
	close(fd);
}

static void test_malformed(void)
{
	char path[256];
	static uint8_t image[1 << 20];
	struct elf_object *obj;
	struct sym_line lines[4];
	ssize_t size;
	int fd;

	snprintf(path, sizeof(path), "%s/bad", tmpdir);

	fd = open(nopie_exe, O_RDONLY);
	REQUIRE(fd >= 0);
	size = read(fd, image, sizeof(image));
	close(fd);
	REQUIRE(size > 4096);

	write_bytes(path, "", 0);
	errno = 0;
	CHECK(open_path(path, NULL) == NULL);
	CHECK_INT(errno, ==, ENOEXEC);

	write_bytes(path, "this is not an ELF file at all, just text\n", 42);
	errno = 0;
	CHECK(open_path(path, NULL) == NULL);
	CHECK_INT(errno, ==, ENOEXEC);

	/* header only, program headers cut off */
	write_bytes(path, image, 100);
	errno = 0;
	CHECK(open_path(path, NULL) == NULL);
	CHECK_INT(errno, ==, ENOEXEC);

	/* random bytes behind a valid ELF magic */
	srand(7);
	for (int round = 0; round < 200; round++) {
		uint8_t junk[2048];

		for (size_t i = 0; i < sizeof(junk); i++)
			junk[i] = (uint8_t)rand();
		memcpy(junk, image, round % 2 ? 64 : 16);
		write_bytes(path, junk, sizeof(junk));
		obj = open_path(path, NULL);
		if (obj) {
			for (uint64_t a = 0; a < 0x2000; a += 0x101)
				elf_object__symbolize(obj, a, true, lines, 4);
			elf_object__free(obj);
		}
	}

	/* cut in half: section headers and DWARF gone; either refused or
	 * harmless */
	for (ssize_t cut = size / 2; cut < size; cut += size / 7) {
		write_bytes(path, image, (size_t)cut);
		obj = open_path(path, NULL);
		if (obj) {
			for (uint64_t a = 0x401000; a < 0x402000; a += 0x10)
				elf_object__symbolize(obj, a, true, lines, 4);
			elf_object__free(obj);
		}
	}
	unlink(path);
	elf_object__free(NULL);
}

/* __vdso_clock_gettime's address, found independently with libelf. */
static uint64_t vdso_symbol_value(const char *want)
{
	const ElfW(Ehdr) *ehdr = (const ElfW(Ehdr) *)getauxval(AT_SYSINFO_EHDR);
	size_t size = ehdr->e_shoff + (size_t)ehdr->e_shnum * ehdr->e_shentsize;
	char *copy = malloc(size);
	Elf *elf;
	Elf_Scn *scn = NULL;
	uint64_t value = 0;

	memcpy(copy, ehdr, size);
	elf_version(EV_CURRENT);
	elf = elf_memory(copy, size);
	while (elf && (scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *data;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNSYM)
			continue;
		data = elf_getdata(scn, NULL);
		for (size_t i = 0; data && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym sym;

			if (gelf_getsym(data, (int)i, &sym) &&
			    strcmp(elf_strptr(elf, sh.sh_link, sym.st_name), want) == 0)
				value = sym.st_value;
		}
	}
	elf_end(elf);
	free(copy);
	return value;
}

static void test_vdso(void)
{
	struct elf_object *obj = NULL;
	int err = vdso__open(&obj);
	struct sym_line lines[4];
	uint64_t value;
	int n;

	/* no vdso under valgrind, for one */
	if (!getauxval(AT_SYSINFO_EHDR)) {
		CHECK_INT(err, ==, -ENOENT);
		CHECK(obj == NULL);
		return;
	}
	CHECK_INT(err, ==, 0);
	value = vdso_symbol_value("__vdso_clock_gettime");
	REQUIRE(obj);
	REQUIRE(value != 0);
	CHECK(elf_object__has_symbols(obj));
	n = elf_object__symbolize(obj, value + 4, true, lines, 4);
	CHECK_INT(n, ==, 1);
	/* the kernel exports it under both names; either is right */
	CHECK(lines[0].function && strstr(lines[0].function, "clock_gettime"));
	CHECK_U64(lines[0].sym_offset, ==, 4);
	elf_object__free(obj);
}

static void setup(void)
{
	TEST_ARGS("NOPIE STRIPPED DEBUG_ROOT DEBUGLINK SOURCE", &nopie_exe, &stripped_exe,
		  &debug_root, &debuglink_exe, &source);
	REQUIRE(sym_target_lines(source, &leaf_line, &outer_line) == 0);
	REQUIRE(mkdtemp(tmpdir));
}

static void teardown(void)
{
	rmdir(tmpdir);
}

TEST_MAIN(setup, teardown,
	  TEST_CASE(nopie),
	  TEST_CASE(build_id_debug),
	  TEST_CASE(debuglink),
	  TEST_CASE(malformed),
	  TEST_CASE(vdso))
