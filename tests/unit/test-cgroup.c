/* cgroup: every layout in tests/unit/fixtures/cgroup/ (argv[1]) against the
 * values a reader of the path would write down, edge cases of the line
 * format, reading from a proc tree, and truncated/mutated inputs that
 * must parse or fail cleanly with the output's invariants intact. */
#include "testing.h"

#include <errno.h>
#include <limits.h>
#include <dirent.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include "labels/cgroup.h"
#include "common/buf.h"

static const char *fixture_dir;

/* Shorthand for the ids in the fixtures. */
#define ID_K8S_CONTAINERD "98a06d318c7bac860d88cf725e88a7e53516e5bb2cfe5b7e3a3ff0473bfe92a8"
#define ID_CRIO "639da35cfb35d90f60b9fb583482f24e5c9f0763b532f9dfae89591902729878"
#define ID_K8S_DOCKER "f7766403702f2b4050fbea600fff0e9ac6bcc49d3f2af352e8324f0c485a55cd"
#define ID_STATIC "50437c5f1618bb602a9b6f073e8d1c350cd072e984f21ce9aed3b5d3a9b57a5a"
#define ID_CGROUPFS_V1 "551fd3188a88f6aa1a864281295172c3e78e57b33ed76abd03ed0d7121251f1b"
#define ID_CGROUPFS_V2 "e1996d2d95b6c980f77ea51e0015bc80179f562272636eab15728e7ef52aa2e0"
#define ID_CRIO_CGROUPFS "65e936e5f11ae9cb070847dbc58ace55c95b4b53574542f4bb8631386b34ded9"
#define ID_KIND_POD "160c0c732032a40ecaf33d25f151eb5a40ee6fb98d44e3b4ea38a44be661ed50"
#define ID_DOCKER_SYSTEMD "376f487bf99250bcc5fc3fe8c25a75d3176d40b0050403f03b4d7d31fd48e7f2"
#define ID_DOCKER_CGROUPFS "4e7d912fd6788b3f2fa2968e1e1f2e737bab4bd782c6f906952f5870492ce4a2"
#define ID_DOCKER_INIT "dd4b2348b79d56c5f4000eb9edb8a63aa8d846036eb2688bd827fc3b09e6b8ea"
#define ID_DOCKER_HYBRID "b5a2a008299243c1168d029bd79cc9c536483c668aacd1ffb597937c61d317b4"
#define ID_DOCKER_STALE "aee585725c25cc5b2d0811dc3135ac0d36edf73731c3bf3c520b9c943841e410"
#define ID_PODMAN "b4cc4867d9fc1c8455f0ed62a35752997b4e9624968df8953d40f7f847719c81"
#define ID_PODMAN_ROOTLESS "e288465587f13f319ff25fc17b094d52dae48844cc00a8423a71839084db235c"
#define ID_PODMAN_CGROUPFS "f02fdc05ac57730a50baa0f590fff70b583f0867c8edc65945d648a3115aa8fd"
#define ID_NERDCTL "b4fd18011311dd1ada4d316112612fbe26fab710bf6d491a7726408d6eea9862"
#define ID_CTR "d7f54953ae7a25d82c0afb4ff419b13cbfe50690feb57dc65441d6b6a4c6bdb0"
#define ID_HYBRID_ROOT "85cdf19487d1d639a162e8064ba65525b3ae68ea528e632d251c0b18ef5f03dc"
#define ID_V1_NO_SYSTEMD "ad32c8fe4b599f5400e80f82fba87048d10ed33f93fb28a7cd0cfc7c2deb6bba"

struct expect {
	const char *fixture;
	const char *path, *container_id, *runtime, *pod_uid, *qos_class,
		*systemd_unit, *systemd_slice;
};

static const struct expect expects[] = {
	/* Kubernetes, systemd driver */
	{ "k8s-containerd-systemd-besteffort",
	  "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod9bb860b4_a6e4_4cf9_a9da_f85d815086f4.slice/cri-containerd-" ID_K8S_CONTAINERD ".scope",
	  ID_K8S_CONTAINERD, "containerd", "9bb860b4-a6e4-4cf9-a9da-f85d815086f4",
	  "besteffort", NULL,
	  "kubepods-besteffort-pod9bb860b4_a6e4_4cf9_a9da_f85d815086f4.slice" },
	{ "k8s-crio-systemd-burstable",
	  "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod274a81a3_a76a_4128_aa4a_97cfa266d1b2.slice/crio-" ID_CRIO ".scope",
	  ID_CRIO, "cri-o", "274a81a3-a76a-4128-aa4a-97cfa266d1b2", "burstable",
	  NULL, "kubepods-burstable-pod274a81a3_a76a_4128_aa4a_97cfa266d1b2.slice" },
	/* conmon watches the container from its own scope: in the pod, but
	 * not the container, and its per-container scope is no unit */
	{ "k8s-crio-conmon",
	  "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod274a81a3_a76a_4128_aa4a_97cfa266d1b2.slice/crio-conmon-" ID_CRIO ".scope",
	  NULL, NULL, "274a81a3-a76a-4128-aa4a-97cfa266d1b2", "burstable",
	  NULL, "kubepods-burstable-pod274a81a3_a76a_4128_aa4a_97cfa266d1b2.slice" },
	{ "k8s-docker-systemd-guaranteed-hybrid",
	  "/kubepods.slice/kubepods-pod4bd4e613_1c7d_4512_a9a0_bc10825954ba.slice/docker-" ID_K8S_DOCKER ".scope",
	  ID_K8S_DOCKER, "docker", "4bd4e613-1c7d-4512-a9a0-bc10825954ba",
	  "guaranteed", NULL, "kubepods-pod4bd4e613_1c7d_4512_a9a0_bc10825954ba.slice" },
	{ "k8s-static-pod",
	  "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod2053dbbf6ec7135c4e994d3464c478db.slice/cri-containerd-" ID_STATIC ".scope",
	  ID_STATIC, "containerd", "2053dbbf6ec7135c4e994d3464c478db", "burstable",
	  NULL, "kubepods-burstable-pod2053dbbf6ec7135c4e994d3464c478db.slice" },
	/* Kubernetes, cgroupfs driver: a bare id says nothing of the runtime */
	{ "k8s-cgroupfs-burstable-v1",
	  "/kubepods/burstable/podee82ab61-6470-49ee-a438-c9921a948201/" ID_CGROUPFS_V1,
	  ID_CGROUPFS_V1, NULL, "ee82ab61-6470-49ee-a438-c9921a948201", "burstable",
	  NULL, NULL },
	{ "k8s-cgroupfs-guaranteed-v2",
	  "/kubepods/podc2c8d53c-6fd2-464b-a77b-c2f8db8b98a4/" ID_CGROUPFS_V2,
	  ID_CGROUPFS_V2, NULL, "c2c8d53c-6fd2-464b-a77b-c2f8db8b98a4", "guaranteed",
	  NULL, NULL },
	{ "k8s-crio-cgroupfs-besteffort-v1",
	  "/kubepods/besteffort/podbf26dfa8-d2ba-4acd-ad80-edb293fe9761/crio-" ID_CRIO_CGROUPFS,
	  ID_CRIO_CGROUPFS, "cri-o", "bf26dfa8-d2ba-4acd-ad80-edb293fe9761",
	  "besteffort", NULL, NULL },
	/* kind: the pod's container, not the node container around it */
	{ "kind-nested",
	  "/system.slice/docker-7232fa5b7fe3f027d56d3feba41858ad7e5841fa3432d4b5b9f98c0186b6abbb.scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-podaec71a83_819b_4512_ad4d_57c03bfbcadc.slice/cri-containerd-" ID_KIND_POD ".scope",
	  ID_KIND_POD, "containerd", "aec71a83-819b-4512-ad4d-57c03bfbcadc",
	  "besteffort", NULL,
	  "kubelet-kubepods-besteffort-podaec71a83_819b_4512_ad4d_57c03bfbcadc.slice" },
	/* Docker */
	{ "docker-systemd-v2", "/system.slice/docker-" ID_DOCKER_SYSTEMD ".scope",
	  ID_DOCKER_SYSTEMD, "docker", NULL, NULL, NULL, "system.slice" },
	{ "docker-cgroupfs-v2", "/docker/" ID_DOCKER_CGROUPFS,
	  ID_DOCKER_CGROUPFS, "docker", NULL, NULL, NULL, NULL },
	/* systemd inside the container: still that container */
	{ "docker-systemd-init-scope",
	  "/system.slice/docker-" ID_DOCKER_INIT ".scope/init.scope",
	  ID_DOCKER_INIT, "docker", NULL, NULL, "init.scope", "system.slice" },
	/* hybrid, cgroupfs driver: 0:: stayed in the shim's service */
	{ "docker-cgroupfs-hybrid-stale-unified", "/docker/" ID_DOCKER_HYBRID,
	  ID_DOCKER_HYBRID, "docker", NULL, NULL, NULL, NULL },
	/* name=systemd stayed in docker.service: the controllers tell */
	{ "docker-cgroupfs-v1-stale-systemd", "/docker/" ID_DOCKER_STALE,
	  ID_DOCKER_STALE, "docker", NULL, NULL, NULL, NULL },
	/* Podman */
	{ "podman-systemd-v2", "/machine.slice/libpod-" ID_PODMAN ".scope/container",
	  ID_PODMAN, "podman", NULL, NULL, NULL, "machine.slice" },
	{ "podman-rootless-v2",
	  "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" ID_PODMAN_ROOTLESS ".scope/container",
	  ID_PODMAN_ROOTLESS, "podman", NULL, NULL, "user@1000.service", "user.slice" },
	{ "podman-conmon-v2", "/machine.slice/libpod-conmon-" ID_PODMAN_ROOTLESS ".scope",
	  NULL, NULL, NULL, NULL, NULL, "machine.slice" },
	{ "podman-cgroupfs-v1", "/libpod_parent/libpod-" ID_PODMAN_CGROUPFS,
	  ID_PODMAN_CGROUPFS, "podman", NULL, NULL, NULL, NULL },
	/* containerd without CRI: nerdctl's scope; ctr's /<namespace>/<id> */
	{ "nerdctl-systemd-v2", "/system.slice/nerdctl-" ID_NERDCTL ".scope",
	  ID_NERDCTL, "containerd", NULL, NULL, NULL, "system.slice" },
	{ "ctr-cgroupfs-v2", "/default/" ID_CTR, ID_CTR, NULL, NULL, NULL, NULL, NULL },
	/* systemd without containers */
	{ "service-v2", "/system.slice/nginx.service", NULL, NULL, NULL, NULL,
	  "nginx.service", "system.slice" },
	{ "session-v2", "/user.slice/user-1000.slice/session-3.scope", NULL, NULL,
	  NULL, NULL, "session-3.scope", "user-1000.slice" },
	{ "service-hybrid", "/system.slice/ssh.service", NULL, NULL, NULL, NULL,
	  "ssh.service", "system.slice" },
	{ "deleted-v2", "/system.slice/backup.service", NULL, NULL, NULL, NULL,
	  "backup.service", "system.slice" },
	{ "root-v2", "/", NULL, NULL, NULL, NULL, NULL, NULL },
	{ "root-hybrid", "/", NULL, NULL, NULL, NULL, NULL, NULL },
	/* hybrid: 0::/ is the root, name=systemd has the path */
	{ "hybrid-unified-root",
	  "/kubepods/burstable/pod6bb3a712-88e2-4d80-ae69-0b7fa7955c5d/" ID_HYBRID_ROOT,
	  ID_HYBRID_ROOT, NULL, "6bb3a712-88e2-4d80-ae69-0b7fa7955c5d", "burstable",
	  NULL, NULL },
	/* v1 without name=systemd, cpuset left at the root */
	{ "v1-no-systemd", "/docker/" ID_V1_NO_SYSTEMD, ID_V1_NO_SYSTEMD, "docker",
	  NULL, NULL, NULL, NULL },
};

#define CHECK_OPT_STR(a, b)                                                   \
	do {                                                                  \
		const char *_x = (a), *_y = (b);                              \
		if (_y)                                                       \
			CHECK_STR(_x, _y);                                    \
		else if (_x) {                                                \
			test_checks++;                                        \
			test_failures++;                                      \
			fprintf(stderr, "%s:%d: %s: expected NULL, got \"%s\"\n", \
				__FILE__, __LINE__, #a, _x);                  \
		} else {                                              \
			test_checks++;                                        \
		}                                                             \
	} while (0)

static void load_fixture(const char *name, struct buf *b)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", fixture_dir, name);
	buf_reset(b);
	if (buf_read_file(path, b, 1 << 20) != 0) {
		fprintf(stderr, "cannot read fixture %s\n", path);
		exit(1);
	}
}

static void check_expect(const struct expect *e, const struct cgroup_info *ci)
{
	fprintf(stderr, "  %s\n", e->fixture);
	CHECK_OPT_STR(ci->path, e->path);
	CHECK_OPT_STR(ci->container_id, e->container_id);
	CHECK_OPT_STR(ci->runtime, e->runtime);
	CHECK_OPT_STR(ci->pod_uid, e->pod_uid);
	CHECK_OPT_STR(ci->qos_class, e->qos_class);
	CHECK_OPT_STR(ci->systemd_unit, e->systemd_unit);
	CHECK_OPT_STR(ci->systemd_slice, e->systemd_slice);
}

static void test_fixtures(void)
{
	struct buf text = { 0 };
	struct cgroup_info ci = { 0 };

	for (size_t i = 0; i < sizeof(expects) / sizeof(expects[0]); i++) {
		load_fixture(expects[i].fixture, &text);
		/* ci is reused: each parse frees the previous result */
		CHECK_INT(cgroup__parse((const char *)text.data, text.len, &ci), ==, 0);
		check_expect(&expects[i], &ci);
	}
	cgroup_info__clear(&ci);
	buf_release(&text);
}

/* A fixture added without an expectation would test nothing. */
static void test_every_fixture_expected(void)
{
	DIR *d = opendir(fixture_dir);
	struct dirent *de;
	size_t files = 0;

	REQUIRE(d != NULL);
	while ((de = readdir(d))) {
		bool found = false;

		if (de->d_name[0] == '.')
			continue;
		files++;
		for (size_t i = 0; i < sizeof(expects) / sizeof(expects[0]); i++)
			found |= strcmp(de->d_name, expects[i].fixture) == 0;
		if (!found)
			fprintf(stderr, "fixture %s has no expectation\n", de->d_name);
		CHECK(found);
	}
	closedir(d);
	CHECK_U64(files, ==, sizeof(expects) / sizeof(expects[0]));
}

static int parse_str(const char *s, struct cgroup_info *ci)
{
	return cgroup__parse(s, strlen(s), ci);
}

#define ID64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_edges(void)
{
	struct cgroup_info ci = { 0 };

	/* nothing parseable */
	CHECK_INT(cgroup__parse(NULL, 0, &ci), ==, -EINVAL);
	CHECK_INT(parse_str("", &ci), ==, -EINVAL);
	CHECK_INT(parse_str("\n\n", &ci), ==, -EINVAL);
	CHECK_INT(parse_str("hello world\n", &ci), ==, -EINVAL);
	CHECK_INT(parse_str("0::relative\n", &ci), ==, -EINVAL);
	CHECK_INT(parse_str("x::/a\n", &ci), ==, -EINVAL);
	CHECK_INT(parse_str("12345678901::/a\n", &ci), ==, -EINVAL);
	CHECK_INT(parse_str("0:/a\n", &ci), ==, -EINVAL);
	CHECK(ci.path == NULL);

	/* one good line among bad ones; no trailing newline */
	CHECK_INT(parse_str("garbage\n0::/system.slice/a.service", &ci), ==, 0);
	CHECK_STR(ci.path, "/system.slice/a.service");
	CHECK_STR(ci.systemd_unit, "a.service");

	/* an error leaves a previously filled result cleared */
	CHECK_INT(parse_str("nope", &ci), ==, -EINVAL);
	CHECK(ci.path == NULL && ci.systemd_unit == NULL && ci.systemd_slice == NULL);

	/* the length bounds the text, not a NUL */
	{
		const char two[] = "0::/a.slice/b.service\n0::/c.slice/d.service\n";

		CHECK_INT(cgroup__parse(two, 22, &ci), ==, 0);
		CHECK_STR(ci.systemd_unit, "b.service");
	}
	/* an embedded NUL makes its line unparseable */
	{
		const char nul[] = "0::/a\0b.service\n";

		CHECK_INT(cgroup__parse(nul, sizeof(nul) - 1, &ci), ==, -EINVAL);
	}

	/* a named hierarchy that is not systemd's gives no path */
	CHECK_INT(parse_str("3:name=elogind:/c1\n", &ci), ==, 0);
	CHECK(ci.path == NULL);

	/* the path is everything after the second colon */
	CHECK_INT(parse_str("0::/odd:name/x.service\n", &ci), ==, 0);
	CHECK_STR(ci.path, "/odd:name/x.service");
	CHECK_STR(ci.systemd_unit, "x.service");
	CHECK(ci.systemd_slice == NULL);

	/* upper-case ids come out lowercase */
	CHECK_INT(parse_str("0::/system.slice/docker-0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789ABCDEF.scope\n", &ci), ==, 0);
	CHECK_STR(ci.container_id, ID64);
	CHECK_STR(ci.runtime, "docker");

	/* only 64 hex digits are a container id */
	CHECK_INT(parse_str("0::/docker/" "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde" "\n", &ci), ==, 0);
	CHECK(ci.container_id == NULL);
	CHECK_INT(parse_str("0::/docker/" ID64 "0\n", &ci), ==, 0);
	CHECK(ci.container_id == NULL);
	CHECK_INT(parse_str("0::/system.slice/docker-" ID64 "g.scope\n", &ci), ==, 0);
	CHECK(ci.container_id == NULL);
	CHECK_STR(ci.systemd_unit, "docker-" ID64 "g.scope");

	/* ctr with a named container: no id to report */
	CHECK_INT(parse_str("0::/default/redis\n", &ci), ==, 0);
	CHECK_STR(ci.path, "/default/redis");
	CHECK(ci.container_id == NULL && ci.runtime == NULL);

	/* read from another cgroup namespace: paths climb out with /.. */
	CHECK_INT(parse_str("0::/../../system.slice/docker-" ID64 ".scope\n", &ci), ==, 0);
	CHECK_STR(ci.container_id, ID64);
	CHECK_STR(ci.systemd_slice, "system.slice");

	/* docker-in-docker: the inner container */
	CHECK_INT(parse_str("0::/docker/" ID64 "/docker/"
			    "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210\n", &ci), ==, 0);
	CHECK_STR(ci.container_id, "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210");

	/* a service inside a systemd container is the unit */
	CHECK_INT(parse_str("0::/system.slice/docker-" ID64 ".scope/system.slice/nginx.service\n", &ci), ==, 0);
	CHECK_STR(ci.container_id, ID64);
	CHECK_STR(ci.systemd_unit, "nginx.service");
	CHECK_STR(ci.systemd_slice, "system.slice");

	/* pods only where kubelet puts them */
	CHECK_INT(parse_str("0::/foo.slice/foo-pod9bb860b4_a6e4_4cf9_a9da_f85d815086f4.slice/x.service\n", &ci), ==, 0);
	CHECK(ci.pod_uid == NULL && ci.qos_class == NULL);
	CHECK_INT(parse_str("0::/x.slice/x-notkubepods-pod9bb860b4_a6e4_4cf9_a9da_f85d815086f4.slice\n", &ci), ==, 0);
	CHECK(ci.pod_uid == NULL);
	CHECK_INT(parse_str("0::/other/pod9bb860b4-a6e4-4cf9-a9da-f85d815086f4/" ID64 "\n", &ci), ==, 0);
	CHECK(ci.pod_uid == NULL);
	CHECK_STR(ci.container_id, ID64);
	/* the systemd driver never writes '-' inside the uid */
	CHECK_INT(parse_str("0::/kubepods.slice/kubepods-pod9bb860b4-a6e4-4cf9-a9da-f85d815086f4.slice\n", &ci), ==, 0);
	CHECK(ci.pod_uid == NULL);
	/* nor the cgroupfs one '_' */
	CHECK_INT(parse_str("0::/kubepods/pod9bb860b4_a6e4_4cf9_a9da_f85d815086f4\n", &ci), ==, 0);
	CHECK(ci.pod_uid == NULL);
	/* a pod-level process (no container yet) */
	CHECK_INT(parse_str("0::/kubepods/besteffort/pod9BB860B4-A6E4-4CF9-A9DA-F85D815086F4\n", &ci), ==, 0);
	CHECK_STR(ci.pod_uid, "9bb860b4-a6e4-4cf9-a9da-f85d815086f4");
	CHECK_STR(ci.qos_class, "besteffort");
	CHECK(ci.container_id == NULL);
	/* seen from another pod's cgroup namespace (same QoS class: the
	 * common /kubepods/burstable prefix is gone) */
	CHECK_INT(parse_str("0::/../../pod9bb860b4-a6e4-4cf9-a9da-f85d815086f4/" ID64 "\n", &ci), ==, 0);
	CHECK_STR(ci.pod_uid, "9bb860b4-a6e4-4cf9-a9da-f85d815086f4");
	CHECK(ci.qos_class == NULL);
	CHECK_STR(ci.container_id, ID64);
	CHECK_INT(parse_str("0::/../../../kubepods-burstable.slice/kubepods-burstable-pod9bb860b4_a6e4_4cf9_a9da_f85d815086f4.slice/cri-containerd-" ID64 ".scope\n", &ci), ==, 0);
	CHECK_STR(ci.pod_uid, "9bb860b4-a6e4-4cf9-a9da-f85d815086f4");
	CHECK_STR(ci.qos_class, "burstable");
	/* the QoS slice alone is no pod */
	CHECK_INT(parse_str("0::/kubepods.slice/kubepods-burstable.slice\n", &ci), ==, 0);
	CHECK(ci.pod_uid == NULL && ci.qos_class == NULL);
	CHECK_STR(ci.systemd_slice, "kubepods-burstable.slice");

	/* bare suffixes are no unit or slice names */
	CHECK_INT(parse_str("0::/.slice/.service\n", &ci), ==, 0);
	CHECK(ci.systemd_unit == NULL && ci.systemd_slice == NULL);

	/* name=systemd beats a different non-root 0:: (runc exec in hybrid
	 * mode leaves the unified cgroup at the caller's session) */
	CHECK_INT(parse_str("1:name=systemd:/system.slice/runc-x.scope\n"
			    "0::/user.slice/user-0.slice/session-1.scope\n", &ci), ==, 0);
	CHECK_STR(ci.path, "/system.slice/runc-x.scope");
	CHECK_STR(ci.systemd_unit, "runc-x.scope");

	/* a controller path beats the root in the other lines */
	CHECK_INT(parse_str("4:memory:/sandbox/a\n1:name=systemd:/\n0::/\n", &ci), ==, 0);
	CHECK_STR(ci.path, "/sandbox/a");

	/* stripping " (deleted)" leaves at least the '/' */
	CHECK_INT(parse_str("0::/ (deleted)\n", &ci), ==, 0);
	CHECK_STR(ci.path, "/");

	cgroup_info__clear(&ci);
	cgroup_info__clear(&ci);
	cgroup_info__clear(NULL);
	CHECK(ci.path == NULL);
}

static int write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "we");
	size_t n;

	if (!f)
		return -errno;
	n = fwrite(data, 1, len, f);
	if (fclose(f) != 0 || n != len)
		return -EIO;
	return 0;
}

static void test_read(void)
{
	char root[] = "/tmp/brasa-test-cgroup-XXXXXX", dir[128], file[160];
	struct cgroup_info ci = { 0 };
	struct buf big = { 0 };

	REQUIRE(mkdtemp(root) != NULL);
	snprintf(dir, sizeof(dir), "%s/4242", root);
	REQUIRE(mkdir(dir, 0755) == 0);
	snprintf(file, sizeof(file), "%s/cgroup", dir);
	REQUIRE(write_file(file, "0::/system.slice/docker-" ID64 ".scope\n",
			   strlen("0::/system.slice/docker-" ID64 ".scope\n")) == 0);

	CHECK_INT(cgroup__read(root, 4242, &ci), ==, 0);
	CHECK_STR(ci.container_id, ID64);
	CHECK_STR(ci.runtime, "docker");
	/* a process that is gone */
	CHECK_INT(cgroup__read(root, 4243, &ci), ==, -ENOENT);
	CHECK(ci.container_id == NULL);
	CHECK_INT(cgroup__read(root, 0, &ci), ==, -EINVAL);
	CHECK_INT(cgroup__read(root, -1, &ci), ==, -EINVAL);

	/* an empty file (what a kernel thread never has, but a fake might) */
	REQUIRE(write_file(file, "", 0) == 0);
	CHECK_INT(cgroup__read(root, 4242, &ci), ==, -EINVAL);

	/* bounded: a file past the limit is refused, not parsed */
	while (big.len <= CGROUP_MAX_FILE_BYTES)
		REQUIRE(buf_printf(&big, "0::/%0200d\n", 0) == 0);
	REQUIRE(write_file(file, (const char *)big.data, big.len) == 0);
	CHECK_INT(cgroup__read(root, 4242, &ci), ==, -EFBIG);
	buf_release(&big);

	unlink(file);
	rmdir(dir);
	rmdir(root);

	/* this very process, through the real /proc (hybrid here, or v2) */
	CHECK_INT(cgroup__read(NULL, (int)getpid(), &ci), ==, 0);
	CHECK(ci.path != NULL && ci.path[0] == '/');
	CHECK_INT(cgroup__read("/proc", (int)getpid(), &ci), ==, 0);
	CHECK(ci.path != NULL && ci.path[0] == '/');
	cgroup_info__clear(&ci);
}

static bool all_hex_lower(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), sn = strlen(suffix);

	return n > sn && strcmp(s + n - sn, suffix) == 0;
}

/* What any result must satisfy, whatever the input was. */
static bool info_sane(int err, const struct cgroup_info *ci)
{
	static const char *const runtimes[] = { "docker", "containerd", "cri-o", "podman" };
	static const char *const qos[] = { "guaranteed", "burstable", "besteffort" };
	bool ok = true;

	if (err != 0 && err != -EINVAL)
		return false;
	if (err)
		return !ci->path && !ci->container_id && !ci->runtime && !ci->pod_uid &&
		       !ci->qos_class && !ci->systemd_unit && !ci->systemd_slice;
	if (ci->path)
		ok &= ci->path[0] == '/';
	if (ci->container_id)
		ok &= strlen(ci->container_id) == 64 && all_hex_lower(ci->container_id, 64);
	if (ci->runtime) {
		bool known = false;

		for (size_t i = 0; i < 4; i++)
			known |= strcmp(ci->runtime, runtimes[i]) == 0;
		ok &= known && ci->container_id != NULL;
	}
	ok &= !ci->qos_class || ci->pod_uid;
	if (ci->pod_uid) {
		size_t n = strlen(ci->pod_uid);

		ok &= (n == 32 && all_hex_lower(ci->pod_uid, 32)) ||
		      (n == 36 && ci->pod_uid[8] == '-' && ci->pod_uid[13] == '-' &&
		       ci->pod_uid[18] == '-' && ci->pod_uid[23] == '-');
	}
	if (ci->qos_class) {
		bool known = false;

		for (size_t i = 0; i < 3; i++)
			known |= strcmp(ci->qos_class, qos[i]) == 0;
		ok &= known;
	}
	if (ci->systemd_unit)
		ok &= (ends_with(ci->systemd_unit, ".service") ||
		       ends_with(ci->systemd_unit, ".scope")) &&
		      !strchr(ci->systemd_unit, '/');
	if (ci->systemd_slice)
		ok &= ends_with(ci->systemd_slice, ".slice") &&
		      !strchr(ci->systemd_slice, '/');
	return ok;
}

static int mutation_failures;

/* The mutated text is copied into a buffer of exactly its length, so
 * ASan sees any read past it. */
static void parse_exact(const char *data, size_t len, struct cgroup_info *ci)
{
	char *copy = malloc(len ? len : 1);
	int err;

	if (!copy)
		abort();
	memcpy(copy, data, len);
	err = cgroup__parse(copy, len, ci);
	if (!info_sane(err, ci)) {
		if (mutation_failures++ < 5)
			fprintf(stderr, "insane result (err %d) for %zu bytes: %.*s\n",
				err, len, (int)len, data);
	}
	free(copy);
}

static void test_mutations(void)
{
	static const char bytes[] = { '\0', '\n', ':', '/', '-', '_', '.', 'x', 'A', '0', (char)0xff };
	struct buf text = { 0 };
	struct cgroup_info ci = { 0 };
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	size_t runs = 0;

	for (size_t i = 0; i < sizeof(expects) / sizeof(expects[0]); i++) {
		char *m;

		load_fixture(expects[i].fixture, &text);
		m = malloc(text.len + 1);
		REQUIRE(m != NULL);
		/* every truncation */
		for (size_t n = 0; n <= text.len; n++, runs++)
			parse_exact((const char *)text.data, n, &ci);
		/* every byte replaced by each separator and a few others */
		for (size_t pos = 0; pos < text.len; pos++) {
			for (size_t b = 0; b < sizeof(bytes); b++, runs++) {
				memcpy(m, text.data, text.len);
				m[pos] = bytes[b];
				parse_exact(m, text.len, &ci);
			}
		}
		/* random multi-byte damage */
		for (int k = 0; k < 2000 && text.len; k++, runs++) {
			memcpy(m, text.data, text.len);
			for (int j = 0; j < 4; j++) {
				seed = seed * 6364136223846793005ull + 1442695040888963407ull;
				m[(seed >> 33) % text.len] = (char)(seed >> 17);
			}
			parse_exact(m, text.len, &ci);
		}
		free(m);
	}
	/* pure noise */
	for (int k = 0; k < 20000; k++, runs++) {
		char noise[96];
		size_t n;

		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		n = (seed >> 40) % sizeof(noise);
		for (size_t j = 0; j < n; j++) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			/* mostly the characters that matter to the parser */
			noise[j] = "0123456789abcdef:/-_.\npodkubeslicescope"[(seed >> 33) % 39];
		}
		parse_exact(noise, n, &ci);
	}
	fprintf(stderr, "  %zu mutated inputs\n", runs);
	CHECK_INT(mutation_failures, ==, 0);
	cgroup_info__clear(&ci);
	buf_release(&text);
}

static void setup(void)
{
	TEST_ARGS("FIXTURE_DIR", &fixture_dir);
}

TEST_MAIN(setup, NULL,
	  TEST_CASE(fixtures),
	  TEST_CASE(every_fixture_expected),
	  TEST_CASE(edges),
	  TEST_CASE(read),
	  TEST_CASE(mutations))
