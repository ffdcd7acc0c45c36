/* Unit test of agent/relabel: a table of label sets, rules and expected
 * results, each row naming the Prometheus behaviour it follows (the
 * <relabel_config> docs, or a case of prometheus/model/relabel
 * relabel_test.go), then the validation rules and their messages.
 * hashmod values were computed independently with python3:
 *   int.from_bytes(hashlib.md5(v).digest()[8:], "big") % modulus
 */
#include <errno.h>
#include <stdbool.h>

#include "labels/relabel.h"
#include "common/labels.h"
#include "common/macros.h"
#include "testing.h"

#define SRC(...)                                                              \
	.source_labels = (const char *const[]){ __VA_ARGS__ },                \
	.nsource = sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *)
#define MOD(m) .modulus = (m), .has_modulus = true

enum { MAX_PAIRS = 24, MAX_RULES = 4 };

struct relabel_case {
	const char *why;
	const char *in[MAX_PAIRS];  /* name, value, ..., NULL */
	struct relabel_spec rules[MAX_RULES];
	size_t nrules;
	bool dropped;
	const char *out[MAX_PAIRS]; /* expected set when kept */
};

static const struct relabel_case cases[] = {
	{ "replace: ${1} expands the capture (relabel_test.go, first case)",
	  { "a", "foo", "b", "bar", "c", "baz", NULL },
	  { { .action = RELABEL_REPLACE, SRC("a"), .regex = "f(.*)", .target_label = "d",
	      .replacement = "ch${1}-ch${1}" } }, 1, false,
	  { "a", "foo", "b", "bar", "c", "baz", "d", "choo-choo", NULL } },
	{ "replace: source values joined by ';', rules applied in order (relabel_test.go)",
	  { "a", "foo", "b", "bar", "c", "baz", NULL },
	  { { .action = RELABEL_REPLACE, SRC("a", "b"), .regex = "f(.*);(.*)r",
	      .target_label = "a", .replacement = "b${1}${2}m" },
	    { .action = RELABEL_REPLACE, SRC("c", "a"), .regex = "(b).*b(.*)ba(.*)",
	      .target_label = "d", .replacement = "$1$2$2$3" } }, 2, false,
	  { "a", "boobam", "b", "bar", "c", "baz", "d", "boooom", NULL } },
	{ "drop: a matching joined value drops the set, later rules do not run (relabel_test.go)",
	  { "a", "foo", NULL },
	  { { .action = RELABEL_DROP, SRC("a"), .regex = ".*o.*" },
	    { .action = RELABEL_REPLACE, SRC("a"), .target_label = "d" } }, 2, true, { NULL } },
	{ "anchoring: regex f|o is ^(?:f|o)$ and does not match \"foo\" (relabel_test.go; docs: regex is anchored on both ends)",
	  { "a", "foo", NULL },
	  { { .action = RELABEL_DROP, SRC("a"), .regex = "f|o" } }, 1, false,
	  { "a", "foo", NULL } },
	{ "anchoring: keep with \"oo\" does not match \"foo\" and drops (docs: anchored)",
	  { "comm", "foo", NULL },
	  { { .action = RELABEL_KEEP, SRC("comm"), .regex = "oo" } }, 1, true, { NULL } },
	{ "keep: matching value keeps the set unchanged (relabel_test.go)",
	  { "comm", "python3", "pid", "42", NULL },
	  { { .action = RELABEL_KEEP, SRC("comm"), .regex = "python.*" } }, 1, false,
	  { "comm", "python3", "pid", "42", NULL } },
	{ "replace without a match leaves the set unchanged (relabel_test.go: no replacement if no match)",
	  { "a", "boo", NULL },
	  { { .action = RELABEL_REPLACE, SRC("a"), .regex = "f", .target_label = "b",
	      .replacement = "bar" } }, 1, false,
	  { "a", "boo", NULL } },
	{ "replace with an empty result deletes the target (relabel_test.go: blank replacement)",
	  { "a", "foo", "f", "baz", NULL },
	  { { .action = RELABEL_REPLACE, SRC("a"), .regex = "(f).*", .target_label = "$1",
	      .replacement = "$2" } }, 1, false,
	  { "a", "foo", NULL } },
	{ "target_label from a capture, ${1} and ${2} (relabel_test.go: valid case)",
	  { "a", "some-name-value", NULL },
	  { { .action = RELABEL_REPLACE, SRC("a"), .regex = "some-([^-]+)-([^,]+)",
	      .target_label = "${1}", .replacement = "${2}" } }, 1, false,
	  { "a", "some-name-value", "name", "value", NULL } },
	{ "an expanded target that is no valid name skips the rule (relabel_test.go: invalid target_labels)",
	  { "a", "some-name-0", NULL },
	  { { .action = RELABEL_REPLACE, SRC("a"), .regex = "some-([^-]+)-([^,]+)",
	      .target_label = "${3}", .replacement = "${1}" },
	    { .action = RELABEL_REPLACE, SRC("a"), .regex = "some-([^-]+)-([^,]+)",
	      .target_label = "${2}", .replacement = "${1}" } }, 2, false,
	  { "a", "some-name-0", NULL } },
	{ "a missing source label joins as \"\" (docs: source_labels)",
	  { "comm", "python3", NULL },
	  { { .action = RELABEL_REPLACE, SRC("comm", "missing"), .regex = "(.*);",
	      .target_label = "x" } }, 1, false,
	  { "comm", "python3", "x", "python3", NULL } },
	{ "defaults: regex (.*), replacement $1 copy the joined value; separator is honoured, \"\" joins with nothing (docs: defaults)",
	  { "namespace", "prod", "pod", "web-1", NULL },
	  { { .action = RELABEL_REPLACE, SRC("namespace", "pod"), .target_label = "job" },
	    { .action = RELABEL_REPLACE, SRC("namespace", "pod"), .separator = "/",
	      .target_label = "path" },
	    { .action = RELABEL_REPLACE, SRC("namespace", "pod"), .separator = "",
	      .target_label = "glued" } }, 3, false,
	  { "glued", "prodweb-1", "job", "prod;web-1", "namespace", "prod", "path", "prod/web-1",
	    "pod", "web-1", NULL } },
	{ "static label: no source_labels, literal replacement (docs: replacement without $ refs)",
	  { "comm", "x", NULL },
	  { { .action = RELABEL_REPLACE, .target_label = "cluster", .replacement = "dev-eu-1" } },
	  1, false,
	  { "cluster", "dev-eu-1", "comm", "x", NULL } },
	{ "$1x names group \"1x\" and expands to \"\", ${1}x is the capture then x (Go regexp.Expand: longest name)",
	  { "a", "foo", "y", "old", NULL },
	  { { .action = RELABEL_REPLACE, SRC("a"), .regex = "(f)oo", .target_label = "y",
	      .replacement = "$1x" },
	    { .action = RELABEL_REPLACE, SRC("a"), .regex = "(f)oo", .target_label = "z",
	      .replacement = "${1}x" } }, 2, false,
	  { "a", "foo", "z", "fx", NULL } },
	{ "$$ is a literal $; $0 the whole match; ${9} past the groups is \"\"; a malformed ${x- stays text (Go regexp.Expand)",
	  { "a", "foo", NULL },
	  { { .action = RELABEL_REPLACE, SRC("a"), .regex = "f(o)o", .target_label = "t",
	      .replacement = "$$1=$1 $0-${9}-${x-$" } }, 1, false,
	  { "a", "foo", "t", "$1=o foo--${x-$", NULL } },
	{ "${01} (leading zero) and $1\xc3\xa9 (Unicode letters) are names, unknown here, so \"\" (Go regexp.Expand)",
	  { "a", "foo", NULL },
	  { { .action = RELABEL_REPLACE, SRC("a"), .regex = "(f)oo", .target_label = "t",
	      .replacement = "<${01}|$1\xc3\xa9|$1-\xc3\xa9>" } }, 1, false,
	  { "a", "foo", "t", "<||f-\xc3\xa9>", NULL } },
	{ "named groups (?<n>) and (?P<n>) with $name and ${name} (relabel_test.go: various $var styles)",
	  { "a", "line1\nline2", NULL },
	  { { .action = RELABEL_REPLACE, SRC("a"), .regex = "(line1).*(?<second>line2)",
	      .target_label = "label1_${1}", .replacement = "val_${second}" },
	    { .action = RELABEL_REPLACE, SRC("a"), .regex = "(?P<first>line1).*(?<second>line2)",
	      .target_label = "label2_$first", .replacement = "val_$second" } }, 2, false,
	  { "a", "line1\nline2", "label1_line1", "val_line2", "label2_line1", "val_line2", NULL } },
	{ "`.` matches a newline: Prometheus 3 compiles ^(?s:regex)$ (relabel_test.go: line1.*line2)",
	  { "a", "line1\nline2", NULL },
	  { { .action = RELABEL_REPLACE, SRC("a"), .regex = "line1.*line2", .target_label = "d",
	      .replacement = "match${1}" } }, 1, false,
	  { "a", "line1\nline2", "d", "match", NULL } },
	{ "`$` is end of text, not before a final newline (Go RE2 semantics; PCRE2 differs by default)",
	  { "a", "foo\n", NULL },
	  { { .action = RELABEL_KEEP, SRC("a"), .regex = "foo" } }, 1, true, { NULL } },
	{ "invalid UTF-8: `.` matches the byte as U+FFFD, the capture copies the raw byte (Go regexp)",
	  { "exe", "/opt/x\xffy", NULL },
	  { { .action = RELABEL_KEEP, SRC("exe"), .regex = "/opt/x.y" },
	    { .action = RELABEL_REPLACE, SRC("exe"), .regex = "/opt/x(.)(y)", .target_label = "b",
	      .replacement = "<$1$2>" } }, 2, false,
	  { "b", "<\xffy>", "exe", "/opt/x\xffy", NULL } },
	{ "hashmod: md5, last 8 bytes big-endian, % modulus (relabel_test.go: baz % 1000 = 976)",
	  { "a", "foo", "b", "bar", "c", "baz", NULL },
	  { { .action = RELABEL_HASHMOD, SRC("c"), .target_label = "d", MOD(1000) } }, 1, false,
	  { "a", "foo", "b", "bar", "c", "baz", "d", "976", NULL } },
	{ "hashmod of the joined value, modulus 2^64-1 (python3 hashlib: md5(\"node-1;4242\"))",
	  { "node", "node-1", "pid", "4242", NULL },
	  { { .action = RELABEL_HASHMOD, SRC("node", "pid"), .target_label = "__tmp_hash",
	      MOD(UINT64_MAX) } }, 1, false,
	  { "__tmp_hash", "8943488061267835189", "node", "node-1", "pid", "4242", NULL } },
	{ "hashmod sharding: keep shard 2 of 16 (docs: hashmod + keep; python3: md5(\"containerd;python3\") % 16 = 2)",
	  { "container_id", "containerd", "comm", "python3", NULL },
	  { { .action = RELABEL_HASHMOD, SRC("container_id", "comm"), .target_label = "__tmp_shard",
	      MOD(16) },
	    { .action = RELABEL_KEEP, SRC("__tmp_shard"), .regex = "2" },
	    { .action = RELABEL_HASHMOD, SRC("missing"), .target_label = "empty_hash", MOD(7) } },
	  3, false,
	  { "__tmp_shard", "2", "comm", "python3", "container_id", "containerd",
	    "empty_hash", "1", NULL } },
	{ "labelmap: names matching __meta_kubernetes_pod_label_(.+) copied to $1 (docs: labelmap)",
	  { "__meta_kubernetes_pod_label_app", "web", "__meta_kubernetes_pod_label_tier", "front",
	    "__meta_kubernetes_namespace", "prod", NULL },
	  { { .action = RELABEL_LABELMAP, .regex = "__meta_kubernetes_pod_label_(.+)" } }, 1, false,
	  { "__meta_kubernetes_pod_label_app", "web", "__meta_kubernetes_pod_label_tier", "front",
	    "__meta_kubernetes_namespace", "prod", "app", "web", "tier", "front", NULL } },
	{ "labelmap with bar_${1} (relabel_test.go); the rule's own output is not mapped again",
	  { "a", "foo", "b1", "bar", "b2", "baz", NULL },
	  { { .action = RELABEL_LABELMAP, .regex = "(b.*)", .replacement = "bar_${1}" } }, 1, false,
	  { "a", "foo", "b1", "bar", "b2", "baz", "bar_b1", "bar", "bar_b2", "baz", NULL } },
	{ "labelmap: a result that is no valid name is skipped (brasa; Prometheus would reject the whole target)",
	  { "__meta_x_9lives", "cat", "__meta_x_ok", "1", NULL },
	  { { .action = RELABEL_LABELMAP, .regex = "__meta_x_(.+)" } }, 1, false,
	  { "__meta_x_9lives", "cat", "__meta_x_ok", "1", "ok", "1", NULL } },
	{ "labeldrop: names matching the anchored regex are removed (relabel_test.go)",
	  { "a", "foo", "b1", "bar", "b2", "baz", "xb", "q", NULL },
	  { { .action = RELABEL_LABELDROP, .regex = "(b.*)" } }, 1, false,
	  { "a", "foo", "xb", "q", NULL } },
	{ "labelkeep: names not matching are removed (relabel_test.go)",
	  { "a", "foo", "b1", "bar", "b2", "baz", NULL },
	  { { .action = RELABEL_LABELKEEP, .regex = "(b.*)" } }, 1, false,
	  { "b1", "bar", "b2", "baz", NULL } },
	{ "keepequal: joined value equal to target_label's keeps (relabel_test.go)",
	  { "__tmp_port", "1234", "__port1", "1234", "__port2", "5678", NULL },
	  { { .action = RELABEL_KEEPEQUAL, SRC("__tmp_port"), .target_label = "__port1" } }, 1, false,
	  { "__tmp_port", "1234", "__port1", "1234", "__port2", "5678", NULL } },
	{ "keepequal: different value drops (relabel_test.go)",
	  { "__tmp_port", "1234", "__port1", "1234", "__port2", "5678", NULL },
	  { { .action = RELABEL_KEEPEQUAL, SRC("__tmp_port"), .target_label = "__port2" } }, 1, true,
	  { NULL } },
	{ "dropequal: equal value drops (relabel_test.go)",
	  { "__tmp_port", "1234", "__port1", "1234", NULL },
	  { { .action = RELABEL_DROPEQUAL, SRC("__tmp_port"), .target_label = "__port1" } }, 1, true,
	  { NULL } },
	{ "dropequal: different value keeps; a missing target compares as \"\" (relabel_test.go; lb.Get)",
	  { "__tmp_port", "1234", "__port2", "5678", NULL },
	  { { .action = RELABEL_DROPEQUAL, SRC("__tmp_port"), .target_label = "__port2" },
	    { .action = RELABEL_KEEPEQUAL, SRC("missing"), .target_label = "absent" } }, 2, false,
	  { "__tmp_port", "1234", "__port2", "5678", NULL } },
	{ "lowercase/uppercase of the joined value (relabel_test.go)",
	  { "foo", "bAr123Foo", NULL },
	  { { .action = RELABEL_UPPERCASE, SRC("foo"), .target_label = "foo_uppercase" },
	    { .action = RELABEL_LOWERCASE, SRC("foo"), .target_label = "foo_lowercase" } }, 2, false,
	  { "foo", "bAr123Foo", "foo_lowercase", "bar123foo", "foo_uppercase", "BAR123FOO", NULL } },
	{ "lowercase/uppercase map Unicode, invalid bytes become U+FFFD (Go strings.ToLower/ToUpper)",
	  { "u", "\xc3\x84rger \xce\xa3\xce\x9f\xce\xa6\xce\x99\xce\x91 \xff!", NULL },
	  { { .action = RELABEL_LOWERCASE, SRC("u"), .target_label = "lo" },
	    { .action = RELABEL_UPPERCASE, SRC("u"), .target_label = "up" } }, 2, false,
	  { "u", "\xc3\x84rger \xce\xa3\xce\x9f\xce\xa6\xce\x99\xce\x91 \xff!",
	    "lo", "\xc3\xa4rger \xcf\x83\xce\xbf\xcf\x86\xce\xb9\xce\xb1 \xef\xbf\xbd!",
	    "up", "\xc3\x84RGER \xce\xa3\xce\x9f\xce\xa6\xce\x99\xce\x91 \xef\xbf\xbd!", NULL } },
	{ "lowercase of a missing label sets \"\", which removes the target (Builder.Set with \"\")",
	  { "x", "old", NULL },
	  { { .action = RELABEL_LOWERCASE, SRC("missing"), .target_label = "x" } }, 1, false,
	  { NULL } },
	{ "no source_labels: the joined value is \"\", which the default regex (.*) matches, so keep keeps",
	  { "comm", "bash", NULL },
	  { { .action = RELABEL_KEEP } }, 1, false,
	  { "comm", "bash", NULL } },
	{ "no source_labels: drop with the default regex drops every set",
	  { "comm", "bash", NULL },
	  { { .action = RELABEL_DROP } }, 1, true, { NULL } },
	{ "regex \"\" matches only \"\": drop sets whose label is missing (Prometheus kubernetes example: drop regex \"\")",
	  { "comm", "bash", NULL },
	  { { .action = RELABEL_DROP, SRC("pod"), .regex = "" } }, 1, true, { NULL } },
	{ "regex \"\" does not match a non-empty value: the set is kept",
	  { "comm", "bash", "pod", "web-1", NULL },
	  { { .action = RELABEL_DROP, SRC("pod"), .regex = "" },
	    { .action = RELABEL_KEEP, SRC("missing"), .regex = "" } }, 2, false,
	  { "comm", "bash", "pod", "web-1", NULL } },
	{ "action names are case-insensitive and regexes may set flags: (?i) (docs: RE2 syntax)",
	  { "comm", "PyThOn3", NULL },
	  { { .action = RELABEL_KEEP, SRC("comm"), .regex = "(?i)python[0-9]" } }, 1, false,
	  { "comm", "PyThOn3", NULL } },
	{ "docs/relabeling.md examples: service_name from the app pod label, else from comm without its version",
	  { "comm", "python3.11", "__meta_kubernetes_pod_label_app", "web", "service_name", "prod/c", NULL },
	  { { .action = RELABEL_REPLACE, SRC("__meta_kubernetes_pod_label_app"), .regex = "(.+)",
	      .target_label = "service_name", .replacement = "${1}" },
	    { .action = RELABEL_REPLACE, SRC("comm"), .regex = "(?P<base>[a-z]+)[0-9.]*",
	      .target_label = "short_comm", .replacement = "$base" },
	    { .action = RELABEL_REPLACE, SRC("__meta_missing"), .regex = "(.+)",
	      .target_label = "service_name", .replacement = "${1}" } }, 3, false,
	  { "comm", "python3.11", "__meta_kubernetes_pod_label_app", "web", "service_name", "web",
	    "short_comm", "python", NULL } },
};

static void labels_from(struct labels *ls, const char *const *pairs)
{
	for (size_t i = 0; pairs[i]; i += 2)
		REQUIRE(labels__set(ls, pairs[i], pairs[i + 1]) == 0);
}

static void print_labels(const char *what, const struct labels *ls)
{
	fprintf(stderr, "  %s:", what);
	for (size_t i = 0; i < ls->n; i++)
		fprintf(stderr, " %s=\"%s\"", ls->v[i].name, ls->v[i].value);
	fprintf(stderr, "\n");
}

static void test_cases(void)
{
	for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
		const struct relabel_case *tc = &cases[c];
		struct relabel_rule *rules[MAX_RULES] = { 0 };
		struct labels ls = { 0 }, want = { 0 };
		char err[256];
		int rc;

		for (size_t i = 0; i < tc->nrules; i++) {
			rc = relabel__compile(&tc->rules[i], &rules[i], err, sizeof(err));
			if (rc) {
				fprintf(stderr, "case %zu (%s): rule %zu: %s\n", c, tc->why, i, err);
				test_failures++;
			}
		}
		labels_from(&ls, tc->in);
		labels_from(&want, tc->out);
		rc = relabel__apply(rules, tc->nrules, &ls);
		test_checks++;
		if (rc != (tc->dropped ? 0 : 1) ||
		    (!tc->dropped && !labels__equal(&ls, &want))) {
			fprintf(stderr, "case %zu (%s): apply returned %d, want %d\n", c, tc->why,
				rc, tc->dropped ? 0 : 1);
			if (!tc->dropped) {
				print_labels("got ", &ls);
				print_labels("want", &want);
			}
			test_failures++;
		}
		/* compiled rules are reusable: a second set gives the same answer */
		labels__clear(&ls);
		labels_from(&ls, tc->in);
		CHECK_INT(relabel__apply(rules, tc->nrules, &ls), ==, tc->dropped ? 0 : 1);
		if (!tc->dropped)
			CHECK(labels__equal(&ls, &want));
		for (size_t i = 0; i < tc->nrules; i++)
			relabel__free(rules[i]);
		labels__clear(&ls);
		labels__clear(&want);
	}
}

/* compile must fail with exactly this message (Prometheus's wording) */
static void expect_error(const struct relabel_spec *s, const char *msg)
{
	struct relabel_rule *r = NULL;
	char err[256] = "unset";

	CHECK_INT(relabel__compile(s, &r, err, sizeof(err)), ==, -EINVAL);
	CHECK(r == NULL);
	CHECK_STR(err, msg);
	relabel__free(r);
}

static bool compiles(const struct relabel_spec *s)
{
	struct relabel_rule *r = NULL;
	char err[256];
	int rc = relabel__compile(s, &r, err, sizeof(err));

	relabel__free(r);
	return rc == 0;
}

static void test_validation(void)
{
	expect_error(&(struct relabel_spec){ .action = RELABEL_REPLACE, SRC("a"), .regex = "a(" },
		     "bad regex \"a(\": missing closing parenthesis at offset 2");
	expect_error(&(struct relabel_spec){ .action = RELABEL_KEEP, SRC("a"), .regex = "(a)\\1" },
		     "bad regex \"(a)\\1\": backreferences are not supported (RE2 syntax)");
	expect_error(&(struct relabel_spec){ .action = RELABEL_REPLACE, SRC("a") },
		     "relabel configuration for replace action requires 'target_label' value");
	expect_error(&(struct relabel_spec){ .action = RELABEL_LOWERCASE, SRC("a"), .target_label = "" },
		     "relabel configuration for lowercase action requires 'target_label' value");
	expect_error(&(struct relabel_spec){ .action = RELABEL_HASHMOD, SRC("a"), .target_label = "h" },
		     "relabel configuration for hashmod requires non-zero modulus");
	expect_error(&(struct relabel_spec){ .action = RELABEL_HASHMOD, SRC("a"), .target_label = "h",
					     MOD(0) },
		     "relabel configuration for hashmod requires non-zero modulus");
	expect_error(&(struct relabel_spec){ .action = RELABEL_HASHMOD, SRC("a"),
					     .target_label = "h_$1", MOD(4) },
		     "\"h_$1\" is invalid 'target_label' for hashmod action");
	expect_error(&(struct relabel_spec){ .action = RELABEL_REPLACE, SRC("a"), .target_label = "a-b" },
		     "\"a-b\" is invalid 'target_label' for replace action");
	expect_error(&(struct relabel_spec){ .action = RELABEL_LOWERCASE, SRC("a"), .target_label = "${3}" },
		     "\"${3}\" is invalid 'target_label' for lowercase action");
	expect_error(&(struct relabel_spec){ .action = RELABEL_UPPERCASE, SRC("a"), .target_label = "u",
					     .replacement = "x" },
		     "'replacement' can not be set for uppercase action");
	expect_error(&(struct relabel_spec){ .action = RELABEL_LABELMAP, .replacement = "-$1" },
		     "\"-$1\" is invalid 'replacement' for labelmap action");
	expect_error(&(struct relabel_spec){ .action = RELABEL_KEEPEQUAL, SRC("a"), .target_label = "b",
					     .regex = "(.*)" },
		     "keepequal action requires only 'source_labels' and `target_label`, and no other fields");
	expect_error(&(struct relabel_spec){ .action = RELABEL_DROPEQUAL, SRC("a"), .target_label = "b",
					     .separator = "," },
		     "dropequal action requires only 'source_labels' and `target_label`, and no other fields");
	expect_error(&(struct relabel_spec){ .action = RELABEL_DROPEQUAL, SRC("a"), .target_label = "b",
					     MOD(3) },
		     "dropequal action requires only 'source_labels' and `target_label`, and no other fields");
	expect_error(&(struct relabel_spec){ .action = RELABEL_LABELDROP, SRC("a"), .regex = "x" },
		     "labeldrop action requires only 'regex', and no other fields");
	expect_error(&(struct relabel_spec){ .action = RELABEL_LABELKEEP, .target_label = "t" },
		     "labelkeep action requires only 'regex', and no other fields");
	expect_error(&(struct relabel_spec){ .action = RELABEL_LABELKEEP, .replacement = "x" },
		     "labelkeep action requires only 'regex', and no other fields");
	expect_error(&(struct relabel_spec){ .action = RELABEL_KEEP, SRC("ok", "not-ok") },
		     "\"not-ok\" is not a valid label name in 'source_labels'");
	expect_error(&(struct relabel_spec){ .action = (enum relabel_action)99 },
		     "unknown relabel action 99");

	/* what Prometheus accepts: explicit defaults, templated targets */
	CHECK(compiles(&(struct relabel_spec){ .action = RELABEL_KEEPEQUAL, SRC("a"),
					       .target_label = "b", .separator = ";",
					       .replacement = "$1" }));
	CHECK(compiles(&(struct relabel_spec){ .action = RELABEL_LABELMAP,
					       .regex = "__meta_kubernetes_pod_label_(strimzi_io_.+)",
					       .replacement = "$1" }));
	CHECK(compiles(&(struct relabel_spec){ .action = RELABEL_HASHMOD, SRC("a"),
					       .target_label = "h", MOD(1) }));
	/* an out-of-range reference is fine at compile time, "" when applied */
	CHECK(compiles(&(struct relabel_spec){ .action = RELABEL_REPLACE, SRC("a"),
					       .regex = "some-([^-]+)-([^,]+)",
					       .target_label = "${3}", .replacement = "${1}" }));

	/* err is optional */
	{
		struct relabel_rule *r = NULL;

		CHECK_INT(relabel__compile(&(struct relabel_spec){ .action = RELABEL_DROP, .regex = "(" },
					   &r, NULL, 0), ==, -EINVAL);
	}
}

/* Prometheus's TestTargetLabelLegacyValidity table, through the replace
 * action's target_label check (IsValid without "$", relabelTargetLegacy
 * with it). */
static void test_target_validity(void)
{
	static const struct {
		const char *target;
		bool valid;
	} t[] = {
		{ "-label", false }, { "label", true }, { "label${1}", true },
		{ "${1}label", true }, { "${1}", true }, { "${", false }, { "$", false },
		{ "${}", false }, { "foo${", false }, { "$1", true }, { "asd$2asd", true },
		{ "-foo${1}bar-", false }, { "bar.foo${1}bar", false }, { "_${1}_", true },
		{ "foo${bar}foo", true }, { "1abc", false }, { "$$", false }, { "a$b{c}", false },
		/* would backtrack exponentially in the PCRE2 form of the pattern */
		{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa$1-", false },
	};

	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		bool ok = compiles(&(struct relabel_spec){ .action = RELABEL_REPLACE, SRC("a"),
							   .target_label = t[i].target });

		if (ok != t[i].valid) {
			fprintf(stderr, "target_label \"%s\": compiles %d, want %d\n", t[i].target,
				ok, t[i].valid);
			test_failures++;
		}
		test_checks++;
	}
}

static void test_actions(void)
{
	enum relabel_action a;

	CHECK_INT(relabel__parse_action("replace", &a), ==, 0);
	CHECK_INT(a, ==, RELABEL_REPLACE);
	CHECK_INT(relabel__parse_action("KeepEqual", &a), ==, 0);
	CHECK_INT(a, ==, RELABEL_KEEPEQUAL);
	CHECK_INT(relabel__parse_action("LABELMAP", &a), ==, 0);
	CHECK_INT(a, ==, RELABEL_LABELMAP);
	CHECK_INT(relabel__parse_action("uppercase", &a), ==, 0);
	CHECK_INT(a, ==, RELABEL_UPPERCASE);
	CHECK_INT(relabel__parse_action("", &a), ==, -EINVAL);
	CHECK_INT(relabel__parse_action("keep ", &a), ==, -EINVAL);
	CHECK_INT(relabel__parse_action("hash_mod", &a), ==, -EINVAL);
	CHECK_INT(relabel__parse_action(NULL, &a), ==, -EINVAL);
	for (int i = RELABEL_REPLACE; i <= RELABEL_UPPERCASE; i++) {
		const char *name = relabel__action_name((enum relabel_action)i);

		REQUIRE(name != NULL);
		CHECK_INT(relabel__parse_action(name, &a), ==, 0);
		CHECK_INT(a, ==, i);
	}
	CHECK(relabel__action_name((enum relabel_action)(RELABEL_UPPERCASE + 1)) == NULL);
	relabel__free(NULL);
}

static void test_drop_internal(void)
{
	struct labels ls = { 0 };
	static const char *const keep[] = { "__name__", NULL };

	labels_from(&ls, (const char *const[]){ "__meta_kubernetes_pod_name", "web-1",
						"__name__", "cpu", "__tmp_shard", "3", "_x", "1",
						"comm", "bash", "pod", "web-1", NULL });
	relabel__drop_internal(&ls, keep);
	CHECK_INT(ls.n, ==, 4);
	CHECK_STR(labels__get(&ls, "__name__"), "cpu");
	CHECK_STR(labels__get(&ls, "_x"), "1");
	CHECK_STR(labels__get(&ls, "comm"), "bash");
	CHECK_STR(labels__get(&ls, "pod"), "web-1");
	CHECK(labels__get(&ls, "__tmp_shard") == NULL);
	relabel__drop_internal(&ls, NULL);
	CHECK_INT(ls.n, ==, 3);
	CHECK(labels__get(&ls, "__name__") == NULL);
	/* still sorted: a lookup of each remaining name finds it */
	for (size_t i = 0; i < ls.n; i++)
		CHECK(labels__get(&ls, ls.v[i].name) == ls.v[i].value);
	labels__clear(&ls);
}

TEST_MAIN(NULL, NULL,
	  TEST_CASE(actions),
	  TEST_CASE(cases),
	  TEST_CASE(validation),
	  TEST_CASE(target_validity),
	  TEST_CASE(drop_internal))
