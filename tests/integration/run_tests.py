#!/usr/bin/python3
"""run_tests.py - run the integration cases against the real lab.

Brings up one lab (tests/lab/lab.py) in a fresh network namespace, then
runs every function named test_* in tests/integration/test_*.py, in file
order and then source order.  Each case gets the Lab object; sealpostd is
(re)started before a case whenever it is not running.  A case passes when
it returns, fails when it raises.

The last line printed is exactly "integration: N passed, M failed"; the
exit status is 1 when anything failed.

usage: run_tests.py [-k SUBSTRING] [--list]     (root; re-execs in a netns)
"""

import sys
sys.dont_write_bytecode = True  # keep the source tree free of __pycache__

import argparse
import glob
import importlib.util
import inspect
import os
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lab"))
sys.path.insert(0, HERE)
import lab  # noqa: E402


def discover():
    cases = []
    for path in sorted(glob.glob(os.path.join(HERE, "test_*.py"))):
        name = os.path.splitext(os.path.basename(path))[0]
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        fns = [f for n, f in inspect.getmembers(mod, inspect.isfunction)
               if n.startswith("test_") and f.__module__ == name]
        fns.sort(key=lambda f: f.__code__.co_firstlineno)
        cases += [("%s.%s" % (name, f.__name__), f) for f in fns]
    return cases


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-k", default="", help="run cases whose name contains this")
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args()
    cases = [c for c in discover() if a.k in c[0]]
    if a.list:
        for name, fn in cases:
            doc = (fn.__doc__ or "").strip().splitlines()
            print("%s  %s" % (name, doc[0] if doc else ""))
        return 0
    lab.enter_namespace()

    passed = failed = 0
    t0 = time.monotonic()
    try:
        L = lab.Lab("integration")
        L.__enter__()
    except Exception:
        traceback.print_exc()
        print("integration: 0 passed, %d failed" % len(cases))
        return 1
    results = []
    interrupted = None
    try:
        for name, fn in cases:
            t1 = time.monotonic()
            logpos = L.daemon_log_size()
            try:
                if L.daemon is None or not L.daemon.alive():
                    L.start_daemon()
                fn(L)
                found = L.sanitizer_findings(logpos)
                if found:
                    raise lab.LabError("sanitizer report in sealpostd.log:\n" +
                                       "\n".join(found[:20]))
                passed += 1
                results.append("ok   %s (%.1fs)" % (name, time.monotonic() - t1))
            except Exception as e:  # noqa: BLE001 - a failed case
                failed += 1
                detail = str(e) if isinstance(e, (AssertionError, lab.LabError)) \
                    else traceback.format_exc()
                results.append("FAIL %s (%.1fs)" % (name, time.monotonic() - t1))
                print("FAIL %s: %s" % (name, detail), flush=True)
            except (KeyboardInterrupt, SystemExit) as e:
                failed += 1
                interrupted = e
                results.append("FAIL %s (%.1fs): interrupted" % (name, time.monotonic() - t1))
                print(results[-1], flush=True)
                break
            print(results[-1], flush=True)
        # one more check when a daemon is still up: SIGTERM stops it
        # cleanly (status 0, in time, no sanitizer report on the way out)
        logpos = L.daemon_log_size()
        if interrupted is None and L.daemon is not None and L.daemon.alive():
            try:
                rc = L.stop_daemon()
                found = L.sanitizer_findings(logpos)
                if rc != 0 or found:
                    raise lab.LabError("exit status %s\n%s"
                                       % (rc, "\n".join(found[:20])))
                passed += 1
                results.append("ok   clean_daemon_stop")
            except lab.LabError as e:
                failed += 1
                results.append("FAIL clean_daemon_stop: %s" % e)
            print(results[-1], flush=True)
    finally:
        L.failed = failed > 0
        L.__exit__(None, None, None)
    print("--- summary (%.0fs)" % (time.monotonic() - t0))
    for r in results:
        print(r)
    if interrupted is not None:
        print("interrupted: %d cases not run" % (len(cases) - passed - failed))
    print("integration: %d passed, %d failed" % (passed, failed), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
