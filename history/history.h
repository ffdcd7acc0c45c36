/* history: the agent's local past, every profile window it closes kept on
 * disk in one SQLite file (docs/history.md), bounded by age and by bytes,
 * and the queries over it: a time range merged into one pprof, samples per
 * window split by a label, the labels present, the stored ranges, and an
 * integrity check.
 *
 * What repeats across windows is stored once, as dictionary rows found
 * again by content (strings, mappings, functions, locations, stacks and
 * label sets: history/body.h); each (window, series) is one compressed
 * record of (stack, sample labels, count) entries (history/record.h).
 * Dictionary rows are collected once no kept window can use them: a row's
 * last_seen is at least the start of every window using it minus
 * refresh_ns, and collection deletes rows older than the oldest kept
 * window minus refresh_ns; under byte pressure a sweep also deletes every
 * row the kept windows' records do not reach (docs/history.md).
 *
 *   history__open(opts, &h, err, errlen)
 *                          opens or creates the store (its directory
 *                          0700, files 0600). A writer (!read_only): a
 *                          corrupt file, not an SQLite file, or another
 *                          program's is moved aside to PATH.corrupt (one
 *                          kept) and a fresh store created, said in err
 *                          (0 still) and counted (drops[CORRUPT_STORE]).
 *                          0, -EINVAL (no path), -EBUSY (another writer
 *                          has it), -ENOENT (read_only, no store),
 *                          -EUCLEAN (read_only, corrupt), -errno; err
 *                          says why when not 0 (NUL-terminated)
 *   history__close(h)      NULL-safe
 *   history__put(h, w)     stores one window in one transaction, then
 *                          prunes; 0, -EINVAL, -EROFS (read-only handle),
 *                          -ENOSPC (disk full even after dropping the
 *                          oldest windows once), -EUCLEAN (the store was
 *                          corrupt: it was moved aside and a fresh one
 *                          made, the window is lost), -EIO (also from
 *                          then on if no fresh one could be made),
 *                          -ENOMEM.
 *                          The store is as before on error
 *   history__prune(h, now_ns)
 *                          drops windows ended before now - retention,
 *                          then the oldest while the files exceed
 *                          max_bytes (the newest is kept), collects and
 *                          sweeps the dictionary, returns the space to
 *                          the file system; 0, -EROFS, -errno
 *   history__stats(h, &st) -
 *
 *   history__merge(h, from, to, filter, into, &info)
 *                          adds every stored window of into's sample type
 *                          (pprof_opts.type; never another: types are
 *                          not mixed) overlapping [from, to) that the
 *                          filter passes to the builder into (a CPU
 *                          window of another period has its counts
 *                          scaled to into's, so CPU time stays right;
 *                          an off-CPU window's values are its own). Each
 *                          sample is labeled with its series' labels, as
 *                          a live whole-window profile is (pid a number),
 *                          after its own labels (which win on a key they
 *                          share). Corrupt records are skipped and counted
 *                          (info and drops[CORRUPT_RECORD]). info may be
 *                          NULL. 0, -EINVAL, -EUCLEAN, -EIO, -ENOMEM,
 *                          -E2BIG (into's bounds), -EFBIG (past the
 *                          filter's max_bytes)
 *   history__timeline(h, from, to, filter, label, top_n, &tl)
 *                          per window of the filter's type overlapping
 *                          the range, its samples (off_cpu: nanoseconds)
 *                          split by the value of a series label ("" when
 *                          a series lacks it; a window without samples is
 *                          there with zeros); the top_n values over the
 *                          range by samples, the rest summed as one
 *                          series marked other. 0 or -errno (as merge)
 *   history__label_names(h, from, to, filter, &v)
 *   history__label_values(h, from, to, filter, name, &v)
 *                          the series label names (values of name) in the
 *                          range with their samples, sorted by name
 *                          (value). 0 or -errno
 *   history__ranges(h, from, to, type, &r)
 *                          stored windows of one sample type (an enum
 *                          pprof_type), or of each (HISTORY_ANY_TYPE),
 *                          grouped by type into contiguous spans (a gap
 *                          over half a window starts a new one)
 *   history__check(h, &c)  SQLite's integrity_check, every record and
 *                          dictionary row decoded, the references of the
 *                          records and of the rows they reach present
 *                          (rows no kept window reaches are counted:
 *                          they may refer to rows already collected);
 *                          0 (c says whether all is well) or -errno (the
 *                          check could not run)
 *   history_*__free(x)     NULL-safe; each result owns its arrays
 *   history__drop_reason(d), history__kind_name(k)
 *                          names for metrics
 *
 * Sample types: every window holds profiles of one type (enum pprof_type:
 * cpu, off_cpu); windows of several types may cover the same time (the
 * agent's CPU and off-CPU chains), and every query reads one type. A
 * series' and a window's samples are the totals of the profiles' default
 * sample type: samples for cpu, nanoseconds for off_cpu.
 *
 * Threads: put and prune from one thread at a time (the one writer). The
 * queries, check and stats may run from any threads at once, also during
 * a put: each query takes a read-only connection of its own (a small pool)
 * and reads one snapshot. A read-only handle (another process, such as
 * `brasa history`) reads while the daemon writes. A filter's matcher set
 * is used by the calling thread only (matcher.h).
 *
 * Bounds: cache_bytes for the writer's dictionary caches (a full cache
 * table is emptied and refills from the store: stats.cache_resets);
 * max_bytes for the files (main, write-ahead log counted as at least the
 * largest it was lately, shared memory, reserve), exceeded by at most the
 * newest window; retention_ns for age. A sweep's marks: one bit per row
 * id of each table, at most 64 MiB (past it: stats.sweep_failures).
 * Durability: each put is one transaction, synced when it commits
 * (synchronous=FULL: one fsync per window), so a crash or power loss
 * loses at most the window being put.
 */
#ifndef BRASA_HISTORY_HISTORY_H
#define BRASA_HISTORY_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/labels.h"
#include "core/pprof.h"
#include "history/body.h"

#define HISTORY_DEFAULT_CACHE_BYTES ((size_t)32 << 20)
#define HISTORY_DEFAULT_REFRESH_NS (3600ll * 1000000000ll)
/* history__ranges: windows of every sample type */
#define HISTORY_ANY_TYPE (-1)

struct history;
struct matcher_set;

struct history_opts {
	const char *path;      /* the store's file; its directory is created */
	uint64_t max_bytes;    /* 0: no bound */
	int64_t retention_ns;  /* 0: no bound */
	bool read_only;
	size_t cache_bytes;    /* 0: HISTORY_DEFAULT_CACHE_BYTES */
	/* how often at most a dictionary row's last_seen is rewritten, and so
	 * how long rows outlive the last window using them (0: 1 hour) */
	int64_t refresh_ns;
	/* for the benchmark: the records' codec (enum record_codec); 0: zstd */
	int codec;
};

/* One series of a window: a process label set and its profile. */
struct history_series {
	const struct labels *labels;
	struct pprof *profile;
};

struct history_window {
	int64_t start_unix_ns;
	int64_t duration_ns;
	uint64_t period_ns; /* 0: the first series' profile's (off_cpu: none) */
	const struct history_series *series;
	size_t n;
	enum pprof_type type; /* every series' profile's (else -EINVAL); default cpu */
};

struct history_filter {
	/* timeline, labels: the windows of this type (default cpu); a merge
	 * reads the type of the builder it fills */
	enum pprof_type type;
	int32_t pid;               /* -1: any; else the series' "pid" label */
	struct matcher_set *match; /* over the series labels; NULL: all */
	/* merge: a bound on the memory of the merge (its own tables and the
	 * builder it fills), for requests from untrusted clients; past it
	 * the merge stops with -EFBIG. 0: none */
	size_t max_bytes;
};

enum history_drop {
	HISTORY_DROP_AGE,            /* windows past retention */
	HISTORY_DROP_BYTES,          /* windows dropped for max_bytes */
	HISTORY_DROP_DISK_FULL,      /* windows dropped when the disk was full */
	HISTORY_DROP_CORRUPT_RECORD, /* records a query or check skipped */
	HISTORY_DROP_CORRUPT_STORE,  /* stores moved aside */
	HISTORY_DROP__MAX,
};

struct history_stats {
	uint64_t bytes, max_bytes;   /* the files on disk */
	uint64_t windows, series;
	int64_t oldest_ns, newest_ns; /* first start, last end; 0: empty */
	uint64_t puts, put_failures, put_ns; /* put_ns: wall time summed */
	uint64_t queries, query_failures, query_ns;
	uint64_t drops[HISTORY_DROP__MAX];
	uint64_t dict_rows[HISTORY_KIND__MAX];
	uint64_t cache_bytes, cache_resets;
	uint64_t disk_full;          /* puts that met SQLITE_FULL */
	uint64_t checkpoints_busy;   /* WAL not truncated: a reader held it */
	/* the dictionary's exact collections, run under byte pressure
	 * (docs/history.md): done, failed (a corrupt record, the marks'
	 * bound), rows deleted, wall time summed */
	uint64_t sweeps, sweep_failures, sweep_rows, sweep_ns;
	/* room max_bytes keeps for the WAL: the largest one lately (at most
	 * half the bound) */
	uint64_t wal_budget;
};

struct history_merge_info {
	uint64_t windows, records, samples, corrupt_records;
	int64_t start_ns, end_ns;    /* of the windows merged; 0: none */
};

struct history_timeline_window {
	int64_t start_ns, duration_ns;
	uint64_t samples;            /* every series the filter passes */
};

struct history_timeline_series {
	char *value;                 /* NULL for the other series */
	uint64_t total;
	uint64_t *counts;            /* one per window */
};

struct history_timeline {
	struct history_timeline_window *windows;
	size_t nwindows;
	struct history_timeline_series *series; /* by total, other last */
	size_t nseries;
};

struct history_value {
	char *value;
	uint64_t samples;
};

struct history_values {
	struct history_value *v;
	size_t n;
};

struct history_range {
	enum pprof_type type;
	int64_t start_ns, end_ns;
	uint64_t windows, series, samples, bytes; /* bytes: its records */
};

struct history_ranges {
	struct history_range *v;
	size_t n;
};

struct history_check {
	bool ok;
	uint64_t windows, records, corrupt_records;
	uint64_t dict_rows, bad_dict_rows, missing_refs;
	uint64_t unreached_rows; /* no kept window uses them: collected later */
	char *problems; /* one line each, the first few; NULL when ok */
};

int history__open(const struct history_opts *opts, struct history **out, char *err,
		  size_t errlen);
void history__close(struct history *h);
int history__put(struct history *h, const struct history_window *w);
int history__prune(struct history *h, int64_t now_ns);
void history__stats(struct history *h, struct history_stats *st);

int history__merge(struct history *h, int64_t from_ns, int64_t to_ns,
		   const struct history_filter *f, struct pprof *into,
		   struct history_merge_info *info);
int history__timeline(struct history *h, int64_t from_ns, int64_t to_ns,
		      const struct history_filter *f, const char *label, size_t top_n,
		      struct history_timeline **out);
void history_timeline__free(struct history_timeline *tl);
int history__label_names(struct history *h, int64_t from_ns, int64_t to_ns,
			 const struct history_filter *f, struct history_values **out);
int history__label_values(struct history *h, int64_t from_ns, int64_t to_ns,
			  const struct history_filter *f, const char *name,
			  struct history_values **out);
void history_values__free(struct history_values *v);
int history__ranges(struct history *h, int64_t from_ns, int64_t to_ns, int type,
		    struct history_ranges **out);
void history_ranges__free(struct history_ranges *r);
int history__check(struct history *h, struct history_check **out);
void history_check__free(struct history_check *c);

const char *history__drop_reason(enum history_drop d);
const char *history__kind_name(enum history_kind k);

#endif
