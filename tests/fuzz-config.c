/* libFuzzer target for the configuration loader: any bytes as a YAML file
 * over the defaults must give 0 or -EINVAL with a one-line message, and
 * leave nothing behind (run under ASan). */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "agent/config.h"

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
	if (!rc)
		config__check(&c, err, sizeof(err));
	config__free(&c);
	return 0;
}
