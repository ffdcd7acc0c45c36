"""Debug files by build id from a debuginfod server: a program built here
with -g, its debug file split off (objcopy --only-keep-debug) and served
by a real `debuginfod -F DIR` on 127.0.0.1, the program itself stripped.
With the server's URL its frames are named from the fetched file; off by
default (DEBUGINFOD_URLS in the environment is not read: the server sees
no request); with the server down a capture ends in time, frames named
as without debuginfod, and /metrics counts the failures; the cache stays
under its bound by deleting the least recently used file."""
import os
import re
import signal
import subprocess
import time
import urllib.request

from harness import TMP, Agent, capture, check, fail, free_port, integration_test, parse_folded, \
    promtool_check, running, user_frames, wait_for, window_stacks

# main -> dbgi_outer -> dbgi_middle -> dbgi_leaf, each its own function;
# PAD more functions make the debug file larger (the cache bound's test)
PROG = r"""
#include <stdlib.h>
__attribute__((noinline)) static unsigned long dbgi_leaf(unsigned long x)
{ for (int i = 0; i < 1000; i++) x = x * 6364136223846793005ul + 1; return x; }
__attribute__((noinline)) static unsigned long dbgi_middle(unsigned long x)
{ return dbgi_leaf(x) ^ 7; }
__attribute__((noinline)) static unsigned long dbgi_outer(unsigned long x)
{ return dbgi_middle(x) + 1; }
int main(int argc, char **argv)
{ volatile unsigned long s = argc; (void)argv; for (;;) s = dbgi_outer(s); return 0; }
"""
NAMES = ["dbgi_outer", "dbgi_middle", "dbgi_leaf"]


def build(tag, pad=0):
    """(stripped program, its build id); its debug file goes to TMP/srv."""
    src = os.path.join(TMP, f"{tag}.c")
    exe = os.path.join(TMP, tag)
    srv = os.path.join(TMP, "srv")
    os.makedirs(srv, exist_ok=True)
    with open(src, "w") as f:
        f.write(PROG)
        # a different build id per tag, and more DWARF with pad
        f.write(f"const char dbgi_tag[] = \"{tag}\";\n")
        for i in range(pad):
            f.write(f"int pad_{i}(int x) {{ return x * {i} + {i % 7}; }}\n")
    for cmd in (["gcc", "-O1", "-g", "-fno-omit-frame-pointer", "-o", exe, src],
                ["objcopy", "--only-keep-debug", exe, os.path.join(srv, f"{tag}.debug")],
                ["strip", "--strip-all", exe]):
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            fail(f"{' '.join(cmd)}: {r.stderr}")
    notes = subprocess.run(["readelf", "-n", exe], capture_output=True, text=True).stdout
    m = re.search(r"Build ID: ([0-9a-f]+)", notes)
    check(m is not None, f"{tag} has a build id")
    syms = subprocess.run(["nm", exe], capture_output=True, text=True)
    check("no symbols" in syms.stderr, f"{tag} is stripped (nm: {syms.stderr.strip()})")
    return exe, m.group(1), os.path.getsize(os.path.join(srv, f"{tag}.debug"))


class Server:
    """`debuginfod -F TMP/srv` on a free loopback port."""

    def __init__(self, build_ids):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(os.path.join(TMP, "debuginfod.log"), "w+")
        self.proc = subprocess.Popen(["debuginfod", "-F", os.path.join(TMP, "srv"),
                                      "-p", str(self.port), "-d",
                                      os.path.join(TMP, "debuginfod.sqlite")],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        for bid in build_ids:
            if not wait_for(lambda: self.serves(bid), 60):
                self.log.seek(0)
                fail(f"debuginfod serves {bid}: {self.log.read()[-2000:]}")
        self.base = self.requests()

    def serves(self, bid):
        try:
            with urllib.request.urlopen(f"{self.url}/buildid/{bid}/debuginfo", timeout=5) as r:
                return r.status == 200
        except OSError:
            return False

    def requests(self):
        """debuginfo requests the server has answered (its /metrics)."""
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=10) as r:
            m = re.search(r'^http_requests_total\{type="debuginfo"\} (\d+)', r.read().decode(), re.M)
        return int(m.group(1)) if m else 0

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def named_share(stacks):
    total = sum(c for _, c in stacks)
    named = sum(c for f, c in stacks if "dbgi_leaf" in user_frames(f))
    return named, total


def folded(pid, seconds, *extra, tag):
    out = os.path.join(TMP, f"{tag}.folded")
    t0 = time.time()
    capture("--seconds", str(seconds), "--pid", str(pid), "--format", "folded", "-o", out,
            *extra, timeout=seconds + 60)
    return parse_folded(open(out).read()), time.time() - t0


@integration_test(timeout=300)
def t_debuginfod_names():
    exe, bid, _ = build("dbgi_prog")
    server = Server([bid])
    cache = os.path.join(TMP, "cache")
    try:
        with running(subprocess.Popen([exe])) as p:
            # off by default, DEBUGINFOD_URLS of the environment ignored
            env_before = server.requests()
            os.environ["DEBUGINFOD_URLS"] = server.url
            try:
                stacks, _ = folded(p.pid, 3, tag="off")
            finally:
                del os.environ["DEBUGINFOD_URLS"]
            named, total = named_share(stacks)
            check(total > 0 and named == 0,
                  f"without --debuginfod-urls the stripped program is unnamed ({named}/{total})")
            check(server.requests() == env_before,
                  f"and no request reached the server although DEBUGINFOD_URLS was set "
                  f"({server.requests() - env_before})")

            stacks, _ = folded(p.pid, 6, "--debuginfod-urls", server.url,
                               "--debuginfod-cache-dir", cache, tag="on")
            named, total = named_share(stacks)
            whole = sum(c for f, c in stacks if user_frames(f)[-4:] == ["main"] + NAMES)
            print(f"named {named}/{total}, main;{';'.join(NAMES)} in {whole}")
            check(total > 50 and named >= 0.6 * total,
                  f"with the server, its frames are named from the fetched debug file "
                  f"({named}/{total} samples in dbgi_leaf)")
            check(whole >= 0.5 * total, f"as main;{';'.join(NAMES)} ({whole}/{total})")
            check(os.path.getsize(os.path.join(cache, bid, "debuginfo")) > 0,
                  "the debug file is in the cache directory")
            check(server.requests() == env_before + 1, "fetched once")

            # a second capture reads the cache: no request, named at once
            stacks, _ = folded(p.pid, 3, "--debuginfod-urls", server.url,
                               "--debuginfod-cache-dir", cache, tag="cached")
            named, total = named_share(stacks)
            check(named >= 0.9 * total, f"from the cache, named from the start ({named}/{total})")
            check(server.requests() == env_before + 1, "without a request")
    finally:
        server.stop()


@integration_test(timeout=300)
def t_debuginfod_down():
    exe, bid, _ = build("dbgi_down")
    dead = f"http://127.0.0.1:{free_port()}"
    with running(subprocess.Popen([exe])) as p:
        stacks, took = folded(p.pid, 4, "--debuginfod-urls", dead, "--debuginfod-cache-dir",
                              os.path.join(TMP, "cache-down"), tag="down")
        named, total = named_share(stacks)
        check(total > 0 and named == 0, f"server down: frames as without it ({named}/{total})")
        check(took < 4 + 15, f"and the capture ended in time ({took:.1f} s for 4 s)")

        agent = Agent("--no-kernel", "--debuginfod-urls", dead, "--debuginfod-timeout", "2s",
                      "--debuginfod-cache-dir", os.path.join(TMP, "cache-down-run"))
        try:
            window_stacks(agent, p.pid, 3, "down-run")
            ok = wait_for(lambda: (agent.metric('brasa_debuginfod_fetches_total{result="failed"}')
                                   or 0) >= 1, 20)
            text = agent.metrics()
            print("\n".join(l for l in text.splitlines() if "debuginfod" in l and l[0] != "#"))
            check(ok, "/metrics counts the failed fetch")
            promtool_check(text, "/metrics with the debuginfod client on")
            check(agent.metric('brasa_debuginfod_fetches_total{result="ok"}') == 0,
                  "and no successful one")
            check(agent.metric("brasa_debuginfod_cache_bytes_max") == float(1 << 30),
                  "the cache bound is the default 1G")
        finally:
            agent.stop()


@integration_test(timeout=600)
def t_debuginfod_cache_bound():
    # two debug files of about 700 KB under a 1M bound: the second evicts the first
    a, bid_a, size_a = build("dbgi_a", pad=7000)
    b, bid_b, size_b = build("dbgi_b", pad=7000)
    print(f"debug files: {size_a} and {size_b} bytes")
    check(size_a < (1 << 20) and size_b < (1 << 20) and size_a + size_b > (1 << 20),
          "each fits the 1M bound, both do not")
    server = Server([bid_a, bid_b])
    cache = os.path.join(TMP, "cache-bound")
    agent = Agent("--no-kernel", "--debuginfod-urls", server.url,
                  "--debuginfod-cache-dir", cache, "--debuginfod-cache-size", "1M")
    try:
        for exe, bid, n in ((a, bid_a, 1), (b, bid_b, 2)):
            with running(subprocess.Popen([exe])) as p:
                window_stacks(agent, p.pid, 2, f"bound{n}")
                check(wait_for(lambda: agent.metric('brasa_debuginfod_fetches_total{result="ok"}')
                               == n, 30), f"fetch {n} done")
                stacks = window_stacks(agent, p.pid, 3, f"bound{n}-named")
                named, total = named_share(stacks)
                check(named >= 0.8 * total, f"{os.path.basename(exe)} named ({named}/{total})")
        cache_bytes = agent.metric("brasa_debuginfod_cache_bytes")
        check(agent.metric("brasa_debuginfod_evictions_total") == 1,
              "the second fetch evicted one file")
        check(cache_bytes == size_b and cache_bytes <= (1 << 20),
              f"the cache holds the newest file only ({cache_bytes} bytes)")
        check(not os.path.exists(os.path.join(cache, bid_a, "debuginfo")) and
              os.path.exists(os.path.join(cache, bid_b, "debuginfo")),
              "the least recently used file is gone from the disk")
    finally:
        agent.stop()
        server.stop()
