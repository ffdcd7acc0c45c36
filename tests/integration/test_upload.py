"""Uploads (issue 5) to a loopback receiver: each protocol (Pyroscope's
Connect push and legacy /ingest, Parca's gRPC-web with its errors), an
outage the spool bridges, a restart after SIGKILL with a corrupt record,
and a full spool."""
import json
import os
import re
import socket
import time

from harness import (TMP, Receiver, check, finish, integration_test, promtool_check, rss_kib,
                     sanitizer_rss_slack_kib, spool_records, upload_agent, wait_for, workload)


def workload_profiles(records, pid=None, comm="fp_chain", accepted=True):
    """[(record, series labels, profile)] of one process's series (other
    processes of the same name may run on the machine: pid picks ours)."""
    out = []
    for r in records:
        if r.get("accepted") != accepted:
            continue
        for s in r.get("series", []):
            labels = s["labels"]
            if pid is not None and labels.get("pid") != str(pid):
                continue
            if labels.get("comm") == comm or labels.get("__app__") == comm:
                out.extend((r, labels, p) for p in s["profiles"])
    return out


def upload_protocol(protocol, expect_labels):
    rx = Receiver()
    w = workload("fp_chain", 30)
    agent = upload_agent(rx, protocol)
    try:
        check(wait_for(lambda: len(workload_profiles(rx.records(), w.pid)) >= 2, 20),
              f"{protocol}: two windows of the workload arrived")
        profs = workload_profiles(rx.records(), w.pid)
        r, labels, prof = profs[0]
        print(json.dumps(r)[:1200])
        for k, v in expect_labels.items():
            check(labels.get(k) == v, f"{protocol}: label {k}={v!r} ({labels.get(k)!r})")
        check(prof.get("sample_types") == ["samples/count", "cpu/nanoseconds"],
              f"{protocol}: sample types samples/count and cpu/nanoseconds ({prof.get('sample_types')})")
        check(all("leaf" in p["functions"] and "main" in p["functions"] for _, _, p in profs),
              f"{protocol}: every profile of the workload holds its functions, read by go tool pprof")
        check(all(p["total"] > 20 for _, _, p in profs), "each window holds the workload's samples")
        return rx, agent, w
    except BaseException:
        agent.stop()
        w.kill()
        rx.stop()
        raise


@integration_test()
def t_upload_pyroscope():
    rx, agent, w = upload_protocol("pyroscope", {"__name__": "process_cpu", "service_name": "fp_chain",
                                                 "node": socket.gethostname(), "__delta__": "false"})
    try:
        m = agent.metrics()
        promtool_check(m, "/metrics with uploads")
        sent = re.search(r"^brasa_upload_windows_total (\d+)", m, re.M)
        check(sent and int(sent.group(1)) >= 2, "windows sent are counted")
        recs = [r for r in rx.records() if r["accepted"]]
        ids = [p["id"] for r in recs for s in r["series"] for p in s["profiles"]]
        check(len(ids) == len(set(ids)) and all(re.fullmatch(
            r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", i) for i in ids),
              f"every profile has its own UUIDv4 ID ({len(ids)})")
        check(all(r["headers"].get("content-type") == "application/proto" for r in recs),
              "Connect push with application/proto")
    finally:
        finish(rx, agent, w)


@integration_test()
def t_upload_ingest():
    rx, agent, w = upload_protocol("pyroscope-ingest", {"__app__": "fp_chain", "comm": "fp_chain"})
    try:
        q = [r["query"] for r in rx.records() if r["accepted"]][0]
        print(q)
        check(q.get("format") == "pprof" and int(q["until"]) > int(q["from"]) > 0 and q.get("sampleRate") == "99",
              "legacy /ingest with format=pprof and a from/until span")
    finally:
        finish(rx, agent, w)


@integration_test()
def t_upload_parca():
    rx, agent, w = upload_protocol("parca", {"__name__": "parca_agent_cpu", "node": socket.gethostname(),
                                             "comm": "fp_chain"})
    try:
        # gRPC errors: UNAVAILABLE in the trailer frame is retried; a
        # permanent status in the response headers is dropped and logged
        rx.set_modes(["grpc-trailer", "ok"], grpc_code=14, message="try later")
        # the receiver reads every whole-host profile with go tool pprof:
        # on a loaded machine it, not brasa, sets the pace (generous waits)
        check(wait_for(lambda: any(r["mode"] == "grpc-trailer" for r in rx.records()), 20),
              "a request got UNAVAILABLE in the gRPC-web trailer")
        failed = [r for r in rx.records() if r["mode"] == "grpc-trailer"][0]
        failed_ids = {p.get("id") for s in failed.get("series", []) for p in s["profiles"]}
        n = len(rx.records())
        check(wait_for(lambda: len(rx.records()) > n + 1, 30),
              f"uploads go on after it ({len(rx.records())} requests, {n} at the failure)")
        metrics = agent.metrics()
        grpc = re.search(r'^brasa_upload_failures_total\{reason="grpc"\} (\d+)', metrics, re.M)
        check(grpc and int(grpc.group(1)) >= 1, "the trailer status is counted as a gRPC failure")
        rx.set_modes(["grpc-header", "ok"], grpc_code=3, message="bad series labels")
        check(wait_for(lambda: "bad series labels" in agent.output(), 15),
              "a permanent status sent in the headers is logged with its message")
        metrics = agent.metrics()
        rej = re.search(r'^brasa_upload_dropped_total\{reason="rejected"\} (\d+)', metrics, re.M)
        check(rej and int(rej.group(1)) >= 1, "and dropped, not retried")
        print(failed_ids)
    finally:
        finish(rx, agent, w)


def spans(profs):
    """Sorted (start, end) seconds of the workload's profiles."""
    return sorted((p["time_nanos"] / 1e9, (p["time_nanos"] + p["duration_nanos"]) / 1e9)
                  for _, _, p in profs)


def check_exactly_once(profs, what):
    ids = [p["id"] for _, _, p in profs if "id" in p]
    starts = [p["time_nanos"] for _, _, p in profs]
    for r, l, p in profs:
        print(f"  {what}: t={p['time_nanos'] / 1e9:.3f} d={p['duration_nanos'] / 1e9:.3f} "
              f"id={p.get('id')} pid={l.get('pid')} samples={p['total']}")
    check(len(ids) == len(set(ids)) and len(starts) == len(set(starts)),
          f"{what}: each window arrived exactly once ({len(starts)} windows)")


def check_contiguous(sp, start, end, what):
    gaps = [(a[1], b[0]) for a, b in zip(sp, sp[1:]) if b[0] - a[1] > 0.3]
    check(sp and sp[0][0] <= start and sp[-1][1] >= end and not gaps,
          f"{what}: the windows cover {end - start:.0f} s without a gap "
          f"(from {sp[0][0] - start if sp else 0:+.1f} s to {sp[-1][1] - end if sp else 0:+.1f} s; gaps {gaps})")


@integration_test()
def t_upload_outage():
    rx = Receiver(mode="refuse")
    w = workload("fp_chain", 100)
    agent = upload_agent(rx, "pyroscope", "--remote-max-retry-backoff", "4s", keep_pid=w.pid)
    try:
        t0 = time.time()
        # refused long enough for the retry backoff to reach its 4 s cap
        # and windows to pile up; 503 for two capped backoffs
        time.sleep(16)
        rx.set_modes(["503"])
        time.sleep(8)
        rx.set_modes(["ok"])
        t_ok = time.time()
        metrics = agent.metrics

        def drained():
            m = metrics()
            return (re.search(r"^brasa_spool_records 0$", m, re.M) and
                    re.search(r"^brasa_upload_queued_windows 0$", m, re.M) and
                    spans(workload_profiles(rx.records(), w.pid)) and
                    spans(workload_profiles(rx.records(), w.pid))[-1][1] >= t_ok)
        check(wait_for(drained, 40), f"the spool empties after the backend recovers ({time.time() - t_ok:.0f} s)")
        m = metrics()
        print("\n".join(l for l in m.splitlines() if l.startswith(("brasa_upload", "brasa_spool"))))
        recs = rx.records()
        profs = workload_profiles(recs, w.pid)
        check_exactly_once(profs, "outage")
        check_contiguous(spans(profs), t0 + 3, t_ok, "outage")
        failed = {p.get("id") for r in recs if r["mode"] == "503"
                  for s in r.get("series", []) for p in s["profiles"]} - {None}
        delivered = {p["id"] for _, _, p in workload_profiles(recs)}  # any process
        check(any(r["mode"] == "503" for r in recs), "the backend answered 503 for a while")
        check(not failed or failed & delivered, "retries after a 503 carry the same profile IDs")
        check(agent.get("/healthz")[0] == 200, "the agent stayed healthy")
    finally:
        finish(rx, agent, w)


@integration_test()
def t_upload_restart():
    rx = Receiver(mode="refuse")
    spool = os.path.join(TMP, "spool")
    w = workload("fp_chain", 60)
    try:
        t0 = time.time()
        agent = upload_agent(rx, "pyroscope", keep_pid=w.pid)
        check(wait_for(lambda: os.path.isdir(spool) and len(spool_records(spool)) >= 4, 20),
              "windows pile up in the spool while the receiver is down")
        agent.proc.kill()  # SIGKILL: no chance to flush anything
        agent.proc.wait()
        t_kill = time.time()
        recs = spool_records(spool)
        print(recs)
        # one record damaged on disk: a flipped bit mid-file
        victim = os.path.join(spool, recs[1])
        data = bytearray(open(victim, "rb").read())
        data[len(data) // 2] ^= 0x10
        open(victim, "wb").write(bytes(data))
        rx.set_modes(["ok"])
        agent = upload_agent(rx, "pyroscope", keep_pid=w.pid)
        try:
            check(wait_for(lambda: not spool_records(spool), 30), "the restarted agent empties the spool")
            time.sleep(1)
            before = [x for x in workload_profiles(rx.records(), w.pid) if x[2]["time_nanos"] / 1e9 < t_kill]
            check_exactly_once(before, "restart")
            sp = spans(before)
            gaps = [(a[1], b[0]) for a, b in zip(sp, sp[1:]) if b[0] - a[1] > 0.3]
            print(f"{len(sp)} windows from before the kill; gaps {gaps}")
            check(len(sp) >= len(recs) - 1 and len(gaps) == 1 and 1.5 <= gaps[0][1] - gaps[0][0] <= 2.5,
                  "every spooled window arrived but the corrupt one (one 2 s gap)")
            check(sp[0][0] <= t0 + 4, "from the first window on")
            out = agent.output()
            check(re.search(r"corrupt|checksum", out) and recs[1][:16] in out,
                  "the corrupt record is named in the log")
            m = agent.metrics()
            check(re.search(r'^brasa_upload_dropped_total\{reason="corrupt"\} 1$', m, re.M),
                  "and counted")
        finally:
            agent.stop()
    finally:
        w.kill()
        w.wait()
        rx.stop()


@integration_test()
def t_upload_spool_full():
    rx = Receiver(mode="refuse")
    spool = os.path.join(TMP, "spool")
    w = workload("fp_chain", 60)
    # one small series per window (keep_pid): the symbolizer's cache then
    # stays constant and what memory does is the uploader's
    agent = upload_agent(rx, "pyroscope", "--spool-max-bytes", "16K", "--remote-max-retry-backoff", "2s",
                         interval="1s", keep_pid=w.pid)
    try:
        time.sleep(10)
        rss1 = rss_kib(agent.proc.pid)
        time.sleep(20)
        rss2 = rss_kib(agent.proc.pid)
        m = agent.metrics()
        dropped = re.search(r'^brasa_upload_dropped_total\{reason="spool_full"\} (\d+)', m, re.M)
        size = sum(os.path.getsize(os.path.join(spool, f)) for f in spool_records(spool))
        print(f"spool {size} bytes in {len(spool_records(spool))} records; RSS {rss1} -> {rss2} KiB")
        check(dropped and int(dropped.group(1)) >= 3, f"the oldest windows are dropped and counted ({dropped and dropped.group(1)})")
        check(0 < size <= 16 * 1024, f"the spool stays within its bound ({size} bytes)")
        check(agent.get("/healthz")[0] == 200, "the agent stays healthy")
        check(rss2 - rss1 < 2048 + sanitizer_rss_slack_kib(), f"memory stays flat ({rss1} -> {rss2} KiB)")
        check("lost" in agent.output() or "dropped" in agent.output(), "the loss is logged")
    finally:
        finish(rx, agent, w)


@integration_test(timeout=180)
def t_upload_offcpu():
    """With --off-cpu, each interval uploads an off-CPU profile beside the
    CPU one, named as docs/off-cpu.md says: Pyroscope __name__ off_cpu,
    Parca __name__ parca_agent_off_cpu; the decoder (go tool pprof in the
    receiver) reads samples/count and off_cpu/nanoseconds with the
    sleeper's wait in it."""
    for protocol, cpu_name, off_name in (("pyroscope", "process_cpu", "off_cpu"),
                                         ("parca", "parca_agent_cpu", "parca_agent_off_cpu")):
        rx = Receiver()
        w = workload("offcpu_waits", 30)
        agent = upload_agent(rx, protocol, "--off-cpu", "--off-cpu-one-in", "1", keep_pid=w.pid)
        try:
            def by_name(name):
                return [(r, l, p) for r, l, p in workload_profiles(rx.records(), w.pid, comm="offcpu_waits")
                        if l.get("__name__") == name]

            check(wait_for(lambda: len(by_name(off_name)) >= 2 and by_name(cpu_name), 30),
                  f"{protocol}: off-CPU profiles named {off_name} and CPU ones named {cpu_name} arrived")
            offs = by_name(off_name)
            r, labels, prof = offs[0]
            print(json.dumps(r)[:800])
            check(prof.get("sample_types") == ["samples/count", "off_cpu/nanoseconds"],
                  f"{protocol}: the off-CPU profile's sample types are samples/count and "
                  f"off_cpu/nanoseconds ({prof.get('sample_types')})")
            check(any("sleeper_wait" in p["functions"] for _, _, p in offs),
                  f"{protocol}: the off-CPU profiles hold the sleeper's wait")
            check(all(p.get("sample_types") == ["samples/count", "cpu/nanoseconds"]
                      for _, _, p in by_name(cpu_name)),
                  f"{protocol}: the CPU profiles stay CPU profiles")
        finally:
            finish(rx, agent, w)
