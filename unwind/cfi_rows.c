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
#include "unwind/cfi_builder.h"

/* DWARF register numbers on x86-64 (System V psABI, figure 3.36). */
#define REG_RBP 6
#define REG_RSP 7
#define REG_RIP 16 /* return address column */

static bool libelf_ready(void)
{
	static int state; /* 0 unknown, 1 ok, -1 failed */

	if (!state)
		state = elf_version(EV_CURRENT) == EV_NONE ? -1 : 1;
	return state > 0;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
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

static int push_row(struct cfi_builder *b, uint64_t pc, struct unwind_rule rule)
{
	struct cfi_rows *r = b->rows;

	if (r->count && r->rows[r->count - 1].pc >= pc)
		return -EINVAL; /* caller bug: rows must ascend */
	if (r->count >= b->rows_max || r->count >= CFI_ROWS_MAX)
		return -E2BIG;
	if (r->count == b->rows_cap) {
		size_t cap = b->rows_cap ? 2 * b->rows_cap : 1024;
		struct cfi_row *p;
		int err = cfi_builder__account(b, (cap - b->rows_cap) * sizeof(*p));

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

const char *const cfi_source_names[CFI_SOURCE_KINDS] = {
	[CFI_SOURCE_EH_FRAME] = "eh_frame",
	[CFI_SOURCE_DEBUG_FRAME] = "debug_frame",
	[CFI_SOURCE_DEBUG_FILE] = "debug_file_debug_frame",
	[CFI_SOURCE_GOPCLNTAB] = "gopclntab",
};

/* The frame state at pc from the first source that covers it (its kind
 * in *kind); NULL if none does. The caller frees it. */
static Dwarf_Frame *frame_at(struct cfi_builder *b, uint64_t pc, enum cfi_source_kind *kind)
{
	for (size_t i = 0; i < b->source_count; i++) {
		Dwarf_Frame *frame = NULL;

		if (!b->sources[i].cfi)
			continue;
		if (dwarf_cfi_addrframe(b->sources[i].cfi, pc, &frame) == 0 && frame) {
			*kind = b->sources[i].kind;
			return frame;
		}
		free(frame);
	}
	return NULL;
}

static int walk_rows(struct cfi_builder *b)
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
			enum cfi_source_kind kind = CFI_SOURCE_EH_FRAME;

			err = cfi_builder__check_clock(b);
			if (err)
				return err;
			frame = frame_at(b, pc, &kind);
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
			r->rows_by_source[kind]++;
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

int cfi_rows__exec_range(Elf *elf, uint64_t *lo, uint64_t *hi)
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

static void builder_release(struct cfi_builder *b)
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

/* cfi_check__add_source, the source it adds (if any) marked with kind. */
static int add_source(struct cfi_builder *b, Elf *elf, const char *name,
		      enum cfi_source_kind kind)
{
	size_t before = b->source_count;
	int err = cfi_check__add_source(b, elf, name, kind == CFI_SOURCE_EH_FRAME);

	if (b->source_count > before)
		b->sources[before].kind = kind;
	return err;
}

int cfi_rows__check_elf(Elf *elf)
{
	GElf_Ehdr ehdr;

	if (!elf || elf_kind(elf) != ELF_K_ELF || !gelf_getehdr(elf, &ehdr))
		return -ENOEXEC;
	if (ehdr.e_ident[EI_CLASS] != ELFCLASS64 || ehdr.e_machine != EM_X86_64 ||
	    ehdr.e_ident[EI_DATA] != ELFDATA2LSB)
		return -ENOTSUP;
	return 0;
}

int cfi_rows__build(Elf *elf, Elf *debug_elf, const struct cfi_limits *limits,
		    struct cfi_rows **out)
{
	struct cfi_builder b = { 0 };
	int err;

	*out = NULL;
	err = cfi_rows__check_elf(elf);
	if (err)
		return err;
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
	err = cfi_builder__account(&b, sizeof(*b.rows));
	if (!err)
		err = cfi_rows__exec_range(elf, &b.rows->exec_lo, &b.rows->exec_hi);
	if (!err)
		err = add_source(&b, elf, ".eh_frame", CFI_SOURCE_EH_FRAME);
	if (!err)
		err = add_source(&b, elf, ".debug_frame", CFI_SOURCE_DEBUG_FRAME);
	if (!err && debug_elf)
		err = add_source(&b, debug_elf, ".debug_frame", CFI_SOURCE_DEBUG_FILE);
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

int cfi_rows__build_fd_with(cfi_rows_builder *build, int fd, int debug_fd,
			    const struct cfi_limits *limits, struct cfi_rows **out)
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
	return build(elf, debug_elf, limits, out);
}

int cfi_rows__build_fd(int fd, int debug_fd, const struct cfi_limits *limits,
		       struct cfi_rows **out)
{
	return cfi_rows__build_fd_with(cfi_rows__build, fd, debug_fd, limits, out);
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
	size_t lo = PARTITION_POINT(rows->count, mid, rows->rows[mid].pc <= vaddr);

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
