/* brasa run: the daemon. Samples continuously and serves the local HTTP
 * endpoint; talks to systemd (READY, STOPPING, WATCHDOG) when started by
 * it. SIGINT/SIGTERM stop it cleanly. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "build_info.h"
#include "agent/caps.h"
#include "agent/cli.h"
#include "agent/config.h"
#include "agent/run_history.h"
#include "history/history.h"
#include "serve/http_api.h"
#include "labels/k8s.h"
#include "serve/metrics.h"
#include "serve/metrics_process.h"
#include "core/pprof.h"
#include "core/pprof_format.h"
#include "core/profiler.h"
#include "ship/remote.h"
#include "ship/shipper.h"
#include "ship/uploader.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/macros.h"

/* What the HTTP handlers look at. */
struct run_ctx {
	struct profiler *profiler;
	struct uploader *uploader; /* NULL: no remote.url */
	struct history *history;   /* NULL: no local history */
	struct run_history_opts history_opts;
	atomic_bool stopping;      /* history requests waiting return */
	atomic_uint history_merges;
	struct http_api *http;     /* set (atomically) once it serves */
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: brasa run [OPTIONS]\n"
		"\n"
		"Sample every process continuously and serve profiles over HTTP.\n"
		"Each option but --config and --help has a key in the YAML file that\n"
		"--config names (docs/configuration.md); options win over the file.\n"
		"SIGHUP reads the file again.\n"
		"\n");
	config__help(f);
}

static int profile_request(void *ctx, const struct profile_query *q,
			   const struct pprof_output *how, struct buf *out, char *errmsg,
			   size_t errlen)
{
	struct run_ctx *rc = ctx;
	struct profiler *p = rc->profiler;
	struct window_opts o = { .seconds = q->seconds, .pid = q->pid, .match = q->match,
				 .type = http_api__pprof_type(q->type) };
	struct window *w = NULL;
	int err;

	if (q->range.set)
		return run_history__profile(rc->history, q, how, &rc->history_opts, out, errmsg,
					    errlen);
	err = profiler__window_open(p, &o, &w);
	switch (err) {
	case 0:
		break;
	case -EOPNOTSUPP:
		snprintf(errmsg, errlen, "this agent does not record %s profiles (off-CPU "
			 "profiling is off: --off-cpu or sampling.off_cpu turns it on)",
			 pprof_type_names[o.type]);
		return err;
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
	err = window__pprof(w) ? pprof__write_as(window__pprof(w), how, out) : -ENOMEM;
	if (err)
		snprintf(errmsg, errlen, "could not encode the profile: %s", strerror(-err));
	window__close(w);
	return err;
}

static int health_request(void *ctx, char *msg, size_t len)
{
	return profiler__health(((struct run_ctx *)ctx)->profiler, msg, len);
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
	struct run_ctx *rc = ctx;
	struct profiler_stats st;
	struct uploader_stats ust;
	struct http_api_stats hst;
	struct history_stats hist;
	struct http_api *http = __atomic_load_n(&rc->http, __ATOMIC_ACQUIRE);
	int err;

	profiler__stats(rc->profiler, &st);
	err = metrics__write_process(out, BRASA_REVISION);
	if (!err)
		err = metrics__write_agent(out, &st);
	if (!err && rc->uploader) {
		uploader__stats(rc->uploader, &ust);
		err = metrics__write_uploads(out, &ust);
	}
	if (!err && http) {
		http_api__stats(http, &hst);
		err = metrics__write_http(out, &hst);
	}
	if (!err && rc->history) {
		history__stats(rc->history, &hist);
		err = metrics__write_history(out, &hist);
	}
	return err;
}

/* The Kubernetes API client, when kubernetes.enabled says so (auto: an
 * api_url is set or brasa runs in a pod). 0 with *out NULL when disabled. */
static int start_k8s(const struct config *c, struct k8s **out)
{
	char url[512], host[256];
	struct k8s_opts o = {
		.token_file = c->kubernetes.token_file,
		.ca_file = c->kubernetes.ca_file,
		.poll_interval_ms = (uint32_t)c->kubernetes.poll_interval_ms,
	};
	int err;

	*out = NULL;
	if (!config__kubernetes_enabled(c))
		return 0;
	o.api_url = c->kubernetes.api_url;
	if (!o.api_url) {
		err = k8s__in_cluster_url(url, sizeof(url));
		if (err) {
			log_error("kubernetes.enabled is true but no kubernetes.api_url is set and "
				  "KUBERNETES_SERVICE_HOST/PORT are not in the environment");
			return err;
		}
		o.api_url = url;
	}
	if (c->node) {
		o.node = c->node;
	} else {
		if (gethostname(host, sizeof(host)) != 0)
			return -errno;
		host[sizeof(host) - 1] = 0;
		o.node = host;
	}
	err = k8s__new(&o, out);
	if (err)
		log_error("failed to start the Kubernetes API client: %s", strerror(-err));
	else
		log_info("kubernetes: labeling the pods of node '%s' from %s", o.node, o.api_url);
	return err;
}

/* Uploads and the local history: the uploader (spool, sender) when
 * remote.url is set, and the shipper feeding it and the history one window
 * per remote.upload_interval. 0 with both NULL without either. */
static int start_uploads(const struct config *c, struct profiler *p, struct history *history,
			 struct uploader **up, struct shipper **sh)
{
	struct uploader_opts uo = {
		.remote = {
			.protocol = c->remote.protocol,
			.url = c->remote.url,
			.ca_file = c->remote.tls_ca_file,
			.cert_file = c->remote.tls_cert_file,
			.key_file = c->remote.tls_key_file,
			.insecure_skip_verify = c->remote.tls_insecure_skip_verify,
			.bearer_token_file = c->remote.bearer_token_file,
			.basic_auth_username = c->remote.basic_auth_username,
			.basic_auth_password_file = c->remote.basic_auth_password_file,
			.tenant_id = c->remote.tenant_id,
			.headers = &c->remote.headers,
			.timeout_ms = (uint32_t)c->remote.timeout_ms,
		},
		.spool_dir = c->remote.spool_dir,
		.spool_max_bytes = c->remote.spool_max_bytes,
		.frequency_hz = c->sampling.frequency,
		.backoff_max_ms = (uint32_t)c->remote.max_retry_backoff_ms,
		.node = c->node,
	};
	struct shipper_opts so = {
		.profiler = p,
		.history = history,
		.interval_s = (uint32_t)((c->remote.upload_interval_ms + 999) / 1000),
	};
	struct uploader_stats ust;
	int err;

	*up = NULL;
	*sh = NULL;
	if (!c->remote.url) {
		if (!history)
			return 0;
		err = shipper__start(&so, sh);
		if (err)
			log_error("failed to start the window loop: %s", strerror(-err));
		return err;
	}
	/* an unusable spool is not an error: the uploader logs it, runs
	 * without it and tries it again */
	err = uploader__new(&uo, up);
	if (err) {
		log_error("failed to start uploads to %s: %s", c->remote.url, strerror(-err));
		return err;
	}
	so.uploader = *up;
	err = shipper__start(&so, sh);
	if (err) {
		log_error("failed to start the upload loop: %s", strerror(-err));
		return err;
	}
	uploader__stats(*up, &ust);
	log_info("uploading profiles every %u s to %s (%s); spool %s%s", so.interval_s,
		 c->remote.url, remote__protocol_name(uo.remote.protocol), uo.spool_dir,
		 ust.spool_usable ? "" : " (not usable for now: see above)");
	return 0;
}

/* SIGHUP handling: what cmd_run needs to reload. boot is the
 * configuration brasa started with (the HTTP server and the sampler still
 * run with it, and hold pointers into it); live is the last one reloaded,
 * whose labeling the profiler borrows (empty before the first reload). */
struct reload_state {
	const char *path;
	int argc;
	char **argv;
	struct config boot, live;
	struct profiler *profiler;
};

static void reload(struct reload_state *r)
{
	const struct config *running = r->live.file ? &r->live : &r->boot;
	struct profiler_labeling labeling;
	struct config next;
	struct buf applied = { 0 }, needs_restart = { 0 };
	struct timespec now;
	char msg[1024];
	size_t n;
	const struct config_setting *s = config__settings(&n);
	int err;

	if (!r->path) {
		log_info("received SIGHUP, but brasa runs without --config: nothing to reload");
		return;
	}
	/* systemd (Type=notify-reload) wants the time the reload began */
	clock_gettime(CLOCK_MONOTONIC, &now);
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
		   (unsigned long long)now.tv_sec * 1000000ull + (unsigned long long)now.tv_nsec / 1000);
	if (config__read(&next, r->path, r->argc, r->argv, msg, sizeof(msg))) {
		log_warn("failed to reload the configuration: %s; keeping the running one", msg);
		goto out;
	}
	config__labeling(&next, &labeling);
	err = profiler__set_labeling(r->profiler, &labeling);
	if (err) {
		log_warn("failed to apply the reloaded labeling: %s; keeping the running "
			 "configuration", strerror(-err));
		config__free(&next);
		goto out;
	}
	/* one line for what changed, one for what waits for a restart (the
	 * rest runs with what brasa started with) */
	for (size_t i = 0; i < n; i++) {
		bool restart = !s[i].reloadable;
		struct buf *b = restart ? &needs_restart : &applied;

		if (!config__setting_equal(restart ? &r->boot : running, &next, &s[i]))
			buf_printf(b, "%s%s", b->len ? ", " : "", s[i].key);
	}
	log_info("reloaded '%s': %s%s", r->path, applied.len ? "applied " : "nothing changed",
		 applied.len ? (char *)applied.data : "");
	if (needs_restart.len)
		log_warn("'%s' changes what only a restart applies (%s): running on with the "
			 "values brasa started with", r->path, (char *)needs_restart.data);
	buf_release(&applied);
	buf_release(&needs_restart);
	log_set_level(next.log_level);
	/* the profiler no longer uses the old rules */
	config__free(&r->live);
	r->live = next;
out:
	sd_notify(0, "READY=1\nSTATUS=sampling");
}

int cmd_run(int argc, char **argv)
{
	struct config_cmdline cmdline;
	struct reload_state rs = { .argc = argc, .argv = argv };
	struct profiler_opts popts;
	struct http_api_opts hopts = {
		.default_seconds = 30,
	};
	struct profiler *p = NULL;
	struct http_api *http = NULL;
	struct k8s *k8s = NULL;
	struct uploader *uploader = NULL;
	struct shipper *shipper = NULL;
	struct history *history = NULL;
	struct run_ctx ctx = { 0 };
	_cleanup_close_ int sigfd = -1, hupfd = -1;
	uint64_t watchdog_usec = 0;
	time_t last_ping = 0, last_report = time(NULL);
	uint64_t reported[PROFILE_STAT_MAX] = { 0 };
	char msg[1024];
	sigset_t hup, all;
	int err, rc = EXIT_FAILURE_RUNTIME;

	/* --config first: the other flags go on top of the file */
	if (config__scan_args(argc, argv, &cmdline, msg, sizeof(msg))) {
		log_error("%s (see 'brasa run --help')", msg);
		return EXIT_USAGE;
	}
	if (cmdline.help) {
		usage(stdout);
		return EXIT_OK;
	}
	rs.path = cmdline.config_path;
	/* every value is checked here: a typo should not wait for the BPF load */
	if (config__read(&rs.boot, rs.path, argc, argv, msg, sizeof(msg))) {
		log_error("%s", msg);
		return EXIT_USAGE;
	}
	log_set_level(rs.boot.log_level);
	/* allowed by http.allow_insecure, and said before anything else */
	if (config__http_exposure(&rs.boot))
		log_warn("http.allow_insecure: serving %s %s: whoever reaches it can read the "
			 "profiles of every process of this host (docs/http-api.md)",
			 rs.boot.http.address, config__http_exposure(&rs.boot));
	cli_profiler_opts(&rs.boot, &popts);
	hopts.address = rs.boot.http.address;
	hopts.max_seconds = rs.boot.http.max_profile_seconds;
	hopts.read_timeout_ms = (unsigned)rs.boot.http.read_timeout_ms;
	hopts.max_connections = rs.boot.http.max_connections;
	hopts.tls_cert_file = rs.boot.http.tls_cert_file;
	hopts.tls_key_file = rs.boot.http.tls_key_file;
	hopts.tls_client_ca_file = rs.boot.http.tls_client_ca_file;
	hopts.bearer_token_file = rs.boot.http.bearer_token_file;
	if (getenv("JOURNAL_STREAM"))
		log_set_journal(true);

	/* blocked before any thread starts (the Kubernetes client's is the
	 * first), so none of them takes them: SIGHUP here, SIGINT and SIGTERM
	 * by the signalfd cli_start_profiler opens */
	sigemptyset(&hup);
	sigaddset(&hup, SIGHUP);
	sigemptyset(&all);
	sigaddset(&all, SIGHUP);
	sigaddset(&all, SIGINT);
	sigaddset(&all, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &all, NULL) < 0 ||
	    (hupfd = signalfd(-1, &hup, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
		log_error("failed to set up signal handling: %s", strerror(errno));
		config__free(&rs.boot);
		return EXIT_FAILURE_RUNTIME;
	}
	if (start_k8s(&rs.boot, &k8s)) {
		rc = EXIT_FAILURE_RUNTIME;
		goto out;
	}
	popts.k8s = k8s;
	rc = cli_start_profiler(&popts, &p, &sigfd);
	if (rc != EXIT_OK)
		goto out;
	/* what each missing capability costs, once (CAP_SYSLOG: the profiler
	 * said so when it loaded kernel symbols) */
	caps__log_missing(false);
	rs.profiler = p;
	rc = EXIT_FAILURE_RUNTIME;
	run_history__open(&rs.boot, &history);
	if (start_uploads(&rs.boot, p, history, &uploader, &shipper))
		goto out;
	ctx = (struct run_ctx){
		.profiler = p,
		.uploader = uploader,
		.history = history,
		.history_opts = {
			.frequency = popts.frequency,
			.interval_s = (uint32_t)((rs.boot.remote.upload_interval_ms + 999) / 1000),
			.max_bytes = rs.boot.limits.profile_memory,
			.stopping = &ctx.stopping,
			.merges = &ctx.history_merges,
		},
	};

	hopts.profile = profile_request;
	hopts.history = history;
	hopts.sample_types = 1u << PROFILE_CPU |
			     (profiler__records(p, PPROF_TYPE_OFF_CPU) ? 1u << PROFILE_OFF_CPU : 0) |
			     (profiler__records(p, PPROF_TYPE_WALL) ? 1u << PROFILE_WALL : 0);
	hopts.metrics = metrics_request;
	hopts.health = health_request;
	hopts.ctx = &ctx;
	err = http_api__start(&hopts, &http, msg, sizeof(msg));
	if (err) {
		log_error("%s", msg[0] ? msg : strerror(-err));
		rc = err == -EINVAL ? EXIT_USAGE : EXIT_FAILURE_RUNTIME;
		goto out;
	}
	__atomic_store_n(&ctx.http, http, __ATOMIC_RELEASE);
	log_info("sampling every process at %u Hz; endpoint %s://%s/%s", popts.frequency,
		 hopts.tls_cert_file ? "https" : "http", hopts.address,
		 hopts.bearer_token_file && hopts.tls_client_ca_file
			 ? " (clients present a bearer token or a client certificate)"
		 : hopts.bearer_token_file ? " (clients present a bearer token)"
		 : hopts.tls_client_ca_file ? " (clients present a client certificate)"
					    : "");

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
		if (read(hupfd, &si, sizeof(si)) == sizeof(si))
			reload(&rs);
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
	atomic_store(&ctx.stopping, true);
	if (p)
		profiler__cancel_windows(p);
	/* the last upload window, cut short, is queued; then the uploader
	 * spools whatever it could not send */
	shipper__stop(shipper);
	uploader__free(uploader);
	/* after the server: its requests read the history */
	http_api__stop(http);
	history__close(history);
	profiler__free(p);
	k8s__free(k8s);
	config__free(&rs.live);
	config__free(&rs.boot);
	return rc;
}
