/* libFuzzer target: cgroup__parse on arbitrary bytes as /proc/PID/cgroup.
 * 0 or -EINVAL/-ENOMEM; on success every field is NULL or a non-empty
 * string, a QoS class only comes with a pod and a runtime only with a
 * container; a second parse into the same struct frees the first. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "labels/cgroup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_field(const char *s)
{
	if (s && !*s)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cgroup_info ci = { 0 };
	int rc = cgroup__parse((const char *)data, size, &ci);

	if (rc != 0 && rc != -EINVAL && rc != -ENOMEM)
		abort();
	if (rc == 0) {
		const char *fields[] = { ci.path, ci.container_id, ci.runtime,
					 ci.pod_uid, ci.qos_class, ci.systemd_unit,
					 ci.systemd_slice };

		for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
			check_field(fields[i]);
		if ((ci.qos_class && !ci.pod_uid) || (ci.runtime && !ci.container_id))
			abort();
	} else if (ci.path || ci.container_id || ci.pod_uid) {
		abort(); /* left cleared on error */
	}
	/* reuse: the earlier result is freed by the next parse */
	cgroup__parse((const char *)data, size / 2, &ci);
	cgroup_info__clear(&ci);
	return 0;
}
