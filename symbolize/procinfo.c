#include "symbolize/procinfo.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/macros.h"
#include "symbolize/elf_object.h"

#define DEFAULT_MAX_MAPPINGS 4096
#define DEFAULT_MAX_FILE_SIZE (4ull << 30)
#define STAT_MAX_BYTES 4096

void proc_info__free(struct proc_info *info)
{
	if (!info)
		return;
	for (size_t i = 0; info->exec && i < info->nexec; i++)
		if (info->exec[i].fd >= 0)
			close(info->exec[i].fd);
	free(info->exec);
	procmaps__free(info->maps);
	proc_access__release(&info->access);
	free(info);
}

DEFINE_CLEANUP(struct proc_info, proc_info__free);

static void read_comm(struct proc_info *info)
{
	struct buf b = { 0 };

	if (procfs__read_file(info->access.proc_root, info->pid, "comm", 64, &b) == 0) {
		size_t n = b.len;

		while (n && b.data[n - 1] == '\n')
			n--;
		n = MIN(n, sizeof(info->comm) - 1);
		memcpy(info->comm, b.data, n);
		info->comm[n] = 0;
	}
	buf_release(&b);
}

/* mm->start_stack: where the main thread's stack starts, and a mark of the
 * image (a new one at every exec) */
static void read_stack_top(struct proc_info *info)
{
	struct buf b = { 0 };

	if (procfs__read_file(info->access.proc_root, info->pid, "stat", STAT_MAX_BYTES, &b) != 0 ||
	    procfs__stat_start_stack((const char *)b.data, b.len, &info->stack_top) != 0)
		info->stack_top = 0;
	buf_release(&b);
}

static void read_exe(struct proc_info *info)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%d/exe", info->access.proc_root, info->pid);
	n = readlink(path, info->exe, sizeof(info->exe) - 1);
	info->exe[n > 0 ? n : 0] = 0;
	/* /proc/PID/maps shows a deleted file the same way */
	if (n > 10 && !strcmp(info->exe + n - 10, " (deleted)"))
		info->exe[n - 10] = 0;
	/* the build id straight from the executable, with the process's
	 * own rights; a FUSE-hosted one is left alone */
	if (!info->exe[0] || proc_mounts__unsafe_path(info->access.mounts, info->exe))
		return;
	fd = procfile__open_link(&info->access, "exe", 0, 0, NULL);
	if (fd >= 0) {
		elf_object__read_build_id(fd, info->build_id);
		close(fd);
	}
}

int proc_info__identify(const char *proc_root, int pid, struct proc_info **out)
{
	_cleanup_(cleanup_proc_info__free) struct proc_info *info = calloc(1, sizeof(*info));
	int err;

	if (!info)
		return -ENOMEM;
	info->pid = pid;
	info->access.root_fd = -1;
	err = proc_access__open(proc_root, pid, &info->access);
	if (err)
		return err == -ESRCH ? -ENOENT : err;
	read_comm(info);
	read_exe(info);
	read_stack_top(info);
	*out = TAKE_PTR(info);
	return 0;
}

/* Keeps the executable mappings (what frames can point into) and drops
 * the rest, in place. */
static void keep_exec(struct procmaps *maps, size_t max, size_t *dropped)
{
	size_t n = 0;

	for (size_t i = 0; i < maps->count; i++) {
		struct procmaps_entry *e = &maps->entries[i];

		if (!(e->perms & PROCMAPS_PERM_EXEC) || n == max) {
			if (e->perms & PROCMAPS_PERM_EXEC)
				(*dropped)++;
			free(e->path);
			continue;
		}
		maps->entries[n++] = *e;
	}
	maps->count = n;
}

/* bias = process address - ELF vaddr, for the segment the mapping maps.
 * lld and gold let two segments share a file page, so the mapping's page
 * can hold the end of a read-only segment too: executable segments win
 * (only executable mappings come here). */
static int mapping_bias(int fd, const struct procmaps_entry *m, uint64_t *bias)
{
	Elf *elf;
	size_t n;
	int err = -ENOENT;

	if (elf_version(EV_CURRENT) == EV_NONE)
		return -ENOSYS;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf)
		return -ENOEXEC;
	if (elf_kind(elf) != ELF_K_ELF || elf_getphdrnum(elf, &n)) {
		elf_end(elf);
		return -ENOEXEC;
	}
	for (int pass = 0; pass < 2 && err; pass++) {
		for (size_t i = 0; i < n; i++) {
			GElf_Phdr ph;
			uint64_t page_off;

			if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD ||
			    (pass == 0 && !(ph.p_flags & PF_X)))
				continue;
			page_off = ph.p_offset & ~(uint64_t)0xfff;
			if (m->offset >= page_off && m->offset < ph.p_offset + ph.p_filesz) {
				*bias = m->start - m->offset + ph.p_offset - ph.p_vaddr;
				err = 0;
				break;
			}
		}
	}
	elf_end(elf);
	return err;
}

/* Opens the file behind one mapping: the kernel's own reference to it
 * (map_files) or else its path in the process's root, checked to be the
 * mapped inode; both with the process's credentials. */
static int open_mapping(struct proc_info *info, const struct procmaps_entry *e,
			const struct proc_info_opts *o)
{
	struct procfile_opts fo = { .max_size = o->max_file_size };
	char name[64];
	struct stat st;
	int fd;

	snprintf(name, sizeof(name), "map_files/%" PRIx64 "-%" PRIx64, e->start, e->end);
	fd = procfile__open_link(&info->access, name, e->dev_major, e->dev_minor, &fo);
	/* a refusal (FUSE, not a regular file, too large) stands; a missing
	 * privilege (map_files needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE)
	 * tries the path, which answers with the process's rights too */
	if (fd >= 0 || fd == -EXDEV || fd == -EBADFD || fd == -EFBIG ||
	    e->kind != PROCMAPS_FILE || e->deleted)
		return fd;
	fd = procfile__open(&info->access, e->path, &fo);
	if (fd < 0)
		return fd;
	/* the path may name a newer file than the one mapped */
	if (fstat(fd, &st) != 0 || (e->inode && st.st_ino != e->inode)) {
		close(fd);
		return -ESTALE;
	}
	return fd;
}

int proc_info__inspect(struct proc_info *info, const struct proc_info_opts *opts)
{
	struct proc_info_opts o = opts ? *opts : (struct proc_info_opts){ 0 };
	int err;

	if (!o.max_mappings)
		o.max_mappings = DEFAULT_MAX_MAPPINGS;
	if (!o.max_file_size)
		o.max_file_size = DEFAULT_MAX_FILE_SIZE;
	err = procmaps__read(info->access.proc_root, info->pid, &info->maps);
	if (err)
		return err == -ESRCH ? -ENOENT : err;
	keep_exec(info->maps, o.max_mappings, &info->exec_dropped);
	info->exec = calloc(info->maps->count ? info->maps->count : 1, sizeof(*info->exec));
	if (!info->exec)
		return -ENOMEM;
	info->nexec = info->maps->count;
	for (size_t i = 0; i < info->nexec; i++)
		info->exec[i].fd = -1;
	for (size_t i = 0; i < info->maps->count; i++) {
		const struct procmaps_entry *e = &info->maps->entries[i];
		struct proc_info_map *m = &info->exec[i];
		struct stat st;

		m->entry = e;
		m->fd = -1;
		if (e->kind != PROCMAPS_FILE && e->kind != PROCMAPS_MEMFD)
			continue;
		/* segments of one file share its fd */
		for (size_t j = i; j-- > 0;) {
			const struct procmaps_entry *p = &info->maps->entries[j];

			if (info->exec[j].fd >= 0 && p->inode == e->inode &&
			    p->dev_major == e->dev_major && p->dev_minor == e->dev_minor &&
			    p->path && e->path && !strcmp(p->path, e->path)) {
				m->fd = fcntl(info->exec[j].fd, F_DUPFD_CLOEXEC, 3);
				m->err = m->fd < 0 ? -errno : 0;
				m->id = info->exec[j].id;
				break;
			}
		}
		if (m->fd < 0 && !m->err) {
			m->fd = open_mapping(info, e, &o);
			m->err = m->fd < 0 ? m->fd : 0;
			if (m->fd >= 0) {
				if (fstat(m->fd, &st) == 0) {
					file_id__from_stat(&st, &m->id);
				} else {
					m->err = -errno;
					close(m->fd);
					m->fd = -1;
				}
			}
		}
		if (m->fd >= 0)
			m->has_bias = mapping_bias(m->fd, e, &m->bias) == 0;
	}
	/* read again: the mappings belong to the image it runs now */
	read_stack_top(info);
	return 0;
}

int proc_info__take_fd(struct proc_info *info, size_t i)
{
	int fd;

	if (!info->exec || i >= info->nexec)
		return -1;
	fd = info->exec[i].fd;
	info->exec[i].fd = -1;
	return fd;
}
