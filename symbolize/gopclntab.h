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
 *   gopclntab__free(tab)            NULL-safe
 *   gopclntab__lookup(tab, pc, &frame)
 *                                   0 or -ENOENT (pc in no function);
 *                                   frame->file NULL and line 0 when the
 *                                   table has no line for pc
 *   gopclntab__version(tab)         116, 118 or 120 (the first Go release of
 *                                   the format)
 *   gopclntab__func_count(tab)      functions in the table
 *   gopclntab__bytes(tab)           memory held (the copy)
 *
 * The frame's strings point into tab and stay valid until it is freed.
 * Inlined frames are not reported yet: pc gets the function it was
 * compiled into, and the file:line of the innermost inlined code.
 * Not thread-safe.
 */
#ifndef BRASA_SYMBOLIZE_GOPCLNTAB_H
#define BRASA_SYMBOLIZE_GOPCLNTAB_H

#include <stddef.h>
#include <stdint.h>

struct gopclntab;

struct gopclntab_frame {
	const char *function;
	const char *file;  /* NULL if unknown */
	uint32_t line;     /* 0 if unknown */
	uint64_t entry;    /* the function's first address */
};

int gopclntab__new(const void *data, size_t size, uint64_t text_start,
		   struct gopclntab **out);
void gopclntab__free(struct gopclntab *tab);
int gopclntab__lookup(const struct gopclntab *tab, uint64_t pc,
		      struct gopclntab_frame *frame);
int gopclntab__version(const struct gopclntab *tab);
size_t gopclntab__func_count(const struct gopclntab *tab);
size_t gopclntab__bytes(const struct gopclntab *tab);

#endif
