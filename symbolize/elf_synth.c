/* elf_synth: the symbols an object's symbol table lacks — its PLT stubs
 * (NAME@plt, as perf and objdump name them) and, for Go, the functions,
 * lines and inlined calls of .gopclntab (see elf_object_int.h). */
#include "symbolize/elf_object_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/macros.h"
#include "symbolize/demangle.h"
#include "symbolize/elf_plt.h"
#include "symbolize/gopclntab.h"

static int elf_sym_cmp(const void *a, const void *b)
{
	const struct elf_sym *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static void append_plt_name(struct elf_object *obj, const char *name)
{
	size_t len = strnlen(name, NAME_MAX_LEN);

	memcpy(obj->names + obj->names_len, name, len);
	memcpy(obj->names + obj->names_len + len, ELF_PLT_SUFFIX, sizeof(ELF_PLT_SUFFIX));
	obj->names_len += len + sizeof(ELF_PLT_SUFFIX);
}

static int merge_plt_symbols(struct elf_object *obj, const struct elf_plt_sym *plt,
			     char *const *demangled, size_t nplt, size_t extra, size_t max_bytes)
{
	size_t nsyms = obj->sym_count, added = 0;
	struct elf_sym *syms;
	char *names;

	if ((nsyms + nplt) * sizeof(*syms) + obj->names_len + extra > max_bytes ||
	    obj->names_len + extra > NAMES_MAX)
		return -E2BIG;
	syms = realloc(obj->syms, (nsyms + nplt) * sizeof(*syms));
	if (!syms)
		return -ENOMEM;
	obj->syms = syms;
	names = realloc(obj->names, obj->names_len + extra);
	if (!names)
		return -ENOMEM;
	obj->names = names;
	for (size_t i = 0; i < nplt; i++) {
		const struct elf_sym *have = elf_object_int__find_symbol(obj, plt[i].addr);

		/* find_symbol sees the sorted table only: sym_count is
		 * raised once every entry is in */
		if (have && have->addr == plt[i].addr)
			continue;
		obj->syms[nsyms + added++] = (struct elf_sym){
			.addr = plt[i].addr, .size = plt[i].size, .name = (uint32_t)obj->names_len,
			.demangled = demangled[i] != NULL,
		};
		if (demangled[i])
			append_plt_name(obj, demangled[i]);
		append_plt_name(obj, plt[i].name);
	}
	obj->sym_count = nsyms + added;
	qsort(obj->syms, obj->sym_count, sizeof(*obj->syms), elf_sym_cmp);
	return 0;
}

/* Adds "name@plt" symbols for the PLT entries of elf (elf_plt.h) to the
 * object's table, within the same byte bound; addresses that already
 * have a symbol keep it. */
int elf_synth__add_plt(struct elf_object *obj, Elf *elf, const struct elf_object_opts *opts)
{
	size_t max_bytes = opts && opts->max_symbol_bytes ? opts->max_symbol_bytes
							   : DEFAULT_MAX_SYMBOL_BYTES;
	_cleanup_free_ struct elf_plt_sym *plt = NULL;
	_cleanup_free_ char **demangled = NULL;
	size_t nplt, extra = 0;
	int err = elf_plt__read(elf, &plt, &nplt);

	if (err || !nplt)
		return err;
	demangled = calloc(nplt, sizeof(*demangled));
	if (!demangled)
		return -ENOMEM;
	for (size_t i = 0; i < nplt; i++) {
		/* "std::runtime_error::runtime_error(char const*)@plt", as perf */
		if (obj->demangle && demangle__is_mangled(plt[i].name))
			demangled[i] = demangle__name(plt[i].name);
		if (demangled[i])
			extra += strnlen(demangled[i], NAME_MAX_LEN) + sizeof(ELF_PLT_SUFFIX);
		extra += strnlen(plt[i].name, NAME_MAX_LEN) + sizeof(ELF_PLT_SUFFIX);
	}
	err = merge_plt_symbols(obj, plt, demangled, nplt, extra, max_bytes);
	for (size_t i = 0; i < nplt; i++)
		free(demangled[i]);
	return err;
}

/* Go's inline trees live outside .gopclntab, in go:func.* (.rodata),
 * found through the runtime's moduledata in a writable data section (not
 * in the file of a PIE whose pointers are relocated at load). Without it,
 * or past what remains of the bound, Go code gets no inlined frames. */
static void load_go_inlines(struct elf_object *obj, uint64_t pcln_addr, size_t budget)
{
	Elf_Scn *scn = NULL;
	uint64_t gofunc = 0;
	bool found = false;
	GElf_Shdr sh;
	Elf_Data *d;

	while (!found && (scn = elf_nextscn(obj->elf, scn))) {
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_PROGBITS ||
		    !(sh.sh_flags & SHF_WRITE))
			continue;
		d = elf_getdata(scn, NULL);
		found = d && d->d_buf &&
			gopclntab__find_gofunc(obj->gopcln, d->d_buf, d->d_size, pcln_addr,
					       &gofunc) == 0;
	}
	for (scn = NULL; found && (scn = elf_nextscn(obj->elf, scn));) {
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_PROGBITS ||
		    gofunc < sh.sh_addr || gofunc - sh.sh_addr >= sh.sh_size)
			continue;
		d = elf_getdata(scn, NULL);
		if (d && d->d_buf && gofunc - sh.sh_addr < d->d_size &&
		    d->d_size - (gofunc - sh.sh_addr) <= budget)
			gopclntab__set_funcdata(obj->gopcln,
						(const char *)d->d_buf + (gofunc - sh.sh_addr),
						d->d_size - (gofunc - sh.sh_addr), gofunc, gofunc);
		return;
	}
}

/* A stripped Go binary (-ldflags='-s -w') still has .gopclntab, the
 * runtime's own table of function names and lines: read when the object
 * has no symbol table, or (lines and inlined calls only) when it has no
 * DWARF libdw can look addresses up in: Go writes no .debug_aranges, and
 * elfutils 0.188 finds no unit for an address without them. Its copy
 * counts against max_symbol_bytes like the symbols (-E2BIG past it); one
 * that does not parse is ignored. */
int elf_synth__load_go(struct elf_object *obj, const struct elf_object_opts *opts,
		       bool with_symtab)
{
	size_t max_bytes = opts && opts->max_symbol_bytes ? opts->max_symbol_bytes
							   : DEFAULT_MAX_SYMBOL_BYTES;
	Elf_Scn *scn = NULL, *pcln = NULL;
	uint64_t text_start = 0, text_end = 0, pcln_addr = 0;
	bool aranges = false;
	size_t shstrndx;
	Elf_Data *data;
	int err;

	if (elf_getshdrstrndx(obj->elf, &shstrndx) != 0)
		return 0;
	while ((scn = elf_nextscn(obj->elf, scn))) {
		GElf_Shdr sh;
		const char *name;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type == SHT_NOBITS)
			continue;
		name = elf_strptr(obj->elf, shstrndx, sh.sh_name);
		/* .data.rel.ro.gopclntab where an external linker made a PIE */
		if (name && (strcmp(name, ".gopclntab") == 0 ||
			     strcmp(name, ".data.rel.ro.gopclntab") == 0)) {
			pcln = scn;
			pcln_addr = sh.sh_addr;
		}
		else if (name && strcmp(name, ".text") == 0) {
			text_start = sh.sh_addr;
			text_end = sh.sh_addr + sh.sh_size;
		}
		else if (name && (strcmp(name, ".debug_aranges") == 0 ||
				  strcmp(name, ".zdebug_aranges") == 0))
			aranges = true;
	}
	if (with_symtab && aranges)
		return 0;
	data = pcln ? elf_getdata(pcln, NULL) : NULL;
	if (!data || !data->d_buf)
		return 0;
	max_bytes -= obj->sym_count * sizeof(struct elf_sym) + obj->names_len;
	/* with a symbol table, only lines are lost: the object still loads */
	if (data->d_size > max_bytes)
		return with_symtab ? 0 : -E2BIG;
	err = gopclntab__new_in(data->d_buf, data->d_size, text_start,
				text_end ? text_end : UINT64_MAX, &obj->gopcln);
	if (err == -ENOMEM)
		return err;
	if (err)
		log_debug("failed to read .gopclntab: %s, ignoring", strerror(-err));
	else
		load_go_inlines(obj, pcln_addr, max_bytes - data->d_size);
	obj->gopcln_names = obj->gopcln && !with_symtab;
	return 0;
}

int elf_synth__go_frames(struct elf_object *obj, uint64_t vaddr, struct sym_line *frames, int max)
{
	struct gopclntab_frame f[INLINE_MAX];
	int n = obj->gopcln ? gopclntab__lookup(obj->gopcln, vaddr, f, MIN(max, INLINE_MAX)) : 0;

	for (int i = 0; i < n; i++)
		frames[i] = (struct sym_line){
			.function = f[i].function,
			.file = f[i].file,
			.line = f[i].line,
		};
	if (n > 0)
		frames[n - 1].sym_offset = vaddr - f[n - 1].entry;
	return MAX(n, 0);
}
