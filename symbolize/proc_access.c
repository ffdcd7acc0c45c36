#include "symbolize/proc_access.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <unistd.h>

int proc_access__open(const char *proc_root, int pid, struct proc_access *pa)
{
	char path[64];
	int err;

	memset(pa, 0, sizeof(*pa));
	pa->proc_root = proc_root ? proc_root : "/proc";
	pa->pid = pid;
	pa->root_fd = -1;
	err = procfs__status_read(pa->proc_root, pid, &pa->status);
	if (err)
		return err;
	err = proc_mounts__read(pa->proc_root, pid, &pa->mounts);
	if (err)
		return err == -ENOENT ? -ENOENT : err;
	snprintf(path, sizeof(path), "%s/%d/root", pa->proc_root, pid);
	pa->root_fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (pa->root_fd < 0) {
		err = -errno;
		proc_access__release(pa);
		return err;
	}
	return 0;
}

int proc_access__open_dir(const char *dir, struct proc_access *pa)
{
	memset(pa, 0, sizeof(*pa));
	pa->proc_root = "/proc";
	pa->pid = getpid();
	pa->status.fsuid = (uint32_t)setfsuid((uid_t)-1);
	pa->status.fsgid = (uint32_t)setfsgid((gid_t)-1);
	pa->status.nspid = pa->pid;
	pa->mounts = calloc(1, sizeof(*pa->mounts));
	pa->root_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (!pa->mounts || pa->root_fd < 0) {
		int err = pa->mounts ? -errno : -ENOMEM;

		proc_access__release(pa);
		return err;
	}
	return 0;
}

void proc_access__release(struct proc_access *pa)
{
	if (!pa)
		return;
	if (pa->root_fd >= 0)
		close(pa->root_fd);
	pa->root_fd = -1;
	proc_mounts__free(pa->mounts);
	pa->mounts = NULL;
}

int proc_access__dup(struct proc_access *dst, const struct proc_access *src)
{
	*dst = *src;
	dst->mounts = NULL;
	dst->root_fd = -1;
	if (src->mounts && proc_mounts__dup(src->mounts, &dst->mounts))
		return -ENOMEM;
	if (src->root_fd >= 0) {
		dst->root_fd = fcntl(src->root_fd, F_DUPFD_CLOEXEC, 3);
		if (dst->root_fd < 0) {
			int err = -errno;

			proc_access__release(dst);
			return err;
		}
	}
	return 0;
}
