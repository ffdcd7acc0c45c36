/* libFuzzer target: gopclntab__new on arbitrary bytes as a Go binary's
 * .gopclntab, then lookups at PCs taken from the input's own words (as
 * offsets from the header's text start, and as addresses): a hit names a
 * function starting at or below the PC, with strings that end inside the
 * table's copy (ASan). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "symbolize/gopclntab.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_lookup(const struct gopclntab *tab, uint64_t pc)
{
	struct gopclntab_frame f, again;

	if (gopclntab__lookup(tab, pc, &f) != 0)
		return;
	if (!f.function || f.entry > pc)
		abort();
	/* the strings end inside the copy */
	(void)strlen(f.function);
	if (f.file)
		(void)strlen(f.file);
	/* a sorted table finds the function at its entry again (a hostile
	 * one need not be sorted: then only that the lookup is safe) */
	if (gopclntab__lookup(tab, f.entry, &again) == 0 && again.entry > f.entry)
		abort();
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
	for (size_t off = 0; off + 4 <= size && off < 4096; off += 4) {
		uint32_t w;

		memcpy(&w, data + off, 4);
		check_lookup(tab, text + w);
		check_lookup(tab, w);
	}
	check_lookup(tab, 0);
	check_lookup(tab, UINT64_MAX);
	gopclntab__free(tab);
	return 0;
}
