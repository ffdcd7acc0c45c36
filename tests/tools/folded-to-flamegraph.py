#!/usr/bin/env python3
"""Folded stacks -> the /api/flamegraph JSON (docs/http-api.md), for
developing and testing the web page (serve/web/) without an agent.

    brasa capture --seconds 5 --format folded > x.folded
    folded-to-flamegraph.py x.folded > x.json
    folded-to-flamegraph.py --synthetic 100000 > big.json   # a wide, deep tree

Folded lines are "comm;root;...;leaf COUNT"; a frame ending in _[k] is a
kernel one, _[j] a JIT one, 0x... an unsymbolized address. Each count is
taken as one sample of --period nanoseconds (10 ms by default, 100 Hz).
"""
import argparse
import json
import random
import sys


class Tree:
    def __init__(self):
        self.strings = ["", "all"]
        self.index = {"": 0, "all": 1}
        # node: [name, lib, file, line, kind, children dict, total, self]
        self.root = [1, 0, 0, 0, 0, {}, 0, 0]
        self.nodes = 1

    def s(self, text):
        if text not in self.index:
            self.index[text] = len(self.strings)
            self.strings.append(text)
        return self.index[text]

    def add(self, frames, value):
        node = self.root
        node[6] += value
        for depth, (name, lib, file, line, kind) in enumerate(frames):
            key = (name, lib, file, line, kind)
            child = node[5].get(key)
            if child is None:
                child = [self.s(name), self.s(lib), self.s(file), line, kind, {}, 0, 0]
                node[5][key] = child
                self.nodes += 1
            child[6] += value
            node = child
        node[7] += value

    def to_json(self, samples, period, duration_ns):
        cols = {k: [] for k in ("name", "lib", "file", "line", "kind", "parent", "total", "self")}
        stack = [(self.root, -1)]
        while stack:
            node, parent = stack.pop()
            idx = len(cols["name"])
            for k, v in zip(("name", "lib", "file", "line", "kind"), node[:5]):
                cols[k].append(v)
            cols["parent"].append(parent)
            cols["total"].append(node[6])
            cols["self"].append(node[7])
            for child in reversed(list(node[5].values())):
                stack.append((child, idx))
        return {
            "version": 1, "sample_type": "cpu", "unit": "nanoseconds",
            "total": self.root[6], "samples": samples,
            "start_unix_ns": 0, "duration_ns": duration_ns,
            "strings": self.strings, "nodes": cols, "truncated": False,
        }


def frame(text, level):
    if level == 0:
        return (text, "", "", 0, 1)
    if text.endswith("_[k]"):
        return (text[:-4], "[kernel.kallsyms]", "", 0, 2)
    if text.endswith("_[j]"):
        return (text[:-4], "[jit]", "", 0, 4)
    if text.startswith("0x"):
        return (text, "", "", 0, 5)
    return (text, "", "", 0, 3)


def from_folded(f, period):
    tree, samples = Tree(), 0
    for line in f:
        line = line.rstrip("\n")
        if not line:
            continue
        stack, _, count = line.rpartition(" ")
        n = int(count)
        samples += n
        tree.add([frame(t, i) for i, t in enumerate(stack.split(";"))], n * period)
    return tree.to_json(samples, period, 0)


def synthetic(nodes, period, seed=1):
    """About `nodes` nodes: a few processes, libraries and deep recursion."""
    rng = random.Random(seed)
    tree, samples = Tree(), 0
    libs = ["/usr/lib/libc.so.6", "/usr/bin/app", "/usr/lib/libssl.so.3", "[kernel.kallsyms]"]
    while tree.nodes < nodes:
        frames = [("proc%d" % rng.randrange(4), "", "", 0, 1)]
        for d in range(rng.randrange(3, 40)):
            k = rng.randrange(12)
            lib = (d + k) % len(libs)
            frames.append(("fn_%d_%d" % (d, k), libs[lib], "src/f%d.c" % lib,
                           1 + (d * 13 + k) % 500, 2 if lib == 3 else 3))
        tree.add(frames, rng.randrange(1, 20) * period)
        samples += 1
    return tree.to_json(samples, period, 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folded", nargs="?", help="folded file (default stdin)")
    ap.add_argument("--period", type=int, default=10_000_000)
    ap.add_argument("--synthetic", type=int, metavar="NODES")
    args = ap.parse_args()
    if args.synthetic:
        out = synthetic(args.synthetic, args.period)
    elif args.folded:
        with open(args.folded) as f:
            out = from_folded(f, args.period)
    else:
        out = from_folded(sys.stdin, args.period)
    json.dump(out, sys.stdout, separators=(",", ":"))


if __name__ == "__main__":
    main()
