"""labdns.py - build the lab's DNS: zones, DNSSEC keys, signatures, nsd configs.

The lab runs its own DNS tree from a private root "." down, served by nsd
on 127.0.53.x inside the lab's network namespace.  This module only
generates files; tests/lab/lab.py starts the servers.

Model
-----
Server(name, addr, nsname)        one nsd instance (or a "blackhole" that
                                  reads queries and never answers) listening
                                  on addr:53, known in DNS as nsname.
Zone(name, server, signed=True, records=[...], sig="valid"|"expired",
     nsec3=False)                 a zone served by that server.

Delegations are derived: every zone except "." is delegated from the
nearest enclosing zone in the list (NS records, glue when the server name
lies inside the child, and DS records when the child is signed).  The
address record of each server's nsname is added to the deepest zone that
contains the name.  A zone with sig="expired" is signed with signatures
that expired yesterday, so validation of its data is bogus.

Records are zone-file lines relative to the zone's origin ("@ MX 10 mx1",
"mx1 A 127.0.10.11"), or callables ctx -> line(s) evaluated at build time
so records can depend on run-time material such as certificates (see
tlsa() below and tests/lab/pki/labca.py).

Outputs in <outdir>:
    keys/<zone>/K*            ldns key pairs (ECDSAP256SHA256, KSK + ZSK)
    zones/<zone>.zone         unsigned zone file
    zones/<zone>.signed       signed zone file (signed zones)
    <server>/nsd.conf         one config per nsd server (pidfile, log there)
    root.hints                unbound root-hints naming the lab root server
    root.key                  DS of the lab root KSK: the trust anchor
"""

import datetime
import os
import subprocess

ALGORITHM = "ECDSAP256SHA256"
DEFAULT_TTL = 300


class Server:
    def __init__(self, name, addr, nsname, kind="nsd"):
        if kind not in ("nsd", "blackhole"):
            raise ValueError("server kind must be nsd or blackhole")
        self.name = name
        self.addr = addr
        self.nsname = fqdn(nsname)
        self.kind = kind

    def __repr__(self):
        return "Server(%s %s %s)" % (self.name, self.addr, self.nsname)


class Zone:
    def __init__(self, name, server, signed=True, records=(), sig="valid",
                 nsec3=False):
        if sig not in ("valid", "expired"):
            raise ValueError("sig must be valid or expired")
        self.name = fqdn(name)
        self.server = server
        self.signed = signed
        self.records = list(records)
        self.sig = sig
        self.nsec3 = nsec3
        # filled in by build()
        self.ksk = None
        self.zsk = None
        self.ds = []
        self.path = None

    def __repr__(self):
        return "Zone(%s)" % self.name


def fqdn(name):
    name = name.strip().lower()
    if name in ("", "."):
        return "."
    return name if name.endswith(".") else name + "."


def is_subdomain(name, parent):
    """True if name is at or below parent (both FQDN)."""
    if parent == ".":
        return True
    return name == parent or name.endswith("." + parent)


def parent_zone(name, zones):
    """Deepest zone in zones strictly above name: where name is delegated."""
    best = None
    for z in zones:
        if z.name != name and is_subdomain(name, z.name):
            if best is None or len(z.name) > len(best.name):
                best = z
    return best


def owner_zone(name, zones):
    """Deepest zone in zones that contains name (name itself included)."""
    best = None
    for z in zones:
        if is_subdomain(name, z.name):
            if best is None or len(z.name) > len(best.name):
                best = z
    return best


def tlsa(owner, cert, usage=3, selector=1, mtype=1, corrupt=False,
         truncate=None, label=None):
    """A record callable: TLSA for certificate named cert in the lab PKI.

    ctx.cert_path(cert) must return the PEM path (CA certificates too:
    "labca", or any CA of topology.CAS).  corrupt=True flips the first
    digest byte so the record deliberately does not match.  For unusable
    records: truncate=N keeps only the first N digest bytes (a SHA-256
    digest of the wrong length), label=(u, s, m) publishes the data computed
    for (usage, selector, mtype) under other parameters, e.g. selector 2 or
    matching type 4, which labca cannot compute.
    """
    def make(ctx):
        import labca
        rdata = labca.tlsa_rdata(ctx.cert_path(cert), usage, selector, mtype)
        u, s, m, h = rdata.split()
        if corrupt:
            h = "%02x" % (int(h[:2], 16) ^ 0xff) + h[2:]
        if truncate is not None:
            h = h[:2 * truncate]
        if label is not None:
            u, s, m = (str(x) for x in label)
        return "%s TLSA %s" % (owner, " ".join((u, s, m, h)))
    return make


def _run(argv, cwd=None):
    r = subprocess.run(argv, cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60, text=True)
    if r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(argv), r.returncode,
                                                   r.stderr.strip()))
    return r.stdout


def _keygen(zone, keydir):
    os.makedirs(keydir, exist_ok=True)
    ksk = _run(["ldns-keygen", "-a", ALGORITHM, "-k", zone.name], cwd=keydir).strip()
    zsk = _run(["ldns-keygen", "-a", ALGORITHM, zone.name], cwd=keydir).strip()
    zone.ksk = os.path.join(keydir, ksk)
    zone.zsk = os.path.join(keydir, zsk)
    ds = _run(["ldns-key2ds", "-n", "-2", zone.ksk + ".key"]).strip()
    zone.ds = [ds]


def _stamp(dt):
    return dt.strftime("%Y%m%d%H%M%S")


def _zone_text(zone, zones, servers, ctx, serial):
    srv = zone.server
    origin = zone.name
    out = ["$ORIGIN %s" % origin, "$TTL %d" % DEFAULT_TTL,
           "@ IN SOA %s hostmaster.%s %d 3600 600 86400 60"
           % (srv.nsname, "" if origin == "." else origin, serial),
           "@ IN NS %s" % srv.nsname]
    # address records of server names that live in this zone
    for s in servers:
        if owner_zone(s.nsname, zones) is zone:
            out.append("%s IN %s %s" % (s.nsname, "AAAA" if ":" in s.addr else "A",
                                        s.addr))
    # delegations to direct children
    for child in zones:
        if child is zone or parent_zone(child.name, zones) is not zone:
            continue
        cs = child.server
        out.append("%s IN NS %s" % (child.name, cs.nsname))
        if is_subdomain(cs.nsname, child.name):
            out.append("%s IN %s %s" % (cs.nsname, "AAAA" if ":" in cs.addr
                                        else "A", cs.addr))
        if child.signed:
            for ds in child.ds:
                out.append(ds)
    for rec in zone.records:
        if callable(rec):
            rec = rec(ctx)
        if isinstance(rec, str):
            out.append(rec)
        else:
            out.extend(rec)
    return "\n".join(out) + "\n"


def _nsd_conf(server, sdir, zones):
    lines = [
        "server:",
        '  ip-address: %s' % server.addr,
        "  port: 53",
        '  username: ""',
        '  chroot: ""',
        '  zonesdir: "%s"' % sdir,
        '  database: ""',
        '  zonelistfile: "%s/zone.list"' % sdir,
        '  xfrdfile: "%s/xfrd.state"' % sdir,
        '  xfrdir: "%s"' % sdir,
        '  pidfile: "%s/nsd.pid"' % sdir,
        '  logfile: "%s/nsd.log"' % sdir,
        "  server-count: 1",
        "  verbosity: 1",
        "  tcp-count: 32",
        "  hide-version: yes",
        "  refuse-any: no",
        "  reuseport: no",
        "  do-ip6: %s" % ("yes" if ":" in server.addr else "no"),
        "  do-ip4: %s" % ("no" if ":" in server.addr else "yes"),
        "remote-control:",
        "  control-enable: no",
    ]
    for z in zones:
        lines += ["zone:", '  name: "%s"' % z.name, '  zonefile: "%s"' % z.path]
    return "\n".join(lines) + "\n"


def build(outdir, servers, zones, ctx=None):
    """Generate keys, zone files, signatures and nsd configs into outdir.

    servers: list of Server; zones: list of Zone (must include ".").
    Returns a dict with paths: root_hints, trust_anchor, and per nsd
    server its config path under "nsd" (name -> conf path).
    """
    names = [z.name for z in zones]
    if "." not in names:
        raise ValueError("the lab needs a root zone")
    if len(set(names)) != len(names):
        raise ValueError("duplicate zone names")
    root = [z for z in zones if z.name == "."][0]
    if not root.signed:
        raise ValueError("the lab root must be signed")
    os.makedirs(os.path.join(outdir, "zones"), exist_ok=True)

    for z in zones:
        if z.signed:
            kd = os.path.join(outdir, "keys", "root" if z.name == "." else z.name.rstrip("."))
            _keygen(z, kd)

    now = datetime.datetime.now(datetime.timezone.utc)
    serial = int(now.timestamp())
    for z in zones:
        base = os.path.join(outdir, "zones",
                            "root" if z.name == "." else z.name.rstrip("."))
        with open(base + ".zone", "w") as f:
            f.write(_zone_text(z, zones, servers, ctx, serial))
        if not z.signed:
            z.path = base + ".zone"
            continue
        if z.sig == "expired":
            inc, exp = now - datetime.timedelta(days=30), now - datetime.timedelta(days=1)
        else:
            inc, exp = now - datetime.timedelta(days=1), now + datetime.timedelta(days=30)
        argv = ["ldns-signzone", "-o", z.name, "-i", _stamp(inc), "-e", _stamp(exp),
                "-f", base + ".signed"]
        if z.nsec3:
            argv += ["-n", "-t", "0"]
        argv += [base + ".zone", z.zsk, z.ksk]
        _run(argv)
        z.path = base + ".signed"

    result = {"nsd": {}, "blackhole": {}}
    for s in servers:
        sdir = os.path.join(outdir, s.name)
        os.makedirs(sdir, exist_ok=True)
        if s.kind == "blackhole":
            result["blackhole"][s.name] = sdir
            continue
        conf = os.path.join(sdir, "nsd.conf")
        with open(conf, "w") as f:
            f.write(_nsd_conf(s, sdir, [z for z in zones if z.server is s]))
        result["nsd"][s.name] = conf

    rs = root.server
    hints = os.path.join(outdir, "root.hints")
    with open(hints, "w") as f:
        f.write(".  3600000 IN NS %s\n%s 3600000 IN %s %s\n"
                % (rs.nsname, rs.nsname, "AAAA" if ":" in rs.addr else "A", rs.addr))
    anchor = os.path.join(outdir, "root.key")
    with open(anchor, "w") as f:
        f.write("; sealpost lab root trust anchor (DS of the lab root KSK)\n")
        f.write("\n".join(root.ds) + "\n")
    result["root_hints"] = hints
    result["trust_anchor"] = anchor
    return result
