/* SQLite helpers of the history store (history/history_int.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "history/history_int.h"

const char *const history_tables[HISTORY_KIND__MAX] = {
	[HISTORY_STRING] = "strings",     [HISTORY_MAPPING] = "mappings",
	[HISTORY_FUNCTION] = "functions", [HISTORY_LOCATION] = "locations",
	[HISTORY_STACK] = "stacks",       [HISTORY_LABELSET] = "labelsets",
};

const enum history_kind history_walk_order[HISTORY_KIND__MAX] = {
	HISTORY_STACK,   HISTORY_LABELSET, HISTORY_LOCATION,
	HISTORY_MAPPING, HISTORY_FUNCTION, HISTORY_STRING,
};

int hdb__errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return -EUCLEAN;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_CANTOPEN:
		return -ENOENT;
	case SQLITE_TOOBIG:
		return -E2BIG;
	default:
		return -EIO;
	}
}

int hdb__exec(sqlite3 *db, const char *sql)
{
	return hdb__errno(sqlite3_exec(db, sql, NULL, NULL, NULL));
}

int hdb__prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
	return hdb__errno(sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL));
}

int hdb__int(sqlite3 *db, const char *sql, int64_t *v)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

	if (rc != SQLITE_OK)
		return hdb__errno(rc);
	rc = sqlite3_step(st);
	*v = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : hdb__errno(rc);
}

int hdb__connect(const char *path, bool writer, sqlite3 **out)
{
	int flags = (writer ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY) |
		    SQLITE_OPEN_NOMUTEX;
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(path, &db, flags, NULL);
	int err;

	if (rc != SQLITE_OK) {
		err = hdb__errno(rc);
		sqlite3_close(db);
		return err;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, HISTORY_BUSY_TIMEOUT_MS);
	/* a power loss loses at most the transaction being written: WAL
	 * synced at each commit (one fsync per window). auto_vacuum first:
	 * it only takes effect on a new file before its header is written,
	 * which journal_mode=WAL does (after that, a no-op) */
	err = writer ? hdb__exec(db, "PRAGMA auto_vacuum=INCREMENTAL; PRAGMA journal_mode=WAL;"
				     "PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF") : 0;
	if (err) {
		sqlite3_close(db);
		return err;
	}
	*out = db;
	return 0;
}

int hdb__create_schema(sqlite3 *db)
{
	char sql[4096];
	size_t n = 0;
	uint8_t key[16];
	sqlite3_stmt *st;
	int err;

	if (getrandom(key, sizeof(key), 0) != sizeof(key))
		return -errno;
	/* auto_vacuum is set by hdb__connect, before the file's header */
	n += snprintf(sql + n, sizeof(sql) - n,
		      "BEGIN;"
		      "CREATE TABLE meta(key TEXT PRIMARY KEY, value BLOB NOT NULL);"
		      "CREATE TABLE windows(id INTEGER PRIMARY KEY, start_ns INTEGER NOT NULL,"
		      " duration_ns INTEGER NOT NULL, period_ns INTEGER NOT NULL,"
		      " series INTEGER NOT NULL, samples INTEGER NOT NULL, bytes INTEGER NOT NULL,"
		      /* the sample type by name (pprof_type_names): the enum's
		       * order is not the file's business */
		      " type TEXT NOT NULL DEFAULT 'cpu');"
		      "CREATE INDEX windows_start ON windows(start_ns);"
		      /* rows of a few dozen bytes: without a rowid, the key is
		       * the only index (the window's series are together) */
		      "CREATE TABLE series(window INTEGER NOT NULL, seq INTEGER NOT NULL,"
		      " labelset INTEGER NOT NULL, samples INTEGER NOT NULL, record BLOB NOT NULL,"
		      " PRIMARY KEY(window, seq)) WITHOUT ROWID;");
	for (size_t k = 0; k < HISTORY_KIND__MAX; k++)
		n += snprintf(sql + n, sizeof(sql) - n,
			      "CREATE TABLE %s(id INTEGER PRIMARY KEY, hash INTEGER NOT NULL,"
			      " last_seen INTEGER NOT NULL, body BLOB NOT NULL);"
			      "CREATE INDEX %s_hash ON %s(hash);",
			      history_tables[k], history_tables[k], history_tables[k]);
	snprintf(sql + n, sizeof(sql) - n, "PRAGMA application_id=%d; PRAGMA user_version=%d;",
		 HISTORY_APPLICATION_ID, HISTORY_SCHEMA_VERSION);
	err = hdb__exec(db, sql);
	if (!err)
		err = hdb__prepare(db, "INSERT INTO meta(key, value) VALUES ('hash_key', ?)", &st);
	if (!err) {
		sqlite3_bind_blob(st, 1, key, sizeof(key), SQLITE_STATIC);
		err = hdb__errno(sqlite3_step(st));
		sqlite3_finalize(st);
	}
	if (!err)
		err = hdb__exec(db, "COMMIT");
	if (err)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return err;
}

int hdb__check_schema(sqlite3 *db, char *why, size_t whylen)
{
	int64_t app, version, tables;
	int err;

	err = hdb__int(db, "PRAGMA application_id", &app);
	if (!err)
		err = hdb__int(db, "PRAGMA user_version", &version);
	if (!err)
		err = hdb__int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table'", &tables);
	if (err) {
		snprintf(why, whylen, "%s", strerror(-err));
		return err;
	}
	if (app != HISTORY_APPLICATION_ID) {
		snprintf(why, whylen, "not a brasa history store (application id %#llx)",
			 (unsigned long long)app);
		return -EUCLEAN;
	}
	if (version != HISTORY_SCHEMA_VERSION) {
		snprintf(why, whylen, "schema version %lld, this brasa reads %d%s",
			 (long long)version, HISTORY_SCHEMA_VERSION,
			 version == 1 ? " (an older brasa's: the agent migrates it when it opens it)"
				      : "");
		return -EUCLEAN;
	}
	if (tables != 3 + HISTORY_KIND__MAX) {
		snprintf(why, whylen, "%lld tables, expected %d", (long long)tables,
			 3 + HISTORY_KIND__MAX);
		return -EUCLEAN;
	}
	return 0;
}

int hdb__migrate(sqlite3 *db)
{
	int64_t app, version;
	int err = hdb__int(db, "PRAGMA application_id", &app);

	if (!err)
		err = hdb__int(db, "PRAGMA user_version", &version);
	if (err || app != HISTORY_APPLICATION_ID || version != 1)
		return err;
	/* schema 1 kept CPU windows only. Adding a column with a constant
	 * default rewrites no row: the migration is as quick on a full store
	 * as on an empty one, and records of schema 1 read as they are */
	err = hdb__exec(db, "BEGIN IMMEDIATE;"
			    "ALTER TABLE windows ADD COLUMN type TEXT NOT NULL DEFAULT 'cpu';"
			    "PRAGMA user_version=2; COMMIT");
	if (err) {
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return err;
	}
	return 1;
}

int hdb__hash_key(sqlite3 *db, uint8_t key[16])
{
	sqlite3_stmt *st;
	int err = hdb__prepare(db, "SELECT value FROM meta WHERE key = 'hash_key'", &st);
	int rc;

	if (err)
		return err;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 16)
		memcpy(key, sqlite3_column_blob(st, 0), 16);
	else
		err = rc == SQLITE_ROW || rc == SQLITE_DONE ? -EUCLEAN : hdb__errno(rc);
	sqlite3_finalize(st);
	return err;
}

int hdb__count_rows(sqlite3 *db, struct history_stats *st)
{
	char sql[128];
	int64_t v;
	int err;

	err = hdb__int(db, "SELECT count(*) FROM windows", &v);
	st->windows = (uint64_t)v;
	if (!err)
		err = hdb__int(db, "SELECT count(*) FROM series", &v);
	st->series = (uint64_t)v;
	if (!err)
		err = hdb__int(db, "SELECT coalesce(min(start_ns), 0) FROM windows", &st->oldest_ns);
	if (!err)
		err = hdb__int(db, "SELECT coalesce(max(start_ns + duration_ns), 0) FROM windows",
			       &st->newest_ns);
	for (size_t k = 0; !err && k < HISTORY_KIND__MAX; k++) {
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", history_tables[k]);
		err = hdb__int(db, sql, &v);
		st->dict_rows[k] = (uint64_t)v;
	}
	return err;
}
