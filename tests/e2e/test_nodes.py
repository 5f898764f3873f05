"""Remote nodes (docs/nodes.md): two trees, each with its own run directory and an lc-node
router on 127.0.0.1, run from the shipped etc/node-east.conf and etc/node-west.conf. An actor
of one calls an actor of the other by node-qualified name and gets the reply; a cast arrives;
a call to a node that is down times out. The router alone: it packs messages for one mailbox
into one frame with their bytes unchanged, and counts and drops malformed frames, messages for
other nodes and impossible names without dying."""
import os
import signal
import socket
import struct
import subprocess
import time

from lc import Tree, Failure, sup_section, worker_section, bin_path, SRC, SLOW

VALGRIND = False


def expect(cond, msg, tree=None):
    if not cond:
        raise Failure(msg + ("\nlog:\n" + tree.log() if tree else ""))


def free_ports(n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def need(*progs):
    for p in progs:
        if not os.access(bin_path(p), os.X_OK):
            raise Failure("%s is not built" % p)


def wire(frm, to, body, typ=1, flags=0, ref=0):
    """One message in the wire format of ipc/include/letitcrash/msg.h (encoder for tests)."""
    frm, to = frm.encode(), to.encode()
    return struct.pack(">BBHHBBQI", 0x4c, 1, typ, flags, len(frm), len(to), ref,
                       len(body)) + frm + to + body


def nodes_env(ports, extra=""):
    nodes = "east=tcp://127.0.0.1:%d,west=tcp://127.0.0.1:%d" % tuple(ports) + extra
    return {"LETITCRASH_NODES": nodes}


def node_tree(name, ports, extra=""):
    conf = open(os.path.join(SRC, "etc", "node-%s.conf" % name)).read()
    return Tree(conf, env=nodes_env(ports, extra), name=name)


def rcall(tree, node, *args, timeout=10):
    env = dict(tree.env, LETITCRASH_RUNDIR=tree.rundir, LETITCRASH_NODE=node)
    r = subprocess.run([bin_path("lc-rcall")] + list(args), env=env, capture_output=True,
                       timeout=timeout * SLOW)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


# --- two trees -----------------------------------------------------------------------------

def test_call_and_cast_across_nodes():
    need("lc-node", "lc-rcall")
    ports = free_ports(2)
    with node_tree("east", ports) as east, node_tree("west", ports) as west:
        east.start()
        west.start()
        rc, out, err = rcall(east, "east", "-a", "client", "call", "pong@west", "hello")
        expect(rc == 0 and out == "pong@west: hello\n",
               "call east -> pong@west: rc=%d out=%r err=%r" % (rc, out, err), west)
        rc, out, err = rcall(west, "west", "-a", "client", "call", "pong@east", "back")
        expect(rc == 0 and out == "pong@east: back\n",
               "call west -> pong@east: rc=%d out=%r err=%r" % (rc, out, err), east)
        m = west.mark()
        rc, out, err = rcall(east, "east", "-a", "caster", "cast", "pong@west", "a cast")
        expect(rc == 0, "cast: rc=%d err=%r" % (rc, err))
        west.wait_line(r"lc-rcall: pong: cast from caster@east: a cast$", since=m)
        # Both trees are still whole: nothing restarted.
        for t in (east, west):
            expect(not [e for e in t.events() if e.kind == "exit"], "no exits", t)
        east.stop()
        west.stop()


def test_call_to_a_node_that_is_down_times_out():
    need("lc-node", "lc-rcall")
    ports = free_ports(3)       # the third: a node named in LETITCRASH_NODES, never started
    with node_tree("east", ports[:2], ",south=tcp://127.0.0.1:%d" % ports[2]) as east:
        east.start()
        t0 = time.monotonic()
        rc, out, err = rcall(east, "east", "-a", "client", "-t", "500", "call", "pong@south",
                             "anyone?")
        dt = time.monotonic() - t0
        expect(rc == 1 and "timed out" in err, "rc=%d out=%r err=%r" % (rc, out, err), east)
        expect(dt < 5 * SLOW, "the timeout was kept: %.2fs" % dt)
        # The west node is down too (its tree never started): same answer.
        rc, out, err = rcall(east, "east", "-a", "client", "-t", "300", "call", "pong@west", "x")
        expect(rc == 1 and "timed out" in err, "rc=%d err=%r" % (rc, err), east)
        east.stop()


# --- the router alone ------------------------------------------------------------------------

def router_tree(port):
    conf = sup_section("east") + worker_section(
        "node", "lc-node", ready="fd",
        env="LETITCRASH_NODE=east\n\tLETITCRASH_NODES=east=tcp://127.0.0.1:%d" % port)
    return Tree(conf, name="router")


class Pull:
    """nanocat bound as the mailbox ipc://RUNDIR/NAME, printing every frame it gets (hex)."""

    def __init__(self, tree, name):
        self.path = os.path.join(tree.dir, "pull." + name)
        self.out = open(self.path, "w")
        self.proc = subprocess.Popen(["nanocat", "--pull", "--bind",
                                      "ipc://%s/%s" % (tree.rundir, name), "--hex"],
                                     stdout=self.out, stderr=subprocess.STDOUT)
        tree.track_pid(self.proc.pid)

    def frames(self):
        text = open(self.path).read()
        out = []
        for line in text.splitlines():
            line = line.strip()
            if line.startswith('"') and line.endswith('"'):
                out.append(bytes.fromhex(line[1:-1].replace("\\x", "")))
        return out

    def wait_frames(self, n, timeout=5):
        end = time.monotonic() + timeout * SLOW
        while time.monotonic() < end:
            if len(self.frames()) >= n:
                return self.frames()
            time.sleep(0.02)    # nanocat's output file gives no event
        raise Failure("%d frame(s) expected, got %r" % (n, self.frames()))

    def close(self):
        self.proc.kill()
        self.proc.wait()
        self.out.close()


def push(tree, port, data):
    """Send one frame to the router with nanocat (connect, send once, leave): nanocat repeats
    every 5 s, so it is stopped as soon as the router has counted one more frame."""
    path = os.path.join(tree.dir, "frame")
    with open(path, "wb") as f:
        f.write(data)
    before = int(router_stats(tree, tree.mark())["frames_in"])
    p = subprocess.Popen(["nanocat", "--push", "--connect", "tcp://127.0.0.1:%d" % port,
                          "-F", path, "-d", "0.1", "-i", "5"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_stats(tree, lambda st: int(st["frames_in"]) > before, "the frame to arrive")
    finally:
        p.kill()
        p.wait()


def router_stats(tree, since):
    pid = tree.pid("node")
    os.kill(pid, signal.SIGUSR1)
    line = tree.wait_line(r"lc-node: east: stats: ", since=since)
    return dict(kv.split("=") for kv in line.split("stats: ", 1)[1].split())


def wait_stats(tree, pred, what, timeout=10):
    """Ask the router for its counters (SIGUSR1, answered in the log) until pred holds."""
    end = time.monotonic() + timeout * SLOW
    while True:
        st = router_stats(tree, tree.mark())
        if pred(st):
            return st
        if time.monotonic() > end:
            raise Failure("router counters never showed %s: %s" % (what, st))


def test_router_packs_for_one_mailbox_and_drops_what_it_must():
    need("lc-node")
    port, = free_ports(1)
    with router_tree(port) as t:
        t.start()
        pid = t.pid("node")
        pull = Pull(t, "pong")
        try:
            a = wire("a@west", "pong@east", b"hello", typ=2, flags=1, ref=7)
            b = wire("a@west", "pong", b"plain name")
            other = wire("a@west", "pong@south", b"not ours")
            evil = wire("a@west", "../../x@east", b"escape")
            push(t, port, a + other + b + evil)
            frames = pull.wait_frames(1)
            expect(frames[0] == a + b, "one frame, both messages, bytes unchanged: %r" % frames)

            push(t, port, b"junk: not a frame")
            push(t, port, a[:-1])                  # truncated
            push(t, port, b"\x4c\x02" + a[2:])     # another version
            m = t.mark()
            st = router_stats(t, m)
            expect(st["bad_frames"] == "3" and st["other_node"] == "1" and
                   st["bad_name"] == "1" and st["msgs_out"] == "2", "counters: %s" % st, t)

            push(t, port, b)                       # still routing, same process
            frames = pull.wait_frames(2)
            expect(frames[1] == b, "after junk: %r" % frames)
            expect(t.pid("node") == pid and pid in t.alive_pids(), "the router never died", t)
        finally:
            pull.close()
        t.stop()


def test_router_keeps_frames_until_the_mailbox_is_bound():
    need("lc-node")
    port, = free_ports(1)
    with router_tree(port) as t:
        t.start()
        a = wire("a@west", "late@east", b"early bird")
        push(t, port, a)                           # nobody has the mailbox yet
        pull = Pull(t, "late")                     # bound within DEST_TIMEOUT_MS (1 s)
        try:
            frames = pull.wait_frames(1)
            expect(frames == [a], "the waiting frame arrives: %r" % frames)
        finally:
            pull.close()
        # A mailbox nobody binds: its frames are dropped after 1 s, counted.
        push(t, port, wire("a@west", "nobody", b"lost"))
        st = wait_stats(t, lambda st: st["dropped_down"] != "0", "the drop (after 1 s)")
        expect(st["dropped_down"] == "1", "dropped and counted: %s" % st, t)
        t.stop()


def test_router_with_more_destinations_than_its_cache():
    need("lc-node")
    port, = free_ports(1)
    with router_tree(port) as t:
        t.start()
        pid = t.pid("node")
        pull = Pull(t, "n79")
        try:
            msgs = [wire("a@west", "n%d@east" % i, b"m%d" % i) for i in range(80)]
            push(t, port, b"".join(msgs))          # 80 mailboxes, 64 sockets at most
            frames = pull.wait_frames(1)
            expect(frames == [msgs[79]], "the bound one gets its message: %r" % frames)
        finally:
            pull.close()
        st = wait_stats(t, lambda st: st["dropped_down"] == "79",   # the others time out
                        "79 frames dropped")
        expect(st["msgs_out"] == "1" and st["dropped_down"] == "79" and
               int(st["evicted"]) >= 16, "counters: %s" % st, t)
        expect(t.pid("node") == pid and pid in t.alive_pids(), "the router never died", t)
        t.stop()
