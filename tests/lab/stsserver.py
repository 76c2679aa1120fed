#!/usr/bin/python3
"""stsserver.py - the lab's HTTPS MTA-STS policy host (P4 integration cases).

    stsserver.py --listen ADDR [--port 443] --config JSON --log JSONL
                 --pidfile FILE --cert CERT KEY

One process serves every mta-sts.<domain> of the lab on ADDR:443; the lab
DNS points those names at ADDR.  What a host answers, and with which
certificate, comes from the JSON file --config, re-read whenever it
changes, so a test can switch a host from serving to failing mid-run:

    {"hosts": {"mta-sts.ok.sts.test": {"policy": "version: STSv1\\n..."},
               "mta-sts.f404.sts.test": {"status": 404},
               ...},
     "certs": {"rogue": ["chain.pem", "key.pem"]}}

Per host (all optional):
    policy    body text (default: an empty body)
    status    HTTP status (default 200)
    ctype     Content-Type (default text/plain)
    location  Location header (for 3xx)
    oversize  N: append N KiB of "pad:" lines (an unknown key, so only a
              size cap can refuse it)
    stall     seconds to sleep after reading the request, before answering
    cert      name in "certs": the certificate presented for this SNI name
              (default: --cert)

A request whose SNI differs from its Host header gets 421.  Every request
is appended to --log as one JSON line {time, host, sni, path, status},
so tests can count fetches per host (stall: logged when it arrives).
Handshakes and requests run in their own threads: a stalled host never
blocks the others.  Prints "ready" and writes --pidfile once listening.
"""

import argparse
import http.server
import json
import os
import socketserver
import ssl
import sys
import threading
import time

LOCK = threading.Lock()


class Config:
    def __init__(self, path, default_cert):
        self.path = path
        self.default_cert = default_cert
        self.mtime = None
        self.data = {"hosts": {}, "certs": {}}
        self.contexts = {}

    def get(self):
        with LOCK:
            try:
                st = os.stat(self.path)
                key = (st.st_mtime_ns, st.st_size)
                if key != self.mtime:
                    with open(self.path) as f:
                        self.data = json.load(f)
                    self.mtime = key
            except (OSError, ValueError) as e:
                sys.stderr.write("stsserver: config %s: %s\n" % (self.path, e))
            return self.data

    def pick(self, sslsock, name, ctx):
        """SNI callback: remember the name, present the host's certificate."""
        sslsock.lab_sni = name
        spec = self.host(name) or {}
        try:
            sslsock.context = self.context(spec.get("cert"))
        except (KeyError, OSError, ssl.SSLError) as e:
            sys.stderr.write("stsserver: certificate for %s: %s\n" % (name, e))
        return None

    def host(self, name):
        return self.get().get("hosts", {}).get((name or "").lower().rstrip("."))

    def context(self, certname):
        with LOCK:
            if certname in self.contexts:
                return self.contexts[certname]
        files = self.default_cert if certname is None else \
            self.get().get("certs", {})[certname]
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(files[0], files[1])
        ctx.sni_callback = self.pick
        with LOCK:
            self.contexts[certname] = ctx
        return ctx


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sealpost-lab-sts"

    def log_message(self, fmt, *args):
        sys.stderr.write("stsserver: %s\n" % (fmt % args))

    def record(self, host, status):
        entry = {"time": time.time(), "host": host,
                 "sni": getattr(self.connection, "lab_sni", None),
                 "path": self.path, "status": status}
        with LOCK:
            with open(self.server.lab_log, "a") as f:
                f.write(json.dumps(entry) + "\n")

    def reply(self, code, ctype, body, extra=None):
        self.send_response(code)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:
            pass

    def do_GET(self):
        host = (self.headers.get("Host") or "").split(":")[0].lower().rstrip(".")
        sni = (getattr(self.connection, "lab_sni", None) or "").lower()
        if sni != host:
            self.record(host, 421)
            self.reply(421, "text/plain", b"SNI %r != Host %r\n" %
                       (sni.encode(), host.encode()))
            return
        spec = self.server.lab_config.host(host)
        if spec is None or self.path != "/.well-known/mta-sts.txt":
            self.record(host, 404)
            self.reply(404, "text/plain", b"not here\n")
            return
        status = int(spec.get("status", 200))
        self.record(host, status)
        if spec.get("stall"):
            time.sleep(float(spec["stall"]))
        body = spec.get("policy", "").encode()
        if spec.get("oversize"):
            line = b"pad: " + b"x" * 1018 + b"\n"          # 1 KiB per line
            body += line * int(spec["oversize"])
        extra = {"Location": spec["location"]} if spec.get("location") else None
        self.reply(status, spec.get("ctype", "text/plain"), body, extra)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def finish_request(self, request, client_address):
        # runs in the request's own thread: TLS handshake here, not in the
        # accepting thread, so a slow client or host stalls nobody else
        base = self.lab_config.context(None)
        request.settimeout(10)
        try:
            conn = base.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError) as e:
            sys.stderr.write("stsserver: handshake from %s: %s\n" % (client_address[0], e))
            return
        conn.settimeout(60)
        try:
            self.RequestHandlerClass(conn, client_address, self)
        finally:
            try:
                conn.close()
            except OSError:
                pass


def main():
    ap = argparse.ArgumentParser(description="lab MTA-STS policy host")
    ap.add_argument("--listen", required=True)
    ap.add_argument("--port", type=int, default=443)
    ap.add_argument("--config", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--pidfile", required=True)
    ap.add_argument("--cert", nargs=2, required=True, metavar=("CERT", "KEY"))
    a = ap.parse_args()
    httpd = Server((a.listen, a.port), Handler)
    httpd.lab_config = Config(a.config, a.cert)
    httpd.lab_log = a.log
    httpd.lab_config.context(None)
    tmp = a.pidfile + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % os.getpid())
    os.replace(tmp, a.pidfile)
    print("stsserver ready on %s:%d" % (a.listen, a.port), flush=True)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
