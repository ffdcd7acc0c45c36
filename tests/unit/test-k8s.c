/* k8s: the PodList parser on a realistic fixture (every label, runtime
 * prefixes, init/ephemeral/restarted containers, a pending pod, a static
 * pod's mirror, sanitized names), malformed and truncated input; then the
 * poller against tests/tools/fake-kube-api.py on a loopback port: first list,
 * early re-list on a miss and its bounds, 401 and token rotation, garbage,
 * 500, a killed and a slow server, an oversized list, what is logged; and
 * over HTTPS (certificates made for the run by tests/tools/make-test-certs.sh):
 * the CA file lists pods, a wrong CA is a connect failure logged once.
 *
 * argv: python3, fake-kube-api.py, fixtures/k8s/pods.json
 */
#include "labels/k8s.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/labels.h"
#include "common/macros.h"
#include "testing.h"

extern char **environ;

static const char *python, *server_script, *fixture_path;
static struct buf fixture;
static char tmpdir[64];

#define UID_CHECKOUT "3f1c2a9e-8b7d-4c6e-9a1f-2b3c4d5e6f70"
#define UID_REDIS "a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d"
#define UID_API "c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f"
#define UID_PENDING "e5f6a7b8-c9d0-4e1f-a2b3-c4d5e6f7a8b9"
#define UID_PROXY "f7a8b9c0-d1e2-4f3a-b4c5-d6e7f8a9b0c1"
#define HASH_PROXY "6b9d2f1e0c8a4b7d9e3f5a1c2b4d6e8f"
#define UID_NODE_B "0a1b2c3d-4e5f-4a6b-9c8d-7e6f5a4b3c2d"
#define UID_UNKNOWN "11111111-2222-4333-8444-555555555555"
#define UID_NEW "9e8d7c6b-5a49-4382-9170-6f5e4d3c2b1a"

#define ID_CHECKOUT "c7761e58969f7edd498186641b2021e8477e1bcd230de4cf3435242da4a40d14"
#define ID_ISTIO_INIT "33fac92ae5802630929873400a96320b39778106269726e193fc7962811c37b0"
#define ID_ISTIO_PROXY "b8e9c2a497daf0198e1b79d0044361efcbeb110b0e12096e96fcf46aadefd73e"
#define ID_REDIS "34fb46c847bb9df96e5205a39d382f648a6e8dce1e014cd85b4ca6a88d88ed03"
#define ID_REDIS_PREV "ab27772388e48636b5865b602af1211beea86202f094fe16dccc31811b7c771c"
#define ID_API "f7894a9e71c94e12fd41907644882fa3a6b06a32896a34d387f7164185ece008"
#define ID_DEBUGGER "4c44d7c28ec0f6ca3e2624c6af1d3be324576d01ef6f6c2dc0af7e61664b8c2c"
#define ID_PROXY "7d7d4eed89b70ea736ca15fa6c6183a27198a1b8cccc12e1944590f415a774e7"
#define ID_CHECKOUT_B "1c15f70ae16fcafd066713c1a9b8dae73aada96cec23322209c5a2a43f4c3080"
#define ID_NEW "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

#define P "__meta_kubernetes_pod_"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Polls cond every 10 ms for up to ms milliseconds. */
#define WAIT_FOR(cond, ms)                                                    \
	({                                                                    \
		double _end = now_s() + (ms) / 1000.0;                        \
		bool _ok;                                                     \
		while (!(_ok = (cond)) && now_s() < _end)                     \
			sleep_ms(10);                                         \
		_ok;                                                          \
	})

static struct k8s_pods *parse_fixture(const char *node)
{
	struct k8s_pods *t = NULL;
	char err[256] = "";
	int r = k8s_pods__parse((const char *)fixture.data, fixture.len, node,
				&t, err, sizeof(err));

	if (r)
		fprintf(stderr, "parse: %d %s\n", r, err);
	REQUIRE(r == 0 && t);
	return t;
}

static int parse_text(const char *text, struct k8s_pods **t, char *err,
		      size_t errlen)
{
	return k8s_pods__parse(text, strlen(text), "node-a", t, err, errlen);
}

static void test_canonical_uid(void)
{
	char out[K8S_UID_LEN + 1];

	CHECK_INT(k8s__canonical_uid(UID_CHECKOUT, out), ==, 0);
	CHECK_STR(out, UID_CHECKOUT);
	CHECK_INT(k8s__canonical_uid("3F1C2A9E-8B7D-4C6E-9A1F-2B3C4D5E6F70", out), ==, 0);
	CHECK_STR(out, UID_CHECKOUT);
	CHECK_INT(k8s__canonical_uid("3f1c2a9e_8b7d_4c6e_9a1f_2b3c4d5e6f70", out), ==, 0);
	CHECK_STR(out, UID_CHECKOUT);
	CHECK_INT(k8s__canonical_uid("3f1c2a9e8b7d4c6e9a1f2b3c4d5e6f70", out), ==, 0);
	CHECK_STR(out, UID_CHECKOUT);
	CHECK_INT(k8s__canonical_uid("3f1c2a9e-8b7d_4c6e-9a1f-2b3c4d5e6f70", out), ==, -EINVAL);
	CHECK_INT(k8s__canonical_uid("3f1c2a9e-8b7d-4c6e-9a1f-2b3c4d5e6f7", out), ==, -EINVAL);
	CHECK_INT(k8s__canonical_uid("3f1c2a9e-8b7d-4c6e-9a1f-2b3c4d5e6f700", out), ==, -EINVAL);
	CHECK_INT(k8s__canonical_uid("3f1c2a9e-8b7d-4c6e-9a1f-2b3c4d5e6fzz", out), ==, -EINVAL);
	CHECK_INT(k8s__canonical_uid("3f1c2a9e8-b7d-4c6e-9a1f-2b3c4d5e6f70", out), ==, -EINVAL);
	CHECK_INT(k8s__canonical_uid("", out), ==, -EINVAL);
	CHECK_INT(k8s__canonical_uid(NULL, out), ==, -EINVAL);
}

static void test_in_cluster_url(void)
{
	char url[64];

	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	CHECK_INT(k8s__in_cluster_url(url, sizeof(url)), ==, -ENOENT);
	setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
	CHECK_INT(k8s__in_cluster_url(url, sizeof(url)), ==, -ENOENT);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	CHECK_INT(k8s__in_cluster_url(url, sizeof(url)), ==, 0);
	CHECK_STR(url, "https://10.96.0.1:443");
	setenv("KUBERNETES_SERVICE_HOST", "fd00:10:96::1", 1);
	CHECK_INT(k8s__in_cluster_url(url, sizeof(url)), ==, 0);
	CHECK_STR(url, "https://[fd00:10:96::1]:443");
	CHECK_INT(k8s__in_cluster_url(url, 10), ==, -ENAMETOOLONG);
	setenv("KUBERNETES_SERVICE_PORT", "443x", 1);
	CHECK_INT(k8s__in_cluster_url(url, sizeof(url)), ==, -EINVAL);
	setenv("KUBERNETES_SERVICE_PORT", "443", 1);
	setenv("KUBERNETES_SERVICE_HOST", "evil.example/x?", 1);
	CHECK_INT(k8s__in_cluster_url(url, sizeof(url)), ==, -EINVAL);
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
}

/* Every label of one running pod's container, and only those. */
static void test_parse_redis_exact(const struct k8s_pods *t)
{
	struct labels ls = { 0 };

	CHECK_INT(k8s_pods__lookup(t, UID_REDIS, "docker://" ID_REDIS, &ls), ==, 0);
	CHECK_STR(labels__get(&ls, "namespace"), "cache");
	CHECK_STR(labels__get(&ls, "pod"), "redis-0");
	CHECK_STR(labels__get(&ls, "container"), "redis");
	CHECK_STR(labels__get(&ls, "__meta_kubernetes_namespace"), "cache");
	CHECK_STR(labels__get(&ls, P "name"), "redis-0");
	CHECK_STR(labels__get(&ls, P "uid"), UID_REDIS);
	CHECK_STR(labels__get(&ls, "__meta_kubernetes_node_name"), "node-a");
	CHECK_STR(labels__get(&ls, P "node_name"), "node-a");
	CHECK_STR(labels__get(&ls, P "label_app"), "redis");
	CHECK_STR(labels__get(&ls, P "labelpresent_app"), "true");
	CHECK_STR(labels__get(&ls, P "label_controller_revision_hash"), "redis-5c8d7f");
	CHECK_STR(labels__get(&ls, P "label_statefulset_kubernetes_io_pod_name"), "redis-0");
	CHECK_STR(labels__get(&ls, P "labelpresent_statefulset_kubernetes_io_pod_name"), "true");
	CHECK_STR(labels__get(&ls, P "controller_kind"), "StatefulSet");
	CHECK_STR(labels__get(&ls, P "controller_name"), "redis");
	CHECK_STR(labels__get(&ls, P "container_name"), "redis");
	CHECK_STR(labels__get(&ls, P "container_id"), "docker://" ID_REDIS);
	CHECK_STR(labels__get(&ls, P "container_init"), "false");
	/* 7 identity + 3 labels x 2 + controller x 2 + container x 4 */
	CHECK_INT(ls.n, ==, 19);
	for (size_t i = 0; i < ls.n; i++)
		CHECK(labels__valid_name(ls.v[i].name));

	/* the id before the OOM kill still names the container */
	labels__clear(&ls);
	CHECK_INT(k8s_pods__lookup(t, UID_REDIS, ID_REDIS_PREV, &ls), ==, 0);
	CHECK_STR(labels__get(&ls, "container"), "redis");
	CHECK_STR(labels__get(&ls, P "container_id"), "docker://" ID_REDIS_PREV);
	labels__clear(&ls);
}

static void test_parse_fixture(void)
{
	struct k8s_pods *t = parse_fixture("node-a"), *all = parse_fixture(NULL);
	struct k8s_pods *again = parse_fixture("node-a");
	struct labels ls = { 0 };

	CHECK_INT(k8s_pods__count(t), ==, 5);
	CHECK_INT(k8s_pods__count(all), ==, 6);
	CHECK(k8s_pods__equal(t, again));
	CHECK(!k8s_pods__equal(t, all));
	CHECK(!k8s_pods__equal(t, NULL));
	CHECK(k8s_pods__equal(NULL, NULL));

	/* containerd, with the prefix, bare, and in capitals */
	CHECK_INT(k8s_pods__lookup(t, UID_CHECKOUT, "containerd://" ID_CHECKOUT, &ls), ==, 0);
	CHECK_STR(labels__get(&ls, "namespace"), "shop");
	CHECK_STR(labels__get(&ls, "pod"), "checkout-7d9f8b6c5-x2x4q");
	CHECK_STR(labels__get(&ls, "container"), "checkout");
	CHECK_STR(labels__get(&ls, P "container_id"), "containerd://" ID_CHECKOUT);
	CHECK_STR(labels__get(&ls, P "label_app_kubernetes_io_name"), "checkout");
	CHECK_STR(labels__get(&ls, P "label_security_istio_io_tlsMode"), "istio");
	CHECK_STR(labels__get(&ls, P "label_pod_template_hash"), "7d9f8b6c5");
	CHECK_STR(labels__get(&ls, P "annotation_prometheus_io_scrape"), "true");
	CHECK_STR(labels__get(&ls, P "annotationpresent_prometheus_io_scrape"), "true");
	CHECK_STR(labels__get(&ls, P "annotation_kubectl_kubernetes_io_restartedAt"),
		  "2024-05-01T17:00:00Z");
	CHECK_STR(labels__get(&ls, P "annotation_sidecar_istio_io_status"),
		  "{\"initContainers\":[\"istio-init\"],\"containers\":[\"istio-proxy\"]}");
	CHECK_STR(labels__get(&ls, P "annotation_description"),
		  "caf\xc3\xa9 \xe2\x80\x93 checkout");
	CHECK_STR(labels__get(&ls, P "controller_kind"), "ReplicaSet");
	CHECK_STR(labels__get(&ls, P "controller_name"), "checkout-7d9f8b6c5");
	CHECK(labels__get(&ls, P "label_app.kubernetes.io/name") == NULL);
	labels__clear(&ls);
	CHECK_INT(k8s_pods__lookup(t, UID_CHECKOUT, ID_CHECKOUT, &ls), ==, 0);
	CHECK_STR(labels__get(&ls, "container"), "checkout");
	labels__clear(&ls);
	{
		char upper[] = ID_CHECKOUT;

		for (char *c = upper; *c; c++)
			*c = (char)toupper((unsigned char)*c);
		CHECK_INT(k8s_pods__lookup(t, UID_CHECKOUT, upper, &ls), ==, 0);
		CHECK_STR(labels__get(&ls, "container"), "checkout");
		labels__clear(&ls);
	}
	CHECK_INT(k8s_pods__lookup(t, UID_CHECKOUT, ID_ISTIO_PROXY, &ls), ==, 0);
	CHECK_STR(labels__get(&ls, "container"), "istio-proxy");
	CHECK_STR(labels__get(&ls, P "container_init"), "false");
	labels__clear(&ls);
	CHECK_INT(k8s_pods__lookup(t, UID_CHECKOUT, "containerd://" ID_ISTIO_INIT, &ls), ==, 0);
	CHECK_STR(labels__get(&ls, "container"), "istio-init");
	CHECK_STR(labels__get(&ls, P "container_init"), "true");
	labels__clear(&ls);

	test_parse_redis_exact(t);

	/* cri-o, and an ephemeral container added by kubectl debug */
	CHECK_INT(k8s_pods__lookup(t, UID_API, "cri-o://" ID_API, &ls), ==, 0);
	CHECK_STR(labels__get(&ls, "namespace"), "backend");
	CHECK_STR(labels__get(&ls, "container"), "app");
	CHECK_STR(labels__get(&ls, P "container_id"), "cri-o://" ID_API);
	CHECK_STR(labels__get(&ls, P "annotation_openshift_io_scc"), "restricted-v2");
	labels__clear(&ls);
	CHECK_INT(k8s_pods__lookup(t, UID_API, ID_DEBUGGER, &ls), ==, 0);
	CHECK_STR(labels__get(&ls, "container"), "debugger-8xk2p");
	CHECK_STR(labels__get(&ls, P "container_init"), "false");
	labels__clear(&ls);

	/* pending: the pod is known, no container is, and it has no labels */
	CHECK_INT(k8s_pods__lookup(t, UID_PENDING, ID_NEW, &ls), ==, 0);
	CHECK_STR(labels__get(&ls, "namespace"), "jobs");
	CHECK_STR(labels__get(&ls, "pod"), "batch-import-28573920-9zv6k");
	CHECK_STR(labels__get(&ls, P "controller_kind"), "Job");
	CHECK(labels__get(&ls, "container") == NULL);
	CHECK(labels__get(&ls, P "container_name") == NULL);
	/* 7 identity + controller x 2 */
	CHECK_INT(ls.n, ==, 9);
	labels__clear(&ls);

	/* a static pod: found by its mirror uid and by the kubelet's hash */
	CHECK_INT(k8s_pods__lookup(t, HASH_PROXY, ID_PROXY, &ls), ==, 0);
	CHECK_STR(labels__get(&ls, "pod"), "kube-proxy-node-a");
	CHECK_STR(labels__get(&ls, P "uid"), UID_PROXY);
	CHECK_STR(labels__get(&ls, "container"), "kube-proxy");
	CHECK_STR(labels__get(&ls, P "controller_kind"), "Node");
	labels__clear(&ls);
	CHECK_INT(k8s_pods__lookup(t, "6B9D2F1E-0C8A-4B7D-9E3F-5A1C2B4D6E8F", NULL, &ls), ==, 0);
	CHECK_STR(labels__get(&ls, "pod"), "kube-proxy-node-a");
	labels__clear(&ls);
	CHECK_INT(k8s_pods__lookup(t, UID_PROXY, "", &ls), ==, 0);
	CHECK_STR(labels__get(&ls, "pod"), "kube-proxy-node-a");
	CHECK(labels__get(&ls, "container") == NULL);
	labels__clear(&ls);

	/* uid spellings from cgroup paths; other nodes' and unknown pods */
	CHECK_INT(k8s_pods__lookup(t, "3F1C2A9E_8B7D_4C6E_9A1F_2B3C4D5E6F70", NULL, &ls), ==, 0);
	CHECK_STR(labels__get(&ls, "pod"), "checkout-7d9f8b6c5-x2x4q");
	labels__clear(&ls);
	CHECK_INT(k8s_pods__lookup(t, UID_NODE_B, ID_CHECKOUT_B, &ls), ==, -ENOENT);
	CHECK_INT(k8s_pods__lookup(all, UID_NODE_B, ID_CHECKOUT_B, &ls), ==, 0);
	CHECK_STR(labels__get(&ls, "__meta_kubernetes_node_name"), "node-b");
	labels__clear(&ls);
	CHECK_INT(k8s_pods__lookup(t, UID_UNKNOWN, NULL, &ls), ==, -ENOENT);
	CHECK_INT(k8s_pods__lookup(t, "pod" UID_CHECKOUT, NULL, &ls), ==, -EINVAL);
	CHECK_INT(k8s_pods__lookup(NULL, UID_CHECKOUT, NULL, &ls), ==, -ENOENT);
	CHECK_INT(ls.n, ==, 0);

	/* labels already in out: same names replaced, others kept */
	CHECK_INT(labels__set(&ls, "service_name", "checkout-svc"), ==, 0);
	CHECK_INT(labels__set(&ls, "namespace", "from-cgroup"), ==, 0);
	CHECK_INT(k8s_pods__lookup(t, UID_CHECKOUT, ID_CHECKOUT, &ls), ==, 0);
	CHECK_STR(labels__get(&ls, "service_name"), "checkout-svc");
	CHECK_STR(labels__get(&ls, "namespace"), "shop");
	labels__clear(&ls);

	k8s_pods__free(t);
	k8s_pods__free(all);
	k8s_pods__free(again);
	k8s_pods__free(NULL);
}

static void test_parse_edge_cases(void)
{
	struct k8s_pods *t = NULL, *u = NULL;
	struct labels ls = { 0 };
	char err[256];

	/* sanitized names that collide: the later wins, as in Prometheus;
	 * an empty value is absent but present_ says it was set */
	CHECK_INT(parse_text("{\"kind\":\"PodList\",\"items\":[{\"metadata\":{"
			     "\"name\":\"p\",\"namespace\":\"n\",\"uid\":\"" UID_NEW "\","
			     "\"labels\":{\"a.b\":\"1\",\"a_b\":\"2\",\"empty\":\"\",\"x/y-z\":\"3\","
			     "\"num\":5}},\"spec\":{\"nodeName\":\"node-a\"},"
			     "\"status\":{\"containerStatuses\":[{\"name\":\"c\"},"
			     "{\"name\":\"d\",\"containerID\":\"containerd://\"},"
			     "{\"containerID\":\"containerd://" ID_NEW "\"},"
			     "{\"name\":\"plain\",\"containerID\":\"" ID_CHECKOUT "\"}]}}]}",
			     &t, err, sizeof(err)), ==, 0);
	CHECK_INT(k8s_pods__lookup(t, UID_NEW, NULL, &ls), ==, 0);
	CHECK_STR(labels__get(&ls, P "label_a_b"), "2");
	CHECK(labels__get(&ls, P "label_empty") == NULL);
	CHECK_STR(labels__get(&ls, P "labelpresent_empty"), "true");
	CHECK_STR(labels__get(&ls, P "label_x_y_z"), "3");
	CHECK(labels__get(&ls, P "label_num") == NULL);
	CHECK(labels__get(&ls, P "controller_kind") == NULL);
	labels__clear(&ls);
	/* a status without a name or without an id maps nothing */
	CHECK_INT(k8s_pods__lookup(t, UID_NEW, ID_NEW, &ls), ==, 0);
	CHECK(labels__get(&ls, "container") == NULL);
	labels__clear(&ls);
	/* an id without a runtime prefix is taken as it is */
	CHECK_INT(k8s_pods__lookup(t, UID_NEW, "docker://" ID_CHECKOUT, &ls), ==, 0);
	CHECK_STR(labels__get(&ls, "container"), "plain");
	CHECK_STR(labels__get(&ls, P "container_id"), ID_CHECKOUT);
	labels__clear(&ls);
	k8s_pods__free(t);

	/* items without identity, with a bad uid or for another node are
	 * skipped; a uid listed twice keeps its first pod */
	CHECK_INT(parse_text("{\"kind\":\"PodList\",\"items\":["
			     "{\"metadata\":{\"name\":\"a\",\"namespace\":\"n\"},\"spec\":{\"nodeName\":\"node-a\"}},"
			     "{\"metadata\":{\"name\":\"b\",\"namespace\":\"n\",\"uid\":\"not-a-uid\"},\"spec\":{\"nodeName\":\"node-a\"}},"
			     "{\"metadata\":{\"name\":\"c\",\"namespace\":\"n\",\"uid\":\"" UID_NEW "\"}},"
			     "{\"metadata\":{\"name\":\"d\",\"namespace\":\"n\",\"uid\":\"" UID_NEW "\"},\"spec\":{\"nodeName\":\"node-a\"}},"
			     "{\"metadata\":{\"name\":\"e\",\"namespace\":\"n\",\"uid\":\"" UID_NEW "\"},\"spec\":{\"nodeName\":\"node-a\"}},"
			     "{\"metadata\":{\"name\":\"f\",\"namespace\":\"n\",\"uid\":\"" UID_UNKNOWN "\"},\"spec\":{\"nodeName\":\"node-a\"}}"
			     "]}", &t, err, sizeof(err)), ==, 0);
	CHECK_INT(k8s_pods__count(t), ==, 2);
	CHECK_INT(k8s_pods__lookup(t, UID_NEW, NULL, &ls), ==, 0);
	CHECK_STR(labels__get(&ls, "pod"), "d");
	labels__clear(&ls);
	/* a change in one label makes tables differ */
	CHECK_INT(parse_text("{\"kind\":\"PodList\",\"items\":["
			     "{\"metadata\":{\"name\":\"d\",\"namespace\":\"n\",\"uid\":\"" UID_NEW "\"},\"spec\":{\"nodeName\":\"node-a\"}},"
			     "{\"metadata\":{\"name\":\"f\",\"namespace\":\"n\",\"uid\":\"" UID_UNKNOWN "\",\"labels\":{\"v\":\"2\"}},\"spec\":{\"nodeName\":\"node-a\"}}"
			     "]}", &u, err, sizeof(err)), ==, 0);
	CHECK(!k8s_pods__equal(t, u));
	k8s_pods__free(t);
	k8s_pods__free(u);

	/* empty lists: Go writes a nil slice as null */
	CHECK_INT(parse_text("{\"kind\":\"PodList\",\"apiVersion\":\"v1\",\"items\":null}",
			     &t, err, sizeof(err)), ==, 0);
	CHECK_INT(k8s_pods__count(t), ==, 0);
	k8s_pods__free(t);
	CHECK_INT(parse_text(" {\"kind\":\"PodList\",\"items\":[]}\r\n", &t, err, sizeof(err)), ==, 0);
	CHECK_INT(k8s_pods__count(t), ==, 0);
	k8s_pods__free(t);

	/* not a PodList */
	static const char *const bad[] = {
		"",
		"   ",
		"null",
		"[]",
		"42",
		"\"PodList\"",
		"{}",
		"{\"kind\":\"Pod\",\"items\":[]}",
		"{\"kind\":\"PodList\"}",
		"{\"kind\":\"PodList\",\"items\":{}}",
		"{\"kind\":\"PodList\",\"items\":[1]}",
		"{\"kind\":\"PodList\",\"items\":[]} x",
		"{\"kind\":\"PodList\",\"items\":[]}{}",
		"{'kind':'PodList','items':[]}",
		"{\"kind\":\"PodList\",\"items\":[],}",
		"{\"kind\":\"PodList\",\"items\":[],\"x\":\"\xff\xfe\"}",
		"<html><body>502 Bad Gateway</body></html>",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		err[0] = '\0';
		t = (struct k8s_pods *)1;
		CHECK_INT(parse_text(bad[i], &t, err, sizeof(err)), ==, -EBADMSG);
		CHECK(t == NULL);
		CHECK(err[0] != '\0');
	}
	CHECK_INT(parse_text("{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\","
			     "\"message\":\"pods is forbidden: User \\\"system:serviceaccount:x:y\\\" "
			     "cannot list resource \\\"pods\\\"\",\"reason\":\"Forbidden\",\"code\":403}",
			     &t, err, sizeof(err)), ==, -EBADMSG);
	CHECK(strstr(err, "Status") && strstr(err, "pods is forbidden"));
	CHECK_INT(k8s_pods__parse(NULL, 0, NULL, &t, NULL, 0), ==, -EBADMSG);
	/* deeper than the parser allows: an error, not a stack overflow */
	{
		struct buf deep = { 0 };

		buf_printf(&deep, "{\"kind\":\"PodList\",\"items\":[],\"x\":");
		for (int i = 0; i < 5000; i++)
			buf_append(&deep, "[", 1);
		for (int i = 0; i < 5000; i++)
			buf_append(&deep, "]", 1);
		buf_append(&deep, "}", 1);
		CHECK_INT(k8s_pods__parse((char *)deep.data, deep.len, NULL, &t, err,
					  sizeof(err)), ==, -EBADMSG);
		buf_release(&deep);
	}
}

/* Proper prefixes of the fixture are errors: every one within 400 bytes
 * of either end, every 13th in between (all of them take seconds); random
 * byte flips give an error or a table, never a crash (under ASan, mean
 * more). */
static void test_parse_truncated(void)
{
	size_t last = fixture.len;
	int wrong = 0, silent = 0, flips_ok = 0, flips_bad = 0;
	struct buf copy = { 0 };
	uint64_t seed = 42;

	while (last && fixture.data[last - 1] != '}')
		last--;
	REQUIRE(last > 100);
	for (size_t len = 0; len < last;
	     len += (len < 400 || len + 400 >= last) ? 1 : 13) {
		struct k8s_pods *t = NULL;
		char err[128] = "";
		int r = k8s_pods__parse((const char *)fixture.data, len, "node-a",
					&t, err, sizeof(err));

		if (r != -EBADMSG || t) {
			if (!wrong)
				fprintf(stderr, "prefix of %zu bytes: %d\n", len, r);
			wrong++;
			k8s_pods__free(t);
		}
		if (!err[0])
			silent++;
	}
	CHECK_INT(wrong, ==, 0);
	CHECK_INT(silent, ==, 0);

	REQUIRE(buf_append(&copy, fixture.data, fixture.len) == 0);
	for (int round = 0; round < 1000; round++) {
		struct k8s_pods *t = NULL;
		size_t pos;
		uint8_t saved;
		int r;

		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		pos = (size_t)(seed >> 33) % copy.len;
		saved = copy.data[pos];
		copy.data[pos] = (uint8_t)(seed >> 16);
		r = k8s_pods__parse((const char *)copy.data, copy.len, "node-a",
				    &t, NULL, 0);
		if (r == 0 && t)
			flips_ok++;
		else if (r == -EBADMSG && !t)
			flips_bad++;
		k8s_pods__free(t);
		copy.data[pos] = saved;
	}
	/* most flips land in strings and still parse; those in structure not */
	CHECK_INT(flips_ok + flips_bad, ==, 1000);
	CHECK(flips_ok > 0 && flips_bad > 0);
	buf_release(&copy);
}

/* ---- the poller against fake-kube-api.py ------------------------------- */

struct server {
	pid_t pid;
	int port;
};

static char server_fixture[128], server_token[128], client_token[128],
	ready_file[128], request_log[128], stderr_file[128];

static void write_file_atomic(const char *path, const char *text)
{
	char tmp[160];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	REQUIRE(f);
	REQUIRE(fputs(text, f) >= 0);
	REQUIRE(fclose(f) == 0);
	REQUIRE(rename(tmp, path) == 0);
}

static int read_port(void)
{
	struct buf b = { 0 };
	int port = -1;

	if (buf_read_file(ready_file, &b, 64) == 0 && b.len)
		port = atoi((char *)b.data);
	buf_release(&b);
	return port;
}

/* port 0: a free one. mode: ok, garbage, 500, slow. cert and key: serve
 * HTTPS with them (NULL: plain HTTP). */
static struct server start_server_tls(int port, const char *mode, const char *cert,
				      const char *key)
{
	char port_arg[16];
	const char *argv[] = {
		python, server_script, "--fixture", server_fixture,
		"--port", port_arg, "--ready-file", ready_file,
		"--token-file", server_token, "--mode", mode,
		"--slow-seconds", "30", "--request-log", request_log,
		cert ? "--tls-cert" : NULL, cert, "--tls-key", key, NULL,
	};
	struct server s = { -1, -1 };
	int err;

	snprintf(port_arg, sizeof(port_arg), "%d", port);
	unlink(ready_file);
	err = posix_spawn(&s.pid, python, NULL, NULL, (char *const *)argv, environ);
	REQUIRE(err == 0);
	REQUIRE(WAIT_FOR(access(ready_file, F_OK) == 0, 10000));
	s.port = read_port();
	REQUIRE(s.port > 0);
	return s;
}

static struct server start_server(int port, const char *mode)
{
	return start_server_tls(port, mode, NULL, NULL);
}

static void stop_server(struct server *s, int sig)
{
	if (s->pid <= 0)
		return;
	kill(s->pid, sig);
	waitpid(s->pid, NULL, 0);
	s->pid = -1;
}

static struct k8s_stats stats_of(struct k8s *k)
{
	struct k8s_stats st;

	k8s__stats(k, &st);
	return st;
}

static uint64_t successes(struct k8s *k)
{
	struct k8s_stats st = stats_of(k);

	return st.polls - st.failures;
}

static bool lookup_ok(struct k8s *k, const char *uid, const char *cid,
		      const char *label, const char *want)
{
	struct labels ls = { 0 };
	bool ok = k8s__lookup(k, uid, cid, &ls) == 0 &&
		  labels__get(&ls, label) && strcmp(labels__get(&ls, label), want) == 0;

	labels__clear(&ls);
	return ok;
}

static void check_sums(struct k8s *k)
{
	struct k8s_stats st = stats_of(k);

	CHECK_U64(st.failures, ==, st.failures_connect + st.failures_http +
		  st.failures_parse + st.failures_too_large);
}

struct logged {
	double t;
	int status;
	char token[64], accept[64], path[160];
	int gzip;
};

/* The fake server's request log, oldest first; returns how many. */
static size_t read_request_log(struct logged *out, size_t max)
{
	FILE *f = fopen(request_log, "re");
	char line[512];
	size_t n = 0;

	if (!f)
		return 0;
	while (n < max && fgets(line, sizeof(line), f)) {
		struct logged *l = &out[n];

		if (sscanf(line, "t=%lf status=%d token=%63s accept=%63s gzip=%d path=%159s",
			   &l->t, &l->status, l->token, l->accept, &l->gzip, l->path) == 6)
			n++;
	}
	fclose(f);
	return n;
}

/* A fixture with one pod more, as if the scheduler had just bound it. */
static void add_pod_to_server_fixture(void)
{
	struct json_object *doc = json_tokener_parse((const char *)fixture.data);
	struct json_object *items, *pod = NULL, *meta, *status, *statuses, *cs;

	REQUIRE(doc && json_object_object_get_ex(doc, "items", &items));
	REQUIRE(json_object_deep_copy(json_object_array_get_idx(items, 1), &pod, NULL) == 0);
	REQUIRE(json_object_object_get_ex(pod, "metadata", &meta));
	json_object_object_add(meta, "uid", json_object_new_string(UID_NEW));
	json_object_object_add(meta, "name", json_object_new_string("redis-1"));
	REQUIRE(json_object_object_get_ex(pod, "status", &status));
	REQUIRE(json_object_object_get_ex(status, "containerStatuses", &statuses));
	cs = json_object_array_get_idx(statuses, 0);
	json_object_object_add(cs, "containerID",
			       json_object_new_string("docker://" ID_NEW));
	json_object_array_add(items, pod);
	write_file_atomic(server_fixture,
			  json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN));
	json_object_put(doc);
}

static int redirect_stderr(void)
{
	int saved = dup(STDERR_FILENO);
	int fd = open(stderr_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	REQUIRE(saved >= 0 && fd >= 0);
	fflush(stderr);
	dup2(fd, STDERR_FILENO);
	close(fd);
	return saved;
}

/* Puts stderr back and returns what was written meanwhile (echoed). */
static void restore_stderr(int saved, struct buf *captured)
{
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	buf_reset(captured);
	REQUIRE(buf_read_file(stderr_file, captured, 1 << 20) == 0);
	fprintf(stderr, "--- captured log ---\n%s--- end ---\n", (char *)captured->data);
}

static int count_of(const struct buf *b, const char *needle)
{
	int n = 0;

	for (const char *p = (const char *)b->data; p && (p = strstr(p, needle)); p++)
		n++;
	return n;
}

static void make_opts(struct k8s_opts *o, char *url, size_t urlsz, int port)
{
	snprintf(url, urlsz, "http://127.0.0.1:%d/", port);
	memset(o, 0, sizeof(*o));
	o->api_url = url;
	o->token_file = client_token;
	o->node = "node-a";
}

/* First list, lookups, early re-lists on misses (and their bounds). */
static void test_live_lists(struct server *srv)
{
	struct k8s_opts o;
	struct k8s *k = NULL;
	struct k8s_stats st;
	struct logged log[64];
	char url[64];
	size_t n;
	double t0;

	make_opts(&o, url, sizeof(url), srv->port);
	o.poll_interval_ms = 60000;
	o.timeout_ms = 5000;
	o.early_spacing_ms = 400;
	t0 = now_s();
	REQUIRE(k8s__new(&o, &k) == 0);
	/* never blocks on the network */
	CHECK(now_s() - t0 < 0.2);
	REQUIRE(WAIT_FOR(stats_of(k).ever_succeeded, 10000));
	st = stats_of(k);
	CHECK_U64(st.polls, ==, 1);
	CHECK_U64(st.failures, ==, 0);
	CHECK_U64(st.generation, ==, 1);
	CHECK_U64(st.pods, ==, 5);
	CHECK_U64(st.early_polls, ==, 0);
	CHECK(lookup_ok(k, UID_CHECKOUT, "containerd://" ID_CHECKOUT, "container", "checkout"));
	CHECK(lookup_ok(k, UID_REDIS, ID_REDIS, P "controller_kind", "StatefulSet"));
	CHECK(lookup_ok(k, HASH_PROXY, ID_PROXY, "pod", "kube-proxy-node-a"));
	{
		struct labels ls = { 0 };

		CHECK_INT(k8s__lookup(k, "no-uid", NULL, &ls), ==, -EINVAL);
		CHECK_INT(k8s__lookup(k, UID_NODE_B, NULL, &ls), ==, -ENOENT);
		CHECK_INT(ls.n, ==, 0);
	}
	/* the miss on UID_NODE_B (the server filters it out) lists again */
	CHECK(WAIT_FOR(stats_of(k).polls == 2, 5000));
	st = stats_of(k);
	CHECK_U64(st.early_polls, ==, 1);
	CHECK_U64(st.generation, ==, 1);  /* nothing changed */

	/* a new pod: the miss brings the list forward and finds it */
	add_pod_to_server_fixture();
	CHECK(!lookup_ok(k, UID_NEW, ID_NEW, "pod", "redis-1"));
	CHECK(WAIT_FOR(lookup_ok(k, UID_NEW, ID_NEW, "container", "redis"), 5000));
	st = stats_of(k);
	CHECK_U64(st.polls, ==, 3);
	CHECK_U64(st.early_polls, ==, 2);
	CHECK_U64(st.generation, ==, 2);
	CHECK_U64(st.pods, ==, 6);

	/* a container the pod does not list (yet) also lists early */
	CHECK(lookup_ok(k, UID_REDIS, ID_NEW, "pod", "redis-0"));
	CHECK(WAIT_FOR(stats_of(k).polls == 4, 5000));
	/* a uid that never appears: MISS_EARLY_POLLS (3) lists, then no more;
	 * UID_UNKNOWN asks once per completed list */
	for (int i = 0; i < 3; i++) {
		uint64_t before = stats_of(k).polls;
		struct labels ls = { 0 };

		CHECK_INT(k8s__lookup(k, UID_UNKNOWN, NULL, &ls), ==, -ENOENT);
		CHECK_INT(k8s__lookup(k, UID_UNKNOWN, NULL, &ls), ==, -ENOENT);
		CHECK(WAIT_FOR(stats_of(k).polls == before + 1, 5000));
	}
	{
		struct labels ls = { 0 };
		uint64_t before = stats_of(k).polls;

		CHECK_INT(k8s__lookup(k, UID_UNKNOWN, NULL, &ls), ==, -ENOENT);
		sleep_ms(1200);
		CHECK_U64(stats_of(k).polls, ==, before);
	}
	st = stats_of(k);
	CHECK_U64(st.polls, ==, 7);
	CHECK_U64(st.early_polls, ==, 6);
	CHECK_U64(st.failures, ==, 0);
	check_sums(k);
	k8s__free(k);

	/* what went over the wire, and how often */
	n = read_request_log(log, ARRAY_SIZE(log));
	CHECK_INT(n, ==, 7);
	for (size_t i = 0; i < n; i++) {
		CHECK_INT(log[i].status, ==, 200);
		CHECK_STR(log[i].path, "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a"
				       "&resourceVersion=0");
		CHECK_STR(log[i].token, "tok-1");
		CHECK_STR(log[i].accept, "application/json");
		CHECK_INT(log[i].gzip, ==, 1);
		/* arrival times: 400 ms apart, less the jitter of a connect */
		if (i)
			CHECK(log[i].t - log[i - 1].t >= 0.3);
	}
}

/* Failures of every kind, the cached table meanwhile, token rotation, what
 * is logged, and a prompt k8s__free with a request in flight. */
static void test_live_failures(struct server *srv)
{
	struct k8s_opts o;
	struct k8s *k = NULL;
	struct k8s_stats st, ok_st;
	struct logged log[256];
	struct buf captured = { 0 };
	uint64_t before, gen;
	char url[64];
	int saved_stderr;
	size_t n;
	double t0;

	make_opts(&o, url, sizeof(url), srv->port);
	o.poll_interval_ms = 150;
	o.timeout_ms = 800;
	REQUIRE(k8s__new(&o, &k) == 0);
	REQUIRE(WAIT_FOR(stats_of(k).ever_succeeded, 10000));
	/* the interval alone keeps listing */
	CHECK(WAIT_FOR(stats_of(k).polls >= 3, 3000));
	ok_st = stats_of(k);
	gen = ok_st.generation;
	CHECK_U64(gen, ==, 1);
	CHECK_U64(ok_st.pods, ==, 6);

	/* a wrong token: 401, an http failure; lookups answer from the cache */
	write_file_atomic(client_token, "wrong\n");
	CHECK(WAIT_FOR(stats_of(k).failures_http >= 1, 5000));
	CHECK(lookup_ok(k, UID_CHECKOUT, ID_CHECKOUT, "container", "checkout"));
	/* the token rotates on both sides: the new one is read and accepted */
	write_file_atomic(server_token, "tok-2\n");
	write_file_atomic(client_token, "tok-2\n");
	before = successes(k);
	CHECK(WAIT_FOR(successes(k) > before + 1, 5000));
	n = read_request_log(log, ARRAY_SIZE(log));
	REQUIRE(n > 0);
	CHECK_STR(log[n - 1].token, "tok-2");
	CHECK_INT(log[n - 1].status, ==, 200);
	{
		bool saw_401 = false;

		for (size_t i = 0; i < n; i++)
			if (log[i].status == 401 && strcmp(log[i].token, "wrong") == 0)
				saw_401 = true;
		CHECK(saw_401);
	}

	/* garbage: a parse failure; the old table stays */
	stop_server(srv, SIGTERM);
	*srv = start_server(srv->port, "garbage");
	before = stats_of(k).failures_parse;
	CHECK(WAIT_FOR(stats_of(k).failures_parse >= before + 2, 5000));
	st = stats_of(k);
	CHECK_U64(st.pods, ==, 6);
	CHECK_U64(st.generation, ==, gen);
	CHECK(lookup_ok(k, UID_NEW, ID_NEW, "container", "redis"));

	/* 500: an http failure */
	stop_server(srv, SIGTERM);
	*srv = start_server(srv->port, "500");
	before = stats_of(k).failures_http;
	CHECK(WAIT_FOR(stats_of(k).failures_http >= before + 2, 5000));

	/* killed, then hanging: connect failures (refused, then timed out),
	 * logged once for the whole streak, lookups from the cache */
	saved_stderr = redirect_stderr();
	stop_server(srv, SIGKILL);
	before = stats_of(k).failures_connect;
	CHECK(WAIT_FOR(stats_of(k).failures_connect >= before + 3, 5000));
	CHECK(lookup_ok(k, UID_API, "cri-o://" ID_DEBUGGER, "container", "debugger-8xk2p"));
	*srv = start_server(srv->port, "slow");
	before = stats_of(k).failures_connect;
	CHECK(WAIT_FOR(stats_of(k).failures_connect >= before + 2, 5000));
	CHECK(lookup_ok(k, UID_REDIS, ID_REDIS, "pod", "redis-0"));
	stop_server(srv, SIGTERM);

	/* back: one more line, and nothing changed */
	*srv = start_server(srv->port, "ok");
	before = successes(k);
	CHECK(WAIT_FOR(successes(k) > before, 5000));
	restore_stderr(saved_stderr, &captured);
	CHECK_INT(count_of(&captured, "kubernetes API server unreachable (http://127.0.0.1:"), ==, 1);
	CHECK_INT(count_of(&captured, "keeping the last pod list (6 pods)"), ==, 1);
	CHECK_INT(count_of(&captured, "kubernetes pod list available again: 6 pods on node 'node-a'"), ==, 1);
	CHECK_INT(count_of(&captured, "warning:"), ==, 1);
	st = stats_of(k);
	CHECK_U64(st.generation, ==, gen);
	CHECK(st.failures_connect > 0 && st.failures_http > 0 && st.failures_parse > 0);
	CHECK_U64(st.failures_too_large, ==, 0);
	check_sums(k);
	k8s__free(k);
	buf_release(&captured);

	/* k8s__free does not wait out a request in flight */
	stop_server(srv, SIGTERM);
	*srv = start_server(srv->port, "slow");
	o.timeout_ms = 20000;
	REQUIRE(k8s__new(&o, &k) == 0);
	sleep_ms(300);
	CHECK_U64(stats_of(k).polls, ==, 0);
	t0 = now_s();
	k8s__free(k);
	CHECK(now_s() - t0 < 0.5);
	stop_server(srv, SIGTERM);
	*srv = start_server(srv->port, "ok");
}

/* Never reached: the spec'd warning; over the size bound; no token. */
static void test_live_misc(struct server *srv)
{
	struct k8s_opts o;
	struct k8s *k = NULL;
	struct k8s_stats st;
	struct buf captured = { 0 };
	struct logged log[256];
	char url[64], missing_token[160];
	int saved_stderr, fd;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	size_t n;

	/* a port nobody listens on: bound, never listened, closed after */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	REQUIRE(fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	REQUIRE(getsockname(fd, (struct sockaddr *)&sin, &len) == 0);
	make_opts(&o, url, sizeof(url), ntohs(sin.sin_port));
	o.poll_interval_ms = 100;
	saved_stderr = redirect_stderr();
	REQUIRE(k8s__new(&o, &k) == 0);
	CHECK(WAIT_FOR(stats_of(k).failures_connect >= 3, 5000));
	restore_stderr(saved_stderr, &captured);
	close(fd);
	CHECK_INT(count_of(&captured, "kubernetes API server unreachable ("), ==, 1);
	CHECK_INT(count_of(&captured, "): profiles carry cgroup-derived labels only"), ==, 1);
	st = stats_of(k);
	CHECK(!st.ever_succeeded);
	CHECK_U64(st.generation, ==, 0);
	CHECK_U64(st.pods, ==, 0);
	{
		struct labels ls = { 0 };

		CHECK_INT(k8s__lookup(k, UID_CHECKOUT, NULL, &ls), ==, -ENOENT);
	}
	check_sums(k);
	k8s__free(k);
	buf_release(&captured);

	/* a list over max_response_bytes */
	make_opts(&o, url, sizeof(url), srv->port);
	o.max_response_bytes = 4096;
	o.poll_interval_ms = 200;
	REQUIRE(k8s__new(&o, &k) == 0);
	CHECK(WAIT_FOR(stats_of(k).failures_too_large >= 1, 5000));
	st = stats_of(k);
	CHECK(!st.ever_succeeded);
	CHECK_U64(st.failures_parse, ==, 0);
	check_sums(k);
	k8s__free(k);

	/* no token file: no Authorization header, so a 401 */
	snprintf(missing_token, sizeof(missing_token), "%s/absent-token", tmpdir);
	make_opts(&o, url, sizeof(url), srv->port);
	o.token_file = missing_token;
	REQUIRE(k8s__new(&o, &k) == 0);
	CHECK(WAIT_FOR(stats_of(k).failures_http >= 1, 5000));
	k8s__free(k);
	n = read_request_log(log, ARRAY_SIZE(log));
	REQUIRE(n > 0);
	CHECK_STR(log[n - 1].token, "-");
	CHECK_INT(log[n - 1].status, ==, 401);

	/* bad options */
	memset(&o, 0, sizeof(o));
	CHECK_INT(k8s__new(&o, &k), ==, -EINVAL);
	o.api_url = "http://127.0.0.1:1";
	CHECK_INT(k8s__new(&o, &k), ==, -EINVAL);
	o.node = "";
	CHECK_INT(k8s__new(&o, &k), ==, -EINVAL);
	o.node = "node-a";
	o.api_url = "ftp://127.0.0.1:1";
	CHECK_INT(k8s__new(&o, &k), ==, -EINVAL);
	k8s__free(NULL);
}

/* Lines of the fake server's request log that contain needle. */
static int request_log_count(const char *needle)
{
	struct buf b = { 0 };
	int n;

	if (buf_read_file(request_log, &b, 1 << 20) != 0)
		return 0;
	n = count_of(&b, needle);
	buf_release(&b);
	return n;
}

/* Over HTTPS: the CA that signed the server's certificate lists pods; an
 * unrelated CA fails every poll as a connect failure, logged once with the
 * certificate problem, and never reaches the handler. */
static void test_live_tls(void)
{
	char certs[96], script[PATH_MAX], ca[128], other_ca[128], crt[128], key[128];
	char url[64], want[512];
	const char *argv[] = { "sh", script, certs, NULL };
	struct server srv;
	struct k8s_opts o;
	struct k8s *k = NULL;
	struct k8s_stats st;
	struct logged log[16];
	struct buf captured = { 0 };
	int saved_stderr, status;
	const char *slash = strrchr(server_script, '/');
	pid_t pid;

	/* make-test-certs.sh sits next to fake-kube-api.py */
	snprintf(script, sizeof(script), "%.*s/make-test-certs.sh",
		 slash ? (int)(slash - server_script) : 1, slash ? server_script : ".");
	snprintf(certs, sizeof(certs), "%s/certs", tmpdir);
	REQUIRE(posix_spawnp(&pid, "sh", NULL, NULL, (char *const *)argv, environ) == 0);
	REQUIRE(waitpid(pid, &status, 0) == pid);
	REQUIRE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	snprintf(ca, sizeof(ca), "%s/ca.crt", certs);
	snprintf(other_ca, sizeof(other_ca), "%s/other-ca.crt", certs);
	snprintf(crt, sizeof(crt), "%s/server.crt", certs);
	snprintf(key, sizeof(key), "%s/server.key", certs);
	write_file_atomic(server_fixture, (const char *)fixture.data);
	write_file_atomic(server_token, "tok-tls\n");
	write_file_atomic(client_token, "tok-tls\n");
	unlink(request_log);
	srv = start_server_tls(0, "ok", crt, key);

	make_opts(&o, url, sizeof(url), srv.port);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/", srv.port);
	o.ca_file = ca;
	o.poll_interval_ms = 100;
	REQUIRE(k8s__new(&o, &k) == 0);
	CHECK(WAIT_FOR(stats_of(k).ever_succeeded, 10000));
	st = stats_of(k);
	CHECK_U64(st.pods, ==, 5);
	CHECK_U64(st.failures, ==, 0);
	CHECK(lookup_ok(k, UID_CHECKOUT, "containerd://" ID_CHECKOUT, "container", "checkout"));
	k8s__free(k);
	CHECK(read_request_log(log, ARRAY_SIZE(log)) >= 1);
	CHECK_INT(log[0].status, ==, 200);
	CHECK_STR(log[0].token, "tok-tls");
	CHECK_INT(request_log_count("tls_error="), ==, 0);

	/* the wrong CA */
	unlink(request_log);
	o.ca_file = other_ca;
	saved_stderr = redirect_stderr();
	REQUIRE(k8s__new(&o, &k) == 0);
	CHECK(WAIT_FOR(stats_of(k).failures_connect >= 3, 5000));
	restore_stderr(saved_stderr, &captured);
	st = stats_of(k);
	CHECK(!st.ever_succeeded);
	CHECK_U64(st.pods, ==, 0);
	CHECK_U64(st.failures_http + st.failures_parse + st.failures_too_large, ==, 0);
	check_sums(k);
	k8s__free(k);
	snprintf(want, sizeof(want), "kubernetes API server unreachable (%s", url);
	CHECK_INT(count_of(&captured, want), ==, 1);
	snprintf(want, sizeof(want),
		 ": TLS: the server's certificate failed verification against the CA file '%s': "
		 "SSL certificate problem: ", other_ca);
	CHECK_INT(count_of(&captured, want), ==, 1);
	CHECK_INT(count_of(&captured, "): profiles carry cgroup-derived labels only"), ==, 1);
	CHECK_INT(count_of(&captured, "warning:"), ==, 1);
	/* the handshake failed, so no request was ever answered */
	CHECK_INT(read_request_log(log, ARRAY_SIZE(log)), ==, 0);
	/* the server logs each refused handshake on its own time: the
	 * client may have seen its third failure before the third line */
	CHECK(WAIT_FOR(request_log_count("tls_error=TLSV1_ALERT_UNKNOWN_CA") >= 3, 5000));
	buf_release(&captured);
	stop_server(&srv, SIGTERM);
}

static void test_live(void)
{
	struct server srv;
	char cmd[200];

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test-k8s-XXXXXX");
	REQUIRE(mkdtemp(tmpdir));
	snprintf(server_fixture, sizeof(server_fixture), "%s/pods.json", tmpdir);
	snprintf(server_token, sizeof(server_token), "%s/server-token", tmpdir);
	snprintf(client_token, sizeof(client_token), "%s/token", tmpdir);
	snprintf(ready_file, sizeof(ready_file), "%s/ready", tmpdir);
	snprintf(request_log, sizeof(request_log), "%s/requests.log", tmpdir);
	snprintf(stderr_file, sizeof(stderr_file), "%s/stderr", tmpdir);
	write_file_atomic(server_fixture, (const char *)fixture.data);
	write_file_atomic(server_token, "tok-1\n");
	write_file_atomic(client_token, "tok-1\n");

	srv = start_server(0, "ok");
	test_live_lists(&srv);
	unlink(request_log);
	test_live_failures(&srv);
	test_live_misc(&srv);
	stop_server(&srv, SIGTERM);
	test_live_tls();

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (!test_failures && system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
}

static void setup(void)
{
	if (test_argc != 4) {
		fprintf(stderr, "usage: %s PYTHON3 FAKE_KUBE_API_PY PODS_JSON\n", test_argv[0]);
		exit(2);
	}
	python = test_argv[1];
	server_script = test_argv[2];
	fixture_path = test_argv[3];
	/* a server killed mid-reply must not kill the test */
	signal(SIGPIPE, SIG_IGN);
	REQUIRE(buf_read_file(fixture_path, &fixture, 1 << 20) == 0);
}

static void teardown(void)
{
	buf_release(&fixture);
}

TEST_MAIN(setup, teardown,
	  TEST_CASE(canonical_uid),
	  TEST_CASE(in_cluster_url),
	  TEST_CASE(parse_fixture),
	  TEST_CASE(parse_edge_cases),
	  TEST_CASE(parse_truncated),
	  TEST_CASE(live))
