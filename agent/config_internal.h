/* config_internal: what the files of the config module share (private to
 * agent/config*.c; the API is agent/config.h).
 *
 *   config.c          the settings table, one value, defaults, checks
 *   config_yaml.c     the YAML file: bounds, then the settings in it
 *   config_relabel.c  relabel_configs entries of the YAML file
 *   config_flags.c    getopt_long over the settings' flags, --help
 *
 * Settings and values (config.c):
 *   config_setting_index(s)          s's index in the table (origin[])
 *   config_field(c, s), config_cfield(c, s)   s's value in c
 *   config_errf(err, len, fmt, ...)  one-line message in err; -EINVAL
 *   config_expectation(s, out, len)  "expected ..." for a bad value of s
 *   config_set_scalar(c, s, text, err, len)   replaces s's value by text
 *   config_add_entry(c, s, name, value, err, len)   one entry of a map
 *                                    setting; err without the setting name
 *   config_clear_setting(c, s), config_set_default(c, s)
 *
 * The YAML loader (config_yaml.c), for config_relabel.c:
 *   struct config_loader             the document being loaded and where
 *                                    its errors go
 *   config_line_of(n)                n's line, from 1
 *   config_fail(l, at, path, fmt, ...)   "FILE:LINE: PATH: message"; -EINVAL
 *   config_node_at(l, id), config_is_null(n)
 *   config_scalar(l, n, path, what)  a scalar's text, or NULL (error set)
 *   config_map_key(l, map, pair, prefix)   a key's text, or NULL (error
 *                                    set: not text, or given twice)
 *
 * relabel_configs (config_relabel.c):
 *   config_load_relabel(l, s, v)     the rules of list v into l->c
 *   config_free_rules(rules, n)      NULL-safe
 */
#ifndef BRASA_AGENT_CONFIG_INTERNAL_H
#define BRASA_AGENT_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <yaml.h>

#include "agent/config.h"

/* how much of a bad value an error message quotes */
#define CONFIG_QUOTE_MAX 80

size_t config_setting_index(const struct config_setting *s);

static inline void *config_field(struct config *c, const struct config_setting *s)
{
	return (char *)c + s->offset;
}

static inline const void *config_cfield(const struct config *c, const struct config_setting *s)
{
	return (const char *)c + s->offset;
}

int config_errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void config_expectation(const struct config_setting *s, char *out, size_t len);
int config_set_scalar(struct config *c, const struct config_setting *s, const char *text,
		      char *err, size_t errlen);
int config_add_entry(struct config *c, const struct config_setting *s, const char *name,
		     const char *value, char *err, size_t errlen);
void config_clear_setting(struct config *c, const struct config_setting *s);
int config_set_default(struct config *c, const struct config_setting *s);

struct config_loader {
	struct config *c;
	const char *name;
	yaml_document_t *doc;
	char *err;
	size_t errlen;
};

unsigned config_line_of(const yaml_node_t *n);
int config_fail(struct config_loader *l, const yaml_node_t *at, const char *path,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));
yaml_node_t *config_node_at(struct config_loader *l, int id);
bool config_is_null(const yaml_node_t *n);
const char *config_scalar(struct config_loader *l, const yaml_node_t *n, const char *path,
			  const char *what);
const char *config_map_key(struct config_loader *l, const yaml_node_t *map,
			   const yaml_node_pair_t *pair, const char *prefix);

int config_load_relabel(struct config_loader *l, const struct config_setting *s,
			yaml_node_t *v);
void config_free_rules(struct relabel_rule **rules, size_t n);

#endif
