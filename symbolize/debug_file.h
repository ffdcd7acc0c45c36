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
 *   debug_file__find(elf, build_id, self, opts)
 *       the debug file, open (the caller elf_end()s it), or NULL: none,
 *       no opts->debug_root and no usable .gnu_debuglink, or past
 *       opts->deadline_ns. self: the object's own stat, so it is never
 *       its own debug file.
 */
#ifndef BRASA_SYMBOLIZE_DEBUG_FILE_H
#define BRASA_SYMBOLIZE_DEBUG_FILE_H

#include <libelf.h>
#include <sys/stat.h>

#include "symbolize/elf_object.h"

Elf *debug_file__find(Elf *elf, const char *build_id, const struct stat *self,
		      const struct elf_object_opts *opts);

#endif
