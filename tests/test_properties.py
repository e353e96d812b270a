"""Properties over random small valid batches (strategy in tests/strategies.py)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import router
from router.compile import compile_problem
from router.contract import Run
from router.evaluate import cost as compiled_cost
from router.evaluate import violations
from router.instance import Instance
from router.plan import Plan, PlanLine, Shipment, Unfilled, build_plan
from router.solvers.registry import get
from router.verify import verify
from tests.strategies import instance_dicts, instances

SETTINGS = settings(max_examples=80, deadline=None)


def assert_verifies(inst: Instance, plan: Plan) -> None:
    report = verify(inst, plan, raise_on_error=False)
    assert report.ok, str(report)
    assert plan.objective is not None
    assert abs(plan.objective - report.cost.total) <= 1e-6 + 1e-9 * abs(report.cost.total)
    assert plan.cost is not None
    for part in ("package", "unit", "unfilled", "total"):
        assert abs(getattr(plan.cost, part) - getattr(report.cost, part)) <= 1e-6


@SETTINGS
@given(instances())
def test_greedy_plan_always_verifies(inst: Instance) -> None:
    problem = compile_problem(inst)
    plan = router.solve(inst, solver="greedy", verify=False, problem=problem)
    assert plan.status == "feasible"
    assert_verifies(inst, plan)
    # the compiled evaluation agrees with the independent one
    units = sum(ln.qty for s in plan.shipments for ln in s.lines)
    unfilled = sum(u.qty for u in plan.unfilled)
    assert units + unfilled == sum(ln.qty for o in inst.orders for ln in o.lines)


@settings(max_examples=40, deadline=None)
@given(instances())
def test_auto_plan_always_verifies(inst: Instance) -> None:
    plan = router.solve(inst, solver="auto", time_limit=2.0, verify=False)
    assert plan.has_plan
    assert_verifies(inst, plan)
    # auto is the best plan the project can find: never worse than the greedy baseline
    greedy = router.solve(inst, solver="greedy")
    assert plan.objective is not None and greedy.objective is not None
    assert plan.objective <= greedy.objective + 1e-6


@SETTINGS
@given(instances())
def test_plans_round_trip_through_json(inst: Instance) -> None:
    plan = router.solve(inst, solver="greedy")
    back = Plan.from_json(plan.to_json())
    assert back.to_dict() == plan.to_dict()
    assert back.shipments == plan.shipments and back.unfilled == plan.unfilled
    assert verify(inst, back).ok
    assert Plan.from_dict(json.loads(json.dumps(plan.to_dict()))) == back


@SETTINGS
@given(instance_dicts())
def test_instances_round_trip_through_to_dict(d: dict) -> None:
    inst = Instance.from_dict(d)
    assert Instance.from_dict(inst.to_dict()) == inst
    assert Instance.from_dict(json.loads(json.dumps(inst.to_dict()))) == inst


def _single_unit_plan(inst: Instance, order: int, sku: str, node: str) -> Plan:
    """Ship one unit of one line from one node; leave everything else unfilled."""
    unfilled = []
    for k, o in enumerate(inst.orders):
        for ln in o.lines:
            left = ln.qty - (1 if (k == order and ln.sku == sku) else 0)
            if left:
                unfilled.append(Unfilled(o.id, ln.sku, left))
    ship = Shipment(inst.orders[order].id, node, (PlanLine(sku, 1),))
    plan = Plan(instance=inst.name, solver="probe", status="feasible", objective=0.0,
                lower_bound=None, cost=None, shipments=(ship,), unfilled=tuple(unfilled))
    c = verify(inst, plan, raise_on_error=False).cost
    return dataclasses.replace(plan, objective=c.total, cost=c)


@SETTINGS
@given(instances())
def test_compiled_line_arcs_are_exactly_the_usable_ones(inst: Instance) -> None:
    """Every line-arc compile keeps passes the verifier with the same cost; every (line, node)
    pair it prunes is one the verifier rejects."""
    p = compile_problem(inst)
    kept = set()
    for e in range(p.n_line_arcs):
        line, a = int(p.e_line[e]), int(p.e_arc[e])
        o, n = int(p.line_order[line]), int(p.arc_node[a])
        sku = p.sku_ids[int(p.line_sku[line])]
        kept.add((o, sku, n))
        plan = _single_unit_plan(inst, o, sku, p.node_ids[n])
        report = verify(inst, plan, raise_on_error=False)
        assert report.ok, str(report)
        x = np.zeros(p.n_line_arcs, dtype=np.int64)
        x[e] = 1
        assert not violations(p, x)
        assert abs(compiled_cost(p, x).total - report.cost.total) <= 1e-9 * max(
            1.0, report.cost.total)
        built = build_plan(p, "probe", "feasible", x, None, {})
        assert built.shipments == plan.shipments
        assert sorted(built.unfilled, key=str) == sorted(plan.unfilled, key=str)
    for o, order in enumerate(inst.orders):
        for ln in order.lines:
            for node in inst.nodes:
                if (o, ln.sku, p.node_ids.index(node.id)) in kept:
                    continue
                report = verify(inst, _single_unit_plan(inst, o, ln.sku, node.id),
                                raise_on_error=False)
                assert not report.feasible, (order.id, ln.sku, node.id)


@settings(max_examples=40, deadline=None)
@given(instances(), st.integers(0, 2**31 - 1))
def test_greedy_respects_stock_and_capacity_in_compiled_space(inst: Instance,
                                                              seed: int) -> None:
    p = compile_problem(inst)
    r = get("greedy").func(p, Run.of(seed=seed))
    assert r.x is not None
    assert not violations(p, r.x)
    assert (r.x >= 0).all() and (r.x <= p.e_ub).all()
    assert r.objective == compiled_cost(p, r.x).total


@SETTINGS
@given(instance_dicts())
def test_yaml_and_json_texts_load_the_same_instance(d: dict) -> None:
    inst = Instance.from_dict(d)
    assert router.parse_json(json.dumps(d)) == inst
    assert router.parse_yaml(yaml.safe_dump(d, sort_keys=False)) == inst
    assert router.parse_yaml(yaml.safe_dump(inst.to_dict(), default_flow_style=True)) == inst
