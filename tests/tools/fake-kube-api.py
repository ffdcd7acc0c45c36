#!/usr/bin/env python3
"""A stand-in for the Kubernetes API server's pod list, for brasa's k8s tests.

Serves GET /api/v1/pods[?fieldSelector=spec.nodeName=NODE] from a PodList
fixture, filtered by node as the real server does. The fixture and the
token file are re-read on every request, so a test can add a pod or rotate
the token while the server runs. Errors are Kubernetes Status objects.

  fake-kube-api.py --fixture PODLIST.json [--port N] [--ready-file PATH]
                   [--token TOKEN | --token-file PATH] [--mode MODE]
                   [--slow-seconds S] [--request-log PATH]
                   [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]]

  --port N          listen on 127.0.0.1:N (0, the default: a free port)
  --ready-file PATH once listening, the port number is written here
                    (atomically: the file appears complete)
  --token, --token-file
                    require "Authorization: Bearer TOKEN" (else 401); the
                    file is re-read per request, trailing whitespace dropped
  --mode ok         the default
         garbage    200 with a body that is not JSON
         500        500 with an InternalError Status
         slow       waits --slow-seconds (default 30) before answering
  --request-log PATH
                    one line per request, appended once answered:
                    "t=<arrival, unix seconds> status=<code> token=<bearer or -> "
                    "accept=<Accept or -> gzip=<0|1> path=<path and query>";
                    a failed TLS handshake is a line "tls_error=<reason>"
  --tls-cert, --tls-key
                    serve HTTPS with this certificate and key (PEM)
  --tls-client-ca   also require a client certificate signed by this CA

Answers gzip-encoded when the client accepts it, as the API server does for
large lists. Stops on SIGTERM or SIGINT.
"""

import argparse
import gzip
import json
import os
import signal
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler

sys.dont_write_bytecode = True  # no __pycache__ next to the scripts
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import testlib  # noqa: E402


def status_body(code, reason, message):
    return json.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {},
                       "status": "Failure", "message": message,
                       "reason": reason, "code": code}).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-kube-apiserver/1"

    def log_message(self, fmt, *args):  # quiet: the request log says it all
        pass

    def expected_token(self):
        opts = self.server.opts
        if opts.token_file:
            with open(opts.token_file, encoding="utf-8") as f:
                return f.read().rstrip()
        return opts.token

    def reply(self, code, body, presented):
        accept_gzip = "gzip" in self.headers.get("Accept-Encoding", "")
        if accept_gzip:
            body = gzip.compress(body)
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        if accept_gzip:
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        log = self.server.opts.request_log
        if log:
            with open(log, "a", encoding="utf-8") as f:
                f.write("t=%.6f status=%d token=%s accept=%s gzip=%d path=%s\n" % (
                    self.arrival, code, presented or "-",
                    self.headers.get("Accept", "-").replace(" ", ""),
                    int(accept_gzip), self.path))

    def do_GET(self):
        self.arrival = time.time()
        opts = self.server.opts
        auth = self.headers.get("Authorization", "")
        presented = auth[len("Bearer "):] if auth.startswith("Bearer ") else None
        want = self.expected_token()
        if want is not None and presented != want:
            self.reply(401, status_body(401, "Unauthorized", "Unauthorized"),
                       presented)
            return
        url = urllib.parse.urlsplit(self.path)
        if url.path != "/api/v1/pods":
            self.reply(404, status_body(404, "NotFound",
                                        "the server could not find the requested resource"),
                       presented)
            return
        if opts.mode == "slow":
            time.sleep(opts.slow_seconds)
        if opts.mode == "500":
            self.reply(500, status_body(500, "InternalError",
                                        "Internal error occurred: etcdserver: request timed out"),
                       presented)
            return
        if opts.mode == "garbage":
            self.reply(200, b"<html><body>502 Bad Gateway</body></html>\n{\"kind\":",
                       presented)
            return
        node = None
        for sel in urllib.parse.parse_qs(url.query).get("fieldSelector", []):
            for term in sel.split(","):
                key, _, value = term.partition("=")
                if key == "spec.nodeName":
                    node = value
                else:
                    self.reply(400, status_body(400, "BadRequest",
                                                'field label not supported: ' + key),
                               presented)
                    return
        with open(opts.fixture, encoding="utf-8") as f:
            doc = json.load(f)
        if node is not None:
            doc["items"] = [p for p in doc.get("items") or []
                            if p.get("spec", {}).get("nodeName") == node]
        self.reply(200, json.dumps(doc).encode(), presented)


class Server(testlib.TLSServer):
    """The API server: HTTPS when tls is set; a failed handshake is a line
    of the request log."""

    def handshake_failed(self, reason):
        log = self.opts.request_log
        if log:
            with open(log, "a", encoding="utf-8") as f:
                f.write("tls_error=%s\n" % reason.replace(" ", "_"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fixture", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--ready-file")
    tok = ap.add_mutually_exclusive_group()
    tok.add_argument("--token")
    tok.add_argument("--token-file")
    ap.add_argument("--mode", choices=["ok", "garbage", "500", "slow"], default="ok")
    ap.add_argument("--slow-seconds", type=float, default=30.0)
    ap.add_argument("--request-log")
    testlib.add_tls_arguments(ap)
    opts = ap.parse_args()
    tls = testlib.tls_context(ap, opts)

    server = Server(("127.0.0.1", opts.port), Handler)
    server.opts = opts
    server.tls = tls
    # serve_forever must be stopped from another thread, and the signal
    # handler runs on this one: shut down from a helper thread.
    def stop(_sig, _frame):
        threading.Thread(target=server.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if opts.ready_file:
        testlib.write_ready(opts.ready_file, "%d\n" % server.server_address[1])
    server.serve_forever()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
