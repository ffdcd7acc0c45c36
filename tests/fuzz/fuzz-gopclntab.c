/* libFuzzer target: gopclntab__new on arbitrary bytes as a Go binary's
 * .gopclntab, then lookups at PCs taken from the input's own words (as
 * offsets from the header's text start, and as addresses): a hit names a
 * function starting at or below the PC, with strings that end inside the
 * table's copy (ASan); the input is its own funcdata too, so inline trees
 * are read from hostile bytes as well. Then every function's pcsp runs
 * (the unwinder's input): inside the function, ascending, ending. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "symbolize/gopclntab.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_lookup(const struct gopclntab *tab, uint64_t pc)
{
	struct gopclntab_frame frames[4], again;
	int n = gopclntab__lookup(tab, pc, frames, 4);
	struct gopclntab_frame f;

	if (n <= 0)
		return;
	if (n > 4)
		abort();
	for (int i = 0; i < n - 1; i++)
		if (!frames[i].function)
			abort();
	f = frames[n - 1];
	/* pc + 1: the byte of padding before a function is its (gopclntab.h) */
	if (!f.function || f.entry > pc + 1)
		abort();
	/* the strings end inside the copy */
	(void)strlen(f.function);
	if (f.file)
		(void)strlen(f.file);
	/* a sorted table finds the function at its entry again (a hostile
	 * one need not be sorted: then only that the lookup is safe) */
	if (gopclntab__lookup(tab, f.entry, &again, 1) == 1 && again.entry > f.entry + 1)
		abort();
}

static void check_pcsp(const struct gopclntab *tab)
{
	size_t n = gopclntab__func_count(tab);

	for (size_t i = 0; i < n && i < 4096; i++) {
		struct gopclntab_func f;
		struct gopclntab_pcvalue it;
		uint64_t start, end, last;
		int32_t v;
		int r;

		if (gopclntab__func(tab, i, &f) != 0)
			continue;
		if (f.entry >= f.end || !f.name)
			abort();
		(void)strlen(f.name);
		last = f.entry;
		gopclntab__pcsp_begin(tab, &f, &it);
		while ((r = gopclntab__pcvalue_next(&it, &start, &end, &v)) > 0)
			if (start != last || end <= start || end > f.end)
				abort();
			else
				last = end;
		if (r != 0 && r != -EINVAL)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gopclntab *tab = NULL;
	uint64_t text = 0;

	if (gopclntab__new(data, size, 0, &tab) != 0) {
		if (tab)
			abort();
		return 0;
	}
	if (size >= 32)
		memcpy(&text, data + 24, 8);
	/* the input is also the funcdata (inline trees) and the data section
	 * moduledata is looked for in: gofunc from the header's nfiles word,
	 * or from a moduledata the input holds */
	if (size >= 24) {
		uint64_t gofunc;

		memcpy(&gofunc, data + 16, 8);
		(void)gopclntab__find_gofunc(tab, data, size, text, &gofunc);
		if (gopclntab__set_funcdata(tab, data, size, gofunc, gofunc) != 0)
			abort();
	}
	for (size_t off = 0; off + 4 <= size && off < 4096; off += 4) {
		uint32_t w;

		memcpy(&w, data + off, 4);
		check_lookup(tab, text + w);
		check_lookup(tab, w);
	}
	check_lookup(tab, 0);
	check_lookup(tab, UINT64_MAX);
	check_pcsp(tab);
	gopclntab__free(tab);
	return 0;
}
