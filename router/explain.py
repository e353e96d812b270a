"""Why a plan routes each order as it does.

:func:`explain` answers, for the orders asked about, from the instance and the plan alone:

- per shipment, its cost split (:mod:`router.costing`): distance and zone, the zone's price per
  package, the node's handling per package, per line the zone's rate per kg times the weight
  and the node's handling per unit;
- the alternatives the order had, what each would have cost the order and why each was not
  taken (:mod:`router.alternatives`, reason codes :class:`WhyNot`);
- per unfilled line, why it stayed unfilled, with the nodes that hold the SKU and why each
  did not ship it;
- the prices (:mod:`router.duals`) of the scarce stock and capacity the order used, each set
  with the proven bound it comes from: the LP relaxation's duals where the LP is solved within
  the time limit, else the Lagrangian prices of column generation (named by ``method``).

:func:`digest` counts the same over a whole batch: unfilled lines by reason, and the orders
that an alternative would have served for less, by the reason it was not taken.
"""

from __future__ import annotations

import enum
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, is_dataclass
from typing import Any

import numpy as np

from router.alternatives import (
    BAR_CODES,
    COST_TOL,
    REASON_TEXT,
    Alternative,
    Batch,
    Candidates,
    LimitCheck,
    StockCheck,
    Taker,
    WhyNot,
    by_cost,
    unfilled_reason,
)
from router.costing import ShipmentCost
from router.duals import DEFAULT_TIME_LIMIT, BatchPrices, PriceParams, batch_prices
from router.errors import InputError
from router.instance import GapInstance, Instance
from router.plan import Plan
from router.records import NodeKind, Order
from router.verify import verify

__all__ = ["REASON_TEXT", "Alternative", "Digest", "Explanation", "LimitCheck",
           "OrderExplanation", "Price", "ShipmentExplanation", "StockCheck", "Taker", "Tally",
           "UnfilledExplanation", "WhyNot", "digest", "explain"]


@dataclass(frozen=True, slots=True)
class Price:
    """The price of a limit the order's plan uses (by the batch's price method): ``price``
    per unit, ``qty`` units."""

    limit: str  # "stock", "node-units", "node-packages" or "order-packages" (verifier codes)
    node: str | None
    sku: str | None
    price: float
    qty: int

    @property
    def total(self) -> float:
        return self.price * self.qty


@dataclass(frozen=True, slots=True)
class ShipmentExplanation:
    node: str
    kind: NodeKind
    cost: ShipmentCost


@dataclass(frozen=True, slots=True)
class UnfilledExplanation:
    sku: str
    qty: int
    penalty: float  # per unit
    reason: WhyNot
    alternatives: tuple[Alternative, ...]  # the nodes holding the SKU, cheapest first


@dataclass(frozen=True, slots=True)
class OrderExplanation:
    order: str
    service: str
    max_packages: int | None
    penalty: float  # per unfilled unit
    cost: float  # shipments plus unfilled penalties, as in the plan
    shipments: tuple[ShipmentExplanation, ...]
    unfilled: tuple[UnfilledExplanation, ...]
    alternatives: tuple[Alternative, ...]  # cheapest first (beyond every zone last)
    unlisted: tuple[tuple[WhyNot, int], ...]  # nodes holding its SKUs not listed, by reason
    prices: tuple[Price, ...]  # prices of the scarce limits the order's plan uses

    @property
    def shipping(self) -> float:
        return math.fsum(s.cost.total for s in self.shipments)

    @property
    def opportunity_cost(self) -> float:
        return math.fsum(p.total for p in self.prices)

    @property
    def best(self) -> Alternative | None:
        """The cheapest alternative that would have cost the order less, if any."""
        return next((a for a in self.alternatives if a.cheaper), None)


@dataclass(frozen=True)
class Explanation:
    instance: str
    solver: str
    status: str
    objective: float | None
    orders: tuple[OrderExplanation, ...]
    prices: BatchPrices | None  # None when not asked for
    express_max_km: float | None = None  # the instance's limits, for the reasons
    last_zone_km: float | None = None

    def get(self, order: str) -> OrderExplanation:
        for o in self.orders:
            if o.order == order:
                return o
        raise KeyError(order)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"instance": self.instance, "solver": self.solver,
                               "status": self.status, "objective": plain(self.objective),
                               "express_max_km": self.express_max_km,
                               "last_zone_km": self.last_zone_km}
        if self.prices is not None:
            out["prices"] = prices_dict(self.prices)
        out["orders"] = [plain(o) for o in self.orders]
        return out


def prices_dict(p: BatchPrices) -> dict[str, Any]:
    return {"method": p.method, "method_name": p.method_name, "status": p.status,
            "converged": p.converged, "detail": p.detail, "message": p.message,
            "bound": plain(p.bound), "seconds": round(p.seconds, 3), "tried": list(p.tried)}


_EXTRA = {"ShipmentCost": ("package", "weight", "handling"), "LineCost": ("total",),
          "StockCheck": ("short",), "Alternative": ("blocked", "cheaper"),
          "OrderExplanation": ("shipping", "opportunity_cost"), "Price": ("total",)}


def plain(v: Any) -> Any:
    """Dataclasses, enums, tuples and floats as JSON-ready values (floats to 6 decimals, the
    derived totals added)."""
    if isinstance(v, enum.Enum):
        return v.value
    if is_dataclass(v) and not isinstance(v, type):
        d = {f.name: plain(getattr(v, f.name)) for f in fields(v)}
        for extra in _EXTRA.get(type(v).__name__, ()):
            d[extra] = plain(getattr(v, extra))
        return d
    if isinstance(v, Mapping):
        return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, float):
        return round(v, 6) if math.isfinite(v) else None
    return v


def explain(instance: Instance | GapInstance, plan: Plan, order: str | Iterable[str] | None = None,
            *, all_nodes: bool = False, only_cheaper: bool = False,
            prices: bool | BatchPrices = True,
            price_time_limit: float | None = DEFAULT_TIME_LIMIT,
            price_params: PriceParams | None = None) -> Explanation:
    """Explain how ``plan`` routes ``order`` (an id, several ids, or ``None``: every order).

    The alternatives of an order are the nodes holding one of its SKUs that could serve it,
    and the nodes barred from it (zone, service radius, express radius, store eligibility)
    whose package alone would cost less than the order does in the plan; the other holding
    nodes are counted in ``unlisted`` by their bar (with ``all_nodes``, every holding node is
    listed). With ``only_cheaper``, only alternatives that could cost less than the plan are
    listed, the others counted as ``dearer`` (or ``out-of-zone``), and unfilled lines list
    the nodes within zone and service radius only. ``prices``: compute the prices within
    ``price_time_limit`` seconds (:func:`router.duals.batch_prices`: the LP relaxation, or
    column generation where the LP is too large or not solved in time; ``price_params``
    chooses), pass prices computed before, or ``False`` for none.

    Raises :class:`InputError` for a GAP file, an unknown order, or a plan that does not fit
    the instance (other than in its stated cost).
    """
    _check_fit(instance, plan)
    assert isinstance(instance, Instance)
    if order is None:
        ids = [o.id for o in instance.orders]
    else:
        ids = [order] if isinstance(order, str) else list(order)
        known = {o.id for o in instance.orders}
        unknown = [i for i in ids if i not in known]
        if unknown:
            raise InputError([("order", f"no order {i!r} in instance {instance.name!r}")
                              for i in unknown], "explain")
    dual: BatchPrices | None
    if isinstance(prices, BatchPrices):
        dual = prices
    else:
        dual = batch_prices(instance, price_time_limit, params=price_params) if prices else None
    batch = Batch(instance, plan, dual)
    orders = [batch.t.orders[i] for i in ids]
    cands = batch.candidates(orders)
    return Explanation(instance.name, plan.solver, plan.status, plan.objective,
                       tuple(_order(batch, o, cands, k, all_nodes, only_cheaper)
                             for k, o in enumerate(orders)), dual,
                       instance.shipping.express_max_km, instance.shipping.zones[-1].max_km)


def _check_fit(instance: Instance | GapInstance, plan: Plan) -> None:
    if isinstance(instance, GapInstance):
        raise InputError([("", "explanations are for routing batches, not GAP files")],
                         instance.name)
    report = verify(instance, plan, raise_on_error=False)
    if not report.feasible:
        first = next(v for v in report.violations
                     if v.code not in ("cost-mismatch", "lower-bound"))
        raise InputError([("", f"the plan does not fit instance {instance.name!r}: "
                               f"{len(report.violations):,} problem(s), the first: {first}")],
                         "plan")


def _order(batch: Batch, o: Order, cands: Candidates, k: int, all_nodes: bool,
           only_cheaper: bool) -> OrderExplanation:
    plan_cost = batch.order_cost(o)
    assert plan_cost is not None  # the plan fits: every shipment is within a zone
    shipments = []
    for nid in batch.ships[o.id]:
        sc = batch.shipment_cost(o, nid)
        assert sc is not None
        shipments.append(ShipmentExplanation(nid, batch.t.nodes[nid].kind, sc))
    s, e = int(cands.ptr[k]), int(cands.ptr[k + 1])
    bar, near = cands.bar[s:e], cands.near[s:e]
    dear = (cands.bound[s:e] >= plan_cost) & ~near
    unlisted: dict[WhyNot, int] = defaultdict(int)
    if only_cheaper:
        keep = ~dear
        for b in bar[dear].tolist():
            unlisted[WhyNot.OUT_OF_ZONE if b == 1 else WhyNot.DEARER] += 1
    elif all_nodes:
        keep = np.ones(e - s, dtype=bool)
    else:
        keep = ~(dear & (bar > 0))
        for b in bar[~keep].tolist():
            r = BAR_CODES[b]
            assert r is not None
            unlisted[r] += 1
    alts = []
    for i in cands.node[s:e][keep].tolist():
        alt = batch.whole_order(o, batch.node_list[i], plan_cost)
        if alt is not None:
            alts.append(alt)
    alts.sort(key=by_cost)
    pen = batch.inst.order_penalty(o)
    unfilled = tuple(_unfilled(batch, o, sku, qty, pen, plan_cost, only_cheaper)
                     for sku, qty in batch.unfilled[o.id].items())
    return OrderExplanation(o.id, o.service, batch.inst.order_max_packages(o), pen, plan_cost,
                            tuple(shipments), unfilled, tuple(alts),
                            tuple(sorted(unlisted.items())), _prices(batch, o))


def _unfilled(batch: Batch, o: Order, sku: str, qty: int, pen: float, plan_cost: float,
              reachable_only: bool) -> UnfilledExplanation:
    """The unfilled units of one line: every node holding the SKU (with ``reachable_only``,
    those within a zone and their service radius: the others never change the reason)."""
    alts = []
    for n in batch.holders.get(sku, ()):
        if reachable_only:
            km = batch.t.km(n, o)
            if batch.t.zone(km) is None or (n.service_radius_km is not None
                                            and km > n.service_radius_km):
                continue
        alt = batch.fill(o, n, sku, qty, plan_cost)
        if alt is not None:
            alts.append(alt)
    alts.sort(key=by_cost)
    return UnfilledExplanation(sku, qty, pen, unfilled_reason(alts), tuple(alts))


def _prices(batch: Batch, o: Order) -> tuple[Price, ...]:
    d = batch.dual
    if d is None:
        return ()
    out = []
    ships = batch.ships[o.id]
    for nid, lines in ships.items():
        for sku, q in lines.items():
            if (nid, sku) in d.stock:
                out.append(Price("stock", nid, sku, d.stock[(nid, sku)], q))
        if nid in d.node_units:
            out.append(Price("node-units", nid, None, d.node_units[nid], sum(lines.values())))
        if nid in d.node_packages:
            out.append(Price("node-packages", nid, None, d.node_packages[nid], 1))
    if o.id in d.order_packages and ships:
        out.append(Price("order-packages", None, None, d.order_packages[o.id], len(ships)))
    return tuple(out)


# ----------------------------------------------------------------------------------------------
# the batch at a glance


@dataclass(frozen=True, slots=True)
class Tally:
    reason: WhyNot
    count: int  # lines (unfilled) or orders (forgone)
    units: int
    amount: float  # penalties paid (unfilled) or savings forgone
    examples: tuple[str, ...]  # order ids


@dataclass(frozen=True)
class Digest:
    """A batch counted: unfilled lines by reason (``unfilled``), and the orders that an
    alternative would have served for less, by the reason its cheapest such alternative was
    not taken (``forgone``; ``cheaper`` there means nothing blocked it: the plan could
    improve)."""

    instance: str
    orders: int
    unfilled: tuple[Tally, ...]
    forgone: tuple[Tally, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"instance": self.instance, "orders": self.orders,
                "unfilled": plain(self.unfilled), "forgone": plain(self.forgone)}


def digest(instance: Instance | GapInstance, plan: Plan, examples: int = 5) -> Digest:
    """Count every order of the batch (see :class:`Digest`). The same answers as
    :func:`explain` over every order, found faster: per order, candidates are tried in the
    order of a lower bound on their cost, until none left could be cheaper."""
    _check_fit(instance, plan)
    assert isinstance(instance, Instance)
    batch = Batch(instance, plan)
    orders = list(instance.orders)
    cands = batch.candidates(orders)
    unf: dict[WhyNot, list[Any]] = defaultdict(lambda: [0, 0, 0.0, []])
    forgone: dict[WhyNot, list[Any]] = defaultdict(lambda: [0, 0, 0.0, []])
    for k, o in enumerate(orders):
        plan_cost = batch.order_cost(o)
        assert plan_cost is not None
        pen = instance.order_penalty(o)
        for sku, qty in batch.unfilled[o.id].items():
            u = _unfilled(batch, o, sku, qty, pen, plan_cost, True)
            _add(unf[u.reason], 1, qty, qty * pen, o.id, examples)
        best = _best(batch, o, cands, k, plan_cost)
        if best is not None:
            assert best.delta is not None
            _add(forgone[best.reason], 1, sum(ln.qty for ln in best.lines), -best.delta, o.id,
                 examples)
    return Digest(instance.name, len(orders), _tallies(unf), _tallies(forgone))


def _best(batch: Batch, o: Order, cands: Candidates, k: int,
          plan_cost: float) -> Alternative | None:
    """The cheapest alternative that costs the order less than the plan (as
    :attr:`OrderExplanation.best`), by bound."""
    s, e = int(cands.ptr[k]), int(cands.ptr[k + 1])
    bound = np.where(cands.near[s:e], -math.inf, cands.bound[s:e])
    best: Alternative | None = None
    for j in np.argsort(bound, kind="stable").tolist():
        if best is None or best.cost is None:
            if bound[j] >= plan_cost:  # cannot cost the order less than the plan
                break
        elif bound[j] > best.cost + COST_TOL:
            break  # dearer than the best; one that may cost the same could still win its tie
        alt = batch.whole_order(o, batch.node_list[int(cands.node[s + j])], plan_cost)
        if alt is not None and alt.cheaper and (best is None or by_cost(alt) < by_cost(best)):
            best = alt
    return best


def _add(t: list[Any], count: int, units: int, amount: float, order: str, examples: int) -> None:
    t[0] += count
    t[1] += units
    t[2] += amount
    if order not in t[3] and len(t[3]) < examples:
        t[3].append(order)


def _tallies(d: dict[WhyNot, list[Any]]) -> tuple[Tally, ...]:
    return tuple(Tally(r, v[0], v[1], v[2], tuple(v[3]))
                 for r, v in sorted(d.items(), key=lambda kv: (-kv[1][0], kv[0])))
