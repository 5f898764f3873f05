#!/usr/bin/env escript
%% Regenerate the traces of our own scenarios (tests/e2e/otp/x*.scn) on real Erlang/OTP:
%%   escript tests/e2e/otp/gen/otp_traces.escript [OUTDIR]     (default: tests/e2e/otp)
%% Each scenario is run against the stock `supervisor` module and its trace written in the
%% format of the design notes' otp-scenarios.md. Not needed at test time.
%%
%% Workers: start_worker(Name) takes the next item of Name's start plan (ok | {error,R} |
%% ignore | {forever,{error,R}}), and once running exits with a reason on request. A child of a
%% simple_one_for_one supervisor is named by its extra argument; a name starting with `ign`
%% returns ignore, one starting with `err` {error,boom} (test_otp.py follows the same
%% convention).
-module(this_escript).
-mode(compile).
-export([main/1, start_worker/1, start_worker/2, start_sup/2, init/1, log/2, tracer/1]).

%% --- scenarios --------------------------------------------------------------------------------
%% {Name, Description, SupFlags, Children, Steps}
%% Children: {Id, worker, Restart, Shutdown, StartPlan}
%% Steps: {kill, Label} | {exit, Label, Reason} | {call, Fun, Args} | stop

scenarios() ->
    [{x01_one_for_all_restarts_exited_transient,
      "one_for_all: a transient child that exited normally is started again with the group",
      {one_for_all, 3, 5},
      [{a, permanent, []}, {t, transient, []}, {b, permanent, []}],
      [{exit, "t#1", normal}, {call, which_children}, {kill, "b#1"},
       {call, which_children}, stop]},
     {x02_rest_for_one_last_child,
      "rest_for_one: when the last child fails only it is restarted",
      {rest_for_one, 3, 5},
      [{a, permanent, []}, {b, permanent, []}, {c, permanent, []}],
      [{kill, "c#1"}, {call, which_children}, stop]},
     {x03_restart_fails_try_again,
      "a restart whose start fails is retried (try_again), each retry counting, until it gives up",
      {one_for_one, 3, 5},
      [{a, permanent, []}, {b, permanent, [ok, {forever, {error, boom}}]}],
      [{kill, "b#1"}]},
     {x04_one_for_all_drops_temporary,
      "one_for_all: temporary children are dropped at a group restart, not restarted",
      {one_for_all, 3, 5},
      [{a, permanent, []}, {tmp, temporary, []}, {b, permanent, []}],
      [{kill, "a#1"}, {call, which_children}, {call, count_children}, stop]},
     {x05_terminate_temporary,
      "terminate_child of a temporary child forgets its spec",
      {one_for_one, 3, 5},
      [{a, permanent, []}, {tmp, temporary, []}],
      [{call, terminate_child, tmp}, {call, which_children}, {call, restart_child, tmp},
       {call, delete_child, tmp}, stop]},
     {x06_simple_transient_normal,
      "simple_one_for_one with transient children: a normal exit removes the child, a crash restarts it",
      {simple_one_for_one, 3, 5},
      [{tpl, transient, []}],
      [{call, start_child, w1}, {call, start_child, w2}, {exit, "w1#1", normal},
       {call, which_children}, {exit, "w2#1", boom}, {call, which_children},
       {call, count_children}, stop]},
     {x07_running_child_calls,
      "restart_child and delete_child of a running child: {error,running}; a failing restart_child: error, no report",
      {one_for_one, 3, 5},
      [{a, permanent, []}, {b, permanent, [ok, {error, boom}]}],
      [{call, restart_child, a}, {call, delete_child, a}, {call, terminate_child, b},
       {call, restart_child, b}, {call, which_children}, {call, restart_child, b},
       {call, which_children}, stop]},
     {x08_transient_in_one_for_all_clean_exit,
      "one_for_all: a transient child's clean exit restarts nothing; an abnormal one restarts the group",
      {one_for_all, 2, 5},
      [{a, permanent, []}, {t, transient, []}, {b, permanent, []}],
      [{exit, "t#1", shutdown}, {call, which_children}, {exit, "a#1", boom},
       {call, which_children}, stop]},
     {x09_one_for_all_restart_start_fails,
      "one_for_all: a start failing during the group restart: try_again stops the group and starts it again",
      {one_for_all, 3, 5},
      [{a, permanent, []}, {b, permanent, [ok, {error, boom}]}, {c, permanent, []}],
      [{kill, "a#1"}, {call, which_children}, stop]},
     {x10_transient_supervisor_gives_up,
      "a transient child supervisor that gives up is not restarted: its shutdown is clean",
      {one_for_one, 3, 5},
      [{mid, transient, {sup, {one_for_one, 0, 5}, [{x, permanent, []}, {y, permanent, []}]}},
       {z, permanent, []}],
      [{kill, "x#1"}, {call, which_children}, {call, count_children}, stop]},
     {x11_nested_init_failure,
      "a child supervisor whose own child fails to start: the whole start_link fails",
      {one_for_one, 3, 5},
      [{a, permanent, []},
       {mid, permanent, {sup, {one_for_one, 3, 5}, [{x, permanent, []}, {y, permanent, [{error, boom}]}]}},
       {z, permanent, []}],
      []},
     {x12_simple_gives_up,
      "simple_one_for_one: giving up stops the remaining children all at once",
      {simple_one_for_one, 1, 5},
      [{tpl, permanent, []}],
      [{call, start_child, w1}, {call, start_child, w2}, {call, start_child, w3},
       {kill, "w2#1"}, {kill, "w2#2"}]},
     {x13_shutdown_judgement,
      "stopping children: only shutdown is a clean stop, but normal for non-permanent children",
      {one_for_one, 3, 5},
      [{p, permanent, [], {1000, {exit_with, {shutdown, bye}}}},
       {t, transient, [], {1000, {exit_with, {shutdown, bye}}}},
       {tn, transient, [], {1000, {exit_with, normal}}},
       {tmp, temporary, [], {1000, {exit_with, {shutdown, bye}}}},
       {tb, transient, [], {1000, {exit_with, boom}}}],
      [{call, terminate_child, t}, {call, which_children}, stop]},
     {x14_supervisor_child_terminate_restart,
      "terminate_child and restart_child of a child supervisor stop and start its whole subtree",
      {one_for_one, 3, 5},
      [{mid, permanent, {sup, {one_for_one, 3, 5}, [{x, permanent, []}, {y, permanent, []}]}},
       {z, permanent, []}],
      [{call, terminate_child, mid}, {call, which_children}, {call, count_children},
       {call, restart_child, mid}, {call, which_children}, {kill, "x#2"}, stop]},
     {x15_transient_terminate_delete,
      "a transient child restarted after a crash, then terminated and deleted: its spec is gone",
      {one_for_one, 3, 5},
      [{a, permanent, []}, {b, transient, []}],
      [{exit, "b#1", boom}, {call, terminate_child, b}, {call, delete_child, b},
       {call, which_children}, {call, count_children}, stop]},
     {x16_simple_childspec_and_pids,
      "simple_one_for_one: get_childspec by pid gives the template; unknown pids are not_found",
      {simple_one_for_one, 3, 5},
      [{tpl, transient, []}],
      [{call, start_child, w1}, {call, get_childspec, {pid, "w1#1"}},
       {call, get_childspec, tpl}, {exit, "w1#1", shutdown},
       {call, terminate_child, {pid, "w1#1"}}, {call, which_children}, stop]},
     {x17_one_for_all_temporary_crash_and_terminated,
      "one_for_all: a temporary child's crash restarts nothing; a terminated child is started again with the group",
      {one_for_all, 3, 5},
      [{a, permanent, []}, {tmp, temporary, []}, {b, permanent, []}, {c, permanent, []}],
      [{exit, "tmp#1", boom}, {call, which_children}, {call, terminate_child, c},
       {kill, "b#1"}, {call, which_children}, stop]},
     {x18_simple_start_errors,
      "simple_one_for_one: a failing start answers {error,R}, an ignore {ok,undefined}; neither is reported",
      {simple_one_for_one, 3, 5},
      [{tpl, permanent, []}],
      [{call, start_child, w1}, {call, start_child, err1}, {call, start_child, ign1},
       {call, which_children}, {call, count_children}, stop]}].

main(Args) ->
    Out = case Args of [D] -> D; [] -> "tests/e2e/otp" end,
    logger:set_primary_config(level, info),
    logger:remove_handler(default),
    ok = logger:add_handler(trace_h, ?MODULE, #{}),
    [run(Out, S) || S <- scenarios()],
    ok.

%% --- the tracer: one process keeps the trace lines in order -----------------------------------

tracer(Lines) ->
    receive
        {line, L} -> tracer([L | Lines]);
        {monitor, Pid, From} ->
            erlang:monitor(process, Pid), From ! {monitoring, Pid}, tracer(Lines);
        {'DOWN', _, process, Pid, Reason} ->
            tracer([lists:flatten(io_lib:format("exit ~s ~s", [label(Pid), reason(Reason)])) | Lines]);
        {get, From} -> From ! {lines, lists:reverse(Lines)}, tracer(Lines)
    end.

line(Fmt, Args) -> tracer ! {line, lists:flatten(io_lib:format(Fmt, Args))}.

label(Pid) ->
    case ets:lookup(labels, Pid) of [{_, L}] -> L; [] -> pid_to_list(Pid) end.

new_label(Name, Pid) ->
    N = ets:update_counter(counts, Name, 1, {Name, 0}),
    L = lists:flatten(io_lib:format("~s#~b", [Name, N])),
    ets:insert(labels, {Pid, L}),
    ets:insert(labels, {L, Pid}),
    %% synchronous: the starter (the supervisor) waits, so the process cannot die unwatched
    tracer ! {monitor, Pid, self()},
    receive {monitoring, Pid} -> ok end,
    L.

pid_of(L) -> [{_, P}] = ets:lookup(labels, L), P.

reason({shutdown, _} = R) -> io_lib:format("~w", [R]);
reason(R) -> io_lib:format("~w", [R]).

%% logger handler: the supervisor's reports
log(#{msg := {report, #{label := {supervisor, Kind}, report := R}}}, _) when Kind =/= progress ->
    try log_report(Kind, R) catch C:E:St -> io:format(standard_error, "~p ~p ~p~n~p~n", [C, E, St, R]) end;
log(_, _) -> ok.

log_report(Kind, R) ->
    Sup = label(whereis_sup(proplists:get_value(supervisor, R))),
    Off = proplists:get_value(offender, R),
    %% A start_error names the child by its id, as in otp-scenarios.md (OTP's offender may
    %% still carry the pid of the incarnation that died before the failed restart).
    Child = case proplists:get_value(pid, Off) of
                P when is_pid(P), Kind =/= start_error -> label(P);
                _ -> atom_to_list(proplists:get_value(id, Off))
            end,
    Reason = proplists:get_value(reason, R),
    line("report ~s sup=~s child=~s reason=~s~s",
         [Kind, Sup, Child, reason(Reason),
          case Kind of shutdown -> "  [supervisor gives up]"; _ -> "" end]).

whereis_sup({local, N}) -> whereis(N);
whereis_sup(P) when is_pid(P) -> P;
whereis_sup(N) when is_atom(N) -> whereis(N).

%% --- workers and the supervisor ---------------------------------------------------------------

take_plan(Name) ->
    case ets:lookup(plans, Name) of
        [{_, [{forever, _} = F | _]}] -> element(2, F);
        [{_, [P | Rest]}] -> ets:insert(plans, {Name, Rest}), P;
        _ -> ok
    end.

start_worker(Name) ->
    Plan = case atom_to_list(Name) of
               "ign" ++ _ -> ignore;
               "err" ++ _ -> {error, boom};
               _ -> take_plan(Name)
           end,
    case Plan of
        ok ->
            Self = self(),
            Beh = case ets:lookup(behaviour, Name) of [{_, B}] -> B; [] -> none end,
            Pid = spawn_link(fun() ->
                                     Beh =/= none andalso process_flag(trap_exit, true),
                                     Self ! {self(), ready},
                                     worker_loop(Self, Beh)
                             end),
            receive {Pid, ready} -> ok end,
            line("start ~s", [new_label(Name, Pid)]),
            {ok, Pid};
        ignore ->
            line("start ~s -> ignore", [Name]),
            ignore;
        {error, R} ->
            line("start ~s -> {error,~w}", [Name, R]),
            {error, R}
    end.

start_worker(_Template, Name) -> start_worker(Name).

%% Beh: none, or OTP's behaviour=[trap_exit,{on_shutdown,What}] with What = {exit_with,R}
%% (exit with R when the supervisor stops it) or ignore.
worker_loop(Sup, Beh) ->
    receive
        {exit, R} -> exit(R);
        {'EXIT', Sup, shutdown} ->
            case Beh of
                {exit_with, R} -> exit(R);
                ignore -> worker_loop(Sup, Beh)
            end
    end.

start_sup(Name, Flags) ->
    supervisor:start_link({local, Name}, ?MODULE, {Name, Flags}).

init({Name, {Strategy, I, P}}) ->
    line("start ~s", [new_label(Name, self())]),
    Kids = ets:lookup_element(cfg, {kids, Name}, 2),
    {ok, {#{strategy => Strategy, intensity => I, period => P},
          [child_spec(K) || K <- Kids]}}.

child_spec({Id, R, {sup, Flags, _}}) ->
    #{id => Id, start => {?MODULE, start_sup, [Id, Flags]}, restart => R,
      shutdown => infinity, type => supervisor};
child_spec({Id, R, _Plan}) ->
    #{id => Id, start => {?MODULE, start_worker, [Id]}, restart => R,
      shutdown => 5000, type => worker};
child_spec({Id, R, _Plan, {Shutdown, _Beh}}) ->
    #{id => Id, start => {?MODULE, start_worker, [Id]}, restart => R,
      shutdown => Shutdown, type => worker}.

%% Record every supervisor's children and every worker's start plan; return the setup lines.
configure(Name, Kids, Depth) ->
    ets:insert(cfg, {{kids, Name}, Kids}),
    Ind = lists:duplicate(2 * Depth, $\s),
    lists:append(
      [case K of
           {Id, R, {sup, {S, I, P}, Sub}} ->
               [io_lib:format("  setup   ~s~s: supervisor ~s shutdown=infinity strategy=~s "
                              "intensity=~b period=~b", [Ind, Id, R, S, I, P])
                | configure(Id, Sub, Depth + 1)];
           {Id, R, Plan} ->
               ets:insert(plans, {Id, Plan}),
               [io_lib:format("  setup   ~s~s: worker ~s shutdown=5000~s",
                              [Ind, Id, R, plan_str(Plan)])];
           {Id, R, Plan, {Shutdown, Beh}} ->
               ets:insert(plans, {Id, Plan}),
               ets:insert(behaviour, {Id, Beh}),
               [io_lib:format("  setup   ~s~s: worker ~s shutdown=~w~s "
                              "behaviour=[trap_exit,{on_shutdown,~w}]",
                              [Ind, Id, R, Shutdown, plan_str(Plan), Beh])]
       end || K <- Kids]).

%% --- running one scenario ---------------------------------------------------------------------

run(Out, {Name, Desc, {Strategy, I, P} = Flags, Kids, Steps}) ->
    [catch ets:delete(T) || T <- [labels, counts, plans, cfg, behaviour]],
    [ets:new(T, [named_table, public]) || T <- [labels, counts, plans, cfg, behaviour]],
    Setup0 = configure(top, Kids, 0),
    case whereis(tracer) of
        undefined -> ok;
        Old -> M = erlang:monitor(process, Old), exit(Old, kill),
               receive {'DOWN', M, _, _, _} -> ok end
    end,
    register(tracer, spawn(?MODULE, tracer, [[]])),
    Setup = [io_lib:format("  setup top strategy=~s intensity=~b period=~b", [Strategy, I, P])]
        ++ Setup0,
    line("inject supervisor:start_link(top)", []),
    process_flag(trap_exit, true),
    case start_sup(top, Flags) of
        {ok, Top} ->
            line("call start_link(top) -> {ok,~s}", [label(Top)]),
            [step(S) || S <- Steps];
        Error ->
            settle(),
            line("call start_link(top) -> ~w", [Error])
    end,
    settle(),
    receive {'EXIT', _, _} -> ok after 2000 -> ok end,
    settle(),
    tracer ! {get, self()},
    Lines = unordered(receive {lines, Ls} -> Ls end, Strategy),
    Text = [io_lib:format("=== ~s: ~s~n", [Name, Desc]),
            [[S, "\n"] || S <- Setup], [["  ", L, "\n"] || L <- Lines]],
    File = filename:join(Out, atom_to_list(Name) ++ ".scn"),
    ok = file:write_file(File, Text),
    io:format("~s", [Text]).

%% simple_one_for_one stops its children all at once (OTP's terminate_children monitors and
%% signals them together): their exits are written as an `unordered { }` block.
unordered(Lines, simple_one_for_one) -> group(Lines, []);
unordered(Lines, _) -> Lines.

group([], Run) -> flush(Run);
group(["exit top" ++ _ = L | Rest], Run) -> flush(Run) ++ [L | group(Rest, [])];
group(["exit " ++ _ = L | Rest], Run) -> group(Rest, Run ++ [L]);
group([L | Rest], Run) -> flush(Run) ++ [L | group(Rest, [])].

flush(Run) when length(Run) >= 2 -> ["unordered {"] ++ ["  " ++ L || L <- Run] ++ ["}"];
flush(Run) -> Run.

plan_str([]) -> "";
plan_str(Plan) -> io_lib:format(" start-plan=~w", [Plan]).

settle() -> timer:sleep(100).

step({kill, L}) ->
    line("inject kill ~s (exit signal 'kill', untrappable)", [L]),
    exit(pid_of(L), kill), settle();
step({exit, L, R}) ->
    line("inject ~s exits by itself with reason ~w", [L, R]),
    pid_of(L) ! {exit, R}, settle();
step(stop) ->
    line("inject harness cleanup: parent stops top: exit(Top, shutdown)", []),
    exit(whereis(top), shutdown), settle();
step({call, which_children}) ->
    R = supervisor:which_children(top),
    line("call which_children(top) -> [~s]",
         [lists:join(", ", [io_lib:format("~w=~s~s", [Id, plabel(C), suffix(T)])
                            || {Id, C, T, _} <- R])]);
step({call, count_children}) ->
    line("call count_children(top) -> ~w", [supervisor:count_children(top)]);
step({call, start_child, W}) ->
    R = supervisor:start_child(top, [W]),
    line("call start_child(top, [~s]) -> ~s", [W, result(R)]);
step({call, F, {pid, L}}) ->
    R = supervisor:F(top, pid_of(L)),
    settle(),
    line("call ~s(top, pid of ~s) -> ~s", [F, L, result(R)]);
step({call, F, Id}) ->
    R = supervisor:F(top, Id),
    settle(),
    line("call ~s(top, ~s) -> ~s", [F, Id, result(R)]).

suffix(supervisor) -> "(supervisor)";
suffix(_) -> "".

plabel(P) when is_pid(P) -> label(P);
plabel(A) -> atom_to_list(A).

result({ok, P}) when is_pid(P) -> io_lib:format("{ok,~s}", [label(P)]);
result({ok, #{} = Spec}) -> io_lib:format("{ok,~0p}", [Spec]);
result(R) -> io_lib:format("~w", [R]).
