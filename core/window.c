#include "core/window.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/macros.h"
#include "common/u64map.h"
#include "labels/matcher.h"

/* Window slots: a held-back sample names the windows that want it in a
 * 64-bit mask. */
#define MAX_SLOTS 64

/* One profile a window builds: the whole window, or one series (one
 * process label set) of it. */
struct wprof {
	struct pprof *pprof;
	bool named; /* its first mapping is chosen */
	struct labels labels;
};

struct window {
	struct windows *ws;
	struct window_opts o;
	unsigned slot;        /* index in windows.slots */
	struct wprof whole;   /* the whole window, unless o.by_series (no labels) */
	struct wprof *series; /* o.by_series: one profile per label set */
	size_t nseries, cap_series;
	struct u64map series_index; /* labels hash -> index + 1 */
	int64_t time_nanos;   /* Unix start, for series profiles */
	bool started, ended, done;
	unsigned pending;     /* held-back samples it still waits for */
	size_t bytes;         /* its profiles' memory, counted in windows.bytes */
	uint64_t start_ns, end_ns; /* CLOCK_MONOTONIC */
	struct window *successor; /* o.chain: the window that took over */
	uint64_t ended_ns;        /* CLOCK_MONOTONIC of the drain that ended it */
	struct window *next;
};

struct windows {
	struct windows_opts opts;
	pthread_cond_t done_cond;
	struct window *list;
	struct window *slots[MAX_SLOTS];
	size_t n;
	size_t bytes;
	bool stopping; /* cancelled: chained windows end for good */
	uint64_t samples_dropped;
	uint64_t locs[2 * PROFILE_MAX_DEPTH * WINDOW_MAX_INLINE];
};

/* ---- one window's profiles --------------------------------------------- */

static struct pprof *new_pprof(struct window *w)
{
	struct pprof_opts po = {
		.type = w->o.type,
		.period_ns = 1000000000ull / w->ws->opts.frequency,
		.time_nanos = w->time_nanos,
		.duration_nanos = (int64_t)w->o.seconds * 1000000000ll,
	};

	struct pprof *p = NULL;

	pprof__new(&po, &p); /* only ENOMEM: the caller's NULL check */
	return p;
}

/* The profile of a series window for a process's label set, created on
 * its first sample. NULL on allocation failure (the sample is lost). */
static struct wprof *series_of(struct window *w, const struct window_sample *s)
{
	static const struct labels none;
	const struct labels *ls = s->labels ? s->labels : &none;
	uint64_t h = s->labels ? s->labels_hash : labels__hash(&none), v;
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

/* The profile a sample goes to in w. */
static struct wprof *wprof_of(struct window *w, const struct window_sample *s)
{
	return w->o.by_series ? series_of(w, s) : &w->whole;
}

/* Sample labels: in a series profile only the thread; in a whole-window
 * profile also the process's labels (so -tagfocus can pick a process).
 * An off-CPU sample says why its thread left the CPU in both: it is a
 * dimension of the sample, not of the process. */
static size_t sample_labels(const struct window *w, const struct window_sample *s,
			    struct pprof_label *labels, size_t max)
{
	const struct sample_key *key = s->key;
	const struct labels *ls = s->labels;
	size_t n = 0;

	if (s->thread_labels) {
		labels[n++] = (struct pprof_label){ .key = "thread_id", .num = key->tid };
		labels[n++] = (struct pprof_label){ .key = "thread_name", .str = key->thread_comm };
	}
	/* a wall profile says which of the three its time was */
	if (w->o.type == PPROF_TYPE_WALL && s->type == PPROF_TYPE_CPU)
		labels[n++] = (struct pprof_label){ .key = "thread_state", .str = "running" };
	else if (s->type == PPROF_TYPE_OFF_CPU)
		labels[n++] = (struct pprof_label){
			.key = w->o.type == PPROF_TYPE_WALL ? "thread_state" : "off_cpu_reason",
			.str = key->flags & SAMPLE_F_PREEMPTED ? "preempted" : "blocked",
		};
	if (w->o.by_series)
		return n;
	labels[n++] = (struct pprof_label){ .key = "pid", .num = key->tgid };
	if (!ls || !labels__get(ls, "comm"))
		labels[n++] = (struct pprof_label){ .key = "comm", .str = s->comm };
	for (size_t i = 0; ls && i < ls->n && n < max; i++) {
		if (!strcmp(ls->v[i].name, "pid"))
			continue; /* a number above */
		labels[n++] = (struct pprof_label){ .key = ls->v[i].name, .str = ls->v[i].value };
	}
	return n;
}

/* Adds one resolved sample to w, unless the windows' memory bound is
 * reached (then it is counted as dropped). */
static void add_to_window(struct windows *ws, struct window *w, const struct window_sample *s)
{
	struct pprof_label labels[PPROF_MAX_LABELS];
	const struct window_frame *frames = s->frames;
	uint64_t *locs = ws->locs;
	struct wprof *wp;
	size_t nlocs = 0, nlabels, before;

	if (ws->bytes >= ws->opts.max_bytes) {
		ws->samples_dropped += s->count;
		return;
	}
	wp = wprof_of(w, s);
	if (!wp)
		return;
	before = pprof__bytes(wp->pprof);
	/* Readers name a profile after its first mapping (go tool pprof's
	 * "File:"): let it be the main executable of the first sample that
	 * has a frame in it. */
	for (size_t i = 0; !wp->named && s->exe && i < s->nframes; i++) {
		if (frames[i].has_mapping && frames[i].mapping.filename &&
		    !strcmp(frames[i].mapping.filename, s->exe)) {
			pprof__mapping(wp->pprof, frames[i].mapping_key, &frames[i].mapping);
			wp->named = true;
		}
	}
	/* pprof wants leaf first: kernel frames (leaf part) come first in
	 * frames[], then user frames, each already leaf first. */
	for (size_t i = 0; i < s->nframes; i++) {
		const struct window_frame *f = &frames[i];
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
	nlabels = sample_labels(w, s, labels, ARRAY_SIZE(labels));
	if (s->type == PPROF_TYPE_OFF_CPU)
		pprof__add_sample_value(wp->pprof, locs, nlocs, (int64_t)s->count,
					(int64_t)s->off_cpu_ns, labels, nlabels);
	else if (w->o.type == PPROF_TYPE_WALL) /* a CPU sample stands for its period */
		pprof__add_sample_value(wp->pprof, locs, nlocs, (int64_t)s->count,
					(int64_t)(s->count * (1000000000ull / ws->opts.frequency)),
					labels, nlabels);
	else
		pprof__add_sample(wp->pprof, locs, nlocs, (int64_t)s->count, labels, nlabels);
out:
	{
		size_t after = pprof__bytes(wp->pprof);

		w->bytes += after - before;
		ws->bytes += after - before;
	}
}

static void start_window(struct window *w, uint64_t mono)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	w->time_nanos = (int64_t)((uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec);
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

/* ---- the set of open windows ---------------------------------------------- */

static struct window *window_alloc(struct windows *ws, const struct window_opts *o)
{
	struct window *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->ws = ws;
	w->o = *o;
	u64map_init(&w->series_index);
	return w;
}

/* Gives w a slot and puts it on the list; false when every slot is
 * taken. */
static bool window_link(struct windows *ws, struct window *w)
{
	for (unsigned s = 0; s < MAX_SLOTS; s++) {
		if (!ws->slots[s]) {
			ws->slots[s] = w;
			w->slot = s;
			w->next = ws->list;
			ws->list = w;
			ws->n++;
			return true;
		}
	}
	return false;
}

/* A chained window hands over at the very drain that ends it, so the
 * successor's span starts where this one's ended: no sample falls between
 * two upload windows. */
static void chain_window(struct windows *ws, struct window *w, uint64_t mono)
{
	struct window *n;

	if (!w->o.chain || ws->stopping)
		return;
	n = window_alloc(ws, &w->o);
	if (!n || !window_link(ws, n)) {
		free(n);
		log_error("failed to continue a profile window: out of memory");
		return;
	}
	start_window(n, mono);
	w->successor = n;
}

int windows__open(struct windows *ws, const struct window_opts *o, struct window **out)
{
	struct window *w = window_alloc(ws, o);

	if (!w)
		return -ENOMEM;
	if (ws->n >= ws->opts.max_windows || !window_link(ws, w)) {
		free(w);
		return -EBUSY;
	}
	*out = w;
	return 0;
}

uint64_t windows__wanting(const struct windows *ws, uint32_t tgid, enum pprof_type type)
{
	uint64_t mask = 0;

	for (const struct window *w = ws ? ws->list : NULL; w; w = w->next)
		if (w->started && !w->ended &&
		    (w->o.type == type || w->o.type == PPROF_TYPE_WALL) &&
		    (w->o.pid < 0 || (uint32_t)w->o.pid == tgid))
			mask |= 1ull << w->slot;
	return mask;
}

/* Whether w's label matcher lets s in. A sample held back while its
 * process was read comes here once the read is done, so it is matched
 * with the labels the read gave. A process without labels (the table
 * could not track it, or its read outlasted the wait, DEFER_MAX_NS) has
 * the comm and pid its samples carry anyway. */
static bool window_matches(const struct window *w, const struct window_sample *s)
{
	char pid[16];
	struct label untracked[2] = { { "comm", (char *)s->comm }, { "pid", pid } };
	struct labels ls = { .v = untracked, .n = 2, .cap = 2 }; /* sorted by name */

	if (!w->o.match)
		return true;
	if (s->labels && s->labels->n)
		return matcher_set__matches(w->o.match, s->labels);
	snprintf(pid, sizeof(pid), "%u", s->key->tgid);
	if (!s->comm) {
		ls.v = &untracked[1];
		ls.n = 1;
	}
	return matcher_set__matches(w->o.match, &ls);
}

void windows__add(struct windows *ws, uint64_t mask, const struct window_sample *s)
{
	for (unsigned i = 0; i < MAX_SLOTS; i++)
		if ((mask >> i & 1) && ws->slots[i] && window_matches(ws->slots[i], s))
			add_to_window(ws, ws->slots[i], s);
}

void windows__hold(struct windows *ws, uint64_t mask)
{
	for (unsigned s = 0; s < MAX_SLOTS; s++)
		if ((mask >> s & 1) && ws->slots[s])
			ws->slots[s]->pending++;
}

void windows__release(struct windows *ws, uint64_t mask)
{
	for (unsigned s = 0; s < MAX_SLOTS; s++)
		if ((mask >> s & 1) && ws->slots[s] && ws->slots[s]->pending)
			ws->slots[s]->pending--;
}

void windows__finish_ended(struct windows *ws)
{
	bool any = false;

	for (struct window *w = ws->list; w; w = w->next) {
		if (w->ended && !w->done && !w->pending) {
			w->done = true;
			any = true;
		}
	}
	if (any)
		pthread_cond_broadcast(&ws->done_cond);
}

void windows__drained(struct windows *ws, uint64_t mono)
{
	for (struct window *w = ws->list; w; w = w->next) {
		if (!w->started) {
			start_window(w, mono);
		} else if (!w->ended && mono + 1000000 >= w->end_ns) {
			w->ended = true;
			w->ended_ns = mono;
			chain_window(ws, w, mono);
			/* what it really covers: ended early (Ctrl-C), or a drain
			 * some ms past its deadline, which a chained successor
			 * starts from */
			window_set_duration(w, (int64_t)(mono - w->start_ns));
		}
	}
}

uint64_t windows__deadline(const struct windows *ws, uint64_t d)
{
	for (const struct window *w = ws->list; w; w = w->next) {
		if (!w->started)
			d = 0;
		else if (!w->ended && w->end_ns < d)
			d = w->end_ns;
	}
	return d;
}

void windows__finish(struct windows *ws, struct window *w)
{
	/* due now: the next step drains and ends it */
	if (w->ws == ws && w->started)
		w->end_ns = 0;
}

void windows__cancel(struct windows *ws, uint64_t mono)
{
	ws->stopping = true;
	for (struct window *w = ws->list; w; w = w->next) {
		if (!w->started)
			start_window(w, mono);
		if (!w->ended) {
			window_set_duration(w, (int64_t)(mono - w->start_ns));
			w->ended_ns = mono;
		}
		w->ended = w->done = true;
	}
	pthread_cond_broadcast(&ws->done_cond);
}

void windows__stats(const struct windows *ws, struct windows_stats *st)
{
	*st = (struct windows_stats){
		.windows = ws->n,
		.max_windows = ws->opts.max_windows,
		.bytes = ws->bytes,
		.max_bytes = ws->opts.max_bytes,
		.samples_dropped = ws->samples_dropped,
	};
}

int windows__new(const struct windows_opts *opts, struct windows **out)
{
	struct windows *ws = calloc(1, sizeof(*ws));

	if (!ws)
		return -ENOMEM;
	ws->opts = *opts;
	ws->opts.max_windows = MIN(ws->opts.max_windows, (size_t)MAX_SLOTS);
	pthread_cond_init(&ws->done_cond, NULL);
	*out = ws;
	return 0;
}

void windows__free(struct windows *ws)
{
	if (!ws)
		return;
	while (ws->list)
		window__close(ws->list);
	pthread_cond_destroy(&ws->done_cond);
	free(ws);
}

/* ---- one window, from the thread that opened it ---------------------------- */

bool window__done(struct window *w)
{
	bool done;

	pthread_mutex_lock(w->ws->opts.lock);
	done = w->done;
	pthread_mutex_unlock(w->ws->opts.lock);
	return done;
}

void window__wait(struct window *w)
{
	pthread_mutex_lock(w->ws->opts.lock);
	while (!w->done)
		pthread_cond_wait(&w->ws->done_cond, w->ws->opts.lock);
	pthread_mutex_unlock(w->ws->opts.lock);
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

	pthread_mutex_lock(w->ws->opts.lock);
	n = w->successor;
	pthread_mutex_unlock(w->ws->opts.lock);
	return n;
}

void window__close(struct window *w)
{
	struct windows *ws;

	if (!w)
		return;
	ws = w->ws;
	pthread_mutex_lock(ws->opts.lock);
	for (struct window **pp = &ws->list; *pp; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			ws->n--;
			break;
		}
	}
	if (ws->slots[w->slot] == w)
		ws->slots[w->slot] = NULL;
	ws->opts.closed(ws->opts.ctx, w->slot);
	ws->bytes -= MIN(w->bytes, ws->bytes);
	pthread_mutex_unlock(ws->opts.lock);
	pprof__free(w->whole.pprof);
	for (size_t i = 0; i < w->nseries; i++) {
		pprof__free(w->series[i].pprof);
		labels__clear(&w->series[i].labels);
	}
	free(w->series);
	u64map_release(&w->series_index);
	free(w);
}
