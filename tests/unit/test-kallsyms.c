#include "testing.h"

#include <errno.h>

#include "symbolize/kallsyms.h"
#include "symbolize/symbolizer.h"

static const char *fixture, *zero_fixture;

static void test_lookup(void)
{
	struct kallsyms *ks = NULL;
	struct kallsyms_sym sym;

	REQUIRE(kallsyms__load(fixture, &ks) == 0);
	/* text symbols only: A, D and b lines dropped, aliases merged */
	CHECK_INT(kallsyms__count(ks), ==, 9);

	CHECK_INT(kallsyms__lookup(ks, 0xffffffff81000010, &sym), ==, 0);
	/* global beats local at one address; file order breaks ties */
	CHECK_STR(sym.name, "_stext");
	CHECK_U64(sym.addr, ==, 0xffffffff81000000);
	CHECK(sym.module == NULL);

	CHECK_INT(kallsyms__lookup(ks, 0xffffffff81001000, &sym), ==, 0);
	CHECK_STR(sym.name, "do_one_initcall");
	CHECK_INT(kallsyms__lookup(ks, 0xffffffff810011ff, &sym), ==, 0);
	CHECK_STR(sym.name, "do_one_initcall");
	CHECK_INT(kallsyms__lookup(ks, 0xffffffff81001234, &sym), ==, 0);
	CHECK_STR(sym.name, "local_helper");
	CHECK_INT(kallsyms__lookup(ks, 0xffffffff81001301, &sym), ==, 0);
	CHECK_STR(sym.name, "weak_default");
	/* out of file order, still sorted into place */
	CHECK_INT(kallsyms__lookup(ks, 0xffffffff81001f08, &sym), ==, 0);
	CHECK_STR(sym.name, "unsorted_in_file");
	CHECK_INT(kallsyms__lookup(ks, 0xffffffff81002004, &sym), ==, 0);
	CHECK_STR(sym.name, "schedule");

	CHECK_INT(kallsyms__lookup(ks, 0xffffffffc0a01104, &sym), ==, 0);
	CHECK_STR(sym.name, "nft_register");
	CHECK_STR(sym.module, "nf_tables");
	CHECK_INT(kallsyms__lookup(ks, 0xffffffffc0b02010, &sym), ==, 0);
	CHECK_STR(sym.name, "ext4_lookup");
	CHECK_STR(sym.module, "ext4");

	/* before the first symbol, and far past a region's last symbol */
	CHECK_INT(kallsyms__lookup(ks, 0xffffffff80000000, &sym), ==, -ENOENT);
	CHECK_INT(kallsyms__lookup(ks, 0xffffffffa0000000, &sym), ==, -ENOENT);
	CHECK_INT(kallsyms__lookup(NULL, 0xffffffff81000000, &sym), ==, -ENOENT);
	kallsyms__free(ks);
	kallsyms__free(NULL);
}

static void test_errors(void)
{
	static const char *bad[] = {
		"ffffffff81000000 T\n",
		"ffffffff81000000  T foo\n",
		"ffffffff81000000 T foo bar\n",
		"zzzz T foo\n",
		"10000000000000000 T foo\n",
		"ffffffff81000000 T foo\t[mod\n",
		"ffffffff81000000 T foo\tmod\n",
		"ffffffff81000000 T \t[mod]\n",
	};
	struct kallsyms *ks = NULL;

	CHECK_INT(kallsyms__load(zero_fixture, &ks), ==, -EPERM);
	CHECK(ks == NULL);
	CHECK_INT(kallsyms__load("/nonexistent/kallsyms", &ks), ==, -ENOENT);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_INT(kallsyms__parse(bad[i], strlen(bad[i]), &ks), ==, -EINVAL);
	CHECK(ks == NULL);
	/* no trailing newline is fine */
	CHECK_INT(kallsyms__parse("ffffffff81000000 T foo", 22, &ks), ==, 0);
	CHECK_INT(kallsyms__count(ks), ==, 1);
	kallsyms__free(ks);
}

static void test_symbolizer_kernel(void)
{
	struct symbolizer_opts opts = { .kallsyms_path = fixture };
	struct symbolizer_stats st;
	struct sym_line lines[4];
	struct symbolizer *s = NULL;

	REQUIRE(symbolizer__new(&opts, &s) == 0);
	CHECK_INT(symbolizer__kernel(s, 0xffffffff81002010, lines, 4), ==, 1);
	CHECK_STR(lines[0].function, "schedule");
	CHECK_U64(lines[0].sym_offset, ==, 0x10);
	CHECK(lines[0].file == NULL);
	CHECK_INT(symbolizer__kernel(s, 0x1000, lines, 4), ==, 0);
	CHECK_INT(symbolizer__load_kernel(s), ==, 0);
	symbolizer__stats(s, &st);
	CHECK_INT(st.kernel_symbols, ==, 9);
	CHECK_INT(st.lookups, ==, 2);
	CHECK_INT(st.misses, ==, 1);
	symbolizer__free(s);

	opts.kallsyms_path = zero_fixture;
	REQUIRE(symbolizer__new(&opts, &s) == 0);
	CHECK_INT(symbolizer__load_kernel(s), ==, -EPERM);
	CHECK_INT(symbolizer__kernel(s, 0xffffffff81002010, lines, 4), ==, 0);
	CHECK_INT(symbolizer__load_kernel(s), ==, -EPERM);
	symbolizer__free(s);
}

static void setup(void)
{
	TEST_ARGS("KALLSYMS KALLSYMS_ZERO", &fixture, &zero_fixture);
}

TEST_MAIN(setup, NULL,
	  TEST_CASE(lookup),
	  TEST_CASE(errors),
	  TEST_CASE(symbolizer_kernel))
