/* procmaps: parses /proc/PID/maps into an address-sorted array of
 * mappings, finds the mapping holding an address and opens its file.
 *
 *   procmaps__read(proc_root, pid, &maps)  0, -ENOENT/-ESRCH (no such
 *                                          process), -EINVAL, -ENOMEM...
 *   procmaps__parse(text, len, &maps)      0 or -EINVAL (malformed line,
 *                                          unsorted or overlapping), -ENOMEM
 *   procmaps__find(maps, addr)             entry holding addr or NULL
 *   procmaps__free(maps)                   NULL-safe
 *   procmaps__open(proc_root, pid, entry)  the mapped file, read-only: fd
 *        (the caller's), or -errno; -ESTALE when only the path was left
 *        and it now names another file
 *
 * Paths keep their spelling from the kernel (including its "\012"
 * escapes), minus the " (deleted)" suffix, which sets `deleted`.
 * Entries and paths are owned by the procmaps and live until __free.
 */
#ifndef BRASA_SYMBOLIZE_PROCMAPS_H
#define BRASA_SYMBOLIZE_PROCMAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum procmaps_kind {
	PROCMAPS_ANON = 0,   /* no path at all */
	PROCMAPS_FILE,       /* a path to a file (maybe deleted) */
	PROCMAPS_MEMFD,      /* "/memfd:name": a file, but with no path to open */
	PROCMAPS_HEAP,       /* [heap] */
	PROCMAPS_STACK,      /* [stack], [stack:TID] */
	PROCMAPS_VDSO,       /* [vdso] */
	PROCMAPS_VVAR,       /* [vvar], [vvar_vclock] */
	PROCMAPS_VSYSCALL,   /* [vsyscall] */
	PROCMAPS_ANON_NAMED, /* [anon:name], [anon_shmem:name] (PR_SET_VMA) */
	PROCMAPS_SPECIAL,    /* any other "[...]" name, e.g. [uprobes] */
};

#define PROCMAPS_PERM_READ 0x1
#define PROCMAPS_PERM_WRITE 0x2
#define PROCMAPS_PERM_EXEC 0x4
#define PROCMAPS_PERM_SHARED 0x8

struct procmaps_entry {
	uint64_t start, end;   /* [start, end) */
	uint64_t offset;       /* file offset of start */
	uint32_t dev_major, dev_minor;
	uint64_t inode;
	uint8_t perms;         /* PROCMAPS_PERM_* */
	bool deleted;          /* the path ended in " (deleted)" */
	enum procmaps_kind kind;
	char *path;            /* NULL for PROCMAPS_ANON */
};

struct procmaps {
	struct procmaps_entry *entries;
	size_t count;
};

int procmaps__parse(const char *text, size_t len, struct procmaps **out);
int procmaps__read(const char *proc_root, int pid, struct procmaps **out);
const struct procmaps_entry *procmaps__find(const struct procmaps *maps,
					    uint64_t addr);
void procmaps__free(struct procmaps *maps);
int procmaps__open(const char *proc_root, int pid, const struct procmaps_entry *e);

#endif
