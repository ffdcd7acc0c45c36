/* go_build: Go programs built by a unit test, with the installed Go, in
 * a temporary directory (test-gopclntab.c, test-go-rows.c). No network:
 * standard library only, caches in the directory. Header-only.
 *
 *   go_build__dir(prefix, dir, len)   a new directory under $TMPDIR;
 *                                     exits 77 (skip) without `go`
 *   go_build__run(dir, source, cmds)  copies source to dir/main.go and
 *                                     runs cmds (shell, e.g. "go build -o
 *                                     full main.go && ...") there, with
 *                                     Go's environment; fails the test if
 *                                     they fail
 *   go_build__remove(dir)             removes it (Go's caches are
 *                                     read-only)
 */
#ifndef BRASA_TESTS_GO_BUILD_H
#define BRASA_TESTS_GO_BUILD_H

#include <stdio.h>
#include <stdlib.h>

#include "testing.h"

static inline void go_build__dir(const char *prefix, char *dir, size_t len)
{
	const char *tmp = getenv("TMPDIR");

	if (system("command -v go >/dev/null 2>&1") != 0) {
		fprintf(stderr, "no go command: skipping\n");
		exit(77);
	}
	snprintf(dir, len, "%s/%s-XXXXXX", tmp ? tmp : "/tmp", prefix);
	REQUIRE(mkdtemp(dir));
}

static inline void go_build__run(const char *dir, const char *source, const char *cmds)
{
	char cmd[4096];
	int rc;

	snprintf(cmd, sizeof(cmd),
		 "cd %s && cp %s main.go && export GOCACHE=%s/cache GOPATH=%s/gopath "
		 "GOFLAGS=-mod=mod GO111MODULE=off GOPROXY=off && %s",
		 dir, source, dir, dir, cmds);
	rc = system(cmd);
	if (rc != 0)
		fprintf(stderr, "command failed (%d): %s\n", rc, cmd);
	REQUIRE(rc == 0);
}

static inline void go_build__remove(const char *dir)
{
	char cmd[1024];

	if (!dir[0])
		return;
	snprintf(cmd, sizeof(cmd), "chmod -R u+w %s; rm -rf %s", dir, dir);
	if (system(cmd) != 0)
		fprintf(stderr, "failed to remove %s\n", dir);
}

#endif
