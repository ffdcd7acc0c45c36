/* unwind_rules: the system-wide table of distinct CFI rules that unwind
 * tables (unwind_table.h) refer to by id.
 *
 * Rules are deduplicated system-wide: a table's row stores a u16 rule id,
 * not the 12-byte rule. The shared libraries of /usr/lib/x86_64-linux-gnu
 * and the programs of /usr/bin here (12 M rows) have 3,938 distinct rules
 * (46 KiB). Ids UNWIND_RULE_NONE and UNWIND_RULE_FULL (bpf/profile.h) are
 * fixed; the rest are handed out in order of first use. The table is
 * shared, so its memory is reported here (unwind_rules__bytes), not in any
 * table's unwind_table__bytes.
 *
 * API:
 *   unwind_rules__new(&r) / __free(r)    0 or -ENOMEM / NULL-safe
 *   unwind_rules__intern(r, &rule)       rule id; UNWIND_RULE_FULL once
 *                                        UNWIND_RULES_MAX ids are taken
 *   unwind_rules__get(r, id)             NULL if id is not assigned
 *   unwind_rules__count(r), __bytes(r)
 *
 * Not thread-safe.
 */
#ifndef BRASA_UNWIND_UNWIND_RULES_H
#define BRASA_UNWIND_UNWIND_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "bpf/profile.h"

struct unwind_rules;

int unwind_rules__new(struct unwind_rules **out);
void unwind_rules__free(struct unwind_rules *rules);
uint16_t unwind_rules__intern(struct unwind_rules *rules, const struct unwind_rule *rule);
const struct unwind_rule *unwind_rules__get(const struct unwind_rules *rules, uint16_t id);
size_t unwind_rules__count(const struct unwind_rules *rules);
size_t unwind_rules__bytes(const struct unwind_rules *rules);

#endif
