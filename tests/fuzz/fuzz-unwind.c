/* libFuzzer target: arbitrary bytes as an in-memory ELF image through
 * cfi_rows__build (the CFI checks, libdw's CFI readers, the row walk and
 * rule classification) and go_rows__build (a .gopclntab's rows merged in)
 * with a deadline and the default memory bound, as
 * the agent's workers build, then unwind_table__build and a lookup of
 * every row. The deadline is 100 ms, shorter than the agent's: inputs
 * within the work bounds can take a few hundred ms, and the fuzzer would
 * spend its time on them. Its test gives each input 2 s and 1 GiB
 * (tests/fuzz/meson.build): a build over either did not keep its limits (one
 * libdw call too long, memory not accounted), as the crafted .eh_frame
 * of issue 9 (8-18 s, ~800 MB) would not have. */
#include <errno.h>
#include <libelf.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "unwind/cfi_rows.h"
#include "unwind/go_rows.h"
#include "unwind/unwind_table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct unwind_rules *rules;
	struct cfi_limits limits = { 0 };
	struct timespec now;
	struct cfi_rows *rows = NULL;
	struct unwind_table *table = NULL;
	char *image;
	Elf *elf;

	if (!rules) {
		elf_version(EV_CURRENT);
		if (unwind_rules__new(&rules))
			abort();
	}
	/* libelf may write to an elf_memory() image */
	image = malloc(size ? size : 1);
	if (!image)
		return 0;
	memcpy(image, data, size);
	elf = elf_memory(image, size);
	clock_gettime(CLOCK_MONOTONIC, &now);
	limits.deadline_ns = (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec +
			     100000000u;
	if (elf) {
		int err = cfi_rows__build(elf, NULL, &limits, &rows);

		/* a Go binary's rows merged in, as the agent builds them */
		if (!err || err == -ENOENT) {
			struct cfi_rows *merged = NULL;

			if (go_rows__build(elf, rows, &limits, &merged) == 0) {
				cfi_rows__free(rows);
				rows = merged;
			}
			if (!rows)
				goto out;
		} else {
			goto out;
		}
		if (rows->count && rows->rows[rows->count - 1].rule.cfa_kind != UNWIND_CFA_NONE)
			abort();
		for (size_t i = 1; i < rows->count; i++)
			if (rows->rows[i].pc <= rows->rows[i - 1].pc)
				abort();
		if (unwind_table__build(rows, rules, &table) == 0) {
			for (size_t i = 0; i < rows->count; i++) {
				const struct unwind_rule *r = unwind_rules__get(
					rules, unwind_table__lookup(table, rows->rows[i].pc));

				if (!r || (memcmp(r, &rows->rows[i].rule, sizeof(*r)) != 0 &&
					   r->reason != UNWIND_REASON_RULES_FULL))
					abort();
			}
			unwind_table__free(table);
		}
		cfi_rows__free(rows);
	}
out:
	if (elf)
		elf_end(elf);
	free(image);
	return 0;
}
