#!/usr/bin/python3
"""rptserver.py - the lab's HTTPS TLS-RPT report endpoint (RFC 8460 5.2).

    rptserver.py --listen ADDR [--port 443] --spool DIR --pidfile FILE
                 --cert CERT KEY [--status N] [--fail-path PATH=N ...]

Accepts POST on any path and answers --status (default 200), or N for a
path given with --fail-path (e.g. /v1/busy=503: a receiver that is down).  Each
request (whatever the method) is saved in DIR as <n>.json, written
atomically: {seq, time, method, path, host, sni, headers {name: value},
status, body_b64, body_len}, so a test can check the media type, the
gzip body and how many reports came.  Prints "ready" and writes --pidfile
once listening.  Every handshake and request runs in its own thread.
"""

import argparse
import base64
import http.server
import itertools
import json
import os
import socketserver
import ssl
import sys
import threading
import time

LOCK = threading.Lock()
SEQ = itertools.count(1)
BODY_MAX = 16 * 1024 * 1024


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sealpost-lab-rpt"

    def log_message(self, fmt, *args):
        sys.stderr.write("rptserver: %s\n" % (fmt % args))

    def save(self, body, status):
        with LOCK:
            n = next(SEQ)
        rec = {"seq": n, "time": time.time(), "method": self.command,
               "path": self.path, "host": self.headers.get("Host"),
               "sni": getattr(self.connection, "lab_sni", None),
               "headers": {k: v for k, v in self.headers.items()},
               "status": status, "body_len": len(body),
               "body_b64": base64.b64encode(body).decode()}
        path = os.path.join(self.server.lab_spool, "%06d.json" % n)
        with open(path + ".tmp", "w") as f:
            json.dump(rec, f, indent=1, sort_keys=True)
        os.replace(path + ".tmp", path)

    def answer(self, status):
        body = b"thanks\n" if status < 300 else b"not now\n"
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:
            pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(n, BODY_MAX)) if n > 0 else b""
        status = self.server.lab_fail.get(self.path, self.server.lab_status)
        self.save(body, status)
        self.answer(status)

    def do_GET(self):
        self.save(b"", 405)
        self.answer(405)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True

    def finish_request(self, request, client_address):
        request.settimeout(10)
        try:
            conn = self.lab_ctx.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError) as e:
            sys.stderr.write("rptserver: handshake from %s: %s\n" % (client_address[0], e))
            return
        conn.settimeout(30)
        try:
            self.RequestHandlerClass(conn, client_address, self)
        finally:
            try:
                conn.close()
            except OSError:
                pass


def main():
    ap = argparse.ArgumentParser(description="lab TLS-RPT HTTPS endpoint")
    ap.add_argument("--listen", required=True)
    ap.add_argument("--port", type=int, default=443)
    ap.add_argument("--spool", required=True)
    ap.add_argument("--pidfile", required=True)
    ap.add_argument("--cert", nargs=2, required=True, metavar=("CERT", "KEY"))
    ap.add_argument("--status", type=int, default=200)
    ap.add_argument("--fail-path", action="append", default=[], metavar="PATH=N")
    a = ap.parse_args()
    os.makedirs(a.spool, exist_ok=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert[0], a.cert[1])

    def sni(sslsock, name, c):
        sslsock.lab_sni = name
    ctx.sni_callback = sni
    httpd = Server((a.listen, a.port), Handler)
    httpd.lab_ctx = ctx
    httpd.lab_spool = a.spool
    httpd.lab_status = a.status
    httpd.lab_fail = {p.split("=")[0]: int(p.split("=")[1]) for p in a.fail_path}
    tmp = a.pidfile + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % os.getpid())
    os.replace(tmp, a.pidfile)
    print("rptserver ready on %s:%d" % (a.listen, a.port), flush=True)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
