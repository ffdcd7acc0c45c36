/* Unit tests of unwind_table: rule deduplication, the chunked two-level
 * search (synthetic tables of every index shape, and real objects: every
 * row start and row end-1 must give the row's rule, gaps "no CFI"), bytes
 * per row, and the LRU cache.
 *
 *   test-unwind-table [FILE...]    fixtures; libc and the largest shared
 *                                  library of the machine are added
 */
#include "testing.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/macros.h"
#include "unwind/cfi_rows.h"
#include "unwind/unwind_table.h"

#define LIBDIR "/usr/lib/x86_64-linux-gnu"

static struct unwind_rule rsp_rule(int32_t off)
{
	return (struct unwind_rule){ .cfa_kind = UNWIND_CFA_RSP, .cfa_offset = off };
}

static struct unwind_rules *new_rules(void)
{
	struct unwind_rules *r = NULL;

	CHECK_INT(unwind_rules__new(&r), ==, 0);
	return r;
}

static void test_rules(void)
{
	struct unwind_rules *rules = new_rules();
	struct unwind_rule a = rsp_rule(16), b = rsp_rule(24), none = { 0 };
	struct unwind_rule saved = { .cfa_kind = UNWIND_CFA_RBP, .cfa_offset = 16,
				     .rbp_kind = UNWIND_RBP_CFA_OFFSET, .rbp_offset = -16 };
	struct unwind_rule big = rsp_rule(-40016);
	uint16_t ia, ib, last = 0;
	bool distinct = true;

	REQUIRE(rules);
	CHECK_INT(unwind_rules__count(rules), ==, 2);
	CHECK_INT(unwind_rules__intern(rules, &none), ==, UNWIND_RULE_NONE);
	ia = unwind_rules__intern(rules, &a);
	ib = unwind_rules__intern(rules, &b);
	CHECK_INT(ia, >, UNWIND_RULE_FULL);
	CHECK_INT(ib, !=, ia);
	CHECK_INT(unwind_rules__intern(rules, &a), ==, ia);
	CHECK_INT(unwind_rules__intern(rules, &saved), !=,
		  unwind_rules__intern(rules, &big));
	CHECK(memcmp(unwind_rules__get(rules, ia), &a, sizeof(a)) == 0);
	CHECK(memcmp(unwind_rules__get(rules, unwind_rules__intern(rules, &big)),
		     &big, sizeof(big)) == 0);
	CHECK(unwind_rules__get(rules, 60000) == NULL);
	CHECK_INT(unwind_rules__get(rules, UNWIND_RULE_FULL)->reason, ==,
		  UNWIND_REASON_RULES_FULL);
	/* fill the table: ids stay distinct, then everything new is FULL */
	for (int32_t off = 1000; unwind_rules__count(rules) < UNWIND_RULES_MAX; off++) {
		struct unwind_rule r = rsp_rule(off);
		uint16_t id = unwind_rules__intern(rules, &r);

		if (id <= last)
			distinct = false;
		last = id;
	}
	CHECK(distinct);
	CHECK_INT(last, ==, UNWIND_RULES_MAX - 1);
	{
		struct unwind_rule r = rsp_rule(-1);

		CHECK_INT(unwind_rules__intern(rules, &r), ==, UNWIND_RULE_FULL);
	}
	CHECK_INT(unwind_rules__intern(rules, &a), ==, ia); /* old ones still resolve */
	CHECK_INT(unwind_rules__bytes(rules), ==, UNWIND_RULES_MAX * sizeof(struct unwind_rule));
	unwind_rules__free(rules);
	unwind_rules__free(NULL);
}

/* Checks every row start and row end-1 of rows against the table, gaps
 * included (their rule is "no CFI"), plus the space around the table. */
static size_t check_every_row(const struct cfi_rows *rows, const struct unwind_table *t,
			      const struct unwind_rules *rules)
{
	size_t wrong = 0;

	for (size_t i = 0; i < rows->count; i++) {
		const struct cfi_row *row = &rows->rows[i];
		uint64_t probes[2] = { row->pc,
			i + 1 < rows->count ? rows->rows[i + 1].pc - 1 : row->pc + 4096 };

		for (size_t k = 0; k < 2; k++) {
			uint16_t id = unwind_table__lookup(t, probes[k]);
			const struct unwind_rule *got = unwind_rules__get(rules, id);

			if (!got || memcmp(got, &row->rule, sizeof(*got)) != 0 ||
			    (row->rule.cfa_kind == UNWIND_CFA_NONE) != (id == UNWIND_RULE_NONE)) {
				if (wrong++ < 5)
					fprintf(stderr, "lookup(0x%llx): rule %u wrong\n",
						(unsigned long long)probes[k], id);
			}
		}
	}
	if (rows->count && rows->rows[0].pc > 0 &&
	    unwind_table__lookup(t, rows->rows[0].pc - 1) != UNWIND_RULE_NONE)
		wrong++;
	if (unwind_table__lookup(t, 0) != UNWIND_RULE_NONE && rows->rows[0].pc > 0)
		wrong++;
	if (unwind_table__lookup(t, UINT64_MAX) != UNWIND_RULE_NONE)
		wrong++;
	if (unwind_table__lookup(t, t->info.base_vaddr + 0xffffffffull) != UNWIND_RULE_NONE)
		wrong++;
	return wrong;
}

/* n rows at base + 16 i, rules cycling through a few, every 7th a gap,
 * some runs of equal rules to merge; terminated like cfi_rows does. */
static struct cfi_rows *synthetic_rows(size_t n, uint64_t base)
{
	struct cfi_rows *rows = calloc(1, sizeof(*rows));

	REQUIRE(rows);
	rows->rows = calloc(n + 1, sizeof(*rows->rows));
	REQUIRE(rows->rows);
	rows->exec_lo = base;
	rows->exec_hi = base + 16 * (n + 1);
	for (size_t i = 0; i < n; i++) {
		struct unwind_rule r = rsp_rule((int32_t)(8 * (1 + (i / 2) % 5)));

		if (i % 7 == 6)
			r = (struct unwind_rule){ 0 };
		rows->rows[i] = (struct cfi_row){ .pc = base + 16 * i, .rule = r };
	}
	rows->rows[n] = (struct cfi_row){ .pc = base + 16 * n };
	rows->count = n + 1;
	return rows;
}

static void test_synthetic(void)
{
	/* one chunk, several with the inline index, exactly full inline
	 * index, index pages (one partly filled page, then several) */
	static const size_t sizes[] = {
		1, 2, 100, UNWIND_CHUNK_ROWS - 1, UNWIND_CHUNK_ROWS,
		5 * UNWIND_CHUNK_ROWS + 3,
		UNWIND_INLINE_INDEX * UNWIND_CHUNK_ROWS * 5 / 4 - 1,
		UNWIND_INLINE_INDEX * UNWIND_CHUNK_ROWS * 5 / 4 + 1,
		(UNWIND_INDEX_PAGE_ENTRIES + 3) * UNWIND_CHUNK_ROWS * 6 / 5,
	};
	struct unwind_rules *rules = new_rules();

	REQUIRE(rules);
	for (size_t s = 0; s < ARRAY_SIZE(sizes); s++) {
		struct cfi_rows *rows = synthetic_rows(sizes[s], 0x401000);
		struct unwind_table *t = NULL;
		size_t merged_rows;

		CHECK_INT(unwind_table__build(rows, rules, &t), ==, 0);
		REQUIRE(t);
		/* runs of two equal rules merge unless a gap breaks them */
		merged_rows = t->row_count;
		CHECK_INT(merged_rows, <=, rows->count);
		if (sizes[s] >= 100)
			CHECK_INT(merged_rows, <, rows->count);
		CHECK_INT(t->info.chunk_count, ==,
			  (merged_rows + UNWIND_CHUNK_ROWS - 1) / UNWIND_CHUNK_ROWS);
		CHECK_INT(t->info.index_pages != 0, ==,
			  t->info.chunk_count > UNWIND_INLINE_INDEX);
		CHECK_INT(check_every_row(rows, t, rules), ==, 0);
		/* every address in between too, for the small ones */
		if (sizes[s] <= 100) {
			size_t wrong = 0;

			for (uint64_t pc = rows->exec_lo; pc < rows->exec_hi; pc++) {
				const struct cfi_row *row = cfi_rows__find(rows, pc);
				const struct unwind_rule *got =
					unwind_rules__get(rules, unwind_table__lookup(t, pc));

				if (!row || !got || memcmp(got, &row->rule, sizeof(*got)))
					wrong++;
			}
			CHECK_INT(wrong, ==, 0);
		}
		unwind_table__free(t);
		cfi_rows__free(rows);
	}

	/* unsorted rows and pcs beyond 4 GiB from the base are refused */
	{
		struct cfi_rows *rows = synthetic_rows(10, 0x1000);
		struct unwind_table *t = NULL;

		rows->rows[5].pc = rows->rows[4].pc;
		CHECK_INT(unwind_table__build(rows, rules, &t), ==, -EINVAL);
		CHECK(t == NULL);
		rows->rows[5].pc = rows->rows[4].pc + 1;
		rows->rows[9].pc = 0x1000 + (5ull << 30);
		rows->rows[10].pc = 0x1000 + (6ull << 30);
		CHECK_INT(unwind_table__build(rows, rules, &t), ==, -E2BIG);
		cfi_rows__free(rows);
	}
	unwind_table__free(NULL);
	unwind_rules__free(rules);
}

static struct cfi_rows *rows_of(const char *path, int *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct cfi_rows *rows = NULL;

	if (fd < 0) {
		*err = -errno;
		return NULL;
	}
	*err = cfi_rows__build_fd(fd, -1, NULL, &rows);
	return rows;
}

/* Builds the table of path, checks every row, prints figures; returns
 * bytes per CFI row (0 on failure). */
static double check_file(const char *path, struct unwind_rules *rules)
{
	struct unwind_table *t = NULL;
	struct cfi_rows *rows;
	double t0 = (clock__mono_s() * 1e3), t1, t2, per_row;
	size_t gaps = 0;
	int err;

	rows = rows_of(path, &err);
	t1 = (clock__mono_s() * 1e3);
	CHECK_INT(err, ==, 0);
	if (!rows) {
		fprintf(stderr, "%s: %s\n", path, strerror(-err));
		return 0;
	}
	CHECK_INT(unwind_table__build(rows, rules, &t), ==, 0);
	t2 = (clock__mono_s() * 1e3);
	if (!t) {
		cfi_rows__free(rows);
		return 0;
	}
	for (size_t i = 0; i < rows->count; i++)
		gaps += rows->rows[i].rule.cfa_kind == UNWIND_CFA_NONE;
	CHECK_INT(gaps, >=, 1);
	CHECK_INT(check_every_row(rows, t, rules), ==, 0);
	per_row = (double)unwind_table__bytes(t) / (double)rows->count;
	printf("%s: %zu rows (%zu gaps), %u after merging, %u chunks, %u index pages, "
	       "%zu bytes, %.2f bytes/row (%.2f per stored row); rows %.1f ms + table %.1f ms\n",
	       path, rows->count, gaps, t->row_count, t->info.chunk_count,
	       t->info.index_pages, unwind_table__bytes(t), per_row,
	       (double)unwind_table__bytes(t) / t->row_count, t1 - t0, t2 - t1);
	unwind_table__free(t);
	cfi_rows__free(rows);
	return per_row;
}

/* The largest regular file under LIBDIR named *.so*, by size. */
static char *largest_library(void)
{
	DIR *dir = opendir(LIBDIR);
	struct dirent *de;
	char *best = NULL;
	off_t best_size = -1;

	if (!dir)
		return NULL;
	while ((de = readdir(dir))) {
		char path[4096];
		struct stat st;

		if (!strstr(de->d_name, ".so"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", LIBDIR, de->d_name);
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= best_size)
			continue;
		best_size = st.st_size;
		free(best);
		best = strdup(path);
	}
	closedir(dir);
	return best;
}

static void test_real_files(void)
{
	struct unwind_rules *rules = new_rules();
	_cleanup_free_ char *largest = largest_library();
	double libc, big;

	REQUIRE(rules);
	for (int i = 1; i < test_argc; i++)
		CHECK(check_file(test_argv[i], rules) > 0);
	libc = check_file(LIBDIR "/libc.so.6", rules);
	CHECK(libc > 0 && libc <= 8.0);
	REQUIRE(largest);
	big = check_file(largest, rules);
	CHECK(big > 0 && big <= 8.0);
	printf("bytes/row: libc %.2f, largest library (%s) %.2f; distinct rules %zu\n",
	       libc, largest, big, unwind_rules__count(rules));
	unwind_rules__free(rules);
}

struct evictions {
	uint32_t ids[16];
	size_t count;
};

static void record_eviction(const struct unwind_table *t, void *ctx)
{
	struct evictions *ev = ctx;

	if (ev->count < ARRAY_SIZE(ev->ids))
		ev->ids[ev->count++] = t->table_id;
}

static struct unwind_table *small_table(struct unwind_rules *rules, size_t n)
{
	struct cfi_rows *rows = synthetic_rows(n, 0x1000);
	struct unwind_table *t = NULL;

	REQUIRE(unwind_table__build(rows, rules, &t) == 0);
	cfi_rows__free(rows);
	return t;
}

static void test_cache(void)
{
	struct unwind_rules *rules = new_rules();
	struct unwind_table *probe;
	struct unwind_cache *cache;
	struct unwind_cache_stats st;
	struct evictions ev = { 0 };
	size_t one;
	uint32_t id_a, id_b, id_c;

	REQUIRE(rules);
	probe = small_table(rules, 10);
	one = unwind_table__bytes(probe);
	unwind_table__free(probe);

	/* room for exactly three one-chunk tables */
	cache = NULL;
	REQUIRE(unwind_cache__new(3 * one, &cache) == 0);
	unwind_cache__set_on_evict(cache, record_eviction, &ev);
	CHECK(unwind_cache__get(cache, "aa") == NULL);
	CHECK_INT(unwind_cache__put(cache, "aa", small_table(rules, 10)), ==, 0);
	CHECK_INT(unwind_cache__put(cache, "bb", small_table(rules, 20)), ==, 0);
	CHECK_INT(unwind_cache__put(cache, "cc", small_table(rules, 30)), ==, 0);
	REQUIRE(unwind_cache__get(cache, "aa") && unwind_cache__get(cache, "bb") &&
		unwind_cache__get(cache, "cc"));
	id_a = unwind_cache__get(cache, "aa")->table_id;
	id_b = unwind_cache__get(cache, "bb")->table_id;
	id_c = unwind_cache__get(cache, "cc")->table_id;
	CHECK(id_a && id_b && id_c && id_a != id_b && id_b != id_c && id_a != id_c);
	CHECK_INT(unwind_cache__put(cache, "bb", small_table(rules, 5)), ==, -EEXIST);
	CHECK_INT(unwind_cache__get(cache, "bb")->row_count, >, 5); /* the old one */

	/* order of use now: bb (most recent), cc... make aa most recent */
	CHECK(unwind_cache__get(cache, "aa") != NULL);
	/* the least recently used is cc: get order was aa, bb, cc, bb, aa */
	CHECK_INT(unwind_cache__put(cache, "dd", small_table(rules, 40)), ==, 0);
	CHECK_INT(ev.count, ==, 1);
	CHECK_INT(ev.ids[0], ==, id_c);
	CHECK(unwind_cache__get(cache, "cc") == NULL);
	CHECK(unwind_cache__get(cache, "aa") != NULL);
	CHECK(unwind_cache__get(cache, "bb") != NULL);
	CHECK(unwind_cache__get(cache, "dd") != NULL);

	/* a table too big for the whole cache is refused; nothing evicted */
	CHECK_INT(unwind_cache__put(cache, "ee", small_table(rules, 2 * UNWIND_CHUNK_ROWS * 3)),
		  ==, -E2BIG);
	CHECK_INT(ev.count, ==, 1);
	/* a two-chunk table evicts exactly the two least recently used */
	CHECK(unwind_cache__get(cache, "aa") != NULL); /* LRU order: bb, dd, aa */
	probe = small_table(rules, 2 * UNWIND_CHUNK_ROWS + 500);
	CHECK_INT(probe->info.chunk_count, ==, 2);
	CHECK_INT(unwind_cache__put(cache, "ff", probe), ==, 0);
	CHECK_INT(ev.count, ==, 3);
	CHECK_INT(ev.ids[1], ==, id_b);
	CHECK(unwind_cache__get(cache, "aa") != NULL);
	CHECK(unwind_cache__get(cache, "ff") != NULL);

	unwind_cache__stats(cache, &st);
	CHECK_INT(st.tables, ==, 2);
	CHECK_INT(st.bytes, <=, st.max_bytes);
	CHECK_INT(st.max_bytes, ==, 3 * one);
	CHECK_INT(st.evictions, ==, 3);
	CHECK_INT(st.misses, ==, 2);
	CHECK_INT(st.hits, >, 10);
	unwind_cache__free(cache);
	unwind_cache__free(NULL);
	unwind_rules__free(rules);
}

TEST_MAIN(NULL, NULL,
	  TEST_CASE(rules),
	  TEST_CASE(synthetic),
	  TEST_CASE(cache),
	  TEST_CASE(real_files))
