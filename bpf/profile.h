/* profile: the layout shared by the BPF programs (bpf/profile.bpf.c,
 * bpf/unwind.bpf.h) and user space (bpf/sampler.c, bpf/unwinder.c, and
 * unwind/, which builds the unwind tables): map keys and values, ring
 * buffer events, stat indexes. Fixed-width types only, no pointers, no
 * vmlinux.h: it compiles as is on both sides, and the sizes asserted at
 * the end make a layout change that would break one side fail to build.
 */
#ifndef BRASA_BPF_PROFILE_H
#define BRASA_BPF_PROFILE_H

#ifndef __VMLINUX_H__ /* user space; the BPF side gets these from vmlinux.h */
#include <linux/types.h>
#endif

/* Samples: the counts and stacks maps (CPU and off-CPU), the events ring
 * buffer and the stats, drained by bpf/sampler.c. */
#define PROFILE_MAX_DEPTH 127
#define PROFILE_COMM_LEN 16

/* One aggregation bucket. Stacks are referred to by their 64-bit content
 * hash in the stacks map of the same generation; 0 means "no stack" (a
 * sample taken in user mode has no kernel stack). image identifies the
 * process's address space (a hash of its mm): it changes at exec, so
 * samples taken before and after an exec resolve against the right
 * mappings. */
struct sample_key {
	__u32 tgid;
	__u32 tid;
	__u32 image;
	__u32 flags; /* SAMPLE_F_* */
	__u64 ustack;
	__u64 kstack;
	char thread_comm[PROFILE_COMM_LEN]; /* thread name */
};

#define SAMPLE_F_USTACK_TRUNCATED (1u << 0) /* user stack hit the depth limit */
#define SAMPLE_F_KSTACK_TRUNCATED (1u << 1)
/* Off-CPU buckets: the thread left the CPU runnable (preempted, or it
 * yielded); without it, it blocked (sleep, I/O, lock, wait). */
#define SAMPLE_F_PREEMPTED (1u << 2)

/* Off-CPU time (bpf/profile.bpf.c, handle_switch): the value of a bucket
 * of the offcpu_counts maps, keyed by struct sample_key like CPU samples.
 * count is the recorded switches (off-CPU intervals that ended), ns
 * their summed length; both before the sampling's scaling, which user
 * space applies (bpf/sampler.c). */
struct offcpu_value {
	__u64 count;
	__u64 ns;
};

struct stack_trace {
	__u32 len; /* frames used in ips */
	__u32 pad;
	__u64 ips[PROFILE_MAX_DEPTH];
};

enum profile_event_type {
	PROFILE_EVENT_NEW_PROCESS = 1, /* first sample of a (tgid, image) */
	PROFILE_EVENT_EXEC = 2,        /* a process exec'd (any, known or not): new image */
	PROFILE_EVENT_EXIT = 3,        /* a known process exited */
	PROFILE_EVENT_UNCOVERED = 4,   /* a real pc outside the loaded mappings
					* (a library mapped since: dlopen, ld.so),
					* or in one whose table was evicted */
};

struct profile_event {
	__u32 type;
	__u32 tgid;
	__u32 image;     /* the process's image now */
	__u32 old_image; /* EXEC, NEW_PROCESS: the image it had before, or 0 */
	__u64 start_stack; /* mm->start_stack of image (0 for EXIT): user
			    * space reads the process later, and tells by
			    * this (field 28 of /proc/PID/stat, new at every
			    * exec) whether it still runs that image */
};

/* A sample sent to user space to unwind (bpf/profile.bpf.c, defer_sample):
 * its key (stack hashes 0), its user registers, its kernel stack and the
 * top DEFER_STACK_BYTES of its user stack (perf's default for
 * --call-graph dwarf, 8 KiB). */
#define DEFER_STACK_BYTES 8192

struct deferred_sample {
	struct sample_key key;
	__u64 ip, sp, bp;   /* user registers */
	__u32 stack_len;    /* bytes of stack copied from sp */
	__u32 klen;         /* kernel frames in kips */
	__u64 kips[PROFILE_MAX_DEPTH];
	__u8 stack[DEFER_STACK_BYTES];
};

/* Per-CPU counters, indexes into the stats map. */
enum profile_stat {
	PROFILE_STAT_IDLE = 0,             /* samples of the idle task, not recorded */
	PROFILE_STAT_FILTERED,         /* samples of other processes (pid filter) */
	PROFILE_STAT_COUNTS_FULL,      /* counts map full: sample lost */
	PROFILE_STAT_STACKS_FULL,      /* stacks map full: stack lost */
	PROFILE_STAT_STACK_COLLISION,  /* two stacks with one hash: stack lost */
	PROFILE_STAT_USTACK_ERROR,     /* bpf_get_stack(user) failed */
	PROFILE_STAT_KSTACK_ERROR,     /* bpf_get_stack(kernel) failed */
	PROFILE_STAT_EVENTS_LOST,      /* ring buffer full: event lost */
	PROFILE_STAT_KNOWN_FULL,       /* known-process map full */
	/* How DWARF-unwound user stacks ended (one per sample): */
	PROFILE_STAT_UNWIND_COMPLETE,  /* reached the outermost frame by tables */
	PROFILE_STAT_UNWIND_MIXED,     /* complete, some frames by frame pointers */
	PROFILE_STAT_UNWIND_FP_END,    /* a frame-pointer step (no table) ended it */
	PROFILE_STAT_UNWIND_UNSUPPORTED, /* a rule the unwinder cannot apply */
	PROFILE_STAT_UNWIND_READ_FAULT,  /* user stack memory unreadable */
	PROFILE_STAT_UNWIND_TRUNCATED,   /* hit the depth limit */
	PROFILE_STAT_DROPPED,          /* samples of processes relabeling dropped */
	/* Off-CPU (sched_switch), one per switch-out or switch-in: */
	PROFILE_STAT_OFFCPU_RECORDED,  /* switch-outs recorded (stack taken) */
	PROFILE_STAT_OFFCPU_SAMPLED_OUT, /* switch-outs the sampling skipped */
	PROFILE_STAT_OFFCPU_THREADS_FULL, /* switch-out lost: per-thread map full */
	PROFILE_STAT_OFFCPU_SHORT,     /* switch-ins under the minimum off-CPU time */
	PROFILE_STAT_OFFCPU_COUNTS_FULL, /* switch-in lost: off-CPU counts map full */
	/* Samples of young images sent to user space to unwind (deferred ring): */
	PROFILE_STAT_DEFERRED,         /* sent */
	PROFILE_STAT_DEFER_FULL,       /* ring full: counted with the stack as walked */
	PROFILE_STAT_MAX,
};

/* Per-process unwinding data, loaded by user space (bpf/unwinder.c):
 * the executable mappings of one image of a process, sorted by start.
 * Their starts are also kept apart in start[], so the search for a pc
 * reads that array alone (for at most PROFILE_PROC_MAPS_SMALL mappings,
 * all most processes have, 64 bytes) and then the one entry it found:
 * two or three cache lines a frame instead of one per search step.
 * Unused slots of both arrays have start = PROFILE_PROC_MAP_PAD, so a
 * fixed-step search needs no bound. The pad is above every user address
 * and below 2^63, which the branch-free comparison of the search relies
 * on. */
#define PROFILE_PROC_MAPS_LOG2 8
#define PROFILE_PROC_MAPS_MAX (1u << PROFILE_PROC_MAPS_LOG2)
#define PROFILE_PROC_MAPS_SMALL_LOG2 3
#define PROFILE_PROC_MAPS_SMALL (1u << PROFILE_PROC_MAPS_SMALL_LOG2)
#define PROFILE_PROC_MAP_PAD 0x7fffffffffffffffull

struct proc_unwind_key {
	__u32 tgid;
	__u32 image;
};

struct proc_map_entry {
	__u64 start, end; /* [start, end) in the process */
	__u64 bias;       /* pc - bias = ELF vaddr */
	__u32 table_id;   /* 0: no table (use frame pointers) */
	__u32 pad;
};

/* The rules of the frames of the process's last unwound stack, by depth
 * (the leaf first), written by the BPF side only (user space writes
 * zeros): consecutive samples of a process share most of their stack,
 * and its frames' rules then come from a few cache lines instead of one
 * frame cache slot each. Two copies: a walk reads one and writes the
 * other, then makes it current. */
#define PROFILE_PROC_MEMO_LOG2 5
#define PROFILE_PROC_MEMO (1u << PROFILE_PROC_MEMO_LOG2)

struct proc_frame_memo {
	__u64 pc;   /* the lookup pc: a return address - 1, or the leaf */
	__u64 rule; /* packed by the BPF side, with check bits of pc */
};

struct proc_unwind {
	__u32 count;  /* mappings used, at most PROFILE_PROC_MAPS_MAX */
	__u32 memo_cur; /* BPF: which memo holds the last stack */
	__u64 stack_top; /* mm->start_stack: the main thread's frames lie
			  * below it (0: unknown) */
	__u64 start[PROFILE_PROC_MAPS_MAX]; /* maps[i].start */
	struct proc_map_entry maps[PROFILE_PROC_MAPS_MAX];
	struct proc_frame_memo memo[2][PROFILE_PROC_MEMO];
};

/* Unwind tables (built by unwind/unwind_table.c, loaded by bpf/unwinder.c,
 * read by bpf/unwind.bpf.h).
 *
 * One unwind rule says how to get from a frame at pc to its caller on
 * x86-64:
 *
 *   CFA    = rsp + cfa_offset                (UNWIND_CFA_RSP)
 *          = rbp + cfa_offset                (UNWIND_CFA_RBP)
 *          = rsp + cfa_offset + ((rip & 15) >= plt_threshold ? 8 : 0)
 *                                            (UNWIND_CFA_PLT: lazy PLT
 *                                             entries push an index; the
 *                                             threshold is 11 for .plt,
 *                                             9 or 10 for IBT PLTs)
 *   ra     = *(CFA - 8)                      (always; anything else is
 *                                             UNWIND_CFA_UNSUPPORTED)
 *   rsp'   = CFA
 *   rbp'   = rbp                             (UNWIND_RBP_UNCHANGED)
 *          = *(CFA + rbp_offset)             (UNWIND_RBP_CFA_OFFSET)
 *
 * and the terminal kinds: UNWIND_CFA_NONE (no CFI covers pc: fall back to
 * frame pointers), UNWIND_CFA_END (return address undefined: outermost
 * frame, e.g. _start — the stack is complete), UNWIND_CFA_SIGNAL (a
 * signal trampoline such as __restore_rt: the caller's registers are in
 * the rt_sigframe's ucontext at rsp) and UNWIND_CFA_UNSUPPORTED, whose
 * `reason` says why so the BPF side can stop and count it.
 *
 * Rules are deduplicated into one system-wide table indexed by a u16
 * rule id (a few thousand distinct rules exist on a whole distribution);
 * rule id 0 is always "no CFI". Per executable, rows are (pc offset from
 * the object's lowest executable vaddr, rule id), sorted, split into
 * fixed-size chunks — see unwind/unwind_table.h for the search.
 */
enum unwind_cfa_kind {
	UNWIND_CFA_NONE = 0,
	UNWIND_CFA_RSP = 1,
	UNWIND_CFA_RBP = 2,
	UNWIND_CFA_PLT = 3,
	UNWIND_CFA_END = 4,
	UNWIND_CFA_SIGNAL = 5,
	UNWIND_CFA_UNSUPPORTED = 6,
};

/* UNWIND_CFA_SIGNAL: offsets in the rt_sigframe at the signal
 * trampoline's rsp (pretcode already popped): uc_mcontext starts 40 bytes
 * into the ucontext. */
#define SIGFRAME_BP 120
#define SIGFRAME_SP 160
#define SIGFRAME_IP 168

enum unwind_rbp_kind {
	UNWIND_RBP_UNCHANGED = 0, /* same value, or undefined at entry */
	UNWIND_RBP_CFA_OFFSET = 1,
};

/* Why a rule is UNWIND_CFA_UNSUPPORTED (0 for every other kind). */
enum unwind_reason {
	UNWIND_REASON_NONE = 0,
	UNWIND_REASON_CFA_REGISTER = 1, /* CFA based on a register other than rsp/rbp */
	UNWIND_REASON_CFA_EXPRESSION = 2, /* a DWARF expression that is not a PLT one */
	UNWIND_REASON_CFA_OFFSET = 3,	/* CFA offset does not fit s32 */
	UNWIND_REASON_RBP_RULE = 4,	/* rbp in a register or by expression */
	UNWIND_REASON_RBP_OFFSET = 5,	/* rbp slot offset does not fit s16 */
	UNWIND_REASON_RA_RULE = 6,	/* return address not at CFA-8 */
	UNWIND_REASON_CFI_ERROR = 7,	/* libdw could not evaluate the row */
	UNWIND_REASON_RULES_FULL = 8,	/* the global rule table is full */
	UNWIND_REASON_MAX,
};

/* 12 bytes, kept once per distinct rule. The CFA offset is 32 bits:
 * functions with more than 32 KiB of locals exist (glibc has one with
 * rsp+33360), and an s16 there would make them unsupported. */
struct unwind_rule {
	__s32 cfa_offset;
	__s16 rbp_offset;
	__u8 cfa_kind;	/* enum unwind_cfa_kind */
	__u8 rbp_kind;	/* enum unwind_rbp_kind */
	__u8 reason;	/* enum unwind_reason */
	__u8 plt_threshold; /* UNWIND_CFA_PLT only, else 0 */
	__u8 pad[2];	/* always 0 */
};

/* Per executable, three fixed-size kinds of BPF map values, all sorted
 * arrays searched with the same branch-free, fixed-step binary search
 * ("largest i with a[i] <= key", unused slots padded with UNWIND_PC_PAD
 * so every array can be searched at its full power-of-two size):
 *
 *   struct unwind_table_info   one per table (key: table id): the first
 *                              pc of each chunk when there are at most
 *                              UNWIND_INLINE_INDEX chunks, else the first
 *                              pc of each index page
 *   struct unwind_index_page   only for tables of more than
 *                              UNWIND_INLINE_INDEX chunks (key: table id,
 *                              page): first pc of UNWIND_INDEX_PAGE_ENTRIES
 *                              chunks each
 *   struct unwind_chunk        the rows (key: table id, chunk)
 *
 * So a frame costs 2 or 3 map lookups and 4 + (8) + 10 search steps;
 * tables up to UNWIND_INLINE_INDEX * UNWIND_INDEX_PAGE_ENTRIES *
 * UNWIND_CHUNK_ROWS rows (4 M; libLLVM has under 1 M).
 */
#define UNWIND_CHUNK_ROWS_LOG2 10
#define UNWIND_CHUNK_ROWS (1u << UNWIND_CHUNK_ROWS_LOG2)
#define UNWIND_INLINE_INDEX_LOG2 4
#define UNWIND_INLINE_INDEX (1u << UNWIND_INLINE_INDEX_LOG2)
#define UNWIND_INDEX_PAGE_LOG2 8
#define UNWIND_INDEX_PAGE_ENTRIES (1u << UNWIND_INDEX_PAGE_LOG2)
#define UNWIND_TABLE_ROWS_MAX \
	(UNWIND_INLINE_INDEX * UNWIND_INDEX_PAGE_ENTRIES * UNWIND_CHUNK_ROWS)
/* Padding of unused slots: never <= a pc offset, which is always less. */
#define UNWIND_PC_PAD 0xffffffffu
#define UNWIND_RULE_NONE 0	/* rule id of "no CFI here" */
#define UNWIND_RULE_FULL 1	/* rule id of "unsupported: rule table full" */
#define UNWIND_RULES_MAX 65536

struct unwind_table_info {
	__u64 base_vaddr;	/* ELF vaddr of pc offset 0 */
	__u32 chunk_count;
	__u32 index_pages;	/* 0 when chunk_count <= UNWIND_INLINE_INDEX */
	__u32 first_pc[UNWIND_INLINE_INDEX];
};

struct unwind_index_page {
	__u32 first_pc[UNWIND_INDEX_PAGE_ENTRIES];
};

/* Parallel arrays rather than packed {u32, u16} rows: 6 bytes a row with
 * no padding, and the search touches only pc[] until it has its index. */
struct unwind_chunk {
	__u32 pc[UNWIND_CHUNK_ROWS];	/* offsets from base_vaddr */
	__u16 rule[UNWIND_CHUNK_ROWS];	/* rule ids */
};

/* Map key of an index page or a chunk. */
struct unwind_chunk_key {
	__u32 table_id;
	__u32 index;
};

/* Both compilers (clang -target bpf, and the host's) must lay these out
 * alike: every struct that crosses a map, the ring buffer or the tables,
 * its size and the offsets that follow a change of field width. */
#define PROFILE_ASSERT_SIZE(type, size) \
	_Static_assert(sizeof(type) == (size), "layout of " #type " changed")
#define PROFILE_ASSERT_OFFSET(type, field, off)                 \
	_Static_assert(__builtin_offsetof(type, field) == (off), \
		       "layout of " #type "." #field " changed")

PROFILE_ASSERT_SIZE(struct sample_key, 48);
PROFILE_ASSERT_OFFSET(struct sample_key, ustack, 16);
PROFILE_ASSERT_OFFSET(struct sample_key, thread_comm, 32);
PROFILE_ASSERT_SIZE(struct offcpu_value, 16);
PROFILE_ASSERT_SIZE(struct deferred_sample, 48 + 32 + 8 * PROFILE_MAX_DEPTH + DEFER_STACK_BYTES);
PROFILE_ASSERT_SIZE(struct stack_trace, 8 + 8 * PROFILE_MAX_DEPTH);
PROFILE_ASSERT_OFFSET(struct stack_trace, ips, 8);
PROFILE_ASSERT_SIZE(struct profile_event, 24);
PROFILE_ASSERT_OFFSET(struct profile_event, start_stack, 16);
PROFILE_ASSERT_SIZE(struct proc_unwind_key, 8);
PROFILE_ASSERT_SIZE(struct proc_map_entry, 32);
PROFILE_ASSERT_OFFSET(struct proc_map_entry, table_id, 24);
PROFILE_ASSERT_SIZE(struct proc_frame_memo, 16);
PROFILE_ASSERT_SIZE(struct proc_unwind,
		    16 + (8 + 32) * PROFILE_PROC_MAPS_MAX + 2 * 16 * PROFILE_PROC_MEMO);
PROFILE_ASSERT_OFFSET(struct proc_unwind, stack_top, 8);
PROFILE_ASSERT_OFFSET(struct proc_unwind, start, 16);
PROFILE_ASSERT_OFFSET(struct proc_unwind, maps, 16 + 8 * PROFILE_PROC_MAPS_MAX);
PROFILE_ASSERT_OFFSET(struct proc_unwind, memo, 16 + (8 + 32) * PROFILE_PROC_MAPS_MAX);
PROFILE_ASSERT_SIZE(struct unwind_rule, 12);
PROFILE_ASSERT_OFFSET(struct unwind_rule, rbp_offset, 4);
PROFILE_ASSERT_OFFSET(struct unwind_rule, cfa_kind, 6);
PROFILE_ASSERT_OFFSET(struct unwind_rule, plt_threshold, 9);
PROFILE_ASSERT_SIZE(struct unwind_table_info, 16 + 4 * UNWIND_INLINE_INDEX);
PROFILE_ASSERT_OFFSET(struct unwind_table_info, first_pc, 16);
PROFILE_ASSERT_SIZE(struct unwind_index_page, 4 * UNWIND_INDEX_PAGE_ENTRIES);
PROFILE_ASSERT_SIZE(struct unwind_chunk, (4 + 2) * UNWIND_CHUNK_ROWS);
PROFILE_ASSERT_OFFSET(struct unwind_chunk, rule, 4 * UNWIND_CHUNK_ROWS);
PROFILE_ASSERT_SIZE(struct unwind_chunk_key, 8);

#undef PROFILE_ASSERT_SIZE
#undef PROFILE_ASSERT_OFFSET

#endif
