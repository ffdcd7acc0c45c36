/* vdso: the agent's own vdso image as an elf_object. Every process on a
 * kernel gets the same vdso, so ours symbolizes their [vdso] addresses
 * (for processes of the agent's own ABI: a 32-bit process's compat vdso
 * is a different image).
 *
 *   vdso__open()    new elf_object (caller frees with elf_object__free),
 *                   NULL + errno (ENOENT: no vdso in this process)
 */
#ifndef BRASA_SYMBOLIZE_VDSO_H
#define BRASA_SYMBOLIZE_VDSO_H

#include "symbolize/elf_object.h"

struct elf_object *vdso__open(void);

#endif
