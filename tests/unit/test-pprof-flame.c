/* Unit test of core/pprof_flame: the merged call tree of a builder made
 * here, its JSON (read back with json-c), the SVG (checked to be
 * well-formed XML) and the speedscope file (the schema's required fields).
 */
#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdint.h>

#include "common/macros.h"
#include "core/pprof.h"
#include "core/pprof_flame.h"
#include "testing.h"

#define PERIOD_NS 10000000LL /* 100 Hz */
#define ODD_NAME "a<b>&\"c\x01\xff"
#define ODD_NAME_SANITIZED "a<b>&\"c\x01?"

DEFINE_CLEANUP(struct pprof, pprof__free)
DEFINE_CLEANUP(struct pprof_flame, pprof_flame__free)
DEFINE_CLEANUP(json_object, json_object_put)

static const struct pprof_opts test_opts = {
	.period_ns = PERIOD_NS,
	.time_nanos = 1700000000000000000LL,
	.duration_nanos = 10000000000LL,
};

/* The profile (counts; values are count * 10 ms):
 *   app: main -> work -> compute_inner (inlined)                  3 (pid 42) + 4 (pid 43)
 *   app: main -> work -> compute_inner -> libc (no symbols)
 *          -> entry_SYSCALL_64 -> do_syscall_64 (kernel)          1
 *   app: main -> Interpreted:foo (JIT)                            2
 *   other: main -> ODD_NAME                                       1
 *   (no comm): main                                               2
 */
static struct pprof *build_profile(void)
{
	struct pprof *p = NULL;
	const struct pprof_mapping app = {
		.memory_start = 0x400000, .memory_limit = 0x500000,
		.filename = "/usr/bin/app", .has_functions = true,
	};
	const struct pprof_mapping libc = {
		.memory_start = 0x7f0000000000, .memory_limit = 0x7f0000200000,
		.filename = "/usr/lib/x86_64-linux-gnu/libc.so.6",
	};
	const struct pprof_mapping kernel = {
		.memory_start = 0xffffffff81000000, .memory_limit = 0xffffffff82000000,
		.filename = "[kernel.kallsyms]", .has_functions = true, .is_kernel = true,
	};
	const struct pprof_mapping jit = {
		.memory_start = 0x10000, .memory_limit = 0x20000,
		.filename = "[anon]", .has_functions = true, .is_jit = true,
	};
	const struct pprof_line main_line[] = { { "main", "app.c", 5 } };
	const struct pprof_line work_lines[] = {
		{ "compute_inner", "app.c", 30 },
		{ "work", "app.c", 40 },
	};
	const struct pprof_line k_leaf[] = { { "do_syscall_64", NULL, 0 } };
	const struct pprof_line k_entry[] = { { "entry_SYSCALL_64", NULL, 0 } };
	const struct pprof_line jit_line[] = { { "Interpreted:foo", NULL, 0 } };
	const struct pprof_line odd[] = { { ODD_NAME, "odd.c", 1 } };
	const struct pprof_label l42[] = { { .key = "comm", .str = "app" }, { .key = "pid", .num = 42 } };
	const struct pprof_label l43[] = { { .key = "comm", .str = "app" }, { .key = "pid", .num = 43 } };
	const struct pprof_label other[] = { { .key = "comm", .str = "other" } };
	const struct pprof_label pid_only[] = { { .key = "pid", .num = 7 } };
	uint64_t m_app, m_libc, m_kernel, m_jit;

	REQUIRE(pprof__new(&test_opts, &p) == 0);
	m_app = pprof__mapping(p, 1, &app);
	m_libc = pprof__mapping(p, 2, &libc);
	m_kernel = pprof__mapping(p, 3, &kernel);
	m_jit = pprof__mapping(p, 4, &jit);

	uint64_t l_main = pprof__location(p, m_app, 0x401100, main_line, 1);
	uint64_t l_work = pprof__location(p, m_app, 0x401200, work_lines, 2);
	uint64_t l_libc = pprof__location(p, m_libc, 0x7f0000001000, NULL, 0);
	uint64_t l_k_leaf = pprof__location(p, m_kernel, 0xffffffff81000100, k_leaf, 1);
	uint64_t l_k_entry = pprof__location(p, m_kernel, 0xffffffff81000200, k_entry, 1);
	uint64_t l_jit = pprof__location(p, m_jit, 0x10010, jit_line, 1);
	uint64_t l_odd = pprof__location(p, m_app, 0x401300, odd, 1);
	const uint64_t work_stack[] = { l_work, l_main };
	const uint64_t sys_stack[] = { l_k_leaf, l_k_entry, l_libc, l_work, l_main };
	const uint64_t jit_stack[] = { l_jit, l_main };
	const uint64_t odd_stack[] = { l_odd, l_main };
	const uint64_t main_stack[] = { l_main };

	CHECK_INT(pprof__add_sample(p, work_stack, 2, 3, l42, 2), ==, 0);
	CHECK_INT(pprof__add_sample(p, work_stack, 2, 4, l43, 2), ==, 0);
	CHECK_INT(pprof__add_sample(p, sys_stack, 5, 1, l42, 2), ==, 0);
	CHECK_INT(pprof__add_sample(p, jit_stack, 2, 2, l42, 2), ==, 0);
	CHECK_INT(pprof__add_sample(p, odd_stack, 2, 1, other, 1), ==, 0);
	CHECK_INT(pprof__add_sample(p, main_stack, 1, 2, pid_only, 1), ==, 0);
	return p;
}

static struct pprof_flame *flame_of(size_t max_nodes)
{
	_cleanup_(cleanup_pprof__free) struct pprof *p = build_profile();
	struct pprof_flame *f = NULL;

	REQUIRE(pprof_flame__new(p, &(struct pprof_flame_opts){ .max_nodes = max_nodes }, &f) == 0);
	return f;
}

/* The child of parent named name, or -1. */
static int child_named(const struct pprof_flame *f, int parent, const char *name)
{
	for (size_t i = 1; i < f->n; i++)
		if (f->parent[i] == parent && !strcmp(f->strings[f->name[i]], name))
			return (int)i;
	return -1;
}

/* The node at the end of a path of names from the root, or -1. */
static int path_node(const struct pprof_flame *f, const char *const *names, size_t n)
{
	int node = 0;

	for (size_t i = 0; i < n && node >= 0; i++)
		node = child_named(f, node, names[i]);
	return node;
}

#define PATH(f, ...) \
	path_node(f, (const char *const[]){ __VA_ARGS__ }, ARRAY_SIZE(((const char *const[]){ __VA_ARGS__ })))

/* Every total is its self plus its children's; parents come first. */
static void check_sums(const struct pprof_flame *f)
{
	_cleanup_free_ int64_t *sum = calloc(f->n, sizeof(*sum));

	REQUIRE(sum);
	CHECK_INT(f->parent[0], ==, -1);
	for (size_t i = 1; i < f->n; i++) {
		CHECK_INT(f->parent[i], <, (int32_t)i);
		CHECK_INT(f->parent[i], >=, 0);
		sum[f->parent[i]] += f->total[i];
	}
	for (size_t i = 0; i < f->n; i++)
		CHECK_INT(f->total[i], ==, f->self[i] + sum[i]);
}

static void test_tree_shape(void)
{
	_cleanup_(cleanup_pprof_flame__free) struct pprof_flame *f = flame_of(0);
	int app, main, work, inner, libc, entry, leaf, jit, unknown, other;

	CHECK_INT(f->n, ==, 14);
	CHECK(!f->truncated);
	CHECK_INT(f->samples, ==, 13);
	CHECK_INT(f->total[0], ==, 13 * PERIOD_NS);
	CHECK_STR(f->strings[0], "");
	CHECK_STR(f->strings[f->name[0]], "all");
	CHECK_INT(f->kind[0], ==, PPROF_FLAME_ROOT);
	check_sums(f);

	/* the process level, siblings by name */
	unknown = child_named(f, 0, "[unknown]");
	app = child_named(f, 0, "app");
	other = child_named(f, 0, "other");
	CHECK_INT(unknown, ==, 1);
	CHECK_INT(app, ==, 3);
	CHECK_INT(other, ==, 11);
	CHECK_INT(f->kind[app], ==, PPROF_FLAME_PROCESS);
	/* pid 42 and 43 differ only in labels: one path */
	CHECK_INT(f->total[app], ==, 10 * PERIOD_NS);

	main = PATH(f, "app", "main");
	work = PATH(f, "app", "main", "work");
	inner = PATH(f, "app", "main", "work", "compute_inner");
	libc = PATH(f, "app", "main", "work", "compute_inner", "libc.so.6+0x1000");
	entry = PATH(f, "app", "main", "work", "compute_inner", "libc.so.6+0x1000",
		     "entry_SYSCALL_64");
	leaf = PATH(f, "app", "main", "work", "compute_inner", "libc.so.6+0x1000",
		    "entry_SYSCALL_64", "do_syscall_64");
	jit = PATH(f, "app", "main", "Interpreted:foo");
	REQUIRE(main > 0 && work > 0 && inner > 0 && libc > 0 && entry > 0 && leaf > 0 && jit > 0);
	CHECK_INT(main, ==, 4);
	CHECK_INT(jit, ==, 5); /* 'I' sorts before 'w' */
	CHECK_INT(work, ==, 6);
	CHECK_INT(f->total[main], ==, 10 * PERIOD_NS);
	CHECK_INT(f->self[main], ==, 0);
	CHECK_INT(f->total[work], ==, 8 * PERIOD_NS);
	CHECK_INT(f->self[work], ==, 0);
	CHECK_INT(f->total[inner], ==, 8 * PERIOD_NS);
	CHECK_INT(f->self[inner], ==, 7 * PERIOD_NS);
	CHECK_INT(f->self[leaf], ==, 1 * PERIOD_NS);
	CHECK_INT(f->self[jit], ==, 2 * PERIOD_NS);

	/* kinds, libraries, files and lines */
	CHECK_INT(f->kind[main], ==, PPROF_FLAME_NATIVE);
	CHECK_INT(f->kind[inner], ==, PPROF_FLAME_NATIVE);
	CHECK_INT(f->kind[libc], ==, PPROF_FLAME_UNSYMBOLIZED);
	CHECK_INT(f->kind[entry], ==, PPROF_FLAME_KERNEL);
	CHECK_INT(f->kind[leaf], ==, PPROF_FLAME_KERNEL);
	CHECK_INT(f->kind[jit], ==, PPROF_FLAME_JIT);
	CHECK_STR(f->strings[f->lib[main]], "/usr/bin/app");
	CHECK_STR(f->strings[f->lib[libc]], "/usr/lib/x86_64-linux-gnu/libc.so.6");
	CHECK_STR(f->strings[f->lib[leaf]], "[kernel.kallsyms]");
	CHECK_INT(f->lib[app], ==, 0);
	CHECK_STR(f->strings[f->file[inner]], "app.c");
	CHECK_INT(f->line[inner], ==, 30);
	CHECK_INT(f->line[work], ==, 40);
	CHECK_INT(f->file[leaf], ==, 0);
	CHECK_INT(f->file[libc], ==, 0);

	/* the same function under another process is another node */
	CHECK_INT(PATH(f, "[unknown]", "main"), ==, 2);
	CHECK_INT(f->total[2], ==, 2 * PERIOD_NS);
	CHECK_INT(f->self[2], ==, 2 * PERIOD_NS);
	CHECK_INT(PATH(f, "other", "main", ODD_NAME_SANITIZED), ==, 13);
}

/* Samples at several lines of one function make one node (line: the
 * smallest); another file or library is another node. */
static void test_lines_merge(void)
{
	_cleanup_(cleanup_pprof__free) struct pprof *p = NULL;
	_cleanup_(cleanup_pprof_flame__free) struct pprof_flame *f = NULL;
	const struct pprof_mapping app = { .filename = "/usr/bin/app", .memory_limit = 0x1000 };
	const struct pprof_line at14[] = { { "leaf", "app.c", 14 } };
	const struct pprof_line at13[] = { { "leaf", "app.c", 13 } };
	const struct pprof_line other_file[] = { { "leaf", "other.c", 2 } };
	const struct pprof_label comm[] = { { .key = "comm", .str = "app" } };
	uint64_t m, l14, l13, lo;
	int leaf;

	REQUIRE(pprof__new(&test_opts, &p) == 0);
	m = pprof__mapping(p, 1, &app);
	l14 = pprof__location(p, m, 0x14, at14, 1);
	l13 = pprof__location(p, m, 0x13, at13, 1);
	lo = pprof__location(p, m, 0x20, other_file, 1);
	CHECK_INT(pprof__add_sample(p, &l14, 1, 3, comm, 1), ==, 0);
	CHECK_INT(pprof__add_sample(p, &l13, 1, 2, comm, 1), ==, 0);
	CHECK_INT(pprof__add_sample(p, &lo, 1, 1, comm, 1), ==, 0);
	REQUIRE(pprof_flame__new(p, NULL, &f) == 0);
	CHECK_INT(f->n, ==, 4);
	leaf = PATH(f, "app", "leaf");
	REQUIRE(leaf > 0);
	CHECK_STR(f->strings[f->file[leaf]], "app.c");
	CHECK_INT(f->line[leaf], ==, 13);
	CHECK_INT(f->total[leaf], ==, 5 * PERIOD_NS);
	CHECK_STR(f->strings[f->file[leaf + 1]], "other.c");
	CHECK_INT(f->total[leaf + 1], ==, 1 * PERIOD_NS);
}

static void test_max_nodes(void)
{
	_cleanup_(cleanup_pprof_flame__free) struct pprof_flame *full = flame_of(0);
	_cleanup_(cleanup_pprof_flame__free) struct pprof_flame *f = flame_of(5);
	int main, inner;

	CHECK_INT(f->n, ==, 5);
	CHECK(f->truncated);
	check_sums(f);
	CHECK_INT(f->total[0], ==, full->total[0]);
	CHECK_INT(f->samples, ==, full->samples);
	/* the widest: all, app, main, work, compute_inner */
	main = PATH(f, "app", "main");
	inner = PATH(f, "app", "main", "work", "compute_inner");
	REQUIRE(main > 0 && inner > 0);
	CHECK_INT(child_named(f, 0, "other"), ==, -1);
	/* [unknown] (2) and other (1) went into the root, the JIT frame into
	 * main, the libc subtree into compute_inner */
	CHECK_INT(f->self[0], ==, 3 * PERIOD_NS);
	CHECK_INT(f->self[main], ==, 2 * PERIOD_NS);
	CHECK_INT(f->total[main], ==, 10 * PERIOD_NS);
	CHECK_INT(f->self[inner], ==, 8 * PERIOD_NS);
	/* only strings that kept nodes use */
	CHECK_INT(f->nstrings, <=, 8);

	/* a bound at or over the node count changes nothing */
	pprof_flame__free(f);
	f = flame_of(14);
	CHECK_INT(f->n, ==, 14);
	CHECK(!f->truncated);
	pprof_flame__free(f);
	f = flame_of(1);
	CHECK_INT(f->n, ==, 1);
	CHECK_INT(f->self[0], ==, 13 * PERIOD_NS);
}

static json_object *parse_json(const struct buf *b)
{
	json_tokener *tok = json_tokener_new();
	json_object *obj;

	REQUIRE(tok);
	obj = json_tokener_parse_ex(tok, (const char *)b->data, (int)b->len);
	CHECK(obj != NULL);
	CHECK_INT(json_tokener_get_error(tok), ==, json_tokener_success);
	/* nothing after the document but its newline */
	CHECK_INT(json_tokener_get_parse_end(tok), >=, b->len - 1);
	json_tokener_free(tok);
	return obj;
}

static json_object *get(json_object *o, const char *key)
{
	json_object *v = NULL;

	CHECK(json_object_object_get_ex(o, key, &v));
	return v;
}

static void test_json(void)
{
	_cleanup_(cleanup_pprof_flame__free) struct pprof_flame *f = flame_of(0);
	_cleanup_(cleanup_json_object_put) json_object *doc = NULL;
	struct buf out = {};
	json_object *nodes, *strings;
	const char *cols[] = { "name", "lib", "file", "line", "kind", "parent", "total", "self" };

	REQUIRE(pprof_flame__write_json(f, &out) == 0);
	/* markup never appears raw: the text may sit in an HTML <script> */
	CHECK(!memmem(out.data, out.len, "<", 1));
	CHECK(memmem(out.data, out.len, "\\u003c", 6) != NULL);
	doc = parse_json(&out);
	REQUIRE(doc);
	CHECK_INT(json_object_get_int(get(doc, "version")), ==, 1);
	CHECK_STR(json_object_get_string(get(doc, "sample_type")), "cpu");
	CHECK_STR(json_object_get_string(get(doc, "unit")), "nanoseconds");
	CHECK_INT(json_object_get_int64(get(doc, "total")), ==, 13 * PERIOD_NS);
	CHECK_INT(json_object_get_int64(get(doc, "samples")), ==, 13);
	CHECK_INT(json_object_get_int64(get(doc, "start_unix_ns")), ==, test_opts.time_nanos);
	CHECK_INT(json_object_get_int64(get(doc, "duration_ns")), ==, test_opts.duration_nanos);
	CHECK(!json_object_get_boolean(get(doc, "truncated")));
	strings = get(doc, "strings");
	REQUIRE(json_object_is_type(strings, json_type_array));
	CHECK_INT(json_object_array_length(strings), ==, f->nstrings);
	for (size_t i = 0; i < f->nstrings; i++)
		CHECK_STR(json_object_get_string(json_object_array_get_idx(strings, i)), f->strings[i]);
	nodes = get(doc, "nodes");
	for (size_t c = 0; c < ARRAY_SIZE(cols); c++) {
		json_object *col = get(nodes, cols[c]);

		REQUIRE(json_object_is_type(col, json_type_array));
		CHECK_INT(json_object_array_length(col), ==, f->n);
		for (size_t i = 0; i < f->n; i++) {
			int64_t v = json_object_get_int64(json_object_array_get_idx(col, i));
			int64_t want[] = { f->name[i], f->lib[i], f->file[i], f->line[i],
					   f->kind[i], f->parent[i], f->total[i], f->self[i] };

			CHECK_INT(v, ==, want[c]);
		}
	}
	buf_release(&out);
}

static void test_json_string(void)
{
	struct buf out = {};
	_cleanup_(cleanup_json_object_put) json_object *v = NULL;

	REQUIRE(pprof_flame__json_string(&out, "q\"b\\s\n\t</script>&\xe2\x80\xa8\xc3\xa9\xff") == 0);
	CHECK_INT(out.len, ==, strlen(out.data ? (char *)out.data : ""));
	REQUIRE(buf_append(&out, "", 1) == 0);
	CHECK_STR((char *)out.data,
		  "\"q\\\"b\\\\s\\u000a\\u0009\\u003c/script\\u003e\\u0026\\u2028\xc3\xa9?\"");
	v = json_tokener_parse((char *)out.data);
	REQUIRE(v);
	CHECK_STR(json_object_get_string(v), "q\"b\\s\n\t</script>&\xe2\x80\xa8\xc3\xa9?");
	buf_release(&out);
}

/* A small XML well-formedness check: balanced tags, quoted attributes,
 * known entities, no control characters, CDATA and the declaration
 * skipped; the root element's name in *root. */
static bool xml_well_formed(const char *s, size_t n, char *root, size_t rootlen)
{
	char stack[64][32];
	size_t depth = 0, i = 0;
	bool seen_root = false;

	while (i < n) {
		if ((uint8_t)s[i] < 0x20 && s[i] != '\n' && s[i] != '\t' && s[i] != '\r')
			return false;
		if (s[i] == '&') {
			static const char *const ents[] = { "&amp;", "&lt;", "&gt;", "&quot;", "&#39;" };
			bool ok = false;

			for (size_t e = 0; e < ARRAY_SIZE(ents); e++)
				ok |= !strncmp(s + i, ents[e], strlen(ents[e]));
			if (!ok)
				return false;
			i++;
			continue;
		}
		if (s[i] == '>')
			return false;
		if (s[i] != '<') {
			i++;
			continue;
		}
		if (!strncmp(s + i, "<?", 2) || !strncmp(s + i, "<![CDATA[", 9)) {
			const char *close = s[i + 1] == '?' ? "?>" : "]]>";
			const char *end = strstr(s + i, close);

			if (!end)
				return false;
			i = (size_t)(end - s) + strlen(close);
			continue;
		}
		bool closing = s[i + 1] == '/';
		size_t start = i + 1 + closing, len = 0;
		char quote = 0;

		while (start + len < n && (isalnum((uint8_t)s[start + len]) || s[start + len] == '-'))
			len++;
		if (!len || len >= sizeof(stack[0]))
			return false;
		for (i = start + len; i < n && (quote || s[i] != '>'); i++) {
			if (quote && s[i] == quote)
				quote = 0;
			else if (!quote && (s[i] == '"' || s[i] == '\''))
				quote = s[i];
			else if (s[i] == '<')
				return false;
		}
		if (i >= n)
			return false;
		if (closing) {
			if (!depth || strncmp(stack[depth - 1], s + start, len) || stack[depth - 1][len])
				return false;
			depth--;
		} else if (s[i - 1] != '/') {
			if (depth == ARRAY_SIZE(stack) || (!depth && seen_root))
				return false;
			if (!depth) {
				seen_root = true;
				snprintf(root, rootlen, "%.*s", (int)len, s + start);
			}
			memcpy(stack[depth], s + start, len);
			stack[depth++][len] = 0;
		}
		i++;
	}
	return depth == 0 && seen_root;
}

static void test_svg(void)
{
	_cleanup_(cleanup_pprof_flame__free) struct pprof_flame *f = flame_of(0);
	struct buf out = {};
	char root[32] = "";

	REQUIRE(pprof_flame__write_svg(f, "brasa <test> & co", &out) == 0);
	REQUIRE(buf_append(&out, "", 1) == 0);
	CHECK(xml_well_formed((char *)out.data, out.len - 1, root, sizeof(root)));
	CHECK_STR(root, "svg");
	CHECK(strstr((char *)out.data, "brasa &lt;test&gt; &amp; co") != NULL);
	/* one <g> per frame: the JIT frame 20 ms wide is drawn */
	CHECK(strstr((char *)out.data, "<title>compute_inner [/usr/bin/app]\napp.c:30\n"
				       "8 samples, 80.00 ms, 61.54%</title>") != NULL);
	CHECK(strstr((char *)out.data, "<title>Interpreted:foo [[anon]]\n2 samples") != NULL);
	CHECK(strstr((char *)out.data, ">Interpreted:foo</text>") != NULL);
	/* 1/13 of 1180 pixels holds 12 characters */
	CHECK(strstr((char *)out.data, ">do_syscal..</text>") != NULL);
	CHECK(strstr((char *)out.data, "<title>a&lt;b&gt;&amp;&quot;c??") != NULL);
	{
		size_t frames = 0;

		for (const char *s = (char *)out.data; (s = strstr(s, "<g class=\"f\"")); s++)
			frames++;
		CHECK_INT(frames, ==, f->n);
	}
	buf_release(&out);
}

static void test_speedscope(void)
{
	_cleanup_(cleanup_pprof_flame__free) struct pprof_flame *f = flame_of(0);
	_cleanup_(cleanup_json_object_put) json_object *doc = NULL;
	json_object *frames, *profiles, *prof, *samples, *weights;
	struct buf out = {};
	int64_t sum = 0;
	bool found = false;

	REQUIRE(pprof_flame__write_speedscope(f, "brasa test", &out) == 0);
	doc = parse_json(&out);
	REQUIRE(doc);
	CHECK_STR(json_object_get_string(get(doc, "$schema")),
		  "https://www.speedscope.app/file-format-schema.json");
	frames = get(get(doc, "shared"), "frames");
	REQUIRE(json_object_is_type(frames, json_type_array));
	/* main is one frame, shared by three processes' nodes */
	CHECK_INT(json_object_array_length(frames), ==, 11);
	for (size_t i = 0; i < json_object_array_length(frames); i++)
		CHECK(json_object_is_type(get(json_object_array_get_idx(frames, i), "name"),
					  json_type_string));
	profiles = get(doc, "profiles");
	REQUIRE(json_object_array_length(profiles) == 1);
	prof = json_object_array_get_idx(profiles, 0);
	CHECK_STR(json_object_get_string(get(prof, "type")), "sampled");
	CHECK_STR(json_object_get_string(get(prof, "unit")), "nanoseconds");
	CHECK_STR(json_object_get_string(get(prof, "name")), "brasa test");
	CHECK_INT(json_object_get_int64(get(prof, "startValue")), ==, 0);
	CHECK_INT(json_object_get_int64(get(prof, "endValue")), ==, 13 * PERIOD_NS);
	samples = get(prof, "samples");
	weights = get(prof, "weights");
	REQUIRE(json_object_array_length(samples) == json_object_array_length(weights));
	for (size_t i = 0; i < json_object_array_length(samples); i++) {
		json_object *stack = json_object_array_get_idx(samples, i);
		const char *want[] = { "app", "main", "work", "compute_inner" };
		bool match = json_object_array_length(stack) == ARRAY_SIZE(want);

		sum += json_object_get_int64(json_object_array_get_idx(weights, i));
		for (size_t j = 0; j < json_object_array_length(stack); j++) {
			int64_t fr = json_object_get_int64(json_object_array_get_idx(stack, j));
			json_object *frame;

			REQUIRE(fr >= 0 && (size_t)fr < json_object_array_length(frames));
			frame = json_object_array_get_idx(frames, (size_t)fr);
			if (match && strcmp(json_object_get_string(get(frame, "name")), want[j]))
				match = false;
		}
		if (match) {
			found = true;
			CHECK_INT(json_object_get_int64(json_object_array_get_idx(weights, i)), ==,
				  7 * PERIOD_NS);
		}
	}
	CHECK(found);
	CHECK_INT(sum, ==, 13 * PERIOD_NS);
	buf_release(&out);
}

static void test_empty(void)
{
	_cleanup_(cleanup_pprof__free) struct pprof *p = NULL;
	_cleanup_(cleanup_pprof_flame__free) struct pprof_flame *f = NULL;
	_cleanup_(cleanup_json_object_put) json_object *doc = NULL;
	struct buf out = {};
	char root[32] = "";

	REQUIRE(pprof__new(&test_opts, &p) == 0);
	REQUIRE(pprof_flame__new(p, NULL, &f) == 0);
	CHECK_INT(f->n, ==, 1);
	CHECK_INT(f->total[0], ==, 0);
	CHECK_INT(pprof_flame__new(NULL, NULL, &f), ==, -EINVAL);
	REQUIRE(pprof_flame__write_json(f, &out) == 0);
	doc = parse_json(&out);
	CHECK_INT(json_object_get_int64(get(doc, "total")), ==, 0);
	json_object_put(doc);
	buf_reset(&out);
	REQUIRE(pprof_flame__write_speedscope(f, NULL, &out) == 0);
	doc = parse_json(&out);
	buf_reset(&out);
	REQUIRE(pprof_flame__write_svg(f, NULL, &out) == 0);
	REQUIRE(buf_append(&out, "", 1) == 0);
	CHECK(xml_well_formed((char *)out.data, out.len - 1, root, sizeof(root)));
	buf_release(&out);
}

TEST_MAIN(NULL, NULL,
	  TEST_CASE(tree_shape),
	  TEST_CASE(lines_merge),
	  TEST_CASE(max_nodes),
	  TEST_CASE(json),
	  TEST_CASE(json_string),
	  TEST_CASE(svg),
	  TEST_CASE(speedscope),
	  TEST_CASE(empty))
