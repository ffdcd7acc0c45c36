#include "labels/k8s.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/http_client.h"
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
	char *path;            /* of the list request */
	char *url;             /* the whole of it, for messages */
	char *token_file;
	char *node;
	uint32_t poll_interval_ms;
	uint32_t early_spacing_ms;
	size_t max_response_bytes;

	struct http_client *http; /* poller thread only (but the cancel) */
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
	struct http_response resp;
};

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
	const char *missed_container;
	int err;

	if (!k || !out || k8s_pods__canonical_uid(pod_uid, uid) < 0)
		return -EINVAL;
	pthread_mutex_lock(&k->lock);
	err = k8s_pods__find(k->table, uid, container_id, out, &missed_container);
	if (err == -ENOENT)
		note_miss(k, uid);
	else if (!err && missed_container)
		note_miss(k, missed_container);
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

/* Says once per streak why the token file did not go with the requests:
 * a missing or empty file means none is wanted. */
static void note_token(struct k8s *k, int err)
{
	if (!err) {
		k->token_warned = false;
		return;
	}
	if (err == -ENOENT || err == -ENODATA || k->token_warned)
		return;
	if (err == -EBADMSG)
		log_warn("kubernetes token '%s' holds control characters, sending none",
			 k->token_file);
	else
		log_warn("failed to read kubernetes token '%s': %s, sending none", k->token_file,
			 strerror(-err));
	k->token_warned = true;
}

/* One GET into k->resp; detail says why on POLL_CONNECT. *code: the HTTP
 * status, when there was one. */
static enum poll_result request(struct k8s *k, long *code, char *detail, size_t len)
{
	struct http_request req = { .path = k->path };
	int err = http_client__perform(k->http, &req, &k->resp);

	*code = k->resp.status;
	if (err) {
		snprintf(detail, len, "%s", strerror(-err));
		return POLL_CONNECT;
	}
	note_token(k, k->resp.auth_err);
	switch (k->resp.result) {
	case HTTP_OK:
		return *code == 200 ? POLL_OK : POLL_HTTP;
	case HTTP_TOO_LARGE:
		return POLL_TOO_LARGE;
	case HTTP_CANCELLED:
		return POLL_STOPPED;
	case HTTP_NETWORK:
	case HTTP_TIMEOUT:
	case HTTP_AUTH_FILE: /* not with auth_optional */
		break;
	}
	snprintf(detail, len, "%s", k->resp.message);
	return POLL_CONNECT;
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
	char detail[HTTP_MESSAGE_MAX] = "";
	enum poll_result res;
	bool changed = false, had_table;
	size_t pods;
	long code;

	res = request(k, &code, detail, sizeof(detail));
	if (res == POLL_STOPPED)
		return;
	if (res == POLL_OK) {
		int err = k8s_pods__parse((const char *)k->resp.body.data, k->resp.body.len,
					  k->node, &fresh, detail, sizeof(detail));

		if (err == -ENOMEM)
			snprintf(detail, sizeof(detail), "out of memory");
		if (err < 0)
			res = POLL_PARSE;
	} else if (res == POLL_HTTP) {
		k8s_pods__status_message((const char *)k->resp.body.data, k->resp.body.len,
					 detail, sizeof(detail));
	}
	/* the body can be megabytes; keep no more than a small one around */
	if (k->resp.body.cap > (1u << 20))
		http_response__release(&k->resp);

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
		now = clock__mono_ms();
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

/* GET {api_url}/api/v1/pods?fieldSelector=spec.nodeName%3D{node}
 * &resourceVersion=0: "any version" lets the API server answer from its
 * watch cache, where pods are indexed by node, instead of reading every pod
 * in the cluster from etcd for each node's poll. */
static char *build_path(const char *node)
{
	char *escaped, *path = NULL;

	escaped = curl_easy_escape(NULL, node, 0);
	if (!escaped)
		return NULL;
	if (asprintf(&path, "/api/v1/pods?fieldSelector=spec.nodeName%%3D%s"
			    "&resourceVersion=0", escaped) < 0)
		path = NULL;
	curl_free(escaped);
	return path;
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
		/* cuts a request in flight short */
		http_client__cancel(k->http);
		pthread_join(k->thread, NULL);
	}
	http_client__free(k->http);
	k8s_pods__free(k->table);
	http_response__release(&k->resp);
	pthread_cond_destroy(&k->wake);
	pthread_mutex_destroy(&k->lock);
	free(k->path);
	free(k->url);
	free(k->token_file);
	free(k->node);
	free(k);
}

DEFINE_CLEANUP(struct k8s, k8s__free)

int k8s__new(const struct k8s_opts *o, struct k8s **out)
{
	_cleanup_(cleanup_k8s__free) struct k8s *k = NULL;
	const struct http_header accept = { "Accept", "application/json" };
	struct http_client_opts ho = {
		.base_url = o ? o->api_url : NULL,
		.ca_file = o ? o->ca_file : NULL,
		.bearer_token_file = o ? o->token_file : NULL,
		/* a missing token file: a request without one (kubectl proxy) */
		.auth_optional = true,
		.headers = &accept,
		.n_headers = 1,
		/* the API server gzips large lists */
		.accept_encoding = true,
	};
	pthread_condattr_t attr;
	int err;

	if (!o || !out || !o->api_url || !o->node || !*o->node)
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
	k->early_spacing_ms = o->early_spacing_ms ? o->early_spacing_ms :
						    DEFAULT_EARLY_SPACING_MS;
	k->max_response_bytes = o->max_response_bytes ? o->max_response_bytes :
							DEFAULT_MAX_RESPONSE_BYTES;
	ho.timeout_ms = o->timeout_ms ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
	ho.max_response_bytes = k->max_response_bytes;
	err = http_client__new(&ho, &k->http);
	if (err)
		return err;
	k->path = build_path(o->node);
	k->node = strdup(o->node);
	k->token_file = o->token_file ? strdup(o->token_file) : NULL;
	if (!k->path || !k->node || (o->token_file && !k->token_file))
		return -ENOMEM;
	if (asprintf(&k->url, "%s%s", http_client__base_url(k->http), k->path) < 0) {
		k->url = NULL;
		return -ENOMEM;
	}
	err = -pthread_create(&k->thread, NULL, poller, k);
	if (err)
		return err;
	k->thread_started = true;
	*out = TAKE_PTR(k);
	return 0;
}
