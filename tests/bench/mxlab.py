"""mxlab.py - delivery by MX to a DANE domain for the benchmark (--mx-lab).

With a relayhost sealpost never looks up MX, TLSA or MTA-STS records, so
"DANE/MTA-STS/TLS-RPT on vs off" needs delivery by MX.  This brings up the
integration lab's DNS (tests/lab: nsd servers for ".", "test." and the
signed second-level zones, the lab root as trust anchor) inside the
benchmark's own namespace, without the lab's Python receivers.  The
benchmark's tlssink plays mx.dane.test (127.0.10.81:25) with the lab
certificate whose "3 1 1" TLSA record is published and signed in
dane.test, so sealpost's DANE check succeeds, and every message goes to
sink@dane.test.

Only lab processes (nsd) are started here; Lab.down() stops them by PID.
"""

import os
import sys
import types

LAB_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lab")

DOMAIN = "dane.test"
MX_ADDR = "127.0.10.81"
MX_CERT = "dane-mx"


def up(work):
    """Start the lab DNS; returns the Lab (call .down() when done)."""
    sys.path.insert(0, LAB_DIR)
    # run.sh already made a private namespace (loopback only) for us
    os.environ.setdefault("SEALPOST_LAB_NETNS", "bench")
    import lab        # noqa: E402
    import topology   # noqa: E402
    topo = types.ModuleType("benchtopo")
    topo.__dict__.update(topology.__dict__)
    topo.MAILHOSTS = []     # no aiosmtpd receivers: tlssink is the MX
    topo.CERTS = list(getattr(topology, "CERTS", [])) + [
        (MX_CERT, ["mx." + DOMAIN], "labca")]
    L = lab.Lab("bench", topo=topo, rundir=os.path.join(work, "lab"))
    try:
        L.up()
    except BaseException:
        L.failed = True
        L.down()
        raise
    return L


def sealpost_lines(L):
    """sealpost.conf lines for delivery by MX through the lab's DNS."""
    def q(s):
        return '"%s"' % s
    opts = L.unbound_options()
    return ["smtp_port = 25",
            "tls_ca_file = %s" % q(L.path("pki", "ca-bundle.pem")),
            "resolver {",
            "    trust_anchor_file = %s" % q(L.dns["trust_anchor"]),
            "    unbound_options = { %s }" % ", ".join(q(o) for o in opts),
            "}"]


def sink_tls(L):
    """(certificate chain, key) for tlssink as mx.dane.test."""
    return (L.path("pki", MX_CERT + ".chain.pem"), L.path("pki", MX_CERT + ".key"))
