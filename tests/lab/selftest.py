#!/usr/bin/python3
"""selftest.py - prove the lab itself works, without sealpost.

Brings up the standard lab in its own network namespace and checks:
  dns    nsd answers with RRSIGs for signed zones and without for the
         unsigned one; DS records sit in the parent; the blackhole swallows
  ub     libunbound (as configured for sealpost) validates: secure for the
         signed zones, insecure for plain.test, bogus for bogus.test,
         secure NXDOMAIN, SERVFAIL for timeout.test; "test." is hidden
         without the nodefault option
  resprobe  sealpost's own resolver probe agrees (when it is built)
  pki    receiver certificates verify against the lab bundle; a rogue one
         does not
  smtp   every receiver accepts mail with swaks, with and without STARTTLS;
         the spool JSON records TLS version, cipher, SNI and peer; SNI picks
         the right certificate; the 421, reject and defer switches work;
         IPv6 works; a receiver keeps up with hundreds of messages
Prints "selftest: N passed, M failed"; exit status 1 on any failure.

usage: selftest.py [-k SUBSTRING]   (root; re-executes itself in a netns)
"""

import sys
sys.dont_write_bytecode = True  # keep the source tree free of __pycache__

import argparse
import os
import re
import smtplib
import ssl
import subprocess
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lab  # noqa: E402
import topology as T  # noqa: E402

CHECKS = []


def check(fn):
    CHECKS.append(fn)
    return fn


def run(argv, timeout=30, **kw):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=timeout, **kw)


def dig(server, name, rrtype, *flags):
    r = run(["dig", "@" + server, name, rrtype, "+norec", "+dnssec", "+time=2",
             "+tries=1", "+noall", "+answer", "+authority", "+comments"] + list(flags))
    return r.stdout


def expect(cond, msg):
    if not cond:
        raise AssertionError(msg)


# ---------------------------------------------------------------- dns


@check
def dns_signed_zones_have_rrsigs(L):
    for z in T.ZONES:
        if z.server.kind != "nsd":
            continue
        out = dig(z.server.addr, z.name, "SOA")
        expect("status: NOERROR" in out and " aa" in out.split("flags:")[1].split(";")[0],
               "%s SOA at %s not authoritative:\n%s" % (z.name, z.server.addr, out))
        has_sig = re.search(r"\sRRSIG\s+SOA\s", out) is not None
        expect(has_sig == z.signed, "%s: RRSIG present=%s, signed=%s\n%s"
               % (z.name, has_sig, z.signed, out))


@check
def dns_ds_in_parent(L):
    for z in T.ZONES:
        if z.name in (".",):
            continue
        parent = lab.labdns.parent_zone(z.name, T.ZONES)
        out = dig(parent.server.addr, z.name, "DS")
        has_ds = re.search(r"\sDS\s+\d+\s+13\s+2\s", out) is not None
        expect(has_ds == z.signed, "%s: DS at parent %s present=%s, signed=%s\n%s"
               % (z.name, parent.name, has_ds, z.signed, out))


@check
def dns_blackhole_swallows(L):
    t0 = time.monotonic()
    r = run(["dig", "@" + T.BLACKHOLE.addr, "timeout.test", "SOA", "+time=1",
             "+tries=1"])
    expect("timed out" in r.stdout or "no servers could be reached" in r.stdout,
           "blackhole answered:\n" + r.stdout)
    expect(time.monotonic() - t0 >= 0.9, "blackhole failed fast, not a timeout")


# ---------------------------------------------------------------- libunbound

UB_CASES = [
    # name, type, status, data (None: don't care), nxdomain
    ("twomx.test", "MX", "secure", ["10 mx1.twomx.test.", "20 mx2.twomx.test."], False),
    ("mx1.twomx.test", "A", "secure", ["127.0.10.11"], False),
    ("sender.test", "MX", "secure", ["10 mx.sender.test."], False),
    ("refuse.test", "MX", "secure", ["10 mx1.refuse.test.", "20 mx2.refuse.test."], False),
    ("greet421.test", "MX", "secure", None, False),
    ("implicit.test", "MX", "secure", [], False),
    ("implicit.test", "A", "secure", ["127.0.10.41"], False),
    ("nullmx.test", "MX", "secure", ["0 ."], False),
    ("reject.test", "MX", "secure", ["10 mx.reject.test."], False),
    ("defer.test", "MX", "secure", ["10 mx.defer.test."], False),
    ("mx.v6only.test", "AAAA", "secure", [T.V6_PREFIX + "25"], False),
    ("mx.v6only.test", "A", "secure", [], False),
    ("nsec3.test", "MX", "secure", ["10 mx.sink.test."], False),
    ("nosuch.nsec3.test", "A", "secure", [], True),
    ("plain.test", "MX", "insecure", ["10 mx.plain.test."], False),
    ("mx.plain.test", "A", "insecure", ["127.0.10.91"], False),
    ("bogus.test", "MX", "bogus", None, False),
    (T.NXDOMAIN, "MX", "secure", [], True),
]


@check
def ub_validation(L):
    bad = []
    for name, rrtype, status, data, nx in UB_CASES:
        r = L.resolve(name, rrtype)
        ok = r["status"] == status and r["nxdomain"] == nx and \
            (data is None or r["data"] == sorted(data))
        if not ok:
            bad.append("%s %s: want %s%s %s, got %s" % (
                name, rrtype, status, " NXDOMAIN" if nx else "", data, r))
    expect(not bad, "\n".join(bad))


@check
def ub_tlsa_from_lab_certificate(L):
    want = lab.labca.tlsa_rdata(L.cert_path("dane-mx"), 3, 1, 1)
    r = L.resolve("_25._tcp.mx.dane.test", "TLSA")
    expect(r["status"] == "secure" and r["data"] == [want],
           "TLSA %s, want secure %s" % (r, want))
    r = L.resolve("_25._tcp.bad.dane.test", "TLSA")
    expect(r["status"] == "secure" and r["data"] and r["data"] != [want],
           "corrupt TLSA %s" % r)
    r = L.resolve("chain.dane.test", "A")
    expect(r["status"] == "secure" and r["data"] == ["127.0.10.81"],
           "CNAME chain %s" % r)


@check
def ub_timeout_zone_fails(L):
    t0 = time.monotonic()
    r = L.resolve("mx.timeout.test", "A")
    took = time.monotonic() - t0
    expect(r["rcode"] == 2 and not r["havedata"],
           "timeout.test: want SERVFAIL, got %s" % r)
    lab.log("timeout.test lookup gave SERVFAIL after %.1fs" % took)


@check
def ub_test_tld_needs_local_zone(L):
    r = lab.ubprobe.resolve("twomx.test", "MX", L.dns["trust_anchor"],
                            L.unbound_options()[:2])
    expect(r["nxdomain"] and not r["havedata"],
           "without the local-zone option libunbound should answer NXDOMAIN "
           "from its built-in test. zone: %s" % r)


# ---------------------------------------------------------------- resprobe


RESPROBE_CASES = [
    # name, type, exit status, patterns that must match a line of output
    ("twomx.test", "mx", 0, [r"^mx_security=secure$", r"^nhosts=2$",
                             r"^host=mx1\.twomx\.test pref=10 rcode=OK security=secure"]),
    ("plain.test", "mx", 0, [r"^mx_security=insecure$"]),
    ("bogus.test", "mx", 3, [r"^mx_security=bogus$"]),
    ("implicit.test", "mx", 0, [r"^implicit=1$"]),
    ("nullmx.test", "mx", 3, [r"^null_mx=1$"]),
    (T.NXDOMAIN, "mx", 1, [r"^rcode=NOTFOUND$"]),
    ("mx.v6only.test", "AAAA", 0, [r"^security=secure$", r"^addr=fd00:5ea1::25$"]),
    ("mx.timeout.test", "A", 2, [r"^rcode=RETRY$"]),
]


def resprobe_path(L):
    for rel in ("tests/resprobe", "tests/tools/resprobe"):
        if os.access(L.bin(rel), os.X_OK):
            return L.bin(rel)
    return None


@check
def resprobe_agrees(L):
    """sealpost's resolver (build/tests/resprobe -c <lab sealpost.conf>)
    gives the verdicts libunbound gives; this also proves the lab config
    file parses."""
    exe = resprobe_path(L)
    if not exe:
        lab.log("resprobe not built in %s: skipped" % L.build)
        return "skipped"
    bad = []
    for name, rrtype, status, pats in RESPROBE_CASES:
        r = run([exe, "-c", L.conf, "-t", "20", name, rrtype], timeout=60)
        missing = [p for p in pats if not re.search(p, r.stdout, re.M)]
        if r.returncode != status or missing:
            bad.append("resprobe -c CONF %s %s: exit %d (want %d), missing %s:\n%s"
                       % (name, rrtype, r.returncode, status, missing, r.stdout))
    expect(not bad, "\n".join(bad))


# ---------------------------------------------------------------- pki


@check
def pki_chain(L):
    bundle = L.path("pki", "ca-bundle.pem")
    for h in T.MAILHOSTS:
        if not h.certnames:
            continue
        r = run(["openssl", "verify", "-CAfile", bundle, L.path("pki", h.name + ".pem")])
        expect(r.returncode == 0, "%s: %s" % (h.name, r.stdout))
    chain, _ = L.issue_cert("rogue-mx", ["mx.sink.test"], ca=L.rogue_ca)
    r = run(["openssl", "verify", "-CAfile", bundle, chain])
    expect(r.returncode != 0, "rogue certificate verified against the lab bundle")
    chain, _ = L.issue_cert("expired-mx", ["mx.sink.test"], expired=True)
    r = run(["openssl", "verify", "-CAfile", bundle, chain])
    expect(r.returncode != 0 and "expired" in r.stdout,
           "expired certificate: %s" % r.stdout)
    inter = L.ca.intermediate("labinter")
    chain, _ = inter.issue("inter-mx", ["mx.sink.test"])
    r = run(["openssl", "verify", "-CAfile", bundle, "-untrusted", chain, chain])
    expect(r.returncode == 0, "intermediate-issued certificate: %s" % r.stdout)


# ---------------------------------------------------------------- smtp


def swaks(addr, to, *extra):
    return run(["swaks", "--server", addr, "--port", "25", "--to", to,
                "--from", T.SENDER, "--ehlo", T.RELAY_HOSTNAME,
                "--timeout", "10", "--header", "Subject: lab selftest"] + list(extra))


def have_swaks_tls():
    return run(["perl", "-MNet::SSLeay", "-e", "1"]).returncode == 0


def smtp_tls(L, addr, to, sni):
    """STARTTLS submission that verifies the certificate for sni against the
    lab CA: swaks when it can do TLS (needs Net::SSLeay), else smtplib."""
    if have_swaks_tls():
        r = swaks(addr, to, "--tls", "--tls-sni", sni, "--tls-verify",
                  "--tls-ca-path", L.path("pki", "ca-bundle.pem"))
        expect(r.returncode == 0, "swaks tls to %s: %s" % (addr, r.stdout[-2000:]))
        return
    ctx = ssl.create_default_context(cafile=L.path("pki", "ca-bundle.pem"))
    with smtplib.SMTP(addr, 25, local_hostname=T.RELAY_HOSTNAME, timeout=10) as s:
        s._host = sni      # smtplib sends its connect host as SNI
        s.starttls(context=ctx)
        s.ehlo(T.RELAY_HOSTNAME)
        s.sendmail(T.SENDER, [to], L.message(to, subject="lab selftest"))


@check
def smtp_each_receiver(L):
    for h in T.MAILHOSTS:
        if ":" in h.addrs[0] or "--greeting-code" in h.args or "--defer-first" in h.args:
            continue
        rcv = L.receiver(h.name)
        before = rcv.count()
        r = swaks(h.addrs[0], "postmaster@%s.test" % h.name.split("-")[0])
        expect(r.returncode == 0, "%s plain: %s" % (h.name, r.stdout[-2000:]))
        n = before + 1
        broken = "--broken-tls" in h.args
        if h.certnames and broken:
            # it offers STARTTLS and must fail every handshake
            try:
                smtp_tls(L, h.addrs[0], "postmaster@%s.test" % h.name, h.certnames[0])
            except (AssertionError, OSError, smtplib.SMTPException, ssl.SSLError):
                pass
            else:
                raise AssertionError("%s: a TLS handshake succeeded" % h.name)
            expect(rcv.events("broken-tls"), "%s: STARTTLS never reached" % h.name)
        elif h.certnames:
            sni = h.certnames[0]
            smtp_tls(L, h.addrs[0], "postmaster@%s.test" % h.name.split("-")[0], sni)
            n += 1
        msgs = rcv.wait(n, timeout=5)
        plain = msgs[before]
        expect(plain["tls"] is None and plain["sni"] is None,
               "%s: plain message has TLS facts %s" % (h.name, plain["tls"]))
        expect(plain["peer"][0] == "127.0.0.1" and plain["mail_from"] == T.SENDER
               and plain["helo"] == T.RELAY_HOSTNAME,
               "%s: envelope facts %s" % (h.name, {k: plain[k] for k in
                                                   ("peer", "mail_from", "helo")}))
        if h.certnames and not broken:
            t = msgs[before + 1]["tls"]
            expect(t and t["version"] == "TLSv1.3" and t["cipher"] and
                   t["sni"] == h.certnames[0],
                   "%s: TLS facts %s" % (h.name, t))


@check
def smtp_sni_selects_certificate(L):
    L.issue_cert("sni-default", ["default.sni.test"])
    L.issue_cert("sni-alt", ["alt.sni.test"])
    host = T.MailHost("snitest", ["127.0.10.200"], None, [
        "--starttls", L.path("pki", "sni-default.chain.pem"),
        L.path("pki", "sni-default.key"),
        "--sni", "alt.sni.test=%s:%s" % (L.path("pki", "sni-alt.chain.pem"),
                                         L.path("pki", "sni-alt.key"))])
    L.start_receiver(host, wait=True)
    for sni, want in (("alt.sni.test", "alt.sni.test"),
                      ("other.sni.test", "default.sni.test")):
        r = run(["openssl", "s_client", "-connect", "127.0.10.200:25", "-starttls",
                 "smtp", "-servername", sni, "-verify_return_error", "-CAfile",
                 L.path("pki", "ca-bundle.pem"), "-verify_hostname", want],
                input="QUIT\r\n", timeout=15)
        expect(r.returncode == 0 and ("subject=CN = %s" % want) in r.stdout,
               "SNI %s: want certificate %s:\n%s" % (sni, want, r.stdout[-3000:]))
    # no SNI (connect by address): default certificate, no SNI recorded
    with smtplib.SMTP("127.0.10.200", 25, local_hostname=T.RELAY_HOSTNAME,
                      timeout=10) as s:
        s.starttls(context=ssl._create_unverified_context())
        s.ehlo(T.RELAY_HOSTNAME)
        s.sendmail(T.SENDER, ["x@sni.test"], L.message("x@sni.test"))
    m = L.receiver("snitest").wait(1, timeout=5)[-1]
    expect(m["tls"] and m["sni"] is None, "no-SNI session recorded %s" % m["tls"])


@check
def smtp_greeting_421(L):
    h = [x for x in T.MAILHOSTS if "--greeting-code" in x.args][0]
    r = swaks(h.addrs[0], "x@greet421.test")
    expect(r.returncode != 0 and "421" in r.stdout, r.stdout[-2000:])
    rcv = L.receiver(h.name)
    expect(rcv.events("greeting-reject") and rcv.count() == 0,
           "events %s" % rcv.events())


@check
def smtp_rcpt_reject(L):
    rcv = L.receiver("reject")
    r = swaks("127.0.10.51", "nosuchuser@reject.test")
    expect(r.returncode != 0 and "550 5.1.1 <nosuchuser@reject.test>" in r.stdout,
           r.stdout[-2000:])
    expect(rcv.events("rcpt-reject"), "no rcpt-reject event")


@check
def smtp_defer_first(L):
    rcv = L.receiver("defer")
    r = swaks("127.0.10.61", "x@defer.test")
    expect(r.returncode != 0 and "451 4.3.0" in r.stdout, r.stdout[-2000:])
    r = swaks("127.0.10.61", "x@defer.test")
    expect(r.returncode == 0, r.stdout[-2000:])
    expect(rcv.count() == 1 and len(rcv.events("defer")) == 1,
           "count %d events %s" % (rcv.count(), rcv.events()))


@check
def smtp_ipv6(L):
    addr = T.V6_PREFIX + "25"
    with smtplib.SMTP(addr, 25, local_hostname=T.RELAY_HOSTNAME, timeout=10) as s:
        s.starttls()
        s.ehlo(T.RELAY_HOSTNAME)
        s.sendmail(T.SENDER, ["x@v6only.test"], L.message("x@v6only.test"))
    m = L.receiver("v6only").wait(1, timeout=5)[-1]
    expect(":" in m["peer"][0] and m["tls"]["version"].startswith("TLSv1."),
           "peer %s tls %s" % (m["peer"], m["tls"]))


@check
def smtp_keeps_up(L):
    rcv = L.receiver("burst")
    before = rcv.count()
    n_conn, per_conn = 4, 100
    errors = []

    def worker(k):
        try:
            with smtplib.SMTP("127.0.10.72", 25, local_hostname=T.RELAY_HOSTNAME,
                              timeout=20) as s:
                if k % 2:
                    s.starttls()
                    s.ehlo(T.RELAY_HOSTNAME)
                for i in range(per_conn):
                    s.sendmail(T.SENDER, ["x@burst.test"],
                               L.message("x@burst.test", headers={
                                   "X-Lab-Seq": "%d-%d" % (k, i)}))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    t0 = time.monotonic()
    ts = [threading.Thread(target=worker, args=(k,)) for k in range(n_conn)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=60)
    expect(not errors, "; ".join(errors))
    msgs = rcv.wait(before + n_conn * per_conn, timeout=10)
    ids = {m["message_id"] for m in msgs[before:]}
    expect(len(ids) == n_conn * per_conn, "unique ids %d" % len(ids))
    lab.log("receiver took %d messages in %.1fs" % (n_conn * per_conn,
                                                    time.monotonic() - t0))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-k", default="", help="run checks whose name contains this")
    a = ap.parse_args()
    lab.enter_namespace()
    passed = failed = skipped = 0
    t0 = time.monotonic()
    try:
        L = lab.Lab("selftest")
        L.__enter__()
    except Exception:
        traceback.print_exc()
        print("selftest: 0 passed, 1 failed (lab did not come up)")
        return 1
    try:
        for fn in CHECKS:
            if a.k not in fn.__name__:
                continue
            t1 = time.monotonic()
            try:
                res = fn(L)
                if res == "skipped":
                    skipped += 1
                    print("skip %s" % fn.__name__, flush=True)
                else:
                    passed += 1
                    print("ok   %s (%.1fs)" % (fn.__name__, time.monotonic() - t1),
                          flush=True)
            except (KeyboardInterrupt, SystemExit):
                failed += 1
                print("FAIL %s: interrupted" % fn.__name__, flush=True)
                break
            except Exception as e:  # noqa: BLE001 - a failed check
                failed += 1
                print("FAIL %s (%.1fs): %s" % (fn.__name__, time.monotonic() - t1,
                                               e if isinstance(e, (AssertionError,
                                                                   lab.LabError))
                                               else traceback.format_exc()),
                      flush=True)
    finally:
        L.failed = failed > 0
        L.__exit__(None, None, None)
    if not have_swaks_tls():
        lab.log("note: swaks cannot do STARTTLS here (perl Net::SSLeay, Debian "
                "libnet-ssleay-perl, missing); TLS submissions used smtplib")
    print("selftest: %d passed, %d failed%s (%.0fs)" % (
        passed, failed, ", %d skipped" % skipped if skipped else "",
        time.monotonic() - t0))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
