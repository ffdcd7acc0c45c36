/* proclabels: discovery labels of a process, then relabeling (see
 * proclabels.h for the order and why). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "labels/cgroup.h"
#include "labels/k8s.h"
#include "labels/proclabels.h"
#include "labels/relabel.h"
#include "common/log.h"

struct proclabels {
	const char *proc_root;
	struct k8s *k8s;
	char *node;
	struct labels external;
	struct relabel_rule *const *rules;
	size_t nrules;
	uint64_t config_generation;
};

static char *host_name(void)
{
	char h[256];

	if (gethostname(h, sizeof(h)) != 0)
		return strdup("localhost");
	h[sizeof(h) - 1] = 0;
	return strdup(h);
}

int proclabels__configure(struct proclabels *pl, const struct profiler_labeling *l)
{
	struct labels ext = { 0 };
	char *node;
	int err;

	node = l && l->node && *l->node ? strdup(l->node) : host_name();
	if (!node)
		return -ENOMEM;
	if (l && l->external && (err = labels__copy(&ext, l->external))) {
		free(node);
		return err;
	}
	free(pl->node);
	pl->node = node;
	labels__clear(&pl->external);
	pl->external = ext;
	pl->rules = l ? l->rules : NULL;
	pl->nrules = l ? l->nrules : 0;
	pl->config_generation++;
	return 0;
}

int proclabels__new(const struct proclabels_opts *opts, struct proclabels **out)
{
	struct proclabels *pl = calloc(1, sizeof(*pl));
	int err;

	if (!pl)
		return -ENOMEM;
	pl->proc_root = opts->proc_root ? opts->proc_root : "/proc";
	pl->k8s = opts->k8s;
	err = proclabels__configure(pl, opts->labeling);
	if (err) {
		proclabels__free(pl);
		return err;
	}
	*out = pl;
	return 0;
}

void proclabels__free(struct proclabels *pl)
{
	if (!pl)
		return;
	free(pl->node);
	labels__clear(&pl->external);
	free(pl);
}

bool proclabels__may_drop(const struct proclabels *pl)
{
	for (size_t i = 0; i < pl->nrules; i++)
		if (relabel__can_drop(pl->rules[i]))
			return true;
	return false;
}

uint64_t proclabels__generation(struct proclabels *pl)
{
	struct k8s_stats st = { 0 };

	if (pl->k8s)
		k8s__stats(pl->k8s, &st);
	/* both only grow: their sum changes whenever either does */
	return pl->config_generation + st.generation;
}

static int add_cgroup_labels(struct proclabels *pl, int pid, struct labels *ls,
			     struct cgroup_info *ci)
{
	int err = cgroup__read(pl->proc_root, pid, ci);

	if (err)
		return err == -ENOMEM ? err : 0; /* gone or unreadable: no cgroup labels */
	if ((err = labels__set(ls, "cgroup", ci->path)) ||
	    (err = labels__set(ls, "container_id", ci->container_id)) ||
	    (err = labels__set(ls, "pod_uid", ci->pod_uid)) ||
	    (err = labels__set(ls, "systemd_unit", ci->systemd_unit)) ||
	    (err = labels__set(ls, "systemd_slice", ci->systemd_slice)) ||
	    (err = labels__set(ls, "__meta_container_runtime", ci->runtime)) ||
	    (err = labels__set(ls, "__meta_cgroup_qos_class", ci->qos_class)))
		return err;
	return 0;
}

static int default_service_name(struct labels *ls)
{
	const char *ns = labels__get(ls, "namespace"), *c = labels__get(ls, "container");
	const char *unit = labels__get(ls, "systemd_unit");
	char buf[512];

	if (labels__get(ls, "service_name"))
		return 0;
	if (ns && c) {
		snprintf(buf, sizeof(buf), "%s/%s", ns, c);
		return labels__set(ls, "service_name", buf);
	}
	if (unit)
		return labels__set(ls, "service_name", unit);
	return labels__set(ls, "service_name", labels__get(ls, "comm"));
}

int proclabels__compute(struct proclabels *pl, const struct proc_identity *id,
			struct proclabels_result *res)
{
	struct labels *ls = &res->labels;
	struct cgroup_info ci = { 0 };
	char pid[16];
	int err, r;

	labels__clear(ls);
	res->keep = true;
	res->k8s_pending = false;
	snprintf(pid, sizeof(pid), "%d", id->pid);
	if ((err = labels__set(ls, "node", pl->node)) ||
	    (err = labels__set(ls, "pid", pid)) ||
	    (err = labels__set(ls, "comm", id->comm)) ||
	    (err = labels__set(ls, "executable", id->exe)) ||
	    (err = labels__set(ls, "build_id", id->build_id)) ||
	    (err = add_cgroup_labels(pl, id->pid, ls, &ci)))
		goto out;
	if (pl->k8s && ci.pod_uid) {
		err = k8s__lookup(pl->k8s, ci.pod_uid, ci.container_id, ls);
		if (err == -ENOENT) {
			res->k8s_pending = true;
			err = 0;
		}
		if (err)
			goto out;
	}
	for (size_t i = 0; i < pl->external.n; i++) {
		const struct label *l = &pl->external.v[i];

		if (!labels__get(ls, l->name) && (err = labels__set(ls, l->name, l->value)))
			goto out;
	}
	if ((err = default_service_name(ls)))
		goto out;
	r = relabel__apply(pl->rules, pl->nrules, ls);
	if (r < 0) {
		err = r;
		goto out;
	}
	res->keep = r == 1;
	if (!res->keep)
		labels__clear(ls);
	else
		/* no "__" label survives: backends add __name__ themselves */
		relabel__drop_internal(ls, NULL);
out:
	cgroup_info__clear(&ci);
	return err;
}
