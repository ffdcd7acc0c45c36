"""The agent's web page (GET /) in a real headless Chromium (browser.py):
it loads from the agent alone under a Content-Security-Policy that
forbids other origins, and a capture of a known workload shows what a
person should see: the chain main -> outer -> middle -> leaf as frames in
parent/child order with plausible widths, zoom, the search's matched
share, the top table, the downloads and the diff of two captures. Every
test ends with DevTools' view: no console error, no failed request, no
request to another origin. Screenshots: meson-logs/screenshots/.

The page's side of it (element ids, window.brasa) is the contract of
issue 11: #capture-seconds, #capture-start, #flame, #search,
#search-share, #top-table, #sandwich, #diff-base, #download-pprof,
#download-folded, #download-speedscope, #download-html, #status, and
window.brasa = {tree, zoom(nodeIndex), search(re), frameAt(x, y)} where
tree is the last /api/flamegraph answer shown.
"""
import os
import re
import time

from browser import Browser
from harness import (CHAIN, TMP, Agent, capture as brasa_capture, chain_share, check, fail,
                     integration_test, parse_folded, pprof_traces, print_top, workload)

# the answer's fetch directives and the three that do not fall back to
# default-src; each must name no other origin
CSP_NAVIGATION = ("frame-ancestors", "base-uri", "form-action")


def header(headers, name):
    return next((v for k, v in headers.items() if k.lower() == name.lower()), None)


def check_csp(headers):
    """The answer's Content-Security-Policy forbids every other origin:
    default-src and the directives that do not fall back to it name only
    keywords ('none', 'self', hashes), data: or blob:, never a host, a
    scheme or *."""
    csp = header(headers, "Content-Security-Policy")
    check(csp, f"/ has a Content-Security-Policy ({csp})")
    directives = {}
    for part in csp.split(";"):
        words = part.split()
        if words:
            directives[words[0].lower()] = words[1:]
    for name in ("default-src",) + CSP_NAVIGATION:
        check(name in directives, f"the policy sets {name}")
    foreign = {d: [s for s in srcs if not (s.startswith("'") or s.lower() in ("data:", "blob:"))]
               for d, srcs in directives.items()}
    foreign = {d: s for d, s in foreign.items() if s}
    check(not foreign, f"no directive allows another origin ({foreign})")
    check(directives["frame-ancestors"] in (["'none'"], ["'self'"]),
          "no other origin may frame the page")


def open_page(b):
    b.open("/")
    b.wait("document.readyState === 'complete'", 30, "the page loaded")


@integration_test(timeout=180)
def t_web_page_loads():
    agent = Agent()
    try:
        status, headers, body = agent.get("/")
        check(status == 200, f"GET / answered 200 ({status})")
        ctype = header(headers, "Content-Type") or ""
        check(ctype.startswith("text/html"), f"GET / is HTML ({ctype})")
        check_csp(headers)
        with Browser(agent) as b:
            open_page(b)
            title = b.driver.title
            text = b.js("return document.body ? document.body.innerText : ''")
            height = b.js("return document.body ? document.body.getBoundingClientRect().height : 0")
            check(title.strip(), f"the page has a title ({title!r})")
            check(text.strip() and height > 0,
                  f"the body renders something ({height:.0f} px high: {text.strip()[:80]!r})")
            # what scripts the page runs may report late
            time.sleep(1)
            b.screenshot("web_page_loads")
            b.check_clean("/")
    finally:
        agent.stop()


# --- a capture in the page ---

def tree_nodes(tree):
    """window.brasa.tree (the /api/flamegraph answer) as a list of dicts
    with the strings resolved, and each node's children."""
    s, cols = tree["strings"], tree["nodes"]
    nodes = []
    for i in range(len(cols["name"])):
        n = {k: cols[k][i] for k in cols}
        n["name"] = s[n["name"]]
        n["index"], n["children"] = i, []
        nodes.append(n)
    for n in nodes:
        if n["parent"] >= 0:
            nodes[n["parent"]]["children"].append(n)
    return nodes


def ancestry(nodes, n):
    """The names from the process node (level 1) down to n."""
    names = []
    while n["parent"] >= 0:
        names.append(n["name"])
        n = nodes[n["parent"]]
    return names[::-1]


def chain_leaves(nodes, comm, chain=CHAIN):
    """The nodes that end comm's chain (main, outer, middle, leaf, each the
    child of the one before)."""
    return [n for n in nodes if n["name"] == chain[-1]
            and (a := ancestry(nodes, n))[0] == comm and a[-len(chain):] == chain]


def path_to(nodes, n):
    out = []
    while n["parent"] >= 0:
        out.append(n)
        n = nodes[n["parent"]]
    return [n] + out[::-1]


def check_tree(tree, comm):
    """The chain in the tree, the totals consistent; returns the nodes and
    the leaves of the chain."""
    nodes = tree_nodes(tree)
    root = nodes[0]
    check(root["parent"] == -1 and root["total"] == tree["total"] > 0,
          f"node 0 is the root and holds the total ({root['total']} of {tree['total']})")
    bad = [n for n in nodes if n["total"] < n["self"] + sum(c["total"] for c in n["children"])]
    check(not bad, "every node's total holds its self and its children's totals "
          + ", ".join(f"{n['name']}#{n['index']}" for n in bad[:5]))
    leaves = chain_leaves(nodes, comm)
    check(leaves, f"{comm} -> ... -> {' -> '.join(CHAIN)} is a path of the tree")
    for leaf in leaves:
        path = path_to(nodes, leaf)
        check(all(c["total"] <= p["total"] for p, c in zip(path, path[1:])),
              "child totals <= parent totals along " + " -> ".join(f"{n['name']}:{n['total']}" for n in path))
    share = sum(n["total"] for n in leaves) / root["total"]
    check(share >= 0.7, f"leaf holds a large share of the capture ({share:.1%})")
    return nodes, leaves


def set_target(b, pid):
    """The capture's target: one pid, or every process (pid None). The
    target chooser (#capture-target: all, pid, match) and #capture-pid are
    the page's own ids, beyond the contract's list."""
    if b.driver.find_elements(b.by.ID, "capture-target"):
        b.js("const s = document.getElementById('capture-target'); s.value = arguments[0];"
             "s.dispatchEvent(new Event('change', {bubbles: true}));", "pid" if pid else "all")
    box = b.el("capture-pid")
    if pid:
        box.clear()
        box.send_keys(str(pid))
    elif box.is_displayed():
        box.clear()


def capture(b, seconds, pid, tag):
    """Starts a capture in the page, waits for its tree; returns it."""
    before = b.js("return window.brasa && window.brasa.tree ? window.brasa.tree.start_unix_ns : null")
    secs = b.el("capture-seconds")
    secs.clear()
    secs.send_keys(str(seconds))
    set_target(b, pid)
    b.el("capture-start").click()
    b.wait(f"window.brasa && window.brasa.tree && window.brasa.tree.start_unix_ns !== {before or 'null'}",
           seconds + 60, f"the {tag} capture rendered")
    tree = b.js("return window.brasa.tree")
    print(f"{tag}: {tree['samples']} samples, {len(tree['nodes']['name'])} nodes, "
          f"status {b.el('status').text!r}")
    b.screenshot(f"web_capture_fp_chain-{tag}")
    return tree


def frame_at_rows(b, index, x):
    """The y (CSS px in #flame) where frameAt(x, y) is node index, or -1:
    frameAt may answer an index or an object with one."""
    return b.js("""
        const [want, x] = arguments, c = document.getElementById('flame');
        for (let y = 0; y < c.clientHeight; y += 2) {
            let f = window.brasa.frameAt(x, y);
            if (f !== null && typeof f === 'object') f = f.index;
            if (f === want) return y;
        }
        return -1;""", index, x)


def check_zoom(b, nodes, leaves):
    """Zooms on the chain's middle and finds it at both edges."""
    middle = nodes[leaves[0]["parent"]]
    b.js("window.brasa.zoom(arguments[0])", middle["index"])
    time.sleep(0.5)
    width = b.js("return document.getElementById('flame').clientWidth")
    left, right = frame_at_rows(b, middle["index"], 1), frame_at_rows(b, middle["index"], width - 2)
    check(left >= 0, f"zoomed on middle (#{middle['index']}): frameAt at the left edge is it (y {left})")
    check(right >= 0, f"... and at the right edge: it fills the width (y {right})")
    b.screenshot("web_capture_fp_chain-zoom")


def check_search(b, nodes):
    """Searches ^leaf$ in #search; #search-share shows the leaf frames'
    share of the total (a match under a matching frame counted once)."""
    def matched(n):
        if n["name"] == "leaf":
            return n["total"]
        return sum(matched(c) for c in n["children"])
    want = 100 * matched(nodes[0]) / nodes[0]["total"]
    box = b.el("search")
    box.clear()
    box.send_keys("^leaf$")
    text = b.wait(lambda: re.search(r"\d+(\.\d+)?\s*%", b.el("search-share").text) and b.el("search-share").text,
                  10, "#search-share shows a share")
    shown = float(re.search(r"(\d+(?:\.\d+)?)\s*%", text).group(1))
    check(abs(shown - want) <= 1.0, f"search ^leaf$ shows {text!r}, the leaf frames' {want:.1f} %")
    b.screenshot("web_capture_fp_chain-search")


def check_top_table(b):
    rows = b.wait(lambda: b.driver.find_elements(b.by.CSS_SELECTOR, "#top-table tbody tr"), 10,
                  "the top table has rows")
    first = rows[0].text
    check(re.match(r"\s*leaf\b", first), f"the top table lists leaf first by self ({first!r})")


def check_downloads(b):
    b.el("download-folded").click()
    path = b.wait_download("*.folded", 30)
    stacks = parse_folded(open(path).read().strip())
    good, total = chain_share(stacks, CHAIN)
    print_top(stacks, 3)
    check(total > 0 and all(f[0] == "fp_chain" for f, _ in stacks),
          f"the folded download is fp_chain's ({os.path.basename(path)}, value {total})")
    check(good >= 0.7 * total, f"... and holds the chain main;outer;middle;leaf ({good}/{total})")
    # pprof comes from the agent (/debug/pprof/profile: a new window of
    # the same parameters), read back by go tool pprof
    b.el("download-pprof").click()
    path = b.wait_download("*.pb.gz", 90)
    traces, _ = pprof_traces(path)
    good = sum(c for f, c in traces if f[:4] == list(reversed(CHAIN)))
    total = sum(c for _, c in traces)
    check(total > 0 and good >= 0.7 * total,
          f"go tool pprof reads the pprof download, with the chain ({good}/{total})")


def check_diff_new(tree):
    """In diff mode window.brasa.tree is the new capture compared with the
    base: spinner's chain is in it and not in the base, fp_chain's is in
    both. The base is a nodes.base column (the base's value of the same
    path, 0 where the base lacks it) or tree.base, a tree of its own."""
    nodes = tree_nodes(tree)
    spin, fp = chain_leaves(nodes, "spinner"), chain_leaves(nodes, "fp_chain")
    check(spin and sum(n["total"] for n in spin) > 0, "the second capture holds spinner's chain")
    if "base" in tree["nodes"]:
        news = [n for leaf in spin for n in path_to(nodes, leaf)[1:]]
        check(all(n["base"] == 0 for n in news),
              "spinner's frames are new (base 0): " + ", ".join(f"{n['name']}:{n['base']}" for n in news))
        check(fp and all(n["base"] > 0 for n in fp), "fp_chain's leaf is in the base as well")
    elif isinstance(tree.get("base"), dict):
        base = tree_nodes(tree["base"])
        check(not [n for n in base if n["parent"] == 0 and n["name"] == "spinner"],
              "spinner's frames are new: the base has no spinner")
        check(chain_leaves(base, "fp_chain"), "fp_chain's chain is in the base")
    else:
        fail("diff mode: window.brasa.tree carries no base (nodes.base or tree.base)")


@integration_test(plain=True, timeout=420)
def t_web_capture_fp_chain():
    """A measurement (the leaf's share, as t_fp_chain_endpoint): against
    the plain agent."""
    agent = Agent()
    w = workload("fp_chain", 120)
    spinner = None
    try:
        time.sleep(0.3)
        with Browser(agent) as b:
            open_page(b)
            tree = capture(b, 3, w.pid, "flame")
            nodes, leaves = check_tree(tree, "fp_chain")
            check_top_table(b)
            # before zoom and search change what the page shows
            check_downloads(b)
            check_search(b, nodes)
            check_zoom(b, nodes, leaves)
            b.js("window.brasa.zoom(0)")
            # a diff: this capture as the base, then one of every process
            # while spinner runs too
            b.el("diff-base").click()
            spinner = workload("spinner", 60)
            time.sleep(0.3)
            check_diff_new(capture(b, 3, None, "diff"))
            b.check_clean("the capture, the downloads and the diff")
    finally:
        for p in (w, spinner):
            if p:
                p.kill()
                p.wait()
        agent.stop()


@integration_test(timeout=180)
def t_capture_html_offline():
    """brasa capture --format html: one file that shows the capture from a
    file:// URL with the network off (no agent behind it), the workload's
    chain in its tree, and DevTools clean."""
    out = os.path.join(TMP, "capture.html")
    w = workload("fp_chain", 60)
    try:
        time.sleep(0.3)
        brasa_capture("--pid", str(w.pid), "--seconds", "2", "--format", "html", "-o", out)
    finally:
        w.kill()
        w.wait()
    size = os.path.getsize(out)
    check(size > 10000, f"the file holds the page and the capture ({size} bytes)")
    with Browser("file://") as b:
        # no network at all: a file that needed one would show it
        b.driver.execute_cdp_cmd("Network.enable", {})
        b.driver.execute_cdp_cmd("Network.emulateNetworkConditions", {
            "offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
        b.open(out)
        b.wait("window.brasa && window.brasa.tree", 30, "the saved capture rendered")
        tree = b.js("return window.brasa.tree")
        check_tree(tree, "fp_chain")
        check("offline" in b.el("status").text,
              f"the page says it shows a saved capture ({b.el('status').text!r})")
        check(not b.el("capture-form").is_displayed(), "no capture form without an agent")
        b.screenshot("capture_html_offline")
        b.check_clean("the saved capture")
