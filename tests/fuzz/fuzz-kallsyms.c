/* libFuzzer target: kallsyms__parse on arbitrary bytes as /proc/kallsyms,
 * then lookups at each line's leading address and around it: a hit names
 * a symbol at or below the address, and that symbol's own address finds
 * it again. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "symbolize/kallsyms.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_lookup(const struct kallsyms *ks, uint64_t addr)
{
	struct kallsyms_sym sym, again;

	if (kallsyms__lookup(ks, addr, &sym) != 0)
		return;
	if (!sym.name || sym.addr > addr)
		abort();
	if (kallsyms__lookup(ks, sym.addr, &again) != 0 || again.addr != sym.addr)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kallsyms *ks = NULL;
	char *text;
	size_t lines = 0;
	int rc = kallsyms__parse((const char *)data, size, &ks);

	if (rc != 0) {
		if (ks)
			abort();
		return 0;
	}
	text = malloc(size + 1);
	if (!text)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	for (char *line = text; line && *line && lines < 1024; lines++) {
		char *nl = strchr(line, '\n');
		uint64_t addr = strtoull(line, NULL, 16);

		check_lookup(ks, addr);
		check_lookup(ks, addr - 1);
		check_lookup(ks, addr + 1);
		line = nl ? nl + 1 : NULL;
	}
	check_lookup(ks, 0);
	check_lookup(ks, UINT64_MAX);
	free(text);
	kallsyms__free(ks);
	return 0;
}
