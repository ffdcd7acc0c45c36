"""`brasa check --pid`: the per-object report of how a running process is
unwound and named, on programs built here whose answer is known: a C
program with .eh_frame and .symtab; the same stripped, its debug file
next to it (.gnu_debuglink); the same stripped with its debug file only
on a debuginfod server; one without any CFI (frame pointers only); and
the readable report saying the same as --json."""
import json
import os
import subprocess

from harness import BRASA, TMP, check, fail, integration_test, running
from test_debuginfod import PROG, Server


def gcc(tag, *flags):
    src = os.path.join(TMP, f"{tag}.c")
    exe = os.path.join(TMP, tag)
    with open(src, "w") as f:
        f.write(PROG + f"const char dbgi_tag[] = \"{tag}\";\n")
    run("gcc", "-O1", *flags, "-o", exe, src)
    return exe


def run(*cmd):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        fail(f"{' '.join(cmd)}: {r.stderr}")
    return r.stdout


def report(pid, *extra):
    out = run(BRASA, "check", "--pid", str(pid), "--json", *extra)
    doc = json.loads(out)
    text = run(BRASA, "check", "--pid", str(pid), *extra)
    return doc, text


def main_object(doc, exe):
    objs = [o for o in doc["objects"] if o["file"] == exe]
    check(len(objs) == 1, f"the report has {os.path.basename(exe)} once")
    return objs[0]


def block(text, exe):
    """The readable report's lines about exe."""
    return text.split("\n" + exe + "\n", 1)[1].split("\n\n", 1)[0]


@integration_test(timeout=300)
def t_check_pid():
    plain = gcc("cp_plain", "-g", "-fno-omit-frame-pointer")
    debuglink = gcc("cp_debuglink", "-g")
    run("objcopy", "--only-keep-debug", debuglink, debuglink + ".debug")
    run("strip", "--strip-all", debuglink)
    run("objcopy", f"--add-gnu-debuglink={debuglink}.debug", debuglink)
    os.chmod(debuglink + ".debug", 0o644)
    nocfi = gcc("cp_nocfi", "-fno-omit-frame-pointer", "-fno-asynchronous-unwind-tables",
                "-fno-unwind-tables")
    run("objcopy", "--remove-section=.eh_frame", "--remove-section=.eh_frame_hdr", nocfi)
    fetched = gcc("cp_fetched", "-g")
    srv = os.path.join(TMP, "srv")
    os.makedirs(srv, exist_ok=True)
    run("objcopy", "--only-keep-debug", fetched, os.path.join(srv, "cp_fetched.debug"))
    run("strip", "--strip-all", fetched)
    bid = run("readelf", "-n", fetched).split("Build ID: ")[1].split()[0]

    with running(subprocess.Popen([plain])) as p:
        doc, text = report(p.pid)
        o = main_object(doc, plain)
        print(block(text, plain))
        check(doc["pid"] == p.pid and doc["exe"] == plain, "the report is about the process")
        check(o["unwind"]["method"] == "table" and o["unwind"]["rows"]["eh_frame"] > 0 and
              o["unwind"]["rows_total"] == sum(o["unwind"]["rows"].values()),
              f"plain: unwound by .eh_frame rows ({o['unwind']})")
        check(o["names"]["source"] == "symtab" and o["names"]["lines"] and
              o["names"]["functions"] >= 4, f"plain: named by .symtab with lines ({o['names']})")
        check(o["build_id"] and len(o["build_id"]) == 40, "with its build id")
        libc = [x for x in doc["objects"] if "/libc.so" in x["file"]]
        check(len(libc) == 1 and libc[0]["unwind"]["rows"]["eh_frame"] > 1000,
              "libc: a table from its .eh_frame")
        vdso = [x for x in doc["objects"] if x["file"] == "[vdso]"]
        check(len(vdso) == 1 and vdso[0]["names"]["source"] == "vdso" and
              vdso[0]["unwind"]["method"] == "frame_pointers", "[vdso]: named by the agent's own")
        b = block(text, plain)
        check(f"unwound by:  unwind table, {o['unwind']['rows_total']} rows (eh_frame "
              f"{o['unwind']['rows']['eh_frame']})" in b and "named by:    .symtab, " in b,
              "the readable report says the same")

    with running(subprocess.Popen([debuglink])) as p:
        doc, text = report(p.pid)
        o = main_object(doc, debuglink)
        print(block(text, debuglink))
        check(o["names"]["source"] == "debug_file" and
              o["names"]["debug_file"] == {"path": debuglink + ".debug", "found_by": "debuglink"},
              f"stripped: named by its debug file, found by .gnu_debuglink ({o['names']})")
        check(o["unwind"]["rows"]["eh_frame"] > 0, "and unwound by its own .eh_frame")
        check(f"debug file:  {debuglink}.debug (found by debuglink)" in block(text, debuglink),
              "the readable report names the debug file")

    with running(subprocess.Popen([nocfi])) as p:
        doc, text = report(p.pid)
        o = main_object(doc, nocfi)
        print(block(text, nocfi))
        check(o["unwind"]["method"] == "frame_pointers" and o["unwind"]["rows_total"] == 0 and
              o["unwind"]["reason"] == "no .eh_frame, .debug_frame or .gopclntab",
              f"no CFI: frame pointers only ({o['unwind']})")
        check("frame pointers only (no .eh_frame, .debug_frame or .gopclntab)" in block(text, nocfi),
              "the readable report says so")

    server = Server([bid])
    try:
        with running(subprocess.Popen([fetched])) as p:
            doc, _ = report(p.pid)
            o = main_object(doc, fetched)
            check(o["names"]["source"] == "dynsym" or o["names"]["source"] == "none",
                  f"stripped, no debuginfod: no names of its own ({o['names']['source']})")
            cache = os.path.join(TMP, "check-cache")
            doc, text = report(p.pid, "--debuginfod-urls", server.url, "--debuginfod-cache-dir",
                               cache)
            o = main_object(doc, fetched)
            print(block(text, fetched))
            check(o["names"]["source"] == "debug_file" and
                  o["names"]["debug_file"] == {"path": os.path.join(cache, bid, "debuginfo"),
                                               "found_by": "debuginfod"},
                  f"with --debuginfod-urls: named by the fetched file ({o['names']})")
    finally:
        server.stop()

    r = subprocess.run([BRASA, "check", "--pid", "999999999"], capture_output=True, text=True)
    check(r.returncode == 2 and "no such process" in r.stderr,
          f"no such process: exit 2 ({r.returncode}: {r.stderr.strip()})")
