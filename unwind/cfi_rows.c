#include "unwind/cfi_rows.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <errno.h>
#include <gelf.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/macros.h"
#include "common/u64map.h"

/* DWARF register numbers on x86-64 (System V psABI, figure 3.36). */
#define REG_RBP 6
#define REG_RSP 7
#define REG_RIP 16 /* return address column */

/* CFI sources in priority order: .eh_frame, then .debug_frame of the
 * object, then .debug_frame of its separate debug file. */
#define SOURCES_MAX 3

/* The work model (units: about a byte of CFI interpreted by libdw).
 * dwarf_cfi_addrframe finds the FDE, copies its CIE's initial state and
 * runs the FDE's instructions up to the pc: CALL_OVERHEAD plus the
 * instruction bytes plus a frame-state copy (FRAME_HEADER + 16 bytes a
 * register) for the initial state and each DW_CFA_remember_state,
 * counted as its size / 4 (a copy costs about that: malloc and memcpy).
 * A walk asks once per row of the FDE, plus once where it enters, once
 * where it leaves and once where libdw fails. */
#define CALL_OVERHEAD 64
#define FRAME_HEADER 96
/* Registers libdw's x86-64 backend gives every initial state. */
#define ABI_REGS 17
/* What libdw holds for each CFI entry it reads (its FDE or CIE record,
 * the search-tree node, malloc's overhead), and for each byte of a DWARF
 * expression it decodes (a Dwarf_Op of 32 bytes per operation, cached),
 * in bytes. */
#define LIBDW_ENTRY_BYTES 128
#define LIBDW_EXPR_BYTES 40
/* Deadline checks: one every this many libdw calls or CFI entries. */
#define CLOCK_EVERY 64

struct cfi_source {
	Dwarf_CFI *cfi;
	Dwarf *dwarf;	/* .debug_frame: dwarf_getcfi's owner */
	Elf *elf;	/* the checked copy, an ELF of one CFI section */
	uint8_t *image;	/* behind elf */
};

struct pc_list {
	uint64_t *pcs;
	size_t len, cap;
};

/* What libdw does with one CIE or FDE program: rows it starts, frame
 * states it copies, the highest register it sizes states for. */
struct cfi_scan {
	uint64_t advances;	/* row-advancing instructions */
	uint64_t remembers;	/* DW_CFA_remember_state */
	uint64_t max_reg;	/* highest register a rule names */
	unsigned max_depth;	/* deepest remember_state nesting */
	size_t len;		/* bytes interpreted */
	size_t expr_bytes;	/* DWARF expressions (libdw caches them decoded) */
};

/* A CIE as an FDE of it needs it. */
struct cie_info {
	bool usable;	/* read the way libdw reads it, within the limits */
	bool over;	/* read so, but over the limits */
	bool sized;	/* 'z' augmentation: FDEs carry a sized block */
	int fde_enc;	/* DW_EH_PE_* of FDE addresses */
	bool charged;	/* its own run counted in the work already */
	struct cfi_scan scan;
};

struct builder {
	struct cfi_source sources[SOURCES_MAX];
	size_t source_count;
	struct pc_list starts;	/* FDE initial locations */
	struct cfi_rows *rows;
	size_t rows_cap;
	size_t rows_max;	/* bound from the CFI size, see add_source */
	uint64_t deadline_ns;	/* 0: none */
	size_t max_bytes;
	size_t bytes;		/* accounted now */
	size_t frame_peak;	/* largest transient frame states of one call */
	unsigned clock_countdown;
};

static bool libelf_ready(void)
{
	static int state; /* 0 unknown, 1 ok, -1 failed */

	if (!state)
		state = elf_version(EV_CURRENT) == EV_NONE ? -1 : 1;
	return state > 0;
}

/* -ETIMEDOUT once the deadline has passed; reads the clock every
 * CLOCK_EVERY calls (each unit between two is bounded). */
static int check_clock(struct builder *b)
{
	if (!b->deadline_ns || b->clock_countdown--)
		return 0;
	b->clock_countdown = CLOCK_EVERY;
	return clock__mono_ns() >= b->deadline_ns ? -ETIMEDOUT : 0;
}

/* Counts n more bytes held: -E2BIG past max_bytes. */
static int account(struct builder *b, size_t n)
{
	size_t now = b->bytes + b->frame_peak;

	if (n > b->max_bytes || now > b->max_bytes - n)
		return -E2BIG;
	b->bytes += n;
	b->rows->peak_bytes = MAX(b->rows->peak_bytes, b->bytes + b->frame_peak);
	return 0;
}

static int pc_list_push(struct builder *b, struct pc_list *l, uint64_t pc)
{
	if (l->len == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 256;
		uint64_t *p;
		int err = account(b, (cap - l->cap) * sizeof(*p));

		if (err)
			return err;
		p = realloc(l->pcs, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		l->pcs = p;
		l->cap = cap;
	}
	l->pcs[l->len++] = pc;
	return 0;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* ---- CFI checks ----------------------------------------------------- */

/* An unsigned LEB128 the way libdw reads one: at most 10 bytes, and
 * UINT64_MAX when no terminating byte comes before end or within them. */
static uint64_t get_uleb(const uint8_t **p, const uint8_t *end)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < 10 && *p < end; i++) {
		uint8_t b = *(*p)++;

		v |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80))
			return v;
	}
	return UINT64_MAX;
}

/* Reads an unsigned LEB128 at *p (< end); false if it runs off the end
 * or does not fit 64 bits. */
static bool read_uleb(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	uint64_t r = 0;

	for (unsigned shift = 0; *p < end; shift += 7) {
		uint8_t b = *(*p)++;

		if (shift >= 64)
			return false;
		r |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = r;
			return true;
		}
	}
	return false;
}

static uint64_t read_le(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = n; i-- > 0;)
		v = v << 8 | p[i];
	return v;
}

/* Size of a fixed-size DW_EH_PE_* value format, 0 for LEB128 and
 * unknown formats (which the FDE decoder refuses). */
static size_t eh_pe_size(uint8_t enc)
{
	switch (enc & 0x0f) {
	case DW_EH_PE_absptr:
	case DW_EH_PE_udata8:
	case DW_EH_PE_sdata8:
		return 8;
	case DW_EH_PE_udata2:
	case DW_EH_PE_sdata2:
		return 2;
	case DW_EH_PE_udata4:
	case DW_EH_PE_sdata4:
		return 4;
	default:
		return 0;
	}
}

/* Runs over a CFI program as libdw's interpreter (execute_cfi) decodes
 * it, without interpreting it: what it would cost. Stops where libdw
 * would stop with an error. addr_size: DW_CFA_set_loc's operand. */
static void scan_program(const uint8_t *p, const uint8_t *end, size_t addr_size,
			 struct cfi_scan *s)
{
	const uint8_t *start = p;
	unsigned depth = 0;

#define REG(r)                                               \
	do {                                                 \
		uint64_t _r = (r);                           \
		s->max_reg = MAX(s->max_reg, _r);            \
	} while (0)
#define SKIP(n)                                              \
	do {                                                 \
		if ((size_t)(end - p) < (size_t)(n))         \
			goto out;                            \
		p += (n);                                    \
	} while (0)
	while (p < end) {
		uint8_t op = *p++;
		uint64_t len;

		switch (op >> 6) {
		case 1: /* DW_CFA_advance_loc */
			s->advances++;
			continue;
		case 2: /* DW_CFA_offset */
			REG(op & 0x3f);
			get_uleb(&p, end);
			continue;
		case 3: /* DW_CFA_restore */
			REG(op & 0x3f);
			continue;
		}
		switch (op) {
		case DW_CFA_nop:
			break;
		case DW_CFA_set_loc:
			SKIP(addr_size);
			s->advances++;
			break;
		case DW_CFA_advance_loc1:
			SKIP(1);
			s->advances++;
			break;
		case DW_CFA_advance_loc2:
			SKIP(2);
			s->advances++;
			break;
		case DW_CFA_advance_loc4:
			SKIP(4);
			s->advances++;
			break;
		case DW_CFA_MIPS_advance_loc8:
			SKIP(8);
			s->advances++;
			break;
		case DW_CFA_offset_extended:
		case DW_CFA_register:
		case DW_CFA_val_offset:
		case DW_CFA_GNU_negative_offset_extended:
		case DW_CFA_offset_extended_sf:
		case DW_CFA_val_offset_sf:
			REG(get_uleb(&p, end));
			get_uleb(&p, end); /* an offset or a register; LEB either way */
			break;
		case DW_CFA_restore_extended:
		case DW_CFA_undefined:
		case DW_CFA_same_value:
			REG(get_uleb(&p, end));
			break;
		case DW_CFA_remember_state:
			s->remembers++;
			depth++; /* not inside MAX(), which evaluates it twice */
			s->max_depth = MAX(s->max_depth, depth);
			break;
		case DW_CFA_restore_state:
			if (!depth)
				goto out; /* libdw: nothing to restore */
			depth--;
			break;
		case DW_CFA_def_cfa:
		case DW_CFA_def_cfa_sf:
			get_uleb(&p, end);
			get_uleb(&p, end);
			break;
		case DW_CFA_def_cfa_register:
		case DW_CFA_def_cfa_offset:
		case DW_CFA_def_cfa_offset_sf:
		case DW_CFA_GNU_args_size:
			get_uleb(&p, end);
			break;
		case DW_CFA_def_cfa_expression:
			len = get_uleb(&p, end);
			SKIP(len);
			s->expr_bytes += len;
			break;
		case DW_CFA_expression:
		case DW_CFA_val_expression:
			REG(get_uleb(&p, end));
			len = get_uleb(&p, end);
			SKIP(len);
			s->expr_bytes += len;
			break;
		case DW_CFA_GNU_window_save:
			REG(31);
			break;
		default:
			goto out; /* libdw: invalid CFI */
		}
	}
out:
	s->len = (size_t)(p - start);
#undef REG
#undef SKIP
}

/* Bytes of one frame state for rules up to max_reg. */
static uint64_t frame_bytes(uint64_t max_reg)
{
	return FRAME_HEADER + 16 * MAX(max_reg + 1, (uint64_t)ABI_REGS);
}

static bool scan_within_limits(const struct cfi_scan *s)
{
	return s->max_reg <= CFI_REG_MAX && s->max_depth <= CFI_REMEMBER_MAX;
}

/* The FDE address encoding of a CIE, read as libdw reads it
 * (intern_new_cie), for the augmentations whose reading is unambiguous:
 * none, "S", or 'z' followed by L, P (fixed-size), R, S, B, G. Anything else
 * libdw may read differently than a strict reader: false. */
static bool cie_encoding(const Dwarf_CIE *cie, int *enc, bool *sized)
{
	const char *aug = cie->augmentation;
	const uint8_t *p = cie->augmentation_data;
	const uint8_t *end = p ? p + cie->augmentation_data_size : NULL;

	*enc = DW_EH_PE_absptr;
	*sized = false;
	if (!aug)
		return false;
	if (aug[0] != 'z') {
		/* without 'z', only 'S' (no data) reads the same everywhere */
		return aug[strspn(aug, "S")] == '\0';
	}
	if (!p)
		return false;
	*sized = true;
	for (const char *c = aug + 1; *c; c++) {
		size_t size;

		switch (*c) {
		case 'R':
			if (p >= end)
				return false;
			*enc = *p++;
			break;
		case 'L':
			if (p >= end)
				return false;
			p++;
			break;
		case 'P':
			if (p >= end)
				return false;
			if (*p == DW_EH_PE_omit) {
				p++;
				break;
			}
			size = eh_pe_size(*p++);
			if (size == 0 || (size_t)(end - p) < size)
				return false;
			p += size;
			break;
		case 'S':
		case 'B':
		case 'G':
			break; /* no data */
		default:
			return false;
		}
	}
	return true;
}

/* Decodes the initial location at fde->start. section_addr is the
 * section's sh_addr, for DW_EH_PE_pcrel. */
static bool fde_initial_location(const Dwarf_FDE *fde, const Elf_Data *data,
				 uint64_t section_addr, int enc, uint64_t *pc)
{
	const uint8_t *base = data->d_buf;
	size_t size = eh_pe_size((uint8_t)enc);
	uint64_t v;

	if (enc < 0 || size == 0 || fde->start < base ||
	    fde->start > fde->end || (size_t)(fde->end - fde->start) < size)
		return false;
	v = read_le(fde->start, size);
	if ((enc & 0x0f) >= DW_EH_PE_sdata2 && size < 8) {
		uint64_t sign = 1ull << (8 * size - 1);

		v = (v ^ sign) - sign;
	}
	switch (enc & 0x70) {
	case DW_EH_PE_absptr:
		break;
	case DW_EH_PE_pcrel:
		v += section_addr + (uint64_t)(fde->start - base);
		break;
	default:
		return false; /* datarel/textrel/funcrel: not used for FDEs here */
	}
	*pc = v;
	return true;
}

static Elf_Scn *find_section(Elf *elf, const char *name, GElf_Shdr *shdr)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	if (elf_getshdrstrndx(elf, &shstrndx) != 0)
		return NULL;
	while ((scn = elf_nextscn(elf, scn))) {
		const char *s;

		if (!gelf_getshdr(scn, shdr) || shdr->sh_type == SHT_NOBITS)
			continue;
		s = elf_strptr(elf, shstrndx, shdr->sh_name);
		if (s && strcmp(s, name) == 0)
			return scn;
	}
	return NULL;
}

/* One CFI section being checked: the copy libdw will read. */
struct section_check {
	struct builder *b;
	Elf_Data data;		/* over the copy */
	const unsigned char *ident;
	bool eh_frame;
	uint64_t section_addr;
	uint64_t exec_lo, exec_hi;
	struct u64map cie_index;	/* CIE offset -> index + 1 in cies */
	struct cie_info *cies;
	size_t cie_count, cie_cap;
	uint64_t work;
};

/* The CIE at offset, read as libdw's __libdw_find_cie reads it; NULL if
 * there is none there (libdw then ignores the FDE). */
static int cie_at(struct section_check *c, Dwarf_Off off, struct cie_info **out)
{
	Dwarf_CFI_Entry entry;
	Dwarf_Off next = off;
	struct cie_info *ci;
	uint64_t idx;
	int err;

	*out = NULL;
	if (u64map_get(&c->cie_index, off, &idx)) {
		*out = idx ? &c->cies[idx - 1] : NULL;
		return 0;
	}
	if (dwarf_next_cfi(c->ident, &c->data, c->eh_frame, off, &next, &entry) != 0 ||
	    !dwarf_cfi_cie_p(&entry))
		return u64map_set(&c->cie_index, off, 0);
	if (c->cie_count == c->cie_cap) {
		size_t cap = c->cie_cap ? 2 * c->cie_cap : 16;
		struct cie_info *p;

		err = account(c->b, (cap - c->cie_cap) * sizeof(*p));
		if (err)
			return err;
		p = realloc(c->cies, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		c->cies = p;
		c->cie_cap = cap;
	}
	ci = &c->cies[c->cie_count];
	*ci = (struct cie_info){ 0 };
	if (cie_encoding(&entry.cie, &ci->fde_enc, &ci->sized) &&
	    !(ci->fde_enc & DW_EH_PE_indirect) && eh_pe_size((uint8_t)ci->fde_enc) &&
	    ((ci->fde_enc & 0x70) == DW_EH_PE_absptr ||
	     ((ci->fde_enc & 0x70) == DW_EH_PE_pcrel && c->eh_frame))) {
		scan_program(entry.cie.initial_instructions,
			     entry.cie.initial_instructions_end,
			     eh_pe_size((uint8_t)ci->fde_enc), &ci->scan);
		ci->usable = scan_within_limits(&ci->scan);
		ci->over = !ci->usable;
	}
	err = u64map_set(&c->cie_index, off, ++c->cie_count);
	if (err)
		return err;
	*out = ci;
	return account(c->b, LIBDW_ENTRY_BYTES);
}

/* Makes libdw skip the FDE at off: its CIE pointer then names the FDE
 * itself, which is not a CIE, so libdw's reader drops it as it drops any
 * FDE without a CIE. The entry's length is kept, so the section is still
 * walked the same way. */
static void hide_fde(struct section_check *c, Dwarf_Off off)
{
	uint8_t *entry = (uint8_t *)c->data.d_buf + off;
	bool dwarf64 = read_le(entry, 4) == 0xffffffffu;
	size_t field = dwarf64 ? 12 : 4, size = dwarf64 ? 8 : 4;
	/* .eh_frame: the distance back from the field; .debug_frame: the
	 * section offset */
	uint64_t v = c->eh_frame ? field : off;

	for (size_t i = 0; i < size; i++)
		entry[field + i] = (uint8_t)(v >> (8 * i));
}

/* Checks one FDE (at section offset off). Adds its initial location to
 * b->starts when libdw may use it; hides it from libdw when it is over
 * the limits or cannot be read the way libdw reads it. */
static int check_fde(struct section_check *c, Dwarf_Off off, const Dwarf_FDE *fde)
{
	struct builder *b = c->b;
	struct cfi_rows *r = b->rows;
	struct cie_info *ci;
	struct cfi_scan scan = { 0 };
	const uint8_t *p, *end = fde->end;
	uint64_t pc, range, call, work, frame, max_reg;
	size_t size, states;
	int err;

	r->fde_count++;
	err = cie_at(c, fde->CIE_pointer, &ci);
	if (err)
		return err;
	if (!ci) {
		r->fde_skipped++; /* libdw ignores an FDE without a CIE */
		return 0;
	}
	if (ci->over)
		goto over;
	if (!ci->usable)
		goto hide;
	size = eh_pe_size((uint8_t)ci->fde_enc);
	if (!fde_initial_location(fde, &c->data, c->section_addr, ci->fde_enc, &pc) ||
	    (size_t)(end - fde->start) < 2 * size)
		goto hide;
	p = fde->start + 2 * size;
	range = read_le(fde->start + size, size);
	if (ci->sized) {
		uint64_t aug;

		if (!read_uleb(&p, end, &aug) || aug > (uint64_t)(end - p))
			goto hide;
		p += aug;
	}
	scan_program(p, end, size, &scan);
	if (!scan_within_limits(&scan))
		goto over;
	max_reg = MAX(scan.max_reg, ci->scan.max_reg);
	frame = frame_bytes(max_reg);
	call = CALL_OVERHEAD + scan.len + (scan.remembers + 1) * frame / 4;
	if (call > CFI_CALL_WORK_MAX || scan.advances + 3 > CFI_FDE_WORK_MAX / call)
		goto over;
	work = (scan.advances + 3) * call;
	/* only what a walk of the executable segments can reach costs */
	if (range && pc < c->exec_hi && pc + range > c->exec_lo && pc + range > pc) {
		if (!ci->charged) {
			ci->charged = true;
			c->work += ci->scan.len + (ci->scan.remembers + 1) *
				   frame_bytes(ci->scan.max_reg) / 4;
		}
		c->work += work;
		states = (size_t)((MAX(scan.max_depth, ci->scan.max_depth) + 1) * frame);
		b->frame_peak = MAX(b->frame_peak, states);
	}
	err = account(b, LIBDW_ENTRY_BYTES + scan.expr_bytes * LIBDW_EXPR_BYTES);
	if (err)
		return err;
	return pc_list_push(b, &b->starts, pc);
over:
	r->fde_over_limits++;
hide:
	r->fde_skipped++;
	hide_fde(c, off);
	return 0;
}

/* Checks every entry of a CFI section copy, in the order and with the
 * resynchronisation of libdw's own sequential reader (__libdw_find_fde),
 * so that every FDE libdw can find has been checked. */
static int check_entries(struct section_check *c)
{
	Dwarf_Off off = 0;
	int err = 0;

	for (;;) {
		Dwarf_Off last = off;
		Dwarf_CFI_Entry entry;
		int r;

		err = check_clock(c->b);
		if (err)
			break;
		/* libdw keeps its next offset where an error leaves it */
		r = dwarf_next_cfi(c->ident, &c->data, c->eh_frame, last, &off, &entry);
		if (r > 0)
			break;
		if (r < 0) {
			if (off == last || off == (Dwarf_Off)-1)
				break;
			continue;
		}
		if (dwarf_cfi_cie_p(&entry)) {
			struct cie_info *ci;

			err = cie_at(c, last, &ci);
		} else {
			err = check_fde(c, last, &entry.fde);
		}
		if (err || off <= last)
			break;
	}
	return err;
}

/* The decompressed size of a SHF_COMPRESSED section, or 0 for one that
 * is not compressed; SIZE_MAX when its header cannot be read. */
static size_t compressed_size(Elf_Scn *scn, const GElf_Shdr *shdr)
{
	GElf_Chdr chdr;

	if (!(shdr->sh_flags & SHF_COMPRESSED))
		return 0;
	if (!gelf_getchdr(scn, &chdr))
		return SIZE_MAX;
	return chdr.ch_size;
}

/* An ELF image holding one section (name, the bytes of data at addr),
 * for libdw to read CFI from. */
static uint8_t *build_image(const char *name, const Elf_Data *data, uint64_t addr,
			    bool alloc, size_t *image_size)
{
	size_t name_len = strlen(name) + 1;
	size_t strtab_off = sizeof(Elf64_Ehdr) + data->d_size;
	size_t strtab_size = 1 + name_len + sizeof(".shstrtab");
	size_t sh_off = (strtab_off + strtab_size + 7) & ~(size_t)7;
	size_t size = sh_off + 3 * sizeof(Elf64_Shdr);
	uint8_t *image = calloc(1, size);
	Elf64_Ehdr *eh = (Elf64_Ehdr *)image;
	Elf64_Shdr *sh;
	char *strtab;

	if (!image)
		return NULL;
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_DYN;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_ehsize = sizeof(Elf64_Ehdr);
	eh->e_shoff = sh_off;
	eh->e_shentsize = sizeof(Elf64_Shdr);
	eh->e_shnum = 3;
	eh->e_shstrndx = 2;
	memcpy(image + sizeof(Elf64_Ehdr), data->d_buf, data->d_size);
	strtab = (char *)image + strtab_off;
	memcpy(strtab + 1, name, name_len);
	memcpy(strtab + 1 + name_len, ".shstrtab", sizeof(".shstrtab"));
	sh = (Elf64_Shdr *)(image + sh_off);
	sh[1] = (Elf64_Shdr){ .sh_name = 1, .sh_type = SHT_PROGBITS,
			      .sh_flags = alloc ? SHF_ALLOC : 0, .sh_addr = addr,
			      .sh_offset = sizeof(Elf64_Ehdr), .sh_size = data->d_size,
			      .sh_addralign = 1 };
	sh[2] = (Elf64_Shdr){ .sh_name = (Elf64_Word)(1 + name_len),
			      .sh_type = SHT_STRTAB, .sh_offset = strtab_off,
			      .sh_size = strtab_size, .sh_addralign = 1 };
	*image_size = size;
	return image;
}

/* Adds a CFI source: the section name of elf, copied, checked, and opened
 * by libdw from the copy. 0 also when elf has no such section or libdw
 * cannot read it. */
static int add_source(struct builder *b, Elf *elf, const char *name, bool eh_frame)
{
	struct section_check c = { .b = b, .eh_frame = eh_frame,
				   .exec_lo = b->rows->exec_lo,
				   .exec_hi = b->rows->exec_hi };
	struct cfi_source *src = &b->sources[b->source_count];
	GElf_Shdr shdr;
	Elf_Scn *scn = find_section(elf, name, &shdr);
	Elf_Data *data;
	size_t image_size = 0, unpacked;
	int err;

	if (!scn)
		return 0;
	unpacked = compressed_size(scn, &shdr);
	if (unpacked == SIZE_MAX)
		return 0;
	if (unpacked) {
		/* inflated by libelf, in place: bounded first */
		err = account(b, unpacked);
		if (err)
			return err;
		if (elf_compress(scn, 0, 0) < 0) {
			log_debug("failed to decompress %s: %s, ignoring", name,
				  elf_errmsg(-1));
			return 0;
		}
	}
	data = elf_getdata(scn, NULL);
	if (!data || !data->d_buf || data->d_size == 0)
		return 0;
	err = account(b, data->d_size + 4096);
	if (err)
		return err;
	src->image = build_image(name, data, shdr.sh_addr, eh_frame, &image_size);
	if (!src->image)
		return -ENOMEM;
	b->source_count++;
	/* a row needs at least one CFI byte, plus a gap row per FDE */
	b->rows_max += 2 * data->d_size + 16;

	c.ident = (const unsigned char *)elf_getident(elf, NULL);
	c.data = (Elf_Data){ .d_buf = src->image + sizeof(Elf64_Ehdr),
			     .d_type = ELF_T_BYTE, .d_size = data->d_size,
			     .d_version = EV_CURRENT, .d_align = 1 };
	c.section_addr = shdr.sh_addr;
	err = check_entries(&c);
	b->rows->work += c.work;
	u64map_release(&c.cie_index);
	free(c.cies);
	if (err)
		return err;
	if (b->rows->work > CFI_WORK_MAX)
		return -E2BIG;

	src->elf = elf_memory((char *)src->image, image_size);
	if (!src->elf)
		return 0;
	if (eh_frame) {
		src->cfi = dwarf_getcfi_elf(src->elf);
	} else {
		src->dwarf = dwarf_begin_elf(src->elf, DWARF_C_READ, NULL);
		if (!src->dwarf) {
			log_debug("failed to read DWARF for .debug_frame: %s, ignoring",
				  dwarf_errmsg(-1));
			return 0;
		}
		src->cfi = dwarf_getcfi(src->dwarf);
	}
	return 0;
}

/* ---- rule classification -------------------------------------------- */

static bool fits_s16(int64_t v)
{
	return v >= INT16_MIN && v <= INT16_MAX;
}

static struct unwind_rule unsupported(enum unwind_reason reason)
{
	return (struct unwind_rule){ .cfa_kind = UNWIND_CFA_UNSUPPORTED,
				     .reason = reason };
}

/* Register rule "saved at CFA + off": DW_OP_call_frame_cfa, optionally
 * DW_OP_plus_uconst off (libdw stores negative offsets wrapped). */
static bool cfa_slot(const Dwarf_Op *ops, size_t nops, int64_t *off)
{
	if (nops < 1 || nops > 2 || ops[0].atom != DW_OP_call_frame_cfa)
		return false;
	if (nops == 1) {
		*off = 0;
		return true;
	}
	if (ops[1].atom != DW_OP_plus_uconst)
		return false;
	*off = (int64_t)ops[1].number;
	return true;
}

/* The CFA expression GCC and binutils emit for lazy PLT entries, which
 * push the relocation index part way through each 16-byte entry:
 *   DW_OP_breg7 (rsp) N; DW_OP_breg16 (rip) 0; DW_OP_lit15; DW_OP_and;
 *   DW_OP_litT; DW_OP_ge; DW_OP_lit3; DW_OP_shl; DW_OP_plus
 * i.e. CFA = rsp + N + ((rip & 15) >= T ? 8 : 0). T is 11 for .plt, 9 or
 * 10 for IBT PLTs; the rule keeps T, so any T is computed exactly. */
static bool plt_expression(const Dwarf_Op *ops, size_t nops, struct unwind_rule *rule)
{
	static const uint8_t tail[] = { DW_OP_lit15, DW_OP_and, 0, DW_OP_ge,
					DW_OP_lit3, DW_OP_shl, DW_OP_plus };

	if (nops != 9 || ops[0].atom != DW_OP_breg7 || ops[1].atom != DW_OP_breg16 ||
	    ops[1].number != 0)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(tail); i++)
		if (i != 2 && ops[2 + i].atom != tail[i])
			return false;
	if (ops[4].atom < DW_OP_lit0 || ops[4].atom > DW_OP_lit15 ||
	    !fits_s16((int64_t)ops[0].number))
		return false;
	rule->cfa_kind = UNWIND_CFA_PLT;
	rule->plt_threshold = (uint8_t)(ops[4].atom - DW_OP_lit0);
	rule->cfa_offset = (int32_t)(int64_t)ops[0].number;
	return true;
}

static struct unwind_rule classify(Dwarf_Frame *frame, bool signal)
{
	struct unwind_rule rule = { 0 };
	Dwarf_Op mem[3], *ops;
	size_t nops;
	int64_t off;

	if (signal)
		return (struct unwind_rule){ .cfa_kind = UNWIND_CFA_SIGNAL };

	/* Return address first: undefined marks the outermost frame
	 * whatever the CFA says. */
	if (dwarf_frame_register(frame, REG_RIP, mem, &ops, &nops) != 0)
		return unsupported(UNWIND_REASON_CFI_ERROR);
	if (nops == 0 && ops == mem)
		return (struct unwind_rule){ .cfa_kind = UNWIND_CFA_END };
	if (!cfa_slot(ops, nops, &off) || off != -8)
		return unsupported(UNWIND_REASON_RA_RULE);

	if (dwarf_frame_cfa(frame, &ops, &nops) != 0)
		return unsupported(UNWIND_REASON_CFI_ERROR);
	if (nops == 1 && (ops[0].atom == DW_OP_bregx ||
			  (ops[0].atom >= DW_OP_breg0 && ops[0].atom <= DW_OP_breg31))) {
		uint64_t reg = ops[0].atom == DW_OP_bregx ? ops[0].number
			       : (uint64_t)(ops[0].atom - DW_OP_breg0);

		off = (int64_t)(ops[0].atom == DW_OP_bregx ? ops[0].number2
							    : ops[0].number);
		if (reg == REG_RSP)
			rule.cfa_kind = UNWIND_CFA_RSP;
		else if (reg == REG_RBP)
			rule.cfa_kind = UNWIND_CFA_RBP;
		else
			return unsupported(UNWIND_REASON_CFA_REGISTER);
		if (off < INT32_MIN || off > INT32_MAX)
			return unsupported(UNWIND_REASON_CFA_OFFSET);
		rule.cfa_offset = (int32_t)off;
	} else if (!plt_expression(ops, nops, &rule)) {
		return unsupported(nops == 0 ? UNWIND_REASON_CFI_ERROR
				   : UNWIND_REASON_CFA_EXPRESSION);
	}

	if (dwarf_frame_register(frame, REG_RBP, mem, &ops, &nops) != 0)
		return unsupported(UNWIND_REASON_CFI_ERROR);
	if (nops == 0) {
		rule.rbp_kind = UNWIND_RBP_UNCHANGED;
	} else if (cfa_slot(ops, nops, &off)) {
		if (!fits_s16(off))
			return unsupported(UNWIND_REASON_RBP_OFFSET);
		rule.rbp_kind = UNWIND_RBP_CFA_OFFSET;
		rule.rbp_offset = (int16_t)off;
	} else {
		return unsupported(UNWIND_REASON_RBP_RULE);
	}
	return rule;
}

/* ---- row walk ------------------------------------------------------- */

static int push_row(struct builder *b, uint64_t pc, struct unwind_rule rule)
{
	struct cfi_rows *r = b->rows;

	if (r->count && r->rows[r->count - 1].pc >= pc)
		return -EINVAL; /* caller bug: rows must ascend */
	if (r->count >= b->rows_max || r->count >= CFI_ROWS_MAX)
		return -E2BIG;
	if (r->count == b->rows_cap) {
		size_t cap = b->rows_cap ? 2 * b->rows_cap : 1024;
		struct cfi_row *p;
		int err = account(b, (cap - b->rows_cap) * sizeof(*p));

		if (err)
			return err;
		p = realloc(r->rows, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		r->rows = p;
		b->rows_cap = cap;
	}
	r->rows[r->count++] = (struct cfi_row){ .pc = pc, .rule = rule };
	return 0;
}

/* The frame state at pc from the first source that covers it; NULL if
 * none does. The caller frees it. */
static Dwarf_Frame *frame_at(struct builder *b, uint64_t pc)
{
	for (size_t i = 0; i < b->source_count; i++) {
		Dwarf_Frame *frame = NULL;

		if (!b->sources[i].cfi)
			continue;
		if (dwarf_cfi_addrframe(b->sources[i].cfi, pc, &frame) == 0 && frame)
			return frame;
		free(frame);
	}
	return NULL;
}

static int walk_rows(struct builder *b)
{
	struct cfi_rows *r = b->rows;
	uint64_t covered = 0; /* end of the last walked range */
	bool any = false;
	int err;

	if (b->starts.len) /* pcs is NULL when no FDE was found */
		qsort(b->starts.pcs, b->starts.len, sizeof(uint64_t), u64_cmp);
	for (size_t i = 0; i < b->starts.len; i++) {
		uint64_t start = b->starts.pcs[i], pc;

		if (start < r->exec_lo || start >= r->exec_hi) {
			r->fde_skipped++;
			continue;
		}
		if (any && start < covered)
			continue; /* duplicate, or inside an FDE already walked */
		pc = start;
		while (pc < r->exec_hi) {
			Dwarf_Frame *frame;
			Dwarf_Addr fstart, fend;
			bool signal = false;
			struct unwind_rule rule;

			err = check_clock(b);
			if (err)
				return err;
			frame = frame_at(b, pc);
			if (!frame)
				break;
			if (dwarf_frame_info(frame, &fstart, &fend, &signal) < 0 ||
			    fend <= pc || fstart > pc) {
				free(frame);
				break;
			}
			rule = classify(frame, signal);
			free(frame);
			if (any && pc > covered) {
				/* explicit gap since the previous FDE */
				err = push_row(b, covered, (struct unwind_rule){ 0 });
				if (err)
					return err;
			}
			err = push_row(b, pc, rule);
			if (err)
				return err;
			any = true;
			pc = MIN(fend, r->exec_hi);
			covered = pc;
		}
		if (pc == start)
			r->fde_skipped++; /* libdw does not find it: corrupt */
	}
	if (!any)
		return -ENOENT;
	return push_row(b, covered, (struct unwind_rule){ 0 });
}

static int exec_range(Elf *elf, uint64_t *lo, uint64_t *hi)
{
	size_t phnum;

	*lo = UINT64_MAX;
	*hi = 0;
	if (elf_getphdrnum(elf, &phnum) != 0)
		return -ENOEXEC;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, (int)i, &ph))
			return -ENOEXEC;
		if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X) || ph.p_memsz == 0)
			continue;
		if (ph.p_vaddr + ph.p_memsz < ph.p_vaddr)
			return -ENOEXEC;
		*lo = MIN(*lo, ph.p_vaddr);
		*hi = MAX(*hi, ph.p_vaddr + ph.p_memsz);
	}
	return *lo < *hi ? 0 : -ENOEXEC;
}

static void builder_release(struct builder *b)
{
	for (size_t i = 0; i < b->source_count; i++) {
		struct cfi_source *src = &b->sources[i];

		if (src->dwarf)
			dwarf_end(src->dwarf); /* and its cfi */
		else if (src->cfi)
			dwarf_cfi_end(src->cfi);
		if (src->elf)
			elf_end(src->elf);
		free(src->image);
	}
	free(b->starts.pcs);
}

int cfi_rows__build(Elf *elf, Elf *debug_elf, const struct cfi_limits *limits,
		    struct cfi_rows **out)
{
	struct builder b = { 0 };
	GElf_Ehdr ehdr;
	int err;

	*out = NULL;
	if (!elf || elf_kind(elf) != ELF_K_ELF || !gelf_getehdr(elf, &ehdr))
		return -ENOEXEC;
	if (ehdr.e_ident[EI_CLASS] != ELFCLASS64 || ehdr.e_machine != EM_X86_64 ||
	    ehdr.e_ident[EI_DATA] != ELFDATA2LSB)
		return -ENOTSUP;
	if (debug_elf && (elf_kind(debug_elf) != ELF_K_ELF ||
			  gelf_getclass(debug_elf) != ELFCLASS64 ||
			  elf_getident(debug_elf, NULL)[EI_DATA] != ELFDATA2LSB))
		debug_elf = NULL;
	b.deadline_ns = limits ? limits->deadline_ns : 0;
	b.max_bytes = limits && limits->max_bytes ? limits->max_bytes
						  : CFI_MAX_BYTES_DEFAULT;
	if (b.deadline_ns && clock__mono_ns() >= b.deadline_ns)
		return -ETIMEDOUT;

	b.rows = calloc(1, sizeof(*b.rows));
	if (!b.rows)
		return -ENOMEM;
	err = account(&b, sizeof(*b.rows));
	if (!err)
		err = exec_range(elf, &b.rows->exec_lo, &b.rows->exec_hi);
	if (!err)
		err = add_source(&b, elf, ".eh_frame", true);
	if (!err)
		err = add_source(&b, elf, ".debug_frame", false);
	if (!err && debug_elf)
		err = add_source(&b, debug_elf, ".debug_frame", false);
	if (err)
		goto fail;
	/* a source libdw could not open stays listed, without cfi */
	size_t kept = 0;
	for (size_t i = 0; i < b.source_count; i++)
		kept += b.sources[i].cfi != NULL;
	if (kept == 0) {
		err = -ENOENT;
		goto fail;
	}
	err = walk_rows(&b);
	if (err)
		goto fail;
	builder_release(&b);
	*out = b.rows;
	return 0;
fail:
	builder_release(&b);
	cfi_rows__free(b.rows);
	return err;
}

static void elf_endp(Elf **e)
{
	if (*e)
		elf_end(*e);
}

int cfi_rows__build_fd(int fd, int debug_fd, const struct cfi_limits *limits,
		       struct cfi_rows **out)
{
	_cleanup_(elf_endp) Elf *elf = NULL;
	_cleanup_(elf_endp) Elf *debug_elf = NULL;

	*out = NULL;
	if (!libelf_ready())
		return -ENOSYS;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf)
		return -ENOEXEC;
	if (debug_fd >= 0)
		debug_elf = elf_begin(debug_fd, ELF_C_READ_MMAP, NULL);
	return cfi_rows__build(elf, debug_elf, limits, out);
}

void cfi_rows__free(struct cfi_rows *rows)
{
	if (!rows)
		return;
	free(rows->rows);
	free(rows);
}

const struct cfi_row *cfi_rows__find(const struct cfi_rows *rows, uint64_t vaddr)
{
	size_t lo = 0, hi = rows->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (rows->rows[mid].pc <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? &rows->rows[lo - 1] : NULL;
}

static const char *const reason_names[UNWIND_REASON_MAX] = {
	[UNWIND_REASON_NONE] = "none",
	[UNWIND_REASON_CFA_REGISTER] = "cfa-register",
	[UNWIND_REASON_CFA_EXPRESSION] = "cfa-expression",
	[UNWIND_REASON_CFA_OFFSET] = "cfa-offset",
	[UNWIND_REASON_RBP_RULE] = "rbp-rule",
	[UNWIND_REASON_RBP_OFFSET] = "rbp-offset",
	[UNWIND_REASON_RA_RULE] = "ra-rule",
	[UNWIND_REASON_CFI_ERROR] = "cfi-error",
	[UNWIND_REASON_RULES_FULL] = "rules-full",
};

const char *cfi_rule_format(const struct unwind_rule *rule, char *buf, size_t size)
{
	char rbp[16], cfa[16];

	switch (rule->cfa_kind) {
	case UNWIND_CFA_NONE:
		snprintf(buf, size, "nocfi");
		break;
	case UNWIND_CFA_END:
		snprintf(buf, size, "end");
		break;
	case UNWIND_CFA_SIGNAL:
		snprintf(buf, size, "signal");
		break;
	case UNWIND_CFA_RSP:
	case UNWIND_CFA_RBP:
	case UNWIND_CFA_PLT:
		if (rule->rbp_kind == UNWIND_RBP_CFA_OFFSET)
			snprintf(rbp, sizeof(rbp), "c%+d", rule->rbp_offset);
		else
			snprintf(rbp, sizeof(rbp), "u");
		if (rule->cfa_kind == UNWIND_CFA_PLT)
			snprintf(cfa, sizeof(cfa), "plt%u", rule->plt_threshold);
		else
			snprintf(cfa, sizeof(cfa), "%s",
				 rule->cfa_kind == UNWIND_CFA_RSP ? "rsp" : "rbp");
		snprintf(buf, size, "%s%+d rbp=%s", cfa, rule->cfa_offset, rbp);
		break;
	default:
		snprintf(buf, size, "unsupported:%s",
			 rule->reason < UNWIND_REASON_MAX && reason_names[rule->reason]
				 ? reason_names[rule->reason] : "?");
		break;
	}
	return buf;
}
