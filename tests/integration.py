#!/usr/bin/env python3
"""Privileged integration tests: real BPF, real workloads, real readers.

Run as `integration.py TEST`; meson passes BRASA (the agent binary) and
WORKLOADS (where the test workloads are built). Exit 0 pass, 1 fail, 77
skip (only where the machine truly cannot run BPF: not root).
"""
import gzip
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

BRASA = os.environ.get("BRASA", "build/agent/brasa")
WORKLOADS = os.environ.get("WORKLOADS", "build/tests")
TMP = tempfile.mkdtemp(prefix="brasa-it-")


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)
    print("ok: " + msg)


def workload(name, *args):
    return subprocess.Popen([os.path.join(WORKLOADS, name), *map(str, args)])


def capture(*args, timeout=60):
    r = subprocess.run([BRASA, "capture", *args], capture_output=True, text=True,
                       timeout=timeout)
    if r.returncode != 0:
        fail(f"brasa capture {' '.join(args)} exited {r.returncode}: {r.stderr}")
    return r


def parse_folded(text):
    """[(frames, count)] from 'comm;root;...;leaf COUNT' lines."""
    out = []
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        out.append((stack.split(";"), int(count)))
    return out


def user_frames(frames):
    return [f for f in frames[1:] if not f.endswith("_[k]")]


def chain_share(stacks, chain):
    """Share of samples whose user stack ends exactly with chain (root to leaf)."""
    total = sum(c for _, c in stacks)
    good = sum(c for f, c in stacks if user_frames(f)[-len(chain):] == chain)
    return good, total


def go_env():
    env = dict(os.environ)
    env.setdefault("HOME", TMP)
    env["GOCACHE"] = os.path.join(TMP, "gocache")
    env["GOPATH"] = os.path.join(TMP, "gopath")
    env["GOFLAGS"] = "-mod=mod"
    env["PPROF_TMPDIR"] = TMP
    return env


def pprof_traces(source):
    """Stacks (leaf first) and counts from `go tool pprof -traces`."""
    r = subprocess.run(["go", "tool", "pprof", "-traces", "-sample_index=samples", source],
                       capture_output=True, text=True, env=go_env(), timeout=120)
    if r.returncode != 0:
        fail(f"go tool pprof -traces failed: {r.stderr}")
    stacks = []
    for block in r.stdout.split("-----------+-------------------------------------------------------")[1:]:
        frames, count = [], None
        for line in block.splitlines():
            m = re.match(r"^\s+(\d+)\s+(\S.*)$", line)
            if m and count is None:
                count = int(m.group(1))
                frames.append(m.group(2).strip())
            elif count is not None and line.strip() and not re.match(r"^\s+\S+:\s*\[", line):
                frames.append(line.strip())
        if count is not None:
            stacks.append((frames, count))
    return stacks, r.stdout


def cpu_seconds(pid):
    """User + system CPU time of a process, from /proc/PID/stat."""
    fields = open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Agent:
    """`brasa run` on a free loopback port, stopped on exit."""

    def __init__(self, *args):
        self.port = free_port()
        self.log = open(os.path.join(TMP, "agent.log"), "w+")
        self.proc = subprocess.Popen([BRASA, "run", "--http-address", f"127.0.0.1:{self.port}", *args],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                if self.get("/healthz")[0] == 200:
                    return
            except OSError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        fail("agent did not become healthy: " + self.output())

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path, timeout=60):
        try:
            with urllib.request.urlopen(self.url(path), timeout=timeout) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        self.proc.terminate()
        try:
            rc = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            fail("agent did not stop within 20 s of SIGTERM")
        check(rc == 0, f"agent exited cleanly on SIGTERM (rc {rc})")


CHAIN = ["main", "outer", "middle", "leaf"]


def t_fp_chain_capture():
    w = workload("fp_chain", 9)
    try:
        time.sleep(0.3)
        out = os.path.join(TMP, "fp.folded")
        capture("--seconds", "4", "--pid", str(w.pid), "--format", "folded", "-o", out)
        stacks = parse_folded(open(out).read())
        good, total = chain_share(stacks, CHAIN)
        print(f"{good}/{total} samples end with {';'.join(CHAIN)}")
        for f, c in sorted(stacks, key=lambda x: -x[1])[:5]:
            print(f"  {c:5d} {';'.join(f)}")
        check(total >= 150, f"enough samples of the workload ({total}, 4 s at 99 Hz)")
        check(all(f[0] == "fp_chain" for f, _ in stacks), "every stack is the workload's (comm)")
        check(good >= 0.9 * total, f"at least 90 % carry exactly main;outer;middle;leaf ({good}/{total})")
        # the same capture as pprof, read back by go tool pprof
        pb = os.path.join(TMP, "fp.pb.gz")
        capture("--seconds", "2", "--pid", str(w.pid), "-o", pb)
        traces, _ = pprof_traces(pb)
        good = sum(c for f, c in traces if f[:4] == list(reversed(CHAIN)))
        total = sum(c for _, c in traces)
        check(total > 50 and good >= 0.9 * total,
              f"go tool pprof reads the pprof capture with the chain ({good}/{total})")
        # and protoc, from the vendored schema alone, decodes it too
        proto_dir = os.path.join(os.environ.get("BRASA_SOURCE_ROOT", "."), "proto")
        r = subprocess.run(["protoc", "--decode", "perftools.profiles.Profile", "-I", proto_dir,
                            "profile.proto"], input=gzip.decompress(open(pb, "rb").read()),
                           capture_output=True, timeout=60)
        text = r.stdout.decode(errors="replace")
        check(r.returncode == 0 and 'string_table: "leaf"' in text and 'string_table: "cpu"' in text
              and 'string_table: "nanoseconds"' in text and "period: 10101010" in text,
              f"protoc --decode reads the capture (period 1e9/99 ns, leaf named) {r.stderr.decode()[:200]}")
    finally:
        w.kill()
        w.wait()


def t_fp_chain_endpoint():
    agent = Agent()
    w = workload("fp_chain", 8)
    try:
        time.sleep(0.3)
        status, headers, body = agent.get(f"/debug/pprof/profile?seconds=3&pid={w.pid}")
        check(status == 200, f"profile request answered 200 ({status})")
        check(headers.get("Content-Type") == "application/octet-stream", "octet-stream content type")
        check(body[:2] == b"\x1f\x8b", "gzipped body")
        pb = os.path.join(TMP, "endpoint.pb.gz")
        open(pb, "wb").write(body)
        traces, text = pprof_traces(pb)
        good = sum(c for f, c in traces if f[:4] == list(reversed(CHAIN)))
        total = sum(c for _, c in traces)
        print(f"{good}/{total} samples with the chain")
        check(total >= 150, f"enough samples in a 3 s window ({total})")
        check(good >= 0.9 * total, f"at least 90 % carry the chain through the endpoint ({good}/{total})")
        # Overlapping requests each get their own window: a 4 s request and
        # a 2 s one started a second later each hold the samples of their
        # own span, i.e. the workload's CPU time in that span x 99 Hz (CPU
        # time, not wall time, so other load on the machine does not matter).
        import threading
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


def t_kernel_frames():
    w = workload("syscall_heavy", 5)
    try:
        time.sleep(0.3)
        out = os.path.join(TMP, "sys.folded")
        capture("--seconds", "3", "--pid", str(w.pid), "--format", "folded", "-o", out)
        stacks = parse_folded(open(out).read())
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
        for f, c in sorted(stacks, key=lambda x: -x[1])[:3]:
            print(f"  {c:5d} {';'.join(f)}")
        check(total >= 100, f"enough samples ({total})")
        check(kernel >= 0.5 * total,
              f"most samples show a syscall path in the kernel under main;syscall_heavy ({kernel}/{total})")
    finally:
        w.kill()
        w.wait()


def t_short_lived():
    out = os.path.join(TMP, "short.folded")
    p = subprocess.Popen([BRASA, "capture", "--seconds", "3", "--format", "folded", "-o", out],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.2)
    w = workload("short_lived")
    w.wait()
    _, err = p.communicate(timeout=30)
    check(p.returncode == 0, f"capture succeeded ({err.strip()})")
    stacks = parse_folded(open(out).read())
    mine = [(f, c) for f, c in stacks if f[0] == "short_lived"]
    total = sum(c for _, c in mine)
    named = sum(c for f, c in mine if user_frames(f)[-2:] == ["main", "short_lived_spin"])
    for f, c in mine[:5]:
        print(f"  {c:5d} {';'.join(f)}")
    check(total >= 10, f"samples of the 300 ms process were recorded ({total})")
    check(named >= 0.8 * total,
          f"the exited process is symbolized: main;short_lived_spin ({named}/{total})")


def t_exec():
    """A process that execs another program keeps one pid: samples before
    the exec resolve against the old image, samples after against the new
    one (a stale snapshot would give the new code the old names)."""
    out = os.path.join(TMP, "exec.folded")
    fp = os.path.join(WORKLOADS, "fp_chain")
    # the spin before the exec outlasts the capture's start-up (loading
    # and verifying the BPF programs)
    w = workload("exec_after", "1.6", fp, "1.2")
    capture("--seconds", "3", "--pid", str(w.pid), "--format", "folded", "-o", out)
    w.wait()
    stacks = parse_folded(open(out).read())
    before = sum(c for f, c in stacks if user_frames(f)[-2:] == ["main", "spin_before_exec"])
    after = sum(c for f, c in stacks if user_frames(f)[-4:] == CHAIN)
    total = sum(c for _, c in stacks)
    for f, c in sorted(stacks, key=lambda x: -x[1])[:6]:
        print(f"  {c:5d} {';'.join(f)}")
    check(before >= 30, f"samples before the exec symbolized as main;spin_before_exec ({before})")
    check(after >= 60, f"samples after the exec symbolized as main;outer;middle;leaf ({after})")
    check(before + after >= 0.9 * total, f"nothing else mis-symbolized ({before + after}/{total})")
    # libc is mapped by ld.so after the exec event: the snapshot taken at
    # the exec must be refreshed to symbolize it.
    libc_after = sum(c for f, c in stacks if f[0] == "fp_chain" and "__libc_start_call_main" in f)
    check(libc_after >= 0.9 * after, f"libc frames of the new image symbolized ({libc_after}/{after})")
    check(any(f[0] == "exec_after" for f, _ in stacks) and any(f[0] == "fp_chain" for f, _ in stacks),
          "the process name follows the exec")


def chain_capture_of(proc, seconds=3):
    out = os.path.join(TMP, f"proc{proc.pid}.folded")
    capture("--seconds", str(seconds), "--pid", str(proc.pid), "--format", "folded", "-o", out)
    stacks = parse_folded(open(out).read())
    for f, c in sorted(stacks, key=lambda x: -x[1])[:3]:
        print(f"  {c:5d} {';'.join(f)}")
    return chain_share(stacks, CHAIN)


def t_deleted_binary():
    """A binary deleted while it runs is still read, through map_files."""
    path = os.path.join(TMP, "fp_chain_deleted")
    shutil.copy(os.path.join(WORKLOADS, "fp_chain"), path)
    w = subprocess.Popen([path, "5"])
    try:
        time.sleep(0.3)
        os.unlink(path)
        good, total = chain_capture_of(w)
        check(total >= 100 and good >= 0.9 * total,
              f"deleted-but-running binary symbolized ({good}/{total})")
    finally:
        w.kill()
        w.wait()


def t_mount_namespace():
    """A process in its own mount namespace (as in a container) runs a
    binary the host cannot see at that path: brasa reads it through
    /proc/PID/root and /proc/PID/map_files."""
    src = os.path.join(WORKLOADS, "fp_chain")
    script = ("mkdir -p /tmp/brasa-ns && mount -t tmpfs none /tmp/brasa-ns && "
              f"cp {src} /tmp/brasa-ns/fp_chain && exec /tmp/brasa-ns/fp_chain 5")
    w = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", script])
    try:
        time.sleep(0.5)
        check(not os.path.exists("/tmp/brasa-ns/fp_chain"), "the binary is invisible from the host")
        good, total = chain_capture_of(w)
        check(total >= 100 and good >= 0.9 * total,
              f"binary of another mount namespace symbolized ({good}/{total})")
    finally:
        w.kill()
        w.wait()


def t_bad_input():
    agent = Agent()
    try:
        dead = subprocess.Popen(["true"])
        dead.wait()
        cases = {
            "/debug/pprof/profile?seconds=0": "seconds",
            "/debug/pprof/profile?seconds=-5": "seconds",
            "/debug/pprof/profile?seconds=abc": "seconds",
            "/debug/pprof/profile?seconds=": "seconds",
            "/debug/pprof/profile?seconds=99999999999999999999": "seconds",
            "/debug/pprof/profile?seconds=100000": "",
            "/debug/pprof/profile?seconds=1&pid=abc": "pid",
            f"/debug/pprof/profile?seconds=1&pid={dead.pid}": "no such process",
        }
        for path, word in cases.items():
            status, headers, body = agent.get(path)
            text = body.decode(errors="replace")
            check(status == 400 and headers.get("X-Go-Pprof") == "1"
                  and headers.get("Content-Type", "").startswith("text/plain")
                  and word in text and text.endswith("\n"),
                  f"{path} -> 400 with a message ({status}: {text.strip()})")
        check(agent.proc.poll() is None, "agent still running after bad requests")
        check(agent.get("/healthz")[0] == 200, "healthz still ok")
    finally:
        agent.stop()
    # bad command lines
    for args, word in [(["capture", "--seconds", "0"], "--seconds"),
                       (["capture", "--seconds", "1x"], "--seconds"),
                       (["capture", "--pid", "abc"], "--pid"),
                       (["capture", "--pid", "999999999"], "no such process"),
                       (["capture", "--format", "svg"], "--format"),
                       (["run", "--http-address", "nonsense"], "nonsense"),
                       (["run", "--frequency", "0"], "--frequency"),
                       (["frobnicate"], "unknown command")]:
        r = subprocess.run([BRASA, *args], capture_output=True, text=True, timeout=30)
        check(r.returncode == 2 and word in r.stderr,
              f"brasa {' '.join(args)} -> exit 2 naming {word!r} ({r.stderr.strip()[:120]})")


def t_metrics():
    agent = Agent()
    w = workload("fp_chain", 3)
    try:
        time.sleep(2.5)
        status, headers, body = agent.get("/metrics")
        text = body.decode()
        check(status == 200 and headers.get("Content-Type") == "text/plain; version=0.0.4; charset=utf-8",
              "metrics served with the exposition content type")
        r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
        check(r.returncode == 0, f"promtool check metrics accepts it ({r.stdout.strip()} {r.stderr.strip()})")
        values = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, v = line.rpartition(" ")
                values[name] = float(v)
        check(values.get("brasa_samples_total", 0) >= 100,
              f"samples counted ({values.get('brasa_samples_total')})")
        check(values.get("brasa_drains_total", 0) >= 2, "drains counted")
        check(values.get("brasa_processes_max") == 16384, "process bound exported")
        for reason in ("counts_map_full", "stacks_map_full", "stack_hash_collision", "event_ring_full"):
            check(f'brasa_bpf_lost_total{{reason="{reason}"}}' in values, f"loss counter {reason} exported")
    finally:
        w.kill()
        w.wait()
        agent.stop()


def as_nobody(*args):
    setpriv = shutil.which("setpriv")
    return subprocess.run([setpriv, "--reuid=65534", "--regid=65534", "--clear-groups",
                           "--inh-caps=-all", BRASA, *args],
                          capture_output=True, text=True, timeout=60)


def t_no_root():
    r = as_nobody("capture", "--seconds", "1", "-o", "/dev/null")
    check(r.returncode == 3 and "root" in r.stderr and "brasa check" in r.stderr,
          f"capture without privileges -> exit 3 with advice ({r.stderr.strip()})")
    r = as_nobody("run")
    check(r.returncode == 3, f"run without privileges -> exit 3 ({r.stderr.strip()})")
    r = as_nobody("check")
    print(r.stdout)
    check(r.returncode == 3 and re.search(r"FAIL\s+privileges", r.stdout) and "CAP_BPF" in r.stdout,
          "check names the missing capability")
    r = subprocess.run([BRASA, "check"], capture_output=True, text=True, timeout=60)
    check(r.returncode == 0 and "brasa can sample here" in r.stdout, "check as root passes")


def t_bpf_load_failure():
    # In a new user namespace we hold every capability, but only there: the
    # kernel refuses bpf(), so the sampler really fails to load.
    r = subprocess.run(["unshare", "--user", "--map-root-user", BRASA, "capture",
                        "--seconds", "1", "-o", os.path.join(TMP, "x.pb.gz")],
                       capture_output=True, text=True, timeout=60)
    print(r.stderr)
    check(r.returncode in (3, 4) and "failed to" in r.stderr and "Segmentation" not in r.stderr,
          f"BPF load failure -> clear error and exit {r.returncode}")


def main():
    if os.geteuid() != 0:
        print("SKIP: needs root to load BPF")
        sys.exit(77)
    name = sys.argv[1]
    fn = globals().get("t_" + name)
    if not fn:
        fail("no such test " + name)
    try:
        fn()
    finally:
        shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    main()
