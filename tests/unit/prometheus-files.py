#!/usr/bin/env python3
"""deploy/prometheus/ checked offline: the alerting rules by `promtool check
rules` and their unit tests by `promtool test rules`; every alert has a
test; the Grafana dashboard is valid JSON whose every query is valid PromQL
(each checked by promtool as a recording rule); and every metric the rules
and the dashboard read is one the agent exports (a family of
serve/metrics*.c) or Prometheus' `up`.

    prometheus-files.py SRC_ROOT"""
import json
import os
import subprocess
import sys
import tempfile

root = sys.argv[1]
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(root, "tests", "tools"))
import prom_files  # noqa: E402

problems = []


def promtool(*args):
    r = subprocess.run(["promtool", *args], capture_output=True, text=True)
    out = (r.stdout + r.stderr).strip()
    print(f"promtool {' '.join(args)}: exit {r.returncode}\n  " + out.replace("\n", "\n  "))
    if r.returncode != 0:
        problems.append(f"promtool {' '.join(args)} failed")


rules = prom_files.rules_path(root)
promtool("check", "rules", rules)
promtool("test", "rules", os.path.join(os.path.dirname(rules), "brasa-alerts.test.yaml"))

exported = prom_files.exported_names(root)

alerts = prom_files.rule_exprs(rules)
tests = open(os.path.join(os.path.dirname(rules), "brasa-alerts.test.yaml")).read()
if len(alerts) < 8:
    problems.append(f"only {len(alerts)} alerts read from {rules}")
for alert, expr in alerts.items():
    if f"alertname: {alert}\n" not in tests:
        problems.append(f"alert {alert} has no test in brasa-alerts.test.yaml")
    for m in sorted(prom_files.metric_names(expr) - exported):
        problems.append(f"alert {alert} reads {m}, which the agent does not export")

try:
    panels = prom_files.dashboard_exprs(prom_files.dashboard_path(root))
except ValueError as e:
    panels = []
    problems.append(f"brasa-dashboard.json is not valid JSON: {e}")
if len(panels) < 10:
    problems.append(f"only {len(panels)} queries in the dashboard")
with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "dashboard-queries.yaml")
    with open(path, "w") as f:
        f.write("groups:\n  - name: dashboard\n    rules:\n")
        for i, (title, expr) in enumerate(panels):
            f.write(f"      - record: dashboard_query_{i}\n        expr: {json.dumps(expr)}\n")
    promtool("check", "rules", path)
for title, expr in panels:
    for m in sorted(prom_files.metric_names(expr) - exported):
        problems.append(f"dashboard panel {title!r} reads {m}, which the agent does not export")

print(f"{len(alerts)} alerts, {len(panels)} dashboard queries, {len(exported)} exported names")
for p in problems:
    print("FAIL: " + p)
sys.exit(1 if problems else 0)
