/* procinfo: what the agent learns about a process from /proc and from its
 * files, in the two steps the profiler runs on worker threads (both can
 * block or take long: a process whose mmap lock is held, a file on a slow
 * disk; see procfile.h for what is never opened):
 *
 *   identify  who it is: its name, its executable and the executable's
 *             build id, and access to its files (credentials, root,
 *             mounts). Enough for labels and relabeling, so a process
 *             relabeling drops costs nothing more.
 *   inspect   its executable mappings, each with the mapped file opened on
 *             the process's behalf and identified (device, inode, size,
 *             times: file_id.h), the load bias the unwinder needs, and where its main
 *             stack starts.
 *
 *   proc_info__identify(proc_root, pid, &info)  new info: 0, -ENOENT (gone),
 *        -errno; name, exe and build id stay "" when unreadable
 *   proc_info__inspect(info, &opts)   0, -ENOENT, -errno; fills the mappings
 *   proc_info__take_fd(info, i)       hands mapping i's fd to the caller
 *        (-1 if none or taken)
 *   proc_info__free(info)             NULL-safe; closes the fds not taken
 *
 * Blocking, thread-safe (no shared state): meant for worker threads.
 */
#ifndef BRASA_SYMBOLIZE_PROCINFO_H
#define BRASA_SYMBOLIZE_PROCINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "symbolize/file_id.h"
#include "symbolize/procfile.h"
#include "symbolize/procmaps.h"

#define PROC_INFO_COMM_LEN 16
#define PROC_INFO_EXE_LEN 256
#define PROC_INFO_BUILD_ID_LEN 129

struct proc_info_map {
	const struct procmaps_entry *entry; /* into info->maps */
	int fd;          /* the mapped file, -1 if none (anonymous) or refused */
	int err;         /* why fd is -1 for a file mapping: -EXDEV (FUSE)... */
	struct file_id id;
	bool has_bias;   /* bias: process address - ELF vaddr of its segment */
	uint64_t bias;
};

struct proc_info {
	int pid;
	char comm[PROC_INFO_COMM_LEN];
	char exe[PROC_INFO_EXE_LEN];
	char build_id[PROC_INFO_BUILD_ID_LEN];
	struct proc_access access;

	uint64_t stack_top;           /* mm->start_stack, 0 if unknown (read by
				       * both steps: it changes at every exec) */

	/* after inspect */
	struct procmaps *maps;        /* executable mappings only */
	struct proc_info_map *exec;   /* parallel to maps->entries */
	size_t nexec;                 /* entries of exec (maps may be taken) */
	size_t exec_dropped;          /* past max_mappings */
};

struct proc_info_opts {
	size_t max_mappings;          /* executable mappings kept, default 4096 */
	uint64_t max_file_size;       /* files larger are not opened, default 4 GiB */
};

int proc_info__identify(const char *proc_root, int pid, struct proc_info **out);
int proc_info__inspect(struct proc_info *info, const struct proc_info_opts *opts);
int proc_info__take_fd(struct proc_info *info, size_t i);
void proc_info__free(struct proc_info *info);

#endif
