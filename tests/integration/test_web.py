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
import json
import os
import re
import time
import urllib.parse

from browser import Browser
from harness import (CHAIN, TMP, Agent, capture as brasa_capture, chain_share, check, check_speedscope,
                     fail, integration_test, parse_folded, pprof_traces, print_top, workload)

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
            # the type picker offers what the agent records (/api/info)
            types = b.wait("[...document.querySelectorAll('#capture-type option')].map((o) => o.value)"
                           ".join(',') === 'cpu' && 'cpu'", 10, "the type picker lists cpu")
            check(types == "cpu", f"an agent without --off-cpu offers cpu alone ({types})")
            # what scripts the page runs may report late
            time.sleep(1)
            b.screenshot("web_page_loads")
            b.check_clean("/")
            check_no_samples(b)
            check_bad_matcher(b, agent)
            agent = check_agent_restart(b, agent)
    finally:
        agent.stop()


def shown_message(b):
    m = b.el("message")
    return m.is_displayed() and m.text


def check_no_samples(b):
    """A capture that matches nothing says so over the graph."""
    start_capture(b, 1, match='{comm="no-such-process-brasa"}')
    b.wait("window.brasa && window.brasa.tree", 60, "the empty capture rendered")
    text = b.wait(lambda: shown_message(b), 10, "a message over the empty graph")
    tree = b.js("return window.brasa.tree")
    check(tree["samples"] == 0, f"the capture of no process has no samples ({tree['samples']})")
    check("No samples" in text, f"the page says there are no samples ({text!r})")
    b.screenshot("web_no_samples")
    b.check_clean("the empty capture")


def check_bad_matcher(b, agent):
    """A selector the agent refuses: the page shows the agent's own 400."""
    bad = '{comm=~"("}'
    status, _, body = agent.get("/api/flamegraph?seconds=1&match=" + urllib.parse.quote(bad))
    want = body.decode().strip()
    check(status == 400 and "bad match" in want, f"the agent refuses {bad} ({status} {want!r})")
    start_capture(b, 1, match=bad)
    text = b.wait(lambda: "capture failed" in b.el("status").text and b.el("status").text, 30,
                  "the page reports the refused capture")
    check("400" in text and want in text, f"the page shows the 400 and the agent's words ({text!r}, "
          f"wanted {want!r})")
    b.screenshot("web_bad_matcher")
    b.forget()  # the 400 is a failed request, and Chromium logs it


def check_agent_restart(b, agent):
    """The agent goes away under an open page, which says so and disables
    captures; when it is back on the same port the page says that too and
    captures again. Returns the new agent."""
    port = agent.port
    agent.stop()
    text = b.wait(lambda: "unreachable" in b.el("status").text and b.el("status").text, 30,
                  "the page notices the agent is gone")
    check(not b.el("capture-start").is_enabled(), f"no capture can start meanwhile ({text!r})")
    b.screenshot("web_agent_gone")
    agent = Agent(port=port)
    text = b.wait(lambda: "is back" in b.el("status").text and b.el("status").text, 30,
                  "the page notices the agent is back")
    check(b.el("capture-start").is_enabled(), f"captures start again ({text!r})")
    b.forget()  # the refused connections while it was away
    start_capture(b, 1)
    b.wait("window.brasa && window.brasa.tree && window.brasa.tree.samples > 0", 60,
           "a capture after the restart rendered samples")
    b.check_clean("the page after the agent's restart")
    return agent


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


def set_target(b, pid=None, match=None):
    """The capture's target: one pid, a label matcher, or every process.
    The target chooser (#capture-target: all, pid, match), #capture-pid
    and #capture-match are the page's own ids, beyond the contract's
    list."""
    target = "pid" if pid else "match" if match else "all"
    b.js("const s = document.getElementById('capture-target'); s.value = arguments[0];"
         "s.dispatchEvent(new Event('change', {bubbles: true}));", target)
    for kind, value in (("pid", pid), ("match", match)):
        box = b.el("capture-" + kind)
        if value:
            box.clear()
            box.send_keys(str(value))


def start_capture(b, seconds, pid=None, match=None):
    secs = b.el("capture-seconds")
    secs.clear()
    secs.send_keys(str(seconds))
    set_target(b, pid, match)
    b.el("capture-start").click()


def capture(b, seconds, pid, tag):
    """Starts a capture in the page, waits for its tree; returns it."""
    before = b.js("return window.brasa && window.brasa.tree ? window.brasa.tree.start_unix_ns : null")
    start_capture(b, seconds, pid)
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


def frame_span(b, index):
    """Where node index is drawn on #flame: (y, first x, last x) in CSS px
    of its row, or None."""
    return b.js("""
        const [want] = arguments, c = document.getElementById('flame');
        const at = (x, y) => { let f = window.brasa.frameAt(x, y);
                               return f !== null && typeof f === 'object' ? f.index : f; };
        for (let y = 1; y < c.clientHeight; y += 4) {
            let lo = -1, hi = -1;
            for (let x = 0; x < c.clientWidth; x++) if (at(x, y) === want) { if (lo < 0) lo = x; hi = x; }
            if (lo >= 0) return [y, lo, hi];
        }
        return null;""", index)


def check_zoom(b, tree):
    """A click on fp_chain's middle in a capture of every process (spinner
    takes much of it) zooms on it: it then spans the whole width."""
    nodes = tree_nodes(tree)
    middle = nodes[chain_leaves(nodes, "fp_chain")[0]["parent"]]
    width = b.js("return document.getElementById('flame').clientWidth")
    span = frame_span(b, middle["index"])
    check(span and span[2] - span[1] < 0.9 * width,
          f"before the zoom, middle (#{middle['index']}) is part of the width ({span} of {width} px)")
    y, lo, hi = span
    b.click_at("flame", (lo + hi) // 2, y)
    b.wait(f"window.brasa.zoomed === {middle['index']}", 10, "the click zoomed on middle")
    time.sleep(0.3)
    span = frame_span(b, middle["index"])
    check(span and span[1] <= 1 and span[2] >= width - 2,
          f"zoomed on middle: it spans the width ({span} of {width} px)")
    crumbs = b.el("crumbs").text
    check("middle" in crumbs, f"the breadcrumbs lead to middle ({crumbs!r})")
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


def hue(fill):
    m = re.match(r"hsl\((\d+),", fill or "")
    return int(m.group(1)) if m else None


def check_views(b, nodes, leaves):
    """Icicle puts the root on top, flame at the bottom; coloring by
    library gives the chain (one binary) one hue, by kind several; the sandwich of middle
    shows outer calling it and leaf called."""
    main = path_to(nodes, leaves[0])[2]
    width = b.js("return document.getElementById('flame').clientWidth")
    x = width // 2
    rows = {}
    for view in ("icicle", "flame"):
        b.el("view-" + view).click()
        time.sleep(0.3)
        rows[view] = (frame_at_rows(b, 0, x), frame_at_rows(b, main["index"], x))
        if view == "icicle":
            b.screenshot("web_capture_fp_chain-icicle")
    (ir, im), (fr, fm) = rows["icicle"], rows["flame"]
    check(0 <= ir < im, f"icicle: the root above main (y {ir} < {im})")
    check(0 <= fm < fr, f"flame: the root below main (y {fr} > {fm})")

    chain = path_to(nodes, leaves[0])[-len(CHAIN):]  # main..leaf: fp_chain's own code
    b.js("const s = document.getElementById('color-by'); s.value = 'lib';"
         "s.dispatchEvent(new Event('change', {bubbles: true}));")
    by_lib = [hue(b.js("return window.brasa.fill(arguments[0])", n["index"])) for n in chain]
    b.screenshot("web_capture_fp_chain-by-lib")
    b.js("const s = document.getElementById('color-by'); s.value = 'kind';"
         "s.dispatchEvent(new Event('change', {bubbles: true}));")
    by_kind = [hue(b.js("return window.brasa.fill(arguments[0])", n["index"])) for n in chain]
    check(by_lib[0] is not None and len(set(by_lib)) == 1,
          f"by library, fp_chain's frames share one hue ({dict(zip((n['name'] for n in chain), by_lib))})")
    check(len(set(by_kind)) > 1 and all(h is not None and h <= 47 for h in by_kind),
          f"by kind, they are native code's warm hues, varied by name ({by_kind})")

    row = next((r for r in b.driver.find_elements(b.by.CSS_SELECTOR, "#top-table tbody tr")
                if r.text.split("\n")[0].split(" ")[0] == "middle"), None)
    check(row is not None, "the top table has a row for middle")
    row.click()
    sw = b.wait("window.brasa.sandwich", 10, "the sandwich of middle opened")
    title = b.el("sandwich-title").text
    check(b.el("sandwich").is_displayed() and title.startswith("middle"), f"the sandwich is middle's ({title!r})")
    check(sw["callers"] == ["outer"] and sw["callees"] == ["leaf"],
          f"middle's callers are outer, its callees leaf ({sw})")
    b.screenshot("web_capture_fp_chain-sandwich")
    b.el("sandwich-close").click()


def check_downloads(b):
    b.el("download-speedscope").click()
    path = b.wait_download("*.speedscope.json", 30)
    doc = json.load(open(path))
    check("leaf" in [f["name"] for f in doc["shared"]["frames"]], "the speedscope download names leaf")
    check_speedscope(doc, "the page's speedscope download")
    b.el("download-html").click()
    saved = b.wait_download("*.html", 30)
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
    return saved


def open_offline(path, shot):
    """A saved page from a file:// URL with the network off: its tree,
    DevTools clean. Returns the tree."""
    with Browser("file://") as b:
        b.driver.execute_cdp_cmd("Network.enable", {})
        b.driver.execute_cdp_cmd("Network.emulateNetworkConditions", {
            "offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
        b.open(path)
        b.wait("window.brasa && window.brasa.tree", 30, f"{os.path.basename(path)} rendered offline")
        tree = b.js("return window.brasa.tree")
        check("offline" in b.el("status").text,
              f"the page says it shows a saved capture ({b.el('status').text!r})")
        check(not b.el("capture-form").is_displayed(), "no capture form without an agent")
        b.screenshot(shot)
        b.check_clean(f"the saved {os.path.basename(path)}")
        return tree


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
            saved = check_downloads(b)
            check_views(b, nodes, leaves)
            check_search(b, nodes)
            # a diff: this capture as the base, then one of every process
            # while spinner runs too
            b.el("diff-base").click()
            spinner = workload("spinner", 60)
            time.sleep(0.3)
            check_diff_new(capture(b, 3, None, "diff"))
            b.el("diff-clear").click()
            text = b.el("status").text
            check(not text.startswith("diff"), f"Leave diff shows the capture alone ({text!r})")
            check_zoom(b, b.js("return window.brasa.tree"))
            b.check_clean("the capture, the downloads, the diff and the zoom")
        # the page's own HTML download works offline too
        check_tree(open_offline(saved, "web_capture_fp_chain-saved"), "fp_chain")
    finally:
        for p in (w, spinner):
            if p:
                p.kill()
                p.wait()
        agent.stop()


@integration_test(timeout=180)
def t_capture_files_in_chromium():
    """brasa capture --format html: one file that shows the capture from a
    file:// URL with the network off (no agent behind it), the workload's
    chain in its tree, and DevTools clean; --format svg: an image Chromium
    draws from a file, the chain's frames as text in it, and its
    click-to-zoom."""
    out, svg = os.path.join(TMP, "capture.html"), os.path.join(TMP, "capture.svg")
    w = workload("fp_chain", 60)
    try:
        time.sleep(0.3)
        brasa_capture("--pid", str(w.pid), "--seconds", "2", "--format", "html", "-o", out)
        brasa_capture("--pid", str(w.pid), "--seconds", "2", "--format", "svg", "-o", svg)
    finally:
        w.kill()
        w.wait()
    size = os.path.getsize(out)
    check(size > 10000, f"the file holds the page and the capture ({size} bytes)")
    check_tree(open_offline(out, "capture_html_offline"), "fp_chain")
    with Browser("file://") as b:
        b.open(svg)
        b.wait("document.readyState === 'complete'", 30, "the SVG loaded")
        shown = b.js("""
            const svg = document.documentElement, r = svg.getBoundingClientRect();
            const texts = [...document.querySelectorAll('g.f')].map((g) => ({
                name: g.querySelector('title').textContent.split('\\n')[0].split(' [')[0],
                text: g.querySelector('text').textContent,
                w: g.querySelector('rect').getBoundingClientRect().width}));
            return {tag: svg.tagName, width: r.width, height: r.height, frames: texts};""")
        frames = {f["name"]: f for f in shown["frames"]}
        print(f"svg: {shown['tag']} {shown['width']:.0f}x{shown['height']:.0f} px, {len(frames)} frames")
        check(shown["tag"] == "svg" and shown["width"] > 500 and shown["height"] > 50,
              f"Chromium draws the SVG ({shown['tag']}, {shown['width']:.0f}x{shown['height']:.0f})")
        missing = [n for n in ["fp_chain"] + CHAIN if n not in frames]
        check(not missing, f"the SVG has frames for fp_chain and the chain (missing {missing})")
        check(all(frames[n]["text"] == n for n in CHAIN),
              "their names are drawn as text: " + ", ".join(f"{n}={frames[n]['text']!r}" for n in CHAIN))
        b.screenshot("capture_svg")
        # a click on leaf zooms to it: it spans the drawing's width (the
        # frames above it stay, dimmed); Escape goes back
        zoom = b.js("""
            const byName = (n) => [...document.querySelectorAll('g.f')].filter((g) =>
                g.querySelector('title').textContent.split(/[\\n ]/)[0] === n)
                .sort((a, b) => b.dataset.w - a.dataset.w)[0];
            const leaf = byName('leaf'), middle = byName('middle');
            const state = () => ({leaf: +leaf.querySelector('rect').getAttribute('width'),
                                  middle: middle.style.opacity || '1'});
            const before = state();
            leaf.dispatchEvent(new MouseEvent('click', {bubbles: true}));
            const zoomed = state();
            document.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape'}));
            return {before, zoomed, reset: state(),
                    full: document.documentElement.getAttribute('width')};""")
        full = float(zoom["full"]) - 20  # the SVG's width less its padding
        check(abs(zoom["zoomed"]["leaf"] - full) < 0.5 and zoom["zoomed"]["middle"] == "0.6",
              f"a click on leaf zooms to it: {zoom['before']} -> {zoom['zoomed']} (full width {full})")
        check(abs(zoom["reset"]["leaf"] - zoom["before"]["leaf"]) < 0.01 and zoom["reset"]["middle"] == "1",
              f"Escape resets the zoom ({zoom['reset']})")
        b.screenshot("capture_svg-zoom")
        b.check_clean("the SVG")


def timeline_x(b, t):
    """The x (CSS px of #timeline) of Unix time t (seconds)."""
    return b.js("return window.brasa.timelineX(arguments[0] * 1e9)", t)


def comms_of(tree):
    nodes = tree_nodes(tree)
    return {n["name"]: n["total"] for n in nodes if n["parent"] == 0}


@integration_test(timeout=300)
def t_web_history():
    """The page's timeline of the agent's history: fp_chain, then spinner,
    one window a second; the timeline shows both by comm; a real drag over
    the first phase shows fp_chain's graph without spinner; kept as the
    base, a drag over the second phase gives a diff where spinner is new."""
    agent = Agent("--upload-interval", "1s")
    try:
        t0 = time.time()
        a = workload("fp_chain", 60)
        time.sleep(5)
        a.kill()
        a.wait()
        t1 = time.time()
        s = workload("spinner", 60)
        time.sleep(5)
        s.kill()
        s.wait()
        t2 = time.time()
        time.sleep(2)  # the last window stored
        with Browser(agent) as b:
            open_page(b)
            b.js("const s = document.getElementById('timeline-span'); s.value = '15m';"
                 "s.dispatchEvent(new Event('change', {bubbles: true}));")
            tl = b.wait("window.brasa.timeline && window.brasa.timeline.windows.length >= 8 && "
                        "window.brasa.timeline.series.some((s) => s.value === 'spinner') && window.brasa.timeline",
                        30, "the timeline shows the history with spinner")
            check(b.el("history").is_displayed(), "the history strip is shown")
            legend = b.el("timeline-legend").text
            check("fp_chain" in legend and "spinner" in legend, f"its legend names both ({legend!r})")
            b.screenshot("web_history-timeline")
            # the strip spans the stored windows of the last 15 minutes:
            # drag over [t0 + 1, t1 - 1.5] (whole windows of 1 s around it)
            y = 30
            x0, x1 = timeline_x(b, t0 + 1), timeline_x(b, t1 - 1.5)
            check(x1 - x0 > 20, f"the first phase is wide enough to drag over ({x0:.0f}-{x1:.0f} px)")
            b.drag("timeline", x0, y, x1, y)
            b.wait("window.brasa.tree && window.brasa.tree.samples > 0", 60, "the first range rendered")
            first = comms_of(b.js("return window.brasa.tree"))
            status = b.el("status").text
            print(f"range 1: {first}, status {status!r}")
            check(first.get("fp_chain", 0) > 0 and "spinner" not in first,
                  f"a drag over the first phase shows fp_chain and no spinner ({first})")
            check(status.startswith("history"), f"the status says it is the history ({status!r})")
            b.screenshot("web_history-range")
            b.el("diff-base").click()
            before = b.js("return window.brasa.tree.start_unix_ns")
            b.drag("timeline", timeline_x(b, t1 + 1.5), y, timeline_x(b, t2 - 0.5), y)
            b.wait(f"window.brasa.tree && window.brasa.tree.start_unix_ns !== {before}", 60,
                   "the second range rendered")
            check_diff_new(b.js("return window.brasa.tree"))
            b.screenshot("web_history-diff")
            b.check_clean("the timeline, its ranges and their diff")
    finally:
        agent.stop()
