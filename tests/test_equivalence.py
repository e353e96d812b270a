"""The vectorised verifier and ``build_plan`` against their scalar references (tests/reference.py):
on random batches and random plans, valid ones and plans broken on purpose (units moved to
other nodes, shipments added or dropped, quantities broken, unknown ids, stated figures wrong),
the reports agree violation for violation, in order, message for message, and the recomputed
costs agree exactly; the plans built from random solver outputs are the same plans."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import router
from router.compile import compile_problem
from router.geo import haversine_km, haversine_km_scalar
from router.instance import GAP_SKU, GapInstance, Instance
from router.limits import MAX_INT
from router.plan import CostBreakdown, Plan, PlanLine, Shipment, Unfilled, build_plan
from router.verify import VerifyReport, verify
from tests import reference
from tests.conftest import base_dict
from tests.strategies import instances

SETTINGS = settings(max_examples=150, deadline=None)

QUANTITIES = st.one_of(
    st.integers(1, 6), st.integers(-2, 0),
    st.sampled_from([MAX_INT, MAX_INT - 1, MAX_INT + 1, 2**63, 10**400, 2.0, True, False, "1",
                     None]))
"""What a plan made in memory may hold as a quantity: mostly valid, some of every bad kind;
two lines of ``MAX_INT`` make sums beyond 2**53 (exact integers still)."""


def same(inst: Instance | GapInstance, plan: Plan) -> VerifyReport:
    """The new report, after checking it against the scalar reference's."""
    new = verify(inst, plan, raise_on_error=False)
    old = reference.verify(inst, plan)
    assert new.violations == old.violations
    assert new.cost == old.cost  # the same figures summed exactly: equal, not merely close
    assert new.stated_objective == old.stated_objective
    return new


# ---------------------------------------------------------------- random plans, broken on purpose

Ship = tuple[str, str, list[tuple[Any, Any]]]


@st.composite
def random_x(draw: st.DrawFn, problem: Any) -> np.ndarray:
    """Units per line-arc as a solver might return them, right or wrong: mostly within the
    line-arc's bound, sometimes beyond it (stock, capacity and quantity broken)."""
    n = problem.n_line_arcs
    ub = problem.e_ub.tolist()
    mode = draw(st.sampled_from(["bounded", "wild", "sparse"]))
    if mode == "wild":
        return np.array(draw(st.lists(st.integers(0, 9), min_size=n, max_size=n)),
                        dtype=np.int64)
    units = draw(st.lists(st.integers(0, 4), min_size=n, max_size=n))
    x = np.array([min(u, b) for u, b in zip(units, ub, strict=True)], dtype=np.int64)
    if mode == "sparse" and n:
        keep = draw(st.lists(st.booleans(), min_size=n, max_size=n))
        x[~np.array(keep)] = 0
    return x.reshape(n)


@st.composite
def broken(draw: st.DrawFn, inst: Instance, plan: Plan) -> Plan:
    """``plan`` with a few random changes of every kind a bad plan may hold."""
    ships: list[Ship] = [(s.order, s.node, [(ln.sku, ln.qty) for ln in s.lines])
                         for s in plan.shipments]
    unfilled = [(u.order, u.sku, u.qty) for u in plan.unfilled]
    orders = [o.id for o in inst.orders] + ["O-unknown"]
    nodes = [n.id for n in inst.nodes] + ["N-unknown"]
    skus = [s.id for s in inst.skus] + ["S-unknown"]
    stated: dict[str, Any] = {}
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["move", "add", "qty", "dup-ship", "dup-line", "empty",
                                     "drop", "unfilled", "unfilled-qty", "drop-unfilled",
                                     "stated"]))
        if kind == "add" or (kind in ("move", "qty", "dup-ship", "dup-line", "empty", "drop")
                             and not ships):
            o = draw(st.sampled_from(orders))
            asked = [ln.sku for r in inst.orders if r.id == o for ln in r.lines]
            sku = st.sampled_from(asked) if asked and draw(st.booleans()) else st.sampled_from(skus)
            lines = draw(st.lists(st.tuples(sku, QUANTITIES), max_size=3))
            ships.insert(draw(st.integers(0, len(ships))),
                         (o, draw(st.sampled_from(nodes)), lines))
            continue
        if kind.endswith("unfilled") or kind == "unfilled-qty":
            if kind == "unfilled" or not unfilled:
                unfilled.append((draw(st.sampled_from(orders)), draw(st.sampled_from(skus)),
                                 draw(QUANTITIES)))
            elif kind == "unfilled-qty":
                k = draw(st.integers(0, len(unfilled) - 1))
                unfilled[k] = (*unfilled[k][:2], draw(QUANTITIES))
            else:
                unfilled.pop(draw(st.integers(0, len(unfilled) - 1)))
            continue
        if kind == "stated":
            what = draw(st.sampled_from(["objective", "lower_bound", "cost", "status",
                                         "instance"]))
            if what == "objective":
                stated["objective"] = draw(st.one_of(st.none(), st.floats(0, 1e4)))
            elif what == "lower_bound":
                stated["lower_bound"] = draw(st.one_of(
                    st.none(), st.floats(0, 1e4), st.sampled_from([math.inf, math.nan, True])))
            elif what == "cost":
                parts = draw(st.lists(st.floats(0, 1e4), min_size=4, max_size=4))
                stated["cost"] = CostBreakdown(*parts)
            elif what == "status":
                stated["status"] = draw(st.sampled_from(["optimal", "feasible", "infeasible",
                                                         "no_solution"]))
            else:
                stated["instance"] = "another-batch"
            continue
        i = draw(st.integers(0, len(ships) - 1))
        o, n, lines = ships[i]
        if kind == "move" and lines:
            ln = lines.pop(draw(st.integers(0, len(lines) - 1)))
            to = draw(st.sampled_from(nodes))
            j = next((k for k, s in enumerate(ships) if s[0] == o and s[1] == to), None)
            if j is None:
                ships.append((o, to, [ln]))
            else:
                ships[j][2].append(ln)
        elif kind == "qty" and lines:
            k = draw(st.integers(0, len(lines) - 1))
            lines[k] = (lines[k][0], draw(QUANTITIES))
        elif kind == "dup-ship":
            ships.insert(draw(st.integers(0, len(ships))), (o, n, list(lines)))
        elif kind == "dup-line" and lines:
            lines.insert(draw(st.integers(0, len(lines))),
                         lines[draw(st.integers(0, len(lines) - 1))])
        elif kind == "empty":
            ships[i] = (o, n, [])
        elif kind == "drop":
            ships.pop(i)
    return dataclasses.replace(
        plan, shipments=tuple(Shipment(o, n, tuple(PlanLine(s, q) for s, q in lines))
                              for o, n, lines in ships),
        unfilled=tuple(Unfilled(o, s, q) for o, s, q in unfilled), **stated)


@st.composite
def routed(draw: st.DrawFn) -> tuple[Instance, Plan]:
    inst = draw(instances())
    if draw(st.booleans()):
        plan = router.solve(inst, solver="greedy", verify=False)
    else:
        problem = compile_problem(inst)
        plan = build_plan(problem, "random", "feasible", draw(random_x(problem)), None, {})
    if draw(st.integers(0, 3)):
        plan = draw(broken(inst, plan))
    return inst, plan


@SETTINGS
@given(routed())
def test_the_verifier_agrees_with_the_scalar_reference(case: tuple[Instance, Plan]) -> None:
    inst, plan = case
    same(inst, plan)


@SETTINGS
@given(instances(), st.data())
def test_a_greedy_plan_verifies_and_its_breakages_agree(inst: Instance, data: st.DataObject
                                                        ) -> None:
    plan = router.solve(inst, solver="greedy")
    assert same(inst, plan).ok
    same(inst, data.draw(broken(inst, plan)))


def test_large_quantities_sum_exactly() -> None:
    """Sums beyond 2**53 (many lines of the largest quantity) are exact integers in the
    messages, as in the reference."""
    d = base_dict()
    d["orders"][0]["lines"][0]["qty"] = MAX_INT
    inst = Instance.from_dict(d)
    ships = tuple(Shipment("O1", "W", (PlanLine("A", MAX_INT),)) for _ in range(3))
    plan = Plan("t", "manual", "feasible", 0.0, None, None, ships,
                (Unfilled("O1", "A", MAX_INT), Unfilled("O1", "A", MAX_INT)))
    report = same(inst, plan)
    msgs = [v.message for v in report.violations]
    assert f"line of {MAX_INT} has {3 * MAX_INT} shipped and {2 * MAX_INT} unfilled" in msgs
    assert f"ships {3 * MAX_INT} units but only 5 are available (inventory less safety " \
           "stock)" in msgs


def test_duplicate_ids_in_a_hand_built_instance_follow_the_reference() -> None:
    """Validation forbids repeated ids; an instance built directly may hold them, and then the
    last record with an id is the one a plan's id names, as in the reference."""
    inst = Instance.from_dict(base_dict())
    o = inst.orders[0]
    twin = dataclasses.replace(o, lines=(dataclasses.replace(o.lines[0], sku="B"),))
    n = inst.nodes[0]
    inst2 = dataclasses.replace(inst, orders=(o, twin),
                                nodes=(*inst.nodes, dataclasses.replace(n, max_packages=0)))
    for ships in ([("O1", "W", "A", 1)], [("O1", "W", "B", 1)], [("O1", "S", "A", 1)]):
        plan = Plan("t", "manual", "feasible", 0.0, None, None,
                    tuple(Shipment(a, b, (PlanLine(s, q),)) for a, b, s, q in ships), ())
        same(inst2, plan)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.floats(-1e300, 1e300), st.floats(0, 1e4),
                          st.sampled_from([0.0, -0.0, 5e-324, 1e300, -1e300])), max_size=60))
def test_the_cost_sum_is_the_correctly_rounded_exact_sum(figures: list[float]) -> None:
    """Bit for bit what math.fsum gives (the range kept within what cost figures can reach:
    near the float maximum fsum may overflow where the exact sum does not)."""
    from router.verify import _total

    got, want = _total(np.array(figures, dtype=np.float64)), math.fsum(figures)
    assert got == want and math.copysign(1.0, got) == math.copysign(1.0, want)


# ---------------------------------------------------------------- distances on an edge

def _pair_where_numpy_differs(sign: int) -> tuple[float, float, float, float, float]:
    """A (node, order) pair around (30, 120) whose numpy distance is above (``sign`` 1) or
    below (-1) the scalar one, and its scalar distance (numpy is mostly the lower one)."""
    rng = np.random.default_rng(7)
    c = rng.normal(0.0, 2.0, (20000, 4)) + np.array([30.0, 120.0, 30.0, 120.0])
    d = haversine_km(c[:, 0], c[:, 1], c[:, 2], c[:, 3])
    for row, dv in zip(c.tolist(), d.tolist(), strict=True):
        s = haversine_km_scalar(*row)
        if (dv - s) * sign > 0 and s > 1.0:
            one = haversine_km(*(np.array([v]) for v in row))[0]  # as for a single shipment
            if (one - s) * sign > 0:
                return (*row, s)
    pytest.skip("no pair found where numpy and math differ that way")


@pytest.mark.parametrize("sign", [1, -1])
@pytest.mark.parametrize("edge", ["zone", "express", "radius"])
def test_a_distance_on_an_edge_is_judged_by_the_scalar_formula(sign: int, edge: str) -> None:
    """Zone edge, express radius and service radius set to a pair's scalar distance (the pair
    is within), or just below it (the pair is beyond), where numpy's distance is on the other
    side: the verdict is the scalar formula's, as compilation decides it."""
    nlat, nlon, olat, olon, km = _pair_where_numpy_differs(sign)
    for limit, beyond in ((km, False), (math.nextafter(km, 0.0), True)):
        d = base_dict()
        d["shipping"] = {"zones": [{"max_km": limit if edge == "zone" else 5000.0,
                                    "per_package": 5.0, "per_kg": 0.5}]}
        if edge == "express":
            d["shipping"]["express_max_km"] = limit
            d["orders"][0]["service"] = "express"
        node = d["nodes"][0]
        node.update(lat=nlat, lon=nlon)
        if edge == "radius":
            node["service_radius_km"] = limit
        d["orders"][0].update(lat=olat, lon=olon)
        inst = Instance.from_dict(d)
        plan = Plan("t", "manual", "feasible", None, None, None,
                    (Shipment("O1", "W", (PlanLine("A", 1),)),), ())
        report = same(inst, plan)
        code = {"zone": "out-of-zone", "express": "express", "radius": "service-radius"}[edge]
        assert (code in report.counts()) == beyond
        if not beyond:
            assert router.solve(inst, solver="greedy").shipments == plan.shipments


# ---------------------------------------------------------------- GAP plans

@st.composite
def gap_cases(draw: st.DrawFn) -> tuple[GapInstance, Plan]:
    m, n = draw(st.integers(1, 4)), draw(st.integers(1, 7))
    cost = np.array(draw(st.lists(st.integers(0, 50), min_size=m * n, max_size=m * n)))
    res = np.array(draw(st.lists(st.integers(1, 20), min_size=m * n, max_size=m * n)))
    cap = np.array(draw(st.lists(st.integers(0, 60), min_size=m, max_size=m)))
    gap = GapInstance("g", cost.reshape(m, n), res.reshape(m, n), cap)
    jobs, agents = [*gap.order_ids, "j99"], [*gap.node_ids, "a99"]
    lines = st.sampled_from([((GAP_SKU, 1),), ((GAP_SKU, 2),), (("A", 1),), (),
                             ((GAP_SKU, 1), (GAP_SKU, 1)), ((GAP_SKU, True),)])
    assign = draw(st.lists(st.tuples(st.sampled_from(jobs), st.sampled_from(agents),
                                     st.one_of(st.just(((GAP_SKU, 1),)), lines)),
                           max_size=n + 3))
    ships = tuple(Shipment(j, a, tuple(PlanLine(s, q) for s, q in ls)) for j, a, ls in assign)
    unf = tuple(Unfilled(j, GAP_SKU, 1) for j in draw(st.lists(st.sampled_from(jobs),
                                                               max_size=2)))
    objective = draw(st.one_of(st.none(), st.floats(0, 500)))
    bound = draw(st.one_of(st.none(), st.floats(0, 500)))
    return gap, Plan("g", "manual", "feasible", objective, bound, None, ships, unf)


@SETTINGS
@given(gap_cases())
def test_gap_verification_agrees_with_the_scalar_reference(case: tuple[GapInstance, Plan]
                                                           ) -> None:
    same(*case)


def test_gap_solver_plans_agree() -> None:
    gap = router.parse_gap("2 3  1 2 3  4 5 6  5 5 5  4 4 4  10 8", name="tiny")
    plan = router.solve(gap, solver="greedy")
    assert same(gap, plan).ok


# ---------------------------------------------------------------- build_plan

@SETTINGS
@given(instances(), st.data())
def test_build_plan_gives_the_plan_of_the_reference(inst: Instance, data: st.DataObject
                                                    ) -> None:
    problem = compile_problem(inst)
    x = data.draw(random_x(problem))
    status = data.draw(st.sampled_from(["feasible", "optimal"]))
    bound = data.draw(st.one_of(st.none(), st.floats(0, 100)))
    new = build_plan(problem, "s", status, x, bound, {"seconds": 0.5}, source="t")
    old = reference.build_plan(problem, "s", status, x, bound, {"seconds": 0.5}, source="t")
    assert new == old
    assert new.to_dict() == old.to_dict()
    assert [type(s) for s in new.shipments] == [Shipment] * len(new.shipments)
    for s, t in zip(new.shipments, old.shipments, strict=True):
        assert (s.km, s.zone, s.cost) == (None, None, None)
        assert repr(s) == repr(t)
        assert all(type(ln.qty) is int and type(ln.sku) is str for ln in s.lines)
    assert all(type(u.qty) is int for u in new.unfilled)
    assert same(inst, new).violations == verify(inst, old, raise_on_error=False).violations


def test_build_plan_without_a_solution_and_without_units() -> None:
    inst = Instance.from_dict(base_dict())
    problem = compile_problem(inst)
    for x in (None, np.zeros(problem.n_line_arcs, dtype=np.int64)):
        new = build_plan(problem, "s", "feasible" if x is not None else "no_solution", x,
                         None, {})
        assert new == reference.build_plan(problem, "s", new.status, x, None, {})
