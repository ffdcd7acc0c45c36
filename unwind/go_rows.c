#include "unwind/go_rows.h"

#include <errno.h>
#include <gelf.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/macros.h"
#include "symbolize/gopclntab.h"

/* Deadline checks: one every this many functions. */
#define CLOCK_EVERY 256
/* Executable segments whose bytes are read for prologues. */
#define SEGMENTS_MAX 8
/* funcID of the runtime's ABI wrappers in Go 1.18-1.19 tables, which share
 * the name of the function they wrap (runtime.asmcgocall has one).
 * Wrappers never switch stacks, so one with a special name is normal; in
 * other versions (other numbering) such a wrapper gets the frame-pointer
 * rule, which unwinds it right once its prologue has run. */
#define FUNCID_WRAPPER_118 21

struct segment {
	uint64_t vaddr, filesz;
	const uint8_t *bytes;
};

struct go_build {
	struct gopclntab *tab;
	struct segment segs[SEGMENTS_MAX];
	size_t nsegs;
	/* the Go rows, in the output's form (with no CFI to merge they are
	 * the output), and whether each describes a stack switch (which wins
	 * over CFI) */
	struct cfi_row *rows;
	uint8_t *special;
	size_t count, cap, special_cap, out_cap;
	size_t max_bytes, bytes; /* the budget, and what is held */
	uint64_t deadline_ns;
	uint64_t work, work_max; /* pcsp bytes decoded, and the bound */
	struct cfi_rows *out;
};

enum special { NORMAL, END, SWITCH };

/* Names whose frames end a stack (Go's traceback stops there too), and
 * whose frames switch stacks under a CALL. */
static const char *const end_names[] = {
	"runtime.goexit", "runtime.mstart", "runtime.rt0_go", "runtime.mcall",
	"runtime.morestack", "runtime.morestack_noctxt",
};
static const char *const switch_names[] = { "runtime.systemstack", "runtime.asmcgocall" };

static enum special special_of(const struct gopclntab_func *f, int version)
{
	if (version == 118 && f->func_id == FUNCID_WRAPPER_118)
		return NORMAL;
	for (size_t i = 0; i < ARRAY_SIZE(end_names); i++)
		if (strcmp(f->name, end_names[i]) == 0)
			return END;
	if (strncmp(f->name, "_rt0_amd64", 10) == 0)
		return END;
	for (size_t i = 0; i < ARRAY_SIZE(switch_names); i++)
		if (strcmp(f->name, switch_names[i]) == 0)
			return SWITCH;
	return NORMAL;
}

static int account(struct go_build *b, size_t n)
{
	if (n > b->max_bytes || b->bytes > b->max_bytes - n)
		return -E2BIG;
	b->bytes += n;
	b->out->peak_bytes = MAX(b->out->peak_bytes, b->bytes);
	return 0;
}

/* Grows an array of *cap elements of size elem to hold one more. */
static int grow(struct go_build *b, void **array, size_t *cap, size_t count, size_t elem)
{
	size_t ncap;
	void *p;
	int err;

	if (count < *cap)
		return 0;
	if (count >= CFI_ROWS_MAX)
		return -E2BIG;
	ncap = *cap ? 2 * *cap : 1024;
	err = account(b, (ncap - *cap) * elem);
	if (err)
		return err;
	p = realloc(*array, ncap * elem);
	if (!p)
		return -ENOMEM;
	*array = p;
	*cap = ncap;
	return 0;
}

static int push_go(struct go_build *b, uint64_t pc, struct unwind_rule rule, bool special)
{
	int err;

	/* a row that changes nothing is left out */
	if (b->count && b->special[b->count - 1] == special &&
	    memcmp(&b->rows[b->count - 1].rule, &rule, sizeof(rule)) == 0)
		return 0;
	if (!b->count || b->rows[b->count - 1].pc != pc) {
		err = grow(b, (void **)&b->rows, &b->cap, b->count, sizeof(*b->rows));
		if (!err)
			err = grow(b, (void **)&b->special, &b->special_cap, b->count, 1);
		if (err)
			return err;
		b->count++;
	}
	b->rows[b->count - 1] = (struct cfi_row){ .pc = pc, .rule = rule };
	b->special[b->count - 1] = special;
	return 0;
}

/* ---- the code's bytes ------------------------------------------------ */

static int load_segments(struct go_build *b, Elf *elf)
{
	size_t phnum, fsize = 0;
	const uint8_t *image = (const uint8_t *)elf_rawfile(elf, &fsize);

	if (!image || elf_getphdrnum(elf, &phnum) != 0)
		return -ENOEXEC;
	for (size_t i = 0; i < phnum && b->nsegs < SEGMENTS_MAX; i++) {
		GElf_Phdr ph;

		if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD ||
		    !(ph.p_flags & PF_X) || ph.p_offset > fsize)
			continue;
		b->segs[b->nsegs++] = (struct segment){
			.vaddr = ph.p_vaddr, .filesz = MIN(ph.p_filesz, fsize - ph.p_offset),
			.bytes = image + ph.p_offset };
	}
	return 0;
}

/* n code bytes at vaddr, NULL if they are not all in the file. */
static const uint8_t *code_at(const struct go_build *b, uint64_t vaddr, size_t n)
{
	for (size_t i = 0; i < b->nsegs; i++) {
		const struct segment *s = &b->segs[i];

		if (vaddr >= s->vaddr && vaddr - s->vaddr <= s->filesz &&
		    s->filesz - (vaddr - s->vaddr) >= n)
			return s->bytes + (vaddr - s->vaddr);
	}
	return NULL;
}

static void hash_bytes(uint64_t *h, const void *p, size_t n)
{
	const uint8_t *c = p;

	for (size_t i = 0; i < n; i++)
		*h = (*h ^ c[i]) * 0x100000001b3ull; /* FNV-1a */
}

/* Where the caller's rbp is in its slot at CFA - 16, given the first run
 * of a frame (delta d > 0 from pc p0): after Go's `MOVQ BP, d-8(SP)`
 * (48 89 6c 24 disp8, or 48 89 ac 24 disp32) at p0, the assembler's
 * prologue once `SUBQ $d, SP` has run; or from p0 on when d is 8 and the
 * instruction before p0 is `PUSHQ BP` (55). UINT64_MAX when neither: rbp
 * is then left unchanged. */
static uint64_t bp_saved_at(struct go_build *b, uint64_t entry, uint64_t p0, int32_t d)
{
	const uint8_t *c = code_at(b, p0, 8);
	uint64_t *h = &b->out->go_text_hash;
	int32_t disp = d - 8;

	hash_bytes(h, &p0, sizeof(p0));
	if (c)
		hash_bytes(h, c, 8);
	if (c && c[0] == 0x48 && c[1] == 0x89 && c[3] == 0x24) {
		int32_t v;

		if (c[2] == 0x6c && (int8_t)c[4] == disp)
			return p0 + 5;
		memcpy(&v, c + 4, 4);
		if (c[2] == 0xac && v == disp)
			return p0 + 8;
	}
	c = p0 > entry ? code_at(b, p0 - 1, 1) : NULL;
	if (c)
		hash_bytes(h, c, 1);
	return d == 8 && c && c[0] == 0x55 ? p0 : UINT64_MAX;
}

/* ---- Go rows --------------------------------------------------------- */

static struct unwind_rule rsp_rule(int32_t d, bool bp_saved)
{
	struct unwind_rule r = { .cfa_kind = UNWIND_CFA_RSP, .cfa_offset = d + 8 };

	if (bp_saved) {
		r.rbp_kind = UNWIND_RBP_CFA_OFFSET;
		r.rbp_offset = -16;
	}
	return r;
}

/* The rows of one ordinary function, the first from pc from (its entry,
 * or the byte of padding before it): -EINVAL for a table it cannot use. */
static int func_rows(struct go_build *b, const struct gopclntab_func *f, uint64_t from)
{
	struct gopclntab_pcvalue it;
	uint64_t start = f->entry, end = f->entry, saved = UINT64_MAX;
	bool framed = false;
	size_t begin;
	int32_t d;
	int n, err;

	gopclntab__pcsp_begin(b->tab, f, &it);
	begin = it.off;
	while ((n = gopclntab__pcvalue_next(&it, &start, &end, &d)) > 0) {
		if (d < 0 || d > GO_ROWS_DELTA_MAX)
			return -EINVAL;
		if (d > 0 && !framed) {
			framed = true;
			b->out->go_framed++;
			saved = bp_saved_at(b, f->entry, start, d);
			b->out->go_bp_saves += saved != UINT64_MAX;
		}
		if (saved > start && saved < end) {
			err = push_go(b, start, rsp_rule(d, false), false);
			if (err)
				return err;
			start = saved;
		}
		err = push_go(b, start == f->entry ? from : start,
			      rsp_rule(d, d > 0 && start >= saved), false);
		if (err)
			return err;
	}
	b->work += it.off - begin;
	if (b->work > b->work_max)
		return -E2BIG;
	if (n < 0 || end == f->entry)
		return -EINVAL;
	/* the padding after the code: no rule */
	return push_go(b, end, (struct unwind_rule){ 0 }, false);
}

/* The end of a function's code (its pcsp table's last run), where the
 * padding before the next function starts; its end if the table is cut. */
static uint64_t code_end(struct go_build *b, const struct gopclntab_func *f)
{
	struct gopclntab_pcvalue it;
	uint64_t start, end, last = f->end;
	size_t begin;
	int32_t d;
	int n;

	gopclntab__pcsp_begin(b->tab, f, &it);
	begin = it.off;
	while ((n = gopclntab__pcvalue_next(&it, &start, &end, &d)) > 0)
		last = end;
	b->work += it.off - begin;
	return n < 0 ? f->end : last;
}

/* A stack switch's rule over its code. */
static int special_rows(struct go_build *b, const struct gopclntab_func *f, uint64_t from,
			const struct unwind_rule *rule)
{
	uint64_t end = code_end(b, f);
	int err;

	if (b->work > b->work_max)
		return -E2BIG;
	err = push_go(b, from, *rule, true);
	return err ? err : push_go(b, end, (struct unwind_rule){ 0 }, false);
}

static int go_func(struct go_build *b, const struct gopclntab_func *f)
{
	static const struct unwind_rule end_rule = { .cfa_kind = UNWIND_CFA_END };
	/* a frame-pointer step: CFA = rbp + 16, rbp = *(CFA - 16) */
	static const struct unwind_rule fp_rule = { .cfa_kind = UNWIND_CFA_RBP, .cfa_offset = 16,
						    .rbp_kind = UNWIND_RBP_CFA_OFFSET,
						    .rbp_offset = -16 };
	const struct cfi_row *last = b->count ? &b->rows[b->count - 1] : NULL;
	size_t mark = b->count;
	uint64_t from = f->entry;
	int err;

	/* A return address at the entry (runtime.systemstack_switch's, which
	 * the scheduler saves as a goroutine's pc in cgo calls) is looked up at
	 * pc - 1: in the padding before the function, when there is some,
	 * which gets the function's first rule. */
	if (last && last->pc < f->entry && last->rule.cfa_kind == UNWIND_CFA_NONE)
		from = f->entry - 1;
	switch (special_of(f, gopclntab__version(b->tab))) {
	case END:
		err = special_rows(b, f, from, &end_rule);
		break;
	case SWITCH:
		err = special_rows(b, f, from, &fp_rule);
		break;
	default:
		err = func_rows(b, f, from);
		if (err == -EINVAL) {
			b->count = mark; /* its go_framed, go_bp_saves stay counted */
			b->out->go_funcs_skipped++;
			return 0;
		}
		break;
	}
	if (!err)
		err = push_go(b, f->end, (struct unwind_rule){ 0 }, false);
	if (!err)
		b->out->go_funcs++;
	return err;
}

static int go_funcs(struct go_build *b)
{
	size_t n = gopclntab__func_count(b->tab);
	uint64_t covered = 0;

	for (size_t i = 0; i < n; i++) {
		struct gopclntab_func f;
		int err;

		if (b->deadline_ns && i % CLOCK_EVERY == 0 && clock__mono_ns() >= b->deadline_ns)
			return -ETIMEDOUT;
		if (gopclntab__func(b->tab, i, &f) != 0 || f.entry < covered ||
		    f.entry < b->out->exec_lo || f.end > b->out->exec_hi) {
			b->out->go_funcs_skipped++;
			continue;
		}
		err = go_func(b, &f);
		if (err)
			return err;
		covered = f.end;
	}
	return b->out->go_funcs ? 0 : -ENOENT;
}

/* ---- the table ------------------------------------------------------- */

static Elf_Scn *find_pclntab(Elf *elf, uint64_t *text_start)
{
	Elf_Scn *scn = NULL, *pcln = NULL;
	size_t shstrndx;

	*text_start = 0;
	if (elf_getshdrstrndx(elf, &shstrndx) != 0)
		return NULL;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		const char *name;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type == SHT_NOBITS)
			continue;
		name = elf_strptr(elf, shstrndx, sh.sh_name);
		if (!name)
			continue;
		/* .data.rel.ro.gopclntab where an external linker made a PIE */
		if (strcmp(name, ".gopclntab") == 0 || strcmp(name, ".data.rel.ro.gopclntab") == 0)
			pcln = scn;
		else if (strcmp(name, ".text") == 0)
			*text_start = sh.sh_addr;
	}
	return pcln;
}

bool go_rows__is_go(Elf *elf)
{
	uint64_t text;

	return elf && find_pclntab(elf, &text);
}

static int open_table(struct go_build *b, Elf *elf)
{
	uint64_t text_start;
	Elf_Scn *scn = find_pclntab(elf, &text_start);
	Elf_Data *d = scn ? elf_getdata(scn, NULL) : NULL;
	int err;

	if (!d || !d->d_buf)
		return -ENOENT;
	err = account(b, d->d_size);
	if (err)
		return err;
	b->work_max = GO_ROWS_WORK_FACTOR * (uint64_t)d->d_size + (1u << 20);
	err = gopclntab__new_in(d->d_buf, d->d_size, MAX(text_start, b->out->exec_lo),
				b->out->exec_hi, &b->tab);
	return err == -ENOMEM ? err : err ? -ENOENT : 0;
}

static int push_out(struct go_build *b, uint64_t pc, struct unwind_rule rule)
{
	struct cfi_rows *r = b->out;
	int err;

	if (r->count && memcmp(&r->rows[r->count - 1].rule, &rule, sizeof(rule)) == 0)
		return 0;
	if (r->count && r->rows[r->count - 1].pc == pc) {
		r->rows[r->count - 1].rule = rule;
		return 0;
	}
	err = grow(b, (void **)&r->rows, &b->out_cap, r->count, sizeof(*r->rows));
	if (err)
		return err;
	r->rows[r->count++] = (struct cfi_row){ .pc = pc, .rule = rule };
	return 0;
}

/* The rule at a pc covered by CFI rule c and Go rule g (NULL: none),
 * special if a stack switch. */
static struct unwind_rule pick(const struct unwind_rule *c, const struct unwind_rule *g,
			       bool special)
{
	static const struct unwind_rule none;

	if (!g || g->cfa_kind == UNWIND_CFA_NONE)
		return c ? *c : none;
	if (special || !c || c->cfa_kind == UNWIND_CFA_NONE)
		return *g;
	/* Go's .debug_frame never says where rbp is */
	if (c->cfa_kind == UNWIND_CFA_RSP && c->rbp_kind == UNWIND_RBP_UNCHANGED &&
	    g->cfa_kind == UNWIND_CFA_RSP && g->cfa_offset == c->cfa_offset)
		return *g;
	return *c;
}

/* Both lists are sorted step functions ending in a NONE row: their union
 * of pcs, each with the rule pick() gives. */
static int merge(struct go_build *b, const struct cfi_rows *cfi)
{
	size_t i = 0, j = 0, nc = cfi->count;
	const struct unwind_rule *c = NULL, *g = NULL;
	bool special = false;

	while (i < nc || j < b->count) {
		uint64_t pc = MIN(i < nc ? cfi->rows[i].pc : UINT64_MAX,
				  j < b->count ? b->rows[j].pc : UINT64_MAX);
		int err;

		if (i < nc && cfi->rows[i].pc == pc)
			c = &cfi->rows[i++].rule;
		if (j < b->count && b->rows[j].pc == pc) {
			special = b->special[j];
			g = &b->rows[j++].rule;
		}
		err = push_out(b, pc, pick(c, g, special));
		if (err)
			return err;
	}
	return 0;
}

int go_rows__build(Elf *elf, const struct cfi_rows *cfi, const struct cfi_limits *limits,
		   struct cfi_rows **out)
{
	struct go_build b = { 0 };
	size_t go_count;
	int err;

	*out = NULL;
	err = cfi_rows__check_elf(elf);
	if (err)
		return err;
	b.deadline_ns = limits ? limits->deadline_ns : 0;
	b.max_bytes = limits && limits->max_bytes ? limits->max_bytes : CFI_MAX_BYTES_DEFAULT;
	b.out = calloc(1, sizeof(*b.out));
	if (!b.out)
		return -ENOMEM;
	err = account(&b, sizeof(*b.out) + (cfi ? cfi->count * sizeof(*cfi->rows) : 0));
	if (!err)
		err = cfi_rows__exec_range(elf, &b.out->exec_lo, &b.out->exec_hi);
	if (!err)
		err = load_segments(&b, elf);
	if (!err)
		err = open_table(&b, elf);
	if (!err)
		err = go_funcs(&b);
	go_count = b.count;
	if (!err && cfi) {
		err = merge(&b, cfi);
	} else if (!err) {
		/* nothing to merge: the Go rows are the output */
		b.out->rows = TAKE_PTR(b.rows);
		b.out->count = b.count;
	}
	free(b.rows);
	free(b.special);
	gopclntab__free(b.tab);
	if (err) {
		cfi_rows__free(b.out);
		return err;
	}
	if (cfi)
		memcpy(b.out->rows_by_source, cfi->rows_by_source, sizeof(cfi->rows_by_source));
	b.out->rows_by_source[CFI_SOURCE_GOPCLNTAB] = go_count;
	if (cfi) {
		b.out->fde_count = cfi->fde_count;
		b.out->fde_skipped = cfi->fde_skipped;
		b.out->fde_over_limits = cfi->fde_over_limits;
		b.out->work = cfi->work;
		b.out->peak_bytes = MAX(b.out->peak_bytes, cfi->peak_bytes);
	}
	*out = b.out;
	return 0;
}

int go_rows__build_object(Elf *elf, Elf *debug_elf, const struct cfi_limits *limits,
			  struct cfi_rows **out)
{
	struct cfi_rows *rows = NULL, *merged = NULL;
	int err = cfi_rows__build(elf, debug_elf, limits, &rows), go_err;

	*out = NULL;
	/* Go code: rows from .gopclntab, merged into the CFI's (its C code's
	 * .eh_frame, an unstripped build's .debug_frame) */
	if ((!err || err == -ENOENT) && go_rows__is_go(elf)) {
		go_err = go_rows__build(elf, rows, limits, &merged);
		if (!go_err) {
			cfi_rows__free(rows);
			rows = merged;
		}
		if (go_err != -ENOENT)
			err = go_err;
	}
	if (err) {
		cfi_rows__free(rows);
		return err;
	}
	*out = rows;
	return 0;
}

int go_rows__build_object_fd(int fd, int debug_fd, const struct cfi_limits *limits,
			     struct cfi_rows **out)
{
	return cfi_rows__build_fd_with(go_rows__build_object, fd, debug_fd, limits, out);
}
