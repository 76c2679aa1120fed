"""lab.py - the hermetic integration lab: namespace, DNS, PKI, receivers, sealpost.

Every integration test runs against real components inside a private
network namespace with only a loopback interface:

    nsd (several instances) serving a private DNS tree from "." down,
        signed with ldns-signzone; the lab root KSK is the trust anchor
    a lab CA (tests/lab/pki/labca.py) issuing the receivers' certificates
    aiosmtpd receivers (tests/lab/receiver.py) playing the remote MXes
    sealpost itself: build/mta/sealpostd, build/mta/sendmail

Typical use (see tests/integration/run_tests.py):

    import lab
    lab.enter_namespace()              # re-exec this program inside a new
                                       # netns; returns only inside it
    with lab.Lab("integration") as L:  # generates and starts everything
        L.start_daemon()
        L.sendmail(["bob@twomx.test"], L.message("bob@twomx.test"))
        msgs = L.receiver("twomx-mx1").wait(1, timeout=20)

Environment:
    SEALPOST_BUILD      binary directory (default <repo>/build)
    SEALPOST_LAB_RUN    parent of run directories (default tests/lab/run)
    SEALPOST_LAB_KEEP   1: keep the run directory even when all went well
    SEALPOST_LAB_TIMEOUT  overall limit in seconds for the namespaced child
                        (default 900); on expiry everything is killed

Every wait is bounded.  Only processes this module started are signalled,
by PID; the namespace wrapper finally kills what is left inside the
namespace (all of it ours) and deletes the namespace.
"""

import email.utils
import glob
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import uuid

LAB_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(LAB_DIR))
sys.path[:0] = [os.path.join(LAB_DIR, "dns"), os.path.join(LAB_DIR, "pki"), LAB_DIR]

import labca      # noqa: E402
import labdns     # noqa: E402
import topology   # noqa: E402
import ubprobe    # noqa: E402

PYTHON = "/usr/bin/python3"          # Debian's: has aiosmtpd and cryptography
NETNS_ENV = "SEALPOST_LAB_NETNS"
START_TIMEOUT = 15.0                 # seconds for any lab server to be ready


class LabError(Exception):
    pass


def build_dir():
    return os.path.abspath(os.environ.get("SEALPOST_BUILD") or os.path.join(REPO, "build"))


def log(msg):
    sys.stderr.write("lab: %s\n" % msg)
    sys.stderr.flush()


def wait_until(pred, timeout, interval=0.05, what="condition"):
    """Poll pred() until true or timeout seconds pass; returns pred's value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise LabError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def tail(path, nlines=40):
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - 64 * 1024))
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return "(no %s)" % path
    return "\n".join(lines[-nlines:])


# --------------------------------------------------------------------------
# network namespace


def _ns_pids(ns):
    r = subprocess.run(["ip", "netns", "pids", ns], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, text=True, timeout=10)
    return [int(p) for p in r.stdout.split() if p.isdigit()]


def _kill_namespace(ns):
    """Kill what is left in our private namespace, then delete it."""
    for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
        pids = _ns_pids(ns)
        if not pids:
            break
        for p in pids:
            try:
                os.kill(p, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while _ns_pids(ns) and time.monotonic() < deadline:
            time.sleep(0.05)
    subprocess.run(["ip", "netns", "del", ns], timeout=10,
                   stderr=subprocess.DEVNULL)


def in_namespace():
    return bool(os.environ.get(NETNS_ENV))


NETNS_PREFIX = "sealpost-lab-"


def _reap_stale_namespaces():
    """Delete lab namespaces left by a lab process that was SIGKILLed.

    Only names NETNS_PREFIX<pid> whose creating process is gone are
    touched; everything inside such a namespace was started by that lab.
    """
    r = subprocess.run(["ip", "netns", "list"], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, text=True, timeout=10)
    for line in r.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        if not name.startswith(NETNS_PREFIX):
            continue
        pid = name[len(NETNS_PREFIX):]
        if not pid.isdigit() or os.path.exists("/proc/%s" % pid):
            continue
        log("removing stale namespace %s (its lab process %s is gone)" % (name, pid))
        _kill_namespace(name)


def _exit_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


def enter_namespace(argv=None):
    """Re-run this program (sys.argv) inside a fresh lab namespace.

    Returns at once when already inside.  Otherwise creates the namespace,
    runs the child with an overall time limit, cleans up and exits with the
    child's status; it never returns.
    """
    if in_namespace():
        # turn SIGTERM into SystemExit so Lab.__exit__ stops what it started
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
        return
    if os.geteuid() != 0:
        sys.stderr.write("lab: needs root (ip netns add, binding port 25/53); "
                         "run as root or under sudo\n")
        sys.exit(2)
    argv = argv or sys.argv
    _reap_stale_namespaces()
    ns = NETNS_PREFIX + str(os.getpid())
    limit = float(os.environ.get("SEALPOST_LAB_TIMEOUT", "900"))
    subprocess.run(["ip", "netns", "add", ns], check=True, timeout=10)
    child = None
    rc = 1
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True,
                       timeout=10)
        env = dict(os.environ, **{NETNS_ENV: ns})
        child = subprocess.Popen(["ip", "netns", "exec", ns, PYTHON] + list(argv),
                                 env=env)

        def forward(signum, frame):
            if child.poll() is None:
                child.send_signal(signum)
        signal.signal(signal.SIGTERM, forward)
        signal.signal(signal.SIGINT, forward)
        try:
            rc = child.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            sys.stderr.write("lab: overall time limit %.0fs hit, killing the lab\n"
                             % limit)
            child.kill()
            child.wait(timeout=10)
            rc = 124
    finally:
        if child is not None and child.poll() is None:
            child.kill()
            child.wait(timeout=10)
        _kill_namespace(ns)
    sys.exit(rc if rc >= 0 else 128 - rc)


# --------------------------------------------------------------------------
# processes


class Proc:
    """A process the lab started; output goes to logs/<name>.log."""

    def __init__(self, name, argv, logpath, env=None):
        self.name = name
        self.argv = argv
        self.logpath = logpath
        self.logf = open(logpath, "ab")
        self.logf.write(("--- %s start: %s\n" % (time.strftime("%H:%M:%S"),
                                                 " ".join(argv))).encode())
        self.logf.flush()
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.logf,
                                  stderr=subprocess.STDOUT, env=env,
                                  start_new_session=True)
        self.pid = self.p.pid

    def alive(self):
        return self.p.poll() is None

    def returncode(self):
        return self.p.poll()

    def signal(self, sig):
        if self.alive():
            os.kill(self.pid, sig)

    def stop(self, timeout=5.0):
        """SIGTERM, wait, then SIGKILL.  Returns the exit status."""
        if self.alive():
            self.signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log("%s (pid %d) ignored SIGTERM for %.0fs, killing"
                    % (self.name, self.pid, timeout))
                self.p.kill()
                self.p.wait(timeout=5)
        self.logf.close()
        return self.p.returncode


def _dns_query(addr, qname, qtype=6, timeout=0.5):
    """One UDP query; True when any well-formed reply arrives."""
    labels = b"".join(bytes([len(x)]) + x.encode() for x in qname.strip(".").split(".")
                      if x)
    qid = os.getpid() & 0xffff
    pkt = struct.pack("!HHHHHH", qid, 0, 1, 0, 0, 0) + labels + b"\0" + \
        struct.pack("!HH", qtype, 1)
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    with socket.socket(fam, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.sendto(pkt, (addr, 53))
            data = s.recv(4096)
        except OSError:
            return False
    return len(data) >= 12 and struct.unpack("!H", data[:2])[0] == qid


# --------------------------------------------------------------------------
# receivers


class Receiver:
    """Read access to one receiver's spool."""

    def __init__(self, lab, host, spool):
        self.lab = lab
        self.host = host
        self.name = host.name
        self.spool = spool
        self.proc = None

    def _jsons(self):
        return sorted(glob.glob(os.path.join(self.spool, "*.json")))

    def count(self):
        return len(self._jsons())

    def messages(self):
        """All spooled messages (JSON records), oldest first."""
        out = []
        for p in self._jsons():
            with open(p) as f:
                out.append(json.load(f))
        out.sort(key=lambda m: m["seq"])
        return out

    def events(self, kind=None):
        path = os.path.join(self.spool, "events.jsonl")
        try:
            with open(path) as f:
                evs = [json.loads(line) for line in f if line.strip()]
        except OSError:
            return []
        return [e for e in evs if kind is None or e["event"] == kind]

    def wait(self, n, timeout=20.0):
        """Wait until at least n messages are spooled; returns them all.

        Fails early (LabError) when the daemon was expected to run and died.
        """
        deadline = time.monotonic() + timeout
        while True:
            c = self.count()
            if c >= n:
                return self.messages()
            self.lab.check_daemon()
            if time.monotonic() >= deadline:
                raise LabError("receiver %s: %d of %d messages after %.0fs\n"
                               "--- sealpostd log tail:\n%s"
                               % (self.name, c, n, timeout, self.lab.daemon_log_tail()))
            time.sleep(0.05)

    def wait_for(self, pred, timeout=20.0, what="a matching message"):
        """Wait until some spooled message satisfies pred(record); returns
        the first that does.  Fails early when the daemon died."""
        deadline = time.monotonic() + timeout
        seen = {}
        while True:
            for p in self._jsons():
                if p in seen:
                    continue
                try:
                    with open(p) as f:
                        seen[p] = json.load(f)
                except (OSError, ValueError):
                    continue
                if pred(seen[p]):
                    return seen[p]
            self.lab.check_daemon()
            if time.monotonic() >= deadline:
                raise LabError("receiver %s: no %s after %.0fs (%d messages there)\n"
                               "--- sealpostd log tail:\n%s"
                               % (self.name, what, timeout, len(seen),
                                  self.lab.daemon_log_tail()))
            time.sleep(0.1)

    def wait_message_id(self, message_id, timeout=20.0):
        return self.wait_for(lambda m: m["message_id"] == message_id, timeout,
                             "message %s" % message_id)

    def clear(self):
        for p in glob.glob(os.path.join(self.spool, "*")):
            if not p.endswith("events.jsonl"):
                os.unlink(p)


# --------------------------------------------------------------------------
# the lab


def make_pki(d, topo):
    """The lab's CAs and certificates in directory d: labca (the trusted
    root, ca-bundle.pem), rogueca, topo.CAS [(name, parent or None, cn)],
    one labca certificate per mail host with certnames, and topo.CERTS
    [(name, names, ca[, issue options])].  Returns {name: labca.CA}."""
    cas = {"labca": labca.CA.create(d, "labca"),
           "rogueca": labca.CA.create(d, "rogueca", cn="Untrusted Rogue CA")}
    labca.write_bundle(os.path.join(d, "ca-bundle.pem"), [cas["labca"]])
    for name, parent, cn in getattr(topo, "CAS", ()):
        cas[name] = cas[parent].intermediate(name, cn=cn) if parent \
            else labca.CA.create(d, name, cn=cn)
    for h in topo.MAILHOSTS:
        if h.certnames:
            cas["labca"].issue(h.name, h.certnames)
    for spec in getattr(topo, "CERTS", ()):
        cas[spec[2]].issue(spec[0], spec[1], **(spec[3] if len(spec) > 3 else {}))
    return cas


class Lab:
    def __init__(self, name="lab", topo=topology, rundir=None):
        if not in_namespace():
            raise LabError("Lab() must run inside the lab namespace "
                           "(call lab.enter_namespace() first)")
        self.topo = topo
        base = os.environ.get("SEALPOST_LAB_RUN") or os.path.join(LAB_DIR, "run")
        self.rundir = os.path.abspath(rundir or os.path.join(
            base, "%s-%s-%d" % (name, time.strftime("%Y%m%d-%H%M%S"), os.getpid())))
        self.build = build_dir()
        self.procs = []
        self.receivers = {}
        self.daemon = None
        self.daemon_expected = False
        self.conf = None
        self.dns = None
        self.ca = None
        self.rogue_ca = None
        self.cas = {}
        self.failed = False
        self._msgseq = 0

    # -- paths
    def path(self, *parts):
        return os.path.join(self.rundir, *parts)

    def bin(self, rel):
        return os.path.join(self.build, rel)

    def postdrop_path(self):
        """sealpost-postdrop: beside sendmail (build/mta/) in current
        trees, build/queue/ in older ones."""
        for rel in ("mta/sealpost-postdrop", "queue/sealpost-postdrop"):
            if os.access(self.bin(rel), os.X_OK):
                return self.bin(rel)
        return self.bin("mta/sealpost-postdrop")

    def cert_path(self, name):
        """PEM of the lab certificate called name (for labdns.tlsa())."""
        return self.path("pki", name + ".pem")

    # -- lifecycle
    def __enter__(self):
        try:
            self.up()
        except BaseException:
            self.failed = True
            self.down()
            raise
        return self

    def __exit__(self, et, ev, tb):
        if et is not None:
            self.failed = True
        self.down()
        return False

    def up(self):
        t0 = time.monotonic()
        for d in ("logs", "pids", "spool", "pki", "dns"):
            os.makedirs(self.path(d), exist_ok=True)
        log("run directory %s" % self.rundir)
        self._make_pki()
        self.dns = labdns.build(self.path("dns"), self.topo.SERVERS, self.topo.ZONES,
                                ctx=self)
        self._add_addresses()
        self._start_dns()
        self._start_receivers()
        self.write_config()
        self._write_summary()
        log("up in %.1fs" % (time.monotonic() - t0))

    def down(self):
        if self.daemon is not None:
            self.daemon_expected = False
            self.daemon.stop(timeout=10)
        for p in reversed(self.procs):
            p.stop()
        self.procs = []
        if not self.failed and os.environ.get("SEALPOST_LAB_KEEP") != "1":
            shutil.rmtree(self.rundir, ignore_errors=True)
        else:
            log("kept run directory %s" % self.rundir)

    def spawn(self, name, argv, env=None):
        p = Proc(name, argv, self.path("logs", name + ".log"), env=env)
        self.procs.append(p)
        return p

    # -- PKI
    def _make_pki(self):
        self.cas = make_pki(self.path("pki"), self.topo)
        self.ca, self.rogue_ca = self.cas["labca"], self.cas["rogueca"]

    def issue_cert(self, basename, names, ca=None, **kw):
        """Issue another certificate (e.g. expired=True, or ca=lab.rogue_ca);
        returns (chain_path, key_path)."""
        return (ca or self.ca).issue(basename, names, **kw)

    # -- DNS
    def _add_addresses(self):
        addrs = set()
        for h in self.topo.MAILHOSTS:
            addrs.update(a for a in h.addrs if ":" in a)
        addrs.update(s.addr for s in self.topo.SERVERS if ":" in s.addr)
        for a in sorted(addrs):
            subprocess.run(["ip", "addr", "add", a + "/128", "dev", "lo", "nodad"],
                           check=True, timeout=10)

    def _start_dns(self):
        for s in self.topo.SERVERS:
            if s.kind == "blackhole":
                d = self.dns["blackhole"][s.name]
                pidfile = os.path.join(d, "blackhole.pid")
                p = self.spawn("dns-" + s.name, [PYTHON, os.path.join(
                    LAB_DIR, "dns", "blackhole.py"), s.addr, "--pidfile", pidfile,
                    "--log", os.path.join(d, "blackhole.log")])
                wait_until(lambda: os.path.exists(pidfile) or not p.alive(),
                           START_TIMEOUT, what="blackhole " + s.name)
                if not p.alive():
                    raise LabError("blackhole %s died:\n%s" % (s.name, tail(p.logpath)))
                continue
            conf = self.dns["nsd"][s.name]
            r = subprocess.run(["nsd-checkconf", conf], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=30)
            if r.returncode != 0:
                raise LabError("nsd-checkconf %s: %s" % (conf, r.stdout))
            self.spawn("nsd-" + s.name, ["nsd", "-d", "-c", conf])
        for s in self.topo.SERVERS:
            if s.kind != "nsd":
                continue
            zone = next(z.name for z in self.topo.ZONES if z.server is s)
            p = next(x for x in self.procs if x.name == "nsd-" + s.name)
            wait_until(lambda: _dns_query(s.addr, zone) or not p.alive(),
                       START_TIMEOUT, what="nsd %s on %s" % (s.name, s.addr))
            if not p.alive():
                raise LabError("nsd %s died:\n%s\n%s" % (
                    s.name, tail(p.logpath), tail(os.path.join(
                        os.path.dirname(self.dns["nsd"][s.name]), "nsd.log"))))

    def resolve(self, name, rrtype, options=()):
        """Validating lookup with libunbound configured as sealpost is."""
        return ubprobe.resolve(name, rrtype, self.dns["trust_anchor"],
                               self.unbound_options() + list(options))

    def unbound_options(self):
        """The unbound options sealpost gets in the lab (resolver section).

        "test." is one of libunbound's built-in empty local zones.  The
        obvious 'local-zone: "test." nodefault' does not work through
        ub_ctx_set_option() in libunbound 1.17: its nodefault branch keeps
        the whole value ("test. nodefault") as the zone name, and quotes
        are kept literally.  A transparent local zone of the same name
        replaces the built-in one and lets queries through to recursion
        (and validation), so that is what the lab uses.

        infra-cache-max-rtt caps unbound's retransmit timeout (default
        120 s) so a lookup in timeout.test gives up after ~2 s instead of
        ~17 s; every real answer in the lab arrives within milliseconds.
        """
        return ["root-hints: " + self.dns["root_hints"],
                "do-not-query-localhost: no",
                "local-zone: test. transparent",
                "infra-cache-max-rtt: 1000"]

    # -- receivers
    def _start_receivers(self):
        for h in self.topo.MAILHOSTS:
            self.start_receiver(h)
        for r in self.receivers.values():
            self._wait_receiver(r)

    def start_receiver(self, host, wait=False):
        """Start (or restart) the receiver for a topology.MailHost."""
        spool = self.path("spool", host.name)
        pidfile = self.path("pids", "receiver-%s.pid" % host.name)
        if os.path.exists(pidfile):
            os.unlink(pidfile)
        argv = [PYTHON, os.path.join(LAB_DIR, "receiver.py"), "--name", host.name,
                "--spool", spool, "--pidfile", pidfile,
                "--hostname", host.certnames[0] if host.certnames else host.name]
        for a in host.addrs:
            argv += ["--listen", a]
        if host.certnames:
            argv += ["--starttls", self.path("pki", host.name + ".chain.pem"),
                     self.path("pki", host.name + ".key")]
        # "{pki}" in a host's args stands for this run's pki directory
        argv += [a.replace("{pki}", self.path("pki")) for a in host.args]
        r = self.receivers.get(host.name) or Receiver(self, host, spool)
        r.pidfile = pidfile
        r.proc = self.spawn("receiver-" + host.name, argv)
        self.receivers[host.name] = r
        if wait:
            self._wait_receiver(r)
        return r

    def _wait_receiver(self, r):
        wait_until(lambda: os.path.exists(r.pidfile) or not r.proc.alive(),
                   START_TIMEOUT, what="receiver " + r.name)
        if not r.proc.alive():
            raise LabError("receiver %s died:\n%s" % (r.name, tail(r.proc.logpath)))

    def receiver(self, name):
        return self.receivers[name]

    # -- the MTA-STS policy host (P4, tests/lab/stsserver.py)
    def start_sts_server(self, addr, config, cert="sts-web", name="stsserver"):
        """Start tests/lab/stsserver.py on addr:443 with behaviour file
        config (JSON, re-read on change) and certificate pki/<cert>.
        Returns the path of its request log (one JSON line per request)."""
        pidfile = self.path("pids", name + ".pid")
        reqlog = self.path("logs", name + "-requests.jsonl")
        if os.path.exists(pidfile):
            os.unlink(pidfile)
        p = self.spawn(name, [PYTHON, os.path.join(LAB_DIR, "stsserver.py"),
                              "--listen", addr, "--config", config, "--log", reqlog,
                              "--pidfile", pidfile, "--cert",
                              self.path("pki", cert + ".chain.pem"),
                              self.path("pki", cert + ".key")])
        wait_until(lambda: os.path.exists(pidfile) or not p.alive(), START_TIMEOUT,
                   what="policy server " + name)
        if not p.alive():
            raise LabError("%s died:\n%s" % (name, tail(p.logpath)))
        return reqlog

    # -- changing DNS mid-run
    def update_zone(self, name, records):
        """Replace the records of the unsigned zone name and restart the nsd
        that serves it (that nsd alone; a zone of its own is best).
        Resolver caches keep old answers for their TTL."""
        fq = labdns.fqdn(name)
        z = next(z for z in self.topo.ZONES if z.name == fq)
        if z.signed:
            raise LabError("update_zone: %s is signed; only unsigned zones" % fq)
        z.records = list(records)
        serial = int(time.time())
        with open(z.path, "w") as f:
            f.write(labdns._zone_text(z, self.topo.ZONES, self.topo.SERVERS, self,
                                      serial))
        s = z.server
        old = next(x for x in self.procs if x.name == "nsd-" + s.name)
        old.stop()
        self.procs.remove(old)
        p = self.spawn("nsd-" + s.name, ["nsd", "-d", "-c", self.dns["nsd"][s.name]])
        zone = next(x.name for x in self.topo.ZONES if x.server is s)
        wait_until(lambda: _dns_query(s.addr, zone) or not p.alive(), START_TIMEOUT,
                   what="nsd %s on %s" % (s.name, s.addr))
        if not p.alive():
            raise LabError("nsd %s died after the zone update:\n%s"
                           % (s.name, tail(p.logpath)))

    # -- sealpost configuration
    def write_config(self, settings=None, unbound_options=(), extra=""):
        """Write <run>/sealpost.conf for the lab and return its path.

        settings: dict key -> value text written verbatim ("2s", '"x"');
        overrides or adds top-level keys.  unbound_options are appended to
        the lab's own.  extra: raw text appended at the end.
        """
        def q(s):
            return '"%s"' % s.replace("\\", "\\\\").replace('"', '\\"')

        base = {
            "spool_directory": q(self.path("sealpost-spool")),
            "run_user": q(""),
            "myhostname": q(self.topo.RELAY_HOSTNAME),
            "log": "stderr",
            "smtp_port": "25",
            "minimal_backoff": "2s",
            "maximal_backoff": "4s",
            "queue_run_delay": "1s",
            "tls_ca_file": q(self.path("pki", "ca-bundle.pem")),
        }
        base.update(settings or {})
        lines = ["# sealpost lab configuration, generated by tests/lab/lab.py"]
        lines += ["%s = %s" % kv for kv in base.items()]
        opts = self.unbound_options() + list(unbound_options)
        lines += ["resolver {",
                  "\ttrust_anchor_file = %s" % q(self.dns["trust_anchor"]),
                  "\tunbound_options = {",
                  ",\n".join("\t\t%s" % q(o) for o in opts),
                  "\t}",
                  "}"]
        if extra:
            lines.append(extra)
        os.makedirs(self.path("sealpost-spool"), exist_ok=True)
        self.conf = self.path("sealpost.conf")
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        return self.conf

    # -- the SMTP listener (P2, docs/smtpd-contract.md)
    @staticmethod
    def listen_sections(listeners):
        """Config text for listen sections; listeners: [(name, "addr:port",
        role), ...].  Pass it to write_config(extra=...)."""
        out = []
        for name, address, role in listeners:
            out += ['listen "%s" {' % name, '\taddress = "%s"' % address,
                    "\trole = %s" % role, "}"]
        return "\n".join(out)

    def smtpd_cert(self, names=None):
        """Certificate (chain) and key for sealpost's listener, issued by the
        lab CA for myhostname once per lab; returns (chain_path, key_path)."""
        chain, key = self.path("pki", "smtpd.chain.pem"), self.path("pki", "smtpd.key")
        if names or not os.path.exists(key):
            chain, key = self.issue_cert("smtpd", names or [self.topo.RELAY_HOSTNAME])
        return chain, key

    def sasl_dir(self, users, realm=None, name="sasl"):
        """A directory for smtpd_sasl_path: smtpd.conf (auxprop, sasldb,
        PLAIN LOGIN) and a sasldb file with users {name: password} made by
        saslpasswd2 in realm (default myhostname).

        libsasl2 stores sasldb entries as user@realm.  A client may always
        authenticate as "user@realm"; a bare "user" is looked up in the
        server's user_realm, or when that is NULL in the serverFQDN given to
        sasl_server_new(), so it works only when that equals realm."""
        realm = realm or self.topo.RELAY_HOSTNAME
        d = self.path(name)
        os.makedirs(d, exist_ok=True)
        db = os.path.join(d, "sasldb2")
        with open(os.path.join(d, "smtpd.conf"), "w") as f:
            f.write("pwcheck_method: auxprop\nauxprop_plugin: sasldb\n"
                    "sasldb_path: %s\nmech_list: PLAIN LOGIN\n" % db)
        for user, password in users.items():
            r = subprocess.run(["saslpasswd2", "-c", "-p", "-f", db, "-u", realm, user],
                               input=password.encode(), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=30)
            if r.returncode != 0:
                raise LabError("saslpasswd2 %s@%s: %s" % (user, realm, r.stdout.decode()))
        return d

    def _write_summary(self):
        summary = {
            "rundir": self.rundir, "build": self.build, "conf": self.conf,
            "trust_anchor": self.dns["trust_anchor"],
            "root_hints": self.dns["root_hints"],
            "ca_bundle": self.path("pki", "ca-bundle.pem"),
            "dns_servers": {s.name: [s.addr, s.nsname, s.kind]
                            for s in self.topo.SERVERS},
            "zones": {z.name: {"server": z.server.name, "signed": z.signed,
                               "sig": z.sig, "file": z.path}
                      for z in self.topo.ZONES},
            "receivers": {h.name: {"addrs": h.addrs, "tls": bool(h.certnames),
                                   "args": h.args,
                                   "spool": self.receivers[h.name].spool}
                          for h in self.topo.MAILHOSTS},
        }
        with open(self.path("lab.json"), "w") as f:
            json.dump(summary, f, indent=1)

    # -- the daemon
    def daemon_log_path(self):
        return self.path("logs", "sealpostd.log")

    def daemon_log(self, since=0):
        """The daemon log from byte offset since (see daemon_log_size)."""
        try:
            with open(self.daemon_log_path(), "rb") as f:
                f.seek(since)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def daemon_log_tail(self, n=40):
        return tail(self.daemon_log_path(), n)

    SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                         "runtime error:", "WARNING: ThreadSanitizer")

    def daemon_log_size(self):
        try:
            return os.path.getsize(self.daemon_log_path())
        except OSError:
            return 0

    def sanitizer_findings(self, since=0):
        """Sanitizer report lines in the daemon log after byte offset since."""
        try:
            with open(self.daemon_log_path(), "rb") as f:
                f.seek(since)
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return []
        return [line for line in text.splitlines()
                if any(m in line for m in self.SANITIZER_MARKERS)]

    def start_daemon(self, settle=0.5):
        """Start build/mta/sealpostd -c CONF in the foreground (stderr to
        logs/sealpostd.log).  Raises if it exits within settle seconds."""
        if self.daemon is not None and self.daemon.alive():
            raise LabError("sealpostd already running (pid %d)" % self.daemon.pid)
        if self.daemon in self.procs:
            self.procs.remove(self.daemon)
        exe = self.bin("mta/sealpostd")
        if not os.access(exe, os.X_OK):
            raise LabError("no sealpostd at %s (set SEALPOST_BUILD)" % exe)
        self.daemon = self.spawn("sealpostd", [exe, "-c", self.conf])
        self.daemon_expected = True
        deadline = time.monotonic() + settle
        while time.monotonic() < deadline and self.daemon.alive():
            time.sleep(0.05)
        self.check_daemon()
        return self.daemon

    def check_daemon(self):
        """Raise LabError if sealpostd should be running but is not."""
        if self.daemon_expected and self.daemon is not None and not self.daemon.alive():
            self.daemon_expected = False
            raise LabError("sealpostd exited unexpectedly with status %s\n"
                           "--- sealpostd log tail:\n%s"
                           % (self.daemon.returncode(), self.daemon_log_tail()))

    def stop_daemon(self, timeout=15.0):
        """SIGTERM (clean stop) and wait; returns the exit status."""
        if self.daemon is None:
            return None
        self.daemon_expected = False
        t0 = time.monotonic()
        rc = self.daemon.stop(timeout=timeout)
        if time.monotonic() - t0 >= timeout:
            raise LabError("sealpostd needed SIGKILL: no clean stop in %.0fs" % timeout)
        return rc

    def kill_daemon(self):
        """SIGKILL the daemon (crash simulation) and reap it."""
        if self.daemon is None:
            return
        self.daemon_expected = False
        self.daemon.signal(signal.SIGKILL)
        self.daemon.p.wait(timeout=10)
        self.daemon.logf.close()

    # -- submission
    def message(self, to, subject="lab test", sender=None, headers=None,
                body="Hello from the sealpost lab.\n"):
        """A small RFC 5322 message (bytes) with a unique Message-ID;
        Lab.message_id(msg) gives it back."""
        self._msgseq += 1
        sender = sender or self.topo.SENDER
        mid = "<%s.%d@%s>" % (uuid.uuid4().hex, self._msgseq,
                              sender.rpartition("@")[2] or "lab.test")
        h = [("From", sender), ("To", to if isinstance(to, str) else ", ".join(to)),
             ("Subject", subject), ("Date", email.utils.formatdate(localtime=False)),
             ("Message-ID", mid)]
        h += list((headers or {}).items())
        text = "".join("%s: %s\r\n" % kv for kv in h) + "\r\n" + \
            body.replace("\r\n", "\n").replace("\n", "\r\n")
        return text.encode()

    @staticmethod
    def message_id(msg):
        for line in msg.split(b"\r\n"):
            if line.lower().startswith(b"message-id:"):
                return line.split(b":", 1)[1].strip().decode()
            if not line:
                break
        return None

    def sendmail(self, rcpts, msg, sender=None, timeout=30.0, check=True):
        """Submit msg via build/mta/sendmail -C CONF -f sender -- rcpts."""
        exe = self.bin("mta/sendmail")
        argv = [exe, "-C", self.conf, "-f", sender or self.topo.SENDER, "--"] + list(rcpts)
        env = dict(os.environ, SEALPOST_POSTDROP=self.postdrop_path())
        r = subprocess.run(argv, input=msg, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=env, timeout=timeout)
        err = r.stderr.decode("utf-8", "replace")
        if check and r.returncode != 0:
            raise LabError("sendmail exited %d: %s" % (r.returncode, err.strip()))
        if check and any(m in err for m in self.SANITIZER_MARKERS):
            raise LabError("sanitizer report from sendmail:\n%s" % err[-3000:])
        return r


# --------------------------------------------------------------------------
# command line: generate files, or an interactive shell inside a live lab


def generate(outdir, topo=topology):
    """PKI and DNS files of the standard lab into outdir (no root needed)."""

    class Ctx:
        def cert_path(self, name):
            return os.path.join(outdir, "pki", name + ".pem")

    make_pki(os.path.join(outdir, "pki"), topo)
    return labdns.build(os.path.join(outdir, "dns"), topo.SERVERS, topo.ZONES, ctx=Ctx())


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(prog="lab.py")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("generate", help="write the lab's PKI and DNS files to DIR")
    p.add_argument("dir")
    p = sub.add_parser("shell", help="bring the lab up and run a shell inside it")
    p.add_argument("--daemon", action="store_true", help="also start sealpostd")
    a = ap.parse_args(argv)
    if a.cmd == "generate":
        print(json.dumps(generate(os.path.abspath(a.dir)), indent=1))
        return 0
    enter_namespace()
    with Lab("shell") as L:
        if a.daemon:
            L.start_daemon()
        env = dict(os.environ, LAB_RUN=L.rundir, LAB_CONF=L.conf,
                   SEALPOST_CONFIG=L.conf,
                   SEALPOST_POSTDROP=L.postdrop_path(),
                   PS1="[sealpost-lab] \\w# ")
        log("lab is up; $LAB_RUN=%s, $LAB_CONF=%s; exit the shell to tear it down"
            % (L.rundir, L.conf))
        subprocess.run(["bash", "--norc", "-i"], env=env, cwd=REPO)
        L.failed = True    # keep the run directory for inspection
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
