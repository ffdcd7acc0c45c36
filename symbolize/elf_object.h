/* elf_object: one loaded ELF file (executable, shared library or vdso)
 * and the symbolization of its virtual addresses: ELF symbols, and file,
 * line and inlined frames from DWARF, found in the object itself or in a
 * separate debug file (by build id, then by .gnu_debuglink).
 *
 * Loading reads everything but DWARF at once, within the caps of
 * elf_object_opts (a deadline and a bound on the symbol table's bytes):
 * function symbols are copied into one compact table (16 bytes each and
 * their names), so an object without DWARF holds no mapping of its file
 * afterwards. An object with DWARF keeps its file (and debug file) mapped
 * for libdw: its address ranges are read at load, and each unit's line
 * table and scopes on the first lookup in it; what libdw has decoded is
 * estimated in elf_object__bytes (freeing the object gives it back).
 *
 * A Go binary without a symbol table (`go build -ldflags='-s -w'`) is
 * named from its .gopclntab (gopclntab.h): names, lines and (Go 1.18+,
 * where the runtime's moduledata is in the file) inlined calls, copied at load
 * and counted in max_symbol_bytes and elf_object__bytes; it names Go code
 * before dynamic symbols, and gives lines where DWARF does not. A Go
 * binary with a symbol table but DWARF without .debug_aranges (all of
 * Go's: libdw finds no unit then) reads it too, for lines and inlined
 * calls, its symbols naming the functions (over the bound, it loads
 * without it).
 *
 * A separate debug file is used only if it is world-readable: objects are
 * shared by every process that maps the same file, and a debug file only
 * some of their owners could read must not name frames for the others.
 * .gnu_debuglink candidates next to the object are opened through
 * opts->access (the process's root and credentials, see procfile.h); the
 * system debug directory (opts->debug_root) is the agent's own.
 *
 *   elf_object__open_fd(fd, &opts, &obj)  0 or -errno (ENOEXEC: not a
 *                                         usable ELF file, ETIMEDOUT: past
 *                                         the deadline, E2BIG: symbols over
 *                                         their cap); fd stays the caller's
 *                                         and may be closed after
 *   elf_object__open_memory(image, size, name, &obj)
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
 *   elf_object__symbolize(obj, vaddr, use_dwarf, lines, max)
 *                                         frames written, innermost first
 *                                         (0: unknown address); use_dwarf
 *                                         false: ELF symbols only
 *   elf_object__symbol_count(obj)         function symbols held (with the
 *                                         functions of .gopclntab)
 *   elf_object__bytes(obj)                memory held: symbols, names and
 *                                         the estimate of libdw's decoding
 *   elf_object__debug_file(obj)           where its separate debug file was
 *                                         found (debug_file.h); ->pending:
 *                                         debuginfod is fetching one, open
 *                                         it again once that ends
 *   elf_object__symbol_source(obj)        which table names its functions
 *   elf_object__release_pages(obj)        drops the file pages this process
 *                                         has touched in its mappings from
 *                                         its resident memory (they are read
 *                                         again from the page cache on use)
 *
 * With opts->demangle, C++ and Rust symbol names are demangled once, at
 * load (DWARF's inlined functions on their first lookup), and counted in
 * elf_object__bytes; lines then carry the demangled name in function and
 * the mangled one in system_name.
 *
 * Strings written to sym_line stay valid until the object is freed. Not thread-safe: one thread at a time.
 */
#ifndef BRASA_SYMBOLIZE_ELF_OBJECT_H
#define BRASA_SYMBOLIZE_ELF_OBJECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "symbolize/elf_file.h"
#include "symbolize/procfile.h"
#include "symbolize/symbolizer.h"

struct elf_object;
struct debuginfod;
struct debug_file_where;

/* Which table names an object's functions. */
enum elf_symbol_source {
	ELF_SYMBOLS_NONE = 0,
	ELF_SYMBOLS_SYMTAB,      /* its .symtab */
	ELF_SYMBOLS_DEBUG_FILE,  /* its separate debug file's .symtab */
	ELF_SYMBOLS_DYNSYM,      /* .dynsym only (exported functions) */
	ELF_SYMBOLS_GOPCLNTAB,   /* Go's .gopclntab (no symbol table) */
};

struct elf_object_opts {
	/* Where separate debug files live: <debug_root>/.build-id/xx/rest.debug
	 * and <debug_root>/<dir>/<debuglink>. NULL: no separate debug files. */
	const char *debug_root;
	/* The object's path as its process sees it (for .gnu_debuglink's
	 * directory), NULL if unknown. */
	const char *path;
	/* The process whose view `path` is in, for .gnu_debuglink candidates
	 * (NULL: the agent's own view, for tools and tests). Borrowed. */
	const struct proc_access *access;
	uint64_t deadline_ns;     /* CLOCK_MONOTONIC; 0: none */
	size_t max_symbol_bytes;  /* 0: 256 MiB */
	uint64_t max_debug_bytes; /* DWARF whose sections, mapped and inflated,
				   * exceed this is not used; 0: 1 GiB */
	bool demangle;            /* C++ and Rust names demangled (demangle.h)
				   * at load, both kept: sym_line.system_name */
	/* Debug files of stripped objects (no .symtab, no DWARF, none found
	 * locally) fetched by build id (debuginfod.h); NULL: none. Borrowed. */
	struct debuginfod *debuginfod;
};

int elf_object__open_fd(int fd, const struct elf_object_opts *opts, struct elf_object **out);
int elf_object__open_memory(const void *image, size_t size, const char *name,
			    struct elf_object **out);
void elf_object__free(struct elf_object *obj);

const char *elf_object__build_id(const struct elf_object *obj);
int elf_object__read_build_id(int fd, char out[ELF_BUILD_ID_HEX_MAX]);
bool elf_object__has_symbols(const struct elf_object *obj);
bool elf_object__has_lines(const struct elf_object *obj);
bool elf_object__has_inlines(const struct elf_object *obj);
size_t elf_object__symbol_count(const struct elf_object *obj);

int elf_object__vaddr(const struct elf_object *obj, uint64_t map_start,
		      uint64_t map_offset, uint64_t addr, uint64_t *vaddr);
int elf_object__symbolize(struct elf_object *obj, uint64_t vaddr, bool use_dwarf,
			  struct sym_line *lines, int max);
size_t elf_object__bytes(const struct elf_object *obj);
const struct debug_file_where *elf_object__debug_file(const struct elf_object *obj);
enum elf_symbol_source elf_object__symbol_source(const struct elf_object *obj);
void elf_object__release_pages(struct elf_object *obj);

#endif
