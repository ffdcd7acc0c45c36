/* Label selectors (labels/matcher.h): what parses, the message of what
 * does not, the bounds, and which label sets a selector and a set of them
 * match. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/macros.h"
#include "labels/matcher.h"
#include "testing.h"

static int parse(const char *s, struct matcher **m, char *err, size_t errlen)
{
	return matcher__parse(s, strlen(s), m, err, errlen);
}

/* Whether selector s matches the labels given as "name", "value", ...,
 * NULL. */
static bool matches(const char *s, ...)
{
	struct labels ls = { 0 };
	struct matcher *m = NULL;
	char err[256];
	const char *name;
	va_list ap;
	bool ok;

	REQUIRE(parse(s, &m, err, sizeof(err)) == 0);
	va_start(ap, s);
	while ((name = va_arg(ap, const char *)))
		REQUIRE(labels__set(&ls, name, va_arg(ap, const char *)) == 0);
	va_end(ap);
	ok = matcher__matches(m, &ls);
	labels__clear(&ls);
	matcher__free(m);
	return ok;
}

static void test_parse(void)
{
	static const char *const good[] = {
		"{}", " { } ", "{a=\"b\"}", "{a=\"b\",}", "{ a = \"b\" , c != 'd' }",
		"{a=~\"x.*\", b!~`y|z`}", "{_x1=\"\"}", "{a=\"\\\"\\\\\\n\\t\\x41\\101\\u00e9\\U0001F600\"}",
		"{a='\\''}", "{a=`raw \\n \"`}", "\t{a=\"b\"}\n",
	};
	char err[256];

	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		struct matcher *m = NULL;
		int rc = parse(good[i], &m, err, sizeof(err));

		if (rc)
			fprintf(stderr, "'%s' refused: %s\n", good[i], err);
		CHECK_INT(rc, ==, 0);
		CHECK(m != NULL);
		matcher__free(m);
	}
	matcher__free(NULL);
	matcher_set__free(NULL);
}

static void test_errors(void)
{
	static const struct {
		const char *in, *msg;
	} bad[] = {
		{ "", "expected '{' at offset 0, found end of selector" },
		{ "comm", "expected '{' at offset 0, found 'c'" },
		{ "up{a=\"b\"}", "expected '{' at offset 0, found 'u'" },
		{ "{", "expected a label name at offset 1, found end of selector" },
		{ "{a}", "expected =, !=, =~ or !~ after label a at offset 2, found '}'" },
		{ "{a==\"b\"}", "expected a quoted string at offset 3, found '='" },
		{ "{a=b}", "expected a quoted string at offset 3, found 'b'" },
		{ "{1a=\"b\"}", "expected a label name at offset 1, found '1'" },
		{ "{a.b=\"c\"}", "expected =, !=, =~ or !~ after label a at offset 2, found '.'" },
		{ "{a=\"b\"", "expected ',' or '}' at offset 6, found end of selector" },
		{ "{a=\"b\" c=\"d\"}", "expected ',' or '}' at offset 7, found 'c'" },
		{ "{a=\"b}", "unterminated string at offset 3" },
		{ "{a=\"b\nc\"}", "newline in string at offset 5" },
		{ "{a=\"\\q\"}", "unknown escape 'q' at offset 4" },
		{ "{a=\"\\'\"}", "unknown escape byte 0x27 at offset 4" },
		{ "{a=\"\\x4\"}", "bad \\x escape at offset 4" },
		{ "{a=\"\\400\"}", "bad octal escape at offset 4" },
		{ "{a=\"\\ud800\"}", "escape \\u of an invalid code point at offset 4" },
		{ "{a=\"\\x00\"}", "NUL byte in string at offset 3" },
		{ "{a=\"b\"}}", "unexpected '}' after '}' at offset 7" },
		{ "{a=\"b\"},{c=\"d\"}", "unexpected ',' after '}' at offset 7" },
		{ "{a=~\"(\"}", "bad regex \"(\": missing closing parenthesis at offset 1" },
		{ "{a=~\"(x)\\\\1\"}",
		  "bad regex \"(x)\\1\": backreferences are not supported (RE2 syntax)" },
	};
	char err[256];

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct matcher *m = NULL;

		CHECK_INT(parse(bad[i].in, &m, err, sizeof(err)), ==, -EINVAL);
		CHECK_STR(err, bad[i].msg);
		CHECK(m == NULL);
	}
	/* a NUL in the text is a byte like any other: not a name, not '{' */
	{
		struct matcher *m = NULL;

		CHECK_INT(matcher__parse("{a=\"b\0\"}", 8, &m, err, sizeof(err)), ==, -EINVAL);
		CHECK_STR(err, "NUL byte in string at offset 3");
		CHECK_INT(matcher__parse("\0{}", 3, &m, err, sizeof(err)), ==, -EINVAL);
		CHECK_STR(err, "expected '{' at offset 0, found byte 0x00");
	}
	/* a short buffer still gets a terminated message */
	{
		struct matcher *m = NULL;
		char small[8];

		CHECK_INT(parse("{", &m, small, sizeof(small)), ==, -EINVAL);
		CHECK_STR(small, "expecte");
	}
}

static void test_bounds(void)
{
	char text[MATCHER_MAX_BYTES + 64], err[256];
	struct matcher_set *set = NULL;
	struct matcher *m = NULL;
	size_t len = 0;

	/* 32 matchers parse, 33 do not */
	len += (size_t)snprintf(text + len, sizeof(text) - len, "{");
	for (int i = 0; i < MATCHER_MAX_MATCHERS; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len, "a%d=\"\",", i);
	strcpy(text + len, "}");
	CHECK_INT(parse(text, &m, err, sizeof(err)), ==, 0);
	matcher__free(m);
	m = NULL;
	strcpy(text + len, "b=\"\"}");
	CHECK_INT(parse(text, &m, err, sizeof(err)), ==, -EINVAL);
	CHECK_STR(err, "more than 32 label matchers in a selector");

	/* 1024 bytes parse, 1025 do not */
	memset(text, ' ', sizeof(text));
	memcpy(text, "{a=\"b\"}", 7);
	CHECK_INT(matcher__parse(text, MATCHER_MAX_BYTES, &m, err, sizeof(err)), ==, 0);
	matcher__free(m);
	m = NULL;
	CHECK_INT(matcher__parse(text, MATCHER_MAX_BYTES + 1, &m, err, sizeof(err)), ==,
		  -EINVAL);
	CHECK_STR(err, "selector longer than 1024 bytes");

	/* 16 selectors in a set, not 17 */
	for (int i = 0; i < MATCHER_MAX_SELECTORS; i++)
		CHECK_INT(matcher_set__add(&set, "{}", 2, err, sizeof(err)), ==, 0);
	CHECK_INT(matcher_set__count(set), ==, MATCHER_MAX_SELECTORS);
	CHECK_INT(matcher_set__add(&set, "{}", 2, err, sizeof(err)), ==, -EINVAL);
	CHECK_STR(err, "more than 16 selectors");
	matcher_set__free(set);
	set = NULL;

	/* a bad selector leaves the set as it was */
	CHECK_INT(matcher_set__add(&set, "{", 1, err, sizeof(err)), ==, -EINVAL);
	CHECK(set == NULL);
	CHECK_INT(matcher_set__count(set), ==, 0);
}

static void test_match(void)
{
	CHECK(matches("{}", NULL));
	CHECK(matches("{}", "comm", "x", NULL));
	CHECK(matches("{comm=\"spinner\"}", "comm", "spinner", "pid", "7", NULL));
	CHECK(!matches("{comm=\"spinner\"}", "comm", "spinner2", NULL));
	CHECK(!matches("{comm=\"spinner\"}", NULL));
	CHECK(matches("{comm!=\"spinner\"}", "comm", "fp_chain", NULL));
	CHECK(!matches("{comm!=\"spinner\"}", "comm", "spinner", NULL));
	/* an absent label is "" */
	CHECK(matches("{pod=\"\"}", "comm", "x", NULL));
	CHECK(!matches("{pod!=\"\"}", "comm", "x", NULL));
	CHECK(matches("{pod!=\"\"}", "pod", "p", NULL));
	CHECK(matches("{pod=~\".*\"}", NULL));
	CHECK(!matches("{pod=~\".+\"}", NULL));
	/* regexes are anchored at both ends, `.` matches a newline */
	CHECK(matches("{container=~\"web-.*\"}", "container", "web-1", NULL));
	CHECK(!matches("{container=~\"web-.*\"}", "container", "my-web-1", NULL));
	CHECK(!matches("{container=~\"web\"}", "container", "web-1", NULL));
	CHECK(matches("{a=~\"x|y\"}", "a", "y", NULL));
	CHECK(matches("{a=~\"a.b\"}", "a", "a\nb", NULL));
	CHECK(!matches("{a=~\"b$\"}", "a", "b\n", NULL));
	CHECK(matches("{a!~\"kube-.*\"}", "a", "default", NULL));
	CHECK(!matches("{a!~\"kube-.*\"}", "a", "kube-system", NULL));
	/* invalid UTF-8 is U+FFFD to a regex */
	CHECK(matches("{a=~\"x.y\"}", "a", "x\xffy", NULL));
	/* escapes */
	CHECK(matches("{a=\"\\u00e9\\x41\\101\\t\"}", "a", "\xc3\xa9" "AA\t", NULL));
	CHECK(matches("{a=`\\d+`}", "a", "\\d+", NULL));
	CHECK(matches("{a=~`\\d+`}", "a", "123", NULL));
	/* every matcher of a selector must hold */
	CHECK(matches("{service_name=\"api\",container=~\"web-.*\",namespace!=\"kube-system\"}",
		      "service_name", "api", "container", "web-2", "namespace", "prod", NULL));
	CHECK(!matches("{service_name=\"api\",container=~\"web-.*\",namespace!=\"kube-system\"}",
		       "service_name", "api", "container", "web-2", "namespace", "kube-system",
		       NULL));
	/* the same label twice */
	CHECK(matches("{a=~\"x.*\",a!=\"xy\"}", "a", "xz", NULL));
	CHECK(!matches("{a=~\"x.*\",a!=\"xy\"}", "a", "xy", NULL));
}

static void test_set(void)
{
	struct labels spinner = { 0 }, chain = { 0 }, other = { 0 };
	struct matcher_set *set = NULL;
	struct matcher *m = NULL;
	char err[256];

	REQUIRE(labels__set(&spinner, "comm", "spinner") == 0);
	REQUIRE(labels__set(&chain, "comm", "fp_chain") == 0);
	REQUIRE(labels__set(&other, "comm", "bash") == 0);
	/* no set: no filter */
	CHECK(matcher_set__matches(NULL, &other));
	CHECK_INT(matcher_set__add(&set, "{comm=\"spinner\"}", 16, err, sizeof(err)), ==, 0);
	CHECK(matcher_set__matches(set, &spinner));
	CHECK(!matcher_set__matches(set, &chain));
	/* OR-ed */
	CHECK_INT(matcher_set__add(&set, "{comm=~\"fp_.*\"}", 15, err, sizeof(err)), ==, 0);
	CHECK_INT(matcher_set__count(set), ==, 2);
	CHECK(matcher_set__matches(set, &spinner));
	CHECK(matcher_set__matches(set, &chain));
	CHECK(!matcher_set__matches(set, &other));
	CHECK(!matcher_set__matches(set, NULL));
	matcher_set__free(set);

	/* a NULL label set is the empty one */
	REQUIRE(parse("{comm=\"\"}", &m, err, sizeof(err)) == 0);
	CHECK(matcher__matches(m, NULL));
	matcher__free(m);

	labels__clear(&spinner);
	labels__clear(&chain);
	labels__clear(&other);
}

TEST_MAIN(NULL, NULL,
	  TEST_CASE(parse),
	  TEST_CASE(errors),
	  TEST_CASE(bounds),
	  TEST_CASE(match),
	  TEST_CASE(set))
