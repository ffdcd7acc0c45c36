#!/usr/bin/env python3
"""The image's runtime stage (deploy/kubernetes/Dockerfile) installs a
package for every shared library the agent links: each NEEDED entry of
the built binary (readelf -d), found by ldd and owned by a Debian package
(dpkg -S), must be named in the runtime stage's `apt-get install` (libc6
is in every Debian image). No container engine is needed: it catches the
library a new feature adds before an image fails to start. Also: the
image's tag examples are valid references, and ca-certificates is there.

    dockerfile-deps.py BRASA SRC_ROOT"""
import os
import re
import subprocess
import sys

brasa, root = sys.argv[1:3]
text = open(os.path.join(root, "deploy", "kubernetes", "Dockerfile")).read()
stages = re.split(r"^FROM ", text, flags=re.M)
runtime = stages[-1]
# the words of the install command, up to the next && (options dropped)
m = re.search(r"apt-get install(.*?)(?:&&|$)", runtime.replace("\\\n", " "), re.S)
listed = {w for w in (m.group(1).split() if m else []) if not w.startswith("-")}
problems = []

needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]",
                    subprocess.run(["readelf", "-d", brasa], capture_output=True, text=True).stdout)
paths = {}
for line in subprocess.run(["ldd", brasa], capture_output=True, text=True).stdout.splitlines():
    p = line.split()
    if len(p) >= 3 and p[1] == "=>":
        paths[p[0]] = p[2]
if len(needed) < 10:
    problems.append(f"readelf found only {len(needed)} NEEDED libraries in {brasa}")


def owner(path):
    real = os.path.realpath(path)
    # usrmerge: dpkg may know the file under /lib or under /usr/lib
    for cand in {path, real, real.removeprefix("/usr"), "/usr" + real}:
        r = subprocess.run(["dpkg", "-S", cand], capture_output=True, text=True)
        if r.returncode == 0:
            return r.stdout.split(":")[0].strip()
    return None


# the sanitizers' runtimes of a -Db_sanitize build (make test runs this
# test in one too): not the image's, whose build has none
SANITIZERS = re.compile(r"^lib(asan|ubsan|lsan|tsan|hwasan)\.so")
for so in needed:
    if SANITIZERS.match(so):
        print(f"{so}: a sanitizer's runtime, left out")
        continue
    pkg = owner(paths.get(so, so))
    print(f"{so}: {pkg}")
    if pkg is None:
        problems.append(f"{so}: no Debian package owns {paths.get(so)}")
    elif pkg != "libc6" and pkg not in listed:
        problems.append(f"{so} ({pkg}) is linked but the image's runtime stage does not install {pkg}")
if "ca-certificates" not in listed:
    problems.append("the runtime stage has no ca-certificates: HTTPS remotes would fail verification")
# docker's reference grammar, in short: lowercase path components, an
# optional registry host (with a dot or a port), a tag of [\w][\w.-]{0,127}
ref = re.compile(r"^(?:[a-z0-9.-]+(?:\.[a-z0-9-]+|:\d+)/)?[a-z0-9]+(?:[._-][a-z0-9]+)*"
                 r"(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?$")
tags = re.findall(r"-t (\S+)|docker push (\S+)", text)
manifest = open(os.path.join(root, "deploy", "kubernetes", "daemonset.yaml")).read()
images = re.findall(r"^\s+image: (\S+)", manifest, re.M)
for t in [a or b for a, b in tags] + images:
    if not ref.match(t):
        problems.append(f"{t!r} is not a valid image reference")
if not tags or not images:
    problems.append(f"no tag example found (Dockerfile: {tags}, daemonset.yaml: {images})")
print(f"{len(needed)} libraries, runtime packages {sorted(listed)}")
for p in problems:
    print("FAIL: " + p)
sys.exit(1 if problems else 0)
