"""P4 MTA-STS enforcement cases: enforce, testing, fetch failures with and
without a cached policy, TXT id changes, restart.

They share the set-up and helpers of test_p4_sts.py, which runs first
(run_tests.py collects files in name order).
"""

import re
import time

from test_p4_sts import (RCPT_A, STALL, S, VERDICT_ANY, batch, d,  # noqa: F401
                         deferred, delivered, dyn, expect, requests, restore_default_config,
                         sealpost, static_id, sts_show, submit_all, switch_to_phase_b,
                         verified)


def test_p4_c_enforce_valid_delivered_with_sni(L):
    """enforce, valid certificate naming the MX host: delivered, SNI = MX
    host, sts=enforce verified (policy id ...)"""
    delivered(L, "ok", "sts-ok", verified(static_id("ok")), sni=d("mx.ok"))
    e = sts_show(L, d("ok"))
    expect(e and e.get("id") == static_id("ok"), "sts show: %s" % (e and e["_text"]))


def test_p4_d_seed000_many_wildcard_sans(L):
    """seed 000: certificate with 30+ wildcard SANs, the MX host matching
    *.olc.protection... (not the first wildcard): delivered, verified"""
    delivered(L, "wild-ms", "sts-wild-ms", verified(static_id("wild-ms")),
              sni="hotmail-com.olc.protection.outlook.wild." + S)


def test_p4_e_seed000_01mail_wildcards(L):
    """seed 000: *.01-mail-com/net/org plus the bare names; the MX host
    mx.01-mail-net... is covered by the second wildcard: delivered"""
    delivered(L, "wild-01", "sts-wild-01", verified(static_id("wild-01")),
              sni=d("mx.01-mail-net.wild"))


def test_p4_f_wildcard_not_two_labels(L):
    """certificate *.twolabel.sts.test, MX a.mx.twolabel.sts.test: the
    wildcard covers one label only: deferred"""
    deferred(L, "twolabel", r"\bsts=enforce failed\b", r"a\.mx\.twolabel",
             tried=["sts-twolabel"])


def test_p4_g_name_mismatch_deferred(L):
    """enforce, the certificate names another host: deferred,
    certificate-host-mismatch"""
    deferred(L, "mismatch", r"\bsts=enforce failed \(certificate-host-mismatch\)",
             r"mx\.mismatch", tried=["sts-mismatch"])


def test_p4_h_expired_cert_deferred(L):
    """enforce, expired certificate: deferred"""
    deferred(L, "expired", r"\bsts=enforce failed\b", r"mx\.expired",
             tried=["sts-expired"])


def test_p4_i_untrusted_ca_deferred(L):
    """enforce, certificate from a CA not in tls_ca_file: deferred"""
    deferred(L, "untrusted", r"\bsts=enforce failed\b", r"mx\.untrusted",
             tried=["sts-untrusted"])


def test_p4_j_testing_mismatch_delivered(L):
    """mode testing, certificate names another host: delivered, logged as
    sts=testing failed (certificate-host-mismatch)"""
    delivered(L, "testing", "sts-testing",
              r"\bsts=testing failed \(certificate-host-mismatch\)")


def test_p4_k_mx_not_matching_skipped(L):
    """enforce, MX 10 not in the policy, MX 20 in it: MX 20 gets it,
    MX 10 is never contacted"""
    delivered(L, "skip", "sts-skip-mx2", verified(static_id("skip")),
              sni=d("mx2.skip"), quiet=["sts-skip-mx1"])


def test_p4_k_many_mx_not_matching_before_limit(L):
    """six MX hosts outside the policy ahead of the matching one (more
    than the address limit of 5): they are skipped without taking a place,
    the matching MX (pref 70) gets the mail, verified"""
    m, sent = delivered(L, "manymx", "sts-manymx", verified(static_id("manymx")),
                        sni=d("mx.manymx"))
    text = L.daemon_log()
    for i in range(1, 7):
        expect("skipping %s, it matches no mx pattern" % d("bad%d.manymx" % i) in text,
               "no skip line for %s" % d("bad%d.manymx" % i))


def test_p4_l_no_mx_matches_deferred(L):
    """enforce, no MX host matches the policy: deferred 4.7.x, nobody
    contacted"""
    deferred(L, "nomatch", None, r"MTA-STS|mx\.nomatch", quiet=["sts-nomatch"])


def test_p4_m_no_starttls_deferred(L):
    """enforce, the MX offers no STARTTLS: deferred, never in cleartext"""
    deferred(L, "nostarttls", r"\bsts=enforce failed \(starttls-not-supported\)",
             r"mx\.nostarttls", tried=["sts-nostarttls"])


def test_p4_n_sni_selected_certificate(L):
    """seeds 001/003: the default certificate is wrong, the one chosen by
    SNI names the MX host: delivered, SNI = MX host"""
    delivered(L, "sni", "sts-sni", verified(static_id("sni")), sni=d("mx.sni"))


def test_p4_o_seed002_mx_cname(L):
    """seed 002: the MX name is a CNAME; the certificate names the MX name
    only: delivered, SNI = the MX name (not the CNAME target)"""
    delivered(L, "cname", "sts-cname", verified(static_id("cname")), sni=d("mxi1.cname"))


def _fetch_failed_opportunistic(L, kind):
    delivered(L, "f" + kind, "sts-fetchfail", r"\bsts=none\b", not_verdict=VERDICT_ANY)
    expect(sts_show(L, d("f" + kind)) is None, "%s got cached" % d("f" + kind))


def test_p4_q_fetch_404_no_policy(L):
    """policy host answers 404, nothing cached: opportunistic delivery, sts=none"""
    _fetch_failed_opportunistic(L, "404")


def test_p4_q_fetch_redirect_no_policy(L):
    """policy host answers 301 (to a valid policy): not followed, sts=none"""
    _fetch_failed_opportunistic(L, "301")


def test_p4_q_fetch_html_no_policy(L):
    """policy served as text/html: refused, sts=none"""
    _fetch_failed_opportunistic(L, "html")


def test_p4_q_fetch_badcert_no_policy(L):
    """policy host with an untrusted certificate: refused, sts=none"""
    _fetch_failed_opportunistic(L, "badcert")


def test_p4_q_fetch_oversized_no_policy(L):
    """70 KiB policy body: refused, sts=none"""
    _fetch_failed_opportunistic(L, "big")


def test_p4_q_fetch_timeout_no_policy(L):
    """policy host stalls past sts_fetch_timeout: delivered without
    policy, sts=none, well before the host would answer"""
    _fetch_failed_opportunistic(L, "stall")
    run = batch(L)
    rcpt, mid, t0 = run.sub["fstall"]
    expect(time.monotonic() - t0 < STALL,
           "delivery waited for the stalled host (%.0fs)" % (time.monotonic() - t0))


def test_p4_r_phase_a_policies_cached(L):
    """stsdyn.test phase a: each domain delivered under policy id A and
    the policy is cached"""
    run = batch(L)
    for c in RCPT_A:
        delivered(L, "a:" + c, "stsdyn-good", verified("Aid" + c), sni=dyn("mx." + c))
        if c == "idchange" and run.phase == "b":
            continue            # refetched under id B by now (test_p4_t)
        e = sts_show(L, dyn(c))
        expect(e and e.get("id") == "Aid" + c, "sts show %s: %s" % (dyn(c), e and e["_text"]))


def _cached_enforced(L, c):
    run = switch_to_phase_b(L)
    rcpt, mid, t0 = run.sub["b:" + c]
    deferred(L, "b:" + c, None, r"MTA-STS|evil\.%s" % re.escape(c))
    expect(not any(m["message_id"] == mid for m in L.receiver("stsdyn-evil").messages()),
           "the MX host the cached policy does not allow got the mail")
    e = sts_show(L, dyn(c))
    expect(e and e.get("id") == "Aid" + c,
           "cached policy of %s not kept: %s" % (dyn(c), e and e["_text"]))
    host = "mta-sts." + dyn(c)
    if c != "cbadcert":
        expect(requests(L, host, since=run.switched_at),
               "TXT id changed but %s was not asked again" % host)


def test_p4_s_cached_policy_survives_404(L):
    """cached policy A, TXT id -> B, policy host 404: policy A still
    enforced (the new MX is deferred), cache keeps id A"""
    _cached_enforced(L, "c404")


def test_p4_s_cached_policy_survives_redirect(L):
    """cached policy A, TXT id -> B, host answers 301: policy A enforced"""
    _cached_enforced(L, "c301")


def test_p4_s_cached_policy_survives_html(L):
    """cached policy A, TXT id -> B, text/html: policy A enforced"""
    _cached_enforced(L, "chtml")


def test_p4_s_cached_policy_survives_badcert(L):
    """cached policy A, TXT id -> B, untrusted HTTPS certificate: policy A
    enforced"""
    _cached_enforced(L, "cbadcert")


def test_p4_s_cached_policy_survives_oversize(L):
    """cached policy A, TXT id -> B, 70 KiB body: policy A enforced"""
    _cached_enforced(L, "cbig")


def test_p4_s_cached_policy_survives_timeout(L):
    """cached policy A, TXT id -> B, host stalls: policy A enforced"""
    _cached_enforced(L, "cstall")


def test_p4_t_txt_id_change_refetch(L):
    """TXT id A -> B with a working host: refetched (the host sees a new
    request), policy B (allowing evil.<domain>) is used and cached"""
    run = switch_to_phase_b(L)
    host = "mta-sts." + dyn("idchange")
    delivered(L, "b:idchange", "stsdyn-evil", verified("Bididchange"),
              sni=dyn("evil.idchange"))
    expect(requests(L, host, since=run.switched_at), "no refetch from %s" % host)
    e = sts_show(L, dyn("idchange"))
    expect(e and e.get("id") == "Bididchange", "sts show: %s" % (e and e["_text"]))


def test_p4_v_restart_keeps_cache(L):
    """daemon restart: `sts list` is the same before and after, and a new
    message to ok.sts.test is delivered under the cached policy without a
    new fetch"""
    run = batch(L)
    delivered(L, "ok", "sts-ok", verified(static_id("ok")))

    def listing():
        rc, out, err = sealpost(L, "sts", "list")
        expect(rc == 0, "sts list exited %d: %s" % (rc, err))
        return sorted(" ".join(line.split()[:3]) for line in out.splitlines()[1:]
                      if line.strip())
    before = listing()
    expect(any(line.startswith(d("ok") + " ") for line in before),
           "ok.sts.test not in sts list:\n%s" % "\n".join(before))
    fetches = len(requests(L, "mta-sts." + d("ok")))
    L.stop_daemon()
    L.start_daemon()
    after = listing()
    expect(before == after, "sts list changed over the restart:\n%s\n---\n%s"
           % ("\n".join(before), "\n".join(after)))
    submit_all(L, run, {"ok2": "dave@" + d("ok")}, "r:")
    delivered(L, "r:ok2", "sts-ok", verified(static_id("ok")), sni=d("mx.ok"))
    expect(len(requests(L, "mta-sts." + d("ok"))) == fetches,
           "the policy was fetched again after the restart")


def test_p4_zzz_restore_default_config_wip(L):
    """(housekeeping) sealpostd stops cleanly; the default configuration is back"""
    restore_default_config(L)
