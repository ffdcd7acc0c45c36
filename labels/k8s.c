#include "labels/k8s.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/macros.h"
#include "common/parse.h"

#define DEFAULT_POLL_INTERVAL_MS 30000
#define DEFAULT_TIMEOUT_MS 10000
/* A PodList of a node's pods is well under 1 MiB (110 pods by default, a few
 * KiB each, managedFields included); 64 MiB only guards our memory against
 * a proxy or server gone wrong. */
#define DEFAULT_MAX_RESPONSE_BYTES ((size_t)64 << 20)
/* Early re-lists (after a lookup miss) start at least this long after the
 * previous request started, so a burst of new processes costs one list. */
#define DEFAULT_EARLY_SPACING_MS 2000
/* A key (pod uid or container id) that lookups keep missing brings at most
 * this many lists forward: enough to cover the kubelet's status lag for a
 * new container, without a forever-unknown uid (a process outliving its
 * deleted pod, the pause container) polling the API server every 2 s. */
#define MISS_EARLY_POLLS 3
/* Keys remembered for that bound; the oldest is forgotten first. */
#define MISS_SLOTS 256
#define MISS_KEY_MAX 96
/* The service-account token is a JWT of about 1 KiB. */
#define TOKEN_MAX (64u << 10)
/* Poll granularity of a request in flight; k8s__free wakes it at once. */
#define REQUEST_POLL_MS 1000
/* Deep enough for managedFields' fieldsV1 trees, which mirror the object. */
#define JSON_MAX_DEPTH 128
/* How much of an API server Status message goes into a log line. */
#define STATUS_MESSAGE_MAX 256

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

int k8s__canonical_uid(const char *s, char out[K8S_UID_LEN + 1])
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
	if (!name || !ns || !uid || k8s__canonical_uid(uid, p->uid) < 0)
		return 0;
	alias[0] = '\0';
	if (mirror && k8s__canonical_uid(mirror, alias) < 0)
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
			STATUS_MESSAGE_MAX, msg ? msg : "");
		ret = -EBADMSG;
		goto cleanup;
	}
	/* Go encodes an empty list's nil slice as null */
	if (!json_object_object_get_ex(root, "items", &items) ||
	    !(items == NULL || json_object_is_type(items, json_type_array))) {
		set_err(err, errlen, "PodList without an items array");
		ret = -EBADMSG;
		goto cleanup;
	}
	n = items ? json_object_array_length(items) : 0;
	t = calloc(1, sizeof(*t));
	if (!t || (n && !(t->pods = calloc(n, sizeof(*t->pods)))) ||
	    (n && !(t->aliases = calloc(n, sizeof(*t->aliases))))) {
		ret = -ENOMEM;
		goto cleanup;
	}
	for (size_t i = 0; i < n; i++) {
		struct json_object *item = json_object_array_get_idx(items, i);
		struct k8s_pod *p = &t->pods[t->n_pods];
		char alias[K8S_UID_LEN + 1];
		int r;

		if (!json_object_is_type(item, json_type_object)) {
			set_err(err, errlen, "items[%zu] is not an object", i);
			ret = -EBADMSG;
			goto cleanup;
		}
		r = parse_pod(item, node, p, alias);
		if (r < 0) {
			pod_release(p);
			ret = r;
			goto cleanup;
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
				goto cleanup;
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
cleanup:
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

/* As k8s_pods__lookup; *container_missed tells a container id was given
 * and the pod does not list it. */
static int lookup(const struct k8s_pods *t, const char *uid,
		  const char *container_id, struct labels *out,
		  bool *container_missed)
{
	const char *bare = container_id ? strip_runtime(container_id) : NULL;
	const struct k8s_pod *p = find_pod(t, uid);
	int err;

	*container_missed = false;
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
	*container_missed = true;
	return 0;
}

int k8s_pods__lookup(const struct k8s_pods *t, const char *pod_uid,
		     const char *container_id, struct labels *out)
{
	char uid[K8S_UID_LEN + 1];
	bool missed;

	if (k8s__canonical_uid(pod_uid, uid) < 0)
		return -EINVAL;
	return lookup(t, uid, container_id, out, &missed);
}

int k8s__in_cluster_url(char *out, size_t len)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	uint32_t port_num;
	bool v6;
	int n;

	if (!host || !*host || !port || !*port)
		return -ENOENT;
	/* an IP or a DNS name; anything else would change the URL's meaning */
	if (strspn(host, "0123456789abcdefghijklmnopqrstuvwxyz"
			 "ABCDEFGHIJKLMNOPQRSTUVWXYZ.-:") != strlen(host))
		return -EINVAL;
	if (parse_u32_range(port, 1, 65535, &port_num) < 0)
		return -EINVAL;
	v6 = strchr(host, ':') != NULL;
	n = snprintf(out, len, "https://%s%s%s:%u", v6 ? "[" : "", host,
		     v6 ? "]" : "", port_num);
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* ---- the poller --------------------------------------------------------- */

enum poll_result {
	POLL_OK,
	POLL_CONNECT,
	POLL_HTTP,
	POLL_PARSE,
	POLL_TOO_LARGE,
	POLL_STOPPED,
};

struct miss {
	char key[MISS_KEY_MAX];
	unsigned early_polls;  /* lists this key brought forward */
	uint64_t asked_at;     /* stats.polls when it last asked */
};

struct k8s {
	char *url;
	char *token_file;
	char *ca_file;
	char *node;
	uint32_t poll_interval_ms;
	uint32_t timeout_ms;
	uint32_t early_spacing_ms;
	size_t max_response_bytes;

	bool curl_initialized; /* holds a curl_global_init reference */
	CURLM *multi;          /* curl_multi_wakeup from k8s__free */
	CURL *easy;            /* poller thread only */
	pthread_t thread;
	bool thread_started;
	atomic_bool stop;

	pthread_mutex_t lock;
	pthread_cond_t wake;
	/* under lock */
	struct k8s_pods *table; /* replaced whole; only the poller writes it */
	struct k8s_stats stats;
	bool early_wanted;
	struct miss misses[MISS_SLOTS];
	size_t miss_next;

	/* poller thread only */
	bool polled;
	uint64_t last_start_ms;
	enum poll_result last_result; /* POLL_STOPPED: none yet */
	bool polled_ok_once;
	bool token_warned;
	struct buf body;
	bool body_too_large;
	CURLcode curl_code;    /* of the last POLL_CONNECT */
	char curl_err[CURL_ERROR_SIZE];
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Called with the lock held: asks for an early list unless key already
 * has one pending or has used its share. */
static void note_miss(struct k8s *k, const char *key)
{
	struct miss *m = NULL;

	for (size_t i = 0; i < MISS_SLOTS; i++) {
		if (k->misses[i].key[0] &&
		    strncmp(k->misses[i].key, key, MISS_KEY_MAX - 1) == 0) {
			m = &k->misses[i];
			break;
		}
	}
	if (!m) {
		m = &k->misses[k->miss_next];
		k->miss_next = (k->miss_next + 1) % MISS_SLOTS;
		snprintf(m->key, sizeof(m->key), "%s", key);
		m->early_polls = 0;
		m->asked_at = UINT64_MAX;
	}
	if (m->asked_at == k->stats.polls || m->early_polls >= MISS_EARLY_POLLS)
		return;
	m->early_polls++;
	m->asked_at = k->stats.polls;
	k->early_wanted = true;
	pthread_cond_signal(&k->wake);
}

int k8s__lookup(struct k8s *k, const char *pod_uid, const char *container_id,
		struct labels *out)
{
	char uid[K8S_UID_LEN + 1];
	bool container_missed;
	int err;

	if (!k || !out || k8s__canonical_uid(pod_uid, uid) < 0)
		return -EINVAL;
	pthread_mutex_lock(&k->lock);
	err = lookup(k->table, uid, container_id, out, &container_missed);
	if (err == -ENOENT)
		note_miss(k, uid);
	else if (!err && container_missed)
		note_miss(k, strip_runtime(container_id));
	pthread_mutex_unlock(&k->lock);
	return err;
}

void k8s__stats(struct k8s *k, struct k8s_stats *st)
{
	if (!k) {
		memset(st, 0, sizeof(*st));
		return;
	}
	pthread_mutex_lock(&k->lock);
	*st = k->stats;
	st->pods = k8s_pods__count(k->table);
	pthread_mutex_unlock(&k->lock);
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct k8s *k = userdata;
	size_t n = size * nmemb;

	if (n > k->max_response_bytes - MIN(k->body.len, k->max_response_bytes)) {
		k->body_too_large = true;
		return 0; /* curl fails the transfer with CURLE_WRITE_ERROR */
	}
	if (buf_append(&k->body, ptr, n) < 0)
		return 0;
	return n;
}

/* The token file's content without trailing whitespace, or NULL (no file,
 * unreadable, or unusable in a header) for a request without Authorization. */
static char *read_token(struct k8s *k)
{
	struct buf b = { 0 };
	int err;

	if (!k->token_file)
		return NULL;
	err = buf_read_file(k->token_file, &b, TOKEN_MAX);
	if (err < 0) {
		if (err != -ENOENT && !k->token_warned) {
			log_warn("failed to read kubernetes token '%s': %s, sending none",
				 k->token_file, strerror(-err));
			k->token_warned = true;
		}
		buf_release(&b);
		return NULL;
	}
	while (b.len && isspace(b.data[b.len - 1]))
		b.data[--b.len] = '\0';
	for (size_t i = 0; i < b.len; i++) {
		if (b.data[i] < 0x21 || b.data[i] == 0x7f) {
			/* a newline would let the file add headers */
			if (!k->token_warned)
				log_warn("kubernetes token '%s' holds control characters, sending none",
					 k->token_file);
			k->token_warned = true;
			buf_release(&b);
			return NULL;
		}
	}
	if (!b.len) {
		buf_release(&b);
		return NULL;
	}
	k->token_warned = false;
	return (char *)b.data;
}

/* One GET into k->body. *code: the HTTP status, when there was one. */
static enum poll_result request(struct k8s *k, long *code)
{
	struct curl_slist *headers = NULL, *h;
	_cleanup_free_ char *token = read_token(k);
	_cleanup_free_ char *auth = NULL;
	enum poll_result res = POLL_CONNECT;
	CURLcode cc = CURLE_OK;
	CURLMsg *msg;
	int running = 1, left;

	*code = 0;
	buf_reset(&k->body);
	k->body_too_large = false;
	k->curl_code = CURLE_OK;
	k->curl_err[0] = '\0';

	h = curl_slist_append(headers, "Accept: application/json");
	if (h)
		headers = h;
	if (token && asprintf(&auth, "Authorization: Bearer %s", token) >= 0) {
		h = curl_slist_append(headers, auth);
		if (h)
			headers = h;
	}
	curl_easy_setopt(k->easy, CURLOPT_HTTPHEADER, headers);
	if (curl_multi_add_handle(k->multi, k->easy) != CURLM_OK) {
		snprintf(k->curl_err, sizeof(k->curl_err), "curl_multi_add_handle failed");
		curl_slist_free_all(headers);
		return POLL_CONNECT;
	}
	while (running) {
		if (curl_multi_perform(k->multi, &running) != CURLM_OK)
			break;
		if (!running)
			break;
		if (atomic_load(&k->stop)) {
			res = POLL_STOPPED;
			break;
		}
		if (curl_multi_poll(k->multi, NULL, 0, REQUEST_POLL_MS, NULL) != CURLM_OK)
			break;
	}
	if (res != POLL_STOPPED) {
		cc = CURLE_RECV_ERROR;
		while ((msg = curl_multi_info_read(k->multi, &left)))
			if (msg->msg == CURLMSG_DONE && msg->easy_handle == k->easy)
				cc = msg->data.result;
	}
	curl_multi_remove_handle(k->multi, k->easy);
	curl_easy_setopt(k->easy, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(headers);
	if (res == POLL_STOPPED)
		return res;
	if (k->body_too_large)
		return POLL_TOO_LARGE;
	k->curl_code = cc;
	if (cc != CURLE_OK) {
		if (!k->curl_err[0])
			snprintf(k->curl_err, sizeof(k->curl_err), "%s",
				 curl_easy_strerror(cc));
		return POLL_CONNECT;
	}
	curl_easy_getinfo(k->easy, CURLINFO_RESPONSE_CODE, code);
	return *code == 200 ? POLL_OK : POLL_HTTP;
}

/* The message of a Kubernetes Status body ("pods is forbidden: User ...")
 * on one line, or "". */
static void status_message(const struct buf *body, char *out, size_t len)
{
	struct json_object *root;
	const char *msg;

	out[0] = '\0';
	root = parse_json((const char *)body->data, body->len, NULL, 0);
	msg = get_str(root, "message");
	if (msg) {
		snprintf(out, len, ": %.*s", STATUS_MESSAGE_MAX, msg);
		for (char *c = out; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				*c = ' ';
	}
	json_object_put(root);
}

/* A transport failure in words: curl's, after what kind of TLS problem it
 * is, so an untrusted certificate does not read like a server that is
 * down. */
static void connect_detail(const struct k8s *k, char *out, size_t len)
{
	switch (k->curl_code) {
	case CURLE_PEER_FAILED_VERIFICATION:
		if (k->ca_file)
			snprintf(out, len, "TLS: the server's certificate failed verification "
				 "against the CA file '%s': %s", k->ca_file, k->curl_err);
		else
			snprintf(out, len, "TLS: the server's certificate failed verification "
				 "against the system's CAs: %s", k->curl_err);
		break;
	case CURLE_SSL_CACERT_BADFILE:
		snprintf(out, len, "TLS: unusable CA file '%s': %s",
			 k->ca_file ? k->ca_file : "(system)", k->curl_err);
		break;
	case CURLE_SSL_CONNECT_ERROR:
		snprintf(out, len, "TLS: handshake failed: %s", k->curl_err);
		break;
	default:
		snprintf(out, len, "%s", k->curl_err);
		break;
	}
}

/* Logs a failure when a streak starts or its kind changes, so a server
 * that stays down is one line, not one per poll. */
static void log_failure(struct k8s *k, enum poll_result res, long code,
			const char *detail, bool have_table, size_t pods)
{
	char consequence[96];

	if (k->last_result == res)
		return;
	if (have_table)
		snprintf(consequence, sizeof(consequence),
			 "keeping the last pod list (%zu pods)", pods);
	else
		snprintf(consequence, sizeof(consequence),
			 "profiles carry cgroup-derived labels only");
	switch (res) {
	case POLL_CONNECT:
		log_warn("kubernetes API server unreachable (%s: %s): %s",
			 k->url, detail, consequence);
		break;
	case POLL_HTTP:
		log_warn("kubernetes pod list unavailable (%s: HTTP %ld%s%s): %s",
			 k->url, code, detail,
			 code == 401 ? "; is the service-account token valid?" :
			 code == 403 ? "; may the service account list pods (RBAC)?" : "",
			 consequence);
		break;
	case POLL_PARSE:
		log_warn("kubernetes pod list unusable (%s: %s): %s", k->url,
			 detail, consequence);
		break;
	case POLL_TOO_LARGE:
		log_warn("kubernetes pod list unusable (%s: larger than %zu bytes): %s",
			 k->url, k->max_response_bytes, consequence);
		break;
	case POLL_OK:
	case POLL_STOPPED:
		break;
	}
}

static void poll_once(struct k8s *k)
{
	struct k8s_pods *fresh = NULL, *old = NULL;
	/* a status message, or curl's error with a CA file's path */
	char detail[STATUS_MESSAGE_MAX + CURL_ERROR_SIZE + 256] = "";
	enum poll_result res;
	bool changed = false, had_table;
	size_t pods;
	long code;

	res = request(k, &code);
	if (res == POLL_STOPPED)
		return;
	if (res == POLL_OK) {
		int err = k8s_pods__parse((const char *)k->body.data, k->body.len,
					  k->node, &fresh, detail, sizeof(detail));

		if (err == -ENOMEM)
			snprintf(detail, sizeof(detail), "out of memory");
		if (err < 0)
			res = POLL_PARSE;
	} else if (res == POLL_HTTP) {
		status_message(&k->body, detail, sizeof(detail));
	} else if (res == POLL_CONNECT) {
		connect_detail(k, detail, sizeof(detail));
	}
	/* the body can be megabytes; keep no more than a small one around */
	if (k->body.cap > (1u << 20))
		buf_release(&k->body);

	if (res == POLL_OK)
		changed = !k->stats.ever_succeeded || !k8s_pods__equal(k->table, fresh);

	pthread_mutex_lock(&k->lock);
	k->stats.polls++;
	switch (res) {
	case POLL_OK:
		old = k->table;
		k->table = fresh;
		k->stats.ever_succeeded = true;
		if (changed)
			k->stats.generation++;
		break;
	case POLL_CONNECT:
		k->stats.failures++;
		k->stats.failures_connect++;
		break;
	case POLL_HTTP:
		k->stats.failures++;
		k->stats.failures_http++;
		break;
	case POLL_PARSE:
		k->stats.failures++;
		k->stats.failures_parse++;
		break;
	case POLL_TOO_LARGE:
		k->stats.failures++;
		k->stats.failures_too_large++;
		break;
	case POLL_STOPPED:
		break;
	}
	had_table = k->stats.ever_succeeded;
	pods = k8s_pods__count(k->table);
	pthread_mutex_unlock(&k->lock);
	k8s_pods__free(old);

	if (res == POLL_OK) {
		if (k->last_result != POLL_OK)
			log_info("kubernetes pod list %s: %zu pods on node '%s'",
				 k->polled_ok_once ? "available again" : "loaded",
				 pods, k->node);
		k->polled_ok_once = true;
	} else {
		log_failure(k, res, code, detail, had_table, pods);
	}
	k->last_result = res;
}

/* Waits until the next list is due: at once the first time, then
 * poll_interval_ms after the previous one started, or sooner for a lookup
 * miss. false: k8s__free asked the thread to stop. */
static bool wait_for_poll(struct k8s *k)
{
	bool early = false;
	uint64_t now;

	pthread_mutex_lock(&k->lock);
	for (;;) {
		uint64_t due;
		struct timespec ts;

		if (atomic_load(&k->stop)) {
			pthread_mutex_unlock(&k->lock);
			return false;
		}
		now = now_ms();
		if (!k->polled)
			break;
		due = k->last_start_ms + k->poll_interval_ms;
		early = false;
		if (k->early_wanted &&
		    k->last_start_ms + k->early_spacing_ms < due) {
			due = k->last_start_ms + k->early_spacing_ms;
			early = true;
		}
		if (now >= due)
			break;
		ts.tv_sec = (time_t)(due / 1000);
		ts.tv_nsec = (long)(due % 1000) * 1000000L;
		pthread_cond_timedwait(&k->wake, &k->lock, &ts);
	}
	if (early)
		k->stats.early_polls++;
	k->early_wanted = false;
	pthread_mutex_unlock(&k->lock);
	k->polled = true;
	k->last_start_ms = now;
	return true;
}

static void *poller(void *arg)
{
	struct k8s *k = arg;

	while (wait_for_poll(k))
		poll_once(k);
	return NULL;
}

static int setup_curl(struct k8s *k)
{
	k->multi = curl_multi_init();
	k->easy = curl_easy_init();
	if (!k->multi || !k->easy)
		return -ENOMEM;
	if (curl_easy_setopt(k->easy, CURLOPT_URL, k->url) != CURLE_OK ||
	    curl_easy_setopt(k->easy, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
	    curl_easy_setopt(k->easy, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(k->easy, CURLOPT_TIMEOUT_MS, (long)k->timeout_ms) != CURLE_OK ||
	    /* the API server gzips large lists; the bound applies after decoding */
	    curl_easy_setopt(k->easy, CURLOPT_ACCEPT_ENCODING, "") != CURLE_OK ||
	    curl_easy_setopt(k->easy, CURLOPT_USERAGENT, "brasa/" BRASA_VERSION) != CURLE_OK ||
	    curl_easy_setopt(k->easy, CURLOPT_WRITEFUNCTION, on_body) != CURLE_OK ||
	    curl_easy_setopt(k->easy, CURLOPT_WRITEDATA, k) != CURLE_OK ||
	    curl_easy_setopt(k->easy, CURLOPT_ERRORBUFFER, k->curl_err) != CURLE_OK ||
	    (k->ca_file &&
	     curl_easy_setopt(k->easy, CURLOPT_CAINFO, k->ca_file) != CURLE_OK))
		return -EINVAL;
	return 0;
}

/* GET {api_url}/api/v1/pods?fieldSelector=spec.nodeName%3D{node}
 * &resourceVersion=0: "any version" lets the API server answer from its
 * watch cache, where pods are indexed by node, instead of reading every pod
 * in the cluster from etcd for each node's poll. */
static char *build_url(const char *api_url, const char *node)
{
	size_t base_len = strlen(api_url);
	char *escaped, *url = NULL;

	while (base_len && api_url[base_len - 1] == '/')
		base_len--;
	escaped = curl_easy_escape(NULL, node, 0);
	if (!escaped)
		return NULL;
	if (asprintf(&url, "%.*s/api/v1/pods?fieldSelector=spec.nodeName%%3D%s"
			   "&resourceVersion=0", (int)base_len, api_url, escaped) < 0)
		url = NULL;
	curl_free(escaped);
	return url;
}

static bool is_http_url(const char *s)
{
	return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}

void k8s__free(struct k8s *k)
{
	if (!k)
		return;
	if (k->thread_started) {
		atomic_store(&k->stop, true);
		pthread_mutex_lock(&k->lock);
		pthread_cond_broadcast(&k->wake);
		pthread_mutex_unlock(&k->lock);
		/* cuts short a curl_multi_poll in a request in flight */
		curl_multi_wakeup(k->multi);
		pthread_join(k->thread, NULL);
	}
	if (k->easy)
		curl_easy_cleanup(k->easy);
	if (k->multi)
		curl_multi_cleanup(k->multi);
	if (k->curl_initialized)
		curl_global_cleanup();
	k8s_pods__free(k->table);
	buf_release(&k->body);
	pthread_cond_destroy(&k->wake);
	pthread_mutex_destroy(&k->lock);
	free(k->url);
	free(k->token_file);
	free(k->ca_file);
	free(k->node);
	free(k);
}

DEFINE_CLEANUP(struct k8s, k8s__free)

int k8s__new(const struct k8s_opts *o, struct k8s **out)
{
	_cleanup_(cleanup_k8s__free) struct k8s *k = NULL;
	pthread_condattr_t attr;
	int err;

	if (!o || !out || !o->api_url || !is_http_url(o->api_url) || !o->node ||
	    !*o->node)
		return -EINVAL;
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	pthread_mutex_init(&k->lock, NULL);
	/* deadlines are monotonic: a clock step must not stall the poller */
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&k->wake, &attr);
	pthread_condattr_destroy(&attr);
	k->last_result = POLL_STOPPED;
	k->poll_interval_ms = o->poll_interval_ms ? o->poll_interval_ms :
						    DEFAULT_POLL_INTERVAL_MS;
	k->timeout_ms = o->timeout_ms ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
	k->early_spacing_ms = o->early_spacing_ms ? o->early_spacing_ms :
						    DEFAULT_EARLY_SPACING_MS;
	k->max_response_bytes = o->max_response_bytes ? o->max_response_bytes :
							DEFAULT_MAX_RESPONSE_BYTES;
	k->url = build_url(o->api_url, o->node);
	k->node = strdup(o->node);
	k->token_file = o->token_file ? strdup(o->token_file) : NULL;
	k->ca_file = o->ca_file ? strdup(o->ca_file) : NULL;
	if (!k->url || !k->node || (o->token_file && !k->token_file) ||
	    (o->ca_file && !k->ca_file))
		return -ENOMEM;
	/* reference-counted by libcurl; paired in k8s__free */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -ENOMEM;
	k->curl_initialized = true;
	err = setup_curl(k);
	if (err < 0)
		return err;
	err = -pthread_create(&k->thread, NULL, poller, k);
	if (err)
		return err;
	k->thread_started = true;
	*out = TAKE_PTR(k);
	return 0;
}
