#!/usr/bin/env python3
"""CPU cost per sample of brasa (`brasa capture`, one-shot, and `brasa run`,
the daemon, in steady state) against `perf record -g` (and optionally
bpftrace), run in one invocation on the same fixed CPU load.

Not a timed test: it prints figures, ratios against the peer, and PASS/MISS
against the targets; it exits 0 unless something failed to run.
See tests/bench/README.md for what is counted and what is not.
"""

import argparse
import ctypes
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
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
STATS_SYSCTL = Path("/proc/sys/kernel/bpf_stats_enabled")
SAMPLE_PROG = "profile_sample"

# Targets from the issue.
TARGET_CPU_RATIO = 0.25     # brasa CPU per sample <= 1/4 of perf's
TARGET_BPF_NS = 4000.0      # profile_sample run time per invocation

# brasa run: the warm-up request before the measured one (pays the one-time
# costs: BTF, /proc/kallsyms, DWARF of the libraries seen).
WARMUP_SECONDS = 5
HEALTHZ_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0

# bpf(2) syscall numbers; BPF_PROG_GET_FD_BY_ID is command 13.
BPF_SYSCALL_NR = {"x86_64": 321, "aarch64": 280}
BPF_PROG_GET_FD_BY_ID = 13


class BenchError(Exception):
    pass


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Tools and load

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


def build_spinner(tmpdir, name="fp_chain"):
    """build/tests/NAME if meson built it, else tests/workloads/fp_chain.c
    compiled as TMPDIR/NAME (the name is the process's comm)."""
    built = REPO_ROOT / "build" / "tests" / name
    if built.is_file() and os.access(built, os.X_OK):
        return str(built)
    src = REPO_ROOT / "tests" / "workloads" / "fp_chain.c"
    out = Path(tmpdir) / name
    # Same flags as tests/meson.build uses for workloads.
    subprocess.run(["gcc", "-O1", "-g", "-fno-omit-frame-pointer",
                    "-fno-optimize-sibling-calls", "-fno-inline",
                    "-o", str(out), str(src)], check=True)
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


class Load:
    """Two busy processes: fp_chain (frame pointers) and Debian's xz (none)."""

    def __init__(self, spinner, xz_input, seconds):
        self.spinner, self.xz_input, self.seconds = spinner, xz_input, seconds
        self.procs = []

    def __enter__(self):
        self.procs.append(subprocess.Popen(
            [self.spinner, str(self.seconds)], start_new_session=True))
        # xz restarts in a loop so it keeps a CPU busy however fast it is.
        loop = f'while :; do xz -9 -T1 -c "{self.xz_input}" >/dev/null; done'
        self.procs.append(subprocess.Popen(["sh", "-c", loop],
                                           start_new_session=True))
        time.sleep(0.3)  # let both reach their hot loops
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)  # our own session leader
            except ProcessLookupError:
                pass
            p.wait()
        self.procs = []


# --------------------------------------------------------------------------
# BPF program statistics

class BpfStatsEnabled:
    """kernel.bpf_stats_enabled=1 for the duration; the old value restored."""

    def __enter__(self):
        self.old = STATS_SYSCTL.read_text().strip()
        STATS_SYSCTL.write_text("1\n")
        return self

    def __exit__(self, *exc):
        STATS_SYSCTL.write_text(self.old + "\n")


class BpfProgWatcher:
    """Finds the BPF programs a child process holds (via /proc/PID/fdinfo)
    and takes its own reference on each with BPF_PROG_GET_FD_BY_ID, so the
    program outlives the child and its final run_time_ns/run_cnt can be read
    with bpftool after the child exits: exact totals, no polling gap.
    Programs are loaded after bpf_stats_enabled=1, so their counters count
    from zero and the final reading is the delta for the run."""

    def __init__(self):
        nr = BPF_SYSCALL_NR.get(platform.machine())
        if nr is None:
            raise BenchError(f"no bpf(2) number for {platform.machine()}")
        self.nr = nr
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.libc.syscall.restype = ctypes.c_long
        self.fds = {}  # prog id -> our fd

    def _hold(self, prog_id):
        attr = (ctypes.c_uint32 * 3)(prog_id, 0, 0)
        fd = self.libc.syscall(ctypes.c_long(self.nr),
                               ctypes.c_long(BPF_PROG_GET_FD_BY_ID),
                               ctypes.byref(attr), ctypes.c_uint(12))
        if fd < 0:
            return  # already gone; it cannot have run after that
        self.fds[prog_id] = fd

    def poll(self, pid):
        try:
            names = os.listdir(f"/proc/{pid}/fdinfo")
        except OSError:
            return
        for name in names:
            try:
                with open(f"/proc/{pid}/fdinfo/{name}") as f:
                    text = f.read()
            except OSError:
                continue
            m = re.search(r"^prog_id:\s*(\d+)", text, re.M)
            if m and int(m.group(1)) not in self.fds:
                self._hold(int(m.group(1)))

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


def run_child(argv, stdout=subprocess.DEVNULL, watcher=None, stop_after=None):
    """Run argv to completion; return (exit status, rusage, wall seconds).
    With a watcher, /proc/PID/fdinfo is polled every 50 ms for BPF programs.
    With stop_after, SIGINT is sent after that many seconds."""
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdout=stdout)
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


# --------------------------------------------------------------------------
# Sample counting

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


def pprof_total_samples(path):
    """Sum of the 'samples' value over all Sample messages of a gzipped
    pprof (profile.proto: sample_type=1, sample=2, string_table=6;
    ValueType.type=1; Sample.value=2)."""
    buf = gzip.decompress(Path(path).read_bytes())
    strings, type_idx, values = [], [], []
    for field, wire, val in _fields(buf):
        if field == 6 and wire == 2:
            strings.append(buf[val[0]:val[1]].decode("utf-8", "replace"))
        elif field == 1 and wire == 2:
            for f, w, v in _fields(buf, *val):
                if f == 1 and w == 0:
                    type_idx.append(v)
        elif field == 2 and wire == 2:
            sample = []
            for f, w, v in _fields(buf, *val):
                if f == 2 and w == 2:  # packed
                    sample.extend(_packed(buf, *v))
                elif f == 2 and w == 0:
                    sample.append(v)
            values.append(sample)
    types = [strings[i] if i < len(strings) else "" for i in type_idx]
    col = types.index("samples") if "samples" in types else 0
    return sum(s[col] for s in values if len(s) > col)


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


def bpftrace_sample_count(output_path):
    """Sum of the counts bpftrace printed for its @[kstack, ustack, comm]
    map at exit (each entry ends with ']: N')."""
    total = 0
    with open(output_path, errors="replace") as f:
        for line in f:
            m = re.search(r"\]: (\d+)\s*$", line)
            if m:
                total += int(m.group(1))
    return total


# --------------------------------------------------------------------------
# Runs

def run_brasa_capture(args, tmpdir, spinner, xz_input):
    out = Path(tmpdir) / "out.pb.gz"
    watcher = BpfProgWatcher()
    try:
        with Load(spinner, xz_input, args.seconds + 30), BpfStatsEnabled():
            status, ru, wall = run_child(
                [args.brasa, "capture", "--seconds", str(args.seconds),
                 "--unwind", args.unwind, "-o", str(out)], watcher=watcher)
        progs = watcher.read()
    finally:
        watcher.close()
    if status != 0:
        raise BenchError(f"brasa capture exited with status {status}")
    sample_progs = [p for p in progs if p["name"] == SAMPLE_PROG]
    if not sample_progs:
        raise BenchError(f"no BPF program '{SAMPLE_PROG}' seen in brasa")
    cpu = cpu_seconds(ru)
    bpf_sample_ns = sum(p["run_time_ns"] for p in sample_progs)
    bpf_sample_cnt = sum(p["run_cnt"] for p in sample_progs)
    bpf_all_ns = sum(p["run_time_ns"] for p in progs)
    samples = pprof_total_samples(out)
    if samples == 0:
        raise BenchError("brasa wrote a profile without samples")
    return {
        "tool": "brasa capture (one-shot)",
        "wall_s": wall,
        "user_s": ru.ru_utime, "sys_s": ru.ru_stime,
        "peak_rss_mib": ru.ru_maxrss / 1024,
        "samples": samples,
        "samples_source": "pprof sum of samples/count (decoded in Python)",
        "bpf_run_cnt": bpf_sample_cnt,
        "bpf_programs": progs,
        "bpf_sample_run_time_ns": bpf_sample_ns,
        "bpf_all_run_time_ns": bpf_all_ns,
        "bpf_ns_per_sample": bpf_sample_ns / bpf_sample_cnt
        if bpf_sample_cnt else None,
        "cpu_us_per_sample_all_in": (cpu + bpf_all_ns / 1e9) / samples * 1e6,
        "cpu_us_per_sample_user_only": cpu / samples * 1e6,
    }


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


def proc_cpu_seconds(pid):
    """utime+stime of the whole process (every thread, dead ones included)
    from /proc/PID/stat, in seconds; the resolution is one clock tick."""
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    # comm may contain spaces and ')': the fields start after the last ')'.
    rest = text[text.rindex(")") + 2:].split()
    utime, stime = int(rest[11]), int(rest[12])  # fields 14 and 15
    tck = os.sysconf("SC_CLK_TCK")
    return utime / tck, stime / tck


def thread_cpu_ns(pid):
    """{tid: ns on CPU} from /proc/PID/task/*/schedstat (first field, the
    scheduler's sum_exec_runtime: nanosecond resolution, but only for the
    threads alive at the time of reading)."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                out[int(tid)] = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return out


def proc_status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise BenchError(f"no {key} in /proc/{pid}/status")


def _log_tail(path, lines=15):
    try:
        return "\n".join(Path(path).read_text(errors="replace")
                         .splitlines()[-lines:])
    except OSError:
        return ""


class BrasaDaemon:
    """`brasa run --http-address 127.0.0.1:PORT`, its stderr to a file;
    killed on the way out if it was not stopped cleanly. extra_args go
    after the other flags (relabel-filter.py passes --config FILE)."""

    def __init__(self, brasa, log_path, unwind="fp", extra_args=()):
        self.brasa, self.log_path, self.unwind = brasa, log_path, unwind
        self.extra_args = list(extra_args)
        self.port = free_port()
        self.proc = None

    def __enter__(self):
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [self.brasa, "run", "--http-address", f"127.0.0.1:{self.port}",
             "--unwind", self.unwind] + self.extra_args,
            stdout=self.log, stderr=subprocess.STDOUT)
        return self

    def wait_healthy(self, watcher):
        deadline = time.monotonic() + HEALTHZ_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(
                    f"brasa run exited with status {self.proc.returncode} "
                    f"before answering /healthz:\n{_log_tail(self.log_path)}")
            watcher.poll(self.proc.pid)
            try:
                status, body = http_get(self.port, "/healthz", 2)
                if status == 200:
                    watcher.poll(self.proc.pid)
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise BenchError(f"brasa run did not answer /healthz within "
                         f"{HEALTHZ_TIMEOUT_S:.0f} s:\n"
                         f"{_log_tail(self.log_path)}")

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

    def stop(self):
        """SIGTERM; the exit status (None if it had to be killed)."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def _by_id(progs):
    return {p["id"]: p for p in progs}


def run_brasa_daemon(args, tmpdir, spinner, xz_input):
    """brasa run in steady state: start it, wait for /healthz, warm up with
    one discarded profile, then measure the daemon's CPU time and its BPF
    run time across one profile request of D s."""
    warm = Path(tmpdir) / "warmup.pb.gz"
    out = Path(tmpdir) / "run.pb.gz"
    watcher = BpfProgWatcher()
    load_s = args.seconds + WARMUP_SECONDS + HEALTHZ_TIMEOUT_S + 30
    try:
        with Load(spinner, xz_input, load_s), BpfStatsEnabled(), \
                BrasaDaemon(args.brasa, Path(tmpdir) / "brasa-run.log", args.unwind) as d:
            t0 = time.monotonic()
            d.wait_healthy(watcher)
            startup_s = time.monotonic() - t0
            pid = d.proc.pid
            log(f"brasa run (pid {pid}) healthy after {startup_s:.2f} s; "
                f"warm-up profile of {WARMUP_SECONDS} s")
            d.profile(WARMUP_SECONDS, warm)
            warm_cpu = sum(proc_cpu_seconds(pid))
            if args.perf_daemon:
                perf_proc = start_daemon_perf(args, tmpdir, pid)
            log(f"brasa run: measured profile of {args.seconds} s")
            watcher.poll(pid)
            m = {}

            def before():
                m["progs0"] = _by_id(watcher.read())
                m["thr0"] = thread_cpu_ns(pid)
                m["stat0"] = proc_cpu_seconds(pid)
                m["w0"] = time.monotonic()

            def after():
                m["w1"] = time.monotonic()
                m["stat1"] = proc_cpu_seconds(pid)
                m["thr1"] = thread_cpu_ns(pid)
                m["progs1"] = watcher.read()

            d.profile(args.seconds, out, before, after)
            wall = m["w1"] - m["w0"]
            (ut0, st0), (ut1, st1) = m["stat0"], m["stat1"]
            progs0, progs1 = m["progs0"], m["progs1"]
            thr0, thr1 = m["thr0"], m["thr1"]
            hwm_kib = proc_status_kib(pid, "VmHWM")
            rss_kib = proc_status_kib(pid, "VmRSS")
            if args.perf_daemon:
                finish_daemon_perf(perf_proc, tmpdir)
            status = d.stop()
            log_tail = _log_tail(d.log_path)
    finally:
        watcher.close()
    if status != 0:
        raise BenchError(f"brasa run did not exit 0 on SIGTERM (status "
                         f"{'killed after timeout' if status is None else status}"
                         f"):\n{log_tail}")
    # Deltas over the measured request, per program; a program absent from
    # the first reading (none expected) counts from zero.
    progs = []
    for p in progs1:
        p0 = progs0.get(p["id"], {"run_time_ns": 0, "run_cnt": 0})
        progs.append({"id": p["id"], "name": p["name"],
                      "run_time_ns": p["run_time_ns"] - p0["run_time_ns"],
                      "run_cnt": p["run_cnt"] - p0["run_cnt"]})
    sample_progs = [p for p in progs if p["name"] == SAMPLE_PROG]
    if not sample_progs:
        raise BenchError(f"no BPF program '{SAMPLE_PROG}' seen in brasa run")
    samples = pprof_total_samples(out)
    if samples == 0:
        raise BenchError("brasa run returned a profile without samples")
    user_s, sys_s = ut1 - ut0, st1 - st0
    cpu = user_s + sys_s
    # Cross-check at nanosecond resolution: per-thread sum_exec_runtime of
    # the threads alive at both readings. Exact when no thread came or went
    # in between (checked: "threads_unchanged").
    thr_ns = sum(thr1[t] - thr0[t] for t in thr1 if t in thr0)
    threads_unchanged = set(thr0) == set(thr1)
    bpf_sample_ns = sum(p["run_time_ns"] for p in sample_progs)
    bpf_sample_cnt = sum(p["run_cnt"] for p in sample_progs)
    bpf_all_ns = sum(p["run_time_ns"] for p in progs)
    return {
        "tool": "brasa run (steady state)",
        "wall_s": wall,
        "startup_s": startup_s,
        "cpu_before_measurement_s": warm_cpu,
        "user_s": user_s, "sys_s": sys_s,
        "cpu_tick_s": 1 / os.sysconf("SC_CLK_TCK"),
        "threads": len(thr1),
        "threads_unchanged": threads_unchanged,
        "schedstat_cpu_s": thr_ns / 1e9,
        "cpu_us_per_sample_schedstat_all_in":
        (thr_ns + bpf_all_ns) / 1e3 / samples,
        "cpu_us_per_sample_schedstat_without_bpf": thr_ns / 1e3 / samples,
        "peak_rss_mib": hwm_kib / 1024,
        "rss_mib": rss_kib / 1024,
        "rss_source": "VmHWM (peak) and VmRSS of /proc/PID/status at the end",
        "samples": samples,
        "samples_source": "pprof sum of samples/count (decoded in Python)",
        "bpf_run_cnt": bpf_sample_cnt,
        "bpf_programs": progs,
        "bpf_sample_run_time_ns": bpf_sample_ns,
        "bpf_all_run_time_ns": bpf_all_ns,
        "bpf_ns_per_sample": bpf_sample_ns / bpf_sample_cnt
        if bpf_sample_cnt else None,
        "cpu_us_per_sample_all_in": (cpu + bpf_all_ns / 1e9) / samples * 1e6,
        "cpu_us_per_sample_user_only": cpu / samples * 1e6,
    }


def start_daemon_perf(args, tmpdir, pid):
    """--perf-daemon: perf record --call-graph dwarf on the daemon for the
    measured window (it adds its own cost to the host, not to the daemon's
    rusage, but the BPF figures of that run are disturbed: diagnosis only)."""
    data = str(Path(tmpdir) / "perf-daemon.data")
    return subprocess.Popen(
        ["perf", "record", "-q", "-g", "--call-graph", "dwarf", "-p",
         str(pid), "-o", data, "--", "sleep", str(args.seconds)],
        stdout=subprocess.DEVNULL)


def finish_daemon_perf(proc, tmpdir):
    proc.wait()
    data = str(Path(tmpdir) / "perf-daemon.data")
    rep = subprocess.run(["perf", "report", "-i", data, "--no-children",
                          "--stdio"], capture_output=True, text=True).stdout
    path = Path(tmpdir) / "perf-daemon.txt"
    path.write_text(rep)
    log(f"perf report of the daemon in {path} (use --keep)")


def run_perf(args, tmpdir, spinner, xz_input):
    data = str(Path(tmpdir) / "perf.data")
    with Load(spinner, xz_input, args.seconds + 30):
        st, ru_rec, wall = run_child(
            ["perf", "record", "-q", "-F", "99", "-a", "-g", "-o", data,
             "--", "sleep", str(args.seconds)])
        if st != 0:
            raise BenchError(f"perf record exited with status {st}")
        # perf script is timed on the same load: in a live agent it would
        # run while the host is busy too.
        st, ru_scr, _ = run_child(["perf", "script", "-i", data])
        if st != 0:
            raise BenchError(f"perf script exited with status {st}")
    samples, lost = perf_sample_count(data)
    if samples == 0:
        raise BenchError("perf recorded no samples")
    cpu = cpu_seconds(ru_rec) + cpu_seconds(ru_scr)
    return {
        "tool": "perf",
        "wall_s": wall,
        "record_cpu_s": cpu_seconds(ru_rec),
        "script_cpu_s": cpu_seconds(ru_scr),
        "peak_rss_mib": max(ru_rec.ru_maxrss, ru_scr.ru_maxrss) / 1024,
        "samples": samples,
        "lost_events": lost,
        "samples_source": "perf report --stat SAMPLE events",
        "cpu_us_per_sample_all_in": cpu / samples * 1e6,
    }


def run_bpftrace(args, tmpdir, spinner, xz_input):
    out_path = Path(tmpdir) / "bpftrace.out"
    watcher = BpfProgWatcher()
    try:
        with Load(spinner, xz_input, args.seconds + 30), BpfStatsEnabled(), \
                open(out_path, "w") as out:
            # SIGINT after D s: bpftrace then prints the map, as perf script
            # prints its samples; that printing is part of its cost.
            status, ru, wall = run_child(
                ["bpftrace", "-e",
                 "profile:hz:99 { @[kstack, ustack, comm] = count(); }"],
                stdout=out, watcher=watcher, stop_after=args.seconds)
        progs = watcher.read()
    finally:
        watcher.close()
    if status != 0:
        raise BenchError(f"bpftrace exited with status {status}")
    samples = bpftrace_sample_count(out_path)
    if samples == 0:
        raise BenchError("bpftrace printed no samples")
    bpf_ns = sum(p["run_time_ns"] for p in progs)
    cnt = sum(p["run_cnt"] for p in progs if p["run_cnt"])
    cpu = cpu_seconds(ru)
    return {
        "tool": "bpftrace",
        "wall_s": wall,
        "user_s": ru.ru_utime, "sys_s": ru.ru_stime,
        "peak_rss_mib": ru.ru_maxrss / 1024,
        "samples": samples,
        "samples_source": "sum of the counts bpftrace printed",
        "bpf_programs": progs,
        "bpf_ns_per_sample": bpf_ns / cnt if cnt else None,
        "cpu_us_per_sample_all_in": (cpu + bpf_ns / 1e9) / samples * 1e6,
        "cpu_us_per_sample_user_only": cpu / samples * 1e6,
    }


# --------------------------------------------------------------------------
# Report

def _fmt(val, spec):
    return "-" if val is None else format(val, spec)


def report(results, args):
    capture, daemon, perf = (results["brasa_capture"], results["brasa_run"],
                             results["perf"])
    bpftrace = results.get("bpftrace")
    rows = [capture, daemon, perf] + ([bpftrace] if bpftrace else [])
    print(f"\ncpu-sampling: 99 Hz, every CPU, {args.seconds} s per tool, "
          f"load = fp_chain + xz -9 -T1 (2 busy processes, "
          f"{os.cpu_count()} CPUs)\n")
    hdr = (f"{'tool':<25} {'samples':>8} {'CPU µs/sample':>14} "
           f"{'(w/o BPF)':>10} {'peak RSS MiB':>13} {'BPF ns/sample':>14}")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print(f"{r['tool']:<25} {r['samples']:>8} "
              f"{r['cpu_us_per_sample_all_in']:>14.1f} "
              f"{_fmt(r.get('cpu_us_per_sample_user_only'), '.1f'):>10} "
              f"{r['peak_rss_mib']:>13.1f} "
              f"{_fmt(r.get('bpf_ns_per_sample'), '.0f'):>14}")
    print()

    def progs_text(r):
        return ", ".join(f"{p['name']} {p['run_cnt']} runs"
                         for p in r["bpf_programs"])

    print(f"brasa capture: user {capture['user_s']:.3f} s + sys "
          f"{capture['sys_s']:.3f} s + BPF "
          f"{capture['bpf_all_run_time_ns'] / 1e9:.4f} s "
          f"({progs_text(capture)}); pprof samples {capture['samples']}, "
          f"{SAMPLE_PROG} run_cnt {capture['bpf_run_cnt']}; whole process "
          f"incl. start-up, wall {capture['wall_s']:.1f} s")
    print(f"brasa run:     user {daemon['user_s']:.2f} s + sys "
          f"{daemon['sys_s']:.2f} s (clock ticks of "
          f"{daemon['cpu_tick_s'] * 1000:.0f} ms) + BPF "
          f"{daemon['bpf_all_run_time_ns'] / 1e9:.4f} s "
          f"({progs_text(daemon)}); pprof samples {daemon['samples']}, "
          f"{SAMPLE_PROG} run_cnt {daemon['bpf_run_cnt']}; over one "
          f"{args.seconds} s request (wall {daemon['wall_s']:.2f} s) after "
          f"start-up ({daemon['startup_s']:.1f} s) and a {WARMUP_SECONDS} s "
          f"warm-up request ({daemon['cpu_before_measurement_s']:.2f} s CPU "
          f"so far); RSS now {daemon['rss_mib']:.1f} MiB, peak (VmHWM) "
          f"{daemon['peak_rss_mib']:.1f} MiB")
    tick_us = daemon["cpu_tick_s"] * 1e6 / daemon["samples"]
    print(f"               /proc/PID/stat is read in whole ticks: the "
          f"figure is +/- {tick_us:.1f} µs/sample. Cross-check, "
          f"schedstat of its {daemon['threads']} threads "
          f"({'same threads at both readings: exact' if daemon['threads_unchanged'] else 'threads came or went: partial'}): "
          f"{daemon['schedstat_cpu_s'] * 1e3:.1f} ms CPU = "
          f"{daemon['cpu_us_per_sample_schedstat_all_in']:.1f} µs/sample "
          f"all-in, {daemon['cpu_us_per_sample_schedstat_without_bpf']:.1f} "
          f"w/o BPF")
    print(f"perf:          record {perf['record_cpu_s']:.3f} s + script "
          f"{perf['script_cpu_s']:.3f} s CPU; {perf['samples']} samples "
          f"({perf['lost_events']} lost events)")
    if bpftrace:
        print(f"bpftrace:      user {bpftrace['user_s']:.3f} s + sys "
              f"{bpftrace['sys_s']:.3f} s + BPF ({progs_text(bpftrace)}); "
              f"{bpftrace['samples']} samples")
    print("note:   perf's in-kernel sampling and unwinding cost is NOT in its"
          " figure (rusage does not see it);\n"
          "        brasa's all-in figure adds its BPF run time explicitly, "
          "'w/o BPF' is the like-for-like one.")
    if bpftrace and bpftrace.get("bpf_ns_per_sample") is not None:
        print(f"calibration: bpftrace's minimal sampler (one get_stackid for "
              f"the kernel stack, one for the user stack, a map update) costs "
              f"{bpftrace['bpf_ns_per_sample']:.0f} ns/sample of BPF on this "
              f"load;\n             brasa {SAMPLE_PROG}: run "
              f"{_fmt(daemon['bpf_ns_per_sample'], '.0f')} ns, capture "
              f"{_fmt(capture['bpf_ns_per_sample'], '.0f')} ns.")

    ratios, targets = {}, {}
    perf_cpu = perf["cpu_us_per_sample_all_in"]
    print("\nratios against perf (CPU per sample: perf's all-in figure; "
          "RSS: peak against perf's peak):")
    print(f"  {'':<25} {'CPU all-in':>10} {'CPU w/o BPF':>12} "
          f"{'peak RSS':>9}")
    for key, r in (("brasa_run", daemon), ("brasa_capture", capture)):
        rr = {"cpu_per_sample_all_in":
              r["cpu_us_per_sample_all_in"] / perf_cpu,
              "cpu_per_sample_without_bpf":
              r["cpu_us_per_sample_user_only"] / perf_cpu,
              "peak_rss": r["peak_rss_mib"] / perf["peak_rss_mib"]}
        ratios[key] = rr
        print(f"  {r['tool'] + ' / perf':<25} "
              f"{rr['cpu_per_sample_all_in']:>10.3f} "
              f"{rr['cpu_per_sample_without_bpf']:>12.3f} "
              f"{rr['peak_rss']:>9.3f}")
    print(f"  (brasa run, current RSS / perf's peak: "
          f"{daemon['rss_mib'] / perf['peak_rss_mib']:.3f})")
    ratios["brasa_run"]["rss_now_vs_perf_peak"] = \
        daemon["rss_mib"] / perf["peak_rss_mib"]

    print("\ntargets (CPU/sample all-in <= 1/4 of perf's; "
          f"{SAMPLE_PROG} BPF <= {TARGET_BPF_NS:.0f} ns/sample):")
    for key, r in (("brasa_run", daemon), ("brasa_capture", capture)):
        ratio = ratios[key]["cpu_per_sample_all_in"]
        bpf_ns = r["bpf_ns_per_sample"]
        t = {"cpu_per_sample_le_quarter_of_perf": ratio <= TARGET_CPU_RATIO,
             "bpf_ns_per_sample_le_4000": bpf_ns is not None and
             bpf_ns <= TARGET_BPF_NS}
        targets[key] = t
        print(f"  {r['tool']:<25} CPU ratio {ratio:6.3f} -> "
              f"{'PASS' if t['cpu_per_sample_le_quarter_of_perf'] else 'MISS'}"
              f";  BPF {_fmt(bpf_ns, '.0f'):>5} ns/sample -> "
              f"{'PASS' if t['bpf_ns_per_sample_le_4000'] else 'MISS'}")
    return {"ratios": ratios, "targets": targets}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=int, default=15,
                    help="sampling duration per tool (default 15)")
    ap.add_argument("--brasa", default=str(REPO_ROOT / "build" / "agent" /
                                           "brasa"),
                    help="brasa binary (default build/agent/brasa)")
    ap.add_argument("--with-bpftrace", action="store_true",
                    help="also run bpftrace profile:hz:99 as a peer")
    ap.add_argument("--json", metavar="FILE", help="write the figures here")
    ap.add_argument("--perf-daemon", action="store_true",
                    help="diagnosis only: perf record --call-graph dwarf the "
                    "brasa run daemon during its measured window (disturbs "
                    "its figures); the report goes to the temporary "
                    "directory, see --keep")
    ap.add_argument("--unwind", default="fp", choices=["fp", "dwarf", "auto"],
                    help="brasa's user-stack unwinding (default fp: like for like with "
                         "perf record -g; tests/bench/unwinding.py compares the modes)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary directory")
    args = ap.parse_args()
    if args.seconds <= 0:
        ap.error("--seconds must be positive")
    if os.geteuid() != 0:
        print("cpu-sampling: needs root (BPF, perf -a, sysctl)",
              file=sys.stderr)
        return 1
    if not os.access(args.brasa, os.X_OK):
        print(f"cpu-sampling: no brasa binary at '{args.brasa}'",
              file=sys.stderr)
        return 1

    # SIGTERM unwinds through the finally blocks like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmpdir = tempfile.mkdtemp(prefix="brasa-bench-")
    try:
        ensure_tool("perf", "linux-perf")
        ensure_tool("bpftool", "bpftool")
        if args.with_bpftrace:
            ensure_tool("bpftrace", "bpftrace")
        ensure_tool("xz", "xz-utils")
        spinner = build_spinner(tmpdir)
        xz_input = make_xz_input(tmpdir)

        results = {}
        log(f"brasa capture for {args.seconds} s")
        results["brasa_capture"] = run_brasa_capture(args, tmpdir, spinner,
                                                     xz_input)
        log(f"brasa run: start-up, {WARMUP_SECONDS} s warm-up, then "
            f"{args.seconds} s measured")
        results["brasa_run"] = run_brasa_daemon(args, tmpdir, spinner,
                                                xz_input)
        log(f"perf record + perf script for {args.seconds} s")
        results["perf"] = run_perf(args, tmpdir, spinner, xz_input)
        if args.with_bpftrace:
            log(f"bpftrace for {args.seconds} s")
            results["bpftrace"] = run_bpftrace(args, tmpdir, spinner,
                                               xz_input)
        summary = report(results, args)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"seconds": args.seconds, "frequency_hz": 99,
                           "cpus": os.cpu_count(), "results": results,
                           **summary}, f, indent=2)
                f.write("\n")
        return 0
    except (BenchError, subprocess.CalledProcessError, OSError) as e:
        print(f"cpu-sampling: {e}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            log(f"kept {tmpdir}")
        else:
            shutil.rmtree(tmpdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
