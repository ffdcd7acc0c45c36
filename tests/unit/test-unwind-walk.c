/* unwinder_walk (bpf/unwinder_walk.h): the walk of a sample sent whole,
 * over a hand-made mapping table, rules and stack: every rule kind in one
 * stack (rsp- and rbp-based CFA, rbp restored, a PLT entry, a signal
 * frame, the outermost frame's END), a JIT frame by frame pointers, and
 * the ways a walk stops (no table, a pc outside the mappings, a read
 * past the copy, a frame-pointer loop, hostile addresses). */
#include <errno.h>
#include <string.h>

#include "bpf/unwinder_walk.h"
#include "common/macros.h"
#include "testing.h"

#define TEXT 0x400000ull  /* the object's mapping, bias 0, table 1 */
#define JIT 0x600000ull   /* anonymous, no table */
#define SP0 0x7ffd1000ull /* the sample's rsp */

#define F_RSP 0x401000ull  /* CFA = rsp + 16, rbp unchanged */
#define F_RBP 0x402000ull  /* CFA = rbp + 16, rbp at CFA - 16 */
#define F_PLT 0x403000ull  /* CFA = rsp + 8 (+ 8 from byte 11 on) */
#define F_SIG 0x404000ull  /* signal trampoline */
#define F_END 0x405000ull  /* _start */
#define F_PUSH 0x406000ull /* CFA = rsp + 16, rbp at CFA - 16 */

static struct proc_unwind table;
static bool have_table = true;

static int test_proc(void *ctx, const struct proc_unwind_key *key, struct proc_unwind *out)
{
	(void)ctx;
	if (!have_table || key->tgid != 42)
		return -ENOENT;
	*out = table;
	return 0;
}

static int test_rule(void *ctx, __u32 table_id, __u64 vaddr, struct unwind_rule *r)
{
	(void)ctx;
	*r = (struct unwind_rule){ 0 };
	if (table_id != 1)
		return -ENOENT;
	switch (vaddr & ~0xfffull) {
	case F_RSP:
		r->cfa_kind = UNWIND_CFA_RSP, r->cfa_offset = 16;
		return 0;
	case F_RBP:
		r->cfa_kind = UNWIND_CFA_RBP, r->cfa_offset = 16;
		r->rbp_kind = UNWIND_RBP_CFA_OFFSET, r->rbp_offset = -16;
		return 0;
	case F_PLT:
		r->cfa_kind = UNWIND_CFA_PLT, r->cfa_offset = 8, r->plt_threshold = 11;
		return 0;
	case F_SIG:
		r->cfa_kind = UNWIND_CFA_SIGNAL;
		return 0;
	case F_END:
		r->cfa_kind = UNWIND_CFA_END;
		return 0;
	case F_PUSH:
		r->cfa_kind = UNWIND_CFA_RSP, r->cfa_offset = 16;
		r->rbp_kind = UNWIND_RBP_CFA_OFFSET, r->rbp_offset = -16;
		return 0;
	default:
		return -ENOENT;
	}
}

static const struct unwind_walk_source src = { test_proc, test_rule, NULL };

static void setup_table(void)
{
	memset(&table, 0, sizeof(table));
	table.count = 2;
	table.maps[0] = (struct proc_map_entry){ .start = TEXT, .end = TEXT + 0x100000,
						 .table_id = 1 };
	table.maps[1] = (struct proc_map_entry){ .start = JIT, .end = JIT + 0x10000 };
	table.start[0] = TEXT;
	table.start[1] = JIT;
	for (unsigned i = 2; i < PROFILE_PROC_MAPS_MAX; i++)
		table.start[i] = table.maps[i].start = table.maps[i].end = PROFILE_PROC_MAP_PAD;
	have_table = true;
}

static void put(struct deferred_sample *d, __u64 addr, __u64 v)
{
	memcpy(d->stack + (addr - d->sp), &v, 8);
}

/* leaf F_RSP <- F_RBP <- F_PLT (at byte 12: 8 more) <- JIT (frame
 * pointers) <- F_PUSH <- F_SIG, which interrupted F_END, the outermost. */
static void build_stack(struct deferred_sample *d)
{
	__u64 cfa1, cfa2, cfa3, jit_bp, cfa5, sig_sp, sig_cfa = SP0 + 0x800;

	memset(d, 0, sizeof(*d));
	d->key.tgid = 42;
	d->ip = F_RSP + 0x10;
	d->sp = SP0;
	d->stack_len = DEFER_STACK_BYTES;
	/* F_RSP: CFA = sp + 16, ra at CFA - 8 */
	cfa1 = SP0 + 16;
	put(d, cfa1 - 8, F_RBP + 0x21);
	/* F_RBP: CFA = rbp + 16: rbp at the leaf must point 16 below */
	cfa2 = SP0 + 0x100;
	d->bp = cfa2 - 16;
	put(d, cfa2 - 8, F_PLT + 12 + 1); /* a return address: pc - 1 is byte 12 */
	put(d, cfa2 - 16, 0x7777);        /* the caller's rbp */
	/* F_PLT at byte 12: CFA = sp + 8 + 8 */
	cfa3 = cfa2 + 16;
	jit_bp = cfa3 + 0x40;
	put(d, cfa3 - 8, JIT + 0x55);
	/* JIT, by frame pointers from rbp: the PLT step left rbp at 0x7777,
	 * so make the F_RBP frame restore the JIT frame's rbp instead */
	put(d, cfa2 - 16, jit_bp);
	put(d, jit_bp, 0x1234);           /* saved rbp */
	put(d, jit_bp + 8, F_PUSH + 0x31); /* ra */
	/* F_PUSH: CFA = rsp + 16 (rsp = jit_bp + 16), rbp at CFA - 16 */
	cfa5 = jit_bp + 16 + 16;
	put(d, cfa5 - 8, F_SIG + 0x1); /* the trampoline: its pc - 1 is in it */
	put(d, cfa5 - 16, 0x5555);
	/* F_SIG at rsp = cfa5: the interrupted registers */
	sig_sp = cfa5;
	put(d, sig_sp + SIGFRAME_BP, 0x9999);
	put(d, sig_sp + SIGFRAME_SP, sig_cfa);
	put(d, sig_sp + SIGFRAME_IP, F_END + 0x5);
}

static void test_whole_stack(void)
{
	static struct deferred_sample d;
	struct unwind_walk r;
	const __u64 want[] = { F_RSP + 0x10, F_RBP + 0x21, F_PLT + 13, JIT + 0x55, F_PUSH + 0x31,
			       F_SIG + 0x1, F_END + 0x5 };

	setup_table();
	build_stack(&d);
	CHECK_INT(unwinder_walk(&src, &d, &r), ==, 0);
	CHECK_INT(r.n, ==, (size_t)ARRAY_SIZE(want));
	for (size_t i = 0; i < (size_t)ARRAY_SIZE(want) && i < r.n; i++)
		CHECK_U64(r.ips[i], ==, want[i]);
	CHECK(r.used_fp);    /* the JIT frame */
	CHECK(!r.uncovered); /* every pc in a mapping */
}

static void test_stops(void)
{
	static struct deferred_sample d;
	struct unwind_walk r;

	setup_table();
	/* no mapping table: nothing walked */
	build_stack(&d);
	have_table = false;
	CHECK_INT(unwinder_walk(&src, &d, &r), ==, -ENOENT);
	CHECK_INT(r.n, ==, 0);
	have_table = true;

	/* the copy ends before the PLT frame's return address */
	build_stack(&d);
	d.stack_len = 0x100 + 8;
	CHECK_INT(unwinder_walk(&src, &d, &r), ==, -ERANGE);
	CHECK_INT(r.n, ==, 3);

	/* a leaf outside every mapping: code mapped since the table */
	build_stack(&d);
	d.ip = 0x900000;
	d.bp = 0;
	CHECK_INT(unwinder_walk(&src, &d, &r), ==, -ERANGE);
	CHECK_INT(r.n, ==, 1);
	CHECK(r.uncovered);

	/* a frame-pointer loop in JIT code: rbp below rsp ends it */
	build_stack(&d);
	d.ip = JIT + 1;
	d.bp = SP0 + 0x200;
	put(&d, SP0 + 0x200, SP0 + 0x200);
	put(&d, SP0 + 0x208, JIT + 2);
	CHECK_INT(unwinder_walk(&src, &d, &r), ==, -ERANGE);
	CHECK_INT(r.n, ==, 2);

	/* an endless chain of frames ends at the depth limit */
	build_stack(&d);
	d.ip = JIT + 1;
	d.bp = SP0 + 0x200;
	for (__u64 bp = d.bp; bp + 24 <= SP0 + DEFER_STACK_BYTES; bp += 16) {
		put(&d, bp, bp + 16);
		put(&d, bp + 8, JIT + 2);
	}
	CHECK_INT(unwinder_walk(&src, &d, &r), ==, -ERANGE);
	CHECK_INT(r.n, ==, PROFILE_MAX_DEPTH);

	/* a stack_len past the copy is the copy's size */
	build_stack(&d);
	d.stack_len = 0xffffffffu;
	CHECK_INT(unwinder_walk(&src, &d, &r), ==, 0);
}

static void test_hostile_addresses(void)
{
	static struct deferred_sample d;
	struct unwind_walk r;
	const __u64 bad[] = { 0, 8, SP0 - 8, SP0 + DEFER_STACK_BYTES - 4, ~0ull, ~0ull - 7,
			      1ull << 63, SP0 + DEFER_STACK_BYTES };

	setup_table();
	for (size_t i = 0; i < (size_t)ARRAY_SIZE(bad); i++) {
		/* an rbp-based CFA, and a frame-pointer step, at each */
		build_stack(&d);
		d.ip = F_RBP + 1;
		d.bp = bad[i];
		CHECK_INT(unwinder_walk(&src, &d, &r), ==, -ERANGE);
		CHECK_INT(r.n, ==, 1);
		d.ip = JIT + 1;
		CHECK_INT(unwinder_walk(&src, &d, &r), ==, -ERANGE);
		CHECK_INT(r.n, ==, 1);
	}
	/* a table whose count is past the array: searched within it */
	build_stack(&d);
	table.count = 0xffffffffu;
	CHECK_INT(unwinder_walk(&src, &d, &r), ==, 0);
}

TEST_MAIN(NULL, NULL,
	  TEST_CASE(whole_stack),
	  TEST_CASE(stops),
	  TEST_CASE(hostile_addresses))
