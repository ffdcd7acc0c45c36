/* history-bench: a synthetic busy host written into a history store
 * (history/history.h), window after window, then ranges merged back; the
 * figures for tests/bench/history.py, one "name value" line each.
 *
 *   history-bench [--path FILE] [--windows N] [--processes N] [--stacks N]
 *                 [--samples N] [--codec zstd|deflate|raw] [--thread-labels]
 *
 * The load: --processes processes (running one of 40 programs, each with
 * its functions, its load address: locations are per process, as with
 * ASLR), their activity a long tail (process r gets a share ~ 1/r^1.2 of
 * --samples samples per 15 s window), each with stacks of depth 10 to 40
 * (process r has ~ --stacks / (r * H) of them, about --stacks in all),
 * picked with a long tail too. Churn per window: one process restarts
 * (a new pid, new addresses, new stacks) and some of every process's
 * stacks are replaced (--churn, default 2 per mille). Labels as the agent gives them: pid, comm,
 * service_name, namespace, pod, container, node. Last, the store is
 * reopened bound at 90 % of its size and pruned (windows dropped, the
 * dictionary swept). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "common/clock.h"
#include "history/history.h"
#include "history/record.h"

#define PROGRAMS 40
#define FUNCS 3000  /* per program */
#define LIBC_FUNCS 400
#define KERNEL_FUNCS 300
#define WIN_NS (15ll * 1000000000ll)
#define PERIOD_NS 10101010ull
#define T0 1700000000000000000ll
#define MAX_DEPTH 40

struct stack {
	int depth;
	int frames[MAX_DEPTH]; /* root first: >= 0 program, -1 - i libc, -10000 - i kernel */
};

struct process {
	int pid, program;
	uint64_t base, libc_base;
	struct stack *stacks;
	int nstacks;
	double weight;
	char pod[64];
};

static uint64_t rng = 88172645463325252ull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static double uniform(void)
{
	return (double)(next() >> 11) / (double)(1ull << 53);
}

/* A rank from 0 to n - 1, with probability ~ 1 / (rank + 1) (Zipf). */
static int zipf(int n)
{
	double h = log((double)n + 1.0);

	return (int)fmin(n - 1, floor(exp(uniform() * h) - 1.0));
}

static void new_stack(const struct process *p, struct stack *s)
{
	/* call paths share their roots: a program's main and its framework */
	s->depth = 10 + (int)(next() % 31);
	for (int d = 0; d < s->depth; d++) {
		if (d < 4)
			s->frames[d] = d + p->program % 3;
		else
			s->frames[d] = 4 + (d < 12 ? zipf(200) : zipf(FUNCS - 4));
	}
	/* a third end in libc, a tenth of those in the kernel */
	if (next() % 3 == 0) {
		s->frames[s->depth - 2] = -1 - zipf(LIBC_FUNCS);
		s->frames[s->depth - 1] = next() % 10 ? -1 - zipf(LIBC_FUNCS) : -10000 - zipf(KERNEL_FUNCS);
	}
}

static int next_pid = 1000;

static void start_process(struct process *p, int rank, int total_stacks, double h)
{
	free(p->stacks);
	p->pid = next_pid++;
	p->program = rank % PROGRAMS;
	p->base = 0x555500000000ull + (next() % 0x100000) * 0x1000;
	p->libc_base = 0x7f0000000000ull + (next() % 0x100000) * 0x1000;
	p->nstacks = 3 + (int)(total_stacks / ((rank + 1) * h));
	p->stacks = calloc((size_t)p->nstacks, sizeof(*p->stacks));
	for (int i = 0; i < p->nstacks; i++)
		new_stack(p, &p->stacks[i]);
	snprintf(p->pod, sizeof(p->pod), "svc%d-%x-%x", p->program, (unsigned)(next() & 0xfffff),
		 (unsigned)(next() & 0xffff));
}

static uint64_t location(struct pprof *pp, const struct process *p, int f, uint64_t maps[3])
{
	char name[96], file[64];
	struct pprof_line line = { name, file, 0 };
	uint64_t addr, m;

	if (f >= 0) {
		snprintf(name, sizeof(name), "svc%d::module%d::Handler%d::run", p->program, f / 50, f);
		snprintf(file, sizeof(file), "src/svc%d/module%d.cc", p->program, f / 50);
		addr = p->base + 0x1000 + (uint64_t)f * 96;
		m = maps[0];
	} else if (f > -10000) {
		snprintf(name, sizeof(name), "__libc_function_%d", -1 - f);
		snprintf(file, sizeof(file), "libc/%d.c", (-1 - f) / 20);
		addr = p->libc_base + 0x28000 + (uint64_t)(-1 - f) * 64;
		m = maps[1];
	} else {
		snprintf(name, sizeof(name), "kernel_function_%d", -10000 - f);
		file[0] = 0;
		addr = 0xffffffff81000000ull + (uint64_t)(-10000 - f) * 128;
		m = maps[2];
	}
	line.line = 10 + (f & 0x3ff);
	return pprof__location(pp, m, addr, &line, 1);
}

/* The profile of process p in a window with n samples. */
static struct pprof *process_profile(const struct process *p, int64_t start, int n,
				     bool thread_labels)
{
	const struct pprof_opts o = { PERIOD_NS, start, WIN_NS };
	char exe[64];
	struct pprof *pp = NULL;
	uint64_t maps[3], locs[MAX_DEPTH];

	snprintf(exe, sizeof(exe), "/usr/bin/svc%d", p->program);
	const struct pprof_mapping m[3] = {
		{ .memory_start = p->base, .memory_limit = p->base + 0x400000, .filename = exe,
		  .build_id = "0123456789abcdef0123456789abcdef01234567", .has_functions = true },
		{ .memory_start = p->libc_base, .memory_limit = p->libc_base + 0x200000,
		  .filename = "/usr/lib/x86_64-linux-gnu/libc.so.6",
		  .build_id = "89abcdef0123456789abcdef0123456789abcdef", .has_functions = true },
		{ .memory_start = 0xffffffff81000000ull, .memory_limit = 0xffffffff83000000ull,
		  .filename = "[kernel.kallsyms]", .has_functions = true, .is_kernel = true },
	};
	if (pprof__new(&o, &pp))
		abort();
	for (int i = 0; i < 3; i++)
		maps[i] = pprof__mapping(pp, (uint64_t)i + 1, &m[i]);
	for (int i = 0; i < n; i++) {
		const struct stack *s = &p->stacks[zipf(p->nstacks)];
		char tname[32];
		struct pprof_label labels[2] = {
			{ .key = "thread_id", .num = p->pid + (int)(next() % 8) },
			{ .key = "thread_name", .str = tname },
		};

		snprintf(tname, sizeof(tname), "worker-%d", (int)(labels[0].num - p->pid));
		for (int d = 0; d < s->depth; d++)
			locs[s->depth - 1 - d] = location(pp, p, s->frames[d], maps);
		if (pprof__add_sample(pp, locs, (size_t)s->depth, 1, labels, thread_labels ? 2 : 0))
			abort();
	}
	return pp;
}

static double now_s(clockid_t c)
{
	return (double)clock__ns(c) / 1e9;
}

static long rss_kib(const char *key)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/self/status", "re");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)))
			v = strtol(line + strlen(key) + 1, NULL, 10);
	if (f)
		fclose(f);
	return v;
}

static void merge_range(struct history *h, const char *name, int64_t from, int64_t to)
{
	const struct pprof_opts o = { PERIOD_NS, from, to - from };
	struct pprof *pp = NULL;
	struct history_merge_info info;
	struct pprof_stats st;
	double t = now_s(CLOCK_MONOTONIC), c = now_s(CLOCK_PROCESS_CPUTIME_ID);
	int err;

	pprof__new(&o, &pp);
	err = history__merge(h, from, to, NULL, pp, &info);
	if (err) {
		fprintf(stderr, "merge %s: %s\n", name, strerror(-err));
		exit(1);
	}
	pprof__stats(pp, &st);
	printf("merge_%s_windows %llu\n", name, (unsigned long long)info.windows);
	printf("merge_%s_samples %llu\n", name, (unsigned long long)info.samples);
	printf("merge_%s_seconds %.3f\n", name, now_s(CLOCK_MONOTONIC) - t);
	printf("merge_%s_cpu_seconds %.3f\n", name, now_s(CLOCK_PROCESS_CPUTIME_ID) - c);
	printf("merge_%s_pprof_samples %zu\n", name, st.samples);
	printf("merge_%s_pprof_locations %zu\n", name, st.locations);
	printf("merge_%s_corrupt %llu\n", name, (unsigned long long)info.corrupt_records);
	pprof__free(pp);
}

/* The store bound at 90 % of its size, as on a node whose history
 * reached history.max_bytes: the oldest windows dropped, the dictionary
 * swept (the first prune after an open sweeps), the space returned. */
static int prune_bytes(const char *path, uint64_t bytes, int64_t now_ns)
{
	const struct history_opts ho = { .path = path, .max_bytes = bytes / 10 * 9 };
	struct history_stats st;
	struct history *h;
	char err[512];
	double t;
	int rc;

	if (history__open(&ho, &h, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	t = now_s(CLOCK_MONOTONIC);
	rc = history__prune(h, now_ns);
	t = now_s(CLOCK_MONOTONIC) - t;
	history__stats(h, &st);
	history__close(h);
	if (rc) {
		fprintf(stderr, "prune: %s\n", strerror(-rc));
		return -1;
	}
	printf("prune_seconds %.3f\n", t);
	printf("prune_bytes_after %llu\n", (unsigned long long)st.bytes);
	printf("prune_windows_dropped %llu\n", (unsigned long long)st.drops[HISTORY_DROP_BYTES]);
	printf("sweeps %llu\n", (unsigned long long)st.sweeps);
	printf("sweep_seconds %.3f\n", (double)st.sweep_ns / 1e9);
	printf("sweep_rows %llu\n", (unsigned long long)st.sweep_rows);
	printf("prune_rss_kib_peak %ld\n", rss_kib("VmHWM:"));
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "path", required_argument, NULL, 'p' },
		{ "windows", required_argument, NULL, 'w' },
		{ "processes", required_argument, NULL, 'n' },
		{ "stacks", required_argument, NULL, 's' },
		{ "samples", required_argument, NULL, 'S' },
		{ "codec", required_argument, NULL, 'c' },
		{ "thread-labels", no_argument, NULL, 't' },
		{ "churn", required_argument, NULL, 'C' },
		{ 0 },
	};
	const char *path = "/tmp/history-bench/history.db";
	int windows = 5760, nproc = 300, total_stacks = 4000, samples = 6000, codec = RECORD_ZSTD;
	bool thread_labels = false;
	int churn_permille = 2;
	struct process *procs;
	struct history *h;
	struct history_stats st;
	char err[512];
	double h_sum = 0, weight_sum = 0, put_wall = 0, put_cpu = 0, put_max = 0;
	uint64_t bytes_1h = 0;
	int opt;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'p': path = optarg; break;
		case 'w': windows = atoi(optarg); break;
		case 'n': nproc = atoi(optarg); break;
		case 's': total_stacks = atoi(optarg); break;
		case 'S': samples = atoi(optarg); break;
		case 'c':
			codec = !strcmp(optarg, "raw") ? RECORD_RAW :
				!strcmp(optarg, "deflate") ? RECORD_DEFLATE : RECORD_ZSTD;
			break;
		case 't': thread_labels = true; break;
		case 'C': churn_permille = atoi(optarg); break;
		default: return 2;
		}
	}
	const struct history_opts ho = { .path = path, .codec = codec };
	if (history__open(&ho, &h, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	procs = calloc((size_t)nproc, sizeof(*procs));
	for (int r = 0; r < nproc; r++)
		h_sum += 1.0 / (r + 1);
	for (int r = 0; r < nproc; r++) {
		start_process(&procs[r], r, total_stacks, h_sum);
		procs[r].weight = 1.0 / pow(r + 1, 1.2);
		weight_sum += procs[r].weight;
	}
	for (int w = 0; w < windows; w++) {
		int64_t start = T0 + w * WIN_NS;
		struct history_series *series = calloc((size_t)nproc, sizeof(*series));
		struct labels *ls = calloc((size_t)nproc, sizeof(*ls));
		int *counts = calloc((size_t)nproc, sizeof(*counts)), n = 0;
		double t, c;

		/* churn: a process restarts, some stacks change */
		start_process(&procs[1 + next() % (nproc - 1)], (int)(next() % nproc), total_stacks, h_sum);
		for (int r = 0; r < nproc; r++)
			for (int i = 0; i < procs[r].nstacks; i++)
				if (next() % 1000 < (uint64_t)churn_permille)
					new_stack(&procs[r], &procs[r].stacks[i]);
		for (int i = 0; i < samples; i++) {
			double x = uniform() * weight_sum;
			int r = 0;

			while (r < nproc - 1 && (x -= procs[r].weight) > 0)
				r++;
			counts[r]++;
		}
		for (int r = 0; r < nproc; r++) {
			char pid[16], comm[32], svc[32];

			if (!counts[r])
				continue;
			snprintf(pid, sizeof(pid), "%d", procs[r].pid);
			snprintf(comm, sizeof(comm), "svc%d", procs[r].program);
			snprintf(svc, sizeof(svc), "prod/svc%d", procs[r].program);
			labels__set(&ls[n], "pid", pid);
			labels__set(&ls[n], "comm", comm);
			labels__set(&ls[n], "service_name", svc);
			labels__set(&ls[n], "namespace", "prod");
			labels__set(&ls[n], "pod", procs[r].pod);
			labels__set(&ls[n], "container", comm);
			labels__set(&ls[n], "node", "node-17.example.internal");
			series[n].labels = &ls[n];
			series[n].profile = process_profile(&procs[r], start, counts[r], thread_labels);
			n++;
		}
		const struct history_window win = { start, WIN_NS, PERIOD_NS, series, (size_t)n };
		t = now_s(CLOCK_MONOTONIC);
		c = now_s(CLOCK_PROCESS_CPUTIME_ID);
		if (history__put(h, &win)) {
			fprintf(stderr, "put of window %d failed\n", w);
			return 1;
		}
		t = now_s(CLOCK_MONOTONIC) - t;
		put_wall += t;
		put_max = fmax(put_max, t);
		put_cpu += now_s(CLOCK_PROCESS_CPUTIME_ID) - c;
		for (int i = 0; i < n; i++) {
			pprof__free(series[i].profile);
			labels__clear(&ls[i]);
		}
		free(series);
		free(ls);
		free(counts);
		if (w + 1 == 240)
			{ struct history_stats s1; history__stats(h, &s1); bytes_1h = s1.bytes; }
		if ((w + 1) % 480 == 0)
			{ struct history_stats s1; history__stats(h, &s1); fprintf(stderr, "%d windows, %.1f MB\n", w + 1, s1.bytes / 1e6); }
	}
	history__stats(h, &st);
	printf("windows %d\n", windows);
	printf("series %llu\n", (unsigned long long)st.series);
	printf("bytes %llu\n", (unsigned long long)st.bytes);
	printf("bytes_first_hour %llu\n", (unsigned long long)bytes_1h);
	printf("bytes_per_hour %.0f\n", (double)st.bytes / (windows / 240.0));
	printf("put_wall_ms_mean %.3f\n", 1e3 * put_wall / windows);
	printf("put_wall_ms_max %.3f\n", 1e3 * put_max);
	printf("put_cpu_ms_mean %.3f\n", 1e3 * put_cpu / windows);
	for (int k = 0; k < HISTORY_KIND__MAX; k++)
		printf("dict_%s %llu\n", history__kind_name(k), (unsigned long long)st.dict_rows[k]);
	printf("cache_bytes %llu\n", (unsigned long long)st.cache_bytes);
	printf("cache_resets %llu\n", (unsigned long long)st.cache_resets);
	printf("rss_kib_after_puts %ld\n", rss_kib("VmRSS:"));
	{
		int64_t end = T0 + windows * WIN_NS;

		merge_range(h, "1h", end - 240 * WIN_NS, end);
		if (windows >= 5760)
			merge_range(h, "24h", end - 5760 * WIN_NS, end);
	}
	printf("rss_kib %ld\n", rss_kib("VmRSS:"));
	printf("rss_kib_peak %ld\n", rss_kib("VmHWM:"));
	history__close(h);
	if (prune_bytes(path, st.bytes, T0 + windows * WIN_NS))
		return 1;
	for (int r = 0; r < nproc; r++)
		free(procs[r].stacks);
	free(procs);
	return 0;
}
