"""P5 RFC 8689 "TLS-Required: No" cases (docs/tlsrpt-contract.md section 2)
and the sending-mta-ip of recorded TLS results (section 1).

Messages come in through sealpost's own SMTP listener (127.0.0.1:25,
role relay), so the listener's header check is what sets the queue flag.
Existing lab domains whose TLS policy fails:
  test2.daneseed.test  DANE, the only MX (seed-t2a) presents a key that
                       matches no TLSA record
  mismatch.sts.test    MTA-STS enforce, the certificate of mx.mismatch
                       names another host (receiver sts-mismatch)
Each gets one message with TLS-Required: No and one without, submitted
back to back so a session could be tempted to carry both: the first is
delivered (over TLS: the peer offers it; the tls= field says
tls-required=no next to the failed verdict), the second is deferred.
ok.sts.test (MTA-STS enforce, valid) gets only TLS-Required: No mail and
so must have no row in spool/tlsrpt.db, while the deferred ordinary
messages' failures are recorded with sending-mta-ip 127.x (our end of
the lab connection).

One daemon run with its own spool; the last case puts the default
configuration back.
"""

import os
import re
import smtplib
import sqlite3
import time

import lab
import topology as T
from test_p3_dane import start_receivers as p3_start_receivers
from test_p4_sts import lab_up as p4_lab_up

LISTEN = "127.0.0.1"
DELIVERY_TIMEOUT = 30.0
DEFER_WAIT = 8.0
DB_WAIT = 15.0

DANE_DOM = "test2." + T.SEED
STS_DOM = "mismatch." + T.STS
STS_OK_DOM = "ok." + T.STS

# case -> (recipient, TLS-Required: No?)
CASES = {
    "dane-no": ("notls-dane@" + DANE_DOM, True),
    "dane-req": ("req-dane@" + DANE_DOM, False),
    "sts-no": ("notls-sts@" + STS_DOM, True),
    "sts-req": ("req-sts@" + STS_DOM, False),
    "stsok-no": ("notls-ok@" + STS_OK_DOM, True),
}

LOGLINE = re.compile(r"^\S+ \S+: (?P<qid>\S+): to=<(?P<to>[^>]*)>, relay=(?P<relay>\S+), "
                     r".*?dsn=(?P<dsn>\S+), status=(?P<status>\w+) \((?P<text>.*)\), "
                     r"tls=(?P<tls>.*)$")


def expect(cond, msg):
    if not cond:
        raise AssertionError(msg)


class Run:
    def __init__(self):
        self.error = None
        self.sub = {}
        self.logpos = 0
        self.spool = None


def run_up(L):
    """Receivers, policy server, configuration and submissions, once."""
    run = getattr(L, "_p5tr_run", None)
    if run is not None:
        if run.error:
            raise lab.LabError("TLS-Required set-up failed earlier: %s" % run.error)
        return run
    run = L._p5tr_run = Run()
    try:
        p3_start_receivers(L)
        p4_lab_up(L)
        run.spool = L.path("sealpost-spool-p5tr")
        os.makedirs(run.spool, exist_ok=True)
        if L.daemon is not None and L.daemon.alive():
            L.stop_daemon()
        L.write_config(settings={"spool_directory": '"%s"' % run.spool,
                                 "mynetworks": '{ "%s/32" }' % LISTEN,
                                 "tlsrpt_reports": "no"},
                       extra=L.listen_sections([("relay", "%s:25" % LISTEN, "relay")]))
        run.logpos = L.daemon_log_size()
        L.start_daemon()
        lab.wait_until(lambda: listening(LISTEN, 25), 10.0, what="listener on port 25")
        for case, (rcpt, notls) in CASES.items():
            headers = {"TLS-Required": "No"} if notls else None
            msg = L.message(rcpt, subject="P5 TLS-Required %s" % case, headers=headers)
            with smtplib.SMTP(LISTEN, 25, timeout=30) as c:
                c.sendmail(T.SENDER, [rcpt], msg)
            run.sub[case] = (rcpt, L.message_id(msg))
    except Exception as e:
        run.error = str(e).splitlines()[0] if str(e) else repr(e)
        L.write_config()
        raise
    return run


def listening(host, port):
    import socket
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def log_lines(L, rcpt):
    run = run_up(L)
    try:
        with open(L.daemon_log_path(), "rb") as f:
            f.seek(run.logpos)
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        m = LOGLINE.match(line)
        if m and m.group("to").lower() == rcpt.lower():
            d = m.groupdict()
            d["line"] = line
            out.append(d)
    return out


def holder_msgs(L, mid):
    """(receiver name, message) pairs holding mid, over every receiver."""
    return [(name, m) for name, r in L.receivers.items()
            for m in r.messages() if m["message_id"] == mid]


def delivered(L, case, rcv, verdict):
    rcpt, mid = run_up(L).sub[case]
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while not holder_msgs(L, mid):
        L.check_daemon()
        if time.monotonic() >= deadline:
            raise AssertionError("%s: not delivered after %.0fs; log lines:\n%s\n--- tail:\n%s"
                                 % (case, DELIVERY_TIMEOUT,
                                    "\n".join(x["line"] for x in log_lines(L, rcpt))
                                    or "(none)", L.daemon_log_tail(15)))
        time.sleep(0.1)
    got = holder_msgs(L, mid)
    expect([n for n, _ in got] == [rcv], "delivered to %s, want %s"
           % ([n for n, _ in got], rcv))
    expect(got[0][1]["tls"], "%s got the message in cleartext; the peer offers TLS" % rcv)
    deadline = time.monotonic() + 10.0
    while True:
        sent = [x for x in log_lines(L, rcpt) if x["status"] == "sent"]
        if sent or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    expect(len(sent) == 1, "%d status=sent lines for %s" % (len(sent), rcpt))
    tls = sent[0]["tls"]
    expect(re.search(r"\btls-required=no\b", tls), "tls= lacks tls-required=no: %s" % tls)
    expect(re.search(verdict, tls), "tls= lacks %s: %s" % (verdict, tls))
    expect(not tls.startswith("none"), "tls=%s: not TLS" % tls)


def deferred(L, case, verdict):
    rcpt, mid = run_up(L).sub[case]
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while not log_lines(L, rcpt):
        L.check_daemon()
        expect(time.monotonic() < deadline, "%s: no delivery log line after %.0fs"
               % (case, DELIVERY_TIMEOUT))
        time.sleep(0.1)
    time.sleep(DEFER_WAIT)
    expect(not holder_msgs(L, mid), "%s: delivered to %s despite the policy failure"
           % (case, [n for n, _ in holder_msgs(L, mid)]))
    lines = log_lines(L, rcpt)
    expect(all(x["status"] == "deferred" for x in lines),
           "not all deferred:\n%s" % "\n".join(x["line"] for x in lines))
    expect(all(x["dsn"].startswith("4.7.") for x in lines),
           "dsn not 4.7.x:\n%s" % "\n".join(x["line"] for x in lines))
    expect(any(re.search(verdict, x["tls"]) for x in lines),
           "no tls= with %s:\n%s" % (verdict, "\n".join(x["line"] for x in lines)))
    expect(not any("tls-required=no" in x["tls"] for x in lines),
           "an ordinary message was logged with tls-required=no")


def db_rows(L, sql, args=()):
    path = os.path.join(run_up(L).spool, "tlsrpt.db")
    if not os.path.exists(path):
        return None
    con = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=5.0)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


# ----------------------------------------------------------------- cases


def test_p5_tlsreq_dane_mismatch_delivered_with_header(L):
    """DANE, TLSA matches no key: with TLS-Required: No delivered over TLS
    to the mismatching MX, tls= says dane=failed and tls-required=no"""
    delivered(L, "dane-no", "seed-t2a", r"\bdane=failed \(no matching TLSA\)")


def test_p5_tlsreq_dane_mismatch_deferred_without_header(L):
    """the same domain, a message without the header: deferred (4.7.5),
    never delivered (it was not carried by the other message's session)"""
    deferred(L, "dane-req", r"\bdane=failed \(no matching TLSA\)")


def test_p5_tlsreq_sts_mismatch_delivered_with_header(L):
    """MTA-STS enforce, certificate names another host: with
    TLS-Required: No delivered over TLS, sts=enforce failed, tls-required=no"""
    delivered(L, "sts-no", "sts-mismatch",
              r"\bsts=enforce failed \(certificate-host-mismatch\)")


def test_p5_tlsreq_sts_mismatch_deferred_without_header(L):
    """the same MTA-STS domain without the header: deferred"""
    deferred(L, "sts-req", r"\bsts=enforce failed \(certificate-host-mismatch\)")


def test_p5_tlsreq_not_recorded_sending_ip_recorded(L):
    """spool/tlsrpt.db: ok.sts.test, which got only TLS-Required: No mail,
    has no row; the deferred ordinary mail's failures are there with
    sending-mta-ip 127.x; the TLS-Required: No deliveries to the broken
    domains added no success"""
    delivered(L, "stsok-no", "sts-ok", r"\bsts=")
    deadline = time.monotonic() + DB_WAIT
    while True:
        fails = db_rows(L, "SELECT domain, policy_type, result_type, sending_ip, "
                           "receiving_ip, count FROM tlsrpt_failure "
                           "WHERE domain IN (?, ?)", (DANE_DOM, STS_DOM)) or []
        doms = {r[0] for r in fails}
        if doms == {DANE_DOM, STS_DOM} or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    expect(doms == {DANE_DOM, STS_DOM},
           "failures recorded for %s, want both %s and %s: %r"
           % (sorted(doms), DANE_DOM, STS_DOM, fails))
    for dom, ptype, result, sip, rip, count in fails:
        expect(re.match(r"^127\.\d+\.\d+\.\d+$", sip),
               "%s %s: sending-mta-ip %r, want 127.x" % (dom, result, sip))
        expect(rip.startswith("127."), "%s: receiving-ip %r" % (dom, rip))
    by = {r[0]: r for r in fails}
    expect(by[DANE_DOM][1] == "tlsa" and by[DANE_DOM][2] == "certificate-not-trusted",
           "DANE failure row: %r" % (by[DANE_DOM],))
    expect(by[STS_DOM][1] == "sts" and by[STS_DOM][2] == "certificate-host-mismatch",
           "MTA-STS failure row: %r" % (by[STS_DOM],))
    # the writer flushes every second: give the TLS-Required: No sessions
    # time to show up if they were (wrongly) recorded
    time.sleep(2.5)
    rows = db_rows(L, "SELECT domain, policy_type, success, failure FROM tlsrpt_policy "
                      "WHERE domain = ?", (STS_OK_DOM,))
    expect(rows == [], "TLS-Required: No sessions to %s were recorded: %r"
           % (STS_OK_DOM, rows))
    rows = db_rows(L, "SELECT domain, success FROM tlsrpt_policy WHERE domain IN (?, ?) "
                      "AND success > 0", (DANE_DOM, STS_DOM))
    expect(rows == [], "successes recorded for the TLS-Required: No deliveries: %r"
           % (rows,))


def test_p5_tlsreq_zz_restore_default_config(L):
    """put the default configuration back for later cases"""
    if L.daemon is not None and L.daemon.alive():
        L.stop_daemon()
    L.write_config()
