#include "serve/metrics.h"

#include <errno.h>
#include <stdio.h>

#include "common/macros.h"
#include "history/history.h"

int metrics__family(struct buf *out, const char *name, const char *type, const char *help)
{
	return buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

int metrics__escape(struct buf *out, const char *value)
{
	for (const char *c = value; *c; c++) {
		int err;

		switch (*c) {
		case '\\':
			err = buf_append(out, "\\\\", 2);
			break;
		case '"':
			err = buf_append(out, "\\\"", 2);
			break;
		case '\n':
			err = buf_append(out, "\\n", 2);
			break;
		default:
			err = buf_append(out, c, 1);
		}
		if (err)
			return err;
	}
	return 0;
}

int metrics__sample(struct buf *out, const char *name, const char *labels, double value)
{
	if (labels)
		return buf_printf(out, "%s{%s} %.17g\n", name, labels, value);
	return buf_printf(out, "%s %.17g\n", name, value);
}

struct metric_def {
	const char *name, *type, *help;
	double value;
};

static int write_defs(struct buf *out, const struct metric_def *defs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int err = metrics__family(out, defs[i].name, defs[i].type, defs[i].help);

		if (!err)
			err = metrics__sample(out, defs[i].name, NULL, defs[i].value);
		if (err)
			return err;
	}
	return 0;
}

/* One family with a sample per label value: values[i] as
 * key="names[i]"; entries whose name is NULL are not part of it. */
static int write_typed_by_label(struct buf *out, const char *name, const char *type,
				const char *help, const char *key, const char *const *names,
				const uint64_t *values, size_t n)
{
	int err = metrics__family(out, name, type, help);

	for (size_t i = 0; !err && i < n; i++) {
		char labels[96];

		if (!names[i])
			continue;
		snprintf(labels, sizeof(labels), "%s=\"%s\"", key, names[i]);
		err = metrics__sample(out, name, labels, (double)values[i]);
	}
	return err;
}

static int write_by_label(struct buf *out, const char *name, const char *help, const char *key,
			  const char *const *names, const uint64_t *values, size_t n)
{
	return write_typed_by_label(out, name, "counter", help, key, names, values, n);
}

/* Every way the BPF side can lose or skip a sample, one label value each. */
static const char *const bpf_loss_reasons[PROFILE_STAT_MAX] = {
	[PROFILE_STAT_COUNTS_FULL] = "counts_map_full",
	[PROFILE_STAT_STACKS_FULL] = "stacks_map_full",
	[PROFILE_STAT_STACK_COLLISION] = "stack_hash_collision",
	[PROFILE_STAT_USTACK_ERROR] = "user_stack_error",
	[PROFILE_STAT_KSTACK_ERROR] = "kernel_stack_error",
	[PROFILE_STAT_EVENTS_LOST] = "event_ring_full",
	[PROFILE_STAT_KNOWN_FULL] = "process_map_full",
	[PROFILE_STAT_OFFCPU_THREADS_FULL] = "offcpu_thread_map_full",
	[PROFILE_STAT_OFFCPU_COUNTS_FULL] = "offcpu_counts_map_full",
};

/* Off-CPU sampling, while it is on (docs/off-cpu.md). */
static int write_offcpu(struct buf *out, const struct profiler_stats *st)
{
	const struct metric_def defs[] = {
		{ "brasa_offcpu_switches_recorded_total", "counter",
		  "Context switches whose thread's stacks were taken (the sampled ones).",
		  (double)st->bpf[PROFILE_STAT_OFFCPU_RECORDED] },
		{ "brasa_offcpu_switches_sampled_out_total", "counter",
		  "Context switches the sampling skipped (accounted for by scaling the others).",
		  (double)st->bpf[PROFILE_STAT_OFFCPU_SAMPLED_OUT] },
		{ "brasa_offcpu_short_total", "counter",
		  "Recorded off-CPU intervals under sampling.off_cpu_min_time, not counted.",
		  (double)st->bpf[PROFILE_STAT_OFFCPU_SHORT] },
		{ "brasa_offcpu_switches_total", "counter",
		  "Off-CPU intervals read from the count maps, scaled by the sampling.",
		  (double)st->offcpu_switches_drained },
		{ "brasa_offcpu_seconds_total", "counter",
		  "Off-CPU time read from the count maps, scaled by the sampling.",
		  (double)st->offcpu_ns_drained / 1e9 },
		{ "brasa_offcpu_threads", "gauge",
		  "Threads off the CPU now whose switch-out was recorded (entries of the "
		  "per-thread map).", (double)st->offcpu_pending },
		{ "brasa_offcpu_threads_max", "gauge",
		  "Bound on those; past it a switch-out is lost "
		  "(brasa_bpf_lost_total{reason=\"offcpu_thread_map_full\"}).",
		  (double)st->offcpu_max_threads },
	};

	return st->off_cpu ? write_defs(out, defs, ARRAY_SIZE(defs)) : 0;
}

static int write_labeling(struct buf *out, const struct profiler_stats *st)
{
	const struct k8s_stats *k = &st->k8s_stats;
	const struct metric_def defs[] = {
		{ "brasa_relabel_dropped_processes_total", "counter",
		  "Process images relabel_configs dropped (their samples are discarded in BPF).",
		  (double)st->processes_relabel_dropped },
		{ "brasa_relabel_dropped_samples_total", "counter",
		  "Samples of dropped processes: discarded in BPF, or in user space when "
		  "taken before the filter knew.",
		  (double)(st->bpf[PROFILE_STAT_DROPPED] + st->samples_relabel_dropped) },
	};
	const struct metric_def k8s_defs[] = {
		{ "brasa_kubernetes_polls_total", "counter",
		  "Pod lists requested from the Kubernetes API server.", (double)k->polls },
		{ "brasa_kubernetes_pods", "gauge",
		  "Pods on this node known from the last good pod list.", (double)k->pods },
		{ "brasa_kubernetes_up", "gauge",
		  "1 once a pod list has been read from the API server.", k->ever_succeeded },
	};
	static const char *const reasons[] = { "connect", "http", "parse", "too_large" };
	const uint64_t failures[] = { k->failures_connect, k->failures_http, k->failures_parse,
				      k->failures_too_large };
	int err = write_defs(out, defs, sizeof(defs) / sizeof(defs[0]));

	if (err || !st->k8s)
		return err;
	err = write_defs(out, k8s_defs, sizeof(k8s_defs) / sizeof(k8s_defs[0]));
	return err ? err : write_by_label(out, "brasa_kubernetes_failures_total",
					  "Failed pod list requests, by reason (profiling goes on "
					  "with cgroup-derived labels).",
					  "reason", reasons, failures, ARRAY_SIZE(reasons));
}

/* How DWARF-unwound user stacks ended, one label value each. */
static const char *const unwind_endings[PROFILE_STAT_MAX] = {
	[PROFILE_STAT_UNWIND_COMPLETE] = "complete",
	[PROFILE_STAT_UNWIND_MIXED] = "complete_with_frame_pointers",
	[PROFILE_STAT_UNWIND_FP_END] = "frame_pointer_chain_ended",
	[PROFILE_STAT_UNWIND_UNSUPPORTED] = "unsupported_rule",
	[PROFILE_STAT_UNWIND_READ_FAULT] = "stack_read_fault",
	[PROFILE_STAT_UNWIND_TRUNCATED] = "depth_limit",
};

/* New executable mappings as processes make them (bpf/mmap_events.h)
 * and the reads of processes they start (core/proctable.c). */
static int write_mappings(struct buf *out, const struct profiler_stats *st)
{
	const struct metric_def defs[] = {
		{ "brasa_mmap_rings", "gauge",
		  "CPUs whose executable mappings are watched (0: not watched; new libraries "
		  "are found by samples only).", (double)st->mmap.rings },
		{ "brasa_mmap_ring_bytes", "gauge",
		  "Memory of the rings the kernel reports new mappings into (the bound).",
		  (double)st->mmap.ring_bytes },
		{ "brasa_mmap_records_total", "counter",
		  "Executable file mappings reported by the kernel.", (double)st->mmap.records },
		{ "brasa_mmap_records_lost_total", "counter",
		  "Mapping records the kernel dropped because a ring was full.",
		  (double)st->mmap.lost },
		{ "brasa_mmap_records_malformed_total", "counter",
		  "Mapping records that failed the checks (the rest of their ring dropped).",
		  (double)st->mmap.malformed },
		{ "brasa_processes_mapped_rereads_total", "counter",
		  "Processes read again because they mapped an executable file.",
		  (double)st->mapped_rereads },
		{ "brasa_processes_mapped_throttled_total", "counter",
		  "New mappings of processes older than a second not read at once (at most one "
		  "read per process every 100 ms).", (double)st->mapped_throttled },
		{ "brasa_snapshots_from_records_total", "counter",
		  "Mappings put into the snapshot of a process gone before it could be read "
		  "again, from their kernel records and a known object.",
		  (double)st->snapshots_from_records },
	};

	return write_defs(out, defs, sizeof(defs) / sizeof(defs[0]));
}

static int write_unwind(struct buf *out, const struct profiler_stats *st)
{
	const struct unwinder_stats *u = &st->unwind;
	const struct metric_def defs[] = {
		{ "brasa_unwind_dwarf_enabled", "gauge",
		  "1 when user stacks are unwound with DWARF tables in BPF.", st->dwarf },
		{ "brasa_unwind_tables", "gauge", "Unwind tables loaded in the kernel.",
		  (double)u->tables },
		{ "brasa_unwind_table_bytes", "gauge",
		  "Kernel memory of the loaded unwind tables.", (double)u->table_bytes },
		{ "brasa_unwind_table_bytes_max", "gauge",
		  "Bound on unwind table memory; past it the least recently used are evicted.",
		  (double)u->max_bytes },
		{ "brasa_unwind_table_evictions_total", "counter",
		  "Unwind tables evicted to stay under the bound.", (double)u->evictions },
		{ "brasa_unwind_tables_built_total", "counter", "Unwind tables built.",
		  (double)u->tables_built },
		{ "brasa_unwind_table_build_seconds_total", "counter",
		  "Time spent building unwind tables.", (double)u->table_build_ns / 1e9 },
		{ "brasa_unwind_tables_failed_total", "counter",
		  "Executables whose unwind table could not be built (frame pointers used).",
		  (double)u->tables_failed },
		{ "brasa_unwind_tables_timed_out_total", "counter",
		  "Of the failed builds, those given up at the build time cap.",
		  (double)u->tables_timed_out },
		{ "brasa_unwind_tables_too_large_total", "counter",
		  "Of the failed builds, those given up at the build memory cap.",
		  (double)u->tables_too_large },
		{ "brasa_unwind_tables_shared_total", "counter",
		  "Builds whose CFI matched a loaded table (another copy of the same file).",
		  (double)u->tables_shared },
		{ "brasa_unwind_tables_pending", "gauge",
		  "Unwind table builds in flight (their mappings use frame pointers meanwhile).",
		  (double)u->tables_pending },
		{ "brasa_unwind_waiting_mappings_patched_total", "counter",
		  "Mappings of running processes given their table when its build finished.",
		  (double)u->waiters_patched },
		{ "brasa_unwind_rules", "gauge", "Distinct unwind rules in the shared rule table.",
		  (double)u->rules },
		{ "brasa_unwind_processes_loaded_total", "counter",
		  "Process images whose mapping tables were loaded.", (double)u->processes_loaded },
		{ "brasa_unwind_processes_failed_total", "counter",
		  "Process images whose mappings could not be loaded.", (double)u->processes_failed },
		{ "brasa_unwind_uncovered_reloads_total", "counter",
		  "Mapping reloads because a sampled pc was in no loaded mapping (dlopen).",
		  (double)st->uncovered_reloads },
		{ "brasa_unwind_mappings_attached_total", "counter",
		  "Mappings added to a mapping table from a kernel mmap record, with their "
		  "file's loaded table, before the process was read again.",
		  (double)u->mappings_attached },
		{ "brasa_unwind_mappings_without_table_total", "counter",
		  "Executable mappings loaded without an unwind table (frame pointers there).",
		  (double)u->mappings_without_table },
		{ "brasa_unwind_mappings_too_many_total", "counter",
		  "Processes with more executable mappings than the table holds.",
		  (double)u->too_many_mappings },
	};
	int err = write_defs(out, defs, sizeof(defs) / sizeof(defs[0]));

	return err ? err : write_by_label(out, "brasa_unwind_stacks_total",
					  "DWARF-unwound user stacks by how they ended.", "end",
					  unwind_endings, st->bpf, PROFILE_STAT_MAX);
}

/* Every memory bound in bytes, with how full it is, and what was given
 * back or refused to stay under it. */
static int write_memory(struct buf *out, const struct profiler_stats *st)
{
	const struct symbolizer_stats *y = &st->sym;
	const struct metric_def defs[] = {
		{ "brasa_symbolizer_bytes", "gauge",
		  "Memory of loaded objects' symbols and decoded DWARF.", (double)y->bytes },
		{ "brasa_symbolizer_bytes_max", "gauge",
		  "Bound on brasa_symbolizer_bytes, enforced after every drain.", (double)y->max_bytes },
		{ "brasa_symbolizer_objects_loaded", "gauge",
		  "Objects whose symbols are in memory.", (double)y->objects_loaded },
		{ "brasa_symbolizer_loads_total", "counter",
		  "Objects loaded (symbols read, debug file found) on a worker.", (double)y->loads },
		{ "brasa_symbolizer_load_seconds_total", "counter",
		  "Time spent loading objects.", (double)y->load_ns / 1e9 },
		{ "brasa_symbolizer_evictions_total", "counter",
		  "Objects no process used, forgotten to stay under a bound.", (double)y->evictions },
		{ "brasa_symbolizer_unloads_total", "counter",
		  "Loaded objects given back under the memory bound (loaded again when needed).",
		  (double)y->unloads },
		{ "brasa_symbolizer_dwarf_budget_exceeded_total", "counter",
		  "Drains whose DWARF lookup time budget ran out (ELF symbols only for the rest).",
		  (double)y->dwarf_budget_exceeded },
		{ "brasa_symbolizer_dwarf_disabled_total", "counter",
		  "Objects whose DWARF is no longer used because one lookup took too long.",
		  (double)y->dwarf_disabled },
		{ "brasa_symbolizer_pending_total", "counter",
		  "Lookups that waited for their object to load.", (double)y->pending },
		{ "brasa_perf_map_bytes", "gauge", "Memory of every JIT perf map read.",
		  (double)y->perfmap_bytes },
		{ "brasa_perf_map_bytes_max", "gauge",
		  "Bound on brasa_perf_map_bytes (one map gets at most a quarter).",
		  (double)y->max_perfmap_bytes },
		{ "brasa_perf_map_full_total", "counter",
		  "Perf maps that stopped growing at their memory bound.", (double)y->perfmap_full },
		{ "brasa_process_table_bytes", "gauge",
		  "Memory of the tracked processes (labels and mapping snapshots).",
		  (double)st->process_bytes },
		{ "brasa_process_table_bytes_max", "gauge",
		  "Bound on brasa_process_table_bytes; past it new processes are not tracked.",
		  (double)st->max_process_bytes },
		{ "brasa_profile_window_bytes", "gauge",
		  "Memory of the profiles being collected.", (double)st->window_bytes },
		{ "brasa_profile_window_bytes_max", "gauge",
		  "Bound on brasa_profile_window_bytes; past it samples are left out.",
		  (double)st->max_window_bytes },
		{ "brasa_profile_window_samples_dropped_total", "counter",
		  "Samples left out of profiles at the window memory bound.",
		  (double)st->window_samples_dropped },
		{ "brasa_deferred_samples", "gauge",
		  "Samples held back while their process or objects are read.", (double)st->deferred },
		{ "brasa_deferred_bytes", "gauge", "Memory of the held-back samples.",
		  (double)st->deferred_bytes },
		{ "brasa_deferred_bytes_max", "gauge",
		  "Bound on brasa_deferred_bytes; past it samples are added at once.",
		  (double)st->max_deferred_bytes },
		{ "brasa_samples_deferred_total", "counter",
		  "Samples held back for a process or object being read.",
		  (double)st->samples_deferred },
		{ "brasa_samples_deferred_late_total", "counter",
		  "Held-back samples added before their process or object was ready "
		  "(waited too long, or the bound was reached): some frames unsymbolized.",
		  (double)st->samples_deferred_late },
		{ "brasa_samples_sent_whole_total", "counter",
		  "Samples of young processes whose user stack the kernel's tables could not walk "
		  "yet, sent whole to be walked here once the tables are in.",
		  (double)st->bpf[PROFILE_STAT_DEFERRED] },
		{ "brasa_samples_sent_whole_ring_full_total", "counter",
		  "Samples that would have been sent whole but found the ring full: counted with "
		  "their stack as the kernel walked it.",
		  (double)st->bpf[PROFILE_STAT_DEFER_FULL] },
		{ "brasa_whole_sample_walks_total", "counter",
		  "User-space walks of samples sent whole that reached the outermost frame.",
		  (double)st->whole_walked_complete },
		{ "brasa_whole_sample_walks_incomplete_total", "counter",
		  "User-space walks of samples sent whole that stopped short (a frame without a table "
		  "or beyond the 8 KiB copied, or the wait for tables ran out).",
		  (double)st->whole_walked_incomplete },
		{ "brasa_processes_unread_total", "counter",
		  "Processes not read because the read queue was full.",
		  (double)st->processes_unread },
		{ "brasa_processes_exec_raced_total", "counter",
		  "Process images that had exec'd another program by the time they were read "
		  "(their samples keep addresses rather than another image's names).",
		  (double)st->processes_exec_raced },
	};
	static const char *const failures[SYM_LOAD_FAILURES] = {
		[SYM_LOAD_TIMEOUT] = "timeout", [SYM_LOAD_TOO_LARGE] = "too_large",
		[SYM_LOAD_INVALID] = "invalid", [SYM_LOAD_OTHER] = "other",
	};
	int err = write_defs(out, defs, ARRAY_SIZE(defs));

	if (!err)
		err = write_by_label(out, "brasa_symbolizer_load_failures_total",
				     "Objects that could not be loaded, by reason (their frames "
				     "stay addresses; never retried).", "reason", failures,
				     y->load_failures, SYM_LOAD_FAILURES);
	if (!err)
		err = write_by_label(out, "brasa_files_refused_total",
				     "Files of profiled processes not opened, by reason "
				     "(docs/security.md).", "reason", procfile_refusal_names,
				     st->files.refused, PROCFILE_REFUSALS);
	return err;
}

/* The debuginfod client, when servers are configured. */
static int write_debuginfod(struct buf *out, const struct profiler_stats *st)
{
	const struct debuginfod_stats *d = &st->debuginfod_stats;
	const struct metric_def defs[] = {
		{ "brasa_debuginfod_cache_bytes", "gauge",
		  "Debug files fetched from debuginfod servers, on disk.", (double)d->cache_bytes },
		{ "brasa_debuginfod_cache_bytes_max", "gauge",
		  "Bound on brasa_debuginfod_cache_bytes; past it the least recently used "
		  "files are deleted.", (double)d->max_cache_bytes },
		{ "brasa_debuginfod_cache_files", "gauge", "Debug files in the debuginfod cache.",
		  (double)d->cache_files },
		{ "brasa_debuginfod_evictions_total", "counter",
		  "Debug files deleted to keep the cache under its bound.", (double)d->evictions },
		{ "brasa_debuginfod_cache_hits_total", "counter",
		  "Debug files opened from the cache.", (double)d->hits },
		{ "brasa_debuginfod_fetches_in_flight", "gauge",
		  "Fetches queued or running (bound: symbolize.debuginfod.max_fetches).",
		  (double)d->in_flight },
		{ "brasa_symbolizer_debuginfod_reloads_total", "counter",
		  "Objects loaded again because a fetch brought a debug file.",
		  (double)st->sym.debuginfod_reloads },
	};
	int err;

	if (!st->debuginfod)
		return 0;
	err = write_defs(out, defs, ARRAY_SIZE(defs));
	return err ? err : write_by_label(out, "brasa_debuginfod_fetches_total",
					  "Debug file fetches by result (frames stay named as "
					  "without them until one succeeds).", "result",
					  debuginfod_result_names, d->fetches,
					  DEBUGINFOD_RESULTS);
}

/* The worker threads that read processes and files off the sampling loop. */
static int write_workers(struct buf *out, const struct profiler_stats *st)
{
	static const char *const classes[WORKQ_CLASSES] = { [WORKQ_FAST] = "process",
							    [WORKQ_LOAD] = "symbols",
							    [WORKQ_BUILD] = "unwind_table" };
	const struct workq_stats *w = &st->workq;
	uint64_t queued[WORKQ_CLASSES], threads[WORKQ_CLASSES], busy_ns[WORKQ_CLASSES];
	const struct metric_def defs[] = {
		{ "brasa_worker_jobs_stuck_total", "counter",
		  "Jobs that ran past the stuck threshold (a spare thread took over).",
		  (double)w->stuck },
	};
	int err;

	for (int c = 0; c < WORKQ_CLASSES; c++) {
		queued[c] = w->queued[c];
		threads[c] = w->threads[c];
		busy_ns[c] = w->run_ns[c] / 1000000000ull;
	}
	err = write_defs(out, defs, ARRAY_SIZE(defs));
	if (!err)
		err = write_by_label(out, "brasa_worker_jobs_total",
				     "Jobs completed by the worker threads, by queue.", "queue",
				     classes, w->completed, WORKQ_CLASSES);
	if (!err)
		err = write_by_label(out, "brasa_worker_jobs_rejected_total",
				     "Jobs refused because their queue was full, by queue.", "queue",
				     classes, w->rejected, WORKQ_CLASSES);
	if (!err)
		err = write_by_label(out, "brasa_worker_busy_seconds_total",
				     "Seconds the worker threads spent running jobs, by queue.",
				     "queue", classes, busy_ns, WORKQ_CLASSES);
	if (!err)
		err = write_typed_by_label(out, "brasa_worker_queued_jobs", "gauge",
					   "Jobs waiting for a worker, by queue.", "queue", classes,
					   queued, WORKQ_CLASSES);
	if (!err)
		err = write_typed_by_label(out, "brasa_worker_threads", "gauge",
					   "Worker threads, by queue (more while one is stuck).",
					   "queue", classes, threads, WORKQ_CLASSES);
	return err;
}

int metrics__write_agent(struct buf *out, const struct profiler_stats *st)
{
	const struct metric_def defs[] = {
		{ "brasa_bpf_idle_samples_total", "counter",
		  "Samples of idle CPUs, not recorded.", (double)st->bpf[PROFILE_STAT_IDLE] },
		{ "brasa_bpf_filtered_samples_total", "counter",
		  "Samples of processes outside the pid filter.", (double)st->bpf[PROFILE_STAT_FILTERED] },
		{ "brasa_drains_total", "counter",
		  "Drains of the kernel count maps.", (double)st->drains },
		{ "brasa_samples_total", "counter",
		  "Samples recorded by the BPF sampler and read from its count maps.",
		  (double)st->samples_drained },
		{ "brasa_processes", "gauge",
		  "Process images tracked (with or without a readable mapping snapshot).", (double)st->processes },
		{ "brasa_processes_max", "gauge",
		  "Bound on tracked processes.", (double)st->max_processes },
		{ "brasa_processes_dropped_total", "counter",
		  "Processes not tracked because the table was full, in entries or bytes "
		  "(frames unsymbolized).",
		  (double)st->processes_dropped },
		{ "brasa_snapshots_failed_total", "counter",
		  "Process snapshots that failed (process gone or unreadable).",
		  (double)st->snapshots_failed },
		{ "brasa_process_read_retries_total", "counter",
		  "Process reads tried again after a failed one, because a profile wanted its samples.",
		  (double)st->process_read_retries },
		{ "brasa_snapshots_refreshed_total", "counter",
		  "Process mappings re-read because an address fell outside all of them.",
		  (double)st->snapshots_refreshed },
		{ "brasa_profile_windows", "gauge",
		  "Profiles being collected (captures and HTTP requests).", (double)st->windows },
		{ "brasa_profile_windows_max", "gauge",
		  "Bound on concurrent profiles; more get HTTP 503.", (double)st->max_windows },
		{ "brasa_symbolizer_objects", "gauge",
		  "ELF objects known to the symbolizer (loaded or not).", (double)st->sym.objects },
		{ "brasa_symbolizer_objects_max", "gauge",
		  "Bound on known objects.", (double)st->sym.max_objects },
		{ "brasa_symbolizer_kernel_symbols", "gauge",
		  "Kernel symbols loaded from kallsyms.", (double)st->sym.kernel_symbols },
		{ "brasa_symbolizer_lookups_total", "counter",
		  "Addresses symbolized.", (double)st->sym.lookups },
		{ "brasa_symbolizer_misses_total", "counter",
		  "Addresses that could not be symbolized.", (double)st->sym.misses },
		{ "brasa_sampling_frequency_hertz", "gauge",
		  "Sampling frequency per CPU.", (double)st->frequency },
		{ "brasa_sampled_cpus", "gauge",
		  "CPUs with an attached sampler.", (double)st->ncpus },
	};
	int err = write_defs(out, defs, sizeof(defs) / sizeof(defs[0]));

	if (err)
		return err;
	err = write_by_label(out, "brasa_bpf_lost_total",
			     "Samples, stacks or events lost in the kernel, by reason.", "reason",
			     bpf_loss_reasons, st->bpf, PROFILE_STAT_MAX);
	if (!err)
		err = write_offcpu(out, st);
	if (!err)
		err = write_mappings(out, st);
	if (!err)
		err = write_unwind(out, st);
	if (!err)
		err = write_memory(out, st);
	if (!err)
		err = write_debuginfod(out, st);
	if (!err)
		err = write_workers(out, st);
	return err ? err : write_labeling(out, st);
}

int metrics__write_uploads(struct buf *out, const struct uploader_stats *st)
{
	const struct metric_def defs[] = {
		{ "brasa_upload_windows_total", "counter",
		  "Upload windows whose every request was delivered or rejected.",
		  (double)st->windows_sent },
		{ "brasa_upload_windows_submitted_total", "counter",
		  "Upload windows encoded and queued (empty ones included).",
		  (double)st->windows_submitted },
		{ "brasa_upload_requests_total", "counter", "Requests delivered to the backend.",
		  (double)st->requests_sent },
		{ "brasa_upload_bytes_total", "counter", "Request bytes delivered to the backend.",
		  (double)st->bytes_sent },
		{ "brasa_upload_retries_total", "counter",
		  "Sends of spooled windows (or of windows held in memory without a spool).",
		  (double)st->retries },
		{ "brasa_upload_samples_dropped_total", "counter",
		  "Samples alone over the backend's profile size bound, left out.",
		  (double)st->samples_dropped },
		{ "brasa_upload_queued_windows", "gauge", "Windows waiting in memory.",
		  (double)st->queued },
		{ "brasa_upload_backing_off", "gauge",
		  "1 while the sender waits before retrying a failed send.", st->backing_off },
		{ "brasa_spool_records", "gauge", "Windows waiting in the on-disk spool.",
		  (double)st->spool_records },
		{ "brasa_spool_bytes", "gauge", "Bytes of the on-disk spool.",
		  (double)st->spool_bytes },
		{ "brasa_spool_bytes_max", "gauge",
		  "Bound on brasa_spool_bytes (remote.spool_max_bytes); past it the oldest "
		  "windows are dropped.", (double)st->spool_max_bytes },
		{ "brasa_spool_usable", "gauge",
		  "1 while the spool directory takes records, 0 while it cannot be opened "
		  "or written (retried with a backoff).", st->spool_usable },
		{ "brasa_spool_errors_total", "counter",
		  "Failed attempts to open or write the spool directory.",
		  (double)st->spool_errors },
	};
	static const char *const dropped_reasons[] = { "rejected", "unsendable", "spool_write",
						       "spool_full", "corrupt",
						       "spool_unavailable" };
	const uint64_t dropped[] = { st->dropped_rejected, st->dropped_unsendable,
				     st->dropped_spool_write, st->spool_dropped, st->spool_corrupt,
				     st->dropped_spool_unavailable };
	const char *failure_reasons[REMOTE_FAIL__COUNT] = { 0 };
	int err = write_defs(out, defs, sizeof(defs) / sizeof(defs[0]));

	/* cancelled sends are stops, not failures: never counted */
	for (int i = REMOTE_FAIL_NONE + 1; i < REMOTE_FAIL__COUNT; i++)
		if (i != REMOTE_FAIL_CANCELLED)
			failure_reasons[i] = remote__failure_name(i);
	if (!err)
		err = write_by_label(out, "brasa_upload_failures_total",
				     "Failed sends by reason (each is retried or spooled unless "
				     "rejected).", "reason", failure_reasons, st->failures,
				     REMOTE_FAIL__COUNT);
	if (!err)
		err = write_by_label(out, "brasa_upload_dropped_total",
				     "Upload windows (or requests) lost, by reason.", "reason",
				     dropped_reasons, dropped, ARRAY_SIZE(dropped_reasons));
	return err;
}

/* The local history (docs/history.md): its size against its bounds, its
 * span, what writing and querying it cost, and what it dropped. */
int metrics__write_history(struct buf *out, const struct history_stats *st)
{
	const struct metric_def defs[] = {
		{ "brasa_history_bytes", "gauge", "Bytes of the history's files on disk.",
		  (double)st->bytes },
		{ "brasa_history_max_bytes", "gauge", "The history's bound on disk (history.max_bytes).",
		  (double)st->max_bytes },
		{ "brasa_history_windows", "gauge", "Windows stored.", (double)st->windows },
		{ "brasa_history_oldest_timestamp_seconds", "gauge",
		  "Start of the oldest window stored (Unix time; 0 when empty).",
		  (double)st->oldest_ns / 1e9 },
		{ "brasa_history_newest_timestamp_seconds", "gauge",
		  "End of the newest window stored (Unix time; 0 when empty).",
		  (double)st->newest_ns / 1e9 },
		{ "brasa_history_writes_total", "counter", "Windows written (tried).",
		  (double)st->puts },
		{ "brasa_history_write_failures_total", "counter", "Windows that could not be written.",
		  (double)st->put_failures },
		{ "brasa_history_write_seconds_total", "counter",
		  "Time spent writing windows (wall clock, pruning included).",
		  (double)st->put_ns / 1e9 },
		{ "brasa_history_queries_total", "counter", "Queries answered (tried).",
		  (double)st->queries },
		{ "brasa_history_query_failures_total", "counter", "Queries that failed.",
		  (double)st->query_failures },
		{ "brasa_history_query_seconds_total", "counter", "Time spent in queries (wall clock).",
		  (double)st->query_ns / 1e9 },
		{ "brasa_history_cache_bytes", "gauge", "Memory of the writer's dictionary caches.",
		  (double)st->cache_bytes },
		{ "brasa_history_sweeps_total", "counter",
		  "Exact collections of the dictionary under byte or disk pressure.",
		  (double)st->sweeps },
		{ "brasa_history_sweep_failures_total", "counter",
		  "Sweeps given up (a damaged record or row, their bound): nothing deleted.",
		  (double)st->sweep_failures },
		{ "brasa_history_sweep_rows_total", "counter", "Dictionary rows the sweeps deleted.",
		  (double)st->sweep_rows },
		{ "brasa_history_sweep_seconds_total", "counter", "Time the sweeps took.",
		  (double)st->sweep_ns / 1e9 },
	};
	const char *reasons[HISTORY_DROP__MAX];
	int err = write_defs(out, defs, ARRAY_SIZE(defs));

	for (int i = 0; i < HISTORY_DROP__MAX; i++)
		reasons[i] = history__drop_reason(i);
	if (!err)
		err = write_by_label(out, "brasa_history_dropped_total",
				     "Windows dropped (age, bytes, disk_full), records skipped "
				     "(corrupt_record) and stores moved aside (corrupt_store).",
				     "reason", reasons, st->drops, HISTORY_DROP__MAX);
	return err;
}

/* The endpoint's bounds and what each turned away (docs/http-api.md). */
int metrics__write_http(struct buf *out, const struct http_api_stats *st)
{
	const struct metric_def defs[] = {
		{ "brasa_http_connections", "gauge", "Open HTTP connections.",
		  (double)st->connections },
		{ "brasa_http_connections_max", "gauge",
		  "Bound on open HTTP connections; past it the oldest idle one is closed.",
		  (double)st->max_connections },
	};
	static const char *const closed_reasons[HTTP_CLOSE__COUNT] = {
		[HTTP_CLOSE_READ_TIMEOUT] = "read_timeout",
		[HTTP_CLOSE_REPLY_TIMEOUT] = "reply_timeout",
		[HTTP_CLOSE_EVICTED] = "evicted",
		[HTTP_CLOSE_PER_IP] = "per_ip_limit",
		[HTTP_CLOSE_OVER_LIMIT] = "over_limit",
	};
	static const char *const rejected_reasons[HTTP_REJECT__COUNT] = {
		[HTTP_REJECT_HOST] = "host",
		[HTTP_REJECT_UNAUTHORIZED] = "unauthorized",
		[HTTP_REJECT_TOO_LARGE] = "too_large",
		[HTTP_REJECT_PROFILE_LIMIT] = "profile_limit",
		[HTTP_REJECT_METRICS_LIMIT] = "metrics_limit",
	};
	int err = write_defs(out, defs, ARRAY_SIZE(defs));

	if (!err)
		err = metrics__family(out, "brasa_http_requests_in_flight", "gauge",
				      "Profile and /metrics requests being served.");
	if (!err)
		err = metrics__sample(out, "brasa_http_requests_in_flight", "path=\"profile\"",
				      st->profile_requests);
	if (!err)
		err = metrics__sample(out, "brasa_http_requests_in_flight", "path=\"metrics\"",
				      st->metrics_requests);
	if (!err)
		err = metrics__family(out, "brasa_http_requests_in_flight_max", "gauge",
				      "Bound on each kind of request in flight; past it a 503.");
	if (!err)
		err = metrics__sample(out, "brasa_http_requests_in_flight_max", "path=\"profile\"",
				      st->max_profile_requests);
	if (!err)
		err = metrics__sample(out, "brasa_http_requests_in_flight_max", "path=\"metrics\"",
				      st->max_metrics_requests);
	if (!err)
		err = write_by_label(out, "brasa_http_connections_closed_total",
				     "HTTP connections the server closed (or answered 503), by reason.",
				     "reason", closed_reasons, st->closed, HTTP_CLOSE__COUNT);
	if (!err)
		err = write_by_label(out, "brasa_http_requests_rejected_total",
				     "HTTP requests refused before their route ran, by reason.",
				     "reason", rejected_reasons, st->rejected, HTTP_REJECT__COUNT);
	if (!err && st->token_file) {
		const struct metric_def tokens[] = {
			{ "brasa_http_bearer_tokens", "gauge",
			  "Bearer tokens accepted now (0: the token file is unusable).",
			  (double)st->bearer_tokens },
			{ "brasa_http_token_file_reloads_total", "counter",
			  "Times the bearer token file was read again after a change.",
			  (double)st->token_reloads },
		};

		err = write_defs(out, tokens, ARRAY_SIZE(tokens));
	}
	return err;
}
