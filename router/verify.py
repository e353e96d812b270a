"""The independent verifier: checks a plan against its instance, from the instance alone.

Nothing here uses the compiled arrays a solver saw, nor the columns compilation reads:
distances, zones, eligibility, stock, capacities and cost are recomputed from the value objects
(nodes, orders, lines, SKUs, zones) and the plan's shipments, over numpy arrays built here from
those records, so a bug in compilation or in a solver cannot hide itself. A plan that carries its
shipments as columns (:attr:`router.plan.Plan.table`) is read from them: their ids are mapped to
the records by id, as the ids of :class:`~router.plan.Shipment` objects are. Every rule is checked
over whole arrays; a message is written only for an entry that breaks one. A distance within a
hair of a zone edge or a radius is recomputed with the scalar formula
(:func:`router.geo.haversine_km_scalar`), whose verdict on an edge is final, as in compilation;
the cost is the exact sum of the per-shipment and per-line figures, rounded once (as
:func:`math.fsum` gives it; :func:`_total`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import chain, repeat
from operator import attrgetter, eq
from types import MappingProxyType
from typing import Any

import numpy as np

from router.errors import VerificationError, brief
from router.geo import haversine_km, haversine_km_scalar
from router.instance import GAP_SKU, GapInstance, Instance
from router.limits import MAX_INT
from router.plan import CostBreakdown, Plan, PlanLine

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


# ---------------------------------------------------------------- arrays of the records

_EXACT = 2**53
"""Sums of integers below this are exact in float64 (``np.bincount``'s accumulator)."""
_EDGE_TOL = 1e-9
"""Relative width of the band around a zone edge, the express radius or a service radius
within which a distance is recomputed with the scalar formula (numpy's trigonometry may
differ from :mod:`math` in the last bits; on an edge they decide)."""


def _index(ids: dict[Any, int], keys: Any, n: int) -> np.ndarray:
    """Position of each key in ``ids`` (-1 where absent), as int64."""
    return np.fromiter(map(ids.get, keys, repeat(-1)), dtype=np.int64, count=n)


def _quantities(qs: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    """The quantities as int64 (0 where not a valid quantity) and the mask of the valid ones
    (:func:`_quantity_ok`, vectorised where every one is a plain ``int``)."""
    n = len(qs)
    if set(map(type, qs)) <= {int}:
        try:
            q = np.array(qs, dtype=np.int64) if n else np.zeros(0, dtype=np.int64)
        except OverflowError:  # an integer beyond int64: checked one by one below
            pass
        else:
            ok = (q >= 1) & (q <= MAX_INT)
            return np.where(ok, q, 0), ok
    ok = np.fromiter(map(_quantity_ok, qs), dtype=bool, count=n)
    q = np.fromiter((v if k else 0 for v, k in zip(qs, ok.tolist(), strict=True)),
                    dtype=np.int64, count=n)
    return q, ok


def _sum_by(keys: np.ndarray, q: np.ndarray, n: int) -> np.ndarray:
    """Exact sums of the quantities ``q`` per key in ``0..n-1`` (int64; Python integers in
    an object array where a sum could pass 2**53)."""
    if len(q) == 0:
        return np.zeros(n, dtype=np.int64)
    if int(q.max()) * len(q) < _EXACT:
        return np.bincount(keys, weights=q, minlength=n).astype(np.int64)
    out = [0] * n
    for k, v in zip(keys.tolist(), q.tolist(), strict=True):
        out[k] += v
    return np.array(out, dtype=object)


def _repeats(keys: np.ndarray) -> np.ndarray:
    """Mask of the entries whose key occurs earlier in ``keys``."""
    rep = np.zeros(len(keys), dtype=bool)
    if len(keys) > 1:
        order = np.argsort(keys, kind="stable")
        sk = keys[order]
        rep[order[1:][sk[1:] == sk[:-1]]] = True
    return rep


def _lookup(table: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each key stands in the sorted unique ``table``, and whether it is there."""
    pos = np.searchsorted(table, keys)
    if len(table) == 0:
        return pos, np.zeros(len(keys), dtype=bool)
    pos = np.minimum(pos, len(table) - 1)
    return pos, table[pos] == keys


def _distinct(objs: list[Any]) -> tuple[list[Any], np.ndarray]:
    """The distinct objects of ``objs``, by identity, and for each entry the index of its
    object among them: a record shared by many entries (validation shares equal order lines,
    ``build_plan`` equal plan lines and one-line tuples) is read once."""
    n = len(objs)
    try:  # all alive: their ids are unique
        ids = np.fromiter(map(id, objs), dtype=np.int64, count=n)
    except OverflowError:  # pragma: no cover  (addresses beyond 2**63)
        ids = np.fromiter(map(id, objs), dtype=np.uint64, count=n)
    _, which, first = _groups(ids)  # objects made one after another: sorted runs, a fast sort
    return list(map(objs.__getitem__, first.tolist())), which


def _groups(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct keys (sorted), for each entry the index of its key among them, and where
    each distinct key first occurs (a stable sort: fast on keys that come in sorted runs)."""
    n = len(keys)
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    new = np.empty(n, dtype=bool)
    new[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    which = np.empty(n, dtype=np.int64)
    which[order] = np.cumsum(new) - 1
    return ordered[new], which, order[new]


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``arange(starts[i], starts[i] + counts[i])`` for every i, concatenated."""
    total = int(counts.sum())
    offsets = np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(starts, counts) + (np.arange(total, dtype=np.int64) - offsets)


def _canonical(index: dict[Any, int], ids: list[Any]) -> np.ndarray:
    """For each record, the position of the record its id names (the last one with that id,
    as a dict keeps it): ``arange`` when the ids are unique, as validation ensures."""
    if len(index) == len(ids):
        return np.arange(len(ids), dtype=np.int64)
    return np.fromiter(map(index.__getitem__, ids), dtype=np.int64, count=len(ids))


class _Records:
    """The instance's records as arrays, built here from the records themselves (not from the
    columns compilation reads). Ids map to the last record with that id; ``sku_key`` also
    numbers SKUs that order lines name but the batch does not list (after the listed ones)."""

    def __init__(self, inst: Instance) -> None:
        get = attrgetter
        self.skus, self.nodes, self.orders = inst.skus, inst.nodes, inst.orders
        skus, nodes, orders = self.skus, self.nodes, self.orders
        self.n_skus, self.n_nodes, self.n_orders = len(skus), len(nodes), len(orders)
        self.sku_ids = [s.id for s in skus]
        self.sku_key = {s: k for k, s in enumerate(self.sku_ids)}
        self.sku_weight = np.fromiter(map(get("weight_kg"), skus), np.float64, len(skus))
        self.sku_store_ok = np.fromiter(map(get("store_eligible"), skus), bool, len(skus))

        node_ids = [n.id for n in nodes]
        self.node_index = {v: i for i, v in enumerate(node_ids)}
        self.node_canon = _canonical(self.node_index, node_ids)
        nn = len(nodes)
        self.node_lat = np.fromiter(map(get("lat"), nodes), np.float64, nn)
        self.node_lon = np.fromiter(map(get("lon"), nodes), np.float64, nn)
        self.node_store = np.fromiter(map(eq, map(get("kind"), nodes), repeat("store")), bool,
                                      nn)
        self.node_safety = np.fromiter(map(get("safety_stock"), nodes), np.int64, nn)
        self.node_hpu = np.fromiter(map(get("handling_per_unit"), nodes), np.float64, nn)
        self.node_hpp = np.fromiter(map(get("handling_per_package"), nodes), np.float64, nn)
        self.node_radius = np.fromiter((math.inf if n.service_radius_km is None
                                        else n.service_radius_km for n in nodes),
                                       np.float64, nn)
        self.node_max_packages = np.fromiter((-1 if n.max_packages is None else n.max_packages
                                              for n in nodes), np.int64, nn)
        self.node_max_units = np.fromiter((-1 if n.max_units is None else n.max_units
                                           for n in nodes), np.int64, nn)

        order_ids = [o.id for o in orders]
        self.order_index = {v: j for j, v in enumerate(order_ids)}
        canon = _canonical(self.order_index, order_ids)
        self.order_canon = canon
        no = len(orders)
        self.order_lat = np.fromiter(map(get("lat"), orders), np.float64, no)
        self.order_lon = np.fromiter(map(get("lon"), orders), np.float64, no)
        self.order_express = np.fromiter(map(eq, map(get("service"), orders),
                                             repeat("express")), bool, no)
        line_lists = list(map(get("lines"), orders))
        counts = np.fromiter(map(len, line_lists), np.int64, no)
        self.line_record = np.repeat(np.arange(no, dtype=np.int64), counts)  # order record
        lines, which = _distinct(list(chain.from_iterable(line_lists)))
        line_skus = list(map(get("sku"), lines))
        sku = _index(self.sku_key, line_skus, len(lines))
        if (sku < 0).any():  # a line of a SKU the batch does not list
            for s in (line_skus[i] for i in np.flatnonzero(sku < 0).tolist()):
                self.sku_key.setdefault(s, len(self.sku_key))
            sku = _index(self.sku_key, line_skus, len(lines))
        sku = sku[which]
        self.line_qty = np.fromiter(map(get("qty"), lines), np.int64, len(lines))[which]
        self.span = max(1, len(self.sku_key))
        key = canon[self.line_record] * self.span + sku
        # every (order, SKU) pair a line names; each line's place among them
        self.keys, self.line_key, _ = _groups(key)
        if len(self.order_index) == no:
            self.ship_keys = self.keys
        else:  # an order id given twice: a plan ships the lines of the last record only
            self.ship_keys = np.unique(key[canon[self.line_record] == self.line_record])

    def km(self, n: int, o: int) -> float:
        """The scalar distance of one (node, order) pair, as the records give it."""
        node, order = self.nodes[n], self.orders[o]
        return haversine_km_scalar(node.lat, node.lon, order.lat, order.lon)


def _distances(r: _Records, n: np.ndarray, o: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Distance of each (node, order) pair; within a hair of an edge (``edges``, sorted, or
    the node's service radius) recomputed with the scalar formula, whose verdict is final."""
    d = haversine_km(r.node_lat[n], r.node_lon[n], r.order_lat[o], r.order_lon[o])
    near = np.zeros(len(d), dtype=bool)
    if len(edges):
        lo, hi = edges - _EDGE_TOL * (1.0 + edges), edges + _EDGE_TOL * (1.0 + edges)
        k = np.searchsorted(hi, d)  # the first edge whose band does not end below d
        near = (k < len(edges)) & (d >= lo[np.minimum(k, len(edges) - 1)])
    radius = r.node_radius[n]
    with np.errstate(invalid="ignore"):
        near |= np.isfinite(radius) & (np.abs(d - radius) <= _EDGE_TOL * (1.0 + radius))
    for i in np.flatnonzero(near).tolist():
        d[i] = r.km(int(n[i]), int(o[i]))
    return d


@dataclass(frozen=True)
class _Entries:
    """A plan's shipments and their lines (flattened in plan order) as arrays: each
    shipment's order and node record (-1 where the id names none), each line's shipment,
    SKU key (-1 where unknown) and quantity (0 where not a valid quantity, ``line_ok``
    false); ``ids(k)`` and ``line(e)`` give the entries as the plan states them, for
    messages."""

    n: int
    order: np.ndarray
    node: np.ndarray
    line_ship: np.ndarray
    line_sku: np.ndarray
    line_q: np.ndarray
    line_ok: np.ndarray
    ids: Callable[[int], tuple[str, str]]
    line: Callable[[int], Any]


def _entries(r: _Records, plan: Plan) -> _Entries:
    """:class:`_Entries` of ``plan``: read from its columns where it carries them
    (:attr:`Plan.table`: ids mapped to the records once per distinct id), else from its
    :class:`Shipment` objects."""
    t = plan.table
    if t is not None:
        ns = len(t)
        order_of = _index(r.order_index, t.order_ids, len(t.order_ids))
        node_of = _index(r.node_index, t.node_ids, len(t.node_ids))
        sku_of = _index(r.sku_key, t.sku_ids, len(t.sku_ids))
        q = t.line_qty
        ok = (q >= 1) & (q <= MAX_INT)

        def t_ids(k: int) -> tuple[str, str]:
            return t.order_ids[int(t.order[k])], t.node_ids[int(t.node[k])]

        def t_line(e: int) -> PlanLine:
            return PlanLine(t.sku_ids[int(t.line_sku[e])], int(t.line_qty[e]))

        return _Entries(ns, order_of[t.order], node_of[t.node],
                        np.repeat(np.arange(ns, dtype=np.int64), np.diff(t.line_ptr)),
                        sku_of[t.line_sku], np.where(ok, q, 0), ok, t_ids, t_line)
    get = attrgetter
    ships = plan.shipments
    ns = len(ships)
    s_order = _index(r.order_index, map(get("order"), ships), ns)
    s_node = _index(r.node_index, map(get("node"), ships), ns)
    # each distinct lines tuple and each distinct line object read once
    tuples, s_tuple = _distinct(list(map(get("lines"), ships)))
    t_count = np.fromiter(map(len, tuples), np.int64, len(tuples))
    t_start = np.cumsum(t_count) - t_count
    objs, t_obj = _distinct(list(chain.from_iterable(tuples)))
    s_count = t_count[s_tuple]
    l_ship = np.repeat(np.arange(ns, dtype=np.int64), s_count)
    l_obj = t_obj[_ranges(t_start[s_tuple], s_count)]  # each plan line's object
    o_q, o_ok = _quantities(list(map(get("qty"), objs)))
    l_sku = _index(r.sku_key, map(get("sku"), objs), len(objs))[l_obj]

    def o_ids(k: int) -> tuple[str, str]:
        return ships[k].order, ships[k].node

    def o_line(e: int) -> Any:
        return objs[int(l_obj[e])]

    return _Entries(ns, s_order, s_node, l_ship, l_sku, o_q[l_obj], o_ok[l_obj], o_ids, o_line)


def _verify_routing(inst: Instance, plan: Plan) -> VerifyReport:
    """Every rule checked over arrays of the plan's entries; a message is written only for an
    entry that breaks a rule, and the violations come in the order of a walk through the plan
    (shipment by shipment, line by line), then the unfilled entries, the orders, the stock
    pools (in the order the plan first ships from them) and the nodes."""
    out: list[Violation] = []
    _common(plan, inst.name, out)
    r = _Records(inst)
    zones = inst.shipping.zones
    express_km = inst.shipping.express_max_km
    zone_max = np.array([z.max_km for z in zones], dtype=np.float64)
    zone_pp = np.array([z.per_package for z in zones], dtype=np.float64)
    zone_pk = np.array([z.per_kg for z in zones], dtype=np.float64)
    n_zones = len(zones)
    span = r.span
    get = attrgetter

    # ---- shipments, and their lines flattened in plan order
    ent = _entries(r, plan)
    ns, s_order, s_node, l_ship = ent.n, ent.order, ent.node, ent.line_ship
    l_sku_all, l_q, l_ok = ent.line_sku, ent.line_q, ent.line_ok
    line_of = ent.line

    known = (s_order >= 0) & (s_node >= 0)
    kidx = np.flatnonzero(known)
    dup_ship = kidx[_repeats(s_order[kidx] * r.n_nodes + s_node[kidx])]
    empty = known & (np.bincount(l_ship[l_ok], minlength=ns) == 0)
    active = known & ~empty
    ai = np.flatnonzero(active)
    a_o, a_n = s_order[ai], s_node[ai]
    edges = np.sort(np.append(zone_max, [] if express_km is None else [express_km]))
    d = _distances(r, a_n, a_o, edges)
    a_zone = np.searchsorted(zone_max, d, side="left")  # the first zone with d <= max_km
    a_in = a_zone < n_zones
    s_zone = np.full(ns, n_zones, dtype=np.int64)
    s_zone[ai] = a_zone
    bad_zone = ai[~a_in]
    bad_express = (ai[r.order_express[a_o] & (d > express_km)] if express_km is not None
                   else ai[:0])
    bad_radius = ai[d > r.node_radius[a_n]]

    # lines of active shipments
    li = np.flatnonzero(active[l_ship])
    lo, ln_ = s_order[l_ship[li]], s_node[l_ship[li]]
    l_sku = l_sku_all[li]
    _, on_order = _lookup(r.ship_keys, lo * span + l_sku)
    unknown_line = ~((l_sku >= 0) & (l_sku < r.n_skus) & on_order)
    kn = ~unknown_line
    k_idx = li[kn]
    dup_line = k_idx[_repeats(l_ship[k_idx] * span + l_sku[kn])]
    k_ok = l_ok[k_idx]
    bad_qty = k_idx[~k_ok]
    g = kn.copy()
    g[kn] = k_ok  # known SKU, valid quantity: counted
    g_idx, g_sku, g_node, g_order = li[g], l_sku[g], ln_[g], lo[g]
    g_q = l_q[g_idx]
    g_store = r.node_store[g_node] & ~r.sku_store_ok[g_sku]
    bad_store = g_idx[g_store]

    # ---- the violations of the walk through the shipments, in its order
    found: list[tuple[tuple[int, int, int, int], Violation]] = []

    def at_ship(k: int, sub: int, v: Violation) -> None:
        found.append(((k, 0, sub, 0), v))

    def at_line(e: int, sub: int, v: Violation) -> None:
        found.append(((int(l_ship[e]), 1, e, sub), v))

    for k in np.flatnonzero(s_order < 0).tolist():
        so, sn = ent.ids(k)
        at_ship(k, 0, Violation("unknown-order", "shipment for an order not in the batch",
                                order=so, node=sn))
    for k in np.flatnonzero(s_node < 0).tolist():
        so, sn = ent.ids(k)
        at_ship(k, 1, Violation("unknown-node", "shipment from a node not in the network",
                                order=so, node=sn))

    def ids(k: int) -> tuple[str, str]:
        return r.orders[int(s_order[k])].id, r.nodes[int(s_node[k])].id

    for k in dup_ship.tolist():
        o, n = ids(k)
        at_ship(k, 2, Violation("duplicate-shipment", "two shipments from one node for one "
                                                      "order", order=o, node=n))
    for k in np.flatnonzero(empty).tolist():
        o, n = ids(k)
        at_ship(k, 3, Violation("empty-shipment", "a shipment must carry at least one unit",
                                order=o, node=n))
    for k in bad_zone.tolist():
        o, n = ids(k)
        dk = r.km(int(s_node[k]), int(s_order[k]))
        at_ship(k, 4, Violation("out-of-zone", f"distance {dk:.1f} km is beyond every zone",
                                order=o, node=n))
    for k in bad_express.tolist():
        o, n = ids(k)
        dk = r.km(int(s_node[k]), int(s_order[k]))
        at_ship(k, 5, Violation("express", f"express order served from {dk:.1f} km, beyond "
                                           f"{express_km:g} km", order=o, node=n))
    for k in bad_radius.tolist():
        o, n = ids(k)
        dk = r.km(int(s_node[k]), int(s_order[k]))
        radius = r.nodes[int(s_node[k])].service_radius_km
        at_ship(k, 6, Violation("service-radius", f"{dk:.1f} km is beyond the node's service "
                                                  f"radius {radius:g} km", order=o, node=n))
    for e in li[unknown_line].tolist():
        o, n = ids(int(l_ship[e]))
        at_line(e, 0, Violation("unknown-line", "shipment carries a SKU the order does not "
                                                "ask for", order=o, node=n, sku=line_of(e).sku))
    for e in dup_line.tolist():
        o, n = ids(int(l_ship[e]))
        at_line(e, 1, Violation("duplicate-line", "a SKU appears twice in one shipment",
                                order=o, node=n, sku=line_of(e).sku))
    for e in bad_qty.tolist():
        o, n = ids(int(l_ship[e]))
        at_line(e, 2, Violation("quantity", _bad_quantity("shipped", line_of(e).qty),
                                order=o, node=n, sku=line_of(e).sku))
    for e in bad_store.tolist():
        o, n = ids(int(l_ship[e]))
        at_line(e, 3, Violation("store-ineligible", "SKU may not ship from a store",
                                order=o, node=n, sku=line_of(e).sku))
    found.sort(key=lambda kv: kv[0])
    out.extend(v for _, v in found)

    # ---- what the shipments add up to
    n_keys = len(r.keys)
    g_key, _ = _lookup(r.keys, g_order * span + g_sku)
    shipped = _sum_by(g_key, g_q, n_keys)
    node_units = _sum_by(g_node, g_q, r.n_nodes)
    node_packages = np.bincount(a_n, minlength=r.n_nodes)
    order_packages = np.bincount(a_o, minlength=r.n_orders)
    package_cost = zone_pp[a_zone[a_in]] + r.node_hpp[a_n[a_in]]
    g_zone = s_zone[l_ship[g_idx]]
    gz = g_zone < n_zones
    unit_cost = (g_q[gz].astype(np.float64)
                 * (zone_pk[g_zone[gz]] * r.sku_weight[g_sku[gz]] + r.node_hpu[g_node[gz]]))

    # ---- unfilled entries
    unf = plan.unfilled
    nu = len(unf)
    u_order = _index(r.order_index, map(get("order"), unf), nu)
    u_sku = _index(r.sku_key, map(get("sku"), unf), nu)
    u_qty_list = list(map(get("qty"), unf))
    u_q, u_ok = _quantities(u_qty_list)
    u_known = (u_order >= 0) & (u_sku >= 0)
    u_key, u_on = _lookup(r.ship_keys, np.where(u_known, u_order * span + u_sku, -1))
    u_known &= u_on
    for k in np.flatnonzero(~u_known | ~u_ok).tolist():
        u = unf[k]
        if not u_known[k]:
            out.append(Violation("unknown-line", "unfilled entry for a line not in the batch",
                                 order=u.order, sku=u.sku))
        else:
            out.append(Violation("quantity", _bad_quantity("unfilled", u.qty),
                                 order=u.order, sku=u.sku))
    u_good = u_known & u_ok
    if r.ship_keys is not r.keys:
        u_key, _ = _lookup(r.keys, np.where(u_known, u_order * span + u_sku, -1))
    unfilled = _sum_by(u_key[u_good], u_q[u_good], n_keys)

    # ---- every line of every order, then the order's package limit
    line_shipped, line_unfilled = shipped[r.line_key], unfilled[r.line_key]
    per_order: list[tuple[tuple[int, int, int], Violation]] = []
    wrong = np.flatnonzero(np.asarray(line_shipped + line_unfilled != r.line_qty, dtype=bool))
    for e in wrong.tolist():
        j = int(r.line_record[e])
        rec = r.orders[j]
        line = rec.lines[e - int(np.searchsorted(r.line_record, j))]
        per_order.append(((j, 0, e), Violation(
            "quantity", f"line of {line.qty} has {int(line_shipped[e])} shipped and "
                        f"{int(line_unfilled[e])} unfilled", order=rec.id, sku=line.sku)))
    counts = order_packages[r.order_canon]
    limits = _or_default(r.orders, "max_packages", inst.default_max_packages)
    for j in np.flatnonzero(counts > limits).tolist():
        rec = r.orders[j]
        per_order.append(((j, 1, 0), Violation(
            "order-packages", f"{int(counts[j])} shipments, limit "
                              f"{inst.order_max_packages(rec)}", order=rec.id)))
    per_order.sort(key=lambda kv: kv[0])
    out.extend(v for _, v in per_order)
    short = np.flatnonzero(np.asarray(line_unfilled > 0, dtype=bool))
    short_units = line_unfilled[short]
    short_orders, which_order = np.unique(r.line_record[short], return_inverse=True)
    pen = _or_default([r.orders[j] for j in short_orders.tolist()], "unfilled_penalty",
                      inst.unfilled_penalty)[which_order.reshape(-1)]
    if short_units.dtype == object:
        unfilled_cost = np.array([u * p for u, p in zip(short_units.tolist(), pen.tolist(),
                                                        strict=True)], dtype=np.float64)
    else:
        unfilled_cost = short_units.astype(np.float64) * pen

    # ---- stock pools, in the order the plan first ships from them
    pools, which, first = _groups(g_node * span + g_sku)
    used = _sum_by(which, g_q, len(pools))
    avail = _available(r, pools // span, pools % span)
    over = np.flatnonzero(np.asarray(used > avail, dtype=bool))
    for p in over[np.argsort(first[over], kind="stable")].tolist():
        n_, s_ = divmod(int(pools[p]), span)
        out.append(Violation("stock", f"ships {int(used[p])} units but only {int(avail[p])} "
                                      f"are available (inventory less safety stock)",
                             node=r.nodes[n_].id, sku=r.sku_ids[s_]))

    # ---- node capacities
    pk_n, un_n = node_packages[r.node_canon], node_units[r.node_canon]
    mp, mu = r.node_max_packages, r.node_max_units
    over_pk = (mp >= 0) & (pk_n > mp)
    over_un = (mu >= 0) & np.asarray(un_n > mu, dtype=bool)
    for i in np.flatnonzero(over_pk | over_un).tolist():
        node = r.nodes[i]
        if over_pk[i]:
            out.append(Violation("node-packages", f"{int(pk_n[i])} shipments, capacity "
                                                  f"{node.max_packages}", node=node.id))
        if over_un[i]:
            out.append(Violation("node-units", f"{int(un_n[i])} units, capacity "
                                               f"{node.max_units}", node=node.id))

    pk, un, uf = _total(package_cost), _total(unit_cost), _total(unfilled_cost)
    cost = CostBreakdown(pk, un, uf, math.fsum((pk, un, uf)))
    _check_cost(plan, cost, out)
    _check_bound(plan, cost, out)
    return VerifyReport(tuple(out), cost, plan.objective)


def _total(figures: np.ndarray) -> float:
    """The sum of float64 figures rounded once, exactly as :func:`math.fsum` gives it, with
    numpy. A finite float is ``m * 2**e`` with an integer ``m`` of at most 53 bits; the ``m``
    of each exponent are added as integers (in halves of 26 and 27 bits, whose float64 sums
    stay exact below 2**26 terms), the totals of the exponents as Python integers, and the
    whole converted to float once, correctly rounded."""
    n = len(figures)
    if n == 0:
        return 0.0
    if n >= 2**26 or not np.isfinite(figures).all():
        return math.fsum(figures.tolist())
    mantissa, exponent = np.frexp(figures)  # figures = mantissa * 2**exponent, |m| in [.5, 1)
    m = np.ldexp(mantissa, 53).astype(np.int64)  # exact: an integer below 2**53
    e = exponent.astype(np.int64)
    low = int(e.min())
    e -= low
    bins = int(e.max()) + 1
    high = np.bincount(e, weights=(m >> 26).astype(np.float64), minlength=bins)
    rest = np.bincount(e, weights=(m & (2**26 - 1)).astype(np.float64), minlength=bins)
    total = 0
    for k in np.flatnonzero((high != 0) | (rest != 0)).tolist():
        total += ((int(high[k]) << 26) + int(rest[k])) << k
    if total == 0:
        return 0.0
    shift = low - 53  # total * 2**shift is the exact sum
    return float(total << shift) if shift >= 0 else total / (1 << -shift)


def _or_default(records: Sequence[Any], name: str, default: float | None) -> np.ndarray:
    """The attribute ``name`` of each record as float64, ``default`` where it is ``None``
    (infinity where that is ``None`` too: no limit). The attributes are integers below 2**53
    or finite floats, so the conversion is exact."""
    values = list(map(attrgetter(name), records))
    instead = {None: math.inf if default is None else default}
    return np.fromiter(map(instead.get, values, values), np.float64, len(values))


def _available(r: _Records, node: np.ndarray, sku: np.ndarray) -> np.ndarray:
    """Inventory less safety stock (never negative) of each (node, SKU) pair, looked up in
    the nodes' records for the pairs a plan ships from only."""
    n = len(node)
    inventories = [r.nodes[i].inventory for i in range(r.n_nodes)]
    kinds = set(map(type, inventories))
    skus = map(r.sku_ids.__getitem__, sku.tolist())
    invs = map(inventories.__getitem__, node.tolist())
    if len(kinds) == 1 and kinds <= {MappingProxyType, dict}:  # one C method for all pairs
        get: Any = MappingProxyType.get if kinds == {MappingProxyType} else dict.get
        held = np.fromiter(map(get, invs, skus, repeat(0)), np.int64, n)
    else:
        held = np.fromiter((inv.get(s, 0) for inv, s in zip(invs, skus, strict=True)),
                           np.int64, n)
    return np.maximum(held - r.node_safety[node], 0)


def _verify_gap(gap: GapInstance, plan: Plan) -> VerifyReport:
    out: list[Violation] = []
    _common(plan, gap.name, out)
    job_index = {j: k for k, j in enumerate(gap.order_ids)}
    agent_index = {a: k for k, a in enumerate(gap.node_ids)}
    ships = plan.shipments
    ns = len(ships)
    s_job = _index(job_index, map(attrgetter("order"), ships), ns)
    s_agent = _index(agent_index, map(attrgetter("node"), ships), ns)
    known = (s_job >= 0) & (s_agent >= 0)
    one_unit = np.fromiter((len(ls) == 1 and ls[0].sku == GAP_SKU and ls[0].qty == 1
                            for ls in map(attrgetter("lines"), ships)), bool, ns)
    kidx = np.flatnonzero(known)
    again = np.zeros(ns, dtype=bool)
    again[kidx[_repeats(s_job[kidx])]] = True
    for k in np.flatnonzero(~known | ~one_unit | again).tolist():
        s = ships[k]
        if not known[k]:
            out.append(Violation("unknown-order" if s_job[k] < 0 else "unknown-node",
                                 "assignment names an unknown job or agent",
                                 order=s.order, node=s.node))
            continue
        if not one_unit[k]:
            out.append(Violation("quantity", f"a GAP assignment carries exactly one "
                                             f"{GAP_SKU!r} unit", order=s.order, node=s.node))
        if again[k]:
            out.append(Violation("order-packages", "job assigned more than once",
                                 order=s.order, node=s.node))
    take = known & ~again
    j, i = s_job[take], s_agent[take]
    resource = np.asarray(gap.resource)[i, j].astype(np.int64)
    used = _sum_by(i, resource, gap.n_agents)
    costs = np.asarray(gap.cost)[i, j].astype(np.float64).tolist()
    for u in plan.unfilled:
        out.append(Violation("unfilled", "every GAP job must be assigned", order=u.order))
    assigned = np.zeros(gap.n_jobs, dtype=bool)
    assigned[j] = True
    jids = gap.order_ids
    for k in np.flatnonzero(~assigned).tolist():
        out.append(Violation("quantity", "job is not assigned", order=jids[k]))
    capacity = np.asarray(gap.capacity).astype(np.int64)
    aids = gap.node_ids
    for k in np.flatnonzero(np.asarray(used > capacity, dtype=bool)).tolist():
        out.append(Violation("node-units", f"uses {int(used[k])} of capacity "
                                           f"{int(capacity[k])}", node=aids[k]))
    total = math.fsum(costs)
    cost = CostBreakdown(total, 0.0, 0.0, total)
    _check_cost(plan, cost, out)
    _check_bound(plan, cost, out)
    return VerifyReport(tuple(out), cost, plan.objective)
