"""P2 SMTP listener cases: relay and submission roles, STARTTLS, AUTH,
relay control, limits, pipelining, DSN parameters, 8-bit/UTF-8, bare LF
and SMTP smuggling, durability of the 250 reply.

The listener's configuration follows docs/smtpd-contract.md.  Every case
calls setup(), which (re)writes the lab's sealpost.conf with three
listeners on 127.0.0.1 and restarts sealpostd when the configuration
changed:

    127.0.0.1:25   role relay        mynetworks = { "127.0.0.1/32" }
    127.0.0.1:587  role submission   STARTTLS (lab CA certificate for
    127.0.0.1:465  role smtps        relay.sender.test), SASL sasldb user

Clients connect from 127.0.0.1 (inside mynetworks) or, as an outsider,
from 127.0.0.5 (source address bound).  Accepted mail goes to the lab's
sink.test receiver; DSNs come back to the sender's mailbox (sender.test)
and are told apart by the original Message-ID they return.  Each message
has its own Message-ID and, where a case checks that nothing was queued,
its own envelope sender.

swaks drives the plain/STARTTLS/AUTH/relay cases; a small raw-socket
client (Client below) is used where swaks cannot say it: MAIL/RCPT
parameters (SIZE, DSN, SMTPUTF8), exact pipelining, bare LF and smuggling
shapes, and reading the 250 reply before killing the daemon.

SASL: the sasldb user is created as "lab" in realm relay.sender.test
(sealpost's myhostname).  Cases authenticate as "lab@relay.sender.test",
which libsasl2 finds whatever realm the server passes; a bare "lab" only
works when the server's user_realm (or serverFQDN) is that realm, so that
form is only probed and logged (case 3).
"""

import base64
import ctypes
import email
import email.policy
import email.utils
import json
import re
import socket
import ssl
import subprocess
import time
import uuid

import dsn
import lab
import topology as T

LISTEN = "127.0.0.1"
LISTEN6 = "::1"                     # a relay listener on [::1]:25 too
PORT_RELAY, PORT_SUBMISSION, PORT_SMTPS = 25, 587, 465
OUTSIDER = "127.0.0.5"              # not in mynetworks
MYNETWORKS = '{ "127.0.0.1/32" }'
SIZE_LIMIT = 100 * 1024             # message_size_limit = 100k
RCPT_LIMIT = 3
CLIENT_CONN_LIMIT = 10
SASL_USER, SASL_PASSWORD = "lab", "p2-Secret.pw"
SASL_REALM = T.RELAY_HOSTNAME
AUTH_ID = "%s@%s" % (SASL_USER, SASL_REALM)
SINK = "sink"                       # receiver of sink.test
DELIVERY_TIMEOUT = 30.0
NOT_QUEUED_WAIT = 2.0               # how long "nothing arrives" is watched
NO_BOUNCE_WAIT = 4.0
LISTEN_TIMEOUT = 10.0
EHLO_NAME = "client.p2.test"

_state = {}                         # rundir -> {"conf": key, "failed": key, ...}


def expect(cond, msg):
    if not cond:
        raise AssertionError(msg)


def uid():
    return uuid.uuid4().hex[:12]


# ------------------------------------------------------------------ setup


def _listening(port, host=LISTEN):
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def setup(L, bare_lf="reject", **extra):
    """sealpost.conf with the P2 listeners (extra: more settings, key ->
    value text); restarts sealpostd when the configuration changed."""
    st = _state.setdefault(L.rundir, {})
    if "sasl" not in st:
        st["sasl"] = L.sasl_dir({SASL_USER: SASL_PASSWORD}, realm=SASL_REALM)
        st["cert"] = L.smtpd_cert()
        _sasl_selfcheck(st["sasl"])
    key = ("bare_lf", bare_lf) + tuple(sorted(extra.items()))
    if st.get("failed") == key:
        raise lab.LabError("the listener did not come up with this configuration "
                           "in an earlier case (see there)")
    if st.get("conf") == key and L.daemon is not None and L.daemon.alive():
        if all(_listening(p) for p in (PORT_RELAY, PORT_SUBMISSION, PORT_SMTPS)) \
                and _listening(PORT_RELAY, LISTEN6):
            return
    chain, tlskey = st["cert"]

    def q(s):
        return '"%s"' % s

    settings = {
        "mynetworks": MYNETWORKS,
        "smtpd_tls_cert_file": q(chain),
        "smtpd_tls_key_file": q(tlskey),
        "smtpd_sasl_path": q(st["sasl"]),
        "message_size_limit": "100k",
        "smtpd_recipient_limit": str(RCPT_LIMIT),
        "smtpd_client_connection_limit": str(CLIENT_CONN_LIMIT),
        "smtpd_bare_lf": bare_lf,
    }
    settings.update(extra)
    extra = L.listen_sections([
        ("relay", "%s:%d" % (LISTEN, PORT_RELAY), "relay"),
        ("submission", "%s:%d" % (LISTEN, PORT_SUBMISSION), "submission"),
        ("smtps", "%s:%d" % (LISTEN, PORT_SMTPS), "smtps"),
        ("relay6", "[%s]:%d" % (LISTEN6, PORT_RELAY), "relay"),
    ])
    st["conf"] = None
    st["failed"] = key
    L.write_config(settings=settings, extra=extra)
    if L.daemon is not None and L.daemon.alive():
        rc = L.stop_daemon()
        expect(rc == 0, "sealpostd exited with status %s on SIGTERM" % rc)
    L.start_daemon()
    wait_listeners(L)
    st["conf"] = key
    st["failed"] = None


def wait_listeners(L):
    for host, port in ((LISTEN, PORT_RELAY), (LISTEN, PORT_SUBMISSION),
                       (LISTEN, PORT_SMTPS), (LISTEN6, PORT_RELAY)):
        deadline = time.monotonic() + LISTEN_TIMEOUT
        while not _listening(port, host):
            L.check_daemon()
            if time.monotonic() >= deadline:
                raise lab.LabError("nothing listens on [%s]:%d %.0fs after sealpostd "
                                   "started\n--- sealpostd log tail:\n%s"
                                   % (host, port, LISTEN_TIMEOUT, L.daemon_log_tail()))
            time.sleep(0.05)


_sasl_keep = []


def _sasl_selfcheck(sasl_dir):
    """Prove the lab's SASL directory works with libsasl2 itself (no
    sealpost code): PLAIN as user@realm with the right password is OK, a
    wrong one is SASL_BADAUTH.  A failure here is a lab problem."""
    libsasl = ctypes.CDLL("libsasl2.so.2")
    getconfpath = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p,
                                   ctypes.POINTER(ctypes.c_char_p))

    class Callback(ctypes.Structure):
        _fields_ = [("id", ctypes.c_ulong), ("proc", ctypes.c_void_p),
                    ("context", ctypes.c_void_p)]

    path = ctypes.c_char_p(sasl_dir.encode())

    def cb(ctx, out):
        out[0] = path.value
        return 0

    fn = getconfpath(cb)
    cbs = (Callback * 2)(Callback(5, ctypes.cast(fn, ctypes.c_void_p), None),  # GETCONFPATH
                         Callback(0, None, None))
    _sasl_keep.extend([fn, cbs, path])
    rc = libsasl.sasl_server_init(cbs, b"smtpd")
    if rc != 0:
        raise lab.LabError("lab: sasl_server_init: %d" % rc)
    for user, pw, want in ((AUTH_ID, SASL_PASSWORD, 0), (AUTH_ID, "wrong", -13)):
        conn = ctypes.c_void_p()
        rc = libsasl.sasl_server_new(b"smtp", b"some.other.host", None, None, None,
                                     None, 0, ctypes.byref(conn))
        if rc != 0:
            raise lab.LabError("lab: sasl_server_new: %d" % rc)
        out, outlen = ctypes.c_char_p(), ctypes.c_uint()
        cin = b"\0" + user.encode() + b"\0" + pw.encode()
        rc = libsasl.sasl_server_start(conn, b"PLAIN", cin, len(cin),
                                       ctypes.byref(out), ctypes.byref(outlen))
        libsasl.sasl_dispose(ctypes.byref(conn))
        if rc != want:
            raise lab.LabError("lab: libsasl2 PLAIN %s/%s gave %d, want %d (SASL "
                               "directory %s is wrong)" % (user, pw, rc, want, sasl_dir))


# ------------------------------------------------------------ SMTP client


class Reply:
    def __init__(self, lines):
        self.lines = lines
        self.code = int(lines[-1][:3])
        self.text = "\n".join(x[4:] for x in lines)
        m = re.match(r"([245])\.(\d{1,3})\.(\d{1,3})\b", lines[-1][4:])
        self.enhanced = m.group(0) if m else None
        m = re.match(r"([245])\.(\d{1,3})\.(\d{1,3})\b", lines[0][4:])
        self.enhanced = self.enhanced or (m.group(0) if m else None)

    def __repr__(self):
        return " | ".join(self.lines)


class Closed(lab.LabError):
    pass


def tls_context(L):
    ctx = ssl.create_default_context(cafile=L.path("pki", "ca-bundle.pem"))
    ctx.check_hostname = True
    return ctx


class Client:
    """A raw SMTP client: every byte on the wire is ours."""

    def __init__(self, L, port=PORT_RELAY, source=None, implicit_tls=False,
                 timeout=10.0, host=LISTEN):
        self.L = L
        self.log = []
        self.buf = b""
        self.tls = None
        self.ext = {}
        self.sock = socket.create_connection(
            (host, port), timeout=timeout,
            source_address=(source, 0) if source else None)
        if implicit_tls:
            self._wrap()
        self.greeting = self.reply()

    def transcript(self):
        return "\n".join(self.log[-40:])

    def _wrap(self):
        self.sock = tls_context(self.L).wrap_socket(self.sock,
                                                    server_hostname=T.RELAY_HOSTNAME)
        self.tls = self.sock.version()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.log.append("C: %r" % (data if len(data) < 300 else
                                   data[:150] + b"..." + data[-100:]))
        self.sock.sendall(data)

    def _line(self):
        while b"\n" not in self.buf:
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                raise lab.LabError("no reply within %.0fs\n%s"
                                   % (self.sock.gettimeout(), self.transcript()))
            except (ConnectionResetError, ssl.SSLError) as e:
                raise Closed("connection lost (%s)\n%s" % (e, self.transcript()))
            if not chunk:
                raise Closed("server closed the connection\n%s" % self.transcript())
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        line = line.rstrip(b"\r").decode("utf-8", "replace")
        self.log.append("S: %s" % line)
        return line

    def reply(self):
        lines = []
        while True:
            line = self._line()
            if len(line) < 3 or not line[:3].isdigit() or \
                    (len(line) > 3 and line[3] not in " -"):
                raise lab.LabError("malformed reply line %r\n%s" % (line, self.transcript()))
            lines.append(line)
            if len(line) == 3 or line[3] == " ":
                return Reply(lines)

    def replies(self, n):
        return [self.reply() for _ in range(n)]

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def ehlo(self, name=EHLO_NAME):
        r = self.cmd("EHLO " + name)
        expect(r.code == 250, "EHLO: %r" % r)
        self.ext = {}
        for line in r.lines[1:]:
            words = line[4:].split()
            if words:
                self.ext[words[0].upper()] = words[1:]
        return r

    def starttls(self):
        r = self.cmd("STARTTLS")
        expect(r.code == 220, "STARTTLS: %r" % r)
        expect(self.buf == b"", "bytes after the STARTTLS reply: %r" % self.buf)
        self._wrap()
        return self.ehlo()

    def auth_plain(self, user=AUTH_ID, password=SASL_PASSWORD):
        tok = base64.b64encode(("\0%s\0%s" % (user, password)).encode()).decode()
        return self.cmd("AUTH PLAIN " + tok)

    def data(self, msg):
        """DATA, then msg (dot-stuffed) and the end; the final reply (or the
        reply to DATA when it is not 354)."""
        r = self.cmd("DATA")
        if r.code != 354:
            return r
        self.send(dotstuff(msg) + b".\r\n")
        return self.reply()

    def quit(self):
        try:
            self.send("QUIT\r\n")
            self.reply()
        except (OSError, lab.LabError):
            pass
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()
        return False


def dotstuff(msg):
    if not msg.endswith(b"\r\n"):
        msg += b"\r\n"
    return re.sub(rb"(?m)^\.", b"..", msg)


def send_one(c, sender, rcpts, msg, mail_params="", rcpt_params=None):
    """One transaction; returns (mail_reply, [rcpt_replies], data_reply or None)."""
    rm = c.cmd("MAIL FROM:<%s>%s" % (sender, (" " + mail_params) if mail_params else ""))
    if rm.code != 250:
        return rm, [], None
    rr = []
    for i, r in enumerate(rcpts):
        p = (rcpt_params or {}).get(r) if isinstance(rcpt_params, dict) else rcpt_params
        rr.append(c.cmd("RCPT TO:<%s>%s" % (r, (" " + p) if p else "")))
    if not any(x.code == 250 for x in rr):
        return rm, rr, None
    return rm, rr, c.data(msg)


# ------------------------------------------------------------------ swaks


def swaks(L, msg, to, sender=T.SENDER, port=PORT_RELAY, source=None, tls=False,
          auth=None, timeout=30):
    """Run swaks against the listener; returns (exit status, output, [Reply])."""
    path = L.path("swaks-%s.eml" % uid())
    with open(path, "wb") as f:
        f.write(msg)
    argv = ["swaks", "--server", LISTEN, "--port", str(port), "--ehlo", EHLO_NAME,
            "--from", sender, "--to", ",".join(to) if isinstance(to, list) else to,
            "--data", "@" + path, "--timeout", "10"]
    if source:
        argv += ["--local-interface", source]
    if tls:
        argv += ["--tls", "--tls-verify", "--tls-ca-path",
                 L.path("pki", "ca-bundle.pem"), "--tls-sni", T.RELAY_HOSTNAME]
    if auth:
        argv += ["--auth", auth[0], "--auth-user", auth[1], "--auth-password", auth[2]]
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise lab.LabError("swaks did not finish in %ds; its output:\n%s"
                           % (timeout, (e.output or b"").decode("utf-8", "replace")[-3000:]))
    out = r.stdout.decode("utf-8", "replace")
    replies, cur = [], []
    for line in out.splitlines():
        m = re.match(r"^<\S*\s+(\d{3}[ -].*|\d{3})$", line)
        if not m:
            continue
        cur.append(m.group(1))
        if len(m.group(1)) == 3 or m.group(1)[3] == " ":
            replies.append(Reply(cur))
            cur = []
    return r.returncode, out, replies


def swaks_reply(out, replies, code):
    """The first reply with this code, or fail showing the transcript."""
    for r in replies:
        if r.code == code:
            return r
    raise AssertionError("swaks: no %d reply; transcript:\n%s" % (code, out[-3000:]))


# ----------------------------------------------------------- observation


def sink(L):
    return L.receiver(SINK)


def eml_bytes(rec):
    with open(rec["eml"], "rb") as f:
        return f.read()


def header_block(data):
    return data.split(b"\r\n\r\n", 1)[0]


def top_received(rec):
    """sealpost's Received header: the first field of the delivered message."""
    data = eml_bytes(rec)
    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    items = msg.items()
    expect(items and items[0][0].lower() == "received",
           "the delivered message does not start with a Received field:\n%s"
           % header_block(data).decode("utf-8", "replace")[:1500])
    return re.sub(r"\s+", " ", items[0][1]).strip()


def with_protocol(received):
    """The protocol of the "with" clause (RFC 5321 4.4, RFC 3848), looked
    for outside comments ("(using TLSv1.3 with cipher ...)")."""
    out, depth = [], 0
    for ch in received:
        if ch == "(":
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
        elif not depth:
            out.append(ch)
    m = re.search(r"\bwith\s+([A-Za-z0-9-]+)", "".join(out))
    return m.group(1).upper() if m else ""


def check_received(rec, client_addr, protocol):
    rcv = top_received(rec)
    expect(("by %s" % T.RELAY_HOSTNAME) in rcv,
           "Received lacks 'by %s': %s" % (T.RELAY_HOSTNAME, rcv))
    expect("[%s]" % client_addr in rcv, "Received lacks the client [%s]: %s"
           % (client_addr, rcv))
    got = with_protocol(rcv)
    expect(got in protocol if isinstance(protocol, tuple) else got == protocol,
           "Received 'with %s', want %s: %s" % (got, protocol, rcv))
    return rcv


def queue_list(L):
    r = subprocess.run([L.bin("mta/sealpost"), "-c", L.conf, "queue", "list", "--json"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    if r.returncode != 0:
        raise lab.LabError("sealpost queue list --json exited %d: %s"
                           % (r.returncode, r.stderr.decode("utf-8", "replace")))
    return json.loads(r.stdout.decode() or "[]")


def expect_not_queued(L, sender, mids, wait=NOT_QUEUED_WAIT):
    """Nothing from this (unique) envelope sender was queued: not in the
    queue, not logged as entering it, nothing with these Message-IDs
    delivered or bounced within wait seconds."""
    time.sleep(wait)
    L.check_daemon()
    q = [m for m in queue_list(L) if (m.get("sender") or "").lower() == sender.lower()]
    expect(not q, "queued although refused: %s" % q)
    logged = re.findall(r"(?m)^.*\b[0-9A-V]{16}: .*from=<%s>.*$" % re.escape(sender),
                        L.daemon_log())
    expect(not logged, "sealpostd logged a queue entry from <%s>:\n%s"
           % (sender, "\n".join(logged[:5])))
    for m in sink(L).messages():
        expect(m["message_id"] not in mids,
               "sink.test got %s (refused mail was queued)" % m["message_id"])
    for m in L.receiver("sender").messages():
        for mid in mids:
            expect(mid not in m["data"], "a DSN returning %s arrived (refused mail "
                   "was queued)" % mid)


def delivered(L, mid, timeout=DELIVERY_TIMEOUT, receiver=SINK):
    return L.receiver(receiver).wait_message_id(mid, timeout)


def all_with_mid(L, mid, receiver=SINK):
    return [m for m in L.receiver(receiver).messages() if m["message_id"] == mid]


# ------------------------------------------------------------------ cases


def test_01_relay_plain_submission(L):
    """(1) relay role, client in mynetworks, no TLS: 250 queued as ID,
    delivered with a Received field naming the client; EHLO keywords"""
    setup(L)
    with Client(L) as c:
        expect(c.greeting.code == 220, "greeting %r" % c.greeting)
        c.ehlo()
        want = ("PIPELINING", "SIZE", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES",
                "DSN", "STARTTLS")
        missing = [k for k in want if k not in c.ext]
        expect(not missing, "EHLO lacks %s: %s" % (missing, sorted(c.ext)))
        c.quit()
    rcpt = "p2-plain@sink.test"
    msg = L.message(rcpt, subject="p2 plain %s" % uid(),
                    body="plain relay submission\n.leading dot line\n")
    mid = L.message_id(msg)
    rc, out, replies = swaks(L, msg, rcpt)
    expect(rc == 0, "swaks exited %d:\n%s" % (rc, out[-3000:]))
    codes = [r.code for r in replies]
    final = replies[codes.index(354) + 1] if 354 in codes[:-1] else None
    expect(final is not None and final.code == 250, "end of DATA: %r" % final)
    m = re.search(r"queued as\s+<?([0-9A-Za-z]+)>?", final.text)
    expect(m, "250 reply does not say 'queued as ID': %r" % final)
    qid = m.group(1)
    rec = delivered(L, mid)
    expect([r.lower() for r in rec["rcpt_tos"]] == [rcpt], "RCPT %r" % rec["rcpt_tos"])
    expect(rec["mail_from"] == T.SENDER, "MAIL FROM %r" % rec["mail_from"])
    body = eml_bytes(rec).split(b"\r\n\r\n", 1)[1]
    # swaks may add an empty line at the end
    expect(body.rstrip(b"\r\n") == msg.split(b"\r\n\r\n", 1)[1].rstrip(b"\r\n"),
           "body changed in transit: %r" % body[:300])
    rcv = check_received(rec, LISTEN, "ESMTP")
    expect(EHLO_NAME in rcv, "Received lacks the EHLO name: %s" % rcv)
    lab.wait_until(lambda: qid in L.daemon_log(), 5,
                   what="queue ID %s from the 250 reply in the daemon log" % qid)
    lab.log("01: %s; %s" % (final, rcv))


def test_02_relay_starttls(L):
    """(2) relay role with STARTTLS (lab CA certificate for myhostname):
    advertised, verified, delivered; Received records TLS"""
    setup(L)
    with Client(L) as c:
        c.ehlo()
        expect("STARTTLS" in c.ext, "STARTTLS not advertised: %s" % sorted(c.ext))
        c.starttls()      # verifies chain and name relay.sender.test
        expect(c.tls in ("TLSv1.2", "TLSv1.3"), "TLS version %s" % c.tls)
        expect("STARTTLS" not in c.ext, "STARTTLS advertised again inside TLS")
        r = c.cmd("STARTTLS")
        expect(r.code == 503, "STARTTLS inside TLS: %r, want 503" % r)
        c.quit()
    # RFC 3207 4.2: the server forgets the EHLO given before TLS
    with Client(L) as c:
        c.ehlo()
        r = c.cmd("STARTTLS")
        expect(r.code == 220, "STARTTLS: %r" % r)
        c._wrap()
        r = c.cmd("MAIL FROM:<%s>" % T.SENDER)
        expect(r.code == 503, "MAIL right after the TLS handshake, no new EHLO: "
               "%r, want 503" % r)
        c.quit()
    # commands pipelined after STARTTLS (plaintext injection, CVE-2011-0411
    # class) must be discarded or refused, never answered inside TLS
    with Client(L) as c:
        c.ehlo()
        c.send("STARTTLS\r\nNOOP\r\n")
        r = c.reply()
        expect(r.code == 220, "pipelined STARTTLS: %r" % r)
        expect(c.buf == b"", "plaintext after the STARTTLS 220: %r" % c.buf)
        try:
            c._wrap()
            r = c.cmd("EHLO " + EHLO_NAME)
        except (OSError, Closed) as e:
            r = None       # refusing the session is fine too
            lab.log("02: injected NOOP: server closed (%s)" % e)
        if r is not None:
            expect(len(r.lines) > 1 and r.code == 250,
                   "the first reply inside TLS is not the EHLO reply but %r: the "
                   "plaintext NOOP sent with STARTTLS was executed inside TLS" % r)
    rcpt = "p2-tls@sink.test"
    msg = L.message(rcpt, subject="p2 starttls %s" % uid())
    mid = L.message_id(msg)
    rc, out, replies = swaks(L, msg, rcpt, tls=True)
    expect(rc == 0, "swaks --tls exited %d:\n%s" % (rc, out[-3000:]))
    expect("TLS started" in out, "swaks did not start TLS:\n%s" % out[-2000:])
    rec = delivered(L, mid)
    rcv = top_received(rec)
    expect(with_protocol(rcv) in ("ESMTPS", "ESMTPSA") or "TLS" in rcv.upper(),
           "Received does not record TLS: %s" % rcv)
    lab.log("02: %s" % rcv)


def test_03_submission_auth(L):
    """(3) submission role: AUTH PLAIN after STARTTLS -> 235, delivered,
    ESMTPSA; wrong password 535 5.7.8; no AUTH before STARTTLS; MAIL
    without AUTH 530 5.7.0"""
    setup(L)
    # MAIL without AUTH (after STARTTLS, from inside mynetworks): 530 5.7.0
    with Client(L, PORT_SUBMISSION) as c:
        c.ehlo()
        # AUTH before STARTTLS: refused, never a 334 challenge or 235
        advertised = c.ext.get("AUTH", [])
        tok = base64.b64encode(("\0%s\0%s" % (AUTH_ID, SASL_PASSWORD)).encode()).decode()
        for mech, line in (("PLAIN", "AUTH PLAIN " + tok), ("LOGIN", "AUTH LOGIN")):
            r = c.cmd(line)
            expect(r.code not in (235, 334),
                   "AUTH %s before STARTTLS answered %r (EHLO AUTH %s)"
                   % (mech, r, advertised))
            expect(r.code >= 500, "AUTH %s before STARTTLS: %r" % (mech, r))
            if mech in [a.upper() for a in advertised] or r.code == 538:
                expect(r.code == 538 and r.enhanced == "5.7.11",
                       "AUTH %s before STARTTLS (advertised: %s): %r, want 538 5.7.11"
                       % (mech, advertised, r))
        c.starttls()
        expect("AUTH" in c.ext, "AUTH not advertised after STARTTLS: %s" % sorted(c.ext))
        mechs = [a.upper() for a in c.ext["AUTH"]]
        expect("PLAIN" in mechs and "LOGIN" in mechs, "AUTH mechanisms %s" % mechs)
        r = c.cmd("MAIL FROM:<%s>" % T.SENDER)
        expect(r.code == 530 and r.enhanced == "5.7.0",
               "MAIL without AUTH on submission: %r, want 530 5.7.0" % r)
        # AUTH LOGIN works too, and a bare user name is probed (logged only)
        r = c.cmd("AUTH LOGIN")
        expect(r.code == 334, "AUTH LOGIN: %r" % r)
        r = c.cmd(base64.b64encode(SASL_USER.encode()).decode())
        expect(r.code == 334, "AUTH LOGIN user: %r" % r)
        r = c.cmd(base64.b64encode(SASL_PASSWORD.encode()).decode())
        lab.log("03: AUTH LOGIN with bare user %r: %r" % (SASL_USER, r))
        c.quit()
    with Client(L, PORT_SUBMISSION) as c:
        c.ehlo()
        c.starttls()
        r = c.cmd("AUTH LOGIN")
        expect(r.code == 334, "AUTH LOGIN: %r" % r)
        c.cmd(base64.b64encode(AUTH_ID.encode()).decode())
        r = c.cmd(base64.b64encode(SASL_PASSWORD.encode()).decode())
        expect(r.code == 235, "AUTH LOGIN as %s: %r" % (AUTH_ID, r))
        r = c.auth_plain()
        expect(r.code == 503, "a second AUTH after success: %r, want 503" % r)
        c.quit()
    # wrong password: 535 5.7.8
    rcpt = "p2-auth@sink.test"
    bad = L.message(rcpt, subject="p2 auth wrong %s" % uid())
    rc, out, replies = swaks(L, bad, rcpt, port=PORT_SUBMISSION, tls=True,
                             auth=("PLAIN", AUTH_ID, "not-the-password"))
    expect(rc != 0, "swaks with a wrong password succeeded:\n%s" % out[-2000:])
    r = swaks_reply(out, replies, 535)
    expect(r.enhanced == "5.7.8", "wrong password: %r, want 535 5.7.8" % r)
    # right password: 235, delivered, ESMTPSA
    msg = L.message(rcpt, subject="p2 auth %s" % uid())
    mid = L.message_id(msg)
    rc, out, replies = swaks(L, msg, rcpt, port=PORT_SUBMISSION, tls=True,
                             auth=("PLAIN", AUTH_ID, SASL_PASSWORD))
    expect(rc == 0, "swaks AUTH PLAIN exited %d:\n%s" % (rc, out[-3000:]))
    swaks_reply(out, replies, 235)
    rec = delivered(L, mid)
    check_received(rec, LISTEN, "ESMTPSA")
    expect(L.message_id(bad) not in [m["message_id"] for m in sink(L).messages()],
           "the message sent with a wrong password was delivered")


def test_04_relay_denied_outsider(L):
    """(4) a client outside mynetworks: RCPT to another domain 554 5.7.1
    on the relay port, nothing queued; after AUTH on submission it relays"""
    setup(L)
    sender = "p2-outsider-%s@sender.test" % uid()
    rcpt = "p2-outsider@sink.test"
    msg = L.message(rcpt, sender=sender, subject="p2 outsider denied")
    mid = L.message_id(msg)
    rc, out, replies = swaks(L, msg, rcpt, sender=sender, source=OUTSIDER)
    expect(rc != 0, "swaks from %s relayed:\n%s" % (OUTSIDER, out[-3000:]))
    r = swaks_reply(out, replies, 554)
    expect(r.enhanced == "5.7.1", "relay denied: %r, want 554 5.7.1" % r)
    lines = out.splitlines()
    at = next(i for i, x in enumerate(lines) if r.lines[0] in x)
    sent = [x for x in lines[:at] if re.match(r"^\s*[-~]>", x)]
    expect(sent and "RCPT TO" in sent[-1], "554 was not the answer to RCPT:\n%s"
           % out[-2000:])
    # the same at the raw level: MAIL is fine, RCPT refused, DATA gets nothing
    with Client(L, PORT_RELAY, source=OUTSIDER) as c:
        c.ehlo()
        r = c.cmd("MAIL FROM:<%s>" % sender)
        expect(r.code == 250, "MAIL from an outsider: %r" % r)
        for to in (rcpt, "someone@example.test", "postmaster@sink.test"):
            r = c.cmd("RCPT TO:<%s>" % to)
            expect(r.code == 554 and r.enhanced == "5.7.1",
                   "RCPT %s from outsider: %r, want 554 5.7.1" % (to, r))
        r = c.cmd("DATA")
        expect(r.code >= 500 and r.code != 354, "DATA without recipients: %r" % r)
        c.quit()
    with Client(L, PORT_SUBMISSION, source=OUTSIDER) as c:
        c.ehlo()
        c.starttls()
        r = c.cmd("MAIL FROM:<%s>" % sender)
        expect(r.code == 530 and r.enhanced == "5.7.0",
               "outsider on submission without AUTH: %r, want 530 5.7.0" % r)
        c.quit()
    expect_not_queued(L, sender, [mid])
    # authenticated on the relay port (role relay: mynetworks or AUTH)
    msg = L.message(rcpt, sender=sender, subject="p2 outsider auth relay port")
    mid25 = L.message_id(msg)
    with Client(L, PORT_RELAY, source=OUTSIDER) as c:
        c.ehlo()
        c.starttls()
        r = c.auth_plain()
        expect(r.code == 235, "AUTH on the relay port: %r" % r)
        rm, rr, rd = send_one(c, sender, [rcpt], msg)
        expect(rd is not None and rd.code == 250,
               "authenticated outsider on the relay port: %s %s %s" % (rm, rr, rd))
        c.quit()
    check_received(delivered(L, mid25), OUTSIDER, "ESMTPSA")
    # after AUTH on the submission port the outsider may relay
    msg = L.message(rcpt, sender=sender, subject="p2 outsider authenticated")
    mid = L.message_id(msg)
    rc, out, replies = swaks(L, msg, rcpt, sender=sender, port=PORT_SUBMISSION,
                             source=OUTSIDER, tls=True,
                             auth=("PLAIN", AUTH_ID, SASL_PASSWORD))
    expect(rc == 0, "authenticated outsider: swaks exited %d:\n%s" % (rc, out[-3000:]))
    rec = delivered(L, mid)
    check_received(rec, OUTSIDER, "ESMTPSA")


def test_05_size_limit(L):
    """(5) message_size_limit 100k: SIZE= above it 552 5.3.4 at MAIL; an
    oversized message without SIZE= 552 after DATA; nothing queued"""
    setup(L)
    sender = "p2-size-%s@sender.test" % uid()
    rcpt = "p2-size@sink.test"
    big = L.message(rcpt, sender=sender, subject="p2 oversize",
                    body=("%s\n" % ("x" * 76)) * (2 * SIZE_LIMIT // 77 + 10))
    expect(len(big) > 2 * SIZE_LIMIT, "test message too small")
    with Client(L) as c:
        c.ehlo()
        expect(c.ext.get("SIZE") == [str(SIZE_LIMIT)],
               "EHLO SIZE %s, want %d" % (c.ext.get("SIZE"), SIZE_LIMIT))
        r = c.cmd("MAIL FROM:<%s> SIZE=%d" % (sender, SIZE_LIMIT + 1))
        expect(r.code == 552 and r.enhanced == "5.3.4",
               "MAIL SIZE=%d: %r, want 552 5.3.4" % (SIZE_LIMIT + 1, r))
        r = c.cmd("RCPT TO:<%s>" % rcpt)
        expect(r.code == 503, "RCPT after a refused MAIL: %r, want 503" % r)
        r = c.cmd("MAIL FROM:<%s> SIZE=%d" % (sender, len(big) * 3))
        expect(r.code == 552, "MAIL SIZE=%d: %r" % (len(big) * 3, r))
        # no SIZE= announced: the data itself is too big
        r = c.cmd("MAIL FROM:<%s>" % sender)
        expect(r.code == 250, "MAIL without SIZE: %r" % r)
        r = c.cmd("RCPT TO:<%s>" % rcpt)
        expect(r.code == 250, "RCPT: %r" % r)
        r = c.cmd("DATA")
        expect(r.code == 354, "DATA: %r" % r)
        try:
            c.send(dotstuff(big) + b".\r\n")
        except OSError as e:
            lab.log("05: sending the oversized data: %s" % e)
        r = c.reply()
        expect(r.code == 552 and r.enhanced in ("5.3.4", "5.2.3"),
               "oversized DATA: %r, want 552 5.3.4" % r)
        # the session goes on
        r = c.cmd("RSET")
        expect(r.code == 250, "RSET after 552: %r" % r)
        c.quit()
    expect_not_queued(L, sender, [L.message_id(big)])


def test_06_recipient_limit(L):
    """(6) smtpd_recipient_limit 3: the 4th RCPT 452 4.5.3; the first
    three get the message, the 4th does not"""
    setup(L)
    rcpts = ["p2-limit%d@sink.test" % i for i in range(1, RCPT_LIMIT + 2)]
    msg = L.message(rcpts[:RCPT_LIMIT], subject="p2 rcpt limit %s" % uid())
    mid = L.message_id(msg)
    with Client(L) as c:
        c.ehlo()
        rm, rr, rd = send_one(c, T.SENDER, rcpts, msg)
        expect(rm.code == 250, "MAIL: %r" % rm)
        for to, r in zip(rcpts[:RCPT_LIMIT], rr):
            expect(r.code == 250, "RCPT %s: %r" % (to, r))
        expect(rr[RCPT_LIMIT].code == 452 and rr[RCPT_LIMIT].enhanced == "4.5.3",
               "RCPT #%d: %r, want 452 4.5.3" % (RCPT_LIMIT + 1, rr[RCPT_LIMIT]))
        expect(rd is not None and rd.code == 250, "end of DATA: %r" % rd)
        c.quit()
    delivered(L, mid)
    got = set()
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while True:
        got = {r.lower() for m in all_with_mid(L, mid) for r in m["rcpt_tos"]}
        if got >= set(rcpts[:RCPT_LIMIT]) or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    time.sleep(0.5)
    got = {r.lower() for m in all_with_mid(L, mid) for r in m["rcpt_tos"]}
    expect(got == set(rcpts[:RCPT_LIMIT]),
           "delivered to %s, want %s" % (sorted(got), rcpts[:RCPT_LIMIT]))


def test_07_pipelining(L):
    """(7) PIPELINING: MAIL/RCPT/RCPT/RCPT/DATA in one write, replies in
    order (one RCPT refused); message content + the next transaction in
    one write; both messages delivered"""
    setup(L)
    a, b = "p2-pipe-a@sink.test", "p2-pipe-b@sink.test"
    m1 = L.message([a, b], subject="p2 pipelining 1 %s" % uid())
    m2 = L.message(a, subject="p2 pipelining 2 %s" % uid())
    with Client(L) as c:
        c.ehlo()
        expect("PIPELINING" in c.ext, "PIPELINING not advertised")
        c.send("MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nRCPT TO:<>\r\nRCPT TO:<%s>\r\nDATA\r\n"
               % (T.SENDER, a, b))
        rs = c.replies(5)
        codes = [r.code for r in rs]
        expect(codes[0] == 250 and codes[1] == 250 and 500 <= codes[2] < 600 and
               codes[3] == 250 and codes[4] == 354,
               "pipelined replies %s, want [250, 250, 5xx, 250, 354]:\n%s"
               % (rs, c.transcript()))
        c.send(dotstuff(m1) + b".\r\n" +
               ("MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n" % (T.SENDER, a)).encode())
        rs = c.replies(4)
        expect([r.code for r in rs] == [250, 250, 250, 354],
               "after message 1: %s, want [250, 250, 250, 354]" % rs)
        c.send(dotstuff(m2) + b".\r\nQUIT\r\n")
        rs = c.replies(2)
        expect([r.code for r in rs] == [250, 221], "after message 2: %s" % rs)
    r1 = delivered(L, L.message_id(m1))
    delivered(L, L.message_id(m2))
    time.sleep(0.3)
    got = {r.lower() for m in all_with_mid(L, L.message_id(m1)) for r in m["rcpt_tos"]}
    expect(got == {a, b}, "message 1 delivered to %s" % sorted(got))
    body = eml_bytes(r1).split(b"\r\n\r\n", 1)[1]
    expect(body == m1.split(b"\r\n\r\n", 1)[1], "message 1 body changed: %r" % body[:200])


def find_dsn(L, mid, timeout=DELIVERY_TIMEOUT):
    """The DSN in the sender's mailbox that returns the message mid."""
    box = L.receiver("sender")
    deadline = time.monotonic() + timeout
    while True:
        for rec in box.messages():
            rep = dsn.report(rec)
            if rep and mid in rec["data"]:
                return rec, rep
        L.check_daemon()
        if time.monotonic() >= deadline:
            raise lab.LabError("no DSN returning %s at sender.test after %.0fs\n"
                               "--- sealpostd log tail:\n%s"
                               % (mid, timeout, L.daemon_log_tail()))
        time.sleep(0.2)


def test_08_dsn_parameters(L):
    """(8) RET=HDRS ENVID, NOTIFY=FAILURE ORCPT reach the bounce of a 550
    recipient; NOTIFY=NEVER: no bounce"""
    setup(L)
    bad, good = "nosuchuser@reject.test", "okuser@reject.test"
    envid = "xyz" + uid()
    marker = "BODY-MARKER-%s" % uid()
    msg = L.message(bad, subject="p2 dsn %s" % envid, body="%s\nsecond line\n" % marker)
    mid = L.message_id(msg)
    msg2 = L.message([bad, good], subject="p2 dsn never %s" % uid())
    mid2 = L.message_id(msg2)
    with Client(L) as c:
        c.ehlo()
        expect("DSN" in c.ext, "DSN not advertised")
        rm, rr, rd = send_one(c, T.SENDER, [bad], msg, "RET=HDRS ENVID=%s" % envid,
                              "NOTIFY=FAILURE ORCPT=rfc822;orig@x")
        expect(rm.code == 250 and rr[0].code == 250 and rd and rd.code == 250,
               "DSN transaction: %s %s %s" % (rm, rr, rd))
        rm, rr, rd = send_one(c, T.SENDER, [bad, good], msg2, "",
                              {bad: "NOTIFY=NEVER"})
        expect(rm.code == 250 and [r.code for r in rr] == [250, 250] and rd and
               rd.code == 250, "NOTIFY=NEVER transaction: %s %s %s" % (rm, rr, rd))
        c.quit()
    rec, (dmsg, per_msg, per_rcpt) = find_dsn(L, mid)
    expect(rec["mail_from"] in ("<>", ""), "DSN MAIL FROM %r" % rec["mail_from"])
    expect(per_msg.get("original-envelope-id") == envid,
           "Original-Envelope-Id %r, want %r" % (per_msg.get("original-envelope-id"), envid))
    expect(len(per_rcpt) == 1, "per-recipient blocks: %s" % per_rcpt)
    f = per_rcpt[0]
    expect(bad in f.get("final-recipient", "").lower(),
           "Final-Recipient %r" % f.get("final-recipient"))
    orcpt = re.sub(r";\s*", ";", f.get("original-recipient", ""))
    expect(orcpt.lower() == "rfc822;orig@x",
           "Original-Recipient %r, want rfc822;orig@x" % f.get("original-recipient"))
    expect(f.get("action", "").lower() == "failed", "Action %r" % f.get("action"))
    expect(f.get("status", "").startswith("5.1.1"), "Status %r" % f.get("status"))
    types = [p.get_content_type() for p in dmsg.walk()]
    expect("message/rfc822" not in types and
           ("text/rfc822-headers" in types or "message/global-headers" in types),
           "RET=HDRS: DSN parts %s, want headers only" % types)
    expect(mid in dsn.returned_content(dmsg), "returned headers lack the Message-ID")
    expect(marker not in rec["data"], "RET=HDRS but the body came back")
    # NOTIFY=NEVER: the good recipient is delivered, no bounce for the bad one
    delivered(L, mid2, receiver="reject")
    deadline = time.monotonic() + NO_BOUNCE_WAIT
    while time.monotonic() < deadline:
        hits = [m for m in L.receiver("sender").messages() if mid2 in m["data"]]
        if hits:
            raise AssertionError("NOTIFY=NEVER but a DSN came:\n%s"
                                 % hits[0]["data"][:1500])
        time.sleep(0.2)


def test_08b_dsn_success_relayed(L):
    """(8) NOTIFY=SUCCESS, next hop without DSN: a success DSN with Action
    relayed (RFC 3461 5.2.2), ENVID and ORCPT carried, headers only"""
    setup(L)
    rcpt = "p2-success@sink.test"
    envid = "succ" + uid()
    msg = L.message(rcpt, subject="p2 dsn success %s" % envid)
    mid = L.message_id(msg)
    with Client(L) as c:
        c.ehlo()
        rm, rr, rd = send_one(c, T.SENDER, [rcpt], msg, "RET=HDRS ENVID=%s" % envid,
                              "NOTIFY=SUCCESS ORCPT=rfc822;%s" % rcpt)
        expect(rd is not None and rd.code == 250, "transaction: %s %s %s" % (rm, rr, rd))
        c.quit()
    rec = delivered(L, mid)
    expect(not rec["rcpt_options"] and not [o for o in rec["mail_options"]
                                            if o.startswith(("RET=", "ENVID="))],
           "DSN parameters passed to a next hop without DSN: %s %s"
           % (rec["mail_options"], rec["rcpt_options"]))
    drec, (dmsg, per_msg, per_rcpt) = find_dsn(L, mid)
    expect(per_msg.get("original-envelope-id") == envid,
           "Original-Envelope-Id %r" % per_msg.get("original-envelope-id"))
    f = per_rcpt[0] if per_rcpt else {}
    expect(f.get("status", "").startswith("2."), "Status %r" % f.get("status"))
    expect(f.get("action", "").lower() == "relayed",
           "Action %r, want relayed: the next hop (sink.test, aiosmtpd) does not "
           "offer DSN, so RFC 3461 5.2.2 asks for a 'relayed' DSN" % f.get("action"))


def test_09_8bit_and_utf8(L):
    """(9) BODY=8BITMIME SMTPUTF8 with a UTF-8 recipient: delivered intact,
    both parameters passed to the next hop (it offers them)"""
    setup(L)
    rcpt = "jörg.p2@sink.test"
    mid = "<%s.p2utf8@sender.test>" % uid()
    body = ("Grüße aus dem Labor — ünïcödé\r\n日本語のテキスト ✓\r\n"
            "%s\r\n" % ("é" * 300)).encode()
    msg = ("From: Ålice <%s>\r\nTo: Jörg <%s>\r\nSubject: Grüße ✓ p2\r\n"
           "Message-ID: %s\r\nDate: %s\r\nMIME-Version: 1.0\r\n"
           "Content-Type: text/plain; charset=utf-8\r\n"
           "Content-Transfer-Encoding: 8bit\r\n\r\n"
           % (T.SENDER, rcpt, mid, email.utils.formatdate())).encode() + body
    with Client(L) as c:
        c.ehlo()
        for k in ("8BITMIME", "SMTPUTF8"):
            expect(k in c.ext, "%s not advertised" % k)
        r = c.cmd("MAIL FROM:<%s>" % T.SENDER)
        expect(r.code == 250, "MAIL: %r" % r)
        r = c.cmd("RCPT TO:<%s>" % rcpt)
        expect(r.code == 553 and r.enhanced == "5.6.7",
               "UTF-8 recipient without SMTPUTF8 on MAIL: %r, want 553 5.6.7" % r)
        expect(c.cmd("RSET").code == 250, "RSET")
        rm, rr, rd = send_one(c, T.SENDER, [rcpt], msg, "BODY=8BITMIME SMTPUTF8")
        expect(rm.code == 250 and rr and rr[0].code == 250 and rd and rd.code == 250,
               "8-bit/UTF-8 transaction: %s %s %s" % (rm, rr, rd))
        c.quit()
    rec = delivered(L, mid)
    expect(rec["rcpt_tos"] == [rcpt], "RCPT %r, want [%r]" % (rec["rcpt_tos"], rcpt))
    opts = [o.upper() for o in rec["mail_options"]]
    expect("SMTPUTF8" in opts and "BODY=8BITMIME" in opts,
           "next hop MAIL parameters %s, want SMTPUTF8 and BODY=8BITMIME" % opts)
    data = eml_bytes(rec)
    head, _, got = data.partition(b"\r\n\r\n")
    expect(got == body, "8-bit body changed in transit:\n%r\nwant\n%r" % (got[:400], body[:400]))
    for line in header_block(msg).split(b"\r\n"):
        expect(line in head.split(b"\r\n"), "header line changed or lost: %r" % line)


def _smuggle_payload(sender, mid_out, smug_sender, mid_smug, shape):
    return (("From: %s\r\nTo: p2-smuggle@sink.test\r\nSubject: p2 smuggle outer\r\n"
             "Message-ID: %s\r\n\r\nouter body\r\n" % (sender, mid_out)).encode() +
            b"outer last line" + shape +
            ("MAIL FROM:<%s>\r\nRCPT TO:<p2-smuggled@sink.test>\r\nDATA\r\n"
             "From: %s\r\nSubject: p2 SMUGGLED\r\nMessage-ID: %s\r\n\r\n"
             "smuggled body\r\n" % (smug_sender, smug_sender, mid_smug)).encode())


SMUGGLE_SHAPES = (b"\n.\r\n", b"\n.\n", b"\r\n.\n", b"\r.\r\n")


def _smuggle(L, shape):
    """Send one smuggling attempt; returns (replies after the payload,
    outer sender, outer mid, smuggled sender, smuggled mid)."""
    sender = "p2-outer-%s@sender.test" % uid()
    smug = "p2-smug-%s@sender.test" % uid()
    mid_out, mid_smug = "<%s.outer@sender.test>" % uid(), "<%s.smug@sender.test>" % uid()
    payload = _smuggle_payload(sender, mid_out, smug, mid_smug, shape)
    replies = []
    with Client(L) as c:
        c.ehlo()
        r = c.cmd("MAIL FROM:<%s>" % sender)
        expect(r.code == 250, "MAIL: %r" % r)
        r = c.cmd("RCPT TO:<p2-smuggle@sink.test>")
        expect(r.code == 250, "RCPT: %r" % r)
        r = c.cmd("DATA")
        expect(r.code == 354, "DATA: %r" % r)
        try:
            c.send(payload + b".\r\nQUIT\r\n")
        except OSError as e:
            lab.log("smuggle %r: sending: %s" % (shape, e))
        try:
            while True:
                r = c.reply()
                replies.append(r)
                if r.code == 221:
                    break
        except Closed:
            pass
    expect(not any(r.code == 354 for r in replies),
           "shape %r: a second DATA was accepted (smuggled transaction): %s"
           % (shape, replies))
    finals = [r for r in replies if r.code != 221]
    expect(len(finals) <= 1, "shape %r: more than one reply to one DATA: %s"
           % (shape, replies))
    return finals, sender, mid_out, smug, mid_smug


def test_10a_bare_lf_rejected(L):
    """(10) smtpd_bare_lf = reject: a DATA line ending in a bare LF gets a
    5xx and nothing is queued"""
    setup(L)
    sender = "p2-barelf-%s@sender.test" % uid()
    mid = "<%s.barelf@sender.test>" % uid()
    msg = ("From: %s\r\nTo: p2-barelf@sink.test\r\nSubject: p2 bare lf\r\n"
           "Message-ID: %s\r\n\r\nline one ends in a bare LF\nline two\r\n"
           % (sender, mid)).encode()
    with Client(L) as c:
        c.ehlo()
        rm, rr, rd = send_one(c, sender, ["p2-barelf@sink.test"], msg)
        expect(rm.code == 250 and rr[0].code == 250, "MAIL/RCPT: %s %s" % (rm, rr))
        expect(rd is not None and 500 <= rd.code < 600,
               "a message with a bare LF got %r, want a 5xx (smtpd_bare_lf = reject)"
               % rd)
        lab.log("10a: bare LF: %r" % rd)
        c.quit()
    expect_not_queued(L, sender, [mid])


def test_10b_smuggling_reject(L):
    """(10) SMTP smuggling shapes (\\n.\\r\\n and friends) never end the
    message early: no second message, no 354 for the smuggled DATA"""
    setup(L)
    results = []
    for shape in SMUGGLE_SHAPES:
        finals, sender, mid_out, smug, mid_smug = _smuggle(L, shape)
        results.append((shape, finals, sender, mid_out, smug, mid_smug))
        if b"\n" in shape.replace(b"\r\n", b""):
            # a bare LF: the whole message is refused in reject mode
            expect(finals and 500 <= finals[0].code < 600,
                   "shape %r with bare LF: %s, want one 5xx" % (shape, finals))
    time.sleep(NOT_QUEUED_WAIT)
    for shape, finals, sender, mid_out, smug, mid_smug in results:
        expect_not_queued(L, smug, [mid_smug], wait=0)
        if not (finals and finals[0].code == 250):
            expect_not_queued(L, sender, [mid_out], wait=0)
        lab.log("10b: %r -> %s" % (shape, finals))


def test_11_250_is_durable(L):
    """(11) 250 after DATA means durable: SIGKILL right after the reply,
    restart, every accepted message is delivered"""
    setup(L)
    rcpt = "p2-durable@sink.test"
    msgs = [L.message(rcpt, subject="p2 durable %d %s" % (i, uid())) for i in range(3)]
    with Client(L) as c:
        c.ehlo()
        for i, msg in enumerate(msgs):
            rm, rr, rd = send_one(c, T.SENDER, [rcpt], msg)
            expect(rd is not None and rd.code == 250, "message %d: %s %s %s"
                   % (i, rm, rr, rd))
        L.kill_daemon()
        c.close()
    mids = [L.message_id(m) for m in msgs]
    before = [mid for mid in mids if all_with_mid(L, mid)]
    lab.log("11: one session: %d of %d delivered before SIGKILL" % (len(before), len(mids)))
    L.start_daemon()
    wait_listeners(L)
    for mid in mids:
        delivered(L, mid)
    # concurrent sessions (the store's group commit): each 250 is durable
    n = 6                   # below smtpd_client_connection_limit
    cmsgs = [L.message(rcpt, subject="p2 durable concurrent %d %s" % (i, uid()))
             for i in range(n)]
    clients = [Client(L) for _ in range(n)]
    try:
        for c, m in zip(clients, cmsgs):
            c.ehlo()
            c.send("MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n" % (T.SENDER, rcpt))
            rs = c.replies(3)
            expect([r.code for r in rs] == [250, 250, 354], "pipelined: %s" % rs)
        for c, m in zip(clients, cmsgs):      # all ends of data at once
            c.send(dotstuff(m) + b".\r\n")
        for c in clients:
            r = c.reply()
            expect(r.code == 250, "concurrent end of DATA: %r" % r)
        L.kill_daemon()
    finally:
        for c in clients:
            c.close()
    mids = [L.message_id(m) for m in cmsgs]
    before = [mid for mid in mids if all_with_mid(L, mid)]
    lab.log("11: %d sessions: %d of %d delivered before SIGKILL"
            % (n, len(before), len(mids)))
    time.sleep(0.3)
    L.start_daemon()
    wait_listeners(L)
    for mid in mids:
        delivered(L, mid)


def test_11b_kill_mid_data_not_delivered(L):
    """(11) the converse: SIGKILL while DATA is half sent (no 250 given);
    after the restart no part of that message is delivered or queued"""
    setup(L)
    sender = "p2-halfdata-%s@sender.test" % uid()
    rcpt = "p2-halfdata@sink.test"
    msg = L.message(rcpt, sender=sender, subject="p2 half data",
                    body="first half\n" * 200 + "second half\n" * 200)
    mid = L.message_id(msg)
    half = dotstuff(msg)[:len(msg) // 2]
    with Client(L) as c:
        c.ehlo()
        expect(c.cmd("MAIL FROM:<%s>" % sender).code == 250, "MAIL refused")
        expect(c.cmd("RCPT TO:<%s>" % rcpt).code == 250, "RCPT refused")
        expect(c.cmd("DATA").code == 354, "DATA refused")
        c.send(half)
        time.sleep(0.3)
        L.kill_daemon()
    time.sleep(0.3)
    L.start_daemon()
    wait_listeners(L)
    expect_not_queued(L, sender, [mid])


def test_11c_ipv6_listener(L):
    """relay listener on [::1]:25: ::1 is outside mynetworks (554 5.7.1);
    after STARTTLS and AUTH it relays; Received names the client as an
    IPv6 address literal [IPv6:::1] (RFC 5321 4.1.3, 4.4)"""
    setup(L)
    sender = "p2-v6-%s@sender.test" % uid()
    rcpt = "p2-v6@sink.test"
    msg = L.message(rcpt, sender=sender, subject="p2 ipv6 listener")
    mid = L.message_id(msg)
    with Client(L, host=LISTEN6) as c:
        c.ehlo()
        expect(c.cmd("MAIL FROM:<%s>" % sender).code == 250, "MAIL over IPv6")
        r = c.cmd("RCPT TO:<%s>" % rcpt)
        expect(r.code == 554 and r.enhanced == "5.7.1",
               "RCPT from ::1 (not in mynetworks): %r, want 554 5.7.1" % r)
        expect(c.cmd("RSET").code == 250, "RSET")
        c.starttls()
        expect(c.auth_plain().code == 235, "AUTH over IPv6")
        rm, rr, rd = send_one(c, sender, [rcpt], msg)
        expect(rd is not None and rd.code == 250, "IPv6 transaction: %s %s %s"
               % (rm, rr, rd))
        c.quit()
    rec = delivered(L, mid)
    check_received(rec, "IPv6:" + LISTEN6, "ESMTPSA")


def test_12_smtps_implicit_tls(L):
    """(12) smtps role: TLS from the first byte, no STARTTLS offered, AUTH
    required (530 5.7.0) and working, delivered with ESMTPSA"""
    setup(L)
    rcpt = "p2-smtps@sink.test"
    msg = L.message(rcpt, subject="p2 smtps %s" % uid())
    mid = L.message_id(msg)
    with Client(L, PORT_SMTPS, implicit_tls=True) as c:
        expect(c.greeting.code == 220, "greeting %r" % c.greeting)
        c.ehlo()
        expect("STARTTLS" not in c.ext, "STARTTLS offered inside implicit TLS")
        r = c.cmd("MAIL FROM:<%s>" % T.SENDER)
        expect(r.code == 530 and r.enhanced == "5.7.0", "MAIL without AUTH: %r" % r)
        r = c.auth_plain(AUTH_ID, "wrong")
        expect(r.code == 535 and r.enhanced == "5.7.8", "wrong password: %r" % r)
        r = c.auth_plain()
        expect(r.code == 235, "AUTH PLAIN: %r" % r)
        rm, rr, rd = send_one(c, T.SENDER, [rcpt], msg)
        expect(rd is not None and rd.code == 250, "smtps transaction: %s %s %s"
               % (rm, rr, rd))
        c.quit()
    rec = delivered(L, mid)
    check_received(rec, LISTEN, "ESMTPSA")


def test_12b_line_and_connection_limits(L):
    """limits: a command line over 512 octets 500 5.5.2 (session goes on);
    smtpd_client_connection_limit 10: the 11th connection from one address
    gets 421 4.7.0, other addresses are served, a freed slot is reusable;
    mynetworks clients are exempt"""
    setup(L)
    with Client(L) as c:
        c.ehlo()
        r = c.cmd("NOOP " + "x" * 600)
        expect(r.code == 500 and r.enhanced == "5.5.2",
               "a 606-octet command line: %r, want 500 5.5.2" % r)
        r = c.cmd("NOOP")
        expect(r.code == 250, "NOOP after the long line: %r" % r)
        c.quit()
    src = "127.0.0.7"
    held = []
    try:
        for i in range(CLIENT_CONN_LIMIT):
            c = Client(L, source=src)
            held.append(c)
            expect(c.greeting.code == 220, "connection %d: %r" % (i + 1, c.greeting))
        try:
            extra = Client(L, source=src)
            r = extra.greeting
            extra.close()
        except Closed as e:
            raise AssertionError("connection %d: closed without a reply (%s)"
                                 % (CLIENT_CONN_LIMIT + 1, e))
        expect(r.code == 421 and r.enhanced == "4.7.0",
               "connection %d from %s: %r, want 421 4.7.0"
               % (CLIENT_CONN_LIMIT + 1, src, r))
        with Client(L) as other:
            expect(other.greeting.code == 220,
                   "another address while %s is at its limit: %r" % (src, other.greeting))
        held.pop().quit()

        def one_more():
            try:
                c = Client(L, source=src)
            except (Closed, OSError):
                return False
            if c.greeting.code == 220:
                held.append(c)
                return True
            c.close()
            return False
        lab.wait_until(one_more, 5, interval=0.2,
                       what="a connection from %s after one was closed" % src)
    finally:
        for c in held:
            c.close()
    # mynetworks is exempt from the per-client limit (as in Postfix): an
    # application server may open many sessions at once
    held = []
    try:
        for i in range(CLIENT_CONN_LIMIT + 2):
            c = Client(L)
            held.append(c)
            expect(c.greeting.code == 220, "trusted connection %d: %r"
                   % (i + 1, c.greeting))
    finally:
        for c in held:
            c.close()


def _read_until_close(c, limit=10.0):
    """Replies until the server closes (or limit seconds pass)."""
    out = []
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            out.append(c.reply())
        except Closed:
            return out, True
        except lab.LabError:      # no reply within the socket timeout
            break
    return out, False


def test_12c_timeouts_error_and_header_limits(L):
    """limits: smtpd_timeout 2s (idle client 421 4.4.2, closed),
    smtpd_data_timeout 3s for a trickling DATA (421, nothing queued),
    smtpd_error_limit 5 (421 4.7.0, closed), smtpd_header_size_limit 2k
    (552 after DATA, nothing queued)"""
    setup(L, smtpd_timeout="2s", smtpd_data_timeout="3s", smtpd_error_limit="5",
          smtpd_header_size_limit="2k")
    # idle after EHLO
    with Client(L, timeout=6.0) as c:
        c.ehlo()
        t0 = time.monotonic()
        rs, closed = _read_until_close(c, 8.0)
        took = time.monotonic() - t0
        expect(rs and rs[0].code == 421 and rs[0].enhanced == "4.4.2" and closed,
               "idle client: %s closed=%s after %.1fs, want 421 4.4.2 and close"
               % (rs, closed, took))
        expect(1.5 <= took <= 5.0, "idle timeout after %.1fs, want about 2s" % took)
    # DATA trickled slower than smtpd_data_timeout allows in total
    sender = "p2-trickle-%s@sender.test" % uid()
    mid = "<%s.trickle@sender.test>" % uid()
    with Client(L, timeout=6.0) as c:
        c.ehlo()
        expect(c.cmd("MAIL FROM:<%s>" % sender).code == 250, "MAIL")
        expect(c.cmd("RCPT TO:<p2-trickle@sink.test>").code == 250, "RCPT")
        expect(c.cmd("DATA").code == 354, "DATA")
        c.send("Message-ID: %s\r\nSubject: trickle\r\n\r\n" % mid)
        t0 = time.monotonic()
        got = None
        c.sock.settimeout(0.5)
        while time.monotonic() - t0 < 8.0 and got is None:
            try:
                c.send("still sending %.1f\r\n" % (time.monotonic() - t0))
            except OSError:
                pass
            try:
                got = c.reply()
            except Closed:
                break
            except lab.LabError:
                continue
        took = time.monotonic() - t0
        expect(got is not None and got.code == 421,
               "trickled DATA: %r after %.1fs, want 421 at about 3s" % (got, took))
        expect(took <= 6.0, "data timeout after %.1fs, want about 3s" % took)
    expect_not_queued(L, sender, [mid], wait=0.5)
    # errors
    with Client(L, timeout=3.0) as c:
        c.ehlo()
        rs = []
        closed = False
        for i in range(8):
            try:
                c.send("BOGUS%d\r\n" % i)
                rs.append(c.reply())
            except (Closed, OSError):
                closed = True
                break
            if rs[-1].code == 421:
                rs2, closed = _read_until_close(c, 3.0)
                break
        codes = [r.code for r in rs]
        expect(421 in codes and codes.index(421) <= 6,
               "error limit 5: replies %s, want 421 by the 6th bad command" % rs)
        expect(rs[codes.index(421)].enhanced == "4.7.0", "error limit: %r"
               % rs[codes.index(421)])
        expect(closed, "the connection stayed open after 421")
    # header section too big
    sender = "p2-bighdr-%s@sender.test" % uid()
    hdrs = {"X-Filler-%02d" % i: "y" * 90 for i in range(40)}
    msg = L.message("p2-bighdr@sink.test", sender=sender, headers=hdrs)
    with Client(L) as c:
        c.ehlo()
        rm, rr, rd = send_one(c, sender, ["p2-bighdr@sink.test"], msg)
        expect(rd is not None and rd.code == 552,
               "a 4k header section with smtpd_header_size_limit 2k: %r, want 552" % rd)
        c.quit()
    expect_not_queued(L, sender, [L.message_id(msg)])


def test_13_smuggling_normalize(L):
    """(10) smtpd_bare_lf = normalize: the \\n.\\r\\n shape is content, not
    the end of data; one message with the text, no smuggled message"""
    try:
        setup(L, bare_lf="normalize")
        finals, sender, mid_out, smug, mid_smug = _smuggle(L, b"\n.\r\n")
        expect(finals and finals[0].code == 250,
               "normalize: the outer message got %s, want 250" % finals)
        rec = delivered(L, mid_out)
        expect(b"MAIL FROM:<%s>" % smug.encode() in eml_bytes(rec),
               "the smuggled text is not in the delivered message body")
        expect_not_queued(L, smug, [mid_smug])
        expect(len(all_with_mid(L, mid_out)) == 1, "the outer message arrived twice")
    finally:
        # the last P2 case: leave the lab's standard configuration behind
        restore_standard_config(L)


def restore_standard_config(L):
    _state.get(L.rundir, {})["conf"] = None
    if L.daemon is not None and L.daemon.alive():
        L.stop_daemon()
    L.write_config()
    L.start_daemon()
