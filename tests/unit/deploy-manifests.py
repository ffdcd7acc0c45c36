#!/usr/bin/env python3
"""deploy/kubernetes/ checked offline: every object of daemonset.yaml and
podmonitor.yaml validated against the Kubernetes API schemas of the npm
package kubernetes-models (and the Prometheus Operator's for the
PodMonitor), installed into the test cache the first time
(tests/tools/k8s-validate.mjs); then what the schemas cannot see: the
container's command line is `brasa run` with options that exist, its
--config file is where the ConfigMap is mounted and that file passes
`brasa check --config`; every file the configuration names is inside a
mounted volume; the ports the probes, the Service and the PodMonitor
name exist and match http.address.

    deploy-manifests.py BRASA SRC_ROOT"""
import json
import os
import re
import subprocess
import sys
import tempfile

brasa, root = sys.argv[1:3]
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(root, "tests", "tools"))
import testlib  # noqa: E402

K8S = os.path.join(root, "deploy", "kubernetes")
PACKAGES = ["kubernetes-models@4.5.1", "@kubernetes-models/prometheus-operator@6.0.0",
            "js-yaml@4.1.0"]
problems = []

try:
    modules = testlib.npm_install("k8s-models", PACKAGES)
except RuntimeError as e:
    print(f"FAIL: {e}")
    sys.exit(1)
r = subprocess.run(["node", os.path.join(root, "tests", "tools", "k8s-validate.mjs"), modules,
                    os.path.join(K8S, "daemonset.yaml"), os.path.join(K8S, "podmonitor.yaml")],
                   capture_output=True, text=True, timeout=120)
objects = []
for line in r.stdout.splitlines():
    if line.startswith("JSON: "):
        objects = json.loads(line[6:])
    else:
        print(line)
if r.returncode != 0:
    problems.append(f"schema validation failed (exit {r.returncode}) {r.stderr.strip()[-400:]}")

by_kind = {}
for o in objects:
    by_kind.setdefault(o["kind"], []).append(o)
for kind in ("DaemonSet", "ConfigMap", "Service", "PodMonitor", "ServiceAccount", "ClusterRole"):
    if kind not in by_kind:
        problems.append(f"no {kind} in the manifests")
if problems:
    for p in problems:
        print("FAIL: " + p)
    sys.exit(1)

ds = by_kind["DaemonSet"][0]
pod = ds["spec"]["template"]["spec"]
c = pod["containers"][0]
cm = by_kind["ConfigMap"][0]
args = c.get("args", [])
if args[:1] != ["run"] or "--config" not in args:
    problems.append(f"the container does not run `brasa run --config FILE`: {args}")
help_text = subprocess.run([brasa, "run", "--help"], capture_output=True, text=True).stdout
for a in args:
    if a.startswith("-") and not re.search(r"(^|[\s,])" + re.escape(a) + r"[\s,=]", help_text, re.M):
        problems.append(f"the container's option {a} is not one of `brasa run --help`")
for ref in re.findall(r"\$\((\w+)\)", " ".join(args)):
    if ref not in {e["name"] for e in c.get("env", [])}:
        problems.append(f"the command line refers to $({ref}), which the container's env does not set")

# mounts: path -> volume
volumes = {v["name"]: v for v in pod.get("volumes", [])}
mounts = [(m["mountPath"].rstrip("/"), volumes.get(m["name"])) for m in c.get("volumeMounts", [])]
for m in c.get("volumeMounts", []):
    if m["name"] not in volumes:
        problems.append(f"volumeMount {m['name']} has no volume")


def volume_of(path):
    best = None
    for mp, v in mounts:
        if path.startswith(mp + "/") and (not best or len(mp) > len(best[0])):
            best = (mp, v)
    return best


config_path = args[args.index("--config") + 1] if "--config" in args else ""
mv = volume_of(config_path)
if not mv or not mv[1] or mv[1].get("configMap", {}).get("name") != cm["metadata"]["name"] \
        or os.path.relpath(config_path, mv[0]) not in cm["data"]:
    problems.append(f"--config {config_path} is not a key of ConfigMap {cm['metadata']['name']} "
                    f"mounted there ({mv})")
config = cm["data"].get(os.path.relpath(config_path, mv[0]) if mv else "", "")
with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
    f.write(config)
    f.flush()
    r = subprocess.run([brasa, "check", "--config", f.name], capture_output=True, text=True)
    print(f"brasa check --config (the ConfigMap's file): exit {r.returncode}: {(r.stdout + r.stderr).strip()}")
    if r.returncode != 0:
        problems.append("the shipped configuration fails brasa check --config")
# files and directories the configuration names must be in a volume
for key, path in re.findall(r"^\s*(\w*(?:_file|_dir|dir)):\s*(/\S+)", config, re.M):
    if not volume_of(path + ("/x" if key.endswith("dir") else "")):
        problems.append(f"{key}: {path} is in no volume of the container")

# ports: the container's named port is http.address's, and everything names it
addr = re.search(r"^\s*address:\s*(\S+)", config, re.M)
port = int(addr.group(1).rsplit(":", 1)[1]) if addr else 7071
names = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
if names.get("http") != port:
    problems.append(f"the container's port http is {names.get('http')}, http.address listens on {port}")
for probe in ("livenessProbe", "readinessProbe"):
    g = c.get(probe, {}).get("httpGet", {})
    if g.get("port") not in names or g.get("path") != "/healthz":
        problems.append(f"{probe} does not GET /healthz on a named port of the container ({g})")
    if ("tls" in config) != (g.get("scheme") == "HTTPS"):
        problems.append(f"{probe} scheme {g.get('scheme')} does not match the endpoint's TLS")
svc = by_kind["Service"][0]
if svc["spec"].get("selector") != ds["spec"]["selector"]["matchLabels"]:
    problems.append("the Service does not select the DaemonSet's pods")
for p in svc["spec"]["ports"]:
    if p.get("targetPort") not in names and p.get("targetPort") != port:
        problems.append(f"Service port {p} targets no port of the container")
pm = by_kind["PodMonitor"][0]
for e in pm["spec"]["podMetricsEndpoints"]:
    if e.get("port") not in names or e.get("path") != "/metrics":
        problems.append(f"PodMonitor endpoint {e.get('port')} {e.get('path')}: not the container's /metrics")
if pm["spec"]["selector"]["matchLabels"] != ds["spec"]["selector"]["matchLabels"]:
    problems.append("the PodMonitor does not select the DaemonSet's pods")
if pod.get("priorityClassName") != "system-node-critical":
    problems.append(f"priorityClassName is {pod.get('priorityClassName')}, not system-node-critical")
res = c.get("resources", {})
if not res.get("requests", {}).get("memory") or not res.get("limits", {}).get("memory"):
    problems.append(f"memory request and limit not both set: {res}")

print(f"{len(objects)} objects checked")
for p in problems:
    print("FAIL: " + p)
sys.exit(1 if problems else 0)
