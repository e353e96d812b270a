"""Immutable value objects for one routing batch (``router/instance-v1``) and for GAP files.

Objects are built by :mod:`router.validate` (``Instance.from_dict``) or :mod:`router.io.read`;
they are never mutated afterwards. Inventories are read-only mappings and GAP matrices are
read-only numpy arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from router.records import (
    FORMAT,
    Line,
    Node,
    NodeKind,
    Order,
    Service,
    Shipping,
    Sku,
    Zone,
)
from router.validate import instance_fields

__all__ = ["FORMAT", "GAP_SKU", "AnyInstance", "GapInstance", "Instance", "Line", "Node",
           "NodeKind", "Order", "Service", "Shipping", "Sku", "Zone"]

@dataclass(frozen=True, slots=True)
class Instance:
    """One batch: the network snapshot and the orders to route (SPEC section 2)."""

    name: str
    shipping: Shipping
    unfilled_penalty: float
    skus: tuple[Sku, ...]
    nodes: tuple[Node, ...]
    orders: tuple[Order, ...]
    default_max_packages: int | None = None

    @staticmethod
    def from_dict(data: Any, source: str = "<dict>") -> Instance:
        """Validate a parsed YAML/JSON mapping and build the instance.

        Raises :class:`router.errors.InputError` listing every problem found.
        """
        return Instance(**instance_fields(data, source))

    def to_dict(self) -> dict[str, Any]:
        """The instance as a plain mapping in ``router/instance-v1`` form (defaults omitted)."""
        shipping: dict[str, Any] = {
            "zones": [
                {"max_km": z.max_km, "per_package": z.per_package, "per_kg": z.per_kg}
                for z in self.shipping.zones
            ]
        }
        if self.shipping.express_max_km is not None:
            shipping["express_max_km"] = self.shipping.express_max_km
        out: dict[str, Any] = {"format": FORMAT, "name": self.name, "shipping": shipping,
                               "unfilled_penalty": self.unfilled_penalty}
        if self.default_max_packages is not None:
            out["default_max_packages"] = self.default_max_packages
        out["skus"] = [
            {"id": s.id, "weight_kg": s.weight_kg}
            | ({} if s.store_eligible else {"store_eligible": False})
            for s in self.skus
        ]
        nodes = []
        for n in self.nodes:
            d: dict[str, Any] = {"id": n.id, "kind": n.kind, "lat": n.lat, "lon": n.lon}
            if n.handling_per_unit:
                d["handling_per_unit"] = n.handling_per_unit
            if n.handling_per_package:
                d["handling_per_package"] = n.handling_per_package
            if n.max_packages is not None:
                d["max_packages"] = n.max_packages
            if n.max_units is not None:
                d["max_units"] = n.max_units
            if n.safety_stock:
                d["safety_stock"] = n.safety_stock
            if n.service_radius_km is not None:
                d["service_radius_km"] = n.service_radius_km
            d["inventory"] = dict(n.inventory)
            nodes.append(d)
        out["nodes"] = nodes
        orders = []
        for o in self.orders:
            d = {"id": o.id, "lat": o.lat, "lon": o.lon}
            if o.service != "standard":
                d["service"] = o.service
            if o.max_packages is not None:
                d["max_packages"] = o.max_packages
            if o.unfilled_penalty is not None:
                d["unfilled_penalty"] = o.unfilled_penalty
            d["lines"] = [{"sku": ln.sku, "qty": ln.qty} for ln in o.lines]
            orders.append(d)
        out["orders"] = orders
        return out

    def order_max_packages(self, order: Order) -> int | None:
        return order.max_packages if order.max_packages is not None else self.default_max_packages

    def order_penalty(self, order: Order) -> float:
        return order.unfilled_penalty if order.unfilled_penalty is not None else self.unfilled_penalty


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class GapInstance:
    """A Generalised Assignment Problem (OR-Library format): jobs become orders ``j1..jn``,
    agents become nodes ``a1..am``. Every job must be assigned to exactly one agent; agent
    ``i`` spends ``resource[i, j]`` of its ``capacity[i]`` on job ``j`` at cost ``cost[i, j]``.
    """

    name: str
    cost: np.ndarray  # (m, n) int
    resource: np.ndarray  # (m, n) int
    capacity: np.ndarray  # (m,) int

    def __post_init__(self) -> None:
        object.__setattr__(self, "cost", _readonly(self.cost))
        object.__setattr__(self, "resource", _readonly(self.resource))
        object.__setattr__(self, "capacity", _readonly(self.capacity))

    @property
    def n_agents(self) -> int:
        return int(self.cost.shape[0])

    @property
    def n_jobs(self) -> int:
        return int(self.cost.shape[1])

    @property
    def order_ids(self) -> tuple[str, ...]:
        return tuple(f"j{j + 1}" for j in range(self.n_jobs))

    @property
    def node_ids(self) -> tuple[str, ...]:
        return tuple(f"a{i + 1}" for i in range(self.n_agents))


GAP_SKU = "job"
"""The SKU id of the single unit line that every GAP job carries in a plan."""

AnyInstance = Instance | GapInstance
