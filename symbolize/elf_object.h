/* elf_object: one loaded ELF file (executable, shared library or vdso)
 * and the symbolization of its virtual addresses: ELF symbols, and file,
 * line and inlined frames from DWARF, found in the object itself or in a
 * separate debug file (by build id, then by .gnu_debuglink).
 *
 *   elf_object__open_fd(fd, &opts)        NULL + errno (ENOEXEC: not a
 *                                         usable ELF file); fd stays the
 *                                         caller's and may be closed after
 *   elf_object__open_memory(image, size, name)
 *                                         same, from an in-memory image
 *                                         (copied)
 *   elf_object__free(obj)                 NULL-safe
 *   elf_object__build_id(obj)             lower-case hex, "" if none
 *   elf_object__read_build_id(fd, out)    just the build id of a file, without
 *                                         loading it: 0, -ENOENT (none),
 *                                         -ENOEXEC (not ELF), -errno
 *   elf_object__has_symbols / __has_lines / __has_inlines
 *   elf_object__vaddr(obj, map_start, map_offset, addr, &vaddr)
 *                                         process address -> ELF vaddr:
 *                                         0 or -ENOENT (not in a PT_LOAD)
 *   elf_object__symbolize(obj, vaddr, lines, max)
 *                                         frames written, innermost first
 *                                         (0: unknown address)
 *   elf_object__symbol_count(obj)         symbols loaded so far (0 before
 *                                         the first lookup)
 *
 * Symbols and DWARF are loaded on the first symbolize call. Strings
 * written to sym_line point into the object and stay valid until __free.
 * Not thread-safe.
 */
#ifndef BRASA_SYMBOLIZE_ELF_OBJECT_H
#define BRASA_SYMBOLIZE_ELF_OBJECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "symbolize/symbolizer.h"

struct elf_object;

struct elf_object_opts {
	/* Where separate debug files live: <debug_root>/.build-id/xx/rest.debug
	 * and <debug_root>/<dir>/<debuglink>. NULL: no separate debug files. */
	const char *debug_root;
	/* The object's path as its process sees it (for .gnu_debuglink's
	 * directory), NULL if unknown. */
	const char *path;
	/* Prefix that makes `path` reachable from here, e.g. "/proc/PID/root"
	 * for a process in another mount namespace; NULL or "" for none. */
	const char *root;
};

struct elf_object *elf_object__open_fd(int fd, const struct elf_object_opts *opts);
struct elf_object *elf_object__open_memory(const void *image, size_t size,
					   const char *name);
void elf_object__free(struct elf_object *obj);

const char *elf_object__build_id(const struct elf_object *obj);
#define ELF_BUILD_ID_HEX_MAX 129 /* 64 bytes as hex, and the NUL */
int elf_object__read_build_id(int fd, char out[ELF_BUILD_ID_HEX_MAX]);
bool elf_object__has_symbols(const struct elf_object *obj);
bool elf_object__has_lines(const struct elf_object *obj);
bool elf_object__has_inlines(const struct elf_object *obj);
size_t elf_object__symbol_count(const struct elf_object *obj);

int elf_object__vaddr(const struct elf_object *obj, uint64_t map_start,
		      uint64_t map_offset, uint64_t addr, uint64_t *vaddr);
int elf_object__symbolize(struct elf_object *obj, uint64_t vaddr,
			  struct sym_line *lines, int max);

#endif
