/* The history store's handle: opening and creating it, moving a corrupt
 * one aside, the pool of read-only connections, stats
 * (history/history.h). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/errbuf.h"
#include "common/fsdir.h"
#include "common/macros.h"
#include "history/history_int.h"

static const char *const drop_names[HISTORY_DROP__MAX] = {
	[HISTORY_DROP_AGE] = "age",
	[HISTORY_DROP_BYTES] = "bytes",
	[HISTORY_DROP_DISK_FULL] = "disk_full",
	[HISTORY_DROP_CORRUPT_RECORD] = "corrupt_record",
	[HISTORY_DROP_CORRUPT_STORE] = "corrupt_store",
};

const char *history__drop_reason(enum history_drop d)
{
	return d < HISTORY_DROP__MAX ? drop_names[d] : "unknown";
}

const char *history__kind_name(enum history_kind k)
{
	return k < HISTORY_KIND__MAX ? history_tables[k] : "unknown";
}

void history__count(struct history *h, enum history_counter c, uint64_t n)
{
	uint64_t *v;

	pthread_mutex_lock(&h->lock);
	switch (c) {
	case HC_PUTS: v = &h->st.puts; break;
	case HC_PUT_FAILURES: v = &h->st.put_failures; break;
	case HC_PUT_NS: v = &h->st.put_ns; break;
	case HC_QUERIES: v = &h->st.queries; break;
	case HC_QUERY_FAILURES: v = &h->st.query_failures; break;
	case HC_QUERY_NS: v = &h->st.query_ns; break;
	case HC_DISK_FULL: v = &h->st.disk_full; break;
	case HC_CHECKPOINTS_BUSY: v = &h->st.checkpoints_busy; break;
	case HC_SWEEPS: v = &h->st.sweeps; break;
	case HC_SWEEP_FAILURES: v = &h->st.sweep_failures; break;
	case HC_SWEEP_ROWS: v = &h->st.sweep_rows; break;
	case HC_SWEEP_NS: v = &h->st.sweep_ns; break;
	default: v = &h->st.drops[c - HC_DROP0]; break;
	}
	*v += n;
	pthread_mutex_unlock(&h->lock);
}

uint64_t history__disk_bytes(const char *path)
{
	static const char *const suffixes[] = { "", "-wal", "-shm", ".reserve" };
	char name[4096];
	uint64_t n = 0;
	struct stat s;

	for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++) {
		snprintf(name, sizeof(name), "%s%s", path, suffixes[i]);
		if (stat(name, &s) == 0)
			n += (uint64_t)s.st_size;
	}
	return n;
}

/* ---- read-only connections ---- */

int history_reader__get(struct history *h, sqlite3 **db, uint64_t *generation)
{
	pthread_mutex_lock(&h->lock);
	*generation = h->generation;
	if (h->nreaders) {
		*db = h->readers[--h->nreaders];
		pthread_mutex_unlock(&h->lock);
		return 0;
	}
	pthread_mutex_unlock(&h->lock);
	return hdb__connect(h->path, false, db);
}

void history_reader__put(struct history *h, sqlite3 *db, uint64_t generation)
{
	if (!db)
		return;
	/* a query that failed may have left its read transaction open */
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	pthread_mutex_lock(&h->lock);
	if (generation == h->generation && h->nreaders < HISTORY_IDLE_READERS) {
		h->readers[h->nreaders++] = db;
		db = NULL;
	}
	pthread_mutex_unlock(&h->lock);
	sqlite3_close(db);
}

static void close_readers(struct history *h)
{
	pthread_mutex_lock(&h->lock);
	h->generation++;
	while (h->nreaders)
		sqlite3_close(h->readers[--h->nreaders]);
	pthread_mutex_unlock(&h->lock);
}

/* ---- the writer's store ---- */

/* PATH and its WAL moved to PATH.corrupt (one kept), its shared memory
 * file removed. */
static int move_aside(const char *path)
{
	char from[4096], to[4096];
	int err = 0;

	snprintf(to, sizeof(to), "%s.corrupt", path);
	if (rename(path, to) && errno != ENOENT)
		err = -errno;
	snprintf(from, sizeof(from), "%s-wal", path);
	snprintf(to, sizeof(to), "%s.corrupt-wal", path);
	if (rename(from, to) && errno == ENOENT)
		unlink(to); /* not one left over from an older store */
	snprintf(from, sizeof(from), "%s-shm", path);
	unlink(from);
	return err;
}

/* A new, empty store at path (which does not exist). */
static int create_store(const char *path, sqlite3 **out)
{
	sqlite3 *db;
	int fd, err;

	/* SQLite makes its files 0644; its WAL and shared memory take the
	 * main file's mode, so making that one first keeps them all 0600 */
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	close(fd);
	err = hdb__connect(path, true, &db);
	if (err)
		return err;
	err = hdb__create_schema(db);
	if (err) {
		sqlite3_close(db);
		return err;
	}
	*out = db;
	return 0;
}

/* Whether db passes quick_check; the first problem into why. */
static int quick_check(sqlite3 *db, char *why, size_t whylen)
{
	sqlite3_stmt *st;
	const char *msg;
	int err = hdb__prepare(db, "PRAGMA quick_check(1)", &st);
	int rc;

	if (err)
		return err;
	rc = sqlite3_step(st);
	msg = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
	if (rc != SQLITE_ROW) {
		err = hdb__errno(rc);
		snprintf(why, whylen, "%s", sqlite3_errmsg(db));
	} else if (!msg || strcmp(msg, "ok") != 0) {
		err = -EUCLEAN;
		snprintf(why, whylen, "quick_check: %s", msg ? msg : "(null)");
	}
	sqlite3_finalize(st);
	return err;
}

/* Opens the existing store at path for writing: -EUCLEAN (why says what)
 * when it is not a sound store of ours. */
static int open_existing(const char *path, sqlite3 **out, char *why, size_t whylen)
{
	sqlite3 *db = NULL;
	int err = hdb__connect(path, true, &db);

	if (err) {
		snprintf(why, whylen, "%s", strerror(-err));
		return err;
	}
	err = hdb__migrate(db);
	if (err < 0) {
		snprintf(why, whylen, "could not migrate it from schema 1: %s", strerror(-err));
		sqlite3_close(db);
		return err;
	}
	err = hdb__check_schema(db, why, whylen);
	if (!err)
		err = quick_check(db, why, whylen);
	if (err) {
		sqlite3_close(db);
		return err;
	}
	*out = db;
	return 0;
}

/* Removes what a store at path left (its WAL, shared memory): a WAL
 * without its database must not be replayed into a new one. */
static void remove_leftovers(const char *path)
{
	char name[4096];

	snprintf(name, sizeof(name), "%s-wal", path);
	unlink(name);
	snprintf(name, sizeof(name), "%s-shm", path);
	unlink(name);
}

/* The WAL holds about one window (each put checkpoints); a file left
 * larger by a big one is cut back to an eighth of max_bytes (1 MiB at
 * most), and a transaction past that checkpoints at commit. */
static int wal_limits(struct history *h)
{
	uint64_t limit = 1u << 20;
	char sql[128];

	if (h->opts.max_bytes && h->opts.max_bytes / 8 < limit)
		limit = MAX(h->opts.max_bytes / 8, 64u << 10);
	snprintf(sql, sizeof(sql), "PRAGMA journal_size_limit=%llu; PRAGMA wal_autocheckpoint=%llu",
		 (unsigned long long)limit, (unsigned long long)limit / 4096);
	return hdb__exec(h->db, sql);
}

/* The writer's connection, dictionary and key on a sound or fresh store;
 * a corrupt one is moved aside first, saying so in err. */
static int open_writer(struct history *h, char *err, size_t errlen)
{
	char why[256] = "";
	struct stat s;
	int ret;

	if (stat(h->path, &s) == 0 && s.st_size > 0) {
		ret = open_existing(h->path, &h->db, why, sizeof(why));
		if (ret == -EUCLEAN) {
			ret = move_aside(h->path);
			if (ret)
				return errbuf__printf(err, errlen, ret,
						      "history store '%s' is corrupt (%s) and could not be moved aside: %s",
						      h->path, why, strerror(-ret));
			errbuf__printf(err, errlen, 0,
				       "history store '%s' was corrupt (%s): moved to '%s.corrupt', started a new one",
				       h->path, why, h->path);
			history__count(h, HC_DROP0 + HISTORY_DROP_CORRUPT_STORE, 1);
		} else if (ret) {
			return errbuf__printf(err, errlen, ret, "failed to open history store '%s': %s",
					      h->path, why);
		}
	} else if (stat(h->path, &s) == 0 || errno == ENOENT) {
		/* empty: a creation that did not finish */
		unlink(h->path);
	} else {
		return errbuf__printf(err, errlen, -errno, "failed to open history store '%s': %m",
				      h->path);
	}
	if (!h->db) {
		remove_leftovers(h->path);
		ret = create_store(h->path, &h->db);
		if (ret)
			return errbuf__printf(err, errlen, ret, "failed to create history store '%s': %s",
					      h->path, strerror(-ret));
	}
	/* the last run may have left rows its dropped windows used */
	h->unswept = true;
	ret = hdb__hash_key(h->db, h->hash_key);
	if (!ret)
		ret = wal_limits(h);
	if (!ret)
		ret = dict__new(h->db, h->hash_key, h->opts.cache_bytes, h->opts.refresh_ns, &h->dict);
	if (ret)
		return errbuf__printf(err, errlen, ret, "failed to open history store '%s': %s",
				      h->path, strerror(-ret));
	return 0;
}

static void close_writer(struct history *h)
{
	dict__free(h->dict);
	h->dict = NULL;
	sqlite3_close(h->db);
	h->db = NULL;
}

int history__reset_store(struct history *h)
{
	char err[512];
	int ret;

	close_writer(h);
	close_readers(h);
	ret = move_aside(h->path);
	history__count(h, HC_DROP0 + HISTORY_DROP_CORRUPT_STORE, 1);
	if (!ret) {
		remove_leftovers(h->path);
		ret = open_writer(h, err, sizeof(err));
	}
	return ret;
}

/* The directory of path, made 0700 when missing (one level). */
static int make_dir(const char *path)
{
	_cleanup_free_ char *copy = strdup(path);
	const char *dir;

	if (!copy)
		return -ENOMEM;
	dir = dirname(copy);
	/* its parents too: /var/lib/brasa may not exist yet (a first
	 * `brasa run` outside the systemd unit, which creates it) */
	return fsdir__mkdir_parents(dir);
}

static int open_reader(struct history *h, char *err, size_t errlen)
{
	char why[256];
	sqlite3 *db;
	uint64_t gen;
	struct stat s;
	int ret;

	if (stat(h->path, &s) != 0)
		return errbuf__printf(err, errlen, -errno, "failed to open history store '%s': %m",
				      h->path);
	ret = history_reader__get(h, &db, &gen);
	if (ret)
		return errbuf__printf(err, errlen, ret, "failed to open history store '%s': %s",
				      h->path, strerror(-ret));
	ret = hdb__check_schema(db, why, sizeof(why));
	history_reader__put(h, db, gen);
	if (ret)
		return errbuf__printf(err, errlen, ret, "history store '%s' is unusable: %s", h->path,
				      why);
	return 0;
}

int history__open(const struct history_opts *opts, struct history **out, char *err,
		  size_t errlen)
{
	struct history *h;
	char lock[4096];
	int ret;

	if (err && errlen)
		err[0] = 0;
	if (!opts || !opts->path || !opts->path[0])
		return errbuf__printf(err, errlen, -EINVAL, "no history store path");
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->opts = *opts;
	h->lock_fd = -1;
	pthread_mutex_init(&h->lock, NULL);
	if (!h->opts.cache_bytes)
		h->opts.cache_bytes = HISTORY_DEFAULT_CACHE_BYTES;
	if (h->opts.refresh_ns <= 0)
		h->opts.refresh_ns = HISTORY_DEFAULT_REFRESH_NS;
	h->path = strdup(opts->path);
	h->opts.path = h->path;
	if (!h->path) {
		ret = -ENOMEM;
		goto fail;
	}
	if (opts->read_only) {
		ret = open_reader(h, err, errlen);
		if (ret)
			goto fail;
		*out = h;
		return 0;
	}
	ret = make_dir(h->path);
	if (ret) {
		errbuf__printf(err, errlen, ret, "failed to create the directory of '%s': %s",
			       h->path, strerror(-ret));
		goto fail;
	}
	/* one writer: SQLite would let two interleave their windows and
	 * each collect the other's dictionary rows */
	snprintf(lock, sizeof(lock), "%s.lock", h->path);
	h->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (h->lock_fd < 0 || flock(h->lock_fd, LOCK_EX | LOCK_NB)) {
		ret = errno == EWOULDBLOCK ? -EBUSY : -errno;
		errbuf__printf(err, errlen, ret, "failed to lock history store '%s': %s", h->path,
			       ret == -EBUSY ? "another brasa writes it" : strerror(-ret));
		goto fail;
	}
	h->reserve_bytes = HISTORY_RESERVE_BYTES;
	if (h->opts.max_bytes && h->opts.max_bytes / 8 < h->reserve_bytes)
		h->reserve_bytes = h->opts.max_bytes / 8;
	ret = open_writer(h, err, errlen);
	if (ret)
		goto fail;
	*out = h;
	return 0;
fail:
	history__close(h);
	return ret;
}

void history__close(struct history *h)
{
	if (!h)
		return;
	close_writer(h);
	close_readers(h);
	if (h->lock_fd >= 0)
		close(h->lock_fd);
	pthread_mutex_destroy(&h->lock);
	free(h->path);
	free(h);
}

void history__stats(struct history *h, struct history_stats *st)
{
	struct history_stats counts = { 0 };
	sqlite3 *db;
	uint64_t gen;

	*st = (struct history_stats){ 0 };
	if (!h)
		return;
	if (!history_reader__get(h, &db, &gen)) {
		/* one snapshot for every count */
		if (!hdb__exec(db, "BEGIN"))
			hdb__count_rows(db, &counts);
		history_reader__put(h, db, gen);
	}
	pthread_mutex_lock(&h->lock);
	*st = h->st;
	pthread_mutex_unlock(&h->lock);
	st->windows = counts.windows;
	st->series = counts.series;
	st->oldest_ns = counts.oldest_ns;
	st->newest_ns = counts.newest_ns;
	memcpy(st->dict_rows, counts.dict_rows, sizeof(st->dict_rows));
	st->bytes = history__disk_bytes(h->path);
	st->max_bytes = h->opts.max_bytes;
}
