/* elf_file: what every reader of ELF files in symbolize/ needs from
 * libelf: its one-time initialization, an Elf that no longer needs its
 * fd, the GNU build id, and a cleanup helper.
 *
 *   elf_file__ready()            libelf initialized (once); false if it
 *                                cannot be
 *   elf_file__from_fd(fd)        an ELF_K_ELF Elf that no longer needs fd
 *                                (libelf has the file mapped or read), or
 *                                NULL; the caller elf_end()s it
 *   elf_file__build_id(elf, out) the GNU build id as lower-case hex, ""
 *                                if none (notes of sections, then of
 *                                program headers)
 *   _cleanup_elf_                elf_end() at scope exit (NULL-safe)
 */
#ifndef BRASA_SYMBOLIZE_ELF_FILE_H
#define BRASA_SYMBOLIZE_ELF_FILE_H

#include <libelf.h>
#include <stdbool.h>

#include "common/macros.h"

/* 64 bytes as hex, and the NUL: GNU ld emits 20 bytes (sha1), some
 * linkers 16 (md5/uuid); 64 leaves room for anything sane. */
#define ELF_BUILD_ID_HEX_MAX 129

bool elf_file__ready(void);
Elf *elf_file__from_fd(int fd);
void elf_file__build_id(Elf *elf, char out[ELF_BUILD_ID_HEX_MAX]);
void elf_file__endp(Elf **e);
#define _cleanup_elf_ _cleanup_(elf_file__endp)

#endif
