"""chatd against chat-fake (tests/e2e/chat-fake.c, an in-memory stand-in for chat-session and
chat-storage speaking chatproto.h): the flows through the backend. Registration and the welcome
burst, nick collisions, JOIN/NAMES/TOPIC/PART, PRIVMSG with echo-message and identical msgids,
errors (412, 403, NOTICE silent), CHATHISTORY batches, labeled-response, QUIT freeing the nick,
fan-out gaps repaired from storage, and a storage worker killed -9 while a message is out."""
import base64
import os
import re
import signal
import time

from lc import Tree, Failure, sup_section, worker_section, SLOW
from test_chatd import Client, expect, free_port, stop_clean, SERVER

VALGRIND = True
ALLCAPS = "message-tags server-time echo-message batch labeled-response draft/chathistory"


def fake_tree(port, env=None):
    conf = sup_section("chat", intensity=20, period=10)
    conf += worker_section("storage", "chat-fake", "storage", parent="chat", ready="fd")
    conf += sup_section("sessions", parent="chat", intensity=10, period=10)
    conf += worker_section("session", "chat-fake", "session", parent="sessions", ready="fd",
                           instances=1)
    conf += sup_section("gateways", parent="chat", intensity=10, period=10)
    conf += worker_section("chatd", "chatd", "--listen 127.0.0.1:%d --name %s" % (port, SERVER),
                           parent="gateways", ready="fd", instances=1)
    e = {"CHAT_SESSIONS": "1", "CHAT_GATEWAYS": "1"}
    e.update(env or {})
    return Tree(conf, name="chatf", env=e)


def register(port, nick, caps=None):
    c = Client(port)
    if caps:
        c.send("CAP LS 302", "CAP REQ :" + caps)
    c.send("NICK " + nick, "USER %s 0 * :%s" % (nick, nick.title()))
    if caps:
        c.send("CAP END")
    lines = c.until(lambda l: " 422 " in l)
    nums = [l.split()[1] for l in lines if re.match(r"^:test\.srv \d{3} ", l)]
    expect(nums == ["001", "002", "003", "004", "005", "422"], "welcome burst: %s" % lines)
    return c


def tags(line):
    if not line.startswith("@"):
        return {}, line
    t, rest = line[1:].split(" ", 1)
    return dict(kv.split("=", 1) if "=" in kv else (kv, "") for kv in t.split(";")), rest


def test_flows():
    port = free_port()
    with fake_tree(port) as t:
        t.start()
        a = register(port, "alice", ALLCAPS)
        b = register(port, "bob", "message-tags")
        # a second connection asking for a taken nick: 433, then it may pick another
        c = Client(port)
        c.send("NICK Alice", "USER c 0 * :C")
        expect(c.line() == ":test.srv 433 * Alice :Nickname is already in use", "433", t)
        c.send("NICK carol")
        expect(c.until(lambda l: " 422 " in l)[0].startswith(":test.srv 001 carol "), "carol", t)

        a.send("JOIN #room")
        got = a.sync()
        expect(got == [":alice!alice@127.0.0.1 JOIN #room",
                       ":test.srv 353 alice = #room :@alice",
                       ":test.srv 366 alice #room :End of /NAMES list"], "JOIN: %s" % got, t)
        b.send("join #Room")
        got = b.sync()
        expect(got[0] == ":bob!bob@127.0.0.1 JOIN #Room" and
               got[1] == ":test.srv 353 bob = #Room :@alice bob", "bob JOIN: %s" % got, t)
        l = tags(a.line())[1]
        expect(l == ":bob!bob@127.0.0.1 JOIN #room", "alice sees bob's JOIN: %r" % l, t)

        a.send("PRIVMSG #room :hello there")
        echo = a.sync()
        expect(len(echo) == 1, "one echo before the PONG: %s" % echo, t)
        et, erest = tags(echo[0])
        expect(erest == ":alice!alice@127.0.0.1 PRIVMSG #room :hello there" and
               re.match(r"^[0-9a-f]{16}$", et.get("msgid", "")) and "time" in et,
               "echo with msgid and time: %s" % echo, t)
        bt, brest = tags(b.line())
        expect(brest == ":alice!alice@127.0.0.1 PRIVMSG #room :hello there" and
               bt.get("msgid") == et["msgid"] and bt.get("time") == et["time"],
               "bob's copy, same msgid and time: %s %s" % (bt, brest), t)

        a.send("PRIVMSG #room :", "NOTICE #nowhere :x", "PRIVMSG #nowhere :x", "PRIVMSG",
               "FROB")
        got = a.sync()
        expect(got == [":test.srv 412 alice :No text to send",
                       ":test.srv 403 alice #nowhere :No such channel",
                       ":test.srv 411 alice :No recipient given",
                       ":test.srv 421 alice FROB :Unknown command"], "errors: %s" % got, t)

        a.send("CHATHISTORY LATEST #room * 10")
        got = a.sync()
        ref = re.match(r"^:test\.srv BATCH \+(\S+) chathistory #room$", got[0])
        expect(ref and len(got) == 3 and got[2] == ":test.srv BATCH -" + ref.group(1),
               "history batch: %s" % got, t)
        ht, hrest = tags(got[1])
        expect(ht.get("batch") == ref.group(1) and ht.get("msgid") == et["msgid"] and
               ht.get("time") == et["time"] and hrest == erest, "history row: %s" % got, t)

        a.send("@label=L1 PING :lab", "@label=L2 PONG :x", "@label=L3 JOIN #other")
        got = a.sync()
        expect(got[0] == "@label=L1 :test.srv PONG test.srv :lab", "labeled PONG: %s" % got, t)
        expect(got[1] == "@label=L2 :test.srv ACK", "ACK: %s" % got, t)
        lb = re.match(r"^@label=L3 :test\.srv BATCH \+(\S+) labeled-response$", got[2])
        expect(lb and got[-1] == ":test.srv BATCH -" + lb.group(1) and len(got) == 7 and
               all(l.startswith("@batch=%s " % lb.group(1)) for l in got[3:-1]),
               "labeled JOIN batch: %s" % got, t)

        a.send("TOPIC #room :the topic")
        expect(a.sync() == [":alice!alice@127.0.0.1 TOPIC #room :the topic"], "own TOPIC", t)
        expect(tags(b.line())[1] == ":alice!alice@127.0.0.1 TOPIC #room :the topic", "TOPIC", t)
        b.send("TOPIC #room")
        got = b.sync()
        expect(got[0] == ":test.srv 332 bob #room :the topic" and
               got[1].startswith(":test.srv 333 bob #room alice!alice@127.0.0.1 "),
               "332/333: %s" % got, t)

        b.send("PART #room :bye")
        expect(b.sync() == [":bob!bob@127.0.0.1 PART #room :bye"], "own PART", t)
        expect(tags(a.line())[1] == ":bob!bob@127.0.0.1 PART #room :bye", "PART seen", t)

        a.send("QUIT :done", "PING :never")
        got = a.until(lambda l: l.startswith("ERROR"))
        expect(got == ["ERROR :Closing Link: 127.0.0.1 (Quit: done)"], "ERROR: %s" % got, t)
        expect(a.line() == "", "closed after ERROR", t)
        # the nick is free again once UNREGISTER has reached the session: 433 until then
        end = time.monotonic() + 10 * SLOW
        while True:
            n = Client(port)
            n.send("NICK alice", "USER alice 0 * :Alice")
            got = n.until(lambda l: re.match(r"^:test\.srv (001|433) ", l) is not None)
            n.close()
            if " 001 " in got[-1]:
                break
            expect(time.monotonic() < end, "alice never free again: %s" % got, t)
        for x in (a, b, c):
            x.close()
        stop_clean(t)


def test_fanout_gaps_are_repaired():
    port = free_port()
    with fake_tree(port, {"FAKE_DROP_EVERY": "3"}) as t:
        t.start()
        a = register(port, "alice", "echo-message")
        b = register(port, "bob", "message-tags")
        for c in (a, b):
            c.send("JOIN #r")
            c.sync()
        a.line(0.5)                     # bob's JOIN, unless it was the dropped one
        for i in range(10):
            a.send("PRIVMSG #r :m%d" % i)
        a.sync()
        got = []
        end = time.monotonic() + 5
        while len(got) < 10 and time.monotonic() < end:
            l = b.line(1)
            if l:
                got.append(tags(l)[1])
        expect(got == [":alice!alice@127.0.0.1 PRIVMSG #r :m%d" % i for i in range(10)],
               "all 10, in order, once: %s" % got, t)
        expect(b.line(1.5) is None, "no duplicate after the repair", t)
        a.close()
        b.close()
        stop_clean(t)


def test_storage_killed_message_still_goes_through():
    port = free_port()
    with fake_tree(port) as t:
        t.start()
        a = register(port, "alice", "echo-message")
        b = register(port, "bob")
        m = t.mark()
        t.kill("storage")
        a.send("PRIVMSG bob :survives")
        t0 = time.monotonic()
        got = a.sync(timeout=15)
        expect(got == [":alice!alice@127.0.0.1 PRIVMSG bob :survives"],
               "the echo after the restart: %s" % got, t)
        t.wait_start("storage", 2, m)
        expect(b.line(5) == ":alice!alice@127.0.0.1 PRIVMSG bob :survives", "delivered", t)
        expect(b.line(1) is None, "once", t)
        print("  (answered after %.1fs)" % (time.monotonic() - t0))
        a.close()
        b.close()
        stop_clean(t)


def test_storage_down_request_resent_until_answered():
    port = free_port()
    with fake_tree(port) as t:
        t.start()
        a = register(port, "alice", "echo-message")
        t.supctl("terminate", "chat", "storage")
        m = t.mark()
        a.send("PRIVMSG alice :to myself", "PING :later")
        expect(a.line(3) is None and not a.closed, "the client waits, no error", t)
        t.wait_line(r"^chatd: chatd\.0: no answer from storage to post rid=\d+ after 2000 ms: "
                    r"resending", m, timeout=5)
        t.supctl("restart", "chat", "storage")
        got = a.until(lambda l: l.endswith("PONG test.srv :later"), timeout=15)
        # the echo, then the copy as the recipient (a direct message to oneself), then PONG
        expect(got == [":alice!alice@127.0.0.1 PRIVMSG alice :to myself"] * 2 +
               [":test.srv PONG test.srv :later"], "answered once storage is back: %s" % got, t)
        expect(a.line(4) is None, "nothing twice", t)
        a.close()
        stop_clean(t)


def test_sasl_plain():
    port = free_port()
    with fake_tree(port) as t:
        t.start()
        c = Client(port)
        c.send("CAP LS 302", "NICK alice", "USER alice 0 * :A", "CAP REQ :sasl",
               "AUTHENTICATE PLAIN")
        got = c.until(lambda l: l.startswith("AUTHENTICATE"))
        expect(got[-2:] == [":test.srv CAP * ACK :sasl", "AUTHENTICATE +"], "PLAIN: %s" % got, t)
        c.send("AUTHENTICATE " + base64.b64encode(b"\0alice\0wrong").decode())
        expect(c.line() == ":test.srv 904 * :SASL authentication failed", "904", t)
        c.send("AUTHENTICATE PLAIN")
        expect(c.line() == "AUTHENTICATE +", "again", t)
        c.send("AUTHENTICATE " + base64.b64encode(b"\0alice\0secret").decode())
        got = c.sync()
        expect(got == [":test.srv 900 * alice!alice@127.0.0.1 alice :You are now logged in",
                       ":test.srv 903 * :SASL authentication successful"], "900/903: %s" % got,
               t)
        expect(c.line(0.3) is None, "no welcome before CAP END", t)
        c.send("CAP END")
        expect(c.until(lambda l: " 422 " in l)[0].startswith(":test.srv 001 alice "), "001", t)
        c.close()
        stop_clean(t)
