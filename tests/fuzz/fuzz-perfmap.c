/* libFuzzer target: a JIT's perf map, written by the profiled process
 * (untrusted): perfmap__parse on arbitrary bytes, then lookups around
 * every entry it kept. */
#include <stddef.h>
#include <stdint.h>

#include "symbolize/perfmap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct perfmap *pm = NULL;
	struct perfmap_entry e;

	if (perfmap__parse((const char *)data, size, &pm) != 0)
		return 0;
	/* every address a line could name, and its neighbours */
	for (size_t i = 0; i + 8 <= size; i += 8) {
		uint64_t a = 0;

		for (int k = 0; k < 8; k++)
			a = a << 8 | data[i + k];
		perfmap__lookup(pm, a, &e);
		perfmap__lookup(pm, a - 1, &e);
	}
	perfmap__lookup(pm, 0, &e);
	perfmap__lookup(pm, UINT64_MAX, &e);
	(void)perfmap__bytes(pm);
	perfmap__free(pm);
	return 0;
}
