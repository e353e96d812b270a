"""The fast floor: compilation and the bidding rounds as compiled loops (numba) give the same
Problem and the same plans as their numpy twins, and every plan is feasible and verifies.

The numpy twins are the reference: ``router.jit.ENABLED`` false for compilation,
``engine="numpy"`` for the rounds. A plan of the compiled rounds must equal the reference plan
or cost less."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import router
from router import jit
from router.compile import Problem, compile_problem
from router.evaluate import objective, violations
from router.instance import Instance
from router.solvers.heuristics.core import (
    Prices,
    State,
    insert_orders,
    tiebreak_keys,
    true_prices,
)
from router.solvers.heuristics.greedy import greedy_solution
from router.solvers.heuristics.rules import _distance_prices
from tests.conftest import HAND, assert_same_problem, gap_path
from tests.strategies import instance_dicts, instances

pytestmark = pytest.mark.skipif(not jit.ENABLED, reason="numba is not enabled here")

SETTINGS = settings(max_examples=80, deadline=None)


@pytest.fixture
def numpy_only() -> Iterator[None]:
    """Compilation by the numpy twins for the duration of a test."""
    jit.ENABLED = False
    try:
        yield
    finally:
        jit.ENABLED = True


def compiled_both(inst: Instance) -> tuple[Problem, Problem]:
    """The instance compiled by the compiled loops and by the numpy twins."""
    fast = compile_problem(inst)
    jit.ENABLED = False
    try:
        ref = compile_problem(inst)
    finally:
        jit.ENABLED = True
    return fast, ref


def rounds(p: Problem, engine: str, pr: Prices, **kw: Any) -> np.ndarray:
    st_ = State(p)
    insert_orders(p, st_, np.arange(p.n_orders), pr, engine=engine, **kw)
    return st_.x


def assert_same_or_cheaper(p: Problem, fast: np.ndarray, ref: np.ndarray) -> None:
    assert not violations(p, fast)
    if not np.array_equal(fast, ref):
        assert objective(p, fast) < objective(p, ref) - 1e-9


def assert_within_limits(p: Problem, x: np.ndarray) -> None:
    """Stock, node unit and package capacity, order package limits, line quantities."""
    assert (x >= 0).all() and (x <= p.e_ub).all()
    assert (np.bincount(p.e_pool, weights=x, minlength=len(p.pool_qty)) <= p.pool_qty).all()
    assert (np.bincount(p.e_node, weights=x * p.e_use, minlength=p.n_nodes)
            <= p.node_capacity + 1e-9).all()
    used = np.bincount(p.e_arc, weights=x, minlength=p.n_arcs) > 0
    assert (np.bincount(p.arc_node[used], minlength=p.n_nodes) <= p.node_max_packages).all()
    assert (np.bincount(p.arc_order[used], minlength=p.n_orders) <= p.order_max_packages).all()
    assert (np.bincount(p.e_line, weights=x, minlength=p.n_lines) <= p.line_qty).all()


@SETTINGS
@given(instances())
def test_compiled_compilation_equals_numpy(inst: Instance) -> None:
    fast, ref = compiled_both(inst)
    assert_same_problem(fast, ref)


@pytest.mark.parametrize(("preset", "seed"), [("s", 1), ("m", 2)])
def test_compiled_compilation_equals_numpy_on_generated_batches(preset: str, seed: int) -> None:
    fast, ref = compiled_both(router.generate(preset, seed=seed))
    assert_same_problem(fast, ref)


def test_banned_arcs_compiled_and_numpy(numpy_only: None) -> None:
    from router.compile import compile_batch, compile_network

    inst = router.generate("s", seed=3)
    net = compile_network(inst)
    banned = np.array([[o, n] for o in range(0, len(inst.orders), 3)
                       for n in range(0, net.n_nodes, 2)])
    kw: dict[str, Any] = dict(name="b", pool_available=net.pool_available,
                              node_max_packages=net.node_max_packages,
                              node_capacity=net.node_capacity,
                              unfilled_penalty=inst.unfilled_penalty,
                              default_max_packages=inst.default_max_packages, banned_arcs=banned)
    ref = compile_batch(net, inst.columns, **kw)
    jit.ENABLED = True
    fast = compile_batch(net, inst.columns, **kw)
    assert_same_problem(fast, ref)
    assert not set(zip(fast.arc_order.tolist(), fast.arc_node.tolist(), strict=True)) & {
        (int(o), int(n)) for o, n in banned}


@SETTINGS
@given(instance_dicts(max_nodes=6, max_orders=10), st.integers(0, 3), st.sampled_from([
    ("regret", "cost", None), ("regret", "cost", 0.3), ("sequence", "complete", None),
    ("sequence", "cover", None), ("regret", "cover", 0.5), ("sequence", "cost", None)]))
def test_compiled_rounds_give_the_same_plan(d: dict[str, Any], seed: int,
                                            how: tuple[str, str, float | None]) -> None:
    priority, mode, chunk = how
    p = compile_problem(Instance.from_dict(d))
    pr = true_prices(p) if mode == "cost" else _distance_prices(p, 0.0 if mode == "complete"
                                                                else 1.0)
    kw = dict(priority=priority, mode=mode, chunk=chunk, tiebreak=tiebreak_keys(p, seed))
    fast = rounds(p, "jit", pr, **kw)
    ref = rounds(p, "numpy", pr, **kw)
    assert_same_or_cheaper(p, fast, ref)
    assert_within_limits(p, fast)


@SETTINGS
@given(instances(max_nodes=6, max_orders=12), st.integers(0, 2**31 - 1))
def test_greedy_plan_is_the_reference_plan_and_verifies(inst: Instance, seed: int) -> None:
    p = compile_problem(inst)
    fast, _ = greedy_solution(p, seed, engine="jit")
    ref, _ = greedy_solution(p, seed, engine="numpy")
    assert fast is not None and ref is not None
    assert_same_or_cheaper(p, fast, ref)
    assert_within_limits(p, fast)
    plan = router.solve(inst, solver="greedy", seed=seed, verify=False)
    report = router.verify(inst, plan, raise_on_error=False)
    assert report.ok, str(report)
    assert plan.objective == pytest.approx(objective(p, fast))


@pytest.mark.parametrize(("preset", "seed"), [("s", 4), ("m", 3), ("m", 5)])
def test_greedy_same_plan_on_generated_batches(preset: str, seed: int) -> None:
    inst = router.generate(preset, seed=seed)
    p = compile_problem(inst)
    fast, info = greedy_solution(p, seed, engine="jit")
    ref, ref_info = greedy_solution(p, seed, engine="numpy")
    assert fast is not None and ref is not None
    np.testing.assert_array_equal(fast, ref)
    assert info == ref_info
    assert_within_limits(p, fast)


@pytest.mark.parametrize("name", ["split", "store", "express", "safety", "unfillable",
                                  "capacity"])
def test_greedy_same_plan_on_hand_instances(name: str) -> None:
    p = compile_problem(router.load(HAND / f"{name}.yaml"))
    fast, _ = greedy_solution(p, engine="jit")
    ref, _ = greedy_solution(p, engine="numpy")
    assert fast is not None and ref is not None
    np.testing.assert_array_equal(fast, ref)


@pytest.mark.parametrize("name", ["c0515_1", "d05100", "e05100"])
def test_greedy_same_plan_on_gap(name: str) -> None:
    """Resource use per job (not one unit per unit) and must-fill lines."""
    p = compile_problem(router.load(gap_path(name), format="gap"))
    assert not (p.e_use == 1.0).all()
    fast = rounds(p, "jit", true_prices(p), priority="regret", tiebreak=tiebreak_keys(p, 1))
    ref = rounds(p, "numpy", true_prices(p), priority="regret", tiebreak=tiebreak_keys(p, 1))
    np.testing.assert_array_equal(fast, ref)
    assert_within_limits(p, fast)


@SETTINGS
@given(instances(max_nodes=5, max_orders=8), st.data())
def test_quick_feasibility_check_agrees_with_violations(inst: Instance,
                                                        data: st.DataObject) -> None:
    from router.solvers.heuristics.core import feasible

    p = compile_problem(inst)
    x, _ = greedy_solution(p)
    assert x is not None
    if p.n_line_arcs:  # perturb the plan: some perturbations break a constraint
        e = data.draw(st.integers(0, p.n_line_arcs - 1))
        x = x.copy()
        x[e] += data.draw(st.integers(-2, 3))
    assert feasible(p, x) == (not violations(p, x))


def test_unknown_engine() -> None:
    p = compile_problem(router.load(HAND / "split.yaml"))
    with pytest.raises(ValueError, match="engine"):
        rounds(p, "fortran", true_prices(p))


def test_import_loads_the_tabu_loop_with_the_types_of_a_real_search() -> None:
    """Importing router loads the tabu search's compiled loop, and a search on a real GAP
    batch runs that very specialisation (no compilation inside a batch's budget)."""
    from router.solvers.heuristics import assign

    loaded = list(assign._tabu.signatures)
    assert loaded
    p = compile_problem(router.load(gap_path("c05100"), format="gap"))
    M = assign.Matrices(p)
    rng = np.random.default_rng(0)
    a = assign.repair(M, assign.regret_assign(M), rng)
    assert a is not None
    assign.improve(M, a, rng, max_rounds=50)
    assert list(assign._tabu.signatures) == loaded
