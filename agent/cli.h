/* The brasa command line: main() dispatches to one function per command.
 * Each returns a process exit code (see EXIT_* below and docs/cli.md).
 *
 *   cmd_run(argc, argv)       the daemon
 *   cmd_capture(argc, argv)   one profile to a file
 *   cmd_check(argc, argv)     what this kernel and these privileges allow
 *   cmd_history(argc, argv)   the local history: list, export, check
 *   cli_have_bpf_privileges() true if we may load and attach the sampler
 *   cli_start_profiler(popts, &p, &sigfd)  privilege check, stop signals,
 *                             profiler; EXIT_OK or the exit code (logged)
 *   cli_profiler_opts(c, &popts)  the profiler's options from a
 *                             configuration (labeling borrowed from c)
 *   cli_stop_signals_fd()     blocks SIGINT/SIGTERM (and SIGPIPE), returns a
 *                             non-blocking signalfd for the first two, or -errno
 */
#ifndef BRASA_AGENT_CLI_H
#define BRASA_AGENT_CLI_H

#include <stdbool.h>
#include <stdint.h>

enum {
	EXIT_OK = 0,
	EXIT_FAILURE_RUNTIME = 1, /* something failed while running */
	EXIT_USAGE = 2,           /* bad command line or configuration */
	EXIT_NO_PRIVILEGE = 3,    /* not allowed to load BPF / open perf events */
	EXIT_UNSUPPORTED = 4,     /* the kernel lacks something brasa needs */
};

int cmd_run(int argc, char **argv);
int cmd_capture(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_history(int argc, char **argv);

bool cli_have_bpf_privileges(void);
int cli_stop_signals_fd(void);
struct config;
struct profiler;
struct profiler_opts;
int cli_start_profiler(const struct profiler_opts *popts, struct profiler **p, int *sigfd);
/* The sampling options of capture, by getopt code: 'F' --frequency,
 * 'K' --no-kernel, 'U' --unwind, 'L' --log-level (set at once),
 * 'T' --unwind-table-memory, 'N' --off-cpu-one-in, 'M' --off-cpu-min-time,
 * 'd' --demangle and 'D' --no-demangle, and the CLI_OPT_DEBUGINFOD_* ones
 * (--debuginfod-urls, --debuginfod-cache-dir, --debuginfod-cache-size,
 * --debuginfod-timeout); parsed and checked as the settings of the
 * same names (agent/config.h), which is how run takes them. Returns 1
 * when opt was one of them, 0 when not, -EINVAL (logged) on a bad value. */
enum {
	CLI_OPT_DEBUGINFOD_URLS = 1000,
	CLI_OPT_DEBUGINFOD_CACHE_DIR,
	CLI_OPT_DEBUGINFOD_CACHE_SIZE,
	CLI_OPT_DEBUGINFOD_TIMEOUT,
};
int cli_parse_sampling_opt(int opt, const char *arg, struct profiler_opts *popts);
void cli_profiler_opts(const struct config *c, struct profiler_opts *popts);
/* Maps a profiler__new() error to an exit code. */
int cli_exit_for_error(int err);

#endif
