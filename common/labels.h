/* labels: a set of name=value string pairs, the unit of metadata that
 * relabeling rewrites and backends receive. Kept sorted by name, names
 * unique; as in Prometheus, setting a label to "" removes it.
 *
 *   labels__set(ls, name, value)   0 or -ENOMEM; value "" or NULL removes
 *   labels__get(ls, name)          the value, or NULL when absent
 *   labels__del(ls, name)          removes if present
 *   labels__copy(dst, src)         dst becomes a deep copy; 0 or -ENOMEM
 *                                  (dst unchanged on error)
 *   labels__clear(ls)              frees everything, NULL-safe; ls stays valid
 *   labels__equal(a, b)            same names and values
 *   labels__hash(ls)               64-bit hash of the whole set (FNV-1a)
 *   labels__valid_name(name)       Prometheus label name [a-zA-Z_][a-zA-Z0-9_]*
 *
 * A zero-initialized struct labels is empty and valid. Not thread-safe.
 */
#ifndef BRASA_COMMON_LABELS_H
#define BRASA_COMMON_LABELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct label {
	char *name;
	char *value;
};

struct labels {
	struct label *v; /* sorted by name (strcmp) */
	size_t n, cap;
};

int labels__set(struct labels *ls, const char *name, const char *value);
const char *labels__get(const struct labels *ls, const char *name);
void labels__del(struct labels *ls, const char *name);
int labels__copy(struct labels *dst, const struct labels *src);
void labels__clear(struct labels *ls);
bool labels__equal(const struct labels *a, const struct labels *b);
uint64_t labels__hash(const struct labels *ls);
bool labels__valid_name(const char *name);

#endif
