/* config: the settings table, one value, defaults and the checks between
 * settings (see config.h). The YAML file is read by config_yaml.c, its
 * relabel_configs by config_relabel.c, the flags by config_flags.c. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "agent/config.h"
#include "agent/config_internal.h"
#include "serve/http_address.h"
#include "labels/proclabels.h"
#include "common/macros.h"
#include "common/parse.h"
#include "common/timearg.h"

#define MAX_MAP_ENTRIES 256

static const char *const kubernetes_modes[] = { "auto", "false", "true", NULL };

/* ENUM settings are written as int: their enums must be int-sized, and
 * their choices are the names their modules list in enum order
 * (log_level_names, unwind_mode_names, remote_protocol_names). */
_Static_assert(sizeof(enum log_level) == sizeof(int), "enum size");
_Static_assert(sizeof(enum unwind_mode) == sizeof(int), "enum size");
_Static_assert(sizeof(enum config_kubernetes) == sizeof(int), "enum size");
_Static_assert(sizeof(enum remote_protocol) == sizeof(int), "enum size");
_Static_assert(CONFIG_KUBERNETES_TRUE == 2, "kubernetes_modes order");

#define OFF(field) offsetof(struct config, field)
#define SEC 1000ull
#define MIB (1ull << 20)
#define GIB (1ull << 30)

static const struct config_setting settings[] = {
	{ .key = "node", .flag = "node", .metavar = "NAME", .type = CONFIG_STRING,
	  .def_doc = "the host name", .reloadable = true,
	  .help = "the node label of every process (default: the host name)",
	  .offset = OFF(node) },
	{ .key = "log_level", .flag = "log-level", .metavar = "LEVEL", .type = CONFIG_ENUM,
	  .def = "info", .choices = log_level_names, .reloadable = true,
	  .help = "error, warn, info or debug", .offset = OFF(log_level) },
	{ .key = "http.address", .flag = "http-address", .metavar = "ADDR",
	  .type = CONFIG_ADDRESS, .def = "127.0.0.1:7071",
	  .help = "listen address of the HTTP endpoint: IPv4:PORT, [IPv6]:PORT, :PORT or localhost:PORT",
	  .offset = OFF(http.address) },
	{ .key = "http.max_profile_seconds", .flag = "max-profile-seconds", .metavar = "N",
	  .type = CONFIG_U32, .def = "600", .min = 1, .max = 86400,
	  .help = "longest on-demand profile, in seconds",
	  .offset = OFF(http.max_profile_seconds) },
	{ .key = "http.read_timeout", .flag = "http-read-timeout", .metavar = "DURATION",
	  .type = CONFIG_DURATION, .def = "5s", .min = SEC, .max = 300 * SEC,
	  .help = "time a client has to send a whole request; slower ones are closed",
	  .offset = OFF(http.read_timeout_ms) },
	{ .key = "http.max_connections", .flag = "http-max-connections", .metavar = "N",
	  .type = CONFIG_U32, .def = "64", .min = 32, .max = 1024,
	  .help = "open HTTP connections; a new one past it closes the oldest idle one",
	  .offset = OFF(http.max_connections) },
	{ .key = "http.tls.cert_file", .flag = "http-tls-cert-file", .metavar = "PATH",
	  .type = CONFIG_PATH, .help = "serve HTTPS with this certificate chain (PEM), with "
				      "--http-tls-key-file",
	  .offset = OFF(http.tls_cert_file) },
	{ .key = "http.tls.key_file", .flag = "http-tls-key-file", .metavar = "PATH",
	  .type = CONFIG_PATH, .help = "the HTTPS certificate's private key (PEM)",
	  .offset = OFF(http.tls_key_file) },
	{ .key = "http.tls.client_ca_file", .flag = "http-client-ca-file", .metavar = "PATH",
	  .type = CONFIG_PATH, .help = "accept client certificates signed by these CAs (PEM)",
	  .offset = OFF(http.tls_client_ca_file) },
	{ .key = "http.bearer_token_file", .flag = "http-bearer-token-file", .metavar = "PATH",
	  .type = CONFIG_PATH, .help = "accept the bearer tokens in this file, one per line",
	  .offset = OFF(http.bearer_token_file) },
	{ .key = "http.allow_insecure", .switch_flag = "http-allow-insecure",
	  .switch_value = "true", .type = CONFIG_BOOL, .def = "false",
	  .help = "serve a non-loopback address without TLS and authentication",
	  .offset = OFF(http.allow_insecure) },
	{ .key = "sampling.frequency", .flag = "frequency", .short_flag = 'F', .metavar = "HZ",
	  .type = CONFIG_U32, .def = "99", .min = 1, .max = 1000,
	  .expect = "expected a whole number of Hz from 1 to 1000",
	  .help = "samples per second per CPU", .offset = OFF(sampling.frequency) },
	{ .key = "sampling.kernel_stacks", .flag = "kernel-stacks", .metavar = "BOOL",
	  .switch_flag = "no-kernel", .switch_value = "false",
	  .switch_help = "do not record kernel stacks", .type = CONFIG_BOOL,
	  .def = "true", .help = "record kernel stacks: true or false",
	  .offset = OFF(sampling.kernel_stacks) },
	{ .key = "sampling.unwind", .flag = "unwind", .metavar = "MODE", .type = CONFIG_ENUM,
	  .def = "auto", .choices = unwind_mode_names,
	  .help = "user stacks: auto (DWARF tables where the kernel allows, else frame "
		  "pointers), fp or dwarf",
	  .offset = OFF(sampling.unwind) },
	{ .key = "sampling.unwind_table_memory", .flag = "unwind-table-memory",
	  .metavar = "SIZE", .type = CONFIG_SIZE, .def = "128M", .min = MIB, .max = 64 * GIB,
	  .help = "bound on kernel memory for unwind tables; past it the least recently used "
		  "are evicted",
	  .offset = OFF(sampling.unwind_table_memory) },
	{ .key = "sampling.off_cpu", .switch_flag = "off-cpu", .switch_value = "true",
	  .switch_help = "record off-CPU time too (type=off_cpu profiles)",
	  .type = CONFIG_BOOL, .def = "false",
	  .help = "record where threads wait off the CPU (sched_switch): true or false",
	  .offset = OFF(sampling.off_cpu) },
	{ .key = "sampling.off_cpu_one_in", .flag = "off-cpu-one-in", .metavar = "N",
	  .type = CONFIG_U32, .def = "100", .min = 1, .max = 1000000,
	  .help = "record one context switch in N at random, counted N times (1: every one)",
	  .offset = OFF(sampling.off_cpu_one_in) },
	{ .key = "sampling.off_cpu_min_time", .flag = "off-cpu-min-time", .metavar = "DURATION",
	  .type = CONFIG_DURATION, .def = "0s", .min = 0, .max = 60 * SEC,
	  .help = "off-CPU intervals shorter than this are not counted",
	  .offset = OFF(sampling.off_cpu_min_time_ms) },
	{ .key = "symbolize.demangle", .flag = "demangle", .metavar = "BOOL",
	  .switch_flag = "no-demangle", .switch_value = "false",
	  .switch_help = "keep C++ and Rust names mangled", .type = CONFIG_BOOL,
	  .def = "true",
	  .help = "C++ and Rust function names demangled (pprof keeps the mangled one as "
		  "system_name): true or false",
	  .offset = OFF(symbolize.demangle) },
	{ .key = "symbolize.debuginfod.urls", .flag = "debuginfod-urls", .metavar = "URLS",
	  .type = CONFIG_STRING, .def = NULL,
	  .help = "debuginfod servers to fetch the debug files of stripped objects from, by "
		  "build id: http:// or https:// URLs separated by spaces; empty: off "
		  "(DEBUGINFOD_URLS is not read)",
	  .offset = OFF(symbolize.debuginfod.urls) },
	{ .key = "symbolize.debuginfod.cache_dir", .flag = "debuginfod-cache-dir",
	  .metavar = "DIR", .type = CONFIG_PATH, .def = "/var/cache/brasa/debuginfod",
	  .help = "where fetched debug files are kept (libdebuginfod's cache)",
	  .offset = OFF(symbolize.debuginfod.cache_dir) },
	{ .key = "symbolize.debuginfod.cache_size", .flag = "debuginfod-cache-size",
	  .metavar = "SIZE", .type = CONFIG_SIZE, .def = "1G", .min = MIB, .max = 1024 * GIB,
	  .help = "bound on the fetched debug files on disk; past it the least recently used "
		  "are deleted",
	  .offset = OFF(symbolize.debuginfod.cache_size) },
	{ .key = "symbolize.debuginfod.timeout", .flag = "debuginfod-timeout",
	  .metavar = "DURATION", .type = CONFIG_DURATION, .def = "30s", .min = SEC,
	  .max = 600 * SEC,
	  .help = "bound on one fetch (checked about once a second); frames stay named as "
		  "without it meanwhile",
	  .offset = OFF(symbolize.debuginfod.timeout_ms) },
	{ .key = "symbolize.debuginfod.max_fetches", .flag = "debuginfod-max-fetches",
	  .metavar = "N", .type = CONFIG_U32, .def = "16", .min = 1, .max = 1024,
	  .help = "fetches queued or running at once; past it a debug file is asked for again "
		  "at its object's next load",
	  .offset = OFF(symbolize.debuginfod.max_fetches) },
	{ .key = "symbolize.debuginfod.retry_after", .flag = "debuginfod-retry-after",
	  .metavar = "DURATION", .type = CONFIG_DURATION, .def = "10m", .min = SEC,
	  .max = 7 * 86400 * SEC,
	  .help = "a build id the servers lack, or whose fetch failed, is not asked for again "
		  "before this",
	  .offset = OFF(symbolize.debuginfod.retry_after_ms) },
	{ .key = "limits.symbol_memory", .flag = "symbol-memory", .metavar = "SIZE",
	  .type = CONFIG_SIZE, .def = "32M", .min = MIB, .max = 64 * GIB,
	  .help = "bound on the symbols and decoded DWARF of loaded objects",
	  .offset = OFF(limits.symbol_memory) },
	{ .key = "limits.perf_map_memory", .flag = "perf-map-memory", .metavar = "SIZE",
	  .type = CONFIG_SIZE, .def = "16M", .min = MIB, .max = 64 * GIB,
	  .help = "bound on the JIT perf maps read, all together (a quarter per process)",
	  .offset = OFF(limits.perf_map_memory) },
	{ .key = "limits.process_table_memory", .flag = "process-table-memory",
	  .metavar = "SIZE", .type = CONFIG_SIZE, .def = "16M", .min = MIB, .max = 64 * GIB,
	  .help = "bound on the memory of tracked processes; past it new ones are not tracked",
	  .offset = OFF(limits.process_table_memory) },
	{ .key = "limits.profile_memory", .flag = "profile-memory", .metavar = "SIZE",
	  .type = CONFIG_SIZE, .def = "64M", .min = MIB, .max = 64 * GIB,
	  .help = "bound on the profiles being collected, all together; past it samples are "
		  "left out",
	  .offset = OFF(limits.profile_memory) },
	{ .key = "limits.held_sample_memory", .flag = "held-sample-memory", .metavar = "SIZE",
	  .type = CONFIG_SIZE, .def = "4M", .min = 64 << 10, .max = 64 * GIB,
	  .help = "bound on samples held back while their process or objects are read",
	  .offset = OFF(limits.held_sample_memory) },
	{ .key = "limits.load_timeout", .flag = "load-timeout", .metavar = "DURATION",
	  .type = CONFIG_DURATION, .def = "5s", .min = SEC / 10, .max = 600 * SEC,
	  .help = "time cap on loading one object's symbols; past it the object is given up",
	  .offset = OFF(limits.load_timeout_ms) },
	{ .key = "limits.unwind_table_build_timeout", .flag = "unwind-table-build-timeout",
	  .metavar = "DURATION", .type = CONFIG_DURATION, .def = "10s", .min = SEC / 10,
	  .max = 600 * SEC,
	  .help = "time cap on building one unwind table; past it frame pointers are used",
	  .offset = OFF(limits.unwind_table_build_timeout_ms) },
	{ .key = "limits.unwind_table_build_memory", .flag = "unwind-table-build-memory",
	  .metavar = "SIZE", .type = CONFIG_SIZE, .def = "64M", .min = 1 << 20, .max = 64 * GIB,
	  .help = "memory one unwind table build may hold; past it frame pointers are used",
	  .offset = OFF(limits.unwind_table_build_memory) },
	{ .key = "labels.external", .flag = "external-label", .metavar = "NAME=VALUE",
	  .type = CONFIG_LABELS, .def_doc = "{}", .reloadable = true, .repeatable = true,
	  .help = "a label for every process (repeatable)", .offset = OFF(labels.external) },
	{ .key = "labels.thread_labels", .switch_flag = "no-thread-labels",
	  .switch_value = "false", .switch_help = "no thread_id and thread_name labels",
	  .type = CONFIG_BOOL, .def = "true", .reloadable = true,
	  .help = "thread_id and thread_name labels on every sample",
	  .offset = OFF(labels.thread_labels) },
	{ .key = "relabel_configs", .type = CONFIG_RELABEL, .def_doc = "[]",
	  .reloadable = true,
	  .help = "Prometheus relabel_config rules for the labels of every process",
	  .offset = OFF(relabel_rules) },
	{ .key = "kubernetes.enabled", .flag = "kubernetes", .metavar = "MODE",
	  .type = CONFIG_ENUM, .def = "auto", .choices = kubernetes_modes,
	  .help = "pod and container labels from the Kubernetes API server: auto (when "
		  "an API URL is known), true or false",
	  .offset = OFF(kubernetes.enabled) },
	{ .key = "kubernetes.api_url", .flag = "kubernetes-api-url", .metavar = "URL",
	  .type = CONFIG_URL,
	  .def_doc = "https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT",
	  .help = "the Kubernetes API server (default: the in-cluster address)",
	  .offset = OFF(kubernetes.api_url) },
	{ .key = "kubernetes.token_file", .flag = "kubernetes-token-file", .metavar = "PATH",
	  .type = CONFIG_PATH, .def = "/var/run/secrets/kubernetes.io/serviceaccount/token",
	  .help = "bearer token for the API server", .offset = OFF(kubernetes.token_file) },
	{ .key = "kubernetes.ca_file", .flag = "kubernetes-ca-file", .metavar = "PATH",
	  .type = CONFIG_PATH, .def = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
	  .help = "CA bundle for the API server's certificate",
	  .offset = OFF(kubernetes.ca_file) },
	{ .key = "kubernetes.poll_interval", .flag = "kubernetes-poll-interval",
	  .metavar = "DURATION", .type = CONFIG_DURATION, .def = "30s", .min = SEC,
	  .max = 86400 * SEC, .help = "how often the pods of this node are listed",
	  .offset = OFF(kubernetes.poll_interval_ms) },
	{ .key = "remote.url", .flag = "remote-url", .metavar = "URL", .type = CONFIG_URL,
	  .help = "where to upload profiles (default: no uploads)", .offset = OFF(remote.url) },
	{ .key = "remote.protocol", .flag = "remote-protocol", .metavar = "PROTOCOL",
	  .type = CONFIG_ENUM, .def = "pyroscope", .choices = remote_protocol_names,
	  .help = "pyroscope, pyroscope-ingest or parca", .offset = OFF(remote.protocol) },
	{ .key = "remote.upload_interval", .flag = "upload-interval", .metavar = "DURATION",
	  .type = CONFIG_DURATION, .def = "15s", .min = SEC, .max = 86400 * SEC,
	  .help = "how often profiles are uploaded", .offset = OFF(remote.upload_interval_ms) },
	{ .key = "remote.timeout", .flag = "remote-timeout", .metavar = "DURATION",
	  .type = CONFIG_DURATION, .def = "30s", .min = SEC, .max = 600 * SEC,
	  .help = "limit on one upload request", .offset = OFF(remote.timeout_ms) },
	{ .key = "remote.max_retry_backoff", .flag = "remote-max-retry-backoff",
	  .metavar = "DURATION", .type = CONFIG_DURATION, .def = "5m", .min = SEC,
	  .max = 3600 * SEC,
	  .help = "longest wait between retries while the backend fails",
	  .offset = OFF(remote.max_retry_backoff_ms) },
	{ .key = "remote.bearer_token_file", .flag = "remote-bearer-token-file",
	  .metavar = "PATH", .type = CONFIG_PATH,
	  .help = "file with a bearer token for uploads",
	  .offset = OFF(remote.bearer_token_file) },
	{ .key = "remote.basic_auth.username", .flag = "remote-basic-auth-username",
	  .metavar = "NAME", .type = CONFIG_STRING, .help = "HTTP basic authentication user",
	  .offset = OFF(remote.basic_auth_username) },
	{ .key = "remote.basic_auth.password_file", .flag = "remote-basic-auth-password-file",
	  .metavar = "PATH", .type = CONFIG_PATH,
	  .help = "file with the basic authentication password",
	  .offset = OFF(remote.basic_auth_password_file) },
	{ .key = "remote.tenant_id", .flag = "remote-tenant-id", .metavar = "ID",
	  .type = CONFIG_STRING, .help = "tenant, sent as X-Scope-OrgID",
	  .offset = OFF(remote.tenant_id) },
	{ .key = "remote.headers", .flag = "remote-header", .metavar = "'NAME: VALUE'",
	  .type = CONFIG_HEADERS, .def_doc = "{}", .repeatable = true,
	  .help = "an HTTP header for every upload (repeatable)", .offset = OFF(remote.headers) },
	{ .key = "remote.tls.ca_file", .flag = "remote-ca-file", .metavar = "PATH",
	  .type = CONFIG_PATH, .help = "CA bundle for the remote's certificate (default: the "
				      "system's)",
	  .offset = OFF(remote.tls_ca_file) },
	{ .key = "remote.tls.cert_file", .flag = "remote-cert-file", .metavar = "PATH",
	  .type = CONFIG_PATH, .help = "client certificate (PEM), with --remote-key-file",
	  .offset = OFF(remote.tls_cert_file) },
	{ .key = "remote.tls.key_file", .flag = "remote-key-file", .metavar = "PATH",
	  .type = CONFIG_PATH, .help = "the client certificate's private key (PEM)",
	  .offset = OFF(remote.tls_key_file) },
	{ .key = "remote.tls.insecure_skip_verify", .switch_flag = "remote-insecure-skip-verify",
	  .switch_value = "true", .type = CONFIG_BOOL, .def = "false",
	  .help = "do not verify the remote's certificate: for tests only",
	  .offset = OFF(remote.tls_insecure_skip_verify) },
	{ .key = "remote.spool_dir", .flag = "spool-dir", .metavar = "PATH", .type = CONFIG_PATH,
	  .def = "/var/lib/brasa/spool",
	  .help = "where uploads wait while the remote cannot take them",
	  .offset = OFF(remote.spool_dir) },
	{ .key = "remote.spool_max_bytes", .flag = "spool-max-bytes", .metavar = "SIZE",
	  .type = CONFIG_SIZE, .def = "512M", .min = 16 << 10, .max = 1024 * GIB,
	  .help = "bound on the spool's size on disk; past it the oldest uploads are dropped",
	  .offset = OFF(remote.spool_max_bytes) },
	{ .key = "history.dir", .flag = "history-dir", .metavar = "PATH", .type = CONFIG_PATH,
	  .def = "/var/lib/brasa/history",
	  .help = "where the local history of windows is kept (brasa history reads it)",
	  .offset = OFF(history.dir) },
	{ .key = "history.retention", .flag = "history-retention", .metavar = "DURATION",
	  .type = CONFIG_DURATION, .def = "24h", .min = 10 * SEC, .max = 366 * 86400 * SEC,
	  .zero_off = true,
	  .help = "how long windows stay in the local history; 0 turns the history off",
	  .offset = OFF(history.retention_ms) },
	{ .key = "history.max_bytes", .flag = "history-max-bytes", .metavar = "SIZE",
	  .type = CONFIG_SIZE, .def = "1G", .min = MIB, .max = 1024 * GIB, .zero_off = true,
	  .help = "bound on the local history on disk; past it the oldest windows are "
		  "dropped; 0 turns the history off",
	  .offset = OFF(history.max_bytes) },
};

_Static_assert(ARRAY_SIZE(settings) <= CONFIG_MAX_SETTINGS, "raise CONFIG_MAX_SETTINGS");

const struct config_setting *config__settings(size_t *n)
{
	*n = ARRAY_SIZE(settings);
	return settings;
}

const struct config_setting *config__find(const char *key)
{
	for (size_t i = 0; i < ARRAY_SIZE(settings); i++)
		if (!strcmp(settings[i].key, key))
			return &settings[i];
	return NULL;
}

size_t config_setting_index(const struct config_setting *s)
{
	return (size_t)(s - settings);
}

/* Every error is one line: control characters from values or from
 * libraries' messages become spaces. */
int config_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!errlen)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	for (char *p = err; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	return -EINVAL;
}

/* --- durations and sizes --- */

static void format_size(uint64_t bytes, char *out, size_t len)
{
	static const char units[] = "GMK";

	for (unsigned i = 0; i < 3; i++) {
		unsigned shift = 30 - 10 * i;

		if (bytes && !(bytes & ((1ull << shift) - 1))) {
			snprintf(out, len, "%llu%c", (unsigned long long)(bytes >> shift), units[i]);
			return;
		}
	}
	snprintf(out, len, "%llu", (unsigned long long)bytes);
}

/* --- one value --- */

void config_expectation(const struct config_setting *s, char *out, size_t len)
{
	char lo[32], hi[32];
	size_t used = 0;

	if (s->expect) {
		snprintf(out, len, "%s", s->expect);
		return;
	}
	switch (s->type) {
	case CONFIG_STRING:
	case CONFIG_PATH:
		snprintf(out, len, "expected text without control characters");
		break;
	case CONFIG_URL:
		snprintf(out, len, "expected an http:// or https:// URL with a host");
		break;
	case CONFIG_ADDRESS:
		snprintf(out, len, "%s", HTTP_ADDRESS_EXPECTED);
		break;
	case CONFIG_BOOL:
		snprintf(out, len, "expected true or false");
		break;
	case CONFIG_U32:
		snprintf(out, len, "expected a whole number from %llu to %llu",
			 (unsigned long long)s->min, (unsigned long long)s->max);
		break;
	case CONFIG_SIZE:
		format_size(s->min, lo, sizeof(lo));
		format_size(s->max, hi, sizeof(hi));
		snprintf(out, len, "expected %sa size from %s to %s (suffix K, M or G)",
			 s->zero_off ? "0 (off) or " : "", lo, hi);
		break;
	case CONFIG_DURATION:
		timearg__format_duration(s->min, lo, sizeof(lo));
		timearg__format_duration(s->max, hi, sizeof(hi));
		snprintf(out, len, "expected %sa duration from %s to %s, such as 30s, 1m30s or 2h",
			 s->zero_off ? "0 (off) or " : "", lo, hi);
		break;
	case CONFIG_ENUM:
		used = (size_t)snprintf(out, len, "expected ");
		for (size_t i = 0; s->choices[i] && used < len; i++)
			used += (size_t)snprintf(out + used, len - used, "%s%s",
						 i == 0 ? "" : s->choices[i + 1] ? ", " : " or ",
						 s->choices[i]);
		break;
	case CONFIG_LABELS:
		snprintf(out, len, "expected NAME=VALUE with a label name "
				   "([a-zA-Z_][a-zA-Z0-9_]*)");
		break;
	case CONFIG_HEADERS:
		snprintf(out, len, "expected 'NAME: VALUE' with an HTTP header name");
		break;
	case CONFIG_RELABEL:
		snprintf(out, len, "expected a list of relabel_config maps");
		break;
	}
}

static bool has_control_chars(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

static bool valid_url(const char *s)
{
	const char *host;
	size_t hostlen;

	if (!strncmp(s, "http://", 7))
		host = s + 7;
	else if (!strncmp(s, "https://", 8))
		host = s + 8;
	else
		return false;
	hostlen = strcspn(host, "/?#");
	return hostlen > 0 && host[0] != ':' && !strchr(s, ' ') && !has_control_chars(s);
}

int config__parse_value(const struct config_setting *s, const char *text, void *out,
			char *err, size_t errlen)
{
	char expect[256];
	bool ok = false;

	config_expectation(s, expect, sizeof(expect));
	switch (s->type) {
	case CONFIG_STRING:
	case CONFIG_PATH:
	case CONFIG_URL:
	case CONFIG_ADDRESS: {
		char *copy = NULL;

		if (has_control_chars(text))
			break;
		if (*text && s->type == CONFIG_URL && !valid_url(text))
			break;
		if (s->type == CONFIG_ADDRESS) {
			struct sockaddr_storage ss;
			socklen_t sslen;

			if (http_address__parse(text, &ss, &sslen))
				break;
		}
		/* "" is unset: consumers test for NULL only */
		if (*text && !(copy = strdup(text)))
			return config_errf(err, errlen, "out of memory"), -ENOMEM;
		*(char **)out = copy;
		ok = true;
		break;
	}
	case CONFIG_BOOL:
		if (!strcmp(text, "true") || !strcmp(text, "false")) {
			*(bool *)out = !strcmp(text, "true");
			ok = true;
		}
		break;
	case CONFIG_U32: {
		uint32_t v;

		if (!parse_u32_range(text, (uint32_t)s->min, (uint32_t)s->max, &v)) {
			*(uint32_t *)out = v;
			ok = true;
		}
		break;
	}
	case CONFIG_SIZE:
	case CONFIG_DURATION: {
		uint64_t v;
		int e = s->type == CONFIG_SIZE ? parse_size(text, &v)
					       : timearg__duration(text, &v);

		if (!e && ((v >= s->min && v <= s->max) || (!v && s->zero_off))) {
			*(uint64_t *)out = v;
			ok = true;
		}
		break;
	}
	case CONFIG_ENUM:
		for (int i = 0; s->choices[i]; i++) {
			if (!strcmp(text, s->choices[i])) {
				memcpy(out, &i, sizeof(i));
				ok = true;
				break;
			}
		}
		break;
	case CONFIG_LABELS:
	case CONFIG_HEADERS:
	case CONFIG_RELABEL:
		return config_errf(err, errlen, "%s is not a single value", s->key);
	}
	if (!ok)
		return config_errf(err, errlen, "%s", expect);
	return 0;
}

/* Replaces the value of s in c by text. */
int config_set_scalar(struct config *c, const struct config_setting *s, const char *text,
		      char *err, size_t errlen)
{
	union {
		char *str;
		bool b;
		uint32_t u32;
		uint64_t u64;
		int e;
	} v;
	int rc = config__parse_value(s, text, &v, err, errlen);

	if (rc)
		return rc;
	switch (s->type) {
	case CONFIG_STRING:
	case CONFIG_PATH:
	case CONFIG_URL:
	case CONFIG_ADDRESS:
		free(*(char **)config_field(c, s));
		*(char **)config_field(c, s) = v.str;
		break;
	case CONFIG_BOOL:
		*(bool *)config_field(c, s) = v.b;
		break;
	case CONFIG_U32:
		*(uint32_t *)config_field(c, s) = v.u32;
		break;
	case CONFIG_SIZE:
	case CONFIG_DURATION:
		*(uint64_t *)config_field(c, s) = v.u64;
		break;
	case CONFIG_ENUM:
		memcpy(config_field(c, s), &v.e, sizeof(v.e));
		break;
	default:
		break;
	}
	return 0;
}

/* An HTTP header name is a token (RFC 9110 5.1, 5.6.2). */
static bool valid_header_name(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!strchr("!#$%&'*+-.^_`|~", *s) && !(*s >= '0' && *s <= '9') &&
		    !(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z'))
			return false;
	return true;
}

/* Adds name=value to the map setting s. err gets a message without the
 * setting's name. */
int config_add_entry(struct config *c, const struct config_setting *s, const char *name,
		     const char *value, char *err, size_t errlen)
{
	struct labels *ls = config_field(c, s);

	if (s->type == CONFIG_LABELS && !labels__valid_name(name))
		return config_errf(err, errlen, "invalid label name '%.*s': expected letters, "
				   "digits and _, not starting with a digit", CONFIG_QUOTE_MAX,
				   name);
	if (s->type == CONFIG_HEADERS && !valid_header_name(name))
		return config_errf(err, errlen, "invalid header name '%.*s'", CONFIG_QUOTE_MAX,
				   name);
	/* a tab is legal inside a header value (RFC 9110 5.5), nothing else */
	for (const char *p = value; *p; p++)
		if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f)
			return config_errf(err, errlen,
					   "the value of '%.*s' has a control character",
					   CONFIG_QUOTE_MAX, name);
	if (ls->n >= MAX_MAP_ENTRIES && !labels__get(ls, name))
		return config_errf(err, errlen, "more than %d entries", MAX_MAP_ENTRIES);
	if (labels__set(ls, name, value))
		return config_errf(err, errlen, "out of memory"), -ENOMEM;
	return 0;
}

void config_clear_setting(struct config *c, const struct config_setting *s)
{
	switch (s->type) {
	case CONFIG_STRING:
	case CONFIG_PATH:
	case CONFIG_URL:
	case CONFIG_ADDRESS:
		free(*(char **)config_field(c, s));
		*(char **)config_field(c, s) = NULL;
		break;
	case CONFIG_LABELS:
	case CONFIG_HEADERS:
		labels__clear(config_field(c, s));
		break;
	case CONFIG_RELABEL:
		config_free_rules(c->relabel_rules, c->nrelabel_rules);
		c->relabel_rules = NULL;
		c->nrelabel_rules = 0;
		c->relabel_hash = 0;
		break;
	default:
		break;
	}
}

int config_set_default(struct config *c, const struct config_setting *s)
{
	char err[256];

	config_clear_setting(c, s);
	c->origin[config_setting_index(s)] = 0;
	if (!s->def)
		return 0;
	/* the table's defaults are valid: only memory can fail */
	return config_set_scalar(c, s, s->def, err, sizeof(err));
}

void config__free(struct config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(settings); i++)
		config_clear_setting(c, &settings[i]);
	free(c->file);
	memset(c, 0, sizeof(*c));
}

int config__defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < ARRAY_SIZE(settings); i++) {
		int err = config_set_default(c, &settings[i]);

		if (err) {
			config__free(c);
			return err;
		}
	}
	return 0;
}

/* --- checks between settings --- */

static int check_fail(const struct config *c, const struct config_setting *s, char *err,
		      size_t errlen, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* "FILE:LINE: KEY: message", "--FLAG: message" or "KEY: message" (a
 * default), by where s was set. */
static int check_fail(const struct config *c, const struct config_setting *s, char *err,
		      size_t errlen, const char *fmt, ...)
{
	uint32_t origin = c->origin[config_setting_index(s)];
	char where[512], msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (origin == CONFIG_FROM_FLAG)
		snprintf(where, sizeof(where), "--%s", s->flag ? s->flag : s->switch_flag);
	else if (origin)
		snprintf(where, sizeof(where), "%s:%u: %s", c->file ? c->file : "?", origin, s->key);
	else
		snprintf(where, sizeof(where), "%s", s->key);
	return config_errf(err, errlen, "%s: %s", where, msg);
}

/* "remote.tls.key_file (--remote-key-file)" */
static const char *named(const char *key, char *out, size_t len)
{
	const struct config_setting *s = config__find(key);

	snprintf(out, len, "%s (--%s)", key, s->flag ? s->flag : s->switch_flag);
	return out;
}

static int check_pair(const struct config *c, const char *a, const char *b, char *err,
		      size_t errlen)
{
	const struct config_setting *sa = config__find(a), *sb = config__find(b);
	bool has_a = *(char *const *)config_cfield(c, sa);
	bool has_b = *(char *const *)config_cfield(c, sb);
	char name[128];

	if (has_a && !has_b)
		return check_fail(c, sa, err, errlen, "needs %s too", named(b, name, sizeof(name)));
	if (has_b && !has_a)
		return check_fail(c, sb, err, errlen, "needs %s too", named(a, name, sizeof(name)));
	return 0;
}

const char *config__http_exposure(const struct config *c)
{
	bool auth = c->http.bearer_token_file || c->http.tls_client_ca_file;

	if (http_address__is_loopback(c->http.address) != 0)
		return NULL;
	if (!c->http.tls_cert_file)
		return auth ? "without TLS" : "without TLS or authentication";
	return auth ? NULL : "without authentication";
}

/* Each of the space-separated URLs is http:// or https:// with a host. */
static int check_debuginfod_urls(const struct config *c, char *err, size_t errlen)
{
	const char *p = c->symbolize.debuginfod.urls;

	while (p && *(p += strspn(p, " \t"))) {
		size_t len = strcspn(p, " \t");
		size_t scheme = !strncmp(p, "http://", 7) ? 7 : !strncmp(p, "https://", 8) ? 8 : 0;

		if (!scheme || len == scheme || p[scheme] == '/')
			return check_fail(c, config__find("symbolize.debuginfod.urls"), err, errlen,
					  "'%.*s' is not an http:// or https:// URL with a host",
					  (int)len, p);
		p += len;
	}
	return 0;
}

int config__check(const struct config *c, char *err, size_t errlen)
{
	const char *exposure = config__http_exposure(c);
	char name[128];
	int rc;

	if ((rc = check_pair(c, "http.tls.cert_file", "http.tls.key_file", err, errlen)))
		return rc;
	if (c->http.tls_client_ca_file && !c->http.tls_cert_file)
		return check_fail(c, config__find("http.tls.client_ca_file"), err, errlen,
				  "client certificates need TLS: set %s too",
				  named("http.tls.cert_file", name, sizeof(name)));
	/* profiles name every process, binary and function of the host */
	if (exposure && !c->http.allow_insecure)
		return check_fail(c, config__find("http.address"), err, errlen,
				  "%s is not a loopback address: serving it needs TLS "
				  "(http.tls.cert_file, http.tls.key_file) and authentication "
				  "(http.bearer_token_file or http.tls.client_ca_file), or "
				  "http.allow_insecure: true to serve it %s (docs/http-api.md)",
				  c->http.address, exposure);
	if ((rc = check_pair(c, "remote.tls.cert_file", "remote.tls.key_file", err, errlen)) ||
	    (rc = check_pair(c, "remote.basic_auth.username", "remote.basic_auth.password_file",
			     err, errlen)))
		return rc;
	if (c->remote.bearer_token_file && c->remote.basic_auth_username)
		return check_fail(c, config__find("remote.bearer_token_file"), err, errlen,
				  "cannot be combined with %s", named("remote.basic_auth.username", name, sizeof(name)));
	if ((rc = check_debuginfod_urls(c, err, errlen)))
		return rc;
	if (c->kubernetes.enabled == CONFIG_KUBERNETES_TRUE && !c->kubernetes.api_url &&
	    !getenv("KUBERNETES_SERVICE_HOST"))
		return check_fail(c, config__find("kubernetes.enabled"), err, errlen,
				  "true, but there is no %s and KUBERNETES_SERVICE_HOST is not set",
				  named("kubernetes.api_url", name, sizeof(name)));
	return 0;
}

int config__read(struct config *c, const char *path, int argc, char **argv, char *err,
		 size_t errlen)
{
	int rc = config__defaults(c);

	if (rc) {
		config_errf(err, errlen, "out of memory");
		return rc;
	}
	if ((path && (rc = config__load_file(c, path, err, errlen))) ||
	    (rc = config__apply_args(c, argc, argv, err, errlen)) ||
	    (rc = config__check(c, err, errlen)))
		config__free(c);
	return rc;
}

/* --- comparing, the rest --- */

bool config__setting_equal(const struct config *a, const struct config *b,
			   const struct config_setting *s)
{
	const void *x = config_cfield(a, s), *y = config_cfield(b, s);

	switch (s->type) {
	case CONFIG_STRING:
	case CONFIG_PATH:
	case CONFIG_URL:
	case CONFIG_ADDRESS: {
		const char *p = *(char *const *)x, *q = *(char *const *)y;

		return p == q || (p && q && !strcmp(p, q));
	}
	case CONFIG_BOOL:
		return *(const bool *)x == *(const bool *)y;
	case CONFIG_U32:
		return *(const uint32_t *)x == *(const uint32_t *)y;
	case CONFIG_SIZE:
	case CONFIG_DURATION:
		return *(const uint64_t *)x == *(const uint64_t *)y;
	case CONFIG_ENUM:
		return !memcmp(x, y, sizeof(int));
	case CONFIG_LABELS:
	case CONFIG_HEADERS:
		return labels__equal(x, y);
	case CONFIG_RELABEL:
		return a->nrelabel_rules == b->nrelabel_rules && a->relabel_hash == b->relabel_hash;
	}
	return false;
}

bool config__kubernetes_enabled(const struct config *c)
{
	switch (c->kubernetes.enabled) {
	case CONFIG_KUBERNETES_TRUE:
		return true;
	case CONFIG_KUBERNETES_FALSE:
		return false;
	case CONFIG_KUBERNETES_AUTO:
		break;
	}
	return c->kubernetes.api_url || getenv("KUBERNETES_SERVICE_HOST");
}

void config__labeling(const struct config *c, struct profiler_labeling *out)
{
	*out = (struct profiler_labeling){
		.node = c->node,
		.external = &c->labels.external,
		.rules = c->relabel_rules,
		.nrules = c->nrelabel_rules,
		.thread_labels = c->labels.thread_labels,
	};
}
