"""P4 MTA-STS cases (issue 5, docs/mta-sts-contract.md).

The zones, receivers (topology.STS_HOSTS, started here, not by the lab)
and certificates are in tests/lab/topology.py: sts.test (signed) holds one
subdomain per static case, stsdyn.test (unsigned, its own nsd, 1 s TTLs)
the cases whose DNS changes mid-run.  Every mta-sts.<domain> resolves to
topology.STS_WEB, where tests/lab/stsserver.py answers per host as
POLICY_HOSTS below says (rewritten mid-run: a host switches from serving
to failing) and logs every request, so fetches can be counted.

Outcomes are checked as in P3:
  (a) which receiver got the message (Message-ID), with what TLS and SNI,
      and which receivers were contacted at all;
  (b) the verdict in the tls= part of sealpostd's delivery log lines
      ("sts=enforce verified (policy id ...)", "sts=testing failed (...)",
      "sts=none", "dane=verified");
  (c) deferred: at no receiver DEFER_WAIT seconds after submission, every
      log line for the recipient a deferral with 4.7.x, `sendmail -bp`
      shows a reason naming the host (or MTA-STS);
  (d) the cache: `sealpost sts show|list`.

Only the cases that pass against the product at HEAD live here; the ones
waiting for enforcement (mta/) are in wip_p4_sts.py, which is not
collected (no test_ prefix): link it as test_p4_wip.py to run them, and
move each case here once it passes.

The first daemon case restarts sealpostd once with the P4 configuration (its own
spool, sts_fetch_timeout short) and submits every first-phase message at
once.  The stsdyn.test cases then switch DNS (TXT id A -> B, MX moved to a
host policy A does not allow) and the policy server (failing) and submit
again; a later case restarts the daemon to see the cache survive.  The last
case puts the default configuration back.
"""

import concurrent.futures
import json
import os
import re
import subprocess
import time

import lab
import topology as T

S = T.STS
DYN = T.STSDYN
DELIVERY_TIMEOUT = 30.0
DEFER_WAIT = 10.0           # deferred: still nowhere this long after submission
FIRST_LOG_TIMEOUT = 20.0
FETCH_TIMEOUT = 3           # sts_fetch_timeout of the P4 configuration (s)
STALL = 30                  # the stalling host answers after this long


def d(name):
    return "%s.%s" % (name, S)


def dyn(name):
    return "%s.%s" % (name, DYN)


def policy(mode, *mx, max_age=86400):
    return "version: STSv1\nmode: %s\n%smax_age: %d\n" % (
        mode, "".join("mx: %s\n" % m for m in mx), max_age)


ENF = "enforce"

# static cases: case -> (policy host behaviour, recipient)
STATIC = {
    "ok": {"policy": policy(ENF, d("mx.ok"))},
    "wild-ms": {"policy": policy(ENF, "*.olc.protection.outlook.wild." + S)},
    "wild-01": {"policy": policy(ENF, d("mx.01-mail-net.wild"))},
    "twolabel": {"policy": policy(ENF, d("a.mx.twolabel"))},
    "mismatch": {"policy": policy(ENF, d("mx.mismatch"))},
    "expired": {"policy": policy(ENF, d("mx.expired"))},
    "untrusted": {"policy": policy(ENF, d("mx.untrusted"))},
    "testing": {"policy": policy("testing", d("mx.testing"))},
    "skip": {"policy": policy(ENF, d("mx2.skip"))},
    "nomatch": {"policy": policy(ENF, d("other.nomatch"))},
    "nostarttls": {"policy": policy(ENF, d("mx.nostarttls"))},
    "sni": {"policy": policy(ENF, d("mx.sni"))},
    "cname": {"policy": policy(ENF, d("mxi1.cname"))},
    "dane": {"policy": policy(ENF, d("mx.dane"))},
    "manymx": {"policy": policy(ENF, d("mx.manymx"))},
}


def failing(kind, mx):
    """A policy host failing as kind; the policy it would give (enforce,
    mx only the given pattern) must never be used."""
    body = policy(ENF, mx)
    return {"404": {"status": 404, "policy": body},
            "301": {"status": 301, "policy": "",
                    "location": "https://mta-sts.%s/.well-known/mta-sts.txt" % d("ok")},
            "html": {"ctype": "text/html", "policy": body},
            "badcert": {"cert": "rogue", "policy": body},
            "big": {"oversize": 70, "policy": body},
            "stall": {"stall": STALL, "policy": body}}[kind]


# fetch failures without a cached policy: the policy they hide allows no
# MX of the domain, so using it would defer the mail
for _f in T.STS_FETCH_FAILURES:
    STATIC["f" + _f] = failing(_f, d("nothing.f" + _f))


def dyn_hosts(phase):
    """stsdyn.test policy hosts: phase a serves policy A (mx.<case> only);
    phase b fails (c*), or serves policy B allowing evil.<case> (idchange),
    or fails with 404 (adm)."""
    out = {}
    for c in T.STSDYN_CASES:
        if phase == "a":
            out[c] = {"policy": policy(ENF, dyn("mx." + c))}
        elif c == "idchange":
            out[c] = {"policy": policy(ENF, dyn("evil." + c))}
        elif c == "adm":
            out[c] = {"status": 404, "policy": policy(ENF, dyn("evil." + c))}
        else:
            out[c] = failing(c[1:], dyn("evil." + c))
    return out


RCPT = {c: "bob@" + d(c) for c in STATIC}
RCPT_A = {c: "bob@" + dyn(c) for c in T.STSDYN_CASES if c != "adm"}
RCPT_B = {c: "carol@" + dyn(c) for c in T.STSDYN_CASES if c != "adm"}

LOGLINE = re.compile(r"^\S+ \S+: (?P<qid>\S+): to=<(?P<to>[^>]*)>, relay=(?P<relay>\S+), "
                     r".*?dsn=(?P<dsn>\S+), status=(?P<status>\w+) \((?P<text>.*)\), "
                     r"tls=(?P<tls>.*)$")

VERDICT_ANY = r"\bsts=(enforce|testing)\b"


def verified(policy_id):
    return r"\bsts=enforce verified \(policy id %s\)" % re.escape(policy_id)


def static_id(case):
    return "sts" + case.replace("-", "")


def expect(cond, msg):
    if not cond:
        raise AssertionError(msg)


# ----------------------------------------------------------------- set-up


class Run:
    def __init__(self):
        self.sub = {}           # key -> (rcpt, message-id, submit time)
        self.logpos = 0
        self.error = None
        self.reqlog = None
        self.conf_json = None
        self.phase = "a"
        self.switched_at = None
        self.restored = False


# policy hosts other P4 files add (host name -> behaviour), e.g. the
# refresh cases of test_p4_sts_refresh.py
EXTRA_HOSTS = {}


def write_policy_hosts(L, run, phase):
    hosts = {"mta-sts." + d(c): spec for c, spec in STATIC.items()}
    hosts.update({"mta-sts." + dyn(c): spec for c, spec in dyn_hosts(phase).items()})
    hosts.update(EXTRA_HOSTS)
    conf = {"hosts": hosts,
            "certs": {"rogue": [L.path("pki", "sts-web-rogue.chain.pem"),
                                L.path("pki", "sts-web-rogue.key")]}}
    tmp = run.conf_json + ".tmp"
    with open(tmp, "w") as f:
        json.dump(conf, f, indent=1)
    os.replace(tmp, run.conf_json)


def p4_config(L):
    spool = L.path("sealpost-spool-p4")
    os.makedirs(spool, exist_ok=True)
    return L.write_config(settings={"spool_directory": '"%s"' % spool,
                                    "sts_fetch_timeout": "%ds" % FETCH_TIMEOUT})


def lab_up(L):
    """Receivers, policy server and P4 configuration, once per lab (no
    daemon restart: the admin cases need none)."""
    run = getattr(L, "_p4_run", None)
    if run is not None:
        if run.error:
            raise lab.LabError("P4 set-up failed earlier: %s" % run.error)
        return run
    run = L._p4_run = Run()
    try:
        started = [L.start_receiver(h) for h in T.STS_HOSTS if h.name not in L.receivers]
        for r in started:
            lab.wait_until(lambda: os.path.exists(r.pidfile) or not r.proc.alive(),
                           lab.START_TIMEOUT, what="receiver " + r.name)
            if not r.proc.alive():
                raise lab.LabError("receiver %s died:\n%s"
                                   % (r.name, lab.tail(r.proc.logpath)))
        run.conf_json = L.path("stsserver.json")
        write_policy_hosts(L, run, "a")
        run.reqlog = L.start_sts_server(T.STS_WEB, run.conf_json)
        p4_config(L)
    except Exception as e:
        run.error = str(e).splitlines()[0] if str(e) else repr(e)
        L.write_config()
        raise
    return run


def submit_all(L, run, rcpts, prefix):
    msgs = {c: L.message(r, subject="P4 %s%s" % (prefix, c)) for c, r in rcpts.items()}

    def submit(c):
        L.sendmail([rcpts[c]], msgs[c])
        run.sub[prefix + c] = (rcpts[c], L.message_id(msgs[c]), time.monotonic())

    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        for f in [pool.submit(submit, c) for c in rcpts]:
            f.result(timeout=120)


def batch(L):
    """The P4 daemon run: restart with the P4 configuration, submit the
    static cases and phase a of stsdyn.test."""
    run = lab_up(L)
    if run.sub:
        if run.restored:
            # a later file's cases after the restore case: P4 config again
            if L.daemon is not None and L.daemon.alive():
                L.stop_daemon()
            p4_config(L)
            L.start_daemon()
            run.restored = False
        return run
    if getattr(run, "batch_error", None):
        raise lab.LabError("P4 batch failed earlier: %s" % run.batch_error)
    try:
        if L.daemon is not None and L.daemon.alive():
            L.stop_daemon()
        p4_config(L)
        run.logpos = L.daemon_log_size()
        L.start_daemon()
        submit_all(L, run, RCPT, "")
        submit_all(L, run, RCPT_A, "a:")
    except Exception as e:
        run.batch_error = str(e).splitlines()[0] if str(e) else repr(e)
        raise
    lab.log("p4: %d messages submitted" % len(run.sub))
    return run


def switch_to_phase_b(L):
    """Once: wait for the phase-a messages to be somewhere (or 15 s), then
    TXT id A -> B and MX -> evil.<case> in stsdyn.test, policy hosts
    failing; wait out the 1 s TTLs, then submit phase b."""
    run = batch(L)
    if run.phase == "b":
        return run
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if all(holders(L, run.sub["a:" + c][1]) for c in RCPT_A):
            break
        time.sleep(0.2)
    write_policy_hosts(L, run, "b")
    L.update_zone(DYN, T.stsdyn_records("b"))
    run.switched_at = time.time()
    run.phase = "b"
    time.sleep(2.5)
    submit_all(L, run, RCPT_B, "b:")
    return run


# ----------------------------------------------------------------- evidence


def requests(L, host=None, since=None):
    run = lab_up(L)
    try:
        with open(run.reqlog) as f:
            rows = [json.loads(x) for x in f if x.strip()]
    except OSError:
        return []
    return [r for r in rows if (host is None or r["host"] == host)
            and (since is None or r["time"] >= since)]


def sealpost(L, *args, timeout=30):
    r = subprocess.run([L.bin("mta/sealpost"), "-c", L.conf] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    return r.returncode, r.stdout.decode("utf-8", "replace"), \
        r.stderr.decode("utf-8", "replace")


def sts_show(L, domain):
    """{field: value} of `sealpost sts show DOMAIN`, None when not cached."""
    rc, out, err = sealpost(L, "sts", "show", domain)
    if rc == 66:
        return None
    expect(rc == 0, "sealpost sts show %s exited %d: %s" % (domain, rc, err.strip()))
    fields = {}
    for line in out.splitlines():
        k, sep, v = line.partition(":")
        if sep and not line.startswith(" ") and k not in fields:
            fields[k.strip()] = v.strip()
    fields["_text"] = out
    return fields


def log_lines(L, rcpt):
    run = lab_up(L)
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
            x = m.groupdict()
            x["line"] = line
            out.append(x)
    return out


def wait_log(L, rcpt, pred, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        lines = log_lines(L, rcpt)
        if pred(lines):
            return lines
        L.check_daemon()
        if time.monotonic() >= deadline:
            raise AssertionError("no %s for %s in sealpostd.log after %.0fs; lines:\n%s"
                                 "\n--- sealpostd log tail:\n%s"
                                 % (what, rcpt, timeout,
                                    "\n".join(x["line"] for x in lines) or "(none)",
                                    L.daemon_log_tail(15)))
        time.sleep(0.1)


def holders(L, mid):
    return [h.name for h in T.STS_HOSTS
            if any(m["message_id"] == mid for m in L.receiver(h.name).messages())]


def contacted(L, name):
    return bool(L.receiver(name).events("connect"))


def mailq_reason(L, rcpt):
    env = dict(os.environ, SEALPOST_POSTDROP=L.postdrop_path())
    r = subprocess.run([L.bin("mta/sendmail"), "-C", L.conf, "-bp"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                       timeout=30)
    expect(r.returncode == 0, "sendmail -bp exited %d" % r.returncode)
    for block in r.stdout.decode("utf-8", "replace").split("\n\n"):
        reason = ""
        for line in block.splitlines():
            s = line.strip()
            if s.startswith("(") and s.endswith(")"):
                reason = s[1:-1]
            elif s.lower() == rcpt.lower():
                return reason
    return None


def delivered(L, key, rcv, verdict, sni=None, quiet=(), not_verdict=None):
    run = batch(L)
    rcpt, mid, t0 = run.sub[key]
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while True:
        got = holders(L, mid)
        if got:
            break
        L.check_daemon()
        if time.monotonic() >= deadline:
            raise AssertionError("%s: not delivered after %.0fs, want %s; log lines:\n%s"
                                 % (key, DELIVERY_TIMEOUT, rcv, "\n".join(
                                     x["line"] for x in log_lines(L, rcpt)) or "(none)"))
        time.sleep(0.1)
    expect(got == [rcv], "%s: delivered to %s, want %s" % (key, got, rcv))
    m = next(m for m in L.receiver(rcv).messages() if m["message_id"] == mid)
    expect(m["tls"], "%s got the message in cleartext" % rcv)
    if sni is not None:
        expect((m["sni"] or "").lower().rstrip(".") == sni.lower(),
               "SNI %r, want the MX host name %r" % (m["sni"], sni))
    lines = wait_log(L, rcpt, lambda ls: any(x["status"] == "sent" for x in ls),
                     10.0, "status=sent line")
    sent = [x for x in lines if x["status"] == "sent"]
    expect(len(sent) == 1, "%d sent lines for %s" % (len(sent), rcpt))
    if verdict:
        expect(re.search(verdict, sent[0]["tls"]),
               "tls= part %r lacks /%s/\n%s" % (sent[0]["tls"], verdict, sent[0]["line"]))
    if not_verdict:
        expect(not re.search(not_verdict, sent[0]["tls"]),
               "tls= part %r has /%s/\n%s" % (sent[0]["tls"], not_verdict,
                                              sent[0]["line"]))
    for q in quiet:
        expect(not contacted(L, q), "%s was contacted: %s" % (q, L.receiver(q).events()))
    lab.log("%s: %s sni=%s tls=%s" % (key, rcv, m["sni"], sent[0]["tls"]))
    return m, sent[0]


def deferred(L, key, verdict, reason_re, tried=(), quiet=(), keep_out=()):
    """key's message is nowhere DEFER_WAIT s after submission; every log
    line for it a 4.7.x deferral with verdict in tls= (None: not checked);
    `sendmail -bp` shows a reason matching reason_re."""
    run = batch(L)
    rcpt, mid, t0 = run.sub[key]
    wait_log(L, rcpt, lambda ls: ls, FIRST_LOG_TIMEOUT, "delivery log line")
    while time.monotonic() < t0 + DEFER_WAIT:
        L.check_daemon()
        time.sleep(0.2)
    got = holders(L, mid)
    expect(not got, "%s: delivered to %s, want deferred" % (key, got))
    lines = log_lines(L, rcpt)
    bad = [x["line"] for x in lines if x["status"] != "deferred"]
    expect(not bad, "want only deferrals for %s, got:\n%s" % (rcpt, "\n".join(bad)))
    for x in lines:
        if verdict:
            expect(re.search(verdict, x["tls"]),
                   "tls= part %r lacks /%s/\n%s" % (x["tls"], verdict, x["line"]))
        expect(re.fullmatch(r"4\.7\.\d{1,3}", x["dsn"]),
               "dsn=%s, want 4.7.x\n%s" % (x["dsn"], x["line"]))
    reason = mailq_reason(L, rcpt)
    expect(reason is not None, "%s is not in the queue listing" % rcpt)
    expect(re.search(reason_re, reason, re.I),
           "queue listing reason %r lacks /%s/" % (reason, reason_re))
    for t in tried:
        expect(contacted(L, t), "%s was never contacted" % t)
    for q in quiet:
        expect(not contacted(L, q), "%s was contacted: %s" % (q, L.receiver(q).events()))
    lab.log("%s: deferred %d times, %s; mailq: (%s)" % (key, len(lines),
            lines[-1]["dsn"], reason))


def test_p4_a_admin_refresh_fetch_failures(L):
    """lab policy host: `sealpost sts refresh` of each failing host (404,
    301, text/html, untrusted certificate, 70 KiB, stall) fails with the
    right class, caches nothing; SNI = Host on every request that arrived"""
    lab_up(L)
    want = {"404": (75, "sts-policy-fetch-error"), "301": (75, "sts-policy-fetch-error"),
            "html": (75, "sts-policy-fetch-error"), "badcert": (75, "sts-webpki-invalid"),
            "big": (75, "sts-policy-fetch-error"), "stall": (75, "sts-policy-fetch-error")}
    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        futs = {f: pool.submit(sealpost, L, "sts", "refresh", d("f" + f))
                for f in want}
        res = {f: x.result(timeout=60) for f, x in futs.items()}
    for f, (rc, out, err) in res.items():
        wrc, cls = want[f]
        expect(rc == wrc and cls in out,
               "sts refresh %s: exit %d, want %d and %s:\n%s%s"
               % (d("f" + f), rc, wrc, cls, out, err))
        expect(sts_show(L, d("f" + f)) is None, "%s got cached" % d("f" + f))
    for f in ("404", "301", "html", "big", "stall"):
        host = "mta-sts." + d("f" + f)
        got = requests(L, host)
        expect(got and all(r["sni"] == host for r in got),
               "policy host %s: requests %s" % (host, got))
    expect(not requests(L, "mta-sts." + d("fbadcert")),
           "a request reached the untrusted-certificate host")


def test_p4_b_admin_refresh_stores_policy(L):
    """`sealpost sts refresh` fetches the lab policy (TXT id A, SNI
    mta-sts.<domain>) and `sts show` has it: id, mode, mx"""
    lab_up(L)
    dom = dyn("adm")
    rc, out, err = sealpost(L, "sts", "refresh", dom)
    expect(rc == 0, "sts refresh %s: exit %d\n%s%s" % (dom, rc, out, err))
    e = sts_show(L, dom)
    expect(e and e.get("id") == "Aidadm" and e.get("mode") == "enforce"
           and dyn("mx.adm") in e["_text"], "sts show %s:\n%s" % (dom, e and e["_text"]))
    got = requests(L, "mta-sts." + dom)
    expect(len(got) == 1 and got[0]["sni"] == "mta-sts." + dom and got[0]["status"] == 200,
           "requests: %s" % got)


def test_p4_c_sni_is_mx_host_name(L):
    """every STARTTLS handshake sends SNI = the MX host name from the MX
    record: plain (ok), the SNI-selecting server (seeds 001/003) and an MX
    name that is a CNAME (seed 002: the MX name, not the target)"""
    for case, rcv, sni in (("ok", "sts-ok", d("mx.ok")), ("sni", "sts-sni", d("mx.sni")),
                           ("cname", "sts-cname", d("mxi1.cname"))):
        delivered(L, case, rcv, None, sni=sni)


def test_p4_p_dane_precedence(L):
    """DANE and STS on one domain: TLSA 3 1 1 matches, the certificate
    names another host: DANE decides (dane=verified), no STS verdict"""
    delivered(L, "dane", "sts-dane", r"\bdane=verified\b", not_verdict=VERDICT_ANY)


def test_p4_u_admin_refresh_failure_keeps_cache(L):
    """`sealpost sts refresh` after TXT id -> B with the host answering 404:
    exit 75, the cached policy A is kept, the error noted"""
    lab_up(L)
    dom = dyn("adm")
    if sts_show(L, dom) is None:
        expect(sealpost(L, "sts", "refresh", dom)[0] == 0, "first refresh failed")
    run = switch_to_phase_b(L) if getattr(L, "_p4_run", None) and L._p4_run.sub \
        else _switch_dns_only(L)
    rc, out, err = sealpost(L, "sts", "refresh", dom)
    expect(rc == 75 and "kept" in out, "refresh: exit %d\n%s%s" % (rc, out, err))
    e = sts_show(L, dom)
    expect(e and e.get("id") == "Aidadm" and e.get("last error"),
           "sts show %s: %s" % (dom, e and e["_text"]))
    expect(requests(L, "mta-sts." + dom, since=run.switched_at),
           "no request after the switch")


def _switch_dns_only(L):
    run = lab_up(L)
    if run.phase != "b":
        write_policy_hosts(L, run, "b")
        L.update_zone(DYN, T.stsdyn_records("b"))
        run.switched_at = time.time()
        run.phase = "b"
        time.sleep(1.5)
    return run


def test_p4_zz_restore_default_config(L):
    """(housekeeping) sealpostd stops cleanly; the default configuration is back"""
    restore_default_config(L)


def restore_default_config(L):
    run = getattr(L, "_p4_run", None)
    if run is not None:
        run.restored = True
    try:
        if getattr(L, "_p4_run", None) is not None and L.daemon is not None \
                and L.daemon.alive():
            rc = L.stop_daemon()
            expect(rc == 0, "sealpostd exited %s on SIGTERM" % rc)
    finally:
        L.write_config()
