/* The history store's bounds: age, bytes, dictionary collection, space
 * back to the file system (history/history.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "common/macros.h"
#include "history/history_int.h"

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
	uint64_t disk = history__disk_bytes(h->path), freed = 0;
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
	 * dictionary, indexes and free space add to all records */
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

void history__vacuum(struct history *h)
{
	int log = 0, done = 0, rc;

	/* free pages back to the file system, then the WAL that now holds
	 * the moved pages copied back and cut to nothing */
	hdb__exec(h->db, "PRAGMA incremental_vacuum");
	rc = sqlite3_wal_checkpoint_v2(h->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, &log, &done);
	if (rc == SQLITE_BUSY || (rc == SQLITE_OK && done < log))
		history__count(h, HC_CHECKPOINTS_BUSY, 1);
}

int history__commit(struct history *h, int err)
{
	if (!err)
		err = hdb__exec(h->db, "COMMIT");
	for (size_t d = 0; d < HISTORY_DROP__MAX; d++) {
		if (!err && h->pending_drops[d])
			history__count(h, HC_DROP0 + d, h->pending_drops[d]);
		h->pending_drops[d] = 0;
	}
	if (err) {
		sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
		/* the caches may hold what the rollback undid */
		dict__reset(h->dict);
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
	size = history__disk_bytes(h->path);
	/* a few rounds: each measures what the last one returned */
	for (int round = 0; h->opts.max_bytes && size > h->opts.max_bytes && round < 8; round++) {
		/* 5 % under the bound, so that the next windows do not each
		 * drop one */
		uint64_t want = size - h->opts.max_bytes + h->opts.max_bytes / 20;

		err = hdb__exec(h->db, "BEGIN IMMEDIATE");
		if (!err)
			err = history__drop_oldest(h, want, HISTORY_DROP_BYTES);
		if (!err)
			err = history__gc(h);
		err = history__commit(h, err);
		if (err)
			return err;
		history__vacuum(h);
		if (history__disk_bytes(h->path) >= size)
			break; /* nothing left to drop but the newest window */
		size = history__disk_bytes(h->path);
	}
	return 0;
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
