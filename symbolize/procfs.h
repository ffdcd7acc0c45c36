/* procfs: readers of the single /proc/PID files the agent reads about a
 * profiled process, besides maps (procmaps.h) and mountinfo
 * (proc_mounts.h): status (its filesystem credentials and its pid in its
 * own namespace) and stat (where its main stack starts), and the bounded
 * read of any /proc/PID/NAME they and the others use.
 *
 * The text comes from the kernel, but the parsers take any bytes (a comm
 * can hold ")" and newlines), and are fuzzed.
 *
 *   procfs__read_file(proc_root, pid, name, max, &b)  /proc/PID/NAME
 *                                         (proc_root NULL: /proc) into b,
 *                                         at most max bytes:
 *                                         buf_read_file's errors
 *   procfs__status_parse(text, len, &st)  0 or -EINVAL (no Uid:/Gid: line)
 *   procfs__status_read(proc_root, pid, &st)  0, -ENOENT (gone), -errno
 *   procfs__stat_start_stack(text, len, &addr)  0 or -EINVAL (field 28)
 */
#ifndef BRASA_SYMBOLIZE_PROCFS_H
#define BRASA_SYMBOLIZE_PROCFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Supplementary groups kept; a process with more keeps only the first
 * ones, which can only make the agent read less on its behalf. */
#define PROC_STATUS_MAX_GROUPS 64

struct buf;

int procfs__read_file(const char *proc_root, int pid, const char *name, size_t max,
		      struct buf *out);

struct proc_status {
	uint32_t fsuid, fsgid;    /* the 4th field of Uid: and Gid: */
	uint32_t ngroups;
	uint32_t groups[PROC_STATUS_MAX_GROUPS];
	bool groups_truncated;
	int nspid;                /* innermost NSpid, the pid itself without one */
};

int procfs__status_parse(const char *text, size_t len, struct proc_status *st);
int procfs__status_read(const char *proc_root, int pid, struct proc_status *st);
int procfs__stat_start_stack(const char *text, size_t len, uint64_t *addr);

#endif
