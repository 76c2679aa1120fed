#!/usr/bin/python3
"""sealpost vs Postfix relay benchmark (the inner half of tests/bench/run.sh).

Runs INSIDE a network namespace that run.sh created (loopback only), as
root.  Topology, all on 127.0.0.1:

    smtp-source --SMTP--> relay under test --SMTP--> smtp-sink (final hop)
                          sealpost :2525 / Postfix :2526      :SINKPORT

For every session count, every repeat, and every relay (one after the
other, same parameters) it starts a fresh sink and a fresh relay with an
empty spool, submits N messages with smtp-source and measures:

  e2e      messages / s from the start of submission to the N-th message
           counted by smtp-sink (its -c counter, read from its stdout)
  submit   messages / s of smtp-source's wall time (all 250s received)
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


def wait_port(port, timeout, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process exited with %s before listening on %d"
                               % (proc.returncode, port))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
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

    def __init__(self, build, workdir, sinkport):
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
# Postfix exempts $mynetworks from its per-client limit of 50
# (smtpd_client_event_limit_exceptions); sealpost has no such exemption,
# so the load generator's single address needs a higher limit here.
smtpd_client_connection_limit = 1000
listen "bench" {
    address = "127.0.0.1:%d"
    role = relay
}
relayhost {
    host = "[127.0.0.1]:%d"
}
""" % (self.dir, self.port, sinkport))
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
        return "sealpost " + subprocess.run(
            ["git", "-C", os.path.dirname(os.path.abspath(__file__)), "rev-parse",
             "--short", "HEAD"], capture_output=True, text=True).stdout.strip()


class Postfix:
    name = "postfix"
    port = POSTFIX_PORT

    def __init__(self, workdir, sinkport):
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
        }
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

def run_one(relay, sinkport, args, sessions, rundir):
    sink = Sink(sinkport, rundir)
    try:
        root = relay.start()
        try:
            time.sleep(0.5)  # let start-up work (queue scans, forks) settle
            sink.reset()
            cpu0 = tree_cpu_seconds(root)
            by0 = tree_cpu_by_name(root)
            sampler = Sampler(root)
            sampler.start()
            t0, t1 = smtp_source(relay.port, args.messages, args.size, sessions,
                                 args.timeout)
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
        finally:
            relay.stop()
    finally:
        sink.stop()
    n = args.messages
    extra = sink.received() - n
    return {
        "e2e": n / (last - t0),
        "submit": n / (t1 - t0),
        "drain_lag": last - t1,
        "rss": sampler.peak_rss / 2**20,
        "pss": sampler.peak_pss / 2**20,
        "procs": sampler.peak_procs,
        "cpu1k": (cpu1 - cpu0) * 1000.0 / n,
        "dup": extra,
        "cpu_total": cpu1 - cpu0,
        "breakdown": cpu_breakdown(by0, by1),
    }


def sink_ceiling(sinkport, args, sessions, rundir):
    sink = Sink(sinkport, rundir)
    try:
        sink.reset()
        t0, t1 = smtp_source(sinkport, args.messages, args.size, sessions, args.timeout)
        last = sink.wait_count(args.messages, 10)
        if last is None:
            raise RuntimeError("sink counted %d of %d" % (sink.received(), args.messages))
        return args.messages / (max(last, t1) - t0)
    finally:
        sink.stop()


METRICS = [  # key, label, format, higher is better
    ("e2e", "end-to-end msg/s", "%.0f", True),
    ("submit", "submission msg/s", "%.0f", True),
    ("cpu1k", "CPU s / 1000 msg", "%.3f", False),
    ("rss", "peak RSS MiB (sum)", "%.1f", False),
    ("pss", "peak PSS MiB (sum)", "%.1f", False),
    ("drain_lag", "last arrival - submit end, s", "%.2f", False),
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
            row = "| %s | " % label
            meds = []
            for r in relays:
                vals = [x[key] for x in results[(r, s)]]
                row += mmm(vals, fmt) + " | "
                meds.append(statistics.median(vals))
            if len(relays) == 2:
                row += ("%.2f" % (meds[0] / meds[1]) if meds[1] else "-") + " |"
            lines.append(row.rstrip())
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--sessions", default="10,100")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tls", action="store_true")
    ap.add_argument("--relays", default="sealpost,postfix")
    ap.add_argument("--build", required=True)
    ap.add_argument("--sink-port", type=int, default=2600)
    ap.add_argument("--timeout", type=int, default=0,
                    help="seconds per run (default: 60 + messages/20)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    if args.tls:
        log("bench: --tls (STARTTLS to the sink) is not implemented yet: smtp-sink has "
            "no TLS, and a TLS sink that keeps up is still to be chosen")
        return 2
    if not args.timeout:
        args.timeout = 60 + args.messages // 20
    sessions_list = [int(x) for x in args.sessions.split(",") if x]
    relays = [r for r in args.relays.split(",") if r]

    work = tempfile.mkdtemp(prefix="sealpost-bench-")
    os.chmod(work, 0o755)
    log("bench: work directory", work)
    ok = False
    try:
        versions = {}
        results = {}
        ceilings = {}
        for s in sessions_list:
            log("bench: sink alone, %d sessions ..." % s)
            ceilings[s] = sink_ceiling(args.sink_port, args, s, work)
            log("bench:   sink ceiling %.0f msg/s" % ceilings[s])
            for rep in range(args.repeat):
                for r in relays:
                    rundir = os.path.join(work, "%s-s%d-r%d" % (r, s, rep))
                    os.makedirs(rundir)
                    os.chmod(rundir, 0o755)
                    if r == "sealpost":
                        relay = Sealpost(args.build, rundir, args.sink_port)
                    elif r == "postfix":
                        relay = Postfix(rundir, args.sink_port)
                    else:
                        raise SystemExit("unknown relay " + r)
                    versions.setdefault(r, relay.version())
                    res = run_one(relay, args.sink_port, args, s, rundir)
                    results.setdefault((r, s), []).append(res)
                    log("bench:   %-8s s=%-3d rep %d: e2e %.0f/s submit %.0f/s cpu/1k %.3fs "
                        "rss %.1f MiB pss %.1f MiB procs %d drain %.2fs%s"
                        % (r, s, rep + 1, res["e2e"], res["submit"], res["cpu1k"],
                           res["rss"], res["pss"], res["procs"], res["drain_lag"],
                           " DUPLICATES %d" % res["dup"] if res["dup"] else ""))
                    log("bench:     cpu %.2fs: %s" % (res["cpu_total"], ", ".join(
                        "%s %.2f" % (k, v) for v, k in res["breakdown"][:8])))
        print("## sealpost relay benchmark: %d messages x %d bytes, %d repeats, plain"
              % (args.messages, args.size, args.repeat))
        print("")
        print("relays: " + ", ".join(versions[r] for r in relays))
        print(table(results, relays, sessions_list, ceilings))
        ok = True
        return 0
    finally:
        if args.keep or not ok:
            log("bench: kept", work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
