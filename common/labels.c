/* labels: sorted name=value sets (see labels.h). Sets are small (tens of
 * labels), so a sorted array with binary search beats any hash table. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/labels.h"

/* Index of name, or of where it would be inserted (*found false). */
static size_t find(const struct labels *ls, const char *name, bool *found)
{
	size_t lo = 0, hi = ls->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(ls->v[mid].name, name);

		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

int labels__set(struct labels *ls, const char *name, const char *value)
{
	bool found;
	size_t i = find(ls, name, &found);
	char *v;

	if (!value || !*value) {
		labels__del(ls, name);
		return 0;
	}
	v = strdup(value);
	if (!v)
		return -ENOMEM;
	if (found) {
		free(ls->v[i].value);
		ls->v[i].value = v;
		return 0;
	}
	if (ls->n == ls->cap) {
		size_t cap = ls->cap ? ls->cap * 2 : 8;
		struct label *nv = realloc(ls->v, cap * sizeof(*nv));

		if (!nv) {
			free(v);
			return -ENOMEM;
		}
		ls->v = nv;
		ls->cap = cap;
	}
	char *n = strdup(name);
	if (!n) {
		free(v);
		return -ENOMEM;
	}
	memmove(&ls->v[i + 1], &ls->v[i], (ls->n - i) * sizeof(ls->v[0]));
	ls->v[i] = (struct label){ .name = n, .value = v };
	ls->n++;
	return 0;
}

const char *labels__get(const struct labels *ls, const char *name)
{
	bool found;
	size_t i = find(ls, name, &found);

	return found ? ls->v[i].value : NULL;
}

void labels__del(struct labels *ls, const char *name)
{
	bool found;
	size_t i = find(ls, name, &found);

	if (!found)
		return;
	free(ls->v[i].name);
	free(ls->v[i].value);
	memmove(&ls->v[i], &ls->v[i + 1], (ls->n - i - 1) * sizeof(ls->v[0]));
	ls->n--;
}

int labels__copy(struct labels *dst, const struct labels *src)
{
	struct labels tmp = { 0 };

	if (src->n) {
		tmp.v = calloc(src->n, sizeof(tmp.v[0]));
		if (!tmp.v)
			return -ENOMEM;
		tmp.cap = src->n;
	}
	for (size_t i = 0; i < src->n; i++) {
		tmp.v[i].name = strdup(src->v[i].name);
		tmp.v[i].value = strdup(src->v[i].value);
		tmp.n++;
		if (!tmp.v[i].name || !tmp.v[i].value) {
			labels__clear(&tmp);
			return -ENOMEM;
		}
	}
	labels__clear(dst);
	*dst = tmp;
	return 0;
}

void labels__clear(struct labels *ls)
{
	if (!ls)
		return;
	for (size_t i = 0; i < ls->n; i++) {
		free(ls->v[i].name);
		free(ls->v[i].value);
	}
	free(ls->v);
	*ls = (struct labels){ 0 };
}

bool labels__equal(const struct labels *a, const struct labels *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i].name, b->v[i].name) || strcmp(a->v[i].value, b->v[i].value))
			return false;
	return true;
}

static uint64_t fnv1a(uint64_t h, const char *s)
{
	/* the terminating NUL is hashed too, so "a","bc" != "ab","c" */
	do {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ull;
	} while (*s++);
	return h;
}

uint64_t labels__hash(const struct labels *ls)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < ls->n; i++) {
		h = fnv1a(h, ls->v[i].name);
		h = fnv1a(h, ls->v[i].value);
	}
	return h;
}

bool labels__valid_name(const char *name)
{
	if (!name || !*name)
		return false;
	for (const char *c = name; *c; c++) {
		bool alpha = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || *c == '_';
		bool digit = *c >= '0' && *c <= '9';

		if (!alpha && !(digit && c != name))
			return false;
	}
	return true;
}
