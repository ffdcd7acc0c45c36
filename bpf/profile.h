/* ABI between bpf/profile.bpf.c and agent/sampler.c: fixed-width types
 * only, no pointers, no vmlinux.h. */
#ifndef BRASA_BPF_PROFILE_H
#define BRASA_BPF_PROFILE_H

#ifndef __VMLINUX_H__ /* user space; the BPF side gets these from vmlinux.h */
#include <linux/types.h>
#endif

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

struct stack_trace {
	__u32 len; /* frames used in ips */
	__u32 pad;
	__u64 ips[PROFILE_MAX_DEPTH];
};

enum profile_event_type {
	PROFILE_EVENT_NEW_PROCESS = 1, /* first sample of a (tgid, image) */
	PROFILE_EVENT_EXEC = 2,        /* a known process exec'd: new image */
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
	PROFILE_STAT_MAX,
};

/* Per-process unwinding data, loaded by user space (agent/unwinder.c):
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

#endif
