/* sampler: the user half of bpf/profile.bpf.c. Opens, sizes, loads and
 * attaches the CPU sampler (one cpu-clock perf_event per online CPU, raw
 * tracepoints for exec and exit), reads its event ring buffer, and drains
 * the idle generation of its count maps.
 *
 *   sampler__new(opts, &s)         0 or -errno; logs the reason it failed
 *   sampler__free(s)               NULL-safe; detaches everything
 *   sampler__events_fd(s)          epoll-able fd: readable when events wait
 *   sampler__consume_events(s)     calls opts->on_event for each, for at most
 *                                  ~50 ms (the rest waits for the next call;
 *                                  events_fd stays readable); >= 0 or -errno
 *   sampler__drain(s, fn, ctx)     flip generation, wait for in-flight
 *                                  programs, hand every (key, count, stacks)
 *                                  of the old generation to fn; -errno
 *   sampler__stats(s, out)         sum of per-CPU counters, PROFILE_STAT_MAX entries
 *   sampler__set_dropped(s, tgid, image, drop)
 *                                  drop: samples of tgid while it runs image
 *                                  are discarded in BPF; !drop: sampled again;
 *                                  0 or -errno (-E2BIG: map full)
 *   sampler__ncpus(s)              perf events attached
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
/* ustack / kstack are NULL when the sample has none (or it was lost). */
typedef void (*sampler_sample_fn)(void *ctx, const struct sample_key *key, uint64_t count,
				  const struct stack_trace *ustack,
				  const struct stack_trace *kstack);

struct sampler_opts {
	uint32_t frequency;       /* Hz, per CPU */
	uint32_t target_tgid;     /* 0: every process */
	bool user_stacks, kernel_stacks;
	bool dwarf;               /* load the DWARF unwinder (needs bpf_loop) */
	size_t unwind_max_bytes;  /* sizes the unwind-table maps */
	uint32_t max_processes;   /* sizes the per-process unwind map */
	uint32_t drain_interval_ms; /* sizes the maps: samples per drain */
	sampler_event_fn on_event;
	void *event_ctx;
};

int sampler__new(const struct sampler_opts *opts, struct sampler **out);
void sampler__free(struct sampler *s);
int sampler__events_fd(const struct sampler *s);
int sampler__consume_events(struct sampler *s);
int sampler__drain(struct sampler *s, sampler_sample_fn fn, void *ctx);
int sampler__stats(const struct sampler *s, uint64_t out[PROFILE_STAT_MAX]);
int sampler__set_dropped(struct sampler *s, uint32_t tgid, uint32_t image, bool drop);
unsigned sampler__ncpus(const struct sampler *s);
struct unwinder_maps;
void sampler__unwind_maps(const struct sampler *s, struct unwinder_maps *maps);
bool sampler__has_bpf_loop(void);

/* Online CPUs from a /sys/devices/system/cpu/online style list ("0-3,8").
 * Fills cpus (up to max), returns the count or -EINVAL. */
int sampler__parse_cpu_list(const char *text, int *cpus, int max);

#endif
