"""Actors in real trees: send and receive by name, calls that time out (callee dead, slow,
killed mid-call), forward keeping the sender, a junk frame counted and dropped. The test talks
to the tree through lc-call, a command-line actor with its own mailbox in the tree's rundir."""
import os
import re
import signal
import subprocess

from lc import Tree, Failure, sup_section, worker_section, bin_path, SLOW


def expect(cond, msg, tree=None):
    if not cond:
        raise Failure(msg + ("\nlog:\n" + tree.log() if tree else ""))


def lc_call(tree, *ops, name=None, timeout=30):
    cmd = [bin_path("lc-call"), "-r", tree.rundir] + (["-n", name] if name else []) + \
        [str(o) for o in ops]
    r = subprocess.run(cmd, env=tree.env, capture_output=True, timeout=timeout * SLOW)
    return r.returncode, r.stdout.decode().splitlines(), r.stderr.decode()


def tree(*workers):
    conf = sup_section("top", intensity=10, period=5)
    for name, args in workers:
        conf += worker_section(name, "lc-echo", args, ready="fd")
    return conf


def test_send_and_receive_by_name():
    with Tree(tree(("echo", ""))) as t:
        t.start()
        st, out, err = lc_call(t, "call", "echo", "hello", 2000,
                               "send", "echo", "tell tester hi there", "recv", 3000,
                               name="tester")
        expect(st == 0 and out == ["reply from echo: echo:hello", "sent",
                                   "recv from echo type cast: hi there"],
               "call, send, recv: %s %s" % (out, err), t)
        t.stop()


def test_call_dead_callee_times_out():
    with Tree(tree(("echo", ""))) as t:
        t.start()
        st, out, _ = lc_call(t, "call", "nobody", "x", 300, "call", "echo", "y", 2000)
        expect(out[0] in ("error: Connection timed out", "error: Resource temporarily unavailable")
               and out[1] == "reply from echo: echo:y", "dead callee: %s" % out, t)
        t.stop()


def test_slow_callee_late_reply_is_dropped():
    with Tree(tree(("slow", "--delay 400"))) as t:
        t.start()
        st, out, err = lc_call(t, "call", "slow", "first", 100, "call", "slow", "second", 3000,
                               "stats")
        expect(out[0] == "error: Connection timed out", "first call times out: %s" % out, t)
        expect(out[1] == "reply from slow: slow:second",
               "the late reply is not returned to the next call: %s" % out, t)
        expect(out[2].startswith("stale_replies=1 "), "the late reply is counted: %s" % out, t)
        t.stop()


def test_callee_killed_mid_call():
    with Tree(tree(("slow", "--delay 1000"))) as t:
        t.start()
        m = t.mark()
        p = subprocess.Popen([bin_path("lc-call"), "-r", t.rundir, "call", "slow", "x", "1500",
                              "call", "slow", "again", "3000"],
                             env=t.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            # the request is with slow once its stats show it received something
            # (stats calls are answered at once; the i-th sees received=i+1 once x is in)
            for i in range(1, 100):
                _, out, _ = lc_call(t, "call", "slow", "stats", 2000)
                if out and ("received=%d " % (i + 1)) in out[0]:
                    break
            else:
                raise Failure("the call never reached slow")
            pid = t.kill("slow")
            t.wait_event(lambda e: e.kind == "exit" and e.pid == pid, m)
            t.wait_start("slow", 2, m)
            out, err = p.communicate(timeout=20 * SLOW)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        lines = out.decode().splitlines()
        expect(lines == ["error: Connection timed out", "reply from slow: slow:again"],
               "killed mid-call: %s %s" % (lines, err.decode()), t)
        t.stop()


def test_forward_keeps_sender():
    with Tree(tree(("c", ""), ("b", "--forward c"))) as t:
        t.start()
        st, out, err = lc_call(t, "call", "b", "hop", 2000)
        expect(out == ["reply from c: c:hop"], "A calls B, B forwards to C, C replies to A: %s %s"
               % (out, err), t)
        t.stop()


def test_junk_frame_dropped_and_counted():
    with Tree(tree(("echo", ""))) as t:
        t.start()
        addr = "ipc://%s/echo" % t.rundir
        # nanocat exits right after its send, which can lose it (NANOMSG.md): it repeats
        # every 0.2 s until echo has counted one
        p = subprocess.Popen(["nanocat", "--push", "--connect", addr, "--data", "junk",
                              "--interval", "0.2"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(100):
                st, out, err = lc_call(t, "call", "echo", "stats", 2000)
                if out and not re.search(r"\bbad_frames=0\b", out[0]):
                    break
        finally:
            p.kill()
            p.wait()
        st, out, err = lc_call(t, "call", "echo", "stats", 2000, "call", "echo", "still", 2000)
        expect(len(out) == 2 and re.search(r"\bbad_frames=[1-9]", out[0]) and
               out[1] == "reply from echo: echo:still", "junk counted, echo serving: %s" % out, t)
        expect(not [e for e in t.events() if e.kind == "exit"], "nothing exited", t)
        t.wait_line(r"^lc-echo: warning: echo: dropped \d+ malformed frames? \(\d+ in all\)$")
        t.stop()


def test_pingpong_example():
    conf = open(os.path.join(os.path.dirname(__file__), "..", "..", "etc",
                             "pingpong.conf")).read()
    with Tree(conf, env={"PING_COUNT": "3"}) as t:
        t.start()
        ev = t.wait_event(lambda e: e.kind == "exit" and e.child == "ping", timeout=15)
        expect(ev.reason == "normal", "ping exits normally", t)
        rtts = re.findall(r"^lc-ping: pong seq=(\d) rtt=\d+us$", t.log(), re.M)
        expect(rtts == ["1", "2", "3"], "three round trips logged", t)
        t.stop()
