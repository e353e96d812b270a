"""Explanations (router.explain): the reasons of the hand-made batches, checked as data; on
random batches every alternative is forced into the plan and re-checked by the verifier."""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import router
from router.cli import main
from router.compile import compile_problem
from router.duals import BatchPrices, PriceParams, batch_prices, lagrangian_prices, lp_prices
from router.explain import Alternative, Explanation, WhyNot, digest, explain
from router.instance import Instance
from router.plan import Plan
from router.solvers.bounds.dual import DualPrices, evaluate
from tests.conftest import HAND, gap_path
from tests.strategies import instances

VERIFIER_CODES = {"out-of-zone", "express", "service-radius", "store-ineligible", "stock",
                  "node-units", "node-packages", "order-packages"}


def solved(name: str, solver: str = "ortools-highs") -> tuple[Instance, Plan]:
    inst = router.load(HAND / f"{name}.yaml")
    assert isinstance(inst, Instance)
    return inst, router.solve(inst, solver=solver, time_limit=10)


def shipped_from(plan: Plan, node: str) -> list[str]:
    return [s.order for s in plan.shipments if s.node == node]


def alternative(e: Explanation, order: str, node: str) -> Alternative:
    alts = [a for a in e.get(order).alternatives if a.node == node]
    assert len(alts) == 1, [a.node for a in e.get(order).alternatives]
    return alts[0]


# ----------------------------------------------------------------------------------------------
# the hand-made batches (instances/README.md)


def test_capacity_the_near_node_is_full() -> None:
    inst, plan = solved("capacity")
    far = [o for o in shipped_from(plan, "WH-far")]
    assert len(far) == 1  # one two-unit order ships from the far node
    e = explain(inst, plan, far)
    a = alternative(e, far[0], "WH-near")
    assert a.blocked and a.cheaper
    assert a.delta == pytest.approx(6.0 - 11.0)
    assert {WhyNot.NODE_UNITS, WhyNot.NODE_PACKAGES} == set(a.reasons)
    limits = {lim.reason: (lim.used, lim.limit) for lim in a.limits}
    assert limits == {WhyNot.NODE_UNITS: (5, 3), WhyNot.NODE_PACKAGES: (3, 2)}
    # the LP prices a unit of the near node's capacity at what the 2-unit orders save per
    # unit there: (11 - 6) / 2
    assert e.prices is not None and e.prices.solved
    assert e.prices.bound == pytest.approx(22.5)
    assert dict(e.prices.node_units) == {"WH-near": pytest.approx(2.5)}
    near = [o for o in e.orders if o.order != far[0]]
    assert not near  # only the order asked about
    o3 = explain(inst, plan, "O-3").get("O-3")
    assert [(p.limit, p.node, p.qty) for p in o3.prices] == [("node-units", "WH-near", 1)]
    assert alternative(explain(inst, plan, "O-3", prices=False), "O-3", "WH-far").reasons == (
        WhyNot.DEARER,)


def test_express_the_cheaper_node_is_beyond_the_radius() -> None:
    inst, plan = solved("express")
    e = explain(inst, plan, ["O-express", "O-standard"], prices=False)
    o = e.get("O-express")
    assert [s.node for s in o.shipments] == ["WH-close"]
    s = o.shipments[0].cost
    assert (s.zone, s.per_package, s.handling_per_package) == (2, 8.0, 4.0)
    assert s.total == pytest.approx(13.5)
    a = alternative(e, "O-express", "WH-far")
    assert a.reasons == (WhyNot.EXPRESS,)
    assert a.km > 100 and a.delta == pytest.approx(9.5 - 13.5)
    assert alternative(e, "O-standard", "WH-close").reasons == (WhyNot.DEARER,)


def test_safety_the_store_stock_is_held_back() -> None:
    inst, plan = solved("safety")
    (wh_order,) = shipped_from(plan, "WH")
    (st_order,) = shipped_from(plan, "ST")
    e = explain(inst, plan, wh_order)
    a = alternative(e, wh_order, "ST")
    assert a.reason is WhyNot.SAFETY_STOCK and a.cheaper
    assert set(a.reasons) == {WhyNot.SAFETY_STOCK, WhyNot.STOCK_TAKEN}
    (c,) = a.stock
    assert (c.sku, c.need, c.inventory, c.safety_stock, c.available, c.used_by_others) == (
        "A", 1, 3, 2, 1, 1)
    assert [(t.order, t.qty, t.paid) for t in c.takers] == [(st_order, 1, pytest.approx(5.5))]
    assert c.price == pytest.approx(9.5 - 5.5)  # LP price of one more unit at the store
    assert e.prices is not None and e.prices.method == "lp"


def test_split_ships_in_two_packages_because_one_is_dearer() -> None:
    inst, plan = solved("split")
    o = explain(inst, plan, "O-1", prices=False).get("O-1")
    assert sorted(s.node for s in o.shipments) == ["W-near-A", "W-near-B"]
    for s in o.shipments:
        (ln,) = s.cost.lines
        assert (s.cost.zone, s.cost.package, ln.per_kg, ln.weight_kg) == (1, 5.0, 0.5, 1.0)
        assert s.cost.total == pytest.approx(5.5)
    (a,) = o.alternatives
    assert (a.node, a.reasons, a.zone) == ("W-far", (WhyNot.DEARER,), 3)
    assert a.delta == pytest.approx(20.0 - 11.0)
    assert len(a.shipments) == 1  # one package instead of two


def test_store_may_not_ship_the_bulky_sku() -> None:
    inst, plan = solved("store")
    e = explain(inst, plan, prices=False)
    assert alternative(e, "O-2", "ST").reasons == (WhyNot.STORE_INELIGIBLE,)
    assert alternative(e, "O-1", "WH").reasons == (WhyNot.DEARER,)
    assert alternative(e, "O-1", "WH").delta == pytest.approx(9.5 - 7.5)


def test_unfillable_line_has_no_stock_within_reach() -> None:
    inst, plan = solved("unfillable")
    o = explain(inst, plan, "O-1", prices=False).get("O-1")
    (u,) = o.unfilled
    assert (u.sku, u.qty, u.penalty, u.reason) == ("Z", 2, 50.0, WhyNot.NO_STOCK_IN_REACH)
    (a,) = u.alternatives
    assert (a.node, a.reasons, a.zone, a.cost) == ("WH-arctic", (WhyNot.OUT_OF_ZONE,), None, None)
    assert o.unlisted == ((WhyNot.OUT_OF_ZONE, 1),)  # the order as a whole, from WH-arctic
    full = explain(inst, plan, "O-1", prices=False, all_nodes=True).get("O-1")
    assert [a.node for a in full.alternatives] == ["WH-arctic"] and not full.unlisted


# ----------------------------------------------------------------------------------------------
# every alternative forced into the plan


def forced(plan: Plan, order: str, alt: Alternative) -> Plan:
    return replace(plan, shipments=tuple(s for s in plan.shipments if s.order != order)
                   + alt.shipments,
                   unfilled=tuple(u for u in plan.unfilled if u.order != order) + alt.unfilled,
                   objective=None, cost=None, lower_bound=None)


def without_safety_stock(inst: Instance, node: str) -> Instance:
    d = inst.to_dict()
    for n in d["nodes"]:
        if n["id"] == node:
            n.pop("safety_stock", None)
    return Instance.from_dict(d)


def check_alternative(inst: Instance, plan: Plan, base: float, order: str,
                      alt: Alternative) -> None:
    """Force ``alt`` and check that the verifier finds exactly the limits it names, that its
    cost difference is the recomputed one, and that the stock reasons hold."""
    plan2 = forced(plan, order, alt)
    rep = router.verify(inst, plan2, raise_on_error=False)
    codes = {v.code for v in rep.violations if v.code != "cost-mismatch"}
    assert codes == {r.verifier_code for r in alt.reasons if r.blocking}, (alt, rep)
    assert codes <= VERIFIER_CODES
    if alt.zone is not None:  # every shipment priced
        assert alt.cost is not None and alt.delta is not None
        assert rep.cost.total - base == pytest.approx(alt.delta, abs=1e-6)
    if not alt.blocked:
        assert rep.feasible
        assert alt.delta is not None
        assert (alt.reason is WhyNot.CHEAPER) == (alt.delta < -1e-6)
        assert (alt.reason is WhyNot.DEARER) == (alt.delta > 1e-6)
    takers = Counter((s.order, ln.qty) for s in plan.shipments if s.node == alt.node
                     and s.order != order for ln in s.lines)
    stock_reasons = [r for r in alt.reasons if r in (WhyNot.SAFETY_STOCK, WhyNot.STOCK_TAKEN)]
    for c in alt.stock:
        node = next(n for n in inst.nodes if n.id == alt.node)
        assert (c.inventory, c.available) == (node.inventory.get(c.sku, 0),
                                              node.available(c.sku))
        if not c.short:
            continue
        # the orders named are exactly those that ship that SKU from that node
        named = Counter((t.order, t.qty) for t in c.takers)
        ship_sku = Counter((s.order, ln.qty) for s in plan.shipments if s.node == alt.node
                           and s.order != order for ln in s.lines if ln.sku == c.sku)
        assert named == ship_sku and sum(t.qty for t in c.takers) == c.used_by_others
        assert named <= takers
    if stock_reasons:
        # the safety stock comes first exactly when it alone explains the shortage: without
        # it, the verifier finds no stock problem
        rep2 = router.verify(without_safety_stock(inst, alt.node), plan2, raise_on_error=False)
        fixed = "stock" not in {v.code for v in rep2.violations}
        assert fixed == (stock_reasons[0] is WhyNot.SAFETY_STOCK), (alt, rep2)
        short = [c for c in alt.stock if c.short]
        assert (WhyNot.SAFETY_STOCK in alt.reasons) == any(c.safety_stock > 0 for c in short)
        assert (WhyNot.STOCK_TAKEN in alt.reasons) == any(c.used_by_others > 0 for c in short)


def check_explanation(inst: Instance, plan: Plan, e: Explanation) -> None:
    base = router.verify(inst, plan).cost.total
    for o in e.orders:
        for a in o.alternatives:
            check_alternative(inst, plan, base, o.order, a)
        for u in o.unfilled:
            for a in u.alternatives:
                check_alternative(inst, plan, base, o.order, a)
                assert a.lines and any(ln.sku == u.sku for ln in a.lines)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(), st.sampled_from(["greedy", "nearest"]))
def test_every_alternative_is_what_forcing_it_gives(inst: Instance, solver: str) -> None:
    plan = router.solve(inst, solver=solver, time_limit=5)
    e = explain(inst, plan, all_nodes=True, prices=False)
    check_explanation(inst, plan, e)
    # every node holding one of the order's SKUs is there (unless the plan does just that)
    for o, ex in zip(inst.orders, e.orders, strict=True):
        skus = {ln.sku for ln in o.lines}
        holders = {n.id for n in inst.nodes if any(n.inventory.get(s, 0) > 0 for s in skus)}
        assert {a.node for a in ex.alternatives} <= holders
        assert not ex.unlisted


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_an_optimal_plan_has_no_cheaper_alternative(inst: Instance) -> None:
    plan = router.solve(inst, solver="ortools-highs", time_limit=10, mip_gap=1e-9)
    if plan.status != "optimal":
        return
    e = explain(inst, plan, all_nodes=True, prices=False)
    check_explanation(inst, plan, e)
    for o in e.orders:
        # any alternative reported cheaper is blocked, and by what forcing it shows
        assert all(a.blocked for a in o.alternatives if a.cheaper), o
        assert all(u.reason is not WhyNot.CHEAPER for u in o.unfilled)
        assert o.best is None or o.best.blocked


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_listing_hides_only_what_could_not_cost_less(inst: Instance) -> None:
    plan = router.solve(inst, solver="greedy")
    full = explain(inst, plan, all_nodes=True, prices=False)
    short = explain(inst, plan, prices=False)
    cheap = explain(inst, plan, only_cheaper=True, prices=False)
    for f, s, c in zip(full.orders, short.orders, cheap.orders, strict=True):
        assert len(s.alternatives) + sum(k for _, k in s.unlisted) == len(f.alternatives)
        assert set(s.alternatives) <= set(f.alternatives)
        cheaper = {a for a in f.alternatives if a.cheaper}
        assert cheaper <= set(s.alternatives) and cheaper <= set(c.alternatives)
        assert f.best == s.best == c.best
        assert [u.reason for u in f.unfilled] == [u.reason for u in c.unfilled]
    # the digest counts what the explanations say
    d = digest(inst, plan)
    unf = Counter(u.reason for o in full.orders for u in o.unfilled)
    forgone = Counter(o.best.reason for o in full.orders if o.best is not None)
    assert {t.reason: t.count for t in d.unfilled} == unf
    assert {t.reason: t.count for t in d.forgone} == forgone
    saved = sum(-o.best.delta for o in full.orders if o.best is not None and o.best.delta)
    assert sum(t.amount for t in d.forgone) == pytest.approx(saved)


def test_digest_breaks_a_tie_of_two_cheaper_alternatives_as_the_explanation_does() -> None:
    """Two nodes could each ship the order for 2.0 (its plan costs more): the explanation's
    best is the first by cost, then node id (N0, held back by its unit capacity); the
    digest, which stops at a bound, must still look at N0 after finding N1 at that cost."""
    zones = [{"max_km": 20, "per_package": 1.0, "per_kg": 0.0}]
    inst = Instance.from_dict({
        "format": "router/instance-v1", "name": "tie", "unfilled_penalty": 5.0,
        "shipping": {"zones": zones},
        "skus": [{"id": "S0", "weight_kg": 0.0}, {"id": "S1", "weight_kg": 0.0}],
        "nodes": [{"id": "N0", "kind": "warehouse", "lat": 30.0, "lon": 120.0,
                   "max_units": 1, "inventory": {"S0": 2}},
                  {"id": "N1", "kind": "warehouse", "lat": 30.0, "lon": 120.0,
                   "safety_stock": 1, "inventory": {"S0": 1, "S1": 2}}],
        "orders": [{"id": "O0", "lat": 30.0, "lon": 120.0,
                    "lines": [{"sku": "S0", "qty": 2}, {"sku": "S1", "qty": 1}]}]})
    plan = router.solve(inst, solver="greedy")
    best = explain(inst, plan, prices=False).orders[0].best
    assert best is not None and (best.node, best.cost) == ("N0", 2.0)
    assert best.reason is WhyNot.NODE_UNITS
    assert [(t.reason, t.count) for t in digest(inst, plan).forgone] == [(WhyNot.NODE_UNITS, 1)]


def test_digest_of_a_sale_day_batch_matches_the_explanations() -> None:
    inst = router.load(Path(__file__).resolve().parent.parent / "instances" / "s.yaml")
    assert isinstance(inst, Instance)
    plan = router.solve(inst, solver="greedy")
    e = explain(inst, plan, prices=False)
    d = digest(inst, plan)
    assert d.orders == len(inst.orders)
    assert {t.reason: t.count for t in d.unfilled} == Counter(
        u.reason for o in e.orders for u in o.unfilled)
    assert {t.reason: t.count for t in d.forgone} == Counter(
        o.best.reason for o in e.orders if o.best is not None)
    assert sum(t.units for t in d.unfilled) == sum(u.qty for u in plan.unfilled)
    some = [o for o in e.orders if o.best is not None][:20]
    check_explanation(inst, plan, replace(e, orders=tuple(some)))


# ----------------------------------------------------------------------------------------------
# prices: the LP's duals and the Lagrangian prices of column generation

LAGRANGIAN_ONLY = PriceParams(method="lagrangian")


def reproven(inst: Instance, prices: BatchPrices) -> float:
    """The Lagrangian bound evaluated afresh at the reported prices (stock, node units and
    packages: the coupling rows)."""
    p = compile_problem(inst)
    pool = {(p.node_ids[int(n)], p.sku_ids[int(k)]): q
            for q, (n, k) in enumerate(zip(p.pool_node, p.pool_sku, strict=True))}
    lam = (np.zeros(len(p.pool_qty)), np.zeros(p.n_nodes), np.zeros(p.n_nodes))
    for key, x in prices.stock.items():
        lam[0][pool[key]] = x
    node = {nid: i for i, nid in enumerate(p.node_ids)}
    for nid, x in prices.node_packages.items():
        lam[1][node[nid]] = x
    for nid, x in prices.node_units.items():
        lam[2][node[nid]] = x
    v = DualPrices(*lam)
    return evaluate(p, v)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_lagrangian_prices_bound_between_the_lp_and_the_optimum(seed: int) -> None:
    inst = router.generate("xs", seed)
    lp = lp_prices(inst, 60)
    lag = lagrangian_prices(inst, 60)
    assert lp.solved and lp.method == "lp" and lp.bound is not None, lp
    assert lag.solved and lag.method == "lagrangian" and lag.bound is not None, lag
    assert lag.converged and lag.detail in ("converged", "no_column", "feasible")
    assert not lag.order_packages  # the order's package limit is inside its subproblem
    optimum = router.solve(inst, solver="ortools-highs", time_limit=None, mip_gap=0.0)
    assert optimum.status == "optimal" and optimum.objective is not None
    greedy = router.solve(inst, solver="greedy")
    assert greedy.objective is not None
    tol = 1e-6 * max(1.0, abs(lp.bound))
    assert lag.bound >= lp.bound - tol
    assert lag.bound <= optimum.objective + tol <= greedy.objective + 2 * tol
    # the bound is proven at the prices reported, evaluated afresh
    assert reproven(inst, lag) >= lag.bound - tol


def test_lagrangian_prices_stopped_early_are_proven_and_say_so() -> None:
    inst = router.generate("xs", 1)
    first = lagrangian_prices(inst, None, max_iterations=0)
    full = lagrangian_prices(inst, None)
    assert first.solved and not first.converged and first.detail == "iterations", first
    assert first.bound is not None and full.bound is not None
    assert first.bound <= full.bound
    optimum = router.solve(inst, solver="ortools-highs", time_limit=None, mip_gap=0.0)
    assert optimum.objective is not None and first.bound <= optimum.objective + 1e-6
    assert reproven(inst, first) >= first.bound - 1e-6


def test_sale_day_lagrangian_bound_at_least_the_lp() -> None:
    inst = router.load(Path(__file__).resolve().parent.parent / "instances" / "s.yaml")
    plan = router.solve(inst, solver="greedy")
    lp = lp_prices(inst, 60)
    lag = lagrangian_prices(inst, 60)
    assert lp.bound is not None and lag.bound is not None and plan.objective is not None
    assert lag.converged, lag
    assert lp.bound - 1e-6 * lp.bound <= lag.bound <= plan.objective + 1e-6
    assert lag.stock and reproven(inst, lag) >= lag.bound - 1e-6 * lag.bound


def test_the_method_is_chosen_by_line_arcs() -> None:
    params = PriceParams()
    assert params.lp_first(15_000, 10.0) and not params.lp_first(200_000, 10.0)
    assert params.lp_first(200_000, math.inf)  # without a time limit the LP is tried
    for bad in ({"method": "simplex"}, {"lp_share": 0.0}, {"lp_seconds_per_line_arc": -1.0}):
        with pytest.raises(ValueError):
            PriceParams(**bad)
    # a rate that sends every batch to column generation under "auto"
    inst, _ = solved("capacity", "greedy")
    p = batch_prices(inst, 10, params=PriceParams(lp_seconds_per_line_arc=1e3))
    assert p.method == "lagrangian" and p.solved
    assert len(p.tried) == 1 and "not tried" in p.tried[0]
    assert batch_prices(inst, 10).method == "lp"


def test_lagrangian_prices_capacity_the_near_node_is_full() -> None:
    inst, plan = solved("capacity")
    e = explain(inst, plan, price_params=LAGRANGIAN_ONLY)
    assert e.prices is not None and e.prices.solved and e.prices.method == "lagrangian"
    assert e.prices.bound == pytest.approx(22.5)
    # only the near node's capacity is scarce: no stock is
    assert set(e.prices.node_units) | set(e.prices.node_packages) == {"WH-near"}
    assert not e.prices.stock
    for o in e.orders:
        nodes = {s.node for s in o.shipments}
        assert {p.node for p in o.prices} == nodes & {"WH-near"}
        assert all(p.limit in ("node-units", "node-packages") for p in o.prices)
    assert e.to_dict()["prices"]["method"] == "lagrangian"


def test_lagrangian_prices_safety_the_store_stock_is_held_back() -> None:
    inst, plan = solved("safety")
    (wh_order,) = shipped_from(plan, "WH")
    (st_order,) = shipped_from(plan, "ST")
    e = explain(inst, plan, price_params=LAGRANGIAN_ONLY)
    assert e.prices is not None and e.prices.solved and e.prices.method == "lagrangian"
    assert e.prices.bound == pytest.approx(15.0)
    # the store's available unit of A is the scarce limit, worth what the other order
    # would save with it (9.5 - 5.5); no capacity binds
    assert dict(e.prices.stock) == {("ST", "A"): pytest.approx(4.0)}
    assert not e.prices.node_units and not e.prices.node_packages
    assert [(p.limit, p.node, p.sku) for p in e.get(st_order).prices] == [("stock", "ST", "A")]
    assert e.get(wh_order).prices == ()
    (c,) = alternative(e, wh_order, "ST").stock
    assert c.price == pytest.approx(4.0)


def test_cli_explain_names_the_price_method(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    f = str(HAND / "safety.yaml")
    out = tmp_path / "plan.json"
    assert main(["solve", f, "--solver", "ortools-highs", "-o", str(out)]) == 0
    capsys.readouterr()
    (st_order,) = shipped_from(router.Plan.read(out), "ST")
    assert main(["explain", f, str(out), "--order", st_order, "--json",
                 "--price-method", "lagrangian"]) == 0
    d = json.loads(capsys.readouterr().out)["prices"]
    assert (d["method"], d["status"], d["converged"]) == ("lagrangian", "proven", True)
    assert d["bound"] == pytest.approx(15.0)
    assert main(["explain", f, str(out), "--order", st_order, "--price-method", "lagrangian"]) == 0
    text = capsys.readouterr().out
    assert "prices: Lagrangian prices (column generation)" in text
    assert "Lagrangian prices of the scarce limits it uses" in text
    assert main(["explain", f, str(out), "--order", st_order]) == 0
    assert "prices: LP relaxation duals (HiGHS)" in capsys.readouterr().out


# ----------------------------------------------------------------------------------------------
# data, codes and errors


def test_reason_codes_are_the_verifiers_where_they_overlap() -> None:
    assert {r.verifier_code for r in WhyNot if r.blocking} - {None} == VERIFIER_CODES
    assert WhyNot.SAFETY_STOCK.verifier_code == WhyNot.STOCK_TAKEN.verifier_code == "stock"
    assert all(r.text for r in WhyNot)
    assert not any(r.blocking for r in (WhyNot.CHEAPER, WhyNot.EQUAL_COST, WhyNot.DEARER))


def test_explanation_as_json() -> None:
    inst, plan = solved("safety")
    d = json.loads(json.dumps(explain(inst, plan).to_dict()))
    assert d["prices"]["status"] == "proven" and d["prices"]["bound"] == pytest.approx(15.0)
    assert d["prices"]["method"] == "lp" and d["prices"]["converged"] is True
    orders = {o["order"]: o for o in d["orders"]}
    (wh_order,) = shipped_from(plan, "WH")
    (a,) = orders[wh_order]["alternatives"]
    assert a["node"] == "ST" and a["reasons"] == ["safety-stock", "stock-taken"]
    assert a["blocked"] is True and a["cheaper"] is True
    assert orders[wh_order]["shipments"][0]["cost"]["total"] == pytest.approx(9.5)


@pytest.mark.parametrize("case", ["gap", "unknown order", "other instance"])
def test_bad_questions_are_input_errors(case: str) -> None:
    inst, plan = solved("capacity", "greedy")
    other: Any
    with pytest.raises(router.InputError) as err:
        if case == "gap":
            other = router.load(gap_path("c0515_1"), format="gap")
            explain(other, plan)
        elif case == "unknown order":
            explain(inst, plan, ["O-1", "O-404"])
        else:
            other, _ = solved("express", "greedy")
            explain(other, plan)
    assert {"gap": "GAP", "unknown order": "O-404", "other instance": "does not fit"}[case] in \
        str(err.value)


def test_cli_explain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = str(HAND / "safety.yaml")
    out = tmp_path / "plan.json"
    assert main(["solve", f, "--solver", "ortools-highs", "-o", str(out)]) == 0
    capsys.readouterr()
    plan = router.Plan.read(out)
    (wh_order,) = shipped_from(plan, "WH")
    assert main(["explain", f, str(out), "--order", wh_order]) == 0
    text = capsys.readouterr().out
    assert f"order {wh_order}" in text and "safety-stock" in text and "ST (store" in text
    assert main(["explain", f, str(out), "--order", wh_order, "--json", "--no-prices"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["orders"][0]["alternatives"][0]["reasons"][0] == "safety-stock"
    assert "prices" not in d
    # without --order: the batch by reason
    assert main(["explain", f, str(out), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["forgone"][0]["reason"] == "safety-stock" and d["forgone"][0]["count"] == 1
    assert main(["explain", f, str(out)]) == 0
    assert "safety-stock" in capsys.readouterr().out
    # a plan of another batch, an unknown order: exit 2 naming the file, no traceback
    code = main(["explain", str(HAND / "express.yaml"), str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(f"{out}: the plan does not fit")
    assert main(["explain", f, str(out), "--order", "nope"]) == 2
    assert "no order 'nope'" in capsys.readouterr().err
