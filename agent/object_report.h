/* object_report: how each executable object of a running process is
 * unwound and named by the agent, for `brasa check --pid` (docs/cli.md):
 * per object (a file mapped once or more, the [vdso], JIT code), its
 * build id, the unwind rows the agent's tables would hold by the source
 * they come from (unwind/cfi_rows.h: .eh_frame, .debug_frame, a debug
 * file's .debug_frame; frame pointers where there are none), and which
 * table names its functions (.symtab, a separate debug file and where it
 * was found, .dynsym only, .gopclntab, a perf map, the agent's vdso).
 *
 * It reads what the agent reads, with the same modules and the same
 * view of the process (procinfo.h: its files opened on its behalf), so
 * what it says is what profiles get. Blocking: a tool's work.
 *
 *   object_report__collect(opts, &r)  0, -ESRCH (no such process), -errno
 *   object_report__print(r, f)        the readable report
 *   object_report__print_json(r, f)   the same as one JSON document
 *   object_report__free(r)            NULL-safe
 */
#ifndef BRASA_AGENT_OBJECT_REPORT_H
#define BRASA_AGENT_OBJECT_REPORT_H

#include <stdio.h>

struct object_report;
struct debuginfod;

struct object_report_opts {
	int pid;
	const char *proc_root;         /* default "/proc" */
	const char *debug_root;        /* default "/usr/lib/debug" */
	struct debuginfod *debuginfod; /* NULL: not asked; else waited for */
	unsigned timeout_ms;           /* one object's load or table, default 10 s */
};

int object_report__collect(const struct object_report_opts *opts, struct object_report **out);
void object_report__print(const struct object_report *r, FILE *f);
int object_report__print_json(const struct object_report *r, FILE *f);
void object_report__free(struct object_report *r);

#endif
