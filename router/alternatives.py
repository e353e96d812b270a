"""What-if routing of one order: the alternatives it had, what each would have cost it and why
each was not taken (:class:`WhyNot`).

An *alternative* is one node ``n`` and one change to one order; the rest of the plan stays as
it is. For the order as a whole, ``n`` ships every line of the order it stocks (the line's
quantity, at most ``n``'s inventory; SKUs a store may not ship stay where they were, unless the
store stocks nothing else of the order). For an unfilled line, ``n`` ships the unfilled units
(at most its inventory). The units ``n`` takes over come first from those left unfilled, then
from the order's other shipments, dearest per unit first; shipments left empty are dropped.
The alternative is then checked against every constraint of SPEC section 3 and priced with
:mod:`router.costing`. Forcing it into the plan and running :func:`router.verify` gives the
same verdict: the verifier reports exactly the codes :attr:`WhyNot.verifier_code` names.

Candidates are found with numpy over every (order, node holding one of its SKUs) pair at once:
distance, zone, the static bars (zone, service radius, express, store eligibility) and a lower
bound on what the alternative costs the order (the package from ``n`` alone), so that nodes
that cannot matter are counted, not evaluated one by one. Every verdict given is decided again
with the verifier's scalar distance.
"""

from __future__ import annotations

import enum
import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from router.costing import ShipmentCost, Tariff
from router.duals import DualPrices
from router.geo import haversine_km
from router.instance import Instance
from router.plan import Plan, PlanLine, Shipment, Unfilled
from router.records import Node, NodeKind, Order

COST_TOL = 1e-6
"""Costs closer than this are equal: an alternative is cheaper when it saves more."""

class WhyNot(enum.StrEnum):
    """Why an alternative was not taken, or why a line stayed unfilled.

    The first nine are limits the alternative would break (``blocking``); the codes shared
    with the verifier are spelled as the verifier spells them. The last three compare the cost
    of an alternative that breaks nothing.
    """

    OUT_OF_ZONE = "out-of-zone"  # the node is beyond every shipping zone of the order
    SERVICE_RADIUS = "service-radius"  # beyond the node's service_radius_km
    EXPRESS = "express"  # an express order, the node beyond express_max_km
    STORE_INELIGIBLE = "store-ineligible"  # the SKU may not ship from a store
    SAFETY_STOCK = "safety-stock"  # the units are held back for walk-in shoppers
    STOCK_TAKEN = "stock-taken"  # other orders took the node's stock of the SKU
    NODE_UNITS = "node-units"  # the node's unit capacity for the batch is used up
    NODE_PACKAGES = "node-packages"  # the node's package capacity for the batch is used up
    ORDER_PACKAGES = "order-packages"  # one package more than the order's limit
    NO_STOCK_IN_REACH = "no-stock-in-reach"  # unfilled: no node that can serve the order has it
    CHEAPER = "cheaper"  # feasible and cheaper: the plan could be improved here
    EQUAL_COST = "equal-cost"  # feasible, same cost as the plan
    DEARER = "dearer"  # feasible but costs the order more (unfilled: more than the penalty)

    @property
    def blocking(self) -> bool:
        return self not in (WhyNot.CHEAPER, WhyNot.EQUAL_COST, WhyNot.DEARER)

    @property
    def verifier_code(self) -> str | None:
        """The code :func:`router.verify` reports for a plan that forces this alternative."""
        if self in (WhyNot.SAFETY_STOCK, WhyNot.STOCK_TAKEN):
            return "stock"
        if self in (WhyNot.NO_STOCK_IN_REACH, WhyNot.CHEAPER, WhyNot.EQUAL_COST, WhyNot.DEARER):
            return None
        return str(self)

    @property
    def text(self) -> str:
        return REASON_TEXT[self]


REASON_TEXT: Mapping[WhyNot, str] = {
    WhyNot.OUT_OF_ZONE: "beyond every shipping zone",
    WhyNot.SERVICE_RADIUS: "beyond the node's service radius",
    WhyNot.EXPRESS: "express order, node beyond the express radius",
    WhyNot.STORE_INELIGIBLE: "SKU may not ship from a store",
    WhyNot.SAFETY_STOCK: "stock held back for walk-in shoppers",
    WhyNot.STOCK_TAKEN: "stock taken by other orders",
    WhyNot.NODE_UNITS: "node's unit capacity used up",
    WhyNot.NODE_PACKAGES: "node's package capacity used up",
    WhyNot.ORDER_PACKAGES: "one package more than the order allows",
    WhyNot.NO_STOCK_IN_REACH: "no stock within reach",
    WhyNot.CHEAPER: "feasible and cheaper: the plan could improve here",
    WhyNot.EQUAL_COST: "feasible at the same cost",
    WhyNot.DEARER: "feasible but dearer",
}

STATIC = (WhyNot.OUT_OF_ZONE, WhyNot.SERVICE_RADIUS, WhyNot.EXPRESS, WhyNot.STORE_INELIGIBLE)


@dataclass(frozen=True, slots=True)
class Taker:
    """Another order that ships units of the same SKU from the same node."""

    order: str
    qty: int
    paid: float  # the cost of its whole shipment from that node
    penalty: float  # what each of its units would cost that order left unfilled


@dataclass(frozen=True, slots=True)
class StockCheck:
    """The node's stock of one SKU against what an alternative asks of it."""

    sku: str
    need: int  # units the alternative ships from the node for this order
    inventory: int
    safety_stock: int
    available: int  # inventory less safety stock
    used_by_others: int
    takers: tuple[Taker, ...]
    price: float | None = None  # LP price of one more available unit

    @property
    def short(self) -> bool:
        return self.used_by_others + self.need > self.available


@dataclass(frozen=True, slots=True)
class LimitCheck:
    """A capacity an alternative would exceed: ``used`` (with the alternative) > ``limit``."""

    reason: WhyNot  # NODE_UNITS, NODE_PACKAGES or ORDER_PACKAGES
    used: int
    limit: int
    price: float | None = None  # LP price of one more unit of the limit


@dataclass(frozen=True, slots=True)
class Alternative:
    """One other way to route the order (see the module docstring)."""

    node: str
    kind: NodeKind
    km: float
    zone: int | None  # None: beyond every zone
    lines: tuple[PlanLine, ...]  # what the node would ship for the order
    cost: float | None  # the order's cost with the alternative (None beyond every zone)
    delta: float | None  # cost minus the order's cost in the plan
    reasons: tuple[WhyNot, ...]  # blocking reasons, the main one first; else one comparison
    stock: tuple[StockCheck, ...]  # the node's stock of each SKU it would ship more of
    # (``takers`` named only where the stock is short)
    limits: tuple[LimitCheck, ...]  # the capacities it would exceed
    ineligible: tuple[str, ...]  # SKUs the store holds but may not ship (left where they were)
    shipments: tuple[Shipment, ...]  # the order's shipments with the alternative
    unfilled: tuple[Unfilled, ...]  # and its unfilled lines
    service_radius_km: float | None = None  # the node's, where it has one

    @property
    def reason(self) -> WhyNot:
        return self.reasons[0]

    @property
    def blocked(self) -> bool:
        return self.reasons[0].blocking

    @property
    def cheaper(self) -> bool:
        """It would have cost the order less than the plan (whether or not it is blocked)."""
        return self.delta is not None and self.delta < -COST_TOL



BAR_CODES = (None, WhyNot.OUT_OF_ZONE, WhyNot.SERVICE_RADIUS, WhyNot.EXPRESS,
             WhyNot.STORE_INELIGIBLE)
NEAR = 1e-6  # relative distance to a zone edge or radius within which numpy is not trusted


@dataclass(frozen=True, eq=False)
class Candidates:
    """The (order, node) pairs of some orders, the node holding one of the order's SKUs, by
    order (``ptr``): node index, a lower bound on the order's cost with the node's whole-order
    alternative (inf beyond every zone), its first static bar (an index into ``BAR_CODES``)
    and whether the distance is too near a limit for numpy to decide (then the bound and the
    bar may be off by a zone)."""

    ptr: np.ndarray
    node: np.ndarray
    bound: np.ndarray
    bar: np.ndarray
    near: np.ndarray


class Batch:
    """One plan indexed for what-if questions: who ships what from where."""

    def __init__(self, instance: Instance, plan: Plan, dual: DualPrices | None = None) -> None:
        self.inst = instance
        self.t = t = Tariff(instance)
        self.dual = dual if dual is not None and dual.solved else None
        self.ships: dict[str, dict[str, dict[str, int]]] = defaultdict(dict)  # order->node->sku
        self.unfilled: dict[str, dict[str, int]] = defaultdict(dict)
        self.takers: dict[tuple[str, str], list[tuple[str, int]]] = defaultdict(list)
        self.pool_used: Counter[tuple[str, str]] = Counter()
        self.node_packages: Counter[str] = Counter()
        self.node_units: Counter[str] = Counter()
        for s in plan.shipments:
            lines = self.ships[s.order].setdefault(s.node, {})
            for ln in s.lines:
                lines[ln.sku] = lines.get(ln.sku, 0) + ln.qty
                self.takers[(s.node, ln.sku)].append((s.order, ln.qty))
                self.pool_used[(s.node, ln.sku)] += ln.qty
                self.node_units[s.node] += ln.qty
            self.node_packages[s.node] += 1
        for u in plan.unfilled:
            self.unfilled[u.order][u.sku] = self.unfilled[u.order].get(u.sku, 0) + u.qty
        self._cost: dict[tuple[str, str], ShipmentCost | None] = {}

        # arrays for the candidate search
        nodes = instance.nodes
        self.node_list = nodes
        self.sku_index = {s.id: k for k, s in enumerate(instance.skus)}
        self.s_weight = np.array([s.weight_kg for s in instance.skus], dtype=np.float64)
        self.s_elig = np.array([s.store_eligible for s in instance.skus], dtype=bool)
        self.n_lat = np.array([n.lat for n in nodes], dtype=np.float64)
        self.n_lon = np.array([n.lon for n in nodes], dtype=np.float64)
        self.n_store = np.array([n.kind == "store" for n in nodes], dtype=bool)
        self.n_hpp = np.array([n.handling_per_package for n in nodes], dtype=np.float64)
        self.n_hpu = np.array([n.handling_per_unit for n in nodes], dtype=np.float64)
        self.n_radius = np.array([math.inf if n.service_radius_km is None else
                                  n.service_radius_km for n in nodes], dtype=np.float64)
        self.z_lim = np.array([z.max_km for z in t.zones], dtype=np.float64)
        self.z_pp = np.array([z.per_package for z in t.zones], dtype=np.float64)
        self.z_kg = np.array([z.per_kg for z in t.zones], dtype=np.float64)
        ex = instance.shipping.express_max_km
        self.express = math.inf if ex is None else float(ex)
        h_sku, h_node, h_inv = [], [], []
        self.holders: dict[str, list[Node]] = defaultdict(list)
        for i, n in enumerate(nodes):
            for sku, q in n.inventory.items():
                if q > 0:
                    h_sku.append(self.sku_index[sku])
                    h_node.append(i)
                    h_inv.append(q)
                    self.holders[sku].append(n)
        hs = np.array(h_sku, dtype=np.int64)
        by_sku = np.argsort(hs, kind="stable")
        self.h_node = np.array(h_node, dtype=np.int64)[by_sku]
        self.h_inv = np.array(h_inv, dtype=np.int64)[by_sku]
        self.h_ptr = np.zeros(len(self.sku_index) + 1, dtype=np.int64)
        np.cumsum(np.bincount(hs, minlength=len(self.sku_index)), out=self.h_ptr[1:])

    # costs in the plan -----------------------------------------------------------------------

    def shipment_cost(self, order: Order, node_id: str) -> ShipmentCost | None:
        """The cost of the order's shipment from the node in the plan."""
        key = (order.id, node_id)
        if key not in self._cost:
            lines = self.ships[order.id].get(node_id, {})
            self._cost[key] = self.t.shipment(self.t.nodes[node_id], order, lines.items())
        return self._cost[key]

    def order_cost(self, o: Order, alloc: Mapping[str, Mapping[str, int]] | None = None,
                   unfilled: Mapping[str, int] | None = None) -> float | None:
        """The order's cost with shipments ``alloc`` (node -> SKU -> units) and ``unfilled``
        units per SKU (default: as in the plan); ``None`` if a shipment is beyond every zone."""
        planned = self.ships[o.id]
        alloc = planned if alloc is None else alloc
        unfilled = self.unfilled[o.id] if unfilled is None else unfilled
        parts = []
        for nid, lines in alloc.items():
            sc = (self.shipment_cost(o, nid) if planned.get(nid) == lines
                  else self.t.shipment(self.t.nodes[nid], o, lines.items()))
            if sc is None:
                return None
            parts.append(sc.total)
        pen = self.inst.order_penalty(o)
        parts.extend(q * pen for q in unfilled.values())
        return math.fsum(parts)

    # candidates --------------------------------------------------------------------------

    def candidates(self, orders: Sequence[Order]) -> Candidates:
        """Every (order, node holding one of its SKUs) pair of ``orders``, vectorised."""
        lo, ls, lq = [], [], []
        for k, o in enumerate(orders):
            for ln in o.lines:
                lo.append(k)
                ls.append(self.sku_index[ln.sku])
                lq.append(ln.qty)
        l_order = np.array(lo, dtype=np.int64)
        l_sku = np.array(ls, dtype=np.int64)
        l_qty = np.array(lq, dtype=np.int64)
        counts = self.h_ptr[l_sku + 1] - self.h_ptr[l_sku]
        e_line = np.repeat(np.arange(len(l_sku), dtype=np.int64), counts)
        eh = _ranges(self.h_ptr[l_sku], counts)
        e_node, e_inv, e_sku = self.h_node[eh], self.h_inv[eh], l_sku[e_line]
        n_nodes = max(len(self.node_list), 1)
        e_key = l_order[e_line] * n_nodes + e_node
        by_key = np.argsort(e_key, kind="stable")
        first = np.ones(len(e_key), dtype=bool)
        first[1:] = e_key[by_key][1:] != e_key[by_key][:-1]
        a_key = e_key[by_key][first]
        inv = np.empty(len(e_key), dtype=np.int64)
        inv[by_key] = np.cumsum(first) - 1
        n_arcs = len(a_key)
        a_order, a_node = a_key // n_nodes, a_key % n_nodes
        e_elig = ~self.n_store[e_node] | self.s_elig[e_sku]
        a_elig = np.bincount(inv, weights=e_elig, minlength=n_arcs) > 0
        e_moved = e_elig | ~a_elig[inv]
        o_lat = np.array([o.lat for o in orders], dtype=np.float64)
        o_lon = np.array([o.lon for o in orders], dtype=np.float64)
        o_exp = np.array([o.service == "express" for o in orders], dtype=bool)
        km = haversine_km(self.n_lat[a_node], self.n_lon[a_node], o_lat[a_order],
                          o_lon[a_order])
        zone = np.searchsorted(self.z_lim, km, side="left")
        in_zone = zone < len(self.z_lim)
        zc = np.minimum(zone, len(self.z_lim) - 1)
        rate = self.z_kg[zc[inv]] * self.s_weight[e_sku] + self.n_hpu[e_node]
        units = np.minimum(l_qty[e_line], e_inv)
        bound = self.z_pp[zc] + self.n_hpp[a_node] + np.bincount(
            inv, weights=np.where(e_moved, units * rate, 0.0), minlength=n_arcs)
        bound[~in_zone] = math.inf
        radius = self.n_radius[a_node]
        bar = np.select([~in_zone, km > radius, o_exp[a_order] & (km > self.express),
                         self.n_store[a_node] & ~a_elig], [1, 2, 3, 4], 0)
        near = np.zeros(n_arcs, dtype=bool)
        limits = [*self.z_lim.tolist(), *([self.express] if math.isfinite(self.express) else [])]
        for lim in limits:
            near |= np.abs(km - lim) <= NEAR * (1.0 + lim)
        with np.errstate(invalid="ignore"):
            near |= np.isfinite(radius) & (np.abs(km - radius) <= NEAR * (1.0 + radius))
        ptr = np.zeros(len(orders) + 1, dtype=np.int64)
        np.cumsum(np.bincount(a_order, minlength=len(orders)), out=ptr[1:])
        bound += self._rest_bounds(orders, ptr, a_node, e_line * n_nodes + e_node,
                                   e_moved, units, n_nodes)
        return Candidates(ptr, a_node, bound, bar, near)

    def _rest_bounds(self, orders: Sequence[Order], ptr: np.ndarray, a_node: np.ndarray,
                     e_key: np.ndarray, e_moved: np.ndarray, e_units: np.ndarray,
                     n_nodes: int) -> np.ndarray:
        """Per candidate arc, a lower bound on what the order pays besides the package from
        the arc's node in its whole-order alternative: every other shipment keeps the SKUs
        the node does not take over (its fixed cost and those units), and the unfilled units
        the node cannot fill keep their penalty. ``e_key`` (line * n_nodes + node, sorted)
        and ``e_moved``/``e_units`` describe the (line, holding node) pairs."""
        node_index = {n.id: i for i, n in enumerate(self.node_list)}
        p_line, p_node, p_ship, p_cost, p_units = [], [], [], [], []
        s_fixed: list[float] = []
        u_line, u_qty, u_pen = [], [], []
        base = 0
        for o in orders:
            line_of = {ln.sku: base + j for j, ln in enumerate(o.lines)}
            for d, lines in self.ships[o.id].items():
                sc = self.shipment_cost(o, d)
                assert sc is not None
                nd = self.t.nodes[d]
                for sku, q in lines.items():
                    p_line.append(line_of[sku])
                    p_node.append(node_index[d])
                    p_ship.append(len(s_fixed))
                    p_cost.append(q * self.t.unit_rate(nd, sc.zone, sku))
                    p_units.append(q)
                s_fixed.append(sc.package)
            pen = self.inst.order_penalty(o)
            for sku, q in self.unfilled[o.id].items():
                u_line.append(line_of[sku])
                u_qty.append(q)
                u_pen.append(pen)
            base += len(o.lines)
        n_arcs = len(a_node)
        rest = np.zeros(n_arcs, dtype=np.float64)
        line_order = np.repeat(np.arange(len(orders), dtype=np.int64),
                               [len(o.lines) for o in orders])

        def moved_units(line: np.ndarray, node: np.ndarray) -> np.ndarray:
            """Units the node takes over of the line in its whole-order alternative."""
            key = line * n_nodes + node
            i = np.minimum(np.searchsorted(e_key, key), max(len(e_key) - 1, 0))
            hit = (e_key[i] == key) & e_moved[i] if len(e_key) else np.zeros(len(key), bool)
            return np.where(hit, e_units[i] if len(e_key) else 0, 0)

        if p_line:
            pl = np.array(p_line, dtype=np.int64)
            pn = np.array(p_node, dtype=np.int64)
            ps = np.array(p_ship, dtype=np.int64)
            pc = np.array(p_cost, dtype=np.float64)
            k = line_order[pl]
            cnt = ptr[k + 1] - ptr[k]
            pair_p = np.repeat(np.arange(len(pl), dtype=np.int64), cnt)
            pair_a = _ranges(ptr[k], cnt)
            other = a_node[pair_a] != pn[pair_p]
            kept = other & (moved_units(pl[pair_p], a_node[pair_a]) == 0)
            rest += np.bincount(pair_a[kept], weights=pc[pair_p[kept]], minlength=n_arcs)
            sa = np.sort(ps[pair_p[kept]] * max(n_arcs, 1) + pair_a[kept])
            sa = sa[np.concatenate(([True], sa[1:] != sa[:-1]))] if len(sa) else sa
            rest += np.bincount(sa % max(n_arcs, 1),
                                weights=np.array(s_fixed)[sa // max(n_arcs, 1)],
                                minlength=n_arcs)
            p_key = pl * n_nodes + pn
            p_sort = np.argsort(p_key)
            p_key_sorted, p_units_sorted = p_key[p_sort], np.array(p_units)[p_sort]
        if u_line:
            ul = np.array(u_line, dtype=np.int64)
            k = line_order[ul]
            cnt = ptr[k + 1] - ptr[k]
            pair_u = np.repeat(np.arange(len(ul), dtype=np.int64), cnt)
            pair_a = _ranges(ptr[k], cnt)
            line, node = ul[pair_u], a_node[pair_a]
            cur = np.zeros(len(line), dtype=np.int64)
            if p_line:
                key = line * n_nodes + node
                i = np.minimum(np.searchsorted(p_key_sorted, key), len(p_key_sorted) - 1)
                cur = np.where(p_key_sorted[i] == key, p_units_sorted[i], 0)
            filled = np.maximum(0, moved_units(line, node) - cur)
            left = np.maximum(0, np.array(u_qty)[pair_u] - filled)
            rest += np.bincount(pair_a, weights=left * np.array(u_pen)[pair_u],
                                minlength=n_arcs)
        return rest

    def target(self, o: Order, n: Node) -> tuple[dict[str, int], tuple[str, ...]]:
        """What ``n`` ships of ``o`` in its whole-order alternative (units per SKU), and the
        SKUs it stocks but, being a store, may not ship (left where they were)."""
        lines = [ln for ln in o.lines if n.inventory.get(ln.sku, 0) > 0]
        ok = lines if n.kind == "warehouse" else [
            ln for ln in lines if self.t.skus[ln.sku].store_eligible]
        moved = ok or lines
        ineligible = tuple(ln.sku for ln in lines if ln not in moved)
        return {ln.sku: min(ln.qty, n.inventory[ln.sku]) for ln in moved}, ineligible

    def whole_order(self, o: Order, n: Node, plan_cost: float) -> Alternative | None:
        """``n`` ships every line of ``o`` it stocks (see the module docstring)."""
        target, ineligible = self.target(o, n)
        return self.alternative(o, n, target, ineligible, plan_cost)

    def fill(self, o: Order, n: Node, sku: str, qty: int, plan_cost: float
             ) -> Alternative | None:
        """``n`` ships the ``qty`` unfilled units of the line (at most its inventory)."""
        cur = self.ships[o.id].get(n.id, {}).get(sku, 0)
        add = min(qty, n.inventory.get(sku, 0) - cur)
        if add <= 0:
            return None
        return self.alternative(o, n, {sku: cur + add}, (), plan_cost)

    def alternative(self, o: Order, n: Node, target: Mapping[str, int],
                    ineligible: tuple[str, ...], plan_cost: float) -> Alternative | None:
        """The order with ``n`` shipping ``target`` units per SKU (see the module docstring);
        ``None`` when that is what the plan does already."""
        t = self.t
        before = self.ships[o.id]
        alloc = {nid: dict(lines) for nid, lines in before.items()}
        unf = dict(self.unfilled[o.id])
        here = alloc.setdefault(n.id, {})
        cur = dict(here)
        changed = False
        for sku, need in target.items():
            inc = need - here.get(sku, 0)
            if inc <= 0:
                continue
            changed = True
            here[sku] = need
            take = min(inc, unf.get(sku, 0))
            if take:
                unf[sku] -= take
                if not unf[sku]:
                    del unf[sku]
                inc -= take
            if inc:
                donors = [d for d in alloc if d != n.id and alloc[d].get(sku, 0) > 0]
                donors.sort(key=lambda d: d)
                rates = {d: self.rate(o, d, sku) for d in donors}
                donors.sort(key=lambda d: -rates[d])  # dearest first, then by id (stable)
                for d in donors:
                    give = min(inc, alloc[d][sku])
                    alloc[d][sku] -= give
                    if not alloc[d][sku]:
                        del alloc[d][sku]
                    inc -= give
                    if not inc:
                        break
        if not changed:
            return None
        alloc = {nid: lines for nid, lines in alloc.items() if lines}

        km = t.km(n, o)
        zone = t.zone(km)
        reasons: list[WhyNot] = []
        if zone is None:
            reasons.append(WhyNot.OUT_OF_ZONE)
        if n.service_radius_km is not None and km > n.service_radius_km:
            reasons.append(WhyNot.SERVICE_RADIUS)
        express = self.inst.shipping.express_max_km
        if o.service == "express" and express is not None and km > express:
            reasons.append(WhyNot.EXPRESS)
        if n.kind == "store" and any(not t.skus[s].store_eligible for s in target
                                     if target[s] > cur.get(s, 0)):
            reasons.append(WhyNot.STORE_INELIGIBLE)
        stock = []
        for sku, need in target.items():
            if need <= cur.get(sku, 0):
                continue
            inv = n.inventory.get(sku, 0)
            avail = n.available(sku)
            others = self.pool_used[(n.id, sku)] - cur.get(sku, 0)
            short = others + need > avail
            takers = () if not short else tuple(
                Taker(oid, q, self._paid(oid, n.id), self._penalty(oid))
                for oid, q in self.takers[(n.id, sku)] if oid != o.id)
            price = None if self.dual is None else self.dual.stock.get((n.id, sku))
            stock.append(StockCheck(sku, need, inv, inv - avail, avail, others, takers, price))
        stock_reasons = _stock_reasons([c for c in stock if c.short])
        reasons.extend(stock_reasons)
        limits = []
        units_after = (self.node_units[n.id] - sum(cur.values())
                       + sum(alloc.get(n.id, {}).values()))
        if n.max_units is not None and units_after > n.max_units:
            limits.append(LimitCheck(WhyNot.NODE_UNITS, units_after, n.max_units,
                                     self._dual("node_units", n.id)))
        packages_after = self.node_packages[n.id] + (0 if n.id in before else 1)
        if n.max_packages is not None and packages_after > n.max_packages:
            limits.append(LimitCheck(WhyNot.NODE_PACKAGES, packages_after, n.max_packages,
                                     self._dual("node_packages", n.id)))
        limit = self.inst.order_max_packages(o)
        if limit is not None and len(alloc) > limit:
            limits.append(LimitCheck(WhyNot.ORDER_PACKAGES, len(alloc), limit,
                                     self._dual("order_packages", o.id)))
        reasons.extend(c.reason for c in limits)

        cost = None if zone is None else self.order_cost(o, alloc, unf)
        delta = None if cost is None else cost - plan_cost
        if not reasons:
            assert delta is not None
            reasons.append(WhyNot.CHEAPER if delta < -COST_TOL else
                           WhyNot.EQUAL_COST if delta <= COST_TOL else WhyNot.DEARER)
        order_lines = [ln.sku for ln in o.lines]
        ships = tuple(Shipment(o.id, nid, tuple(PlanLine(s, lines[s]) for s in order_lines
                                                 if lines.get(s)))
                      for nid, lines in alloc.items())
        mine = alloc.get(n.id, {})
        return Alternative(
            n.id, n.kind, km, zone, tuple(PlanLine(s, mine[s]) for s in order_lines if mine.get(s)),
            cost, delta, tuple(reasons), tuple(stock), tuple(limits), ineligible, ships,
            tuple(Unfilled(o.id, s, q) for s, q in unf.items() if q), n.service_radius_km)

    # helpers -----------------------------------------------------------------------------

    def rate(self, o: Order, node_id: str, sku: str) -> float:
        sc = self.shipment_cost(o, node_id)
        return 0.0 if sc is None else self.t.unit_rate(self.t.nodes[node_id], sc.zone, sku)

    def _paid(self, order_id: str, node_id: str) -> float:
        sc = self.shipment_cost(self.t.orders[order_id], node_id)
        return math.nan if sc is None else sc.total

    def _penalty(self, order_id: str) -> float:
        return self.inst.order_penalty(self.t.orders[order_id])

    def _dual(self, kind: str, key: str) -> float | None:
        if self.dual is None:
            return None
        prices: Mapping[str, float] = getattr(self.dual, kind)
        return prices.get(key)


def _stock_reasons(short: list[StockCheck]) -> list[WhyNot]:
    """``safety-stock`` where a short pool holds units back, ``stock-taken`` where other
    orders use it; the safety stock first when it alone explains every short pool (without
    it the alternative's stock would fit), else the other orders' use first."""
    held = any(c.safety_stock > 0 for c in short)
    taken = any(c.used_by_others > 0 for c in short)
    safety_alone = held and all(c.used_by_others + c.need <= c.inventory for c in short)
    out = [WhyNot.STOCK_TAKEN] if taken else []
    if held:
        out.insert(0 if safety_alone else len(out), WhyNot.SAFETY_STOCK)
    return out


def by_cost(a: Alternative) -> tuple[bool, float, str]:
    """Cheapest first, beyond every zone last."""
    return (a.cost is None, math.inf if a.cost is None else a.cost, a.node)


def unfilled_reason(alts: Sequence[Alternative]) -> WhyNot:
    """Why a line stayed unfilled, from the alternatives of the nodes that hold its SKU
    (cheapest first). One breaks nothing: leaving the units unfilled is cheaper (``dearer``),
    or, in a plan that is not optimal, ``cheaper``. Else the main reason of the cheapest one
    that only stock, capacity or the package limit bars; else ``express`` where the express
    radius is the only static bar of a node; else ``no-stock-in-reach``."""
    free = [a for a in alts if not a.blocked]
    if free:
        return WhyNot.CHEAPER if any(a.reason is WhyNot.CHEAPER for a in free) else WhyNot.DEARER
    reachable = [a for a in alts if not any(r in STATIC for r in a.reasons)]
    if reachable:
        return reachable[0].reason
    if any({r for r in a.reasons if r in STATIC} == {WhyNot.EXPRESS} for a in alts):
        return WhyNot.EXPRESS
    return WhyNot.NO_STOCK_IN_REACH


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(starts[i], starts[i] + counts[i])``."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(starts, counts) + (np.arange(total, dtype=np.int64) - offsets)
