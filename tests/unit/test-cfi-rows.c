/* Unit tests of cfi_rows on the unwind fixtures (tests/unit/fixtures/
 * unwind-target.c, unwind-lib.c) and on broken input.
 *
 *   test-cfi-rows NOFP FP DBGFRAME DBGFRAME_DEBUG LIB LIB_IBT CRAFTED_DIR
 *
 * CRAFTED_DIR holds the crafted objects of tests/fuzz/make-cfi-inputs.py
 * (the fuzz-unwind corpus), whose CFI once took seconds and hundreds of
 * MB to walk.
 */
#include "testing.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/macros.h"
#include "unwind/cfi_rows.h"

#define LIBC "/usr/lib/x86_64-linux-gnu/libc.so.6"
/* where make-cfi-inputs.py puts the crafted objects' code */
#define CRAFTED_TEXT 0x401000

static const char *nofp_path, *fp_path, *dbgframe_path, *dbgframe_debug_path,
	*lib_path, *lib_ibt_path, *crafted_dir;

/* Symbol value by name from a file's .symtab (the tests' own reader, so
 * the code under test is not checked against itself). */
static uint64_t symbol(const char *path, const char *name)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	Elf *elf;
	Elf_Scn *scn = NULL;
	uint64_t value = 0;

	REQUIRE(fd >= 0);
	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ, NULL);
	REQUIRE(elf);
	while ((scn = elf_nextscn(elf, scn)) && !value) {
		GElf_Shdr sh;
		Elf_Data *data;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB)
			continue;
		data = elf_getdata(scn, NULL);
		for (size_t i = 0; data && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym sym;
			const char *s;

			if (!gelf_getsym(data, (int)i, &sym))
				break;
			s = elf_strptr(elf, sh.sh_link, sym.st_name);
			if (s && strcmp(s, name) == 0 && sym.st_value) {
				value = sym.st_value;
				break;
			}
		}
	}
	elf_end(elf);
	if (!value)
		fprintf(stderr, "symbol %s not found in %s\n", name, path);
	REQUIRE(value);
	return value;
}

static struct cfi_rows *build_path_limits(const char *path, const char *debug_path,
					   const struct cfi_limits *limits, int *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	_cleanup_close_ int debug_fd = -1;
	struct cfi_rows *rows = NULL;

	REQUIRE(fd >= 0);
	if (debug_path) {
		debug_fd = open(debug_path, O_RDONLY | O_CLOEXEC);
		REQUIRE(debug_fd >= 0);
	}
	*err = cfi_rows__build_fd(fd, debug_fd, limits, &rows);
	return rows;
}

static struct cfi_rows *build_path(const char *path, const char *debug_path, int *err)
{
	return build_path_limits(path, debug_path, NULL, err);
}

static const char *rule_at(const struct cfi_rows *rows, uint64_t pc, char *buf, size_t size)
{
	const struct cfi_row *row = cfi_rows__find(rows, pc);

	if (!row)
		return "(before first row)";
	return cfi_rule_format(&row->rule, buf, size);
}

#define CHECK_RULE(rows, pc, expected)                                        \
	do {                                                                  \
		char _buf[64];                                                \
		CHECK_STR(rule_at(rows, pc, _buf, sizeof(_buf)), expected);   \
	} while (0)

/* Invariants every successful build must hold. */
static void check_shape(const struct cfi_rows *rows)
{
	bool sorted = true, inside = true;

	REQUIRE(rows->count >= 2);
	for (size_t i = 0; i < rows->count; i++) {
		if (i && rows->rows[i].pc <= rows->rows[i - 1].pc)
			sorted = false;
		if (rows->rows[i].pc < rows->exec_lo || rows->rows[i].pc > rows->exec_hi)
			inside = false;
	}
	CHECK(sorted);
	CHECK(inside);
	CHECK_INT(rows->rows[rows->count - 1].rule.cfa_kind, ==, UNWIND_CFA_NONE);
}

/* Does any row in [lo, hi) have this rule text? */
static bool some_row(const struct cfi_rows *rows, uint64_t lo, uint64_t hi,
		     const char *expected)
{
	for (size_t i = 0; i < rows->count; i++) {
		char buf[64];

		if (rows->rows[i].pc >= lo && rows->rows[i].pc < hi &&
		    strcmp(cfi_rule_format(&rows->rows[i].rule, buf, sizeof(buf)),
			   expected) == 0)
			return true;
	}
	return false;
}

static void test_nofp(void)
{
	/* hand-written CFI: the rule at known byte offsets of each function */
	static const struct {
		const char *fn;
		int offset;
		const char *rule;
	} asm_rows[] = {
		{ "unw_asm_signal", 0, "signal" },
		{ "unw_asm_signal", 1, "signal" },
		{ "unw_asm_nocfi", 0, "nocfi" },
		{ "unw_asm_nocfi", 1, "nocfi" },
		{ "unw_asm_nocfi", 2, "nocfi" },
		{ "unw_asm_nocfi", 3, "nocfi" },
		{ "unw_asm_outermost", 0, "end" },
		{ "unw_asm_outermost", 2, "end" },
		{ "unw_asm_cfa_r12", 0, "rsp+8 rbp=u" },
		{ "unw_asm_cfa_r12", 2, "rsp+16 rbp=u" },	/* after push %r12 */
		{ "unw_asm_cfa_r12", 5, "unsupported:cfa-register" },
		{ "unw_asm_cfa_r12", 7, "rsp+8 rbp=u" },
		{ "unw_asm_cfa_expr", 0, "rsp+8 rbp=u" },
		{ "unw_asm_cfa_expr", 1, "unsupported:cfa-expression" },
		{ "unw_asm_rbp_reg", 3, "unsupported:rbp-rule" },
		{ "unw_asm_rbp_reg", 6, "rsp+8 rbp=u" },
		{ "unw_asm_ra_slot", 0, "rsp+8 rbp=u" },
		{ "unw_asm_ra_slot", 1, "unsupported:ra-rule" },
		{ "unw_asm_plt", 0, "plt11+8 rbp=u" },
		{ "unw_asm_plt", 31, "plt11+8 rbp=u" },
	};
	const char *p = nofp_path;
	int err;
	struct cfi_rows *rows = build_path(p, NULL, &err);
	uint64_t a;

	CHECK_INT(err, ==, 0);
	REQUIRE(rows);
	check_shape(rows);
	CHECK_INT(rows->fde_skipped, ==, 0);
	CHECK(rows->fde_count >= 12);

	/* C functions at -O2 without frame pointers */
	CHECK_RULE(rows, symbol(p, "unw_leaf"), "rsp+8 rbp=u");
	a = symbol(p, "unw_alloca");
	CHECK_RULE(rows, a, "rsp+8 rbp=u");
	CHECK(some_row(rows, a, symbol(p, "unw_big_frame"), "rbp+16 rbp=c-16"));
	a = symbol(p, "unw_big_frame");
	CHECK(some_row(rows, a, a + 64, "rsp+40016 rbp=u"));

	/* the hand-written CFI */
	for (size_t i = 0; i < ARRAY_SIZE(asm_rows); i++) {
		char buf[64];
		const char *rule = rule_at(rows, symbol(p, asm_rows[i].fn) + asm_rows[i].offset, buf,
					   sizeof(buf));

		if (strcmp(rule, asm_rows[i].rule) != 0)
			fprintf(stderr, "at %s+%d:\n", asm_rows[i].fn, asm_rows[i].offset);
		CHECK_STR(rule, asm_rows[i].rule);
	}
	/* the executable's own .plt (puts, memset...) */
	CHECK(some_row(rows, rows->exec_lo, rows->exec_hi, "plt11+8 rbp=u"));
	/* crt1's _start */
	CHECK(some_row(rows, rows->exec_lo, rows->exec_hi, "end"));
	/* gaps: padding before the first FDE'd function after the asm */
	CHECK(cfi_rows__find(rows, rows->exec_lo - 1) == NULL);
	CHECK_RULE(rows, rows->rows[rows->count - 1].pc + 100, "nocfi");
	cfi_rows__free(rows);
}

static void test_fp(void)
{
	static const char *const fns[] = { "unw_leaf", "unw_alloca", "unw_big_frame",
					   "unw_middle", "main" };
	int err;
	struct cfi_rows *rows = build_path(fp_path, NULL, &err);

	CHECK_INT(err, ==, 0);
	REQUIRE(rows);
	check_shape(rows);
	/* -O0 prologue: push %rbp (1 byte); mov %rsp,%rbp (3 bytes) */
	for (size_t i = 0; i < ARRAY_SIZE(fns); i++) {
		uint64_t a = symbol(fp_path, fns[i]);

		CHECK_RULE(rows, a, "rsp+8 rbp=u");
		CHECK_RULE(rows, a + 1, "rsp+16 rbp=c-16");
		CHECK_RULE(rows, a + 4, "rbp+16 rbp=c-16");
	}
	cfi_rows__free(rows);
}

static void test_debug_frame(void)
{
	uint64_t leaf = symbol(dbgframe_debug_path, "unw_leaf");
	uint64_t sig = symbol(dbgframe_debug_path, "unw_asm_signal");
	struct cfi_rows *rows;
	int err;

	/* stripped, no debug file: crt's .eh_frame only, or nothing */
	rows = build_path(dbgframe_path, NULL, &err);
	CHECK(err == 0 || err == -ENOENT);
	if (rows) {
		const struct cfi_row *row = cfi_rows__find(rows, leaf);

		CHECK(!row || row->rule.cfa_kind == UNWIND_CFA_NONE);
		cfi_rows__free(rows);
	}
	/* with the separate debug file's .debug_frame */
	rows = build_path(dbgframe_path, dbgframe_debug_path, &err);
	CHECK_INT(err, ==, 0);
	REQUIRE(rows);
	check_shape(rows);
	CHECK_RULE(rows, leaf, "rsp+8 rbp=u");
	CHECK_RULE(rows, sig, "signal");
	CHECK_RULE(rows, symbol(dbgframe_debug_path, "unw_asm_outermost"), "end");
	/* rows by source: the debug file's for its functions, the object's
	 * own for crt's, none from a .debug_frame the object lacks; every
	 * row but the gap and end rows has one */
	{
		size_t sourced = 0, unsourced = 0;

		CHECK_INT(rows->rows_by_source[CFI_SOURCE_DEBUG_FILE], >, 0);
		CHECK_INT(rows->rows_by_source[CFI_SOURCE_DEBUG_FRAME], ==, 0);
		for (int k = 0; k < CFI_SOURCE_KINDS; k++)
			sourced += rows->rows_by_source[k];
		for (size_t i = 0; i < rows->count; i++)
			unsourced += rows->rows[i].rule.cfa_kind == UNWIND_CFA_NONE;
		CHECK_INT(sourced, <=, rows->count);
		CHECK_INT(sourced, >=, rows->count - unsourced);
		CHECK_STR(cfi_source_names[CFI_SOURCE_DEBUG_FILE], "debug_file_debug_frame");
	}
	cfi_rows__free(rows);
}

static void test_libs(void)
{
	int err;
	struct cfi_rows *rows = build_path(lib_path, NULL, &err);
	bool ibt_plt = false;

	CHECK_INT(err, ==, 0);
	REQUIRE(rows);
	check_shape(rows);
	CHECK(some_row(rows, rows->exec_lo, rows->exec_hi, "plt11+8 rbp=u"));
	cfi_rows__free(rows);

	rows = build_path(lib_ibt_path, NULL, &err);
	CHECK_INT(err, ==, 0);
	REQUIRE(rows);
	check_shape(rows);
	/* binutils uses 9 for x86-64 lazy IBT PLTs (10 on x32) */
	for (size_t i = 0; i < rows->count; i++)
		if (rows->rows[i].rule.cfa_kind == UNWIND_CFA_PLT &&
		    (rows->rows[i].rule.plt_threshold == 9 ||
		     rows->rows[i].rule.plt_threshold == 10))
			ibt_plt = true;
	CHECK(ibt_plt);
	cfi_rows__free(rows);
}

static void test_format(void)
{
	char buf[64];
	struct unwind_rule r = { .cfa_kind = UNWIND_CFA_RBP, .cfa_offset = 16,
				 .rbp_kind = UNWIND_RBP_CFA_OFFSET, .rbp_offset = -16 };

	CHECK_STR(cfi_rule_format(&r, buf, sizeof(buf)), "rbp+16 rbp=c-16");
	r = (struct unwind_rule){ .cfa_kind = UNWIND_CFA_PLT, .cfa_offset = 8,
				  .plt_threshold = 10 };
	CHECK_STR(cfi_rule_format(&r, buf, sizeof(buf)), "plt10+8 rbp=u");
	r = (struct unwind_rule){ .cfa_kind = UNWIND_CFA_UNSUPPORTED,
				  .reason = UNWIND_REASON_MAX };
	CHECK_STR(cfi_rule_format(&r, buf, sizeof(buf)), "unsupported:?");
	r = (struct unwind_rule){ 0 };
	CHECK_STR(cfi_rule_format(&r, buf, sizeof(buf)), "nocfi");
}

/* A build from memory must fail cleanly or give well-shaped rows. */
static int build_memory(uint8_t *image, size_t size, struct cfi_rows **rows)
{
	Elf *elf = elf_memory((char *)image, size);
	int err;

	if (!elf)
		return -ENOEXEC;
	err = cfi_rows__build(elf, NULL, NULL, rows);
	elf_end(elf);
	return err;
}

static void test_malformed(void)
{
	struct buf file = { 0 };
	struct cfi_rows *rows = NULL;
	uint8_t garbage[4096];
	size_t eh_off = 0, eh_size = 0, ok = 0, failed = 0;
	int err, fd;
	Elf *elf;

	elf_version(EV_CURRENT);
	/* not an ELF file at all */
	for (size_t i = 0; i < sizeof(garbage); i++)
		garbage[i] = (uint8_t)(i * 131 + 7);
	CHECK_INT(build_memory(garbage, sizeof(garbage), &rows), ==, -ENOEXEC);
	CHECK(rows == NULL);
	/* an empty file through the fd path */
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	REQUIRE(fd >= 0);
	CHECK_INT(cfi_rows__build_fd(fd, -1, NULL, &rows), ==, -ENOEXEC);
	close(fd);
	CHECK_INT(cfi_rows__build(NULL, NULL, NULL, &rows), ==, -ENOEXEC);

	REQUIRE(buf_read_file(nofp_path, &file, 64 << 20) == 0);
	/* where .eh_frame is, read independently of the code under test */
	elf = elf_memory((char *)file.data, file.len);
	REQUIRE(elf);
	{
		Elf_Scn *scn = NULL;
		size_t shstrndx;

		REQUIRE(elf_getshdrstrndx(elf, &shstrndx) == 0);
		while ((scn = elf_nextscn(elf, scn))) {
			GElf_Shdr sh;
			const char *name;

			if (!gelf_getshdr(scn, &sh))
				continue;
			name = elf_strptr(elf, shstrndx, sh.sh_name);
			if (name && strcmp(name, ".eh_frame") == 0) {
				eh_off = sh.sh_offset;
				eh_size = sh.sh_size;
			}
		}
	}
	elf_end(elf);
	REQUIRE(eh_size > 64 && eh_off + eh_size <= file.len);

	/* truncated copies */
	for (size_t len = 0; len < file.len; len += len < 256 ? 16 : file.len / 7) {
		_cleanup_free_ uint8_t *copy = malloc(len ? len : 1);

		REQUIRE(copy);
		memcpy(copy, file.data, len);
		err = build_memory(copy, len, &rows);
		CHECK(err <= 0);
		if (err == 0) {
			check_shape(rows);
			cfi_rows__free(rows);
			rows = NULL;
		}
	}
	/* .eh_frame corrupted: each byte flipped in turn, then overwritten
	 * wholesale with a pattern */
	for (size_t i = 0; i < eh_size + 1; i++) {
		_cleanup_free_ uint8_t *copy = malloc(file.len);

		REQUIRE(copy);
		memcpy(copy, file.data, file.len);
		if (i < eh_size)
			copy[eh_off + i] ^= (uint8_t)(0x5a + i);
		else
			for (size_t k = 0; k < eh_size; k++)
				copy[eh_off + k] = (uint8_t)(k * 37);
		err = build_memory(copy, file.len, &rows);
		if (err == 0) {
			check_shape(rows);
			cfi_rows__free(rows);
			rows = NULL;
			ok++;
		} else {
			CHECK(err == -ENOENT || err == -E2BIG || err == -ENOEXEC);
			failed++;
		}
	}
	fprintf(stderr, "corrupted .eh_frame: %zu builds ok, %zu refused\n", ok, failed);
	CHECK(ok + failed == eh_size + 1);
	buf_release(&file);
}

/* The crafted objects: one ordinary FDE at CRAFTED_TEXT (push-like:
 * rsp+16 after a byte) and one whose walk used to cost seconds or
 * hundreds of MB. The pathological FDE is skipped, the rest kept, fast. */
static void test_crafted_skipped(void)
{
	static const char *const names[] = {
		"cfi-quadratic-rows",	/* 34000 rows: 1.6 s before */
		"cfi-huge-register",	/* register 2^22: 66 s and 429 MB before */
		"cfi-deep-remember",	/* 30000 nested remember_state: 1 s before */
		"cfi-long-call",	/* one libdw call copying 20 MB of states */
	};

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		char path[4096], buf[64];
		struct cfi_rows *rows;
		uint64_t t0 = clock__mono_ns(), ms;
		int err;

		snprintf(path, sizeof(path), "%s/%s", crafted_dir, names[i]);
		rows = build_path(path, NULL, &err);
		ms = (clock__mono_ns() - t0) / 1000000;
		fprintf(stderr, "%s: %d in %" PRIu64 " ms, %zu rows, %zu FDEs over the limits,"
			" peak %zu bytes\n", names[i], err, ms, rows ? rows->count : 0,
			rows ? rows->fde_over_limits : 0, rows ? rows->peak_bytes : 0);
		CHECK_INT(err, ==, 0);
		REQUIRE(rows);
		CHECK_INT(ms, <, 1000);
		CHECK_INT(rows->fde_count, ==, 2);
		CHECK_INT(rows->fde_over_limits, ==, 1);
		CHECK_INT(rows->fde_skipped, ==, 1);
		CHECK_INT(rows->peak_bytes, <, 1 << 20);
		check_shape(rows);
		/* the ordinary FDE is there; the pathological one is not */
		CHECK_STR(rule_at(rows, CRAFTED_TEXT, buf, sizeof(buf)), "rsp+8 rbp=u");
		CHECK_STR(rule_at(rows, CRAFTED_TEXT + 1, buf, sizeof(buf)), "rsp+16 rbp=u");
		CHECK_STR(rule_at(rows, CRAFTED_TEXT + 17, buf, sizeof(buf)), "nocfi");
		cfi_rows__free(rows);
	}
}

/* Within every bound, if close to one: kept whole. cfi-remember-kept
 * nests DW_CFA_remember_state 3000 deep (the bound is 4096), which was
 * once counted twice and hidden. */
static void test_crafted_kept(void)
{
	char path[4096], buf[64];
	struct cfi_rows *rows;
	int err;

	snprintf(path, sizeof(path), "%s/cfi-remember-kept", crafted_dir);
	rows = build_path(path, NULL, &err);
	CHECK_INT(err, ==, 0);
	REQUIRE(rows);
	CHECK_INT(rows->fde_count, ==, 2);
	CHECK_INT(rows->fde_over_limits, ==, 0);
	CHECK_INT(rows->fde_skipped, ==, 0);
	check_shape(rows);
	CHECK_STR(rule_at(rows, CRAFTED_TEXT + 1, buf, sizeof(buf)), "rsp+16 rbp=u");
	/* the deep FDE's rows: rbp saved at cfa-16 from its first byte */
	CHECK(strstr(rule_at(rows, CRAFTED_TEXT + 17, buf, sizeof(buf)), "rbp=c-16") != NULL);
	cfi_rows__free(rows);
}

/* Refused fast: FDEs each within the per-FDE bound, together over the
 * whole build's (9 s before); and what fuzz-unwind found against the old
 * code in 4 minutes from the tiny seeds, a CIE naming register 2^28 - 2
 * (60 s and 4 GB before), whose FDEs are all hidden: no CFI left. */
static void test_crafted_refused(void)
{
	static const struct {
		const char *name;
		int err;
	} cases[] = {
		{ "cfi-over-work-budget", -E2BIG },
		{ "fuzzed-oom-register-2g", -ENOENT },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char path[4096];
		struct cfi_rows *rows;
		uint64_t t0 = clock__mono_ns(), ms;
		int err;

		snprintf(path, sizeof(path), "%s/%s", crafted_dir, cases[i].name);
		rows = build_path(path, NULL, &err);
		ms = (clock__mono_ns() - t0) / 1000000;
		fprintf(stderr, "%s: %d in %" PRIu64 " ms\n", cases[i].name, err, ms);
		CHECK_INT(err, ==, cases[i].err);
		CHECK(rows == NULL);
		CHECK_INT(ms, <, 1000);
	}
}

/* After all the crafted objects: the process never held the hundreds of
 * MB (or GB) they once took. */
static void test_crafted_max_rss(void)
{
	struct rusage ru;

	REQUIRE(getrusage(RUSAGE_SELF, &ru) == 0);
	fprintf(stderr, "max RSS after the crafted objects: %ld KiB\n", ru.ru_maxrss);
	CHECK_INT(ru.ru_maxrss, <, 128 * 1024);
}

static bool same_rows(const struct cfi_rows *a, const struct cfi_rows *b)
{
	if (a->count != b->count || a->fde_count != b->fde_count ||
	    a->fde_skipped != b->fde_skipped)
		return false;
	for (size_t i = 0; i < a->count; i++) /* not the struct's padding */
		if (a->rows[i].pc != b->rows[i].pc ||
		    memcmp(&a->rows[i].rule, &b->rows[i].rule, sizeof(a->rows[i].rule)) != 0)
			return false;
	return true;
}

/* Deadline and memory bound, on Debian's libc; a real object within
 * them gives the same rows as with no limits at all. */
static void test_limits(void)
{
	struct cfi_limits limits = { 0 };
	struct cfi_rows *ref, *rows;
	uint64_t t0, ms;
	int err;

	ref = build_path(LIBC, NULL, &err);
	CHECK_INT(err, ==, 0);
	REQUIRE(ref);
	CHECK_INT(ref->fde_over_limits, ==, 0);
	fprintf(stderr, "libc: %zu rows, work %" PRIu64 ", peak %zu bytes\n", ref->count,
		ref->work, ref->peak_bytes);

	/* generous limits: exactly the same rows */
	limits = (struct cfi_limits){ .deadline_ns = clock__mono_ns() + 60 * 1000000000ull,
				      .max_bytes = 1u << 30 };
	rows = build_path_limits(LIBC, NULL, &limits, &err);
	CHECK_INT(err, ==, 0);
	REQUIRE(rows);
	CHECK(same_rows(rows, ref));
	cfi_rows__free(rows);

	/* max_bytes: the peak of the unlimited build is enough, a byte less
	 * is not */
	limits = (struct cfi_limits){ .max_bytes = ref->peak_bytes };
	rows = build_path_limits(LIBC, NULL, &limits, &err);
	CHECK_INT(err, ==, 0);
	CHECK(rows && same_rows(rows, ref));
	cfi_rows__free(rows);
	limits.max_bytes = ref->peak_bytes - 1;
	rows = build_path_limits(LIBC, NULL, &limits, &err);
	CHECK_INT(err, ==, -E2BIG);
	CHECK(rows == NULL);

	/* a deadline already past, and one 1 ms away: libc takes longer */
	limits = (struct cfi_limits){ .deadline_ns = clock__mono_ns() };
	rows = build_path_limits(LIBC, NULL, &limits, &err);
	CHECK_INT(err, ==, -ETIMEDOUT);
	CHECK(rows == NULL);
	t0 = clock__mono_ns();
	limits = (struct cfi_limits){ .deadline_ns = t0 + 1000000 };
	rows = build_path_limits(LIBC, NULL, &limits, &err);
	ms = (clock__mono_ns() - t0) / 1000000;
	fprintf(stderr, "libc with a 1 ms deadline: %d after %" PRIu64 " ms\n", err, ms);
	CHECK_INT(err, ==, -ETIMEDOUT);
	CHECK(rows == NULL);
	CHECK_INT(ms, <, 200);
	cfi_rows__free(ref);
}

/* The crafted objects, then the peak RSS they left: one case, since that
 * peak is the whole process's. */
static void test_crafted(void)
{
	test_crafted_skipped();
	test_crafted_kept();
	test_crafted_refused();
	test_crafted_max_rss();
}

static void setup(void)
{
	TEST_ARGS("NOFP FP DBGFRAME DBGFRAME_DEBUG LIB LIB_IBT CRAFTED_DIR", &nofp_path, &fp_path,
		  &dbgframe_path, &dbgframe_debug_path, &lib_path, &lib_ibt_path, &crafted_dir);
	elf_version(EV_CURRENT);
}

TEST_MAIN(setup, NULL,
	  TEST_CASE(format),
	  TEST_CASE(nofp),
	  TEST_CASE(fp),
	  TEST_CASE(debug_frame),
	  TEST_CASE(libs),
	  TEST_CASE(malformed),
	  TEST_CASE(crafted),
	  TEST_CASE(limits))
