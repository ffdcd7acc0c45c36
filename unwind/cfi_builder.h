/* cfi_builder: the state of one cfi_rows__build, shared by its two
 * halves inside unwind/ (not an API): cfi_check.c, which checks each CFI
 * section before libdw reads it and adds it as a source, and cfi_rows.c,
 * which walks the rows. Both charge the same budget: work units
 * (rows->work, CFI_WORK_MAX), bytes held (max_bytes) and a deadline.
 *
 *   cfi_builder__check_clock(b)   -ETIMEDOUT once past the deadline
 *   cfi_builder__account(b, n)    n more bytes held, -E2BIG past max_bytes
 *   cfi_builder__push_pc(b, l, pc)  appends to a pc list (accounted)
 *   cfi_check__add_source(b, elf, name, eh_frame)
 *                                 checks section name of elf and adds it
 *                                 as a source (cfi_check.c)
 */
#ifndef BRASA_UNWIND_CFI_BUILDER_H
#define BRASA_UNWIND_CFI_BUILDER_H

#include <elfutils/libdw.h>
#include <errno.h>
#include <libelf.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/clock.h"
#include "common/macros.h"
#include "unwind/cfi_rows.h"

/* CFI sources in priority order: .eh_frame, then .debug_frame of the
 * object, then .debug_frame of its separate debug file. */
#define SOURCES_MAX 3

/* The work model (units: about a byte of CFI interpreted by libdw).
 * dwarf_cfi_addrframe finds the FDE, copies its CIE's initial state and
 * runs the FDE's instructions up to the pc: CALL_OVERHEAD plus the
 * instruction bytes plus a frame-state copy (FRAME_HEADER + 16 bytes a
 * register) for the initial state and each DW_CFA_remember_state,
 * counted as its size / 4 (a copy costs about that: malloc and memcpy).
 * A walk asks once per row of the FDE, plus once where it enters, once
 * where it leaves and once where libdw fails. */
#define CALL_OVERHEAD 64
#define FRAME_HEADER 96
/* Registers libdw's x86-64 backend gives every initial state. */
#define ABI_REGS 17
/* What libdw holds for each CFI entry it reads (its FDE or CIE record,
 * the search-tree node, malloc's overhead), and for each byte of a DWARF
 * expression it decodes (a Dwarf_Op of 32 bytes per operation, cached),
 * in bytes. */
#define LIBDW_ENTRY_BYTES 128
#define LIBDW_EXPR_BYTES 40
/* Deadline checks: one every this many libdw calls or CFI entries. */
#define CLOCK_EVERY 64

struct cfi_source {
	enum cfi_source_kind kind;
	Dwarf_CFI *cfi;
	Dwarf *dwarf;	/* .debug_frame: dwarf_getcfi's owner */
	Elf *elf;	/* the checked copy, an ELF of one CFI section */
	uint8_t *image;	/* behind elf */
};

struct pc_list {
	uint64_t *pcs;
	size_t len, cap;
};

/* What libdw does with one CIE or FDE program: rows it starts, frame
 * states it copies, the highest register it sizes states for. */
struct cfi_scan {
	uint64_t advances;	/* row-advancing instructions */
	uint64_t remembers;	/* DW_CFA_remember_state */
	uint64_t max_reg;	/* highest register a rule names */
	unsigned max_depth;	/* deepest remember_state nesting */
	size_t len;		/* bytes interpreted */
	size_t expr_bytes;	/* DWARF expressions (libdw caches them decoded) */
};

/* A CIE as an FDE of it needs it. */
struct cie_info {
	bool usable;	/* read the way libdw reads it, within the limits */
	bool over;	/* read so, but over the limits */
	bool sized;	/* 'z' augmentation: FDEs carry a sized block */
	int fde_enc;	/* DW_EH_PE_* of FDE addresses */
	bool charged;	/* its own run counted in the work already */
	struct cfi_scan scan;
};

struct cfi_builder {
	struct cfi_source sources[SOURCES_MAX];
	size_t source_count;
	struct pc_list starts;	/* FDE initial locations */
	struct cfi_rows *rows;
	size_t rows_cap;
	size_t rows_max;	/* bound from the CFI size, see add_source */
	uint64_t deadline_ns;	/* 0: none */
	size_t max_bytes;
	size_t bytes;		/* accounted now */
	size_t frame_peak;	/* largest transient frame states of one call */
	unsigned clock_countdown;
};

/* -ETIMEDOUT once the deadline has passed; reads the clock every
 * CLOCK_EVERY calls (each unit between two is bounded). */
static inline int cfi_builder__check_clock(struct cfi_builder *b)
{
	if (!b->deadline_ns || b->clock_countdown--)
		return 0;
	b->clock_countdown = CLOCK_EVERY;
	return clock__mono_ns() >= b->deadline_ns ? -ETIMEDOUT : 0;
}

/* Counts n more bytes held: -E2BIG past max_bytes. */
static inline int cfi_builder__account(struct cfi_builder *b, size_t n)
{
	size_t now = b->bytes + b->frame_peak;

	if (n > b->max_bytes || now > b->max_bytes - n)
		return -E2BIG;
	b->bytes += n;
	b->rows->peak_bytes = MAX(b->rows->peak_bytes, b->bytes + b->frame_peak);
	return 0;
}

static inline int cfi_builder__push_pc(struct cfi_builder *b, struct pc_list *l, uint64_t pc)
{
	if (l->len == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 256;
		uint64_t *p;
		int err = cfi_builder__account(b, (cap - l->cap) * sizeof(*p));

		if (err)
			return err;
		p = realloc(l->pcs, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		l->pcs = p;
		l->cap = cap;
	}
	l->pcs[l->len++] = pc;
	return 0;
}

int cfi_check__add_source(struct cfi_builder *b, Elf *elf, const char *name, bool eh_frame);

#endif
