/* unwind.bpf.h: the DWARF user-stack unwinder of profile.bpf.c, its maps
 * and its entry point:
 *
 *   unwind_user(ctx, cs, key, out, &key_flags, defer)   true and the
 *        current task's user stack in out (counted in stats by how it
 *        ended), or false when the process has no tables loaded (yet);
 *        ctx and cs as get_user_regs (bpf/regs.bpf.h) takes them; *defer
 *        (unless defer is NULL) set when the tables could not walk the
 *        stack whole (none loaded, a pc outside them, a walk cut short):
 *        the caller may send the sample to user space to walk later
 *
 * Walks a user stack with the compact tables of bpf/profile.h that user
 * space (bpf/unwinder.c) loads for the executables of a process (keyed by
 * the process's image, so an exec never sees its predecessor's mappings).
 * Per frame: find the mapping of pc in the process's sorted mapping table,
 * find the row in the executable's table, apply the rule. A pc no table
 * covers (JIT code, binaries without CFI) takes one frame-pointer step.
 * Runs under bpf_loop, one iteration a frame, at most PROFILE_MAX_DEPTH.
 *
 * Nearly all of the cost is cold memory: xz and its kind evict the caches
 * and TLB between two samples, so every distinct cache line the walk
 * touches costs 100-500 ns on the development VM, and a frame's searches
 * took a dozen. So most frames never search: a frame's rule comes from
 * the memo of its process's last stack (a few cache lines for the whole
 * stack), else from the frame cache (one line), and the stack words it
 * needs from one copy of the top of the stack made at the start.
 *
 * All searches are fixed-step binary searches over power-of-two arrays
 * padded with values larger than any key, which the verifier accepts
 * without bounds gymnastics and which cost the same for every pc. */
#ifndef BRASA_BPF_UNWIND_BPF_H
#define BRASA_BPF_UNWIND_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "errno.bpf.h"
#include "profile.h"
#include "regs.bpf.h"
#include "report.bpf.h"

/* Sized at run time from the configured bound on table memory. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct proc_unwind_key);
	__type(value, struct proc_unwind);
} proc_unwind SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, UNWIND_RULES_MAX); /* 768 KiB: every id user space can give */
	__type(key, __u32);
	__type(value, struct unwind_rule);
} unwind_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct unwind_table_info);
} unwind_info SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct unwind_chunk_key);
	__type(value, struct unwind_index_page);
} unwind_index SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct unwind_chunk_key);
	__type(value, struct unwind_chunk);
} unwind_chunks SEC(".maps");

/* Rules of recently unwound code, keyed by (table id, ELF vaddr) so they
 * serve every process that maps the same object, a restarted one too,
 * and survive exec. A hit replaces the index, chunk and rule lookups (a
 * dozen cold cache lines) with one 16-byte slot. Direct-mapped, shared by
 * all CPUs and written without locks: an array lookup is inlined by the
 * verifier (no helper call, no hashing of a key, no LRU bookkeeping).
 * 4096 slots (64 KiB): the frames of a busy host's hot code.
 *
 * A slot is two words: the key ((table id << 40) | vaddr; 0 is never a
 * key since table ids start at 1) and the rule packed with 8 bits of the
 * key's hash. Two CPUs filling one slot at once can leave one's key with
 * the other's rule; the check bits catch that (but for 1 in 256), and a
 * reader then takes the slow path. Table ids are never reused by user
 * space, so an entry of an evicted table stays right for its object.
 * Objects with vaddrs past 2^40, ids past 2^24 or offsets that do not
 * pack are simply not cached. */
#define FRAME_CACHE_LOG2 12
#define FRAME_CACHE_SLOTS (1u << FRAME_CACHE_LOG2)
#define FRAME_CACHE_VADDR_BITS 40

struct frame_cache_slot {
	__u64 key;
	__u64 rule; /* frame_rule_pack() */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FRAME_CACHE_SLOTS);
	__type(key, __u32);
	__type(value, struct frame_cache_slot);
} frame_cache SEC(".maps");

/* A rule as the walk needs it (no reason), unpacked in registers. */
struct frame_rule {
	__s32 cfa_offset;
	__s16 rbp_offset;
	__u8 cfa_kind, rbp_kind, plt_threshold;
};

/* cfa_offset in bits 0-31, rbp_offset 32-47, cfa_kind 48-50, rbp_kind
 * 51, plt_threshold 52-55, check 56-63. */
static __always_inline __u64 frame_rule_pack(const struct unwind_rule *r, __u64 check)
{
	return (__u64)(__u32)r->cfa_offset | (__u64)(__u16)r->rbp_offset << 32 |
	       (__u64)(r->cfa_kind & 7) << 48 | (__u64)(r->rbp_kind & 1) << 51 |
	       (__u64)(r->plt_threshold & 15) << 52 | check << 56;
}

static __always_inline void frame_rule_unpack(__u64 w, struct frame_rule *r)
{
	r->cfa_offset = (__s32)(__u32)w;
	r->rbp_offset = (__s16)(__u16)(w >> 32);
	r->cfa_kind = (w >> 48) & 7;
	r->rbp_kind = (w >> 51) & 1;
	r->plt_threshold = (w >> 52) & 15;
}

/* Rules whose every field survives the packing. */
static __always_inline bool frame_rule_packs(const struct unwind_rule *r)
{
	return r->cfa_kind <= 7 && r->rbp_kind <= 1 && r->plt_threshold <= 15;
}

/* The top of the sample's stack, copied at once from its rsp: one read of
 * a couple of KiB streams its cache lines, where the one or two reads of
 * 8 bytes a frame took otherwise wait for them one after the other (and
 * each is a helper call through the fault-handling user-copy path).
 * Addresses outside it are read one by one. A page: 99 % of xz's stacks
 * fit. */
#define UNWIND_STACK_WINDOW 4096

struct stack_window {
	__u8 bytes[UNWIND_STACK_WINDOW];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct stack_window);
} stack_window SEC(".maps");

struct user_unwind_state {
	__u64 pc, sp, bp;
	struct stack_trace *out;
	struct proc_unwind *maps;
	const struct proc_frame_memo *memo_last; /* in maps: read */
	struct proc_frame_memo *memo_next;       /* written */
	const struct stack_window *win; /* [win_base, win_base + win_len) */
	__u64 win_base;
	__u64 win_len;
	__u32 stop;   /* PROFILE_STAT_UNWIND_* reason, or 0 */
	/* some frame had no table: a flag, not a count, because the verifier
	 * checks bpf_loop callbacks until their state converges, and a
	 * counter would be a new state on every iteration */
	bool used_fp;
	/* a pc known to be real (the leaf, or a return address found with
	 * a table) lies in no loaded mapping: code mapped since the tables
	 * were loaded (ld.so at start, dlopen) */
	bool uncovered;
	bool reliable; /* pc came from the registers or a table step */
	bool caller;  /* pc is a return address: look up pc - 1 */
	bool done;    /* the stack ended properly */
};

/* 1 when a <= b, computed without a branch: a branch per search step
 * would give the verifier 2^steps paths to explore. */
static __always_inline __u32 le_bit(__u64 a, __u64 b)
{
	return (__u32)(1 - ((b - a) >> 63));
}

/* Largest i with a[i] <= key over a power-of-two array of 2^log2 u32
 * (0 if none: callers check a[0] themselves). */
#define FIXED_SEARCH(a, log2, key)                                            \
	({                                                                    \
		__u32 _i = 0;                                                 \
		for (int _s = (log2) - 1; _s >= 0; _s--) {                    \
			__u32 _j = (_i + (1u << _s)) & ((1u << (log2)) - 1);  \
			_i += le_bit((a)[_j], (key)) << _s;                   \
		}                                                             \
		_i & ((1u << (log2)) - 1);                                    \
	})

/* The entry of the mapping containing pc, or NULL. Mapping addresses are
 * user addresses (< 2^47), so the 64-bit difference trick holds. The
 * search reads start[] only: its first PROFILE_PROC_MAPS_SMALL values
 * (one cache line) when the process has no more mappings. */
static __always_inline const struct proc_map_entry *
find_mapping(const struct proc_unwind *pm, __u64 pc)
{
	__u32 i = 0;

	if (pm->count <= PROFILE_PROC_MAPS_SMALL) {
		for (int s = PROFILE_PROC_MAPS_SMALL_LOG2 - 1; s >= 0; s--) {
			__u32 j = i + (1u << s);

			i += le_bit(pm->start[j & (PROFILE_PROC_MAPS_SMALL - 1)], pc) << s;
		}
		i &= PROFILE_PROC_MAPS_SMALL - 1;
	} else {
		for (int s = PROFILE_PROC_MAPS_LOG2 - 1; s >= 0; s--) {
			__u32 j = (i + (1u << s)) & (PROFILE_PROC_MAPS_MAX - 1);

			i += le_bit(pm->start[j], pc) << s;
		}
		i &= PROFILE_PROC_MAPS_MAX - 1;
	}
	if (pm->start[i] > pc || pc >= pm->maps[i].end)
		return NULL;
	return &pm->maps[i];
}

/* Not a rule id: the table a mapping names was evicted. */
#define RULE_TABLE_GONE 0x10000u

/* The rule id covering the ELF address vaddr in a table, UNWIND_RULE_NONE,
 * or RULE_TABLE_GONE. A global function: the verifier checks it once, on
 * its own, instead of once for every path of the unwinding loop that
 * calls it (which took it close to its budget of a million
 * instructions). */
__noinline __u32 find_rule(__u32 table_id, __u64 vaddr)
{
	struct unwind_chunk_key ck = { .table_id = table_id };
	const struct unwind_table_info *info;
	const struct unwind_chunk *chunk;
	__u32 top, row, off;

	info = bpf_map_lookup_elem(&unwind_info, &table_id);
	if (!info)
		return RULE_TABLE_GONE;
	if (!info->chunk_count || vaddr < info->base_vaddr ||
	    vaddr - info->base_vaddr >= UNWIND_PC_PAD)
		return UNWIND_RULE_NONE;
	off = (__u32)(vaddr - info->base_vaddr);
	if (off < info->first_pc[0])
		return UNWIND_RULE_NONE;
	top = FIXED_SEARCH(info->first_pc, UNWIND_INLINE_INDEX_LOG2, off);
	if (info->index_pages) {
		const struct unwind_index_page *page;

		ck.index = top;
		page = bpf_map_lookup_elem(&unwind_index, &ck);
		if (!page)
			return UNWIND_RULE_NONE;
		ck.index = top * UNWIND_INDEX_PAGE_ENTRIES +
			   FIXED_SEARCH(page->first_pc, UNWIND_INDEX_PAGE_LOG2, off);
	} else {
		ck.index = top;
	}
	chunk = bpf_map_lookup_elem(&unwind_chunks, &ck);
	if (!chunk)
		return UNWIND_RULE_NONE;
	row = FIXED_SEARCH(chunk->pc, UNWIND_CHUNK_ROWS_LOG2, off);
	if (chunk->pc[row] > off)
		return UNWIND_RULE_NONE;
	return chunk->rule[row];
}

/* 0 and the word at addr when the window holds it, else -ERANGE. A global
 * function, checked on its own: inline, the verifier's precision
 * tracking of the offset through the bpf_loop callback's context trips a
 * verifier bug on Linux 6.18 ("stack slot 0, total slots 0"). */
__noinline int window_read(const struct stack_window *w, __u64 base, __u64 len, __u64 addr,
			   __u64 *out)
{
	__u64 off = addr - base;

	/* the constant bound is for the verifier, len for the copy */
	if (!w || !out || off > UNWIND_STACK_WINDOW - 8 || off + 8 > len)
		return -ERANGE;
	*out = *(const __u64 *)&w->bytes[off];
	return 0;
}

static __always_inline int read_user_u64(const struct user_unwind_state *st, __u64 addr,
					 __u64 *out)
{
	if (st->win && !window_read(st->win, st->win_base, st->win_len, addr, out))
		return 0;
	return bpf_probe_read_user(out, sizeof(*out), (const void *)addr);
}

/* One frame-pointer step: the caller's frame from the saved rbp chain.
 * The return address is kept even when the saved rbp looks wrong (code
 * without frame pointers reuses rbp): the next step may not need rbp at
 * all, since a table-covered caller unwinds from rsp. */
static __always_inline bool fp_step(struct user_unwind_state *st)
{
	__u64 next_bp, ra;

	if (!st->bp || st->bp & 7 || st->bp < st->sp || read_user_u64(st, st->bp, &next_bp) ||
	    read_user_u64(st, st->bp + 8, &ra)) {
		st->stop = PROFILE_STAT_UNWIND_FP_END;
		return false;
	}
	st->sp = st->bp + 16;
	st->bp = next_bp;
	st->pc = ra;
	st->caller = true;
	st->reliable = false;
	return true;
}

static __always_inline bool dwarf_step(struct user_unwind_state *st, const struct frame_rule *r)
{
	__u64 cfa, ra, bp;

	switch (r->cfa_kind) {
	case UNWIND_CFA_RSP:
		cfa = st->sp + (__s64)r->cfa_offset;
		break;
	case UNWIND_CFA_RBP:
		cfa = st->bp + (__s64)r->cfa_offset;
		break;
	case UNWIND_CFA_PLT:
		cfa = st->sp + (__s64)r->cfa_offset + ((st->pc & 15) >= r->plt_threshold ? 8 : 0);
		break;
	case UNWIND_CFA_END:
		st->done = true;
		return false;
	case UNWIND_CFA_SIGNAL:
		if (read_user_u64(st, st->sp + SIGFRAME_BP, &bp) ||
		    read_user_u64(st, st->sp + SIGFRAME_SP, &cfa) ||
		    read_user_u64(st, st->sp + SIGFRAME_IP, &ra)) {
			st->stop = PROFILE_STAT_UNWIND_READ_FAULT;
			return false;
		}
		st->bp = bp;
		st->sp = cfa;
		st->pc = ra;
		st->caller = false; /* an interrupted instruction, not a call */
		st->reliable = true;
		return true;
	default:
		st->stop = PROFILE_STAT_UNWIND_UNSUPPORTED;
		return false;
	}
	if (read_user_u64(st, cfa - 8, &ra)) {
		st->stop = PROFILE_STAT_UNWIND_READ_FAULT;
		return false;
	}
	if (r->rbp_kind == UNWIND_RBP_CFA_OFFSET) {
		if (read_user_u64(st, cfa + (__s64)r->rbp_offset, &bp)) {
			st->stop = PROFILE_STAT_UNWIND_READ_FAULT;
			return false;
		}
		st->bp = bp;
	}
	st->sp = cfa;
	st->pc = ra;
	st->caller = true;
	st->reliable = true;
	return true;
}

/* Slot and check bits of a frame cache key: the top bits of a
 * multiplicative hash, the best mixed. */
static __always_inline __u64 frame_cache_hash(__u64 key)
{
	return key * 0x9e3779b97f4a7c15ull;
}

/* Check bits of a memo entry: a torn entry (two CPUs writing it at once)
 * is taken for a miss. */
static __always_inline __u64 memo_check(__u64 pc)
{
	return (pc * 0x9e3779b97f4a7c15ull) >> 56;
}

static __always_inline bool memo_hit(const struct proc_frame_memo *e, __u64 pc, __u64 *rule)
{
	__u64 w = e->rule;

	if (e->pc != pc || w >> 56 != memo_check(pc))
		return false;
	*rule = w;
	return true;
}

/* The rule of pc at depth n if the process's last stack had pc at about
 * that depth: the part of a stack below the leaf usually is the same,
 * give or take a frame or two. */
static __always_inline bool memo_find(const struct user_unwind_state *st, __u32 n, __u64 pc,
				      __u64 *rule)
{
	const struct proc_frame_memo *m = st->memo_last;

	if (!m)
		return false;
	return memo_hit(&m[n & (PROFILE_PROC_MEMO - 1)], pc, rule) ||
	       memo_hit(&m[(n + 1) & (PROFILE_PROC_MEMO - 1)], pc, rule) ||
	       memo_hit(&m[(n - 1) & (PROFILE_PROC_MEMO - 1)], pc, rule) ||
	       memo_hit(&m[(n + 2) & (PROFILE_PROC_MEMO - 1)], pc, rule) ||
	       memo_hit(&m[(n - 2) & (PROFILE_PROC_MEMO - 1)], pc, rule);
}

/* Notes the rule of the frame at depth n in the next memo. */
static __always_inline void memo_put(const struct user_unwind_state *st, __u32 n, __u64 pc,
				     __u64 rule)
{
	struct proc_frame_memo *e;

	if (!st->memo_next || n >= PROFILE_PROC_MEMO)
		return;
	e = &st->memo_next[n & (PROFILE_PROC_MEMO - 1)];
	e->pc = pc;
	e->rule = (rule & ~(0xffull << 56)) | memo_check(pc) << 56;
}

static long unwind_frame(__u32 index, void *ctx)
{
	struct user_unwind_state *st = ctx;
	const struct proc_map_entry *m;
	const struct unwind_rule *r;
	struct frame_cache_slot *slot = NULL;
	struct stack_trace *out = st->out;
	struct frame_rule fr;
	__u32 rule_id, key, n;
	__u64 lookup_pc, vaddr, ck = 0, h = 0, w;

	(void)index;
	if (!st->pc) {
		st->done = true;
		return 1;
	}
	if (!out)
		return 1;
	n = out->len;
	if (n >= PROFILE_MAX_DEPTH) {
		st->stop = PROFILE_STAT_UNWIND_TRUNCATED;
		return 1;
	}
	out->ips[n] = st->pc;
	out->len = n + 1;

	lookup_pc = st->caller ? st->pc - 1 : st->pc;
	if (memo_find(st, n, lookup_pc, &w)) {
		memo_put(st, n, lookup_pc, w);
		frame_rule_unpack(w, &fr);
		return dwarf_step(st, &fr) ? 0 : 1;
	}
	m = st->maps ? find_mapping(st->maps, lookup_pc) : NULL;
	if (!m && (n == 0 || st->reliable))
		st->uncovered = true;
	if (!m || !m->table_id) {
		/* JIT, anonymous or table-less code: frame pointers */
		st->used_fp = true;
		return fp_step(st) ? 0 : 1;
	}
	vaddr = lookup_pc - m->bias;
	if (vaddr < (1ull << FRAME_CACHE_VADDR_BITS) &&
	    m->table_id < (1u << (64 - FRAME_CACHE_VADDR_BITS))) {
		ck = (__u64)m->table_id << FRAME_CACHE_VADDR_BITS | vaddr;
		h = frame_cache_hash(ck);
		key = h >> (64 - FRAME_CACHE_LOG2);
		slot = bpf_map_lookup_elem(&frame_cache, &key);
		if (slot) {
			w = slot->rule;

			if (slot->key == ck &&
			    w >> 56 == ((h >> (56 - FRAME_CACHE_LOG2)) & 0xff)) {
				memo_put(st, n, lookup_pc, w);
				frame_rule_unpack(w, &fr);
				return dwarf_step(st, &fr) ? 0 : 1;
			}
		}
	}
	rule_id = find_rule(m->table_id, vaddr);
	if (rule_id == RULE_TABLE_GONE || rule_id == UNWIND_RULE_NONE) {
		/* an evicted table: the process's tables need reloading, as
		 * for code mapped since they were loaded */
		if (rule_id == RULE_TABLE_GONE && (n == 0 || st->reliable))
			st->uncovered = true;
		st->used_fp = true;
		return fp_step(st) ? 0 : 1;
	}
	key = rule_id;
	r = bpf_map_lookup_elem(&unwind_rules, &key);
	if (!r) {
		st->stop = PROFILE_STAT_UNWIND_UNSUPPORTED;
		return 1;
	}
	if (frame_rule_packs(r)) {
		w = frame_rule_pack(r, (h >> (56 - FRAME_CACHE_LOG2)) & 0xff);
		memo_put(st, n, lookup_pc, w);
		if (slot) {
			/* the key last: a reader matching it finds a complete
			 * rule, unless another CPU writes the slot at once
			 * (check bits) */
			*(volatile __u64 *)&slot->rule = w;
			*(volatile __u64 *)&slot->key = ck;
		}
	}
	fr.cfa_offset = r->cfa_offset;
	fr.rbp_offset = r->rbp_offset;
	fr.cfa_kind = r->cfa_kind;
	fr.rbp_kind = r->rbp_kind;
	fr.plt_threshold = r->plt_threshold;
	return dwarf_step(st, &fr) ? 0 : 1;
}

/* Copies the top of the user stack at sp into buf, at most max bytes (a
 * constant). The main thread's frames end below mm->start_stack (top:
 * where argc lies; user space reads it from /proc/PID/stat), so its copy
 * stops there (a read past the end of the stack mapping would fail
 * whole). Other threads copy max bytes, or, when that runs past the end
 * of their stack mapping, to the end of rsp's page and the next (when max
 * holds both), or to the end of rsp's page (always mapped). Returns the
 * bytes copied, 0 if none. Also used by profile.bpf.c (defer_sample). */
static __always_inline __u64 copy_user_top(void *buf, __u64 max, __u64 sp, __u64 top)
{
	__u64 len = max;

	if (top > sp && top - sp < max - 16)
		len = (top - sp + 16) & ~7ull;
	if (len > max)
		len = max;
	if (!bpf_probe_read_user(buf, len, (const void *)sp))
		return len;
	len = 4096 - (sp & 4095); /* the rest of rsp's page */
	if (len + 4096 <= max && !bpf_probe_read_user(buf, len + 4096, (const void *)sp))
		return len + 4096;
	if (len <= max && !bpf_probe_read_user(buf, len, (const void *)sp))
		return len;
	return 0;
}

/* Copies the top of the stack into the window (copy_user_top). */
static __always_inline void copy_stack(struct user_unwind_state *st, __u64 top)
{
	__u32 zero = 0;
	struct stack_window *w;
	__u64 len;

	w = bpf_map_lookup_elem(&stack_window, &zero);
	if (!w)
		return;
	len = copy_user_top(w->bytes, UNWIND_STACK_WINDOW, st->sp, top);
	if (!len)
		return;
	st->win = w;
	st->win_base = st->sp;
	st->win_len = len;
}

/* Unwinds the user stack of the current sample with the tables of its
 * process into out. False when the process has no tables loaded (yet):
 * the caller falls back to frame pointers. */
static __always_inline bool unwind_user(void *ctx, __u64 cs,
					const struct sample_key *key, struct stack_trace *out,
					__u32 *key_flags, bool *defer)
{
	struct proc_unwind_key pk = { .tgid = key->tgid, .image = key->image };
	struct user_unwind_state st = {};
	struct proc_unwind *pm;
	struct user_regs regs;
	__u32 cur;

	pm = bpf_map_lookup_elem(&proc_unwind, &pk);
	if (!pm) {
		if (defer)
			*defer = true;
		return false;
	}
	/* fetched here rather than once in record() for this and the
	 * frame-pointer path: a copy of them live across bpf_loop took the
	 * verifier past its million-instruction budget */
	if (!get_user_regs(ctx, cs, &regs))
		return false;
	st.pc = regs.ip;
	st.sp = regs.sp;
	st.bp = regs.bp;
	out->len = 0;
	st.out = out;
	st.maps = pm;
	/* read one memo, write the other: a walk never overwrites entries
	 * its own deeper frames may look up (the stack may have grown by a
	 * frame); two CPUs walking the same process at once at worst make
	 * each other miss */
	cur = pm->memo_cur & 1;
	st.memo_last = pm->memo[cur];
	st.memo_next = pm->memo[cur ^ 1];
	copy_stack(&st, pm->stack_top);
	bpf_loop(PROFILE_MAX_DEPTH, unwind_frame, &st, 0);
	pm->memo_cur = cur ^ 1;
	/* user space reloads the process's mappings (rate-limited there) */
	if (st.uncovered)
		emit_event(PROFILE_EVENT_UNCOVERED, key->tgid, key->image, 0, 0);
	if (st.done)
		stat_inc(st.used_fp ? PROFILE_STAT_UNWIND_MIXED : PROFILE_STAT_UNWIND_COMPLETE);
	else if (st.stop)
		stat_inc(st.stop);
	else
		stat_inc(PROFILE_STAT_UNWIND_TRUNCATED);
	if (!st.done && st.stop != PROFILE_STAT_UNWIND_FP_END)
		*key_flags |= SAMPLE_F_USTACK_TRUNCATED;
	if (defer && (st.uncovered || !st.done))
		*defer = true;
	return out->len > 0;
}

#endif
