#!/usr/bin/env python3
"""Run the end-to-end tests: every test_* function of tests/e2e/test_*.py, each in a fresh
process group with a time limit, and print one line per test and a closing summary
`N passed, N failed`. Usage: run.py [--valgrind] [-k SUBSTRING] [FILE...]"""
import importlib.util
import os
import sys
import time
import traceback
import signal

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def main():
    args = sys.argv[1:]
    if "--valgrind" in args:
        args.remove("--valgrind")
        os.environ["LC_VALGRIND"] = "1"
    pattern = ""
    if "-k" in args:
        i = args.index("-k")
        pattern = args[i + 1]
        del args[i:i + 2]
    files = args or sorted(os.path.join(HERE, f) for f in os.listdir(HERE)
                           if f.startswith("test_") and f.endswith(".py"))
    valgrind = os.environ.get("LC_VALGRIND") == "1"
    passed = failed = 0
    for path in files:
        name = os.path.splitext(os.path.basename(path))[0]
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        if valgrind and not getattr(mod, "VALGRIND", False):
            continue
        for fn_name in sorted(n for n in dir(mod) if n.startswith("test_")):
            full = "%s.%s" % (name, fn_name)
            if pattern and pattern not in full:
                continue
            fn = getattr(mod, fn_name)
            limit = getattr(fn, "timeout", 120) * (4 if valgrind else 1)
            t0 = time.monotonic()

            def on_alarm(*_):
                raise TimeoutError("test exceeded %ss" % limit)
            signal.signal(signal.SIGALRM, on_alarm)
            signal.alarm(int(limit))
            try:
                fn()
                ok, msg = True, ""
            except Exception:
                ok, msg = False, traceback.format_exc()
            finally:
                signal.alarm(0)
            dt = time.monotonic() - t0
            if ok:
                passed += 1
                print("ok   %-60s %6.2fs" % (full, dt), flush=True)
            else:
                failed += 1
                print("FAIL %-60s %6.2fs\n%s" % (full, dt, msg), flush=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
