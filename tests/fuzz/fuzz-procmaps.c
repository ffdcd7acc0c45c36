/* libFuzzer target: procmaps__parse on arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>

#include "symbolize/procmaps.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct procmaps *maps = NULL;

	if (procmaps__parse((const char *)data, size, &maps) == 0) {
		for (size_t i = 0; i < maps->count; i++)
			procmaps__find(maps, maps->entries[i].start);
		procmaps__free(maps);
	}
	return 0;
}
