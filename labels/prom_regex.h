/* prom_regex: a Prometheus regex (RE2 syntax), fully anchored as
 * Prometheus 3 compiles it (`^(?s:REGEX)$`) and matched by PCRE2 in UTF
 * mode, with the differences from Go's RE2 closed: `$` is end of text,
 * bytes that are not UTF-8 match as U+FFFD, backreferences and \C are
 * refused. Shared by relabel_configs (relabel.c) and label matchers
 * (matcher.c), whose regexes must mean the same.
 *
 *   prom_regex__compile(text, &rx, err, errlen)
 *                              0, -EINVAL with a one-line message in err
 *                              ("bad regex \"TEXT\": WHY"; always
 *                              NUL-terminated when errlen > 0), -ENOMEM
 *   prom_regex__free(rx)       NULL-safe
 *   prom_regex__match(rx, s, len)
 *                              1 if rx matches all of s[0, len), 0 if not
 *                              (or PCRE2 gave up, e.g. its match limit),
 *                              -ENOMEM
 *   prom_regex__ovector(rx)    after a match: 2 * ngroups offsets into s
 *                              (PROM_REGEX_UNSET for a group not set)
 *   prom_regex__ngroups(rx)    capture groups + 1
 *   prom_regex__group(rx, name)
 *                              the number of the group named name (NUL-
 *                              terminated), or -1
 *   prom_regex__text(rx)       as the user wrote it
 *
 * Not thread-safe: a compiled regex owns its match data and scratch.
 */
#ifndef BRASA_LABELS_PROM_REGEX_H
#define BRASA_LABELS_PROM_REGEX_H

#include <stddef.h>
#include <stdint.h>

#define PROM_REGEX_UNSET SIZE_MAX /* PCRE2_UNSET */

struct prom_regex;

int prom_regex__compile(const char *text, struct prom_regex **out, char *err, size_t errlen);
void prom_regex__free(struct prom_regex *rx);
int prom_regex__match(struct prom_regex *rx, const char *s, size_t len);
const size_t *prom_regex__ovector(const struct prom_regex *rx);
uint32_t prom_regex__ngroups(const struct prom_regex *rx);
int prom_regex__group(const struct prom_regex *rx, const char *name);
const char *prom_regex__text(const struct prom_regex *rx);

#endif
