"""What the benchmarks in tests/bench/ share: running children with their
rusage, BPF run-time statistics of a child's programs, the brasa daemon
and its HTTP API, /proc readers, pprof decoding, the load processes and
the test workloads.

Imported by the scripts next to it; each sets sys.dont_write_bytecode
before importing, so no __pycache__ appears in the tree. Python stdlib
only.
"""

import ctypes
import functools
import gzip
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import namedtuple
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BRASA = str(REPO_ROOT / "build" / "agent" / "brasa")
SAMPLE_PROG = "profile_sample"  # brasa's sampling BPF program

HEALTHZ_TIMEOUT_S = 30.0  # longest wait for a starting daemon's /healthz
STOP_TIMEOUT_S = 15.0     # longest wait for its exit after SIGTERM

STATS_SYSCTL = Path("/proc/sys/kernel/bpf_stats_enabled")
# bpf(2) syscall numbers and the commands used here.
BPF_SYSCALL_NR = {"x86_64": 321, "aarch64": 280}
BPF_PROG_GET_FD_BY_ID = 13
BPF_ENABLE_STATS = 32  # with BPF_STATS_RUN_TIME, type 0

# Where meson puts the test workloads and where their sources are, the
# current place first and the one before the move to tests/integration/.
WORKLOAD_BUILT = REPO_ROOT / "build" / "tests" / "integration" / "workloads"
WORKLOAD_SOURCES = REPO_ROOT / "tests" / "integration" / "workloads"
# meson's flags for the workloads with frame pointers (workload_fp_args).
WORKLOAD_FP_CFLAGS = ["-O1", "-g", "-fno-omit-frame-pointer",
                      "-fno-optimize-sibling-calls", "-fno-inline"]


class BenchError(Exception):
    pass


# What a benchmark's main reports as "SCRIPT: error" and exit status 1.
BENCH_ERRORS = (BenchError, subprocess.CalledProcessError, OSError,
                http.client.HTTPException)


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def fmt(val, spec, scale=1, unit=""):
    """val * scale formatted with spec, then unit; "-" for None."""
    return "-" if val is None else format(val * scale, spec) + unit


# --------------------------------------------------------------------------
# Running a benchmark

def run_bench(script, why, args, tmpdir_prefix, body):
    """The frame of a benchmark that runs brasa: root and a brasa binary at
    args.brasa (else the reason on stderr and 1); SIGTERM made to unwind
    through the finally blocks as Ctrl-C does; body(args, tmpdir) in a new
    temporary directory, removed afterwards unless args.keep. 0, or 1 with
    "SCRIPT: error" on stderr when body raised one of BENCH_ERRORS."""
    if os.geteuid() != 0:
        print(f"{script}: needs root ({why})", file=sys.stderr)
        return 1
    if not os.access(args.brasa, os.X_OK):
        print(f"{script}: no brasa binary at '{args.brasa}'", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmpdir = tempfile.mkdtemp(prefix=tmpdir_prefix)
    try:
        body(args, tmpdir)
        return 0
    except BENCH_ERRORS as e:
        print(f"{script}: {e}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            log(f"kept {tmpdir}")
        else:
            shutil.rmtree(tmpdir, ignore_errors=True)


def write_json(path, figures):
    with open(path, "w") as f:
        json.dump(figures, f, indent=2)
        f.write("\n")


def ensure_tool(binary, package):
    """Install a missing peer with apt-get; never touch one that exists."""
    if shutil.which(binary):
        return
    log(f"'{binary}' is missing; installing Debian package '{package}'")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-q"], check=False, env=env,
                   stdout=subprocess.DEVNULL)
    res = subprocess.run(["apt-get", "install", "-y", "-q", package], env=env,
                         stdout=subprocess.DEVNULL)
    if res.returncode != 0 or not shutil.which(binary):
        raise BenchError(f"failed to install '{package}' for '{binary}'")


def log_tail(path, lines=15):
    try:
        return "\n".join(Path(path).read_text(errors="replace")
                         .splitlines()[-lines:])
    except OSError:
        return ""


# --------------------------------------------------------------------------
# Workloads and load

def first_built(*paths):
    """The first of paths that is an executable file (str); None if none
    is."""
    return next((str(p) for p in paths
                 if Path(p).is_file() and os.access(p, os.X_OK)), None)


def workload(name, tmpdir=None, source="fp_chain"):
    """The test workload NAME as meson built it, in
    build/tests/integration/workloads/. If meson has not built it and
    tmpdir is given, SOURCE.c of tests/integration/workloads/ compiled
    with frame pointers as TMPDIR/NAME (the name is the process's comm);
    otherwise BenchError."""
    built = first_built(WORKLOAD_BUILT / name)
    if built:
        return built
    if tmpdir is None:
        raise BenchError(f"no {name} in {WORKLOAD_BUILT}: build the tests "
                         f"first (ninja -C build)")
    src = WORKLOAD_SOURCES / f"{source}.c"
    out = Path(tmpdir) / name
    subprocess.run(["gcc", *WORKLOAD_FP_CFLAGS, "-o", str(out), str(src)],
                   check=True)
    return str(out)


def make_xz_input(tmpdir):
    """8 MiB that xz -9 has to work on: random blocks repeated at a distance
    so the match finder searches instead of giving up on noise."""
    path = Path(tmpdir) / "xz-input.bin"
    rnd = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for i in range(8):
            f.write(rnd[i * 4096:] + rnd[:i * 4096])
    return str(path)


def xz_loop(xz_input):
    """argv of `xz -9 -T1` restarting in a loop, so it keeps a CPU busy
    however fast it is."""
    return ["sh", "-c",
            f'while :; do xz -9 -T1 -c "{xz_input}" >/dev/null; done']


def kill_sessions(procs):
    """SIGKILL to the sessions of procs (each its own session leader), and
    wait for the leaders."""
    for p in procs:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()


class Load:
    """Busy processes for the duration of a run, started in the order
    given, each in a session of its own, all killed on the way out."""

    def __init__(self, *argvs):
        self.argvs = argvs
        self.procs = []

    def __enter__(self):
        for argv in self.argvs:
            self.procs.append(subprocess.Popen(argv, start_new_session=True,
                                               stdout=subprocess.DEVNULL))
        time.sleep(0.3)  # let them reach their hot loops
        return self

    def __exit__(self, *exc):
        kill_sessions(self.procs)
        self.procs = []


# --------------------------------------------------------------------------
# Children and their CPU time

def run_child(argv, stdout=subprocess.DEVNULL, stderr=None, watcher=None,
              stop_after=None):
    """Run argv to completion; return (exit status, rusage, wall seconds).
    With a watcher, /proc/PID/fdinfo is polled every 50 ms for BPF programs.
    With stop_after, SIGINT is sent after that many seconds."""
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdout=stdout, stderr=stderr)
    interrupted = False
    while True:
        pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if watcher:
            watcher.poll(proc.pid)
        if stop_after is not None and not interrupted and \
                time.monotonic() - start >= stop_after:
            proc.send_signal(signal.SIGINT)
            interrupted = True
        time.sleep(0.05)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, ru, time.monotonic() - start


def cpu_seconds(ru):
    return ru.ru_utime + ru.ru_stime


def proc_cpu_seconds(pid):
    """utime, stime of the whole process (every thread, dead ones included)
    from /proc/PID/stat, in seconds; the resolution is one clock tick."""
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    # comm may contain spaces and ')': the fields start after the last ')'.
    rest = text[text.rindex(")") + 2:].split()
    utime, stime = int(rest[11]), int(rest[12])  # fields 14 and 15
    tck = os.sysconf("SC_CLK_TCK")
    return utime / tck, stime / tck


def proc_status_kib(pid, keys):
    """{key: KiB} of the keys (VmRSS, VmHWM, RssAnon...) of
    /proc/PID/status."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in keys:
                out[key] = int(rest.split()[0])
    missing = [k for k in keys if k not in out]
    if missing:
        raise BenchError(f"no {', '.join(missing)} in /proc/{pid}/status")
    return out


def fdinfo_ids(pid, key):
    """The ids of the BPF objects pid holds fds to: the `key:` lines
    (prog_id, map_id) of /proc/PID/fdinfo/*."""
    ids = set()
    for name in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            with open(f"/proc/{pid}/fdinfo/{name}") as f:
                m = re.search(rf"^{key}:\s*(\d+)", f.read(), re.M)
        except OSError:
            continue
        if m:
            ids.add(int(m.group(1)))
    return ids


# --------------------------------------------------------------------------
# BPF statistics

@functools.cache
def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def _bpf(cmd, attr):
    """bpf(2) with the attr array; its return value (-1 on error)."""
    nr = BPF_SYSCALL_NR.get(platform.machine())
    if nr is None:
        raise BenchError(f"no bpf(2) number for {platform.machine()}")
    return _libc().syscall(ctypes.c_long(nr), ctypes.c_long(cmd),
                        ctypes.byref(attr), ctypes.c_uint(ctypes.sizeof(attr)))


class BpfStatsEnabled:
    """kernel.bpf_stats_enabled=1 for the duration; the old value restored."""

    def __enter__(self):
        self.old = STATS_SYSCTL.read_text().strip()
        STATS_SYSCTL.write_text("1\n")
        return self

    def __exit__(self, *exc):
        STATS_SYSCTL.write_text(self.old + "\n")


class BpfStatsFd:
    """BPF run-time statistics on for the duration, through a
    BPF_ENABLE_STATS file descriptor rather than the sysctl: the kernel
    counts the holders, so another benchmark that sets
    kernel.bpf_stats_enabled and restores 0 while this one runs cannot
    stop the counters. Falls back to BpfStatsEnabled on kernels without
    the command (before 5.8)."""

    def __enter__(self):
        self.fd, self.sysctl = -1, None
        if BPF_SYSCALL_NR.get(platform.machine()) is not None:
            self.fd = _bpf(BPF_ENABLE_STATS, (ctypes.c_uint32 * 2)(0, 0))
        if self.fd < 0:
            self.sysctl = BpfStatsEnabled().__enter__()
        return self

    def __exit__(self, *exc):
        if self.fd >= 0:
            os.close(self.fd)
        if self.sysctl:
            self.sysctl.__exit__(*exc)


class BpfProgWatcher:
    """Finds the BPF programs a child process holds (via /proc/PID/fdinfo)
    and takes its own reference on each with BPF_PROG_GET_FD_BY_ID, so the
    program outlives the child and its final run_time_ns/run_cnt can be read
    with bpftool after the child exits: exact totals, no polling gap.
    Programs are loaded after bpf_stats_enabled=1, so their counters count
    from zero and the final reading is the delta for the run."""

    def __init__(self):
        if BPF_SYSCALL_NR.get(platform.machine()) is None:
            raise BenchError(f"no bpf(2) number for {platform.machine()}")
        self.fds = {}  # prog id -> our fd

    def _hold(self, prog_id):
        fd = _bpf(BPF_PROG_GET_FD_BY_ID, (ctypes.c_uint32 * 3)(prog_id, 0, 0))
        if fd < 0:
            return  # already gone; it cannot have run after that
        self.fds[prog_id] = fd

    def poll(self, pid):
        try:
            ids = fdinfo_ids(pid, "prog_id")
        except OSError:
            return
        for prog_id in ids - set(self.fds):
            self._hold(prog_id)

    def read(self):
        """[{id, name, run_time_ns, run_cnt}] for every program held."""
        progs = []
        for prog_id in sorted(self.fds):
            out = subprocess.run(["bpftool", "-j", "prog", "show", "id",
                                  str(prog_id)], capture_output=True,
                                 text=True, check=True).stdout
            info = json.loads(out)
            progs.append({"id": prog_id, "name": info.get("name", "?"),
                          "run_time_ns": info.get("run_time_ns", 0),
                          "run_cnt": info.get("run_cnt", 0)})
        return progs

    def close(self):
        for fd in self.fds.values():
            os.close(fd)
        self.fds = {}


def run_child_bpf(argv, load, stdout=subprocess.DEVNULL, stderr=None,
                  stop_after=None):
    """run_child(argv) under load (a context manager, such as Load) with
    kernel.bpf_stats_enabled=1 and its BPF programs held by a
    BpfProgWatcher: (exit status, rusage, wall seconds, the programs'
    figures over the run as BpfProgWatcher.read() gives them)."""
    watcher = BpfProgWatcher()
    try:
        with load, BpfStatsEnabled():
            status, ru, wall = run_child(argv, stdout, stderr, watcher,
                                         stop_after)
        return status, ru, wall, watcher.read()
    finally:
        watcher.close()


def prog_deltas(progs0, progs1):
    """progs1 less progs0 (BpfProgWatcher.read() lists), program by
    program; one absent from progs0 counts from zero."""
    before = {p["id"]: p for p in progs0}
    out = []
    for p in progs1:
        p0 = before.get(p["id"], {"run_time_ns": 0, "run_cnt": 0})
        out.append({"id": p["id"], "name": p["name"],
                    "run_time_ns": p["run_time_ns"] - p0["run_time_ns"],
                    "run_cnt": p["run_cnt"] - p0["run_cnt"]})
    return out


def sample_prog_runs(progs, who):
    """(run_time_ns, run_cnt) of SAMPLE_PROG in progs; BenchError when who
    (the brasa process, for the message) had none."""
    mine = [p for p in progs if p["name"] == SAMPLE_PROG]
    if not mine:
        raise BenchError(f"no BPF program '{SAMPLE_PROG}' seen in {who}")
    return (sum(p["run_time_ns"] for p in mine),
            sum(p["run_cnt"] for p in mine))


def bpf_maps(pid):
    """`bpftool -j map show` of the BPF maps pid holds, by id ([] if
    bpftool fails)."""
    ids = fdinfo_ids(pid, "map_id")
    res = subprocess.run(["bpftool", "-j", "map", "show"],
                         capture_output=True, text=True)
    if res.returncode != 0:
        return []
    return sorted((m for m in json.loads(res.stdout) if m.get("id") in ids),
                  key=lambda m: m["id"])


# --------------------------------------------------------------------------
# perf

def perf_sample_count(perf_data):
    """PERF_RECORD_SAMPLE records in perf.data, from `perf report --stat`,
    cross-checked against one `perf script -F pid` line per sample."""
    stat = subprocess.run(["perf", "report", "-i", perf_data, "--stat"],
                          capture_output=True, text=True).stdout
    m = re.search(r"SAMPLE events:\s*(\d+)", stat)
    lost = re.search(r"LOST events:\s*(\d+)", stat)
    script = subprocess.run(["perf", "script", "-i", perf_data, "-F", "pid"],
                            capture_output=True, text=True).stdout
    lines = sum(1 for ln in script.splitlines() if ln.strip())
    count = int(m.group(1)) if m else lines
    if m and count != lines:
        log(f"perf report --stat says {count} samples, perf script printed "
            f"{lines}; using the former")
    return count, int(lost.group(1)) if lost else 0


def run_perf(load, data, seconds, call_graph):
    """`perf record -F 99 -a CALL_GRAPH` for seconds, then `perf script`,
    both under load (perf script is timed on the same load: in a live
    agent it would run while the host is busy too). (wall seconds of the
    record, its rusage, perf script's, samples, lost events)."""
    with load:
        st, ru_rec, wall = run_child(
            ["perf", "record", "-q", "-F", "99", "-a", *call_graph,
             "-o", data, "--", "sleep", str(seconds)])
        if st != 0:
            raise BenchError(f"perf record exited with status {st}")
        st, ru_scr, _ = run_child(["perf", "script", "-i", data])
        if st != 0:
            raise BenchError(f"perf script exited with status {st}")
    samples, lost = perf_sample_count(data)
    if samples == 0:
        raise BenchError("perf recorded no samples")
    return wall, ru_rec, ru_scr, samples, lost


# --------------------------------------------------------------------------
# HTTP and the brasa daemon

def free_port():
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port, path, timeout):
    """(status, body) of GET http://127.0.0.1:port/path."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def parse_metrics(text):
    """{series: value} of a Prometheus text exposition; the series is the
    name with its labels as written (`brasa_x{end="root"}`)."""
    vals = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        try:
            vals[name] = float(value)
        except ValueError:
            pass
    return vals


class BrasaDaemon:
    """`brasa run --http-address 127.0.0.1:PORT [--unwind MODE]`, its
    stdout and stderr to a file; killed on the way out if it was not
    stopped cleanly. extra_args go after the other flags (relabel-filter.py
    passes --config FILE). Its local history (on by default) goes beside
    the log, not into the host's /var/lib/brasa."""

    def __init__(self, brasa, log_path, unwind="fp", extra_args=()):
        self.brasa, self.log_path, self.unwind = brasa, log_path, unwind
        self.history_dir = os.path.join(os.path.dirname(os.path.abspath(log_path)),
                                        "history-" + os.path.basename(log_path))
        self.extra_args = ["--history-dir", self.history_dir] + list(extra_args)
        self.port = free_port()
        self.proc = None

    def __enter__(self):
        self.log = open(self.log_path, "w")
        unwind = ["--unwind", self.unwind] if self.unwind else []
        self.proc = subprocess.Popen(
            [self.brasa, "run", "--http-address", f"127.0.0.1:{self.port}",
             *unwind, *self.extra_args],
            stdout=self.log, stderr=subprocess.STDOUT)
        return self

    def healthy(self, timeout):
        """Whether /healthz answers 200 within timeout."""
        try:
            return http_get(self.port, "/healthz", timeout)[0] == 200
        except (OSError, http.client.HTTPException):
            return False

    def wait_healthy(self, watcher=None):
        """Until /healthz answers 200 (at most HEALTHZ_TIMEOUT_S), polling
        the watcher for the daemon's BPF programs meanwhile."""
        deadline = time.monotonic() + HEALTHZ_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(
                    f"brasa run exited with status {self.proc.returncode} "
                    f"before answering /healthz:\n{log_tail(self.log_path)}")
            if watcher:
                watcher.poll(self.proc.pid)
            if self.healthy(2):
                if watcher:
                    watcher.poll(self.proc.pid)
                return
            time.sleep(0.1)
        raise BenchError(f"brasa run did not answer /healthz within "
                         f"{HEALTHZ_TIMEOUT_S:.0f} s:\n"
                         f"{log_tail(self.log_path)}")

    def metrics(self, timeout=10):
        """/metrics as {series: value}; BenchError unless it answers 200."""
        status, body = http_get(self.port, "/metrics", timeout)
        if status != 200:
            raise BenchError(f"/metrics answered {status}")
        return parse_metrics(body.decode())

    def profile(self, seconds, path, before=None, after=None):
        """GET a profile of `seconds` into path. before() runs once the
        connection is open and the server's thread for it exists, just
        before the request is sent; after() runs once the answer is read,
        before the connection is closed: the connection's thread is then
        alive at both points, so per-thread CPU deltas include it."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                          timeout=seconds + 60)
        try:
            tids = set(os.listdir(f"/proc/{self.proc.pid}/task"))
            conn.connect()
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline and \
                    set(os.listdir(f"/proc/{self.proc.pid}/task")) <= tids:
                time.sleep(0.01)
            if before:
                before()
            conn.request("GET", f"/debug/pprof/profile?seconds={seconds}")
            resp = conn.getresponse()
            status, body = resp.status, resp.read()
            if after:
                after()
        finally:
            conn.close()
        if status != 200:
            raise BenchError(f"brasa run answered {status} to a "
                             f"{seconds} s profile: {body[:200]!r}")
        Path(path).write_bytes(body)

    def stop(self, timeout=STOP_TIMEOUT_S):
        """SIGTERM; the exit status (None if it had to be killed after
        timeout seconds)."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def stop_clean(self, who="brasa run"):
        """stop(); BenchError, with the end of its log, unless it exited 0."""
        status = self.stop()
        if status != 0:
            raise BenchError(
                f"{who} did not exit 0 on SIGTERM (status "
                f"{'killed after timeout' if status is None else status}):\n"
                f"{log_tail(self.log_path)}")

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


# --------------------------------------------------------------------------
# pprof

def _varint(buf, pos):
    """(value, next position) of the base-128 varint at pos."""
    val, shift = 0, 0
    while True:
        b = buf[pos]
        pos += 1
        val |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return val, pos


def _packed(buf, pos, end):
    while pos < end:
        val, pos = _varint(buf, pos)
        yield val


def _fields(buf, pos=0, end=None):
    """Yield (field number, wire type, value) of a protobuf message; value
    is an int for varints and a (start, end) slice for length-delimited."""
    end = len(buf) if end is None else end
    while pos < end:
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            val, pos = _varint(buf, pos)
        elif wire == 2:
            ln, pos = _varint(buf, pos)
            val, pos = (pos, pos + ln), pos + ln
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            val, pos = buf[pos:pos + size], pos + size
        else:
            raise BenchError(f"unsupported protobuf wire type {wire}")
        yield field, wire, val


def _ints(buf, wire, val):
    """The integers of a repeated integer field: packed or one."""
    if wire == 2:
        return list(_packed(buf, *val))
    return [val] if wire == 0 else []


def _varints(buf, span):
    """{field number: value} of the varint fields of the message at span
    (the last one of a repeated field)."""
    return {f: v for f, w, v in _fields(buf, *span) if w == 0}


Sample = namedtuple("Sample", "locations values labels")


class Pprof:
    """What the benchmarks read of a gzipped pprof (profile.proto:
    sample_type=1, sample=2, location=4, string_table=6; ValueType.type=1;
    Sample.location_id=1, value=2, label=3; Label.key=1, str=2;
    Location.id=1, line=4; Line.function_id=1):

    strings       the string table
    sample_types  the names of the value columns
    samples       Sample(location ids, values, labels as [(key, str)]
                  string indexes)
    named         {location id: whether a line of it names a function}"""

    def __init__(self, data):
        buf = gzip.decompress(data)
        self.strings, self.samples, self.named = [], [], {}
        type_idx = []
        for field, wire, val in _fields(buf):
            if wire != 2:
                continue
            if field == 6:
                self.strings.append(buf[val[0]:val[1]].decode("utf-8",
                                                              "replace"))
            elif field == 1:
                value_type = _varints(buf, val)
                if 1 in value_type:
                    type_idx.append(value_type[1])
            elif field == 2:
                self.samples.append(self._sample(buf, val))
            elif field == 4:
                self.named[_varints(buf, val).get(1, 0)] = any(
                    f == 4 and w == 2 and _varints(buf, v).get(1, 0)
                    for f, w, v in _fields(buf, *val))
        self.sample_types = [self.strings[i] if i < len(self.strings) else ""
                             for i in type_idx]

    @staticmethod
    def _sample(buf, val):
        locs, values, labels = [], [], []
        for f, w, v in _fields(buf, *val):
            if f == 1:
                locs.extend(_ints(buf, w, v))
            elif f == 2:
                values.extend(_ints(buf, w, v))
            elif f == 3 and w == 2:
                label = _varints(buf, v)
                labels.append((label.get(1, 0), label.get(2, 0)))
        return Sample(locs, values, labels)

    @classmethod
    def load(cls, path):
        return cls(Path(path).read_bytes())

    def values(self, sample_type="samples"):
        """[(sample, its value of sample_type)] (the first column if no
        column has that name), for the samples that have the column."""
        types = self.sample_types
        col = types.index(sample_type) if sample_type in types else 0
        return [(s, s.values[col]) for s in self.samples
                if len(s.values) > col]

    def label(self, sample, key):
        """The string label key of sample ("" when it has none)."""
        s = self.strings
        return next((s[v] for k, v in sample.labels
                     if k < len(s) and s[k] == key and v < len(s)), "")
