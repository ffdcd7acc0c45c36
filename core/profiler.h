/* profiler: the sampling engine shared by `brasa capture` and `brasa run`.
 * Owns the BPF sampler, the workers, the symbolizer, the process table
 * (core/proctable.h) and the open windows (core/window.h); drains the
 * kernel maps every drain interval, symbolizes what it drained and adds it
 * to every open window that wants it, holding a sample back while its
 * process is being read or its objects loaded.
 *
 * A window is one profile being collected: a start (the drain that
 * follows its opening, so it never sees older samples), a length, an
 * optional pid filter and its own pprof builder. Several windows may
 * overlap; each gets exactly the samples of its own time span. What a
 * window gives back once done is in core/window.h (window__*).
 *
 * Threads: profiler__step runs the loop in one thread; profiler__window_open
 * and the window__ calls may be made from any thread.
 *
 *   profiler__new(opts, &p)          0 or -errno (logged)
 *   profiler__free(p)                NULL-safe
 *   profiler__step(p, max_wait_ms)   wait for events/deadlines, handle them
 *   profiler__window_open(p, &wopts, &w)  0, -ESRCH (no such pid), -EBUSY
 *                                    (too many windows), -EOPNOTSUPP (a
 *                                    type not recorded), -ENOMEM
 *   profiler__records(p, type)       whether windows of that sample type
 *                                    can be opened (off_cpu: opts.off_cpu)
 *   profiler__finish_window(p, w)    end w at the next step (after one
 *                                    last drain), e.g. on Ctrl-C
 *   profiler__cancel_windows(p)      end every open window now (shutdown):
 *                                    their waiters get what was collected
 *   profiler__health(p, msg, len)    0, or -ETIMEDOUT with a message when
 *                                    drains stopped happening (any thread)
 *   profiler__stats(p, &st)          counters for `brasa check` and metrics
 *   profiler__set_labeling(p, l)     new labeling config (SIGHUP): every
 *                                    process is labeled again at the next
 *                                    drain; rules in l are borrowed until
 *                                    the next call or profiler__free;
 *                                    0 or -ENOMEM (old config kept)
 */
#ifndef BRASA_CORE_PROFILER_H
#define BRASA_CORE_PROFILER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "labels/k8s.h"
#include "core/pprof.h"
#include "core/window.h"
#include "labels/proclabels.h"
#include "bpf/mmap_events.h"
#include "bpf/profile.h"
#include "bpf/unwinder.h"
#include "common/workq.h"
#include "symbolize/debuginfod.h"
#include "symbolize/procfile.h"
#include "symbolize/symbolizer.h"

/* Memory bounds of the process table, the open windows' profiles and the
 * samples held back for a process being read (see docs/how-it-works.md). */
#define PROFILER_DEFAULT_PROCESS_BYTES ((size_t)16 << 20)
#define PROFILER_DEFAULT_WINDOW_BYTES ((size_t)64 << 20)
#define PROFILER_DEFAULT_DEFERRED_BYTES ((size_t)4 << 20)
/* Off-CPU sampling (docs/off-cpu.md): the share of switch-outs recorded
 * and the bound on threads off the CPU with a recorded switch-out. */
#define PROFILER_DEFAULT_OFF_CPU_PROBABILITY 0.01
#define PROFILER_DEFAULT_OFF_CPU_THREADS 16384u

struct profiler;

enum unwind_mode {
	UNWIND_MODE_AUTO = 0, /* DWARF where the kernel allows, else frame pointers */
	UNWIND_MODE_FP,
	UNWIND_MODE_DWARF,    /* fail to start without DWARF support */
};
/* The values of --unwind, indexed by enum unwind_mode (in the header so
 * configuration has them without linking the profiler). */
static const char *const unwind_mode_names[] = {
	[UNWIND_MODE_AUTO] = "auto",
	[UNWIND_MODE_FP] = "fp",
	[UNWIND_MODE_DWARF] = "dwarf",
	NULL,
};

struct profiler_opts {
	uint32_t frequency;         /* Hz, default 99 */
	uint32_t target_tgid;       /* 0: every process (filtered in BPF) */
	uint32_t drain_interval_ms; /* default 1000 */
	bool kernel_stacks;         /* default true */
	bool demangle;              /* C++ and Rust names (symbolizer.h) */
	const char *proc_root;      /* default "/proc" */
	size_t max_windows;         /* concurrently open windows, default 16 */
	size_t max_processes;       /* tracked processes, default 16384 */
	size_t max_process_bytes;   /* their entries and snapshots, default 16 MiB */
	size_t max_window_bytes;    /* every open window's profiles, default 64 MiB */
	size_t max_deferred_bytes;  /* samples held back, default 4 MiB */
	size_t symbol_max_bytes;    /* symbolizer objects (symbolizer.h), default 32 MiB */
	size_t perfmap_max_bytes;   /* every perf map, default 16 MiB */
	unsigned load_workers;      /* threads loading objects and tables, default 1 */
	unsigned load_timeout_ms;   /* one object's symbols, default 5000 */
	unsigned unwind_build_timeout_ms; /* one unwind table, default 10000 */
	size_t unwind_build_max_bytes;    /* memory one build may hold, default 64 MiB */
	enum unwind_mode unwind;
	size_t unwind_max_bytes;    /* kernel memory for unwind tables, default 128 MiB */
	struct profiler_labeling labeling; /* borrowed, see profiler__set_labeling */
	struct k8s *k8s;            /* NULL: no Kubernetes metadata; borrowed */
	bool off_cpu;               /* record off-CPU time (sched_switch) */
	double off_cpu_probability; /* (0, 1]: switch-outs recorded, default 0.01 */
	uint64_t off_cpu_min_ns;    /* shorter off-CPU intervals not counted, default 0 */
	uint32_t off_cpu_max_threads; /* per-thread map bound, default 16384 */
	/* debug files of stripped objects by build id (debuginfod.h);
	 * urls NULL: off, no request is ever made */
	struct debuginfod_opts debuginfod;
};

struct profiler_stats {
	uint64_t bpf[PROFILE_STAT_MAX];
	uint64_t drains, samples_drained, processes, snapshots_failed;
	uint64_t process_read_retries; /* failed reads tried again (a profile wanted them) */
	uint64_t snapshots_refreshed; /* re-read after an address outside every mapping */
	uint64_t uncovered_reloads;   /* unwind tables reloaded for new code */
	uint64_t processes_dropped; /* table full (count or bytes) */
	uint64_t processes_unread;  /* the read queue was full */
	uint64_t processes_exec_raced; /* exec'd before they could be read */
	uint64_t mapped_rereads;      /* read again for new executable mappings */
	uint64_t mapped_throttled;    /* of old processes, left to slower paths */
	uint64_t snapshots_from_records; /* mappings named from records (process gone) */
	struct mmap_events_stats mmap; /* all 0 when the rings could not be opened */
	uint64_t samples_deferred;      /* held back for a process or object being read */
	uint64_t samples_deferred_late; /* added before that was done (waited too long) */
	/* samples of young processes the sampler sent whole (bpf/profile.bpf.c,
	 * defer_sample), and how their user-space walks ended */
	uint64_t samples_whole, whole_walked_complete, whole_walked_incomplete;
	uint64_t window_samples_dropped; /* past max_window_bytes */
	uint64_t processes_relabel_dropped; /* dropped by relabel_configs */
	uint64_t samples_relabel_dropped;   /* their samples seen in user space */
	uint64_t offcpu_switches_drained;   /* off-CPU: switches (scaled) */
	uint64_t offcpu_ns_drained;         /* off-CPU: time away (scaled) */
	bool off_cpu;
	int64_t offcpu_pending;      /* threads away with a recorded switch-out */
	uint32_t offcpu_max_threads; /* its bound */
	size_t max_processes;
	size_t process_bytes, max_process_bytes;
	size_t windows, max_windows;
	size_t window_bytes, max_window_bytes;
	size_t deferred, deferred_bytes, max_deferred_bytes;
	uint32_t frequency, ncpus;
	struct symbolizer_stats sym;
	struct workq_stats workq;
	struct procfile_stats files;
	bool dwarf;                 /* DWARF unwinding active */
	struct unwinder_stats unwind;
	bool k8s;                   /* a Kubernetes API client runs */
	struct k8s_stats k8s_stats;
	bool debuginfod;            /* a debuginfod client runs */
	struct debuginfod_stats debuginfod_stats;
};

int profiler__new(const struct profiler_opts *opts, struct profiler **out);
void profiler__free(struct profiler *p);
int profiler__step(struct profiler *p, int max_wait_ms);
int profiler__window_open(struct profiler *p, const struct window_opts *o,
			  struct window **out);
bool profiler__records(const struct profiler *p, enum pprof_type type);
void profiler__finish_window(struct profiler *p, struct window *w);
void profiler__cancel_windows(struct profiler *p);
int profiler__health(struct profiler *p, char *msg, size_t len);
void profiler__stats(struct profiler *p, struct profiler_stats *st);
int profiler__set_labeling(struct profiler *p, const struct profiler_labeling *l);

#endif
