/* The BPF walk of bpf/unwind.bpf.h (unwind_frame, fp_step, dwarf_step)
 * over a copied stack, in user space; see unwinder_walk.h. Without the
 * BPF side's caches (memo, frame cache): these samples are few. */
#include "bpf/unwinder_walk.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>

#include "bpf/unwinder.h"
#include "common/macros.h"
#include "unwind/unwind_table.h"

struct walk {
	const struct deferred_sample *d;
	const struct proc_unwind *pu;
	__u64 pc, sp, bp;
	bool caller;   /* pc is a return address: look up pc - 1 */
	bool reliable; /* pc came from the registers or a table step */
};

struct table_ctx {
	const struct unwinder_maps *maps;
	__u32 table_id;
};

static const struct unwind_index_page *map_page(void *ctx, uint32_t i, struct unwind_index_page *buf)
{
	const struct table_ctx *t = ctx;
	struct unwind_chunk_key k = { .table_id = t->table_id, .index = i };

	return bpf_map_lookup_elem(t->maps->index, &k, buf) ? NULL : buf;
}

static const struct unwind_chunk *map_chunk(void *ctx, uint32_t i, struct unwind_chunk *buf)
{
	const struct table_ctx *t = ctx;
	struct unwind_chunk_key k = { .table_id = t->table_id, .index = i };

	return bpf_map_lookup_elem(t->maps->chunks, &k, buf) ? NULL : buf;
}

/* The rule covering vaddr in table table_id: 0 and *r, or -ENOENT (no
 * rule there, or the table is gone). */
static int maps_rule(void *c, __u32 table_id, __u64 vaddr, struct unwind_rule *r)
{
	const struct unwinder_maps *maps = c;
	struct table_ctx ctx = { maps, table_id };
	const struct unwind_table_parts parts = { map_page, map_chunk, &ctx };
	struct unwind_table_info info;
	__u32 id;

	if (bpf_map_lookup_elem(maps->info, &table_id, &info))
		return -ENOENT;
	id = unwind_table__search(&info, &parts, vaddr);
	if (id == UNWIND_RULE_NONE || bpf_map_lookup_elem(maps->rules, &id, r))
		return -ENOENT;
	return 0;
}

static int maps_proc(void *c, const struct proc_unwind_key *key, struct proc_unwind *out)
{
	const struct unwinder_maps *maps = c;

	return bpf_map_lookup_elem(maps->proc_unwind, key, out) ? -ENOENT : 0;
}

void unwinder_walk__maps(const struct unwinder_maps *maps, struct unwind_walk_source *src)
{
	*src = (struct unwind_walk_source){ maps_proc, maps_rule, (void *)maps };
}

static const struct proc_map_entry *find_mapping(const struct proc_unwind *pu, __u64 pc)
{
	size_t n = MIN(pu->count, PROFILE_PROC_MAPS_MAX), lo = 0, hi = n;

	/* the first mapping ending above pc (the table is sorted) */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (pu->maps[mid].end <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && pu->maps[lo].start <= pc && pc < pu->maps[lo].end ? &pu->maps[lo] : NULL;
}

/* The word at addr, from the copy of the stack. */
static int read_u64(const struct walk *w, __u64 addr, __u64 *out)
{
	__u64 off = addr - w->d->sp, len = MIN(w->d->stack_len, (__u32)DEFER_STACK_BYTES);

	/* the stack's words are the process's: any address, any wrap */
	if (addr < w->d->sp || off >= len || len - off < 8)
		return -ERANGE;
	memcpy(out, w->d->stack + off, sizeof(*out));
	return 0;
}

static int fp_step(struct walk *w)
{
	__u64 next_bp, ra;

	if (!w->bp || w->bp & 7 || w->bp < w->sp || read_u64(w, w->bp, &next_bp) ||
	    read_u64(w, w->bp + 8, &ra))
		return -ERANGE;
	w->sp = w->bp + 16;
	w->bp = next_bp;
	w->pc = ra;
	w->caller = true;
	w->reliable = false;
	return 0;
}

/* 1 when the rule ends the stack, 0 after a step, else -ERANGE. */
static int dwarf_step(struct walk *w, const struct unwind_rule *r)
{
	__u64 cfa, ra, bp;

	switch (r->cfa_kind) {
	case UNWIND_CFA_RSP:
		cfa = w->sp + (__s64)r->cfa_offset;
		break;
	case UNWIND_CFA_RBP:
		cfa = w->bp + (__s64)r->cfa_offset;
		break;
	case UNWIND_CFA_PLT:
		cfa = w->sp + (__s64)r->cfa_offset + ((w->pc & 15) >= r->plt_threshold ? 8 : 0);
		break;
	case UNWIND_CFA_END:
		return 1;
	case UNWIND_CFA_SIGNAL:
		if (read_u64(w, w->sp + SIGFRAME_BP, &bp) || read_u64(w, w->sp + SIGFRAME_SP, &cfa) ||
		    read_u64(w, w->sp + SIGFRAME_IP, &ra))
			return -ERANGE;
		w->bp = bp;
		w->sp = cfa;
		w->pc = ra;
		w->caller = false; /* an interrupted instruction, not a call */
		w->reliable = true;
		return 0;
	default:
		return -ERANGE;
	}
	if (read_u64(w, cfa - 8, &ra))
		return -ERANGE;
	if (r->rbp_kind == UNWIND_RBP_CFA_OFFSET) {
		if (read_u64(w, cfa + (__s64)r->rbp_offset, &bp))
			return -ERANGE;
		w->bp = bp;
	}
	w->sp = cfa;
	w->pc = ra;
	w->caller = true;
	w->reliable = true;
	return 0;
}

int unwinder_walk(const struct unwind_walk_source *src, const struct deferred_sample *d,
		  struct unwind_walk *r)
{
	struct proc_unwind_key key = { .tgid = d->key.tgid, .image = d->key.image };
	struct walk w = { .d = d, .pc = d->ip, .sp = d->sp, .bp = d->bp, .reliable = true };
	struct proc_unwind *pu;
	int err = -ERANGE;

	r->n = 0;
	r->uncovered = r->used_fp = false;
	/* 30 KiB: not for the stack */
	pu = malloc(sizeof(*pu));
	if (!pu)
		return -ENOMEM;
	if (src->proc(src->ctx, &key, pu)) {
		free(pu);
		return -ENOENT;
	}
	w.pu = pu;
	while (r->n < PROFILE_MAX_DEPTH) {
		const struct proc_map_entry *m;
		struct unwind_rule rule;
		__u64 lookup_pc;
		int step;

		if (!w.pc) {
			err = 0;
			break;
		}
		r->ips[r->n++] = w.pc;
		lookup_pc = w.caller ? w.pc - 1 : w.pc;
		m = find_mapping(pu, lookup_pc);
		if (!m && (r->n == 1 || w.reliable))
			r->uncovered = true;
		if (!m || !m->table_id || src->rule(src->ctx, m->table_id, lookup_pc - m->bias, &rule)) {
			/* JIT, anonymous or table-less code: frame pointers */
			r->used_fp = true;
			if (fp_step(&w))
				break;
			continue;
		}
		step = dwarf_step(&w, &rule);
		if (step) {
			err = step > 0 ? 0 : step;
			break;
		}
	}
	free(pu);
	return err;
}
