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
