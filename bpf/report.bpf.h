/* report.bpf.h: what the BPF programs tell user space besides samples,
 * used by profile.bpf.c and the unwinder (bpf/unwind.bpf.h):
 *
 *   stat_inc(idx)    one more in the per-CPU counter idx (PROFILE_STAT_*)
 *   emit_event(type, tgid, image, old_image, start_stack)
 *        a struct profile_event on the events ring buffer (a full buffer
 *        counts PROFILE_STAT_EVENTS_LOST)
 */
#ifndef BRASA_BPF_REPORT_BPF_H
#define BRASA_BPF_REPORT_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "profile.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PROFILE_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

static __always_inline void stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &idx);

	if (v)
		*v += 1; /* per-CPU: no atomics needed */
}

static __always_inline void emit_event(__u32 type, __u32 tgid, __u32 image, __u32 old,
				       __u64 start_stack)
{
	struct profile_event *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		stat_inc(PROFILE_STAT_EVENTS_LOST);
		return;
	}
	e->type = type;
	e->tgid = tgid;
	e->image = image;
	e->old_image = old;
	e->start_stack = start_stack;
	bpf_ringbuf_submit(e, 0);
}

#endif
