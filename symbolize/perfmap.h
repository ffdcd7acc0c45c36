/* perfmap: a JIT's symbol map, /tmp/perf-PID.map, with lines
 * "START SIZE name" (START and SIZE in hex). JITs append as they compile,
 * so the file is read incrementally, a bounded chunk at a time.
 *
 * The file is written by the profiled process, so it is untrusted:
 * malformed lines are skipped; a line longer than PERFMAP_MAX_LINE is
 * skipped up to its newline without being held (a file that never writes
 * one costs one pass, not a re-read per lookup); a refresh reads at most
 * PERFMAP_READ_CHUNK bytes; and the map stops growing once its memory
 * (entries and names) would pass the budget the caller gives.
 *
 *   perfmap__from_fd(fd, &pm)            takes fd (opened by the caller, see
 *                                        procfile.h): 0 or -ENOMEM; reads
 *                                        nothing yet
 *   perfmap__open(path, &pm)             the same from a path of the agent's
 *                                        own (tests, tools): 0, -ENOENT...
 *   perfmap__parse(text, len, &pm)       a map from a buffer (fuzzing):
 *                                        every complete line of text
 *   perfmap__refresh(pm, max_bytes)      reads what was appended, up to one
 *                                        chunk: 0, -ENOSPC (the map's memory
 *                                        reached max_bytes: not read further),
 *                                        -errno; a file shorter than what was
 *                                        read (rewritten) starts over
 *   perfmap__grew(pm)                    true if the file is larger than what
 *                                        was read (cheap: one fstat)
 *   perfmap__lookup(pm, addr, &entry)    0 or -ENOENT; never reads the file
 *   perfmap__count(pm), perfmap__bytes(pm)
 *   perfmap__free(pm)                    NULL-safe
 *
 * When entries overlap (code memory reused), the later line wins. Names
 * stay valid until the next refresh or __free. Not thread-safe.
 */
#ifndef BRASA_SYMBOLIZE_PERFMAP_H
#define BRASA_SYMBOLIZE_PERFMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PERFMAP_MAX_LINE 4096
#define PERFMAP_READ_CHUNK ((size_t)1 << 20)

struct perfmap;

struct perfmap_entry {
	uint64_t start, size;
	const char *name;
};

int perfmap__from_fd(int fd, struct perfmap **out);
int perfmap__open(const char *path, struct perfmap **out);
int perfmap__parse(const char *text, size_t len, struct perfmap **out);
int perfmap__refresh(struct perfmap *pm, size_t max_bytes);
bool perfmap__grew(const struct perfmap *pm);
int perfmap__lookup(const struct perfmap *pm, uint64_t addr, struct perfmap_entry *entry);
size_t perfmap__count(const struct perfmap *pm);
size_t perfmap__bytes(const struct perfmap *pm);
void perfmap__free(struct perfmap *pm);

#endif
