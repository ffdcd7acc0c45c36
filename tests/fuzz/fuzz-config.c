/* libFuzzer target for the configuration loader and relabeling: any
 * bytes as a YAML file over the defaults must give 0 or -EINVAL with a
 * one-line message, and leave nothing behind (run under ASan). The
 * relabel_configs of a file that loads are then applied to a process's
 * label set, one of whose values is the input itself (regexes meet
 * arbitrary bytes, as they meet process names and cgroup paths). */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/config.h"
#include "labels/relabel.h"
#include "common/labels.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void apply_rules(const struct config *c, const uint8_t *data, size_t size)
{
	static const char *const base[][2] = {
		{ "comm", "checkout" },
		{ "service_name", "checkout.service" },
		{ "systemd_unit", "checkout.service" },
		{ "container_id", "3f1c2a9e8b7d4c6a9e1f2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70" },
		{ "namespace", "shop" },
		{ "pod", "checkout-7d9f8c6b5-x2x4z" },
		{ "__meta_kubernetes_pod_label_app_kubernetes_io_name", "checkout" },
	};
	struct labels ls = { 0 };
	char *value = malloc(size + 1);

	if (!value)
		abort();
	memcpy(value, data, size);
	value[size] = '\0';
	for (size_t i = 0; i < sizeof(base) / sizeof(base[0]); i++)
		if (labels__set(&ls, base[i][0], base[i][1]))
			abort();
	if (labels__set(&ls, "__fuzz", value))
		abort();
	if (relabel__apply(c->relabel_rules, c->nrelabel_rules, &ls) < 0)
		abort();
	labels__clear(&ls);
	free(value);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config c;
	char err[1024] = "";
	int rc;

	if (config__defaults(&c))
		return 0;
	rc = config__load_buffer(&c, "fuzz.yaml", (const char *)data, size, err, sizeof(err));
	assert(rc == 0 || rc == -EINVAL || rc == -ENOMEM);
	assert(rc == 0 || (*err && !strchr(err, '\n')));
	if (!rc) {
		config__check(&c, err, sizeof(err));
		if (c.nrelabel_rules)
			apply_rules(&c, data, size);
	}
	config__free(&c);
	return 0;
}
