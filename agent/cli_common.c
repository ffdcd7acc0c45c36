#include <errno.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <linux/capability.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/cli.h"
#include "agent/config.h"
#include "core/profiler.h"
#include "common/log.h"
#include "common/macros.h"

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

static bool cap_effective(unsigned cap)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2] = { 0 };

	if (syscall(SYS_capget, &hdr, data) < 0)
		return false;
	return data[cap / 32].effective & (1u << (cap % 32));
}

bool cli_have_bpf_privileges(void)
{
	/* CAP_SYS_ADMIN covers everything; since 5.8 CAP_BPF + CAP_PERFMON
	 * suffice for perf_event programs and their maps. */
	return cap_effective(CAP_SYS_ADMIN) ||
	       (cap_effective(CAP_BPF) && cap_effective(CAP_PERFMON));
}

int cli_exit_for_error(int err)
{
	switch (err) {
	case -EPERM:
	case -EACCES:
		return EXIT_NO_PRIVILEGE;
	case -EOPNOTSUPP:
	case -ENOSYS:
	case -ENOENT:
	case -EINVAL:
		return EXIT_UNSUPPORTED;
	default:
		return EXIT_FAILURE_RUNTIME;
	}
}

int cli_stop_signals_fd(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGPIPE);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	/* SIGPIPE stays blocked and unread: a client hanging up must not
	 * kill the agent, and write() reports EPIPE instead. */
	sigdelset(&set, SIGPIPE);
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

/* capture's sampling flags go through the settings table too, so both
 * commands accept the same values and say the same about bad ones. */
int cli_parse_sampling_opt(int opt, const char *arg, struct profiler_opts *popts)
{
	static const struct {
		int opt;
		const char *key;
	} keys[] = {
		{ 'F', "sampling.frequency" },
		{ 'U', "sampling.unwind" },
		{ 'L', "log_level" },
		{ 'T', "sampling.unwind_table_memory" },
		{ 'N', "sampling.off_cpu_one_in" },
		{ 'M', "sampling.off_cpu_min_time" },
		{ CLI_OPT_DEBUGINFOD_CACHE_SIZE, "symbolize.debuginfod.cache_size" },
		{ CLI_OPT_DEBUGINFOD_TIMEOUT, "symbolize.debuginfod.timeout" },
	};
	const struct config_setting *s = NULL;
	union {
		uint32_t u32;
		uint64_t u64;
		int e;
	} v;
	char err[256];

	if (opt == 'K') {
		popts->kernel_stacks = false;
		return 1;
	}
	if (opt == 'D' || opt == 'd') {
		popts->demangle = opt == 'd';
		return 1;
	}
	/* texts, taken as they are (argv outlives the profiler) */
	if (opt == CLI_OPT_DEBUGINFOD_URLS || opt == CLI_OPT_DEBUGINFOD_CACHE_DIR) {
		*(opt == CLI_OPT_DEBUGINFOD_URLS ? &popts->debuginfod.urls
						 : &popts->debuginfod.cache_dir) = arg;
		return 1;
	}
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (keys[i].opt == opt)
			s = config__find(keys[i].key);
	if (!s)
		return 0;
	if (config__parse_value(s, arg, &v, err, sizeof(err))) {
		log_error("invalid --%s '%s': %s", s->flag, arg, err);
		return -EINVAL;
	}
	switch (opt) {
	case 'F':
		popts->frequency = v.u32;
		break;
	case 'U':
		popts->unwind = (enum unwind_mode)v.e;
		break;
	case 'L':
		log_set_level((enum log_level)v.e);
		break;
	case 'T':
		popts->unwind_max_bytes = (size_t)v.u64;
		break;
	case 'N':
		popts->off_cpu_probability = 1.0 / v.u32;
		break;
	case 'M':
		popts->off_cpu_min_ns = v.u64 * 1000000ull;
		break;
	case CLI_OPT_DEBUGINFOD_CACHE_SIZE:
		popts->debuginfod.max_cache_bytes = v.u64;
		break;
	case CLI_OPT_DEBUGINFOD_TIMEOUT:
		popts->debuginfod.timeout_ms = (unsigned)v.u64;
		break;
	}
	return 1;
}

void cli_profiler_opts(const struct config *c, struct profiler_opts *popts)
{
	*popts = (struct profiler_opts){
		.frequency = c->sampling.frequency,
		.kernel_stacks = c->sampling.kernel_stacks,
		.unwind = c->sampling.unwind,
		.unwind_max_bytes = (size_t)c->sampling.unwind_table_memory,
		.symbol_max_bytes = (size_t)c->limits.symbol_memory,
		.perfmap_max_bytes = (size_t)c->limits.perf_map_memory,
		.max_process_bytes = (size_t)c->limits.process_table_memory,
		.max_window_bytes = (size_t)c->limits.profile_memory,
		.max_deferred_bytes = (size_t)c->limits.held_sample_memory,
		.load_timeout_ms = (unsigned)c->limits.load_timeout_ms,
		.unwind_build_timeout_ms = (unsigned)c->limits.unwind_table_build_timeout_ms,
		.unwind_build_max_bytes = (size_t)c->limits.unwind_table_build_memory,
		.off_cpu = c->sampling.off_cpu,
		.off_cpu_probability = 1.0 / c->sampling.off_cpu_one_in,
		.off_cpu_min_ns = c->sampling.off_cpu_min_time_ms * 1000000ull,
		.demangle = c->symbolize.demangle,
		.debuginfod = {
			.urls = c->symbolize.debuginfod.urls,
			.cache_dir = c->symbolize.debuginfod.cache_dir,
			.max_cache_bytes = c->symbolize.debuginfod.cache_size,
			.timeout_ms = (unsigned)c->symbolize.debuginfod.timeout_ms,
			.max_fetches = c->symbolize.debuginfod.max_fetches,
			.retry_ms = (unsigned)c->symbolize.debuginfod.retry_after_ms,
		},
	};
	config__labeling(c, &popts->labeling);
}

int cli_start_profiler(const struct profiler_opts *popts, struct profiler **p, int *sigfd)
{
	int err;

	if (!cli_have_bpf_privileges()) {
		log_error("brasa needs root (or CAP_BPF, CAP_PERFMON) to load its BPF sampler; "
			  "'brasa check' lists what is missing");
		return EXIT_NO_PRIVILEGE;
	}
	*sigfd = cli_stop_signals_fd();
	if (*sigfd < 0) {
		log_error("failed to set up signal handling: %s", strerror(-*sigfd));
		return EXIT_FAILURE_RUNTIME;
	}
	err = profiler__new(popts, p);
	return err ? cli_exit_for_error(err) : EXIT_OK;
}
