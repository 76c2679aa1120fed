"""P3 DANE cases: the 24 cases of shared/seeds/004 and the issue's extras.

The zones, receivers (topology.DANE_HOSTS, started here, not by the lab)
and certificates are in tests/lab/topology.py (daneseed.test for the seed,
danex.test for the extras); every TLSA record is computed from the run's
own certificates.  Outcomes are checked three
ways, per docs/dane-contract.md:

  (a) which receiver got the message (Message-ID), with what TLS and SNI,
      and which hosts were contacted at all (receiver events);
  (b) the verdict in the tls= part of sealpostd's delivery log lines
      ("dane=verified (3 0 1 base=...)", "dane=unusable-tlsa", ...);
  (c) for deferred mail: no receiver has it DEFER_WAIT seconds after
      submission, every log line for the recipient says deferred, no bounce
      went to the sender, and `sendmail -bp` shows a reason naming the host.

To stay fast, the first P3 case restarts sealpostd once with the P3
configuration (its own spool, so the deferred mail stays out of the way of
later cases; tls_policy entries for the policy cases) and submits the
messages of every case at once; each case then waits for its own outcome.
The last case puts the default configuration back.
"""

import concurrent.futures
import os
import re
import subprocess
import time

import dsn
import lab
import topology as T

SEED = T.SEED
X = T.DANEX
DELIVERY_TIMEOUT = 30.0     # a working relay needs a second or two
DEFER_WAIT = 10.0           # deferred: still nowhere this long after submission
FIRST_LOG_TIMEOUT = 25.0    # first delivery log line (TLSA timeouts ~2 s each)
DELAY_WARNING = "2s"        # delay notices for the deferred cases, early

# tls_policy entries of the P3 configuration (docs/dane-contract.md)
POLICIES = [("daneonly." + X, "dane-only"), ("daneonly-ok." + X, "dane-only"),
            ("policynone." + X, "none")]

EXTRAS = ["ta-inter", "ta-root", "ta-badname", "ta-alias", "rollover", "sha512",
          "tlsa-cname", "insecure-a", "twomx-dane", "twomx-down", "bogus-tlsa",
          "daneonly", "daneonly-ok", "policynone", "ee-expired", "ta-expired",
          "full-cert", "ta-root-absent", "implicit-dane", "implicit-dane-bad"]

# case -> recipient; one recipient domain per case
RCPT = {"seed%d" % n: "rcpt%d@test%d.%s" % (n, n, SEED) for n in range(1, 25)}
RCPT.update({x: "bob@%s.%s" % (x, X) for x in EXTRAS})
RCPT["insecure-mx"] = "bob@insecmx.insec." + X     # the domain is in the insecure zone

LOGLINE = re.compile(r"^\S+ \S+: (?P<qid>\S+): to=<(?P<to>[^>]*)>, relay=(?P<relay>\S+), "
                     r".*?dsn=(?P<dsn>\S+), status=(?P<status>\w+) \((?P<text>.*)\), "
                     r"tls=(?P<tls>.*)$")

# verdicts in the tls= part (docs/dane-contract.md, "Log line")
UNUSABLE = r"\bdane=unusable-tlsa\b"
NOMATCH = r"\bdane=failed \(no matching TLSA\)"
FAILED = r"\bdane=failed\b"
INSECURE = r"\bdane=none \(insecure\)"
NO_TLSA = r"\bdane=none \(no TLSA\)"
BOGUS = r"\bdnssec=bogus\b"
LOOKUP_FAILED = r"\bdane=tlsa-lookup-failed\b"


def verified(usage, selector, mtype, base):
    return r"\bdane=verified \(%d %d %d base=%s\.?\)" % (usage, selector, mtype,
                                                        re.escape(base))


def expect(cond, msg):
    if not cond:
        raise AssertionError(msg)


# ----------------------------------------------------------------- the batch


class Batch:
    """The P3 daemon run: configuration, submissions, log offset."""

    def __init__(self, L):
        self.L = L
        self.sub = {}           # case -> (rcpt, message-id, submit time)
        self.logpos = 0
        self.error = None


def p3_config(L):
    spool = L.path("sealpost-spool-p3")
    os.makedirs(spool, exist_ok=True)
    extra = "\n".join('tls_policy "%s" {\n\tlevel = %s\n}' % p for p in POLICIES)
    return L.write_config(settings={"spool_directory": '"%s"' % spool,
                                    "delay_warning_time": DELAY_WARNING},
                          extra=extra)


def start_receivers(L):
    """Start topology.DANE_HOSTS (the lab itself starts only MAILHOSTS)."""
    started = [L.start_receiver(h) for h in T.DANE_HOSTS if h.name not in L.receivers]
    for r in started:
        lab.wait_until(lambda: os.path.exists(r.pidfile) or not r.proc.alive(),
                       lab.START_TIMEOUT, what="receiver " + r.name)
        if not r.proc.alive():
            raise lab.LabError("receiver %s died:\n%s" % (r.name, lab.tail(r.proc.logpath)))


def batch(L):
    """Start the P3 run once per lab; later calls return the same batch."""
    b = getattr(L, "_p3_batch", None)
    if b is not None:
        if b.error:
            raise lab.LabError("P3 set-up failed earlier: %s" % b.error)
        return b
    b = L._p3_batch = Batch(L)
    try:
        start_receivers(L)
        if L.daemon is not None and L.daemon.alive():
            L.stop_daemon()
        p3_config(L)
        b.logpos = L.daemon_log_size()
        L.start_daemon()
        msgs = {case: L.message(rcpt, subject="P3 %s" % case)
                for case, rcpt in RCPT.items()}

        def submit(case):
            L.sendmail([RCPT[case]], msgs[case])
            b.sub[case] = (RCPT[case], L.message_id(msgs[case]), time.monotonic())

        with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
            for f in [pool.submit(submit, c) for c in RCPT]:
                f.result(timeout=120)
    except Exception as e:
        b.error = str(e).splitlines()[0] if str(e) else repr(e)
        # leave a configuration behind that later cases can run with
        L.write_config()
        raise
    lab.log("p3: %d messages submitted" % len(b.sub))
    return b


# ----------------------------------------------------------------- evidence


def log_lines(L, rcpt):
    """Delivery log lines (parsed) for rcpt since the P3 run started."""
    b = batch(L)
    try:
        with open(L.daemon_log_path(), "rb") as f:
            f.seek(b.logpos)
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


def p3_receivers(L):
    return [L.receiver(h.name) for h in T.DANE_HOSTS]


def holders(L, mid):
    """Names of the P3 receivers that have message mid."""
    return [r.name for r in p3_receivers(L)
            if any(m["message_id"] == mid for m in r.messages())]


def contacted(L, name):
    return bool(L.receiver(name).events("connect"))


def blackhole_queries(L, server):
    """(qname, qtype) of every query the blackhole server swallowed."""
    try:
        with open(L.path("dns", server, "blackhole.log")) as f:
            rows = [line.split() for line in f]
    except OSError:
        return []
    return [(r[4], int(r[5])) for r in rows if len(r) >= 6]


def mailq_reason(L, rcpt):
    """The last-reason text `sendmail -bp` shows for pending rcpt, "" when
    it shows none, None when rcpt is not listed."""
    env = dict(os.environ, SEALPOST_POSTDROP=L.postdrop_path())
    r = subprocess.run([L.bin("mta/sendmail"), "-C", L.conf, "-bp"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                       timeout=30)
    out = r.stdout.decode("utf-8", "replace")
    expect(r.returncode == 0, "sendmail -bp exited %d: %s"
           % (r.returncode, r.stderr.decode("utf-8", "replace").strip()))
    for block in out.split("\n\n"):
        reason = ""
        for line in block.splitlines():
            s = line.strip()
            if s.startswith("(") and s.endswith(")"):
                reason = s[1:-1]
            elif s.lower() == rcpt.lower():
                return reason
    return None


# ----------------------------------------------------------------- outcomes


def delivered(L, case, rcv, verdict, sni=None, tls=True, quiet=()):
    """case's message arrives at receiver rcv (and nowhere else), the one
    "sent" log line carries verdict; quiet: receivers never contacted."""
    b = batch(L)
    rcpt, mid, t0 = b.sub[case]
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while True:
        got = holders(L, mid)
        if got:
            break
        L.check_daemon()
        if time.monotonic() >= deadline:
            raise AssertionError("%s: not delivered after %.0fs, want %s; log lines:\n%s"
                                 % (case, DELIVERY_TIMEOUT, rcv, "\n".join(
                                     x["line"] for x in log_lines(L, rcpt)) or "(none)"))
        time.sleep(0.1)
    expect(got == [rcv], "delivered to %s, want %s" % (got, rcv))
    m = next(m for m in L.receiver(rcv).messages() if m["message_id"] == mid)
    expect([r.lower() for r in m["rcpt_tos"]] == [rcpt.lower()],
           "RCPT TO %r, want [%r]" % (m["rcpt_tos"], rcpt))
    if tls:
        expect(m["tls"], "%s got the message in cleartext" % rcv)
    else:
        expect(m["tls"] is None, "%s got the message over TLS (%s), want cleartext"
               % (rcv, m["tls"]))
    if sni is not None:
        expect((m["sni"] or "").lower().rstrip(".") == sni.lower(),
               "SNI %r, want the TLSA base domain %r" % (m["sni"], sni))
    lines = wait_log(L, rcpt, lambda ls: any(x["status"] == "sent" for x in ls),
                     10.0, "status=sent line")
    sent = [x for x in lines if x["status"] == "sent"]
    expect(len(sent) == 1, "%d sent lines for %s:\n%s"
           % (len(sent), rcpt, "\n".join(x["line"] for x in sent)))
    if verdict:
        expect(re.search(verdict, sent[0]["tls"]),
               "tls= part %r lacks /%s/\n%s" % (sent[0]["tls"], verdict, sent[0]["line"]))
    for q in quiet:
        expect(not contacted(L, q), "%s was contacted: %s" % (q, L.receiver(q).events()))
    lab.log("%s: %s tls=%s" % (case, rcv, sent[0]["tls"]))
    return m, sent[0]


def deferred(L, case, verdict, host, dsn_re=r"4\.7\.\d{1,3}", tried=(), quiet=()):
    """case's message is delivered nowhere for DEFER_WAIT seconds; every log
    line for it is a deferral carrying verdict with an enhanced status
    matching dsn_re; `sendmail -bp` shows a reason naming host; no bounce.
    tried: receivers that must have been contacted (and got nothing);
    quiet: receivers that must not have been contacted."""
    b = batch(L)
    rcpt, mid, t0 = b.sub[case]
    wait_log(L, rcpt, lambda ls: ls, FIRST_LOG_TIMEOUT, "delivery log line")
    while time.monotonic() < t0 + DEFER_WAIT:
        L.check_daemon()
        time.sleep(0.2)
    got = holders(L, mid)
    expect(not got, "delivered to %s, want deferred" % got)
    lines = log_lines(L, rcpt)
    bad = [x["line"] for x in lines if x["status"] != "deferred"]
    expect(not bad, "want only deferrals for %s, got:\n%s" % (rcpt, "\n".join(bad)))
    for x in lines:
        expect(re.search(verdict, x["tls"]),
               "tls= part %r lacks /%s/\n%s" % (x["tls"], verdict, x["line"]))
        expect(re.fullmatch(dsn_re, x["dsn"]), "dsn=%s, want /%s/\n%s"
               % (x["dsn"], dsn_re, x["line"]))
    reason = mailq_reason(L, rcpt)
    expect(reason is not None, "%s is not in the queue listing (sendmail -bp)" % rcpt)
    expect(host.lower() in reason.lower(),
           "queue listing reason %r does not name the host %s" % (reason, host))
    notices = dsn.for_recipient(L.receiver("sender").messages(), rcpt)
    bounces = [h for h in notices if h[3].get("action", "").lower() == "failed"]
    expect(not bounces, "a bounce was sent for %s" % rcpt)
    delay_notice_names_host(L, rcpt, host)
    for t in tried:
        expect(contacted(L, t), "%s was never contacted" % t)
    for q in quiet:
        expect(not contacted(L, q), "%s was contacted: %s" % (q, L.receiver(q).events()))
    lab.log("%s: deferred %d times, %s; mailq: (%s)" % (case, len(lines),
            lines[-1]["dsn"], reason))


def delay_notice_names_host(L, rcpt, host, timeout=10.0):
    """The delay notice (delay_warning_time) for rcpt shows the reason of
    the last attempt: its Diagnostic-Code or its human-readable part names
    the host (issue 4: delay notices show the TLS verdict)."""
    deadline = time.monotonic() + timeout
    while True:
        hits = [h for h in dsn.for_recipient(L.receiver("sender").messages(), rcpt)
                if h[3].get("action", "").lower() == "delayed"]
        if hits:
            break
        L.check_daemon()
        if time.monotonic() >= deadline:
            raise AssertionError("no delay notice for %s at sender.test within %.0fs "
                                 "of the deferral (delay_warning_time %s)"
                                 % (rcpt, timeout, DELAY_WARNING))
        time.sleep(0.2)
    rec, msg, per_msg, f = hits[-1]
    text = f.get("diagnostic-code", "")
    for part in msg.walk():
        if part.get_content_type() == "text/plain":
            text += "\n" + (part.get_payload(decode=True) or b"").decode("utf-8", "replace")
            break
    expect(host.lower() in text.lower(),
           "the delay notice for %s does not name %s:\n%s" % (rcpt, host, text))


def s(n, suffix=""):
    """The seed's host name testN<suffix> under daneseed.test."""
    return "test%d%s.%s" % (n, suffix, SEED)


def x(name):
    return "%s.%s" % (name, X)


# ----------------------------------------------------------------- the seed


def test_seed_01_primary_key_mismatch_secondary_verified(L):
    """seed 1: two MX with usable TLSA; the primary's key does not match:
    delivered to the secondary, DANE-verified"""
    delivered(L, "seed1", "seed-good", verified(3, 0, 1, s(1, "b")), sni=s(1, "b"))
    expect(contacted(L, "seed-t1a"), "the primary test1a was never tried")
    expect(not L.receiver("seed-t1a").messages(), "the mismatching primary got mail")


def test_seed_02_only_mx_key_mismatch_deferred(L):
    """seed 2: one MX with usable TLSA, key does not match: deferred (4.7.5)"""
    deferred(L, "seed2", NOMATCH, s(2, "a"), dsn_re=r"4\.7\.5", tried=["seed-t2a"])


def test_seed_03_primary_no_starttls_secondary_verified(L):
    """seed 3: two MX with usable TLSA, the primary offers no STARTTLS:
    delivered to the secondary, DANE-verified, never in cleartext"""
    delivered(L, "seed3", "seed-good", verified(3, 0, 1, s(3, "b")), sni=s(3, "b"))
    expect(contacted(L, "seed-t3a"), "the primary test3a was never tried")
    expect(not L.receiver("seed-t3a").messages(), "cleartext delivery to test3a")


def test_seed_04_only_mx_no_starttls_deferred(L):
    """seed 4: one MX with usable TLSA, no STARTTLS: deferred (4.7.x)"""
    deferred(L, "seed4", FAILED, s(4, "a"), tried=["seed-t4a"])


def test_seed_05_pkix_usage_unusable_encrypted(L):
    """seed 5: only a 1 0 2 (PKIX-EE) record: unusable, delivered with
    STARTTLS but not authenticated"""
    delivered(L, "seed5", "seed-good", UNUSABLE)


def test_seed_06_pkix_usage_no_starttls_deferred(L):
    """seed 6: only a 1 0 2 record and no STARTTLS: deferred (TLS is
    mandatory with a secure TLSA RRset)"""
    deferred(L, "seed6", UNUSABLE, s(6, "a"), tried=["seed-t6a"])


def test_seed_07_selector_2_unusable_encrypted(L):
    """seed 7: 3 2 1 (unknown selector): unusable, encrypted delivery"""
    delivered(L, "seed7", "seed-good", UNUSABLE)


def test_seed_08_selector_2_no_starttls_deferred(L):
    """seed 8: 3 2 1 and no STARTTLS: deferred"""
    deferred(L, "seed8", UNUSABLE, s(8, "a"), tried=["seed-t8a"])


def test_seed_09_mtype_4_unusable_encrypted(L):
    """seed 9: 3 0 4 (unknown matching type): unusable, encrypted delivery"""
    delivered(L, "seed9", "seed-good", UNUSABLE)


def test_seed_10_mtype_4_no_starttls_deferred(L):
    """seed 10: 3 0 4 and no STARTTLS: deferred"""
    deferred(L, "seed10", UNUSABLE, s(10, "a"), tried=["seed-t10a"])


def test_seed_11_short_digest_unusable_encrypted(L):
    """seed 11: 3 0 1 with a 16-byte digest: unusable, encrypted delivery"""
    delivered(L, "seed11", "seed-good", UNUSABLE)


def test_seed_12_short_digest_no_starttls_deferred(L):
    """seed 12: 3 0 1 with a 16-byte digest and no STARTTLS: deferred"""
    deferred(L, "seed12", UNUSABLE, s(12, "a"), tried=["seed-t12a"])


def test_seed_13_domain_cname_verified(L):
    """seed 13: the domain is a CNAME to the MX owner; TLSA at the MX host
    matches: verified"""
    delivered(L, "seed13", "seed-good", verified(3, 0, 1, s(13, "aa")), sni=s(13, "aa"))


def test_seed_14_domain_cname_mismatch_deferred(L):
    """seed 14: as 13 with a TLSA record that does not match: deferred"""
    deferred(L, "seed14", NOMATCH, s(14, "aa"), dsn_re=r"4\.7\.5")


def test_seed_15_mx_cname_tlsa_at_mx_name_verified(L):
    """seed 15: the MX host is a CNAME chain; TLSA only at the MX name
    (the original name is the base domain): verified"""
    delivered(L, "seed15", "seed-good", verified(3, 0, 1, s(15, "aa")), sni=s(15, "aa"))


def test_seed_16_mx_cname_tlsa_at_mx_name_mismatch_deferred(L):
    """seed 16: as 15 with a TLSA record that does not match: deferred"""
    deferred(L, "seed16", NOMATCH, s(16, "aa"), dsn_re=r"4\.7\.5")


def test_seed_17_mx_cname_tlsa_at_chain_end_verified(L):
    """seed 17: TLSA at the end of the MX host's secure CNAME chain (the
    expanded name is the base domain): verified"""
    delivered(L, "seed17", "seed-good", verified(3, 0, 1, s(17, "aaaa")),
              sni=s(17, "aaaa"))


def test_seed_18_mx_cname_tlsa_at_chain_end_mismatch_deferred(L):
    """seed 18: as 17 with a TLSA record that does not match: deferred"""
    deferred(L, "seed18", NOMATCH, s(18, "aa"), dsn_re=r"4\.7\.5")


def test_seed_19_mx_in_insecure_zone_opportunistic(L):
    """seed 19: secure MX, MX host in an insecure zone (its TLSA owner would
    time out): no DANE, delivered opportunistically to the MX host, never
    to the domain's own A record"""
    delivered(L, "seed19", "seed-good", INSECURE, quiet=["seed-trap19"])
    asked = [q for q in blackhole_queries(L, "blackhole") if "test19aa" in q[0]]
    if asked:
        lab.log("seed19: note: a TLSA lookup for the insecure host was made "
                "(%s); the seed tolerates it, the extra case insecure-a does not"
                % asked[:1])


def test_seed_20_tlsa_lookup_timeout_deferred(L):
    """seed 20: secure MX host whose TLSA lookup times out: deferred, no
    fallback to the domain's own A record"""
    deferred(L, "seed20", LOOKUP_FAILED, s(20, "a"), dsn_re=r"4\.\d{1,3}\.\d{1,3}",
             quiet=["seed-trap20"])


def test_seed_21_tlsa_both_ends_end_matches_verified(L):
    """seed 21: TLSA at both ends of the MX host's secure chain; the end
    matches, the start (ignored) does not: verified with the expanded base"""
    delivered(L, "seed21", "seed-good", verified(3, 0, 1, s(21, "aaaa")),
              sni=s(21, "aaaa"))


def test_seed_22_tlsa_both_ends_end_mismatch_deferred(L):
    """seed 22: TLSA at both ends; the end does not match, the start (which
    would) is ignored: deferred"""
    deferred(L, "seed22", NOMATCH, s(22, "aa"), dsn_re=r"4\.7\.5")


def test_seed_23_chain_via_insecure_zone_mx_name_verified(L):
    """seed 23: the MX host's chain passes through an insecure zone: only
    the MX name's TLSA counts (it matches; the end's does not): verified"""
    delivered(L, "seed23", "seed-good", verified(3, 0, 1, s(23, "aa")), sni=s(23, "aa"))


def test_seed_24_chain_via_insecure_zone_mx_name_mismatch_deferred(L):
    """seed 24: as 23, the MX name's TLSA does not match (the end's would,
    but does not count): deferred"""
    deferred(L, "seed24", NOMATCH, s(24, "aa"), dsn_re=r"4\.7\.5")


# ----------------------------------------------------------------- beyond the seed


def test_x_dane_ta_intermediate_verified(L):
    """DANE-TA(2) 2 0 1 of the intermediate the server presents; the leaf
    names the MX host: verified"""
    delivered(L, "ta-inter", "x-ta-inter", verified(2, 0, 1, x("mx.ta-inter")),
              sni=x("mx.ta-inter"))


def test_x_dane_ta_root_in_chain_verified(L):
    """DANE-TA(2) 2 1 1 of the root (not in tls_ca_file) presented in the
    server's chain: verified"""
    delivered(L, "ta-root", "x-ta-root", verified(2, 1, 1, x("mx.ta-root")),
              sni=x("mx.ta-root"))


def test_x_dane_ta_wrong_name_deferred(L):
    """DANE-TA(2) matches the chain, but the leaf names neither the MX host
    nor the base domain (RFC 7672 3.2.3): deferred"""
    deferred(L, "ta-badname", FAILED, x("mx.ta-badname"), tried=["x-ta-badname"])


def test_x_dane_ta_mx_alias_name_check(L):
    """DANE-TA(2) at the expanded name of an MX alias, the leaf names only
    the MX host name: verified, base and SNI the expanded name"""
    delivered(L, "ta-alias", "x-ta-alias", verified(2, 0, 1, x("real.ta-alias")),
              sni=x("real.ta-alias"))


def test_x_key_rollover_stale_and_current(L):
    """TLSA RRset in a key rollover (stale key first, then the current one):
    verified"""
    delivered(L, "rollover", "x-rollover", verified(3, 1, 1, x("mx.rollover")),
              sni=x("mx.rollover"))


def test_x_sha512_3_1_2_verified(L):
    """3 1 2 (SHA-512 of the SPKI): verified"""
    delivered(L, "sha512", "x-sha512", verified(3, 1, 2, x("mx.sha512")),
              sni=x("mx.sha512"))


def test_x_tlsa_owner_cname_verified(L):
    """the TLSA owner is a (secure) CNAME to the RRset: followed, verified,
    base domain still the MX host"""
    delivered(L, "tlsa-cname", "x-tlsa-cname", verified(3, 1, 1, x("mx.tlsa-cname")),
              sni=x("mx.tlsa-cname"))


def test_x_insecure_mx_address_no_tlsa_query(L):
    """secure MX, the MX host's A record insecure: no DANE, opportunistic
    TLS, and no TLSA query at all (it would reach the probe blackhole)"""
    delivered(L, "insecure-a", "x-insecure-a", INSECURE)
    asked = [q for q in blackhole_queries(L, "probe") if "insecure-a-tlsa" in q[0]]
    expect(not asked, "a TLSA lookup was made for the insecure host "
           "mx.insec.%s: the probe blackhole saw %s" % (X, asked))


def test_x_two_mx_dane_host_verified(L):
    """two MX, only the primary has TLSA: delivered to it, verified; the
    secondary is not contacted"""
    delivered(L, "twomx-dane", "x-2mx-mx1", verified(3, 1, 1, x("mx1.twomx-dane")),
              sni=x("mx1.twomx-dane"), quiet=["x-2mx-mx2"])


def test_x_two_mx_dane_host_down_other_opportunistic(L):
    """two MX, the primary has TLSA but is down: the secondary (no TLSA,
    secure zone) gets it with opportunistic TLS (RFC 7672 2.2.1)"""
    delivered(L, "twomx-down", "x-2mxdown-mx2", NO_TLSA)


def test_x_bogus_tlsa_deferred(L):
    """secure MX and A, the TLSA RRset bogus (expired signatures): deferred,
    never delivered"""
    deferred(L, "bogus-tlsa", BOGUS, x("mx.bogus-tlsa"), dsn_re=r"4\.\d{1,3}\.\d{1,3}")


def test_x_policy_dane_only_without_tlsa_deferred(L):
    """tls_policy dane-only for a domain without TLSA: deferred"""
    deferred(L, "daneonly", NO_TLSA, x("mx.daneonly"), dsn_re=r"4\.\d{1,3}\.\d{1,3}")


def test_x_policy_dane_only_with_tlsa_verified(L):
    """tls_policy dane-only for a domain with matching TLSA: verified"""
    delivered(L, "daneonly-ok", "x-daneonly-ok", verified(3, 1, 1, x("mx.daneonly-ok")),
              sni=x("mx.daneonly-ok"))


def test_x_policy_none_overrides_dane_cleartext(L):
    """tls_policy none for a domain with matching TLSA: cleartext, no DANE"""
    m, line = delivered(L, "policynone", "x-policynone", None, tls=False)
    expect(not re.search(r"dane=(verified|failed)", line["tls"]),
           "tls= part %r claims DANE with level none" % line["tls"])


def test_x_dane_ee_ignores_expiry_and_name(L):
    """DANE-EE(3) 3 1 1 of an expired certificate for an unrelated name:
    verified (RFC 7672 3.1.1)"""
    delivered(L, "ee-expired", "x-ee-expired", verified(3, 1, 1, x("mx.ee-expired")),
              sni=x("mx.ee-expired"))


def test_x_dane_ta_expired_leaf_deferred(L):
    """DANE-TA(2) matches, but the leaf has expired: deferred (RFC 7672
    3.1.2: the chain is checked as in PKIX)"""
    deferred(L, "ta-expired", FAILED, x("mx.ta-expired"), tried=["x-ta-expired"])


def test_x_full_certificate_3_0_0_verified(L):
    """3 0 0 (the whole certificate): verified"""
    delivered(L, "full-cert", "x-full-cert", verified(3, 0, 0, x("mx.full-cert")),
              sni=x("mx.full-cert"))


def test_x_dane_ta_digest_of_absent_root_deferred(L):
    """2 0 1 of a root the server does not present in its chain: nothing
    to match (RFC 7671 5.2.2), deferred"""
    deferred(L, "ta-root-absent", NOMATCH, x("mx.ta-root-absent"), dsn_re=r"4\.7\.5",
             tried=["x-ta-root-absent"])


def test_x_insecure_mx_rrset_no_dane(L):
    """insecure MX RRset naming a secure host with a non-matching TLSA: DANE
    does not apply (RFC 7672 2.2.1), opportunistic TLS delivery"""
    delivered(L, "insecure-mx", "x-insecure-mx", INSECURE)


def test_x_implicit_mx_dane_verified(L):
    """no MX records: the domain itself is the host and its TLSA applies:
    verified"""
    delivered(L, "implicit-dane", "x-implicit", verified(3, 1, 1, x("implicit-dane")),
              sni=x("implicit-dane"))


def test_x_implicit_mx_dane_mismatch_deferred(L):
    """no MX records, the domain's own TLSA does not match: deferred"""
    deferred(L, "implicit-dane-bad", NOMATCH, x("implicit-dane-bad"),
             dsn_re=r"4\.7\.5", tried=["x-implicit-bad"])


def test_x_zz_restore_default_config(L):
    """(housekeeping) sealpostd stops cleanly; the default configuration is back"""
    try:
        if getattr(L, "_p3_batch", None) is not None and L.daemon is not None \
                and L.daemon.alive():
            rc = L.stop_daemon()
            expect(rc == 0, "sealpostd exited %s on SIGTERM" % rc)
    finally:
        L.write_config()
