"""Scalar references for the vectorised stages, kept to compare them with: the verifier and
``build_plan`` as they were written first, one shipment and one line at a time in plain Python
(the tests compare reports and plans entry for entry; tests/test_equivalence.py)."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import numpy as np

from router.compile import Problem
from router.contract import RunStats, Status, Termination
from router.evaluate import cost as compiled_cost
from router.geo import haversine_km_scalar as haversine_km
from router.instance import GAP_SKU, GapInstance, Instance
from router.plan import CostBreakdown, Plan, PlanLine, Shipment, Unfilled
from router.verify import (
    VerifyReport,
    Violation,
    _bad_quantity,
    _check_bound,
    _check_cost,
    _common,
    _quantity_ok,
)


def verify(instance: Instance | GapInstance, plan: Plan) -> VerifyReport:
    """The report of the scalar verifier (never raises)."""
    if isinstance(instance, GapInstance):
        return verify_gap(instance, plan)
    return verify_routing(instance, plan)


def verify_routing(inst: Instance, plan: Plan) -> VerifyReport:
    out: list[Violation] = []
    _common(plan, inst.name, out)
    nodes = {n.id: n for n in inst.nodes}
    orders = {o.id: o for o in inst.orders}
    skus = {s.id: s for s in inst.skus}
    zones = inst.shipping.zones
    express_km = inst.shipping.express_max_km

    shipped: dict[tuple[str, str], int] = defaultdict(int)  # (order, sku) -> units
    stock_used: dict[tuple[str, str], int] = defaultdict(int)  # (node, sku) -> units
    node_packages: dict[str, int] = defaultdict(int)
    node_units: dict[str, int] = defaultdict(int)
    order_packages: dict[str, int] = defaultdict(int)
    seen: set[tuple[str, str]] = set()
    package_cost: list[float] = []
    unit_cost: list[float] = []

    for s in plan.shipments:
        o, n = orders.get(s.order), nodes.get(s.node)
        if o is None:
            out.append(Violation("unknown-order", "shipment for an order not in the batch",
                                 order=s.order, node=s.node))
        if n is None:
            out.append(Violation("unknown-node", "shipment from a node not in the network",
                                 order=s.order, node=s.node))
        if o is None or n is None:
            continue
        if (o.id, n.id) in seen:
            out.append(Violation("duplicate-shipment", "two shipments from one node for one "
                                                       "order", order=o.id, node=n.id))
        seen.add((o.id, n.id))
        if not s.lines or not any(_quantity_ok(ln.qty) for ln in s.lines):
            out.append(Violation("empty-shipment", "a shipment must carry at least one unit",
                                 order=o.id, node=n.id))
            continue
        d = haversine_km(n.lat, n.lon, o.lat, o.lon)
        zone = next((z for z in zones if d <= z.max_km), None)
        if zone is None:
            out.append(Violation("out-of-zone", f"distance {d:.1f} km is beyond every zone",
                                 order=o.id, node=n.id))
        if o.service == "express" and express_km is not None and d > express_km:
            out.append(Violation("express", f"express order served from {d:.1f} km, beyond "
                                            f"{express_km:g} km", order=o.id, node=n.id))
        if n.service_radius_km is not None and d > n.service_radius_km:
            out.append(Violation("service-radius", f"{d:.1f} km is beyond the node's service "
                                                   f"radius {n.service_radius_km:g} km",
                                 order=o.id, node=n.id))
        node_packages[n.id] += 1
        order_packages[o.id] += 1
        if zone is not None:
            package_cost.append(zone.per_package + n.handling_per_package)
        order_skus = {ln.sku for ln in o.lines}
        line_seen: set[str] = set()
        for ln in s.lines:
            sku = skus.get(ln.sku)
            if sku is None or ln.sku not in order_skus:
                out.append(Violation("unknown-line", "shipment carries a SKU the order does not "
                                                     "ask for", order=o.id, node=n.id,
                                     sku=ln.sku))
                continue
            if ln.sku in line_seen:
                out.append(Violation("duplicate-line", "a SKU appears twice in one shipment",
                                     order=o.id, node=n.id, sku=ln.sku))
            line_seen.add(ln.sku)
            if not _quantity_ok(ln.qty):
                out.append(Violation("quantity", _bad_quantity("shipped", ln.qty),
                                     order=o.id, node=n.id, sku=ln.sku))
                continue
            if n.kind == "store" and not sku.store_eligible:
                out.append(Violation("store-ineligible", "SKU may not ship from a store",
                                     order=o.id, node=n.id, sku=ln.sku))
            shipped[(o.id, ln.sku)] += ln.qty
            stock_used[(n.id, ln.sku)] += ln.qty
            node_units[n.id] += ln.qty
            if zone is not None:
                unit_cost.append(ln.qty * (zone.per_kg * sku.weight_kg + n.handling_per_unit))

    unfilled: dict[tuple[str, str], int] = defaultdict(int)
    for u in plan.unfilled:
        o = orders.get(u.order)
        if o is None or u.sku not in {ln.sku for ln in o.lines}:
            out.append(Violation("unknown-line", "unfilled entry for a line not in the batch",
                                 order=u.order, sku=u.sku))
            continue
        if not _quantity_ok(u.qty):
            out.append(Violation("quantity", _bad_quantity("unfilled", u.qty),
                                 order=u.order, sku=u.sku))
            continue
        unfilled[(u.order, u.sku)] += u.qty

    unfilled_cost: list[float] = []
    for o in inst.orders:
        pen = inst.order_penalty(o)
        for line in o.lines:
            s_q, u_q = shipped.get((o.id, line.sku), 0), unfilled.get((o.id, line.sku), 0)
            if s_q + u_q != line.qty:
                out.append(Violation("quantity", f"line of {line.qty} has {s_q} shipped and "
                                                 f"{u_q} unfilled", order=o.id, sku=line.sku))
            unfilled_cost.append(u_q * pen)
        limit = inst.order_max_packages(o)
        if limit is not None and order_packages.get(o.id, 0) > limit:
            out.append(Violation("order-packages", f"{order_packages[o.id]} shipments, limit "
                                                   f"{limit}", order=o.id))
    for (nid, sku_id), used in stock_used.items():
        avail = nodes[nid].available(sku_id)
        if used > avail:
            out.append(Violation("stock", f"ships {used} units but only {avail} are available "
                                          f"(inventory less safety stock)", node=nid, sku=sku_id))
    for n in inst.nodes:
        if n.max_packages is not None and node_packages.get(n.id, 0) > n.max_packages:
            out.append(Violation("node-packages", f"{node_packages[n.id]} shipments, capacity "
                                                  f"{n.max_packages}", node=n.id))
        if n.max_units is not None and node_units.get(n.id, 0) > n.max_units:
            out.append(Violation("node-units", f"{node_units[n.id]} units, capacity "
                                               f"{n.max_units}", node=n.id))
    pk, un, uf = math.fsum(package_cost), math.fsum(unit_cost), math.fsum(unfilled_cost)
    cost = CostBreakdown(pk, un, uf, math.fsum((pk, un, uf)))
    _check_cost(plan, cost, out)
    _check_bound(plan, cost, out)
    return VerifyReport(tuple(out), cost, plan.objective)


def verify_gap(gap: GapInstance, plan: Plan) -> VerifyReport:
    out: list[Violation] = []
    _common(plan, gap.name, out)
    job_index = {j: k for k, j in enumerate(gap.order_ids)}
    agent_index = {a: k for k, a in enumerate(gap.node_ids)}
    assigned: dict[int, int] = {}
    used = [0] * gap.n_agents
    costs: list[float] = []
    for s in plan.shipments:
        j, i = job_index.get(s.order), agent_index.get(s.node)
        if j is None or i is None:
            out.append(Violation("unknown-order" if j is None else "unknown-node",
                                 "assignment names an unknown job or agent",
                                 order=s.order, node=s.node))
            continue
        if [(ln.sku, ln.qty) for ln in s.lines] != [(GAP_SKU, 1)]:
            out.append(Violation("quantity", f"a GAP assignment carries exactly one "
                                             f"{GAP_SKU!r} unit", order=s.order, node=s.node))
        if j in assigned:
            out.append(Violation("order-packages", "job assigned more than once",
                                 order=s.order, node=s.node))
            continue
        assigned[j] = i
        used[i] += int(gap.resource[i, j])
        costs.append(float(gap.cost[i, j]))
    for u in plan.unfilled:
        out.append(Violation("unfilled", "every GAP job must be assigned", order=u.order))
    for j, jid in enumerate(gap.order_ids):
        if j not in assigned:
            out.append(Violation("quantity", "job is not assigned", order=jid))
    for i, aid in enumerate(gap.node_ids):
        if used[i] > int(gap.capacity[i]):
            out.append(Violation("node-units", f"uses {used[i]} of capacity "
                                               f"{int(gap.capacity[i])}", node=aid))
    total = math.fsum(costs)
    cost = CostBreakdown(total, 0.0, 0.0, total)
    _check_cost(plan, cost, out)
    _check_bound(plan, cost, out)
    return VerifyReport(tuple(out), cost, plan.objective)


def build_plan(problem: Problem, solver: str, status: Status | str, x: np.ndarray | None,
               lower_bound: float | None, stats: RunStats | dict[str, Any],
               termination: Termination | None = None, source: str = "") -> Plan:
    """Turn units per line-arc into shipments and unfilled lines (ids, not indices)."""
    if not isinstance(stats, RunStats):
        stats = RunStats.from_mapping(stats)
    if x is None:
        return Plan(instance=problem.name, solver=solver, status=Status(status), objective=None,
                    lower_bound=lower_bound, cost=None, shipments=(), unfilled=(), stats=stats,
                    termination=termination, source=source)
    x = np.asarray(x, dtype=np.int64)
    c = compiled_cost(problem, x)
    nz = np.flatnonzero(x > 0)  # sorted by (line, node); regroup by (order, node)
    arcs = problem.e_arc[nz]
    order_by_arc = np.argsort(arcs, kind="stable")
    nz, arcs = nz[order_by_arc], arcs[order_by_arc]
    bounds = np.flatnonzero(np.diff(arcs)) + 1
    oids, nids, sids = problem.order_ids, problem.node_ids, problem.sku_ids
    line_sku = problem.line_sku[problem.e_line[nz]].tolist()
    qty = x[nz].tolist()
    arc_list = arcs.tolist()
    shipments = []
    starts = [0, *bounds.tolist()]
    ends = [*bounds.tolist(), len(nz)]
    for s, e in zip(starts, ends, strict=True):
        if s == e:
            continue
        a = arc_list[s]
        shipments.append(Shipment(
            order=oids[int(problem.arc_order[a])], node=nids[int(problem.arc_node[a])],
            lines=tuple(PlanLine(sids[line_sku[k]], qty[k]) for k in range(s, e))))
    shipped = np.bincount(problem.e_line, weights=x, minlength=problem.n_lines).astype(np.int64)
    short = problem.line_qty - shipped
    unfilled = tuple(
        Unfilled(oids[int(problem.line_order[ln])], sids[int(problem.line_sku[ln])],
                 int(short[ln]))
        for ln in np.flatnonzero(short > 0))
    total = c.total
    return Plan(instance=problem.name, solver=solver, status=Status(status),
                objective=total if math.isfinite(total) else None, lower_bound=lower_bound,
                cost=CostBreakdown(c.package, c.unit, c.unfilled, total),
                shipments=tuple(shipments), unfilled=unfilled, stats=stats,
                termination=termination, source=source)
