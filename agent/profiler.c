#include "profiler.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "agent/proclabels.h"
#include "agent/sampler.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/macros.h"
#include "common/u64map.h"
#include "symbolize/elf_object.h"
#include "symbolize/symbolizer.h"

#define MAX_INLINE 16
#define KERNEL_MAPPING_KEY UINT64_MAX
#define UNMAPPED_INDEX 0xfffffu
/* A process not sampled for this many drains is checked for existence and
 * forgotten if gone (its exit event may have been lost). */
#define STALE_DRAINS 60

struct proc_entry {
	struct proc_snapshot *snap; /* NULL: snapshot failed */
	uint64_t uid;               /* unique per snapshot, keys pprof mappings */
	uint64_t exit_drain;        /* 0: alive; else forget after this drain */
	uint64_t last_drain;        /* last drain that carried its samples */
	uint64_t refresh_drain;     /* drain of the last re-snapshot */
	uint64_t reload_ns;         /* last unwind reload for an uncovered pc */
	unsigned refreshes;
	int pid;
	uint32_t image;
	char comm[PROFILE_COMM_LEN]; /* process name, "" if unreadable */
	char exe[256];               /* its executable as it sees it, "" if unknown */
	char build_id[ELF_BUILD_ID_HEX_MAX]; /* of exe, "" if unknown */
	struct labels labels;        /* after relabeling (agent/proclabels.h) */
	uint64_t labels_hash;        /* of labels: the series key of uploads */
	uint64_t labels_gen;         /* proclabels generation they were made in */
	bool dropped;                /* relabeling dropped it: samples discarded */
	bool k8s_pending;            /* its pod was not known yet */
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
	struct wprof whole;   /* the whole window, unless o.by_series (no labels) */
	struct wprof *series; /* o.by_series: one profile per label set */
	size_t nseries, cap_series;
	struct u64map series_index; /* labels hash -> index + 1 */
	int64_t time_nanos;   /* Unix start, for series profiles */
	bool started, done;
	uint64_t start_ns, end_ns; /* CLOCK_MONOTONIC */
	struct window *successor; /* o.chain: the window that took over */
	uint64_t ended_ns;        /* CLOCK_MONOTONIC of the drain that ended it */
	struct window *next;
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
	struct symbolizer *sym;
	struct unwinder *unwinder; /* NULL: frame pointers only */
	struct proclabels *labeler;
	bool thread_labels;
	uint64_t labels_gen;       /* proclabels generation seen at the last drain */
	struct u64map procs; /* (tgid << 32 | image) -> struct proc_entry * */
	uint64_t next_uid;
	int epfd, wakefd;
	uint64_t next_drain_ns;
	uint64_t last_drain_ns; /* read by other threads (health) */

	pthread_mutex_t lock; /* windows list and stats */
	pthread_cond_t done_cond;
	struct window *windows;
	size_t nwindows;
	bool want_start; /* a window waits for its starting drain */
	bool stopping;   /* cancel_windows: chained windows end for good */

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

static void proc_entry_free(struct proc_entry *e)
{
	if (!e)
		return;
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
		proc_entry_free(e);
		u64map_del(&p->procs, key);
	}
}

static void read_comm(struct profiler *p, int pid, char comm[PROFILE_COMM_LEN])
{
	char path[64];
	struct buf b = { 0 };

	comm[0] = 0;
	snprintf(path, sizeof(path), "%s/%d/comm", p->opts.proc_root, pid);
	if (buf_read_file(path, &b, 64) == 0) {
		size_t n = b.len;

		while (n && b.data[n - 1] == '\n')
			n--;
		n = MIN(n, (size_t)PROFILE_COMM_LEN - 1);
		memcpy(comm, b.data, n);
		comm[n] = 0;
	}
	buf_release(&b);
}

static void read_exe(struct profiler *p, int pid, char *exe, size_t len)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%d/exe", p->opts.proc_root, pid);
	n = readlink(path, exe, len - 1);
	exe[n > 0 ? n : 0] = 0;
	/* /proc/PID/maps shows a deleted file the same way */
	if (n > 10 && !strcmp(exe + n - 10, " (deleted)"))
		exe[n - 10] = 0;
}

/* (Re)computes a process's labels and keep/drop decision; a dropped
 * process is filtered in BPF from then on. */
static void read_build_id(struct profiler *p, struct proc_entry *e)
{
	char path[64];
	_cleanup_close_ int fd = -1;

	e->build_id[0] = 0;
	snprintf(path, sizeof(path), "%s/%d/exe", p->opts.proc_root, e->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		elf_object__read_build_id(fd, e->build_id);
}

/* What symbolizing and unwinding a process needs: its mappings and
 * their unwind tables. Only for processes relabeling keeps. */
static void load_process(struct profiler *p, struct proc_entry *e)
{
	if (p->unwinder)
		unwinder__load_process(p->unwinder, (uint32_t)e->pid, e->image);
	if (e->snap)
		return;
	e->snap = symbolizer__snapshot(p->sym, e->pid);
	if (!e->snap) {
		p->stats.snapshots_failed++;
		log_debug("failed to snapshot process %d: %s", e->pid, strerror(errno));
	}
}

/* A dropped process costs nothing from now on: its samples stop in BPF
 * and what was loaded for it goes. */
static void unload_process(struct profiler *p, struct proc_entry *e)
{
	if (p->unwinder)
		unwinder__forget_process(p->unwinder, (uint32_t)e->pid, e->image);
	proc_snapshot__put(e->snap);
	e->snap = NULL;
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
	if (e->dropped != was_dropped) {
		err = sampler__set_dropped(p->sampler, (uint32_t)e->pid, e->image, e->dropped);
		if (err)
			log_debug("failed to update the BPF drop filter for %d: %s", e->pid,
				  strerror(-err));
		p->stats.processes_relabel_dropped += e->dropped ? 1 : 0;
		if (e->dropped)
			unload_process(p, e);
		else
			load_process(p, e);
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

		if (e->labels_gen != gen)
			label_process(p, e);
	}
}

/* Takes a snapshot of tgid now and loads its unwind tables; replaces any
 * entry with the same key. */
static struct proc_entry *track_process(struct profiler *p, uint32_t tgid, uint32_t image)
{
	uint64_t key = proc_key(tgid, image);
	struct proc_entry *e;

	forget_process(p, key);
	if (p->procs.len >= p->opts.max_processes) {
		/* The sampler's mapping table, dropped just above, comes
		 * back even when our table is full: unwinding has its own
		 * bound. */
		if (p->unwinder)
			unwinder__load_process(p->unwinder, tgid, image);
		p->stats.processes_dropped++;
		return NULL;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->pid = (int)tgid;
	e->image = image;
	e->uid = ++p->next_uid;
	e->last_drain = p->stats.drains;
	read_comm(p, (int)tgid, e->comm);
	read_exe(p, (int)tgid, e->exe, sizeof(e->exe));
	read_build_id(p, e);
	/* labels first: a process relabeling drops is never loaded */
	label_process(p, e);
	if (!e->dropped)
		load_process(p, e);
	if (u64map_set(&p->procs, key, (uintptr_t)e)) {
		proc_entry_free(e);
		return NULL;
	}
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

/* New code in a process (a library just mapped): reload its mappings and
 * unwind tables now, not at the next drain, at most every
 * UNCOVERED_RELOAD_NS per process (the sampler keeps reporting until the
 * tables are in). */
#define UNCOVERED_RELOAD_NS 100000000ull

static void reload_uncovered(struct profiler *p, uint32_t tgid, uint32_t image)
{
	struct proc_entry *e;
	uint64_t v, now = now_ns(CLOCK_MONOTONIC);

	if (!p->unwinder || !u64map_get(&p->procs, proc_key(tgid, image), &v))
		return;
	e = (struct proc_entry *)(uintptr_t)v;
	if (now - e->reload_ns < UNCOVERED_RELOAD_NS)
		return;
	e->reload_ns = now;
	unwinder__load_process(p->unwinder, tgid, image);
	p->stats.uncovered_reloads++;
}

static void on_event(void *ctx, const struct profile_event *ev)
{
	struct profiler *p = ctx;

	switch (ev->type) {
	case PROFILE_EVENT_NEW_PROCESS:
	case PROFILE_EVENT_EXEC:
		if (ev->old_image != ev->image)
			expire_image(p, ev->tgid, ev->old_image);
		track_process(p, ev->tgid, ev->image);
		break;
	case PROFILE_EVENT_EXIT:
		expire_image(p, ev->tgid, ev->image);
		break;
	case PROFILE_EVENT_UNCOVERED:
		reload_uncovered(p, ev->tgid, ev->image);
		break;
	default:
		break;
	}
}

static void refresh_if_unmapped(struct profiler *p, struct proc_entry *e,
				const struct stack_trace *ustack)
{
	struct proc_snapshot *fresh;
	struct sym_ref ref;
	bool unmapped = false;

	if (!e || !e->snap || !ustack || !ustack->len)
		return;
	if (proc_snapshot__resolve(e->snap, ustack->ips[0], &ref) != 0) {
		/* The leaf pc is always a real one: a library mapped since
		 * the snapshot (dlopen). Re-read at most once a drain, so new
		 * code gets its tables within one drain interval. */
		if (e->refreshes && e->refresh_drain == p->stats.drains)
			return;
		unmapped = true;
	} else {
		if (e->refreshes && p->stats.drains - e->refresh_drain < REFRESH_DRAINS)
			return;
		for (uint32_t i = 1; i < ustack->len && i < PROFILE_MAX_DEPTH && !unmapped; i++)
			unmapped = proc_snapshot__resolve(e->snap, ustack->ips[i], &ref) != 0;
	}
	if (!unmapped)
		return;
	e->refreshes++;
	e->refresh_drain = p->stats.drains;
	fresh = symbolizer__snapshot(p->sym, e->pid);
	if (!fresh)
		return; /* gone: keep what we had */
	/* Earlier samples of this drain already copied their strings into
	 * the windows' profiles, so the old snapshot can go now. */
	proc_snapshot__put(e->snap);
	e->snap = fresh;
	e->uid = ++p->next_uid; /* new mappings, new pprof mapping keys */
	p->stats.snapshots_refreshed++;
	/* the sampler usually asked already (uncovered event): one reload
	 * per UNCOVERED_RELOAD_NS serves both */
	reload_uncovered(p, (uint32_t)e->pid, e->image);
}

static void resolve_user(struct profiler *p, struct proc_entry *e, uint64_t ip, bool caller,
			 struct frame *f)
{
	struct sym_line lines[MAX_INLINE];
	struct sym_ref ref;
	int n;

	f->address = ip;
	f->nlines = 0;
	f->has_mapping = false;
	if (!e || !e->snap || proc_snapshot__resolve(e->snap, ip, &ref))
		return;
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
	/* A caller's address is a return address, one past the call: look up
	 * the call instruction so lines and inlining describe the call site. */
	if (caller)
		ref.addr = ip - 1;
	n = symbolizer__user(p->sym, &ref, lines, MAX_INLINE);
	for (int i = 0; i < n; i++)
		f->lines[i] = (struct pprof_line){ lines[i].function, lines[i].file, lines[i].line };
	f->nlines = (size_t)MAX(n, 0);
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

static bool window_wants(const struct window *w, uint32_t tgid)
{
	return w->started && !w->done && (w->o.pid < 0 || (uint32_t)w->o.pid == tgid);
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

static void add_to_window(struct profiler *p, struct window *w, const struct sample_key *key,
			  const struct proc_entry *e, const char *comm, uint64_t count,
			  const struct frame *frames, size_t nframes, uint64_t *locs)
{
	struct pprof_label labels[PPROF_MAX_LABELS];
	const char *exe = e && e->exe[0] ? e->exe : NULL;
	struct wprof *wp = wprof_of(w, e);
	size_t nlocs = 0, nlabels;

	if (!wp)
		return;
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
				return;
		}
		loc = pprof__location(wp->pprof, mid, f->address, f->lines, f->nlines);
		if (!loc)
			return;
		locs[nlocs++] = loc;
	}
	nlabels = sample_labels(p, w, key, e, comm, labels, ARRAY_SIZE(labels));
	pprof__add_sample(wp->pprof, locs, nlocs, (int64_t)count, labels, nlabels);
}

static void on_sample(void *ctx, const struct sample_key *key, uint64_t count,
		      const struct stack_trace *ustack, const struct stack_trace *kstack)
{
	struct profiler *p = ctx;
	struct proc_entry *e = NULL;
	struct window *w;
	size_t nframes = 0;
	bool wanted = false;
	const char *comm;
	uint64_t v;

	p->stats.samples_drained += count;
	for (w = p->windows; w; w = w->next)
		wanted |= window_wants(w, key->tgid);
	if (!wanted)
		return;

	if (u64map_get(&p->procs, proc_key(key->tgid, key->image), &v))
		e = (struct proc_entry *)(uintptr_t)v;
	else /* its new-process event was lost, or it was forgotten */
		e = track_process(p, key->tgid, key->image);
	if (e)
		e->last_drain = p->stats.drains + 1;
	if (e && e->dropped) {
		/* sampled before the BPF filter knew: discarded unsymbolized */
		p->stats.samples_relabel_dropped += count;
		return;
	}
	/* a process we could not read keeps its thread's name */
	comm = e && e->comm[0] ? e->comm : key->thread_comm;
	refresh_if_unmapped(p, e, ustack);

	/* A sample in kernel mode: the kernel stack is the leaf end. */
	for (uint32_t i = 0; kstack && i < kstack->len && i < PROFILE_MAX_DEPTH; i++)
		resolve_kernel(p, kstack->ips[i], i > 0, &p->frames[nframes++]);
	for (uint32_t i = 0; ustack && i < ustack->len && i < PROFILE_MAX_DEPTH; i++)
		resolve_user(p, e, ustack->ips[i], i > 0, &p->frames[nframes++]);

	for (w = p->windows; w; w = w->next)
		if (window_wants(w, key->tgid))
			add_to_window(p, w, key, e, comm, count, p->frames, nframes, p->locs);
}

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
		w->done = true;
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

/* A chained window hands over at the very drain that ends it, so the
 * successor's span starts where this one's ended: no sample falls between
 * two upload windows. Called under the lock. */
static void chain_window(struct profiler *p, struct window *w, uint64_t mono)
{
	struct window *n;

	if (!w->o.chain || p->stopping)
		return;
	n = window_alloc(p, &w->o);
	if (!n) {
		log_error("failed to continue a profile window: out of memory");
		return;
	}
	start_window(n, mono);
	n->next = p->windows;
	p->windows = n;
	p->nwindows++;
	w->successor = n;
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
		if (!w->started)
			start_window(w, mono);
		else if (!w->done && mono + 1000000 >= w->end_ns) {
			w->done = true;
			w->ended_ns = mono;
			chain_window(p, w, mono);
			/* what it really covers: ended early (Ctrl-C), or a drain
			 * some ms past its deadline, which a chained successor
			 * starts from */
			window_set_duration(w, (int64_t)(mono - w->start_ns));
		}
	}
	p->want_start = false;
	pthread_cond_broadcast(&p->done_cond);
	forget_dead(p);
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
		else if (!w->done && w->end_ns < d)
			d = w->end_ns;
	}
	pthread_mutex_unlock(&p->lock);
	return d;
}

int profiler__step(struct profiler *p, int max_wait_ms)
{
	struct epoll_event evs[4];
	uint64_t deadline = next_deadline(p), mono = now_ns(CLOCK_MONOTONIC);
	int timeout = 0, n;

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
	/* Snapshots touch the process table and the symbolizer, which stats
	 * readers on other threads look at under the same lock. */
	pthread_mutex_lock(&p->lock);
	sampler__consume_events(p->sampler);
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
	if (p->nwindows >= p->opts.max_windows) {
		pthread_mutex_unlock(&p->lock);
		free(w);
		return -EBUSY;
	}
	w->next = p->windows;
	p->windows = w;
	p->nwindows++;
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

	for (struct window *w = p->windows; w; w = w->next) {
		if (!w->started)
			start_window(w, mono);
		if (!w->done) {
			window_set_duration(w, (int64_t)(mono - w->start_ns));
			w->ended_ns = mono;
		}
		w->done = true;
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
	st->windows = p->nwindows;
	st->max_windows = p->opts.max_windows;
	st->frequency = p->opts.frequency;
	st->ncpus = sampler__ncpus(p->sampler);
	/* the symbolizer belongs to the loop thread, which runs drains under
	 * the lock: reading its counters under the lock is safe */
	symbolizer__stats(p->sym, &st->sym);
	st->dwarf = p->unwinder != NULL;
	if (p->unwinder)
		unwinder__stats(p->unwinder, &st->unwind);
	pthread_mutex_unlock(&p->lock);
	st->k8s = p->opts.k8s != NULL;
	if (p->opts.k8s)
		k8s__stats(p->opts.k8s, &st->k8s_stats);
	sampler__stats(p->sampler, st->bpf);
}

int profiler__new(const struct profiler_opts *opts, struct profiler **out)
{
	struct symbolizer_opts so = { 0 };
	struct sampler_opts sa = { 0 };
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
	if (!p->opts.max_processes)
		p->opts.max_processes = 16384;
	if (!p->opts.unwind_max_bytes)
		p->opts.unwind_max_bytes = 128u << 20;
	p->epfd = p->wakefd = -1;
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
	so.proc_root = p->opts.proc_root;
	p->sym = symbolizer__new(&so);
	if (!p->sym) {
		err = -errno;
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
		struct unwinder_opts uo = { .proc_root = p->opts.proc_root,
					    .max_bytes = p->opts.unwind_max_bytes };
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
	sampler__free(p->sampler);
	unwinder__free(p->unwinder);
	u64map_foreach(&p->procs, i)
		proc_entry_free((struct proc_entry *)(uintptr_t)p->procs.values[i]);
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
