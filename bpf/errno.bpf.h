/* errno values for the BPF programs. vmlinux.h has the kernel's types but
 * none of its macros, and the BPF build reads no host kernel header, so
 * the few errors the programs return or compare helper results with are
 * defined here, once (include/uapi/asm-generic/errno-base.h: the same on
 * every architecture). */
#ifndef BRASA_BPF_ERRNO_BPF_H
#define BRASA_BPF_ERRNO_BPF_H

#define ENOENT 2
#define EFAULT 14
#define EEXIST 17
#define ERANGE 34

#endif
