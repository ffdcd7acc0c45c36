/* debuginfod: fetches the separate debug files of stripped objects by
 * build id from debuginfod servers (Debian's libdebuginfod), on threads
 * of its own, into a cache directory bounded in bytes.
 *
 * Off unless servers are configured: DEBUGINFOD_URLS of the agent's
 * environment is never read (debuginfod__new overwrites it with
 * opts->urls, and sets libdebuginfod's other variables: its cache is
 * opts->cache_dir, so the bound covers every file it keeps there).
 *
 * Never blocks its caller: debuginfod__open answers from the cache or
 * from what it remembers, and otherwise queues a fetch and answers
 * -EAGAIN; the caller asks again once debuginfod__generation has moved
 * (a fetch brought a file). Fetches run on DEBUGINFOD_THREADS threads,
 * each within opts->timeout_ms; at most opts->max_fetches wait or run at
 * once (past it, -ENOBUFS, counted as rejected, and asked again later).
 * A build id whose fetch failed, timed out or was not found is not asked
 * again for opts->retry_ms.
 *
 * The cache holds at most opts->max_cache_bytes: after each fetch (and
 * at start, for what an earlier run left) the least recently opened
 * files are deleted until the rest fits; a file over the whole bound is
 * deleted at once and remembered as missing. Files already open stay
 * readable (unlinked, not truncated). What libdebuginfod writes is
 * trusted no more than the objects' own files: the caller checks a
 * fetched file as any other debug file (debug_file.h).
 *
 *   debuginfod__new(opts, &d)      0, -EINVAL (no URL), -errno (the cache
 *                                  directory, threads); call it before
 *                                  other threads run (setenv)
 *   debuginfod__free(d)            NULL-safe; aborts fetches in flight
 *                                  (libdebuginfod checks about once a
 *                                  second) and waits for their threads
 *   debuginfod__open(d, build_id, path, len)
 *                                  fd of the cached debug file (O_CLOEXEC,
 *                                  the caller's; its path in path), or
 *                                  -EAGAIN (being fetched), -ENOENT
 *                                  (missing, remembered), -ENOBUFS (queue
 *                                  full), -EINVAL (not a build id)
 *   debuginfod__generation(d)      moves when a fetch brought a file
 *   debuginfod__stats(d, &st)
 * Every call is thread-safe.
 */
#ifndef BRASA_SYMBOLIZE_DEBUGINFOD_H
#define BRASA_SYMBOLIZE_DEBUGINFOD_H

#include <stddef.h>
#include <stdint.h>

#define DEBUGINFOD_THREADS 2
#define DEBUGINFOD_DEFAULT_CACHE_DIR "/var/cache/brasa/debuginfod"
#define DEBUGINFOD_DEFAULT_CACHE_BYTES (1ull << 30)
#define DEBUGINFOD_DEFAULT_TIMEOUT_MS 30000
#define DEBUGINFOD_DEFAULT_MAX_FETCHES 16
#define DEBUGINFOD_DEFAULT_RETRY_MS (10 * 60 * 1000)
/* Build ids remembered (cached, missing or being fetched); past it the
 * oldest missing ones are forgotten, then the least recently used files
 * deleted. */
#define DEBUGINFOD_MAX_ENTRIES 4096

struct debuginfod;

struct debuginfod_opts {
	const char *urls;          /* space-separated server URLs; NULL or "": off */
	const char *cache_dir;     /* default DEBUGINFOD_DEFAULT_CACHE_DIR */
	uint64_t max_cache_bytes;  /* default DEBUGINFOD_DEFAULT_CACHE_BYTES */
	unsigned timeout_ms;       /* one fetch, default 30 s */
	unsigned max_fetches;      /* queued and in flight, default 16 */
	unsigned retry_ms;         /* a miss is remembered this long, default 10 min */
};

enum debuginfod_result {
	DEBUGINFOD_OK = 0,     /* a file fetched */
	DEBUGINFOD_NOT_FOUND,  /* the servers have none */
	DEBUGINFOD_FAILED,     /* unreachable, an error, or over the cache bound */
	DEBUGINFOD_TIMEOUT,    /* past timeout_ms */
	DEBUGINFOD_REJECTED,   /* not queued: max_fetches reached */
	DEBUGINFOD_RESULTS,
};

extern const char *const debuginfod_result_names[DEBUGINFOD_RESULTS];

struct debuginfod_stats {
	uint64_t fetches[DEBUGINFOD_RESULTS];
	uint64_t cache_bytes, max_cache_bytes;
	uint64_t cache_files;
	uint64_t evictions;        /* files deleted under the bound */
	uint64_t hits;             /* opens answered from the cache */
	unsigned in_flight;        /* queued or running */
};

int debuginfod__new(const struct debuginfod_opts *opts, struct debuginfod **out);
void debuginfod__free(struct debuginfod *d);
int debuginfod__open(struct debuginfod *d, const char *build_id, char *path, size_t len);
uint64_t debuginfod__generation(struct debuginfod *d);
void debuginfod__stats(struct debuginfod *d, struct debuginfod_stats *st);

#endif
