/* unwind_abi: the unwind-table layout shared by user space (unwind/) and
 * the BPF unwinder. Fixed-width types, no pointers, no vmlinux.h, so the
 * BPF side can include it as is (or move it to bpf/unwind.h verbatim).
 *
 * One unwind rule says how to get from a frame at pc to its caller on
 * x86-64:
 *
 *   CFA    = rsp + cfa_offset                (UNWIND_CFA_RSP)
 *          = rbp + cfa_offset                (UNWIND_CFA_RBP)
 *          = rsp + cfa_offset + ((rip & 15) >= plt_threshold ? 8 : 0)
 *                                            (UNWIND_CFA_PLT: lazy PLT
 *                                             entries push an index; the
 *                                             threshold is 11 for .plt,
 *                                             9 or 10 for IBT PLTs)
 *   ra     = *(CFA - 8)                      (always; anything else is
 *                                             UNWIND_CFA_UNSUPPORTED)
 *   rsp'   = CFA
 *   rbp'   = rbp                             (UNWIND_RBP_UNCHANGED)
 *          = *(CFA + rbp_offset)             (UNWIND_RBP_CFA_OFFSET)
 *
 * and the terminal kinds: UNWIND_CFA_NONE (no CFI covers pc: fall back to
 * frame pointers), UNWIND_CFA_END (return address undefined: outermost
 * frame, e.g. _start — the stack is complete), UNWIND_CFA_SIGNAL (a
 * signal trampoline such as __restore_rt: the caller's registers are in
 * the rt_sigframe's ucontext at rsp) and UNWIND_CFA_UNSUPPORTED, whose
 * `reason` says why so the BPF side can stop and count it.
 *
 * Rules are deduplicated into one system-wide table indexed by a u16
 * rule id (a few thousand distinct rules exist on a whole distribution);
 * rule id 0 is always "no CFI". Per executable, rows are (pc offset from
 * the object's lowest executable vaddr, rule id), sorted, split into
 * fixed-size chunks — see unwind_table.h for the search.
 */
#ifndef BRASA_UNWIND_UNWIND_ABI_H
#define BRASA_UNWIND_UNWIND_ABI_H

#ifndef __VMLINUX_H__ /* user space; BPF gets these from vmlinux.h */
#include <linux/types.h>
#endif

enum unwind_cfa_kind {
	UNWIND_CFA_NONE = 0,
	UNWIND_CFA_RSP = 1,
	UNWIND_CFA_RBP = 2,
	UNWIND_CFA_PLT = 3,
	UNWIND_CFA_END = 4,
	UNWIND_CFA_SIGNAL = 5,
	UNWIND_CFA_UNSUPPORTED = 6,
};

enum unwind_rbp_kind {
	UNWIND_RBP_UNCHANGED = 0, /* same value, or undefined at entry */
	UNWIND_RBP_CFA_OFFSET = 1,
};

/* Why a rule is UNWIND_CFA_UNSUPPORTED (0 for every other kind). */
enum unwind_reason {
	UNWIND_REASON_NONE = 0,
	UNWIND_REASON_CFA_REGISTER = 1, /* CFA based on a register other than rsp/rbp */
	UNWIND_REASON_CFA_EXPRESSION = 2, /* a DWARF expression that is not a PLT one */
	UNWIND_REASON_CFA_OFFSET = 3,	/* CFA offset does not fit s32 */
	UNWIND_REASON_RBP_RULE = 4,	/* rbp in a register or by expression */
	UNWIND_REASON_RBP_OFFSET = 5,	/* rbp slot offset does not fit s16 */
	UNWIND_REASON_RA_RULE = 6,	/* return address not at CFA-8 */
	UNWIND_REASON_CFI_ERROR = 7,	/* libdw could not evaluate the row */
	UNWIND_REASON_RULES_FULL = 8,	/* the global rule table is full */
	UNWIND_REASON_MAX,
};

/* 12 bytes, kept once per distinct rule. The CFA offset is 32 bits:
 * functions with more than 32 KiB of locals exist (glibc has one with
 * rsp+33360), and an s16 there would make them unsupported. */
struct unwind_rule {
	__s32 cfa_offset;
	__s16 rbp_offset;
	__u8 cfa_kind;	/* enum unwind_cfa_kind */
	__u8 rbp_kind;	/* enum unwind_rbp_kind */
	__u8 reason;	/* enum unwind_reason */
	__u8 plt_threshold; /* UNWIND_CFA_PLT only, else 0 */
	__u8 pad[2];	/* always 0 */
};

/* Per executable, three fixed-size kinds of BPF map values, all sorted
 * arrays searched with the same branch-free, fixed-step binary search
 * ("largest i with a[i] <= key", unused slots padded with UNWIND_PC_PAD
 * so every array can be searched at its full power-of-two size):
 *
 *   struct unwind_table_info   one per table (key: table id): the first
 *                              pc of each chunk when there are at most
 *                              UNWIND_INLINE_INDEX chunks, else the first
 *                              pc of each index page
 *   struct unwind_index_page   only for tables of more than
 *                              UNWIND_INLINE_INDEX chunks (key: table id,
 *                              page): first pc of UNWIND_INDEX_PAGE_ENTRIES
 *                              chunks each
 *   struct unwind_chunk        the rows (key: table id, chunk)
 *
 * So a frame costs 2 or 3 map lookups and 4 + (8) + 10 search steps;
 * tables up to UNWIND_INLINE_INDEX * UNWIND_INDEX_PAGE_ENTRIES *
 * UNWIND_CHUNK_ROWS rows (4 M; libLLVM has under 1 M).
 */
#define UNWIND_CHUNK_ROWS_LOG2 10
#define UNWIND_CHUNK_ROWS (1u << UNWIND_CHUNK_ROWS_LOG2)
#define UNWIND_INLINE_INDEX_LOG2 4
#define UNWIND_INLINE_INDEX (1u << UNWIND_INLINE_INDEX_LOG2)
#define UNWIND_INDEX_PAGE_LOG2 8
#define UNWIND_INDEX_PAGE_ENTRIES (1u << UNWIND_INDEX_PAGE_LOG2)
#define UNWIND_TABLE_ROWS_MAX \
	(UNWIND_INLINE_INDEX * UNWIND_INDEX_PAGE_ENTRIES * UNWIND_CHUNK_ROWS)
/* Padding of unused slots: never <= a pc offset, which is always less. */
#define UNWIND_PC_PAD 0xffffffffu
#define UNWIND_RULE_NONE 0	/* rule id of "no CFI here" */
#define UNWIND_RULE_FULL 1	/* rule id of "unsupported: rule table full" */
#define UNWIND_RULES_MAX 65536

struct unwind_table_info {
	__u64 base_vaddr;	/* ELF vaddr of pc offset 0 */
	__u32 chunk_count;
	__u32 index_pages;	/* 0 when chunk_count <= UNWIND_INLINE_INDEX */
	__u32 first_pc[UNWIND_INLINE_INDEX];
};

struct unwind_index_page {
	__u32 first_pc[UNWIND_INDEX_PAGE_ENTRIES];
};

/* Parallel arrays rather than packed {u32, u16} rows: 6 bytes a row with
 * no padding, and the search touches only pc[] until it has its index. */
struct unwind_chunk {
	__u32 pc[UNWIND_CHUNK_ROWS];	/* offsets from base_vaddr */
	__u16 rule[UNWIND_CHUNK_ROWS];	/* rule ids */
};

/* Map key of an index page or a chunk. */
struct unwind_chunk_key {
	__u32 table_id;
	__u32 index;
};

#endif
