/* gopclntab: function names and file:line from a Go binary's .gopclntab,
 * the table the Go runtime itself reads for its tracebacks, kept in
 * binaries built with `-ldflags='-s -w'` that have no ELF symbols and no
 * DWARF left.
 *
 * Formats of Go 1.16 onwards, told apart by the header's magic:
 * 0xfffffffa (1.16-1.17), 0xfffffff0 (1.18-1.19), 0xfffffff1 (1.20+), for
 * little-endian targets. The table is copied at __new and its header and
 * function table checked; every offset met in a lookup is checked against
 * the copy (a hostile table gives unknown or wrong names, never a read
 * outside it), and a pc-value table is decoded no further than its bytes
 * go, so a lookup costs at most the table's size.
 *
 *   gopclntab__new(data, size, text_start, &tab)
 *                                   0, -ENOEXEC (not a table of a known
 *                                   version, or its header or function
 *                                   table do not fit), -ENOMEM; data is
 *                                   copied (the caller's may go). text_start:
 *                                   the address of the first function
 *                                   (runtime.text, i.e. the start of .text)
 *                                   for 1.18+ tables, whose entries are
 *                                   offsets from it (the header's own copy
 *                                   is unrelocated in PIE binaries); 0:
 *                                   the header's
 *   gopclntab__new_in(data, size, text_lo, text_hi, &tab)
 *                                   the table with the text start that puts
 *                                   its first function in [text_lo,
 *                                   text_hi), the code's section: the
 *                                   header's (right unless relocated at
 *                                   load, in a PIE), else text_lo (right
 *                                   unless an external linker put C code
 *                                   first, as for cgo); as __new, or
 *                                   -ENOENT when neither does
 *   gopclntab__free(tab)            NULL-safe
 *   gopclntab__lookup(tab, pc, frames, max)
 *                                   frames written (>= 1), innermost
 *                                   inlined call first and the function
 *                                   pc is in last (deeper inlining keeps
 *                                   the innermost max - 1), or -ENOENT
 *                                   (pc in no function); a frame's file is
 *                                   NULL and line 0 when the table has no
 *                                   line for it; entry is set in the last.
 *                                   A pc in the padding right before a
 *                                   function (past the previous one's
 *                                   code) is that function's: a return
 *                                   address at its entry, looked up at
 *                                   pc - 1 (runtime.systemstack_switch)
 *   gopclntab__find_gofunc(tab, data, size, pclntab_vaddr, &gofunc)
 *                                   finds the runtime's moduledata in a
 *                                   data section's bytes (its first words
 *                                   point at the table and its parts) and
 *                                   reads its gofunc, the base of 1.18+
 *                                   funcdata: 0 or -ENOENT (not there,
 *                                   or a 1.16 table, whose funcdata are
 *                                   plain addresses)
 *   gopclntab__set_funcdata(tab, data, size, vaddr, gofunc)
 *                                   the binary's bytes at vaddr, where
 *                                   inline trees are (from gofunc to the
 *                                   end of its section; for 1.16, the
 *                                   section of the trees, at their own
 *                                   addresses: gofunc unused), copied: 0
 *                                   or -ENOMEM. Without it, no inlined
 *                                   frames
 *   gopclntab__has_inlines(tab)     funcdata were set
 *   gopclntab__version(tab)         116, 118 or 120 (the first Go release of
 *                                   the format)
 *   gopclntab__func_count(tab)      functions in the table
 *   gopclntab__bytes(tab)           memory held (the copy)
 *   gopclntab__func(tab, i, &func)  function i (0 .. func_count - 1): its
 *                                   [entry, end) (end: the next
 *                                   function's entry), name and funcID; 0,
 *                                   or -ENOENT (i past the table, its
 *                                   record or name outside it, or entries
 *                                   not ascending: a hostile table)
 *   gopclntab__pcsp_begin(tab, &func, &it)
 *   gopclntab__pcvalue_next(&it, &start, &end, &value)
 *                                   the runs of func's pcsp table (the
 *                                   stack-pointer delta, bytes below the
 *                                   return address, at each pc): 1 and
 *                                   [start, end) with value, 0 after the
 *                                   last run, -EINVAL on a cut table or a
 *                                   run past the function's end (the runs
 *                                   before it stay valid). Each call
 *                                   reads at least two bytes of the table,
 *                                   so a walk ends within its size
 *
 * The frames' strings point into tab and stay valid until it is freed.
 * Not thread-safe.
 */
#ifndef BRASA_SYMBOLIZE_GOPCLNTAB_H
#define BRASA_SYMBOLIZE_GOPCLNTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gopclntab;

struct gopclntab_frame {
	const char *function;
	const char *file;  /* NULL if unknown */
	uint32_t line;     /* 0 if unknown */
	uint64_t entry;    /* the function's first address (0 for inlined calls) */
};

struct gopclntab_func {
	uint64_t entry, end;
	const char *name;
	uint8_t func_id; /* the runtime's funcID (numbering differs by version) */
	uint32_t pcsp;	 /* offset of its pcsp table in the pc-value tables */
};

/* A walk over one pc-value table; fields private to gopclntab.c. */
struct gopclntab_pcvalue {
	const struct gopclntab *tab;
	size_t off;
	uint64_t pc, end;
	int32_t value;
	bool first, done;
};

int gopclntab__new(const void *data, size_t size, uint64_t text_start,
		   struct gopclntab **out);
int gopclntab__new_in(const void *data, size_t size, uint64_t text_lo, uint64_t text_hi,
		      struct gopclntab **out);
void gopclntab__free(struct gopclntab *tab);
int gopclntab__lookup(const struct gopclntab *tab, uint64_t pc,
		      struct gopclntab_frame *frames, int max);
int gopclntab__find_gofunc(const struct gopclntab *tab, const void *data, size_t size,
			   uint64_t pclntab_vaddr, uint64_t *gofunc);
int gopclntab__set_funcdata(struct gopclntab *tab, const void *data, size_t size,
			    uint64_t vaddr, uint64_t gofunc);
bool gopclntab__has_inlines(const struct gopclntab *tab);
int gopclntab__version(const struct gopclntab *tab);
size_t gopclntab__func_count(const struct gopclntab *tab);
size_t gopclntab__bytes(const struct gopclntab *tab);
int gopclntab__func(const struct gopclntab *tab, size_t i, struct gopclntab_func *func);
void gopclntab__pcsp_begin(const struct gopclntab *tab, const struct gopclntab_func *func,
			   struct gopclntab_pcvalue *it);
int gopclntab__pcvalue_next(struct gopclntab_pcvalue *it, uint64_t *start, uint64_t *end,
			    int32_t *value);

#endif
