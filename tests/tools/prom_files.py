"""The Prometheus files brasa ships (deploy/prometheus/): the PromQL of the
alerting rules and of the Grafana dashboard's panels, and the metric names
each reads. Shared by the unit test of the files (tests/unit/prometheus-files.py)
and the integration test that runs them against a real Prometheus and a
real agent (tests/integration/test_prometheus.py). Python stdlib only (no
YAML library: the rule file's `expr:` entries are read line by line)."""
import json
import os
import re

# metric names brasa exports, and Prometheus' own `up`
METRIC = re.compile(r"\b(?:brasa|process)_[a-z0-9_]+\b|\bup\b")


def rules_path(root):
    return os.path.join(root, "deploy", "prometheus", "brasa-alerts.yaml")


def dashboard_path(root):
    return os.path.join(root, "deploy", "prometheus", "brasa-dashboard.json")


def rule_exprs(path):
    """{alert name: expr} of a rule file: `expr: ...` on one line, or
    `expr: |` and the more indented lines below it."""
    out, name = {}, None
    lines = open(path).read().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"\s*- alert: (\S+)", line)
        if m:
            name = m.group(1)
        m = re.match(r"(\s*)expr: (.*)$", line)
        if m and name:
            if m.group(2).strip() == "|":
                indent, block = len(m.group(1)), []
                while i + 1 < len(lines) and (not lines[i + 1].strip() or
                                              len(lines[i + 1]) - len(lines[i + 1].lstrip()) > indent):
                    i += 1
                    block.append(lines[i].strip())
                out[name] = " ".join(b for b in block if b)
            else:
                out[name] = m.group(2).strip()
        i += 1
    return out


def dashboard_exprs(path):
    """[(panel title, expr)] of every panel target, the dashboard's
    variables replaced by what makes a plain query of them ($job and
    $instance: any; $__rate_interval: 1m)."""
    d = json.load(open(path))
    out = []
    for p in d["panels"]:
        for t in p.get("targets", []):
            e = t["expr"].replace("$__rate_interval", "1m")
            e = e.replace('"$job"', '".*"').replace('"$instance"', '".*"')
            out.append((p["title"], e))
    return out


def metric_names(expr):
    """The metrics an expression reads (not the words of its strings:
    label values, label_replace's arguments)."""
    return set(METRIC.findall(re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)))


def exported_names(root):
    """Every metric family serve/metrics*.c writes (as string literals
    there), and `up`."""
    names = {"up"}
    serve = os.path.join(root, "serve")
    for name in os.listdir(serve):
        if name.startswith("metrics") and name.endswith(".c"):
            names |= set(re.findall(r'"((?:brasa|process)_[a-z0-9_]+)"',
                                    open(os.path.join(serve, name)).read()))
    return names
