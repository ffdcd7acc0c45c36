#include "labels/cgroup.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/macros.h"

#define CONTAINER_ID_LEN 64
#define POD_UID_DASHED_LEN 36
#define POD_UID_STATIC_LEN 32 /* kubelet's hex md5 for static pods */

enum line_kind {
	LINE_UNIFIED,    /* 0::/path */
	LINE_SYSTEMD,    /* N:name=systemd:/path */
	LINE_CONTROLLER, /* N:cpu,cpuacct:/path */
	LINE_OTHER,      /* other named v1 hierarchies: searched for ids only */
};

struct cg_line {
	enum line_kind kind;
	const char *path;
	size_t path_len;
};

/* One path component, not NUL-terminated. */
struct comp {
	const char *s;
	size_t n;
};

static bool comp_eq(struct comp c, const char *lit)
{
	size_t n = strlen(lit);

	return c.n == n && memcmp(c.s, lit, n) == 0;
}

static bool has_prefix(const char *s, size_t n, const char *prefix)
{
	size_t pn = strlen(prefix);

	return n >= pn && memcmp(s, prefix, pn) == 0;
}

static bool has_suffix(const char *s, size_t n, const char *suffix)
{
	size_t sn = strlen(suffix);

	return n >= sn && memcmp(s + n - sn, suffix, sn) == 0;
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	       (c >= 'A' && c <= 'F');
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool is_hex_run(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_hex(s[i]))
			return false;
	return true;
}

static bool is_container_id(const char *s, size_t n)
{
	return n == CONTAINER_ID_LEN && is_hex_run(s, n);
}

/* Steps back from offset *pos in path to the component before it, skipping
 * repeated slashes; false when none is left. */
static bool comp_prev(const char *path, size_t *pos, struct comp *c)
{
	size_t end = *pos, start;

	while (end > 0 && path[end - 1] == '/')
		end--;
	if (end == 0)
		return false;
	start = end;
	while (start > 0 && path[start - 1] != '/')
		start--;
	c->s = path + start;
	c->n = end - start;
	*pos = start;
	return true;
}

/* "hierarchy-id:controller-list:path" in [s, e), per cgroups(7). The path
 * is everything after the second colon (cgroup names may contain ':'). */
static bool line_parse(const char *s, const char *e, struct cg_line *l)
{
	const char *ctrl, *ctrl_end, *p = s;
	bool id_zero = true;
	size_t digits = 0;

	for (; p < e && *p >= '0' && *p <= '9'; p++, digits++)
		if (*p != '0')
			id_zero = false;
	/* hierarchy ids are small ints; ten digits is already absurd */
	if (digits == 0 || digits > 10 || p >= e || *p != ':')
		return false;
	ctrl = ++p;
	while (p < e && *p != ':' && *p != '\0')
		p++;
	if (p >= e || *p != ':')
		return false;
	ctrl_end = p++;
	if (p >= e || *p != '/' || memchr(p, '\0', (size_t)(e - p)))
		return false;
	l->path = p;
	l->path_len = (size_t)(e - p);

	if (id_zero && ctrl == ctrl_end) {
		static const char deleted[] = " (deleted)";

		l->kind = LINE_UNIFIED;
		/* the kernel marks a removed v2 cgroup this way */
		if (has_suffix(l->path, l->path_len, deleted) &&
		    l->path_len > sizeof(deleted) - 1)
			l->path_len -= sizeof(deleted) - 1;
	} else if (id_zero || ctrl == ctrl_end) {
		l->kind = LINE_OTHER;
	} else if ((size_t)(ctrl_end - ctrl) == strlen("name=systemd") &&
		   memcmp(ctrl, "name=systemd", strlen("name=systemd")) == 0) {
		l->kind = LINE_SYSTEMD;
	} else if (has_prefix(ctrl, (size_t)(ctrl_end - ctrl), "name=")) {
		l->kind = LINE_OTHER;
	} else {
		l->kind = LINE_CONTROLLER;
	}
	return true;
}

struct line_iter {
	const char *p, *end;
};

/* The next parseable line; unparseable ones are skipped. */
static bool line_next(struct line_iter *it, struct cg_line *l)
{
	while (it->p < it->end) {
		const char *s = it->p;
		const char *nl = memchr(s, '\n', (size_t)(it->end - s));
		const char *e = nl ? nl : it->end;

		it->p = nl ? nl + 1 : it->end;
		if (line_parse(s, e, l))
			return true;
	}
	return false;
}

static bool path_is_root(const struct cg_line *l)
{
	return l->path_len == 1;
}

struct container_form {
	const char *prefix, *suffix, *runtime;
};

/* The middle must be exactly an id, so "crio-conmon-ID.scope" and
 * "libpod-conmon-ID.scope" (the runtime monitor) match no form. */
static const struct container_form container_forms[] = {
	{ "docker-", ".scope", "docker" },
	{ "cri-containerd-", ".scope", "containerd" },
	{ "nerdctl-", ".scope", "containerd" },
	{ "crio-", ".scope", "cri-o" },
	{ "crio-", "", "cri-o" },       /* CRI-O's cgroupfs driver */
	{ "libpod-", ".scope", "podman" },
	{ "libpod-", "", "podman" },    /* podman's cgroupfs: /libpod_parent/ */
};

/* id gets CONTAINER_ID_LEN + 1 bytes. */
static bool match_container(struct comp c, struct comp parent, char *id,
			    const char **runtime)
{
	const char *s = NULL;

	if (is_container_id(c.s, c.n)) {
		s = c.s;
		/* Docker's cgroupfs driver; elsewhere a bare id says nothing
		 * about who made it (kubelet's cgroupfs driver, ctr). */
		*runtime = comp_eq(parent, "docker") ? "docker" : NULL;
	} else {
		for (size_t i = 0; i < ARRAY_SIZE(container_forms); i++) {
			const struct container_form *f = &container_forms[i];
			size_t pn = strlen(f->prefix), sn = strlen(f->suffix);

			if (c.n != pn + CONTAINER_ID_LEN + sn ||
			    !has_prefix(c.s, c.n, f->prefix) ||
			    !has_suffix(c.s, c.n, f->suffix) ||
			    !is_container_id(c.s + pn, CONTAINER_ID_LEN))
				continue;
			s = c.s + pn;
			*runtime = f->runtime;
			break;
		}
	}
	if (!s)
		return false;
	for (size_t i = 0; i < CONTAINER_ID_LEN; i++)
		id[i] = lower(s[i]);
	id[CONTAINER_ID_LEN] = '\0';
	return true;
}

/* A runtime's own scope (docker-ID.scope, crio-conmon-ID.scope, ...): one
 * per container, so never a useful unit name. */
static bool is_container_scope(struct comp c)
{
	static const char suffix[] = ".scope";
	size_t sn = sizeof(suffix) - 1;

	if (c.n < 1 + CONTAINER_ID_LEN + sn || !has_suffix(c.s, c.n, suffix))
		return false;
	return c.s[c.n - sn - CONTAINER_ID_LEN - 1] == '-' &&
	       is_container_id(c.s + c.n - sn - CONTAINER_ID_LEN, CONTAINER_ID_LEN);
}

/* Normalizes a pod UID to lowercase canonical form in uid (>= 37 bytes):
 * from_systemd means '-' was written as '_' (systemd uses '-' for slice
 * nesting). Accepts a dashed UUID or 32 hex digits (static pods). */
static bool pod_uid_normalize(const char *s, size_t n, bool from_systemd, char *uid)
{
	if (n == POD_UID_STATIC_LEN) {
		if (!is_hex_run(s, n))
			return false;
	} else if (n == POD_UID_DASHED_LEN) {
		char sep = from_systemd ? '_' : '-';

		for (size_t i = 0; i < n; i++) {
			bool dash_pos = i == 8 || i == 13 || i == 18 || i == 23;

			if (dash_pos ? s[i] != sep : !is_hex(s[i]))
				return false;
		}
	} else {
		return false;
	}
	for (size_t i = 0; i < n; i++)
		uid[i] = s[i] == '_' ? '-' : lower(s[i]);
	uid[n] = '\0';
	return true;
}

/* "<prefix>kubepods[-burstable|-besteffort]" ending at a '-' boundary or at
 * the start, as kubelet names QoS slices (with --cgroup-root the prefix is
 * e.g. "kubelet-"). */
static const char *qos_from_slice_prefix(const char *s, size_t n)
{
	static const struct {
		const char *tail, *qos;
	} tails[] = {
		{ "kubepods-burstable", "burstable" },
		{ "kubepods-besteffort", "besteffort" },
		{ "kubepods", "guaranteed" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(tails); i++) {
		size_t tn = strlen(tails[i].tail);

		if (has_suffix(s, n, tails[i].tail) &&
		    (n == tn || s[n - tn - 1] == '-'))
			return tails[i].qos;
	}
	return NULL;
}

/* uid gets POD_UID_DASHED_LEN + 1 bytes. */
static bool match_pod(struct comp c, struct comp parent, char *uid, const char **qos)
{
	static const char slice[] = ".slice";
	size_t sn = sizeof(slice) - 1;

	if (has_suffix(c.s, c.n, slice)) {
		/* systemd driver: kubepods-burstable-pod<uid_>.slice; hex and
		 * '_' contain no "-pod", so the last one starts the uid */
		size_t name_n = c.n - sn;

		for (size_t i = name_n; i >= 4; i--) {
			if (memcmp(c.s + i - 4, "-pod", 4) != 0)
				continue;
			*qos = qos_from_slice_prefix(c.s, i - 4);
			return *qos && pod_uid_normalize(c.s + i, name_n - i, true, uid);
		}
		return false;
	}
	/* cgroupfs driver: kubepods/[burstable|besteffort/]pod<uid> */
	if (!has_prefix(c.s, c.n, "pod"))
		return false;
	if (comp_eq(parent, "kubepods"))
		*qos = "guaranteed";
	else if (comp_eq(parent, "burstable"))
		*qos = "burstable";
	else if (comp_eq(parent, "besteffort"))
		*qos = "besteffort";
	else if (comp_eq(parent, ".."))
		*qos = NULL; /* read from below the QoS level's cgroup namespace */
	else
		return false;
	return pod_uid_normalize(c.s + 3, c.n - 3, false, uid);
}

struct path_facts {
	bool has_container, has_pod;
	char container_id[CONTAINER_ID_LEN + 1];
	const char *runtime;
	char pod_uid[POD_UID_DASHED_LEN + 1];
	const char *qos;
};

/* Innermost container and pod in one path; fills only what facts lacks. */
static void scan_path(const char *path, size_t len, struct path_facts *facts)
{
	size_t pos = len;
	struct comp c, parent;
	bool have = comp_prev(path, &pos, &c);

	while (have && (!facts->has_container || !facts->has_pod)) {
		bool has_parent = comp_prev(path, &pos, &parent);

		if (!has_parent)
			parent = (struct comp){ "", 0 };
		if (!facts->has_container)
			facts->has_container = match_container(c, parent,
				facts->container_id, &facts->runtime);
		if (!facts->has_pod)
			facts->has_pod = match_pod(c, parent, facts->pod_uid,
						   &facts->qos);
		c = parent;
		have = has_parent;
	}
}

/* Innermost unit and slice of the chosen path. */
static void scan_systemd(const char *path, size_t len, struct comp *unit,
			 struct comp *slice)
{
	size_t pos = len;
	struct comp c;

	while ((!unit->s || !slice->s) && comp_prev(path, &pos, &c)) {
		if (!unit->s && !is_container_scope(c) &&
		    ((c.n > strlen(".service") && has_suffix(c.s, c.n, ".service")) ||
		     (c.n > strlen(".scope") && has_suffix(c.s, c.n, ".scope"))))
			*unit = c;
		if (!slice->s && c.n > strlen(".slice") &&
		    has_suffix(c.s, c.n, ".slice"))
			*slice = c;
	}
}

static int set_str(char **dst, const char *s, size_t n)
{
	*dst = strndup(s, n);
	return *dst ? 0 : -ENOMEM;
}

static int set_cstr(char **dst, const char *s)
{
	return s ? set_str(dst, s, strlen(s)) : 0;
}

int cgroup__parse(const char *text, size_t len, struct cgroup_info *out)
{
	struct line_iter it;
	const struct cg_line *chosen = NULL;
	struct cg_line l, sd = { 0 }, uni = { 0 }, ctl = { 0 }, root = { 0 };
	struct cg_line container_line = { 0 };
	struct path_facts facts = { 0 };
	struct comp unit = { 0 }, slice = { 0 };
	bool any = false;
	int err = 0;

	cgroup_info__clear(out);
	if (!text) {
		text = "";
		len = 0;
	}
	it = (struct line_iter){ text, text + len };
	while (line_next(&it, &l)) {
		any = true;
		if (l.kind == LINE_OTHER)
			continue;
		if (path_is_root(&l)) {
			if (!root.path)
				root = l;
		} else if (l.kind == LINE_SYSTEMD && !sd.path) {
			sd = l;
		} else if (l.kind == LINE_UNIFIED && !uni.path) {
			uni = l;
		} else if (l.kind == LINE_CONTROLLER && !ctl.path) {
			ctl = l;
		}
	}
	if (!any)
		return -EINVAL;
	chosen = sd.path ? &sd : uni.path ? &uni : ctl.path ? &ctl :
		 root.path ? &root : NULL;

	if (chosen)
		scan_path(chosen->path, chosen->path_len, &facts);
	it = (struct line_iter){ text, text + len };
	while ((!facts.has_container || !facts.has_pod) && line_next(&it, &l)) {
		bool had_container = facts.has_container;

		if (chosen && l.path == chosen->path)
			continue;
		scan_path(l.path, l.path_len, &facts);
		if (!had_container && facts.has_container)
			container_line = l;
	}
	/* The container is only in another line: the chosen one is stale
	 * (e.g. name=systemd left in docker.service by an old runtime) and
	 * its unit would be the runtime's, not the process's. */
	if (container_line.path)
		chosen = &container_line;
	if (chosen)
		scan_systemd(chosen->path, chosen->path_len, &unit, &slice);

	if (chosen)
		err = set_str(&out->path, chosen->path, chosen->path_len);
	if (!err && facts.has_container) {
		err = set_cstr(&out->container_id, facts.container_id);
		if (!err)
			err = set_cstr(&out->runtime, facts.runtime);
	}
	if (!err && facts.has_pod) {
		err = set_cstr(&out->pod_uid, facts.pod_uid);
		if (!err)
			err = set_cstr(&out->qos_class, facts.qos);
	}
	if (!err && unit.s)
		err = set_str(&out->systemd_unit, unit.s, unit.n);
	if (!err && slice.s)
		err = set_str(&out->systemd_slice, slice.s, slice.n);
	if (err)
		cgroup_info__clear(out);
	return err;
}

int cgroup__read(const char *proc_root, int pid, struct cgroup_info *out)
{
	_cleanup_free_ char *path = NULL;
	struct buf text = { 0 };
	int err;

	cgroup_info__clear(out);
	if (pid <= 0)
		return -EINVAL;
	if (asprintf(&path, "%s/%d/cgroup", proc_root ? proc_root : "/proc", pid) < 0) {
		path = NULL;
		return -ENOMEM;
	}
	err = buf_read_file(path, &text, CGROUP_MAX_FILE_BYTES);
	if (!err)
		err = cgroup__parse((const char *)text.data, text.len, out);
	buf_release(&text);
	return err;
}

void cgroup_info__clear(struct cgroup_info *ci)
{
	if (!ci)
		return;
	free(ci->path);
	free(ci->container_id);
	free(ci->runtime);
	free(ci->pod_uid);
	free(ci->qos_class);
	free(ci->systemd_unit);
	free(ci->systemd_slice);
	*ci = (struct cgroup_info){ 0 };
}
