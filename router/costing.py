"""The cost of one shipment, from the instance (SPEC section 3): its distance, its zone and the
parts of its cost.

One shipment at a time with the verifier's scalar arithmetic (:func:`router.geo.haversine_km_scalar`
and the same comparisons), so that a zone or a radius decided here is decided the same way by
:mod:`router.verify`. The explanations, the plan summary and the per-shipment details of a plan
file use it; the solvers and the verifier do not.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from dataclasses import dataclass

from router.geo import haversine_km_scalar
from router.instance import Instance
from router.records import Node, Order, Sku, Zone


@dataclass(frozen=True, slots=True)
class LineCost:
    """The per-unit part of one line of a shipment."""

    sku: str
    qty: int
    weight_kg: float
    per_kg: float  # the zone's rate
    weight: float  # qty * per_kg * weight_kg
    handling: float  # qty * the node's handling_per_unit

    @property
    def total(self) -> float:
        return self.weight + self.handling


@dataclass(frozen=True, slots=True)
class ShipmentCost:
    """One package from ``node`` for ``order``: distance, zone (1-based, as listed in the
    tariff) and its cost, split into the zone's fixed part, the node's handling per package
    and per line the weight part and the handling per unit."""

    order: str
    node: str
    km: float
    zone: int
    zone_max_km: float
    per_package: float  # the zone's fixed part
    handling_per_package: float
    lines: tuple[LineCost, ...]
    unit: float  # the per-unit parts over the lines
    total: float  # package + unit

    @property
    def package(self) -> float:
        """The fixed part: zone per package plus the node's handling per package."""
        return self.per_package + self.handling_per_package

    @property
    def weight(self) -> float:
        return math.fsum(ln.weight for ln in self.lines)

    @property
    def handling(self) -> float:
        """Handling per unit over the lines (the per-package handling is in ``package``)."""
        return math.fsum(ln.handling for ln in self.lines)

    @property
    def units(self) -> int:
        return sum(ln.qty for ln in self.lines)


class Tariff:
    """Distances, zones and shipment costs of one instance, looked up by id."""

    def __init__(self, instance: Instance) -> None:
        self.instance = instance
        self.nodes: dict[str, Node] = {n.id: n for n in instance.nodes}
        self.orders: dict[str, Order] = {o.id: o for o in instance.orders}
        self.skus: dict[str, Sku] = {s.id: s for s in instance.skus}
        self.zones: tuple[Zone, ...] = instance.shipping.zones
        self._limits = [z.max_km for z in self.zones]

    def km(self, node: Node, order: Order) -> float:
        return haversine_km_scalar(node.lat, node.lon, order.lat, order.lon)

    def zone(self, km: float) -> int | None:
        """The 1-based zone of a distance; ``None`` beyond the last zone."""
        k = bisect.bisect_left(self._limits, km)  # the first zone with km <= max_km
        return k + 1 if k < len(self._limits) else None

    def unit_rate(self, node: Node, zone: int, sku: str) -> float:
        """Cost of one unit of ``sku`` in a shipment of ``zone`` from ``node``."""
        return self.zones[zone - 1].per_kg * self.skus[sku].weight_kg + node.handling_per_unit

    def shipment(self, node: Node, order: Order, lines: Iterable[tuple[str, int]],
                 km: float | None = None) -> ShipmentCost | None:
        """The cost of one package carrying ``lines`` ((SKU, qty) pairs); ``None`` when the
        node is beyond every zone of the order."""
        d = self.km(node, order) if km is None else km
        k = self.zone(d)
        if k is None:
            return None
        z = self.zones[k - 1]
        out = []
        for sku_id, qty in lines:
            w = self.skus[sku_id].weight_kg
            out.append(LineCost(sku_id, qty, w, z.per_kg, qty * z.per_kg * w,
                                qty * node.handling_per_unit))
        unit = math.fsum(ln.weight + ln.handling for ln in out)
        return ShipmentCost(order.id, node.id, d, k, z.max_km, z.per_package,
                            node.handling_per_package, tuple(out), unit,
                            z.per_package + node.handling_per_package + unit)
