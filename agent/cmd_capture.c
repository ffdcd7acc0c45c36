/* brasa capture: one profile of the host or of one process, written as
 * gzipped pprof, folded stacks, a flame graph (SVG, the JSON tree) or
 * speedscope's format (core/pprof_format.h). Ctrl-C ends the capture early and still
 * writes what was collected. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "agent/cli.h"
#include "agent/cli_output.h"
#include "core/pprof.h"
#include "core/pprof_format.h"
#include "core/profiler.h"
#include "common/log.h"
#include "common/macros.h"
#include "common/parse.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: brasa capture [OPTIONS]\n"
		"\n"
		"Profile every process (or one) for a number of seconds and write the\n"
		"result.\n"
		"\n"
		"  -s, --seconds N        how long to sample (default 10, max 3600)\n"
		"  -p, --pid PID          only this process\n"
		"  -t, --type TYPE        cpu (where threads run, default), off_cpu\n"
		"                         (where they wait off the CPU, in nanoseconds) or\n"
		"                         wall (both, in nanoseconds: a sample stands for its\n"
		"                         period)\n"
		"  -f, --format FORMAT    pprof (gzipped, default), folded, svg (a flame\n"
		"                         graph for any browser), speedscope (JSON for\n"
		"                         speedscope.app), json (the flame graph tree of\n"
		"                         GET /api/flamegraph) or html (the flame graph\n"
		"                         page with this capture in it, one file that\n"
		"                         works offline)\n"
		"  -o, --output FILE      where to write; '-' for stdout (default: stdout\n"
		"                         for folded, profile.pb.gz for pprof,\n"
		"                         profile.svg, profile.speedscope.json, profile.json,\n"
		"                         profile.html)\n"
		"  -F, --frequency HZ     samples per second per CPU (default 99)\n"
		"      --no-kernel        do not record kernel stacks\n"
		"      --no-thread-labels no thread_id and thread_name labels (brasa run's\n"
		"                         --no-thread-labels)\n"
		"      --no-demangle      keep C++ and Rust names mangled (--demangle:\n"
		"                         demangled, the default)\n"
		"      --unwind MODE      user stacks: auto (DWARF tables where the kernel\n"
		"                         allows, else frame pointers; default), fp, dwarf\n"
		"      --unwind-table-memory SIZE\n"
		"                         bound on kernel memory for unwind tables\n"
		"                         (default 128M; least recently used evicted)\n"
		"      --off-cpu-one-in N record one context switch in N at random,\n"
		"                         counted N times (default 100; 1: every one)\n"
		"      --off-cpu-min-time DURATION\n"
		"                         off-CPU intervals shorter than this are not\n"
		"                         counted (default 0s)\n"
		"      --debuginfod-urls URLS\n"
		"                         fetch the debug files of stripped objects by\n"
		"                         build id from these servers (space-separated;\n"
		"                         default none: DEBUGINFOD_URLS is not read)\n"
		"      --debuginfod-cache-dir DIR\n"
		"                         where fetched files are kept (default\n"
		"                         /var/cache/brasa/debuginfod)\n"
		"      --debuginfod-cache-size SIZE\n"
		"                         bound on that cache (default 1G)\n"
		"      --debuginfod-timeout DURATION\n"
		"                         bound on one fetch (default 30s)\n"
		"      --log-level LEVEL  error, warn, info (default) or debug\n"
		"  -h, --help             show this help\n");
}

int cmd_capture(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "seconds", required_argument, NULL, 's' },
		{ "type", required_argument, NULL, 't' },
		{ "off-cpu-one-in", required_argument, NULL, 'N' },
		{ "off-cpu-min-time", required_argument, NULL, 'M' },
		{ "pid", required_argument, NULL, 'p' },
		{ "format", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ "frequency", required_argument, NULL, 'F' },
		{ "no-kernel", no_argument, NULL, 'K' },
		{ "no-thread-labels", no_argument, NULL, 'R' },
		{ "demangle", no_argument, NULL, 'd' },
		{ "no-demangle", no_argument, NULL, 'D' },
		{ "unwind", required_argument, NULL, 'U' },
		{ "unwind-table-memory", required_argument, NULL, 'T' },
		{ "debuginfod-urls", required_argument, NULL, CLI_OPT_DEBUGINFOD_URLS },
		{ "debuginfod-cache-dir", required_argument, NULL, CLI_OPT_DEBUGINFOD_CACHE_DIR },
		{ "debuginfod-cache-size", required_argument, NULL, CLI_OPT_DEBUGINFOD_CACHE_SIZE },
		{ "debuginfod-timeout", required_argument, NULL, CLI_OPT_DEBUGINFOD_TIMEOUT },
		{ "log-level", required_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	/* the labels of brasa run's defaults: endpoint and capture profiles
	 * read the same (no configuration file here: no external labels or
	 * relabeling) */
	struct profiler_opts popts = { .frequency = 99, .kernel_stacks = true, .demangle = true,
				       .labeling = { .thread_labels = true } };
	struct window_opts wopts = { .seconds = 10, .pid = -1 };
	struct cli_output o;
	struct profiler *p = NULL;
	struct window *w = NULL;
	_cleanup_close_ int sigfd = -1;
	int opt, err, rc = EXIT_FAILURE_RUNTIME;
	uint32_t v;

	cli_output__init(&o, "brasa capture");

	optind = 1;
	while ((opt = getopt_long(argc, argv, "s:p:t:f:o:F:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 't':
			for (wopts.type = 0; wopts.type < PPROF_TYPE_MAX; wopts.type++)
				if (!strcmp(optarg, pprof_type_names[wopts.type]))
					break;
			if (wopts.type == PPROF_TYPE_MAX) {
				log_error("invalid --type '%s': expected cpu, off_cpu or wall", optarg);
				return EXIT_USAGE;
			}
			popts.off_cpu = wopts.type != PPROF_TYPE_CPU;
			break;
		case 's':
			if (parse_u32_range(optarg, 1, 3600, &wopts.seconds)) {
				log_error("invalid --seconds '%s': expected a whole number from 1 to 3600", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'p':
			if (parse_u32_range(optarg, 1, INT32_MAX, &v)) {
				log_error("invalid --pid '%s': expected a process id", optarg);
				return EXIT_USAGE;
			}
			wopts.pid = (int32_t)v;
			popts.target_tgid = v;
			break;
		case 'f':
			if (cli_output__format(&o, optarg))
				return EXIT_USAGE;
			break;
		case 'o':
			o.path = optarg;
			break;
		case 'R':
			popts.labeling.thread_labels = false;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		default:
			/* the sampling options both commands share */
			switch (cli_parse_sampling_opt(opt, optarg, &popts)) {
			case 1:
				break;
			case 0:
				usage(stderr);
				return EXIT_USAGE;
			default:
				return EXIT_USAGE;
			}
		}
	}
	if (optind < argc) {
		log_error("unexpected argument '%s'", argv[optind]);
		return EXIT_USAGE;
	}
	if (cli_output__ready(&o) != EXIT_OK)
		return EXIT_USAGE;
	if (wopts.pid > 0 && kill(wopts.pid, 0) < 0 && errno == ESRCH) {
		log_error("no such process: %d", wopts.pid);
		return EXIT_USAGE;
	}
	rc = cli_start_profiler(&popts, &p, &sigfd);
	if (rc != EXIT_OK)
		return rc;
	rc = EXIT_FAILURE_RUNTIME; /* until the file is written */
	err = profiler__window_open(p, &wopts, &w);
	if (err) {
		log_error("failed to start the capture: %s", strerror(-err));
		goto out;
	}
	if (wopts.type != PPROF_TYPE_CPU)
		log_info("capturing %s time of %s for %u s", wopts.type == PPROF_TYPE_WALL ?
			 "wall-clock (on- and off-CPU)" : "off-CPU", wopts.pid > 0 ? "one process" :
			 "every process", wopts.seconds);
	else
		log_info("capturing %s for %u s at %u Hz", wopts.pid > 0 ? "one process" :
			 "every process", wopts.seconds, popts.frequency);
	while (!window__done(w)) {
		struct signalfd_siginfo si;

		err = profiler__step(p, 100);
		if (err) {
			log_error("sampling failed: %s", strerror(-err));
			goto out;
		}
		if (read(sigfd, &si, sizeof(si)) == sizeof(si)) {
			log_info("interrupted: writing what was collected so far");
			profiler__finish_window(p, w);
		}
	}
	rc = cli_output__write(&o, window__pprof(w));
out:
	window__close(w);
	profiler__free(p);
	return rc;
}
