/* elf_object's private parts, shared by elf_object.c (symbol tables,
 * DWARF, lookups) and elf_synth.c (symbols the symbol table lacks: PLT
 * stubs and Go's .gopclntab). Not an API: nothing else includes it.
 *
 *   elf_object_int__find_symbol(obj, vaddr)  the symbol holding vaddr, or NULL
 *   elf_object_int__dwarf(obj)               the object's DWARF, opened on
 *                                            first use; NULL for none
 *   elf_synth__add_plt(obj, elf, opts)       PLT stubs as NAME@plt symbols;
 *                                            0 or -errno (E2BIG, ENOMEM fatal)
 *   elf_synth__load_go(obj, opts, has_symtab) Go's table (names when there is
 *                                            no symbol table, else lines and
 *                                            inlines); 0 or -errno
 *   elf_synth__go_frames(obj, vaddr, frames, max)
 *                                            frames from Go's table, 0 if none
 */
#ifndef BRASA_SYMBOLIZE_ELF_OBJECT_INT_H
#define BRASA_SYMBOLIZE_ELF_OBJECT_INT_H

#include <elfutils/libdw.h>
#include <gelf.h>
#include <libelf.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/u64map.h"
#include "symbolize/debug_file.h"
#include "symbolize/elf_object.h"

/* Deepest inline chain we report; deeper chains keep their innermost
 * frames and the real function. */
#define INLINE_MAX 32
/* Per-object cache of address -> frames: direct-mapped, so bounded by
 * construction; results deeper than CACHE_LINES are not cached. */
#define CACHE_SLOTS 64
#define CACHE_LINES 6
/* Symbol names longer than this (template soup) are cut: pprof readers
 * and flame graphs have no use for more. */
#define NAME_MAX_LEN 4096
#define DEFAULT_MAX_SYMBOL_BYTES ((size_t)256 << 20)
#define DEFAULT_MAX_DEBUG_BYTES (1ull << 30)
/* What libdw holds per decoded line-table row, address range and unit,
 * measured with heaptrack on Debian's elfutils 0.188 (rounded up). */
#define DWARF_LINE_BYTES 64
#define DWARF_ARANGE_BYTES 48
#define DWARF_CU_BYTES 4096
/* Deadline checks every this many symbols. */
#define CHECK_EVERY 4096

struct elf_load {
	uint64_t offset, vaddr, filesz;
	bool exec;
};

/* 16 bytes: the name is an offset into the object's names; a demangled
 * name is followed there by its mangled one. */
struct elf_sym {
	uint64_t addr;
	uint32_t size;
	uint32_t name : 31;
	uint32_t demangled : 1;
};
/* name offsets have 31 bits */
#define NAMES_MAX ((size_t)INT32_MAX)

struct cache_slot {
	uint64_t vaddr;
	int count; /* 0: empty slot; -1: cached miss */
	bool dwarf; /* computed with DWARF */
	struct sym_line lines[CACHE_LINES];
};

struct elf_sections {
	Elf_Scn *symtab, *dynsym;
	bool debug_info, debug_line;
	uint64_t debug_bytes; /* every .debug_* / .zdebug_* section */
	uint64_t inflated;    /* what libdw decompresses of them into memory */
};

struct elf_object {
	Elf *elf;         /* kept only while needed (DWARF here, or an image) */
	void *image;      /* copy behind an elf_memory() object */
	Elf *debug_elf;   /* separate debug file, kept only for its DWARF */
	struct debug_file_where debug; /* how debug_elf was found */
	enum elf_symbol_source sym_source;
	char build_id[ELF_BUILD_ID_HEX_MAX];
	struct elf_load *loads;
	size_t load_count;
	bool has_symbols, has_lines, has_inlines;

	struct elf_sym *syms;
	size_t sym_count;
	struct gopclntab *gopcln; /* Go's own table, when ELF symbols or DWARF lack */
	bool gopcln_names;        /* it names functions (no symbol table) */
	char *names;
	size_t names_len;

	bool demangle;
	struct u64map dwarf_names; /* DWARF linkage name -> its demangled copy */
	size_t dwarf_names_bytes;

	Elf *dwarf_elf;   /* elf or debug_elf: where DWARF is read, NULL for none */
	uint64_t dwarf_inflated; /* its compressed sections' size once inflated */
	bool dwarf_opened;
	Dwarf *dwarf;
	size_t dwarf_bytes;      /* estimate of what libdw decoded */
	struct u64map dwarf_cus; /* unit offsets whose lines are counted */

	struct cache_slot *cache;
};

const struct elf_sym *elf_object_int__find_symbol(const struct elf_object *obj, uint64_t vaddr);
Dwarf *elf_object_int__dwarf(struct elf_object *obj);
int elf_synth__add_plt(struct elf_object *obj, Elf *elf, const struct elf_object_opts *opts);
int elf_synth__load_go(struct elf_object *obj, const struct elf_object_opts *opts,
		       bool has_symtab);
int elf_synth__go_frames(struct elf_object *obj, uint64_t vaddr, struct sym_line *frames, int max);

#endif
