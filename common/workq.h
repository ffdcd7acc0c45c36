/* workq: worker threads for the work that must not run in the sampling
 * loop: reading a profiled process's /proc files and its binaries, loading
 * ELF objects, building unwind tables. Any of these can take long or block
 * (a huge object, a crafted .eh_frame, a file on a FUSE mount, a process
 * whose mmap lock is held), and the loop must keep draining whatever they
 * do.
 *
 * Jobs are submitted by the owning (loop) thread and run on a worker; a
 * finished job is handed back through a completion list that the owner
 * drains when workq__fd() is readable, so every job's result is consumed
 * on the owner's thread, which keeps every cache single-threaded. Workers
 * share nothing but the queues.
 *
 * Three classes of jobs, each with its own threads, so a slow build never
 * delays the inspection of a new (maybe short-lived) process, nor the
 * loading of the symbols a profile waits for:
 *   WORKQ_FAST   short work whose latency matters (a process's /proc files)
 *   WORKQ_LOAD   objects' symbols, bounded by their own time cap
 *   WORKQ_BUILD  unwind tables, the longest work, bounded by their own cap
 * A job that runs past stuck_ms (or its own job->stuck_ms: a job with a
 * time cap of its own sets it WORKQ_STUCK_GRACE_MS past that cap, so a
 * spare, and the memory its job holds, comes only for a job blocked in a
 * system call) is counted as stuck and, up to max_spare
 * threads per class, a spare thread takes over the class's queue; the stuck
 * thread ends once its job returns and the class has threads enough.
 *
 *   workq__new(&opts, &wq)        0 or -errno
 *   workq__free(wq)               NULL-safe; waits for running jobs to
 *                                 return, then completes queued ones with
 *                                 cancelled set (done() runs for every job)
 *   workq__submit(wq, class, job) 0, -EAGAIN (that class's queue is full:
 *                                 the job is not taken); owner thread only;
 *                                 queued at the back, or at the front for
 *                                 a lifo class or an urgent job; a lifo
 *                                 class takes its oldest job every other
 *                                 time once that has waited lifo_max_wait_ms,
 *                                 so a stream of new jobs cannot hold an
 *                                 old one back for ever
 *   workq__promote(wq, job)       moves a job still waiting in its queue
 *                                 to the front (something waits for it
 *                                 now); owner thread only
 *   workq__fd(wq)                 readable when jobs have completed
 *   workq__complete(wq)           runs done() of each completed job, in
 *                                 completion order; checks for stuck jobs;
 *                                 returns how many; owner thread only
 *   workq__stats(wq, &st)         any thread
 */
#ifndef BRASA_COMMON_WORKQ_H
#define BRASA_COMMON_WORKQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How far past its own time cap a job counts as stuck (job->stuck_ms). */
#define WORKQ_STUCK_GRACE_MS 5000

enum workq_class {
	WORKQ_FAST = 0,
	WORKQ_LOAD,
	WORKQ_BUILD,
	WORKQ_CLASSES,
};

struct workq_job {
	void (*run)(struct workq_job *job);  /* on a worker thread */
	void (*done)(struct workq_job *job); /* on the owner thread; frees the job */
	const char *what;                    /* for logs about stuck jobs */
	unsigned stuck_ms;                   /* stuck past this; 0: the queue's stuck_ms */
	bool urgent;                         /* queued at the front, not the back */
	bool cancelled;                      /* done() without run(): queue stopped */
	/* private */
	struct workq_job *next;
	int cls;  /* queue it was submitted to */
	uint64_t queued_ns;
};

struct workq_opts {
	unsigned threads[WORKQ_CLASSES]; /* default 1 each */
	size_t max_queued;               /* per class, default 4096 */
	unsigned stuck_ms;               /* default 10000 */
	unsigned max_spare;              /* extra threads per class for stuck jobs, default 2 */
	bool lifo[WORKQ_CLASSES];        /* newest job first (default: oldest first) */
	unsigned lifo_max_wait_ms;       /* see workq__submit; default 10000 */
};

struct workq_stats {
	uint64_t submitted[WORKQ_CLASSES], completed[WORKQ_CLASSES];
	uint64_t rejected[WORKQ_CLASSES]; /* queue full */
	uint64_t stuck;                   /* jobs seen past stuck_ms */
	uint64_t run_ns[WORKQ_CLASSES];   /* time spent running jobs */
	size_t queued[WORKQ_CLASSES], running[WORKQ_CLASSES];
	unsigned threads[WORKQ_CLASSES];
};

struct workq;

int workq__new(const struct workq_opts *opts, struct workq **out);
void workq__free(struct workq *wq);
int workq__submit(struct workq *wq, enum workq_class cls, struct workq_job *job);
void workq__promote(struct workq *wq, struct workq_job *job);
int workq__fd(const struct workq *wq);
size_t workq__complete(struct workq *wq);
void workq__stats(struct workq *wq, struct workq_stats *st);

#endif
