/* u64map: open-addressing hash table from uint64_t keys to uint64_t values
 * (pointers fit). Linear probing, power-of-two capacity, grows at 70 % load,
 * tombstone-free deletion by backward shift.
 *
 *   u64map_init(m)                 empty map (also a zeroed struct)
 *   u64map_set(m, key, value)      insert or replace: 0 or -ENOMEM
 *   u64map_get(m, key, &value)     true if present
 *   u64map_del(m, key)             true if it was present
 *   u64map_clear(m)                remove all, memory kept
 *   u64map_release(m)              free memory, NULL-safe
 *   u64map_foreach(m, i)           for (i...) if (u64map_used(m, i)) m->keys[i]...
 */
#ifndef BRASA_COMMON_U64MAP_H
#define BRASA_COMMON_U64MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct u64map {
	uint64_t *keys;
	uint64_t *values;
	uint8_t *used;
	size_t cap; /* 0 or a power of two */
	size_t len;
};

void u64map_init(struct u64map *m);
int u64map_set(struct u64map *m, uint64_t key, uint64_t value);
bool u64map_get(const struct u64map *m, uint64_t key, uint64_t *value);
bool u64map_del(struct u64map *m, uint64_t key);
void u64map_clear(struct u64map *m);
void u64map_release(struct u64map *m);

static inline bool u64map_used(const struct u64map *m, size_t i)
{
	return m->used[i];
}

#define u64map_foreach(m, i) for (size_t i = 0; i < (m)->cap; i++) if (u64map_used((m), i))

/* A decent 64-bit mixer (splitmix64 finalizer) for keys that are not
 * already well distributed. */
static inline uint64_t u64map_mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

#endif
