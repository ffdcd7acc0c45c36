#include "symbolize/debuginfod.h"

#include <dirent.h>
#include <elfutils/debuginfod.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/macros.h"
#include "symbolize/elf_file.h"

const char *const debuginfod_result_names[DEBUGINFOD_RESULTS] = {
	[DEBUGINFOD_OK] = "ok",
	[DEBUGINFOD_NOT_FOUND] = "not_found",
	[DEBUGINFOD_FAILED] = "failed",
	[DEBUGINFOD_TIMEOUT] = "timeout",
	[DEBUGINFOD_REJECTED] = "rejected",
};

enum entry_state {
	ENTRY_CACHED = 0, /* its file is in the cache */
	ENTRY_MISSING,    /* not asked again before retry_at */
	ENTRY_QUEUED,
	ENTRY_FETCHING,
};

struct entry {
	char id[ELF_BUILD_ID_HEX_MAX];
	enum entry_state state;
	uint64_t bytes;    /* ENTRY_CACHED */
	uint64_t used;     /* last opened or fetched (CACHED), queued (QUEUED): ns */
	uint64_t retry_at; /* ENTRY_MISSING: CLOCK_MONOTONIC ns */
};

struct debuginfod {
	struct debuginfod_opts opts;
	char *cache_dir;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t threads[DEBUGINFOD_THREADS];
	unsigned nthreads;
	bool stopping;
	struct entry *entries; /* DEBUGINFOD_MAX_ENTRIES */
	size_t count;
	unsigned in_flight;    /* QUEUED and FETCHING */
	uint64_t generation;
	struct debuginfod_stats st;
};

static uint64_t now_real_ns(void)
{
	return clock__ns(CLOCK_REALTIME);
}

/* A build id as elf_file__build_id writes it: lower-case hex bytes. It
 * becomes a path component, so nothing else gets through. */
static bool valid_id(const char *id)
{
	size_t len = strnlen(id, ELF_BUILD_ID_HEX_MAX);

	if (len < 2 || len >= ELF_BUILD_ID_HEX_MAX || len % 2)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return false;
	return true;
}

static struct entry *find(struct debuginfod *d, const char *id)
{
	for (size_t i = 0; i < d->count; i++)
		if (!strcmp(d->entries[i].id, id))
			return &d->entries[i];
	return NULL;
}

/* Deletes a cached file (libdebuginfod's layout: DIR/ID/debuginfo). */
static void delete_file(struct debuginfod *d, const char *id)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s/debuginfo", d->cache_dir, id);
	if (unlink(path) != 0 && errno != ENOENT)
		log_debug("failed to delete '%s': %s", path, strerror(errno));
	snprintf(path, sizeof(path), "%s/%s", d->cache_dir, id);
	(void)rmdir(path);
}

static void forget(struct debuginfod *d, struct entry *e)
{
	if (e->state == ENTRY_CACHED) {
		d->st.cache_bytes -= e->bytes;
		d->st.cache_files--;
	}
	*e = d->entries[--d->count];
}

/* The least recently used cached file, NULL if none. */
static struct entry *lru_cached(struct debuginfod *d)
{
	struct entry *best = NULL;

	for (size_t i = 0; i < d->count; i++) {
		struct entry *e = &d->entries[i];

		if (e->state == ENTRY_CACHED && (!best || e->used < best->used))
			best = e;
	}
	return best;
}

static void evict(struct debuginfod *d, struct entry *e)
{
	delete_file(d, e->id);
	d->st.evictions++;
	forget(d, e);
}

/* Deletes the least recently used files until the cache fits its bound
 * (a file just fetched is the most recently used, and fits alone). */
static void fit_cache(struct debuginfod *d)
{
	struct entry *e;

	while (d->st.cache_bytes > d->opts.max_cache_bytes && (e = lru_cached(d)))
		evict(d, e);
}

/* A free entry, making room in a full table: the oldest missing build
 * id is forgotten, else the least recently used file deleted. */
static struct entry *new_entry(struct debuginfod *d, const char *id)
{
	struct entry *e = NULL;

	if (d->count == DEBUGINFOD_MAX_ENTRIES) {
		for (size_t i = 0; i < d->count; i++)
			if (d->entries[i].state == ENTRY_MISSING &&
			    (!e || d->entries[i].retry_at < e->retry_at))
				e = &d->entries[i];
		if (e)
			forget(d, e);
		else if ((e = lru_cached(d)))
			evict(d, e);
		else
			return NULL;
	}
	e = &d->entries[d->count++];
	memset(e, 0, sizeof(*e));
	snprintf(e->id, sizeof(e->id), "%s", id);
	return e;
}

/* What an earlier run left in the cache directory counts against the
 * bound, in the order its files were last used (opening one sets its
 * modification time). */
static void scan_cache(struct debuginfod *d)
{
	DIR *dir = opendir(d->cache_dir);
	struct dirent *de;

	if (!dir)
		return;
	while ((de = readdir(dir))) {
		char path[PATH_MAX];
		struct stat st;
		struct entry *e;

		if (!valid_id(de->d_name) || find(d, de->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%s/debuginfo", d->cache_dir, de->d_name);
		/* libdebuginfod's remembered misses are empty files */
		if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0)
			continue;
		e = new_entry(d, de->d_name);
		if (!e)
			break;
		e->state = ENTRY_CACHED;
		e->bytes = (uint64_t)st.st_size;
		e->used = (uint64_t)st.st_mtim.tv_sec * 1000000000ull + (uint64_t)st.st_mtim.tv_nsec;
		d->st.cache_bytes += e->bytes;
		d->st.cache_files++;
	}
	closedir(dir);
	fit_cache(d);
}

/* ---- fetching ---------------------------------------------------------- */

struct fetch_ctx {
	struct debuginfod *d;
	uint64_t deadline_ns;
};

/* libdebuginfod calls it about once a second while a transfer runs:
 * non-zero aborts it (past its time, or the client is being freed). */
static int past_deadline(debuginfod_client *client, long a, long b)
{
	const struct fetch_ctx *ctx = debuginfod_get_user_data(client);

	(void)a;
	(void)b;
	return ctx && (clock__past(ctx->deadline_ns) ||
		       __atomic_load_n(&ctx->d->stopping, __ATOMIC_RELAXED));
}

static enum debuginfod_result fetch(struct debuginfod *d, debuginfod_client *client,
				    const char *id, uint64_t *bytes)
{
	struct fetch_ctx ctx = {
		.d = d,
		.deadline_ns = clock__mono_ns() + (uint64_t)d->opts.timeout_ms * 1000000ull,
	};
	char *path = NULL;
	struct stat st;
	int fd;

	debuginfod_set_user_data(client, &ctx);
	fd = debuginfod_find_debuginfo(client, (const unsigned char *)id, 0, &path);
	debuginfod_set_user_data(client, NULL);
	free(path);
	if (fd < 0) {
		if (clock__past(ctx.deadline_ns) || fd == -ETIMEDOUT || fd == -ETIME)
			return DEBUGINFOD_TIMEOUT;
		log_debug("failed to fetch the debug file of %s: %s", id, strerror(-fd));
		return fd == -ENOENT ? DEBUGINFOD_NOT_FOUND : DEBUGINFOD_FAILED;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return DEBUGINFOD_FAILED;
	}
	close(fd);
	*bytes = (uint64_t)st.st_size;
	return DEBUGINFOD_OK;
}

/* The queued entry waiting longest, NULL if none. */
static struct entry *next_queued(struct debuginfod *d)
{
	struct entry *best = NULL;

	for (size_t i = 0; i < d->count; i++) {
		struct entry *e = &d->entries[i];

		if (e->state == ENTRY_QUEUED && (!best || e->used < best->used))
			best = e;
	}
	return best;
}

static void finish(struct debuginfod *d, const char *id, enum debuginfod_result r,
		   uint64_t bytes)
{
	struct entry *e = find(d, id);

	d->in_flight--;
	if (r == DEBUGINFOD_OK && bytes > d->opts.max_cache_bytes) {
		log_debug("debug file of %s is over the cache bound (%llu bytes), deleted", id,
			  (unsigned long long)bytes);
		delete_file(d, id);
		r = DEBUGINFOD_FAILED;
	}
	d->st.fetches[r]++;
	if (!e)
		return;
	if (r != DEBUGINFOD_OK) {
		e->state = ENTRY_MISSING;
		e->retry_at = clock__mono_ns() + (uint64_t)d->opts.retry_ms * 1000000ull;
		return;
	}
	e->state = ENTRY_CACHED;
	e->bytes = bytes;
	e->used = now_real_ns();
	d->st.cache_bytes += bytes;
	d->st.cache_files++;
	d->generation++;
	fit_cache(d);
}

static void *fetch_thread(void *arg)
{
	struct debuginfod *d = arg;
	debuginfod_client *client = debuginfod_begin();
	/* libdebuginfod (0.188) writes its verbose lines with dprintf even
	 * to fd -1, where glibc's dprintf leaks its 8 KiB buffer each time:
	 * a few per fetch. /dev/null takes them. */
	int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);

	if (client) {
		debuginfod_set_progressfn(client, past_deadline);
		if (devnull >= 0)
			debuginfod_set_verbose_fd(client, devnull);
	}
	pthread_mutex_lock(&d->lock);
	while (!d->stopping) {
		struct entry *e = next_queued(d);
		char id[ELF_BUILD_ID_HEX_MAX];
		enum debuginfod_result r = DEBUGINFOD_FAILED;
		uint64_t bytes = 0;

		if (!e) {
			pthread_cond_wait(&d->wake, &d->lock);
			continue;
		}
		e->state = ENTRY_FETCHING;
		snprintf(id, sizeof(id), "%s", e->id);
		pthread_mutex_unlock(&d->lock);
		if (client)
			r = fetch(d, client, id, &bytes);
		pthread_mutex_lock(&d->lock);
		finish(d, id, r, bytes);
	}
	pthread_mutex_unlock(&d->lock);
	if (client)
		debuginfod_end(client);
	if (devnull >= 0)
		close(devnull);
	return NULL;
}

/* ---- the API ----------------------------------------------------------- */

static int mkdir_p(const char *dir)
{
	_cleanup_free_ char *path = strdup(dir);

	if (!path)
		return -ENOMEM;
	for (char *p = path + 1;; p++) {
		char saved = *p;

		if (saved != '/' && saved != '\0')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) != 0 && errno != EEXIST)
			return -errno;
		*p = saved;
		if (!saved)
			return 0;
	}
}

/* libdebuginfod takes its settings from the environment only. */
static int set_environment(const struct debuginfod *d)
{
	char timeout[32], size[32], miss[32];

	snprintf(timeout, sizeof(timeout), "%u", (d->opts.timeout_ms + 999) / 1000);
	snprintf(size, sizeof(size), "%llu", (unsigned long long)d->opts.max_cache_bytes);
	snprintf(miss, sizeof(miss), "%u", d->opts.retry_ms / 1000);
	if (setenv(DEBUGINFOD_URLS_ENV_VAR, d->opts.urls, 1) ||
	    setenv(DEBUGINFOD_CACHE_PATH_ENV_VAR, d->cache_dir, 1) ||
	    setenv(DEBUGINFOD_TIMEOUT_ENV_VAR, timeout, 1) ||
	    setenv(DEBUGINFOD_MAXTIME_ENV_VAR, timeout, 1) ||
	    setenv(DEBUGINFOD_MAXSIZE_ENV_VAR, size, 1) ||
	    setenv(DEBUGINFOD_RETRY_LIMIT_ENV_VAR, "1", 1) ||
	    unsetenv(DEBUGINFOD_PROGRESS_ENV_VAR) || unsetenv(DEBUGINFOD_VERBOSE_ENV_VAR) ||
	    unsetenv(DEBUGINFOD_HEADERS_FILE_ENV_VAR))
		return -errno;
	/* libdebuginfod's own settings of its cache, files it reads there:
	 * how long it remembers a miss (ours), and its own cleaning (its
	 * defaults, written down where the cache's bound is documented) */
	{
		const char *const names[] = { "cache_miss_s", "cache_clean_interval_s",
					      "max_unused_age_s" };
		const char *const values[] = { miss, "86400", "604800" };

		for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
			char path[PATH_MAX];
			FILE *f;

			snprintf(path, sizeof(path), "%s/%s", d->cache_dir, names[i]);
			f = fopen(path, "we");
			if (f) {
				fprintf(f, "%s\n", values[i]);
				fclose(f);
			}
		}
	}
	return 0;
}

int debuginfod__new(const struct debuginfod_opts *opts, struct debuginfod **out)
{
	struct debuginfod *d;
	int err;

	if (!opts || !opts->urls || !opts->urls[strspn(opts->urls, " \t")])
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->opts = *opts;
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->wake, NULL);
	if (!d->opts.max_cache_bytes)
		d->opts.max_cache_bytes = DEBUGINFOD_DEFAULT_CACHE_BYTES;
	if (!d->opts.timeout_ms)
		d->opts.timeout_ms = DEBUGINFOD_DEFAULT_TIMEOUT_MS;
	if (!d->opts.max_fetches)
		d->opts.max_fetches = DEBUGINFOD_DEFAULT_MAX_FETCHES;
	d->opts.max_fetches = MIN(d->opts.max_fetches, DEBUGINFOD_MAX_ENTRIES / 2);
	if (!d->opts.retry_ms)
		d->opts.retry_ms = DEBUGINFOD_DEFAULT_RETRY_MS;
	d->st.max_cache_bytes = d->opts.max_cache_bytes;
	d->cache_dir = strdup(opts->cache_dir ? opts->cache_dir : DEBUGINFOD_DEFAULT_CACHE_DIR);
	d->entries = calloc(DEBUGINFOD_MAX_ENTRIES, sizeof(*d->entries));
	if (!d->cache_dir || !d->entries) {
		err = -ENOMEM;
		goto fail;
	}
	err = mkdir_p(d->cache_dir);
	if (!err)
		err = set_environment(d);
	if (err)
		goto fail;
	d->opts.urls = NULL; /* in the environment now; not kept */
	d->opts.cache_dir = d->cache_dir;
	scan_cache(d);
	for (; d->nthreads < DEBUGINFOD_THREADS; d->nthreads++) {
		err = -pthread_create(&d->threads[d->nthreads], NULL, fetch_thread, d);
		if (err)
			goto fail;
	}
	*out = d;
	return 0;
fail:
	debuginfod__free(d);
	return err;
}

void debuginfod__free(struct debuginfod *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->lock);
	__atomic_store_n(&d->stopping, true, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&d->wake);
	pthread_mutex_unlock(&d->lock);
	for (unsigned i = 0; i < d->nthreads; i++)
		pthread_join(d->threads[i], NULL);
	pthread_cond_destroy(&d->wake);
	pthread_mutex_destroy(&d->lock);
	free(d->entries);
	free(d->cache_dir);
	free(d);
}

int debuginfod__open(struct debuginfod *d, const char *build_id, char *path, size_t len)
{
	struct entry *e;
	int fd, err;

	if (!build_id || !valid_id(build_id))
		return -EINVAL;
	pthread_mutex_lock(&d->lock);
	e = find(d, build_id);
	if (e && e->state == ENTRY_CACHED) {
		snprintf(path, len, "%s/%s/debuginfo", d->cache_dir, build_id);
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd >= 0) {
			/* the file's time is its last use for the next start */
			(void)futimens(fd, NULL);
			e->used = now_real_ns();
			d->st.hits++;
			err = fd;
			goto out;
		}
		forget(d, e); /* deleted behind our back (libdebuginfod cleans too) */
		e = NULL;
	}
	if (e && e->state == ENTRY_MISSING && !clock__past(e->retry_at)) {
		err = -ENOENT;
		goto out;
	}
	if (e && (e->state == ENTRY_QUEUED || e->state == ENTRY_FETCHING)) {
		err = -EAGAIN;
		goto out;
	}
	if (d->in_flight >= d->opts.max_fetches) {
		d->st.fetches[DEBUGINFOD_REJECTED]++;
		err = -ENOBUFS;
		goto out;
	}
	if (!e)
		e = new_entry(d, build_id);
	if (!e) {
		err = -ENOBUFS;
		goto out;
	}
	e->state = ENTRY_QUEUED;
	e->used = now_real_ns();
	d->in_flight++;
	pthread_cond_signal(&d->wake);
	err = -EAGAIN;
out:
	pthread_mutex_unlock(&d->lock);
	return err;
}

uint64_t debuginfod__generation(struct debuginfod *d)
{
	uint64_t g;

	pthread_mutex_lock(&d->lock);
	g = d->generation;
	pthread_mutex_unlock(&d->lock);
	return g;
}

void debuginfod__stats(struct debuginfod *d, struct debuginfod_stats *st)
{
	pthread_mutex_lock(&d->lock);
	*st = d->st;
	st->in_flight = d->in_flight;
	pthread_mutex_unlock(&d->lock);
}
