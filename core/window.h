/* window: the profiles being collected. A window is one profile over a
 * span of drains (or, for uploads, one profile per process label set): it
 * starts at the drain that follows its opening, so it never sees older
 * samples, ends at the first drain past its length and is done once the
 * samples held back for it have been added. Several windows may overlap;
 * each gets exactly the samples of its own span. A chained window hands
 * over to a successor at the drain that ends it, so no sample falls
 * between two upload windows.
 *
 * The set of open windows (windows__) belongs to the profiler, which calls
 * it from its loop with its lock (opts.lock) held; a window (window__) is
 * used by whoever opened it, from any thread.
 *
 *   windows__new(opts, &ws)          0 or -ENOMEM
 *   windows__free(ws)                NULL-safe; closes every window still
 *                                    open (without the lock held)
 *   windows__open(ws, wopts, &w)     0, -EBUSY (too many windows), -ENOMEM
 *   windows__wanting(ws, tgid, type) the windows that want a sample of tgid
 *                                    of that type (cpu, off_cpu) now, as a
 *                                    mask of slots (0 for NULL ws)
 *   windows__add(ws, mask, sample)   adds a resolved sample to those windows
 *                                    whose matcher its labels pass (held
 *                                    samples are matched when added, with
 *                                    the labels their process's read gave),
 *                                    unless their memory bound is reached
 *   windows__hold(ws, mask)          a sample is held back for them: they
 *                                    are not done before it is added
 *   windows__release(ws, mask)       it was added (or given up)
 *   windows__finish_ended(ws)        the ended windows nothing is held back
 *                                    for are done: wakes their waiters
 *   windows__drained(ws, mono)       a drain at mono: starts new windows,
 *                                    ends (and chains) due ones
 *   windows__deadline(ws, d)         the earlier of d and the next drain a
 *                                    window needs (0: one waits to start)
 *   windows__finish(ws, w)           w ends at the next drain (Ctrl-C)
 *   windows__cancel(ws, mono)        ends every window now, for good
 *                                    (shutdown): their waiters get what was
 *                                    collected, no successor is chained
 *   windows__stats(ws, &st)          -
 *
 *   window__done(w)                  true once its span has been drained
 *   window__wait(w)                  blocks until done (other threads)
 *   window__pprof(w)                 the builder; only after done; NULL if
 *                                    it could not be allocated (or by_series)
 *   window__nseries(w), window__series(w, i, &labels)
 *                                    by_series windows: one profile per
 *                                    process label set; only after done
 *   window__start_unix_ns(w)         when its span began (after done)
 *   window__duration_ns(w)           how long it really ran (after done)
 *   window__successor(w)             o.chain: the window that continues it
 *                                    from the drain that ended it (after
 *                                    done; NULL once the profiler stops or
 *                                    if it could not be allocated); the
 *                                    caller closes both
 *   window__close(w)                 NULL-safe; removes and frees it
 */
#ifndef BRASA_CORE_WINDOW_H
#define BRASA_CORE_WINDOW_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bpf/profile.h"
#include "common/labels.h"
#include "core/pprof.h"

/* Functions and inlined callers one frame's address resolves to. */
#define WINDOW_MAX_INLINE 16

struct windows;
struct window;

struct matcher_set;

struct window_opts {
	uint32_t seconds;
	enum pprof_type type; /* the samples it collects, default cpu */
	int32_t pid; /* -1: every process */
	/* NULL: every process; else only samples of processes whose label
	 * set (after relabeling; for a process without labels, untracked or
	 * not read yet, its comm and pid) matches, along with pid.
	 * Borrowed: it must outlive the window (and a chained window's
	 * successors); used under the profiler's lock only. */
	struct matcher_set *match;
	bool by_series; /* one profile per process label set (uploads) */
	bool chain;     /* when it ends a successor starts at the same drain */
};

/* One drained frame, resolved and symbolized once and then added to every
 * window that wants its sample. */
struct window_frame {
	uint64_t mapping_key; /* keys pprof__mapping */
	struct pprof_mapping mapping;
	bool has_mapping;
	uint64_t address;
	size_t nlines;
	struct pprof_line lines[WINDOW_MAX_INLINE];
};

/* A resolved sample, with what the windows label it by. */
struct window_sample {
	const struct sample_key *key;  /* its pid, thread id and name */
	enum pprof_type type;          /* off_cpu: labeled by key->flags' reason */
	uint64_t count;                /* samples, or off-CPU switches */
	uint64_t off_cpu_ns;           /* off_cpu: the time away */
	const char *comm;              /* its process's name, else its thread's */
	const char *exe;               /* its executable; NULL if unknown */
	const struct labels *labels;   /* its process's; NULL: an untracked process */
	uint64_t labels_hash;          /* of labels: the series it goes to */
	const struct window_frame *frames; /* leaf first: the kernel part, then the user part */
	size_t nframes;
	bool thread_labels;            /* label it with its thread's id and name */
};

struct windows_opts {
	pthread_mutex_t *lock;      /* the profiler's: guards the set and every window */
	uint32_t frequency;         /* Hz: the profiles' period */
	size_t max_windows;         /* at most 64 (a mask of slots) */
	size_t max_bytes;           /* every open window's profiles */
	/* under the lock, when a window closes: what names its slot must
	 * stop doing so, another window may take the slot */
	void (*closed)(void *ctx, unsigned slot);
	void *ctx;
};

struct windows_stats {
	size_t windows, max_windows;
	size_t bytes, max_bytes;
	uint64_t samples_dropped; /* past max_bytes */
};

int windows__new(const struct windows_opts *opts, struct windows **out);
void windows__free(struct windows *ws);
int windows__open(struct windows *ws, const struct window_opts *o, struct window **out);
uint64_t windows__wanting(const struct windows *ws, uint32_t tgid, enum pprof_type type);
void windows__add(struct windows *ws, uint64_t mask, const struct window_sample *s);
void windows__hold(struct windows *ws, uint64_t mask);
void windows__release(struct windows *ws, uint64_t mask);
void windows__finish_ended(struct windows *ws);
void windows__drained(struct windows *ws, uint64_t mono);
uint64_t windows__deadline(const struct windows *ws, uint64_t d);
void windows__finish(struct windows *ws, struct window *w);
void windows__cancel(struct windows *ws, uint64_t mono);
void windows__stats(const struct windows *ws, struct windows_stats *st);

bool window__done(struct window *w);
void window__wait(struct window *w);
struct pprof *window__pprof(struct window *w);
size_t window__nseries(struct window *w);
struct pprof *window__series(struct window *w, size_t i, const struct labels **labels);
int64_t window__start_unix_ns(struct window *w);
int64_t window__duration_ns(struct window *w);
struct window *window__successor(struct window *w);
void window__close(struct window *w);

#endif
