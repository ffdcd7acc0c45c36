/* procfile: opening the files a profiled process names, on its behalf.
 *
 * The agent runs privileged, but the files it reads for a process (its
 * perf map in its /tmp, the debug link next to its binary, the binary
 * through its root) are chosen by the process's owner, maybe another
 * tenant of the node. procfile opens them so that the owner can neither
 * block the agent nor read through it:
 *   - within the process's root (openat2 RESOLVE_IN_ROOT on the root
 *     directory's fd, which stays valid after the process exits), with no
 *     symlink anywhere in the path (RESOLVE_NO_SYMLINKS) and no magic link;
 *   - never on a FUSE mount of the process (its server is the owner, who
 *     can make an open or read hang), checked against its mountinfo before
 *     anything is opened;
 *   - never blocking (O_NONBLOCK), and only regular files up to max_size
 *     bytes, checked on the open fd;
 *   - with the process's own filesystem credentials: this thread's fsuid,
 *     fsgid and groups are switched to the process's and its DAC
 *     capabilities dropped around the open, so the kernel itself refuses
 *     what the owner could not read (directory permissions and ACLs
 *     included). An agent without CAP_SETUID and CAP_SETGID cannot switch;
 *     it then checks the file's permission bits against the process's
 *     credentials instead (procfile__switches_creds tells which);
 *   - optionally owned by the process's user or by root (perf maps, as
 *     perf requires).
 * Credentials are per thread on Linux (the raw setfsuid/setgroups
 * syscalls), so other threads are never affected. The process's view
 * (root, credentials, mounts) is a proc_access (proc_access.h, included
 * here).
 *
 *   procfile__open(pa, path, &opts)          fd or -errno: -ELOOP (a
 *        symlink), -EBADFD (not a regular file), -EFBIG (over max_size),
 *        -EPERM (owner), -EACCES (not readable with the process's
 *        credentials), -EXDEV (on a FUSE mount), -ENOENT...
 *   procfile__open_link(pa, name, major, minor, &opts)  /proc/PID/<name>
 *        (exe, map_files/START-END): the very file the kernel maps, opened
 *        with the process's credentials; major:minor is the device the
 *        maps line names (checked against FUSE mounts), or 0:0 if unknown
 *   procfile__open_trusted(path, max_size)   a file of the agent's own
 *        (the system debug directory): follows symlinks, never blocks,
 *        regular files only
 *   procfile__switches_creds()              whether opens switch credentials
 *   procfile__stats(&st)                    refusals by reason, process-wide
 */
#ifndef BRASA_SYMBOLIZE_PROCFILE_H
#define BRASA_SYMBOLIZE_PROCFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "symbolize/proc_access.h"

struct procfile_opts {
	uint64_t max_size;         /* 0: no bound */
	bool owner_check;          /* owned by the process's fsuid or root */
};

enum procfile_refusal {
	PROCFILE_SYMLINK = 0,
	PROCFILE_NOT_REGULAR,
	PROCFILE_TOO_LARGE,
	PROCFILE_OWNER,
	PROCFILE_PERMISSION,
	PROCFILE_FUSE,
	PROCFILE_REFUSALS,
};

struct procfile_stats {
	uint64_t refused[PROCFILE_REFUSALS];
};

extern const char *const procfile_refusal_names[PROCFILE_REFUSALS];

int procfile__open(const struct proc_access *pa, const char *path,
		   const struct procfile_opts *opts);
int procfile__open_link(const struct proc_access *pa, const char *name, uint32_t major,
			uint32_t minor, const struct procfile_opts *opts);
int procfile__open_trusted(const char *path, uint64_t max_size);
bool procfile__switches_creds(void);
void procfile__stats(struct procfile_stats *st);

#endif
