"""Every metric family the agent can export is documented: each name that
serve/metrics*.c writes (with or without a remote, Kubernetes, the
history or off-CPU: the sources, not one scrape, so families that only
some configurations export are covered too) appears in a table row of
docs/ in backticks, alone or with its labels (`name{label}`).

    metrics-docs.py SRC_ROOT"""
import glob
import os
import re
import sys

root = sys.argv[1]
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(root, "tests", "tools"))
import prom_files  # noqa: E402

names = prom_files.exported_names(root) - {"up"}
rows = []
for path in glob.glob(os.path.join(root, "docs", "*.md")):
    rows += [l for l in open(path) if l.startswith("|")]
documented = set()
for row in rows:
    for n in re.findall(r"`((?:brasa|process)_[a-z0-9_]+)(?:\{[^`]*\})?`", row):
        documented.add(n)
missing = sorted(names - documented)
print(f"{len(names)} metric families in serve/metrics*.c, {len(names) - len(missing)} in a docs table")
for n in missing:
    print(f"FAIL: {n} is exported but in no table of docs/*.md (docs/http-api.md#get-metrics lists them)")
if len(names) < 50:
    print(f"FAIL: only {len(names)} names found in serve/metrics*.c: the pattern no longer matches the sources")
    sys.exit(1)
sys.exit(1 if missing else 0)
