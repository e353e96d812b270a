"""The independent verifier catches each kind of violation and recomputes the cost."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import router
from router.errors import InputError, VerificationError
from router.instance import GapInstance, Instance
from router.limits import MAX_COST, MAX_INT
from router.plan import CostBreakdown, Plan, Unfilled
from router.verify import VerifyReport, verify
from tests.conftest import HAND, HAND_OPTIMA, base_dict
from tests.strategies import instances


def load(name: str) -> Instance:
    inst = router.load(HAND / f"{name}.yaml")
    assert isinstance(inst, Instance)
    return inst


def make_plan(instance: str, shipments: list[tuple[str, str, list[tuple[str, int]]]],
              unfilled: Sequence[tuple[str, str, int]] = (), objective: float | None = None,
              status: str = "feasible") -> Plan:
    d: dict[str, Any] = {
        "instance": instance, "solver": "manual", "status": status, "objective": objective,
        "shipments": [{"order": o, "node": n, "lines": [{"sku": s, "qty": q} for s, q in lines]}
                      for o, n, lines in shipments],
        "unfilled": [{"order": o, "sku": s, "qty": q} for o, s, q in unfilled]}
    return Plan.from_dict(d)


def check(inst: Instance | GapInstance, plan: Plan, restate: bool = True) -> VerifyReport:
    """Verify; with ``restate`` the plan first states the recomputed cost, so that only the
    violation under test remains."""
    if restate:
        c = verify(inst, plan, raise_on_error=False).cost
        plan = dataclasses.replace(plan, objective=c.total, cost=c)
    return verify(inst, plan, raise_on_error=False)


def codes(report: VerifyReport) -> list[str]:
    return sorted(v.code for v in report.violations)


# ---------------------------------------------------------------- valid plans

def test_hand_optimal_plans_verify_with_their_cost() -> None:
    plans = {
        "split": [("O-1", "W-near-A", [("A", 1)]), ("O-1", "W-near-B", [("B", 1)])],
        "store": [("O-1", "ST", [("A", 2)]), ("O-2", "WH", [("B", 1)])],
        "express": [("O-express", "WH-close", [("A", 1)]), ("O-standard", "WH-far", [("A", 1)])],
        "safety": [("O-1", "ST", [("A", 1)]), ("O-2", "WH", [("A", 1)])],
        "unfillable": [("O-1", "WH", [("A", 1)])],
        "capacity": [("O-1", "WH-near", [("A", 2)]), ("O-3", "WH-near", [("A", 1)]),
                     ("O-2", "WH-far", [("A", 2)])],
    }
    unfilled = {"unfillable": [("O-1", "Z", 2)]}
    for name, ships in plans.items():
        inst = load(name)
        opt = HAND_OPTIMA[name]
        report = verify(inst, make_plan(inst.name, ships, unfilled.get(name, []), opt))
        assert report.ok and report.feasible
        assert report.cost.total == pytest.approx(opt, abs=1e-9)
        assert str(report).startswith("plan is valid; cost")


def test_cost_breakdown_is_recomputed() -> None:
    inst = load("store")
    plan = make_plan(inst.name, [("O-1", "ST", [("A", 2)]), ("O-2", "WH", [("B", 1)])], [], 30.5)
    c = verify(inst, plan).cost
    assert (c.package, c.unit, c.unfilled, c.total) == pytest.approx((6 + 8, 1.5 + 15, 0, 30.5))
    inst = load("unfillable")
    c = verify(inst, make_plan(inst.name, [], [("O-1", "A", 1), ("O-1", "Z", 2)], 150.0)).cost
    assert (c.package, c.unit, c.unfilled) == (0.0, 0.0, 150.0)


def test_a_line_may_be_split_across_shipments() -> None:
    d = base_dict()
    d["orders"][0]["lines"][0]["qty"] = 8
    inst = Instance.from_dict(d)
    plan = make_plan("t", [("O1", "W", [("A", 5)]), ("O1", "S", [("A", 3)])])
    assert check(inst, plan).ok


# ---------------------------------------------------------------- violations

def test_oversell_without_safety_stock() -> None:
    d = base_dict()
    d["orders"][0]["lines"][0]["qty"] = 6  # W holds 5
    inst = Instance.from_dict(d)
    report = check(inst, make_plan("t", [("O1", "W", [("A", 6)])]))
    assert codes(report) == ["stock"]
    v = report.violations[0]
    assert (v.node, v.sku, v.order) == ("W", "A", None)
    assert "ships 6 units but only 5 are available" in v.message
    assert not report.ok and not report.feasible


def test_stock_summed_over_orders() -> None:
    d = base_dict()
    d["orders"][0]["lines"][0]["qty"] = 3
    d["orders"].append({"id": "O2", "lat": 30.0, "lon": 120.0, "lines": [{"sku": "A", "qty": 3}]})
    inst = Instance.from_dict(d)
    assert codes(check(inst, make_plan("t", [("O1", "W", [("A", 3)]),
                                             ("O2", "W", [("A", 3)])]))) == ["stock"]
    assert check(inst, make_plan("t", [("O1", "W", [("A", 3)]), ("O2", "S", [("A", 3)])])).ok


def test_safety_stock_is_held_back() -> None:
    inst = load("safety")
    report = check(inst, make_plan(inst.name, [("O-1", "ST", [("A", 1)]),
                                               ("O-2", "ST", [("A", 1)])]))
    assert codes(report) == ["stock"]
    assert "only 1 are available (inventory less safety stock)" in report.violations[0].message


def test_node_packages_and_units() -> None:
    inst = load("capacity")  # WH-near: 2 packages, 3 units
    report = check(inst, make_plan(inst.name, [("O-1", "WH-near", [("A", 2)]),
                                               ("O-2", "WH-near", [("A", 2)]),
                                               ("O-3", "WH-near", [("A", 1)])]))
    assert codes(report) == ["node-packages", "node-units"]
    assert {v.node for v in report.violations} == {"WH-near"}
    report = check(inst, make_plan(inst.name, [("O-1", "WH-near", [("A", 2)]),
                                               ("O-2", "WH-near", [("A", 2)]),
                                               ("O-3", "WH-far", [("A", 1)])]))
    assert codes(report) == ["node-units"]
    assert "4 units, capacity 3" in report.violations[0].message


def test_node_packages_alone() -> None:
    d = base_dict()
    d["nodes"][0]["max_packages"] = 1
    d["orders"].append({"id": "O2", "lat": 30.0, "lon": 120.0, "lines": [{"sku": "A", "qty": 1}]})
    inst = Instance.from_dict(d)
    report = check(inst, make_plan("t", [("O1", "W", [("A", 1)]), ("O2", "W", [("A", 1)])]))
    assert codes(report) == ["node-packages"]
    assert "2 shipments, capacity 1" in report.violations[0].message


def test_order_max_packages() -> None:
    d = base_dict()
    d["orders"][0]["lines"] = [{"sku": "A", "qty": 2}]
    d["orders"][0]["max_packages"] = 1
    inst = Instance.from_dict(d)
    plan = make_plan("t", [("O1", "W", [("A", 1)]), ("O1", "S", [("A", 1)])])
    report = check(inst, plan)
    assert codes(report) == ["order-packages"]
    assert report.violations[0].order == "O1"
    # the default limit applies to orders without their own
    del d["orders"][0]["max_packages"]
    d["default_max_packages"] = 1
    assert codes(check(Instance.from_dict(d), plan)) == ["order-packages"]
    del d["default_max_packages"]
    assert check(Instance.from_dict(d), plan).ok


def test_express_radius() -> None:
    inst = load("express")
    report = check(inst, make_plan(inst.name, [("O-express", "WH-far", [("A", 1)]),
                                               ("O-standard", "WH-far", [("A", 1)])]))
    assert codes(report) == ["express"]
    v = report.violations[0]
    assert (v.order, v.node) == ("O-express", "WH-far")
    assert "beyond 100 km" in v.message


def test_store_ineligible_sku() -> None:
    inst = load("store")
    report = check(inst, make_plan(inst.name, [("O-1", "ST", [("A", 2)]),
                                               ("O-2", "ST", [("B", 1)])]))
    assert codes(report) == ["store-ineligible"]
    v = report.violations[0]
    assert (v.order, v.node, v.sku) == ("O-2", "ST", "B")


def test_out_of_zone() -> None:
    inst = load("unfillable")
    report = check(inst, make_plan(inst.name, [("O-1", "WH-arctic", [("A", 1), ("Z", 2)])]))
    assert codes(report) == ["out-of-zone"]
    assert "beyond every zone" in report.violations[0].message


def test_service_radius() -> None:
    d = base_dict()
    d["nodes"][0]["service_radius_km"] = 10.0
    inst = Instance.from_dict(d)
    assert codes(check(inst, make_plan("t", [("O1", "W", [("A", 1)])]))) == ["service-radius"]


@pytest.mark.parametrize(("shipments", "unfilled", "expected"), [
    ([("O1", "W", [("A", 2)])], [], ["quantity"]),  # ships more than the line
    ([], [], ["quantity"]),  # line neither shipped nor unfilled
    ([("O1", "W", [("A", 1)])], [("O1", "A", 1)], ["quantity"]),  # shipped + unfilled > qty
    ([("O1", "W", [("A", 1)]), ("O1", "S", [("A", 1)])], [], ["quantity"]),
])
def test_wrong_quantities(shipments: Any, unfilled: Any, expected: list[str]) -> None:
    inst = Instance.from_dict(base_dict())
    report = check(inst, make_plan("t", shipments, unfilled))
    assert codes(report) == expected
    assert report.violations[0].order == "O1" and report.violations[0].sku == "A"


def test_unknown_ids() -> None:
    inst = Instance.from_dict(base_dict())
    report = check(inst, make_plan("t", [("O1", "W", [("A", 1)]), ("O9", "W", [("A", 1)]),
                                         ("O1", "X", [("A", 1)])]))
    assert codes(report) == ["unknown-node", "unknown-order"]
    assert {(v.order, v.node) for v in report.violations} == {("O9", "W"), ("O1", "X")}
    report = check(inst, make_plan("t", [("O1", "W", [("A", 1), ("B", 1)])]))
    assert codes(report) == ["unknown-line"]  # B is a known SKU the order does not ask for
    report = check(inst, make_plan("t", [("O1", "W", [("A", 1), ("Q", 1)])]))
    assert codes(report) == ["unknown-line"]
    report = check(inst, make_plan("t", [("O1", "W", [("A", 1)])], [("O1", "B", 1)]))
    assert codes(report) == ["unknown-line"]
    report = check(inst, make_plan("t", [("O1", "W", [("A", 1)])], [("O7", "A", 1)]))
    assert codes(report) == ["unknown-line"]


def test_duplicate_shipment_and_line() -> None:
    d = base_dict()
    d["orders"][0]["lines"][0]["qty"] = 2
    inst = Instance.from_dict(d)
    report = check(inst, make_plan("t", [("O1", "W", [("A", 1)]), ("O1", "W", [("A", 1)])]))
    assert codes(report) == ["duplicate-shipment"]
    report = check(inst, make_plan("t", [("O1", "W", [("A", 1), ("A", 1)])]))
    assert codes(report) == ["duplicate-line"]


def test_empty_shipment() -> None:
    inst = Instance.from_dict(base_dict())
    report = check(inst, make_plan("t", [("O1", "W", [("A", 1)]), ("O1", "S", [])]))
    assert codes(report) == ["empty-shipment"]
    assert (report.violations[0].order, report.violations[0].node) == ("O1", "S")


def test_non_positive_quantities_in_a_constructed_plan() -> None:
    d = base_dict()
    d["orders"][0]["lines"].append({"sku": "B", "qty": 1})
    inst = Instance.from_dict(d)
    good = make_plan("t", [("O1", "W", [("A", 1), ("B", 1)])])
    ship = good.shipments[0]
    plan = dataclasses.replace(good, shipments=(dataclasses.replace(
        ship, lines=(ship.lines[0], dataclasses.replace(ship.lines[1], qty=0))),))
    report = check(inst, plan)
    assert codes(report) == ["quantity", "quantity"]  # the zero and the line left short
    assert "shipped quantity must be positive" in str(report)
    plan = dataclasses.replace(good, unfilled=(dataclasses.replace(
        make_plan("t", [], [("O1", "B", 1)]).unfilled[0], qty=0),))
    assert "unfilled quantity must be positive" in str(check(inst, plan))


def test_cost_mismatch() -> None:
    inst = load("split")
    ships = [("O-1", "W-near-A", [("A", 1)]), ("O-1", "W-near-B", [("B", 1)])]
    report = verify(inst, make_plan(inst.name, ships, [], 10.0), raise_on_error=False)
    assert codes(report) == ["cost-mismatch"]
    assert report.feasible and not report.ok
    assert "stated objective 10.000000 but the plan costs 11.000000" in str(report)
    # a stated breakdown that disagrees, with the right total
    plan = dataclasses.replace(make_plan(inst.name, ships, [], 11.0),
                               cost=CostBreakdown(11.0, 0.0, 0.0, 11.0))
    report = verify(inst, plan, raise_on_error=False)
    assert codes(report) == ["cost-mismatch", "cost-mismatch"]  # package and unit
    # no objective stated for a feasible plan
    assert codes(verify(inst, make_plan(inst.name, ships), raise_on_error=False)) == \
        ["cost-mismatch"]
    # within rounding it agrees
    assert verify(inst, make_plan(inst.name, ships, [], 11.0 + 4e-7)).ok


def test_wrong_instance_and_status() -> None:
    inst = Instance.from_dict(base_dict())
    assert codes(check(inst, make_plan("other", [("O1", "W", [("A", 1)])]))) == ["instance"]
    report = check(inst, make_plan("t", [], [("O1", "A", 1)], status="infeasible"))
    assert codes(report) == ["status"]


def test_raises_by_default() -> None:
    inst = Instance.from_dict(base_dict())
    with pytest.raises(VerificationError) as ei:
        verify(inst, make_plan("t", [("O1", "W", [("A", 9)])], [], 0.0))
    report = ei.value.report
    assert isinstance(report, VerifyReport)
    assert "quantity" in codes(report) and "stock" in codes(report)
    assert "problem(s)" in str(ei.value)


def test_violation_text_names_order_node_and_sku() -> None:
    inst = load("store")
    report = check(inst, make_plan(inst.name, [("O-1", "ST", [("A", 2)]),
                                               ("O-2", "ST", [("B", 1)])]))
    assert str(report.violations[0]) == \
        "store-ineligible: SKU may not ship from a store (order O-2, node ST, sku B)"


# ---------------------------------------------------------------- GAP

TINY_GAP = "2 3  1 2 3  4 5 6  5 5 5  4 4 4  10 8"


def gap_plan(assign: list[tuple[str, str]], objective: float | None = None,
             unfilled: Sequence[tuple[str, str, int]] = ()) -> Plan:
    return make_plan("tiny", [(j, a, [("job", 1)]) for j, a in assign], unfilled, objective)


def test_gap_valid_assignment() -> None:
    gap = router.parse_gap(TINY_GAP, name="tiny")
    # a1 takes j1, j2 (5 + 5 <= 10), a2 takes j3 (4 <= 8): 1 + 2 + 6
    report = verify(gap, gap_plan([("j1", "a1"), ("j2", "a1"), ("j3", "a2")], 9.0))
    assert report.ok and report.cost.total == 9.0


@pytest.mark.parametrize(("assign", "unfilled", "expected"), [
    ([("j1", "a1"), ("j2", "a1"), ("j3", "a1")], [], ["node-units"]),  # 15 > 10
    ([("j1", "a1"), ("j2", "a1")], [], ["quantity"]),  # j3 unassigned
    ([("j1", "a1"), ("j2", "a1")], [("j3", "job", 1)], ["quantity", "unfilled"]),
    ([("j1", "a1"), ("j2", "a1"), ("j3", "a2"), ("j3", "a1")], [], ["order-packages"]),
    ([("j1", "a1"), ("j2", "a1"), ("j3", "a9")], [], ["quantity", "unknown-node"]),
    ([("j1", "a1"), ("j2", "a1"), ("j3", "a2"), ("j4", "a2")], [], ["unknown-order"]),
])
def test_gap_violations(assign: Any, unfilled: Any, expected: list[str]) -> None:
    gap = router.parse_gap(TINY_GAP, name="tiny")
    assert codes(check(gap, gap_plan(assign, None, unfilled))) == expected


def test_gap_assignment_must_carry_one_job_unit() -> None:
    gap = router.parse_gap(TINY_GAP, name="tiny")
    plan = make_plan("tiny", [("j1", "a1", [("job", 2)]), ("j2", "a1", [("job", 1)]),
                              ("j3", "a2", [("A", 1)])])
    assert codes(check(gap, plan)) == ["quantity", "quantity"]


def test_gap_cost_mismatch() -> None:
    gap = router.parse_gap(TINY_GAP, name="tiny")
    report = verify(gap, gap_plan([("j1", "a1"), ("j2", "a1"), ("j3", "a2")], 8.0),
                    raise_on_error=False)
    assert codes(report) == ["cost-mismatch"]


# ---------------------------------------------------------------- stated bounds, hostile plans

SPLIT = [("O-1", "W-near-A", [("A", 1)]), ("O-1", "W-near-B", [("B", 1)])]  # costs 11


@pytest.mark.parametrize(("bound", "flagged"), [
    (None, False), (0.0, False), (11.0, False), (11.0 + 5e-7, False), (11.001, True), (1e300, True)])
def test_a_lower_bound_above_the_objective_is_flagged(bound: float | None, flagged: bool) -> None:
    inst = load("split")
    plan = dataclasses.replace(make_plan(inst.name, SPLIT, objective=11.0), lower_bound=bound)
    report = verify(inst, plan, raise_on_error=False)
    assert codes(report) == (["lower-bound"] if flagged else [])
    assert report.feasible  # what it ships is fine; what it claims is not
    if flagged:
        assert str(report.violations[0]).startswith(
            f"lower-bound: lower bound {bound:.6f} is above the plan's stated objective 11.000000")


def test_a_lower_bound_above_the_recomputed_cost_is_flagged() -> None:
    """A plan understating its bound and its objective alike still has a bound above its
    true cost."""
    inst = load("split")
    plan = dataclasses.replace(make_plan(inst.name, SPLIT, objective=20.0), lower_bound=15.0)
    assert codes(verify(inst, plan, raise_on_error=False)) == ["cost-mismatch", "lower-bound"]
    gap = router.parse_gap(TINY_GAP, name="tiny")
    plan = dataclasses.replace(gap_plan([("j1", "a1"), ("j2", "a1"), ("j3", "a2")], 9.0),
                               lower_bound=9.5)
    assert codes(verify(gap, plan, raise_on_error=False)) == ["lower-bound"]


def test_the_cli_flags_a_bound_above_the_objective(tmp_path: Any,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from router.cli import main

    inst = load("split")
    plan = dataclasses.replace(make_plan(inst.name, SPLIT, objective=11.0), lower_bound=12.0)
    path = tmp_path / "plan.json"
    plan.write(path)
    assert main(["verify", str(HAND / "split.yaml"), str(path)]) == 1
    out = capsys.readouterr().out
    assert "lower-bound: lower bound 12.000000 is above the plan's stated objective" in out


@pytest.mark.parametrize("qty", [10**400, MAX_INT + 1, 2.0, "1", None, True])
def test_a_constructed_plan_with_any_quantity_is_checked_not_crashed(qty: Any) -> None:
    inst = load("split")
    good = make_plan(inst.name, SPLIT, objective=11.0)
    ship = good.shipments[0]
    plan = dataclasses.replace(good, shipments=(
        dataclasses.replace(ship, lines=(dataclasses.replace(ship.lines[0], qty=qty),)),
        good.shipments[1]), unfilled=(Unfilled("O-1", "A", qty),))
    report = verify(inst, plan, raise_on_error=False)
    assert "quantity" in codes(report) and not report.feasible
    assert all(len(str(v)) < 200 for v in report.violations)


@pytest.mark.parametrize("field", ["objective", "lower_bound", "cost"])
def test_plan_numbers_beyond_the_float_range_are_bad_input(field: str) -> None:
    d = make_plan("hand-split", SPLIT, objective=11.0).to_dict()
    d[field] = {"package": 10**400, "unit": 1, "unfilled": 0, "total": 11} if field == "cost" \
        else 10**400
    with pytest.raises(InputError) as ei:
        Plan.from_dict(d)
    path = "cost.package" if field == "cost" else field
    assert ei.value.problems == ((path, "must be a finite number or null"),)


@pytest.mark.parametrize("weight", [MAX_COST, 0.5])
def test_largest_costs_and_quantities_still_verify(weight: float) -> None:
    """At the documented maxima (costs 1e12, a batch of MAX_INT units) every sum is finite and
    a solver's plan verifies, also after a round trip through its file; heavy units stay
    unfilled (1e24 a unit against a penalty of 1e12), light ones ship."""
    d = base_dict()
    d["shipping"]["zones"] = [{"max_km": 500, "per_package": MAX_COST, "per_kg": MAX_COST}]
    d["unfilled_penalty"] = MAX_COST
    d["skus"] = [{"id": "A", "weight_kg": weight}, {"id": "B", "weight_kg": 1e-12}]
    d["nodes"][0].update(handling_per_package=MAX_COST, inventory={"A": MAX_INT, "B": 3})
    d["orders"] = [{"id": "O1", "lat": 30.0, "lon": 120.0,
                    "lines": [{"sku": "A", "qty": MAX_INT - 10}, {"sku": "B", "qty": 4}]},
                   {"id": "O2", "lat": 30.0, "lon": 120.0, "lines": [{"sku": "B", "qty": 6}]}]
    inst = Instance.from_dict(d)
    plan = router.solve(inst, solver="greedy")
    report = verify(inst, plan)
    assert report.ok and math.isfinite(report.cost.total) and report.cost.total > 1e27
    shipped_a = sum(ln.qty for s in plan.shipments for ln in s.lines if ln.sku == "A")
    assert shipped_a == (0 if weight == MAX_COST else MAX_INT - 10)
    assert verify(inst, Plan.from_json(plan.to_json())).ok


# ---------------------------------------------------------------- plans carried as columns

@settings(max_examples=60, deadline=None)
@given(inst=instances(), data=st.data())
def test_a_plan_verifies_the_same_from_its_columns_and_from_its_objects(inst: Instance,
                                                                          data: Any) -> None:
    """The verifier reads a plan's columns (``Plan.table``) where it has them: any table,
    unknown ids, repeated lines and bad quantities included, gives the report of the same
    plan made of Shipment objects."""
    import numpy as np

    from router.plan import ShipmentTable

    plan = router.solve(inst, "greedy")
    assert plan.table is not None
    assert verify(inst, plan, raise_on_error=False) == \
        verify(inst, dataclasses.replace(plan, shipments=plan.shipments), raise_on_error=False)
    oids = tuple(o.id for o in inst.orders) + ("no-such-order",)
    nids = tuple(n.id for n in inst.nodes) + ("no-such-node",)
    sids = tuple(s.id for s in inst.skus) + ("no-such-sku",)
    ns = data.draw(st.integers(0, 8))
    counts = data.draw(st.lists(st.integers(0, 3), min_size=ns, max_size=ns))
    nl = sum(counts)
    table = ShipmentTable(
        oids, nids, sids,
        np.array(data.draw(st.lists(st.integers(0, len(oids) - 1), min_size=ns, max_size=ns))),
        np.array(data.draw(st.lists(st.integers(0, len(nids) - 1), min_size=ns, max_size=ns))),
        np.concatenate(([0], np.cumsum(counts, dtype=np.int64))),
        np.array(data.draw(st.lists(st.integers(0, len(sids) - 1), min_size=nl, max_size=nl))),
        np.array(data.draw(st.lists(st.integers(-1, 4), min_size=nl, max_size=nl))))
    made = dataclasses.replace(plan, shipments=table)
    assert made.table is table
    objects = Plan(made.instance, made.solver, made.status, made.objective, made.lower_bound,
                   made.cost, table.shipments(), made.unfilled)
    a = verify(inst, made, raise_on_error=False)
    b = verify(inst, objects, raise_on_error=False)
    assert a.violations == b.violations
    assert a.cost == b.cost
