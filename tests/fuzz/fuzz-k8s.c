/* libFuzzer target: k8s_pods__parse on arbitrary bytes as the API
 * server's PodList JSON (every node's pods, then node-a's), then lookups
 * with the strings found in the input as pod uids and container ids.
 * 0, -EBADMSG with a message, or -ENOMEM; a table equals itself. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "labels/k8s_pods.h"
#include "common/labels.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define STRINGS_MAX 48
#define STRING_LEN_MAX 100

/* The first quoted strings of the input (no escapes), copied. */
static size_t quoted_strings(const uint8_t *data, size_t size,
			     char out[STRINGS_MAX][STRING_LEN_MAX + 1])
{
	size_t n = 0;

	for (size_t i = 0; i < size && n < STRINGS_MAX; i++) {
		size_t k;

		if (data[i] != '"')
			continue;
		for (k = i + 1; k < size && data[k] != '"' && k - i <= STRING_LEN_MAX; k++)
			;
		if (k >= size || data[k] != '"')
			continue;
		memcpy(out[n], data + i + 1, k - i - 1);
		out[n][k - i - 1] = '\0';
		n++;
		i = k;
	}
	return n;
}

static void parse_and_look_up(const uint8_t *data, size_t size, const char *node)
{
	static char strings[STRINGS_MAX][STRING_LEN_MAX + 1];
	struct k8s_pods *t = NULL;
	char err[256] = "";
	size_t n;
	int rc = k8s_pods__parse((const char *)data, size, node, &t, err, sizeof(err));

	if (rc != 0) {
		if (t || (rc != -EBADMSG && rc != -ENOMEM) || (rc == -EBADMSG && !*err))
			abort();
		return;
	}
	if (!k8s_pods__equal(t, t))
		abort();
	n = quoted_strings(data, size, strings);
	for (size_t i = 0; i < n; i++) {
		struct labels ls = { 0 };

		if (k8s_pods__lookup(t, strings[i], NULL, &ls) == 0) {
			for (size_t k = 0; k < n; k++)
				k8s_pods__lookup(t, strings[i], strings[k], &ls);
			if (!labels__get(&ls, "__meta_kubernetes_pod_uid"))
				abort();
		}
		labels__clear(&ls);
	}
	k8s_pods__free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	parse_and_look_up(data, size, NULL);
	parse_and_look_up(data, size, "node-a");
	return 0;
}
