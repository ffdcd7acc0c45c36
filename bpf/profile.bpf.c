// SPDX-License-Identifier: GPL-2.0
/* CPU sampler: runs on a cpu-clock perf_event on every CPU, records the
 * user stack (frame pointers, through bpf_get_stack) and the kernel stack,
 * and counts samples per (process, thread, stacks) in the kernel.
 *
 * Off-CPU sampler (when loaded): on sched_switch, takes the stacks of the
 * thread leaving the CPU the same way (it is still the current task
 * there) and notes when it left; when the thread is switched back in, the
 * time it was away goes to an off-CPU bucket of the same key.
 *
 * Two generations of maps: the program writes the generation named by
 * `generation`; user space flips it, waits for an RCU grace period (every
 * run of this program is inside an RCU read-side section) and then drains
 * the idle generation with batch operations, so nothing is lost or
 * double-counted while reading. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "errno.bpf.h"
#include "profile.h"
#include "regs.bpf.h"
#include "report.bpf.h"
#include "unwind.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* Set before load. */
const volatile __u32 target_tgid = 0; /* 0: every process */
const volatile bool want_user = true;
const volatile bool want_kernel = true;
/* DWARF unwinding (needs bpf_loop, 5.17+). False: the verifier drops the
 * unwinder as dead code, so the program loads on older kernels. */
const volatile bool dwarf_unwinding = false;
/* Off-CPU (handle_switch; not loaded when off): a switch-out is recorded
 * when bpf_get_prandom_u32() < offcpu_threshold (UINT32_MAX: every one,
 * without drawing), and a recorded one counts when the thread was away
 * at least offcpu_min_ns. The agent's own threads (self_tgid) are left
 * out: they wait for the next drain most of the time. */
const volatile bool offcpu = false;
const volatile __u32 offcpu_threshold = 0xffffffffu;
const volatile __u64 offcpu_min_ns = 0;
const volatile __u32 self_tgid = 0;

/* Flipped by user space between drains. */
__u32 generation = 0;

/* max_entries of the hash maps are set at run time from the number of
 * CPUs and the frequency; BPF_F_NO_PREALLOC so kernel memory follows the
 * number of distinct stacks actually seen. */
#define COUNTS_MAP(name)                                                      \
	struct {                                                              \
		__uint(type, BPF_MAP_TYPE_HASH);                              \
		__uint(max_entries, 16384);                                   \
		__uint(map_flags, BPF_F_NO_PREALLOC);                         \
		__type(key, struct sample_key);                               \
		__type(value, __u64);                                         \
	} name SEC(".maps")

#define STACKS_MAP(name)                                                      \
	struct {                                                              \
		__uint(type, BPF_MAP_TYPE_HASH);                              \
		__uint(max_entries, 16384);                                   \
		__uint(map_flags, BPF_F_NO_PREALLOC);                         \
		__type(key, __u64);                                           \
		__type(value, struct stack_trace);                            \
	} name SEC(".maps")

#define OFFCPU_COUNTS_MAP(name)                                               \
	struct {                                                              \
		__uint(type, BPF_MAP_TYPE_HASH);                              \
		__uint(max_entries, 16384);                                   \
		__uint(map_flags, BPF_F_NO_PREALLOC);                         \
		__type(key, struct sample_key);                               \
		__type(value, struct offcpu_value);                           \
	} name SEC(".maps")

COUNTS_MAP(counts0);
COUNTS_MAP(counts1);
STACKS_MAP(stacks0);
STACKS_MAP(stacks1);
OFFCPU_COUNTS_MAP(offcpu_counts0);
OFFCPU_COUNTS_MAP(offcpu_counts1);

/* Scratch space for the two stacks of a sample: too big for the 512-byte
 * BPF stack. */
struct sample_stacks {
	struct stack_trace user, kernel;
};

/* A thread off the CPU since start_ns, whose switch-out was recorded:
 * its bucket's key (stack hashes included) and the stacks themselves,
 * which go to the stacks map of the generation its switch-in falls in
 * (the one its switch-out fell in may have been drained since). */
struct offcpu_thread {
	__u64 start_ns;
	struct sample_key key;
	struct sample_stacks stacks;
};

/* A thread's pending switch-out, in the thread's own storage (hung off
 * its task_struct): the lookup every switch-in makes is a pointer load,
 * not a hash of a global table, and the kernel frees what an exiting
 * thread still holds. An entry lives from a recorded switch-out to the
 * thread's switch-in (or its exit), so it exists only for the sampled
 * threads that are off the CPU now. Task storage has no max_entries:
 * offcpu_pending counts the entries (the agent's metric) and a
 * switch-out that finds offcpu_max_threads of them is counted and not
 * recorded (a bound up to one entry per CPU loose: the count is not
 * taken under a lock). */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct offcpu_thread);
} offcpu_threads SEC(".maps");
const volatile __s64 offcpu_max_threads = 16384;
__s64 offcpu_pending = 0;

/* Drops t's pending switch-out, if any. */
static __always_inline void forget_thread(struct task_struct *t)
{
	if (!bpf_task_storage_delete(&offcpu_threads, t))
		__sync_fetch_and_add(&offcpu_pending, -1);
}

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sample_stacks);
} scratch SEC(".maps");

/* tgid -> image of the processes user space has been told about (every
 * exec enters it), and since when the image runs (its exec, else its
 * process's start): a young image's samples that its tables do not cover
 * yet are sent to user space whole (defer_sample). LRU: a process
 * evicted here is simply announced again. Only looked at at exec, exit,
 * when a sample opens a new bucket and when one is deferred, never on
 * the common path. */
struct known_image {
	__u32 image;
	__u32 pad;
	__u64 since_ns; /* bpf_ktime_get_ns() clock */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 32768);
	__type(key, __u32);
	__type(value, struct known_image);
} known SEC(".maps");

/* Samples of a young image whose user stack the tables could not walk
 * whole (no mapping table yet, a pc outside it, an incomplete walk):
 * registers, kernel stack and a copy of the top of the user stack, for
 * user space to unwind once the tables are in (bpf/unwinder_walk.c).
 * Sent instead of counted; when the ring is full the sample is counted
 * as it is (PROFILE_STAT_DEFER_FULL). 4 MiB: about 400 samples. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 * 1024 * 1024);
} deferred SEC(".maps");

/* tgid -> image of processes relabeling dropped (labels/proclabels.c):
 * their samples cost one lookup and nothing after. Keyed by tgid with the
 * image as value, so an exec'd process is sampled again until user space
 * decides on its new image. Looked up only while ndropped != 0, so an
 * agent without drop rules pays nothing. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* empty without drop rules */
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u32);
} dropped SEC(".maps");
__u32 ndropped = 0;

/* Updating an element of a map-in-map from the bpf() syscall makes the
 * kernel wait for an RCU grace period before returning: user space uses
 * that as "every program run that could have seen the old generation has
 * finished". Never read by the programs. */
struct rcu_sync_inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} rcu_sync_inner SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct rcu_sync_inner);
} rcu_sync SEC(".maps") = {
	.values = { [0] = &rcu_sync_inner },
};

/* FNV-1a over the frames, with a final mix; never returns 0 (0 means "no
 * stack" in sample_key). */
static __always_inline __u64 stack_hash(const struct stack_trace *st)
{
	__u64 h = 0xcbf29ce484222325ull;

	for (__u32 i = 0; i < PROFILE_MAX_DEPTH; i++) {
		if (i >= st->len)
			break;
		h ^= st->ips[i];
		h *= 0x100000001b3ull;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h ? h : 1;
}

/* Stores a stack under its hash in the generation's stacks map; returns
 * the hash, or 0 when it could not be stored (counted). */
static __always_inline __u64 store_stack(void *stacks, __u64 h, struct stack_trace *st)
{
	struct stack_trace *old;
	long err;

	old = bpf_map_lookup_elem(stacks, &h);
	if (old) {
		/* Same hash: cheap plausibility check instead of a full
		 * compare, enough to count real collisions of a 64-bit hash. */
		if (old->len != st->len || old->ips[0] != st->ips[0]) {
			stat_inc(PROFILE_STAT_STACK_COLLISION);
			return 0;
		}
		return h;
	}
	err = bpf_map_update_elem(stacks, &h, st, BPF_NOEXIST);
	if (err && err != -EEXIST /* raced with another CPU */) {
		stat_inc(PROFILE_STAT_STACKS_FULL);
		return 0;
	}
	return h;
}

/* Adds one to an existing bucket: the common case, one map lookup. */
static __always_inline bool count_existing(void *counts, struct sample_key *key)
{
	__u64 *n = bpf_map_lookup_elem(counts, key);

	if (!n)
		return false;
	__sync_fetch_and_add(n, 1);
	return true;
}

/* A stable 32-bit name for an address space: the mm pointer, mixed. A new
 * mm is allocated before exec frees the old one, so they never share it. */
static __always_inline __u32 mm_image(__u64 mm)
{
	mm ^= mm >> 31;
	mm *= 0x9e3779b97f4a7c15ull;
	mm ^= mm >> 29;
	return (__u32)mm | 1; /* 0 is "none" in events */
}

static __always_inline __u32 image_of(struct task_struct *task)
{
	return mm_image((__u64)BPF_CORE_READ(task, mm));
}

#define PF_KTHREAD 0x00200000 /* include/linux/sched.h */

/* The image a sample belongs to. A process past exit_mm (its last
 * moments in do_exit) has no mm left: its samples stay with the image
 * user space knows it by, not a new image no read can name. */
static __always_inline __u32 sample_image(struct task_struct *task, __u32 tgid)
{
	__u64 mm = (__u64)BPF_CORE_READ(task, mm);
	struct known_image *k;

	/* every sample reads mm once; only an mm-less one reads more */
	if (mm || (BPF_CORE_READ(task, flags) & PF_KTHREAD))
		return mm_image(mm);
	k = bpf_map_lookup_elem(&known, &tgid);
	return k ? k->image : mm_image(0);
}

/* Tells user space about a process (or a new image of it) the first time
 * one of its samples opens a bucket. */
static __always_inline void announce(__u32 tgid, __u32 image)
{
	struct known_image *k = bpf_map_lookup_elem(&known, &tgid), v = { .image = image };
	struct task_struct *task = bpf_get_current_task_btf();
	__u32 old = 0;

	if (k) {
		if (k->image == image)
			return;
		old = k->image;
	}
	v.since_ns = BPF_CORE_READ(task, group_leader, start_time);
	if (bpf_map_update_elem(&known, &tgid, &v, BPF_ANY))
		stat_inc(PROFILE_STAT_KNOWN_FULL);
	emit_event(PROFILE_EVENT_NEW_PROCESS, tgid, image, old, BPF_CORE_READ(task, mm, start_stack));
}

static __always_inline void count_new(void *counts, struct sample_key *key)
{
	__u64 one = 1;
	long err = bpf_map_update_elem(counts, key, &one, BPF_NOEXIST);

	if (!err || (err == -EEXIST /* raced */ && count_existing(counts, key)))
		return;
	stat_inc(PROFILE_STAT_COUNTS_FULL);
}

static __always_inline int get_stack(void *ctx, struct stack_trace *st, __u64 flags,
				     __u32 err_stat, __u32 *key_flags, __u32 trunc_flag)
{
	long n = bpf_get_stack(ctx, st->ips, sizeof(st->ips), flags);

	if (n < 0) {
		/* -EFAULT for kernel threads asked for a user stack is normal */
		st->len = 0;
		if (n != -EFAULT)
			stat_inc(err_stat);
		return 0;
	}
	st->len = n / sizeof(__u64);
	if (st->len >= PROFILE_MAX_DEPTH)
		*key_flags |= trunc_flag;
	return st->len;
}

/* Code built without frame pointers uses rbp as an ordinary register: a
 * frame-pointer walk from it reads random memory (cold, often unmapped)
 * and records garbage frames. When rbp cannot be a frame pointer of the
 * interrupted user code (not 8-aligned, below rsp, or further above it
 * than any stack), the stack is just the leaf. */
#define MAX_FRAME_DISTANCE (8ull << 20)

static __always_inline bool leaf_only_stack(void *ctx, __u64 cs, struct stack_trace *st)
{
	struct user_regs regs;

	if (!get_user_regs(ctx, cs, &regs))
		return false;
	if (!(regs.bp & 7) && regs.bp >= regs.sp && regs.bp - regs.sp < MAX_FRAME_DISTANCE)
		return false;
	st->ips[0] = regs.ip;
	st->len = 1;
	return true;
}

/* Takes the current task's stacks into ss and their hashes into key
 * (left 0 when there is none): the user stack by the DWARF tables, else
 * by frame pointers; the kernel stack unless cs, the mode a perf_event
 * sample interrupted, is user mode (the sched_switch program passes 0:
 * it runs in the kernel). */
static __always_inline void capture_stacks(void *ctx, __u64 cs, struct sample_key *key,
					   struct sample_stacks *ss, bool *defer)
{
	if (want_user &&
	    ((dwarf_unwinding && unwind_user(ctx, cs, key, &ss->user, &key->flags, defer)) ||
	     leaf_only_stack(ctx, cs, &ss->user) ||
	     get_stack(ctx, &ss->user, BPF_F_USER_STACK, PROFILE_STAT_USTACK_ERROR,
		       &key->flags, SAMPLE_F_USTACK_TRUNCATED)))
		key->ustack = stack_hash(&ss->user);
	if (want_kernel && !(cs & 3) &&
	    get_stack(ctx, &ss->kernel, 0, PROFILE_STAT_KSTACK_ERROR,
		      &key->flags, SAMPLE_F_KSTACK_TRUNCATED))
		key->kstack = stack_hash(&ss->kernel);
}

/* Stores the stacks of a new bucket in the generation's stacks map; a
 * hash whose stack could not be stored becomes 0 (counted). */
static __always_inline void store_stacks(void *stacks, struct sample_key *key,
					 struct sample_stacks *ss)
{
	if (key->ustack)
		key->ustack = store_stack(stacks, key->ustack, &ss->user);
	if (key->kstack)
		key->kstack = store_stack(stacks, key->kstack, &ss->kernel);
}

/* An image this young gets its samples unwound in user space when its
 * tables cannot walk them yet: user space reads a new process within
 * milliseconds of its exec, and a short-lived one lives little longer.
 * Past it, an incomplete stack stays as the walk left it. */
#define DEFER_YOUNG_NS 2000000000ull

/* Sends the sample to user space whole (the deferred ring) if its image
 * is young: true when sent (it is not counted here). */
static __always_inline bool defer_sample(void *ctx, __u64 cs, struct sample_key *key,
					 struct sample_stacks *ss)
{
	struct known_image *k = bpf_map_lookup_elem(&known, &key->tgid);
	struct deferred_sample *d;
	struct user_regs regs;
	__u32 klen;

	if (!k || k->image != key->image || bpf_ktime_get_ns() - k->since_ns > DEFER_YOUNG_NS)
		return false;
	if (!get_user_regs(ctx, cs, &regs))
		return false;
	d = bpf_ringbuf_reserve(&deferred, sizeof(*d), 0);
	if (!d) {
		stat_inc(PROFILE_STAT_DEFER_FULL);
		return false;
	}
	d->key = *key;
	d->key.ustack = 0;
	d->key.kstack = 0;
	d->ip = regs.ip;
	d->sp = regs.sp;
	d->bp = regs.bp;
	klen = key->kstack ? ss->kernel.len : 0;
	if (klen > PROFILE_MAX_DEPTH)
		klen = PROFILE_MAX_DEPTH;
	d->klen = klen;
	if (klen && bpf_probe_read_kernel(d->kips, sizeof(d->kips), ss->kernel.ips))
		d->klen = 0;
	/* the main thread's copy only up to its frames' end: a young
	 * process's stack is shallow, a read past its mapping fails whole */
	d->stack_len = copy_user_top(d->stack, DEFER_STACK_BYTES, regs.sp,
				     BPF_CORE_READ(bpf_get_current_task_btf(), mm, start_stack));
	bpf_ringbuf_submit(d, 0);
	stat_inc(PROFILE_STAT_DEFERRED);
	return true;
}

/* A bucket already counted in this generation has its stacks stored with
 * it, so the usual sample costs one lookup; the stacks maps are only
 * touched for a new bucket. */
static __always_inline void record(struct bpf_perf_event_data *ctx, void *counts, void *stacks,
				   struct sample_key *key)
{
	__u32 zero = 0;
	struct sample_stacks *ss;
	bool defer = false;
	__u64 cs;

	ss = bpf_map_lookup_elem(&scratch, &zero);
	if (!ss)
		return;
	/* The mode the sample interrupted: user mode has no kernel stack, so
	 * the kernel-stack call (and the buffer it would clear) is skipped.
	 * The context only allows full-width loads of registers, hence
	 * volatile (clang would narrow "cs & 3" to a 2-byte load). */
	cs = *(volatile __u64 *)&ctx->regs.cs;
	capture_stacks(ctx, cs, key, ss, &defer);
	if (defer && defer_sample(ctx, cs, key, ss))
		return;
	if (count_existing(counts, key))
		return;
	announce(key->tgid, key->image);
	store_stacks(stacks, key, ss);
	count_new(counts, key);
}

SEC("perf_event")
int profile_sample(struct bpf_perf_event_data *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct sample_key key = {};
	__u32 tgid = id >> 32;

	if (tgid == 0) {
		stat_inc(PROFILE_STAT_IDLE);
		return 0;
	}
	if (target_tgid && tgid != target_tgid) {
		stat_inc(PROFILE_STAT_FILTERED);
		return 0;
	}
	key.tgid = tgid;
	key.tid = (__u32)id;
	key.image = sample_image((struct task_struct *)bpf_get_current_task(), tgid);
	if (ndropped) {
		__u32 *img = bpf_map_lookup_elem(&dropped, &tgid);

		if (img && *img == key.image) {
			stat_inc(PROFILE_STAT_DROPPED);
			return 0;
		}
	}

	/* The process name comes from user space (read with the process's
	 * snapshot): reading the group leader's task here would cost a cold
	 * cache line on every sample. */
	bpf_get_current_comm(key.thread_comm, sizeof(key.thread_comm));

	if (generation & 1)
		record(ctx, &counts1, &stacks1, &key);
	else
		record(ctx, &counts0, &stacks0, &key);
	return 0;
}

/* Every exec is announced, not only those of processes already sampled:
 * user space reads the new image (the program and ld.so) and writes its
 * mapping table before its first sample, so even a process that lives a
 * few milliseconds is unwound by tables from the start. After exec the
 * old mappings are gone: the samples of the new image get their own
 * snapshot in user space. */
SEC("raw_tp/sched_process_exec")
int BPF_PROG(profile_exec, struct task_struct *p)
{
	__u32 tgid = BPF_CORE_READ(p, tgid), image = image_of(p), old = 0;
	struct known_image *k, v = { .image = image, .since_ns = bpf_ktime_get_ns() };

	if (target_tgid && tgid != target_tgid)
		return 0;
	k = bpf_map_lookup_elem(&known, &tgid);
	if (k) {
		old = k->image;
		*k = v;
	} else if (bpf_map_update_elem(&known, &tgid, &v, BPF_ANY)) {
		stat_inc(PROFILE_STAT_KNOWN_FULL);
	}
	emit_event(PROFILE_EVENT_EXEC, tgid, image, old, BPF_CORE_READ(p, mm, start_stack));
	return 0;
}

/* The process exits when its last thread does (do_exit counts
 * signal->live down before this tracepoint), not when its first thread
 * does: a main thread that leaves by pthread_exit leaves the others
 * running. Two threads exiting at once may both see 0: user space takes
 * the second event as a repeat. The process is left in known: it still
 * runs after this point (do_exit closes its files and runs its task work
 * later) and its last samples, without an mm, take its image from there
 * (sample_image); the LRU makes room. */
SEC("raw_tp/sched_process_exit")
int BPF_PROG(profile_exit, struct task_struct *p)
{
	__u32 tgid = BPF_CORE_READ(p, tgid);
	struct known_image *k;

	if (BPF_CORE_READ(p, signal, live.counter) != 0)
		return 0; /* other threads live on */
	k = bpf_map_lookup_elem(&known, &tgid);
	if (!k)
		return 0;
	emit_event(PROFILE_EVENT_EXIT, tgid, k->image, 0, 0);
	return 0;
}

/* ---- off-CPU ------------------------------------------------------------ */

/* task_struct.state before Linux 5.14 (renamed __state by commit
 * 2f064a59a11f, "sched: Change task_struct::state"). */
struct task_struct___pre514 {
	long state;
} __attribute__((preserve_access_index));

#define TASK_DEAD_STATE 0x80 /* TASK_DEAD: its last switch, it never runs again */

/* A direct load (tp_btf hands out a trusted task pointer): every switch
 * reads it, and a probe read would be a helper call each time. */
static __always_inline unsigned int task_state(struct task_struct *t)
{
	if (bpf_core_field_exists(t->__state))
		return t->__state;
	return (unsigned int)((struct task_struct___pre514 *)t)->state;
}

/* The current task leaves the CPU: note when, and its stacks, unless the
 * sampling skips this switch. prev is the current task. */
static __always_inline void switch_out(void *ctx, struct task_struct *prev, bool preempt)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, image, *img;
	struct offcpu_thread *t;
	unsigned int state;

	if (!tgid || tgid == self_tgid || (target_tgid && tgid != target_tgid))
		return;
	state = task_state(prev);
	if (state & TASK_DEAD_STATE)
		return;
	if (offcpu_threshold != 0xffffffffu && bpf_get_prandom_u32() >= offcpu_threshold) {
		stat_inc(PROFILE_STAT_OFFCPU_SAMPLED_OUT);
		return;
	}
	image = sample_image(prev, tgid);
	if (ndropped) {
		img = bpf_map_lookup_elem(&dropped, &tgid);
		if (img && *img == image)
			return;
	}
	if (offcpu_pending >= offcpu_max_threads) {
		stat_inc(PROFILE_STAT_OFFCPU_THREADS_FULL);
		return;
	}
	t = bpf_task_storage_get(&offcpu_threads, prev, NULL, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!t) { /* no memory, or the storage was busy on this CPU */
		stat_inc(PROFILE_STAT_OFFCPU_THREADS_FULL);
		return;
	}
	/* 0: new (zeroed by the kernel); else a stale entry, replaced */
	if (!t->start_ns)
		__sync_fetch_and_add(&offcpu_pending, 1);
	__builtin_memset(&t->key, 0, sizeof(t->key));
	t->key.tgid = tgid;
	t->key.tid = (__u32)id;
	t->key.image = image;
	/* runnable when it left: it waits for a CPU, not for an event */
	if (preempt || state == 0 /* TASK_RUNNING */)
		t->key.flags = SAMPLE_F_PREEMPTED;
	bpf_get_current_comm(t->key.thread_comm, sizeof(t->key.thread_comm));
	/* announced here, where the process is the current task: its bucket
	 * is opened at the switch-in, in another task's context */
	announce(tgid, image);
	capture_stacks(ctx, 0, &t->key, &t->stacks, NULL);
	t->start_ns = bpf_ktime_get_ns() | 1; /* never 0: 0 means free */
	stat_inc(PROFILE_STAT_OFFCPU_RECORDED);
}

/* Adds ns of off-CPU time to the bucket of t's key; a new bucket stores
 * its stacks first. */
static __always_inline void count_offcpu(void *counts, void *stacks, struct offcpu_thread *t,
					 __u64 ns)
{
	struct offcpu_value *v = bpf_map_lookup_elem(counts, &t->key), first = { 1, ns };
	long err;

	if (v) {
		__sync_fetch_and_add(&v->count, 1);
		__sync_fetch_and_add(&v->ns, ns);
		return;
	}
	store_stacks(stacks, &t->key, &t->stacks);
	err = bpf_map_update_elem(counts, &t->key, &first, BPF_NOEXIST);
	if (err == -EEXIST) { /* raced with another CPU */
		v = bpf_map_lookup_elem(counts, &t->key);
		if (v) {
			__sync_fetch_and_add(&v->count, 1);
			__sync_fetch_and_add(&v->ns, ns);
			return;
		}
	}
	if (err)
		stat_inc(PROFILE_STAT_OFFCPU_COUNTS_FULL);
}

/* next comes back on the CPU: the time since its recorded switch-out
 * goes to its bucket. */
static __always_inline void switch_in(struct task_struct *next)
{
	struct offcpu_thread *t = bpf_task_storage_get(&offcpu_threads, next, NULL, 0);
	__u64 ns;

	if (!t)
		return;
	ns = bpf_ktime_get_ns() - t->start_ns;
	if (ns < offcpu_min_ns)
		stat_inc(PROFILE_STAT_OFFCPU_SHORT);
	else if (generation & 1)
		count_offcpu(&offcpu_counts1, &stacks1, t, ns);
	else
		count_offcpu(&offcpu_counts0, &stacks0, t, ns);
	/* after its last use: the storage is freed once no program can
	 * see it (RCU) */
	forget_thread(next);
}

/* A thread that exits never comes back on a CPU: its entry, if a
 * switch-in was somehow missed, goes (the kernel would free it, but not
 * uncount it). Loaded with handle_switch. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(offcpu_exit, struct task_struct *p)
{
	forget_thread(p);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(handle_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	switch_in(next);
	switch_out(ctx, prev, preempt);
	return 0;
}
