"""The chat service as a whole (etc/chat.conf): real IRC clients over TCP on 127.0.0.1, the
real tree (storage, sessions, gateways), and workers killed with -9 under traffic. Every wait is
on a line from the server or an event of the tree, bounded; every process is stopped."""
import os
import re
import signal
import socket
import subprocess
import time

from lc import Tree, Failure, SRC, SLOW, BIN, free_port

VALGRIND = False


def expect(cond, msg, tree=None):
    if not cond:
        raise Failure(msg + ("\nlog:\n" + tree.log() if tree else ""))



class Client:
    """A line-oriented IRC client: send lines, wait for lines matching a pattern."""

    def __init__(self, port, nick, caps=(), register=True, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.lines = []
        self.nick = nick
        if caps:
            self.send("CAP LS 302")
            self.send("CAP REQ :" + " ".join(caps))
        if register:
            self.send("NICK " + nick)
            self.send("USER %s 0 * :%s" % (nick, nick))
            if caps:
                self.wait(r" CAP \S+ ACK ")
                self.send("CAP END")
            self.wait(r" 001 ")

    def send(self, line):
        self.sock.sendall(line.encode() + b"\r\n")

    def _more(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        if not data:
            raise Failure("%s: connection closed; got:\n%s" % (self.nick, "\n".join(self.lines)))
        self.buf += data
        while b"\r\n" in self.buf:
            line, self.buf = self.buf.split(b"\r\n", 1)
            self.lines.append(line.decode(errors="replace"))
        return True

    def wait(self, pattern, timeout=10, since=None):
        """The first line (from index `since`, default: not yet consumed) matching pattern."""
        rx = re.compile(pattern)
        start = self.pos if since is None else since
        deadline = time.monotonic() + timeout * SLOW
        i = start
        while True:
            while i < len(self.lines):
                if rx.search(self.lines[i]):
                    self.pos = i + 1
                    return self.lines[i]
                i += 1
            if not self._more(deadline):
                raise Failure("%s: no line matching %r in %ss; got:\n%s" %
                              (self.nick, pattern, timeout, "\n".join(self.lines[start:])))

    pos = 0

    def sync(self, token="sync"):
        """PING/PONG: every reply to what was sent before is in by the PONG."""
        self.send("PING " + token)
        return self.wait(r"PONG .*%s" % token)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def tags(line):
    if not line.startswith("@"):
        return {}
    return dict(kv.split("=", 1) if "=" in kv else (kv, "") for kv in line[1:].split(" ", 1)[0].split(";"))


def chat_tree(port, sessions=2, gateways=2):
    conf = open(os.path.join(SRC, "etc", "chat.conf")).read()
    t = Tree(conf, name="chat")
    t.env.update(CHAT_PORT=str(port), CHAT_DIR=t.dir, CHAT_SESSIONS=str(sessions),
                 CHAT_GATEWAYS=str(gateways), CHAT_NAME="test.local", CHAT_PWHASH_FAST="1")
    return t


CAPS = ("message-tags", "server-time", "echo-message", "batch", "draft/chathistory")


def test_register_join_post_and_history():
    port = free_port()
    with chat_tree(port) as t:
        t.start(timeout=30)
        a = Client(port, "alice", CAPS)
        b = Client(port, "bob", CAPS)
        try:
            a.wait(r" 004 alice test\.local ", since=0)
            a.send("JOIN #lobby")
            a.wait(r"^(@\S+ )?:alice!\S+ JOIN #lobby")
            a.wait(r" 353 alice [=*@] #lobby :@alice")
            a.wait(r" 366 alice #lobby ")
            b.send("JOIN #lobby")
            b.wait(r" 366 bob #lobby ")
            a.wait(r":bob!\S+ JOIN #lobby")
            b.send("PRIVMSG #lobby :hello from bob")
            echo = b.wait(r"PRIVMSG #lobby :hello from bob")
            got = a.wait(r"PRIVMSG #lobby :hello from bob")
            expect(tags(echo).get("msgid") and tags(echo)["msgid"] == tags(got).get("msgid"),
                   "echo and delivery share the msgid: %r %r" % (echo, got))
            expect(tags(echo).get("time") == tags(got).get("time"), "and the time")
            b.send("PART #lobby :bye")                 # after a message: still seen by all
            a.wait(r":bob!\S+ PART #lobby :bye")
            a.send("CHATHISTORY LATEST #lobby * 10")
            a.wait(r"BATCH \+\S+ chathistory #lobby")
            h = a.wait(r"PRIVMSG #lobby :hello from bob")
            a.wait(r"BATCH -")
            expect(tags(h).get("msgid") == tags(got)["msgid"], "history has the same msgid")
            for f in os.listdir(t.dir):
                if f.startswith("journal.db"):
                    mode = os.stat(os.path.join(t.dir, f)).st_mode & 0o777
                    expect(mode == 0o600, "%s is private: %o" % (f, mode), t)
        finally:
            a.close()
            b.close()
        t.stop()


def test_nick_collision_across_gateways():
    port = free_port()
    with chat_tree(port) as t:
        t.start(timeout=30)
        clients = [Client(port, "carol")]
        try:
            # Several connections: the kernel spreads them over both gateways.
            for i in range(6):
                c = Client(port, "carol", register=False)
                clients.append(c)
                c.send("NICK carol")
                c.send("USER c 0 * :c")
                c.wait(r" 433 \* carol ")
        finally:
            for c in clients:
                c.close()
        t.stop()


def test_storage_killed_under_traffic_loses_no_acknowledged_message():
    port = free_port()
    with chat_tree(port) as t:
        t.start(timeout=30)
        a = Client(port, "poster", CAPS)
        r = Client(port, "reader", CAPS)
        acked = []
        try:
            a.send("JOIN #x")
            a.wait(r" 366 poster #x ")
            r.send("JOIN #x")
            r.wait(r" 366 reader #x ")
            for i in range(40):
                if i == 15:
                    t.kill("storage")
                a.send("PRIVMSG #x :m%d" % i)
                echo = a.wait(r"PRIVMSG #x :m%d$" % i, timeout=30)
                acked.append((i, tags(echo)["msgid"]))
            t.wait_start("storage", since=0)
            r.send("CHATHISTORY LATEST #x * 100")
            r.wait(r"BATCH \+\S+ chathistory #x")
            seen = []
            while True:
                line = r.wait(r"PRIVMSG #x :m\d+$|BATCH -", timeout=20)
                if line.startswith("BATCH") or " BATCH -" in line:
                    break
                seen.append(tags(line)["msgid"])
            msgids = [m for _, m in acked]
            expect(seen == msgids, "every acknowledged message once, in order:\n%s\n%s" %
                   (msgids, seen), t)
        finally:
            a.close()
            r.close()
        t.stop()
test_storage_killed_under_traffic_loses_no_acknowledged_message.timeout = 180


def gateway_of(port, clients):
    """Which gateway pid holds each client's connection (the server side's owner, from ss)."""
    out = subprocess.run(["ss", "-tnpH", "state", "established", "sport", "=", ":%d" % port],
                         capture_output=True, text=True, timeout=10).stdout
    owner = {}
    for line in out.splitlines():
        m = re.search(r"\S+:%d\s+\S+:(\d+).*pid=(\d+)" % port, line)
        if m:
            owner[int(m.group(1))] = int(m.group(2))
    return [owner.get(c.sock.getsockname()[1]) for c in clients]


def test_killing_one_gateway_leaves_the_others_clients_connected():
    port = free_port()
    with chat_tree(port) as t:
        t.start(timeout=30)
        clients = [Client(port, "u%d" % i) for i in range(8)]
        try:
            gws = gateway_of(port, clients)
            expect(None not in gws, "every client's gateway found: %s" % gws, t)
            victim = t.pid("chatd.0")
            os.kill(victim, signal.SIGKILL)
            t.wait_event(lambda e: e.kind == "exit" and e.pid == victim)
            for c, gw in zip(clients, gws):
                if gw != victim:
                    c.sync("still-here")        # never disconnected, still served
                else:
                    try:
                        c.sync("gone")
                        raise Failure("a client of the killed gateway still answers")
                    except (Failure, OSError) as e:
                        if "still answers" in str(e):
                            raise
        finally:
            for c in clients:
                c.close()
        t.stop()


def test_items_go_only_to_gateways_with_members():
    """Storage sends a channel's items to the gateways that serve one of its members, no
    other (at a million clients over 67 gateways, sending every JOIN to every gateway was
    what limited setup); each gateway's count of items sent to it (FANOUT_MARK) matches what
    it received, and what a gateway was not sent while it had no member is no gap: no gateway
    repairs anything."""
    port = free_port()
    with chat_tree(port, gateways=3) as t:
        t.env["LETITCRASH_DEBUG"] = "1"
        t.start(timeout=30)
        names = {t.pid("chatd.%d" % k): "chatd.%d" % k for k in range(3)}
        clients = []
        try:
            # members on the first client's gateway, and some elsewhere
            while len(clients) < 40:
                clients.append(Client(port, "f%d" % len(clients), CAPS))
                gws = [names.get(p) for p in gateway_of(port, clients)]
                expect(None not in gws, "every client's gateway found: %s" % gws, t)
                here = [c for c, g in zip(clients, gws) if g == gws[0]]
                there = [c for c, g in zip(clients, gws) if g != gws[0]]
                if len(here) >= 2 and len(there) >= 2:
                    break
            expect(len(here) >= 2 and len(there) >= 2, "clients on two gateways: %s" % gws, t)
            mark = t.mark()
            for chan, group in (("#here", here), ("#there", there)):
                for c in group:
                    c.send("JOIN " + chan)
                    c.wait(r" 366 %s %s " % (c.nick, chan))
                group[0].send("PRIVMSG %s :to %s" % (chan, chan))
                for c in group:
                    c.wait(r"PRIVMSG %s :to %s" % (chan, chan))
            x = gws[0]
            others = sorted(set(gws) - {x})
            for g in [x] + others:        # a mark that counts everything above, per gateway
                line = t.wait_line(r"%s: mark: [1-9]\d* items sent here" % g, since=t.mark())
                sent, got = re.search(r"(\d+) items sent here, (\d+) received", line).groups()
                expect(sent == got, "%s counts what it was sent: %s" % (g, line), t)
            log = [l for l in t.log().splitlines()[mark:] if ": item #" in l]

            def got(g, chan):
                return [l for l in log if " %s: item %s " % (g, chan) in l]
            expect(len(got(x, "#here")) == len(here) + 1, "%s got #here's JOINs and line" % x, t)
            for g in others:
                expect(not got(g, "#here"),
                       "%s, without a member of #here, got none of its items" % g, t)
                expect(got(g, "#there"), "%s, with a member of #there, got its items" % g, t)
            expect(not got(x, "#there"),
                   "%s, without a member of #there, got none of its items" % x, t)
            # every member here leaves; the channel goes on elsewhere; one comes back: what
            # storage did not send this gateway meanwhile is no gap to repair
            b = there[0]
            b.send("JOIN #here")
            b.wait(r" 366 %s #here " % b.nick)
            for c in here:
                c.send("PART #here")
                c.wait(r":%s!\S+ PART #here" % c.nick)
            b.send("PRIVMSG #here :while away")
            b.wait(r"PRIVMSG #here :while away")
            here[1].send("JOIN #here")
            here[1].wait(r" 366 %s #here " % here[1].nick)
            b.send("PRIVMSG #here :back")
            here[1].wait(r"PRIVMSG #here :back")
            expect("received: repairing" not in t.log() and "gap in the" not in t.log(),
                   "no gateway saw a loss", t)
        finally:
            for c in clients:
                c.close()
        t.stop()


def tmux_pane(session):
    return subprocess.run(["tmux", "capture-pane", "-t", session, "-p"], capture_output=True,
                          text=True, timeout=10).stdout


def wait_pane(session, pattern, timeout=15):
    """tmux gives no event for a screen change: poll the pane, bounded."""
    rx = re.compile(pattern, re.M)
    end = time.monotonic() + timeout * SLOW
    while time.monotonic() < end:
        text = tmux_pane(session)
        if rx.search(text):
            return text
        time.sleep(0.1)
    raise Failure("irssi screen never matched %r:\n%s" % (pattern, tmux_pane(session)))


def test_irssi_joins_posts_and_receives():
    """A real client from Debian (irssi 1.4, in tmux) and one of ours, in one channel."""
    port = free_port()
    with chat_tree(port) as t:
        t.start(timeout=30)
        session = "lc-irssi-%d" % port
        home = os.path.join(t.dir, "irssi")
        os.makedirs(home)
        watcher = Client(port, "watcher")
        try:
            watcher.send("JOIN #lobby")
            watcher.wait(r" 366 watcher #lobby ")
            subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "200", "-y", "50",
                            "irssi --home=%s -n alice -c 127.0.0.1 -p %d" % (home, port)],
                           check=True, timeout=10)
            wait_pane(session, r"Welcome to the letitcrash")
            subprocess.run(["tmux", "send-keys", "-t", session, "/join #lobby", "Enter"], timeout=10)
            watcher.wait(r":alice!\S+ JOIN #lobby", timeout=15)    # irssi paces its commands
            # Post once alice has her own JOIN reply (names list), as a person would.
            wait_pane(session, r"Total of 2 nicks")
            watcher.send("PRIVMSG #lobby :hello irssi")
            wait_pane(session, r"<[ @+]?watcher> hello irssi")
            subprocess.run(["tmux", "send-keys", "-t", session, "hello from irssi", "Enter"],
                           timeout=10)
            got = watcher.wait(r":alice!\S+ PRIVMSG #lobby :hello from irssi", timeout=15)
            expect("PRIVMSG" in got, got)
            # irssi sent MODE alice +i, MODE #lobby and WHO #lobby on its own: all answered,
            # no error in the channel's window nor in the status window
            chan = wait_pane(session, r"Channel #lobby created")
            subprocess.run(["tmux", "send-keys", "-t", session, "/window 1", "Enter"], timeout=10)
            status = wait_pane(session, r"Mode change \[\+i\] for user alice")
            expect(not re.search(r"Unknown command|Not enough parameters|Unknown MODE",
                                 chan + status), "irssi saw an error:\n%s\n%s" % (chan, status))
        finally:
            subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
            watcher.close()
        t.stop()
test_irssi_joins_posts_and_receives.timeout = 120
