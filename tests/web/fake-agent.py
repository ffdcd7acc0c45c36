#!/usr/bin/env python3
"""A stand-in for the agent's endpoint, to work on the page (serve/web/)
without BPF: serves the page's files as the agent does (same headers) and
answers /api/flamegraph with JSON files made by
tests/tools/folded-to-flamegraph.py, after sleeping `seconds`.

    fake-agent.py PORT A.json [B.json ...]

pid=N picks the Nth file (1-based; default the first); pid=404 answers a
400 like a bad parameter; match= answers with an empty profile.
"""
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

WEB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../serve/web")
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
FILES = {"/": ("index.html", "text/html; charset=utf-8"),
         "/ui/app.js": ("app.js", "text/javascript; charset=utf-8"),
         "/ui/app.css": ("app.css", "text/css; charset=utf-8"),
         "/ui/timeline.js": ("timeline.js", "text/javascript; charset=utf-8")}
EMPTY = {"version": 1, "sample_type": "cpu", "unit": "nanoseconds", "total": 0, "samples": 0,
         "start_unix_ns": 0, "duration_ns": 0, "strings": ["", "all"],
         "nodes": {"name": [1], "lib": [0], "file": [0], "line": [0], "kind": [0],
                   "parent": [-1], "total": [0], "self": [0]}, "truncated": False}


class Handler(BaseHTTPRequestHandler):
    def send(self, status, ctype, body, extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        u = urlparse(self.path)
        q = parse_qs(u.query)
        if u.path in FILES:
            name, ctype = FILES[u.path]
            with open(os.path.join(WEB, name), "rb") as f:
                body = f.read()
            return self.send(200, ctype, body, [("Content-Security-Policy", CSP),
                                                ("X-Content-Type-Options", "nosniff"),
                                                ("Cache-Control", "no-cache")])
        if u.path == "/healthz":
            return self.send(200, "text/plain; charset=utf-8", b"ok\n")
        if u.path == "/api/flamegraph":
            time.sleep(min(int(q.get("seconds", ["1"])[0]), 5))
            pid = int(q.get("pid", ["1"])[0])
            if pid == 404:
                return self.send(400, "text/plain; charset=utf-8", b"pid 404: no such process\n")
            if "match" in q:
                return self.send(200, "application/json", json.dumps(EMPTY).encode())
            with open(sys.argv[1 + min(pid, len(sys.argv) - 2)], "rb") as f:
                return self.send(200, "application/json", f.read())
        return self.send(404, "text/plain; charset=utf-8", b"404 page not found\n")

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
