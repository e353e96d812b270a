"""The independent verifier: checks a plan against its instance, from the instance alone.

Nothing here uses the compiled arrays a solver saw: distances, zones, eligibility, stock,
capacities and cost are recomputed from the value objects with scalar arithmetic, so a bug in
compilation or in a solver cannot hide itself.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from router.errors import VerificationError, brief
from router.geo import haversine_km_scalar as haversine_km
from router.instance import GAP_SKU, GapInstance, Instance
from router.limits import MAX_INT
from router.plan import CostBreakdown, Plan

SUMMARY_LIMIT = 20
"""Problems listed by a report's summary (the rest are counted by kind)."""
_NOT_INFEASIBLE = ("cost-mismatch", "lower-bound")
"""Violations that concern what the plan states, not what it ships."""


@dataclass(frozen=True, slots=True)
class Violation:
    code: str
    message: str
    order: str | None = None
    node: str | None = None
    sku: str | None = None

    def __str__(self) -> str:
        where = ", ".join(f"{k} {brief(v, 60, quote=False)}"
                          for k, v in (("order", self.order), ("node", self.node),
                                       ("sku", self.sku)) if v is not None)
        return f"{self.code}: {self.message}" + (f" ({where})" if where else "")


@dataclass(frozen=True)
class VerifyReport:
    """``ok`` when the plan satisfies every constraint and its stated cost agrees."""

    violations: tuple[Violation, ...]
    cost: CostBreakdown
    stated_objective: float | None

    @property
    def feasible(self) -> bool:
        """No violation of a constraint (a wrong stated cost or bound aside)."""
        return not any(v.code not in _NOT_INFEASIBLE for v in self.violations)

    @property
    def ok(self) -> bool:
        return not self.violations

    def __str__(self) -> str:
        return self.summary()

    def counts(self) -> dict[str, int]:
        """Violations per code, the most frequent first."""
        return dict(Counter(v.code for v in self.violations).most_common())

    def summary(self, limit: int | None = SUMMARY_LIMIT) -> str:
        """The verdict, the problems counted by kind, and the first ``limit`` problems (every
        one with ``limit=None``)."""
        if self.ok:
            return f"plan is valid; cost {self.cost.total:.6f}"
        n = len(self.violations)
        out = [f"plan has {n:,} problem(s); recomputed cost {self.cost.total:.6f}"]
        counts = self.counts()
        if len(counts) > 1 or n > 1:
            out.append("  by kind: " + ", ".join(f"{code} {k:,}" for code, k in counts.items()))
        shown = self.violations if limit is None else self.violations[:limit]
        if len(shown) < n:
            out.append(f"  first {len(shown)}:")
        out.extend(f"  {v}" for v in shown)
        if len(shown) < n:
            out.append(f"  ... and {n - len(shown):,} more")
        return "\n".join(out)


def cost_agrees(stated: float, recomputed: float) -> bool:
    return abs(stated - recomputed) <= 1e-6 + 1e-9 * abs(recomputed)


def _quantity_ok(q: Any) -> bool:
    """A shipped or unfilled quantity: an integer in [1, MAX_INT] (a plan made in memory may
    hold anything; one read from a file is checked already)."""
    return isinstance(q, int) and not isinstance(q, bool) and 1 <= q <= MAX_INT


def _bad_quantity(what: str, q: Any) -> str:
    if not isinstance(q, int) or isinstance(q, bool):
        return f"{what} quantity must be an integer, not {brief(q)}"
    return f"{what} quantity must be positive" if q < 1 else f"{what} quantity is more than {MAX_INT}"


def verify(instance: Instance | GapInstance, plan: Plan, *,
           raise_on_error: bool = True) -> VerifyReport:
    """Check ``plan`` against ``instance``; raise :class:`VerificationError` on any violation
    (or return the report with ``raise_on_error=False``)."""
    if isinstance(instance, GapInstance):
        report = _verify_gap(instance, plan)
    else:
        report = _verify_routing(instance, plan)
    if raise_on_error and not report.ok:
        raise VerificationError(report)
    return report


def _common(plan: Plan, name: str, out: list[Violation]) -> None:
    if plan.instance != name:
        out.append(Violation("instance", f"plan is for {brief(plan.instance, 60)}, not "
                                         f"{brief(name, 60)}"))
    if plan.status not in ("optimal", "feasible"):
        out.append(Violation("status", f"plan has status {brief(plan.status)}: nothing to "
                                       "ship"))


def _check_bound(plan: Plan, cost: CostBreakdown, out: list[Violation]) -> None:
    """A proven lower bound never exceeds the cost of a plan: not the stated objective, and
    not the recomputed cost of a plan that satisfies every constraint."""
    lb = plan.lower_bound
    if lb is None or plan.status not in ("optimal", "feasible"):
        return
    if isinstance(lb, bool) or not isinstance(lb, (int, float)) or not math.isfinite(lb):
        out.append(Violation("lower-bound", f"lower bound {brief(lb)} is not a finite number"))
        return
    costs = [] if plan.objective is None else [("stated objective", plan.objective)]
    if not any(v.code not in _NOT_INFEASIBLE for v in out):
        costs.append(("recomputed cost", cost.total))
    for what, value in costs:
        if lb > value + 1e-6 + 1e-9 * abs(value):
            out.append(Violation("lower-bound", f"lower bound {lb:.6f} is above the plan's "
                                                f"{what} {value:.6f}: no plan can cost less "
                                                "than a proven bound"))
            return


def _check_cost(plan: Plan, cost: CostBreakdown, out: list[Violation]) -> None:
    if plan.objective is None:
        if plan.status in ("optimal", "feasible"):
            out.append(Violation("cost-mismatch", "plan states no objective"))
        return
    if not cost_agrees(plan.objective, cost.total):
        out.append(Violation("cost-mismatch", f"stated objective {plan.objective:.6f} but the "
                                              f"plan costs {cost.total:.6f}"))
    if plan.cost is not None:
        for part in ("package", "unit", "unfilled", "total"):
            stated, real = getattr(plan.cost, part), getattr(cost, part)
            if not cost_agrees(stated, real):
                out.append(Violation("cost-mismatch", f"stated {part} cost {stated:.6f} but "
                                                      f"recomputed {real:.6f}"))


def _verify_routing(inst: Instance, plan: Plan) -> VerifyReport:
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


def _verify_gap(gap: GapInstance, plan: Plan) -> VerifyReport:
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
