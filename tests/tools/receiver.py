#!/usr/bin/env python3
"""A loopback stand-in for Pyroscope and Parca, for brasa's upload tests.

It speaks HTTP/1.1 (keep-alive) on 127.0.0.1 and accepts the three
protocols brasa sends:

  POST /push.v1.PusherService/Push                                pyroscope
  POST /ingest?name=app{k=v}&from=&until=&format=pprof&...        pyroscope-ingest
  POST /parca.profilestore.v1alpha1.ProfileStoreService/WriteRaw  parca (gRPC-web)

Every request is decoded without any of brasa's code: the protobuf bodies
by `protoc --decode` against proto/push.proto and proto/profilestore.proto
(after checking and stripping the gRPC-web frame), every profile by
`go tool pprof -raw` on a temporary file. One JSON line per request goes to
the output file: protocol, the status it was answered with, headers,
series (labels, and per profile its ID, sample types, sample count, total
count, function names, time_nanos and duration_nanos).

Behaviour ("mode") is set at start (--mode) and at run time through the
admin port:

  POST /mode   {"modes": ["ok", "503"], "message": "...", "grpc_code": 14,
                "delay": 2.0}
               each request takes the first mode of the list; all but the
               last are used once. Modes: ok, refuse (the listening socket
               and open connections are closed until another mode is set),
               503, 429, 400 (with message), grpc-trailer and grpc-header
               (parca: grpc_code and message in the gRPC-web trailer frame,
               or as HTTP headers in a trailers-only response), slow (waits
               delay seconds, then answers ok), bare-200 (200 with an empty
               body and no gRPC status)
  POST /clear  empties the output file
  GET  /count  the number of requests recorded

  GET  /tls-errors  the TLS handshakes the protocol port failed, as a JSON
               list of OpenSSL's reasons, oldest first

The ports are written as JSON {"port": P, "admin_port": A} to the --ready
file once both listen.

With --tls-cert and --tls-key the protocol port speaks HTTPS (the admin
port stays plain HTTP); with --tls-client-ca as well, it requires a client
certificate signed by that CA and fails the handshake without one.

  receiver.py --proto-dir DIR --out FILE --ready FILE [--mode MODE]
              [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]]
"""
import argparse
import http.server
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.dont_write_bytecode = True  # no __pycache__ next to the scripts
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import testlib  # noqa: E402

PUSH_PATH = "/push.v1.PusherService/Push"
WRITERAW_PATH = "/parca.profilestore.v1alpha1.ProfileStoreService/WriteRaw"


# ---- protobuf text format (protoc --decode output) ----

def unescape(s):
    """A text-format string literal's body: C escapes, octal for bytes."""
    out = bytearray()
    i = 0
    simple = {"n": 10, "r": 13, "t": 9, '"': 34, "'": 39, "\\": 92,
              "a": 7, "b": 8, "f": 12, "v": 11, "?": 63}
    raw = s.encode("utf-8")
    while i < len(raw):
        c = raw[i]
        if c != 92:
            out.append(c)
            i += 1
            continue
        n = chr(raw[i + 1])
        if n in simple:
            out.append(simple[n])
            i += 2
        elif n == "x":
            m = re.match(rb"[0-9a-fA-F]{1,2}", raw[i + 2:])
            out.append(int(m.group(0), 16))
            i += 2 + len(m.group(0))
        elif n in "01234567":
            m = re.match(rb"[0-7]{1,3}", raw[i + 1:])
            out.append(int(m.group(0), 8))
            i += 1 + len(m.group(0))
        else:
            raise ValueError(f"unknown escape \\{n}")
    return bytes(out)


def parse_text_format(text):
    """Nested dicts of lists: {"field": [value or dict, ...]}."""
    root = {}
    stack = [root]
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line == "}":
            stack.pop()
            continue
        m = re.match(r"^(\w+) \{$", line)
        if m:
            child = {}
            stack[-1].setdefault(m.group(1), []).append(child)
            stack.append(child)
            continue
        m = re.match(r'^(\w+): "(.*)"$', line)
        if m:
            stack[-1].setdefault(m.group(1), []).append(unescape(m.group(2)))
            continue
        m = re.match(r"^(\w+): (\S+)$", line)
        if m:
            stack[-1].setdefault(m.group(1), []).append(m.group(2))
            continue
        raise ValueError(f"unparsed text format line: {line!r}")
    if len(stack) != 1:
        raise ValueError("unbalanced text format")
    return root


class Decoder:
    def __init__(self, proto_dir, tmp):
        self.proto_dir = proto_dir
        self.tmp = tmp
        self.env = testlib.go_env(tmp)

    def protoc(self, message, proto, data):
        r = subprocess.run(
            ["protoc", f"--decode={message}", f"--proto_path={self.proto_dir}",
             os.path.join(self.proto_dir, proto)],
            input=data, capture_output=True, timeout=60)
        if r.returncode != 0:
            raise ValueError(f"protoc --decode={message} failed: {r.stderr.decode(errors='replace')}")
        return parse_text_format(r.stdout.decode("utf-8"))

    def span(self, raw):
        """time_nanos (9) and duration_nanos (10) of a gzipped pprof, by
        protoc --decode_raw: what span of time the profile says it covers."""
        import gzip
        try:
            data = gzip.decompress(raw)
        except OSError:
            return {}
        r = subprocess.run(["protoc", "--decode_raw"], input=data, capture_output=True, timeout=60)
        out = {}
        for line in r.stdout.decode(errors="replace").splitlines():
            m = re.match(r"^(9|10): (\d+)$", line)  # top level: not indented
            if m:
                out["time_nanos" if m.group(1) == "9" else "duration_nanos"] = int(m.group(2))
        return out

    def pprof(self, raw):
        """Sample types, samples, total count, functions of a gzipped pprof."""
        fd, path = tempfile.mkstemp(dir=self.tmp, suffix=".pb.gz")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(raw)
            r = subprocess.run(["go", "tool", "pprof", "-raw", path],
                               capture_output=True, text=True, env=self.env, timeout=120)
        finally:
            os.unlink(path)
        if r.returncode != 0:
            return {"error": f"go tool pprof -raw failed: {r.stderr.strip()}"}
        info = {"sample_types": [], "samples": 0, "total": 0, "functions": [],
                "period_type": None, "period": None}
        info.update(self.span(raw))
        section = None
        functions = set()
        for line in r.stdout.splitlines():
            if line.startswith("PeriodType:"):
                info["period_type"] = line.split(":", 1)[1].strip()
            elif line.startswith("Period:"):
                info["period"] = int(line.split(":", 1)[1])
            elif line.startswith("Samples:"):
                section = "sample_types"
            elif line.startswith("Locations"):
                section = "locations"
            elif line.startswith("Mappings"):
                section = "mappings"
            elif section == "sample_types":
                info["sample_types"] = [t.replace("[dflt]", "") for t in line.split()]
                section = "samples"
            elif section == "samples":
                m = re.match(r"^\s+(\d+)\s+\d+: [\d ]*$", line)
                if m:
                    info["samples"] += 1
                    info["total"] += int(m.group(1))
            elif section == "locations":
                # "     1: 0x401100 M=1 main app.c:5 s=0", inlined callers on
                # their own lines after it
                rest = re.sub(r"^\s+\d+: 0x[0-9a-f]+ (M=\d+ )?", "", line)
                m = re.match(r"^\s*(.*) (\S*):(-?\d+) s=\d+$", rest)
                if m:
                    functions.add(m.group(1))
        info["functions"] = sorted(functions)
        return info


# ---- the protocol server ----

class State:
    def __init__(self, args, tls):
        self.lock = threading.Lock()
        self.modes = [args.mode]
        self.message = "rejected by receiver.py"
        self.grpc_code = 14
        self.delay = 2.0
        self.out = args.out
        self.count = 0
        self.tls = tls
        self.tls_errors = []
        self.decoder = Decoder(args.proto_dir, tempfile.mkdtemp(prefix="receiver-"))

    def next_mode(self):
        with self.lock:
            mode = self.modes[0]
            if len(self.modes) > 1:
                self.modes.pop(0)
            return mode, self.message, self.grpc_code, self.delay

    def record(self, rec):
        with self.lock:
            with open(self.out, "a") as f:
                f.write(json.dumps(rec, sort_keys=True) + "\n")
            self.count += 1


STATE = None
LISTENER = None


def label_dict(pairs):
    """{name: value} of decoded LabelPair messages; a name given again is
    also listed under "__duplicates__", for the test to fail on."""
    labels = {}
    for lp in pairs:
        name = lp.get("name", [b""])[0].decode()
        if name in labels:
            labels.setdefault("__duplicates__", []).append(name)
        labels[name] = lp.get("value", [b""])[0].decode()
    return labels


def grpc_frame(flag, payload):
    return bytes([flag]) + len(payload).to_bytes(4, "big") + payload


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.server.track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, fmt, *args):
        pass

    def reply(self, code, body=b"", ctype="application/json", headers=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def decode(self, protocol, body, query, full):
        """Series as [{"labels": {...}, "profiles": [...]}]."""
        d = STATE.decoder
        series = []
        if protocol == "pyroscope":
            msg = d.protoc("push.v1.PushRequest", "push.proto", body)
            for s in msg.get("series", []):
                labels = label_dict(s.get("labels", []))
                profiles = []
                for rs in s.get("samples", []):
                    p = {"id": rs.get("ID", [b""])[0].decode()}
                    if full:
                        p.update(d.pprof(rs.get("raw_profile", [b""])[0]))
                    profiles.append(p)
                series.append({"labels": labels, "profiles": profiles})
        elif protocol == "parca":
            if len(body) < 5 or body[0] != 0 or int.from_bytes(body[1:5], "big") != len(body) - 5:
                raise ValueError("not one uncompressed gRPC-web data frame")
            msg = d.protoc("parca.profilestore.v1alpha1.WriteRawRequest", "profilestore.proto",
                           body[5:])
            for s in msg.get("series", []):
                labels = label_dict(lp for ls in s.get("labels", []) for lp in ls.get("labels", []))
                profiles = []
                for rs in s.get("samples", []):
                    p = {}
                    if full:
                        p.update(d.pprof(rs.get("raw_profile", [b""])[0]))
                    profiles.append(p)
                series.append({"labels": labels, "profiles": profiles})
        else:
            name = query.get("name", [""])[0]
            m = re.match(r"^([^{]*)\{(.*)\}$", name)
            if not m:
                raise ValueError(f"bad ingest name {name!r}")
            labels = {"__app__": m.group(1)}
            if m.group(2):
                for kv in m.group(2).split(","):
                    k, v = kv.split("=", 1)
                    labels[k] = v
            p = {}
            if full:
                p.update(d.pprof(body))
            series.append({"labels": labels, "profiles": [p]})
        return series

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        if url.path == PUSH_PATH:
            protocol = "pyroscope"
        elif url.path == WRITERAW_PATH:
            protocol = "parca"
        elif url.path == "/ingest":
            protocol = "pyroscope-ingest"
        else:
            self.reply(404, b'{"code":"not_found","message":"no such path"}')
            return
        mode, message, grpc_code, delay = STATE.next_mode()
        if mode == "slow":
            time.sleep(delay)
        accepted = mode in ("ok", "slow")
        rec = {
            "protocol": protocol, "mode": mode, "accepted": accepted,
            "path": url.path, "time": time.time(), "body_bytes": len(body),
            "client_port": self.client_address[1],
            "query": {k: v[0] for k, v in query.items()},
            "headers": {k.lower(): v for k, v in self.headers.items()
                        if k.lower() in ("authorization", "x-scope-orgid", "content-type",
                                         "x-grpc-web", "user-agent", "connect-protocol-version")
                        or k.lower().startswith("x-test")},
        }
        try:
            # the IDs of refused requests too (cheap: protoc only), so a test
            # can see that a retry repeats them
            rec["series"] = self.decode(protocol, body, query, full=accepted)
        except Exception as e:  # recorded for the test to fail on
            rec["error"] = str(e)
        STATE.record(rec)

        if mode in ("ok", "slow"):
            if protocol == "parca":
                trailer = grpc_frame(0x80, b"grpc-status: 0\r\ngrpc-message: \r\n")
                self.reply(200, grpc_frame(0, b"") + trailer, "application/grpc-web+proto")
            elif protocol == "pyroscope":
                self.reply(200, b"", "application/proto")
            else:
                self.reply(200, b"", "text/plain")
        elif mode in ("503", "429", "400"):
            code = {"503": "unavailable", "429": "resource_exhausted", "400": "invalid_argument"}[mode]
            self.reply(int(mode), json.dumps({"code": code, "message": message}).encode())
        elif mode == "grpc-trailer":
            enc = urllib.parse.quote(message, safe=" ")
            trailer = grpc_frame(0x80, f"grpc-status: {grpc_code}\r\ngrpc-message: {enc}\r\n".encode())
            self.reply(200, trailer, "application/grpc-web+proto")
        elif mode == "grpc-header":
            enc = urllib.parse.quote(message, safe=" ")
            self.reply(200, b"", "application/grpc-web+proto",
                       [("grpc-status", str(grpc_code)), ("grpc-message", enc)])
        elif mode == "bare-200":
            self.reply(200, b"", "text/plain")
        else:
            self.reply(500, json.dumps({"code": "internal", "message": f"unknown mode {mode}"}).encode())


class Server(testlib.TLSServer):
    """The protocol port: HTTPS with --tls-*; its failed handshakes are
    listed for GET /tls-errors."""

    allow_reuse_address = True

    def __init__(self, addr, handler):
        self.conns = set()
        self.conns_lock = threading.Lock()
        self.tls = STATE.tls
        super().__init__(addr, handler)

    def handle_error(self, request, client_address):
        # a client that gave up (timeout, cancel, refuse closing it) is
        # part of the tests, not an error
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)

    def handshake_failed(self, reason):
        with STATE.lock:
            STATE.tls_errors.append(reason)

    def track(self, conn, add):
        with self.conns_lock:
            if add:
                self.conns.add(conn)
            else:
                self.conns.discard(conn)

    def close_all(self):
        with self.conns_lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class Listener:
    """The protocol port, which 'refuse' closes and any other mode reopens
    on the same port number."""

    def __init__(self):
        self.lock = threading.Lock()
        self.server = None
        self.port = 0

    def start(self):
        with self.lock:
            if self.server:
                return
            self.server = Server(("127.0.0.1", self.port), Handler)
            self.port = self.server.server_address[1]
            threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        with self.lock:
            if not self.server:
                return
            self.server.shutdown()
            self.server.server_close()
            self.server.close_all()
            self.server = None


class AdminHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, code, text):
        body = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/count":
            with STATE.lock:
                self.reply(200, str(STATE.count))
        elif self.path == "/tls-errors":
            with STATE.lock:
                self.reply(200, json.dumps(STATE.tls_errors))
        else:
            self.reply(404, "no such path")

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        if self.path == "/clear":
            with STATE.lock:
                open(STATE.out, "w").close()
                STATE.count = 0
            self.reply(200, "cleared")
            return
        if self.path != "/mode":
            self.reply(404, "no such path")
            return
        req = json.loads(body or b"{}")
        modes = req.get("modes") or [req.get("mode", "ok")]
        with STATE.lock:
            STATE.modes = list(modes)
            STATE.message = req.get("message", STATE.message)
            STATE.grpc_code = int(req.get("grpc_code", STATE.grpc_code))
            STATE.delay = float(req.get("delay", STATE.delay))
        if modes[0] == "refuse":
            LISTENER.stop()
        else:
            LISTENER.start()
        self.reply(200, "mode " + ",".join(modes))


def main():
    global STATE, LISTENER
    ap = argparse.ArgumentParser()
    ap.add_argument("--proto-dir", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--ready", required=True)
    ap.add_argument("--mode", default="ok")
    testlib.add_tls_arguments(ap)
    args = ap.parse_args()

    STATE = State(args, testlib.tls_context(ap, args))
    open(args.out, "a").close()
    LISTENER = Listener()
    LISTENER.start()
    if args.mode == "refuse":
        LISTENER.stop()
    admin = http.server.ThreadingHTTPServer(("127.0.0.1", 0), AdminHandler)
    admin.daemon_threads = True
    testlib.write_ready(args.ready, json.dumps({"port": LISTENER.port,
                                               "admin_port": admin.server_address[1]}))
    try:
        admin.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
