#include "labels/k8s_pods.h"

#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/macros.h"

/* Deep enough for managedFields' fieldsV1 trees, which mirror the object. */
#define JSON_MAX_DEPTH 128

#define LABEL_PREFIX "__meta_kubernetes_pod_"

/* ---- the table ---------------------------------------------------------- */

struct k8s_container {
	char *id;       /* without the runtime:// prefix */
	char *full_id;  /* as the API server wrote it */
	char *name;
	bool init;
};

struct k8s_pod {
	char uid[K8S_UID_LEN + 1];
	size_t listed;         /* position in the PodList, for sorting */
	struct labels labels;  /* every pod-level label a lookup adds */
	struct k8s_container *containers;
	size_t n_containers, cap_containers;
};

/* A second uid a pod is known by (a mirror pod's config hash). */
struct k8s_alias {
	char uid[K8S_UID_LEN + 1];
	size_t pod;
};

struct k8s_pods {
	struct k8s_pod *pods;    /* sorted by uid, unique */
	size_t n_pods;
	struct k8s_alias *aliases; /* sorted by uid */
	size_t n_aliases;
};

int k8s_pods__canonical_uid(const char *s, char out[K8S_UID_LEN + 1])
{
	char digits[32];
	size_t len, nd = 0;
	char sep = 0;

	if (!s)
		return -EINVAL;
	len = strnlen(s, K8S_UID_LEN + 1);
	if (len == K8S_UID_LEN) {
		sep = s[8];
		if (sep != '-' && sep != '_')
			return -EINVAL;
	} else if (len != 32) {
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++) {
		if (sep && (i == 8 || i == 13 || i == 18 || i == 23)) {
			if (s[i] != sep)
				return -EINVAL;
			continue;
		}
		if (!isxdigit((unsigned char)s[i]))
			return -EINVAL;
		digits[nd++] = (char)tolower((unsigned char)s[i]);
	}
	for (size_t i = 0, o = 0; i < 32; i++) {
		if (i == 8 || i == 12 || i == 16 || i == 20)
			out[o++] = '-';
		out[o++] = digits[i];
	}
	out[K8S_UID_LEN] = '\0';
	return 0;
}

/* "containerd://abc" -> "abc"; ids without a prefix are returned as is. */
static const char *strip_runtime(const char *id)
{
	const char *sep = id ? strstr(id, "://") : NULL;

	return sep ? sep + 3 : id;
}

static void container_release(struct k8s_container *c)
{
	free(c->full_id);
	free(c->name);
	c->full_id = c->name = c->id = NULL;
}

static void pod_release(struct k8s_pod *p)
{
	labels__clear(&p->labels);
	for (size_t i = 0; i < p->n_containers; i++)
		container_release(&p->containers[i]);
	free(p->containers);
	p->containers = NULL;
	p->n_containers = p->cap_containers = 0;
}

void k8s_pods__free(struct k8s_pods *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n_pods; i++)
		pod_release(&t->pods[i]);
	free(t->pods);
	free(t->aliases);
	free(t);
}

size_t k8s_pods__count(const struct k8s_pods *t)
{
	return t ? t->n_pods : 0;
}

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

bool k8s_pods__equal(const struct k8s_pods *a, const struct k8s_pods *b)
{
	if (!a || !b)
		return k8s_pods__count(a) == 0 && k8s_pods__count(b) == 0;
	if (a->n_pods != b->n_pods || a->n_aliases != b->n_aliases)
		return false;
	for (size_t i = 0; i < a->n_aliases; i++)
		if (strcmp(a->aliases[i].uid, b->aliases[i].uid) != 0 ||
		    a->aliases[i].pod != b->aliases[i].pod)
			return false;
	for (size_t i = 0; i < a->n_pods; i++) {
		const struct k8s_pod *pa = &a->pods[i], *pb = &b->pods[i];

		if (strcmp(pa->uid, pb->uid) != 0 ||
		    pa->n_containers != pb->n_containers ||
		    !labels__equal(&pa->labels, &pb->labels))
			return false;
		for (size_t c = 0; c < pa->n_containers; c++) {
			const struct k8s_container *ca = &pa->containers[c],
						   *cb = &pb->containers[c];

			if (!str_eq(ca->full_id, cb->full_id) ||
			    !str_eq(ca->name, cb->name) || ca->init != cb->init)
				return false;
		}
	}
	return true;
}

/* ---- parsing ------------------------------------------------------------ */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static struct json_object *get_obj(struct json_object *o, const char *key,
				   enum json_type type)
{
	struct json_object *v;

	if (!o || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, type))
		return NULL;
	return v;
}

static const char *get_str(struct json_object *o, const char *key)
{
	struct json_object *v = get_obj(o, key, json_type_string);

	return v ? json_object_get_string(v) : NULL;
}

/* Sets prefix + name with name sanitized as Prometheus does. */
static int set_sanitized(struct labels *ls, const char *prefix,
			 const char *name, const char *value)
{
	size_t plen = strlen(prefix), nlen = strlen(name);
	_cleanup_free_ char *full = malloc(plen + nlen + 1);

	if (!full)
		return -ENOMEM;
	memcpy(full, prefix, plen);
	for (size_t i = 0; i < nlen; i++) {
		unsigned char c = (unsigned char)name[i];

		full[plen + i] = (isascii(c) && (isalnum(c) || c == '_')) ?
			(char)c : '_';
	}
	full[plen + nlen] = '\0';
	return labels__set(ls, full, value);
}

/* labels/annotations: map[string]string; a non-string value (which no API
 * server sends) is skipped rather than failing the whole list. */
static int add_map(struct labels *ls, struct json_object *map,
		   const char *value_prefix, const char *present_prefix)
{
	if (!map)
		return 0;
	json_object_object_foreach(map, name, value)
	{
		int err;

		if (!json_object_is_type(value, json_type_string))
			continue;
		err = set_sanitized(ls, value_prefix, name,
				    json_object_get_string(value));
		if (!err)
			err = set_sanitized(ls, present_prefix, name, "true");
		if (err)
			return err;
	}
	return 0;
}

static int add_container(struct k8s_pod *p, const char *name,
			 const char *full_id, bool init)
{
	struct k8s_container *c;
	const char *bare = strip_runtime(full_id);

	if (!name || !full_id || !*bare)
		return 0;
	if (p->n_containers == p->cap_containers) {
		size_t cap = p->cap_containers ? p->cap_containers * 2 : 4;
		struct k8s_container *v = reallocarray(p->containers, cap,
						       sizeof(*v));

		if (!v)
			return -ENOMEM;
		p->containers = v;
		p->cap_containers = cap;
	}
	c = &p->containers[p->n_containers];
	c->full_id = strdup(full_id);
	c->name = strdup(name);
	if (!c->full_id || !c->name) {
		container_release(c);
		return -ENOMEM;
	}
	c->id = c->full_id + (bare - full_id);
	c->init = init;
	p->n_containers++;
	return 0;
}

/* status.<key>[]: each container's current id and, for a restarted one,
 * the previous id, whose processes may still be in a profile being drained. */
static int add_statuses(struct k8s_pod *p, struct json_object *status,
			const char *key, bool init)
{
	struct json_object *arr = get_obj(status, key, json_type_array);
	size_t n = arr ? json_object_array_length(arr) : 0;

	for (size_t i = 0; i < n; i++) {
		struct json_object *cs = json_object_array_get_idx(arr, i);
		struct json_object *last = get_obj(cs, "lastState", json_type_object);
		struct json_object *term = get_obj(last, "terminated", json_type_object);
		const char *name = get_str(cs, "name");
		const char *id = get_str(cs, "containerID");
		const char *prev = get_str(term, "containerID");
		int err;

		err = add_container(p, name, id, init);
		if (!err && prev && !str_eq(strip_runtime(prev), strip_runtime(id)))
			err = add_container(p, name, prev, init);
		if (err)
			return err;
	}
	return 0;
}

static int add_controller(struct labels *ls, struct json_object *meta)
{
	struct json_object *owners = get_obj(meta, "ownerReferences",
					     json_type_array);
	size_t n = owners ? json_object_array_length(owners) : 0;

	for (size_t i = 0; i < n; i++) {
		struct json_object *o = json_object_array_get_idx(owners, i);
		struct json_object *ctl = get_obj(o, "controller", json_type_boolean);
		int err;

		if (!ctl || !json_object_get_boolean(ctl))
			continue;
		err = labels__set(ls, LABEL_PREFIX "controller_kind",
				  get_str(o, "kind"));
		if (!err)
			err = labels__set(ls, LABEL_PREFIX "controller_name",
					  get_str(o, "name"));
		return err;
	}
	return 0;
}

/* Fills p from one PodList item. 1: p holds a pod; 0: the item is skipped
 * (another node's pod, or missing its identity); -ENOMEM. */
static int parse_pod(struct json_object *item, const char *node,
		     struct k8s_pod *p, char alias[K8S_UID_LEN + 1])
{
	struct json_object *meta = get_obj(item, "metadata", json_type_object);
	struct json_object *spec = get_obj(item, "spec", json_type_object);
	struct json_object *status = get_obj(item, "status", json_type_object);
	struct json_object *annotations = get_obj(meta, "annotations",
						  json_type_object);
	const char *name = get_str(meta, "name");
	const char *ns = get_str(meta, "namespace");
	const char *uid = get_str(meta, "uid");
	const char *node_name = get_str(spec, "nodeName");
	const char *mirror = get_str(annotations, "kubernetes.io/config.mirror");
	struct labels *ls = &p->labels;
	int err;

	if (node && !str_eq(node_name, node))
		return 0;
	if (!name || !ns || !uid || k8s_pods__canonical_uid(uid, p->uid) < 0)
		return 0;
	alias[0] = '\0';
	if (mirror && k8s_pods__canonical_uid(mirror, alias) < 0)
		alias[0] = '\0';

	if ((err = labels__set(ls, "namespace", ns)) ||
	    (err = labels__set(ls, "pod", name)) ||
	    (err = labels__set(ls, "__meta_kubernetes_namespace", ns)) ||
	    (err = labels__set(ls, LABEL_PREFIX "name", name)) ||
	    (err = labels__set(ls, LABEL_PREFIX "uid", p->uid)) ||
	    (err = labels__set(ls, "__meta_kubernetes_node_name", node_name)) ||
	    (err = labels__set(ls, LABEL_PREFIX "node_name", node_name)) ||
	    (err = add_map(ls, get_obj(meta, "labels", json_type_object),
			   LABEL_PREFIX "label_", LABEL_PREFIX "labelpresent_")) ||
	    (err = add_map(ls, annotations, LABEL_PREFIX "annotation_",
			   LABEL_PREFIX "annotationpresent_")) ||
	    (err = add_controller(ls, meta)) ||
	    (err = add_statuses(p, status, "initContainerStatuses", true)) ||
	    (err = add_statuses(p, status, "containerStatuses", false)) ||
	    (err = add_statuses(p, status, "ephemeralContainerStatuses", false)))
		return err;
	return 1;
}

static int cmp_pod(const void *a, const void *b)
{
	return strcmp(((const struct k8s_pod *)a)->uid,
		      ((const struct k8s_pod *)b)->uid);
}

/* By uid, then list order: qsort is not stable, and of a uid listed twice
 * the first is kept. */
static int cmp_pod_listed(const void *a, const void *b)
{
	const struct k8s_pod *pa = a, *pb = b;
	int c = strcmp(pa->uid, pb->uid);

	if (c)
		return c;
	return pa->listed < pb->listed ? -1 : pa->listed > pb->listed;
}

static int cmp_alias(const void *a, const void *b)
{
	return strcmp(((const struct k8s_alias *)a)->uid,
		      ((const struct k8s_alias *)b)->uid);
}

/* Parses the whole text as one JSON value (strict, UTF-8 checked). */
static struct json_object *parse_json(const char *json, size_t len, char *err,
				      size_t errlen)
{
	struct json_tokener *tok;
	struct json_object *root;
	enum json_tokener_error jerr;
	size_t end;

	if (len > INT_MAX) {
		set_err(err, errlen, "document of %zu bytes is too large", len);
		return NULL;
	}
	tok = json_tokener_new_ex(JSON_MAX_DEPTH);
	if (!tok) {
		set_err(err, errlen, "out of memory");
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
				    JSON_TOKENER_VALIDATE_UTF8);
	root = json_tokener_parse_ex(tok, json, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (jerr == json_tokener_continue) {
		set_err(err, errlen, "truncated JSON (%zu bytes)", len);
		json_object_put(root);
		return NULL;
	}
	if (!root && jerr == json_tokener_success) {
		set_err(err, errlen, "not a PodList (null)");
		return NULL;
	}
	if (jerr != json_tokener_success) {
		set_err(err, errlen, "invalid JSON at byte %zu: %s", end,
			json_tokener_error_desc(jerr));
		json_object_put(root);
		return NULL;
	}
	for (size_t i = end; i < len; i++) {
		if (!isspace((unsigned char)json[i])) {
			set_err(err, errlen, "trailing data at byte %zu", i);
			json_object_put(root);
			return NULL;
		}
	}
	return root;
}

int k8s_pods__parse(const char *json, size_t len, const char *node,
		    struct k8s_pods **out, char *err, size_t errlen)
{
	struct json_object *root, *items;
	const char *kind;
	struct k8s_pods *t = NULL;
	size_t n, kept;
	int ret;

	*out = NULL;
	if (!json)
		len = 0;
	root = parse_json(json ? json : "", len, err, errlen);
	if (!root)
		return -EBADMSG;
	kind = get_str(root, "kind");
	if (!json_object_is_type(root, json_type_object) || !str_eq(kind, "PodList")) {
		const char *msg = get_str(root, "message");

		set_err(err, errlen, "not a PodList (kind %s)%s%.*s",
			kind ? kind : "missing", msg ? ": " : "",
			K8S_STATUS_MESSAGE_MAX, msg ? msg : "");
		ret = -EBADMSG;
		goto out;
	}
	/* Go encodes an empty list's nil slice as null */
	if (!json_object_object_get_ex(root, "items", &items) ||
	    !(items == NULL || json_object_is_type(items, json_type_array))) {
		set_err(err, errlen, "PodList without an items array");
		ret = -EBADMSG;
		goto out;
	}
	n = items ? json_object_array_length(items) : 0;
	t = calloc(1, sizeof(*t));
	if (!t || (n && !(t->pods = calloc(n, sizeof(*t->pods)))) ||
	    (n && !(t->aliases = calloc(n, sizeof(*t->aliases))))) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct json_object *item = json_object_array_get_idx(items, i);
		struct k8s_pod *p = &t->pods[t->n_pods];
		char alias[K8S_UID_LEN + 1];
		int r;

		if (!json_object_is_type(item, json_type_object)) {
			set_err(err, errlen, "items[%zu] is not an object", i);
			ret = -EBADMSG;
			goto out;
		}
		r = parse_pod(item, node, p, alias);
		if (r < 0) {
			pod_release(p);
			ret = r;
			goto out;
		}
		if (r == 0) {
			pod_release(p);
			continue;
		}
		p->listed = i;
		if (alias[0]) {
			memcpy(t->aliases[t->n_aliases].uid, alias, sizeof(alias));
			/* an index into the unsorted pods until sorting */
			t->aliases[t->n_aliases].pod = t->n_pods;
			t->n_aliases++;
		}
		t->n_pods++;
	}

	/* Sort by uid; a uid listed twice (no API server does) keeps its first
	 * entry. Aliases are resolved to the sorted positions by uid. */
	{
		char (*alias_owner)[K8S_UID_LEN + 1] = NULL;

		if (t->n_aliases) {
			alias_owner = calloc(t->n_aliases, sizeof(*alias_owner));
			if (!alias_owner) {
				ret = -ENOMEM;
				goto out;
			}
			for (size_t a = 0; a < t->n_aliases; a++)
				memcpy(alias_owner[a], t->pods[t->aliases[a].pod].uid,
				       sizeof(alias_owner[a]));
		}
		if (t->n_pods > 1)
			qsort(t->pods, t->n_pods, sizeof(*t->pods), cmp_pod_listed);
		kept = 0;
		for (size_t i = 0; i < t->n_pods; i++) {
			if (kept && strcmp(t->pods[kept - 1].uid, t->pods[i].uid) == 0) {
				pod_release(&t->pods[i]);
				continue;
			}
			t->pods[kept++] = t->pods[i];
		}
		t->n_pods = kept;
		for (size_t a = 0; a < t->n_aliases; a++) {
			struct k8s_pod key, *p;

			memcpy(key.uid, alias_owner[a], sizeof(key.uid));
			p = bsearch(&key, t->pods, t->n_pods, sizeof(*t->pods), cmp_pod);
			t->aliases[a].pod = (size_t)(p - t->pods);
		}
		free(alias_owner);
		if (t->n_aliases > 1)
			qsort(t->aliases, t->n_aliases, sizeof(*t->aliases), cmp_alias);
	}
	*out = TAKE_PTR(t);
	ret = 0;
out:
	k8s_pods__free(t);
	json_object_put(root);
	return ret;
}

static const struct k8s_pod *find_pod(const struct k8s_pods *t, const char *uid)
{
	struct k8s_pod key;
	const struct k8s_pod *p;
	const struct k8s_alias *a;
	struct k8s_alias akey;

	if (!t || !t->n_pods)
		return NULL;
	memcpy(key.uid, uid, sizeof(key.uid));
	p = bsearch(&key, t->pods, t->n_pods, sizeof(*t->pods), cmp_pod);
	if (p || !t->n_aliases)
		return p;
	memcpy(akey.uid, uid, sizeof(akey.uid));
	a = bsearch(&akey, t->aliases, t->n_aliases, sizeof(*t->aliases), cmp_alias);
	return a ? &t->pods[a->pod] : NULL;
}

int k8s_pods__find(const struct k8s_pods *t, const char *uid, const char *container_id,
		   struct labels *out, const char **missed_container)
{
	const char *bare = container_id ? strip_runtime(container_id) : NULL;
	const struct k8s_pod *p = find_pod(t, uid);
	int err;

	*missed_container = NULL;
	if (!p)
		return -ENOENT;
	for (size_t i = 0; i < p->labels.n; i++) {
		err = labels__set(out, p->labels.v[i].name, p->labels.v[i].value);
		if (err)
			return err;
	}
	if (!bare || !*bare)
		return 0;
	for (size_t i = 0; i < p->n_containers; i++) {
		const struct k8s_container *c = &p->containers[i];

		/* hex ids; the cgroup path may spell them in either case */
		if (strcasecmp(c->id, bare) != 0)
			continue;
		if ((err = labels__set(out, "container", c->name)) ||
		    (err = labels__set(out, LABEL_PREFIX "container_name", c->name)) ||
		    (err = labels__set(out, LABEL_PREFIX "container_id", c->full_id)) ||
		    (err = labels__set(out, LABEL_PREFIX "container_init",
				       c->init ? "true" : "false")))
			return err;
		return 0;
	}
	*missed_container = bare;
	return 0;
}
int k8s_pods__lookup(const struct k8s_pods *t, const char *pod_uid,
		     const char *container_id, struct labels *out)
{
	char uid[K8S_UID_LEN + 1];
	const char *missed;

	if (k8s_pods__canonical_uid(pod_uid, uid) < 0)
		return -EINVAL;
	return k8s_pods__find(t, uid, container_id, out, &missed);
}

void k8s_pods__status_message(const char *json, size_t len, char *out, size_t outlen)
{
	struct json_object *root;
	const char *msg;

	out[0] = '\0';
	root = parse_json(json ? json : "", json ? len : 0, NULL, 0);
	msg = get_str(root, "message");
	if (msg) {
		snprintf(out, outlen, ": %.*s", K8S_STATUS_MESSAGE_MAX, msg);
		for (char *ch = out; *ch; ch++)
			if ((unsigned char)*ch < 0x20 || *ch == 0x7f)
				*ch = ' ';
	}
	json_object_put(root);
}
