/* k8s: which namespace, pod and container a (pod uid, container id) pair
 * found in a process's cgroup belongs to, for the pods on this node. A
 * poller thread lists them from the Kubernetes API server
 * (common/http_client) and swaps in a whole new table (labels/k8s_pods)
 * after every good list; lookups copy from
 * the current table under a mutex and never touch the network.
 *
 *   k8s__new(opts, &k)       starts the poller; 0, -EINVAL (no api_url or
 *                            node, an api_url that is no http(s) base URL,
 *                            bad numbers), -ENOMEM, -errno from
 *                            pthread_create. An unreachable or failing API
 *                            server is not an error here (see below).
 *   k8s__free(k)             NULL-safe; interrupts a request in flight and
 *                            joins the thread
 *   k8s__lookup(k, uid, cid, out)   adds the pod's labels to out: 0;
 *                            -ENOENT unknown pod uid (an early re-list is
 *                            requested); -EINVAL uid is not a uid;
 *                            -ENOMEM (out may then hold some of them)
 *   k8s__stats(k, &st)       counters, consistent with each other (NULL k:
 *                            zeros)
 *   k8s__in_cluster_url(out, len)   "https://$KUBERNETES_SERVICE_HOST:
 *                            $KUBERNETES_SERVICE_PORT" (IPv6 bracketed);
 *                            0, -ENOENT (not in a pod), -EINVAL, -ENAMETOOLONG
 *
 * The pod table, its parser, the labels a lookup adds and how pod uids and
 * container ids match: labels/k8s_pods.h.
 */
#ifndef BRASA_LABELS_K8S_H
#define BRASA_LABELS_K8S_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/labels.h"
#include "labels/k8s_pods.h"

/* Where the kubelet mounts a pod's service-account credentials. */
#define K8S_SA_TOKEN_FILE "/var/run/secrets/kubernetes.io/serviceaccount/token"
#define K8S_SA_CA_FILE "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"

/* Zero numeric fields take the defaults shown. Strings are copied. */
struct k8s_opts {
	const char *api_url;        /* "https://10.0.0.1:443",
				     * "http://127.0.0.1:8001"; http and https
				     * only, no redirects followed */
	const char *token_file;     /* bearer token, re-read when it changes
				     * (rotated service-account tokens), by
				     * common/http_client's rules; NULL,
				     * missing or empty: no Authorization, and
				     * unusable: none either, with a warning */
	const char *ca_file;        /* CA bundle for https; NULL: system's */
	const char *node;           /* only pods with spec.nodeName == node */
	uint32_t poll_interval_ms;  /* full re-list period: 30000 */
	uint32_t timeout_ms;        /* whole request, connect included: 10000 */
	uint32_t early_spacing_ms;  /* a lookup miss lists early, but no sooner
				     * than this after the previous request
				     * started: 2000 */
	size_t max_response_bytes;  /* decoded body bound: 64 MiB; larger is a
				     * failures_too_large */
};

struct k8s_stats {
	uint64_t polls;             /* requests completed, good or not */
	uint64_t failures;          /* = the sum of the reasons below */
	uint64_t failures_connect;  /* transport: refused, DNS, TLS, timeout */
	uint64_t failures_http;     /* a status other than 200 (401: token,
				     * 403: RBAC) */
	uint64_t failures_parse;    /* 200 but not a PodList */
	uint64_t failures_too_large; /* body over max_response_bytes */
	uint64_t pods;              /* pods in the table (the last good list) */
	uint64_t generation;        /* bumped by the first good poll and by
				     * every later one that changed the table */
	uint64_t early_polls;       /* polls brought forward by lookup misses */
	bool ever_succeeded;
};

struct k8s;

/* Starts the poller: the first list at once, then every poll_interval_ms,
 * and early (early_spacing_ms, 2 s, after the previous request started) when
 * a lookup missed, so new pods show up within seconds. Each missed key (a
 * pod uid, or a container id the pod does not list yet) brings at most 3
 * lists forward, one per completed list, so a uid that never appears (a pod
 * deleted while a process lingers, the pause container) cannot keep the API
 * server busy; the last 256 keys are remembered.
 * Failures are logged (warn) when a streak starts or changes kind, e.g.
 * "kubernetes API server unreachable (...): profiles carry cgroup-derived
 * labels only" (or "keeping the last pod list (N pods)" once one was
 * loaded), and the first good list after them once (info); lookups answer
 * from the last good table meanwhile, however old. A TLS failure counts as
 * failures_connect, and its "(...)" says "TLS: " and which kind, e.g. "the
 * server's certificate failed verification against the CA file '...'". */
int k8s__new(const struct k8s_opts *opts, struct k8s **out);
void k8s__free(struct k8s *k);

/* Thread-safe and non-blocking (the table mutex is held for the copy only).
 * pod_uid in any of the spellings of k8s_pods.h; container_id with or without its
 * "<runtime>://" prefix, or NULL/"" for pod labels only. Labels already in
 * out with the same names are replaced, others kept. */
int k8s__lookup(struct k8s *k, const char *pod_uid, const char *container_id,
		struct labels *out);
void k8s__stats(struct k8s *k, struct k8s_stats *st);

int k8s__in_cluster_url(char *out, size_t len);

#endif
