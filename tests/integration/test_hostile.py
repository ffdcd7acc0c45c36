"""A hostile tenant against the agent (issue 9): what an unprivileged
local user (uid nobody) can put where the agent looks, tried against a
running `brasa run`. Each test checks that /healthz stays 200 throughout,
that other processes' profiles stay complete, that nothing the user could
not read reaches a profile, that the agent's memory stays under its
configured bound, and that SIGTERM still stops it promptly. Against the
plain agent: they check its RSS against absolute bounds.
"""
import gzip
import importlib.util
import os
import re
import shutil
import struct
import subprocess
import tempfile
import threading
import time

from harness import (CHAIN, NOBODY_SETPRIV, NOFP_CHAIN, TMP, WORKLOADS, Agent, check, complete_from_main,
                     cpu_seconds, fail, integration_test, nofp_share, print_top, rss_kib, user_frames,
                     window_stacks, workload)

# the perf maps a hostile tenant writes, shared with the soak benchmark
_spec = importlib.util.spec_from_file_location(
    "hostile_tenant", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench", "hostile-tenant.py"))
tenant = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tenant)

NOBODY = 65534
SECRET = "BRASA_SECRET_MARKER"
# A generous allowance over the configured bounds for what no bound
# covers: the binary, its libraries, libbpf and the kernel symbols (about
# 20 MiB here), malloc's slack and thread stacks.
BASE_ALLOWANCE_MIB = 40
BUILD_MEMORY_MIB = 64  # limits.unwind_table_build_memory's default


def as_nobody(argv, **kw):
    return subprocess.Popen(NOBODY_SETPRIV + argv, **kw)


def rss_mib(pid):
    return rss_kib(pid) / 1024


class Watch:
    """Polls /healthz and the agent's RSS until stopped; remembers every
    failure and the peak."""

    def __init__(self, agent, period=0.25):
        self.agent = agent
        self.period = period
        self.failures = []
        self.polls = 0
        self.slowest = 0.0
        self.peak_rss = 0.0
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop_flag.is_set():
            t0 = time.time()
            try:
                status = self.agent.get("/healthz", timeout=5)[0]
            except OSError as e:
                status = f"error {e}"
            took = time.time() - t0
            self.polls += 1
            self.slowest = max(self.slowest, took)
            if status != 200:
                self.failures.append((round(t0, 1), status))
            try:
                self.peak_rss = max(self.peak_rss, rss_mib(self.agent.proc.pid))
            except OSError:
                pass
            self.stop_flag.wait(self.period)

    def finish(self):
        self.stop_flag.set()
        self.thread.join(timeout=10)
        check(self.polls >= 10 and not self.failures,
              f"/healthz answered 200 throughout ({self.polls} polls, slowest {self.slowest:.2f} s, "
              f"failures {self.failures[:5]})")


def stop_promptly(agent, limit=10.0):
    t0 = time.time()
    agent.stop()
    took = time.time() - t0
    check(took < limit, f"SIGTERM stopped the agent in {took:.1f} s (limit {limit:.0f} s)")


def tear_down(agent, watch, *procs):
    """What a test leaves, whether its checks passed or not: the watch
    stopped, procs (None: never started) killed and reaped, and the agent
    killed if stop_promptly did not stop it."""
    watch.stop_flag.set()
    for p in procs:
        if p:
            p.kill()
            p.wait()
    if agent.proc.poll() is None:
        agent.proc.kill()


def configured_total_mib(limits):
    """The documented total (docs/how-it-works.md#memory): the bounds in
    bytes, one object load in flight (up to the symbol bound) and one
    unwind table build, plus the base allowance."""
    return sum(limits.values()) + limits["symbol"] + BUILD_MEMORY_MIB + BASE_ALLOWANCE_MIB


def limit_args(limits):
    flags = {"symbol": "--symbol-memory", "perf_map": "--perf-map-memory",
             "process_table": "--process-table-memory", "profile": "--profile-memory",
             "held_sample": "--held-sample-memory"}
    out = []
    for k, v in limits.items():
        out += [flags[k], f"{v}M"]
    return out


def whole_profile(agent, seconds, tag):
    """A whole-host window: (status, decompressed pprof bytes)."""
    status, _, body = agent.get(f"/debug/pprof/profile?seconds={seconds}", timeout=seconds + 60)
    raw = gzip.decompress(body) if status == 200 else b""
    open(os.path.join(TMP, f"{tag}.pb.gz"), "wb").write(body)
    return status, raw


def sampled_window(agent, pid, seconds, tag):
    """A window of one process, and how many samples its CPU time during
    the window's span asks for (at 99 Hz, with room for a loaded
    machine). The answer may come later than the span's end: a window
    waits for the samples it holds back."""
    got = {}
    t = threading.Thread(target=lambda: got.update(r=window_stacks(agent, pid, seconds, tag)))
    before = cpu_seconds(pid)
    t.start()
    time.sleep(seconds)
    used = cpu_seconds(pid) - before
    t.join()
    if "r" not in got:
        fail(f"no profile of {pid}")
    return got["r"], max(20, int(0.7 * 99 * used))


def chain_complete(agent, pid, seconds, tag):
    """Samples of a fp_chain process with the exact known chain, all of
    them, and how many its CPU time asks for."""
    stacks, want = sampled_window(agent, pid, seconds, tag)
    total = sum(c for _, c in stacks)
    good = sum(c for f, c in stacks if user_frames(f)[-4:] == CHAIN)
    return good, total, want


def start_jit(seconds):
    """jit_spin as nobody; returns (process, code address)."""
    p = as_nobody([os.path.join(WORKLOADS, "jit_spin"), str(seconds)],
                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    m = re.match(r"jit 0x([0-9a-f]+) (\d+)", p.stdout.readline())
    if not m:
        fail("jit_spin did not start")
    return p, int(m.group(1), 16)


def own_by_nobody(path):
    os.lchown(path, NOBODY, NOBODY)


@integration_test(plain=True, timeout=240)
def t_hostile_perf_maps():
    """Perf maps as a hostile JIT owner would leave them: a FIFO, a
    symlink to a root-only file, four maps of a million entries, one of
    255 MiB without a newline."""
    limits = {"symbol": 32, "perf_map": 16, "process_table": 16, "profile": 64, "held_sample": 4}
    secret_dir = tempfile.mkdtemp(prefix="brasa-secret-")
    os.chmod(secret_dir, 0o700)
    secret = os.path.join(secret_dir, "secret.map")
    agent = Agent("--no-kernel", *limit_args(limits))
    watch = Watch(agent)
    ref = workload("fp_chain", 40)
    jits = []
    try:
        kinds = ["fifo", "symlink", "huge", "huge", "huge", "huge", "nonewline"]
        for kind in kinds:
            jits.append((kind, *start_jit(35)))
        # the secret: lines that would name every JIT's code
        with open(secret, "w") as f:
            for _, _, addr in jits:
                f.write(f"{addr:x} 100 {SECRET}\n")
        os.chmod(secret, 0o600)
        for kind, p, addr in jits:
            path = f"/tmp/perf-{p.pid}.map"
            tenant.write_map(path, kind, addr, symlink_to=secret)
            own_by_nobody(path)
        cpu0 = cpu_seconds(agent.proc.pid)
        t0 = time.time()
        for _, p, _ in jits:
            p.stdin.write("go\n")
            p.stdin.flush()
        # the attack runs; profiles keep being served
        marks = []
        for i in range(3):
            status, raw = whole_profile(agent, 5, f"hostile{i}")
            check(status == 200, f"whole-host profile {i + 1} answered during the attack ({status})")
            marks.append(SECRET.encode() in raw)
        cpu = (cpu_seconds(agent.proc.pid) - cpu0) / (time.time() - t0)
        good, total, want = chain_complete(agent, ref.pid, 3, "ref")
        text = agent.metrics()
        print("\n".join(l for l in text.splitlines()
                        if re.match(r"brasa_(bpf_lost|samples_deferred|deferred|profile_window_samples|"
                                    r"samples_total|processes_unread|worker_queued)", l)))
        check(total >= want and good >= 0.9 * total,
              f"another process's profile stays complete ({good}/{total} main;outer;middle;leaf)")
        check(not any(marks), "nothing from the root-only file reached a profile")
        full = agent.metric("brasa_perf_map_full_total")
        check(full >= 4, f"the million-entry maps stop growing at their bound ({full:.0f} of 4)")
        refused = {r: agent.metric(f'brasa_files_refused_total{{reason="{r}"}}')
                   for r in ("symlink", "not_regular")}
        print(f"refused {refused}, perf maps {agent.metric('brasa_perf_map_bytes')} bytes, "
              f"full {agent.metric('brasa_perf_map_full_total')}, agent CPU {cpu:.0%} of a CPU")
        check(refused["symlink"] >= 1 and refused["not_regular"] >= 1,
              "the symlink and the FIFO were refused and counted")
        check(agent.metric("brasa_perf_map_bytes") <= limits["perf_map"] << 20,
              "perf map memory stays under its bound")
        check(cpu < 0.5, f"the agent's CPU stays low ({cpu:.0%} of one CPU, under 50 %)")
        total_mib = configured_total_mib(limits)
        check(watch.peak_rss <= total_mib,
              f"RSS peak {watch.peak_rss:.1f} MiB within the configured total {total_mib} MiB")
        watch.finish()
        stop_promptly(agent)
    finally:
        tear_down(agent, watch, *(p for _, p, _ in jits), ref)
        for _, p, _ in jits:
            try:
                os.unlink(f"/tmp/perf-{p.pid}.map")
            except OSError:
                pass
        shutil.rmtree(secret_dir, ignore_errors=True)


def nobody_dir(name):
    d = os.path.join(TMP, name)
    os.makedirs(d)
    os.chmod(TMP, 0o755)
    own_by_nobody(d)
    return d


def section(path, name):
    """(offset, size) of an ELF64 section by name."""
    data = open(path, "rb").read()
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3a)
    def sh(i):
        return struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize)
    stroff = sh(shstrndx)[4]
    for i in range(shnum):
        s = sh(i)
        n = data[stroff + s[0]:data.index(b"\0", stroff + s[0])].decode()
        if n == name:
            return s[4], s[5]
    fail(f"{path} has no {name}")


@integration_test(plain=True, timeout=240)
def t_hostile_build_id_copy():
    """A copy of a root-owned binary, same build id, garbage .eh_frame,
    run by nobody first: the real binary's stacks stay whole."""
    agent = Agent("--no-kernel")
    watch = Watch(agent)
    d = nobody_dir("evil")
    evil = os.path.join(d, "nofp_chain")
    shutil.copy(os.path.join(WORKLOADS, "nofp_chain"), evil)
    off, size = section(evil, ".eh_frame")
    with open(evil, "r+b") as f:
        f.seek(off)
        f.write(bytes((i * 37 + 11) & 0xff for i in range(size)))
    own_by_nobody(evil)
    bad = as_nobody([evil, "30"])
    real = None
    try:
        time.sleep(3)  # its table is tried (and fails) first
        failed = agent.metric("brasa_unwind_tables_failed_total")
        real = workload("nofp_chain", 30)
        time.sleep(1)
        stacks, want = sampled_window(agent, real.pid, 4, "real")
        good, total = nofp_share(stacks)
        print_top([(f, c) for f, c in stacks if complete_from_main(f) != NOFP_CHAIN], 3)
        print(f"garbage copy: tables failed {failed}; the real binary: {good}/{total} whole")
        check(total >= want and good >= 0.95 * total,
              f"the real binary unwinds whole beside its poisoned copy ({good}/{total}, "
              f"at least {want} samples for its CPU time)")
        watch.finish()
        stop_promptly(agent)
    finally:
        tear_down(agent, watch, bad, real)


@integration_test(plain=True, timeout=240)
def t_hostile_debuglink_fifo():
    """A binary whose .gnu_debuglink names a FIFO, in a directory its
    (hostile) owner controls: the object loads without """
    d = nobody_dir("dl")
    full = os.path.join(d, "fp_chain.full")
    shutil.copy(os.path.join(WORKLOADS, "fp_chain"), full)
    exe = os.path.join(d, "fp_chain")
    debug = os.path.join(d, "fp_chain.debug")
    subprocess.run(["objcopy", "--only-keep-debug", full, debug], check=True)
    subprocess.run(["objcopy", "--strip-debug", f"--add-gnu-debuglink={debug}", full, exe],
                   check=True, cwd=d)
    os.unlink(debug)
    os.mkfifo(debug, 0o644)
    for path in (exe, debug):
        own_by_nobody(path)
    os.chmod(exe, 0o755)
    agent = Agent("--no-kernel")
    watch = Watch(agent)
    p = as_nobody([exe, "30"])
    try:
        time.sleep(0.5)
        good, total, want = chain_complete(agent, p.pid, 3, "dl")
        check(total >= want and good >= 0.9 * total,
              f"the binary is symbolized from its own symbols ({good}/{total}, "
              f"at least {want} samples for its CPU time)")
        watch.finish()
        stop_promptly(agent)
    finally:
        tear_down(agent, watch, p)


@integration_test(plain=True, timeout=240)
def t_hostile_slow_cfi():
    """A binary whose CFI takes an unbounded builder minutes, run by nobody
    from its own directory: the build is given up at its time cap, the
    loop never waits for it, and a process started meanwhile gets its
    tables and whole stacks."""
    d = nobody_dir("bomb")
    bomb = os.path.join(d, "cfi_bomb")
    shutil.copy(os.path.join(WORKLOADS, "cfi_bomb"), bomb)
    own_by_nobody(bomb)
    os.chmod(bomb, 0o755)
    # the bomb's build takes 2 to 7 s of CPU here (it is as slow as
    # cfi_rows's work bound lets any object be): a 1 s cap gives it up
    agent = Agent("--no-kernel", "--unwind-table-build-timeout", "1s")
    watch = Watch(agent)
    p = as_nobody([bomb, "40"])
    real = None
    try:
        time.sleep(0.3)
        # the build is under way; another process needs its own table now
        real = workload("nofp_chain", 30)
        t0 = time.time()
        status, _ = whole_profile(agent, 3, "during")
        took = time.time() - t0
        check(status == 200 and took < 10,
              f"a 3 s profile taken during the build answers in {took:.1f} s (under 10 s)")
        # builds run newest first: on a loaded machine the agent (which
        # builds for every process on the host) may take the bomb's late
        deadline = time.time() + 60
        while time.time() < deadline and not agent.metric("brasa_unwind_tables_timed_out_total"):
            time.sleep(0.5)
        timed_out = agent.metric("brasa_unwind_tables_timed_out_total")
        if not timed_out:
            print("\n".join(l for l in agent.metrics().splitlines()
                            if re.match(r"brasa_(unwind_tables|worker_\w+\{queue=\"unwind_table)", l)))
            print("\n".join(l for l in agent.output().splitlines() if "unwind table" in l)[-3000:])
        check(timed_out and timed_out >= 1, f"the build was given up at its time cap ({timed_out})")
        check("gave up building an unwind table" in agent.output(), "and logged")
        time.sleep(1)
        stacks, want = sampled_window(agent, real.pid, 3, "real")
        good, total = nofp_share(stacks)
        print_top([(f, c) for f, c in stacks if complete_from_main(f) != NOFP_CHAIN], 3)
        print("\n".join(l for l in agent.metrics().splitlines()
                        if re.match(r"brasa_unwind_(tables|waiting|mappings_without)", l)))
        check(total >= want and good >= 0.95 * total,
              f"a process started meanwhile unwinds whole ({good}/{total}, at least {want} "
              f"samples for its CPU time)")
        bstacks, bwant = sampled_window(agent, p.pid, 3, "bomb")
        btotal = sum(c for _, c in bstacks)
        check(btotal >= bwant, f"the bomb itself is still sampled, by frame pointers "
                               f"({btotal} samples, at least {bwant})")
        watch.finish()
        stop_promptly(agent)
    finally:
        tear_down(agent, watch, p, real)

