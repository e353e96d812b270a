"""The Lagrangian bound (router.solvers.bounds): the per-order oracle is exact, the bound never
exceeds the optimum (hand-made batches, random batches against a MIP proof, GAP instances),
it reaches the LP relaxation's bound, and a run with a work limit repeats exactly."""

from __future__ import annotations

import csv
import itertools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import router
from router.compile import Problem, compile_problem
from router.contract import Budget
from router.evaluate import objective, violations
from router.solvers.bounds import (
    BoundParams,
    DualPrices,
    evaluate,
    lagrangian_bound,
)
from router.solvers.bounds.dual import isolated_bound
from router.solvers.bounds.oracle import LagrangianOracle, OracleLimits, vector_partitions
from router.solvers.bounds.primal import master_plan, rounded_plan
from router.solvers.exact.ortools import lp_bound
from tests.conftest import GAP_DIR, HAND, HAND_OPTIMA, ROOT, gap_path
from tests.strategies import instances

SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
LIMITS = {"default": OracleLimits(),
          "enumerate": OracleLimits(partition_max_codes=1),  # every multi order enumerated
          "fallback": OracleLimits(partition_max_codes=1, enumerate_max_sets=0)}


def brute_force(p: Problem, orc: LagrangianOracle, rate: np.ndarray,
                fixed: np.ndarray) -> np.ndarray:
    """Least priced cost per order by trying every set of at most K arcs, each line filled
    greedily from the cheapest of them (the per-order integer problem, by definition)."""
    out = np.zeros(p.n_orders)
    pen = p.line_penalty
    for o in range(p.n_orders):
        lines = range(p.order_line_ptr[o], p.order_line_ptr[o + 1])
        arcs = list(range(p.order_arc_ptr[o], p.order_arc_ptr[o + 1]))
        best = sum(p.line_qty[ln] * pen[ln] for ln in lines) if all(
            math.isfinite(pen[ln]) for ln in lines) else math.inf
        for k in range(1, min(int(p.order_max_packages[o]), len(arcs)) + 1):
            for chosen in itertools.combinations(arcs, k):
                cost = sum(fixed[a] for a in chosen)
                for ln in lines:
                    opts = sorted((rate[e], int(orc.t[e]))
                                  for e in range(p.line_e_ptr[ln], p.line_e_ptr[ln + 1])
                                  if p.e_arc[e] in chosen and orc.t[e] > 0)
                    q = int(p.line_qty[ln])
                    for r, t in opts:
                        if q == 0 or (math.isfinite(pen[ln]) and r >= pen[ln]):
                            break
                        take = min(q, t)
                        cost += take * r
                        q -= take
                    if q:
                        cost += q * pen[ln]
                best = min(best, cost)
        out[o] = best
    return out


def pattern_cost(p: Problem, rate: np.ndarray, fixed: np.ndarray, x: np.ndarray,
                 y: np.ndarray) -> np.ndarray:
    c = np.bincount(p.e_order, weights=x * rate, minlength=p.n_orders)
    c += np.bincount(p.arc_order, weights=y * fixed, minlength=p.n_orders)
    short = p.line_qty - np.bincount(p.e_line, weights=x, minlength=p.n_lines)
    pen = np.where(short > 0, short * np.where(np.isinf(p.line_penalty), np.inf,
                                               p.line_penalty), 0.0)
    return c + np.bincount(p.line_order, weights=pen, minlength=p.n_orders)


def random_prices(p: Problem, data: st.DataObject) -> tuple[np.ndarray, np.ndarray]:
    seed = data.draw(st.integers(0, 2**16))
    scale = data.draw(st.sampled_from([0.0, 1.0, 10.0, 100.0]))
    rng = np.random.default_rng(seed)
    rate = p.e_unit_cost + scale * rng.exponential(1.0, p.n_line_arcs) * (
        rng.random(p.n_line_arcs) < 0.5)
    fixed = p.arc_cost + scale * rng.exponential(1.0, p.n_arcs) * (rng.random(p.n_arcs) < 0.5)
    return rate, fixed


def mip_optimum(inst: router.Instance) -> float:
    plan = router.solve(inst, solver="ortools-highs", time_limit=None, mip_gap=0.0)
    assert plan.status == "optimal", plan.stats
    return float(plan.objective)


@SETTINGS
@given(inst=instances(max_nodes=4, max_orders=5), data=st.data(),
       limits=st.sampled_from(sorted(LIMITS)))
def test_oracle_is_exact(inst: router.Instance, data: st.DataObject, limits: str) -> None:
    p = compile_problem(inst)
    orc = LagrangianOracle(p, LIMITS[limits])
    rate, fixed = random_prices(p, data)
    ans = orc.solve(rate, fixed)
    truth = brute_force(p, orc, rate, fixed)
    if ans.exact:
        assert ans.value == pytest.approx(truth, rel=1e-9, abs=1e-9)
        # the pattern is a plan of that cost within every per-order limit
        assert pattern_cost(p, rate, fixed, ans.x, ans.y) == pytest.approx(ans.value, rel=1e-9,
                                                                            abs=1e-9)
        assert np.all(ans.x <= orc.t) and np.all(ans.x >= 0)
        assert np.all(np.bincount(p.e_line, weights=ans.x, minlength=p.n_lines) <= p.line_qty)
        assert np.all(np.bincount(p.arc_order, weights=ans.y, minlength=p.n_orders)
                      <= p.order_max_packages)
        carried = np.bincount(p.e_arc, weights=ans.x, minlength=p.n_arcs)
        assert np.all((ans.y > 0) == (carried > 0))
    else:
        assert np.all(ans.value <= truth + 1e-9)  # the fallback is a lower bound


def test_fallback_is_taken_and_valid() -> None:
    p = compile_problem(router.load(ROOT / "instances" / "s.yaml"))
    orc = LagrangianOracle(p, LIMITS["fallback"])
    rng = np.random.default_rng(1)
    rate = p.e_unit_cost + 5 * rng.random(p.n_line_arcs)
    ans = orc.solve(rate, p.arc_cost)
    assert not ans.exact and ans.counts["fallback"] > 0
    assert np.all(ans.value <= brute_force(p, orc, rate, p.arc_cost) + 1e-9)


def test_vector_partitions_are_every_split() -> None:
    table, parts = vector_partitions((1, 1, 1, 1), 4)  # set partitions of 4 items, >= 2 groups
    assert len(table) == 15 - 1 and set(parts.tolist()) == {2, 3, 4}
    table, parts = vector_partitions((4,), 3)  # 4 = 3+1 = 2+2 = 2+1+1
    assert sorted(map(tuple, table.tolist())) == [(2, 1, 1), (2, 2, 0), (3, 1, 0)]


@SETTINGS
@given(inst=instances(), data=st.data())
def test_any_prices_give_a_bound_below_the_optimum(inst: router.Instance,
                                                   data: st.DataObject) -> None:
    p = compile_problem(inst)
    seed = data.draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    scale = data.draw(st.sampled_from([1.0, 30.0, 1000.0]))
    prices = DualPrices(scale * rng.random(len(p.pool_qty)), scale * rng.random(p.n_nodes),
                        scale * rng.random(p.n_nodes))
    assert evaluate(p, prices) <= mip_optimum(inst) + 1e-9


@SETTINGS
@given(inst=instances())
def test_bound_between_lp_and_optimum(inst: router.Instance) -> None:
    p = compile_problem(inst)
    r = lagrangian_bound(p)
    opt = mip_optimum(inst)
    assert r.bound <= opt + 1e-9
    assert r.stats.stop in ("converged", "no_column", "feasible"), r.stats
    res = lp_bound(p, Budget.start())
    lp = res.bound
    assert res.status == "optimal" and lp is not None
    assert r.bound >= lp - 2e-6 * max(1.0, abs(lp)), (r.bound, lp, r.stats)
    if r.x is not None:  # the relaxation's own plan was feasible: it is optimal
        assert router.evaluate.objective(p, r.x) == pytest.approx(opt)


@pytest.mark.parametrize("name", sorted(HAND_OPTIMA))
def test_hand_made_batches(name: str) -> None:
    p = compile_problem(router.load(HAND / f"{name}.yaml"))
    r = lagrangian_bound(p)
    assert r.bound <= HAND_OPTIMA[name] + 1e-9
    assert r.bound >= HAND_OPTIMA[name] - 1e-6  # these per-order problems are all it takes


def test_sale_day_batch_reaches_the_lp_bound() -> None:
    p = compile_problem(router.load(ROOT / "instances" / "s.yaml"))
    r = lagrangian_bound(p)
    lp = lp_bound(p, Budget.start()).bound
    assert lp is not None and r.bound >= lp - 1e-6 * lp
    best = router.solve(router.load(ROOT / "instances" / "s.yaml"), solver="ortools-highs",
                        time_limit=60, mip_gap=0.0)
    assert best.status == "optimal" and r.bound <= best.objective + 1e-9
    # the prices are returned and priced rows are limits that bind
    assert (r.prices.pool >= 0).all() and (r.prices.pkg >= 0).all()
    assert r.prices.pool[np.isinf(p.pool_qty)].sum() == 0


def test_work_limit_repeats_exactly() -> None:
    p = compile_problem(router.load(ROOT / "instances" / "m.yaml"))
    a = lagrangian_bound(p, max_iterations=2)
    b = lagrangian_bound(p, max_iterations=2)
    assert a.stats.stop == "iterations" and a.stats.iterations == 2
    assert a.bound == b.bound
    assert np.array_equal(a.prices.vector(), b.prices.vector())
    c = lagrangian_bound(p, params=BoundParams(max_iterations=3))
    assert c.bound >= a.bound


def test_deadline_is_kept() -> None:
    p = compile_problem(router.load(ROOT / "instances" / "m.yaml"))
    r = lagrangian_bound(p, Budget.start(0.0))
    assert r.bound == -math.inf and r.stats.evaluations == 0 and r.stats.stop == "deadline"


def test_a_job_no_agent_can_take_is_proven_infeasible(tmp_path: pytest.TempPathFactory) -> None:
    path = tmp_path / "one_job_too_big.gap"  # type: ignore[operator]
    # 2 agents, 2 jobs; job 2 needs 5 units and each agent has 3
    path.write_text("2 2\n1 2\n3 4\n1 5\n1 5\n3 3\n")
    p = compile_problem(router.load(path, format="gap"))
    r = lagrangian_bound(p)
    assert r.bound == math.inf and r.stats.stop == "infeasible"


def _gap_rows() -> list[tuple[str, float, float]]:
    with (GAP_DIR / "bounds_min.tsv").open() as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return [(r["instance"], float(r["lower_bound"]), float(r["upper_bound"])) for r in rows]


GAP_SAMPLE = [r for r in _gap_rows() if r[0][:1] in "abcde" and r[0].endswith("100")
              or r[0] in ("c0515_1", "c0824_3", "c1060_5")]


@pytest.mark.parametrize("name,lower,upper", GAP_SAMPLE)
def test_gap_bound_never_exceeds_the_best_known(name: str, lower: float, upper: float) -> None:
    p = compile_problem(router.load(gap_path(name), format="gap"))
    r = lagrangian_bound(p, max_iterations=200)
    assert r.bound <= upper  # the best plan known (the optimum where lower == upper)
    assert r.bound == math.floor(r.bound)  # whole-number costs: rounded up
    lp = lp_bound(p, Budget.start()).bound
    assert lp is not None and r.bound >= lp - 1e-6 * lp


@SETTINGS
@given(inst=instances(), rounds=st.sampled_from([0, 1, 2, None]))
def test_plans_from_the_dual_are_feasible_and_never_below_the_bound(
        inst: router.Instance, rounds: int | None) -> None:
    """The rounded master solution and the restricted master's integer program give
    feasible plans, never below the bound (hence never below the optimum: the bound is
    below it), and the program never loses its incumbent; a bound cut short by a round
    limit is still below the optimum."""
    p = compile_problem(inst)
    r = lagrangian_bound(p, max_iterations=rounds)
    opt = mip_optimum(inst)
    assert r.bound <= opt + 1e-9
    if r.pool is None:
        return
    x, _ = rounded_plan(p, r.pool, seed=3)
    assert x is not None and violations(p, x) == []
    cost = objective(p, x)
    assert cost >= opt - 1e-6
    y, ans = master_plan(p, r.pool, x, Budget.start(30.0))
    if y is not None:
        assert violations(p, y) == []
        assert opt - 1e-6 <= objective(p, y) <= cost + 1e-6
    assert ans.status in ("optimal", "empty"), ans


def test_the_bound_in_a_child_process_is_the_same_bound() -> None:
    """The bound computed in a child (HiGHS never loaded by the caller) is the one computed
    in the caller, with its pool; a budget already spent gives no bound."""
    p = compile_problem(router.load(ROOT / "instances" / "s.yaml"))
    here = lagrangian_bound(p, max_iterations=3)
    there, why = isolated_bound(p, Budget(), max_iterations=3)
    assert there is not None and why == ""
    assert there.bound == here.bound and there.pool is not None and here.pool is not None
    assert np.array_equal(there.prices.vector(), here.prices.vector())
    assert np.array_equal(there.pool.weight, here.pool.weight)
    late, _ = isolated_bound(p, Budget.start(0.0))
    assert late is None or late.bound == -math.inf
