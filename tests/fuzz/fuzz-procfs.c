/* libFuzzer target: the /proc/PID files the agent parses besides maps:
 * status (credentials, NSpid), stat (the stack's start, after a comm that
 * may hold anything) and mountinfo (escaped mount points, FUSE types).
 * The first byte picks the parser. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "symbolize/proc_mounts.h"
#include "symbolize/procfs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data + 1;
	struct proc_status st;
	struct proc_mounts *m = NULL;
	uint64_t top;

	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0:
		procfs__status_parse(text, size - 1, &st);
		break;
	case 1:
		procfs__stat_start_stack(text, size - 1, &top);
		break;
	case 2:
		if (proc_mounts__parse(text, size - 1, &m) == 0) {
			for (size_t i = 0; i < m->n; i++) {
				proc_mounts__unsafe_dev(m, m->v[i].major, m->v[i].minor);
				proc_mounts__unsafe_path(m, m->v[i].mount_point);
			}
			proc_mounts__unsafe_path(m, "/tmp/perf-1.map");
			proc_mounts__free(m);
		}
		break;
	}
	return 0;
}
