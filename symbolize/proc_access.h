/* proc_access: a profiled process's view of the file system, as the files
 * it names are opened on its behalf (procfile.h): its root directory (an
 * O_PATH fd, which stays valid after the process exits), its filesystem
 * credentials and supplementary groups (procfs.h) and its mounts
 * (proc_mounts.h), read once when the process is identified.
 *
 *   proc_access__open(proc_root, pid, &pa)  0, -ENOENT (gone), -errno:
 *        reads status (credentials) and mountinfo, opens the root
 *   proc_access__open_dir(dir, &pa)          a view rooted at dir with the
 *        agent's own credentials and no mounts (tools and tests): 0 or -errno
 *   proc_access__release(&pa)                NULL-safe, idempotent
 *   proc_access__dup(&dst, &src)             0 or -errno (own root fd)
 *
 * A proc_access is a value the caller embeds, not an allocation: release
 * closes its root fd and frees its mounts.
 */
#ifndef BRASA_SYMBOLIZE_PROC_ACCESS_H
#define BRASA_SYMBOLIZE_PROC_ACCESS_H

#include "symbolize/proc_mounts.h"
#include "symbolize/procfs.h"

struct proc_access {
	const char *proc_root;     /* borrowed */
	int pid;
	int root_fd;               /* O_PATH of the process's root, -1 if none */
	struct proc_status status; /* credentials and nspid */
	struct proc_mounts *mounts;
};

int proc_access__open(const char *proc_root, int pid, struct proc_access *pa);
int proc_access__open_dir(const char *dir, struct proc_access *pa);
void proc_access__release(struct proc_access *pa);
int proc_access__dup(struct proc_access *dst, const struct proc_access *src);

#endif
