/* The merged call tree of a pprof builder and its JSON form
 * (core/pprof_flame.h). */
#include "core/pprof_flame.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macros.h"
#include "common/utf8.h"
#include "core/pprof_tables.h"

#define NONE UINT32_MAX

struct frame_key {
	uint32_t name, lib, file; /* the tree's string indexes */
	uint32_t kind;
	int64_t line;
};

struct tree_node {
	struct frame_key k;
	uint32_t parent; /* NONE for the root */
	uint32_t first_child, next_sibling;
	int64_t total, self;
};

struct node_key {
	uint32_t parent;
	const struct frame_key *k;
};

/* What building takes: the tree's own strings, each location's frames
 * (computed on first use) and the nodes with their index. */
struct tree {
	const struct pprof *p;

	char **strings;
	size_t nstrings, strings_cap;
	struct index_table string_index;
	uint32_t *from_pprof; /* pprof string index -> ours + 1 (0: not yet) */

	struct frame_key *frames;
	size_t nframes, frames_cap;
	size_t *loc_first;
	uint32_t *loc_n; /* NONE: not computed yet */

	struct tree_node *nodes;
	size_t nnodes, nodes_cap;
	struct index_table node_index;
	int64_t samples;
};

/* ---- strings ---- */

struct string_key {
	const char *s;
	size_t n;
};

static bool string_eq(const void *ctx, uint32_t idx, const void *key)
{
	const struct tree *t = ctx;
	const struct string_key *k = key;

	return strncmp(t->strings[idx], k->s, k->n) == 0 && t->strings[idx][k->n] == 0;
}

static int string_intern(struct tree *t, const char *s, uint32_t *idx)
{
	struct string_key key = { s, strlen(s) };
	uint64_t hash = pprof_hash_bytes(s, key.n);
	struct slot *slot;
	int err;

	err = pprof_index_reserve(&t->string_index);
	if (err)
		return err;
	slot = pprof_index_find(&t->string_index, hash, string_eq, t, &key);
	if (slot->idx1) {
		*idx = slot->idx1 - 1;
		return 0;
	}
	err = ARRAY_RESERVE(t, strings, 1, PPROF_MAX_ENTRIES);
	if (err)
		return err;
	t->strings[t->nstrings] = strdup(s);
	if (!t->strings[t->nstrings])
		return -ENOMEM;
	pprof_index_insert(&t->string_index, slot, hash, t->nstrings);
	*idx = (uint32_t)t->nstrings++;
	return 0;
}

/* A string of the builder, interned in the tree once. */
static int string_from_pprof(struct tree *t, uint32_t pidx, uint32_t *idx)
{
	int err;

	if (t->from_pprof[pidx]) {
		*idx = t->from_pprof[pidx] - 1;
		return 0;
	}
	err = string_intern(t, t->p->strings[pidx], idx);
	if (!err)
		t->from_pprof[pidx] = *idx + 1;
	return err;
}

/* ---- the frames of a location ---- */

static int add_frame(struct tree *t, const struct frame_key *k)
{
	int err = ARRAY_RESERVE(t, frames, 1, PPROF_MAX_SAMPLE_FRAMES);

	if (!err)
		t->frames[t->nframes++] = *k;
	return err;
}

/* The frames of location loc_id, root-most (the outer function) first. */
static int location_frames(struct tree *t, uint64_t loc_id, const struct frame_key **frames,
			   uint32_t *n)
{
	const struct pprof *p = t->p;
	const struct location_rec *loc = &p->locations[loc_id - 1];
	const struct mapping_rec *m = loc->mapping_id ? &p->mappings[loc->mapping_id - 1] : NULL;
	struct frame_key k = { .kind = PPROF_FLAME_NATIVE };
	size_t first = t->nframes;
	int err;

	if (t->loc_n[loc_id - 1] != NONE)
		goto out;
	if (m) {
		err = string_from_pprof(t, m->filename, &k.lib);
		if (err)
			return err;
		k.kind = m->is_kernel ? PPROF_FLAME_KERNEL : m->is_jit ? PPROF_FLAME_JIT
								   : PPROF_FLAME_NATIVE;
	}
	if (!loc->nlines) {
		const char *file = m ? p->strings[m->filename] : "";
		const char *base = strrchr(file, '/');
		char addr[256];

		/* the folded output's spelling: file+offset is what a reader
		 * needs to symbolize the frame later */
		base = base ? base + 1 : file;
		if (!loc->address)
			snprintf(addr, sizeof(addr), "[unknown]");
		else if (m && base[0] && loc->address >= m->memory_start)
			snprintf(addr, sizeof(addr), "%.200s+0x%" PRIx64, base,
				 loc->address - m->memory_start + m->file_offset);
		else
			snprintf(addr, sizeof(addr), "0x%" PRIx64, loc->address);
		k.kind = PPROF_FLAME_UNSYMBOLIZED;
		err = string_intern(t, addr, &k.name);
		if (!err)
			err = add_frame(t, &k);
		if (err)
			return err;
	}
	/* the last line is the outermost caller */
	for (size_t i = loc->nlines; i-- > 0;) {
		const struct line_rec *line = &p->lines[loc->first_line + i];
		const struct function_rec *fn = &p->functions[line->function_idx];

		k.line = line->line;
		if (p->strings[fn->name][0])
			err = string_from_pprof(t, fn->name, &k.name);
		else
			err = string_intern(t, "[unknown]", &k.name);
		if (!err)
			err = string_from_pprof(t, fn->filename, &k.file);
		if (!err)
			err = add_frame(t, &k);
		if (err)
			return err;
	}
	t->loc_first[loc_id - 1] = first;
	t->loc_n[loc_id - 1] = (uint32_t)(t->nframes - first);
out:
	*frames = t->frames + t->loc_first[loc_id - 1];
	*n = t->loc_n[loc_id - 1];
	return 0;
}

/* ---- nodes ---- */

/* A function is one node under one parent whatever line each sample
 * was at (pprof's -lines would split it): the node keeps the first line
 * seen of it, the smallest. */
static bool frame_eq(const struct frame_key *a, const struct frame_key *b)
{
	return a->name == b->name && a->lib == b->lib && a->file == b->file &&
	       a->kind == b->kind;
}

static bool node_eq(const void *ctx, uint32_t idx, const void *key)
{
	const struct tree *t = ctx;
	const struct node_key *k = key;

	return t->nodes[idx].parent == k->parent && frame_eq(&t->nodes[idx].k, k->k);
}

static int add_node(struct tree *t, uint32_t parent, const struct frame_key *k)
{
	int err = ARRAY_RESERVE(t, nodes, 1, PPROF_MAX_ENTRIES);

	if (err)
		return err;
	t->nodes[t->nnodes] = (struct tree_node){
		.k = *k, .parent = parent, .first_child = NONE, .next_sibling = NONE,
	};
	if (parent != NONE) {
		t->nodes[t->nnodes].next_sibling = t->nodes[parent].first_child;
		t->nodes[parent].first_child = (uint32_t)t->nnodes;
	}
	t->nnodes++;
	return 0;
}

/* The child of parent for frame k, made if new; adds value to its total. */
static int child(struct tree *t, uint32_t parent, const struct frame_key *k, int64_t value,
		 uint32_t *idx)
{
	struct node_key key = { parent, k };
	uint64_t hash = pprof_hash_mix(pprof_hash_mix(pprof_hash_mix(pprof_hash_mix(
		pprof_hash_mix(0, parent), k->name), k->lib), k->file), k->kind);
	struct slot *slot;
	int err;

	err = pprof_index_reserve(&t->node_index);
	if (err)
		return err;
	slot = pprof_index_find(&t->node_index, hash, node_eq, t, &key);
	if (slot->idx1) {
		struct frame_key *have = &t->nodes[slot->idx1 - 1].k;

		*idx = slot->idx1 - 1;
		if (k->line > 0 && (!have->line || k->line < have->line))
			have->line = k->line;
	} else {
		err = add_node(t, parent, k);
		if (err)
			return err;
		*idx = (uint32_t)t->nnodes - 1;
		pprof_index_insert(&t->node_index, slot, hash, *idx);
	}
	if (t->nodes[*idx].total > INT64_MAX - value)
		return -EOVERFLOW;
	t->nodes[*idx].total += value;
	return 0;
}

static const char *sample_comm(const struct pprof *p, const struct sample_rec *s)
{
	for (size_t i = 0; i < s->nlabels; i++) {
		const struct label_rec *l = &p->labels[s->first_label + i];

		if (l->key == p->s_comm && l->str && p->strings[l->str][0])
			return p->strings[l->str];
	}
	return "[unknown]";
}

static int add_sample(struct tree *t, const struct sample_rec *s)
{
	const struct pprof *p = t->p;
	int64_t value = s->value; /* nanoseconds, on or off the CPU */
	struct frame_key k = { .kind = PPROF_FLAME_PROCESS };
	uint32_t node;
	int err;

	if (t->nodes[0].total > INT64_MAX - value || t->samples > INT64_MAX - s->count)
		return -EOVERFLOW;
	t->nodes[0].total += value;
	t->samples += s->count;
	err = string_intern(t, sample_comm(p, s), &k.name);
	if (!err)
		err = child(t, 0, &k, value, &node);
	/* sample_locs is leaf first */
	for (size_t i = s->nlocs; !err && i-- > 0;) {
		const struct frame_key *frames;
		uint32_t n;

		err = location_frames(t, p->sample_locs[s->first_loc + i], &frames, &n);
		for (uint32_t j = 0; !err && j < n; j++)
			err = child(t, node, &frames[j], value, &node);
	}
	if (!err)
		t->nodes[node].self += value;
	return err;
}

static void tree_release(struct tree *t)
{
	for (size_t i = 0; i < t->nstrings; i++)
		free(t->strings[i]);
	free(t->strings);
	pprof_index_release(&t->string_index);
	free(t->from_pprof);
	free(t->frames);
	free(t->loc_first);
	free(t->loc_n);
	free(t->nodes);
	pprof_index_release(&t->node_index);
}

static int tree_build(struct pprof *p, struct tree *t)
{
	struct frame_key root = { .kind = PPROF_FLAME_ROOT };
	uint32_t empty;
	int err;

	t->p = p;
	t->from_pprof = calloc(p->nstrings + 1, sizeof(*t->from_pprof));
	t->loc_first = calloc(p->nlocations + 1, sizeof(*t->loc_first));
	t->loc_n = malloc((p->nlocations + 1) * sizeof(*t->loc_n));
	if (!t->from_pprof || !t->loc_first || !t->loc_n)
		return -ENOMEM;
	memset(t->loc_n, 0xff, (p->nlocations + 1) * sizeof(*t->loc_n));
	/* "" first: index 0 means none in lib and file */
	err = string_intern(t, "", &empty);
	if (!err)
		err = string_intern(t, "all", &root.name);
	if (!err)
		err = add_node(t, NONE, &root);
	for (size_t i = 0; !err && i < p->nsamples; i++)
		err = add_sample(t, &p->samples[i]);
	return err;
}

/* ---- preorder, truncation and the result ---- */

static int sibling_cmp(const void *a, const void *b, void *ctx)
{
	const struct tree *t = ctx;
	const struct frame_key *x = &t->nodes[*(const uint32_t *)a].k;
	const struct frame_key *y = &t->nodes[*(const uint32_t *)b].k;
	int c = strcmp(t->strings[x->name], t->strings[y->name]);

	if (!c)
		c = strcmp(t->strings[x->lib], t->strings[y->lib]);
	if (!c)
		c = strcmp(t->strings[x->file], t->strings[y->file]);
	if (!c)
		c = x->line < y->line ? -1 : x->line > y->line;
	if (!c)
		c = x->kind < y->kind ? -1 : x->kind > y->kind;
	return c;
}

/* order[] gets the nodes in preorder, siblings sorted (sibling_cmp). */
static int preorder(const struct tree *t, uint32_t *order)
{
	_cleanup_free_ uint32_t *stack = malloc(t->nnodes * sizeof(*stack));
	size_t top = 0, n = 0;

	if (!stack)
		return -ENOMEM;
	stack[top++] = 0;
	while (top) {
		uint32_t v = stack[--top];
		size_t first = top;

		order[n++] = v;
		for (uint32_t c = t->nodes[v].first_child; c != NONE; c = t->nodes[c].next_sibling)
			stack[top++] = c;
		/* sorted descending on the stack, so the first pops first */
		qsort_r(stack + first, top - first, sizeof(*stack), sibling_cmp, (void *)t);
		for (size_t i = first, j = top; i + 1 < j; i++, j--) {
			uint32_t tmp = stack[i];

			stack[i] = stack[j - 1];
			stack[j - 1] = tmp;
		}
	}
	return 0;
}

struct width_rank {
	int64_t total;
	uint32_t pos; /* in preorder */
};

static int width_cmp(const void *a, const void *b)
{
	const struct width_rank *x = a, *y = b;

	if (x->total != y->total)
		return x->total > y->total ? -1 : 1;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* keep[pos] for the max_nodes widest nodes: a child is never wider than
 * its parent and comes after it in preorder, so they form a tree. */
static int choose_kept(const struct tree *t, const uint32_t *order, size_t max_nodes,
		       bool *keep)
{
	_cleanup_free_ struct width_rank *rank = malloc(t->nnodes * sizeof(*rank));

	if (!rank)
		return -ENOMEM;
	for (size_t i = 0; i < t->nnodes; i++)
		rank[i] = (struct width_rank){ t->nodes[order[i]].total, (uint32_t)i };
	qsort(rank, t->nnodes, sizeof(*rank), width_cmp);
	for (size_t i = 0; i < max_nodes && i < t->nnodes; i++)
		keep[rank[i].pos] = true;
	return 0;
}

static int flame_alloc(struct pprof_flame *f, size_t n)
{
	f->name = calloc(n, sizeof(*f->name));
	f->lib = calloc(n, sizeof(*f->lib));
	f->file = calloc(n, sizeof(*f->file));
	f->line = calloc(n, sizeof(*f->line));
	f->kind = calloc(n, sizeof(*f->kind));
	f->parent = calloc(n, sizeof(*f->parent));
	f->total = calloc(n, sizeof(*f->total));
	f->self = calloc(n, sizeof(*f->self));
	f->strings = calloc(n * 3 + 2, sizeof(*f->strings));
	return f->name && f->lib && f->file && f->line && f->kind && f->parent && f->total &&
	       f->self && f->strings ? 0 : -ENOMEM;
}

/* The string of the tree at idx, as the flame's (in order of first use). */
static void flame_string(struct pprof_flame *f, struct tree *t, uint32_t *remap, uint32_t idx,
			 uint32_t *out)
{
	if (!remap[idx]) {
		f->strings[f->nstrings] = t->strings[idx];
		t->strings[idx] = NULL; /* moved */
		remap[idx] = (uint32_t)++f->nstrings;
	}
	*out = remap[idx] - 1;
}

/* Fills f with the kept nodes of t in preorder. */
static int flame_fill(struct pprof_flame *f, struct tree *t, const uint32_t *order,
		      const bool *keep, size_t nkept)
{
	_cleanup_free_ uint32_t *new_index = malloc(t->nnodes * sizeof(*new_index));
	_cleanup_free_ uint32_t *remap = calloc(t->nstrings, sizeof(*remap));
	uint32_t empty;
	size_t n = 0;
	int err;

	if (!new_index || !remap)
		return -ENOMEM;
	err = flame_alloc(f, nkept);
	if (err)
		return err;
	flame_string(f, t, remap, 0, &empty);
	for (size_t i = 0; i < t->nnodes; i++) {
		const struct tree_node *node = &t->nodes[order[i]];

		new_index[order[i]] = NONE;
		if (!keep[i]) {
			/* the first dropped node of a subtree: its parent is kept */
			if (new_index[node->parent] != NONE)
				f->self[new_index[node->parent]] += node->total;
			continue;
		}
		new_index[order[i]] = (uint32_t)n;
		flame_string(f, t, remap, node->k.name, &f->name[n]);
		flame_string(f, t, remap, node->k.lib, &f->lib[n]);
		flame_string(f, t, remap, node->k.file, &f->file[n]);
		f->line[n] = node->k.line;
		f->kind[n] = (uint8_t)node->k.kind;
		f->parent[n] = node->parent == NONE ? -1 : (int32_t)new_index[node->parent];
		f->total[n] = node->total;
		f->self[n] += node->self;
		n++;
	}
	f->n = n;
	return 0;
}

void pprof_flame__free(struct pprof_flame *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->nstrings; i++)
		free(f->strings[i]);
	free(f->strings);
	free(f->name);
	free(f->lib);
	free(f->file);
	free(f->line);
	free(f->kind);
	free(f->parent);
	free(f->total);
	free(f->self);
	free(f);
}

int pprof_flame__new(struct pprof *p, const struct pprof_flame_opts *opts,
		     struct pprof_flame **out)
{
	_cleanup_free_ uint32_t *order = NULL;
	_cleanup_free_ bool *keep = NULL;
	struct pprof_flame *f = NULL;
	struct tree t = {};
	size_t nkept;
	int err;

	if (!p || !out)
		return -EINVAL;
	err = tree_build(p, &t);
	if (err)
		goto fail;
	order = malloc(t.nnodes * sizeof(*order));
	keep = malloc(t.nnodes * sizeof(*keep));
	f = calloc(1, sizeof(*f));
	if (!order || !keep || !f) {
		err = -ENOMEM;
		goto fail;
	}
	err = preorder(&t, order);
	if (err)
		goto fail;
	nkept = t.nnodes;
	if (opts && opts->max_nodes && t.nnodes > opts->max_nodes) {
		memset(keep, 0, t.nnodes * sizeof(*keep));
		err = choose_kept(&t, order, opts->max_nodes, keep);
		if (err)
			goto fail;
		nkept = opts->max_nodes;
		f->truncated = true;
	} else {
		memset(keep, 1, t.nnodes * sizeof(*keep));
	}
	err = flame_fill(f, &t, order, keep, nkept);
	if (err)
		goto fail;
	f->samples = t.samples;
	f->start_unix_ns = p->opts.time_nanos;
	f->duration_ns = p->opts.duration_nanos;
	f->type = p->opts.type;
	tree_release(&t);
	*out = f;
	return 0;
fail:
	tree_release(&t);
	pprof_flame__free(f);
	return err;
}

/* ---- JSON ---- */

int pprof_flame__json_string(struct buf *out, const char *s)
{
	size_t n = strlen(s), start = out->len;
	int err = LIT(out, "\"");

	for (size_t i = 0; !err && i < n;) {
		const uint8_t *c = (const uint8_t *)s + i;
		size_t len = utf8_seq_len(c, n - i);

		if (!len) {
			err = LIT(out, "?");
			i++;
		} else if (len == 3 && c[0] == 0xe2 && c[1] == 0x80 && (c[2] == 0xa8 || c[2] == 0xa9)) {
			/* U+2028/9 end a line in JavaScript before ES2019 */
			err = buf_printf(out, "\\u%04x", c[2] == 0xa8 ? 0x2028 : 0x2029);
			i += len;
		} else if (len == 1 && (*c < 0x20 || *c == '<' || *c == '>' || *c == '&')) {
			err = buf_printf(out, "\\u%04x", *c);
			i++;
		} else if (len == 1 && (*c == '"' || *c == '\\')) {
			err = buf_printf(out, "\\%c", *c);
			i++;
		} else {
			err = buf_append(out, c, len);
			i += len;
		}
	}
	if (!err)
		err = LIT(out, "\"");
	if (err)
		out->len = start;
	return err;
}

/* One column of the nodes object: sep "\"key\":[" then n values. */
#define JSON_COLUMN(f, out, sep, fmt, field)                                  \
	({                                                                    \
		int e_ = buf_append(out, sep, strlen(sep));                   \
		for (size_t i_ = 0; !e_ && i_ < (f)->n; i_++)                 \
			e_ = buf_printf(out, i_ ? "," fmt : fmt, (f)->field[i_]); \
		e_ ? e_ : LIT(out, "]");                            \
	})

int pprof_flame__write_json(const struct pprof_flame *f, struct buf *out)
{
	size_t start = out->len;
	int err;

	err = buf_printf(out, "{\"version\":1,\"sample_type\":\"%s\",\"unit\":\"nanoseconds\","
			 "\"total\":%" PRId64 ",\"samples\":%" PRId64 ",\"start_unix_ns\":%" PRId64
			 ",\"duration_ns\":%" PRId64 ",\"strings\":[",
			 (unsigned)f->type < PPROF_TYPE_MAX ? pprof_type_names[f->type] : "cpu",
			 f->n ? f->total[0] : 0, f->samples, f->start_unix_ns, f->duration_ns);
	for (size_t i = 0; !err && i < f->nstrings; i++) {
		if (i)
			err = LIT(out, ",");
		if (!err)
			err = pprof_flame__json_string(out, f->strings[i]);
	}
	if (!err)
		err = LIT(out, "],\"nodes\":{");
	if (!err)
		err = JSON_COLUMN(f, out, "\"name\":[", "%" PRIu32, name);
	if (!err)
		err = JSON_COLUMN(f, out, ",\"lib\":[", "%" PRIu32, lib);
	if (!err)
		err = JSON_COLUMN(f, out, ",\"file\":[", "%" PRIu32, file);
	if (!err)
		err = JSON_COLUMN(f, out, ",\"line\":[", "%" PRId64, line);
	if (!err)
		err = JSON_COLUMN(f, out, ",\"kind\":[", "%u", kind);
	if (!err)
		err = JSON_COLUMN(f, out, ",\"parent\":[", "%" PRId32, parent);
	if (!err)
		err = JSON_COLUMN(f, out, ",\"total\":[", "%" PRId64, total);
	if (!err)
		err = JSON_COLUMN(f, out, ",\"self\":[", "%" PRId64, self);
	if (!err)
		err = buf_printf(out, "},\"truncated\":%s}\n", f->truncated ? "true" : "false");
	if (err)
		out->len = start;
	return err;
}
