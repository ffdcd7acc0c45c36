/* procfs: parsers for the /proc/PID files the agent reads about a profiled
 * process, besides maps (procmaps.h): status (its filesystem credentials
 * and its pid in its own namespace), stat (where its main stack starts) and
 * mountinfo (which of its mounts are FUSE file systems, whose files the
 * agent never opens: their server is the process's owner, who can make any
 * open or read block for good).
 *
 * The text comes from the kernel, but the parsers take any bytes (a comm
 * can hold ")" and newlines, a mount point any escaped bytes), and are
 * fuzzed.
 *
 *   proc_file__read(proc_root, pid, name, max, &b)  /proc/PID/NAME (proc_root
 *                                         NULL: /proc) into b, at most max
 *                                         bytes: buf_read_file's errors
 *   proc_status__parse(text, len, &st)    0 or -EINVAL (no Uid:/Gid: line)
 *   proc_status__read(proc_root, pid, &st)  0, -ENOENT (gone), -errno
 *   proc_stat__start_stack(text, len, &addr)  0 or -EINVAL (field 28)
 *   proc_mounts__parse(text, len, &m)     0, -EINVAL, -ENOMEM; m owned by
 *                                         the caller (proc_mounts__free)
 *   proc_mounts__read(proc_root, pid, &m) 0, -ENOENT, -errno
 *   proc_mounts__unsafe_dev(m, major, minor)  true if that device is a
 *                                         FUSE mount of the process
 *   proc_mounts__unsafe_path(m, path)     true if the longest mount point
 *                                         prefix of the absolute path (in
 *                                         the process's root) is FUSE, or
 *                                         path is not absolute
 *   proc_mounts__free(m)                  NULL-safe
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

int proc_file__read(const char *proc_root, int pid, const char *name, size_t max,
		    struct buf *out);

struct proc_status {
	uint32_t fsuid, fsgid;    /* the 4th field of Uid: and Gid: */
	uint32_t ngroups;
	uint32_t groups[PROC_STATUS_MAX_GROUPS];
	bool groups_truncated;
	int nspid;                /* innermost NSpid, the pid itself without one */
};

int proc_status__parse(const char *text, size_t len, struct proc_status *st);
int proc_status__read(const char *proc_root, int pid, struct proc_status *st);
int proc_stat__start_stack(const char *text, size_t len, uint64_t *addr);

struct proc_mount {
	uint32_t major, minor;
	char *mount_point;        /* unescaped, relative to the process's root */
	bool unsafe;              /* FUSE: fuse, fuseblk, fuse.* */
};

struct proc_mounts {
	struct proc_mount *v;
	size_t n;
};

int proc_mounts__parse(const char *text, size_t len, struct proc_mounts **out);
int proc_mounts__read(const char *proc_root, int pid, struct proc_mounts **out);
bool proc_mounts__unsafe_dev(const struct proc_mounts *m, uint32_t major, uint32_t minor);
bool proc_mounts__unsafe_path(const struct proc_mounts *m, const char *path);
void proc_mounts__free(struct proc_mounts *m);

#endif
