"""P1 queue behaviour: TLS with SNI, delay warnings, expiry, double
bounces and a full spool.

These cases restart sealpostd with short lifetimes and a real postmaster
address, and put back the lab's standard configuration when they finish,
so cases in later files see the daemon as test_p1_delivery.py left it.
"""

import os
import subprocess
import time

import dsn
import lab
import topology as T

DELIVERY_TIMEOUT = 30.0
POSTMASTER = "postmaster@sender.test"
SHORT_LIFE = {
    "delay_warning_time": "1s",
    "maximal_queue_lifetime": "6s",
    "bounce_queue_lifetime": "6s",
    "postmaster": '"%s"' % POSTMASTER,
}


def expect(cond, msg):
    if not cond:
        raise AssertionError(msg)


def restart_with(L, settings=None):
    L.stop_daemon()
    L.write_config(settings)
    L.start_daemon()


def dsns_for(L, rcpt, action, to=T.SENDER, timeout=DELIVERY_TIMEOUT):
    """Wait for a DSN about rcpt with the given Action, sent to `to`."""
    box = L.receiver("sender")
    deadline = time.monotonic() + timeout
    while True:
        for rec, msg, per_msg, f in dsn.for_recipient(box.messages(), rcpt):
            if (f.get("action", "").lower() == action and
                    [r.lower() for r in rec["rcpt_tos"]] == [to]):
                return rec, msg, per_msg, f
        L.check_daemon()
        if time.monotonic() >= deadline:
            raise lab.LabError("no '%s' DSN about %s to %s after %.0fs\n"
                               "--- sealpostd log tail:\n%s"
                               % (action, rcpt, to, timeout, L.daemon_log_tail()))
        time.sleep(0.2)


def mailq(L):
    r = subprocess.run([L.bin("mta/sendmail"), "-C", L.conf, "-bp"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    expect(r.returncode == 0, "mailq exited %d: %s" % (r.returncode, r.stderr))
    return r.stdout.decode("utf-8", "replace")


# ----------------------------------------------------------------- cases

def test_k_opportunistic_starttls_sends_sni(L):
    """(k) STARTTLS is used when offered, with SNI = the MX host name"""
    rcpt = "carol@sink.test"
    msg = L.message(rcpt)
    L.sendmail([rcpt], msg)
    m = L.receiver("sink").wait_message_id(L.message_id(msg), DELIVERY_TIMEOUT)
    expect(m["tls"], "delivered without TLS although STARTTLS was offered")
    expect(m["sni"] == "mx.sink.test", "SNI %r, want mx.sink.test" % m["sni"])
    log = L.daemon_log()
    expect("to=<%s>" % rcpt in log and "tls=TLSv1" in log,
           "delivery log line lacks the TLS verdict")


def test_k2_failed_opportunistic_handshake_retried_in_clear(L):
    """(k2) STARTTLS offered but the handshake fails: opportunistic TLS
    retries the same host in cleartext and delivers (as Postfix does)"""
    rcpt = "dave@brokentls.test"
    msg = L.message(rcpt)
    L.sendmail([rcpt], msg)
    r = L.receiver("brokentls")
    m = r.wait_message_id(L.message_id(msg), DELIVERY_TIMEOUT)
    expect(r.events("broken-tls"), "the handshake was never attempted")
    expect(not m["tls"], "delivered with TLS by a server that cannot do it")
    log = L.daemon_log()
    expect("without TLS" in log, "no log line about the cleartext retry")


def test_l_delay_warning_then_expiry(L):
    """(l) a recipient that keeps failing temporarily gets a delay notice
    (delay_warning_time), then bounces when the queue lifetime is over;
    mailq shows the reason while it waits"""
    restart_with(L, SHORT_LIFE)
    try:
        rcpt = "bob@expire.test"
        msg = L.message(rcpt)
        L.sendmail([rcpt], msg)
        rec, dmsg, per_msg, f = dsns_for(L, rcpt, "delayed")
        expect(f.get("status", "").startswith("4."),
               "delay notice Status %r" % f.get("status"))
        expect("will-retry-until" in f, "delay notice lacks Will-Retry-Until")
        q = mailq(L)
        expect(rcpt in q and "451" in q,
               "mailq does not show the waiting recipient and its reason:\n" + q)
        rec, dmsg, per_msg, f = dsns_for(L, rcpt, "failed", timeout=40.0)
        expect("expired" in (f.get("diagnostic-code", "") +
                             dsn.parse(rec).as_string()).lower(),
               "expiry bounce does not say the message expired")
        expect(L.message_id(msg) in dsn.returned_content(dmsg),
               "expiry bounce does not return the original")
        time.sleep(1.0)
        expect(rcpt not in mailq(L), "expired message still queued")
    finally:
        restart_with(L)


def test_m_undeliverable_bounce_goes_to_postmaster(L):
    """(m) a null-sender message that bounces is never returned to <>: the
    failure goes once to the postmaster (double bounce)"""
    restart_with(L, SHORT_LIFE)
    try:
        rcpt = "nosuchuser@reject.test"
        msg = L.message(rcpt, subject="a bounce that bounces")
        L.sendmail([rcpt], msg, sender="<>")
        rec, dmsg, per_msg, f = dsns_for(L, rcpt, "failed", to=POSTMASTER)
        expect(rec["mail_from"] in ("", "<>"), "double bounce MAIL FROM %r" % rec["mail_from"])
        expect(f.get("status", "").startswith("5.1.1"), "Status %r" % f.get("status"))
        # exactly one notification, and none to an empty address
        time.sleep(2.0)
        hits = [h for h in dsn.for_recipient(L.receiver("sender").messages(), rcpt)
                if [r.lower() for r in h[0]["rcpt_tos"]] == [POSTMASTER]]
        expect(len(hits) == 1, "%d postmaster notifications, want 1" % len(hits))
    finally:
        restart_with(L)


def _spool_files(d):
    try:
        return sorted(os.listdir(d))
    except FileNotFoundError:
        return []


def test_n_full_spool_loses_nothing(L):
    """(n) with the spool's file system full, sendmail either accepts a
    message durably (exit 0, delivered later) or refuses it (exit 75,
    EX_TEMPFAIL) leaving nothing behind; the daemon keeps running and
    delivers everything it accepted once space is back"""
    mnt = L.path("fullspool")
    os.makedirs(mnt, exist_ok=True)
    L.stop_daemon()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt], check=True)
    filler = os.path.join(mnt, "filler")
    try:
        restart_with(L, {"spool_directory": '"%s"' % os.path.join(mnt, "spool")})
        # a first message makes the database and its WAL exist
        first = L.message("bob@fulldisk.test")
        L.sendmail(["bob@fulldisk.test"], first)
        L.receiver("fulldisk").wait_message_id(L.message_id(first), DELIVERY_TIMEOUT)
        # fill the file system, leaving a few pages
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError:
            pass
        finally:
            os.close(fd)
        os.truncate(filler, max(0, os.path.getsize(filler) - 6 * 4096))
        accepted, refused = [], []
        for i in range(12):
            rcpt = "full%d@fulldisk.test" % i
            msg = L.message(rcpt, body="x" * 3000 + "\n")
            r = L.sendmail([rcpt], msg, check=False)
            expect(r.returncode in (0, 75),
                   "sendmail exited %d on a full disk: %s" % (r.returncode, r.stderr))
            (accepted if r.returncode == 0 else refused).append(L.message_id(msg))
        lab.log("n: full spool: %d accepted, %d refused (EX_TEMPFAIL)"
                % (len(accepted), len(refused)))
        expect(refused, "the full disk was never hit")
        drop = os.path.join(mnt, "spool", "maildrop")
        leftovers = [n for n in _spool_files(drop) if n.startswith(".")]
        expect(not leftovers, "partial drop files left behind: %s" % leftovers)
        time.sleep(1.0)
        L.check_daemon()
        os.unlink(filler)
        box = L.receiver("fulldisk")
        for mid in accepted:
            box.wait_message_id(mid, DELIVERY_TIMEOUT)
        time.sleep(1.0)
        got = {m.get("message_id") for m in box.messages()}
        for mid in refused:
            expect(mid not in got, "refused message %s was delivered" % mid)
    finally:
        L.stop_daemon()
        subprocess.run(["umount", "-l", mnt], check=False)
        L.write_config()
        L.start_daemon()
