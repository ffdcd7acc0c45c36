#!/usr/bin/env python3
"""Keeps the configuration reference in step with the code.

Usage: config-docs.py CONFIG_DUMP BRASA docs/configuration.md docs/cli.md
                      deploy/systemd/brasa.yaml

- every setting of the table (printed by tests/tools/config-dump.c) has a row in
  configuration.md's reference table: `key` | type | default | flags |
  SIGHUP | meaning, with the table's default, every flag of the setting
  and whether SIGHUP applies it;
- that table has no row for a setting the code does not have;
- every option of `brasa run --help` is documented in configuration.md,
  and cli.md shows that help as it is, and the help of `brasa capture`,
  `brasa history` and `brasa check` as they are (so every option of each);
- the example file names every key and passes `brasa check --config`, and
  so does every ```yaml block of configuration.md.
Exits 1 with one line per problem.
"""
import os
import re
import subprocess
import sys
import tempfile


def main():
    dump, brasa, config_md, cli_md, example = sys.argv[1:6]
    out = subprocess.run([dump], check=True, capture_output=True, text=True).stdout
    settings = {}
    for line in out.splitlines():
        key, default, flags, reload = line.split("\t")
        settings[key] = (default, flags.split() if flags != "-" else [], reload)
    if len(settings) < 30:
        sys.exit(f"config-dump printed {len(settings)} settings: too few to be the table")

    with open(config_md) as f:
        config_doc = f.read()
    with open(cli_md) as f:
        cli_doc = f.read()
    problems = []

    rows = {}
    for line in config_doc.splitlines():
        m = re.match(r"^\|\s*`([a-z_][a-z_.]*)`\s*\|", line)
        if not m:
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 6:
            problems.append(f"configuration.md: row for {m.group(1)} has {len(cells)} cells, not 6")
            continue
        if m.group(1) in rows:
            problems.append(f"configuration.md: two rows for {m.group(1)}")
        rows[m.group(1)] = cells

    for key, (default, flags, reload) in settings.items():
        cells = rows.get(key)
        if cells is None:
            problems.append(f"configuration.md: no row for setting {key}")
            continue
        _, _type, doc_default, doc_flags, doc_reload, meaning = cells
        if doc_default.replace("`", "") != default:
            problems.append(f"configuration.md: {key}: default is {doc_default!r}, "
                            f"the code says {default!r}")
        for flag in flags:
            if not re.search(r"`" + re.escape(flag) + r"[` ]", doc_flags):
                problems.append(f"configuration.md: {key}: flag {flag} not in its row")
        if not flags and doc_flags != "(file only)":
            problems.append(f"configuration.md: {key}: has no flag, the row says {doc_flags!r}")
        want = "applied" if reload == "reload" else "restart"
        if doc_reload != want:
            problems.append(f"configuration.md: {key}: SIGHUP column says {doc_reload!r}, "
                            f"expected {want!r}")
        if not meaning:
            problems.append(f"configuration.md: {key}: no meaning")
    for key in rows:
        if key not in settings:
            problems.append(f"configuration.md: row for {key}, which is not a setting")

    r = subprocess.run([brasa, "run", "--help"], capture_output=True, text=True)
    if r.returncode != 0:
        problems.append(f"brasa run --help exited with {r.returncode}")
    help_flags = set(re.findall(r"(?:^|[\s,])(--[a-z][a-z-]*|-[A-Za-z])(?=[\s,=]|$)",
                                r.stdout, re.M))
    if len(help_flags) < 30:
        problems.append(f"brasa run --help lists only {len(help_flags)} options")
    for flag in sorted(help_flags):
        if not re.search(r"`" + re.escape(flag) + r"[` ,]", config_doc):
            problems.append(f"configuration.md does not document {flag} (brasa run --help)")
    if "```\n" + r.stdout + "```\n" not in cli_doc:
        problems.append("cli.md does not show the output of `brasa run --help` as it is now")
    # the other commands' options: their help shown as it is documents each
    for cmd in ("capture", "history", "check"):
        r = subprocess.run([brasa, cmd, "--help"], capture_output=True, text=True)
        if r.returncode != 0 or "--" not in r.stdout:
            problems.append(f"brasa {cmd} --help exited with {r.returncode}, or lists no options")
        elif "```\n" + r.stdout + "```\n" not in cli_doc:
            problems.append(f"cli.md does not show the output of `brasa {cmd} --help` as it is now")

    # the example file: every key (active or commented out), and valid
    with open(example) as f:
        example_text = f.read()
    for key in settings:
        leaf = key.rsplit(".", 1)[-1]
        if not re.search(r"^[\s#]*" + re.escape(leaf) + r":", example_text, re.M):
            problems.append(f"{example}: no line for {key}")
    blocks = re.findall(r"^```yaml\n(.*?)^```", config_doc, re.S | re.M)
    if not blocks:
        problems.append("configuration.md: no ```yaml example")
    with tempfile.TemporaryDirectory() as tmp:
        files = [example]
        for i, block in enumerate(blocks):
            files.append(os.path.join(tmp, f"configuration.md-example-{i}.yaml"))
            with open(files[-1], "w") as f:
                f.write(block)
        for path in files:
            r = subprocess.run([brasa, "check", "--config", path], capture_output=True,
                               text=True, env={k: v for k, v in os.environ.items()
                                               if not k.startswith("KUBERNETES_")})
            if r.returncode != 0 or r.stdout.strip() != f"{path}: ok":
                problems.append(f"brasa check --config {path}: exit {r.returncode}: "
                                f"{(r.stdout + r.stderr).strip()}")

    for p in problems:
        print(p)
    print(f"{len(settings)} settings, {len(help_flags)} options of brasa run --help: "
          f"{len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
