"""topology.py - the standard lab: DNS servers, zones, mail hosts.

One table so the DNS generator, the receivers and the test cases agree on
names and addresses.  Add a domain for a new case here (zone + receiver),
nowhere else.

Addresses (all on lo inside the lab's network namespace):
    127.0.0.1            sealpost itself (client side of every delivery)
    127.0.53.1           "."        a.root-servers.       (nsd, signed)
    127.0.53.2           "test."    ns.nic.test.          (nsd, signed)
    127.0.53.3           signed second-level zones: ns1.hosting.test.
    127.0.53.4           unsigned zones (no DS in test.): ns1.plainhost.test.
    127.0.53.9           timeout.test.: ns.blackhole.test. never answers
    127.0.10.0/24        SMTP receivers (port 25)
    fd00:5ea1::/64       IPv6 receivers (added to lo as /128s)

The lab TLD is "test." (RFC 6761).  libunbound ships "test." as a built-in
empty local zone, so sealpost's lab config carries the unbound option
"local-zone: test. transparent" (see Lab.unbound_options for why not
nodefault).
"""

from labdns import Server, Zone, tlsa

ROOT = Server("root", "127.0.53.1", "a.root-servers.")
TLD = Server("tld", "127.0.53.2", "ns.nic.test.")
HOSTING = Server("hosting", "127.0.53.3", "ns1.hosting.test.")
PLAIN = Server("plain", "127.0.53.4", "ns1.plainhost.test.")
BLACKHOLE = Server("blackhole", "127.0.53.9", "ns.blackhole.test.", kind="blackhole")
SERVERS = [ROOT, TLD, HOSTING, PLAIN, BLACKHOLE]

V6_PREFIX = "fd00:5ea1::"
RELAY_HOSTNAME = "relay.sender.test"
SENDER = "alice@sender.test"


class MailHost:
    """One SMTP receiver process.

    name:    receiver label and spool directory name
    addrs:   listen addresses
    certnames: SAN list of its certificate (None: no STARTTLS)
    args:    extra receiver.py arguments
    """

    def __init__(self, name, addrs, certnames=None, args=()):
        self.name = name
        self.addrs = list(addrs)
        self.certnames = certnames
        self.args = list(args)


# mail hosts of the P1 delivery cases
MAILHOSTS = [
    MailHost("sender", ["127.0.10.1"], ["mx.sender.test"]),
    MailHost("twomx-mx1", ["127.0.10.11"], ["mx1.twomx.test"]),
    MailHost("twomx-mx2", ["127.0.10.12"], ["mx2.twomx.test"]),
    # 127.0.10.21 (mx1.refuse.test): nothing listens -> connection refused
    MailHost("refuse-mx2", ["127.0.10.22"], ["mx2.refuse.test"]),
    MailHost("greet421-mx1", ["127.0.10.31"], None, ["--greeting-code", "421"]),
    MailHost("greet421-mx2", ["127.0.10.32"], ["mx2.greet421.test"]),
    MailHost("implicit", ["127.0.10.41"], None),       # plain text, no STARTTLS
    MailHost("reject", ["127.0.10.51"], ["mx.reject.test"],
             ["--rcpt-reject", "nosuchuser@reject.test=550 5.1.1"]),
    MailHost("defer", ["127.0.10.61"], ["mx.defer.test"], ["--defer-first", "1"]),
    # always 451: delay warnings and queue expiry (test_p1_queue.py)
    MailHost("expire", ["127.0.10.62"], ["mx.expire.test"],
             ["--defer-first", "1000000"]),
    MailHost("fulldisk", ["127.0.10.63"], ["mx.fulldisk.test"]),
    # offers STARTTLS, fails every handshake: opportunistic retry in clear
    MailHost("brokentls", ["127.0.10.64"], ["mx.brokentls.test"], ["--broken-tls"]),
    MailHost("sink", ["127.0.10.71"], ["mx.sink.test"]),
    MailHost("burst", ["127.0.10.72"], ["mx.burst.test"]),
    MailHost("v6only", [V6_PREFIX + "25"], ["mx.v6only.test"]),
    MailHost("plain", ["127.0.10.91"], ["mx.plain.test"]),
    MailHost("bogus", ["127.0.10.92"], ["mx.bogus.test"]),
    MailHost("dane-mx", ["127.0.10.81"], ["mx.dane.test"]),
]


def _zone(name, *records, server=HOSTING, **kw):
    return Zone(name, server, records=records, **kw)


ZONES = [
    Zone(".", ROOT),
    Zone("test.", TLD),
    _zone("sender.test.", "@ MX 10 mx", "mx A 127.0.10.1", "relay A 127.0.0.1"),
    _zone("twomx.test.", "@ MX 10 mx1", "@ MX 20 mx2",
          "mx1 A 127.0.10.11", "mx2 A 127.0.10.12"),
    _zone("refuse.test.", "@ MX 10 mx1", "@ MX 20 mx2",
          "mx1 A 127.0.10.21", "mx2 A 127.0.10.22"),
    _zone("greet421.test.", "@ MX 10 mx1", "@ MX 20 mx2",
          "mx1 A 127.0.10.31", "mx2 A 127.0.10.32"),
    _zone("implicit.test.", "@ A 127.0.10.41"),           # no MX: implicit MX
    _zone("nullmx.test.", "@ MX 0 .", "@ A 127.0.10.99"),  # RFC 7505
    _zone("reject.test.", "@ MX 10 mx", "mx A 127.0.10.51"),
    _zone("defer.test.", "@ MX 10 mx", "mx A 127.0.10.61"),
    _zone("expire.test.", "@ MX 10 mx", "mx A 127.0.10.62"),
    _zone("fulldisk.test.", "@ MX 10 mx", "mx A 127.0.10.63"),
    _zone("brokentls.test.", "@ MX 10 mx", "mx A 127.0.10.64"),
    _zone("sink.test.", "@ MX 10 mx", "mx A 127.0.10.71"),
    _zone("burst.test.", "@ MX 10 mx", "mx A 127.0.10.72"),
    _zone("v6only.test.", "@ MX 10 mx", "mx AAAA " + V6_PREFIX + "25"),
    # signed with NSEC3 instead of NSEC, otherwise like sink.test
    _zone("nsec3.test.", "@ MX 10 mx.sink.test.", nsec3=True),
    # unsigned zone delegated without DS: answers are insecure
    _zone("plain.test.", "@ MX 10 mx", "mx A 127.0.10.91", server=PLAIN, signed=False),
    # DS in test. but signatures expired: answers are bogus
    _zone("bogus.test.", "@ MX 10 mx", "mx A 127.0.10.92", sig="expired"),
    # DANE building blocks: TLSA from the run's certificate, a CNAME chain,
    # a deliberately wrong TLSA (the later DANE cases extend this zone)
    _zone("dane.test.", "@ MX 10 mx", "mx A 127.0.10.81",
          tlsa("_25._tcp.mx", "dane-mx", 3, 1, 1),
          "alias CNAME mx", "chain CNAME alias",
          "bad A 127.0.10.81",
          tlsa("_25._tcp.bad", "dane-mx", 3, 1, 1, corrupt=True)),
    # delegated (with DS) to a server that never answers
    _zone("timeout.test.", "@ MX 10 mx", "mx A 127.0.10.93", server=BLACKHOLE),
]

# names that must not exist (NXDOMAIN, provably so under signed test.)
NXDOMAIN = "nosuchdomain.test"


# --------------------------------------------------------------------------
# P3 DANE cases (tests/integration/test_p3_dane.py)
#
# The P3 receivers are DANE_HOSTS, not MAILHOSTS: the lab does not start
# them (nor does the selftest exercise them); test_p3_dane.py starts them
# with Lab.start_receiver().  Their certificates are issued with the rest of
# the PKI, before the zones are built, because the TLSA records are
# computed from them.
DANE_HOSTS = []

# Extra CAs, created per run by lab.make_pki() after labca and rogueca:
# (name, parent or None for a new root, common name).  daneca is a root
# nobody trusts (not in ca-bundle.pem), so only DANE-TA(2) can authenticate
# what it issues.
CAS = [
    ("daneca", None, "Sealpost DANE-TA Root (not in the bundle)"),
    ("daneinter", "daneca", "Sealpost DANE-TA Intermediate"),
]
# extra certificates: (name, SAN list, issuing CA[, labca.CA.issue options]);
# the DANE_HOSTS' own are appended at the end of this file
CERTS = [
    ("x-rollover-old", ["mx.rollover.danex.test"], "labca"),   # the stale key
]

# Blackhole for names whose lookup would be a bug: its log (dns/probe/
# blackhole.log) lists every query it swallowed, by name.
PROBE = Server("probe", "127.0.53.10", "ns.probe.test.", kind="blackhole")
SERVERS.append(PROBE)

# The 24 cases of shared/seeds/004 under daneseed.test.  The seed's public
# addresses play three roles:
#   38.64.93.21      the server whose key the TLSA data (30c9...) matches:
#                    seed-good, 127.0.20.21, shared by all cases (the SNI it
#                    records tells the base domain; Message-IDs the case)
#   69.167.152.113   STARTTLS with a key that does not match: seed-t1a, -t2a
#   69.167.152.152   no STARTTLS: seed-t3a, -t4a, -t6a, -t8a, -t10a, -t12a
# one receiver per case for the last two roles (127.0.20.100+N), so a case
# sees that its host was tried.  "30c9..." is 3 0 1 of seed-good's
# certificate, "00c9..." the same with the first byte changed (corrupt),
# "437a..." (1 0 2) its SHA-512.  The seed's insecure zone "moretesting" is
# moretesting.daneseed.test (unsigned, no DS); its timing-out "testing"
# TLSA targets live in timeout.test (the blackhole).  The seed's domain A
# records of cases 19 and 20 (where mail must never go) are trap receivers.
SEED = "daneseed.test"
SEED_GOOD = "127.0.20.21"


def _seed_addr(n):
    return "127.0.20.%d" % (100 + n)


def _t(owner, **kw):
    """TLSA 3 0 1 of seed-good's certificate at _25._tcp.<owner>."""
    return tlsa("_25._tcp." + owner, "seed-good", 3, 0, 1, **kw)


DANE_HOSTS += [
    MailHost("seed-good", [SEED_GOOD], ["good." + SEED]),
    MailHost("seed-t1a", [_seed_addr(1)], ["test1a." + SEED]),
    MailHost("seed-t2a", [_seed_addr(2)], ["test2a." + SEED]),
] + [MailHost("seed-t%da" % n, [_seed_addr(n)], None) for n in (3, 4, 6, 8, 10, 12)] + [
    MailHost("seed-trap19", [_seed_addr(19)], ["test19." + SEED]),
    MailHost("seed-trap20", [_seed_addr(20)], ["test20." + SEED]),
]


def _chain(n, tlsa_aa=None, tlsa_aaaa=None, alias=True, via_insecure=False):
    """Cases 13-18, 21-24: testN CNAME testNa, testNa MX testNaa, testNaa
    A seed-good (alias=False) or testNaa CNAME testNaaa CNAME testNaaaa A
    seed-good; via_insecure: testNaa's CNAME goes through moretesting.
    tlsa_aa / tlsa_aaaa: None no TLSA there, True matching, False corrupt."""
    p = "test%d" % n
    recs = ["%s CNAME %sa" % (p, p), "%sa MX 10 %saa" % (p, p)]
    if not alias:
        recs.append("%saa A %s" % (p, SEED_GOOD))
    else:
        target = "%saaa.moretesting" % p if via_insecure else "%saaa" % p
        recs += ["%saa CNAME %s" % (p, target), "%saaa CNAME %saaaa" % (p, p),
                 "%saaaa A %s" % (p, SEED_GOOD)]
    if tlsa_aa is not None:
        recs.append(_t(p + "aa", corrupt=not tlsa_aa))
    if tlsa_aaaa is not None:
        recs.append(_t(p + "aaaa", corrupt=not tlsa_aaaa))
    return recs


_SEED_RECORDS = [
    # 1: two MX, the primary's key does not match -> secondary, verified
    "test1 MX 10 test1a", "test1 MX 20 test1b",
    "test1a A " + _seed_addr(1), "test1b A " + SEED_GOOD, _t("test1a"), _t("test1b"),
    # 2: one MX, key does not match -> deferred
    "test2 MX 10 test2a", "test2a A " + _seed_addr(2), _t("test2a"),
    # 3: two MX, the primary lacks STARTTLS -> secondary, verified
    "test3 MX 10 test3a", "test3 MX 20 test3b",
    "test3a A " + _seed_addr(3), "test3b A " + SEED_GOOD, _t("test3a"), _t("test3b"),
    # 4: one MX without STARTTLS -> deferred
    "test4 MX 10 test4a", "test4a A " + _seed_addr(4), _t("test4a"),
    # 5/6: only PKIX-EE (1 0 2) -> unusable: encrypted delivery / deferred
    "test5 MX 10 test5a", "test5a A " + SEED_GOOD,
    tlsa("_25._tcp.test5a", "seed-good", 1, 0, 2),
    "test6 MX 10 test6a", "test6a A " + _seed_addr(6),
    tlsa("_25._tcp.test6a", "seed-good", 1, 0, 2),
    # 7/8: selector 2 -> unusable
    "test7 MX 10 test7a", "test7a A " + SEED_GOOD, _t("test7a", label=(3, 2, 1)),
    "test8 MX 10 test8a", "test8a A " + _seed_addr(8), _t("test8a", label=(3, 2, 1)),
    # 9/10: matching type 4 -> unusable
    "test9 MX 10 test9a", "test9a A " + SEED_GOOD, _t("test9a", label=(3, 0, 4)),
    "test10 MX 10 test10a", "test10a A " + _seed_addr(10), _t("test10a", label=(3, 0, 4)),
    # 11/12: SHA-256 digest cut to 16 bytes -> unusable
    "test11 MX 10 test11a", "test11a A " + SEED_GOOD, _t("test11a", truncate=16),
    "test12 MX 10 test12a", "test12a A " + _seed_addr(12), _t("test12a", truncate=16),
    # 19: secure MX pointing into the insecure zone; the TLSA owner there is a
    # CNAME into timeout.test; the domain's own A is a trap
    "test19 MX 10 test19a.moretesting", "test19 A " + _seed_addr(19),
    # 20: secure MX host whose TLSA owner is a CNAME into timeout.test
    "test20 MX 10 test20a", "test20 A " + _seed_addr(20), "test20a A " + SEED_GOOD,
    "_25._tcp.test20a CNAME _25._tcp.test20aa.timeout.test.",
]
_SEED_RECORDS += _chain(13, True, alias=False) + _chain(14, False, alias=False)
_SEED_RECORDS += _chain(15, tlsa_aa=True) + _chain(16, tlsa_aa=False)
_SEED_RECORDS += _chain(17, tlsa_aaaa=True) + _chain(18, tlsa_aaaa=False)
_SEED_RECORDS += _chain(21, tlsa_aa=False, tlsa_aaaa=True)
_SEED_RECORDS += _chain(22, tlsa_aa=True, tlsa_aaaa=False)
_SEED_RECORDS += _chain(23, tlsa_aa=True, tlsa_aaaa=False, via_insecure=True)
_SEED_RECORDS += _chain(24, tlsa_aa=False, tlsa_aaaa=True, via_insecure=True)

ZONES += [
    _zone(SEED + ".", *_SEED_RECORDS),
    _zone("moretesting." + SEED + ".",
          "test19a A " + SEED_GOOD,
          "_25._tcp.test19a CNAME _25._tcp.test19aa.timeout.test.",
          "test23aaa CNAME test23aaa.%s." % SEED,
          "test24aaa CNAME test24aaa.%s." % SEED,
          server=PLAIN, signed=False),
]

# Cases beyond the seed, under danex.test (one name, receiver and address
# 127.0.21.N per case).
DANEX = "danex.test"

DANE_HOSTS += [
    # DANE-TA(2): leaf from daneinter, the chain presents the intermediate
    MailHost("x-ta-inter", ["127.0.21.1"], ["mx.ta-inter." + DANEX]),
    # DANE-TA(2) on the root's key: the chain presents the root too
    MailHost("x-ta-root", ["127.0.21.2"], ["mx.ta-root." + DANEX]),
    # DANE-TA(2) matches, but the certificate names neither the MX host nor
    # the TLSA base domain
    MailHost("x-ta-badname", ["127.0.21.3"], ["wrong-name." + DANEX]),
    MailHost("x-rollover", ["127.0.21.4"], ["mx.rollover." + DANEX]),
    MailHost("x-sha512", ["127.0.21.5"], ["mx.sha512." + DANEX]),
    MailHost("x-tlsa-cname", ["127.0.21.6"], ["mx.tlsa-cname." + DANEX]),
    MailHost("x-insecure-a", ["127.0.21.7"], ["mx.insec." + DANEX]),
    MailHost("x-2mx-mx1", ["127.0.21.8"], ["mx1.twomx-dane." + DANEX]),
    MailHost("x-2mx-mx2", ["127.0.21.9"], ["mx2.twomx-dane." + DANEX]),
    # 127.0.21.10 (mx1.twomx-down): nothing listens
    MailHost("x-2mxdown-mx2", ["127.0.21.11"], ["mx2.twomx-down." + DANEX]),
    MailHost("x-bogus-tlsa", ["127.0.21.12"], ["mx.bogus-tlsa." + DANEX]),
    MailHost("x-daneonly", ["127.0.21.13"], ["mx.daneonly." + DANEX]),
    MailHost("x-policynone", ["127.0.21.14"], ["mx.policynone." + DANEX]),
    MailHost("x-daneonly-ok", ["127.0.21.15"], ["mx.daneonly-ok." + DANEX]),
    # DANE-TA(2) behind a CNAME: the certificate names only the MX host,
    # the TLSA records sit at the expanded name
    MailHost("x-ta-alias", ["127.0.21.16"], ["mx.ta-alias." + DANEX]),
    # DANE-EE(3) ignores names and dates: expired, wrong name, still verified
    MailHost("x-ee-expired", ["127.0.21.17"], ["unrelated.example.test"]),
    # DANE-TA(2) does not: an expired leaf under a matching TA fails
    MailHost("x-ta-expired", ["127.0.21.18"], ["mx.ta-expired." + DANEX]),
    # 3 0 0: the whole certificate as TLSA data
    MailHost("x-full-cert", ["127.0.21.19"], ["mx.full-cert." + DANEX]),
    # 2 0 1 of the root, which the server does not present: no match
    MailHost("x-ta-root-absent", ["127.0.21.20"], ["mx.ta-root-absent." + DANEX]),
    # insecure MX RRset (domain in insec.danex.test) naming a secure host
    # whose TLSA does not match: no DANE, opportunistic delivery
    MailHost("x-insecure-mx", ["127.0.21.21"], ["mx.insecmx-target." + DANEX]),
    # no MX: the domain itself is the host, TLSA at _25._tcp.<domain>
    MailHost("x-implicit", ["127.0.21.22"], ["implicit-dane." + DANEX]),
    MailHost("x-implicit-bad", ["127.0.21.23"], ["implicit-dane-bad." + DANEX]),
]

ZONES += [
    _zone(DANEX + ".",
          "ta-inter MX 10 mx.ta-inter", "mx.ta-inter A 127.0.21.1",
          tlsa("_25._tcp.mx.ta-inter", "daneinter", 2, 0, 1),
          "ta-root MX 10 mx.ta-root", "mx.ta-root A 127.0.21.2",
          tlsa("_25._tcp.mx.ta-root", "daneca", 2, 1, 1),
          "ta-badname MX 10 mx.ta-badname", "mx.ta-badname A 127.0.21.3",
          tlsa("_25._tcp.mx.ta-badname", "daneinter", 2, 0, 1),
          "ta-alias MX 10 mx.ta-alias", "mx.ta-alias CNAME real.ta-alias",
          "real.ta-alias A 127.0.21.16",
          tlsa("_25._tcp.real.ta-alias", "daneinter", 2, 0, 1),
          # key rollover: the stale record first, then the current one
          "rollover MX 10 mx.rollover", "mx.rollover A 127.0.21.4",
          tlsa("_25._tcp.mx.rollover", "x-rollover-old", 3, 1, 1),
          tlsa("_25._tcp.mx.rollover", "x-rollover", 3, 1, 1),
          "sha512 MX 10 mx.sha512", "mx.sha512 A 127.0.21.5",
          tlsa("_25._tcp.mx.sha512", "x-sha512", 3, 1, 2),
          # the TLSA owner is an alias of a TLSA RRset elsewhere in the zone
          "tlsa-cname MX 10 mx.tlsa-cname", "mx.tlsa-cname A 127.0.21.6",
          "_25._tcp.mx.tlsa-cname CNAME keys.tlsa-cname",
          tlsa("keys.tlsa-cname", "x-tlsa-cname", 3, 1, 1),
          # secure MX, MX host in an insecure zone (insec.danex.test)
          "insecure-a MX 10 mx.insec",
          "twomx-dane MX 10 mx1.twomx-dane", "twomx-dane MX 20 mx2.twomx-dane",
          "mx1.twomx-dane A 127.0.21.8", "mx2.twomx-dane A 127.0.21.9",
          tlsa("_25._tcp.mx1.twomx-dane", "x-2mx-mx1", 3, 1, 1),
          "twomx-down MX 10 mx1.twomx-down", "twomx-down MX 20 mx2.twomx-down",
          "mx1.twomx-down A 127.0.21.10", "mx2.twomx-down A 127.0.21.11",
          tlsa("_25._tcp.mx1.twomx-down", "seed-good", 3, 1, 1),
          # the TLSA RRset lives in its own zone, signed with expired
          # signatures: bogus, while MX and A are secure
          "bogus-tlsa MX 10 mx.bogus-tlsa", "mx.bogus-tlsa A 127.0.21.12",
          # tls_policy dane-only / none (config written by the test)
          "daneonly MX 10 mx.daneonly", "mx.daneonly A 127.0.21.13",
          "policynone MX 10 mx.policynone", "mx.policynone A 127.0.21.14",
          tlsa("_25._tcp.mx.policynone", "x-policynone", 3, 1, 1),
          "daneonly-ok MX 10 mx.daneonly-ok", "mx.daneonly-ok A 127.0.21.15",
          tlsa("_25._tcp.mx.daneonly-ok", "x-daneonly-ok", 3, 1, 1),
          "ee-expired MX 10 mx.ee-expired", "mx.ee-expired A 127.0.21.17",
          tlsa("_25._tcp.mx.ee-expired", "x-ee-expired", 3, 1, 1),
          "ta-expired MX 10 mx.ta-expired", "mx.ta-expired A 127.0.21.18",
          tlsa("_25._tcp.mx.ta-expired", "daneinter", 2, 0, 1),
          "full-cert MX 10 mx.full-cert", "mx.full-cert A 127.0.21.19",
          tlsa("_25._tcp.mx.full-cert", "x-full-cert", 3, 0, 0),
          "ta-root-absent MX 10 mx.ta-root-absent", "mx.ta-root-absent A 127.0.21.20",
          tlsa("_25._tcp.mx.ta-root-absent", "daneca", 2, 0, 1),
          "mx.insecmx-target A 127.0.21.21",
          tlsa("_25._tcp.mx.insecmx-target", "x-insecure-mx", 3, 1, 1, corrupt=True),
          "implicit-dane A 127.0.21.22",
          tlsa("_25._tcp.implicit-dane", "x-implicit", 3, 1, 1),
          "implicit-dane-bad A 127.0.21.23",
          tlsa("_25._tcp.implicit-dane-bad", "x-implicit-bad", 3, 1, 1, corrupt=True)),
    _zone("_25._tcp.mx.bogus-tlsa.%s." % DANEX,
          tlsa("@", "x-bogus-tlsa", 3, 1, 1), sig="expired"),
    # unsigned, no DS: the A record of mx.insec is insecure; a TLSA lookup
    # for it (which must not happen) would end at the probe blackhole
    _zone("insec.%s." % DANEX, "mx A 127.0.21.7",
          "_25._tcp.mx CNAME insecure-a-tlsa.probe.test.",
          "insecmx MX 10 mx.insecmx-target.%s." % DANEX,
          server=PLAIN, signed=False),
    _zone("probe.test.", "@ MX 10 mx", "mx A 127.0.21.99", server=PROBE,
          signed=False),
]

# who issues the DANE_HOSTS' certificates (default labca), with what options
_DANE_ISSUER = {"x-ta-inter": ("daneinter", {}),
                "x-ta-root": ("daneinter", {"chain_root": True}),
                "x-ta-badname": ("daneinter", {}),
                "x-ta-alias": ("daneinter", {}),
                "x-ee-expired": ("labca", {"expired": True}),
                "x-ta-expired": ("daneinter", {"expired": True}),
                "x-ta-root-absent": ("daneinter", {})}
CERTS += [(h.name, h.certnames) + _DANE_ISSUER.get(h.name, ("labca", {}))
          for h in DANE_HOSTS if h.certnames]


# --------------------------------------------------------------------------
# P4 MTA-STS cases (tests/integration/test_p4_sts.py)
#
# Like DANE_HOSTS, STS_HOSTS are not started by the lab; the first P4 case
# starts them and the HTTPS policy server (tests/lab/stsserver.py) with
# Lab.start_receiver() / Lab.start_sts_server().  One policy server on
# STS_WEB (port 443) serves every mta-sts.<domain>; the certificate it
# presents and what it answers are chosen per host name by a JSON file
# the test writes (and rewrites, to switch a host from serving to failing).
#
#   sts.test      signed, on hosting: the static cases, one subdomain each
#                 (<case>.sts.test MX ..., _mta-sts.<case>.sts.test TXT,
#                 mta-sts.<case>.sts.test A STS_WEB)
#   stsdyn.test   unsigned, on its own nsd (STSDYN, 127.0.53.5), TXT TTL 1 s:
#                 the cases whose DNS changes mid-run (TXT id A -> B, MX
#                 moved to a host the cached policy does not allow).  The
#                 test rewrites the zone with Lab.update_zone(), which
#                 restarts that one nsd.
STS = "sts.test"
STSDYN = "stsdyn.test"
STS_WEB = "127.0.30.1"
STSDYN_DNS = Server("stsdyn", "127.0.53.5", "ns.stsdyn.test.")
SERVERS.append(STSDYN_DNS)


def _sts(name):
    return "%s.%s" % (name, STS)


# seed 000: the certificates of Microsoft's and 01-mail's MX hosts, with
# the public suffixes moved under wild.sts.test (the lab serves only test.)
_MS = "outlook.wild." + STS          # stands for outlook.com
_MSFT = "microsoft.wild." + STS      # stands for .microsoft
SEED000_MS_SANS = (
    ["mail.protection." + _MS, "*.mail.eo." + _MS, "*.mail.protection." + _MS,
     "mail.messaging." + _MSFT, _MS, "*.olc.protection." + _MS,
     "*.pamx1.hotmail.wild." + STS, "*.mail.protection.outlook-de.wild." + STS,
     "*.mx." + _MSFT]
    + ["*.%s-v1.mx.%s" % (c, _MSFT) for c in "knqydearwpxjscbfitmogvhlu"])
SEED000_01_SANS = ["*.01-mail-com.wild." + STS, "*.01-mail-net.wild." + STS,
                   "*.01-mail-org.wild." + STS, "01-mail-com.wild." + STS,
                   "01-mail-net.wild." + STS, "01-mail-org.wild." + STS]

# receivers 127.0.30.N (static cases), 127.0.31.N (stsdyn.test)
STS_HOSTS = [
    MailHost("sts-ok", ["127.0.30.11"], [_sts("mx.ok")]),
    MailHost("sts-wild-ms", ["127.0.30.12"], SEED000_MS_SANS),
    MailHost("sts-wild-01", ["127.0.30.13"], SEED000_01_SANS),
    # *.twolabel.sts.test must not cover a.mx.twolabel.sts.test
    MailHost("sts-twolabel", ["127.0.30.14"], ["*." + _sts("twolabel")]),
    MailHost("sts-mismatch", ["127.0.30.15"], [_sts("other.mismatch")]),
    MailHost("sts-expired", ["127.0.30.16"], [_sts("mx.expired")]),
    MailHost("sts-untrusted", ["127.0.30.17"], [_sts("mx.untrusted")]),
    MailHost("sts-testing", ["127.0.30.18"], [_sts("other.testing")]),
    MailHost("sts-skip-mx1", ["127.0.30.19"], [_sts("mx1.skip")]),
    MailHost("sts-skip-mx2", ["127.0.30.20"], [_sts("mx2.skip")]),
    MailHost("sts-nomatch", ["127.0.30.21"], [_sts("mx.nomatch")]),
    MailHost("sts-nostarttls", ["127.0.30.22"], None),
    # seeds 001/003: the default certificate is wrong, the SNI-selected one
    # names the MX host
    MailHost("sts-sni", ["127.0.30.23"], [_sts("default.sni")],
             ["--sni", "%s={pki}/sts-sni-right.chain.pem:{pki}/sts-sni-right.key"
              % _sts("mx.sni")]),
    # seed 002: the MX name is a CNAME, the certificate names only the MX name
    MailHost("sts-cname", ["127.0.30.24"], [_sts("mxi1.cname")]),
    # DANE and STS on one domain: TLSA 3 1 1 matches, the name does not
    MailHost("sts-dane", ["127.0.30.25"], [_sts("unrelated.dane")]),
    # six MX hosts outside the policy ahead of the one in it: more than
    # the address limit (5); nothing listens on their address
    MailHost("sts-manymx", ["127.0.30.26"], [_sts("mx.manymx")]),
    # the fetch-failure domains (no cached policy) share this MX host; its
    # certificate names none of them, so only opportunistic TLS delivers
    MailHost("sts-fetchfail", ["127.0.30.40"], [_sts("nobody.fetchfail")]),
]

# fetch failures: case -> behaviour of its policy host (stsserver.py)
STS_FETCH_FAILURES = ["404", "301", "html", "badcert", "big", "stall"]
# the stsdyn.test cases: the failures again with a cached policy, plus a
# TXT id change with a working server
STSDYN_CASES = ["c" + f for f in STS_FETCH_FAILURES] + ["idchange", "adm"]
# proactive refresh (tests/integration/test_p4_sts_refresh.py): stsdyn.test
# domains whose TXT id changes on the refresh test's own schedule
STSREF_CASES = ["refresh", "unused"]

STS_HOSTS += [
    # before the change: the MX every policy allows (a valid certificate)
    MailHost("stsdyn-good", ["127.0.31.10"],
             ["mx.%s.%s" % (c, STSDYN) for c in STSDYN_CASES + STSREF_CASES]),
    # after the change: the MX the cached policy does not allow (valid
    # certificate for its own name: only the policy keeps mail away)
    MailHost("stsdyn-evil", ["127.0.31.20"],
             ["evil.%s.%s" % (c, STSDYN) for c in STSDYN_CASES]),
]

_STS_ISSUER = {"sts-expired": ("labca", {"expired": True}),
               "sts-untrusted": ("rogueca", {})}
CERTS += [(h.name, h.certnames) + _STS_ISSUER.get(h.name, ("labca", {}))
          for h in STS_HOSTS if h.certnames]
CERTS += [
    ("sts-sni-right", [_sts("mx.sni")], "labca"),
    # the policy server: every mta-sts.<domain> of the lab
    ("sts-web", ["mta-sts." + _sts(c) for c in
                 ["ok", "wild-ms", "wild-01", "twolabel", "mismatch", "expired",
                  "untrusted", "testing", "skip", "nomatch", "nostarttls", "sni",
                  "cname", "dane", "manymx"] + ["f" + f for f in STS_FETCH_FAILURES]]
     + ["mta-sts.%s.%s" % (c, STSDYN) for c in STSDYN_CASES + STSREF_CASES], "labca"),
    # "bad HTTPS certificate": right names, untrusted issuer
    ("sts-web-rogue", ["mta-sts." + _sts("fbadcert")]
     + ["mta-sts.%s.%s" % (c, STSDYN) for c in STSDYN_CASES], "rogueca"),
]


def _sts_txt(owner, policy_id, ttl=None):
    return '_mta-sts.%s %sTXT "v=STSv1; id=%s;"' % (owner, "%d " % ttl if ttl else "",
                                                   policy_id)


def _sts_dom(case, mx, *extra):
    """<case>.sts.test: MX records [(pref, host, addr)], TXT, policy host."""
    recs = [_sts_txt(case, "sts" + case.replace("-", "")),
            "mta-sts.%s A %s" % (case, STS_WEB)]
    for pref, host, addr in mx:
        recs.append("%s MX %d %s" % (case, pref, host))
        if addr:
            recs.append("%s A %s" % (host, addr))
    return recs + list(extra)


_STS_RECORDS = (
    _sts_dom("ok", [(10, "mx.ok", "127.0.30.11")])
    + _sts_dom("wild-ms", [(10, "hotmail-com.olc.protection.outlook.wild",
                            "127.0.30.12")])
    + _sts_dom("wild-01", [(10, "mx.01-mail-net.wild", "127.0.30.13")])
    + _sts_dom("twolabel", [(10, "a.mx.twolabel", "127.0.30.14")])
    + _sts_dom("mismatch", [(10, "mx.mismatch", "127.0.30.15")])
    + _sts_dom("expired", [(10, "mx.expired", "127.0.30.16")])
    + _sts_dom("untrusted", [(10, "mx.untrusted", "127.0.30.17")])
    + _sts_dom("testing", [(10, "mx.testing", "127.0.30.18")])
    + _sts_dom("skip", [(10, "mx1.skip", "127.0.30.19"), (20, "mx2.skip", "127.0.30.20")])
    + _sts_dom("nomatch", [(10, "mx.nomatch", "127.0.30.21")])
    + _sts_dom("nostarttls", [(10, "mx.nostarttls", "127.0.30.22")])
    + _sts_dom("sni", [(10, "mx.sni", "127.0.30.23")])
    + _sts_dom("cname", [(10, "mxi1.cname", None)],
               "mxi1.cname CNAME smol.cname", "smol.cname A 127.0.30.24")
    + _sts_dom("dane", [(10, "mx.dane", "127.0.30.25")],
               tlsa("_25._tcp.mx.dane", "sts-dane", 3, 1, 1))
    + _sts_dom("manymx", [(10 + i, "bad%d.manymx" % i, "127.0.30.27") for i in range(1, 7)]
               + [(70, "mx.manymx", "127.0.30.26")])
    + sum((_sts_dom("f" + f, [(10, "mx.f" + f, "127.0.30.40")])
           for f in STS_FETCH_FAILURES), []))

ZONES += [_zone(STS + ".", *_STS_RECORDS)]


def stsdyn_records(phase, ref="a"):
    """stsdyn.test records; phase "a" (TXT id A, MX the policy allows) or
    "b" (TXT id B, MX moved to evil.<case>, which policy A does not allow).
    ref: the state of the STSREF_CASES, TXT id <REF>id<case>, MX always
    mx.<case>.  Every record lives 1 s in caches, so a change is seen at
    once."""
    recs = []
    for c in STSREF_CASES:
        recs += ["%s 1 MX 10 mx.%s" % (c, c), "mx.%s 1 A 127.0.31.10" % c,
                 "mta-sts.%s 1 A %s" % (c, STS_WEB),
                 _sts_txt(c, "%sid%s" % (ref.upper(), c), ttl=1)]
    for c in STSDYN_CASES:
        mx = "mx" if phase == "a" else "evil"
        recs += ["%s 1 MX 10 %s.%s" % (c, mx, c),
                 "mx.%s 1 A 127.0.31.10" % c, "evil.%s 1 A 127.0.31.20" % c,
                 "mta-sts.%s 1 A %s" % (c, STS_WEB),
                 _sts_txt(c, "%sid%s" % (phase.upper(), c), ttl=1)]
    return recs


ZONES += [_zone(STSDYN + ".", *stsdyn_records("a"), server=STSDYN_DNS, signed=False)]


# --------------------------------------------------------------------------
# P5 TLS-RPT cases (tests/integration/test_p5_tlsrpt.py)
#
# tlsrpt.test (signed) is where reports go: mx.tlsrpt.test, a receiver
# the P5 case starts (TLSRPT_HOSTS, like DANE_HOSTS), takes the mailto:
# reports; web.tlsrpt.test is tests/lab/rptserver.py on RPT_WEB:443 (a
# labca certificate), the https: endpoint, saving every POST.  Policy
# domains that ask for reports (an _smtp._tls TXT record appended to
# their existing zones): test1.daneseed.test (DANE, the first MX fails,
# the second verifies: both URIs), test3.daneseed.test (the restart case:
# mailto), dane.test (DANE success: https only), mismatch.sts.test and
# ok.sts.test (MTA-STS failure and success: both).  sink.test publishes
# none: it must get no report.  The report signer is the lab's
# myhostname's domain, sender.test: RPT_DKIM_SELECTOR._domainkey.sender.test
# holds the public half of a key the lab generates (pki/RPT_DKIM_KEY.key).
RPT = "tlsrpt.test"
RPT_WEB = "127.0.40.1"
RPT_MAILBOX = "reports@" + RPT
RPT_URL = "https://web.%s/v1/tlsrpt" % RPT
RPT_DKIM_SELECTOR = "lab2026"
RPT_DKIM_KEY = "tlsrpt-dkim"

TLSRPT_HOSTS = [MailHost("rpt-mx", ["127.0.40.2"], ["mx." + RPT])]
CERTS += [("rpt-web", ["web." + RPT], "labca"),
          ("rpt-mx", ["mx." + RPT], "labca")]


def rpt_txt(owner, *uris):
    return '%s TXT "v=TLSRPTv1; rua=%s"' % (owner, ",".join(uris))


def dkim_key_record(owner, keyname):
    """A record callable: the DKIM public key TXT (RFC 6376 3.6.1) for an
    RSA key the lab generates beside its certificates (keyname.key, PEM,
    created on first use), split into 255-byte strings."""
    def make(ctx):
        import base64
        import os
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        path = os.path.join(os.path.dirname(ctx.cert_path(keyname)), keyname + ".key")
        if os.path.exists(path):
            with open(path, "rb") as f:
                key = serialization.load_pem_private_key(f.read(), None)
        else:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            with open(path, "wb") as f:
                f.write(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.TraditionalOpenSSL,
                                          serialization.NoEncryption()))
        der = key.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
        text = "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()
        parts = [text[i:i + 255] for i in range(0, len(text), 255)]
        return "%s TXT %s" % (owner, " ".join('"%s"' % p for p in parts))
    return make


def _append(zone, *records):
    next(z for z in ZONES if z.name == zone).records.extend(records)


ZONES += [_zone(RPT + ".", "@ MX 10 mx", "mx A 127.0.40.2", "web A " + RPT_WEB)]
_append("sender.test.", dkim_key_record("%s._domainkey" % RPT_DKIM_SELECTOR, RPT_DKIM_KEY))
_append(SEED + ".", rpt_txt("_smtp._tls.test1", "mailto:" + RPT_MAILBOX, RPT_URL),
        rpt_txt("_smtp._tls.test3", "mailto:" + RPT_MAILBOX))
_append("dane.test.", rpt_txt("_smtp._tls", RPT_URL))
_append(STS + ".", rpt_txt("_smtp._tls.mismatch", "mailto:" + RPT_MAILBOX, RPT_URL),
        rpt_txt("_smtp._tls.ok", "mailto:" + RPT_MAILBOX, RPT_URL))
# twomx.test: a mailbox that takes at most 1 KiB (every report is larger)
# and an endpoint that is down (rptserver answers 503 on RPT_BUSY_PATH)
RPT_BUSY_PATH = "/v1/busy"
_append("twomx.test.", rpt_txt("_smtp._tls", "mailto:%s!1k" % RPT_MAILBOX,
                               "https://web.%s%s" % (RPT, RPT_BUSY_PATH)))
# reject.test: its _smtp._tls lookup never gets an answer (a CNAME into
# the blackholed timeout.test): a temporary failure, retried
_append("reject.test.", "_smtp._tls CNAME _smtp._tls.reject.timeout.test.")
