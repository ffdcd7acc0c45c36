/* go_rows on real Go binaries: a Go program built here with the installed
 * Go, with DWARF and stripped (-ldflags='-s -w'); the Go rows of the
 * stripped build against the CFA of the unstripped build's .debug_frame at
 * every pc both cover; the stack-switching functions' rules; the merge
 * with .debug_frame (CFI wins, Go adds rbp and the switches); bounds.
 *
 * The same agreement for a cgo program (external link: C code before the
 * Go code).
 *
 *   test-go-rows GO_SOURCE CGO_SOURCE   (exits 77 without a `go` command)
 */
#include <errno.h>
#include <fcntl.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/macros.h"
#include "unwind/go_rows.h"
#include "go_build.h"
#include "testing.h"

static const char *go_source, *cgo_source;
static char dir[256];

static void setup(void)
{
	char cmds[1024];

	TEST_ARGS("GO_SOURCE CGO_SOURCE", &go_source, &cgo_source);
	go_build__dir("go-rows", dir, sizeof(dir));
	snprintf(cmds, sizeof(cmds),
		 "go build -o full main.go && go build -ldflags='-s -w' -o stripped main.go && "
		 "mkdir cgo && cp %s cgo/main.go && cd cgo && "
		 "go build -o ../cgo-full main.go && go build -ldflags='-s -w' -o ../cgo-stripped main.go",
		 cgo_source);
	go_build__run(dir, go_source, cmds);
	REQUIRE(elf_version(EV_CURRENT) != EV_NONE);
}

static void teardown(void)
{
	go_build__remove(dir);
}

struct object {
	int fd;
	Elf *elf;
};

static struct object open_object(const char *name)
{
	char path[512];
	struct object o;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	o.fd = open(path, O_RDONLY | O_CLOEXEC);
	REQUIRE(o.fd >= 0);
	o.elf = elf_begin(o.fd, ELF_C_READ_MMAP, NULL);
	REQUIRE(o.elf);
	return o;
}

static void close_object(struct object *o)
{
	elf_end(o->elf);
	close(o->fd);
}

/* The address of a text symbol of the unstripped build (go tool nm). */
static uint64_t symbol(const char *name)
{
	char cmd[1024], line[512], sym[256];
	uint64_t addr = 0, a;
	char type;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "cd %s && GOCACHE=%s/cache go tool nm full", dir, dir);
	f = popen(cmd, "r");
	REQUIRE(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%" SCNx64 " %c %255s", &a, &type, sym) == 3 &&
		    strcmp(sym, name) == 0)
			addr = a;
	pclose(f);
	if (!addr)
		fprintf(stderr, "no symbol %s\n", name);
	REQUIRE(addr);
	return addr;
}

static struct cfi_rows *go_only(const char *name)
{
	struct object o = open_object(name);
	struct cfi_rows *rows = NULL;

	CHECK_INT(go_rows__build(o.elf, NULL, NULL, &rows), ==, 0);
	close_object(&o);
	REQUIRE(rows);
	return rows;
}

/* Every pc of the stripped build's Go rows (CFA = rsp + N) against the
 * unstripped build's .debug_frame, where it has a row. */
static void check_agreement(const char *stripped, const char *unstripped)
{
	struct cfi_rows *go = go_only(stripped), *dwarf = NULL;
	struct object full = open_object(unstripped);
	uint64_t both = 0, agree = 0, go_pcs = 0;
	int shown = 0;

	CHECK_INT(cfi_rows__build(full.elf, NULL, NULL, &dwarf), ==, 0);
	REQUIRE(dwarf);
	for (size_t i = 0; i + 1 < go->count; i++) {
		const struct cfi_row *r = &go->rows[i];

		if (r->rule.cfa_kind != UNWIND_CFA_RSP)
			continue;
		for (uint64_t pc = r->pc; pc < go->rows[i + 1].pc; pc++) {
			const struct cfi_row *d = cfi_rows__find(dwarf, pc);

			go_pcs++;
			if (!d || d->rule.cfa_kind == UNWIND_CFA_NONE)
				continue;
			both++;
			if (d->rule.cfa_kind == UNWIND_CFA_RSP &&
			    d->rule.cfa_offset == r->rule.cfa_offset) {
				agree++;
			} else if (shown++ < 5) {
				char a[64], b[64];

				fprintf(stderr, "pc %#" PRIx64 ": go %s, debug_frame %s\n", pc,
					cfi_rule_format(&r->rule, a, sizeof(a)),
					cfi_rule_format(&d->rule, b, sizeof(b)));
			}
		}
	}
	fprintf(stderr, "%s: Go functions %zu (skipped %zu), prologue saving rbp %zu; pcs with Go "
		"rows %" PRIu64 ", also in .debug_frame %" PRIu64 ", same CFA %" PRIu64
		" (%.4f %%)\n", stripped, go->go_funcs, go->go_funcs_skipped, go->go_bp_saves, go_pcs, both,
		agree, both ? 100.0 * (double)agree / (double)both : 0.0);
	CHECK(go->go_funcs > 1000);
	CHECK_INT(go->go_funcs_skipped, ==, 0);
	CHECK(both > go_pcs * 9 / 10);
	CHECK_U64(agree, ==, both);
	cfi_rows__free(dwarf);
	cfi_rows__free(go);
	close_object(&full);
}

static void test_agrees_with_debug_frame(void)
{
	check_agreement("stripped", "full");
}

/* cgo: the C code's .eh_frame merged, the Go code's rows where
 * .debug_frame has them, at the same addresses */
static void test_cgo_agrees_with_debug_frame(void)
{
	struct object o = open_object("cgo-stripped");
	struct cfi_rows *eh = NULL, *merged = NULL;

	check_agreement("cgo-stripped", "cgo-full");
	CHECK_INT(cfi_rows__build(o.elf, NULL, NULL, &eh), ==, 0);
	REQUIRE(eh);
	CHECK_INT(go_rows__build(o.elf, eh, NULL, &merged), ==, 0);
	REQUIRE(merged);
	/* every .eh_frame row (the C code) is in the merged rows */
	for (size_t i = 0; i < eh->count; i++) {
		const struct cfi_row *m = cfi_rows__find(merged, eh->rows[i].pc);

		if (eh->rows[i].rule.cfa_kind == UNWIND_CFA_NONE)
			continue;
		REQUIRE(m);
		CHECK(memcmp(&m->rule, &eh->rows[i].rule, sizeof(m->rule)) == 0);
	}
	CHECK(merged->go_funcs > 1000);
	cfi_rows__free(merged);
	cfi_rows__free(eh);
	close_object(&o);
}

static void check_kind(const struct cfi_rows *rows, const char *sym, uint64_t off,
		       enum unwind_cfa_kind kind)
{
	uint64_t pc = symbol(sym) + off;
	const struct cfi_row *r = cfi_rows__find(rows, pc);
	char buf[64];

	REQUIRE(r);
	if (r->rule.cfa_kind != kind)
		fprintf(stderr, "%s+%" PRIu64 ": %s\n", sym, off,
			cfi_rule_format(&r->rule, buf, sizeof(buf)));
	CHECK_INT(r->rule.cfa_kind, ==, kind);
}

/* The stack switches: the end of a goroutine's or a thread's stack, and
 * the frame-pointer rule of systemstack and asmcgocall (not of
 * asmcgocall's ABI wrapper, an ordinary function). */
static void check_switches(const struct cfi_rows *rows)
{
	static const char *const ends[] = { "runtime.goexit.abi0", "runtime.mstart.abi0",
					    "runtime.rt0_go.abi0", "runtime.mcall",
					    "runtime.morestack.abi0", "_rt0_amd64" };
	static const char *const fp[] = { "runtime.systemstack.abi0", "runtime.asmcgocall.abi0" };

	for (size_t i = 0; i < ARRAY_SIZE(ends); i++) {
		check_kind(rows, ends[i], 0, UNWIND_CFA_END);
		check_kind(rows, ends[i], 1, UNWIND_CFA_END);
	}
	for (size_t i = 0; i < ARRAY_SIZE(fp); i++) {
		const struct cfi_row *r = cfi_rows__find(rows, symbol(fp[i]) + 8);

		REQUIRE(r);
		CHECK_INT(r->rule.cfa_kind, ==, UNWIND_CFA_RBP);
		CHECK_INT(r->rule.cfa_offset, ==, 16);
		CHECK_INT(r->rule.rbp_kind, ==, UNWIND_RBP_CFA_OFFSET);
		CHECK_INT(r->rule.rbp_offset, ==, -16);
	}
	check_kind(rows, "runtime.asmcgocall", 0, UNWIND_CFA_RSP);
	check_kind(rows, "main.recurseDeep", 0, UNWIND_CFA_RSP);
}

static void test_switches(void)
{
	struct cfi_rows *go = go_only("stripped");

	check_switches(go);
	cfi_rows__free(go);
}

/* main.recurseDeep: SUBQ $N, SP at entry+10, MOVQ BP, N-8(SP) after it
 * (the prologue of the installed Go): rbp unchanged up to the save, then
 * at CFA - 16. */
static void test_rbp_after_prologue(void)
{
	struct cfi_rows *go = go_only("stripped");
	uint64_t entry = symbol("main.recurseDeep");
	const struct cfi_row *r;
	uint64_t pc = entry;

	/* the first row with a frame is the save's instruction */
	while ((r = cfi_rows__find(go, pc)) && r->rule.cfa_offset == 8)
		pc++;
	REQUIRE(r);
	CHECK_INT(r->rule.cfa_kind, ==, UNWIND_CFA_RSP);
	CHECK(r->rule.cfa_offset > 8);
	CHECK_INT(r->rule.rbp_kind, ==, UNWIND_RBP_UNCHANGED);
	r = cfi_rows__find(go, pc + 5);
	CHECK_INT(r->rule.rbp_kind, ==, UNWIND_RBP_CFA_OFFSET);
	CHECK_INT(r->rule.rbp_offset, ==, -16);
	/* nearly every function with a frame saves rbp so (the others:
	 * assembly that makes room without the assembler's prologue) */
	fprintf(stderr, "%zu functions, %zu with a frame, %zu of them save rbp at CFA - 16\n",
		go->go_funcs, go->go_framed, go->go_bp_saves);
	CHECK(go->go_bp_saves >= go->go_framed * 95 / 100);
	cfi_rows__free(go);
}

/* The unstripped build: .debug_frame rows win, with rbp from the Go rows
 * where the CFA agrees, and the switches on top. */
static void test_merge(void)
{
	struct object full = open_object("full");
	struct cfi_rows *dwarf = NULL, *merged = NULL;
	size_t with_rbp = 0;

	CHECK_INT(cfi_rows__build(full.elf, NULL, NULL, &dwarf), ==, 0);
	REQUIRE(dwarf);
	CHECK_INT(go_rows__build(full.elf, dwarf, NULL, &merged), ==, 0);
	REQUIRE(merged);
	check_switches(merged);
	for (size_t i = 0; i < merged->count; i++) {
		const struct cfi_row *m = &merged->rows[i], *d = cfi_rows__find(dwarf, m->pc);

		with_rbp += m->rule.rbp_kind == UNWIND_RBP_CFA_OFFSET;
		if (i + 1 < merged->count)
			CHECK(m->pc < merged->rows[i + 1].pc);
		/* the CFA is .debug_frame's except in the switches */
		if (d && d->rule.cfa_kind == UNWIND_CFA_RSP && m->rule.cfa_kind == UNWIND_CFA_RSP)
			CHECK_INT(m->rule.cfa_offset, ==, d->rule.cfa_offset);
	}
	CHECK_INT(merged->rows[merged->count - 1].rule.cfa_kind, ==, UNWIND_CFA_NONE);
	CHECK(with_rbp > 1000);
	CHECK_U64(merged->fde_count, ==, dwarf->fde_count);
	cfi_rows__free(merged);
	cfi_rows__free(dwarf);
	close_object(&full);
}

/* No .gopclntab: -ENOENT; the budget: -E2BIG and -ETIMEDOUT. */
static void test_bounds(void)
{
	struct object o = open_object("stripped");
	struct cfi_limits tight = { .max_bytes = 4096 };
	struct cfi_limits past = { .deadline_ns = 1 };
	struct cfi_rows *rows = NULL;
	Elf *mem;
	static char not_go[64] = "\177ELF";

	CHECK_INT(go_rows__build(o.elf, NULL, &tight, &rows), ==, -E2BIG);
	CHECK(!rows);
	CHECK_INT(go_rows__build(o.elf, NULL, &past, &rows), ==, -ETIMEDOUT);
	CHECK(!rows);
	CHECK(go_rows__is_go(o.elf));
	mem = elf_memory(not_go, sizeof(not_go));
	CHECK(!go_rows__is_go(mem));
	CHECK(go_rows__build(mem, NULL, NULL, &rows) < 0);
	CHECK(!rows);
	elf_end(mem);
	close_object(&o);
}

TEST_MAIN(setup, teardown,
	  TEST_CASE(agrees_with_debug_frame),
	  TEST_CASE(cgo_agrees_with_debug_frame),
	  TEST_CASE(switches),
	  TEST_CASE(rbp_after_prologue),
	  TEST_CASE(merge),
	  TEST_CASE(bounds))
