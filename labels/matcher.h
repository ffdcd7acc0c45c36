/* matcher: Prometheus label selectors over a process's label set, the
 * `match` filter of profile requests. A selector is `{` label matchers
 * `}`, each `name OP "value"` with OP one of = != =~ !~, separated by
 * commas (a trailing one allowed), whitespace between tokens ignored:
 *
 *   {service_name="api", container=~"web-.*", namespace!="kube-system"}
 *
 * All of a selector's matchers must hold (AND); a set of selectors holds
 * when any of them does (OR), as several `match[]` do in Prometheus. As
 * there, a label the set lacks has the value "" (so `{pod=""}` holds for
 * a process without a pod), regexes are fully anchored (prom_regex.h: the
 * relabel_configs' regexes), and strings are quoted with "", '' (with Go
 * escapes: \n \t \\ \" \xHH \uHHHH, ...) or `` (raw). Label names are the
 * legacy charset [a-zA-Z_][a-zA-Z0-9_]*. `{}` holds for every set. Pure:
 * the text comes from any client (fuzzed by tests/fuzz/fuzz-matcher.c).
 *
 *   matcher__parse(s, len, &m, err, errlen)
 *                              one selector from s[0, len) (any bytes);
 *                              0, -EINVAL with one line saying what is
 *                              wrong and where in err (always NUL-
 *                              terminated when errlen > 0; it may quote
 *                              the input's bytes: escape before echoing),
 *                              -ENOMEM
 *   matcher__matches(m, ls)    whether ls (NULL: the empty set) satisfies
 *                              every matcher of m; a regex that cannot
 *                              run (no memory) counts as not satisfied
 *   matcher__free(m)           NULL-safe
 *
 *   matcher_set__add(&set, s, len, err, errlen)
 *                              parses one more selector into *set (made
 *                              on the first); 0, -EINVAL (as above, or
 *                              past MATCHER_MAX_SELECTORS), -ENOMEM
 *   matcher_set__matches(set, ls)
 *                              whether any selector matches ls; true for
 *                              a NULL set (no filter)
 *   matcher_set__count(set)    its selectors (0 for NULL)
 *   matcher_set__free(set)     NULL-safe
 *
 * Bounds: MATCHER_MAX_SELECTORS selectors in a set, MATCHER_MAX_MATCHERS
 * matchers in a selector, MATCHER_MAX_BYTES bytes of selector text; past
 * them parsing fails with -EINVAL. Not thread-safe: matching uses each
 * regex's scratch, so a set is matched by one thread at a time.
 */
#ifndef BRASA_LABELS_MATCHER_H
#define BRASA_LABELS_MATCHER_H

#include <stdbool.h>
#include <stddef.h>

#include "common/labels.h"

#define MATCHER_MAX_SELECTORS 16
#define MATCHER_MAX_MATCHERS 32
#define MATCHER_MAX_BYTES 1024

struct matcher;
struct matcher_set;

int matcher__parse(const char *s, size_t len, struct matcher **out, char *err, size_t errlen);
bool matcher__matches(struct matcher *m, const struct labels *ls);
void matcher__free(struct matcher *m);

int matcher_set__add(struct matcher_set **set, const char *s, size_t len, char *err,
		     size_t errlen);
bool matcher_set__matches(struct matcher_set *set, const struct labels *ls);
size_t matcher_set__count(const struct matcher_set *set);
void matcher_set__free(struct matcher_set *set);

#endif
