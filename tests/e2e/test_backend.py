"""The chat backend in real trees: chat-storage and two chat-session workers, driven by
lc-chatctl (a command-line actor: one chatproto message, its reply as JSON). Register, nick
collision, join, post, history; storage killed -9 while a post is retried with one dedupe key
(exactly once in history, same msgid); a session killed -9 recovers its users from the journal.
No sleeps: every wait is a reply or a log line, bounded."""
import json
import os
import signal
import subprocess
import time

from lc import Tree, Failure, sup_section, worker_section, bin_path, SLOW

NSESS = 2


def expect(cond, msg, tree=None):
    if not cond:
        raise Failure(msg + ("\nlog:\n" + tree.log() if tree else ""))


def conf():
    return (sup_section("chat", intensity=20, period=10) +
            worker_section("storage", "chat-storage", "--journal %(d)s/journal.db",
                           ready="fd", env="CHAT_GATEWAYS=0") +
            sup_section("sessions", parent="chat", intensity=20, period=10) +
            worker_section("session", "chat-session", "", parent="sessions",
                           instances=str(NSESS), ready="fd", env="CHAT_SESSIONS=%d" % NSESS) +
            # stand-ins for the gateways: sessions monitor chatd.K while it holds users
            sup_section("gateways", parent="chat", intensity=20, period=10) +
            worker_section("chatd", "lc-sleeper", "", parent="gateways", instances="2"))


def shard(nick):
    h = 2166136261
    for c in nick.lower().encode():
        h = ((h ^ c) * 16777619) & 0xffffffff
    return h % NSESS


def ctl(tree, to, typ, timeout=5, resend=0, **fields):
    cmd = [bin_path("lc-chatctl"), "-r", tree.rundir, "-t", str(int(timeout * 1000 * SLOW))]
    if resend:
        cmd += ["-R", str(resend)]
    cmd += [to, typ] + ["%s=%s" % kv for kv in fields.items()]
    r = subprocess.run(cmd, env=tree.env, capture_output=True, timeout=timeout * SLOW + 10)
    try:
        return json.loads(r.stdout.decode().splitlines()[-1])
    except (ValueError, IndexError):
        raise Failure("lc-chatctl %s: %r %r\nlog:\n%s" % (cmd, r.stdout, r.stderr, tree.log()))


def register(t, nick, conn):
    return ctl(t, "session.%d" % shard(nick), "register", rid=1, conn=conn, nick=nick,
               user="u" + nick, host="h", realname="R " + nick, account="")


def join(t, nick, conn, chan):
    return ctl(t, "session.%d" % shard(nick), "channel_op", rid=2, conn=conn, nick=nick,
               op="join", target=chan)


def post(t, nick, target, text, dedupe, **kw):
    return ctl(t, "storage", "post", rid=3, conn="chatd.0/1/1", dedupe=dedupe,
               prefix="%s!u%s@h" % (nick, nick), op="privmsg", target=target, text=text, **kw)


def history(t, nick, target, sub="latest", ref1="*", limit=50):
    return ctl(t, "storage", "history", rid=4, conn="chatd.0/1/1", nick=nick, target=target,
               op=sub, ref1=ref1, limit=limit)


def tree():
    t = Tree(conf().replace("%(d)s", "%s"), name="bk")
    # the journal lives in the tree's own directory
    with open(t.conf, "w") as f:
        f.write(conf() % {"d": t.dir})
    return t


def test_auth():
    with tree() as t:
        subprocess.run([bin_path("chat-storage"), "--journal", os.path.join(t.dir, "journal.db"),
                        "--add-account", "Alice:s3cret"], check=True, timeout=30 * SLOW,
                       env=dict(t.env, CHAT_PWHASH_FAST="1"))
        t.start()
        r = ctl(t, "storage", "auth", rid=1, conn="chatd.0/1/1", account="alice",
                password="s3cret")
        expect(r["type"] == "auth_ok" and r["account"] == "alice", "auth: %s" % r, t)
        r = ctl(t, "storage", "auth", rid=1, conn="chatd.0/1/1", account="alice", password="x")
        expect(r["type"] == "auth_fail", "bad password: %s" % r, t)
        t.stop()


def test_register_join_post_history():
    with tree() as t:
        t.start()
        r = register(t, "alice", "chatd.0/5/1")
        expect(r["type"] == "registered", "register: %s" % r, t)
        r = register(t, "ALICE", "chatd.1/7/1")
        expect(r["type"] == "nick_in_use", "collision: %s" % r, t)
        r = register(t, "alice", "chatd.0/5/1")
        expect(r["type"] == "registered", "same connection again: %s" % r, t)
        expect(register(t, "bob", "chatd.1/9/1")["type"] == "registered", "bob", t)
        r = post(t, "alice", "#lobby", "hi", "d0")
        expect(r["type"] == "post_failed" and r["status"] == 403, "unknown channel: %s" % r, t)
        r = join(t, "alice", "chatd.0/5/1", "#Lobby")
        expect(r["type"] == "channel_done" and r["status"] == 0 and r["names"] == "@alice!ualice@h",
               "join: %s" % r, t)
        r = post(t, "bob", "#lobby", "hi", "d1")
        expect(r["type"] == "post_failed" and r["status"] == 404, "not a member: %s" % r, t)
        r = post(t, "alice", "carol", "hi", "d2")
        expect(r["type"] == "post_failed" and r["status"] == 401, "no such nick: %s" % r, t)
        r = post(t, "alice", "bob", "psst", "d3")
        expect(r["type"] == "posted" and r["item"]["target"] == "bob", "dm: %s" % r, t)
        msgids = []
        for i in range(3):
            r = post(t, "alice", "#LOBBY", "hello %d" % i, "k%d" % i)
            expect(r["type"] == "posted" and r["item"]["seq"] == i + 1 and
                   len(r["item"]["msgid"]) == 16, "post %d: %s" % (i, r), t)
            msgids.append(r["item"]["msgid"])
        r = history(t, "alice", "#lobby")
        expect(r["status"] == 0 and [i["text"] for i in r["items"]] ==
               ["hello 0", "hello 1", "hello 2"] and [i["msgid"] for i in r["items"]] == msgids,
               "history: %s" % r, t)
        r = history(t, "alice", "#lobby", "before", "msgid=" + msgids[2], 1)
        expect([i["text"] for i in r["items"]] == ["hello 1"], "before: %s" % r, t)
        r = history(t, "bob", "#lobby")
        expect(r["status"] == 403 and r["items"] == [], "history, not a member: %s" % r, t)
        # the join point: bob's live stream starts after the 3 messages and alice's JOIN (1)
        r = join(t, "bob", "chatd.1/9/1", "#lobby")
        expect(r["status"] == 0 and r["seq"] == 3 and r["evseq"] == 2, "bob joins: %s" % r, t)
        post(t, "alice", "#lobby", "hello 3", "k3")
        r = join(t, "bob", "chatd.1/9/1", "#lobby")
        expect(r["status"] == 0 and r["seq"] == 3 and r["evseq"] == 2,
               "a retried JOIN has the same join point: %s" % r, t)
        t.kill("storage")
        t.wait_start("storage", n=2)
        r = join(t, "bob", "chatd.1/9/1", "#lobby")
        expect(r["status"] == 0 and r["seq"] == 3 and r["evseq"] == 2,
               "the join point survives a storage restart: %s" % r, t)
        r = ctl(t, "session.%d" % shard("bob"), "channel_op", rid=6, conn="chatd.1/9/1",
                nick="bob", op="part", target="#lobby")
        expect(r["status"] == 0, "bob parts: %s" % r, t)
        r = ctl(t, "session.%d" % shard("alice"), "unregister", rid=5, conn="chatd.0/5/1",
                nick="alice", text="bye")
        expect(r["type"] == "ack", "unregister: %s" % r, t)
        r = post(t, "alice", "#lobby", "gone", "k9")
        expect(r["status"] == 403, "the channel emptied by the quit: %s" % r, t)
        expect(register(t, "ALICE", "chatd.1/7/1")["type"] == "registered", "nick free", t)
        t.stop()


def test_storage_kill9_retry_exactly_once():
    with tree() as t:
        t.start()
        register(t, "carol", "chatd.0/3/1")
        join(t, "carol", "chatd.0/3/1", "#k")
        first = post(t, "carol", "#k", "before", "c0")
        pid = t.kill("storage")
        mark = len(t.lines)
        # the retries start while storage is dead and go on until the restarted one answers
        r = post(t, "carol", "#k", "once", "c1", timeout=15, resend=100)
        t.wait_event(lambda e: e.kind == "start" and e.child == "storage" and e.pid != pid,
                     timeout=10)
        expect(r["type"] == "posted" and r["item"]["seq"] == 2, "post after kill: %s" % r, t)
        again = post(t, "carol", "#k", "once", "c1")
        expect(again["item"]["msgid"] == r["item"]["msgid"] and again["item"]["seq"] == 2,
               "retry of a committed post: %s vs %s" % (again, r), t)
        pid = t.kill("storage")
        r3 = post(t, "carol", "#k", "once", "c1", timeout=15, resend=100)
        expect(r3["item"]["msgid"] == r["item"]["msgid"], "retry across a restart: %s" % r3, t)
        h = history(t, "carol", "#k")
        expect([i["text"] for i in h["items"]] == ["before", "once"] and
               h["items"][0]["msgid"] == first["item"]["msgid"],
               "exactly once in history: %s" % h, t)
        t.stop()


def test_session_kill9_recovers_users():
    with tree() as t:
        t.start()
        nick = "dave"
        s = "session.%d" % shard(nick)
        expect(register(t, nick, "chatd.0/4/1")["type"] == "registered", "register", t)
        expect(join(t, nick, "chatd.0/4/1", "#r")["status"] == 0, "join", t)
        pid = t.kill(s)
        # sent while the session is down or recovering: answered once it has its users back
        r = ctl(t, s, "register", timeout=15, resend=200, rid=7, conn="chatd.1/8/1", nick=nick,
                user="x", host="h", realname="X", account="")
        expect(r["type"] == "nick_in_use", "after recovery the nick is still taken: %s" % r, t)
        expect(t.pid(s) != pid, "restarted", t)
        expect(t.wait_line(r"chat-session: session\.%d: recovered 1 users" % shard(nick)),
               "recovery logged", t)
        r = ctl(t, s, "channel_op", rid=8, conn="chatd.0/4/1", nick=nick, op="part",
                target="#r", text="bye")
        expect(r["status"] == 0, "the recovered user parts: %s" % r, t)
        r = ctl(t, s, "unregister", rid=9, conn="chatd.0/4/1", nick=nick, text="bye")
        expect(register(t, nick, "chatd.1/8/1")["type"] == "registered", "re-register", t)
        t.stop()


def test_gateway_death_unregisters_its_users():
    with tree() as t:
        t.start()
        expect(register(t, "erin", "chatd.1/3/1")["type"] == "registered", "register", t)
        expect(register(t, "frank", "chatd.0/3/1")["type"] == "registered", "register", t)
        t.kill("chatd.1")
        # the DOWN and our request come from different senders: ask until it is seen (bounded)
        deadline = time.monotonic() + 10 * SLOW
        while True:
            r = register(t, "erin", "chatd.0/9/1")
            if r["type"] == "registered" or time.monotonic() > deadline:
                break
        expect(r["type"] == "registered", "erin's nick freed by her gateway's death: %s" % r, t)
        r = register(t, "frank", "chatd.1/9/1")
        expect(r["type"] == "nick_in_use", "frank (on chatd.0) still there: %s" % r, t)
        t.stop()


def test_request_from_a_dead_gateway_incarnation():
    """A REGISTER sent by a gateway just before it died, served after the session saw the
    death (here: sent after it, with the dead incarnation's pid in the connection id), must
    not hold the nick; and that incarnation's DOWN must leave the next one's users alone."""
    with tree() as t:
        t.start()
        old = t.pid("chatd.0")
        mark = t.mark()
        t.kill("chatd.0")
        new = t.wait_event(lambda e: e.kind == "start" and e.child == "chatd.0" and
                           e.pid != old, mark, what="chatd.0 restarted").pid
        keep = "chatd.0/4/2/%d" % new
        expect(register(t, "keep", keep)["type"] == "registered", "keep on the new chatd.0", t)
        other = "chatd.1/5/1/%d" % t.pid("chatd.1")
        mark = t.mark()
        r = register(t, "ghost", "chatd.0/3/1/%d" % old)
        expect(r["type"] == "registered", "the late request is served: %s" % r, t)
        t.wait_line(r"chatd\.0 \(pid %d\) is down \(noproc\)" % old, mark)
        # the ghost's nick was given back: a live connection takes it
        deadline = time.monotonic() + 10 * SLOW
        while True:
            r = register(t, "ghost", other)
            if r["type"] == "registered" or time.monotonic() > deadline:
                break
        expect(r["type"] == "registered", "a dead incarnation's late REGISTER holds "
               "no nick: %s" % r, t)
        r = register(t, "keep", "chatd.1/6/1/%d" % t.pid("chatd.1"))
        expect(r["type"] == "nick_in_use", "the old incarnation's DOWN left the new one's "
               "user: %s" % r, t)
        # a live incarnation's user stays, and goes with that incarnation's death
        mark = t.mark()
        t.kill("chatd.0")
        t.wait_line(r"chatd\.0 \(pid %d\) is down" % new, mark)
        deadline = time.monotonic() + 10 * SLOW
        while True:
            r = register(t, "keep", "chatd.1/7/1/%d" % t.pid("chatd.1"))
            if r["type"] == "registered" or time.monotonic() > deadline:
                break
        expect(r["type"] == "registered", "keep freed by her incarnation's death: %s" % r, t)
        t.stop()
