/* The parsers of what clients and the configuration send the endpoint,
 * without a server: listen addresses (http_address__parse and the
 * loopback test), the Host check's names, and the profile query string
 * (http_query__parse_profile) with the messages that go back in a 400,
 * and the escaping that keeps those one line of UTF-8 (http_text). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "common/macros.h"
#include "serve/http_address.h"
#include "labels/matcher.h"
#include "serve/http_query.h"
#include "serve/http_text.h"
#include "testing.h"

static void test_parse_address(void)
{
	static const char *const bad[] = {
		"", "127.0.0.1:", ":", "127.0.0.1:65536",
		"127.0.0.1:-1", "127.0.0.1:+80", "127.0.0.1:80x",
		"127.0.0.1: 80", "127.0.0.1:99999999999999999999",
		"example.com:80", "localhost.:80", "127.1:80", "256.0.0.1:80", "::1:7071", "::1",
		"[::1]7071", "[::1:7071", "[::1]:", "[]:80", "[]", "[127.0.0.1]:80",
		"[fe80::1%eth0]:80", "1.2.3.4:80:80", "nonsense",
	};
	struct sockaddr_storage ss;
	socklen_t len;

	CHECK_INT(http_address__parse("127.0.0.1:7071", &ss, &len), ==, 0);
	CHECK_INT(ss.ss_family, ==, AF_INET);
	CHECK_INT(len, ==, sizeof(struct sockaddr_in));
	CHECK_INT(ntohs(((struct sockaddr_in *)&ss)->sin_port), ==, 7071);
	CHECK_U64(ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr), ==,
		  0x7f000001);

	CHECK_INT(http_address__parse("0.0.0.0:0", &ss, &len), ==, 0);
	CHECK_INT(ntohs(((struct sockaddr_in *)&ss)->sin_port), ==, 0);

	CHECK_INT(http_address__parse("[::1]:65535", &ss, &len), ==, 0);
	CHECK_INT(ss.ss_family, ==, AF_INET6);
	CHECK_INT(len, ==, sizeof(struct sockaddr_in6));
	CHECK_INT(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), ==, 65535);
	CHECK(IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&ss)->sin6_addr));

	CHECK_INT(http_address__parse("[::]:7071", &ss, &len), ==, 0);
	CHECK(IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6 *)&ss)->sin6_addr));

	/* Go's ":PORT" is every IPv4 interface; no port is the default one */
	CHECK_INT(http_address__parse(":7072", &ss, &len), ==, 0);
	CHECK_INT(ss.ss_family, ==, AF_INET);
	CHECK_U64(((struct sockaddr_in *)&ss)->sin_addr.s_addr, ==, 0);
	CHECK_INT(ntohs(((struct sockaddr_in *)&ss)->sin_port), ==, 7072);
	CHECK_INT(http_address__parse("0.0.0.0", &ss, &len), ==, 0);
	CHECK_INT(ntohs(((struct sockaddr_in *)&ss)->sin_port), ==, HTTP_ADDRESS_DEFAULT_PORT);
	CHECK_INT(http_address__parse("[::1]", &ss, &len), ==, 0);
	CHECK_INT(ss.ss_family, ==, AF_INET6);
	CHECK_INT(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), ==, 7071);
	CHECK_INT(http_address__parse("LocalHost:80", &ss, &len), ==, 0);
	CHECK_U64(ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr), ==, 0x7f000001);
	CHECK_INT(http_address__parse("localhost", &ss, &len), ==, 0);
	CHECK_INT(ntohs(((struct sockaddr_in *)&ss)->sin_port), ==, 7071);

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int err = http_address__parse(bad[i], &ss, &len);

		if (err != -EINVAL)
			fprintf(stderr, "address '%s' accepted\n", bad[i]);
		CHECK_INT(err, ==, -EINVAL);
	}
	CHECK_INT(http_address__parse(NULL, &ss, &len), ==, -EINVAL);

	/* which binds the Host check and the per-address limit apply to */
	CHECK_INT(http_address__is_loopback("127.0.0.1:7071"), ==, 1);
	CHECK_INT(http_address__is_loopback("127.3.2.1:7071"), ==, 1);
	CHECK_INT(http_address__is_loopback("[::1]:7071"), ==, 1);
	CHECK_INT(http_address__is_loopback("[::ffff:127.0.0.1]:7071"), ==, 1);
	CHECK_INT(http_address__is_loopback("0.0.0.0:7071"), ==, 0);
	CHECK_INT(http_address__is_loopback("[::]:7071"), ==, 0);
	CHECK_INT(http_address__is_loopback("10.1.2.3:7071"), ==, 0);
	CHECK_INT(http_address__is_loopback("128.0.0.1:7071"), ==, 0);
	CHECK_INT(http_address__is_loopback("nonsense"), ==, -EINVAL);
	CHECK_INT(http_address__is_loopback(":7071"), ==, 0);
	CHECK_INT(http_address__is_loopback("localhost:7071"), ==, 1);
}

static void test_host_names(void)
{
	static const char *const good[] = {
		"127.0.0.1", "127.0.0.1:7071", "localhost", "LocalHost:80", "[::1]",
		"[::1]:8080", "127.9.8.7:1", "[0:0:0:0:0:0:0:1]:7071", "[::ffff:127.0.0.1]",
		"localhost:65535", "localhost:0",
	};
	static const char *const bad[] = {
		"", "evil.example", "evil.example:7071", "localhost.evil.example",
		"127.0.0.1.nip.io", "10.0.0.1", "128.0.0.1", "0.0.0.0", "[::]", "::1",
		"[::1", "[::1]x", "localhost:", "localhost:99999", "localhost:+80",
		"localhost:80:80", "127.1", "[fe80::1]", "localhost :80", "localhost:8a",
		"[::1]:", "[127.0.0.1]",
	};

	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		if (!http_address__host_is_loopback(good[i], strlen(good[i])))
			fprintf(stderr, "Host '%s' refused\n", good[i]);
		CHECK(http_address__host_is_loopback(good[i], strlen(good[i])));
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		if (http_address__host_is_loopback(bad[i], strlen(bad[i])))
			fprintf(stderr, "Host '%s' accepted\n", bad[i]);
		CHECK(!http_address__host_is_loopback(bad[i], strlen(bad[i])));
	}
	/* length, not NUL, ends the value */
	CHECK(http_address__host_is_loopback("localhostXYZ", 9));
	CHECK(!http_address__host_is_loopback("localhost\0evil", 14));
}

static void test_parse_query(void)
{
	struct profile_query q;
	char err[256];

	CHECK_INT(http_query__parse_profile("", 0, 30, 600, &q, err, sizeof(err)), ==, 0);
	CHECK_INT(q.seconds, ==, 30);
	CHECK_INT(q.pid, ==, -1);
	CHECK_INT(http_query__parse_profile("seconds=5&pid=77&x", 18, 30, 600, &q, err,
					    sizeof(err)), ==, 0);
	CHECK_INT(q.seconds, ==, 5);
	CHECK_INT(q.pid, ==, 77);
	/* the length bounds the text: "seconds=12" is seconds=1 here */
	CHECK_INT(http_query__parse_profile("seconds=12", 9, 30, 600, &q, err, sizeof(err)),
		  ==, 0);
	CHECK_INT(q.seconds, ==, 1);
	/* '+' is a space, like Go's url.ParseQuery */
	CHECK_INT(http_query__parse_profile("seconds=+5", 10, 30, 600, &q, err, sizeof(err)),
		  ==, -EINVAL);
	CHECK_STR(err, "bad seconds: \" 5\": not a positive integer");
	/* bytes that are not UTF-8, control characters, quotes: escaped */
	CHECK_INT(http_query__parse_profile("pid=%ff%01%22%5C\xc3\xa9", 18, 30, 600, &q, err,
					    sizeof(err)), ==, -EINVAL);
	CHECK_STR(err, "bad pid: \"\\xff\\x01\\\"\\\\\xc3\xa9\": not a positive integer");
	/* a long value is cut at a character boundary, never inside one */
	{
		char query[64] = "pid=", want[128] = "bad pid: \"";

		memset(query + 4, 'a', 31);
		strcat(query, "\xc3\xa9zz");
		memset(want + strlen(want), 'a', 31);
		strcat(want, "...\": not a positive integer");
		CHECK_INT(http_query__parse_profile(query, strlen(query), 30, 600, &q, err,
						    sizeof(err)), ==, -EINVAL);
		CHECK_STR(err, want);
	}
	/* a value longer than any number */
	{
		char big[300] = "seconds=";

		memset(big + 8, '7', 200);
		CHECK_INT(http_query__parse_profile(big, strlen(big), 30, 600, &q, err,
						    sizeof(err)), ==, -EINVAL);
		CHECK(strstr(err, "out of range") != NULL);
		memset(big + 8, '%', 200);
		CHECK_INT(http_query__parse_profile(big, strlen(big), 30, 600, &q, err,
						    sizeof(err)), ==, -EINVAL);
		CHECK(strstr(err, "not a positive integer") != NULL);
	}
	/* a NUL past the part kept for the message still counts */
	{
		char query[128] = "pid=";

		memset(query + 4, '1', 67);
		strcat(query, "%00");
		CHECK_INT(http_query__parse_profile(query, strlen(query), 30, 600, &q, err,
						    sizeof(err)), ==, -EINVAL);
	}
	CHECK(strstr(err, "contains a NUL byte") != NULL);
}

/* type: cpu (the default) is the one sample type recorded; another is a
 * 400 that lists the known ones */
static void test_parse_type(void)
{
	struct profile_query q;
	char err[256];

#define PARSE(s) http_query__parse_profile(s, strlen(s), 30, 600, &q, err, sizeof(err))
	CHECK_INT(PARSE("seconds=2"), ==, 0);
	CHECK_INT(q.type, ==, PROFILE_CPU);
	CHECK_INT(PARSE("type=cpu&seconds=2"), ==, 0);
	CHECK_INT(q.type, ==, PROFILE_CPU);
	CHECK_INT(q.seconds, ==, 2);
	CHECK_INT(PARSE("type=heap"), ==, -EINVAL);
	CHECK_STR(err, "bad type: \"heap\": the sample types are cpu, off_cpu and wall");
	CHECK_INT(PARSE("type=off_cpu&seconds=3"), ==, 0);
	CHECK_INT(q.type, ==, PROFILE_OFF_CPU);
	CHECK_INT(http_query__history_type(&q, err, sizeof(err)), ==, 0);
	CHECK_INT(PARSE("type=wall"), ==, 0);
	CHECK_INT(q.type, ==, PROFILE_WALL);
	/* the history has no wall windows: a range of them is a 400 */
	CHECK_INT(http_query__history_type(&q, err, sizeof(err)), ==, -EINVAL);
	CHECK_STR(err, "bad type: the history keeps cpu and off_cpu windows; wall profiles "
		       "are live only (seconds=)");
	CHECK_INT(PARSE("type=%01x"), ==, -EINVAL);
	CHECK_STR(err, "bad type: \"\\x01x\": the sample types are cpu, off_cpu and wall");
	CHECK_INT(PARSE("type=cpu&type=cpu"), ==, -EINVAL);
	CHECK_STR(err, "bad type: given more than once");
	CHECK_INT(PARSE("type="), ==, -EINVAL);
	CHECK_STR(err, "bad type: missing value");
	/* a matcher parsed before a bad type is released (ASan: no leak) */
	CHECK_INT(PARSE("match={comm=\"x\"}&type=nope"), ==, -EINVAL);
	CHECK(q.match == NULL);
#undef PARSE
}

/* start, end, since: a look back, and how far ahead it may reach */
static void test_parse_range(void)
{
	const int64_t now = 1764904320000000000ll, s = 1000000000ll;
	struct profile_range r;
	char err[256];

#define RANGE(q) http_query__parse_range(q, strlen(q), now, 600, &r, err, sizeof(err))
	CHECK_INT(RANGE("seconds=5&pid=3"), ==, 0);
	CHECK(!r.set);
	CHECK_INT(RANGE("since=15m"), ==, 0);
	CHECK(r.set && r.start_ns == now - 900 * s && r.end_ns == now);
	CHECK_INT(RANGE("start=2025-12-05T03:00:00Z&end=1764904200"), ==, 0);
	CHECK(r.set && r.start_ns == now - 720 * s && r.end_ns == now - 120 * s);
	/* "the last 5 minutes and the next 30 seconds" ('+' decodes to ' ') */
	CHECK_INT(RANGE("since=5m&end=now+30s"), ==, 0);
	CHECK(r.start_ns == now - 300 * s && r.end_ns == now + 30 * s);
	CHECK_INT(RANGE("start=now-1h&end=now%2B10m"), ==, 0);
	CHECK(r.start_ns == now - 3600 * s && r.end_ns == now + 600 * s);
	CHECK_INT(RANGE("since=5m&end=now+11m"), ==, -EINVAL);
	CHECK_STR(err, "bad end: more than 600 seconds ahead (the longest profile)");
	CHECK_INT(RANGE("since=yesterday"), ==, -EINVAL);
	CHECK_STR(err, "bad since: \"yesterday\": expected a duration such as 15m or 1h30m");
	CHECK_INT(RANGE("since=0"), ==, -EINVAL);
	CHECK_STR(err, "bad since: \"0\": out of range");
	CHECK_INT(RANGE("start=03:12"), ==, -EINVAL);
	CHECK_STR(err, "bad start: \"03:12\": expected RFC 3339 (2026-12-05T03:12:00Z), Unix "
		       "seconds or now-DURATION");
	CHECK_INT(RANGE("start=1900-01-01T00:00:00Z"), ==, -EINVAL);
	CHECK(strstr(err, "out of range") != NULL);
	CHECK_INT(RANGE("end=now"), ==, -EINVAL);
	CHECK_STR(err, "bad end: needs start or since");
	CHECK_INT(RANGE("start=now-1h&since=1h"), ==, -EINVAL);
	CHECK_STR(err, "bad since: give start or since, not both");
	CHECK_INT(RANGE("since=1h&seconds=30"), ==, -EINVAL);
	CHECK(strstr(err, "a range (start or since) has no seconds") != NULL);
	CHECK_INT(RANGE("start=now&end=now-1m"), ==, -EINVAL);
	CHECK_STR(err, "bad end: not after the start");
	CHECK_INT(RANGE("since=1h&since=2h"), ==, -EINVAL);
	CHECK_STR(err, "bad since: given more than once");
	CHECK_INT(RANGE("start=%01"), ==, -EINVAL);
	CHECK(strstr(err, "\\x01") != NULL);
#undef RANGE
}

/* match: repeated selectors, OR-ed, and the 400s of bad ones */
static void test_parse_match(void)
{
	struct profile_query q;
	char err[256];
	const char *s;

#define PARSE(str) http_query__parse_profile(str, strlen(str), 30, 600, &q, err, sizeof(err))
	CHECK_INT(PARSE("seconds=5"), ==, 0);
	CHECK(q.match == NULL);
	profile_query__release(&q);
	/* percent-encoded, as curl --data-urlencode and browsers send it */
	CHECK_INT(PARSE("match=%7Bcomm%3D%22spinner%22%7D&pid=3"), ==, 0);
	CHECK_INT(matcher_set__count(q.match), ==, 1);
	CHECK_INT(q.pid, ==, 3);
	profile_query__release(&q);
	CHECK(q.match == NULL);
	profile_query__release(&q); /* twice: nothing left to free */
	CHECK_INT(PARSE("match={comm=\"a\"}&match={comm=~\"b.*\",+pod!=''}"), ==, 0);
	CHECK_INT(matcher_set__count(q.match), ==, 2);
	profile_query__release(&q);

	CHECK_INT(PARSE("match="), ==, -EINVAL);
	CHECK_STR(err, "bad match: missing value");
	CHECK_INT(PARSE("match"), ==, -EINVAL);
	CHECK_STR(err, "bad match: missing value");
	CHECK_INT(PARSE("match=comm"), ==, -EINVAL);
	CHECK_STR(err, "bad match: \"comm\": expected '{' at offset 0, found 'c'");
	CHECK_INT(PARSE("match={comm=\"x\"&pid=1"), ==, -EINVAL);
	CHECK_STR(err, "bad match: \"{comm=\\\"x\\\"\": expected ',' or '}' at offset 9, "
		       "found end of selector");
	CHECK(q.match == NULL);
	/* a good selector before a bad one is freed with the error */
	CHECK_INT(PARSE("match={}&match={a=~\"(\"}"), ==, -EINVAL);
	CHECK_STR(err, "bad match: \"{a=~\\\"(\\\"}\": bad regex \"(\": missing closing "
		       "parenthesis at offset 1");
	CHECK(q.match == NULL);
	/* a bad one after other parameters */
	CHECK_INT(PARSE("seconds=0&match={}"), ==, -EINVAL);
	CHECK_STR(err, "bad seconds: \"0\": must be at least 1");
	CHECK_INT(PARSE("match={}&seconds=0"), ==, -EINVAL);
	CHECK_STR(err, "bad seconds: \"0\": must be at least 1");
	CHECK(q.match == NULL);
	/* the input's bytes come back escaped, the message one line of UTF-8 */
	CHECK_INT(PARSE("match={a=\"%ff%0A\"}"), ==, -EINVAL);
	CHECK_STR(err, "bad match: \"{a=\\\"\\xff\\x0a\\\"}\": newline in string at offset 5");
	CHECK_INT(PARSE("match={a=~\"%ff(\"}"), ==, -EINVAL);
	CHECK(strstr(err, "bad match: \"{a=~\\\"\\xff(\\\"}\": bad regex \"\\xff(\"") == err);
	CHECK_INT(PARSE("match={a=\"b%00\"}"), ==, -EINVAL);
	CHECK_STR(err, "bad match: \"{a=\\\"b\": contains a NUL byte");
	/* bounds */
	{
		char query[1200] = "match={a=\"";

		memset(query + strlen(query), 'x', 1020);
		strcat(query, "\"}");
		CHECK_INT(PARSE(query), ==, -EINVAL);
		CHECK(strstr(err, "...\": longer than 1024 bytes") != NULL);
		CHECK(strlen(err) < 80);
	}
	{
		char query[400] = "";

		for (int i = 0; i < 16; i++)
			strcat(query, "match={}&");
		CHECK_INT(PARSE(query), ==, 0);
		CHECK_INT(matcher_set__count(q.match), ==, 16);
		profile_query__release(&q);
		strcat(query, "match={}");
		CHECK_INT(PARSE(query), ==, -EINVAL);
		CHECK_STR(err, "bad match: more than 16 selectors");
	}
	s = "match={}";
	CHECK_INT(http_query__parse_profile(s, 7, 30, 600, &q, err, sizeof(err)), ==, -EINVAL);
	CHECK_STR(err, "bad match: \"{\": expected a label name at offset 1, found end of selector");
#undef PARSE
}

static void test_text(void)
{
	char out[64], err[32];
	size_t len = 0;

	/* a C1 control is two escapes; quotes are escaped only when quoted */
	out[0] = 0;
	http_text__escape(out, sizeof(out), &len, "a\xc2\x85\"\\", 5, false);
	CHECK_STR(out, "a\\xc2\\x85\"\\");
	len = 0;
	http_text__escape(out, sizeof(out), &len, "\"\\\xc2\xa0", 4, true);
	CHECK_STR(out, "\\\"\\\\\xc2\xa0");
	/* stops before a piece that does not fit */
	len = 0;
	http_text__escape(out, 6, &len, "ab\x01", 3, false);
	CHECK_STR(out, "ab");
	CHECK_INT(len, ==, 2);
	/* errf: one line, and -code for the caller to return */
	CHECK_INT(http_text__errf(err, sizeof(err), EINVAL, "a\nb\t%d", 1), ==, -EINVAL);
	CHECK_STR(err, "a b 1");
	CHECK_INT(http_text__errf(NULL, 0, ENOMEM, "x"), ==, -ENOMEM);
}

TEST_MAIN(NULL, NULL,
	  TEST_CASE(parse_address),
	  TEST_CASE(host_names),
	  TEST_CASE(parse_query),
	  TEST_CASE(parse_type),
	  TEST_CASE(parse_range),
	  TEST_CASE(parse_match),
	  TEST_CASE(text))
