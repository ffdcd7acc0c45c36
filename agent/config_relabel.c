/* config_relabel: the relabel_configs list of a YAML file, compiled by
 * labels/relabel.c, errors pointing at the field at fault (see
 * config_internal.h). */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "agent/config.h"
#include "agent/config_internal.h"
#include "labels/relabel.h"
#include "common/macros.h"
#include "common/parse.h"

#define MAX_RELABEL_RULES 1024
#define MAX_SOURCE_LABELS 64

void config_free_rules(struct relabel_rule **rules, size_t n)
{
	for (size_t i = 0; i < n; i++)
		relabel__free(rules[i]);
	free(rules);
}

enum relabel_field {
	RF_SOURCE_LABELS, RF_SEPARATOR, RF_REGEX, RF_TARGET_LABEL, RF_REPLACEMENT, RF_MODULUS,
	RF_ACTION, RF_MAX,
};

static const char *const relabel_fields[RF_MAX] = {
	[RF_SOURCE_LABELS] = "source_labels", [RF_SEPARATOR] = "separator",
	[RF_REGEX] = "regex",                 [RF_TARGET_LABEL] = "target_label",
	[RF_REPLACEMENT] = "replacement",     [RF_MODULUS] = "modulus",
	[RF_ACTION] = "action",
};

/* "replace, keep, ... or uppercase", from relabel's own names */
static void relabel_actions(char *out, size_t len)
{
	size_t used = 0;

	out[0] = 0;
	for (int a = 0; relabel__action_name((enum relabel_action)a) && used < len; a++)
		used += (size_t)snprintf(out + used, len - used, "%s%s",
					 a == 0 ? "" :
					 relabel__action_name((enum relabel_action)(a + 1)) ? ", " : " or ",
					 relabel__action_name((enum relabel_action)a));
}

/* What one entry of relabel_configs said, and where. */
struct relabel_item {
	struct relabel_spec spec;
	const char *sources[MAX_SOURCE_LABELS];
	const yaml_node_t *where[RF_MAX]; /* NULL: not given */
};

/* FNV-1a over a rule's fields, so two configurations can tell whether
 * their rules are the same without comparing compiled regexes. */
static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= ((const unsigned char *)p)[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t hash_str(uint64_t h, const char *s)
{
	/* NULL (the default) and "" differ; the NUL separates fields */
	if (!s)
		return hash_bytes(h, "\xff", 1);
	return hash_bytes(h, s, strlen(s) + 1);
}

static uint64_t hash_spec(uint64_t h, const struct relabel_spec *spec)
{
	h = hash_bytes(h, &spec->action, sizeof(spec->action));
	h = hash_bytes(h, &spec->nsource, sizeof(spec->nsource));
	for (size_t i = 0; i < spec->nsource; i++)
		h = hash_str(h, spec->source_labels[i]);
	h = hash_str(hash_str(h, spec->separator), spec->regex);
	h = hash_str(hash_str(h, spec->target_label), spec->replacement);
	h = hash_bytes(h, &spec->has_modulus, sizeof(spec->has_modulus));
	return hash_bytes(h, &spec->modulus, sizeof(spec->modulus));
}

static void reset_field(struct relabel_spec *spec, enum relabel_field f)
{
	switch (f) {
	case RF_SOURCE_LABELS:
		spec->source_labels = NULL;
		spec->nsource = 0;
		break;
	case RF_SEPARATOR:
		spec->separator = NULL;
		break;
	case RF_REGEX:
		spec->regex = NULL;
		break;
	case RF_TARGET_LABEL:
		spec->target_label = NULL;
		break;
	case RF_REPLACEMENT:
		spec->replacement = NULL;
		break;
	case RF_MODULUS:
		spec->modulus = 0;
		spec->has_modulus = false;
		break;
	case RF_ACTION:
		spec->action = RELABEL_REPLACE;
		break;
	case RF_MAX:
		break;
	}
}

/* relabel__compile says what is wrong, not in which field, and the error
 * line should point at the field: the one its message names, else the one
 * whose Prometheus default makes the rule compile (the regex first, the
 * most common mistake), else the whole entry. */
static enum relabel_field blame(const struct relabel_item *it, const char *msg)
{
	static const enum relabel_field order[] = { RF_REGEX, RF_TARGET_LABEL, RF_REPLACEMENT,
						    RF_SEPARATOR, RF_SOURCE_LABELS, RF_MODULUS,
						    RF_ACTION };
	char ignored[64];

	/* a message naming a field that was given ("'target_label' is
	 * invalid") names the culprit */
	for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
		const char *name = relabel_fields[order[i]], *at = msg;
		size_t len = strlen(name);

		while (it->where[order[i]] && (at = strstr(at, name))) {
			bool word_start = at == msg || !(isalnum((unsigned char)at[-1]) || at[-1] == '_');
			bool word_end = !(isalnum((unsigned char)at[len]) || at[len] == '_');

			if (word_start && word_end)
				return order[i];
			at += len;
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
		struct relabel_spec spec = it->spec;
		struct relabel_rule *rule = NULL;

		if (!it->where[order[i]])
			continue;
		reset_field(&spec, order[i]);
		if (!relabel__compile(&spec, &rule, ignored, sizeof(ignored))) {
			relabel__free(rule);
			return order[i];
		}
	}
	return RF_MAX;
}

static int load_relabel_item(struct config_loader *l, yaml_node_t *v, const char *path,
			     struct relabel_rule **out, uint64_t *hash)
{
	struct relabel_item it = { .spec = { .action = RELABEL_REPLACE } };
	char fpath[128], msg[512];
	enum relabel_field f;
	int err;

	if (v->type != YAML_MAPPING_NODE)
		return config_fail(l, v, path, "expected a relabel_config map");
	for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
		yaml_node_t *val = config_node_at(l, p->value);
		const char *name = config_map_key(l, v, p, path), *text = NULL;

		if (!name)
			return -EINVAL;
		for (f = 0; f < RF_MAX && strcmp(name, relabel_fields[f]); f++)
			;
		snprintf(fpath, sizeof(fpath), "%s.%s", path, name);
		if (f == RF_MAX)
			return config_fail(l, config_node_at(l, p->key), fpath,
					   "unknown key (expected %s)",
					   "source_labels, separator, regex, target_label, "
					   "replacement, modulus or action");
		if (config_is_null(val))
			continue; /* the default */
		it.where[f] = val;
		if (f == RF_SOURCE_LABELS) {
			if (val->type != YAML_SEQUENCE_NODE)
				return config_fail(l, val, fpath, "expected a list of label names");
			if (val->data.sequence.items.top - val->data.sequence.items.start >
			    MAX_SOURCE_LABELS)
				return config_fail(l, val, fpath, "more than %d labels",
						   MAX_SOURCE_LABELS);
			for (yaml_node_item_t *i = val->data.sequence.items.start;
			     i < val->data.sequence.items.top; i++) {
				yaml_node_t *ln = config_node_at(l, *i);

				if (!(text = config_scalar(l, ln, fpath, "a label name")))
					return -EINVAL;
				if (!labels__valid_name(text))
					return config_fail(l, ln, fpath, "invalid label name '%.*s'",
							   CONFIG_QUOTE_MAX, text);
				it.sources[it.spec.nsource++] = text;
			}
			it.spec.source_labels = it.sources;
			continue;
		}
		if (!(text = config_scalar(l, val, fpath, "a single value")))
			return -EINVAL;
		switch (f) {
		case RF_SEPARATOR:
			it.spec.separator = text;
			break;
		case RF_REGEX:
			it.spec.regex = text;
			break;
		case RF_TARGET_LABEL:
			it.spec.target_label = text;
			break;
		case RF_REPLACEMENT:
			it.spec.replacement = text;
			break;
		case RF_MODULUS:
			if (parse_u64(text, 10, &it.spec.modulus) || !it.spec.modulus)
				return config_fail(l, val, fpath, "invalid value '%.*s': expected a "
						   "whole number above 0", CONFIG_QUOTE_MAX, text);
			it.spec.has_modulus = true;
			break;
		case RF_ACTION:
			if (relabel__parse_action(text, &it.spec.action)) {
				relabel_actions(msg, sizeof(msg));
				return config_fail(l, val, fpath, "unknown action '%.*s': expected %s",
						   CONFIG_QUOTE_MAX, text, msg);
			}
			break;
		default:
			break;
		}
	}
	*hash = hash_spec(*hash, &it.spec);
	err = relabel__compile(&it.spec, out, msg, sizeof(msg));
	if (err == -ENOMEM)
		return config_fail(l, v, path, "out of memory"), err;
	if (err) {
		f = blame(&it, msg);
		if (f == RF_MAX)
			return config_fail(l, v, path, "%s", msg);
		snprintf(fpath, sizeof(fpath), "%s.%s", path, relabel_fields[f]);
		return config_fail(l, it.where[f], fpath, "%s", msg);
	}
	return 0;
}

int config_load_relabel(struct config_loader *l, const struct config_setting *s, yaml_node_t *v)
{
	struct relabel_rule **rules = NULL;
	uint64_t hash = 0xcbf29ce484222325ull;
	size_t n = 0, count;
	char path[64];
	int err = 0;

	if (config_is_null(v)) {
		config_clear_setting(l->c, s);
		l->c->origin[config_setting_index(s)] = config_line_of(v);
		return 0;
	}
	if (v->type != YAML_SEQUENCE_NODE)
		return config_fail(l, v, s->key, "expected a list of relabel_config maps");
	count = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
	if (count > MAX_RELABEL_RULES)
		return config_fail(l, v, s->key, "more than %d rules", MAX_RELABEL_RULES);
	if (count && !(rules = calloc(count, sizeof(*rules))))
		return config_fail(l, v, s->key, "out of memory"), -ENOMEM;
	for (; n < count; n++) {
		snprintf(path, sizeof(path), "%s[%zu]", s->key, n);
		err = load_relabel_item(l, config_node_at(l, v->data.sequence.items.start[n]), path,
					&rules[n], &hash);
		if (err)
			break;
	}
	if (err) {
		config_free_rules(rules, n);
		return err;
	}
	config_clear_setting(l->c, s);
	l->c->relabel_rules = rules;
	l->c->nrelabel_rules = count;
	l->c->relabel_hash = count ? hash : 0; /* [] is the default */
	l->c->origin[config_setting_index(s)] = config_line_of(v);
	return 0;
}
