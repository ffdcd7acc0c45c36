/* cfi_rows: the x86-64 unwind rules of one ELF object, as a sorted list
 * of rows (pc, rule) covering its executable segments, read from its
 * .eh_frame and .debug_frame (and a separate debug file's .debug_frame)
 * through libdw's CFI API — libdw interprets the CFI, this module only
 * enumerates FDEs and classifies each row's rule (see bpf/profile.h).
 *
 *   cfi_rows__build(elf, debug_elf, limits, &rows)   0 or negative errno:
 *        -ENOEXEC  not a usable ELF (no executable PT_LOAD, garbage)
 *        -ENOTSUP  not an x86-64 ELFCLASS64 object
 *        -ENOENT   no CFI at all
 *        -ETIMEDOUT  past limits->deadline_ns
 *        -E2BIG    more rows than CFI_ROWS_MAX, more memory than
 *                  limits->max_bytes, or more work than CFI_WORK_MAX
 *        -ENOMEM
 *   cfi_rows__build_fd(fd, debug_fd, limits, &rows)  same from file
 *        descriptors (debug_fd -1 for none); the fds stay the caller's
 *   cfi_rows__build_fd_with(build, fd, debug_fd, limits, &rows)  the same
 *        with another builder of cfi_rows__build's signature (go_rows'),
 *        -ENOSYS without libelf
 *   cfi_rows__free(rows)                     NULL-safe
 *   cfi_rows__find(rows, vaddr)              the row covering vaddr, NULL
 *        before the first row
 *   cfi_rule_format(rule, buf, size)         "rsp+16 rbp=c-16" etc.
 *   cfi_rows__check_elf(elf)                 0, -ENOEXEC, -ENOTSUP as above
 *   cfi_rows__exec_range(elf, &lo, &hi)      lowest vaddr and end of the
 *        executable PT_LOAD segments: 0 or -ENOEXEC
 *
 * Rows are sorted by pc with unique pcs; a row covers [pc, next row's
 * pc). Every address between FDEs gets an explicit UNWIND_CFA_NONE row,
 * and the last row is always an UNWIND_CFA_NONE row at the end of the
 * last FDE, so no lookup ever lands in a previous function's rule.
 * Adjacent rows are not merged here (one row per libdw Dwarf_Frame, which
 * is what `readelf --debug-dump=frames-interp` prints); unwind_table
 * merges them.
 *
 * Where CFI sources overlap, .eh_frame wins over .debug_frame (it is what
 * the runtime unwinder uses). Objects whose sections were stripped
 * entirely (no section headers) give -ENOENT.
 *
 * Bounded work on any input. libdw interprets an FDE from its start for
 * every row it is asked about (so a walk is quadratic in an FDE's length)
 * and sizes every frame state by the highest register number a rule
 * names (16 bytes each; DW_CFA_remember_state copies it). So each CFI
 * section is copied and checked before libdw sees it: an FDE that names
 * a register above CFI_REG_MAX, nests DW_CFA_remember_state deeper than
 * CFI_REMEMBER_MAX, costs more than CFI_CALL_WORK_MAX per libdw call or
 * CFI_FDE_WORK_MAX to walk (its rows times the bytes libdw interprets
 * per row), or whose CIE cannot be read
 * the way libdw reads it, is made invisible to libdw and counted in
 * fde_skipped and fde_over_limits; the rest of the object is used. libdw
 * then reads the checked copy (no .eh_frame_hdr: it finds FDEs by a
 * sequential scan, only among those that were checked). Past that, the
 * whole build is refused: the checked FDEs together cost more than
 * CFI_WORK_MAX, the memory it would hold (section copies, libdw's
 * entries, rows, transient frame states) passes max_bytes, or the
 * deadline passes (checked between libdw calls, each of them bounded).
 * Not thread-safe per Elf (libelf/libdw are not).
 */
#ifndef BRASA_UNWIND_CFI_ROWS_H
#define BRASA_UNWIND_CFI_ROWS_H

#include <libelf.h>
#include <stddef.h>
#include <stdint.h>

#include "bpf/profile.h"

/* Bound on rows of one object (libLLVM-15 has about 1 M). */
#define CFI_ROWS_MAX (64u << 20)

/* Highest DWARF register number an FDE may name. x86-64's numbering
 * (psABI figure 3.36) ends at 130; libdw allocates 16 bytes per register
 * up to the highest one named, for every frame state. */
#define CFI_REG_MAX 255
/* Deepest DW_CFA_remember_state nesting: a copy of the frame state
 * each (GCC leaves some unbalanced: 445 deep in Debian's node, 208 in
 * libglut). */
#define CFI_REMEMBER_MAX 4096
/* Work units: about one byte of CFI interpreted by libdw (a frame-state
 * copy counts its size / 4), 1 to 2.5 ns each. One FDE's walk costs its
 * rows times the units of each libdw call (see cfi_rows.c). The largest
 * among the 1697 ELF objects of a Debian 12 development install: one FDE
 * 224 M (valgrind's tools), a whole object 673 M (gnat1; cc1plus 665 M,
 * libLLVM-15 233 M), one call 105 k; none is over these bounds. */
#define CFI_FDE_WORK_MAX (512ull << 20)
#define CFI_WORK_MAX (2ull << 30)
/* One libdw call, so that a deadline is never overrun by more than about
 * 10 ms. */
#define CFI_CALL_WORK_MAX (4ull << 20)
/* max_bytes when the limits leave it 0 (libLLVM-15 peaks at 44 MB). */
#define CFI_MAX_BYTES_DEFAULT (256u << 20)

/* Where a row's rule comes from, in priority order. A new source of rows
 * is one more value here and its name in cfi_source_names: `brasa check
 * --pid` reports rows_by_source by these names. */
enum cfi_source_kind {
	CFI_SOURCE_EH_FRAME = 0,  /* the object's .eh_frame */
	CFI_SOURCE_DEBUG_FRAME,   /* the object's .debug_frame */
	CFI_SOURCE_DEBUG_FILE,    /* its separate debug file's .debug_frame */
	CFI_SOURCE_GOPCLNTAB,     /* Go's .gopclntab (unwind/go_rows.h) */
	CFI_SOURCE_KINDS,
};

/* "eh_frame", "debug_frame", "debug_file_debug_frame" */
extern const char *const cfi_source_names[CFI_SOURCE_KINDS];

struct cfi_limits {
	uint64_t deadline_ns; /* CLOCK_MONOTONIC; 0: none */
	size_t max_bytes;     /* memory the build may hold (rows, lists); 0: a default */
};

struct cfi_row {
	uint64_t pc; /* ELF virtual address */
	struct unwind_rule rule;
};

struct cfi_rows {
	struct cfi_row *rows;
	size_t count;
	/* Lowest vaddr and end of the executable PT_LOAD segments. */
	uint64_t exec_lo, exec_hi;
	/* Diagnostics: FDEs found, FDEs skipped (undecodable, outside the
	 * executable segments, over the limits above, or libdw could not
	 * read them), and of those the ones over the limits. */
	size_t fde_count, fde_skipped, fde_over_limits;
	/* Rows by the source their rule came from (gap and end rows, which
	 * come from none, are not counted). */
	size_t rows_by_source[CFI_SOURCE_KINDS];
	/* Work units the checked FDEs cost, and the peak bytes accounted. */
	uint64_t work;
	size_t peak_bytes;
	/* Go code (unwind/go_rows.h): .gopclntab functions with rows, those
	 * skipped, those with a frame (a delta above 0) and of those the ones
	 * whose prologue saves rbp; a hash of the code bytes read to tell
	 * (part of what the table is built from). */
	size_t go_funcs, go_funcs_skipped, go_framed, go_bp_saves;
	uint64_t go_text_hash;
};

/* limits NULL: no deadline, CFI_MAX_BYTES_DEFAULT. */
int cfi_rows__build(Elf *elf, Elf *debug_elf, const struct cfi_limits *limits,
		    struct cfi_rows **out);
int cfi_rows__build_fd(int fd, int debug_fd, const struct cfi_limits *limits,
		       struct cfi_rows **out);
typedef int cfi_rows_builder(Elf *elf, Elf *debug_elf, const struct cfi_limits *limits,
			     struct cfi_rows **out);
int cfi_rows__build_fd_with(cfi_rows_builder *build, int fd, int debug_fd,
			    const struct cfi_limits *limits, struct cfi_rows **out);
void cfi_rows__free(struct cfi_rows *rows);
int cfi_rows__check_elf(Elf *elf);
int cfi_rows__exec_range(Elf *elf, uint64_t *lo, uint64_t *hi);
const struct cfi_row *cfi_rows__find(const struct cfi_rows *rows, uint64_t vaddr);

/* Human-readable rule, in the spirit of readelf's frames-interp:
 * "rsp+16 rbp=u", "rbp+16 rbp=c-16", "plt11+8 rbp=u" (threshold 11), "end", "signal",
 * "nocfi", "unsupported:cfa-expression". Returns buf. */
const char *cfi_rule_format(const struct unwind_rule *rule, char *buf, size_t size);

#endif
