/* brasa run: the daemon. Samples continuously and serves the local HTTP
 * endpoint; talks to systemd (READY, STOPPING, WATCHDOG) when started by
 * it. SIGINT/SIGTERM stop it cleanly. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "agent/cli.h"
#include "agent/http_api.h"
#include "agent/metrics.h"
#include "agent/pprof.h"
#include "agent/profiler.h"
#include "common/log.h"
#include "common/macros.h"
#include "common/parse.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: brasa run [OPTIONS]\n"
		"\n"
		"Sample every process continuously and serve profiles over HTTP.\n"
		"\n"
		"      --http-address ADDR    listen address (default 127.0.0.1:7071;\n"
		"                             [::1]:7071 for IPv6)\n"
		"  -F, --frequency HZ         samples per second per CPU (default 99)\n"
		"      --max-profile-seconds N   longest on-demand profile (default 600)\n"
		"      --no-kernel            do not record kernel stacks\n"
		"      --unwind MODE          user stacks: auto (DWARF tables where the kernel\n"
		"                             allows, else frame pointers; default), fp, dwarf\n"
		"      --unwind-table-memory SIZE\n"
		"                             bound on kernel memory for unwind tables\n"
		"                             (default 128M; least recently used evicted)\n"
		"      --log-level LEVEL      error, warn, info (default) or debug\n"
		"  -h, --help                 show this help\n");
}

static int profile_request(void *ctx, const struct profile_query *q, struct buf *out,
			   char *errmsg, size_t errlen)
{
	struct profiler *p = ctx;
	struct window_opts o = { .seconds = q->seconds, .pid = q->pid };
	struct window *w = NULL;
	int err;

	err = profiler__window_open(p, &o, &w);
	switch (err) {
	case 0:
		break;
	case -ESRCH:
		snprintf(errmsg, errlen, "no such process: %d", q->pid);
		return err;
	case -EBUSY:
		snprintf(errmsg, errlen, "too many profile requests in progress, retry later");
		return err;
	default:
		snprintf(errmsg, errlen, "could not start the profile: %s", strerror(-err));
		return err;
	}
	window__wait(w);
	err = window__pprof(w) ? pprof__encode(window__pprof(w), out) : -ENOMEM;
	if (err)
		snprintf(errmsg, errlen, "could not encode the profile: %s", strerror(-err));
	window__close(w);
	return err;
}

static int health_request(void *ctx, char *msg, size_t len)
{
	return profiler__health(ctx, msg, len);
}

/* Losses and incomplete stacks are in /metrics; the log says so too, at
 * most every REPORT_INTERVAL, and only when something grew, so an
 * operator without a metrics pipeline still hears of it. */
#define REPORT_INTERVAL 300

static void report_losses(struct profiler *p, uint64_t last[PROFILE_STAT_MAX])
{
	static const struct {
		enum profile_stat stat;
		const char *what;
	} watched[] = {
		{ PROFILE_STAT_COUNTS_FULL, "samples lost to a full counts map" },
		{ PROFILE_STAT_STACKS_FULL, "stacks lost to a full stacks map" },
		{ PROFILE_STAT_EVENTS_LOST, "process events lost to a full ring buffer" },
		{ PROFILE_STAT_UNWIND_UNSUPPORTED, "user stacks cut at an unsupported unwind rule" },
		{ PROFILE_STAT_UNWIND_READ_FAULT, "user stacks cut at an unreadable stack" },
		{ PROFILE_STAT_UNWIND_TRUNCATED, "user stacks cut at the depth limit" },
	};
	struct profiler_stats st;
	char line[512];
	size_t len = 0;

	profiler__stats(p, &st);
	for (size_t i = 0; i < sizeof(watched) / sizeof(watched[0]); i++) {
		enum profile_stat k = watched[i].stat;
		uint64_t grew = st.bpf[k] - last[k];

		if (grew && len < sizeof(line))
			len += (size_t)snprintf(line + len, sizeof(line) - len, "%s%llu %s",
						len ? ", " : "", (unsigned long long)grew,
						watched[i].what);
		last[k] = st.bpf[k];
	}
	if (len)
		log_info("in the last %d s: %s (see /metrics)", REPORT_INTERVAL, line);
}

static int metrics_request(void *ctx, struct buf *out)
{
	struct profiler_stats st;

	profiler__stats(ctx, &st);
	return metrics__write_agent(out, &st);
}

int cmd_run(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "http-address", required_argument, NULL, 'a' },
		{ "frequency", required_argument, NULL, 'F' },
		{ "max-profile-seconds", required_argument, NULL, 'M' },
		{ "no-kernel", no_argument, NULL, 'K' },
		{ "unwind", required_argument, NULL, 'U' },
		{ "unwind-table-memory", required_argument, NULL, 'T' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	struct profiler_opts popts = { .frequency = 99, .kernel_stacks = true };
	struct http_api_opts hopts = {
		.address = "127.0.0.1:7071",
		.default_seconds = 30,
		.max_seconds = 600,
		.max_connections = 32,
	};
	struct profiler *p = NULL;
	struct http_api *http = NULL;
	_cleanup_close_ int sigfd = -1;
	uint64_t watchdog_usec = 0;
	time_t last_ping = 0, last_report = time(NULL);
	uint64_t reported[PROFILE_STAT_MAX] = { 0 };
	int opt, err, rc = EXIT_FAILURE_RUNTIME;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "F:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'a':
			hopts.address = optarg;
			break;
		case 'M':
			if (parse_u32_range(optarg, 1, 86400, &hopts.max_seconds)) {
				log_error("invalid --max-profile-seconds '%s': expected 1 to 86400", optarg);
				return EXIT_USAGE;
			}
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
	{
		struct sockaddr_storage ss;
		socklen_t sslen;

		/* a typo in the address should not wait for the BPF load */
		if (http_api__parse_address(hopts.address, &ss, &sslen)) {
			log_error("invalid --http-address '%s': expected IPv4:PORT or [IPv6]:PORT",
				  hopts.address);
			return EXIT_USAGE;
		}
	}
	if (getenv("JOURNAL_STREAM"))
		log_set_journal(true);
	rc = cli_start_profiler(&popts, &p, &sigfd);
	if (rc != EXIT_OK)
		return rc;

	hopts.profile = profile_request;
	hopts.metrics = metrics_request;
	hopts.health = health_request;
	hopts.ctx = p;
	http = http_api__start(&hopts);
	if (!http) {
		err = -errno;
		log_error("failed to listen on '%s': %s", hopts.address, strerror(-err));
		rc = err == -EINVAL ? EXIT_USAGE : EXIT_FAILURE_RUNTIME;
		goto out;
	}
	log_info("sampling every process at %u Hz; endpoint http://%s/", popts.frequency,
		 hopts.address);
	if (sd_watchdog_enabled(0, &watchdog_usec) <= 0)
		watchdog_usec = 0;
	sd_notify(0, "READY=1\nSTATUS=sampling");

	for (;;) {
		struct signalfd_siginfo si;

		err = profiler__step(p, 500);
		if (err) {
			log_error("sampling failed: %s", strerror(-err));
			goto out;
		}
		if (read(sigfd, &si, sizeof(si)) == sizeof(si)) {
			log_info("received %s, stopping", strsignal((int)si.ssi_signo));
			break;
		}
		if (time(NULL) - last_report >= REPORT_INTERVAL) {
			report_losses(p, reported);
			last_report = time(NULL);
		}
		if (watchdog_usec && time(NULL) - last_ping >= (time_t)(watchdog_usec / 2000000 + 0)) {
			sd_notify(0, "WATCHDOG=1");
			last_ping = time(NULL);
		}
	}
	rc = EXIT_OK;
out:
	sd_notify(0, "STOPPING=1");
	/* Requests waiting for a window must return before the server can
	 * join their threads. */
	if (p)
		profiler__cancel_windows(p);
	http_api__stop(http);
	profiler__free(p);
	return rc;
}
