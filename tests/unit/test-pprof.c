/* Unit test of agent/pprof: builds profiles, decodes the gzipped output
 * with the generated protobuf-c unpacker and checks the protocols.md rules
 * and the folded text.
 *
 *   test-pprof                        run the checks
 *   test-pprof --write-profile PATH   write the sample profile for
 *                                     pprof-decode.sh (independent readers)
 */
#include <errno.h>
#include <stdint.h>
#include <zlib.h>

#include "core/pprof.h"
#include "common/macros.h"
#include "proto/profile.pb-c.h"
#include "testing.h"

#define PERIOD_NS 10000000ULL /* 100 Hz */
#define TIME_NANOS 1700000000000000000LL
#define DURATION_NANOS 10000000000LL

DEFINE_CLEANUP(struct pprof, pprof__free)

typedef Perftools__Profiles__Profile Profile;

static void profile_freep(Profile **prof)
{
	if (*prof)
		perftools__profiles__profile__free_unpacked(*prof, NULL);
}

/* Location ids of the sample profile, by what they stand for. */
struct sample_ids {
	uint64_t m_app, m_libc, m_kernel;
	uint64_t l_main, l_work, l_libc, l_k_leaf, l_k_entry, l_odd, l_main_other;
};

static const struct pprof_opts test_opts = {
	.period_ns = PERIOD_NS,
	.time_nanos = TIME_NANOS,
	.duration_nanos = DURATION_NANOS,
};

/* The profile both the unit checks and the independent readers look at:
 *   app: main -> work -> compute_inner (inlined into work)   5 (pid 42, merged 3 + 2)
 *   app: same stack                                           4 (pid 43)
 *   app: ... -> libc (unsymbolized) -> entry_SYSCALL_64 -> do_syscall_64 (kernel)  1
 *   app: main -> "a;b c\nd"                                   1
 *   "my prog;x": main                                         1
 *   (no comm): main                                           2
 */
static struct pprof *build_sample_profile(struct sample_ids *ids)
{
	struct pprof *p = NULL;
	const struct pprof_mapping app = {
		.memory_start = 0x400000, .memory_limit = 0x500000, .file_offset = 0x1000,
		.filename = "/usr/bin/app", .build_id = "abcdef0123456789",
		.has_functions = true, .has_filenames = true,
		.has_line_numbers = true, .has_inline_frames = true,
	};
	const struct pprof_mapping libc = {
		.memory_start = 0x7f0000000000, .memory_limit = 0x7f0000200000,
		.filename = "/usr/lib/x86_64-linux-gnu/libc.so.6",
		.has_functions = true, .has_filenames = true,
	};
	const struct pprof_mapping kernel = {
		.memory_start = 0xffffffff81000000, .memory_limit = 0xffffffff82000000,
		.filename = "[kernel.kallsyms]", .has_functions = true, .is_kernel = true,
	};
	const struct pprof_line main_line[] = { { "main", "app.c", 5 } };
	/* innermost first: compute_inner was inlined into work */
	const struct pprof_line work_lines[] = {
		{ "compute_inner", "app.c", 30 },
		{ "work", "app.c", 40 },
	};
	const struct pprof_line k_leaf[] = { { "do_syscall_64", NULL, 0 } };
	const struct pprof_line k_entry[] = { { "entry_SYSCALL_64", NULL, 0 } };
	const struct pprof_line odd[] = { { "a;b c\nd", "odd.c", 1 } };
	const struct pprof_line main_other[] = { { "main", "other.c", 1 } };
	const struct pprof_label l42[] = {
		{ .key = "comm", .str = "app" },
		{ .key = "pid", .num = 42 },
		{ .key = "bytes", .num = 4096, .num_unit = "bytes" },
	};
	/* same labels in another order: must merge with l42 */
	const struct pprof_label l42_shuffled[] = { l42[2], l42[0], l42[1] };
	const struct pprof_label l43[] = {
		{ .key = "comm", .str = "app" },
		{ .key = "pid", .num = 43 },
		{ .key = "bytes", .num = 4096, .num_unit = "bytes" },
	};
	const struct pprof_label odd_comm[] = { { .key = "comm", .str = "my prog;x" } };
	const struct pprof_label pid_only[] = { { .key = "pid", .num = 7 } };

	REQUIRE(pprof__new(&test_opts, &p) == 0);
	REQUIRE(p);
	ids->m_app = pprof__mapping(p, 100, &app);
	ids->m_libc = pprof__mapping(p, 200, &libc);
	ids->m_kernel = pprof__mapping(p, 300, &kernel);
	CHECK_U64(ids->m_app, ==, 1);
	CHECK_U64(ids->m_libc, ==, 2);
	CHECK_U64(ids->m_kernel, ==, 3);
	/* interned by key: the second description is ignored */
	CHECK_U64(pprof__mapping(p, 100, &libc), ==, ids->m_app);

	ids->l_main = pprof__location(p, ids->m_app, 0x401100, main_line, 1);
	ids->l_work = pprof__location(p, ids->m_app, 0x401200, work_lines, 2);
	ids->l_libc = pprof__location(p, ids->m_libc, 0x7f0000001000, NULL, 0);
	ids->l_k_leaf = pprof__location(p, ids->m_kernel, 0xffffffff81000100, k_leaf, 1);
	ids->l_k_entry = pprof__location(p, ids->m_kernel, 0xffffffff81000200, k_entry, 1);
	ids->l_odd = pprof__location(p, ids->m_app, 0x401300, odd, 1);
	ids->l_main_other = pprof__location(p, ids->m_app, 0x401400, main_other, 1);
	CHECK_U64(ids->l_main, ==, 1);
	CHECK_U64(ids->l_work, ==, 2);
	CHECK_U64(ids->l_libc, ==, 3);
	CHECK_U64(ids->l_k_leaf, ==, 4);
	CHECK_U64(ids->l_k_entry, ==, 5);
	CHECK_U64(ids->l_odd, ==, 6);
	CHECK_U64(ids->l_main_other, ==, 7);
	/* interned by (mapping, address) */
	CHECK_U64(pprof__location(p, ids->m_app, 0x401100, main_line, 1), ==, ids->l_main);

	const uint64_t work_stack[] = { ids->l_work, ids->l_main };
	const uint64_t sys_stack[] = { ids->l_k_leaf, ids->l_k_entry, ids->l_libc,
				       ids->l_work, ids->l_main };
	const uint64_t odd_stack[] = { ids->l_odd, ids->l_main };
	const uint64_t main_stack[] = { ids->l_main };

	CHECK_INT(pprof__add_sample(p, work_stack, 2, 3, l42, 3), ==, 0);
	CHECK_INT(pprof__add_sample(p, work_stack, 2, 2, l42_shuffled, 3), ==, 0);
	CHECK_INT(pprof__add_sample(p, work_stack, 2, 4, l43, 3), ==, 0);
	CHECK_INT(pprof__add_sample(p, sys_stack, 5, 1, l42, 2), ==, 0);
	CHECK_INT(pprof__add_sample(p, odd_stack, 2, 1, l42, 2), ==, 0);
	CHECK_INT(pprof__add_sample(p, main_stack, 1, 1, odd_comm, 1), ==, 0);
	CHECK_INT(pprof__add_sample(p, main_stack, 1, 2, pid_only, 1), ==, 0);
	CHECK_U64(pprof__sample_count(p), ==, 6);
	return p;
}

static void test_stats(void)
{
	struct sample_ids ids;
	_cleanup_(cleanup_pprof__free) struct pprof *p = build_sample_profile(&ids);
	struct pprof_stats st;

	pprof__stats(p, &st);
	/* "", samples, count, cpu, nanoseconds, comm, 4 mapping strings (the
	 * empty build ids are ""), main, app.c, compute_inner, work,
	 * do_syscall_64, entry_SYSCALL_64, the odd name, odd.c, other.c, app,
	 * pid, bytes, "my prog;x" */
	CHECK_U64(st.strings, ==, 23);
	CHECK_U64(st.mappings, ==, 3);
	CHECK_U64(st.functions, ==, 7);
	CHECK_U64(st.locations, ==, 7);
	CHECK_U64(st.lines, ==, 1 + 2 + 0 + 1 + 1 + 1 + 1);
	CHECK_U64(st.samples, ==, 6);
	CHECK_U64(st.sample_frames, ==, 2 + 2 + 5 + 2 + 1 + 1);
	CHECK_U64(st.sample_labels, ==, 3 + 3 + 2 + 2 + 1 + 1);
	CHECK_U64(st.string_bytes, >, 100);
	pprof__stats(NULL, &st);
	CHECK_U64(st.strings, ==, 0);
	CHECK_U64(st.samples, ==, 0);
}

static int gunzip(const struct buf *in, size_t offset, struct buf *out)
{
	z_stream zs = {};
	int ret, err = 0;

	if (inflateInit2(&zs, 15 + 16) != Z_OK)
		return -ENOMEM;
	zs.next_in = in->data + offset;
	zs.avail_in = (uInt)(in->len - offset);
	do {
		err = buf_reserve(out, 65536);
		if (err)
			break;
		zs.next_out = out->data + out->len;
		zs.avail_out = 65536;
		ret = inflate(&zs, Z_NO_FLUSH);
		out->len += 65536 - zs.avail_out;
		if (ret != Z_OK && ret != Z_STREAM_END)
			err = -EBADMSG;
	} while (!err && ret != Z_STREAM_END);
	/* all input consumed: exactly one gzip member, no trailing bytes */
	if (!err && zs.avail_in != 0)
		err = -EBADMSG;
	inflateEnd(&zs);
	return err;
}

/* Encodes p after a prefix and decodes it back; checks append semantics. */
static Profile *encode_decode(struct pprof *p)
{
	struct buf encoded = {}, raw = {};
	Profile *prof;

	REQUIRE(buf_append(&encoded, "XY", 2) == 0);
	CHECK_INT(pprof__encode(p, &encoded), ==, 0);
	REQUIRE(encoded.len > 2 + 18);
	CHECK(memcmp(encoded.data, "XY", 2) == 0);
	CHECK_INT(encoded.data[2], ==, 0x1f); /* gzip magic */
	CHECK_INT(encoded.data[3], ==, 0x8b);
	CHECK_INT(gunzip(&encoded, 2, &raw), ==, 0);
	prof = perftools__profiles__profile__unpack(NULL, raw.len, raw.data);
	REQUIRE(prof);
	buf_release(&encoded);
	buf_release(&raw);
	return prof;
}

static const char *str_at(const Profile *prof, int64_t idx)
{
	if (idx < 0 || (size_t)idx >= prof->n_string_table)
		return "(bad string index)";
	return prof->string_table[idx];
}

/* The protocols.md rules every profile must satisfy. */
static void check_profile_rules(const Profile *prof)
{
	REQUIRE(prof->n_string_table >= 1);
	CHECK_STR(prof->string_table[0], "");

	REQUIRE(prof->n_sample_type == 2);
	CHECK_STR(str_at(prof, prof->sample_type[0]->type), "samples");
	CHECK_STR(str_at(prof, prof->sample_type[0]->unit), "count");
	CHECK_STR(str_at(prof, prof->sample_type[1]->type), "cpu");
	CHECK_STR(str_at(prof, prof->sample_type[1]->unit), "nanoseconds");
	REQUIRE(prof->period_type);
	CHECK_STR(str_at(prof, prof->period_type->type), "cpu");
	CHECK_STR(str_at(prof, prof->period_type->unit), "nanoseconds");
	CHECK_STR(str_at(prof, prof->default_sample_type), "cpu");
	CHECK_INT(prof->period, ==, PERIOD_NS);
	CHECK_INT(prof->time_nanos, ==, TIME_NANOS);
	CHECK_INT(prof->duration_nanos, ==, DURATION_NANOS);

	for (size_t i = 0; i < prof->n_mapping; i++) {
		CHECK_U64(prof->mapping[i]->id, ==, i + 1);
		CHECK(prof->mapping[i]->filename < (int64_t)prof->n_string_table);
		CHECK(prof->mapping[i]->build_id < (int64_t)prof->n_string_table);
	}
	for (size_t i = 0; i < prof->n_function; i++) {
		CHECK_U64(prof->function[i]->id, ==, i + 1);
		CHECK(prof->function[i]->name > 0); /* never the empty string */
		CHECK(prof->function[i]->name < (int64_t)prof->n_string_table);
		CHECK(prof->function[i]->system_name < (int64_t)prof->n_string_table);
		CHECK(prof->function[i]->filename < (int64_t)prof->n_string_table);
	}
	for (size_t i = 0; i < prof->n_location; i++) {
		const Perftools__Profiles__Location *loc = prof->location[i];

		CHECK_U64(loc->id, ==, i + 1);
		CHECK_U64(loc->mapping_id, <=, prof->n_mapping);
		for (size_t j = 0; j < loc->n_line; j++) {
			CHECK_U64(loc->line[j]->function_id, >=, 1);
			CHECK_U64(loc->line[j]->function_id, <=, prof->n_function);
		}
	}
	for (size_t i = 0; i < prof->n_sample; i++) {
		const Perftools__Profiles__Sample *s = prof->sample[i];

		for (size_t j = 0; j < s->n_location_id; j++) {
			CHECK_U64(s->location_id[j], >=, 1);
			CHECK_U64(s->location_id[j], <=, prof->n_location);
		}
		REQUIRE(s->n_value == prof->n_sample_type);
		CHECK_INT(s->value[0], >=, 1);
		CHECK_INT(s->value[1], ==, s->value[0] * (int64_t)PERIOD_NS);
		for (size_t j = 0; j < s->n_label; j++) {
			CHECK(s->label[j]->key > 0);
			CHECK(s->label[j]->key < (int64_t)prof->n_string_table);
			CHECK(s->label[j]->str < (int64_t)prof->n_string_table);
			CHECK(s->label[j]->num_unit < (int64_t)prof->n_string_table);
		}
	}
	/* interning: no string twice */
	for (size_t i = 0; i < prof->n_string_table; i++)
		for (size_t j = i + 1; j < prof->n_string_table; j++)
			CHECK(strcmp(prof->string_table[i], prof->string_table[j]) != 0);
}

static const Perftools__Profiles__Label *find_label(const Profile *prof,
						    const Perftools__Profiles__Sample *s,
						    const char *key)
{
	for (size_t i = 0; i < s->n_label; i++)
		if (strcmp(str_at(prof, s->label[i]->key), key) == 0)
			return s->label[i];
	return NULL;
}

/* The sample with exactly these locations whose "pid" label is pid. */
static const Perftools__Profiles__Sample *find_sample(const Profile *prof, const uint64_t *locs,
						      size_t n, int64_t pid)
{
	for (size_t i = 0; i < prof->n_sample; i++) {
		const Perftools__Profiles__Sample *s = prof->sample[i];
		const Perftools__Profiles__Label *l = find_label(prof, s, "pid");

		if (s->n_location_id == n && l && l->num == pid &&
		    memcmp(s->location_id, locs, n * sizeof(*locs)) == 0)
			return s;
	}
	return NULL;
}

static const char *function_name(const Profile *prof, uint64_t function_id)
{
	if (function_id == 0 || function_id > prof->n_function)
		return "(bad function id)";
	return str_at(prof, prof->function[function_id - 1]->name);
}

static void test_sample_profile(void)
{
	struct sample_ids ids;
	_cleanup_(cleanup_pprof__free) struct pprof *p = build_sample_profile(&ids);
	_cleanup_(profile_freep) Profile *prof = encode_decode(p);
	const Perftools__Profiles__Mapping *m;
	const Perftools__Profiles__Location *loc;
	const Perftools__Profiles__Sample *s;
	const Perftools__Profiles__Label *l;

	check_profile_rules(prof);
	CHECK_U64(prof->n_mapping, ==, 3);
	CHECK_U64(prof->n_location, ==, 7);
	/* main@app.c, compute_inner, work, do_syscall_64, entry_SYSCALL_64,
	 * the odd name, main@other.c */
	CHECK_U64(prof->n_function, ==, 7);
	CHECK_U64(prof->n_sample, ==, 6);

	m = prof->mapping[ids.m_app - 1];
	CHECK_STR(str_at(prof, m->filename), "/usr/bin/app");
	CHECK_STR(str_at(prof, m->build_id), "abcdef0123456789");
	CHECK_U64(m->memory_start, ==, 0x400000);
	CHECK_U64(m->memory_limit, ==, 0x500000);
	CHECK_U64(m->file_offset, ==, 0x1000);
	CHECK(m->has_functions);
	CHECK(m->has_filenames);
	CHECK(m->has_line_numbers);
	CHECK(m->has_inline_frames);
	/* libc has an unsymbolized location: has_functions must not claim it */
	m = prof->mapping[ids.m_libc - 1];
	CHECK(!m->has_functions);
	CHECK(m->has_filenames);
	CHECK(!m->has_line_numbers);
	CHECK(!m->has_inline_frames);
	CHECK_STR(str_at(prof, m->build_id), "");
	m = prof->mapping[ids.m_kernel - 1];
	CHECK(m->has_functions);
	CHECK(!m->has_filenames);
	CHECK_STR(str_at(prof, m->filename), "[kernel.kallsyms]");

	/* inlined: callee first, caller last */
	loc = prof->location[ids.l_work - 1];
	CHECK_U64(loc->mapping_id, ==, ids.m_app);
	CHECK_U64(loc->address, ==, 0x401200);
	REQUIRE(loc->n_line == 2);
	CHECK_STR(function_name(prof, loc->line[0]->function_id), "compute_inner");
	CHECK_INT(loc->line[0]->line, ==, 30);
	CHECK_STR(function_name(prof, loc->line[1]->function_id), "work");
	CHECK_INT(loc->line[1]->line, ==, 40);
	CHECK_STR(str_at(prof, prof->function[loc->line[1]->function_id - 1]->filename), "app.c");
	CHECK_STR(str_at(prof, prof->function[loc->line[1]->function_id - 1]->system_name), "work");

	/* unsymbolized: only mapping and address */
	loc = prof->location[ids.l_libc - 1];
	CHECK_U64(loc->mapping_id, ==, ids.m_libc);
	CHECK_U64(loc->address, ==, 0x7f0000001000);
	CHECK_U64(loc->n_line, ==, 0);

	/* same name, other file: another function; same name and file: one */
	loc = prof->location[ids.l_main_other - 1];
	REQUIRE(loc->n_line == 1);
	CHECK_U64(loc->line[0]->function_id, !=, prof->location[ids.l_main - 1]->line[0]->function_id);
	CHECK_STR(function_name(prof, loc->line[0]->function_id), "main");

	const uint64_t work_stack[] = { ids.l_work, ids.l_main };
	const uint64_t sys_stack[] = { ids.l_k_leaf, ids.l_k_entry, ids.l_libc, ids.l_work,
				       ids.l_main };

	/* 3 + 2 merged although the labels came in another order */
	s = find_sample(prof, work_stack, 2, 42);
	REQUIRE(s);
	CHECK_INT(s->value[0], ==, 5);
	CHECK_INT(s->value[1], ==, 5 * (int64_t)PERIOD_NS);
	CHECK_U64(s->n_label, ==, 3);
	l = find_label(prof, s, "comm");
	REQUIRE(l);
	CHECK_STR(str_at(prof, l->str), "app");
	CHECK_INT(l->num, ==, 0);
	l = find_label(prof, s, "bytes");
	REQUIRE(l);
	CHECK_INT(l->num, ==, 4096);
	CHECK_STR(str_at(prof, l->num_unit), "bytes");
	CHECK_INT(l->str, ==, 0);
	l = find_label(prof, s, "pid");
	REQUIRE(l);
	CHECK_INT(l->num_unit, ==, 0);

	/* other pid: a sample of its own */
	s = find_sample(prof, work_stack, 2, 43);
	REQUIRE(s);
	CHECK_INT(s->value[0], ==, 4);

	s = find_sample(prof, sys_stack, 5, 42);
	REQUIRE(s);
	CHECK_INT(s->value[0], ==, 1);
	CHECK_U64(s->n_label, ==, 2);

	/* the total survives merging */
	int64_t total = 0;
	for (size_t i = 0; i < prof->n_sample; i++)
		total += prof->sample[i]->value[0];
	CHECK_INT(total, ==, 3 + 2 + 4 + 1 + 1 + 1 + 2);
}

static void test_folded(void)
{
	struct sample_ids ids;
	_cleanup_(cleanup_pprof__free) struct pprof *p = build_sample_profile(&ids);
	struct buf out = {};

	REQUIRE(buf_append(&out, "# head\n", 7) == 0);
	CHECK_INT(pprof__write_folded(p, &out), ==, 0);
	/* pid 42 and 43 merge (labels other than comm); root first; inlined
	 * compute_inner after work; kernel frames last with _[k] */
	CHECK_STR((const char *)out.data,
		  "# head\n"
		  "[unknown];main 2\n"
		  "app;main;a_b_c_d 1\n"
		  "app;main;work;compute_inner 9\n"
		  "app;main;work;compute_inner;libc.so.6+0x1000;entry_SYSCALL_64_[k];do_syscall_64_[k] 1\n"
		  "my_prog_x;main 1\n");
	buf_release(&out);
}

/* The read API gives back what was added: options, samples with their
 * locations and labels, locations with their mapping and lines; and
 * rebuilding a profile from what it reads gives the same folded text. */
static void test_read_back(void)
{
	struct sample_ids ids;
	_cleanup_(cleanup_pprof__free) struct pprof *p = build_sample_profile(&ids);
	_cleanup_(cleanup_pprof__free) struct pprof *copy = NULL;
	struct pprof_opts o;
	struct pprof_sample s;
	struct pprof_label l;
	struct pprof_location loc;
	struct pprof_line line;
	struct pprof_mapping m;
	struct buf a = {}, b = {};
	uint64_t key = 0;

	pprof__opts(p, &o);
	CHECK_U64(o.period_ns, ==, PERIOD_NS);
	CHECK_INT(o.time_nanos, ==, TIME_NANOS);
	CHECK_INT(o.duration_nanos, ==, DURATION_NANOS);
	pprof__opts(NULL, &o);
	CHECK_U64(o.period_ns, ==, 0);

	/* sample 0: work_stack, 3 + 2 merged, labels sorted by string index */
	REQUIRE(pprof__sample_at(p, 0, &s) == 0);
	CHECK_U64(s.nlocs, ==, 2);
	CHECK_U64(s.locs[0], ==, ids.l_work);
	CHECK_U64(s.locs[1], ==, ids.l_main);
	CHECK_INT(s.count, ==, 5);
	CHECK_U64(s.nlabels, ==, 3);
	for (size_t j = 0; j < s.nlabels; j++) {
		REQUIRE(pprof__sample_label(p, 0, j, &l) == 0);
		if (!strcmp(l.key, "comm")) {
			CHECK_STR(l.str, "app");
		} else if (!strcmp(l.key, "pid")) {
			CHECK(l.str == NULL);
			CHECK_INT(l.num, ==, 42);
			CHECK(l.num_unit == NULL);
		} else {
			CHECK_STR(l.key, "bytes");
			CHECK_INT(l.num, ==, 4096);
			CHECK_STR(l.num_unit, "bytes");
		}
	}
	CHECK_INT(pprof__sample_label(p, 0, 3, &l), ==, -EINVAL);
	CHECK_INT(pprof__sample_at(p, 6, &s), ==, -EINVAL);
	CHECK_INT(pprof__sample_at(NULL, 0, &s), ==, -EINVAL);

	CHECK_U64(pprof__location_count(p), ==, 7);
	CHECK_U64(pprof__mapping_count(p), ==, 3);
	REQUIRE(pprof__location_at(p, ids.l_work, &loc) == 0);
	CHECK_U64(loc.mapping_id, ==, ids.m_app);
	CHECK_U64(loc.address, ==, 0x401200);
	CHECK_U64(loc.nlines, ==, 2);
	REQUIRE(pprof__location_line(p, ids.l_work, 0, &line) == 0);
	CHECK_STR(line.function, "compute_inner");
	CHECK_STR(line.filename, "app.c");
	CHECK_INT(line.line, ==, 30);
	REQUIRE(pprof__location_line(p, ids.l_work, 1, &line) == 0);
	CHECK_STR(line.function, "work");
	CHECK_INT(pprof__location_line(p, ids.l_work, 2, &line), ==, -EINVAL);
	REQUIRE(pprof__location_line(p, ids.l_k_leaf, 0, &line) == 0);
	CHECK_STR(line.filename, "");
	REQUIRE(pprof__location_at(p, ids.l_libc, &loc) == 0);
	CHECK_U64(loc.nlines, ==, 0);
	CHECK_INT(pprof__location_at(p, 0, &loc), ==, -EINVAL);
	CHECK_INT(pprof__location_at(p, 8, &loc), ==, -EINVAL);

	REQUIRE(pprof__mapping_at(p, ids.m_app, &m, &key) == 0);
	CHECK_U64(key, ==, 100);
	CHECK_U64(m.memory_start, ==, 0x400000);
	CHECK_U64(m.memory_limit, ==, 0x500000);
	CHECK_U64(m.file_offset, ==, 0x1000);
	CHECK_STR(m.filename, "/usr/bin/app");
	CHECK_STR(m.build_id, "abcdef0123456789");
	CHECK(m.has_functions && m.has_inline_frames && !m.is_kernel);
	REQUIRE(pprof__mapping_at(p, ids.m_kernel, &m, NULL) == 0);
	CHECK(m.is_kernel);
	CHECK_STR(m.build_id, "");
	CHECK_INT(pprof__mapping_at(p, 4, &m, NULL), ==, -EINVAL);

	/* a copy made only through the read API folds the same */
	REQUIRE(pprof__new(&test_opts, &copy) == 0);
	for (uint64_t id = 1; id <= pprof__mapping_count(p); id++) {
		REQUIRE(pprof__mapping_at(p, id, &m, &key) == 0);
		CHECK_U64(pprof__mapping(copy, key, &m), ==, id);
	}
	for (uint64_t id = 1; id <= pprof__location_count(p); id++) {
		struct pprof_line lines[PPROF_MAX_LINES];

		REQUIRE(pprof__location_at(p, id, &loc) == 0);
		for (size_t k = 0; k < loc.nlines; k++)
			REQUIRE(pprof__location_line(p, id, k, &lines[k]) == 0);
		CHECK_U64(pprof__location(copy, loc.mapping_id, loc.address, lines, loc.nlines), ==, id);
	}
	for (size_t i = 0; i < pprof__sample_count(p); i++) {
		struct pprof_label labels[PPROF_MAX_LABELS];

		REQUIRE(pprof__sample_at(p, i, &s) == 0);
		for (size_t j = 0; j < s.nlabels; j++)
			REQUIRE(pprof__sample_label(p, i, j, &labels[j]) == 0);
		CHECK_INT(pprof__add_sample(copy, s.locs, s.nlocs, s.count, labels, s.nlabels), ==, 0);
	}
	CHECK_INT(pprof__write_folded(p, &a), ==, 0);
	CHECK_INT(pprof__write_folded(copy, &b), ==, 0);
	REQUIRE(buf_append(&a, "", 1) == 0 && buf_append(&b, "", 1) == 0);
	CHECK_STR((const char *)a.data, (const char *)b.data);
	CHECK_U64(pprof__sample_count(copy), ==, pprof__sample_count(p));
	buf_release(&a);
	buf_release(&b);
}

static void test_empty_profile(void)
{
	_cleanup_(cleanup_pprof__free) struct pprof *p = NULL;
	_cleanup_(profile_freep) Profile *prof = NULL;
	struct buf out = {};

	REQUIRE(pprof__new(&test_opts, &p) == 0);
	REQUIRE(p);
	CHECK_U64(pprof__sample_count(p), ==, 0);
	prof = encode_decode(p);
	check_profile_rules(prof);
	CHECK_U64(prof->n_sample, ==, 0);
	CHECK_U64(prof->n_location, ==, 0);
	CHECK_INT(pprof__write_folded(p, &out), ==, 0);
	CHECK_U64(out.len, ==, 0);
	buf_release(&out);
}

static void test_invalid_arguments(void)
{
	struct pprof_opts opts = test_opts;
	struct pprof *bad = NULL;
	struct sample_ids ids;
	_cleanup_(cleanup_pprof__free) struct pprof *p = build_sample_profile(&ids);
	const struct pprof_mapping m = { .filename = "x" };
	const struct pprof_line line = { "f", "f.c", 1 };
	const struct pprof_label no_key[] = { { .key = NULL, .str = "v" } };
	const struct pprof_label empty_key[] = { { .key = "", .str = "v" } };
	uint64_t locs[] = { ids.l_main };
	uint64_t bad_locs[] = { ids.l_main, 999 };
	uint64_t zero_loc[] = { 0 };

	CHECK_INT(pprof__new(NULL, &bad), ==, -EINVAL);
	opts.period_ns = 0;
	CHECK_INT(pprof__new(&opts, &bad), ==, -EINVAL);
	opts.period_ns = (uint64_t)INT64_MAX + 1;
	CHECK_INT(pprof__new(&opts, &bad), ==, -EINVAL);
	CHECK(bad == NULL);
	pprof__free(NULL);

	errno = 0;
	CHECK_U64(pprof__mapping(p, 1, NULL), ==, 0);
	CHECK_INT(errno, ==, EINVAL);
	errno = 0;
	CHECK_U64(pprof__mapping(NULL, 1, &m), ==, 0);
	CHECK_INT(errno, ==, EINVAL);
	errno = 0;
	CHECK_U64(pprof__location(p, 99, 0x1, &line, 1), ==, 0);
	CHECK_INT(errno, ==, EINVAL);
	errno = 0;
	CHECK_U64(pprof__location(p, 1, 0x1, NULL, 1), ==, 0);
	CHECK_INT(errno, ==, EINVAL);

	CHECK_INT(pprof__add_sample(p, bad_locs, 2, 1, NULL, 0), ==, -EINVAL);
	CHECK_INT(pprof__add_sample(p, zero_loc, 1, 1, NULL, 0), ==, -EINVAL);
	CHECK_INT(pprof__add_sample(p, NULL, 1, 1, NULL, 0), ==, -EINVAL);
	CHECK_INT(pprof__add_sample(p, locs, 1, 0, NULL, 0), ==, -EINVAL);
	CHECK_INT(pprof__add_sample(p, locs, 1, -3, NULL, 0), ==, -EINVAL);
	CHECK_INT(pprof__add_sample(p, locs, 1, 1, no_key, 1), ==, -EINVAL);
	CHECK_INT(pprof__add_sample(p, locs, 1, 1, empty_key, 1), ==, -EINVAL);
	CHECK_INT(pprof__add_sample(p, locs, 1, 1, NULL, 1), ==, -EINVAL);
	CHECK_INT(pprof__encode(p, NULL), ==, -EINVAL);
	CHECK_INT(pprof__write_folded(NULL, NULL), ==, -EINVAL);
	/* nothing of that reached the profile */
	CHECK_U64(pprof__sample_count(p), ==, 6);
	CHECK_U64(pprof__sample_count(NULL), ==, 0);
}

static void test_bounds(void)
{
	struct sample_ids ids;
	_cleanup_(cleanup_pprof__free) struct pprof *p = build_sample_profile(&ids);
	_cleanup_(cleanup_pprof__free) struct pprof *fresh = NULL;
	_cleanup_(profile_freep) Profile *prof = NULL;
	_cleanup_free_ char *huge = malloc(PPROF_MAX_STRING_LEN + 2);
	_cleanup_free_ uint64_t *deep = calloc(PPROF_MAX_STACK_DEPTH + 1, sizeof(*deep));
	struct pprof_label labels[PPROF_MAX_LABELS + 1];
	struct pprof_line lines[PPROF_MAX_LINES + 1];
	const struct pprof_mapping huge_mapping = { .filename = huge };
	uint64_t main_stack[] = { ids.l_main };
	int64_t max_count = INT64_MAX / (int64_t)PERIOD_NS;

	REQUIRE(pprof__new(&test_opts, &fresh) == 0);
	REQUIRE(huge && deep && fresh);
	memset(huge, 'x', PPROF_MAX_STRING_LEN + 1);
	huge[PPROF_MAX_STRING_LEN + 1] = 0;
	for (size_t i = 0; i <= PPROF_MAX_STACK_DEPTH; i++)
		deep[i] = ids.l_main;
	for (size_t i = 0; i <= PPROF_MAX_LABELS; i++)
		labels[i] = (struct pprof_label){ .key = "k", .num = (int64_t)i };
	for (size_t i = 0; i <= PPROF_MAX_LINES; i++)
		lines[i] = (struct pprof_line){ "f", "f.c", (int64_t)i };

	errno = 0;
	CHECK_U64(pprof__mapping(p, 999, &huge_mapping), ==, 0);
	CHECK_INT(errno, ==, E2BIG);
	lines[0].function = huge;
	errno = 0;
	CHECK_U64(pprof__location(p, ids.m_app, 0x409999, lines, 1), ==, 0);
	CHECK_INT(errno, ==, E2BIG);
	lines[0].function = "f";
	errno = 0;
	CHECK_U64(pprof__location(p, ids.m_app, 0x409999, lines, PPROF_MAX_LINES + 1), ==, 0);
	CHECK_INT(errno, ==, E2BIG);
	/* exactly at the limit is fine */
	CHECK_U64(pprof__location(p, ids.m_app, 0x409999, lines, PPROF_MAX_LINES), ==, 8);

	CHECK_INT(pprof__add_sample(p, deep, PPROF_MAX_STACK_DEPTH + 1, 1, NULL, 0), ==, -E2BIG);
	CHECK_INT(pprof__add_sample(p, main_stack, 1, 1, labels, PPROF_MAX_LABELS + 1), ==, -E2BIG);
	CHECK_INT(pprof__add_sample(p, deep, PPROF_MAX_STACK_DEPTH, 1, labels, PPROF_MAX_LABELS), ==, 0);
	CHECK_U64(pprof__sample_count(p), ==, 7);

	/* value[1] = count * period must not wrap, merged or not */
	CHECK_INT(pprof__add_sample(fresh, NULL, 0, max_count + 1, NULL, 0), ==, -EOVERFLOW);
	CHECK_INT(pprof__add_sample(fresh, NULL, 0, max_count, NULL, 0), ==, 0);
	CHECK_INT(pprof__add_sample(fresh, NULL, 0, 1, NULL, 0), ==, -EOVERFLOW);
	CHECK_U64(pprof__sample_count(fresh), ==, 1);

	/* the profile that saw the errors still encodes by the rules */
	prof = encode_decode(p);
	check_profile_rules(prof);
	CHECK_U64(prof->n_sample, ==, 7);
	CHECK_U64(prof->n_mapping, ==, 3);
	CHECK_U64(prof->n_location, ==, 8);
	for (size_t i = 0; i < prof->n_string_table; i++)
		CHECK(strlen(prof->string_table[i]) <= PPROF_MAX_STRING_LEN);
}

static void test_utf8_and_unknown_frames(void)
{
	_cleanup_(cleanup_pprof__free) struct pprof *p = NULL;
	_cleanup_(profile_freep) Profile *prof = NULL;
	const struct pprof_label bad_comm[] = { { .key = "comm", .str = "b\xff\xc3zad\xe2\x82" } };
	const struct pprof_label good_comm[] = { { .key = "comm", .str = "caf\xc3\xa9" } };
	/* a line without a function is dropped: the location falls back to
	 * its address */
	const struct pprof_line no_function[] = { { NULL, "x.c", 3 } };
	uint64_t l_addr, l_zero, l_nomap;
	struct buf out = {};

	REQUIRE(pprof__new(&test_opts, &p) == 0);
	REQUIRE(p);
	l_addr = pprof__location(p, 0, 0xdead, no_function, 1);
	l_zero = pprof__location(p, 0, 0, NULL, 0);
	l_nomap = pprof__location(p, 0, 0xbeef, NULL, 0);
	REQUIRE(l_addr && l_zero && l_nomap);
	const uint64_t stack[] = { l_addr, l_zero, l_nomap };
	CHECK_INT(pprof__add_sample(p, stack, 3, 1, bad_comm, 1), ==, 0);
	CHECK_INT(pprof__add_sample(p, stack, 1, 1, good_comm, 1), ==, 0);

	prof = encode_decode(p);
	check_profile_rules(prof);
	CHECK_U64(prof->n_function, ==, 0);
	CHECK_U64(prof->location[l_addr - 1]->n_line, ==, 0);
	CHECK_U64(prof->location[l_addr - 1]->address, ==, 0xdead);
	CHECK_U64(prof->location[l_addr - 1]->mapping_id, ==, 0);
	bool seen_bad = false, seen_good = false;
	for (size_t i = 0; i < prof->n_string_table; i++) {
		seen_bad |= strcmp(prof->string_table[i], "b??zad??") == 0;
		seen_good |= strcmp(prof->string_table[i], "caf\xc3\xa9") == 0;
	}
	CHECK(seen_bad);
	CHECK(seen_good);

	CHECK_INT(pprof__write_folded(p, &out), ==, 0);
	CHECK_STR((const char *)out.data,
		  "b??zad??;0xbeef;[unknown];0xdead 1\n"
		  "caf\xc3\xa9;0xdead 1\n");
	buf_release(&out);
}

static bool has_string(const Profile *prof, const char *s)
{
	for (size_t i = 0; i < prof->n_string_table; i++)
		if (strcmp(prof->string_table[i], s) == 0)
			return true;
	return false;
}

/* Decodes a gzipped profile at the start of in. */
/* An off-CPU profile: sample types [samples/count, off_cpu/nanoseconds],
 * values [switches, ns] summed on merge, no period; folded lines weigh
 * nanoseconds; add_sample (CPU only) is refused. */
static void test_off_cpu(void)
{
	const struct pprof_opts o = { .type = PPROF_TYPE_OFF_CPU, .time_nanos = TIME_NANOS,
				      .duration_nanos = DURATION_NANOS };
	const struct pprof_line sleep_line[] = { { "nanosleep", NULL, 0 } };
	const struct pprof_line main_line[] = { { "main", "app.c", 5 } };
	const struct pprof_label blocked[] = { { .key = "comm", .str = "app" },
					       { .key = "off_cpu_reason", .str = "blocked" } };
	_cleanup_(cleanup_pprof__free) struct pprof *p = NULL;
	_cleanup_(profile_freep) Profile *prof = NULL;
	struct pprof_sample s;
	struct buf out = {};
	uint64_t stack[2];

	REQUIRE(pprof__new(&o, &p) == 0);
	stack[0] = pprof__location(p, 0, 0x1000, sleep_line, 1);
	stack[1] = pprof__location(p, 0, 0x2000, main_line, 1);
	CHECK_INT(pprof__add_sample(p, stack, 2, 1, blocked, 2), ==, -EINVAL);
	CHECK_INT(pprof__add_sample_value(p, stack, 2, 3, 900000000, blocked, 2), ==, 0);
	CHECK_INT(pprof__add_sample_value(p, stack, 2, 1, 100000000, blocked, 2), ==, 0);
	CHECK_INT(pprof__add_sample_value(p, stack, 2, 1, -1, blocked, 2), ==, -EINVAL);
	CHECK_INT(pprof__add_sample_value(p, stack, 2, 1, INT64_MAX, blocked, 2), ==, -EOVERFLOW);
	CHECK_U64(pprof__sample_count(p), ==, 1);
	REQUIRE(pprof__sample_at(p, 0, &s) == 0);
	CHECK_INT(s.count, ==, 4);
	CHECK_INT(s.value, ==, 1000000000);

	prof = encode_decode(p);
	REQUIRE(prof);
	REQUIRE(prof->n_sample_type == 2);
	CHECK_STR(prof->string_table[prof->sample_type[0]->type], "samples");
	CHECK_STR(prof->string_table[prof->sample_type[0]->unit], "count");
	CHECK_STR(prof->string_table[prof->sample_type[1]->type], "off_cpu");
	CHECK_STR(prof->string_table[prof->sample_type[1]->unit], "nanoseconds");
	CHECK_STR(prof->string_table[prof->default_sample_type], "off_cpu");
	CHECK(prof->period_type == NULL);
	CHECK_INT(prof->period, ==, 0);
	REQUIRE(prof->n_sample == 1 && prof->sample[0]->n_value == 2);
	CHECK_INT(prof->sample[0]->value[0], ==, 4);
	CHECK_INT(prof->sample[0]->value[1], ==, 1000000000);

	CHECK_INT(pprof__write_folded(p, &out), ==, 0);
	CHECK_STR((const char *)out.data, "app;main;nanosleep 1000000000\n");
	buf_release(&out);

	/* a CPU profile still needs its period; an unknown type is refused */
	CHECK_INT(pprof__new(&(struct pprof_opts){ .type = PPROF_TYPE_CPU }, &(struct pprof *){ NULL }),
		  ==, -EINVAL);
	CHECK_INT(pprof__new(&(struct pprof_opts){ .type = PPROF_TYPE_MAX }, &(struct pprof *){ NULL }),
		  ==, -EINVAL);
}

static Profile *decode(const struct buf *in)
{
	struct buf raw = {};
	Profile *prof;

	REQUIRE(gunzip(in, 0, &raw) == 0);
	prof = perftools__profiles__profile__unpack(NULL, raw.len, raw.data);
	buf_release(&raw);
	REQUIRE(prof);
	return prof;
}

static void test_encode_samples(void)
{
	struct sample_ids ids;
	_cleanup_(cleanup_pprof__free) struct pprof *p = build_sample_profile(&ids);
	struct buf whole = {}, out = {};
	size_t len = 0, whole_len = 0;
	Profile *prof;

	/* the whole range is the ordinary encoding, byte for byte */
	CHECK_INT(pprof__encode(p, &whole), ==, 0);
	CHECK_INT(pprof__encode_samples(p, 0, 6, 0, &out, &whole_len), ==, 0);
	CHECK_U64(out.len, ==, whole.len);
	CHECK(out.len == whole.len && memcmp(out.data, whole.data, out.len) == 0);
	CHECK_U64(whole_len, >, whole.len / 4);
	buf_reset(&out);

	/* samples 3..5: main, the odd name, two comms; app mapping only */
	CHECK_INT(pprof__encode_samples(p, 3, 3, 0, &out, &len), ==, 0);
	CHECK_U64(len, <, whole_len);
	prof = decode(&out);
	check_profile_rules(prof);
	CHECK_U64(prof->n_sample, ==, 3);
	CHECK_U64(prof->n_mapping, ==, 1);
	CHECK_U64(prof->n_location, ==, 2);
	CHECK_U64(prof->n_function, ==, 2);
	if (prof->n_mapping == 1) {
		CHECK_STR(str_at(prof, prof->mapping[0]->filename), "/usr/bin/app");
		CHECK_STR(str_at(prof, prof->mapping[0]->build_id), "abcdef0123456789");
		CHECK(prof->mapping[0]->has_functions);
		CHECK(prof->mapping[0]->has_inline_frames);
		CHECK_U64(prof->mapping[0]->memory_start, ==, 0x400000);
		CHECK_U64(prof->mapping[0]->file_offset, ==, 0x1000);
	}
	CHECK(has_string(prof, "a;b c\nd"));
	CHECK(has_string(prof, "my prog;x"));
	CHECK(!has_string(prof, "do_syscall_64"));
	CHECK(!has_string(prof, "compute_inner"));
	CHECK(!has_string(prof, "/usr/lib/x86_64-linux-gnu/libc.so.6"));
	if (prof->n_sample == 3) {
		int64_t total = 0;

		for (size_t i = 0; i < 3; i++)
			total += prof->sample[i]->value[0];
		CHECK_INT(total, ==, 1 + 1 + 2);
		/* sample order kept: the odd stack, then main twice */
		CHECK_U64(prof->sample[0]->n_location_id, ==, 2);
		CHECK_STR(function_name(prof, prof->location[prof->sample[0]->location_id[0] - 1]
							->line[0]->function_id), "a;b c\nd");
		CHECK_INT(prof->sample[2]->value[0], ==, 2);
		CHECK(find_label(prof, prof->sample[2], "pid") &&
		      find_label(prof, prof->sample[2], "pid")->num == 7);
		CHECK(find_label(prof, prof->sample[1], "comm") &&
		      strcmp(str_at(prof, find_label(prof, prof->sample[1], "comm")->str),
			     "my prog;x") == 0);
	}
	perftools__profiles__profile__free_unpacked(prof, NULL);
	buf_reset(&out);

	/* sample 2 crosses into libc and the kernel: the executable stays the
	 * first mapping, and libc (unsymbolized) has no has_functions */
	CHECK_INT(pprof__encode_samples(p, 2, 1, 0, &out, NULL), ==, 0);
	prof = decode(&out);
	check_profile_rules(prof);
	CHECK_U64(prof->n_sample, ==, 1);
	REQUIRE(prof->n_mapping == 3);
	CHECK_STR(str_at(prof, prof->mapping[0]->filename), "/usr/bin/app");
	CHECK_STR(str_at(prof, prof->mapping[1]->filename), "/usr/lib/x86_64-linux-gnu/libc.so.6");
	CHECK(!prof->mapping[1]->has_functions);
	CHECK_STR(str_at(prof, prof->mapping[2]->filename), "[kernel.kallsyms]");
	CHECK_U64(prof->n_location, ==, 5);
	CHECK_U64(prof->sample[0]->n_location_id, ==, 5);
	CHECK_STR(function_name(prof, prof->location[prof->sample[0]->location_id[0] - 1]
						->line[0]->function_id), "do_syscall_64");
	/* two labels (comm, pid): it was added with l42's first two */
	CHECK_U64(prof->sample[0]->n_label, ==, 2);
	perftools__profiles__profile__free_unpacked(prof, NULL);
	buf_reset(&out);

	/* over the size bound: refused with the size, out untouched */
	CHECK_INT(buf_append(&out, "XY", 2), ==, 0);
	len = 0;
	CHECK_INT(pprof__encode_samples(p, 0, 6, 100, &out, &len), ==, -EFBIG);
	CHECK_U64(len, ==, whole_len);
	CHECK_U64(out.len, ==, 2);
	len = 0;
	CHECK_INT(pprof__encode_samples(p, 1, 2, 100, &out, &len), ==, -EFBIG);
	CHECK_U64(len, >, 100);
	CHECK_U64(out.len, ==, 2);

	/* ranges past the samples */
	CHECK_INT(pprof__encode_samples(p, 7, 0, 0, &out, NULL), ==, -EINVAL);
	CHECK_INT(pprof__encode_samples(p, 5, 2, 0, &out, NULL), ==, -EINVAL);
	CHECK_INT(pprof__encode_samples(p, 1, SIZE_MAX, 0, &out, NULL), ==, -EINVAL);
	CHECK_INT(pprof__encode_samples(NULL, 0, 0, 0, &out, NULL), ==, -EINVAL);
	CHECK_INT(pprof__encode_samples(p, 0, 1, 0, NULL, NULL), ==, -EINVAL);
	CHECK_U64(out.len, ==, 2);
	/* an empty range is an empty, valid profile */
	buf_reset(&out);
	CHECK_INT(pprof__encode_samples(p, 6, 0, 0, &out, NULL), ==, 0);
	prof = decode(&out);
	check_profile_rules(prof);
	CHECK_U64(prof->n_sample, ==, 0);
	CHECK_U64(prof->n_location, ==, 0);
	perftools__profiles__profile__free_unpacked(prof, NULL);

	buf_release(&out);
	buf_release(&whole);
}

/* A profile the size a busy process gives (20,000 distinct stacks over
 * 2,000 functions) split in two: each half is a whole profile, the counts
 * add up, and each half's tables are smaller than the whole's (printed, as
 * the measure of pruning). */
static void test_encode_samples_split(void)
{
	enum { NFUNC = 2000, NSAMPLES = 20000, DEPTH = 12 };
	_cleanup_(cleanup_pprof__free) struct pprof *p = NULL;
	const struct pprof_mapping exe = { .memory_start = 0x400000, .memory_limit = 0x800000,
					   .filename = "/usr/bin/big", .has_functions = true };
	static uint64_t loc_ids[NFUNC];
	uint64_t seed = 42, m;
	size_t whole_len = 0, part_len[2] = {};
	int64_t total = 0;
	struct buf out = {};

	REQUIRE(pprof__new(&test_opts, &p) == 0);
	REQUIRE(p);
	m = pprof__mapping(p, 1, &exe);
	REQUIRE(m == 1);
	for (size_t i = 0; i < NFUNC; i++) {
		char name[64];
		struct pprof_line line = { name, "big.c", (int64_t)i };

		snprintf(name, sizeof(name), "function_number_%zu", i);
		loc_ids[i] = pprof__location(p, m, 0x400000 + 16 * i, &line, 1);
		REQUIRE(loc_ids[i]);
	}
	for (size_t i = 0; i < NSAMPLES; i++) {
		uint64_t stack[DEPTH];

		/* the sample index in the leaf pair keeps every stack distinct */
		stack[0] = loc_ids[i % NFUNC];
		stack[1] = loc_ids[(i / NFUNC) % NFUNC];
		for (size_t d = 2; d < DEPTH; d++) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			stack[d] = loc_ids[(seed >> 33) % NFUNC];
		}
		REQUIRE(pprof__add_sample(p, stack, DEPTH, 1 + (int64_t)(i % 3), NULL, 0) == 0);
		total += 1 + (int64_t)(i % 3);
	}
	REQUIRE(pprof__sample_count(p) == NSAMPLES);
	CHECK_INT(pprof__encode_samples(p, 0, NSAMPLES, 0, &out, &whole_len), ==, 0);
	for (size_t half = 0; half < 2; half++) {
		Profile *prof;
		int64_t sum = 0;

		buf_reset(&out);
		CHECK_INT(pprof__encode_samples(p, half * NSAMPLES / 2, NSAMPLES / 2, 0, &out,
						&part_len[half]), ==, 0);
		prof = decode(&out);
		check_profile_rules(prof);
		CHECK_U64(prof->n_sample, ==, NSAMPLES / 2);
		for (size_t i = 0; i < prof->n_sample; i++)
			sum += prof->sample[i]->value[0];
		total -= sum;
		CHECK_U64(prof->n_location, <=, NFUNC);
		perftools__profiles__profile__free_unpacked(prof, NULL);
	}
	CHECK_INT(total, ==, 0);
	CHECK_U64(part_len[0], <, whole_len);
	CHECK_U64(part_len[1], <, whole_len);
	fprintf(stderr, "split of %d samples: whole %zu bytes, halves %zu + %zu bytes\n",
		NSAMPLES, whole_len, part_len[0], part_len[1]);
	buf_release(&out);
}

static int write_profile(const char *path)
{
	struct sample_ids ids;
	_cleanup_(cleanup_pprof__free) struct pprof *p = build_sample_profile(&ids);
	_cleanup_fclose_ FILE *f = NULL;
	struct buf out = {};
	int err;

	err = pprof__encode(p, &out);
	if (err) {
		fprintf(stderr, "failed to encode profile: %s\n", strerror(-err));
		return 1;
	}
	f = fopen(path, "we");
	if (!f || fwrite(out.data, 1, out.len, f) != out.len || fflush(f) != 0) {
		fprintf(stderr, "failed to write profile '%s': %m\n", path);
		buf_release(&out);
		return 1;
	}
	buf_release(&out);
	return test_failures ? 1 : 0;
}

/* `test-pprof --write-profile FILE`: the profile pprof-decode.sh reads,
 * instead of the cases. */
static void setup(void)
{
	if (test_argc == 3 && strcmp(test_argv[1], "--write-profile") == 0)
		exit(write_profile(test_argv[2]));
}

/* A demangled line: Function.name is what it shows, system_name the
 * mangled name; folded output shows the demangled one; read back whole. */
static void test_system_name(void)
{
	const struct pprof_mapping app = { .filename = "/bin/app", .build_id = "",
					   .has_functions = true };
	const struct pprof_line spin[] = {
		{ "ns::Worker<int>::spin(int)", "w.cc", 12, "_ZN2ns6WorkerIiE4spinEi" },
	};
	const struct pprof_line plain[] = { { "main", "w.cc", 3 } };
	struct pprof *p = NULL;
	struct pprof_line line;
	struct buf folded = {};
	uint64_t m, locs[2];
	Profile *prof;

	REQUIRE(pprof__new(&test_opts, &p) == 0);
	m = pprof__mapping(p, 1, &app);
	locs[0] = pprof__location(p, m, 0x1000, spin, 1);
	locs[1] = pprof__location(p, m, 0x2000, plain, 1);
	REQUIRE(locs[0] && locs[1]);
	REQUIRE(pprof__add_sample(p, locs, 2, 1, NULL, 0) == 0);

	prof = encode_decode(p);
	REQUIRE(prof->n_function == 2);
	CHECK_STR(str_at(prof, prof->function[0]->name), "ns::Worker<int>::spin(int)");
	CHECK_STR(str_at(prof, prof->function[0]->system_name), "_ZN2ns6WorkerIiE4spinEi");
	CHECK_STR(str_at(prof, prof->function[1]->name), "main");
	CHECK_STR(str_at(prof, prof->function[1]->system_name), "main");
	perftools__profiles__profile__free_unpacked(prof, NULL);

	REQUIRE(pprof__write_folded(p, &folded) == 0);
	REQUIRE(buf_append(&folded, "", 1) == 0);
	CHECK(strstr((char *)folded.data, "main;ns::Worker<int>::spin(int) 1") != NULL);
	if (!strstr((char *)folded.data, "main;ns::Worker<int>::spin(int) 1"))
		fprintf(stderr, "folded: %s\n", (char *)folded.data);
	buf_release(&folded);

	REQUIRE(pprof__location_line(p, locs[0], 0, &line) == 0);
	CHECK_STR(line.function, "ns::Worker<int>::spin(int)");
	CHECK_STR(line.system_name, "_ZN2ns6WorkerIiE4spinEi");
	pprof__free(p);
}

/* An address first seen without a name takes the one a later sample
 * brings (its object's debug file came meanwhile); a named one keeps its
 * first. */
static void test_named_late(void)
{
	const struct pprof_mapping app = { .filename = "/bin/app", .build_id = "" };
	const struct pprof_line leaf[] = { { "dbgi_leaf", "p.c", 3 } };
	const struct pprof_line other[] = { { "other", "q.c", 9 } };
	struct pprof *p = NULL;
	struct pprof_line line;
	struct buf folded = {};
	uint64_t m, first, again;

	REQUIRE(pprof__new(&test_opts, &p) == 0);
	m = pprof__mapping(p, 1, &app);
	first = pprof__location(p, m, 0x1000, NULL, 0);
	REQUIRE(first);
	REQUIRE(pprof__add_sample(p, &first, 1, 1, NULL, 0) == 0);
	CHECK_INT(pprof__location_line(p, first, 0, &line), ==, -EINVAL);
	again = pprof__location(p, m, 0x1000, leaf, 1);
	CHECK_U64(again, ==, first);
	REQUIRE(pprof__add_sample(p, &again, 1, 2, NULL, 0) == 0);
	REQUIRE(pprof__location_line(p, first, 0, &line) == 0);
	CHECK_STR(line.function, "dbgi_leaf");
	CHECK_U64(pprof__location(p, m, 0x1000, other, 1), ==, first);
	REQUIRE(pprof__location_line(p, first, 0, &line) == 0);
	CHECK_STR(line.function, "dbgi_leaf");
	CHECK_U64(pprof__location_count(p), ==, 1);
	/* both samples, one stack */
	REQUIRE(pprof__write_folded(p, &folded) == 0);
	REQUIRE(buf_append(&folded, "", 1) == 0);
	CHECK_STR((char *)folded.data, "[unknown];dbgi_leaf 3\n");
	buf_release(&folded);
	pprof__free(p);
}

TEST_MAIN(setup, NULL,
	  TEST_CASE(sample_profile),
	  TEST_CASE(folded),
	  TEST_CASE(read_back),
	  TEST_CASE(stats),
	  TEST_CASE(empty_profile),
	  TEST_CASE(invalid_arguments),
	  TEST_CASE(bounds),
	  TEST_CASE(utf8_and_unknown_frames),
	  TEST_CASE(encode_samples),
	  TEST_CASE(encode_samples_split),
	  TEST_CASE(off_cpu),
	  TEST_CASE(system_name),
	  TEST_CASE(named_late))
