"""The plan file (``router/plan-v1``): building, JSON round trip, malformed files."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

import router
from router.compile import compile_problem
from router.errors import InputError
from router.plan import CostBreakdown, Plan, PlanLine, Shipment, Unfilled, build_plan
from tests.conftest import HAND, gap_path


def solved(name: str, solver: str = "greedy") -> Plan:
    return router.solve(router.load(HAND / f"{name}.yaml"), solver=solver)


def test_plan_fields_follow_the_spec() -> None:
    plan = solved("unfillable")
    d = plan.to_dict()
    assert list(d) == ["format", "instance", "solver", "status", "termination", "source",
                       "objective", "lower_bound", "cost", "shipments", "unfilled", "stats"]
    assert d["termination"]["reason"] in [str(r) for r in router.Reason]
    assert isinstance(d["stats"]["seconds"], float)
    assert d["format"] == "router/plan-v1"
    assert d["instance"] == "hand-unfillable" and d["solver"] == "greedy"
    assert d["status"] == "feasible" and d["lower_bound"] is None
    assert d["objective"] == 105.5
    assert d["cost"] == {"package": 5.0, "unit": 0.5, "unfilled": 100.0, "total": 105.5}
    assert d["shipments"] == [{"order": "O-1", "node": "WH", "lines": [{"sku": "A", "qty": 1}]}]
    assert d["unfilled"] == [{"order": "O-1", "sku": "Z", "qty": 2}]
    assert d["stats"]["seconds"] >= 0.0


@pytest.mark.parametrize("name", ["split", "store", "express", "safety", "unfillable",
                                  "capacity"])
def test_round_trip(tmp_path, name: str) -> None:
    plan = solved(name)
    path = tmp_path / "plan.json"
    plan.write(path)
    back = Plan.read(path)
    assert back == Plan.from_dict(plan.to_dict()) == Plan.from_json(plan.to_json())
    assert back.to_dict() == plan.to_dict()
    assert back.shipments == plan.shipments and back.unfilled == plan.unfilled
    assert back.objective == pytest.approx(plan.objective, abs=1e-6)
    assert json.loads(path.read_text())["format"] == "router/plan-v1"
    router.verify(router.load(HAND / f"{name}.yaml"), back)


def test_round_trip_exact_for_a_constructed_plan() -> None:
    plan = Plan(instance="i", solver="s", status="optimal", objective=12.5, lower_bound=12.0,
                cost=CostBreakdown(5.0, 7.5, 0.0, 12.5),
                shipments=(Shipment("O", "N", (PlanLine("A", 2), PlanLine("B", 1))),),
                unfilled=(Unfilled("O", "C", 3),), stats={"seconds": 0.5, "iterations": 7,
                                                          "nested": {"k": [1, 2]}})
    assert Plan.from_json(plan.to_json()) == plan
    assert Plan.from_json(plan.to_json(indent=None)) == plan
    assert plan.gap == pytest.approx(0.04)


def test_no_plan_round_trip() -> None:
    plan = Plan(instance="i", solver="s", status="no_solution", objective=None,
                lower_bound=None, cost=None, shipments=(), unfilled=(), stats={})
    d = plan.to_dict()
    assert d["objective"] is None and d["cost"] is None and d["shipments"] == []
    assert Plan.from_dict(d) == plan
    assert not plan.has_plan and plan.gap is None


def test_stats_become_json() -> None:
    plan = Plan(instance="i", solver="s", status="feasible", objective=1.0, lower_bound=None,
                cost=None, shipments=(), unfilled=(),
                stats={"n": np.int64(3), "f": np.float64(0.25), "inf": float("inf"),
                       "t": (1, 2), "b": np.bool_(True), "a": np.array([1.5, np.nan]),
                       "f32": np.float32(0.5)})
    d = json.loads(plan.to_json())
    assert d["stats"] == {"seconds": 0.0, "n": 3, "f": 0.25, "inf": None, "t": [1, 2],
                          "b": True, "a": [1.5, None], "f32": 0.5}


def test_build_plan_groups_line_arcs_into_shipments() -> None:
    inst = router.load(HAND / "split.yaml")
    p = compile_problem(inst)
    # ship A and B both from W-far: one shipment with two lines
    far = p.node_ids.index("W-far")
    x = np.where(p.arc_node[p.e_arc] == far, 1, 0)
    plan = build_plan(p, "manual", "feasible", x, None, {})
    assert plan.shipments == (Shipment("O-1", "W-far", (PlanLine("A", 1), PlanLine("B", 1))),)
    assert plan.unfilled == ()
    assert plan.objective == pytest.approx(20.0)
    router.verify(inst, plan)
    # nothing shipped: everything unfilled at the penalty
    plan = build_plan(p, "manual", "feasible", np.zeros(p.n_line_arcs, dtype=np.int64), None, {})
    assert plan.shipments == ()
    assert plan.unfilled == (Unfilled("O-1", "A", 1), Unfilled("O-1", "B", 1))
    assert plan.objective == 400.0
    router.verify(inst, plan)


def test_gap_plan_round_trip(tmp_path) -> None:
    gap = router.load(gap_path("a05100"), format="gap")
    plan = router.solve(gap, solver="greedy")
    assert plan.has_plan  # greedy completes this loose instance
    assert all(s.lines == (PlanLine("job", 1),) for s in plan.shipments)
    assert sorted(s.order for s in plan.shipments) == sorted(f"j{j}" for j in range(1, 101))
    plan.write(tmp_path / "p.json")
    assert Plan.read(tmp_path / "p.json").to_dict() == plan.to_dict()


def _good() -> dict[str, Any]:
    return {"format": "router/plan-v1", "instance": "i", "solver": "s", "status": "feasible",
            "objective": 1.0, "lower_bound": None,
            "cost": {"package": 1.0, "unit": 0.0, "unfilled": 0.0, "total": 1.0},
            "shipments": [{"order": "O", "node": "N", "lines": [{"sku": "A", "qty": 1}]}],
            "unfilled": [], "stats": {}}


def _with(**changes: Any) -> dict[str, Any]:
    d = _good()
    d.update(changes)
    return d


MALFORMED = [
    ("not-object", [1, 2], "", "a plan must be a JSON object"),
    ("format", _with(format="router/plan-v0"), "format", "must be 'router/plan-v1'"),
    ("instance", _with(instance=None), "instance", "required string is missing"),
    ("status", _with(status="great"), "status",
     "must be one of optimal, feasible, infeasible, no_solution"),
    ("objective", _with(objective="1"), "objective", "must be a finite number or null"),
    ("objective-nan", _with(objective=float("nan")), "objective",
     "must be a finite number or null"),
    ("cost", _with(cost=[1]), "cost", "must be an object or null"),
    ("cost-part", _with(cost={"package": True}), "cost.package",
     "must be a finite number or null"),
    ("shipments", _with(shipments={}), "shipments", "must be a list"),
    ("shipment", _with(shipments=[3]), "shipments[0]", "must be an object"),
    ("lines", _with(shipments=[{"order": "O", "node": "N"}]), "shipments[0].lines",
     "must be a list"),
    ("qty", _with(shipments=[{"order": "O", "node": "N", "lines": [{"sku": "A", "qty": 0}]}]),
     "shipments[0].lines[0].qty", "must be a positive integer"),
    ("qty-float", _with(shipments=[{"order": "O", "node": "N",
                                    "lines": [{"sku": "A", "qty": 1.0}]}]),
     "shipments[0].lines[0].qty", "must be a positive integer"),
    ("node", _with(shipments=[{"order": "O", "node": 4, "lines": []}]), "shipments[0].node",
     "must be a string"),
    ("unfilled", _with(unfilled=[{"order": "O", "sku": "A", "qty": -1}]), "unfilled[0].qty",
     "must be a positive integer"),
    ("unfilled-type", _with(unfilled="none"), "unfilled", "must be a list"),
    ("stats", _with(stats=[]), "stats", "must be an object"),
]


@pytest.mark.parametrize(("data", "path", "message"), [m[1:] for m in MALFORMED],
                         ids=[m[0] for m in MALFORMED])
def test_malformed_plan_dict(data: Any, path: str, message: str) -> None:
    with pytest.raises(InputError) as ei:
        Plan.from_dict(data)
    assert ei.value.problems == ((path, message),)


def test_malformed_plan_files(tmp_path) -> None:
    cases = {"text.json": "this is not json", "empty.json": "", "trunc.json":
             json.dumps(_good())[:40], "list.json": "[]"}
    for name, text in cases.items():
        p = tmp_path / name
        p.write_text(text)
        with pytest.raises(InputError) as ei:
            Plan.read(p)
        assert ei.value.source == str(p)
    with pytest.raises(InputError, match="no such file"):
        Plan.read(tmp_path / "missing.json")
    p = tmp_path / "bin.json"
    p.write_bytes(b"\x00\x01\x02")
    with pytest.raises(InputError, match="binary"):
        Plan.read(p)


def test_a_built_plan_keeps_its_columns_and_makes_the_same_shipments() -> None:
    """build_plan keeps the shipments as columns; the objects made from them on first use are
    the shipments of the columns, and the plan equals, pickles and restates like a plan made
    from the objects."""
    import pickle

    from router.plan import ShipmentTable

    plan = solved("split")
    t = plan.table
    assert isinstance(t, ShipmentTable)
    assert not t.order.flags.writeable and not t.line_qty.flags.writeable
    ships = plan.shipments
    assert plan.shipments is ships  # made once
    assert len(ships) == len(t) > 0
    for k, s in enumerate(ships):
        lo, hi = int(t.line_ptr[k]), int(t.line_ptr[k + 1])
        assert (s.order, s.node) == (t.order_ids[t.order[k]], t.node_ids[t.node[k]])
        assert s.lines == tuple(PlanLine(t.sku_ids[t.line_sku[i]], int(t.line_qty[i]))
                                for i in range(lo, hi))
    same = Plan(plan.instance, plan.solver, plan.status, plan.objective, plan.lower_bound,
                plan.cost, ships, plan.unfilled, plan.stats, plan.termination, plan.source)
    assert same.table is None and same == plan
    fresh = solved("split")
    assert fresh.with_stats(fresh.stats).table is fresh.table  # nothing made
    assert "_shipments" in fresh.__dict__ and fresh.__dict__["_shipments"] is None
    kept = plan.with_stats(plan.stats)  # made already: table and objects both kept
    assert kept.table is t and kept.__dict__["_shipments"] is ships
    back = pickle.loads(pickle.dumps(fresh))
    assert back == fresh and back.table is not None
    assert back.shipments == ships
    assert Plan.from_json(fresh.to_json()).shipments == ships


def test_shipment_table_checks_its_columns() -> None:
    from router.plan import ShipmentTable

    z1, one = np.zeros(1, dtype=int), np.ones(1, dtype=int)
    with pytest.raises(ValueError, match="inconsistent"):
        ShipmentTable(("O",), ("N",), ("S",), z1, z1, np.array([0, 2]), z1, one)
    with pytest.raises(ValueError, match="inconsistent"):  # line ranges run backwards
        ShipmentTable(("O",), ("N",), ("S",), np.zeros(2, dtype=int), np.zeros(2, dtype=int),
                      np.array([0, 1, 0]), np.zeros(0, dtype=int), np.zeros(0, dtype=int))
    with pytest.raises(ValueError, match="outside its ids"):
        ShipmentTable(("O",), ("N",), ("S",), one, z1, np.array([0, 1]), z1, one)
    with pytest.raises(ValueError, match="integer"):
        ShipmentTable(("O",), ("N",), ("S",), z1, z1, np.array([0, 1]), z1, np.ones(1))
    empty = ShipmentTable((), (), (), np.zeros(0), np.zeros(0), np.zeros(1, dtype=int),
                          np.zeros(0), np.zeros(0))
    assert empty.shipments() == ()
