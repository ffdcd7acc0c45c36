/* brasa check: probes, one by one, what the sampler needs, and says for
 * each missing piece what to do about it; then each optional capability
 * (agent/caps.h) and what profiles lose without it. Probes features (never
 * kernel versions). Exit 0 when `brasa run` can work, degraded or not (the
 * warn lines say how), else 3 (privileges) or 4 (kernel). With --config
 * FILE it checks that file instead (exit 0 or 2; a spool directory that
 * would not work is a warning). With --pid PID it reports instead how
 * each executable object of that process is unwound and named
 * (agent/object_report.h). */
#include <errno.h>
#include <getopt.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "agent/caps.h"
#include "agent/cli.h"
#include "agent/config.h"
#include "agent/object_report.h"
#include "core/profiler.h"
#include "ship/spool.h"
#include "symbolize/debuginfod.h"
#include "ship/uploader.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/macros.h"
#include "common/parse.h"

struct check_state {
	int missing_privilege;
	int missing_feature;
	bool quiet_bpf;
};

static void report(bool ok, bool required, const char *what, const char *detail,
		   const char *fix)
{
	printf("%-5s %-26s %s\n", ok ? "ok" : required ? "FAIL" : "warn", what, detail);
	if (!ok && fix)
		printf("      -> %s\n", fix);
}

static int read_int_file(const char *path, long *out)
{
	struct buf b = { 0 };
	int64_t v;
	int err = buf_read_file(path, &b, 64);

	if (!err) {
		while (b.len && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == ' '))
			b.data[--b.len] = 0;
		err = parse_i64((char *)b.data, 10, &v);
		if (!err)
			*out = (long)v;
	}
	buf_release(&b);
	return err;
}

static int try_perf_event(void)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_SOFTWARE,
		.size = sizeof(attr),
		.config = PERF_COUNT_SW_CPU_CLOCK,
		.sample_freq = 99,
		.freq = 1,
	};
	int fd = (int)syscall(SYS_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);

	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

static int silent_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
	return 0;
}

/* brasa check --config FILE: the file as `brasa run --config FILE` would
 * read it (no flags on top), without BPF or privileges. What would run
 * degraded (a spool or history directory that does not work) is a warning. */
static int check_config(const char *path)
{
	char *argv[] = { "brasa check", NULL };
	struct config c;
	char err[1024], why[768];
	int warnings = 0;

	if (config__read(&c, path, 1, argv, err, sizeof(err))) {
		log_error("%s", err);
		return EXIT_USAGE;
	}
	if (c.remote.url && spool__check_dir(c.remote.spool_dir, why, sizeof(why))) {
		report(false, false, "remote.spool_dir", why, NULL);
		printf("      -> brasa would upload without a spool until this is fixed: windows the "
		       "backend cannot take are kept in memory (up to %d) and dropped past that "
		       "(docs/backends.md)\n", UPLOADER_QUEUE_MAX + 1);
		warnings++;
	}
	/* the same test as the spool's: the directory, or where mkdir -p
	 * would make it, is one brasa can write */
	if (c.history.retention_ms && c.history.max_bytes &&
	    spool__check_dir(c.history.dir, why, sizeof(why))) {
		report(false, false, "history.dir", why, NULL);
		printf("      -> brasa would run without a local history until this is fixed "
		       "(docs/history.md)\n");
		warnings++;
	}
	/* allowed, but to be seen by whoever checks the file */
	if (config__http_exposure(&c))
		log_warn("%s: http.allow_insecure: http.address %s is served %s: whoever reaches "
			 "it can read the profiles of every process of this host",
			 path, c.http.address, config__http_exposure(&c));
	warnings += config__http_exposure(&c) != NULL;
	config__free(&c);
	if (warnings)
		printf("%s: ok, with %d warning%s\n", path, warnings, warnings > 1 ? "s" : "");
	else
		printf("%s: ok\n", path);
	return EXIT_OK;
}

/* One line per optional capability; the number missing. */
static int report_capabilities(void)
{
	struct caps_entry e[CAPS_MAX];
	size_t n = caps__check(e, CAPS_MAX);
	char detail[512], fix[1024];
	int missing = 0;

	for (size_t i = 0; i < n; i++) {
		if (e[i].held)
			snprintf(detail, sizeof(detail), "%s", e[i].used_for);
		else
			snprintf(detail, sizeof(detail), "missing%s%s%s", e[i].instead ? " (nor " : "",
				 e[i].instead ? e[i].instead : "", e[i].instead ? ")" : "");
		snprintf(fix, sizeof(fix), "without %s: %s", strchr(e[i].name, ',') ? "them" : "it",
			 e[i].lost);
		report(e[i].held, false, e[i].name, detail, fix);
		missing += !e[i].held;
	}
	return missing;
}

/* brasa check --pid: the per-object report of one process. */
static int check_pid(const struct object_report_opts *ro, const struct debuginfod_opts *dio,
		     bool json)
{
	struct object_report_opts o = *ro;
	struct object_report *r = NULL;
	int err;

	if (dio->urls) {
		err = debuginfod__new(dio, &o.debuginfod);
		if (err) {
			log_error("failed to start the debuginfod client: %s", strerror(-err));
			return EXIT_FAILURE_RUNTIME;
		}
	}
	err = object_report__collect(&o, &r);
	debuginfod__free(o.debuginfod);
	if (err) {
		log_error("failed to read process %d: %s", o.pid,
			  err == -ESRCH ? "no such process" : strerror(-err));
		return err == -ESRCH ? EXIT_USAGE : EXIT_FAILURE_RUNTIME;
	}
	if (json)
		err = object_report__print_json(r, stdout);
	else
		object_report__print(r, stdout);
	object_report__free(r);
	return err ? EXIT_FAILURE_RUNTIME : EXIT_OK;
}

#define CHECK_USAGE \
	"Usage: brasa check [--config FILE]\n" \
	"       brasa check --pid PID [--json] [--debuginfod-urls URLS]\n" \
	"                   [--debuginfod-cache-dir DIR]\n"

int cmd_check(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "config", required_argument, NULL, 'c' },
		{ "pid", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' },
		{ "debuginfod-urls", required_argument, NULL, CLI_OPT_DEBUGINFOD_URLS },
		{ "debuginfod-cache-dir", required_argument, NULL, CLI_OPT_DEBUGINFOD_CACHE_DIR },
		{},
	};
	struct object_report_opts ro = { 0 };
	struct debuginfod_opts dio = { 0 };
	bool json = false;
	uint32_t pid;
	struct check_state st = { 0 };
	bool priv = cli_have_bpf_privileges(), btf;
	int degraded;
	long paranoid = 99, kptr = -1;
	const char *config_path = NULL;
	char detail[256];
	int opt, err;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "hp:", longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			printf(CHECK_USAGE
			       "\nReport what this kernel and these "
			       "privileges allow, and what to do about what is missing.\n"
			       "With --config, only check the configuration file instead: print\n"
			       "'FILE: ok' or its first error.\n"
			       "With --pid, report how each executable object of that process is\n"
			       "unwound (unwind table rows by source, or frame pointers) and named\n"
			       "(.symtab, a separate debug file and where it was found, .dynsym only,\n"
			       ".gopclntab, a perf map); --json prints it as JSON. With\n"
			       "--debuginfod-urls, stripped objects' debug files are fetched (and\n"
			       "waited for) as the agent would.\n"
			       "\n"
			       "Exit status: 0 brasa can sample (warn lines say what is degraded),\n"
			       "3 missing privileges, 4 missing kernel feature; with --config, 0 for\n"
			       "a usable file (warnings included), 2 for an error; with --pid, 0, or\n"
			       "2 when there is no such process.\n");
			return EXIT_OK;
		case 'c':
			config_path = optarg;
			continue;
		case 'p':
			if (parse_u32_range(optarg, 1, INT32_MAX, &pid)) {
				log_error("invalid --pid '%s': expected a process id", optarg);
				return EXIT_USAGE;
			}
			ro.pid = (int)pid;
			continue;
		case 'j':
			json = true;
			continue;
		case CLI_OPT_DEBUGINFOD_URLS:
			dio.urls = optarg;
			continue;
		case CLI_OPT_DEBUGINFOD_CACHE_DIR:
			dio.cache_dir = optarg;
			continue;
		}
		fprintf(stderr, CHECK_USAGE);
		return EXIT_USAGE;
	}
	if (optind < argc) {
		log_error("unexpected argument '%s'", argv[optind]);
		return EXIT_USAGE;
	}
	if (config_path)
		return check_config(config_path);
	if (ro.pid)
		return check_pid(&ro, &dio, json);
	if (json || dio.urls || dio.cache_dir) {
		log_error("--json and --debuginfod-* go with --pid");
		return EXIT_USAGE;
	}

	snprintf(detail, sizeof(detail), "euid %d", (int)geteuid());
	report(priv, true, "privileges (BPF, perfmon)", detail,
	       "run as root, or grant CAP_BPF, CAP_PERFMON (and the capabilities below) to brasa");
	st.missing_privilege += !priv;
	degraded = report_capabilities();

	btf = access("/sys/kernel/btf/vmlinux", R_OK) == 0;
	report(btf, true, "kernel BTF", btf ? "/sys/kernel/btf/vmlinux" : "not found",
	       "use a kernel built with CONFIG_DEBUG_INFO_BTF=y (most distribution kernels since 5.8)");
	st.missing_feature += !btf;

	if (read_int_file("/proc/sys/kernel/perf_event_paranoid", &paranoid) == 0) {
		bool ok = priv || paranoid <= 0;

		snprintf(detail, sizeof(detail), "kernel.perf_event_paranoid = %ld%s", paranoid,
			 priv ? " (root/CAP_PERFMON bypasses it)" : "");
		report(ok, false, "perf_event_paranoid", detail,
		       "without CAP_PERFMON, set kernel.perf_event_paranoid to 0 or lower");
	}

	err = try_perf_event();
	snprintf(detail, sizeof(detail), "%s", err ? strerror(-err) : "cpu-clock sampling event opens");
	report(!err, true, "perf_event", detail,
	       err == -EACCES || err == -EPERM ? "needs root or CAP_PERFMON"
					       : "the kernel needs CONFIG_PERF_EVENTS");
	if (err == -EACCES || err == -EPERM)
		st.missing_privilege++;
	else if (err)
		st.missing_feature++;

	/* libbpf's probes load tiny programs: they need privileges too. */
	libbpf_set_print(silent_print);
	if (priv) {
		int perf = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_PERF_EVENT, NULL);
		int ringbuf = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL);
		int loop = libbpf_probe_bpf_helper(BPF_PROG_TYPE_PERF_EVENT, BPF_FUNC_loop, NULL);
		int rawtp = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_RAW_TRACEPOINT, NULL);

		report(perf == 1, true, "BPF perf_event programs", perf == 1 ? "supported" : "not supported",
		       "the kernel needs CONFIG_BPF_SYSCALL and CONFIG_BPF_EVENTS");
		report(rawtp == 1, true, "BPF raw tracepoints", rawtp == 1 ? "supported" : "not supported",
		       "the kernel needs CONFIG_BPF_EVENTS (raw tracepoints, 4.17+)");
		report(ringbuf == 1, true, "BPF ring buffer", ringbuf == 1 ? "supported" : "not supported",
		       "BPF ring buffers arrived in Linux 5.8: upgrade the kernel");
		report(loop == 1, false, "bpf_loop helper",
		       loop == 1 ? "supported (DWARF unwinding possible)" : "not supported",
		       "DWARF unwinding needs bpf_loop (5.17+); frame pointers still work");
		st.missing_feature += (perf != 1) + (rawtp != 1) + (ringbuf != 1);
	} else {
		report(false, true, "BPF features", "not probed: no privileges", NULL);
	}

	if (read_int_file("/proc/sys/kernel/kptr_restrict", &kptr) == 0) {
		bool ok = caps__kallsyms_visible();

		snprintf(detail, sizeof(detail), "kernel.kptr_restrict = %ld, /proc/kallsyms %s", kptr,
			 ok ? "has addresses" : "shows zero addresses");
		report(ok, false, "kernel symbols", detail,
		       kptr == 0 ? "kernel frames stay unsymbolized: brasa needs CAP_SYSLOG (or root) "
				   "to see kernel addresses"
				 : "kernel frames stay unsymbolized: run as root or with CAP_SYSLOG, "
				   "and set kernel.kptr_restrict to 0 or 1");
	}

	if (priv && !st.missing_feature) {
		struct profiler_opts po = { .frequency = 99, .kernel_stacks = true };
		struct profiler *p = NULL;

		log_set_level(LOG_LEVEL_ERROR);
		libbpf_set_print(NULL);
		err = profiler__new(&po, &p);
		snprintf(detail, sizeof(detail), "%s",
			 err ? strerror(-err) : "loaded and attached on every online CPU");
		report(!err, true, "sampler", detail,
		       "see the error above; 'brasa run --log-level debug' shows the verifier log");
		profiler__free(p);
		if (err)
			st.missing_feature++;
	}

	if (st.missing_privilege) {
		printf("\nbrasa cannot sample here: missing privileges\n");
		return EXIT_NO_PRIVILEGE;
	}
	if (st.missing_feature) {
		printf("\nbrasa cannot sample here: the kernel lacks a required feature\n");
		return EXIT_UNSUPPORTED;
	}
	if (degraded)
		printf("\nbrasa can sample here, with %d capabilit%s missing: see the warnings "
		       "above\n", degraded, degraded > 1 ? "ies" : "y");
	else
		printf("\nbrasa can sample here\n");
	return EXIT_OK;
}
