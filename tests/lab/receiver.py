#!/usr/bin/python3
"""receiver.py - a real SMTP receiver (aiosmtpd) for the integration lab.

Plays a remote MX: one process per lab mail host, listening on one or more
addresses (IPv4 or IPv6) on port 25.  Each accepted message is spooled
atomically as two files, written with a temporary name and renamed:

    <spool>/<stem>.eml    the message bytes exactly as received
    <spool>/<stem>.json   envelope and session facts (written last, so a
                          .json file always has its complete .eml):
        receiver, seq, received (epoch seconds), peer [addr, port], helo,
        mail_from, mail_options, rcpt_tos, rcpt_options, tls (null or
        {version, cipher, bits, sni}), sni, size, message_id, eml, data

and every session event is appended to <spool>/events.jsonl (connect,
greeting-reject, rcpt-reject, defer, message, tls-error) so tests can see
attempts that delivered nothing.

Behaviour switches (for the delivery cases the lab exercises):
    --starttls CERT KEY        offer STARTTLS with this certificate chain
    --sni NAME=CERT:KEY        another certificate, chosen when the client
                               sends SNI NAME (repeatable)
    --no-starttls              never offer STARTTLS (overrides the above)
    --require-starttls         refuse MAIL before STARTTLS (530)
    --tls-max 1.2|1.3          cap the TLS version offered
    --greeting-code 421        answer the greeting with this code and close
    --rcpt-reject ADDR=REPLY   e.g. 'bad@x.test=550 5.1.1' (repeatable)
    --defer-first N            the first N transactions get 451 4.3.0 at
                               end of DATA
Readiness: once every listener is bound, the pid is written to --pidfile
(atomically) and "receiver NAME ready" is printed.  SIGTERM stops it.
"""

import argparse
import asyncio
import email.parser
import email.policy
import itertools
import json
import logging
import os
import signal
import ssl
import sys
import time

from aiosmtpd.smtp import SMTP

DATA_LIMIT = 64 * 1024 * 1024


def write_atomic(path, data):
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def tls_version(v):
    return {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}[v]


def make_context(cert, key, tls_max=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.verify_mode = ssl.CERT_NONE
    if tls_max:
        ctx.maximum_version = tls_version(tls_max)
    return ctx


class Recorder:
    """Spool and event log of one receiver process."""

    def __init__(self, name, spool):
        self.name = name
        self.spool = spool
        os.makedirs(spool, exist_ok=True)
        self.events = open(os.path.join(spool, "events.jsonl"), "a", buffering=1)
        self.seq = itertools.count(1)
        self.pid = os.getpid()

    def event(self, kind, **kw):
        kw.update(event=kind, time=round(time.time(), 3), receiver=self.name)
        self.events.write(json.dumps(kw, sort_keys=True) + "\n")

    def store(self, meta, data):
        n = next(self.seq)
        stem = "%s-%06d-%d" % (self.name, n, self.pid)
        eml = os.path.join(self.spool, stem + ".eml")
        write_atomic(eml, data)
        meta.update(seq=n, eml=eml, receiver=self.name, size=len(data))
        meta["data"] = data.decode("utf-8", "replace")
        write_atomic(os.path.join(self.spool, stem + ".json"),
                     json.dumps(meta, indent=1, sort_keys=True).encode())
        return n


def tls_facts(session):
    if not session.ssl:
        return None
    obj = session.ssl.get("ssl_object")
    cipher = session.ssl.get("cipher") or (obj.cipher() if obj else None)
    return {
        "version": obj.version() if obj else None,
        "cipher": cipher[0] if cipher else None,
        "bits": cipher[2] if cipher else None,
        "sni": getattr(obj, "lab_sni", None) if obj else None,
    }


class Handler:
    def __init__(self, opts, rec):
        self.opts = opts
        self.rec = rec
        self.transactions = 0
        self.reject = {}
        for spec in opts.rcpt_reject:
            addr, _, reply = spec.partition("=")
            if not reply or not reply[:3].isdigit():
                raise SystemExit("--rcpt-reject wants ADDR=CODE [TEXT]: %r" % spec)
            self.reject[addr.lower()] = reply

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.reject.get(address.lower())
        if reply:
            parts = reply.split(None, 2)
            text = "%s <%s>: lab: recipient rejected" % (" ".join(parts[:2]), address)
            if len(parts) > 2:
                text = "%s %s" % (" ".join(parts[:2]), parts[2])
            self.rec.event("rcpt-reject", rcpt=address, reply=text,
                           peer=list(session.peer[:2]))
            return text
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        self.transactions += 1
        peer = list(session.peer[:2])
        if self.transactions <= self.opts.defer_first:
            self.rec.event("defer", transaction=self.transactions, peer=peer,
                           mail_from=envelope.mail_from, rcpt_tos=envelope.rcpt_tos)
            return "451 4.3.0 lab: deferred, try again later (transaction %d)" \
                % self.transactions
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        hdr = email.parser.BytesHeaderParser(policy=email.policy.compat32) \
            .parsebytes(data)
        tls = tls_facts(session)
        meta = {
            "received": round(time.time(), 3),
            "peer": peer,
            "helo": session.host_name,
            "mail_from": envelope.mail_from,
            "mail_options": envelope.mail_options,
            "rcpt_tos": envelope.rcpt_tos,
            "rcpt_options": envelope.rcpt_options,
            "tls": tls,
            "sni": tls["sni"] if tls else None,
            "message_id": (hdr.get("Message-ID") or "").strip() or None,
        }
        n = self.rec.store(meta, data)
        self.rec.event("message", seq=n, peer=peer, mail_from=envelope.mail_from,
                       rcpt_tos=envelope.rcpt_tos, tls=bool(tls))
        return "250 2.0.0 OK lab queued as %s-%d" % (self.rec.name, n)


class LabSMTP(SMTP):
    def connection_made(self, transport):
        first = self._original_transport is None
        super().connection_made(transport)
        if first:
            self.event_handler.rec.event(
                "connect", peer=list(self.session.peer[:2]))

    async def smtp_STARTTLS(self, arg):
        """--broken-tls: say yes to STARTTLS, then answer the client's
        ClientHello with a fatal handshake_failure alert and hang up."""
        if not self.event_handler.opts.broken_tls:
            return await super().smtp_STARTTLS(arg)
        await self.push("220 2.0.0 Ready to start TLS")
        self.event_handler.rec.event("broken-tls", peer=list(self.session.peer[:2]))
        await asyncio.sleep(0.2)
        # TLS record: alert, TLS 1.2, length 2, fatal(2) handshake_failure(40)
        self.transport.write(b"\x15\x03\x03\x00\x02\x02\x28")
        self.transport.close()


class GreetingReject(asyncio.Protocol):
    """Answers the greeting with a 4xx/5xx reply and closes."""

    def __init__(self, opts, rec):
        self.opts = opts
        self.rec = rec

    def connection_made(self, transport):
        peer = transport.get_extra_info("peername")
        self.rec.event("connect", peer=list(peer[:2]))
        code = self.opts.greeting_code
        text = self.opts.greeting_text or (
            "%s lab: service not available, closing channel"
            % ("4.3.2" if code.startswith("4") else "5.3.2"))
        transport.write(("%s %s %s\r\n" % (code, self.opts.hostname, text)).encode())
        self.rec.event("greeting-reject", peer=list(peer[:2]), code=code)
        transport.close()


def main():
    ap = argparse.ArgumentParser(description="lab SMTP receiver")
    ap.add_argument("--name", required=True, help="label used in spool records")
    ap.add_argument("--listen", action="append", required=True,
                    help="address to bind (repeatable; IPv6 allowed)")
    ap.add_argument("--port", type=int, default=25)
    ap.add_argument("--hostname", default=None, help="name in the greeting")
    ap.add_argument("--spool", required=True)
    ap.add_argument("--pidfile", required=True)
    ap.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--sni", action="append", default=[], metavar="NAME=CERT:KEY")
    ap.add_argument("--no-starttls", action="store_true")
    ap.add_argument("--require-starttls", action="store_true")
    ap.add_argument("--tls-max", choices=("1.2", "1.3"))
    ap.add_argument("--broken-tls", action="store_true",
                    help="offer STARTTLS, then fail every handshake")
    ap.add_argument("--greeting-code", default=None)
    ap.add_argument("--greeting-text", default=None)
    ap.add_argument("--rcpt-reject", action="append", default=[])
    ap.add_argument("--defer-first", type=int, default=0)
    ap.add_argument("--verbose", action="store_true")
    opts = ap.parse_args()
    opts.hostname = opts.hostname or opts.name
    if opts.greeting_code and not (len(opts.greeting_code) == 3
                                   and opts.greeting_code.isdigit()):
        raise SystemExit("--greeting-code wants three digits")

    logging.basicConfig(level=logging.INFO if opts.verbose else logging.ERROR,
                        stream=sys.stderr,
                        format="%(asctime)s receiver " + opts.name + ": %(message)s")
    rec = Recorder(opts.name, opts.spool)
    handler = Handler(opts, rec)

    tls_ctx = None
    if opts.starttls and not opts.no_starttls:
        tls_ctx = make_context(opts.starttls[0], opts.starttls[1], opts.tls_max)
        by_name = {}
        for spec in opts.sni:
            name, _, files = spec.partition("=")
            cert, _, key = files.partition(":")
            if not (name and cert and key):
                raise SystemExit("--sni wants NAME=CERT:KEY: %r" % spec)
            by_name[name.lower()] = make_context(cert, key, opts.tls_max)

        def sni_callback(obj, server_name, ctx):
            obj.lab_sni = server_name
            if server_name and server_name.lower() in by_name:
                obj.context = by_name[server_name.lower()]
            return None

        tls_ctx.sni_callback = sni_callback
        for c in by_name.values():
            c.sni_callback = sni_callback

    def factory():
        if opts.greeting_code:
            return GreetingReject(opts, rec)
        return LabSMTP(handler, hostname=opts.hostname, ident="sealpost-lab",
                       tls_context=tls_ctx,
                       require_starttls=opts.require_starttls,
                       data_size_limit=DATA_LIMIT, enable_SMTPUTF8=True,
                       decode_data=False, timeout=60)

    async def run():
        loop = asyncio.get_running_loop()
        stop = loop.create_future()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(1))

        def on_error(loop_, context):
            exc = context.get("exception")
            rec.event("error", message=str(context.get("message")),
                      exception=repr(exc) if exc else None)
            if opts.verbose:
                loop_.default_exception_handler(context)

        loop.set_exception_handler(on_error)
        servers = []
        for addr in opts.listen:
            servers.append(await loop.create_server(factory, addr, opts.port,
                                                    reuse_address=True))
        tmp = opts.pidfile + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % os.getpid())
        os.replace(tmp, opts.pidfile)
        print("receiver %s ready on %s port %d" % (opts.name, " ".join(opts.listen),
                                                  opts.port), flush=True)
        await stop
        for s in servers:
            s.close()

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
