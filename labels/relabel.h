/* relabel: Prometheus-compatible relabel_configs for process label sets.
 * A rule is compiled once from a relabel_spec (the user's YAML fields)
 * with Prometheus's own validation, then applied to every new process's
 * labels; see docs/relabeling.md for the behaviour users rely on.
 *
 *   relabel__parse_action(s, &a)   "replace", "KEEP", ... (ASCII case
 *                                  insensitive) -> action; 0 or -EINVAL
 *   relabel__action_name(a)        Prometheus's lower-case name, or NULL
 *                                  for a value outside the enum
 *   relabel__compile(s, &r, err, errlen)
 *                                  0, or -EINVAL with a one-line message in
 *                                  err (always NUL-terminated when errlen
 *                                  > 0), or -ENOMEM; *out owned by the
 *                                  caller, free with relabel__free
 *   relabel__free(r)               NULL-safe
 *   relabel__apply(rules, n, ls)   applies rules in order: 1 kept, 0 dropped
 *                                  by keep/drop/keepequal/dropequal (ls then
 *                                  unspecified), -ENOMEM (ls unspecified)
 *   relabel__drop_internal(ls, keep)
 *                                  removes labels named "__*" except those
 *                                  in keep (NULL-terminated, may be NULL)
 *
 * Field defaults follow Prometheus: a NULL field is "not written" and
 * takes the default (separator ";", regex "(.*)", replacement "$1");
 * an empty string is written-as-empty, so regex "" matches only "" and
 * separator "" joins with nothing. target_label NULL and "" are the same.
 *
 * Regexes are fully anchored, `^(?s:REGEX)$` as Prometheus 3 compiles
 * them, matched by PCRE2 in UTF mode with `$` meaning end of text; bytes
 * that are not UTF-8 match as U+FFFD, as in Go. Label names are checked
 * against the legacy charset [a-zA-Z_][a-zA-Z0-9_]*.
 *
 * Not thread-safe: a compiled rule owns its match data and scratch
 * buffers, so one rule list must be applied by one thread at a time.
 */
#ifndef BRASA_LABELS_RELABEL_H
#define BRASA_LABELS_RELABEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/labels.h"

enum relabel_action {
	RELABEL_REPLACE = 0, RELABEL_KEEP, RELABEL_DROP, RELABEL_KEEPEQUAL,
	RELABEL_DROPEQUAL, RELABEL_HASHMOD, RELABEL_LABELMAP, RELABEL_LABELDROP,
	RELABEL_LABELKEEP, RELABEL_LOWERCASE, RELABEL_UPPERCASE,
};

/* One relabel_config as written by the user; NULL/0 fields take
 * Prometheus's defaults: separator ";", regex "(.*)", replacement "$1",
 * action replace. Strings are copied by relabel__compile. */
struct relabel_spec {
	enum relabel_action action;
	const char *const *source_labels; size_t nsource;
	const char *separator;
	const char *regex;
	const char *target_label;
	const char *replacement;
	uint64_t modulus;
	bool has_modulus;
};

struct relabel_rule; /* compiled */

int relabel__parse_action(const char *s, enum relabel_action *out);
const char *relabel__action_name(enum relabel_action a);
/* keep, drop, keepequal or dropequal: the rule may drop what it sees */
bool relabel__can_drop(const struct relabel_rule *r);
int relabel__compile(const struct relabel_spec *s, struct relabel_rule **out,
		     char *err, size_t errlen);
void relabel__free(struct relabel_rule *r);
int relabel__apply(struct relabel_rule *const *rules, size_t n, struct labels *ls);
void relabel__drop_internal(struct labels *ls, const char *const *keep);

#endif
