"""End-to-end test helpers: run real letitcrash trees and watch what a user would see.

A Tree runs `supervisor` on a config in a private temporary directory (short path: ipc:// paths
must stay short), with NOTIFY_SOCKET pointing at a datagram socket of ours so that "the tree is
up" is an event we wait on, never a sleep. Every line the tree logs is collected with the time
it arrived. Every wait is bounded and fails at once if the root died. Whatever the test leaves
running is killed when the Tree is closed.
"""
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

BIN = os.environ.get("LC_BIN") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", "build", "bin"))
SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
VALGRIND = os.environ.get("LC_VALGRIND") == "1"
SLOW = 4 if VALGRIND else 1

EVENT_RE = re.compile(
    r"^supervisor: (?:debug: )?(?P<sup>[^:\s]+): (?:(?P<ev>spawn|start|exit|ignore) (?P<child>[^#\s]+)#(?P<n>\d+) "
    r"pid=(?P<pid>\d+)(?: reason=(?P<reason>.*))?"
    r"|report (?P<rep>child_terminated|shutdown_error|shutdown|start_error) (?P<rchild>[^#\s]+)(?:#(?P<rn>\d+))?"
    r" reason=(?P<rreason>.*))$")


class Failure(AssertionError):
    pass


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def bin_path(name):
    return os.path.join(BIN, name)


class Event:
    __slots__ = ("t", "sup", "kind", "child", "n", "pid", "reason", "line")

    def __init__(self, t, m, line):
        self.t, self.line = t, line
        self.sup = m.group("sup")
        if m.group("ev"):
            self.kind, self.child = m.group("ev"), m.group("child")
            self.n, self.pid = int(m.group("n")), int(m.group("pid"))
            self.reason = m.group("reason")
        else:
            self.kind, self.child = m.group("rep"), m.group("rchild")
            self.n = int(m.group("rn")) if m.group("rn") else None
            self.pid, self.reason = None, m.group("rreason")
            if self.kind == "shutdown":
                self.kind = "give_up"

    def __repr__(self):
        return "<%s %s %s#%s %s>" % (self.sup, self.kind, self.child, self.n, self.reason or "")


class Tree:
    def __init__(self, conf, env=None, name="t", files=None, rundir=None):
        self.dir = tempfile.mkdtemp(prefix="lc" + name[:6] + ".", dir="/tmp")
        self.rundir = rundir or os.path.join(self.dir, "r")
        self.conf = os.path.join(self.dir, "tree.conf")
        with open(self.conf, "w") as f:
            f.write(conf)
        for fname, text in (files or {}).items():
            with open(os.path.join(self.dir, fname), "w") as f:
                f.write(text)
        self.env = dict(os.environ)
        self.env["PATH"] = BIN + ":" + self.env.get("PATH", "/usr/bin:/bin")
        self.env.pop("LETITCRASH_RUNDIR", None)
        self.env.update(env or {})
        self.proc = None
        self.lines = []             # (monotonic time, line)
        self.cond = threading.Condition()
        self.pids = {}          # pid -> its start time (/proc/PID/stat field 22): pids are reused
        self.notify = None
        self.ready = False
        self.eof = False

    # --- lifecycle -------------------------------------------------------------------------
    def start(self, wait=True, timeout=15, args=(), pass_fds=()):
        npath = os.path.join(self.dir, "n")
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(npath)
        env = dict(self.env, NOTIFY_SOCKET=npath)
        cmd = [bin_path("supervisor"), "-r", self.rundir, "-c", self.conf] + list(args)
        if VALGRIND:
            # only definite leaks are errors, so only they are shown (nanomsg's worker threads
            # leave "possibly lost" stacks when a supervisor dies of its own SIGTERM)
            cmd = ["valgrind", "-q", "--leak-check=full", "--errors-for-leak-kinds=definite",
                   "--show-leak-kinds=definite",
                   "--trace-children=yes", "--trace-children-skip=*/lc-*,/bin/*,/usr/bin/*",
                   "--log-file=" + os.path.join(self.dir, "vg.%p")] + cmd
        self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     pass_fds=pass_fds)
        self.track_pid(self.proc.pid)
        threading.Thread(target=self._reader, daemon=True).start()
        if wait:
            self.wait_ready(timeout)
        return self

    def _reader(self):
        for raw in self.proc.stderr:
            line = raw.decode(errors="replace").rstrip("\n")
            with self.cond:
                self.lines.append((time.monotonic(), line))
                m = EVENT_RE.match(line)
                if m and m.group("pid"):
                    if m.group("ev") == "exit":
                        self.pids.pop(int(m.group("pid")), None)    # reaped: not ours now
                    else:
                        self.track_pid(int(m.group("pid")))
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def wait_ready(self, timeout=15):
        end = time.monotonic() + timeout * SLOW
        while time.monotonic() < end:
            r, _, _ = select.select([self.notify], [], [], 0.05)
            if r and b"READY=1" in self.notify.recv(4096):
                self.ready = True
                # The root logs "up" before it notifies: have the reader catch up with it.
                self.wait_line(r"^supervisor: %s: up, " % re.escape(self.root_name()),
                               timeout=timeout)
                return
            if self.proc.poll() is not None:
                raise Failure("the tree exited (%s) before it was ready:\n%s" %
                              (self.proc.returncode, self.log()))
        raise Failure("the tree was not ready after %ss:\n%s" % (timeout, self.log()))

    def root_name(self):
        m = re.search(r"^\s*\[\s*supervisor\s+([^\]\s]+)\s*\]", open(self.conf).read(), re.M)
        return m.group(1) if m else ""

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Signal the root, wait for it, check nothing of the tree is left. Returns the status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        st = self.wait_exit(timeout)
        self.check_no_survivors()
        return st

    def wait_exit(self, timeout=30):
        """Wait for the root to exit and for its log to be read to the end."""
        try:
            st = self.proc.wait(timeout * SLOW)
        except subprocess.TimeoutExpired:
            raise Failure("the root did not exit within %ss:\n%s" % (timeout, self.log()))
        with self.cond:
            self.cond.wait_for(lambda: self.eof, timeout * SLOW)
        return st

    @staticmethod
    def _stat(pid):
        """(state, start time) of pid, or None if it is gone."""
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return fields[0], int(fields[19])
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            return None

    def track_pid(self, pid):
        """Remember a process of the tree by pid and start time (one already gone: no)."""
        st = self._stat(pid)
        if st:
            self.pids[pid] = st[1]

    def alive_pids(self):
        """The tree's processes still alive: same pid and same start time (a pid reused by
        another process after a long run is not ours), not zombies."""
        out = []
        with self.cond:
            pids = list(self.pids.items())
        for pid, start in pids:
            st = self._stat(pid)
            if st and st[0] != "Z" and st[1] == start:
                out.append(pid)
        return out

    def check_no_survivors(self, timeout=5):
        end = time.monotonic() + timeout
        while self.alive_pids() and time.monotonic() < end:
            time.sleep(0.02)        # polling /proc: the kernel gives no event for another's death
        left = self.alive_pids()
        if left:
            raise Failure("processes of the tree survived: %s" % left)

    def close(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        for pid in self.alive_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.notify:
            self.notify.close()
        self.valgrind_check()
        shutil.rmtree(self.dir, ignore_errors=True)

    def valgrind_check(self):
        if not VALGRIND:
            return
        bad = []
        for f in os.listdir(self.dir):
            if f.startswith("vg."):
                text = open(os.path.join(self.dir, f)).read()
                if text.strip():
                    bad.append(text)
        if bad:
            raise Failure("valgrind reports:\n" + "\n".join(bad))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- what the tree said ---------------------------------------------------------------
    def log(self):
        with self.cond:
            return "\n".join(l for _, l in self.lines)

    def events(self, since=0):
        with self.cond:
            lines = list(self.lines[since:])
        out = []
        for t, line in lines:
            m = EVENT_RE.match(line)
            if m:
                out.append(Event(t, m, line))
        return out

    def mark(self):
        """A position in the log: events after it can be waited for."""
        with self.cond:
            return len(self.lines)

    def wait_event(self, pred, since=0, timeout=10, what="event"):
        """Wait for the first event after `since` satisfying pred; fail fast if the root died."""
        end = time.monotonic() + timeout * SLOW
        with self.cond:
            while True:
                for t, line in self.lines[since:]:
                    m = EVENT_RE.match(line)
                    if m:
                        ev = Event(t, m, line)
                        if pred(ev):
                            return ev
                left = end - time.monotonic()
                if left <= 0:
                    break
                if self.eof:
                    break
                self.cond.wait(min(left, 0.1))
        raise Failure("no %s within %ss; log:\n%s" % (what, timeout, self.log()))

    def wait_line(self, regex, since=0, timeout=10):
        rx = re.compile(regex)
        end = time.monotonic() + timeout * SLOW
        with self.cond:
            while True:
                for _, line in self.lines[since:]:
                    if rx.search(line):
                        return line
                left = end - time.monotonic()
                if left <= 0 or self.eof:
                    break
                self.cond.wait(min(left, 0.1))
        raise Failure("no line matching %r within %ss; log:\n%s" % (regex, timeout, self.log()))

    def wait_start(self, child, n=None, since=0, timeout=10):
        return self.wait_event(lambda e: e.kind == "start" and e.child == child and
                               (n is None or e.n == n), since, timeout,
                               "start of %s#%s" % (child, n))

    def pid(self, child):
        """The pid of the child's latest started incarnation."""
        starts = [e for e in self.events() if e.kind == "start" and e.child == child]
        if not starts:
            raise Failure("%s never started; log:\n%s" % (child, self.log()))
        return starts[-1].pid

    def kill(self, child, sig=signal.SIGKILL):
        pid = self.pid(child)
        os.kill(pid, sig)
        return pid

    # --- supctl ------------------------------------------------------------------------------
    def supctl(self, *args, check=True, json_out=True, timeout=30):
        cmd = [bin_path("supctl"), "-r", self.rundir] + (["--json"] if json_out else []) + \
            [str(a) for a in args]
        r = subprocess.run(cmd, env=self.env, capture_output=True, timeout=timeout * SLOW)
        out = r.stdout.decode()
        if check and r.returncode != 0:
            raise Failure("%s exited %d: %s%s" % (" ".join(cmd), r.returncode, out,
                                                  r.stderr.decode()))
        if json_out and out.strip():
            try:
                return r.returncode, json.loads(out)
            except ValueError:
                raise Failure("supctl printed bad JSON: %r" % out)
        return r.returncode, out + r.stderr.decode()


def worker_section(name, exe="lc-sleeper", args="", parent=None, **keys):
    lines = ["[worker %s]" % name]
    if parent:
        lines.append("parent = %s" % parent)
    lines.append("exec = %s %s" % (exe, args))
    for k, v in keys.items():
        lines.append("%s = %s" % (k, v))
    return "\n".join(lines) + "\n\n"


def sup_section(name, parent=None, strategy="one_for_one", intensity=3, period=5, **keys):
    lines = ["[supervisor %s]" % name]
    if parent:
        lines.append("parent = %s" % parent)
    lines += ["strategy = %s" % strategy, "intensity = %d" % intensity, "period = %d" % period]
    for k, v in keys.items():
        lines.append("%s = %s" % (k, v))
    return "\n".join(lines) + "\n\n"
