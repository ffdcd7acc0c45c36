#include "symbolize/kallsyms.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/macros.h"
#include "common/parse.h"

/* /proc/kallsyms is ~15 MiB on a distro kernel with every module
 * loaded; four times that is not a kallsyms file. */
#define KALLSYMS_MAX_BYTES (64u << 20)
/* No kernel function is this long; past it, an address that follows the
 * last symbol of a region (end of a module, end of core text) is not
 * that symbol's. */
#define KALLSYMS_MAX_SYMBOL_SIZE (1u << 20)

struct ksym {
	uint64_t addr;
	uint32_t name_off, module_off; /* into names; module_off 0 = none */
	uint32_t order;                /* file order, for stable ties */
	bool global;
};

struct kallsyms {
	struct ksym *syms;
	size_t count;
	char *names; /* "\0" then NUL-terminated names and module names */
};

void kallsyms__free(struct kallsyms *ks)
{
	if (!ks)
		return;
	free(ks->syms);
	free(ks->names);
	free(ks);
}

DEFINE_CLEANUP(struct kallsyms, kallsyms__free);

static int ksym_cmp(const void *a, const void *b)
{
	const struct ksym *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	if (x->global != y->global)
		return x->global ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static int append_name(struct buf *names, const char *s, size_t n, uint32_t *off)
{
	int err;

	if (names->len + n + 1 > UINT32_MAX)
		return -E2BIG;
	*off = (uint32_t)names->len;
	err = buf_append(names, s, n);
	if (!err)
		err = buf_append(names, "", 1);
	return err;
}

/* One line: "ADDR TYPE NAME" or "ADDR TYPE NAME\t[MODULE]". Returns 1 if
 * it is a text symbol to keep, 0 to skip, -EINVAL if malformed. */
static int parse_line(const char *p, const char *end, uint64_t *addr,
		      const char **name, size_t *name_len, const char **module,
		      size_t *module_len, bool *global)
{
	uint64_t v = 0;
	const char *tab;
	char type;

	if (parse_hex_prefix(&p, end, &v) || end - p < 4 || p[0] != ' ' || p[2] != ' ')
		return -EINVAL;
	type = p[1];
	p += 3;
	tab = memchr(p, '\t', (size_t)(end - p));
	*name = p;
	*name_len = (size_t)((tab ? tab : end) - p);
	*module = NULL;
	*module_len = 0;
	if (*name_len == 0 || memchr(p, ' ', *name_len) || memchr(p, '\0', *name_len))
		return -EINVAL;
	if (tab) {
		const char *m = tab + 1;

		if (end - m < 3 || m[0] != '[' || end[-1] != ']' ||
		    memchr(m, '\0', (size_t)(end - m)))
			return -EINVAL;
		*module = m + 1;
		*module_len = (size_t)(end - m - 2);
	}
	*addr = v;
	*global = type == 'T' || type == 'W';
	return type == 't' || type == 'T' || type == 'w' || type == 'W';
}

int kallsyms__parse(const char *text, size_t len, struct kallsyms **out)
{
	_cleanup_(cleanup_kallsyms__free) struct kallsyms *ks = NULL;
	struct buf names = { 0 };
	const char *p = text, *end = text + len;
	const char *last_module = NULL;
	size_t last_module_len = 0, cap = 0, lines = 0;
	uint32_t last_module_off = 0;
	bool any_nonzero = false;
	int err = 0;

	ks = calloc(1, sizeof(*ks));
	if (!ks)
		return -ENOMEM;
	err = buf_append(&names, "", 1); /* offset 0 means "no module" */
	while (!err && p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *name, *module;
		size_t name_len, module_len;
		uint64_t addr;
		bool global;
		struct ksym *k;
		int keep;

		if (!eol)
			eol = end;
		keep = parse_line(p, eol, &addr, &name, &name_len, &module,
				  &module_len, &global);
		p = eol + 1;
		lines++;
		if (keep < 0) {
			err = keep;
			break;
		}
		if (addr)
			any_nonzero = true;
		if (!keep)
			continue;
		if (ks->count == cap) {
			size_t ncap = cap ? cap * 2 : 4096;
			void *n = reallocarray(ks->syms, ncap, sizeof(*ks->syms));

			if (!n) {
				err = -ENOMEM;
				break;
			}
			ks->syms = n;
			cap = ncap;
		}
		k = &ks->syms[ks->count];
		*k = (struct ksym){ .addr = addr, .global = global,
				    .order = (uint32_t)ks->count };
		err = append_name(&names, name, name_len, &k->name_off);
		/* a module's symbols come in one run: store its name once */
		if (!err && module) {
			if (!last_module || module_len != last_module_len ||
			    memcmp(module, last_module, module_len) != 0) {
				err = append_name(&names, module, module_len,
						  &last_module_off);
				last_module = module;
				last_module_len = module_len;
			}
			k->module_off = last_module_off;
		}
		if (!err)
			ks->count++;
	}
	if (!err && lines > 0 && !any_nonzero)
		err = -EPERM;
	if (err) {
		buf_release(&names);
		return err;
	}
	ks->names = (char *)TAKE_PTR(names.data);
	if (ks->count) /* syms is NULL without a text symbol */
		qsort(ks->syms, ks->count, sizeof(*ks->syms), ksym_cmp);
	size_t kept = 0;
	for (size_t i = 0; i < ks->count; i++)
		if (kept == 0 || ks->syms[kept - 1].addr != ks->syms[i].addr)
			ks->syms[kept++] = ks->syms[i];
	ks->count = kept;
	*out = TAKE_PTR(ks);
	return 0;
}

int kallsyms__load(const char *path, struct kallsyms **out)
{
	struct buf text = { 0 };
	int err = buf_read_file(path ? path : "/proc/kallsyms", &text,
				KALLSYMS_MAX_BYTES);

	if (!err)
		err = kallsyms__parse((const char *)text.data, text.len, out);
	buf_release(&text);
	return err;
}

int kallsyms__lookup(const struct kallsyms *ks, uint64_t addr,
		     struct kallsyms_sym *sym)
{
	const struct ksym *k;
	size_t lo;

	if (!ks)
		return -ENOENT;
	lo = PARTITION_POINT(ks->count, mid, ks->syms[mid].addr <= addr);
	if (lo == 0)
		return -ENOENT;
	k = &ks->syms[lo - 1];
	if (addr - k->addr >= KALLSYMS_MAX_SYMBOL_SIZE)
		return -ENOENT;
	sym->addr = k->addr;
	sym->name = ks->names + k->name_off;
	sym->module = k->module_off ? ks->names + k->module_off : NULL;
	return 0;
}

size_t kallsyms__count(const struct kallsyms *ks)
{
	return ks ? ks->count : 0;
}
