"""Labels (issue 4): a systemd unit's, a containerd container's and a
Kubernetes pod's (from a fake API server, answering or not), relabeling
that keeps one process, and thread labels."""
import os
import re
import socket
import time

from harness import (TMP, WORKLOADS, Agent, Cgroup, FakeKubeAPI, capture, check, check_all_labeled,
                     cpu_seconds, integration_test, label_values, pprof_raw_samples, profile_labels,
                     promtool_check, workload)


@integration_test()
def t_labels_systemd():
    w = workload("fp_chain", 10)
    try:
        with Cgroup("brasa-test.slice/brasa-demo.service") as cg:
            cg.add(w.pid)
            print(open(f"/proc/{w.pid}/cgroup").read())
            agent = Agent()
            try:
                samples = profile_labels(agent, f"seconds=2&pid={w.pid}", "systemd")
            finally:
                agent.stop()
        check_all_labeled(samples, "systemd_unit", "brasa-demo.service")
        check_all_labeled(samples, "systemd_slice", "brasa-test.slice")
        check_all_labeled(samples, "service_name", "brasa-demo.service")
        check_all_labeled(samples, "cgroup", "/brasa-test.slice/brasa-demo.service")
        check_all_labeled(samples, "node", socket.gethostname())
        check_all_labeled(samples, "comm", "fp_chain")
        check_all_labeled(samples, "executable", os.path.realpath(os.path.join(WORKLOADS, "fp_chain")))
        build_id = label_values(samples, "build_id")
        check(len(build_id) == 1 and re.fullmatch(r"[0-9a-f]{40}", next(iter(build_id)) or ""),
              f"the executable's GNU build id ({build_id})")
        check(all("container_id" not in l for _, l in samples), "no container id outside containers")
    finally:
        w.kill()
        w.wait()


POD_UID = "0f5c2ad4-9b1e-4c3a-8f5e-2b7d9e6a1c30"
CONTAINER_ID = "6c1f3e0b2a9d4c8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e"


def kube_api(node, token, mode="ok"):
    """The fake API server with this test's pod on node, and another
    node's."""
    pod = {
        "metadata": {"name": "checkout-7d9f", "namespace": "payments", "uid": POD_UID,
                     "labels": {"app": "checkout", "app.kubernetes.io/version": "1.2"}},
        "spec": {"nodeName": node, "containers": [{"name": "server"}]},
        "status": {"phase": "Running", "containerStatuses": [
            {"name": "server", "containerID": f"containerd://{CONTAINER_ID}"}]},
    }
    other = {
        "metadata": {"name": "elsewhere", "namespace": "default",
                     "uid": "11111111-2222-3333-4444-555555555555"},
        "spec": {"nodeName": "another-node"},
        "status": {"phase": "Running"},
    }
    return FakeKubeAPI([pod, other], token, mode)


def containerd_cgroup():
    """The cgroup kubelet's systemd driver gives a containerd container."""
    return ("kubepods.slice/kubepods-besteffort.slice/"
            f"kubepods-besteffort-pod{POD_UID.replace('-', '_')}.slice/"
            f"cri-containerd-{CONTAINER_ID}.scope")


@integration_test()
def t_labels_containerd():
    w = workload("fp_chain", 10)
    try:
        with Cgroup(containerd_cgroup()) as cg:
            cg.add(w.pid)
            agent = Agent()
            try:
                samples = profile_labels(agent, f"seconds=2&pid={w.pid}", "containerd")
            finally:
                agent.stop()
        check_all_labeled(samples, "container_id", CONTAINER_ID)
        check_all_labeled(samples, "pod_uid", POD_UID)
        check_all_labeled(samples, "systemd_slice", f"kubepods-besteffort-pod{POD_UID.replace('-', '_')}.slice")
        # no API server: the service is named after the process
        check_all_labeled(samples, "service_name", "fp_chain")
        check(all("systemd_unit" not in l for _, l in samples),
              "a container's own scope is not reported as its systemd unit")
    finally:
        w.kill()
        w.wait()


@integration_test()
def t_labels_kubernetes():
    node = "brasa-test-node"
    api = kube_api(node, "s3cret")
    config = os.path.join(TMP, "brasa.yaml")
    open(config, "w").write(
        "relabel_configs:\n"
        "  - source_labels: [__meta_kubernetes_pod_label_app]\n"
        "    target_label: app\n")
    w = workload("fp_chain", 12)
    try:
        with Cgroup(containerd_cgroup()) as cg:
            cg.add(w.pid)
            agent = Agent("--config", config, "--node", node, "--kubernetes-api-url", api.url,
                          "--kubernetes-token-file", api.token_file)
            try:
                time.sleep(1)
                samples = profile_labels(agent, f"seconds=2&pid={w.pid}", "k8s")
                metrics = agent.metrics()
            finally:
                agent.stop()
        for name, want in [("namespace", "payments"), ("pod", "checkout-7d9f"),
                           ("container", "server"), ("service_name", "payments/server"),
                           ("app", "checkout"), ("node", node), ("container_id", CONTAINER_ID),
                           ("pod_uid", POD_UID)]:
            check_all_labeled(samples, name, want)
        check(all(not k.startswith("__") for _, l in samples for k in l),
              "discovery-only __meta_* labels are dropped after relabeling")
        reqs = api.requests()
        print("\n".join(reqs[:3]))
        check(reqs and all("token=s3cret" in r for r in reqs) and
              all("spec.nodeName" in r and node in r for r in reqs),
              "the agent lists the pods of its node with the bearer token")
        check(re.search(r"^brasa_kubernetes_up 1$", metrics, re.M), "metrics say the API server answered")
        promtool_check(metrics, "/metrics with the Kubernetes client")
    finally:
        w.kill()
        w.wait()
        api.stop()


@integration_test()
def t_labels_kubernetes_down():
    # a garbage-answering API server, then none at all: profiling goes on
    api = kube_api("n", "t", mode="garbage")
    w = workload("fp_chain", 8)
    try:
        with Cgroup(containerd_cgroup()) as cg:
            cg.add(w.pid)
            agent = Agent("--node", "n", "--kubernetes-api-url", api.url,
                          "--kubernetes-token-file", api.token_file,
                          "--kubernetes-poll-interval", "1s")
            try:
                time.sleep(1)
                samples = profile_labels(agent, f"seconds=2&pid={w.pid}", "k8sdown")
                api.stop()
                samples2 = profile_labels(agent, f"seconds=2&pid={w.pid}", "k8sdown2")
                metrics = agent.metrics()
                out = agent.output()
            finally:
                agent.stop()
        check(sum(c for c, _ in samples) > 50 and sum(c for c, _ in samples2) > 50,
              "profiles keep coming with the API server answering garbage, then gone")
        check_all_labeled(samples2, "container_id", CONTAINER_ID)
        check(all("namespace" not in l for _, l in samples + samples2), "no Kubernetes labels without a pod list")
        parse = re.search(r'^brasa_kubernetes_failures_total\{reason="parse"\} (\d+)', metrics, re.M)
        conn = re.search(r'^brasa_kubernetes_failures_total\{reason="connect"\} (\d+)', metrics, re.M)
        print(metrics[metrics.find("brasa_kubernetes"):][:600])
        check(parse and int(parse.group(1)) >= 1, "garbage answers are counted as parse failures")
        check(conn and int(conn.group(1)) >= 1, "a dead API server is counted as connect failures")
        check(out.count("kubernetes API server") >= 1, f"the log says so: {out[-400:]}")
    finally:
        w.kill()
        w.wait()
        api.stop()


@integration_test(plain=True)
def t_relabel_keep():
    config = os.path.join(TMP, "keep.yaml")
    open(config, "w").write(
        "relabel_configs:\n"
        "  - source_labels: [comm]\n"
        "    regex: spinner\n"
        "    action: keep\n")
    spinner = workload("spinner", 10)
    other = workload("fp_chain", 10)
    try:
        agent = Agent("--config", config)
        try:
            time.sleep(0.5)
            before = cpu_seconds(spinner.pid)
            samples = profile_labels(agent, "seconds=3", "keep")
            used = cpu_seconds(spinner.pid) - before
            metrics = agent.metrics()
        finally:
            agent.stop()
        comms = label_values(samples, "comm")
        print(comms)
        got = comms.get("spinner", 0)
        check(got > 30 and got >= 0.8 * 99 * used,
              f"the spinner is profiled ({got} samples for {used:.2f} CPU s)")
        check(set(comms) == {"spinner"}, f"only the spinner is profiled ({sorted(comms)})")
        dropped = re.search(r"^brasa_relabel_dropped_samples_total (\d+)", metrics, re.M)
        check(dropped and int(dropped.group(1)) > 150,
              f"the other processes' samples are counted as dropped ({dropped and dropped.group(1)})")
        procs = re.search(r"^brasa_relabel_dropped_processes_total (\d+)", metrics, re.M)
        check(procs and int(procs.group(1)) >= 1, "dropped processes are counted")
    finally:
        for p in (spinner, other):
            p.kill()
            p.wait()


@integration_test()
def t_thread_labels():
    w = workload("fp_chain", 60)
    try:
        agent = Agent()
        try:
            samples = profile_labels(agent, f"seconds=2&pid={w.pid}", "thr")
        finally:
            agent.stop()
        check(samples and all(l.get("thread_id") == str(w.pid) and l.get("thread_name") == "fp_chain"
                              for _, l in samples), "samples carry thread_id and thread_name")
        agent = Agent("--no-thread-labels")
        try:
            samples = profile_labels(agent, f"seconds=2&pid={w.pid}", "nothr")
        finally:
            agent.stop()
        check(samples and all("thread_id" not in l and "thread_name" not in l for _, l in samples),
              "--no-thread-labels leaves them out")
        # brasa capture's profiles carry the endpoint's labels, and the same option
        for extra, want in (((), True), (("--no-thread-labels",), False)):
            path = os.path.join(TMP, f"cap{len(extra)}.pb.gz")
            capture("--seconds", "2", "--pid", str(w.pid), "-o", path, *extra)
            samples = pprof_raw_samples(path)
            ok = [l.get("comm") == "fp_chain" and l.get("pid") == str(w.pid)
                  and (l.get("thread_id") == str(w.pid) and l.get("thread_name") == "fp_chain"
                       if want else "thread_id" not in l and "thread_name" not in l)
                  for _, l in samples]
            check(samples and all(ok),
                  f"brasa capture {' '.join(extra)}: thread labels {'on' if want else 'off'}, "
                  f"comm and pid on every sample ({samples[:2]})")
    finally:
        w.kill()
        w.wait()
