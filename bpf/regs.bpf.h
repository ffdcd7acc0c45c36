/* regs.bpf.h: the user registers of the current task, which both user
 * stack paths start from (the DWARF unwinder, bpf/unwind.bpf.h, and the
 * frame-pointer check of profile.bpf.c):
 *
 *   get_user_regs(ctx, cs, &regs)   true and regs, or false when the task
 *        has no user registers (a kernel thread); ctx is a perf_event
 *        sample's context, read only when cs says it interrupted user
 *        mode: the sched_switch program, always in the kernel, passes
 *        cs = 0, which drops that branch at compile time
 */
#ifndef BRASA_BPF_REGS_BPF_H
#define BRASA_BPF_REGS_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct user_regs {
	__u64 ip, sp, bp;
};

/* ctx->regs are the registers at the sample: the user code's when it
 * interrupted user mode (privilege level 3 in cs, which the caller has
 * read), the kernel's otherwise. The user registers of a sample taken in
 * the kernel are the ones saved at kernel entry, at the top of the task's
 * kernel stack (bpf_task_pt_regs). That second source is right in every
 * mode (from user mode it is the very frame ctx->regs points to) but
 * costs a helper call and three probe reads, so the common user-mode
 * sample reads the context. It allows only full-width loads of registers,
 * hence volatile. */
static __always_inline bool get_user_regs(void *ctx, __u64 cs, struct user_regs *r)
{
	struct bpf_perf_event_data *pe = ctx;
	struct pt_regs *regs;

	if (cs & 3) {
		r->bp = *(volatile __u64 *)&pe->regs.bp;
		r->sp = *(volatile __u64 *)&pe->regs.sp;
		r->ip = *(volatile __u64 *)&pe->regs.ip;
		return true;
	}
	regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	if (!regs)
		return false;
	r->bp = BPF_CORE_READ(regs, bp);
	r->sp = BPF_CORE_READ(regs, sp);
	r->ip = BPF_CORE_READ(regs, ip);
	return r->ip != 0; /* 0: a kernel thread, no user stack at all */
}

#endif
