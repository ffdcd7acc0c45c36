/* brasa history: the local history (docs/history.md) from a shell on the
 * node, beside the daemon (a read-only connection reads one snapshot while
 * the daemon writes): the stored ranges and their sizes, a range exported
 * as a profile file, and an integrity check. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/cli.h"
#include "agent/cli_output.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/macros.h"
#include "common/parse.h"
#include "common/timearg.h"
#include "history/history.h"
#include "labels/matcher.h"

#define DEFAULT_DIR "/var/lib/brasa/history"
#define NS_PER_SEC 1000000000ll

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: brasa history COMMAND [OPTIONS]\n"
		"\n"
		"The local history of a running (or stopped) agent, read beside it.\n"
		"\n"
		"Commands:\n"
		"  list      the stored time ranges: windows, series, samples, bytes\n"
		"  export    a range merged into one profile file\n"
		"  check     SQLite's integrity check and every record decoded; exit 1\n"
		"            when something is wrong\n"
		"\n"
		"Options:\n"
		"  -d, --dir PATH         the history directory (history.dir; default\n"
		"                         " DEFAULT_DIR ")\n"
		"      --since DURATION   the range: the last DURATION (15m, 2h; list:\n"
		"                         default everything; export: default 1h)\n"
		"      --start TIME       or from TIME (RFC 3339, Unix seconds, now-2h)\n"
		"      --end TIME         to TIME (default now)\n"
		"  -t, --type TYPE        the sample type: cpu or off_cpu (export: default\n"
		"                         cpu; list: default every type)\n"
		"export:\n"
		"  -p, --pid PID          only this process\n"
		"  -m, --match SELECTOR   only processes whose labels match, e.g.\n"
		"                         '{service_name=\"api\"}' (repeat: any of them)\n"
		"  -f, --format FORMAT    pprof (default), folded, svg, speedscope, json\n"
		"                         or html, as brasa capture writes them\n"
		"  -o, --output FILE      where to write ('-' for stdout)\n"
		"  -F, --frequency HZ     the profile's sampling rate (default 99: the\n"
		"                         agent's; windows of another rate are scaled)\n"
		"  -h, --help             show this help\n");
}

struct history_args {
	const char *dir;
	int64_t start_ns, end_ns; /* start 0: not given */
	int64_t since_ns;
	struct history_filter filter;
	int type; /* HISTORY_ANY_TYPE: not given */
	uint32_t frequency;
	struct cli_output out;
};

static int parse_time(const char *flag, const char *arg, int64_t now, int64_t *ns)
{
	int rc = timearg__parse(arg, now, ns);

	if (rc)
		log_error("invalid --%s '%s': expected RFC 3339 (2026-12-05T03:12:00Z), Unix "
			  "seconds or now-DURATION%s", flag, arg,
			  rc == -ERANGE ? " between 1970 and 2262" : "");
	return rc;
}

/* The options; EXIT_OK, or the exit code after a message. */
static int parse_args(int argc, char **argv, struct history_args *a)
{
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "since", required_argument, NULL, 'S' },
		{ "start", required_argument, NULL, 's' },
		{ "end", required_argument, NULL, 'e' },
		{ "pid", required_argument, NULL, 'p' },
		{ "match", required_argument, NULL, 'm' },
		{ "format", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ "frequency", required_argument, NULL, 'F' },
		{ "type", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	int64_t now = (int64_t)clock__ns(CLOCK_REALTIME);
	char msg[256];
	uint64_t ms;
	uint32_t v;
	int opt;

	a->end_ns = now;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "d:p:m:f:o:F:t:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			a->dir = optarg;
			break;
		case 'S':
			if (timearg__duration(optarg, &ms) || !ms ||
			    ms > (uint64_t)(now / 1000000)) {
				log_error("invalid --since '%s': expected a duration such as 15m or "
					  "1h30m", optarg);
				return EXIT_USAGE;
			}
			a->since_ns = (int64_t)ms * 1000000;
			break;
		case 's':
			if (parse_time("start", optarg, now, &a->start_ns))
				return EXIT_USAGE;
			break;
		case 'e':
			if (parse_time("end", optarg, now, &a->end_ns))
				return EXIT_USAGE;
			break;
		case 'p':
			if (parse_u32_range(optarg, 1, INT32_MAX, &v)) {
				log_error("invalid --pid '%s': expected a process id", optarg);
				return EXIT_USAGE;
			}
			a->filter.pid = (int32_t)v;
			break;
		case 'm':
			if (matcher_set__add(&a->filter.match, optarg, strlen(optarg), msg,
					     sizeof(msg))) {
				log_error("invalid --match '%s': %s", optarg, msg);
				return EXIT_USAGE;
			}
			break;
		case 'f':
			if (cli_output__format(&a->out, optarg))
				return EXIT_USAGE;
			break;
		case 'o':
			a->out.path = optarg;
			break;
		case 'F':
			if (parse_u32_range(optarg, 1, 1000, &a->frequency)) {
				log_error("invalid --frequency '%s': expected 1 to 1000", optarg);
				return EXIT_USAGE;
			}
			break;
		case 't':
			a->type = HISTORY_ANY_TYPE;
			for (int t = 0; t < PPROF_TYPE_MAX; t++)
				if (!strcmp(optarg, pprof_type_names[t]))
					a->type = t;
			if (a->type == HISTORY_ANY_TYPE) {
				log_error("invalid --type '%s': expected cpu or off_cpu", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'h':
			usage(stdout);
			return -1;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		log_error("unexpected argument '%s'", argv[optind]);
		return EXIT_USAGE;
	}
	if (a->since_ns && a->start_ns) {
		log_error("--since and --start exclude each other");
		return EXIT_USAGE;
	}
	if (a->since_ns)
		a->start_ns = now - a->since_ns;
	if (a->start_ns && a->start_ns >= a->end_ns) {
		log_error("--end is not after the start");
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

static struct history *open_store(const char *dir)
{
	char path[4096], err[512] = "";
	struct history_opts o = { .path = path, .read_only = true };
	struct history *h = NULL;
	int rc;

	if ((size_t)snprintf(path, sizeof(path), "%s/history.db", dir) >= sizeof(path)) {
		log_error("--dir is too long");
		return NULL;
	}
	rc = history__open(&o, &h, err, sizeof(err));
	if (rc)
		log_error("cannot read the history in %s: %s", path,
			  rc == -ENOENT ? "there is none (is history.dir another directory?)"
				       : err[0] ? err : strerror(-rc));
	return h;
}

static void format_time(int64_t ns, char *out, size_t len)
{
	time_t t = (time_t)(ns / NS_PER_SEC);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(out, len, "%lld", (long long)(ns / NS_PER_SEC));
}

static int list(struct history *h, const struct history_args *a)
{
	struct history_ranges *r = NULL;
	struct history_stats st;
	char from[32], to[32];
	uint64_t windows = 0, bytes = 0;
	int rc = history__ranges(h, a->start_ns, a->end_ns, a->type, &r);

	if (rc) {
		log_error("cannot list the history: %s", strerror(-rc));
		return EXIT_FAILURE_RUNTIME;
	}
	/* samples: of the type's default sample type (off_cpu: nanoseconds) */
	printf("%-8s  %-20s  %-20s  %8s  %7s  %14s  %10s\n", "type", "start", "end", "windows",
	       "series", "samples", "bytes");
	for (size_t i = 0; i < r->n; i++) {
		format_time(r->v[i].start_ns, from, sizeof(from));
		format_time(r->v[i].end_ns, to, sizeof(to));
		printf("%-8s  %-20s  %-20s  %8llu  %7llu  %14llu  %10llu\n",
		       pprof_type_names[r->v[i].type], from, to,
		       (unsigned long long)r->v[i].windows, (unsigned long long)r->v[i].series,
		       (unsigned long long)r->v[i].samples, (unsigned long long)r->v[i].bytes);
		windows += r->v[i].windows;
		bytes += r->v[i].bytes;
	}
	history__stats(h, &st);
	printf("%zu range%s, %llu windows, %llu bytes of records; the store: %llu bytes on "
	       "disk\n", r->n, r->n == 1 ? "" : "s", (unsigned long long)windows,
	       (unsigned long long)bytes, (unsigned long long)st.bytes);
	history_ranges__free(r);
	return EXIT_OK;
}

static int export(struct history *h, struct history_args *a)
{
	const int64_t start = a->start_ns ? a->start_ns : a->end_ns - 3600 * NS_PER_SEC;
	const struct pprof_opts po = {
		.type = a->type == HISTORY_ANY_TYPE ? PPROF_TYPE_CPU : (enum pprof_type)a->type,
		.period_ns = 1000000000ull / (a->frequency ? a->frequency : 99),
		.time_nanos = start,
		.duration_nanos = a->end_ns - start,
	};
	struct history_merge_info info = { 0 };
	struct pprof *p = NULL;
	int rc;

	if (cli_output__ready(&a->out) != EXIT_OK)
		return EXIT_USAGE;
	rc = pprof__new(&po, &p);
	if (!rc)
		rc = history__merge(h, start, a->end_ns, &a->filter, p, &info);
	if (rc) {
		log_error("cannot read the history: %s", strerror(-rc));
		pprof__free(p);
		return EXIT_FAILURE_RUNTIME;
	}
	if (info.corrupt_records)
		log_warn("%llu damaged records left out (brasa history check says more)",
			 (unsigned long long)info.corrupt_records);
	log_info("%llu windows, %llu samples", (unsigned long long)info.windows,
		 (unsigned long long)info.samples);
	rc = cli_output__write(&a->out, p);
	pprof__free(p);
	return rc;
}

static int check(struct history *h)
{
	struct history_check *c = NULL;
	int rc = history__check(h, &c);

	if (rc) {
		log_error("the check could not run: %s", strerror(-rc));
		return EXIT_FAILURE_RUNTIME;
	}
	printf("%s: %llu windows, %llu records (%llu damaged), %llu dictionary rows (%llu "
	       "damaged, %llu missing references, %llu no window uses)\n",
	       c->ok ? "ok" : "PROBLEMS", (unsigned long long)c->windows,
	       (unsigned long long)c->records, (unsigned long long)c->corrupt_records,
	       (unsigned long long)c->dict_rows, (unsigned long long)c->bad_dict_rows,
	       (unsigned long long)c->missing_refs, (unsigned long long)c->unreached_rows);
	if (c->problems)
		printf("%s", c->problems);
	rc = c->ok ? EXIT_OK : EXIT_FAILURE_RUNTIME;
	history_check__free(c);
	return rc;
}

int cmd_history(int argc, char **argv)
{
	struct history_args a = { .dir = DEFAULT_DIR, .filter = { .pid = -1 },
				  .type = HISTORY_ANY_TYPE };
	const char *sub = argc > 1 ? argv[1] : NULL;
	struct history *h;
	int rc;

	cli_output__init(&a.out, "brasa history");
	if (!sub || !strcmp(sub, "-h") || !strcmp(sub, "--help")) {
		usage(sub ? stdout : stderr);
		return sub ? EXIT_OK : EXIT_USAGE;
	}
	if (strcmp(sub, "list") && strcmp(sub, "export") && strcmp(sub, "check")) {
		log_error("unknown history command '%s' (list, export or check)", sub);
		return EXIT_USAGE;
	}
	rc = parse_args(argc - 1, argv + 1, &a);
	if (rc == EXIT_OK) {
		h = open_store(a.dir);
		rc = !h ? EXIT_FAILURE_RUNTIME
		     : !strcmp(sub, "list")   ? list(h, &a)
		     : !strcmp(sub, "export") ? export(h, &a)
					      : check(h);
		history__close(h);
	} else if (rc < 0) {
		rc = EXIT_OK; /* --help */
	}
	matcher_set__free(a.filter.match);
	return rc;
}
