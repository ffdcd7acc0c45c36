#include "unwind/cfi_builder.h"

#include <dwarf.h>
#include <gelf.h>
#include <string.h>

#include "common/log.h"
#include "common/u64map.h"

/* Checks of a CFI section before libdw reads it: every CIE and FDE is
 * read the way libdw will read it, and what libdw would do with it (rows,
 * frame-state copies, registers, expression bytes) is charged to the
 * builder's work and memory budget first, so no input can make libdw's
 * part of a build exceed its bounds (cfi_rows.h). Entries libdw would
 * misread or that are over the limits are hidden from it. */

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
	struct cfi_builder *b;
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

		err = cfi_builder__account(c->b, (cap - c->cie_cap) * sizeof(*p));
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
	return cfi_builder__account(c->b, LIBDW_ENTRY_BYTES);
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
	struct cfi_builder *b = c->b;
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
	err = cfi_builder__account(b, LIBDW_ENTRY_BYTES + scan.expr_bytes * LIBDW_EXPR_BYTES);
	if (err)
		return err;
	return cfi_builder__push_pc(b, &b->starts, pc);
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

		err = cfi_builder__check_clock(c->b);
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
int cfi_check__add_source(struct cfi_builder *b, Elf *elf, const char *name, bool eh_frame)
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
		err = cfi_builder__account(b, unpacked);
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
	err = cfi_builder__account(b, data->d_size + 4096);
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

