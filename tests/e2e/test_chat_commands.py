"""The chat commands against the real tree (etc/chat.conf: storage, sessions, gateways), over
TCP on 127.0.0.1: PART/NAMES/TOPIC, direct messages, the error numerics, QUIT, SASL PLAIN with
accounts in the journal, and every CHATHISTORY subcommand with msgid and timestamp refs, on a
channel and on a direct conversation (alice<->bob, with carol's messages kept out)."""
import base64
import socket

from lc import Failure, free_port
from test_chat import Client, CAPS, chat_tree, expect, tags

VALGRIND = False


def text_of(line):
    return line.rsplit(" :", 1)[1]


def test_part_names_topic_direct_messages_and_errors():
    port = free_port()
    with chat_tree(port) as t:
        t.start(timeout=30)
        a, b, c = Client(port, "ann", CAPS), Client(port, "ben", CAPS), Client(port, "cy")
        try:
            a.send("JOIN #t")
            a.wait(r" 366 ann #t ")
            b.send("JOIN #t")
            b.wait(r" 366 ben #t ")
            a.send("NAMES #t")
            got = a.wait(r" 353 ann = #t :")
            expect(sorted(text_of(got).split()) == ["@ann", "ben"], got, t)
            a.wait(r" 366 ann #t :End of /NAMES list")
            a.send("NAMES #nowhere")
            got = a.wait(r" (353|366) ann ")
            expect(" 366 ann #nowhere " in got, "an unknown channel: 366 alone: " + got, t)
            # TOPIC: none, set (seen by all, the setter too), read back, shown on JOIN
            a.send("TOPIC #t")
            a.wait(r" 331 ann #t :No topic is set")
            a.send("TOPIC #t :the topic")
            a.wait(r":ann!\S+ TOPIC #t :the topic$")
            b.wait(r":ann!\S+ TOPIC #t :the topic$")
            b.send("TOPIC #t")
            b.wait(r" 332 ben #t :the topic$")
            got = b.wait(r" 333 ben #t ")
            expect(got.split()[-2].startswith("ann") and got.split()[-1].isdigit(), got, t)
            c.send("JOIN #t")
            c.wait(r":cy!\S+ JOIN #t")
            c.wait(r" 332 cy #t :the topic$")
            c.wait(r" 333 cy #t ")
            c.wait(r" 366 cy #t ")
            c.send("JOIN #fresh")                     # a new channel: JOIN, 353, 366 only
            first = len(c.lines)
            c.wait(r" 366 cy #fresh ")
            new = [l.split()[1] for l in c.lines[first:]]
            expect(new == ["JOIN", "353", "366"], "a new channel's JOIN reply: %s" % new, t)
            # a direct message, with its echo
            a.send("PRIVMSG ben :psst")
            echo = a.wait(r":ann!\S+ PRIVMSG ben :psst$")
            got = b.wait(r":ann!\S+ PRIVMSG ben :psst$")
            expect(tags(echo)["msgid"] == tags(got)["msgid"], "one msgid: %s %s" % (echo, got), t)
            # errors
            for line, rx in (("PRIVMSG nobody :x", r" 401 cy nobody "),
                             ("PRIVMSG #nowhere :x", r" 403 cy #nowhere "),
                             ("PRIVMSG #t", r" 412 cy "),
                             ("PRIVMSG", r" 411 cy "),
                             ("PART #fresh2", r" 403 cy #fresh2 "),
                             ("TOPIC #nowhere", r" 403 cy #nowhere "),
                             ("TOPIC #nowhere :x", r" 403 cy #nowhere ")):
                c.send(line)
                c.wait(rx)
            c.send("PART #fresh")
            c.wait(r":cy!\S+ PART #fresh")
            b.send("PART #fresh")                     # emptied by cy's PART: gone
            b.wait(r" 403 ben #fresh ")
            b.send("PART #t2")
            b.wait(r" 403 ben #t2 ")
            c.send("PART #t")
            c.wait(r":cy!\S+ PART #t")
            c.send("PART #t")
            c.wait(r" 442 cy #t ")
            c.send("TOPIC #t :not a member")
            c.wait(r" 442 cy #t ")
            d = Client(port, "dee")
            d.send("PRIVMSG #t :outsider")
            d.wait(r" 404 dee #t ")
            after = len(d.lines)
            d.send("NOTICE nobody :x")                # NOTICE: never an error
            d.send("NOTICE #t :x")
            d.sync()
            errors = [l for l in d.lines[after:] if l.split()[1] in ("401", "403", "404")]
            expect(not errors, "no error to NOTICE: %s" % errors, t)
            d.close()
            # PART with a reason, seen by every member, the parter too
            b.send("PART #t :see you")
            b.wait(r":ben!\S+ PART #t :see you$")
            a.wait(r":ben!\S+ PART #t :see you$")
            b.send("PRIVMSG #t :after parting")
            b.wait(r" 404 ben #t ")
            b.send("JOIN #t")
            b.wait(r" 366 ben #t ")
            # QUIT: ERROR, then closed; once to each user sharing a channel; the nick is free
            a.send("JOIN #fresh")
            a.wait(r" 366 ann #fresh ")
            b.send("JOIN #fresh")
            b.wait(r" 366 ben #fresh ")
            a.sync("before-quit")
            b.send("QUIT :gone fishing")
            b.wait(r"^ERROR :")
            try:
                b.sync("closed")
                raise Failure("the connection stayed open after QUIT")
            except Failure as e:
                expect("connection closed" in str(e), str(e), t)
            a.wait(r":ben!\S+ QUIT :.*gone fishing")
            a.sync("after-quit")
            quits = [l for l in a.lines if ":ben!" in l and " QUIT " in l]
            expect(len(quits) == 1, "one QUIT for two shared channels: %s" % quits, t)
            b2 = Client(port, "ben")
            b2.close()
        finally:
            for x in (a, b, c):
                x.close()
        t.stop()


def authenticate(c, user, password):
    c.send("AUTHENTICATE PLAIN")
    c.wait(r"^AUTHENTICATE \+$")
    blob = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()
    c.send("AUTHENTICATE " + blob)


def test_sasl_plain_with_accounts_in_the_journal():
    port = free_port()
    with chat_tree(port) as t:
        t.env["CHAT_ACCOUNTS"] = "alice:s3cret"
        t.start(timeout=30)
        ok = Client(port, "alice", register=False)
        bad = Client(port, "mallory", register=False)
        try:
            for c in (ok, bad):
                c.send("CAP LS 302")
                got = c.wait(r" CAP \* LS ")
                expect("sasl" in got, got, t)
                c.send("CAP REQ :sasl")
                c.wait(r" CAP \S+ ACK :sasl")
                c.send("NICK " + c.nick)
                c.send("USER u 0 * :U")
            authenticate(bad, "alice", "wrong")
            bad.wait(r" 904 ")
            authenticate(ok, "alice", "s3cret")
            ok.wait(r" 900 (alice|\*) alice!\S+ alice :")
            ok.wait(r" 903 (alice|\*) :")
            for c in (ok, bad):
                c.send("CAP END")
                c.wait(r" 001 ")
            ok.send("JOIN #acct")
            ok.wait(r" 366 alice #acct ")
        finally:
            ok.close()
            bad.close()
        expect("s3cret" not in t.log(), "the password is not in the tree's log", t)
        t.stop()


def history(c, line, target="#h"):
    """Send a CHATHISTORY line; (text, tags, line) of each message of its batch (checked: one
    batch, right type, for target)."""
    c.send(line)
    start = c.wait(r"BATCH \+\S+ chathistory %s" % target)
    ref = start.split("BATCH +", 1)[1].split()[0]
    out = []
    while True:
        line = c.wait(r"batch=%s|BATCH -%s" % (ref, ref))
        if "BATCH -" + ref in line:
            return out
        out.append((text_of(line), tags(line), line))


def test_every_chathistory_subcommand():
    port = free_port()
    with chat_tree(port) as t:
        t.start(timeout=30)
        a = Client(port, "hist", CAPS + ("labeled-response",))
        o = Client(port, "other", CAPS)
        try:
            a.send("JOIN #h")
            a.wait(r" 366 hist #h ")
            mid, ts = [], []
            for i in range(10):
                a.send("PRIVMSG #h :m%d" % i)
                echo = a.wait(r"PRIVMSG #h :m%d$" % i)
                mid.append(tags(echo)["msgid"])
                ts.append(tags(echo)["time"])
            expect(len(set(ts)) == 10, "distinct timestamps: %s" % ts, t)
            texts = lambda rows: [r[0] for r in rows]
            m = lambda *ix: ["m%d" % i for i in ix]
            cases = [
                ("LATEST #h * 3", m(7, 8, 9)),
                ("LATEST #h * 100", m(*range(10))),
                ("LATEST #h msgid=%s 10" % mid[5], m(6, 7, 8, 9)),
                ("LATEST #h msgid=%s 2" % mid[5], m(8, 9)),
                ("LATEST #h timestamp=%s 10" % ts[7], m(8, 9)),
                ("BEFORE #h msgid=%s 2" % mid[5], m(3, 4)),
                ("BEFORE #h timestamp=%s 3" % ts[2], m(0, 1)),
                ("AFTER #h msgid=%s 2" % mid[5], m(6, 7)),
                ("AFTER #h timestamp=%s 10" % ts[7], m(8, 9)),
                ("BETWEEN #h msgid=%s msgid=%s 10" % (mid[2], mid[6]), m(3, 4, 5)),
                ("BETWEEN #h msgid=%s msgid=%s 2" % (mid[2], mid[6]), m(3, 4)),
                ("BETWEEN #h msgid=%s msgid=%s 2" % (mid[6], mid[2]), m(4, 5)),
                ("BETWEEN #h timestamp=%s timestamp=%s 10" % (ts[0], ts[3]), m(1, 2)),
            ]
            for cmd, want in cases:
                got = texts(history(a, "CHATHISTORY " + cmd))
                expect(got == want, "CHATHISTORY %s: %s, want %s" % (cmd, got, want), t)
            around = texts(history(a, "CHATHISTORY AROUND #h msgid=%s 3" % mid[5]))
            expect(len(around) == 3 and "m5" in around and around == sorted(around),
                   "AROUND: three centred on m5, oldest first: %s" % around, t)
            # replayed lines carry the original source, time and msgid
            rows = history(a, "CHATHISTORY AFTER #h msgid=%s 1" % mid[0])
            expect(rows[0][1]["msgid"] == mid[1] and rows[0][1]["time"] == ts[1],
                   "replay keeps msgid and time: %s" % (rows,), t)
            # an empty result is still a batch
            expect(history(a, "CHATHISTORY AFTER #h msgid=%s 5" % mid[9]) == [], "empty", t)
            # the whole batch comes before a later PONG
            a.send("CHATHISTORY LATEST #h * 5")
            a.send("PING order")
            end = a.wait(r"BATCH -|PONG")
            expect("BATCH -" in end, "the batch ends before the PONG: %s" % end, t)
            a.wait(r"PONG .*order")
            # labeled: the batch carries the label
            first = len(a.lines)
            a.send("@label=L1 CHATHISTORY LATEST #h * 1")
            a.sync("labeled")
            got = a.lines[first:]
            expect(any(tags(l).get("label") == "L1" for l in got) and
                   any(" chathistory #h" in l for l in got), "labeled: %s" % got, t)
            # errors: FAIL standard replies, nothing else
            for cmd, code in (("LATEST #other * 5", "INVALID_TARGET"),
                              ("LATEST #h * 0", "INVALID_PARAMS"),
                              ("LATEST #h * x", "INVALID_PARAMS"),
                              ("BEFORE #h bogus=1 5", "INVALID_PARAMS"),
                              ("FROB #h * 5", "INVALID_PARAMS"),
                              ("LATEST #h", "NEED_MORE_PARAMS")):
                a.send("CHATHISTORY " + cmd)
                got = a.wait(r"^(@\S+ )?:\S+ (FAIL|BATCH|\d\d\d) ")
                expect(" FAIL CHATHISTORY %s" % code in got or
                       (code == "NEED_MORE_PARAMS" and " 461 " in got),
                       "CHATHISTORY %s: %s, want %s" % (cmd, got, code), t)
            o.send("JOIN #other")
            o.wait(r" 366 other #other ")
            a.send("CHATHISTORY LATEST #other * 5")
            a.wait(r" FAIL CHATHISTORY INVALID_TARGET LATEST #other ")
            # direct messages: CHATHISTORY on one's own nick gives those received
            o.send("PRIVMSG hist :dm one")
            a.wait(r"PRIVMSG hist :dm one")
            rows = texts(history(a, "CHATHISTORY LATEST hist * 5", target="hist"))
            expect(rows == ["dm one"], "direct-message history: %s" % rows, t)
            check_conversations(port, t)
        finally:
            a.close()
            o.close()
        t.stop()


def check_conversations(port, t):
    """CHATHISTORY on another's nick: the conversation with it, both directions, oldest first,
    every subcommand; the other conversations stay out."""
    al, bo, ca = (Client(port, n, CAPS) for n in ("alice", "bob", "carol"))
    try:
        def say(src, dst, text):
            src.send("PRIVMSG %s :%s" % (dst.nick, text))
            echo = src.wait(r":%s!\S+ PRIVMSG %s :%s$" % (src.nick, dst.nick, text))
            dst.wait(r":%s!\S+ PRIVMSG %s :%s$" % (src.nick, dst.nick, text))
            return tags(echo)
        mid, ts = [], []
        for i in range(8):                  # d0 alice->bob, d1 bob->alice, ... and others
            src, dst = (al, bo) if i % 2 == 0 else (bo, al)
            tg = say(src, dst, "d%d" % i)
            mid.append(tg["msgid"])
            ts.append(tg["time"])
            say(ca, al, "carol to alice %d" % i)
            say(al, ca, "alice to carol %d" % i)
        say(bo, ca, "bob to carol")
        say(al, al, "alice to herself")
        d = lambda *ix: ["d%d" % i for i in ix]
        texts = lambda rows: [r[0] for r in rows]
        rows = history(al, "CHATHISTORY LATEST bob * 100", target="bob")
        expect(texts(rows) == d(*range(8)), "the conversation: %s" % texts(rows), t)
        for i, (_, tg, line) in enumerate(rows):
            src, dst = ("alice", "bob") if i % 2 == 0 else ("bob", "alice")
            expect(line.split(" ", 1)[1].startswith(":%s!" % src) and
                   " PRIVMSG %s :" % dst in line, "original source and target: " + line, t)
            expect(tg["msgid"] == mid[i] and tg["time"] == ts[i], "msgid and time: " + line, t)
        cases = [
            ("LATEST bob * 3", d(5, 6, 7)),
            ("LATEST bob msgid=%s 100" % mid[4], d(5, 6, 7)),
            ("LATEST bob timestamp=%s 100" % ts[5], d(6, 7)),
            ("BEFORE bob msgid=%s 2" % mid[5], d(3, 4)),
            ("BEFORE bob timestamp=%s 10" % ts[2], d(0, 1)),
            ("AFTER bob msgid=%s 3" % mid[1], d(2, 3, 4)),
            ("AFTER bob timestamp=%s 10" % ts[5], d(6, 7)),
            ("BETWEEN bob msgid=%s msgid=%s 10" % (mid[1], mid[6]), d(2, 3, 4, 5)),
            ("BETWEEN bob msgid=%s msgid=%s 2" % (mid[6], mid[1]), d(4, 5)),
            ("BETWEEN bob timestamp=%s timestamp=%s 10" % (ts[0], ts[3]), d(1, 2)),
            ("AROUND bob msgid=%s 3" % mid[4], d(3, 4, 5)),
            ("AFTER bob msgid=%s 5" % mid[7], []),
        ]
        for cmd, want in cases:
            got = texts(history(al, "CHATHISTORY " + cmd, target="bob"))
            expect(got == want, "alice: CHATHISTORY %s: %s, want %s" % (cmd, got, want), t)
        # the other side, any case: the same conversation, under the name asked
        got = texts(history(bo, "CHATHISTORY LATEST ALICE * 100", target="ALICE"))
        expect(got == d(*range(8)), "bob's view: %s" % got, t)
        got = texts(history(bo, "CHATHISTORY BEFORE alice msgid=%s 2" % mid[2], target="alice"))
        expect(got == d(0, 1), "bob's view, BEFORE: %s" % got, t)
        got = texts(history(ca, "CHATHISTORY LATEST bob * 100", target="bob"))
        expect(got == ["bob to carol"], "carol with bob: %s" % got, t)
        got = texts(history(al, "CHATHISTORY LATEST carol * 100", target="carol"))
        expect(got == [x for i in range(8) for x in ("carol to alice %d" % i,
                                                       "alice to carol %d" % i)],
               "alice with carol: %s" % got, t)
        expect(history(al, "CHATHISTORY LATEST nobody * 10", target="nobody") == [],
               "a nick never seen: an empty batch", t)
        # a msgid of another conversation: none
        expect(history(al, "CHATHISTORY AFTER bob msgid=%s 10" % mid[0], target="bob") != [] and
               history(ca, "CHATHISTORY AFTER bob msgid=%s 10" % mid[0], target="bob") == [],
               "a ref from another conversation gives nothing", t)
        # one's own nick: every direct message received, from anyone
        got = texts(history(al, "CHATHISTORY LATEST alice * 100", target="alice"))
        expect(got == [x for i in range(8) for x in ((["d%d" % i] if i % 2 else []) +
                                                      ["carol to alice %d" % i])] +
               ["alice to herself"], "alice's own nick: %s" % got, t)
    finally:
        for c in (al, bo, ca):
            c.close()
