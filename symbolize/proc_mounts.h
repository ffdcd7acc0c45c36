/* proc_mounts: the mounts of a profiled process, from its
 * /proc/PID/mountinfo, and which of them are FUSE file systems, whose
 * files the agent never opens: their server is the process's owner, who
 * can make any open or read block for good.
 *
 * The text comes from the kernel, but the parser takes any bytes (a mount
 * point may hold any escaped bytes), and is fuzzed (tests/fuzz/fuzz-procfs.c).
 *
 *   proc_mounts__parse(text, len, &m)     0, -EINVAL, -E2BIG, -ENOMEM; m
 *                                         owned by the caller
 *   proc_mounts__read(proc_root, pid, &m) 0, -ENOENT, -errno (proc_root
 *                                         NULL: /proc)
 *   proc_mounts__dup(src, &m)             a copy: 0 or -ENOMEM
 *   proc_mounts__unsafe_dev(m, major, minor)  true if that device is a
 *                                         FUSE mount of the process
 *   proc_mounts__unsafe_path(m, path)     true if the longest mount point
 *                                         prefix of the absolute path (in
 *                                         the process's root) is FUSE, or
 *                                         path is not absolute
 *   proc_mounts__free(m)                  NULL-safe
 */
#ifndef BRASA_SYMBOLIZE_PROC_MOUNTS_H
#define BRASA_SYMBOLIZE_PROC_MOUNTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
int proc_mounts__dup(const struct proc_mounts *src, struct proc_mounts **out);
bool proc_mounts__unsafe_dev(const struct proc_mounts *m, uint32_t major, uint32_t minor);
bool proc_mounts__unsafe_path(const struct proc_mounts *m, const char *path);
void proc_mounts__free(struct proc_mounts *m);

#endif
