#include <errno.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <linux/capability.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/cli.h"
#include "agent/profiler.h"
#include "common/log.h"
#include "common/parse.h"

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

int cli_parse_frequency(const char *s, uint32_t *hz)
{
	int err = parse_u32_range(s, 1, 1000, hz);

	if (err)
		log_error("invalid --frequency '%s': expected a whole number of Hz from 1 to 1000", s);
	return err;
}

int cli_parse_log_level(const char *s)
{
	enum log_level lvl;

	if (log_level_parse(s, &lvl)) {
		log_error("invalid --log-level '%s': expected error, warn, info or debug", s);
		return -EINVAL;
	}
	log_set_level(lvl);
	return 0;
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

static int parse_unwind(const char *s, enum unwind_mode *mode)
{
	static const char *const names[] = {
		[UNWIND_MODE_AUTO] = "auto",
		[UNWIND_MODE_FP] = "fp",
		[UNWIND_MODE_DWARF] = "dwarf",
	};

	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcmp(s, names[i])) {
			*mode = (enum unwind_mode)i;
			return 0;
		}
	}
	log_error("invalid --unwind '%s': expected auto, fp or dwarf", s);
	return -EINVAL;
}

int cli_parse_sampling_opt(int opt, const char *arg, struct profiler_opts *popts)
{
	switch (opt) {
	case 'F':
		return cli_parse_frequency(arg, &popts->frequency) ? -EINVAL : 1;
	case 'K':
		popts->kernel_stacks = false;
		return 1;
	case 'U':
		return parse_unwind(arg, &popts->unwind) ? -EINVAL : 1;
	case 'L':
		return cli_parse_log_level(arg) ? -EINVAL : 1;
	case 'T': {
		uint64_t bytes;

		/* below 1 MiB not even libc's table fits */
		if (parse_size(arg, &bytes) || bytes < (1u << 20) || bytes > (64ull << 30)) {
			log_error("invalid --unwind-table-memory '%s': expected a size from 1M to 64G "
				  "(suffix K, M or G)", arg);
			return -EINVAL;
		}
		popts->unwind_max_bytes = (size_t)bytes;
		return 1;
	}
	default:
		return 0;
	}
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
