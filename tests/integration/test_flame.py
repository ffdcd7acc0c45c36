"""Flame graphs from the agent itself: the known call chain of fp_chain
through GET /api/flamegraph (the JSON tree, its SVG and speedscope forms)
and `brasa capture --format svg|speedscope`; the speedscope files checked
against speedscope's own schema (its npm package's)."""
import json
import os
import xml.etree.ElementTree as ET

from harness import (CHAIN, TMP, Agent, capture, check, check_speedscope, cpu_seconds, integration_test,
                     running, workload)

SVG_NS = "{http://www.w3.org/2000/svg}"


def tree_paths(doc):
    """node index -> its names from the process down, from the columnar
    JSON; checks the invariants every document keeps on the way."""
    nodes, strings = doc["nodes"], doc["strings"]
    n = len(nodes["name"])
    check(all(len(nodes[c]) == n for c in ("name", "lib", "file", "line", "kind", "parent", "total", "self")),
          f"every column has the {n} nodes")
    check(nodes["parent"][0] == -1 and strings[nodes["name"][0]] == "all" and nodes["kind"][0] == 0,
          "node 0 is the root 'all'")
    check(all(0 <= nodes["parent"][i] < i for i in range(1, n)), "preorder: a parent before its children")
    sums = [0] * n
    for i in range(1, n):
        sums[nodes["parent"][i]] += nodes["total"][i]
    check(all(nodes["total"][i] == nodes["self"][i] + sums[i] for i in range(n)),
          "every total is its self plus its children's")
    check(nodes["total"][0] == doc["total"], "the root holds the total")
    paths = {0: []}
    for i in range(1, n):
        paths[i] = paths[nodes["parent"][i]] + [strings[nodes["name"][i]]]
    return paths


def title_name(title):
    """The frame name of an SVG <title>: its first line, without the
    library in brackets."""
    return title.split("\n")[0].split(" [")[0]


def chain_nodes(paths, chain):
    """The nodes of fp_chain;...;chain (more than one when some stacks
    lost their outermost frames)."""
    return [i for i, p in paths.items() if p and p[0] == "fp_chain" and p[-len(chain):] == chain]


@integration_test(plain=True)
def t_flamegraph():
    agent = Agent()
    w = workload("fp_chain", 60)
    try:
        with running(w):
            before = cpu_seconds(w.pid)
            status, headers, body = agent.get(f"/api/flamegraph?seconds=3&pid={w.pid}")
            used = cpu_seconds(w.pid) - before
            check(status == 200 and headers.get("Content-Type") == "application/json",
                  f"/api/flamegraph answers JSON ({status} {headers.get('Content-Type')})")
            doc = json.loads(body)
            check(doc["version"] == 1 and doc["sample_type"] == "cpu" and doc["unit"] == "nanoseconds",
                  "version 1, cpu nanoseconds")
            paths = tree_paths(doc)
            nodes, strings = doc["nodes"], doc["strings"]
            leaves = chain_nodes(paths, CHAIN)
            check(leaves, "main -> outer -> middle -> leaf is a path of nodes under fp_chain")
            total, samples = doc["total"], doc["samples"]
            period = total / max(samples, 1)
            check(abs(period - 1e9 / 99) < 1, f"values are samples x period ({period:.0f} ns)")
            want = 99 * used
            check(used >= 0.5 and abs(samples - want) <= 0.2 * want + 5,
                  f"{samples} samples in 3 s (the workload used {used:.2f} CPU s: ~{want:.0f})")
            # main, outer, middle, leaf each carry (almost) all of it, the
            # leaf as its own time: one node per function, whatever its line
            shares = [sum(nodes["total"][i] for i in chain_nodes(paths, CHAIN[:k])) / total
                      for k in range(1, len(CHAIN) + 1)]
            print("chain shares: " + ", ".join(f"{n} {s:.3f}" for n, s in zip(CHAIN, shares)))
            check(all(s >= 0.9 for s in shares), "main, outer, middle and leaf hold at least 90 % each")
            check(sum(nodes["self"][i] for i in leaves) >= 0.8 * sum(nodes["total"][i] for i in leaves),
                  "the leaf's time is mostly its own")
            check(all(len([j for j in range(len(paths)) if paths[j] == paths[i]]) == 1 for i in leaves),
                  "one leaf node per path (lines merged)")
            main = chain_nodes(paths, CHAIN[:1])[0]
            check(nodes["kind"][main] == 3 and strings[nodes["lib"][main]].endswith("/fp_chain")
                  and strings[nodes["file"][main]].endswith("fp_chain.c") and nodes["line"][main] > 0,
                  "main is native code of the fp_chain binary, with its file and line")
            check(not doc["truncated"], "a small profile is not truncated")

            # max_nodes: fewer nodes, the same totals
            status, _, body = agent.get(f"/api/flamegraph?seconds=1&pid={w.pid}&max_nodes=3")
            small = json.loads(body)
            tree_paths(small)
            check(status == 200 and len(small["nodes"]["name"]) <= 3 and small["nodes"]["total"][0] == small["total"],
                  f"max_nodes=3 keeps at most 3 nodes and the total ({len(small['nodes']['name'])} nodes)")

            status, headers, body = agent.get(f"/api/flamegraph?seconds=1&pid={w.pid}&format=svg")
            root = ET.fromstring(body)
            titles = [t.text for t in root.iter(SVG_NS + "title")]
            check(status == 200 and headers.get("Content-Type") == "image/svg+xml" and root.tag == SVG_NS + "svg",
                  "format=svg is an SVG document (well-formed XML)")
            check("leaf" in map(title_name, titles), "the SVG has a frame for leaf")

            status, headers, body = agent.get(f"/api/flamegraph?seconds=1&pid={w.pid}&format=speedscope")
            ss = json.loads(body)
            names = [f["name"] for f in ss["shared"]["frames"]]
            prof = ss["profiles"][0]
            check(ss["$schema"] == "https://www.speedscope.app/file-format-schema.json" and prof["type"] == "sampled"
                  and len(prof["samples"]) == len(prof["weights"]) and sum(prof["weights"]) == prof["endValue"],
                  "format=speedscope: one sampled profile whose weights add up")
            check(any([names[f] for f in s][-4:] == CHAIN for s in prof["samples"]),
                  "a speedscope sample ends with main;outer;middle;leaf")
            check_speedscope(ss, "/api/flamegraph?format=speedscope")

            status, _, body = agent.get("/api/flamegraph?format=png")
            check(status == 400 and b"bad format" in body, "an unknown format gets a 400")

            # the same offline, through brasa capture
            svg = os.path.join(TMP, "cpu.svg")
            capture("--seconds", "2", "--pid", str(w.pid), "--format", "svg", "-o", svg)
            root = ET.parse(svg).getroot()
            texts = [t.text for t in root.iter(SVG_NS + "text")]
            titles = [t.text for t in root.iter(SVG_NS + "title")]
            check(root.tag == SVG_NS + "svg", "brasa capture --format svg writes well-formed SVG")
            check(set(["fp_chain"] + CHAIN) <= set(map(title_name, titles)) and "leaf" in texts, "the capture's SVG shows fp_chain, main, outer, middle and leaf")
            ss_path = os.path.join(TMP, "cpu.speedscope.json")
            capture("--seconds", "1", "--pid", str(w.pid), "--format", "speedscope", "-o", ss_path)
            ss = json.load(open(ss_path))
            check(ss["profiles"][0]["unit"] == "nanoseconds" and "leaf" in [f["name"] for f in ss["shared"]["frames"]],
                  "brasa capture --format speedscope names the leaf")
            check_speedscope(ss, "brasa capture --format speedscope")
    finally:
        agent.stop()
