/* proclabels: the label set of one process — what the profile of that
 * process belongs to — and the keep/drop decision of relabeling.
 *
 * Discovery labels (docs/labels.md): node, pid, comm, executable,
 * build_id, cgroup and what the cgroup path tells (container_id, pod_uid,
 * systemd_unit, systemd_slice, __meta_container_runtime,
 * __meta_cgroup_qos_class), and, with an API server, namespace, pod,
 * container and __meta_kubernetes_* (agent/k8s.h). Then, in this order:
 * external labels for names not already set; service_name when still
 * unset (namespace/container, else systemd_unit, else comm); the
 * relabel_configs (agent/relabel.h); finally every label starting with
 * "__" is dropped.
 *
 *   proclabels__new(opts, &pl)            0, -ENOMEM
 *   proclabels__free(pl)                  NULL-safe
 *   proclabels__configure(pl, labeling)   new labeling (SIGHUP); 0, -ENOMEM
 *                                         (the old one stays in force)
 *   proclabels__compute(pl, id, &res)     0 or -ENOMEM; res->labels holds
 *                                         the final set (cleared first),
 *                                         res->keep false when relabeling
 *                                         dropped the process,
 *                                         res->k8s_pending when the pod is
 *                                         not known to the API client yet
 *                                         (compute again later)
 *   proclabels__may_drop(pl)              whether a rule can drop a process
 *                                         (keep, drop, keepequal, dropequal)
 *   proclabels__generation(pl)            changes when k8s data or the
 *                                         labeling changed: results computed
 *                                         before may be stale
 *
 * Relabel rules are borrowed: they must stay valid until the next
 * proclabels__configure or proclabels__free. Not thread-safe: the
 * profiler calls it from its loop thread under its lock.
 */
#ifndef BRASA_LABELS_PROCLABELS_H
#define BRASA_LABELS_PROCLABELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/labels.h"

struct k8s;
struct relabel_rule;

/* What the configuration says about labels (agent/config.h fills it). */
struct profiler_labeling {
	const char *node;                  /* NULL or "": the host name */
	const struct labels *external;     /* may be NULL */
	struct relabel_rule *const *rules;
	size_t nrules;
	bool thread_labels;                /* thread_id and thread_name per sample */
};

struct proclabels_opts {
	const char *proc_root;             /* default "/proc" */
	struct k8s *k8s;                   /* NULL: no Kubernetes API server */
	const struct profiler_labeling *labeling;
};

struct proc_identity {
	int pid;
	const char *comm;      /* "" or NULL: unknown */
	const char *exe;
	const char *build_id;  /* hex */
};

struct proclabels_result {
	struct labels labels;
	bool keep;
	bool k8s_pending;
};

struct proclabels;

int proclabels__new(const struct proclabels_opts *opts, struct proclabels **out);
void proclabels__free(struct proclabels *pl);
int proclabels__configure(struct proclabels *pl, const struct profiler_labeling *l);
int proclabels__compute(struct proclabels *pl, const struct proc_identity *id,
			struct proclabels_result *res);
bool proclabels__may_drop(const struct proclabels *pl);
uint64_t proclabels__generation(struct proclabels *pl);

#endif
