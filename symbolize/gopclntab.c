#include "symbolize/gopclntab.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/macros.h"

#define MAGIC_116 0xfffffffau
#define MAGIC_118 0xfffffff0u
#define MAGIC_120 0xfffffff1u

/* The header's 8 fixed bytes (magic, two zero pads, the pc quantum, the
 * pointer size), then one pointer-sized word per field. */
#define HDR_FIXED 8
enum hdr_word_116 { W_NFUNC, W_NFILES, W116_FUNCNAME, W116_CU, W116_FILETAB,
		    W116_PCTAB, W116_FUNCTAB, W116_COUNT };
enum hdr_word_118 { W118_TEXT = 2, W118_FUNCNAME, W118_CU, W118_FILETAB,
		    W118_PCTAB, W118_FUNCTAB, W118_COUNT };

/* A _func record after its entry (a pointer before 1.18, a 32-bit offset
 * from the text start since): the 32-bit fields we read, as offsets from
 * the end of the entry. */
#define F_NAMEOFF 0
#define F_PCSP 12
#define F_PCFILE 16
#define F_PCLN 20
#define F_NPCDATA 24
#define F_CUOFF 28
#define F_SIZE 32
/* then funcID, flag, a pad and nfuncdata (1.20 puts startLine first),
 * then npcdata 32-bit pc-value table offsets, then nfuncdata funcdata
 * (32-bit offsets from moduledata.gofunc since 1.18, pointers before) */
#define F_FIXED_116 36
#define F_FUNCID_116 32
#define F_FUNCID_120 36
#define F_FIXED_120 40

#define PCDATA_INL_TREE_INDEX 2
/* Inlining deeper than this (Go's inliner stops far below) is a hostile
 * tree: its walk ends there. */
#define INL_WALK_MAX 64
#define FUNCDATA_INL_TREE 3
/* An inlinedCall: 20 bytes before 1.20 (parent, funcID, file, line, name,
 * parentPc), 16 since (funcID, name, parentPc, startLine). */
#define INL_SIZE_116 20
#define INL_NAME_116 12
#define INL_PARENT_PC_116 16
#define INL_SIZE_120 16
#define INL_NAME_120 4
#define INL_PARENT_PC_120 8
/* moduledata: the pcHeader pointer, then six slices (pointer, len, cap):
 * funcnametab, cutab, ...; gofunc is word 38 (1.18-1.19) or 40 (1.20+,
 * after covctrs and ecovctrs). */
#define MD_FUNCNAME_WORD 1
#define MD_CUTAB_WORD 4
#define MD_GOFUNC_118 38
#define MD_GOFUNC_120 40

struct gopclntab {
	uint8_t *data; /* the table, and a NUL past its end for strings */
	size_t size;
	int version;
	unsigned quantum, ptr_size;
	uint64_t text_start;
	size_t nfunc;
	size_t funcname, cutab, filetab, pctab, functab; /* offsets in data */
	size_t ftab_entry; /* bytes of one function-table entry */
	size_t func_entry; /* bytes of a _func's entry field */

	/* where funcdata (inline trees) live, outside the table: a copy of
	 * the binary's bytes at funcdata_vaddr; gofunc the base of 1.18+
	 * funcdata offsets */
	uint8_t *funcdata;
	size_t funcdata_size;
	uint64_t funcdata_vaddr, gofunc;
};

static bool read_u32(const struct gopclntab *t, size_t off, uint32_t *v)
{
	if (off > t->size || t->size - off < 4)
		return false;
	memcpy(v, t->data + off, 4);
	return true;
}

static bool read_word(const struct gopclntab *t, size_t off, uint64_t *v)
{
	uint32_t lo;

	if (t->ptr_size == 4) {
		if (!read_u32(t, off, &lo))
			return false;
		*v = lo;
		return true;
	}
	if (off > t->size || t->size - off < 8)
		return false;
	memcpy(v, t->data + off, 8);
	return true;
}

/* A string of the table at base + off, NULL if it starts outside it (the
 * copy's trailing NUL ends one that runs to the end). */
static const char *string_at(const struct gopclntab *t, size_t base, uint64_t off)
{
	if (base > t->size || off >= t->size - base)
		return NULL;
	return (const char *)t->data + base + off;
}

static int parse_header(struct gopclntab *t, uint64_t text_start)
{
	uint64_t w[W118_COUNT];
	size_t nwords, room;
	uint32_t magic;

	if (!read_u32(t, 0, &magic) || t->size < HDR_FIXED)
		return -ENOEXEC;
	if (magic == MAGIC_116)
		t->version = 116;
	else if (magic == MAGIC_118)
		t->version = 118;
	else if (magic == MAGIC_120)
		t->version = 120;
	else
		return -ENOEXEC;
	t->quantum = t->data[6];
	t->ptr_size = t->data[7];
	if (t->data[4] || t->data[5] || (t->ptr_size != 4 && t->ptr_size != 8) ||
	    (t->quantum != 1 && t->quantum != 2 && t->quantum != 4))
		return -ENOEXEC;
	nwords = t->version == 116 ? W116_COUNT : W118_COUNT;
	for (size_t i = 0; i < nwords; i++)
		if (!read_word(t, HDR_FIXED + i * t->ptr_size, &w[i]))
			return -ENOEXEC;
	if (t->version == 116) {
		t->funcname = w[W116_FUNCNAME];
		t->cutab = w[W116_CU];
		t->filetab = w[W116_FILETAB];
		t->pctab = w[W116_PCTAB];
		t->functab = w[W116_FUNCTAB];
		t->ftab_entry = 2 * t->ptr_size;
		t->func_entry = t->ptr_size;
	} else {
		t->text_start = text_start ? text_start : w[W118_TEXT];
		t->funcname = w[W118_FUNCNAME];
		t->cutab = w[W118_CU];
		t->filetab = w[W118_FILETAB];
		t->pctab = w[W118_PCTAB];
		t->functab = w[W118_FUNCTAB];
		t->ftab_entry = 8;
		t->func_entry = 4;
	}
	if (t->funcname >= t->size || t->cutab >= t->size || t->filetab >= t->size ||
	    t->pctab >= t->size || t->functab >= t->size)
		return -ENOEXEC;
	/* nfunc entries and the end entry after them must fit */
	room = (t->size - t->functab) / t->ftab_entry;
	if (room == 0 || w[W_NFUNC] > room - 1)
		return -ENOEXEC;
	t->nfunc = w[W_NFUNC];
	return 0;
}

/* Function i's first address (i == nfunc: the end of the last). */
static uint64_t func_entry(const struct gopclntab *t, size_t i)
{
	size_t off = t->functab + i * t->ftab_entry;
	uint64_t v = 0;
	uint32_t v32 = 0;

	/* in bounds: parse_header checked nfunc + 1 entries */
	if (t->version == 116) {
		read_word(t, off, &v);
		return v;
	}
	read_u32(t, off, &v32);
	return t->text_start + v32;
}

/* Where function i's _func record starts in data, or 0 if it does not fit. */
static size_t func_record(const struct gopclntab *t, size_t i)
{
	size_t off = t->functab + i * t->ftab_entry + t->ftab_entry / 2;
	uint64_t rec = 0;
	uint32_t v32 = 0;

	if (t->version == 116) {
		read_word(t, off, &rec);
	} else {
		read_u32(t, off, &v32);
		rec = v32;
	}
	if (rec > t->size - t->functab)
		return 0;
	rec += t->functab;
	if (t->size - rec < t->func_entry + F_SIZE)
		return 0;
	return (size_t)rec + t->func_entry;
}

/* A varint of at most 32 bits at *off, advancing it; false at the table's
 * end or on a longer one. */
static bool read_varint(const struct gopclntab *t, size_t *off, uint32_t *v)
{
	uint32_t r = 0;

	for (unsigned shift = 0; shift < 35; shift += 7) {
		uint8_t b;

		if (*off >= t->size)
			return false;
		b = t->data[(*off)++];
		r |= (uint32_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = r;
			return true;
		}
	}
	return false;
}

/* One pair of a pc-value table at *off: a zig-zag value delta and a pc
 * delta, applied to *val and *at; false at the end marker (a zero value
 * delta after the first pair) or where the table is cut. Every step reads
 * at least two bytes, so a walk ends with the copy. */
static bool pcvalue_step(const struct gopclntab *t, size_t *off, bool first, int32_t *val,
			 uint64_t *at)
{
	uint32_t vdelta, pcdelta;

	if (!read_varint(t, off, &vdelta) || (vdelta == 0 && !first))
		return false;
	/* wraps like Go's int32 on a hostile table, without UB */
	*val = (int32_t)((uint32_t)*val + (-(vdelta & 1) ^ (vdelta >> 1)));
	if (!read_varint(t, off, &pcdelta))
		return false;
	*at += (uint64_t)pcdelta * t->quantum;
	return true;
}

/* The value a pc-value table (at pctab + table) holds for pc in the
 * function starting at entry: pairs from -1 at entry. false if pc is past
 * the table or the table is cut. */
static bool pc_value(const struct gopclntab *t, uint32_t table, uint64_t entry,
		     uint64_t pc, int32_t *value)
{
	size_t off = t->pctab + table;
	uint64_t at = entry;
	int32_t val = -1;

	if (table == 0 || table >= t->size - t->pctab)
		return false;
	for (bool first = true;; first = false) {
		if (!pcvalue_step(t, &off, first, &val, &at))
			return false;
		if (pc < at) {
			*value = val;
			return true;
		}
	}
}

static const char *file_name(const struct gopclntab *t, size_t rec, uint64_t entry,
			     uint64_t pc)
{
	uint32_t table, cu, file_off;
	int32_t fileno;
	uint64_t slot;

	if (!read_u32(t, rec + F_PCFILE, &table) || !read_u32(t, rec + F_CUOFF, &cu) ||
	    !pc_value(t, table, entry, pc, &fileno) || fileno < 0)
		return NULL;
	slot = t->cutab + ((uint64_t)cu + (uint64_t)fileno) * 4;
	if (!read_u32(t, (size_t)slot, &file_off) || file_off == UINT32_MAX)
		return NULL;
	return string_at(t, t->filetab, file_off);
}

static int32_t pcdata_value(const struct gopclntab *t, size_t rec, uint32_t index,
			    uint64_t entry, uint64_t pc)
{
	size_t fixed = t->version >= 120 ? F_FIXED_120 : F_FIXED_116;
	uint32_t npcdata, table;
	int32_t v;

	if (!read_u32(t, rec + F_NPCDATA, &npcdata) || index >= npcdata ||
	    !read_u32(t, rec + fixed + index * 4, &table) ||
	    !pc_value(t, table, entry, pc, &v))
		return -1;
	return v;
}

/* The inline tree of a function in the funcdata copy (its first entry's
 * offset there), or SIZE_MAX if it has none or it is outside the copy. */
static size_t inline_tree(const struct gopclntab *t, size_t rec)
{
	size_t fixed = t->version >= 120 ? F_FIXED_120 : F_FIXED_116;
	uint32_t npcdata, off32;
	uint64_t addr = 0;
	size_t slot;

	if (!t->funcdata || !read_u32(t, rec + F_NPCDATA, &npcdata) ||
	    rec + fixed > t->size || t->data[rec + fixed - 1] <= FUNCDATA_INL_TREE ||
	    npcdata > t->size / 4)
		return SIZE_MAX;
	slot = rec + fixed + (size_t)npcdata * 4;
	if (t->version == 116) {
		/* pointers, aligned (the table starts pointer-aligned) */
		slot = (slot + t->ptr_size - 1) / t->ptr_size * t->ptr_size;
		if (!read_word(t, slot + FUNCDATA_INL_TREE * t->ptr_size, &addr) || !addr)
			return SIZE_MAX;
	} else {
		if (!read_u32(t, slot + FUNCDATA_INL_TREE * 4, &off32) || off32 == UINT32_MAX)
			return SIZE_MAX;
		addr = t->gofunc + off32;
	}
	if (addr < t->funcdata_vaddr || addr - t->funcdata_vaddr >= t->funcdata_size)
		return SIZE_MAX;
	return (size_t)(addr - t->funcdata_vaddr);
}

/* The name and parent pc of inline tree entry ix, false if outside the copy. */
static bool inlined_call(const struct gopclntab *t, size_t tree, int32_t ix,
			 uint32_t *nameoff, int32_t *parent_pc)
{
	size_t size = t->version >= 120 ? INL_SIZE_120 : INL_SIZE_116;
	size_t name = t->version >= 120 ? INL_NAME_120 : INL_NAME_116;
	size_t parent = t->version >= 120 ? INL_PARENT_PC_120 : INL_PARENT_PC_116;
	size_t at;

	if ((uint64_t)ix >= (t->funcdata_size - tree) / size)
		return false;
	at = tree + (size_t)ix * size;
	memcpy(nameoff, t->funcdata + at + name, 4);
	memcpy(parent_pc, t->funcdata + at + parent, 4);
	return true;
}

static void frame_line(const struct gopclntab *t, size_t rec, uint64_t entry, uint64_t pc,
		       struct gopclntab_frame *frame)
{
	uint32_t table;
	int32_t line;

	frame->file = file_name(t, rec, entry, pc);
	frame->line = 0;
	if (read_u32(t, rec + F_PCLN, &table) && pc_value(t, table, entry, pc, &line) &&
	    line > 0)
		frame->line = (uint32_t)line;
}

/* Inlined calls: the inline tree index at pc names the innermost inlined
 * function; its parentPc, a pc of the caller at the call site, gives the
 * next one out, as the runtime's traceback walks them. Writes the
 * innermost max frames and walks on (at most INL_WALK_MAX levels: a
 * hostile tree may loop) to the outer function's pc, left in *pc.
 * Returns frames written, innermost first. */
static int inlined_frames(const struct gopclntab *t, size_t rec, uint64_t entry,
			  uint64_t *pc, struct gopclntab_frame *frames, int max)
{
	size_t tree = inline_tree(t, rec);
	int n = 0;

	if (tree == SIZE_MAX)
		return 0;
	for (int level = 0; level < INL_WALK_MAX; level++) {
		int32_t ix = pcdata_value(t, rec, PCDATA_INL_TREE_INDEX, entry, *pc);
		int32_t parent_pc;
		uint32_t nameoff;
		const char *name;

		if (ix < 0 || !inlined_call(t, tree, ix, &nameoff, &parent_pc))
			break;
		name = string_at(t, t->funcname, nameoff);
		if (!name || parent_pc < 0)
			break;
		if (n < max) {
			frames[n] = (struct gopclntab_frame){ .function = name };
			frame_line(t, rec, entry, *pc, &frames[n]);
			n++;
		}
		*pc = entry + (uint32_t)parent_pc;
	}
	return n;
}

/* Whether pc is in function i's code rather than in the padding after it
 * (past the end of its line table). */
static bool in_code(const struct gopclntab *t, size_t i, uint64_t pc)
{
	size_t rec = func_record(t, i);
	uint32_t table;
	int32_t line;

	return rec && read_u32(t, rec + F_PCLN, &table) &&
	       pc_value(t, table, func_entry(t, i), pc, &line);
}

int gopclntab__lookup(const struct gopclntab *t, uint64_t pc,
		      struct gopclntab_frame *frames, int max)
{
	size_t i, rec;
	uint64_t entry;
	uint32_t nameoff;
	const char *name;
	int n;

	if (!t || max <= 0 || t->nfunc == 0 || pc < func_entry(t, 0) ||
	    pc >= func_entry(t, t->nfunc))
		return -ENOENT;
	i = PARTITION_POINT(t->nfunc, mid, func_entry(t, mid) <= pc);
	/* the table is sorted; a hostile one may not be */
	if (i == 0 || pc >= func_entry(t, i))
		return -ENOENT;
	/* A return address at a function's entry, looked up at pc - 1, lands
	 * in the padding before it: that function's. The scheduler saves
	 * runtime.systemstack_switch's entry as a goroutine's pc in cgo calls
	 * (Go's traceback does not back up at an entry either). */
	if (i < t->nfunc && pc + 1 == func_entry(t, i) && !in_code(t, i - 1, pc))
		i++;
	i--;
	entry = func_entry(t, i);
	rec = func_record(t, i);
	if (!rec || !read_u32(t, rec + F_NAMEOFF, &nameoff))
		return -ENOENT;
	name = string_at(t, t->funcname, nameoff);
	if (!name || !name[0])
		return -ENOENT;
	n = inlined_frames(t, rec, entry, &pc, frames, max - 1);
	frames[n] = (struct gopclntab_frame){ .function = name, .entry = entry };
	frame_line(t, rec, entry, pc, &frames[n]);
	return n + 1;
}

int gopclntab__find_gofunc(const struct gopclntab *t, const void *data, size_t size,
			   uint64_t pclntab_vaddr, uint64_t *gofunc)
{
	size_t words = size / 8;
	size_t gofunc_word = t->version >= 120 ? MD_GOFUNC_120 : MD_GOFUNC_118;
	const uint8_t *d = data;

	if (t->version == 116 || t->ptr_size != 8)
		return -ENOENT;
	for (size_t i = 0; i + gofunc_word < words; i++) {
		uint64_t w[3];

		memcpy(&w[0], d + i * 8, 8);
		if (w[0] != pclntab_vaddr)
			continue;
		memcpy(&w[1], d + (i + MD_FUNCNAME_WORD) * 8, 8);
		memcpy(&w[2], d + (i + MD_CUTAB_WORD) * 8, 8);
		if (w[1] != pclntab_vaddr + t->funcname || w[2] != pclntab_vaddr + t->cutab)
			continue;
		memcpy(gofunc, d + (i + gofunc_word) * 8, 8);
		return 0;
	}
	return -ENOENT;
}

int gopclntab__set_funcdata(struct gopclntab *t, const void *data, size_t size,
			    uint64_t vaddr, uint64_t gofunc)
{
	uint8_t *copy = malloc(size ? size : 1);

	if (!copy)
		return -ENOMEM;
	memcpy(copy, data, size);
	free(t->funcdata);
	t->funcdata = copy;
	t->funcdata_size = size;
	t->funcdata_vaddr = vaddr;
	t->gofunc = gofunc;
	return 0;
}

bool gopclntab__has_inlines(const struct gopclntab *t)
{
	return t && t->funcdata;
}

int gopclntab__new(const void *data, size_t size, uint64_t text_start,
		   struct gopclntab **out)
{
	struct gopclntab *t;
	int err;

	if (size == SIZE_MAX)
		return -ENOEXEC;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->data = malloc(size + 1);
	if (!t->data) {
		free(t);
		return -ENOMEM;
	}
	if (size)
		memcpy(t->data, data, size);
	t->data[size] = '\0';
	t->size = size;
	err = parse_header(t, text_start);
	if (err) {
		gopclntab__free(t);
		return err;
	}
	*out = t;
	return 0;
}

int gopclntab__new_in(const void *data, size_t size, uint64_t text_lo, uint64_t text_hi,
		      struct gopclntab **out)
{
	uint64_t tries[2] = { 0, text_lo };

	for (size_t i = 0; i < ARRAY_SIZE(tries); i++) {
		struct gopclntab *t = NULL;
		int err = gopclntab__new(data, size, tries[i], &t);

		if (err)
			return err;
		if (t->nfunc && func_entry(t, 0) >= text_lo && func_entry(t, 0) < text_hi) {
			*out = t;
			return 0;
		}
		gopclntab__free(t);
	}
	return -ENOENT;
}

void gopclntab__free(struct gopclntab *t)
{
	if (!t)
		return;
	free(t->data);
	free(t->funcdata);
	free(t);
}

int gopclntab__version(const struct gopclntab *t)
{
	return t->version;
}

size_t gopclntab__func_count(const struct gopclntab *t)
{
	return t->nfunc;
}

size_t gopclntab__bytes(const struct gopclntab *t)
{
	return t ? sizeof(*t) + t->size + 1 + t->funcdata_size : 0;
}

int gopclntab__func(const struct gopclntab *t, size_t i, struct gopclntab_func *f)
{
	size_t rec, idoff;
	uint32_t nameoff, pcsp;

	if (!t || i >= t->nfunc)
		return -ENOENT;
	f->entry = func_entry(t, i);
	f->end = func_entry(t, i + 1);
	rec = func_record(t, i);
	idoff = rec + (t->version >= 120 ? F_FUNCID_120 : F_FUNCID_116);
	if (f->end <= f->entry || !rec || !read_u32(t, rec + F_NAMEOFF, &nameoff) ||
	    !read_u32(t, rec + F_PCSP, &pcsp) || idoff >= t->size)
		return -ENOENT;
	f->name = string_at(t, t->funcname, nameoff);
	if (!f->name)
		return -ENOENT;
	f->func_id = t->data[idoff];
	f->pcsp = pcsp;
	return 0;
}

void gopclntab__pcsp_begin(const struct gopclntab *t, const struct gopclntab_func *f,
			   struct gopclntab_pcvalue *it)
{
	*it = (struct gopclntab_pcvalue){ .tab = t, .off = t->pctab + f->pcsp, .pc = f->entry,
					  .end = f->end, .value = -1, .first = true };
	/* offset 0 is no table */
	it->done = f->pcsp == 0 || f->pcsp >= t->size - t->pctab;
}

int gopclntab__pcvalue_next(struct gopclntab_pcvalue *it, uint64_t *start, uint64_t *end,
			    int32_t *value)
{
	const struct gopclntab *t = it->tab;

	while (!it->done) {
		uint64_t from = it->pc;
		size_t off = it->off;

		if (it->pc >= it->end) {
			it->done = true;
			return 0;
		}
		if (!pcvalue_step(t, &it->off, it->first, &it->value, &it->pc)) {
			it->done = true;
			/* the end marker, or a table cut before it */
			return off < t->size && t->data[off] == 0 && !it->first ? 0 : -EINVAL;
		}
		it->first = false;
		if (it->pc > it->end) {
			it->done = true;
			return -EINVAL;
		}
		if (it->pc == from)
			continue; /* an empty run */
		*start = from;
		*end = it->pc;
		*value = it->value;
		return 1;
	}
	return 0;
}
