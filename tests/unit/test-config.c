/* config: defaults, every key of a fixture file, flags over the file, each
 * error with its exact message, durations and sizes, compiled relabel
 * rules. argv[1]: tests/unit/fixtures/config. One file (about 900 lines):
 * the cases share the fixture and the table of every setting. */
#include "testing.h"

#include <errno.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/config.h"
#include "labels/proclabels.h"
#include "labels/relabel.h"
#include "common/labels.h"
#include "common/macros.h"

static const char *fixtures;

static const char *fixture(const char *name)
{
	static char path[4][512];
	static int next;
	char *p = path[next++ % 4];

	snprintf(p, sizeof(path[0]), "%s/%s", fixtures, name);
	return p;
}


/* config__read with a NULL-terminated flag list after "brasa-run" */
static int read_with(struct config *c, const char *path, char *err, size_t errlen, ...)
{
	char *argv[32] = { "brasa-run" };
	int argc = 1;
	va_list ap;

	va_start(ap, errlen);
	while (argc < 31 && (argv[argc] = va_arg(ap, char *)))
		argc++;
	va_end(ap);
	return config__read(c, path, argc, argv, err, errlen);
}

/* Loads text over the defaults and returns the error line ("" if none). */
static const char *load_error(const char *text)
{
	static char err[1024];
	struct config c;

	REQUIRE(config__defaults(&c) == 0);
	err[0] = 0;
	if (!config__load_buffer(&c, "t.yaml", text, strlen(text), err, sizeof(err)))
		err[0] = 0;
	config__free(&c);
	return err;
}

/* The fixture name is refused, its error naming the file and the line. */
static void check_fixture_error(const char *name, int line, const char *want)
{
	struct config c;
	char err[1024];

	CHECK_INT(read_with(&c, fixture(name), err, sizeof(err), NULL), ==, -EINVAL);
	CHECK_STR(err, test_fmt("%s:%d: %s", fixture(name), line, want));
}

/* One or two flags, and the error config__read gives them. */
struct flag_error {
	const char *args[3];
	const char *msg;
};

/* Each case is refused with its message, leaving nothing to free. */
static void check_flag_errors(const struct flag_error *cases, size_t n)
{
	struct config c;
	char err[1024];

	for (size_t i = 0; i < n; i++) {
		err[0] = 0;
		CHECK_INT(read_with(&c, NULL, err, sizeof(err), cases[i].args[0], cases[i].args[1],
				    NULL),
			  ==, -EINVAL);
		CHECK_STR(err, cases[i].msg);
		CHECK(c.http.address == NULL && c.file == NULL);
	}
}

static void test_defaults(void)
{
	struct config c;
	size_t n;
	const struct config_setting *s = config__settings(&n);

	unsetenv("KUBERNETES_SERVICE_HOST");
	REQUIRE(config__defaults(&c) == 0);
	CHECK_INT(n, ==, 60);
	CHECK(c.node == NULL);
	CHECK_INT(c.log_level, ==, LOG_LEVEL_INFO);
	CHECK_STR(c.http.address, "127.0.0.1:7071");
	CHECK_INT(c.http.max_profile_seconds, ==, 600);
	CHECK_INT(c.sampling.frequency, ==, 99);
	CHECK(c.symbolize.demangle);
	CHECK(c.sampling.kernel_stacks);
	CHECK_INT(c.sampling.unwind, ==, UNWIND_MODE_AUTO);
	CHECK_U64(c.sampling.unwind_table_memory, ==, 128ull << 20);
	CHECK_U64(c.limits.symbol_memory, ==, 32ull << 20);
	CHECK_U64(c.limits.perf_map_memory, ==, 16ull << 20);
	CHECK_U64(c.limits.process_table_memory, ==, 16ull << 20);
	CHECK_U64(c.limits.profile_memory, ==, 64ull << 20);
	CHECK_U64(c.limits.held_sample_memory, ==, 4ull << 20);
	CHECK_U64(c.limits.load_timeout_ms, ==, 5000);
	CHECK_U64(c.limits.unwind_table_build_timeout_ms, ==, 10000);
	CHECK_U64(c.limits.unwind_table_build_memory, ==, 64ull << 20);
	CHECK_INT(c.labels.external.n, ==, 0);
	CHECK(c.labels.thread_labels);
	CHECK_INT(c.nrelabel_rules, ==, 0);
	CHECK_INT(c.kubernetes.enabled, ==, CONFIG_KUBERNETES_AUTO);
	CHECK(c.kubernetes.api_url == NULL);
	CHECK_STR(c.kubernetes.token_file, "/var/run/secrets/kubernetes.io/serviceaccount/token");
	CHECK_STR(c.kubernetes.ca_file, "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt");
	CHECK_U64(c.kubernetes.poll_interval_ms, ==, 30000);
	CHECK(c.remote.url == NULL);
	CHECK_STR(c.history.dir, "/var/lib/brasa/history");
	CHECK_U64(c.history.retention_ms, ==, 24 * 3600 * 1000ull);
	CHECK_U64(c.history.max_bytes, ==, 1ull << 30);
	CHECK_INT(c.remote.protocol, ==, REMOTE_PYROSCOPE);
	CHECK_U64(c.remote.upload_interval_ms, ==, 15000);
	CHECK_U64(c.remote.timeout_ms, ==, 30000);
	CHECK_U64(c.remote.max_retry_backoff_ms, ==, 300000);
	CHECK(c.remote.bearer_token_file == NULL);
	CHECK(c.remote.basic_auth_username == NULL);
	CHECK(c.remote.basic_auth_password_file == NULL);
	CHECK(c.remote.tenant_id == NULL);
	CHECK_INT(c.remote.headers.n, ==, 0);
	CHECK(c.remote.tls_ca_file == NULL && c.remote.tls_cert_file == NULL &&
	      c.remote.tls_key_file == NULL);
	CHECK(!c.remote.tls_insecure_skip_verify);
	CHECK_STR(c.remote.spool_dir, "/var/lib/brasa/spool");
	CHECK_U64(c.remote.spool_max_bytes, ==, 512ull << 20);
	CHECK(c.file == NULL);
	CHECK(!config__kubernetes_enabled(&c));
	for (size_t i = 0; i < n; i++)
		CHECK_INT(c.origin[i], ==, 0);

	/* the table: unique keys and flags, a help text each */
	for (size_t i = 0; i < n; i++) {
		CHECK(s[i].help && *s[i].help);
		CHECK(config__find(s[i].key) == &s[i]);
		for (size_t j = 0; j < i; j++) {
			CHECK(strcmp(s[i].key, s[j].key) != 0);
			if (s[i].flag && s[j].flag)
				CHECK(strcmp(s[i].flag, s[j].flag) != 0);
		}
	}
	CHECK(config__find("sampling") == NULL);
	CHECK(config__find("nope") == NULL);

	/* an empty file and a file of comments change nothing */
	{
		struct config d;
		char err[256];

		REQUIRE(config__defaults(&d) == 0);
		CHECK_INT(config__load_buffer(&d, "e.yaml", "", 0, err, sizeof(err)), ==, 0);
		CHECK_INT(config__load_buffer(&d, "e.yaml", "# x\n---\n", 8, err, sizeof(err)), ==, 0);
		for (size_t i = 0; i < n; i++)
			CHECK(config__setting_equal(&c, &d, &s[i]));
		CHECK_STR(d.file, "e.yaml");
		config__free(&d);
	}
	config__free(&c);
	config__free(&c); /* twice, and NULL */
	config__free(NULL);
}

/* Relabels one process's labels with the loaded rules. */
static int relabel_with(const struct config *c, struct labels *ls, ...)
{
	va_list ap;
	const char *name;

	va_start(ap, ls);
	while ((name = va_arg(ap, const char *)))
		labels__set(ls, name, va_arg(ap, const char *));
	va_end(ap);
	return relabel__apply(c->relabel_rules, c->nrelabel_rules, ls);
}

static void test_full_file(void)
{
	struct config def, c, b;
	struct labels ls = { 0 };
	char err[1024] = "";
	size_t n;
	const struct config_setting *s = config__settings(&n);

	unsetenv("KUBERNETES_SERVICE_HOST");
	REQUIRE(config__defaults(&def) == 0);
	REQUIRE(config__defaults(&c) == 0);
	CHECK_INT(config__load_file(&c, fixture("full.yaml"), err, sizeof(err)), ==, 0);
	CHECK_STR(err, "");
	CHECK_INT(config__check(&c, err, sizeof(err)), ==, 0);
	CHECK_STR(c.file, fixture("full.yaml"));
	CHECK_STR(c.node, "node-a");
	CHECK_INT(c.log_level, ==, LOG_LEVEL_DEBUG);
	CHECK_STR(c.http.address, "127.0.0.2:7072");
	CHECK_INT(c.http.max_profile_seconds, ==, 120);
	CHECK_INT(c.sampling.frequency, ==, 49);
	CHECK(!c.sampling.kernel_stacks);
	CHECK_INT(c.sampling.unwind, ==, UNWIND_MODE_FP);
	CHECK_U64(c.sampling.unwind_table_memory, ==, 256ull << 20);
	CHECK_INT(c.labels.external.n, ==, 2);
	CHECK_STR(labels__get(&c.labels.external, "cluster"), "prod-eu");
	CHECK_STR(labels__get(&c.labels.external, "region"), "eu-west-1");
	CHECK(!c.labels.thread_labels);
	CHECK_INT(c.nrelabel_rules, ==, 4);
	CHECK_INT(c.kubernetes.enabled, ==, CONFIG_KUBERNETES_TRUE);
	CHECK(config__kubernetes_enabled(&c));
	CHECK_STR(c.kubernetes.api_url, "https://10.0.0.1:6443");
	CHECK_STR(c.kubernetes.token_file, "/etc/brasa/token");
	CHECK_STR(c.kubernetes.ca_file, "/etc/brasa/ca.crt");
	CHECK_U64(c.kubernetes.poll_interval_ms, ==, 90000);
	CHECK_STR(c.remote.url, "https://profiles.example.com/ingest");
	CHECK_INT(c.remote.protocol, ==, REMOTE_PARCA);
	CHECK_U64(c.remote.upload_interval_ms, ==, 60000);
	CHECK_U64(c.remote.timeout_ms, ==, 45000);
	CHECK_U64(c.remote.max_retry_backoff_ms, ==, 120000);
	CHECK_STR(c.remote.bearer_token_file, "/etc/brasa/remote-token");
	CHECK_STR(c.remote.tenant_id, "team-a");
	CHECK_INT(c.remote.headers.n, ==, 2);
	CHECK_STR(labels__get(&c.remote.headers, "X-Extra"), "one two");
	CHECK_STR(labels__get(&c.remote.headers, "X-Other"), "3");
	CHECK_STR(c.remote.tls_ca_file, "/etc/brasa/remote-ca.crt");
	CHECK_STR(c.remote.tls_cert_file, "/etc/brasa/client.crt");
	CHECK_STR(c.remote.tls_key_file, "/etc/brasa/client.key");
	CHECK(c.remote.tls_insecure_skip_verify);
	CHECK_STR(c.remote.spool_dir, "/tmp/brasa-spool");
	CHECK_U64(c.remote.spool_max_bytes, ==, 1ull << 30);
	CHECK_STR(c.history.dir, "/tmp/brasa-history");
	CHECK_U64(c.history.retention_ms, ==, 6 * 3600 * 1000ull);
	CHECK_U64(c.history.max_bytes, ==, 256ull << 20);
	CHECK_U64(c.limits.symbol_memory, ==, 48ull << 20);
	CHECK_STR(c.symbolize.debuginfod.urls,
		  "http://127.0.0.1:8002 https://debuginfod.example.org/");
	CHECK_STR(c.symbolize.debuginfod.cache_dir, "/var/cache/brasa-test/debuginfod");
	CHECK_U64(c.symbolize.debuginfod.cache_size, ==, 64ull << 20);
	CHECK_U64(c.symbolize.debuginfod.timeout_ms, ==, 5000);
	CHECK_INT(c.symbolize.debuginfod.max_fetches, ==, 4);
	CHECK_U64(c.symbolize.debuginfod.retry_after_ms, ==, 3600 * 1000ull);
	CHECK_U64(c.limits.load_timeout_ms, ==, 2500);
	CHECK_U64(c.limits.unwind_table_build_memory, ==, 96ull << 20);
	/* lines where each was set */
	CHECK_INT(c.origin[config__find("node") - s], ==, 2);
	CHECK_INT(c.origin[config__find("sampling.frequency") - s], ==, 8);
	CHECK_INT(c.origin[config__find("remote.spool_max_bytes") - s], ==, 58);

	/* basic auth excludes a bearer token: its own fixture */
	REQUIRE(config__defaults(&b) == 0);
	CHECK_INT(config__load_file(&b, fixture("basic-auth.yaml"), err, sizeof(err)), ==, 0);
	CHECK_INT(config__check(&b, err, sizeof(err)), ==, 0);
	CHECK_STR(b.remote.basic_auth_username, "brasa");
	CHECK_STR(b.remote.basic_auth_password_file, "/etc/brasa/password");
	CHECK_STR(b.remote.url, "http://127.0.0.1:4040");
	CHECK_INT(b.remote.protocol, ==, REMOTE_PYROSCOPE_INGEST);
	CHECK_U64(b.http.read_timeout_ms, ==, 10000);
	CHECK_INT(b.http.max_connections, ==, 128);
	CHECK_STR(b.http.tls_cert_file, "/etc/brasa/http.crt");
	CHECK_STR(b.http.tls_key_file, "/etc/brasa/http.key");
	CHECK_STR(b.http.tls_client_ca_file, "/etc/brasa/http-clients-ca.crt");
	CHECK_STR(b.http.bearer_token_file, "/etc/brasa/http-tokens");
	CHECK(b.http.allow_insecure);
	CHECK(config__http_exposure(&b) == NULL);

	/* together the two fixtures set every key to something else than its
	 * default: a new setting needs a line in one of them */
	for (size_t i = 0; i < n; i++) {
		bool changed = !config__setting_equal(&def, &c, &s[i]) ||
			       !config__setting_equal(&def, &b, &s[i]);

		if (!changed)
			fprintf(stderr, "fixtures leave %s at its default\n", s[i].key);
		CHECK(changed);
	}

	/* the rules are compiled, in file order */
	CHECK_INT(relabel_with(&c, &ls, "__meta_kubernetes_namespace", "kube-system", "container",
			       "dns", "comm", "coredns", "pid", "42", "thread_name", "t1", NULL),
		  ==, 1);
	CHECK_STR(labels__get(&ls, "service_name"), "kube-system-dns");
	CHECK(labels__get(&ls, "__tmp_shard") != NULL);
	CHECK(labels__get(&ls, "thread_name") == NULL);
	labels__clear(&ls);
	CHECK_INT(relabel_with(&c, &ls, "comm", "sleep", NULL), ==, 0);
	labels__clear(&ls);
	CHECK_INT(relabel_with(&c, &ls, "comm", "sleeper", NULL), ==, 1);
	labels__clear(&ls);

	/* the labeling handed to the profiler borrows from the config */
	{
		struct profiler_labeling l;

		config__labeling(&c, &l);
		CHECK_STR(l.node, "node-a");
		CHECK(l.external == &c.labels.external);
		CHECK(l.rules == c.relabel_rules);
		CHECK_INT(l.nrules, ==, 4);
		CHECK(!l.thread_labels);
	}

	/* loading the same file twice gives the same settings */
	{
		struct config again;

		REQUIRE(config__defaults(&again) == 0);
		CHECK_INT(config__load_file(&again, fixture("full.yaml"), err, sizeof(err)), ==, 0);
		for (size_t i = 0; i < n; i++)
			CHECK(config__setting_equal(&c, &again, &s[i]));
		/* one character of one rule differs */
		CHECK_INT(config__load_buffer(&again, "r.yaml",
					      "relabel_configs:\n  - action: labeldrop\n"
					      "    regex: thread_.+\n", 51, err, sizeof(err)), ==, 0);
		CHECK_INT(again.nrelabel_rules, ==, 1);
		CHECK(!config__setting_equal(&c, &again, config__find("relabel_configs")));
		CHECK(!config__setting_equal(&def, &again, config__find("relabel_configs")));
		CHECK_INT(config__load_buffer(&again, "r.yaml", "relabel_configs: []\n", 20, err,
					      sizeof(err)), ==, 0);
		CHECK(config__setting_equal(&def, &again, config__find("relabel_configs")));
		config__free(&again);
	}
	config__free(&b);
	config__free(&c);
	config__free(&def);
}

static void test_flags(void)
{
	struct config c;
	char err[1024] = "";
	size_t n;
	const struct config_setting *s = config__settings(&n);

	unsetenv("KUBERNETES_SERVICE_HOST");
	/* flags win over the file; maps merge, a flag's entry wins */
	CHECK_INT(read_with(&c, fixture("full.yaml"), err, sizeof(err), "-F", "199",
			    "--kernel-stacks", "true", "--node", "node-b", "--http-address",
			    "[::1]:7071", "--unwind=dwarf", "--log-level", "warn",
			    "--external-label", "cluster=dev", "--external-label", "team=x",
			    "--remote-header", "X-Extra:  spaced value  ", "--remote-timeout", "2m",
			    "--spool-max-bytes", "64M", "--max-profile-seconds", "30", NULL),
		  ==, 0);
	CHECK_STR(err, "");
	CHECK_INT(c.sampling.frequency, ==, 199);
	CHECK(c.sampling.kernel_stacks);
	CHECK_STR(c.node, "node-b");
	CHECK_STR(c.http.address, "[::1]:7071");
	CHECK_INT(c.sampling.unwind, ==, UNWIND_MODE_DWARF);
	CHECK_INT(c.log_level, ==, LOG_LEVEL_WARN);
	CHECK_INT(c.labels.external.n, ==, 3);
	CHECK_STR(labels__get(&c.labels.external, "cluster"), "dev");
	CHECK_STR(labels__get(&c.labels.external, "region"), "eu-west-1");
	CHECK_STR(labels__get(&c.labels.external, "team"), "x");
	CHECK_STR(labels__get(&c.remote.headers, "X-Extra"), "spaced value");
	CHECK_STR(labels__get(&c.remote.headers, "X-Other"), "3");
	CHECK_U64(c.remote.timeout_ms, ==, 120000);
	CHECK_U64(c.remote.spool_max_bytes, ==, 64ull << 20);
	CHECK_INT(c.http.max_profile_seconds, ==, 30);
	/* untouched by flags: still the file's */
	CHECK_INT(c.remote.protocol, ==, REMOTE_PARCA);
	CHECK_INT(c.nrelabel_rules, ==, 4);
	CHECK_INT(c.origin[config__find("sampling.frequency") - s], ==, CONFIG_FROM_FLAG);
	CHECK_INT(c.origin[config__find("remote.protocol") - s], ==, 43);
	config__free(&c);

	/* the switches, and flags alone (no file) */
	CHECK_INT(read_with(&c, NULL, err, sizeof(err), "--no-kernel", "--no-demangle",
			    "--no-thread-labels",
			    "--remote-insecure-skip-verify", "--kubernetes", "false",
			    "--remote-url", "http://h:1", "--config", "ignored-here.yaml", NULL),
		  ==, 0);
	CHECK(!c.sampling.kernel_stacks);
	CHECK(!c.symbolize.demangle);
	CHECK(!c.labels.thread_labels);
	CHECK(c.remote.tls_insecure_skip_verify);
	CHECK_INT(c.kubernetes.enabled, ==, CONFIG_KUBERNETES_FALSE);
	CHECK_STR(c.remote.url, "http://h:1");
	CHECK(c.file == NULL);
	config__free(&c);

	/* every setting with a flag can be set by it */
	for (size_t i = 0; i < n; i++) {
		char arg[256];

		if (!s[i].flag || s[i].type == CONFIG_LABELS || s[i].type == CONFIG_HEADERS)
			continue;
		snprintf(arg, sizeof(arg), "--%s=%s", s[i].flag, s[i].def ? s[i].def : "");
		CHECK_INT(read_with(&c, NULL, err, sizeof(err), arg, NULL), ==, 0);
		CHECK_INT(c.origin[i], ==, CONFIG_FROM_FLAG);
		config__free(&c);
	}

	/* the first pass finds --config and --help and checks the syntax */
	{
		char *argv[] = { "brasa-run", "-F", "9", "--config", "x.yaml", "-h", NULL };
		char *argv2[] = { "brasa-run", "--help", NULL };
		struct config_cmdline cl;

		CHECK_INT(config__scan_args(6, argv, &cl, err, sizeof(err)), ==, 0);
		CHECK_STR(cl.config_path, "x.yaml");
		CHECK(cl.help);
		CHECK_INT(config__scan_args(2, argv2, &cl, err, sizeof(err)), ==, 0);
		CHECK(cl.config_path == NULL && cl.help);
	}
}

static void test_flag_errors(void)
{
	static const struct flag_error cases[] = {
		{ { "--frequency", "0" }, "invalid --frequency '0': expected a whole number of Hz from 1 to 1000" },
		{ { "-F", "x" }, "invalid --frequency 'x': expected a whole number of Hz from 1 to 1000" },
		{ { "--unwind", "y" }, "invalid --unwind 'y': expected auto, fp or dwarf" },
		{ { "--log-level", "x" }, "invalid --log-level 'x': expected error, warn, info or debug" },
		{ { "--unwind-table-memory", "12MB" }, "invalid --unwind-table-memory '12MB': expected a size from 1M to 64G (suffix K, M or G)" },
		{ { "--max-profile-seconds", "0" }, "invalid --max-profile-seconds '0': expected a whole number from 1 to 86400" },
		{ { "--http-address", "nonsense" }, "invalid --http-address 'nonsense': expected IPv4:PORT, [IPv6]:PORT, :PORT (every IPv4 interface) or localhost:PORT (the port 7071 when left out)" },
		{ { "--kernel-stacks", "yes" }, "invalid --kernel-stacks 'yes': expected true or false" },
		{ { "--kubernetes", "maybe" }, "invalid --kubernetes 'maybe': expected auto, false or true" },
		{ { "--remote-url", "ftp://x" }, "invalid --remote-url 'ftp://x': expected an http:// or https:// URL with a host" },
		{ { "--remote-url", "https://" }, "invalid --remote-url 'https://': expected an http:// or https:// URL with a host" },
		{ { "--remote-protocol", "otlp" }, "invalid --remote-protocol 'otlp': expected pyroscope, pyroscope-ingest or parca" },
		{ { "--upload-interval", "500ms" }, "invalid --upload-interval '500ms': expected a duration from 1s to 1d, such as 30s, 1m30s or 2h" },
		{ { "--remote-timeout", "30" }, "invalid --remote-timeout '30': expected a duration from 1s to 10m, such as 30s, 1m30s or 2h" },
		{ { "--external-label", "cluster" }, "invalid --external-label 'cluster': expected NAME=VALUE with a label name ([a-zA-Z_][a-zA-Z0-9_]*)" },
		{ { "--external-label", "1x=y" }, "invalid --external-label '1x=y': invalid label name '1x': expected letters, digits and _, not starting with a digit" },
		{ { "--remote-header", "X Y: z" }, "invalid --remote-header 'X Y: z': invalid header name 'X Y'" },
		{ { "--remote-header", "novalue" }, "invalid --remote-header 'novalue': expected 'NAME: VALUE' with an HTTP header name" },
		{ { "--spool-max-bytes", "0" }, "invalid --spool-max-bytes '0': expected a size from 16K to 1024G (suffix K, M or G)" },
		{ { "--bogus" }, "unrecognized option '--bogus'" },
		{ { "-x" }, "invalid option '-x'" },
		{ { "--no-kernel=1" }, "option '--no-kernel' takes no value" },
		{ { "--help=1" }, "option '--help' takes no value" },
		{ { "--frequency" }, "option '--frequency' needs a value" },
		{ { "-F" }, "option '-F' needs a value" },
		{ { "extra" }, "unexpected argument 'extra'" },
		{ { "--remote-cert-file", "/c" }, "--remote-cert-file: needs remote.tls.key_file (--remote-key-file) too" },
		{ { "--remote-basic-auth-password-file", "/p" }, "--remote-basic-auth-password-file: needs remote.basic_auth.username (--remote-basic-auth-username) too" },
		{ { "--kubernetes", "true" }, "--kubernetes: true, but there is no kubernetes.api_url (--kubernetes-api-url) and KUBERNETES_SERVICE_HOST is not set" },
	};
	struct config c;
	char err[1024];

	unsetenv("KUBERNETES_SERVICE_HOST");
	check_flag_errors(cases, ARRAY_SIZE(cases));
	/* in the cluster, kubernetes.enabled true needs no URL */
	setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1", 1);
	CHECK_INT(read_with(&c, NULL, err, sizeof(err), "--kubernetes", "true", NULL), ==, 0);
	CHECK(config__kubernetes_enabled(&c));
	config__free(&c);
	CHECK_INT(read_with(&c, NULL, err, sizeof(err), NULL), ==, 0);
	CHECK(config__kubernetes_enabled(&c)); /* auto */
	config__free(&c);
	unsetenv("KUBERNETES_SERVICE_HOST");
	CHECK_INT(read_with(&c, NULL, err, sizeof(err), "--kubernetes-api-url",
			    "http://127.0.0.1:8001", NULL), ==, 0);
	CHECK(config__kubernetes_enabled(&c)); /* auto, with a URL */
	config__free(&c);
}

static void test_file_errors(void)
{
	static const struct {
		const char *text, *err;
	} in_memory[] = {
		{ "node: a\nnode: b\n", "t.yaml:2: node: key given twice (first on line 1)" },
		{ "sampling:\n  unwind: fp\n  unwind: dwarf\n",
		  "t.yaml:3: sampling: 'unwind' given twice (first on line 2)" },
		{ "sampling: 5\n", "t.yaml:1: sampling: expected a map of settings" },
		{ "- a\n- b\n", "t.yaml:1: (top level): expected a map of settings" },
		{ "frequency: 5\n", "t.yaml:1: frequency: unknown key" },
		{ "http:\n  adress: x\n", "t.yaml:2: http.adress: unknown key" },
		{ "node: [a, b]\n", "t.yaml:1: node: expected a single value, not a list" },
		{ "node: {a: b}\n", "t.yaml:1: node: expected a single value, not a map" },
		{ "? [a]\n: b\n", "t.yaml:1: (top level): a key must be text" },
		{ "node: \"a\\0b\"\n", "t.yaml:1: node: NUL character in the value" },
		{ "node: \"a\\nb\"\n",
		  "t.yaml:1: node: invalid value 'a b': expected text without control characters" },
		{ "node: a\n---\nnode: b\n",
		  "t.yaml:2: expected one YAML document, found another" },
		{ "node: 'a\n",
		  "t.yaml:2: malformed YAML: found unexpected end of stream while scanning a "
		  "quoted scalar" },
		{ "remote:\n  url: example.com\n",
		  "t.yaml:2: remote.url: invalid value 'example.com': expected an http:// or "
		  "https:// URL with a host" },
		{ "remote:\n  upload_interval: 1h30\n",
		  "t.yaml:2: remote.upload_interval: invalid value '1h30': expected a duration "
		  "from 1s to 1d, such as 30s, 1m30s or 2h" },
		{ "remote:\n  spool_max_bytes: 1T\n",
		  "t.yaml:2: remote.spool_max_bytes: invalid value '1T': expected a size from "
		  "16K to 1024G (suffix K, M or G)" },
		{ "sampling:\n  kernel_stacks: yes\n",
		  "t.yaml:2: sampling.kernel_stacks: invalid value 'yes': expected true or false" },
		{ "labels:\n  external: [a]\n",
		  "t.yaml:2: labels.external: expected a map of label names to values" },
		{ "labels:\n  external:\n    a: [b]\n",
		  "t.yaml:3: labels.external: expected a single value, not a list" },
		{ "remote:\n  headers:\n    'X Y': z\n",
		  "t.yaml:3: remote.headers: invalid header name 'X Y'" },
		{ "remote:\n  headers:\n    X-A: \"a\\nb\"\n",
		  "t.yaml:3: remote.headers: the value of 'X-A' has a control character" },
		{ "relabel_configs: {a: b}\n",
		  "t.yaml:1: relabel_configs: expected a list of relabel_config maps" },
		{ "relabel_configs:\n  - keep\n",
		  "t.yaml:2: relabel_configs[0]: expected a relabel_config map" },
		{ "relabel_configs:\n  - action: keep\n    regex: a\n  - action: kepe\n",
		  "t.yaml:4: relabel_configs[1].action: unknown action 'kepe': expected replace, "
		  "keep, drop, keepequal, dropequal, hashmod, labelmap, labeldrop, labelkeep, "
		  "lowercase or uppercase" },
		{ "relabel_configs:\n  - action: keep\n    regexp: a\n",
		  "t.yaml:3: relabel_configs[0].regexp: unknown key (expected source_labels, "
		  "separator, regex, target_label, replacement, modulus or action)" },
		{ "relabel_configs:\n  - source_labels: comm\n",
		  "t.yaml:2: relabel_configs[0].source_labels: expected a list of label names" },
		{ "relabel_configs:\n  - source_labels: [comm, 'a-b']\n",
		  "t.yaml:2: relabel_configs[0].source_labels: invalid label name 'a-b'" },
		{ "relabel_configs:\n  - action: hashmod\n    target_label: s\n"
		  "    source_labels: [pid]\n    modulus: 0\n",
		  "t.yaml:5: relabel_configs[0].modulus: invalid value '0': expected a whole "
		  "number above 0" },
		{ "relabel_configs:\n  - action: keep\n    action: drop\n",
		  "t.yaml:3: relabel_configs[0]: 'action' given twice (first on line 2)" },
		/* relabel's message under the field it names, or whose default would
		 * do, or else the entry */
		{ "relabel_configs:\n  - source_labels: [pid]\n"
		  "    action: replace\n    target_label: 'a-b'\n",
		  "t.yaml:4: relabel_configs[0].target_label: \"a-b\" is invalid 'target_label' "
		  "for replace action" },
		{ "relabel_configs:\n  - source_labels: [pid]\n"
		  "    action: hashmod\n    target_label: s\n",
		  "t.yaml:3: relabel_configs[0].action: relabel configuration for hashmod "
		  "requires non-zero modulus" },
	};
	struct config c;
	char err[1024];

	/* the fixtures: one per class */
	check_fixture_error("unknown-key.yaml", 4, "sampling.frequncy: unknown key");
	check_fixture_error("bad-value.yaml", 5, "sampling.frequency: invalid value '5000': "
			    "expected a whole number of Hz from 1 to 1000");
	check_fixture_error("bad-label.yaml", 4, "labels.external: invalid label name 'bad-name': "
			    "expected letters, digits and _, not starting with a digit");
	check_fixture_error("malformed.yaml", 4, "malformed YAML: did not find expected key while "
			    "parsing a block mapping");
	check_fixture_error("cert-without-key.yaml", 4, "remote.tls.cert_file: needs "
			    "remote.tls.key_file (--remote-key-file) too");
	/* the file is fixed by a flag */
	CHECK_INT(read_with(&c, fixture("cert-without-key.yaml"), err, sizeof(err),
			    "--remote-key-file", "/k", NULL), ==, 0);
	config__free(&c);
	/* a bad flag after a good file */
	CHECK_INT(read_with(&c, fixture("full.yaml"), err, sizeof(err), "-F", "0", NULL), ==,
		  -EINVAL);
	CHECK_STR(err, "invalid --frequency '0': expected a whole number of Hz from 1 to 1000");

	/* the regex: relabel's own message, under the field's key */
	{
		const char *prefix = test_fmt("%s:7: relabel_configs[1].regex: ", fixture("bad-regex.yaml"));

		CHECK_INT(read_with(&c, fixture("bad-regex.yaml"), err, sizeof(err), NULL), ==,
			  -EINVAL);
		CHECK(!strncmp(err, prefix, strlen(prefix)));
		CHECK(strstr(err, "a(") != NULL);
		CHECK(!strchr(err, '\n'));
		fprintf(stderr, "bad regex: %s\n", err);
	}

	CHECK_INT(read_with(&c, fixture("missing.yaml"), err, sizeof(err), NULL), ==, -ENOENT);
	CHECK_STR(err, test_fmt("failed to read configuration file '%s': No such file or directory",
			   fixture("missing.yaml")));
	CHECK_INT(read_with(&c, fixtures, err, sizeof(err), NULL), ==, -EISDIR);
	CHECK_STR(err, test_fmt("failed to read configuration file '%s': not a regular file (a "
			   "directory)", fixtures));

	/* everything else, in memory */
	for (size_t i = 0; i < ARRAY_SIZE(in_memory); i++)
		CHECK_STR(load_error(in_memory[i].text), in_memory[i].err);
	{
		const char *e = load_error("relabel_configs:\n  - source_labels: [pid]\n");

		CHECK(!strncmp(e, "t.yaml:2: relabel_configs[0]: ", 30));
		fprintf(stderr, "replace without target_label: %s\n", e);
	}
	/* null values are the defaults; a quoted "" is an empty value */
	CHECK_STR(load_error("node:\nhttp:\nsampling:\n  frequency: ~\nrelabel_configs:\n"
			     "labels:\n  external:\n    a: ''\n    b:\n"),
		  "");
	{
		struct config d;
		const char *text = "sampling:\n  frequency: 7\n  frequency_unused: 1\n";

		/* a failed load may leave part of the file: config__read frees it */
		REQUIRE(config__defaults(&d) == 0);
		CHECK_INT(config__load_buffer(&d, "p.yaml", text, strlen(text), err, sizeof(err)),
			  ==, -EINVAL);
		CHECK_STR(err, "p.yaml:3: sampling.frequency_unused: unknown key");
		config__free(&d);
	}
}

static void test_durations_and_sizes(void)
{
	const struct config_setting *poll = config__find("kubernetes.poll_interval"),
				    *mem = config__find("sampling.unwind_table_memory"),
				    *freq = config__find("sampling.frequency"),
				    *proto = config__find("remote.protocol"),
				    *url = config__find("remote.url"),
				    *ext = config__find("labels.external");
	char err[256];
	uint64_t v;
	uint32_t hz;
	int e;
	char *s;

	REQUIRE(poll && mem && freq && proto && url && ext);
	CHECK_INT(config__parse_value(poll, "1s", &v, err, sizeof(err)), ==, 0);
	CHECK_U64(v, ==, 1000);
	CHECK_INT(config__parse_value(poll, "24h", &v, err, sizeof(err)), ==, 0);
	CHECK_U64(v, ==, 86400000);
	CHECK_INT(config__parse_value(poll, "999ms", &v, err, sizeof(err)), ==, -EINVAL);
	CHECK_INT(config__parse_value(poll, "1d1ms", &v, err, sizeof(err)), ==, -EINVAL);
	CHECK_STR(err, "expected a duration from 1s to 1d, such as 30s, 1m30s or 2h");
	/* 0 turns the history off; other values have their bounds */
	{
		const struct config_setting *ret = config__find("history.retention"),
					    *hmax = config__find("history.max_bytes");

		REQUIRE(ret && hmax);
		CHECK_INT(config__parse_value(ret, "0", &v, err, sizeof(err)), ==, 0);
		CHECK_U64(v, ==, 0);
		CHECK_INT(config__parse_value(ret, "5s", &v, err, sizeof(err)), ==, -EINVAL);
		CHECK_STR(err, "expected 0 (off) or a duration from 10s to 366d, such as 30s, "
			       "1m30s or 2h");
		CHECK_INT(config__parse_value(hmax, "0", &v, err, sizeof(err)), ==, 0);
		CHECK_INT(config__parse_value(hmax, "64K", &v, err, sizeof(err)), ==, -EINVAL);
		CHECK_STR(err, "expected 0 (off) or a size from 1M to 1024G (suffix K, M or G)");
	}
	CHECK_INT(config__parse_value(mem, "1M", &v, err, sizeof(err)), ==, 0);
	CHECK_U64(v, ==, 1ull << 20);
	CHECK_INT(config__parse_value(mem, "64G", &v, err, sizeof(err)), ==, 0);
	CHECK_U64(v, ==, 64ull << 30);
	CHECK_INT(config__parse_value(mem, "1048576", &v, err, sizeof(err)), ==, 0);
	CHECK_U64(v, ==, 1ull << 20);
	CHECK_INT(config__parse_value(mem, "1023K", &v, err, sizeof(err)), ==, -EINVAL);
	CHECK_INT(config__parse_value(mem, "65G", &v, err, sizeof(err)), ==, -EINVAL);
	CHECK_INT(config__parse_value(freq, "1000", &hz, err, sizeof(err)), ==, 0);
	CHECK_INT(hz, ==, 1000);
	CHECK_INT(config__parse_value(freq, "1001", &hz, err, sizeof(err)), ==, -EINVAL);
	CHECK_INT(config__parse_value(proto, "parca", &e, err, sizeof(err)), ==, 0);
	CHECK_INT(e, ==, REMOTE_PARCA);
	CHECK_INT(config__parse_value(url, "https://[::1]:4040/x", &s, err, sizeof(err)), ==, 0);
	CHECK_STR(s, "https://[::1]:4040/x");
	free(s);
	CHECK_INT(config__parse_value(url, "", &s, err, sizeof(err)), ==, 0);
	CHECK(s == NULL);
	CHECK_INT(config__parse_value(url, "http://a b", &s, err, sizeof(err)), ==, -EINVAL);
	CHECK_INT(config__parse_value(ext, "a=b", &s, err, sizeof(err)), ==, -EINVAL);
}

static void test_help(void)
{
	char *text = NULL;
	size_t len = 0, n;
	const struct config_setting *s = config__settings(&n);
	FILE *f = open_memstream(&text, &len);

	REQUIRE(f);
	config__help(f);
	fclose(f);
	for (size_t i = 0; i < n; i++) {
		char flag[96];

		if (s[i].flag) {
			snprintf(flag, sizeof(flag), "--%s %s", s[i].flag, s[i].metavar);
			CHECK(strstr(text, flag) != NULL);
		}
		if (s[i].switch_flag) {
			snprintf(flag, sizeof(flag), "--%s\n", s[i].switch_flag);
			CHECK(strstr(text, flag) != NULL || (flag[strlen(flag) - 1] = ' ', strstr(text, flag)));
		}
	}
	CHECK(strstr(text, "  -F, --frequency HZ         samples per second per CPU (default 99)\n"));
	CHECK(strstr(text, "      --config FILE"));
	CHECK(strstr(text, "  -h, --help"));
	/* no line wider than 79 columns, unless it is one long word */
	for (char *line = text, *end; *line; line = end + 1) {
		end = strchr(line, '\n');
		REQUIRE(end);
		if (end - line > 79)
			CHECK(!memchr(line + strspn(line, " "), ' ', (size_t)(end - line) - strspn(line, " ")));
	}
	free(text);
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* text of n copies of unit after prefix and before suffix; caller frees */
static char *repeat(const char *prefix, const char *unit, size_t n, const char *suffix)
{
	size_t plen = strlen(prefix), ulen = strlen(unit), slen = strlen(suffix);
	char *t = malloc(plen + ulen * n + slen + 1), *p = t;

	REQUIRE(t);
	memcpy(p, prefix, plen);
	p += plen;
	for (size_t i = 0; i < n; i++, p += ulen)
		memcpy(p, unit, ulen);
	memcpy(p, suffix, slen + 1);
	return t;
}

/* prefix, then n levels of open ... close */
static char *nested(const char *prefix, const char *open, const char *close, size_t n)
{
	char *head = repeat(prefix, open, n, ""), *t = repeat(head, close, n, "");

	free(head);
	return t;
}

/* "node: [&a0 0, &a1 0, ...]" with n anchors */
static char *anchors(size_t n)
{
	char *t = malloc(16 + 16 * n), *p = t;

	REQUIRE(t);
	p += sprintf(p, "node: [");
	for (size_t i = 0; i < n; i++)
		p += sprintf(p, "%s&a%zu 0", i ? ", " : "", i);
	strcpy(p, "]");
	return t;
}

static const char *load_error_free(char *text)
{
	const char *e = load_error(text);

	free(text);
	return e;
}

/* Files that are not regular files are refused before a byte is read,
 * without blocking (a FIFO with no writer would block open() and read()). */
static void test_file_types(void)
{
	char dir[] = "/tmp/brasa-config-XXXXXX", fifo[64], err[1024];
	struct config c;
	double t;

	CHECK_INT(read_with(&c, "/dev/null", err, sizeof(err), NULL), ==, -EBADFD);
	CHECK_STR(err, "failed to read configuration file '/dev/null': not a regular file (a "
		       "character device)");
	REQUIRE(mkdtemp(dir));
	snprintf(fifo, sizeof(fifo), "%s/brasa.yaml", dir);
	REQUIRE(mkfifo(fifo, 0600) == 0);
	t = mono_s();
	CHECK_INT(read_with(&c, fifo, err, sizeof(err), NULL), ==, -EBADFD);
	t = mono_s() - t;
	CHECK_STR(err, test_fmt("failed to read configuration file '%s': not a regular file (a FIFO)",
			   fifo));
	fprintf(stderr, "FIFO refused in %.3f s\n", t);
	CHECK(t < 2.0);
	unlink(fifo);
	rmdir(dir);
}

/* What a small file may make the loader build is bounded, each bound with
 * an error naming the line, checked before libyaml builds the document. */
static void test_yaml_bounds(void)
{
	struct config c;
	char err[1024];
	double t;

	/* fixtures: deep nesting, an alias bomb, an alias loop */
	check_fixture_error("deep-nesting.yaml", 34, "lists and maps nested deeper than 32 levels");
	check_fixture_error("alias-bomb.yaml", 8, "more than 65536 values (scalars, lists and maps, "
			    "with aliases counted as what they repeat)");
	check_fixture_error("alias-loop.yaml", 3, "alias '*r' inside the value it names");
	/* anchors and aliases within the bounds work */
	REQUIRE(read_with(&c, fixture("aliases-ok.yaml"), err, sizeof(err), NULL) == 0);
	CHECK_INT(c.nrelabel_rules, ==, 2);
	CHECK_STR(labels__get(&c.labels.external, "cluster"), "prod");
	CHECK_STR(labels__get(&c.labels.external, "env"), "prod");
	config__free(&c);

	/* depth: 32 levels pass the bound (and fail as a value), 33 do not */
	CHECK_STR(load_error_free(nested("node: ", "[", "]", 31)),
		  "t.yaml:1: node: expected a single value, not a list");
	CHECK_STR(load_error_free(nested("node: ", "[", "]", 32)),
		  "t.yaml:1: lists and maps nested deeper than 32 levels");
	CHECK_STR(load_error_free(nested("node: ", "{a: ", "}", 40)),
		  "t.yaml:1: lists and maps nested deeper than 32 levels");
	/* 1 MiB of '[' took libyaml minutes: now it stops at level 33 */
	t = mono_s();
	CHECK_STR(load_error_free(repeat("", "[", (1 << 20) - 2, "")),
		  "t.yaml:1: lists and maps nested deeper than 32 levels");
	t = mono_s() - t;
	fprintf(stderr, "1 MiB of '[' refused in %.3f s\n", t);
	CHECK(t < 2.0);

	/* values: the root map, the key and the list are 3 */
	CHECK_STR(load_error_free(repeat("node: [0", ",0", 65532, "]")),
		  "t.yaml:1: node: expected a single value, not a list");
	CHECK_STR(load_error_free(repeat("node: [0", ",0", 65533, "]")),
		  "t.yaml:1: more than 65536 values (scalars, lists and maps, with aliases "
		  "counted as what they repeat)");
	/* one value's size */
	{
		char *text = repeat("node: ", "a", 65536, "\n");

		REQUIRE(config__defaults(&c) == 0);
		CHECK_INT(config__load_buffer(&c, "t.yaml", text, strlen(text), err, sizeof(err)),
			  ==, 0);
		CHECK_U64(strlen(c.node), ==, 65536);
		config__free(&c);
		free(text);
	}
	CHECK_STR(load_error_free(repeat("node: ", "a", 65537, "\n")),
		  "t.yaml:1: a value of 65537 bytes: at most 65536");
	/* the text, aliases expanded: the anchor and 16 aliases of 64 KiB */
	{
		char *big = repeat("labels:\n  external:\n    a: &big ", "b", 65536,
				   "\nrelabel_configs:\n");
		char *text = repeat(big, "  - {regex: *big, action: drop}\n", 16, "");

		/* line 4 is relabel_configs: with the keys' bytes, the 15th
		 * alias (line 19) goes over */
		CHECK_STR(load_error_free(text),
			  "t.yaml:19: more than 1048576 bytes of values (with aliases counted as "
			  "what they repeat)");
		free(big);
	}
	/* anchors: 256 pass, 257 do not */
	CHECK_STR(load_error_free(anchors(256)),
		  "t.yaml:1: node: expected a single value, not a list");
	CHECK_STR(load_error_free(anchors(257)), "t.yaml:1: more than 256 anchors");
	/* an undefined alias is libyaml's error */
	{
		const char *e = load_error("node: *nowhere\n");

		fprintf(stderr, "undefined alias: %s\n", e);
		CHECK(!strncmp(e, "t.yaml:1: malformed YAML: ", 26));
	}
}

/* symbolize.debuginfod.urls: each word an http(s) URL with a host. */
static void test_debuginfod_urls(void)
{
	struct config c;
	char err[1024];

	CHECK_INT(read_with(&c, NULL, err, sizeof(err), "--debuginfod-urls",
			    " http://a:8002  https://b/ ", NULL), ==, 0);
	CHECK_STR(c.symbolize.debuginfod.urls, " http://a:8002  https://b/ ");
	config__free(&c);
	CHECK_INT(read_with(&c, NULL, err, sizeof(err), "--debuginfod-urls",
			    "http://a ftp://b", NULL), ==, -EINVAL);
	CHECK_STR(err, "--debuginfod-urls: 'ftp://b' is not an http:// or https:// URL with a host");
	CHECK_INT(read_with(&c, NULL, err, sizeof(err), "--debuginfod-urls", "https:///x", NULL),
		  ==, -EINVAL);
	CHECK_STR(err, "--debuginfod-urls: 'https:///x' is not an http:// or https:// URL with a "
		       "host");
	/* off by default */
	CHECK_INT(read_with(&c, NULL, err, sizeof(err), NULL), ==, 0);
	CHECK(c.symbolize.debuginfod.urls == NULL);
	CHECK_STR(c.symbolize.debuginfod.cache_dir, "/var/cache/brasa/debuginfod");
	CHECK_U64(c.symbolize.debuginfod.cache_size, ==, 1ull << 30);
	config__free(&c);
}

/* A non-loopback http.address needs TLS and authentication, or the
 * explicit http.allow_insecure. */
static void test_http_exposure(void)
{
	static const char refused[] =
		"--http-address: %s is not a loopback address: serving it needs TLS "
		"(http.tls.cert_file, http.tls.key_file) and authentication "
		"(http.bearer_token_file or http.tls.client_ca_file), or http.allow_insecure: "
		"true to serve it %s (docs/http-api.md)";
	static const struct flag_error http_errors[] = {
		{ { "--http-tls-cert-file", "/c" }, "--http-tls-cert-file: needs http.tls.key_file (--http-tls-key-file) too" },
		{ { "--http-client-ca-file", "/ca" }, "--http-client-ca-file: client certificates need TLS: set http.tls.cert_file (--http-tls-cert-file) too" },
		{ { "--http-max-connections", "31" }, "invalid --http-max-connections '31': expected a whole number from 32 to 1024" },
		{ { "--http-read-timeout", "500ms" }, "invalid --http-read-timeout '500ms': expected a duration from 1s to 5m, such as 30s, 1m30s or 2h" },
	};
	struct config c;
	char err[1024];

	CHECK_INT(read_with(&c, NULL, err, sizeof(err), "--http-address", "0.0.0.0:7071", NULL),
		  ==, -EINVAL);
	CHECK_STR(err, test_fmt(refused, "0.0.0.0:7071", "without TLS or authentication"));
	CHECK_INT(read_with(&c, NULL, err, sizeof(err), "--http-address", "[::]:7071",
			    "--http-bearer-token-file", "/t", NULL), ==, -EINVAL);
	CHECK_STR(err, test_fmt(refused, "[::]:7071", "without TLS"));
	CHECK_INT(read_with(&c, NULL, err, sizeof(err), "--http-address", "10.0.0.1:7071",
			    "--http-tls-cert-file", "/c", "--http-tls-key-file", "/k", NULL),
		  ==, -EINVAL);
	CHECK_STR(err, test_fmt(refused, "10.0.0.1:7071", "without authentication"));
	/* allowed when asked for, and still reported */
	CHECK_INT(read_with(&c, NULL, err, sizeof(err), "--http-address", "0.0.0.0:7071",
			    "--http-allow-insecure", NULL), ==, 0);
	CHECK_STR(config__http_exposure(&c), "without TLS or authentication");
	config__free(&c);
	/* TLS with either kind of authentication */
	CHECK_INT(read_with(&c, NULL, err, sizeof(err), "--http-address", "0.0.0.0:7071",
			    "--http-tls-cert-file", "/c", "--http-tls-key-file", "/k",
			    "--http-bearer-token-file", "/t", NULL), ==, 0);
	CHECK(config__http_exposure(&c) == NULL);
	config__free(&c);
	CHECK_INT(read_with(&c, NULL, err, sizeof(err), "--http-address", "0.0.0.0:7071",
			    "--http-tls-cert-file", "/c", "--http-tls-key-file", "/k",
			    "--http-client-ca-file", "/ca", NULL), ==, 0);
	config__free(&c);
	/* loopback needs nothing, and may still have it */
	CHECK_INT(read_with(&c, NULL, err, sizeof(err), "--http-bearer-token-file", "/t", NULL),
		  ==, 0);
	CHECK(config__http_exposure(&c) == NULL);
	config__free(&c);
	check_flag_errors(http_errors, ARRAY_SIZE(http_errors));
}

static void setup(void)
{
	TEST_ARGS("FIXTURE_DIR", &fixtures);
}

TEST_MAIN(setup, NULL,
	  TEST_CASE(defaults),
	  TEST_CASE(full_file),
	  TEST_CASE(flags),
	  TEST_CASE(flag_errors),
	  TEST_CASE(file_errors),
	  TEST_CASE(file_types),
	  TEST_CASE(yaml_bounds),
	  TEST_CASE(durations_and_sizes),
	  TEST_CASE(help),
	  TEST_CASE(debuginfod_urls),
	  TEST_CASE(http_exposure))
