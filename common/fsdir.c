#include "common/fsdir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/macros.h"

int fsdir__fsync(const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || fsync(fd) < 0)
		return -errno;
	return 0;
}

/* mkdir -p with mode 0700; a directory this creates is made durable in its
 * parent, so records fsynced into it cannot vanish with it on power loss. */
int fsdir__mkdir_parents(const char *dir)
{
	_cleanup_free_ char *path = strdup(dir);
	size_t len;

	if (!path)
		return -ENOMEM;
	len = strlen(path);
	for (size_t i = 1; i <= len; i++) {
		struct stat st;
		char saved = path[i];

		if (saved != '/' && saved != 0)
			continue;
		if (path[i - 1] == '/')
			continue; /* "//" */
		path[i] = 0;
		if (mkdir(path, 0700) == 0) {
			char *slash = strrchr(path, '/');

			if (slash == path)
				(void)fsdir__fsync("/");
			else if (slash) {
				*slash = 0;
				(void)fsdir__fsync(path);
				*slash = '/';
			} else {
				(void)fsdir__fsync(".");
			}
		} else if (errno != EEXIST) {
			int err = -errno;

			/* e.g. EACCES or EROFS on a parent that exists */
			if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
				return err;
		}
		path[i] = saved;
	}
	return 0;
}
