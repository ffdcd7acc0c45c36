/* debug_file: finds the separate debug file of an ELF object, the way
 * gdb and elfutils look: by build id under the system debug directory
 * (<debug_root>/.build-id/xx/rest.debug), then by .gnu_debuglink (its
 * name, checked by its CRC) next to the object, in its .debug/
 * directory, and under <debug_root>/<dir>/.
 *
 * A candidate is taken only if it is a regular, world-readable file that
 * is not the object itself and matches the build id (or the CRC); why
 * world-readable: elf_object.h. .gnu_debuglink candidates next to the
 * object are opened through opts->access (the process's root and
 * credentials, see procfile.h); the system debug directory is the
 * agent's own.
 *
 * Then, for a stripped object only (the caller decides), from
 * opts->debuginfod (debuginfod.h): the agent's own cache of files fetched
 * by build id, checked like the others but for world-readability (the
 * cache is the agent's, 0700); it must carry the same build id.
 *
 *   debug_file__find(elf, build_id, self, opts, where)
 *       the debug file, open (the caller elf_end()s it), or NULL: none,
 *       no opts->debug_root and no usable .gnu_debuglink, or past
 *       opts->deadline_ns. self: the object's own stat, so it is never
 *       its own debug file. where (may be NULL): how it was found.
 *   debug_file__fetch(build_id, self, opts, where)
 *       the debug file from opts->debuginfod's cache, or NULL; where->
 *       pending when a fetch is queued or running (load again once
 *       debuginfod__generation moves).
 *   debug_file_where__release(where)   frees its path
 */
#ifndef BRASA_SYMBOLIZE_DEBUG_FILE_H
#define BRASA_SYMBOLIZE_DEBUG_FILE_H

#include <libelf.h>
#include <sys/stat.h>

#include "symbolize/elf_object.h"

enum debug_file_source {
	DEBUG_FILE_NONE = 0,
	DEBUG_FILE_BUILD_ID,   /* <debug_root>/.build-id/ */
	DEBUG_FILE_DEBUGLINK,  /* .gnu_debuglink */
	DEBUG_FILE_DEBUGINFOD, /* fetched by build id */
};

struct debug_file_where {
	enum debug_file_source source;
	char *path;    /* where it was opened, NULL if none; owned */
	bool pending;  /* debuginfod is fetching it */
};

Elf *debug_file__find(Elf *elf, const char *build_id, const struct stat *self,
		      const struct elf_object_opts *opts, struct debug_file_where *where);
Elf *debug_file__fetch(const char *build_id, const struct stat *self,
		       const struct elf_object_opts *opts, struct debug_file_where *where);
void debug_file_where__release(struct debug_file_where *where);

#endif
