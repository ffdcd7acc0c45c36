"""A real headless Chromium for the tests of the agent's web page (Debian's
chromium and chromium-driver, driven by python3-selenium): a fresh
profile, a 1400x900 window, and what a person's DevTools would show
recorded as the page runs, so a test can check that nothing went wrong
on the way:

    with Browser(agent) as b:
        b.open("/")
        b.wait("document.readyState === 'complete'", 20, "the page loaded")
        b.screenshot("web_page_loads")
        b.check_clean()      # no console error, no failed request, no other origin

Every console message (goog:loggingPrefs browser) and every network
request (Chromium's performance log: the DevTools protocol's Network
events) is kept in b.console and b.requests. Screenshots go to
$BRASA_BUILD_ROOT/meson-logs/screenshots/NAME.png, beside meson's test
logs, as artifacts of the run; downloads to b.downloads.
"""
import sys

sys.dont_write_bytecode = True

import glob  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.parse  # noqa: E402

from harness import TMP, check, fail  # noqa: E402
from testlib import CHROMEDRIVER, CHROMIUM, CHROMIUM_FLAGS, load_selenium  # noqa: E402



SCREENSHOTS = os.path.join(os.environ.get("BRASA_BUILD_ROOT", "build"), "meson-logs", "screenshots")


def same_origin(url, origin):
    """Whether a request to url stays on origin ("http://127.0.0.1:PORT"):
    the same scheme, host and port; data: URLs and blob: URLs of origin
    (what the page builds for client-side downloads) fetch nothing from
    elsewhere."""
    scheme = url.split(":", 1)[0].lower()
    if scheme == "data":
        return True
    if scheme == "blob":
        return same_origin(url[len("blob:"):], origin) and not url[len("blob:"):].startswith("blob:")
    u, o = urllib.parse.urlsplit(url), urllib.parse.urlsplit(origin)
    return (u.scheme, u.hostname, u.port) == (o.scheme, o.hostname, o.port)


class Request:
    """One network request of the page: every URL it went through
    (redirects keep the request's id), its HTTP status, and how it failed
    (Network.loadingFailed: errorText, canceled, blockedReason)."""

    def __init__(self):
        self.urls = []
        self.method = ""
        self.status = None
        self.error = None
        self.canceled = False
        self.blocked = None

    def failed(self):
        """An error answer or a load that failed. A canceled one is not:
        Chromium cancels the page's request of a link that turns into a
        download (net::ERR_ABORTED), and a page aborts a fetch it no
        longer needs; both are what a person wanted."""
        if self.status is not None and self.status >= 400:
            return True
        return self.error is not None and not self.canceled

    def __str__(self):
        how = f"{self.status}" if self.status is not None else "-"
        if self.error:
            how += f" {self.error}" + (" canceled" if self.canceled else "") + \
                (f" blocked:{self.blocked}" if self.blocked else "")
        return f"{self.method} {' -> '.join(self.urls)} [{how}]"


class Browser:
    """Headless Chromium with a fresh profile under TMP, on agent's origin
    (an object with url(path), as harness.Agent, or an origin string)."""

    def __init__(self, agent):
        self.origin = agent.url("") if hasattr(agent, "url") else agent.rstrip("/")
        self.profile = tempfile.mkdtemp(prefix="chromium-", dir=TMP)
        self.downloads = tempfile.mkdtemp(prefix="downloads-", dir=TMP)
        self.console = []
        self.requests = {}
        self.driver_log = os.path.join(TMP, "chromedriver.log")
        webdriver, WebDriverException, Service, self.by = load_selenium()
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for flag in CHROMIUM_FLAGS + [f"--user-data-dir={self.profile}"]:
            opts.add_argument(flag)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        opts.add_experimental_option("perfLoggingPrefs", {"enableNetwork": True, "enablePage": False})
        opts.add_experimental_option("prefs", {"download.default_directory": self.downloads,
                                               "download.prompt_for_download": False})
        t = time.monotonic()
        try:
            self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER, log_path=self.driver_log),
                                           options=opts)
        except WebDriverException as e:
            fail(f"headless Chromium did not start: {e.msg}\n{self.driver_log_tail()}")
        print(f"chromium {self.driver.capabilities.get('browserVersion')} started in "
              f"{time.monotonic() - t:.1f} s (profile {self.profile})")
        self.driver.set_page_load_timeout(60)
        self.driver.set_script_timeout(60)
        # downloads land in self.downloads without asking (headless
        # Chromium ignores the profile's preference in some versions)
        self.driver.execute_cdp_cmd("Page.setDownloadBehavior",
                                    {"behavior": "allow", "downloadPath": self.downloads})

    def driver_log_tail(self):
        try:
            return open(self.driver_log, errors="replace").read()[-3000:]
        except OSError:
            return "(no chromedriver log)"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.quit()

    def quit(self):
        try:
            self.driver.quit()
        except Exception as e:  # a browser that already died: its log says why
            print(f"chromium did not quit cleanly: {e}")

    # --- driving the page ---

    def open(self, path):
        """Loads origin + path; what the browser logged before (its start
        page) is dropped, so the records are this page's."""
        self.drain()
        self.console, self.requests = [], {}
        self.driver.get(self.origin + path)

    def forget(self):
        """Drops what was recorded so far: after a check_clean, before a
        step whose failed requests and console errors are expected (an
        agent that goes away, a 400 the page shows)."""
        self.drain()
        self.console, self.requests = [], {}

    def js(self, script, *args):
        """Runs script (a function body: `return ...`) in the page."""
        return self.driver.execute_script(script, *args)

    def click_at(self, id_, x, y):
        """A real left click (DevTools' Input events, as a mouse makes) at
        (x, y) CSS px of element id_, scrolled into view first (its
        scrolling parent, then the page)."""
        self.drag(id_, x, y, x, y)

    def drag(self, id_, x0, y0, x1, y1, steps=5):
        """A real left-button drag from (x0, y0) to (x1, y1) CSS px of
        element id_ (a click when both are the same point)."""
        vx, vy = self._viewport_point(id_, x0, y0)
        dx, dy = x1 - x0, y1 - y0
        mouse = lambda kind, x, y, **more: self.driver.execute_cdp_cmd(
            "Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left", **more})
        mouse("mouseMoved", vx, vy)
        mouse("mousePressed", vx, vy, clickCount=1, buttons=1)
        for i in range(1, steps + 1 if (dx or dy) else 1):
            mouse("mouseMoved", vx + dx * i / steps, vy + dy * i / steps, buttons=1)
        mouse("mouseReleased", vx + dx, vy + dy, clickCount=1)

    def _viewport_point(self, id_, x, y):
        """(x, y) of element id_ in viewport px, the element scrolled so
        that the point is in view."""
        return self.js("""
            const [id, x, y] = arguments, e = document.getElementById(id), box = e.parentElement;
            box.scrollTop += e.getBoundingClientRect().top + y - box.getBoundingClientRect().top
                             - box.clientHeight / 2;
            window.scrollBy(0, e.getBoundingClientRect().top + y - window.innerHeight / 2);
            const r = e.getBoundingClientRect();
            return [r.left + x, r.top + y];""", id_, x, y)

    def el(self, id_):
        return self.driver.find_element(self.by.ID, id_)

    def wait(self, cond, timeout, what):
        """Waits for cond (a JS expression, or a Python callable) to be
        truthy; returns its value, fails naming what past timeout."""
        deadline = time.monotonic() + timeout
        while True:
            v = cond() if callable(cond) else self.js(f"return ({cond});")
            if v:
                return v
            if time.monotonic() > deadline:
                self.screenshot("timeout")
                fail(f"{what}: not within {timeout} s\n{self.summary()}")
            time.sleep(0.2)

    def screenshot(self, name):
        os.makedirs(SCREENSHOTS, exist_ok=True)
        path = os.path.join(SCREENSHOTS, name + ".png")
        if not self.driver.save_screenshot(path):
            fail(f"no screenshot written to {path}")
        print(f"screenshot: {path}")
        return path

    def wait_download(self, pattern, timeout):
        """The path of a finished download whose name matches the glob
        pattern (Chromium writes NAME.crdownload until it is whole)."""
        def done():
            got = [p for p in glob.glob(os.path.join(self.downloads, pattern))
                   if not p.endswith(".crdownload")]
            return got and not glob.glob(os.path.join(self.downloads, "*.crdownload")) and got[0]
        return self.wait(done, timeout, f"a download {pattern} in {self.downloads} "
                         f"(there: {os.listdir(self.downloads)})")

    # --- what DevTools would show ---

    def drain(self):
        """Moves what Chromium logged since the last call into
        self.console and self.requests (its logs hand each entry out
        once)."""
        self.console += self.driver.get_log("browser")
        for entry in self.driver.get_log("performance"):
            entry = json.loads(entry["message"])
            # the page's tab (its window handle is its DevTools target
            # id), not the browser's own WebUI pages
            if entry.get("webview") != self.driver.current_window_handle:
                continue
            msg = entry["message"]
            method, p = msg.get("method", ""), msg.get("params", {})
            if not method.startswith("Network."):
                continue
            if method == "Network.webSocketCreated":
                r = self.requests.setdefault(p["requestId"], Request())
                r.urls.append(p["url"])
                r.method = "WS"
                continue
            if "requestId" not in p:
                continue
            r = self.requests.setdefault(p["requestId"], Request())
            if method == "Network.requestWillBeSent":
                r.urls.append(p["request"]["url"])
                r.method = p["request"]["method"]
            elif method == "Network.responseReceived":
                r.status = p["response"]["status"]
                if not r.urls:
                    r.urls.append(p["response"]["url"])
            elif method == "Network.loadingFailed":
                r.error = p.get("errorText", "failed")
                r.canceled = bool(p.get("canceled"))
                r.blocked = p.get("blockedReason") or p.get("corsErrorStatus")

    def console_errors(self):
        self.drain()
        return [e for e in self.console if e.get("level") == "SEVERE"]

    def failed_requests(self):
        self.drain()
        return [r for r in self.requests.values() if r.failed()]

    def foreign_requests(self):
        """Requests to an origin other than the agent's (a CSP that blocks
        them still shows the attempt)."""
        self.drain()
        return [r for r in self.requests.values() if not all(same_origin(u, self.origin) for u in r.urls)]

    def summary(self):
        self.drain()
        lines = ["console:"] + [f"  {e.get('level')} {e.get('message')}" for e in self.console]
        lines += ["requests:"] + [f"  {r}" for r in self.requests.values()]
        return "\n".join(lines)

    def check_clean(self, what="the page"):
        """What every browser test ends with: DevTools would show no console
        error, no failed request and no request to another origin."""
        errors, failed, foreign = self.console_errors(), self.failed_requests(), self.foreign_requests()
        print(self.summary())
        check(self.requests, f"{what}: Chromium recorded its requests ({len(self.requests)})")
        check(not errors, f"{what}: no console error " + "; ".join(e["message"] for e in errors))
        check(not failed, f"{what}: no failed request " + "; ".join(map(str, failed)))
        check(not foreign, f"{what}: no request to another origin than {self.origin} "
              + "; ".join(map(str, foreign)))
