"""Go binaries built stripped (`go build -ldflags='-s -w'`, the usual
release build): no ELF symbols and no DWARF, only the runtime's own
.gopclntab, from which brasa names the frames. The workload
(workloads/go_recurse.go: goroutines in deep recursion, SHA-256 in
assembly) is built by the test with the installed Go into TMP."""
import os
import re
import shutil
import subprocess

from harness import (SRC, TMP, check, fail, folded_capture, go_env, integration_test, print_top,
                     running, user_frames)

# a frame the symbolizer named with a Go name (package path, a dot, the
# function), not an address (binary+0x...) or [unknown]
GO_NAME = re.compile(r"^[\w./-]+\.[^+\[]*\S$|^[\w./-]+\.\S+\[\.\.\.\]")


def build_go(name, *flags):
    if not shutil.which("go"):
        fail("no go command: the Go tests need golang-go")
    out = os.path.join(TMP, name)
    src = os.path.join(SRC, "tests", "integration", "workloads", "go_recurse.go")
    env = go_env()
    env["GO111MODULE"] = "off"
    env["GOPROXY"] = "off"
    r = subprocess.run(["go", "build", *flags, "-o", out, src], capture_output=True, text=True,
                       env=env, timeout=300)
    if r.returncode != 0:
        fail(f"go build {' '.join(flags)} failed: {r.stderr}")
    return out


def named_share(stacks, pick):
    total = sum(c for _, c in stacks)
    good = sum(c for f, c in stacks if pick(user_frames(f)))
    return good, total


@integration_test(plain=True, timeout=300)
def t_go_stripped_names():
    """Every leaf frame of a stripped Go program named with a Go name
    (main.*, runtime.*, crypto/sha256.*) and main.recurseDeep in its
    stacks; whole stacks named where they unwind (frame pointers: Go keeps
    them on amd64; unwinding from .gopclntab is not built yet)."""
    binary = build_go("go_recurse_stripped", "-ldflags=-s -w")
    r = subprocess.run(["readelf", "-S", binary], capture_output=True, text=True)
    check(".gopclntab" in r.stdout and ".symtab" not in r.stdout,
          "the stripped build has .gopclntab and no symbol table")
    with running(subprocess.Popen([binary, "12"], stdout=subprocess.DEVNULL)) as proc:
        stacks = folded_capture(proc.pid, 5, "--no-kernel", tag="go")
    print_top(stacks)
    leaf_good, total = named_share(stacks, lambda u: bool(u) and bool(GO_NAME.match(u[-1])))
    print(f"leaf frames with Go names: {leaf_good}/{total}")
    check(total >= 100, f"enough samples ({total})")
    check(leaf_good >= 0.99 * total, f"≥ 99 % of leaf frames named ({leaf_good}/{total})")
    all_good, _ = named_share(stacks, lambda u: bool(u) and all(GO_NAME.match(f) for f in u))
    print(f"stacks with every frame named: {all_good}/{total}")
    check(all_good >= 0.95 * total, f"≥ 95 % of stacks named in every frame ({all_good}/{total})")
    frames = {f for s, _ in stacks for f in user_frames(s)}
    for want in ("main.recurseDeep", "main.leafSpin"):
        check(want in frames, f"{want} in the stacks")
    check(any(f.startswith("runtime.") for f in frames), "runtime.* frames in the stacks")


def leaf_shares(stacks):
    """Share of samples by leaf function, named as the runtime names it
    (the symbol table's ".abi0" suffix of assembly functions dropped)."""
    total = sum(c for _, c in stacks) or 1
    shares = {}
    for f, c in stacks:
        u = user_frames(f)
        leaf = u[-1].removesuffix(".abi0") if u else "-"
        shares[leaf] = shares.get(leaf, 0) + c / total
    return shares


@integration_test(plain=True, timeout=300)
def t_go_stripped_like_full():
    """The stripped build's leaf functions are the unstripped build's (named
    from its symbol table and DWARF), in the same shares: every leaf of the
    full build with 2 % of its samples or more within 5 points in the
    stripped one."""
    shares = {}
    for name, flags in (("full", ()), ("stripped", ("-ldflags=-s -w",))):
        binary = build_go(f"go_recurse_{name}", *flags)
        with running(subprocess.Popen([binary, "10"], stdout=subprocess.DEVNULL)) as proc:
            stacks = folded_capture(proc.pid, 4, "--no-kernel", tag=name)
        print(f"{name}:")
        print_top(stacks, 3)
        shares[name] = leaf_shares(stacks)
    for leaf, share in sorted(shares["full"].items(), key=lambda x: -x[1]):
        if share < 0.02:
            continue
        got = shares["stripped"].get(leaf, 0)
        check(abs(got - share) <= 0.05,
              f"leaf {leaf}: {100 * share:.1f} % of the full build's samples, "
              f"{100 * got:.1f} % of the stripped build's")
