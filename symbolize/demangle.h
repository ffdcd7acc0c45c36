/* demangle: C++ (Itanium ABI, "_Z...") and Rust (legacy "_ZN...17h<hash>E"
 * and v0 "_R...") symbol names as people read them, through libiberty's
 * demangler (the one c++filt, gdb and perf use).
 *
 * Names come out as perf and rustfilt print them: C++ with parameter
 * types and qualifiers, Rust without the legacy hash or v0's crate
 * disambiguators. libiberty bounds its own recursion, so hostile names
 * fail instead of exhausting the stack; results longer than
 * DEMANGLE_MAX_LEN bytes are cut there.
 *
 *   demangle__is_mangled(name)  true if name has a prefix worth trying
 *                               (cheap: no demangling)
 *   demangle__name(name)        the demangled name (malloc'd, the
 *                               caller frees it), or NULL: not a mangled
 *                               name, or one libiberty could not read
 *                               (errno EINVAL), or out of memory (ENOMEM)
 */
#ifndef BRASA_SYMBOLIZE_DEMANGLE_H
#define BRASA_SYMBOLIZE_DEMANGLE_H

#include <stdbool.h>

#define DEMANGLE_MAX_LEN 4096

bool demangle__is_mangled(const char *name);
char *demangle__name(const char *name);

#endif
