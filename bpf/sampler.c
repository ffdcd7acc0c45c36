#include "bpf/sampler.h"

#include <errno.h>
#include <linux/perf_event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpf/profile.h"
#include "bpf/unwinder.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/macros.h"
#include "common/u64map.h"
#include "profile.skel.h"

#define DRAIN_BATCH 256

struct sampler {
	struct profile_bpf *skel;
	struct bpf_link **perf_links;
	unsigned nlinks;
	struct ring_buffer *events;
	sampler_event_fn on_event;
	sampler_deferred_fn on_deferred;
	void *event_ctx;
	int ncpus_possible;
	/* drain buffers, reused */
	struct sample_key *keys;
	uint64_t *counts;
	struct offcpu_value *offcpu_values;
	bool off_cpu;
	double offcpu_scale; /* 1 / the probability a switch-out is recorded */
	uint64_t *stack_keys;
	struct stack_trace *stacks;
	struct stack_trace *stack_store; /* drained stacks of one generation */
	size_t stack_store_cap;
	struct u64map stack_index;       /* hash -> index in stack_store */
	uint64_t consume_start_ns; /* budget of the running consume_events */
};

int sampler__parse_cpu_list(const char *text, int *cpus, int max)
{
	const char *p = text;
	int n = 0;

	while (*p && *p != '\n') {
		char *end;
		long lo, hi;

		errno = 0;
		lo = strtol(p, &end, 10);
		if (end == p || errno || lo < 0)
			return -EINVAL;
		hi = lo;
		p = end;
		if (*p == '-') {
			p++;
			hi = strtol(p, &end, 10);
			if (end == p || errno || hi < lo)
				return -EINVAL;
			p = end;
		}
		for (long c = lo; c <= hi; c++) {
			if (n >= max)
				return -E2BIG;
			cpus[n++] = (int)c;
		}
		if (*p == ',')
			p++;
		else if (*p && *p != '\n')
			return -EINVAL;
	}
	return n;
}

/* libbpf's messages (the verifier log among them, thousands of lines)
 * go to the agent's log one line at a time. */
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char *text = NULL, *line, *save = NULL;

	if (level != LIBBPF_WARN && log_get_level() < LOG_LEVEL_DEBUG)
		return 0;
	if (vasprintf(&text, fmt, ap) < 0)
		return 0;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		/* libbpf prefixes most messages itself */
		const char *prefix = strncmp(line, "libbpf: ", 8) ? "libbpf: " : "";

		if (level == LIBBPF_WARN)
			log_warn("%s%s", prefix, line);
		else
			log_debug("%s%s", prefix, line);
	}
	free(text);
	return 0;
}

/* One call consumes events for at most this long. Handling one may build
 * unwind tables (milliseconds), and libbpf keeps consuming while the BPF
 * side keeps producing: without a budget a flood of events (a table
 * bound smaller than the working set) could hold the loop, and with it
 * drains and shutdown, indefinitely. */
#define EVENTS_BUDGET_NS 50000000ull

/* < 0 stops libbpf after this record; the rest stays in the ring and its
 * fd stays readable for the next step. */
static int within_budget(const struct sampler *s)
{
	return clock__mono_ns() - s->consume_start_ns > EVENTS_BUDGET_NS ? -EAGAIN : 0;
}

static int handle_event(void *ctx, void *data, size_t size)
{
	struct sampler *s = ctx;

	if (size >= sizeof(struct profile_event) && s->on_event)
		s->on_event(s->event_ctx, data);
	return within_budget(s);
}

static int handle_deferred(void *ctx, void *data, size_t size)
{
	struct sampler *s = ctx;

	if (size >= sizeof(struct deferred_sample) && s->on_deferred)
		s->on_deferred(s->event_ctx, data);
	return within_budget(s);
}

static int open_perf_event(int cpu, uint32_t freq)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_SOFTWARE,
		.size = sizeof(attr),
		.config = PERF_COUNT_SW_CPU_CLOCK,
		.sample_freq = freq,
		.freq = 1,
	};
	int fd = (int)syscall(SYS_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

static int attach_perf_events(struct sampler *s, uint32_t freq)
{
	int cpus[4096], n;
	struct buf online = { 0 };
	int err;

	err = buf_read_file("/sys/devices/system/cpu/online", &online, 65536);
	if (err) {
		log_error("failed to read '/sys/devices/system/cpu/online': %s", strerror(-err));
		buf_release(&online);
		return err;
	}
	n = sampler__parse_cpu_list((char *)online.data, cpus, (int)ARRAY_SIZE(cpus));
	buf_release(&online);
	if (n <= 0) {
		log_error("failed to parse the list of online CPUs");
		return n < 0 ? n : -EINVAL;
	}
	s->perf_links = calloc((size_t)n, sizeof(*s->perf_links));
	if (!s->perf_links)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		struct bpf_link *link;
		int fd = open_perf_event(cpus[i], freq);

		if (fd == -ENODEV) /* went offline since we read the list */
			continue;
		if (fd < 0) {
			log_error("failed to open a cpu-clock perf event on CPU %d: %s%s", cpus[i],
				  strerror(-fd),
				  fd == -EACCES || fd == -EPERM ?
					  " (needs root or CAP_PERFMON; see 'brasa check')" : "");
			return fd;
		}
		link = bpf_program__attach_perf_event(s->skel->progs.profile_sample, fd);
		if (!link) {
			err = -errno;
			close(fd);
			log_error("failed to attach the sampler to CPU %d: %s", cpus[i],
				  strerror(-err));
			return err;
		}
		s->perf_links[s->nlinks++] = link;
	}
	if (!s->nlinks) {
		log_error("no online CPU accepted a perf event");
		return -ENODEV;
	}
	return 0;
}

static uint32_t clamp_entries(uint64_t want, uint32_t lo, uint32_t hi)
{
	return (uint32_t)MIN(MAX(want, (uint64_t)lo), (uint64_t)hi);
}

/* A generation holds at most one drain interval of samples (two, if a
 * drain is late): the maps are sized from CPUs x frequency. They are not
 * preallocated, so this is a bound, not a cost. */
static uint64_t per_drain_of(const struct sampler *s, const struct sampler_opts *opts)
{
	return (uint64_t)s->ncpus_possible * opts->frequency *
	       MAX(opts->drain_interval_ms, 1000u) / 1000u * 2;
}

/* The off-CPU program's settings and map sizes; without off-CPU sampling
 * it is not loaded and its maps take one entry. A switch-out is recorded
 * when a 32-bit random number is below the threshold, so p is rounded to
 * a multiple of 2^-32 and the scale is its exact inverse. */
static int configure_offcpu(struct sampler *s, const struct sampler_opts *opts,
			    uint64_t per_drain)
{
	struct profile_bpf *skel = s->skel;
	double p = opts->off_cpu_probability;
	uint32_t threshold = UINT32_MAX, buckets = 1;

	s->off_cpu = opts->off_cpu;
	s->offcpu_scale = 1.0;
	if (opts->off_cpu) {
		if (!(p > 0 && p <= 1))
			return -EINVAL;
		if (p < 1) {
			threshold = (uint32_t)MAX(p * 4294967296.0 + 0.5, 1.0);
			s->offcpu_scale = 4294967296.0 / threshold;
		}
		/* distinct (thread, stacks) blocking in a drain interval: the
		 * same order as the CPU samples' buckets */
		buckets = clamp_entries(per_drain, 4096, 1u << 20);
	}
	skel->rodata->offcpu = opts->off_cpu;
	skel->rodata->offcpu_threshold = threshold;
	skel->rodata->offcpu_min_ns = opts->off_cpu_min_ns;
	skel->rodata->self_tgid = opts->self_tgid;
	bpf_program__set_autoload(skel->progs.handle_switch, opts->off_cpu);
	bpf_map__set_max_entries(skel->maps.offcpu_counts0, buckets);
	bpf_map__set_max_entries(skel->maps.offcpu_counts1, buckets);
	bpf_program__set_autoload(skel->progs.offcpu_exit, opts->off_cpu);
	skel->rodata->offcpu_max_threads = MAX(opts->off_cpu_max_threads, 64u);
	return 0;
}

int sampler__new(const struct sampler_opts *opts, struct sampler **out)
{
	struct sampler *s;
	uint64_t per_drain;
	int err;

	libbpf_set_print(libbpf_print);
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->on_event = opts->on_event;
	s->on_deferred = opts->on_deferred;
	s->event_ctx = opts->event_ctx;
	s->ncpus_possible = libbpf_num_possible_cpus();
	if (s->ncpus_possible <= 0) {
		err = s->ncpus_possible ? s->ncpus_possible : -EINVAL;
		goto fail;
	}

	s->skel = profile_bpf__open();
	if (!s->skel) {
		err = -errno;
		log_error("failed to open the BPF sampler: %s", strerror(-err));
		goto fail;
	}
	s->skel->rodata->target_tgid = opts->target_tgid;
	s->skel->rodata->want_user = opts->user_stacks;
	s->skel->rodata->want_kernel = opts->kernel_stacks;
	s->skel->rodata->dwarf_unwinding = opts->dwarf;
	err = configure_offcpu(s, opts, per_drain_of(s, opts));
	if (err)
		goto fail;

	per_drain = per_drain_of(s, opts);
	bpf_map__set_max_entries(s->skel->maps.counts0, clamp_entries(per_drain, 4096, 1u << 20));
	bpf_map__set_max_entries(s->skel->maps.counts1, clamp_entries(per_drain, 4096, 1u << 20));
	bpf_map__set_max_entries(s->skel->maps.stacks0, clamp_entries(per_drain * 2, 8192, 1u << 21));
	bpf_map__set_max_entries(s->skel->maps.stacks1, clamp_entries(per_drain * 2, 8192, 1u << 21));

	/* an LRU map is preallocated: size it from the bound on tracked
	 * processes rather than a fixed large number */
	bpf_map__set_max_entries(s->skel->maps.known, MAX(opts->max_processes, (uint32_t)1024));
	bpf_map__set_max_entries(s->skel->maps.dropped, MAX(opts->max_processes, (uint32_t)1024));
	if (opts->dwarf) {
		size_t chunks = MAX(opts->unwind_max_bytes, (size_t)1 << 20) /
				sizeof(struct unwind_chunk);

		/* hash maps without preallocation: bounds, not costs */
		bpf_map__set_max_entries(s->skel->maps.unwind_chunks,
					 (uint32_t)MIN(chunks + chunks / 4 + 64, (size_t)1 << 24));
		bpf_map__set_max_entries(s->skel->maps.unwind_index,
					 (uint32_t)MIN(chunks / 64 + 256, (size_t)1 << 20));
		bpf_map__set_max_entries(s->skel->maps.unwind_info,
					 (uint32_t)MIN(chunks + 1024, (size_t)1 << 20));
		bpf_map__set_max_entries(s->skel->maps.proc_unwind,
					 MAX(opts->max_processes, (uint32_t)64));
	} else {
		/* the unwinder is dead code: keep its maps minimal */
		bpf_map__set_max_entries(s->skel->maps.unwind_chunks, 1);
		bpf_map__set_max_entries(s->skel->maps.unwind_index, 1);
		bpf_map__set_max_entries(s->skel->maps.unwind_info, 1);
		bpf_map__set_max_entries(s->skel->maps.proc_unwind, 1);
		bpf_map__set_max_entries(s->skel->maps.unwind_rules, 1);
		/* the frame cache is an array the walk indexes by hash: one
		 * slot is enough for dead code */
		bpf_map__set_max_entries(s->skel->maps.frame_cache, 1);
	}
	/* --log-level debug: the verifier's statistics (instructions
	 * processed, against its budget of a million) for every program */
	if (log_get_level() >= LOG_LEVEL_DEBUG) {
		bpf_program__set_log_level(s->skel->progs.profile_sample, 4);
		bpf_program__set_log_level(s->skel->progs.handle_switch, 4);
	}
	err = profile_bpf__load(s->skel);
	if (err) {
		log_error("failed to load the BPF sampler: %s%s", strerror(-err),
			  err == -EPERM ? " (needs root, or CAP_BPF and CAP_PERFMON)" : "");
		goto fail;
	}
	err = attach_perf_events(s, opts->frequency);
	if (err)
		goto fail;
	if (opts->off_cpu) {
		s->skel->links.handle_switch = bpf_program__attach(s->skel->progs.handle_switch);
		if (s->skel->links.handle_switch)
			s->skel->links.offcpu_exit = bpf_program__attach(s->skel->progs.offcpu_exit);
		if (!s->skel->links.handle_switch || !s->skel->links.offcpu_exit) {
			err = -errno;
			log_error("failed to attach the off-CPU sampler to sched_switch: %s",
				  strerror(-err));
			goto fail;
		}
	}
	s->skel->links.profile_exec = bpf_program__attach(s->skel->progs.profile_exec);
	s->skel->links.profile_exit = bpf_program__attach(s->skel->progs.profile_exit);
	if (!s->skel->links.profile_exec || !s->skel->links.profile_exit) {
		err = -errno;
		log_error("failed to attach the exec/exit tracepoints: %s", strerror(-err));
		goto fail;
	}
	s->events = ring_buffer__new(bpf_map__fd(s->skel->maps.events), handle_event, s, NULL);
	if (!s->events) {
		err = -errno;
		log_error("failed to open the sampler's event ring buffer: %s", strerror(-err));
		goto fail;
	}
	/* the same epoll fd: one wakeup serves both rings */
	err = ring_buffer__add(s->events, bpf_map__fd(s->skel->maps.deferred), handle_deferred, s);
	if (err) {
		log_error("failed to open the sampler's deferred-sample ring buffer: %s",
			  strerror(-err));
		goto fail;
	}
	s->keys = calloc(DRAIN_BATCH, sizeof(*s->keys));
	s->counts = calloc(DRAIN_BATCH, sizeof(*s->counts));
	s->stack_keys = calloc(DRAIN_BATCH, sizeof(*s->stack_keys));
	s->stacks = calloc(DRAIN_BATCH, sizeof(*s->stacks));
	s->offcpu_values = calloc(DRAIN_BATCH, sizeof(*s->offcpu_values));
	if (!s->keys || !s->counts || !s->stack_keys || !s->stacks || !s->offcpu_values) {
		err = -ENOMEM;
		goto fail;
	}
	*out = s;
	return 0;
fail:
	sampler__free(s);
	return err;
}

void sampler__free(struct sampler *s)
{
	if (!s)
		return;
	ring_buffer__free(s->events);
	for (unsigned i = 0; i < s->nlinks; i++)
		bpf_link__destroy(s->perf_links[i]);
	free(s->perf_links);
	profile_bpf__destroy(s->skel);
	free(s->keys);
	free(s->counts);
	free(s->stack_keys);
	free(s->stacks);
	free(s->offcpu_values);
	free(s->stack_store);
	u64map_release(&s->stack_index);
	free(s);
}

int sampler__events_fd(const struct sampler *s)
{
	return ring_buffer__epoll_fd(s->events);
}

int sampler__consume_events(struct sampler *s)
{
	int n;

	s->consume_start_ns = clock__mono_ns();
	n = ring_buffer__consume(s->events);
	return n == -EAGAIN ? 0 : n;
}

unsigned sampler__ncpus(const struct sampler *s)
{
	return s->nlinks;
}

int64_t sampler__offcpu_pending(const struct sampler *s)
{
	return s->off_cpu ? __atomic_load_n(&s->skel->bss->offcpu_pending, __ATOMIC_RELAXED) : 0;
}

void sampler__unwind_maps(const struct sampler *s, struct unwinder_maps *maps)
{
	maps->proc_unwind = bpf_map__fd(s->skel->maps.proc_unwind);
	maps->rules = bpf_map__fd(s->skel->maps.unwind_rules);
	maps->info = bpf_map__fd(s->skel->maps.unwind_info);
	maps->index = bpf_map__fd(s->skel->maps.unwind_index);
	maps->chunks = bpf_map__fd(s->skel->maps.unwind_chunks);
}

bool sampler__has_bpf_loop(void)
{
	return libbpf_probe_bpf_helper(BPF_PROG_TYPE_PERF_EVENT, BPF_FUNC_loop, NULL) == 1;
}

/* Makes the kernel wait for an RCU grace period: see rcu_sync in
 * profile.bpf.c. */
static int wait_for_programs(struct sampler *s)
{
	__u32 zero = 0;
	int inner = bpf_map__fd(s->skel->maps.rcu_sync_inner);

	return bpf_map_update_elem(bpf_map__fd(s->skel->maps.rcu_sync), &zero, &inner, BPF_ANY);
}

/* Moves every element out of a hash map with lookup_and_delete batches
 * (the kernel's batch cursor is an opaque bucket token), handing each
 * batch of n elements to take(). */
static int drain_map(struct sampler *s, int fd, void *keys, void *values,
		     int (*take)(struct sampler *s, __u32 n, void *ctx), void *ctx)
{
	uint64_t in = 0, out = 0;
	bool first = true;

	for (;;) {
		__u32 n = DRAIN_BATCH;
		int err = bpf_map_lookup_and_delete_batch(fd, first ? NULL : &in, &out, keys,
							  values, &n, NULL);
		int terr;

		if (err && err != -ENOENT)
			return err;
		terr = take(s, n, ctx);
		if (terr)
			return terr;
		if (err == -ENOENT)
			return 0;
		in = out;
		first = false;
	}
}

static int take_stacks(struct sampler *s, __u32 n, void *ctx)
{
	(void)ctx;
	for (__u32 i = 0; i < n; i++) {
		size_t at = s->stack_index.len;
		int err;

		if (at >= s->stack_store_cap) {
			size_t cap = s->stack_store_cap ? s->stack_store_cap * 2 : 1024;
			struct stack_trace *p = realloc(s->stack_store, cap * sizeof(*p));

			if (!p)
				return -ENOMEM;
			s->stack_store = p;
			s->stack_store_cap = cap;
		}
		s->stack_store[at] = s->stacks[i];
		err = u64map_set(&s->stack_index, s->stack_keys[i], at);
		if (err)
			return err;
	}
	return 0;
}

struct drain_ctx {
	sampler_sample_fn fn;
	void *ctx;
};

static const struct stack_trace *drained_stack(const struct sampler *s, uint64_t hash)
{
	uint64_t at;

	if (!hash || !u64map_get(&s->stack_index, hash, &at))
		return NULL;
	return &s->stack_store[at];
}

static int take_counts(struct sampler *s, __u32 n, void *ctx)
{
	struct drain_ctx *d = ctx;

	for (__u32 i = 0; i < n; i++) {
		struct sampler_sample smp = {
			.key = &s->keys[i],
			.count = s->counts[i],
			.ustack = drained_stack(s, s->keys[i].ustack),
			.kstack = drained_stack(s, s->keys[i].kstack),
		};

		d->fn(d->ctx, &smp);
	}
	return 0;
}

static uint64_t scaled(const struct sampler *s, uint64_t v)
{
	return s->offcpu_scale == 1.0 ? v : (uint64_t)((double)v * s->offcpu_scale + 0.5);
}

static int take_offcpu(struct sampler *s, __u32 n, void *ctx)
{
	struct drain_ctx *d = ctx;

	for (__u32 i = 0; i < n; i++) {
		struct sampler_sample smp = {
			.key = &s->keys[i],
			.off_cpu = true,
			.count = scaled(s, s->offcpu_values[i].count),
			.off_cpu_ns = scaled(s, s->offcpu_values[i].ns),
			.ustack = drained_stack(s, s->keys[i].ustack),
			.kstack = drained_stack(s, s->keys[i].kstack),
		};

		d->fn(d->ctx, &smp);
	}
	return 0;
}

int sampler__drain(struct sampler *s, sampler_sample_fn fn, void *ctx)
{
	struct profile_bpf__bss *bss = s->skel->bss;
	uint32_t old = bss->generation & 1;
	struct drain_ctx d = { fn, ctx };
	int counts_fd, stacks_fd, err;

	__atomic_store_n(&bss->generation, old ^ 1, __ATOMIC_SEQ_CST);
	err = wait_for_programs(s);
	if (err) {
		log_error("failed to wait for in-flight sampler programs: %s", strerror(-err));
		return err;
	}
	/* Every program run of the old generation has finished, so every
	 * "new process" event it emitted is in the ring buffer: handle them
	 * before its samples, which need those processes' snapshots (with a
	 * budget of its own, not what is left of the last step's). */
	s->consume_start_ns = clock__mono_ns();
	ring_buffer__consume(s->events);
	counts_fd = bpf_map__fd(old ? s->skel->maps.counts1 : s->skel->maps.counts0);
	stacks_fd = bpf_map__fd(old ? s->skel->maps.stacks1 : s->skel->maps.stacks0);

	/* Stacks first: every count of the old generation refers to them. */
	u64map_clear(&s->stack_index);
	err = drain_map(s, stacks_fd, s->stack_keys, s->stacks, take_stacks, NULL);
	if (err) {
		log_error("failed to drain the stacks map: %s", strerror(-err));
		return err;
	}
	err = drain_map(s, counts_fd, s->keys, s->counts, take_counts, &d);
	if (err) {
		log_error("failed to drain the counts map: %s", strerror(-err));
		return err;
	}
	if (!s->off_cpu)
		return 0;
	counts_fd = bpf_map__fd(old ? s->skel->maps.offcpu_counts1 : s->skel->maps.offcpu_counts0);
	err = drain_map(s, counts_fd, s->keys, s->offcpu_values, take_offcpu, &d);
	if (err)
		log_error("failed to drain the off-CPU counts map: %s", strerror(-err));
	return err;
}

int sampler__set_dropped(struct sampler *s, uint32_t tgid, uint32_t image, bool drop)
{
	int fd = bpf_map__fd(s->skel->maps.dropped);
	uint32_t old;
	bool had = bpf_map_lookup_elem(fd, &tgid, &old) == 0;

	if (drop) {
		if (bpf_map_update_elem(fd, &tgid, &image, BPF_ANY))
			return -errno;
	} else if (had && bpf_map_delete_elem(fd, &tgid) && errno != ENOENT) {
		return -errno;
	}
	if (drop != had)
		s->skel->bss->ndropped += drop ? 1 : -1;
	return 0;
}

int sampler__stats(const struct sampler *s, uint64_t out[PROFILE_STAT_MAX])
{
	int fd = bpf_map__fd(s->skel->maps.stats);
	_cleanup_free_ uint64_t *percpu = calloc((size_t)s->ncpus_possible, sizeof(uint64_t));

	if (!percpu)
		return -ENOMEM;
	for (__u32 i = 0; i < PROFILE_STAT_MAX; i++) {
		int err = bpf_map_lookup_elem(fd, &i, percpu);

		if (err)
			return err;
		out[i] = 0;
		for (int c = 0; c < s->ncpus_possible; c++)
			out[i] += percpu[c];
	}
	return 0;
}
