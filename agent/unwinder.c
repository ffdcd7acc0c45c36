#include "agent/unwinder.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <gelf.h>
#include <elfutils/libdwelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "bpf/profile.h"
#include "common/log.h"
#include "common/macros.h"
#include "common/parse.h"
#include "common/u64map.h"
#include "symbolize/procmaps.h"
#include "unwind/cfi_rows.h"
#include "unwind/unwind_table.h"

struct unwinder {
	struct unwinder_maps maps;
	struct unwinder_opts opts;
	struct unwind_rules *rules;
	struct unwind_cache *cache;
	size_t rules_synced; /* rule ids below this are in the BPF array */
	/* objects whose table could not be built (no CFI, garbage): not
	 * retried for every process that maps them. Bounded; cleared when
	 * full, which only costs a retry. */
	struct u64map failed;
	struct unwinder_stats stats;
	struct proc_unwind scratch; /* 10-11 KiB: not on the stack */
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Deletes an evicted table's entries from the kernel maps. */
static void on_evict(const struct unwind_table *t, void *ctx)
{
	struct unwinder *u = ctx;
	struct unwind_chunk_key k = { .table_id = t->table_id };

	bpf_map_delete_elem(u->maps.info, &t->table_id);
	for (k.index = 0; k.index < t->info.index_pages; k.index++)
		bpf_map_delete_elem(u->maps.index, &k);
	for (k.index = 0; k.index < t->info.chunk_count; k.index++)
		bpf_map_delete_elem(u->maps.chunks, &k);
	u->stats.evictions++;
}

int unwinder__new(const struct unwinder_maps *maps, const struct unwinder_opts *opts,
		  struct unwinder **out)
{
	struct unwinder *u = calloc(1, sizeof(*u));

	if (!u)
		return -ENOMEM;
	u->maps = *maps;
	u->opts = *opts;
	if (!u->opts.proc_root)
		u->opts.proc_root = "/proc";
	if (!u->opts.max_bytes)
		u->opts.max_bytes = 128u << 20;
	u->rules = unwind_rules__new();
	u->cache = unwind_cache__new(u->opts.max_bytes);
	if (!u->rules || !u->cache) {
		unwinder__free(u);
		return -ENOMEM;
	}
	unwind_cache__set_on_evict(u->cache, on_evict, u);
	*out = u;
	return 0;
}

void unwinder__free(struct unwinder *u)
{
	if (!u)
		return;
	/* the kernel maps go with the BPF object: no need to delete */
	unwind_cache__set_on_evict(u->cache, NULL, NULL);
	unwind_cache__free(u->cache);
	unwind_rules__free(u->rules);
	u64map_release(&u->failed);
	free(u);
}

/* New rules go to the kernel before any table that refers to them. */
static int sync_rules(struct unwinder *u)
{
	size_t n = unwind_rules__count(u->rules);

	for (; u->rules_synced < n; u->rules_synced++) {
		__u32 id = (__u32)u->rules_synced;
		const struct unwind_rule *r = unwind_rules__get(u->rules, (uint16_t)id);
		int err;

		if (!r)
			continue;
		err = bpf_map_update_elem(u->maps.rules, &id, r, BPF_ANY);
		if (err)
			return err;
	}
	return 0;
}

static int load_table(struct unwinder *u, const struct unwind_table *t)
{
	struct unwind_chunk_key k = { .table_id = t->table_id };
	int err;

	/* chunks and index pages first: the info record makes them reachable */
	for (k.index = 0; k.index < t->info.chunk_count; k.index++) {
		err = bpf_map_update_elem(u->maps.chunks, &k, &t->chunks[k.index], BPF_ANY);
		if (err)
			return err;
	}
	for (k.index = 0; k.index < t->info.index_pages; k.index++) {
		err = bpf_map_update_elem(u->maps.index, &k, &t->index_pages[k.index], BPF_ANY);
		if (err)
			return err;
	}
	return bpf_map_update_elem(u->maps.info, &t->table_id, &t->info, BPF_ANY);
}

#define FAILED_MAX 4096

static uint64_t string_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return h;
}

/* The cache key of a file: its GNU build id, else identity and mtime. */
static void object_key(Elf *elf, int fd, char *key, size_t len)
{
	const void *id = NULL;
	ssize_t n = dwelf_elf_gnu_build_id(elf, &id);
	struct stat st;

	if (n > 0 && n <= 64) {
		const unsigned char *b = id;

		for (ssize_t i = 0; i < n; i++)
			snprintf(key + 2 * i, len - 2 * (size_t)i, "%02x", b[i]);
		return;
	}
	if (fstat(fd, &st) == 0)
		snprintf(key, len, "dev%lx:ino%lu:size%ld:mtime%ld", (unsigned long)st.st_dev,
			 (unsigned long)st.st_ino, (long)st.st_size, (long)st.st_mtime);
	else
		key[0] = 0;
}

/* The separate debug file of a build id, for its .debug_frame (code
 * whose CFI was moved out of .eh_frame). -1 when there is none. */
static int open_debug_file(const char *build_id)
{
	char path[PATH_MAX];

	if (strlen(build_id) < 3 || strchr(build_id, ':'))
		return -1; /* not a build id */
	snprintf(path, sizeof(path), "/usr/lib/debug/.build-id/%.2s/%s.debug", build_id,
		 build_id + 2);
	return open(path, O_RDONLY | O_CLOEXEC);
}

/* bias = process address - ELF vaddr, for the segment the mapping maps.
 * lld and gold let two segments share a file page, so the mapping's page
 * can hold the end of a read-only segment too: executable segments win
 * (only executable mappings come here), as in elf_object__vaddr. */
static int mapping_bias(Elf *elf, const struct procmaps_entry *m, uint64_t *bias)
{
	size_t n;

	if (elf_getphdrnum(elf, &n))
		return -ENOEXEC;
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < n; i++) {
			GElf_Phdr ph;
			uint64_t page_off;

			if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD ||
			    (pass == 0 && !(ph.p_flags & PF_X)))
				continue;
			page_off = ph.p_offset & ~(uint64_t)0xfff;
			if (m->offset >= page_off && m->offset < ph.p_offset + ph.p_filesz) {
				*bias = m->start - m->offset + ph.p_offset - ph.p_vaddr;
				return 0;
			}
		}
	}
	return -ENOENT;
}

/* Finds or builds the table of one mapped file; returns its id (0: none). */
static uint32_t table_for(struct unwinder *u, int pid, const struct procmaps_entry *m,
			  uint64_t *bias)
{
	char key[160];
	const struct unwind_table *cached;
	struct unwind_table *t = NULL;
	struct cfi_rows *rows = NULL;
	_cleanup_close_ int fd = -1, debug_fd = -1;
	Elf *elf = NULL, *debug_elf = NULL;
	uint64_t key_hash;
	uint32_t id = 0;
	uint64_t t0;
	int err;

	fd = procmaps__open(u->opts.proc_root, pid, m);
	if (fd < 0)
		return 0;
	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf)
		return 0;
	if (mapping_bias(elf, m, bias))
		goto out;
	object_key(elf, fd, key, sizeof(key));
	if (!key[0])
		goto out;
	cached = unwind_cache__get(u->cache, key);
	if (cached) {
		id = cached->table_id;
		goto out;
	}
	key_hash = string_hash(key);
	if (u64map_get(&u->failed, key_hash, NULL))
		goto out;
	t0 = mono_ns();
	debug_fd = open_debug_file(key);
	if (debug_fd >= 0)
		debug_elf = elf_begin(debug_fd, ELF_C_READ_MMAP, NULL);
	err = cfi_rows__build(elf, debug_elf, NULL, &rows);
	if (!err)
		err = unwind_table__build(rows, u->rules, &t);
	if (!err)
		err = sync_rules(u);
	if (err) {
		u->stats.tables_failed++;
		log_debug("failed to build the unwind table of '%s': %s",
			  m->path ? m->path : "(no path)", strerror(-err));
		unwind_table__free(t);
		if (u->failed.len >= FAILED_MAX)
			u64map_clear(&u->failed);
		u64map_set(&u->failed, key_hash, 1);
		goto out;
	}
	err = unwind_cache__put(u->cache, key, t); /* takes t in every case */
	if (err) {
		u->stats.tables_failed++;
		goto out;
	}
	cached = unwind_cache__get(u->cache, key);
	if (!cached || load_table(u, cached)) {
		u->stats.tables_failed++;
		goto out;
	}
	id = cached->table_id;
	u->stats.tables_built++;
	u->stats.table_build_ns += mono_ns() - t0;
out:
	cfi_rows__free(rows);
	elf_end(debug_elf);
	elf_end(elf);
	return id;
}

/* mm->start_stack of a process, field 28 of /proc/PID/stat: the BPF side
 * copies the main thread's stack up to there at every sample. 0 when it
 * cannot be read (the copy then has a fixed size). */
static uint64_t stack_top(const char *proc_root, uint32_t tgid)
{
	char path[PATH_MAX], buf[1024], *p, *tok, *save = NULL;
	uint64_t top = 0;
	ssize_t n;
	int field = 2;
	_cleanup_close_ int fd = -1;

	snprintf(path, sizeof(path), "%s/%u/stat", proc_root, tgid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	/* the command name (field 2) may hold spaces and parentheses */
	p = strrchr(buf, ')');
	if (!p)
		return 0;
	for (tok = strtok_r(p + 1, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save))
		if (++field == 28)
			return parse_u64(tok, 10, &top) ? 0 : top;
	return 0;
}

int unwinder__load_process(struct unwinder *u, uint32_t tgid, uint32_t image)
{
	struct proc_unwind_key key = { .tgid = tgid, .image = image };
	struct proc_unwind *pu = &u->scratch;
	struct procmaps *maps = NULL;
	size_t n = 0;
	int err;

	err = procmaps__read(u->opts.proc_root, (int)tgid, &maps);
	if (err) {
		u->stats.processes_failed++;
		return err;
	}
	for (size_t i = 0; i < PROFILE_PROC_MAPS_MAX; i++) {
		pu->start[i] = PROFILE_PROC_MAP_PAD;
		pu->maps[i] = (struct proc_map_entry){ .start = PROFILE_PROC_MAP_PAD,
						       .end = PROFILE_PROC_MAP_PAD };
	}
	/* /proc/PID/maps is sorted by address, so the table is too */
	for (size_t i = 0; i < maps->count; i++) {
		const struct procmaps_entry *m = &maps->entries[i];
		struct proc_map_entry *e;
		uint64_t bias = 0;

		/* [vsyscall] sits above every user address (and above the
		 * BPF search's padding): no table, nothing to find there */
		if (!(m->perms & PROCMAPS_PERM_EXEC) || m->start >= PROFILE_PROC_MAP_PAD ||
		    m->end > PROFILE_PROC_MAP_PAD)
			continue;
		if (n == PROFILE_PROC_MAPS_MAX) {
			u->stats.too_many_mappings++;
			break;
		}
		pu->start[n] = m->start;
		e = &pu->maps[n++];
		e->start = m->start;
		e->end = m->end;
		e->table_id = 0;
		if (m->kind == PROCMAPS_FILE || m->kind == PROCMAPS_MEMFD)
			e->table_id = table_for(u, (int)tgid, m, &bias);
		e->bias = bias;
		if (!e->table_id)
			u->stats.mappings_without_table++;
	}
	procmaps__free(maps);
	pu->count = (uint32_t)n;
	pu->stack_top = stack_top(u->opts.proc_root, tgid);
	/* the BPF side's memo of the last stack starts empty: the
	 * mappings may have changed under it */
	pu->memo_cur = 0;
	memset(pu->memo, 0, sizeof(pu->memo));
	{
		size_t with = 0;

		for (size_t i = 0; i < n; i++)
			with += pu->maps[i].table_id != 0;
		log_debug("unwind tables for process %u (image %08x): %zu of %zu executable "
			  "mappings", tgid, image, with, n);
	}
	err = bpf_map_update_elem(u->maps.proc_unwind, &key, pu, BPF_ANY);
	if (err) {
		u->stats.processes_failed++;
		log_debug("failed to load the mapping table of process %u: %s", tgid,
			  strerror(-err));
		return err;
	}
	u->stats.processes_loaded++;
	return 0;
}

void unwinder__forget_process(struct unwinder *u, uint32_t tgid, uint32_t image)
{
	struct proc_unwind_key key = { .tgid = tgid, .image = image };

	bpf_map_delete_elem(u->maps.proc_unwind, &key);
}

void unwinder__stats(const struct unwinder *u, struct unwinder_stats *st)
{
	struct unwind_cache_stats cs;

	*st = u->stats;
	unwind_cache__stats(u->cache, &cs);
	st->tables = cs.tables;
	st->table_bytes = cs.bytes;
	st->max_bytes = cs.max_bytes;
	st->rules = unwind_rules__count(u->rules);
}
