/* libFuzzer target: unwinder_walk (bpf/unwinder_walk.h) on a sample sent
 * whole whose registers, stack bytes and copy length come from the input,
 * as do the rules of the one table its mapping table names (16 rules,
 * picked by address): every read stays inside the copy (ASan), the walk
 * ends within PROFILE_MAX_DEPTH frames, and a complete walk has at least
 * its leaf. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bpf/unwinder_walk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RULES 16

static struct unwind_rule rules[RULES];

static int fuzz_proc(void *ctx, const struct proc_unwind_key *key, struct proc_unwind *out)
{
	(void)key;
	*out = *(const struct proc_unwind *)ctx;
	return 0;
}

static int fuzz_rule(void *ctx, __u32 table_id, __u64 vaddr, struct unwind_rule *r)
{
	(void)ctx;
	if (table_id != 1 || !(vaddr & 0x80))
		return -1; /* half the addresses have no rule: frame pointers */
	*r = rules[(vaddr >> 4) % RULES];
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct proc_unwind table;
	static struct deferred_sample d;
	const struct unwind_walk_source src = { fuzz_proc, fuzz_rule, &table };
	struct unwind_walk r;
	size_t head = 3 * 8 + 4 + sizeof(rules), n;
	int err;

	if (size < head)
		return 0;
	memset(&table, 0, sizeof(table));
	table.count = 2;
	table.maps[0] = (struct proc_map_entry){ .start = 0x400000, .end = 0x500000, .table_id = 1 };
	table.maps[1] = (struct proc_map_entry){ .start = 0x600000, .end = 0x610000 };
	for (unsigned i = 2; i < PROFILE_PROC_MAPS_MAX; i++)
		table.maps[i].start = table.maps[i].end = PROFILE_PROC_MAP_PAD;
	memset(&d, 0, sizeof(d));
	memcpy(&d.ip, data, 8);
	memcpy(&d.sp, data + 8, 8);
	memcpy(&d.bp, data + 16, 8);
	memcpy(&d.stack_len, data + 24, 4);
	memcpy(rules, data + 28, sizeof(rules));
	n = size - head < DEFER_STACK_BYTES ? size - head : DEFER_STACK_BYTES;
	memcpy(d.stack, data + head, n);
	err = unwinder_walk(&src, &d, &r);
	if (r.n > PROFILE_MAX_DEPTH || (err == 0 && d.ip && r.n == 0))
		abort();
	return 0;
}
