/* config_yaml: the settings of a YAML file (see config.h): its events
 * checked against bounds first, then the document walked against the
 * settings table (relabel_configs: config_relabel.c). */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "agent/config.h"
#include "agent/config_internal.h"
#include "common/buf.h"

/* A configuration file is a few kilobytes; the bound keeps a wrong path
 * (a log, a binary) from being read whole. */
#define MAX_FILE_BYTES (1u << 20)
/* What a small file may make libyaml build, checked on its event stream
 * first (yaml_parser_load would build it all, and slowly: its scanner is
 * quadratic in the nesting depth and its anchor table in the anchors, so
 * 1 MiB of '[' took minutes and 100k anchors 19 s). Values count every
 * scalar, list and map with aliases expanded, as the loader walks them;
 * the text bound is on all scalars so expanded. A real configuration has
 * a depth of 5 and a few hundred values. */
#define MAX_DEPTH 32
#define MAX_VALUES 65536
#define MAX_VALUE_BYTES (64u << 10)
#define MAX_TEXT_BYTES MAX_FILE_BYTES
#define MAX_ANCHORS 256

unsigned config_line_of(const yaml_node_t *n)
{
	return (unsigned)n->start_mark.line + 1;
}

/* "FILE:LINE: PATH: message" */
int config_fail(struct config_loader *l, const yaml_node_t *at, const char *path,
		const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return config_errf(l->err, l->errlen, "%s:%u: %s: %s", l->name, config_line_of(at), path,
			   msg);
}

yaml_node_t *config_node_at(struct config_loader *l, int id)
{
	return yaml_document_get_node(l->doc, id);
}

/* Plain empty, ~ and null are YAML's null; a quoted "" is an empty string. */
bool config_is_null(const yaml_node_t *n)
{
	const char *v = (const char *)n->data.scalar.value;

	return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       (!*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
		!strcmp(v, "NULL"));
}

/* The text of a scalar, or NULL (error set) for anything else. */
const char *config_scalar(struct config_loader *l, const yaml_node_t *n, const char *path,
			  const char *what)
{
	if (n->type != YAML_SCALAR_NODE) {
		config_fail(l, n, path, "expected %s, not a %s", what,
			    n->type == YAML_MAPPING_NODE ? "map" : "list");
		return NULL;
	}
	if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length) {
		config_fail(l, n, path, "NUL character in the value");
		return NULL;
	}
	return (const char *)n->data.scalar.value;
}

/* A key of a map: its text, and no earlier key of the same map spelled the
 * same (YAML forbids it; libyaml does not check). */
const char *config_map_key(struct config_loader *l, const yaml_node_t *map,
			   const yaml_node_pair_t *pair, const char *prefix)
{
	const yaml_node_t *k = config_node_at(l, pair->key);
	const char *name;

	if (k->type != YAML_SCALAR_NODE) {
		config_fail(l, k, *prefix ? prefix : "(top level)", "a key must be text");
		return NULL;
	}
	name = (const char *)k->data.scalar.value;
	for (const yaml_node_pair_t *p = map->data.mapping.pairs.start; p < pair; p++) {
		const yaml_node_t *earlier = config_node_at(l, p->key);

		if (earlier->type == YAML_SCALAR_NODE &&
		    !strcmp((const char *)earlier->data.scalar.value, name)) {
			config_fail(l, k, *prefix ? prefix : name,
				    "%s%s%s given twice (first on line %u)", *prefix ? "'" : "",
				    *prefix ? name : "key", *prefix ? "'" : "",
				    config_line_of(earlier));
			return NULL;
		}
	}
	return name;
}

static int load_scalar(struct config_loader *l, const struct config_setting *s, yaml_node_t *v)
{
	char msg[512];
	const char *text;
	int err;

	if (config_is_null(v))
		err = config_set_default(l->c, s);
	else {
		if (!(text = config_scalar(l, v, s->key, "a single value")))
			return -EINVAL;
		err = config_set_scalar(l->c, s, text, msg, sizeof(msg));
		if (err == -EINVAL)
			return config_fail(l, v, s->key, "invalid value '%.*s': %s",
					   CONFIG_QUOTE_MAX, text, msg);
	}
	if (err)
		return config_fail(l, v, s->key, "%s", strerror(-err)), err;
	l->c->origin[config_setting_index(s)] = config_line_of(v);
	return 0;
}

/* A map in the file replaces the default (empty) map; flags add to it. */
static int load_map(struct config_loader *l, const struct config_setting *s, yaml_node_t *v)
{
	char msg[512];
	int err;

	labels__clear(config_field(l->c, s));
	l->c->origin[config_setting_index(s)] = config_line_of(v);
	if (config_is_null(v))
		return 0;
	if (v->type != YAML_MAPPING_NODE)
		return config_fail(l, v, s->key, "expected a map of %s", s->type == CONFIG_LABELS
								   ? "label names to values"
								   : "header names to values");
	for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
		yaml_node_t *val = config_node_at(l, p->value);
		const char *name = config_map_key(l, v, p, s->key), *text;

		if (!name)
			return -EINVAL;
		if (config_is_null(val))
			text = "";
		else if (!(text = config_scalar(l, val, s->key, "a single value")))
			return -EINVAL;
		err = config_add_entry(l->c, s, name, text, msg, sizeof(msg));
		if (err)
			return config_fail(l, config_node_at(l, p->key), s->key, "%s", msg), err;
	}
	return 0;
}

/* True when some setting lives under "path." */
static bool is_section(const char *path)
{
	size_t len = strlen(path), n;
	const struct config_setting *settings = config__settings(&n);

	for (size_t i = 0; i < n; i++)
		if (!strncmp(settings[i].key, path, len) && settings[i].key[len] == '.')
			return true;
	return false;
}

static int load_mapping(struct config_loader *l, yaml_node_t *map, const char *prefix)
{
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = config_node_at(l, p->key), *v = config_node_at(l, p->value);
		const char *name = config_map_key(l, map, p, prefix);
		const struct config_setting *s;
		char path[256];
		int err;

		if (!name)
			return -EINVAL;
		snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", name);
		s = config__find(path);
		if (s) {
			switch (s->type) {
			case CONFIG_LABELS:
			case CONFIG_HEADERS:
				err = load_map(l, s, v);
				break;
			case CONFIG_RELABEL:
				err = config_load_relabel(l, s, v);
				break;
			default:
				err = load_scalar(l, s, v);
				break;
			}
		} else if (is_section(path)) {
			if (config_is_null(v))
				continue;
			if (v->type != YAML_MAPPING_NODE)
				return config_fail(l, v, path, "expected a map of settings");
			err = load_mapping(l, v, path);
		} else {
			return config_fail(l, k, path, "unknown key");
		}
		if (err)
			return err;
	}
	return 0;
}

/* --- bounds, before libyaml builds the document --- */

struct yaml_anchor {
	char *name;
	uint64_t values, bytes; /* what an alias to it repeats */
	bool open;              /* its list or map is not closed yet */
};

struct prescan {
	const char *name;
	char *err;
	size_t errlen;
	struct yaml_anchor anchors[MAX_ANCHORS];
	size_t nanchors;
	/* the open lists and maps: their anchor (-1: none), and the counts
	 * before them */
	struct {
		int anchor;
		uint64_t values, bytes;
	} open[MAX_DEPTH];
	int depth;
	uint64_t values, bytes;
};

static int too_much(struct prescan *ps, const yaml_event_t *ev, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* "FILE:LINE: message" */
static int too_much(struct prescan *ps, const yaml_event_t *ev, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return config_errf(ps->err, ps->errlen, "%s:%zu: %s", ps->name, ev->start_mark.line + 1,
			   msg);
}

static int count(struct prescan *ps, const yaml_event_t *ev, uint64_t values, uint64_t bytes)
{
	ps->values += values;
	ps->bytes += bytes;
	if (ps->values > MAX_VALUES)
		return too_much(ps, ev, "more than %d values (scalars, lists and maps, with aliases "
				"counted as what they repeat)", MAX_VALUES);
	if (ps->bytes > MAX_TEXT_BYTES)
		return too_much(ps, ev, "more than %u bytes of values (with aliases counted as "
				"what they repeat)", MAX_TEXT_BYTES);
	return 0;
}

/* Index of the new anchor, -1 for none, or an error (< -1). */
static int add_anchor(struct prescan *ps, const yaml_event_t *ev, const yaml_char_t *name,
		      bool open)
{
	struct yaml_anchor *a;

	if (!name)
		return -1;
	if (ps->nanchors == MAX_ANCHORS)
		return too_much(ps, ev, "more than %d anchors", MAX_ANCHORS) - 1;
	a = &ps->anchors[ps->nanchors];
	a->name = strdup((const char *)name);
	if (!a->name)
		return config_errf(ps->err, ps->errlen, "%s: out of memory", ps->name), -ENOMEM;
	a->open = open;
	return (int)ps->nanchors++;
}

static int prescan_event(struct prescan *ps, const yaml_event_t *ev)
{
	struct yaml_anchor *a = NULL;
	int rc, i;

	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		if (ev->data.scalar.length > MAX_VALUE_BYTES)
			return too_much(ps, ev, "a value of %zu bytes: at most %u",
					ev->data.scalar.length, MAX_VALUE_BYTES);
		if ((rc = count(ps, ev, 1, ev->data.scalar.length)))
			return rc;
		i = add_anchor(ps, ev, ev->data.scalar.anchor, false);
		if (i < -1)
			return i + 1;
		if (i >= 0) {
			ps->anchors[i].values = 1;
			ps->anchors[i].bytes = ev->data.scalar.length;
		}
		return 0;
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		if (ps->depth == MAX_DEPTH)
			return too_much(ps, ev, "lists and maps nested deeper than %d levels",
					MAX_DEPTH);
		ps->open[ps->depth].values = ps->values;
		ps->open[ps->depth].bytes = ps->bytes;
		if ((rc = count(ps, ev, 1, 0)))
			return rc;
		i = add_anchor(ps, ev, ev->type == YAML_SEQUENCE_START_EVENT
					       ? ev->data.sequence_start.anchor
					       : ev->data.mapping_start.anchor, true);
		if (i < -1)
			return i + 1;
		ps->open[ps->depth++].anchor = i;
		return 0;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		if (!ps->depth)
			return 0;
		ps->depth--;
		if (ps->open[ps->depth].anchor >= 0) {
			a = &ps->anchors[ps->open[ps->depth].anchor];
			a->values = ps->values - ps->open[ps->depth].values;
			a->bytes = ps->bytes - ps->open[ps->depth].bytes;
			a->open = false;
		}
		return 0;
	case YAML_ALIAS_EVENT:
		/* the last anchor of that name: YAML lets a name be reused */
		for (size_t k = ps->nanchors; k-- > 0;)
			if (!strcmp(ps->anchors[k].name, (const char *)ev->data.alias.anchor)) {
				a = &ps->anchors[k];
				break;
			}
		if (!a)
			return 0; /* undefined: the loader says so */
		if (a->open)
			return too_much(ps, ev, "alias '*%.*s' inside the value it names",
					CONFIG_QUOTE_MAX, a->name);
		return count(ps, ev, a->values, a->bytes);
	default:
		return 0;
	}
}

/* Walks text's events and checks the bounds above; 0 also for malformed
 * YAML (the loader reports it, having read no more than was checked). */
static int prescan(const char *name, const char *text, size_t len, char *err, size_t errlen)
{
	struct prescan *ps = calloc(1, sizeof(*ps));
	yaml_parser_t parser;
	int rc = 0;

	if (!ps)
		return config_errf(err, errlen, "%s: out of memory", name), -ENOMEM;
	*ps = (struct prescan){ .name = name, .err = err, .errlen = errlen };
	if (!yaml_parser_initialize(&parser)) {
		free(ps);
		return config_errf(err, errlen, "%s: out of memory", name), -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	for (;;) {
		yaml_event_t ev;
		bool end;

		if (!yaml_parser_parse(&parser, &ev)) {
			if (parser.error == YAML_MEMORY_ERROR) {
				config_errf(err, errlen, "%s: out of memory", name);
				rc = -ENOMEM;
			}
			break;
		}
		end = ev.type == YAML_STREAM_END_EVENT;
		rc = prescan_event(ps, &ev);
		yaml_event_delete(&ev);
		if (rc || end)
			break;
	}
	yaml_parser_delete(&parser);
	for (size_t i = 0; i < ps->nanchors; i++)
		free(ps->anchors[i].name);
	free(ps);
	return rc;
}

int config__load_buffer(struct config *c, const char *name, const char *text, size_t len,
			char *err, size_t errlen)
{
	struct config_loader l = { .c = c, .name = name, .err = err, .errlen = errlen };
	yaml_parser_t parser;
	yaml_document_t doc, extra;
	yaml_node_t *root;
	char *file;
	int rc;

	rc = prescan(name, text, len, err, errlen);
	if (rc)
		return rc;
	if (!yaml_parser_initialize(&parser))
		return config_errf(err, errlen, "%s: out of memory", name), -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		rc = config_errf(err, errlen, "%s:%zu: malformed YAML: %s%s%s", name,
				 parser.problem_mark.line + 1, parser.problem ? parser.problem : "error",
				 parser.context ? " " : "", parser.context ? parser.context : "");
		if (parser.error == YAML_MEMORY_ERROR)
			rc = -ENOMEM;
		yaml_parser_delete(&parser);
		return rc;
	}
	l.doc = &doc;
	root = yaml_document_get_root_node(&doc);
	if (root) {
		/* a second document would silently be ignored */
		if (!yaml_parser_load(&parser, &extra)) {
			rc = config_errf(err, errlen, "%s:%zu: malformed YAML: %s", name,
					 parser.problem_mark.line + 1,
					 parser.problem ? parser.problem : "error");
		} else {
			if (yaml_document_get_root_node(&extra))
				rc = config_errf(err, errlen, "%s:%zu: expected one YAML document, "
						 "found another", name, extra.start_mark.line + 1);
			yaml_document_delete(&extra);
		}
	}
	if (!rc && root && !config_is_null(root)) {
		if (root->type != YAML_MAPPING_NODE)
			rc = config_fail(&l, root, "(top level)", "expected a map of settings");
		else
			rc = load_mapping(&l, root, "");
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	if (rc)
		return rc;
	if (!(file = strdup(name)))
		return config_errf(err, errlen, "%s: out of memory", name), -ENOMEM;
	free(c->file);
	c->file = file;
	return 0;
}

/* What path is, when it is not a regular file: "a FIFO"... or NULL. */
static const char *special_file(const char *path)
{
	struct stat st;

	/* stat, not open: it never blocks, whatever the file is */
	if (stat(path, &st) != 0 || S_ISREG(st.st_mode))
		return NULL;
	return S_ISDIR(st.st_mode)    ? "a directory" :
	       S_ISFIFO(st.st_mode)   ? "a FIFO" :
	       S_ISSOCK(st.st_mode)   ? "a socket" :
	       S_ISCHR(st.st_mode)    ? "a character device" :
	       S_ISBLK(st.st_mode)    ? "a block device" : "not a file";
}

int config__load_file(struct config *c, const char *path, char *err, size_t errlen)
{
	struct buf b = { 0 };
	/* the type is checked before a byte is read: a FIFO or a device
	 * must not block brasa run, brasa check or a reload */
	int rc = buf_read_file(path, &b, MAX_FILE_BYTES);
	const char *special = rc ? special_file(path) : NULL;

	if (special)
		config_errf(err, errlen,
			    "failed to read configuration file '%s': not a regular file (%s)", path,
			    special);
	else if (rc == -EFBIG)
		config_errf(err, errlen,
			    "failed to read configuration file '%s': larger than %u bytes", path,
			    MAX_FILE_BYTES);
	else if (rc)
		config_errf(err, errlen, "failed to read configuration file '%s': %s", path,
			    strerror(-rc));
	else
		rc = config__load_buffer(c, path, (const char *)b.data, b.len, err, errlen);
	buf_release(&b);
	return rc;
}
