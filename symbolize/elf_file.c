#include "symbolize/elf_file.h"

#include <gelf.h>
#include <string.h>

void elf_file__endp(Elf **e)
{
	if (*e)
		elf_end(*e);
}

bool elf_file__ready(void)
{
	static int state; /* 0 unknown, 1 ok, -1 failed */

	if (!state)
		state = elf_version(EV_CURRENT) == EV_NONE ? -1 : 1;
	return state > 0;
}

Elf *elf_file__from_fd(int fd)
{
	Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);

	if (!elf)
		return NULL;
	if (elf_kind(elf) != ELF_K_ELF || elf_cntl(elf, ELF_C_FDREAD) != 0) {
		elf_end(elf);
		return NULL;
	}
	elf_cntl(elf, ELF_C_FDDONE);
	return elf;
}

static void hex_encode(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0xf];
	}
	out[2 * n] = '\0';
}

static bool note_build_id(Elf_Data *data, char *out)
{
	size_t off = 0, name_off, desc_off;
	GElf_Nhdr nh;

	if (!data || !data->d_buf)
		return false;
	while ((off = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
		const char *name = (const char *)data->d_buf + name_off;

		if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
		    memcmp(name, "GNU", 4) == 0 && nh.n_descsz > 0 &&
		    2 * nh.n_descsz < ELF_BUILD_ID_HEX_MAX) {
			hex_encode((const uint8_t *)data->d_buf + desc_off,
				   nh.n_descsz, out);
			return true;
		}
	}
	return false;
}

/* Sections first: a debug file made by objcopy --only-keep-debug keeps
 * its notes but its program headers may point at nothing. */
void elf_file__build_id(Elf *elf, char out[ELF_BUILD_ID_HEX_MAX])
{
	Elf_Scn *scn = NULL;
	size_t phnum;

	out[0] = '\0';
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;

		if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_NOTE &&
		    note_build_id(elf_getdata(scn, NULL), out))
			return;
	}
	if (elf_getphdrnum(elf, &phnum) != 0)
		return;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;

		if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_NOTE &&
		    note_build_id(elf_getdata_rawchunk(elf, (int64_t)ph.p_offset,
						       ph.p_filesz, ELF_T_NHDR),
				  out))
			return;
	}
}
