"""P3 resolver sanity: sealpostd proves DNSSEC validation works before it
relies on it (docs/dane.md).

A trust anchor that does not match the lab root's key makes the root
DNSKEY bogus; an anchor for an unrelated zone makes it insecure.  Either
way DANE could never be judged right, so with dane = yes the daemon
refuses to start (and --check-config fails), naming the problem; with
dane = no it only warns.  The lab's real anchor passes.
"""

import subprocess

import lab

# A DS for the root with a digest that matches no key of the lab root.
WRONG_ROOT_DS = ". 3600 IN DS 991 13 2 " + "00" * 32 + "\n"
# A valid-looking anchor for a zone the lab does not have: the root is
# then outside every trust anchor, i.e. insecure.
UNRELATED_DS = "example. 3600 IN DS 12345 13 2 " + "ab" * 32 + "\n"


def expect(cond, msg):
    if not cond:
        raise AssertionError(msg)


def check_config(L, anchor_text, extra_settings=None):
    """Write a config whose trust anchor file holds anchor_text (None: the
    lab's real anchor), run sealpostd --check-config, return (rc, output)."""
    path = L.path("anchor-under-test.key")
    settings = dict(extra_settings or {})
    if anchor_text is not None:
        with open(path, "w") as f:
            f.write(anchor_text)
    conf = L.write_config(settings)
    if anchor_text is not None:
        with open(conf) as f:
            text = f.read()
        text = text.replace(L.dns["trust_anchor"], path)
        with open(conf, "w") as f:
            f.write(text)
    r = subprocess.run([L.bin("mta/sealpostd"), "-c", conf, "--check-config"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    return r.returncode, r.stdout.decode("utf-8", "replace")


def test_p3_dnssec_sanity_check(L):
    """the start-up DNSSEC check: real anchor passes; bogus or insecure
    root refuses to start with dane = yes, only warns with dane = no"""
    L.stop_daemon()
    try:
        rc, out = check_config(L, None)
        expect(rc == 0, "real lab anchor: --check-config exited %d:\n%s" % (rc, out))

        rc, out = check_config(L, WRONG_ROOT_DS)
        expect(rc != 0, "wrong root anchor accepted:\n%s" % out)
        expect("bogus" in out.lower() and "dane" in out.lower(),
               "refusal does not say the root is bogus and why it matters:\n%s" % out)

        rc, out = check_config(L, UNRELATED_DS)
        expect(rc != 0, "anchor for an unrelated zone accepted:\n%s" % out)
        expect("insecure" in out.lower(), "refusal does not say insecure:\n%s" % out)

        rc, out = check_config(L, WRONG_ROOT_DS, {"dane": "no"})
        expect(rc == 0, "dane = no with a bogus root refused:\n%s" % out)
        expect("bogus" in out.lower(), "dane = no gives no warning:\n%s" % out)
        lab.log("dnssec sanity: refusal reads: %s" % out.strip().splitlines()[-1][:200])
    finally:
        L.write_config()
        L.start_daemon()
