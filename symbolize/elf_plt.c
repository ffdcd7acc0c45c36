#include "symbolize/elf_plt.h"

#include <errno.h>
#include <gelf.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/macros.h"
#include "common/u64map.h"

struct plt_relocs {
	struct u64map by_slot; /* GOT slot address -> dynsym index + 1 */
	GElf_Rela *jump_slots;  /* .rela.plt in order, for push indexes */
	size_t njump_slots;
	Elf_Data *dynsym;
	size_t dynstr;          /* section index of the dynamic names */
};

/* The relocations that name GOT slots: .rela.plt's JUMP_SLOTs and
 * .rela.dyn's GLOB_DATs (what .plt.got entries jump through). */
static int read_relocs(Elf *elf, size_t shstrndx, struct plt_relocs *r)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh, link_sh;
		Elf_Scn *link;
		Elf_Data *d;
		const char *name;
		size_t n;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_RELA || sh.sh_entsize == 0)
			continue;
		link = elf_getscn(elf, sh.sh_link);
		if (!link || !gelf_getshdr(link, &link_sh) || link_sh.sh_type != SHT_DYNSYM)
			continue;
		d = elf_getdata(scn, NULL);
		if (!d)
			continue;
		r->dynsym = elf_getdata(link, NULL);
		r->dynstr = link_sh.sh_link;
		name = elf_strptr(elf, shstrndx, sh.sh_name);
		n = MIN(sh.sh_size / sh.sh_entsize, (uint64_t)ELF_PLT_MAX_ENTRIES);
		if (name && !strcmp(name, ".rela.plt") && !r->jump_slots) {
			r->jump_slots = calloc(n ? n : 1, sizeof(*r->jump_slots));
			if (!r->jump_slots)
				return -ENOMEM;
		}
		for (size_t i = 0; i < n; i++) {
			GElf_Rela rela;
			uint32_t type;

			if (!gelf_getrela(d, (int)i, &rela))
				break;
			if (r->jump_slots && name && !strcmp(name, ".rela.plt") &&
			    r->njump_slots == i)
				r->jump_slots[r->njump_slots++] = rela;
			type = (uint32_t)GELF_R_TYPE(rela.r_info);
			if ((type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT) ||
			    GELF_R_SYM(rela.r_info) == 0)
				continue;
			if (u64map_set(&r->by_slot, rela.r_offset, GELF_R_SYM(rela.r_info) + 1))
				return -ENOMEM;
		}
	}
	return 0;
}

static const char *dynsym_name(Elf *elf, const struct plt_relocs *r, uint64_t index)
{
	GElf_Sym sym;
	const char *name;

	if (!r->dynsym || !gelf_getsym(r->dynsym, (int)index, &sym))
		return NULL;
	name = elf_strptr(elf, r->dynstr, sym.st_name);
	return name && name[0] ? name : NULL;
}

/* The symbol one entry jumps to: through the GOT slot of its first
 * `jmp *disp32(%rip)` (ff 25, after endbr64 and a bnd prefix if any),
 * else the .rela.plt index its `push imm32` (68) pushes. */
static const char *entry_name(Elf *elf, const struct plt_relocs *r, const uint8_t *code,
			      size_t len, uint64_t addr)
{
	uint64_t value;

	for (size_t i = 0; i + 6 <= len; i++) {
		if (code[i] == 0xff && code[i + 1] == 0x25) {
			int32_t disp;

			memcpy(&disp, code + i + 2, 4);
			if (!u64map_get(&r->by_slot, addr + i + 6 + (int64_t)disp, &value))
				return NULL;
			return dynsym_name(elf, r, value - 1);
		}
		if (code[i] == 0x68 && i + 5 <= len) {
			uint32_t idx;

			memcpy(&idx, code + i + 1, 4);
			if (idx >= r->njump_slots ||
			    GELF_R_TYPE(r->jump_slots[idx].r_info) != R_X86_64_JUMP_SLOT)
				return NULL;
			return dynsym_name(elf, r, GELF_R_SYM(r->jump_slots[idx].r_info));
		}
	}
	return NULL;
}

static bool is_plt(const char *name)
{
	return name && (!strcmp(name, ".plt") || !strcmp(name, ".plt.sec") ||
			!strcmp(name, ".plt.got"));
}

int elf_plt__read(Elf *elf, struct elf_plt_sym **syms, size_t *count)
{
	struct plt_relocs r = { 0 };
	struct elf_plt_sym *out = NULL;
	size_t n = 0, cap = 0, shstrndx;
	Elf_Scn *scn = NULL;
	GElf_Ehdr eh;
	int err = 0;

	*syms = NULL;
	*count = 0;
	if (!gelf_getehdr(elf, &eh) || eh.e_machine != EM_X86_64 ||
	    elf_getshdrstrndx(elf, &shstrndx) != 0)
		return 0;
	err = read_relocs(elf, shstrndx, &r);
	if (err || r.by_slot.len == 0)
		goto out;
	while ((scn = elf_nextscn(elf, scn)) && n < ELF_PLT_MAX_ENTRIES) {
		GElf_Shdr sh;
		Elf_Data *d;
		uint64_t entsize;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_PROGBITS ||
		    !is_plt(elf_strptr(elf, shstrndx, sh.sh_name)))
			continue;
		d = elf_getdata(scn, NULL);
		entsize = sh.sh_entsize >= 8 ? sh.sh_entsize : 16;
		for (uint64_t off = 0; d && off + entsize <= d->d_size && n < ELF_PLT_MAX_ENTRIES;
		     off += entsize) {
			const char *name = entry_name(elf, &r, (const uint8_t *)d->d_buf + off,
						      entsize, sh.sh_addr + off);

			if (!name)
				continue;
			if (n == cap) {
				size_t ncap = cap ? cap * 2 : 64;
				struct elf_plt_sym *tmp = realloc(out, ncap * sizeof(*out));

				if (!tmp) {
					err = -ENOMEM;
					goto out;
				}
				out = tmp;
				cap = ncap;
			}
			out[n++] = (struct elf_plt_sym){ sh.sh_addr + off, (uint32_t)entsize, name };
		}
	}
out:
	u64map_release(&r.by_slot);
	free(r.jump_slots);
	if (err) {
		free(out);
		return err;
	}
	*syms = out;
	*count = n;
	return 0;
}
