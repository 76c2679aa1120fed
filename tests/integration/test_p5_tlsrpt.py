"""P5 TLS-RPT sending cases (issue 6, docs/tlsrpt-contract.md section 4).

The lab side is in tests/lab/topology.py ("P5"): tlsrpt.test holds the
report mailbox (receiver rpt-mx, started here) and the HTTPS endpoint
(tests/lab/rptserver.py, started here); test1/test3.daneseed.test,
dane.test, ok/mismatch.sts.test publish _smtp._tls records, sink.test
does not; sender.test publishes the DKIM key the lab generated.

One daemon run with its own spool (so only these deliveries are in
tlsrpt.db), minimal_backoff 1h (a deferred message is tried exactly
once, so failure counts are exact), the DKIM key and selector set.
Deliveries:
  test1.daneseed.test  DANE: MX 10 fails (key mismatch), MX 20 verified
  dane.test            DANE: verified
  ok.sts.test          MTA-STS enforce: verified
  mismatch.sts.test    MTA-STS enforce: certificate names another host
  sink.test            no policy, no _smtp._tls record
Then `sealpost tlsrpt send-now --day <today>` and the reports are
checked where they arrive: the lab mailbox (MIME structure, headers,
Subject, filename, gzip, JSON, DKIM with python3-dkim against the key in
the lab's DNS) and the HTTPS endpoint (POST, media type, gzip JSON).
Later cases: a second send-now sends nothing; a restart between the
deliveries and the send loses no count and resends nothing.  The last
case puts the default configuration back.
"""

import base64
import datetime
import email
import email.policy
import gzip
import json
import os
import re
import subprocess
import time

import lab
import topology as T
from test_p4_sts import lab_up as p4_lab_up

TODAY = None
SUBMITTER = "sender.test"
ORG = "Sealpost Lab Reports"
CONTACT = "mailto:tlsrpt-admin@sender.test"
REPORT_WAIT = 40.0

RCPT = {
    "test1": "bob@test1.%s" % T.SEED,
    "dane": "bob@dane.test",
    "sts-ok": "bob@ok.%s" % T.STS,
    "sts-mismatch": "bob@mismatch.%s" % T.STS,
    "sink": "bob@sink.test",
    "test3": "bob@test3.%s" % T.SEED,
    "twomx": "bob@twomx.test",
    "reject": "bob@reject.test",
}
DELIVERED = {"test1": "seed-good", "dane": "dane-mx", "sts-ok": "sts-ok",
             "sink": "sink"}


def expect(cond, msg):
    if not cond:
        raise AssertionError(msg)


def sealpost(L, *args, timeout=30):
    r = subprocess.run([L.bin("mta/sealpost"), "-c", L.conf] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    return r.returncode, r.stdout.decode("utf-8", "replace"), \
        r.stderr.decode("utf-8", "replace")


class Run:
    def __init__(self):
        self.error = None
        self.sub = {}
        self.web_spool = None
        self.logpos = 0


def p5_config(L):
    spool = L.path("sealpost-spool-p5")
    os.makedirs(spool, exist_ok=True)
    q = lambda s: '"%s"' % s  # noqa: E731
    return L.write_config(settings={
        "spool_directory": q(spool),
        "minimal_backoff": "1h", "maximal_backoff": "2h",
        "tlsrpt_organization": q(ORG),
        "tlsrpt_contact": q(CONTACT),
        "tlsrpt_dkim_key": q(L.path("pki", T.RPT_DKIM_KEY + ".key")),
        "tlsrpt_dkim_selector": T.RPT_DKIM_SELECTOR,
    })


def start_hosts(L, hosts):
    started = [L.start_receiver(h) for h in hosts if h.name not in L.receivers]
    for r in started:
        lab.wait_until(lambda: os.path.exists(r.pidfile) or not r.proc.alive(),
                       lab.START_TIMEOUT, what="receiver " + r.name)
        if not r.proc.alive():
            raise lab.LabError("receiver %s died:\n%s" % (r.name, lab.tail(r.proc.logpath)))


def start_web(L, run):
    run.web_spool = L.path("rptserver-spool")
    pidfile = L.path("pids", "rptserver.pid")
    p = L.spawn("rptserver", [lab.PYTHON, os.path.join(lab.LAB_DIR, "rptserver.py"),
                              "--listen", T.RPT_WEB, "--spool", run.web_spool,
                              "--pidfile", pidfile,
                              "--fail-path", T.RPT_BUSY_PATH + "=503", "--cert",
                              L.path("pki", "rpt-web.chain.pem"),
                              L.path("pki", "rpt-web.key")])
    lab.wait_until(lambda: os.path.exists(pidfile) or not p.alive(), lab.START_TIMEOUT,
                   what="rptserver")
    if not p.alive():
        raise lab.LabError("rptserver died:\n%s" % lab.tail(p.logpath))


def submit(L, run, cases, prefix=""):
    for c in cases:
        msg = L.message(RCPT[c], subject="P5 %s%s" % (prefix, c))
        L.sendmail([RCPT[c]], msg)
        run.sub[prefix + c] = L.message_id(msg)


def deferred_once(L, run, rcpt, timeout=30.0):
    """Wait for the first deferral of rcpt in the log (minimal_backoff 1h:
    it stays the only attempt)."""
    pat = re.compile(r"to=<%s>.*status=deferred" % re.escape(rcpt))
    lab.wait_until(lambda: any(pat.search(x) for x in
                               L.daemon_log(run.logpos).splitlines()),
                   timeout, what="deferral of %s" % rcpt)


FLUSH_WAIT = 2.0        # seconds: twice the store's flush period


def today():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")


def run_up(L):
    """Once per lab: receivers, endpoints, P5 daemon, the deliveries."""
    run = getattr(L, "_p5_run", None)
    if run is not None:
        if run.error:
            raise lab.LabError("P5 set-up failed earlier: %s" % run.error)
        return run
    global TODAY
    TODAY = today()
    run = L._p5_run = Run()
    try:
        p4_lab_up(L)
        start_hosts(L, [h for h in T.DANE_HOSTS if h.name in ("seed-good", "seed-t1a",
                                                              "seed-t3a")])
        start_hosts(L, T.TLSRPT_HOSTS)
        start_web(L, run)
        if L.daemon is not None and L.daemon.alive():
            L.stop_daemon()
        p5_config(L)
        run.logpos = L.daemon_log_size()
        L.start_daemon()
        submit(L, run, [c for c in RCPT if c not in ("test3", "twomx", "reject")])
        for c, rcv in DELIVERED.items():
            L.receiver(rcv).wait_message_id(run.sub[c], timeout=40)
        deferred_once(L, run, RCPT["sts-mismatch"])
    except Exception as e:
        run.error = str(e).splitlines()[0] if str(e) else repr(e)
        raise
    return run


def show(L, domain, day):
    rc, out, err = sealpost(L, "tlsrpt", "show", domain, "--day", day)
    expect(rc == 0, "tlsrpt show %s exited %d: %s" % (domain, rc, err))
    return json.loads(out)


def web_posts(run):
    out = []
    for p in sorted(os.listdir(run.web_spool)) if os.path.isdir(run.web_spool) else []:
        if p.endswith(".json"):
            with open(os.path.join(run.web_spool, p)) as f:
                out.append(json.load(f))
    return out


# ----------------------------------------------------------------- checks

def epoch(rfc3339):
    return int(datetime.datetime.strptime(rfc3339, "%Y-%m-%dT%H:%M:%SZ")
               .replace(tzinfo=datetime.timezone.utc).timestamp())


def check_report_json(rep, domain):
    """RFC 8460 4.3/4.4: every required member, with its JSON type."""
    def typed(obj, key, t, where):
        expect(key in obj, "%s: no %s" % (where, key))
        expect(isinstance(obj[key], t) and not isinstance(obj[key], bool),
               "%s: %s is %r, not %s" % (where, key, obj[key], t.__name__))
        return obj[key]
    typed(rep, "organization-name", str, "report")
    dr = typed(rep, "date-range", dict, "report")
    typed(dr, "start-datetime", str, "date-range")
    typed(dr, "end-datetime", str, "date-range")
    expect(dr["start-datetime"] == TODAY + "T00:00:00Z" and
           dr["end-datetime"] == TODAY + "T23:59:59Z", "date-range %r" % dr)
    expect(typed(rep, "contact-info", str, "report") == CONTACT, "contact-info")
    expect(typed(rep, "report-id", str, "report") ==
           "%sT00:00:00Z_%s@%s" % (TODAY, domain, SUBMITTER), "report-id %r"
           % rep["report-id"])
    expect(rep["organization-name"] == ORG, "organization-name")
    for p in typed(rep, "policies", list, "report"):
        pol = typed(p, "policy", dict, "policies[]")
        expect(typed(pol, "policy-type", str, "policy") in
               ("tlsa", "sts", "no-policy-found"), "policy-type")
        expect(typed(pol, "policy-domain", str, "policy") == domain, "policy-domain")
        for k in ("policy-string", "mx-host"):
            if k in pol:
                expect(all(isinstance(x, str) for x in typed(pol, k, list, "policy")), k)
        sm = typed(p, "summary", dict, "policies[]")
        typed(sm, "total-successful-session-count", int, "summary")
        typed(sm, "total-failure-session-count", int, "summary")
        for fd in p.get("failure-details", []):
            typed(fd, "result-type", str, "failure-details")
            typed(fd, "failed-session-count", int, "failure-details")
            for k in ("sending-mta-ip", "receiving-mx-hostname", "receiving-ip",
                      "additional-information"):
                if k in fd:
                    typed(fd, k, str, "failure-details")
        for v in pol.values():
            expect(v is not None, "null in policy")


# (policy-type, successes, failures, [(result-type, mx host, ip, count)])
EXPECTED = {
    "test1.%s" % T.SEED: ("tlsa", 1, 1, [("certificate-not-trusted",
                                          "test1a.%s" % T.SEED, "127.0.20.101", 1)]),
    "dane.test": ("tlsa", 1, 0, []),
    "ok.%s" % T.STS: ("sts", 1, 0, []),
    "mismatch.%s" % T.STS: ("sts", 0, 1, [("certificate-host-mismatch",
                                           "mx.mismatch.%s" % T.STS, "127.0.30.15", 1)]),
    "test3.%s" % T.SEED: ("tlsa", 1, 1, [("starttls-not-supported",
                                          "test3a.%s" % T.SEED, "127.0.20.103", 1)]),
}
MAILTO = ["test1.%s" % T.SEED, "ok.%s" % T.STS, "mismatch.%s" % T.STS]
HTTPS = ["test1.%s" % T.SEED, "dane.test", "ok.%s" % T.STS, "mismatch.%s" % T.STS]


def check_counts(rep, domain):
    check_report_json(rep, domain)
    ptype, ok, bad, fails = EXPECTED[domain]
    expect(len(rep["policies"]) == 1, "%s: %d policies: %s"
           % (domain, len(rep["policies"]), json.dumps(rep, indent=1)))
    p = rep["policies"][0]
    expect(p["policy"]["policy-type"] == ptype, "%s: policy-type %s"
           % (domain, p["policy"]["policy-type"]))
    got = (p["summary"]["total-successful-session-count"],
           p["summary"]["total-failure-session-count"])
    expect(got == (ok, bad), "%s: counts %s, want %s" % (domain, got, (ok, bad)))
    have = sorted((f["result-type"], f.get("receiving-mx-hostname"),
                   f.get("receiving-ip"), f["failed-session-count"])
                  for f in p.get("failure-details", []))
    expect(have == sorted(fails), "%s: failure-details %s, want %s"
           % (domain, have, fails))
    for f in p.get("failure-details", []):
        expect(f.get("sending-mta-ip") == "127.0.0.1", "sending-mta-ip %r" % f)


def dkim_txt(L):
    from cryptography.hazmat.primitives import serialization
    with open(L.path("pki", T.RPT_DKIM_KEY + ".key"), "rb") as f:
        key = serialization.load_pem_private_key(f.read(), None)
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return ("v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()).encode()


def check_mail(L, rec, domain):
    """One report message as it arrived at the lab mailbox."""
    import dkim
    with open(rec["eml"], "rb") as f:
        raw = f.read()
    expect(rec["mail_from"] == "tlsrpt-noreply@" + SUBMITTER, "MAIL FROM %s"
           % rec["mail_from"])
    expect(rec["rcpt_tos"] == [T.RPT_MAILBOX], "RCPT %s" % rec["rcpt_tos"])
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    rid = "%sT00:00:00Z_%s@%s" % (TODAY, domain, SUBMITTER)
    want_subject = "Report Domain: %s Submitter: %s Report-ID: <%s>" % (
        domain, SUBMITTER, rid)
    subject = re.sub(r"\r?\n[ \t]+", " ", msg["Subject"] or "")
    expect(subject == want_subject, "Subject %r, want %r" % (subject, want_subject))
    expect(msg["TLS-Report-Domain"] == domain, "TLS-Report-Domain %r"
           % msg["TLS-Report-Domain"])
    expect(msg["TLS-Report-Submitter"] == SUBMITTER, "TLS-Report-Submitter")
    expect((msg["TLS-Required"] or "").strip().lower() == "no", "TLS-Required %r"
           % msg["TLS-Required"])
    expect(msg["MIME-Version"] == "1.0", "MIME-Version")
    expect(msg.get_content_type() == "multipart/report", "type %s"
           % msg.get_content_type())
    expect(msg.get_param("report-type") == "tlsrpt", "report-type %r"
           % msg.get_param("report-type"))
    parts = msg.get_payload()
    expect(len(parts) == 2, "%d MIME parts" % len(parts))
    expect(parts[0].get_content_type() == "text/plain", "first part %s"
           % parts[0].get_content_type())
    att = parts[1]
    expect(att.get_content_type() == "application/tlsrpt+gzip", "attachment %s"
           % att.get_content_type())
    gz = att.get_payload(decode=True)
    expect(gz[:2] == b"\x1f\x8b", "attachment is not gzip")
    rep = json.loads(gzip.decompress(gz))
    check_counts(rep, domain)
    fname = att.get_filename()
    dr = rep["date-range"]
    want = "%s!%s!%d!%d.json.gz" % (SUBMITTER, domain, epoch(dr["start-datetime"]),
                                     epoch(dr["end-datetime"]))
    expect(fname == want, "filename %r, want %r" % (fname, want))
    sig = msg["DKIM-Signature"] or ""
    expect("d=%s" % SUBMITTER in sig and "s=%s" % T.RPT_DKIM_SELECTOR in sig,
           "DKIM-Signature %r" % sig)
    names = []

    def dnsfunc(name, timeout=5):
        names.append(name)
        want_name = "%s._domainkey.%s." % (T.RPT_DKIM_SELECTOR, SUBMITTER)
        return dkim_txt(L) if name.decode().rstrip(".") + "." == want_name else None
    expect(dkim.verify(raw, dnsfunc=dnsfunc), "DKIM does not verify (asked %s)" % names)
    # a changed byte must break it (the check is real)
    bad = raw.replace(b"Submitter: ", b"Submitter:  ", 1)
    expect(not dkim.verify(bad.replace(b"TLS-Report-Domain: " + domain.encode(),
                                       b"TLS-Report-Domain: x" + domain.encode()),
                           dnsfunc=dnsfunc), "a changed header still verifies")
    return rep


def check_post(run, post, domain, L):
    expect(post["method"] == "POST", "method %s" % post["method"])
    expect(post["path"] == "/v1/tlsrpt", "path %s" % post["path"])
    h = {k.lower(): v for k, v in post["headers"].items()}
    expect(h.get("content-type") == "application/tlsrpt+gzip", "Content-Type %r"
           % h.get("content-type"))
    expect(post["sni"] == "web." + T.RPT, "SNI %r" % post["sni"])
    body = base64.b64decode(post["body_b64"])
    expect(body[:2] == b"\x1f\x8b", "POST body is not gzip")
    rep = json.loads(gzip.decompress(body))
    check_counts(rep, domain)
    expect(rep == show(L, domain, TODAY), "%s: POSTed report differs from tlsrpt show"
           % domain)


def post_domain(post):
    return json.loads(gzip.decompress(base64.b64decode(post["body_b64"])))[
        "policies"][0]["policy"]["policy-domain"]


def mail_domain(rec):
    m = re.search(r"^TLS-Report-Domain: (\S+)", rec["data"], re.M)
    return m.group(1) if m else None


def send_now(L, day):
    rc, out, err = sealpost(L, "tlsrpt", "send-now", "--day", day)
    expect(rc == 0, "tlsrpt send-now exited %d: %s" % (rc, err))


def sender_settled(L, since, n):
    """Wait until the sender has logged an outcome for n URIs since since."""
    pat = re.compile(r"tlsrpt: day=%s domain=\S+ (uri=\S+ attempts=\d+ state=\w+|"
                     r"uri=\S+: already \w+)" % re.escape(TODAY))
    lab.wait_until(lambda: len([x for x in L.daemon_log(since).splitlines()
                                if pat.search(x)]) >= n,
                   REPORT_WAIT, what="%d TLS-RPT outcomes in the log" % n)


def status_rows(L):
    rc, out, err = sealpost(L, "tlsrpt", "status", "--day", TODAY)
    expect(rc == 0, "tlsrpt status exited %d: %s" % (rc, err))
    rows = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 4 and f[0] == TODAY:
            rows[(f[1], f[2])] = f[3]
    return rows


# ----------------------------------------------------------------- cases

def test_p5_a_show_exact_counts(L):
    """DANE (MX 10 fails, MX 20 verified; verified), MTA-STS (verified;
    host mismatch): `tlsrpt show` gives the exact counts and failure types"""
    run_up(L)
    # The writer thread commits recorded results once a second
    # (TLSRPT_FLUSH_MS); the last deferral may still be in memory.
    deadline = time.monotonic() + 2 * FLUSH_WAIT
    for dom in EXPECTED:
        if dom.startswith("test3."):
            continue
        while True:
            try:
                check_counts(show(L, dom, TODAY), dom)
                break
            except AssertionError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.2)


def test_p5_b_send_now_mailto_and_https(L):
    """send-now --day today: mailto reports arrive at the lab mailbox (MIME,
    headers, Subject, filename, gzip JSON, DKIM verifies), https reports
    at the lab endpoint (POST, media type, gzip JSON); sink.test (no
    _smtp._tls) gets none; status says sent"""
    run = run_up(L)
    since = L.daemon_log_size()
    send_now(L, TODAY)
    box = L.receiver("rpt-mx")
    got = {}
    for dom in MAILTO:
        rec = box.wait_for(lambda m, d=dom: mail_domain(m) == d, REPORT_WAIT,
                           "the report for %s" % dom)
        got[dom] = check_mail(L, rec, dom)
    lab.wait_until(lambda: len(web_posts(run)) >= len(HTTPS), REPORT_WAIT,
                   what="%d POSTs" % len(HTTPS))
    posts = web_posts(run)
    expect(sorted(post_domain(p) for p in posts) == sorted(HTTPS),
           "POSTs for %s" % sorted(post_domain(p) for p in posts))
    for p in posts:
        check_post(run, p, post_domain(p), L)
    sender_settled(L, since, len(MAILTO) + len(HTTPS))
    expect(sorted(mail_domain(m) for m in box.messages()) == sorted(MAILTO),
           "mailbox has %s" % [mail_domain(m) for m in box.messages()])
    log = L.daemon_log(since)
    expect(re.search(r"tlsrpt: day=%s domain=sink\.test: no report: "
                     r"_smtp\._tls\.sink\.test: no TXT record" % TODAY, log),
           "no 'no report' line for sink.test:\n%s" % log[-3000:])
    rows = status_rows(L)
    want = {(d, "mailto:" + T.RPT_MAILBOX) for d in MAILTO} | \
        {(d, T.RPT_URL) for d in HTTPS}
    expect(set(rows) == want and set(rows.values()) == {"sent"},
           "tlsrpt status: %s" % rows)


def test_p5_c_second_send_now_sends_nothing(L):
    """a second send-now for the same day: every URI 'already sent',
    nothing new in the mailbox or at the endpoint"""
    run = run_up(L)
    box = L.receiver("rpt-mx")
    mails, posts = box.count(), len(web_posts(run))
    since = L.daemon_log_size()
    send_now(L, TODAY)
    pat = re.compile(r"tlsrpt: day=%s domain=\S+ uri=\S+: already sent" % TODAY)
    lab.wait_until(lambda: len([x for x in L.daemon_log(since).splitlines()
                                if pat.search(x)]) >= len(MAILTO) + len(HTTPS),
                   REPORT_WAIT, what="'already sent' for every URI")
    time.sleep(3)       # a report put in the maildrop would be delivered by now
    expect(box.count() == mails, "mailbox: %d -> %d" % (mails, box.count()))
    expect(len(web_posts(run)) == posts, "POSTs: %d -> %d" % (posts, len(web_posts(run))))


def test_p5_d_restart_before_sending(L):
    """deliveries to test3.daneseed.test, daemon restart, then send-now:
    its report has every count from before the restart, and nothing sent
    before is sent again"""
    run = run_up(L)
    box = L.receiver("rpt-mx")
    mails, posts = box.count(), len(web_posts(run))
    submit(L, run, ["test3"] if "test3" in RCPT else [], "r:")
    L.receiver("seed-good").wait_message_id(run.sub["r:test3"], timeout=40)
    time.sleep(1.5)     # results reach the store within TLSRPT_FLUSH_MS
    L.stop_daemon()
    L.start_daemon()
    since = L.daemon_log_size()
    send_now(L, TODAY)
    dom = "test3.%s" % T.SEED
    rec = box.wait_for(lambda m: mail_domain(m) == dom, REPORT_WAIT,
                       "the report for %s" % dom)
    check_mail(L, rec, dom)
    sender_settled(L, since, len(MAILTO) + len(HTTPS) + 1)
    time.sleep(3)
    expect(box.count() == mails + 1, "mailbox: %d -> %d" % (mails, box.count()))
    expect(len(web_posts(run)) == posts, "POSTs: %d -> %d" % (posts, len(web_posts(run))))


def test_p5_e_size_limit_and_endpoint_down(L):
    """twomx.test: its mailto: URI has !1k (smaller than any report):
    skipped, nothing mailed; its https endpoint answers 503: the row stays
    due with the error and a backoff, and the next send-now tries again
    (one more POST), still due"""
    run = run_up(L)
    box = L.receiver("rpt-mx")
    mails = box.count()
    submit(L, run, ["twomx"], "e:")
    L.receiver("twomx-mx1").wait_message_id(run.sub["e:twomx"], timeout=40)
    busy = "https://web.%s%s" % (T.RPT, T.RPT_BUSY_PATH)
    mailto = "mailto:%s" % T.RPT_MAILBOX
    dom = "twomx.test"

    def busy_posts():
        return [p for p in web_posts(run) if p["path"] == T.RPT_BUSY_PATH]

    for attempt in (1, 2):
        since = L.daemon_log_size()
        send_now(L, TODAY)
        lab.wait_until(lambda: len(busy_posts()) >= attempt, REPORT_WAIT,
                       what="POST %d to the busy endpoint" % attempt)
        pat = re.compile(r"tlsrpt: day=%s domain=twomx\.test uri=%s attempts=%d "
                         r"state=due next_try=\d+: HTTP status 503"
                         % (TODAY, re.escape(busy), attempt))
        lab.wait_until(lambda: pat.search(L.daemon_log(since)), REPORT_WAIT,
                       what="the 503 recorded (attempt %d)" % attempt)
        p = busy_posts()[-1]
        expect(p["status"] == 503 and post_domain(p) == dom, "busy POST %r" % p["path"])
    expect(len(busy_posts()) == 2, "%d POSTs to the busy endpoint" % len(busy_posts()))
    rc, out, err = sealpost(L, "tlsrpt", "status", "--day", TODAY)
    lines = {tuple(x.split()[1:3]): x for x in out.splitlines()}
    row = lines.get((dom, busy), "")
    expect(" due attempts=2 " in row and "last_error=HTTP status 503" in row,
           "status of the busy URI: %r" % row)
    row = lines.get((dom, mailto), "")
    expect(" skipped " in row and "over the !size limit of 1024" in row,
           "status of the !1k URI: %r" % row)
    time.sleep(2)
    expect(box.count() == mails, "a report was mailed despite !1k")


def test_p5_f_txt_lookup_fails_temporarily(L):
    """reject.test's _smtp._tls lookup times out: no report yet, a row for
    the lookup itself stays due with a backoff (so the report survives a
    restart), and the next send-now looks again"""
    run = run_up(L)
    submit(L, run, ["reject"], "f:")
    L.receiver("reject").wait_message_id(run.sub["f:reject"], timeout=40)
    for attempt in (1, 2):
        since = L.daemon_log_size()
        send_now(L, TODAY)
        pat = re.compile(r"tlsrpt: day=%s domain=reject\.test uri=_smtp\._tls "
                         r"attempts=%d state=due next_try=\d+: _smtp\._tls\.reject\.test: "
                         % (TODAY, attempt))
        lab.wait_until(lambda: pat.search(L.daemon_log(since)), REPORT_WAIT + 30,
                       what="the failed lookup recorded (attempt %d)" % attempt)
        expect(re.search(r"domain=reject\.test: no report yet: ", L.daemon_log(since)),
               "no 'no report yet' line")
    rc, out, err = sealpost(L, "tlsrpt", "status", "--day", TODAY)
    row = [x for x in out.splitlines() if " reject.test _smtp._tls " in x]
    expect(row and " due attempts=2 " in row[0], "status: %r" % row)


def test_p5_zzz_restore_default_config(L):
    """(housekeeping) sealpostd stops cleanly; the default configuration is back"""
    if L.daemon is not None and L.daemon.alive():
        rc = L.stop_daemon()
        expect(rc == 0, "sealpostd exited %s" % rc)
    L.write_config()
    L.start_daemon()
