/* proctable: the processes the profiler knows, one entry per (pid, image):
 * who each is (name, executable, labels after relabeling) and a snapshot
 * of its mappings, with its unwind tables loaded. An entry is made at the
 * process's exec or new-process event (or its first drained sample), read
 * on the FAST workers (identified, labeled, then inspected: a process
 * relabeling drops is never inspected), read again when it maps an
 * executable file (kernel records, which also put the file's loaded
 * unwind table into its mapping table at once and, if the process is gone
 * before its read, its mapping into its snapshot), when its samples show
 * code outside its snapshot or a failed read is wanted, and forgotten
 * after its exit (or when found gone). Bounded in entries and bytes.
 *
 * Ages are counted in drains (proctable__drained). Not thread-safe: the
 * profiler calls it from its loop, under its lock.
 *
 *   proctable__new(opts, &t)           0 or -ENOMEM
 *   proctable__free(t)                 NULL-safe; after the workers are
 *                                      gone (reads in flight point here)
 *   proctable__event(t, ev)            a sampler event: new process, exec,
 *                                      exit, new code (reload its tables)
 *   proctable__mapped(t, ev)           a process mapped an executable
 *                                      file (bpf/mmap_events.h): the file's
 *                                      loaded unwind table goes into its
 *                                      newest image's mapping table now,
 *                                      and the image is read again, while
 *                                      it lives (coalesced; rate-bounded
 *                                      for processes older than a second)
 *   proctable__sampled(t, tgid, image) the entry a drained sample belongs
 *                                      to, tracked now if unknown; NULL
 *                                      when the table is full
 *   proctable__must_wait(t, e, ustack) whether a sample of e should wait
 *                                      for a read of e: one in flight, a
 *                                      failed one tried again, or a re-read
 *                                      for addresses outside its snapshot
 *                                      (ustack may be NULL)
 *   proctable__busy(e)                 a read its samples wait for is in
 *                                      flight (false for NULL)
 *   proctable__hold(t, e)              a sample is held back for e: e stays
 *                                      until released; the first one moves
 *                                      its read to the front (NULL-safe)
 *   proctable__release(e)              that sample was added (NULL-safe)
 *   proctable__drained(t)              a drain ended
 *   proctable__forget_dead(t)          forgets the processes gone; how many
 *   proctable__relabel(t)              labels every process again if the
 *                                      labeling changed (SIGHUP, k8s data)
 *   proctable__comm(e), __exe(e)       its name, executable; NULL if
 *                                      unknown or e is NULL
 *   proctable__labels(e, &hash)        its labels and their hash; NULL
 *                                      for NULL e
 *   proctable__snapshot(e, &uid)       its mappings (NULL: not read, or e
 *                                      NULL); uid is unique per snapshot
 *   proctable__dropped(e)              relabeling dropped it (false for
 *                                      NULL): its samples are discarded
 *   proctable__stats(t, &st)           -
 */
#ifndef BRASA_CORE_PROCTABLE_H
#define BRASA_CORE_PROCTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bpf/profile.h"
#include "common/labels.h"

struct mmap_event;
struct proctable;
struct proc_entry;
struct proc_snapshot;
struct proclabels;
struct sampler;
struct symbolizer;
struct unwinder;
struct workq;

struct proctable_opts {
	const char *proc_root;
	size_t max_processes;
	size_t max_bytes;            /* entries and their snapshots */
	/* borrowed; they outlive the table */
	struct workq *wq;
	struct sampler *sampler;     /* its BPF filter skips dropped processes */
	struct symbolizer *sym;
	struct unwinder *unwinder;   /* NULL: frame pointers only */
	struct proclabels *labeler;
	/* whether a profile wants tgid's samples now: what they need is
	 * loaded as soon as the process is read */
	bool (*wanted)(void *ctx, uint32_t tgid);
	void *ctx;
};

struct proctable_stats {
	size_t processes, bytes;
	uint64_t snapshots_failed;
	uint64_t read_retries;        /* failed reads tried again */
	uint64_t snapshots_refreshed; /* re-read after an address outside every mapping */
	uint64_t uncovered_reloads;   /* unwind tables reloaded for new code */
	uint64_t dropped;             /* table full (count or bytes) */
	uint64_t unread;              /* the read queue was full */
	uint64_t exec_raced;          /* exec'd before they could be read */
	uint64_t relabel_dropped;     /* dropped by relabel_configs */
	uint64_t mapped_rereads;      /* read again for new executable mappings */
	uint64_t mapped_throttled;    /* new mappings of old processes left to
				       * the slower paths (rate bound) */
	uint64_t snapshots_from_records; /* mappings put into the snapshot of a
					  * process gone before it was read again */
};

int proctable__new(const struct proctable_opts *opts, struct proctable **out);
void proctable__free(struct proctable *t);
void proctable__event(struct proctable *t, const struct profile_event *ev);
void proctable__mapped(struct proctable *t, const struct mmap_event *ev);
struct proc_entry *proctable__sampled(struct proctable *t, uint32_t tgid, uint32_t image);
bool proctable__must_wait(struct proctable *t, struct proc_entry *e,
			  const struct stack_trace *ustack);
bool proctable__busy(const struct proc_entry *e);
void proctable__hold(struct proctable *t, struct proc_entry *e);
void proctable__release(struct proc_entry *e);
void proctable__drained(struct proctable *t);
size_t proctable__forget_dead(struct proctable *t);
void proctable__relabel(struct proctable *t);
const char *proctable__comm(const struct proc_entry *e);
const char *proctable__exe(const struct proc_entry *e);
const struct labels *proctable__labels(const struct proc_entry *e, uint64_t *hash);
const struct proc_snapshot *proctable__snapshot(const struct proc_entry *e, uint64_t *uid);
bool proctable__dropped(const struct proc_entry *e);
void proctable__stats(const struct proctable *t, struct proctable_stats *st);

#endif
