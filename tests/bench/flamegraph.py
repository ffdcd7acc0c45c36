#!/usr/bin/env python3
"""What the flame graph page costs, on a large profile: the agent's answer
to GET /api/flamegraph for a whole host in DWARF mode, and the page in a
real headless Chromium on that answer and on a synthetic 100,000-node tree.

    tests/bench/flamegraph.py [--seconds 60] [--nodes 100000] [--brasa PATH]
        [--json FILE] [--keep]

Needs root, `xz`, Debian's chromium, chromium-driver and python3-selenium
(scripts/install-deps.sh --test). See tests/bench/README.md.

Part 1, the agent: `brasa run` (--unwind auto) under a fixed load (the
fp_chain workload, `xz -9` in a loop, a Python loop), a 5 s warm-up
request, then one GET /api/flamegraph?seconds=S&max_nodes=0 (every node)
and one with the default max_nodes, both with Accept-Encoding: gzip:
bytes on the wire and uncompressed, nodes, the time the answer took
beyond the S seconds of its window, and the agent's RSS sampled every
100 ms during the request (and its peak, VmHWM).

Part 2, the page: the agent's own page files with the data embedded (as
`brasa capture --format html` writes them) opened in headless Chromium
from a file:// URL: the time from navigation to the first frame drawn with
the tree, and to a zoom's next frame (the median of 5 zooms on nodes of
increasing depth). Bytes: what a browser downloads from the agent for it,
the page's three files and the JSON, gzipped.

Targets (issue 11): page + data under 2 MB for the 100,000-node profile,
first paint under 1 s, zoom under 100 ms.
"""
import argparse
import gzip
import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

from benchlib import (REPO_ROOT, BenchError, BrasaDaemon, Load, ensure_tool, fmt,  # noqa: E402
                      log, make_xz_input, proc_status_kib, run_bench, workload, write_json,
                      xz_loop)
from testlib import CHROMEDRIVER, CHROMIUM, CHROMIUM_FLAGS, load_selenium  # noqa: E402

FOLDED_TO_JSON = REPO_ROOT / "tests" / "tools" / "folded-to-flamegraph.py"
TARGET_BYTES = 2 << 20
TARGET_PAINT_MS = 1000
TARGET_ZOOM_MS = 100


def get(port, path, timeout):
    """GET with Accept-Encoding: gzip: (status, raw bytes on the wire,
    decoded body, seconds)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    t0 = time.monotonic()
    try:
        conn.request("GET", path, headers={"Accept-Encoding": "gzip"})
        resp = conn.getresponse()
        raw = resp.read()
        took = time.monotonic() - t0
        gz = resp.getheader("Content-Encoding") == "gzip"
    finally:
        conn.close()
    return resp.status, raw, gzip.decompress(raw) if gz else raw, took


class RssSampler(threading.Thread):
    """The agent's VmRSS every 100 ms until stopped."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.kib, self.done = pid, [], threading.Event()

    def run(self):
        while not self.done.wait(0.1):
            self.kib.append(proc_status_kib(self.pid, ["VmRSS"])["VmRSS"])


def agent_part(args, tmpdir):
    xz_input = make_xz_input(tmpdir)
    loop = [sys.executable, "-c", "while True:\n sum(i * i for i in range(10000))"]
    load = Load([workload("fp_chain", tmpdir), "600"], xz_loop(xz_input), loop)
    out = {}
    with load, BrasaDaemon(args.brasa, os.path.join(tmpdir, "brasa.log"), unwind="auto") as d:
        d.wait_healthy()
        pages = {}
        for path in ("/", "/ui/app.js", "/ui/app.css", "/ui/timeline.js", "/ui/saved.html"):
            st, raw, body, _ = get(d.port, path, 10)
            if st != 200:
                raise BenchError(f"GET {path} answered {st}")
            pages[path] = body
        log("warm-up: 5 s")
        get(d.port, "/api/flamegraph?seconds=5", 70)
        for label, query in (("every node", "&max_nodes=0"), ("default max_nodes", "")):
            log(f"GET /api/flamegraph?seconds={args.seconds}{query}")
            rss = RssSampler(d.proc.pid)
            rss.start()
            st, raw, body, took = get(d.port, f"/api/flamegraph?seconds={args.seconds}{query}",
                                      args.seconds + 120)
            rss.done.set()
            rss.join()
            if st != 200:
                raise BenchError(f"/api/flamegraph answered {st}: {body[:200]!r}")
            doc = json.loads(body)
            out[label] = {"json": body, "wire_bytes": len(raw), "bytes": len(body),
                          "nodes": len(doc["nodes"]["name"]), "samples": doc["samples"],
                          "truncated": doc.get("truncated", False),
                          "answer_s": took - args.seconds,
                          "rss_mib_max": max(rss.kib or [0]) / 1024,
                          "rss_mib_min": min(rss.kib or [0]) / 1024}
        out["hwm_mib"] = proc_status_kib(d.proc.pid, ["VmHWM"])["VmHWM"] / 1024
        d.stop_clean()
    return out, pages


def page_html(pages, data):
    """The agent's self-contained page (/ui/saved.html) with data in its
    empty data element, as the page's "HTML" download fills it."""
    empty = '<script id="embedded-data" type="application/json"></script>'
    html = pages["/ui/saved.html"].decode()
    embed = json.dumps({"data": data, "base": None}).replace("<", "\\u003c")
    if empty not in html:
        raise BenchError("/ui/saved.html has no empty data element")
    return html.replace(empty, empty.replace("><", f">{embed}<"))


class Chromium:
    def __init__(self, tmpdir):
        webdriver, _, Service, _ = load_selenium()
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for flag in CHROMIUM_FLAGS + [f"--user-data-dir={tmpdir}/chromium"]:
            opts.add_argument(flag)
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
        self.driver.set_script_timeout(120)

    def close(self):
        self.driver.quit()

    def measure(self, path):
        """ms from navigation to the first frame with the tree drawn, and
        the median ms of 5 zooms to their next frame."""
        d = self.driver
        d.get(f"file://{path}")
        paint = d.execute_async_script("""
            const done = arguments[arguments.length - 1];
            (function wait() {
              if (window.brasa && window.brasa.layout)
                requestAnimationFrame(() => done(performance.now()));
              else setTimeout(wait, 5);
            })();""")
        zooms = d.execute_async_script("""
            const done = arguments[arguments.length - 1];
            const t = window.brasa.layout, n = t.depth.length, out = [];
            // nodes at increasing depths: the first node deeper than k
            const picks = [];
            for (let k = 1; picks.length < 5 && k < t.maxDepth; k += Math.max(1, t.maxDepth / 6 | 0))
              for (let i = 0; i < n; i++) if (t.depth[i] === k) { picks.push(i); break; }
            (function next() {
              if (!picks.length) { window.brasa.zoom(0); return done(out); }
              const i = picks.shift(), t0 = performance.now();
              window.brasa.zoom(i);
              requestAnimationFrame(() => requestAnimationFrame(() => {
                out.push(performance.now() - t0); setTimeout(next, 50); }));
            })();""")
        return paint, statistics.median(zooms) if zooms else float("nan")


def page_part(args, tmpdir, pages, real):
    synthetic = json.loads(subprocess.run(
        [sys.executable, str(FOLDED_TO_JSON), "--synthetic", str(args.nodes)],
        check=True, capture_output=True).stdout)
    # what a browser loads: the page's files (saved.html is the
    # agent's self-contained form, which the benchmark opens instead)
    page_gz = sum(len(gzip.compress(b)) for p, b in pages.items() if p != "/ui/saved.html")
    rows = []
    browser = Chromium(tmpdir)
    try:
        for label, data in ((f"whole host, {args.seconds} s", real),
                            (f"synthetic, {args.nodes} nodes", synthetic)):
            path = os.path.join(tmpdir, "page.html")
            Path(path).write_text(page_html(pages, data))
            paint, zoom = browser.measure(path)
            body = json.dumps(data, separators=(",", ":")).encode()
            rows.append({"label": label, "nodes": len(data["nodes"]["name"]),
                         "json_bytes": len(body), "wire_bytes": page_gz + len(gzip.compress(body)),
                         "paint_ms": paint, "zoom_ms": zoom})
    finally:
        browser.close()
    return rows


def body(args, tmpdir):
    ensure_tool("xz", "xz-utils")
    if not os.path.exists(CHROMEDRIVER):
        raise BenchError(f"no {CHROMEDRIVER}: apt-get install chromium chromium-driver "
                         "python3-selenium (scripts/install-deps.sh --test)")
    agent, pages = agent_part(args, tmpdir)
    every = agent["every node"]
    rows = page_part(args, tmpdir, pages, json.loads(every["json"]))

    print(f"\n1. GET /api/flamegraph?seconds={args.seconds}, whole host, --unwind auto "
          f"(gzip on the wire)")
    print(f"{'request':22} {'samples':>8} {'nodes':>7} {'JSON KiB':>9} {'wire KiB':>9} "
          f"{'answer s':>9} {'RSS MiB':>12}")
    for label in ("every node", "default max_nodes"):
        r = agent[label]
        print(f"{label:22} {r['samples']:8d} {r['nodes']:7d} {fmt(r['bytes'], '9.1f', 1 / 1024)} "
              f"{fmt(r['wire_bytes'], '9.1f', 1 / 1024)} {r['answer_s']:9.2f} "
              f"{r['rss_mib_min']:5.1f}-{r['rss_mib_max']:5.1f}")
    print(f"agent peak RSS (VmHWM) over the run: {agent['hwm_mib']:.1f} MiB")

    print("\n2. the page in headless Chromium (file://, data inline)")
    print(f"{'profile':28} {'nodes':>7} {'JSON KiB':>9} {'page+data gz KiB':>17} "
          f"{'first paint ms':>15} {'zoom ms':>8}")
    for r in rows:
        print(f"{r['label']:28} {r['nodes']:7d} {fmt(r['json_bytes'], '9.1f', 1 / 1024)} "
              f"{fmt(r['wire_bytes'], '17.1f', 1 / 1024)} {r['paint_ms']:15.0f} {r['zoom_ms']:8.1f}")
    big = rows[-1]
    print(f"\ntargets ({args.nodes} nodes): page + data "
          f"{big['wire_bytes'] / 1048576:.2f} MiB <= 2 MiB -> "
          f"{'PASS' if big['wire_bytes'] <= TARGET_BYTES else 'MISS'}; first paint "
          f"{big['paint_ms']:.0f} ms <= {TARGET_PAINT_MS} -> "
          f"{'PASS' if big['paint_ms'] <= TARGET_PAINT_MS else 'MISS'}; zoom "
          f"{big['zoom_ms']:.0f} ms <= {TARGET_ZOOM_MS} -> "
          f"{'PASS' if big['zoom_ms'] <= TARGET_ZOOM_MS else 'MISS'}")
    if args.json:
        for r in agent.values():
            if isinstance(r, dict):
                r.pop("json", None)
        write_json(args.json, {"agent": agent, "page": rows})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=int, default=60, help="the whole-host window (60)")
    ap.add_argument("--nodes", type=int, default=100000, help="the synthetic tree's nodes")
    ap.add_argument("--brasa", default=str(REPO_ROOT / "build" / "agent" / "brasa"))
    ap.add_argument("--json", metavar="FILE", help="write the figures here")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    return run_bench("flamegraph.py", "it runs brasa and loads BPF", args, "brasa-bench-flame-",
                     body)


if __name__ == "__main__":
    sys.exit(main())
