"""chatd alone (no session, no storage worker yet): what a gateway does on its own. CAP
negotiation, PING before registration, 451/410/417/432, framing (NUL lines, one byte per send),
a client that never reads is dropped without stalling the others, two gateways share the port
(SO_REUSEPORT), and registration waits (the client sees a delay, never an error) while no
session worker answers. Clients are plain Python sockets with bounded timeouts."""
import re
import socket
import threading
import time

from lc import Tree, Failure, sup_section, worker_section, SLOW, free_port

SERVER = "test.srv"
VALGRIND = True          # run under valgrind by `make check-valgrind` too


def expect(cond, msg, tree=None):
    if not cond:
        raise Failure(msg + ("\nlog:\n" + tree.log() if tree else ""))


def stop_clean(t):
    """Stop the tree; chatd must only ever have exited for the shutdown, sanitizers silent."""
    t.stop()
    bad = [e for e in t.events() if e.kind == "exit" and e.child.startswith("chatd")
           and e.reason != "shutdown"]
    expect(not bad, "chatd exits: %s" % bad, t)
    expect(not re.search(r"AddressSanitizer|LeakSanitizer|runtime error:", t.log()),
           "sanitizer reports", t)



def gateway_tree(port, instances=1, args=""):
    conf = sup_section("chat", intensity=10, period=10)
    conf += sup_section("gateways", parent="chat", intensity=10, period=10)
    conf += worker_section("chatd", "chatd", "--listen 127.0.0.1:%d --name %s %s" %
                           (port, SERVER, args), parent="gateways", ready="fd",
                           instances=instances, env="CHAT_SESSIONS=2")
    return Tree(conf, name="chatd")


class Client:
    def __init__(self, port, rcvbuf=None, src=None):
        self.s = socket.socket()
        if rcvbuf:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if src:                 # a source address of 127.0.0.0/8 (per-IP limits)
            self.s.bind((src, 0))
        self.s.settimeout(5 * SLOW)
        self.s.connect(("127.0.0.1", port))
        self.buf = b""
        self.closed = False

    def send(self, *lines):
        self.s.sendall(b"".join((l if isinstance(l, bytes) else l.encode()) + b"\r\n"
                                for l in lines))

    def line(self, timeout=5):
        """The next line (without CRLF), None on timeout, "" when the server closed."""
        end = time.monotonic() + timeout * SLOW
        while b"\n" not in self.buf:
            left = end - time.monotonic()
            if left <= 0:
                return None
            self.s.settimeout(left)
            try:
                data = self.s.recv(65536)
            except socket.timeout:
                return None
            except ConnectionResetError:
                data = b""
            if not data:
                self.closed = True
                return ""
            self.buf += data
        raw, self.buf = self.buf.split(b"\n", 1)
        expect(raw.endswith(b"\r"), "line without CRLF: %r" % raw)
        return raw[:-1].decode(errors="replace")

    def until(self, pred, timeout=5):
        """Lines up to and including the first satisfying pred."""
        out = []
        while True:
            l = self.line(timeout)
            if l is None or l == "":
                raise Failure("no matching line; got %r (closed=%s)" % (out, self.closed))
            out.append(l)
            if pred(l):
                return out

    def sync(self, token="sync", timeout=5):
        """Everything before the PONG for a PING we send now."""
        self.send("PING :" + token)
        out = self.until(lambda l: re.match(r"^:\S+ PONG \S+ :%s$" % re.escape(token), l),
                         timeout)
        return out[:-1]

    def close(self):
        self.s.close()


def test_cap_negotiation_and_commands_before_registration():
    port = free_port()
    with gateway_tree(port) as t:
        t.start()
        c = Client(port)
        c.send("CAP LS 302")
        ls = c.line()
        m = re.match(r"^:test\.srv CAP \* LS :(.*)$", ls or "")
        expect(m, "CAP LS: %r" % ls, t)
        caps = set(m.group(1).split())
        for cap in ("message-tags", "server-time", "echo-message", "batch", "labeled-response",
                    "sasl=PLAIN", "multi-prefix", "draft/chathistory"):
            expect(cap in caps, "%s offered: %s" % (cap, caps), t)
        c.send("CAP LIST")
        expect(c.line() == ":test.srv CAP * LIST :", "empty CAP LIST", t)
        c.send("CAP REQ :server-time batch")
        expect(c.line() == ":test.srv CAP * ACK :server-time batch", "ACK verbatim", t)
        c.send("CAP REQ :server-time no-such-cap")
        expect(c.line() == ":test.srv CAP * NAK :server-time no-such-cap", "NAK all", t)
        c.send("CAP LIST")
        expect(c.line() == ":test.srv CAP * LIST :batch server-time", "LIST after NAK", t)
        c.send("CAP FOO")
        expect(c.line() == ":test.srv 410 * FOO :Invalid CAP command", "410", t)
        c.send("PING :early")
        expect(c.line() == ":test.srv PONG test.srv :early", "PING before registration", t)
        c.send("JOIN :")
        expect(c.line() == ":test.srv 451 * :You have not registered", "irssi's JOIN : gets 451", t)
        c.send("PRIVMSG #a :hi", "FOO bar")
        got = c.sync()
        expect(got == [":test.srv 451 * :You have not registered"] * 2, "451s: %s" % got, t)
        c.send("NICK *")
        expect(c.line() == ":test.srv 432 * * :Erroneous nickname", "NICK * gets 432", t)
        c.send("NICK", "USER u 0 * :")
        got = c.sync()
        expect(got == [":test.srv 431 * :No nickname given",
                       ":test.srv 461 * USER :Not enough parameters"], "431, 461: %s" % got, t)
        c.close()
        stop_clean(t)


def test_framing_long_lines_nul_and_one_byte_at_a_time():
    port = free_port()
    with gateway_tree(port) as t:
        t.start()
        c = Client(port)
        c.send("PING :" + "x" * 600)
        expect(c.line() == ":test.srv 417 * :Input line was too long", "417", t)
        c.s.sendall(b"PING :bad\x00byte\r\nPING :fine\n")
        expect(c.line() == ":test.srv PONG test.srv :fine", "NUL line dropped, bare LF ok", t)
        # a 4096-byte tag section is still fine
        c.send("@+x=" + "y" * 4090 + " PING :tags")
        expect(c.line() == ":test.srv PONG test.srv :tags", "big tags accepted", t)
        for b in b"ping :slow\r\n":
            c.s.send(bytes([b]))
            time.sleep(0.002)
        expect(c.line() == ":test.srv PONG test.srv :slow", "one byte per send", t)
        # dozens of lines back to back are delayed, never dropped
        c.send(*["PING :n%d" % i for i in range(60)])
        got = [c.line(10) for _ in range(60)]
        expect(got == [":test.srv PONG test.srv :n%d" % i for i in range(60)],
               "60 pipelined PINGs in order: %s" % got[-3:], t)
        c.close()
        stop_clean(t)


def test_registration_waits_while_no_session_worker():
    port = free_port()
    with gateway_tree(port) as t:
        t.start()
        c = Client(port)
        m = t.mark()
        c.send("CAP LS 302", "NICK alice", "USER alice 0 * :Alice", "CAP END", "PING :after")
        expect(c.line().startswith(":test.srv CAP * LS"), "CAP LS", t)
        # REGISTER is out at a session that does not exist: later lines (PING too) wait
        got = c.line(timeout=3)
        expect(got is None and not c.closed, "no reply, no error, still open: %r" % got, t)
        t.wait_line(r"^chatd: chatd\.0: no answer from session\.\d to (nick|register) rid=\d+ "
                    r"after 2000 ms: resending", m, timeout=5)
        expect(c.line(timeout=0.5) is None and not c.closed, "still waiting", t)
        c.close()
        stop_clean(t)


def test_client_that_never_reads_is_dropped_without_stalling_others():
    port = free_port()
    with gateway_tree(port, args="--flood 0 --sendq 65536") as t:
        t.start()
        slow = Client(port, rcvbuf=4096)
        other = Client(port)
        done = threading.Event()
        err = []

        def flood():
            line = ("PING :" + "z" * 480 + "\r\n").encode()
            try:
                for _ in range(40000):
                    slow.s.sendall(line * 10)
                    if done.is_set():
                        break
            except OSError as e:
                err.append(e)
        th = threading.Thread(target=flood, daemon=True)
        th.start()
        worst = 0
        end = time.monotonic() + 30 * SLOW
        while time.monotonic() < end and th.is_alive():
            t0 = time.monotonic()
            expect(other.sync("o") == [], "the other client is served", t)
            worst = max(worst, time.monotonic() - t0)
            time.sleep(0.05)
        done.set()
        th.join(5)
        expect(err, "the reader that never reads was disconnected", t)
        t.wait_line(r"SendQ exceeded", timeout=5)
        expect(worst < 1.0, "the other client never waited long: %.3fs" % worst, t)
        expect(other.sync("after") == [], "still served after the drop", t)
        slow.close()
        other.close()
        stop_clean(t)


def test_two_gateways_share_the_port():
    port = free_port()
    with gateway_tree(port, instances=2) as t:
        t.start()
        m = t.mark()
        clients = []
        for i in range(16):
            c = Client(port)
            c.send("NICK user%d" % i, "USER u 0 * :U")
            clients.append(c)
        for i, c in enumerate(clients):
            c.send("PING :p")
        # each gateway keeps resending its clients' REGISTER: both are serving
        t.wait_line(r"^chatd: chatd\.0: no answer from session", m, timeout=6)
        t.wait_line(r"^chatd: chatd\.1: no answer from session", m, timeout=6)
        expect(all(not c.closed for c in clients), "all connections open", t)
        for c in clients:
            c.close()
        stop_clean(t)


def test_half_closed_client_gets_its_answers():
    port = free_port()
    with gateway_tree(port) as t:
        t.start()
        c = Client(port)
        c.send("PING :a", "CAP LS", "PING :b")
        c.s.shutdown(socket.SHUT_WR)
        got = c.until(lambda l: l.endswith(":b"))
        expect(len(got) == 3 and got[0] == ":test.srv PONG test.srv :a", "answers: %s" % got, t)
        expect(c.line() == "", "then closed", t)
        c.close()
        stop_clean(t)
