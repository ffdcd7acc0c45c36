/* unwind-dump: prints the CFI rows brasa derives from ELF files, for
 * humans and for tests/unit/unwind-vs-readelf.py.
 *
 *   unwind-dump [--debug FILE] [--go] FILE   rows of FILE (--go: with the
 *                                            rows of its Go code merged in,
 *                                            unwind/go_rows.h, as the agent
 *                                            builds them)
 *   unwind-dump --table [--quiet] FILE...    also the unwind table of
 *                                            each file, its size, and a
 *                                            lookup check of every row;
 *                                            then the distinct rules of
 *                                            all files together
 *
 * Row lines are "0x<pc> <rule>" (see cfi_rule_format), one per libdw
 * frame row, in address order; other lines start with '#'. Files that are
 * not x86-64 ELF objects with CFI are reported on a '#' line and skipped
 * with --table, an error otherwise. Exit status 1 if a lookup check fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/macros.h"
#include "unwind/cfi_rows.h"
#include "unwind/go_rows.h"
#include "unwind/unwind_table.h"

static int usage(void)
{
	fprintf(stderr, "usage: unwind-dump [--debug FILE] [--go] [--table] [--quiet] FILE...\n");
	return 2;
}

/* Every row start and row end-1 must map to the row's rule. */
static size_t check_lookups(const struct cfi_rows *rows, const struct unwind_table *t,
			    const struct unwind_rules *rules)
{
	size_t bad = 0;

	for (size_t i = 0; i < rows->count; i++) {
		const struct cfi_row *row = &rows->rows[i];
		uint64_t last = i + 1 < rows->count ? rows->rows[i + 1].pc - 1 : row->pc;
		uint64_t probes[] = { row->pc, last };

		for (size_t k = 0; k < ARRAY_SIZE(probes); k++) {
			const struct unwind_rule *got =
				unwind_rules__get(rules, unwind_table__lookup(t, probes[k]));

			if (!got || memcmp(got, &row->rule, sizeof(*got)) != 0) {
				if (bad++ < 5)
					fprintf(stderr, "lookup(0x%" PRIx64 ") wrong\n", probes[k]);
			}
		}
	}
	return bad;
}

/* The Go rows merged into *rows (NULL: none): 0 or negative errno;
 * -ENOENT when there are neither. */
static int add_go_rows(int fd, struct cfi_rows **rows)
{
	Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	struct cfi_rows *merged = NULL;
	int err = elf ? go_rows__build(elf, *rows, NULL, &merged) : -ENOEXEC;

	elf_end(elf);
	if (!err) {
		cfi_rows__free(*rows);
		*rows = merged;
	} else if (err == -ENOENT && *rows) {
		err = 0;
	}
	return err;
}

int main(int argc, char **argv)
{
	const char *debug_path = NULL;
	_cleanup_close_ int debug_fd = -1;
	bool table = false, quiet = false, go = false;
	struct unwind_rules *rules = NULL;
	int first_file = 0, status = 0, err;
	size_t files = 0, total_rows = 0, total_bytes = 0;

	for (int i = 1; i < argc && !first_file; i++) {
		if (strcmp(argv[i], "--debug") == 0 && i + 1 < argc)
			debug_path = argv[++i];
		else if (strcmp(argv[i], "--table") == 0)
			table = true;
		else if (strcmp(argv[i], "--quiet") == 0)
			quiet = true;
		else if (strcmp(argv[i], "--go") == 0)
			go = true;
		else if (argv[i][0] == '-')
			return usage();
		else
			first_file = i;
	}
	if (!first_file || (!table && first_file != argc - 1))
		return usage();
	if (debug_path) {
		debug_fd = open(debug_path, O_RDONLY | O_CLOEXEC);
		if (debug_fd < 0) {
			fprintf(stderr, "failed to open '%s': %s\n", debug_path,
				strerror(errno));
			return 1;
		}
	}
	if (table && (err = unwind_rules__new(&rules))) {
		fprintf(stderr, "failed to allocate rules: %s\n", strerror(-err));
		return 1;
	}
	for (int i = first_file; i < argc; i++) {
		const char *path = argv[i];
		_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
		struct cfi_rows *rows = NULL;
		struct unwind_table *t = NULL;
		double t0, t1, t2;

		if (fd < 0) {
			fprintf(stderr, "failed to open '%s': %s\n", path, strerror(errno));
			status = 1;
			continue;
		}
		t0 = (clock__mono_s() * 1e3);
		err = cfi_rows__build_fd(fd, debug_fd, NULL, &rows);
		if (go && (!err || err == -ENOENT))
			err = add_go_rows(fd, &rows);
		t1 = (clock__mono_s() * 1e3);
		if (err) {
			if (!table) {
				fprintf(stderr, "failed to build rows of '%s': %s\n", path,
					strerror(-err));
				return 1;
			}
			printf("# skip %s: %s\n", path, strerror(-err));
			continue;
		}
		printf("# file %s\n# exec 0x%" PRIx64 "..0x%" PRIx64
		       " fdes %zu skipped %zu rows %zu rows_ms %.1f"
		       " over_limits %zu work %" PRIu64 " peak_bytes %zu"
		       " go_funcs %zu go_skipped %zu go_bp_saves %zu\n",
		       path, rows->exec_lo, rows->exec_hi, rows->fde_count,
		       rows->fde_skipped, rows->count, t1 - t0,
		       rows->fde_over_limits, rows->work, rows->peak_bytes,
		       rows->go_funcs, rows->go_funcs_skipped, rows->go_bp_saves);
		if (!quiet) {
			for (size_t r = 0; r < rows->count; r++) {
				char buf[64];

				printf("0x%" PRIx64 " %s\n", rows->rows[r].pc,
				       cfi_rule_format(&rows->rows[r].rule, buf, sizeof(buf)));
			}
		}
		if (table) {
			err = unwind_table__build(rows, rules, &t);
			t2 = (clock__mono_s() * 1e3);
			if (err) {
				printf("# table failed: %s\n", strerror(-err));
				status = 1;
			} else {
				size_t bytes = unwind_table__bytes(t), bad;

				printf("# table rows %u chunks %u index_pages %u bytes %zu"
				       " bytes_per_row %.2f build_ms %.1f\n",
				       t->row_count, t->info.chunk_count, t->info.index_pages,
				       bytes, (double)bytes / (double)rows->count,
				       t2 - t0);
				bad = check_lookups(rows, t, rules);
				printf("# lookups checked %zu wrong %zu\n", 2 * rows->count, bad);
				if (bad)
					status = 1;
				files++;
				total_rows += rows->count;
				total_bytes += bytes;
			}
			unwind_table__free(t);
		}
		cfi_rows__free(rows);
	}
	if (table) {
		printf("# total files %zu rows %zu bytes %zu bytes_per_row %.2f"
		       " distinct_rules %zu rule_bytes %zu\n",
		       files, total_rows, total_bytes,
		       total_rows ? (double)total_bytes / (double)total_rows : 0.0,
		       unwind_rules__count(rules), unwind_rules__bytes(rules));
		unwind_rules__free(rules);
	}
	return status;
}
