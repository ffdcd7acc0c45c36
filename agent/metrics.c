#include "agent/metrics.h"

#include <errno.h>
#include <stdio.h>

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

/* Every way the BPF side can lose or skip a sample, one label value each. */
static const char *const bpf_loss_reasons[PROFILE_STAT_MAX] = {
	[PROFILE_STAT_COUNTS_FULL] = "counts_map_full",
	[PROFILE_STAT_STACKS_FULL] = "stacks_map_full",
	[PROFILE_STAT_STACK_COLLISION] = "stack_hash_collision",
	[PROFILE_STAT_USTACK_ERROR] = "user_stack_error",
	[PROFILE_STAT_KSTACK_ERROR] = "kernel_stack_error",
	[PROFILE_STAT_EVENTS_LOST] = "event_ring_full",
	[PROFILE_STAT_KNOWN_FULL] = "process_map_full",
};

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
		  "Processes tracked with a mapping snapshot.", (double)st->processes },
		{ "brasa_processes_max", "gauge",
		  "Bound on tracked processes.", (double)st->max_processes },
		{ "brasa_processes_dropped_total", "counter",
		  "Processes not tracked because the table was full (frames unsymbolized).",
		  (double)st->processes_dropped },
		{ "brasa_snapshots_failed_total", "counter",
		  "Process snapshots that failed (process gone or unreadable).",
		  (double)st->snapshots_failed },
		{ "brasa_snapshots_refreshed_total", "counter",
		  "Process mappings re-read because an address fell outside all of them.",
		  (double)st->snapshots_refreshed },
		{ "brasa_profile_windows", "gauge",
		  "Profiles being collected (captures and HTTP requests).", (double)st->windows },
		{ "brasa_profile_windows_max", "gauge",
		  "Bound on concurrent profiles; more get HTTP 503.", (double)st->max_windows },
		{ "brasa_symbolizer_objects", "gauge",
		  "ELF objects in the symbolizer cache.", (double)st->sym.objects },
		{ "brasa_symbolizer_objects_max", "gauge",
		  "Bound on the symbolizer cache.", (double)st->sym.max_objects },
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
	err = metrics__family(out, "brasa_bpf_lost_total", "counter",
			      "Samples, stacks or events lost in the kernel, by reason.");
	for (int i = 0; !err && i < PROFILE_STAT_MAX; i++) {
		char labels[64];

		if (!bpf_loss_reasons[i])
			continue;
		snprintf(labels, sizeof(labels), "reason=\"%s\"", bpf_loss_reasons[i]);
		err = metrics__sample(out, "brasa_bpf_lost_total", labels, (double)st->bpf[i]);
	}
	return err;
}
