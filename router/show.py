"""A plan a person can read: its cost split, packages per order, split rate, unfilled units,
store share, node utilisation against capacity (busiest first) and the limits it binds.

:func:`summarize` computes the figures (a frozen :class:`PlanSummary`; with the instance, the
cost split by part, node kinds, distances and capacities too), :func:`format_summary` writes
them for people and :meth:`PlanSummary.to_dict` for programs.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from router.costing import Tariff
from router.duals import BatchPrices
from router.instance import GapInstance, Instance
from router.plan import CostBreakdown, Plan


@dataclass(frozen=True, slots=True)
class CostSplit:
    """The plan's cost by part, recomputed from the instance."""

    zone_package: float  # the zones' fixed price per package
    handling_package: float  # the nodes' handling per package
    weight: float  # the zones' rate per kg times the weight
    handling_unit: float  # the nodes' handling per unit
    unfilled: float  # penalties

    @property
    def total(self) -> float:
        return math.fsum((self.zone_package, self.handling_package, self.weight,
                          self.handling_unit, self.unfilled))


@dataclass(frozen=True, slots=True)
class NodeUse:
    node: str
    kind: str | None  # None without the instance
    packages: int
    max_packages: int | None
    units: int
    max_units: int | None

    @property
    def utilisation(self) -> float | None:
        """The larger of packages and units over their limits (``None`` without limits;
        a limit of 0 counts as full)."""
        shares = [u / m if m else 1.0 for u, m in ((self.packages, self.max_packages),
                                                   (self.units, self.max_units))
                  if m is not None]
        return max(shares) if shares else None


@dataclass(frozen=True, slots=True)
class Binding:
    """Limits the plan uses to the full: nodes at their package or unit capacity, stock
    pools used up (units shipped = inventory less safety stock), orders at their package
    limit. Ids sorted; the counts are the lengths."""

    node_packages: tuple[str, ...]
    node_units: tuple[str, ...]
    stock: tuple[tuple[str, str], ...]  # (node, sku)
    order_packages: tuple[str, ...]
    ship_complete: int = 0  # of the orders at their limit, those limited to one package


@dataclass(frozen=True, slots=True)
class TopPrice:
    limit: str  # "stock", "node-units", "node-packages", "order-packages"
    key: str  # node, "node sku", or order
    price: float


@dataclass(frozen=True)
class PlanSummary:
    instance: str
    solver: str
    status: str
    objective: float | None
    lower_bound: float | None
    gap: float | None
    seconds: float | None
    cost: CostBreakdown | None  # as stated by the plan
    split: CostSplit | None  # recomputed from the instance
    orders: int  # in the batch (without the instance: orders named by the plan)
    packages_per_order: tuple[tuple[int, int], ...]  # (packages, orders), 0 = nothing shipped
    shipments: int
    units: int
    unfilled_units: int
    unfilled_lines: int
    unfilled_orders: int
    store_shipments: int | None
    store_units: int | None
    mean_km: float | None
    zones: tuple[tuple[int, int], ...]  # (zone, shipments)
    nodes: tuple[NodeUse, ...]  # busiest first
    binding: Binding | None
    prices: BatchPrices | None
    top_prices: tuple[TopPrice, ...]

    @property
    def split_rate(self) -> float:
        """Share of the orders that ship in more than one package, of those that ship."""
        shipped = sum(k for p, k in self.packages_per_order if p > 0)
        split = sum(k for p, k in self.packages_per_order if p > 1)
        return split / shipped if shipped else 0.0

    @property
    def mean_packages(self) -> float:
        shipped = sum(k for p, k in self.packages_per_order if p > 0)
        return self.shipments / shipped if shipped else 0.0

    def to_dict(self) -> dict[str, Any]:
        from router.explain import plain, prices_dict

        d = {k: plain(getattr(self, k)) for k in (
            "instance", "solver", "status", "objective", "lower_bound", "gap", "seconds",
            "cost", "split", "orders", "shipments", "units", "unfilled_units", "unfilled_lines",
            "unfilled_orders", "store_shipments", "store_units", "mean_km", "binding")}
        d["packages_per_order"] = {str(p): k for p, k in self.packages_per_order}
        d["split_rate"] = round(self.split_rate, 6)
        d["zones"] = {str(z): k for z, k in self.zones}
        d["nodes"] = [plain(n) | {"utilisation": plain(n.utilisation)} for n in self.nodes]
        d["prices"] = None if self.prices is None else prices_dict(self.prices)
        d["top_prices"] = plain(self.top_prices)
        return d


def summarize(plan: Plan, instance: Instance | GapInstance | None = None, *,
              prices: BatchPrices | None = None, top: int = 10) -> PlanSummary:
    """The figures of ``plan`` (with ``instance``: also the cost split, store share,
    distances, capacities and binding limits; with ``prices``: the ``top`` highest)."""
    per_order = Counter(s.order for s in plan.shipments)
    node_pk: Counter[str] = Counter(s.node for s in plan.shipments)
    node_units: Counter[str] = Counter()
    pool: Counter[tuple[str, str]] = Counter()
    for s in plan.shipments:
        for ln in s.lines:
            node_units[s.node] += ln.qty
            pool[(s.node, ln.sku)] += ln.qty
    units = sum(node_units.values())
    unfilled_units = sum(u.qty for u in plan.unfilled)
    unfilled_orders = {u.order for u in plan.unfilled}
    routing = instance if isinstance(instance, Instance) else None
    if instance is None:
        order_ids = set(per_order) | unfilled_orders
    elif isinstance(instance, GapInstance):
        order_ids = set(instance.order_ids)
    else:
        order_ids = {o.id for o in instance.orders}
    hist = Counter(per_order.get(o, 0) for o in order_ids)

    split = None
    store_ship = store_units = None
    mean_km = None
    zones: Counter[int] = Counter()
    binding = None
    kinds: dict[str, str] = {}
    limits: dict[str, tuple[int | None, int | None]] = {}
    if isinstance(instance, GapInstance):
        for i, a in enumerate(instance.node_ids):
            limits[a] = (None, int(instance.capacity[i]))
    if routing is not None:
        split, kms, zones = _split(plan, routing)
        mean_km = math.fsum(kms) / len(kms) if kms else None
        kinds = {n.id: n.kind for n in routing.nodes}
        store_ship = sum(1 for s in plan.shipments if kinds.get(s.node) == "store")
        store_units = sum(s.units for s in plan.shipments if kinds.get(s.node) == "store")
        limits = {n.id: (n.max_packages, n.max_units) for n in routing.nodes}
        binding = _binding(plan, routing, per_order, node_pk, node_units, pool)
    if isinstance(instance, GapInstance):  # a GAP agent spends resource, not units
        node_units = Counter()
        jobs = {j: k for k, j in enumerate(instance.order_ids)}
        agents = {a: k for k, a in enumerate(instance.node_ids)}
        for s in plan.shipments:
            if s.order in jobs and s.node in agents:
                node_units[s.node] += int(instance.resource[agents[s.node], jobs[s.order]])
    names = set(node_pk) | {n for n, (p, u) in limits.items() if p is not None or u is not None}
    nodes = [NodeUse(n, kinds.get(n), node_pk.get(n, 0), limits.get(n, (None, None))[0],
                     node_units.get(n, 0), limits.get(n, (None, None))[1]) for n in names]
    nodes.sort(key=lambda u: (-(u.utilisation if u.utilisation is not None else -1.0),
                              -u.units, u.node))
    top_prices: list[TopPrice] = []
    if prices is not None and prices.solved:
        top_prices = [TopPrice("stock", f"{n} {s}", v) for (n, s), v in prices.stock.items()]
        top_prices += [TopPrice("node-units", n, v) for n, v in prices.node_units.items()]
        top_prices += [TopPrice("node-packages", n, v) for n, v in prices.node_packages.items()]
        top_prices += [TopPrice("order-packages", o, v) for o, v in prices.order_packages.items()]
        top_prices.sort(key=lambda t: (-t.price, t.limit, t.key))
    seconds = plan.stats.get("seconds")
    return PlanSummary(
        plan.instance, plan.solver, plan.status, plan.objective, plan.lower_bound, plan.gap,
        float(seconds) if isinstance(seconds, (int, float)) else None, plan.cost, split,
        len(order_ids), tuple(sorted(hist.items())), len(plan.shipments), units, unfilled_units,
        len(plan.unfilled), len(unfilled_orders), store_ship, store_units, mean_km,
        tuple(sorted(zones.items())), tuple(nodes), binding, prices, tuple(top_prices[:top]))


def _split(plan: Plan, inst: Instance) -> tuple[CostSplit, list[float], Counter[int]]:
    t = Tariff(inst)
    zp: list[float] = []
    hp: list[float] = []
    w: list[float] = []
    hu: list[float] = []
    kms: list[float] = []
    zones: Counter[int] = Counter()
    for s in plan.shipments:
        n, o = t.nodes.get(s.node), t.orders.get(s.order)
        if n is None or o is None or any(ln.sku not in t.skus for ln in s.lines):
            continue
        sc = t.shipment(n, o, ((ln.sku, ln.qty) for ln in s.lines))
        if sc is None:
            continue
        zp.append(sc.per_package)
        hp.append(sc.handling_per_package)
        w.extend(ln.weight for ln in sc.lines)
        hu.extend(ln.handling for ln in sc.lines)
        kms.append(sc.km)
        zones[sc.zone] += 1
    pen = {o.id: inst.order_penalty(o) for o in inst.orders}
    unf = math.fsum(u.qty * pen.get(u.order, 0.0) for u in plan.unfilled)
    return (CostSplit(math.fsum(zp), math.fsum(hp), math.fsum(w), math.fsum(hu), unf), kms,
            zones)


def _binding(plan: Plan, inst: Instance, per_order: Counter[str], node_pk: Counter[str],
             node_units: Counter[str], pool: Counter[tuple[str, str]]) -> Binding:
    nodes = {n.id: n for n in inst.nodes}
    full_pk = sorted(n.id for n in inst.nodes
                     if n.max_packages is not None and node_pk.get(n.id, 0) >= n.max_packages
                     and node_pk.get(n.id, 0) > 0)
    full_units = sorted(n.id for n in inst.nodes
                        if n.max_units is not None and node_units.get(n.id, 0) >= n.max_units
                        and node_units.get(n.id, 0) > 0)
    empty = sorted(k for k, used in pool.items()
                   if k[0] in nodes and used >= nodes[k[0]].available(k[1]))
    at_limit = []
    single = 0
    by_id = {o.id: o for o in inst.orders}
    for oid, k in per_order.items():
        o = by_id.get(oid)
        limit = None if o is None else inst.order_max_packages(o)
        if limit is not None and k >= limit:
            at_limit.append(oid)
            single += limit == 1
    return Binding(tuple(full_pk), tuple(full_units), tuple(empty), tuple(sorted(at_limit)),
                   single)


# ----------------------------------------------------------------------------------------------
# text


def _pct(a: float, b: float) -> str:
    return f"{100 * a / b:.1f}%" if b else "-"


def _ids(ids: Any, k: int = 5) -> str:
    ids = [" ".join(i) if isinstance(i, tuple) else i for i in ids]
    more = f" and {len(ids) - k:,} more" if len(ids) > k else ""
    return ", ".join(ids[:k]) + more


def format_summary(s: PlanSummary, top: int = 10) -> str:
    """The summary for people (``top`` nodes by utilisation)."""
    head = f"plan of {s.instance} by {s.solver}: {s.status}"
    if s.objective is not None:
        head += f", cost {s.objective:,.2f}"
    if s.lower_bound is not None:
        head += f", bound {s.lower_bound:,.2f}"
        head += "" if s.gap is None else f" (gap {100 * s.gap:.2f}%)"
    if s.seconds is not None:
        head += f", {s.seconds:.2f} s"
    out = [head]
    if s.split is not None:
        c = s.split
        out.append(f"cost: zones per package {c.zone_package:,.2f} + handling per package "
                   f"{c.handling_package:,.2f} + weight {c.weight:,.2f} + handling per unit "
                   f"{c.handling_unit:,.2f} + unfilled {c.unfilled:,.2f} = {c.total:,.2f}")
    elif s.cost is not None:
        out.append(f"cost: packages {s.cost.package:,.2f} + units {s.cost.unit:,.2f} + "
                   f"unfilled {s.cost.unfilled:,.2f} = {s.cost.total:,.2f}")
    hist = ", ".join(f"{p}: {k:,}" for p, k in s.packages_per_order)
    out.append(f"orders: {s.orders:,}; packages per order {hist} (mean {s.mean_packages:.2f} "
               f"of those shipped); split rate {100 * s.split_rate:.1f}%")
    unf = (f"{s.unfilled_units:,} unfilled in {s.unfilled_lines:,} lines of "
           f"{s.unfilled_orders:,} orders" if s.unfilled_units else "nothing unfilled")
    out.append(f"units: {s.units:,} shipped in {s.shipments:,} packages, {unf}")
    if s.store_shipments is not None and s.store_units is not None:
        line = (f"stores: {_pct(s.store_shipments, s.shipments)} of packages, "
                f"{_pct(s.store_units, s.units)} of units")
        if s.mean_km is not None:
            zones = ", ".join(f"{z}: {_pct(k, s.shipments)}" for z, k in s.zones)
            line += f"; distance {s.mean_km:,.0f} km a package on average; zones {zones}"
        out.append(line)
    limited = [n for n in s.nodes if n.utilisation is not None]
    if limited:
        out.append(f"nodes by utilisation (busiest {min(top, len(limited))} of "
                   f"{len(limited):,} with a capacity):")
        for n in limited[:top]:
            out.append(f"  {n.node:<24} {n.kind or '':<9} packages "
                       f"{_use(n.packages, n.max_packages):<22} units {_use(n.units, n.max_units)}")
    used = [n for n in s.nodes if n.utilisation is None and n.packages]
    if used:
        out.append(f"nodes without a capacity: {len(used):,}, the busiest "
                   f"{_ids([f'{n.node} ({n.units:,} units)' for n in used], 3)}")
    b = s.binding
    if b is not None:
        out.append("at their limit in this plan:")
        out.append(f"  package capacity: {len(b.node_packages):,} nodes"
                   + (f" ({_ids(b.node_packages)})" if b.node_packages else ""))
        out.append(f"  unit capacity: {len(b.node_units):,} nodes"
                   + (f" ({_ids(b.node_units)})" if b.node_units else ""))
        out.append(f"  stock used up: {len(b.stock):,} (node, SKU) pools"
                   + (f" ({_ids(b.stock)})" if b.stock else ""))
        out.append(f"  order package limit: {len(b.order_packages):,} orders "
                   f"({b.ship_complete:,} of them shipped complete, limited to one package)")
    if s.prices is not None:
        if s.prices.solved:
            out.append(f"prices ({s.prices.method_name}, {s.prices.message}), the highest:")
            out.extend(f"  {t.limit:<15} {t.key:<32} {t.price:,.2f}" for t in s.top_prices)
            if not s.top_prices:
                out.append("  none: no limit binds in the relaxation")
        else:
            out.append(f"prices: none ({s.prices.message})")
    return "\n".join(out)


def _use(used: int, limit: int | None) -> str:
    if limit is None:
        return f"{used:,}"
    return f"{used:,}/{limit:,} ({_pct(used, limit) if limit else 'closed'})"


def node_flows(plan: Plan) -> dict[str, int]:
    """Units shipped per node."""
    out: dict[str, int] = defaultdict(int)
    for s in plan.shipments:
        out[s.node] += s.units
    return dict(out)
