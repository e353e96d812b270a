"""The knapsack Lagrangian of assignment batches: a proven bound, at least the LP's."""

from __future__ import annotations

import itertools
import math
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import router
from router import jit
from router.compile import compile_problem
from router.contract import Budget
from router.io.read import parse_gap
from router.solvers.bounds import knapsack
from router.solvers.bounds.dual import integral_costs, lagrangian_bound
from router.solvers.heuristics.assign import Matrices
from tests.conftest import gap_path
from tests.test_bounds import GAP_SAMPLE

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def gap_texts(draw: st.DrawFn) -> str:
    """A small GAP file: m agents, n jobs, whole costs, resources and capacities."""
    m = draw(st.integers(1, 3))
    n = draw(st.integers(1, 6))
    cost = draw(st.lists(st.integers(0, 30), min_size=m * n, max_size=m * n))
    res = draw(st.lists(st.integers(1, 8), min_size=m * n, max_size=m * n))
    cap = draw(st.lists(st.integers(0, 16), min_size=m, max_size=m))
    return " ".join(map(str, [m, n, *cost, *res, *cap]))


def optimum(M: Matrices) -> float:
    """Every assignment tried: the least cost within every capacity (inf: none)."""
    best = math.inf
    for a in itertools.product(range(M.m), repeat=M.n):
        arr = np.array(a, dtype=np.int64)
        if not M.ok[arr, np.arange(M.n)].all():
            continue
        if (M.load(arr) <= M.cap + 1e-9).all():
            best = min(best, M.total(arr))
    return best


def _matrices(text: str) -> tuple[router.compile.Problem, Matrices]:
    p = compile_problem(parse_gap(text, "test"))
    return p, Matrices(p)


@SETTINGS
@given(text=gap_texts(), seed=st.integers(0, 2**16), scale=st.sampled_from([1.0, 10.0, 50.0]))
def test_any_prices_bound_the_optimum(text: str, seed: int, scale: float) -> None:
    p, M = _matrices(text)
    opt = optimum(M)
    if not math.isfinite(opt):
        return
    u = scale * np.random.default_rng(seed).random(M.n)
    lb, take = knapsack.Knapsacks(M).value(u, integral_costs(p))
    assert lb <= opt + 1e-9
    # every knapsack within its capacity
    load = np.where(take, M.res, 0.0).sum(axis=1)
    assert (load <= M.cap + 1e-9).all()


@SETTINGS
@given(text=gap_texts())
def test_the_climb_is_between_the_lp_bound_and_the_optimum(text: str) -> None:
    p, M = _matrices(text)
    opt = optimum(M)
    if not math.isfinite(opt):
        return
    lp = lagrangian_bound(p)  # the LP bound (column generation, converged on these)
    assert lp.stats.stop in ("converged", "no_column", "feasible"), lp.stats
    u0 = knapsack.lp_order_prices(M, lp.prices.cap)
    r = knapsack.knapsack_bound(M, u0, opt, Budget.start(None, 300), integral_costs(p))
    assert r.bound <= opt + 1e-9
    assert r.bound >= lp.bound - 1e-6 * max(1.0, abs(lp.bound)), (r, lp.bound)
    assert r.start is not None and len(r.start) == M.n


@SETTINGS
@given(text=gap_texts(), seed=st.integers(0, 2**16))
def test_compiled_and_numpy_knapsacks_agree(text: str, seed: int) -> None:
    if not jit.ENABLED:
        pytest.skip("numba is not installed")
    _, M = _matrices(text)
    ks = knapsack.Knapsacks(M)
    u = 30.0 * np.random.default_rng(seed).random(M.n)
    val, take = ks.solve(u)
    val2, take2 = knapsack._knapsacks_numpy(u[None, :] - ks.cost_ok, ks.w, M.ok, ks.caps)
    np.testing.assert_allclose(val, val2)
    for t in (take, take2):  # each choice fits and is worth what its value says
        assert (np.where(t, M.res, 0.0).sum(axis=1) <= M.cap + 1e-9).all()
        np.testing.assert_allclose(np.where(t, u[None, :] - M.cost, 0.0).sum(axis=1), val)


# Node A (capacity 3) takes any order at no cost but each uses 2 of it; node B takes them at
# 10 each. One order fits A, so the optimum is 20; the LP puts 1.5 orders on A (15); the
# knapsack Lagrangian knows A holds one order at most: 20.
TIGHT = "2 3  0 0 0  10 10 10  2 2 2  1 1 1  3 10"


def test_a_bound_the_lp_cannot_prove() -> None:
    p, M = _matrices(TIGHT)
    lp = lagrangian_bound(p)
    assert lp.bound == 15.0
    u0 = knapsack.lp_order_prices(M, lp.prices.cap)
    r = knapsack.knapsack_bound(M, u0, 30.0, Budget.start(None, 500), True)
    assert r.bound == 20.0 == optimum(M)
    plan = router.solve(parse_gap(TIGHT, "tight"), time_limit=5)
    assert plan.objective == 20.0 and plan.lower_bound == 20.0
    assert plan.status == "optimal"


def test_the_climb_keeps_its_work_limit_and_repeats() -> None:
    p, M = _matrices(gap_path("d05100").read_text())
    lp = lagrangian_bound(p)
    u0 = knapsack.lp_order_prices(M, lp.prices.cap)
    a = knapsack.knapsack_bound(M, u0, 1e5, Budget.start(None, 7), True)
    b = knapsack.knapsack_bound(M, u0, 1e5, Budget.start(None, 7), True)
    assert a.iterations == 7 and a.stop == "iterations"
    assert a.bound == b.bound and np.array_equal(a.prices, b.prices)
    stop = threading.Event()
    stop.set()  # a cancelled run stops the climb, with or without a deadline
    for limit in (None, 60.0):
        c = knapsack.knapsack_bound(M, u0, 1e5, Budget.start(limit, 7, stop), True)
        assert c.iterations == 0 and c.stop == "cancelled"


def test_only_whole_resources_are_solved_over_the_capacity() -> None:
    _, M = _matrices("1 2  1 1  3 1  3")
    assert knapsack.integral(M)
    M.res = np.where(M.ok, M.res * 0.5, M.res)  # 1.5 and 0.5: no table over the capacity
    assert not knapsack.integral(M)


@pytest.mark.parametrize("name,lower,upper", GAP_SAMPLE)
def test_gap_knapsack_bound_is_between_the_lp_and_the_best_known(name: str, lower: float,
                                                                  upper: float) -> None:
    p = compile_problem(router.load(gap_path(name), format="gap"))
    M = Matrices(p)
    lp = lagrangian_bound(p, max_iterations=200)
    u0 = knapsack.lp_order_prices(M, lp.prices.cap)
    r = knapsack.knapsack_bound(M, u0, upper, Budget.start(None, 200), True)
    assert lp.bound <= r.bound <= upper
    assert r.bound == math.floor(r.bound)


def test_auto_takes_the_knapsack_bound_and_repeats_under_a_work_limit() -> None:
    inst = router.load(gap_path("d05100"), format="gap")
    p = compile_problem(inst)
    a = router.solve(inst, work_limit=400, seed=3, problem=p)
    b = router.solve(inst, work_limit=400, seed=3, problem=p)
    assert a.shipments == b.shipments and a.lower_bound == b.lower_bound
    names = [s.name for s in a.stats.stages]
    assert "knapsack" in names, names
    lp = lagrangian_bound(p).bound
    assert a.lower_bound is not None and lp <= a.lower_bound <= 6353  # the optimum
    assert a.objective is not None and a.objective >= 6353
