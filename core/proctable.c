/* One file over 900 lines: the entries, their reads and the mappings
 * kernel records report all change the same proc_entry fields, in the
 * same orders (a read in flight, a record, the read's completion). */
#include "core/proctable.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "bpf/mmap_events.h"
#include "bpf/sampler.h"
#include "bpf/unwinder.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/macros.h"
#include "common/u64map.h"
#include "common/workq.h"
#include "labels/proclabels.h"
#include "symbolize/elf_object.h"
#include "symbolize/procinfo.h"
#include "symbolize/symbolizer.h"

/* A process not sampled for this many drains is checked for existence and
 * forgotten if gone (its exit event may have been lost). */
#define STALE_DRAINS 60

/* An exited process still runs after its exit event: do_exit closes its
 * files and runs its task work after the tracepoint (a large memfd freed,
 * a lingering socket close: seconds), and those samples (kernel stacks)
 * must find it with its labels, not as a new process that no read can
 * name. Its entry is forgotten one drain after /proc shows it reaped (its
 * last samples may wait in the maps that drain swapped out), or
 * EXIT_MAX_DRAINS drains after its exit (a zombie nobody reaps, a pid
 * already reused). */
#define EXIT_MAX_DRAINS 30

/* A snapshot taken at exec or at a process's first sample may predate
 * the libraries ld.so (or dlopen) maps later. A leaf pc outside every
 * mapping re-reads the mappings (and the unwind tables) at the next drain;
 * a caller address outside them at once the first time, then at most
 * every REFRESH_DRAINS drains, because broken frame-pointer chains also
 * produce such addresses and must not make us re-read /proc every drain. */
#define REFRESH_DRAINS 10

/* New code in a process (a library just mapped): read its mappings and
 * load its unwind tables now, not at the next drain, at most every
 * UNCOVERED_RELOAD_NS per process (the sampler keeps reporting until the
 * tables are in). */
#define UNCOVERED_RELOAD_NS 100000000ull

/* A process whose read failed, yet whose samples a profile wants: read
 * it again, a few times, spaced out. A read can fail for a moment (a
 * race with exec, a full queue, files being replaced) and the process
 * lives on; without this every later sample of it would stay an address. */
#define READ_RETRIES 3
#define READ_RETRY_NS 250000000ull

/* New executable mappings (mmap_events.h: ld.so mapping the libraries
 * after an exec, dlopen): the process is read again at once, while it
 * lives, so its mapping table and its snapshot have them before (or
 * soon after) their code first runs. One read in flight and one more
 * after it per process, whatever the number of records; a process older
 * than YOUNG_NS is read again for them at most every MAPPED_REREAD_NS
 * (the others are counted and left to the uncovered event and the
 * drain-time refresh). */
#define YOUNG_NS 1000000000ull
#define MAPPED_REREAD_NS 100000000ull
/* Before that read, a new mapping whose file has a loaded table is added
 * to the process's mapping table at once (unwinder__attach). The first
 * RECORDED_MAPS mappings no completed read has shown yet are remembered:
 * attached again after a read that started before them (and overwrote
 * the table), and put into the snapshot from the records when the read
 * fails because the process is gone (symbolizer__snapshot_add). */
#define RECORDED_MAPS 8
/* The records of an exec's program and ld.so are written before its
 * exec event, and may be read first: records of processes not tracked
 * are kept (the last ORPHANS, for ORPHAN_NS) for an exec event to take. */
#define ORPHANS 64
#define ORPHAN_NS 100000000ull

struct orphan {
	uint32_t tgid;
	uint64_t ns;
	struct sym_map_record r;
};

enum proc_state {
	PROC_IDENTIFYING = 0, /* who it is: being read on a worker */
	PROC_INSPECTING,      /* its mappings and files: being read */
	PROC_READY,           /* snap is set (or the process is dropped) */
	PROC_FAILED,          /* it could not be read (gone, refused) */
};

struct proc_job;

struct proc_entry {
	struct proc_snapshot *snap; /* NULL: not (yet) read */
	enum proc_state state;
	struct proc_job *job;       /* identify or inspect in flight */
	bool refreshing;            /* the job re-reads a known process */
	bool remap;                 /* new mappings since the job started:
				     * read again when it completes */
	unsigned nrecorded;         /* of recorded */
	struct sym_map_record recorded[RECORDED_MAPS]; /* see RECORDED_MAPS */
	unsigned deferred;          /* held-back samples pointing here */
	uint64_t uid;               /* unique per snapshot, keys pprof mappings */
	uint64_t exit_drain;        /* 0: alive; else forget after this drain */
	bool exited;                /* exit_drain is its exit, not an exec */
	uint64_t reaped_drain;      /* exited: drain /proc showed it gone */
	uint64_t last_drain;        /* last drain that carried its samples */
	uint64_t refresh_drain;     /* drain of the last re-snapshot */
	uint64_t reload_ns;         /* last reload for an uncovered pc */
	uint64_t start_stack;       /* of its image, from the sampler; 0 unknown */
	uint64_t failed_ns;         /* when its last read failed */
	uint64_t born_ns;           /* when it was tracked (its exec, mostly) */
	uint64_t mapped_ns;         /* last re-read for new mappings */
	unsigned refreshes;
	unsigned retries;           /* reads again after a failed one */
	size_t bytes;               /* counted in proctable.bytes */
	int pid;
	uint32_t image;
	char comm[PROFILE_COMM_LEN]; /* process name, "" if unreadable */
	char exe[PROC_INFO_EXE_LEN]; /* its executable as it sees it, "" if unknown */
	char build_id[ELF_BUILD_ID_HEX_MAX]; /* of exe, "" if unknown */
	struct labels labels;        /* after relabeling (labels/proclabels.h) */
	uint64_t labels_hash;        /* of labels: the series key of uploads */
	uint64_t labels_gen;         /* proclabels generation they were made in */
	bool dropped;                /* relabeling dropped it: samples discarded */
	bool k8s_pending;            /* its pod was not known yet */
};

enum proc_job_kind {
	JOB_IDENTIFY,  /* then labels decide whether to inspect */
	JOB_INSPECT,   /* after identify: the mappings */
	JOB_READ,      /* both at once, when no rule can drop a process */
	JOB_REREAD,    /* a known process's mappings again (new code) */
};

struct proc_job {
	struct workq_job base;
	struct proctable *t;
	struct proc_entry *e;       /* NULL once the entry is gone */
	enum proc_job_kind kind;
	int pid;
	uint64_t start_stack;       /* the image meant, 0 if unknown */
	struct proc_info *info;
	int err;
	uint64_t submit_ns, start_ns, end_ns; /* for the debug log of install */
	bool started;               /* set by the worker before it reads */
};

struct proctable {
	struct proctable_opts opts;
	struct u64map procs; /* (tgid << 32 | image) -> struct proc_entry * */
	struct u64map images; /* tgid -> image of its newest entry */
	size_t bytes;
	uint64_t next_uid;
	uint64_t drains;
	uint64_t labels_gen; /* proclabels generation seen at the last relabel */
	struct orphan orphans[ORPHANS]; /* a ring, the oldest overwritten */
	unsigned orphan_next;
	struct proctable_stats stats;
};

static uint64_t proc_key(uint32_t tgid, uint32_t image)
{
	return (uint64_t)tgid << 32 | image;
}

static struct proc_entry *lookup(const struct proctable *t, uint32_t tgid, uint32_t image)
{
	uint64_t v;

	return u64map_get(&t->procs, proc_key(tgid, image), &v) ? (struct proc_entry *)(uintptr_t)v
								  : NULL;
}

/* ---- entries ------------------------------------------------------------ */

static size_t labels_bytes(const struct labels *ls)
{
	size_t n = ls->cap * sizeof(*ls->v);

	for (size_t i = 0; i < ls->n; i++)
		n += strlen(ls->v[i].name) + strlen(ls->v[i].value) + 2;
	return n;
}

/* What an entry holds, counted against max_bytes. */
static void account(struct proctable *t, struct proc_entry *e)
{
	size_t bytes = sizeof(*e) + labels_bytes(&e->labels) + proc_snapshot__bytes(e->snap);

	t->bytes += bytes - e->bytes;
	e->bytes = bytes;
}

static void proc_entry_free(struct proctable *t, struct proc_entry *e)
{
	if (!e)
		return;
	if (e->job)
		e->job->e = NULL; /* it finds the entry gone when it completes */
	t->bytes -= e->bytes;
	proc_snapshot__put(e->snap);
	labels__clear(&e->labels);
	free(e);
}

static void forget_process(struct proctable *t, uint64_t key)
{
	uint64_t v;

	if (t->opts.unwinder)
		unwinder__forget_process(t->opts.unwinder, (uint32_t)(key >> 32), (uint32_t)key);
	if (u64map_get(&t->images, key >> 32, &v) && v == (uint32_t)key)
		u64map_del(&t->images, key >> 32);
	if (u64map_get(&t->procs, key, &v)) {
		struct proc_entry *e = (struct proc_entry *)(uintptr_t)v;

		if (e->dropped)
			sampler__set_dropped(t->opts.sampler, (uint32_t)e->pid, e->image, false);
		proc_entry_free(t, e);
		u64map_del(&t->procs, key);
	}
}

static void submit_read(struct proctable *t, struct proc_entry *e);
static void adopt_orphans(struct proctable *t, struct proc_entry *e);
static void submit(struct proctable *t, struct proc_entry *e, enum proc_job_kind kind,
		   struct proc_info *info);

/* A dropped process costs nothing from now on: its samples stop in BPF
 * and what was loaded for it goes. */
static void unload_process(struct proctable *t, struct proc_entry *e)
{
	if (t->opts.unwinder)
		unwinder__forget_process(t->opts.unwinder, (uint32_t)e->pid, e->image);
	proc_snapshot__put(e->snap);
	e->snap = NULL;
	account(t, e);
}

static void label_process(struct proctable *t, struct proc_entry *e)
{
	struct proc_identity id = {
		.pid = e->pid, .comm = e->comm, .exe = e->exe, .build_id = e->build_id,
	};
	struct proclabels_result res = { 0 };
	bool was_dropped = e->dropped;
	int err;

	e->labels_gen = proclabels__generation(t->opts.labeler);
	err = proclabels__compute(t->opts.labeler, &id, &res);
	if (err) {
		/* keep what we had: a sample with fewer labels beats none */
		labels__clear(&res.labels);
		log_debug("failed to label process %d: %s", e->pid, strerror(-err));
		return;
	}
	labels__clear(&e->labels);
	e->labels = res.labels;
	e->labels_hash = labels__hash(&e->labels);
	e->k8s_pending = res.k8s_pending;
	e->dropped = !res.keep;
	account(t, e);
	if (e->dropped != was_dropped) {
		err = sampler__set_dropped(t->opts.sampler, (uint32_t)e->pid, e->image, e->dropped);
		if (err)
			log_debug("failed to update the BPF drop filter for %d: %s", e->pid,
				  strerror(-err));
		t->stats.relabel_dropped += e->dropped ? 1 : 0;
		if (e->dropped)
			unload_process(t, e);
		else if (e->state == PROC_READY && !e->job)
			/* kept again by a new configuration: read it now */
			submit(t, e, JOB_REREAD, NULL);
	}
}

void proctable__relabel(struct proctable *t)
{
	uint64_t gen = proclabels__generation(t->opts.labeler);

	if (gen == t->labels_gen)
		return;
	t->labels_gen = gen;
	u64map_foreach(&t->procs, i) {
		struct proc_entry *e = (struct proc_entry *)(uintptr_t)t->procs.values[i];

		/* one still being identified is labeled when it is */
		if (e->labels_gen != gen && e->state != PROC_IDENTIFYING)
			label_process(t, e);
	}
}

/* ---- reading processes on workers --------------------------------------- */

static void proc_job_run(struct workq_job *base)
{
	struct proc_job *j = (struct proc_job *)base;

	j->start_ns = clock__mono_ns();
	__atomic_store_n(&j->started, true, __ATOMIC_RELEASE);
	switch (j->kind) {
	case JOB_IDENTIFY:
		j->err = proc_info__identify(j->t->opts.proc_root, j->pid, &j->info);
		break;
	case JOB_INSPECT:
		j->err = proc_info__inspect(j->info, NULL);
		break;
	case JOB_READ:
	case JOB_REREAD:
		j->err = proc_info__identify(j->t->opts.proc_root, j->pid, &j->info);
		if (!j->err)
			j->err = proc_info__inspect(j->info, NULL);
		break;
	}
	/* The process is read some time after the sampler saw it: if it has
	 * exec'd since, what was read is another image's, and names from it
	 * would be wrong for these samples. */
	if (!j->err && j->start_stack && j->info->stack_top &&
	    j->info->stack_top != j->start_stack)
		j->err = -ESTALE;
	j->end_ns = clock__mono_ns();
}

/* The mappings of a process have been read (by j): snapshot and unwind
 * tables. */
static void install(struct proctable *t, struct proc_entry *e, const struct proc_job *j)
{
	struct proc_info *info = j->info;
	uint64_t now = clock__mono_ns();
	struct proc_snapshot *snap;

	/* the unwinder dups the fds it needs; the symbolizer takes them */
	if (t->opts.unwinder)
		unwinder__load(t->opts.unwinder, (uint32_t)e->pid, e->image, info);
	/* how long after its exec a process's code has its tables
	 * (tests/integration/test_startup.py reads these) */
	log_debug("process %d: %zu executable mappings loaded %.2f ms after it was tracked "
		  "(this read: queued %.2f ms, ran %.2f ms, completed %.2f ms later)",
		  e->pid, info->nexec, (double)(now - e->born_ns) / 1e6,
		  (double)(j->start_ns - j->submit_ns) / 1e6, (double)(j->end_ns - j->start_ns) / 1e6,
		  (double)(now - j->end_ns) / 1e6);
	snap = symbolizer__snapshot_from(t->opts.sym, info);
	if (!snap) {
		if (!e->snap)
			t->stats.snapshots_failed++;
		log_debug("failed to snapshot process %d: %s", e->pid, strerror(errno));
	} else {
		/* samples already added copied their strings; held-back ones
		 * resolve against the new snapshot */
		proc_snapshot__put(e->snap);
		e->snap = snap;
		e->uid = ++t->next_uid; /* new mappings, new pprof mapping keys */
		/* its samples go to a profile: load what they will need now
		 * rather than when the first of them asks */
		if (t->opts.wanted(t->opts.ctx, (uint32_t)e->pid))
			symbolizer__preload(t->opts.sym, snap);
	}
	account(t, e);
}

/* Who the process is, from what a worker read; then its labels. false
 * when relabeling drops it. */
static bool take_identity(struct proctable *t, struct proc_entry *e, const struct proc_info *info)
{
	memcpy(e->comm, info->comm, sizeof(e->comm));
	e->comm[sizeof(e->comm) - 1] = 0;
	memcpy(e->exe, info->exe, sizeof(e->exe));
	memcpy(e->build_id, info->build_id, sizeof(e->build_id));
	label_process(t, e);
	return !e->dropped;
}

static void proc_job_finish(struct proc_job *j)
{
	struct proctable *t = j->t;
	struct proc_entry *e = j->e;

	if (e) {
		e->job = NULL;
		e->refreshing = false;
	}
	if (!e || j->base.cancelled) {
		if (e)
			e->state = e->snap ? PROC_READY : PROC_FAILED;
		proc_info__free(j->info);
		free(j);
		return;
	}
	if (j->err == -ESTALE && j->start_stack != e->start_stack && !e->snap) {
		/* read against a stack top the exec event has corrected since
		 * (see track_process): again, with the right one */
		proc_info__free(j->info);
		free(j);
		submit_read(t, e);
		return;
	}
	if (j->err) {
		if (!e->snap) {
			e->state = PROC_FAILED;
			e->failed_ns = clock__mono_ns();
			t->stats.snapshots_failed++;
		} else {
			e->state = PROC_READY;
		}
		/* gone before it could be read: labeled with what is known
		 * (nothing), so relabeling still decides about its samples */
		if (j->kind == JOB_IDENTIFY || j->kind == JOB_READ)
			label_process(t, e);
		if (j->err == -ESTALE) {
			t->stats.exec_raced++;
			log_debug("failed to read process %d: it ran another image by then "
				  "(stack top %#" PRIx64 ", the sampler saw %#" PRIx64 ")", e->pid,
				  j->info ? j->info->stack_top : 0, j->start_stack);
		} else {
			log_debug("failed to read process %d: %s", e->pid, strerror(-j->err));
		}
		proc_info__free(j->info);
		free(j);
		return;
	}
	switch (j->kind) {
	case JOB_IDENTIFY:
	case JOB_READ:
		/* labels first: a process relabeling drops is never
		 * inspected (with JOB_READ, a reload brought a drop rule
		 * while it was read) */
		if (!take_identity(t, e, j->info)) {
			e->state = PROC_READY;
			break;
		}
		if (j->kind == JOB_IDENTIFY) {
			submit(t, e, JOB_INSPECT, TAKE_PTR(j->info));
			break;
		}
		install(t, e, j);
		e->state = PROC_READY;
		break;
	case JOB_INSPECT:
	case JOB_REREAD:
		install(t, e, j);
		e->state = PROC_READY;
		break;
	}
	proc_info__free(j->info);
	free(j);
}

static int attach(struct proctable *t, struct proc_entry *e, const struct sym_map_record *r)
{
	struct unwinder_mapping m = { .start = r->start, .end = r->end, .pgoff = r->pgoff,
				      .dev = r->dev, .ino = r->ino };

	return t->opts.unwinder ? unwinder__attach(t->opts.unwinder, (uint32_t)e->pid, e->image,
						   e->start_stack, &m)
				: -ENOENT;
}

/* A read of e completed (failed: it had failed, other than by an exec):
 * the recorded mappings it showed are forgotten; the others are attached
 * again (the read's table lacks them) or, when the process is gone, put
 * into its snapshot from the records. */
static void settle_recorded(struct proctable *t, struct proc_entry *e, bool failed)
{
	unsigned n = 0;

	for (unsigned i = 0; i < e->nrecorded; i++) {
		const struct sym_map_record *r = &e->recorded[i];
		struct proc_snapshot *snap;
		struct sym_ref ref;

		if (e->snap && proc_snapshot__resolve(e->snap, r->start, &ref) == 0)
			continue;
		if (!failed) {
			attach(t, e, r);
			e->recorded[n++] = *r;
			continue;
		}
		snap = symbolizer__snapshot_add(t->opts.sym, e->snap, e->pid, r);
		if (!snap) {
			log_debug("failed to add a mapping of process %d from its record: %s",
				  e->pid, strerror(errno));
			continue;
		}
		proc_snapshot__put(e->snap);
		e->snap = snap;
		e->uid = ++t->next_uid;
		e->state = PROC_READY;
		t->stats.snapshots_from_records++;
		log_debug("process %d: mapping %#" PRIx64 "-%#" PRIx64 " named from its record",
			  e->pid, r->start, r->end);
	}
	e->nrecorded = n;
	account(t, e);
}

static void proc_job_done(struct workq_job *base)
{
	struct proc_job *j = (struct proc_job *)base;
	struct proctable *t = j->t;
	struct proc_entry *e = j->e;
	bool failed = j->err && j->err != -ESTALE && !j->base.cancelled;

	proc_job_finish(j);
	if (e && !e->job && !e->dropped)
		settle_recorded(t, e, failed);
	/* mapped more while it was read: again (a failed read means it is
	 * gone, or exec'd: that image's own read follows) */
	if (e && e->remap && !e->job) {
		e->remap = false;
		if (e->state == PROC_READY && !e->dropped && !e->exit_drain) {
			t->stats.mapped_rereads++;
			e->mapped_ns = clock__mono_ns();
			submit(t, e, JOB_REREAD, NULL);
		}
	}
}

/* Queues a read of e on the FAST workers; with JOB_INSPECT, info (from
 * the identify step) goes with it. */
static void submit(struct proctable *t, struct proc_entry *e, enum proc_job_kind kind,
		   struct proc_info *info)
{
	struct proc_job *j = calloc(1, sizeof(*j));

	if (!j) {
		proc_info__free(info);
		e->state = e->snap ? PROC_READY : PROC_FAILED;
		return;
	}
	j->base.run = proc_job_run;
	j->base.done = proc_job_done;
	j->submit_ns = clock__mono_ns();
	j->base.what = kind == JOB_IDENTIFY ? "identifying a process" : "reading a process's mappings";
	j->t = t;
	j->e = e;
	j->kind = kind;
	j->pid = e->pid;
	j->start_stack = e->start_stack;
	/* Reads of processes younger than a second first: their code runs
	 * without tables until the read is done, and they may be gone soon
	 * (an exec flood then reads the newest first, as builds do). */
	j->base.urgent = j->submit_ns - e->born_ns < YOUNG_NS;
	j->info = info;
	e->job = j;
	e->refreshing = kind == JOB_REREAD;
	e->state = kind == JOB_IDENTIFY || kind == JOB_READ ? PROC_IDENTIFYING
		   : kind == JOB_INSPECT ? PROC_INSPECTING : e->state;
	if (workq__submit(t->opts.wq, WORKQ_FAST, &j->base) != 0) {
		/* the queue is full (a flood of new processes): this one stays
		 * unread; its frames are left as addresses */
		t->stats.unread++;
		e->job = NULL;
		e->refreshing = false;
		e->state = e->snap ? PROC_READY : PROC_FAILED;
		proc_info__free(j->info);
		free(j);
	}
}

/* Reads e on a worker: labels first when a rule may drop it (a dropped
 * process is never inspected), else both steps at once, sooner. */
static void submit_read(struct proctable *t, struct proc_entry *e)
{
	submit(t, e, proclabels__may_drop(t->opts.labeler) ? JOB_IDENTIFY : JOB_READ, NULL);
}

/* Its read failed, and nothing is reading it now. */
static bool read_failed(const struct proc_entry *e)
{
	return e->state == PROC_FAILED && !e->snap && !e->job && !e->dropped;
}

static bool entry_pending(const struct proc_entry *e)
{
	return e && (e->state == PROC_IDENTIFYING || e->state == PROC_INSPECTING);
}

/* ---- tracking ------------------------------------------------------------ */

/* A new (tgid, image): its entry, read on a worker from now on. NULL when
 * the table is full. start_stack: the image's stack top as the sampler saw
 * it, 0 if unknown; final: it comes from the exec event, after exec set it
 * for good. A sample taken inside execve sees the new image with its stack
 * top half set (setup_arg_pages sets it, then load_elf_binary moves it
 * past argv and auxv): the exec event that follows corrects it, and a read
 * that failed against the wrong one is done again. */
static struct proc_entry *track_process(struct proctable *t, uint32_t tgid, uint32_t image,
					 uint64_t start_stack, bool final)
{
	struct proc_entry *e = lookup(t, tgid, image);

	if (e) {
		if (start_stack && e->start_stack != start_stack && (final || !e->start_stack)) {
			e->start_stack = start_stack;
			if (read_failed(e))
				submit_read(t, e);
		}
		return e;
	}
	if (t->procs.len >= t->opts.max_processes || t->bytes >= t->opts.max_bytes) {
		t->stats.dropped++;
		return NULL;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->pid = (int)tgid;
	e->image = image;
	e->start_stack = start_stack;
	e->uid = ++t->next_uid;
	e->last_drain = t->drains;
	e->born_ns = clock__mono_ns();
	if (u64map_set(&t->procs, proc_key(tgid, image), (uintptr_t)e)) {
		free(e);
		return NULL;
	}
	/* without it, new mappings of this image are left to the slower
	 * paths */
	(void)u64map_set(&t->images, tgid, image);
	account(t, e);
	submit_read(t, e);
	return e;
}

/* Forget an image after the next drain: its last samples may still wait
 * in the kernel maps. An exited one waits for its reaping (EXIT_MAX_DRAINS). */
static void expire_image(struct proctable *t, uint32_t tgid, uint32_t image, bool exited)
{
	struct proc_entry *e = image ? lookup(t, tgid, image) : NULL;

	if (e && !e->exit_drain) {
		e->exit_drain = t->drains + 1;
		e->exited = exited;
	}
}

static void reload_uncovered(struct proctable *t, struct proc_entry *e)
{
	uint64_t now = clock__mono_ns();

	if (!t->opts.unwinder || e->state != PROC_READY || e->job || e->dropped ||
	    now - e->reload_ns < UNCOVERED_RELOAD_NS)
		return;
	e->reload_ns = now;
	submit(t, e, JOB_REREAD, NULL);
	t->stats.uncovered_reloads++;
}

void proctable__event(struct proctable *t, const struct profile_event *ev)
{
	struct proc_entry *e;

	switch (ev->type) {
	case PROFILE_EVENT_NEW_PROCESS:
	case PROFILE_EVENT_EXEC:
		if (ev->old_image != ev->image)
			expire_image(t, ev->tgid, ev->old_image, false);
		e = track_process(t, ev->tgid, ev->image, ev->start_stack,
				  ev->type == PROFILE_EVENT_EXEC);
		if (e && ev->type == PROFILE_EVENT_EXEC)
			adopt_orphans(t, e);
		break;
	case PROFILE_EVENT_EXIT:
		expire_image(t, ev->tgid, ev->image, true);
		break;
	case PROFILE_EVENT_UNCOVERED:
		e = lookup(t, ev->tgid, ev->image);
		if (e)
			reload_uncovered(t, e);
		break;
	default:
		break;
	}
}

/* A mapping a record reported for e: its table at once if the file has
 * one loaded, and remembered (see RECORDED_MAPS). */
static void note_mapping(struct proctable *t, struct proc_entry *e, const struct sym_map_record *r)
{
	int err = attach(t, e, r);

	if (e->nrecorded < RECORDED_MAPS)
		e->recorded[e->nrecorded++] = *r;
	if (!err)
		log_debug("process %d: mapping %#" PRIx64 " attached from its record %.2f ms "
			  "after it was tracked", e->pid, r->start,
			  (double)(clock__mono_ns() - e->born_ns) / 1e6);
}

/* A new image of tgid: the records read before its exec event. */
static void adopt_orphans(struct proctable *t, struct proc_entry *e)
{
	uint64_t now = clock__mono_ns();

	for (unsigned i = 0; i < ORPHANS; i++) {
		struct orphan *o = &t->orphans[i];

		if (o->tgid == (uint32_t)e->pid && now - o->ns < ORPHAN_NS) {
			note_mapping(t, e, &o->r);
			o->tgid = 0;
		}
	}
}

void proctable__mapped(struct proctable *t, const struct mmap_event *ev)
{
	struct sym_map_record r = { .start = ev->addr, .end = ev->addr + ev->len,
				    .pgoff = ev->pgoff, .dev = makedev(ev->maj, ev->min),
				    .ino = ev->ino };
	struct proc_entry *e = NULL;
	uint64_t image, now = clock__mono_ns();

	if (u64map_get(&t->images, ev->pid, &image))
		e = lookup(t, ev->pid, (uint32_t)image);
	if (!e) {
		t->orphans[t->orphan_next++ % ORPHANS] = (struct orphan){ ev->pid, now, r };
		return;
	}
	if (e->dropped)
		return;
	/* its code unwinds by its table from now if the file has one
	 * loaded; the read below checks the file and names it */
	note_mapping(t, e, &r);
	if (e->exit_drain && !e->job) {
		/* exited (the loop read its exit first): nothing to read,
		 * its snapshot takes the mapping from the record */
		settle_recorded(t, e, true);
		return;
	}
	if (e->job) {
		/* a read that has not started yet (or an identify, whose
		 * inspect follows) will see the new mapping */
		if (e->job->kind != JOB_IDENTIFY &&
		    __atomic_load_n(&e->job->started, __ATOMIC_ACQUIRE))
			e->remap = true;
		return;
	}
	if (now - e->born_ns >= YOUNG_NS && now - e->mapped_ns < MAPPED_REREAD_NS) {
		t->stats.mapped_throttled++;
		return;
	}
	e->mapped_ns = now;
	t->stats.mapped_rereads++;
	/* a failed read is tried again: it may have failed against an image
	 * just being set up */
	if (read_failed(e))
		submit_read(t, e);
	else
		submit(t, e, JOB_REREAD, NULL);
}

struct proc_entry *proctable__sampled(struct proctable *t, uint32_t tgid, uint32_t image)
{
	struct proc_entry *e = lookup(t, tgid, image);

	if (!e) /* its new-process event was lost, or it was forgotten */
		e = track_process(t, tgid, image, 0, false);
	if (e)
		e->last_drain = t->drains + 1;
	return e;
}

/* ---- reads its samples wait for ------------------------------------------ */

/* Whether an address of the user stack lies outside the snapshot; if so
 * (and not too often), the process's mappings are read again, and the
 * sample waits for them. */
static bool refresh_if_unmapped(struct proctable *t, struct proc_entry *e,
				const __u64 *ips, uint32_t len)
{
	struct sym_ref ref;
	bool unmapped = false;

	if (!e || !e->snap || !len || e->dropped)
		return false;
	if (e->job)
		return e->refreshing; /* a re-read is on its way */
	if (proc_snapshot__resolve(e->snap, ips[0], &ref) != 0) {
		/* The leaf pc is always a real one: a library mapped since
		 * the snapshot (dlopen). Re-read at most once a drain, so new
		 * code gets its tables within one drain interval. */
		if (e->refreshes && e->refresh_drain == t->drains)
			return false;
		unmapped = true;
	} else {
		if (e->refreshes && t->drains - e->refresh_drain < REFRESH_DRAINS)
			return false;
		for (uint32_t i = 1; i < len && i < PROFILE_MAX_DEPTH && !unmapped; i++)
			unmapped = proc_snapshot__resolve(e->snap, ips[i], &ref) != 0;
	}
	if (!unmapped)
		return false;
	e->refreshes++;
	e->refresh_drain = t->drains;
	t->stats.snapshots_refreshed++;
	e->reload_ns = clock__mono_ns();
	submit(t, e, JOB_REREAD, NULL);
	return e->job != NULL;
}

static bool retry_failed_read(struct proctable *t, struct proc_entry *e)
{
	if (!e || !read_failed(e) || e->retries >= READ_RETRIES ||
	    clock__mono_ns() - e->failed_ns < READ_RETRY_NS)
		return false;
	e->retries++;
	t->stats.read_retries++;
	submit_read(t, e);
	return entry_pending(e);
}

bool proctable__must_wait(struct proctable *t, struct proc_entry *e,
			  const struct stack_trace *ustack)
{
	return entry_pending(e) || retry_failed_read(t, e) ||
	       (ustack && refresh_if_unmapped(t, e, ustack->ips, ustack->len));
}

bool proctable__busy(const struct proc_entry *e)
{
	return entry_pending(e) || (e && e->refreshing);
}

void proctable__hold(struct proctable *t, struct proc_entry *e)
{
	if (!e)
		return;
	/* a profile waits for this process now: read it before the
	 * processes nothing waits for */
	if (++e->deferred == 1 && e->job)
		workq__promote(t->opts.wq, &e->job->base);
}

void proctable__release(struct proc_entry *e)
{
	if (e)
		e->deferred--;
}

/* ---- forgetting ------------------------------------------------------------ */

void proctable__drained(struct proctable *t)
{
	t->drains++;
}

static bool proc_exists(const struct proctable *t, int pid)
{
	char path[64];

	snprintf(path, sizeof(path), "%s/%d", t->opts.proc_root, pid);
	return access(path, F_OK) == 0;
}

/* See EXIT_MAX_DRAINS. */
static bool exited_gone(const struct proctable *t, struct proc_entry *e)
{
	if (e->reaped_drain)
		return e->reaped_drain < t->drains;
	if (t->drains >= e->exit_drain + EXIT_MAX_DRAINS)
		return true;
	if (!proc_exists(t, e->pid))
		e->reaped_drain = t->drains;
	return false;
}

static bool entry_gone(const struct proctable *t, struct proc_entry *e, bool check_stale)
{
	/* held-back samples and reads in flight still need it */
	if (e->deferred || e->job)
		return false;
	if (e->exit_drain && e->exit_drain <= t->drains)
		return !e->exited || exited_gone(t, e);
	if (!check_stale || e->last_drain + STALE_DRAINS >= t->drains)
		return false;
	return !proc_exists(t, e->pid);
}

/* Keys are collected first: deleting while walking the table would move
 * entries. */
size_t proctable__forget_dead(struct proctable *t)
{
	bool check_stale = t->drains % STALE_DRAINS == 0;
	uint64_t dead[256];
	size_t n, total = 0;

	do {
		n = 0;
		u64map_foreach(&t->procs, i) {
			if (n < ARRAY_SIZE(dead) &&
			    entry_gone(t, (struct proc_entry *)(uintptr_t)t->procs.values[i], check_stale))
				dead[n++] = t->procs.keys[i];
		}
		for (size_t i = 0; i < n; i++)
			forget_process(t, dead[i]);
		total += n;
	} while (n == ARRAY_SIZE(dead));
	return total;
}

/* ---- what the loop and the windows read of an entry ----------------------- */

const char *proctable__comm(const struct proc_entry *e)
{
	return e && e->comm[0] ? e->comm : NULL;
}

const char *proctable__exe(const struct proc_entry *e)
{
	return e && e->exe[0] ? e->exe : NULL;
}

const struct labels *proctable__labels(const struct proc_entry *e, uint64_t *hash)
{
	if (!e)
		return NULL;
	*hash = e->labels_hash;
	return &e->labels;
}

const struct proc_snapshot *proctable__snapshot(const struct proc_entry *e, uint64_t *uid)
{
	if (!e || !e->snap)
		return NULL;
	*uid = e->uid;
	return e->snap;
}

bool proctable__dropped(const struct proc_entry *e)
{
	return e && e->dropped;
}

/* ---- lifecycle ---------------------------------------------------------------- */

void proctable__stats(const struct proctable *t, struct proctable_stats *st)
{
	*st = t->stats;
	st->processes = t->procs.len;
	st->bytes = t->bytes;
}

int proctable__new(const struct proctable_opts *opts, struct proctable **out)
{
	struct proctable *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->opts = *opts;
	u64map_init(&t->procs);
	u64map_init(&t->images);
	*out = t;
	return 0;
}

void proctable__free(struct proctable *t)
{
	if (!t)
		return;
	u64map_foreach(&t->procs, i)
		proc_entry_free(t, (struct proc_entry *)(uintptr_t)t->procs.values[i]);
	u64map_release(&t->procs);
	u64map_release(&t->images);
	free(t);
}
