"""scale.py - the benchmark's scale probe (tests/bench/run.sh --scale N).

For each relay, with the sink DOWN (nothing listens on the sink port, so
every delivery attempt is refused and the message is deferred):

  1. submit N messages (the load generator, --sessions' first value);
     time to accept them all;
  2. wait until the relay is idle (every message tried once and
     deferred), bounded;
  3. CPU used over 10 idle seconds with N deferred (periodic queue
     scans); time the relay's queue listing (sealpost: sendmail -bp; Postfix:
     postqueue -p), bounded by a timeout; RSS with N queued;
  4. start the sink, stop the relay, start it again: time from exec to
     the listener's 220, to the queue being loaded (sealpost logs
     "N messages in the queue"), and, after a flush (sealpost flush;
     Postfix postqueue -f) issued as soon as it answers 220 (sealpost
     keeps a flush that comes during its start-up scan), to the first
     message at the sink ("restart to first delivery");
  5. the drain: time until all N arrived, and the rate.

Every wait is bounded; only processes started here are stopped, by PID.
"""

import os
import subprocess
import time

MAILQ_TIMEOUT = 120


def _run_timed(argv, timeout, env=None):
    t0 = time.monotonic()
    try:
        r = subprocess.run(argv, capture_output=True, timeout=timeout, env=env,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return None, time.monotonic() - t0, b""
    return r.returncode, time.monotonic() - t0, r.stdout + r.stderr


def _wait_idle(b, root, limit):
    """Wait until root's tree used < 2% CPU for 2 s in a row; seconds waited."""
    t0 = time.monotonic()
    quiet = 0
    last = b.tree_cpu_seconds(root)
    while time.monotonic() - t0 < limit and quiet < 2:
        time.sleep(1.0)
        now = b.tree_cpu_seconds(root)
        quiet = quiet + 1 if now - last < 0.02 else 0
        last = now
    return time.monotonic() - t0


def _rss_now(b, root):
    t = b.proc_table()
    return sum(t[p][2] for p in b.tree(t, root)) * b.PAGE / 2**20


def _log_time(path, since, text, limit):
    """Wall-clock time stamp (time.time() scale) of the first log line after
    byte offset since that contains text; the daemon's lines start with
    2026-11-23T18:16:50.868Z (UTC)."""
    import calendar
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            with open(path, "rb") as f:
                f.seek(since)
                for line in f:
                    if text in line:
                        stamp = line.split()[0].decode()
                        base, frac = stamp.rstrip("Z").split(".")
                        t = calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S"))
                        return t + int(frac) / 1000.0
        except (OSError, ValueError, IndexError):
            pass
        time.sleep(0.05)
    return None


def probe_one(b, args, name, work):
    n = args.scale
    sessions = int(args.sessions.split(",")[0])
    rundir = os.path.join(work, "%s-scale" % name)
    os.makedirs(rundir)
    os.chmod(rundir, 0o755)
    relay = b.new_relay(name, args, rundir)
    res = {"relay": relay.version(), "n": n, "sessions": sessions}
    root = relay.start()
    try:
        time.sleep(0.5)
        sampler = b.Sampler(root)
        sampler.start()
        res["load_start"] = os.getloadavg()[0]
        t0, t1, subs = b.submit(args, relay.port, sessions, n, rundir,
                                timeout=120 + n // 20)
        res["accept_s"] = t1 - t0
        res["accept_rate"] = n / (t1 - t0)
        res["settle_s"] = _wait_idle(b, root, 300)
        sampler.stop()
        res["rss_accept_peak"] = sampler.peak_rss / 2**20
        res["rss_queued"] = _rss_now(b, root)
        # the queue manager's periodic work with N deferred (retry timer
        # scans, maildrop checks): CPU over 10 idle seconds
        c0 = b.tree_cpu_seconds(root)
        time.sleep(10)
        res["idle_cpu_pct"] = (b.tree_cpu_seconds(root) - c0) * 10.0
        if name == "sealpost":
            env = dict(os.environ, SEALPOST_CONFIG=relay.conf)
            argv = [os.path.join(args.build, "mta", "sendmail"), "-bp"]
        else:
            env = None
            argv = ["postqueue", "-c", relay.cfg, "-p"]
        rc, secs, out = _run_timed(argv, MAILQ_TIMEOUT, env)
        res["mailq_s"] = secs
        res["mailq_rc"] = rc
        res["mailq_tail"] = out.decode(errors="replace").strip().splitlines()[-1:]
        b.log("bench: scale %s: accepted %d in %.1fs (%.0f/s), settled %.1fs, "
              "RSS %.1f MiB queued, mailq %.2fs rc %s %s (load %.1f)"
              % (name, n, res["accept_s"], res["accept_rate"], res["settle_s"],
                 res["rss_queued"], secs, rc, res["mailq_tail"], os.getloadavg()[0]))
    finally:
        ts = time.monotonic()
        relay.stop()
        res["stop_s"] = time.monotonic() - ts

    sink = b.new_sink(args, args.sink_port, rundir)
    try:
        sink.reset()
        logpath = os.path.join(relay.dir, "sealpostd.log") if name == "sealpost" \
            else relay.logfile
        since = os.path.getsize(logpath) if os.path.exists(logpath) else 0
        res["load_restart"] = os.getloadavg()[0]
        texec = time.monotonic()
        texec_wall = time.time()
        root = relay.start()
        t220 = time.monotonic()
        sampler = b.Sampler(root)
        sampler.start()
        try:
            res["restart_220_s"] = t220 - texec
            if name == "sealpost":
                fl = [relay.bin.replace("sealpostd", "sealpost"), "-c", relay.conf,
                      "flush"]
            else:
                fl = ["postqueue", "-c", relay.cfg, "-f"]
            rc, secs, out = _run_timed(fl, 60)
            res["flush_s"] = secs
            first = sink.wait_count(1, 120)
            res["restart_first_s"] = first - texec if first else None
            if name == "sealpost":
                tl = _log_time(logpath, since, b"messages in the queue", 60)
                res["restart_loaded_s"] = tl - texec_wall if tl else None
            last = sink.wait_count(n, 120 + n // 20)
            res["drained"] = sink.received()
            if first and last:
                res["drain_s"] = last - first
                res["drain_rate"] = n / (last - first) if last > first else None
            sampler.stop()
            res["rss_drain_peak"] = sampler.peak_rss / 2**20
            res["load_end"] = os.getloadavg()[0]
        finally:
            relay.stop()
    finally:
        sink.stop()
    b.log("bench: scale %s: %r" % (name, res))
    return res


ROWS = [
    ("accept_s", "time to accept N (sink down), s", "%.1f"),
    ("accept_rate", "acceptance rate, msg/s", "%.0f"),
    ("settle_s", "until idle after acceptance, s", "%.1f"),
    ("rss_queued", "RSS with N queued, MiB", "%.1f"),
    ("idle_cpu_pct", "CPU while idle with N deferred, % of a core", "%.1f"),
    ("mailq_s", "mailq (queue listing) time, s", "%.2f"),
    ("stop_s", "stop time, s", "%.2f"),
    ("restart_220_s", "restart: exec to 220, s", "%.2f"),
    ("restart_loaded_s", "restart: exec to queue loaded, s", "%.2f"),
    ("restart_first_s", "restart: exec to first delivery (flush at 220), s", "%.2f"),
    ("drain_s", "drain: first to last arrival, s", "%.1f"),
    ("drain_rate", "drain rate, msg/s", "%.0f"),
    ("rss_drain_peak", "peak RSS during restart + drain, MiB", "%.1f"),
    ("load_start", "load average at start", "%.1f"),
    ("load_end", "load average at end", "%.1f"),
]


def probe(b, args, relays, work):
    results = [probe_one(b, args, r, work) for r in relays]
    print("## scale probe: %d messages x %d bytes queued with the sink down, "
          "%d sessions" % (args.scale, args.size, results[0]["sessions"]))
    print("")
    print("| metric | " + " | ".join(r["relay"] for r in results) + " |")
    print("|---|" + "---|" * len(results))
    for key, label, fmt in ROWS:
        cells = []
        for r in results:
            v = r.get(key)
            cells.append("-" if v is None else fmt % v)
        print("| %s | %s |" % (label, " | ".join(cells)))
    for r in results:
        if r.get("mailq_rc") is None:
            print("\n%s: mailq did not finish within %ds" % (r["relay"], MAILQ_TIMEOUT))
        if r.get("drained", 0) < r["n"]:
            print("\n%s: only %d of %d drained within the limit" % (r["relay"],
                  r.get("drained", 0), r["n"]))
