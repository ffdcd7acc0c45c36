/* libFuzzer target: arbitrary bytes as an ELF image through
 * elf_object__open_memory (build id note, program headers, section
 * scan), then the has_* queries and the symbolization (ELF symbols,
 * DWARF lines and inline chains through libdw) of addresses across the
 * object: each symbol's address and end, and a spread over every
 * executable segment, each looked up twice (the second from the cache,
 * which must agree). The image's layout is read with libelf here, not
 * through the code under test. */
#include <gelf.h>
#include <libelf.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "symbolize/elf_object.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define LOOKUPS_MAX 512
#define FRAMES_MAX 8

static size_t addrs_len;
static uint64_t addrs[LOOKUPS_MAX];

static void add(uint64_t a)
{
	if (addrs_len < LOOKUPS_MAX)
		addrs[addrs_len++] = a;
}

/* Addresses worth symbolizing: every function symbol's start and last
 * byte, and 16 points in each executable PT_LOAD. */
static void collect(const uint8_t *data, size_t size)
{
	char *copy = malloc(size ? size : 1);
	Elf *elf;
	Elf_Scn *scn = NULL;
	size_t phnum;

	addrs_len = 0;
	if (!copy)
		abort();
	memcpy(copy, data, size);
	elf = elf_memory(copy, size);
	if (elf && elf_getphdrnum(elf, &phnum) == 0) {
		for (size_t i = 0; i < phnum && i < 64; i++) {
			GElf_Phdr ph;

			if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD ||
			    !(ph.p_flags & PF_X))
				continue;
			for (uint64_t k = 0; k < 16; k++)
				add(ph.p_vaddr + ph.p_memsz / 16 * k);
		}
	}
	while (elf && (scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) ||
		    (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM) ||
		    !sh.sh_entsize)
			continue;
		d = elf_getdata(scn, NULL);
		for (size_t i = 0; d && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym sym;

			if (!gelf_getsym(d, (int)i, &sym))
				break;
			if (GELF_ST_TYPE(sym.st_info) != STT_FUNC)
				continue;
			add(sym.st_value);
			if (sym.st_size)
				add(sym.st_value + sym.st_size - 1);
		}
	}
	if (elf)
		elf_end(elf);
	free(copy);
}

/* Frames name valid strings (ASan checks the reads). */
static size_t check_frames(const struct sym_line *lines, int n)
{
	size_t total = 0;

	if (n < 0 || n > FRAMES_MAX)
		abort();
	for (int i = 0; i < n; i++) {
		if (lines[i].function)
			total += strlen(lines[i].function);
		if (lines[i].file)
			total += strlen(lines[i].file);
	}
	if (n > 0 && !lines[n - 1].function)
		abort(); /* the real function is always named */
	return total;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct elf_object *obj;
	struct sym_line a[FRAMES_MAX], b[FRAMES_MAX];
	uint64_t vaddr;

	elf_version(EV_CURRENT);
	if (elf_object__open_memory(data, size, "fuzz", &obj))
		return 0;
	if (strlen(elf_object__build_id(obj)) >= ELF_BUILD_ID_HEX_MAX)
		abort();
	elf_object__has_symbols(obj);
	elf_object__has_lines(obj);
	elf_object__has_inlines(obj);
	elf_object__vaddr(obj, 0x10000, 0, 0x10000 + size / 2, &vaddr);
	collect(data, size);
	for (size_t i = 0; i < addrs_len; i++) {
		int n = elf_object__symbolize(obj, addrs[i], true, a, FRAMES_MAX);
		int m = elf_object__symbolize(obj, addrs[i], true, b, FRAMES_MAX);

		check_frames(a, n);
		if (n != m)
			abort();
		for (int k = 0; k < n; k++)
			if (a[k].function != b[k].function || a[k].line != b[k].line)
				abort();
	}
	/* a caller with room for one frame gets the real function; ELF
	 * symbols alone */
	if (addrs_len) {
		check_frames(a, elf_object__symbolize(obj, addrs[0], true, a, 1));
		check_frames(a, elf_object__symbolize(obj, addrs[0], false, a, FRAMES_MAX));
	}
	elf_object__symbol_count(obj);
	elf_object__bytes(obj);
	elf_object__free(obj);
	return 0;
}
