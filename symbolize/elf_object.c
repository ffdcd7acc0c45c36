#include "symbolize/elf_object.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/macros.h"
#include "common/u64map.h"
#include "symbolize/debug_file.h"
#include "symbolize/demangle.h"
#include "symbolize/elf_file.h"
#include "symbolize/elf_plt.h"
#include "symbolize/gopclntab.h"

#include "symbolize/elf_object_int.h"

int elf_object__read_build_id(int fd, char out[ELF_BUILD_ID_HEX_MAX])
{
	struct stat st;
	Elf *elf;

	out[0] = '\0';
	if (!elf_file__ready())
		return -ENOSYS;
	if (fstat(fd, &st) != 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -ENOEXEC;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf)
		return -ENOEXEC;
	if (elf_kind(elf) == ELF_K_ELF)
		elf_file__build_id(elf, out);
	elf_end(elf);
	return out[0] ? 0 : -ENOENT;
}

static void scan_sections(Elf *elf, struct elf_sections *sec)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	memset(sec, 0, sizeof(*sec));
	if (!elf || elf_getshdrstrndx(elf, &shstrndx) != 0)
		return;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		const char *name;

		if (!gelf_getshdr(scn, &sh))
			continue;
		if (sh.sh_type == SHT_SYMTAB)
			sec->symtab = scn;
		else if (sh.sh_type == SHT_DYNSYM)
			sec->dynsym = scn;
		if (sh.sh_type == SHT_NOBITS)
			continue;
		name = elf_strptr(elf, shstrndx, sh.sh_name);
		if (!name)
			continue;
		if (!strncmp(name, ".debug_", 7) || !strncmp(name, ".zdebug_", 8)) {
			sec->debug_bytes += sh.sh_size;
			/* libdw inflates a compressed section whole on its first
			 * use and keeps it with the Dwarf */
			if (sh.sh_flags & SHF_COMPRESSED) {
				GElf_Chdr ch;

				if (gelf_getchdr(scn, &ch))
					sec->inflated += ch.ch_size;
			} else if (name[1] == 'z') {
				/* .zdebug: "ZLIB" and a big-endian 64-bit size */
				Elf_Data *d = elf_rawdata(scn, NULL);

				if (d && d->d_size >= 12 && !memcmp(d->d_buf, "ZLIB", 4))
					for (int i = 4; i < 12; i++)
						sec->inflated = (sec->inflated << 8) |
								((const uint8_t *)d->d_buf)[i];
			}
		}
		if (strcmp(name, ".debug_info") == 0 || strcmp(name, ".zdebug_info") == 0)
			sec->debug_info = true;
		else if (strcmp(name, ".debug_line") == 0 || strcmp(name, ".zdebug_line") == 0)
			sec->debug_line = true;
	}
}

static int read_loads(struct elf_object *obj)
{
	size_t phnum;

	if (elf_getphdrnum(obj->elf, &phnum) != 0)
		return -ENOEXEC;
	obj->loads = calloc(phnum ? phnum : 1, sizeof(*obj->loads));
	if (!obj->loads)
		return -ENOMEM;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(obj->elf, (int)i, &ph))
			return -ENOEXEC;
		if (ph.p_type != PT_LOAD || ph.p_filesz == 0)
			continue;
		obj->loads[obj->load_count++] = (struct elf_load){
			.offset = ph.p_offset,
			.vaddr = ph.p_vaddr,
			.filesz = ph.p_filesz,
			.exec = ph.p_flags & PF_X,
		};
	}
	return obj->load_count ? 0 : -ENOEXEC;
}

/* qsort has no context argument: the sort keys carry what they need. */
struct sym_sort {
	struct elf_sym sym;
	const char *name;
	char *demangled; /* NULL: shown as it is */
	int rank;
};

static int sym_cmp(const void *a, const void *b)
{
	const struct sym_sort *x = a, *y = b;

	if (x->sym.addr != y->sym.addr)
		return x->sym.addr < y->sym.addr ? -1 : 1;
	if (x->rank != y->rank)
		return y->rank - x->rank; /* best first */
	return strcmp(x->name, y->name);
}

/* Demangles the kept symbols' names once, at load, so lookups only read
 * them; adds what they take to *names_len. */
static int demangle_symbols(struct sym_sort *tmp, size_t kept, uint64_t deadline,
			    size_t *names_len)
{
	for (size_t i = 0; i < kept; i++) {
		if (i % CHECK_EVERY == 0 && clock__past(deadline))
			return -ETIMEDOUT;
		if (!demangle__is_mangled(tmp[i].name))
			continue;
		tmp[i].demangled = demangle__name(tmp[i].name);
		if (!tmp[i].demangled && errno == ENOMEM)
			return -ENOMEM;
		if (tmp[i].demangled)
			*names_len += strnlen(tmp[i].demangled, NAME_MAX_LEN) + 1;
	}
	return 0;
}

static void free_demangled(struct sym_sort *tmp, size_t kept)
{
	for (size_t i = 0; i < kept; i++) {
		free(tmp[i].demangled);
		tmp[i].demangled = NULL;
	}
}

static void append_name(struct elf_object *obj, const char *name)
{
	size_t len = strnlen(name, NAME_MAX_LEN);

	memcpy(obj->names + obj->names_len, name, len);
	obj->names[obj->names_len + len] = 0;
	obj->names_len += len + 1;
}

/* Copies the function symbols of one symbol table into the object's
 * compact table: entries sorted by address, one name per address (the
 * best ranked), names in one block. */
static int load_symtab(struct elf_object *obj, Elf *elf, Elf_Scn *scn,
		       const struct elf_object_opts *opts)
{
	size_t max_bytes = opts && opts->max_symbol_bytes ? opts->max_symbol_bytes
							   : DEFAULT_MAX_SYMBOL_BYTES;
	uint64_t deadline = opts ? opts->deadline_ns : 0;
	Elf_Data *data = elf_getdata(scn, NULL);
	_cleanup_free_ struct sym_sort *tmp = NULL;
	size_t count, n = 0, names_len = 0, kept = 0;
	GElf_Shdr sh;

	if (!data || !gelf_getshdr(scn, &sh) || sh.sh_entsize == 0)
		return -ENOEXEC;
	count = MIN(sh.sh_size / sh.sh_entsize, data->d_size / sizeof(Elf64_Sym) + 1);
	/* the symbol table itself bounds the sort's working set */
	if (count > max_bytes / sizeof(struct elf_sym))
		return -E2BIG;
	tmp = calloc(count ? count : 1, sizeof(*tmp));
	if (!tmp)
		return -ENOMEM;
	for (size_t i = 0; i < count; i++) {
		GElf_Sym sym;
		const char *name;
		int type;

		if (i % CHECK_EVERY == 0 && clock__past(deadline))
			return -ETIMEDOUT;
		if (!gelf_getsym(data, (int)i, &sym))
			break;
		type = GELF_ST_TYPE(sym.st_info);
		if ((type != STT_FUNC && type != STT_GNU_IFUNC) ||
		    sym.st_shndx == SHN_UNDEF || sym.st_value == 0)
			continue;
		name = elf_strptr(elf, sh.sh_link, sym.st_name);
		if (!name || !name[0])
			continue;
		tmp[n++] = (struct sym_sort){
			.sym = { .addr = sym.st_value,
				 .size = (uint32_t)MIN(sym.st_size, (uint64_t)UINT32_MAX) },
			.name = name,
			.rank = (GELF_ST_BIND(sym.st_info) == STB_GLOBAL ? 8 :
				 GELF_ST_BIND(sym.st_info) == STB_WEAK ? 4 : 0) +
				(sym.st_size ? 2 : 0) + (name[0] != '_' ? 1 : 0),
		};
	}
	if (n)
		qsort(tmp, n, sizeof(*tmp), sym_cmp);
	/* keep the best-ranked name of each address */
	for (size_t i = 0; i < n; i++) {
		if (kept && tmp[kept - 1].sym.addr == tmp[i].sym.addr)
			continue;
		tmp[kept++] = tmp[i];
		names_len += strnlen(tmp[i].name, NAME_MAX_LEN) + 1;
	}
	if (obj->demangle) {
		int err = demangle_symbols(tmp, kept, deadline, &names_len);

		if (err) {
			free_demangled(tmp, kept);
			return err;
		}
	}
	if (kept * sizeof(struct elf_sym) + names_len > max_bytes || names_len > NAMES_MAX) {
		free_demangled(tmp, kept);
		return -E2BIG;
	}
	obj->syms = malloc((kept ? kept : 1) * sizeof(*obj->syms));
	obj->names = malloc(names_len ? names_len : 1);
	if (!obj->syms || !obj->names) {
		free_demangled(tmp, kept);
		return -ENOMEM;
	}
	for (size_t i = 0; i < kept; i++) {
		obj->syms[i] = tmp[i].sym;
		obj->syms[i].name = (uint32_t)obj->names_len;
		obj->syms[i].demangled = tmp[i].demangled != NULL;
		if (tmp[i].demangled)
			append_name(obj, tmp[i].demangled);
		append_name(obj, tmp[i].name);
	}
	free_demangled(tmp, kept);
	obj->sym_count = kept;
	return 0;
}


/* Loads the symbols and decides about DWARF; then lets go of every file
 * mapping DWARF does not need. */
static int finish_open(struct elf_object *obj, const struct stat *self,
		       const struct elf_object_opts *opts)
{
	uint64_t max_debug = opts && opts->max_debug_bytes ? opts->max_debug_bytes
							    : DEFAULT_MAX_DEBUG_BYTES;
	struct elf_sections sec, debug_sec;
	int err;

	if (gelf_getclass(obj->elf) == ELFCLASSNONE)
		return -ENOEXEC;
	err = read_loads(obj);
	if (err)
		return err;
	elf_file__build_id(obj->elf, obj->build_id);
	scan_sections(obj->elf, &sec);
	/* only worth a separate file when the object lacks DWARF */
	if (self && !sec.debug_info)
		obj->debug_elf = debug_file__find(obj->elf, obj->build_id, self, opts, &obj->debug);
	/* the network only for what has no names but exported ones */
	if (self && !sec.debug_info && !sec.symtab && !obj->debug_elf)
		obj->debug_elf = debug_file__fetch(obj->build_id, self, opts, &obj->debug);
	if (clock__past(opts ? opts->deadline_ns : 0))
		return -ETIMEDOUT;
	scan_sections(obj->debug_elf, &debug_sec);

	if (sec.symtab)
		err = load_symtab(obj, obj->elf, sec.symtab, opts);
	else if (debug_sec.symtab)
		err = load_symtab(obj, obj->debug_elf, debug_sec.symtab, opts);
	else if (sec.dynsym)
		err = load_symtab(obj, obj->elf, sec.dynsym, opts);
	obj->sym_source = sec.symtab	     ? ELF_SYMBOLS_SYMTAB
			  : debug_sec.symtab ? ELF_SYMBOLS_DEBUG_FILE
			  : sec.dynsym	     ? ELF_SYMBOLS_DYNSYM
					     : ELF_SYMBOLS_NONE;
	if (err == -ETIMEDOUT || err == -E2BIG || err == -ENOMEM)
		return err;
	if (err)
		log_debug("failed to load ELF symbols: %s", strerror(-err));
	err = elf_synth__add_plt(obj, obj->elf, opts);
	if (err == -E2BIG || err == -ENOMEM)
		return err;
	err = elf_synth__load_go(obj, opts, sec.symtab || debug_sec.symtab);
	if (err)
		return err;
	obj->has_symbols = obj->sym_count > 0 || obj->gopcln;
	if (obj->gopcln_names)
		obj->sym_source = ELF_SYMBOLS_GOPCLNTAB;

	/* what libdw maps and inflates of it must fit */
	if (sec.debug_info && sec.debug_bytes + sec.inflated <= max_debug) {
		obj->dwarf_elf = obj->elf;
		obj->has_lines = sec.debug_line;
		obj->dwarf_inflated = sec.inflated;
	} else if (debug_sec.debug_info && debug_sec.debug_bytes + debug_sec.inflated <= max_debug) {
		obj->dwarf_elf = obj->debug_elf;
		obj->has_lines = debug_sec.debug_line;
		obj->dwarf_inflated = debug_sec.inflated;
	} else if (sec.debug_info || debug_sec.debug_info) {
		log_debug("DWARF of %s is over %llu bytes, using ELF symbols only",
			  obj->build_id[0] ? obj->build_id : "an object",
			  (unsigned long long)max_debug);
	}
	obj->has_inlines = obj->dwarf_elf != NULL;
	obj->has_lines = obj->has_lines || obj->gopcln;
	obj->has_inlines = obj->has_inlines || gopclntab__has_inlines(obj->gopcln);
	/* what DWARF does not read is unmapped now */
	if (obj->debug_elf && obj->dwarf_elf != obj->debug_elf) {
		elf_end(obj->debug_elf);
		obj->debug_elf = NULL;
	}
	if (!obj->image && obj->dwarf_elf != obj->elf) {
		elf_end(obj->elf);
		obj->elf = NULL;
	}
	/* libdw's first lookup reads every address range of the object:
	 * done here, by the loader, not by the first lookup */
	if (obj->dwarf_elf && !obj->image)
		elf_object_int__dwarf(obj);
	return clock__past(opts ? opts->deadline_ns : 0) ? -ETIMEDOUT : 0;
}

int elf_object__open_fd(int fd, const struct elf_object_opts *opts, struct elf_object **out)
{
	struct elf_object *obj;
	struct stat st;
	int err;

	if (!elf_file__ready())
		return -ENOSYS;
	if (fstat(fd, &st) != 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -ENOEXEC;
	obj = calloc(1, sizeof(*obj));
	if (!obj)
		return -ENOMEM;
	obj->demangle = opts && opts->demangle;
	obj->elf = elf_file__from_fd(fd);
	err = obj->elf ? finish_open(obj, &st, opts) : -ENOEXEC;
	if (err)
		goto fail;
	*out = obj;
	return 0;
fail:
	elf_object__free(obj);
	return err;
}

int elf_object__open_memory(const void *image, size_t size, const char *name,
			    struct elf_object **out)
{
	struct elf_object *obj;
	int err;

	if (!elf_file__ready())
		return -ENOSYS;
	obj = calloc(1, sizeof(*obj));
	if (!obj)
		return -ENOMEM;
	/* libelf may write to an elf_memory() image; never let it touch
	 * the caller's (the vdso is mapped read-only). */
	obj->image = malloc(size ? size : 1);
	if (!obj->image) {
		err = -ENOMEM;
		goto fail;
	}
	memcpy(obj->image, image, size);
	obj->elf = elf_memory(obj->image, size);
	if (!obj->elf || elf_kind(obj->elf) != ELF_K_ELF) {
		log_debug("failed to open in-memory ELF '%s': %s",
			  name ? name : "?", elf_errmsg(-1));
		err = -ENOEXEC;
		goto fail;
	}
	err = finish_open(obj, NULL, NULL);
	if (err)
		goto fail;
	*out = obj;
	return 0;
fail:
	elf_object__free(obj);
	return err;
}

void elf_object__free(struct elf_object *obj)
{
	if (!obj)
		return;
	if (obj->dwarf)
		dwarf_end(obj->dwarf);
	u64map_release(&obj->dwarf_cus);
	u64map_foreach(&obj->dwarf_names, i)
		free((char *)(uintptr_t)obj->dwarf_names.values[i]);
	u64map_release(&obj->dwarf_names);
	if (obj->debug_elf)
		elf_end(obj->debug_elf);
	debug_file_where__release(&obj->debug);
	if (obj->elf)
		elf_end(obj->elf);
	free(obj->image);
	free(obj->loads);
	free(obj->syms);
	free(obj->names);
	gopclntab__free(obj->gopcln);
	free(obj->cache);
	free(obj);
}

const char *elf_object__build_id(const struct elf_object *obj)
{
	return obj->build_id;
}

const struct debug_file_where *elf_object__debug_file(const struct elf_object *obj)
{
	return &obj->debug;
}

enum elf_symbol_source elf_object__symbol_source(const struct elf_object *obj)
{
	return obj->sym_source;
}

bool elf_object__has_symbols(const struct elf_object *obj)
{
	return obj->has_symbols;
}

bool elf_object__has_lines(const struct elf_object *obj)
{
	return obj->has_lines;
}

bool elf_object__has_inlines(const struct elf_object *obj)
{
	return obj->has_inlines;
}

size_t elf_object__symbol_count(const struct elf_object *obj)
{
	return obj->sym_count + (obj->gopcln ? gopclntab__func_count(obj->gopcln) : 0);
}

size_t elf_object__bytes(const struct elf_object *obj)
{
	if (!obj)
		return 0;
	return sizeof(*obj) + obj->sym_count * sizeof(*obj->syms) + obj->names_len +
	       obj->load_count * sizeof(*obj->loads) +
	       (obj->cache ? CACHE_SLOTS * sizeof(*obj->cache) : 0) + obj->dwarf_bytes +
	       obj->dwarf_names_bytes + gopclntab__bytes(obj->gopcln);
}

int elf_object__vaddr(const struct elf_object *obj, uint64_t map_start,
		      uint64_t map_offset, uint64_t addr, uint64_t *vaddr)
{
	uint64_t file_offset;

	if (addr < map_start)
		return -ENOENT;
	file_offset = addr - map_start + map_offset;
	/* Work in file offsets, not pages: lld and gold lay segments out
	 * without page-aligning p_offset/p_vaddr, and two segments can
	 * share a file page. Executable segments win such a tie since we
	 * only symbolize code. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < obj->load_count; i++) {
			const struct elf_load *l = &obj->loads[i];

			if (pass == 0 && !l->exec)
				continue;
			if (file_offset >= l->offset &&
			    file_offset - l->offset < l->filesz) {
				*vaddr = file_offset - l->offset + l->vaddr;
				return 0;
			}
		}
	}
	return -ENOENT;
}

const struct elf_sym *elf_object_int__find_symbol(const struct elf_object *obj,
					 uint64_t vaddr)
{
	size_t lo = PARTITION_POINT(obj->sym_count, mid, obj->syms[mid].addr <= vaddr);
	const struct elf_sym *s;

	if (lo == 0)
		return NULL;
	s = &obj->syms[lo - 1];
	/* a zero-sized symbol (hand-written assembly) runs to the next one */
	if (s->size && vaddr - s->addr >= s->size) {
		/* a return address at a function's entry, looked up at pc - 1
		 * (Go saves runtime.systemstack_switch's entry as a goroutine's
		 * pc in cgo calls), lands in the padding before it */
		if (lo < obj->sym_count && obj->syms[lo].addr == vaddr + 1)
			return &obj->syms[lo];
		return NULL;
	}
	return s;
}

Dwarf *elf_object_int__dwarf(struct elf_object *obj)
{
	if (obj->dwarf_opened)
		return obj->dwarf;
	obj->dwarf_opened = true;
	if (!obj->dwarf_elf)
		return NULL;
	obj->dwarf = dwarf_begin_elf(obj->dwarf_elf, DWARF_C_READ, NULL);
	if (!obj->dwarf) {
		log_debug("failed to read DWARF: %s", dwarf_errmsg(-1));
		return NULL;
	}
	obj->dwarf_bytes += obj->dwarf_inflated;
	{
		Dwarf_Aranges *ar;
		size_t n = 0;

		/* libdw reads every address range once, on the first lookup */
		if (dwarf_getaranges(obj->dwarf, &ar, &n) == 0)
			obj->dwarf_bytes += n * DWARF_ARANGE_BYTES;
	}
	return obj->dwarf;
}

void elf_object__release_pages(struct elf_object *obj)
{
	Elf *elfs[2] = { obj ? obj->elf : NULL, obj ? obj->debug_elf : NULL };

	if (!obj || obj->image)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(elfs); i++) {
		size_t size;
		char *raw = elfs[i] ? elf_rawfile(elfs[i], &size) : NULL;

		/* a read-only private file mapping: its pages come back from
		 * the page cache, unchanged, when libdw reads them again */
		if (raw && size && ((uintptr_t)raw & 4095) == 0)
			madvise(raw, size, MADV_DONTNEED);
	}
}

static const char *die_function_name(Dwarf_Die *die)
{
	Dwarf_Attribute attr;
	const char *name = NULL;

	/* linkage names match the ELF symbols (mangled for C++) */
	if (dwarf_attr_integrate(die, DW_AT_linkage_name, &attr) ||
	    dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr))
		name = dwarf_formstring(&attr);
	return name ? name : dwarf_diename(die);
}

static const char *call_site(Dwarf_Die *inlined, Dwarf_Files *files,
			     uint32_t *line)
{
	Dwarf_Attribute attr;
	Dwarf_Word file_idx, line_no;
	const char *file = NULL;

	*line = 0;
	if (dwarf_attr(inlined, DW_AT_call_line, &attr) &&
	    dwarf_formudata(&attr, &line_no) == 0 && line_no <= UINT32_MAX)
		*line = (uint32_t)line_no;
	if (files && dwarf_attr(inlined, DW_AT_call_file, &attr) &&
	    dwarf_formudata(&attr, &file_idx) == 0)
		file = dwarf_filesrc(files, file_idx, NULL, NULL);
	return file;
}

/* Counts what libdw decodes for a unit the first time one of its
 * addresses is looked up: its line table and the unit itself. */
static void account_unit(struct elf_object *obj, Dwarf_Die *cudie)
{
	uint64_t off = dwarf_dieoffset(cudie);
	Dwarf_Lines *lines;
	size_t n = 0;

	if (u64map_get(&obj->dwarf_cus, off, NULL))
		return;
	if (dwarf_getsrclines(cudie, &lines, &n) != 0)
		n = 0;
	if (u64map_set(&obj->dwarf_cus, off, 1) == 0)
		obj->dwarf_bytes += n * DWARF_LINE_BYTES + DWARF_CU_BYTES;
}

/* Shows a DWARF linkage name demangled: each name is demangled once and
 * kept (counted in the object's bytes) until the object goes; a name that
 * does not demangle, or memory that runs out, leaves it as it is. */
static void demangle_line(struct elf_object *obj, struct sym_line *line)
{
	uint64_t key = (uintptr_t)line->function, value;
	char *demangled;

	if (!obj->demangle || !demangle__is_mangled(line->function))
		return;
	if (!u64map_get(&obj->dwarf_names, key, &value)) {
		demangled = demangle__name(line->function);
		if (demangled && u64map_set(&obj->dwarf_names, key, (uintptr_t)demangled) != 0) {
			free(demangled);
			return;
		}
		/* a name that does not demangle is remembered too (as 0) */
		if (!demangled && u64map_set(&obj->dwarf_names, key, 0) != 0)
			return;
		value = (uintptr_t)demangled;
		obj->dwarf_names_bytes += 2 * sizeof(uint64_t) +
					  (demangled ? strlen(demangled) + 1 : 0);
	}
	if (value) {
		line->system_name = line->function;
		line->function = (const char *)(uintptr_t)value;
	}
}

/* A symbol's name in a line: its demangled name (its mangled one
 * follows it in names), or the name as it is. */
static void symbol_line(const struct elf_object *obj, const struct elf_sym *sym,
			struct sym_line *line)
{
	line->function = obj->names + sym->name;
	line->system_name = sym->demangled ? line->function + strlen(line->function) + 1 : NULL;
}

/* Fills frames (innermost first) from DWARF; returns how many, 0 if DWARF
 * does not cover vaddr. */
static int dwarf_frames(struct elf_object *obj, uint64_t vaddr,
			struct sym_line *frames, int max, uint64_t *outer_low)
{
	Dwarf_Die cudie, innermost, *scopes = NULL;
	Dwarf_Files *files = NULL;
	Dwarf_Line *line;
	Dwarf *dwarf = elf_object_int__dwarf(obj);
	const char *file = NULL;
	uint32_t line_no = 0;
	int nscopes, count = 0;
	size_t nfiles;

	if (!dwarf || !dwarf_addrdie(dwarf, vaddr, &cudie))
		return 0;
	account_unit(obj, &cudie);
	line = dwarf_getsrc_die(&cudie, vaddr);
	if (line) {
		int l;

		file = dwarf_linesrc(line, NULL, NULL);
		if (dwarf_lineno(line, &l) == 0 && l > 0)
			line_no = (uint32_t)l;
	}
	if (dwarf_getsrcfiles(&cudie, &files, &nfiles) != 0)
		files = NULL;

	/* dwarf_getscopes finds the innermost scope; its lexical parents
	 * (dwarf_getscopes_die) give the inline chain, each
	 * DW_TAG_inlined_subroutine naming where it was called from. */
	nscopes = dwarf_getscopes(&cudie, vaddr, &scopes);
	if (nscopes <= 0) {
		free(scopes);
		return 0;
	}
	if (!dwarf_offdie(dwarf, dwarf_dieoffset(&scopes[0]), &innermost)) {
		free(scopes);
		return 0;
	}
	free(scopes);
	scopes = NULL;
	nscopes = dwarf_getscopes_die(&innermost, &scopes);
	for (int i = 0; i < nscopes && count < max; i++) {
		int tag = dwarf_tag(&scopes[i]);

		if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram)
			continue;
		frames[count++] = (struct sym_line){
			.function = die_function_name(&scopes[i]),
			.file = file,
			.line = line_no,
		};
		demangle_line(obj, &frames[count - 1]);
		if (tag == DW_TAG_subprogram) {
			Dwarf_Addr low;

			if (dwarf_lowpc(&scopes[i], &low) == 0 ||
			    dwarf_entrypc(&scopes[i], &low) == 0)
				*outer_low = low;
			break;
		}
		file = call_site(&scopes[i], files, &line_no);
	}
	free(scopes);
	return count;
}

static int symbolize_uncached(struct elf_object *obj, uint64_t vaddr, bool use_dwarf,
			      struct sym_line *frames, int max)
{
	const struct elf_sym *sym = elf_object_int__find_symbol(obj, vaddr);
	uint64_t outer_low = 0;
	int count = use_dwarf ? dwarf_frames(obj, vaddr, frames, max, &outer_low) : 0;

	if (count > 0) {
		struct sym_line *outer = &frames[count - 1];

		/* The ELF symbol names the real function the way profiles
		 * of stripped builds name it too. */
		if (sym) {
			symbol_line(obj, sym, outer);
			outer->sym_offset = vaddr - sym->addr;
		} else if (outer_low && outer_low <= vaddr) {
			outer->sym_offset = vaddr - outer_low;
		}
		return outer->function ? count : 0;
	}
	/* Go's table before dynamic symbols: it names every Go function; a
	 * symbol table's names come first where there is one */
	count = elf_synth__go_frames(obj, vaddr, frames, max);
	if (count > 0 && sym && !obj->gopcln_names) {
		frames[count - 1].function = obj->names + sym->name;
		frames[count - 1].sym_offset = vaddr - sym->addr;
	}
	if (count > 0)
		return count;
	if (!sym)
		return 0;
	frames[0] = (struct sym_line){ .sym_offset = vaddr - sym->addr };
	symbol_line(obj, sym, &frames[0]);
	return 1;
}

int elf_object__symbolize(struct elf_object *obj, uint64_t vaddr, bool use_dwarf,
			  struct sym_line *lines, int max)
{
	struct sym_line frames[INLINE_MAX];
	struct cache_slot *slot = NULL;
	int count;

	if (!obj || max <= 0)
		return 0;
	use_dwarf = use_dwarf && obj->dwarf_elf;
	if (!obj->cache)
		obj->cache = calloc(CACHE_SLOTS, sizeof(*obj->cache));
	if (obj->cache) {
		/* code addresses are clustered: mix the bits before masking */
		uint64_t h = vaddr * 0x9e3779b97f4a7c15ull;

		slot = &obj->cache[h >> 58 & (CACHE_SLOTS - 1)];
	}
	if (slot && slot->count != 0 && slot->vaddr == vaddr && slot->dwarf == use_dwarf) {
		count = slot->count < 0 ? 0 : slot->count;
		memcpy(frames, slot->lines, (size_t)count * sizeof(frames[0]));
	} else {
		count = symbolize_uncached(obj, vaddr, use_dwarf, frames, INLINE_MAX);
		if (slot && count <= CACHE_LINES) {
			slot->vaddr = vaddr;
			slot->count = count ? count : -1;
			slot->dwarf = use_dwarf;
			memcpy(slot->lines, frames, (size_t)count * sizeof(frames[0]));
		}
	}
	if (count <= max) {
		memcpy(lines, frames, (size_t)count * sizeof(frames[0]));
		return count;
	}
	/* too deep for the caller: innermost frames, then the real function */
	memcpy(lines, frames, (size_t)(max - 1) * sizeof(frames[0]));
	lines[max - 1] = frames[count - 1];
	return max;
}
