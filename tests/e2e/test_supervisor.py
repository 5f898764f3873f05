"""The supervisor with real processes: start order, stop order, restarts, escalation, nested
supervisors as processes, SIGKILL of the root, readiness kinds, start timeouts, big trees."""
import os
import signal
import subprocess
import time

from lc import Tree, Failure, sup_section, worker_section, bin_path, SLOW

VALGRIND = True     # this file also runs under valgrind (make check-valgrind)


def expect(cond, msg, tree=None):
    if not cond:
        raise Failure(msg + ("\nlog:\n" + tree.log() if tree else ""))


def kinds(tree, since=0, sup=None, skip=("spawn",)):
    return ["%s %s#%s" % (e.kind, e.child, e.n) if e.kind in ("start", "exit", "ignore")
            else "%s %s" % (e.kind, e.child)
            for e in tree.events(since) if e.kind not in skip and (sup is None or e.sup == sup)]


def flat(n=3, strategy="one_for_one", intensity=3, period=5, **kw):
    conf = sup_section("top", strategy=strategy, intensity=intensity, period=period)
    for i in range(n):
        conf += worker_section("abcdefgh"[i], "lc-sleeper", ready="fd", **kw)
    return conf


def test_start_and_stop_order():
    with Tree(flat()) as t:
        t.start()
        expect(kinds(t) == ["start a#1", "start b#1", "start c#1"], "start order", t)
        mark = t.mark()
        st = t.stop()
        expect(st == -signal.SIGTERM, "root stopped by SIGTERM dies of it, got %s" % st, t)
        exits = [(e.child, e.reason) for e in t.events(mark) if e.kind == "exit"]
        expect(exits == [("c", "shutdown"), ("b", "shutdown"), ("a", "shutdown")],
               "reverse stop order: %s" % exits, t)


def test_one_for_one_intensity_gives_up():
    with Tree(flat()) as t:
        t.start()
        for n in range(1, 5):
            m = t.mark()
            pid = t.kill("a")
            t.wait_event(lambda e: e.kind == "exit" and e.pid == pid, m)
            if n < 4:
                t.wait_start("a", n + 1, m)
        st = t.wait_exit()
        expect(st == 96, "a supervisor that gives up exits 96, got %s" % st, t)
        ev = kinds(t)
        expect(ev[-5:] == ["exit a#4", "child_terminated a", "give_up a", "exit c#1",
                           "exit b#1"] and ev.count("start a#4") == 1,
               "give up then reverse stop: %s" % ev, t)
        t.check_no_survivors()


def test_sigkill_root_leaves_nothing():
    conf = sup_section("top") + worker_section("a", ready="fd") + \
        sup_section("mid", parent="top") + worker_section("x", parent="mid", ready="fd") + \
        worker_section("y", parent="mid", ready="fd")
    with Tree(conf) as t:
        t.start()
        expect(len(t.alive_pids()) == 5, "5 processes up: %s" % t.alive_pids(), t)
        t.proc.kill()
        t.wait_exit()
        t.check_no_survivors()


def test_killed_nested_supervisor_takes_children_and_is_restarted():
    conf = sup_section("top") + sup_section("mid", parent="top") + \
        worker_section("x", parent="mid", ready="fd") + worker_section("y", parent="mid", ready="fd")
    with Tree(conf) as t:
        t.start()
        x1, y1 = t.pid("x"), t.pid("y")
        m = t.mark()
        t.kill("mid")
        t.wait_event(lambda e: e.kind == "exit" and e.child == "mid" and e.reason == "killed", m)
        t.wait_start("mid", 2, m)
        t.wait_start("y", since=m)
        for pid in (x1, y1):
            expect(not os.path.exists("/proc/%d" % pid) or
                   open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[0] == "Z",
                   "child %d of the killed supervisor survived" % pid, t)
        expect(t.pid("x") != x1 and t.pid("y") != y1, "subtree restarted", t)
        t.stop()


def test_nested_escalation():
    conf = sup_section("top", intensity=1) + \
        sup_section("mid", parent="top", intensity=2) + \
        worker_section("x", parent="mid", ready="fd") + worker_section("y", parent="mid", ready="fd") + \
        worker_section("z", ready="fd")
    with Tree(conf) as t:
        t.start()
        for round_ in (1, 2):
            for k in range(3):
                m = t.mark()
                pid = t.kill("x")
                t.wait_event(lambda e: e.kind == "exit" and e.pid == pid, m)
                if k < 2:
                    t.wait_start("x", since=m)
            if round_ == 1:
                t.wait_start("mid", 2, m)
                t.wait_start("y", since=m)      # a new mid: its children count from #1
        st = t.wait_exit()
        expect(st == 96, "top gives up after mid gave up twice: %s" % st, t)
        reports = [(e.sup, e.kind, e.child) for e in t.events() if e.kind == "give_up"]
        expect(reports == [("mid", "give_up", "x"), ("mid", "give_up", "x"),
                           ("top", "give_up", "mid")], "escalation: %s" % reports, t)
        t.check_no_survivors()


def test_readiness_fd_notify_and_exec():
    conf = sup_section("top") + \
        worker_section("f", "lc-slowstart", "--delay 200", ready="fd") + \
        worker_section("n", "lc-slowstart", "--delay 100", ready="notify") + \
        worker_section("e", "lc-sleeper")
    with Tree(conf) as t:
        t0 = time.monotonic()
        t.start()
        ev = [e for e in t.events() if e.kind in ("spawn", "start")]
        order = [(e.kind, e.child) for e in ev]
        expect(order == [("spawn", "f"), ("start", "f"), ("spawn", "n"), ("start", "n"),
                         ("spawn", "e"), ("start", "e")] or
               [o for o in order if o[0] == "start"] == [("start", "f"), ("start", "n"),
                                                          ("start", "e")],
               "each child starts after the previous is ready: %s" % order, t)
        expect(ev[1].t - t0 >= 0.2, "f became ready only after its delay", t)
        t.stop()


def test_start_timeout_at_boot_fails_the_tree():
    conf = sup_section("top") + worker_section("a", ready="fd") + \
        worker_section("b", "lc-neverready", ready="fd", start_timeout=300) + \
        worker_section("c", ready="fd")
    with Tree(conf) as t:
        t.start(wait=False)
        st = t.wait_exit()
        expect(st == 97, "boot failure exits 97 ({shutdown,_}), got %s" % st, t)
        ev = kinds(t)
        expect(ev == ["start a#1", "exit b#1", "start_error b", "exit a#1"],
               "b fails, a stopped, c never started: %s" % ev, t)
        expect("reason=timeout" in t.log(), "the start error says timeout", t)
        t.check_no_survivors()


def test_stubborn_child_is_killed_after_shutdown_timeout():
    conf = sup_section("top") + worker_section("s", "lc-stubborn", ready="fd", shutdown=300) + \
        worker_section("b", "lc-sleeper", ready="fd", shutdown="brutal_kill")
    with Tree(conf) as t:
        t.start()
        m = t.mark()
        t0 = time.monotonic()
        t.stop()
        ex = [e for e in t.events(m) if e.kind in ("exit", "shutdown_error")]
        got = [(e.kind, e.child, e.reason) for e in ex]
        expect(got == [("exit", "b", "killed"), ("exit", "s", "killed"),
                       ("shutdown_error", "s", "killed")], "stop results: %s" % got, t)
        expect(ex[1].t - t0 >= 0.3, "stubborn killed only after 300 ms", t)


def test_supctl_tree_and_errors():
    conf = sup_section("top") + worker_section("a", ready="fd") + sup_section("mid", parent="top") + \
        worker_section("x", parent="mid", ready="fd")
    with Tree(conf) as t:
        t.start()
        _, tree = t.supctl("tree")
        expect(tree["name"] == "top" and [c["name"] for c in tree["children"]] == ["a", "mid"],
               "tree: %s" % tree, t)
        mid = tree["children"][1]
        expect(mid["type"] == "supervisor" and mid["children"][0]["name"] == "x" and
               mid["children"][0]["state"] == "running", "nested: %s" % mid, t)
        rc, out = t.supctl("restart", "nope", check=False)
        expect(rc == 1 and out == {"ok": False, "error": "not_found"}, "unknown name: %s" % out)
        rc, out = t.supctl("which_children", "nope", check=False, json_out=False)
        expect(rc == 1 and "no supervisor named nope" in out, "unknown supervisor: %s" % out)
        rc, out = t.supctl("tree", json_out=False)
        expect("└─ mid" in out and "x" in out, "human tree:\n%s" % out)
        t.stop()
    r = subprocess.run([bin_path("supctl"), "-r", t.rundir, "tree"], capture_output=True)
    expect(r.returncode == 111 and b"no tree is running" in r.stderr,
           "no tree: %d %s" % (r.returncode, r.stderr))


def test_thousand_children():
    conf = sup_section("top", intensity=10)
    for i in range(1000):
        conf += worker_section("w%04d" % i, ready="fd", shutdown="brutal_kill" if i % 2 else 2000)
    with Tree(conf) as t:
        t.start(timeout=120)
        expect(len(t.alive_pids()) == 1001, "1001 processes", t)
        _, cc = t.supctl("count_children", "top")
        expect(cc == {"specs": 1000, "active": 1000, "supervisors": 0, "workers": 1000}, str(cc))
        t.stop(timeout=120)
test_thousand_children.timeout = 300
