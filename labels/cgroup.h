/* cgroup: where a process runs, from /proc/PID/cgroup — its cgroup path,
 * container id and runtime, Kubernetes pod uid and QoS class, systemd unit
 * and slice — for every layout a host has: pure cgroup v2 ("0::/path"),
 * pure v1 ("N:cpu,cpuacct:/path", "N:name=systemd:/path") and hybrid
 * (v1 lines plus "0::/path" for the controller-less unified hierarchy).
 *
 *   cgroup__parse(text, len, &ci)   0, -EINVAL (no parseable line), -ENOMEM
 *   cgroup__read(proc_root, pid, &ci)
 *                                   reads <proc_root>/<pid>/cgroup (proc_root
 *                                   NULL: "/proc") and parses it; 0,
 *                                   -ENOENT/-ESRCH when the process is gone,
 *                                   -EINVAL (also pid <= 0), -EFBIG (file
 *                                   past CGROUP_MAX_FILE_BYTES), -ENOMEM or
 *                                   another -errno from the read
 *   cgroup_info__clear(&ci)         frees every field and zeroes them; NULL-safe
 *
 * Both fill functions clear *out first, so it must be zero-initialized or
 * hold an earlier result (which is freed); on error it is left cleared.
 * Every field is a NUL-terminated string owned by *out until the next
 * clear; NULL means "not known", never "".
 *
 * Which line is "the process's cgroup" (path): the name=systemd line when
 * its path is not "/", else the 0:: line when not "/", else the first v1
 * controller line that is not "/", else "/" if any of those lines exist.
 * name=systemd goes first because in hybrid mode it is the hierarchy every
 * runtime joins, while the unified one can keep a stale parent: runc's
 * cgroupfs driver and `runc exec` leave processes in the shim's or the
 * caller's 0:: cgroup (e.g. 0::/system.slice/containerd.service for a
 * /docker/<id> container). Where both are kept by systemd they are equal.
 *
 * Container ids and pod uids are searched in the chosen path first, then
 * in every other line in file order, since a v1 cgroupfs-driver host may
 * show them only in controller lines; when the container is found only in
 * another line, that line becomes path (the chosen one was stale: old
 * runtimes left name=systemd in docker.service). Inside a path the
 * innermost match wins (docker-in-docker, kind). Recognized components
 * (ID = 64 hex digits, either case):
 *   docker-ID.scope, /docker/ID                 docker
 *   cri-containerd-ID.scope, nerdctl-ID.scope   containerd
 *   crio-ID.scope, crio-ID                      cri-o
 *   libpod-ID.scope, libpod-ID                  podman
 *   any other component that is exactly ID      runtime NULL (Kubernetes'
 *                                   cgroupfs driver with containerd,
 *                                   `ctr` containers under /<namespace>/)
 * crio-conmon-ID.scope and libpod-conmon-ID.scope hold the runtime
 * monitor, not the container: no container id.
 * Pods: "<...>kubepods[-burstable|-besteffort]-pod<UID>.slice" (systemd
 * driver, '-' in the UID written as '_') and "pod<UID>" below "kubepods",
 * "burstable" or "besteffort" (cgroupfs driver); UID is a dashed UUID or,
 * for static pods, 32 hex digits (kubelet's md5 of the manifest). A pod
 * directly below kubepods is "guaranteed". A cgroupfs "pod<UID>" right
 * after "/.." still counts, with qos_class NULL: a reader in a pod's own
 * cgroup namespace (a DaemonSet on a cgroup v2 node) sees paths relative
 * to its cgroup, so the common kubepods/<qos> prefix is cut off.
 * systemd_unit and systemd_slice come from path only; a scope named
 * "*-ID.scope" is a runtime's own scope and is never the unit.
 *
 * A kernel " (deleted)" suffix (a process in a removed v2 cgroup) is
 * dropped from paths. Paths are kept as the reader's cgroup namespace
 * shows them ("/../.." prefixes included).
 */
#ifndef BRASA_LABELS_CGROUP_H
#define BRASA_LABELS_CGROUP_H

#include <stddef.h>

/* /proc/PID/cgroup is at most a line per v1 hierarchy with a path each;
 * anything past this is not such a file. */
#define CGROUP_MAX_FILE_BYTES (256u << 10)

struct cgroup_info {
	char *path;          /* the process's cgroup (see above), NULL if no
				line names one */
	char *container_id;  /* full lowercase hex id, NULL outside containers */
	char *runtime;       /* "docker", "containerd", "cri-o", "podman", or
				NULL (unknown or not in a container) */
	char *pod_uid;       /* Kubernetes pod UID, canonical dashed lowercase
				form (32 hex digits for static pods), NULL if
				not in a pod */
	char *qos_class;     /* "guaranteed", "burstable", "besteffort" or NULL
				(always NULL without pod_uid) */
	char *systemd_unit;  /* innermost *.service or *.scope that is not a
				container's own scope, NULL if none */
	char *systemd_slice; /* innermost *.slice, NULL if none */
};

int cgroup__parse(const char *text, size_t len, struct cgroup_info *out);
int cgroup__read(const char *proc_root, int pid, struct cgroup_info *out);
void cgroup_info__clear(struct cgroup_info *ci);

#endif
