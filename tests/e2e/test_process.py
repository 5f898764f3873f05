"""What a child process gets from the supervisor (descriptors, environment, signals, session),
restart back-off, config errors, `-n`, the run directory, and `make install`."""
import os
import signal
import subprocess
import tempfile
import time

from lc import Tree, Failure, sup_section, worker_section, bin_path, SRC

VALGRIND = True


def expect(cond, msg, tree=None):
    if not cond:
        raise Failure(msg + ("\nlog:\n" + tree.log() if tree else ""))


def proc_info(pid):
    fds = sorted(int(f) for f in os.listdir("/proc/%d/fd" % pid))
    with open("/proc/%d/status" % pid) as f:
        status = dict(l.split(":\t", 1) for l in f.read().splitlines() if ":\t" in l)
    with open("/proc/%d/environ" % pid, "rb") as f:
        env = dict(kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv)
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return fds, status, env, int(fields[2]), int(fields[3])    # pgrp, session


def test_child_gets_only_its_descriptors_and_a_clean_process():
    conf = sup_section("top") + worker_section("e", "sleep", "3600")     # opens nothing itself
    # A descriptor the supervisor itself inherited must not reach its children either.
    r, w = os.pipe()
    try:
        with Tree(conf, env={"LETITCRASH_DEBUG": "0", "LETITCRASH_NODE": "x"}) as t:
            t.start(pass_fds=(w,))
            e = t.pid("e")
            # Exec-ready means "exec'd": the loader may still hold libraries open. Wait until
            # sleep(1) sits in its sleep system call (x86_64: 35 nanosleep, 230 clock_nanosleep).
            end = time.monotonic() + 10
            while open("/proc/%d/syscall" % e).read().split()[0] not in ("35", "230"):
                if time.monotonic() > end:
                    raise Failure("sleep never went to sleep")
                time.sleep(0.005)
            fds, st, env, pgrp, sid = proc_info(e)
            expect(fds == [0, 1, 2], "exec-ready child has only 0-2: %s" % fds, t)
            expect(int(st["SigBlk"], 16) == 0 and int(st["SigIgn"], 16) == 0,
                   "empty mask, no ignored signals: %s %s" % (st["SigBlk"], st["SigIgn"]), t)
            expect(pgrp == e and sid == e, "own session and group: %d %d" % (pgrp, sid), t)
            expect(env.get(b"LETITCRASH_NAME") == b"e" and env.get(b"LETITCRASH_SUP") == b"top"
                   and b"NOTIFY_SOCKET" not in env and b"LETITCRASH_READY_FD" not in env,
                   "environment: %s" % env, t)
            expect(env.get(b"LETITCRASH_DEBUG") == b"0" and env.get(b"LETITCRASH_NODE") == b"x",
                   "the tree's own settings pass through: %s" % env, t)
            t.stop()
    finally:
        os.close(r)
        os.close(w)


def test_child_readiness_fd_number():
    conf = sup_section("top") + worker_section("f", "lc-slowstart", "--delay 50", ready="fd:7")
    with Tree(conf) as t:
        t.start()
        pid = t.pid("f")
        fds, st, env, _, _ = proc_info(pid)
        expect(env.get(b"LETITCRASH_READY_FD") == b"7", "ready fd number in env: %s" % env, t)
        t.stop()


def test_restart_backoff_waits_then_doubles():
    conf = sup_section("top", intensity=10, period=30, backoff="200 400") + \
        worker_section("a", ready="fd")
    with Tree(conf) as t:
        t.start()
        gaps = []
        for _ in range(3):
            m = t.mark()
            pid = t.kill("a")
            ex = t.wait_event(lambda e: e.kind == "exit" and e.pid == pid, m)
            st = t.wait_start("a", since=m)
            gaps.append(st.t - ex.t)
        expect(gaps[0] >= 0.19 and gaps[1] >= 0.39 and gaps[2] >= 0.39,
               "back-off 200 then 400 (capped): %s" % gaps, t)
        t.stop()


def test_config_errors_start_nothing():
    bad = "[supervisor top]\nintensity = lots\n[worker a]\nexec = lc-no-such-program\n" \
          "restart = sometimes\n[worker a]\nexec = lc-sleeper\n"
    with Tree(bad) as t:
        t.start(wait=False)
        st = t.wait_exit()
        expect(st == 100, "config error exits 100, got %s" % st, t)
        log = t.log()
        for want in ("tree.conf:2: intensity", "tree.conf:4: exec", "tree.conf:5: restart",
                     "tree.conf:6: duplicate name"):
            expect(want in log, "error %r reported" % want, t)
        expect(not os.path.exists(t.rundir), "nothing created", t)
        r = subprocess.run([bin_path("supervisor"), "-n", "-c", t.conf], capture_output=True,
                           env=t.env)
        expect(r.returncode == 100 and r.stderr.count(b"tree.conf:") == 5,
               "-n reports the same: %s" % r.stderr)
    good = sup_section("top") + worker_section("a")
    with Tree(good) as t:
        r = subprocess.run([bin_path("supervisor"), "-n", "-c", t.conf], capture_output=True,
                           env=t.env)
        expect(r.returncode == 0 and r.stdout == b"configuration OK\n", "-n OK: %s" % r.stdout)


def test_second_tree_on_same_rundir_is_refused_and_rundir_is_private():
    conf = sup_section("top") + worker_section("a", ready="fd")
    with Tree(conf) as t:
        t.start()
        mode = os.stat(t.rundir).st_mode & 0o777
        expect(mode == 0o700, "run directory mode %o" % mode, t)
        for f in os.listdir(os.path.join(t.rundir, "sup")):
            m = os.stat(os.path.join(t.rundir, "sup", f)).st_mode & 0o077
            expect(m == 0,
                   "socket %s not reachable by others: %o" % (f, m), t)
        r = subprocess.run([bin_path("supervisor"), "-r", t.rundir, "-c", t.conf],
                           capture_output=True, env=t.env, timeout=10)
        expect(r.returncode == 111 and b"already running" in r.stderr,
               "second tree refused: %d %s" % (r.returncode, r.stderr), t)
        t.stop()


def test_nested_supervisor_ignores_sigterm_from_strangers():
    conf = sup_section("top") + sup_section("mid", parent="top") + \
        worker_section("x", parent="mid", ready="fd")
    with Tree(conf) as t:
        t.start()
        mid = t.pid("mid")
        m = t.mark()
        os.kill(mid, signal.SIGTERM)        # we are not its parent
        t.wait_line(r"mid: ignoring SIGTERM from pid %d" % os.getpid(), m)
        expect(t.pid("mid") == mid and os.path.exists("/proc/%d" % mid), "mid still up", t)
        t.stop()


def test_make_install_honours_prefix_and_destdir():
    dest = tempfile.mkdtemp(prefix="lcinst.")
    try:
        r = subprocess.run(["make", "-s", "-C", SRC, "install", "DESTDIR=" + dest,
                            "PREFIX=/opt/lc", "BUILD=" + os.path.dirname(bin_path("x"))[:-4]],
                           capture_output=True, timeout=300)
        expect(r.returncode == 0, "make install: %s" % r.stderr.decode())
        for f in ("opt/lc/bin/supervisor", "opt/lc/bin/supctl", "opt/lc/bin/lc-sleeper",
                  "opt/lc/lib/libletitcrash.a", "opt/lc/include/letitcrash/actor.h",
                  "opt/lc/share/doc/letitcrash/config.md", "opt/lc/share/letitcrash/demo.conf"):
            expect(os.path.exists(os.path.join(dest, f)), "installed %s" % f)
    finally:
        subprocess.run(["rm", "-rf", dest])
test_make_install_honours_prefix_and_destdir.timeout = 300
