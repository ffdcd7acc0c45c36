/* Minimal assertion macros for brasa's unit tests: each failure prints the
 * expression, the values and the location, and the test goes on so one run
 * shows every failure; test_done() returns the exit code for meson
 * (0 pass, 1 fail, 77 skip).
 */
#ifndef BRASA_TESTS_TESTING_H
#define BRASA_TESTS_TESTING_H

#include <inttypes.h>
#include <spawn.h>
#include <stdarg.h>
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

static inline int test_done(void)
{
	if (test_checks == 0) {
		fprintf(stderr, "no checks ran\n");
		return 1;
	}
	fprintf(stderr, "%d checks, %d failed\n", test_checks, test_failures);
	return test_failures ? 1 : 0;
}

#endif
