/* config: the settings of `brasa run`, from a YAML file and from flags
 * naming the same settings (flags win over the file).
 *
 * One table (config__settings) describes every setting: its YAML key path,
 * its flags, type, default, bounds and help text. The YAML loader, the
 * getopt_long options, `brasa run --help`, the defaults and the reference
 * documentation's test all read it, so no setting is spelled twice.
 *
 *   config__defaults(c)              c holds every default; 0 or -ENOMEM
 *                                    (kubernetes.api_url stays NULL: its
 *                                    default is k8s__in_cluster_url())
 *   config__load_file(c, path, err, len)   settings of the YAML file on top
 *                                    of c; 0, -EINVAL (bad file: err is
 *                                    "PATH:LINE: KEY: message"), or -errno
 *                                    (unreadable: "failed to read ...",
 *                                    -EFBIG over 1 MiB; a directory, FIFO,
 *                                    socket or device: "... not a regular
 *                                    file (a FIFO)", never blocking); on
 *                                    error c may hold part of the file:
 *                                    free it
 *   config__load_buffer(c, name, text, n, err, len)   the same for text in
 *                                    memory, named name in errors. Before
 *                                    libyaml builds the document, its events
 *                                    are checked against bounds (nesting
 *                                    depth 32, 65536 values and 1 MiB of
 *                                    text with aliases expanded, 64 KiB per
 *                                    value, 256 anchors, no alias inside
 *                                    its own anchor): "PATH:LINE: message"
 *   config__scan_args(argc, argv, &cmdline, err, len)   first pass over
 *                                    the flags: finds --config and --help,
 *                                    rejects unknown options, missing
 *                                    arguments and positional arguments;
 *                                    0 or -EINVAL (err: one line).
 *                                    Permutes argv as getopt_long does
 *   config__apply_args(c, argc, argv, err, len)   the flags' values on top
 *                                    of c, in order; 0 or -EINVAL with
 *                                    "invalid --FLAG 'VALUE': message";
 *                                    --config and --help are skipped
 *   config__check(c, err, len)       checks between settings (a client
 *                                    certificate without its key...);
 *                                    0 or -EINVAL naming where each was set
 *   config__read(c, path, argc, argv, err, len)   all of the above in
 *                                    order (path may be NULL); on error c
 *                                    is left empty (freed)
 *   config__free(c)                  frees what c owns, NULL-safe; c is
 *                                    left zeroed
 *   config__settings(&n)             the table, n entries
 *   config__find(key)                a setting by key path, or NULL
 *   config__setting_equal(a, b, s)   same value of s in both configs
 *                                    (relabel_configs: same rules as written)
 *   config__parse_value(s, text, out, err, len)   text parsed and checked
 *                                    as setting s; out points to the
 *                                    setting's C type (see enum
 *                                    config_type); not for maps or lists.
 *                                    0 or -EINVAL with the reason in err
 *   config__help(f)                  the option lines of `brasa run --help`
 *   config__kubernetes_enabled(c)    kubernetes.enabled resolved ("auto":
 *                                    on when kubernetes.api_url is set or
 *                                    $KUBERNETES_SERVICE_HOST is)
 *   config__http_exposure(c)         NULL, or how http.address is served
 *                                    to the network unprotected ("without
 *                                    TLS", "without authentication"...):
 *                                    config__check refuses it unless
 *                                    http.allow_insecure is true
 *   config__labeling(c, &l)          the labeling part (agent/proclabels.h)
 *                                    for profiler__set_labeling; l borrows
 *                                    from c: valid while c is
 *
 * Errors are one line (control characters become spaces). Empty strings
 * are stored as NULL: a NULL string setting is unset. Not thread-safe:
 * the flag functions use getopt's global state.
 */
#ifndef BRASA_AGENT_CONFIG_H
#define BRASA_AGENT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/labels.h"
/* log_level, sampling.unwind and remote.protocol hold their modules' own
 * enums */
#include "common/log.h"
#include "core/profiler.h"
#include "ship/remote.h"

struct relabel_rule;

#define CONFIG_MAX_SETTINGS 64

enum config_kubernetes {
	CONFIG_KUBERNETES_AUTO = 0,
	CONFIG_KUBERNETES_FALSE,
	CONFIG_KUBERNETES_TRUE,
};

/* Durations are milliseconds, sizes bytes. */
struct config {
	char *node;                  /* NULL: the host name */
	enum log_level log_level;
	struct {
		char *address;
		uint32_t max_profile_seconds;
		uint64_t read_timeout_ms;
		uint32_t max_connections;
		char *tls_cert_file;
		char *tls_key_file;
		char *tls_client_ca_file;
		char *bearer_token_file;
		bool allow_insecure;
	} http;
	struct {
		uint32_t frequency;
		bool kernel_stacks;
		enum unwind_mode unwind;
		uint64_t unwind_table_memory;
		bool off_cpu;            /* docs/off-cpu.md */
		uint32_t off_cpu_one_in; /* one switch-out in N is recorded */
		uint64_t off_cpu_min_time_ms;
	} sampling;
	struct {
		bool demangle;           /* C++ and Rust names */
		struct {                 /* symbolize/debuginfod.h */
			char *urls;      /* space-separated; NULL: off */
			char *cache_dir;
			uint64_t cache_size;
			uint64_t timeout_ms;
			uint32_t max_fetches;
			uint64_t retry_after_ms;
		} debuginfod;
	} symbolize;
	struct {                     /* docs/how-it-works.md#memory */
		uint64_t symbol_memory;
		uint64_t perf_map_memory;
		uint64_t process_table_memory;
		uint64_t profile_memory;
		uint64_t held_sample_memory;
		uint64_t load_timeout_ms;
		uint64_t unwind_table_build_timeout_ms;
		uint64_t unwind_table_build_memory;
	} limits;
	struct {
		struct labels external;
		bool thread_labels;
	} labels;
	/* relabel_configs, compiled in file order; owned */
	struct relabel_rule **relabel_rules;
	size_t nrelabel_rules;
	uint64_t relabel_hash;       /* of the rules as written, for comparing */
	struct {
		enum config_kubernetes enabled;
		char *api_url;       /* NULL: k8s__in_cluster_url() */
		char *token_file;
		char *ca_file;
		uint64_t poll_interval_ms;
	} kubernetes;
	struct {
		char *url;           /* NULL: no uploads */
		enum remote_protocol protocol;
		uint64_t upload_interval_ms;
		uint64_t timeout_ms;
		uint64_t max_retry_backoff_ms;
		char *bearer_token_file;
		char *basic_auth_username;
		char *basic_auth_password_file;
		char *tenant_id;     /* sent as X-Scope-OrgID */
		struct labels headers; /* name -> value, names as given */
		char *tls_ca_file;
		char *tls_cert_file;
		char *tls_key_file;
		bool tls_insecure_skip_verify;
		char *spool_dir;
		uint64_t spool_max_bytes;
	} remote;
	struct {                     /* the local history store (docs/history.md) */
		char *dir;
		uint64_t retention_ms;   /* 0: no history */
		uint64_t max_bytes;      /* 0: no history */
	} history;

	/* Where each setting last came from, by table index, for errors
	 * that involve two settings: 0 default, > 0 a line of file,
	 * CONFIG_FROM_FLAG a flag. */
	uint32_t origin[CONFIG_MAX_SETTINGS];
	char *file;                  /* the file loaded last, or NULL */
};

#define CONFIG_FROM_FLAG UINT32_MAX

/* The C type a setting's value has in struct config (and what
 * config__parse_value writes). */
enum config_type {
	CONFIG_STRING,      /* char *, any text */
	CONFIG_PATH,        /* char *, a file or directory path */
	CONFIG_URL,         /* char *, http:// or https:// with a host */
	CONFIG_ADDRESS,     /* char *, as serve/http_address.h parses it */
	CONFIG_BOOL,        /* bool, true or false */
	CONFIG_U32,         /* uint32_t, min..max */
	CONFIG_SIZE,        /* uint64_t bytes, parse_size, min..max */
	CONFIG_DURATION,    /* uint64_t ms, min..max */
	CONFIG_ENUM,        /* an enum (int-sized): index into choices */
	CONFIG_LABELS,      /* struct labels: label name -> value */
	CONFIG_HEADERS,     /* struct labels: HTTP header name -> value */
	CONFIG_RELABEL,     /* relabel_rules/nrelabel_rules (file only) */
};

struct config_setting {
	const char *key;          /* YAML path: "sampling.frequency" */
	const char *flag;         /* long option taking a value, or NULL */
	char short_flag;          /* e.g. 'F', or 0 */
	const char *switch_flag;  /* long option without a value, or NULL */
	const char *switch_value; /* what switch_flag sets */
	const char *switch_help;  /* switch_flag's --help text; NULL: help */
	const char *metavar;      /* the value's name in --help: "HZ" */
	enum config_type type;
	const char *def;          /* default, parsed like any value; NULL: empty */
	const char *def_doc;      /* the default as documented, when not def */
	const char *help;         /* one phrase: --help and the docs */
	const char *expect;       /* "expected ..." for a bad value; NULL:
				   * built from the type and bounds */
	bool reloadable;          /* SIGHUP applies a change without a restart */
	bool repeatable;          /* maps: each flag adds one entry */
	uint64_t min, max;        /* U32, SIZE, DURATION (ms) */
	bool zero_off;            /* SIZE, DURATION: 0 is allowed too (turns
				   * the feature off) */
	const char *const *choices; /* ENUM: names in enum order, NULL-ended */
	size_t offset;            /* into struct config */
};

struct config_cmdline {
	const char *config_path;  /* --config FILE, or NULL */
	bool help;                /* -h or --help was given */
};

int config__defaults(struct config *c);
int config__load_file(struct config *c, const char *path, char *err, size_t errlen);
int config__load_buffer(struct config *c, const char *name, const char *text, size_t len,
			char *err, size_t errlen);
int config__scan_args(int argc, char **argv, struct config_cmdline *out, char *err,
		      size_t errlen);
int config__apply_args(struct config *c, int argc, char **argv, char *err, size_t errlen);
int config__check(const struct config *c, char *err, size_t errlen);
int config__read(struct config *c, const char *path, int argc, char **argv, char *err,
		 size_t errlen);
void config__free(struct config *c);

const struct config_setting *config__settings(size_t *n);
const struct config_setting *config__find(const char *key);
bool config__setting_equal(const struct config *a, const struct config *b,
			   const struct config_setting *s);
int config__parse_value(const struct config_setting *s, const char *text, void *out,
			char *err, size_t errlen);
void config__help(FILE *f);
bool config__kubernetes_enabled(const struct config *c);
const char *config__http_exposure(const struct config *c);
void config__labeling(const struct config *c, struct profiler_labeling *out);

#endif
