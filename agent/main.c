/* brasa: continuous-profiling node agent. main() only dispatches. */
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "agent/cli.h"
#include "build_info.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: brasa COMMAND [OPTIONS]\n"
		"\n"
		"Continuous-profiling node agent: samples every process with eBPF,\n"
		"symbolizes the stacks and serves pprof profiles.\n"
		"\n"
		"Commands:\n"
		"  run       run the agent: sample continuously, serve the HTTP endpoint\n"
		"  capture   profile the host (or one process) for N seconds, write a file\n"
		"  check     report what this kernel and these privileges allow\n"
		"  history   the local history: stored ranges, export a range, check it\n"
		"\n"
		"Options:\n"
		"  -h, --help     show this help (also: brasa COMMAND --help)\n"
		"  -V, --version  show the version\n"
		"\n"
		"Exit codes: 0 ok, 1 runtime failure, 2 usage error, 3 missing\n"
		"privileges, 4 kernel feature missing. See docs/cli.md.\n");
}

/* The agent's memory is bounded in bytes (docs/how-it-works.md#memory);
 * malloc must give freed memory back for those bounds to be what the
 * host sees. Large blocks (a table build's rows, a profile's arrays) are
 * always mapped and unmapped, rather than glibc raising its threshold
 * after the first and keeping later ones in a heap; two arenas, rather
 * than eight per CPU, for the loop and its few worker threads. */
static void tune_malloc(void)
{
	mallopt(M_MMAP_THRESHOLD, 256 << 10);
	mallopt(M_ARENA_MAX, 2);
}

/* Every known object keeps its file open (to load it again after giving
 * it back under the memory bound) and the root of the process that
 * mapped it: up to twice limits' 4096 objects, more than the 1024 a
 * service gets by default. The hard limit is the administrator's bound. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	tune_malloc();
	raise_fd_limit();
	if (!cmd) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
		usage(stdout);
		return EXIT_OK;
	}
	if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
		printf("brasa %s (%s)\n", BRASA_VERSION, BRASA_REVISION);
		return EXIT_OK;
	}
	/* getopt names the program in its messages: "brasa run: ..." */
	if (!strcmp(cmd, "run") || !strcmp(cmd, "capture") || !strcmp(cmd, "check") ||
	    !strcmp(cmd, "history")) {
		static char name[32];

		snprintf(name, sizeof(name), "brasa %s", cmd);
		argv[1] = name;
	}
	if (!strcmp(cmd, "run"))
		return cmd_run(argc - 1, argv + 1);
	if (!strcmp(cmd, "capture"))
		return cmd_capture(argc - 1, argv + 1);
	if (!strcmp(cmd, "check"))
		return cmd_check(argc - 1, argv + 1);
	if (!strcmp(cmd, "history"))
		return cmd_history(argc - 1, argv + 1);
	fprintf(stderr, "brasa: unknown command '%s'\n\n", cmd);
	usage(stderr);
	return EXIT_USAGE;
}
