"""The chat service's IRC subset beyond posting (docs/chatd.md): userhost-in-names, JOIN/PART
of comma lists (in order, one labeled response), MODE, WHO, WHOIS, LIST; and real Debian
clients (weechat-headless, ii) talking with one of ours. The real tree (etc/chat.conf) on
127.0.0.1; every wait is on a line or a file, bounded; every process is stopped."""
import contextlib
import os
import re
import shutil
import signal
import subprocess
import time

from lc import Failure, SLOW, free_port
from test_chat import Client, chat_tree, expect, tags

VALGRIND = False
SRV = "test.local"


def sync(c, token, raw=False):
    """The lines not yet consumed up to the PONG for a PING sent now (tags cut off unless
    raw)."""
    start = c.pos
    c.sync(token)
    return [l if raw else re.sub(r"^@\S+ ", "", l) for l in c.lines[start:c.pos - 1]]


def send(c, *lines):
    """Several lines in one write: they are handled one at a time, in order."""
    c.sock.sendall(b"".join(l.encode() + b"\r\n" for l in lines))


@contextlib.contextmanager
def chat_with(*users):
    """The tree started and one registered Client per (nick, caps); all stopped after."""
    port = free_port()
    with chat_tree(port) as t:
        t.start(timeout=30)
        clients = []
        try:
            for nick, caps in users:
                clients.append(Client(port, nick, caps))
            yield t, clients
        finally:
            for c in clients:
                c.close()
        t.stop()
        bad = [e for e in t.events() if e.kind == "exit" and e.reason != "shutdown"]
        expect(not bad, "workers exited other than for the shutdown: %s" % bad, t)
        expect(not re.search(r"AddressSanitizer|LeakSanitizer|runtime error:", t.log()),
               "sanitizer reports", t)


def join_both(a, b, chan):
    """a joins (its operator), then b; a has seen b's JOIN."""
    a.send("JOIN " + chan)
    a.wait(r" 366 %s %s " % (a.nick, chan))
    b.send("JOIN " + chan)
    b.wait(r" 366 %s %s " % (b.nick, chan))
    a.wait(r":%s!\S+ JOIN %s" % (b.nick, chan))


def test_names_userhost_in_names_and_multi_prefix():
    with chat_with(("alice", ("userhost-in-names", "multi-prefix")), ("bob", ())) as (t, (a, b)):
        a.send("CAP LS 302")
        ls = a.wait(r" CAP \S+ LS :")
        expect("userhost-in-names" in ls.split() and "multi-prefix" in ls.split(), ls)
        a.send("JOIN #a")
        got = sync(a, "j")
        expect(got[-2] == ":%s 353 alice = #a :@alice!alice@127.0.0.1" % SRV, "%s" % got, t)
        b.send("JOIN #a")
        got = sync(b, "j")
        expect(":%s 353 bob = #a :@alice bob" % SRV in got, "bare nicks: %s" % got, t)
        a.wait(r":bob!\S+ JOIN #a")
        a.send("NAMES #a")
        got = sync(a, "n")
        expect(got == [":%s 353 alice = #a :@alice!alice@127.0.0.1 bob!bob@127.0.0.1" % SRV,
                       ":%s 366 alice #a :End of /NAMES list" % SRV], "NAMES: %s" % got, t)


def test_join_and_part_lists_in_order_in_one_labeled_response():
    with chat_with(("alice", ("labeled-response", "batch"))) as (t, (a,)):
        a.wait(r" 005 alice .*TARGMAX=JOIN:10,PART:10,", since=0)
        a.wait(r" 422 alice ")
        a.send("@label=j1 JOIN #a,nohash,#b,#bad\x07name,#c")
        got = sync(a, "j", raw=True)
        first = got[0]
        expect(re.match(r"^@label=j1 :%s BATCH \+(\S+) labeled-response$" % SRV, first),
               "one batch: %s" % got, t)
        ref = first.split("+")[1].split()[0]
        body = [re.sub(r"^@batch=%s " % ref, "", l) for l in got[1:-1]]
        expect(got[-1] == ":%s BATCH -%s" % (SRV, ref), "batch closed last: %s" % got, t)
        expect(body == [":alice!alice@127.0.0.1 JOIN #a",
                        ":%s 353 alice = #a :@alice" % SRV,
                        ":%s 366 alice #a :End of /NAMES list" % SRV,
                        ":%s 403 alice nohash :No such channel" % SRV,
                        ":alice!alice@127.0.0.1 JOIN #b",
                        ":%s 353 alice = #b :@alice" % SRV,
                        ":%s 366 alice #b :End of /NAMES list" % SRV,
                        ":%s 479 alice #bad\x07name :Illegal channel name" % SRV,
                        ":alice!alice@127.0.0.1 JOIN #c",
                        ":%s 353 alice = #c :@alice" % SRV,
                        ":%s 366 alice #c :End of /NAMES list" % SRV],
               "in command order: %s" % body, t)
        a.send("JOIN " + ",".join("#t%d" % i for i in range(11)))
        got = sync(a, "too-many")
        expect(len(got) == 1 and " 407 alice #t0,#t1," in got[0], "407: %s" % got, t)
        a.send("PART #a,#zz,#b :see you")
        got = sync(a, "p")
        expect(got == [":alice!alice@127.0.0.1 PART #a :see you",
                       ":%s 403 alice #zz :No such channel" % SRV,
                       ":alice!alice@127.0.0.1 PART #b :see you"], "PART list: %s" % got, t)
        send(a, "JOIN #d", "JOIN 0")
        got = sync(a, "zero")
        parts = sorted(l for l in got if " PART " in l)
        expect(parts == [":alice!alice@127.0.0.1 PART #c", ":alice!alice@127.0.0.1 PART #d"],
               "JOIN 0 leaves all: %s" % got, t)
        a.send("@label=e JOIN #c,#c")                 # the second is already joined
        got = sync(a, "dup", raw=True)
        expect(got[0].startswith("@label=e :%s BATCH +" % SRV) and len(got) == 5,
               "one JOIN, no error: %s" % got, t)


def test_mode_queries_and_changes():
    with chat_with(("alice", ()), ("bob", ())) as (t, (a, b)):
        join_both(a, b, "#a")
        a.send("MODE #a")
        got = sync(a, "m1")
        expect(len(got) == 2 and got[0] == ":%s 324 alice #a +n" % SRV and
               re.match(r"^:%s 329 alice #a \d{10}$" % SRV, got[1]), "324 329: %s" % got, t)
        created = int(got[1].split()[-1])
        expect(abs(created - time.time()) < 120, "creation time: %s" % created, t)
        send(a, "MODE alice", "MODE alice +i", "MODE alice", "MODE alice +i", "MODE alice +x",
             "MODE bob")
        got = sync(a, "m2")
        expect(got == [":%s 221 alice +" % SRV,
                       ":alice!alice@127.0.0.1 MODE alice :+i",
                       ":%s 221 alice +i" % SRV,
                       ":%s 501 alice :Unknown MODE flag" % SRV,
                       ":%s 502 alice :Can't change mode for other users" % SRV],
               "user modes: %s" % got, t)
        send(a, "MODE #a b", "MODE #a +t", "MODE #a +n", "MODE #nowhere", "MODE #a -n+tt")
        got = sync(a, "m3")
        expect(got == [":%s 368 alice #a :End of channel ban list" % SRV,
                       ":%s 472 alice t :is unknown mode char to me" % SRV,
                       ":%s 403 alice #nowhere :No such channel" % SRV,
                       ":%s 472 alice n :is unknown mode char to me" % SRV,
                       ":%s 472 alice t :is unknown mode char to me" % SRV],
               "channel modes (alice is operator): %s" % got, t)
        send(b, "MODE #a +t", "MODE #a")
        got = sync(b, "m4")
        expect(got[0] == ":%s 482 bob #a :You're not channel operator" % SRV and
               got[1] == ":%s 324 bob #a +n" % SRV, "not operator: %s" % got, t)


def test_who_whois_list():
    with chat_with(("alice", ()), ("bob", ())) as (t, (a, b)):
        a.send("JOIN #b")
        a.wait(r" 366 alice #b ")
        a.send("TOPIC #b :b's topic")
        a.wait(r" TOPIC #b :")
        join_both(a, b, "#a")
        a.send("WHO #a")
        got = sync(a, "w1")
        expect(got == [":%s 352 alice #a alice 127.0.0.1 %s alice H@ :0 alice" % (SRV, SRV),
                       ":%s 352 alice #a bob 127.0.0.1 %s bob H :0 bob" % (SRV, SRV),
                       ":%s 315 alice #a :End of /WHO list" % SRV], "WHO #a: %s" % got, t)
        send(a, "WHO Bob", "WHO nobody", "WHO #none", "WHO *.example")
        got = sync(a, "w2")
        expect(got == [":%s 352 alice * bob 127.0.0.1 %s bob H :0 bob" % (SRV, SRV),
                       ":%s 315 alice Bob :End of /WHO list" % SRV,
                       ":%s 315 alice nobody :End of /WHO list" % SRV,
                       ":%s 315 alice #none :End of /WHO list" % SRV,
                       ":%s 315 alice *.example :End of /WHO list" % SRV], "WHO: %s" % got, t)
        send(b, "WHOIS alice", "WHOIS nobody", "WHOIS x.y")
        got = sync(b, "wi")
        expect(got == [":%s 311 bob alice alice 127.0.0.1 * :alice" % SRV,
                       ":%s 319 bob alice :@#b @#a" % SRV,
                       ":%s 312 bob alice %s :letitcrash" % (SRV, SRV),
                       ":%s 318 bob alice :End of /WHOIS list" % SRV,
                       ":%s 401 bob nobody :No such nick/channel" % SRV,
                       ":%s 318 bob nobody :End of /WHOIS list" % SRV,
                       ":%s 401 bob x.y :No such nick/channel" % SRV,
                       ":%s 318 bob x.y :End of /WHOIS list" % SRV], "WHOIS: %s" % got, t)
        send(b, "LIST", "LIST #B")
        got = sync(b, "l")
        expect(got[0] == ":%s 321 bob Channel :Users  Name" % SRV and
               sorted(got[1:3]) == [":%s 322 bob #a 2 :" % SRV,
                                    ":%s 322 bob #b 1 :b's topic" % SRV] and
               got[3:] == [":%s 323 bob :End of /LIST" % SRV,
                           ":%s 321 bob Channel :Users  Name" % SRV,
                           ":%s 322 bob #b 1 :b's topic" % SRV,
                           ":%s 323 bob :End of /LIST" % SRV], "LIST: %s" % got, t)


# --- real clients ------------------------------------------------------------------------------

def poll(what, fn, timeout=20):
    """fn() until it returns something true, bounded: files give no event to wait on."""
    end = time.monotonic() + timeout * SLOW
    while time.monotonic() < end:
        got = fn()
        if got:
            return got
        time.sleep(0.05)
    raise Failure("never: %s" % what)


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def stop(p):
    """Stop a client we started: SIGTERM, then SIGKILL; reaped either way."""
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)


ERRORS = re.compile(r"Unknown command|Not enough parameters|not registered|Unknown MODE|"
                    r"Too many targets|Illegal channel")

WEECHAT_IRC = """[server]
lc.addresses = "127.0.0.1/%d"
lc.ssl = off
lc.nicks = "wee"
lc.username = "wee"
lc.realname = "Wee Chat"
lc.command = "/join #lobby;/msg #lobby hello from weechat"
"""


def test_weechat_headless_joins_posts_and_receives():
    """weechat 3.8 (headless, a private --dir): CAP LS 302 / REQ of all it knows, JOIN, then
    MODE #lobby; it posts (its server's `command`) and logs what it receives (logger, no
    flush delay), beside one of our clients."""
    if not shutil.which("weechat-headless"):
        raise Failure("weechat-headless is not installed (scripts/deps.sh test)")
    with chat_with(("watcher", ())) as (t, (w,)):
        home = os.path.join(t.dir, "weechat")
        os.makedirs(home)
        with open(os.path.join(home, "irc.conf"), "w") as f:
            f.write(WEECHAT_IRC % int(w.sock.getpeername()[1]))
        w.send("JOIN #lobby")
        w.wait(r" 366 watcher #lobby ")
        p = subprocess.Popen(["weechat-headless", "--dir", home, "--no-script",
                              "-r", "/set logger.file.flush_delay 0", "-r", "/connect lc"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        chan = os.path.join(home, "logs", "irc.lc.#lobby.weechatlog")
        srv = os.path.join(home, "logs", "irc.server.lc.weechatlog")
        try:
            w.wait(r":wee!wee@\S+ JOIN #lobby", timeout=20)
            got = w.wait(r":wee!\S+ PRIVMSG #lobby :hello from weechat", timeout=20)
            expect("PRIVMSG" in got, got, t)
            # its JOIN reply is in (names listed): from now on it receives live
            poll("weechat's names list", lambda: "Channel #lobby: 2 nicks" in read(chan))
            w.send("PRIVMSG #lobby :hello weechat")
            poll("weechat received", lambda: re.search(r"\t@?watcher\thello weechat", read(chan)))
            poll("MODE #lobby answered (329)", lambda: "Channel created on" in read(chan))
            caps = poll("caps enabled", lambda: re.search(r"capability, enabled: (.*)", read(srv)))
            expect("userhost-in-names" in caps.group(1) and "multi-prefix" in caps.group(1),
                   "weechat took the caps: %s" % caps.group(0), t)
            bad = [l for l in (read(chan) + read(srv)).splitlines() if ERRORS.search(l)]
            expect(not bad, "weechat saw errors: %s" % bad, t)
        finally:
            stop(p)


def fifo_write(path, line, timeout=20):
    """Write a line to a client's FIFO once it exists and has its reader."""
    def attempt():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except (FileNotFoundError, OSError):
            return False
        try:
            os.write(fd, line.encode() + b"\n")
        finally:
            os.close(fd)
        return True
    poll("%s open for writing" % path, attempt, timeout)


def test_ii_joins_posts_and_receives():
    """ii 1.8 (no CAP at all, FIFOs `in` and files `out`) beside one of our clients."""
    if not shutil.which("ii"):
        raise Failure("ii is not installed (scripts/deps.sh test)")
    with chat_with(("watcher", ())) as (t, (w,)):
        port = int(w.sock.getpeername()[1])
        base = os.path.join(t.dir, "ii")
        w.send("JOIN #lobby")
        w.wait(r" 366 watcher #lobby ")
        p = subprocess.Popen(["ii", "-s", "127.0.0.1", "-p", str(port), "-n", "iiuser",
                              "-i", base, "-f", "ii user"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        srv = os.path.join(base, "127.0.0.1")
        chan = os.path.join(srv, "#lobby")
        try:
            poll("ii registered", lambda: " 001 " in read(os.path.join(srv, "out")) or
                 "Welcome" in read(os.path.join(srv, "out")))
            fifo_write(os.path.join(srv, "in"), "/j #lobby")
            w.wait(r":iiuser!\S+ JOIN #lobby", timeout=20)
            poll("ii's names list", lambda: "watcher" in read(os.path.join(srv, "out")) +
                 read(os.path.join(chan, "out")))
            fifo_write(os.path.join(chan, "in"), "hello from ii")
            w.wait(r":iiuser!\S+ PRIVMSG #lobby :hello from ii", timeout=20)
            w.send("PRIVMSG #lobby :hello ii")
            poll("ii received", lambda: "<watcher> hello ii" in read(os.path.join(chan, "out")))
            bad = [l for l in read(os.path.join(srv, "out")).splitlines() if ERRORS.search(l)]
            expect(not bad, "ii saw errors: %s" % bad, t)
        finally:
            stop(p)
