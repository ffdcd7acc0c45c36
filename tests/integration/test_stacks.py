"""Whole stacks, by frame pointers: a known call chain through `brasa
capture` and the profile endpoint (read back by go tool pprof and protoc),
kernel frames under a syscall, a process that exits or execs within the
capture, a deleted binary and one in another mount namespace."""
import gzip
import os
import re
import shutil
import socket
import stat
import subprocess
import threading
import time

from harness import (BRASA, CHAIN, TMP, WORKLOADS, Agent, capture, chain_share, check, cpu_seconds,
                     finish_capture, folded_capture, folded_capture_cpu, go_env, integration_test,
                     parse_folded, pprof_labeled_traces, pprof_traces, print_top, running,
                     started_capture, user_frames, workload)


@integration_test(plain=True)
def t_fp_chain_capture():
    with running(workload("fp_chain", 60)) as w:
        stacks, used = folded_capture_cpu(w.pid, 4, tag="fp")
        good, total = chain_share(stacks, CHAIN)
        print(f"{good}/{total} samples end with {';'.join(CHAIN)}")
        print_top(stacks, 5)
        # the capture's end (symbolizing, writing) counts in used too
        check(used >= 0.5 and total >= 0.6 * 99 * used,
              f"enough samples of the workload ({total}; it used {used:.2f} CPU s while sampled: "
              f"~{99 * used:.0f} at 99 Hz)")
        check(all(f[0] == "fp_chain" for f, _ in stacks), "every stack is the workload's (comm)")
        check(good >= 0.9 * total, f"at least 90 % carry exactly main;outer;middle;leaf ({good}/{total})")
        # the same capture as pprof, read back by go tool pprof
        pb = os.path.join(TMP, "fp.pb.gz")
        capture("--seconds", "2", "--pid", str(w.pid), "-o", pb)
        traces, text = pprof_traces(pb)
        good = sum(c for f, c in traces if f[:4] == list(reversed(CHAIN)))
        total = sum(c for _, c in traces)
        check(total > 50 and good >= 0.9 * total,
              f"go tool pprof reads the pprof capture with the chain ({good}/{total})")
        check(re.search(r"^File: fp_chain$", text, re.M),
              "pprof names the profile after the main executable (its first mapping)")
        # and protoc, from the vendored schema alone, decodes it too
        proto_dir = os.path.join(os.environ.get("BRASA_SOURCE_ROOT", "."), "proto")
        r = subprocess.run(["protoc", "--decode", "perftools.profiles.Profile", "-I", proto_dir,
                            "profile.proto"], input=gzip.decompress(open(pb, "rb").read()),
                           capture_output=True, timeout=60)
        text = r.stdout.decode(errors="replace")
        check(r.returncode == 0 and 'string_table: "leaf"' in text and 'string_table: "cpu"' in text
              and 'string_table: "nanoseconds"' in text and "period: 10101010" in text,
              f"protoc --decode reads the capture (period 1e9/99 ns, leaf named) {r.stderr.decode()[:200]}")
        # a device is written, not renamed over (-o /dev/null once replaced the node)
        capture("--seconds", "1", "--pid", str(w.pid), "-o", "/dev/null")
        check(stat.S_ISCHR(os.stat("/dev/null").st_mode), "-o /dev/null leaves the device node in place")


@integration_test(plain=True)
def t_fp_chain_endpoint():
    agent = Agent()
    w = workload("fp_chain", 60)
    try:
        time.sleep(0.3)
        before = cpu_seconds(w.pid)
        status, headers, body = agent.get(f"/debug/pprof/profile?seconds=3&pid={w.pid}")
        used = cpu_seconds(w.pid) - before
        check(status == 200, f"profile request answered 200 ({status})")
        check(headers.get("Content-Type") == "application/octet-stream", "octet-stream content type")
        check(body[:2] == b"\x1f\x8b", "gzipped body")
        pb = os.path.join(TMP, "endpoint.pb.gz")
        open(pb, "wb").write(body)
        traces, text = pprof_traces(pb)
        good = sum(c for f, c in traces if f[:4] == list(reversed(CHAIN)))
        total = sum(c for _, c in traces)
        print(f"{good}/{total} samples with the chain")
        check(used >= 0.5 and abs(total - 99 * used) <= 0.2 * 99 * used + 5,
              f"a 3 s window holds the workload's CPU time x 99 Hz ({total}; it used {used:.2f} CPU s: "
              f"~{99 * used:.0f})")
        check(good >= 0.9 * total, f"at least 90 % carry the chain through the endpoint ({good}/{total})")
        # Overlapping requests each get their own window: a 4 s request and
        # a 2 s one started a second later each hold the samples of their
        # own span, i.e. the workload's CPU time in that span x 99 Hz (CPU
        # time, not wall time, so other load on the machine does not matter).
        results = {}

        def fetch(secs, delay):
            time.sleep(delay)
            before = cpu_seconds(w.pid)
            st, _, b = agent.get(f"/debug/pprof/profile?seconds={secs}&pid={w.pid}")
            used = cpu_seconds(w.pid) - before
            path = os.path.join(TMP, f"overlap{secs}.pb.gz")
            open(path, "wb").write(b)
            results[secs] = (st, path, used)

        threads = [threading.Thread(target=fetch, args=(4, 0)), threading.Thread(target=fetch, args=(2, 1))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for secs, (st, path, used) in sorted(results.items()):
            n = sum(c for _, c in pprof_traces(path)[0])
            want = 99 * used
            check(st == 200 and used > 0.5 and abs(n - want) <= 0.15 * want + 3,
                  f"overlapping {secs} s window holds {n} samples "
                  f"(workload used {used:.2f} CPU s in it: ~{want:.0f})")
        # go tool pprof fetching from the endpoint itself, as a user would
        r = subprocess.run(["go", "tool", "pprof", "-top", agent.url(f"/debug/pprof/profile?seconds=2&pid={w.pid}")],
                           capture_output=True, text=True, env=go_env(), timeout=60)
        check(r.returncode == 0 and re.search(r"\bleaf\b", r.stdout),
              "go tool pprof -top URL prints the symbolized leaf function")
        # the whole host, as in the README: some frames stay unsymbolized
        # (stripped libraries), so pprof asks /debug/pprof/symbol as well
        w2 = workload("fp_chain", 4)
        r = subprocess.run(["go", "tool", "pprof", "-top", agent.url("/debug/pprof/profile?seconds=2")],
                           capture_output=True, text=True, env=go_env(), timeout=60)
        w2.wait()
        check(r.returncode == 0 and re.search(r"\bleaf\b", r.stdout),
              f"go tool pprof -top on the whole host works ({r.stderr.strip()[-200:]})")
    finally:
        w.kill()
        w.wait()
        agent.stop()


@integration_test(plain=True)
def t_kernel_frames():
    with running(workload("syscall_heavy", 60)) as w:
        stacks, used = folded_capture_cpu(w.pid, 3, tag="sys")
        total = sum(c for _, c in stacks)
        kernel = 0
        for frames, c in stacks:
            ks = [i for i, f in enumerate(frames) if f.endswith("_[k]")]
            if not ks:
                continue
            names = [frames[i] for i in ks]
            under = frames[1:ks[0]]
            if (any(re.match(r"(__x64_sys_|do_syscall_64)", n) for n in names)
                    and under[-2:] == ["main", "syscall_heavy"]
                    and ks == list(range(ks[0], len(frames)))):
                kernel += c
        print_top(stacks, 3)
        check(used >= 0.5 and total >= 0.6 * 99 * used,
              f"enough samples ({total}; it used {used:.2f} CPU s while sampled: ~{99 * used:.0f})")
        check(kernel >= 0.5 * total,
              f"most samples show a syscall path in the kernel under main;syscall_heavy ({kernel}/{total})")


@integration_test(plain=True)
def t_short_lived():
    out = os.path.join(TMP, "short.folded")
    p, lines = started_capture("--seconds", "3", "--format", "folded", "-o", out)
    w = workload("short_lived")
    _, _, ru = os.wait4(w.pid, 0)  # its CPU time: what a sampler sees of it
    w.returncode = 0
    used = ru.ru_utime + ru.ru_stime
    finish_capture(p, lines)
    stacks = parse_folded(open(out).read())
    mine = [(f, c) for f, c in stacks if f[0] == "short_lived"]
    total = sum(c for _, c in mine)
    named = sum(c for f, c in mine if user_frames(f)[-2:] == ["main", "short_lived_spin"])
    for f, c in mine[:5]:
        print(f"  {c:5d} {';'.join(f)}")
    # 0.3 s of wall time: a loaded machine gives it a fraction of a CPU
    check(used >= 0.03 and total >= max(1, 0.6 * 99 * used - 2),
          f"samples of the 300 ms process were recorded ({total}; it used {used:.2f} CPU s: "
          f"~{99 * used:.0f} at 99 Hz)")
    check(named >= 0.8 * total,
          f"the exited process is symbolized: main;short_lived_spin ({named}/{total})")


def check_process_labeled(samples, pid, exe, what):
    """Every sample of pid carries the labels its read gave (comm and
    executable): none went to a process the agent could no longer read."""
    mine = [(f, c, l) for f, c, l in samples if l.get("pid") == str(pid)]
    bad = {}
    for f, c, l in mine:
        if l.get("comm") != "exit_tail" or l.get("executable") != exe:
            key = (l.get("comm"), l.get("executable"))
            bad[key] = bad.get(key, 0) + c
    total = sum(c for _, c, _ in mine)
    check(total > 0 and not bad,
          f"{what}: every sample of pid {pid} carries comm=exit_tail and its executable "
          f"({total} samples; (comm, executable) of the others: {bad})")
    return mine


@integration_test()
def t_exit_tail():
    """A process runs on after its exit event (do_exit closes its files
    after the tracepoint: here a lingering socket close, then a 2 GiB
    memfd freed on the CPU, ~2 s later), and a process whose main thread
    leaves by pthread_exit lives on in its other threads. Their samples
    keep the process's labels and names; neither becomes a new process
    that no read can name (the `[unknown]` series of an exited pid in
    history_ranges)."""
    exe = os.path.realpath(os.path.join(WORKLOADS, "exit_tail"))
    agent = Agent()
    lst = socket.socket()
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    lst.bind(("127.0.0.1", 0))
    lst.listen(1)  # never accepted, never read: the sender's close lingers
    procs = []
    try:
        w = subprocess.Popen([os.path.join(WORKLOADS, "exit_tail"), "tail", str(lst.getsockname()[1]),
                              "1.5", "2048"], stdout=subprocess.PIPE, text=True)
        procs.append(w)
        check(w.stdout.readline().strip() == "ready", "the tail workload started")
        t0 = time.time()
        status, _, body = agent.get(f"/debug/pprof/profile?seconds=7&pid={w.pid}")
        check(status == 200, f"profile of the exiting process answered ({status})")
        rc = w.wait(timeout=30)
        print(f"the tail workload exited {rc}, {time.time() - t0:.1f} s after it started spinning")
        path = os.path.join(TMP, "exit_tail.pb.gz")
        open(path, "wb").write(body)
        mine = check_process_labeled(pprof_labeled_traces(path)[0], w.pid, exe, "exit tail")
        tail = [(f, c) for f, c, _ in mine if "task_work_run" in f or "do_exit" in f]
        for f, c in tail[:4]:
            print(f"  {c:4d} {';'.join(reversed(f))}")
        spin = sum(c for f, c, _ in mine if "tail_spin" in f)
        check(spin >= 50, f"the spin before the exit is named: tail_spin ({spin} samples)")
        check(sum(c for _, c in tail) >= 1,
              f"samples in do_exit after the exit event were recorded ({sum(c for _, c in tail)}, wanted >= 1)")

        w = subprocess.Popen([os.path.join(WORKLOADS, "exit_tail"), "leader", "6"],
                             stdout=subprocess.PIPE, text=True)
        procs.append(w)
        check(w.stdout.readline().strip() == "ready", "the leader workload started")
        time.sleep(2.5)  # past the drains that would forget an exited process
        status, _, body = agent.get(f"/debug/pprof/profile?seconds=2&pid={w.pid}")
        check(status == 200, f"profile of the leaderless process answered ({status})")
        path = os.path.join(TMP, "exit_leader.pb.gz")
        open(path, "wb").write(body)
        mine = check_process_labeled(pprof_labeled_traces(path)[0], w.pid, exe, "main thread gone")
        total = sum(c for _, c, _ in mine)
        named = sum(c for f, c, _ in mine if "leader_spin" in f)
        check(total >= 100 and named >= 0.9 * total,
              f"the thread left running is sampled and named: leader_spin ({named}/{total})")
    finally:
        for p in procs:
            p.kill()
            p.wait()
        lst.close()
        agent.stop()


@integration_test(plain=True)
def t_exec():
    """A process that execs another program keeps one pid: samples before
    the exec resolve against the old image, samples after against the new
    one (a stale snapshot would give the new code the old names)."""
    fp = os.path.join(WORKLOADS, "fp_chain")
    # the spin before the exec outlasts the capture's start-up (loading
    # and verifying the BPF programs)
    w = workload("exec_after", "3", fp, "3")
    stacks = folded_capture(w.pid, 5, tag="exec")
    w.wait()
    before = sum(c for f, c in stacks if user_frames(f)[-2:] == ["main", "spin_before_exec"])
    after = sum(c for f, c in stacks if user_frames(f)[-4:] == CHAIN)
    total = sum(c for _, c in stacks)
    print_top(stacks, 6)
    check(before >= 30, f"samples before the exec symbolized as main;spin_before_exec ({before})")
    check(after >= 60, f"samples after the exec symbolized as main;outer;middle;leaf ({after})")
    check(before + after >= 0.9 * total, f"nothing else mis-symbolized ({before + after}/{total})")
    # libc is mapped by ld.so after the exec event: the snapshot taken at
    # the exec must be refreshed to symbolize it.
    libc_after = sum(c for f, c in stacks if f[0] == "fp_chain" and "__libc_start_call_main" in f)
    check(libc_after >= 0.9 * after, f"libc frames of the new image symbolized ({libc_after}/{after})")
    check(any(f[0] == "exec_after" for f, _ in stacks) and any(f[0] == "fp_chain" for f, _ in stacks),
          "the process name follows the exec")


def check_chain_capture(proc, what):
    """A 3 s capture of proc (fp_chain, by whatever path) holds its CPU
    time's worth of samples, 90 % of them with the whole chain."""
    stacks, used = folded_capture_cpu(proc.pid, 3, tag="proc")
    print_top(stacks, 3)
    good, total = chain_share(stacks, CHAIN)
    check(used >= 0.5 and total >= 0.6 * 99 * used,
          f"{what}: sampled ({total}; it used {used:.2f} CPU s while sampled: ~{99 * used:.0f})")
    check(good >= 0.9 * total, f"{what} symbolized ({good}/{total})")


@integration_test()
def t_deleted_binary():
    """A binary deleted while it runs is still read, through map_files."""
    path = os.path.join(TMP, "fp_chain_deleted")
    shutil.copy(os.path.join(WORKLOADS, "fp_chain"), path)
    with running(subprocess.Popen([path, "5"])) as w:
        os.unlink(path)
        check_chain_capture(w, "deleted-but-running binary")


@integration_test()
def t_mount_namespace():
    """A process in its own mount namespace (as in a container) runs a
    binary the host cannot see at that path: brasa reads it through
    /proc/PID/root and /proc/PID/map_files."""
    src = os.path.join(WORKLOADS, "fp_chain")
    script = ("mkdir -p /tmp/brasa-ns && mount -t tmpfs none /tmp/brasa-ns && "
              f"cp {src} /tmp/brasa-ns/fp_chain && exec /tmp/brasa-ns/fp_chain 5")
    with running(subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", script]),
                 settle=0.5) as w:
        check(not os.path.exists("/tmp/brasa-ns/fp_chain"), "the binary is invisible from the host")
        check_chain_capture(w, "binary of another mount namespace")
