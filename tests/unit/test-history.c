/* Unit test of history/ (the local store of windows): round trips
 * through the store compared as folded stacks, ranges, filters, the
 * timeline and label queries, retention by age and by bytes (checked on
 * disk), corrupt files and records, a reader beside the writer, a full
 * file system (a small tmpfs, root), a writer killed mid-put, and the
 * record and body codecs. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/macros.h"
#include "history/body.h"
#include "history/history.h"
#include "history/record.h"
#include "history/siphash.h"
#include "history/varint.h"
#include "labels/matcher.h"
#include "testing.h"

#define PERIOD_NS 10101010ull /* 99 Hz */
#define T0 1700000000000000000ll
#define SEC 1000000000ll
#define WIN (15 * SEC)

DEFINE_CLEANUP(struct pprof, pprof__free)

static char tmp_root[256];

static void setup(void)
{
	snprintf(tmp_root, sizeof(tmp_root), "%s/test-history-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	REQUIRE(mkdtemp(tmp_root));
}

static void teardown(void)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_root);
	if (!test_failures && system(cmd) != 0)
		fprintf(stderr, "failed to remove %s\n", tmp_root);
}

/* A fresh store path for a case. */
static const char *store_path(const char *name)
{
	static char path[512];

	snprintf(path, sizeof(path), "%s/%s/history.db", tmp_root, name);
	return path;
}

static struct history *open_store(const char *path, uint64_t max_bytes, int64_t retention,
				  int64_t refresh)
{
	struct history_opts o = { .path = path, .max_bytes = max_bytes,
				  .retention_ns = retention, .refresh_ns = refresh };
	struct history *h = NULL;
	char err[512];
	int ret = history__open(&o, &h, err, sizeof(err));

	if (ret)
		fprintf(stderr, "history__open: %s\n", err);
	REQUIRE(ret == 0 && h);
	return h;
}

/* ---- synthetic profiles ---- */

struct tsample {
	const char *frames[6]; /* root first, NULL-terminated */
	int64_t count;
	const char *thread;    /* thread_name and thread_id labels when set */
};

static uint64_t name_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	while (*s)
		h = (h ^ (uint8_t)*s++) * 1099511628211ull;
	return h;
}

/* An off-CPU sample's time: its count times this */
#define OFF_NS 1000003ll

/* A series profile of type: frames in /usr/bin/COMM loaded at base, the
 * comm label on every sample (so folded output names it as the merge's
 * series labels do); off-CPU samples last count * OFF_NS. */
static struct pprof *make_typed_profile(int64_t start, const char *comm, uint64_t base,
					const struct tsample *s, size_t n, enum pprof_type type)
{
	const struct pprof_opts o = { .type = type, .period_ns = PERIOD_NS, .time_nanos = start,
				      .duration_nanos = WIN };
	char file[128];
	struct pprof *p = NULL;
	uint64_t m;

	snprintf(file, sizeof(file), "/usr/bin/%s", comm);
	const struct pprof_mapping map = { .memory_start = base, .memory_limit = base + 0x400000,
					   .filename = file, .build_id = "feedface",
					   .has_functions = true };
	REQUIRE(pprof__new(&o, &p) == 0);
	m = pprof__mapping(p, 1, &map);
	REQUIRE(m == 1);
	for (size_t i = 0; i < n; i++) {
		uint64_t locs[6];
		size_t depth = 0;
		struct pprof_label labels[3] = { { .key = "comm", .str = comm } };
		size_t nlabels = 1;

		while (depth < 6 && s[i].frames[depth])
			depth++;
		for (size_t d = 0; d < depth; d++) {
			const char *name = s[i].frames[depth - 1 - d]; /* leaf first */
			/* one demangled function: its mangled name goes through the store */
			struct pprof_line line = { name, "src.c", (int64_t)(name_hash(name) % 100),
						   strcmp(name, "parse") ? NULL : "_Z5parsev" };

			locs[d] = pprof__location(p, m, base + name_hash(name) % 0x3fffff, &line, 1);
			REQUIRE(locs[d]);
		}
		if (s[i].thread) {
			labels[nlabels++] = (struct pprof_label){ .key = "thread_name", .str = s[i].thread };
			labels[nlabels++] = (struct pprof_label){ .key = "thread_id", .num = 1000 + (int64_t)i };
		}
		REQUIRE(pprof__add_sample_value(p, locs, depth, s[i].count,
						type == PPROF_TYPE_CPU ? s[i].count * (int64_t)PERIOD_NS
								       : s[i].count * OFF_NS,
						labels, nlabels) == 0);
	}
	return p;
}

static struct pprof *make_profile_at(int64_t start, const char *comm, uint64_t base,
				     const struct tsample *s, size_t n)
{
	return make_typed_profile(start, comm, base, s, n, PPROF_TYPE_CPU);
}

static struct pprof *make_profile(int64_t start, const char *comm, const struct tsample *s,
				  size_t n)
{
	return make_profile_at(start, comm, 0x400000, s, n);
}

static void set_labels(struct labels *ls, const char *pid, const char *comm, const char *service)
{
	labels__clear(ls);
	REQUIRE(labels__set(ls, "pid", pid) == 0);
	REQUIRE(labels__set(ls, "comm", comm) == 0);
	REQUIRE(labels__set(ls, "service_name", service) == 0);
}

/* Appends src's samples to dst through the read API (the expected side of
 * the round trips). */
static void copy_into(struct pprof *dst, const struct pprof *src)
{
	for (size_t i = 0; i < pprof__sample_count(src); i++) {
		struct pprof_sample s;
		struct pprof_label labels[PPROF_MAX_LABELS];
		uint64_t locs[PPROF_MAX_STACK_DEPTH];

		REQUIRE(pprof__sample_at(src, i, &s) == 0);
		for (size_t k = 0; k < s.nlocs; k++) {
			struct pprof_location loc;
			struct pprof_line lines[PPROF_MAX_LINES];
			struct pprof_mapping m;
			uint64_t key, mid = 0;

			REQUIRE(pprof__location_at(src, s.locs[k], &loc) == 0);
			for (size_t l = 0; l < loc.nlines; l++)
				REQUIRE(pprof__location_line(src, s.locs[k], l, &lines[l]) == 0);
			if (loc.mapping_id) {
				REQUIRE(pprof__mapping_at(src, loc.mapping_id, &m, &key) == 0);
				mid = pprof__mapping(dst, name_hash(m.filename), &m);
			}
			locs[k] = pprof__location(dst, mid, loc.address, lines, loc.nlines);
			REQUIRE(locs[k]);
		}
		for (size_t j = 0; j < s.nlabels; j++)
			REQUIRE(pprof__sample_label(src, i, j, &labels[j]) == 0);
		REQUIRE(pprof__add_sample(dst, locs, s.nlocs, s.count, labels, s.nlabels) == 0);
	}
}

static char *folded(struct pprof *p)
{
	struct buf b = {};

	REQUIRE(pprof__write_folded(p, &b) == 0);
	REQUIRE(buf_append(&b, "", 1) == 0);
	return (char *)b.data;
}

static struct pprof *new_into(void)
{
	const struct pprof_opts o = { .period_ns = PERIOD_NS, .time_nanos = T0,
				      .duration_nanos = WIN };
	struct pprof *p = NULL;

	REQUIRE(pprof__new(&o, &p) == 0);
	return p;
}

/* Merges [from, to) with filter f and returns its folded text. */
static char *merged(struct history *h, int64_t from, int64_t to, const struct history_filter *f,
		    struct history_merge_info *info)
{
	_cleanup_(cleanup_pprof__free) struct pprof *p = new_into();
	int err = history__merge(h, from, to, f, p, info);

	CHECK_INT(err, ==, 0);
	return folded(p);
}

/* The test's store content: window w (0-based) has series api (pid 42)
 * and db (pid 43), different stacks per window. */
static const struct tsample api_samples[3][3] = {
	{ { { "main", "serve", "parse", NULL }, 5, "worker-1" },
	  { { "main", "serve", "respond", NULL }, 3, NULL },
	  { { "main", "idle", NULL }, 1, NULL } },
	{ { { "main", "serve", "parse", NULL }, 7, "worker-1" },
	  { { "main", "serve", "compress", "deflate", NULL }, 4, "worker-2" },
	  { { "main", "gc", NULL }, 2, NULL } },
	{ { { "main", "serve", "parse", NULL }, 1, NULL },
	  { { "main", "serve", "respond", NULL }, 9, NULL },
	  { { "main", "gc", "mark", NULL }, 6, NULL } },
};
static const struct tsample db_samples[3][2] = {
	{ { { "main", "query", "scan", NULL }, 10, NULL },
	  { { "main", "query", "sort", NULL }, 2, NULL } },
	{ { { "main", "query", "scan", NULL }, 1, NULL },
	  { { "main", "flush", "fsync", NULL }, 8, NULL } },
	{ { { "main", "query", "scan", NULL }, 4, NULL },
	  { { "main", "vacuum", NULL }, 3, NULL } },
};

struct window_profiles {
	struct pprof *api, *db;
	struct labels api_labels, db_labels;
};

static void make_window(int w, struct window_profiles *wp)
{
	*wp = (struct window_profiles){};
	wp->api = make_profile(T0 + w * WIN, "api", api_samples[w], 3);
	wp->db = make_profile(T0 + w * WIN, "db", db_samples[w], 2);
	set_labels(&wp->api_labels, "42", "api", "api");
	set_labels(&wp->db_labels, "43", "db", "db");
}

static void free_window(struct window_profiles *wp)
{
	pprof__free(wp->api);
	pprof__free(wp->db);
	labels__clear(&wp->api_labels);
	labels__clear(&wp->db_labels);
}

static int put_window(struct history *h, int w, int64_t start)
{
	struct window_profiles wp;
	int err;

	make_window(w % 3, &wp);
	const struct history_series series[] = { { &wp.api_labels, wp.api },
						 { &wp.db_labels, wp.db } };
	const struct history_window win = { .start_unix_ns = start, .duration_ns = WIN,
					    .series = series, .n = 2 };

	err = history__put(h, &win);
	free_window(&wp);
	return err;
}

/* What windows first..last hold (only the series passing want(api, db)),
 * folded. */
static char *expected(int first, int last, bool api, bool db)
{
	_cleanup_(cleanup_pprof__free) struct pprof *p = new_into();

	for (int w = first; w <= last; w++) {
		struct window_profiles wp;

		make_window(w, &wp);
		if (api)
			copy_into(p, wp.api);
		if (db)
			copy_into(p, wp.db);
		free_window(&wp);
	}
	return folded(p);
}

static struct history *three_windows(const char *name)
{
	struct history *h = open_store(store_path(name), 0, 0, 0);

	for (int w = 0; w < 3; w++)
		CHECK_INT(put_window(h, w, T0 + w * WIN), ==, 0);
	return h;
}

static void check_folded(char *got, char *want)
{
	CHECK_STR(got, want);
	free(got);
	free(want);
}

/* The store's files on disk (main, WAL, shared memory, the reserve a
 * full disk gets back), by stat. */
static uint64_t disk_bytes(const char *path)
{
	const char *suffix[] = { "", "-wal", "-shm", ".reserve" };
	char name[600];
	uint64_t n = 0;
	struct stat sb;

	/* not test_fmt: the poller of churn_bound calls this on a thread
	 * of its own */
	for (size_t i = 0; i < ARRAY_SIZE(suffix); i++) {
		snprintf(name, sizeof(name), "%s%s", path, suffix[i]);
		if (stat(name, &sb) == 0)
			n += (uint64_t)sb.st_size;
	}
	return n;
}

/* One integer from the store, on a connection of the test's own. */
static int64_t store_int(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t v = -1;

	REQUIRE(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
	REQUIRE(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* ---- cases ---- */

/* The system name the merged profile gives function name ("" if absent). */
static const char *system_name_of(struct pprof *p, const char *name)
{
	for (uint64_t id = 1; id <= pprof__location_count(p); id++) {
		struct pprof_location loc;
		struct pprof_line line;

		REQUIRE(pprof__location_at(p, id, &loc) == 0);
		for (size_t k = 0; k < loc.nlines; k++) {
			REQUIRE(pprof__location_line(p, id, k, &line) == 0);
			if (line.function && !strcmp(line.function, name))
				return line.system_name;
		}
	}
	return "";
}

static void test_round_trip(void)
{
	struct history *h = three_windows("round_trip");
	struct history_merge_info info;
	struct history_stats st;
	struct stat sb;

	check_folded(merged(h, T0, T0 + 3 * WIN, NULL, &info), expected(0, 2, true, true));
	CHECK_U64(info.windows, ==, 3);
	CHECK_U64(info.records, ==, 6);
	CHECK_U64(info.samples, ==, (5 + 3 + 1 + 10 + 2) + (7 + 4 + 2 + 1 + 8) + (1 + 9 + 6 + 4 + 3));
	CHECK_U64(info.corrupt_records, ==, 0);
	CHECK_INT(info.start_ns, ==, T0);
	CHECK_INT(info.end_ns, ==, T0 + 3 * WIN);
	{
		_cleanup_(cleanup_pprof__free) struct pprof *p = new_into();

		REQUIRE(history__merge(h, T0, T0 + 3 * WIN, NULL, p, NULL) == 0);
		CHECK_STR(system_name_of(p, "parse"), "_Z5parsev");
		CHECK_STR(system_name_of(p, "serve"), "serve"); /* none: the name */
	}

	history__stats(h, &st);
	CHECK_U64(st.windows, ==, 3);
	CHECK_U64(st.series, ==, 6);
	CHECK_INT(st.oldest_ns, ==, T0);
	CHECK_INT(st.newest_ns, ==, T0 + 3 * WIN);
	CHECK_U64(st.puts, ==, 3);
	CHECK_U64(st.put_failures, ==, 0);
	CHECK_U64(st.queries, >=, 1);
	/* shared across windows: a stack seen again is the same row (5 in
	 * the first window, 3 new in the second, 2 in the third) */
	CHECK_U64(st.dict_rows[HISTORY_STACK], ==, 5 + 3 + 2);
	CHECK_U64(st.dict_rows[HISTORY_MAPPING], ==, 2);
	CHECK_U64(st.cache_bytes, >, 0);
	CHECK_U64(st.bytes, ==, disk_bytes(store_path("round_trip")));
	/* the files are the owner's only */
	REQUIRE(stat(store_path("round_trip"), &sb) == 0);
	CHECK_INT(sb.st_mode & 0777, ==, 0600);
	history__close(h);

	/* again after a reopen: the caches start empty, the rows are found */
	h = open_store(store_path("round_trip"), 0, 0, 0);
	CHECK_INT(put_window(h, 0, T0 + 3 * WIN), ==, 0);
	history__stats(h, &st);
	CHECK_U64(st.dict_rows[HISTORY_STACK], ==, 5 + 3 + 2);
	{
		_cleanup_(cleanup_pprof__free) struct pprof *want = new_into();

		for (int w = 0; w < 4; w++) {
			struct window_profiles wp;

			make_window(w % 3, &wp);
			copy_into(want, wp.api);
			copy_into(want, wp.db);
			free_window(&wp);
		}
		check_folded(merged(h, T0, T0 + 4 * WIN, NULL, NULL), folded(want));
	}
	history__close(h);
}

/* Windows are selected whole: a range selects every window it overlaps. */
static void test_ranges(void)
{
	struct history *h = three_windows("ranges");
	struct history_merge_info info;
	struct history_ranges *r = NULL;

	check_folded(merged(h, T0 + WIN, T0 + 2 * WIN, NULL, &info), expected(1, 1, true, true));
	CHECK_U64(info.windows, ==, 1);
	/* a second inside the first window and a second into the third */
	check_folded(merged(h, T0 + WIN - SEC, T0 + 2 * WIN + SEC, NULL, &info),
		     expected(0, 2, true, true));
	CHECK_U64(info.windows, ==, 3);
	check_folded(merged(h, T0 + 2 * WIN - 1, T0 + 2 * WIN, NULL, &info),
		     expected(1, 1, true, true));
	/* before and after everything */
	check_folded(merged(h, T0 - 10 * WIN, T0, NULL, &info), strdup(""));
	CHECK_U64(info.windows, ==, 0);
	check_folded(merged(h, T0 + 3 * WIN, T0 + 9 * WIN, NULL, &info), strdup(""));
	CHECK_U64(info.windows, ==, 0);
	CHECK_INT(history__merge(h, T0, T0, NULL, NULL, NULL), ==, -EINVAL);

	/* a gap: windows 0-2, then 10 and 11 */
	CHECK_INT(put_window(h, 0, T0 + 10 * WIN), ==, 0);
	CHECK_INT(put_window(h, 1, T0 + 11 * WIN), ==, 0);
	REQUIRE(history__ranges(h, 0, INT64_MAX, HISTORY_ANY_TYPE, &r) == 0);
	REQUIRE(r->n == 2);
	CHECK_INT(r->v[0].start_ns, ==, T0);
	CHECK_INT(r->v[0].end_ns, ==, T0 + 3 * WIN);
	CHECK_U64(r->v[0].windows, ==, 3);
	CHECK_U64(r->v[0].series, ==, 6);
	CHECK_U64(r->v[0].bytes, >, 0);
	CHECK_INT(r->v[1].start_ns, ==, T0 + 10 * WIN);
	CHECK_INT(r->v[1].end_ns, ==, T0 + 12 * WIN);
	CHECK_U64(r->v[1].windows, ==, 2);
	CHECK_U64(r->v[1].samples, ==, (5 + 3 + 1 + 10 + 2) + (7 + 4 + 2 + 1 + 8));
	history_ranges__free(r);
	history__close(h);
}

static void test_filters(void)
{
	struct history *h = three_windows("filters");
	struct history_filter f = { .pid = 42 };
	struct history_merge_info info;
	char err[256];

	check_folded(merged(h, T0, T0 + 3 * WIN, &f, &info), expected(0, 2, true, false));
	CHECK_U64(info.records, ==, 3);
	f.pid = 43;
	check_folded(merged(h, T0, T0 + 3 * WIN, &f, NULL), expected(0, 2, false, true));
	f.pid = 7;
	check_folded(merged(h, T0, T0 + 3 * WIN, &f, &info), strdup(""));
	CHECK_U64(info.records, ==, 0);

	f.pid = -1;
	REQUIRE(matcher_set__add(&f.match, "{service_name=\"db\"}", 19, err, sizeof(err)) == 0);
	check_folded(merged(h, T0, T0 + 3 * WIN, &f, NULL), expected(0, 2, false, true));
	/* both must hold */
	f.pid = 42;
	check_folded(merged(h, T0, T0 + 3 * WIN, &f, NULL), strdup(""));
	matcher_set__free(f.match);
	f.match = NULL;
	REQUIRE(matcher_set__add(&f.match, "{comm=~\"a.*\"}", 13, err, sizeof(err)) == 0);
	check_folded(merged(h, T0, T0 + 3 * WIN, &f, NULL), expected(0, 2, true, false));
	matcher_set__free(f.match);

	/* series labels become sample labels: pid as a number */
	{
		_cleanup_(cleanup_pprof__free) struct pprof *p = new_into();
		bool pid = false, service = false, thread = false;

		REQUIRE(history__merge(h, T0, T0 + WIN, NULL, p, NULL) == 0);
		for (size_t i = 0; i < pprof__sample_count(p); i++) {
			struct pprof_sample s;

			REQUIRE(pprof__sample_at(p, i, &s) == 0);
			for (size_t j = 0; j < s.nlabels; j++) {
				struct pprof_label l;

				REQUIRE(pprof__sample_label(p, i, j, &l) == 0);
				pid |= !strcmp(l.key, "pid") && !l.str && (l.num == 42 || l.num == 43);
				service |= !strcmp(l.key, "service_name") && l.str;
				thread |= !strcmp(l.key, "thread_id") && !l.str && l.num >= 1000;
			}
		}
		CHECK(pid);
		CHECK(service);
		CHECK(thread);
	}
	/* a bound on the merge's memory: past it -EFBIG, with room the same
	 * profile as without one */
	{
		_cleanup_(cleanup_pprof__free) struct pprof *small = new_into();
		struct history_filter bounded = { .pid = -1, .max_bytes = 1024 };

		CHECK_INT(history__merge(h, T0, T0 + 3 * WIN, &bounded, small, NULL), ==, -EFBIG);
		bounded.max_bytes = 64 << 20;
		check_folded(merged(h, T0, T0 + 3 * WIN, &bounded, NULL), expected(0, 2, true, true));
	}
	history__close(h);
}

/* Per window: its samples by service_name, the top one and the rest. */
/* The api series of window w as off-CPU time (db's stacks: waits), at
 * start. */
static int put_offcpu_window(struct history *h, int w, int64_t start)
{
	struct window_profiles wp;
	struct pprof *off;
	int err;

	make_window(w, &wp);
	off = make_typed_profile(start, "api", 0x400000, db_samples[w], 2, PPROF_TYPE_OFF_CPU);
	const struct history_series series[] = { { &wp.api_labels, off } };
	const struct history_window win = { .start_unix_ns = start, .duration_ns = WIN,
					    .series = series, .n = 1,
					    .type = PPROF_TYPE_OFF_CPU };

	err = history__put(h, &win);
	pprof__free(off);
	free_window(&wp);
	return err;
}

/* CPU and off-CPU windows over the same time: each query reads one type,
 * off-CPU values (nanoseconds) come back as they went in, never mixed
 * with CPU samples. */
static void test_types(void)
{
	struct history *h = open_store(store_path("types"), 0, 0, 0);
	const struct history_filter off = { .type = PPROF_TYPE_OFF_CPU, .pid = -1 };
	_cleanup_(cleanup_pprof__free) struct pprof *into = NULL;
	const struct pprof_opts oo = { .type = PPROF_TYPE_OFF_CPU, .time_nanos = T0,
				       .duration_nanos = 2 * WIN };
	struct history_merge_info info;
	struct history_timeline *tl = NULL;
	struct history_values *v = NULL;
	struct history_ranges *r = NULL;
	int64_t count = 0, ns = 0;
	char *text;

	for (int w = 0; w < 2; w++) {
		CHECK_INT(put_window(h, w, T0 + w * WIN), ==, 0);
		CHECK_INT(put_offcpu_window(h, w, T0 + w * WIN), ==, 0);
	}
	{
		/* a window is of one type: its profiles must be too */
		struct pprof *cpu = make_profile(T0, "api", api_samples[0], 3);
		struct labels ls = {};
		const struct history_series series[] = { { &ls, cpu } };
		struct history_window win = { .start_unix_ns = T0 + 5 * WIN, .duration_ns = WIN,
					      .series = series, .n = 1,
					      .type = PPROF_TYPE_OFF_CPU };

		CHECK_INT(history__put(h, &win), ==, -EINVAL);
		win.type = PPROF_TYPE_MAX;
		CHECK_INT(history__put(h, &win), ==, -EINVAL);
		pprof__free(cpu);
		/* an off-CPU window without samples has no period: stored */
		win = (struct history_window){ .start_unix_ns = T0 + 2 * WIN, .duration_ns = WIN,
					       .type = PPROF_TYPE_OFF_CPU };
		CHECK_INT(history__put(h, &win), ==, 0);
	}

	/* CPU: the CPU windows alone, as before types */
	check_folded(merged(h, T0, T0 + 2 * WIN, NULL, &info), expected(0, 1, true, true));
	CHECK_U64(info.windows, ==, 2);

	/* off-CPU: counts and nanoseconds of db's stacks, labeled api */
	REQUIRE(pprof__new(&oo, &into) == 0);
	CHECK_INT(history__merge(h, T0, T0 + 3 * WIN, NULL, into, &info), ==, 0);
	CHECK_U64(info.windows, ==, 2); /* the empty one has no series */
	for (size_t i = 0; i < pprof__sample_count(into); i++) {
		struct pprof_sample smp;

		REQUIRE(pprof__sample_at(into, i, &smp) == 0);
		count += smp.count;
		ns += smp.value;
	}
	CHECK_INT(count, ==, 10 + 2 + 1 + 8);
	CHECK_INT(ns, ==, (10 + 2 + 1 + 8) * OFF_NS);
	text = folded(into);
	test_fmt("folded off-CPU:\n%s", text);
	CHECK(strstr(text, "api;main;query;scan 11000033\n") != NULL);
	CHECK(strstr(text, "api;main;flush;fsync 8000024\n") != NULL);
	CHECK(strstr(text, "serve") == NULL); /* no CPU stack */
	free(text);

	/* timeline and labels: the type's totals (off_cpu: nanoseconds) */
	REQUIRE(history__timeline(h, T0, T0 + 3 * WIN, &off, "comm", 8, &tl) == 0);
	REQUIRE(tl->nwindows == 3);
	CHECK_U64(tl->windows[0].samples, ==, 12 * OFF_NS);
	CHECK_U64(tl->windows[1].samples, ==, 9 * OFF_NS);
	CHECK_U64(tl->windows[2].samples, ==, 0);
	REQUIRE(tl->nseries == 1);
	CHECK_STR(tl->series[0].value, "api");
	history_timeline__free(tl);
	REQUIRE(history__timeline(h, T0, T0 + 3 * WIN, NULL, "comm", 8, &tl) == 0);
	REQUIRE(tl->nwindows == 2);
	CHECK_U64(tl->windows[0].samples, ==, 5 + 3 + 1 + 10 + 2);
	CHECK_U64(tl->nseries, ==, 2);
	history_timeline__free(tl);
	REQUIRE(history__label_values(h, T0, T0 + 3 * WIN, &off, "comm", &v) == 0);
	REQUIRE(v->n == 1);
	CHECK_STR(v->v[0].value, "api");
	CHECK_U64(v->v[0].samples, ==, 21 * OFF_NS);
	history_values__free(v);

	/* ranges: one per type, cpu first */
	REQUIRE(history__ranges(h, 0, INT64_MAX, HISTORY_ANY_TYPE, &r) == 0);
	REQUIRE(r->n == 2);
	CHECK_INT(r->v[0].type, ==, PPROF_TYPE_CPU);
	CHECK_U64(r->v[0].windows, ==, 2);
	CHECK_INT(r->v[1].type, ==, PPROF_TYPE_OFF_CPU);
	CHECK_U64(r->v[1].windows, ==, 3);
	CHECK_INT(r->v[1].end_ns, ==, T0 + 3 * WIN);
	CHECK_U64(r->v[1].samples, ==, 21 * OFF_NS);
	history_ranges__free(r);
	REQUIRE(history__ranges(h, 0, INT64_MAX, PPROF_TYPE_OFF_CPU, &r) == 0);
	CHECK_U64(r->n, ==, 1);
	history_ranges__free(r);
	CHECK_INT(history__ranges(h, 0, INT64_MAX, PPROF_TYPE_MAX, &r), ==, -EINVAL);
	history__close(h);
}

/* A store of schema 1 (before types) opens: the writer migrates it in
 * place (its windows are cpu, nothing moved aside); a reader is told to
 * let the agent do it. */
static void test_migrate_v1(void)
{
	const char *path = store_path("migrate_v1");
	struct history_opts ro = { .path = path, .read_only = true };
	struct history *h = open_store(path, 0, 0, 0);
	struct history_ranges *r = NULL;
	struct history_stats st;
	char err[512] = "", corrupt[600];
	sqlite3 *db;

	for (int w = 0; w < 3; w++)
		CHECK_INT(put_window(h, w, T0 + w * WIN), ==, 0);
	history__close(h);
	/* what schema 1 was: no type column, user_version 1 */
	REQUIRE(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK);
	CHECK_INT(sqlite3_exec(db, "ALTER TABLE windows DROP COLUMN type; PRAGMA user_version=1",
			       NULL, NULL, NULL), ==, SQLITE_OK);
	sqlite3_close(db);
	CHECK_INT(store_int(path, "SELECT count(*) FROM pragma_table_info('windows')"
			    " WHERE name = 'type'"), ==, 0);

	h = NULL;
	CHECK_INT(history__open(&ro, &h, err, sizeof(err)), ==, -EUCLEAN);
	test_fmt("read-only open: %s", err);
	CHECK(strstr(err, "schema version 1") && strstr(err, "migrates"));

	h = open_store(path, 0, 0, 0);
	history__stats(h, &st);
	CHECK_U64(st.drops[HISTORY_DROP_CORRUPT_STORE], ==, 0);
	snprintf(corrupt, sizeof(corrupt), "%s.corrupt", path);
	CHECK(access(corrupt, F_OK) != 0);
	CHECK_INT(store_int(path, "PRAGMA user_version"), ==, 2);
	check_folded(merged(h, T0, T0 + 3 * WIN, NULL, NULL), expected(0, 2, true, true));
	REQUIRE(history__ranges(h, 0, INT64_MAX, PPROF_TYPE_CPU, &r) == 0);
	REQUIRE(r->n == 1);
	CHECK_U64(r->v[0].windows, ==, 3);
	history_ranges__free(r);
	/* and takes off-CPU windows next to them */
	CHECK_INT(put_offcpu_window(h, 0, T0 + 3 * WIN), ==, 0);
	history__close(h);
}

static void test_timeline(void)
{
	struct history *h = open_store(store_path("timeline"), 0, 0, 0);
	struct history_timeline *tl = NULL;
	struct history_values *v = NULL;
	/* samples of services a, b, c in 4 windows: a leads, c is least */
	const int64_t counts[4][3] = { { 10, 1, 0 }, { 10, 5, 1 }, { 0, 9, 2 }, { 20, 0, 1 } };
	const char *names[3] = { "a", "b", "c" };
	struct tsample smp = { { "main", "work", NULL }, 0, NULL };

	/* an empty store (a fresh agent's page asks at once): nothing, no
	 * error (UBSan: no qsort of a NULL array) */
	REQUIRE(history__timeline(h, T0, T0 + 5 * WIN, NULL, "comm", 8, &tl) == 0);
	CHECK_INT(tl->nwindows, ==, 0);
	CHECK_INT(tl->nseries, ==, 0);
	history_timeline__free(tl);
	tl = NULL;
	REQUIRE(history__label_values(h, T0, T0 + 5 * WIN, NULL, "comm", &v) == 0);
	CHECK_INT(v->n, ==, 0);
	history_values__free(v);
	v = NULL;
	REQUIRE(history__label_names(h, T0, T0 + 5 * WIN, NULL, &v) == 0);
	CHECK_INT(v->n, ==, 0);
	history_values__free(v);
	v = NULL;

	for (int w = 0; w < 4; w++) {
		struct pprof *p[3] = {};
		struct labels ls[3] = {};
		struct history_series series[3];
		size_t n = 0;

		for (int i = 0; i < 3; i++) {
			if (!counts[w][i])
				continue;
			smp.count = counts[w][i];
			p[n] = make_profile(T0 + w * WIN, names[i], &smp, 1);
			set_labels(&ls[n], test_fmt("%d", 100 + i), names[i], names[i]);
			series[n] = (struct history_series){ &ls[n], p[n] };
			n++;
		}
		const struct history_window win = { T0 + w * WIN, WIN, 0, series, n };
		CHECK_INT(history__put(h, &win), ==, 0);
		for (size_t i = 0; i < n; i++) {
			pprof__free(p[i]);
			labels__clear(&ls[i]);
		}
	}
	/* a window without samples is in the timeline, with zeros */
	{
		const struct history_window empty = { T0 + 4 * WIN, WIN, PERIOD_NS, NULL, 0 };

		CHECK_INT(history__put(h, &empty), ==, 0);
	}
	REQUIRE(history__timeline(h, T0, T0 + 5 * WIN, NULL, "service_name", 2, &tl) == 0);
	REQUIRE(tl->nwindows == 5);
	CHECK_INT(tl->windows[4].start_ns, ==, T0 + 4 * WIN);
	CHECK_U64(tl->windows[4].samples, ==, 0);
	CHECK_U64(tl->series[0].counts[4] + tl->series[1].counts[4] + tl->series[2].counts[4], ==, 0);
	REQUIRE(tl->nseries == 3);
	/* a: 40, b: 15, then other (c: 4) */
	CHECK_STR(tl->series[0].value, "a");
	CHECK_U64(tl->series[0].total, ==, 40);
	CHECK_STR(tl->series[1].value, "b");
	CHECK_U64(tl->series[1].total, ==, 15);
	CHECK(tl->series[2].value == NULL);
	CHECK_U64(tl->series[2].total, ==, 4);
	for (int w = 0; w < 4; w++) {
		CHECK_INT(tl->windows[w].start_ns, ==, T0 + w * WIN);
		CHECK_INT(tl->windows[w].duration_ns, ==, WIN);
		CHECK_U64(tl->windows[w].samples, ==, counts[w][0] + counts[w][1] + counts[w][2]);
		for (int i = 0; i < 3; i++)
			CHECK_U64(tl->series[i].counts[w], ==, counts[w][i]);
	}
	history_timeline__free(tl);

	/* the switch: window 2 has no a; a label no series has is "" */
	REQUIRE(history__timeline(h, T0 + 2 * WIN, T0 + 3 * WIN, NULL, "pod", 5, &tl) == 0);
	REQUIRE(tl->nwindows == 1 && tl->nseries == 1);
	CHECK_STR(tl->series[0].value, "");
	CHECK_U64(tl->series[0].counts[0], ==, 11);
	history_timeline__free(tl);

	REQUIRE(history__label_names(h, T0, T0 + 4 * WIN, NULL, &v) == 0);
	REQUIRE(v->n == 3);
	CHECK_STR(v->v[0].value, "comm");
	CHECK_STR(v->v[1].value, "pid");
	CHECK_STR(v->v[2].value, "service_name");
	CHECK_U64(v->v[2].samples, ==, 59);
	history_values__free(v);
	REQUIRE(history__label_values(h, T0 + WIN, T0 + 3 * WIN, NULL, "service_name", &v) == 0);
	REQUIRE(v->n == 3);
	CHECK_STR(v->v[0].value, "a");
	CHECK_U64(v->v[0].samples, ==, 10);
	CHECK_STR(v->v[1].value, "b");
	CHECK_U64(v->v[1].samples, ==, 14);
	CHECK_STR(v->v[2].value, "c");
	CHECK_U64(v->v[2].samples, ==, 3);
	history_values__free(v);
	REQUIRE(history__label_values(h, T0, T0 + 4 * WIN, NULL, "nope", &v) == 0);
	CHECK_U64(v->n, ==, 0);
	history_values__free(v);
	history__close(h);
}

static void test_retention(void)
{
	struct history *h = open_store(store_path("retention"), 0, 60 * SEC, SEC);
	struct history_stats st;
	struct history_merge_info info;

	for (int w = 0; w < 10; w++)
		CHECK_INT(put_window(h, w, T0 + w * WIN), ==, 0);
	/* now = end of window 9 = T0 + 150 s: windows ending before T0 + 90 s
	 * (0 to 4) are gone */
	history__stats(h, &st);
	CHECK_U64(st.windows, ==, 5);
	CHECK_U64(st.drops[HISTORY_DROP_AGE], ==, 5);
	CHECK_INT(st.oldest_ns, ==, T0 + 5 * WIN);
	check_folded(merged(h, T0, T0 + 5 * WIN, NULL, &info), strdup(""));
	CHECK_U64(info.windows, ==, 0);
	/* pruning on its own, later */
	CHECK_INT(history__prune(h, T0 + 10 * WIN + 60 * SEC + 1), ==, 0);
	history__stats(h, &st);
	CHECK_U64(st.windows, ==, 0);
	/* nothing kept, nothing in the dictionary */
	for (int k = 0; k < HISTORY_KIND__MAX; k++)
		CHECK_U64(st.dict_rows[k], ==, 0);
	CHECK_INT(put_window(h, 1, T0 + 20 * WIN), ==, 0);
	check_folded(merged(h, T0 + 20 * WIN, T0 + 21 * WIN, NULL, NULL), expected(1, 1, true, true));
	history__close(h);
}

/* A window whose stacks are all new (the leaf's name carries the window
 * number): the dictionary grows with every window. */
static int put_churn_window(struct history *h, int w)
{
	char names[40][8][32];
	struct tsample s[40];
	struct labels ls = {};
	struct pprof *p;
	int err;

	for (int i = 0; i < 40; i++) {
		s[i] = (struct tsample){ .count = 1 + (i % 5) };
		for (int d = 0; d < 5; d++) {
			if (d < 4)
				snprintf(names[i][d], sizeof(names[i][d]), "common_%d_%d", i % 7, d);
			else
				snprintf(names[i][d], sizeof(names[i][d]), "fn_%d_%d_%d", w, i, d);
			s[i].frames[d] = names[i][d];
		}
	}
	p = make_profile(T0 + w * WIN, "churn", s, 40);
	set_labels(&ls, "9", "churn", "churn");
	const struct history_series series = { &ls, p };
	const struct history_window win = { T0 + w * WIN, WIN, 0, &series, 1 };
	err = history__put(h, &win);
	pprof__free(p);
	labels__clear(&ls);
	return err;
}

/* max_bytes on disk: never above the bound but for about one window,
 * drops counted, the space of dropped windows reused or returned (the
 * files stay at the bound over many windows). */
static void test_byte_bound(void)
{
	const uint64_t max = 1 << 20;
	const char *path = store_path("byte_bound");
	struct history *h = open_store(path, max, 0, SEC);
	struct history_stats st;
	uint64_t peak = 0, window_bytes = 0, before;
	struct stat sb;

	for (int w = 0; w < 300; w++) {
		before = disk_bytes(path);
		CHECK_INT(put_churn_window(h, w), ==, 0);
		if (w >= 1 && w < 6 && disk_bytes(path) > before)
			window_bytes = MAX(window_bytes, disk_bytes(path) - before);
		peak = MAX(peak, disk_bytes(path));
	}
	history__stats(h, &st);
	fprintf(stderr, "byte bound %llu: peak %llu on disk, one window about %llu, %llu windows kept, %llu dropped\n",
		(unsigned long long)max, (unsigned long long)peak, (unsigned long long)window_bytes,
		(unsigned long long)st.windows, (unsigned long long)st.drops[HISTORY_DROP_BYTES]);
	CHECK_U64(window_bytes, >, 0);
	CHECK_U64(peak, <=, max + window_bytes);
	CHECK_U64(disk_bytes(path), <=, max);
	CHECK_U64(st.bytes, ==, disk_bytes(path));
	REQUIRE(stat(path, &sb) == 0);
	CHECK_U64((uint64_t)sb.st_size, <=, max);
	CHECK_U64(st.drops[HISTORY_DROP_BYTES], >, 0);
	CHECK_U64(st.drops[HISTORY_DROP_BYTES] + st.windows, ==, 300);
	/* the space of what was deleted goes back to the file system (2:
	 * incremental), not only to the next windows */
	CHECK_INT(store_int(path, "PRAGMA auto_vacuum"), ==, 2);
	/* what is kept is a good part of the bound, not a window or two */
	CHECK_U64(st.windows, >=, 10);
	CHECK_U64(st.put_failures, ==, 0);
	/* the dictionary follows the windows: a few windows' rows, not 300 */
	CHECK_U64(st.dict_rows[HISTORY_FUNCTION], <, (st.windows + 10) * 40);
	history__close(h);
}

/* A host where processes live one window each (a loop of short
 * commands): window w has CHURN_PROCS new processes, each its own series
 * (pid w * CHURN_PROCS + i) with its own load address (so its own mapping,
 * locations and stacks), thread names of its own (label sets), and leaf
 * functions only that window has (functions, strings). */
#define CHURN_PROCS 3
#define CHURN_SAMPLES 30

static struct pprof *churn_process(int w, int i)
{
	static const char *const comms[] = { "python3", "sh", "gzip", "curl" };
	char names[CHURN_SAMPLES][3][32], threads[CHURN_SAMPLES][32];
	struct tsample s[CHURN_SAMPLES];
	int pid = w * CHURN_PROCS + i;

	for (int k = 0; k < CHURN_SAMPLES; k++) {
		s[k] = (struct tsample){ .count = 1 + (k + i) % 4,
					 .thread = k % 3 ? threads[k] : NULL };
		snprintf(threads[k], sizeof(threads[k]), "worker-%d-%d", pid, k % 2);
		snprintf(names[k][0], sizeof(names[k][0]), "loop_%d", k % 4);
		snprintf(names[k][1], sizeof(names[k][1]), "step_%d", k % 6);
		if (k % 2)
			snprintf(names[k][2], sizeof(names[k][2]), "lib_%d", k % 9);
		else
			snprintf(names[k][2], sizeof(names[k][2]), "gen_%d_%d", w, k);
		s[k].frames[0] = "main";
		for (int d = 0; d < 3; d++)
			s[k].frames[1 + d] = names[k][d];
	}
	return make_profile_at(T0 + w * WIN, comms[pid % 4], 0x400000 + (uint64_t)pid * 0x10000000,
			       s, CHURN_SAMPLES);
}

static int put_process_churn(struct history *h, int w)
{
	struct history_series series[CHURN_PROCS];
	struct labels ls[CHURN_PROCS] = {};
	int err;

	for (int i = 0; i < CHURN_PROCS; i++) {
		series[i] = (struct history_series){ &ls[i], churn_process(w, i) };
		set_labels(&ls[i], test_fmt("%d", w * CHURN_PROCS + i), "churn", "churn");
	}
	const struct history_window win = { T0 + w * WIN, WIN, 0, series, CHURN_PROCS };
	err = history__put(h, &win);
	for (int i = 0; i < CHURN_PROCS; i++) {
		pprof__free(series[i].profile);
		labels__clear(&ls[i]);
	}
	return err;
}

static char *expected_churn(int first, int last)
{
	_cleanup_(cleanup_pprof__free) struct pprof *p = new_into();

	for (int w = first; w <= last; w++)
		for (int i = 0; i < CHURN_PROCS; i++) {
			_cleanup_(cleanup_pprof__free) struct pprof *q = churn_process(w, i);

			copy_into(p, q);
		}
	return folded(p);
}

/* The files' largest size seen while puts run: what a reader of the
 * directory sees in the middle of a put (its WAL, the prune's). */
struct poller {
	char path[512];
	bool stop;
	uint64_t peak;
};

static void *poll_bytes(void *p)
{
	struct poller *a = p;

	while (!__atomic_load_n(&a->stop, __ATOMIC_RELAXED)) {
		a->peak = MAX(a->peak, disk_bytes(a->path));
		usleep(200);
	}
	return NULL;
}

/* max_bytes under churn with the default refresh (1 h, 240 windows): the
 * rows of dropped windows would outlive them by an hour under the
 * last_seen collection alone, and the windows would be dropped down to
 * one while the files still grow. The sweeps keep the files within the
 * bound and a window, and many windows, whole. */
static void test_churn_bound(void)
{
	const uint64_t max = 1 << 20;
	const int n = 400;
	const char *path = store_path("churn_bound");
	struct history *h = open_store(path, max, 0, 0);
	struct history_check *c = NULL;
	struct history_stats st;
	uint64_t peak = 0, window_bytes = 0, first_locations = 0, before;
	int first;
	struct poller pl = { .peak = 0 };
	pthread_t th;

	snprintf(pl.path, sizeof(pl.path), "%s", path);
	REQUIRE(pthread_create(&th, NULL, poll_bytes, &pl) == 0);
	for (int w = 0; w < n; w++) {
		before = disk_bytes(path);
		CHECK_INT(put_process_churn(h, w), ==, 0);
		if (w >= 1 && w < 6 && disk_bytes(path) > before)
			window_bytes = MAX(window_bytes, disk_bytes(path) - before);
		if (!w) {
			history__stats(h, &st);
			first_locations = st.dict_rows[HISTORY_LOCATION];
		}
		peak = MAX(peak, disk_bytes(path));
	}
	__atomic_store_n(&pl.stop, true, __ATOMIC_RELAXED);
	REQUIRE(pthread_join(th, NULL) == 0);
	history__stats(h, &st);
	fprintf(stderr, "churn bound %llu: peak %llu on disk after a put, %llu during one (WAL budget %llu), one window about %llu; %llu windows kept, %llu dropped; %llu sweeps (%llu failed) deleted %llu rows in %.1f ms (%.2f ms each); %llu locations (%llu a window)\n",
		(unsigned long long)max, (unsigned long long)peak, (unsigned long long)pl.peak,
		(unsigned long long)st.wal_budget, (unsigned long long)window_bytes,
		(unsigned long long)st.windows, (unsigned long long)st.drops[HISTORY_DROP_BYTES],
		(unsigned long long)st.sweeps, (unsigned long long)st.sweep_failures,
		(unsigned long long)st.sweep_rows, (double)st.sweep_ns / 1e6,
		st.sweeps ? (double)st.sweep_ns / 1e6 / (double)st.sweeps : 0.0,
		(unsigned long long)st.dict_rows[HISTORY_LOCATION],
		(unsigned long long)first_locations);
	CHECK_U64(window_bytes, >, 0);
	CHECK_U64(peak, <=, max + window_bytes);
	/* during a put the main file also holds the window's pages (its
	 * rows split index pages that deletions left part full: here about
	 * 100 KiB) before the prune takes the oldest out, and the WAL may
	 * pass its budget by a little */
	CHECK_U64(pl.peak, <=, max + max / 8);
	CHECK_U64(st.wal_budget, >, 0);
	CHECK_U64(st.put_failures, ==, 0);
	CHECK_U64(st.drops[HISTORY_DROP_BYTES] + st.windows, ==, (uint64_t)n);
	/* a good part of the bound is windows, not one window and the
	 * dictionary of the dropped ones */
	CHECK_U64(st.windows, >=, 10);
	CHECK_U64(st.sweeps, >, 0);
	CHECK_U64(st.sweep_rows, >, 0);
	CHECK_U64(st.sweep_failures, ==, 0);
	/* the dictionary is the kept windows' and the newest few since the
	 * last sweep: every window brings first_locations new ones */
	CHECK_U64(first_locations, >, 0);
	CHECK_U64(st.dict_rows[HISTORY_LOCATION], <=, (st.windows + 10) * first_locations);
	/* what is kept is whole */
	first = (int)((st.oldest_ns - T0) / WIN);
	CHECK_INT(first, ==, n - (int)st.windows);
	check_folded(merged(h, st.oldest_ns, T0 + n * WIN, NULL, NULL), expected_churn(first, n - 1));
	REQUIRE(history__check(h, &c) == 0);
	CHECK(c->ok);
	if (!c->ok)
		fprintf(stderr, "%s", c->problems);
	history_check__free(c);
	history__close(h);
}

/* Flips bytes, truncates or replaces the store file, then reopens: the
 * open says what was wrong, keeps the file as .corrupt, starts afresh. */
static void corrupt_and_reopen(const char *name, void (*damage)(const char *path))
{
	const char *path = store_path(name);
	struct history *h = three_windows(name);
	struct history_opts o = { .path = path };
	struct history_stats st;
	struct history_check *c = NULL;
	char err[512] = "";
	struct stat sb;

	history__close(h);
	h = NULL;
	damage(path);
	/* a reader says so and changes nothing */
	o.read_only = true;
	if (history__open(&o, &h, err, sizeof(err)) == 0) {
		/* what a reader's schema check cannot see, its check does */
		REQUIRE(history__check(h, &c) == 0);
		CHECK(!c->ok);
		fprintf(stderr, "%s, read-only check: %s", name, c->problems ? c->problems : "ok\n");
		history_check__free(c);
		c = NULL;
		history__close(h);
		h = NULL;
	} else {
		CHECK(h == NULL);
		fprintf(stderr, "%s, read-only: %s\n", name, err);
	}
	o.read_only = false;
	REQUIRE(history__open(&o, &h, err, sizeof(err)) == 0);
	fprintf(stderr, "%s: %s\n", name, err);
	CHECK(strstr(err, "corrupt") != NULL);
	CHECK(strstr(err, ".corrupt") != NULL);
	CHECK_INT(stat(test_fmt("%s.corrupt", path), &sb), ==, 0);
	history__stats(h, &st);
	CHECK_U64(st.drops[HISTORY_DROP_CORRUPT_STORE], ==, 1);
	CHECK_U64(st.windows, ==, 0);
	CHECK_INT(put_window(h, 2, T0), ==, 0);
	check_folded(merged(h, T0, T0 + WIN, NULL, NULL), expected(2, 2, true, true));
	REQUIRE(history__check(h, &c) == 0);
	CHECK(c->ok);
	history_check__free(c);
	history__close(h);
}

static void flip_btree_pages(const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	uint8_t junk[64];
	struct stat sb;

	REQUIRE(fd >= 0 && fstat(fd, &sb) == 0);
	memset(junk, 0xa5, sizeof(junk));
	/* the page headers of pages 2 to the last (4096-byte pages): the
	 * tables' b-trees */
	for (off_t off = 4096; off + (off_t)sizeof(junk) <= sb.st_size; off += 4096)
		REQUIRE(pwrite(fd, junk, 8, off) == 8);
	close(fd);
}

static void flip_header(const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);

	REQUIRE(fd >= 0);
	REQUIRE(pwrite(fd, "XQLite", 6, 0) == 6);
	close(fd);
}

static void truncate_half(const char *path)
{
	struct stat sb;

	REQUIRE(stat(path, &sb) == 0);
	REQUIRE(truncate(path, sb.st_size / 2 - 100) == 0);
}

static void not_sqlite(const char *path)
{
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);

	REQUIRE(fd >= 0);
	REQUIRE(write(fd, "this is not a database\n", 23) == 23);
	close(fd);
}

static void test_corrupt_btree(void)
{
	corrupt_and_reopen("corrupt_btree", flip_btree_pages);
}

static void test_corrupt_header(void)
{
	corrupt_and_reopen("corrupt_header", flip_header);
}

static void test_truncated(void)
{
	corrupt_and_reopen("truncated", truncate_half);
}

static void test_not_sqlite(void)
{
	corrupt_and_reopen("not_sqlite", not_sqlite);
}

/* A store whose directory's parents do not exist yet (the default
 * /var/lib/brasa/history on a host where nothing made /var/lib/brasa):
 * they are made, owner-only. */
static void test_missing_parents(void)
{
	char path[512];
	struct history *h;
	struct stat sb;

	snprintf(path, sizeof(path), "%s/missing/a/b/history.db", tmp_root);
	h = open_store(path, 0, 0, 0);
	CHECK_INT(put_window(h, 0, T0), ==, 0);
	history__close(h);
	snprintf(path, sizeof(path), "%s/missing/a", tmp_root);
	REQUIRE(stat(path, &sb) == 0);
	CHECK_INT(sb.st_mode & 0777, ==, 0700);
}

/* Rewrites what a row of the store holds, through a connection of the
 * test's own. */
static void store_exec(const char *path, const char *sql)
{
	sqlite3 *db;

	REQUIRE(sqlite3_open(path, &db) == SQLITE_OK);
	CHECK_INT(sqlite3_exec(db, sql, NULL, NULL, NULL), ==, SQLITE_OK);
	CHECK_INT(sqlite3_changes(db), >, 0);
	sqlite3_close(db);
}

/* A record that does not decode: skipped and counted, the rest merges,
 * check names it; a row no window uses may refer to collected rows. */
static void test_corrupt_record(void)
{
	const char *path = store_path("corrupt_record");
	struct history *h = three_windows("corrupt_record");
	struct history_merge_info info;
	struct history_check *c = NULL;
	struct history_stats st;
	_cleanup_(cleanup_pprof__free) struct pprof *want = new_into();

	REQUIRE(history__check(h, &c) == 0);
	CHECK(c->ok);
	CHECK(c->problems == NULL);
	CHECK_U64(c->windows, ==, 3);
	CHECK_U64(c->records, ==, 6);
	CHECK_U64(c->dict_rows, >, 20);
	CHECK_U64(c->unreached_rows, ==, 0);
	history_check__free(c);

	/* a row no window uses that refers to a string already collected (as
	 * last_seen lets a row outlive what it refers to): not a problem */
	store_exec(path, "INSERT INTO functions(hash, last_seen, body) VALUES (0, 0, x'e807e807')");
	REQUIRE(history__check(h, &c) == 0);
	CHECK(c->ok);
	CHECK_U64(c->unreached_rows, ==, 1);
	CHECK_U64(c->missing_refs, ==, 0);
	history_check__free(c);

	/* the db series of the second window: a byte of its zstd frame */
	store_exec(path, "UPDATE series SET record = substr(record, 1, 10) || x'ff'"
			 " || substr(record, 12) WHERE window = 2 AND seq = 1");
	for (int w = 0; w < 3; w++) {
		struct window_profiles wp;

		make_window(w, &wp);
		copy_into(want, wp.api);
		if (w != 1)
			copy_into(want, wp.db);
		free_window(&wp);
	}
	check_folded(merged(h, T0, T0 + 3 * WIN, NULL, &info), folded(want));
	CHECK_U64(info.corrupt_records, ==, 1);
	CHECK_U64(info.records, ==, 5);
	history__stats(h, &st);
	CHECK_U64(st.drops[HISTORY_DROP_CORRUPT_RECORD], ==, 1);

	REQUIRE(history__check(h, &c) == 0);
	CHECK(!c->ok);
	CHECK_U64(c->corrupt_records, ==, 1);
	CHECK(c->problems && strstr(c->problems, "series 1 of window 2 does not decode"));
	history_check__free(c);

	/* a stack row that refers to a missing location: its samples go,
	 * check names the reference */
	store_exec(path, "UPDATE stacks SET body = x'01e807' WHERE id = 1");
	{
		char *text = merged(h, T0 + 2 * WIN, T0 + 3 * WIN, NULL, &info);

		CHECK_U64(info.corrupt_records, ==, 1);
		CHECK(!strstr(text, "api;main;serve;parse"));
		CHECK(strstr(text, "api;main;serve;respond 9\n"));
		CHECK(strstr(text, "db;main;query;scan 4\n"));
		free(text);
	}
	REQUIRE(history__check(h, &c) == 0);
	CHECK(!c->ok);
	CHECK_U64(c->missing_refs, ==, 1);
	CHECK(c->problems && strstr(c->problems, "stacks 1 refers to locations 1000, which is missing"));
	history_check__free(c);
	history__close(h);
}

/* A read-only handle (as `brasa history` opens) merges while the writer
 * puts, and a handle's queries run from several threads at once. */
struct reader_arg {
	struct history *h;
	int merges, failures;
	uint64_t last_windows;
};

static void *reader_thread(void *p)
{
	struct reader_arg *a = p;

	for (int i = 0; i < 40; i++) {
		_cleanup_(cleanup_pprof__free) struct pprof *into = new_into();
		struct history_merge_info info;

		if (history__merge(a->h, 0, INT64_MAX, NULL, into, &info) || info.corrupt_records)
			a->failures++;
		/* a snapshot: windows only come, each whole */
		if (info.windows < a->last_windows || info.records != 2 * info.windows)
			a->failures++;
		a->last_windows = info.windows;
		a->merges++;
	}
	return NULL;
}

static void test_reader(void)
{
	const char *path = store_path("reader");
	struct history *w = open_store(path, 0, 0, 0), *r = NULL;
	struct history_opts o = { .path = path, .read_only = true };
	struct reader_arg args[3];
	pthread_t threads[3];
	char err[256];

	CHECK_INT(put_window(w, 0, T0), ==, 0);
	REQUIRE(history__open(&o, &r, err, sizeof(err)) == 0);
	CHECK_INT(put_window(r, 0, T0 + WIN), ==, -EROFS);
	CHECK_INT(history__prune(r, T0), ==, -EROFS);
	/* two threads on the read-only handle, one on the writer's */
	for (int i = 0; i < 3; i++) {
		args[i] = (struct reader_arg){ .h = i < 2 ? r : w };
		REQUIRE(pthread_create(&threads[i], NULL, reader_thread, &args[i]) == 0);
	}
	for (int i = 1; i < 30; i++)
		CHECK_INT(put_window(w, i, T0 + i * WIN), ==, 0);
	for (int i = 0; i < 3; i++) {
		REQUIRE(pthread_join(threads[i], NULL) == 0);
		CHECK_INT(args[i].merges, ==, 40);
		CHECK_INT(args[i].failures, ==, 0);
	}
	{
		struct history_merge_info info;

		check_folded(merged(r, T0 + 29 * WIN, T0 + 30 * WIN, NULL, &info),
			     expected(2, 2, true, true));
		CHECK_U64(info.windows, ==, 1);
	}
	/* a second writer is refused, readers are not */
	{
		struct history_opts wo = { .path = path };
		struct history *w2 = NULL;

		CHECK_INT(history__open(&wo, &w2, err, sizeof(err)), ==, -EBUSY);
		CHECK(strstr(err, "another brasa") != NULL);
	}
	history__close(r);
	history__close(w);
	o.path = store_path("reader-none");
	CHECK_INT(history__open(&o, &r, err, sizeof(err)), ==, -ENOENT);
}

/* In a child, in a mount namespace of its own, a 3 MiB tmpfs filled by
 * windows: the puts that meet the full disk drop the oldest windows and
 * retry, are counted, fail cleanly when even that does not help, and
 * later puts work. */
static void disk_full_child(void)
{
	char mnt[300];
	struct history *h;
	struct history_stats st;
	struct history_check *c = NULL;
	int ok = 0, failed = 0, err;

	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		_exit(77);
	snprintf(mnt, sizeof(mnt), "%s/disk_full", tmp_root);
	REQUIRE(mkdir(mnt, 0700) == 0);
	if (mount("tmpfs", mnt, "tmpfs", 0, "size=3m") < 0)
		_exit(77);
	h = open_store(test_fmt("%s/h/history.db", mnt), 0, 0, SEC);
	for (int w = 0; w < 400; w++) {
		err = put_churn_window(h, w);
		if (err) {
			CHECK_INT(err, ==, -ENOSPC);
			failed++;
		} else {
			ok++;
		}
	}
	history__stats(h, &st);
	fprintf(stderr, "disk full: %d puts stored, %d failed, %llu met a full disk, %llu windows dropped, %llu kept\n",
		ok, failed, (unsigned long long)st.disk_full,
		(unsigned long long)st.drops[HISTORY_DROP_DISK_FULL], (unsigned long long)st.windows);
	CHECK_U64(st.disk_full, >, 0);
	CHECK_U64(st.drops[HISTORY_DROP_DISK_FULL], >, 0);
	CHECK_INT(ok, >, 300);
	CHECK_U64(st.put_failures, ==, (uint64_t)failed);
	/* the last window is there whole */
	CHECK_INT(put_churn_window(h, 400), ==, 0);
	{
		_cleanup_(cleanup_pprof__free) struct pprof *p = new_into();
		struct history_merge_info info;

		CHECK_INT(history__merge(h, T0 + 400 * WIN, T0 + 401 * WIN, NULL, p, &info), ==, 0);
		CHECK_U64(info.samples, ==, 8 * (1 + 2 + 3 + 4 + 5));
	}
	REQUIRE(history__check(h, &c) == 0);
	CHECK(c->ok);
	history_check__free(c);
	history__close(h);
	umount2(mnt, MNT_DETACH);
}

static void test_disk_full(void)
{
	pid_t pid;
	int status;

	if (geteuid() != 0) {
		fprintf(stderr, "SKIP disk_full: needs root for a tmpfs\n");
		return;
	}
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		test_failures = 0;
		disk_full_child();
		_exit(test_failures ? 1 : 0);
	}
	REQUIRE(waitpid(pid, &status, 0) == pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
		fprintf(stderr, "SKIP disk_full: cannot mount a private tmpfs\n");
		return;
	}
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* A writer killed (SIGKILL) in the middle of its puts: the store opens
 * without complaint, passes its check, and holds every window whose put
 * had returned (and at most the one being written besides). */
static void test_killed_writer(void)
{
	const char *path = store_path("killed_writer");
	struct history_opts o = { .path = path };
	struct history_check *c = NULL;
	struct history_stats st;
	struct history *h;
	int fds[2], status, done = 0;
	char err[512] = "";
	pid_t pid;

	REQUIRE(pipe(fds) == 0);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		h = open_store(path, 0, 0, 0);
		for (int w = 0;; w++) {
			if (put_window(h, w % 3, T0 + w * WIN))
				_exit(1);
			if (write(fds[1], &w, sizeof(w)) != sizeof(w))
				_exit(1);
		}
	}
	close(fds[1]);
	/* kill it a little after its 25th window, in the middle of others */
	for (int w; done < 25 && read(fds[0], &w, sizeof(w)) == sizeof(w);)
		done = w + 1;
	usleep(3000);
	kill(pid, SIGKILL);
	for (int w; read(fds[0], &w, sizeof(w)) == sizeof(w);)
		done = w + 1;
	close(fds[0]);
	REQUIRE(waitpid(pid, &status, 0) == pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

	REQUIRE(history__open(&o, &h, err, sizeof(err)) == 0);
	CHECK_STR(err, "");
	history__stats(h, &st);
	fprintf(stderr, "killed after %d puts returned: %llu windows kept\n", done,
		(unsigned long long)st.windows);
	CHECK_U64(st.windows, >=, (uint64_t)done);
	CHECK_U64(st.windows, <=, (uint64_t)done + 1);
	CHECK_U64(st.drops[HISTORY_DROP_CORRUPT_STORE], ==, 0);
	REQUIRE(history__check(h, &c) == 0);
	CHECK(c->ok);
	if (!c->ok)
		fprintf(stderr, "%s", c->problems);
	history_check__free(c);
	/* and it goes on */
	CHECK_INT(put_window(h, 0, T0 + 1000 * WIN), ==, 0);
	check_folded(merged(h, T0 + 1000 * WIN, T0 + 1001 * WIN, NULL, NULL),
		     expected(0, 0, true, true));
	history__close(h);
}

/* ---- the codecs ---- */

/* Records with a values column (off-CPU nanoseconds): summed with the
 * counts, round trips through every codec, flagged in the codec byte;
 * records whose values are all 0 have no column (schema 1's read the
 * same). */
static void test_record_values(void)
{
	const struct record_entry v[] = { { 7, 0, 3, 3000 }, { 2, 5, 1, 10 }, { 7, 0, 4, 4000 },
					  { 9, 0, 1, 0 } };
	const enum record_codec codecs[] = { RECORD_RAW, RECORD_ZSTD, RECORD_DEFLATE };
	struct record r = {};

	for (size_t c = 0; c < ARRAY_SIZE(codecs); c++) {
		struct record_entry in[ARRAY_SIZE(v)];
		size_t n = ARRAY_SIZE(v);
		struct buf out = {};

		memcpy(in, v, sizeof(v));
		CHECK_INT(record__encode(in, &n, codecs[c], &out), ==, 0);
		CHECK_INT(out.data[0], ==, RECORD_RAW | RECORD_VALUES);
		CHECK_INT(record__decode(out.data, out.len, &r), ==, 0);
		REQUIRE(r.n == 3);
		CHECK_U64(r.v[0].stack, ==, 2);
		CHECK_U64(r.v[0].value, ==, 10);
		CHECK_U64(r.v[1].count, ==, 7);
		CHECK_U64(r.v[1].value, ==, 7000);
		CHECK_U64(r.v[2].value, ==, 0);
		/* the flag off: the payload has bytes left over */
		out.data[0] &= ~RECORD_VALUES;
		CHECK_INT(record__decode(out.data, out.len, &r), ==, -EBADMSG);
		buf_release(&out);
	}
	{
		struct record_entry zero[] = { { 1, 0, 2, 0 } };
		struct record_entry big[] = { { 1, 0, 1, (uint64_t)INT64_MAX + 1 } };
		struct record_entry sum[] = { { 1, 0, 1, INT64_MAX }, { 1, 0, 1, 1 } };
		size_t n = 1;
		struct buf out = {};

		CHECK_INT(record__encode(zero, &n, RECORD_RAW, &out), ==, 0);
		CHECK_INT(out.data[0], ==, RECORD_RAW);
		CHECK_INT(record__decode(out.data, out.len, &r), ==, 0);
		CHECK_U64(r.v[0].value, ==, 0);
		buf_reset(&out);
		CHECK_INT(record__encode(big, &n, RECORD_RAW, &out), ==, -EINVAL);
		n = 2;
		CHECK_INT(record__encode(sum, &n, RECORD_RAW, &out), ==, -EINVAL);
		buf_release(&out);
	}
	record__release(&r);
}

static void test_record_codec(void)
{
	struct record_entry v[] = { { 7, 0, 3 }, { 2, 5, 1 }, { 7, 0, 4 }, { 2, 0, 9 },
				    { 1000000, 1, 1 } };
	const enum record_codec codecs[] = { RECORD_RAW, RECORD_ZSTD, RECORD_DEFLATE };
	struct record r = {};
	int err;

	for (size_t c = 0; c < ARRAY_SIZE(codecs); c++) {
		struct record_entry in[ARRAY_SIZE(v)];
		size_t n = ARRAY_SIZE(v);
		struct buf out = {};

		memcpy(in, v, sizeof(v));
		REQUIRE(buf_append(&out, "ab", 2) == 0);
		CHECK_INT(record__encode(in, &n, codecs[c], &out), ==, 0);
		/* five entries: too few for a codec to gain, stored raw */
		CHECK_INT(out.data[2], ==, RECORD_RAW);
		CHECK_U64(n, ==, 4); /* (7, 0) merged */
		CHECK_INT(record__decode(out.data + 2, out.len - 2, &r), ==, 0);
		REQUIRE(r.n == 4);
		CHECK_U64(r.v[0].stack, ==, 2);
		CHECK_U64(r.v[0].labels, ==, 0);
		CHECK_U64(r.v[0].count, ==, 9);
		CHECK_U64(r.v[1].stack, ==, 2);
		CHECK_U64(r.v[1].labels, ==, 5);
		CHECK_U64(r.v[2].stack, ==, 7);
		CHECK_U64(r.v[2].count, ==, 7);
		CHECK_U64(r.v[3].stack, ==, 1000000);
		/* every single-byte change is caught or changes nothing (bits
		 * that do not matter: some of zstd's frame header, deflate's
		 * padding), every truncation is caught */
		for (size_t i = 2; i < out.len; i++) {
			out.data[i] ^= 0x10;
			err = record__decode(out.data + 2, out.len - 2, &r);
			CHECK(err == -EBADMSG || (err == 0 && r.n == 4 && r.v[0].count == 9 &&
						  r.v[1].labels == 5 && r.v[2].count == 7 &&
						  r.v[3].stack == 1000000 && r.v[3].count == 1));
			out.data[i] ^= 0x10;
			CHECK_INT(record__decode(out.data + 2, i - 2, &r), ==, -EBADMSG);
		}
		buf_release(&out);
	}
	{
		struct record_entry bad[] = { { 0, 0, 1 } };
		struct record_entry zero[] = { { 1, 0, 0 } };
		size_t n = 1;
		struct buf out = {};

		CHECK_INT(record__encode(bad, &n, RECORD_ZSTD, &out), ==, -EINVAL);
		CHECK_INT(record__encode(zero, &n, RECORD_ZSTD, &out), ==, -EINVAL);
		CHECK_INT(record__encode(v, &n, 9, &out), ==, -EINVAL);
		CHECK_U64(out.len, ==, 0);
		n = 0;
		CHECK_INT(record__encode(v, &n, RECORD_RAW, &out), ==, 0);
		CHECK_INT(record__decode(out.data, out.len, &r), ==, 0);
		CHECK_U64(r.n, ==, 0);
		buf_release(&out);
	}
	CHECK_INT(record__decode(NULL, 0, &r), ==, -EBADMSG);
	record__release(&r);
	record__release(NULL);
}

static void test_body_codec(void)
{
	struct body_label labels[] = { { .key = 9, .str = 3 }, { .key = 2, .is_num = true, .num = -5, .unit = 0 },
				       { .key = 9, .str = 3 }, { .key = 2, .str = 4 } };
	struct body_label got[BODY_MAX_LABELS];
	struct body_location loc = { .mapping = 3, .address = 0xffffffff81000000ull, .nlines = 2,
				     .lines = { { 5, 10 }, { 6, -1 } } }, loc2;
	struct body_mapping m = { 0x400000, 0x800000, 0x1000, 1, 2, BODY_MAPPING_IS_KERNEL }, m2;
	uint64_t ids[] = { 1, 300, 1ull << 62 }, ids2[4];
	enum history_kind kinds[4];
	struct buf b = {};
	size_t n;
	uint8_t vb[VARINT_MAX];
	const uint8_t *p;
	uint64_t v = 0;

	CHECK_INT(body__labelset(&b, labels, 4), ==, 0);
	CHECK_INT(body__decode_labelset(b.data, b.len, got, BODY_MAX_LABELS, &n), ==, 0);
	REQUIRE(n == 3); /* the repeated one once, sorted by key then kind */
	CHECK_U64(got[0].key, ==, 2);
	CHECK(!got[0].is_num);
	CHECK(got[1].is_num);
	CHECK_INT(got[1].num, ==, -5);
	CHECK_U64(got[2].key, ==, 9);
	CHECK_INT(body__decode_labelset(b.data, b.len, got, 2, &n), ==, -EBADMSG);
	buf_reset(&b);
	CHECK_INT(body__location(&b, &loc), ==, 0);
	CHECK_INT(body__decode_location(b.data, b.len, &loc2), ==, 0);
	CHECK_U64(loc2.address, ==, loc.address);
	CHECK_INT(loc2.lines[1].line, ==, -1);
	CHECK_INT(body__decode_location(b.data, b.len - 1, &loc2), ==, -EBADMSG);
	buf_reset(&b);
	CHECK_INT(body__mapping(&b, &m), ==, 0);
	CHECK_INT(body__decode_mapping(b.data, b.len, &m2), ==, 0);
	CHECK(!memcmp(&m, &m2, sizeof(m)));
	b.data[b.len - 1] = 0x40; /* an unknown flag */
	CHECK_INT(body__decode_mapping(b.data, b.len, &m2), ==, -EBADMSG);
	buf_reset(&b);
	CHECK_INT(body__stack(&b, ids, 3), ==, 0);
	CHECK_INT(body__decode_ids(b.data, b.len, ids2, 4, &n), ==, 0);
	CHECK_U64(n, ==, 3);
	CHECK_U64(ids2[2], ==, 1ull << 62);
	CHECK_INT(body__decode_ids(b.data, b.len, ids2, 2, &n), ==, -EBADMSG);
	/* a function: two fields, or three with a system name */
	for (uint64_t sys = 0; sys <= 7; sys += 7) {
		uint64_t name, file, sys2 = 99;

		buf_reset(&b);
		CHECK_INT(body__function(&b, 5, 6, sys), ==, 0);
		CHECK_U64(b.len, ==, sys ? 3 : 2);
		CHECK_INT(body__decode_function(b.data, b.len, &name, &file, &sys2), ==, 0);
		CHECK_U64(name, ==, 5);
		CHECK_U64(file, ==, 6);
		CHECK_U64(sys2, ==, sys);
		CHECK_INT(body__refs(HISTORY_FUNCTION, b.data, b.len, ids2, kinds, &n), ==, 0);
		CHECK_U64(n, ==, sys ? 3 : 2);
	}
	b.data[2] = 0; /* a system name of id 0 */
	CHECK_INT(body__decode_function(b.data, b.len, ids2, ids2 + 1, ids2 + 2), ==, -EBADMSG);
	buf_release(&b);

	/* varints: the largest, and over-long encodings refused */
	n = varint_put(vb, UINT64_MAX);
	CHECK_U64(n, ==, 10);
	p = vb;
	CHECK_INT(varint_get(&p, vb + n, &v), ==, 0);
	CHECK_U64(v, ==, UINT64_MAX);
	vb[9] = 2;
	p = vb;
	CHECK_INT(varint_get(&p, vb + n, &v), ==, -EBADMSG);
	p = (const uint8_t *)"\x80\x00";
	CHECK_INT(varint_get(&p, p + 2, &v), ==, -EBADMSG);
	CHECK_INT(unzigzag(zigzag(INT64_MIN)), ==, INT64_MIN);

	/* SipHash-2-4's reference vectors (key 00..0f, input 00..len-1) */
	{
		uint8_t key[16], in[15];

		for (int i = 0; i < 16; i++)
			key[i] = (uint8_t)i;
		for (int i = 0; i < 15; i++)
			in[i] = (uint8_t)i;
		CHECK_U64(siphash24(key, in, 0), ==, 0x726fdb47dd0e0e31ull);
		CHECK_U64(siphash24(key, in, 15), ==, 0xa129ca6149be45e5ull);
	}
}

TEST_MAIN(setup, teardown,
	  TEST_CASE(round_trip),
	  TEST_CASE(ranges),
	  TEST_CASE(filters),
	  TEST_CASE(types),
	  TEST_CASE(migrate_v1),
	  TEST_CASE(timeline),
	  TEST_CASE(retention),
	  TEST_CASE(byte_bound),
	  TEST_CASE(churn_bound),
	  TEST_CASE(corrupt_btree),
	  TEST_CASE(corrupt_header),
	  TEST_CASE(truncated),
	  TEST_CASE(not_sqlite),
	  TEST_CASE(missing_parents),
	  TEST_CASE(corrupt_record),
	  TEST_CASE(reader),
	  TEST_CASE(disk_full),
	  TEST_CASE(killed_writer),
	  TEST_CASE(record_codec),
	  TEST_CASE(record_values),
	  TEST_CASE(body_codec))
