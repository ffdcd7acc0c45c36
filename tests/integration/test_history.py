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
import threading
import time
import urllib.parse

from harness import (TMP, Agent, check, fail, integration_test, parse_folded, pprof_traces,
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


@integration_test(timeout=240)
def t_history_ranges():
    agent = Agent("--upload-interval", f"{WINDOW}s")
    procs = []
    try:
        t0 = time.time()
        a = workload("fp_chain", 60)
        procs.append(a)
        time.sleep(8)
        a.kill()
        a.wait()
        t1 = time.time()
        b = workload("spinner", 60)
        procs.append(b)
        time.sleep(8)
        b.kill()
        b.wait()
        t2 = time.time()
        # the window holding t2 is stored within one window of t2
        time.sleep(WINDOW + 1)

        # phase A alone: fp_chain's chain, no spinner
        stacks, comms = folded(agent, q(start=f"{t0:.3f}", end=f"{t1 - WINDOW - 0.5:.3f}"), "phase A")
        want = 99 * (t1 - WINDOW - 0.5 - t0 - 1)
        check(leaf_samples(stacks, "fp_chain") >= 0.5 * want,
              f"phase A holds fp_chain's main;outer;middle;leaf ({leaf_samples(stacks, 'fp_chain')} "
              f"samples, ~{want:.0f} expected)")
        check("spinner" not in comms, f"phase A has no spinner ({comms.get('spinner', 0)} samples)")

        # phase B alone, as RFC 3339
        rfc = lambda t: time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"
        stacks, comms = folded(agent, q(start=rfc(t1 + WINDOW + 0.5), end=rfc(t2)), "phase B")
        check(leaf_samples(stacks, "spinner") >= 0.5 * 99 * (t2 - t1 - WINDOW - 1.5),
              f"phase B holds spinner's chain ({leaf_samples(stacks, 'spinner')} samples)")
        check("fp_chain" not in comms, f"phase B has no fp_chain ({comms.get('fp_chain', 0)} samples)")

        # filters over the whole span: a label selector, a pid
        stacks, comms = folded(agent, q(start=f"{t0:.3f}", end=f"{t2:.3f}", match='{comm="spinner"}'),
                               "match")
        check(set(comms) == {"spinner"}, f"match={{comm=\"spinner\"}} keeps spinner alone ({sorted(comms)})")
        stacks, comms = folded(agent, q(start=f"{t0:.3f}", end=f"{t2:.3f}", pid=a.pid), "pid")
        check(set(comms) == {"fp_chain"} and leaf_samples(stacks, "fp_chain") > 0,
              f"pid={a.pid} keeps fp_chain alone ({sorted(comms)}), though it has exited")

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
    """history.retention 0: no store on disk, and a range is a clear 400."""
    d = os.path.join(TMP, "history-off")
    agent = Agent("--history-dir", d, "--history-retention", "0")
    try:
        status, _, body = agent.get("/debug/pprof/profile?since=1m")
        check(status == 400 and b"keeps no history" in body, f"a range without a history: 400 ({status} {body!r})")
        check(not os.path.exists(d), f"nothing written under {d}")
        check(agent.metric("brasa_history_windows") is None, "no brasa_history_* metrics")
    finally:
        agent.stop()
