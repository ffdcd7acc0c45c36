#include "symbolize/procfile.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"
#include "common/macros.h"
#include "symbolize/proc_mounts.h"

const char *const procfile_refusal_names[PROCFILE_REFUSALS] = {
	[PROCFILE_SYMLINK] = "symlink",
	[PROCFILE_NOT_REGULAR] = "not_regular",
	[PROCFILE_TOO_LARGE] = "too_large",
	[PROCFILE_OWNER] = "owner",
	[PROCFILE_PERMISSION] = "permission",
	[PROCFILE_FUSE] = "fuse",
};

static atomic_uint_fast64_t refused[PROCFILE_REFUSALS];

static int refuse(enum procfile_refusal why, int err)
{
	atomic_fetch_add_explicit(&refused[why], 1, memory_order_relaxed);
	return err;
}

void procfile__stats(struct procfile_stats *st)
{
	for (int i = 0; i < PROCFILE_REFUSALS; i++)
		st->refused[i] = atomic_load_explicit(&refused[i], memory_order_relaxed);
}

/* ---- credentials ------------------------------------------------------ */

#define CAP_BIT(c) (1u << ((c) & 31))
/* What lets a thread read files its fsuid could not: dropped while a
 * profiled process's file is opened. */
#define DAC_CAPS (CAP_BIT(CAP_DAC_OVERRIDE) | CAP_BIT(CAP_DAC_READ_SEARCH) | CAP_BIT(CAP_FOWNER))

static pthread_once_t probe_once = PTHREAD_ONCE_INIT;
static bool can_switch;

static int caps_get(struct __user_cap_data_struct data[2])
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };

	return syscall(SYS_capget, &hdr, data) ? -errno : 0;
}

static int caps_set(struct __user_cap_data_struct data[2])
{
	/* pid 0: this thread only */
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };

	return syscall(SYS_capset, &hdr, data) ? -errno : 0;
}

static void probe(void)
{
	struct __user_cap_data_struct data[2];

	can_switch = caps_get(data) == 0 &&
		     (data[0].effective & CAP_BIT(CAP_SETUID)) &&
		     (data[0].effective & CAP_BIT(CAP_SETGID));
}

bool procfile__switches_creds(void)
{
	pthread_once(&probe_once, probe);
	return can_switch;
}

struct saved_creds {
	bool active;
	uid_t fsuid;
	gid_t fsgid;
	int ngroups;
	gid_t groups[256];
	struct __user_cap_data_struct caps[2];
};

/* This thread takes st's filesystem credentials. Not for fsuid 0: a
 * process running as root may read anything the agent can. */
static int creds_enter(const struct proc_status *st, struct saved_creds *s)
{
	gid_t groups[PROC_STATUS_MAX_GROUPS];
	struct __user_cap_data_struct caps[2];
	int err;

	s->active = false;
	if (!procfile__switches_creds() || st->fsuid == 0)
		return 0;
	s->ngroups = (int)syscall(SYS_getgroups, (int)ARRAY_SIZE(s->groups), s->groups);
	if (s->ngroups < 0 || caps_get(s->caps))
		return -errno;
	for (uint32_t i = 0; i < st->ngroups; i++)
		groups[i] = st->groups[i];
	s->fsgid = (gid_t)setfsgid((gid_t)-1);
	s->fsuid = (uid_t)setfsuid((uid_t)-1);
	s->active = true;
	/* raw syscalls: glibc's setgroups() would apply to every thread */
	setfsgid(st->fsgid);
	if (syscall(SYS_setgroups, (size_t)st->ngroups, groups) != 0) {
		err = -errno;
		goto fail;
	}
	setfsuid(st->fsuid);
	if ((uid_t)setfsuid((uid_t)-1) != st->fsuid || (gid_t)setfsgid((gid_t)-1) != st->fsgid) {
		err = -EPERM;
		goto fail;
	}
	/* an agent that is not root reads through these capabilities, which
	 * a change of fsuid leaves alone */
	memcpy(caps, s->caps, sizeof(caps));
	caps[0].effective &= ~DAC_CAPS;
	err = caps_set(caps);
	if (err)
		goto fail;
	return 0;
fail:
	return err; /* creds_leave restores what was changed */
}

static void creds_leave(struct saved_creds *s)
{
	if (!s->active)
		return;
	/* fsuid back to 0 raises the file capabilities again */
	setfsuid(s->fsuid);
	setfsgid(s->fsgid);
	if (syscall(SYS_setgroups, (size_t)s->ngroups, s->groups) != 0 || caps_set(s->caps) != 0 ||
	    (uid_t)setfsuid((uid_t)-1) != s->fsuid)
		/* this thread would read with someone else's rights from now on */
		log_error("failed to restore the credentials of a worker thread: %s", strerror(errno));
	s->active = false;
}

/* The permission bits the kernel would check, for an agent that cannot
 * switch credentials (directory permissions and ACLs are not seen). */
static bool readable_by(const struct stat *st, const struct proc_status *ps)
{
	if (ps->fsuid == 0)
		return true;
	if (st->st_uid == ps->fsuid)
		return st->st_mode & S_IRUSR;
	if (st->st_gid == ps->fsgid)
		return st->st_mode & S_IRGRP;
	for (uint32_t i = 0; i < ps->ngroups; i++)
		if (st->st_gid == ps->groups[i])
			return st->st_mode & S_IRGRP;
	return st->st_mode & S_IROTH;
}

/* ---- opening ---------------------------------------------------------- */

/* Checks an fd just opened on pa's behalf (NULL: the agent's own file);
 * closes it on refusal. */
static int check_fd(int fd, const struct proc_access *pa, const struct procfile_opts *o,
		    bool switched)
{
	struct stat st;
	int err;

	if (fstat(fd, &st) != 0) {
		err = -errno;
		close(fd);
		return err;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return refuse(PROCFILE_NOT_REGULAR, -EBADFD);
	}
	if (o && o->max_size && (uint64_t)st.st_size > o->max_size) {
		close(fd);
		return refuse(PROCFILE_TOO_LARGE, -EFBIG);
	}
	if (pa && o && o->owner_check && st.st_uid != pa->status.fsuid && st.st_uid != 0) {
		close(fd);
		return refuse(PROCFILE_OWNER, -EPERM);
	}
	if (pa && !switched && !readable_by(&st, &pa->status)) {
		close(fd);
		return refuse(PROCFILE_PERMISSION, -EACCES);
	}
	return fd;
}

static int open_as(const struct proc_access *pa, int dirfd, const char *path,
		   const struct open_how *how, const struct procfile_opts *o)
{
	struct saved_creds saved;
	bool switched;
	int fd, err;

	err = creds_enter(&pa->status, &saved);
	if (err) {
		creds_leave(&saved);
		return err;
	}
	fd = (int)syscall(SYS_openat2, dirfd, path, how, sizeof(*how));
	err = fd < 0 ? -errno : 0;
	/* the kernel checked the open with the process's own rights */
	switched = saved.active;
	creds_leave(&saved);
	if (err == -ELOOP)
		return refuse(PROCFILE_SYMLINK, err);
	if (err == -EACCES)
		return refuse(PROCFILE_PERMISSION, err);
	if (err)
		return err;
	return check_fd(fd, pa, o, switched);
}

int procfile__open(const struct proc_access *pa, const char *path,
		   const struct procfile_opts *opts)
{
	struct open_how how = {
		.flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};

	if (!pa || pa->root_fd < 0 || !path)
		return -EINVAL;
	/* no symlink can detour the path, so its mount is the longest
	 * mount point prefix */
	if (!pa->mounts || proc_mounts__unsafe_path(pa->mounts, path))
		return refuse(PROCFILE_FUSE, -EXDEV);
	return open_as(pa, pa->root_fd, path, &how, opts);
}

int procfile__open_link(const struct proc_access *pa, const char *name, uint32_t major,
			uint32_t minor, const struct procfile_opts *opts)
{
	struct open_how how = {
		/* the magic link is the point here: it is the kernel's own
		 * reference to the mapped file */
		.flags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC,
	};
	char path[128];

	if (!pa || !name)
		return -EINVAL;
	if ((major || minor) && proc_mounts__unsafe_dev(pa->mounts, major, minor))
		return refuse(PROCFILE_FUSE, -EXDEV);
	if (snprintf(path, sizeof(path), "%s/%d/%s", pa->proc_root, pa->pid, name) >=
	    (int)sizeof(path))
		return -ENAMETOOLONG;
	return open_as(pa, AT_FDCWD, path, &how, opts);
}

int procfile__open_trusted(const char *path, uint64_t max_size)
{
	struct procfile_opts o = { .max_size = max_size };
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);

	return fd < 0 ? -errno : check_fd(fd, NULL, &o, true);
}
