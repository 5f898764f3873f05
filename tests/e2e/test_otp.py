"""Real OTP traces, replayed on letitcrash.

Every tests/e2e/otp/*.scn file is a trace of Erlang/OTP 25's `supervisor` (see
the design notes' otp-scenarios.md for the format, tests/e2e/otp/gen/ for the escript that made our
own ones). One generic runner turns each file into a test: it builds a config from the `setup`
lines (workers are lc-testw with readiness on a descriptor), performs the `inject` lines and the
`call` lines (supctl --json, or a look at /proc), and checks that what the tree logs is, once
mapped onto OTP's vocabulary, exactly the trace: same events, same order (but inside
`unordered { }`), same incarnations, same reasons, same call results.

Mapping (DESIGN.md, docs/otp.md):
- `start X#n` of a worker = the child became ready; of a supervisor = it was spawned (OTP logs a
  supervisor's start when its init begins, before its children). Incarnations are counted here
  per child name, from those events: a restarted nested supervisor's children count from #1
  again in our logs but go on counting in OTP's.
- A worker that exited before readiness is OTP's failed start: `start X -> {error,R}`, or
  `start X -> ignore` for the ignore status.
- Reasons: OTP `boom` = our `exit 1`; `{shutdown,_}` = our `{shutdown,exit}`; `killed`,
  `shutdown`, `normal` are the same words. The root's own exit is its wait status.
- A simple_one_for_one child is named by its first extra argument (OTP's trace shows the
  argument; ours is TEMPLATE.K): the K-th start_child call made here names TEMPLATE.K.
"""
import glob
import os
import re
import signal
import time

from lc import Tree, Failure, bin_path, SLOW

VALGRIND = True     # 34 scenarios: ~5 s, ~45 s under valgrind (make check-valgrind)

HERE = os.path.dirname(os.path.abspath(__file__))
SCN_DIR = os.path.join(HERE, "otp")
HARNESS = "lc_harness"
WAIT = 10           # seconds for any one expected event
JITTER_MS = 5       # timing notes: how late our reader may see a line (see note())

LOG_RE = re.compile(
    r"^supervisor: (?:debug: )?(?P<sup>[^:\s]+): "
    r"(?:(?P<ev>spawn|start|exit|ignore) (?P<child>\S+?)#(?P<n>\d+) pid=(?P<pid>\d+)"
    r"(?: reason=(?P<reason>.*))?"
    r"|report (?P<rep>child_terminated|shutdown_error|shutdown|start_error) "
    r"(?P<rchild>[^#\s]+)(?:#(?P<rn>\d+))? reason=(?P<rreason>.*))$")


def canon_reason(r):
    """One spelling for a reason, ours or OTP's."""
    r = r.strip()
    if r == "exit 1":
        return "boom"
    if r.startswith("{shutdown,"):
        return "{shutdown,_}"
    return r


# --- the scenario file ---------------------------------------------------------------------

class Spec:
    def __init__(self, name, depth, words):
        self.name, self.depth = name, depth
        self.kind = "supervisor"
        self.restart, self.shutdown = "permanent", None
        self.keys, self.plan, self.on_term = {}, [], None
        self.children, self.parent = [], None
        for w in words:
            if w in ("worker", "supervisor"):
                self.kind = w
            elif w in ("permanent", "transient", "temporary"):
                self.restart = w
            elif w.startswith("shutdown="):
                self.shutdown = w.split("=", 1)[1]
            elif w.startswith("start-plan="):
                self.plan = plan_lines(w.split("=", 1)[1])
            elif w.startswith("behaviour="):
                self.on_term = on_term_of(w.split("=", 1)[1])
            elif "=" in w:
                k, v = w.split("=", 1)
                self.keys[k] = v
            else:
                raise Failure("setup: unknown word %r" % w)


def plan_lines(v):
    """OTP start plan [...] -> lc-testw plan lines."""
    out = []
    for item in re.findall(r"\{forever,\{error,\w+\}\}|\{error,\w+\}|ignore|ok", v):
        if item.startswith("{forever"):
            out.append("forever-error")
        elif item.startswith("{error"):
            out.append("error")
        else:
            out.append(item)
    return out


def on_term_of(v):
    m = re.search(r"\{on_shutdown,(.*)\}\]$", v)
    if not m:
        return None
    what = m.group(1)
    if what == "ignore":
        return "ignore"
    m2 = re.match(r"\{delay,(\d+)\}", what)
    if m2:
        return "delay:" + m2.group(1)
    m2 = re.match(r"^\{exit_with,(.*)\}$", what)
    if m2:
        r = m2.group(1)
        if r in ("normal", "boom") or r.startswith("{shutdown,"):
            return "exit:" + ("0" if r == "normal" else "1" if r == "boom" else "97")
    raise Failure("behaviour %r has no lc-testw equivalent" % v)


class Scenario:
    def __init__(self, path):
        self.path = path
        self.lines = []
        self.specs = {}
        self.root = None
        stack = []
        with open(path) as f:
            text = f.read()
        for raw in text.splitlines():
            if raw.startswith("=== "):
                self.name = raw[4:].split(":", 1)[0]
                continue
            if raw.startswith("summary:") or not raw.strip():
                continue
            m = re.match(r"^  setup( +)(\S+?):? (.*)$", raw)
            if m and raw.startswith("  setup "):
                depth = (len(m.group(1)) - 1) // 2
                sp = Spec(m.group(2), depth, m.group(3).split())
                if depth == 0:
                    self.root = sp
                else:
                    while stack and stack[-1].depth >= depth:
                        stack.pop()
                    sp.parent = stack[-1]
                    sp.parent.children.append(sp)
                stack.append(sp)
                self.specs[sp.name] = sp
                continue
            self.lines.append(raw.strip())
        # A nested supervisor obeys only its parent, as OTP's does; the root obeys any SIGTERM
        # (docs/otp.md). A scenario about exit signals from a non-parent therefore runs with
        # `top` nested under a small harness root, as a temporary child: then top is exactly
        # OTP's supervisor with the test process as a stranger.
        self.harness = any("non-parent" in l for l in self.lines)


# --- what the tree did, in OTP's words -------------------------------------------------------

class Obs:
    __slots__ = ("t", "text")

    def __init__(self, t, text):
        self.t, self.text = t, text

    def __repr__(self):
        return self.text


class Run:
    def __init__(self, scn):
        self.scn = scn
        self.tree = None
        self.dyn_names = {}         # our TEMPLATE.K -> OTP's argument name
        self.dyn_calls = 0
        self.launch_t = None
        self.matched = 0
        self.pending = {}           # call line index -> result computed early

    # -- config -----------------------------------------------------------------------------
    def plan_path(self, name):
        return os.path.join(self.tree.dir, "plan." + name)

    def write_plan(self, name, lines):
        if lines:
            with open(self.plan_path(name), "w") as f:
                f.write("\n".join(lines) + "\n")

    def exec_of(self, sp):
        args = [bin_path("lc-testw"), "--plan", "PLAN"]
        if sp.on_term:
            args += ["--on-term", sp.on_term]
        return " ".join(args)

    def config(self):
        scn = self.scn
        out = []
        if scn.harness:
            out.append("[supervisor %s]\nstrategy = one_for_one\nintensity = 0\nperiod = 5\n"
                       % HARNESS)

        def emit(sp, parent):
            if sp.kind == "supervisor":
                out.append("[supervisor %s]" % sp.name)
                if parent:
                    out.append("parent = %s" % parent)
                    out.append("restart = %s" % sp.restart)
                    if sp.shutdown:
                        out.append("shutdown = %s" % sp.shutdown)
                for k in ("strategy", "intensity", "period"):
                    if k in sp.keys:
                        out.append("%s = %s" % (k, sp.keys[k]))
                out.append("")
                for ch in sp.children:
                    emit(ch, sp.name)
                return
            out.append("[worker %s]" % sp.name)
            out.append("parent = %s" % parent)
            if scn.root.keys.get("strategy") == "simple_one_for_one":
                # the extra argument names the child: its plan file is plan.NAME
                tmpl = bin_path("lc-testw") + " --plan " + self.tree.dir + "/plan.$0"
                if sp.on_term:
                    tmpl += " --on-term " + sp.on_term
                out.append("exec = /bin/sh -c 'exec %s'" % tmpl)
            else:
                out.append("exec = %s" % self.exec_of(sp).replace(
                    "PLAN", self.plan_path(sp.name)))
            out.append("ready = fd")
            out.append("restart = %s" % sp.restart)
            if sp.shutdown:
                out.append("shutdown = %s" % sp.shutdown)
            out.append("")
            self.write_plan(sp.name, sp.plan)

        if scn.harness:
            scn.root.restart = "temporary"
            scn.root.shutdown = "infinity"
        emit(scn.root, HARNESS if scn.harness else None)
        return "\n".join(out) + "\n"

    # -- observed events --------------------------------------------------------------------
    def kind_of(self, name):
        sp = self.scn.specs.get(name)
        return sp.kind if sp else "worker"

    def observe(self):
        """Everything the tree did so far, as OTP trace lines (see the module's docstring)."""
        scn, tree = self.scn, self.tree
        root = scn.root.name
        out = []
        supinc = {}                 # supervisor name -> its current incarnation label
        count = {}                  # display name -> starts
        label_of = {}               # (sup, sup label, child, our n) -> label
        pid_label = {}
        owner = {}                  # label -> (sup label) for children started
        alive = {}                  # label -> pid, started and not exited
        if not scn.harness:
            out.append(Obs(self.launch_t, "start %s#1" % root))
            supinc[root] = root + "#1"
            pid_label[tree.proc.pid] = root + "#1"
        with tree.cond:
            lines = list(tree.lines)
        for t, line in lines:
            m = LOG_RE.match(line)
            if not m:
                continue
            sup = m.group("sup")
            if scn.harness and sup == HARNESS:
                child = m.group("child")
                if child != root or m.group("ev") not in ("spawn", "exit"):
                    continue
            slabel = supinc.get(sup, sup + "#?")
            if m.group("ev"):
                ev, child, n = m.group("ev"), m.group("child"), int(m.group("n"))
                pid, reason = int(m.group("pid")), m.group("reason")
                d = self.dyn_names.get(child, child)
                key = (sup, slabel, child, n)
                is_sup = self.kind_of(child) == "supervisor"
                if (ev == "spawn" and is_sup) or (ev == "start" and not is_sup):
                    count[d] = count.get(d, 0) + 1
                    lab = "%s#%d" % (d, count[d])
                    label_of[key] = lab
                    pid_label[pid] = lab
                    owner[lab] = slabel
                    alive[lab] = pid
                    if is_sup:
                        supinc[child] = lab
                    out.append(Obs(t, "start " + lab))
                elif ev == "exit":
                    lab = label_of.get(key)
                    if lab:
                        alive.pop(lab, None)
                        out.append(Obs(t, "exit %s %s" % (lab, canon_reason(reason))))
                        if reason == "killed" and is_sup:
                            self.orphans(out, t, lab, owner, alive)
                    elif reason == "ignore":
                        out.append(Obs(t, "start %s -> ignore" % d))
                    else:
                        out.append(Obs(t, "start %s -> {error,%s}" % (d, canon_reason(reason))))
            else:
                rep, child = m.group("rep"), m.group("rchild")
                d = self.dyn_names.get(child, child)
                if rep == "start_error":
                    who = d
                else:
                    # a child with no process (its restart failed) is named by its id, as OTP does
                    who = label_of.get((sup, slabel, child, int(m.group("rn") or 0)), d)
                out.append(Obs(t, "report %s sup=%s child=%s reason=%s" %
                               (rep, slabel, who, canon_reason(m.group("rreason")))))
        if not scn.harness and tree.eof and tree.proc.poll() is not None:
            out.append(Obs(time.monotonic(), "exit %s#1 %s" % (root, status_reason(
                tree.proc.returncode))))
        self.pid_label = pid_label
        self.label_pid = {v: k for k, v in pid_label.items()}
        return out

    def orphans(self, out, t, sup_label, owner, alive):
        """Children of a supervisor killed by SIGKILL die of their PDEATHSIG (SIGKILL): nobody
        logs that, so their deaths are read from /proc (bounded) and reported as `killed`."""
        for lab in [l for l, s in owner.items() if s == sup_label and l in alive]:
            pid = alive.pop(lab)
            end = time.monotonic() + 5 * SLOW
            while pid_alive(pid) and time.monotonic() < end:
                time.sleep(0.01)    # polling /proc: no event tells us of another's death
            if not pid_alive(pid):
                out.append(Obs(t, "exit %s killed" % lab))

    def wait_obs(self, count, what):
        end = time.monotonic() + WAIT * SLOW
        tree = self.tree
        while True:
            obs = self.observe()
            if len(obs) >= count:
                return obs
            if time.monotonic() > end:
                break
            if tree.eof and tree.proc.poll() is not None and len(self.observe()) < count:
                break           # all is said: what is missing will never come
            with tree.cond:
                tree.cond.wait(0.05)
        raise Failure("waiting for %s: the tree did only:\n  %s\nlog:\n%s" %
                      (what, "\n  ".join(o.text for o in self.observe()), tree.log()))

    # -- calls ------------------------------------------------------------------------------
    def supctl(self, *args):
        rc, out = self.tree.supctl(*args, check=False)
        return rc, out

    def label(self, pid):
        """OTP's name for a pid a call returned. The reply can overtake the log line that
        names the pid (two pipes): wait for that line, bounded."""
        if pid is None:
            return "undefined"
        if isinstance(pid, str):
            return pid
        end = time.monotonic() + WAIT * SLOW
        while pid not in self.pid_label and time.monotonic() < end:
            with self.tree.cond:
                self.tree.cond.wait(0.05)
            self.observe()
        return self.pid_label.get(pid, "pid%d?" % pid)

    def error_of(self, out, call):
        e = out.get("error", "") if isinstance(out, dict) else str(out)
        w = e.split()
        if not w:
            return "{error,?}"
        if w[0] == "already_started":
            self.observe()
            return "{error,{already_started,%s}}" % self.label(int(w[1]))
        if w[0] == "start_failed":
            # OTP's shapes: start_child {error,{R,Child}} but on simple_one_for_one
            # {error,R}; restart_child {error,R}. Ours is always `start_failed R`.
            r = canon_reason(" ".join(w[1:]))
            simple = self.scn.root.keys.get("strategy") == "simple_one_for_one"
            return "{error,{%s,child_record}}" % r if call == "start_child" and not simple \
                else "{error,%s}" % r
        return "{error,%s}" % w[0]

    def do_call(self, text):
        m = re.match(r"^(\w+)\((.*)\) -> (.*)$", text)
        if not m:
            m = re.match(r"^(\w+)\((.*)\), keys \[.*\] -> (.*)$", text)
        fn, args, _ = m.groups()
        a = [x.strip() for x in args.split(",", 1)] if args else []
        sup = a[0] if a else None
        if fn == "start_link":
            return self.call_start_link()
        if fn == "is_process_alive":
            self.observe()
            return "true" if pid_alive(self.label_pid.get(a[0], 0)) else "false"
        if fn == "which_children":
            rc, out = self.supctl("which_children", sup)
            if rc:
                return "{error,%r}" % out
            self.observe()
            items = []
            for r in out:
                name = r["name"]
                ident = "undefined" if self.dyn_names.get(name) else name
                pid = r["pid"]
                lab = self.label(pid) if isinstance(pid, int) or pid is None else pid
                items.append("%s=%s%s" % (ident, lab,
                                          "(supervisor)" if r["type"] == "supervisor" else ""))
            return "[" + ", ".join(items) + "]"
        if fn == "count_children":
            rc, out = self.supctl("count_children", sup)
            return "[" + ",".join("{%s,%s}" % (k, out[k]) for k in
                                   ("specs", "active", "supervisors", "workers")) + "]"
        if fn == "get_childspec":
            target = a[1]
            pm = re.match(r"pid of (\S+)", target)
            if pm:
                self.observe()
                target = str(self.label_pid[pm.group(1)])
            rc, out = self.supctl("spec", sup, target)
            if rc:
                return self.error_of(out, fn)
            return out
        if fn in ("restart_child", "terminate_child", "delete_child"):
            target = a[1]
            pm = re.match(r"pid of (\S+)", target)
            if pm:
                self.observe()
                target = str(self.label_pid[pm.group(1)])
            rc, out = self.supctl(fn.split("_")[0], sup, target)
            if rc:
                return self.error_of(out, fn)
            if fn == "restart_child":
                self.observe()
                return "{ok,%s}" % self.label(out.get("pid"))
            return "ok"
        if fn == "start_child":
            return self.call_start_child(sup, a[1])
        raise Failure("unknown call %s" % text)

    def call_start_child(self, sup, arg):
        lm = re.match(r"^\[(\w+)\]$", arg)
        if lm:                                  # simple_one_for_one: [Name]
            name = lm.group(1)
            self.dyn_calls += 1
            tmpl = self.scn.root.children[0].name
            self.dyn_names["%s.%d" % (tmpl, self.dyn_calls)] = name
            # the escript's convention: a child whose name starts with `ign` returns ignore,
            # one starting with `err` {error,boom}
            self.write_plan(name, ["ignore"] if name.startswith("ign") else
                            ["error"] if name.startswith("err") else [])
            rc, out = self.supctl("start", sup, name)
        else:
            sm = re.match(r"^spec (\w+): (.*)$", arg)
            sp = Spec(sm.group(1), 1, sm.group(2).split())
            if os.path.exists(self.plan_path(sp.name)):
                os.unlink(self.plan_path(sp.name))
            self.write_plan(sp.name, sp.plan)
            words = ["exec=" + self.exec_of(sp).replace("PLAN", self.plan_path(sp.name)),
                     "ready=fd", "restart=" + sp.restart]
            if sp.shutdown:
                words.append("shutdown=" + sp.shutdown)
            rc, out = self.supctl("start", sup, sp.name, *words)
        if rc:
            return self.error_of(out, "start_child")
        self.observe()
        return "{ok,%s}" % self.label(out.get("pid"))

    def call_start_link(self):
        tree = self.tree
        try:
            tree.wait_ready(WAIT)
            return "{ok,%s#1}" % self.scn.root.name
        except Failure:
            if tree.proc.poll() is None:
                raise
        return "{error,%s}" % status_reason(tree.proc.returncode)

    # -- injections -------------------------------------------------------------------------
    def inject(self, text):
        tree = self.tree
        if text.startswith("supervisor:start_link("):
            self.launch_t = time.monotonic()
            tree.start(wait=False)
            return
        m = re.match(r"^kill (\S+) ", text)
        if m:
            return self.signal(m.group(1), signal.SIGKILL)
        m = re.match(r"^(\S+) exits by itself with reason (.*)$", text)
        if m:
            r = m.group(2)
            sig = {"normal": signal.SIGUSR1, "shutdown": signal.SIGINT}.get(r)
            if sig is None:
                sig = signal.SIGUSR2 if r.startswith("{shutdown,") else signal.SIGHUP
            return self.signal(m.group(1), sig)
        if "parent stops top" in text:
            os.kill(tree.proc.pid, signal.SIGTERM)
            return
        m = re.match(r"^a non-parent process sends exit\((\S+), (\w+)\)$", text)
        if m:
            sig = {"shutdown": signal.SIGTERM, "normal": signal.SIGUSR1,
                   "kill": signal.SIGKILL}.get(m.group(2), signal.SIGHUP)
            mark = tree.mark()
            pid = self.signal(m.group(1), sig)
            if sig != signal.SIGKILL:       # the supervisor says it ignored it: wait for that
                tree.wait_line(r": %s: ignoring SIG%s from pid %d" % (
                    m.group(1).split("#")[0], signal.Signals(sig).name[3:], os.getpid()), mark)
            return pid
        raise Failure("unknown injection: %s" % text)

    def signal(self, label, sig):
        self.observe()
        pid = self.label_pid.get(label)
        if not pid:
            raise Failure("no pid for %s; log:\n%s" % (label, self.tree.log()))
        os.kill(pid, sig)
        return pid

    # -- the replay -------------------------------------------------------------------------
    def expected_event(self, line):
        if line.startswith("exit "):
            w = line.split(" ", 2)
            return "exit %s %s" % (w[1], canon_reason(w[2]))
        if line.startswith("report "):
            line = re.sub(r"\s+\[.*\]$", "", line)
            m = re.match(r"^(report \S+ sup=\S+ child=\S+ reason=)(.*)$", line)
            return m.group(1) + canon_reason(m.group(2))
        if line.startswith("start "):
            return re.sub(r"\{error,(.*)\}$", lambda mm: "{error,%s}" % canon_reason(
                mm.group(1)), line)
        return line

    @staticmethod
    def is_event(line):
        return line.split(" ", 1)[0] in ("start", "exit", "report")

    @staticmethod
    def call_target(line):
        m = re.match(r"^call (start_child|restart_child|terminate_child|delete_child)"
                     r"\(\w+, (?:spec (\w+):|\[(\w+)\]|pid of (\w+)#\d+|(\w+))", line)
        if not m:
            return None
        return next(g for g in m.groups()[1:] if g)

    def triggers(self):
        """A call that changes the tree comes after the events it causes in the trace: those
        events (about the call's child, just before it) are awaited after making the call."""
        lines, trig = self.scn.lines, {}
        for j, line in enumerate(lines):
            tgt = self.call_target(line)
            if not tgt:
                continue
            names = self.subtree(tgt)
            # start_child / restart_child cause starts; terminate_child causes stops
            kinds = ("exit", "report shutdown_error") if "terminate_child" in line else \
                ("start",)
            k = j
            while k > 0 and lines[k - 1].startswith(kinds) and self.about(lines[k - 1]) in names:
                k -= 1
            if k < j:
                trig[k] = j
        return trig

    def subtree(self, name):
        """name and, for a child supervisor, every name below it."""
        out = {name}
        for ch in getattr(self.scn.specs.get(name), "children", []):
            out |= self.subtree(ch.name)
        return out

    @staticmethod
    def about(line):
        m = re.match(r"^(?:start|exit) (\w+)|^report \S+ sup=\S+ child=(\w+)", line)
        return m and (m.group(1) or m.group(2))

    def check_event(self, exp, what):
        obs = self.wait_obs(self.matched + 1, what)
        got = obs[self.matched].text
        if got != exp:
            self.fail("expected `%s`, got `%s`" % (exp, got), obs)
        self.matched += 1

    def fail(self, msg, obs=None):
        obs = obs if obs is not None else self.observe()
        raise Failure("%s: %s\nwhat the tree did (OTP words):\n  %s\nlog:\n%s" % (
            self.scn.name, msg, "\n  ".join(
                ("  " if i < self.matched else "> ") + o.text for i, o in enumerate(obs)),
            self.tree.log()))

    def run(self):
        scn = self.scn
        self.tree = Tree("", name=scn.name[:6], env={"LETITCRASH_DEBUG": "1"})
        try:
            with open(self.tree.conf, "w") as f:
                f.write(self.config())
            self.replay()
            self.finish()
        finally:
            self.tree.close()

    def replay(self):
        lines = self.scn.lines
        trig = self.triggers()
        i = 0
        while i < len(lines):
            line = lines[i]
            if i in trig:
                self.pending[trig[i]] = self.do_call(lines[trig[i]][5:])
            if line == "unordered {":
                j = lines.index("}", i)
                exp = sorted(self.expected_event(l) for l in lines[i + 1:j])
                obs = self.wait_obs(self.matched + len(exp), "the unordered block")
                got = sorted(o.text for o in obs[self.matched:self.matched + len(exp)])
                if got != exp:
                    self.fail("unordered block: expected %s, got %s" % (exp, got), obs)
                self.matched += len(exp)
                i = j + 1
                continue
            if line.startswith("inject "):
                self.inject(line[7:])
            elif line.startswith("call "):
                got = self.pending.pop(i) if i in self.pending else self.do_call(line[5:])
                want = line.rsplit(" -> ", 1)[1]
                if line.startswith("call get_childspec") and isinstance(got, dict):
                    # OTP's map: the keys that mean the same here (not start, modules)
                    want = dict(re.findall(r"(id|restart|shutdown|type) => (\w+)", want))
                    got = {k: str(got.get(k)) for k in want}
                else:
                    want = re.sub(r"\{shutdown,.*\}\}$", "{shutdown,_}}", want)
                if got != want:
                    self.fail("%s: got %s" % (line, got))
            elif line.startswith("note "):
                self.note(line)
            elif self.is_event(line):
                self.check_event(self.expected_event(line), "`%s`" % line)
            else:
                raise Failure("unknown line: %s" % line)
            i += 1

    def note(self, line):
        m = re.match(r"^note time from '(.*)' to '(.*)' is within \[(\d+), (\d+)\) ms: true$",
                     line)
        obs = self.observe()[:self.matched]

        def at(prefix):
            for o in obs:
                if o.text == prefix or o.text.startswith(prefix + " "):
                    return o.t
            self.fail("note: no %s" % prefix)
        dt = (at(m.group(2)) - at(m.group(1))) * 1000
        lo, hi = int(m.group(3)), int(m.group(4))
        # The times are when our reader thread got each line, not when the supervisor wrote
        # it: allow that jitter (JITTER_MS) below the lower bound, never more.
        if not lo - JITTER_MS <= dt < hi * SLOW:
            self.fail("%s: took %.0f ms" % (line, dt))

    def finish(self):
        tree = self.tree
        if self.scn.harness:
            tree.stop()
        else:
            tree.wait_exit(WAIT)
            tree.check_no_survivors()
            with tree.cond:
                end = time.monotonic() + WAIT * SLOW
                while not tree.eof and time.monotonic() < end:
                    tree.cond.wait(0.05)
        obs = self.observe()
        if len(obs) != self.matched:
            self.fail("more happened than the trace says: %s" % [o.text for o in
                                                                  obs[self.matched:]], obs)


def status_reason(rc):
    if rc == -signal.SIGTERM or rc == 96:
        return "shutdown"
    if rc == -signal.SIGKILL:
        return "killed"
    if rc == 97:
        return "{shutdown,_}"
    if rc == 0:
        return "normal"
    return "exit %s" % rc


def pid_alive(pid):
    if not pid:
        return False
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def _make(path):
    def test():
        Run(Scenario(path)).run()
    test.timeout = 60
    return test


for _p in sorted(glob.glob(os.path.join(SCN_DIR, "*.scn"))):
    globals()["test_" + os.path.splitext(os.path.basename(_p))[0]] = _make(_p)
