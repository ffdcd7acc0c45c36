#include "profiler.h"

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "labels/proclabels.h"
#include "bpf/sampler.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/macros.h"
#include "common/u64map.h"
#include "common/workq.h"
#include "symbolize/elf_object.h"
#include "symbolize/procinfo.h"
#include "symbolize/symbolizer.h"

#define MAX_INLINE 16
#define KERNEL_MAPPING_KEY UINT64_MAX
#define UNMAPPED_INDEX 0xfffffu
/* A process not sampled for this many drains is checked for existence and
 * forgotten if gone (its exit event may have been lost). */
#define STALE_DRAINS 60
/* Window slots: a held-back sample names the windows that want it in a
 * 64-bit mask. */
#define MAX_WINDOW_SLOTS 64
/* How long a sample may wait for its process's files to be read and its
 * objects loaded before it is added with what is known. Loads have their
 * own, longer caps; past this their samples are not held back. */
#define DEFER_MAX_NS 3000000000ull
/* malloc keeps freed memory for reuse; give it back to the system after
 * big frees, at most this often. */
#define TRIM_INTERVAL_NS 10000000000ull

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
	unsigned deferred;          /* held-back samples pointing here */
	uint64_t uid;               /* unique per snapshot, keys pprof mappings */
	uint64_t exit_drain;        /* 0: alive; else forget after this drain */
	uint64_t last_drain;        /* last drain that carried its samples */
	uint64_t refresh_drain;     /* drain of the last re-snapshot */
	uint64_t reload_ns;         /* last reload for an uncovered pc */
	uint64_t start_stack;       /* of its image, from the sampler; 0 unknown */
	uint64_t failed_ns;         /* when its last read failed */
	unsigned refreshes;
	unsigned retries;           /* reads again after a failed one */
	size_t bytes;               /* counted in profiler.proc_bytes */
	int pid;
	uint32_t image;
	char comm[PROFILE_COMM_LEN]; /* process name, "" if unreadable */
	char exe[PROC_INFO_EXE_LEN]; /* its executable as it sees it, "" if unknown */
	char build_id[ELF_BUILD_ID_HEX_MAX]; /* of exe, "" if unknown */
	struct labels labels;        /* after relabeling (agent/proclabels.h) */
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
	struct profiler *p;
	struct proc_entry *e;       /* NULL once the entry is gone */
	enum proc_job_kind kind;
	int pid;
	uint64_t start_stack;       /* the image meant, 0 if unknown */
	struct proc_info *info;
	int err;
};

/* One profile a window builds: the whole window, or one series (one
 * process label set) of it. */
struct wprof {
	struct pprof *pprof;
	bool named; /* its first mapping is chosen */
	struct labels labels;
};

struct window {
	struct profiler *p;
	struct window_opts o;
	unsigned slot;        /* index in profiler.slots */
	struct wprof whole;   /* the whole window, unless o.by_series (no labels) */
	struct wprof *series; /* o.by_series: one profile per label set */
	size_t nseries, cap_series;
	struct u64map series_index; /* labels hash -> index + 1 */
	int64_t time_nanos;   /* Unix start, for series profiles */
	bool started, ended, done;
	unsigned pending;     /* held-back samples it still waits for */
	size_t bytes;         /* its profiles' memory, counted in window_bytes */
	uint64_t start_ns, end_ns; /* CLOCK_MONOTONIC */
	struct window *successor; /* o.chain: the window that took over */
	uint64_t ended_ns;        /* CLOCK_MONOTONIC of the drain that ended it */
	struct window *next;
};

/* A sample held back until its process's files are read and its objects
 * loaded (or DEFER_MAX_NS passed). */
struct deferred {
	struct deferred *next;
	struct proc_entry *e;
	struct sample_key key;
	uint64_t count;
	uint64_t windows;   /* slots of the windows that want it */
	uint64_t since_ns;
	uint32_t ulen, klen;
	bool has_ustack, has_kstack;
	__u64 ips[];        /* ulen user frames, then klen kernel frames */
};

/* A snapshot taken at exec or at a process's first sample may predate
 * the libraries ld.so (or dlopen) maps later. A leaf pc outside every
 * mapping re-reads the mappings (and the unwind tables) at the next drain;
 * a caller address outside them at once the first time, then at most
 * every REFRESH_DRAINS drains, because broken frame-pointer chains also
 * produce such addresses and must not make us re-read /proc every drain. */
#define REFRESH_DRAINS 10

/* One drained frame, resolved and symbolized once and then added to every
 * window that wants its sample. */
struct frame {
	uint64_t mapping_key;
	struct pprof_mapping mapping;
	bool has_mapping;
	uint64_t address;
	size_t nlines;
	struct pprof_line lines[MAX_INLINE];
};

struct profiler {
	struct profiler_opts opts;
	struct sampler *sampler;
	struct workq *wq;
	struct symbolizer *sym;
	struct unwinder *unwinder; /* NULL: frame pointers only */
	struct proclabels *labeler;
	bool thread_labels;
	uint64_t labels_gen;       /* proclabels generation seen at the last drain */
	struct u64map procs; /* (tgid << 32 | image) -> struct proc_entry * */
	size_t proc_bytes;
	uint64_t next_uid;
	int epfd, wakefd;
	uint64_t next_drain_ns;
	uint64_t last_drain_ns; /* read by other threads (health) */
	uint64_t trim_ns;
	bool trim_wanted;

	pthread_mutex_t lock; /* windows list and stats */
	pthread_cond_t done_cond;
	struct window *windows;
	struct window *slots[MAX_WINDOW_SLOTS];
	size_t nwindows;
	size_t window_bytes;
	bool want_start; /* a window waits for its starting drain */
	bool stopping;   /* cancel_windows: chained windows end for good */

	struct deferred *deferred, **deferred_tail;
	size_t deferred_count, deferred_bytes;

	struct profiler_stats stats;
	struct frame frames[2 * PROFILE_MAX_DEPTH];
	uint64_t locs[2 * PROFILE_MAX_DEPTH * MAX_INLINE];
};

static uint64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t proc_key(uint32_t tgid, uint32_t image)
{
	return (uint64_t)tgid << 32 | image;
}

/* ---- the process table ------------------------------------------------ */

static size_t labels_bytes(const struct labels *ls)
{
	size_t n = ls->cap * sizeof(*ls->v);

	for (size_t i = 0; i < ls->n; i++)
		n += strlen(ls->v[i].name) + strlen(ls->v[i].value) + 2;
	return n;
}

/* What an entry holds, counted against max_process_bytes. */
static void account(struct profiler *p, struct proc_entry *e)
{
	size_t bytes = sizeof(*e) + labels_bytes(&e->labels) + proc_snapshot__bytes(e->snap);

	p->proc_bytes += bytes - e->bytes;
	e->bytes = bytes;
}

static void proc_entry_free(struct profiler *p, struct proc_entry *e)
{
	if (!e)
		return;
	if (e->job)
		e->job->e = NULL; /* it finds the entry gone when it completes */
	p->proc_bytes -= e->bytes;
	proc_snapshot__put(e->snap);
	labels__clear(&e->labels);
	free(e);
}

static void forget_process(struct profiler *p, uint64_t key)
{
	uint64_t v;

	if (p->unwinder)
		unwinder__forget_process(p->unwinder, (uint32_t)(key >> 32), (uint32_t)key);
	if (u64map_get(&p->procs, key, &v)) {
		struct proc_entry *e = (struct proc_entry *)(uintptr_t)v;

		if (e->dropped)
			sampler__set_dropped(p->sampler, (uint32_t)e->pid, e->image, false);
		proc_entry_free(p, e);
		u64map_del(&p->procs, key);
		p->trim_wanted = true;
	}
}

static void label_process(struct profiler *p, struct proc_entry *e);
static void submit_read(struct profiler *p, struct proc_entry *e);
static void submit(struct profiler *p, struct proc_entry *e, enum proc_job_kind kind,
		   struct proc_info *info);

/* A dropped process costs nothing from now on: its samples stop in BPF
 * and what was loaded for it goes. */
static void unload_process(struct profiler *p, struct proc_entry *e)
{
	if (p->unwinder)
		unwinder__forget_process(p->unwinder, (uint32_t)e->pid, e->image);
	proc_snapshot__put(e->snap);
	e->snap = NULL;
	account(p, e);
}

static void label_process(struct profiler *p, struct proc_entry *e)
{
	struct proc_identity id = {
		.pid = e->pid, .comm = e->comm, .exe = e->exe, .build_id = e->build_id,
	};
	struct proclabels_result res = { 0 };
	bool was_dropped = e->dropped;
	int err;

	e->labels_gen = proclabels__generation(p->labeler);
	err = proclabels__compute(p->labeler, &id, &res);
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
	account(p, e);
	if (e->dropped != was_dropped) {
		err = sampler__set_dropped(p->sampler, (uint32_t)e->pid, e->image, e->dropped);
		if (err)
			log_debug("failed to update the BPF drop filter for %d: %s", e->pid,
				  strerror(-err));
		p->stats.processes_relabel_dropped += e->dropped ? 1 : 0;
		if (e->dropped)
			unload_process(p, e);
		else if (e->state == PROC_READY && !e->job)
			/* kept again by a new configuration: read it now */
			submit(p, e, JOB_REREAD, NULL);
	}
}

/* After a SIGHUP or new Kubernetes data: label every process again. */
static void relabel_all(struct profiler *p)
{
	uint64_t gen = proclabels__generation(p->labeler);

	if (gen == p->labels_gen)
		return;
	p->labels_gen = gen;
	u64map_foreach(&p->procs, i) {
		struct proc_entry *e = (struct proc_entry *)(uintptr_t)p->procs.values[i];

		/* one still being identified is labeled when it is */
		if (e->labels_gen != gen && e->state != PROC_IDENTIFYING)
			label_process(p, e);
	}
}

/* ---- reading processes on workers --------------------------------------- */

static void proc_job_run(struct workq_job *base)
{
	struct proc_job *j = (struct proc_job *)base;

	switch (j->kind) {
	case JOB_IDENTIFY:
		j->err = proc_info__identify(j->p->opts.proc_root, j->pid, &j->info);
		break;
	case JOB_INSPECT:
		j->err = proc_info__inspect(j->info, NULL);
		break;
	case JOB_READ:
	case JOB_REREAD:
		j->err = proc_info__identify(j->p->opts.proc_root, j->pid, &j->info);
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
}

static uint64_t windows_wanting(const struct profiler *p, uint32_t tgid);

/* The mappings of a process have been read: snapshot and unwind tables. */
static void install(struct profiler *p, struct proc_entry *e, struct proc_info *info)
{
	struct proc_snapshot *snap;

	/* the unwinder dups the fds it needs; the symbolizer takes them */
	if (p->unwinder)
		unwinder__load(p->unwinder, (uint32_t)e->pid, e->image, info);
	snap = symbolizer__snapshot_from(p->sym, info);
	if (!snap) {
		if (!e->snap)
			p->stats.snapshots_failed++;
		log_debug("failed to snapshot process %d: %s", e->pid, strerror(errno));
	} else {
		/* samples already added copied their strings; held-back ones
		 * resolve against the new snapshot */
		proc_snapshot__put(e->snap);
		e->snap = snap;
		e->uid = ++p->next_uid; /* new mappings, new pprof mapping keys */
		/* its samples go to a profile: load what they will need now
		 * rather than when the first of them asks */
		if (windows_wanting(p, (uint32_t)e->pid))
			symbolizer__preload(p->sym, snap);
	}
	account(p, e);
}

/* Who the process is, from what a worker read; then its labels. false
 * when relabeling drops it. */
static bool take_identity(struct profiler *p, struct proc_entry *e, const struct proc_info *info)
{
	memcpy(e->comm, info->comm, sizeof(e->comm));
	e->comm[sizeof(e->comm) - 1] = 0;
	memcpy(e->exe, info->exe, sizeof(e->exe));
	memcpy(e->build_id, info->build_id, sizeof(e->build_id));
	label_process(p, e);
	return !e->dropped;
}

static void proc_job_done(struct workq_job *base)
{
	struct proc_job *j = (struct proc_job *)base;
	struct profiler *p = j->p;
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
		submit_read(p, e);
		return;
	}
	if (j->err) {
		if (!e->snap) {
			e->state = PROC_FAILED;
			e->failed_ns = now_ns(CLOCK_MONOTONIC);
			p->stats.snapshots_failed++;
		} else {
			e->state = PROC_READY;
		}
		/* gone before it could be read: labeled with what is known
		 * (nothing), so relabeling still decides about its samples */
		if (j->kind == JOB_IDENTIFY || j->kind == JOB_READ)
			label_process(p, e);
		if (j->err == -ESTALE) {
			p->stats.processes_exec_raced++;
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
		if (!take_identity(p, e, j->info)) {
			e->state = PROC_READY;
			break;
		}
		if (j->kind == JOB_IDENTIFY) {
			submit(p, e, JOB_INSPECT, TAKE_PTR(j->info));
			break;
		}
		install(p, e, j->info);
		e->state = PROC_READY;
		break;
	case JOB_INSPECT:
	case JOB_REREAD:
		install(p, e, j->info);
		e->state = PROC_READY;
		break;
	}
	proc_info__free(j->info);
	free(j);
}

/* Queues a read of e on the FAST workers; with JOB_INSPECT, info (from
 * the identify step) goes with it. */
static void submit(struct profiler *p, struct proc_entry *e, enum proc_job_kind kind,
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
	j->base.what = kind == JOB_IDENTIFY ? "identifying a process" : "reading a process's mappings";
	j->p = p;
	j->e = e;
	j->kind = kind;
	j->pid = e->pid;
	j->start_stack = e->start_stack;
	j->info = info;
	e->job = j;
	e->refreshing = kind == JOB_REREAD;
	e->state = kind == JOB_IDENTIFY || kind == JOB_READ ? PROC_IDENTIFYING
		   : kind == JOB_INSPECT ? PROC_INSPECTING : e->state;
	if (workq__submit(p->wq, WORKQ_FAST, &j->base) != 0) {
		/* the queue is full (a flood of new processes): this one stays
		 * unread; its frames are left as addresses */
		p->stats.processes_unread++;
		e->job = NULL;
		e->refreshing = false;
		e->state = e->snap ? PROC_READY : PROC_FAILED;
		proc_info__free(j->info);
		free(j);
	}
}

/* Reads e on a worker: labels first when a rule may drop it (a dropped
 * process is never inspected), else both steps at once, sooner. */
static void submit_read(struct profiler *p, struct proc_entry *e)
{
	submit(p, e, proclabels__may_drop(p->labeler) ? JOB_IDENTIFY : JOB_READ, NULL);
}

/* Its read failed, and nothing is reading it now. */
static bool read_failed(const struct proc_entry *e)
{
	return e->state == PROC_FAILED && !e->snap && !e->job && !e->dropped;
}

/* A new (tgid, image): its entry, read on a worker from now on. NULL when
 * the table is full. start_stack: the image's stack top as the sampler saw
 * it, 0 if unknown; final: it comes from the exec event, after exec set it
 * for good. A sample taken inside execve sees the new image with its stack
 * top half set (setup_arg_pages sets it, then load_elf_binary moves it
 * past argv and auxv): the exec event that follows corrects it, and a read
 * that failed against the wrong one is done again. */
static struct proc_entry *track_process(struct profiler *p, uint32_t tgid, uint32_t image,
					 uint64_t start_stack, bool final)
{
	uint64_t key = proc_key(tgid, image), v;
	struct proc_entry *e;

	if (u64map_get(&p->procs, key, &v)) {
		e = (struct proc_entry *)(uintptr_t)v;
		if (start_stack && e->start_stack != start_stack && (final || !e->start_stack)) {
			e->start_stack = start_stack;
			if (read_failed(e))
				submit_read(p, e);
		}
		return e;
	}
	if (p->procs.len >= p->opts.max_processes || p->proc_bytes >= p->opts.max_process_bytes) {
		p->stats.processes_dropped++;
		return NULL;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->pid = (int)tgid;
	e->image = image;
	e->start_stack = start_stack;
	e->uid = ++p->next_uid;
	e->last_drain = p->stats.drains;
	if (u64map_set(&p->procs, key, (uintptr_t)e)) {
		free(e);
		return NULL;
	}
	account(p, e);
	submit_read(p, e);
	return e;
}

/* Forget an image after the next drain: its last samples may still wait
 * in the kernel maps. */
static void expire_image(struct profiler *p, uint32_t tgid, uint32_t image)
{
	uint64_t v;

	if (image && u64map_get(&p->procs, proc_key(tgid, image), &v))
		((struct proc_entry *)(uintptr_t)v)->exit_drain = p->stats.drains + 1;
}

/* New code in a process (a library just mapped): read its mappings and
 * load its unwind tables now, not at the next drain, at most every
 * UNCOVERED_RELOAD_NS per process (the sampler keeps reporting until the
 * tables are in). */
#define UNCOVERED_RELOAD_NS 100000000ull

static void reload_uncovered(struct profiler *p, struct proc_entry *e)
{
	uint64_t now = now_ns(CLOCK_MONOTONIC);

	if (!p->unwinder || e->state != PROC_READY || e->job || e->dropped ||
	    now - e->reload_ns < UNCOVERED_RELOAD_NS)
		return;
	e->reload_ns = now;
	submit(p, e, JOB_REREAD, NULL);
	p->stats.uncovered_reloads++;
}

static void on_event(void *ctx, const struct profile_event *ev)
{
	struct profiler *p = ctx;
	uint64_t v;

	switch (ev->type) {
	case PROFILE_EVENT_NEW_PROCESS:
	case PROFILE_EVENT_EXEC:
		if (ev->old_image != ev->image)
			expire_image(p, ev->tgid, ev->old_image);
		track_process(p, ev->tgid, ev->image, ev->start_stack,
			      ev->type == PROFILE_EVENT_EXEC);
		break;
	case PROFILE_EVENT_EXIT:
		expire_image(p, ev->tgid, ev->image);
		break;
	case PROFILE_EVENT_UNCOVERED:
		if (u64map_get(&p->procs, proc_key(ev->tgid, ev->image), &v))
			reload_uncovered(p, (struct proc_entry *)(uintptr_t)v);
		break;
	default:
		break;
	}
}

/* Whether an address of the user stack lies outside the snapshot; if so
 * (and not too often), the process's mappings are read again, and the
 * sample waits for them. */
static bool refresh_if_unmapped(struct profiler *p, struct proc_entry *e,
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
		if (e->refreshes && e->refresh_drain == p->stats.drains)
			return false;
		unmapped = true;
	} else {
		if (e->refreshes && p->stats.drains - e->refresh_drain < REFRESH_DRAINS)
			return false;
		for (uint32_t i = 1; i < len && i < PROFILE_MAX_DEPTH && !unmapped; i++)
			unmapped = proc_snapshot__resolve(e->snap, ips[i], &ref) != 0;
	}
	if (!unmapped)
		return false;
	e->refreshes++;
	e->refresh_drain = p->stats.drains;
	p->stats.snapshots_refreshed++;
	e->reload_ns = now_ns(CLOCK_MONOTONIC);
	submit(p, e, JOB_REREAD, NULL);
	return e->job != NULL;
}

/* ---- frames ----------------------------------------------------------- */

/* Resolves one user frame; -EAGAIN while its object loads (force: then
 * it stays an address). */
static int resolve_user(struct profiler *p, struct proc_entry *e, uint64_t ip, bool caller,
			bool force, struct frame *f)
{
	struct sym_line lines[MAX_INLINE];
	struct sym_ref ref;
	int n;

	f->address = ip;
	f->nlines = 0;
	f->has_mapping = false;
	if (!e || !e->snap || proc_snapshot__resolve(e->snap, ip, &ref))
		return 0;
	/* A caller's address is a return address, one past the call: look up
	 * the call instruction so lines and inlining describe the call site. */
	if (caller)
		ref.addr = ip - 1;
	n = symbolizer__user(p->sym, &ref, lines, MAX_INLINE);
	if (n == -EAGAIN && !force)
		return -EAGAIN;
	f->has_mapping = true;
	f->mapping_key = e->uid << 20 | (ref.map_index & UNMAPPED_INDEX);
	f->mapping = (struct pprof_mapping){
		.memory_start = ref.mapping->start,
		.memory_limit = ref.mapping->limit,
		.file_offset = ref.mapping->file_offset,
		.filename = ref.mapping->filename,
		.build_id = ref.mapping->build_id,
		.has_functions = ref.mapping->has_symbols,
		.has_filenames = ref.mapping->has_lines,
		.has_line_numbers = ref.mapping->has_lines,
		.has_inline_frames = ref.mapping->has_inlines,
	};
	for (int i = 0; i < n; i++)
		f->lines[i] = (struct pprof_line){ lines[i].function, lines[i].file, lines[i].line };
	f->nlines = (size_t)MAX(n, 0);
	return 0;
}

static void resolve_kernel(struct profiler *p, uint64_t ip, bool caller, struct frame *f)
{
	struct sym_line lines[MAX_INLINE];
	int n;

	f->address = ip;
	f->has_mapping = true;
	f->mapping_key = KERNEL_MAPPING_KEY;
	f->mapping = (struct pprof_mapping){
		.filename = "[kernel.kallsyms]",
		.build_id = "",
		.has_functions = true,
		.is_kernel = true,
	};
	n = symbolizer__kernel(p->sym, caller ? ip - 1 : ip, lines, MAX_INLINE);
	for (int i = 0; i < n; i++)
		f->lines[i] = (struct pprof_line){ lines[i].function, NULL, 0 };
	f->nlines = (size_t)MAX(n, 0);
	if (!n)
		f->mapping.has_functions = false;
}

/* The windows that want a sample of tgid now, as a slot mask. */
static uint64_t windows_wanting(const struct profiler *p, uint32_t tgid)
{
	uint64_t mask = 0;

	for (const struct window *w = p->windows; w; w = w->next)
		if (w->started && !w->ended && (w->o.pid < 0 || (uint32_t)w->o.pid == tgid))
			mask |= 1ull << w->slot;
	return mask;
}

static struct pprof *new_pprof(struct window *w)
{
	struct pprof_opts po = {
		.period_ns = 1000000000ull / w->p->opts.frequency,
		.time_nanos = w->time_nanos,
		.duration_nanos = (int64_t)w->o.seconds * 1000000000ll,
	};

	return pprof__new(&po);
}

/* The profile of a series window for a process's label set, created on
 * its first sample. NULL on allocation failure (the sample is lost). */
static struct wprof *series_of(struct window *w, const struct proc_entry *e)
{
	static const struct labels none;
	const struct labels *ls = e ? &e->labels : &none;
	uint64_t h = e ? e->labels_hash : labels__hash(&none), v;
	struct wprof *sp;

	/* equal hashes of different sets are as unlikely as for any 64-bit
	 * hash; checking keeps two processes' samples apart regardless */
	if (u64map_get(&w->series_index, h, &v)) {
		if (labels__equal(&w->series[v - 1].labels, ls))
			return &w->series[v - 1];
		for (size_t i = 0; i < w->nseries; i++) /* a hash collision */
			if (labels__equal(&w->series[i].labels, ls))
				return &w->series[i];
	}
	if (w->nseries == w->cap_series) {
		size_t cap = w->cap_series ? w->cap_series * 2 : 16;
		struct wprof *ns = realloc(w->series, cap * sizeof(*ns));

		if (!ns)
			return NULL;
		w->series = ns;
		w->cap_series = cap;
	}
	sp = &w->series[w->nseries];
	*sp = (struct wprof){ 0 };
	if (labels__copy(&sp->labels, ls) || !(sp->pprof = new_pprof(w))) {
		labels__clear(&sp->labels);
		return NULL;
	}
	/* on a collision the first set keeps the index; the other's samples
	 * still get their own profile, found by the walk above next time */
	if (!u64map_get(&w->series_index, h, &v))
		u64map_set(&w->series_index, h, w->nseries + 1);
	w->nseries++;
	return sp;
}

/* The profile a sample of e goes to in w. */
static struct wprof *wprof_of(struct window *w, const struct proc_entry *e)
{
	return w->o.by_series ? series_of(w, e) : &w->whole;
}

/* Sample labels: in a series profile only the thread; in a whole-window
 * profile also the process's labels (so -tagfocus can pick a process). */
static size_t sample_labels(const struct profiler *p, const struct window *w,
			    const struct sample_key *key, const struct proc_entry *e,
			    const char *comm, struct pprof_label *labels, size_t max)
{
	size_t n = 0;

	if (p->thread_labels) {
		labels[n++] = (struct pprof_label){ .key = "thread_id", .num = key->tid };
		labels[n++] = (struct pprof_label){ .key = "thread_name", .str = key->thread_comm };
	}
	if (w->o.by_series)
		return n;
	labels[n++] = (struct pprof_label){ .key = "pid", .num = key->tgid };
	if (!e || !labels__get(&e->labels, "comm"))
		labels[n++] = (struct pprof_label){ .key = "comm", .str = comm };
	for (size_t i = 0; e && i < e->labels.n && n < max; i++) {
		if (!strcmp(e->labels.v[i].name, "pid"))
			continue; /* a number above */
		labels[n++] = (struct pprof_label){ .key = e->labels.v[i].name,
						    .str = e->labels.v[i].value };
	}
	return n;
}

/* Adds one resolved sample to w, unless the windows' memory bound is
 * reached (then it is counted as dropped). */
static void add_to_window(struct profiler *p, struct window *w, const struct sample_key *key,
			  const struct proc_entry *e, const char *comm, uint64_t count,
			  const struct frame *frames, size_t nframes, uint64_t *locs)
{
	struct pprof_label labels[PPROF_MAX_LABELS];
	const char *exe = e && e->exe[0] ? e->exe : NULL;
	struct wprof *wp;
	size_t nlocs = 0, nlabels, before;

	if (p->window_bytes >= p->opts.max_window_bytes) {
		p->stats.window_samples_dropped += count;
		return;
	}
	wp = wprof_of(w, e);
	if (!wp)
		return;
	before = pprof__bytes(wp->pprof);
	/* Readers name a profile after its first mapping (go tool pprof's
	 * "File:"): let it be the main executable of the first sample that
	 * has a frame in it. */
	for (size_t i = 0; !wp->named && exe && i < nframes; i++) {
		if (frames[i].has_mapping && frames[i].mapping.filename &&
		    !strcmp(frames[i].mapping.filename, exe)) {
			pprof__mapping(wp->pprof, frames[i].mapping_key, &frames[i].mapping);
			wp->named = true;
		}
	}
	/* pprof wants leaf first: kernel frames (leaf part) come first in
	 * frames[], then user frames, each already leaf first. */
	for (size_t i = 0; i < nframes; i++) {
		const struct frame *f = &frames[i];
		uint64_t mid = 0, loc;

		if (f->has_mapping) {
			mid = pprof__mapping(wp->pprof, f->mapping_key, &f->mapping);
			if (!mid)
				goto out;
		}
		loc = pprof__location(wp->pprof, mid, f->address, f->lines, f->nlines);
		if (!loc)
			goto out;
		locs[nlocs++] = loc;
	}
	nlabels = sample_labels(p, w, key, e, comm, labels, ARRAY_SIZE(labels));
	pprof__add_sample(wp->pprof, locs, nlocs, (int64_t)count, labels, nlabels);
out:
	{
		size_t after = pprof__bytes(wp->pprof);

		w->bytes += after - before;
		p->window_bytes += after - before;
	}
}

/* Resolves a sample's frames into p->frames: the kernel part (the leaf
 * end) first, then the user part. -EAGAIN when a user frame's object is
 * still loading, unless force. */
static int resolve_sample(struct profiler *p, struct proc_entry *e, const __u64 *uips,
			  uint32_t ulen, const __u64 *kips, uint32_t klen, bool force,
			  size_t *nframes)
{
	size_t n = 0;

	for (uint32_t i = 0; i < klen && i < PROFILE_MAX_DEPTH; i++)
		resolve_kernel(p, kips[i], i > 0, &p->frames[n++]);
	for (uint32_t i = 0; i < ulen && i < PROFILE_MAX_DEPTH; i++)
		if (resolve_user(p, e, uips[i], i > 0, force, &p->frames[n++]) == -EAGAIN)
			return -EAGAIN;
	*nframes = n;
	return 0;
}

static void add_resolved(struct profiler *p, uint64_t windows, const struct sample_key *key,
			 struct proc_entry *e, uint64_t count, size_t nframes)
{
	/* a process we could not read keeps its thread's name */
	const char *comm = e && e->comm[0] ? e->comm : key->thread_comm;

	for (unsigned s = 0; s < MAX_WINDOW_SLOTS; s++)
		if ((windows >> s & 1) && p->slots[s])
			add_to_window(p, p->slots[s], key, e, comm, count, p->frames, nframes,
				      p->locs);
}

static bool entry_pending(const struct proc_entry *e)
{
	return e && (e->state == PROC_IDENTIFYING || e->state == PROC_INSPECTING);
}

/* Holds a sample back until what it needs is read and loaded. false when
 * the bound on held-back samples is reached (the caller adds it now). */
static bool defer(struct profiler *p, uint64_t windows, const struct sample_key *key,
		  struct proc_entry *e, uint64_t count, const struct stack_trace *ustack,
		  const struct stack_trace *kstack)
{
	uint32_t ulen = ustack ? MIN(ustack->len, (uint32_t)PROFILE_MAX_DEPTH) : 0;
	uint32_t klen = kstack ? MIN(kstack->len, (uint32_t)PROFILE_MAX_DEPTH) : 0;
	size_t size = sizeof(struct deferred) + (ulen + klen) * sizeof(__u64);
	struct deferred *d;

	if (p->deferred_bytes + size > p->opts.max_deferred_bytes)
		return false;
	d = malloc(size);
	if (!d)
		return false;
	*d = (struct deferred){
		.e = e, .key = *key, .count = count, .windows = windows,
		.since_ns = now_ns(CLOCK_MONOTONIC), .ulen = ulen, .klen = klen,
		.has_ustack = ustack != NULL, .has_kstack = kstack != NULL,
	};
	if (ulen)
		memcpy(d->ips, ustack->ips, ulen * sizeof(__u64));
	if (klen)
		memcpy(d->ips + ulen, kstack->ips, klen * sizeof(__u64));
	*p->deferred_tail = d;
	p->deferred_tail = &d->next;
	p->deferred_count++;
	p->deferred_bytes += size;
	if (e)
		e->deferred++;
	for (unsigned s = 0; s < MAX_WINDOW_SLOTS; s++)
		if ((windows >> s & 1) && p->slots[s])
			p->slots[s]->pending++;
	p->stats.samples_deferred += count;
	return true;
}

static void finish_ended_windows(struct profiler *p)
{
	bool any = false;

	for (struct window *w = p->windows; w; w = w->next) {
		if (w->ended && !w->done && !w->pending) {
			w->done = true;
			any = true;
		}
	}
	if (any)
		pthread_cond_broadcast(&p->done_cond);
}

/* Adds the held-back samples whose process and objects are ready, and
 * those that waited long enough (or all, with force) with what is known. */
static void retry_deferred(struct profiler *p, bool force)
{
	uint64_t now = now_ns(CLOCK_MONOTONIC);
	struct deferred **pp = &p->deferred;

	while (*pp) {
		struct deferred *d = *pp;
		bool late = force || now - d->since_ns >= DEFER_MAX_NS;
		size_t nframes = 0;

		bool dropped = d->e && d->e->dropped;

		if (!dropped &&
		    ((!late && (entry_pending(d->e) || (d->e && d->e->refreshing))) ||
		     resolve_sample(p, d->e, d->ips, d->ulen, d->ips + d->ulen, d->klen, late,
				    &nframes) == -EAGAIN)) {
			pp = &d->next;
			continue;
		}
		if (d->e && d->e->dropped)
			/* identified meanwhile as a process relabeling drops */
			p->stats.samples_relabel_dropped += d->count;
		else if (late)
			p->stats.samples_deferred_late += d->count;
		if (!d->e || !d->e->dropped)
			add_resolved(p, d->windows, &d->key, d->e, d->count, nframes);
		for (unsigned s = 0; s < MAX_WINDOW_SLOTS; s++)
			if ((d->windows >> s & 1) && p->slots[s] && p->slots[s]->pending)
				p->slots[s]->pending--;
		if (d->e)
			d->e->deferred--;
		*pp = d->next;
		if (p->deferred_tail == &d->next)
			p->deferred_tail = pp;
		p->deferred_count--;
		p->deferred_bytes -= sizeof(*d) + (d->ulen + d->klen) * sizeof(__u64);
		free(d);
	}
	finish_ended_windows(p);
}

/* A process whose read failed, yet whose samples a profile wants: read
 * it again, a few times, spaced out. A read can fail for a moment (a
 * race with exec, a full queue, files being replaced) and the process
 * lives on; without this every later sample of it would stay an address. */
#define READ_RETRIES 3
#define READ_RETRY_NS 250000000ull

static bool retry_failed_read(struct profiler *p, struct proc_entry *e)
{
	if (!e || !read_failed(e) || e->retries >= READ_RETRIES ||
	    now_ns(CLOCK_MONOTONIC) - e->failed_ns < READ_RETRY_NS)
		return false;
	e->retries++;
	p->stats.process_read_retries++;
	submit_read(p, e);
	return entry_pending(e);
}

static void on_sample(void *ctx, const struct sample_key *key, uint64_t count,
		      const struct stack_trace *ustack, const struct stack_trace *kstack)
{
	struct profiler *p = ctx;
	struct proc_entry *e = NULL;
	uint64_t windows, v;
	size_t nframes = 0;
	bool pending;

	p->stats.samples_drained += count;
	windows = windows_wanting(p, key->tgid);
	if (!windows)
		return;

	if (u64map_get(&p->procs, proc_key(key->tgid, key->image), &v))
		e = (struct proc_entry *)(uintptr_t)v;
	else /* its new-process event was lost, or it was forgotten */
		e = track_process(p, key->tgid, key->image, 0, false);
	if (e)
		e->last_drain = p->stats.drains + 1;
	if (e && e->dropped) {
		/* sampled before the BPF filter knew: discarded unsymbolized */
		p->stats.samples_relabel_dropped += count;
		return;
	}
	pending = entry_pending(e) || retry_failed_read(p, e) ||
		  (ustack && refresh_if_unmapped(p, e, ustack->ips, ustack->len));
	if (!pending &&
	    resolve_sample(p, e, ustack ? ustack->ips : NULL, ustack ? ustack->len : 0,
			   kstack ? kstack->ips : NULL, kstack ? kstack->len : 0, false,
			   &nframes) == 0) {
		add_resolved(p, windows, key, e, count, nframes);
		return;
	}
	if (defer(p, windows, key, e, count, ustack, kstack)) {
		/* a profile waits for this process now: read it before the
		 * processes nothing waits for */
		if (e && e->job && e->deferred == 1)
			workq__promote(p->wq, &e->job->base);
		return;
	}
	/* too many held back: now, with what is known */
	p->stats.samples_deferred_late += count;
	resolve_sample(p, e, ustack ? ustack->ips : NULL, ustack ? ustack->len : 0,
		       kstack ? kstack->ips : NULL, kstack ? kstack->len : 0, true, &nframes);
	add_resolved(p, windows, key, e, count, nframes);
}

/* ---- windows ---------------------------------------------------------- */

static void start_window(struct window *w, uint64_t mono)
{
	w->time_nanos = (int64_t)now_ns(CLOCK_REALTIME);
	w->started = true;
	w->start_ns = mono;
	w->end_ns = mono + (uint64_t)w->o.seconds * 1000000000ull;
	if (w->o.by_series)
		return; /* profiles come with their series */
	w->whole.pprof = new_pprof(w);
	if (!w->whole.pprof) {
		log_error("failed to allocate a profile: %s", strerror(errno));
		w->ended = w->done = true;
	}
}

static void window_set_duration(struct window *w, int64_t ns)
{
	if (w->whole.pprof)
		pprof__set_duration(w->whole.pprof, ns);
	for (size_t i = 0; i < w->nseries; i++)
		pprof__set_duration(w->series[i].pprof, ns);
}

static bool entry_gone(struct profiler *p, const struct proc_entry *e, bool check_stale)
{
	char path[64];

	/* held-back samples and reads in flight still need it */
	if (e->deferred || e->job)
		return false;
	if (e->exit_drain && e->exit_drain <= p->stats.drains)
		return true;
	if (!check_stale || e->last_drain + STALE_DRAINS >= p->stats.drains)
		return false;
	snprintf(path, sizeof(path), "%s/%d", p->opts.proc_root, e->pid);
	return access(path, F_OK) != 0;
}

/* Forgets processes whose last samples have been drained. Keys are
 * collected first: deleting while walking the table would move entries. */
static void forget_dead(struct profiler *p)
{
	bool check_stale = p->stats.drains % STALE_DRAINS == 0;
	uint64_t dead[256];
	size_t n;

	do {
		n = 0;
		u64map_foreach(&p->procs, i) {
			if (n < ARRAY_SIZE(dead) &&
			    entry_gone(p, (struct proc_entry *)(uintptr_t)p->procs.values[i], check_stale))
				dead[n++] = p->procs.keys[i];
		}
		for (size_t i = 0; i < n; i++)
			forget_process(p, dead[i]);
	} while (n == ARRAY_SIZE(dead));
}

static struct window *window_alloc(struct profiler *p, const struct window_opts *o)
{
	struct window *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->p = p;
	w->o = *o;
	u64map_init(&w->series_index);
	return w;
}

/* Gives w a slot and puts it on the list; false when every slot is
 * taken. Called under the lock. */
static bool window_link(struct profiler *p, struct window *w)
{
	for (unsigned s = 0; s < MAX_WINDOW_SLOTS; s++) {
		if (!p->slots[s]) {
			p->slots[s] = w;
			w->slot = s;
			w->next = p->windows;
			p->windows = w;
			p->nwindows++;
			return true;
		}
	}
	return false;
}

/* A chained window hands over at the very drain that ends it, so the
 * successor's span starts where this one's ended: no sample falls between
 * two upload windows. Called under the lock. */
static void chain_window(struct profiler *p, struct window *w, uint64_t mono)
{
	struct window *n;

	if (!w->o.chain || p->stopping)
		return;
	n = window_alloc(p, &w->o);
	if (!n || !window_link(p, n)) {
		free(n);
		log_error("failed to continue a profile window: out of memory");
		return;
	}
	start_window(n, mono);
	w->successor = n;
}

static void maybe_trim(struct profiler *p)
{
	uint64_t now = now_ns(CLOCK_MONOTONIC);

	/* freed windows, processes and loads leave malloc's arenas holding
	 * memory the agent no longer uses */
	if (p->trim_wanted && now - p->trim_ns >= TRIM_INTERVAL_NS) {
		p->trim_wanted = false;
		p->trim_ns = now;
		malloc_trim(0);
	}
}

static int drain(struct profiler *p)
{
	uint64_t mono;
	struct window *w;
	int err;

	pthread_mutex_lock(&p->lock);
	relabel_all(p);
	err = sampler__drain(p->sampler, on_sample, p);
	p->stats.drains++;
	mono = now_ns(CLOCK_MONOTONIC);
	for (w = p->windows; w; w = w->next) {
		if (!w->started) {
			start_window(w, mono);
		} else if (!w->ended && mono + 1000000 >= w->end_ns) {
			w->ended = true;
			w->ended_ns = mono;
			chain_window(p, w, mono);
			/* what it really covers: ended early (Ctrl-C), or a drain
			 * some ms past its deadline, which a chained successor
			 * starts from */
			window_set_duration(w, (int64_t)(mono - w->start_ns));
		}
	}
	p->want_start = false;
	retry_deferred(p, false);
	forget_dead(p);
	symbolizer__tick(p->sym);
	maybe_trim(p);
	pthread_mutex_unlock(&p->lock);
	p->next_drain_ns = mono + (uint64_t)p->opts.drain_interval_ms * 1000000ull;
	if (!err)
		__atomic_store_n(&p->last_drain_ns, mono, __ATOMIC_RELAXED);
	return err;
}

int profiler__health(struct profiler *p, char *msg, size_t len)
{
	uint64_t last = __atomic_load_n(&p->last_drain_ns, __ATOMIC_RELAXED);
	uint64_t now = now_ns(CLOCK_MONOTONIC), limit;

	/* Drains run every interval whatever the load: ten missed in a row
	 * means the loop is stuck or the sampler keeps failing. */
	limit = 10ull * p->opts.drain_interval_ms * 1000000ull;
	if (last && now - last > limit) {
		snprintf(msg, len, "sampling loop stalled: last drain %.1f s ago",
			 (double)(now - last) / 1e9);
		return -ETIMEDOUT;
	}
	return 0;
}

static uint64_t next_deadline(struct profiler *p)
{
	uint64_t d = p->next_drain_ns;

	pthread_mutex_lock(&p->lock);
	for (struct window *w = p->windows; w; w = w->next) {
		if (!w->started)
			d = 0;
		else if (!w->ended && w->end_ns < d)
			d = w->end_ns;
	}
	/* held-back samples are added when they have waited long enough */
	if (p->deferred && p->deferred->since_ns + DEFER_MAX_NS < d)
		d = p->deferred->since_ns + DEFER_MAX_NS;
	pthread_mutex_unlock(&p->lock);
	return d;
}

int profiler__step(struct profiler *p, int max_wait_ms)
{
	struct epoll_event evs[4];
	uint64_t deadline = next_deadline(p), mono = now_ns(CLOCK_MONOTONIC);
	int timeout = 0, n;
	size_t completed;

	if (deadline > mono)
		timeout = (int)MIN((deadline - mono + 999999) / 1000000, (uint64_t)max_wait_ms);
	n = epoll_wait(p->epfd, evs, ARRAY_SIZE(evs), timeout);
	if (n < 0 && errno != EINTR)
		return -errno;
	for (int i = 0; i < n; i++) {
		if (evs[i].data.fd == p->wakefd) {
			uint64_t junk;

			if (read(p->wakefd, &junk, sizeof(junk)) < 0 && errno != EAGAIN)
				return -errno;
		}
	}
	/* Events and completed reads touch the process table and the
	 * symbolizer, which stats readers on other threads look at under
	 * the same lock. */
	pthread_mutex_lock(&p->lock);
	sampler__consume_events(p->sampler);
	completed = workq__complete(p->wq);
	/* loads and builds free what they held on their way */
	if (completed)
		p->trim_wanted = true;
	if (completed || (p->deferred && now_ns(CLOCK_MONOTONIC) >=
					   p->deferred->since_ns + DEFER_MAX_NS))
		retry_deferred(p, false);
	pthread_mutex_unlock(&p->lock);
	if (now_ns(CLOCK_MONOTONIC) >= next_deadline(p))
		return drain(p);
	return 0;
}

int profiler__window_open(struct profiler *p, const struct window_opts *o, struct window **out)
{
	struct window *w;
	uint64_t one = 1;

	if (!o->seconds)
		return -EINVAL;
	if (o->pid >= 0) {
		char path[64];

		snprintf(path, sizeof(path), "%s/%d", p->opts.proc_root, o->pid);
		if (access(path, F_OK) != 0)
			return -ESRCH;
		if (p->opts.target_tgid && (uint32_t)o->pid != p->opts.target_tgid)
			return -ESRCH;
	}
	w = window_alloc(p, o);
	if (!w)
		return -ENOMEM;
	pthread_mutex_lock(&p->lock);
	if (p->nwindows >= p->opts.max_windows || !window_link(p, w)) {
		pthread_mutex_unlock(&p->lock);
		free(w);
		return -EBUSY;
	}
	p->want_start = true;
	pthread_mutex_unlock(&p->lock);
	/* The loop drains at once so the window starts now, not up to one
	 * drain interval later. */
	if (write(p->wakefd, &one, sizeof(one)) < 0)
		log_debug("failed to wake the profiler loop: %s", strerror(errno));
	*out = w;
	return 0;
}

bool window__done(struct window *w)
{
	bool done;

	pthread_mutex_lock(&w->p->lock);
	done = w->done;
	pthread_mutex_unlock(&w->p->lock);
	return done;
}

void window__wait(struct window *w)
{
	pthread_mutex_lock(&w->p->lock);
	while (!w->done)
		pthread_cond_wait(&w->p->done_cond, &w->p->lock);
	pthread_mutex_unlock(&w->p->lock);
}

struct pprof *window__pprof(struct window *w)
{
	return w->whole.pprof;
}

size_t window__nseries(struct window *w)
{
	return w->nseries;
}

struct pprof *window__series(struct window *w, size_t i, const struct labels **labels)
{
	if (i >= w->nseries)
		return NULL;
	*labels = &w->series[i].labels;
	return w->series[i].pprof;
}

int64_t window__start_unix_ns(struct window *w)
{
	return w->time_nanos;
}

int64_t window__duration_ns(struct window *w)
{
	return (int64_t)(w->ended_ns - w->start_ns);
}

struct window *window__successor(struct window *w)
{
	struct window *n;

	pthread_mutex_lock(&w->p->lock);
	n = w->successor;
	pthread_mutex_unlock(&w->p->lock);
	return n;
}

void window__close(struct window *w)
{
	struct profiler *p;

	if (!w)
		return;
	p = w->p;
	pthread_mutex_lock(&p->lock);
	for (struct window **pp = &p->windows; *pp; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			p->nwindows--;
			break;
		}
	}
	if (p->slots[w->slot] == w)
		p->slots[w->slot] = NULL;
	/* held-back samples no longer go to it */
	for (struct deferred *d = p->deferred; d; d = d->next)
		d->windows &= ~(1ull << w->slot);
	p->window_bytes -= MIN(w->bytes, p->window_bytes);
	p->trim_wanted = true;
	pthread_mutex_unlock(&p->lock);
	pprof__free(w->whole.pprof);
	for (size_t i = 0; i < w->nseries; i++) {
		pprof__free(w->series[i].pprof);
		labels__clear(&w->series[i].labels);
	}
	free(w->series);
	u64map_release(&w->series_index);
	free(w);
}

void profiler__finish_window(struct profiler *p, struct window *w)
{
	pthread_mutex_lock(&p->lock);
	if (w->started) {
		w->end_ns = 0; /* due now: the next step drains and ends it */
	}
	pthread_mutex_unlock(&p->lock);
}

void profiler__cancel_windows(struct profiler *p)
{
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	uint64_t mono = now_ns(CLOCK_MONOTONIC);

	/* what is held back goes in with what is known now */
	retry_deferred(p, true);
	for (struct window *w = p->windows; w; w = w->next) {
		if (!w->started)
			start_window(w, mono);
		if (!w->ended) {
			window_set_duration(w, (int64_t)(mono - w->start_ns));
			w->ended_ns = mono;
		}
		w->ended = w->done = true;
	}
	pthread_cond_broadcast(&p->done_cond);
	pthread_mutex_unlock(&p->lock);
}

void profiler__stats(struct profiler *p, struct profiler_stats *st)
{
	pthread_mutex_lock(&p->lock);
	*st = p->stats;
	st->processes = p->procs.len;
	st->max_processes = p->opts.max_processes;
	st->process_bytes = p->proc_bytes;
	st->max_process_bytes = p->opts.max_process_bytes;
	st->windows = p->nwindows;
	st->max_windows = p->opts.max_windows;
	st->window_bytes = p->window_bytes;
	st->max_window_bytes = p->opts.max_window_bytes;
	st->deferred = p->deferred_count;
	st->deferred_bytes = p->deferred_bytes;
	st->max_deferred_bytes = p->opts.max_deferred_bytes;
	st->frequency = p->opts.frequency;
	st->ncpus = sampler__ncpus(p->sampler);
	/* the symbolizer belongs to the loop thread, which runs drains under
	 * the lock: reading its counters under the lock is safe */
	symbolizer__stats(p->sym, &st->sym);
	st->dwarf = p->unwinder != NULL;
	if (p->unwinder)
		unwinder__stats(p->unwinder, &st->unwind);
	pthread_mutex_unlock(&p->lock);
	workq__stats(p->wq, &st->workq);
	procfile__stats(&st->files);
	st->k8s = p->opts.k8s != NULL;
	if (p->opts.k8s)
		k8s__stats(p->opts.k8s, &st->k8s_stats);
	sampler__stats(p->sampler, st->bpf);
}

int profiler__new(const struct profiler_opts *opts, struct profiler **out)
{
	struct symbolizer_opts so = { 0 };
	struct sampler_opts sa = { 0 };
	struct workq_opts wo = { 0 };
	struct epoll_event ev = { .events = EPOLLIN };
	struct profiler *p;
	int err;

	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->opts = *opts;
	if (!p->opts.frequency)
		p->opts.frequency = 99;
	if (!p->opts.drain_interval_ms)
		p->opts.drain_interval_ms = 1000;
	if (!p->opts.proc_root)
		p->opts.proc_root = "/proc";
	if (!p->opts.max_windows)
		p->opts.max_windows = 16;
	p->opts.max_windows = MIN(p->opts.max_windows, (size_t)MAX_WINDOW_SLOTS);
	if (!p->opts.max_processes)
		p->opts.max_processes = 16384;
	if (!p->opts.max_process_bytes)
		p->opts.max_process_bytes = PROFILER_DEFAULT_PROCESS_BYTES;
	if (!p->opts.max_window_bytes)
		p->opts.max_window_bytes = PROFILER_DEFAULT_WINDOW_BYTES;
	if (!p->opts.max_deferred_bytes)
		p->opts.max_deferred_bytes = PROFILER_DEFAULT_DEFERRED_BYTES;
	if (!p->opts.unwind_max_bytes)
		p->opts.unwind_max_bytes = 128u << 20;
	p->epfd = p->wakefd = -1;
	p->deferred_tail = &p->deferred;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->done_cond, NULL);
	u64map_init(&p->procs);

	{
		struct proclabels_opts lo = { .proc_root = p->opts.proc_root,
					      .k8s = p->opts.k8s,
					      .labeling = &p->opts.labeling };

		err = proclabels__new(&lo, &p->labeler);
		if (err)
			goto fail;
		p->thread_labels = p->opts.labeling.thread_labels;
	}
	wo.threads[WORKQ_FAST] = 1;
	wo.threads[WORKQ_LOAD] = p->opts.load_workers ? p->opts.load_workers : 1;
	wo.threads[WORKQ_BUILD] = 1;
	/* the newest builds first: under process churn they are the ones a
	 * live process waits for, older ones' processes may be gone */
	wo.lifo[WORKQ_BUILD] = true;
	err = workq__new(&wo, &p->wq);
	if (err) {
		log_error("failed to start the worker threads: %s", strerror(-err));
		goto fail;
	}
	so.proc_root = p->opts.proc_root;
	{
		struct rlimit rl;

		/* each known object holds two descriptors (its file, its
		 * mapper's root): stay well within what the process may open */
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
		    rl.rlim_cur < 2 * 4096 + 1024)
			so.max_objects = rl.rlim_cur > 1024 + 64 ? (rl.rlim_cur - 1024) / 2 : 32;
	}
	so.max_bytes = p->opts.symbol_max_bytes;
	so.max_perfmap_bytes = p->opts.perfmap_max_bytes;
	so.load_timeout_ms = p->opts.load_timeout_ms;
	so.wq = p->wq;
	err = symbolizer__new(&so, &p->sym);
	if (err) {
		log_error("failed to create the symbolizer: %s", strerror(-err));
		goto fail;
	}
	err = p->opts.kernel_stacks ? symbolizer__load_kernel(p->sym) : 0;
	if (err)
		log_warn("failed to load kernel symbols from /proc/kallsyms: %s%s, ignoring: "
			 "kernel frames stay unsymbolized", strerror(-err),
			 err == -EPERM ? " (addresses hidden by kernel.kptr_restrict; needs CAP_SYSLOG)" : "");
	sa.frequency = p->opts.frequency;
	sa.target_tgid = p->opts.target_tgid;
	sa.user_stacks = true;
	sa.kernel_stacks = p->opts.kernel_stacks;
	if (p->opts.unwind != UNWIND_MODE_FP) {
		sa.dwarf = sampler__has_bpf_loop();
		if (!sa.dwarf && p->opts.unwind == UNWIND_MODE_DWARF) {
			log_error("DWARF unwinding needs the bpf_loop helper (Linux 5.17+), "
				  "which this kernel lacks; use --unwind fp");
			err = -EOPNOTSUPP;
			goto fail;
		}
		if (!sa.dwarf)
			log_warn("this kernel lacks bpf_loop (Linux 5.17+): unwinding user stacks "
				 "with frame pointers only");
	}
	sa.unwind_max_bytes = p->opts.unwind_max_bytes;
	sa.max_processes = (uint32_t)p->opts.max_processes;
	sa.drain_interval_ms = p->opts.drain_interval_ms;
	sa.on_event = on_event;
	sa.event_ctx = p;
	err = sampler__new(&sa, &p->sampler);
	if (err)
		goto fail;
	if (sa.dwarf) {
		struct unwinder_opts uo = { .max_bytes = p->opts.unwind_max_bytes, .wq = p->wq,
					    .build_timeout_ms = p->opts.unwind_build_timeout_ms,
					    .build_max_bytes = p->opts.unwind_build_max_bytes };
		struct unwinder_maps um;

		sampler__unwind_maps(p->sampler, &um);
		err = unwinder__new(&um, &uo, &p->unwinder);
		if (err)
			goto fail;
	}

	p->epfd = epoll_create1(EPOLL_CLOEXEC);
	p->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->epfd < 0 || p->wakefd < 0) {
		err = -errno;
		goto fail;
	}
	ev.data.fd = p->wakefd;
	if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->wakefd, &ev) < 0) {
		err = -errno;
		goto fail;
	}
	ev.data.fd = sampler__events_fd(p->sampler);
	if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, ev.data.fd, &ev) < 0) {
		err = -errno;
		goto fail;
	}
	/* workers hand their results back through this fd */
	ev.data.fd = workq__fd(p->wq);
	if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, ev.data.fd, &ev) < 0) {
		err = -errno;
		goto fail;
	}
	p->next_drain_ns = now_ns(CLOCK_MONOTONIC) + (uint64_t)p->opts.drain_interval_ms * 1000000ull;
	p->last_drain_ns = now_ns(CLOCK_MONOTONIC);
	*out = p;
	return 0;
fail:
	profiler__free(p);
	return err;
}

void profiler__free(struct profiler *p)
{
	if (!p)
		return;
	while (p->windows)
		window__close(p->windows);
	/* jobs first: their completions touch the tables below */
	workq__free(p->wq);
	while (p->deferred) {
		struct deferred *d = p->deferred;

		p->deferred = d->next;
		free(d);
	}
	sampler__free(p->sampler);
	unwinder__free(p->unwinder);
	u64map_foreach(&p->procs, i)
		proc_entry_free(p, (struct proc_entry *)(uintptr_t)p->procs.values[i]);
	u64map_release(&p->procs);
	symbolizer__free(p->sym);
	proclabels__free(p->labeler);
	if (p->epfd >= 0)
		close(p->epfd);
	if (p->wakefd >= 0)
		close(p->wakefd);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->done_cond);
	free(p);
}

int profiler__set_labeling(struct profiler *p, const struct profiler_labeling *l)
{
	int err;

	/* the next drain labels every process again (relabel_all) */
	pthread_mutex_lock(&p->lock);
	err = proclabels__configure(p->labeler, l);
	if (!err)
		p->thread_labels = l->thread_labels;
	pthread_mutex_unlock(&p->lock);
	return err;
}
