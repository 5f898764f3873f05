"""Links, monitors and trap_exit across processes (docs/links.md), and the tree watcher they
stand on (letitcrash/watch.h, seen through `supctl events`, which uses it).

The actors are lc-trio (workers/lc-trio.c), which says on stderr what it receives; its lines
land in the tree's log, so every wait here is on a log line or an event, never a sleep.
Deterministic barriers: an actor that both links to and monitors X reacts to X's exit in one
step, monitor first, so its DOWN line proves it has seen the exit and (for a `normal` one, or
when trapping) survived it."""
import os
import re
import signal
import subprocess
import threading
import time

from lc import Tree, Failure, sup_section, worker_section, bin_path, SLOW

VALGRIND = False


def expect(cond, msg, tree=None):
    if not cond:
        raise Failure(msg + ("\nlog:\n" + tree.log() if tree else ""))


def need_trio():
    if not os.path.exists(bin_path("lc-trio")):
        raise Failure("lc-trio is not built")


def trio(name, args="", parent=None, **keys):
    keys.setdefault("ready", "fd")
    return worker_section(name, "lc-trio", args, parent, **keys)


def said(t, who, what, since=0, timeout=10):
    return t.wait_line(r"^lc-trio: %s: %s" % (re.escape(who), what), since, timeout)


def lines(t, regex):
    return [l for l in t.log().splitlines() if re.search(regex, l)]


def exit_of(t, child, since=0, timeout=10):
    return t.wait_event(lambda e: e.kind == "exit" and e.child == child, since, timeout,
                        "exit of %s" % child)


# --- monitors ------------------------------------------------------------------------------

def test_monitor_down_on_kill9():
    need_trio()
    conf = sup_section("top") + worker_section("a", ready="fd") + trio("m", "--monitor a")
    with Tree(conf) as t:
        t.start()
        m = t.mark()
        pid = t.kill("a")
        line = said(t, "m", r"DOWN from a ref=\d+ reason=killed$", m)
        expect(line, "DOWN killed", t)
        t.wait_start("a", 2, m)
        expect(t.stop() == -signal.SIGTERM, "clean stop", t)


def test_monitor_down_on_normal_exit():
    need_trio()
    conf = sup_section("top") + \
        trio("a", "--exit-after %d --reason normal" % (1000 * SLOW), restart="transient") + \
        trio("m", "--monitor a")
    with Tree(conf) as t:
        t.start()
        said(t, "m", r"DOWN from a ref=\d+ reason=normal$", timeout=10)
        t.stop()


def test_monitor_noproc_at_once():
    need_trio()
    conf = sup_section("top") + trio("m", "--monitor ghost")
    with Tree(conf) as t:
        t.start()
        # DOWN noproc is posted before lc_monitor returns, so it is the first message m reads.
        said(t, "m", r"DOWN from ghost ref=\d+ reason=noproc$")
        t.stop()


def test_monitor_fires_once_across_restart():
    need_trio()
    conf = sup_section("top", intensity=10) + worker_section("a", ready="fd") + \
        worker_section("z", ready="fd") + trio("m", "--monitor a --monitor z")
    with Tree(conf) as t:
        t.start()
        m = t.mark()
        t.kill("a")
        said(t, "m", r"DOWN from a ref=1 reason=killed$", m)
        t.wait_start("a", 2, m)
        m2 = t.mark()
        t.kill("a")
        t.wait_start("a", 3, m2)
        # z's exit comes after a#2's in the same supervisor's order: once m reports it, m has
        # seen a#2's exit too, and must not have fired again.
        t.kill("z")
        said(t, "m", r"DOWN from z ref=2 reason=killed$", m2)
        downs = lines(t, r"^lc-trio: m: DOWN from a ")
        expect(len(downs) == 1, "one DOWN for one incarnation: %s" % downs, t)
        t.stop()


def test_monitor_across_supervisors_and_supervisor_killed():
    need_trio()
    conf = sup_section("top", intensity=10) + sup_section("s1", parent="top") + \
        worker_section("p", parent="s1", ready="fd") + sup_section("s2", parent="top") + \
        trio("m", "--monitor p", parent="s2")
    with Tree(conf) as t:
        t.start()
        m = t.mark()
        t.kill("s1")        # p dies of its death signal; s1 never reports it: the watcher does
        said(t, "m", r"DOWN from p ref=1 reason=killed$", m)
        t.stop()


# --- links ----------------------------------------------------------------------------------

def test_link_propagates_without_trap():
    need_trio()
    conf = open(os.path.join(os.path.dirname(__file__), "..", "..", "etc",
                             "trio-abnormal.conf")).read()
    with Tree(conf) as t:
        t.start()
        e = exit_of(t, "b")
        expect(e.reason == "exit 3", "b exits with c's reason: %s" % e.reason, t)
        said(t, "a", r"EXIT from b reason=exit 3$")
        expect(not lines(t, r"^lc-trio: b: EXIT"), "b does not trap", t)
        t.stop()


def test_link_trapped():
    need_trio()
    conf = open(os.path.join(os.path.dirname(__file__), "..", "..", "etc",
                             "trio-trap.conf")).read()
    with Tree(conf) as t:
        t.start()
        said(t, "b", r"EXIT from c reason=exit 3$")
        m = t.mark()
        before = lines(t, r"^lc-trio: a: EXIT")
        t.stop()
        e = exit_of(t, "b", m)
        expect(e.reason == "shutdown", "b lived on until the stop: %s" % e.reason, t)
        exit_of(t, "a", m)
        expect(not before, "a saw nothing of c: %s" % before, t)
        # Stopping b (shutdown, not normal) does reach a, which traps: OTP's behaviour.


def test_normal_exit_does_not_propagate():
    need_trio()
    conf = sup_section("top") + \
        trio("x", "--exit-after %d --reason normal" % (1000 * SLOW), restart="temporary") + \
        trio("y", "--link x --monitor x")
    with Tree(conf) as t:
        t.start()
        said(t, "y", r"DOWN from x ref=\d+ reason=normal$")
        m = t.mark()
        t.stop()
        e = exit_of(t, "y", m)
        expect(e.reason == "shutdown", "y lived on until the stop: %s" % e.reason, t)


def test_trapping_process_gets_exit_normal():
    need_trio()
    conf = sup_section("top") + \
        trio("x", "--exit-after %d --reason normal" % (1000 * SLOW), restart="temporary") + \
        trio("y", "--trap --link x")
    with Tree(conf) as t:
        t.start()
        said(t, "y", r"EXIT from x reason=normal$")     # OTP: {'EXIT', X, normal}
        m = t.mark()
        t.stop()
        e = exit_of(t, "y", m)
        expect(e.reason == "shutdown", "y lived on until the stop: %s" % e.reason, t)


def test_link_noproc():
    need_trio()
    conf = sup_section("top") + trio("y", "--trap --link ghost")
    with Tree(conf) as t:
        t.start()
        said(t, "y", r"EXIT from ghost reason=noproc$")
        t.stop()


def test_links_across_supervisors_both_ways():
    need_trio()
    # p (under s1) traps; q (under s2) links to p, r (under s2) links to q. q dies of exit 7:
    # p gets an EXIT, r dies with exit 7 too (it does not trap).
    conf = sup_section("top") + sup_section("s1", parent="top") + \
        trio("p", "--trap", parent="s1") + sup_section("s2", parent="top") + \
        trio("q", "--link p --exit-after %d --reason 'exit 7'" % (1000 * SLOW), parent="s2",
             restart="temporary") + \
        trio("r", "--link q", parent="s2", restart="temporary")
    with Tree(conf) as t:
        t.start()
        said(t, "p", r"EXIT from q reason=exit 7$")
        e = exit_of(t, "r")
        expect(e.reason == "exit 7", "r exits with q's reason: %s" % e.reason, t)
        expect(len(lines(t, r"^lc-trio: p: EXIT")) == 1, "one EXIT at p", t)
        t.stop()


# --- the watcher alone (supctl events) ------------------------------------------------------

EV_RE = re.compile(r"^(\w+) (\S+) sup=(\S+) seq=(\d+) time=\d+ pid=(\d+) n=(\d+)(?: reason=(.*))?$")


class Follower:
    """`supctl events ARGS` running beside the tree; its lines, parsed, as they come."""

    def __init__(self, t, *args):
        self.t = t
        self.p = subprocess.Popen([bin_path("supctl"), "-r", t.rundir, "events"] + list(args),
                                  env=t.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for raw in self.p.stdout:
            with self.cond:
                self.lines.append(raw.decode().rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.lines.append(None)
            self.cond.notify_all()

    def wait_lines(self, k, timeout=20):
        """The first k lines, parsed (event, child, sup, seq, pid, n, reason)."""
        end = time.monotonic() + timeout * SLOW
        with self.cond:
            while len(self.lines) < k or None in self.lines[:k]:
                if None in self.lines or time.monotonic() > end:
                    raise Failure("supctl events gave %s, wanted %d lines; tree log:\n%s" %
                                  (self.lines, k, self.t.log()))
                self.cond.wait(0.1)
            got = list(self.lines[:k])
        out = []
        for l in got:
            m = EV_RE.match(l)
            if not m:
                raise Failure("bad event line from supctl: %r" % l)
            ev, child, sup, seq, pid, n, reason = m.groups()
            out.append((ev, child, sup, int(seq), int(pid), int(n), reason))
        return out

    def close(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()


def test_watch_nested_restart_and_dead_supervisor():
    conf = sup_section("top", intensity=10) + worker_section("a", ready="fd") + \
        sup_section("mid", parent="top") + worker_section("x", parent="mid", ready="fd")
    with Tree(conf) as t:
        t.start()
        f = Follower(t, "-a")
        try:
            hist = f.wait_lines(6)      # top: spawn/start a, mid; mid: spawn/start x
            expect(sorted((e[0], e[1]) for e in hist) == sorted(
                [("spawn", "a"), ("start", "a"), ("spawn", "mid"), ("start", "mid"),
                 ("spawn", "x"), ("start", "x")]), "history: %s" % hist, t)
            t.kill("mid")
            evs = f.wait_lines(13)[6:]
            got = [(e[0], e[1], e[2], e[3]) for e in evs]
            expect(("exit", "x", "mid", 0) in got, "synthetic exit of x: %s" % got, t)
            x = [e for e in evs if e[:2] == ("exit", "x")][0]
            expect(x[6] == "killed", "x died of its death signal: %s" % (x,), t)
            expect(got.index(("exit", "x", "mid", 0)) > got.index(("exit", "mid", "top", 5)),
                   "x after mid: %s" % got, t)
            mid2 = [e[3] for e in evs if e[2] == "mid" and e[3] != 0]
            expect(mid2 == [1, 2], "mid#2 counts from 1: %s" % got, t)
            tops = [e[3] for e in evs if e[2] == "top"]
            expect(tops == [5, 6, 7, 8], "top in order: %s" % got, t)
        finally:
            f.close()
        t.stop()


def test_watch_burst_no_gap_no_duplicate():
    n = 100
    conf = sup_section("top", intensity=1000, period=1)
    for i in range(n):
        conf += worker_section("w%d" % i, ready="fd")
    with Tree(conf) as t:
        t.start()
        f = Follower(t, "-a")
        try:
            f.wait_lines(2 * n)         # the history: attached
            pids = [t.pid("w%d" % i) for i in range(n)]
            for p in pids:
                os.kill(p, signal.SIGKILL)
            for i in range(n):
                t.wait_start("w%d" % i, 2, timeout=20)
            total = len([e for e in t.events() if e.kind in ("spawn", "start", "exit")])
            evs = f.wait_lines(total)
            seqs = [e[3] for e in evs]
            expect(seqs == list(range(1, total + 1)), "contiguous, no duplicate: %s" % seqs, t)
        finally:
            f.close()
        t.stop()
