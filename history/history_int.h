/* history_int: what the files of history/ share; nothing here is API
 * (history/history.h is).
 *
 *   struct history            the handle: the writer's connection and
 *                             dictionary caches, the pool of read-only
 *                             connections, the counters
 *   hdb__*                    SQLite helpers (db.c): errors as -errno, the
 *                             schema and its migration, connections,
 *                             one-value queries
 *   history_reader__get/put   a read-only connection for one query (store.c)
 *   history__count(h, which, n)  adds to a counter under the lock
 *   history__drop_windows(h, cut, reason)   prune.c: deletes the windows
 *                             starting at or before cut, counted when the
 *                             transaction commits
 *   history__gc(h)            prune.c: collects the dictionary by
 *                             last_seen (cheap, rows outlive their last
 *                             window by up to refresh_ns)
 *   history__sweep(h, &res)   sweep.c: collects the dictionary exactly,
 *                             in the writer's open transaction: deletes
 *                             every row no kept window reaches and
 *                             evicts it from the caches (a rollback
 *                             resets them: history__commit); res says
 *                             what it did. 0, -EBADMSG (a record or a
 *                             reached row does not decode: what was
 *                             deleted by then stays so, unreached all the
 *                             same; the transaction may commit), -E2BIG
 *                             (the marks' bound: nothing deleted),
 *                             -ENOMEM, -errno (SQLite: roll back)
 *   history__reset_store(h)   store.c: moves a corrupt store aside and
 *                             makes a fresh one
 *   history__drop_oldest(h, bytes, reason)  prune.c: drops the oldest
 *                             windows whose share of the files is at least
 *                             bytes (one at least, never the newest)
 *   history__commit(h, err)   prune.c: commits the writer's transaction
 *                             when err is 0 (noting the WAL), else (or if
 *                             that fails) rolls back and resets the
 *                             caches; the error
 *   history__vacuum(h)        prune.c: free pages back to the file system,
 *                             the WAL truncated (waits for readers)
 *   history__reserve(h, release)  prune.c: makes (or gives up) the
 *                             space a full disk gets back first
 *   history__checkpoint(h)    prune.c: the WAL into the main file as far
 *                             as readers let it, without waiting
 *   history__note_wal(h)      prune.c: the WAL's size now into
 *                             wal_budget (after each write)
 *   history__bound_bytes(h, budget)
 *                             prune.c: the files as max_bytes counts them:
 *                             the WAL at least budget
 */
#ifndef BRASA_HISTORY_HISTORY_INT_H
#define BRASA_HISTORY_HISTORY_INT_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>

#include "history/dict.h"
#include "history/history.h"

/* 2: windows.type (the sample type), records with values (record.h);
 * a store of version 1 is migrated by the writer's open (hdb__migrate) */
#define HISTORY_SCHEMA_VERSION 2
#define HISTORY_APPLICATION_ID 0x62727361 /* "brsa" */
#define HISTORY_IDLE_READERS 4
#define HISTORY_BUSY_TIMEOUT_MS 5000
/* room a full disk gets back first (prune.c: history__reserve): an
 * eighth of max_bytes, at most this */
#define HISTORY_RESERVE_BYTES (1 << 20)

extern const char *const history_tables[HISTORY_KIND__MAX];
/* the kinds, each after every kind whose rows refer to its rows (series
 * -> stacks, label sets; stacks -> locations -> mappings, functions;
 * mappings, functions, label sets -> strings): a walk from the records
 * in this order has found every reference to a kind before it reads it */
extern const enum history_kind history_walk_order[HISTORY_KIND__MAX];

struct history {
	struct history_opts opts;
	char *path;
	int lock_fd;              /* the writer's flock on PATH.lock */
	sqlite3 *db;              /* the writer's connection; NULL when read-only */
	struct dict *dict;        /* the writer's caches */
	uint8_t hash_key[16];     /* the store's siphash key (meta) */
	int64_t gc_cutoff;        /* of the last collection */
	bool unswept;             /* windows left since the last sweep */
	/* the largest WAL a transaction made lately, at most max_bytes / 2:
	 * room the bound keeps for it (prune.c) */
	uint64_t wal_budget;
	uint64_t pending_drops[HISTORY_DROP__MAX]; /* in the open transaction */
	bool reserved;            /* PATH.reserve is there */
	uint64_t reserve_bytes;   /* its size */

	pthread_mutex_t lock;     /* guards what follows */
	sqlite3 *readers[HISTORY_IDLE_READERS];
	size_t nreaders;
	uint64_t generation;      /* bumped when the store is replaced */
	struct history_stats st;  /* the counters; the rest is read on demand */
};

/* counters of st that history__count adds to */
enum history_counter {
	HC_PUTS,
	HC_PUT_FAILURES,
	HC_PUT_NS,
	HC_QUERIES,
	HC_QUERY_FAILURES,
	HC_QUERY_NS,
	HC_DISK_FULL,
	HC_CHECKPOINTS_BUSY,
	HC_SWEEPS,
	HC_SWEEP_FAILURES,
	HC_SWEEP_ROWS,
	HC_SWEEP_NS,
	HC_DROP0, /* + enum history_drop */
};

int hdb__errno(int rc);
int hdb__exec(sqlite3 *db, const char *sql);
int hdb__connect(const char *path, bool writer, sqlite3 **out);
int hdb__create_schema(sqlite3 *db);
/* application id, user_version, the tables; -EUCLEAN with why */
int hdb__check_schema(sqlite3 *db, char *why, size_t whylen);
/* a store of schema 1 (CPU windows only) brought to this one in one
 * transaction: its windows are cpu. 1 when it did, 0 when there was
 * nothing to do, -errno */
int hdb__migrate(sqlite3 *db);
int hdb__int(sqlite3 *db, const char *sql, int64_t *v);
int hdb__prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st);
int hdb__hash_key(sqlite3 *db, uint8_t key[16]);
int hdb__count_rows(sqlite3 *db, struct history_stats *st);

int history_reader__get(struct history *h, sqlite3 **db, uint64_t *generation);
void history_reader__put(struct history *h, sqlite3 *db, uint64_t generation);
void history__count(struct history *h, enum history_counter c, uint64_t n);
int history__drop_windows(struct history *h, int64_t cut_start_ns, enum history_drop reason);
int history__gc(struct history *h);

struct history_sweep {
	uint64_t rows, scanned; /* dictionary rows deleted, looked at */
	uint64_t ns;
};

int history__sweep(struct history *h, struct history_sweep *res);
/* One round of pruning, one transaction: the oldest windows (bytes' worth,
 * never the newest) dropped for reason, the dictionary collected, swept
 * when *sweep and windows left since the last sweep (*sweep false after
 * a sweep not worth repeating), counted, the space returned. 0 or -errno */
int history__drop_round(struct history *h, uint64_t bytes, enum history_drop reason,
			bool *sweep);
int history__reset_store(struct history *h);
int history__drop_oldest(struct history *h, uint64_t bytes, enum history_drop reason);
void history__vacuum(struct history *h);
void history__checkpoint(struct history *h);
void history__reserve(struct history *h, bool release);
int history__commit(struct history *h, int err);
uint64_t history__disk_bytes(const char *path);
void history__note_wal(struct history *h);
uint64_t history__bound_bytes(struct history *h, uint64_t budget);

#endif
