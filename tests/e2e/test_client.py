"""The chat client (`chat`) against a real IRC server: Debian's ngircd, started here on a free
port with a private config. Two clients: one interactive, driven through its stdin pipe, and
one-shot `post` commands; the interactive one prints what was posted. Reconnection: ngircd is
killed with SIGKILL and started again on the same port; the client reconnects and rejoins.
One-shot failures and exit codes. Every wait is on an output line, bounded, and fails at once
if the process died. ngircd has no chathistory: that path is in tests/unit/test_client.c."""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

from lc import Failure, bin_path, free_port

NGIRCD = shutil.which("ngircd") or ("/usr/sbin/ngircd" if os.path.exists("/usr/sbin/ngircd")
                                    else None)
TIME_RE = r"\d\d:\d\d:\d\d"



class Proc:
    """A process whose stdout and stderr lines are collected as they come."""

    def __init__(self, name, cmd, stdin=None, env=None):
        self.name = name
        self.lines = []
        self.cond = threading.Condition()
        self.eof = 0
        self.proc = subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env)
        for f in (self.proc.stdout, self.proc.stderr):
            threading.Thread(target=self._reader, args=(f,), daemon=True).start()

    def _reader(self, f):
        for raw in f:
            with self.cond:
                self.lines.append(raw.decode(errors="replace").rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.eof += 1
            self.cond.notify_all()

    def log(self):
        with self.cond:
            return "\n".join("  %s| %s" % (self.name, l) for l in self.lines)

    def wait_line(self, pattern, timeout=10, count=1):
        """Wait until `count` lines match `pattern`; returns the last one."""
        rx = re.compile(pattern)
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                hits = [l for l in self.lines if rx.search(l)]
                if len(hits) >= count:
                    return hits[count - 1]
                if self.eof == 2:
                    raise Failure("%s exited (%s) before printing /%s/ x%d:\n%s" % (
                        self.name, self.proc.wait(), pattern, count, self.log()))
                left = end - time.monotonic()
                if left <= 0:
                    raise Failure("%s: no line /%s/ x%d after %ss:\n%s" % (
                        self.name, pattern, count, timeout, self.log()))
                self.cond.wait(left)

    def send(self, line):
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()

    def close_stdin(self):
        self.proc.stdin.close()

    def wait(self, timeout=10):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise Failure("%s did not exit after %ss:\n%s" % (self.name, timeout, self.log()))

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Ngircd:
    def __init__(self):
        if NGIRCD is None:
            raise Failure("ngircd is not installed: the chat client's end-to-end tests need it "
                          "(apt-get install ngircd, or scripts/deps.sh test)")
        self.dir = tempfile.mkdtemp(prefix="lcirc.", dir="/tmp")
        os.chmod(self.dir, 0o755)       # ngircd started as root runs as nobody
        self.port = free_port()
        self.conf = os.path.join(self.dir, "ngircd.conf")
        with open(os.path.join(self.dir, "motd"), "w") as f:
            f.write("letitcrash test server\n")
        with open(self.conf, "w") as f:
            f.write("[Global]\n  Name = test.local\n  Ports = %d\n  Listen = 127.0.0.1\n"
                    "  PidFile = %s/ngircd.pid\n  MotdFile = %s/motd\n"
                    "[Options]\n  PAM = no\n  Ident = no\n  DNS = no\n"
                    % (self.port, self.dir, self.dir))
        self.proc = None
        self.runs = 0

    def start(self):
        self.runs += 1
        self.proc = Proc("ngircd%d" % self.runs, [NGIRCD, "-n", "-f", self.conf],
                         stdin=subprocess.DEVNULL)
        self.proc.wait_line(r"Server \"test.local\" .* ready")
        return self

    def kill(self):
        self.proc.proc.send_signal(signal.SIGKILL)
        self.proc.proc.wait()

    def close(self):
        if self.proc is not None:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def chat(port, nick, *args):
    return [bin_path("chat"), "-p", str(port), "-n", nick] + list(args)


def run(cmd, timeout=20):
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def post(srv, nick, chan, text):
    rc, out, err = run(chat(srv.port, nick, "post", chan, text))
    if rc != 0:
        raise Failure("chat post exited %d:\n%s%s" % (rc, out, err))


def interactive(srv, nick, chan):
    c = Proc(nick, chat(srv.port, nick), stdin=subprocess.PIPE)
    c.wait_line(r"^-- connected as %s$" % nick)
    c.send("/join " + chan)
    c.wait_line(r"^-- %s joined %s$" % (nick, re.escape(chan)))
    return c


def test_post_reaches_an_interactive_client():
    srv, alice = Ngircd(), None
    try:
        srv.start()
        alice = interactive(srv, "alice", "#lobby")
        post(srv, "bob", "#lobby", "hello alice")
        alice.wait_line(r"^-- bob joined #lobby$")
        alice.wait_line(r"^%s <bob> hello alice$" % TIME_RE)
        alice.wait_line(r"^-- bob quit ")
        # a script on stdin (a regular file: not pollable), ended by end of input
        script = os.path.join(srv.dir, "script")
        with open(script, "w") as f:
            f.write("/join #lobby\nfrom a script\n")
        with open(script) as f:
            p = subprocess.run(chat(srv.port, "filer"), stdin=f, capture_output=True,
                               timeout=20)
        if p.returncode != 0:
            raise Failure("scripted chat exited %d: %r" % (p.returncode, p.stderr))
        alice.wait_line(r"^%s <filer> from a script$" % TIME_RE)
        # plain text goes to the current channel; without echo-message it is shown at once
        alice.send("hi from alice")
        alice.wait_line(r"^%s <alice> hi from alice$" % TIME_RE)
        alice.send("/nick alicia")
        alice.wait_line(r"^-- alice is now known as alicia$")
        alice.send("/log 5")
        alice.wait_line(r"^-- error: the server does not offer draft/chathistory")
        alice.send("/part")
        alice.wait_line(r"^-- alicia left #lobby")
        alice.send("/quit")
        st = alice.wait()
        if st != 0:
            raise Failure("interactive chat exited %d:\n%s" % (st, alice.log()))
    finally:
        if alice:
            alice.kill()
        srv.close()


def test_reconnects_and_rejoins_after_the_server_is_killed():
    srv, alice = Ngircd(), None
    try:
        srv.start()
        alice = interactive(srv, "alice", "#lobby")
        post(srv, "bob", "#lobby", "before")
        alice.wait_line(r"^%s <bob> before$" % TIME_RE)
        srv.kill()
        alice.wait_line(r"^-- connection lost \(.*\); reconnecting in \d+ ms$")
        srv.start()
        alice.wait_line(r"^-- connected as alice$", count=2, timeout=20)
        alice.wait_line(r"^-- alice joined #lobby$", count=2)
        post(srv, "bob", "#lobby", "after")
        alice.wait_line(r"^%s <bob> after$" % TIME_RE)
        # end of input ends the session cleanly
        alice.close_stdin()
        st = alice.wait()
        if st != 0:
            raise Failure("chat exited %d at end of input:\n%s" % (st, alice.log()))
    finally:
        if alice:
            alice.kill()
        srv.close()


def test_nick_in_use_gets_an_underscore():
    srv, a1, a2 = Ngircd(), None, None
    try:
        srv.start()
        a1 = interactive(srv, "alice", "#x")
        a2 = Proc("alice2", chat(srv.port, "alice"), stdin=subprocess.PIPE)
        a2.wait_line(r"^-- connected as alice_$")
        a2.send("/join #x")
        a1.wait_line(r"^-- alice_ joined #x$")
        a2.send("from the second")
        a1.wait_line(r"^%s <alice_> from the second$" % TIME_RE)
    finally:
        for p in (a1, a2):
            if p:
                p.kill()
        srv.close()


def test_one_shot_failures_and_exit_codes():
    srv = Ngircd()
    try:
        srv.start()
        rc, out, err = run(chat(srv.port, "carol", "log", "#lobby", "--last", "5"))
        if rc != 1 or "chat: fatal: the server does not offer draft/chathistory" not in err:
            raise Failure("log without chathistory: %d %r %r" % (rc, out, err))
        rc, out, err = run(chat(srv.port, "carol", "post", "lobby", "x"))
        if rc != 100 or "usage:" not in err:
            raise Failure("bad channel: %d %r" % (rc, err))
        rc, out, err = run([bin_path("chat"), "post", "#a", "x"])
        if rc != 100 or "-n NICK is required" not in err:
            raise Failure("no nick: %d %r" % (rc, err))
        rc, out, err = run(chat(free_port(), "carol", "post", "#lobby", "x"))
        if rc != 111 or "chat: fatal: unable to connect to 127.0.0.1 port" not in err:
            raise Failure("closed port: %d %r" % (rc, err))
        # CHAT_SERVER / CHAT_PORT
        env = dict(os.environ, CHAT_SERVER="127.0.0.1", CHAT_PORT=str(srv.port))
        p = subprocess.run([bin_path("chat"), "-n", "dave", "post", "#lobby", "via env"],
                           env=env, capture_output=True, timeout=20)
        if p.returncode != 0:
            raise Failure("post via CHAT_PORT: %d %r" % (p.returncode, p.stderr))
    finally:
        srv.close()
