/* Demangled names: libiberty's through demangle.h, Rust names of both
 * schemes against rustfilt's output and c++filt's; a real C++ program's
 * symbols as elf_object names them, against c++filt on the same names. */
#include "testing.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "symbolize/demangle.h"
#include "symbolize/elf_object.h"

static const char *cxx_exe, *plt_exe;

/* c++filt -i (no "implementation details": the Rust hash and v0's crate
 * disambiguators, as rustfilt and perf print them) on one name. */
static char *cxxfilt(const char *name)
{
	char cmd[8192], out[8192];
	FILE *f;

	/* names are [A-Za-z0-9_.$] here: safe between single quotes */
	snprintf(cmd, sizeof(cmd), "c++filt -i '%s'", name);
	f = popen(cmd, "r");
	if (!f)
		return NULL;
	if (!fgets(out, sizeof(out), f))
		out[0] = 0;
	pclose(f);
	out[strcspn(out, "\n")] = 0;
	return strdup(out);
}

static void test_rust_names(void)
{
	/* rustfilt's output for each (rustc-demangle's own test names) */
	static const struct {
		const char *mangled, *want;
	} cases[] = {
		{ "_ZN4test1a2bcE", "test::a::bc" },
		{ "_ZN7inferno5flame3svg17h0123456789abcdefE", "inferno::flame::svg" },
		{ "_ZN71_$LT$Test$u20$$u2b$$u20$$u27$static$u20$as$u20$foo..Bar$LT$Test$GT$$GT$"
		  "3bar17h930b740aba94f2b2E",
		  "<Test + 'static as foo::Bar<Test>>::bar" },
		{ "_ZN4core3ptr85drop_in_place$LT$std..rt..lang_start$LT$$LP$$RP$$GT$..$u7b$$u7b$"
		  "closure$u7d$$u7d$$GT$17h6d3ac2bd5d1b7a51E",
		  "core::ptr::drop_in_place<std::rt::lang_start<()>::{{closure}}>" },
		{ "_RNvC6_123foo3bar", "123foo::bar" },
		{ "_RNCNCNgCs6DXkGYLi8lr_2cc5spawn00B5_", "cc::spawn::{closure#0}::{closure#0}" },
		{ "_RNvMNtCs4Hdh5FPLHJq_7example3fooNtB2_3Foo3new", "<example::foo::Foo>::new" },
		{ "_RINbNbCskIICzLVDPPb_5alloc5alloc8box_freeDINbNiB4_5boxed5FnBoxuEp6OutputuEL_"
		  "ECs1iopQbuBiw2_3std",
		  "alloc::alloc::box_free::<dyn alloc::boxed::FnBox<(), Output = ()>>" },
		{ "_RNvNtCs1234_7mycrate4util9do_things", "mycrate::util::do_things" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		_cleanup_free_ char *got = demangle__name(cases[i].mangled);
		_cleanup_free_ char *filt = cxxfilt(cases[i].mangled);

		CHECK(demangle__is_mangled(cases[i].mangled));
		CHECK_STR(got, cases[i].want);
		CHECK_STR(got, filt);
	}
}

static void test_not_mangled(void)
{
	static const char *const names[] = { "main", "__libc_start_main", "runtime.main",
					     "_Zfoo", "_R", "", "_ZN3fooE_garbage$" };

	CHECK(!demangle__is_mangled(NULL));
	CHECK(!demangle__is_mangled("main"));
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char *got = demangle__name(names[i]);

		if (got)
			fprintf(stderr, "%s demangled to %s\n", names[i], got);
		CHECK(got == NULL);
		CHECK_INT(errno, ==, EINVAL);
		free(got);
	}
}

/* Calls fn for every defined function symbol of path's .symtab. */
static int for_each_function(const char *path, void (*fn)(const char *, uint64_t, void *),
			     void *ctx)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), n = 0;
	Elf *elf;
	Elf_Scn *scn = NULL;

	if (fd < 0)
		return -1;
	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ, NULL);
	while (elf && (scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB)
			continue;
		d = elf_getdata(scn, NULL);
		for (size_t i = 0; d && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym s;

			if (!gelf_getsym(d, (int)i, &s) || GELF_ST_TYPE(s.st_info) != STT_FUNC ||
			    s.st_shndx == SHN_UNDEF || !s.st_value)
				continue;
			fn(elf_strptr(elf, sh.sh_link, s.st_name), s.st_value, ctx);
			n++;
		}
	}
	if (elf)
		elf_end(elf);
	close(fd);
	return n;
}

struct cxx_check {
	struct elf_object *obj;
	bool demangle;
	int mangled, compared;
	bool saw_worker, saw_operator, saw_vector;
};

static void check_cxx_symbol(const char *name, uint64_t addr, void *arg)
{
	struct cxx_check *c = arg;
	struct sym_line lines[4];
	int n;

	if (!demangle__is_mangled(name))
		return;
	c->mangled++;
	n = elf_object__symbolize(c->obj, addr, false, lines, 4);
	CHECK_INT(n, ==, 1);
	if (n != 1)
		return;
	if (!c->demangle) {
		/* an alias at the same address may win: still mangled */
		CHECK(demangle__is_mangled(lines[0].function));
		CHECK(lines[0].system_name == NULL);
		return;
	}
	/* the name kept for the address (C1/C2 constructors share one) is
	 * the system name, and the shown name is c++filt's for it */
	CHECK(lines[0].system_name && demangle__is_mangled(lines[0].system_name));
	if (lines[0].system_name) {
		_cleanup_free_ char *filt = cxxfilt(lines[0].system_name);

		CHECK_STR(lines[0].function, filt);
		c->compared++;
	}
	c->saw_worker |= !strcmp(lines[0].function, "ns::Worker<int>::spin(int)");
	c->saw_operator |=
		!strcmp(lines[0].function, "ns::Point::operator+(ns::Point const&) const");
	c->saw_vector |= strstr(lines[0].function, "ns::count_words(std::vector<") != NULL;
}

static void check_cxx(bool demangle)
{
	struct elf_object_opts opts = { .demangle = demangle };
	int fd = open(cxx_exe, O_RDONLY | O_CLOEXEC);
	struct cxx_check c = { .demangle = demangle };

	REQUIRE(fd >= 0);
	REQUIRE(elf_object__open_fd(fd, &opts, &c.obj) == 0);
	close(fd);
	CHECK(for_each_function(cxx_exe, check_cxx_symbol, &c) > 0);
	fprintf(stderr, "%d mangled function symbols, %d compared with c++filt\n", c.mangled,
		c.compared);
	CHECK(c.mangled >= 6);
	if (demangle) {
		CHECK_INT(c.compared, ==, c.mangled);
		CHECK(c.saw_worker);
		CHECK(c.saw_operator);
		CHECK(c.saw_vector);
	}
	elf_object__free(c.obj);
}

static void test_cxx_object(void)
{
	check_cxx(true);
}

static void test_cxx_object_mangled(void)
{
	check_cxx(false);
}

/* Demangled names take memory, and it is counted. */
static void test_cxx_bytes(void)
{
	struct elf_object_opts on = { .demangle = true }, off = { 0 };
	struct elf_object *a = NULL, *b = NULL;
	int fd = open(cxx_exe, O_RDONLY | O_CLOEXEC);

	REQUIRE(fd >= 0);
	REQUIRE(elf_object__open_fd(fd, &on, &a) == 0);
	REQUIRE(elf_object__open_fd(fd, &off, &b) == 0);
	close(fd);
	CHECK_U64(elf_object__bytes(a), >, elf_object__bytes(b) + 6 * 10);
	elf_object__free(a);
	elf_object__free(b);
}

/* Every <name@plt> label of objdump -d on path names its stub, at its
 * first and last byte; demangled, c++filt's name with "@plt". */
static void check_plt(const char *path, bool demangle, int want_min)
{
	struct elf_object_opts opts = { .demangle = demangle };
	struct elf_object *obj = NULL;
	char cmd[4096], line[4096];
	int fd = open(path, O_RDONLY | O_CLOEXEC), labels = 0;
	FILE *f;

	REQUIRE(fd >= 0);
	REQUIRE(elf_object__open_fd(fd, &opts, &obj) == 0);
	close(fd);
	snprintf(cmd, sizeof(cmd), "objdump -d --no-show-raw-insn '%s'", path);
	f = popen(cmd, "r");
	REQUIRE(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long long addr;
		char name[2048], want[2048];
		struct sym_line lines[2];
		int n;

		/* "0000000000001030 <printf@plt>:" */
		/* PLT0 reads "<printf@plt-0x10>": no stub of its own */
		if (sscanf(line, "%llx <%2047[^>]>:", &addr, name) != 2 ||
		    strlen(name) < 4 || strcmp(name + strlen(name) - 4, "@plt"))
			continue;
		labels++;
		snprintf(want, sizeof(want), "%s", name);
		if (demangle && demangle__is_mangled(name)) {
			_cleanup_free_ char *filt = NULL;

			name[strlen(name) - 4] = 0;
			filt = cxxfilt(name);
			snprintf(want, sizeof(want), "%s@plt", filt ? filt : "");
		}
		for (uint64_t off = 0; off < 8; off += 7) {
			n = elf_object__symbolize(obj, addr + off, false, lines, 2);
			CHECK_INT(n, ==, 1);
			if (n != 1)
				continue;
			if (strcmp(lines[0].function, want))
				fprintf(stderr, "%#llx: %s, objdump: %s\n", addr + off,
					lines[0].function, want);
			CHECK_STR(lines[0].function, want);
			CHECK_U64(lines[0].sym_offset, ==, off);
		}
	}
	pclose(f);
	fprintf(stderr, "%s: %d @plt labels\n", path, labels);
	CHECK_INT(labels, >=, want_min);
	elf_object__free(obj);
}

/* sym-lib-user: printf, fgets, fflush, symlib_function in .plt.sec or
 * .plt, __cxa_finalize in .plt.got; sym-cxx: C++ ones, demangled. */
static void test_plt_names(void)
{
	check_plt(plt_exe, false, 5);
	check_plt(cxx_exe, false, 8);
	check_plt(cxx_exe, true, 8);
}

static void setup(void)
{
	TEST_ARGS("CXX_EXE PLT_EXE", &cxx_exe, &plt_exe);
}

TEST_MAIN(setup, NULL,
	  TEST_CASE(rust_names),
	  TEST_CASE(not_mangled),
	  TEST_CASE(cxx_object),
	  TEST_CASE(cxx_object_mangled),
	  TEST_CASE(cxx_bytes),
	  TEST_CASE(plt_names))
