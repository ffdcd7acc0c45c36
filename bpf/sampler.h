/* sampler: the user half of bpf/profile.bpf.c. Opens, sizes, loads and
 * attaches the CPU sampler (one cpu-clock perf_event per online CPU, raw
 * tracepoints for exec and exit) and, with opts.off_cpu, the off-CPU one
 * (sched_switch), reads its event ring buffer, and drains the idle
 * generation of its count maps.
 *
 * Off-CPU sampling records a switch-out with probability p
 * (opts.off_cpu_probability): the buckets drained are scaled by 1/p, both
 * their switches and their nanoseconds, so totals estimate every switch's
 * (what was skipped is counted in PROFILE_STAT_OFFCPU_SAMPLED_OUT). An
 * interval shorter than opts.off_cpu_min_ns is not counted at all
 * (PROFILE_STAT_OFFCPU_SHORT): a floor, not a sample.
 *
 *   sampler__new(opts, &s)         0 or -errno; logs the reason it failed
 *   sampler__free(s)               NULL-safe; detaches everything
 *   sampler__events_fd(s)          epoll-able fd: readable when events wait
 *   sampler__consume_events(s)     calls opts->on_event for each event and
 *                                  opts->on_deferred for each sample sent
 *                                  whole (struct deferred_sample: a young
 *                                  process's stack its tables could not walk
 *                                  yet, for user space to unwind), for at
 *                                  most ~50 ms (the rest waits for the next
 *                                  call; events_fd stays readable); >= 0 or
 *                                  -errno
 *   sampler__drain(s, fn, ctx)     flip generation, wait for in-flight
 *                                  programs, hand every bucket of the old
 *                                  generation to fn (CPU ones, then off-CPU
 *                                  ones, scaled); -errno
 *   sampler__stats(s, out)         sum of per-CPU counters, PROFILE_STAT_MAX entries
 *   sampler__set_dropped(s, tgid, image, drop)
 *                                  drop: samples of tgid while it runs image
 *                                  are discarded in BPF; !drop: sampled again;
 *                                  0 or -errno (-E2BIG: map full)
 *   sampler__ncpus(s)              perf events attached
 *   sampler__offcpu_pending(s)     threads off the CPU whose switch-out was
 *                                  recorded (entries of the per-thread map)
 *   sampler__unwind_maps(s, &maps) fds of the DWARF unwinder's maps
 *   sampler__has_bpf_loop()        feature probe: can DWARF mode load here
 */
#ifndef BRASA_BPF_SAMPLER_H
#define BRASA_BPF_SAMPLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

#include "bpf/profile.h"

struct sampler;

typedef void (*sampler_event_fn)(void *ctx, const struct profile_event *ev);
typedef void (*sampler_deferred_fn)(void *ctx, const struct deferred_sample *d);

/* One drained bucket. */
struct sampler_sample {
	const struct sample_key *key;
	bool off_cpu;       /* an off-CPU bucket (key->flags: SAMPLE_F_PREEMPTED) */
	uint64_t count;     /* CPU: samples; off-CPU: switches, scaled */
	uint64_t off_cpu_ns; /* off-CPU: time away, scaled */
	/* NULL when the bucket has none (or it was lost) */
	const struct stack_trace *ustack, *kstack;
};
typedef void (*sampler_sample_fn)(void *ctx, const struct sampler_sample *s);

struct sampler_opts {
	uint32_t frequency;       /* Hz, per CPU */
	uint32_t target_tgid;     /* 0: every process */
	bool user_stacks, kernel_stacks;
	bool dwarf;               /* load the DWARF unwinder (needs bpf_loop) */
	size_t unwind_max_bytes;  /* sizes the unwind-table maps */
	uint32_t max_processes;   /* sizes the per-process unwind map */
	uint32_t drain_interval_ms; /* sizes the maps: samples per drain */
	bool off_cpu;             /* load the sched_switch program */
	double off_cpu_probability; /* (0, 1]: switch-outs recorded */
	uint64_t off_cpu_min_ns;  /* shorter intervals are not counted */
	uint32_t off_cpu_max_threads; /* sizes the per-thread map */
	uint32_t self_tgid;       /* left out of off-CPU sampling (the agent) */
	sampler_event_fn on_event;
	sampler_deferred_fn on_deferred; /* NULL: such samples are dropped */
	void *event_ctx;               /* of both */
};

int sampler__new(const struct sampler_opts *opts, struct sampler **out);
void sampler__free(struct sampler *s);
int sampler__events_fd(const struct sampler *s);
int sampler__consume_events(struct sampler *s);
int sampler__drain(struct sampler *s, sampler_sample_fn fn, void *ctx);
int sampler__stats(const struct sampler *s, uint64_t out[PROFILE_STAT_MAX]);
int sampler__set_dropped(struct sampler *s, uint32_t tgid, uint32_t image, bool drop);
unsigned sampler__ncpus(const struct sampler *s);
int64_t sampler__offcpu_pending(const struct sampler *s);
struct unwinder_maps;
void sampler__unwind_maps(const struct sampler *s, struct unwinder_maps *maps);
bool sampler__has_bpf_loop(void);

/* Online CPUs from a /sys/devices/system/cpu/online style list ("0-3,8").
 * Fills cpus (up to max), returns the count or -EINVAL. */
int sampler__parse_cpu_list(const char *text, int *cpus, int max);

#endif
