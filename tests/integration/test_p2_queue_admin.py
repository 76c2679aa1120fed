"""P2 queue administration: sealpost queue list/show/hold/release/requeue/
delete against a queue with held, deferred and active mail, while the
daemon runs and while it is stopped.

All mail of these cases goes through a relayhost, so no DNS or topology
entry is needed:
    [127.0.10.150]  receiver.py "p2admin" with --defer-first 3: the first
                    three transactions get 451, the rest are accepted
    [127.0.10.151]  a listener inside this test that accepts connections
                    and never greets until released: mail sent there stays
                    "active" (a delivery in flight) as long as we like
minimal_backoff is one hour, so a deferred message stays deferred until
an administrator acts.  Messages are found by their unique recipient in
"queue list --json".  The last case puts back the lab's standard
configuration (no relayhost) and restarts the daemon, so later files see
what they expect.
"""

import json
import os
import socket
import subprocess
import threading
import time
import uuid

import lab
import topology as T

RELAY_DEFER = "127.0.10.150"
RELAY_STALL = "127.0.10.151"
DEFER_FIRST = 3
DELIVERY_TIMEOUT = 30.0
NOT_DELIVERED_WAIT = 2.5     # queue_run_delay is 1s: plenty of retry ticks
EX_OK, EX_USAGE, EX_NOINPUT, EX_UNAVAILABLE = 0, 64, 66, 69

_state = {}


def expect(cond, msg):
    if not cond:
        raise AssertionError(msg)


def uid():
    return uuid.uuid4().hex[:10]


# ------------------------------------------------------------------ helpers


class Staller:
    """Accepts SMTP connections and says nothing until released."""

    def __init__(self, addr, port=25):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((addr, port))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.conns = []
        self.lock = threading.Lock()
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.conns.append(c)

    def count(self):
        with self.lock:
            return len(self.conns)

    def release(self):
        with self.lock:
            for c in self.conns:
                c.close()
            self.conns = []

    def close(self):
        self.stopping = True
        self.thread.join(2)
        self.release()
        self.sock.close()


def admin(L, *args, check=None):
    """Run build/mta/sealpost -c CONF args...; returns (rc, stdout, stderr)."""
    argv = [L.bin("mta/sealpost"), "-c", L.conf] + list(args)
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    out = r.stdout.decode("utf-8", "replace")
    err = r.stderr.decode("utf-8", "replace")
    if any(m in err for m in L.SANITIZER_MARKERS):
        raise lab.LabError("sanitizer report from sealpost %s:\n%s" % (args, err))
    if check is not None and r.returncode != check:
        raise AssertionError("sealpost %s: exit %d, want %d\nstdout: %s\nstderr: %s"
                             % (" ".join(args), r.returncode, check, out, err))
    return r.returncode, out, err


def queue_json(L):
    rc, out, err = admin(L, "queue", "list", "--json", check=EX_OK)
    return json.loads(out)


def find(L, rcpt):
    """The list --json entry whose recipient is rcpt, or None."""
    for m in queue_json(L):
        if any(r["address"] == rcpt for r in m["recipients"]):
            return m
    return None


def wait_queued(L, rcpt, pred=lambda m: True, timeout=DELIVERY_TIMEOUT, what="queued"):
    deadline = time.monotonic() + timeout
    while True:
        m = find(L, rcpt)
        if m is not None and pred(m):
            return m
        L.check_daemon()
        if time.monotonic() >= deadline:
            raise lab.LabError("%s: not %s after %.0fs (entry %r)\n--- sealpostd log tail:\n%s"
                               % (rcpt, what, timeout, m, L.daemon_log_tail()))
        time.sleep(0.1)


def wait_gone(L, rcpt, timeout=DELIVERY_TIMEOUT):
    deadline = time.monotonic() + timeout
    while find(L, rcpt) is not None:
        L.check_daemon()
        if time.monotonic() >= deadline:
            raise lab.LabError("%s still queued after %.0fs\n--- sealpostd log tail:\n%s"
                               % (rcpt, timeout, L.daemon_log_tail()))
        time.sleep(0.1)


def deferred(m):
    r = m["recipients"][0]
    return r["attempts"] >= 1 and r.get("next_try", 0) > time.time() + 600


def show(L, qid, json_out=False):
    args = ["queue", "show"] + (["--json"] if json_out else []) + [qid]
    rc, out, err = admin(L, *args, check=EX_OK)
    return json.loads(out) if json_out else out


def submit(L, tag):
    """One message to a unique recipient; returns (rcpt, message-id)."""
    rcpt = "p2adm-%s-%s@p2admin.test" % (tag, uid())
    msg = L.message(rcpt, subject="p2 queue admin %s" % tag)
    L.sendmail([rcpt], msg)
    return rcpt, L.message_id(msg)


def got(L, mid):
    return any(m["message_id"] == mid for m in L.receiver("p2admin").messages())


def not_delivered(L, mid, wait=NOT_DELIVERED_WAIT):
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        expect(not got(L, mid), "message %s was delivered" % mid)
        L.check_daemon()
        time.sleep(0.1)


def setup(L, relay):
    """Receiver, staller and a config whose relayhost is `relay`."""
    st = _state.setdefault(L.rundir, {})
    if "receiver" not in st:
        L.start_receiver(T.MailHost("p2admin", [RELAY_DEFER], None,
                                    ["--defer-first", str(DEFER_FIRST)]), wait=True)
        st["receiver"] = True
    if "staller" not in st:
        st["staller"] = Staller(RELAY_STALL)
    if st.get("relay") == relay and L.daemon is not None and L.daemon.alive():
        return st
    if L.daemon is not None and L.daemon.alive():
        rc = L.stop_daemon()
        expect(rc == 0, "sealpostd exited with status %s on SIGTERM" % rc)
    L.write_config(settings={"minimal_backoff": "1h", "maximal_backoff": "2h"},
                   extra='relayhost {\n\thost = "[%s]"\n}' % relay)
    L.start_daemon()
    st["relay"] = relay
    return st


# ------------------------------------------------------------------- cases


def test_a_list_show_hold_requeue_release_delete(L):
    """(a) deferred and held mail: list marks held '!', show gives the
    recipients and reasons, requeue sends a deferred message now, hold keeps
    one back until release, delete removes one that is never delivered"""
    setup(L, RELAY_DEFER)
    box = L.receiver("p2admin")
    msgs = {}
    for tag in ("req", "hold", "del"):
        msgs[tag] = submit(L, tag)
        rcpt = msgs[tag][0]
        wait_queued(L, rcpt, deferred, what="deferred")
    expect(len(box.events("defer")) >= DEFER_FIRST,
           "receiver deferred %d transactions" % len(box.events("defer")))
    qid = {t: find(L, msgs[t][0])["queue_id"] for t in msgs}

    # hold one; the listing marks it with '!'
    rc, out, err = admin(L, "queue", "hold", qid["hold"], check=EX_OK)
    expect(qid["hold"] in out, "hold said %r" % out)
    rc, out, err = admin(L, "queue", "list", check=EX_OK)
    lines = {l.split()[0].rstrip("!"): l for l in out.splitlines()
             if l[:16] in qid.values()}
    expect(set(lines) == set(qid.values()), "list shows %s, want %s\n%s"
           % (sorted(lines), sorted(qid.values()), out))
    expect(lines[qid["hold"]][16] == "!", "held message not marked: %r" % lines[qid["hold"]])
    expect(lines[qid["del"]][16] == " ", "deferred message marked: %r" % lines[qid["del"]])
    expect("try again later" in out, "list lacks the deferral reason:\n%s" % out)
    j = find(L, msgs["hold"][0])
    expect(j["held"] is True, "list --json: held=%r" % j["held"])

    # show: envelope, recipient state and reason, headers
    text = show(L, qid["del"])
    for want in ("Queue ID:    %s" % qid["del"], "Status:      deferred",
                 "Sender:      <%s>" % T.SENDER, "<%s>" % msgs["del"][0],
                 "State:     pending", "Attempts:  1", "Next try:",
                 "Status:    4.3.0", "try again later",
                 "Relay:     %s" % RELAY_DEFER, "Message-ID: %s" % msgs["del"][1]):
        expect(want in text, "show lacks %r:\n%s" % (want, text))
    sj = show(L, qid["hold"], json_out=True)
    r0 = sj["recipients"][0]
    expect(sj["status"] == "held" and sj["held"] is True, "show --json: %r" % sj)
    expect(r0["state"] == "pending" and r0["attempts"] == 1 and
           r0["status"] == "4.3.0" and "try again later" in r0["reason"],
           "recipient %r" % r0)
    expect(any(h.lower().startswith("message-id:") and msgs["hold"][1] in h
               for h in sj["headers"]), "headers %r" % sj["headers"])

    # requeue: the deferred message goes now, its backoff reset
    admin(L, "queue", "requeue", qid["req"], check=EX_OK)
    box.wait_message_id(msgs["req"][1], DELIVERY_TIMEOUT)
    wait_gone(L, msgs["req"][0])

    # a held message is not delivered, even requeued, until released
    admin(L, "queue", "requeue", qid["hold"], check=EX_OK)
    j = find(L, msgs["hold"][0])
    expect(j["held"] and j["recipients"][0]["attempts"] == 0 and
           "next_try" not in j["recipients"][0], "requeued held message: %r" % j)
    not_delivered(L, msgs["hold"][1])
    rc, out, err = admin(L, "queue", "release", qid["hold"], check=EX_OK)
    box.wait_message_id(msgs["hold"][1], DELIVERY_TIMEOUT)
    wait_gone(L, msgs["hold"][0])

    # delete a deferred message: gone, and never delivered even on a flush
    admin(L, "queue", "delete", qid["del"], check=EX_OK)
    expect(find(L, msgs["del"][0]) is None, "deleted message still listed")
    admin(L, "queue", "flush", check=EX_OK)
    not_delivered(L, msgs["del"][1])
    rc, out, err = admin(L, "queue", "show", qid["del"], check=EX_NOINPUT)
    expect(qid["del"] in err and "no such message" in err, "show of deleted: %r" % err)
    expect("%s: removed (deleted by the administrator)" % qid["del"] in L.daemon_log(),
           "daemon log lacks the removal")


def test_b_unknown_ids(L):
    """(b) unknown and malformed IDs: a clear message and exit 66 (EX_NOINPUT);
    the valid IDs on the same command line are still acted on"""
    setup(L, RELAY_DEFER)
    rc, out, err = admin(L, "queue", "hold", "0000000000000000", check=EX_NOINPUT)
    expect("0000000000000000: no such message" in err, "stderr %r" % err)
    rc, out, err = admin(L, "queue", "delete", "../etc/passwd", check=EX_NOINPUT)
    expect("not a queue ID" in err, "stderr %r" % err)
    rc, out, err = admin(L, "queue", "show", "ZZZZZZZZZZZZZZZZ", check=EX_NOINPUT)
    expect("no such message" in err, "stderr %r" % err)
    admin(L, "queue", "bogus", check=EX_USAGE)
    admin(L, "queue", "hold", check=EX_USAGE)
    admin(L, "queue", "hold", "ALL", "0000000000000000", check=EX_USAGE)

    # a message held at once, so it stays put (the receiver accepts now)
    st = setup(L, RELAY_STALL)
    rcpt, mid = submit(L, "mixed")
    m = wait_queued(L, rcpt)
    rc, out, err = admin(L, "queue", "hold", m["queue_id"], "0000000000000001",
                         check=EX_NOINPUT)
    expect("%s: held" % m["queue_id"] in out, "stdout %r" % out)
    expect("0000000000000001: no such message" in err, "stderr %r" % err)
    expect(find(L, rcpt)["held"], "valid ID was not held")
    admin(L, "queue", "delete", m["queue_id"], check=EX_OK)
    st["staller"].release()
    wait_gone(L, rcpt)


def test_c_active_mail(L):
    """(c) mail in delivery: listed and shown as active; hold stops new
    attempts, delete is carried out when the running attempt returns (the
    daemon survives it), and the held one is not retried"""
    logpos = L.daemon_log_size()    # earlier cases may have logged failures
    st = setup(L, RELAY_STALL)
    stall = st["staller"]
    stall.release()
    before = stall.count()
    act_del = submit(L, "act-del")
    act_hold = submit(L, "act-hold")
    lab.wait_until(lambda: stall.count() >= before + 2, DELIVERY_TIMEOUT,
                   what="two deliveries in flight at the staller")
    qd = wait_queued(L, act_del[0])["queue_id"]
    qh = wait_queued(L, act_hold[0])["queue_id"]
    text = show(L, qd)
    expect("Status:      active" in text and "Attempts:  0" in text,
           "show of a message in delivery:\n%s" % text)
    rc, out, err = admin(L, "queue", "list", check=EX_OK)
    expect(qd in out and qh in out, "list lacks active mail:\n%s" % out)

    admin(L, "queue", "hold", qh, check=EX_OK)
    rc, out, err = admin(L, "queue", "delete", qd, check=EX_OK)
    # still there (held) until the attempt returns
    m = find(L, act_del[0])
    expect(m is not None and m["held"], "in-flight delete: %r" % m)
    rc, out, err = admin(L, "queue", "release", qd, check=EX_UNAVAILABLE)
    expect("being deleted" in err, "release of a message being deleted: %r" % err)

    stall.release()        # the attempts fail: lost connection, deferred
    wait_gone(L, act_del[0])
    m = wait_queued(L, act_hold[0], lambda m: m["recipients"][0]["attempts"] == 1,
                    what="back from its attempt")
    expect(m["held"], "held message lost its flag: %r" % m)
    n = stall.count()
    admin(L, "queue", "flush", check=EX_OK)
    time.sleep(NOT_DELIVERED_WAIT)
    expect(stall.count() == n, "held message was tried again")
    log = L.daemon_log(logpos)
    expect("%s: removed (deleted by the administrator)" % qd in log,
           "no removal of %s in the daemon log" % qd)
    expect("queue update failed" not in log, "a queue update failed:\n%s"
           % L.daemon_log_tail())
    admin(L, "queue", "delete", qh, check=EX_OK)
    wait_gone(L, act_hold[0])


def test_d_daemon_stopped(L):
    """(d) with the daemon stopped: hold and delete work on the spool (database
    and maildrop files); after the restart the held message stays until
    released, the deleted ones never come back"""
    st = setup(L, RELAY_STALL)
    stall = st["staller"]
    stall.release()
    before = stall.count()
    # one in the database: its attempt fails, it is held, deleted later
    rcpt_db, mid_db = submit(L, "stop-db")
    lab.wait_until(lambda: stall.count() > before, DELIVERY_TIMEOUT,
                   what="the delivery at the staller")
    qdb = wait_queued(L, rcpt_db)["queue_id"]
    admin(L, "queue", "hold", qdb, check=EX_OK)
    stall.release()
    wait_queued(L, rcpt_db, lambda m: m["recipients"][0]["attempts"] == 1,
                what="back from its attempt")

    rc = L.stop_daemon()
    expect(rc == 0, "sealpostd exited with status %s" % rc)
    spool = L.path("sealpost-spool")
    expect(not os.path.exists(os.path.join(spool, "sealpostd.sock")),
           "control socket left behind")
    # next start delivers to the receiver
    L.write_config(settings={"minimal_backoff": "1h", "maximal_backoff": "2h"},
                   extra='relayhost {\n\thost = "[%s]"\n}' % RELAY_DEFER)
    st["relay"] = RELAY_DEFER
    # while stopped, sendmail leaves mail in the maildrop
    held, mid_held = submit(L, "stop-hold")
    gone, mid_gone = submit(L, "stop-del")
    qh = wait_queued(L, held, timeout=5)["queue_id"]
    qg = wait_queued(L, gone, timeout=5)["queue_id"]
    expect(find(L, held).get("maildrop") is True, "not listed as maildrop")
    text = show(L, qh)
    expect("Status:      maildrop" in text, "show of a maildrop file:\n%s" % text)
    admin(L, "queue", "hold", qh, check=EX_OK)
    admin(L, "queue", "delete", qg, qdb, check=EX_OK)
    drop = os.path.join(spool, "maildrop")
    expect(not os.path.exists(os.path.join(drop, qg)), "deleted drop file remains")
    expect(not os.path.exists(os.path.join(drop, qh)), "held drop file not imported")
    m = find(L, held)
    expect(m is not None and m["held"] and "maildrop" not in m,
           "held maildrop message not in the database: %r" % m)
    expect(find(L, gone) is None and find(L, rcpt_db) is None,
           "deleted messages still listed")
    admin(L, "queue", "flush", check=EX_UNAVAILABLE)
    admin(L, "queue", "hold", "0000000000000000", check=EX_NOINPUT)

    L.start_daemon()
    not_delivered(L, mid_held)
    for mid in (mid_gone, mid_db):
        expect(not got(L, mid), "deleted message %s was delivered" % mid)
    expect(stall.count() == 0, "the staller was contacted after the restart")
    expect(find(L, held)["held"], "held flag lost over the restart")
    admin(L, "queue", "release", qh, check=EX_OK)
    L.receiver("p2admin").wait_message_id(mid_held, DELIVERY_TIMEOUT)
    wait_gone(L, held)
    for mid in (mid_gone, mid_db):
        expect(not got(L, mid), "deleted message %s was delivered" % mid)


def test_e_restore_standard_config(L):
    """(e) put back the lab's standard configuration for later files"""
    st = _state.get(L.rundir, {})
    if L.daemon is not None and L.daemon.alive():
        L.stop_daemon()
    L.write_config()
    L.start_daemon()
    if st.get("staller"):
        st["staller"].close()
        st["staller"] = None
    st["relay"] = None
