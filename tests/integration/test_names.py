"""Names people read: a C++ program's frames demangled in folded output
while its pprof keeps the mangled names as Function.system_name (read by
protoc from the vendored schema), kept mangled with --no-demangle; and a
loop calling a shared library through the PLT, whose stub frames are
named plt_tiny@plt as perf and objdump name them."""
import gzip
import os
import re
import subprocess

from harness import TMP, capture, check, folded_capture, integration_test, print_top, running, \
    user_frames, workload

SPIN = "ns::Worker<int>::spin(int)"
SPIN_MANGLED = "_ZN2ns6WorkerIiE4spinEi"


def pprof_functions(path):
    """[(name, system_name)] of a pprof file's functions, by protoc."""
    proto_dir = os.path.join(os.environ.get("BRASA_SOURCE_ROOT", "."), "proto")
    r = subprocess.run(["protoc", "--decode", "perftools.profiles.Profile", "-I", proto_dir,
                        "profile.proto"], input=gzip.decompress(open(path, "rb").read()),
                       capture_output=True, timeout=60)
    check(r.returncode == 0, f"protoc --decode reads the profile: {r.stderr.decode()[:200]}")
    text = r.stdout.decode(errors="replace")
    strings = [bytes(s, "latin-1").decode("unicode_escape").encode("latin-1").decode("utf-8", "replace")
               for s in re.findall(r'^string_table: "(.*)"$', text, re.M)]
    out = []
    for block in re.findall(r"^function \{\n(.*?)^\}", text, re.M | re.S):
        name = re.search(r"^\s+name: (\d+)", block, re.M)
        system = re.search(r"^\s+system_name: (\d+)", block, re.M)
        out.append((strings[int(name.group(1))] if name else "",
                    strings[int(system.group(1))] if system else ""))
    return out


def frames_with(stacks, name):
    return sum(c for f, c in stacks if name in user_frames(f))


@integration_test()
def t_cxx_demangled():
    with running(workload("cxx_throw", 60)) as w:
        stacks = folded_capture(w.pid, 3, tag="cxx")
        total = sum(c for _, c in stacks)
        spin = frames_with(stacks, SPIN)
        print(f"{spin}/{total} samples in {SPIN}")
        print_top(stacks, 5)
        check(total >= 50, f"enough samples of the workload ({total})")
        check(spin >= 0.5 * total, f"most samples name {SPIN} ({spin}/{total})")
        check(frames_with(stacks, SPIN_MANGLED) == 0, "no mangled name of it left")
        mangled = sorted({f for s, _ in stacks for f in user_frames(s) if f.startswith("_Z")})
        check(not mangled, f"no mangled frame in folded output ({mangled[:5]})")

        pb = os.path.join(TMP, "cxx.pb.gz")
        capture("--seconds", "2", "--pid", str(w.pid), "-o", pb)
        funcs = pprof_functions(pb)
        check((SPIN, SPIN_MANGLED) in funcs,
              f"pprof: name {SPIN}, system_name {SPIN_MANGLED} "
              f"({[f for f in funcs if 'spin' in f[0]]})")
        check(("main", "main") in funcs, "pprof: an unmangled function's system_name repeats it")

        stacks = folded_capture(w.pid, 2, "--no-demangle", tag="cxxraw")
        total = sum(c for _, c in stacks)
        raw = frames_with(stacks, SPIN_MANGLED)
        check(total > 0 and raw >= 0.5 * total,
              f"--no-demangle keeps {SPIN_MANGLED} ({raw}/{total})")
        check(frames_with(stacks, SPIN) == 0, "--no-demangle: no demangled name")


@integration_test()
def t_plt_names():
    """A tight loop through the PLT names its stub plt_tiny@plt. How many
    samples land in the stub depends on the process's layout (from 0.3 %
    to 20 % of them between runs here, steady within one): a run whose
    layout puts almost none there is retried in a new process, up to 5 in all."""
    for attempt in range(5):
        with running(workload("plt_spin", 60)) as w:
            stacks = folded_capture(w.pid, 3, tag=f"plt{attempt}")
        total = sum(c for _, c in stacks)
        stub = sum(c for f, c in stacks if user_frames(f) and user_frames(f)[-1] == "plt_tiny@plt")
        tiny = sum(c for f, c in stacks if user_frames(f) and user_frames(f)[-1] == "plt_tiny")
        print(f"attempt {attempt + 1}: {stub}/{total} samples in plt_tiny@plt, {tiny} in plt_tiny")
        print_top(stacks, 5)
        if stub >= 0.02 * total:
            break
    check(total >= 50, f"enough samples of the workload ({total})")
    check(stub >= 0.02 * total, f"the PLT stub is named plt_tiny@plt ({stub}/{total})")
    unnamed = sum(c for f, c in stacks if user_frames(f) and "+0x" in user_frames(f)[-1])
    check(unnamed <= 0.01 * total, f"no unnamed leaf frames ({unnamed}/{total})")
