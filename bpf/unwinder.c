#include "bpf/unwinder.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <elfutils/libdwelf.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "bpf/profile.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/macros.h"
#include "common/u64map.h"
#include "common/workq.h"
#include "symbolize/procfile.h"
#include "symbolize/procinfo.h"
#include "unwind/cfi_rows.h"
#include "unwind/go_rows.h"
#include "unwind/unwind_table.h"

#define DEFAULT_BUILD_TIMEOUT_MS 10000
/* libLLVM-15, the largest of a Debian 12 development install, peaks at 44 MB */
#define DEFAULT_BUILD_MAX_BYTES ((size_t)64 << 20)
/* Files whose tables we know (built, building or failed): bounded, the
 * least recently used forgotten first (which only costs a rebuild). */
#define REFS_MAX 16384
/* Processes waiting for one table's build; past this they get it at
 * their next reload. */
#define WAITERS_MAX 4096
#define KEY_LEN (2 * 32 + 1) /* SHA-256 in hex */

enum ref_state {
	REF_NEW = 0,   /* to build when a process maps it */
	REF_BUILDING,
	REF_READY,
	REF_FAILED,    /* its CFI does not build: frame pointers */
};

/* A mapping of one process that waits for a table. */
struct waiter {
	uint32_t tgid, image;
	uint64_t start;
};

struct build_job;

/* What we know about the table of one file (by identity). */
struct file_ref {
	struct file_id id;
	uint64_t hash;
	enum ref_state state;
	char key[KEY_LEN];       /* content key, once built */
	struct build_job *job;
	struct waiter *waiters;
	size_t nwaiters, cap;
	uint64_t last_used;
	/* ELF vaddr - file offset of its executable segment, learnt from a
	 * process's mapping: a mapping known only by a kernel record gets
	 * its bias from it (unwinder__attach) */
	uint64_t vaddr_delta;
	bool has_delta;
};

struct build_job {
	struct workq_job base;
	struct unwinder *u;
	struct file_ref *ref;     /* NULL once the ref is gone */
	int fd;
	const char *debug_root;
	struct cfi_limits limits;
	uint64_t timeout_ns;
	/* results */
	int err;
	uint64_t ns;
	size_t rows, fdes, fdes_skipped, go_funcs, go_skipped; /* for the debug log */
	char key[KEY_LEN];
	struct unwind_table *table;
	struct unwind_rules *rules; /* the table's private rule ids */
};

struct unwinder {
	uint64_t generation; /* one more at every write of a mapping table */
	struct unwinder_maps maps;
	struct unwinder_opts opts;
	struct unwind_rules *rules;
	struct unwind_cache *cache;  /* content key -> table */
	size_t rules_synced;         /* rule ids below this are in the BPF array */
	struct u64map refs;          /* file id hash -> struct file_ref * */
	struct u64map by_inode;      /* inode_key(dev, ino) -> struct file_ref *,
				      * the newest ref of that inode */
	uint64_t tick;
	struct unwinder_stats stats;
	struct proc_unwind scratch;  /* 10-11 KiB: not on the stack */
};

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
	if (!u->opts.max_bytes)
		u->opts.max_bytes = 128u << 20;
	if (!u->opts.build_timeout_ms)
		u->opts.build_timeout_ms = DEFAULT_BUILD_TIMEOUT_MS;
	if (!u->opts.build_max_bytes)
		u->opts.build_max_bytes = DEFAULT_BUILD_MAX_BYTES;
	if (!u->opts.debug_root)
		u->opts.debug_root = "/usr/lib/debug";
	if (unwind_rules__new(&u->rules) || unwind_cache__new(u->opts.max_bytes, &u->cache)) {
		unwinder__free(u);
		return -ENOMEM;
	}
	unwind_cache__set_on_evict(u->cache, on_evict, u);
	*out = u;
	return 0;
}

static uint64_t inode_key(uint64_t dev, uint64_t ino)
{
	return (dev * 0x9e3779b97f4a7c15ull) ^ ino;
}

/* Forgets r (NULL-safe); u: where it is indexed by inode, NULL when the
 * index goes too. */
static void ref_free(struct unwinder *u, struct file_ref *r)
{
	uint64_t v;

	if (!r)
		return;
	if (u && u64map_get(&u->by_inode, inode_key(r->id.dev, r->id.ino), &v) &&
	    v == (uintptr_t)r)
		u64map_del(&u->by_inode, inode_key(r->id.dev, r->id.ino));
	if (r->job)
		r->job->ref = NULL;
	free(r->waiters);
	free(r);
}

void unwinder__free(struct unwinder *u)
{
	if (!u)
		return;
	/* the kernel maps go with the BPF object: no need to delete */
	unwind_cache__set_on_evict(u->cache, NULL, NULL);
	unwind_cache__free(u->cache);
	unwind_rules__free(u->rules);
	u64map_foreach(&u->refs, i)
		ref_free(NULL, (struct file_ref *)(uintptr_t)u->refs.values[i]);
	u64map_release(&u->refs);
	u64map_release(&u->by_inode);
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

/* ---- building (on a worker) ------------------------------------------ */

/* The separate debug file of a build id, for its .debug_frame (code
 * whose CFI was moved out of .eh_frame). -1 when there is none. The
 * system debug directory is the agent's own. */
static int open_debug_file(const char *debug_root, Elf *elf)
{
	const void *id = NULL;
	ssize_t n = dwelf_elf_gnu_build_id(elf, &id);
	char hex[129], path[PATH_MAX];
	const unsigned char *b = id;

	if (n < 2 || n > 64)
		return -1;
	for (ssize_t i = 0; i < n; i++)
		snprintf(hex + 2 * i, sizeof(hex) - 2 * (size_t)i, "%02x", b[i]);
	snprintf(path, sizeof(path), "%s/.build-id/%.2s/%s.debug", debug_root, hex, hex + 2);
	return procfile__open_trusted(path, 0);
}

static void digest_section(EVP_MD_CTX *md, Elf *elf, const char *name)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;

	if (!elf || elf_getshdrstrndx(elf, &shstrndx) != 0)
		return;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		const char *s;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type == SHT_NOBITS)
			continue;
		s = elf_strptr(elf, shstrndx, sh.sh_name);
		if (!s || strcmp(s, name) != 0)
			continue;
		d = elf_rawdata(scn, NULL);
		EVP_DigestUpdate(md, name, strlen(name) + 1);
		EVP_DigestUpdate(md, &sh.sh_addr, sizeof(sh.sh_addr));
		if (d && d->d_buf)
			EVP_DigestUpdate(md, d->d_buf, d->d_size);
		return;
	}
}

/* What a table is built from: the CFI sections, .gopclntab and the code
 * bytes its rows were decided by (go_hash), and where the executable
 * segments lie. Two files share a table only when all of it is equal. */
static int content_key(Elf *elf, Elf *debug_elf, uint64_t go_hash, char key[KEY_LEN])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char digest[32];
	unsigned int len = 0;
	size_t phnum = 0;

	if (!md)
		return -ENOMEM;
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	digest_section(md, elf, ".eh_frame");
	digest_section(md, elf, ".debug_frame");
	EVP_DigestUpdate(md, "debug", 6);
	digest_section(md, debug_elf, ".debug_frame");
	digest_section(md, elf, ".gopclntab");
	digest_section(md, elf, ".data.rel.ro.gopclntab");
	EVP_DigestUpdate(md, &go_hash, sizeof(go_hash));
	if (elf_getphdrnum(elf, &phnum) == 0) {
		for (size_t i = 0; i < phnum; i++) {
			GElf_Phdr ph;

			if (gelf_getphdr(elf, (int)i, &ph) && ph.p_type == PT_LOAD &&
			    (ph.p_flags & PF_X)) {
				EVP_DigestUpdate(md, &ph.p_vaddr, sizeof(ph.p_vaddr));
				EVP_DigestUpdate(md, &ph.p_memsz, sizeof(ph.p_memsz));
			}
		}
	}
	EVP_DigestFinal_ex(md, digest, &len);
	EVP_MD_CTX_free(md);
	for (unsigned i = 0; i < len && i < 32; i++)
		snprintf(key + 2 * i, KEY_LEN - 2 * i, "%02x", digest[i]);
	return 0;
}

static void build_run(struct workq_job *base)
{
	struct build_job *j = (struct build_job *)base;
	uint64_t t0 = clock__mono_ns();
	struct cfi_rows *rows = NULL;
	_cleanup_close_ int debug_fd = -1;
	Elf *elf = NULL, *debug_elf = NULL;

	j->limits.deadline_ns = t0 + j->timeout_ns;
	elf_version(EV_CURRENT);
	elf = elf_begin(j->fd, ELF_C_READ_MMAP, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF) {
		j->err = -ENOEXEC;
		goto out;
	}
	debug_fd = open_debug_file(j->debug_root, elf);
	if (debug_fd >= 0)
		debug_elf = elf_begin(debug_fd, ELF_C_READ_MMAP, NULL);
	j->err = go_rows__build_object(elf, debug_elf, &j->limits, &rows);
	if (!j->err)
		j->err = content_key(elf, debug_elf, rows->go_text_hash, j->key);
	if (rows) {
		j->rows = rows->count;
		j->fdes = rows->fde_count;
		j->fdes_skipped = rows->fde_skipped;
		j->go_funcs = rows->go_funcs;
		j->go_skipped = rows->go_funcs_skipped;
	}
	if (!j->err) {
		j->err = unwind_rules__new(&j->rules);
		if (!j->err)
			j->err = unwind_table__build(rows, j->rules, &j->table);
	}
out:
	cfi_rows__free(rows);
	elf_end(debug_elf);
	elf_end(elf);
	j->ns = clock__mono_ns() - t0;
}

static void add_waiter(struct file_ref *r, uint32_t tgid, uint32_t image, uint64_t start)
{
	for (size_t i = 0; i < r->nwaiters; i++)
		if (r->waiters[i].tgid == tgid && r->waiters[i].image == image &&
		    r->waiters[i].start == start)
			return;
	if (r->nwaiters == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 8;
		struct waiter *w;

		if (cap > WAITERS_MAX)
			return;
		w = reallocarray(r->waiters, cap, sizeof(*w));
		if (!w)
			return;
		r->waiters = w;
		r->cap = cap;
	}
	r->waiters[r->nwaiters++] = (struct waiter){ tgid, image, start };
}

/* Gives the mappings that waited for r's table its id. */
static void patch_waiters(struct unwinder *u, struct file_ref *r, uint32_t table_id)
{
	struct proc_unwind *pu = &u->scratch;

	for (size_t i = 0; i < r->nwaiters; i++) {
		const struct waiter *w = &r->waiters[i];
		struct proc_unwind_key key = { .tgid = w->tgid, .image = w->image };
		bool changed = false;

		if (bpf_map_lookup_elem(u->maps.proc_unwind, &key, pu) != 0)
			continue; /* gone, or forgotten */
		for (uint32_t m = 0; m < pu->count && m < PROFILE_PROC_MAPS_MAX; m++) {
			if (pu->maps[m].start == w->start && !pu->maps[m].table_id) {
				pu->maps[m].table_id = table_id;
				changed = true;
			}
		}
		if (!changed)
			continue;
		/* its memo holds frame-pointer steps */
		pu->memo_cur = 0;
		memset(pu->memo, 0, sizeof(pu->memo));
		if (bpf_map_update_elem(u->maps.proc_unwind, &key, pu, BPF_ANY) == 0) {
			u->stats.waiters_patched++;
			u->generation++;
		}
	}
	r->nwaiters = 0;
	free(r->waiters);
	r->waiters = NULL;
	r->cap = 0;
}

/* Takes a built table into the shared rules, the cache and the kernel;
 * returns its id, 0 on failure. */
static uint32_t adopt(struct unwinder *u, struct build_job *j)
{
	const struct unwind_table *cached = unwind_cache__get(u->cache, j->key);
	size_t n = unwind_rules__count(j->rules);
	_cleanup_free_ uint16_t *map = NULL;
	int err;

	if (cached) {
		u->stats.tables_shared++;
		return cached->table_id;
	}
	map = calloc(n ? n : 1, sizeof(*map));
	if (!map)
		return 0;
	for (size_t i = 0; i < n; i++)
		map[i] = unwind_rules__intern(u->rules, unwind_rules__get(j->rules, (uint16_t)i));
	err = unwind_table__remap_rules(j->table, map, n);
	if (!err)
		err = sync_rules(u);
	if (err)
		return 0;
	err = unwind_cache__put(u->cache, j->key, TAKE_PTR(j->table)); /* takes it */
	cached = err ? NULL : unwind_cache__get(u->cache, j->key);
	if (!cached || load_table(u, cached)) {
		if (cached)
			log_debug("failed to load an unwind table into the kernel: %s", strerror(errno));
		return 0;
	}
	/* the kernel has the rows now */
	unwind_table__release_rows((struct unwind_table *)cached);
	u->stats.tables_built++;
	return cached->table_id;
}

static void build_done(struct workq_job *base)
{
	struct build_job *j = (struct build_job *)base;
	struct unwinder *u = j->u;
	struct file_ref *r = j->ref;
	uint32_t id = 0;

	if (r) {
		r->job = NULL;
		if (j->base.cancelled) {
			r->state = REF_NEW;
		} else if (j->err) {
			r->state = REF_FAILED;
			u->stats.tables_failed++;
			u->stats.table_build_ns += j->ns;
			if (j->err == -ETIMEDOUT || j->err == -E2BIG) {
				if (j->err == -ETIMEDOUT)
					u->stats.tables_timed_out++;
				else
					u->stats.tables_too_large++;
				log_warn("gave up building an unwind table after %.1f s: %s "
					 "(its frames are walked by frame pointers)", (double)j->ns / 1e9,
					 j->err == -ETIMEDOUT ? "took too long" : "too large");
			} else {
				log_debug("failed to build an unwind table: %s", strerror(-j->err));
			}
		} else {
			u->stats.table_build_ns += j->ns;
			log_debug("built an unwind table in %.0f ms: %zu rows from %zu FDEs (%zu "
				  "skipped) and %zu Go functions (%zu skipped)", (double)j->ns / 1e6,
				  j->rows, j->fdes, j->fdes_skipped, j->go_funcs, j->go_skipped);
			id = adopt(u, j);
			if (id) {
				r->state = REF_READY;
				memcpy(r->key, j->key, sizeof(r->key));
			} else {
				r->state = REF_FAILED;
				u->stats.tables_failed++;
			}
		}
		if (id)
			patch_waiters(u, r, id);
		else
			r->nwaiters = 0;
	}
	unwind_table__free(j->table);
	unwind_rules__free(j->rules);
	if (j->fd >= 0)
		close(j->fd);
	free(j);
}

/* Builds r's table from fd (dup'd: the caller keeps it). */
static void start_build(struct unwinder *u, struct file_ref *r, int fd)
{
	struct build_job *j;

	if (r->job || fd < 0)
		return;
	j = calloc(1, sizeof(*j));
	if (!j)
		return;
	j->base.run = build_run;
	j->base.done = build_done;
	j->base.what = "building an unwind table";
	/* it stops at its own cap: a spare (and a second build in memory)
	 * only for one blocked past it */
	j->base.stuck_ms = u->opts.build_timeout_ms + WORKQ_STUCK_GRACE_MS;
	j->u = u;
	j->ref = r;
	j->debug_root = u->opts.debug_root;
	j->limits.max_bytes = u->opts.build_max_bytes;
	j->timeout_ns = (uint64_t)u->opts.build_timeout_ms * 1000000ull;
	j->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (j->fd < 0) {
		free(j);
		return;
	}
	r->state = REF_BUILDING;
	r->job = j;
	if (!u->opts.wq) {
		build_run(&j->base);
		build_done(&j->base);
		return;
	}
	if (workq__submit(u->opts.wq, WORKQ_BUILD, &j->base) != 0) {
		/* queue full: the next load of a process mapping it retries */
		r->job = NULL;
		r->state = REF_NEW;
		j->ref = NULL;
		build_done(&j->base);
	}
}

/* ---- files and processes --------------------------------------------- */

static void forget_oldest_ref(struct unwinder *u)
{
	struct file_ref *victim = NULL;

	u64map_foreach(&u->refs, i) {
		struct file_ref *r = (struct file_ref *)(uintptr_t)u->refs.values[i];

		if (!r->job && (!victim || r->last_used < victim->last_used))
			victim = r;
	}
	if (victim) {
		u64map_del(&u->refs, victim->hash);
		ref_free(u, victim);
	}
}

/* The table of one mapped file: its id now, or 0 (none, or being built:
 * then the mapping waits for it). */
static uint32_t table_for(struct unwinder *u, uint32_t tgid, uint32_t image,
			  const struct proc_info_map *m)
{
	uint64_t hash = file_id__hash(&m->id), v;
	struct file_ref *r = NULL;
	const struct unwind_table *t;

	if (u64map_get(&u->refs, hash, &v) &&
	    file_id__equal(&((struct file_ref *)(uintptr_t)v)->id, &m->id))
		r = (struct file_ref *)(uintptr_t)v;
	if (!r) {
		if (u64map_get(&u->refs, hash, NULL))
			return 0; /* a hash shared by two files (2^-64) */
		if (u->refs.len >= REFS_MAX)
			forget_oldest_ref(u);
		r = calloc(1, sizeof(*r));
		if (!r)
			return 0;
		r->id = m->id;
		r->hash = hash;
		if (u64map_set(&u->refs, hash, (uintptr_t)r)) {
			ref_free(u, r);
			return 0;
		}
		/* not indexed: only the record fast path misses it */
		(void)u64map_set(&u->by_inode, inode_key(r->id.dev, r->id.ino), (uintptr_t)r);
	}
	r->last_used = ++u->tick;
	if (m->has_bias) {
		r->vaddr_delta = m->entry->start - m->entry->offset - m->bias;
		r->has_delta = true;
	}
	if (r->state == REF_READY) {
		t = unwind_cache__get(u->cache, r->key);
		if (t)
			return t->table_id;
		/* evicted under the kernel memory bound: build it again */
		r->state = REF_NEW;
	}
	if (r->state == REF_NEW)
		start_build(u, r, m->fd);
	if (r->state == REF_READY) /* built again at once (no work queue) */
		return (t = unwind_cache__get(u->cache, r->key)) ? t->table_id : 0;
	if (r->state == REF_BUILDING) {
		add_waiter(r, tgid, image, m->entry->start);
		/* the most recently needed build first: a table many
		 * processes keep asking for (libc) is never left behind
		 * newer ones */
		if (r->job && u->opts.wq)
			workq__promote(u->opts.wq, &r->job->base);
	}
	return 0;
}

/* An empty mapping table. */
static void clear_table(struct proc_unwind *pu, uint64_t stack_top)
{
	for (size_t i = 0; i < PROFILE_PROC_MAPS_MAX; i++) {
		pu->start[i] = PROFILE_PROC_MAP_PAD;
		pu->maps[i] = (struct proc_map_entry){ .start = PROFILE_PROC_MAP_PAD,
						       .end = PROFILE_PROC_MAP_PAD };
	}
	pu->count = 0;
	pu->stack_top = stack_top;
}

int unwinder__load(struct unwinder *u, uint32_t tgid, uint32_t image,
		   const struct proc_info *info)
{
	struct proc_unwind_key key = { .tgid = tgid, .image = image };
	struct proc_unwind *pu = &u->scratch;
	size_t n = 0, with = 0;
	int err;

	clear_table(pu, info->stack_top);
	/* /proc/PID/maps is sorted by address, so the table is too */
	for (size_t i = 0; i < info->nexec; i++) {
		const struct proc_info_map *m = &info->exec[i];
		const struct procmaps_entry *e = m->entry;
		struct proc_map_entry *pe;

		/* [vsyscall] sits above every user address (and above the
		 * BPF search's padding): no table, nothing to find there */
		if (e->start >= PROFILE_PROC_MAP_PAD || e->end > PROFILE_PROC_MAP_PAD)
			continue;
		if (n == PROFILE_PROC_MAPS_MAX) {
			u->stats.too_many_mappings++;
			break;
		}
		pu->start[n] = e->start;
		pe = &pu->maps[n++];
		*pe = (struct proc_map_entry){ .start = e->start, .end = e->end,
					       .bias = m->has_bias ? m->bias : 0 };
		if ((e->kind == PROCMAPS_FILE || e->kind == PROCMAPS_MEMFD) && m->fd >= 0 &&
		    m->has_bias)
			pe->table_id = table_for(u, tgid, image, m);
		if (pe->table_id)
			with++;
		else
			u->stats.mappings_without_table++;
	}
	pu->count = (uint32_t)n;
	/* the BPF side's memo of the last stack starts empty: the
	 * mappings may have changed under it */
	pu->memo_cur = 0;
	memset(pu->memo, 0, sizeof(pu->memo));
	log_debug("unwind tables for process %u (image %08x): %zu of %zu executable "
		  "mappings", tgid, image, with, n);
	err = bpf_map_update_elem(u->maps.proc_unwind, &key, pu, BPF_ANY);
	if (err) {
		u->stats.processes_failed++;
		log_debug("failed to load the mapping table of process %u: %s", tgid,
			  strerror(-err));
		return err;
	}
	u->stats.processes_loaded++;
	u->generation++;
	return 0;
}

/* The table of the file a kernel record names, if one is loaded and a
 * process's mapping of it taught us its layout: its id, or 0. */
static uint32_t cached_table(struct unwinder *u, const struct unwinder_mapping *m,
			     uint64_t *bias)
{
	const struct unwind_table *t;
	struct file_ref *r;
	uint64_t v;

	if (!u64map_get(&u->by_inode, inode_key(m->dev, m->ino), &v))
		return 0;
	r = (struct file_ref *)(uintptr_t)v;
	if (r->id.dev != m->dev || r->id.ino != m->ino || r->state != REF_READY || !r->has_delta)
		return 0;
	t = unwind_cache__get(u->cache, r->key);
	if (!t)
		return 0;
	r->last_used = ++u->tick;
	*bias = m->start - m->pgoff - r->vaddr_delta;
	return t->table_id;
}

int unwinder__attach(struct unwinder *u, uint32_t tgid, uint32_t image, uint64_t stack_top,
		     const struct unwinder_mapping *m)
{
	struct proc_unwind_key key = { .tgid = tgid, .image = image };
	struct proc_unwind *pu = &u->scratch;
	struct proc_map_entry pe = { .start = m->start, .end = m->end };
	uint64_t bias = 0;
	uint32_t i;

	if (m->start >= m->end || m->end > PROFILE_PROC_MAP_PAD)
		return -EINVAL;
	pe.table_id = cached_table(u, m, &bias);
	if (!pe.table_id)
		return -ENOENT;
	pe.bias = bias;
	/* none yet: the program and ld.so of an exec, before its read */
	bool fresh = bpf_map_lookup_elem(u->maps.proc_unwind, &key, pu) != 0;

	if (fresh)
		clear_table(pu, stack_top);
	if (pu->count > PROFILE_PROC_MAPS_MAX)
		return -EINVAL;
	for (i = 0; i < pu->count && pu->maps[i].end <= m->start; i++)
		;
	if (i < pu->count && pu->maps[i].start < m->end) {
		/* already there (the read came first), or replacing what
		 * munmap/mmap changed under it: the next read decides */
		if (pu->maps[i].start == m->start && pu->maps[i].end == m->end &&
		    pu->maps[i].table_id)
			return 0;
		return -EEXIST;
	}
	if (pu->count == PROFILE_PROC_MAPS_MAX)
		return -E2BIG;
	memmove(&pu->maps[i + 1], &pu->maps[i], (pu->count - i) * sizeof(pu->maps[0]));
	memmove(&pu->start[i + 1], &pu->start[i], (pu->count - i) * sizeof(pu->start[0]));
	pu->maps[i] = pe;
	pu->start[i] = pe.start;
	pu->count++;
	pu->memo_cur = 0;
	memset(pu->memo, 0, sizeof(pu->memo));
	/* a read's table written meanwhile is the better one */
	if (bpf_map_update_elem(u->maps.proc_unwind, &key, pu, fresh ? BPF_NOEXIST : BPF_EXIST))
		return -errno;
	u->stats.mappings_attached++;
	u->generation++;
	return 0;
}

uint64_t unwinder__generation(const struct unwinder *u)
{
	return u ? u->generation : 0;
}

bool unwinder__waiting(const struct unwinder *u, uint32_t tgid, uint32_t image)
{
	if (!u)
		return false;
	u64map_foreach(&u->refs, i) {
		const struct file_ref *r = (const struct file_ref *)(uintptr_t)u->refs.values[i];

		if (r->state != REF_BUILDING)
			continue;
		for (size_t j = 0; j < r->nwaiters; j++)
			if (r->waiters[j].tgid == tgid && r->waiters[j].image == image)
				return true;
	}
	return false;
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
	st->tables_pending = 0;
	u64map_foreach(&u->refs, i)
		st->tables_pending += ((struct file_ref *)(uintptr_t)u->refs.values[i])->job != NULL;
}
