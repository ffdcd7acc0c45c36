"""Configuration and the host around the agent: bad configuration files,
a reload by SIGHUP, hostile configuration paths and contents (issue 9),
`brasa check` and `brasa run` without each capability, and a spool path
that cannot be used."""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

from harness import (BRASA, TMP, WORKLOADS, Agent, Receiver, as_nobody, check, check_all_labeled, fail,
                     finish, free_port, integration_test, label_values, parse_folded, pprof_traces,
                     profile_labels, short, spool_records, upload_agent, wait_for, workload)


@integration_test()
def t_bad_config():
    cases = {
        "malformed": ("sampling:\n  frequency: [1,\n", r":\d+: "),
        "unknown": ("sampling:\n  frequncy: 99\n", r"bad\.yaml:2: sampling\.frequncy: "),
        "regex": ("relabel_configs:\n  - source_labels: [comm]\n    regex: 'a('\n    action: keep\n",
                  r"bad\.yaml:3: relabel_configs\[0\]\.regex: "),
        "label": ("labels:\n  external:\n    1bad: x\n", r"bad\.yaml:3: labels\.external"),
    }
    for name, (text, pattern) in cases.items():
        path = os.path.join(TMP, "bad.yaml")
        open(path, "w").write(text)
        r = subprocess.run([BRASA, "run", "--config", path], capture_output=True, text=True, timeout=30)
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        check(r.returncode == 2 and len(lines) == 1 and re.search(pattern, lines[0]),
              f"{name}: exit 2 with one error naming file, line and key ({r.returncode}: {r.stderr.strip()})")
        r = subprocess.run([BRASA, "check", "--config", path], capture_output=True, text=True, timeout=30)
        check(r.returncode == 2 and re.search(pattern, r.stderr), f"{name}: brasa check --config says the same")


@integration_test()
def t_config_reload():
    """SIGHUP: a new labeling applies to running processes; a bad file is
    refused and the running configuration stays."""
    config = os.path.join(TMP, "reload.yaml")

    def write(comm, external="prod"):
        open(config, "w").write(
            "labels:\n"
            f"  external:\n    env: {external}\n"
            "relabel_configs:\n"
            "  - source_labels: [comm]\n"
            f"    regex: {comm}\n"
            "    action: keep\n")
    write("spinner")
    spinner = workload("spinner", 30)
    other = workload("fp_chain", 30)
    agent = Agent("--config", config)
    try:
        time.sleep(0.5)
        comms = label_values(profile_labels(agent, "seconds=2", "r1"), "comm")
        check(set(comms) == {"spinner"}, f"before the reload only the spinner ({sorted(comms)})")
        write("fp_chain", external="staging")
        agent.proc.send_signal(signal.SIGHUP)
        time.sleep(1.5)  # the next drain labels every process again
        samples = profile_labels(agent, "seconds=2", "r2")
        comms = label_values(samples, "comm")
        check(set(comms) == {"fp_chain"} and comms["fp_chain"] > 30,
              f"after SIGHUP the new rule applies to running processes ({comms})")
        check_all_labeled(samples, "env", "staging")
        check(re.search(r"reloaded '.*reload\.yaml': applied", agent.output()), "the reload is logged")
        open(config, "w").write("relabel_configs:\n  - action: nonsense\n")
        agent.proc.send_signal(signal.SIGHUP)
        time.sleep(1.5)
        comms = label_values(profile_labels(agent, "seconds=2", "r3"), "comm")
        check(set(comms) == {"fp_chain"}, f"a bad file is refused: the running rules stay ({sorted(comms)})")
        check(re.search(r"warning: failed to reload the configuration: .*reload\.yaml:2: "
                        r"relabel_configs\[0\]\.action: .*keeping the running one", agent.output()),
              "with one log line saying why")
        check(agent.proc.poll() is None and agent.get("/healthz")[0] == 200, "and the agent runs on")
    finally:
        agent.stop()
        for p in (spinner, other):
            p.kill()
            p.wait()


def public_tmpdir():
    """A directory under /tmp that nobody can reach and write to, like /tmp
    itself (TMP is root's, 0700)."""
    d = tempfile.mkdtemp(prefix="brasa-it-pub-")
    os.chmod(d, 0o1777)
    return d


@integration_test()
def t_config_hardening():
    """A FIFO named as the configuration never blocks (brasa check as
    nobody, who can put one anywhere it may write; brasa run; a reload),
    and a deeply nested file is refused quickly on SIGHUP while /healthz
    stays 200."""
    pub = public_tmpdir()
    try:
        fifo = os.path.join(pub, "brasa.yaml")
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            "mkfifo", fifo], capture_output=True, text=True, timeout=10)
        check(r.returncode == 0, f"nobody made a FIFO ({r.stderr.strip()})")
        t = time.time()
        try:
            r = as_nobody("check", "--config", fifo)
        except subprocess.TimeoutExpired:
            fail("brasa check --config FIFO blocked")
        took = time.time() - t
        check(r.returncode == 2 and r.stderr.strip() ==
              f"brasa: error: failed to read configuration file '{fifo}': not a regular file (a FIFO)",
              f"brasa check --config FIFO as nobody: exit 2 with one line in {took:.2f} s "
              f"({r.returncode}: {r.stderr.strip()})")
        check(took < 10, f"promptly ({took:.2f} s)")
        r = subprocess.run([BRASA, "run", "--config", fifo], capture_output=True, text=True, timeout=30)
        check(r.returncode == 2 and "not a regular file (a FIFO)" in r.stderr,
              f"brasa run --config FIFO: exit 2 ({r.stderr.strip()})")
        for path, what in ((pub, "a directory"), ("/dev/zero", "a character device")):
            r = subprocess.run([BRASA, "check", "--config", path], capture_output=True, text=True,
                               timeout=30)
            check(r.returncode == 2 and f"not a regular file ({what})" in r.stderr,
                  f"{path}: exit 2, {what} ({r.stderr.strip()})")
    finally:
        shutil.rmtree(pub, ignore_errors=True)

    config = os.path.join(TMP, "hup.yaml")
    open(config, "w").write("labels:\n  external:\n    env: prod\n")
    agent = Agent("--config", config)
    try:
        cases = [
            ("deeply nested", lambda: open(config, "w").write("node: " + "[" * ((1 << 20) - 16) + "\n"),
             r"hup\.yaml:1: lists and maps nested deeper than 32 levels"),
            ("alias bomb", lambda: open(config, "w").write(
                "labels:\n  external:\n    a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" +
                "".join(f"    a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 8))),
             r"hup\.yaml:\d+: more than 65536 values"),
            ("a FIFO", lambda: (os.unlink(config), os.mkfifo(config)),
             r"not a regular file \(a FIFO\)"),
        ]
        for name, write, pattern in cases:
            write()
            before = agent.output().count("failed to reload the configuration")
            t = time.time()
            agent.proc.send_signal(signal.SIGHUP)
            codes = []
            while time.time() - t < 15:
                codes.append(agent.get("/healthz", timeout=5)[0])
                if agent.output().count("failed to reload the configuration") > before:
                    break
                time.sleep(0.1)
            took = time.time() - t
            out = agent.output()
            check(re.search(r"warning: failed to reload the configuration: .*" + pattern +
                            r".*; keeping the running one", out),
                  f"{name}: the reload is refused naming the problem ({out.strip().splitlines()[-1]})")
            check(took < 5, f"{name}: within {took:.2f} s of SIGHUP (the loop must not stall)")
            check(codes and all(c == 200 for c in codes), f"{name}: /healthz 200 throughout ({codes})")
        os.unlink(config)
        open(config, "w").write("labels:\n  external:\n    env: staging\n")
        agent.proc.send_signal(signal.SIGHUP)
        check(wait_for(lambda: re.search(r"reloaded '.*hup\.yaml': applied labels\.external",
                                         agent.output()), 10),
              "a good file is applied again afterwards")
    finally:
        agent.stop()


def cap_drops(*caps):
    """setpriv arguments that run a program as root without caps."""
    return ["setpriv", "--bounding-set=" + ",".join("-" + c for c in caps), "--inh-caps=-all"]


DEGRADING = {
    "CAP_SYS_PTRACE": ["sys_ptrace"],
    "CAP_DAC_READ_SEARCH": ["dac_read_search", "dac_override"],
    "CAP_CHECKPOINT_RESTORE": ["checkpoint_restore", "sys_admin"],
    "CAP_SETUID, CAP_SETGID": ["setuid", "setgid"],
}


@integration_test()
def t_check_capabilities():
    """brasa check with every capability: no capability warning. Without
    each degrading one: a warning naming it and what is lost, exit 0; brasa
    run logs the same once. And the loss is real: without CAP_SYS_PTRACE a
    process of another user keeps raw addresses."""
    r = subprocess.run([BRASA, "check"], capture_output=True, text=True, timeout=60)
    print(r.stdout)
    caps = [l for l in r.stdout.splitlines() if re.match(r"^(ok|warn)\s+CAP_", l)]
    check(r.returncode == 0 and len(caps) >= 5, f"check lists the capabilities ({len(caps)} lines)")
    check(not [l for l in caps if l.startswith("warn")],
          f"with every capability, none is warned about ({[l for l in caps if l.startswith('warn')]})")
    check(r.stdout.rstrip().endswith("\nbrasa can sample here"), "and the verdict has no reservation")

    for name, drop in DEGRADING.items():
        r = subprocess.run(cap_drops(*drop) + [BRASA, "check"], capture_output=True, text=True,
                           timeout=60)
        lines = r.stdout.splitlines()
        warns = [i for i, l in enumerate(lines) if re.match(r"^warn\s+CAP_", l)]
        mine = [i for i in warns if re.match(r"^warn\s+" + re.escape(name) + r"\s+missing", lines[i])]
        check(r.returncode == 0 and len(warns) == 1 and mine and
              lines[mine[0] + 1].startswith("      -> without "),
              f"without {'+'.join(drop)}: exit 0 and one warning, naming {name} and what is lost "
              f"({r.returncode}: {[lines[i] for i in warns]})")
        check(re.search(r"brasa can sample here, with 1 capability missing", r.stdout),
              f"without {name}: the verdict says it can sample, degraded")
    r = subprocess.run(cap_drops("sys_ptrace", "dac_read_search", "dac_override", "checkpoint_restore",
                                 "sys_admin", "setuid", "setgid") + [BRASA, "check"],
                       capture_output=True, text=True, timeout=60)
    print(r.stdout)
    check(r.returncode == 0 and len(re.findall(r"^warn\s+CAP_", r.stdout, re.M)) == 4,
          f"all four at once: four warnings, exit 0 ({r.returncode})")
    check(re.search(r"CAP_SYS_PTRACE\s+missing\n\s+-> without it: processes of other users.*"
                    r"frames are not symbolized and no DWARF unwind tables are built", r.stdout),
          "CAP_SYS_PTRACE: what is lost")
    check(re.search(r"CAP_DAC_READ_SEARCH\s+missing \(nor CAP_DAC_OVERRIDE\)", r.stdout),
          "CAP_DAC_READ_SEARCH: and the capability that would do instead")
    # CAP_SYSLOG matters only where kallsyms hides addresses without it
    hidden = subprocess.run(cap_drops("syslog") + ["head", "-n", "64", "/proc/kallsyms"],
                            capture_output=True, text=True, timeout=30).stdout
    hidden = all(l.startswith("0000000000000000") for l in hidden.splitlines())
    r = subprocess.run(cap_drops("syslog") + [BRASA, "check"], capture_output=True, text=True, timeout=60)
    want = r"^warn\s+CAP_SYSLOG\s+missing\n\s+-> without it: kernel frames stay unsymbolized" if hidden \
        else r"^ok\s+CAP_SYSLOG\s"
    check(r.returncode == 0 and re.search(want, r.stdout, re.M),
          f"without CAP_SYSLOG, with kallsyms {'hidden' if hidden else 'visible'} without it: "
          f"{'a warning' if hidden else 'nothing to warn about'}")

    # brasa run logs the same, once
    port = free_port()
    log = open(os.path.join(TMP, "caps-run.log"), "w+")
    proc = subprocess.Popen(cap_drops("sys_ptrace") + [BRASA, "run", "--http-address", f"127.0.0.1:{port}"],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        def healthy():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as h:
                    return h.status == 200
            except OSError:
                return False
        check(wait_for(healthy, 20, 0.1), "brasa run starts without CAP_SYS_PTRACE")
        time.sleep(1)
        log.seek(0)
        out = log.read()
        check(out.count("running without CAP_SYS_PTRACE: processes of other users") == 1 and
              out.count("running without") == 1, f"and logs that warning once: {out.strip()}")
    finally:
        proc.terminate()
        proc.wait(timeout=20)

    # the loss itself: a process of nobody, profiled with and without it
    pub = public_tmpdir()
    try:
        binary = os.path.join(pub, "nofp_chain")
        shutil.copy(os.path.join(WORKLOADS, "nofp_chain"), binary)
        os.chmod(binary, 0o755)
        w = subprocess.Popen(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", binary, "20"])
        try:
            time.sleep(0.5)
            shares = {}
            for label, prefix in (("with", []), ("without", cap_drops("sys_ptrace"))):
                out = os.path.join(TMP, f"caps-{label}.folded")
                r = subprocess.run(prefix + [BRASA, "capture", "--seconds", "2", "--pid", str(w.pid),
                                             "--format", "folded", "-o", out],
                                   capture_output=True, text=True, timeout=60)
                check(r.returncode == 0, f"capture {label} CAP_SYS_PTRACE ({r.stderr.strip()[-200:]})")
                stacks = parse_folded(open(out).read())
                total = sum(c for _, c in stacks)
                # symbolized: the leaf named; whole: through main too (the
                # first samples of a capture may precede the process's
                # unwind tables, built when the capture starts: leaf only)
                named = sum(c for f, c in stacks if "gamma" in f)
                whole = sum(c for f, c in stacks if "gamma" in f and "main" in f)
                shares[label] = (named, whole, total)
                print(f"{label} CAP_SYS_PTRACE: {named}/{total} symbolized, {whole} through main")
                for f, c in sorted(stacks, key=lambda x: -x[1])[:2]:
                    print(f"  {c:5d} {short(f)}")
            named, whole, total = shares["with"]
            check(total >= 50 and named >= 0.95 * total, f"with it, nobody's process is symbolized ({named}/{total})")
            check(whole >= 0.6 * total, f"with it, its stacks unwind through main ({whole}/{total})")
            named, whole, total = shares["without"]
            check(total >= 50 and named == 0, f"without it, none of it is ({named}/{total})")
        finally:
            w.kill()
            w.wait()
    finally:
        shutil.rmtree(pub, ignore_errors=True)


@integration_test()
def t_spool_unusable():
    """A spool path that is not a directory: the agent starts, stays
    healthy and serves local profiles, counts what it cannot keep, and uses
    the spool once the path is fixed."""
    rx = Receiver(mode="refuse")
    spool = os.path.join(TMP, "spool")
    open(spool, "w").write("not a directory\n")
    w = workload("fp_chain", 120)
    agent = upload_agent(rx, "pyroscope", "--remote-max-retry-backoff", "2s", interval="1s",
                         keep_pid=w.pid)
    try:
        check(agent.get("/healthz")[0] == 200, "the agent runs with an unusable spool")
        out = agent.output()
        check(re.search(r"warning: failed to open spool directory '" + re.escape(spool) + "': '" +
                        re.escape(spool) + r"' is not a directory; uploads go on without it: "
                        r".*dropped past that", out),
              f"the log says which directory, what is wrong and what is lost: {out[-600:]}")
        status, _, body = agent.get(f"/debug/pprof/profile?seconds=2&pid={w.pid}")
        pb = os.path.join(TMP, "nospool.pb.gz")
        open(pb, "wb").write(body)
        traces = pprof_traces(pb)[0] if status == 200 else []
        n = sum(c for _, c in traces)
        check(status == 200 and n > 50 and any("leaf" in f for f, _ in traces),
              f"a local profile request works ({status}, {n} samples)")
        check(agent.metric("brasa_spool_usable") == 0, "brasa_spool_usable is 0")
        dropped = 'brasa_upload_dropped_total{reason="spool_unavailable"}'
        check(wait_for(lambda: (agent.metric(dropped) or 0) >= 1, 40),
              f"windows that neither the backend nor a spool could take are counted "
              f"({agent.metric(dropped)})")
        check(out.count("failed to open spool directory") == 1 and
              agent.output().count("failed to open spool directory") == 1,
              "logged once for the streak, though retried "
              f"({agent.metric('brasa_spool_errors_total')} attempts)")
        check(agent.get("/healthz")[0] == 200, "still healthy")
        # fixed: the next retry (30 s at most) opens it and windows land in it
        os.unlink(spool)
        t_fix = time.time()
        check(wait_for(lambda: os.path.isdir(spool) and spool_records(spool), 45),
              f"the spool is used once the path is fixed ({time.time() - t_fix:.0f} s)")
        check(agent.metric("brasa_spool_usable") == 1, "brasa_spool_usable is 1")
        check(re.search(r"spool directory '" + re.escape(spool) + r"' works again after \d+ s; "
                        r"\d+ upload window\(s\) were lost meanwhile", agent.output()),
              "the end of the streak is logged with what was lost")
        rx.set_modes(["ok"])
        check(wait_for(lambda: not spool_records(spool), 40), "and it drains once the backend is up")
        check(agent.get("/healthz")[0] == 200, "healthy throughout")
    finally:
        finish(rx, agent, w)
