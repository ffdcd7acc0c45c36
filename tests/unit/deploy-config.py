#!/usr/bin/env python3
"""The configuration shipped in deploy/kubernetes/daemonset.yaml (its
ConfigMap) and deploy/systemd/brasa.yaml must load: `brasa check --config`
on each. Usage: deploy-config.py BRASA SOURCE_ROOT"""
import os
import subprocess
import sys
import tempfile

brasa, root = sys.argv[1:3]


def configmap_file(path):
    """The block under `brasa.yaml: |`, without its indentation (no YAML
    library: the test must run where python3-yaml is not installed)."""
    lines = open(path).read().splitlines()
    start = next(i for i, l in enumerate(lines) if l.strip() == "brasa.yaml: |")
    indent = None
    out = []
    for l in lines[start + 1:]:
        if l.strip() and indent is None:
            indent = len(l) - len(l.lstrip())
        if l.strip() and len(l) - len(l.lstrip()) < indent:
            break
        out.append(l[indent:] if l.strip() else "")
    return "\n".join(out) + "\n"


failed = 0
with tempfile.TemporaryDirectory() as tmp:
    cm = os.path.join(tmp, "daemonset-brasa.yaml")
    open(cm, "w").write(configmap_file(os.path.join(root, "deploy/kubernetes/daemonset.yaml")))
    for f in (cm, os.path.join(root, "deploy/systemd/brasa.yaml")):
        r = subprocess.run([brasa, "check", "--config", f], capture_output=True, text=True)
        ok = r.returncode == 0 and r.stdout.strip().endswith(": ok")
        print(("ok: " if ok else "FAIL: ") + f + " " + (r.stdout + r.stderr).strip())
        failed += not ok
sys.exit(1 if failed else 0)
