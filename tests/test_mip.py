"""The exact solvers: one MIP model (router.solvers.exact.model) on five engines, the LP bound,
and `router export`.

Every backend must reach the worked optimum of the hand-made batches, the proven optimum of
OR-Library GAP instances (bounds_min.tsv), and the same optimum as the others on random small
batches; every plan verifies; a time limit too short for the engine still gives a plan.
"""

from __future__ import annotations

import csv
import importlib
import math
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import router
from router.cli import main
from router.compile import compile_problem
from router.contract import Budget, Reason, Run, Status
from router.evaluate import objective, violations
from router.solvers.registry import get
from tests.conftest import DATA, GAP_DIR, HAND, HAND_OPTIMA, gap_path
from tests.strategies import instances

mip_model = importlib.import_module("router.solvers.exact.model")
ortools_mip = importlib.import_module("router.solvers.exact.ortools")

BACKENDS = ("ortools-highs", "ortools-scip", "ortools-cpsat", "pulp-cbc", "pulp-highs")
ORTOOLS = BACKENDS[:3]
INFEASIBLE_GAP = DATA / "gap_infeasible.gap"


@cache
def gap_optima() -> dict[str, float]:
    with open(GAP_DIR / "bounds_min.tsv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return {r["instance"]: float(r["upper_bound"]) for r in rows
            if r["lower_bound"] == r["upper_bound"]}


def close(a: float, b: float, rel: float = 1e-6) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-6)


def check_plan(inst: router.Instance | router.GapInstance, plan: router.Plan) -> None:
    """The plan verifies, its objective is the verifier's cost, its bound is below it."""
    report = router.verify(inst, plan)
    assert report.ok
    assert plan.objective is not None
    assert close(plan.objective, report.cost.total)
    if plan.lower_bound is not None:
        assert plan.lower_bound <= plan.objective + 1e-6 * max(1.0, abs(plan.objective))


# ---------------------------------------------------------------------------------------------
# the model itself


@pytest.mark.parametrize("name", sorted(HAND_OPTIMA))
def test_model_of_a_plan_satisfies_every_row(name: str) -> None:
    """A feasible plan, written as column values, meets every row and column bound and the
    model's objective is the plan's cost."""
    p = compile_problem(router.load(HAND / f"{name}.yaml"))
    x = get("greedy").func(p, Run.of()).x
    assert x is not None and not violations(p, x)
    m = mip_model.build_model(p)
    v = m.values_from_x(p, x)
    act = np.bincount(m.a_row, weights=m.a_val * v[m.a_col], minlength=m.n_rows)
    assert (act >= m.row_lb - 1e-9).all() and (act <= m.row_ub + 1e-9).all()
    assert (v >= m.col_lb).all() and (v <= m.col_ub).all()
    assert close(m.objective_of(v), objective(p, x))
    assert (m.x_from_values(v) == x).all()


def test_gap_model_has_one_binary_per_assignment() -> None:
    """GAP: x and y of an (agent, job) pair collapse into one binary; rows are the
    assignment rows and one capacity row per agent that can be overloaded."""
    inst = router.load(gap_path("c0515_1"), format="gap")
    p = compile_problem(inst)
    m = mip_model.build_model(p)
    assert m.n_cols == p.n_arcs
    assert (m.col_ub == 1).all() and m.col_int.all()
    kinds = [mip_model.ROW_KINDS[k] for k in m.row_kind]
    assert kinds.count("fill") == inst.n_jobs
    assert set(kinds) <= {"fill", "cap"}
    assert kinds.count("cap") <= inst.n_agents


def test_model_rows_that_cannot_bind_are_left_out() -> None:
    p = compile_problem(router.load(HAND / "split.yaml"))
    m = mip_model.build_model(p)
    kinds = [mip_model.ROW_KINDS[k] for k in m.row_kind]
    # ample stock, no capacities, no package limits: only the two lines, and the one arc that
    # can carry both (W-far: two links, one carry); the one-unit arcs are single binaries
    assert sorted(kinds) == ["carry", "fill", "fill", "link", "link"]
    # y for each arc, x for the two line-arcs of W-far, u for each line
    assert m.n_cols == p.n_arcs + 2 + p.n_lines


# ---------------------------------------------------------------------------------------------
# hand-made batches: the worked optima


@pytest.mark.parametrize("solver", BACKENDS)
@pytest.mark.parametrize("name", sorted(HAND_OPTIMA))
def test_hand_optimum(solver: str, name: str) -> None:
    inst = router.load(HAND / f"{name}.yaml")
    plan = router.solve(inst, solver=solver, time_limit=60, mip_gap=0.0)
    assert plan.status == "optimal"
    assert close(plan.objective, HAND_OPTIMA[name])
    assert plan.lower_bound is not None and close(plan.lower_bound, HAND_OPTIMA[name], 1e-5)
    assert plan.termination is not None and plan.termination.reason == Reason.OPTIMAL
    assert not plan.termination.fallback and plan.source == solver
    assert plan.stats.build_seconds > 0 and plan.stats.solve_seconds > 0
    check_plan(inst, plan)


@pytest.mark.parametrize("name", sorted(HAND_OPTIMA))
def test_lp_bound_below_hand_optimum(name: str) -> None:
    p = compile_problem(router.load(HAND / f"{name}.yaml"))
    res = ortools_mip.lp_bound(p, Budget())
    assert res.status == "optimal"
    assert res.bound is not None and res.bound <= HAND_OPTIMA[name] + 1e-6
    r = get("lp-bound").func(p, Run.of())
    assert r.x is not None and r.source == "greedy"  # the LP bound beside the greedy plan
    assert r.bound is not None and close(r.bound, min(res.bound, r.objective or 0.0))


# ---------------------------------------------------------------------------------------------
# random small batches: every engine, the same optimum


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(max_nodes=4, max_orders=5, max_skus=3))
def test_backends_agree_on_random_batches(inst: router.Instance) -> None:
    p = compile_problem(inst)
    objs = {}
    for solver in BACKENDS:
        plan = router.solve(inst, solver=solver, time_limit=60, mip_gap=0.0, problem=p)
        assert plan.status == "optimal", (solver, plan.stats)
        check_plan(inst, plan)
        objs[solver] = plan.objective
    best = min(objs.values())
    for obj in objs.values():
        assert close(obj, best, 1e-5), objs
    # the LP relaxation bounds the optimum from below; so does every engine's bound
    res = ortools_mip.lp_bound(p, Budget())
    assert res.status == "optimal" and res.bound is not None
    assert res.bound <= best + 1e-6 * max(1.0, abs(best))
    # the model accepts the greedy plan as a start: every row holds, same cost
    x = get("greedy").func(p, Run.of()).x
    if x is not None:
        m = mip_model.build_model(p)
        v = m.values_from_x(p, x)
        act = np.bincount(m.a_row, weights=m.a_val * v[m.a_col], minlength=m.n_rows)
        assert (act >= m.row_lb - 1e-9).all() and (act <= m.row_ub + 1e-9).all()
        assert close(m.objective_of(v), objective(p, x))


# ---------------------------------------------------------------------------------------------
# GAP: proven optima of OR-Library instances

GAP_ALL = ("c0515_1", "c0520_3", "c0824_2", "c1030_1")
GAP_ORTOOLS = ("a05100", "b05100", "c05100")


@pytest.mark.parametrize("solver", BACKENDS)
@pytest.mark.parametrize("name", GAP_ALL)
def test_gap_optimum_every_backend(solver: str, name: str) -> None:
    _check_gap(solver, name)


@pytest.mark.parametrize("solver", ORTOOLS)
@pytest.mark.parametrize("name", GAP_ORTOOLS)
def test_gap_optimum_ortools(solver: str, name: str) -> None:
    _check_gap(solver, name)


def _check_gap(solver: str, name: str) -> None:
    inst = router.load(gap_path(name), format="gap")  # skips where the GAP library is absent
    opt = gap_optima()[name]
    plan = router.solve(inst, solver=solver, time_limit=120)
    assert plan.status == "optimal"
    assert plan.objective == opt  # integer costs: the default gap 1e-4 is below one unit
    assert plan.lower_bound == opt  # bound of an integer objective, rounded up
    check_plan(inst, plan)


@pytest.mark.parametrize("solver", BACKENDS)
def test_infeasible_gap_is_reported_infeasible(solver: str) -> None:
    inst = router.load(INFEASIBLE_GAP, format="gap")
    plan = router.solve(inst, solver=solver, time_limit=3)
    assert plan.status == "infeasible", plan.termination
    assert plan.termination is not None and plan.termination.reason == Reason.INFEASIBLE
    assert not plan.has_plan and plan.objective is None


def test_infeasible_gap_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["solve", str(INFEASIBLE_GAP), "--format", "gap", "--solver", "ortools-highs",
                 "--time-limit", "3"])
    assert code == 1
    assert "status=infeasible" in capsys.readouterr().err


def test_lp_bound_proves_infeasibility_of_a_gap() -> None:
    # 4 jobs of 2 units, 2 agents of capacity 3: even a fractional assignment does not fit
    inst = router.parse_gap("2 4\n1 2 3 4\n4 3 2 1\n2 2 2 2\n2 2 2 2\n3 3\n")
    p = compile_problem(inst)
    assert get("lp-bound").func(p, Run.of()).status == Status.INFEASIBLE
    # the instance of the file fits fractionally (LP bound 4) but not in whole jobs: greedy
    # finds no plan, the bound stands
    p = compile_problem(router.load(INFEASIBLE_GAP, format="gap"))
    r = get("lp-bound").func(p, Run.of())
    assert r.status == Status.NO_SOLUTION and r.bound == 4.0


def test_lp_bound_on_gap_is_a_lower_bound() -> None:
    p = compile_problem(router.load(gap_path("c0515_1"), format="gap"))
    res = ortools_mip.lp_bound(p, Budget())
    assert res.status == "optimal" and res.bound is not None
    assert 0.9 * gap_optima()["c0515_1"] < res.bound <= gap_optima()["c0515_1"]
    assert res.model is not None and res.model.n_cols == p.n_arcs


# ---------------------------------------------------------------------------------------------
# time limits, warm starts, fallbacks


@pytest.fixture(scope="module")
def large() -> tuple[router.Instance, router.Problem]:
    """A 20,000-order sale-day batch (preset l): about 160,000 arcs."""
    generate = importlib.import_module("router.generate")
    inst = generate.generate("l", seed=7)
    return inst, compile_problem(inst)


@pytest.fixture(scope="module")
def medium() -> tuple[router.Instance, router.Problem]:
    """A 2,000-order sale-day batch (preset m)."""
    generate = importlib.import_module("router.generate")
    inst = generate.generate("m", seed=7)
    return inst, compile_problem(inst)


@pytest.mark.parametrize("solver", BACKENDS)
def test_tiny_time_limit_still_gives_a_verified_plan(
        solver: str, large: tuple[router.Instance, router.Problem]) -> None:
    inst, p = large
    plan = router.solve(inst, solver=solver, time_limit=0.1, problem=p)
    assert plan.status in ("feasible", "optimal")
    check_plan(inst, plan)


@pytest.mark.parametrize("solver", ORTOOLS)
def test_an_engine_stopped_by_its_time_limit_says_so(solver: str) -> None:
    """A run the clock stopped before a proof reports limit=time, whichever engine (CP-SAT
    does not name the limit it reached)."""
    inst = router.load(gap_path("d20100"), format="gap")  # no engine proves it in 0.5 s
    plan = router.solve(inst, solver=solver, time_limit=0.5)
    check_plan(inst, plan)
    assert plan.termination is not None
    if plan.status != "optimal":
        assert plan.termination.reason == Reason.LIMIT
        assert plan.termination.limit == "time"


@pytest.mark.parametrize("solver", ORTOOLS)
def test_warm_start_is_never_lost(solver: str,
                                  medium: tuple[router.Instance, router.Problem]) -> None:
    """With a start and a limit too short to improve it, the answer is at least as good."""
    _, p = medium
    start = get("greedy").func(p, Run.of()).x
    assert start is not None
    r = get(solver).func(p, Run.of(0.3, initial=start))
    assert r.status in (Status.FEASIBLE, Status.OPTIMAL)
    assert r.x is not None and not violations(p, r.x)
    assert r.objective is not None and r.objective <= objective(p, start) + 1e-6
    assert r.stats.extra["warm_start"] == "initial"


def test_infeasible_warm_start_is_ignored() -> None:
    p = compile_problem(router.load(HAND / "capacity.yaml"))
    bad = np.asarray(p.e_ub, dtype=np.int64)  # every line-arc at its bound: over capacity
    assert violations(p, bad)
    r = get("ortools-highs").func(p, Run.of(initial=bad, mip_gap=0.0))
    assert r.status == Status.OPTIMAL and close(r.objective or 0.0, HAND_OPTIMA["capacity"])
    assert r.stats.extra["warm_start"] == "greedy"


@pytest.mark.parametrize("solver", ("ortools-highs", "pulp-cbc"))
def test_same_seed_same_plan(solver: str) -> None:
    p = compile_problem(router.load(gap_path("c0824_2"), format="gap"))
    a = get(solver).func(p, Run.of(seed=3))
    b = get(solver).func(p, Run.of(seed=3))
    assert a.x is not None and b.x is not None and (a.x == b.x).all()


def test_lp_bound_from_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    """`router solve --solver lp-bound`: the greedy plan as incumbent beside the LP bound."""
    code = main(["solve", str(HAND / "capacity.yaml"), "--solver", "lp-bound"])
    out = capsys.readouterr()
    assert code == 0
    plan = router.Plan.from_json(out.out)
    assert plan.lower_bound is not None
    assert plan.lower_bound <= HAND_OPTIMA["capacity"] + 1e-9 <= plan.objective + 1e-9
    # optimal exactly when the greedy plan is within the gap of the LP bound
    assert (plan.status == "optimal") == (plan.objective - plan.lower_bound
                                          <= 1e-4 * plan.objective + 1e-6)
    assert plan.source == "greedy" and "source=greedy" in out.err


def test_pulp_highs_keeps_stdout_clean() -> None:
    """The plan goes to stdout: nothing an engine prints (HiGHS prints a banner from C) may
    land there."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "router", "solve", str(HAND / "split.yaml"),
                           "--solver", "pulp-highs"], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert router.Plan.from_json(proc.stdout).objective == HAND_OPTIMA["split"]


def test_every_backend_is_listed_available() -> None:
    for name in (*BACKENDS, "lp-bound"):
        assert get(name).available() is None


# ---------------------------------------------------------------------------------------------
# router export


@pytest.mark.parametrize("suffix", (".mps", ".lp"))
@pytest.mark.parametrize("name", ("capacity", "unfillable", "store"))
def test_export_reads_back_to_the_optimum(tmp_path: Path, suffix: str, name: str) -> None:
    out = tmp_path / f"model{suffix}"
    assert main(["export", str(HAND / f"{name}.yaml"), "-o", str(out)]) == 0
    text = out.read_text()
    assert "y_O" in text  # readable names
    assert close(_read_and_solve(out), HAND_OPTIMA[name])


def test_export_gap(tmp_path: Path) -> None:
    out = tmp_path / "g.lp"
    assert main(["export", str(gap_path("c0515_1")), "--format", "gap", "-o", str(out)]) == 0
    assert _read_and_solve(out) == gap_optima()["c0515_1"]


def test_export_rejects_unknown_extension(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "model.txt"
    assert main(["export", str(HAND / "split.yaml"), "-o", str(out)]) == 2
    assert "must end in .mps or .lp" in capsys.readouterr().err
    assert not out.exists()


def _read_and_solve(path: Path) -> float:
    """Solve a written model file with an independent reader (HiGHS)."""
    import highspy

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    assert h.readModel(str(path)) == highspy.HighsStatus.kOk
    h.run()
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    return float(h.getInfo().objective_function_value)
