"""The chat tree under continuous traffic: a JOIN racing the channel's messages, and a session
worker, the storage worker or one gateway killed with -9 while several clients post. Every
message whose echo its sender received must be, exactly once and in one order, in every
member's CHATHISTORY; members never disconnected must have received each of them live exactly
once; clients of surviving gateways are never disconnected. Waits are on lines or tree events,
bounded; every process is stopped."""
import os
import re
import signal
import threading
import time

from lc import Failure, SLOW, free_port
from test_chat import Client, CAPS, chat_tree, expect, gateway_of, tags

VALGRIND = False

PROGRESS = threading.Condition()        # notified by every poster on each echo and at its end


def wait_posters(pred, timeout, what, t):
    deadline = time.monotonic() + timeout * SLOW
    with PROGRESS:
        while not pred():
            left = deadline - time.monotonic()
            expect(left > 0, what, t)
            PROGRESS.wait(left)


class Poster(threading.Thread):
    """A member of `chan` that posts "<nick>-<n>" one after another (each after the echo of the
    one before) until stopped or disconnected, and keeps every line it receives."""

    def __init__(self, port, nick, chan, limit=None):
        super().__init__(daemon=True)
        self.c = Client(port, nick, CAPS)
        self.nick, self.chan, self.limit = nick, chan, limit
        self.c.send("JOIN " + chan)
        self.c.wait(r" 366 %s %s " % (nick, chan))
        self.acked = []                 # (text, msgid) in the order the echoes came
        self.stop = threading.Event()
        self.error = None
        self.disconnected = False

    def run(self):
        n = 0
        try:
            while not self.stop.is_set() and (self.limit is None or n < self.limit):
                text = "%s-%d" % (self.nick, n)
                self.c.send("PRIVMSG %s :%s" % (self.chan, text))
                echo = self.c.wait(r"^@\S+ :%s!\S+ PRIVMSG %s :%s$" % (self.nick, self.chan, text),
                                   timeout=60)
                with PROGRESS:
                    self.acked.append((text, tags(echo)["msgid"]))
                    PROGRESS.notify_all()
                n += 1
        except (Failure, OSError) as e:
            if "connection closed" in str(e) or isinstance(e, OSError):
                self.disconnected = True
            else:
                self.error = e
        with PROGRESS:
            self.done = True
            PROGRESS.notify_all()

    done = False

    def live(self):
        """(text, msgid) of every PRIVMSG to the channel received live (not in a history
        batch), echoes included, in order."""
        out = []
        for line in self.c.lines:
            if " PRIVMSG %s :" % self.chan in line and line.startswith("@") and \
                    "batch" not in tags(line):
                out.append((line.rsplit(" :", 1)[1], tags(line)["msgid"]))
        return out


def history(c, chan):
    """The channel's whole CHATHISTORY, oldest first, paged with AFTER: [(text, msgid)]."""
    out, ref = [], "timestamp=1970-01-01T00:00:00.000Z"
    while True:
        c.send("CHATHISTORY AFTER %s %s 100" % (chan, ref))
        c.wait(r"BATCH \+\S+ chathistory %s" % chan, timeout=30)
        page = []
        while True:
            line = c.wait(r" PRIVMSG %s :|BATCH -" % chan, timeout=30)
            if "BATCH -" in line.split(" PRIVMSG ")[0]:
                break
            page.append((line.rsplit(" :", 1)[1], tags(line)["msgid"]))
        out += page
        if len(page) < 100:
            return out
        ref = "msgid=" + page[-1][1]


def check_views(t, port, posters, chan, history_of=None):
    """Every acked message once, in one order, in every member's history; the members never
    disconnected got each acked message live exactly once."""
    acked = [m for p in posters for m in p.acked]
    expect(len(acked) > 0, "messages were acknowledged", t)
    ids = [m[1] for m in acked]
    expect(len(set(ids)) == len(ids), "every acknowledged message has its own msgid", t)
    views = []
    for p in posters:
        c = p.c
        if p.disconnected:
            c = Client(port, p.nick + "_r", CAPS)
            c.send("JOIN " + chan)
            c.wait(r" 366 %s_r %s " % (p.nick, chan))
        views.append((p.nick, history(c, chan)))
        if c is not p.c:
            c.close()
    first = views[0][1]
    for nick, h in views:
        expect(h == first, "%s's history is the same as %s's" % (nick, views[0][0]), t)
    hist_ids = [m[1] for m in first]
    expect(len(set(hist_ids)) == len(hist_ids), "the journal holds no message twice", t)
    pos = {mid: i for i, mid in enumerate(hist_ids)}
    missing = [m for m in acked if m[1] not in pos]
    expect(not missing, "acknowledged messages missing from the history: %s" % missing[:10], t)
    for p in posters:                       # a poster's own messages: in its order
        order = [pos[mid] for _, mid in p.acked]
        expect(order == sorted(order), "%s's messages are in the journal in the order sent"
               % p.nick, t)
    # Live views: each message acked (by anyone) arrives exactly once at every member that
    # stayed connected; gap repair may take its tick (1 s) after a storage restart.
    everyone = set(ids)
    for p in posters:
        if p.disconnected:
            continue
        deadline = time.monotonic() + 20 * SLOW
        p.c.sync("live")
        while True:
            live = [mid for _, mid in p.live()]
            if everyone <= set(live) or time.monotonic() > deadline:
                break
            try:                                # the repair's lines, as they come
                p.c.wait(r" PRIVMSG %s :" % chan, timeout=2)
            except Failure:
                pass
        expect(len(set(live)) == len(live), "%s received no message twice live" % p.nick, t)
        lost = everyone - set(live)
        expect(not lost, "%s never received live: %s" % (p.nick, sorted(lost)[:10]), t)
    return first


def busy_tree(port):
    t = chat_tree(port)
    t.env["CHAT_FLOOD"] = "0"           # as fast as acknowledged
    return t


def fault_run(victim, per_gateway=2, settle=40, after=40):
    """Posters (at least `per_gateway` on each of the 2 gateways) post continuously; `victim`
    is killed after each has posted `settle` messages; posting goes on for `after` more each;
    then every view is checked."""
    port = free_port()
    with busy_tree(port) as t:
        t.start(timeout=30)
        posters = []
        try:
            # the kernel spreads connections over the gateways: connect until both have some
            while True:
                posters.append(Poster(port, "p%d" % len(posters), "#x"))
                gws = gateway_of(port, [p.c for p in posters])
                expect(None not in gws, "every poster's gateway found: %s" % gws, t)
                if len(set(gws)) == 2 and min(gws.count(g) for g in set(gws)) >= per_gateway:
                    break
                expect(len(posters) < 16, "posters on both gateways: %s" % gws, t)
            for p in posters:
                p.start()
            wait_posters(lambda: min(len(p.acked) for p in posters) >= settle, 60,
                         "posting started", t)
            pid = t.pid(victim)
            mark = t.mark()
            os.kill(pid, signal.SIGKILL)
            t.wait_event(lambda e: e.kind == "exit" and e.pid == pid, since=mark, timeout=10)
            t.wait_start(victim, since=mark, timeout=30)
            counts = [len(p.acked) for p in posters]
            wait_posters(lambda: all(p.done or len(p.acked) >= n + after
                                     for p, n in zip(posters, counts)), 90,
                         "posting went on after the kill: %s" % counts, t)
            for p in posters:
                p.stop.set()
            for p in posters:
                p.join(90 * SLOW)
                expect(not p.is_alive(), "%s stopped" % p.nick, t)
                expect(p.error is None, "%s: %s" % (p.nick, p.error), t)
            for p, gw in zip(posters, gws):
                expect(p.disconnected == (victim == "chatd.0" and gw == pid),
                       "%s (gateway %s) disconnected: %s, killed %s" %
                       (p.nick, gw, p.disconnected, pid), t)
            check_views(t, port, posters, "#x")
        finally:
            for p in posters:
                p.stop.set()
                p.c.close()
        t.stop()


def test_session_killed_under_traffic():
    fault_run("session.0")
test_session_killed_under_traffic.timeout = 240


def test_storage_killed_under_continuous_traffic():
    fault_run("storage")
test_storage_killed_under_continuous_traffic.timeout = 240


def test_gateway_killed_under_traffic():
    fault_run("chatd.0")
test_gateway_killed_under_traffic.timeout = 240


def test_join_sees_every_message_committed_after_it():
    """A member joining a busy channel receives live exactly the messages committed after its
    JOIN: from each poster, the first after its JOIN line (as that poster saw it), then each
    following one without a hole; nothing committed before it."""
    port = free_port()
    with busy_tree(port) as t:
        t.start(timeout=30)
        posters = []
        j = Client(port, "joiner", CAPS)
        try:
            for i in range(3):
                posters.append(Poster(port, "q%d" % i, "#race"))
            for p in posters:
                p.start()
            rounds = 12
            for r in range(rounds):
                start = len(j.lines)
                j.send("JOIN #race")
                j.wait(r" 366 joiner #race ", timeout=30)
                # stay in until a message from every poster arrived live
                deadline = time.monotonic() + 30 * SLOW
                while not all(any(":%s!" % p.nick in l and " PRIVMSG #race :" in l
                                  for l in j.lines[start:]) for p in posters):
                    expect(time.monotonic() < deadline, "live messages in round %d" % r, t)
                    j.wait(r" PRIVMSG #race :", timeout=30)
                j.send("PART #race")
                j.wait(r":joiner!\S+ PART #race", timeout=30)
            for p in posters:
                p.stop.set()
            for p in posters:
                p.join(60 * SLOW)
                expect(p.error is None and not p.disconnected, "%s: %s" % (p.nick, p.error), t)
            j.sync("end")
            for p in posters:
                p.c.sync("end")
            # Per round, per poster: the poster's echoes after the joiner's JOIN line.
            for p in posters:
                mine = "%s-" % p.nick
                seq, rounds_p, cur = [], [], None
                for line in p.c.lines:
                    if line.split(" ")[1 if line.startswith("@") else 0].startswith(":joiner!"):
                        if " JOIN #race" in line:
                            cur = len(seq)
                        elif " PART #race" in line and cur is not None:
                            rounds_p.append(cur)
                            cur = None
                    elif (" PRIVMSG #race :" + mine) in line and (":%s!" % p.nick) in line:
                        seq.append(line.rsplit(" :", 1)[1])
                expect(len(rounds_p) == rounds, "%s saw %d JOIN/PART rounds of %d:\n%s" %
                       (p.nick, len(rounds_p), rounds, "\n".join(p.c.lines[-30:])), t)
                # the joiner's view of p's messages, per round
                got, cur = [], None
                for line in j.lines:
                    if " 366 joiner #race " in line:
                        cur = []
                    elif ":joiner!" in line and " PART #race" in line:
                        got.append(cur)
                        cur = None
                    elif cur is not None and (":%s!" % p.nick) in line and " PRIVMSG #race :" in line:
                        cur.append(line.rsplit(" :", 1)[1])
                for r in range(rounds):
                    first = rounds_p[r]
                    expect(got[r], "round %d: the joiner got %s's messages" % (r, p.nick), t)
                    expect(got[r][0] == seq[first],
                           "round %d: the joiner's first message from %s is %s, the first "
                           "committed after its JOIN is %s" % (r, p.nick, got[r][0], seq[first]), t)
                    expect(got[r] == seq[first:first + len(got[r])],
                           "round %d: %s's messages reached the joiner without a hole" %
                           (r, p.nick), t)
        finally:
            for p in posters:
                p.stop.set()
                p.c.close()
            j.close()
        t.stop()
test_join_sees_every_message_committed_after_it.timeout = 240


def test_stopped_gateway_catches_up_on_messages_and_channel_events():
    """A gateway stopped (SIGSTOP) while a channel is busy loses storage's fan-out to it once
    its queue is full; resumed, it repairs both streams from storage: its member gets every
    message once in order, and every channel event (JOIN, PART, TOPIC) once in order."""
    port = free_port()
    with busy_tree(port) as t:
        t.start(timeout=30)
        a = b = None
        extra = []
        try:
            # a on one gateway, b and the others on the other one
            a = Client(port, "a", CAPS)
            gw_a = gateway_of(port, [a])[0]
            while b is None or gateway_of(port, [b])[0] == gw_a:
                if b:
                    extra.append(b)
                b = Client(port, "b%d" % len(extra), CAPS)
                expect(len(extra) < 16, "a client on the other gateway", t)
            for c in (a, b):
                c.send("JOIN #busy")
                c.wait(r" 366 %s #busy " % c.nick)
            a.sync()
            base = len(a.lines)
            victim = next(n for n in ("chatd.0", "chatd.1") if t.pid(n) == gw_a)
            mark = t.mark()
            os.kill(gw_a, signal.SIGSTOP)
            try:
                # messages until storage's queue to the stopped gateway is full and it is
                # marked down (no progress for 1 s), then channel events, then messages
                sent, start = 0, time.monotonic()
                def burst(n):
                    nonlocal sent
                    for _ in range(n):
                        b.send("PRIVMSG #busy :m%d" % sent)
                        sent += 1
                    b.wait(r":%s!\S+ PRIVMSG #busy :m%d$" % (b.nick, sent - 1), timeout=60)
                while sent < 3000 or time.monotonic() - start < 2.5 * SLOW:
                    burst(200)
                for r in range(3):
                    b.send("PART #busy :round %d" % r)
                    b.send("JOIN #busy")
                    b.send("TOPIC #busy :topic %d" % r)
                    b.wait(r":%s!\S+ TOPIC #busy :topic %d" % (b.nick, r), timeout=30)
                burst(200)
            finally:
                os.kill(gw_a, signal.SIGCONT)
            want_msgs = ["m%d" % i for i in range(sent)]
            want_events = []
            for r in range(3):
                want_events += ["PART", "JOIN", "TOPIC topic %d" % r]
            deadline = time.monotonic() + 60 * SLOW
            while True:
                got_msgs = [l.rsplit(" :", 1)[1] for l in a.lines[base:]
                            if " PRIVMSG #busy :" in l and ":%s!" % b.nick in l]
                got_events = []
                for l in a.lines[base:]:
                    if ":%s!" % b.nick not in l:
                        continue
                    if " PART #busy" in l:
                        got_events.append("PART")
                    elif " JOIN #busy" in l:
                        got_events.append("JOIN")
                    elif " TOPIC #busy :" in l:
                        got_events.append("TOPIC " + l.rsplit(" :", 1)[1])
                if (got_msgs == want_msgs and got_events == want_events) or \
                        len(got_msgs) > len(want_msgs) or len(got_events) > len(want_events) \
                        or time.monotonic() > deadline:
                    break
                try:
                    a.wait(r"#busy", timeout=2)
                except Failure:
                    pass
            expect(got_msgs == want_msgs, "every message once, in order: %d of %d, first "
                   "differences %s" % (len(got_msgs), len(want_msgs),
                                        [(i, g, w) for i, (g, w) in
                                         enumerate(zip(got_msgs, want_msgs)) if g != w][:3]), t)
            expect(got_events == want_events, "every channel event once, in order: %s" %
                   got_events, t)
            expect(re.search(r"%s: #busy: \d+ events repaired" % victim, t.log()),
                   "the stopped gateway lost events and repaired them", t)
        finally:
            for c in [a, b] + extra:
                if c:
                    c.close()
        t.stop()
test_stopped_gateway_catches_up_on_messages_and_channel_events.timeout = 240
