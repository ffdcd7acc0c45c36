/* k8s: which namespace, pod and container a (pod uid, container id) pair
 * found in a process's cgroup belongs to, for the pods on this node. A
 * poller thread lists them from the Kubernetes API server (libcurl, json-c)
 * and swaps in a whole new table after every good list; lookups copy from
 * the current table under a mutex and never touch the network.
 *
 *   k8s__new(opts, &k)       starts the poller; 0, -EINVAL (no api_url or
 *                            node, bad numbers), -ENOMEM, -errno from
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
 *   k8s__canonical_uid(s, out)  "3F1C2A9E_8B7D_..." -> "3f1c2a9e-8b7d-...";
 *                            0 or -EINVAL
 *   k8s__in_cluster_url(out, len)   "https://$KUBERNETES_SERVICE_HOST:
 *                            $KUBERNETES_SERVICE_PORT" (IPv6 bracketed);
 *                            0, -ENOENT (not in a pod), -EINVAL, -ENAMETOOLONG
 *
 * The parser, exposed for tests and fuzzing:
 *   k8s_pods__parse(json, len, node, &t, err, errlen)   a PodList into a
 *                            table: 0, -EBADMSG with a message in err on
 *                            anything that is not a PodList, -ENOMEM
 *   k8s_pods__lookup(t, uid, cid, out)   as k8s__lookup, without re-list
 *   k8s_pods__count(t)       pods in the table (NULL: 0)
 *   k8s_pods__equal(a, b)    same pods, labels and containers
 *   k8s_pods__free(t)        NULL-safe
 *
 * Labels added by a lookup (Prometheus' kubernetes_sd pod role names, so
 * relabeling rules written for Prometheus or Grafana Alloy work unchanged):
 *   namespace, pod, __meta_kubernetes_namespace, __meta_kubernetes_pod_name,
 *   __meta_kubernetes_pod_uid, __meta_kubernetes_node_name and
 *   __meta_kubernetes_pod_node_name (Prometheus' spelling for the pod role),
 *   __meta_kubernetes_pod_label_<n> and __meta_kubernetes_pod_labelpresent_<n>
 *   ("true"), __meta_kubernetes_pod_annotation_<n> and ..._annotationpresent_<n>,
 *   __meta_kubernetes_pod_controller_kind/_name (the controller owner);
 * and when the container id is known:
 *   container, __meta_kubernetes_pod_container_name,
 *   __meta_kubernetes_pod_container_id ("containerd://<id>", as the API
 *   server spells it), __meta_kubernetes_pod_container_init ("true" for init
 *   containers, "false" for regular and ephemeral ones).
 * <n> is the label or annotation name with every character outside
 * [a-zA-Z0-9_] replaced by '_' (two names that sanitize alike: the later in
 * the API server's order wins, as in Prometheus). Empty values are absent
 * (labels__set semantics); the ..present_ labels still say they were set.
 *
 * Matching: pod uids compare case-insensitively in canonical dashed form,
 * so the cgroup spellings "pod3f1c2a9e_8b7d_..." (systemd driver, after the
 * caller strips "pod") and "3f1c2a9e-8b7d-..." (cgroupfs driver) both match.
 * A static pod's mirror is also found under its kubernetes.io/config.mirror
 * hash, which is the uid the kubelet gives the pod's cgroup. Container ids
 * compare case-insensitively (hex), without the "<runtime>://" prefix on
 * either side; a
 * restarted container's previous id (lastState.terminated) still maps to
 * it, so samples drained after a restart keep their container. An unknown
 * container id in a known pod adds the pod labels only and returns 0.
 */
#ifndef BRASA_AGENT_K8S_H
#define BRASA_AGENT_K8S_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/labels.h"

/* Where the kubelet mounts a pod's service-account credentials. */
#define K8S_SA_TOKEN_FILE "/var/run/secrets/kubernetes.io/serviceaccount/token"
#define K8S_SA_CA_FILE "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"

/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" */
#define K8S_UID_LEN 36

/* Zero numeric fields take the defaults shown. Strings are copied. */
struct k8s_opts {
	const char *api_url;        /* "https://10.0.0.1:443",
				     * "http://127.0.0.1:8001"; http and https
				     * only, no redirects followed */
	const char *token_file;     /* bearer token, re-read before every
				     * request (rotated service-account tokens);
				     * NULL or missing: no Authorization */
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
struct k8s_pods;

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
 * pod_uid in any of the spellings above; container_id with or without its
 * "<runtime>://" prefix, or NULL/"" for pod labels only. Labels already in
 * out with the same names are replaced, others kept. */
int k8s__lookup(struct k8s *k, const char *pod_uid, const char *container_id,
		struct labels *out);
void k8s__stats(struct k8s *k, struct k8s_stats *st);

/* 32 hex digits, either bare or split 8-4-4-4-12 by '-' or '_' (one kind
 * throughout), any case -> lowercase dashed form in out (K8S_UID_LEN + 1
 * bytes). */
int k8s__canonical_uid(const char *s, char out[K8S_UID_LEN + 1]);
int k8s__in_cluster_url(char *out, size_t len);

/* json need not be NUL-terminated. node: keep only pods whose spec.nodeName
 * is node (NULL: every pod). A pod without metadata.uid/name/namespace or
 * with a uid that is no uid is skipped, not an error. The table is
 * immutable once returned and owned by the caller. */
int k8s_pods__parse(const char *json, size_t len, const char *node,
		    struct k8s_pods **out, char *err, size_t errlen);
int k8s_pods__lookup(const struct k8s_pods *t, const char *pod_uid,
		     const char *container_id, struct labels *out);
size_t k8s_pods__count(const struct k8s_pods *t);
bool k8s_pods__equal(const struct k8s_pods *a, const struct k8s_pods *b);
void k8s_pods__free(struct k8s_pods *t);

#endif
