"""P1 delivery cases: MX selection, fallback, bounces, retries, crash safety.

Each case submits through build/mta/sendmail and watches the lab's
receivers (names in tests/lab/topology.py).  Every domain and receiver is
used by one case only, except sender.test, which gets the bounces (DSNs)
of cases e and f and tells them apart by recipient.
"""

import concurrent.futures
import threading
import time
import uuid

import dsn
import lab
import topology as T

DELIVERY_TIMEOUT = 30.0     # a working relay needs well under 2 s
RETRY_TIMEOUT = 40.0        # minimal_backoff 2s, queue_run_delay 1s
BURST = 500
BURST_TIMEOUT = 180.0
KILL_AT = (150, 350)         # SIGKILL the daemon after this many submissions


def expect(cond, msg):
    if not cond:
        raise AssertionError(msg)


def submit(L, rcpt, **kw):
    msg = L.message(rcpt, **kw)
    L.sendmail([rcpt], msg)
    return L.message_id(msg)


def from_relay(m, rcpt):
    expect(m["peer"][0] in ("127.0.0.1", "::1") or m["peer"][0].startswith("fd00:"),
           "unexpected client address %s" % m["peer"])
    expect(m["mail_from"] == T.SENDER, "MAIL FROM %r, want %r" % (m["mail_from"], T.SENDER))
    expect([r.lower() for r in m["rcpt_tos"]] == [rcpt.lower()],
           "RCPT TO %r, want [%r]" % (m["rcpt_tos"], rcpt))


def no_contact(L, name):
    r = L.receiver(name)
    expect(r.count() == 0 and not r.events("connect"),
           "%s was contacted: %d messages, events %s" % (name, r.count(), r.events()))


def wait_dsn(L, rcpt, timeout=DELIVERY_TIMEOUT):
    """The DSN for rcpt delivered to the sender's mailbox (sender.test)."""
    box = L.receiver("sender")
    deadline = time.monotonic() + timeout
    while True:
        hits = dsn.for_recipient(box.messages(), rcpt)
        if hits:
            return hits[0]
        L.check_daemon()
        if time.monotonic() >= deadline:
            raise lab.LabError("no DSN for %s at sender.test after %.0fs "
                               "(%d messages there)\n--- sealpostd log tail:\n%s"
                               % (rcpt, timeout, box.count(), L.daemon_log_tail()))
        time.sleep(0.2)


def check_bounce(rec, msg, per_msg, fields, rcpt, status, mid):
    expect(rec["mail_from"] in ("<>", ""), "DSN MAIL FROM %r, want <>" % rec["mail_from"])
    expect([r.lower() for r in rec["rcpt_tos"]] == [T.SENDER],
           "DSN sent to %r" % rec["rcpt_tos"])
    expect(fields.get("action", "").lower() == "failed",
           "Action %r, want failed" % fields.get("action"))
    expect(fields.get("status", "").split()[0:1] == [status],
           "Status %r, want %s" % (fields.get("status"), status))
    expect("reporting-mta" in per_msg, "no Reporting-MTA in %s" % per_msg)
    ret = dsn.returned_content(msg)
    expect(mid in ret, "returned content lacks the original Message-ID %s" % mid)


# ----------------------------------------------------------------- cases


def test_a_lowest_preference_mx(L):
    """(a) delivery goes to the MX with the lowest preference value"""
    rcpt = "bob@twomx.test"
    mid = submit(L, rcpt)
    m = L.receiver("twomx-mx1").wait_message_id(mid, DELIVERY_TIMEOUT)
    from_relay(m, rcpt)
    expect(m["helo"] == T.RELAY_HOSTNAME, "HELO %r, want %r" % (m["helo"], T.RELAY_HOSTNAME))
    time.sleep(0.5)
    no_contact(L, "twomx-mx2")
    lab.log("a: TLS %s" % m["tls"])


def test_b_fallback_on_refused_connection(L):
    """(b) the first MX refuses connections: the next MX gets the message"""
    rcpt = "bob@refuse.test"
    mid = submit(L, rcpt)
    m = L.receiver("refuse-mx2").wait_message_id(mid, DELIVERY_TIMEOUT)
    from_relay(m, rcpt)


def test_c_fallback_on_421_greeting(L):
    """(c) the first MX greets with 421: the next MX gets the message"""
    rcpt = "bob@greet421.test"
    mid = submit(L, rcpt)
    m = L.receiver("greet421-mx2").wait_message_id(mid, DELIVERY_TIMEOUT)
    from_relay(m, rcpt)
    mx1 = L.receiver("greet421-mx1")
    expect(mx1.events("greeting-reject"), "mx1 (421) was never tried")


def test_d_implicit_mx(L):
    """(d) no MX record: deliver to the domain's own address (RFC 5321 5.1)"""
    rcpt = "bob@implicit.test"
    mid = submit(L, rcpt)
    m = L.receiver("implicit").wait_message_id(mid, DELIVERY_TIMEOUT)
    from_relay(m, rcpt)


def test_e_null_mx_bounces(L):
    """(e) null MX (RFC 7505): bounce at once, DSN Status 5.1.10 to the sender"""
    rcpt = "nobody@nullmx.test"
    mid = submit(L, rcpt)
    rec, msg, per_msg, f = wait_dsn(L, rcpt)
    check_bounce(rec, msg, per_msg, f, rcpt, "5.1.10", mid)


def test_f_rcpt_5xx_bounces(L):
    """(f) 550 5.1.1 for one recipient: DSN 5.1.1 with the remote reply,
    the other recipient of the same message is delivered"""
    bad, good = "nosuchuser@reject.test", "okuser@reject.test"
    msg = L.message([bad, good])
    mid = L.message_id(msg)
    L.sendmail([bad, good], msg)
    m = L.receiver("reject").wait_message_id(mid, DELIVERY_TIMEOUT)
    expect([r.lower() for r in m["rcpt_tos"]] == [good],
           "receiver got RCPT %r, want [%r]" % (m["rcpt_tos"], good))
    rec, dmsg, per_msg, f = wait_dsn(L, bad)
    check_bounce(rec, dmsg, per_msg, f, bad, "5.1.1", mid)
    diag = f.get("diagnostic-code", "")
    expect("550" in diag and "lab: recipient rejected" in diag,
           "Diagnostic-Code %r lacks the remote reply" % diag)
    expect(not dsn.for_recipient(L.receiver("sender").messages(), good),
           "a DSN was sent for the delivered recipient %s" % good)


def test_g_4xx_deferred_then_delivered(L):
    """(g) 451 at end of DATA: deferred, retried, delivered; no bounce"""
    rcpt = "bob@defer.test"
    mid = submit(L, rcpt)
    r = L.receiver("defer")
    m = r.wait_message_id(mid, RETRY_TIMEOUT)
    from_relay(m, rcpt)
    defers = r.events("defer")
    expect(len(defers) == 1, "want exactly one deferred attempt, got %d" % len(defers))
    expect(not dsn.for_recipient(L.receiver("sender").messages(), rcpt),
           "the sender got a DSN for a deferred-then-delivered message")
    lab.log("g: retried after %.1fs" % (m["received"] - defers[0]["time"]))


def test_h_submit_while_daemon_stopped(L):
    """(h) sendmail works while sealpostd is down; delivered after start"""
    L.stop_daemon()
    rcpt = "bob@sink.test"
    mid = submit(L, rcpt)
    time.sleep(1.0)
    expect(L.receiver("sink").count() == 0, "delivered while the daemon was stopped?")
    L.start_daemon()
    m = L.receiver("sink").wait_message_id(mid, DELIVERY_TIMEOUT)
    from_relay(m, rcpt)


def test_i_kill9_during_burst(L):
    """(i) SIGKILL sealpostd (twice) during a 500-message burst; after each
    restart delivery goes on and every message arrives (duplicates allowed,
    counted)"""
    rcpt = "bulk@burst.test"
    run = uuid.uuid4().hex[:12]
    rcv = L.receiver("burst")
    submitted = []
    lock = threading.Lock()
    errors = []

    def one(i):
        msg = L.message(rcpt, subject="burst %d" % i,
                        headers={"X-Lab-Burst": "%s %d" % (run, i)})
        try:
            L.sendmail([rcpt], msg, timeout=60)
        except Exception as e:  # noqa: BLE001 - collected below
            errors.append("%d: %s" % (i, e))
            return
        with lock:
            submitted.append(i)

    kills = []
    t0 = time.monotonic()
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=8)
    try:
        futs = [pool.submit(one, i) for i in range(BURST)]
        for at in KILL_AT:
            # crash once `at` are in and deliveries are under way
            lab.wait_until(lambda: len(submitted) >= at or errors, 120,
                           what="%d submissions" % at)
            deadline = time.monotonic() + 5
            while rcv.count() < 10 and time.monotonic() < deadline:
                time.sleep(0.05)
            with lock:
                kills.append("%d submitted/%d delivered" % (len(submitted), rcv.count()))
            L.kill_daemon()
            time.sleep(0.3)
            L.start_daemon()
        concurrent.futures.wait(futs, timeout=300)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    expect(not errors, "sendmail failed %d times: %s" % (len(errors), errors[:5]))
    expect(len(submitted) == BURST, "only %d of %d submitted" % (len(submitted), BURST))
    lab.log("i: SIGKILL at %s; submission took %.1fs"
            % (", ".join(kills), time.monotonic() - t0))

    def seen():
        ids = []
        for m in rcv.messages():
            for line in m["data"].splitlines():
                if line.startswith("X-Lab-Burst: %s " % run):
                    ids.append(int(line.split()[-1]))
                    break
                if not line:
                    break
        return ids

    deadline = time.monotonic() + BURST_TIMEOUT
    while True:
        ids = seen()
        if len(set(ids)) >= BURST:
            break
        L.check_daemon()
        if time.monotonic() >= deadline:
            missing = sorted(set(range(BURST)) - set(ids))
            raise lab.LabError("%d of %d burst messages arrived after %.0fs; "
                               "missing e.g. %s\n--- sealpostd log tail:\n%s"
                               % (len(set(ids)), BURST, BURST_TIMEOUT, missing[:10],
                                  L.daemon_log_tail()))
        time.sleep(0.5)
    dups = len(ids) - len(set(ids))
    lab.log("i: all %d arrived in %.1fs, %d duplicate deliveries"
            % (BURST, time.monotonic() - t0, dups))
    print("i: duplicates after kill -9: %d" % dups, flush=True)


def test_j_ipv6_only_mx(L):
    """(j) MX host with only an AAAA record: delivered over IPv6"""
    rcpt = "bob@v6only.test"
    mid = submit(L, rcpt)
    m = L.receiver("v6only").wait_message_id(mid, DELIVERY_TIMEOUT)
    from_relay(m, rcpt)
    expect(":" in m["peer"][0], "client address %s is not IPv6" % m["peer"][0])
