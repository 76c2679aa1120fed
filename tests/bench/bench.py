#!/usr/bin/python3
"""sealpost vs Postfix relay benchmark (the inner half of tests/bench/run.sh).

Runs INSIDE a network namespace that run.sh created (loopback only), as
root.  Topology, all on 127.0.0.1:

    load --SMTP--> relay under test --SMTP(+STARTTLS)--> tlssink (final hop)
                   sealpost :2525 / Postfix :2526             :SINKPORT

load and tlssink are tests/bench/load.c and tlssink.c (run.sh builds
them); --tools postfix uses Postfix's smtp-source and smtp-sink instead
(plain only, no latency).  For every session count, every repeat, and
every relay (one after the other, same parameters) it starts a fresh sink
and a fresh relay with an empty spool, submits N messages and measures:

  e2e      messages / s from the start of submission to the N-th message
           at the sink
  submit   messages / s of the load generator's wall time (all 250s)
  lat      submit->arrival latency p50 / p99: MAIL FROM sent (the time is
           in the message's X-Bench header) to the final "." at the sink,
           both CLOCK_MONOTONIC
  acc      the same from MAIL FROM to the relay's 250 (p50 / p99)
  rss      peak of the summed VmRSS of all the relay's processes, sampled
           every 100 ms from /proc (shared pages count once per process)
  pss      peak of the summed Pss (smaps_rollup), sampled every 500 ms
  cpu/1k   CPU seconds (user+sys, including reaped children) of the
           relay's process tree per 1000 messages, from /proc/PID/stat,
           from just before submission to 1 s after the last arrival

Nothing here is started outside this script's own process tree, and every
process it starts is stopped by PID.  Every wait is bounded.
"""

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
SEALPOST_PORT = 2525
POSTFIX_PORT = 2526
SENDER = "bench@source.bench.test"
RCPT = "sink@sink.bench.test"


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- /proc ---

def proc_table():
    """pid -> (ppid, utime+stime+cutime+cstime ticks, rss pages)."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                s = f.read()
        except OSError:
            continue
        rest = s[s.rfind(")") + 2:].split()
        # rest[0] is field 3 (state); field N is rest[N - 3]
        try:
            ppid = int(rest[1])
            cpu = int(rest[11]) + int(rest[12]) + int(rest[13]) + int(rest[14])
            rss = int(rest[21])
        except (IndexError, ValueError):
            continue
        out[int(name)] = (ppid, cpu, rss)
    return out


def tree(table, root):
    """root and all its descendants present in table."""
    kids = {}
    for pid, (ppid, _, _) in table.items():
        kids.setdefault(ppid, []).append(pid)
    res, todo = [], [root] if root in table else []
    while todo:
        p = todo.pop()
        res.append(p)
        todo.extend(kids.get(p, []))
    return res


def tree_cpu_by_name(root):
    """{(pid, comm): own utime+stime ticks} for root's tree."""
    t = proc_table()
    out = {}
    for p in tree(t, root):
        try:
            with open("/proc/%d/stat" % p) as f:
                st = f.read()
        except OSError:
            continue
        comm = st[st.find("(") + 1:st.rfind(")")]
        rest = st[st.rfind(")") + 2:].split()
        out[(p, comm)] = int(rest[11]) + int(rest[12])
    return out


def cpu_breakdown(before, after):
    """CPU seconds per command name between two tree_cpu_by_name() calls
    (processes alive at the end only; reaped ones are in their parent's
    cutime and show up as the difference to the total)."""
    agg = {}
    for key, ticks in after.items():
        agg[key[1]] = agg.get(key[1], 0) + ticks - before.get(key, 0)
    return sorted(((v / CLK_TCK, k) for k, v in agg.items() if v), reverse=True)


def tree_cpu_seconds(root):
    t = proc_table()
    return sum(t[p][1] for p in tree(t, root)) / CLK_TCK


def pss_kib(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Sampler(threading.Thread):
    """Peak summed RSS (every 100 ms) and PSS (every 500 ms) of a tree."""

    def __init__(self, root):
        super().__init__(daemon=True)
        self.root = root
        self.stop_ev = threading.Event()
        self.peak_rss = 0
        self.peak_pss = 0
        self.peak_procs = 0

    def run(self):
        n = 0
        while not self.stop_ev.is_set():
            t = proc_table()
            pids = tree(t, self.root)
            self.peak_rss = max(self.peak_rss, sum(t[p][2] for p in pids) * PAGE)
            self.peak_procs = max(self.peak_procs, len(pids))
            if n % 5 == 0:
                self.peak_pss = max(self.peak_pss, sum(pss_kib(p) for p in pids) * 1024)
            n += 1
            self.stop_ev.wait(0.1)

    def stop(self):
        self.stop_ev.set()
        self.join(5)


# ------------------------------------------------------------ processes ---

def kill_tree(root, grace=5.0):
    """SIGTERM root's tree, SIGKILL what is left after grace seconds."""
    pids = tree(proc_table(), root)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for p in pids:
            try:
                os.kill(p, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            pids = [p for p in pids if os.path.exists("/proc/%d" % p)
                    and not _zombie(p)]
            if not pids:
                return
            time.sleep(0.05)


def _zombie(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
        return s[s.rfind(")") + 2] == "Z"
    except OSError:
        return True


def wait_port(port, timeout, proc=None, host="127.0.0.1"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process exited with %s before listening on %d"
                               % (proc.returncode, port))
        try:
            with socket.create_connection((host, port), timeout=1) as s:
                s.settimeout(2)
                banner = s.recv(512)
                s.sendall(b"QUIT\r\n")
                if banner.startswith(b"220"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("nothing answered 220 on port %d within %ds" % (port, timeout))


class Sink:
    """smtp-sink with its -c counter parsed from stdout."""

    def __init__(self, port, logdir):
        self.port = port
        self.count = 0
        self.base = 0
        self.first = None
        self.last = None
        self.cond = threading.Condition()
        self.proc = subprocess.Popen(
            ["smtp-sink", "-u", "postfix", "-c", "-m", "1024",
             "127.0.0.1:%d" % port, "1024"],
            stdout=subprocess.PIPE, stderr=open(os.path.join(logdir, "sink.err"), "ab"),
            stdin=subprocess.DEVNULL)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        wait_port(port, 10, self.proc)
        with self.cond:  # the probe connection is not a message
            self.count = 0

    def _read(self):
        buf = b""
        fd = self.proc.stdout.fileno()
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            now = time.monotonic()
            buf += chunk
            *parts, buf = buf.split(b"\r")
            for p in reversed(parts):
                i = p.rfind(b"mesg=")
                if i >= 0:
                    try:
                        n = int(p[i + 5:].split()[0])
                    except (ValueError, IndexError):
                        continue
                    with self.cond:
                        if n > self.count:
                            if self.first is None:
                                self.first = now
                            self.count = n
                            self.last = now
                            self.cond.notify_all()
                    break

    def reset(self):
        with self.cond:
            self.base = self.count
            self.first = self.last = None

    def wait_count(self, n, timeout):
        """Wait until n messages arrived after reset(); return last arrival time."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.count - self.base < n:
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    return None
                self.cond.wait(min(left, 0.5))
            return self.last

    def received(self):
        with self.cond:
            return self.count - self.base

    def stop(self):
        kill_tree(self.proc.pid, 2)
        self.proc.wait(5)


class OwnSink:
    """tests/bench/tlssink: one "A seq sent_ns arrival_ns tls" line per message."""

    def __init__(self, port, logdir, tools, tls=None, host="127.0.0.1"):
        self.port = port
        self.cond = threading.Condition()
        self.arr = []           # (seq, sent_ns, arrival_ns, tls)
        self.base = 0
        argv = [os.path.join(tools, "tlssink"), "-T", "7200"]
        if tls:
            argv += ["-c", tls[0], "-k", tls[1]]
        self.proc = subprocess.Popen(
            argv + ["%s:%d" % (host, port)], stdout=subprocess.PIPE,
            stderr=open(os.path.join(logdir, "sink.err"), "ab"),
            stdin=subprocess.DEVNULL)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        wait_port(port, 10, self.proc, host)

    def _read(self):
        for line in self.proc.stdout:
            p = line.split()
            if len(p) != 5 or p[0] != b"A":
                continue
            rec = (int(p[1]), int(p[2]), int(p[3]) / 1e9, int(p[4]))
            with self.cond:
                self.arr.append(rec)
                self.cond.notify_all()

    def reset(self):
        with self.cond:
            self.base = len(self.arr)

    def wait_count(self, n, timeout):
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.arr) - self.base < n:
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    return None
                self.cond.wait(min(left, 0.5))
            return self.arr[self.base + n - 1][2]

    def received(self):
        with self.cond:
            return len(self.arr) - self.base

    def records(self):
        with self.cond:
            return self.arr[self.base:]

    def stop(self):
        kill_tree(self.proc.pid, 2)
        self.proc.wait(5)
        self.reader.join(5)


def own_load(tools, port, n, size, sessions, timeout, outfile, tls=False,
             rcpt=RCPT, host="127.0.0.1"):
    """Run tests/bench/load; (t0, t1, {seq: (sent_s, accepted_s)})."""
    cmd = [os.path.join(tools, "load"), "-s", str(sessions), "-m", str(n),
           "-l", str(size), "-T", str(timeout), "-o", outfile,
           "-f", SENDER, "-r", rcpt]
    if tls:
        cmd.append("-t")
    cmd.append("%s:%d" % (host, port))
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL)
    try:
        out, _ = p.communicate(timeout=timeout + 10)
    except subprocess.TimeoutExpired:
        kill_tree(p.pid, 1)
        p.communicate()
        raise RuntimeError("load did not finish within %ds" % timeout)
    text = out.decode(errors="replace")
    done = [l.split() for l in text.splitlines() if l.startswith("done ")]
    if p.returncode != 0 or not done:
        raise RuntimeError("load failed (%d): %s" % (p.returncode, text[-500:]))
    d = done[-1]
    subs = {}
    with open(outfile) as f:
        for line in f:
            q = line.split()
            subs[int(q[1])] = (int(q[2]) / 1e9, int(q[3]) / 1e9)
    return int(d[3]) / 1e9, int(d[4]) / 1e9, subs


def pct(vals, q):
    """q-th percentile (nearest rank) of vals, or None."""
    if not vals:
        return None
    v = sorted(vals)
    k = max(0, min(len(v) - 1, int(round(q / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


def smtp_source(port, n, size, sessions, timeout):
    cmd = ["smtp-source", "-d", "-s", str(sessions), "-m", str(n), "-l", str(size),
           "-M", "source.bench.test", "-f", SENDER, "-t", RCPT,
           "127.0.0.1:%d" % port]
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_tree(p.pid, 1)
        p.communicate()
        raise RuntimeError("smtp-source did not finish within %ds" % timeout)
    t1 = time.monotonic()
    if p.returncode != 0:
        raise RuntimeError("smtp-source failed (%d): %s" % (p.returncode,
                           out.decode(errors="replace")[-500:]))
    return t0, t1


# --------------------------------------------------------------- relays ---

class Sealpost:
    name = "sealpost"
    port = SEALPOST_PORT

    def __init__(self, build, workdir, sinkport, tls=False, extra=(), name="sealpost",
                 relayhost=True):
        self.name = name
        self.dir = os.path.join(workdir, "sealpost")
        os.makedirs(self.dir)
        self.conf = os.path.join(self.dir, "sealpost.conf")
        with open(self.conf, "w") as f:
            f.write("""# written by tests/bench/bench.py
spool_directory = "%s/spool"
run_user = ""
myhostname = "relay.bench.test"
log = stderr
mynetworks = { "127.0.0.0/8" }
# STARTTLS to the sink: opportunistic (the default), like Postfix's
# smtp_tls_security_level = may
tls_opportunistic = %s
%s
listen "bench" {
    address = "127.0.0.1:%d"
    role = relay
}
%s""" % (self.dir, "yes" if tls else "no", "\n".join(extra), self.port,
         'relayhost {\n    host = "[127.0.0.1]:%d"\n}\n' % sinkport if relayhost else ""))
        self.bin = os.path.join(build, "mta", "sealpostd")
        self.proc = None

    def start(self):
        self.logf = open(os.path.join(self.dir, "sealpostd.log"), "ab")
        self.proc = subprocess.Popen([self.bin, "-c", self.conf], stdout=self.logf,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     cwd=self.dir)
        wait_port(self.port, 20, self.proc)
        return self.proc.pid

    def stop(self):
        if self.proc and self.proc.poll() is None:
            kill_tree(self.proc.pid, 15)
        if self.proc:
            self.proc.wait(5)
        self.logf.close()

    def version(self):
        """HEAD now and when the binary was built: the tree may have moved
        on since (or carry uncommitted work)."""
        head = subprocess.run(
            ["git", "-C", os.path.dirname(os.path.abspath(__file__)), "rev-parse",
             "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        built = time.strftime("%Y-%m-%d %H:%M UTC",
                              time.gmtime(os.path.getmtime(self.bin)))
        return "%s (HEAD %s, binary built %s)" % (self.name, head, built)


class Postfix:
    name = "postfix"
    port = POSTFIX_PORT

    def __init__(self, workdir, sinkport, tls=False, extra=()):
        self.dir = os.path.join(workdir, "postfix")
        self.cfg = os.path.join(self.dir, "etc")
        self.queue = os.path.join(self.dir, "queue")
        self.data = os.path.join(self.dir, "data")
        for d in (self.dir, self.cfg, self.queue, self.data):
            os.makedirs(d)
            os.chmod(d, 0o755)
        shutil.chown(self.data, "postfix", "postfix")
        shutil.copy("/etc/postfix/master.cf", os.path.join(self.cfg, "master.cf"))
        open(os.path.join(self.cfg, "main.cf"), "w").close()
        self.logfile = os.path.join(self.dir, "maillog")
        settings = {
            "compatibility_level": "3.6",
            "config_directory": self.cfg,
            "queue_directory": self.queue,
            "data_directory": self.data,
            "myhostname": "relay.bench.test",
            "mydomain": "bench.test",
            "mydestination": "",
            "local_recipient_maps": "",
            "alias_maps": "",
            "alias_database": "",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "relayhost": "[127.0.0.1]:%d" % sinkport,
            "maillog_file": self.logfile,
            "maillog_file_prefixes": self.dir,
            "biff": "no",
            # opportunistic STARTTLS to the sink in --tls runs
            "smtp_tls_security_level": "may" if tls else "none",
        }
        for kv in extra:
            k, v = kv.split("=", 1)
            settings[k.strip()] = v.strip()
        self.postconf(["-e"] + ["%s=%s" % kv for kv in settings.items()])
        # Upstream Postfix's default is no chroot (Debian's master.cf turns
        # it on; the chroot would need a copy of /etc files in the queue).
        self.postconf(["-F", "*/*/chroot=n"])
        self.postconf(["-MX", "smtp/inet"])
        self.postconf(["-M", "127.0.0.1:%d/inet=127.0.0.1:%d inet n - n - - smtpd"
                       % (self.port, self.port)])
        self.master = None

    def postconf(self, args):
        subprocess.run(["postconf", "-c", self.cfg] + args, check=True,
                       stdin=subprocess.DEVNULL)

    def start(self):
        r = subprocess.run(["postfix", "-c", self.cfg, "start"], capture_output=True,
                           text=True, timeout=60, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise RuntimeError("postfix start failed: %s%s" % (r.stdout, r.stderr))
        pidfile = os.path.join(self.queue, "pid", "master.pid")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with open(pidfile) as f:
                    self.master = int(f.read().split()[0])
                break
            except (OSError, ValueError, IndexError):
                time.sleep(0.05)
        if self.master is None:
            raise RuntimeError("postfix master.pid did not appear")
        wait_port(self.port, 20)
        return self.master

    def stop(self):
        subprocess.run(["postfix", "-c", self.cfg, "stop"], capture_output=True,
                       timeout=60, stdin=subprocess.DEVNULL)
        if self.master:
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and os.path.exists("/proc/%d" % self.master) \
                    and not _zombie(self.master):
                time.sleep(0.1)
            kill_tree(self.master, 3)  # whatever is left, by PID

    def version(self):
        return "postfix " + subprocess.run(["postconf", "-d", "-h", "mail_version"],
                                           capture_output=True, text=True).stdout.strip()


# ------------------------------------------------------------ the bench ---

def submit(args, port, sessions, n, rundir, tls=False, timeout=None):
    """Submit n messages; (t0, t1, subs or None)."""
    timeout = timeout or args.timeout
    if args.tools == "postfix":
        t0, t1 = smtp_source(port, n, args.size, sessions, timeout)
        return t0, t1, None
    to_sink = port == args.sink_port
    return own_load(args.tools_dir, port, n, args.size, sessions, timeout,
                    os.path.join(rundir, "load-%d.txt" % port), tls, args.rcpt,
                    args.sink_host if to_sink else "127.0.0.1")


def new_sink(args, sinkport, rundir):
    if args.tools == "postfix":
        return Sink(sinkport, rundir)
    return OwnSink(sinkport, rundir, args.tools_dir, args.cert if args.tls else None,
                   args.sink_host)


def latency_figures(res, sink, subs, n):
    """p50/p99 of submit->arrival and of submit->250, in ms; duplicates."""
    if subs is None:
        return
    recs = sink.records()
    seen = set()
    lat = []
    ntls = 0
    for seq, sent, arr, tls in recs:
        ntls += tls
        if seq in seen or seq < 0:
            continue
        seen.add(seq)
        lat.append((arr - sent / 1e9) * 1000.0)
    acc = [(a - s) * 1000.0 for s, a in subs.values()]
    res["lat50"], res["lat99"] = pct(lat, 50), pct(lat, 99)
    res["acc50"], res["acc99"] = pct(acc, 50), pct(acc, 99)
    res["dup"] = len(recs) - len(seen)
    res["tls_share"] = ntls / len(recs) if recs else 0.0


def run_one(relay, sinkport, args, sessions, rundir):
    sink = new_sink(args, sinkport, rundir)
    try:
        root = relay.start()
        try:
            time.sleep(0.5)  # let start-up work (queue scans, forks) settle
            sink.reset()
            load0 = os.getloadavg()[0]
            cpu0 = tree_cpu_seconds(root)
            by0 = tree_cpu_by_name(root)
            sampler = Sampler(root)
            sampler.start()
            t0, t1, subs = submit(args, relay.port, sessions, args.messages, rundir)
            left = max(1.0, args.timeout - (t1 - t0))
            last = sink.wait_count(args.messages, left)
            if last is None:
                sampler.stop()
                raise RuntimeError("%s: only %d of %d messages reached the sink within %ds"
                                   % (relay.name, sink.received(), args.messages,
                                      args.timeout))
            time.sleep(1.0)  # post-delivery bookkeeping (queue removal, commits)
            cpu1 = tree_cpu_seconds(root)
            by1 = tree_cpu_by_name(root)
            sampler.stop()
            load1 = os.getloadavg()[0]
        finally:
            relay.stop()
    finally:
        sink.stop()
    n = args.messages
    res = {
        "e2e": n / (last - t0),
        "submit": n / (t1 - t0),
        "drain_lag": last - t1,
        "rss": sampler.peak_rss / 2**20,
        "pss": sampler.peak_pss / 2**20,
        "procs": sampler.peak_procs,
        "cpu1k": (cpu1 - cpu0) * 1000.0 / n,
        "dup": sink.received() - n,
        "cpu_total": cpu1 - cpu0,
        "breakdown": cpu_breakdown(by0, by1),
        "load": (load0 + load1) / 2,
    }
    latency_figures(res, sink, subs, n)
    return res


def sink_ceiling(sinkport, args, sessions, rundir):
    sink = new_sink(args, sinkport, rundir)
    try:
        sink.reset()
        t0, t1, _ = submit(args, sinkport, sessions, args.messages, rundir, tls=args.tls)
        last = sink.wait_count(args.messages, 10)
        if last is None:
            raise RuntimeError("sink counted %d of %d" % (sink.received(), args.messages))
        return args.messages / (max(last, t1) - t0)
    finally:
        sink.stop()


METRICS = [  # key, label, format, higher is better
    ("e2e", "end-to-end msg/s", "%.0f", True),
    ("submit", "submission msg/s", "%.0f", True),
    ("lat50", "latency submit->arrival p50, ms", "%.1f", False),
    ("lat99", "latency submit->arrival p99, ms", "%.1f", False),
    ("acc50", "latency submit->250 p50, ms", "%.1f", False),
    ("acc99", "latency submit->250 p99, ms", "%.1f", False),
    ("cpu1k", "CPU s / 1000 msg", "%.3f", False),
    ("rss", "peak RSS MiB (sum)", "%.1f", False),
    ("pss", "peak PSS MiB (sum)", "%.1f", False),
    ("drain_lag", "last arrival - submit end, s", "%.2f", False),
    ("load", "load average (1 min) during run", "%.1f", False),
]


def mmm(vals, fmt):
    return "%s / %s / %s" % (fmt % min(vals), fmt % statistics.median(vals), fmt % max(vals))


def table(results, relays, sessions_list, ceilings):
    lines = []
    for s in sessions_list:
        lines.append("")
        lines.append("### %d sessions  (sink alone: %.0f msg/s)" % (s, ceilings[s]))
        lines.append("")
        hdr = "| metric | " + " | ".join("%s min / med / max" % r for r in relays)
        if len(relays) == 2:
            hdr += " | %s/%s (median) |" % (relays[0], relays[1])
        else:
            hdr += " |"
        lines.append(hdr)
        lines.append("|" + "---|" * (hdr.count("|") - 1))
        for key, label, fmt, _ in METRICS:
            if any(results[(r, s)][0].get(key) is None for r in relays):
                continue
            row = "| %s | " % label
            meds = []
            for r in relays:
                vals = [x[key] for x in results[(r, s)]]
                row += mmm(vals, fmt) + " | "
                meds.append(statistics.median(vals))
            if len(relays) == 2 and key != "load":
                row += ("%.2f" % (meds[0] / meds[1]) if meds[1] else "-") + " |"
            elif len(relays) == 2:
                row += "- |"
            lines.append(row.rstrip())
    return "\n".join(lines)


def make_cert(work):
    """A self-signed P-256 certificate for the sink (opportunistic TLS
    does not verify it)."""
    cert, key = os.path.join(work, "sink-cert.pem"), os.path.join(work, "sink-key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "30", "-subj", "/CN=sink.bench.test"],
                   check=True, capture_output=True, stdin=subprocess.DEVNULL)
    os.chmod(key, 0o644)
    return cert, key


# "sealpost-off": sealpost with DANE, MTA-STS and TLS-RPT recording off
# (for --mx-lab: the cost of having them on)
OFF_SETTINGS = ["dane = no", "mta_sts = no", "tlsrpt_enable = no"]


def new_relay(name, args, rundir, extra=()):
    if name in ("sealpost", "sealpost-off"):
        extra = list(args.sealpost_set) + list(extra) + list(args.mx_lines)
        if name == "sealpost-off":
            extra += OFF_SETTINGS
        return Sealpost(args.build, rundir, args.sink_port, args.tls, extra, name,
                        relayhost=not args.mx_lab)
    if name == "postfix":
        if args.mx_lab:
            raise SystemExit("--mx-lab: relays sealpost and sealpost-off only")
        return Postfix(rundir, args.sink_port, args.tls,
                       list(args.postfix_set) + list(extra))
    raise SystemExit("unknown relay " + name)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--sessions", default="10,100")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tls", action="store_true")
    ap.add_argument("--relays", default="sealpost,postfix")
    ap.add_argument("--build", required=True)
    ap.add_argument("--tools-dir", help="where load and tlssink are (run.sh sets it)")
    ap.add_argument("--tools", choices=["own", "postfix"], default="own",
                    help="own: tests/bench/load + tlssink; postfix: smtp-source + smtp-sink")
    ap.add_argument("--sealpost-set", action="append", default=[],
                    help="extra sealpost.conf line, e.g. 'tlsrpt_enable = no'")
    ap.add_argument("--postfix-set", action="append", default=[],
                    help="extra main.cf setting, e.g. 'smtp_tls_loglevel=0'")
    ap.add_argument("--mx-lab", action="store_true",
                    help="deliver by MX to dane.test (lab DNS, DANE) instead of a "
                    "relayhost; relays sealpost and sealpost-off (DANE, MTA-STS, "
                    "TLS-RPT off)")
    ap.add_argument("--scale", type=int, default=0,
                    help="run only the scale probe with this many messages")
    ap.add_argument("--sink-port", type=int, default=2600)
    ap.add_argument("--timeout", type=int, default=0,
                    help="seconds per run (default: 60 + messages/20)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    if args.tls and args.tools == "postfix":
        log("bench: --tls needs --tools own (smtp-sink has no TLS)")
        return 2
    if not args.timeout:
        args.timeout = 60 + args.messages // 20
    args.sink_host, args.rcpt, args.mx_lines = "127.0.0.1", RCPT, []
    if args.mx_lab:
        args.tls = True
        if args.relays == "sealpost,postfix":
            args.relays = "sealpost,sealpost-off"
    sessions_list = [int(x) for x in args.sessions.split(",") if x]
    relays = [r for r in args.relays.split(",") if r]

    work = tempfile.mkdtemp(prefix="sealpost-bench-")
    os.chmod(work, 0o755)
    log("bench: work directory", work)
    ok = False
    mxl = None
    try:
        if args.mx_lab:
            import mxlab
            mxl = mxlab.up(work)
            args.sink_host, args.sink_port = mxlab.MX_ADDR, 25
            args.rcpt = "sink@" + mxlab.DOMAIN
            args.mx_lines = mxlab.sealpost_lines(mxl)
            args.cert = mxlab.sink_tls(mxl)
        elif args.tls:
            args.cert = make_cert(work)
        if args.scale:
            import scale
            scale.probe(sys.modules[__name__], args, relays, work)
            ok = True
            return 0
        versions = {}
        results = {}
        ceilings = {}
        for s in sessions_list:
            log("bench: sink alone, %d sessions ..." % s)
            ceilings[s] = sink_ceiling(args.sink_port, args, s, work)
            log("bench:   sink ceiling %.0f msg/s (load %.1f)" % (ceilings[s],
                os.getloadavg()[0]))
            for rep in range(args.repeat):
                for r in relays:
                    rundir = os.path.join(work, "%s-s%d-r%d" % (r, s, rep))
                    os.makedirs(rundir)
                    os.chmod(rundir, 0o755)
                    relay = new_relay(r, args, rundir)
                    versions.setdefault(r, relay.version())
                    res = run_one(relay, args.sink_port, args, s, rundir)
                    results.setdefault((r, s), []).append(res)
                    lat = ""
                    if res.get("lat50") is not None:
                        lat = " lat p50 %.1f p99 %.1f ms, 250 p50 %.1f p99 %.1f ms" % (
                            res["lat50"], res["lat99"], res["acc50"], res["acc99"])
                    if args.tls and "tls_share" in res:
                        lat += " tls %.0f%%" % (100 * res["tls_share"])
                    log("bench:   %-8s s=%-3d rep %d: e2e %.0f/s submit %.0f/s cpu/1k %.3fs "
                        "rss %.1f MiB pss %.1f MiB procs %d drain %.2fs%s load %.1f%s"
                        % (r, s, rep + 1, res["e2e"], res["submit"], res["cpu1k"],
                           res["rss"], res["pss"], res["procs"], res["drain_lag"], lat,
                           res["load"],
                           " DUPLICATES %d" % res["dup"] if res["dup"] else ""))
                    log("bench:     cpu %.2fs: %s" % (res["cpu_total"], ", ".join(
                        "%s %.2f" % (k, v) for v, k in res["breakdown"][:8])))
        print("## sealpost relay benchmark: %d messages x %d bytes, %d repeats, %s"
              % (args.messages, args.size, args.repeat,
                 "by MX to dane.test (DANE-EE), STARTTLS" if args.mx_lab else
                 "STARTTLS to the sink" if args.tls else "plain"))
        print("")
        print("relays: " + ", ".join(versions[r] for r in relays))
        print("tools: " + ("tests/bench/load + tlssink" if args.tools == "own"
                           else "smtp-source + smtp-sink"))
        for extra, name in ((args.sealpost_set, "sealpost"), (args.postfix_set, "postfix")):
            if extra:
                print("%s settings: %s" % (name, "; ".join(extra)))
        print(table(results, relays, sessions_list, ceilings))
        ok = True
        return 0
    finally:
        if mxl is not None:
            mxl.failed = mxl.failed or not ok or args.keep
            mxl.down()
        if args.keep or not ok:
            log("bench: kept", work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
