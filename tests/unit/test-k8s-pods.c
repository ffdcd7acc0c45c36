/* k8s_pods: the PodList parser on a realistic fixture (every label,
 * runtime prefixes, init/ephemeral/restarted containers, a pending pod, a
 * static pod's mirror, sanitized names), malformed and truncated input, and
 * pod uids in every spelling.
 *
 * argv: fixtures/k8s/pods.json
 */
#include "labels/k8s_pods.h"

#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/labels.h"
#include "common/macros.h"
#include "k8s-fixture.h"
#include "testing.h"

static struct buf fixture;

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

	CHECK_INT(k8s_pods__canonical_uid(UID_CHECKOUT, out), ==, 0);
	CHECK_STR(out, UID_CHECKOUT);
	CHECK_INT(k8s_pods__canonical_uid("3F1C2A9E-8B7D-4C6E-9A1F-2B3C4D5E6F70", out), ==, 0);
	CHECK_STR(out, UID_CHECKOUT);
	CHECK_INT(k8s_pods__canonical_uid("3f1c2a9e_8b7d_4c6e_9a1f_2b3c4d5e6f70", out), ==, 0);
	CHECK_STR(out, UID_CHECKOUT);
	CHECK_INT(k8s_pods__canonical_uid("3f1c2a9e8b7d4c6e9a1f2b3c4d5e6f70", out), ==, 0);
	CHECK_STR(out, UID_CHECKOUT);
	CHECK_INT(k8s_pods__canonical_uid("3f1c2a9e-8b7d_4c6e-9a1f-2b3c4d5e6f70", out), ==, -EINVAL);
	CHECK_INT(k8s_pods__canonical_uid("3f1c2a9e-8b7d-4c6e-9a1f-2b3c4d5e6f7", out), ==, -EINVAL);
	CHECK_INT(k8s_pods__canonical_uid("3f1c2a9e-8b7d-4c6e-9a1f-2b3c4d5e6f700", out), ==, -EINVAL);
	CHECK_INT(k8s_pods__canonical_uid("3f1c2a9e-8b7d-4c6e-9a1f-2b3c4d5e6fzz", out), ==, -EINVAL);
	CHECK_INT(k8s_pods__canonical_uid("3f1c2a9e8-b7d-4c6e-9a1f-2b3c4d5e6f70", out), ==, -EINVAL);
	CHECK_INT(k8s_pods__canonical_uid("", out), ==, -EINVAL);
	CHECK_INT(k8s_pods__canonical_uid(NULL, out), ==, -EINVAL);
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

static void setup(void)
{
	const char *path;

	TEST_ARGS("PODS_JSON", &path);
	REQUIRE(buf_read_file(path, &fixture, 1 << 20) == 0);
}

static void teardown(void)
{
	buf_release(&fixture);
}

TEST_MAIN(setup, teardown,
	  TEST_CASE(canonical_uid),
	  TEST_CASE(parse_fixture),
	  TEST_CASE(parse_edge_cases),
	  TEST_CASE(parse_truncated))
