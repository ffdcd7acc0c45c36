"""What the privileged integration tests share: the agent under test
(Agent: `brasa run` on a loopback port; capture: `brasa capture`), the
workloads it profiles, checks that print what they verify and stop the
test at the first failure, readers of the profiles it writes (folded
stacks, pprof through `go tool pprof`), cgroups, the fake Kubernetes API
server and the loopback receiver of uploads, and the registry of tests.

A test is a function t_NAME of a test_*.py file in this directory,
declared with @integration_test; run.py runs it by NAME and lists every
test for meson. Meson passes BRASA (the agent binary) and WORKLOADS
(where the test workloads are built).
"""
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

# what the harness shares with the tools it runs (go_env); run.py has
# already turned off bytecode files
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import testlib  # noqa: E402

BRASA = os.environ.get("BRASA", "build/agent/brasa")
WORKLOADS = os.environ.get("WORKLOADS", "build/tests")
SRC = os.environ.get("BRASA_SOURCE_ROOT", ".")
# root's, 0700; run.py removes it after the test
TMP = tempfile.mkdtemp(prefix="brasa-it-")

# name -> Test, in the order run.py imported them
TESTS = {}


class Test:
    def __init__(self, name, fn, plain, timeout):
        self.name = name
        self.fn = fn
        self.file = os.path.basename(fn.__code__.co_filename)
        # Measurements (samples per CPU second, shares of whole stacks,
        # agreement with perf, how soon tables are ready, RSS against
        # absolute bounds) run against the plain agent, since ASan's
        # slower agent moves them; all other tests against the sanitized
        # agent of a -Db_sanitize build (tests/tools/run-suite.sh).
        self.suite = "bpf-plain" if plain else "bpf-sanitized"
        self.timeout = timeout


def integration_test(plain=False, timeout=180):
    """Declares t_NAME as the integration test NAME: plain=True for a
    measurement (suite bpf-plain, see Test), timeout in seconds for
    meson."""
    def register(fn):
        assert fn.__name__.startswith("t_"), fn.__name__
        name = fn.__name__[2:]
        if name in TESTS:
            raise SystemExit(f"integration test {name} declared twice "
                             f"({TESTS[name].file} and {os.path.basename(fn.__code__.co_filename)})")
        TESTS[name] = Test(name, fn, plain, timeout)
        return fn
    return register


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)
    print("ok: " + msg)


def wait_for(cond, timeout, step=0.5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(step)
    return cond()


def workload(name, *args):
    return subprocess.Popen([os.path.join(WORKLOADS, name), *map(str, args)])


@contextlib.contextmanager
def running(proc, settle=0.3):
    """proc (a workload's Popen) given settle seconds to get going, then
    killed and reaped when the block ends, whether its checks passed or
    not."""
    try:
        time.sleep(settle)
        yield proc
    finally:
        proc.kill()
        proc.wait()


def capture(*args, timeout=60):
    r = subprocess.run([BRASA, "capture", *args], capture_output=True, text=True,
                       timeout=timeout)
    if r.returncode != 0:
        fail(f"brasa capture {' '.join(args)} exited {r.returncode}: {r.stderr}")
    return r


def cpu_seconds(pid):
    """User + system CPU time of a process, from /proc/PID/stat."""
    fields = open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def sanitizer_rss_slack_kib():
    """KiB a bound on the agent's RSS growth allows on top when the agent
    is a sanitized build (BRASA_SANITIZED=1, set by tests/meson.build):
    ASan holds freed memory in its quarantine (quarantine_size_mb in
    ASAN_OPTIONS) before reusing it. Printed, never silent."""
    if not os.environ.get("BRASA_SANITIZED"):
        return 0
    m = re.search(r"quarantine_size_mb=(\d+)", os.environ.get("ASAN_OPTIONS", ""))
    mb = int(m.group(1)) if m else 256
    print(f"sanitized agent: RSS bounds allow {mb} MiB more (ASan's quarantine)")
    return mb * 1024


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Agent:
    """`brasa run` on a free loopback port (or port: an agent restarted
    where a page still points), stopped on exit."""

    def __init__(self, *args, port=None):
        self.port = port or free_port()
        self.log = open(os.path.join(TMP, "agent.log"), "w+")
        # its own history (on by default) under TMP, not the host's
        if not any(a.startswith("--history-dir") for a in args):
            self.history_dir = os.path.join(TMP, "history")
            args = ("--history-dir", self.history_dir) + args
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

    def diagnostics(self):
        """What the agent says about reading processes, workers and tables:
        printed where a stack check fails, to tell a slow worker from a
        failed read."""
        try:
            text = self.get("/metrics", timeout=10)[2].decode()
        except OSError as e:
            return f"(no /metrics: {e})"
        keep = re.compile(r"brasa_(process|snapshots|worker_|deferred|samples_deferred|"
                          r"unwind_tables|unwind_waiting|unwind_uncovered|symbolizer_load)")
        return "\n".join("  " + l for l in text.splitlines() if keep.match(l))

    def metrics(self):
        """/metrics, as text."""
        return self.get("/metrics")[2].decode()

    def metric(self, name):
        """A sample's value from /metrics (name may carry labels,
        name{k="v"}), or None."""
        m = re.search(r"^" + re.escape(name) + r" (\S+)$", self.metrics(), re.M)
        return float(m.group(1)) if m else None

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def terminate(self, wait, what=""):
        """SIGTERM, and its exit status within wait seconds; kills it and
        fails past that."""
        self.proc.terminate()
        try:
            return self.proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            fail(f"agent did not stop within {wait} s of SIGTERM{what}")

    def stop(self):
        rc = self.terminate(20)
        # a sanitizer's report (a leak at exit: rc 23) is in the log
        check(rc == 0, f"agent exited cleanly on SIGTERM (rc {rc})" +
              ("" if rc == 0 else ": " + self.output()[-4000:]))


def promtool_check(text, what):
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    check(r.returncode == 0, f"promtool check metrics accepts {what} ({r.stdout.strip()} {r.stderr.strip()})")


# speedscope's file format: the schema its npm package ships (pinned)
SPEEDSCOPE_NPM = ("speedscope", "1.25.0", "dist/release/file-format-schema.json")


def check_speedscope(doc, what):
    """doc (a parsed speedscope file) validates against speedscope's own
    JSON schema (draft 7), with jsonschema (python3-jsonschema)."""
    try:
        schema = json.loads(testlib.npm_file(*SPEEDSCOPE_NPM))
    except RuntimeError as e:
        fail(f"speedscope's schema for {what}: {e}")
    jsonschema = testlib.import_debian("jsonschema")
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(doc), key=lambda e: list(e.path))
    check(not errors, f"{what} validates against speedscope's file-format schema"
          + "".join(f"\n  at {'/'.join(map(str, e.path)) or '(top)'}: {e.message[:200]}" for e in errors[:5]))


# setpriv arguments that run a program as nobody without capabilities
NOBODY_SETPRIV = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"]


def as_nobody(*args):
    """brasa ARGS run as nobody, its output captured."""
    return subprocess.run(NOBODY_SETPRIV + [BRASA, *args], capture_output=True, text=True, timeout=60)


# --- stacks and profiles ---

CHAIN = ["main", "outer", "middle", "leaf"]
NOFP_CHAIN = ["main", "alpha", "beta"] + ["recurse"] * 40 + ["gamma"]


def parse_folded(text):
    """[(frames, count)] from 'comm;root;...;leaf COUNT' lines."""
    out = []
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        out.append((stack.split(";"), int(count)))
    return out


def folded_capture(pid, seconds, *extra, tag="cap"):
    """`brasa capture` of one process for seconds, as parse_folded."""
    out = os.path.join(TMP, f"{tag}{pid}.folded")
    capture("--seconds", str(seconds), "--pid", str(pid), "--format", "folded", "-o", out, *extra)
    return parse_folded(open(out).read())


def started_capture(*args):
    """`brasa capture ARGS` started, returned once it samples (its
    "capturing ..." line: loading and verifying the BPF programs takes
    seconds on a loaded machine), with the lines it wrote so far."""
    p = subprocess.Popen([BRASA, "capture", *args], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    lines = []
    for line in p.stderr:
        lines.append(line)
        if "capturing" in line:
            break
    else:
        p.wait()
        fail(f"brasa capture {' '.join(args)} exited {p.returncode} before sampling: {''.join(lines)}")
    return p, lines


def finish_capture(p, lines, timeout=120):
    lines += p.stderr.readlines()
    p.wait(timeout=timeout)
    if p.returncode != 0:
        fail(f"brasa capture exited {p.returncode}: {''.join(lines)}")
    return "".join(lines)


def folded_capture_cpu(pid, seconds, *extra, tag="cap"):
    """folded_capture, and the CPU seconds pid used while it sampled (from
    its "capturing" line to its exit): what a sampler at 99 Hz sees of a
    process is its CPU time, which other load on the machine takes from."""
    out = os.path.join(TMP, f"{tag}{pid}.folded")
    p, lines = started_capture("--seconds", str(seconds), "--pid", str(pid), "--format", "folded",
                               "-o", out, *extra)
    before = cpu_seconds(pid)
    finish_capture(p, lines)
    return parse_folded(open(out).read()), cpu_seconds(pid) - before


def user_frames(frames):
    return [f for f in frames[1:] if not f.endswith("_[k]")]


def chain_share(stacks, chain):
    """Share of samples whose user stack ends exactly with chain (root to leaf)."""
    total = sum(c for _, c in stacks)
    good = sum(c for f, c in stacks if user_frames(f)[-len(chain):] == chain)
    return good, total


def complete_from_main(frames):
    """The user frames from main down to the leaf when the stack is whole,
    i.e. its root is the program's entry as Debian's libc starts it:
    _start;__libc_start_main;__libc_start_call_main;main. Else None."""
    u = user_frames(frames)
    if (len(u) > 3 and u[0] == "_start" and u[1].startswith("__libc_start_main")
            and u[2] == "__libc_start_call_main" and u[3] == "main"):
        return u[3:]
    return None


def nofp_share(stacks):
    """Samples whose user stack is whole (rooted at _start) and exactly
    main;alpha;beta;recurse*40;gamma from main down."""
    total = sum(c for _, c in stacks)
    good = sum(c for f, c in stacks if complete_from_main(f) == NOFP_CHAIN)
    return good, total


def short(frames):
    """A stack for printing: runs of a repeated frame as name*N."""
    out = []
    for f in frames:
        if out and out[-1][0] == f:
            out[-1][1] += 1
        else:
            out.append([f, 1])
    return ";".join(f if n == 1 else f"{f}*{n}" for f, n in out)


def print_top(stacks, n=5):
    """The n most frequent stacks by function names (pprof keeps distinct
    addresses of a function apart)."""
    merged = {}
    for f, c in stacks:
        k = tuple(f[1:] if f[0] == "-" else f)
        merged[k] = merged.get(k, 0) + c
    for f, c in sorted(merged.items(), key=lambda x: -x[1])[:n]:
        print(f"  {c:5d} {short(f)}")


def go_env():
    """The environment for `go tool pprof` (testlib.go_env), under TMP."""
    return testlib.go_env(TMP)


def pprof_labeled_traces(source):
    """[(frames leaf first, count, {label: value})] from `go tool pprof
    -traces` (which prints a sample's labels above its stack, a key of 10
    characters or more flush left), and its text."""
    r = subprocess.run(["go", "tool", "pprof", "-traces", "-sample_index=samples", source],
                       capture_output=True, text=True, env=go_env(), timeout=120)
    if r.returncode != 0:
        fail(f"go tool pprof -traces failed: {r.stderr}")
    traces = []
    for block in r.stdout.split("-----------+-------------------------------------------------------")[1:]:
        frames, count, labels = [], None, {}
        for line in block.splitlines():
            m = re.match(r"^\s+(\d+)\s+(\S.*)$", line)
            lab = re.match(r"^\s*(\w+):\s+(\S.*?)\s*$", line)
            if m and count is None:
                count = int(m.group(1))
                frames.append(m.group(2).strip())
            elif lab and count is None:
                labels[lab.group(1)] = lab.group(2)
            elif count is not None and line.strip() and not re.match(r"^\s+\S+:\s*\[", line):
                frames.append(line.strip())
        if count is not None:
            traces.append((frames, count, labels))
    return traces, r.stdout


def pprof_traces(source):
    """Stacks (leaf first) and counts from `go tool pprof -traces`."""
    traces, text = pprof_labeled_traces(source)
    return [(frames, count) for frames, count, _ in traces], text


def pprof_stacks(path):
    """The stacks of a pprof file as [(frames, count)] with frames root to
    leaf after a placeholder comm (like parse_folded)."""
    return [(["-"] + list(reversed(f)), c) for f, c in pprof_traces(path)[0]]


def window_stacks(agent, pid, seconds, tag):
    """One /debug/pprof/profile window of a process, as pprof_stacks.
    The agent runs with --no-kernel, so every frame is a user frame."""
    status, _, body = agent.get(f"/debug/pprof/profile?seconds={seconds}&pid={pid}")
    check(status == 200, f"profile window of {seconds} s answered ({status})")
    pb = os.path.join(TMP, f"{tag}.pb.gz")
    open(pb, "wb").write(body)
    return pprof_stacks(pb)


def perf_stacks(data):
    """[(frames root to leaf, 1)] per sample of `perf script -F comm,ip,sym`,
    user frames only, names normalised as brasa prints them."""
    r = subprocess.run(["perf", "script", "-i", data, "-F", "comm,ip,sym"],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        fail(f"perf script failed: {r.stderr[-300:]}")
    out = []
    for block in r.stdout.split("\n\n"):
        lines = [l for l in block.splitlines() if l.strip()]
        if not lines:
            continue
        comm, frames = lines[0].strip(), []
        for l in lines[1:]:
            ip, _, sym = l.strip().partition(" ")
            if int(ip, 16) >= 0x800000000000:
                continue  # kernel
            sym = re.sub(r"\s*\(inlined\)$", "", sym.strip())
            sym = re.sub(r"\+0x[0-9a-f]+$", "", sym)
            frames.append(sym)
        out.append(([comm] + list(reversed(frames)), 1))
    return out


def pprof_raw_samples(path):
    """[(count, {label: value})] of a profile, read by `go tool pprof -raw`."""
    r = subprocess.run(["go", "tool", "pprof", "-raw", path], capture_output=True, text=True,
                       env=go_env(), timeout=120)
    if r.returncode != 0:
        fail(f"go tool pprof -raw failed: {r.stderr}")
    body = r.stdout.split("Samples:", 1)[1].split("\nLocations", 1)[0]
    samples = []
    for line in body.splitlines():
        m = re.match(r"^\s+(\d+)\s+\d+: ", line)
        if m:
            samples.append((int(m.group(1)), {}))
        elif samples:
            for k, v in re.findall(r"(\w+):\[([^\]]*)\]", line):
                samples[-1][1][k] = v
    return samples


def pprof_sample_types(path):
    """The sample types go tool pprof -raw reads, e.g. ['samples/count', 'off_cpu/nanoseconds']."""
    r = subprocess.run(["go", "tool", "pprof", "-raw", path], capture_output=True, text=True,
                       env=go_env(), timeout=120)
    check(r.returncode == 0, f"go tool pprof -raw reads {os.path.basename(path)}: {r.stderr[:300]}")
    head = r.stdout.split("Samples:", 1)[1].splitlines()[1] if "Samples:" in r.stdout else ""
    return [t.replace("[dflt]", "") for t in head.split()]


def offcpu_report(text):
    """{name: (tid, wait_ns, run_delay_ns, wall_ns)} of the lines the
    offcpu_waits workload prints at its end."""
    out = {}
    for line in text.splitlines():
        name, tid, wait, delay, wall = line.split()
        out[name] = (int(tid), int(wait), int(delay), int(wall))
    return out


def profile_labels(agent, query, tag):
    status, _, body = agent.get(f"/debug/pprof/profile?{query}")
    if status != 200:
        fail(f"profile request {query} answered {status}: {body[:200]!r}")
    path = os.path.join(TMP, f"{tag}.pb.gz")
    open(path, "wb").write(body)
    return pprof_raw_samples(path)


def label_values(samples, name):
    """{value: samples} of one label over samples."""
    out = {}
    for count, labels in samples:
        v = labels.get(name)
        out[v] = out.get(v, 0) + count
    return out


def check_all_labeled(samples, name, want):
    vals = label_values(samples, name)
    total = sum(vals.values())
    check(total > 0 and vals.get(want, 0) == total,
          f"every sample carries {name}={want!r} ({vals})")


# --- cgroups, Kubernetes, uploads ---

def cgroup_roots():
    """Where a cgroup must be made for /proc/PID/cgroup to show it: the
    root of a pure v2 machine; on a hybrid one the name=systemd hierarchy
    and the unified (v2) one, as systemd itself does."""
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        return ["/sys/fs/cgroup"]
    roots = [r for r in ("/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified")
             if os.path.exists(os.path.join(r, "cgroup.procs"))]
    if not roots:
        fail("no cgroup v2 or name=systemd hierarchy mounted")
    return roots


class Cgroup:
    """A cgroup path made in every hierarchy of cgroup_roots(); processes
    moved into it go back to the root and the directories are removed on
    exit."""

    def __init__(self, path):
        self.path = path.strip("/")
        self.dirs = []
        for root in cgroup_roots():
            parts = self.path.split("/")
            for i in range(1, len(parts) + 1):
                d = os.path.join(root, *parts[:i])
                if not os.path.isdir(d):
                    os.mkdir(d)
                    self.dirs.append(d)
        self.roots = cgroup_roots()

    def add(self, pid):
        for root in self.roots:
            with open(os.path.join(root, self.path, "cgroup.procs"), "w") as f:
                f.write(str(pid))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for root in self.roots:
            leaf = os.path.join(root, self.path, "cgroup.procs")
            try:
                pids = open(leaf).read().split()
            except OSError:
                pids = []
            for pid in pids:
                try:
                    with open(os.path.join(root, "cgroup.procs"), "w") as f:
                        f.write(pid)
                except OSError:
                    pass
        for d in reversed(self.dirs):
            for _ in range(50):
                try:
                    os.rmdir(d)
                    break
                except OSError:
                    time.sleep(0.1)


def start_tool(script, args, ready, what):
    """tests/tools/SCRIPT with args, once it has made its ready file."""
    proc = subprocess.Popen([sys.executable, os.path.join(SRC, "tests", "tools", script), *args])
    deadline = time.time() + 10
    while not os.path.exists(ready) and time.time() < deadline:
        time.sleep(0.05)
    if not os.path.exists(ready):
        fail(f"{what} did not start")
    return proc


class FakeKubeAPI:
    """tests/tools/fake-kube-api.py serving a pod list of pods (the
    objects of its items), to a client with the bearer token."""

    def __init__(self, pods, token, mode="ok"):
        fixture = os.path.join(TMP, "pods.json")
        json.dump({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"},
                   "items": pods}, open(fixture, "w"))
        self.token_file = os.path.join(TMP, "token")
        open(self.token_file, "w").write(token + "\n")
        ready = os.path.join(TMP, "kube.port")
        self.log = os.path.join(TMP, "kube.log")
        self.proc = start_tool("fake-kube-api.py", ["--fixture", fixture, "--ready-file", ready,
                                                    "--token", token, "--mode", mode,
                                                    "--request-log", self.log],
                               ready, "fake kube API server")
        self.url = f"http://127.0.0.1:{open(ready).read().strip()}"

    def requests(self):
        try:
            return open(self.log).read().splitlines()
        except OSError:
            return []

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


class Receiver:
    """tests/tools/receiver.py: a loopback Pyroscope/Parca that decodes every
    request with protoc and go tool pprof, independently of brasa."""

    def __init__(self, mode="ok"):
        self.out = os.path.join(TMP, f"received-{time.time_ns()}.jsonl")
        ready = self.out + ".ready"
        self.proc = start_tool("receiver.py", ["--proto-dir", os.path.join(SRC, "proto"), "--out", self.out,
                                               "--ready", ready, "--mode", mode], ready, "receiver")
        ports = json.load(open(ready))
        self.url = f"http://127.0.0.1:{ports['port']}"
        self.admin = f"http://127.0.0.1:{ports['admin_port']}"

    def set_modes(self, modes, **extra):
        body = json.dumps({"modes": modes, **extra}).encode()
        req = urllib.request.Request(self.admin + "/mode", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=10).read()

    def records(self):
        try:
            return [json.loads(l) for l in open(self.out) if l.strip()]
        except OSError:
            return []

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def upload_agent(receiver, protocol, *extra, interval="2s", keep_pid=None):
    """brasa run uploading to receiver. keep_pid: a relabel rule keeps only
    that process, so each window is one small series (the receiver runs go
    tool pprof on every profile: a whole host per window would make it,
    not brasa, the bottleneck of the outage tests)."""
    args = []
    if keep_pid is not None:
        config = os.path.join(TMP, "upload.yaml")
        open(config, "w").write("relabel_configs:\n  - source_labels: [pid]\n"
                                f"    regex: '{keep_pid}'\n    action: keep\n")
        args = ["--config", config]
    return Agent(*args, "--remote-url", receiver.url, "--remote-protocol", protocol,
                 "--upload-interval", interval, "--spool-dir", os.path.join(TMP, "spool"), *extra)


def finish(rx, agent, w):
    agent.stop()
    w.kill()
    w.wait()
    rx.stop()


def spool_records(spool):
    return sorted(f for f in os.listdir(spool) if f.endswith(".rec"))
