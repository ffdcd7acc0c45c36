/* k8s_pods: the pods of a node as the Kubernetes API server lists them
 * (a PodList's JSON) turned into an immutable table that answers which
 * namespace, pod and container a (pod uid, container id) pair found in a
 * process's cgroup belongs to. Pure: no I/O, no threads (labels/k8s polls
 * the API server and swaps tables); fuzzed by tests/fuzz/fuzz-k8s.c.
 *
 *   k8s_pods__parse(json, len, node, &t, err, errlen)   a PodList into a
 *                            table: 0, -EBADMSG with a message in err on
 *                            anything that is not a PodList, -ENOMEM
 *   k8s_pods__lookup(t, uid, cid, out)   adds the pod's labels to out: 0;
 *                            -ENOENT unknown pod uid; -EINVAL uid is not a
 *                            uid; -ENOMEM (out may then hold some of them)
 *   k8s_pods__find(t, uid, cid, out, &missed)   the same for a canonical
 *                            uid, saying which container id the pod does
 *                            not list (yet)
 *   k8s_pods__count(t)       pods in the table (NULL: 0)
 *   k8s_pods__equal(a, b)    same pods, labels and containers
 *   k8s_pods__free(t)        NULL-safe
 *   k8s_pods__status_message(json, len, out, outlen)   ": <message>" of a
 *                            Kubernetes Status body (an error answer) on
 *                            one line, or ""
 *   k8s_pods__canonical_uid(s, out)  "3F1C2A9E_8B7D_..." -> "3f1c2a9e-8b7d-...";
 *                            0 or -EINVAL
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
#ifndef BRASA_LABELS_K8S_PODS_H
#define BRASA_LABELS_K8S_PODS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/labels.h"

/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" */
#define K8S_UID_LEN 36
/* How much of an API server Status message a parse error or
 * k8s_pods__status_message carries. */
#define K8S_STATUS_MESSAGE_MAX 256

struct k8s_pods;

/* 32 hex digits, either bare or split 8-4-4-4-12 by '-' or '_' (one kind
 * throughout), any case -> lowercase dashed form in out (K8S_UID_LEN + 1
 * bytes). */
int k8s_pods__canonical_uid(const char *s, char out[K8S_UID_LEN + 1]);

/* json need not be NUL-terminated. node: keep only pods whose spec.nodeName
 * is node (NULL: every pod). A pod without metadata.uid/name/namespace or
 * with a uid that is no uid is skipped, not an error. The table is
 * immutable once returned and owned by the caller. */
int k8s_pods__parse(const char *json, size_t len, const char *node,
		    struct k8s_pods **out, char *err, size_t errlen);
/* pod_uid in any of the spellings above; container_id with or without its
 * "<runtime>://" prefix, or NULL/"" for pod labels only. Labels already in
 * out with the same names are replaced, others kept. */
int k8s_pods__lookup(const struct k8s_pods *t, const char *pod_uid,
		     const char *container_id, struct labels *out);
/* uid in canonical form. *missed_container: container_id without its
 * prefix (a pointer into it) when given and the pod does not list it, else
 * NULL. */
int k8s_pods__find(const struct k8s_pods *t, const char *uid, const char *container_id,
		   struct labels *out, const char **missed_container);
size_t k8s_pods__count(const struct k8s_pods *t);
bool k8s_pods__equal(const struct k8s_pods *a, const struct k8s_pods *b);
void k8s_pods__free(struct k8s_pods *t);
void k8s_pods__status_message(const char *json, size_t len, char *out, size_t outlen);

#endif
