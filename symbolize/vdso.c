#include "symbolize/vdso.h"

#include <elf.h>
#include <errno.h>
#include <link.h>
#include <string.h>
#include <sys/auxv.h>

int vdso__open(struct elf_object **out)
{
	const ElfW(Ehdr) *ehdr = (const ElfW(Ehdr) *)getauxval(AT_SYSINFO_EHDR);
	const ElfW(Phdr) *phdr;
	size_t size;

	if (!ehdr || memcmp(ehdr->e_ident, ELFMAG, SELFMAG) != 0)
		return -ENOENT;
	/* The image's extent is not recorded anywhere but in the image: the
	 * section headers come last, and no PT_LOAD may reach further. */
	size = ehdr->e_shoff + (size_t)ehdr->e_shnum * ehdr->e_shentsize;
	phdr = (const ElfW(Phdr) *)((const char *)ehdr + ehdr->e_phoff);
	for (size_t i = 0; i < ehdr->e_phnum; i++)
		if (phdr[i].p_type == PT_LOAD &&
		    phdr[i].p_offset + phdr[i].p_filesz > size)
			size = phdr[i].p_offset + phdr[i].p_filesz;
	return elf_object__open_memory(ehdr, size, "[vdso]", out);
}
