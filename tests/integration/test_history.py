"""The local history (docs/history.md): every window the agent closes is
stored, and profile requests with start/end/since merge the stored windows
of a range. Phases of known workloads: fp_chain alone, then spinner alone
(same code, another comm); ranges covering one phase see that phase's
process only; label and pid filters apply to stored windows as to live
ones; a range that reaches into the future waits for its end and holds
what ran after the request; go tool pprof reads the merged profile.

Windows are --upload-interval long (2 s here); a range takes every window
that overlaps it, so the phase ranges keep a window's length away from the
switch."""
import json
import os
import re
import subprocess
import threading
import time
import urllib.parse

from harness import (BRASA, TMP, Agent, check, cpu_seconds, fail, go_env, integration_test, offcpu_report,
                     parse_folded, pprof_sample_types, pprof_traces, rss_kib, sanitizer_rss_slack_kib,
                     workload)

WINDOW = 2  # seconds: --upload-interval


def folded(agent, query, tag, timeout=120):
    status, _, body = agent.get("/api/flamegraph?format=folded&" + query, timeout=timeout)
    if status != 200:
        fail(f"{tag}: /api/flamegraph?format=folded&{query} answered {status}: {body[:300]!r}")
    stacks = parse_folded(body.decode().strip()) if body.strip() else []
    by_comm = {}
    for frames, n in stacks:
        by_comm[frames[0]] = by_comm.get(frames[0], 0) + n
    print(f"{tag}: {query} -> {sum(by_comm.values())} samples: "
          + ", ".join(f"{c} {n}" for c, n in sorted(by_comm.items(), key=lambda x: -x[1])[:6]))
    return stacks, by_comm


def leaf_samples(stacks, comm):
    return sum(n for f, n in stacks if f[0] == comm and f[-1] == "leaf")


def q(**params):
    return urllib.parse.urlencode(params)


def check_timeline(agent, t0, t1, t2):
    """/api/timeline by comm: fp_chain's samples end and spinner's begin
    at the window that holds the switch; /api/labels lists both."""
    status, _, body = agent.get("/api/timeline?" + q(start=f"{t0:.3f}", end=f"{t2:.3f}", by="comm", top=5))
    check(status == 200, f"/api/timeline answers ({status} {body[:200]!r})")
    tl = json.loads(body)
    wins = tl["windows"]
    series = {s["value"]: s for s in tl["series"] if not s.get("other")}
    check("fp_chain" in series and "spinner" in series,
          f"the timeline's top 5 by comm hold fp_chain and spinner ({list(series)})")
    starts = [w["start_unix_ns"] / 1e9 for w in wins]
    ends = [w["start_unix_ns"] / 1e9 + w["duration_ns"] / 1e9 for w in wins]
    fp, sp = series["fp_chain"]["counts"], series["spinner"]["counts"]
    print("timeline: " + " ".join(f"{s - t0:.1f}:{a}/{b}" for s, a, b in zip(starts, fp, sp)))
    last_fp = max(i for i, c in enumerate(fp) if c)
    first_sp = min(i for i, c in enumerate(sp) if c)
    check(starts[last_fp] <= t1 <= ends[last_fp] + 0.5,
          f"fp_chain's last window holds the switch (window {starts[last_fp] - t0:.1f}-{ends[last_fp] - t0:.1f} s, "
          f"switch at {t1 - t0:.1f} s)")
    check(starts[first_sp] - 0.5 <= t1 <= ends[first_sp],
          f"spinner's first window holds the switch (window {starts[first_sp] - t0:.1f}-{ends[first_sp] - t0:.1f} s)")
    check(all(c == 0 for c in sp[:first_sp]) and all(c == 0 for c in fp[last_fp + 1:]),
          "no spinner before, no fp_chain after")
    status, _, body = agent.get("/api/labels?" + q(start=f"{t0:.3f}", end=f"{t2:.3f}", name="comm"))
    values = [v["value"] for v in json.loads(body)["values"]]
    check(status == 200 and {"fp_chain", "spinner"} <= set(values), f"/api/labels?name=comm lists both ({values[:10]})")
    status, _, body = agent.get("/api/labels?" + q(start=f"{t0:.3f}", end=f"{t2:.3f}"))
    names = [v["name"] for v in json.loads(body)["names"]]
    check(status == 200 and {"comm", "pid", "service_name"} <= set(names), f"/api/labels lists label names ({names})")


@integration_test(timeout=240)
def t_history_ranges():
    agent = Agent("--upload-interval", f"{WINDOW}s")
    procs = []
    try:
        t0 = time.time()
        a = workload("fp_chain", 60)
        procs.append(a)
        time.sleep(8)
        cpu_a = cpu_seconds(a.pid)  # what a 99 Hz sampler saw of it: its CPU time
        a.kill()
        a.wait()
        t1 = time.time()
        b = workload("spinner", 60)
        procs.append(b)
        time.sleep(8)
        cpu_b = cpu_seconds(b.pid)
        b.kill()
        b.wait()
        t2 = time.time()
        # the window holding t2 is stored within one window of t2
        time.sleep(WINDOW + 1)

        # phase A alone: fp_chain's chain, no spinner
        stacks, comms = folded(agent, q(start=f"{t0:.3f}", end=f"{t1 - WINDOW - 0.5:.3f}"), "phase A")
        # its share of the range queried: its CPU time spread evenly
        want = 99 * cpu_a * (t1 - WINDOW - 0.5 - t0 - 1) / (t1 - t0)
        check(leaf_samples(stacks, "fp_chain") >= 0.5 * want,
              f"phase A holds fp_chain's main;outer;middle;leaf ({leaf_samples(stacks, 'fp_chain')} "
              f"samples, ~{want:.0f} expected)")
        check("spinner" not in comms, f"phase A has no spinner ({comms.get('spinner', 0)} samples)")

        # phase B alone, as RFC 3339
        rfc = lambda t: time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"
        stacks, comms = folded(agent, q(start=rfc(t1 + WINDOW + 0.5), end=rfc(t2)), "phase B")
        want = 99 * cpu_b * (t2 - t1 - WINDOW - 1.5) / (t2 - t1)
        check(leaf_samples(stacks, "spinner") >= 0.5 * want,
              f"phase B holds spinner's chain ({leaf_samples(stacks, 'spinner')} samples, ~{want:.0f} expected)")
        check("fp_chain" not in comms, f"phase B has no fp_chain ({comms.get('fp_chain', 0)} samples)")

        # filters over the whole span: a label selector, a pid
        stacks, comms = folded(agent, q(start=f"{t0:.3f}", end=f"{t2:.3f}", match='{comm="spinner"}'),
                               "match")
        check(set(comms) == {"spinner"}, f"match={{comm=\"spinner\"}} keeps spinner alone ({sorted(comms)})")
        stacks, comms = folded(agent, q(start=f"{t0:.3f}", end=f"{t2:.3f}", pid=a.pid), "pid")
        check(set(comms) == {"fp_chain"} and leaf_samples(stacks, "fp_chain") > 0,
              f"pid={a.pid} keeps fp_chain alone ({sorted(comms)}), though it has exited")

        check_timeline(agent, t0, t1, t2)

        # go tool pprof reads a merged range
        status, _, body = agent.get("/debug/pprof/profile?" + q(start=f"{t0:.3f}", end=f"{t2:.3f}"))
        check(status == 200, f"a range as pprof answers 200 ({status} {body[:200]!r})")
        path = os.path.join(TMP, "history-range.pb.gz")
        open(path, "wb").write(body)
        traces, _ = pprof_traces(path)
        fp = sum(c for f, c in traces if f[:4] == ["leaf", "middle", "outer", "main"])
        check(fp > 0, f"go tool pprof reads the range, with the chain ({fp} of {sum(c for _, c in traces)})")

        # a range into the future: the last 2 s and the next 5 s; spinner
        # starts only after the request went out
        result = {}

        def ask():
            result["t"] = time.time()
            result["r"] = folded(agent, q(since="2s", end="now+5s"), "future")
        asker = threading.Thread(target=ask)
        asker.start()
        time.sleep(1)
        late = workload("spinner", 60)
        procs.append(late)
        asker.join(60)
        check(not asker.is_alive(), "the request into the future answered")
        took = time.time() - result["t"]
        stacks, comms = result["r"]
        check(took >= 4.5, f"it waited for its end ({took:.1f} s)")
        check(comms.get("spinner", 0) > 0,
              f"it holds spinner, started after the request ({comms.get('spinner', 0)} samples)")

        # bad ranges: the same clear 400s
        for bad, words in (("since=yesterday", "bad since"), ("end=now", "needs start or since"),
                           ("since=1h&seconds=5", "has no seconds"),
                           ("start=now&end=now-1m", "not after the start")):
            status, _, body = agent.get("/debug/pprof/profile?" + bad)
            check(status == 400 and words in body.decode(), f"{bad}: 400 ({status} {body.decode().strip()!r})")

        m = {k: agent.metric(k) for k in ("brasa_history_windows", "brasa_history_bytes",
                                          "brasa_history_write_failures_total")}
        print("metrics:", json.dumps(m))
        check(m["brasa_history_windows"] >= (t2 - t0) / WINDOW - 2 and m["brasa_history_bytes"] > 0
              and m["brasa_history_write_failures_total"] == 0,
              f"the store holds a window every {WINDOW} s and wrote them all ({m})")
    finally:
        for p in procs:
            p.kill()
            p.wait()
        agent.stop()


@integration_test(timeout=120)
def t_history_off():
    """history.retention 0: no store on disk, and a range is a clear 400;
    an unusable history.dir: a warning from brasa check, and an agent that
    runs without a history."""
    d = os.path.join(TMP, "history-off")
    agent = Agent("--history-dir", d, "--history-retention", "0")
    try:
        status, _, body = agent.get("/debug/pprof/profile?since=1m")
        check(status == 400 and b"keeps no history" in body, f"a range without a history: 400 ({status} {body!r})")
        check(not os.path.exists(d), f"nothing written under {d}")
        status, _, body = agent.get("/api/timeline?since=1m")
        check(status == 404 and b"keeps no history" in body, f"/api/timeline without a history: 404 ({status})")
        check(agent.metric("brasa_history_windows") is None, "no brasa_history_* metrics")
    finally:
        agent.stop()
    # a directory that cannot be made: brasa check warns, brasa run runs
    # without a history and says why
    bad = "/etc/passwd/history"
    conf = os.path.join(TMP, "history-bad.yaml")
    open(conf, "w").write(f"history:\n  dir: {bad}\n")
    r = subprocess.run([BRASA, "check", "--config", conf], capture_output=True, text=True, timeout=30)
    check(r.returncode == 0 and "warn  history.dir" in r.stdout and "without a local history" in r.stdout,
          f"brasa check --config warns of an unusable history.dir ({r.returncode}: {r.stdout.strip()!r})")
    agent = Agent("--history-dir", bad)
    try:
        check(agent.get("/healthz")[0] == 200 and "local history off" in agent.output(),
              "the agent runs without a history, and its log says why: "
              + "".join(l for l in agent.output().splitlines(True) if "history" in l)[-300:])
    finally:
        agent.stop()


def churn():
    """Many short python3 processes, one after the other: each a series
    with its own mappings, so the store's dictionary grows fast."""
    code = ("import json, decimal\n"
            "x = [json.dumps({str(i): decimal.Decimal(i) / 7 for i in range(300)}, default=str)"
            " for _ in range(40)]")
    return subprocess.Popen(["sh", "-c", f"while :; do python3 -c '{code}'; done"])


def history_cli(*args):
    r = subprocess.run([BRASA, "history", *args], capture_output=True, text=True, timeout=120)
    print(f"brasa history {' '.join(args)} -> {r.returncode}\n{r.stdout}{r.stderr}".rstrip())
    return r


def store_files(d):
    return {f: os.path.getsize(os.path.join(d, f)) for f in os.listdir(d)}


@integration_test(timeout=240)
def t_history_crash():
    """SIGKILL while windows are written: after a restart every window but
    at most the last is there and the store checks clean; `brasa history`
    lists, exports and checks it beside the running agent. Then a store
    damaged on disk (bytes overwritten in its middle pages) is reported,
    moved aside, and the agent samples and stores on."""
    d = os.path.join(TMP, "history-crash")
    args = ("--history-dir", d, "--upload-interval", "1s")
    agent = Agent(*args)
    w = workload("fp_chain", 120)
    try:
        t0, cpu0 = time.time(), cpu_seconds(w.pid)
        time.sleep(6)
        before = agent.metric("brasa_history_windows")
        used = cpu_seconds(w.pid) - cpu0
        agent.proc.kill()
        agent.proc.wait()
        t_kill = time.time()
        agent = Agent(*args)
        time.sleep(2.5)
        r = history_cli("check", "--dir", d)
        check(r.returncode == 0 and r.stdout.startswith("ok:"), "the store checks clean after SIGKILL")
        r = history_cli("list", "--dir", d)
        m = re.search(r"(\d+) ranges?, (\d+) windows", r.stdout)
        check(r.returncode == 0 and m and int(m.group(2)) >= before,
              f"every window written before the kill is listed ({m and m.group(2)} >= {before:.0f})")
        out = os.path.join(TMP, "history-export.folded")
        r = history_cli("export", "--dir", d, "--start", f"{t0:.3f}", "--end", f"{t_kill:.3f}",
                        "--pid", str(w.pid), "--format", "folded", "-o", out)
        stacks = parse_folded(open(out).read().strip()) if r.returncode == 0 else []
        leaf = sum(n for f, n in stacks if f[-1] == "leaf")
        # its CPU time (what a 99 Hz sampler sees) less the window the kill lost
        want = 99 * used * (t_kill - t0 - 2) / (t_kill - t0)
        check(leaf >= 0.6 * want, f"the windows before the kill hold fp_chain's chain ({leaf} samples, "
              f"~{want:.0f} ran)")
        r = history_cli("export", "--dir", d, "--since", "yesterday")
        check(r.returncode == 2 and "invalid --since" in r.stderr, "a bad --since is a usage error")
        agent.stop()

        # damage: overwrite 64 KiB in the middle of the database file
        db = os.path.join(d, "history.db")
        size = os.path.getsize(db)
        with open(db, "r+b") as f:
            f.seek(size // 2)
            f.write(os.urandom(64 << 10))
        agent = Agent(*args)
        time.sleep(3)
        log = agent.output()
        check(agent.proc.poll() is None, "the agent runs on a damaged store")
        check(os.path.exists(db + ".corrupt") and "corrupt" in log,
              f"the damaged store is reported and moved aside ({sorted(store_files(d))}): "
              + "".join(l for l in log.splitlines(True) if "history" in l)[-400:])
        check(agent.metric('brasa_history_dropped_total{reason="corrupt_store"}') == 1,
              "it is counted as a corrupt_store drop")
        check(agent.metric("brasa_history_windows") >= 1, "the fresh store takes new windows")
    finally:
        w.kill()
        w.wait()
        agent.stop()


@integration_test(timeout=240)
def t_history_bound():
    """--history-max-bytes 1M on a busy host: the files on disk stay within
    the bound and a window, the oldest windows are dropped and counted,
    more than one is kept, and the agent's memory stays flat."""
    d = os.path.join(TMP, "history-bound")
    bound = 1 << 20
    agent = Agent("--history-dir", d, "--upload-interval", "1s", "--history-max-bytes", "1M")
    procs = [workload("fp_chain", 120), churn()]
    try:
        sizes, rss = [], []
        for _ in range(20):
            time.sleep(1)
            sizes.append(sum(store_files(d).values()))
            rss.append(rss_kib(agent.proc.pid))
        dropped = agent.metric('brasa_history_dropped_total{reason="bytes"}')
        windows = agent.metric("brasa_history_windows")
        print(f"store bytes over time: {sizes}\nrss KiB: {rss}\nwindows {windows}, dropped {dropped}")
        # one window of this load is far below 256 KiB
        check(max(sizes) <= bound + (256 << 10), f"the files stay within 1 MiB and a window ({max(sizes)} bytes)")
        check(dropped and dropped > 0, f"windows were dropped for the bound ({dropped})")
        # the dictionary of dropped windows is swept: the bound holds
        # windows, not the newest one and the rows of those gone
        check(windows and windows >= 2, f"more than the newest window is kept ({windows})")
        check(max(rss[10:]) <= max(rss[:10]) * 1.3 + 4096 + sanitizer_rss_slack_kib(),
              f"memory flat: {max(rss[:10])} KiB then at most {max(rss[10:])} KiB")
    finally:
        for p in procs:
            p.kill()
            p.wait()
        agent.stop()


@integration_test(timeout=240)
def t_history_disk_full():
    """The history's file system fills up (a 4 MiB tmpfs under a 1 GiB
    bound): the oldest windows are dropped and counted, newer windows keep
    being stored, and sampling, live profiles and the endpoint carry on."""
    d = os.path.join(TMP, "history-full")
    os.makedirs(d, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", d],
                       capture_output=True, text=True)
    check(r.returncode == 0, f"a 4 MiB tmpfs for the history ({r.stderr.strip()})")
    agent = None
    procs = []
    try:
        agent = Agent("--history-dir", d, "--upload-interval", "1s")
        procs = [workload("fp_chain", 120), churn()]
        deadline = time.time() + 90
        full = 0
        while time.time() < deadline and not full:
            time.sleep(2)
            full = agent.metric('brasa_history_dropped_total{reason="disk_full"}') or 0
        writes0 = agent.metric("brasa_history_writes_total")
        newest0 = agent.metric("brasa_history_newest_timestamp_seconds")
        time.sleep(5)
        m = {k: agent.metric(k) for k in ('brasa_history_dropped_total{reason="disk_full"}',
                                          "brasa_history_write_failures_total", "brasa_history_windows",
                                          "brasa_history_newest_timestamp_seconds",
                                          "brasa_history_writes_total")}
        print("metrics:", m, "statvfs:", os.statvfs(d).f_bfree * os.statvfs(d).f_frsize)
        check(full > 0, f"the full disk made the store drop its oldest windows ({full})")
        check(m["brasa_history_newest_timestamp_seconds"] > newest0 and m["brasa_history_windows"] >= 1,
              f"windows are still stored once the disk is full ({newest0:.1f} -> "
              f"{m['brasa_history_newest_timestamp_seconds']:.1f})")
        status, _, body = agent.get(f"/api/flamegraph?seconds=2&pid={procs[0].pid}&format=folded")
        check(status == 200 and b"leaf" in body, f"a live profile still works ({status})")
        check(agent.get("/healthz")[0] == 200, "the agent is healthy")
        check(m["brasa_history_writes_total"] > writes0, "writes go on")
    finally:
        for p in procs:
            p.kill()
            p.wait()
        if agent:
            agent.stop()
        subprocess.run(["umount", "-l", d])


@integration_test(timeout=120)
def t_history_retention():
    """--history-retention 10s: windows older than that are dropped and
    counted as they age, the oldest one kept starts within the retention
    (and a window), and the store keeps about retention / interval of
    them."""
    agent = Agent("--history-retention", "10s", "--upload-interval", "1s")
    w = workload("fp_chain", 60)
    try:
        time.sleep(18)
        now = time.time()
        m = {k: agent.metric(k) for k in ("brasa_history_oldest_timestamp_seconds", "brasa_history_windows",
                                          'brasa_history_dropped_total{reason="age"}')}
        print("metrics:", m)
        age = now - m["brasa_history_oldest_timestamp_seconds"]
        check(m['brasa_history_dropped_total{reason="age"}'] >= 3,
              f"windows past the retention were dropped and counted ({m})")
        check(age <= 10 + 2 + 1, f"the oldest window kept is at most the retention (and a window) old ({age:.1f} s)")
        check(8 <= m["brasa_history_windows"] <= 13,
              f"about 10 windows of 1 s are kept ({m['brasa_history_windows']:.0f})")
    finally:
        w.kill()
        w.wait()
        agent.stop()


@integration_test(timeout=240)
def t_history_offcpu():
    """With --off-cpu the history keeps off-CPU windows beside the CPU
    ones: a range query with type=off_cpu returns the sleeper's off-CPU
    time (every switch recorded: within 15 % of what it measured), read by
    go tool pprof as off_cpu/nanoseconds; the same range as CPU has no
    off_cpu sample type; /api/timeline and `brasa history list` take the
    type."""
    agent = Agent("--off-cpu", "--off-cpu-one-in", "1", "--upload-interval", f"{WINDOW}s")
    try:
        time.sleep(1)
        t0 = time.time()
        w = subprocess.Popen([os.path.join(os.environ["WORKLOADS"], "offcpu_waits"), "4"],
                             stdout=subprocess.PIPE, text=True)
        out = w.communicate(timeout=60)[0]
        t1 = time.time()
        report = offcpu_report(out)
        wait = report["sleeper"][1]
        # a range ending in the future waits for the window holding its end
        rng = q(start=f"{t0:.3f}", end=f"{t1 + 0.5:.3f}")

        status, _, body = agent.get(f"/debug/pprof/profile?{rng}&type=off_cpu&pid={w.pid}", timeout=120)
        check(status == 200, f"a range with type=off_cpu answers 200 ({status}: {body[:200]!r})")
        pb = os.path.join(TMP, "history-offcpu.pb.gz")
        open(pb, "wb").write(body)
        types = pprof_sample_types(pb)
        print("off_cpu range sample types:", types)
        check(types == ["samples/count", "off_cpu/nanoseconds"],
              f"the off_cpu range has samples/count and off_cpu/nanoseconds ({types})")
        r = subprocess.run(["go", "tool", "pprof", "-top", "-cum", "-sample_index=off_cpu",
                            "-focus=sleeper_wait", pb], capture_output=True, text=True, env=go_env(),
                           timeout=120)
        print("\n".join(r.stdout.splitlines()[:10]))
        check("sleeper_wait" in r.stdout, "go tool pprof -top shows sleeper_wait's stored off-CPU time")

        stacks, _ = folded(agent, f"{rng}&type=off_cpu&pid={w.pid}", "off_cpu range")
        slept = sum(n for f, n in stacks if "sleeper_wait" in f)
        print(f"sleeper: {slept / 1e6:.0f} ms off the CPU in the history, measured wait {wait / 1e6:.0f} ms")
        check(abs(slept - wait) <= 0.15 * wait,
              f"the stored off-CPU time of the sleeper is within 15 % of its wait ({slept} vs {wait} ns)")

        status, _, body = agent.get(f"/debug/pprof/profile?{rng}&pid={w.pid}", timeout=120)
        check(status == 200, f"the same range as CPU answers 200 ({status})")
        cpu = os.path.join(TMP, "history-cpu.pb.gz")
        open(cpu, "wb").write(body)
        types = pprof_sample_types(cpu)
        print("cpu range sample types:", types)
        check(types == ["samples/count", "cpu/nanoseconds"],
              f"the CPU range has samples/count and cpu/nanoseconds, no off_cpu ({types})")
        stacks, _ = folded(agent, f"{rng}&pid={w.pid}", "cpu range")
        check(sum(n for f, n in stacks if "spin_loop" in f) > 0, "the CPU range holds the spinner's samples")

        for typ in ("off_cpu", "cpu"):
            status, _, body = agent.get("/api/timeline?" + q(start=f"{t0:.3f}", end=f"{t1:.3f}", by="comm",
                                                             type=typ))
            tl = json.loads(body)
            series = {s["value"]: s["total"] for s in tl["series"] if not s.get("other")}
            print(f"timeline type={typ}: {series}")
            check(status == 200 and tl["type"] == typ and series.get("offcpu_waits", 0) > 0,
                  f"/api/timeline?type={typ} answers for that type with offcpu_waits in it")
            if typ == "off_cpu":
                check(series["offcpu_waits"] >= 0.8 * wait,
                      f"the off_cpu timeline counts nanoseconds ({series['offcpu_waits']} >= 0.8 x {wait})")

        r = history_cli("list", "--dir", agent.history_dir, "--type", "off_cpu")
        rows = [l for l in r.stdout.splitlines() if l.startswith("off_cpu")]
        check(r.returncode == 0 and rows and not any(l.startswith("cpu ") for l in r.stdout.splitlines()),
              "brasa history list --type off_cpu lists off_cpu ranges alone")
        r = history_cli("list", "--dir", agent.history_dir)
        check(r.returncode == 0 and any(l.startswith("cpu ") for l in r.stdout.splitlines())
              and any(l.startswith("off_cpu ") for l in r.stdout.splitlines()),
              "brasa history list lists both types")
        out_pb = os.path.join(TMP, "export-offcpu.pb.gz")
        r = history_cli("export", "--dir", agent.history_dir, "--start", str(int(t0)), "--type", "off_cpu",
                        "-p", str(w.pid), "-o", out_pb)
        check(r.returncode == 0 and pprof_sample_types(out_pb) == ["samples/count", "off_cpu/nanoseconds"],
              "brasa history export --type off_cpu writes an off_cpu profile")
    finally:
        agent.stop()
