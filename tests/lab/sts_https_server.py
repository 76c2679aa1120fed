#!/usr/bin/python3
"""sts_https_server.py - a tiny HTTPS MTA-STS policy host for the lab.

    sts_https_server.py PORT CERTDIR

Listens on 127.0.0.1:PORT only.  The certificate is chosen by SNI:
mta-sts.badca.test gets one from an untrusted CA, mta-sts.wrongname.test
one for another name, mta-sts.expired.test an expired one, everything
else CERTDIR/server.pem (all mta-sts.*.test names, from the lab CA).
A request whose SNI differs from its Host header gets 421, so a 200
proves the client sent SNI = mta-sts.DOMAIN.

What each policy host answers (by Host):
  mta-sts.ok.test        200 text/plain, a valid enforce policy
  mta-sts.charset.test   200 text/plain; charset=utf-8, valid, CRLF
  mta-sts.notfound.test  404
  mta-sts.redirect.test  301 to https://mta-sts.ok.test/...
  mta-sts.html.test      200 text/html (valid policy text)
  mta-sts.big.test       200 text/plain, 70 KiB (with Content-Length)
  mta-sts.stream.test    200 text/plain, 70 KiB, no Content-Length
  mta-sts.invalid.test   200 text/plain, not a policy
  mta-sts.slow.test      accepts, then sends nothing for 60 s
Prints "ready" on stdout once listening.
"""
import http.server
import socketserver
import ssl
import sys
import time

POLICY = (b"version: STSv1\nmode: enforce\nmx: mx.ok.test\n"
          b"mx: *.mx.ok.test\nmx: 192.0.2.1\nmax_age: 86400\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("sts-server: " + (fmt % args) + "\n")

    def reply(self, code, ctype, body, extra=None):
        self.send_response(code)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        host = (self.headers.get("Host") or "").split(":")[0].lower()
        sni = getattr(self.connection, "sts_sni", None)
        if sni != host:
            self.reply(421, "text/plain", b"SNI %r != Host %r\n" %
                       (sni, host))
            return
        if self.path != "/.well-known/mta-sts.txt":
            self.reply(404, "text/plain", b"no\n")
            return
        name = host[len("mta-sts."):] if host.startswith("mta-sts.") else ""
        if name in ("ok.test", "badca.test", "wrongname.test",
                    "expired.test"):
            self.reply(200, "text/plain", POLICY)
        elif name == "charset.test":
            self.reply(200, "text/plain; charset=utf-8",
                       POLICY.replace(b"\n", b"\r\n"))
        elif name == "notfound.test":
            self.reply(404, "text/plain", b"not here\n")
        elif name == "redirect.test":
            self.reply(301, "text/plain", b"",
                       {"Location": "https://mta-sts.ok.test/"
                        ".well-known/mta-sts.txt"})
        elif name == "html.test":
            self.reply(200, "text/html", POLICY)
        elif name == "big.test":
            self.reply(200, "text/plain",
                       POLICY + b"pad: " + b"x" * (70 * 1024) + b"\n")
        elif name == "stream.test":
            # no length announced: the client must count bytes itself
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            self.wfile.write(POLICY)
            for _ in range(70):
                self.wfile.write(b"pad: " + b"x" * 1019 + b"\n")
        elif name == "invalid.test":
            self.reply(200, "text/plain", b"<html>hello</html>\n")
        elif name == "slow.test":
            time.sleep(60)
        else:
            self.reply(404, "text/plain", b"unknown\n")


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def context(certdir, name):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(f"{certdir}/{name}.pem", f"{certdir}/{name}.key")
    return ctx


def main():
    port, certdir = int(sys.argv[1]), sys.argv[2]
    default = context(certdir, "server")
    special = {
        "mta-sts.badca.test": context(certdir, "badca"),
        "mta-sts.wrongname.test": context(certdir, "wrongname"),
        "mta-sts.expired.test": context(certdir, "expired"),
    }

    def pick(sslobj, name, ctx):
        sslobj.context = special.get(name, default)
        sslobj.sts_sni_name = name

    default.sni_callback = pick
    httpd = Server(("127.0.0.1", port), Handler)
    httpd.socket = default.wrap_socket(httpd.socket, server_side=True,
                                       do_handshake_on_connect=False)

    orig = httpd.get_request

    def get_request():
        conn, addr = orig()
        conn.settimeout(10)
        conn.do_handshake()
        conn.sts_sni = getattr(conn, "sts_sni_name", None)
        return conn, addr

    httpd.get_request = get_request
    print("ready", flush=True)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
