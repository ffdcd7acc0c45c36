/* vdso: the agent's own vdso image as an elf_object. Every process on a
 * kernel gets the same vdso, so ours symbolizes their [vdso] addresses
 * (for processes of the agent's own ABI: a 32-bit process's compat vdso
 * is a different image).
 *
 *   vdso__open(&obj)   0: a new elf_object (the caller frees it with
 *                      elf_object__free); -ENOENT: no vdso in this
 *                      process; or elf_object__open_memory's -errno
 */
#ifndef BRASA_SYMBOLIZE_VDSO_H
#define BRASA_SYMBOLIZE_VDSO_H

#include "symbolize/elf_object.h"

int vdso__open(struct elf_object **out);

#endif
