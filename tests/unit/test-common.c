#include "testing.h"

#include <errno.h>

#include "common/buf.h"
#include "common/labels.h"
#include "common/macros.h"
#include "common/parse.h"
#include "common/timearg.h"
#include "common/u64map.h"
#include "common/utf8.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_parse(void)
{
	uint64_t u;
	int64_t i;
	uint32_t r;

	CHECK_INT(parse_u64("42", 10, &u), ==, 0);
	CHECK_U64(u, ==, 42);
	CHECK_INT(parse_u64("ffffffff81000000", 16, &u), ==, 0);
	CHECK_U64(u, ==, 0xffffffff81000000ull);
	CHECK_INT(parse_u64("", 10, &u), ==, -EINVAL);
	CHECK_INT(parse_u64("12x", 10, &u), ==, -EINVAL);
	CHECK_INT(parse_u64(" 12", 10, &u), ==, -EINVAL);
	CHECK_INT(parse_u64("-1", 10, &u), ==, -EINVAL);
	CHECK_INT(parse_u64("99999999999999999999999", 10, &u), ==, -ERANGE);
	CHECK_INT(parse_i64("-5", 10, &i), ==, 0);
	CHECK_INT(i, ==, -5);
	CHECK_INT(parse_i64("+5", 10, &i), ==, -EINVAL);
	CHECK_INT(parse_u32_range("30", 1, 3600, &r), ==, 0);
	CHECK_INT(r, ==, 30);
	CHECK_INT(parse_u32_range("0", 1, 3600, &r), ==, -ERANGE);
	CHECK_INT(parse_u32_range("3601", 1, 3600, &r), ==, -ERANGE);
	CHECK_INT(parse_u32_range("abc", 1, 3600, &r), ==, -EINVAL);
	CHECK_INT(parse_size("128M", &u), ==, 0);
	CHECK_U64(u, ==, 128ull << 20);
	CHECK_INT(parse_size("4096", &u), ==, 0);
	CHECK_U64(u, ==, 4096);
	CHECK_INT(parse_size("2G", &u), ==, 0);
	CHECK_U64(u, ==, 2ull << 30);
	CHECK_INT(parse_size("64K", &u), ==, 0);
	CHECK_U64(u, ==, 64ull << 10);
	CHECK_INT(parse_size("M", &u), ==, -EINVAL);
	CHECK_INT(parse_size("12MB", &u), ==, -EINVAL);
	CHECK_INT(parse_size("-1M", &u), ==, -EINVAL);
	CHECK_INT(parse_size("99999999999999G", &u), ==, -ERANGE);
	CHECK_INT(parse_size("", &u), ==, -EINVAL);

	{
		const char text[] = "7f00aBc-rest", *p = text;

		CHECK_INT(parse_hex_prefix(&p, text + sizeof(text) - 1, &u), ==, 0);
		CHECK_U64(u, ==, 0x7f00abc);
		CHECK(*p == '-');
		p = text;
		/* the end bound is honoured: only "7f" is inside it */
		CHECK_INT(parse_hex_prefix(&p, text + 2, &u), ==, 0);
		CHECK_U64(u, ==, 0x7f);
		p = "-12";
		CHECK_INT(parse_hex_prefix(&p, p + 3, &u), ==, -EINVAL);
		p = "ffffffffffffffff ";
		CHECK_INT(parse_hex_prefix(&p, p + 17, &u), ==, 0);
		CHECK_U64(u, ==, UINT64_MAX);
		p = "10000000000000000";
		CHECK_INT(parse_hex_prefix(&p, p + 17, &u), ==, -EINVAL);
	}
}

static void test_buf(void)
{
	struct buf b = { 0 };

	CHECK_INT(buf_printf(&b, "%s-%d", "a", 1), ==, 0);
	CHECK_STR((char *)b.data, "a-1");
	for (int k = 0; k < 1000; k++)
		CHECK_INT(buf_append(&b, "xy", 2), ==, 0);
	CHECK_U64(b.len, ==, 3 + 2000);
	CHECK_INT(b.data[b.len], ==, 0);
	buf_reset(&b);
	CHECK_U64(b.len, ==, 0);
	buf_release(&b);
	buf_release(&b);
	buf_release(NULL);
	CHECK(b.data == NULL);

	CHECK_INT(buf_read_file("/proc/self/stat", &b, 1 << 20), ==, 0);
	CHECK(b.len > 10);
	buf_reset(&b);
	CHECK_INT(buf_read_file("/proc/self/maps", &b, 10), ==, -EFBIG);
	CHECK_INT(buf_read_file("/nonexistent/x", &b, 10), ==, -ENOENT);
	CHECK_INT(buf_read_file("/proc/self", &b, 10), ==, -EISDIR);
	{
		/* a FIFO with no writer: open() must not block, and it is refused */
		char fifo[] = "/tmp/brasa-test-fifo-XXXXXX";
		int fd = mkstemp(fifo);

		REQUIRE(fd >= 0);
		close(fd);
		unlink(fifo);
		REQUIRE(mkfifo(fifo, 0600) == 0);
		CHECK_INT(buf_read_file(fifo, &b, 10), ==, -EBADFD);
		unlink(fifo);
	}
	CHECK_INT(buf_read_file("/dev/null", &b, 10), ==, -EBADFD);
	buf_release(&b);
}

/* Random inserts and deletes checked against a plain array, so the
 * backward-shift deletion is exercised across wrap-around chains. */
static void test_u64map(void)
{
	enum { N = 4096 };
	static uint64_t ref[N];
	static uint8_t present[N];
	struct u64map m;
	uint64_t v, seed = 12345;
	size_t live = 0, iterated = 0;

	u64map_init(&m);
	CHECK(!u64map_get(&m, 1, &v));
	CHECK(!u64map_del(&m, 1));
	for (int round = 0; round < 200000; round++) {
		size_t k;

		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		k = (seed >> 33) % N;
		if ((seed >> 20) & 1) {
			if (!present[k])
				live++;
			present[k] = 1;
			ref[k] = seed;
			if (u64map_set(&m, k * 0x10000, seed))
				test_failures++;
		} else {
			bool was = u64map_del(&m, k * 0x10000);

			if (was != (bool)present[k])
				test_failures++;
			if (present[k])
				live--;
			present[k] = 0;
		}
	}
	for (size_t k = 0; k < N; k++) {
		bool got = u64map_get(&m, k * 0x10000, &v);

		if (got != (bool)present[k] || (got && v != ref[k])) {
			test_failures++;
			break;
		}
	}
	CHECK_U64(m.len, ==, live);
	u64map_foreach(&m, i) iterated++;
	CHECK_U64(iterated, ==, live);
	u64map_clear(&m);
	CHECK_U64(m.len, ==, 0);
	CHECK(!u64map_get(&m, 0, &v));
	u64map_release(&m);
	u64map_release(NULL);
}

static void test_labels(void)
{
	struct labels a = { 0 }, b = { 0 };

	CHECK_INT(labels__set(&a, "zeta", "1"), ==, 0);
	CHECK_INT(labels__set(&a, "alpha", "2"), ==, 0);
	CHECK_INT(labels__set(&a, "mid", "3"), ==, 0);
	CHECK_INT(a.n, ==, 3);
	CHECK_STR(a.v[0].name, "alpha");
	CHECK_STR(a.v[2].name, "zeta");
	CHECK_STR(labels__get(&a, "mid"), "3");
	CHECK(labels__get(&a, "nope") == NULL);
	/* replace keeps one entry; "" removes, as in Prometheus */
	CHECK_INT(labels__set(&a, "mid", "4"), ==, 0);
	CHECK_STR(labels__get(&a, "mid"), "4");
	CHECK_INT(labels__set(&a, "mid", ""), ==, 0);
	CHECK_INT(a.n, ==, 2);
	labels__del(&a, "absent");
	CHECK_INT(a.n, ==, 2);
	CHECK_INT(labels__copy(&b, &a), ==, 0);
	CHECK(labels__equal(&a, &b));
	CHECK_U64(labels__hash(&a), ==, labels__hash(&b));
	CHECK_INT(labels__set(&b, "alpha", "x"), ==, 0);
	CHECK(!labels__equal(&a, &b));
	CHECK_U64(labels__hash(&a), !=, labels__hash(&b));
	/* name/value boundaries are part of the hash */
	labels__clear(&a);
	labels__clear(&b);
	labels__set(&a, "a", "bc");
	labels__set(&b, "ab", "c");
	CHECK_U64(labels__hash(&a), !=, labels__hash(&b));
	labels__clear(&a);
	labels__clear(&b);
	labels__clear(NULL);
	CHECK(labels__valid_name("__meta_kubernetes_pod_label_app"));
	CHECK(labels__valid_name("a1"));
	CHECK(!labels__valid_name("1a"));
	CHECK(!labels__valid_name("a-b"));
	CHECK(!labels__valid_name(""));
	CHECK(!labels__valid_name(NULL));
}

static void test_utf8(void)
{
	const uint8_t ok2[] = { 0xc3, 0xa9 }, ok4[] = { 0xf0, 0x9f, 0x98, 0x80 };
	const uint8_t overlong[] = { 0xe0, 0x80, 0xaf }, surrogate[] = { 0xed, 0xa0, 0x80 };
	const uint8_t past[] = { 0xf4, 0x90, 0x80, 0x80 }, cont[] = { 0x80 };
	int fds[2];
	char got[8] = { 0 };

	CHECK_INT(utf8_seq_len((const uint8_t *)"a", 1), ==, 1);
	CHECK_INT(utf8_seq_len(ok2, 2), ==, 2);
	CHECK_INT(utf8_seq_len(ok2, 1), ==, 0); /* cut short */
	CHECK_INT(utf8_seq_len(ok4, 4), ==, 4);
	CHECK_INT(utf8_seq_len(overlong, 3), ==, 0);
	CHECK_INT(utf8_seq_len(surrogate, 3), ==, 0);
	CHECK_INT(utf8_seq_len(past, 4), ==, 0);
	CHECK_INT(utf8_seq_len(cont, 1), ==, 0);

	REQUIRE(pipe(fds) == 0);
	CHECK_INT(buf_write_fd(fds[1], "abcdef", 6), ==, 0);
	CHECK_INT(read(fds[0], got, sizeof(got)), ==, 6);
	CHECK_STR(got, "abcdef");
	close(fds[0]);
	CHECK_INT(buf_write_fd(fds[1], "x", 1), ==, -EPIPE);
	close(fds[1]);
}

/* the decoder behind utf8_seq_len, the encoder and the '?' copy */
static void test_utf8_codec(void)
{
	const uint8_t euro[] = { 0xe2, 0x82, 0xac }, smile[] = { 0xf0, 0x9f, 0x98, 0x80 };
	const uint8_t overlong[] = { 0xc0, 0xaf }, surrogate[] = { 0xed, 0xa0, 0x80 };
	const char bad[] = "a\xff" "b\xe2\x82\xac\xe2\x82";
	const uint32_t cps[] = { 0x41, 0xe9, 0x20ac, 0x1f600, 0x10ffff, UTF8_RUNE_ERROR };
	uint32_t cp = 0;
	char enc[4], *copy;
	bool cut = true;

	CHECK_INT(utf8_decode((const uint8_t *)"A", 1, &cp), ==, 1);
	CHECK_U64(cp, ==, 0x41);
	CHECK_INT(utf8_decode(euro, 3, &cp), ==, 3);
	CHECK_U64(cp, ==, 0x20ac);
	CHECK_INT(utf8_decode(smile, 4, &cp), ==, 4);
	CHECK_U64(cp, ==, 0x1f600);
	CHECK_INT(utf8_decode(smile, 3, &cp), ==, 0); /* cut short */
	CHECK_INT(utf8_decode(overlong, 2, &cp), ==, 0);
	CHECK_INT(utf8_decode(surrogate, 3, &cp), ==, 0);
	for (size_t i = 0; i < sizeof(cps) / sizeof(cps[0]); i++) {
		size_t len = utf8_encode(cps[i], enc);

		CHECK_INT(utf8_decode((const uint8_t *)enc, len, &cp), ==, len);
		CHECK_U64(cp, ==, cps[i]);
	}
	CHECK_INT(utf8_encode(0x7f, enc), ==, 1);
	CHECK_INT(utf8_encode(0x80, enc), ==, 2);
	CHECK_INT(utf8_encode(0x800, enc), ==, 3);
	CHECK_INT(utf8_encode(0x10000, enc), ==, 4);

	/* one '?' per bad byte, the truncated euro sign included */
	copy = utf8_sanitized_dup(bad, sizeof(bad) - 1, SIZE_MAX, &cut);
	REQUIRE(copy);
	CHECK_STR(copy, "a?b\xe2\x82\xac??");
	CHECK(!cut);
	free(copy);
	/* cut on a character boundary: the euro sign does not fit in 5 */
	copy = utf8_sanitized_dup(bad, sizeof(bad) - 1, 5, &cut);
	REQUIRE(copy);
	CHECK_STR(copy, "a?b");
	CHECK(cut);
	free(copy);
	copy = utf8_sanitized_dup(bad, 6, 6, NULL);
	REQUIRE(copy);
	CHECK_STR(copy, "a?b\xe2\x82\xac");
	free(copy);
}

/* durations as flags and configs spell them; points in time as queries
 * and shell commands do */
static void test_timearg(void)
{
	static const struct {
		const char *text;
		int rc;
		uint64_t ms;
	} durations[] = {
		{ "0", 0, 0 },           { "500ms", 0, 500 },      { "15s", 0, 15000 },
		{ "2m", 0, 120000 },     { "1h", 0, 3600000 },     { "1m30s", 0, 90000 },
		{ "1d2h", 0, 93600000 }, { "1h0m5s", 0, 3605000 }, { "1s500ms", 0, 1500 },
		{ "", -EINVAL, 0 },      { "15", -EINVAL, 0 },     { "s", -EINVAL, 0 },
		{ "1.5s", -EINVAL, 0 },  { "30s1m", -EINVAL, 0 },  { "1s1s", -EINVAL, 0 },
		{ "-1s", -EINVAL, 0 },   { " 1s", -EINVAL, 0 },    { "1s ", -EINVAL, 0 },
		{ "1w", -EINVAL, 0 },    { "1sm", -EINVAL, 0 },    { "1mss", -EINVAL, 0 },
		{ "99999999999999999999s", -ERANGE, 0 },
		{ "999999999999999999d", -ERANGE, 0 },
	};
	const int64_t now = 1764904320123456789ll; /* 2025-12-05T03:12:00.123456789Z */
	static const struct {
		const char *text;
		int rc;
		int64_t ns;
	} times[] = {
		{ "2025-12-05T03:12:00Z", 0, 1764904320000000000ll },
		{ "2025-12-05t03:12:00.5z", 0, 1764904320500000000ll },
		{ "2025-12-05 03:12:00.123456789Z", 0, 1764904320123456789ll },
		{ "2025-12-05T04:12:00+01:00", 0, 1764904320000000000ll },
		{ "2025-12-04T22:42:00-04:30", 0, 1764904320000000000ll },
		{ "1970-01-01T00:00:00Z", 0, 0 },
		{ "1764904320", 0, 1764904320000000000ll },
		{ "1764904320.25", 0, 1764904320250000000ll },
		{ "now", 0, now },
		{ "now-15m", 0, now - 900000000000ll },
		{ "now+30s", 0, now + 30000000000ll },
		{ "now 1h30m", 0, now + 5400000000000ll }, /* "now+1h30m" form-decoded */
		{ "", -EINVAL, 0 },
		{ "2025-12-05T03:12:00", -EINVAL, 0 },       /* no offset */
		{ "2025-02-30T00:00:00Z", -EINVAL, 0 },      /* no such day */
		{ "2025-13-01T00:00:00Z", -EINVAL, 0 },
		{ "2025-12-05T24:00:00Z", -EINVAL, 0 },
		{ "2025-12-05T03:12:00.Z", -EINVAL, 0 },
		{ "2025-12-05T03:12:00.1234567890Z", -EINVAL, 0 },
		{ "2025-12-05T03:12:00Zjunk", -EINVAL, 0 },
		{ "1969-12-31T23:59:59Z", -ERANGE, 0 },
		{ "2300-01-01T00:00:00Z", -ERANGE, 0 },
		{ "99999999999999999999", -ERANGE, 0 },
		{ "-5", -EINVAL, 0 },
		{ "17649x", -EINVAL, 0 },
		{ "now-", -EINVAL, 0 },
		{ "now-5", -EINVAL, 0 },
		{ "nowish", -EINVAL, 0 },
		{ "now-100000d", -ERANGE, 0 },
	};
	uint64_t v;
	char text[32];
	int64_t ns;

	for (size_t i = 0; i < ARRAY_SIZE(durations); i++) {
		v = 12345;
		CHECK_INT(timearg__duration(durations[i].text, &v), ==, durations[i].rc);
		if (!durations[i].rc)
			CHECK_U64(v, ==, durations[i].ms);
		else
			CHECK_U64(v, ==, 12345);
	}
	for (size_t i = 0; i < ARRAY_SIZE(times); i++) {
		ns = -1;
		if (timearg__parse(times[i].text, now, &ns) != times[i].rc || (!times[i].rc && ns != times[i].ns))
			fprintf(stderr, "  %s: want %d %lld\n", times[i].text, times[i].rc,
				(long long)times[i].ns);
		CHECK_INT(timearg__parse(times[i].text, now, &ns), ==, times[i].rc);
		CHECK(times[i].rc || ns == times[i].ns);
	}
	timearg__format_duration(90500, text, sizeof(text));
	CHECK_STR(text, "1m30s500ms");
	timearg__format_duration(0, text, sizeof(text));
	CHECK_STR(text, "0s");
}

static void test_partition_point(void)
{
	const uint64_t v[] = { 1, 3, 3, 3, 7, 9 };
	size_t n = ARRAY_SIZE(v);

	CHECK_INT(PARTITION_POINT(n, i, v[i] <= 0), ==, 0);
	CHECK_INT(PARTITION_POINT(n, i, v[i] <= 1), ==, 1);
	CHECK_INT(PARTITION_POINT(n, i, v[i] <= 3), ==, 4); /* after the last 3 */
	CHECK_INT(PARTITION_POINT(n, i, v[i] < 3), ==, 1);  /* the first 3 */
	CHECK_INT(PARTITION_POINT(n, i, v[i] <= 8), ==, 5);
	CHECK_INT(PARTITION_POINT(n, i, v[i] <= 100), ==, n);
	CHECK_INT(PARTITION_POINT(0, i, v[i] <= 100), ==, 0);
}

static void setup(void)
{
	signal(SIGPIPE, SIG_IGN);
}

TEST_MAIN(setup, NULL,
	  TEST_CASE(utf8),
	  TEST_CASE(utf8_codec),
	  TEST_CASE(labels),
	  TEST_CASE(u64map),
	  TEST_CASE(parse),
	  TEST_CASE(buf),
	  TEST_CASE(partition_point),
	  TEST_CASE(timearg))
