/* Minimal assertion macros and a case runner for brasa's unit tests: each
 * failure prints the expression, the values and the location, and the test
 * goes on so one run shows every failure; the exit code is for meson
 * (0 pass, 1 fail, 77 skip).
 *
 * A test file ends with its list of cases, in the order they run:
 *
 *   static void test_edges(void) { CHECK(...); }
 *   ...
 *   TEST_MAIN(setup, teardown,
 *             TEST_CASE(edges),
 *             TEST_CASE(pyroscope_receiver, &receiver))
 *
 * TEST_CASE(name) runs test_name(). Its further arguments are fixtures the
 * case needs (struct test_fixture, a setup and a teardown for state
 * several cases share, such as a server): each is set up before the first
 * case run that names it and torn down after the last, so a case run alone
 * gets the state a full run gives it, and a full run keeps its order.
 * setup(), when not NULL, runs once before the first case, teardown()
 * after the last; --list runs neither. The arguments the runner's options
 * were taken out of (argv[0] and the positional fixture arguments) are in
 * test_argc and test_argv; setup() usually binds them to names:
 *
 *   TEST_ARGS("FIXTURE_DIR KALLSYMS", &fixture_dir, &kallsyms_path);
 *
 * Selecting cases (names as --list prints them; a name may be a glob such
 * as 'tls_*'; several by repeating --case or separated by commas):
 *
 *   build/tests/unit/test-cgroup tests/unit/fixtures/cgroup --case edges
 *   BRASA_TEST_CASE=edges build/tests/unit/test-cgroup tests/unit/fixtures/cgroup
 *   build/tests/unit/test-cgroup --list
 *   meson test -C build cgroup --test-args '--case edges' -v
 *   meson test -C build cgroup --test-args=--case=edges -v
 *   BRASA_TEST_CASE=edges meson test -C build cgroup -v
 *   meson test -C build cgroup --test-args=--list -v
 *
 * The options may come before, among or after the positional arguments,
 * since meson test appends --test-args after the test's own. A lone
 * `--test-args --list` is taken by meson for an option of its own: write
 * --test-args=--list. --case wins over BRASA_TEST_CASE; meson test passes
 * that variable on to every test it runs, so name the test too.
 *
 * meson test -v prints the command line it runs, fixed arguments included
 * (relative paths are from the build directory), and its environment: run
 * by hand, remote-send, remote-tls, uploader, uploader-spool-faults and
 * http_auth (TLS) also need BRASA_SOURCE_ROOT=<source tree> for tests/tools.
 *
 * A name that matches no case exits 1 with the list. Each case prints
 * "== case NAME" on stderr when it starts, so a failed check below it is
 * that case's; the last line counts the cases, checks and failures and
 * names the cases that failed. A selection whose cases ran no check (they
 * skipped themselves) exits 77; a full run with none exits 1.
 */
#ifndef BRASA_TESTS_TESTING_H
#define BRASA_TESTS_TESTING_H

#include <fnmatch.h>
#include <inttypes.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static int test_failures;
static int test_checks;

#define CHECK(expr)                                                           \
	do {                                                                  \
		test_checks++;                                                \
		if (!(expr)) {                                                \
			fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__,\
				__LINE__, #expr);                             \
			test_failures++;                                      \
		}                                                             \
	} while (0)

#define CHECK_INT(a, op, b)                                                   \
	do {                                                                  \
		long long _a = (long long)(a), _b = (long long)(b);           \
		test_checks++;                                                \
		if (!(_a op _b)) {                                            \
			fprintf(stderr, "%s:%d: CHECK(%s %s %s) failed: %lld vs %lld\n", \
				__FILE__, __LINE__, #a, #op, #b, _a, _b);     \
			test_failures++;                                      \
		}                                                             \
	} while (0)

#define CHECK_U64(a, op, b)                                                   \
	do {                                                                  \
		unsigned long long _a = (unsigned long long)(a),              \
				   _b = (unsigned long long)(b);              \
		test_checks++;                                                \
		if (!(_a op _b)) {                                            \
			fprintf(stderr, "%s:%d: CHECK(%s %s %s) failed: 0x%llx vs 0x%llx\n", \
				__FILE__, __LINE__, #a, #op, #b, _a, _b);     \
			test_failures++;                                      \
		}                                                             \
	} while (0)

#define CHECK_STR(a, b)                                                       \
	do {                                                                  \
		const char *_a = (a), *_b = (b);                              \
		test_checks++;                                                \
		if (!_a || !_b || strcmp(_a, _b) != 0) {                      \
			fprintf(stderr, "%s:%d: CHECK_STR(%s, %s) failed: \"%s\" vs \"%s\"\n", \
				__FILE__, __LINE__, #a, #b, _a ? _a : "(null)", \
				_b ? _b : "(null)");                          \
			test_failures++;                                      \
		}                                                             \
	} while (0)

/* Fatal variant for preconditions the rest of the test depends on. */
#define REQUIRE(expr)                                                         \
	do {                                                                  \
		test_checks++;                                                \
		if (!(expr)) {                                                \
			fprintf(stderr, "%s:%d: REQUIRE(%s) failed\n",        \
				__FILE__, __LINE__, #expr);                   \
			exit(1);                                              \
		}                                                             \
	} while (0)

/* Memory bounds under a sanitized build. BRASA_SANITIZED=1 (set by
 * tests/meson.build with -Db_sanitize) means ASan holds freed memory in
 * its quarantine (quarantine_size_mb in ASAN_OPTIONS, 256 MiB unless
 * set) before reusing it, so RSS grows by up to that much before it is
 * flat: the KiB a bound on RSS growth must allow on top, 0 otherwise.
 * Says so on stderr, so a looser bound is never silent. */
static inline long sanitizer_rss_slack_kib(void)
{
	const char *opts = getenv("ASAN_OPTIONS"), *q;
	long mb = 256;

	if (!getenv("BRASA_SANITIZED"))
		return 0;
	q = opts ? strstr(opts, "quarantine_size_mb=") : NULL;
	if (q)
		mb = strtol(q + strlen("quarantine_size_mb="), NULL, 10);
	fprintf(stderr, "sanitized build: RSS bounds allow %ld MiB more (ASan's quarantine)\n",
		mb);
	return mb * 1024;
}

/* printf into one of four rotating static buffers: for building the
 * arguments of a single call (paths, flags) without a buffer each. */
static inline const char *test_fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));

static inline const char *test_fmt(const char *f, ...)
{
	static char out[4][1024];
	static int next;
	char *p = out[next++ % 4];
	va_list ap;

	va_start(ap, f);
	vsnprintf(p, sizeof(out[0]), f, ap);
	va_end(ap);
	return p;
}

/* Does s (which may be NULL) end with suffix? */
static inline bool test_ends_with(const char *s, const char *suffix)
{
	size_t n = s ? strlen(s) : 0, m = strlen(suffix);

	return s && n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Fresh keys and certificates for this run: a new directory under $TMPDIR
 * (its path in dir) filled by tests/tools/make-test-certs.sh. */
static inline void test_certs_make(char *dir, size_t size, const char *name)
{
	extern char **environ;
	char script[4096];
	const char *argv[] = { "sh", script, dir, NULL };
	pid_t pid;
	int status;

	snprintf(script, sizeof(script), "%s/tests/tools/make-test-certs.sh", getenv("BRASA_SOURCE_ROOT"));
	snprintf(dir, size, "%s/%s-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", name);
	REQUIRE(mkdtemp(dir));
	REQUIRE(posix_spawnp(&pid, "sh", NULL, NULL, (char *const *)argv, environ) == 0);
	REQUIRE(waitpid(pid, &status, 0) == pid);
	REQUIRE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* The case runner (the comment at the top says how to use it). */
struct test_fixture {
	void (*setup)(void);
	void (*teardown)(void);
	bool up;
};

#define TEST_MAX_FIXTURES 2
#define TEST__LEN(a) (sizeof(a) / sizeof((a)[0]))

struct test_case {
	const char *name;
	void (*run)(void);
	struct test_fixture *fixtures[TEST_MAX_FIXTURES];
};

#define TEST_CASE(name, ...) { #name, test_##name, { __VA_ARGS__ } }

#define TEST_MAIN(setup, teardown, ...)                                       \
	int main(int argc, char **argv)                                       \
	{                                                                     \
		static const struct test_case test__cases[] = { __VA_ARGS__ }; \
                                                                              \
		return test_main(argc, argv, test__cases, TEST__LEN(test__cases), \
				 setup, teardown);                            \
	}

/* argv[0] and the positional arguments, the runner's options taken out */
static int test_argc;
static char **test_argv;
static int test_cases_run;
/* the --case arguments (or BRASA_TEST_CASE): lists of globs */
static const char *test_selection[32];
static int test_nselection;
static const char *test_cases_failed[16];
static int test_cases_nfailed;

/* TEST_ARGS(usage, &name, ...): the positional arguments, in order, into
 * the const char * variables named; exactly that many, or the usage line
 * and exit 1. */
#define TEST_ARGS(usage, ...)                                                 \
	test__args(usage, (const char **[]){ __VA_ARGS__ },                   \
		   TEST__LEN(((const char **[]){ __VA_ARGS__ })))

static inline void test__args(const char *usage, const char **const *names, size_t n)
{
	if (test_argc != (int)n + 1) {
		fprintf(stderr, "usage: %s [--case NAME] [--list] %s\n", test_argv[0], usage);
		exit(1);
	}
	for (size_t i = 0; i < n; i++)
		*names[i] = test_argv[i + 1];
}

/* The next glob of a comma-separated list, into glob; NULL past the end. */
static inline const char *test__next_glob(const char *p, char *glob, size_t size)
{
	const char *end;

	if (!*p)
		return NULL;
	end = strchrnul(p, ',');
	snprintf(glob, size, "%.*s", (int)(end - p), p);
	return *end ? end + 1 : end;
}

static inline bool test__match(const char *list, const char *name)
{
	char glob[256];

	for (const char *p = list; (p = test__next_glob(p, glob, sizeof(glob)));)
		if (glob[0] && fnmatch(glob, name, 0) == 0)
			return true;
	return false;
}

static inline bool test__selected(const char *name)
{
	if (test_nselection == 0)
		return true;
	for (int i = 0; i < test_nselection; i++)
		if (test__match(test_selection[i], name))
			return true;
	return false;
}

static inline bool test__uses(const struct test_case *c, const struct test_fixture *f)
{
	for (int i = 0; i < TEST_MAX_FIXTURES; i++)
		if (c->fixtures[i] == f)
			return true;
	return false;
}

/* Every glob of the selection must match some case: a typo is an error,
 * not a run of nothing. */
static inline void test__check_selection(const struct test_case *cases, size_t n)
{
	char glob[256];

	for (int i = 0; i < test_nselection; i++) {
		for (const char *p = test_selection[i]; (p = test__next_glob(p, glob, sizeof(glob)));) {
			size_t k = 0;

			while (glob[0] && k < n && !test__match(glob, cases[k].name))
				k++;
			if (k < n || !glob[0])
				continue;
			fprintf(stderr, "unknown case '%s'; the cases are:\n", glob);
			for (k = 0; k < n; k++)
				fprintf(stderr, "  %s\n", cases[k].name);
			exit(1);
		}
	}
}

static inline void test__fixtures_up(const struct test_case *c)
{
	for (int f = 0; f < TEST_MAX_FIXTURES && c->fixtures[f]; f++) {
		if (!c->fixtures[f]->up && c->fixtures[f]->setup)
			c->fixtures[f]->setup();
		c->fixtures[f]->up = true;
	}
}

/* After cases[i]: its fixtures no later case of this run needs go. */
static inline void test__fixtures_down(const struct test_case *cases, size_t n, size_t i)
{
	for (int f = 0; f < TEST_MAX_FIXTURES && cases[i].fixtures[f]; f++) {
		struct test_fixture *fx = cases[i].fixtures[f];
		size_t j = i + 1;

		while (j < n && !(test__uses(&cases[j], fx) && test__selected(cases[j].name)))
			j++;
		if (j == n && fx->up) {
			if (fx->teardown)
				fx->teardown();
			fx->up = false;
		}
	}
}

static inline int test_done(void)
{
	if (test_checks == 0) {
		fprintf(stderr, "no checks ran\n");
		return 1;
	}
	if (test_cases_run)
		fprintf(stderr, "%d case%s, ", test_cases_run, test_cases_run == 1 ? "" : "s");
	fprintf(stderr, "%d checks, %d failed", test_checks, test_failures);
	for (int i = 0; i < test_cases_nfailed; i++)
		fprintf(stderr, "%s%s", i ? ", " : " in ", test_cases_failed[i]);
	fprintf(stderr, "\n");
	return test_failures ? 1 : 0;
}

static inline int test_main(int argc, char **argv, const struct test_case *cases, size_t n,
			    void (*setup)(void), void (*teardown)(void))
{
	const char *env = getenv("BRASA_TEST_CASE");
	int nargs = 1;
	bool list = false;

	/* take the options out of argv, in place */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--list") == 0) {
			list = true;
		} else if (strncmp(argv[i], "--case", 6) == 0 &&
			   (argv[i][6] == '=' || argv[i][6] == '\0')) {
			const char *names = argv[i][6] ? argv[i] + 7 : argv[++i];

			if (!names) {
				fprintf(stderr, "--case needs a case name (--list prints them)\n");
				return 1;
			}
			if (test_nselection == (int)TEST__LEN(test_selection)) {
				fprintf(stderr, "too many --case: separate names with commas\n");
				return 1;
			}
			test_selection[test_nselection++] = names;
		} else {
			argv[nargs++] = argv[i];
		}
	}
	argv[nargs] = NULL;
	test_argc = nargs;
	test_argv = argv;
	if (test_nselection == 0 && env && *env)
		test_selection[test_nselection++] = env;
	test__check_selection(cases, n);
	if (list) {
		for (size_t i = 0; i < n; i++)
			if (test__selected(cases[i].name))
				printf("%s\n", cases[i].name);
		return 0;
	}

	if (setup)
		setup();
	for (size_t i = 0; i < n; i++) {
		int failures = test_failures;

		if (!test__selected(cases[i].name))
			continue;
		fflush(stdout);
		fprintf(stderr, "== case %s\n", cases[i].name);
		test__fixtures_up(&cases[i]);
		cases[i].run();
		test_cases_run++;
		if (test_failures > failures && test_cases_nfailed < (int)TEST__LEN(test_cases_failed))
			test_cases_failed[test_cases_nfailed++] = cases[i].name;
		test__fixtures_down(cases, n, i);
	}
	if (teardown)
		teardown();
	if (test_nselection && test_checks == 0) {
		fprintf(stderr, "no checks ran: the selected cases skipped themselves\n");
		return 77;
	}
	return test_done();
}

#endif
