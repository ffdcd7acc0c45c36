#include "core/profiler.h"

#include <errno.h>
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

#include "bpf/mmap_events.h"
#include "bpf/sampler.h"
#include "bpf/unwinder.h"
#include "bpf/unwinder_walk.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/macros.h"
#include "common/workq.h"
#include "core/proctable.h"
#include "core/window.h"
#include "labels/proclabels.h"
#include "symbolize/symbolizer.h"

#define KERNEL_MAPPING_KEY UINT64_MAX
#define UNMAPPED_INDEX 0xfffffu
/* How long a sample may wait for its process's files to be read and its
 * objects loaded before it is added with what is known. Loads have their
 * own, longer caps; past this their samples are not held back. */
#define DEFER_MAX_NS 3000000000ull
/* malloc keeps freed memory for reuse; give it back to the system after
 * big frees, at most this often. */
#define TRIM_INTERVAL_NS 10000000000ull

/* What a drained bucket weighs: CPU samples, or off-CPU switches and the
 * time they were away. */
struct weight {
	enum pprof_type type;
	uint64_t count, off_cpu_ns;
};

/* A sample held back until its process's files are read and its objects
 * loaded (or DEFER_MAX_NS passed). */
struct deferred {
	struct deferred *next;
	struct proc_entry *e;
	struct sample_key key;
	struct weight w;
	uint64_t windows;   /* slots of the windows that want it */
	uint64_t since_ns;
	size_t size;        /* counted in deferred_bytes */
	uint32_t ulen, klen;
	/* a sample the sampler sent whole: its user stack is walked here
	 * once the tables are in (ips has room for PROFILE_MAX_DEPTH user
	 * frames, then the klen kernel ones); NULL once walked */
	struct deferred_sample *whole;
	uint64_t walked_gen; /* unwinder__generation of its last walk, + 1 */
	__u64 ips[];        /* ulen user frames, then klen kernel frames */
};

struct profiler {
	struct profiler_opts opts;
	struct sampler *sampler;
	struct workq *wq;
	struct symbolizer *sym;
	struct debuginfod *debuginfod;
	struct unwinder *unwinder; /* NULL: frame pointers only */
	struct unwinder_maps unwind_maps; /* for the walks of samples sent whole */
	struct unwind_walk_source walk_src; /* of unwind_maps */
	struct proclabels *labeler;
	struct proctable *procs;
	struct mmap_events *mmaps; /* NULL: new mappings found by samples only */
	struct windows *windows;
	bool thread_labels;
	int epfd, wakefd;
	uint64_t next_drain_ns;
	uint64_t last_drain_ns; /* read by other threads (health) */
	uint64_t trim_ns;
	bool trim_wanted;

	/* the windows, the stats, and what the loop touches that stats
	 * readers on other threads look at (process table, symbolizer) */
	pthread_mutex_t lock;

	struct deferred *deferred, **deferred_tail;
	size_t deferred_count, deferred_bytes;

	struct profiler_stats stats;
	struct window_frame frames[2 * PROFILE_MAX_DEPTH];
};

/* ---- frames ----------------------------------------------------------- */

/* Resolves one user frame; -EAGAIN while its object loads (force: then
 * it stays an address). */
static int resolve_user(struct profiler *p, struct proc_entry *e, uint64_t ip, bool caller,
			bool force, struct window_frame *f)
{
	struct sym_line lines[WINDOW_MAX_INLINE];
	const struct proc_snapshot *snap;
	struct sym_ref ref;
	uint64_t uid = 0;
	int n;

	f->address = ip;
	f->nlines = 0;
	f->has_mapping = false;
	snap = proctable__snapshot(e, &uid);
	if (!snap || proc_snapshot__resolve(snap, ip, &ref))
		return 0;
	/* A caller's address is a return address, one past the call: look up
	 * the call instruction so lines and inlining describe the call site. */
	if (caller)
		ref.addr = ip - 1;
	n = symbolizer__user(p->sym, &ref, lines, WINDOW_MAX_INLINE);
	if (n == -EAGAIN && !force)
		return -EAGAIN;
	f->has_mapping = true;
	f->mapping_key = uid << 20 | (ref.map_index & UNMAPPED_INDEX);
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
		.is_jit = ref.mapping->is_jit,
	};
	for (int i = 0; i < n; i++)
		f->lines[i] = (struct pprof_line){ lines[i].function, lines[i].file, lines[i].line,
						   lines[i].system_name };
	f->nlines = (size_t)MAX(n, 0);
	return 0;
}

static void resolve_kernel(struct profiler *p, uint64_t ip, bool caller, struct window_frame *f)
{
	struct sym_line lines[WINDOW_MAX_INLINE];
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
	n = symbolizer__kernel(p->sym, caller ? ip - 1 : ip, lines, WINDOW_MAX_INLINE);
	for (int i = 0; i < n; i++)
		f->lines[i] = (struct pprof_line){ lines[i].function, NULL, 0 };
	f->nlines = (size_t)MAX(n, 0);
	if (!n)
		f->mapping.has_functions = false;
}

/* A frame's real (outermost) function, NULL if unnamed. */
static const char *frame_function(const struct window_frame *f)
{
	return f->nlines ? f->lines[f->nlines - 1].function : NULL;
}

/* The frames an off-CPU stack starts with that are the sched_switch
 * program's own way in (__traceiter_sched_switch, bpf_trace_run4, the
 * program), not the thread's. The tracepoint fires in __schedule, so
 * everything leafward of it goes; without a __schedule frame (no kernel
 * symbols), the named tracing frames and unnamed ones at the leaf go.
 * The program's address is often unnamed: kallsyms was read before it
 * was loaded. off_cpu_skip returns how many kernel frames to skip. */
static bool tracing_frame(const struct window_frame *f)
{
	const char *fn = frame_function(f);

	return !fn || !strncmp(fn, "bpf_prog_", 9) || !strncmp(fn, "bpf_trace_run", 13) ||
	       !strncmp(fn, "__traceiter_", 12) || !strncmp(fn, "__bpf_trace_", 12);
}

static bool schedule_frame(const struct window_frame *f)
{
	const char *fn = frame_function(f);

	/* also __schedule.constprop.0 and the like */
	return fn && !strncmp(fn, "__schedule", 10) && (!fn[10] || fn[10] == '.');
}

static size_t off_cpu_skip(const struct window_frame *frames, size_t n)
{
	size_t lead = 0;

	for (size_t i = 0; i < n; i++)
		if (schedule_frame(&frames[i]))
			return i;
	while (lead < n && tracing_frame(&frames[lead]))
		lead++;
	return lead < n ? lead : 0;
}

/* Resolves a sample's frames into p->frames: the kernel part (the leaf
 * end) first, then the user part. -EAGAIN when a user frame's object is
 * still loading, unless force. */
static int resolve_sample(struct profiler *p, struct proc_entry *e, enum pprof_type type,
			  const __u64 *uips, uint32_t ulen, const __u64 *kips, uint32_t klen,
			  bool force, size_t *nframes)
{
	size_t n = 0;

	for (uint32_t i = 0; i < klen && i < PROFILE_MAX_DEPTH; i++)
		resolve_kernel(p, kips[i], i > 0, &p->frames[n++]);
	if (type == PPROF_TYPE_OFF_CPU && n) {
		size_t skip = off_cpu_skip(p->frames, n);

		memmove(p->frames, p->frames + skip, (n - skip) * sizeof(p->frames[0]));
		n -= skip;
	}
	for (uint32_t i = 0; i < ulen && i < PROFILE_MAX_DEPTH; i++)
		if (resolve_user(p, e, uips[i], i > 0, force, &p->frames[n++]) == -EAGAIN)
			return -EAGAIN;
	*nframes = n;
	return 0;
}

static void add_resolved(struct profiler *p, uint64_t windows, const struct sample_key *key,
			 struct proc_entry *e, const struct weight *w, size_t nframes)
{
	struct window_sample s = {
		.key = key,
		.type = w->type,
		.count = w->count,
		.off_cpu_ns = w->off_cpu_ns,
		.comm = proctable__comm(e),
		.exe = proctable__exe(e),
		.labels = proctable__labels(e, &s.labels_hash),
		.frames = p->frames,
		.nframes = nframes,
		.thread_labels = p->thread_labels,
	};

	/* a process we could not read keeps its thread's name */
	if (!s.comm)
		s.comm = key->thread_comm;
	windows__add(p->windows, windows, &s);
}

/* ---- samples held back -------------------------------------------------- */

static void hold(struct profiler *p, struct deferred *d)
{
	*p->deferred_tail = d;
	p->deferred_tail = &d->next;
	p->deferred_count++;
	p->deferred_bytes += d->size;
	proctable__hold(p->procs, d->e);
	windows__hold(p->windows, d->windows);
	p->stats.samples_deferred += d->w.count;
}

/* Holds a sample back until what it needs is read and loaded. false when
 * the bound on held-back samples is reached (the caller adds it now). */
static bool defer(struct profiler *p, uint64_t windows, const struct sample_key *key,
		  struct proc_entry *e, const struct weight *w, const struct stack_trace *ustack,
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
		.e = e, .key = *key, .w = *w, .windows = windows,
		.since_ns = clock__mono_ns(), .size = size, .ulen = ulen, .klen = klen,
	};
	if (ulen)
		memcpy(d->ips, ustack->ips, ulen * sizeof(__u64));
	if (klen)
		memcpy(d->ips + ulen, kstack->ips, klen * sizeof(__u64));
	hold(p, d);
	return true;
}

/* Holds a sample the sampler sent whole until its user stack can be
 * walked: false when the bound on held-back samples is reached. */
static bool defer_whole(struct profiler *p, uint64_t windows, struct proc_entry *e,
			const struct deferred_sample *whole)
{
	uint32_t klen = MIN(whole->klen, (uint32_t)PROFILE_MAX_DEPTH);
	size_t size = sizeof(struct deferred) + (PROFILE_MAX_DEPTH + klen) * sizeof(__u64) +
		      sizeof(*whole);
	struct deferred *d;

	if (p->deferred_bytes + size > p->opts.max_deferred_bytes)
		return false;
	d = malloc(sizeof(struct deferred) + (PROFILE_MAX_DEPTH + klen) * sizeof(__u64));
	if (!d)
		return false;
	*d = (struct deferred){
		.e = e, .key = whole->key, .w = { PPROF_TYPE_CPU, 1, 0 }, .windows = windows,
		.since_ns = clock__mono_ns(), .size = size, .klen = klen,
		.whole = malloc(sizeof(*whole)),
	};
	if (!d->whole) {
		free(d);
		return false;
	}
	memcpy(d->whole, whole, sizeof(*whole));
	hold(p, d);
	return true;
}

/* Walks a whole sample's user stack with the tables loaded now, into
 * d->ips ahead of its kernel frames: 0, or -EAGAIN while what the walk
 * needs is still on its way (the process's mapping table, a table being
 * built), unless late. */
static int walk_whole(struct profiler *p, const struct deferred_sample *whole,
		      struct deferred *d, bool late)
{
	struct unwind_walk r;
	int err = p->unwinder ? unwinder_walk(&p->walk_src, whole, &r) : -ENOENT;
	bool waiting = err == -ENOENT || r.uncovered ||
		       (err && r.used_fp && unwinder__waiting(p->unwinder, d->key.tgid, d->key.image));

	if (waiting && !late)
		return -EAGAIN;
	if (err == -ENOENT || err == -ENOMEM) {
		/* no table at all: the leaf, as the sampler would have */
		r.ips[0] = whole->ip;
		r.n = 1;
	}
	if (!err) {
		p->stats.whole_walked_complete++;
	} else {
		p->stats.whole_walked_incomplete++;
		log_debug("process %u: a sample sent whole walked %zu frames, then stopped: %s%s%s",
			  d->key.tgid, r.n, strerror(-err), r.uncovered ? ", a pc outside its mappings" : "",
			  waiting ? ", tables still on their way" : "");
	}
	memcpy(d->ips, r.ips, r.n * sizeof(__u64));
	memcpy(d->ips + r.n, whole->kips, d->klen * sizeof(__u64));
	d->ulen = (uint32_t)r.n;
	return 0;
}

/* walk_whole for a held sample, whose copy goes once walked. Walked
 * again only once a mapping table has changed: it walks the same way
 * until then. */
static int walk_held(struct profiler *p, struct deferred *d, bool late)
{
	uint64_t gen = unwinder__generation(p->unwinder) + 1;

	if (!late && d->walked_gen == gen)
		return -EAGAIN;
	d->walked_gen = gen;
	if (walk_whole(p, d->whole, d, late) == -EAGAIN)
		return -EAGAIN;
	free(d->whole);
	d->whole = NULL;
	return 0;
}

/* Adds the held-back samples whose process and objects are ready, and
 * those that waited long enough (or all, with force) with what is known. */
static void retry_deferred(struct profiler *p, bool force)
{
	uint64_t now = clock__mono_ns();
	struct deferred **pp = &p->deferred;

	while (*pp) {
		struct deferred *d = *pp;
		bool late = force || now - d->since_ns >= DEFER_MAX_NS;
		bool dropped = proctable__dropped(d->e);
		size_t nframes = 0;

		if (!dropped &&
		    ((!late && proctable__busy(d->e)) ||
		     (d->whole && walk_held(p, d, late) == -EAGAIN) ||
		     resolve_sample(p, d->e, d->w.type, d->ips, d->ulen, d->ips + d->ulen,
				    d->klen, late, &nframes) == -EAGAIN)) {
			pp = &d->next;
			continue;
		}
		if (dropped)
			/* identified meanwhile as a process relabeling drops */
			p->stats.samples_relabel_dropped += d->w.count;
		else if (late)
			p->stats.samples_deferred_late += d->w.count;
		if (!dropped)
			add_resolved(p, d->windows, &d->key, d->e, &d->w, nframes);
		windows__release(p->windows, d->windows);
		proctable__release(d->e);
		*pp = d->next;
		if (p->deferred_tail == &d->next)
			p->deferred_tail = pp;
		p->deferred_count--;
		p->deferred_bytes -= d->size;
		free(d->whole);
		free(d);
	}
	windows__finish_ended(p->windows);
}

/* A window closed: held-back samples no longer go to it (another window
 * may take its slot). */
static void window_closed(void *ctx, unsigned slot)
{
	struct profiler *p = ctx;

	for (struct deferred *d = p->deferred; d; d = d->next)
		d->windows &= ~(1ull << slot);
	p->trim_wanted = true;
}

/* ---- the loop ------------------------------------------------------------ */

static void on_sample(void *ctx, const struct sampler_sample *smp)
{
	struct profiler *p = ctx;
	const struct sample_key *key = smp->key;
	const struct stack_trace *ustack = smp->ustack, *kstack = smp->kstack;
	struct weight w = { smp->off_cpu ? PPROF_TYPE_OFF_CPU : PPROF_TYPE_CPU, smp->count,
			    smp->off_cpu_ns };
	uint64_t count = smp->count;
	struct proc_entry *e;
	uint64_t windows;
	size_t nframes = 0;

	if (smp->off_cpu) {
		p->stats.offcpu_switches_drained += count;
		p->stats.offcpu_ns_drained += smp->off_cpu_ns;
	} else {
		p->stats.samples_drained += count;
	}
	windows = windows__wanting(p->windows, key->tgid, w.type);
	if (!windows)
		return;

	e = proctable__sampled(p->procs, key->tgid, key->image);
	if (proctable__dropped(e)) {
		/* sampled before the BPF filter knew: discarded unsymbolized */
		p->stats.samples_relabel_dropped += count;
		return;
	}
	if (!proctable__must_wait(p->procs, e, ustack) &&
	    resolve_sample(p, e, w.type, ustack ? ustack->ips : NULL, ustack ? ustack->len : 0,
			   kstack ? kstack->ips : NULL, kstack ? kstack->len : 0, false,
			   &nframes) == 0) {
		add_resolved(p, windows, key, e, &w, nframes);
		return;
	}
	if (defer(p, windows, key, e, &w, ustack, kstack))
		return;
	/* too many held back: now, with what is known */
	p->stats.samples_deferred_late += count;
	resolve_sample(p, e, w.type, ustack ? ustack->ips : NULL, ustack ? ustack->len : 0,
		       kstack ? kstack->ips : NULL, kstack ? kstack->len : 0, true, &nframes);
	add_resolved(p, windows, key, e, &w, nframes);
}

static void on_event(void *ctx, const struct profile_event *ev)
{
	struct profiler *p = ctx;

	proctable__event(p->procs, ev);
}

/* A young process's sample whose user stack its tables could not walk
 * yet (bpf/profile.bpf.c, defer_sample): walked here once they are in. */
static void on_deferred_sample(void *ctx, const struct deferred_sample *whole)
{
	struct profiler *p = ctx;
	struct proc_entry *e;
	uint64_t windows;
	struct deferred *d;
	size_t nframes = 0;

	p->stats.samples_drained++;
	p->stats.samples_whole++;
	windows = windows__wanting(p->windows, whole->key.tgid, PPROF_TYPE_CPU);
	if (!windows)
		return;
	e = proctable__sampled(p->procs, whole->key.tgid, whole->key.image);
	if (proctable__dropped(e)) {
		p->stats.samples_relabel_dropped++;
		return;
	}
	if (defer_whole(p, windows, e, whole))
		return;
	/* too many held back: now, with what is loaded */
	p->stats.samples_deferred_late++;
	d = malloc(sizeof(*d) + (PROFILE_MAX_DEPTH + PROFILE_MAX_DEPTH) * sizeof(__u64));
	if (!d)
		return;
	*d = (struct deferred){ .key = whole->key, .w = { PPROF_TYPE_CPU, 1, 0 },
				.klen = MIN(whole->klen, (uint32_t)PROFILE_MAX_DEPTH) };
	walk_whole(p, whole, d, true);
	resolve_sample(p, e, PPROF_TYPE_CPU, d->ips, d->ulen, d->ips + d->ulen, d->klen, true,
		       &nframes);
	add_resolved(p, windows, &d->key, e, &d->w, nframes);
	free(d);
}

/* A process mapped an executable file (a library ld.so maps after an
 * exec, a dlopen): read it again while it lives. */
static void on_mmap(void *ctx, const struct mmap_event *ev)
{
	struct profiler *p = ctx;

	proctable__mapped(p->procs, ev);
}

/* Whether a profile wants tgid's samples now (the table preloads what
 * they need as soon as it has read the process). */
static bool wanted(void *ctx, uint32_t tgid)
{
	struct profiler *p = ctx;

	return windows__wanting(p->windows, tgid, PPROF_TYPE_CPU) != 0 ||
	       windows__wanting(p->windows, tgid, PPROF_TYPE_OFF_CPU) != 0;
}

static void maybe_trim(struct profiler *p)
{
	uint64_t now = clock__mono_ns();

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
	int err;

	pthread_mutex_lock(&p->lock);
	proctable__relabel(p->procs);
	err = sampler__drain(p->sampler, on_sample, p);
	p->stats.drains++;
	proctable__drained(p->procs);
	mono = clock__mono_ns();
	windows__drained(p->windows, mono);
	retry_deferred(p, false);
	if (proctable__forget_dead(p->procs))
		p->trim_wanted = true;
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
	uint64_t now = clock__mono_ns(), limit;

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
	uint64_t d;

	pthread_mutex_lock(&p->lock);
	d = windows__deadline(p->windows, p->next_drain_ns);
	/* held-back samples are added when they have waited long enough */
	if (p->deferred && p->deferred->since_ns + DEFER_MAX_NS < d)
		d = p->deferred->since_ns + DEFER_MAX_NS;
	pthread_mutex_unlock(&p->lock);
	return d;
}

int profiler__step(struct profiler *p, int max_wait_ms)
{
	struct epoll_event evs[4];
	uint64_t deadline = next_deadline(p), mono = clock__mono_ns();
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
	/* after the events: an exec's own mappings then find its new image */
	if (p->mmaps)
		mmap_events__read(p->mmaps, on_mmap, p);
	completed = workq__complete(p->wq);
	/* loads and builds free what they held on their way */
	if (completed)
		p->trim_wanted = true;
	if (completed || (p->deferred && clock__mono_ns() >= p->deferred->since_ns + DEFER_MAX_NS))
		retry_deferred(p, false);
	pthread_mutex_unlock(&p->lock);
	if (clock__mono_ns() >= next_deadline(p))
		return drain(p);
	return 0;
}

/* ---- windows --------------------------------------------------------------- */

int profiler__window_open(struct profiler *p, const struct window_opts *o, struct window **out)
{
	uint64_t one = 1;
	int err;

	if (!o->seconds || (unsigned)o->type >= PPROF_TYPE_MAX)
		return -EINVAL;
	if (!profiler__records(p, o->type))
		return -EOPNOTSUPP;
	if (o->pid >= 0) {
		char path[64];

		snprintf(path, sizeof(path), "%s/%d", p->opts.proc_root, o->pid);
		if (access(path, F_OK) != 0)
			return -ESRCH;
		if (p->opts.target_tgid && (uint32_t)o->pid != p->opts.target_tgid)
			return -ESRCH;
	}
	pthread_mutex_lock(&p->lock);
	err = windows__open(p->windows, o, out);
	pthread_mutex_unlock(&p->lock);
	if (err)
		return err;
	/* The loop drains at once so the window starts now, not up to one
	 * drain interval later. */
	if (write(p->wakefd, &one, sizeof(one)) < 0)
		log_debug("failed to wake the profiler loop: %s", strerror(errno));
	return 0;
}

bool profiler__records(const struct profiler *p, enum pprof_type type)
{
	return type == PPROF_TYPE_CPU || (type < PPROF_TYPE_MAX && p->opts.off_cpu);
}

void profiler__finish_window(struct profiler *p, struct window *w)
{
	pthread_mutex_lock(&p->lock);
	windows__finish(p->windows, w);
	pthread_mutex_unlock(&p->lock);
}

void profiler__cancel_windows(struct profiler *p)
{
	pthread_mutex_lock(&p->lock);
	uint64_t mono = clock__mono_ns();

	/* what is held back goes in with what is known now */
	retry_deferred(p, true);
	windows__cancel(p->windows, mono);
	pthread_mutex_unlock(&p->lock);
}

/* ---- lifecycle ------------------------------------------------------------- */

void profiler__stats(struct profiler *p, struct profiler_stats *st)
{
	struct proctable_stats pt;
	struct windows_stats ws;

	pthread_mutex_lock(&p->lock);
	*st = p->stats;
	proctable__stats(p->procs, &pt);
	st->processes = pt.processes;
	st->process_bytes = pt.bytes;
	st->snapshots_failed = pt.snapshots_failed;
	st->process_read_retries = pt.read_retries;
	st->snapshots_refreshed = pt.snapshots_refreshed;
	st->uncovered_reloads = pt.uncovered_reloads;
	st->processes_dropped = pt.dropped;
	st->processes_unread = pt.unread;
	st->processes_exec_raced = pt.exec_raced;
	st->processes_relabel_dropped = pt.relabel_dropped;
	st->mapped_rereads = pt.mapped_rereads;
	st->mapped_throttled = pt.mapped_throttled;
	st->snapshots_from_records = pt.snapshots_from_records;
	if (p->mmaps)
		mmap_events__stats(p->mmaps, &st->mmap);
	st->max_processes = p->opts.max_processes;
	st->max_process_bytes = p->opts.max_process_bytes;
	windows__stats(p->windows, &ws);
	st->windows = ws.windows;
	st->max_windows = ws.max_windows;
	st->window_bytes = ws.bytes;
	st->max_window_bytes = ws.max_bytes;
	st->window_samples_dropped = ws.samples_dropped;
	st->deferred = p->deferred_count;
	st->deferred_bytes = p->deferred_bytes;
	st->max_deferred_bytes = p->opts.max_deferred_bytes;
	st->frequency = p->opts.frequency;
	st->ncpus = sampler__ncpus(p->sampler);
	st->off_cpu = p->opts.off_cpu;
	st->offcpu_pending = sampler__offcpu_pending(p->sampler);
	st->offcpu_max_threads = p->opts.off_cpu_max_threads;
	/* the symbolizer belongs to the loop thread, which runs drains under
	 * the lock: reading its counters under the lock is safe */
	symbolizer__stats(p->sym, &st->sym);
	st->dwarf = p->unwinder != NULL;
	if (p->unwinder)
		unwinder__stats(p->unwinder, &st->unwind);
	pthread_mutex_unlock(&p->lock);
	workq__stats(p->wq, &st->workq);
	procfile__stats(&st->files);
	st->debuginfod = p->debuginfod != NULL;
	if (p->debuginfod)
		debuginfod__stats(p->debuginfod, &st->debuginfod_stats);
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
	if (!p->opts.off_cpu_probability)
		p->opts.off_cpu_probability = PROFILER_DEFAULT_OFF_CPU_PROBABILITY;
	if (!p->opts.off_cpu_max_threads)
		p->opts.off_cpu_max_threads = PROFILER_DEFAULT_OFF_CPU_THREADS;
	p->epfd = p->wakefd = -1;
	p->deferred_tail = &p->deferred;
	pthread_mutex_init(&p->lock, NULL);

	{
		struct windows_opts wso = { .lock = &p->lock, .frequency = p->opts.frequency,
					    .max_windows = p->opts.max_windows,
					    .max_bytes = p->opts.max_window_bytes,
					    .closed = window_closed, .ctx = p };

		err = windows__new(&wso, &p->windows);
		if (err)
			goto fail;
	}
	{
		struct proclabels_opts lo = { .proc_root = p->opts.proc_root,
					      .k8s = p->opts.k8s,
					      .labeling = &p->opts.labeling };

		err = proclabels__new(&lo, &p->labeler);
		if (err)
			goto fail;
		p->thread_labels = p->opts.labeling.thread_labels;
	}
	/* before the workers start: libdebuginfod reads its settings from
	 * the environment, which this sets */
	if (p->opts.debuginfod.urls && p->opts.debuginfod.urls[0]) {
		err = debuginfod__new(&p->opts.debuginfod, &p->debuginfod);
		if (err) {
			log_error("failed to start the debuginfod client (cache '%s'): %s",
				  p->opts.debuginfod.cache_dir ? p->opts.debuginfod.cache_dir
							       : DEBUGINFOD_DEFAULT_CACHE_DIR,
				  strerror(-err));
			goto fail;
		}
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
	so.demangle = p->opts.demangle;
	so.wq = p->wq;
	so.debuginfod = p->debuginfod;
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
	sa.off_cpu = p->opts.off_cpu;
	sa.off_cpu_probability = p->opts.off_cpu_probability;
	sa.off_cpu_min_ns = p->opts.off_cpu_min_ns;
	sa.off_cpu_max_threads = p->opts.off_cpu_max_threads;
	sa.self_tgid = (uint32_t)getpid();
	/* events are consumed by profiler__step, after the table exists */
	sa.on_event = on_event;
	sa.on_deferred = on_deferred_sample;
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
		p->unwind_maps = um;
		unwinder_walk__maps(&p->unwind_maps, &p->walk_src);
		err = unwinder__new(&um, &uo, &p->unwinder);
		if (err)
			goto fail;
	}
	{
		struct proctable_opts to = { .proc_root = p->opts.proc_root,
					     .max_processes = p->opts.max_processes,
					     .max_bytes = p->opts.max_process_bytes,
					     .wq = p->wq, .sampler = p->sampler, .sym = p->sym,
					     .unwinder = p->unwinder, .labeler = p->labeler,
					     .wanted = wanted, .ctx = p };

		err = proctable__new(&to, &p->procs);
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
	{
		struct mmap_events_opts mo = { .target_tgid = p->opts.target_tgid };
		int merr = mmap_events__open(&mo, &p->mmaps);

		ev.data.fd = merr ? -1 : mmap_events__fd(p->mmaps);
		if (!merr && epoll_ctl(p->epfd, EPOLL_CTL_ADD, ev.data.fd, &ev) < 0)
			merr = -errno;
		if (merr) {
			log_warn("failed to watch new executable mappings: %s, ignoring: the "
				 "libraries of a new process get their tables and names when "
				 "its samples show them", strerror(-merr));
			mmap_events__free(TAKE_PTR(p->mmaps));
		}
	}
	/* workers hand their results back through this fd */
	ev.data.fd = workq__fd(p->wq);
	if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, ev.data.fd, &ev) < 0) {
		err = -errno;
		goto fail;
	}
	p->next_drain_ns = clock__mono_ns() + (uint64_t)p->opts.drain_interval_ms * 1000000ull;
	p->last_drain_ns = clock__mono_ns();
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
	/* windows first: with none open, the reads the workers complete
	 * below preload nothing */
	windows__free(TAKE_PTR(p->windows));
	/* jobs next: their completions touch the tables below */
	workq__free(p->wq);
	while (p->deferred) {
		struct deferred *d = p->deferred;

		p->deferred = d->next;
		free(d);
	}
	sampler__free(p->sampler);
	mmap_events__free(p->mmaps);
	unwinder__free(p->unwinder);
	proctable__free(p->procs);
	symbolizer__free(p->sym);
	debuginfod__free(p->debuginfod);
	proclabels__free(p->labeler);
	if (p->epfd >= 0)
		close(p->epfd);
	if (p->wakefd >= 0)
		close(p->wakefd);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

int profiler__set_labeling(struct profiler *p, const struct profiler_labeling *l)
{
	int err;

	/* the next drain labels every process again (proctable__relabel) */
	pthread_mutex_lock(&p->lock);
	err = proclabels__configure(p->labeler, l);
	if (!err)
		p->thread_labels = l->thread_labels;
	pthread_mutex_unlock(&p->lock);
	return err;
}
