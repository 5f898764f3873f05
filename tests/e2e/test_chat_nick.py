"""NICK after registration against the real tree (etc/chat.conf), over TCP on 127.0.0.1: the
change is seen once by each peer (on both gateways, however many channels are shared), the old
nick is free at once, messages follow the new nick, NAMES and the user's own messages show it,
a change of case only, 433 against a registered or an unregistered holder; and a change while
a session worker (or storage) is killed -9 completes after the restart with one nick, as NAMES
agrees."""
import os
import re
import signal

from lc import Failure, free_port
from test_chat import Client, CAPS, chat_tree, expect, gateway_of, tags

VALGRIND = False
NSESS = 2


def shard(nick):
    """chat_shard (chatd/chatproto.c): FNV-1a of the nick casefolded, modulo the sessions."""
    h = 2166136261
    for c in nick.lower().encode():
        h = ((h ^ c) * 16777619) & 0xffffffff
    return h % NSESS


def other_shard(nick, stem):
    """A nick starting with stem whose session is not nick's: the change is a hand-over."""
    for i in range(100):
        cand = "%s%d" % (stem, i)
        if shard(cand) != shard(nick):
            return cand
    raise Failure("no nick of another shard")


def names(c, chan):
    c.send("NAMES " + chan)
    got = []
    while True:
        line = c.wait(r" (353 %s [=*@]|366 %s) %s " % (re.escape(c.nick), re.escape(c.nick),
                                                      re.escape(chan)))
        if " 366 " in line:
            return sorted(got)
        got += line.rsplit(" :", 1)[1].split()


def peers_on_both_gateways(t, port, chans, first=()):
    """Peers joined to chans until both gateways serve at least one (the kernel spreads
    connections; bounded)."""
    peers = list(first)
    while True:
        p = Client(port, "peer%d" % len(peers), CAPS)
        p.send("JOIN " + ",".join(chans))
        p.wait(r" 366 %s %s " % (p.nick, re.escape(chans[-1])))
        peers.append(p)
        gws = gateway_of(port, peers)
        expect(None not in gws, "every peer's gateway found: %s" % gws, t)
        if len(set(gws)) == 2:
            return peers
        expect(len(peers) < 12, "peers on both gateways: %s" % gws, t)


def nick_seen_once(t, peers, old, new, starts=None):
    """Every peer got `:old!u@h NICK :new` exactly once (by the PONG of a later PING), since
    starts (line indexes, one per peer; default: what is not consumed yet)."""
    rx = r"^(@\S+ )?:%s!\S+ NICK :?%s$" % (re.escape(old), re.escape(new))
    for k, p in enumerate(peers):
        start = starts[k] if starts else p.pos
        p.wait(rx, timeout=30, since=start)
        p.sync("nick-" + new)
        got = [l for l in p.lines[start:] if re.search(rx, l)]
        expect(len(got) == 1, "%s saw the NICK %s -> %s once: %s" % (p.nick, old, new, got), t)


def change(t, a, new, timeout=10):
    old = a.nick
    a.send("NICK " + new)
    a.wait(r"^(@\S+ )?:%s!\S+ NICK :?%s$" % (re.escape(old), re.escape(new)), timeout=timeout)
    a.nick = new


def reachable_as(t, a, nick, sender, token):
    """A direct message to nick reaches a (storage writes the target casefolded)."""
    sender.send("PRIVMSG %s :%s" % (nick, token))
    a.wait(r":%s!\S+ PRIVMSG (?i:%s) :%s$" % (sender.nick, re.escape(nick), token), timeout=20)


def gone(t, nick, sender):
    sender.send("PRIVMSG %s :anyone" % nick)
    sender.wait(r" 401 %s %s " % (sender.nick, re.escape(nick)), timeout=20)


def test_nick_change_seen_once_old_free_messages_names_case():
    port = free_port()
    with chat_tree(port, sessions=NSESS) as t:
        t.start(timeout=30)
        a = Client(port, "alice", CAPS)
        peers, extra = [], []
        try:
            a.send("JOIN #a,#b")
            a.wait(r" 366 alice #b ")
            peers = peers_on_both_gateways(t, port, ["#a", "#b"])
            a.sync("joined")
            new = other_shard("alice", "alicia")
            change(t, a, new)
            nick_seen_once(t, peers, "alice", new)
            a.sync("changed")
            own = [l for l in a.lines if re.search(r" NICK :?%s$" % new, l)]
            expect(len(own) == 1, "the changer's own NICK line once: %s" % own, t)
            p = peers[0]
            got = names(p, "#a")
            expect("@" + new in got and not [n for n in got if n.lstrip("@") == "alice"],
                   "NAMES #a shows the new nick, operator still: %s" % got, t)
            # messages: to the new nick reach the user, to the old one get 401
            reachable_as(t, a, new, p, "to-new")
            gone(t, "alice", p)
            # the user's own messages, live and in history, carry the new prefix
            a.send("PRIVMSG #a :after the change")
            live = p.wait(r"PRIVMSG #a :after the change$")
            expect(live.split(" PRIVMSG")[0].endswith(":%s!alice@127.0.0.1" % new) or
                   (":%s!" % new) in live, "the new prefix: " + live, t)
            a.send("CHATHISTORY LATEST #a * 5")
            a.wait(r"BATCH \+\S+ chathistory #a")
            h = a.wait(r"PRIVMSG #a :after the change$")
            expect((":%s!" % new) in h, "history has the new prefix: " + h, t)
            expect(tags(h).get("msgid") == tags(live).get("msgid"), "same msgid", t)
            a.wait(r"BATCH -")
            # the old nick is free at once: another client registers it
            old = Client(port, "alice")
            extra.append(old)
            reachable_as(t, old, "alice", p, "to-the-new-alice")
            # a change of case only (the same session): seen once, NAMES shows it
            upper = new[0].upper() + new[1:]
            change(t, a, upper)
            nick_seen_once(t, peers, new, upper)
            got = names(p, "#b")
            expect("@" + upper in got, "NAMES #b after the case change: %s" % got, t)
            reachable_as(t, a, upper, p, "to-upper")
            # 433: a registered holder
            a.send("NICK " + p.nick.upper())
            a.wait(r" 433 %s %s " % (upper, p.nick.upper()))
            a.send("NICK alice")
            a.wait(r" 433 %s alice " % upper)
            # 431, 432, and the same nick again: nothing
            a.send("NICK :")
            a.wait(r" 431 %s " % upper)
            a.send("NICK 9lives")
            a.wait(r" 432 %s 9lives " % upper)
            first = len(a.lines)
            a.send("NICK " + upper)
            a.sync("same")
            expect(not [l for l in a.lines[first:] if " NICK " in l or " 43" in l],
                   "NICK to the same nick: nothing: %s" % a.lines[first:], t)
            # WHOIS knows the new nick and its channels
            p.send("WHOIS " + upper)
            w = p.wait(r" 319 %s %s " % (p.nick, upper))
            expect("@#a" in w and "@#b" in w, w, t)
        finally:
            for c in [a] + peers + extra:
                c.close()
        t.stop()
test_nick_change_seen_once_old_free_messages_names_case.timeout = 180


def test_nick_held_by_an_unregistered_connection():
    """A connection that asked for a nick first holds it before it is registered."""
    port = free_port()
    with chat_tree(port, sessions=NSESS) as t:
        t.start(timeout=30)
        a = Client(port, "dave", CAPS)
        u = Client(port, "*", register=False)
        try:
            u.send("CAP LS 302")        # registration held until CAP END
            u.send("NICK zed")
            u.send("USER zed 0 * :zed")
            u.sync("asked")
            a.send("NICK zed")
            a.wait(r" 433 dave zed ")
            u.send("NICK zod")                  # another nick: the first one is let go
            u.sync("asked-again")
            change(t, a, "zed")
            u.send("NICK zed")
            u.wait(r" 433 \* zed ")
            u.send("CAP END")
            u.wait(r" 001 zod ")
            # an unregistered connection that leaves lets its nick go
            v = Client(port, "*", register=False)
            v.send("NICK ygg")
            v.sync("asked")
            a.send("NICK ygg")
            a.wait(r" 433 zed ygg ")
            v.send("QUIT")
            v.wait(r"^ERROR ")
            v.close()
            change(t, a, "ygg")
        finally:
            a.close()
            u.close()
        t.stop()


def check_one_nick(t, a, peer, chans, dead):
    """a is reachable as a.nick only, NAMES of each channel agrees."""
    for ch in chans:
        got = names(peer, ch)
        have = [n.lstrip("@") for n in got]
        expect(a.nick in have and not [d for d in dead if d in have],
               "NAMES %s: %s has %s, not %s" % (ch, got, a.nick, dead), t)
    reachable_as(t, a, a.nick, peer, "to-" + a.nick)
    for d in dead:
        gone(t, d, peer)


def test_nick_change_while_workers_are_killed():
    """Each victim is stopped (SIGSTOP) before the NICK, so that a step is out at it for sure
    (the gateway logs the resend), then killed -9: what it held is lost, the restarted worker
    recovers from the journal and the resent step completes the change. The old session is
    stopped after the new one renamed the memberships: the peers see the NICK, the release
    is what is out."""
    port = free_port()
    with chat_tree(port, sessions=NSESS) as t:
        t.start(timeout=30)
        a = Client(port, "erin", CAPS)
        peers = []
        try:
            a.send("JOIN #k,#l")
            a.wait(r" 366 erin #l ")
            peers = peers_on_both_gateways(t, port, ["#k", "#l"])
            dead = []
            for i, victim in enumerate(("new", "old", "storage")):
                old, new = a.nick, other_shard(a.nick, "erin%d_" % i)
                name = {"new": "session.%d" % shard(new), "old": "session.%d" % shard(old),
                        "storage": "storage"}[victim]
                waiter = "session.%d" % shard(new if victim != "old" else old)
                rx = r"^(@\S+ )?:%s!\S+ NICK :?%s$" % (re.escape(old), re.escape(new))
                mark = t.mark()
                starts = [len(p.lines) for p in peers]
                pid = t.pid(name)
                os.kill(pid, signal.SIGSTOP)
                try:
                    a.send("NICK " + new)
                    if victim == "old":
                        peers[0].wait(rx, timeout=20)
                    t.wait_line(r"no answer from %s to nick .*resending" % waiter, since=mark,
                                timeout=20)
                finally:
                    os.kill(pid, signal.SIGKILL)
                t.wait_event(lambda e: e.kind == "exit" and e.pid == pid, since=mark)
                t.wait_start(name, since=mark, timeout=30)
                a.wait(rx, timeout=60)
                a.nick = new
                dead.append(old)
                nick_seen_once(t, peers, old, new, starts)
                check_one_nick(t, a, peers[0], ["#k", "#l"], dead)
        finally:
            for c in [a] + peers:
                c.close()
        t.stop()
test_nick_change_while_workers_are_killed.timeout = 240
