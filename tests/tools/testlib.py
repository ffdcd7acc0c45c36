"""What the test tools share with each other and with the integration
harness: the environment `go tool pprof` needs, ready files that appear
complete, and a threading HTTP server that speaks HTTPS on request, with
its TLS options.

Imported by receiver.py and fake-kube-api.py (scripts that put this
directory on sys.path) and by tests/integration/harness.py; each sets
sys.dont_write_bytecode before importing, so no __pycache__ appears in the
tree. Python stdlib only (selenium, for the Chromium of the page's tests
and benchmark, is imported when a browser starts; jsonschema when a test
validates against a schema).
"""
import os
import sys
import socket
import ssl
from http.server import ThreadingHTTPServer


def go_env(tmp):
    """The environment for `go tool pprof`: go wants a writable HOME and
    caches, which a test's environment may not give it; all under tmp."""
    env = dict(os.environ)
    env["HOME"] = tmp
    env["GOCACHE"] = os.path.join(tmp, "gocache")
    env["GOPATH"] = os.path.join(tmp, "gopath")
    env["GOFLAGS"] = "-mod=mod"
    env["PPROF_TMPDIR"] = tmp
    return env


def write_ready(path, text):
    """Writes a ready file atomically: whoever waits for it to exist reads
    it whole."""
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.rename(tmp, path)


# ---- HTTPS ----

def add_tls_arguments(ap):
    """--tls-cert, --tls-key and --tls-client-ca on an ArgumentParser."""
    ap.add_argument("--tls-cert", help="serve HTTPS with this certificate (PEM)")
    ap.add_argument("--tls-key", help="the certificate's private key (PEM)")
    ap.add_argument("--tls-client-ca", help="require client certificates signed by this CA")


def tls_context(ap, args):
    """The server context add_tls_arguments' options ask for, or None for
    plain HTTP; a usage error (ap.error) when they do not go together."""
    if bool(args.tls_cert) != bool(args.tls_key) or (args.tls_client_ca and not args.tls_cert):
        ap.error("--tls-cert and --tls-key go together; --tls-client-ca needs them")
    if not args.tls_cert:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.tls_cert, args.tls_key)
    if args.tls_client_ca:
        ctx.load_verify_locations(cafile=args.tls_client_ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def close_after_alert(conn):
    """Closes a connection whose handshake failed without a reset: unread
    bytes (a TLS 1.3 client sends its request before the server has judged
    its certificate) would make close() send RST, and the client could see
    "connection reset" instead of the alert that says why."""
    try:
        conn.shutdown(socket.SHUT_WR)  # plain socket from here on
        conn.settimeout(1.0)
        while conn.recv(65536):
            pass
    except OSError:
        pass
    conn.close()


class TLSServer(ThreadingHTTPServer):
    """HTTP, or HTTPS when tls is a server context (tls_context). The
    handshake runs in finish_request, on the connection's own thread, so a
    slow or failing client never holds up accept(). A failed handshake is
    passed to handshake_failed (OpenSSL's reason) before the connection is
    closed, so it is recorded by the time the client sees the close."""

    daemon_threads = True
    tls = None

    def handshake_failed(self, reason):
        pass

    def finish_request(self, request, client_address):
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        request.settimeout(10)
        conn = self.tls.wrap_socket(request, server_side=True, do_handshake_on_connect=False)
        try:
            conn.do_handshake()
        except (ssl.SSLError, OSError) as e:
            self.handshake_failed(getattr(e, "reason", None) or str(e))
            close_after_alert(conn)
            return
        conn.settimeout(None)
        try:
            super().finish_request(conn, client_address)
        finally:
            conn.close()


def import_debian(name):
    """Imports a module of a Debian python3-* package: Debian's python3
    path, which another python3 first on PATH (a pyenv or venv one) does
    not search, is tried after that python's own (the packages the tests
    use are pure Python)."""
    import importlib
    try:
        return importlib.import_module(name)
    except ImportError:
        if "/usr/lib/python3/dist-packages" not in sys.path:
            sys.path.append("/usr/lib/python3/dist-packages")
        return importlib.import_module(name)


def load_selenium():
    """selenium's modules, imported when a browser starts rather than with
    this file: run.py imports every test file to list the tests when meson
    configures, which must work where the test packages are missing."""
    import_debian("selenium.webdriver")
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    return webdriver, WebDriverException, Service, By


# ---- npm packages ----

NPM_CACHE = os.environ.get("BRASA_NPM_CACHE", "/var/cache/brasa-tests/npm")


def npm_file(package, version, member):
    """The text of one file of an npm package (a pinned version), fetched
    with `npm pack` into NPM_CACHE the first time: the tests validate
    brasa's outputs against schemas other projects publish there. Raises
    RuntimeError saying what failed (no npm, no registry)."""
    import subprocess
    import tarfile
    tgz = os.path.join(NPM_CACHE, f"{package.replace('/', '-').lstrip('@')}-{version}.tgz")
    if not os.path.exists(tgz):
        os.makedirs(NPM_CACHE, exist_ok=True)
        try:
            r = subprocess.run(["npm", "pack", f"{package}@{version}", "--silent",
                                "--pack-destination", NPM_CACHE],
                               capture_output=True, text=True, timeout=300)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise RuntimeError(f"npm pack {package}@{version}: {e}") from e
        if r.returncode != 0 or not os.path.exists(tgz):
            raise RuntimeError(f"npm pack {package}@{version} failed ({r.returncode}): "
                               f"{(r.stderr or r.stdout).strip()[-400:]}")
    with tarfile.open(tgz) as t:
        return t.extractfile(f"package/{member}").read().decode()


def npm_install(name, packages):
    """A directory holding node_modules with packages (pinned "name@version"
    specs) installed, under NPM_CACHE/name, installed the first time (a
    stamp file names the specs: other specs install again). Raises
    RuntimeError saying what failed (no npm, no registry)."""
    import subprocess
    d = os.path.join(NPM_CACHE, name)
    stamp = os.path.join(d, "installed")
    want = " ".join(sorted(packages))
    if os.path.exists(stamp) and open(stamp).read() == want:
        return d
    os.makedirs(d, exist_ok=True)
    try:
        r = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent", "--prefix", d,
                            *packages], capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise RuntimeError(f"npm install {want}: {e}") from e
    if r.returncode != 0:
        raise RuntimeError(f"npm install {want} failed ({r.returncode}): "
                           f"{(r.stderr or r.stdout).strip()[-400:]}")
    with open(stamp, "w") as f:
        f.write(want)
    return d


CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")

# Chromium's flags for a test run: nothing but the page talks to the
# network (no component updates, sync, safe browsing or field trials), so
# every request recorded is the page's own.
CHROMIUM_FLAGS = [
    "--headless=new",
    # The tests run as root (CI and `make test` are root: they load BPF),
    # and Chromium refuses to start as root with its sandbox. The only
    # thing this browser opens is our own page, served from loopback by
    # the agent under test, so the sandbox guards nothing here.
    "--no-sandbox",
    "--window-size=1400,900",
    # /dev/shm is small in containers; Chromium crashes when it runs out
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-features=Translate,OptimizationHints,MediaRouter",
    "--metrics-recording-only",
    "--no-proxy-server",
    "--mute-audio",
    "--force-color-profile=srgb",
    "--hide-scrollbars",
]
