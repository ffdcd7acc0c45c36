"""No gap at a process's start: hundreds of short processes (startup_spin,
~50 ms each, half in their own code and half in a shared library's, no
frame pointers) are whole-stacked and named from their first samples,
library frames included, although each has exited long before the drain
that reads its samples. Prints how long after its exec each process's
code had its tables (from the agent's debug log)."""
import os
import re
import subprocess
import time

from harness import (BRASA, TMP, WORKLOADS, Agent, check, complete_from_main, integration_test,
                     parse_folded, print_top, promtool_check, user_frames)

PROCESSES = 300
OWN = ["main", "startup_own_spin"]
LIB = ["main", "startup_lib_spin"]
# a frame left as an address, or as its object's name and offset
UNNAMED = re.compile(r"^(0x[0-9a-f]+|.*\.so[.\d]*(\+0x[0-9a-f]+)?)$")


def rooted(frames):
    """Whole: from the program's entry (_start;__libc_start_main, before,
    in and after main) to the leaf, every frame named."""
    u = user_frames(frames)
    return (len(u) > 2 and u[0] == "_start" and u[1].startswith("__libc_start_main")
            and not any(UNNAMED.match(x) for x in frames[1:]))


def percentiles(values):
    v = sorted(values)
    if not v:
        return "none"
    pick = lambda q: v[min(len(v) - 1, int(q * len(v)))]
    return (f"n={len(v)} min {v[0]:.1f} p50 {pick(0.5):.1f} p90 {pick(0.9):.1f} "
            f"p99 {pick(0.99):.1f} max {v[-1]:.1f} ms")


def load_latencies(log, pids):
    """Per process: ms from its exec to its first mapping table, and to
    the first one with as many mappings as it ever had (its libraries)."""
    loads = {}
    for m in re.finditer(r"process (\d+): (\d+) executable mappings loaded ([\d.]+) ms", log):
        pid, n, ms = int(m.group(1)), int(m.group(2)), float(m.group(3))
        if pid in pids:
            loads.setdefault(pid, []).append((n, ms))
    first = [l[0][1] for l in loads.values()]
    full = [next(ms for n, ms in l if n == max(k for k, _ in l)) for l in loads.values()]
    return first, full, len(loads)


@integration_test(plain=True, timeout=240)
def t_startup_short_processes():
    out = os.path.join(TMP, "startup.folded")
    err_path = os.path.join(TMP, "startup.log")
    spin = os.path.join(WORKLOADS, "startup_spin")
    with open(err_path, "w") as err:
        cap = subprocess.Popen([BRASA, "capture", "--seconds", "40", "--format", "folded",
                                "--log-level", "debug", "-o", out], stdout=err, stderr=err)
        # loading and verifying the BPF programs
        time.sleep(3)
        pids, t0 = set(), time.time()
        for _ in range(PROCESSES):
            p = subprocess.Popen([spin, "50"])
            pids.add(p.pid)
            p.wait()
        spent = time.time() - t0
        cap.wait(timeout=120)
    log = open(err_path).read()
    check(cap.returncode == 0, f"capture succeeded ({log[-500:]})")
    stacks = [(f, c) for f, c in parse_folded(open(out).read()) if f[0] == "startup_spin"]
    total = sum(c for _, c in stacks)
    # Inside execve, after the new image replaced the old, the user
    # registers are still the previous program's: no frame of this one.
    # (Kept apart from the program's samples, as are those of the exit.)
    execve = [(f, c) for f, c in stacks if any(x in ("bprm_execve_[k]", "__x64_sys_execve_[k]") for x in f)]
    # Exiting, past exit_mm: the process has no address space left (its
    # samples carry another image, which cannot be read)
    execve += [(f, c) for f, c in stacks if "do_exit_[k]" in f and (f, c) not in execve]
    # ld.so at work before main: rooted at its entry point, which Debian's
    # stripped ld.so leaves unnamed (perf shows it as [unknown] too)
    loader = [(f, c) for f, c in stacks if (f, c) not in execve and user_frames(f)
              and user_frames(f)[0].startswith("ld-linux")]
    program = [(f, c) for f, c in stacks if (f, c) not in execve and (f, c) not in loader]
    n_prog = sum(c for _, c in program)
    whole = sum(c for f, c in program if rooted(f))
    lib = sum(c for f, c in program if "startup_lib_spin" in f)
    lib_whole = sum(c for f, c in program if complete_from_main(f) == LIB)
    # the leaf is a real pc: unnamed, its mapping was not in the snapshot
    leaf_unnamed = sum(c for f, c in program if user_frames(f) and UNNAMED.match(user_frames(f)[-1]))
    loader_whole = sum(c for f, c in loader if not any(UNNAMED.match(x) for x in user_frames(f)[1:]))
    print(f"{PROCESSES} processes in {spent:.1f} s: {total} samples; "
          f"{sum(c for _, c in execve)} inside execve or exit, "
          f"{sum(c for _, c in loader)} in ld.so before main ({loader_whole} whole from its entry), "
          f"{n_prog} in the program")
    print(f"program: {whole} whole from _start and named ({100 * whole / max(n_prog, 1):.1f} %, "
          f"target 99 %), {lib} in the library ({lib_whole} whole), {leaf_unnamed} with an unnamed leaf")
    print("program samples not whole:")
    print_top([(f, c) for f, c in program if not rooted(f)], 8)
    print("program samples with an unnamed leaf:")
    print_top([(f, c) for f, c in program if user_frames(f) and UNNAMED.match(user_frames(f)[-1])], 5)
    failed = {}
    for why in re.findall(r"failed to add a mapping of process \d+ from its record: (.*)", log):
        failed[why] = failed.get(why, 0) + 1
    print(f"mappings named from their records (process gone before its read): "
          f"{len(re.findall(r'named from its record', log))}, not: {failed or 0}")
    for what in ("queued", "ran", "completed"):
        v = [float(x) for x in re.findall(what + r" ([\d.]+) ms", log)]
        print(f"reads of processes, {what}: {percentiles(v)}")
    attached = {}
    for m in re.finditer(r"process (\d+): mapping (0x[0-9a-f]+) attached from its record ([\d.]+) ms", log):
        if int(m.group(1)) in pids:
            attached.setdefault(int(m.group(1)), []).append(float(m.group(3)))
    print(f"exec -> first mapping attached from its mmap record (program or ld.so): "
          f"{percentiles([min(v) for v in attached.values()])}")
    print(f"exec -> last mapping attached from its mmap record (the libraries): "
          f"{percentiles([max(v) for v in attached.values()])}")
    first, full, seen = load_latencies(log, pids)
    print(f"processes with a logged table: {seen}/{PROCESSES}")
    print(f"exec -> first mapping table read from /proc: {percentiles(first)}")
    print(f"exec -> mapping table read from /proc with every library: {percentiles(full)}")
    check(n_prog >= PROCESSES, f"enough samples of the program ({n_prog}, ~5 a process when it gets a CPU)")
    check(lib >= 0.3 * n_prog, f"about half of them in the library ({lib}/{n_prog})")
    check(leaf_unnamed <= 0.01 * n_prog,
          f"the leaf named in 99 % of the program's samples, library or not ({leaf_unnamed} unnamed)")
    # A sample the kernel's tables cannot walk yet (taken before its
    # process's tables are in) is sent whole and walked in user space once
    # they are (docs/unwinding.md, "When tables load"): 74 % before the
    # mappings were watched, 91-98 % before samples were sent whole.
    sent = re.findall(r"a sample sent whole walked (\d+) frames, then stopped: ([^,\n]*)", log)
    print(f"samples sent whole whose walk stopped short (any process): {len(sent)}")
    check(whole >= 0.99 * n_prog,
          f"at least 99 % whole from _start and named ({whole}/{n_prog}, {100 * whole / max(n_prog, 1):.1f} %)")


@integration_test()
def t_startup_metrics():
    """The mapping records and what they start, on /metrics."""
    agent = Agent()
    try:
        spin = os.path.join(WORKLOADS, "startup_spin")
        for _ in range(20):
            subprocess.run([spin, "20"], check=True)
        time.sleep(1.5)
        text = agent.metrics()
        promtool_check(text, "/metrics with the mapping records")
        m = {name: agent.metric(name) for name in (
            "brasa_mmap_rings", "brasa_mmap_ring_bytes", "brasa_mmap_records_total",
            "brasa_mmap_records_lost_total", "brasa_mmap_records_malformed_total",
            "brasa_processes_mapped_rereads_total", "brasa_processes_mapped_throttled_total",
            "brasa_snapshots_from_records_total", "brasa_unwind_mappings_attached_total",
            "brasa_samples_sent_whole_total", "brasa_samples_sent_whole_ring_full_total",
            "brasa_whole_sample_walks_total", "brasa_whole_sample_walks_incomplete_total")}
        print("  " + "\n  ".join(f"{k} {v}" for k, v in m.items()))
        check(all(v is not None for v in m.values()), "every mapping metric exported")
        check((m["brasa_mmap_rings"] or 0) >= 1 and (m["brasa_mmap_ring_bytes"] or 0) > 0,
              f"the rings are open ({m['brasa_mmap_rings']}, {m['brasa_mmap_ring_bytes']} bytes)")
        # each process maps its program, ld.so, libstartup_lib and libc
        check((m["brasa_mmap_records_total"] or 0) >= 20 * 4,
              f"their executable mappings reported ({m['brasa_mmap_records_total']} >= 80)")
        check((m["brasa_unwind_mappings_attached_total"] or 0) >= 20,
              f"mappings attached from their records ({m['brasa_unwind_mappings_attached_total']})")
        check((m["brasa_processes_mapped_rereads_total"] or 0) >= 1,
              f"processes read again for new mappings ({m['brasa_processes_mapped_rereads_total']})")
        check(m["brasa_mmap_records_malformed_total"] == 0, "no malformed record")
        # the first samples of a process, before its tables are in, are
        # sent whole; each is walked once (those of other processes too)
        sent, walks = m["brasa_samples_sent_whole_total"] or 0, ((m["brasa_whole_sample_walks_total"] or 0) +
                                                             (m["brasa_whole_sample_walks_incomplete_total"] or 0))
        check(sent >= 1 and (m["brasa_whole_sample_walks_total"] or 0) >= 1 and walks <= sent,
              f"samples sent whole ({sent}) and walked ({walks}, "
              f"{m['brasa_whole_sample_walks_total']} to the outermost frame)")
    finally:
        agent.stop()
