"""P4 MTA-STS proactive refresh (RFC 8461 5.1): the policy of a domain
mailed recently is refreshed off the delivery path, without more mail;
a domain no delivery used is never fetched again.

The domains are topology.STSREF_CASES in stsdyn.test (1 s TTLs): their
TXT id follows this file's schedule (topology.stsdyn_records(phase,
ref)), their policy hosts are test_p4_sts.EXTRA_HOSTS on the shared lab
policy server.  The daemon runs with the P4 settings plus a short
sts_refresh_interval and policies of max_age MAX_AGE (below an hour is
honoured as written), so a refresh round comes every INTERVAL seconds and
a policy is due for a refetch MAX_AGE / 2 after it was fetched.

Evidence: `sealpost sts show`, the policy server's request log and
sealpostd's one line per refresh ("sts refresh D: id X unchanged, expires
...", "refetched, ...", "failed (...) keeping cached policy ...").
"""

import re
import time

import lab
import test_p4_sts as P
import topology as T
from test_p4_sts import dyn, expect, lab_up, policy, requests, sealpost, sts_show

INTERVAL = 2                # sts_refresh_interval of this file's daemon (s)
MAX_AGE = 20                # max_age of the refresh domains' policies (s)
REFRESH = dyn("refresh")    # mailed once, then refreshed
UNUSED = dyn("unused")      # cached by `sealpost sts refresh`, never mailed
MX = dyn("mx.refresh")


class State:
    def __init__(self):
        self.logpos = 0
        self.error = None
        self.first_fetch = None      # sts show of REFRESH after the mail
        self.unused_at = None        # when the admin command cached UNUSED
        self.ref = "a"


def set_host(L, run, host, spec):
    P.EXTRA_HOSTS["mta-sts." + host] = spec
    P.write_policy_hosts(L, run, run.phase)


def set_ref(L, run, st, ref):
    st.ref = ref
    L.update_zone(P.DYN, T.stsdyn_records(run.phase, ref))


def refresh_config(L):
    spool = L.path("sealpost-spool-p4")
    return L.write_config(settings={"spool_directory": '"%s"' % spool,
                                    "sts_fetch_timeout": "%ds" % P.FETCH_TIMEOUT,
                                    "sts_refresh_interval": "%ds" % INTERVAL})


def setup(L):
    """Once: policy hosts, daemon with the refresh settings, UNUSED
    cached by the admin command, one message to REFRESH delivered."""
    st = getattr(L, "_p4_refresh", None)
    if st is not None:
        if st.error:
            raise lab.LabError("refresh set-up failed earlier: %s" % st.error)
        return st
    st = L._p4_refresh = State()
    try:
        run = lab_up(L)
        for host in (REFRESH, UNUSED):
            set_host(L, run, host, {"policy": policy(P.ENF, dyn("mx." + host.split(".")[0]),
                                                     max_age=MAX_AGE)})
        if L.daemon is not None and L.daemon.alive():
            L.stop_daemon()
        refresh_config(L)
        if getattr(L, "_p4_run", None) is not None:
            L._p4_run.restored = True       # batch() puts the P4 config back
        st.logpos = L.daemon_log_size()
        L.start_daemon()
        rc, out, err = sealpost(L, "sts", "refresh", UNUSED)
        expect(rc == 0, "sts refresh %s: exit %d\n%s%s" % (UNUSED, rc, out, err))
        st.unused_at = time.time()
        msg = L.message("bob@" + REFRESH, subject="P4 refresh")
        L.sendmail(["bob@" + REFRESH], msg)
        mid = L.message_id(msg)
        lab.wait_until(lambda: any(m["message_id"] == mid for m in
                                   L.receiver("stsdyn-good").messages()),
                       P.DELIVERY_TIMEOUT, what="the message to " + REFRESH)
        lines = P.wait_log(L, "bob@" + REFRESH,
                           lambda ls: any(x["status"] == "sent" for x in ls),
                           10.0, "status=sent line")
        sent = [x for x in lines if x["status"] == "sent"]
        expect(re.search(P.verified("Aidrefresh"), sent[0]["tls"]),
               "tls= part %r: not verified under id Aidrefresh" % sent[0]["tls"])
        st.first_fetch = sts_show(L, REFRESH)
        expect(st.first_fetch and st.first_fetch.get("id") == "Aidrefresh"
               and st.first_fetch.get("last used") not in (None, "-"),
               "sts show %s: %s" % (REFRESH, st.first_fetch and st.first_fetch["_text"]))
    except Exception as e:
        st.error = str(e).splitlines()[0] if str(e) else repr(e)
        raise
    return st


def log_text(L, st):
    return L.daemon_log(st.logpos)


def refresh_lines(L, st, domain):
    pre = "sts refresh %s: " % domain
    return [ln[ln.index(pre):] for ln in log_text(L, st).splitlines() if pre in ln]


def wait_for(L, pred, timeout, what, show=REFRESH):
    deadline = time.monotonic() + timeout
    while True:
        got = pred()
        if got:
            return got
        L.check_daemon()
        if time.monotonic() >= deadline:
            e = sts_show(L, show)
            raise AssertionError("%s: not after %.0fs\n--- sts show %s:\n%s\n"
                                 "--- refresh lines:\n%s" % (
                                     what, timeout, show, e and e["_text"],
                                     "\n".join(refresh_lines(L, L._p4_refresh, show))
                                     or "(none)"))
        time.sleep(0.2)


def mail_lines(L, domain):
    return [x for x in P.log_lines(L, "bob@" + domain)] + \
        [x for x in P.log_lines(L, "carol@" + domain)]


def test_p4_w_refresh_same_id_extends_policy(L):
    """mailed once, policy max_age 20 s, TXT id unchanged: without more
    mail the daemon checks the id every round ("id ... unchanged") and
    refetches the policy in the second half of its max_age; the stored
    expiry moves on"""
    st = setup(L)
    first = st.first_fetch
    host = "mta-sts." + REFRESH
    n0 = len(requests(L, host))

    def refetched():
        e = sts_show(L, REFRESH)
        return e if e and e["fetched"] != first["fetched"] else None
    e = wait_for(L, refetched, MAX_AGE / 2 + 4 * INTERVAL + 5, "a refetch of " + REFRESH)
    expect(e["id"] == "Aidrefresh" and e["expires"] > first["expires"]
           and "(expired)" not in e["expires"],
           "after the refetch: %s" % e["_text"])
    expect(e["last used"] == first["last used"],
           "the refresh counted as mail: last used %s -> %s"
           % (first["last used"], e["last used"]))
    lines = refresh_lines(L, st, REFRESH)
    expect(any(re.match(r"sts refresh \S+: id Aidrefresh unchanged, expires \S+$", x)
               for x in lines), "no 'unchanged' line:\n%s" % "\n".join(lines))
    expect(any(re.match(r"sts refresh \S+: refetched, id Aidrefresh unchanged, mode "
                        r"enforce, expires \S+$", x) for x in lines),
           "no 'refetched' line:\n%s" % "\n".join(lines))
    expect(len(requests(L, host)) > n0, "the policy host saw no new request")
    expect(len(mail_lines(L, REFRESH)) == 1, "more than the one delivery to %s" % REFRESH)


def test_p4_x_refresh_new_id_refetched(L):
    """TXT id A -> B and a new policy (testing, other max_age) on the
    policy host, no mail: the next round sees the id and stores policy B"""
    st = setup(L)
    run = lab_up(L)
    set_host(L, run, REFRESH, {"policy": policy("testing", MX, max_age=MAX_AGE + 10)})
    set_ref(L, run, st, "b")

    def switched():
        e = sts_show(L, REFRESH)
        return e if e and e.get("id") == "Bidrefresh" else None
    e = wait_for(L, switched, 4 * INTERVAL + 5, "policy id Bidrefresh")
    expect(e["mode"] == "testing" and e["max_age"] == str(MAX_AGE + 10)
           and not e.get("last error"), "sts show after the switch:\n%s" % e["_text"])
    lines = refresh_lines(L, st, REFRESH)
    expect(any(re.match(r"sts refresh \S+: refetched, id Aidrefresh -> Bidrefresh, "
                        r"mode testing, expires \S+$", x) for x in lines),
           "no 'refetched, id A -> B' line:\n%s" % "\n".join(lines))
    expect(len(mail_lines(L, REFRESH)) == 1, "mail was sent to %s" % REFRESH)


def test_p4_y_refresh_failure_keeps_cached_policy(L):
    """TXT id B -> C with the policy host answering 404: the refresh fails,
    says so, notes the error, and policy B stays (no downgrade)"""
    st = setup(L)
    run = lab_up(L)
    set_host(L, run, REFRESH, {"status": 404,
                               "policy": policy("none", max_age=MAX_AGE)})
    set_ref(L, run, st, "c")
    pat = re.compile(r"sts refresh \S+: failed \(sts-policy-fetch-error: .*\) keeping "
                     r"cached policy id Bidrefresh, (expires|expired) \S+$")
    wait_for(L, lambda: any(pat.match(x) for x in refresh_lines(L, st, REFRESH)),
             4 * INTERVAL + P.FETCH_TIMEOUT + 5, "a failed refresh line")
    e = sts_show(L, REFRESH)
    expect(e and e["id"] == "Bidrefresh" and e["mode"] == "testing"
           and e.get("last error"), "sts show after the failure:\n%s" % (e and e["_text"]))
    expect(requests(L, "mta-sts." + REFRESH)[-1]["status"] == 404,
           "the last request was not the failing one")


def test_p4_y_refresh_skips_domain_not_mailed(L):
    """a domain cached by `sealpost sts refresh` but never mailed: past
    its expiry and many rounds later, no refresh touched it (one request,
    the admin's; no log line; fetched time unchanged)"""
    st = setup(L)
    until = st.unused_at + MAX_AGE + 3 * INTERVAL
    while time.time() < until:
        L.check_daemon()
        time.sleep(0.5)
    got = requests(L, "mta-sts." + UNUSED)
    expect(len(got) == 1, "requests for %s: %s" % (UNUSED, got))
    expect(not refresh_lines(L, st, UNUSED),
           "refresh lines for %s:\n%s" % (UNUSED, "\n".join(refresh_lines(L, st, UNUSED))))
    e = sts_show(L, UNUSED)
    expect(e and "(expired)" in e["expires"] and e["last used"] == "-",
           "sts show %s:\n%s" % (UNUSED, e and e["_text"]))
    # ... while the mailed domain was looked at again meanwhile
    expect(refresh_lines(L, st, REFRESH), "no refresh of %s at all" % REFRESH)


def test_p4_z_refresh_stop_during_fetch(L):
    """the policy host stalls and the TXT id changes: sealpostd stops
    cleanly (status 0, no sanitizer report) with a refresh fetch running;
    the default configuration is back afterwards"""
    st = setup(L)
    run = lab_up(L)
    set_host(L, run, REFRESH, {"stall": P.STALL, "policy": policy(P.ENF, MX)})
    t0 = time.time()
    set_ref(L, run, st, "d")
    # the stalling host logs a request when it arrives: from then on the
    # fetch runs for sts_fetch_timeout
    wait_for(L, lambda: requests(L, "mta-sts." + REFRESH, since=t0),
             4 * INTERVAL + 5, "a request to the stalling host")
    pos = L.daemon_log_size()
    rc = L.stop_daemon()
    expect(rc == 0, "sealpostd exited %s on SIGTERM" % rc)
    found = L.sanitizer_findings(pos)
    expect(not found, "sanitizer report:\n%s" % "\n".join(found[:20]))
    e = sts_show(L, REFRESH)
    expect(e and e["id"] == "Bidrefresh", "sts show after the stop:\n%s" % (e and e["_text"]))
    # housekeeping: the next case's daemon starts with the default
    # configuration (batch() puts the P4 one back if a P4 case follows)
    P.EXTRA_HOSTS.clear()
    L.write_config()
