/* config: the settings of `brasa run` from a YAML file and flags (see
 * config.h). Everything is driven by the settings table below. */
#include <errno.h>
#include <ctype.h>
#include <getopt.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "agent/config.h"
#include "serve/http_address.h"
#include "labels/proclabels.h"
#include "labels/relabel.h"
#include "common/buf.h"
#include "common/macros.h"
#include "common/parse.h"

/* A configuration file is a few kilobytes; the bound keeps a wrong path
 * (a log, a binary) from being read whole. */
#define MAX_FILE_BYTES (1u << 20)
/* What a small file may make libyaml build, checked on its event stream
 * first (yaml_parser_load would build it all, and slowly: its scanner is
 * quadratic in the nesting depth and its anchor table in the anchors, so
 * 1 MiB of '[' took minutes and 100k anchors 19 s). Values count every
 * scalar, list and map with aliases expanded, as the loader walks them;
 * the text bound is on all scalars so expanded. A real configuration has
 * a depth of 5 and a few hundred values. */
#define MAX_DEPTH 32
#define MAX_VALUES 65536
#define MAX_VALUE_BYTES (64u << 10)
#define MAX_TEXT_BYTES MAX_FILE_BYTES
#define MAX_ANCHORS 256
#define MAX_MAP_ENTRIES 256
#define MAX_RELABEL_RULES 1024
#define MAX_SOURCE_LABELS 64
/* how much of a bad value an error message quotes */
#define QUOTE_MAX 80

static const char *const log_levels[] = { "error", "warn", "info", "debug", NULL };
static const char *const unwind_modes[] = { "auto", "fp", "dwarf", NULL };
static const char *const kubernetes_modes[] = { "auto", "false", "true", NULL };
static const char *const remote_protocols[] = { "pyroscope", "pyroscope-ingest", "parca",
						NULL };

/* ENUM settings are written as int: their enums must be int-sized and
 * list their names in the same order as the choices above. */
_Static_assert(sizeof(enum log_level) == sizeof(int), "enum size");
_Static_assert(sizeof(enum config_unwind) == sizeof(int), "enum size");
_Static_assert(sizeof(enum config_kubernetes) == sizeof(int), "enum size");
_Static_assert(sizeof(enum config_remote_protocol) == sizeof(int), "enum size");
_Static_assert(LOG_LEVEL_DEBUG == 3 && CONFIG_UNWIND_DWARF == 2 && CONFIG_KUBERNETES_TRUE == 2 &&
		       CONFIG_REMOTE_PARCA == 2,
	       "enum order");

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
	  .def = "info", .choices = log_levels, .reloadable = true,
	  .help = "error, warn, info or debug", .offset = OFF(log_level) },
	{ .key = "http.address", .flag = "http-address", .metavar = "ADDR",
	  .type = CONFIG_ADDRESS, .def = "127.0.0.1:7071",
	  .help = "listen address of the HTTP endpoint: IPv4:PORT or [IPv6]:PORT",
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
	  .def = "auto", .choices = unwind_modes,
	  .help = "user stacks: auto (DWARF tables where the kernel allows, else frame "
		  "pointers), fp or dwarf",
	  .offset = OFF(sampling.unwind) },
	{ .key = "sampling.unwind_table_memory", .flag = "unwind-table-memory",
	  .metavar = "SIZE", .type = CONFIG_SIZE, .def = "128M", .min = MIB, .max = 64 * GIB,
	  .help = "bound on kernel memory for unwind tables; past it the least recently used "
		  "are evicted",
	  .offset = OFF(sampling.unwind_table_memory) },
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
	  .type = CONFIG_ENUM, .def = "pyroscope", .choices = remote_protocols,
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

static size_t setting_index(const struct config_setting *s)
{
	return (size_t)(s - settings);
}

static void *field(struct config *c, const struct config_setting *s)
{
	return (char *)c + s->offset;
}

static const void *cfield(const struct config *c, const struct config_setting *s)
{
	return (const char *)c + s->offset;
}

static int errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Every error is one line: control characters from values or from
 * libraries' messages become spaces. */
static int errf(char *err, size_t errlen, const char *fmt, ...)
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

static const struct {
	const char *unit;
	uint64_t ms;
} duration_units[] = {
	{ "d", 86400 * SEC }, { "h", 3600 * SEC }, { "m", 60 * SEC }, { "s", SEC }, { "ms", 1 },
};

int config__parse_duration(const char *text, uint64_t *ms)
{
	const char *p = text;
	uint64_t total = 0;
	size_t next_unit = 0;

	if (!text || !*text)
		return -EINVAL;
	if (!strcmp(text, "0")) {
		*ms = 0;
		return 0;
	}
	while (*p) {
		uint64_t n = 0;
		size_t u, len;

		if (*p < '0' || *p > '9')
			return -EINVAL;
		for (; *p >= '0' && *p <= '9'; p++) {
			if (n > (UINT64_MAX - 9) / 10)
				return -ERANGE;
			n = n * 10 + (uint64_t)(*p - '0');
		}
		/* units in decreasing order, each once, as Prometheus has them */
		for (u = next_unit; u < ARRAY_SIZE(duration_units); u++) {
			len = strlen(duration_units[u].unit);
			/* "m" must not take the "m" of "ms" */
			if (!strncmp(p, duration_units[u].unit, len) && (p[len] < 'a' || p[len] > 'z'))
				break;
		}
		if (u == ARRAY_SIZE(duration_units))
			return -EINVAL;
		if (n > UINT64_MAX / duration_units[u].ms ||
		    total > UINT64_MAX - n * duration_units[u].ms)
			return -ERANGE;
		total += n * duration_units[u].ms;
		p += len;
		next_unit = u + 1;
	}
	*ms = total;
	return 0;
}

/* "1m30s", "500ms", "0s": the shortest exact spelling. */
static void format_duration(uint64_t ms, char *out, size_t len)
{
	size_t used = 0;

	if (!ms) {
		snprintf(out, len, "0s");
		return;
	}
	out[0] = 0;
	for (size_t u = 0; u < ARRAY_SIZE(duration_units) && ms; u++) {
		uint64_t n = ms / duration_units[u].ms;

		if (!n)
			continue;
		ms -= n * duration_units[u].ms;
		if (used < len)
			used += (size_t)snprintf(out + used, len - used, "%llu%s",
						 (unsigned long long)n, duration_units[u].unit);
	}
}

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

static void expectation(const struct config_setting *s, char *out, size_t len)
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
		snprintf(out, len, "expected IPv4:PORT or [IPv6]:PORT");
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
		snprintf(out, len, "expected a size from %s to %s (suffix K, M or G)", lo, hi);
		break;
	case CONFIG_DURATION:
		format_duration(s->min, lo, sizeof(lo));
		format_duration(s->max, hi, sizeof(hi));
		snprintf(out, len, "expected a duration from %s to %s, such as 30s, 1m30s or 2h",
			 lo, hi);
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

	expectation(s, expect, sizeof(expect));
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

			if (http_api__parse_address(text, &ss, &sslen))
				break;
		}
		/* "" is unset: consumers test for NULL only */
		if (*text && !(copy = strdup(text)))
			return errf(err, errlen, "out of memory"), -ENOMEM;
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
					       : config__parse_duration(text, &v);

		if (!e && v >= s->min && v <= s->max) {
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
		return errf(err, errlen, "%s is not a single value", s->key);
	}
	if (!ok)
		return errf(err, errlen, "%s", expect);
	return 0;
}

/* Replaces the value of s in c by text. */
static int set_scalar(struct config *c, const struct config_setting *s, const char *text,
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
		free(*(char **)field(c, s));
		*(char **)field(c, s) = v.str;
		break;
	case CONFIG_BOOL:
		*(bool *)field(c, s) = v.b;
		break;
	case CONFIG_U32:
		*(uint32_t *)field(c, s) = v.u32;
		break;
	case CONFIG_SIZE:
	case CONFIG_DURATION:
		*(uint64_t *)field(c, s) = v.u64;
		break;
	case CONFIG_ENUM:
		memcpy(field(c, s), &v.e, sizeof(v.e));
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
static int add_entry(struct config *c, const struct config_setting *s, const char *name,
		     const char *value, char *err, size_t errlen)
{
	struct labels *ls = field(c, s);

	if (s->type == CONFIG_LABELS && !labels__valid_name(name))
		return errf(err, errlen, "invalid label name '%.*s': expected letters, digits "
			    "and _, not starting with a digit", QUOTE_MAX, name);
	if (s->type == CONFIG_HEADERS && !valid_header_name(name))
		return errf(err, errlen, "invalid header name '%.*s'", QUOTE_MAX, name);
	/* a tab is legal inside a header value (RFC 9110 5.5), nothing else */
	for (const char *p = value; *p; p++)
		if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f)
			return errf(err, errlen, "the value of '%.*s' has a control character",
				    QUOTE_MAX, name);
	if (ls->n >= MAX_MAP_ENTRIES && !labels__get(ls, name))
		return errf(err, errlen, "more than %d entries", MAX_MAP_ENTRIES);
	if (labels__set(ls, name, value))
		return errf(err, errlen, "out of memory"), -ENOMEM;
	return 0;
}

/* A flag's NAME=VALUE or 'Name: value'. */
static int add_flag_entry(struct config *c, const struct config_setting *s, const char *arg,
			  char *err, size_t errlen)
{
	char sep = s->type == CONFIG_LABELS ? '=' : ':';
	const char *at = strchr(arg, sep), *value;
	_cleanup_free_ char *name = NULL;
	size_t vlen;

	if (!at) {
		char expect[256];

		expectation(s, expect, sizeof(expect));
		return errf(err, errlen, "%s", expect);
	}
	name = strndup(arg, (size_t)(at - arg));
	if (!name)
		return errf(err, errlen, "out of memory"), -ENOMEM;
	value = at + 1;
	if (s->type == CONFIG_HEADERS) {
		_cleanup_free_ char *trimmed = NULL;

		/* "Name: value": the space is not part of the value */
		value += strspn(value, " \t");
		vlen = strlen(value);
		while (vlen && (value[vlen - 1] == ' ' || value[vlen - 1] == '\t'))
			vlen--;
		trimmed = strndup(value, vlen);
		if (!trimmed)
			return errf(err, errlen, "out of memory"), -ENOMEM;
		return add_entry(c, s, name, trimmed, err, errlen);
	}
	return add_entry(c, s, name, value, err, errlen);
}

static void free_rules(struct relabel_rule **rules, size_t n)
{
	for (size_t i = 0; i < n; i++)
		relabel__free(rules[i]);
	free(rules);
}

static void clear_setting(struct config *c, const struct config_setting *s)
{
	switch (s->type) {
	case CONFIG_STRING:
	case CONFIG_PATH:
	case CONFIG_URL:
	case CONFIG_ADDRESS:
		free(*(char **)field(c, s));
		*(char **)field(c, s) = NULL;
		break;
	case CONFIG_LABELS:
	case CONFIG_HEADERS:
		labels__clear(field(c, s));
		break;
	case CONFIG_RELABEL:
		free_rules(c->relabel_rules, c->nrelabel_rules);
		c->relabel_rules = NULL;
		c->nrelabel_rules = 0;
		c->relabel_hash = 0;
		break;
	default:
		break;
	}
}

static int set_default(struct config *c, const struct config_setting *s)
{
	char err[256];

	clear_setting(c, s);
	c->origin[setting_index(s)] = 0;
	if (!s->def)
		return 0;
	/* the table's defaults are valid: only memory can fail */
	return set_scalar(c, s, s->def, err, sizeof(err));
}

void config__free(struct config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(settings); i++)
		clear_setting(c, &settings[i]);
	free(c->file);
	memset(c, 0, sizeof(*c));
}

int config__defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < ARRAY_SIZE(settings); i++) {
		int err = set_default(c, &settings[i]);

		if (err) {
			config__free(c);
			return err;
		}
	}
	return 0;
}

/* --- the YAML file --- */

struct loader {
	struct config *c;
	const char *name;
	yaml_document_t *doc;
	char *err;
	size_t errlen;
};

static unsigned line_of(const yaml_node_t *n)
{
	return (unsigned)n->start_mark.line + 1;
}

static int fail(struct loader *l, const yaml_node_t *at, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* "FILE:LINE: PATH: message" */
static int fail(struct loader *l, const yaml_node_t *at, const char *path, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return errf(l->err, l->errlen, "%s:%u: %s: %s", l->name, line_of(at), path, msg);
}

static yaml_node_t *node_at(struct loader *l, int id)
{
	return yaml_document_get_node(l->doc, id);
}

/* Plain empty, ~ and null are YAML's null; a quoted "" is an empty string. */
static bool is_null(const yaml_node_t *n)
{
	const char *v = (const char *)n->data.scalar.value;

	return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       (!*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
		!strcmp(v, "NULL"));
}

/* The text of a scalar, or NULL (error set) for anything else. */
static const char *scalar(struct loader *l, const yaml_node_t *n, const char *path,
			  const char *what)
{
	if (n->type != YAML_SCALAR_NODE) {
		fail(l, n, path, "expected %s, not a %s", what,
		     n->type == YAML_MAPPING_NODE ? "map" : "list");
		return NULL;
	}
	if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length) {
		fail(l, n, path, "NUL character in the value");
		return NULL;
	}
	return (const char *)n->data.scalar.value;
}

/* A key of a map: its text, and no earlier key of the same map spelled the
 * same (YAML forbids it; libyaml does not check). */
static const char *map_key(struct loader *l, const yaml_node_t *map, const yaml_node_pair_t *pair,
			   const char *prefix)
{
	const yaml_node_t *k = node_at(l, pair->key);
	const char *name;

	if (k->type != YAML_SCALAR_NODE) {
		fail(l, k, *prefix ? prefix : "(top level)", "a key must be text");
		return NULL;
	}
	name = (const char *)k->data.scalar.value;
	for (const yaml_node_pair_t *p = map->data.mapping.pairs.start; p < pair; p++) {
		const yaml_node_t *earlier = node_at(l, p->key);

		if (earlier->type == YAML_SCALAR_NODE &&
		    !strcmp((const char *)earlier->data.scalar.value, name)) {
			fail(l, k, *prefix ? prefix : name, "%s%s%s given twice (first on line %u)",
			     *prefix ? "'" : "", *prefix ? name : "key", *prefix ? "'" : "",
			     line_of(earlier));
			return NULL;
		}
	}
	return name;
}

static int load_scalar(struct loader *l, const struct config_setting *s, yaml_node_t *v)
{
	char msg[512];
	const char *text;
	int err;

	if (is_null(v))
		err = set_default(l->c, s);
	else {
		if (!(text = scalar(l, v, s->key, "a single value")))
			return -EINVAL;
		err = set_scalar(l->c, s, text, msg, sizeof(msg));
		if (err == -EINVAL)
			return fail(l, v, s->key, "invalid value '%.*s': %s", QUOTE_MAX, text, msg);
	}
	if (err)
		return fail(l, v, s->key, "%s", strerror(-err)), err;
	l->c->origin[setting_index(s)] = line_of(v);
	return 0;
}

/* A map in the file replaces the default (empty) map; flags add to it. */
static int load_map(struct loader *l, const struct config_setting *s, yaml_node_t *v)
{
	char msg[512];
	int err;

	labels__clear(field(l->c, s));
	l->c->origin[setting_index(s)] = line_of(v);
	if (is_null(v))
		return 0;
	if (v->type != YAML_MAPPING_NODE)
		return fail(l, v, s->key, "expected a map of %s", s->type == CONFIG_LABELS
								   ? "label names to values"
								   : "header names to values");
	for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
		yaml_node_t *val = node_at(l, p->value);
		const char *name = map_key(l, v, p, s->key), *text;

		if (!name)
			return -EINVAL;
		if (is_null(val))
			text = "";
		else if (!(text = scalar(l, val, s->key, "a single value")))
			return -EINVAL;
		err = add_entry(l->c, s, name, text, msg, sizeof(msg));
		if (err)
			return fail(l, node_at(l, p->key), s->key, "%s", msg), err;
	}
	return 0;
}

/* --- relabel_configs --- */

enum relabel_field {
	RF_SOURCE_LABELS, RF_SEPARATOR, RF_REGEX, RF_TARGET_LABEL, RF_REPLACEMENT, RF_MODULUS,
	RF_ACTION, RF_MAX,
};

static const char *const relabel_fields[RF_MAX] = {
	[RF_SOURCE_LABELS] = "source_labels", [RF_SEPARATOR] = "separator",
	[RF_REGEX] = "regex",                 [RF_TARGET_LABEL] = "target_label",
	[RF_REPLACEMENT] = "replacement",     [RF_MODULUS] = "modulus",
	[RF_ACTION] = "action",
};

/* "replace, keep, ... or uppercase", from relabel's own names */
static void relabel_actions(char *out, size_t len)
{
	size_t used = 0;

	out[0] = 0;
	for (int a = 0; relabel__action_name((enum relabel_action)a) && used < len; a++)
		used += (size_t)snprintf(out + used, len - used, "%s%s",
					 a == 0 ? "" :
					 relabel__action_name((enum relabel_action)(a + 1)) ? ", " : " or ",
					 relabel__action_name((enum relabel_action)a));
}

/* What one entry of relabel_configs said, and where. */
struct relabel_item {
	struct relabel_spec spec;
	const char *sources[MAX_SOURCE_LABELS];
	const yaml_node_t *where[RF_MAX]; /* NULL: not given */
};

/* FNV-1a over a rule's fields, so two configurations can tell whether
 * their rules are the same without comparing compiled regexes. */
static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= ((const unsigned char *)p)[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t hash_str(uint64_t h, const char *s)
{
	/* NULL (the default) and "" differ; the NUL separates fields */
	if (!s)
		return hash_bytes(h, "\xff", 1);
	return hash_bytes(h, s, strlen(s) + 1);
}

static uint64_t hash_spec(uint64_t h, const struct relabel_spec *spec)
{
	h = hash_bytes(h, &spec->action, sizeof(spec->action));
	h = hash_bytes(h, &spec->nsource, sizeof(spec->nsource));
	for (size_t i = 0; i < spec->nsource; i++)
		h = hash_str(h, spec->source_labels[i]);
	h = hash_str(hash_str(h, spec->separator), spec->regex);
	h = hash_str(hash_str(h, spec->target_label), spec->replacement);
	h = hash_bytes(h, &spec->has_modulus, sizeof(spec->has_modulus));
	return hash_bytes(h, &spec->modulus, sizeof(spec->modulus));
}

static void reset_field(struct relabel_spec *spec, enum relabel_field f)
{
	switch (f) {
	case RF_SOURCE_LABELS:
		spec->source_labels = NULL;
		spec->nsource = 0;
		break;
	case RF_SEPARATOR:
		spec->separator = NULL;
		break;
	case RF_REGEX:
		spec->regex = NULL;
		break;
	case RF_TARGET_LABEL:
		spec->target_label = NULL;
		break;
	case RF_REPLACEMENT:
		spec->replacement = NULL;
		break;
	case RF_MODULUS:
		spec->modulus = 0;
		spec->has_modulus = false;
		break;
	case RF_ACTION:
		spec->action = RELABEL_REPLACE;
		break;
	case RF_MAX:
		break;
	}
}

/* relabel__compile says what is wrong, not in which field, and the error
 * line should point at the field: the one its message names, else the one
 * whose Prometheus default makes the rule compile (the regex first, the
 * most common mistake), else the whole entry. */
static enum relabel_field blame(const struct relabel_item *it, const char *msg)
{
	static const enum relabel_field order[] = { RF_REGEX, RF_TARGET_LABEL, RF_REPLACEMENT,
						    RF_SEPARATOR, RF_SOURCE_LABELS, RF_MODULUS,
						    RF_ACTION };
	char ignored[64];

	/* a message naming a field that was given ("'target_label' is
	 * invalid") names the culprit */
	for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
		const char *name = relabel_fields[order[i]], *at = msg;
		size_t len = strlen(name);

		while (it->where[order[i]] && (at = strstr(at, name))) {
			bool word_start = at == msg || !(isalnum((unsigned char)at[-1]) || at[-1] == '_');
			bool word_end = !(isalnum((unsigned char)at[len]) || at[len] == '_');

			if (word_start && word_end)
				return order[i];
			at += len;
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
		struct relabel_spec spec = it->spec;
		struct relabel_rule *rule = NULL;

		if (!it->where[order[i]])
			continue;
		reset_field(&spec, order[i]);
		if (!relabel__compile(&spec, &rule, ignored, sizeof(ignored))) {
			relabel__free(rule);
			return order[i];
		}
	}
	return RF_MAX;
}

static int load_relabel_item(struct loader *l, yaml_node_t *v, const char *path,
			     struct relabel_rule **out, uint64_t *hash)
{
	struct relabel_item it = { .spec = { .action = RELABEL_REPLACE } };
	char fpath[128], msg[512];
	enum relabel_field f;
	int err;

	if (v->type != YAML_MAPPING_NODE)
		return fail(l, v, path, "expected a relabel_config map");
	for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
		yaml_node_t *val = node_at(l, p->value);
		const char *name = map_key(l, v, p, path), *text = NULL;

		if (!name)
			return -EINVAL;
		for (f = 0; f < RF_MAX && strcmp(name, relabel_fields[f]); f++)
			;
		snprintf(fpath, sizeof(fpath), "%s.%s", path, name);
		if (f == RF_MAX)
			return fail(l, node_at(l, p->key), fpath, "unknown key (expected %s)",
				    "source_labels, separator, regex, target_label, replacement, "
				    "modulus or action");
		if (is_null(val))
			continue; /* the default */
		it.where[f] = val;
		if (f == RF_SOURCE_LABELS) {
			if (val->type != YAML_SEQUENCE_NODE)
				return fail(l, val, fpath, "expected a list of label names");
			if (val->data.sequence.items.top - val->data.sequence.items.start >
			    MAX_SOURCE_LABELS)
				return fail(l, val, fpath, "more than %d labels", MAX_SOURCE_LABELS);
			for (yaml_node_item_t *i = val->data.sequence.items.start;
			     i < val->data.sequence.items.top; i++) {
				yaml_node_t *ln = node_at(l, *i);

				if (!(text = scalar(l, ln, fpath, "a label name")))
					return -EINVAL;
				if (!labels__valid_name(text))
					return fail(l, ln, fpath, "invalid label name '%.*s'",
						    QUOTE_MAX, text);
				it.sources[it.spec.nsource++] = text;
			}
			it.spec.source_labels = it.sources;
			continue;
		}
		if (!(text = scalar(l, val, fpath, "a single value")))
			return -EINVAL;
		switch (f) {
		case RF_SEPARATOR:
			it.spec.separator = text;
			break;
		case RF_REGEX:
			it.spec.regex = text;
			break;
		case RF_TARGET_LABEL:
			it.spec.target_label = text;
			break;
		case RF_REPLACEMENT:
			it.spec.replacement = text;
			break;
		case RF_MODULUS:
			if (parse_u64(text, 10, &it.spec.modulus) || !it.spec.modulus)
				return fail(l, val, fpath, "invalid value '%.*s': expected a whole "
					    "number above 0", QUOTE_MAX, text);
			it.spec.has_modulus = true;
			break;
		case RF_ACTION:
			if (relabel__parse_action(text, &it.spec.action)) {
				relabel_actions(msg, sizeof(msg));
				return fail(l, val, fpath, "unknown action '%.*s': expected %s",
					    QUOTE_MAX, text, msg);
			}
			break;
		default:
			break;
		}
	}
	*hash = hash_spec(*hash, &it.spec);
	err = relabel__compile(&it.spec, out, msg, sizeof(msg));
	if (err == -ENOMEM)
		return fail(l, v, path, "out of memory"), err;
	if (err) {
		f = blame(&it, msg);
		if (f == RF_MAX)
			return fail(l, v, path, "%s", msg);
		snprintf(fpath, sizeof(fpath), "%s.%s", path, relabel_fields[f]);
		return fail(l, it.where[f], fpath, "%s", msg);
	}
	return 0;
}

static int load_relabel(struct loader *l, const struct config_setting *s, yaml_node_t *v)
{
	struct relabel_rule **rules = NULL;
	uint64_t hash = 0xcbf29ce484222325ull;
	size_t n = 0, count;
	char path[64];
	int err = 0;

	if (is_null(v)) {
		clear_setting(l->c, s);
		l->c->origin[setting_index(s)] = line_of(v);
		return 0;
	}
	if (v->type != YAML_SEQUENCE_NODE)
		return fail(l, v, s->key, "expected a list of relabel_config maps");
	count = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
	if (count > MAX_RELABEL_RULES)
		return fail(l, v, s->key, "more than %d rules", MAX_RELABEL_RULES);
	if (count && !(rules = calloc(count, sizeof(*rules))))
		return fail(l, v, s->key, "out of memory"), -ENOMEM;
	for (; n < count; n++) {
		snprintf(path, sizeof(path), "%s[%zu]", s->key, n);
		err = load_relabel_item(l, node_at(l, v->data.sequence.items.start[n]), path,
					&rules[n], &hash);
		if (err)
			break;
	}
	if (err) {
		free_rules(rules, n);
		return err;
	}
	clear_setting(l->c, s);
	l->c->relabel_rules = rules;
	l->c->nrelabel_rules = count;
	l->c->relabel_hash = count ? hash : 0; /* [] is the default */
	l->c->origin[setting_index(s)] = line_of(v);
	return 0;
}

/* True when some setting lives under "path." */
static bool is_section(const char *path)
{
	size_t len = strlen(path);

	for (size_t i = 0; i < ARRAY_SIZE(settings); i++)
		if (!strncmp(settings[i].key, path, len) && settings[i].key[len] == '.')
			return true;
	return false;
}

static int load_mapping(struct loader *l, yaml_node_t *map, const char *prefix)
{
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = node_at(l, p->key), *v = node_at(l, p->value);
		const char *name = map_key(l, map, p, prefix);
		const struct config_setting *s;
		char path[256];
		int err;

		if (!name)
			return -EINVAL;
		snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", name);
		s = config__find(path);
		if (s) {
			switch (s->type) {
			case CONFIG_LABELS:
			case CONFIG_HEADERS:
				err = load_map(l, s, v);
				break;
			case CONFIG_RELABEL:
				err = load_relabel(l, s, v);
				break;
			default:
				err = load_scalar(l, s, v);
				break;
			}
		} else if (is_section(path)) {
			if (is_null(v))
				continue;
			if (v->type != YAML_MAPPING_NODE)
				return fail(l, v, path, "expected a map of settings");
			err = load_mapping(l, v, path);
		} else {
			return fail(l, k, path, "unknown key");
		}
		if (err)
			return err;
	}
	return 0;
}

/* --- bounds, before libyaml builds the document --- */

struct yaml_anchor {
	char *name;
	uint64_t values, bytes; /* what an alias to it repeats */
	bool open;              /* its list or map is not closed yet */
};

struct prescan {
	const char *name;
	char *err;
	size_t errlen;
	struct yaml_anchor anchors[MAX_ANCHORS];
	size_t nanchors;
	/* the open lists and maps: their anchor (-1: none), and the counts
	 * before them */
	struct {
		int anchor;
		uint64_t values, bytes;
	} open[MAX_DEPTH];
	int depth;
	uint64_t values, bytes;
};

static int too_much(struct prescan *ps, const yaml_event_t *ev, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* "FILE:LINE: message" */
static int too_much(struct prescan *ps, const yaml_event_t *ev, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return errf(ps->err, ps->errlen, "%s:%zu: %s", ps->name, ev->start_mark.line + 1, msg);
}

static int count(struct prescan *ps, const yaml_event_t *ev, uint64_t values, uint64_t bytes)
{
	ps->values += values;
	ps->bytes += bytes;
	if (ps->values > MAX_VALUES)
		return too_much(ps, ev, "more than %d values (scalars, lists and maps, with aliases "
				"counted as what they repeat)", MAX_VALUES);
	if (ps->bytes > MAX_TEXT_BYTES)
		return too_much(ps, ev, "more than %u bytes of values (with aliases counted as "
				"what they repeat)", MAX_TEXT_BYTES);
	return 0;
}

/* Index of the new anchor, -1 for none, or an error (< -1). */
static int add_anchor(struct prescan *ps, const yaml_event_t *ev, const yaml_char_t *name,
		      bool open)
{
	struct yaml_anchor *a;

	if (!name)
		return -1;
	if (ps->nanchors == MAX_ANCHORS)
		return too_much(ps, ev, "more than %d anchors", MAX_ANCHORS) - 1;
	a = &ps->anchors[ps->nanchors];
	a->name = strdup((const char *)name);
	if (!a->name)
		return errf(ps->err, ps->errlen, "%s: out of memory", ps->name), -ENOMEM;
	a->open = open;
	return (int)ps->nanchors++;
}

static int prescan_event(struct prescan *ps, const yaml_event_t *ev)
{
	struct yaml_anchor *a = NULL;
	int rc, i;

	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		if (ev->data.scalar.length > MAX_VALUE_BYTES)
			return too_much(ps, ev, "a value of %zu bytes: at most %u",
					ev->data.scalar.length, MAX_VALUE_BYTES);
		if ((rc = count(ps, ev, 1, ev->data.scalar.length)))
			return rc;
		i = add_anchor(ps, ev, ev->data.scalar.anchor, false);
		if (i < -1)
			return i + 1;
		if (i >= 0) {
			ps->anchors[i].values = 1;
			ps->anchors[i].bytes = ev->data.scalar.length;
		}
		return 0;
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		if (ps->depth == MAX_DEPTH)
			return too_much(ps, ev, "lists and maps nested deeper than %d levels",
					MAX_DEPTH);
		ps->open[ps->depth].values = ps->values;
		ps->open[ps->depth].bytes = ps->bytes;
		if ((rc = count(ps, ev, 1, 0)))
			return rc;
		i = add_anchor(ps, ev, ev->type == YAML_SEQUENCE_START_EVENT
					       ? ev->data.sequence_start.anchor
					       : ev->data.mapping_start.anchor, true);
		if (i < -1)
			return i + 1;
		ps->open[ps->depth++].anchor = i;
		return 0;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		if (!ps->depth)
			return 0;
		ps->depth--;
		if (ps->open[ps->depth].anchor >= 0) {
			a = &ps->anchors[ps->open[ps->depth].anchor];
			a->values = ps->values - ps->open[ps->depth].values;
			a->bytes = ps->bytes - ps->open[ps->depth].bytes;
			a->open = false;
		}
		return 0;
	case YAML_ALIAS_EVENT:
		/* the last anchor of that name: YAML lets a name be reused */
		for (size_t k = ps->nanchors; k-- > 0;)
			if (!strcmp(ps->anchors[k].name, (const char *)ev->data.alias.anchor)) {
				a = &ps->anchors[k];
				break;
			}
		if (!a)
			return 0; /* undefined: the loader says so */
		if (a->open)
			return too_much(ps, ev, "alias '*%.*s' inside the value it names", QUOTE_MAX,
					a->name);
		return count(ps, ev, a->values, a->bytes);
	default:
		return 0;
	}
}

/* Walks text's events and checks the bounds above; 0 also for malformed
 * YAML (the loader reports it, having read no more than was checked). */
static int prescan(const char *name, const char *text, size_t len, char *err, size_t errlen)
{
	struct prescan *ps = calloc(1, sizeof(*ps));
	yaml_parser_t parser;
	int rc = 0;

	if (!ps)
		return errf(err, errlen, "%s: out of memory", name), -ENOMEM;
	*ps = (struct prescan){ .name = name, .err = err, .errlen = errlen };
	if (!yaml_parser_initialize(&parser)) {
		free(ps);
		return errf(err, errlen, "%s: out of memory", name), -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	for (;;) {
		yaml_event_t ev;
		bool end;

		if (!yaml_parser_parse(&parser, &ev)) {
			if (parser.error == YAML_MEMORY_ERROR) {
				errf(err, errlen, "%s: out of memory", name);
				rc = -ENOMEM;
			}
			break;
		}
		end = ev.type == YAML_STREAM_END_EVENT;
		rc = prescan_event(ps, &ev);
		yaml_event_delete(&ev);
		if (rc || end)
			break;
	}
	yaml_parser_delete(&parser);
	for (size_t i = 0; i < ps->nanchors; i++)
		free(ps->anchors[i].name);
	free(ps);
	return rc;
}

int config__load_buffer(struct config *c, const char *name, const char *text, size_t len,
			char *err, size_t errlen)
{
	struct loader l = { .c = c, .name = name, .err = err, .errlen = errlen };
	yaml_parser_t parser;
	yaml_document_t doc, extra;
	yaml_node_t *root;
	char *file;
	int rc;

	rc = prescan(name, text, len, err, errlen);
	if (rc)
		return rc;
	if (!yaml_parser_initialize(&parser))
		return errf(err, errlen, "%s: out of memory", name), -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		rc = errf(err, errlen, "%s:%zu: malformed YAML: %s%s%s", name,
			  parser.problem_mark.line + 1, parser.problem ? parser.problem : "error",
			  parser.context ? " " : "", parser.context ? parser.context : "");
		if (parser.error == YAML_MEMORY_ERROR)
			rc = -ENOMEM;
		yaml_parser_delete(&parser);
		return rc;
	}
	l.doc = &doc;
	root = yaml_document_get_root_node(&doc);
	if (root) {
		/* a second document would silently be ignored */
		if (!yaml_parser_load(&parser, &extra)) {
			rc = errf(err, errlen, "%s:%zu: malformed YAML: %s", name,
				  parser.problem_mark.line + 1,
				  parser.problem ? parser.problem : "error");
		} else {
			if (yaml_document_get_root_node(&extra))
				rc = errf(err, errlen, "%s:%zu: expected one YAML document, found "
					  "another", name, extra.start_mark.line + 1);
			yaml_document_delete(&extra);
		}
	}
	if (!rc && root && !is_null(root)) {
		if (root->type != YAML_MAPPING_NODE)
			rc = fail(&l, root, "(top level)", "expected a map of settings");
		else
			rc = load_mapping(&l, root, "");
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	if (rc)
		return rc;
	if (!(file = strdup(name)))
		return errf(err, errlen, "%s: out of memory", name), -ENOMEM;
	free(c->file);
	c->file = file;
	return 0;
}

/* What path is, when it is not a regular file: "a FIFO"... or NULL. */
static const char *special_file(const char *path)
{
	struct stat st;

	/* stat, not open: it never blocks, whatever the file is */
	if (stat(path, &st) != 0 || S_ISREG(st.st_mode))
		return NULL;
	return S_ISDIR(st.st_mode)    ? "a directory" :
	       S_ISFIFO(st.st_mode)   ? "a FIFO" :
	       S_ISSOCK(st.st_mode)   ? "a socket" :
	       S_ISCHR(st.st_mode)    ? "a character device" :
	       S_ISBLK(st.st_mode)    ? "a block device" : "not a file";
}

int config__load_file(struct config *c, const char *path, char *err, size_t errlen)
{
	struct buf b = { 0 };
	/* the type is checked before a byte is read: a FIFO or a device
	 * must not block brasa run, brasa check or a reload */
	int rc = buf_read_file(path, &b, MAX_FILE_BYTES);
	const char *special = rc ? special_file(path) : NULL;

	if (special)
		errf(err, errlen, "failed to read configuration file '%s': not a regular file (%s)",
		     path, special);
	else if (rc == -EFBIG)
		errf(err, errlen, "failed to read configuration file '%s': larger than %u bytes",
		     path, MAX_FILE_BYTES);
	else if (rc)
		errf(err, errlen, "failed to read configuration file '%s': %s", path,
		     strerror(-rc));
	else
		rc = config__load_buffer(c, path, (const char *)b.data, b.len, err, errlen);
	buf_release(&b);
	return rc;
}

/* --- flags --- */

enum {
	OPT_HELP = 256,
	OPT_CONFIG,
	OPT_SETTING, /* + 2 * index, + 1 for the switch flag */
};

/* The getopt_long table: --config, --help and every setting's flags. */
static void build_options(struct option *opts, char *shortopts)
{
	size_t n = 0;
	char *sp = shortopts;

	/* ':' first: getopt reports a missing value as ':' and prints nothing */
	*sp++ = ':';
	*sp++ = 'h';
	opts[n++] = (struct option){ "config", required_argument, NULL, OPT_CONFIG };
	opts[n++] = (struct option){ "help", no_argument, NULL, OPT_HELP };
	for (size_t i = 0; i < ARRAY_SIZE(settings); i++) {
		const struct config_setting *s = &settings[i];

		if (s->flag)
			opts[n++] = (struct option){ s->flag, required_argument, NULL,
						     OPT_SETTING + 2 * (int)i };
		if (s->switch_flag)
			opts[n++] = (struct option){ s->switch_flag, no_argument, NULL,
						     OPT_SETTING + 2 * (int)i + 1 };
		if (s->short_flag) {
			*sp++ = s->short_flag;
			*sp++ = ':';
		}
	}
	*sp = 0;
	opts[n] = (struct option){ 0 };
}

static const struct config_setting *short_setting(int opt)
{
	for (size_t i = 0; i < ARRAY_SIZE(settings); i++)
		if (settings[i].short_flag && settings[i].short_flag == opt)
			return &settings[i];
	return NULL;
}

/* The option as the user wrote it, without "=value". */
static void option_text(char **argv, char *out, size_t len)
{
	const char *arg = argv[optind - 1];

	snprintf(out, len, "%.*s", (int)strcspn(arg, "="), arg);
}

/* Both passes: c NULL only checks the syntax and collects cmdline. */
static int parse_args(struct config *c, struct config_cmdline *cmdline, int argc, char **argv,
		      char *err, size_t errlen)
{
	struct option opts[2 * ARRAY_SIZE(settings) + 3];
	char shortopts[2 * ARRAY_SIZE(settings) + 4], text[128], msg[512];
	int opt, saved_opterr = opterr, rc = 0;

	build_options(opts, shortopts);
	opterr = 0;
	/* 0, not 1: glibc then forgets its state from an earlier scan */
	optind = 0;
	while (!rc && (opt = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
		const struct config_setting *s = NULL;
		bool is_switch = false;

		if (opt == '?') {
			option_text(argv, text, sizeof(text));
			if (optopt >= OPT_HELP)
				rc = errf(err, errlen, "option '%s' takes no value", text);
			else if (optopt)
				rc = errf(err, errlen, "invalid option '-%c'", optopt);
			else
				rc = errf(err, errlen, "unrecognized option '%s'", text);
			break;
		}
		if (opt == ':') {
			option_text(argv, text, sizeof(text));
			rc = errf(err, errlen, "option '%s' needs a value", text);
			break;
		}
		if (opt == 'h' || opt == OPT_HELP) {
			if (cmdline)
				cmdline->help = true;
			continue;
		}
		if (opt == OPT_CONFIG) {
			if (cmdline)
				cmdline->config_path = optarg;
			continue;
		}
		if (opt >= OPT_SETTING) {
			s = &settings[(opt - OPT_SETTING) / 2];
			is_switch = (opt - OPT_SETTING) % 2;
		} else {
			s = short_setting(opt);
		}
		if (!s || !c)
			continue;
		if (is_switch) {
			rc = set_scalar(c, s, s->switch_value, msg, sizeof(msg));
		} else if (s->type == CONFIG_LABELS || s->type == CONFIG_HEADERS) {
			rc = add_flag_entry(c, s, optarg, msg, sizeof(msg));
		} else {
			rc = set_scalar(c, s, optarg, msg, sizeof(msg));
		}
		if (rc == -EINVAL)
			errf(err, errlen, "invalid --%s '%.*s': %s", s->flag, QUOTE_MAX, optarg, msg);
		else if (rc)
			errf(err, errlen, "%s", msg);
		else
			c->origin[setting_index(s)] = CONFIG_FROM_FLAG;
	}
	if (!rc && optind < argc)
		rc = errf(err, errlen, "unexpected argument '%.*s'", QUOTE_MAX, argv[optind]);
	opterr = saved_opterr;
	return rc;
}

int config__scan_args(int argc, char **argv, struct config_cmdline *out, char *err,
		      size_t errlen)
{
	*out = (struct config_cmdline){ 0 };
	return parse_args(NULL, out, argc, argv, err, errlen);
}

int config__apply_args(struct config *c, int argc, char **argv, char *err, size_t errlen)
{
	return parse_args(c, NULL, argc, argv, err, errlen);
}

/* --- checks between settings --- */

static int check_fail(const struct config *c, const struct config_setting *s, char *err,
		      size_t errlen, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* "FILE:LINE: KEY: message", "--FLAG: message" or "KEY: message" (a
 * default), by where s was set. */
static int check_fail(const struct config *c, const struct config_setting *s, char *err,
		      size_t errlen, const char *fmt, ...)
{
	uint32_t origin = c->origin[setting_index(s)];
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
	return errf(err, errlen, "%s: %s", where, msg);
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
	bool has_a = *(char *const *)cfield(c, sa), has_b = *(char *const *)cfield(c, sb);
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

	if (http_api__address_is_loopback(c->http.address) != 0)
		return NULL;
	if (!c->http.tls_cert_file)
		return auth ? "without TLS" : "without TLS or authentication";
	return auth ? NULL : "without authentication";
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
		errf(err, errlen, "out of memory");
		return rc;
	}
	if ((path && (rc = config__load_file(c, path, err, errlen))) ||
	    (rc = config__apply_args(c, argc, argv, err, errlen)) ||
	    (rc = config__check(c, err, errlen)))
		config__free(c);
	return rc;
}

/* --- comparing, help, the rest --- */

bool config__setting_equal(const struct config *a, const struct config *b,
			   const struct config_setting *s)
{
	const void *x = cfield(a, s), *y = cfield(b, s);

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

#define HELP_COLUMN 29
#define HELP_WIDTH 79

static void help_line(FILE *f, const char *left, const char *text)
{
	int col = fprintf(f, "%s", left);
	const char *p = text;

	if (col >= HELP_COLUMN - 1) {
		fputc('\n', f);
		col = 0;
	}
	fprintf(f, "%*s", HELP_COLUMN - col, "");
	col = HELP_COLUMN;
	/* word-wrap the text into the right-hand column */
	while (*p) {
		size_t word = strcspn(p, " ");

		if (col > HELP_COLUMN && col + 1 + (int)word > HELP_WIDTH) {
			fprintf(f, "\n%*s", HELP_COLUMN, "");
			col = HELP_COLUMN;
		} else if (col > HELP_COLUMN) {
			fputc(' ', f);
			col++;
		}
		fprintf(f, "%.*s", (int)word, p);
		col += (int)word;
		p += word;
		p += strspn(p, " ");
	}
	fputc('\n', f);
}

void config__help(FILE *f)
{
	char left[128], text[512];

	help_line(f, "      --config FILE", "read settings from this YAML file; flags win over "
					     "it (see docs/configuration.md)");
	for (size_t i = 0; i < ARRAY_SIZE(settings); i++) {
		const struct config_setting *s = &settings[i];

		if (s->flag) {
			if (s->short_flag)
				snprintf(left, sizeof(left), "  -%c, --%s %s", s->short_flag, s->flag,
					 s->metavar);
			else
				snprintf(left, sizeof(left), "      --%s %s", s->flag, s->metavar);
			if (s->def)
				snprintf(text, sizeof(text), "%s (default %s)", s->help, s->def);
			else
				snprintf(text, sizeof(text), "%s", s->help);
			help_line(f, left, text);
		}
		if (s->switch_flag) {
			snprintf(left, sizeof(left), "      --%s", s->switch_flag);
			help_line(f, left, s->switch_help ? s->switch_help : s->help);
		}
	}
	help_line(f, "  -h, --help", "show this help");
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
