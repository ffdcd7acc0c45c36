#include "unwind/unwind_rules.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/u64map.h"

struct unwind_rules {
	struct unwind_rule *rules;
	size_t count, cap;
	struct u64map ids; /* packed rule -> id */
};

/* Every field of a rule in 64 bits: kinds, threshold and reason are
 * below 16 (checked by the caller), offsets keep their two's-complement bits. */
static uint64_t rule_key(const struct unwind_rule *r)
{
	return (uint64_t)(r->cfa_kind & 0xf) | (uint64_t)(r->plt_threshold & 0xf) << 4 |
	       (uint64_t)(r->rbp_kind & 0xf) << 8 | (uint64_t)(r->reason & 0xf) << 12 |
	       (uint64_t)(uint16_t)r->rbp_offset << 16 |
	       (uint64_t)(uint32_t)r->cfa_offset << 32;
}

static int rules_append(struct unwind_rules *r, const struct unwind_rule *rule)
{
	if (r->count == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 256;
		struct unwind_rule *p = realloc(r->rules, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		r->rules = p;
		r->cap = cap;
	}
	r->rules[r->count] = *rule;
	return u64map_set(&r->ids, rule_key(rule), r->count++);
}

int unwind_rules__new(struct unwind_rules **out)
{
	struct unwind_rules *r = calloc(1, sizeof(*r));
	const struct unwind_rule none = { 0 };
	const struct unwind_rule full = { .cfa_kind = UNWIND_CFA_UNSUPPORTED,
					  .reason = UNWIND_REASON_RULES_FULL };

	if (!r)
		return -ENOMEM;
	/* fixed ids: UNWIND_RULE_NONE, UNWIND_RULE_FULL */
	if (rules_append(r, &none) || rules_append(r, &full)) {
		unwind_rules__free(r);
		return -ENOMEM;
	}
	*out = r;
	return 0;
}

void unwind_rules__free(struct unwind_rules *r)
{
	if (!r)
		return;
	free(r->rules);
	u64map_release(&r->ids);
	free(r);
}

uint16_t unwind_rules__intern(struct unwind_rules *r, const struct unwind_rule *rule)
{
	struct unwind_rule clean = *rule;
	uint64_t id;

	memset(clean.pad, 0, sizeof(clean.pad));
	if (clean.cfa_kind > 0xf || clean.plt_threshold > 0xf ||
	    clean.rbp_kind > 0xf || clean.reason > 0xf)
		return UNWIND_RULE_FULL; /* not a rule cfi_rows makes */
	if (u64map_get(&r->ids, rule_key(&clean), &id))
		return (uint16_t)id;
	if (r->count >= UNWIND_RULES_MAX || rules_append(r, &clean) != 0)
		return UNWIND_RULE_FULL;
	return (uint16_t)(r->count - 1);
}

const struct unwind_rule *unwind_rules__get(const struct unwind_rules *r, uint16_t id)
{
	return id < r->count ? &r->rules[id] : NULL;
}

size_t unwind_rules__count(const struct unwind_rules *r)
{
	return r->count;
}

size_t unwind_rules__bytes(const struct unwind_rules *r)
{
	return r->count * sizeof(struct unwind_rule);
}
