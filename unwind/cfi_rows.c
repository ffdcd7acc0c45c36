#include "unwind/cfi_rows.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <errno.h>
#include <gelf.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

struct cfi_source {
	Dwarf_CFI *cfi;
	bool owned;	/* from dwarf_getcfi_elf: needs dwarf_cfi_end */
};

struct pc_list {
	uint64_t *pcs;
	size_t len, cap;
};

struct builder {
	struct cfi_source sources[SOURCES_MAX];
	size_t source_count;
	Dwarf *dwarfs[2];	/* the object's and the debug file's */
	struct pc_list starts;	/* FDE initial locations */
	struct cfi_rows *rows;
	size_t rows_cap;
	size_t rows_max;	/* bound from the CFI size, see add_fde_starts */
};

static bool libelf_ready(void)
{
	static int state; /* 0 unknown, 1 ok, -1 failed */

	if (!state)
		state = elf_version(EV_CURRENT) == EV_NONE ? -1 : 1;
	return state > 0;
}

static int pc_list_push(struct pc_list *l, uint64_t pc)
{
	if (l->len == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 256;
		uint64_t *p = realloc(l->pcs, cap * sizeof(*p));

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

/* ---- FDE enumeration ------------------------------------------------ */

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

/* The FDE pointer encoding from a CIE's augmentation ('R'), -1 if the
 * augmentation cannot be read that far. Only 'z' augmentations carry
 * data we can skip reliably. */
static int cie_fde_encoding(const Dwarf_CIE *cie)
{
	const char *aug = cie->augmentation;
	const uint8_t *p = cie->augmentation_data;
	const uint8_t *end = p ? p + cie->augmentation_data_size : NULL;

	if (!aug || aug[0] != 'z')
		return aug && aug[0] == '\0' ? DW_EH_PE_absptr : -1;
	for (const char *c = aug + 1; *c; c++) {
		switch (*c) {
		case 'R':
			return p && p < end ? *p : -1;
		case 'L':
			if (!p || p >= end)
				return -1;
			p++;
			break;
		case 'P': {
			uint8_t enc;
			size_t size;

			if (!p || p >= end)
				return -1;
			enc = *p++;
			size = eh_pe_size(enc);
			if (enc == DW_EH_PE_omit)
				break;
			if (size == 0) {
				uint64_t skip;

				if ((enc & 0x0f) != DW_EH_PE_uleb128 &&
				    (enc & 0x0f) != DW_EH_PE_sleb128)
					return -1;
				if (!read_uleb(&p, end, &skip))
					return -1;
				break;
			}
			if ((size_t)(end - p) < size)
				return -1;
			p += size;
			break;
		}
		case 'S':
		case 'B':
		case 'G':
			break; /* no data */
		default:
			return -1;
		}
	}
	return DW_EH_PE_absptr; /* 'z' without 'R' */
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

/* Adds the initial locations of every FDE of one CFI section to
 * b->starts. Malformed entries are skipped where dwarf_next_cfi can
 * resynchronise, otherwise the rest of the section is dropped: libdw's
 * own lookups stay authoritative, this list only says where to look. */
static int add_fde_starts(struct builder *b, Elf *elf, const char *name,
			  bool eh_frame, size_t *fde_count, size_t *fde_skipped)
{
	const unsigned char *ident = (const unsigned char *)elf_getident(elf, NULL);
	struct u64map cie_enc = { 0 };
	GElf_Shdr shdr;
	Elf_Scn *scn = find_section(elf, name, &shdr);
	Elf_Data *data;
	int err = 0;

	if (!scn || !ident)
		return 0;
	data = elf_getdata(scn, NULL);
	if (!data || !data->d_buf || data->d_size == 0)
		return 0;
	/* a row needs at least one CFI byte, plus a gap row per FDE */
	b->rows_max += 2 * data->d_size + 16;

	/* Two passes: CIEs may follow the FDEs that use them. */
	for (int pass = 0; pass < 2 && !err; pass++) {
		Dwarf_Off off = 0;

		while (off < data->d_size) {
			/* not always set on errors */
			Dwarf_Off next = (Dwarf_Off)-1;
			Dwarf_CFI_Entry entry;
			int r = dwarf_next_cfi(ident, data, eh_frame, off, &next, &entry);

			if (r > 0)
				break;
			if (r < 0) {
				if (next <= off || next == (Dwarf_Off)-1)
					break;
				off = next;
				continue;
			}
			if (dwarf_cfi_cie_p(&entry)) {
				if (pass == 0) {
					int enc = eh_frame ? cie_fde_encoding(&entry.cie)
						 : DW_EH_PE_absptr;

					err = u64map_set(&cie_enc, off, (uint64_t)(int64_t)enc);
					if (err)
						break;
				}
			} else if (pass == 1) {
				uint64_t enc, pc;

				(*fde_count)++;
				if (!u64map_get(&cie_enc, entry.fde.CIE_pointer, &enc) ||
				    !fde_initial_location(&entry.fde, data, shdr.sh_addr,
							  (int)(int64_t)enc, &pc)) {
					(*fde_skipped)++;
				} else {
					err = pc_list_push(&b->starts, pc);
					if (err)
						break;
				}
			}
			if (next <= off || next == (Dwarf_Off)-1)
				break;
			off = next;
		}
	}
	u64map_release(&cie_enc);
	return err;
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
		struct cfi_row *p = realloc(r->rows, cap * sizeof(*p));

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
			Dwarf_Frame *frame = frame_at(b, pc);
			Dwarf_Addr fstart, fend;
			bool signal = false;
			struct unwind_rule rule;

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
	for (size_t i = 0; i < b->source_count; i++)
		if (b->sources[i].owned)
			dwarf_cfi_end(b->sources[i].cfi);
	for (size_t i = 0; i < ARRAY_SIZE(b->dwarfs); i++)
		if (b->dwarfs[i])
			dwarf_end(b->dwarfs[i]);
	free(b->starts.pcs);
}

/* .debug_frame of elf (the object or its debug file) as a source. */
static int add_debug_frame(struct builder *b, Elf *elf, size_t slot)
{
	GElf_Shdr shdr;
	Dwarf_CFI *cfi;
	size_t skipped = 0, count = 0;

	if (!find_section(elf, ".debug_frame", &shdr))
		return 0;
	/* dwarf_begin_elf decompresses .debug_frame in place if needed,
	 * before we read it ourselves. */
	b->dwarfs[slot] = dwarf_begin_elf(elf, DWARF_C_READ, NULL);
	if (!b->dwarfs[slot]) {
		log_debug("failed to read DWARF for .debug_frame: %s, ignoring",
			  dwarf_errmsg(-1));
		return 0;
	}
	cfi = dwarf_getcfi(b->dwarfs[slot]);
	if (!cfi)
		return 0;
	b->sources[b->source_count++] = (struct cfi_source){ .cfi = cfi };
	int err = add_fde_starts(b, elf, ".debug_frame", false, &count, &skipped);
	b->rows->fde_count += count;
	b->rows->fde_skipped += skipped;
	return err;
}

int cfi_rows__build(Elf *elf, Elf *debug_elf, struct cfi_rows **out)
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
			  gelf_getclass(debug_elf) != ELFCLASS64))
		debug_elf = NULL;

	b.rows = calloc(1, sizeof(*b.rows));
	if (!b.rows)
		return -ENOMEM;
	err = exec_range(elf, &b.rows->exec_lo, &b.rows->exec_hi);
	if (err)
		goto fail;

	Dwarf_CFI *eh = dwarf_getcfi_elf(elf);
	if (eh) {
		b.sources[b.source_count++] = (struct cfi_source){ .cfi = eh,
								   .owned = true };
		err = add_fde_starts(&b, elf, ".eh_frame", true, &b.rows->fde_count,
				     &b.rows->fde_skipped);
		if (err)
			goto fail;
	}
	err = add_debug_frame(&b, elf, 0);
	if (!err && debug_elf)
		err = add_debug_frame(&b, debug_elf, 1);
	if (err)
		goto fail;
	if (b.source_count == 0) {
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

int cfi_rows__build_fd(int fd, int debug_fd, struct cfi_rows **out)
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
	return cfi_rows__build(elf, debug_elf, out);
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
