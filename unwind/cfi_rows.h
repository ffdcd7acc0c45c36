/* cfi_rows: the x86-64 unwind rules of one ELF object, as a sorted list
 * of rows (pc, rule) covering its executable segments, read from its
 * .eh_frame and .debug_frame (and a separate debug file's .debug_frame)
 * through libdw's CFI API — libdw interprets the CFI, this module only
 * enumerates FDEs and classifies each row's rule (see unwind_abi.h).
 *
 *   cfi_rows__build(elf, debug_elf, limits, &rows)   0 or negative errno:
 *        -ETIMEDOUT past limits->deadline_ns
 *        -ENOEXEC  not a usable ELF (no executable PT_LOAD, garbage)
 *        -ENOTSUP  not an x86-64 ELFCLASS64 object
 *        -ENOENT   no CFI at all
 *        -E2BIG    more rows than CFI_ROWS_MAX
 *        -ENOMEM
 *   cfi_rows__build_fd(fd, debug_fd, &rows)  same from file descriptors
 *        (debug_fd -1 for none); the fds stay the caller's
 *   cfi_rows__free(rows)                     NULL-safe
 *   cfi_rows__find(rows, vaddr)              the row covering vaddr, NULL
 *        before the first row
 *   cfi_rule_format(rule, buf, size)         "rsp+16 rbp=c-16" etc.
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
 * Not thread-safe per Elf (libelf/libdw are not).
 */
#ifndef BRASA_UNWIND_CFI_ROWS_H
#define BRASA_UNWIND_CFI_ROWS_H

#include <libelf.h>
#include <stddef.h>
#include <stdint.h>

#include "unwind/unwind_abi.h"

/* Bound on rows of one object (libLLVM-15 has about 1 M). */
#define CFI_ROWS_MAX (64u << 20)

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
	 * executable segments, or libdw could not read them). */
	size_t fde_count, fde_skipped;
};

/* Bounds on one build (NULL: defaults). */
struct cfi_limits {
	uint64_t deadline_ns; /* CLOCK_MONOTONIC; 0: none */
	size_t max_bytes;     /* memory the build may hold (rows, lists); 0: a default */
};

int cfi_rows__build(Elf *elf, Elf *debug_elf, const struct cfi_limits *limits,
		    struct cfi_rows **out);
int cfi_rows__build_fd(int fd, int debug_fd, const struct cfi_limits *limits,
		       struct cfi_rows **out);
void cfi_rows__free(struct cfi_rows *rows);
const struct cfi_row *cfi_rows__find(const struct cfi_rows *rows, uint64_t vaddr);

/* Human-readable rule, in the spirit of readelf's frames-interp:
 * "rsp+16 rbp=u", "rbp+16 rbp=c-16", "plt11+8 rbp=u" (threshold 11), "end", "signal",
 * "nocfi", "unsupported:cfa-expression". Returns buf. */
const char *cfi_rule_format(const struct unwind_rule *rule, char *buf, size_t size);

#endif
