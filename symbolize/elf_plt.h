/* elf_plt: names the entries of an object's procedure linkage table
 * (.plt, .plt.sec, .plt.got) after the dynamic symbols they jump to, as
 * perf and objdump do ("puts@plt"): stubs are small, but a tight loop
 * calling a library spends real time in them, and unnamed they print as
 * an address.
 *
 * x86-64 only (other machines: no entries). An entry is matched to its
 * symbol by the GOT slot its `jmp *slot(%rip)` reads (the relocation of
 * that slot, R_X86_64_JUMP_SLOT or GLOB_DAT, names the symbol), or, for
 * the lazy .plt entries of an IBT build that only `push` their index,
 * by that index into .rela.plt. Entries nothing names (PLT0, IRELATIVE
 * slots) are left out.
 *
 *   elf_plt__read(elf, &syms, &count)  0 (count 0 if there is no PLT)
 *                                      or -ENOMEM; syms is malloc'd, the
 *                                      caller frees it; names point into
 *                                      elf's string table (valid while
 *                                      elf is open) and lack "@plt"
 */
#ifndef BRASA_SYMBOLIZE_ELF_PLT_H
#define BRASA_SYMBOLIZE_ELF_PLT_H

#include <libelf.h>
#include <stddef.h>
#include <stdint.h>

#define ELF_PLT_SUFFIX "@plt"
/* An object's PLT entries beyond this are not named (one per imported
 * function: a few thousand for the largest programs). */
#define ELF_PLT_MAX_ENTRIES 65536

struct elf_plt_sym {
	uint64_t addr;
	uint32_t size;
	const char *name;
};

int elf_plt__read(Elf *elf, struct elf_plt_sym **syms, size_t *count);

#endif
