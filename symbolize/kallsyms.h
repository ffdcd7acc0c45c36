/* kallsyms: the kernel's text symbols from /proc/kallsyms, sorted for
 * address lookup.
 *
 *   kallsyms__load(path, &ks)   0; -EPERM when every address reads as 0
 *                               (kptr_restrict, or no CAP_SYSLOG): there are
 *                               no kernel symbols to be had; -ENOENT,
 *                               -EACCES, -EINVAL (malformed), -ENOMEM...
 *   kallsyms__parse(text, len, &ks)  same, from a buffer
 *   kallsyms__lookup(ks, addr, &sym) 0 or -ENOENT
 *   kallsyms__count(ks)         number of symbols held
 *   kallsyms__free(ks)          NULL-safe
 *
 * Only text symbols (types t, T, w, W) are kept. A symbol is taken to run
 * up to the next one. Strings point into ks and live until __free.
 */
#ifndef BRASA_SYMBOLIZE_KALLSYMS_H
#define BRASA_SYMBOLIZE_KALLSYMS_H

#include <stddef.h>
#include <stdint.h>

struct kallsyms;

struct kallsyms_sym {
	uint64_t addr;
	const char *name;
	const char *module; /* NULL for the core kernel */
};

int kallsyms__parse(const char *text, size_t len, struct kallsyms **out);
int kallsyms__load(const char *path, struct kallsyms **out);
int kallsyms__lookup(const struct kallsyms *ks, uint64_t addr,
		     struct kallsyms_sym *sym);
size_t kallsyms__count(const struct kallsyms *ks);
void kallsyms__free(struct kallsyms *ks);

#endif
