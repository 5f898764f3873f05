"""Session workers pipeline their requests (docs/chat.md, "The session's pipeline"): hundreds of
connections register at once, three racing for each nick, then the winners join one channel at
once; a session worker, the storage worker or a gateway is killed -9 in the middle of such a
burst. Every connection must end registered (001) or refused (433), never stuck; each nick has
exactly one winner, and the tree agrees afterwards: a direct message to each nick reaches its
winner alone, NAMES lists each winner once.
The sessions say at shutdown how many requests they had out at storage at once: more than one.
Waits are on lines or tree events, bounded; every process is stopped."""
import os
import re
import selectors
import signal
import socket
import time

from lc import SLOW, free_port
from test_chat import Client, chat_tree, expect, gateway_of

VALGRIND = False
NICKS = 120                             # nicks raced for
RIVALS = 3                              # connections per nick


class Burst:
    """Many raw IRC connections driven together: send to all, then read until each has a line
    matching one of the patterns (or was closed)."""

    def __init__(self, port, n):
        self.sel = selectors.DefaultSelector()
        self.socks, self.bufs, self.lines = [], [], []
        for i in range(n):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.setblocking(False)
            self.sel.register(s, selectors.EVENT_READ, i)
            self.socks.append(s)
            self.bufs.append(b"")
            self.lines.append([])
        self.closed = [False] * n

    def send(self, i, text):
        self.socks[i].setblocking(True)
        self.socks[i].sendall(text.encode())
        self.socks[i].setblocking(False)

    def wait_all(self, rx, who, timeout, t, on_first=None):
        """Read until every connection in `who` has a line matching rx or is closed; the
        matching line of each (None if closed). on_first runs once, at the first match."""
        rx = re.compile(rx)
        got = {}
        deadline = time.monotonic() + timeout * SLOW
        pending = set(who)
        for i in list(pending):
            for line in self.lines[i]:
                if rx.search(line):
                    got[i] = line
                    pending.discard(i)
                    break
        while pending:
            left = deadline - time.monotonic()
            expect(left > 0, "%d connections still waiting for %r, e.g. #%d:\n%s" %
                   (len(pending), rx.pattern, min(pending),
                    "\n".join(self.lines[min(pending)])), t)
            for key, _ in self.sel.select(min(left, 1.0)):
                i = key.data
                try:
                    data = self.socks[i].recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if not data:
                    self.sel.unregister(self.socks[i])
                    self.closed[i] = True
                    if i in pending:
                        got[i] = None
                        pending.discard(i)
                    continue
                self.bufs[i] += data
                while b"\r\n" in self.bufs[i]:
                    line, self.bufs[i] = self.bufs[i].split(b"\r\n", 1)
                    line = line.decode(errors="replace")
                    self.lines[i].append(line)
                    if line.startswith("PING "):
                        self.send(i, "PONG %s\r\n" % line[5:])
                    if i in pending and rx.search(line):
                        got[i] = line
                        pending.discard(i)
                        if on_first:
                            on_first()
                            on_first = None
        return got

    def close(self):
        for s in self.socks:
            s.close()
        self.sel.close()


def nick_of(i):
    return "racer%d" % (i % NICKS)


class Sock:
    def __init__(self, s):
        self.sock = s


def register_burst(t, port, kill=None):
    """NICKS x RIVALS connections register at once (rivals interleaved); `kill` (a child name)
    is killed -9 at the first 001. Returns (burst, {nick: winner index}, indexes of the
    connections left open: all but those of a killed gateway)."""
    b = Burst(port, NICKS * RIVALS)
    gws = gateway_of(port, [Sock(s) for s in b.socks])
    expect(None not in gws, "every connection's gateway found", t)
    mark = t.mark()
    pid = []

    def killer():
        pid.append(t.kill(kill))
        done = sum(1 for ls in b.lines if any(re.search(r"^:\S+ (001|433) ", l) for l in ls))
        expect(done < len(b.socks), "%s killed in the burst" % kill, t)
        print("  %s killed with %d of %d connections answered" % (kill, done, len(b.socks)))

    for i in range(len(b.socks)):
        b.send(i, "NICK %s\r\nUSER u%d 0 * :racer\r\n" % (nick_of(i), i))
    got = b.wait_all(r"^:\S+ (001|433) ", range(len(b.socks)), 120, t,
                     killer if kill else None)
    if kill:
        t.wait_event(lambda e: e.kind == "exit" and e.pid == pid[0], since=mark, timeout=30)
        t.wait_start(kill, since=mark, timeout=30)
        b.killed = pid[0]
    alive = [i for i in range(len(b.socks)) if not pid or gws[i] != pid[0]]
    for i in alive:
        expect(got[i] is not None, "#%d (gateway %d) was not disconnected" % (i, gws[i]), t)
    winners = {}
    for i, line in got.items():
        if line is None or " 001 " not in line or i not in alive:
            continue
        expect(nick_of(i) not in winners, "%s won twice: #%s and #%s" %
               (nick_of(i), winners.get(nick_of(i)), i), t)
        winners[nick_of(i)] = i
    return b, winners, alive


def check_winners(t, port, b, winners, alive, every=True):
    """Each nick (`every`: each nick of a connection left open) has one winner, which alone
    receives a direct message to it; the others were told 433."""
    for nick in {nick_of(i) for i in alive} if every else ():
        rivals = [i for i in alive if nick_of(i) == nick]
        expect(nick in winners, "%s: no winner among %s" % (nick, rivals), t)
    checker = Client(port, "checker")
    try:
        for nick in winners:
            checker.send("PRIVMSG %s :to-%s" % (nick, nick))
        checker.sync("sent")
        expect(not [l for l in checker.lines if " 401 " in l],
               "every winner's nick is registered: %s" %
               [l for l in checker.lines if " 401 " in l][:5], t)
        got = b.wait_all(r" PRIVMSG \S+ :to-", list(winners.values()), 60, t)
        for i, line in got.items():
            expect(line and line.endswith(":to-" + nick_of(i)), "#%d got %r" % (i, line), t)
        losers = [i for i in alive if winners.get(nick_of(i)) != i]
        for i in losers:
            expect(not any(" PRIVMSG " in l for l in b.lines[i]),
                   "#%d (refused %s) received a message to it" % (i, nick_of(i)), t)
    finally:
        checker.close()


def join_burst(t, b, winners, kill=None):
    """The winners join #pipe at once (`kill` killed -9 at the first 366); NAMES, asked last,
    lists each winner once."""
    who = sorted(winners.values())
    mark = t.mark()
    pid = []

    def killer():
        pid.append(t.kill(kill))
        done = sum(1 for i in who if any(" 366 " in l for l in b.lines[i]))
        expect(done < len(who), "%s killed in the burst" % kill, t)
        print("  %s killed with %d of %d joins answered" % (kill, done, len(who)))

    for i in who:
        b.send(i, "JOIN #pipe\r\n")
    b.wait_all(r" 366 \S+ #pipe ", who, 120, t, killer if kill else None)
    if kill:
        t.wait_event(lambda e: e.kind == "exit" and e.pid == pid[0], since=mark, timeout=30)
        t.wait_start(kill, since=mark, timeout=30)
    last = who[-1]
    start = len(b.lines[last])
    b.send(last, "NAMES #pipe\r\nPING names-done\r\n")
    b.wait_all(r"PONG .*names-done", [last], 30, t)
    names = []
    for line in b.lines[last][start:]:
        if " 353 " in line:
            names += [n.lstrip("@+") for n in line.split(" :", 1)[1].split()]
    expect(sorted(names) == sorted(winners), "NAMES lists every winner once: %d names, "
           "%d winners, twice: %s" % (len(names), len(winners),
                                      sorted({n for n in names if names.count(n) > 1})[:5]), t)


def check_freed(t, port, winners, dead):
    """After the gateway of pid `dead` was killed in the burst: every nick without a winner
    among the connections left open is free again. Its session unregistered the dead
    incarnation's users, also those that a request sent just before the death registered
    after it (docs/chat.md, "A gateway's death"). A probe takes each such nick in turn."""
    t.wait_line(r"chatd\.0 \(pid %d\) is down" % dead)
    free = sorted({nick_of(i) for i in range(NICKS * RIVALS)} - set(winners))
    print("  %d nicks had no winner left open: each must be free" % len(free))
    probe = Client(port, "probe")
    try:
        deadline = time.monotonic() + 20 * SLOW
        for nick in free:
            while True:
                probe.send("NICK " + nick)
                line = probe.wait(r" NICK :%s$| 433 \S+ %s " % (nick, nick))
                if " 433 " not in line:
                    break
                # its unregistration may still be on its way to the journal: ask again
                expect(time.monotonic() < deadline, "%s still taken %ss after its gateway's "
                       "death" % (nick, 20 * SLOW), t)
    finally:
        probe.close()


def served(t):
    """After the tree stopped: the sessions' high-water marks of requests out at storage."""
    return [int(m.group(1)) for m in
            re.finditer(r"requests served, at most (\d+) out at storage at once", t.log())]


def pipeline_run(kill_reg=None, kill_join=None):
    """A registration burst (`kill_reg` killed in it), then, unless a gateway was the one
    killed, a join burst (`kill_join` killed in it). Returns the stopped tree."""
    port = free_port()
    gateway = bool(kill_reg and kill_reg.startswith("chatd."))
    with chat_tree(port) as t:
        t.env.update(CHAT_FLOOD="0", CHAT_MAX_PER_IP="0")
        t.start(timeout=30)
        b = None
        try:
            b, winners, alive = register_burst(t, port, kill_reg)
            if gateway:
                expect(len(alive) < NICKS * RIVALS,
                       "some connections were on the killed gateway", t)
            check_winners(t, port, b, winners, alive, every=not gateway)
            if gateway:
                check_freed(t, port, winners, b.killed)
            if not gateway:
                join_burst(t, b, winners, kill_join)
        finally:
            if b:
                b.close()
        t.stop()
        return t


def test_racing_registrations_pipelined_one_winner_per_nick():
    t = pipeline_run()
    marks = served(t)
    print("  at most %s requests out at storage at once (per session)" % marks)
    expect(len(marks) == 2 and max(marks) > 1,
           "the sessions had several requests out at storage at once: %s" % marks, t)
test_racing_registrations_pipelined_one_winner_per_nick.timeout = 240


def test_session_killed_in_registration_and_join_bursts():
    pipeline_run(kill_reg="session.0", kill_join="session.1")
test_session_killed_in_registration_and_join_bursts.timeout = 300


def test_storage_killed_in_registration_and_join_bursts():
    pipeline_run(kill_reg="storage", kill_join="storage")
test_storage_killed_in_registration_and_join_bursts.timeout = 300


def test_gateway_killed_in_registration_burst():
    """chatd.0 is killed -9 at the first 001: its connections are closed; every other one ends
    registered or refused as usual, with one winner per nick among them; every nick without
    such a winner is free again, also one that a request the gateway sent just before its
    death registered after the session saw it die (docs/chat.md)."""
    pipeline_run(kill_reg="chatd.0")
test_gateway_killed_in_registration_burst.timeout = 300
