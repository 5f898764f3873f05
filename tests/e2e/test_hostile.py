"""Hostile input against the real chat tree (etc/chat.conf), and the security basics
(docs/reliability.md, "Hostile clients").

Each attack runs while a well-behaved client (the probe) measures PRIVMSG round trips (post,
wait for the echo) in its channel and a bystander sits in that channel: the probe's median
during the attack must stay within max(2 x quiet, quiet + 50 ms) of its quiet median (an
absolute floor: the machine is shared), and neither may be disconnected. Every figure is
printed. Sleeps only pace the probe and the slowloris; every wait is bounded."""
import base64
import os
import random
import re
import socket
import stat
import struct
import subprocess
import threading
import time

from lc import Failure, SLOW, free_port
from test_chat import Client, chat_tree, CAPS, expect
from test_chatd import Client as Raw, stop_clean

VALGRIND = False
SRV = "test.local"                      # CHAT_NAME of chat_tree
SAMPLES = 25                            # probe round trips, quiet and during


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


class Probe:
    """The well-behaved client: PRIVMSG round trips to its own channel, echo-message."""

    def __init__(self, port, nick="probe", chan="#probe"):
        self.c = Client(port, nick, CAPS)
        self.chan, self.n = chan, 0
        self.c.send("JOIN " + chan)
        self.c.wait(r" 366 %s %s " % (nick, chan))

    def rtt(self):
        self.n += 1
        t0 = time.monotonic()
        self.c.send("PRIVMSG %s :rtt%d" % (self.chan, self.n))
        self.c.wait(r"PRIVMSG %s :rtt%d$" % (self.chan, self.n), timeout=20)
        dt = time.monotonic() - t0
        time.sleep(0.02)                # pacing: well under the flood limit of 50 lines/s
        return dt


def no_exits(t):
    """Nothing of the tree exited: hostile input never crashes a worker."""
    bad = [e for e in t.events() if e.kind == "exit"]
    expect(not bad, "no process of the tree exited: %s" % bad, t)


def in_thread(fn, *args):
    """Start fn(*args) in a thread; returns (thread, out) where out gets "result" or "error"."""
    out = {}

    def run():
        try:
            out["result"] = fn(*args)
        except BaseException as e:         # re-raised in the test's thread
            out["error"] = e
    th = threading.Thread(target=run, daemon=True)
    th.start()
    return th, out


def guarded(t, port, what, attack):
    """Run attack(stop) in a thread while the probe measures; check the latency, that nobody
    else was disconnected. Returns the attack's result."""
    probe = Probe(port)
    bystander = Client(port, "bystander", CAPS)
    try:
        bystander.send("JOIN #probe")
        bystander.wait(r" 366 bystander #probe ")
        quiet = median([probe.rtt() for _ in range(SAMPLES)])
        stop = threading.Event()
        th, out = in_thread(attack, stop)
        during = []
        end = time.monotonic() + 90 * SLOW
        while th.is_alive() and time.monotonic() < end:
            during.append(probe.rtt())
            if len(during) >= SAMPLES:
                stop.set()
        stop.set()
        th.join(30 * SLOW)
        expect(not th.is_alive(), "%s: the attack ended" % what, t)
        if "error" in out:
            raise out["error"]
        expect(len(during) >= 5, "%s: enough samples during the attack: %d" % (what, len(during)))
        d = median(during)
        print("  %s: probe PRIVMSG round trip median quiet %.1f ms, during %.1f ms "
              "(%d samples, worst %.1f ms)" % (what, quiet * 1e3, d * 1e3, len(during),
                                               max(during) * 1e3))
        expect(d <= max(2 * quiet, quiet + 0.05),
               "%s: latency within 2x (or +50 ms): quiet %.1f ms, during %.1f ms" %
               (what, quiet * 1e3, d * 1e3), t)
        # the bystander got every probe message and is still served
        bystander.wait(r"PRIVMSG #probe :rtt%d$" % probe.n, timeout=20)
        bystander.sync("still-here")
        probe.c.sync("still-here")
        return out.get("result")
    finally:
        probe.c.close()
        bystander.close()


def tree(port, **env):
    t = chat_tree(port)
    t.env.update({k: str(v) for k, v in env.items()})
    return t.start(timeout=30)


def attack_test(what, one, setup=None, **env):
    """A chat tree (env added), setup(port, t) if given, then rounds of one(port, t, stop)
    (at least one, until the probe has its samples) under guard; nothing may exit. Returns
    (the tree, its port, rounds, the last round's result); the tree is stopped."""
    port = free_port()
    with tree(port, **env) as t:
        if setup:
            setup(port, t)

        def attack(stop):
            n, last = 0, None
            while not n or not stop.is_set():
                last = one(port, t, stop)
                n += 1
            return n, last
        n, last = guarded(t, port, what, attack)
        no_exits(t)
        stop_clean(t)
    return t, port, n, last


def answers(c, last, timeout=30):
    """Everything c gets up to the line ending with `last`; fails if c was closed."""
    return c.until(lambda l: l.endswith(last), timeout)


# --- hostile clients ----------------------------------------------------------------------------

PONG_AFTER = ":%s PONG %s :after" % (SRV, SRV)


def garbage(what, data, want=None):
    """Rounds of: a new connection sends data() then `\\r\\nPING :after`; it must be answered
    (with exactly the lines `want`, if given), never closed."""
    def one(port, t, stop):
        c = Raw(port)
        c.s.sendall(data() + b"\r\nPING :after\r\n")
        got = answers(c, PONG_AFTER)
        expect(want is None or got == want, "%s: answered %s" % (what, got))
        c.close()
    n = attack_test(what, one)[2]
    print("  %d connections sent %s" % (n, what))


def test_one_megabyte_without_newline():
    garbage("1 MB without a newline", lambda: b"A" * (1 << 20),
            [":%s 417 * :Input line was too long" % SRV, PONG_AFTER])


def test_binary_junk():
    rng = random.Random(6)
    junk = bytes(b for b in range(256) if b != 10)
    garbage("40 lines of binary junk", lambda: b"\n".join(
        bytes(rng.choice(junk) for _ in range(rng.randint(1, 700))) for _ in range(40)))


def test_nul_bytes():
    garbage("40 lines with NUL bytes", lambda: b"PING :a\x00b\r\n\x00\x00\x00\r\nNICK nul\x00\r\n"
            b"PRIV\x00MSG #probe :x\n" * 10, [PONG_AFTER])


def test_flood_of_10000_lines_is_delayed_not_dropped():
    def one(port, t, stop):
        c = Raw(port)
        c.send("CAP REQ :echo-message", "NICK flooder", "USER f 0 * :f", "CAP END", "JOIN #flood")
        answers(c, " 366 flooder #flood :End of /NAMES list")
        pump = c.s.dup()
        pump.settimeout(120)            # blocking sends: TCP pushes back
        # reset on close: a plain close would leave the rest of the flood to be served
        c.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        data = b"".join(b"PRIVMSG #flood :f%d\r\n" % i for i in range(10000))
        t0 = time.monotonic()
        th, sent = in_thread(pump.sendall, data)
        got = []
        while not stop.is_set() or time.monotonic() < t0 + 3:
            line = c.line(timeout=10)
            expect(line not in ("", None), "the flooder is served, not disconnected: %r" % line)
            m = re.search(r" PRIVMSG #flood :f(\d+)$", line)
            if m:
                got.append(int(m.group(1)))
        elapsed = time.monotonic() - t0
        c.close()
        pump.close()
        th.join(10)
        expect(got == list(range(len(got))), "echoes in order, none dropped: %s" % got[:50])
        bound = 20 + 50 * elapsed + 5
        expect(len(got) <= bound, "delayed: %d lines in %.1f s (at most %d)" %
               (len(got), elapsed, bound))
        return len(got), elapsed, "result" in sent
    got, dt, all_sent = attack_test("flood of 10,000 lines", one)[3]
    print("  the flooder got %d echoes in %.1f s (burst 20, 50 lines/s); its 10,000 lines %s"
          % (got, dt, "all sent" if all_sent else "pushed back by TCP"))


REG = 2


def slowloris(port, t, stop):
    """Four connections that never register, one dribbling a byte at a time: each must get
    the registration timeout's ERROR, then be closed. Returns the longest time it took."""
    silent = Raw(port)
    nick_only = Raw(port)
    nick_only.send("NICK slow1")
    capneg = Raw(port)
    capneg.send("CAP LS 302", "NICK slow2", "USER s 0 * :s")     # never CAP END
    dribble = Raw(port)
    dribble.send("NICK slow3")
    partial = b"USER slow3 0 * :never finished"
    t0, worst = time.monotonic(), 0.0
    pending, i = [silent, nick_only, capneg, dribble], 0
    while pending and time.monotonic() < t0 + 15 * SLOW:
        if dribble in pending and i < len(partial):
            dribble.s.send(partial[i:i + 1])
            i += 1
        for c in list(pending):
            line = c.line(timeout=0.05)         # paces the dribble
            if line and line.startswith("ERROR"):
                dt = time.monotonic() - t0
                expect(line == "ERROR :Closing Link: 127.0.0.1 (Registration timed out)",
                       "the reason: %r" % line)
                expect(c.line() == "", "then closed")
                expect(REG - 0.1 <= dt <= REG + 3, "after %.1f s (timeout %d s)" % (dt, REG))
                worst = max(worst, dt)
                pending.remove(c)
                c.close()
            elif line == "":
                raise Failure("closed without an ERROR")
    expect(not pending, "every slowloris connection was dropped")
    return worst


def test_slowloris_dropped_by_registration_timeout():
    _, _, n, worst = attack_test("slowloris", slowloris, CHAT_REG_TIMEOUT=REG)
    print("  %d rounds of 4 slow connections, the last dropped after %.1f s" % (n, worst))


def test_silent_registered_client_is_pinged_then_dropped():
    port = free_port()
    with tree(port, CHAT_PING=1) as t:
        good, mute = Raw(port), Raw(port)
        for c, nick in ((good, "good"), (mute, "mute")):
            c.send("NICK " + nick, "USER %s 0 * :%s" % (nick, nick))
        t0 = time.monotonic()
        good_got, mute_got, pings = [], [], 0
        while time.monotonic() < t0 + 15 * SLOW and (not mute_got or mute_got[-1] != ""):
            line = good.line(timeout=0.05)
            expect(line != "", "the client that answers stays: %s" % good_got, t)
            if line == "PING :%s" % SRV:
                pings += 1
                good.send("PONG :%s" % SRV)
            elif line:
                good_got.append(line)
            line = mute.line(timeout=0.05)
            if line is not None:
                mute_got.append(line)
        dt = time.monotonic() - t0
        expect(len(mute_got) >= 4 and mute_got[-4].endswith(" 422 mute :MOTD File is missing")
               and mute_got[-3] == "PING :%s" % SRV and re.match(
                   r"^ERROR :Closing Link: 127\.0\.0\.1 \(Ping timeout: \d+ seconds\)$",
                   mute_got[-2]) and mute_got[-1] == "",
               "the silent one: registered, PING, ERROR, closed: %s" % mute_got, t)
        expect(pings >= 1, "the other one was pinged too, and answered", t)
        expect(good.sync("alive") == [], "and is still served", t)
        print("  silent client dropped %.1f s after its registration was sent (CHAT_PING=1); "
              "the other answered %d PING" % (dt, pings))
        no_exits(t)
        stop_clean(t)


def fill_big(port, t):
    """100 messages of 400 bytes in #big: CHATHISTORY LATEST #big * 100 is 45 KB."""
    poster = Client(port, "poster", CAPS)
    poster.send("JOIN #big")
    poster.wait(r" 366 poster #big ")
    for i in range(100):
        poster.send("PRIVMSG #big :%d %s" % (i, "x" * 400))
        poster.wait(r"PRIVMSG #big :%d x" % i, timeout=20)
    poster.close()


def never_reads(port, t, stop):
    m = t.mark()
    c = Raw(port, rcvbuf=4096)
    nick = "sink%d" % m
    c.send("CAP REQ :batch draft/chathistory server-time message-tags",
           "NICK " + nick, "USER s 0 * :s", "CAP END", "JOIN #big")
    answers(c, " 366 %s #big :End of /NAMES list" % nick)
    # 45 KB of history per line, never read: the sendq fills
    c.s.sendall(b"CHATHISTORY LATEST #big * 100\r\n" * 5000)
    t.wait_line(r"^chatd: chatd\.\d/\d+/\d+/\d+: SendQ exceeded", m, timeout=30)
    end = time.monotonic() + 10 * SLOW
    try:            # closed: a send soon fails (reset)
        while time.monotonic() < end:
            c.s.sendall(b"PING :more\r\n")
            time.sleep(0.01)        # pacing
        raise Failure("the client that never reads is still connected")
    except OSError:
        pass
    c.close()


def test_client_that_never_reads_is_dropped():
    n = attack_test("a client that never reads", never_reads, setup=fill_big)[2]
    print("  %d clients that never read dropped (SendQ exceeded)" % n)


def gateway_conns(t, port):
    """The TCP connections the gateways hold on the port (listeners apart), from ss."""
    pids = set(t.pid(n) for n in ("chatd.0", "chatd.1"))
    out = subprocess.run(["ss", "-tanpH", "sport", "=", ":%d" % port], capture_output=True,
                         text=True, timeout=10).stdout
    return sum(1 for l in out.splitlines() if not l.startswith("LISTEN") and
               any("pid=%d," % p in l for p in pids))


def churn(port, t, stop):
    """1,000 connections opened and closed, one after the other; then none may be left."""
    for i in range(1000):
        s = socket.create_connection(("127.0.0.1", port), timeout=10 * SLOW)
        if i % 10 == 0:         # some get as far as a REGISTER (then an UNREGISTER)
            s.sendall(b"NICK churn%d\r\nUSER c 0 * :c\r\n" % i)
        elif i % 10 == 1:
            s.sendall(b"PING :unread\r\n")
        s.close()
    # the gateways notice the closes asynchronously: poll ss (no event for it)
    end = time.monotonic() + 20 * SLOW
    while gateway_conns(t, port) > 2 and time.monotonic() < end:
        time.sleep(0.05)
    left = gateway_conns(t, port)
    expect(left == 2, "no connection leaked: %d left (the probe and the bystander: 2)" % left, t)


def test_1000_connections_opened_and_closed():
    n = attack_test("1,000 connections opened and closed", churn)[2]
    print("  %d x 1,000 connections, none left" % n)


# --- malformed frames into the workers' mailboxes ---------------------------------------------

def test_malformed_frames_dropped_and_counted():
    port = free_port()
    with tree(port) as t:
        watcher = Client(port, "watcher", CAPS)
        watcher.send("JOIN #frames")
        watcher.wait(r" 366 watcher #frames ")
        # a header that promises more than the frame holds: magic, version 1, type app+1,
        # names of 5 bytes, body of 1000 bytes; 40 bytes follow
        path = os.path.join(t.dir, "frame")
        with open(path, "wb") as f:
            f.write(struct.pack(">BBHHBBQI", 0x4C, 1, 1001, 0, 5, 5, 0, 1000) + b"x" * 40)
        progs = {"storage": "chat-storage", "session.0": "chat-session",
                 "session.1": "chat-session", "chatd.0": "chatd", "chatd.1": "chatd"}
        for name, prog in progs.items():
            for data in (["--data", "junk"], ["-F", path]):
                m = t.mark()
                # nanocat sends, then repeats every 0.2 s (an ipc connect can lose the first
                # send): stopped once the worker reported the drop
                p = subprocess.Popen(["nanocat", "--push", "--connect",
                                      "ipc://%s/%s" % (t.rundir, name), "-i", "0.2"] + data,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                try:
                    line = t.wait_line(r"^%s: warning: %s: dropped \d+ malformed frames? "
                                       r"\(\d+ in all\)$" % (prog, re.escape(name)), m)
                finally:
                    p.kill()
                    p.wait()
            print("  " + line)
        no_exits(t)
        # every worker still serves: a registration (session), a JOIN (session, storage),
        # a post and its delivery (storage, both gateways), history
        c = Client(port, "after", CAPS)
        c.send("JOIN #frames")
        c.wait(r" 366 after #frames ")
        c.send("PRIVMSG #frames :still serving")
        c.wait(r"PRIVMSG #frames :still serving$")
        watcher.wait(r"PRIVMSG #frames :still serving$")
        c.send("CHATHISTORY LATEST #frames * 10")
        c.wait(r"BATCH \+\S+ chathistory #frames")
        c.wait(r"PRIVMSG #frames :still serving$")
        c.close()
        watcher.close()
        stop_clean(t)


# --- security basics ----------------------------------------------------------------------------

def test_run_directory_and_sockets_are_private():
    port = free_port()
    with tree(port) as t:
        seen = {"dir": 0, "socket": 0, "file": 0}
        for root, dirs, files in os.walk(t.rundir):
            for name in [root] + [os.path.join(root, f) for f in files]:
                st = os.lstat(name)
                kind = ("dir" if stat.S_ISDIR(st.st_mode) else
                        "socket" if stat.S_ISSOCK(st.st_mode) else "file")
                seen[kind] += 1
                expect(st.st_uid == os.getuid(), "%s is ours: uid %d" % (name, st.st_uid), t)
                perm = stat.S_IMODE(st.st_mode)
                expect(perm & 0o077 == 0 and (kind != "dir" or perm == 0o700),
                       "%s %s is private: %o" % (kind, name, perm), t)
        expect(seen["socket"] >= 5, "the workers' mailboxes were checked: %s" % seen, t)
        print("  private: %s" % seen)
        stop_clean(t)


def listening(port):
    out = subprocess.run(["ss", "-tlnH", "sport", "=", ":%d" % port], capture_output=True,
                         text=True, timeout=10).stdout
    return sorted(set(l.split()[3] for l in out.splitlines()))


def test_gateway_binds_loopback_unless_configured():
    port = free_port()
    with tree(port) as t:
        expect(listening(port) == ["127.0.0.1:%d" % port], "only 127.0.0.1: %s" %
               listening(port), t)
        try:
            socket.create_connection(("127.0.0.2", port), timeout=5).close()
            raise Failure("127.0.0.2 was accepted")
        except ConnectionRefusedError:
            pass
        stop_clean(t)
    with tree(port, CHAT_BIND="127.0.0.2") as t:
        expect(listening(port) == ["127.0.0.2:%d" % port], "CHAT_BIND: %s" % listening(port), t)
        c = socket.create_connection(("127.0.0.2", port), timeout=5)
        c.close()
        stop_clean(t)


def sasl_login(port, nick, account, password):
    """A client that asks for the sasl cap, sends NICK and USER, logs in with SASL PLAIN, then
    sends CAP END. Returns it and the login's numeric (903 or 904)."""
    c = Raw(port)
    c.send("CAP REQ :sasl", "NICK " + nick, "USER a 0 * :a", "AUTHENTICATE PLAIN")
    answers(c, "AUTHENTICATE +")
    c.send("AUTHENTICATE " + base64.b64encode(b"\0%s\0%s" % (account.encode(),
                                                             password.encode())).decode())
    code = c.until(lambda l: re.match(r"^:\S+ 90[34] ", l) is not None)[-1].split()[1]
    c.send("CAP END")
    return c, code


def welcome(nick):
    return " 001 %s :Welcome to the letitcrash IRC Network %s!a@127.0.0.1" % (nick, nick)


def test_sasl_password_never_logged():
    secret, wrong = "Sup3r-s3cret-pw", "Wr0ng-s3cret-pw"
    port = free_port()
    with tree(port, LETITCRASH_DEBUG=1, CHAT_ACCOUNTS="alice:" + secret) as t:
        for nick, pw, code in (("al1", wrong, "904"), ("al2", secret, "903")):
            c, got = sasl_login(port, nick, "alice", pw)
            expect(got == code, "SASL with %s: %s" % (pw[:5], got), t)
            answers(c, welcome(nick))
            c.close()
        stop_clean(t)
        texts = [("the log", t.log().encode())]
        for root, _, files in os.walk(t.dir):
            for f in files:
                p = os.path.join(root, f)
                if os.path.isfile(p):
                    texts.append((p, open(p, "rb").read()))
        expect(re.search(r"^\S+: debug: ", t.log(), re.M), "debug logging was on", t)
        for pw in (secret, wrong):
            forms = [pw.encode(), base64.b64encode(b"\0alice\0" + pw.encode())]
            for where, text in texts:
                for form in forms:
                    expect(form not in text, "a password in %s" % where, t)
        print("  %d debug log lines and %d files: no password" % (len(t.log().splitlines()),
                                                                  len(texts) - 1))


def test_require_sasl():
    refused = "ERROR :You must log in with SASL to join this server"
    port = free_port()
    with tree(port, CHAT_REQUIRE_SASL=1, CHAT_ACCOUNTS="alice:pw-alice") as t:
        plain = Raw(port)
        plain.send("NICK bob", "USER b 0 * :b")
        got = answers(plain, refused)
        expect(got == [":%s FAIL * ACCOUNT_REQUIRED :You must log in with SASL to join this "
                       "server" % SRV, refused], "no SASL: FAIL, ERROR: %s" % got, t)
        expect(plain.line() == "", "then closed", t)
        bad, code = sasl_login(port, "bob", "alice", "nope")
        expect(code == "904", "a wrong password: 904", t)
        answers(bad, refused)
        good, code = sasl_login(port, "alice", "alice", "pw-alice")
        expect(code == "903", "the right one: 903", t)
        answers(good, welcome("alice"))
        good.sync()                     # registered and served
        for c in (plain, bad, good):
            c.close()
        stop_clean(t)


def test_connections_per_ip_limited():
    port = free_port()
    with tree(port, CHAT_MAX_PER_IP=3, CHAT_GATEWAYS=1) as t:
        def open_from(src):
            c = Raw(port, src=src)
            c.send("PING :in")
            return c, c.line(timeout=10)
        ok = []
        for src in ("127.0.0.2", "127.0.0.3"):
            for _ in range(3):
                c, line = open_from(src)
                expect(line == ":%s PONG %s :in" % (SRV, SRV), "%s accepted: %r" % (src, line), t)
                ok.append(c)
            c, line = open_from(src)
            expect(line == "ERROR :Too many connections from your host" and c.line() == "",
                   "the 4th from %s refused: %r" % (src, line), t)
            c.close()
        well = Client(port, "local")            # 127.0.0.1 is another host
        well.sync()
        ok.pop(0).close()
        # the gateway notices the close asynchronously: retry (paced, bounded)
        end = time.monotonic() + 10 * SLOW
        while True:
            c, line = open_from("127.0.0.2")
            if line == ":%s PONG %s :in" % (SRV, SRV) or time.monotonic() > end:
                break
            c.close()
            time.sleep(0.05)
        expect(line == ":%s PONG %s :in" % (SRV, SRV), "a slot freed by a close: %r" % line, t)
        t.wait_line(r"^chatd: chatd\.0/\d+/\d+/\d+: 4 connections from 127\.0\.0\.2, over the "
                    r"limit of 3: refused \(1 in all\)$")
        for x in ok + [c]:
            x.close()
        well.close()
        no_exits(t)
        stop_clean(t)
