#include "u64map.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void u64map_init(struct u64map *m)
{
	memset(m, 0, sizeof(*m));
}

static size_t slot_of(const struct u64map *m, uint64_t key)
{
	return (size_t)u64map_mix(key) & (m->cap - 1);
}

static int grow(struct u64map *m)
{
	struct u64map bigger = { 0 };
	size_t cap = m->cap ? m->cap * 2 : 16;

	bigger.keys = malloc(cap * sizeof(uint64_t));
	bigger.values = malloc(cap * sizeof(uint64_t));
	bigger.used = calloc(cap, 1);
	if (!bigger.keys || !bigger.values || !bigger.used) {
		u64map_release(&bigger);
		return -ENOMEM;
	}
	bigger.cap = cap;
	for (size_t i = 0; i < m->cap; i++) {
		size_t j;

		if (!m->used[i])
			continue;
		j = slot_of(&bigger, m->keys[i]);
		while (bigger.used[j])
			j = (j + 1) & (cap - 1);
		bigger.used[j] = 1;
		bigger.keys[j] = m->keys[i];
		bigger.values[j] = m->values[i];
	}
	bigger.len = m->len;
	u64map_release(m);
	*m = bigger;
	return 0;
}

int u64map_set(struct u64map *m, uint64_t key, uint64_t value)
{
	size_t i;

	if ((m->len + 1) * 10 > m->cap * 7) {
		int err = grow(m);

		if (err)
			return err;
	}
	i = slot_of(m, key);
	while (m->used[i]) {
		if (m->keys[i] == key) {
			m->values[i] = value;
			return 0;
		}
		i = (i + 1) & (m->cap - 1);
	}
	m->used[i] = 1;
	m->keys[i] = key;
	m->values[i] = value;
	m->len++;
	return 0;
}

static bool find(const struct u64map *m, uint64_t key, size_t *pos)
{
	size_t i;

	if (!m->cap)
		return false;
	i = slot_of(m, key);
	while (m->used[i]) {
		if (m->keys[i] == key) {
			*pos = i;
			return true;
		}
		i = (i + 1) & (m->cap - 1);
	}
	return false;
}

bool u64map_get(const struct u64map *m, uint64_t key, uint64_t *value)
{
	size_t i;

	if (!find(m, key, &i))
		return false;
	if (value)
		*value = m->values[i];
	return true;
}

bool u64map_del(struct u64map *m, uint64_t key)
{
	size_t i, j, mask = m->cap - 1;

	if (!find(m, key, &i))
		return false;
	/* Backward-shift deletion keeps probe chains intact without tombstones. */
	j = i;
	for (;;) {
		size_t home;

		j = (j + 1) & mask;
		if (!m->used[j])
			break;
		home = slot_of(m, m->keys[j]);
		/* Move j into the hole at i if its home is not in (i, j]. */
		if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
			m->keys[i] = m->keys[j];
			m->values[i] = m->values[j];
			i = j;
		}
	}
	m->used[i] = 0;
	m->len--;
	return true;
}

void u64map_clear(struct u64map *m)
{
	if (m->used)
		memset(m->used, 0, m->cap);
	m->len = 0;
}

void u64map_release(struct u64map *m)
{
	if (!m)
		return;
	free(m->keys);
	free(m->values);
	free(m->used);
	memset(m, 0, sizeof(*m));
}
