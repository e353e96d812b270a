"""The run contract, solver by solver: budget and parameters in, one outcome out; work budgets
repeat exactly; bad options are errors; engines run where they can be stopped; the library
never prints nor changes its caller's process; signals stop a run and leave nothing behind."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import router
import router.io
from router.cli import main as cli_main
from router.compile import compile_problem
from router.contract import (
    Budget,
    Limit,
    Meter,
    OptionError,
    Reason,
    Run,
    Status,
    within_gap,
)
from router.evaluate import objective, violations
from router.solvers.exact.isolate import run_isolated
from router.solvers.registry import registry
from tests.conftest import HAND, ROOT, gap_path

ALL = sorted(n for n, i in registry().items() if i.available() is None)
MIP = sorted(n for n, i in registry().items() if i.kind == "mip" and i.available() is None)


@pytest.fixture(scope="module")
def xs() -> router.Instance:
    return router.generate("xs", seed=3)


def _consistent(plan: router.Plan) -> None:
    """Status, termination, source and bound tell one story."""
    t = plan.termination
    assert t is not None
    assert plan.status in list(Status) and t.reason in list(Reason) and t.limit in list(Limit)
    if plan.status == Status.OPTIMAL:
        assert t.reason == Reason.OPTIMAL
        assert within_gap(plan.objective, plan.lower_bound, 1e-4)
    if t.reason == Reason.OPTIMAL:
        assert plan.status == Status.OPTIMAL
    if t.reason == Reason.LIMIT:
        assert t.limit != Limit.NONE
    if plan.has_plan:
        assert plan.source and plan.objective is not None
        if plan.lower_bound is not None:
            assert plan.lower_bound <= plan.objective + 1e-6 * max(1.0, abs(plan.objective))
    assert plan.stats.seconds > 0


@pytest.mark.parametrize("solver", ALL)
@pytest.mark.parametrize("case", ["capacity", "express", "xs"])
def test_every_solver_keeps_the_contract(solver: str, case: str, xs: router.Instance) -> None:
    inst = xs if case == "xs" else router.load(HAND / f"{case}.yaml")
    plan = router.solve(inst, solver=solver, time_limit=2.0, seed=1)
    _consistent(plan)
    assert plan.has_plan
    assert router.verify(inst, plan, raise_on_error=False).ok
    # the same through the plan file
    back = router.Plan.from_json(plan.to_json())
    assert back.status == plan.status and back.termination == plan.termination
    assert back.source == plan.source


@pytest.mark.parametrize("solver", ALL)
def test_a_work_budget_repeats_exactly(solver: str, xs: router.Instance) -> None:
    p = compile_problem(xs)
    a = router.solve(xs, solver=solver, work_limit=40, seed=7, problem=p)
    b = router.solve(xs, solver=solver, work_limit=40, seed=7, problem=p)
    assert a.shipments == b.shipments and a.unfilled == b.unfilled
    assert a.objective == b.objective and a.lower_bound == b.lower_bound
    assert a.stats.work <= 40 or registry()[solver].work_unit.startswith("none")
    _consistent(a)


@pytest.mark.parametrize("solver", ["auto", "lagrangian", "lp-bound", "greedy"])
def test_an_infinite_time_limit_means_none(solver: str, xs: router.Instance) -> None:
    plan = router.solve(xs, solver=solver, time_limit=math.inf)
    assert plan.has_plan and plan.stats.time_limit is None
    _consistent(plan)


def test_unknown_and_misspelt_options_name_the_valid_ones(xs: router.Instance) -> None:
    with pytest.raises(OptionError, match=r"'timelimit'.*did you mean 'time_limit'"):
        router.solve(xs, solver="lagrangian", timelimit=0.2)
    with pytest.raises(OptionError, match="subgradient_share"):
        router.solve(xs, solver="lagrangian", subgradient_shar=0.2)
    with pytest.raises(OptionError, match=r"must be in \[0, 1\]"):
        router.solve(xs, solver="auto", mip_share=3)
    with pytest.raises(OptionError, match="warm_start"):
        router.solve(xs, solver="greedy", warm_start=None)


@pytest.mark.parametrize("kw", [{"time_limit": -1.0}, {"time_limit": float("nan")},
                                {"seed": -1}, {"seed": 1.5}, {"threads": 0},
                                {"mip_gap": float("nan")}, {"mip_gap": 1.5},
                                {"work_limit": -3}, {"time_limit": "1"}])
def test_bad_run_options_are_errors(kw: dict[str, object], xs: router.Instance) -> None:
    with pytest.raises(OptionError):
        router.solve(xs, solver="greedy", **kw)  # type: ignore[arg-type]


def test_seed_none_is_seed_zero(xs: router.Instance) -> None:
    a = router.solve(xs, solver="regret", seed=None)  # type: ignore[arg-type]
    b = router.solve(xs, solver="regret", seed=0)
    assert a.shipments == b.shipments


@pytest.mark.parametrize("args", [["--seed", "-1"], ["--time-limit", "-1"],
                                  ["--time-limit", "nan"], ["--threads", "0"],
                                  ["--mip-gap", "nan"], ["--work-limit", "x"],
                                  ["--param", "timelimit=3"], ["--param", "nonsense"]])
def test_bad_cli_options_exit_2(args: list[str], tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "plan.json"
    code = cli_main(["solve", str(HAND / "split.yaml"), "--solver", "auto", *args,
                            "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and not out.exists()


def test_params_by_keyword_and_object(xs: router.Instance) -> None:
    from router.solvers.portfolio.auto import AutoParams

    a = router.solve(xs, solver="auto", work_limit=30, lagrangian_share_routing=0.5)
    b = router.solve(xs, solver="auto", work_limit=30,
                     params=AutoParams(lagrangian_share_routing=0.5))
    assert a.shipments == b.shipments
    with pytest.raises(OptionError):
        router.solve(xs, solver="greedy", params=AutoParams())


def test_initial_plan_is_never_lost(xs: router.Instance, tmp_path: Path) -> None:
    p = compile_problem(xs)
    best = router.solve(xs, solver="auto", work_limit=300, problem=p)
    for solver in ("nearest", "greedy", "ortools-highs", "auto"):
        plan = router.solve(xs, solver=solver, time_limit=0.5, initial=best, problem=p)
        assert plan.objective is not None and best.objective is not None
        assert plan.objective <= best.objective + 1e-6
        assert router.verify(xs, plan, raise_on_error=False).ok
    # from the command line
    f = tmp_path / "start.json"
    best.write(f)
    inst_file = tmp_path / "xs.json"
    router.io.write(xs, inst_file)
    out = tmp_path / "plan.json"
    assert cli_main(["solve", str(inst_file), "--solver", "nearest", "--initial", str(f),
                            "-o", str(out)]) == 0
    assert router.Plan.read(out).objective == pytest.approx(best.objective)


def test_initial_plan_of_another_batch_is_set_aside(xs: router.Instance) -> None:
    other = router.solve(router.load(HAND / "split.yaml"), solver="greedy")
    plan = router.solve(xs, solver="greedy", initial=other)
    assert any("initial plan not used" in n for n in plan.stats.notes)


def test_below_the_floor_the_result_says_so() -> None:
    inst = router.generate("s", seed=2)
    plan = router.solve(inst, solver="auto", time_limit=0.0)
    assert plan.has_plan and router.verify(inst, plan, raise_on_error=False).ok
    assert plan.termination is not None and plan.termination.limit == Limit.TIME
    assert any("over the time limit" in n for n in plan.stats.notes)


def test_cancel_stops_a_run_with_its_best_plan(xs: router.Instance) -> None:
    # a batch auto cannot prove optimal before the cancel (it proves m seed 2 in 0.3 s)
    inst = router.generate("l", seed=1)
    cancel = threading.Event()
    timer = threading.Timer(0.3, cancel.set)
    timer.start()
    try:
        plan = router.solve(inst, solver="auto", time_limit=60, cancel=cancel)
    finally:
        timer.cancel()
    assert plan.has_plan and plan.termination is not None
    assert plan.termination.limit == Limit.INTERRUPTED


def test_solve_from_several_threads_at_once(xs: router.Instance) -> None:
    cases = [("greedy", None), ("regret", None), ("auto", 60), ("ortools-highs", None)] * 2
    expected = {s: router.solve(xs, solver=s, work_limit=w, seed=2) for s, w in set(cases)}
    results: dict[int, router.Plan] = {}

    def go(i: int, solver: str, work: int | None) -> None:
        results[i] = router.solve(xs, solver=solver, work_limit=work, seed=2)

    threads = [threading.Thread(target=go, args=(i, s, w)) for i, (s, w) in enumerate(cases)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, (s, _) in enumerate(cases):
        assert results[i].shipments == expected[s].shipments, s
        assert router.verify(xs, results[i], raise_on_error=False).ok


_QUIET = """
import gc, os, sys
import router
inst = router.generate("s", seed=5)
fd1, flags, gc_on = os.fstat(1), sys.getdlopenflags(), gc.isenabled()
plan = router.solve(inst, solver=sys.argv[1], time_limit=1.0)
assert plan.has_plan
assert sys.getdlopenflags() == flags and gc.isenabled() == gc_on
assert (os.fstat(1).st_ino, os.fstat(1).st_dev) == (fd1.st_ino, fd1.st_dev)
assert "pulp" not in sys.modules and "highspy" not in sys.modules, "an engine was imported"
"""


@pytest.mark.parametrize("solver", ["auto", "lagrangian", "distributed", "pulp-highs",
                                    "ortools-highs", "pulp-cbc", "lp-bound"])
def test_the_library_never_prints_nor_changes_its_process(solver: str) -> None:
    """In a fresh process: nothing on stdout or stderr (engines print banners from C), the
    dynamic-loader flags, the garbage collector and the standard output left as they were,
    and no engine module imported into the caller's process."""
    proc = subprocess.run([sys.executable, "-c", _QUIET, solver], capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and proc.stderr == ""


def _sleeps(workdir: str) -> int:
    time.sleep(60)
    return 1


def _raises(workdir: str) -> int:
    raise RuntimeError("engine failed")


def _dies(workdir: str) -> int:
    os._exit(3)


def _spawns(workdir: str) -> int:
    (Path(workdir) / "model.mps").write_text("x")
    subprocess.Popen(["sleep", "60"]).wait()
    return 1


def test_an_engine_that_overruns_is_killed_with_its_children(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    res = run_isolated(_spawns, hard_deadline=time.perf_counter() + 0.5)
    assert res.failure == "killed" and res.value is None
    assert list(tmp_path.iterdir()) == []  # the engine's folder and its model file are gone


def test_engine_failures_are_answers_not_exceptions() -> None:
    assert run_isolated(_raises, hard_deadline=None).failure == "error"
    assert run_isolated(_dies, hard_deadline=None).failure == "crashed"
    assert run_isolated(_sleeps, hard_deadline=time.perf_counter() + 0.2).failure == "killed"
    assert run_isolated(lambda workdir: 42, hard_deadline=None).value == 42


def test_a_budget_shares_and_meters() -> None:
    b = Budget.start(10.0, 100)
    s = b.share(0.5)
    assert s.work == 50 and s.deadline is not None and b.deadline is not None
    assert s.deadline <= b.deadline
    m = Meter(Budget(work=3))
    for _ in range(3):
        assert not m.stop()
        m.spend()
    assert m.stop() and m.limit == Limit.WORK
    assert Budget.start(math.inf).deadline is None
    with pytest.raises(OptionError):
        Budget.start(-1.0)


# ---------------------------------------------------------------------------------------------
# signals: Ctrl-C and SIGTERM stop a run, kill its engine, remove its files, write nothing


def _descendants(pid: int) -> set[int]:
    out: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        for d in Path("/proc").iterdir():
            if not d.name.isdigit():
                continue
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent and int(d.name) not in out:
                out.add(int(d.name))
                todo.append(int(d.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("solver", ["pulp-cbc", "ortools-highs"])
def test_a_signal_stops_the_run_and_leaves_nothing(sig: int, solver: str,
                                                   tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    out = tmp_path / "plan.json"
    inst = ROOT / "instances" / "m.yaml"
    proc = subprocess.Popen([sys.executable, "-m", "router", "solve", str(inst), "--solver",
                             solver, "--time-limit", "120", "-o", str(out)],
                            env={**os.environ, "TMPDIR": str(tmp)}, stderr=subprocess.PIPE,
                            text=True)
    engines: set[int] = set()
    try:
        for _ in range(600):  # until the engine's process (and its folder) exist
            engines = _descendants(proc.pid)
            if engines and any(tmp.iterdir()):
                break
            time.sleep(0.05)
        assert engines, "the engine never started"
        time.sleep(0.5)
        engines |= _descendants(proc.pid)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + sig, err
    assert "nothing written" in err and "Traceback" not in err
    assert not out.exists() and not list(tmp_path.glob(".plan.json.*"))
    for _ in range(100):
        if not any(_alive(p) for p in engines):
            break
        time.sleep(0.05)
    assert not any(_alive(p) for p in engines)
    assert list(tmp.iterdir()) == []


def test_plan_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inst = router.load(HAND / "split.yaml")
    plan = router.solve(inst, solver="greedy")
    target = tmp_path / "plan.json"
    target.write_text("previous plan")

    def boom(src: str, dst: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        plan.write(target)
    assert target.read_text() == "previous plan"
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]
    monkeypatch.undo()
    plan.write(target)
    assert router.Plan.read(target).objective == plan.objective


def test_gap_work_budget_mip_repeats() -> None:
    inst = router.load(gap_path("c0824_2"), format="gap")
    p = compile_problem(inst)
    for solver in MIP:
        a = router.solve(inst, solver=solver, work_limit=5, seed=3, problem=p)
        b = router.solve(inst, solver=solver, work_limit=5, seed=3, problem=p)
        assert a.shipments == b.shipments, solver
        _consistent(a)


def test_outcome_x_is_read_only(xs: router.Instance) -> None:
    from router.solvers.registry import get

    p = compile_problem(xs)
    r = get("greedy").func(p, Run.of())
    assert r.x is not None and not r.x.flags.writeable
    assert not violations(p, np.asarray(r.x)) and r.objective == objective(p, np.asarray(r.x))


def test_a_bound_above_the_plan_is_dropped_not_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """A solver that claims a bound above its own plan: the plan stands, the bound goes."""
    from router.contract import Outcome, Termination
    from router.solvers import registry as reg
    from router.solvers.registry import SolverInfo, get

    def liar(problem: router.Problem, run: Run) -> Outcome:
        g = get("greedy").func(problem, run)
        assert g.objective is not None
        return Outcome("t-liar", Status.OPTIMAL, Termination(Reason.OPTIMAL), g.x,
                       g.objective, g.objective * 2 + 10, "t-liar")

    reg.registry()
    monkeypatch.setitem(reg._REGISTRY, "t-liar", SolverInfo("t-liar", liar, "test", "heuristic"))
    inst = router.load(HAND / "split.yaml")
    plan = router.solve(inst, solver="t-liar")
    assert plan.lower_bound is None and plan.status == Status.FEASIBLE
    assert router.verify(inst, plan, raise_on_error=False).ok
    assert any("dropped" in n for n in plan.stats.notes)
