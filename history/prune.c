/* The history store's bounds: age, bytes, dictionary collection, space
 * back to the file system (history/history.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/macros.h"
#include "history/history_int.h"

static uint64_t file_bytes(const struct history *h, const char *suffix)
{
	char path[4096];
	struct stat s;

	snprintf(path, sizeof(path), "%s%s", h->path, suffix);
	return stat(path, &s) == 0 ? (uint64_t)s.st_size : 0;
}

static uint64_t main_bytes(const struct history *h)
{
	return file_bytes(h, "");
}

static uint64_t wal_bytes(const struct history *h)
{
	return file_bytes(h, "-wal");
}

/* Windows starting at or before cut, and their series. */
int history__drop_windows(struct history *h, int64_t cut, enum history_drop reason)
{
	static const char *const sql[] = {
		"DELETE FROM series WHERE window IN (SELECT id FROM windows WHERE start_ns <= ?)",
		"DELETE FROM windows WHERE start_ns <= ?",
	};
	uint64_t dropped = 0;

	for (size_t i = 0; i < ARRAY_SIZE(sql); i++) {
		sqlite3_stmt *st;
		int err = hdb__errno(sqlite3_prepare_v2(h->db, sql[i], -1, &st, NULL));

		if (err)
			return err;
		sqlite3_bind_int64(st, 1, cut);
		err = hdb__errno(sqlite3_step(st));
		sqlite3_finalize(st);
		if (err)
			return err;
		dropped = (uint64_t)sqlite3_changes(h->db);
	}
	/* counted once the transaction commits (history__commit) */
	h->pending_drops[reason] += dropped;
	if (dropped)
		h->unswept = true; /* a rollback leaves it set: a sweep too many */
	return 0;
}

/* Deletes the dictionary rows no kept window can use: last_seen below the
 * oldest window's start minus refresh_ns (history/dict.h says why that is
 * safe); everything when no window is left. */
int history__gc(struct history *h)
{
	int64_t oldest, windows, cutoff;
	char sql[128];
	int err;

	err = hdb__int(h->db, "SELECT count(*) FROM windows", &windows);
	if (!err)
		err = hdb__int(h->db, "SELECT coalesce(min(start_ns), 0) FROM windows", &oldest);
	if (err)
		return err;
	/* last_seen is in whole seconds (dict.h): 2 s below the exact
	 * bound cover the rounding of both */
	if (!windows)
		cutoff = INT64_MAX;
	else
		cutoff = (oldest - h->opts.refresh_ns) / 1000000000 - 2;
	for (size_t k = 0; !err && k < HISTORY_KIND__MAX; k++) {
		sqlite3_stmt *st;

		snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE last_seen < ?", history_tables[k]);
		err = hdb__errno(sqlite3_prepare_v2(h->db, sql, -1, &st, NULL));
		if (err)
			break;
		sqlite3_bind_int64(st, 1, cutoff);
		err = hdb__errno(sqlite3_step(st));
		sqlite3_finalize(st);
	}
	if (!err) {
		dict__forget_before(h->dict, cutoff);
		h->gc_cutoff = cutoff;
	}
	return err;
}

int history__drop_oldest(struct history *h, uint64_t bytes, enum history_drop reason)
{
	uint64_t disk = main_bytes(h), freed = 0;
	int64_t records, cut = INT64_MIN, windows;
	double ratio;
	sqlite3_stmt *st;
	int err, rc;
	bool any = false;

	err = hdb__int(h->db, "SELECT coalesce(sum(bytes), 0) FROM windows", &records);
	if (!err)
		err = hdb__int(h->db, "SELECT count(*) FROM windows", &windows);
	if (err || windows <= 1)
		return err;
	/* a window's share of the files: its records, scaled by what the
	 * dictionary, indexes and free space add to all records in the main
	 * file (the WAL, shared memory and reserve are no window's) */
	ratio = records > 0 && disk > (uint64_t)records ? (double)disk / (double)records : 1.0;
	err = hdb__prepare(h->db, "SELECT start_ns, bytes FROM windows ORDER BY start_ns LIMIT ?",
			   &st);
	if (err)
		return err;
	sqlite3_bind_int64(st, 1, windows - 1); /* never the newest */
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && (!any || freed < bytes)) {
		cut = sqlite3_column_int64(st, 0);
		freed += (uint64_t)((double)sqlite3_column_int64(st, 1) * ratio);
		any = true;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return hdb__errno(rc);
	return any ? history__drop_windows(h, cut, reason) : 0;
}

void history__checkpoint(struct history *h)
{
	/* what readers do not hold into the main file, without waiting for
	 * them: the WAL then starts over (and is cut to journal_size_limit)
	 * at the next write, so it holds about one window, and a full disk
	 * never finds it holding committed pages the main file lacks */
	sqlite3_wal_checkpoint_v2(h->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
}

void history__note_wal(struct history *h)
{
	h->wal_budget = MAX(h->wal_budget, wal_bytes(h));
	if (h->opts.max_bytes)
		h->wal_budget = MIN(h->wal_budget, h->opts.max_bytes / 2);
}

uint64_t history__bound_bytes(struct history *h, uint64_t budget)
{
	uint64_t wal = wal_bytes(h), disk = history__disk_bytes(h->path);

	return disk - MIN(wal, disk) + MAX(wal, budget);
}

void history__vacuum(struct history *h)
{
	int log = 0, done = 0, rc;

	/* free pages back to the file system, then the WAL that now holds
	 * the moved pages copied back and cut to nothing */
	hdb__exec(h->db, "PRAGMA incremental_vacuum");
	history__note_wal(h);
	rc = sqlite3_wal_checkpoint_v2(h->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, &log, &done);
	if (rc == SQLITE_BUSY || (rc == SQLITE_OK && done < log))
		history__count(h, HC_CHECKPOINTS_BUSY, 1);
}

int history__commit(struct history *h, int err)
{
	if (!err)
		err = hdb__exec(h->db, "COMMIT");
	if (!err)
		history__note_wal(h);
	for (size_t d = 0; d < HISTORY_DROP__MAX; d++) {
		if (!err && h->pending_drops[d])
			history__count(h, HC_DROP0 + d, h->pending_drops[d]);
		h->pending_drops[d] = 0;
	}
	if (err) {
		sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
		/* the caches may hold what the rollback undid; a sweep's
		 * deletions are undone */
		dict__reset(h->dict);
		h->unswept = true;
	}
	return err;
}

/* Drops windows past retention; collects the dictionary when its cutoff
 * moved by a quarter of refresh_ns (or the store emptied). */
static int prune_age(struct history *h, int64_t now_ns, bool *dropped)
{
	int64_t before, after, cut = 0, oldest;
	int err;

	err = hdb__exec(h->db, "BEGIN IMMEDIATE");
	if (err)
		return err;
	err = hdb__int(h->db, "SELECT count(*) FROM windows", &before);
	if (!err && h->opts.retention_ns > 0 && now_ns - h->opts.retention_ns > INT64_MIN) {
		sqlite3_stmt *st;

		err = hdb__prepare(h->db, "SELECT max(start_ns) FROM windows"
					  " WHERE start_ns + duration_ns < ?", &st);
		if (!err) {
			sqlite3_bind_int64(st, 1, now_ns - h->opts.retention_ns);
			if (sqlite3_step(st) == SQLITE_ROW &&
			    sqlite3_column_type(st, 0) != SQLITE_NULL)
				cut = sqlite3_column_int64(st, 0);
			sqlite3_finalize(st);
			if (cut)
				err = history__drop_windows(h, cut, HISTORY_DROP_AGE);
		}
	}
	if (!err)
		err = hdb__int(h->db, "SELECT count(*) FROM windows", &after);
	if (!err)
		err = hdb__int(h->db, "SELECT coalesce(min(start_ns), 0) FROM windows", &oldest);
	*dropped = !err && after < before;
	if (!err && (*dropped || !after) &&
	    (!after || (oldest - h->opts.refresh_ns) / 1000000000 >
			       h->gc_cutoff + h->opts.refresh_ns / 4000000000))
		err = history__gc(h);
	return history__commit(h, err);
}

/* A sweep in a round of pruning for bytes (in its transaction), counted
 * once that commits. One that fails on the store's content (a corrupt
 * record or row, the marks' bound) or that deletes less than 1/64 of the
 * dictionary (its rows are shared by the windows kept, as without churn)
 * is not tried again in this prune: *sweep false. */
static int prune_sweep(struct history *h, bool *sweep, struct history_sweep *res, int *failed)
{
	int err;

	*failed = 0;
	if (!*sweep || !h->unswept)
		return 0;
	err = history__sweep(h, res);
	*sweep = !err && res->rows * 64 >= res->scanned;
	if (err == -EBADMSG || err == -E2BIG || err == -ENOMEM) {
		*failed = err;
		err = 0; /* the round's drops still commit */
	}
	return err;
}

int history__drop_round(struct history *h, uint64_t bytes, enum history_drop reason, bool *sweep)
{
	struct history_sweep res = { 0 };
	int failed = 0;
	int err = hdb__exec(h->db, "BEGIN IMMEDIATE");

	if (!err)
		err = history__drop_oldest(h, bytes, reason);
	if (!err)
		err = history__gc(h);
	if (!err)
		err = prune_sweep(h, sweep, &res, &failed);
	err = history__commit(h, err);
	if (err)
		return err;
	if (failed || res.ns) {
		history__count(h, failed ? HC_SWEEP_FAILURES : HC_SWEEPS, 1);
		history__count(h, HC_SWEEP_ROWS, res.rows);
		history__count(h, HC_SWEEP_NS, res.ns);
	}
	history__vacuum(h);
	return 0;
}

/* The files over max_bytes: rounds down to 5 % under it (so that the next
 * windows do not each prune), each measuring what the last returned,
 * each one transaction: the oldest windows dropped, the dictionary
 * collected by last_seen, and swept when windows left since the last
 * sweep (under churn the rows only they used, which last_seen keeps up to
 * refresh_ns, are most of the files). The WAL counts as at least the
 * budget it had at the start: the prune's own transactions raise it for
 * the next prune, not for this one's measures. */
static int prune_bytes(struct history *h)
{
	const uint64_t target = h->opts.max_bytes - h->opts.max_bytes / 20;
	const uint64_t budget = h->wal_budget;
	uint64_t size = history__bound_bytes(h, budget);
	bool sweep = true;
	int err;

	for (int round = 0; size > target && round < 8; round++) {
		uint64_t before = size;

		err = history__drop_round(h, size - target, HISTORY_DROP_BYTES, &sweep);
		if (err)
			return err;
		size = history__bound_bytes(h, budget);
		if (size >= before)
			break; /* nothing left to drop but the newest window */
	}
	return 0;
}

int history__prune(struct history *h, int64_t now_ns)
{
	uint64_t size;
	bool dropped = false;
	int err;

	if (!h || !h->db)
		return h ? -EROFS : -EINVAL;
	err = prune_age(h, now_ns, &dropped);
	if (err)
		return err;
	if (dropped)
		history__vacuum(h);
	size = history__bound_bytes(h, h->wal_budget);
	if (!h->opts.max_bytes || size <= h->opts.max_bytes)
		return 0;
	return prune_bytes(h);
}

/* The reserve: a file of reserve_bytes next to the store, given
 * up when the disk is full. A checkpoint copies committed pages from the
 * WAL into the main file, which may have to grow: on a full disk it
 * cannot, and neither can the WAL take the deletions that would make
 * room. Removing the reserve breaks that deadlock. */
void history__reserve(struct history *h, bool release)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s.reserve", h->path);
	if (release) {
		unlink(path);
		h->reserved = false;
		return;
	}
	if (h->reserved)
		return;
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	h->reserved = posix_fallocate(fd, 0, (off_t)h->reserve_bytes) == 0;
	close(fd);
	if (!h->reserved)
		unlink(path); /* no room yet: the next put tries again */
}
